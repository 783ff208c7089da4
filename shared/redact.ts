/**
 * Connection strings carry passwords (CloudAMQP, Atlas, managed Redis). Anything that logs or
 * reports a URL goes through here so only scheme, host and port ever leave the process.
 */
export function describeUrl(raw: string): string {
  try {
    const url = new URL(raw);
    const port = url.port ? `:${url.port}` : '';
    return `${url.protocol}//${url.hostname}${port}`;
  } catch {
    return '<unparseable url>';
  }
}

/** Removes `user:password@` from any URL-looking text, e.g. driver error messages. */
export function stripCredentials(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s]*@/gi, '$1***@');
}
