// Traffic as data: a run whose users come and go. A scenario file (scenario.hpp) or a
// recorded trace (trace_replay.hpp) becomes a TrafficPlan: for each user, its room, when it
// joins and leaves, and its script; phases name stretches of the run for the time series.
#pragma once
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "traffic/workload.hpp"

namespace harness {

inline constexpr std::int64_t kNever = std::numeric_limits<std::int64_t>::max();

struct UserPlan {
    std::int64_t join_us = 0;        // after the schedule's epoch; 0: joins before it, with all
    std::int64_t leave_us = kNever;  // closes its connection then; kNever: stays to the end
    std::size_t room = 0;
    std::size_t cls = 0;  // the scenario's user class (or the trace's user, for a replay)
    // A returning user: the earlier user whose table it edits (that user's seat in the room,
    // taken again; its own setup is skipped). SIZE_MAX: it makes its own.
    std::size_t owner = static_cast<std::size_t>(-1);
    bool returning() const { return owner != static_cast<std::size_t>(-1); }
};

struct PhaseSpan {
    std::string name;
    std::int64_t start_us = 0, end_us = 0;
    std::size_t users_from = 0, users_to = 0;
    double rate = 1;       // message rates times this
    std::size_t slot = 0;  // phases of one name (a repeated cycle) share a slot: 0, 1, ...
};

class TrafficPlan {
  public:
    virtual ~TrafficPlan() = default;
    std::string name;
    std::vector<UserPlan> users;
    std::size_t rooms = 1;
    std::vector<PhaseSpan> phases;  // in time order
    std::size_t phase_slots = 0;    // distinct phase names
    std::int64_t end_us = 0;        // the last message is planned before this
    // A delivery counts for a leaving user when it was sent at least this long before the
    // user left (what is sent in its last moments may reach it or not).
    std::int64_t leave_grace_us = 1000000;
    // The shortest planned gap between one user's messages: the generator's lag limit.
    std::int64_t min_interval_us = 20000;
    // The script of user `index` (identities from the run).
    virtual std::unique_ptr<Script> script(std::size_t index, std::string user_id,
                                           liveshare::NodeId node_id, std::string table_uuid,
                                           std::uint64_t seed) const = 0;
    // True when some user joins after the start or leaves before the end.
    bool windowed() const {
        for (const auto& u : users)
            if (u.join_us > 0 || u.leave_us != kNever) return true;
        return false;
    }
};

}  // namespace harness
