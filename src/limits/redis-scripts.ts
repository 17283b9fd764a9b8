/**
 * The Lua scripts the Redis limiter runs (src/limits/redis.ts says what each does and why), each with
 * its SHA-1 for EVALSHA. Each runs atomically in Redis, on Redis' own clock.
 */
import { createHash } from 'node:crypto';

// Redis >= 5 replicates script effects, so TIME before writes is allowed; replicate_commands makes
// 3.2 and 4 do the same (and is a no-op where it still exists).
const CLOCK = `if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function keepLease(key, lease, ttl)
  redis.call('ZADD', key, now + ttl, lease)
  if redis.call('PTTL', key) < ttl + 1000 then redis.call('PEXPIRE', key, ttl + 1000) end
end
`;

// The slots a task's record (a hash: lease id -> JSON list of the concurrency keys it holds) keeps
// live, as a set: covered[key] = true.
const COVERED = `local function coveredBy(record)
  local covered = {}
  local h = redis.call('HGETALL', record)
  for j = 1, #h, 2 do
    for _, k in ipairs(cjson.decode(h[j + 1])) do
      local score = redis.call('ZSCORE', k, h[j])
      if score and tonumber(score) > now then covered[k] = true end
    end
  end
  return covered
end
`;

// KEYS: one per check, then the task's record when ARGV[4] is '1' (a continuation of a task). ARGV:
// lease id, lease ttl, concurrency retry ms, '1'|'0', then per check kind ('r'|'c'), a, b (rate: ms to
// refill one point, capacity; concurrency: cap, unused). A cap whose slot the task holds is passed and
// not taken. Returns {0, covered check indices...} or {index, wait ms, '1' when running tasks hold
// every slot of that cap (the wait is then the soonest task deadline)}.
const ACQUIRE = `${CLOCK}${COVERED}
local lease, ttl, cwait = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local n, covered = #KEYS, {}
if ARGV[4] == '1' then
  covered = coveredBy(KEYS[n])
  n = n - 1
end
local level, at, tasks = {}, {}, {}
local worst, worstWait = 0, 0
for i = 1, n do
  local kind, a, b = ARGV[3 * i + 2], tonumber(ARGV[3 * i + 3]), tonumber(ARGV[3 * i + 4])
  local wait = 0
  if kind == 'r' then
    local h = redis.call('HMGET', KEYS[i], 'tokens', 'at')
    local tokens, last = tonumber(h[1]), tonumber(h[2])
    if tokens == nil or last == nil then tokens, last = b, now
    else tokens = math.min(b, tokens + math.max(0, now - last) / a) end
    level[i], at[i] = tokens, math.max(now, last)
    if tokens < 1 then wait = (1 - tokens) * a end
  elseif not covered[KEYS[i]] then
    redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
    if redis.call('ZCARD', KEYS[i]) >= a then
      wait = cwait
      -- A call's lease is never scored past now + ttl (renewed): the soonest past it is a task's deadline, and so are all the others.
      local first = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
      if first[2] and tonumber(first[2]) > now + ttl then wait = tonumber(first[2]) - now; tasks[i] = true end
    end
  end
  if wait > worstWait then worst, worstWait = i, wait end
end
if worst > 0 then return {worst, tostring(worstWait), tasks[worst] and '1' or '0'} end
local out = {0}
for i = 1, n do
  local kind, a, b = ARGV[3 * i + 2], tonumber(ARGV[3 * i + 3]), tonumber(ARGV[3 * i + 4])
  if kind == 'r' then
    local left = level[i] - 1
    redis.call('HSET', KEYS[i], 'tokens', tostring(left), 'at', tostring(at[i]))
    redis.call('PEXPIRE', KEYS[i], math.ceil((b - left) * a) + 1000)
  elseif covered[KEYS[i]] then
    out[#out + 1] = i
  else
    keepLease(KEYS[i], lease, ttl)
  end
end
return out`;

// Points a replica spent locally while Redis was away (local-points.ts), added to their bucket once it
// is back. KEYS[1]: the bucket, KEYS[2]: the run's sent mark. ARGV: ms to refill one point, capacity,
// points, ms since the run's latest point, ms the mark lasts (until the run would be over). Taken as
// spent at the later of the run's latest point and the bucket's last change (never earlier than they
// were, so no refill is counted that was not there), emptying the bucket at most, then refilled to
// now. A run already counted (its mark is there: an answer lost, the catch-up sent again) is not
// counted twice. Returns 1 when counted, 0 when it had been.
const POINTS = `${CLOCK}
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local a, b, k = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local spent = now - math.max(0, tonumber(ARGV[4]))
local h = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, last = tonumber(h[1]), tonumber(h[2])
if tokens == nil or last == nil then tokens, last = b, spent end
local at = math.min(now, math.max(spent, last))
local level = math.min(b, tokens + math.max(0, at - last) / a)
level = math.min(b, math.max(0, level - k) + math.max(0, now - at) / a)
redis.call('HSET', KEYS[1], 'tokens', tostring(level), 'at', tostring(math.max(now, last)))
redis.call('PEXPIRE', KEYS[1], math.ceil((b - level) * a) + 1000)
redis.call('SET', KEYS[2], '1', 'PX', math.max(1, math.ceil(tonumber(ARGV[5]))))
return 1`;

// Re-adds rather than only updating: the call is still running, so it does hold the slot.
const RENEW = `${CLOCK}
for i = 1, #KEYS do keepLease(KEYS[i], ARGV[1], tonumber(ARGV[2])) end
return 0`;

const RELEASE = `for i = 1, #KEYS do redis.call('ZREM', KEYS[i], ARGV[1]) end
return 0`;

// A call's leases kept for its task: KEYS[1] the task's record, KEYS[2] its end mark, then the
// concurrency keys. ARGV: lease id, ms to the task's deadline. Scored by the deadline and never
// renewed; the record names the keys so that whichever replica sees the task end can give them back
// (END). Also how the holding replica writes a hold back that Redis lost (LIVE said 0). A task some
// replica saw end (its end mark is there) is not held: the lease is removed instead, and 1 returned.
const HOLD = `${CLOCK}
if redis.call('EXISTS', KEYS[2]) == 1 then
  for i = 3, #KEYS do redis.call('ZREM', KEYS[i], ARGV[1]) end
  return 1
end
local keys = {}
for i = 3, #KEYS do
  keepLease(KEYS[i], ARGV[1], tonumber(ARGV[2]))
  keys[#keys + 1] = KEYS[i]
end
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(keys))
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) + 1000 then redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) + 1000) end
return 0`;

// KEYS[1]: a task's record, KEYS[2]: its end mark. Removes every lease the record names from the keys
// it names, then the record, and leaves the end mark for as long as the record had left, at least
// ARGV[1] ms: the replicas holding the task read it (LIVE) and drop their hold rather than write back
// a record that looks lost.
const END = `local h = redis.call('HGETALL', KEYS[1])
for j = 1, #h, 2 do
  for _, k in ipairs(cjson.decode(h[j + 1])) do redis.call('ZREM', k, h[j]) end
end
local left = math.max(redis.call('PTTL', KEYS[1]), tonumber(ARGV[1]))
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], '1', 'PX', left)
return 0`;

// KEYS: per task its record then its end mark. Per task: 2 when some replica saw it end (the end mark),
// 1 when its record is there with every lease it names in its key, 0 when Redis has lost some of it
// (a restart without persistence, FLUSHALL, eviction) or its deadline has passed: the holding replica
// then writes its hold back (HOLD) while its deadline has not passed, else drops its local mirror.
const LIVE = `local out = {}
for i = 1, #KEYS, 2 do
  local state = 0
  if redis.call('EXISTS', KEYS[i + 1]) == 1 then state = 2
  elseif redis.call('EXISTS', KEYS[i]) == 1 then
    state = 1
    local h = redis.call('HGETALL', KEYS[i])
    for j = 1, #h, 2 do
      for _, k in ipairs(cjson.decode(h[j + 1])) do
        if not redis.call('ZSCORE', k, h[j]) then state = 0 end
      end
    end
  end
  out[#out + 1] = state
end
return out`;

export interface Script {
  src: string;
  sha: string;
}
const script = (src: string): Script => ({ src, sha: createHash('sha1').update(src).digest('hex') });
export const SCRIPTS = {
  acquire: script(ACQUIRE),
  renew: script(RENEW),
  release: script(RELEASE),
  hold: script(HOLD),
  end: script(END),
  live: script(LIVE),
  points: script(POINTS),
};
