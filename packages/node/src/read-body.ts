import type { IncomingMessage } from "node:http";
import type { ExchangeBody } from "@idemkit/core";
import { bodyEnded } from "./lookups.js";

const EMPTY = new Uint8Array(0);

/**
 * Reads a request body whole, up to `limit` bytes, without taking it from whoever reads it next:
 * once the whole body is in, it is put back into the stream (`unshift`, before `end` was emitted),
 * so the route still reads it as if nobody had. Past `limit` it stops at once and resolves
 * `undefined`, leaving the rest unread (the answer then closes the connection). A body announced
 * longer than `limit` is not read at all.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Uint8Array | undefined> {
  const length = req.headers["content-length"];
  if (length !== undefined && Number(length) > limit) return Promise.resolve(undefined);
  // No body at all: nothing to read, and nothing is touched (a later reader still sees `end`). In
  // HTTP/1 a body is announced by its length or chunking; HTTP/2 announces none, so it is looked at.
  const http1 = req.httpVersionMajor < 2;
  if (length === "0" || (http1 && length === undefined && req.headers["transfer-encoding"] === undefined)) {
    return Promise.resolve(EMPTY);
  }
  // The whole request is in already (small bodies usually are): taken and put back in one go.
  if (received(req)) return Promise.resolve(takeAndPutBack(req, limit));
  // The rest of the packet that carried the head may finish the body: let the parser get to it first.
  // (A 'readable' listener added now would read at the next tick, and a read at the end of an empty
  // body emits `end` before the route listens.)
  return new Promise((resolve) => setImmediate(resolve)).then(() =>
    received(req) ? takeAndPutBack(req, limit) : readAsItComes(req, limit),
  );
}

/** Whether the whole body has arrived (HTTP/2's `complete` only turns true once `end` was emitted). */
function received(req: IncomingMessage): boolean {
  return req.complete || (req as { stream?: { readableEnded?: boolean } }).stream?.readableEnded === true;
}

function readAsItComes(req: IncomingMessage, limit: number): Promise<Uint8Array | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const settle = (bytes: Uint8Array | undefined, error?: Error) => {
      req.off("readable", onReadable);
      req.off("error", onError);
      req.off("close", onClose);
      if (error) reject(error);
      else resolve(bytes);
    };
    const onError = (error: Error) => settle(undefined, error);
    const onClose = () => {
      if (!received(req))
        settle(undefined, new Error("the client went away before the request body was complete"));
    };
    const onReadable = () => {
      // Only what is buffered is read: a `read()` at the end of the stream would emit `end`.
      while (req.readableLength > 0) {
        const chunk: Buffer | null = req.read();
        if (chunk === null) break;
        chunks.push(chunk);
        total += chunk.length;
        if (total > limit) return settle(undefined);
      }
      if (!received(req)) return;
      const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total);
      // Same tick as the read that reached the end: `end` is not emitted while data is buffered.
      if (body.length > 0) req.unshift(body);
      settle(body);
    };
    req.on("readable", onReadable);
    req.on("error", onError);
    req.on("close", onClose);
  });
}

/**
 * `readBody` of a request whose body is all buffered in the stream: read and unshifted in one tick.
 * An empty one is never read: reading the end of the stream would emit `end` before the route listens.
 */
function takeAndPutBack(req: IncomingMessage, limit: number): Uint8Array | undefined {
  if (req.readableLength === 0) return EMPTY;
  const chunks: Buffer[] = [];
  let total = 0;
  for (let chunk: Buffer | null = req.read(); chunk !== null; chunk = req.read()) {
    chunks.push(chunk);
    total += chunk.length;
  }
  const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total);
  // Put back even when over the limit: the route never runs, but nothing is taken from the stream.
  if (body.length > 0) req.unshift(body);
  return total > limit ? undefined : body;
}

/** Whether someone else (a body parser, a stream) has read or is reading the body. */
export function bodyTaken(req: IncomingMessage): boolean {
  return bodyEnded(req) || req.readableFlowing === true || req.listenerCount("data") > 0;
}

/**
 * The body of a Node request for core: the value a parser left (`parsed()`, Express's `req.body`)
 * when one read it, else the stream, read (and put back) only if core asks. A body taken by someone
 * who left nothing to fingerprint is an error, never an empty body.
 */
export function nodeBody(req: IncomingMessage, parsed?: () => unknown): ExchangeBody {
  if (!bodyTaken(req)) return { kind: "stream", read: (limit) => readBody(req, limit) };
  const value = bodyEnded(req) ? parsed?.() : undefined;
  if (value === undefined) {
    throw new TypeError(
      "idemkit: another handler read the request body and left nothing to fingerprint; mount idemkit after the body parsers",
    );
  }
  return { kind: "parsed", value };
}
