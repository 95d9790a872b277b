/**
 * A protocol between core and the Node integrations (Express, Fastify), which already hold bodies as
 * bytes: a `Request` or `Response` built with a `null` body and its bytes attached here carries those
 * bytes without the cost of a Web stream body (building one, then reading it through a reader). A
 * request that carries bytes tells core the caller reads responses the same way, so core answers it
 * (deliver, replay) with such responses too. Web callers never attach bytes and always get ordinary
 * responses.
 */
const BODY_BYTES = Symbol.for("idemkit.bodyBytes");
type WithBytes = { [BODY_BYTES]?: Uint8Array };

/** Attaches `bytes` as the body of a body-less `Request` or `Response`; returns the same object. */
export function attachBodyBytes<M extends Request | Response>(message: M, bytes: Uint8Array): M {
  (message as WithBytes)[BODY_BYTES] = bytes;
  return message;
}

/** The bytes attached to a body-less request or response, if any. */
export function attachedBodyBytes(message: Request | Response): Uint8Array | undefined {
  if (message.body !== null) return undefined;
  const bytes = (message as WithBytes)[BODY_BYTES];
  return bytes instanceof Uint8Array ? bytes : undefined;
}
