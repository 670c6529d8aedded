// One load run, phase by phase: rooms, joins, the open-model schedule with its measurement
// window, the drain, convergence, close, and the totals.
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <cmath>
#include <random>
#include <thread>

#include "client.hpp"
#include "convergence.hpp"
#include "planned_run.hpp"
#include "prometheus.hpp"
#include "protocol/json_write.hpp"
#include "series_recorder.hpp"
#include "server_process.hpp"
#include "sim_user.hpp"
#include "workload.hpp"

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

namespace {

// What an instant of the sending window looked like: rates are differences of two marks.
struct WindowMark {
    ProcSample server;
    bool server_read = false;
    std::uint64_t server_syscalls = 0;
    bool server_io = false;
    MetricMap server_metrics;
    std::size_t scraped = 0;  // targets whose /metrics answered
    std::vector<ProcSample> watched;
    std::vector<bool> watched_read;
    std::uint64_t gen_calls = 0;
    std::vector<double> threads;
    MachineCpu machine;
    std::uint64_t delivered = 0;
};

// One run, one method per phase, in the order run() calls them.
class LoadRun {
  public:
    LoadRun(const LoadTestConfig& c, pid_t pid)
        : cfg(c), server_pid(pid), sh(c), rng(c.seed), M(result.metrics) {}

    LoadTestResult run() {
        resolve();
        identities();
        create_rooms();
        start_generator();
        join();
        hold_idle();
        send();
        drain();
        check_convergence_();
        if (!cfg.clock_ref.empty() && cfg.start_at_unix_ms > 0) M.clock_end = measure_clock();
        server_cost();
        close();
        totals();
        return std::move(result);
    }

  private:
    // The target, or a cluster's nodes ("ws://a:1,ws://b:2").
    void resolve() {
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

    // Users, rooms and tables get deterministic identities from the seed.
    void identities() {
        // Deterministic identities from the seed.
        room_size = cfg.room_size ? cfg.room_size : std::max<std::size_t>(cfg.users, 1);
        rooms = cfg.rooms.empty() ? (cfg.users + room_size - 1) / room_size : cfg.rooms.size();
        if (cfg.plan) {
            if (cfg.plan->users.size() != cfg.users || !cfg.rooms.empty() || sharded())
                throw std::invalid_argument(
                    "a planned run (scenario or replay) has the plan's users, makes its own rooms "
                    "and is not sharded");
            rooms = cfg.plan->rooms;
        }
        if (!cfg.rooms.empty()) {
            sh.room_ids = cfg.rooms;
            room_size = (cfg.users + sh.room_ids.size() - 1) / sh.room_ids.size();
        } else {
            for (std::size_t r = 0; r < rooms; ++r) sh.room_ids.push_back(make_uuid(rng));
        }
        sh.node_of.reset(new std::atomic<int>[cfg.users]);
        for (std::size_t i = 0; i < cfg.users; ++i) sh.node_of[i] = 0;
        sh.room_accepted.reset(new std::atomic<std::int64_t>[rooms]);
        sh.room_joined.reset(new std::atomic<std::int64_t>[rooms]);
        for (std::size_t r = 0; r < rooms; ++r) {
            sh.room_accepted[r] = 0;
            sh.room_joined[r] = 0;
        }
        for (std::size_t i = 0; i < cfg.users; ++i) {
            sh.user_ids.push_back(make_uuid(rng));
            sh.table_uuids.push_back(make_uuid(rng));
            sh.index_of.emplace(sh.user_ids.back(), static_cast<std::uint32_t>(i));
            sh.room_of.push_back(cfg.plan ? cfg.plan->users[i].room : i / room_size);
        }
        sh.room_members.assign(rooms, 0);
        for (std::size_t i = 0; i < cfg.users; ++i)
            sh.member_of.push_back(sh.room_members[sh.room_of[i]]++);
        sh.windowed = cfg.plan && cfg.plan->windowed();
        const auto min_interval =
            cfg.workload == Workload::Seed ? cfg.interval : std::chrono::milliseconds(200);
        sh.sent_at_cap =
            static_cast<std::size_t>((cfg.warmup + cfg.duration) /
                                     std::max(min_interval, std::chrono::milliseconds(1))) +
            8;
        if (cfg.messages_per_user)
            sh.sent_at_cap = std::min(sh.sent_at_cap, cfg.messages_per_user + 8);
        if (cfg.plan) sh.sent_at_cap = planned_sent_at_cap(cfg, sh);
        for (std::size_t i = 0; i < cfg.users; ++i) {
            sh.sent_at.emplace_back(new std::atomic<std::int64_t>[sh.sent_at_cap]);
            for (std::size_t k = 0; k < sh.sent_at_cap; ++k) sh.sent_at.back()[k].store(0);
        }
        sh.warmup_us = std::chrono::duration_cast<std::chrono::microseconds>(cfg.warmup).count();
    }

    void create_rooms() {
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

    // Many users per generator thread, each thread its own io_context (wrk-style).
    void start_generator() {
        nthreads = std::max(1u, cfg.generator_threads);
        for (unsigned t = 0; t < nthreads; ++t)
            iocs.push_back(std::make_unique<net::io_context>(1));
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

    // Phase 1: everyone joins (all at once: for join_storm this is the measurement).
    void join() {
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
        M.join_all_ms =
            std::chrono::duration<double, std::milli>(Clock::now() - join_start).count();
        M.users = own();
        M.users_joined = sh.joined.load();
        M.rooms = rooms;
    }

    // Idle connections (conn/idle): hold them, then check the server still answers quickly.
    void hold_idle() {
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

    // Phase 2: the open-model schedule, from a common epoch slightly in the future.
    void send() {
        sh.set_epoch(schedule_epoch());
        const auto send_start = sh.epoch();
        // Every rate is measured over the sending window: server CPU, each generator thread's
        // CPU, the machine's, and the deliveries that arrived within it.
        auto mark = [&] {
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
            for (auto& t : threads) w.threads.push_back(thread_cpu_seconds(t));
            w.machine = machine_cpu();
            w.delivered = sh.durable_received.load() + sh.volatile_received.load();
            return w;
        };
        const double lo_before = loopback_tx_bytes();
        if (cfg.workload != Workload::JoinStorm)
            for (std::size_t i = 0; i < users.size(); ++i)
                net::post(*iocs[i % nthreads], [p = users[i].get()] { p->start_schedule(); });
        else
            sh.done = own();
        // The window opens at the epoch the schedules count from (timers are set by now).
        std::this_thread::sleep_until(send_start);
        w0 = mark();
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
                        M.events.push_back(
                            {series.since_start(Clock::now()), cfg.triggers[k].what});
                    cfg.triggers[k].fire();
                }
        };
        while (sh.done < own() && Clock::now() < send_deadline) {
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
            fire_triggers(false);
            take_marks();
            if (series.due(Clock::now())) M.series.push_back(series.point(Clock::now()));
            if (show && Clock::now() - last_print >= std::chrono::seconds(1)) {
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
                    stderr,
                    "\r[load] users %zu/%zu  t=%.0fs  sent/s %llu  delivered %llu  p99 %.1f ms   ",
                    sh.joined.load(), own(),
                    std::chrono::duration<double>(Clock::now() - send_start).count(),
                    static_cast<unsigned long long>(sent - last_sent),
                    static_cast<unsigned long long>(sh.durable_received.load()),
                    static_cast<double>(p99) / 1000.0);
                last_sent = sent;
                last_print = Clock::now();
            }
        }
        take_marks();
        if (cfg.series_interval.count())
            M.series.push_back(series.point(Clock::now()));  // the last, partial
        w1 = mark();
        M.measured_s = std::chrono::duration<double>(Clock::now() - send_start).count();
        fire_triggers(true);
        if (sh.ep.host == "127.0.0.1" || sh.ep.host == "localhost")
            M.loopback_mbps =
                (loopback_tx_bytes() - lo_before) * 8 / std::max(M.measured_s, 1e-3) / 1e6;
        if (show) std::fprintf(stderr, "\n");
    }

    // Marks from outside the run (a restart), timed from the schedule's epoch like the series.
    void take_marks() {
        if (!cfg.events || !cfg.series_interval.count()) return;
        for (auto& [t, what] : cfg.events->take())
            M.events.push_back(
                {std::chrono::duration<double>(t - sh.epoch()).count(), std::move(what)});
    }

    // Phase 3: drain until every expected durable delivery arrived, or the drain time is up.
    void drain() {
        if (cfg.before_drain) cfg.before_drain();
        auto expected_total = [&] {
            // Sharded: the others' users are not ours to count; what their scripts plan is.
            if (sharded()) return planned_expected();
            if (sh.windowed) return windowed_expected_total();
            std::int64_t e = 0;
            for (std::size_t r = 0; r < rooms; ++r)
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
        M.deliveries_in_drain =
            sh.durable_received.load() + sh.volatile_received.load() - w1.delivered;
    }

    void check_convergence_() {
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

    // Server CPU and memory over the window; the generator's own CPU beside it.
    void server_cost() {
        if (sampler) {
            sampler->stop();
            auto s = sampler->summary();
            M.server_measured = s.samples >= 2 && w0.server_read && w1.server_read;
            M.server_cpu_pct = 100.0 * (w1.server.cpu_seconds - w0.server.cpu_seconds) /
                               std::max(M.measured_s, 1e-3);
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

    // Phase 4: close every connection (bounded), then stop the generator threads.
    void close() {
        for (std::size_t i = 0; i < users.size(); ++i)
            net::post(*iocs[i % nthreads], [p = users[i].get()] { p->close(); });
        const auto close_deadline = Clock::now() + std::chrono::seconds(3);
        while (sh.closed < own() && Clock::now() < close_deadline)
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        guards.clear();
        for (auto& ioc : iocs) ioc->stop();
        for (auto& t : threads) t.join();
    }

    // Phase 5: totals. Expected durable deliveries per receiver: what the others in its room
    // sent (minus what the server rejected out loud) while it was in the room.
    void totals() {
        std::vector<std::uint64_t> room_sent(rooms, 0);
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
        if (const double d = static_cast<double>(w1.delivered - w0.delivered); d > 0) {
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
            // /proc/PID/io sees read(2)/write(2) but not recvmsg/sendmsg: when it saw fewer calls
            // than the server made on its sockets (Beast's path), it is not the server's count.
            if (w0.server_io && w1.server_io) {
                const double sys = static_cast<double>(w1.server_syscalls - w0.server_syscalls) / d;
                if (!M.server_socket_calls_per_delivery ||
                    sys >= 0.9 * *M.server_socket_calls_per_delivery)
                    M.server_syscalls_per_delivery = sys;
            }
            M.generator_cpu_us_per_delivery = gen_cpu * 1e6 / d;
            for (std::size_t k = 0;
                 k < cfg.watch.size() && k < w0.watched.size() && k < w1.watched.size(); ++k) {
                auto& x = M.watched[cfg.watch[k].first];
                x.measured = w0.watched_read[k] && w1.watched_read[k];
                if (!x.measured) continue;  // gone in the window (a killed node)
                const double cpu = w1.watched[k].cpu_seconds - w0.watched[k].cpu_seconds;
                x.cpu_pct = 100.0 * cpu / std::max(M.measured_s, 1e-3);
                x.cpu_us_per_delivery = cpu * 1e6 / d;
                x.rss_mb = w1.watched[k].rss_mb;
            }
            M.generator_syscalls_per_delivery =
                static_cast<double>(w1.gen_calls - w0.gen_calls) / d;
        }
        M.mb_per_s_in = static_cast<double>(T.bytes_out) / secs / 1e6;  // client -> server
        M.mb_per_s_out = static_cast<double>(T.bytes_in) / secs / 1e6;  // server -> clients
        M.mbps_in = M.mb_per_s_in * 8;
        M.mbps_out = M.mb_per_s_out * 8;
        M.mbps_out_per_user = M.users_joined ? M.mbps_out / static_cast<double>(M.users_joined) : 0;
        M.lost =
            T.durable_expected > T.durable_received ? T.durable_expected - T.durable_received : 0;
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

    // The offset now, or an error in the run's totals (the run is then not corrected).
    std::optional<ClockOffset> measure_clock() {
        try {
            return measure_clock_offset(cfg.clock_ref, cfg.clock_skew_us);
        } catch (const std::exception& e) {
            M.totals.error(e.what());
            return std::nullopt;
        }
    }

    std::size_t own() const { return users.size(); }
    bool sharded() const { return cfg.shard_count > 1; }

    // Every shard's schedule counts from the same wall-clock instant when one is given.
    // With a reference clock the start is an instant of the reference's time: this clock's
    // reading less its measured offset.
    Clock::time_point schedule_epoch() {
        if (cfg.start_at_unix_ms <= 0) return Clock::now() + std::chrono::milliseconds(50);
        std::int64_t correction_us = cfg.clock_skew_us;
        if (!cfg.clock_ref.empty()) {
            M.clock_start = measure_clock();
            if (M.clock_start) correction_us -= std::llround(M.clock_start->offset_us);
        }
        const auto wall_now =
            std::chrono::system_clock::now() + std::chrono::microseconds(correction_us);
        const auto start =
            std::chrono::system_clock::time_point(std::chrono::milliseconds(cfg.start_at_unix_ms));
        return Clock::now() + std::chrono::duration_cast<Clock::duration>(start - wall_now);
    }

    // Durable messages each user's script plans (the same in every shard: same seed).
    const std::vector<std::uint64_t>& planned() {
        if (planned_.empty()) {
            planned_.assign(cfg.users, 0);
            for (std::size_t i = 0; i < cfg.users; ++i) {
                auto script = make_script(cfg, i, sh.user_ids[i],
                                          static_cast<liveshare::NodeId>(i + 1), sh.table_uuids[i]);
                Planned p;
                while (script->next(p)) planned_[i] += p.durable ? 1 : 0;
            }
        }
        return planned_;
    }
    std::uint64_t planned_from_others(std::size_t index) {
        std::uint64_t n = 0;
        for (std::size_t j = 0; j < cfg.users; ++j)
            if (j != index && sh.room_of[j] == sh.room_of[index]) n += planned()[j];
        return n;
    }
    std::uint64_t windowed_expected_total() {
        if (!windowed_total_) {
            std::uint64_t n = 0;
            for (auto& u : users)
                if (u->joined && u->metrics.join_time.count()) n += windowed_owed(sh, *u);
            windowed_total_ = n;
        }
        return *windowed_total_;
    }
    std::uint64_t planned_expected() {
        std::uint64_t n = 0;
        for (auto& u : users) n += planned_from_others(u->index());  // index is fixed: no race
        return n;
    }

    const LoadTestConfig& cfg;
    pid_t server_pid;
    Shared sh;
    std::mt19937_64 rng;
    LoadTestResult result;
    LoadTestMetrics& M;
    std::size_t room_size = 0, rooms = 0;
    std::vector<std::string> room_errors;
    unsigned nthreads = 1;
    std::vector<std::unique_ptr<net::io_context>> iocs;
    std::vector<std::unique_ptr<SimUser>> users;
    std::vector<net::executor_work_guard<net::io_context::executor_type>> guards;
    std::vector<std::thread> threads;
    std::unique_ptr<ProcessSampler> sampler;
    bool show = false;
    WindowMark w0, w1;
    double gen_cpu = 0, gen_thread_peak = 0;
    std::vector<std::uint64_t> planned_;
    std::optional<std::uint64_t> windowed_total_;
};

}  // namespace

LoadTestResult run_load_test(const LoadTestConfig& cfg, pid_t server_pid) {
    return LoadRun(cfg, server_pid).run();
}

}  // namespace harness
