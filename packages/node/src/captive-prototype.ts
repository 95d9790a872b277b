import { ServerResponse } from "node:http";
import { forgetPrototypes } from "./lookups.js";

/** What a capture does with the calls a route makes on its response. */
export interface Captor {
  writeHead(status: number, rest: unknown[]): void;
  write(chunk: unknown, encoding: BufferEncoding | undefined, cb: unknown): boolean;
  end(chunk: unknown, encoding: BufferEncoding | undefined, cb: unknown): void;
  commit(): void;
  /** Whether the route's response counts as under way (`headersSent`). */
  readonly committed: boolean;
  /** Told that the socket closed; `true` when it holds the `close` event back from the route. */
  holdClose(): boolean;
  /** A header was set, appended or removed (a snapshot of the response taken before is out of date). */
  touched(): void;
}

/** node:http's own methods, as they were before the patch: how a captured response is finally sent. */
export interface RawMethods {
  writeHead: (this: ServerResponse, ...args: unknown[]) => ServerResponse;
  write: (this: ServerResponse, ...args: unknown[]) => boolean;
  end: (this: ServerResponse, ...args: unknown[]) => ServerResponse;
}

const captors = new WeakMap<ServerResponse, Captor>();
const raw = new WeakMap<object, RawMethods>();
const RESPONSE_METHODS = ["writeHead", "write", "end", "flushHeaders"] as const;

/**
 * Routes `res`'s writes to `captor` until `release(res)`.
 *
 * Why the prototype and not `res`: Express sets the prototype of every `res`, and V8 then makes each
 * property added to that object cost microseconds (measured: ~6 µs for one, ~16 µs for the four
 * methods). So the methods are replaced on the prototype, by ones that look the response up in a
 * WeakMap and, when it is not captured, call the original unchanged; a response costs one WeakMap
 * entry. `ServerResponse.prototype` is patched when an integration is created (`preparePrototypes`),
 * before any request, so middleware that keeps a reference to `res.end` (compression,
 * express-session) keeps the patched one and its writes reach the capture.
 */
export function capture(res: ServerResponse, captor: Captor): void {
  // A prototype of its own between `res` and the class that writes it (a framework's subclass that
  // overrides `end`, say) is patched too; the walk stops at that class (node:http's, or another's).
  for (
    let proto = Object.getPrototypeOf(res);
    proto && proto !== Object.prototype;
    proto = Object.getPrototypeOf(proto)
  ) {
    if (RESPONSE_METHODS.some((name) => Object.hasOwn(proto, name))) patchPrototype(proto);
    if (proto === ServerResponse.prototype || Object.hasOwn(proto, "writeHead")) break;
  }
  captors.set(res, captor);
}

export function release(res: ServerResponse): void {
  captors.delete(res);
}

/** Patches node:http's response prototype once; integrations call it when they are created. */
export function preparePrototypes(): void {
  patchPrototype(ServerResponse.prototype);
}

/**
 * The methods that write `res` to the socket without passing through anything: what a captured
 * response is sent with. Own wrappers (compression's `res.end`, express-session's) already saw the
 * route's writes on their way into the capture; a second call would find them done and do nothing.
 */
export function rawMethods(res: ServerResponse): RawMethods {
  for (let proto = Object.getPrototypeOf(res); proto !== null; proto = Object.getPrototypeOf(proto)) {
    const methods = raw.get(proto);
    if (methods) return methods;
  }
  return res as unknown as RawMethods;
}

function patchPrototype(proto: ServerResponse): void {
  if (raw.has(proto)) return;
  const { writeHead, write, end, flushHeaders, emit, setHeader, appendHeader, removeHeader } = proto;
  raw.set(proto, { writeHead, write, end } as unknown as RawMethods);
  const headersSent = findGetter(proto, "headersSent");
  Object.defineProperties(proto, {
    writeHead: method(function (this: ServerResponse, status: number, ...rest: unknown[]) {
      const captor = captors.get(this);
      if (captor === undefined)
        return (writeHead as (...args: unknown[]) => ServerResponse).call(this, status, ...rest);
      captor.writeHead(status, rest);
      return this;
    }),
    write: method(function (this: ServerResponse, chunk: unknown, encoding?: unknown, cb?: unknown) {
      const captor = captors.get(this);
      if (captor === undefined)
        return (write as (...args: unknown[]) => boolean).call(this, chunk, encoding, cb);
      if (typeof encoding === "function") return captor.write(chunk, undefined, encoding);
      return captor.write(chunk, encoding as BufferEncoding | undefined, cb);
    }),
    end: method(function (this: ServerResponse, chunk?: unknown, encoding?: unknown, cb?: unknown) {
      const captor = captors.get(this);
      if (captor === undefined)
        return (end as (...args: unknown[]) => ServerResponse).call(this, chunk, encoding, cb);
      if (typeof chunk === "function") captor.end(undefined, undefined, chunk);
      else if (typeof encoding === "function") captor.end(chunk, undefined, encoding);
      else captor.end(chunk, encoding as BufferEncoding | undefined, cb);
      return this;
    }),
    flushHeaders: method(function (this: ServerResponse) {
      const captor = captors.get(this);
      if (captor === undefined) return flushHeaders.call(this);
      captor.commit();
    }),
    // Header changes are only noted: a captured response sent as it stands must still be what was stored.
    setHeader: method(function (this: ServerResponse, name: string, value: unknown) {
      captors.get(this)?.touched();
      return (setHeader as (...args: unknown[]) => ServerResponse).call(this, name, value);
    }),
    appendHeader: method(function (this: ServerResponse, name: string, value: unknown) {
      captors.get(this)?.touched();
      return (appendHeader as (...args: unknown[]) => ServerResponse).call(this, name, value);
    }),
    removeHeader: method(function (this: ServerResponse, name: string) {
      captors.get(this)?.touched();
      return removeHeader.call(this, name);
    }),
    emit: method(function (this: ServerResponse, event: string | symbol, ...args: unknown[]) {
      if (event === "close" && captors.get(this)?.holdClose()) return true;
      return (emit as (...args: unknown[]) => boolean).call(this, event, ...args);
    }),
    headersSent: {
      configurable: true,
      enumerable: false,
      get(this: ServerResponse) {
        return captors.get(this)?.committed === true || headersSent.call(this);
      },
    },
  });
  // A request answered before this prototype was patched (an HTTP/2 replay) found its methods unpatched.
  forgetPrototypes();
}

function method(fn: (...args: never[]) => unknown): PropertyDescriptor {
  return { configurable: true, enumerable: false, writable: true, value: fn };
}

function findGetter(from: object, name: string): () => boolean {
  for (let proto: object | null = from; proto !== null; proto = Object.getPrototypeOf(proto)) {
    const getter = Object.getOwnPropertyDescriptor(proto, name)?.get;
    if (getter) return getter as () => boolean;
  }
  throw new TypeError(`not a node:http response: no ${name}`);
}
