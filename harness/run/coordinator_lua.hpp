// The coordinator's Lua scripts (run/coordinator.hpp): each decision atomic in Redis.
// ARGV[1] is always the run's key prefix, lsb:{RUN}: (one hash slot).
#pragma once

namespace harness::coordinator_lua {

inline constexpr const char* kNow =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n";

// ARGV: prefix, shards, fixed index (-1: counter), timeout ms, keep ms, who, run, then
// fingerprint name/value pairs. Returns {index, 'ok'} or {-1, why}.
inline constexpr const char* kClaim = R"lua(
local p, n, fixed = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local timeout, keep, who, run = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6], ARGV[7]
local meta = p .. 'meta'
local mode = 'counter'
if fixed >= 0 then mode = 'fixed' end
if redis.call('EXISTS', meta) == 0 then
  -- A new run of an old name: what an earlier run of it left (its meta expired first) goes.
  redis.call('DEL', p .. 'failed', p .. 'next', p .. 'done', p .. 'r0:bench', p .. 'r0:ready',
             p .. 'r0:start', p .. 'r0:deadline', p .. 'r0:joined')
  redis.call('HSET', meta, 'shards', n, 'mode', mode, 'created_ms', now,
             'deadline_ms', now + timeout, 'timeout_ms', timeout, 'state', 'registering')
  for i = 8, #ARGV, 2 do redis.call('HSET', meta, 'fp:' .. ARGV[i], ARGV[i + 1]) end
else
  local st = redis.call('HGET', meta, 'state')
  if st ~= 'registering' then
    return {-1, 'run ' .. run .. ' is ' .. st .. ' (' .. redis.call('HGET', meta, 'shards') ..
            ' shards); its keys expire in ' .. math.floor(redis.call('PTTL', meta) / 1000) ..
            ' s: choose another --run_id'}
  end
  local want = tonumber(redis.call('HGET', meta, 'shards'))
  if want ~= n then
    return {-1, 'run ' .. run .. ' has ' .. want .. ' shards; this shard says --shards=' .. n}
  end
  if redis.call('HGET', meta, 'mode') ~= mode then
    return {-1, 'run ' .. run .. ' gives shard indices by ' .. redis.call('HGET', meta, 'mode') ..
            '; this shard wants ' .. mode .. ' (--shard=I/N on every shard or on none)'}
  end
  for i = 8, #ARGV, 2 do
    local v = redis.call('HGET', meta, 'fp:' .. ARGV[i])
    if v ~= ARGV[i + 1] then
      return {-1, 'run ' .. run .. ' has --' .. ARGV[i] .. '=' .. tostring(v) ..
              '; this shard has --' .. ARGV[i] .. '=' .. ARGV[i + 1]}
    end
  end
  local dl = tonumber(redis.call('HGET', meta, 'deadline_ms'))
  if now > dl then
    return {-1, 'run ' .. run .. ' closed its registration ' .. math.floor((now - dl) / 1000) ..
            ' s ago (--coordinator_timeout_s)'}
  end
end
local idx
if fixed >= 0 then
  if redis.call('HSETNX', p .. 'shard:' .. fixed, 'who', who) == 0 then
    return {-1, 'shard ' .. fixed .. ' of run ' .. run .. ' is taken by ' ..
            redis.call('HGET', p .. 'shard:' .. fixed, 'who')}
  end
  idx = fixed
else
  idx = redis.call('INCR', p .. 'next') - 1
  if idx >= n then return {-1, 'run ' .. run .. ' already has its ' .. n .. ' shards'} end
  redis.call('HSET', p .. 'shard:' .. idx, 'who', who)
end
redis.call('HSET', p .. 'shard:' .. idx, 'claimed_ms', now)
for _, k in ipairs({'meta', 'next', 'shard:' .. idx}) do
  redis.call('PEXPIRE', p .. k, timeout + keep)
end
return {idx, 'ok'}
)lua";

// ARGV: prefix, round, index, benchmark, lead ms, run ms, keep ms, run, users joined.
// Returns {0, 'ok'} or {-1, why}.
inline constexpr const char* kReady = R"lua(
local p, r, i, bench = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local lead, run_ms, keep, run = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), ARGV[8]
local meta = p .. 'meta'
local f = redis.call('GET', p .. 'failed')
if f then return {-1, f} end
if redis.call('EXISTS', meta) == 0 then return {-1, 'run ' .. run .. ' is gone (its keys expired)'} end
local n = tonumber(redis.call('HGET', meta, 'shards'))
local timeout = tonumber(redis.call('HGET', meta, 'timeout_ms'))
local rb = p .. 'r' .. r .. ':'
local b = redis.call('GET', rb .. 'bench')
if not b then
  redis.call('SET', rb .. 'bench', bench, 'PX', timeout + keep)
elseif b ~= bench then
  local why = 'shard ' .. i .. ' runs ' .. bench .. ' as run ' .. r .. ' of ' .. run ..
              ', another shard runs ' .. b .. ' (every shard needs the same benchmarks)'
  redis.call('SET', p .. 'failed', why, 'NX', 'PX', math.max(redis.call('PTTL', meta), 1000))
  redis.call('HSET', meta, 'state', 'failed')
  return {-1, redis.call('GET', p .. 'failed')}
end
redis.call('SET', rb .. 'deadline', now + timeout, 'NX', 'PX', timeout + keep)
redis.call('SADD', rb .. 'ready', i)
redis.call('PEXPIRE', rb .. 'ready', timeout + keep)
redis.call('HSET', rb .. 'joined', i, ARGV[9])
redis.call('PEXPIRE', rb .. 'joined', timeout + keep)
if redis.call('SCARD', rb .. 'ready') == n and
   redis.call('SET', rb .. 'start', now + lead, 'NX') then
  redis.call('HSET', meta, 'state', 'running', 'started_ms', now + lead)
  local life = lead + run_ms + timeout + keep
  local ks = {'meta', 'next', 'done', rb .. 'bench', rb .. 'ready', rb .. 'start', rb .. 'deadline',
              rb .. 'joined'}
  for j = 0, n - 1 do ks[#ks + 1] = 'shard:' .. j end
  for _, k in ipairs(ks) do
    if string.sub(k, 1, #p) == p then redis.call('PEXPIRE', k, life)
    else redis.call('PEXPIRE', p .. k, life) end
  end
end
return {0, 'ok'}
)lua";

// ARGV: prefix, round, keep ms, run. Returns {1, start}, {0, ''} (wait) or {-1, why}; at the
// round's deadline it records why (naming the shards missing) as the run's failure.
inline constexpr const char* kPoll = R"lua(
local p, r, keep, run = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local rb = p .. 'r' .. r .. ':'
local s = redis.call('GET', rb .. 'start')
if s then return {1, s} end
local f = redis.call('GET', p .. 'failed')
if f then return {-1, f} end
local meta = p .. 'meta'
if redis.call('EXISTS', meta) == 0 then return {-1, 'run ' .. run .. ' is gone (its keys expired)'} end
local dl = tonumber(redis.call('GET', rb .. 'deadline') or '0')
if dl == 0 or now <= dl then return {0, ''} end
local n = tonumber(redis.call('HGET', meta, 'shards'))
local timeout = tonumber(redis.call('HGET', meta, 'timeout_ms'))
local missing = {}
for j = 0, n - 1 do
  if redis.call('SISMEMBER', rb .. 'ready', j) == 0 then
    local who = redis.call('HGET', p .. 'shard:' .. j, 'who')
    if who then missing[#missing + 1] = 'shard ' .. j .. ' (' .. who .. ', registered, not ready)'
    else missing[#missing + 1] = 'shard ' .. j .. ' (never registered)' end
  end
end
local why = 'run ' .. run .. ': the barrier timed out after ' .. math.floor(timeout / 1000) ..
            ' s (--coordinator_timeout_s): ' .. redis.call('SCARD', rb .. 'ready') .. ' of ' .. n ..
            ' shards ready; missing ' .. table.concat(missing, ', ')
redis.call('SET', p .. 'failed', why, 'NX', 'PX', math.max(redis.call('PTTL', meta), 1000))
redis.call('HSET', meta, 'state', 'failed')
return {-1, redis.call('GET', p .. 'failed')}
)lua";

// ARGV: prefix, why. The run's failure, first reason wins, living as long as the run's meta;
// nothing when the run is gone. Returns {0, the reason that stands} or {-1, 'gone'}.
inline constexpr const char* kFail = R"lua(
local p, why = ARGV[1], ARGV[2]
local meta = p .. 'meta'
if redis.call('EXISTS', meta) == 0 then return {-1, 'gone'} end
redis.call('SET', p .. 'failed', why, 'NX', 'PX', math.max(redis.call('PTTL', meta), 1000))
redis.call('HSET', meta, 'state', 'failed')
return {0, redis.call('GET', p .. 'failed')}
)lua";

// ARGV: prefix, index, rounds done. The last shard to finish marks the run done.
inline constexpr const char* kDone = R"lua(
local p, i, rounds = ARGV[1], ARGV[2], ARGV[3]
local meta = p .. 'meta'
redis.call('HSET', p .. 'done', i, rounds)
redis.call('PEXPIRE', p .. 'done', math.max(redis.call('PTTL', meta), 1000))
if redis.call('HLEN', p .. 'done') == tonumber(redis.call('HGET', meta, 'shards')) and
   redis.call('HGET', meta, 'state') == 'running' then
  redis.call('HSET', meta, 'state', 'done')
end
return {0, 'ok'}
)lua";

}  // namespace harness::coordinator_lua
