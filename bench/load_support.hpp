// What every benchmark of the load family shares: the run configuration from the flags, one
// run against a started server (or --target), and how a run becomes counters, label and time.
#pragma once
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "clients/client.hpp"
#include "run/run_load.hpp"
#include "traffic/load_config.hpp"
#include "traffic/traffic_plan.hpp"

namespace bench {

using harness::LoadTestConfig;
using harness::LoadTestConfigBuilder;
using harness::LoadTestMetrics;
using harness::LoadTestResult;
using harness::Workload;
using ms = std::chrono::milliseconds;

ms secs(double s);
LoadTestConfigBuilder base_config(std::size_t users, Workload w);
std::string bench_db_path();
void remove_db(const std::string& db);
std::string server_binary();
std::vector<std::string> bench_server_args(std::size_t max_room_users, const std::string& db,
                                           const std::string& profile = "",
                                           const std::string& durability = "");
// The server's own /metrics into result (label says why when it cannot be read).
void scrape_metrics(const std::string& url, LoadTestResult& result, std::string& label);
// One load run against the --target, or against a fresh server process started for it.
// `extra` server flags come after the bench's own, so they override them.
LoadTestResult run_against_server(LoadTestConfigBuilder cfg, std::size_t max_room_users,
                                  std::string& label, const std::string& profile = "",
                                  const std::vector<std::string>& extra = {});
// A planned run (a scenario, a replay, the soak): its users, the sending phase to the plan's
// end after warmup_s, and the file's seed over --seed.
LoadTestConfigBuilder planned_config(std::shared_ptr<const harness::TrafficPlan> plan,
                                     double warmup_s, double drain_s, std::size_t messages_per_user,
                                     std::optional<std::uint64_t> seed);
// The most users a room of the plan ever holds (the started server's room limit).
std::size_t largest_room(const harness::TrafficPlan& plan);
// run_against_server, or the benchmark's error state ("could not start the server: ...") and
// nothing.
std::optional<LoadTestResult> run_or_fail(benchmark::State& st, LoadTestConfigBuilder cfg,
                                          std::size_t max_room_users, std::string& label,
                                          const std::vector<std::string>& extra = {});
void set_latency_counters(benchmark::UserCounters& c, const LoadTestMetrics& m);
void set_counters(benchmark::State& st, const LoadTestMetrics& m);
std::string describe(const LoadTestMetrics& m, std::string label);
// The run's p99 as the iteration time and its counters, or the error state with the reason.
void finish(benchmark::State& st, const LoadTestResult& r, const std::string& label);
// Reconnects, resumes, resyncs, replayed, resent and rollbacks of a run with faults.
void set_fault_counters(benchmark::UserCounters& c, const harness::UserMetrics& T);
// A load benchmark: one iteration, manual time, milliseconds.
benchmark::internal::Benchmark* load(benchmark::internal::Benchmark* b);
// load/capacity (bench/load_capacity.cpp).
void bm_capacity(benchmark::State& st);
// load_faults.cpp: network impairment, faults and durability (own_server: we start servers).
void register_fault_benchmarks(bool own_server);
// load_cluster.cpp: load/cluster/... and load/faults/node_kill (we start Redis and the nodes).
void register_cluster_benchmarks();
// load/tls/...: the proxy and TLS paths (bench/load_tls.cpp).
void register_tls_benchmarks();
// load_scenario.cpp: load/scenario/<name> (--scenario) and load/replay/... (--replay).
void register_scenario_benchmarks();
// load_soak.cpp: soak/users:200/minutes:M (one server for M minutes, judged on staying flat).
void register_soak_benchmarks();
// The netsim/faults table of the runs that ran (nothing when none did).
void print_netsim_report(std::FILE* out);

}  // namespace bench
