import { type OutgoingHttpHeaders, OutgoingMessage, type ServerResponse } from "node:http";
import type { ResponseHeaders, RouteResponse, RouteResponseHead } from "@idemkit/core";

/** What the capture saw of the route's response. */
export type Captured =
  /** The route ended its response: all of it, held. */
  | { kind: "whole"; response: RouteResponse }
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
type Real = Pick<ServerResponse, "writeHead" | "write" | "end" | "flushHeaders" | "emit">;

const CAPTURE = Symbol("idemkit.capture");
type Captive = ServerResponse & { [CAPTURE]?: ResponseCapture };

/**
 * Holds back everything a route writes to `res` (`res.json`, `res.send`, `res.end`, `res.write`,
 * piped streams) until core has stored it, so the client never sees a byte of an outcome that is
 * not stored yet. The route's writes never depend on the client: one that goes away mid-body does
 * not stop them (`close` is held back from the route until the capture ends, so a piped stream
 * finishes), and its outcome is stored like any other. The patched methods are shared functions
 * that find their capture on `res`: nothing is allocated per method and request.
 */
export class ResponseCapture {
  readonly result: Promise<Captured>;
  readonly #res: Captive;
  readonly #real: Real;
  readonly #options: CaptureOptions;
  #settle!: (captured: Captured) => void;
  #state: "open" | "committed" | "settled" | "flowing" = "open";
  #head: RouteResponseHead | undefined;
  #chunks: Uint8Array[] = [];
  #size = 0;
  #ended = false;
  #closeHeld = false;
  #grace: ReturnType<typeof setTimeout> | undefined;

  constructor(res: ServerResponse, options: CaptureOptions) {
    this.#res = res;
    this.#options = options;
    this.#real = {
      writeHead: res.writeHead,
      write: res.write,
      end: res.end,
      flushHeaders: res.flushHeaders,
      emit: res.emit,
    };
    this.result = new Promise((resolve) => {
      this.#settle = resolve;
    });
    this.#res[CAPTURE] = this;
    res.writeHead = captiveWriteHead as ServerResponse["writeHead"];
    res.write = captiveWrite as ServerResponse["write"];
    res.end = captiveEnd as ServerResponse["end"];
    res.flushHeaders = captiveFlushHeaders;
  }

  /** Whether the route committed a status and began its body (then it can only be cut, not redone). */
  get committed(): boolean {
    return this.#state !== "open" || this.#ended;
  }

  /** Puts the real methods back; a held-back `close` is emitted now. */
  restore(): void {
    const res = this.#res;
    if (res[CAPTURE] !== this) return;
    // Never `delete`: it turns `res` into a slow dictionary object for the rest of the request.
    res[CAPTURE] = undefined;
    clearTimeout(this.#grace);
    Object.assign(res, {
      writeHead: this.#real.writeHead,
      write: this.#real.write,
      end: this.#real.end,
      flushHeaders: this.#real.flushHeaders,
    });
    if (this.#state !== "open") {
      res.emit = this.#real.emit;
      if (this.#closeHeld) res.emit("close");
    }
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

  /** After a `flowing` result: the head and what was held go out, and the route writes straight through. */
  flow(): void {
    const res = this.#res;
    const head = this.#head!;
    this.#state = "flowing";
    const chunks = this.#chunks;
    this.#chunks = [];
    this.restore();
    try {
      if (head.statusText) res.writeHead(head.status, head.statusText);
      else res.writeHead(head.status);
      for (const chunk of chunks) res.write(chunk);
      if (this.#ended) res.end();
    } catch {
      res.destroy();
    }
  }

  // --- what the patched methods do ---

  writeHead(status: number, rest: unknown[]): void {
    const res = this.#res;
    res.statusCode = status;
    if (typeof rest[0] === "string") res.statusMessage = rest[0];
    const headers = rest[rest.length - 1];
    if (Array.isArray(headers)) {
      const flat = Array.isArray(headers[0]) ? (headers as string[][]).flat() : (headers as string[]);
      for (let i = 0; i < flat.length; i += 2) res.setHeader(flat[i]!, flat[i + 1]!);
    } else if (headers && typeof headers === "object") {
      for (const [name, value] of Object.entries(headers as OutgoingHttpHeaders)) {
        if (value !== undefined) res.setHeader(name, value);
      }
    }
    this.commit();
  }

  write(chunk: unknown, encoding: BufferEncoding | undefined, cb: unknown): boolean {
    this.commit();
    this.push(chunk, encoding);
    callLater(cb);
    return true;
  }

  end(chunk: unknown, encoding: BufferEncoding | undefined, cb: unknown): void {
    if (this.#ended) return void callLater(cb);
    this.#ended = true;
    if (this.#state === "open") {
      // The whole reply in one `end` (res.json, res.send): no stream, no copy.
      const head = this.snapshot();
      const body = toBytes(chunk, encoding);
      this.#state = "settled";
      this.#settle({ kind: "whole", response: { ...head, body } });
    } else {
      this.push(chunk, encoding);
      if (this.#state === "committed") {
        this.#state = "settled";
        this.#settle({ kind: "whole", response: { ...this.#head!, body: concat(this.#chunks, this.#size) } });
      }
    }
    callLater(cb);
  }

  /** Status and headers are fixed: the body comes in pieces from now on. */
  commit(): void {
    if (this.#state !== "open") return;
    this.#state = "committed";
    const res = this.#res;
    this.#head = this.snapshot();
    // Streams and error handlers ask `headersSent` whether the response is under way.
    Object.defineProperty(res, "headersSent", { configurable: true, get: headersSentWhileCaptured });
    res.emit = captiveEmit as ServerResponse["emit"];
    if (res.destroyed) this.clientGone();
    if (this.#options.streams(this.#head)) this.#flowing("streamed");
  }

  push(chunk: unknown, encoding: BufferEncoding | undefined): void {
    if (chunk === undefined || chunk === null || this.#state === "flowing") return;
    const bytes = toBytes(chunk, encoding);
    if (bytes.length === 0) return;
    this.#chunks.push(bytes);
    this.#size += bytes.length;
    if (this.#state === "committed" && this.#size > this.#options.maxBytes) this.#flowing("oversized");
  }

  /** The socket closed mid-body: the route gets `graceMs` to end its response. */
  clientGone(): void {
    this.#closeHeld = true;
    if (this.#grace !== undefined || this.#state !== "committed") return;
    this.#grace = setTimeout(() => {
      if (this.#state !== "committed") return;
      this.#state = "settled";
      this.#settle({ kind: "cut", head: this.#head! });
    }, this.#options.graceMs);
    this.#grace.unref?.();
  }

  realEmit(event: string | symbol, args: unknown[]): boolean {
    return this.#real.emit.call(this.#res, event, ...args);
  }

  #flowing(reason: "streamed" | "oversized"): void {
    this.#state = "settled";
    this.#settle({ kind: "flowing", head: this.#head!, reason });
  }

  snapshot(): RouteResponseHead {
    const res = this.#res;
    return {
      status: res.statusCode,
      statusText: res.statusMessage || undefined,
      headers: res.getHeaders() as ResponseHeaders,
    };
  }
}

const realHeadersSent = Object.getOwnPropertyDescriptor(OutgoingMessage.prototype, "headersSent")!.get!;

/** `headersSent` of a response whose capture committed: true while captured, then node:http's own. */
function headersSentWhileCaptured(this: Captive): boolean {
  return this[CAPTURE] !== undefined || realHeadersSent.call(this);
}

function captiveWriteHead(this: Captive, status: number, ...rest: unknown[]): ServerResponse {
  this[CAPTURE]!.writeHead(status, rest);
  return this;
}

function captiveWrite(this: Captive, chunk: unknown, encoding?: unknown, cb?: unknown): boolean {
  if (typeof encoding === "function") return this[CAPTURE]!.write(chunk, undefined, encoding);
  return this[CAPTURE]!.write(chunk, encoding as BufferEncoding | undefined, cb);
}

function captiveEnd(this: Captive, chunk?: unknown, encoding?: unknown, cb?: unknown): ServerResponse {
  if (typeof chunk === "function") this[CAPTURE]!.end(undefined, undefined, chunk);
  else if (typeof encoding === "function") this[CAPTURE]!.end(chunk, undefined, encoding);
  else this[CAPTURE]!.end(chunk, encoding as BufferEncoding | undefined, cb);
  return this;
}

function captiveFlushHeaders(this: Captive): void {
  this[CAPTURE]!.commit();
}

function captiveEmit(this: Captive, event: string | symbol, ...args: unknown[]): boolean {
  const capture = this[CAPTURE]!;
  if (event === "close") {
    capture.clientGone();
    return true;
  }
  return capture.realEmit(event, args);
}

const EMPTY = new Uint8Array(0);

function toBytes(chunk: unknown, encoding?: BufferEncoding): Uint8Array {
  if (chunk === undefined || chunk === null) return EMPTY;
  if (typeof chunk === "string") return Buffer.from(chunk, encoding);
  if (chunk instanceof Uint8Array) return chunk; // node:http does not copy what it is handed either
  if (ArrayBuffer.isView(chunk)) return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  return new Uint8Array(chunk as ArrayBufferLike);
}

function concat(chunks: Uint8Array[], size: number): Uint8Array {
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
}

function callLater(cb: unknown): void {
  if (typeof cb === "function") queueMicrotask(() => (cb as Callback)(null));
}
