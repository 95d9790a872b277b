import { createHash } from "node:crypto";

/**
 * The Lua scripts behind the Redis store. Each one touches only `KEYS[1]`, so every operation runs
 * on one Cluster slot, and each reads the clock with `TIME` inside Redis, so no deadline is ever
 * judged by the application server's clock. (Redis 5+ replicates script effects, not scripts, which
 * is what makes `TIME` before a write allowed.)
 *
 * A record is one hash:
 *   s  state: "p" (in progress) or "c" (completed)
 *   t  owner token          f  fingerprint          n  fence
 *   d  deadline, ms since the epoch on Redis's clock: lease end (p) or retention end (c)
 *   r  outcome bytes (c only)
 *   k  "1" when the claim that wrote the hash replaced an expired lease (a takeover), else "0"
 * The key itself expires (PEXPIREAT) at max(lease end, claim time + retentionMs) after a claim, and
 * completion or extend only ever push that later: an expired lease, a released record (d = 0) and
 * a completed one all keep the fence until then, so the next owner gets a higher one. Only DELETE
 * (operator purge) forgets it. Every script judges `d` itself; the key's TTL only frees memory.
 */

export interface Script {
  readonly lua: string;
  readonly sha: string;
}

// `now` in whole milliseconds from Redis's clock. `int` writes a number without exponent notation.
const PRELUDE = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local function int(x) return string.format('%.0f', x) end
`;

// Shared by the compare-and-set scripts: ARGV[1] must own a live in-progress record.
const OWNED = `
local owner = redis.call('HMGET', KEYS[1], 's', 't', 'd')
if owner[1] ~= 'p' or owner[2] ~= ARGV[1] or (tonumber(owner[3]) or 0) <= now then return 0 end
`;

function script(body: string): Script {
  const lua = PRELUDE + body;
  return { lua, sha: createHash("sha1").update(lua).digest("hex") };
}

/**
 * ARGV: token, fingerprint, leaseMs, retentionMs.
 * When acquired, returns [fence, takeover] as two integers: takeover is 1 when the claim replaced an
 * in-progress record whose lease ran out (d > 0: a released one has d = 0), else 0; the flag is
 * stored as `k`. Otherwise returns the live record as [s, t, f, n, d, r, k] bulk strings, read in the
 * same atomic step (a retry with the owner's token reads its own claim's takeover flag there).
 */
export const CLAIM = script(`
local h = redis.call('HMGET', KEYS[1], 's', 't', 'f', 'n', 'd', 'r', 'k')
if h[1] and (tonumber(h[5]) or 0) > now then return h end
local lease = tonumber(ARGV[3])
local keep = math.max(lease, tonumber(ARGV[4]))
local fence = (tonumber(h[4]) or 0) + 1
local takeover = 0
if h[1] == 'p' and (tonumber(h[5]) or 0) > 0 then takeover = 1 end
if h[1] then redis.call('DEL', KEYS[1]) end
redis.call('HSET', KEYS[1], 's', 'p', 't', ARGV[1], 'f', ARGV[2], 'n', int(fence), 'd', int(now + lease), 'k', int(takeover))
redis.call('PEXPIREAT', KEYS[1], int(now + keep))
return {fence, takeover}
`);

// Pushes the key's expiry out to `at` unless it is already later: the fence must outlive the record.
const KEEP_AT_LEAST = `
local function keep_at_least(at)
  local pttl = redis.call('PTTL', KEYS[1])
  if pttl < 0 or now + pttl < at then redis.call('PEXPIREAT', KEYS[1], int(at)) end
end
`;

/**
 * ARGV: token, outcome bytes, retentionMs. Returns 1 when stored, 0 when the lease was lost.
 * The key's TTL becomes the later of its current one and the retention end: never shorter, so the
 * fence is kept at least as long as the claim promised (a retention of 0 or less reads as absent
 * at once, but keeps the fence too).
 */
export const COMPLETE = script(`${OWNED}${KEEP_AT_LEAST}
local deadline = now + tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 's', 'c', 'd', int(deadline), 'r', ARGV[2])
keep_at_least(deadline)
return 1
`);

/**
 * ARGV: token. Returns 1 when released, 0 when the lease was lost. The key is not deleted: its
 * deadline is set to 0 (long past on any clock), so it reads as absent and is claimable at once,
 * while the hash, and its fence, stay until the key's TTL: the next claim's fence is higher.
 */
export const RELEASE = script(`${OWNED}
redis.call('HSET', KEYS[1], 'd', '0')
return 1
`);

/** ARGV: token, leaseMs. Returns 1 when extended, 0 when the lease was lost. Never shortens the TTL. */
export const EXTEND = script(`${OWNED}${KEEP_AT_LEAST}
local lease = now + tonumber(ARGV[2])
redis.call('HSET', KEYS[1], 'd', int(lease))
keep_at_least(lease)
return 1
`);

/** Returns the live record as [s, t, f, n, d, r, k], or nil when absent or expired. */
export const GET = script(`
local h = redis.call('HMGET', KEYS[1], 's', 't', 'f', 'n', 'd', 'r', 'k')
if h[1] and (tonumber(h[5]) or 0) > now then return h end
return false
`);

/** Removes the record whatever its state, fence included. Returns 1 if it was live, else 0. */
export const DELETE = script(`
local d = tonumber(redis.call('HGET', KEYS[1], 'd'))
redis.call('DEL', KEYS[1])
if d and d > now then return 1 end
return 0
`);
