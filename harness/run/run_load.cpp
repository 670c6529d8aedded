// One load run, phase by phase: rooms, joins, the open-model schedule with its measurement
// window, the drain and convergence (the class: run/load_run.hpp; the totals: run_collect.cpp).
#include <fmt/format.h>

#include "run/load_run.hpp"

namespace harness {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using liveshare::MsgType;

// Timer lateness that means the generator could not keep its schedule: a tenth of the
// shortest interval between one user's messages in this workload, at least 1 ms.
double send_lag_limit_ms(const LoadTestConfig& cfg) {
    double interval_ms = 20;  // editing and cursor_storm: cursor moves at 50 Hz
    if (cfg.plan) return std::max(1.0, static_cast<double>(cfg.plan->min_interval_us) / 1e4);
    if (cfg.workload == Workload::Seed) interval_ms = static_cast<double>(cfg.interval.count());
    if (cfg.workload == Workload::Burst) interval_ms = static_cast<double>(cfg.burst_every.count());
    return std::max(1.0, interval_ms / 10.0);
}

LoadTestResult LoadRun::run() {
    resolve();
    create_rooms();
    start_generator();
    join();
    hold_idle();
    if (start_ok()) {
        send();
        if (const auto w = sh.first_send_wall_us.load()) {
            result.first_send_wall_us = w;
            result.first_send_ref_us = w + correction_us_;
            result.first_send_planned_us = sh.first_send_planned_us.load();
        }
        drain();
        check_convergence_();
        if (!cfg.clock_ref.empty() && start_at_ms > 0) M.clock_end = measure_clock();
    } else {
        M.convergence_detail = "not checked: the run did not start";
    }
    server_cost();
    close();
    totals();
    return std::move(result);
}

void LoadRun::resolve() {
    net::io_context tmp;
    tcp::resolver resolver(tmp);
    std::string_view list = cfg.target;
    while (!list.empty()) {
        const auto comma = list.find(',');
        const std::string one(list.substr(0, comma));
        list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
        if (one.empty()) continue;
        sh.eps.push_back(parse_ws_url(one, cfg.tls));
        for (const auto& h : cfg.ws_headers)
            sh.eps.back().upgrade_headers.push_back(parse_upgrade_header(h));
        sh.addresses.push_back(
            *resolver.resolve(sh.eps.back().host, std::to_string(sh.eps.back().port)).begin());
    }
    if (sh.eps.empty()) throw std::invalid_argument("no target given");
    if (!cfg.connect_to.empty()) {
        const auto colon = cfg.connect_to.rfind(':');
        if (colon == std::string::npos)
            throw std::invalid_argument("connect_to must be HOST:PORT, got '" + cfg.connect_to +
                                        "'");
        const auto via =
            *resolver.resolve(cfg.connect_to.substr(0, colon), cfg.connect_to.substr(colon + 1))
                 .begin();
        for (auto& a : sh.addresses) a = via;
    }
    sh.ep = sh.eps.front();
    sh.address = sh.addresses.front();
}

void LoadRun::create_rooms() {
    if (cfg.rooms.empty()) {
        // The run's rooms exist before anyone joins, created as the original's UI does (a
        // protected room's password is hashed on the server's KDF pool).
        std::string body = "{\"name\":null,\"password\":";
        if (cfg.room_password.empty())
            body += "null";
        else
            liveshare::json::append_string(body, cfg.room_password);
        body += ",\"max_users\":null}";
        // 409: it exists already (an earlier run with the same seed). Anything else is an
        // error of the run; the joins then show whether the rooms are usable.
        for (const auto& id : sh.room_ids) {
            std::string why;
            try {
                auto res = http_request(sh.ep, "POST", "/room/" + id, body,
                                        std::chrono::milliseconds(30000), cfg.rest_header);
                if (res.status != 201 && res.status != 409)
                    why = "answered " + std::to_string(res.status);
            } catch (const std::exception& e) {
                why = e.what();
            }
            if (!why.empty()) room_errors.push_back("room creation: POST /room/{id} " + why);
        }
    }
}

void LoadRun::start_generator() {
    nthreads = std::max(1u, cfg.generator_threads);
    for (unsigned t = 0; t < nthreads; ++t) iocs.push_back(std::make_unique<net::io_context>(1));
    // This shard's users (all of them unsharded); the user at position k runs on thread k % n.
    std::vector<bool> room_has_full(sh.room_ids.size(), false);
    for (std::size_t i = 0; i < cfg.users; ++i)
        if (i % cfg.shard_count == cfg.shard_index) {
            users.push_back(std::make_unique<SimUser>(*iocs[users.size() % nthreads], sh, i));
            // The first of each room keeps the whole state (the convergence check's).
            auto& u = *users.back();
            u.full_state = cfg.validate_every <= 1 || !room_has_full[u.room];
            room_has_full[u.room] = true;
        }
    if (cfg.plan && cfg.validate_every > 1) {
        // Users come and go: the state keeper is the room's member who stays longest.
        std::vector<SimUser*> keeper(sh.room_ids.size(), nullptr);
        for (auto& u : users) {
            u->full_state = false;
            auto& k = keeper[u->room];
            const auto& a = cfg.plan->users[u->index()];
            if (!k || a.leave_us > cfg.plan->users[k->index()].leave_us) k = u.get();
        }
        for (auto* k : keeper)
            if (k) k->full_state = true;
    }
    for (auto& ioc : iocs) guards.push_back(net::make_work_guard(*ioc));
    for (auto& ioc : iocs) threads.emplace_back([&ioc] { ioc->run(); });

    for (const auto& e : room_errors) M.totals.error(e);
    if (ProcSample ps; server_pid > 0 && read_proc(server_pid, ps))
        M.start_server_rss_mb = ps.rss_mb;
    if (server_pid > 0) {
        sampler = std::make_unique<ProcessSampler>(server_pid);
        sampler->start();
    }
    show = cfg.progress && isatty(STDERR_FILENO);
}

void LoadRun::join() {
    const auto join_start = Clock::now();
    sh.set_epoch(join_start);
    std::size_t at_start = 0;
    for (std::size_t i = 0; i < users.size(); ++i)
        if (!cfg.plan || cfg.plan->users[users[i]->index()].join_us == 0) {
            net::post(*iocs[i % nthreads], [p = users[i].get()] { p->connect(); });
            ++at_start;
        }
    const auto join_deadline =
        join_start + cfg.join_timeout + std::chrono::milliseconds(10 * own());
    while (sh.joined + sh.join_failed < at_start && Clock::now() < join_deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    M.join_all_ms = std::chrono::duration<double, std::milli>(Clock::now() - join_start).count();
    M.users = own();
    M.users_joined = sh.joined.load();
    M.rooms = rooms();
}

void LoadRun::hold_idle() {
    if (cfg.idle_hold.count() > 0) {
        // Idle connections: hold them, then check the server still answers quickly.
        std::this_thread::sleep_for(cfg.idle_hold);
        ProcSample ps;
        if (server_pid > 0 && read_proc(server_pid, ps)) M.held_server_rss_mb = ps.rss_mb;
        try {
            auto t0 = Clock::now();
            http_request(sh.ep, "GET", "/healthz");
            M.probe_healthz_ms =
                std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
            t0 = Clock::now();
            SyncClient probe(sh.ep, make_uuid(rng), false);
            std::string auth;
            liveshare::encode_auth(auth, make_uuid(rng), "probe", std::nullopt, std::nullopt);
            probe.send(auth);
            liveshare::ServerMessage m;
            if (probe.recv_type(MsgType::AuthResult, m, std::chrono::milliseconds(10000)) &&
                m.success) {
                M.probe_join_ms =
                    std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
                t0 = Clock::now();
                probe.send("{\"type\":\"Ping\"}");
                if (probe.recv_type(MsgType::Pong, m, std::chrono::milliseconds(10000)))
                    M.probe_pong_ms =
                        std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
            }
            probe.close();
        } catch (const std::exception& e) {
            M.totals.error(std::string("probe: ") + e.what());
        }
    }
}

WindowMark LoadRun::mark_window() {
    WindowMark w;
    if (server_pid > 0) {
        w.server_read = read_proc(server_pid, w.server);
        w.server_io = read_proc_io(server_pid, w.server_syscalls);
    }
    // Every node's counters, added (a server without /metrics: no counters).
    for (const auto& ep : sh.eps) {
        try {
            for (auto& [k, v] : scrape_metrics(ep)) w.server_metrics[k] += v;
            ++w.scraped;
        } catch (const std::exception&) {
        }
    }
    for (const auto& [name, pid] : cfg.watch) {
        w.watched.emplace_back();
        w.watched_read.push_back(read_proc(pid, w.watched.back()));
    }
    w.gen_calls = sh.socket_reads.load() + sh.socket_writes.load();
    w.gen_split = self_cpu_split();
    for (auto& t : threads) w.threads.push_back(thread_cpu_seconds(t));
    w.machine = machine_cpu();
    w.delivered = sh.durable_received.load() + sh.volatile_received.load();
    return w;
}

// The progress line on stderr: users joined, time, sends per second, deliveries, p99 so far.
void LoadRun::print_progress(Clock::time_point send_start, Clock::time_point& last_print,
                             std::uint64_t& last_sent) {
    std::uint64_t cnt = 0, acc = 0, p99 = 0;
    for (auto& b : sh.live_hist) cnt += b.load(std::memory_order_relaxed);
    for (std::size_t i = 0; i < sh.live_hist.size() && cnt; ++i) {
        acc += sh.live_hist[i].load(std::memory_order_relaxed);
        if (acc * 100 >= cnt * 99) {
            p99 = Histogram::highest_of(i);
            break;
        }
    }
    std::uint64_t sent = sh.sent.load();
    std::fprintf(
        stderr, "\r[load] users %zu/%zu  t=%.0fs  sent/s %llu  delivered %llu  p99 %.1f ms   ",
        sh.joined.load(), own(), std::chrono::duration<double>(Clock::now() - send_start).count(),
        static_cast<unsigned long long>(sent - last_sent),
        static_cast<unsigned long long>(sh.durable_received.load()),
        static_cast<double>(p99) / 1000.0);
    last_sent = sent;
    last_print = Clock::now();
}

void LoadRun::send() {
    sh.set_epoch(schedule_epoch());
    const auto send_start = sh.epoch();
    const double lo_before = loopback_tx_bytes();
    if (cfg.workload != Workload::JoinStorm)
        for (std::size_t i = 0; i < users.size(); ++i)
            net::post(*iocs[i % nthreads], [p = users[i].get()] { p->start_schedule(); });
    else
        sh.done = own();
    // The window opens at the epoch the schedules count from (timers are set by now).
    std::this_thread::sleep_until(send_start);
    w0 = mark_window();
    if (cfg.on_window_open) cfg.on_window_open();
    if (cfg.stall_for.count() > 0) {
        std::this_thread::sleep_until(send_start + cfg.stall_at);
        for (auto& ioc : iocs)
            net::post(*ioc, [d = cfg.stall_for] { std::this_thread::sleep_for(d); });
    }
    auto last_print = Clock::now();
    std::uint64_t last_sent = 0;
    SeriesRecorder series(sh, server_pid, send_start, cfg.series_interval);
    const auto send_deadline = send_start + cfg.warmup + cfg.duration + std::chrono::seconds(5);
    std::vector<char> fired(cfg.triggers.size(), 0);
    auto fire_triggers = [&](bool all) {
        for (std::size_t k = 0; k < cfg.triggers.size(); ++k)
            if (!fired[k] && (all || sh.sent.load() >= cfg.triggers[k].after_sent)) {
                fired[k] = 1;
                if (cfg.series_interval.count() && !all)
                    M.events.push_back({series.since_start(Clock::now()), cfg.triggers[k].what});
                cfg.triggers[k].fire();
            }
    };
    while (sh.done < own() && Clock::now() < send_deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        fire_triggers(false);
        take_marks();
        if (series.due(Clock::now())) {
            M.series.push_back(series.point(Clock::now()));
            if (cfg.on_interval) cfg.on_interval(M.series.back());
        }
        if (show && Clock::now() - last_print >= std::chrono::seconds(1))
            print_progress(send_start, last_print, last_sent);
    }
    take_marks();
    if (cfg.series_interval.count()) {
        M.series.push_back(series.point(Clock::now()));  // the last, partial
        if (cfg.on_interval) cfg.on_interval(M.series.back());
    }
    w1 = mark_window();
    M.measured_s = std::chrono::duration<double>(Clock::now() - send_start).count();
    fire_triggers(true);
    if (sh.ep.host == "127.0.0.1" || sh.ep.host == "localhost")
        M.loopback_mbps =
            (loopback_tx_bytes() - lo_before) * 8 / std::max(M.measured_s, 1e-3) / 1e6;
    if (show) std::fprintf(stderr, "\n");
}

void LoadRun::take_marks() {
    if (!cfg.events || !cfg.series_interval.count()) return;
    for (auto& [t, what] : cfg.events->take())
        M.events.push_back(
            {std::chrono::duration<double>(t - sh.epoch()).count(), std::move(what)});
}

void LoadRun::drain() {
    if (cfg.before_drain) cfg.before_drain();
    auto expected_total = [&] {
        // Sharded: the others' users are not ours to count; what their scripts plan is.
        if (sharded()) return planned_expected();
        if (sh.windowed) return windowed_expected_total();
        std::int64_t e = 0;
        for (std::size_t r = 0; r < rooms(); ++r)
            e += sh.room_accepted[r].load() *
                 std::max<std::int64_t>(sh.room_joined[r].load() - 1, 0);
        return static_cast<std::uint64_t>(std::max<std::int64_t>(e, 0));
    };
    const auto drain_start = Clock::now();
    const auto drain_deadline = drain_start + cfg.drain;
    while (Clock::now() < drain_deadline && sh.durable_received.load() < expected_total())
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    M.drain_s = std::chrono::duration<double>(Clock::now() - drain_start).count();
    take_marks();  // one made after the window (a slow restart) still counts
    M.deliveries_in_drain = sh.durable_received.load() + sh.volatile_received.load() - w1.delivered;
}

void LoadRun::check_convergence_() {
    // Convergence is a result only where it was checked: otherwise "not checked", never "yes".
    // A planned run's later arrivals are not in users_joined yet (the join phase's count).
    if ((cfg.plan ? sh.joined.load() : M.users_joined) == 0) {
        M.convergence_detail = "not checked: no user joined";
    } else if (cfg.check_convergence && cfg.workload != Workload::JoinStorm &&
               cfg.workload != Workload::CursorStorm) {
        M.convergence = check_convergence(sh, users, iocs, M.convergence_detail)
                            ? Convergence::Converged
                            : Convergence::Diverged;
    } else {
        M.convergence_detail = "not checked for this workload";
    }
}

bool LoadRun::start_ok() {
    start_at_ms = cfg.start_at_unix_ms;
    if (!cfg.await_start) return true;
    // The offset before the barrier: after it the lead is all there is (32 round trips to a
    // far Redis would spend it).
    if (!cfg.clock_ref.empty()) M.clock_start = measure_clock();
    try {
        start_at_ms = cfg.await_start(sh.joined.load());
    } catch (const std::exception& e) {
        result.start_error = e.what();
    }
    if (result.start_error.empty()) {
        // The offset now, so that the check below and the schedule use the same reading.
        const auto epoch = schedule_epoch();
        const auto ahead =
            std::chrono::duration_cast<std::chrono::milliseconds>(epoch - Clock::now());
        if (ahead.count() >= 20) {
            epoch_ = epoch;
            return true;
        }
        result.start_error = fmt::format(
            "the start had passed {} ms before this shard saw it: raise "
            "--coordinator_lead_ms",
            -ahead.count());
    }
    M.totals.error(result.start_error);
    return false;
}

Clock::time_point LoadRun::schedule_epoch() {
    if (epoch_) return *epoch_;
    if (start_at_ms <= 0) return Clock::now() + std::chrono::milliseconds(50);
    std::int64_t correction_us = cfg.clock_skew_us;
    if (!cfg.clock_ref.empty()) {
        if (!M.clock_start) M.clock_start = measure_clock();
        if (M.clock_start) correction_us -= std::llround(M.clock_start->offset_us);
    }
    correction_us_ = correction_us;
    const auto wall_now =
        std::chrono::system_clock::now() + std::chrono::microseconds(correction_us);
    const auto start =
        std::chrono::system_clock::time_point(std::chrono::milliseconds(start_at_ms));
    return Clock::now() + std::chrono::duration_cast<Clock::duration>(start - wall_now);
}

LoadTestResult run_load_test(const LoadTestConfig& cfg, pid_t server_pid) {
    return LoadRun(cfg, server_pid).run();
}

}  // namespace harness
