import type { OutgoingHttpHeaders, ServerResponse } from "node:http";
import type { ResponseHeaders, RouteResponse, RouteResponseHead } from "@idemkit/core";
import { type Captor, capture, rawMethods, release } from "./captive-prototype.js";
import { headersOf } from "./lookups.js";

/** What the capture saw of the route's response. */
export type Captured =
  /** The route ended its response: all of it, held. */
  | {
      kind: "whole";
      response: RouteResponse;
      /** The body as the route handed it to `end` (a string, say), to send it as node:http would have. */
      sent?: { chunk: unknown; encoding: BufferEncoding | undefined };
    }
  /** Its head is to go out now and its body flow through (streamed, or over the cap): call `flow()`. */
  | { kind: "flowing"; head: RouteResponseHead; reason: "streamed" | "oversized" }
  /** The client went away mid-body and the route did not end within the grace period, or it failed mid-body. */
  | { kind: "cut"; head: RouteResponseHead }
  /** The route failed before it wrote anything. */
  | { kind: "failed" };

export interface CaptureOptions {
  /** Largest body held; past it the response flows through. */
  maxBytes: number;
  /** Whether a response with this head streams straight through (server-sent events). */
  streams(head: RouteResponseHead): boolean;
  /** How long a route that was mid-body when its client went away has to end its response. */
  graceMs: number;
}

type Callback = (error?: Error | null) => void;

/**
 * Holds back everything a route writes to `res` (`res.json`, `res.send`, `res.end`, `res.write`,
 * piped streams) until core has stored it, so the client never sees a byte of an outcome that is
 * not stored yet. The route's writes never depend on the client: one that goes away mid-body does
 * not stop them (`close` is held back from the route until the capture ends, so a piped stream
 * finishes), and its outcome is stored like any other. See `captive-prototype.ts` for how the calls
 * are routed here without touching `res` itself.
 */
export class ResponseCapture implements Captor {
  readonly result: Promise<Captured>;
  readonly #res: ServerResponse;
  readonly #options: CaptureOptions;
  #settle!: (captured: Captured) => void;
  #state: "open" | "committed" | "settled" | "flowing" = "open";
  #head: RouteResponseHead | undefined;
  #chunks: Uint8Array[] = [];
  #size = 0;
  #ended = false;
  #closeHeld = false;
  #grace: ReturnType<typeof setTimeout> | undefined;
  #released = false;
  #touchedSinceSnapshot = false;

  constructor(res: ServerResponse, options: CaptureOptions) {
    this.#res = res;
    this.#options = options;
    this.result = new Promise((resolve) => {
      this.#settle = resolve;
    });
    capture(res, this);
  }

  /** Whether the route began its body before ending it (`headersSent` then reads true). */
  get committed(): boolean {
    return this.#head !== undefined;
  }

  /**
   * Whether a header of `res` was set, appended or removed after the snapshot the result carries (an
   * error handler's, after the route answered): `res` then no longer stands as stored. Read it after
   * `restore()`, which may emit a held `close`. Changes are seen through `res`'s own methods (and
   * `super` calls of subclasses); one made by calling `OutgoingMessage.prototype.setHeader` on `res`
   * directly is not.
   */
  get touchedSinceSnapshot(): boolean {
    return this.#touchedSinceSnapshot;
  }

  touched(): void {
    if (this.#state !== "open") this.#touchedSinceSnapshot = true;
  }

  /** Gives `res` back to node:http; a `close` held back from the route is emitted now. */
  restore(): void {
    if (this.#released) return;
    this.#released = true;
    clearTimeout(this.#grace);
    // Emitted while still captured: a listener that changes a header is noted (`touchedSinceSnapshot`)
    // and one that writes cannot reach the socket before the stored response does.
    if (this.#closeHeld) this.#res.emit("close");
    release(this.#res);
  }

  /** The route failed (threw, rejected): settles what was captured so far, if nothing else did. */
  fail(): void {
    if (this.#state === "open" && !this.#ended) {
      this.#state = "settled";
      this.#settle({ kind: "failed" });
    } else if (this.#state === "committed") {
      this.#state = "settled";
      this.#settle({ kind: "cut", head: this.#head! });
    }
  }

  /**
   * After a `flowing` result: the head and what was held go out, and the route writes straight
   * through. What was held already passed any wrapper (compression's) on its way in: it goes out
   * with node:http's own methods.
   */
  flow(): void {
    const res = this.#res;
    const head = this.#head!;
    this.#state = "flowing";
    const chunks = this.#chunks;
    this.#chunks = [];
    this.restore();
    const raw = rawMethods(res);
    try {
      if (head.statusText) raw.writeHead.call(res, head.status, head.statusText);
      else raw.writeHead.call(res, head.status);
      for (const chunk of chunks) raw.write.call(res, chunk);
      if (this.#ended) raw.end.call(res);
    } catch {
      res.destroy();
    }
  }

  // --- the calls the route makes on `res` ---

  writeHead(status: number, rest: unknown[]): void {
    const res = this.#res;
    res.statusCode = status;
    if (typeof rest[0] === "string") res.statusMessage = rest[0];
    const headers = rest[rest.length - 1];
    if (Array.isArray(headers)) {
      // A raw list may name a header twice (two Set-Cookie lines): each value is kept, as node:http does.
      const flat = Array.isArray(headers[0]) ? (headers as string[][]).flat() : (headers as string[]);
      const seen = new Set<string>();
      for (let i = 0; i < flat.length; i += 2) {
        const name = flat[i]!.toLowerCase();
        if (seen.has(name)) res.appendHeader(name, flat[i + 1]!);
        else res.setHeader(name, flat[i + 1]!);
        seen.add(name);
      }
    } else if (headers && typeof headers === "object") {
      for (const [name, value] of Object.entries(headers as OutgoingHttpHeaders)) {
        if (value !== undefined) res.setHeader(name, value);
      }
    }
    this.commit();
  }

  write(chunk: unknown, encoding: BufferEncoding | undefined, cb: unknown): boolean {
    const bytes = toBytes(chunk, encoding); // a chunk node:http refuses throws before anything is committed
    this.commit();
    this.#pushBytes(bytes);
    callLater(cb);
    return true;
  }

  end(chunk: unknown, encoding: BufferEncoding | undefined, cb: unknown): void {
    if (this.#ended) return void callLater(cb);
    // Converted before anything changes: a chunk node:http refuses throws at the route, as it would.
    const body = toBytes(chunk, encoding);
    this.#ended = true;
    if (this.#state === "open") {
      // The whole reply in one `end` (res.json, res.send): no stream, no copy.
      this.#state = "settled";
      this.#settle({ kind: "whole", response: withBody(this.#snapshot(), body), sent: { chunk, encoding } });
    } else {
      this.#pushBytes(body);
      if (this.#state === "committed") {
        this.#state = "settled";
        this.#settle({ kind: "whole", response: withBody(this.#head!, concat(this.#chunks, this.#size)) });
      }
    }
    callLater(cb);
  }

  /** Status and headers are fixed: the body comes in pieces from now on. */
  commit(): void {
    if (this.#state !== "open") return;
    this.#state = "committed";
    this.#head = this.#snapshot();
    if (this.#res.destroyed) this.holdClose();
    if (this.#options.streams(this.#head)) this.#flowing("streamed");
  }

  /**
   * The socket closed. The route gets `graceMs` to end its response; past it, the response is cut
   * (the key is then held as not replayable, never freed for a second run). Mid-body, the route is
   * not told (a piped stream would stop); before its body began, it is told as usual (it may be
   * working and choose to stop).
   */
  holdClose(): boolean {
    if (this.#released) return false;
    if (this.#grace === undefined && (this.#state === "open" || this.#state === "committed")) {
      this.#grace = setTimeout(() => {
        if (this.#state !== "open" && this.#state !== "committed") return;
        this.#state = "settled";
        this.#settle({ kind: "cut", head: this.#head ?? this.#snapshot() });
      }, this.#options.graceMs);
      this.#grace.unref?.();
    }
    if (this.#head !== undefined) this.#closeHeld = true;
    return this.#head !== undefined;
  }

  #pushBytes(bytes: Uint8Array): void {
    if (bytes.length === 0 || this.#state === "flowing") return;
    this.#chunks.push(bytes);
    this.#size += bytes.length;
    if (this.#state === "committed" && this.#size > this.#options.maxBytes) this.#flowing("oversized");
  }

  #flowing(reason: "streamed" | "oversized"): void {
    this.#state = "settled";
    this.#settle({ kind: "flowing", head: this.#head!, reason });
  }

  #snapshot(): RouteResponseHead {
    const res = this.#res;
    return {
      status: res.statusCode,
      statusText: res.statusMessage || undefined,
      headers: headersOf(res) as ResponseHeaders,
    };
  }
}

const EMPTY = new Uint8Array(0);

/**
 * A head and its body, spelt out rather than spread: every response then has one shape, which V8's
 * caches keep where integrations and core read it (a spread's copies took several, and each read of
 * them missed once Express's own misses had filled V8's megamorphic cache: lookups.ts).
 */
function withBody(head: RouteResponseHead, body: Uint8Array): RouteResponse {
  return { status: head.status, statusText: head.statusText, headers: head.headers, body };
}

/** A chunk as bytes; anything node:http would refuse is refused the same way. */
function toBytes(chunk: unknown, encoding?: BufferEncoding): Uint8Array {
  if (chunk === undefined || chunk === null) return EMPTY;
  if (typeof chunk === "string") return Buffer.from(chunk, encoding);
  if (chunk instanceof Uint8Array) return chunk; // node:http does not copy what it is handed either
  const error = new TypeError(
    `The "chunk" argument must be of type string or an instance of Buffer or Uint8Array. Received ${typeof chunk}`,
  );
  throw Object.assign(error, { code: "ERR_INVALID_ARG_TYPE" });
}

function concat(chunks: Uint8Array[], size: number): Uint8Array {
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
}

function callLater(cb: unknown): void {
  if (typeof cb === "function") queueMicrotask(() => (cb as Callback)(null));
}
