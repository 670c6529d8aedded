// A load run's last phases: the server's cost over the window, closing, and the totals
// (percentiles, rates, delivery against what was planned, saturation).
#include "run/load_run.hpp"

namespace harness {

void LoadRun::server_cost() {
    if (sampler) {
        sampler->stop();
        auto s = sampler->summary();
        M.server_measured = s.samples >= 2 && w0.server_read && w1.server_read;
        M.server_cpu_pct =
            100.0 * (w1.server.cpu_seconds - w0.server.cpu_seconds) / std::max(M.measured_s, 1e-3);
        M.server_cpu_peak_pct = s.cpu_peak_pct;
        M.server_rss_mb = s.rss_mb;
        M.server_rss_peak_mb = s.rss_peak_mb;
    }
    for (std::size_t t = 0; t < w0.threads.size(); ++t) {
        const double used = w1.threads[t] - w0.threads[t];
        gen_cpu += used;
        gen_thread_peak = std::max(gen_thread_peak, used);
    }
}

void LoadRun::close() {
    for (std::size_t i = 0; i < users.size(); ++i)
        net::post(*iocs[i % nthreads], [p = users[i].get()] { p->close(); });
    const auto close_deadline = Clock::now() + std::chrono::seconds(3);
    while (sh.closed < own() && Clock::now() < close_deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    guards.clear();
    for (auto& ioc : iocs) ioc->stop();
    for (auto& t : threads) t.join();
}

// Costs per delivery over the window (d deliveries): the server's socket calls and
// deliveries per write from /metrics, its syscalls from /proc, the generator's and the
// watched processes' CPU.
void LoadRun::per_delivery(double d) {
    auto delta = [&](const char* k) {
        return metric_or(w1.server_metrics, k, -1) - metric_or(w0.server_metrics, k, -1);
    };
    // Every target answered at both ends (a node killed in the window would make the
    // sums differ in what they cover: no figure then, rather than a wrong one).
    const bool counted = w0.server_metrics.count("liveshare_ws_writes_total") &&
                         w1.server_metrics.count("liveshare_ws_writes_total") &&
                         w0.scraped == sh.eps.size() && w1.scraped == sh.eps.size();
    if (counted) {
        M.server_socket_calls_per_delivery =
            (delta("liveshare_ws_reads_total") + delta("liveshare_ws_writes_total")) / d;
        if (const double writes = delta("liveshare_ws_writes_total"); writes > 0)
            M.deliveries_per_write = delta("liveshare_ws_messages_out_total") / writes;
    }
    // /proc/PID/io sees read(2)/write(2) but not recv/send/recvmsg/sendmsg: when it saw fewer
    // calls than the server made on its sockets (Beast's path), it is not the server's count,
    // and a server without our /metrics (a peer driven with --target_pid) cannot say: absent.
    if (w0.server_io && w1.server_io && M.server_socket_calls_per_delivery) {
        const double sys = static_cast<double>(w1.server_syscalls - w0.server_syscalls) / d;
        if (sys >= 0.9 * *M.server_socket_calls_per_delivery) M.server_syscalls_per_delivery = sys;
    }
    M.generator_cpu_us_per_delivery = gen_cpu * 1e6 / d;
    if (w0.server_read && w1.server_read) {
        M.server_user_cpu_us_per_delivery =
            (w1.server.user_seconds - w0.server.user_seconds) * 1e6 / d;
        M.server_sys_cpu_us_per_delivery =
            (w1.server.sys_seconds - w0.server.sys_seconds) * 1e6 / d;
    }
    M.generator_user_cpu_us_per_delivery =
        (w1.gen_split.user_seconds - w0.gen_split.user_seconds) * 1e6 / d;
    M.generator_sys_cpu_us_per_delivery =
        (w1.gen_split.sys_seconds - w0.gen_split.sys_seconds) * 1e6 / d;
    for (std::size_t k = 0; k < cfg.watch.size() && k < w0.watched.size() && k < w1.watched.size();
         ++k) {
        auto& x = M.watched[cfg.watch[k].first];
        x.measured = w0.watched_read[k] && w1.watched_read[k];
        if (!x.measured) continue;  // gone in the window (a killed node)
        const double cpu = w1.watched[k].cpu_seconds - w0.watched[k].cpu_seconds;
        x.cpu_pct = 100.0 * cpu / std::max(M.measured_s, 1e-3);
        x.cpu_us_per_delivery = cpu * 1e6 / d;
        x.rss_mb = w1.watched[k].rss_mb;
    }
    M.generator_syscalls_per_delivery = static_cast<double>(w1.gen_calls - w0.gen_calls) / d;
}

void LoadRun::totals() {
    std::vector<std::uint64_t> room_sent(rooms(), 0);
    for (auto& u : users)
        room_sent[u->room] += u->metrics.sent_durable -
                              std::min(u->metrics.sent_durable, u->metrics.durable_rejected);
    for (auto& u : users) {
        if (u->metrics.join_time.count())
            u->metrics.durable_expected =
                room_sent[u->room] -
                (u->metrics.sent_durable -
                 std::min(u->metrics.sent_durable, u->metrics.durable_rejected));
        // Sharded: the other users' planned sends stand in until scripts/merge-shards has
        // every shard's actual ones (then the accounting is exact).
        if (sharded() && u->metrics.join_time.count())
            u->metrics.durable_expected = planned_from_others(u->index());
        if (sh.windowed && u->metrics.join_time.count())
            u->metrics.durable_expected = windowed_owed(sh, *u);
        M.totals.merge(u->metrics);
        result.per_user.push_back(u->metrics);
        result.user_slots.push_back({u->index(), u->room});
    }
    if (cfg.plan) {  // later arrivals joined after the join phase
        M.users_joined = 0;
        for (auto& u : users) M.users_joined += u->metrics.join_time.count() ? 1 : 0;
        add_phase_results(*cfg.plan, cfg.series_interval.count() > 0, M);
    }
    if (M.users_joined < own()) M.totals.error("never joined", own() - M.users_joined);
    const auto& T = M.totals;
    const double secs = std::max(M.measured_s, 1e-3);
    M.msgs_sent_per_s = static_cast<double>(T.sent) / secs;
    M.deliveries_per_s = static_cast<double>(w1.delivered - w0.delivered) / secs;
    if (const double d = static_cast<double>(w1.delivered - w0.delivered); d > 0) per_delivery(d);
    M.mb_per_s_in = static_cast<double>(T.bytes_out) / secs / 1e6;  // client -> server
    M.mb_per_s_out = static_cast<double>(T.bytes_in) / secs / 1e6;  // server -> clients
    M.mbps_in = M.mb_per_s_in * 8;
    M.mbps_out = M.mb_per_s_out * 8;
    M.mbps_out_per_user = M.users_joined ? M.mbps_out / static_cast<double>(M.users_joined) : 0;
    M.lost = T.durable_expected > T.durable_received ? T.durable_expected - T.durable_received : 0;
    if (T.durable_expected)
        M.delivery_pct = 100.0 * static_cast<double>(T.durable_received) /
                         static_cast<double>(T.durable_expected);
    for (auto& [k, v] : T.errors) M.error_count += v;
    M.error_pct = 100.0 * static_cast<double>(M.error_count) /
                  static_cast<double>(std::max<std::uint64_t>(T.sent + own(), 1));
    M.generator_cpu_pct = 100.0 * gen_cpu / secs;
    M.generator_thread_peak_pct = 100.0 * gen_thread_peak / secs;
    M.machine_busy_pct = machine_busy_pct(w0.machine, w1.machine);
    M.send_lag_p99_ms = static_cast<double>(T.send_lag.percentile(99)) / 1000.0;
    M.send_lag_limit_ms = send_lag_limit_ms(cfg);
    const auto sat = judge_saturation(M.generator_thread_peak_pct, M.send_lag_p99_ms,
                                      M.send_lag_limit_ms, M.machine_busy_pct);
    M.generator_saturated = sat.generator;
    M.machine_saturated = sat.machine;
}

std::optional<ClockOffset> LoadRun::measure_clock() {
    try {
        if (cfg.clock_reader) return lowest_rtt_offset(cfg.clock_reader, cfg.clock_skew_us);
        return measure_clock_offset(cfg.clock_ref, cfg.clock_skew_us);
    } catch (const std::exception& e) {
        M.totals.error(e.what());
        return std::nullopt;
    }
}

const std::vector<std::uint64_t>& LoadRun::planned() {
    if (planned_.empty()) {
        planned_.assign(cfg.users, 0);
        for (std::size_t i = 0; i < cfg.users; ++i) {
            auto script = sh.script(i);
            Planned p;
            while (script->next(p)) planned_[i] += p.durable ? 1 : 0;
        }
    }
    return planned_;
}

std::uint64_t LoadRun::planned_from_others(std::size_t index) {
    std::uint64_t n = 0;
    for (std::size_t j = 0; j < cfg.users; ++j)
        if (j != index && sh.room_of[j] == sh.room_of[index]) n += planned()[j];
    return n;
}

std::uint64_t LoadRun::windowed_expected_total() {
    if (!windowed_total_) {
        std::uint64_t n = 0;
        for (auto& u : users)
            if (u->join_done.load(std::memory_order_acquire)) n += windowed_owed(sh, *u);
        windowed_total_ = n;
    }
    return *windowed_total_;
}

std::uint64_t LoadRun::planned_expected() {
    std::uint64_t n = 0;
    for (auto& u : users) n += planned_from_others(u->index());  // index is fixed: no race
    return n;
}

}  // namespace harness
