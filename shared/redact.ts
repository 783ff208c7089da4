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
    // A MongoDB seed list (mongodb://h1:27017,h2:27017/db) is no WHATWG URL: its hosts, without credentials.
    const seedList = /^([a-z][a-z0-9+.-]*:\/\/)(?:[^@/]*@)?([^/?#]+)/i.exec(raw);
    return seedList ? `${seedList[1]}${seedList[2]}` : '<unparseable url>';
  }
}

/** Removes `user:password@` from any URL-looking text, e.g. driver error messages. */
export function stripCredentials(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s]*@/gi, '$1***@');
}
