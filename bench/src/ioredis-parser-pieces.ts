/**
 * What ioredis's reply parser (redis-parser) costs Node for a large bulk reply that spans socket reads,
 * whole or in pieces, and node-redis's decoder for it whole: `node --import tsx
 * src/ioredis-parser-pieces.ts [outcome bytes] [piece bytes…]`. Feeds each parser, in 64 KiB chunks as a
 * socket read hands them over, a stream of replies as a large-outcome replay gets them (a small record,
 * the outcome as one bulk string or as several, a number), and prints the CPU (user + system) per
 * outcome. No Redis: the parsers alone.
 */
import { createRequire } from "node:module";

type Parser = { execute(chunk: Buffer): void };
type Decoder = { write(chunk: Buffer): void };
const require = createRequire(import.meta.url);
const ioredis = require.resolve("ioredis");
const RedisParser = require(require.resolve("redis-parser", { paths: [ioredis] })) as new (
  options: object,
) => Parser;
const { Decoder: NodeRedisDecoder, RESP_TYPES } = require("@redis/client/dist/lib/RESP/decoder.js") as {
  Decoder: new (options: object) => Decoder;
  RESP_TYPES: { BLOB_STRING: number };
};

const [bytesArg = "65000", ...pieceArgs] = process.argv.slice(2);
const total = Number(bytesArg);
const pieces = pieceArgs.length > 0 ? pieceArgs.map(Number) : [total, 32_768, 16_384, 8_192];
const READ = 65_536; // the most one socket read hands Node

for (const [client, piece] of [
  ...pieces.map((piece) => ["ioredis", piece] as const),
  ["node-redis", total] as const,
]) {
  let replies = 0;
  const kept: unknown[] = []; // the outcomes a server holds on to while it answers
  const onReply = (reply: unknown) => {
    replies++;
    kept.push(reply);
    if (kept.length > 256) kept.shift();
  };
  const parser: Parser =
    client === "ioredis"
      ? new RedisParser({
          returnBuffers: true,
          returnReply: onReply,
          returnError: () => {},
          returnFatalError: (error: unknown) => {
            throw error;
          },
        })
      : (() => {
          const decoder = new NodeRedisDecoder({
            onReply,
            onErrorReply: () => {},
            onPush: () => {},
            getTypeMapping: () => ({ [RESP_TYPES.BLOB_STRING]: Buffer }),
          });
          return { execute: (chunk: Buffer) => decoder.write(chunk) };
        })();
  const parts: Buffer[] = [Buffer.from("$300\r\n"), Buffer.alloc(300, 98), Buffer.from("\r\n")];
  for (let at = 0; at < total; at += piece) {
    const n = Math.min(piece, total - at);
    parts.push(Buffer.from(`$${n}\r\n`), Buffer.alloc(n, 97), Buffer.from("\r\n"));
  }
  parts.push(Buffer.from(":1\r\n"));
  const repliesPerOutcome = 2 + Math.ceil(total / piece);
  const stream = Buffer.concat(Array.from({ length: 200 }, () => Buffer.concat(parts)));
  const chunks: Buffer[] = [];
  for (let at = 0; at < stream.length; at += READ) chunks.push(Buffer.from(stream.subarray(at, at + READ)));
  const rounds: string[] = [];
  for (let round = 0; round < 4; round++) {
    replies = 0;
    const before = process.cpuUsage();
    for (let repeat = 0; repeat < 10; repeat++) for (const chunk of chunks) parser.execute(chunk);
    const used = process.cpuUsage(before);
    const outcomes = replies / repliesPerOutcome;
    rounds.push(
      `${((used.user + used.system) / outcomes).toFixed(1)} (system ${(used.system / outcomes).toFixed(1)})`,
    );
  }
  console.log(
    `${client}, ${total} bytes in pieces of ${piece}: CPU µs an outcome, four rounds: ${rounds.join(", ")}`,
  );
}
