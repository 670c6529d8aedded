// The impairment proxy, real packet loss in a namespace, and the harness's reconnect and
// resume under resets. Timing is checked only as lower bounds the proxy itself guarantees
// (its timers never fire early) and by the order of events, never as a performance figure.
#include <future>
#include <thread>

#include "procs/netsim.hpp"
#include "run/run_load.hpp"
#include "server_fixture.hpp"

using namespace lstest;
using harness::ImpairmentProxy;
using harness::ImpairmentSettings;
using harness::LoadTestConfigBuilder;
using harness::ProxyEvent;

namespace {

harness::Endpoint proxy_ep(const ImpairmentProxy& p) {
    return {"127.0.0.1", p.port(), nullptr, {}};
}

std::unique_ptr<harness::SyncClient> join_via(const ImpairmentProxy& p, const std::string& room,
                                              const std::string& user, bool v2 = true) {
    auto c = std::make_unique<harness::SyncClient>(proxy_ep(p), room, v2, 10000ms);
    std::string auth;
    liveshare::encode_auth(auth, user, "u", std::nullopt, std::nullopt);
    c->send(auth);
    ServerMessage m;
    EXPECT_TRUE(c->recv_type(MsgType::GraphState, m, 10000ms)) << "no GraphState through the proxy";
    return c;
}

std::string op_frame(liveshare::NodeId table, int i, std::size_t pad = 0) {
    liveshare::GraphOp op;
    op.type = pad ? liveshare::OpType::CreateTable : liveshare::OpType::MoveTable;
    op.node_id = table;
    op.table_uuid = table_uuid(table);
    op.position = {static_cast<double>(i), 0};
    op.name = std::string(pad, 'x');
    std::string f;
    liveshare::encode_graph_op(f, op);
    return f;
}

// Sends n graph ops (position.x = 0..n-1) and expects their echoes back, in order.
void send_and_expect_echoes(harness::SyncClient& c, liveshare::NodeId table, int n, std::size_t pad,
                            std::chrono::milliseconds timeout) {
    for (int i = 0; i < n; ++i) c.send(op_frame(table, i, pad));
    ServerMessage m;
    for (int i = 0; i < n; ++i) {
        ASSERT_TRUE(c.recv_type(MsgType::GraphOp, m, timeout)) << "echo " << i;
        EXPECT_DOUBLE_EQ(m.op.position.x, i);
    }
}

// First event of a kind in a direction, and last Forwarded one.
const ProxyEvent* first(const std::vector<ProxyEvent>& ev, ProxyEvent::Kind k, int dir) {
    for (auto& e : ev)
        if (e.kind == k && e.dir == dir) return &e;
    return nullptr;
}

}  // namespace

TEST(Netsim, ProxyDelaysEachDirectionByAtLeastTheLatencyAndKeepsBytesInOrder) {
    auto s = start_server({"--db=", "--quiet=1", "--graphop-interval-ms=0", "--rate-critical=0/0"});
    ImpairmentSettings is;
    is.latency_ms = 40;
    is.jitter_ms = 20;  // 20..60 ms per segment, yet nothing may overtake
    ImpairmentProxy proxy("127.0.0.1", s->port(), is, true);
    const std::string room = uuid();
    const auto table = node_id();
    auto c = join_via(proxy, room, uuid());
    // Every echo arrives, in the order sent.
    send_and_expect_echoes(*c, table, 30, 0, 10000ms);
    auto ev = proxy.events();
    std::uint64_t read[2] = {0, 0}, fwd[2] = {0, 0};
    for (auto& e : ev) {
        if (e.kind == ProxyEvent::Read) read[e.dir] += e.bytes;
        if (e.kind == ProxyEvent::Forwarded) {
            fwd[e.dir] += e.bytes;
            EXPECT_GE(e.t_us, e.due_us) << "forwarded before it was due";
            EXPECT_GE(e.held_us, 20000) << "a segment was held less than latency - jitter";
        }
    }
    EXPECT_EQ(read[0], fwd[0]);
    EXPECT_GT(fwd[1], 0u);
    for (int dir : {0, 1}) {
        auto* r = first(ev, ProxyEvent::Read, dir);
        auto* f = first(ev, ProxyEvent::Forwarded, dir);
        ASSERT_TRUE(r && f);
        EXPECT_GE(f->t_us - r->t_us, 20000)
            << "direction " << dir << " was not delayed";  // latency - jitter
    }
    EXPECT_EQ(proxy.stats().connections, 1u);
}

TEST(Netsim, BandwidthCapSpacesTheBytes) {
    auto s = start_server({"--db=", "--quiet=1", "--graphop-interval-ms=0", "--rate-critical=0/0"});
    ImpairmentSettings is;
    is.bandwidth_mbps = 1;  // 100 KB take at least 0.8 s
    ImpairmentProxy proxy("127.0.0.1", s->port(), is, true);
    auto c = join_via(proxy, uuid(), uuid());
    c->send(op_frame(node_id(), 1, 100000));
    ServerMessage m;
    ASSERT_TRUE(c->recv_type(MsgType::GraphOp, m, 20000ms));
    EXPECT_EQ(m.op.name.size(), 100000u);
    auto ev = proxy.events();
    std::int64_t first_read = -1, last_fwd = -1;
    for (auto& e : ev) {
        if (e.dir != 0) continue;
        if (e.kind == ProxyEvent::Read && e.bytes > 1000 && first_read < 0) first_read = e.t_us;
        if (e.kind == ProxyEvent::Forwarded) last_fwd = e.t_us;
    }
    ASSERT_GE(first_read, 0);
    EXPECT_GE(last_fwd - first_read, 700000) << "100 KB crossed a 1 Mbit/s cap too fast";
}

TEST(Netsim, LossModelHoldsSegmentsButLosesNoByte) {
    auto s = start_server({"--db=", "--quiet=1", "--graphop-interval-ms=0", "--rate-critical=0/0"});
    ImpairmentSettings is;
    is.loss_pct = 30;
    is.rto_ms = 20;
    is.seed = 7;
    ImpairmentProxy proxy("127.0.0.1", s->port(), is, true);
    const auto table = node_id();
    auto c = join_via(proxy, uuid(), uuid());
    // Every echo arrives, in the order sent.
    send_and_expect_echoes(*c, table, 40, 2000, 20000ms);
    auto st = proxy.stats();
    EXPECT_GT(st.segments_lost, 0u);
    EXPECT_LT(st.segments_lost, st.segments * 2);
    // Without latency, only a lost segment is held: for at least one timeout (20 ms).
    std::int64_t longest = 0;
    for (auto& e : proxy.events())
        if (e.kind == ProxyEvent::Forwarded) longest = std::max(longest, e.held_us);
    EXPECT_GE(longest, 20000);
}

TEST(Netsim, ResetsCloseConnectionsAbruptlyAtTheirRate) {
    auto s = start_server({"--db=", "--quiet=1"});
    ImpairmentSettings is;
    is.resets_per_min = 1200;  // one every 50 ms on average, over all connections
    is.seed = 3;
    ImpairmentProxy proxy("127.0.0.1", s->port(), is, true);
    const std::string room = uuid();
    std::vector<std::unique_ptr<harness::SyncClient>> clients;
    // A reset may hit a connection during its handshake: then that client is made again.
    for (int tries = 0; clients.size() < 3 && tries < 50; ++tries) {
        try {
            clients.push_back(std::make_unique<harness::SyncClient>(proxy_ep(proxy), room, true));
        } catch (const std::exception&) {
        }
    }
    ASSERT_EQ(clients.size(), 3u);
    // Bounded wait for every connection to be reset: each sees the TCP connection end
    // without a WebSocket close frame.
    for (auto& c : clients) EXPECT_TRUE(c->wait_closed(20000ms));
    for (auto& c : clients) EXPECT_EQ(c->close_code(), 0) << "a reset carries no close code";
    const auto resets = proxy.stats().resets;
    EXPECT_GE(resets, 3u);
    std::uint64_t reset_events = 0;
    for (auto& e : proxy.events()) reset_events += e.kind == ProxyEvent::Reset;
    EXPECT_EQ(reset_events, resets);
    // A client whose handshake a reset broke closed its own side: the proxy sees that too.
    for (int i = 0; i < 200 && proxy.open_connections() > 0; ++i) std::this_thread::sleep_for(10ms);
    EXPECT_EQ(proxy.open_connections(), 0u);
}

TEST(Netsim, StallsHoldADirectionAndLoseNothing) {
    auto s = start_server({"--db=", "--quiet=1", "--graphop-interval-ms=0", "--rate-critical=0/0"});
    ImpairmentSettings is;
    is.stalls_per_min = 600;  // one every 100 ms on average
    is.stall_ms = 150;
    is.seed = 5;
    ImpairmentProxy proxy("127.0.0.1", s->port(), is, true);
    const auto table = node_id();
    auto c = join_via(proxy, uuid(), uuid());
    for (int i = 0; i < 200 && proxy.stats().stalls < 3; ++i) std::this_thread::sleep_for(50ms);
    EXPECT_GE(proxy.stats().stalls, 3u);
    // Every echo arrives, in the order sent.
    send_and_expect_echoes(*c, table, 10, 0, 20000ms);
    // Order of events: no write of a stalled direction of a connection began inside its stall.
    auto ev = proxy.events();
    int stalled = 0;
    for (auto& st : ev) {
        if (st.kind != ProxyEvent::Stalled) continue;
        ++stalled;
        for (auto& f : ev) {
            if (f.kind == ProxyEvent::Forwarded && f.conn == st.conn && f.dir == st.dir) {
                EXPECT_FALSE(f.t_us > st.t_us && f.t_us < st.t_us + is.stall_ms * 1000)
                    << "a write began " << (f.t_us - st.t_us) << " us into a " << is.stall_ms
                    << " ms stall";
            }
        }
    }
    EXPECT_GE(stalled, 3);
}

namespace {

// A load run through the proxy, every connection reset once each time the users together
// have sent another `every` messages, `rounds` times.
harness::LoadTestMetrics run_with_resets(ImpairmentProxy& proxy, harness::LoadTestConfig cfg,
                                         pid_t server, int rounds, std::uint64_t every) {
    for (int k = 1; k <= rounds; ++k)
        cfg.triggers.push_back({every * k, [&proxy] { proxy.reset_all(); }});
    return harness::run_load_test(cfg, server).metrics;
}

}  // namespace

TEST(Faults, ResetsLeadToReconnectAndResumeWithZeroDurableLoss) {
    auto s = start_server({"--db=", "--quiet=1", "--graphop-interval-ms=0", "--rate-critical=0/0"});
    ImpairmentSettings is;
    is.latency_ms = 2;
    ImpairmentProxy proxy("127.0.0.1", s->port(), is);
    auto cfg = LoadTestConfigBuilder()
                   .users(5)
                   .messages_per_user(60)
                   .interval(40ms)
                   .duration(20000ms)
                   .drain(15000ms)
                   .reconnect(true)
                   .target(proxy.url())
                   .build();
    // Reset every connection three times while the run sends 300 messages: after 60, 120, 180.
    auto m = run_with_resets(proxy, cfg, s->pid(), 3, 60);
    EXPECT_EQ(m.users_joined, 5u);
    EXPECT_GE(proxy.stats().resets, 5u);
    EXPECT_GE(m.totals.reconnects, 5u);
    EXPECT_EQ(m.totals.reconnects, m.totals.resumes + m.totals.resyncs);
    EXPECT_EQ(m.totals.resyncs, 0u) << "the server's log covers a few seconds of ops";
    EXPECT_EQ(m.totals.durable_expected, 5u * 4 * 60);
    EXPECT_EQ(m.lost, 0u);
    EXPECT_DOUBLE_EQ(m.delivery_pct.value_or(-1), 100.0);
    EXPECT_EQ(m.convergence, harness::Convergence::Converged) << m.convergence_detail;
}

TEST(Faults, ALogTooShortToResumeFallsBackToTheFullState) {
    // One connection at a time is reset (Poisson, every 50 ms on average), so the others keep
    // sending while it backs off: it misses more than the one-entry log holds.
    auto s = start_server(
        {"--db=", "--quiet=1", "--graphop-interval-ms=0", "--rate-critical=0/0", "--seq-log=1"});
    ImpairmentSettings is;
    is.resets_per_min = 1200;
    is.seed = 11;
    ImpairmentProxy proxy("127.0.0.1", s->port(), is);
    auto cfg = LoadTestConfigBuilder()
                   .users(4)
                   .messages_per_user(60)
                   .interval(30ms)
                   .duration(20000ms)
                   .drain(3000ms)
                   .reconnect(true)
                   .target(proxy.url())
                   .build();
    harness::LoadTestResult r;
    std::thread run([&] { r = harness::run_load_test(cfg, s->pid()); });
    // Resets stop after a dozen (well inside the 1.8 s of sending), so the end of the run,
    // its drain and the convergence check see a quiet network.
    for (int i = 0; i < 400 && proxy.stats().resets < 12; ++i) std::this_thread::sleep_for(50ms);
    proxy.set_fault_rates(0, 0);
    const auto resets = proxy.stats().resets;
    run.join();
    const auto& m = r.metrics;
    EXPECT_GE(resets, 12u);
    EXPECT_EQ(proxy.stats().resets, resets) << "no reset after the rates went to 0";
    EXPECT_GE(m.totals.reconnects, 4u);
    EXPECT_GT(m.totals.resyncs, 0u);
    EXPECT_EQ(m.convergence, harness::Convergence::Converged)
        << m.convergence_detail;  // the state, not every message, arrives
}

TEST(Netsim, RealPacketLossInANamespaceLosesNoDurableMessage) {
    std::string why;
    if (!harness::LossNamespace::available(why)) GTEST_SKIP() << why;
    harness::LossNamespace ns(5);
    harness::ServerLaunch launch;
    launch.address = ns.inner_address();
    launch.prefix = ns.exec_prefix();
    harness::ServerProcess s(
        harness::find_server_binary(),
        {"--db=", "--quiet=1", "--graphop-interval-ms=0", "--rate-critical=0/0"}, 20000ms, launch);
    auto cfg = LoadTestConfigBuilder()
                   .users(4)
                   .messages_per_user(50)
                   .interval(20ms)
                   .duration(30000ms)
                   .drain(20000ms)
                   .reconnect(true)
                   .target(s.url())
                   .build();
    auto r = harness::run_load_test(cfg, s.pid());
    const auto& m = r.metrics;
    EXPECT_EQ(m.users_joined, 4u);
    EXPECT_GT(ns.dropped_packets(), 0u) << "nftables dropped nothing";
    EXPECT_GT(ns.tcp_retransmits(), 0u);
    EXPECT_EQ(m.lost, 0u);
    EXPECT_DOUBLE_EQ(m.delivery_pct.value_or(-1), 100.0);
    EXPECT_EQ(m.convergence, harness::Convergence::Converged) << m.convergence_detail;
}

namespace {

// A load run with reconnects while the server is killed with SIGKILL and restarted on the
// same port and database. Returns the run's metrics.
harness::LoadTestMetrics run_with_server_kill(const std::string& durability) {
    const std::string db = temp_db("kill-" + durability);
    const std::vector<std::string> args = {"--db=" + db, "--quiet=1", "--graphop-interval-ms=0",
                                           "--rate-critical=0/0", "--durability=" + durability};
    auto s = std::make_unique<harness::ServerProcess>(harness::find_server_binary(), args);
    harness::ServerLaunch same_port;
    same_port.port = s->port();
    auto cfg = LoadTestConfigBuilder()
                   .users(5)
                   .messages_per_user(60)
                   .interval(40ms)
                   .duration(30000ms)
                   .drain(15000ms)
                   .reconnect(true)
                   .target(s->url())
                   .build();
    // Mid-run: once the users have sent 100 of their 300 messages, the server dies.
    std::promise<void> killed;
    cfg.triggers.push_back({100, [&] {
                                s->kill_hard();
                                killed.set_value();
                            }});
    harness::LoadTestResult r;
    std::thread run([&] { r = harness::run_load_test(cfg); });
    killed.get_future().wait();
    std::this_thread::sleep_for(300ms);  // the outage itself, not a synchronization
    s = std::make_unique<harness::ServerProcess>(harness::find_server_binary(), args, 10000ms,
                                                 same_port);
    run.join();
    return r.metrics;
}

}  // namespace

TEST(Faults, KillMinus9InDurabilityModeLosesNothingAnyClientReceived) {
    auto m = run_with_server_kill("group");
    EXPECT_EQ(m.users_joined, 5u);
    EXPECT_GE(m.totals.reconnects, 5u) << "every user reconnects after the kill";
    EXPECT_EQ(m.totals.rollbacks, 0u)
        << "the restarted server remembers every message a client had";
    EXPECT_EQ(m.totals.durable_expected, 5u * 4 * 60);
    EXPECT_EQ(m.lost, 0u);
    EXPECT_DOUBLE_EQ(m.delivery_pct.value_or(-1), 100.0);
    EXPECT_EQ(m.convergence, harness::Convergence::Converged) << m.convergence_detail;
}

TEST(Faults, KillMinus9WithoutDurabilityForgetsWhatClientsHadReceived) {
    // The default mode snapshots every 25 s: a kill a second into the run loses the room's
    // history, and the harness sees the server's seq go back.
    auto m = run_with_server_kill("none");
    EXPECT_GE(m.totals.reconnects, 5u);
    EXPECT_GT(m.totals.rollbacks, 0u);
}
