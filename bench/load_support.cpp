#include "load_support.hpp"

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
#include <utility>

#include "clients/client.hpp"
#include "clients/prometheus.hpp"
#include "cpu_profile.hpp"
#include "failures.hpp"
#include "measure/criteria.hpp"
#include "options.hpp"
#include "procs/netsim.hpp"
#include "procs/server_process.hpp"
#include "timeseries.hpp"

namespace bench {

namespace {
std::string profile_note;  // the last run's "not profiled: ..." (set_counters, for describe)
}  // namespace

ms secs(double s) {
    return ms(static_cast<long>(s * 1000));
}

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
        .progress(o.progress)
        .validate_every(o.validate_every)
        .tls(o.tls)
        .ws_headers(o.ws_headers)
        .room_password(o.room_password)
        .clock(o.clock_ref, std::llround(o.clock_skew_ms * 1000.0))
        .series_interval(std::chrono::milliseconds(
            o.timeseries_out.empty() && o.shard_out.empty() && o.coordinator.empty()
                ? 0
                : o.interval_ms));
}

LoadTestConfigBuilder planned_config(std::shared_ptr<const harness::TrafficPlan> plan,
                                     double warmup_s, double drain_s, std::size_t messages_per_user,
                                     std::optional<std::uint64_t> seed) {
    auto b = base_config(plan->users.size(), Workload::Editing)
                 .warmup(secs(warmup_s))
                 .duration(ms((plan->end_us - std::llround(warmup_s * 1e6)) / 1000))
                 .drain(secs(drain_s))
                 .messages_per_user(messages_per_user);
    if (seed) b.seed(*seed);
    b.plan(std::move(plan));
    return b;
}

// Per room, joins and leaves in time order (a join before a leave at the same moment: a
// newcomer may connect before the one it replaces is gone).
std::size_t largest_room(const harness::TrafficPlan& plan) {
    std::vector<std::vector<std::pair<std::int64_t, int>>> ev(plan.rooms);
    for (const auto& u : plan.users) {
        ev[u.room].emplace_back(u.join_us, -1);  // -1 sorts before +1: joins first
        if (u.leave_us != harness::kNever) ev[u.room].emplace_back(u.leave_us, +1);
    }
    std::size_t most = 1;
    for (auto& e : ev) {
        std::sort(e.begin(), e.end());
        std::size_t n = 0;
        for (auto [t, d] : e) {
            n = d < 0 ? n + 1 : n - 1;
            most = std::max(most, n);
        }
    }
    return most;
}

// The flags of a server the bench starts. The seed sends a graph op every 100 ms: the
// original's 150 ms per-connection throttle and 10/s critical bucket would reject a third of
// them, so the load runs lift both (the protocol tests cover them). Rooms are raised to hold
// every user of the run.
std::vector<std::string> bench_server_args(std::size_t max_room_users, const std::string& db,
                                           const std::string& profile,
                                           const std::string& durability) {
    const Options& o = options();
    std::vector<std::string> args = {"--threads=" + std::to_string(o.server_threads),
                                     "--db=" + db,
                                     "--max-users=" + std::to_string(max_room_users + 1),
                                     "--graphop-interval-ms=0",
                                     "--rate-critical=0/0",
                                     "--quiet=1"};
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
        result.metrics.server_metrics =
            harness::scrape_metrics(harness::parse_ws_url(url, options().tls));
    } catch (const std::exception& e) {
        label = std::string("metrics scrape failed: ") + e.what();
    }
}

// One load run against the --target, or against a fresh server process started for it.
// `extra` server flags come after the bench's own, so they override them.
LoadTestResult run_against_server(LoadTestConfigBuilder cfg, std::size_t max_room_users,
                                  std::string& label, const std::string& profile,
                                  const std::vector<std::string>& extra) {
    const Options& o = options();
    if (!o.target.empty()) {
        const auto pid = static_cast<pid_t>(o.target_pid);
        label = "target " + o.target + (pid ? "" : " (server CPU/RSS not measured)");
        profile_run(cfg, pid);
        return harness::run_load_test(
            cfg.target(o.target).rooms(o.rooms).rest_header(o.rest_header).build(), pid);
    }
    const std::string db = bench_db_path();
    auto args = bench_server_args(max_room_users, db, profile);
    args.insert(args.end(), extra.begin(), extra.end());
    harness::ServerProcess server(server_binary(), args);
    profile_run(cfg, server.pid());
    auto result = harness::run_load_test(cfg.target(server.url()).build(), server.pid());
    scrape_metrics(server.url(), result, label);
    server.stop();
    remove_db(db);
    return result;
}

// A percentile that falls among lost messages is infinite: it gets no counter (JSON has no
// infinity), the `lost` counter and the label say why.
std::optional<LoadTestResult> run_or_fail(benchmark::State& st, LoadTestConfigBuilder cfg,
                                          std::size_t max_room_users, std::string& label,
                                          const std::vector<std::string>& extra) {
    try {
        return run_against_server(std::move(cfg), max_room_users, label, "", extra);
    } catch (const std::exception& e) {
        fail(st, std::string("could not start the server: ") + e.what());
        return std::nullopt;
    }
}

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
    if (m.server_measured) {  // absent (not 0) when no server process of ours was sampled
        c["server_cpu_pct"] = m.server_cpu_pct;
        c["server_cpu_peak_pct"] = m.server_cpu_peak_pct;
        c["server_rss_mb"] = m.server_rss_peak_mb;
    }
    c["loopback_mbps"] = m.loopback_mbps;
    // From the server's own /metrics at the end of the run.
    auto scraped = [&](const char* k) {
        auto it = m.server_metrics.find(k);
        return it == m.server_metrics.end() ? 0.0 : it->second;
    };
    if (!m.server_metrics.empty()) {
        c["server_queue_max_kb"] = scraped("liveshare_send_queue_bytes_max") / 1024.0;
        c["server_volatile_drops"] =
            scraped("liveshare_drops_total{reason=\"volatile_queue_full\"}") +
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
    put("server_user_cpu_us_per_delivery", m.server_user_cpu_us_per_delivery);
    put("server_sys_cpu_us_per_delivery", m.server_sys_cpu_us_per_delivery);
    put("generator_user_cpu_us_per_delivery", m.generator_user_cpu_us_per_delivery);
    put("generator_sys_cpu_us_per_delivery", m.generator_sys_cpu_us_per_delivery);
    profile_note = profile_counters(c, m);
    c["generator_cpu_pct"] = m.generator_cpu_pct;
    c["generator_thread_peak_pct"] = m.generator_thread_peak_pct;
    c["generator_threads"] = static_cast<double>(std::max(1u, options().generator_threads));
    c["machine_busy_pct"] = m.machine_busy_pct;
    c["generator_saturated"] = m.generator_saturated ? 1 : 0;
    c["machine_saturated"] = m.machine_saturated ? 1 : 0;
    // Absent when convergence was not checked (join storms, cursors, idle connections).
    if (m.convergence != harness::Convergence::NotChecked)
        c["converged"] = m.convergence == harness::Convergence::Converged ? 1 : 0;
    c["users_joined"] = static_cast<double>(m.users_joined);
    // wss://: the TLS handshakes (TCP connected to TLS established) and how many resumed.
    if (const auto& h = m.totals.tls_handshake; h.count()) {
        c["tls_handshakes"] = static_cast<double>(h.count());
        c["tls_handshake_p50_ms"] = static_cast<double>(h.percentile(50)) / 1000.0;
        c["tls_handshake_p99_ms"] = static_cast<double>(h.percentile(99)) / 1000.0;
        c["tls_resumed"] = static_cast<double>(m.totals.tls_resumed);
    }
    // What was validated in full: the share of received messages only scanned for markers,
    // and how many of those were also parsed in full and checked against the scan.
    if (m.totals.received) {
        c["scanned_pct"] =
            100.0 * static_cast<double>(m.totals.scanned) / static_cast<double>(m.totals.received);
        c["scan_checks"] = static_cast<double>(m.totals.scan_checked);
    }
    if (m.totals.staleness.count()) {
        c["staleness_p50_ms"] = static_cast<double>(m.totals.staleness.percentile(50)) / 1000.0;
        c["staleness_p99_ms"] = static_cast<double>(m.totals.staleness.percentile(99)) / 1000.0;
        c["volatile_received"] = static_cast<double>(m.totals.volatile_received);
    }
}

std::string describe(const LoadTestMetrics& m, std::string label) {
    std::vector<std::string> notes;
    if (!label.empty()) notes.push_back(std::move(label));
    if (!profile_note.empty()) notes.push_back(std::exchange(profile_note, ""));
    if (m.lost) {
        const auto all = m.totals.durable_expected;
        notes.push_back(fmt::format(
            "LOSS: {} of {} durable deliveries had not arrived when the {:.1f} s drain ended{}",
            m.lost, all, m.drain_s, std::isinf(m.p_ms(99)) ? " (p99 is among them)" : ""));
    }
    // Every run against a --target says so, faults and soak too.
    if (options().tls.insecure && !options().target.empty())
        notes.push_back("TLS certificates NOT verified (--tls_insecure)");
    if (m.generator_saturated)
        notes.push_back(
            fmt::format("GENERATOR-BOUND (busiest generator thread {:.0f}% of a core, timer lag "
                        "p99 {:.1f} ms, limit {:.1f} ms)",
                        m.generator_thread_peak_pct, m.send_lag_p99_ms, m.send_lag_limit_ms));
    if (m.machine_saturated)
        notes.push_back(
            fmt::format("MACHINE-BUSY ({:.0f}% of all cores: server and generator compete)",
                        m.machine_busy_pct));
    if (m.convergence == harness::Convergence::Diverged)
        notes.push_back("NOT CONVERGED: " + m.convergence_detail);
    if (m.totals.scanned)
        notes.push_back(fmt::format(
            "validated: 1 full-state user per room, others parse 1 in {} deliveries in full",
            options().validate_every));
    if (m.totals.durable_unavailable)
        notes.push_back(
            fmt::format("{} durable message(s) refused as unavailable (not applied, "
                        "not expected by the others)",
                        m.totals.durable_unavailable));
    if (!m.totals.errors.empty()) {
        // The most frequent cause; "never joined" only when nothing says why.
        auto top = m.totals.errors.begin();
        for (auto it = m.totals.errors.begin(); it != m.totals.errors.end(); ++it)
            if ((top->first == "never joined" && it->first != "never joined") ||
                (it->first != "never joined" && it->second > top->second))
                top = it;
        notes.push_back(fmt::format("errors: {} x '{}'{}", top->second, top->first,
                                    m.totals.errors.size() > 1 ? " ..." : ""));
    }
    std::string s;
    for (auto& n : notes) s += (s.empty() ? "" : "; ") + n;
    return s;
}

// Iteration time (manual) = p99 latency of durable deliveries, from intended send time, so
// comparison tools see latency changes in the time column.
void finish(benchmark::State& st, const LoadTestResult& r, const std::string& label) {
    const auto& m = r.metrics;
    timeseries_measured(m);  // a failed run's series too: what led to the failure
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
    const double p99 =
        durable ? m.p_ms(99) : static_cast<double>(m.totals.staleness.percentile(99)) / 1000.0;
    if (std::isinf(p99)) {
        // A message that never arrived is infinitely late: no time is honest here.
        fail(st, describe(m, label));
        return;
    }
    st.SetIterationTime(p99 / 1000.0);
    set_counters(st, m);
    st.SetLabel(describe(
        m,
        durable ? label : (label.empty() ? "" : label + "; ") + "time = volatile staleness p99"));
}

void set_fault_counters(benchmark::UserCounters& c, const harness::UserMetrics& T) {
    c["reconnects"] = static_cast<double>(T.reconnects);
    c["resumes"] = static_cast<double>(T.resumes);
    c["resyncs"] = static_cast<double>(T.resyncs);
    c["replayed"] = static_cast<double>(T.replayed);
    c["resent"] = static_cast<double>(T.resent);
    c["rollbacks"] = static_cast<double>(T.rollbacks);
}

benchmark::internal::Benchmark* load(benchmark::internal::Benchmark* b) {
    return b->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);
}

}  // namespace bench
