// What the cluster keeps in Redis and how: the Lua scripts every write to a room's shared
// state goes through (Redis runs a script alone, so the seq, the stream entry and the channel
// message of one durable message are one step), and the readers of their replies and of the
// channel's messages.
#pragma once
#include <hiredis/hiredis.h>

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

#include "protocol/messages.hpp"

namespace liveshare::cluster::wire {

constexpr const char* kUnavailable = "Room unavailable: the cluster did not answer";

// KEYS: log, seq, channel. ARGV: type, frame (without seq).
constexpr std::string_view kAppend = R"(
local seq = redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[1], '0-' .. seq, 't', ARGV[1], 'f', ARGV[2])
redis.call('PUBLISH', KEYS[3], 'D|' .. seq .. '|' .. ARGV[1] .. '|' .. ARGV[2])
return seq)";
// KEYS: members, channel. ARGV: cap, user_id, tag "node|conn|", username. -1: full.
constexpr std::string_view kJoin = R"(
local cur = redis.call('HGET', KEYS[1], ARGV[2])
if not cur and redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[1]) then return -1 end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3] .. ARGV[4])
redis.call('PUBLISH', KEYS[2], 'J|' .. ARGV[3] .. #ARGV[2] .. '|' .. ARGV[2] .. ARGV[4])
if cur then return 1 end
return 0)";
// KEYS: members, channel. ARGV: user_id, tag. Only the connection that joined removes itself.
constexpr std::string_view kLeave = R"(
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v and string.sub(v, 1, #ARGV[2]) == ARGV[2] then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('PUBLISH', KEYS[2], 'L|' .. ARGV[2] .. #ARGV[1] .. '|' .. ARGV[1])
  return 1
end
return 0)";
// KEYS: members, channel. ARGV: node key prefix. Members of nodes whose key expired leave.
constexpr std::string_view kSweep = R"(
local h = redis.call('HGETALL', KEYS[1])
local n = 0
for i = 1, #h, 2 do
  local tag, node = string.match(h[i + 1], '^(([^|]*)|[^|]*|)')
  if node and redis.call('EXISTS', ARGV[1] .. node) == 0 then
    redis.call('HDEL', KEYS[1], h[i])
    redis.call('PUBLISH', KEYS[2], 'L|' .. tag .. #h[i] .. '|' .. h[i])
    n = n + 1
  end
end
return n)";
// KEYS: snap, log. ARGV: seq, state, created_at, elements, entries kept before it.
constexpr std::string_view kSnapshot = R"(
local cur = tonumber(redis.call('HGET', KEYS[1], 'seq')) or 0
local s = tonumber(ARGV[1])
if s <= cur then return 0 end
redis.call('HSET', KEYS[1], 'seq', ARGV[1], 'state', ARGV[2], 'created', ARGV[3], 'elements', ARGV[4])
local keep = s - tonumber(ARGV[5])
if keep > 1 then redis.call('XTRIM', KEYS[2], 'MINID', '0-' .. keep) end
return 1)";
// KEYS: snap, log, members, meta. ARGV: entries wanted before the snapshot (for resume).
constexpr std::string_view kLoad = R"(
local snap = redis.call('HMGET', KEYS[1], 'seq', 'state', 'created', 'elements')
local s = tonumber(snap[1]) or 0
local from = math.max(1, s + 1 - tonumber(ARGV[1]))
return {tostring(s), snap[2] or '', snap[3] or '', snap[4] or '0',
        redis.call('XRANGE', KEYS[2], '0-' .. from, '+'), redis.call('HGETALL', KEYS[3]),
        redis.call('HGETALL', KEYS[4])})";
// KEYS: meta. ARGV: name, owner, password hash, created_at, max_users. 0: it exists already.
constexpr std::string_view kCreate = R"(
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'name', ARGV[1], 'owner', ARGV[2], 'pw', ARGV[3], 'created', ARGV[4], 'max_users', ARGV[5])
return 1)";

inline std::string_view str(const redisReply* r) {
    return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS)
               ? std::string_view(r->str, r->len)
               : std::string_view{};
}

template <typename T>
bool to_num(std::string_view s, T& out) {
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && end == s.data() + s.size();
}

// Fields of a channel message: up to the next '|', or a length-prefixed one ("5|alice").
inline std::string_view field(std::string_view& s) {
    const auto bar = s.find('|');
    std::string_view f = s.substr(0, bar);
    s = bar == std::string_view::npos ? std::string_view{} : s.substr(bar + 1);
    return f;
}
inline std::string_view sized_field(std::string_view& s) {
    std::size_t n = 0;
    if (!to_num(field(s), n) || n > s.size()) return {};
    std::string_view f = s.substr(0, n);
    s = s.substr(n);
    return f;
}
inline bool type_of(std::string_view s, MsgType& t) {
    unsigned v = 0;
    if (!to_num(s, v) || v >= kMsgTypeCount) return false;
    t = static_cast<MsgType>(v);
    return true;
}
inline std::string type_arg(MsgType t) {
    return std::to_string(static_cast<unsigned>(t));
}

// "0-<seq>", the stream ids this cluster writes.
inline std::uint64_t seq_of_id(std::string_view id) {
    std::uint64_t seq = 0;
    if (id.substr(0, 2) != "0-" || !to_num(id.substr(2), seq)) return 0;
    return seq;
}

// The entries of an XRANGE reply ([id, [t, type, f, frame]] each), in order, as this cluster
// writes them; `fn` returns false to stop. Entries of another shape are skipped.
template <typename Fn>
void for_each_entry(const redisReply* entries, Fn&& fn) {
    for (std::size_t i = 0; entries->type == REDIS_REPLY_ARRAY && i < entries->elements; ++i) {
        const redisReply* e = entries->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2) continue;
        const redisReply* f = e->element[1];
        MsgType type{};
        if (f->type != REDIS_REPLY_ARRAY || f->elements != 4 || !type_of(str(f->element[1]), type))
            continue;
        if (!fn(seq_of_id(str(e->element[0])), type, str(f->element[3]))) return;
    }
}

}  // namespace liveshare::cluster::wire
