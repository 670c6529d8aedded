// Cluster mode against a real redis-server and real nodes (harness/cluster_process.hpp):
// one order everywhere, resume on another node, state from the snapshot and the stream,
// presence and the cap over every node, a node killed mid-run (Redis going away:
// test_cluster_outage.cpp).
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <thread>

#include "procs/cluster_process.hpp"
#include "run/run_load.hpp"
#include "server_fixture.hpp"

using namespace lstest;
using harness::LocalCluster;

namespace {

std::vector<std::string> node_args(std::vector<std::string> extra = {}) {
    return cluster_node_args(std::move(extra));
}

struct Durable {
    std::uint64_t seq;
    std::string user, payload;
    bool operator==(const Durable&) const = default;
};

// Durable GraphOps until `n` arrived (other types skipped); stops early on a timeout.
std::vector<Durable> read_ops(harness::SyncClient& c, std::size_t n) {
    std::vector<Durable> out;
    ServerMessage m;
    while (out.size() < n && next(c, m, 5000ms))
        if (m.type == MsgType::GraphOp)
            out.push_back({m.seq.value_or(0), m.user_id, std::string(m.payload)});
    return out;
}

}  // namespace

// Four members of one room, two on each node, all sending at once: every member sees the
// same durable messages in the same order, numbered 1..N without a gap. The nodes run two
// I/O threads each here (the sanitizer builds see the cluster strand beside the sessions).
TEST(Cluster, TwoNodesOneRoomSeeOneOrder) {
    LocalCluster cl(harness::find_server_binary(), 2, node_args({"--threads=2"}));
    const std::string room = uuid();
    std::vector<std::unique_ptr<harness::SyncClient>> cs;
    for (int i = 0; i < 4; ++i) cs.push_back(join(*cl.nodes()[i % 2], room, uuid(), true));
    const int per = 25;
    for (int k = 0; k < per; ++k)
        for (int i = 0; i < 4; ++i) {
            const auto node = static_cast<liveshare::NodeId>(1000 * (i + 1) + k);
            cs[i]->send(k % 2 ? move_op(node - 1, k, i) : create_op(node));
        }
    std::vector<std::vector<Durable>> seen;
    for (auto& c : cs) seen.push_back(read_ops(*c, 4 * per));
    ASSERT_EQ(seen[0].size(), 4u * per);
    for (std::size_t k = 0; k < seen[0].size(); ++k) EXPECT_EQ(seen[0][k].seq, k + 1);
    for (int i = 1; i < 4; ++i)
        EXPECT_TRUE(seen[i] == seen[0]) << "member " << i << " saw another order";
    std::map<std::string, int> per_user;
    for (auto& d : seen[0]) ++per_user[d.user];
    EXPECT_EQ(per_user.size(), 4u);
    for (auto& [u, n] : per_user) EXPECT_EQ(n, per) << u;
}

// A liveshare.v2 client whose node went away reconnects to another node with its last seq
// and gets exactly what it missed: no state, no duplicate, no gap.
TEST(Cluster, ResumeOnAnotherNodeGetsExactlyWhatWasMissed) {
    LocalCluster cl(harness::find_server_binary(), 2, node_args());
    const std::string room = uuid(), reader = uuid();
    auto w = join(*cl.nodes()[1], room, uuid(), true);
    auto r = join(*cl.nodes()[0], room, reader, true);
    for (int k = 0; k < 5; ++k) w->send(create_op(static_cast<liveshare::NodeId>(100 + k)));
    auto first = read_ops(*r, 5);
    ASSERT_EQ(first.size(), 5u);
    EXPECT_EQ(first.back().seq, 5u);
    r->abort();
    for (int k = 0; k < 5; ++k) w->send(move_op(static_cast<liveshare::NodeId>(100 + k), 7, k));
    auto echoes = read_ops(*w, 10);  // its own 5 creates and 5 moves: all sequenced
    ASSERT_EQ(echoes.size(), 10u);
    auto again = join(*cl.nodes()[1], room, reader, true, 5);
    std::vector<Durable> replay;
    ServerMessage m;
    while (replay.size() < 5 && next(*again, m, 5000ms)) {
        EXPECT_NE(m.type, MsgType::GraphState) << "a full state instead of the missed messages";
        if (m.type == MsgType::GraphOp)
            replay.push_back({m.seq.value_or(0), m.user_id, std::string(m.payload)});
    }
    ASSERT_EQ(replay.size(), 5u);
    for (int k = 0; k < 5; ++k) EXPECT_TRUE(replay[k] == echoes[5 + k]) << "seq " << replay[k].seq;
}

// A node that takes a room's first member builds its state from the room's snapshot and the
// stream after it: with --seq-log=1 the snapshot trims the stream, so the first messages are
// only in the snapshot.
TEST(Cluster, NewNodeBuildsStateFromSnapshotAndStream) {
    LocalCluster cl(harness::find_server_binary(), 1,
                    node_args({"--snapshot-interval-ms=100", "--seq-log=1"}));
    const std::string room = uuid();
    auto w = join(*cl.nodes()[0], room, uuid(), true);
    for (int k = 0; k < 3; ++k) w->send(create_op(static_cast<liveshare::NodeId>(200 + k)));
    ASSERT_EQ(read_ops(*w, 3).size(), 3u);
    const std::string snap_key = "ls:{" + room + "}:snap", log_key = "ls:{" + room + "}:log";
    bool snapped = false;
    for (int i = 0; i < 100 && !snapped; ++i) {  // bounded: 5 s
        snapped =
            cl.redis().command("HGET " + snap_key + " seq").find("\r\n3\r\n") != std::string::npos;
        if (!snapped) std::this_thread::sleep_for(50ms);
    }
    ASSERT_TRUE(snapped) << "no snapshot at seq 3 in Redis";
    EXPECT_EQ(cl.redis().command("XRANGE " + log_key + " 0-1 0-1").rfind("*0", 0), 0u)
        << "seq 1 still in the stream";
    w->send(move_op(200, 40, 50));
    w->send(move_op(201, 60, 70));
    ASSERT_EQ(read_ops(*w, 2).size(), 2u);

    auto late = harness::ServerProcess(harness::find_server_binary(), [&] {
        auto a = node_args();
        a.push_back("--cluster=" + cl.redis().url());
        return a;
    }());
    auto r = join(late, room, uuid(), true);
    ServerMessage fresh, reference;
    ASSERT_TRUE(r->recv_type(MsgType::GraphState, fresh));
    EXPECT_EQ(fresh.seq.value_or(0), 5u);
    w->send(R"({"type":"RequestGraphState"})");
    ASSERT_TRUE(w->recv_type(MsgType::GraphState, reference));
    EXPECT_EQ(reference.seq.value_or(0), 5u);
    EXPECT_TRUE(fresh.state == reference.state)
        << "the new node's state differs from the first node's";
    EXPECT_EQ(fresh.state.element_count(), reference.state.element_count());
}

// Presence is the cluster's: room_info counts every node's members, joins and leaves reach
// the other node, and the cap (--max-users) counts them all.
TEST(Cluster, PresenceAndCapCountEveryNode) {
    LocalCluster cl(harness::find_server_binary(), 2, node_args({"--max-users=2"}));
    const std::string room = uuid(), a_id = uuid(), b_id = uuid();
    auto a = join(*cl.nodes()[0], room, a_id);
    auto b = std::make_unique<harness::SyncClient>(endpoint(*cl.nodes()[1]), room);
    std::string auth;
    liveshare::encode_auth(auth, b_id, "bee", std::nullopt, std::nullopt);
    b->send(auth);
    ServerMessage m;
    ASSERT_TRUE(b->recv_type(MsgType::AuthResult, m));
    ASSERT_TRUE(m.success);
    EXPECT_EQ(m.user_count, 2u);
    ASSERT_TRUE(a->recv_type(MsgType::UserJoined, m));
    EXPECT_EQ(m.user_id, b_id);
    auto refused = refused_auth(*cl.nodes()[0], room);
    EXPECT_EQ(refused.error, "Room is full");
    b->close();
    ASSERT_TRUE(a->recv_type(MsgType::UserLeft, m));
    EXPECT_EQ(m.user_id, b_id);
    auto c = join(*cl.nodes()[0], room, uuid());  // room for one again
}

// One node of three SIGKILLed mid-run: its users reconnect to the others and resume; nothing
// durable is lost or duplicated and every client converges.
TEST(Cluster, NodeKillLosesNothing) {
    LocalCluster cl(harness::find_server_binary(), 3, node_args({"--max-users=100"}));
    auto cfg = harness::LoadTestConfigBuilder()
                   .users(12)
                   .messages_per_user(40)
                   .interval(50ms)
                   .duration(20000ms)
                   .reconnect(true)
                   .target(cl.targets())
                   .trigger(12 * 15, [&] { cl.nodes()[2]->kill_hard(); })
                   .build();
    auto r = harness::run_load_test(cfg);
    const auto& M = r.metrics;
    EXPECT_EQ(M.users_joined, 12u);
    EXPECT_GT(M.totals.reconnects, 0u) << "the kill did not reach anyone";
    EXPECT_EQ(M.lost, 0u);
    EXPECT_EQ(M.totals.durable_duplicates, 0u);
    EXPECT_EQ(M.totals.rollbacks, 0u);
    ASSERT_TRUE(M.delivery_pct.has_value());
    EXPECT_EQ(*M.delivery_pct, 100.0);
    EXPECT_EQ(M.convergence, harness::Convergence::Converged) << M.convergence_detail;
    EXPECT_GT(M.totals.latency_cross_node.count(), 0u);
}

// Volatile messages reach the other node's members (pub/sub), not the sender.
TEST(Cluster, VolatileMessagesCrossNodes) {
    LocalCluster cl(harness::find_server_binary(), 2, node_args());
    const std::string room = uuid(), a_id = uuid();
    auto a = join(*cl.nodes()[0], room, a_id);
    auto b = join(*cl.nodes()[1], room, uuid());
    a->send(R"({"type":"CursorMove","payload":{"position":[12,34]}})");
    ServerMessage m;
    ASSERT_TRUE(b->recv_type(MsgType::CursorMove, m));
    EXPECT_EQ(m.user_id, a_id);
    EXPECT_EQ(m.position.x, 12);
    EXPECT_EQ(m.position.y, 34);
}

// A room made with POST /room/{id} on one node is the cluster's: a second POST on another node
// is 409, its password holds on every node, and with --require-rest-create every node knows
// it exists (and still refuses one never created).
TEST(Cluster, RestCreatedRoomIsTheClustersOnEveryNode) {
    LocalCluster cl(harness::find_server_binary(), 2,
                    node_args({"--bcrypt-cost=4", "--require-rest-create"}));
    const std::string room = uuid();
    const std::string body = R"({"name":"shared","password":"s3cret","max_users":null})";
    EXPECT_EQ(harness::http_request(endpoint(*cl.nodes()[0]), "POST", "/room/" + room, body).status,
              201);
    EXPECT_EQ(harness::http_request(endpoint(*cl.nodes()[1]), "POST", "/room/" + room, body).status,
              409);
    auto refused = refused_auth(*cl.nodes()[1], room);
    EXPECT_EQ(refused.error, "Invalid password");
    auto ok = join(*cl.nodes()[1], room, uuid(), false, std::nullopt, std::string_view("s3cret"));
    auto info = harness::http_request(endpoint(*cl.nodes()[1]), "GET", "/room/" + room + "/info");
    EXPECT_NE(info.body.find("\"name\":\"shared\""), std::string::npos) << info.body;
    EXPECT_NE(info.body.find("\"is_protected\":true"), std::string::npos) << info.body;
    auto missing = refused_auth(*cl.nodes()[1], uuid());
    EXPECT_EQ(missing.error, "Room not found");
}

// The original's state flow (no liveshare.v2) when the server's state has no tables: the
// requester's node has no other member, so a member on the other node is asked, and its
// answer comes back to the requester only.
TEST(Cluster, OriginalStateRequestIsAnsweredFromAnotherNode) {
    LocalCluster cl(harness::find_server_binary(), 2, node_args());
    const std::string room = uuid(), a_id = uuid(), b_id = uuid();
    auto a = join(*cl.nodes()[0], room, a_id);
    auto b = join(*cl.nodes()[1], room, b_id);
    b->send(R"({"type":"RequestGraphState"})");
    ServerMessage m;
    ASSERT_TRUE(a->recv_type(MsgType::RequestGraphState, m));
    EXPECT_EQ(m.requester_id, b_id);
    a->send(R"({"type":"GraphStateResponse","payload":{"target_user_id":")" + b_id +
            R"(","state":{"tables":[],"relationships":[]}}})");
    ASSERT_TRUE(b->recv_type(MsgType::GraphState, m));
    EXPECT_EQ(m.target_user_id, b_id);
}

// A node takes a room's first member while another node's member is sending: whatever the
// interleaving of the subscription, the load and the traffic, the new member gets the state
// at some seq S and then every message after S exactly once, in order.
TEST(Cluster, JoiningAFreshNodeDuringTrafficMissesNothing) {
    LocalCluster cl(harness::find_server_binary(), 2, node_args());
    const std::string room = uuid();
    auto w = join(*cl.nodes()[0], room, uuid(), true);
    ServerMessage m;
    ASSERT_TRUE(w->recv_type(MsgType::GraphState, m));  // its (empty) state at join
    const int total = 3000;
    std::atomic<int> sent{0};
    std::thread writer([&] {
        for (int k = 0; k < total; ++k) {
            w->send(k == 0 ? create_op(500) : move_op(500, k, k));
            sent = k + 1;  // thousands a second: messages arrive while the new node loads
            std::this_thread::sleep_for(200us);
        }
    });
    while (sent < total / 10) std::this_thread::sleep_for(100us);
    auto r = join(*cl.nodes()[1], room, uuid(), true);
    ASSERT_TRUE(r->recv_type(MsgType::GraphState, m, 10000ms));
    std::uint64_t last = m.seq.value_or(0);
    const std::uint64_t from = last;
    bool in_order = true;
    while (last < static_cast<std::uint64_t>(total) && next(*r, m, 10000ms))
        if (m.type == MsgType::GraphOp) {
            in_order = in_order && m.seq == last + 1;
            last = m.seq.value_or(0);
        }
    writer.join();
    EXPECT_TRUE(in_order) << "a gap or a repeat after seq " << from;
    EXPECT_EQ(last, static_cast<std::uint64_t>(total));
    w->send(R"({"type":"RequestGraphState"})");
    r->send(R"({"type":"RequestGraphState"})");
    ServerMessage a, b;
    ASSERT_TRUE(w->recv_type(MsgType::GraphState, a, 10000ms));
    ASSERT_TRUE(r->recv_type(MsgType::GraphState, b, 10000ms));
    EXPECT_TRUE(a.state == b.state);
    EXPECT_EQ(b.state.tables().at(500).position.x, total - 1);
    // Whether this run's interleaving needed a read of the stream (informational).
    RecordProperty("gap_fetches_on_the_new_node",
                   std::to_string(metric(*cl.nodes()[1], "liveshare_cluster_gap_fetches_total")));
}
