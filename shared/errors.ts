/**
 * The error class decides what happens to a message: a transient failure is retried with
 * backoff, a permanent one is dead-lettered with its reason. Anything else is treated as
 * transient, because retrying an unknown failure is safe and dropping it is not.
 */
export class TransientError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TransientError';
  }
}

export class PermanentError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PermanentError';
  }
}

/**
 * A dependency could not be reached, or did not answer within its deadline. At start-up the
 * service exits non-zero with this text; at run time it is transient: a request answers 503 with
 * Retry-After, a message is retried later.
 */
export class DependencyUnavailableError extends TransientError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DependencyUnavailableError';
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A thrown value as an Error (a rejection may carry anything), so its class can decide its fate. */
export function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
