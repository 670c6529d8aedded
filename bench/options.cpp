#include "options.hpp"

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string_view>

namespace bench {

Options& options() {
    static Options o;
    return o;
}

std::string options_usage() {
    return R"(liveshare bench flags (besides Google Benchmark's --benchmark_*):
  --target=ws://HOST:PORT     run the load family against a running server (default: start one)
  --rooms=ID,ID               use these existing rooms (UUIDs) instead of creating rooms over REST
  --rest_header='Authorization: Bearer ...'   extra header on POST /room/{id} (room creation)
  --server=PATH               liveshare-server binary to start (default: next to bench)
  --server_flags="--a=1 --b=2"  extra flags for the started server
  --users=10,50,100           user counts of load/users:N (seed workload)
  --room_size=N               users per room (default 0: one room per run)
  --warmup_s=1 --duration_s=5 --drain_s=3   per run; --long sets 2/20/5
  --server_threads=1 --generator_threads=1
  --slo_p99_ms=200            load/capacity: the p99 a step must stay under
  --capacity_room_size=50 --capacity_max_users=800
  --join_storm_users=100
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
  --client_batch=1 --client_deflate=0   what the simulated users offer (batch frames, deflate)
)";
}

namespace {
[[noreturn]] void die(const std::string& m) {
    std::fprintf(stderr, "bench: %s\n%s", m.c_str(), options_usage().c_str());
    std::exit(2);
}
double num(std::string_view flag, const std::string& v) {
    char* end = nullptr;
    double d = std::strtod(v.c_str(), &end);
    if (v.empty() || *end) die("bad number for --" + std::string(flag) + ": '" + v + "'");
    return d;
}
}  // namespace

void parse_options(int& argc, char** argv) {
    Options& o = options();
    int out = 1;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--help" || a == "-h") {
            std::fputs(options_usage().c_str(), stdout);
            argv[out++] = argv[i];  // let Google Benchmark print its part too
            continue;
        }
        if (a.starts_with("--benchmark_format=") && a != "--benchmark_format=console") o.reports_to_stderr = true;
        if (!a.starts_with("--") || a.starts_with("--benchmark_") || a.starts_with("--v=")) {
            argv[out++] = argv[i];
            continue;
        }
        auto eq = a.find('=');
        std::string name = a.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
        std::string v = eq == std::string::npos ? "" : a.substr(eq + 1);
        if (name == "target") o.target = v;
        else if (name == "rooms") {
            o.rooms.clear();
            std::istringstream in(v);
            for (std::string f; std::getline(in, f, ',');)
                if (!f.empty()) o.rooms.push_back(f);
        } else if (name == "rest_header") o.rest_header = v;
        else if (name == "server") o.server_binary = v;
        else if (name == "server_flags") {
            std::istringstream in(v);
            for (std::string f; in >> f;) o.server_flags.push_back(f);
        } else if (name == "users") {
            o.users.clear();
            std::istringstream in(v);
            for (std::string f; std::getline(in, f, ',');)
                if (!f.empty()) o.users.push_back(static_cast<std::size_t>(num(name, f)));
        } else if (name == "room_size") o.room_size = static_cast<std::size_t>(num(name, v));
        else if (name == "warmup_s") o.warmup_s = num(name, v);
        else if (name == "duration_s") o.duration_s = num(name, v);
        else if (name == "drain_s") o.drain_s = num(name, v);
        else if (name == "long") { o.warmup_s = 2; o.duration_s = 20; o.drain_s = 5; }
        else if (name == "server_threads") o.server_threads = static_cast<unsigned>(num(name, v));
        else if (name == "generator_threads") o.generator_threads = static_cast<unsigned>(num(name, v));
        else if (name == "slo_p99_ms") o.slo_p99_ms = num(name, v);
        else if (name == "capacity_room_size") o.capacity_room_size = static_cast<std::size_t>(num(name, v));
        else if (name == "capacity_max_users") o.capacity_max_users = static_cast<std::size_t>(num(name, v));
        else if (name == "join_storm_users") o.join_storm_users = static_cast<std::size_t>(num(name, v));
        else if (name == "criteria_exit") o.criteria_exit = true;
        else if (name == "criteria_report_only") {
            o.criteria_report_only.clear();
            std::istringstream in(v);
            for (std::string f; std::getline(in, f, ',');)
                if (!f.empty()) o.criteria_report_only.push_back(static_cast<std::size_t>(num(name, f)));
        }
        else if (name == "no_progress") o.progress = false;
        else if (name == "seed") o.seed = static_cast<std::uint64_t>(num(name, v));
        else if (name == "profiles") {
            o.profiles.clear();
            std::istringstream in(v);
            for (std::string f; std::getline(in, f, ';');)
                if (!f.empty()) o.profiles.push_back(f);
        } else if (name == "client_batch") o.client_batch = num(name, v) != 0;
        else if (name == "client_deflate") o.client_deflate = num(name, v) != 0;
        else if (name == "netsim_users") o.netsim_users = static_cast<std::size_t>(num(name, v));
        else if (name == "netsim_jitter_ms") o.netsim_jitter_ms = num(name, v);
        else if (name == "loss_model") o.loss_model = true;
        else if (name == "fixed_iterations") o.fixed_iterations = static_cast<std::int64_t>(num(name, v));
        else die("unknown flag " + a);
    }
    argc = out;
    argv[argc] = nullptr;
}

}  // namespace bench
