#include "options.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string_view>
#include <vector>

#include "clients/client.hpp"
#include "clients/redis_client.hpp"
#include "flag_table.hpp"
#include "measure/clock_offset.hpp"
#include "procs/cluster_process.hpp"
#include "procs/server_process.hpp"
#include "procs/subprocess.hpp"
#include "run/coordinator.hpp"

namespace bench {

Options& options() {
    static Options o;
    return o;
}

namespace {

using flags::on_off;
using flags::real;
using flags::text;
using flags::wants;
using flags::whole;
using flags::wholes;
using F = flags::Flag<Options>;
using Z = std::size_t;
using Set = std::function<std::string(Options&, const std::string&)>;
constexpr Z kMaxUsers = 100000;
constexpr double kDay = 86400;

std::string set_shard(Options& o, const std::string& v) {
    const auto slash = v.find('/');
    const std::string what = "I/N (this shard's index and the number of shards, 0 <= I < N)";
    if (slash == std::string::npos ||
        !flags::parse_whole("shard", v.substr(0, slash), 0u, 999u, o.shard_index).empty() ||
        !flags::parse_whole("shard", v.substr(slash + 1), 1u, 1000u, o.shard_count).empty() ||
        o.shard_index >= o.shard_count)
        return wants("shard", what, v);
    o.shard_fixed = true;
    return "";
}

std::string set_scenarios(Options& o, const std::string& v) {
    for (const auto& f : flags::split(v, ',')) {
        try {  // a bad file is a bad flag: named, with its line and field, before any run
            o.scenarios.push_back(harness::load_scenario(f));
        } catch (const harness::ScenarioError& e) {
            return std::string("bad --scenario: ") + e.what();
        }
    }
    return o.scenarios.empty() ? "--scenario wants a file (or a comma-separated list)" : "";
}

std::string set_ws_header(Options& o, const std::string& v) {
    try {
        harness::parse_upgrade_header(v);
    } catch (const std::exception& e) {
        return std::string("bad --ws_header: ") + e.what();
    }
    o.ws_headers.push_back(v);
    return "";
}

Set set_tls_version = [](Options& o, const std::string& v) {
    if (v != "1.2" && v != "1.3") return wants("tls_version", "1.2 or 1.3", v);
    o.tls.min_version = o.tls.max_version = v;
    return std::string();
};

Set set_long = [](Options& o, const std::string& v) {
    if (v == "1") o.warmup_s = 2, o.duration_s = 20, o.drain_s = 5;
    return std::string();
};

// Where the load goes and how it authenticates; the server the bench starts.
std::vector<F> target_flags() {
    // clang-format off
    return {
    text<Options>("target", "URL", &Options::target,
        "run the load family against a running server (default: start one);\n"
        "wss://HOST:PORT speaks TLS (SNI, certificates checked against the\n"
        "system's store); a comma-separated list is a cluster's nodes;\n"
        "which benchmarks honour it: docs/your-deployment.md", "ws://HOST:PORT or wss://HOST:PORT"),
    {"tls_ca", "FILE", "trust this CA (PEM) for wss:// instead of the system's store",
        [](Options& o, const std::string& v) {
            if (v.empty() || !std::filesystem::is_regular_file(v))
                return "bad --tls_ca: '" + v + "' is not a file (want a PEM file of CA certificates)";
            o.tls.ca_file = v;
            return std::string();
        }},
    {"tls_insecure", "", "no certificate or name check for wss:// (said in every label)",
        [](Options& o, const std::string& v) { o.tls.insecure = v == "1"; return std::string(); }},
    {"tls_version", "1.2|1.3", "only this TLS version (default: 1.2 or 1.3)", set_tls_version},
    whole<Options, std::int64_t>("target_pid", &Options::target_pid, 1, 4194304,
        "the --target's server process, when it runs on this machine: its CPU,\n"
        "RSS and (--cpu_profile) profile are measured as a started server's"),
    {"ws_header", "'Name: value'", "add this header to every WebSocket upgrade (a token or a cookie\n"
        "for your deployment's gateway); give it again for more headers", set_ws_header},
    text<Options>("room_password", "TEXT", &Options::room_password,
        "rooms the run creates get this password; every user sends it in Auth\n"
        "(with --rooms: the password of those rooms)", "a password"),
    {"rooms", "ID,ID", "use these existing rooms (UUIDs) instead of creating rooms over REST",
        [](Options& o, const std::string& v) {
            o.rooms = flags::split(v, ',');
            return o.rooms.empty() ? wants("rooms", "room ids, comma-separated", v) : std::string();
        }},
    text<Options>("rest_header", "'Name: value'", &Options::rest_header,
        "extra header on POST /room/{id} (room creation), e.g. 'Authorization: Bearer ...'"),
    text<Options>("server", "PATH", &Options::server_binary,
        "liveshare-server binary to start (default: next to bench)", "a file"),
    {"server_flags", "'--a=1 --b=2'", "extra flags for the started server (checked with its --check)",
        [](Options& o, const std::string& v) { o.server_flags = flags::split(v, ' '); return std::string(); }},
    };
    // clang-format on
}

// Each run's size and length, the generator, the searches and the gates.
std::vector<F> run_flags() {
    // clang-format off
    return {
    wholes<Options, Z>("users", &Options::users, 1, kMaxUsers, "user counts of load/users:N (seed workload)"),
    whole<Options, Z>("room_size", &Options::room_size, 0, kMaxUsers, "users per room (0: one room per run)"),
    real<Options>("warmup_s", &Options::warmup_s, 0, 3600, "seconds of traffic before the measured window"),
    real<Options>("duration_s", &Options::duration_s, 0.1, kDay, "seconds of the measured window"),
    real<Options>("drain_s", &Options::drain_s, 0, 3600, "seconds to wait for the last deliveries"),
    {"long", "", "sets --warmup_s=2 --duration_s=20 --drain_s=5 (flags after it override)", set_long},
    whole<Options, unsigned>("server_threads", &Options::server_threads, 1, 256,
        "I/O threads of the started server (its --threads)"),
    whole<Options, unsigned>("generator_threads", &Options::generator_threads, 1, 256,
        "threads of the load generator's event loops"),
    real<Options>("slo_p99_ms", &Options::slo_p99_ms, 0.01, 1e6,
        "load/capacity: the p99 a step must stay under"),
    whole<Options, Z>("capacity_room_size", &Options::capacity_room_size, 1, kMaxUsers,
        "load/capacity: users per room (capacity grows by whole rooms)"),
    whole<Options, Z>("capacity_max_users", &Options::capacity_max_users, 1, kMaxUsers,
        "load/capacity: the largest step it tries"),
    whole<Options, int>("capacity_bisect_steps", &Options::capacity_bisect_steps, 0, 20,
        "load/capacity doubles users to the first failing step, then bisects\n"
        "this many times; a generator-bound step with the machine not busy runs\n"
        "again with one more generator thread"),
    whole<Options, Z>("join_storm_users", &Options::join_storm_users, 1, kMaxUsers,
        "users of load/join_storm/users:N, all joining at once"),
    real<Options>("soak_minutes", &Options::soak_minutes, 0.1, 1440,
        "soak/users:200/minutes:M: its length, its cycle repeated to fill it\n"
        "(windows are a sixth of it); the soak runs only when --benchmark_filter\n"
        "names it (soak/)"),
    {"soak_file", "FILE", "the soak's scenario (default: scenarios/soak.yaml); it needs a cycle\n"
        "({repeat: N, phases: [...]}) for --soak_minutes to repeat",
        [](Options& o, const std::string& v) {
            try {  // read now: a bad file is a bad flag
                auto s = harness::load_scenario(v);
                if (!s.cycle) return "bad --soak_file: " + v + ": no cycle ({repeat: N, phases: [...]})";
            } catch (const harness::ScenarioError& e) {
                return std::string("bad --soak_file: ") + e.what();
            }
            o.soak_file = v;
            return std::string();
        }},
    {"redis_persistence", "none|everysec|always", "what the Redis of load/cluster/... and\n"
        "load/faults/redis_restart keeps on disk: nothing, or an AOF fsync'd every\n"
        "second or after every write (load/faults/redis_kill/aof:P names its own)",
        [](Options& o, const std::string& v) {
            harness::RedisPersistence p;
            if (!harness::parse_redis_persistence(v, p))
                return wants("redis_persistence", "none, everysec or always", v);
            o.redis_persistence = v;
            return std::string();
        },
        [](const Options& o) { return o.redis_persistence; }},
    on_off<Options>("criteria_exit", &Options::criteria_exit,
        "exit 1 when a success criterion FAILs or is NOT RUN (CI gate)"),
    wholes<Options, Z>("criteria_report_only", &Options::criteria_report_only, 1, kMaxUsers,
        "criteria of these user counts are judged and shown, not gating"),
    on_off<Options>("no_progress", &Options::progress, "no progress line on stderr", true),
    whole<Options, std::uint64_t>("seed", &Options::seed, 0, UINT64_MAX,
        "seed of every random choice of the simulated users (ids, rooms, timing)"),
    };
    // clang-format on
}

// Profiles, impairment, micro benchmarks, shards and clocks.
std::vector<F> family_flags() {
    // clang-format off
    return {
    {"profiles", "P;P", "also register load/users:N/profile:P for each server profile\n"
        "(';'-separated; a profile may be a list like serialize:dom,batch:off;\n"
        "each is checked with the server's --check before any run)",
        [](Options& o, const std::string& v) {
            o.profiles = flags::split(v, ';');
            return o.profiles.empty() ? wants("profiles", "profiles, ';'-separated", v) : std::string();
        }},
    whole<Options, Z>("netsim_users", &Options::netsim_users, 1, 10000,
        "users of load/netsim/... and load/faults/..."),
    real<Options>("netsim_jitter_ms", &Options::netsim_jitter_ms, 0, 10000,
        "jitter added to every load/netsim latency (one way, each direction)"),
    on_off<Options>("loss_model", &Options::loss_model,
        "model packet loss in the proxy even when real loss is possible"),
    whole<Options, std::int64_t>("fixed_iterations", &Options::fixed_iterations, 0, 1000000000000,
        "micro benchmarks run exactly N iterations (for callgrind counts; 0: Google\n"
        "Benchmark decides)"),
    {"shard", "I/N", "sharded generation with --target: this process runs users I, I+N, ...\n"
        "of each load/users:M run, from the common start time, and writes\n"
        "DIR/users-M.shard-I-of-N.json; combine them with scripts/merge-shards DIR", set_shard},
    whole<Options, std::int64_t>("shard_start", &Options::shard_start_unix_ms, 1, 4102444800000,
        "shards: the common start, Unix time in ms"),
    text<Options>("shard_out", "DIR", &Options::shard_out, "shards: where each writes its share", "a directory"),
    text<Options>("clock_ref", "redis://HOST:PORT", &Options::clock_ref,
        "shards: measure this clock's offset against Redis TIME before the start\n"
        "and after the run, and count the start from the reference's time\n"
        "(cross-shard latencies mix no two clocks)", "redis://HOST:PORT"),
    real<Options>("clock_skew_ms", &Options::clock_skew_ms, -1e7, 1e7,
        "add this to the wall clock (to test the correction)"),
    text<Options>("coordinator", "redis://HOST:PORT", &Options::coordinator,
        "a run of generators on several machines: register with this Redis (an\n"
        "atomic counter gives the shard index, or --shard=I/N names it), wait until\n"
        "every shard is ready, start together, stream intervals and the share for\n"
        "scripts/collect; its TIME is the clocks' reference", "redis://HOST:PORT"),
    text<Options>("run_id", "NAME", &Options::run_id,
        "coordinated run: its name (1-64 of A-Z a-z 0-9 . _ -), the same on every shard", "a name"),
    whole<Options, unsigned>("shards", &Options::coordinated_shards, 1u, 1000u,
        "coordinated run: how many shards it has"),
    whole<Options, unsigned>("coordinator_timeout_s", &Options::coordinator_timeout_s, 1u, 86400u,
        "coordinated run: registration and each barrier close after this (a shard\n"
        "still missing then fails the run for all, named)"),
    whole<Options, unsigned>("coordinator_lead_ms", &Options::coordinator_lead_ms, 50u, 600000u,
        "coordinated run: the start is this long after the last shard is ready"),
    whole<Options, unsigned>("coordinator_keep_s", &Options::coordinator_keep_s, 60u, 604800u,
        "coordinated run: its keys in Redis expire this long after the run"),
    };
    // clang-format on
}

// What the users offer, the time series, traffic as data, validation.
std::vector<F> traffic_flags() {
    // clang-format off
    return {
    on_off<Options>("client_batch", &Options::client_batch, "the simulated users offer batch frames (=0: not)"),
    on_off<Options>("client_deflate", &Options::client_deflate, "the simulated users offer permessage-deflate"),
    text<Options>("timeseries_out", "FILE", &Options::timeseries_out,
        "every load run as a time series (one JSON document, an entry per run)", "a file name"),
    whole<Options, unsigned>("interval_ms", &Options::interval_ms, 10, 60000, "the series' interval"),
    {"cpu_profile", "none|server|generator|both", "sample call stacks (perf, cpu-clock) over each load\n"
        "run's window and attribute CPU per delivery to components\n"
        "(server_cpu_us_per_delivery_<component>, docs/benchmarks.md)",
        [](Options& o, const std::string& v) {
            if (v != "none" && v != "server" && v != "generator" && v != "both")
                return wants("cpu_profile", "none, server, generator or both", v);
            o.cpu_profile = v;
            return std::string();
        },
        [](const Options& o) { return o.cpu_profile; }},
    text<Options>("cpu_profile_out", "DIR", &Options::cpu_profile_out,
        "keep each profiled run's folded stacks and attribution here\n"
        "(<run>.server.folded, <run>.server.json; scripts/report --profiles)", "a directory"),
    {"scenario", "FILE[,FILE]", "run each scenario file (YAML, docs/scenarios.md) as\n"
        "load/scenario/<name>; then only these run unless --benchmark_filter says otherwise",
        set_scenarios},
    text<Options>("replay", "FILE", &Options::replay,
        "replay a trace of liveshare-server --record as load/replay/scale:N/speed:X", "a trace file"),
    {"replay_scale", "N", "clone every recorded room N times (fresh identities)",
        [](Options& o, const std::string& v) { return flags::parse_whole("replay_scale", v, 1u, 1000u, o.replay_opt.scale); },
        [](const Options& o) { return std::to_string(o.replay_opt.scale); }},
    {"replay_speed", "X", "time runs X times faster",
        [](Options& o, const std::string& v) { return flags::parse_real("replay_speed", v, 0.01, 1000, o.replay_opt.speed); },
        [](const Options& o) { std::ostringstream s; s << o.replay_opt.speed; return s.str(); }},
    whole<Options, unsigned>("validate_every", &Options::validate_every, 1, 1000000,
        "one user per room parses every message and keeps the state; the others\n"
        "scan deliveries for their markers and parse 1 in N in full (checked\n"
        "against the scan); 1: every user parses everything"),
    };
    // clang-format on
}

// Every flag of the bench, once, in the order of the usage text.
const std::vector<F>& table() {
    static const std::vector<F> t = [] {
        std::vector<F> all;
        for (auto group : {target_flags, run_flags, family_flags, traffic_flags})
            for (auto& f : group()) all.push_back(std::move(f));
        return all;
    }();
    return t;
}

[[noreturn]] void die(const std::string& m) {
    std::fprintf(stderr, "bench: %s\n(see --help)\n", m.c_str());
    std::exit(2);
}

// The started server must accept what we will pass it: asked once, with its --check.
void check_server_flags(const Options& o) {
    std::vector<std::string> profiles = o.profiles;
    if (profiles.empty()) profiles.push_back("");
    std::string bin = o.server_binary.empty() ? harness::find_server_binary() : o.server_binary;
    std::error_code ec;
    if (!std::filesystem::is_regular_file(bin, ec))
        die("no liveshare-server at " + bin + " (build it, or give --server=PATH)");
    bin = std::filesystem::absolute(bin, ec).string();
    for (const auto& p : profiles) {
        std::vector<std::string> argv = {bin, "--check"};
        if (!p.empty()) argv.push_back("--profile=" + p);
        argv.insert(argv.end(), o.server_flags.begin(), o.server_flags.end());
        std::string out;
        if (harness::run_command(argv, out) != 0) {
            const auto eol = out.find('\n');
            die(std::string(p.empty() ? "bad --server_flags: " : "bad --profiles: ") +
                out.substr(0, eol));
        }
    }
}

// A coordinated run's flags: the Redis URL, the name, the shard count, what cannot go with it;
// an unreachable coordinator is a bad flag too, said before any run.
void check_coordinated(Options& o) {
    const bool any = !o.coordinator.empty() || !o.run_id.empty() || o.coordinated_shards;
    if (!any) return;
    if (o.coordinator.empty()) die("--run_id and --shards go with --coordinator=redis://HOST:PORT");
    try {
        harness::parse_redis_url(o.coordinator);
    } catch (const std::exception& e) {
        die(std::string("bad --coordinator: ") + e.what());
    }
    if (o.run_id.empty()) die("--coordinator needs --run_id=NAME, the same on every shard");
    if (const auto why = harness::check_run_id(o.run_id); !why.empty()) die("bad --run_id: " + why);
    if (!o.coordinated_shards) die("--coordinator needs --shards=N, the same on every shard");
    if (o.shard_fixed && o.shard_count != o.coordinated_shards)
        die(fmt::format("--shard={}/{} and --shards={} disagree", o.shard_index, o.shard_count,
                        o.coordinated_shards));
    if (o.target.empty()) die("--coordinator needs --target: every shard drives the same server");
    if (o.shard_start_unix_ms > 0)
        die("--shard_start is for shards started by hand; a coordinated run's start is set by "
            "its --coordinator");
    o.shard_count = o.coordinated_shards;
    try {
        harness::RedisClient c(o.coordinator, 3000);
        const auto r = c.command({"PING"});
        if (r.type == harness::RedisReply::Type::Error) die("--coordinator answered " + r.str);
    } catch (const std::exception& e) {
        die(std::string("--coordinator unreachable: ") + e.what());
    }
}

// What no single flag can say: combinations, and files and services named by flags.
void check_together(Options& o) {
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
    for (const auto& one : flags::split(o.target, ',')) {
        try {  // a bad target is refused here, named, before any benchmark runs
            harness::parse_ws_url(one, o.tls);  // a wss:// target also loads the trust store
        } catch (const std::exception& e) {
            die(std::string("bad --target: ") + e.what());
        }
    }
    if (!o.target.empty() && !o.profiles.empty())
        die("--profiles choose the started server's profile; with --target no server is started");
    if (o.target.empty() && (!o.profiles.empty() || !o.server_flags.empty())) check_server_flags(o);
    check_coordinated(o);
    if (o.shard_count > 1 && o.coordinator.empty()) {
        if (o.target.empty()) die("--shard needs --target: every shard drives the same server");
        if (o.shard_out.empty()) die("--shard needs --shard_out=DIR for scripts/merge-shards");
        if (o.shard_start_unix_ms <= 0)
            die("--shard needs --shard_start=UNIX_MS, the same for every shard");
    }
    if (!o.clock_ref.empty()) {
        if (!o.clock_ref.starts_with("redis://"))
            die(wants("clock_ref", "redis://HOST:PORT", o.clock_ref));
        if (!o.coordinator.empty())
            die("--clock_ref goes with --shard_start; a coordinated run's clock reference is "
                "its --coordinator");
        if (o.shard_count <= 1) die("--clock_ref is for shards (--shard=I/N with --shard_start)");
        try {  // unreachable now is a bad flag, said before any run
            harness::measure_clock_offset(o.clock_ref, 0, 1);
        } catch (const std::exception& e) {
            die(e.what());
        }
    }
}

}  // namespace

std::string options_usage() {
    return "liveshare bench flags (besides Google Benchmark's --benchmark_*):\n"
           "  without --benchmark_filter the bench runs --benchmark_filter=" +
           std::string(kDefaultFilter) +
           " (the load family's standard\n"
           "  set, what scripts/run-load runs); the soak and the micro benchmarks run when a\n"
           "  filter names them (--benchmark_filter=soak/, --benchmark_filter='^(parse|fanout)/', "
           "...)\n\n" +
           flags::usage(table(), Options{});
}

void parse_options(int& argc, char** argv) {
    Options& o = options();
    auto split =
        liveshare::cli::split_args(argc, argv, flags::specs(table()), [](std::string_view a) {
            return !a.starts_with("--") || a.starts_with("--benchmark_") || a.starts_with("--v=");
        });
    if (split.help) std::fputs(options_usage().c_str(), stdout);
    if (!split.error.empty()) die(split.error);
    for (const auto& [name, v] : split.flags) {
        const auto f = std::find_if(table().begin(), table().end(),
                                    [&](const F& x) { return x.name == name; });
        if (auto e = f->set(o, v); !e.empty()) die(e);
    }
    if (!split.help) check_together(o);
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
