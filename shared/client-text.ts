/**
 * How much of something a client chose (an unknown field's name, a frame's `type`) an answer or
 * a log line repeats: enough to recognise it. Repeated whole, a 60 KB key came back as a 60 KB
 * answer (the server as an echo) and went into log lines (docs/security.md).
 */
export const CLIENT_TEXT_MAX_CHARS = 32;

export function clipped(text: string): string {
  return text.length > CLIENT_TEXT_MAX_CHARS ? `${text.slice(0, CLIENT_TEXT_MAX_CHARS)}…` : text;
}
