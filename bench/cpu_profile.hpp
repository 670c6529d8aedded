// --cpu_profile: call stacks of the server and/or the generator sampled over each load run's
// measured window (harness/procs/cpu_profiler.hpp), attributed per delivery to components
// (harness/measure/cpu_attribution.hpp) as counters, and kept with --cpu_profile_out.
#pragma once
#include <benchmark/benchmark.h>
#include <sys/types.h>

#include <memory>
#include <string>

#include "measure/load_metrics.hpp"
#include "traffic/load_config.hpp"

namespace bench {

// Adds the profilers to a run's config (nothing without --cpu_profile). server_pid: the
// server's process (0: none of ours, so the server is not profiled and the run says why).
void profile_run(harness::LoadTestConfigBuilder& b, pid_t server_pid);
// The last run's samples (or why there are none), taken out to be reported later (the
// capacity search reports its top passing step, not its last).
struct RunProfile;
std::shared_ptr<RunProfile> take_profile();
// A run's counters, per delivery by component (the last run's unless given); its files
// written under a provisional name. Returns a note for the label ("not profiled: ..."), or "".
std::string profile_counters(benchmark::UserCounters& c, const harness::LoadTestMetrics& m,
                             std::shared_ptr<RunProfile> p = take_profile());
// The reporter names the runs: the provisional files get the run's name.
void profile_reported(const std::string& name);

}  // namespace bench
