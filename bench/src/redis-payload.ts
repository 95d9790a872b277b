/**
 * What Node spends writing a large outcome to Redis, by how it travels: `node --import tsx
 * src/redis-payload.ts [in flight] [bytes] [rounds]` writes, in alternating blocks of 1.5 s on one
 * ioredis client, the JSON text of an outcome holding a string of that many bytes (default 64 KiB):
 *
 * - `pieces`: encoded to bytes, then copied into the list kept aside (`asidePieces`: a mark and the
 *   owner's token, then the outcome in pieces), `RPUSH`ed as the Redis store writes it (its `PEXPIRE`
 *   left out, a `DEL` of the reused key sent before it);
 * - `text`: one string (mark, token and the JSON text), `SET` as a store contract that took outcomes as
 *   text could send it;
 * - `baseline`: the JSON text alone, `SET` as the hand-written baseline sends it.
 *
 * Prints each block's writes a second and Node's CPU µs a write. The keys are deleted at the end.
 */
import { Redis } from "ioredis";
import { asidePieces } from "../../packages/redis/dist/esm/outcome-argument.js";
import { deleteKeys, REDIS_URL } from "./setup.js";

const inFlight = Number(process.argv[2] ?? 16);
const size = Number(process.argv[3] ?? 65536);
const rounds = Number(process.argv[4] ?? 3);
const BLOCK_MS = 1500;
const TAG = `payload:${Date.now()}`;
const TOKEN = "01234567-89ab-cdef-0123-456789abcdef"; // a UUID's length, as core's tokens
const outcome = { ok: true, id: 42, blob: "x".repeat(size) };

const client = new Redis(REDIS_URL);

function write(way: string, key: string): Promise<unknown> {
  const text = JSON.stringify(outcome);
  if (way === "pieces") {
    client.del(key).catch(() => {}); // the key is reused: a list would grow
    return client.rpush(key, ...asidePieces(TOKEN, Buffer.from(text)));
  }
  return client.set(key, way === "text" ? `o${TOKEN}${text}` : text, "PX", 60_000);
}

async function block(way: string) {
  let writes = 0;
  const until = performance.now() + BLOCK_MS;
  const cpu = process.cpuUsage();
  await Promise.all(
    Array.from({ length: inFlight }, async (_, worker) => {
      while (performance.now() < until) {
        await write(way, `${TAG}:${way}:${worker}:${writes++ % 64}`);
      }
    }),
  );
  const used = process.cpuUsage(cpu);
  return `${way.padEnd(8)} ${Math.round((writes / BLOCK_MS) * 1000)} writes/s, ${((used.user + used.system) / writes).toFixed(1)} µs of Node CPU a write`;
}

try {
  for (let round = 0; round < rounds; round++) {
    const ways = ["pieces", "text", "baseline"];
    if (round % 2 === 1) ways.reverse();
    for (const way of ways) console.log(await block(way));
  }
} finally {
  await deleteKeys(client, `${TAG}:*`);
  client.disconnect();
}
