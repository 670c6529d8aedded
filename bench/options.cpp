#include "options.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string_view>
#include <vector>

#include "cli.hpp"
#include "client.hpp"
#include "clock_offset.hpp"

namespace bench {

Options& options() {
    static Options o;
    return o;
}

std::string options_usage() {
    return R"(liveshare bench flags (besides Google Benchmark's --benchmark_*):
  --target=ws://HOST:PORT     run the load family against a running server (default: start one);
                              wss://HOST:PORT speaks TLS (SNI, certificates checked against the
                              system's store); a comma-separated list is a cluster's nodes
  --tls_ca=FILE               trust this CA (PEM) for wss:// instead of the system's store
  --tls_insecure              no certificate or name check for wss:// (said in every label)
  --tls_version=1.2|1.3       only this TLS version (default: 1.2 or 1.3)
  --rooms=ID,ID               use these existing rooms (UUIDs) instead of creating rooms over REST
  --rest_header='Authorization: Bearer ...'   extra header on POST /room/{id} (room creation)
  --server=PATH               liveshare-server binary to start (default: next to bench)
  --server_flags="--a=1 --b=2"  extra flags for the started server
  --users=10,50,100           user counts of load/users:N (seed workload)
  --room_size=N               users per room (default 0: one room per run)
  --warmup_s=1 --duration_s=5 --drain_s=3   per run; --long sets 2/20/5
  --server_threads=1 --generator_threads=1
  --slo_p99_ms=200            load/capacity: the p99 a step must stay under
  --capacity_room_size=50 --capacity_max_users=800 --capacity_bisect_steps=3
                              load/capacity doubles users (whole rooms) to the first failing
                              step, then bisects; a generator-bound step with the machine not
                              busy runs again with one more generator thread
  --join_storm_users=100
  --soak_minutes=60           soak/users:200/minutes:M: its length (windows are a sixth of it)
  --criteria_exit             exit 1 when a success criterion FAILs or is NOT RUN (CI gate)
  --criteria_report_only=100  criteria of these user counts are judged and shown, not gating
  --no_progress               no progress line on stderr
  --seed=42
  --profiles=baseline;optimized   also register load/users:N/profile:P for each server profile
                              (';'-separated; a profile may be a list like serialize:dom,batch:off)
  --netsim_users=20           users of load/netsim/... and load/faults/...
  --netsim_jitter_ms=0        jitter added to every load/netsim latency (one way, each direction)
  --loss_model                model packet loss in the proxy even when real loss is possible
  --fixed_iterations=N        micro benchmarks run exactly N iterations (for callgrind counts)
  --shard=I/N --shard_start=UNIX_MS --shard_out=DIR
                              sharded generation with --target: this process runs users
                              I, I+N, ... of each load/users:M run, from the common start
                              time, and writes DIR/users-M.shard-I-of-N.json; combine the
                              shards with scripts/merge-shards DIR
  --clock_ref=redis://HOST:PORT   shards: measure this clock's offset against Redis TIME
                              before the start and after the run, and count the start from the
                              reference's time (cross-shard latencies mix no two clocks)
  --clock_skew_ms=0           add this to the wall clock (to test the correction)
  --client_batch=1 --client_deflate=0   what the simulated users offer (batch frames, deflate)
  --timeseries_out=FILE       every load run as a time series (one JSON document, an entry per run)
  --interval_ms=1000          the series' interval (10 to 60000)
  --scenario=FILE[,FILE]      run each scenario file (YAML, docs/scenarios.md) as load/scenario/<name>
  --replay=FILE               replay a trace of liveshare-server --record as load/replay/scale:N/speed:X
  --replay_scale=1            clone every recorded room N times (fresh identities)
  --replay_speed=1            time runs X times faster
                              (with either, only these run unless --benchmark_filter says otherwise)
  --validate_every=64         one user per room parses every message and keeps the state; the
                              others scan deliveries for their markers and parse 1 in N in full
                              (checked against the scan); 1: every user parses everything
)";
}

namespace {
[[noreturn]] void die(const std::string& m) {
    std::fprintf(stderr, "bench: %s\n(see --help)\n", m.c_str());
    std::exit(2);
}
double num(std::string_view flag, const std::string& v) {
    char* end = nullptr;
    double d = std::strtod(v.c_str(), &end);
    if (v.empty() || *end) die("bad number for --" + std::string(flag) + ": '" + v + "'");
    return d;
}
std::vector<std::string> list(const std::string& v, char sep) {
    std::vector<std::string> out;
    std::istringstream in(v);
    for (std::string f; std::getline(in, f, sep);)
        if (!f.empty()) out.push_back(f);
    return out;
}

// Our flags; switches take no value (or =0|1). Google Benchmark's own flags pass through.
const std::vector<liveshare::cli::FlagSpec>& known() {
    static const std::vector<liveshare::cli::FlagSpec> k = {{"target"},
                                                            {"rooms"},
                                                            {"rest_header"},
                                                            {"server"},
                                                            {"server_flags"},
                                                            {"users"},
                                                            {"room_size"},
                                                            {"warmup_s"},
                                                            {"duration_s"},
                                                            {"drain_s"},
                                                            {"long", true},
                                                            {"server_threads"},
                                                            {"generator_threads"},
                                                            {"slo_p99_ms"},
                                                            {"capacity_room_size"},
                                                            {"capacity_max_users"},
                                                            {"capacity_bisect_steps"},
                                                            {"join_storm_users"},
                                                            {"soak_minutes"},
                                                            {"criteria_exit", true},
                                                            {"criteria_report_only"},
                                                            {"no_progress", true},
                                                            {"seed"},
                                                            {"profiles"},
                                                            {"client_batch", true},
                                                            {"client_deflate", true},
                                                            {"netsim_users"},
                                                            {"netsim_jitter_ms"},
                                                            {"loss_model", true},
                                                            {"fixed_iterations"},
                                                            {"shard"},
                                                            {"shard_start"},
                                                            {"shard_out"},
                                                            {"timeseries_out"},
                                                            {"interval_ms"},
                                                            {"validate_every"},
                                                            {"clock_ref"},
                                                            {"clock_skew_ms"},
                                                            {"tls_ca"},
                                                            {"tls_insecure", true},
                                                            {"tls_version"},
                                                            {"scenario"},
                                                            {"replay"},
                                                            {"replay_scale"},
                                                            {"replay_speed"}};
    return k;
}
}  // namespace

void parse_options(int& argc, char** argv) {
    Options& o = options();
    auto split = liveshare::cli::split_args(argc, argv, known(), [](std::string_view a) {
        return !a.starts_with("--") || a.starts_with("--benchmark_") || a.starts_with("--v=");
    });
    if (split.help) std::fputs(options_usage().c_str(), stdout);
    if (!split.error.empty()) die(split.error);
    for (const auto& [name, v] : split.flags) {
        if (name == "target")
            o.target = v;
        else if (name == "rooms")
            o.rooms = list(v, ',');
        else if (name == "rest_header")
            o.rest_header = v;
        else if (name == "server")
            o.server_binary = v;
        else if (name == "server_flags")
            o.server_flags = list(v, ' ');
        else if (name == "users") {
            o.users.clear();
            for (const auto& f : list(v, ','))
                o.users.push_back(static_cast<std::size_t>(num(name, f)));
        } else if (name == "room_size")
            o.room_size = static_cast<std::size_t>(num(name, v));
        else if (name == "warmup_s")
            o.warmup_s = num(name, v);
        else if (name == "duration_s")
            o.duration_s = num(name, v);
        else if (name == "drain_s")
            o.drain_s = num(name, v);
        else if (name == "long") {
            if (v == "1") o.warmup_s = 2, o.duration_s = 20, o.drain_s = 5;
        } else if (name == "server_threads")
            o.server_threads = static_cast<unsigned>(num(name, v));
        else if (name == "generator_threads")
            o.generator_threads = static_cast<unsigned>(num(name, v));
        else if (name == "slo_p99_ms")
            o.slo_p99_ms = num(name, v);
        else if (name == "capacity_room_size")
            o.capacity_room_size = static_cast<std::size_t>(num(name, v));
        else if (name == "capacity_max_users")
            o.capacity_max_users = static_cast<std::size_t>(num(name, v));
        else if (name == "capacity_bisect_steps")
            o.capacity_bisect_steps = static_cast<int>(num(name, v));
        else if (name == "join_storm_users")
            o.join_storm_users = static_cast<std::size_t>(num(name, v));
        else if (name == "soak_minutes") {
            o.soak_minutes = num(name, v);
            if (!(o.soak_minutes > 0) || o.soak_minutes > 24 * 60)
                die("--soak_minutes wants minutes in (0, 1440]");
        } else if (name == "criteria_exit")
            o.criteria_exit = v == "1";
        else if (name == "criteria_report_only") {
            o.criteria_report_only.clear();
            for (const auto& f : list(v, ','))
                o.criteria_report_only.push_back(static_cast<std::size_t>(num(name, f)));
        } else if (name == "no_progress")
            o.progress = v != "1";
        else if (name == "seed")
            o.seed = static_cast<std::uint64_t>(num(name, v));
        else if (name == "profiles")
            o.profiles = list(v, ';');
        else if (name == "client_batch")
            o.client_batch = v == "1";
        else if (name == "client_deflate")
            o.client_deflate = v == "1";
        else if (name == "netsim_users")
            o.netsim_users = static_cast<std::size_t>(num(name, v));
        else if (name == "netsim_jitter_ms")
            o.netsim_jitter_ms = num(name, v);
        else if (name == "loss_model")
            o.loss_model = v == "1";
        else if (name == "fixed_iterations")
            o.fixed_iterations = static_cast<std::int64_t>(num(name, v));
        else if (name == "timeseries_out") {
            if (v.empty()) die("--timeseries_out wants a file name");
            o.timeseries_out = v;
        } else if (name == "interval_ms") {
            const double i = num(name, v);
            if (!(i >= 10 && i <= 60000)) die("--interval_ms wants milliseconds in [10, 60000]");
            o.interval_ms = static_cast<unsigned>(i);
        } else if (name == "clock_ref") {
            if (!v.starts_with("redis://")) die("--clock_ref wants redis://HOST:PORT");
            o.clock_ref = v;
        } else if (name == "clock_skew_ms") {
            o.clock_skew_ms = num(name, v);
        } else if (name == "validate_every") {
            const double n = num(name, v);
            if (!(n >= 1 && n <= 1e6 && n == static_cast<unsigned>(n)))
                die("--validate_every wants a whole number in [1, 1000000] (1: parse everything)");
            o.validate_every = static_cast<unsigned>(n);
        } else if (name == "shard") {
            const auto slash = v.find('/');
            if (slash == std::string::npos)
                die("--shard wants I/N (this shard's index and the number of shards)");
            o.shard_index = static_cast<unsigned>(num(name, v.substr(0, slash)));
            o.shard_count = static_cast<unsigned>(num(name, v.substr(slash + 1)));
            if (o.shard_count == 0 || o.shard_index >= o.shard_count)
                die("--shard=I/N needs 0 <= I < N");
        } else if (name == "shard_start")
            o.shard_start_unix_ms = static_cast<std::int64_t>(num(name, v));
        else if (name == "shard_out")
            o.shard_out = v;
        else if (name == "tls_ca") {
            if (v.empty()) die("--tls_ca wants a PEM file");
            o.tls.ca_file = v;
        } else if (name == "tls_insecure")
            o.tls.insecure = v == "1";
        else if (name == "scenario") {
            for (const auto& f : list(v, ',')) {
                try {  // a bad file is a bad flag: named, with its line and field, before any run
                    o.scenarios.push_back(harness::load_scenario(f));
                } catch (const harness::ScenarioError& e) {
                    die(std::string("bad --scenario: ") + e.what());
                }
            }
            if (o.scenarios.empty()) die("--scenario wants a file (or a comma-separated list)");
        } else if (name == "replay") {
            if (v.empty()) die("--replay wants a trace file (liveshare-server --record)");
            o.replay = v;
        } else if (name == "replay_scale") {
            const double s = num(name, v);
            if (s < 1 || s > 1000 || s != std::floor(s))
                die("--replay_scale wants a whole number from 1 to 1000, got '" + v + "'");
            o.replay_opt.scale = static_cast<unsigned>(s);
        } else if (name == "replay_speed") {
            const double s = num(name, v);
            if (!(s >= 0.01 && s <= 1000))
                die("--replay_speed wants 0.01 to 1000, got '" + v + "'");
            o.replay_opt.speed = s;
        } else if (name == "tls_version") {
            if (v != "1.2" && v != "1.3") die("--tls_version wants 1.2 or 1.3, got '" + v + "'");
            o.tls.min_version = o.tls.max_version = v;
        }
    }
    if (!o.replay.empty()) {
        try {  // an unreadable or malformed trace is refused here, with its line
            auto t = std::make_shared<harness::Trace>(harness::load_trace(o.replay));
            if (t->messages() == 0)
                die("bad --replay: " + o.replay + ": no message a replay can send");
            harness::make_replay_plan(*t, o.replay_opt, o.replay);  // the plan can be made
            o.replay_trace = std::move(t);
        } catch (const harness::TraceError& e) {
            die(std::string("bad --replay: ") + e.what());
        }
    }
    if (o.replay.empty() && (o.replay_opt.scale != 1 || o.replay_opt.speed != 1))
        die("--replay_scale and --replay_speed go with --replay=FILE");
    if (o.tls.insecure && !o.tls.ca_file.empty())
        die("--tls_insecure checks nothing, --tls_ca names whom to trust: give one of them");
    if (!o.tls.ca_file.empty()) {
        try {  // an unreadable CA file is a bad flag, said before any run
            harness::TlsClientContext check(o.tls);
        } catch (const std::exception& e) {
            die(std::string("bad --tls_ca: ") + e.what());
        }
    }
    // A bad target is refused here, named, before any benchmark runs.
    for (const auto& one : list(o.target, ',')) {
        try {
            harness::parse_ws_url(one, o.tls);  // a wss:// target also loads the trust store
        } catch (const std::exception& e) {
            die(std::string("bad --target: ") + e.what());
        }
    }
    if (o.shard_count > 1) {
        if (o.target.empty()) die("--shard needs --target: every shard drives the same server");
        if (o.shard_out.empty()) die("--shard needs --shard_out=DIR for scripts/merge-shards");
        if (o.shard_start_unix_ms <= 0)
            die("--shard needs --shard_start=UNIX_MS, the same for every shard");
    }
    if (!o.clock_ref.empty()) {
        if (o.shard_count <= 1) die("--clock_ref is for shards (--shard=I/N with --shard_start)");
        try {  // unreachable now is a bad flag, said before any run
            harness::measure_clock_offset(o.clock_ref, 0, 1);
        } catch (const std::exception& e) {
            die(e.what());
        }
    }
    // What Google Benchmark parses next: its own flags (and --help), our flags removed.
    int out = 1;
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        if (a.starts_with("--benchmark_format=") && a != "--benchmark_format=console")
            o.reports_to_stderr = true;
    }
    std::vector<char*> keep;
    for (int i : split.rest) keep.push_back(argv[i]);
    if (split.help) keep.push_back(const_cast<char*>("--help"));
    for (char* k : keep) argv[out++] = k;
    argc = out;
    argv[argc] = nullptr;
}

}  // namespace bench
