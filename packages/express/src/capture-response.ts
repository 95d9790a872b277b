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
 * piped streams) and turns it into a Web `Response` whose body streams the writes. Nothing reaches
 * the socket until `restore()`, so the outcome can be stored before the client sees a byte. A
 * response sent whole in one `res.end(body)` (`res.send`, `res.json`) skips the stream: its bytes
 * ride on a body-less `Response` with core's `attachBodyBytes`.
 */
export function captureResponse(res: ServerResponse): Capture {
  const real = {
    writeHead: res.writeHead,
    write: res.write,
    end: res.end,
    flushHeaders: res.flushHeaders,
  };
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let committed = false;
  let ended = false;
  let waitingForDrain = false;
  let resolve!: (response: Response) => void;
  const response = new Promise<Response>((r) => {
    resolve = r;
  });

  const stream = () =>
    new ReadableStream<Uint8Array>(
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

  /** Commits status and headers; the body is `whole` when the route sent it in one `end`. */
  const commit = (whole?: Uint8Array) => {
    if (committed) return;
    committed = true;
    const headers = toHeaders(res.getHeaders());
    const status = res.statusCode;
    const init = { status, statusText: res.statusMessage || undefined, headers };
    if (whole !== undefined) {
      resolve(attachBodyBytes(new Response(null, init), NULL_BODY_STATUSES.has(status) ? EMPTY : whole));
      return;
    }
    const body = stream(); // sets `controller`, which the writes use even when there is no body
    resolve(new Response(NULL_BODY_STATUSES.has(status) ? null : body, init));
  };
  const toBytes = (chunk: unknown, encoding?: BufferEncoding): Uint8Array =>
    chunk === undefined || chunk === null
      ? EMPTY
      : typeof chunk === "string"
        ? Buffer.from(chunk, encoding)
        : new Uint8Array(chunk as ArrayBufferLike);
  const push = (chunk: unknown, encoding?: BufferEncoding) => {
    if (chunk === undefined || chunk === null || ended) return;
    const bytes = toBytes(chunk, encoding);
    if (bytes.byteLength > 0 && !NULL_BODY_STATUSES.has(res.statusCode)) controller.enqueue(bytes);
  };
  const callLater = (cb: unknown) => {
    if (typeof cb === "function") queueMicrotask(() => (cb as Callback)(null));
  };

  // Streams and frameworks ask `headersSent` whether they may still set headers or send an error page.
  Object.defineProperty(res, "headersSent", { configurable: true, get: () => committed });

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
    commit();
    return this;
  } as ServerResponse["writeHead"];

  res.flushHeaders = () => commit();

  res.write = function write(chunk: unknown, encoding?: unknown, cb?: unknown) {
    if (typeof encoding === "function") [cb, encoding] = [encoding, undefined];
    commit();
    push(chunk, encoding as BufferEncoding | undefined);
    callLater(cb);
    const roomLeft = (controller.desiredSize ?? 0) > 0;
    if (!roomLeft) waitingForDrain = true;
    return roomLeft;
  } as ServerResponse["write"];

  res.end = function end(this: ServerResponse, chunk?: unknown, encoding?: unknown, cb?: unknown) {
    if (typeof chunk === "function") [cb, chunk] = [chunk, undefined];
    if (typeof encoding === "function") [cb, encoding] = [encoding, undefined];
    if (!committed && !ended) {
      // The whole response in one call: no stream.
      ended = true;
      commit(toBytes(chunk, encoding as BufferEncoding | undefined));
      callLater(cb);
      return this;
    }
    commit();
    push(chunk, encoding as BufferEncoding | undefined);
    if (!ended) {
      ended = true;
      controller.close();
    }
    callLater(cb);
    return this;
  } as ServerResponse["end"];

  // The socket went away after the route committed but before it ended (Express destroys it when an
  // error follows the headers): fail the body, so the outcome is not stored as if it were whole.
  res.once("close", () => {
    if (committed && !ended) {
      ended = true;
      controller.error(new Error("The response was closed before the route ended it"));
    }
  });

  return {
    response,
    get committed() {
      return committed;
    },
    restore() {
      delete (res as { headersSent?: boolean }).headersSent;
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

function toHeaders(outgoing: OutgoingHttpHeaders): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(outgoing)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) headers.append(name, String(v));
  }
  return headers;
}
