import { Readable } from "node:stream";

export type ReadUpTo = { bytes: Uint8Array; rest?: undefined } | { bytes?: undefined; rest: Readable };

/**
 * Reads a stream (Node or Web) whole up to `limit` bytes; past it, gives back a stream of what was
 * read followed by the remainder, for the caller to pass on.
 */
export async function readUpTo(
  stream: Readable | ReadableStream<Uint8Array>,
  limit: number,
): Promise<ReadUpTo> {
  const source =
    stream instanceof Readable
      ? stream
      : Readable.fromWeb(stream as import("node:stream/web").ReadableStream);
  const iterator = source[Symbol.asyncIterator]() as AsyncIterator<Uint8Array | string>;
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const next = await iterator.next();
    if (next.done) break;
    const chunk = typeof next.value === "string" ? Buffer.from(next.value) : next.value;
    chunks.push(chunk);
    total += chunk.length;
    if (total > limit) return { rest: Readable.from(thenTheRest(chunks, iterator), { objectMode: false }) };
  }
  return { bytes: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total) };
}

async function* thenTheRest(read: Uint8Array[], iterator: AsyncIterator<Uint8Array | string>) {
  yield* read;
  try {
    for (let next = await iterator.next(); !next.done; next = await iterator.next()) yield next.value;
  } finally {
    await iterator.return?.();
  }
}
