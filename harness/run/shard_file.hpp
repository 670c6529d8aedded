// One shard's share of a sharded run, written for scripts/merge-shards: per user its index,
// room and durable counts, the latency histograms as bucket counts (mergeable: the merged
// percentiles are exactly those of the union of every shard's deliveries), and the run's time
// series with each interval's histogram (when the run records one: --interval_ms).
#pragma once
#include <map>
#include <string>

#include "run/run_load.hpp"
#include "traffic/load_config.hpp"

namespace harness {

// The document (liveshare-shard/3), as the file holds it and a coordinated shard streams it
// (without its intervals there: they were streamed one by one).
std::string shard_json(const std::string& benchmark, const LoadTestConfig& cfg,
                       const LoadTestResult& r,
                       const std::map<std::string, std::string>& context = {},
                       bool with_intervals = true);

// Throws std::runtime_error when the file cannot be written.
// `context`: how it was made (git sha, build flags, machine class, command), written as is.
void write_shard_file(const std::string& path, const std::string& benchmark,
                      const LoadTestConfig& cfg, const LoadTestResult& r,
                      const std::map<std::string, std::string>& context = {});

}  // namespace harness
