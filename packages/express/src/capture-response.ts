import type { OutgoingHttpHeaders, ServerResponse } from "node:http";
import { attachBodyBytes } from "@idemkit/core";

const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);
const HIGH_WATER_MARK = 64 * 1024;
const EMPTY = new Uint8Array(0);

type Callback = (error?: Error | null) => void;

export interface Capture {
  /** Settles when the route commits its status and headers (first `writeHead`, `write`, `end`…). */
  response: Promise<Response>;
  /** Whether the route committed its response (then an error can only cut the connection). */
  readonly committed: boolean;
  /** Puts the real methods back, once the captured body has ended. */
  restore(): void;
  /** The real methods, to deliver the final response while the route may still be writing. */
  writeHead(status: number, statusText?: string): void;
  write(chunk: Uint8Array): boolean;
  end(): void;
  flushHeaders(): void;
}

/**
 * Holds back everything a route writes to `res` (`res.send`, `res.json`, `res.end`, `res.write`,
 * piped streams) and turns it into a Web `Response`. Nothing reaches the socket until `restore()`,
 * so the outcome can be stored before the client sees a byte.
 *
 * Two paths, because most routes answer in one `res.end(body)` (`res.send`, `res.json`): that reply
 * becomes a body-less `Response` with its bytes attached (core's `attachBodyBytes`) and costs no
 * stream. Only a route that writes before it ends gets a `ReadableStream` body, a `headersSent`
 * that reports the commit, and a watch on the socket closing early. The per-request work on the
 * whole-body path is kept to a minimum on purpose: it runs on every covered request.
 */
export function captureResponse(res: ServerResponse): Capture {
  const real = { writeHead: res.writeHead, write: res.write, end: res.end, flushHeaders: res.flushHeaders };
  let controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  let committed = false;
  let ended = false;
  let waitingForDrain = false;
  let streaming = false;
  let resolve!: (response: Response) => void;
  const response = new Promise<Response>((r) => {
    resolve = r;
  });

  /** The whole reply in one `end`: status, headers and bytes as they are on `res`. */
  const commitWhole = (bytes: Uint8Array) => {
    committed = true;
    ended = true;
    const status = res.statusCode;
    const init = { status, statusText: res.statusMessage || undefined, headers: toHeaders(res.getHeaders()) };
    resolve(attachBodyBytes(new Response(null, init), NULL_BODY_STATUSES.has(status) ? EMPTY : bytes));
  };

  /** Status and headers committed before the body ended: the body becomes a stream of the writes. */
  const commitStreaming = () => {
    if (committed) return;
    committed = true;
    streaming = true;
    // Streams and frameworks ask `headersSent` whether they may still set headers or send an error page.
    Object.defineProperty(res, "headersSent", { configurable: true, get: () => committed });
    // The socket went away after the commit but before the end (Express destroys it when an error
    // follows the headers): fail the body, so the outcome is not stored as if it were whole.
    res.once("close", () => {
      if (!ended) {
        ended = true;
        controller!.error(new Error("The response was closed before the route ended it"));
      }
    });
    const body = new ReadableStream<Uint8Array>(
      {
        start(c) {
          controller = c;
        },
        pull() {
          if (waitingForDrain) {
            waitingForDrain = false;
            res.emit("drain");
          }
        },
      },
      { highWaterMark: HIGH_WATER_MARK, size: (chunk) => chunk.byteLength },
    );
    const status = res.statusCode;
    resolve(
      new Response(NULL_BODY_STATUSES.has(status) ? null : body, {
        status,
        statusText: res.statusMessage || undefined,
        headers: toHeaders(res.getHeaders()),
      }),
    );
  };

  const push = (chunk: unknown, encoding?: BufferEncoding) => {
    if (chunk === undefined || chunk === null || ended) return;
    const bytes = toBytes(chunk, encoding);
    if (bytes.byteLength > 0 && !NULL_BODY_STATUSES.has(res.statusCode)) controller!.enqueue(bytes);
  };

  res.writeHead = function writeHead(this: ServerResponse, status: number, ...rest: unknown[]) {
    res.statusCode = status;
    let headers = rest[rest.length - 1];
    if (typeof rest[0] === "string") res.statusMessage = rest[0];
    if (typeof headers === "string") headers = undefined;
    if (Array.isArray(headers)) {
      const flat = Array.isArray(headers[0]) ? (headers as string[][]).flat() : (headers as string[]);
      for (let i = 0; i < flat.length; i += 2) res.setHeader(flat[i]!, flat[i + 1]!);
    } else if (headers && typeof headers === "object") {
      for (const [name, value] of Object.entries(headers as OutgoingHttpHeaders)) {
        if (value !== undefined) res.setHeader(name, value);
      }
    }
    commitStreaming();
    return this;
  } as ServerResponse["writeHead"];

  res.flushHeaders = commitStreaming;

  res.write = function write(chunk: unknown, encoding?: unknown, cb?: unknown) {
    if (typeof encoding === "function") [cb, encoding] = [encoding, undefined];
    commitStreaming();
    push(chunk, encoding as BufferEncoding | undefined);
    callLater(cb);
    const roomLeft = (controller?.desiredSize ?? 0) > 0;
    if (!roomLeft) waitingForDrain = true;
    return roomLeft;
  } as ServerResponse["write"];

  res.end = function end(this: ServerResponse, chunk?: unknown, encoding?: unknown, cb?: unknown) {
    if (typeof chunk === "function") [cb, chunk] = [chunk, undefined];
    if (typeof encoding === "function") [cb, encoding] = [encoding, undefined];
    if (!committed) {
      commitWhole(toBytes(chunk, encoding as BufferEncoding | undefined));
    } else {
      push(chunk, encoding as BufferEncoding | undefined);
      if (!ended) {
        ended = true;
        controller?.close();
      }
    }
    callLater(cb);
    return this;
  } as ServerResponse["end"];

  return {
    response,
    get committed() {
      return committed;
    },
    restore() {
      if (streaming) delete (res as { headersSent?: boolean }).headersSent;
      res.writeHead = real.writeHead;
      res.write = real.write;
      res.end = real.end;
      res.flushHeaders = real.flushHeaders;
    },
    writeHead: (status, statusText) => {
      if (statusText) (real.writeHead as (s: number, m: string) => void).call(res, status, statusText);
      else real.writeHead.call(res, status);
    },
    write: (chunk) => (real.write as (chunk: Uint8Array) => boolean).call(res, chunk),
    end: () => {
      (real.end as () => void).call(res);
    },
    flushHeaders: () => real.flushHeaders.call(res),
  };
}

function toBytes(chunk: unknown, encoding?: BufferEncoding): Uint8Array {
  if (chunk === undefined || chunk === null) return EMPTY;
  if (typeof chunk === "string") return Buffer.from(chunk, encoding);
  if (chunk instanceof Uint8Array) return chunk; // Node does not copy what it is handed either
  if (ArrayBuffer.isView(chunk)) return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  return new Uint8Array(chunk as ArrayBufferLike);
}

function callLater(cb: unknown): void {
  if (typeof cb === "function") queueMicrotask(() => (cb as Callback)(null));
}

function toHeaders(outgoing: OutgoingHttpHeaders): Headers {
  const headers = new Headers();
  for (const name in outgoing) {
    const value = outgoing[name];
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) headers.append(name, v);
    else headers.append(name, String(value));
  }
  return headers;
}
