import { script } from "./scripts.js";

// The two halves of a large outcome's completion, one transaction: `MULTI`, BEFORE_APPEND, `APPEND` of
// the outcome, AFTER_APPEND, `EXEC`. The outcome's bytes never enter Lua, where each byte costs Redis
// ~1.3 ns per copy. ARGV[1] is the token in both. A value the APPEND must not touch is parked in a list
// for the APPEND's duration (it then fails with WRONGTYPE) under a marker no one else writes (it holds
// the token), and put back as it was; only the parked value passes through Lua, and only when the
// caller is not the owner.
const APPENDING = `
local PARKED = 'idemkit:parked:' .. ARGV[1]
local ABSENT = 'idemkit:absent:' .. ARGV[1]
local function ownHeader(v)
  local s, k, n, d, u, c, tl, fl, at = string.match(v, HEADER)
  if malformed(s, k) or s ~= 'p' then return nil end
  tl = tonumber(tl)
  if tl ~= #ARGV[1] or string.sub(v, at, at + tl - 1) ~= ARGV[1] then return nil end
  return at + tl + tonumber(fl) - 1, tonumber(d), k, n, tonumber(u), c, tl, fl, at
end
`;

/**
 * ARGV: token. Returns 1 when the key holds a live in-progress record of the token and nothing after
 * it: the APPEND may add the outcome. Otherwise parks a string value (its bytes and TTL) or marks an
 * absent key in a list, so the APPEND fails, and returns 0; a key of another type is left as it is
 * (the APPEND fails on it).
 */
export const BEFORE_APPEND = script(`${APPENDING}
local t = redis.call('TYPE', KEYS[1]).ok
if t == 'none' then
  redis.call('RPUSH', KEYS[1], ABSENT)
  return 0
end
if t ~= 'string' then return 0 end
local len = redis.call('STRLEN', KEYS[1])
local length, d = ownHeader(redis.call('GETRANGE', KEYS[1], 0, 1023))
if length == len and d > now then return 1 end
local v = redis.call('GET', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
redis.call('DEL', KEYS[1])
redis.call('RPUSH', KEYS[1], PARKED, v, ttl)
return 0
`);

/**
 * ARGV: token, the number of bytes appended (> 0), retentionMs. Returns 1 when the outcome is stored
 * as `COMPLETE` stores it: the header is rewritten in place when it is as wide as before (13-digit
 * deadlines make that the rule), else the record is written whole. Returns 0 after putting back what
 * BEFORE_APPEND parked (the bytes, and the TTL by `PTTL`: the same expiry or 1 ms later), or after
 * taking the outcome off the owner's record again when its lease ended between the two scripts.
 * Refuses with an error reply when Redis refused the APPEND (the record is as it was).
 */
export const AFTER_APPEND = script(`${APPENDING}
local function put(v, ttl)
  if ttl == -1 then redis.call('SET', KEYS[1], v) else redis.call('SET', KEYS[1], v, 'PX', math.max(1, ttl)) end
end
local t = redis.call('TYPE', KEYS[1]).ok
if t == 'list' then
  local marker = redis.call('LINDEX', KEYS[1], 0)
  if marker == ABSENT then redis.call('DEL', KEYS[1]) end
  if marker == PARKED then
    local parked = redis.call('LRANGE', KEYS[1], 1, 2)
    redis.call('DEL', KEYS[1])
    put(parked[1], tonumber(parked[2]))
  end
  return 0
end
if t ~= 'string' then return 0 end
local len = redis.call('STRLEN', KEYS[1])
local v = redis.call('GETRANGE', KEYS[1], 0, 1023)
local length, d, k, n, u, c, tl, fl, at = ownHeader(v)
if not length then return 0 end
if len ~= length + tonumber(ARGV[2]) then return redis.error_reply('IDEMKIT_APPEND_REFUSED') end
if d <= now then
  put(redis.call('GETRANGE', KEYS[1], 0, length - 1), redis.call('PTTL', KEYS[1]))
  return 0
end
local deadline = after(tonumber(ARGV[3]))
local keep = math.max(u, deadline)
local head = 'c' .. k .. n .. ':' .. int(deadline) .. ':' .. int(keep) .. ':' .. c .. ':' .. tl .. ':' .. fl .. ':'
local ttl = int(math.max(1, keep - now))
if #head == at - 1 then
  redis.call('SETRANGE', KEYS[1], 0, head)
  redis.call('PEXPIRE', KEYS[1], ttl)
else
  redis.call('SET', KEYS[1], head .. redis.call('GETRANGE', KEYS[1], at - 1, -1), 'PX', ttl)
end
return 1
`);
