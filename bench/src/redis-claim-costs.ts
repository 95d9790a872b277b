/**
 * What Redis spends on a claim of a fresh key, three ways: `node --import tsx src/redis-claim-costs.ts
 * [rounds] [in flight]` sends, in alternating blocks of 15,000 fresh keys on one ioredis client:
 *
 * - `evalsha`: the claim script by `EVALSHA`, one key a script, as the store sends it;
 * - `fcall`: the same script loaded as a Redis 7 function (`FUNCTION LOAD`) and run by `FCALL`;
 * - `grouped-4`, `grouped-16`: the same script's body run for each of 4 or 16 keys in one `EVALSHA` (one
 *   reading of the clock), as a store that sends concurrent claims together would (twenty-first round);
 *   `in flight` counts keys, so at 16 in flight `grouped-16` is one command at a time.
 *
 * Prints, for each, the medians over the rounds of Redis's `usec_per_call` a claim (`INFO commandstats`:
 * the script's run only) and of Redis's CPU a claim (`INFO cpu`: its reading and parsing too, server-wide),
 * and Node's CPU a claim. The keys are deleted at the end, and the function library too.
 */
import { Redis } from "ioredis";
import { CLAIM } from "../../packages/redis/dist/esm/scripts.js";
import { commandStats } from "./counts.js";
import { deleteKeys, REDIS_URL, redisCpuUs } from "./setup.js";
import { median } from "./stats.js";

const rounds = Number(process.argv[2] ?? 6);
const inFlight = Number(process.argv[3] ?? 16);
const BLOCK = 15_000;
const TAG = `claim-costs:${Date.now()}`;
const LIBRARY = "idemkit_bench_claim_costs";
const TOKEN = "t".repeat(36);
const FINGERPRINT = "f".repeat(43);
const ARGS = [TOKEN, FINGERPRINT, "5000", "60000"];

const client = new Redis(REDIS_URL);
// The claim's body as a function of its key and arguments, for a function and for groups of keys.
const start = CLAIM.lua.indexOf("local v = redis.pcall('GET', KEYS[1])");
if (start === -1) throw new Error("the claim script has changed: update this tool's split of it");
const prelude = CLAIM.lua.slice(0, start);
const body = CLAIM.lua
  .slice(start)
  .replaceAll("KEYS[1]", "key")
  .replaceAll("KEYS[2]", "nil")
  .replace(/ARGV\[(\d)\]/g, "a$1");
const grouped = `${prelude}
local function one(key, a1, a2, a3, a4)
${body}
end
local replies = {}
for i = 1, #KEYS do
  local j = i * 4 - 4
  replies[i] = one(KEYS[i], ARGV[j + 1], ARGV[j + 2], ARGV[j + 3], ARGV[j + 4])
end
return replies`;
let claimSha = "";
let groupedSha = "";

const WAYS: Record<string, { command: string; perCall: number }> = {
  evalsha: { command: "evalsha", perCall: 1 },
  fcall: { command: "fcall", perCall: 1 },
  "grouped-4": { command: "evalsha", perCall: 4 },
  "grouped-16": { command: "evalsha", perCall: 16 },
};

async function usecOf(command: string): Promise<[calls: number, usec: number]> {
  const stat = (await commandStats(client)).get(command);
  return stat ? [stat.calls, stat.usec] : [0, 0];
}

let serial = 0;
async function block(way: string) {
  const { command, perCall } = WAYS[way] as { command: string; perCall: number };
  const [calls0, usec0] = await usecOf(command);
  const redis0 = await redisCpuUs(client);
  const node0 = process.cpuUsage();
  let sent = 0;
  const worker = async () => {
    while (sent < BLOCK) {
      sent += perCall;
      const keys = Array.from({ length: perCall }, () => `${TAG}:${serial++}`);
      if (way === "fcall") await client.call("FCALL", LIBRARY, 1, keys[0] as string, ...ARGS);
      else if (perCall === 1) await client.evalsha(claimSha, 1, keys[0] as string, ...ARGS);
      else await client.evalsha(groupedSha, perCall, ...keys, ...keys.flatMap(() => ARGS));
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.round(inFlight / perCall)) }, worker));
  const node = process.cpuUsage(node0);
  const [calls1, usec1] = await usecOf(command);
  return {
    scriptUs: (usec1 - usec0) / ((calls1 - calls0) * perCall),
    redisUs: ((await redisCpuUs(client)) - redis0) / sent,
    nodeUs: (node.user + node.system) / sent,
  };
}

const readings: Record<string, { scriptUs: number[]; redisUs: number[]; nodeUs: number[] }> = {};
for (const way of Object.keys(WAYS)) readings[way] = { scriptUs: [], redisUs: [], nodeUs: [] };
try {
  await client.call(
    "FUNCTION",
    "LOAD",
    "REPLACE",
    `#!lua name=${LIBRARY}\nredis.register_function('${LIBRARY}', function(KEYS, ARGV)\n${CLAIM.lua}\nend)`,
  );
  claimSha = (await client.script("LOAD", CLAIM.lua)) as string;
  groupedSha = (await client.script("LOAD", grouped)) as string;
  for (let round = 0; round < rounds; round++) {
    const order = Object.keys(WAYS);
    if (round % 2 === 1) order.reverse();
    for (const way of order) {
      const reading = await block(way);
      const into = readings[way] as (typeof readings)[string];
      into.scriptUs.push(reading.scriptUs);
      into.redisUs.push(reading.redisUs);
      into.nodeUs.push(reading.nodeUs);
    }
  }
  for (const [way, r] of Object.entries(readings)) {
    console.log(
      `${way.padEnd(10)} script ${median(r.scriptUs).toFixed(2)} µs, Redis CPU ${median(r.redisUs).toFixed(2)} µs, ` +
        `Node CPU ${median(r.nodeUs).toFixed(2)} µs a claim (medians of ${rounds} blocks)`,
    );
  }
} finally {
  await deleteKeys(client, `${TAG}:*`);
  await client.call("FUNCTION", "DELETE", LIBRARY).catch(() => {});
  client.disconnect();
}
