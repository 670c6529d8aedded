// The load family against a cluster: redis-server and N liveshare-server nodes started here
// (harness/cluster_process.hpp), users round-robin over the nodes, one room.
//   load/cluster/off/users:100       the same run against one node without --cluster
//   load/cluster/nodes:N/users:100   N = 1, 2, 3
//   load/faults/node_kill            one node of three SIGKILLed mid-run; its users reconnect
//                                    to the others and resume: no loss, convergence required
// On one 2-core machine every node, Redis and the generator share the same two cores: these
// runs show the cluster path's cost and correctness, not scaling.
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <future>
#include <thread>

#include "failures.hpp"
#include "load_support.hpp"
#include "options.hpp"
#include "procs/cluster_process.hpp"

namespace bench {

namespace {

constexpr std::size_t kUsers = 100;

// Per node and for Redis: CPU (% of a core, us per delivery) and RSS; the cluster's sum; and
// the latency of deliveries whose sender sat on the receiver's node or on another one.
void set_cluster_counters(benchmark::UserCounters& c, const LoadTestMetrics& m, std::size_t nodes,
                          bool redis) {
    double nodes_us = 0;
    bool all = true;
    for (std::size_t k = 0; k < nodes; ++k) {
        auto it = m.watched.find(fmt::format("node{}", k));
        if (it == m.watched.end() || !it->second.measured) {
            all = false;
            continue;
        }
        c[fmt::format("node{}_cpu_pct", k)] = it->second.cpu_pct;
        c[fmt::format("node{}_cpu_us_per_delivery", k)] = it->second.cpu_us_per_delivery;
        c[fmt::format("node{}_rss_mb", k)] = it->second.rss_mb;
        nodes_us += it->second.cpu_us_per_delivery;
    }
    if (all) c["nodes_cpu_us_per_delivery"] = nodes_us;
    if (redis) {
        auto it = m.watched.find("redis");
        if (it != m.watched.end() && it->second.measured) {
            c["redis_cpu_pct"] = it->second.cpu_pct;
            c["redis_cpu_us_per_delivery"] = it->second.cpu_us_per_delivery;
            c["redis_rss_mb"] = it->second.rss_mb;
            if (all) c["cluster_cpu_us_per_delivery"] = nodes_us + it->second.cpu_us_per_delivery;
        }
    }
    auto pct = [](const harness::Histogram& h, double p) {
        return static_cast<double>(h.percentile(p)) / 1000.0;
    };
    const auto& T = m.totals;
    if (T.latency_same_node.count()) {
        c["p50_same_node_ms"] = pct(T.latency_same_node, 50);
        c["p99_same_node_ms"] = pct(T.latency_same_node, 99);
        c["deliveries_same_node"] = static_cast<double>(T.latency_same_node.count());
    }
    if (T.latency_cross_node.count()) {
        c["p50_cross_node_ms"] = pct(T.latency_cross_node, 50);
        c["p99_cross_node_ms"] = pct(T.latency_cross_node, 99);
        c["deliveries_cross_node"] = static_cast<double>(T.latency_cross_node.count());
    }
}

std::vector<std::string> node_args() {
    // The bench's server flags without a database: a cluster's rooms live in Redis.
    auto args = bench_server_args(kUsers, "");
    return args;
}

// nodes == 0: one server without --cluster, measured the same way (the reference).
void bm_cluster(benchmark::State& st, std::size_t nodes) {
    for (auto _ : st) {
        std::string label;
        LoadTestResult r;
        try {
            auto cfg = base_config(kUsers, Workload::Seed);
            if (nodes == 0) {
                harness::ServerProcess server(server_binary(), node_args());
                r = harness::run_load_test(
                    cfg.target(server.url()).watch("node0", server.pid()).build(), -1);
                server.stop();
                label = "one node, no --cluster";
            } else {
                harness::LocalCluster cluster(server_binary(), nodes, node_args());
                cfg.target(cluster.targets());
                for (std::size_t k = 0; k < nodes; ++k)
                    cfg.watch(fmt::format("node{}", k), cluster.nodes()[k]->pid());
                r = harness::run_load_test(cfg.watch("redis", cluster.redis().pid()).build(), -1);
                label = fmt::format("{} node(s) on one Redis", nodes);
            }
        } catch (const std::exception& e) {
            fail(st, std::string("could not start the cluster: ") + e.what());
            return;
        }
        // One room, one order: a duplicate, a message out of order or a diverged client is a
        // failed run here, not a figure.
        const auto& T = r.metrics.totals;
        if (r.metrics.users_joined && (T.durable_duplicates > 0 || T.durable_out_of_order > 0 ||
                                       r.metrics.convergence != harness::Convergence::Converged)) {
            fail(st, fmt::format("{} duplicates, {} out of order, convergence {} ({}); {}",
                                 T.durable_duplicates, T.durable_out_of_order,
                                 harness::to_string(r.metrics.convergence),
                                 r.metrics.convergence_detail, describe(r.metrics, label)));
            return;
        }
        finish(st, r, label);
        set_cluster_counters(st.counters, r.metrics, std::max<std::size_t>(nodes, 1), nodes > 0);
    }
}

// Three nodes; the last one is SIGKILLed once 40 % of the measured window's messages are
// sent. Its users lose their connection, reconnect to the next node and resume from their
// last seq (resending what was never echoed). Any loss, rollback or divergence is an error.
void bm_node_kill(benchmark::State& st) {
    const Options& o = options();
    for (auto _ : st) {
        const std::size_t nodes = 3;
        LoadTestResult r;
        std::string label = "3 nodes, node2 killed (SIGKILL) at 40% of the window";
        try {
            harness::LocalCluster cluster(server_binary(), nodes, node_args());
            const auto at = static_cast<std::uint64_t>(static_cast<double>(kUsers) * 10 *
                                                       (o.warmup_s + 0.4 * o.duration_s));
            auto cfg = base_config(kUsers, Workload::Seed)
                           .reconnect(true)
                           .target(cluster.targets())
                           .trigger(
                               at, [&] { cluster.nodes()[nodes - 1]->kill_hard(); },
                               "node killed (SIGKILL)");
            for (std::size_t k = 0; k < nodes; ++k)
                cfg.watch(fmt::format("node{}", k), cluster.nodes()[k]->pid());
            r = harness::run_load_test(cfg.watch("redis", cluster.redis().pid()).build(), -1);
        } catch (const std::exception& e) {
            fail(st, std::string("could not start the cluster: ") + e.what());
            return;
        }
        const auto& T = r.metrics.totals;
        if (r.metrics.users_joined && (r.metrics.lost > 0 || T.rollbacks > 0 ||
                                       T.durable_duplicates > 0 || T.durable_out_of_order > 0 ||
                                       r.metrics.convergence != harness::Convergence::Converged)) {
            fail(st, fmt::format("node_kill: {} lost, {} rollbacks, {} duplicates, {} out of "
                                 "order, convergence {} ({}); {}",
                                 r.metrics.lost, T.rollbacks, T.durable_duplicates,
                                 T.durable_out_of_order, harness::to_string(r.metrics.convergence),
                                 r.metrics.convergence_detail, describe(r.metrics, label)));
            return;
        }
        finish(st, r, label);
        auto& c = st.counters;
        set_cluster_counters(c, r.metrics, nodes - 1, true);  // node2 was killed in the window
        set_fault_counters(c, T);
    }
}

}  // namespace

void register_cluster_benchmarks() {
    load(benchmark::RegisterBenchmark(fmt::format("load/cluster/off/users:{}", kUsers).c_str(),
                                      bm_cluster, std::size_t{0}));
    for (std::size_t n : {1, 2, 3})
        load(benchmark::RegisterBenchmark(
            fmt::format("load/cluster/nodes:{}/users:{}", n, kUsers).c_str(), bm_cluster, n));
    load(benchmark::RegisterBenchmark("load/faults/node_kill", bm_node_kill));
}

}  // namespace bench
