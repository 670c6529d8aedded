// --cpu_profile: call stacks of the server and/or the generator sampled over each load run's
// measured window (harness/procs/cpu_profiler.hpp), attributed per delivery to components
// (harness/measure/cpu_attribution.hpp) as counters, and kept with --cpu_profile_out.
#pragma once
#include <benchmark/benchmark.h>
#include <sys/types.h>

#include <string>

#include "measure/load_metrics.hpp"
#include "traffic/load_config.hpp"

namespace bench {

// Adds the profilers to a run's config (nothing without --cpu_profile). server_pid: the
// server's process (0: none of ours, so the server is not profiled and the run says why).
void profile_run(harness::LoadTestConfigBuilder& b, pid_t server_pid);
// The last profiled run's counters, per delivery by component; its files written under a
// provisional name. Returns a note for the label ("not profiled: ..."), or "".
std::string profile_counters(benchmark::UserCounters& c, const harness::LoadTestMetrics& m);
// The reporter names the runs: the provisional files get the run's name.
void profile_reported(const std::string& name);

}  // namespace bench
