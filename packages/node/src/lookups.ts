import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";

/**
 * Express gives every `req` and `res` a prototype of its own (`Object.setPrototypeOf`), so no shape
 * of theirs stays in V8's caches: reading a method or a getter on them misses every request, and V8's
 * runtime walks the prototype chain to find it (V8's `--log-ic` shows one miss a request for each, a
 * few thousand instructions, counted with callgrind). What the hot path reads on every request is
 * found here once for each prototype, and called on the object: the function the read would have
 * found, unless the object has its own, or somebody replaces it on a prototype after the first
 * request (integrations are set up before any request, as the capture's own patch is).
 */
function onPrototype(name: string, kind: "method" | "getter") {
  const found = new WeakMap<object, ((this: unknown) => unknown) | null>();
  return (target: object): ((this: unknown) => unknown) | null => {
    if (Object.hasOwn(target, name)) return null;
    const proto = Object.getPrototypeOf(target) as object | null;
    if (proto === null) return null;
    let fn = found.get(proto);
    if (fn === undefined) {
      fn = kind === "method" ? methodOn(proto, name) : getterOn(proto, name);
      found.set(proto, fn);
    }
    return fn;
  };
}

function methodOn(proto: object, name: string): ((this: unknown) => unknown) | null {
  const value = (proto as Record<string, unknown>)[name];
  return typeof value === "function" ? (value as (this: unknown) => unknown) : null;
}

function getterOn(from: object, name: string): ((this: unknown) => unknown) | null {
  for (let proto: object | null = from; proto !== null; proto = Object.getPrototypeOf(proto)) {
    const descriptor = Object.getOwnPropertyDescriptor(proto, name);
    if (descriptor) return descriptor.get ?? null;
  }
  return null;
}

const getHeaders = onPrototype("getHeaders", "method");
const readableEnded = onPrototype("readableEnded", "getter");

/** `res.getHeaders()`. */
export function headersOf(res: ServerResponse): OutgoingHttpHeaders {
  const fn = getHeaders(res);
  return (fn ? fn.call(res) : res.getHeaders()) as OutgoingHttpHeaders;
}

/** `req.readableEnded`. */
export function bodyEnded(req: IncomingMessage): boolean {
  const fn = readableEnded(req);
  return Boolean(fn ? fn.call(req) : req.readableEnded);
}

const headersSent = onPrototype("headersSent", "getter");

/** `res.headersSent`. */
export function headersSentOf(res: ServerResponse): boolean {
  const fn = headersSent(res);
  return Boolean(fn ? fn.call(res) : res.headersSent);
}
