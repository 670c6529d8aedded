// Cluster mode when Redis goes away (real redis-server, real nodes): the nodes keep their
// clients, refuse durable messages with "unavailable" while they cannot order them, keep
// local volatile traffic, come back on their own, and lose nothing Redis acknowledged; when
// Redis comes back with less than they applied, the rooms' members resync (4008). A hung
// Redis is an outage, not a stuck node; an outage past --cluster-outage-max-ms ends the node.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "procs/cluster_process.hpp"
#include "run/run_load.hpp"
#include "server_fixture.hpp"

using namespace lstest;
using harness::LocalCluster;
using harness::RedisPersistence;

namespace {

std::vector<std::string> node_args(std::vector<std::string> extra = {}) {
    return cluster_node_args(std::move(extra));
}

// Polls a node's /metrics until `name` equals `want` (at most `limit`); the last value read.
double wait_metric(const harness::ServerProcess& s, const std::string& name, double want,
                   std::chrono::milliseconds limit = 15000ms) {
    const auto until = std::chrono::steady_clock::now() + limit;
    double v = metric(s, name);
    while (v != want && std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(20ms);
        v = metric(s, name);
    }
    return v;
}

// The next GraphOp or Error (other types skipped); nullopt on a timeout.
std::optional<ServerMessage> op_or_error(harness::SyncClient& c,
                                         std::chrono::milliseconds t = 5000ms) {
    ServerMessage m;
    while (next(c, m, t))
        if (m.type == MsgType::GraphOp || m.type == MsgType::Error) return m;
    return std::nullopt;
}

// Sends graph ops until one is echoed (the node resumed the room); the Errors before it must
// all say "unavailable". Returns the echo's seq, 0 if none came within the bounded tries.
std::uint64_t send_until_echoed(harness::SyncClient& c, liveshare::NodeId node, int& refused) {
    for (int k = 0; k < 300; ++k) {
        c.send(move_op(node, k, k));
        auto m = op_or_error(c);
        if (!m) return 0;
        if (m->type == MsgType::GraphOp) return m->seq.value_or(0);
        EXPECT_EQ(m->reason, liveshare::ErrorKind::Unavailable) << m->error;
        ++refused;
        std::this_thread::sleep_for(20ms);
    }
    return 0;
}

}  // namespace

// Redis stopped (SIGTERM, with its AOF) and started again: nobody is disconnected; meanwhile
// a graph op gets an Error "unavailable" naming GraphOp, and a cursor still reaches a member
// on the same node; afterwards the seqs go on from where they were, the same on both nodes.
TEST(ClusterOutage, RedisRestartIsRiddenThrough) {
    LocalCluster cl(harness::find_server_binary(), 2, node_args(), RedisPersistence::AofEverySec);
    const std::string room = uuid();
    auto a = join(*cl.nodes()[0], room, uuid(), true);
    auto a2 = join(*cl.nodes()[0], room, uuid(), true);
    auto b = join(*cl.nodes()[1], room, uuid(), true);
    a->send(create_op(700));
    for (int k = 1; k < 3; ++k) a->send(move_op(700, k, k));
    for (auto* c : {a.get(), a2.get(), b.get()})
        for (std::uint64_t want = 1; want <= 3; ++want) {
            auto m = op_or_error(*c);
            ASSERT_TRUE(m && m->type == MsgType::GraphOp);
            EXPECT_EQ(m->seq, want);
        }

    cl.redis().terminate();
    for (auto& n : cl.nodes()) ASSERT_EQ(wait_metric(*n, "liveshare_cluster_redis_up", 0), 0);
    a->send(move_op(700, 50, 50));
    auto refused = op_or_error(*a);
    ASSERT_TRUE(refused.has_value());
    ASSERT_EQ(refused->type, MsgType::Error);
    EXPECT_EQ(refused->reason, liveshare::ErrorKind::Unavailable);
    EXPECT_EQ(refused->rejected, MsgType::GraphOp);
    EXPECT_EQ(refused->code, "internal_error");
    a->send(R"({"type":"CursorMove","payload":{"position":[12,34]}})");
    ServerMessage m;
    ASSERT_TRUE(a2->recv_type(MsgType::CursorMove, m)) << "local volatile traffic stopped";

    cl.redis().start_again();
    int refused_after = 0;
    EXPECT_EQ(send_until_echoed(*a, 700, refused_after), 4u) << "the seqs did not go on from 3";
    // b's node resumes on its own time: it gets seq 4 from the stream, then orders b's op.
    auto fourth = op_or_error(*b);
    ASSERT_TRUE(fourth && fourth->type == MsgType::GraphOp);
    EXPECT_EQ(fourth->seq, 4u);
    EXPECT_EQ(send_until_echoed(*b, 700, refused_after), 5u);
    std::vector<std::uint64_t> seen;
    while (seen.size() < 2) {
        auto op = op_or_error(*a2);
        ASSERT_TRUE(op && op->type == MsgType::GraphOp);
        seen.push_back(op->seq.value_or(0));
    }
    EXPECT_EQ(seen, (std::vector<std::uint64_t>{4, 5}));
    auto fifth = op_or_error(*a);
    ASSERT_TRUE(fifth && fifth->type == MsgType::GraphOp);
    EXPECT_EQ(fifth->seq, 5u);
    for (auto* c : {a.get(), a2.get(), b.get()}) EXPECT_FALSE(c->closed());
    for (auto& n : cl.nodes()) {
        EXPECT_EQ(metric(*n, "liveshare_cluster_outages_total"), 1);
        EXPECT_EQ(metric(*n, "liveshare_cluster_redis_up"), 1);
        EXPECT_EQ(metric(*n, "liveshare_cluster_rooms_resynced_total"), 0);
        EXPECT_GT(metric(*n, "liveshare_cluster_reconnect_attempts_total"), 0);
    }
    EXPECT_GE(metric(*cl.nodes()[0], "liveshare_cluster_durable_refused_total"), 1);
    EXPECT_GE(metric(*cl.nodes()[0], "liveshare_cluster_volatile_dropped_total"), 1);
}

// Redis without persistence comes back empty: its seq would start again at 1, so the nodes
// must not take it for the old order. Every member is closed with 4008 (resync), and a
// member who joins again gets the room as Redis holds it, seq 0, not a reused number.
TEST(ClusterOutage, RedisBackEmptyForcesResync) {
    LocalCluster cl(harness::find_server_binary(), 2, node_args(), RedisPersistence::None);
    const std::string room = uuid();
    auto a = join(*cl.nodes()[0], room, uuid(), true);
    auto b = join(*cl.nodes()[1], room, uuid(), true);
    a->send(create_op(701));
    for (auto* c : {a.get(), b.get()}) {
        auto m = op_or_error(*c);
        ASSERT_TRUE(m && m->type == MsgType::GraphOp);
    }
    cl.redis().restart();
    for (auto* c : {a.get(), b.get()}) {
        ASSERT_TRUE(c->wait_closed(15000ms));
        EXPECT_EQ(c->close_code(), liveshare::kCloseResyncRequired);
    }
    for (auto& n : cl.nodes())
        EXPECT_EQ(wait_metric(*n, "liveshare_cluster_rooms_resynced_total", 1), 1);
    auto again = join(*cl.nodes()[0], room, uuid(), true);
    ServerMessage m;
    ASSERT_TRUE(again->recv_type(MsgType::GraphState, m));
    EXPECT_EQ(m.seq, 0u);
    EXPECT_EQ(m.state.tables().count(701), 0u);
}

// A Redis that accepts and then answers nothing (SIGSTOP): after --cluster-timeout-ms the
// node treats it as gone (it still answers its clients and /metrics) and refuses durable
// messages. The op sent just before it noticed was in flight: once Redis is back the sender
// hears exactly once what became of it (its echo, if Redis had stored it, else a refusal),
// and the next op's seq agrees.
TEST(ClusterOutage, HungRedisIsAnOutageNotAStuckNode) {
    LocalCluster cl(harness::find_server_binary(), 1, node_args({"--cluster-timeout-ms=500"}),
                    RedisPersistence::AofEverySec);
    const std::string room = uuid();
    auto a = join(*cl.nodes()[0], room, uuid(), true);
    a->send(create_op(702));
    auto first = op_or_error(*a);
    ASSERT_TRUE(first && first->type == MsgType::GraphOp);
    cl.redis().freeze();
    a->send(move_op(702, 1, 1));  // in flight: the frozen Redis holds it unread
    EXPECT_EQ(wait_metric(*cl.nodes()[0], "liveshare_cluster_redis_up", 0), 0);
    a->send(move_op(702, 2, 2));
    auto m = op_or_error(*a, 10000ms);
    ASSERT_TRUE(m.has_value()) << "the node did not answer while Redis hung";
    EXPECT_EQ(m->type, MsgType::Error);
    EXPECT_EQ(m->reason, liveshare::ErrorKind::Unavailable);
    cl.redis().thaw();
    auto fate = op_or_error(*a, 15000ms);
    ASSERT_TRUE(fate.has_value()) << "the op in flight got neither its echo nor a refusal";
    const bool stored = fate->type == MsgType::GraphOp;
    if (stored) {
        EXPECT_EQ(fate->seq, 2u);
    } else {
        EXPECT_EQ(fate->reason, liveshare::ErrorKind::Unavailable);
    }
    int refused = 0;
    EXPECT_EQ(send_until_echoed(*a, 702, refused), stored ? 3u : 2u);
    EXPECT_EQ(metric(*cl.nodes()[0], "liveshare_cluster_inflight_applied_total") +
                  metric(*cl.nodes()[0], "liveshare_cluster_inflight_refused_total"),
              1);
    RecordProperty("in_flight_op", stored ? "stored" : "refused");
    EXPECT_FALSE(a->closed());
}

// An outage longer than --cluster-outage-max-ms: the node closes its clients with 4008 and
// exits 1. Redis absent at start: a clear error, no node.
TEST(ClusterOutage, OutagePastTheLimitEndsTheNode) {
    LocalCluster cl(harness::find_server_binary(), 1, node_args({"--cluster-outage-max-ms=300"}));
    auto c = join(*cl.nodes()[0], uuid(), uuid(), true);
    cl.redis().stop();
    ASSERT_TRUE(c->wait_closed(10000ms));
    EXPECT_EQ(c->close_code(), liveshare::kCloseResyncRequired);
    EXPECT_EQ(cl.nodes()[0]->stop(), 1);
    try {
        start_server(node_args({"--cluster=redis://127.0.0.1:1"}));
        FAIL() << "a node started without Redis";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("cannot reach Redis at redis://127.0.0.1:1"),
                  std::string::npos)
            << e.what();
    }
    try {
        start_server(node_args({"--cluster=sentinel://127.0.0.1:1/liveshare"}));
        FAIL() << "a node started without a Sentinel";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("cannot reach Redis via Sentinel at "
                                             "sentinel://127.0.0.1:1/liveshare: 127.0.0.1:1: "),
                  std::string::npos)
            << e.what();
    }
}

namespace {

// 12 users on 3 nodes, reconnecting clients, a message every 50 ms; `fault` runs once each
// user sent 16 (after about 0.8 s).
harness::LoadTestResult run_with_redis_fault(LocalCluster& cl, std::function<void()> fault,
                                             std::size_t messages_per_user = 40) {
    auto cfg = harness::LoadTestConfigBuilder()
                   .users(12)
                   .messages_per_user(messages_per_user)
                   .interval(50ms)
                   .duration(25000ms)
                   .reconnect(true)
                   .target(cl.targets())
                   .trigger(12 * 16, std::move(fault))
                   .build();
    return harness::run_load_test(cfg);
}

void expect_nothing_acknowledged_lost(const harness::LoadTestResult& r) {
    const auto& M = r.metrics;
    EXPECT_EQ(M.users_joined, 12u);
    EXPECT_EQ(M.lost, 0u);
    EXPECT_EQ(M.totals.durable_duplicates, 0u);
    EXPECT_EQ(M.totals.durable_out_of_order, 0u);
    EXPECT_EQ(M.totals.rollbacks, 0u);
    EXPECT_EQ(M.totals.resyncs, 0u);
    ASSERT_TRUE(M.delivery_pct.has_value());
    EXPECT_EQ(*M.delivery_pct, 100.0);
    EXPECT_EQ(M.convergence, harness::Convergence::Converged) << M.convergence_detail;
}

}  // namespace

// Under load: Redis restarted gracefully mid-run. Nothing acknowledged is lost or repeated,
// no client reconnects, every client converges; what was refused meanwhile was not expected.
TEST(ClusterOutage, RedisRestartUnderLoadLosesNothing) {
    LocalCluster cl(harness::find_server_binary(), 3, node_args({"--max-users=100"}),
                    RedisPersistence::AofEverySec);
    std::thread fault;
    auto r = run_with_redis_fault(cl, [&] { fault = std::thread([&] { cl.redis().restart(); }); });
    if (fault.joinable()) fault.join();
    expect_nothing_acknowledged_lost(r);
    EXPECT_EQ(r.metrics.totals.reconnects, 0u);
    double outages = 0;
    for (auto& n : cl.nodes()) outages += metric(*n, "liveshare_cluster_outages_total");
    EXPECT_EQ(outages, 3) << "the restart did not reach every node";
}

// Under load: Redis killed (SIGKILL) and started again with appendfsync always: every write
// it acknowledged is in its AOF, so nothing acknowledged is lost.
TEST(ClusterOutage, RedisKillWithFsyncAlwaysLosesNothing) {
    LocalCluster cl(harness::find_server_binary(), 3, node_args({"--max-users=100"}),
                    RedisPersistence::AofAlways);
    std::thread fault;
    auto r = run_with_redis_fault(cl, [&] {
        fault = std::thread([&] {
            cl.redis().kill_hard();
            std::this_thread::sleep_for(300ms);
            cl.redis().start_again();
        });
    });
    if (fault.joinable()) fault.join();
    expect_nothing_acknowledged_lost(r);
    double resynced = 0;
    for (auto& n : cl.nodes()) resynced += metric(*n, "liveshare_cluster_rooms_resynced_total");
    EXPECT_EQ(resynced, 0);
}

// Sentinel: the master SIGKILLed under load; Sentinel promotes its replica (about 1.3 s here)
// and the nodes (sentinel://, acks after WAIT 1) follow it. Nothing acknowledged is lost,
// nobody resyncs. The traffic lasts 5 s, so the failover and the return fall inside it.
// Sentinel may fail back later (the new master busy for over its 500 ms while the old one
// resyncs from it, on a loaded machine): the test asks that the failover happened, not which
// of the two is master at the end.
TEST(ClusterOutage, SentinelFailoverWithWaitLosesNothing) {
    LocalCluster cl(harness::find_server_binary(), 3,
                    node_args({"--max-users=100", "--cluster-wait-replicas=1"}),
                    RedisPersistence::AofEverySec, true);
    std::thread fault;
    std::atomic<bool> failed_over{false};
    auto r = run_with_redis_fault(
        cl,
        [&] {
            fault = std::thread([&] {
                cl.redis().kill_hard();
                // Back as the new master's replica (Sentinel reconfigures it): WAIT 1 again
                // has a replica to wait for.
                const auto until = std::chrono::steady_clock::now() + 20s;
                while (!(failed_over = cl.sentinel().master_port() == cl.replica().port()) &&
                       std::chrono::steady_clock::now() < until)
                    std::this_thread::sleep_for(10ms);
                cl.redis().start_again();
            });
        },
        100);
    if (fault.joinable()) fault.join();
    expect_nothing_acknowledged_lost(r);
    EXPECT_TRUE(failed_over) << "no failover happened";
    const auto master = cl.sentinel().master_port();
    EXPECT_TRUE(master == cl.replica().port() || master == cl.redis().port()) << master;
    double outages = 0, resynced = 0;
    for (auto& n : cl.nodes()) {
        outages += metric(*n, "liveshare_cluster_outages_total");
        resynced += metric(*n, "liveshare_cluster_rooms_resynced_total");
        EXPECT_EQ(metric(*n, "liveshare_cluster_redis_up"), 1);
    }
    EXPECT_EQ(outages, 3);
    EXPECT_EQ(resynced, 0);
}

// A replica that lacks the master's last writes is promoted (its link was cut and it was
// frozen while they were made, no WAIT): every node finds Redis's seq below what it applied and
// says so: the room's members resync (4008) and the loss is counted, never hidden behind reused
// seqs.
TEST(ClusterOutage, FailoverOntoAStaleReplicaIsReportedAsLoss) {
    LocalCluster cl(harness::find_server_binary(), 1, node_args(), RedisPersistence::AofEverySec,
                    true);
    const std::string room = uuid();
    auto a = join(*cl.nodes()[0], room, uuid(), true);
    a->send(create_op(703));
    auto m = op_or_error(*a);
    ASSERT_TRUE(m && m->type == MsgType::GraphOp);
    // Replicated: the replica has seq 1.
    const auto until = std::chrono::steady_clock::now() + 10s;
    while (cl.replica().command("GET ls:{" + room + "}:seq").find("1") == std::string::npos &&
           std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(20ms);
    cl.replica().freeze();
    cl.redis().command("CLIENT KILL TYPE replica");  // nothing after this reaches the replica
    for (int k = 1; k <= 3; ++k) a->send(move_op(703, k, k));
    for (int k = 0; k < 3; ++k) {
        auto op = op_or_error(*a);
        ASSERT_TRUE(op && op->type == MsgType::GraphOp);  // acknowledged by the master alone
    }
    cl.redis().kill_hard();
    cl.replica().thaw();
    ASSERT_TRUE(a->wait_closed(30000ms)) << "the loss was not reported to the client";
    EXPECT_EQ(a->close_code(), liveshare::kCloseResyncRequired);
    EXPECT_EQ(wait_metric(*cl.nodes()[0], "liveshare_cluster_rooms_resynced_total", 1, 30000ms), 1);
    EXPECT_EQ(cl.sentinel().master_port(), cl.replica().port());
}
