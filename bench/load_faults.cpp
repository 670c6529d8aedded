// The load family under network impairment, faults and durability: the impairment proxy,
// real packet loss in a network namespace, server kills, and the durability mode's cost.
#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <future>
#include <thread>

#include "clients/prometheus.hpp"
#include "failures.hpp"
#include "load_support.hpp"
#include "options.hpp"
#include "procs/netsim.hpp"
#include "procs/server_process.hpp"

namespace bench {

namespace {

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

// Packet loss: real (the server in a network namespace of ours, nftables dropping packets)
// when we are root and start the server; otherwise modelled in the proxy, and said so.
std::unique_ptr<harness::LossNamespace> loss_for(const NetsimSpec& spec,
                                                 harness::ImpairmentSettings& is, NetsimRun& run,
                                                 std::vector<std::string>& notes) {
    const Options& o = options();
    std::unique_ptr<harness::LossNamespace> ns;
    if (spec.loss_pct <= 0) return ns;
    std::string why;
    if (!o.loss_model && o.target.empty() && harness::LossNamespace::available(why)) {
        ns = std::make_unique<harness::LossNamespace>(spec.loss_pct);
        run.real_loss = true;
        notes.push_back(
            fmt::format("real loss {}% each way (netns {})", spec.loss_pct, ns->name()));
    } else {
        is.loss_pct = spec.loss_pct;
        if (o.loss_model)
            why = "--loss_model";
        else if (!o.target.empty())
            why = "--target: the server is not ours to move into a namespace";
        notes.push_back(
            fmt::format("loss {}% MODELLED in the proxy, not real ({})", spec.loss_pct, why));
    }
    return ns;
}

void netsim_counters(benchmark::UserCounters& c, const LoadTestResult& r, const NetsimRun& run,
                     const NetsimSpec& spec) {
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
}

// netsim_users users (seed workload) reach the server through the impairment proxy and
// reconnect and resume when a connection breaks. Packet loss is real (the server in a
// network namespace of ours, nftables dropping packets) when we are root and start the
// server; otherwise the proxy models it, and the label says so.
void bm_netsim(benchmark::State& st, std::string name, NetsimSpec spec) {
    const Options& o = options();
    for (auto _ : st) {
        std::vector<std::string> notes;
        NetsimRun run{name, spec, {}, {}};
        harness::ImpairmentSettings is;
        is.latency_ms = spec.latency_ms;
        is.jitter_ms = spec.latency_ms > 0 ? o.netsim_jitter_ms : 0;
        is.resets_per_min = spec.resets_per_min;
        is.seed = o.seed;
        std::unique_ptr<harness::LossNamespace> ns = loss_for(spec, is, run, notes);
        std::unique_ptr<harness::ServerProcess> server;
        std::string host, db, secure_target;
        std::uint16_t port = 0;
        if (!o.target.empty()) {
            // A list of nodes: the proxy stands in front of the first one.
            const std::string first = o.target.substr(0, o.target.find(','));
            if (first.size() < o.target.size())
                notes.push_back("the proxy forwards to the first --target node only");
            auto ep = harness::parse_ws_url(first, o.tls);
            host = ep.host;
            port = ep.port;
            secure_target = ep.secure() ? first : "";
        } else {
            db = bench_db_path();
            harness::ServerLaunch launch;
            if (ns) {
                launch.address = ns->inner_address();
                launch.prefix = ns->exec_prefix();
            }
            server = std::make_unique<harness::ServerProcess>(
                server_binary(), bench_server_args(o.netsim_users, db),
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
            auto cfg = base_config(o.netsim_users, Workload::Seed)
                           .reconnect(true)
                           .drain(secs(drain_s))
                           .target(proxy.url())
                           // Faults are injected while users send; the drain and the
                           // convergence check run on a network that still has its latency
                           // and loss but no more resets.
                           .before_drain([&proxy] { proxy.set_fault_rates(0, 0); });
            if (!secure_target.empty())    // TLS end to end through the proxy: the names stay
                cfg.target(secure_target)  // the target's
                    .connect_to("127.0.0.1:" + std::to_string(proxy.port()));
            r = harness::run_load_test(cfg.build(), server ? server->pid() : -1);
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
        netsim_counters(st.counters, r, run, spec);
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
        const auto at =
            static_cast<std::uint64_t>(static_cast<double>(o.netsim_users) * per_user_per_s *
                                       (o.warmup_s + 0.4 * o.duration_s));
        std::promise<void> killed;
        std::chrono::steady_clock::time_point down;
        auto marks = std::make_shared<harness::EventLog>();
        auto cfg = base_config(o.netsim_users, Workload::Seed)
                       .reconnect(true)
                       .target(server->url())
                       .trigger(
                           at,
                           [&] {
                               server->kill_hard();
                               down = std::chrono::steady_clock::now();
                               killed.set_value();
                           },
                           "server killed (SIGKILL)")
                       .events(marks)
                       .build();
        LoadTestResult r;
        std::thread run([&] { r = harness::run_load_test(cfg); });
        killed.get_future().wait();
        std::this_thread::sleep_for(ms(500));  // the outage itself
        std::string label;
        try {
            server = std::make_unique<harness::ServerProcess>(server_binary(), args, ms(20000),
                                                              same_port);
        } catch (const std::exception& e) {
            label = std::string("restart failed: ") + e.what();
        }
        const double restart_ms =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - down)
                .count();
        if (label.empty()) marks->mark("server restarted");
        run.join();
        if (server->running()) {
            scrape_metrics(server->url(), r, label);
            server->stop();
        }
        remove_db(db);
        finish(st, r, label + (label.empty() ? "" : "; ") + "durability " + durability);
        auto& c = st.counters;
        // Two server processes served this run: per-process CPU and RSS would mislead.
        for (auto k : {"server_cpu_pct", "server_cpu_peak_pct", "server_rss_mb",
                       "server_cpu_us_per_delivery", "server_syscalls_per_delivery",
                       "server_socket_calls_per_delivery", "deliveries_per_write"})
            c.erase(k);
        set_fault_counters(c, r.metrics.totals);
        c["restart_ms"] = restart_ms;
    }
}

// The durability mode's cost without faults: the seed workload with --durability=none or
// group (each durable message committed to SQLite with fsync before fan-out).
void bm_durability(benchmark::State& st, std::size_t users, std::string durability) {
    for (auto _ : st) {
        const std::string db = bench_db_path();
        harness::ServerProcess server(server_binary(),
                                      bench_server_args(users, db, "", durability));
        auto cfg = base_config(users, Workload::Seed).target(server.url()).build();
        auto r = harness::run_load_test(cfg, server.pid());
        std::string label;
        scrape_metrics(server.url(), r, label);
        server.stop();
        remove_db(db);
        finish(st, r, label);
        auto it = r.metrics.server_metrics.find("liveshare_durable_commits_total");
        auto ops = r.metrics.server_metrics.find("liveshare_durable_ops_total");
        if (it != r.metrics.server_metrics.end() && ops != r.metrics.server_metrics.end() &&
            it->second > 0) {
            st.counters["group_commits"] = it->second;
            st.counters["ops_per_commit"] = ops->second / it->second;
        }
    }
}

}  // namespace

void print_netsim_report(std::FILE* out) {
    if (g_netsim_runs.empty()) return;
    {
        std::fprintf(
            out, "\nNetwork impairment and faults (%zu users, seed workload, reconnect + resume)\n",
            options().netsim_users);
        std::fprintf(out, "%-32s %7s %6s %5s %9s %9s %9s %6s %6s %5s\n", "benchmark", "lat_ms",
                     "loss%", "real", "p50_ms", "p99_ms", "delivery%", "recon", "resync", "conv");
        for (const auto& n : g_netsim_runs)
            std::fprintf(out, "%-32s %7.0f %6.1f %5s %9.2f %9.2f %9.3f %6llu %6llu %5s\n",
                         n.name.c_str(), n.spec.latency_ms, n.spec.loss_pct,
                         n.spec.loss_pct > 0 ? (n.real_loss ? "yes" : "model") : "-", n.m.p_ms(50),
                         n.m.p_ms(99), n.m.delivery_pct.value_or(std::nan("")),
                         static_cast<unsigned long long>(n.m.totals.reconnects),
                         static_cast<unsigned long long>(n.m.totals.resyncs),
                         harness::to_string(n.m.convergence));
        std::fprintf(out, "Graceful degradation: durable delivery %s 100%% in every run above.\n",
                     std::all_of(g_netsim_runs.begin(), g_netsim_runs.end(),
                                 [](auto& n) {
                                     return n.m.delivery_pct.value_or(0) >= 100.0 &&
                                            n.m.convergence == harness::Convergence::Converged;
                                 })
                         ? "stayed at"
                         : "did NOT stay at");
    }
}

void register_fault_benchmarks(bool own_server) {
    // The seed's impaired network (20 users, 10 ms, 5% loss), then one factor at a time.
    auto netsim = [](std::string name, NetsimSpec spec) {
        load(benchmark::RegisterBenchmark(name.c_str(), bm_netsim, name, spec));
    };
    netsim("load/netsim", {10, 5, 0});
    for (double l : {50.0, 150.0}) netsim(fmt::format("load/netsim/latency_ms:{}", l), {l, 0, 0});
    for (double p : {1.0, 5.0, 10.0}) netsim(fmt::format("load/netsim/loss_pct:{}", p), {10, p, 0});
    for (double n : {60.0, 600.0})
        netsim(fmt::format("load/faults/resets_per_min:{}", n), {0, 0, n});
    if (!own_server) return;
    load(benchmark::RegisterBenchmark("load/faults/server_kill/durability:group", bm_server_kill,
                                      std::string("group")));
    // Without the durability mode a kill loses what no snapshot held: that run ends in the
    // error state naming the loss (a lost message is infinitely late), so it sits outside the
    // load family the main job runs (filter `server_kill` runs both).
    load(benchmark::RegisterBenchmark("loss/faults/server_kill/durability:none", bm_server_kill,
                                      std::string("none")));
    for (std::size_t u : {50, 100})
        for (const char* d : {"none", "group"})
            load(benchmark::RegisterBenchmark(
                fmt::format("load/durability:{}/users:{}", d, u).c_str(), bm_durability, u,
                std::string(d)));
}

}  // namespace bench
