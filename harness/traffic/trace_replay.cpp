#include "traffic/trace_replay.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <map>

namespace harness {

using liveshare::MsgType;
using liveshare::OpType;

namespace {

// The value of "key" in one flat JSON object of the trace (strings without escapes, integers).
std::optional<std::string_view> field(std::string_view line, std::string_view key) {
    std::string pat = "\"";
    pat += key;
    pat += "\":";
    const auto at = line.find(pat);
    if (at == std::string_view::npos) return std::nullopt;
    std::string_view v = line.substr(at + pat.size());
    if (v.starts_with('"')) {
        const auto end = v.find('"', 1);
        if (end == std::string_view::npos) return std::nullopt;
        return v.substr(1, end - 1);
    }
    const auto end = v.find_first_of(",}");
    return v.substr(0, end);
}

std::int64_t integer(std::string_view line, std::string_view key, std::size_t lineno,
                     const std::string& path) {
    const auto v = field(line, key);
    std::int64_t n = 0;
    if (!v || std::from_chars(v->data(), v->data() + v->size(), n).ec != std::errc{} || n < 0)
        throw TraceError(path + ":" + std::to_string(lineno) + ": field \"" + std::string(key) +
                         "\": missing or not a whole number");
    return n;
}

std::string text(std::string_view line, std::string_view key, std::size_t lineno,
                 const std::string& path) {
    const auto v = field(line, key);
    if (!v || v->empty())
        throw TraceError(path + ":" + std::to_string(lineno) + ": field \"" + std::string(key) +
                         "\": missing");
    return std::string(*v);
}

bool replayable(MsgType t) {
    return t == MsgType::GraphOp || t == MsgType::Awareness || t == MsgType::CursorMove ||
           t == MsgType::TableDragStart || t == MsgType::IdleStatus;
}

}  // namespace

Trace load_trace(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw TraceError(path + ": cannot read the trace");
    Trace tr;
    std::map<std::pair<std::string, std::string>, std::size_t> open;  // (room, user) -> session
    std::map<std::string, std::size_t> room_index;
    auto session = [&](const std::string& room, const std::string& user, std::int64_t join) {
        auto [it, fresh] = open.try_emplace({room, user}, tr.users.size());
        if (fresh) {
            tr.users.push_back({room, user, join, kNever, {}});
            if (room_index.emplace(room, tr.rooms.size()).second) tr.rooms.push_back(room);
        }
        return it->second;
    };
    std::string line;
    std::size_t lineno = 0;
    bool header = false;
    while (std::getline(in, line)) {
        ++lineno;
        if (line.empty()) continue;
        if (!header) {
            if (line.find("\"liveshare_trace\":1") == std::string::npos)
                throw TraceError(path +
                                 ":1: not a liveshare trace (no {\"liveshare_trace\":1,...} "
                                 "first line)");
            header = true;
            continue;
        }
        const std::string ev = text(line, "ev", lineno, path);
        if (ev == "dropped" || ev == "end") {
            if (ev == "dropped")
                tr.dropped += static_cast<std::uint64_t>(integer(line, "count", lineno, path));
            continue;
        }
        const std::int64_t t = integer(line, "t", lineno, path);
        const std::string room = text(line, "room", lineno, path),
                          user = text(line, "user", lineno, path);
        if (ev == "join") {
            // A second join of the same user without a leave replaces the first connection.
            if (auto it = open.find({room, user}); it != open.end()) {
                tr.users[it->second].leave_us = t;
                open.erase(it);
            }
            session(room, user, t);
        } else if (ev == "leave") {
            if (auto it = open.find({room, user}); it != open.end()) {
                tr.users[it->second].leave_us = t;
                open.erase(it);
            }
        } else if (ev == "msg") {
            const auto type = liveshare::msg_type_from(text(line, "type", lineno, path));
            if (!type)
                throw TraceError(path + ":" + std::to_string(lineno) +
                                 ": field \"type\": not a message type");
            if (!replayable(*type)) {
                ++tr.skipped;
                continue;
            }
            TraceMessage m{t, *type, std::nullopt,
                           static_cast<std::size_t>(integer(line, "bytes", lineno, path))};
            if (*type == MsgType::GraphOp) {
                if (auto op = field(line, "op")) m.op = liveshare::op_type_from(*op);
            }
            // Present before the recording began: from the start.
            tr.users[session(room, user, 0)].messages.push_back(m);
            tr.first_msg_us = std::min(tr.first_msg_us, t);
            tr.end_us = std::max(tr.end_us, t);
        } else {
            throw TraceError(path + ":" + std::to_string(lineno) + ": field \"ev\": '" + ev +
                             "' is not join, leave, msg, dropped or end");
        }
    }
    if (!header) throw TraceError(path + ": empty, not a trace");
    return tr;
}

namespace {

// One recorded session's messages, sent again at their (compressed) times.
class ReplayScript : public Script {
  public:
    ReplayScript(const TraceUser& u, double speed, std::int64_t origin, MessageMaker make)
        : u_(u), speed_(speed), origin_(origin), make_(std::move(make)) {}
    bool next(Planned& out) override {
        if (i_ >= u_.messages.size()) return false;
        const TraceMessage& m = u_.messages[i_++];
        const std::int64_t t = std::llround(static_cast<double>(m.t_us - origin_) / speed_);
        switch (m.type) {
            case MsgType::GraphOp: {
                // The user's own table first; then the recorded ops that carry a marker, and
                // any other as an UpdateColumn of the recorded size.
                OpType op = m.op.value_or(OpType::UpdateColumn);
                if (op != OpType::MoveTable && op != OpType::AddColumn && op != OpType::CreateTable)
                    op = OpType::UpdateColumn;
                if (durable_seq_ == 0) op = OpType::CreateTable;
                if (durable_seq_ == 1) op = OpType::AddColumn;
                make_.graph_op(out, t, op, durable_seq_++, m.bytes, true);
                return true;
            }
            case MsgType::Awareness:
                make_.awareness(out, t, volatile_seq_++, m.bytes);
                return true;
            case MsgType::CursorMove:
                make_.cursor(out, t, volatile_seq_++);
                return true;
            case MsgType::TableDragStart:
                make_.drag(out, t, volatile_seq_++);
                return true;
            default:
                make_.idle(out, t, volatile_seq_++);
                return true;
        }
    }

  private:
    const TraceUser& u_;
    double speed_;
    std::int64_t origin_;
    MessageMaker make_;
    std::size_t i_ = 0;
    std::uint64_t durable_seq_ = 0, volatile_seq_ = 0;
};

class ReplayPlan : public TrafficPlan {
  public:
    ReplayPlan(Trace t, ReplayOptions o) : trace(std::move(t)), opt(o) {}
    std::unique_ptr<Script> script(std::size_t index, std::string user_id,
                                   liveshare::NodeId node_id, std::string table_uuid,
                                   std::uint64_t) const override {
        return std::make_unique<ReplayScript>(
            trace.users[index % trace.users.size()], opt.speed, origin,
            MessageMaker(index, std::move(user_id), node_id, std::move(table_uuid)));
    }
    Trace trace;
    ReplayOptions opt;
    std::int64_t origin = 0;  // the trace's first record: the replay's time 0
};

}  // namespace

std::shared_ptr<const TrafficPlan> make_replay_plan(const Trace& t, const ReplayOptions& o,
                                                    const std::string& name) {
    if (t.users.empty()) throw TraceError(name + ": the trace has no user with a session");
    if (o.scale < 1 || !(o.speed > 0)) throw TraceError("replay scale >= 1 and speed > 0");
    auto plan = std::make_shared<ReplayPlan>(t, o);
    plan->name = name;
    // Time 0 is the first message. Who joined before it joins in the run's join phase, with
    // everyone; who joined later joins at its (compressed) time. A leave after the last
    // message is no leave: the run ends then.
    plan->origin = t.first_msg_us == kNever ? 0 : t.first_msg_us;
    const std::int64_t last = t.end_us;
    auto at = [&](std::int64_t us) {
        return std::max<std::int64_t>(
            0, std::llround(static_cast<double>(us - plan->origin) / o.speed));
    };
    std::map<std::string, std::size_t> room_of;
    for (std::size_t r = 0; r < t.rooms.size(); ++r) room_of[t.rooms[r]] = r;
    // Clone k of user u is user k * U + u, in room k * R + its room.
    for (unsigned k = 0; k < o.scale; ++k)
        for (const auto& u : t.users) {
            UserPlan p;
            p.join_us = u.join_us <= plan->origin ? 0 : at(u.join_us);
            p.leave_us = u.leave_us > last ? kNever : std::max(p.join_us + 1, at(u.leave_us));
            p.room = k * t.rooms.size() + room_of[u.room];
            plan->users.push_back(p);
        }
    plan->rooms = t.rooms.size() * o.scale;
    plan->end_us = at(t.end_us) + 1;
    plan->phases.push_back(
        {"replay", 0, plan->end_us, t.users.size() * o.scale, t.users.size() * o.scale, o.speed});
    plan->phase_slots = 1;
    return plan;
}

}  // namespace harness
