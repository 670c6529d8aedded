// Snapshots: written on SIGTERM and on the last leave, restored at start.
#include "server_fixture.hpp"

using namespace lstest;

TEST(Persistence, StateSurvivesGracefulRestart) {
    const auto db = temp_db("restart");
    const auto room = uuid();
    const auto node = node_id();
    std::uint64_t seq_before = 0;
    {
        auto s = start_server({"--db=" + db, "--graphop-interval-ms=0", "--quiet=1"});
        auto a = join(*s, room, uuid(), true);
        a->send(create_op(node));
        a->send(move_op(node, 42, 7));
        ServerMessage m;
        ASSERT_TRUE(a->recv_type(MsgType::GraphOp, m));
        ASSERT_TRUE(a->recv_type(MsgType::GraphOp, m));
        seq_before = m.seq.value_or(0);
        EXPECT_EQ(s->stop(), 0);  // SIGTERM: sessions closed, snapshot flushed
    }
    auto s = start_server({"--db=" + db, "--quiet=1"});
    auto b = join(*s, room, uuid(), true);
    ServerMessage m;
    ASSERT_TRUE(b->recv_type(MsgType::GraphState, m));
    ASSERT_EQ(m.state.tables().count(node), 1u);
    EXPECT_EQ(m.state.tables().at(node).position.x, 42);
    EXPECT_EQ(m.seq, seq_before);  // sequence numbers continue where they were
    ASSERT_TRUE(b->recv_type(MsgType::SnapshotRecovery, m));
    EXPECT_GT(m.bytes.size(), 10u);
    EXPECT_GE(m.element_count, 1u);
}

TEST(Persistence, LastLeaveWritesASnapshot) {
    const auto db = temp_db("lastleave");
    auto s = start_server({"--db=" + db, "--quiet=1"});
    const auto room = uuid();
    {
        auto a = join(*s, room, uuid());
        a->send(create_op(node_id()));
        ServerMessage m;
        ASSERT_TRUE(a->recv_type(MsgType::GraphOp, m));
        a->close();
    }
    // The writer thread picks the request up promptly; poll the metric, bounded.
    double writes = 0;
    for (int i = 0; i < 100 && writes < 1; ++i) {
        writes = metric(*s, "liveshare_snapshot_write_ms_count");
        std::this_thread::sleep_for(50ms);
    }
    EXPECT_GE(writes, 1);
}

TEST(Persistence, UnwritableDatabaseIsAClearStartupError) {
    try {
        start_server({"--db=/nonexistent-dir/x.db", "--quiet=1"});
        ADD_FAILURE() << "the server started with an unwritable database";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("/nonexistent-dir/x.db"), std::string::npos)
            << e.what();
    }
}
