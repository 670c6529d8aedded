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

// KEYS: log, seq, channel, fence. ARGV: type, frame (without seq), append id, node, epoch.
// The fence holds each node's current connection epoch: a command from a connection the node
// gave up on (a hung Redis that wakes up and runs what it had buffered) is refused, -1, so
// what the node found in the stream when it came back stays the whole truth. The append id
// ("node:n") lets the node tell, after an outage, which of its messages in flight Redis holds.
constexpr std::string_view kAppend = R"(
if redis.call('HGET', KEYS[4], ARGV[4]) ~= ARGV[5] then return -1 end
local seq = redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[1], '0-' .. seq, 't', ARGV[1], 'f', ARGV[2], 'n', ARGV[3])
redis.call('PUBLISH', KEYS[3], 'D|' .. seq .. '|' .. ARGV[1] .. '|' .. ARGV[2])
return seq)";
// With --cluster-wait-replicas the append is stored (kStore: the seq and the entry), covered
// by a WAIT on the same connection (one WAIT for every store sent before it: a group
// commit), and only then announced on the channel (kAnnounce), which is the echo.
// KEYS: log, seq, fence. ARGV: type, frame, append id, node, epoch. -1: the fence moved.
constexpr std::string_view kStore = R"(
if redis.call('HGET', KEYS[3], ARGV[4]) ~= ARGV[5] then return -1 end
local seq = redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[1], '0-' .. seq, 't', ARGV[1], 'f', ARGV[2], 'n', ARGV[3])
return seq)";
// KEYS: log, channel. ARGV: the seqs to announce. Returns how many were found.
constexpr std::string_view kAnnounce = R"(
local n = 0
for i = 1, #ARGV do
  local e = redis.call('XRANGE', KEYS[1], '0-' .. ARGV[i], '0-' .. ARGV[i])
  if #e > 0 then
    local f = e[1][2]
    redis.call('PUBLISH', KEYS[2], 'D|' .. ARGV[i] .. '|' .. f[2] .. '|' .. f[4])
    n = n + 1
  end
end
return n)";
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
// KEYS: snap, log, members, meta, fence. ARGV: entries wanted before the snapshot (for
// resume), node, epoch.
constexpr std::string_view kLoad = R"(
redis.call('HSET', KEYS[5], ARGV[2], ARGV[3])
local snap = redis.call('HMGET', KEYS[1], 'seq', 'state', 'created', 'elements')
local s = tonumber(snap[1]) or 0
local from = math.max(1, s + 1 - tonumber(ARGV[1]))
return {tostring(s), snap[2] or '', snap[3] or '', snap[4] or '0',
        redis.call('XRANGE', KEYS[2], '0-' .. from, '+'), redis.call('HGETALL', KEYS[3]),
        redis.call('HGETALL', KEYS[4])})";
// After an outage, one step per room: the fence moves to the node's new epoch, the presence
// is made this node's again (its members that left meanwhile leave, the ones Redis forgot
// come back, a user now connected to another node stays there) and the reply is the seq, the
// stream from the first seq the node has not applied, and the members.
// KEYS: seq, log, members, fence, channel. ARGV: first seq wanted, node, epoch, then
// user, tag ("node|conn|"), username for each member on this node.
constexpr std::string_view kResume = R"(
redis.call('HSET', KEYS[4], ARGV[2], ARGV[3])
local mine = {}
for i = 4, #ARGV, 3 do mine[ARGV[i]] = ARGV[i + 1] .. ARGV[i + 2] end
local h = redis.call('HGETALL', KEYS[3])
local prefix = ARGV[2] .. '|'
for i = 1, #h, 2 do
  if string.sub(h[i + 1], 1, #prefix) == prefix and mine[h[i]] ~= h[i + 1] then
    redis.call('HDEL', KEYS[3], h[i])
    local tag = string.match(h[i + 1], '^([^|]*|[^|]*|)')
    redis.call('PUBLISH', KEYS[5], 'L|' .. tag .. #h[i] .. '|' .. h[i])
  end
end
for i = 4, #ARGV, 3 do
  if not redis.call('HGET', KEYS[3], ARGV[i]) then
    redis.call('HSET', KEYS[3], ARGV[i], mine[ARGV[i]])
    redis.call('PUBLISH', KEYS[5], 'J|' .. ARGV[i + 1] .. #ARGV[i] .. '|' .. ARGV[i] .. ARGV[i + 2])
  end
end
return {tostring(tonumber(redis.call('GET', KEYS[1])) or 0),
        redis.call('XRANGE', KEYS[2], '0-' .. ARGV[1], '+'), redis.call('HGETALL', KEYS[3])})";
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

// A reply that is not what was asked for, for a log line: Redis's error text, or its type.
inline std::string describe(const redisReply* r) {
    if (!r) return "no reply";
    if (r->type == REDIS_REPLY_ERROR) return std::string(r->str, r->len);
    return "unexpected reply of type " + std::to_string(r->type);
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

// The entries of an XRANGE reply ([id, [t, type, f, frame, n, append id]] each; entries
// written before the append id have no n), in order, as this cluster writes them; `fn(seq,
// type, frame, append_id)` returns false to stop. Entries of another shape are skipped.
template <typename Fn>
void for_each_entry(const redisReply* entries, Fn&& fn) {
    for (std::size_t i = 0; entries->type == REDIS_REPLY_ARRAY && i < entries->elements; ++i) {
        const redisReply* e = entries->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2) continue;
        const redisReply* f = e->element[1];
        if (f->type != REDIS_REPLY_ARRAY || f->elements < 4 || f->elements % 2) continue;
        std::string_view t, frame, append;
        bool has_frame = false;
        for (std::size_t k = 0; k + 1 < f->elements; k += 2) {
            const std::string_view name = str(f->element[k]);
            if (name == "t") t = str(f->element[k + 1]);
            if (name == "f") {
                frame = str(f->element[k + 1]);
                has_frame = true;
            }
            if (name == "n") append = str(f->element[k + 1]);
        }
        MsgType type{};
        if (!has_frame || !type_of(t, type)) continue;
        if (!fn(seq_of_id(str(e->element[0])), type, frame, append)) return;
    }
}

}  // namespace liveshare::cluster::wire
