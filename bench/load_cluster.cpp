// The load family against a cluster: redis-server and N liveshare-server nodes started here
// (harness/cluster_process.hpp), users round-robin over the nodes, one room.
//   load/cluster/off/users:100       the same run against one node without --cluster
//   load/cluster/nodes:N/users:100   N = 1, 2, 3
//   load/cluster/nodes:2/users:100/aof:everysec|always
//                                    Redis's AOF fsync'd every second or after every write
//                                    (scripts/compare --variants aof:everysec,aof:always)
//   load/faults/node_kill            one node of three SIGKILLed mid-run; its users reconnect
//                                    to the others and resume: no loss, convergence required
//   load/faults/redis_restart        Redis stopped (SIGTERM) and started again mid-run
//   load/faults/redis_kill/aof:always|everysec
//                                    Redis SIGKILLed, started again 300 ms later
//   load/faults/redis_failover       the master SIGKILLed, Sentinel promotes its replica; the
//                                    nodes (sentinel://, --cluster-wait-replicas=1) follow
//                                    Both: the nodes ride through (durable messages refused
//                                    meanwhile); nothing acknowledged lost, no reconnect,
//                                    convergence required; the outage and the recovery timed
// The other cluster runs start Redis with --redis_persistence (default: AOF every second).
// On one 2-core machine every node, Redis and the generator share the same two cores: these
// runs show the cluster path's cost and correctness, not scaling.
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <future>
#include <optional>
#include <random>
#include <thread>

#include "clients/client.hpp"
#include "clients/prometheus.hpp"
#include "failures.hpp"
#include "load_support.hpp"
#include "options.hpp"
#include "procs/cluster_process.hpp"
#include "protocol/codec.hpp"
#include "protocol/uuid.hpp"
#include "traffic/workload.hpp"

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

harness::RedisPersistence redis_persistence() {
    harness::RedisPersistence p = harness::RedisPersistence::AofEverySec;
    harness::parse_redis_persistence(options().redis_persistence, p);  // checked as a flag
    return p;
}

// nodes == 0: one server without --cluster, measured the same way (the reference).
void bm_cluster(benchmark::State& st, std::size_t nodes,
                std::optional<harness::RedisPersistence> persistence) {
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
                const auto aof = persistence.value_or(redis_persistence());
                harness::LocalCluster cluster(server_binary(), nodes, node_args(), aof);
                cfg.target(cluster.targets());
                for (std::size_t k = 0; k < nodes; ++k)
                    cfg.watch(fmt::format("node{}", k), cluster.nodes()[k]->pid());
                r = harness::run_load_test(cfg.watch("redis", cluster.redis().pid()).build(), -1);
                label = fmt::format("{} node(s) on one Redis (AOF: {})", nodes,
                                    harness::to_string(aof));
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

// A client of its own room on node0 that, once Redis answers again, sends a graph op every
// 10 ms until one is acknowledged (its echo): the time from Redis answering to the cluster
// ordering again. Joined before the run, so the fault finds it a member.
class RecoveryProbe {
  public:
    explicit RecoveryProbe(const harness::ServerProcess& node)
        : c_({"127.0.0.1", node.port(), nullptr, {}}, harness::make_uuid(rng()), true) {
        std::string auth;
        liveshare::encode_auth(auth, harness::make_uuid(rng()), "probe", std::nullopt,
                               std::nullopt);
        c_.send(auth);
        liveshare::ServerMessage m;
        if (!c_.recv_type(liveshare::MsgType::AuthResult, m) || !m.success)
            throw std::runtime_error("the recovery probe could not join");
    }
    // Milliseconds until the first echo, or nullopt if none came within `limit`.
    std::optional<double> until_acknowledged(std::chrono::milliseconds limit) {
        const auto t0 = std::chrono::steady_clock::now();
        liveshare::Parser parser;
        for (int k = 0; std::chrono::steady_clock::now() - t0 < limit; ++k) {
            liveshare::GraphOp op;
            op.type = k == 0 ? liveshare::OpType::CreateTable : liveshare::OpType::MoveTable;
            op.node_id = 4242;
            op.table_uuid = liveshare::format_uuid_v4(0x7ab1e000'00000000ULL | 4242, 4242);
            op.name = "probe";
            op.position = {static_cast<double>(k), 0};
            std::string text;
            liveshare::encode_graph_op(text, op);
            c_.send(text);
            // Its answer: the echo, or an Error (refused: Redis is back, the room not yet).
            while (auto f = c_.recv(std::chrono::milliseconds(200))) {
                liveshare::ServerMessage m;
                std::string err;
                if (!parser.parse_server(f->data, m, err)) continue;
                if (m.type == liveshare::MsgType::GraphOp)
                    return std::chrono::duration<double, std::milli>(
                               std::chrono::steady_clock::now() - t0)
                        .count();
                if (m.type == liveshare::MsgType::Error) break;
            }
            if (c_.closed()) return std::nullopt;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        return std::nullopt;
    }

  private:
    static std::mt19937_64& rng() {
        static std::mt19937_64 r{std::random_device{}()};
        return r;
    }
    harness::SyncClient c_;
};

enum class RedisFault { Restart, Kill, Failover };

// What a Redis fault did: how long Redis did not answer, how long after that the first op was
// acknowledged again, and each node's outages and time without Redis (from its /metrics).
struct RedisFaultOutcome {
    std::optional<double> down_ms, recover_ms;
    std::string error;
    std::vector<double> outages, down_s;
};

// Runs on its own thread (the trigger must not stall the generator): the fault, then the probe.
void inject(harness::LocalCluster& cluster, RedisFault fault, RecoveryProbe& probe,
            RedisFaultOutcome& out) {
    try {
        const auto t0 = std::chrono::steady_clock::now();
        if (fault == RedisFault::Kill) {
            cluster.redis().kill_hard();
            std::this_thread::sleep_for(std::chrono::milliseconds(300));
            cluster.redis().start_again();
        } else if (fault == RedisFault::Failover) {
            // The master dies; Redis is back when Sentinel names the promoted replica. The old
            // master is then started again and Sentinel makes it the new one's replica (what
            // an operator does): until then WAIT 1 has no replica and times out (counted).
            cluster.redis().kill_hard();
            const auto until = t0 + std::chrono::seconds(20);
            while (cluster.sentinel().master_port() != cluster.replica().port()) {
                if (std::chrono::steady_clock::now() > until)
                    throw std::runtime_error("Sentinel promoted no replica within 20 s");
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
            }
            out.down_ms =
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                    .count();
            cluster.redis().start_again();
            out.recover_ms = probe.until_acknowledged(std::chrono::milliseconds(10000));
            return;
        } else {
            cluster.redis().restart();
        }
        out.down_ms =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                .count();
        out.recover_ms = probe.until_acknowledged(std::chrono::milliseconds(10000));
    } catch (const std::exception& e) {
        out.error = e.what();
    }
}

void set_redis_fault_counters(benchmark::UserCounters& c, const RedisFaultOutcome& f,
                              const harness::UserMetrics& T) {
    c["redis_down_ms"] = *f.down_ms;   // from the fault to Redis answering (failover: promoted)
    c["recovery_ms"] = *f.recover_ms;  // from then to the first op acknowledged again
    c["durable_refused"] = static_cast<double>(T.durable_rejected);
    double outage_sum = 0, down_max = 0;
    bool all = !f.outages.empty();
    for (std::size_t k = 0; k < f.outages.size(); ++k) {
        if (f.outages[k] < 0 || f.down_s[k] < 0) all = false;
        outage_sum += f.outages[k];
        down_max = std::max(down_max, f.down_s[k]);
    }
    if (all) {
        c["node_outages"] = outage_sum;
        c["node_down_ms_max"] = down_max * 1000;  // a node's loss of Redis to its return
    }
}

// Three nodes, Redis restarted (SIGTERM, AOF --redis_persistence) or killed (SIGKILL, the
// AOF fsync'd as `kill_aof` says) once 40 % of the window's messages are sent, and started
// again. A kill -9 of the process loses nothing either way if Redis wrote the AOF before it
// answered (it does, fsync or not: the kernel holds what was written); what everysec risks
// is a crash of the machine, which these runs cannot make. The nodes keep their clients and
// refuse durable messages meanwhile (counted, not expected); a loss of anything
// acknowledged, a duplicate, a rollback, a resync or a divergence is an error.
void bm_redis_fault(benchmark::State& st, RedisFault fault, harness::RedisPersistence kill_aof) {
    const Options& o = options();
    for (auto _ : st) {
        const std::size_t nodes = 3;
        const auto aof = fault == RedisFault::Kill ? kill_aof : redis_persistence();
        const std::string what =
            fault == RedisFault::Kill
                ? fmt::format("Redis killed (SIGKILL, AOF {}), started again 300 ms later",
                              harness::to_string(aof))
            : fault == RedisFault::Failover
                ? "Redis master killed (SIGKILL), its replica promoted by Sentinel; acks wait "
                  "for 1 replica (WAIT)"
                : fmt::format("Redis restarted (SIGTERM, AOF {})", harness::to_string(aof));
        auto args = node_args();
        if (fault == RedisFault::Failover) args.push_back("--cluster-wait-replicas=1");
        LoadTestResult r;
        RedisFaultOutcome f;
        try {
            harness::LocalCluster cluster(server_binary(), nodes, args, aof,
                                          fault == RedisFault::Failover);
            RecoveryProbe probe(*cluster.nodes()[0]);
            std::thread injector;
            const auto at = static_cast<std::uint64_t>(static_cast<double>(kUsers) * 10 *
                                                       (o.warmup_s + 0.4 * o.duration_s));
            auto cfg =
                base_config(kUsers, Workload::Seed)
                    .reconnect(true)
                    .target(cluster.targets())
                    .trigger(
                        at,
                        [&] { injector = std::thread([&] { inject(cluster, fault, probe, f); }); },
                        what);
            for (std::size_t k = 0; k < nodes; ++k)
                cfg.watch(fmt::format("node{}", k), cluster.nodes()[k]->pid());
            r = harness::run_load_test(cfg.watch("redis", cluster.redis().pid()).build(), -1);
            if (injector.joinable()) injector.join();
            for (auto& n : cluster.nodes()) {
                const auto m = harness::scrape_metrics({"127.0.0.1", n->port(), nullptr, {}});
                f.outages.push_back(harness::metric_or(m, "liveshare_cluster_outages_total", -1));
                f.down_s.push_back(
                    harness::metric_or(m, "liveshare_cluster_down_seconds_total", -1));
            }
        } catch (const std::exception& e) {
            fail(st, std::string("could not start the cluster: ") + e.what());
            return;
        }
        const auto& T = r.metrics.totals;
        const char* name = fault == RedisFault::Kill       ? "redis_kill"
                           : fault == RedisFault::Failover ? "redis_failover"
                                                           : "redis_restart";
        if (!f.error.empty()) return fail(st, fmt::format("{}: {}", name, f.error));
        if (!f.down_ms) return fail(st, fmt::format("{}: the fault never fired", name));
        if (!f.recover_ms)
            return fail(st, fmt::format("{}: no durable op acknowledged within 10 s of Redis "
                                        "answering again; {}",
                                        name, describe(r.metrics, what)));
        if (r.metrics.users_joined && (r.metrics.lost > 0 || T.rollbacks > 0 || T.resyncs > 0 ||
                                       T.durable_duplicates > 0 || T.durable_out_of_order > 0 ||
                                       r.metrics.convergence != harness::Convergence::Converged)) {
            fail(st, fmt::format("{}: {} lost, {} rollbacks, {} resyncs, {} duplicates, {} out of "
                                 "order, convergence {} ({}); {}",
                                 name, r.metrics.lost, T.rollbacks, T.resyncs, T.durable_duplicates,
                                 T.durable_out_of_order, harness::to_string(r.metrics.convergence),
                                 r.metrics.convergence_detail, describe(r.metrics, what)));
            return;
        }
        finish(st, r, what);
        set_cluster_counters(st.counters, r.metrics, nodes, true);
        set_fault_counters(st.counters, T);
        set_redis_fault_counters(st.counters, f, T);
    }
}

}  // namespace

void register_cluster_benchmarks() {
    using P = harness::RedisPersistence;
    load(benchmark::RegisterBenchmark(fmt::format("load/cluster/off/users:{}", kUsers).c_str(),
                                      bm_cluster, std::size_t{0}, std::nullopt));
    for (std::size_t n : {1, 2, 3})
        load(benchmark::RegisterBenchmark(
            fmt::format("load/cluster/nodes:{}/users:{}", n, kUsers).c_str(), bm_cluster, n,
            std::nullopt));
    for (P p : {P::AofEverySec, P::AofAlways})
        load(benchmark::RegisterBenchmark(
            fmt::format("load/cluster/nodes:2/users:{}/aof:{}", kUsers, harness::to_string(p))
                .c_str(),
            bm_cluster, std::size_t{2}, std::optional<P>(p)));
    load(benchmark::RegisterBenchmark("load/faults/node_kill", bm_node_kill));
    load(benchmark::RegisterBenchmark("load/faults/redis_restart", bm_redis_fault,
                                      RedisFault::Restart, P::AofEverySec));
    for (P p : {P::AofAlways, P::AofEverySec})
        load(benchmark::RegisterBenchmark(
            fmt::format("load/faults/redis_kill/aof:{}", harness::to_string(p)).c_str(),
            bm_redis_fault, RedisFault::Kill, p));
    load(benchmark::RegisterBenchmark("load/faults/redis_failover", bm_redis_fault,
                                      RedisFault::Failover, P::AofEverySec));
}

}  // namespace bench
