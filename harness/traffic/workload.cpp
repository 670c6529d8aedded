#include "traffic/workload.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>

#include "protocol/uuid.hpp"
#include "traffic/load_config.hpp"
#include "traffic/traffic_plan.hpp"

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

void MessageMaker::column_op(GraphOp& op, std::uint64_t seq, std::int64_t t,
                             std::size_t pad) const {
    op.column.name = "c0";
    op.column.data_type = "text";
    op.column.default_value = marker_string(seq, t, pad);
}

void MessageMaker::graph_op(Planned& out, std::int64_t t, OpType type, std::uint64_t seq,
                            std::size_t pad_to, bool exact) const {
    GraphOp op;
    op.type = type;
    op.node_id = node_id_;
    op.table_uuid = table_uuid_;
    if (type == OpType::CreateTable) op.name = "t_" + user_id_.substr(0, 8);
    out.frame.clear();
    if (type == OpType::CreateTable || type == OpType::MoveTable) {
        op.position = {static_cast<double>(seq), static_cast<double>(t)};
    } else if (exact) {
        column_op(op, seq, t, 0);
        liveshare::encode_graph_op(out.frame, op);
        const std::size_t plain = op.column.default_value->size();
        if (pad_to > out.frame.size()) {
            column_op(op, seq, t, plain + (pad_to - out.frame.size()));
            out.frame.clear();
        }
    } else {
        // Pad so the whole client frame comes out near pad_to.
        constexpr std::size_t overhead = 240;
        column_op(op, seq, t, pad_to > overhead ? pad_to - overhead : 0);
    }
    if (out.frame.empty()) liveshare::encode_graph_op(out.frame, op);
    out.t_us = t;
    out.type = MsgType::GraphOp;
    out.durable = true;
    out.seq = seq;
}

namespace {
void volatile_out(Planned& out, std::int64_t t, std::uint64_t seq, MsgType type) {
    out.t_us = t;
    out.type = type;
    out.durable = false;
    out.seq = seq;
}
liveshare::Vec2 mark_of(std::uint64_t seq, std::int64_t t) {
    return {static_cast<double>(seq), static_cast<double>(t)};
}
}  // namespace

void MessageMaker::awareness(Planned& out, std::int64_t t, std::uint64_t seq,
                             std::size_t bytes) const {
    std::string name = "user-" + std::to_string(index_);
    out.frame.clear();
    liveshare::encode_awareness(out.frame, name, mark_of(seq, t), true);
    if (bytes > out.frame.size()) {
        name.append(bytes - out.frame.size(), 'x');
        out.frame.clear();
        liveshare::encode_awareness(out.frame, name, mark_of(seq, t), true);
    }
    volatile_out(out, t, seq, MsgType::Awareness);
}

void MessageMaker::drag(Planned& out, std::int64_t t, std::uint64_t seq) const {
    out.frame.clear();
    liveshare::encode_drag(out.frame, true, node_id_, mark_of(seq, t));
    volatile_out(out, t, seq, MsgType::TableDragStart);
}

void MessageMaker::idle(Planned& out, std::int64_t t, std::uint64_t seq) const {
    out.frame.clear();
    liveshare::encode_idle_status(out.frame, (seq & 1) == 0);
    volatile_out(out, t, seq, MsgType::IdleStatus);
}

void MessageMaker::cursor(Planned& out, std::int64_t t, std::uint64_t seq) const {
    out.frame.clear();
    liveshare::encode_cursor_move(out.frame, mark_of(seq, t));
    volatile_out(out, t, seq, MsgType::CursorMove);
}

// The one uniform draw every script uses, so that a scenario file and a compiled workload with
// the same ranges draw the same numbers.
std::int64_t draw_uniform(std::mt19937_64& rng, std::int64_t lo, std::int64_t hi) {
    return std::uniform_int_distribution<std::int64_t>(lo, std::max(lo, hi - 1))(rng);
}

// Each user draws the first time of each of its streams, in the order the workload lists
// them (graph ops, cursor, drags, idle state), and only of the streams it has.
UserScript::UserScript(const LoadTestConfig& cfg, std::size_t index, std::string user_id,
                       liveshare::NodeId node_id, std::string table_uuid, std::uint64_t seed)
    : cfg_(cfg),
      index_(index),
      make_(index, std::move(user_id), node_id, std::move(table_uuid)),
      rng_(seed) {
    end_us_ =
        std::chrono::duration_cast<std::chrono::microseconds>(cfg.warmup + cfg.duration).count();
    active_ = cfg.workload == Workload::CursorStorm ||
              (cfg.workload == Workload::Editing && index % 2 == 0);
    // Spread users over one interval so they do not all fire on the same tick.
    const auto interval_us =
        std::chrono::duration_cast<std::chrono::microseconds>(cfg.interval).count();
    if (cfg.workload != Workload::CursorStorm) next_op_ = draw_uniform(rng_, 0, interval_us);
    if (active_) next_cursor_ = draw_uniform(rng_, 0, 20000);
    if (cfg.workload == Workload::Editing) {
        next_drag_ = draw_uniform(rng_, 500000, 2500000);
        next_idle_ = draw_uniform(rng_, 5000000, 15000000);
    }
}

void UserScript::durable_op(Planned& out, std::int64_t t, OpType type) {
    make_.graph_op(out, t, type, durable_seq_++, cfg_.payload_bytes);
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
    const std::uint64_t k = durable_seq_;  // 0 creates the table, 1 adds its column
    durable_op(out, t,
               k == 0   ? OpType::CreateTable
               : k == 1 ? OpType::AddColumn
                        : OpType::UpdateColumn);
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
    if (t == next_op_) {
        next_op_ += draw_uniform(rng_, 200000, 1000000);
        const std::uint64_t k = durable_seq_;  // 0 creates the table, 1 adds its column
        durable_op(out, t,
                   k == 0       ? OpType::CreateTable
                   : k == 1     ? OpType::AddColumn
                   : k % 4 == 0 ? OpType::UpdateColumn
                                : OpType::MoveTable);
        return true;
    }
    const std::uint64_t seq = volatile_seq_++;
    if (active_ && t == next_cursor_) {
        next_cursor_ += 20000;
        if ((next_cursor_ / 1000) % 3000 >= 2000) next_cursor_ += 1000000;  // pause 1 s in 3
        make_.awareness(out, t, seq);
    } else if (t == next_drag_) {
        next_drag_ += draw_uniform(rng_, 1000000, 3000000);
        make_.drag(out, t, seq);
    } else {
        next_idle_ += draw_uniform(rng_, 5000000, 15000000);
        make_.idle(out, t, seq);
    }
    return true;
}

// The auto-layout: the table is created, then every burst_every a burst of MoveTable ops
// with one intended time (the client sends them at once).
bool UserScript::next_burst(Planned& out) {
    if (durable_seq_ == 0) {
        if (next_op_ >= end_us_) return false;
        durable_op(out, next_op_, OpType::CreateTable);
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
    durable_op(out, next_op_, OpType::MoveTable);
    return true;
}

// Every user moves its cursor at 50 Hz.
bool UserScript::next_cursor(Planned& out) {
    const std::int64_t t = next_cursor_;
    if (t >= end_us_) return false;
    next_cursor_ += 20000;
    make_.cursor(out, t, volatile_seq_++);
    return true;
}

std::unique_ptr<Script> make_script(const LoadTestConfig& cfg, std::size_t index,
                                    std::string user_id, liveshare::NodeId node_id,
                                    std::string table_uuid) {
    const std::uint64_t seed = cfg.seed * 1000003 + index;
    if (cfg.plan)
        return cfg.plan->script(index, std::move(user_id), node_id, std::move(table_uuid), seed);
    return std::make_unique<UserScript>(cfg, index, std::move(user_id), node_id,
                                        std::move(table_uuid), seed);
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
