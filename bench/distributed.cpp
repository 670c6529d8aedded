#include "distributed.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>

#include "failures.hpp"
#include "measure/load_metrics.hpp"
#include "options.hpp"
#include "provenance.hpp"
#include "run/coordinator.hpp"
#include "run/coordinator_lua.hpp"
#include "run/shard_file.hpp"

namespace bench {

namespace {

std::unique_ptr<harness::RunCoordinator> g_coord;
unsigned g_round = 0;      // this process's load runs so far
unsigned g_intervals = 0;  // intervals streamed in the current round

std::string hostname() {
    char h[256] = {};
    if (gethostname(h, sizeof h - 1) != 0) return "unknown";
    return h;
}

}  // namespace

bool coordinated() {
    return g_coord != nullptr;
}

void join_coordinated_run() {
    Options& o = options();
    if (o.coordinator.empty()) return;
    harness::CoordinatorOptions c;
    c.url = o.coordinator;
    c.run_id = o.run_id;
    c.shards = o.coordinated_shards;
    c.fixed_index = o.shard_fixed ? static_cast<int>(o.shard_index) : -1;
    c.timeout_s = static_cast<int>(o.coordinator_timeout_s);
    c.lead_ms = static_cast<int>(o.coordinator_lead_ms);
    c.keep_s = static_cast<int>(o.coordinator_keep_s);
    c.who = fmt::format("{} pid {}", hostname(), getpid());
    c.skew_us = std::llround(o.clock_skew_ms * 1000.0);
    // What every shard must share to make one run (the benchmark of each round is checked at
    // its barrier).
    const auto& p = provenance();
    c.fingerprint = {{"seed", std::to_string(o.seed)},
                     {"room_size", std::to_string(o.room_size)},
                     {"warmup_s", fmt::format("{}", o.warmup_s)},
                     {"duration_s", fmt::format("{}", o.duration_s)},
                     {"drain_s", fmt::format("{}", o.drain_s)},
                     {"interval_ms", std::to_string(o.interval_ms)},
                     {"validate_every", std::to_string(o.validate_every)},
                     {"target", o.target},
                     {"git_sha", p.count("git_sha") ? p.at("git_sha") : "unknown"}};
    try {
        g_coord = std::make_unique<harness::RunCoordinator>(std::move(c));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench: --coordinator %s: %s\n", o.coordinator.c_str(), e.what());
        std::exit(2);
    }
    o.shard_index = g_coord->index();
    std::fprintf(stderr, "note: shard %u of %u in run %s (%s)\n", o.shard_index, o.shard_count,
                 o.run_id.c_str(), o.coordinator.c_str());
}

void coordinate(LoadTestConfigBuilder& cfg, const std::string& benchmark) {
    const Options& o = options();
    const unsigned round = g_round;
    g_intervals = 0;
    const auto run_ms = std::llround((o.warmup_s + o.duration_s + o.drain_s) * 1000.0) + 30000;
    cfg.clock(o.coordinator, std::llround(o.clock_skew_ms * 1000.0))
        .series_interval(std::chrono::milliseconds(o.interval_ms))
        .clock_reader([] { return g_coord->time_us(); })
        .await_start([round, benchmark, run_ms](std::size_t joined) {
            return g_coord->ready_and_wait(round, benchmark, run_ms, joined);
        })
        .on_interval([round, interval_ms = o.interval_ms](const harness::SeriesPoint& p) {
            // k is the interval's slot in time (a stalled loop folds missed slots into one
            // point: its k skips them rather than shifting every later k); the last, partial
            // point takes the next k.
            const auto slot = static_cast<long long>(p.t_s * 1000.0 / interval_ms) - 1;
            const unsigned k = static_cast<unsigned>(
                std::max<long long>(slot, static_cast<long long>(g_intervals)));
            g_intervals = k + 1;
            std::string json;
            harness::append_json(json, p, true);
            g_coord->publish_interval(round, k, std::move(json));
        });
}

std::string publish_share(const std::string& benchmark, const harness::LoadTestConfig& cfg,
                          const LoadTestResult& r) {
    const unsigned round = g_round++;
    if (!r.start_error.empty()) {
        // Every shard and the collector fail with it (the first reason stands).
        g_coord->fail(fmt::format("shard {}: {}", g_coord->index(), r.start_error));
        return r.start_error;
    }
    std::string doc = harness::shard_json(benchmark, cfg, r, provenance(), false);
    // What coordinating cost this shard so far: Redis commands and bytes, the publisher's CPU.
    const auto c = g_coord->cost();
    while (!doc.empty() && (doc.back() == '\n' || doc.back() == '}')) {
        const bool brace = doc.back() == '}';
        doc.pop_back();
        if (brace) break;
    }
    doc += fmt::format(
        ",\"coordination\":{{\"control_commands\":{},\"control_bytes\":{},"
        "\"stream_commands\":{},\"stream_bytes\":{},\"entries\":{},\"publisher_cpu_s\":{:.6f},"
        "\"who\":\"{} pid {}\"}}}}\n",
        c.control_commands, c.control_bytes, c.stream_commands, c.stream_bytes, c.entries,
        c.publisher_cpu_s, hostname(), getpid());
    const std::string why = g_coord->finish(round, std::move(doc));
    if (!why.empty()) {
        g_coord->fail(fmt::format("shard {}: {}", g_coord->index(), why));
        return why;
    }
    return "";
}

void leave_coordinated_run() {
    if (!g_coord) return;
    const auto c = g_coord->cost();
    try {
        harness::RedisClient r(options().coordinator, 2000);
        r.command({"EVAL", harness::coordinator_lua::kDone, "0", "lsb:{" + options().run_id + "}:",
                   std::to_string(g_coord->index()), std::to_string(g_round)});
    } catch (const std::exception& e) {
        std::fprintf(stderr, "note: could not mark shard %u done: %s\n", g_coord->index(),
                     e.what());
    }
    std::fprintf(stderr,
                 "note: coordination cost: control %llu Redis commands, %llu bytes; stream "
                 "%llu entries in %llu commands, %llu bytes, publisher CPU %.3f s\n",
                 static_cast<unsigned long long>(c.control_commands),
                 static_cast<unsigned long long>(c.control_bytes),
                 static_cast<unsigned long long>(c.entries),
                 static_cast<unsigned long long>(c.stream_commands),
                 static_cast<unsigned long long>(c.stream_bytes), c.publisher_cpu_s);
    g_coord.reset();
}

}  // namespace bench
