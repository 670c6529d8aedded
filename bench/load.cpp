#include "load.hpp"

#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <future>
#include <limits>
#include <map>
#include <optional>
#include <thread>

#include "clients/client.hpp"
#include "clients/prometheus.hpp"
#include "distributed.hpp"
#include "failures.hpp"
#include "load_support.hpp"
#include "measure/criteria.hpp"
#include "options.hpp"
#include "procs/netsim.hpp"
#include "procs/server_process.hpp"
#include "provenance.hpp"
#include "run/shard_file.hpp"
#include "summary.hpp"
#include "timeseries.hpp"

namespace bench {

namespace {

std::map<std::size_t, std::vector<LoadTestMetrics>> g_seed_runs;  // users -> every repetition
std::optional<LoadTestResult> g_latency_run, g_bandwidth_run;

void bm_users(benchmark::State& st, std::size_t users, Workload w) {
    const Options& o = options();
    for (auto _ : st) {
        std::string label;
        const std::string name = fmt::format("load/users:{}", users);
        auto cfg = base_config(users, w).shard(o.shard_index, o.shard_count, o.shard_start_unix_ms);
        if (coordinated()) coordinate(cfg, name);
        auto r = run_against_server(cfg, o.room_size ? o.room_size : users, label);
        if (o.shard_count > 1 || coordinated()) {
            std::string why;
            if (coordinated()) {
                // The share goes onto the run's stream for scripts/collect.
                why = publish_share(name, cfg.config(), r);
                label =
                    (label.empty() ? "" : label + "; ") +
                    fmt::format("shard {} of {} in run {}", o.shard_index, o.shard_count, o.run_id);
            }
            // This shard's share in a file too (scripts/merge-shards makes the run from them).
            if (!o.shard_out.empty()) try {
                    const std::string path =
                        fmt::format("{}/users-{}.shard-{}-of-{}.json", o.shard_out, users,
                                    o.shard_index, o.shard_count);
                    std::filesystem::create_directories(o.shard_out);
                    harness::write_shard_file(path, name, cfg.config(), r, provenance());
                    label = (label.empty() ? "" : label + "; ") +
                            fmt::format("shard {} of {}: {}", o.shard_index, o.shard_count, path);
                } catch (const std::exception& e) {
                    why = e.what();
                }
            if (!why.empty()) {
                fail(st, why);
                continue;
            }
        }
        finish(st, r, label);
        if (w == Workload::Seed && o.shard_count == 1 && !coordinated())
            g_seed_runs[users].push_back(r.metrics);
    }
}

void bm_users_profile(benchmark::State& st, std::size_t users, std::string profile) {
    for (auto _ : st) {
        std::string label;
        auto cfg = base_config(users, Workload::Seed);
        auto r = run_against_server(cfg, options().room_size ? options().room_size : users, label,
                                    profile);
        finish(st, r, label);
    }
}

void bm_bandwidth(benchmark::State& st) {
    for (auto _ : st) {
        std::string label;
        auto cfg = base_config(30, Workload::Seed);
        auto r = run_against_server(cfg, 30, label);
        finish(st, r, label);
        const double secs_run = std::max(r.metrics.measured_s, 1e-3);
        for (std::size_t i = 0; i < liveshare::kMsgTypeCount; ++i) {
            auto name = liveshare::to_string(static_cast<liveshare::MsgType>(i));
            if (auto b = r.metrics.totals.bytes_out_by_type[i])
                st.counters[std::string("mbps_in_") + name] =
                    static_cast<double>(b) * 8 / secs_run / 1e6;
            if (auto b = r.metrics.totals.bytes_in_by_type[i])
                st.counters[std::string("mbps_out_") + name] =
                    static_cast<double>(b) * 8 / secs_run / 1e6;
        }
        g_bandwidth_run = std::move(r);
    }
}

// The seed's latency scenario: 10 users x 20 messages.
void bm_latency(benchmark::State& st) {
    for (auto _ : st) {
        std::string label;
        auto cfg =
            base_config(10, Workload::Seed).messages_per_user(20).warmup(ms(0)).duration(ms(60000));
        auto r = run_against_server(cfg, 10, label);
        finish(st, r, label);
        g_latency_run = std::move(r);
    }
}

// The original client's auto-layout burst (8 MoveTable ops at once per user, every 2 s)
// against the graph-op throttle: interval_ms:0 is no throttle; 150 is the original's, where
// our server holds each op for its slot instead of dropping it. Time = p99 from the intended
// send time, so the delay the holding adds is the figure; nothing may be lost or refused.
void bm_graphop_throttle(benchmark::State& st, std::uint32_t interval_ms) {
    constexpr std::size_t users = 20;
    for (auto _ : st) {
        std::string label;
        auto cfg = base_config(users, Workload::Burst);
        auto r = run_against_server(
            cfg, users, label, "",
            {"--graphop-interval-ms=" + std::to_string(interval_ms), "--graphop-queue=16"});
        finish(st, r, label);
        const auto& sm = r.metrics.server_metrics;
        // Only what the server's /metrics said: absent (not -1 or 0) when it said nothing.
        for (auto [counter, key] :
             {std::pair{"graphops_delayed", "liveshare_graphops_delayed_total"},
              std::pair{"graphops_refused", "liveshare_drops_total{reason=\"graphop_throttled\"}"}})
            if (auto it = sm.find(key); it != sm.end()) st.counters[counter] = it->second;
    }
}

void bm_join_storm(benchmark::State& st) {
    const std::size_t users = options().join_storm_users;
    for (auto _ : st) {
        std::string label;
        auto cfg = base_config(users, Workload::JoinStorm);
        auto r = run_against_server(cfg, options().room_size ? options().room_size : users, label);
        const auto& m = r.metrics;
        if (m.users_joined == 0) {
            fail(st, "no user could join: " + describe(m, label));
            continue;
        }
        st.SetIterationTime(m.join_all_ms / 1000.0);
        st.counters["join_all_ms"] = m.join_all_ms;
        st.counters["join_p50_ms"] =
            static_cast<double>(m.totals.join_time.percentile(50)) / 1000.0;
        st.counters["join_p99_ms"] =
            static_cast<double>(m.totals.join_time.percentile(99)) / 1000.0;
        st.counters["users_joined"] = static_cast<double>(m.users_joined);
        if (m.server_measured) {  // absent against a --target
            st.counters["server_cpu_peak_pct"] = m.server_cpu_peak_pct;
            st.counters["server_rss_mb"] = m.server_rss_peak_mb;
        }
        st.SetLabel(describe(m, label));
    }
}

// Protected rooms under a join storm: bcrypt (cost 12, as the original) runs on the server's
// KDF pool while 10 users of another room keep sending the seed workload. Time = that
// room's p99 during the storm; the storm's own join time is a counter.
void bm_join_storm_protected(benchmark::State& st) {
    const Options& o = options();
    const std::size_t storm_users = 20;
    for (auto _ : st) {
        const std::string db = bench_db_path();
        auto args = bench_server_args(storm_users, db);
        args.push_back("--bcrypt-cost=12");  // the original's cost, whatever --server_flags say
        harness::ServerProcess server(server_binary(), args);
        // The storm starts inside the measured window: once the steady room has sent 1.5 s of
        // its messages past the warm-up (10 users x 10/s).
        std::promise<void> in_window;
        auto steady = base_config(10, Workload::Seed)
                          .warmup(ms(500))
                          .duration(ms(8000))
                          .seed(o.seed + 1)
                          .target(server.url())
                          .trigger(
                              static_cast<std::uint64_t>(10 * 10 * 2.0),
                              [&] { in_window.set_value(); }, "join storm starts")
                          .build();
        auto storm = base_config(storm_users, Workload::JoinStorm)
                         .room_password("correct horse")
                         .join_timeout(ms(60000))
                         .seed(o.seed + 2)
                         .progress(false)
                         .target(server.url())
                         .build();
        harness::LoadTestResult steady_result, storm_result;
        std::thread steady_thread(
            [&] { steady_result = harness::run_load_test(steady, server.pid()); });
        in_window.get_future().wait();
        try {
            storm_result = harness::run_load_test(storm);
        } catch (const std::exception& e) {
            fail(st, e.what());
        }
        steady_thread.join();
        server.stop();
        remove_db(db);
        const auto& m = steady_result.metrics;
        if (!std::isfinite(m.p_ms(99))) {
            fail(st, "the unprotected room measured nothing: " + describe(m, ""));
            continue;
        }
        st.SetIterationTime(m.p_ms(99) / 1000.0);
        timeseries_measured(m);
        set_counters(st, m);
        st.counters["storm_users_joined"] = static_cast<double>(storm_result.metrics.users_joined);
        st.counters["storm_join_all_ms"] = storm_result.metrics.join_all_ms;
        st.counters["storm_join_p50_ms"] =
            static_cast<double>(storm_result.metrics.totals.join_time.percentile(50)) / 1000.0;
        st.SetLabel(describe(m, "time = p99 of an unprotected room during a protected join storm"));
    }
}

// Idle connections: N users join (rooms of 50) and stay; server RSS per connection, and a
// fresh client's /healthz, join and ping while they are all connected.
void bm_conn_idle(benchmark::State& st, std::size_t connections) {
    for (auto _ : st) {
        std::string label;
        auto cfg = base_config(connections, Workload::JoinStorm)
                       .room_size(50)
                       .idle_hold(ms(2000))
                       .join_timeout(ms(60000));
        auto r = run_against_server(cfg, 50, label);
        const auto& m = r.metrics;
        if (m.users_joined == 0) {
            fail(st, "no connection joined: " + describe(m, label));
            continue;
        }
        if (m.probe_join_ms < 0) {
            fail(st, fmt::format("the probe could not join while {} connections were held: {}",
                                 m.users_joined, describe(m, label)));
            continue;
        }
        st.SetIterationTime(m.probe_join_ms / 1000.0);
        st.counters["connections"] = static_cast<double>(m.users_joined);
        // Against a --target the server's memory is not ours to read: absent, not 0.
        if (m.server_measured) {
            st.counters["server_rss_mb"] = m.held_server_rss_mb;
            st.counters["server_rss_per_conn_kb"] = (m.held_server_rss_mb - m.start_server_rss_mb) *
                                                    1024.0 / static_cast<double>(m.users_joined);
        }
        st.counters["join_all_ms"] = m.join_all_ms;
        st.counters["probe_healthz_ms"] = m.probe_healthz_ms;
        st.counters["probe_join_ms"] = m.probe_join_ms;
        st.counters["probe_pong_ms"] = m.probe_pong_ms;
        st.SetLabel(describe(
            m, label.empty() ? "time = a fresh client's join while all are connected" : label));
    }
}

}  // namespace

void register_load_benchmarks() {
    for (std::size_t u : options().users)
        load(benchmark::RegisterBenchmark(fmt::format("load/users:{}", u).c_str(), bm_users, u,
                                          Workload::Seed));
    // A shard runs its share of the seed runs only: the rest need the whole run in one process.
    if (options().shard_count > 1 || !options().coordinator.empty()) return;
    for (const auto& p : options().profiles)
        for (std::size_t u : options().users)
            load(benchmark::RegisterBenchmark(fmt::format("load/users:{}/profile:{}", u, p).c_str(),
                                              bm_users_profile, u, p));
    load(benchmark::RegisterBenchmark("load/bandwidth/users:30", bm_bandwidth));
    load(benchmark::RegisterBenchmark("load/latency/users:10/messages:20", bm_latency));
    load(benchmark::RegisterBenchmark("load/editing/users:50", bm_users, std::size_t{50},
                                      Workload::Editing));
    load(benchmark::RegisterBenchmark("load/cursor_storm/users:50", bm_users, std::size_t{50},
                                      Workload::CursorStorm));
    load(benchmark::RegisterBenchmark(
        fmt::format("load/join_storm/users:{}", options().join_storm_users).c_str(),
        bm_join_storm));
    load(benchmark::RegisterBenchmark("load/capacity", bm_capacity));
    // These start (and kill) servers of their own: not registered against a --target.
    // The throttle runs set the server's interval: a target has its own.
    const bool own_server = options().target.empty();
    if (own_server)
        load(benchmark::RegisterBenchmark("load/join_storm/protected", bm_join_storm_protected));
    for (std::uint32_t ms_ : {0u, 150u})
        if (own_server)
            load(benchmark::RegisterBenchmark(
                fmt::format("load/graphop_throttle/interval_ms:{}/burst:8/users:20", ms_).c_str(),
                bm_graphop_throttle, ms_));
    for (std::size_t n : {1000, 10000})
        load(benchmark::RegisterBenchmark(fmt::format("conn/idle/connections:{}", n).c_str(),
                                          bm_conn_idle, n));
    register_fault_benchmarks(own_server);
    if (own_server) register_cluster_benchmarks();
    if (own_server) register_tls_benchmarks();
    register_soak_benchmarks();
    register_scenario_benchmarks();
}

int print_load_reports() {
    std::FILE* out = options().reports_to_stderr ? stderr : stdout;
    if (g_latency_run) {
        std::fprintf(out,
                     "\nload/latency: per-user durable latency (ms, from intended send time)\n");
        std::fprintf(out, "%-6s %8s %8s %8s %8s %8s %8s %8s\n", "user", "recv", "min", "mean",
                     "p50", "p99", "max", "lost");
        for (std::size_t i = 0; i < g_latency_run->per_user.size(); ++i) {
            const auto& u = g_latency_run->per_user[i];
            const auto& h = u.latency;
            const std::uint64_t lost = u.durable_expected > u.durable_received
                                           ? u.durable_expected - u.durable_received
                                           : 0;
            // A user that lost messages has no finite mean or max, and its percentiles count them.
            auto ms = [](double v) {
                return std::isfinite(v) ? fmt::format("{:8.2f}", v) : fmt::format("{:>8}", "lost");
            };
            const double inf = std::numeric_limits<double>::infinity();
            std::fprintf(out, "%-6zu %8llu %8.2f %s %s %s %s %8llu\n", i,
                         static_cast<unsigned long long>(u.durable_received), h.min() / 1000.0,
                         ms(lost ? inf : h.mean() / 1000.0).c_str(),
                         ms(harness::percentile_with_lost_ms(h, lost, 50)).c_str(),
                         ms(harness::percentile_with_lost_ms(h, lost, 99)).c_str(),
                         ms(lost ? inf : h.max() / 1000.0).c_str(),
                         static_cast<unsigned long long>(lost));
        }
    }
    if (g_bandwidth_run) {
        const auto& m = g_bandwidth_run->metrics;
        const double s = std::max(m.measured_s, 1e-3);
        std::fprintf(
            out,
            "\nload/bandwidth: 30 users, by message type (client view; in = clients to server)\n");
        std::fprintf(out, "%-20s %12s %10s %12s %10s\n", "type", "msgs in", "Mbps in", "msgs out",
                     "Mbps out");
        for (std::size_t i = 0; i < liveshare::kMsgTypeCount; ++i) {
            auto bi = m.totals.bytes_out_by_type[i], bo = m.totals.bytes_in_by_type[i];
            if (!bi && !bo) continue;
            std::fprintf(
                out, "%-20s %12llu %10.3f %12llu %10.3f\n",
                liveshare::to_string(static_cast<liveshare::MsgType>(i)),
                static_cast<unsigned long long>(m.totals.msgs_out_by_type[i]), bi * 8 / s / 1e6,
                static_cast<unsigned long long>(m.totals.msgs_in_by_type[i]), bo * 8 / s / 1e6);
        }
        std::fprintf(out, "%-20s %12s %10.3f %12s %10.3f\n", "total", "", m.mbps_in, "",
                     m.mbps_out);
    }
    print_netsim_report(out);
    print_summary(out);
    int rc = failures() ? 1 : 0;
    std::vector<harness::CriterionResult> results;
    if (!g_seed_runs.empty())
        results = harness::evaluate_seed_criteria(g_seed_runs, options().server_threads);
    if (!write_timeseries(results)) rc = 1;
    if (rc)
        std::fprintf(out, "\n%d benchmark(s) failed (see their error messages above)\n",
                     failures());
    if (g_seed_runs.empty()) return rc;
    std::fprintf(out, "\nSeed success criteria (load/users:N, seed workload)\n%s",
                 harness::format_criteria(results).c_str());
    const auto& report_only = options().criteria_report_only;
    bool failed = false;
    for (const auto& r : results) {
        if (r.pass) continue;
        if (r.users &&
            std::find(report_only.begin(), report_only.end(), r.users) != report_only.end())
            std::fprintf(out, "criteria: '%s' is reported, not gating (--criteria_report_only)\n",
                         r.name.c_str());
        else
            failed = true;
    }
    if (failed && options().criteria_exit) {
        std::fprintf(out, "criteria: FAIL (--criteria_exit)\n");
        return 1;
    }
    return rc;
}

}  // namespace bench
