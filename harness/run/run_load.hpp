// A load run: its entry point and its result. The run's phases (connect, join, send, drain,
// check convergence, collect) are in run_load.cpp; what a run does is traffic/load_config.hpp.
#pragma once
#include <sys/types.h>

#include <cstddef>
#include <vector>

#include "measure/load_metrics.hpp"
#include "traffic/load_config.hpp"

namespace harness {

struct LoadTestResult {
    LoadTestMetrics metrics;
    std::vector<UserMetrics> per_user;
    // Beside per_user: each user's global index and room (a shard runs some of the users).
    struct Slot {
        std::size_t index = 0, room = 0;
    };
    std::vector<Slot> user_slots;
    // Why the sending phase never began (a coordinated start that failed); empty otherwise.
    std::string start_error;
    // The first message this process sent, Unix µs: by its own wall clock, and that reading
    // corrected to the reference clock (its offset and any injected skew). 0: none sent.
    // And when it was due: µs after the common start.
    std::int64_t first_send_wall_us = 0, first_send_ref_us = 0, first_send_planned_us = 0;
};

// Runs one load test against cfg.target. When server_pid > 0 its CPU and RSS are sampled.
LoadTestResult run_load_test(const LoadTestConfig& cfg, pid_t server_pid = -1);

}  // namespace harness
