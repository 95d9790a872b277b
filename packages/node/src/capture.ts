import type { OutgoingHttpHeaders, ServerResponse } from "node:http";
import type { ResponseHeaders, RouteResponse, RouteResponseHead } from "@idemkit/core";
import { type Captor, capture, release } from "./captive-prototype.js";

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
  #clientGone = false;
  #grace: ReturnType<typeof setTimeout> | undefined;
  #released = false;

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

  /** Gives `res` back to node:http; a `close` held back from the route is emitted now. */
  restore(): void {
    if (this.#released) return;
    this.#released = true;
    release(this.#res);
    clearTimeout(this.#grace);
    if (this.#clientGone && this.#head !== undefined) this.#res.emit("close");
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

  // --- the calls the route makes on `res` ---

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
    this.#push(chunk, encoding);
    callLater(cb);
    return true;
  }

  end(chunk: unknown, encoding: BufferEncoding | undefined, cb: unknown): void {
    if (this.#ended) return void callLater(cb);
    this.#ended = true;
    if (this.#state === "open") {
      // The whole reply in one `end` (res.json, res.send): no stream, no copy.
      const body = toBytes(chunk, encoding);
      this.#state = "settled";
      this.#settle({ kind: "whole", response: { ...this.#snapshot(), body }, sent: { chunk, encoding } });
    } else {
      this.#push(chunk, encoding);
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
    this.#head = this.#snapshot();
    if (this.#res.destroyed) this.holdClose();
    if (this.#options.streams(this.#head)) this.#flowing("streamed");
  }

  /**
   * The socket closed. Mid-body, the route is not told (a piped stream would stop) and gets
   * `graceMs` to end its response; before its body began, it is told as usual.
   */
  holdClose(): boolean {
    if (this.#head === undefined || this.#released) return false;
    this.#clientGone = true;
    if (this.#grace === undefined && this.#state === "committed") {
      this.#grace = setTimeout(() => {
        if (this.#state !== "committed") return;
        this.#state = "settled";
        this.#settle({ kind: "cut", head: this.#head! });
      }, this.#options.graceMs);
      this.#grace.unref?.();
    }
    return true;
  }

  #push(chunk: unknown, encoding: BufferEncoding | undefined): void {
    if (chunk === undefined || chunk === null || this.#state === "flowing") return;
    const bytes = toBytes(chunk, encoding);
    if (bytes.length === 0) return;
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
      headers: res.getHeaders() as ResponseHeaders,
    };
  }
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
