// What a planned run (a scenario or a replay, LoadTestConfig::plan) adds to a load run: the
// size of the send-time table, what each user that comes and goes is owed, and the phases'
// results.
#pragma once
#include <cstddef>
#include <cstdint>

#include "measure/load_metrics.hpp"
#include "traffic/load_config.hpp"
#include "traffic/traffic_plan.hpp"
#include "users/sim_user.hpp"

namespace harness {

// What the others in u's room sent while u was there (its window), from sent_at.
std::uint64_t windowed_owed(const Shared& sh, const SimUser& u);
// Per phase the latency of what was sent in it and the users it began and ended with; with a
// time series, a "phase NAME" event where each begins.
void add_phase_results(const TrafficPlan& plan, bool series, LoadTestMetrics& M);

}  // namespace harness
