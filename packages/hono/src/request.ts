import type { Context } from "hono";

/**
 * The Web request idemkit reads: Hono's own (`c.req.raw`), or, when a validator that ran first
 * consumed its body, one carrying the bytes Hono cached for it (a JSON body comes back serialized
 * from its parsed value: the default fingerprint reads JSON canonically, so that is the same request).
 * A body Hono cached only as form data cannot be given back as the bytes that were sent (a new
 * multipart boundary each time): that is refused, mount idemkit before such a validator.
 */
export async function requestOf(c: Context): Promise<Request> {
  const raw = c.req.raw;
  if (!raw.bodyUsed) return raw;
  const { formData, ...replayable } = c.req.bodyCache;
  if (Object.keys(replayable).length === 0) {
    throw new TypeError(
      `@idemkit/hono: the request body was read before idemkit ${formData ? "as form data only" : "and not cached by Hono"}, so it cannot be fingerprinted; mount idempotency() before validators and body readers`,
    );
  }
  const body = await c.req.arrayBuffer();
  return new Request(raw.url, { method: raw.method, headers: raw.headers, body, signal: raw.signal });
}
