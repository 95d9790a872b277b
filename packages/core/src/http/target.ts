/**
 * The path and query a server routes for a request target (RFC 9112 §3.2), as the fingerprint reads
 * it: origin-form (`/a?b`, `//x/refunds` included) as it is; absolute-form (`http://h/a?b`) from its
 * path on; anything else (authority-form, `*`, garbage) `undefined`. Never parsed as a URL, so a
 * target like `//x/refunds` is never read as a host.
 */
export function routedTarget(target: string): string | undefined {
  if (target.charCodeAt(0) === 0x2f /* / */) return target;
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.exec(target);
  if (scheme === null) return undefined;
  const rest = target.slice(scheme[0].length);
  const pathAt = rest.search(/[/?#]/);
  if (pathAt === -1) return "/";
  const tail = rest.slice(pathAt).replace(/#.*$/, "");
  return tail.startsWith("/") ? tail : `/${tail}`;
}

/** The path and query of an absolute URL string (a Web `Request.url`), without parsing it whole. */
export function pathOfUrl(url: string): string {
  return routedTarget(url) ?? "/";
}
