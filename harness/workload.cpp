#include "workload.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>

#include "protocol/uuid.hpp"

namespace harness {

using liveshare::GraphOp;
using liveshare::MsgType;
using liveshare::OpType;

namespace {
constexpr std::string_view kMarkerPrefix = "lsb:";

std::string marker_string(std::uint64_t seq, std::int64_t t, std::size_t pad_to) {
    std::string s(kMarkerPrefix);
    s += std::to_string(seq);
    s += ':';
    s += std::to_string(t);
    s += ':';
    if (s.size() < pad_to) s.append(pad_to - s.size(), 'x');
    return s;
}

std::optional<Marker> parse_marker_string(std::string_view s) {
    if (!s.starts_with(kMarkerPrefix)) return std::nullopt;
    s.remove_prefix(kMarkerPrefix.size());
    Marker m;
    auto r1 = std::from_chars(s.data(), s.data() + s.size(), m.seq);
    if (r1.ec != std::errc{} || r1.ptr == s.data() + s.size() || *r1.ptr != ':')
        return std::nullopt;
    auto r2 = std::from_chars(r1.ptr + 1, s.data() + s.size(), m.t_us);
    if (r2.ec != std::errc{}) return std::nullopt;
    return m;
}

std::optional<Marker> from_pair(liveshare::Vec2 p) {
    if (p.x < 0 || p.y < 0 || p.x != static_cast<double>(static_cast<std::uint64_t>(p.x)))
        return std::nullopt;
    return Marker{static_cast<std::uint64_t>(p.x), static_cast<std::int64_t>(p.y)};
}
}  // namespace

std::string make_uuid(std::mt19937_64& rng) {
    const std::uint64_t a = rng();
    return liveshare::format_uuid_v4(a, rng());
}

std::optional<Marker> extract_marker(const liveshare::ServerMessage& m) {
    switch (m.type) {
        case MsgType::GraphOp:
            switch (m.op.type) {
                case OpType::CreateTable:
                case OpType::MoveTable:
                    return from_pair(m.op.position);
                case OpType::AddColumn:
                case OpType::UpdateColumn:
                    if (m.op.column.default_value)
                        return parse_marker_string(*m.op.column.default_value);
                    return std::nullopt;
                default:
                    return std::nullopt;
            }
        case MsgType::CursorMove:
        case MsgType::TableDragStart:
        case MsgType::TableDragEnd:
        case MsgType::Awareness:
            if (!m.has_position) return std::nullopt;
            return from_pair(m.position);
        default:
            return std::nullopt;
    }
}

UserScript::UserScript(const LoadTestConfig& cfg, std::size_t index, std::string user_id,
                       liveshare::NodeId node_id, std::string table_uuid, std::uint64_t seed)
    : cfg_(cfg),
      index_(index),
      user_id_(std::move(user_id)),
      node_id_(node_id),
      table_uuid_(std::move(table_uuid)),
      rng_(seed) {
    end_us_ =
        std::chrono::duration_cast<std::chrono::microseconds>(cfg.warmup + cfg.duration).count();
    // Spread users over one interval so they do not all fire on the same tick.
    const auto interval_us =
        std::chrono::duration_cast<std::chrono::microseconds>(cfg.interval).count();
    std::uniform_int_distribution<std::int64_t> phase(0,
                                                      std::max<std::int64_t>(interval_us - 1, 0));
    next_op_ = phase(rng_);
    next_cursor_ = std::uniform_int_distribution<std::int64_t>(0, 19999)(rng_);
    next_drag_ = 500000 + std::uniform_int_distribution<std::int64_t>(0, 1999999)(rng_);
    next_idle_ = 5000000 + std::uniform_int_distribution<std::int64_t>(0, 9999999)(rng_);
    active_ = index % 2 == 0;
}

void UserScript::op_with_marker(GraphOp& op, std::uint64_t seq, std::int64_t t) const {
    op.node_id = node_id_;
    op.table_uuid = table_uuid_;
    switch (op.type) {
        case OpType::CreateTable:
        case OpType::MoveTable:
            op.position = {static_cast<double>(seq), static_cast<double>(t)};
            break;
        default: {
            op.column.name = "c0";
            op.column.data_type = "text";
            // Pad so the whole client frame comes out near payload_bytes.
            std::size_t overhead = 240;
            std::size_t pad = cfg_.payload_bytes > overhead ? cfg_.payload_bytes - overhead : 0;
            op.column.default_value = marker_string(seq, t, pad);
        }
    }
}

// The step of the user's op sequence: 0 creates the table, 1 adds its column; a returning
// user starts at 2 (both exist from its earlier run).
std::uint64_t UserScript::setup_step() const {
    return durable_seq_ + (cfg_.returning ? 2 : 0);
}

void UserScript::durable_op(Planned& out, std::int64_t t, GraphOp op) {
    const std::uint64_t seq = durable_seq_++;
    op_with_marker(op, seq, t);
    out.frame.clear();
    liveshare::encode_graph_op(out.frame, op);
    out.t_us = t;
    out.type = MsgType::GraphOp;
    out.durable = true;
    out.seq = seq;
}

bool UserScript::next(Planned& out) {
    if (cfg_.messages_per_user && count_ >= cfg_.messages_per_user) return false;
    bool ok = false;
    switch (cfg_.workload) {
        case Workload::Seed:
            ok = next_seed(out);
            break;
        case Workload::Editing:
            ok = next_editing(out);
            break;
        case Workload::CursorStorm:
            ok = next_cursor(out);
            break;
        case Workload::JoinStorm:
            ok = false;
            break;
        case Workload::Burst:
            ok = next_burst(out);
            break;
    }
    if (ok) ++count_;
    return ok;
}

// The original's: one ~512 B message per interval. The first two create the user's table and
// its column; every later one rewrites that column (UpdateColumn), so the state stays small.
bool UserScript::next_seed(Planned& out) {
    const std::int64_t t = next_op_;
    if (t >= end_us_) return false;
    next_op_ += std::chrono::duration_cast<std::chrono::microseconds>(cfg_.interval).count();
    GraphOp op;
    const std::uint64_t k = setup_step();
    op.type = k == 0 ? OpType::CreateTable : k == 1 ? OpType::AddColumn : OpType::UpdateColumn;
    if (op.type == OpType::CreateTable) op.name = "t_" + user_id_.substr(0, 8);
    durable_op(out, t, std::move(op));
    return true;
}

// The client mix of docs/protocol.md: half the users move the mouse (Awareness with a cursor at
// 50 Hz, in 2 s bursts with 1 s pauses), every user edits 1-5 graph ops per second (mostly
// MoveTable, every fourth an UpdateColumn), drags a table every 1-3 s, and changes idle state
// every 5-15 s.
bool UserScript::next_editing(Planned& out) {
    std::int64_t t =
        std::min({next_op_, active_ ? next_cursor_ : INT64_MAX, next_drag_, next_idle_});
    if (t >= end_us_) return false;
    out.frame.clear();
    out.t_us = t;
    if (t == next_op_) {
        next_op_ += std::uniform_int_distribution<std::int64_t>(200000, 1000000)(rng_);
        GraphOp op;
        const std::uint64_t k = setup_step();
        op.type = k == 0       ? OpType::CreateTable
                  : k == 1     ? OpType::AddColumn
                  : k % 4 == 0 ? OpType::UpdateColumn
                               : OpType::MoveTable;
        if (op.type == OpType::CreateTable) op.name = "t_" + user_id_.substr(0, 8);
        durable_op(out, t, std::move(op));
        return true;
    }
    out.durable = false;
    out.seq = volatile_seq_++;
    const liveshare::Vec2 mark{static_cast<double>(out.seq), static_cast<double>(t)};
    if (active_ && t == next_cursor_) {
        next_cursor_ += 20000;
        if ((next_cursor_ / 1000) % 3000 >= 2000) next_cursor_ += 1000000;  // pause 1 s in 3
        liveshare::encode_awareness(out.frame, "user-" + std::to_string(index_), mark, true);
        out.type = MsgType::Awareness;
    } else if (t == next_drag_) {
        next_drag_ += std::uniform_int_distribution<std::int64_t>(1000000, 3000000)(rng_);
        liveshare::encode_drag(out.frame, true, node_id_, mark);
        out.type = MsgType::TableDragStart;
    } else {
        next_idle_ += std::uniform_int_distribution<std::int64_t>(5000000, 15000000)(rng_);
        liveshare::encode_idle_status(out.frame, (out.seq & 1) == 0);
        out.type = MsgType::IdleStatus;
    }
    return true;
}

// The auto-layout: the table is created, then every burst_every a burst of MoveTable ops
// with one intended time (the client sends them at once).
bool UserScript::next_burst(Planned& out) {
    if (durable_seq_ == 0) {
        if (next_op_ >= end_us_) return false;
        GraphOp op;
        op.type = OpType::CreateTable;
        op.name = "t_" + user_id_.substr(0, 8);
        durable_op(out, next_op_, std::move(op));
        next_op_ += 500000;  // the first burst half a second later
        burst_left_ = cfg_.burst_size;
        return true;
    }
    if (burst_left_ == 0) {
        next_op_ += std::chrono::duration_cast<std::chrono::microseconds>(cfg_.burst_every).count();
        burst_left_ = cfg_.burst_size;
    }
    if (next_op_ >= end_us_ || burst_left_ == 0) return false;
    --burst_left_;
    GraphOp op;
    op.type = OpType::MoveTable;
    durable_op(out, next_op_, std::move(op));
    return true;
}

// Every user moves its cursor at 50 Hz.
bool UserScript::next_cursor(Planned& out) {
    const std::int64_t t = next_cursor_;
    if (t >= end_us_) return false;
    next_cursor_ += 20000;
    out.frame.clear();
    out.t_us = t;
    out.durable = false;
    out.seq = volatile_seq_++;
    liveshare::encode_cursor_move(out.frame,
                                  {static_cast<double>(out.seq), static_cast<double>(t)});
    out.type = MsgType::CursorMove;
    return true;
}

const char* to_string(Workload w) {
    switch (w) {
        case Workload::Seed:
            return "seed";
        case Workload::Editing:
            return "editing";
        case Workload::CursorStorm:
            return "cursor_storm";
        case Workload::JoinStorm:
            return "join_storm";
        case Workload::Burst:
            return "burst";
    }
    return "?";
}

bool workload_from(const std::string& s, Workload& out) {
    for (Workload w : {Workload::Seed, Workload::Editing, Workload::CursorStorm,
                       Workload::JoinStorm, Workload::Burst})
        if (s == to_string(w)) {
            out = w;
            return true;
        }
    return false;
}

}  // namespace harness
