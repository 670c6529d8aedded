// Integration tests against a real liveshare-server process over real WebSockets.
#include "server_fixture.hpp"

using namespace lstest;

namespace {
// Permissive limits so tests about other things are not throttled.
std::vector<std::string> relaxed() {
    return {"--db=", "--graphop-interval-ms=0", "--rate-critical=0/0", "--rate-volatile=0/0",
            "--quiet=1"};
}
}  // namespace

TEST(Server, HealthzAndMetricsAnswer) {
    auto s = start_server(relaxed());
    auto h = harness::http_request(endpoint(*s), "GET", "/healthz");
    EXPECT_EQ(h.status, 200);
    EXPECT_NE(h.body.find("\"status\":\"ok\""), std::string::npos);
    auto m = harness::http_request(endpoint(*s), "GET", "/metrics");
    EXPECT_EQ(m.status, 200);
    for (auto name : {"liveshare_connections", "liveshare_messages_in_total",
                      "liveshare_drops_total", "liveshare_send_queue_bytes",
                      "liveshare_slow_consumer_closes_total", "liveshare_snapshot_write_ms_bucket"})
        EXPECT_NE(m.body.find(name), std::string::npos) << name;
    EXPECT_EQ(harness::http_request(endpoint(*s), "GET", "/nope").status, 404);
}

TEST(Server, JoinSendsAuthResultStateAndUserJoined) {
    auto s = start_server(relaxed());
    const auto room = uuid(), a = uuid(), b = uuid();
    auto ca = join(*s, room, a);
    ServerMessage m;
    auto cb = std::make_unique<harness::SyncClient>(endpoint(*s), room);
    std::string auth;
    liveshare::encode_auth(auth, b, "bob", std::nullopt, std::nullopt);
    cb->send(auth);
    ASSERT_TRUE(cb->recv_type(MsgType::AuthResult, m));
    EXPECT_TRUE(m.success);
    EXPECT_EQ(m.user_count, 2u);
    ASSERT_TRUE(ca->recv_type(MsgType::UserJoined, m));
    EXPECT_EQ(m.user_id, b);
    EXPECT_EQ(m.username, "bob");
    cb->close();
    ASSERT_TRUE(ca->recv_type(MsgType::UserLeft, m));
    EXPECT_EQ(m.user_id, b);
}

TEST(Server, MessagesBeforeAuthGetNotAuthenticatedAndConnectionStaysUsable) {
    auto s = start_server(relaxed());
    harness::SyncClient c(endpoint(*s), uuid());
    c.send(R"({"type":"CursorMove","payload":{"position":[1,2]}})");
    ServerMessage m;
    ASSERT_TRUE(c.recv_type(MsgType::Error, m));
    EXPECT_EQ(m.code, "not_authenticated");
    std::string auth;
    liveshare::encode_auth(auth, uuid(), "late", std::nullopt, std::nullopt);
    c.send(auth);
    ASSERT_TRUE(c.recv_type(MsgType::AuthResult, m));
    EXPECT_TRUE(m.success);
}

TEST(Server, BadInputGetsInvalidMessageAndNothingIsLost) {
    auto s = start_server(relaxed());
    const auto room = uuid();
    auto a = join(*s, room, uuid());
    auto b = join(*s, room, uuid());
    ServerMessage m;
    const std::vector<std::pair<std::string, std::string>> bad = {
        {"{not json", "malformed"},
        {R"({"type":"Teleport"})", "unknown message type"},
        {R"({"type":"CursorMove","payload":{"position":"x"}})", "payload.position"},
        {R"({"type":"GraphOp","payload":{"op":{"op_type":"MoveTable"}}})", "payload.op"},
        {R"({"type":"CursorMove","payload":{"user_id":"spoof","position":[1,2]}})", "user_id"},
    };
    for (auto& [text, what] : bad) {
        a->send(text);
        ASSERT_TRUE(a->recv_type(MsgType::Error, m)) << text;
        EXPECT_EQ(m.code, "invalid_message") << text;
        EXPECT_NE(m.error.find(what), std::string::npos) << m.error;
    }
    // The connection still works and a durable op still reaches the other member.
    const auto node = node_id();
    a->send(create_op(node));
    ASSERT_TRUE(b->recv_type(MsgType::GraphOp, m));
    EXPECT_EQ(m.op.node_id, node);
    EXPECT_GE(metric(*s, "liveshare_drops_total{reason=\"invalid_message\"}"), 5);
}

TEST(Server, OversizedFrameClosesWith1009) {
    auto args = relaxed();
    args.push_back("--max-frame-bytes=4096");
    auto s = start_server(args);
    auto a = join(*s, uuid(), uuid());
    a->send(std::string(10000, ' '));
    EXPECT_TRUE(a->wait_closed());
    EXPECT_EQ(a->close_code(), 1009);
}

TEST(Server, RelayAddsUserIdVolatileNotEchoedDurableEchoed) {
    auto s = start_server(relaxed());
    const auto room = uuid(), ua = uuid();
    auto a = join(*s, room, ua);
    auto b = join(*s, room, uuid());
    ServerMessage m;
    a->send(R"({"type":"CursorMove","payload":{"position":[10,20]}})");
    ASSERT_TRUE(b->recv_type(MsgType::CursorMove, m));
    EXPECT_EQ(m.user_id, ua);
    EXPECT_EQ(m.position.y, 20);
    const auto node = node_id();
    a->send(create_op(node));
    ASSERT_TRUE(b->recv_type(MsgType::GraphOp, m));
    // a sees its own GraphOp (the echo) but never its CursorMove.
    bool saw_cursor = false, saw_echo = false;
    for (int i = 0; i < 20 && !saw_echo; ++i) {
        if (!next(*a, m, 2000ms)) break;
        saw_cursor |= m.type == MsgType::CursorMove;
        saw_echo |= m.type == MsgType::GraphOp && m.user_id == ua;
    }
    EXPECT_TRUE(saw_echo);
    EXPECT_FALSE(saw_cursor);
    // Every other relayed type reaches b.
    a->send(R"({"type":"IdleStatus","payload":{"is_active":false}})");
    ASSERT_TRUE(b->recv_type(MsgType::IdleStatus, m));
    a->send(R"({"type":"UserViewport","payload":{"center":[1,2],"zoom":2}})");
    ASSERT_TRUE(b->recv_type(MsgType::UserViewport, m));
    a->send(R"({"type":"TableDragStart","payload":{"node_id":1,"offset":[1,2]}})");
    ASSERT_TRUE(b->recv_type(MsgType::TableDragStart, m));
    a->send(R"({"type":"TableDragEnd","payload":{"node_id":1,"position":[1,2]}})");
    ASSERT_TRUE(b->recv_type(MsgType::TableDragEnd, m));
    a->send(
        R"({"type":"Awareness","payload":{"state":{"username":"a","cursor":[5,6],"is_active":true}}})");
    ASSERT_TRUE(b->recv_type(MsgType::Awareness, m));
    a->send(R"({"type":"Update","payload":{"update":[1,2,3]}})");
    ASSERT_TRUE(b->recv_type(MsgType::Update, m));
    EXPECT_EQ(m.bytes.size(), 3u);
    a->send(R"({"type":"SyncStep1","payload":{"state_vector":[0]}})");
    ASSERT_TRUE(b->recv_type(MsgType::SyncStep1, m));
    const std::uint8_t yjs[] = {9, 8, 7};
    a->send_binary(yjs);
    ASSERT_TRUE(b->recv_type(MsgType::Update, m));
    EXPECT_EQ(m.user_id, "");  // the original relays Update without the sender
    EXPECT_EQ(m.bytes, std::vector<std::uint8_t>({9, 8, 7}));
    a->send(R"({"type":"Ping"})");
    ASSERT_TRUE(a->recv_type(MsgType::Pong, m));
    a->send(R"({"type":"RequestGraphState"})");
    ASSERT_TRUE(a->recv_type(MsgType::GraphState, m));
    EXPECT_EQ(m.state.tables().count(node), 1u);
}

// The original dropped graph ops inside its 150 ms throttle silently. Ours holds them, in
// order, for their slot; only past the hold queue is an op refused, with an Error.
namespace {
// A server with that graph-op throttle, and two members a and b of one room.
struct ThrottledRoom {
    std::unique_ptr<harness::ServerProcess> s;
    std::unique_ptr<harness::SyncClient> a, b;
    explicit ThrottledRoom(std::vector<std::string> args) {
        args.insert(args.end(), {"--db=", "--rate-critical=0/0", "--quiet=1"});
        s = start_server(args);
        const auto room = uuid();
        a = join(*s, room, uuid());
        b = join(*s, room, uuid());
    }
};
}  // namespace

TEST(Server, ThrottledGraphOpsWaitForTheirSlotInOrder) {
    // A long interval so the burst surely arrives inside it, however slow the machine.
    ThrottledRoom r({"--graphop-interval-ms=1000", "--graphop-queue=2"});
    auto& s = r.s;
    auto& a = r.a;
    auto& b = r.b;
    ServerMessage m;
    const auto node = node_id();
    a->send(create_op(node));
    for (int i = 1; i <= 4; ++i) a->send(move_op(node, i, 0));  // 1, 2 held; 3, 4 refused
    for (int refused = 0; refused < 2; ++refused) {
        ASSERT_TRUE(a->recv_type(MsgType::Error, m));
        EXPECT_NE(m.error.find("GraphOp throttled"), std::string::npos) << m.error;
        EXPECT_NE(m.error.find("not applied"), std::string::npos);
    }
    ASSERT_TRUE(b->recv_type(MsgType::GraphOp, m));
    EXPECT_EQ(m.op.type, liveshare::OpType::CreateTable);
    for (double x : {1.0, 2.0}) {
        ASSERT_TRUE(b->recv_type(MsgType::GraphOp, m, 10000ms));
        EXPECT_EQ(m.op.type, liveshare::OpType::MoveTable);
        EXPECT_EQ(m.op.position.x, x);
    }
    EXPECT_EQ(metric(*s, "liveshare_graphops_delayed_total"), 2);
    EXPECT_EQ(metric(*s, "liveshare_drops_total{reason=\"graphop_throttled\"}"), 2);
    a->send(R"({"type":"RequestGraphState"})");
    ASSERT_TRUE(a->recv_type(MsgType::GraphState, m));
    EXPECT_EQ(m.state.tables().at(node).position.x, 2);
}

// Ops still held when their sender disconnects were accepted: they are applied, not lost.
TEST(Server, HeldGraphOpsAreAppliedWhenTheSenderLeaves) {
    ThrottledRoom r({"--graphop-interval-ms=60000"});
    auto& a = r.a;
    auto& b = r.b;
    ServerMessage m;
    const auto node = node_id();
    a->send(create_op(node));
    a->send(move_op(node, 5, 5));
    ASSERT_TRUE(b->recv_type(MsgType::GraphOp, m));
    a->send(R"({"type":"Ping"})");
    ASSERT_TRUE(a->recv_type(MsgType::Pong, m));  // the move has arrived and is held
    a->abort();
    ASSERT_TRUE(b->recv_type(MsgType::GraphOp, m));
    EXPECT_EQ(m.op.position.x, 5);
}

TEST(Server, RateLimitAnswersWithAnError) {
    auto s = start_server({"--db=", "--rate-volatile=3/0.001", "--quiet=1"});
    const auto room = uuid();
    auto a = join(*s, room, uuid());
    auto b = join(*s, room, uuid());
    ServerMessage m;
    for (int i = 0; i < 5; ++i)
        a->send(R"({"type":"TableDragStart","payload":{"node_id":1,"offset":[1,2]}})");
    ASSERT_TRUE(a->recv_type(MsgType::Error, m));
    EXPECT_NE(m.error.find("Rate limit exceeded"), std::string::npos) << m.error;
    EXPECT_GE(metric(*s, "liveshare_drops_total{reason=\"rate_limited\"}"), 1);
}

TEST(Server, SecondConnectionOfAUserReplacesTheFirst) {
    auto s = start_server(relaxed());
    const auto room = uuid(), u = uuid();
    auto first = join(*s, room, u);
    auto second = join(*s, room, u);
    EXPECT_TRUE(first->wait_closed());
    EXPECT_EQ(first->close_code(), liveshare::kCloseReplaced);
    EXPECT_FALSE(second->closed());
}

TEST(Server, FullRoomRefusesWithRoomFull) {
    auto args = relaxed();
    args.push_back("--max-users=2");
    auto s = start_server(args);
    const auto room = uuid();
    auto a = join(*s, room, uuid());
    auto b = join(*s, room, uuid());
    EXPECT_EQ(refused_auth(*s, room).error, "Room is full");
}

TEST(Server, RestCreationAndProtectedRooms) {
    auto args = relaxed();
    args.insert(args.end(), {"--require-rest-create=1", "--bcrypt-cost=4"});
    auto s = start_server(args);
    const auto room = uuid();
    EXPECT_EQ(refused_auth(*s, room).error, "Room not found");
    auto r = harness::http_request(endpoint(*s), "POST", "/room/" + room,
                                   R"({"name":"Design","password":"s3cret"})");
    EXPECT_EQ(r.status, 201);
    EXPECT_NE(r.body.find("\"is_protected\":true"), std::string::npos);
    EXPECT_EQ(harness::http_request(endpoint(*s), "POST", "/room/" + room, "").status, 409);
    EXPECT_EQ(harness::http_request(endpoint(*s), "POST", "/room/" + uuid(), "{bad").status, 400);
    auto info = harness::http_request(endpoint(*s), "GET", "/room/" + room + "/info");
    EXPECT_EQ(info.status, 200);
    EXPECT_NE(info.body.find("\"name\":\"Design\""), std::string::npos);
    EXPECT_EQ(harness::http_request(endpoint(*s), "GET", "/room/" + uuid() + "/info").status, 404);
    EXPECT_EQ(refused_auth(*s, room, std::string("wrong")).error, "Invalid password");
    auto ok = join(*s, room, uuid(), false, {}, std::string("s3cret"));
    EXPECT_FALSE(ok->closed());
}

TEST(Server, OriginalClientsSeeNoSeqAndV2ClientsResume) {
    auto s = start_server(relaxed());
    const auto room = uuid(), v2user = uuid();
    const auto node = node_id();
    auto plain = join(*s, room, uuid());
    auto v2 = join(*s, room, v2user, true);
    EXPECT_EQ(v2->subprotocol(), "liveshare.v2");
    EXPECT_EQ(plain->subprotocol(), "");
    ServerMessage m;
    plain->send(create_op(node));
    ASSERT_TRUE(plain->recv_type(MsgType::GraphOp, m));
    EXPECT_FALSE(m.seq.has_value());
    ASSERT_TRUE(v2->recv_type(MsgType::GraphOp, m));
    ASSERT_TRUE(m.seq.has_value());
    const std::uint64_t seen = *m.seq;
    v2->abort();
    // Missed while away: three moves.
    for (int i = 0; i < 3; ++i) plain->send(move_op(node, i, i));
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(plain->recv_type(MsgType::GraphOp, m));
    auto back = join(*s, room, v2user, true, seen);
    std::vector<std::uint64_t> seqs;
    for (int i = 0; i < 3; ++i) {
        ASSERT_TRUE(back->recv_type(MsgType::GraphOp, m));
        seqs.push_back(m.seq.value_or(0));
    }
    EXPECT_EQ(seqs, (std::vector<std::uint64_t>{seen + 1, seen + 2, seen + 3}));
}

TEST(Server, ResumeOlderThanTheLogGetsFullState) {
    auto args = relaxed();
    args.push_back("--seq-log=2");
    auto s = start_server(args);
    const auto room = uuid();
    const auto node = node_id();
    auto a = join(*s, room, uuid());
    a->send(create_op(node));
    for (int i = 0; i < 5; ++i) a->send(move_op(node, i, 0));
    ServerMessage m;
    for (int i = 0; i < 6; ++i) ASSERT_TRUE(a->recv_type(MsgType::GraphOp, m));
    auto late = join(*s, room, uuid(), true, 1);
    ASSERT_TRUE(late->recv_type(MsgType::GraphState, m));
    EXPECT_EQ(m.seq, 6u);
    EXPECT_EQ(m.state.tables().at(node).position.x, 4);
}

TEST(Server, SlowConsumerIsClosedWithResyncCode) {
    auto args = relaxed();
    args.insert(args.end(), {"--send-queue-soft-bytes=4096", "--send-queue-hard-bytes=65536"});
    auto s = start_server(args);
    const auto room = uuid();
    const auto node = node_id();
    auto fast = join(*s, room, uuid());
    auto slow = join(*s, room, uuid());
    slow->pause_reading();
    fast->send(create_op(node));
    // Enough durable traffic to fill the kernel buffers and then the 64 KiB queue. The fast
    // client sends in bursts and reads its echoes, so only the paused one falls behind.
    ServerMessage m;
    for (int burst = 0; burst < 2000; ++burst) {
        for (int i = 0; i < 50; ++i) fast->send(move_op(node, burst * 50 + i, 2));
        for (int i = 0; i < 50; ++i) ASSERT_TRUE(fast->recv_type(MsgType::GraphOp, m));
        if (burst % 20 == 19 && metric(*s, "liveshare_slow_consumer_closes_total") >= 1) break;
    }
    EXPECT_GE(metric(*s, "liveshare_slow_consumer_closes_total"), 1);
    slow->resume_reading();
    // Whatever was queued drains, then the 4008 close arrives.
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (!slow->closed() && std::chrono::steady_clock::now() < deadline) slow->recv(50ms);
    EXPECT_EQ(slow->close_code(), liveshare::kCloseResyncRequired);
    EXPECT_FALSE(fast->closed());
}

TEST(Server, AbruptDisconnectTellsOthers) {
    auto s = start_server(relaxed());
    const auto room = uuid(), gone = uuid();
    auto a = join(*s, room, uuid());
    auto b = join(*s, room, gone);
    b->abort();
    ServerMessage m;
    ASSERT_TRUE(a->recv_type(MsgType::UserLeft, m));
    EXPECT_EQ(m.user_id, gone);
}

TEST(Server, FloodOfGarbageDoesNotStarveOthers) {
    auto s = start_server({"--db=", "--graphop-interval-ms=0", "--quiet=1"});
    const auto room = uuid();
    const auto node = node_id();
    auto attacker = join(*s, room, uuid());
    auto a = join(*s, room, uuid());
    auto b = join(*s, room, uuid());
    for (int i = 0; i < 2000; ++i)
        attacker->send(R"({"type":"CursorMove","payload":{"position":[1,)" + std::to_string(i) +
                       "]}}");
    for (int i = 0; i < 2000; ++i) attacker->send("garbage");
    ServerMessage m;
    // The flood has been read once the attacker hears about its rate limit.
    bool limited = false;
    for (int i = 0; i < 10000 && !limited; ++i) {
        if (!attacker->recv_type(MsgType::Error, m)) break;
        limited = m.error.find("Rate limit exceeded") != std::string::npos;
    }
    EXPECT_TRUE(limited);
    a->send(create_op(node));
    bool got = false;
    for (int i = 0; i < 5000 && !got; ++i) {
        if (!next(*b, m, 5000ms)) break;
        got = m.type == MsgType::GraphOp && m.op.node_id == node;
    }
    EXPECT_TRUE(got);
    EXPECT_GE(metric(*s, "liveshare_drops_total{reason=\"rate_limited\"}"), 1);
}

TEST(Server, SecondAuthAndStillCursorsAreHandled) {
    auto s = start_server(relaxed());
    const auto room = uuid(), u = uuid();
    auto a = join(*s, room, u);
    auto b = join(*s, room, uuid());
    std::string auth;
    liveshare::encode_auth(auth, u, "again", std::nullopt, std::nullopt);
    a->send(auth);
    ServerMessage m;
    ASSERT_TRUE(a->recv_type(MsgType::Error, m));
    EXPECT_EQ(m.error, "already authenticated");
    // The second of two moves to the same spot is under 1 px: throttled, never relayed.
    a->send(R"({"type":"CursorMove","payload":{"position":[5,5]}})");
    a->send(R"({"type":"CursorMove","payload":{"position":[5,5]}})");
    a->send(create_op(node_id()));  // a durable marker after both
    int cursors = 0;
    for (int i = 0; i < 10; ++i) {
        ASSERT_TRUE(next(*b, m));
        if (m.type == MsgType::GraphOp) break;
        cursors += m.type == MsgType::CursorMove;
    }
    EXPECT_EQ(cursors, 1);
    EXPECT_GE(metric(*s, "liveshare_drops_total{reason=\"cursor_throttle\"}"), 1);
}
