import { createHash } from "node:crypto";

/**
 * The Lua scripts behind the Redis store. `KEYS[1]` is the record's key; the scripts that may meet an
 * outcome kept aside (below) also take its outcome key (outcome-key.ts: in the record's Cluster slot, so
 * every operation runs on one slot), but a claim on a standalone server does not (see ASIDE_KEY), and
 * COMPLETE_ASIDE takes the pending key too. Each reads the clock with `TIME` inside Redis, so no deadline
 * is ever judged by the application server's clock. (Redis 5+ replicates script effects, not scripts,
 * which is what makes `TIME` before a write allowed.)
 *
 * A record is one string: a short ASCII header, then the owner token, the fingerprint and (completed
 * only) the outcome bytes, back to back:
 *
 *   <s><k><n>:<d>:<u>:<c>:<tl>:<fl>:<token><fingerprint><outcome>
 *
 *   s   state: "p" (in progress), "c" (completed) or "l" (completed, its outcome kept aside: see below)
 *   k   "1" when the claim that wrote the record replaced an expired lease (a takeover), else "0"
 *   n   fence
 *   d   deadline, ms since the epoch on Redis's clock: lease end (p) or retention end (c); 0 once released
 *   u   keep-until, ms since the epoch on Redis's clock: lease end + retentionMs after a claim; extend
 *       moves it as far as it moves the lease end (u - d stays the claim's retentionMs); completion
 *       only ever pushes it later
 *   c   claim time, ms since the epoch on Redis's clock: when the claim that wrote the record acquired it
 *       (`list`'s `claimedAt`); extend, complete and release keep it
 *   tl, fl  byte lengths of the token and the fingerprint
 *
 * A large outcome (to just under 1 MiB: outcome-argument.ts) is written by the client with a plain
 * `RPUSHX` (bytes that enter Lua cost Redis ~1.2 µs a KiB, and 4 more to be joined into a record and
 * stored: ~300 µs for 64 KiB against 3 for a plain write), to a pending key named by the owner's token
 * that PENDING_LIST starts, then moved to the outcome key by COMPLETE_ASIDE, which checks the owner as
 * COMPLETE does. The "l" record holds `<outcome's byte length>:<outcome key>` in its outcome's place; the
 * outcome key is a list: "o" and the token, then the outcome in pieces of ~4 KiB (outcome-argument.ts:
 * read whole, ioredis's reply parser copies a bulk string that spans two socket reads through a pool it
 * grows and shrinks, ~200 µs of Node CPU for 64 KiB, against ~3 in pieces), so a reader that fetched both
 * with plain commands can tell that they belong together, and no script reads it as a record. It expires
 * with the record.
 *
 * Every record write is one `SET … PX (u - now)`: the key expires at its keep-until, computed here from `TIME`
 * (no `PTTL`, no `PEXPIREAT`; `PX` works on every Redis, where `KEEPTTL` needs 6.0 and `PXAT` 6.2). An
 * expired lease, a released record (d = 0) and a completed one all keep the fence until then, so the
 * next owner gets a higher one. Only DELETE (operator purge) forgets it. Every script judges `d` itself;
 * the key's TTL only frees memory.
 */

/** The start of the error reply of a script that found a value that is not a record of ours. */
export const MALFORMED = "IDEMKIT_MALFORMED";

export interface Script {
  readonly lua: string;
  readonly sha: string;
}

// Redis's clock in whole milliseconds, two ways: `now` rounded down judges deadlines (a deadline
// equal to now has ended), `up` rounded up starts new ones. A deadline set to `up + ms` is never
// earlier than the true time of the call + ms, and it has ended exactly when `now` reaches it: a lease
// or retention is never shortened by rounding (flooring both would end it up to 1 ms early, before
// core's own timer, counted from before the call was sent). `after` (below) writes that deadline; a
// duration of 0 or less ends at `now + ms`, already past.
// Numbers are written with C's integer conversion (`whole`, below) where it is wide enough, which is
// far cheaper in Redis than Lua's own number-to-string, a floating-point "%.14g". Every `tonumber`
// is a C `strtod`, as dear: each field is read once. No local functions: Redis runs a script's body
// as a function, so each one would be a closure made anew on every call; `after` and `put` are spelt
// out in each script instead. (Measured with callgrind: formatting, `strtod`s and closures were ~20%
// of Redis's instructions per new key.)
// `HEADER` matches s, k, n, d, u, c, tl, fl and the position of the token. A value it does not match
// (a state or takeover flag not one of ours included), or a key holding another type, is no record
// of ours: `claim` and `get` refuse it with an error reply that starts with `MALFORMED` (never read as
// absent, which would overwrite what someone else keeps there, nor as live); the compare-and-set
// scripts find no owner in it (0); `delete` removes it. The client checks the rest (decode).
const PRELUDE = `
local time = redis.call('TIME')
local seconds, micros = tonumber(time[1]), tonumber(time[2])
local now = seconds * 1000 + math.floor(micros / 1000)
local up = seconds * 1000 + math.floor((micros + 999) / 1000)
local format = string.format
local HEADER = '^([pcl])([01])(%d+):(%-?%d+):(%d+):(%d+):(%d+):(%d+):()'
local REFUSED = '${MALFORMED} '
`;

/**
 * Lua: whether `%d` formats through a 64-bit C `long` (not on 32-bit builds nor on Windows, where a
 * deadline would be written wrong); asked only by scripts that write, before they do.
 */
export const WIDE = "local wide = format('%d', 2147483648) == '2147483648'";

/**
 * Lua: a `format` template in which `%n` writes a whole number: `%d` where `wide`, else `%.0f` (exact
 * below 2^53, but a floating-point conversion: ~11% more of Redis's instructions per new key).
 */
const whole = (template: string) =>
  `(wide and '${template.replaceAll("%n", "%d")}' or '${template.replaceAll("%n", "%.0f")}')`;

/** Lua: `local <name>`, the deadline `ms` (a Lua expression, a duration string) after now. */
const after = (name: string, ms: string) =>
  `local ${name} = tonumber(${ms})\n${name} = ${name} > 0 and up + ${name} or now + ${name}`;

// Shared by the compare-and-set scripts: ARGV[1] must own a live in-progress record, else `lost` runs
// (it returns). Leaves its header in s, k, n, d, u, c, tl, fl, at (where the token starts) and, for
// `put`, in rest the part of the record that no write of theirs changes: `<c>:<tl>:<fl>:`, the token and
// the fingerprint (d and u as numbers). Copied as one piece: each `%s` of `format` is a C `sprintf`.
const owned = (lost = "return 0") => `
local v = redis.pcall('GET', KEYS[1])
if type(v) ~= 'string' then ${lost} end
local s, k, n, d, u, c, tl, fl, at = string.match(v, HEADER)
d = tonumber(d)
if s ~= 'p' or d <= now then ${lost} end
local tokenLength = tonumber(tl)
if tokenLength ~= #ARGV[1] or string.sub(v, at, at + tokenLength - 1) ~= ARGV[1] then ${lost} end
local rest = string.sub(v, at - #c - #tl - #fl - 3, at + tokenLength + tonumber(fl) - 1)
u = tonumber(u)
${WIDE}
`;
const OWNED = owned();

/**
 * Lua: writes the owned record (OWNED's fields) in `state`, with `deadline`, `keep` (keep-until) and
 * `outcome` (Lua expressions), its TTL up to keep-until (`ttlUntil`).
 */
const put = (state: "p" | "c" | "l", deadline: string, keep: string, outcome?: string) =>
  `redis.call('SET', KEYS[1], '${state}' .. k .. n .. format(${whole(":%n:%n:")}, ${deadline}, ${keep}) .. rest${outcome ? ` .. ${outcome}` : ""}, 'PX', ${ttlUntil(keep)})`;

/**
 * Lua: the TTL, in ms as a string, of a key kept until `keep` (a Lua expression), at least 1 ms: a
 * keep-until already past only happens for a deadline already past, which reads as absent anyway.
 */
const ttlUntil = (keep: string) => `format(${whole("%n")}, math.max(1, ${keep} - now))`;

function script(body: string, prelude = PRELUDE): Script {
  const lua = prelude + body;
  return { lua, sha: createHash("sha1").update(lua).digest("hex") };
}

/**
 * Lua: the claim's write, given `fence` and `takeover`: an in-progress record with the lease and
 * keep-until from ARGV, its TTL up to keep-until; returns [fence, takeover].
 */
const ACQUIRE = `${after("lease", "ARGV[3]")}
local keep = lease + tonumber(ARGV[4])
${WIDE}
redis.call('SET', KEYS[1], (takeover == 1 and 'p1' or 'p0') .. format(${whole("%n:%n:%n:%n:%d:%d:")}, fence, lease, keep, now, #ARGV[1], #ARGV[2]) .. ARGV[1] .. ARGV[2], 'PX', format(${whole("%n")}, math.max(1, keep - now)))
return {fence, takeover}
`;

/**
 * Lua: `o`, the outcome key of the "l" record `v`: `KEYS[2]` where the caller declared it (a Cluster
 * needs every key declared, to run the script where they all are), else the name the record holds.
 * Redis reads an undeclared key on a standalone server, and claims, which run on every request, are
 * cheaper without a second key to name and send: ~5% more new keys per second.
 */
const ASIDE_KEY = `
local o = KEYS[2]
if not o then
  local _, _, _, _, _, _, tl, fl, at = string.match(v, HEADER)
  o = string.match(v, '^%d+:(.+)$', at + tonumber(tl) + tonumber(fl))
end`;

/**
 * Lua: returns [the "l" record `v`, its outcome key's list (empty when missing; nil when not a list)].
 */
const WITH_ASIDE = `${ASIDE_KEY}
local aside = o and redis.pcall('LRANGE', o, 0, -1)
if type(aside) ~= 'table' or aside.err then aside = false end
return {v, aside}`;

/**
 * KEYS: the record, and its outcome key on a Cluster (ASIDE_KEY). ARGV: token, fingerprint, leaseMs,
 * retentionMs. The record is kept (key TTL and keep-until) retentionMs past its lease end, however the
 * two compare: a takeover within that time sees the fence. When acquired, returns [fence, takeover] as
 * two integers: takeover is 1 when the claim replaced an in-progress record whose lease ran out (d > 0: a
 * released one has d = 0), else 0; the flag is stored in the record; an ended record's outcome kept aside
 * is deleted (where `DEL` is refused it expires on its own, and the next large completion replaces it).
 * Otherwise returns the live record (the whole string), or, for an "l" record, [record,
 * outcome key's list], read in the same atomic step (a retry with the owner's token reads its own
 * claim's takeover flag there).
 */
export const CLAIM = script(`
local v = redis.pcall('GET', KEYS[1])
if type(v) == 'table' then return redis.error_reply(REFUSED .. '(a ' .. redis.call('TYPE', KEYS[1]).ok .. ', not a string)') end
local fence = 1
local takeover = 0
if v then
  local s, k, n, d = string.match(v, HEADER)
  if not s then return redis.error_reply(REFUSED .. '(no record header)') end
  d = tonumber(d)
  if s == 'l' then
    if d > now then ${WITH_ASIDE} end
    ${ASIDE_KEY}
    if o then redis.pcall('DEL', o) end
  elseif d > now then
    return v
  end
  fence = tonumber(n) + 1
  if s == 'p' and d > 0 then takeover = 1 end
end
${ACQUIRE}`);

/**
 * CLAIM for a key that has no record: ARGV as CLAIM's. Acquires an absent key exactly as CLAIM does
 * (fence 1, no takeover) and returns [1, 0]; for a key that exists, of any type, writes nothing and
 * returns Redis's clock (`now`, ms): sent behind a plain `GET` of the key, it judges the value that
 * `GET` read (large-reads.ts). It never reads the value into Lua.
 */
export const CLAIM_IF_ABSENT = script(`
if redis.call('EXISTS', KEYS[1]) == 1 then return now end
local fence = 1
local takeover = 0
${ACQUIRE}`);

/**
 * ARGV: token, outcome bytes, retentionMs. Returns 1 when stored, 0 when the lease was lost.
 * Keep-until becomes the later of its current value and the retention end: never shorter, so the
 * fence is kept at least as long as the claim promised (a retention of 0 or less reads as absent
 * at once, but keeps the fence too). u > now here: the lease is live and u >= lease end.
 * One `SET` of the whole record, even for a large outcome: a `SET` then an `APPEND` would save Redis
 * a copy, but `APPEND` keeps its string's room to grow, up to twice the record's memory for as long
 * as the record is kept.
 */
export const COMPLETE = script(`${OWNED}
${after("deadline", "ARGV[3]")}
local keep = math.max(u, deadline)
${put("c", "deadline", "keep", "ARGV[2]")}
return 1
`);

/**
 * Starts a pending list (COMPLETE_ASIDE's KEYS[2]) with a TTL, so that no piece of an outcome is ever kept
 * without one: the client's plain `RPUSHX` of the pieces, sent right after in the same write, appends only
 * to a list this made (a list and its TTL in one command, as `SET … PX` is for a string, does not exist).
 * KEYS: the pending key. ARGV: its first element ("o" and the token), its TTL in ms. Whatever was there
 * before (an earlier attempt, resent) is replaced. Where `PEXPIRE` is refused, nothing is made, and the
 * pieces land nowhere: the completion goes inline.
 */
export const PENDING_LIST = script(
  `redis.pcall('DEL', KEYS[1])
if type(redis.pcall('PEXPIRE', KEYS[1], ARGV[2])) == 'table' then return 0 end
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1`,
  "",
);

/**
 * COMPLETE for an outcome the client wrote to a pending key (a list, as the outcome key holds it). KEYS:
 * the record, the pending key, the outcome key. ARGV: token, retentionMs, the pending list's length, the
 * outcome's byte length. Returns 1 when stored: the pending key becomes the outcome key, with a TTL to
 * keep-until + 1 ms (past the record's deadline, so it outlives the record as long as that reads as live),
 * before the record is written, so a refusal (an ACL without `RENAME`) writes no record.
 * Returns 0 when the lease was lost, -1 when the pending key is not as written (it expired or was evicted
 * before this ran, or PENDING_LIST did not run first), could
 * not be moved, or could not be read back (an ACL without `LRANGE`: replays would fail): the caller
 * completes by COMPLETE then. The pending key is gone after any of the three.
 */
export const COMPLETE_ASIDE = script(`${owned("redis.pcall('DEL', KEYS[2]) return 0")}
if redis.pcall('LLEN', KEYS[2]) ~= tonumber(ARGV[3]) or redis.pcall('LRANGE', KEYS[2], 0, 0).err then
  redis.pcall('DEL', KEYS[2])
  return -1
end
${after("deadline", "ARGV[2]")}
local keep = math.max(u, deadline)
local moved = redis.pcall('RENAME', KEYS[2], KEYS[3])
if type(moved) == 'table' and moved.err then
  redis.pcall('DEL', KEYS[2])
  return -1
end
if redis.pcall('PEXPIRE', KEYS[3], ${ttlUntil("keep + 1")}) ~= 1 then
  redis.pcall('DEL', KEYS[3])
  return -1
end
${put("l", "deadline", "keep", "ARGV[4] .. ':' .. KEYS[3]")}
return 1
`);

/**
 * ARGV: token. Returns 1 when released, 0 when the lease was lost. The key is not deleted: its
 * deadline is set to 0 (long past on any clock), so it reads as absent and is claimable at once,
 * while the record, and its fence, stay until keep-until: the next claim's fence is higher.
 */
export const RELEASE = script(`${OWNED}
${put("p", "0", "u")}
return 1
`);

/**
 * ARGV: token, leaseMs. Returns 1 when extended, 0 when the lease was lost. Keep-until moves as far
 * as the lease end: the record stays kept the claim's retentionMs past its new lease end.
 */
export const EXTEND = script(`${OWNED}
${after("lease", "ARGV[2]")}
local keep = u + (lease - d)
${put("p", "lease", "keep")}
return 1
`);

/**
 * KEYS: the record, its outcome key. Returns the live record (the whole string; for an "l" record,
 * [record, outcome key's list], as CLAIM), or nil when absent or expired.
 */
export const GET = script(`
local v = redis.pcall('GET', KEYS[1])
if type(v) == 'table' then return redis.error_reply(REFUSED .. '(a ' .. redis.call('TYPE', KEYS[1]).ok .. ', not a string)') end
if v then
  local s, k, n, d = string.match(v, HEADER)
  if not s then return redis.error_reply(REFUSED .. '(no record header)') end
  if tonumber(d) > now then
    if s == 'l' then ${WITH_ASIDE} end
    return v
  end
end
return false
`);

/**
 * KEYS: the record, its outcome key. Removes the record whatever its state, fence included, and its
 * outcome key. Returns 1 if it was live, else 0. Reads the header only (`GETRANGE`; it is under 128
 * bytes), not the outcome. Whatever else is at the key (a value that is no record of ours, another type)
 * is removed too, and counts as not live: this is how an operator clears a key that `claim` refuses.
 */
export const DELETE = script(`
local v = redis.pcall('GETRANGE', KEYS[1], 0, 127)
local removed = redis.call('DEL', KEYS[1])
redis.call('DEL', KEYS[2])
if removed == 0 or type(v) ~= 'string' then return 0 end
local s, k, n, d = string.match(v, HEADER)
if s and tonumber(d) > now then return 1 end
return 0
`);

/**
 * `list`'s read of one key it found. ARGV: the state wanted ('p', 'c', or '' for either), the least age
 * of the claim in ms ('' for any). Returns the header's state ('c' for "l"), fence, deadline and claim
 * time (s, n, d, c) when the key holds a live record that passes both, judged by Redis's clock; nil
 * otherwise, and for a value that is no record of ours (list leaves it out: `get` names it). Reads the
 * header only (`GETRANGE`), never the outcome.
 */
export const SUMMARY = script(`
local v = redis.pcall('GETRANGE', KEYS[1], 0, 127)
if type(v) ~= 'string' then return false end
local s, k, n, d, u, c = string.match(v, HEADER)
if not s or tonumber(d) <= now then return false end
if s == 'l' then s = 'c' end
if ARGV[1] ~= '' and s ~= ARGV[1] then return false end
if ARGV[2] ~= '' and tonumber(c) > now - tonumber(ARGV[2]) then return false end
return {s, n, d, c}
`);
