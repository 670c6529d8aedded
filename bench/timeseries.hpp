// --timeseries_out: every load run as a time series (harness::SeriesPoint per interval, and the
// run's events), one JSON document with the bench's provenance and an entry per benchmark run:
//   {"context": {...}, "interval_ms": N,
//    "runs": [{"name": "load/users:10", "repetition": 0, "error": false, "lost": 0,
//              "intervals": [{"t_s", "p50_ms", "p90_ms", "p99_ms", "max_ms", "sent", "durable",
//                             "volatile", "durable_so_far", "errors", "disconnects", "reconnects",
//                             "resumes", "server_cpu_pct", "server_rss_mb", "generator_cpu_pct",
//                             "users" (planned runs: in the rooms at the interval's end)}, ...],
//              "events": [{"t_s", "what"}, ...],
//              "phases": [{"name", "start_s", "end_s", "users_from", "users_to", "rate",
//                          "deliveries", "p50_ms", "p90_ms", "p99_ms", "max_ms"}, ...]
//                        (planned runs only: a scenario's or a replay's phases),
//              "latency_us": {"count", "min", "max", "buckets": [[index, count, highest], ...]}
//                        (the run's whole latency histogram, durable deliveries from the
//                        intended send time, what arrived; harness::histogram_json)}, ...]}
// A figure an interval did not measure is left out of it (no deliveries: no percentiles; a
// --target: no server figures). The percentiles are of what arrived: messages that never did
// are the run's "lost" (in its totals they make the percentiles infinite).
#pragma once
#include <string>
#include <vector>

#include "measure/criteria.hpp"
#include "measure/load_metrics.hpp"

namespace bench {

// The series of the load run just measured (set_counters calls it).
void timeseries_measured(const harness::LoadTestMetrics& m);
// One step of a capacity search (`name`/step/users:N), kept with its outcome as "step":
// {"users", "passed", "p99_ms", "delivery_pct", "deliveries_per_s", "users_joined",
//  "generator_saturated", "machine_saturated", "server_cpu_pct"}.
void timeseries_step(const std::string& name, std::size_t users, const harness::LoadTestMetrics& m,
                     bool passed);
// The benchmark that reported (the summary's reporter calls it with the error flag of each
// repetition): the series measured since the last call belong to `name`, one per repetition
// in order; when their numbers differ (a repetition failed before it measured) the series are
// kept with repetition -1 (not attributable).
void timeseries_reported(const std::string& name, const std::vector<bool>& errors);
// Writes the document to options().timeseries_out; false (said on stderr) when it cannot.
// `criteria`: the seed criteria of this run (empty when it had no seed run), with whether
// each gates (--criteria_report_only); the report shows them as the console does.
bool write_timeseries(const std::vector<harness::CriterionResult>& criteria);

}  // namespace bench
