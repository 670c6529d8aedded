// Replaying a trace recorded by liveshare-server --record (docs/scenarios.md has its format):
// its users (one per recorded session), rooms, join and leave times and messages, each sent
// again with the recorded type, graph op and size and with the harness's markers. Scale clones
// every room N times with fresh identities; speed compresses time.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "traffic/traffic_plan.hpp"

namespace harness {

struct TraceError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct TraceMessage {
    std::int64_t t_us = 0;
    liveshare::MsgType type = liveshare::MsgType::Ping;
    std::optional<liveshare::OpType> op;
    std::size_t bytes = 0;
};

struct TraceUser {
    std::string room, user;  // the trace's hashes
    std::int64_t join_us = 0, leave_us = kNever;
    std::vector<TraceMessage> messages;
};

struct Trace {
    std::vector<TraceUser> users;  // one per session (a user who came back twice is two)
    std::vector<std::string> rooms;
    std::int64_t first_msg_us = kNever;  // the first message
    std::int64_t end_us = 0;             // the last message
    std::uint64_t dropped = 0;           // records the server dropped (its buffer was full)
    std::uint64_t skipped = 0;           // messages of types a replay does not send (Auth, Ping...)
    std::size_t messages() const {       // the ones a replay sends
        std::size_t n = 0;
        for (const auto& u : users) n += u.messages.size();
        return n;
    }
};

// Reads a trace (and FILE.1 before it when rotation left one is not read: one file). Throws
// TraceError naming the line at fault.
Trace load_trace(const std::string& path);

struct ReplayOptions {
    unsigned scale = 1;  // every room N times
    double speed = 1;    // time runs this many times faster
};

std::shared_ptr<const TrafficPlan> make_replay_plan(const Trace& t, const ReplayOptions& o,
                                                    const std::string& name);

}  // namespace harness
