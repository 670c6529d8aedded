// The bench binary's own flags (Google Benchmark's --benchmark_* flags pass through).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "clients/tls.hpp"
#include "traffic/scenario.hpp"
#include "traffic/trace_replay.hpp"

namespace bench {

struct Options {
    std::string target;       // ws:// or wss://HOST:PORT of a running server; empty: start one
    harness::TlsOptions tls;  // --tls_ca, --tls_insecure, --tls_version
    std::vector<std::string> rooms;         // with --target: rooms that exist there (else created)
    std::string rest_header;                // added to the REST room creation ("Name: value")
    std::vector<std::string> ws_headers;    // added to every WebSocket upgrade ("Name: value")
    std::string room_password;              // rooms are created with it; users send it in Auth
    std::string server_binary;              // default: found next to this binary
    std::vector<std::string> server_flags;  // extra flags for the server we start
    std::vector<std::size_t> users = {10, 50, 100};
    std::size_t room_size = 0;  // 0: all users of a run in one room
    double warmup_s = 1, duration_s = 5, drain_s = 3;
    unsigned server_threads = 1, generator_threads = 1;
    double slo_p99_ms = 200;  // load/capacity
    std::size_t capacity_room_size = 50, capacity_max_users = 800;
    int capacity_bisect_steps = 3;  // steps of bisection after the doubling
    std::size_t join_storm_users = 100;
    double soak_minutes = 60;  // soak/users:N/minutes:M
    std::string soak_file;     // its scenario; empty: scenarios/soak.yaml of the source tree
    std::string redis_persistence = "everysec";  // load/cluster's Redis: none|everysec|always
    // CPU profiles over each load run's window (perf): none, server, generator or both; kept
    // in cpu_profile_out when given. target_pid: the --target's process on this machine.
    std::string cpu_profile = "none", cpu_profile_out;
    std::int64_t target_pid = 0;
    bool criteria_exit = false;  // a FAIL in the criteria table fails the process
    std::vector<std::size_t> criteria_report_only;  // user counts judged and shown, not gating
    bool progress = true;
    bool reports_to_stderr = false;  // stdout carries JSON/CSV: keep it machine-readable
    std::uint64_t seed = 42;
    std::vector<std::string> profiles;  // load/users:N/profile:P for each (server --profile=P)
    bool client_batch = true, client_deflate = false;
    std::size_t netsim_users = 20;      // load/netsim... and load/faults/...
    double netsim_jitter_ms = 0;        // added to every load/netsim latency
    bool loss_model = false;            // model packet loss in the proxy even as root
    std::int64_t fixed_iterations = 0;  // micro benchmarks: exact iterations (instruction counts)
    // Sharded generation: this process is shard `shard_index` of `shard_count`, all shards'
    // schedules start at shard_start_unix_ms, and each load/users:N run writes its share to
    // shard_out/users-N.shard-I-of-K.json for scripts/merge-shards.
    unsigned shard_index = 0, shard_count = 1;
    std::int64_t shard_start_unix_ms = 0;
    std::string shard_out;
    // Time series: every load run's intervals, written to this file (one JSON document).
    std::string timeseries_out;
    unsigned interval_ms = 1000;
    bool shard_fixed = false;  // --shard was given (a coordinated run: the index is named)
    // A coordinated run (harness/run/coordinator.hpp): the shards register with this Redis,
    // start together and stream their intervals and shares for scripts/collect.
    std::string coordinator, run_id;
    unsigned coordinated_shards = 0;
    unsigned coordinator_timeout_s = 120, coordinator_lead_ms = 1000, coordinator_keep_s = 3600;
    std::string clock_ref;         // LoadTestConfig::clock_ref
    double clock_skew_ms = 0;      // LoadTestConfig::clock_skew_us, in ms
    unsigned validate_every = 64;  // harness::LoadTestConfig::validate_every
    // Traffic as data: load/scenario/<name> for each scenario file, load/replay/... for a trace.
    std::vector<harness::Scenario> scenarios;
    std::string replay;  // a trace recorded by liveshare-server --record
    std::shared_ptr<const harness::Trace> replay_trace;  // read once, at startup
    harness::ReplayOptions replay_opt;
};

Options& options();
// Removes our flags from argv (so benchmark::Initialize sees only its own); exits 2 on errors.
void parse_options(int& argc, char** argv);
std::string options_usage();
// Without --benchmark_filter the bench runs this set (what scripts/run-load runs); the soak,
// the micro benchmarks and the other long or special runs run only when a filter names them.
inline constexpr const char* kDefaultFilter = "load";

}  // namespace bench
