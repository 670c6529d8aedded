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

#include "client.hpp"
#include "prometheus.hpp"
#include "failures.hpp"
#include "criteria.hpp"
#include "netsim.hpp"
#include "options.hpp"
#include "server_process.hpp"

namespace bench {

using harness::LoadTestConfig;
using harness::LoadTestConfigBuilder;
using harness::LoadTestMetrics;
using harness::LoadTestResult;
using harness::Workload;
using ms = std::chrono::milliseconds;

namespace {

std::map<std::size_t, std::vector<LoadTestMetrics>> g_seed_runs;  // users -> every repetition
std::optional<LoadTestResult> g_latency_run, g_bandwidth_run;

ms secs(double s) { return ms(static_cast<long>(s * 1000)); }

LoadTestConfigBuilder base_config(std::size_t users, Workload w) {
    const Options& o = options();
    return LoadTestConfigBuilder()
        .users(users)
        .room_size(o.room_size)
        .workload(w)
        .warmup(secs(o.warmup_s))
        .duration(secs(o.duration_s))
        .drain(secs(o.drain_s))
        .messages_per_user(0)
        .generator_threads(o.generator_threads)
        .seed(o.seed)
        .offer_batch(o.client_batch)
        .offer_deflate(o.client_deflate)
        .progress(o.progress);
}

// The flags of a server the bench starts. The seed sends a graph op every 100 ms: the
// original's 150 ms per-connection throttle and 10/s critical bucket would reject a third of
// them, so the load runs lift both (the protocol tests cover them). Rooms are raised to hold
// every user of the run.
std::vector<std::string> bench_server_args(std::size_t max_room_users, const std::string& db,
                                           const std::string& profile = "", const std::string& durability = "") {
    const Options& o = options();
    std::vector<std::string> args = {"--threads=" + std::to_string(o.server_threads), "--db=" + db,
                                     "--max-users=" + std::to_string(max_room_users + 1),
                                     "--graphop-interval-ms=0", "--rate-critical=0/0", "--quiet=1"};
    if (!profile.empty()) args.push_back("--profile=" + profile);
    if (!durability.empty()) args.push_back("--durability=" + durability);
    args.insert(args.end(), o.server_flags.begin(), o.server_flags.end());
    return args;
}

std::string bench_db_path() {
    static int run_no = 0;
    return fmt::format("/tmp/liveshare-bench-{}-{}.db", getpid(), run_no++);
}

void remove_db(const std::string& db) {
    for (auto suffix : {"", "-wal", "-shm"}) std::filesystem::remove(db + suffix);
}

std::string server_binary() {
    const Options& o = options();
    return o.server_binary.empty() ? harness::find_server_binary() : o.server_binary;
}

// The server's own /metrics at the end of a run.
void scrape_metrics(const std::string& url, LoadTestResult& result, std::string& label) {
    try {
        result.metrics.server_metrics = harness::scrape_metrics(harness::parse_ws_url(url));
    } catch (const std::exception& e) {
        label = std::string("metrics scrape failed: ") + e.what();
    }
}

// One load run against the --target, or against a fresh server process started for it.
// `extra` server flags come after the bench's own, so they override them.
LoadTestResult run_against_server(LoadTestConfig cfg, std::size_t max_room_users, std::string& label,
                                  const std::string& profile = "", const std::vector<std::string>& extra = {}) {
    const Options& o = options();
    if (!o.target.empty()) {
        cfg.target = o.target;
        cfg.rooms = o.rooms;
        cfg.rest_header = o.rest_header;
        label = "target " + o.target + " (server CPU/RSS not measured)";
        return harness::run_load_test(cfg);
    }
    const std::string db = bench_db_path();
    auto args = bench_server_args(max_room_users, db, profile);
    args.insert(args.end(), extra.begin(), extra.end());
    harness::ServerProcess server(server_binary(), args);
    cfg.target = server.url();
    auto result = harness::run_load_test(cfg, server.pid());
    scrape_metrics(cfg.target, result, label);
    server.stop();
    remove_db(db);
    return result;
}

// A percentile that falls among lost messages is infinite: it gets no counter (JSON has no
// infinity), the `lost` counter and the label say why.
void set_latency_counters(benchmark::UserCounters& c, const LoadTestMetrics& m) {
    auto put = [&](const char* name, double v) {
        if (std::isfinite(v)) c[name] = v;
    };
    put("p50_ms", m.p_ms(50));
    put("p90_ms", m.p_ms(90));
    put("p95_ms", m.p_ms(95));
    put("p99_ms", m.p_ms(99));
    put("p999_ms", m.p_ms(99.9));
    if (m.lost == 0) put("max_ms", static_cast<double>(m.totals.latency.max()) / 1000.0);
    put("p99_uncorrected_ms", m.p_uncorrected_ms(99));
}

void set_counters(benchmark::State& st, const LoadTestMetrics& m) {
    auto& c = st.counters;
    if (m.totals.latency.count()) set_latency_counters(c, m);
    c["msgs_sent_per_s"] = m.msgs_sent_per_s;
    c["deliveries_per_s"] = m.deliveries_per_s;
    if (m.delivery_pct) c["delivery_pct"] = *m.delivery_pct;  // absent: nothing was expected
    c["lost"] = static_cast<double>(m.lost);
    c["duplicates"] = static_cast<double>(m.totals.durable_duplicates);
    c["out_of_order"] = static_cast<double>(m.totals.durable_out_of_order);
    c["error_pct"] = m.error_pct;
    c["mbps_in"] = m.mbps_in;
    c["mbps_out"] = m.mbps_out;
    c["mbps_out_per_user"] = m.mbps_out_per_user;
    c["drain_s"] = m.drain_s;
    c["deliveries_in_drain"] = static_cast<double>(m.deliveries_in_drain);
    c["server_cpu_pct"] = m.server_cpu_pct;
    c["server_cpu_peak_pct"] = m.server_cpu_peak_pct;
    c["server_rss_mb"] = m.server_rss_peak_mb;
    c["loopback_mbps"] = m.loopback_mbps;
    // From the server's own /metrics at the end of the run.
    auto scraped = [&](const char* k) {
        auto it = m.server_metrics.find(k);
        return it == m.server_metrics.end() ? 0.0 : it->second;
    };
    if (!m.server_metrics.empty()) {
        c["server_queue_max_kb"] = scraped("liveshare_send_queue_bytes_max") / 1024.0;
        c["server_volatile_drops"] = scraped("liveshare_drops_total{reason=\"volatile_queue_full\"}") +
                                     scraped("liveshare_drops_total{reason=\"cursor_throttle\"}");
        c["server_coalesced"] = scraped("liveshare_drops_total{reason=\"coalesced\"}");
        c["slow_consumer_closes"] = scraped("liveshare_slow_consumer_closes_total");
    }
    if (m.deliveries_per_s > 0 && m.server_measured)
        c["server_cpu_us_per_delivery"] = m.server_cpu_pct / 100.0 * 1e6 / m.deliveries_per_s;
    // Cost per delivery over the sending window: absent when not measured, never 0.
    auto put = [&](const char* k, const std::optional<double>& v) {
        if (v) c[k] = *v;
    };
    put("server_syscalls_per_delivery", m.server_syscalls_per_delivery);
    put("server_socket_calls_per_delivery", m.server_socket_calls_per_delivery);
    put("deliveries_per_write", m.deliveries_per_write);
    put("generator_cpu_us_per_delivery", m.generator_cpu_us_per_delivery);
    put("generator_syscalls_per_delivery", m.generator_syscalls_per_delivery);
    c["generator_cpu_pct"] = m.generator_cpu_pct;
    c["generator_thread_peak_pct"] = m.generator_thread_peak_pct;
    c["machine_busy_pct"] = m.machine_busy_pct;
    c["generator_saturated"] = m.generator_saturated ? 1 : 0;
    c["machine_saturated"] = m.machine_saturated ? 1 : 0;
    // Absent when convergence was not checked (join storms, cursors, idle connections).
    if (m.convergence != harness::Convergence::NotChecked)
        c["converged"] = m.convergence == harness::Convergence::Converged ? 1 : 0;
    c["users_joined"] = static_cast<double>(m.users_joined);
    if (m.totals.staleness.count()) {
        c["staleness_p50_ms"] = static_cast<double>(m.totals.staleness.percentile(50)) / 1000.0;
        c["staleness_p99_ms"] = static_cast<double>(m.totals.staleness.percentile(99)) / 1000.0;
        c["volatile_received"] = static_cast<double>(m.totals.volatile_received);
    }
}

std::string describe(const LoadTestMetrics& m, std::string label) {
    std::vector<std::string> notes;
    if (!label.empty()) notes.push_back(std::move(label));
    if (m.lost) {
        const auto all = m.totals.durable_expected;
        notes.push_back(fmt::format("LOSS: {} of {} durable deliveries had not arrived when the {:.1f} s drain ended{}", m.lost,
                                    all, m.drain_s, std::isinf(m.p_ms(99)) ? " (p99 is among them)" : ""));
    }
    if (m.generator_saturated)
        notes.push_back(fmt::format("GENERATOR-BOUND (busiest generator thread {:.0f}% of a core, timer lag p99 {:.1f} ms, limit {:.1f} ms)",
                                    m.generator_thread_peak_pct, m.send_lag_p99_ms, m.send_lag_limit_ms));
    if (m.machine_saturated)
        notes.push_back(fmt::format("MACHINE-BUSY ({:.0f}% of all cores: server and generator compete)", m.machine_busy_pct));
    if (m.convergence == harness::Convergence::Diverged) notes.push_back("NOT CONVERGED: " + m.convergence_detail);
    if (!m.totals.errors.empty()) {
        auto& [k, v] = *m.totals.errors.begin();
        notes.push_back(fmt::format("errors: {} x '{}'{}", v, k, m.totals.errors.size() > 1 ? " ..." : ""));
    }
    std::string s;
    for (auto& n : notes) s += (s.empty() ? "" : "; ") + n;
    return s;
}

// Iteration time (manual) = p99 latency of durable deliveries, from intended send time, so
// comparison tools see latency changes in the time column.
void finish(benchmark::State& st, const LoadTestResult& r, const std::string& label) {
    const auto& m = r.metrics;
    if (m.users_joined == 0) {
        fail(st, "no user could join: " + describe(m, label));
        return;
    }
    // Volatile-only workloads (cursor_storm) have no durable latency: their time is staleness.
    const bool durable = m.totals.latency.count() + m.lost > 0;
    if (!durable && m.totals.staleness.count() == 0) {
        fail(st, "nothing was delivered: no latency to report; " + describe(m, label));
        return;
    }
    const double p99 = durable ? m.p_ms(99) : static_cast<double>(m.totals.staleness.percentile(99)) / 1000.0;
    if (std::isinf(p99)) {
        // A message that never arrived is infinitely late: no time is honest here.
        fail(st, describe(m, label));
        return;
    }
    st.SetIterationTime(p99 / 1000.0);
    set_counters(st, m);
    st.SetLabel(describe(m, durable ? label : (label.empty() ? "" : label + "; ") + "time = volatile staleness p99"));
}

void bm_users(benchmark::State& st, std::size_t users, Workload w) {
    for (auto _ : st) {
        std::string label;
        auto cfg = base_config(users, w).build();
        auto r = run_against_server(cfg, options().room_size ? options().room_size : users, label);
        finish(st, r, label);
        if (w == Workload::Seed) g_seed_runs[users].push_back(r.metrics);
    }
}

void bm_users_profile(benchmark::State& st, std::size_t users, std::string profile) {
    for (auto _ : st) {
        std::string label;
        auto cfg = base_config(users, Workload::Seed).build();
        auto r = run_against_server(cfg, options().room_size ? options().room_size : users, label, profile);
        finish(st, r, label);
    }
}

void bm_bandwidth(benchmark::State& st) {
    for (auto _ : st) {
        std::string label;
        auto cfg = base_config(30, Workload::Seed).build();
        auto r = run_against_server(cfg, 30, label);
        finish(st, r, label);
        const double secs_run = std::max(r.metrics.measured_s, 1e-3);
        for (std::size_t i = 0; i < liveshare::kMsgTypeCount; ++i) {
            auto name = liveshare::to_string(static_cast<liveshare::MsgType>(i));
            if (auto b = r.metrics.totals.bytes_out_by_type[i])
                st.counters[std::string("mbps_in_") + name] = static_cast<double>(b) * 8 / secs_run / 1e6;
            if (auto b = r.metrics.totals.bytes_in_by_type[i])
                st.counters[std::string("mbps_out_") + name] = static_cast<double>(b) * 8 / secs_run / 1e6;
        }
        g_bandwidth_run = std::move(r);
    }
}

// The seed's latency scenario: 10 users x 20 messages.
void bm_latency(benchmark::State& st) {
    for (auto _ : st) {
        std::string label;
        auto cfg = base_config(10, Workload::Seed).messages_per_user(20).warmup(ms(0)).duration(ms(60000)).build();
        auto r = run_against_server(cfg, 10, label);
        finish(st, r, label);
        g_latency_run = std::move(r);
    }
}

// Doubles users (rooms of capacity_room_size) until p99 passes the SLO or durable delivery
// drops below 99.9%; reports the last passing step.
void bm_capacity(benchmark::State& st) {
    const Options& o = options();
    for (auto _ : st) {
        std::size_t pass_users = 0, steps = 0;
        double pass_deliveries = 0, pass_p99 = 0, pass_server_cpu = 0, pass_per_write = 0;
        bool stopped_by_generator = false;
        std::string stop_reason = "reached --capacity_max_users";
        LoadTestMetrics last;
        for (std::size_t users = o.capacity_room_size; users <= o.capacity_max_users; users *= 2) {
            std::string label;
            auto cfg = base_config(users, Workload::Seed).room_size(o.capacity_room_size)
                           .warmup(secs(std::min(o.warmup_s, 1.0))).duration(secs(std::min(o.duration_s, 3.0))).build();
            auto r = run_against_server(cfg, o.capacity_room_size, label);
            ++steps;
            const auto& m = r.metrics;
            last = m;
            const double delivery = m.delivery_pct.value_or(0);
            if (o.progress) std::fprintf(stderr, "[capacity] %zu users: p99 %.1f ms, delivery %.3f%%, %.0f deliveries/s%s\n",
                                         users, m.p_ms(99), delivery, m.deliveries_per_s,
                                         m.generator_saturated ? " (generator-bound)" : "");
            // NaN and infinity (nothing measured, p99 among lost messages) fail the step too.
            if (!(m.p_ms(99) <= o.slo_p99_ms) || delivery < 99.9 || m.users_joined < users) {
                stopped_by_generator = m.generator_saturated;
                stop_reason = fmt::format("{} users failed: p99 {:.1f} ms, delivery {:.3f}%, joined {}{}", users, m.p_ms(99),
                                          delivery, m.users_joined,
                                          m.generator_saturated ? ", generator-bound (the server's own limit is higher)" : "");
                break;
            }
            pass_users = users;
            pass_deliveries = m.deliveries_per_s;
            pass_p99 = m.p_ms(99);
            pass_server_cpu = m.server_cpu_pct;
            pass_per_write = m.deliveries_per_write.value_or(0);
        }
        if (pass_users == 0) {
            fail(st, "the first step already failed: " + stop_reason + "; " + describe(last, ""));
            continue;
        }
        st.SetIterationTime(pass_p99 / 1000.0);
        st.counters["capacity_users"] = static_cast<double>(pass_users);
        st.counters["capacity_deliveries_per_s"] = pass_deliveries;
        st.counters["p99_ms"] = pass_p99;
        st.counters["steps"] = static_cast<double>(steps);
        st.counters["generator_threads"] = static_cast<double>(std::max(1u, o.generator_threads));
        st.counters["stopped_generator_bound"] = stopped_by_generator ? 1 : 0;
        st.counters["capacity_server_cpu_pct"] = pass_server_cpu;
        if (pass_per_write > 0) st.counters["capacity_deliveries_per_write"] = pass_per_write;
        st.SetLabel(fmt::format("slo p99<{}ms; stopped: {}", o.slo_p99_ms, stop_reason));
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
        auto cfg = base_config(users, Workload::Burst).build();
        auto r = run_against_server(cfg, users, label, "",
                                    {"--graphop-interval-ms=" + std::to_string(interval_ms), "--graphop-queue=16"});
        finish(st, r, label);
        const auto& sm = r.metrics.server_metrics;
        // Only what the server's /metrics said: absent (not -1 or 0) when it said nothing.
        for (auto [counter, key] : {std::pair{"graphops_delayed", "liveshare_graphops_delayed_total"},
                                    std::pair{"graphops_refused", "liveshare_drops_total{reason=\"graphop_throttled\"}"}})
            if (auto it = sm.find(key); it != sm.end()) st.counters[counter] = it->second;
    }
}

void bm_join_storm(benchmark::State& st) {
    const std::size_t users = options().join_storm_users;
    for (auto _ : st) {
        std::string label;
        auto cfg = base_config(users, Workload::JoinStorm).build();
        auto r = run_against_server(cfg, options().room_size ? options().room_size : users, label);
        const auto& m = r.metrics;
        if (m.users_joined == 0) {
            fail(st, "no user could join: " + describe(m, label));
            continue;
        }
        st.SetIterationTime(m.join_all_ms / 1000.0);
        st.counters["join_all_ms"] = m.join_all_ms;
        st.counters["join_p50_ms"] = static_cast<double>(m.totals.join_time.percentile(50)) / 1000.0;
        st.counters["join_p99_ms"] = static_cast<double>(m.totals.join_time.percentile(99)) / 1000.0;
        st.counters["users_joined"] = static_cast<double>(m.users_joined);
        st.counters["server_cpu_peak_pct"] = m.server_cpu_peak_pct;
        st.counters["server_rss_mb"] = m.server_rss_peak_mb;
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
        const std::string db = fmt::format("/tmp/liveshare-bench-{}-protected.db", getpid());
        harness::ServerProcess server(o.server_binary.empty() ? harness::find_server_binary() : o.server_binary,
                                      {"--threads=" + std::to_string(o.server_threads), "--db=" + db, "--quiet=1",
                                       "--graphop-interval-ms=0", "--rate-critical=0/0", "--bcrypt-cost=12"});
        auto steady = base_config(10, Workload::Seed).warmup(ms(500)).duration(ms(8000)).seed(o.seed + 1)
                          .target(server.url()).build();
        auto storm = base_config(storm_users, Workload::JoinStorm).room_password("correct horse")
                         .join_timeout(ms(60000)).seed(o.seed + 2).progress(false).target(server.url()).build();
        // The storm starts inside the measured window: once the steady room has sent 1.5 s of
        // its messages past the warm-up (10 users x 10/s).
        std::promise<void> in_window;
        steady.triggers.push_back({static_cast<std::uint64_t>(10 * 10 * 2.0), [&] { in_window.set_value(); }});
        harness::LoadTestResult steady_result, storm_result;
        std::thread steady_thread([&] { steady_result = harness::run_load_test(steady, server.pid()); });
        in_window.get_future().wait();
        try {
            storm_result = harness::run_load_test(storm);
        } catch (const std::exception& e) {
            fail(st, e.what());
        }
        steady_thread.join();
        server.stop();
        for (auto suffix : {"", "-wal", "-shm"}) std::filesystem::remove(db + suffix);
        const auto& m = steady_result.metrics;
        if (!std::isfinite(m.p_ms(99))) {
            fail(st, "the unprotected room measured nothing: " + describe(m, ""));
            continue;
        }
        st.SetIterationTime(m.p_ms(99) / 1000.0);
        set_counters(st, m);
        st.counters["storm_users_joined"] = static_cast<double>(storm_result.metrics.users_joined);
        st.counters["storm_join_all_ms"] = storm_result.metrics.join_all_ms;
        st.counters["storm_join_p50_ms"] = static_cast<double>(storm_result.metrics.totals.join_time.percentile(50)) / 1000.0;
        st.SetLabel(describe(m, "time = p99 of an unprotected room during a protected join storm"));
    }
}

// Idle connections: N users join (rooms of 50) and stay; server RSS per connection, and a
// fresh client's /healthz, join and ping while they are all connected.
void bm_conn_idle(benchmark::State& st, std::size_t connections) {
    for (auto _ : st) {
        std::string label;
        auto cfg = base_config(connections, Workload::JoinStorm).room_size(50).idle_hold(ms(2000))
                       .join_timeout(ms(60000)).build();
        auto r = run_against_server(cfg, 50, label);
        const auto& m = r.metrics;
        if (m.users_joined == 0) {
            fail(st, "no connection joined: " + describe(m, label));
            continue;
        }
        if (m.probe_join_ms < 0) {
            fail(st, fmt::format("the probe could not join while {} connections were held: {}", m.users_joined,
                                 describe(m, label)));
            continue;
        }
        st.SetIterationTime(m.probe_join_ms / 1000.0);
        st.counters["connections"] = static_cast<double>(m.users_joined);
        st.counters["server_rss_mb"] = m.held_server_rss_mb;
        st.counters["server_rss_per_conn_kb"] =
            (m.held_server_rss_mb - m.start_server_rss_mb) * 1024.0 / static_cast<double>(m.users_joined);
        st.counters["join_all_ms"] = m.join_all_ms;
        st.counters["probe_healthz_ms"] = m.probe_healthz_ms;
        st.counters["probe_join_ms"] = m.probe_join_ms;
        st.counters["probe_pong_ms"] = m.probe_pong_ms;
        st.SetLabel(describe(m, label.empty() ? "time = a fresh client's join while all are connected" : label));
    }
}

// ---- network impairment and faults

void set_fault_counters(benchmark::UserCounters& c, const harness::UserMetrics& T) {
    c["reconnects"] = static_cast<double>(T.reconnects);
    c["resumes"] = static_cast<double>(T.resumes);
    c["resyncs"] = static_cast<double>(T.resyncs);
    c["replayed"] = static_cast<double>(T.replayed);
    c["resent"] = static_cast<double>(T.resent);
    c["rollbacks"] = static_cast<double>(T.rollbacks);
}

struct NetsimSpec {
    double latency_ms = 0, loss_pct = 0, resets_per_min = 0;
};

struct NetsimRun {
    std::string name;
    NetsimSpec spec;
    LoadTestMetrics m;
    harness::ProxyStats proxy;
    bool real_loss = false;
    std::uint64_t dropped = 0, retransmits = 0;
};
std::vector<NetsimRun> g_netsim_runs;

// netsim_users users (seed workload) reach the server through the impairment proxy and
// reconnect and resume when a connection breaks. Packet loss is real (the server in a
// network namespace of ours, nftables dropping packets) when we are root and start the
// server; otherwise the proxy models it, and the label says so.
void bm_netsim(benchmark::State& st, std::string name, NetsimSpec spec) {
    const Options& o = options();
    for (auto _ : st) {
        std::vector<std::string> notes;
        NetsimRun run{name, spec};
        harness::ImpairmentSettings is;
        is.latency_ms = spec.latency_ms;
        is.jitter_ms = spec.latency_ms > 0 ? o.netsim_jitter_ms : 0;
        is.resets_per_min = spec.resets_per_min;
        is.seed = o.seed;
        std::unique_ptr<harness::LossNamespace> ns;
        if (spec.loss_pct > 0) {
            std::string why;
            if (!o.loss_model && o.target.empty() && harness::LossNamespace::available(why)) {
                ns = std::make_unique<harness::LossNamespace>(spec.loss_pct);
                run.real_loss = true;
                notes.push_back(fmt::format("real loss {}% each way (netns {})", spec.loss_pct, ns->name()));
            } else {
                is.loss_pct = spec.loss_pct;
                if (o.loss_model) why = "--loss_model";
                else if (!o.target.empty()) why = "--target: the server is not ours to move into a namespace";
                notes.push_back(fmt::format("loss {}% MODELLED in the proxy, not real ({})", spec.loss_pct, why));
            }
        }
        std::unique_ptr<harness::ServerProcess> server;
        std::string host, db;
        std::uint16_t port = 0;
        if (!o.target.empty()) {
            auto ep = harness::parse_ws_url(o.target);
            host = ep.host;
            port = ep.port;
        } else {
            db = bench_db_path();
            harness::ServerLaunch launch;
            if (ns) {
                launch.address = ns->inner_address();
                launch.prefix = ns->exec_prefix();
            }
            server = std::make_unique<harness::ServerProcess>(server_binary(), bench_server_args(o.netsim_users, db),
                                                              std::chrono::milliseconds(20000), launch);
            host = server->address();
            port = server->port();
        }
        LoadTestResult r;
        {
            harness::ImpairmentProxy proxy(host, port, is);
            // Under packet loss TCP retransmits with exponential backoff (200 ms, 400, 800, 1.6 s,
            // 3.2 s): the drain waits out five consecutive losses of one segment, so "lost" means
            // lost, not late beyond a short drain.
            const double drain_s = spec.loss_pct > 0 ? std::max(o.drain_s, 10.0) : o.drain_s;
            auto cfg = base_config(o.netsim_users, Workload::Seed).reconnect(true).drain(secs(drain_s)).target(proxy.url()).build();
            // Faults are injected while users send; the drain and the convergence check run
            // on a network that still has its latency and loss but no more resets.
            cfg.before_drain = [&proxy] { proxy.set_fault_rates(0, 0); };
            r = harness::run_load_test(cfg, server ? server->pid() : -1);
            run.proxy = proxy.stats();
        }
        std::string label;
        if (server) {
            scrape_metrics(server->url(), r, label);
            server->stop();
            remove_db(db);
        }
        if (ns) {
            run.dropped = ns->dropped_packets();
            run.retransmits = ns->tcp_retransmits();
        }
        notes.insert(notes.begin(), label);
        std::string all;
        for (auto& n : notes)
            if (!n.empty()) all += (all.empty() ? "" : "; ") + n;
        finish(st, r, all);
        auto& c = st.counters;
        set_fault_counters(c, r.metrics.totals);
        c["proxy_resets"] = static_cast<double>(run.proxy.resets);
        c["latency_ms_one_way"] = spec.latency_ms;
        c["loss_pct"] = spec.loss_pct;
        c["loss_real"] = run.real_loss ? 1 : 0;
        if (run.real_loss) {
            c["packets_dropped"] = static_cast<double>(run.dropped);
            c["server_retransmits"] = static_cast<double>(run.retransmits);
        } else if (spec.loss_pct > 0) {
            c["segments_lost_model"] = static_cast<double>(run.proxy.segments_lost);
        }
        run.m = r.metrics;
        g_netsim_runs.push_back(std::move(run));
    }
}

// SIGKILL mid-run: netsim_users users, the server killed at 40% of the measured window and
// restarted on the same port and database half a second later; users reconnect and resume.
// With --durability=group nothing a client received may be lost (rollbacks = 0, delivery
// 100%); with none the restarted server has forgotten what the last snapshot did not hold.
void bm_server_kill(benchmark::State& st, std::string durability) {
    const Options& o = options();
    for (auto _ : st) {
        const std::string db = bench_db_path();
        const auto args = bench_server_args(o.netsim_users, db, "", durability);
        auto server = std::make_unique<harness::ServerProcess>(server_binary(), args);
        harness::ServerLaunch same_port;
        same_port.port = server->port();
        // Killed once the users have sent 40 % of the measured window's messages (after the
        // warm-up's): a point of the run's progress, not a guess at its timing.
        const double per_user_per_s = 10;  // the seed: one message per 100 ms
        const auto at = static_cast<std::uint64_t>(static_cast<double>(o.netsim_users) * per_user_per_s *
                                                   (o.warmup_s + 0.4 * o.duration_s));
        std::promise<void> killed;
        std::chrono::steady_clock::time_point down;
        auto cfg = base_config(o.netsim_users, Workload::Seed).reconnect(true).target(server->url())
                       .trigger(at, [&] {
                           server->kill_hard();
                           down = std::chrono::steady_clock::now();
                           killed.set_value();
                       })
                       .build();
        LoadTestResult r;
        std::thread run([&] { r = harness::run_load_test(cfg); });
        killed.get_future().wait();
        std::this_thread::sleep_for(ms(500));  // the outage itself
        std::string label;
        try {
            server = std::make_unique<harness::ServerProcess>(server_binary(), args, ms(20000), same_port);
        } catch (const std::exception& e) {
            label = std::string("restart failed: ") + e.what();
        }
        const double restart_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - down).count();
        run.join();
        if (server->running()) {
            scrape_metrics(server->url(), r, label);
            server->stop();
        }
        remove_db(db);
        finish(st, r, label + (label.empty() ? "" : "; ") + "durability " + durability);
        auto& c = st.counters;
        // Two server processes served this run: per-process CPU and RSS would mislead.
        for (auto k : {"server_cpu_pct", "server_cpu_peak_pct", "server_rss_mb", "server_cpu_us_per_delivery", "server_syscalls_per_delivery", "server_socket_calls_per_delivery", "deliveries_per_write"}) c.erase(k);
        set_fault_counters(c, r.metrics.totals);
        c["restart_ms"] = restart_ms;
    }
}

// The durability mode's cost without faults: the seed workload with --durability=none or
// group (each durable message committed to SQLite with fsync before fan-out).
void bm_durability(benchmark::State& st, std::size_t users, std::string durability) {
    for (auto _ : st) {
        const std::string db = bench_db_path();
        harness::ServerProcess server(server_binary(), bench_server_args(users, db, "", durability));
        auto cfg = base_config(users, Workload::Seed).target(server.url()).build();
        auto r = harness::run_load_test(cfg, server.pid());
        std::string label;
        scrape_metrics(server.url(), r, label);
        server.stop();
        remove_db(db);
        finish(st, r, label);
        auto it = r.metrics.server_metrics.find("liveshare_durable_commits_total");
        auto ops = r.metrics.server_metrics.find("liveshare_durable_ops_total");
        if (it != r.metrics.server_metrics.end() && ops != r.metrics.server_metrics.end() && it->second > 0) {
            st.counters["group_commits"] = it->second;
            st.counters["ops_per_commit"] = ops->second / it->second;
        }
    }
}

benchmark::internal::Benchmark* load(benchmark::internal::Benchmark* b) {
    return b->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);
}

}  // namespace

void register_load_benchmarks() {
    for (std::size_t u : options().users)
        load(benchmark::RegisterBenchmark(fmt::format("load/users:{}", u).c_str(), bm_users, u, Workload::Seed));
    for (const auto& p : options().profiles)
        for (std::size_t u : options().users)
            load(benchmark::RegisterBenchmark(fmt::format("load/users:{}/profile:{}", u, p).c_str(), bm_users_profile, u, p));
    load(benchmark::RegisterBenchmark("load/bandwidth/users:30", bm_bandwidth));
    load(benchmark::RegisterBenchmark("load/latency/users:10/messages:20", bm_latency));
    load(benchmark::RegisterBenchmark("load/editing/users:50", bm_users, std::size_t{50}, Workload::Editing));
    load(benchmark::RegisterBenchmark("load/cursor_storm/users:50", bm_users, std::size_t{50}, Workload::CursorStorm));
    load(benchmark::RegisterBenchmark(fmt::format("load/join_storm/users:{}", options().join_storm_users).c_str(), bm_join_storm));
    load(benchmark::RegisterBenchmark("load/capacity", bm_capacity));
    // These start (and kill) servers of their own: not registered against a --target.
    const bool own_server = options().target.empty();
    if (own_server) load(benchmark::RegisterBenchmark("load/join_storm/protected", bm_join_storm_protected));
    for (std::uint32_t ms_ : {0u, 150u})
        load(benchmark::RegisterBenchmark(fmt::format("load/graphop_throttle/interval_ms:{}/burst:8/users:20", ms_).c_str(),
                                          bm_graphop_throttle, ms_));
    for (std::size_t n : {1000, 10000})
        load(benchmark::RegisterBenchmark(fmt::format("conn/idle/connections:{}", n).c_str(), bm_conn_idle, n));
    // The seed's impaired network (20 users, 10 ms, 5% loss), then one factor at a time.
    auto netsim = [](std::string name, NetsimSpec spec) {
        load(benchmark::RegisterBenchmark(name.c_str(), bm_netsim, name, spec));
    };
    netsim("load/netsim", {10, 5, 0});
    for (double l : {50.0, 150.0}) netsim(fmt::format("load/netsim/latency_ms:{}", l), {l, 0, 0});
    for (double p : {1.0, 5.0, 10.0}) netsim(fmt::format("load/netsim/loss_pct:{}", p), {10, p, 0});
    for (double n : {60.0, 600.0}) netsim(fmt::format("load/faults/resets_per_min:{}", n), {0, 0, n});
    if (!own_server) return;
    load(benchmark::RegisterBenchmark("load/faults/server_kill/durability:group", bm_server_kill, std::string("group")));
    // Without the durability mode a kill loses what no snapshot held: that run ends in the
    // error state naming the loss (a lost message is infinitely late), so it sits outside the
    // load family the main job runs (filter `server_kill` runs both).
    load(benchmark::RegisterBenchmark("loss/faults/server_kill/durability:none", bm_server_kill, std::string("none")));
    for (std::size_t u : {50, 100})
        for (const char* d : {"none", "group"})
            load(benchmark::RegisterBenchmark(fmt::format("load/durability:{}/users:{}", d, u).c_str(), bm_durability, u,
                                              std::string(d)));
}

int print_load_reports() {
    std::FILE* out = options().reports_to_stderr ? stderr : stdout;
    if (g_latency_run) {
        std::fprintf(out, "\nload/latency: per-user durable latency (ms, from intended send time)\n");
        std::fprintf(out, "%-6s %8s %8s %8s %8s %8s %8s %8s\n", "user", "recv", "min", "mean", "p50", "p99", "max", "lost");
        for (std::size_t i = 0; i < g_latency_run->per_user.size(); ++i) {
            const auto& u = g_latency_run->per_user[i];
            const auto& h = u.latency;
            const std::uint64_t lost = u.durable_expected > u.durable_received ? u.durable_expected - u.durable_received : 0;
            // A user that lost messages has no finite mean or max, and its percentiles count them.
            auto ms = [](double v) { return std::isfinite(v) ? fmt::format("{:8.2f}", v) : fmt::format("{:>8}", "lost"); };
            const double inf = std::numeric_limits<double>::infinity();
            std::fprintf(out, "%-6zu %8llu %8.2f %s %s %s %s %8llu\n", i, static_cast<unsigned long long>(u.durable_received),
                         h.min() / 1000.0, ms(lost ? inf : h.mean() / 1000.0).c_str(),
                         ms(harness::percentile_with_lost_ms(h, lost, 50)).c_str(),
                         ms(harness::percentile_with_lost_ms(h, lost, 99)).c_str(), ms(lost ? inf : h.max() / 1000.0).c_str(),
                         static_cast<unsigned long long>(lost));
        }
    }
    if (g_bandwidth_run) {
        const auto& m = g_bandwidth_run->metrics;
        const double s = std::max(m.measured_s, 1e-3);
        std::fprintf(out, "\nload/bandwidth: 30 users, by message type (client view; in = clients to server)\n");
        std::fprintf(out, "%-20s %12s %10s %12s %10s\n", "type", "msgs in", "Mbps in", "msgs out", "Mbps out");
        for (std::size_t i = 0; i < liveshare::kMsgTypeCount; ++i) {
            auto bi = m.totals.bytes_out_by_type[i], bo = m.totals.bytes_in_by_type[i];
            if (!bi && !bo) continue;
            std::fprintf(out, "%-20s %12llu %10.3f %12llu %10.3f\n", liveshare::to_string(static_cast<liveshare::MsgType>(i)),
                        static_cast<unsigned long long>(m.totals.msgs_out_by_type[i]), bi * 8 / s / 1e6,
                        static_cast<unsigned long long>(m.totals.msgs_in_by_type[i]), bo * 8 / s / 1e6);
        }
        std::fprintf(out, "%-20s %12s %10.3f %12s %10.3f\n", "total", "", m.mbps_in, "", m.mbps_out);
    }
    if (!g_netsim_runs.empty()) {
        std::fprintf(out, "\nNetwork impairment and faults (%zu users, seed workload, reconnect + resume)\n", options().netsim_users);
        std::fprintf(out, "%-32s %7s %6s %5s %9s %9s %9s %6s %6s %5s\n", "benchmark", "lat_ms", "loss%", "real",
                     "p50_ms", "p99_ms", "delivery%", "recon", "resync", "conv");
        for (const auto& n : g_netsim_runs)
            std::fprintf(out, "%-32s %7.0f %6.1f %5s %9.2f %9.2f %9.3f %6llu %6llu %5s\n", n.name.c_str(), n.spec.latency_ms,
                         n.spec.loss_pct, n.spec.loss_pct > 0 ? (n.real_loss ? "yes" : "model") : "-", n.m.p_ms(50), n.m.p_ms(99),
                         n.m.delivery_pct.value_or(std::nan("")), static_cast<unsigned long long>(n.m.totals.reconnects),
                         static_cast<unsigned long long>(n.m.totals.resyncs), harness::to_string(n.m.convergence));
        std::fprintf(out, "Graceful degradation: durable delivery %s 100%% in every run above.\n",
                     std::all_of(g_netsim_runs.begin(), g_netsim_runs.end(), [](auto& n) {
                         return n.m.delivery_pct.value_or(0) >= 100.0 && n.m.convergence == harness::Convergence::Converged;
                     }) ? "stayed at" : "did NOT stay at");
    }
    int rc = failures() ? 1 : 0;
    if (rc) std::fprintf(out, "\n%d benchmark(s) failed (see their error messages above)\n", failures());
    if (g_seed_runs.empty()) return rc;
    auto results = harness::evaluate_seed_criteria(g_seed_runs, options().server_threads);
    std::fprintf(out, "\nSeed success criteria (load/users:N, seed workload)\n%s", harness::format_criteria(results).c_str());
    const auto& report_only = options().criteria_report_only;
    bool failed = false;
    for (const auto& r : results) {
        if (r.pass) continue;
        if (r.users && std::find(report_only.begin(), report_only.end(), r.users) != report_only.end())
            std::fprintf(out, "criteria: '%s' is reported, not gating (--criteria_report_only)\n", r.name.c_str());
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
