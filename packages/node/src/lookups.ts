import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";

/**
 * Express moves every `req` and `res` onto its app's prototypes (`Object.setPrototypeOf`) as the
 * request comes in, and from then on V8's caches keep nothing for them: a method or getter read on
 * them missed on every request (V8's `--log-ic`: one miss a request for each), and V8's runtime walked
 * the prototype chain to find it, a few thousand instructions each (counted with callgrind: the
 * bench's `ic-misses.ts` and `instructions.ts`). What the hot path reads on every request is found here
 * once for each prototype and called on the object: the function the read would have found, unless
 * the object has its own. A prototype patched after the first request is seen only when the patch
 * calls `forgetPrototypes` (the capture's does); nor is a Proxy's `get` trap asked.
 */
type Found = ((this: unknown) => unknown) | null;

/** What each lookup found, by prototype (`forgetPrototypes` empties them all). */
const lookups: { found: WeakMap<object, Found> }[] = [];

function onPrototype(name: string, kind: "method" | "getter") {
  const lookup = { found: new WeakMap<object, Found>() };
  lookups.push(lookup);
  return (target: object): Found => {
    if (Object.hasOwn(target, name)) return null;
    const proto = Object.getPrototypeOf(target) as object | null;
    if (proto === null) return null;
    let fn = lookup.found.get(proto);
    if (fn === undefined) {
      fn = foundOn(proto, name, kind);
      lookup.found.set(proto, fn);
    }
    return fn;
  };
}

/** The method (a function-valued data property) or the getter `name` on `from`'s chain, else `null`. */
function foundOn(from: object, name: string, kind: "method" | "getter"): Found {
  for (let proto: object | null = from; proto !== null; proto = Object.getPrototypeOf(proto)) {
    const descriptor = Object.getOwnPropertyDescriptor(proto, name);
    if (descriptor === undefined) continue;
    const fn = kind === "getter" ? descriptor.get : descriptor.value;
    return typeof fn === "function" ? (fn as Found) : null;
  }
  return null;
}

/** Forgets what was found: a prototype on some chain was just patched. */
export function forgetPrototypes(): void {
  for (const lookup of lookups) lookup.found = new WeakMap();
}

const getHeaders = onPrototype("getHeaders", "method");
const readableEnded = onPrototype("readableEnded", "getter");
const headersSent = onPrototype("headersSent", "getter");

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

/** `res.headersSent`. */
export function headersSentOf(res: ServerResponse): boolean {
  const fn = headersSent(res);
  return Boolean(fn ? fn.call(res) : res.headersSent);
}
