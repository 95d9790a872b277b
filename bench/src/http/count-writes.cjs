// Counts a bench server's socket writes, to Redis and to its HTTP clients, for `interleave.ts`:
// `WRITE_COUNTS=<file> NODE_OPTIONS="--require ./src/http/count-writes.cjs" node --import tsx
// src/http/interleave.ts <route> <route> new 6 16`. Only the Express server counts (the load and tsx
// inherit NODE_OPTIONS too); it rewrites <file> every 500 ms with its totals since it started, warm-up
// included: writes, chunks (one a command on either client) and bytes to Redis, writes and chunks to
// HTTP clients (one write a response). Divide by the HTTP writes for a figure a request.
const net = require("node:net");
const { writeFileSync } = require("node:fs");

const file = process.env.WRITE_COUNTS;
const redisPort = Number(new URL(process.env.REDIS_URL ?? "redis://127.0.0.1:6379").port || 6379);
if (file && process.argv.some((arg) => arg.includes("server-express"))) {
  const counts = { redisWrites: 0, redisChunks: 0, redisBytes: 0, httpWrites: 0, httpChunks: 0 };
  const bytesOf = (chunk) => (typeof chunk === "string" ? Buffer.byteLength(chunk) : chunk.length);
  const count = (socket, chunks) => {
    if (socket.remotePort === redisPort) {
      counts.redisWrites++;
      counts.redisChunks += chunks.length;
      for (const chunk of chunks) counts.redisBytes += bytesOf(chunk);
    } else {
      counts.httpWrites++;
      counts.httpChunks += chunks.length;
    }
  };
  const { _write, _writev } = net.Socket.prototype;
  net.Socket.prototype._write = function (chunk, encoding, callback) {
    count(this, [chunk]);
    return _write.call(this, chunk, encoding, callback);
  };
  net.Socket.prototype._writev = function (chunks, callback) {
    count(
      this,
      chunks.map((entry) => entry.chunk),
    );
    return _writev.call(this, chunks, callback);
  };
  setInterval(() => writeFileSync(file, JSON.stringify(counts)), 500).unref();
}
