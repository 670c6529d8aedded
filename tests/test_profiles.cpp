// Optimization profiles: every profile speaks the original protocol to a client that
// negotiates nothing; extensions only reach clients that ask for them.
#include "candidates.hpp"
#include "profile.hpp"
#include "server_fixture.hpp"

using namespace lstest;

TEST(Profiles, ParseNamedAndListed) {
    liveshare::register_optimizations();
    liveshare::Profile p;
    std::string err;
    ASSERT_TRUE(liveshare::parse_profile("baseline", p, err));
    EXPECT_EQ(p.serialize, "dom");
    EXPECT_EQ(p.fanout, "copy");
    EXPECT_FALSE(p.batch);
    ASSERT_TRUE(liveshare::parse_profile("baseline,serialize:splice,batch:250", p, err)) << err;
    EXPECT_EQ(p.serialize, "splice");
    EXPECT_EQ(p.fanout, "copy");
    EXPECT_TRUE(p.batch);
    EXPECT_EQ(p.batch_window_us, 250u);
    ASSERT_TRUE(liveshare::parse_profile("optimized,compress:deflate", p, err));
    EXPECT_EQ(p.compress, liveshare::CompressMode::Deflate);
    EXPECT_FALSE(liveshare::parse_profile("serialize:xml", p, err));
    EXPECT_NE(err.find("serialize:xml"), std::string::npos);
}

// The server must refuse to start for this reason, not for any other.
TEST(Profiles, UnknownProfileIsAStartupError) {
    try {
        start_server({"--db=", "--profile=turbo"});
        ADD_FAILURE() << "the server started with --profile=turbo";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("turbo"), std::string::npos) << e.what();
    }
}

TEST(Profiles, PlainClientGetsTheOriginalProtocolFromEveryProfile) {
    // cork and write:frame keep frames past the turn they were queued in (a cork window, an
    // asynchronous write): frames borrowed from the loop's pins must have their own by then.
    for (std::string profile :
         {"baseline", "optimized", "optimized,compress:deflate", "optimized,batch:1000",
          "baseline,cursor:coalesce", "optimized,cork:2000", "optimized,write:frame"}) {
        SCOPED_TRACE(profile);
        auto s =
            start_server({"--db=", "--graphop-interval-ms=0", "--quiet=1", "--profile=" + profile});
        const auto room = uuid(), ua = uuid();
        const auto node = node_id();
        auto a = join(*s, room, ua);
        auto b = join(*s, room, uuid());
        EXPECT_EQ(b->subprotocol(), "");
        a->send(create_op(node));
        a->send(R"({"type":"CursorMove","payload":{"position":[3,4]}})");
        a->send(move_op(node, 9, 9));
        // b sees single JSON objects (never arrays), without seq, with a's user_id, in order.
        std::vector<MsgType> types;
        ServerMessage m;
        for (int i = 0; i < 20 && types.size() < 3; ++i) {
            auto f = b->recv(5000ms);
            ASSERT_TRUE(f);
            ASSERT_EQ(f->data.front(), '{') << f->data;
            ASSERT_FALSE(f->from_batch);
            liveshare::Parser p;
            std::string err;
            ASSERT_TRUE(p.parse_server(f->data, m, err)) << err;
            if (m.type != MsgType::GraphOp && m.type != MsgType::CursorMove) continue;
            EXPECT_FALSE(m.seq.has_value());
            EXPECT_EQ(m.user_id, ua);
            types.push_back(m.type);
        }
        EXPECT_EQ(types,
                  (std::vector<MsgType>{MsgType::GraphOp, MsgType::CursorMove, MsgType::GraphOp}));
        EXPECT_EQ(m.op.position.x, 9);
    }
}

TEST(Profiles, BatchFramesOnlyForClientsThatAskOnBatchingProfiles) {
    for (std::string profile : {"baseline", "optimized"}) {
        SCOPED_TRACE(profile);
        auto s = start_server({"--db=", "--graphop-interval-ms=0", "--rate-critical=0/0",
                               "--quiet=1", "--profile=" + profile});
        const auto room = uuid();
        const auto node = node_id();
        auto sender = join(*s, room, uuid());
        harness::SyncClient c(endpoint(*s), room, false, 5000ms,
                              "liveshare.v2+batch, liveshare.v2");
        EXPECT_EQ(c.subprotocol(), profile == "baseline" ? "liveshare.v2" : "liveshare.v2+batch");
        std::string auth;
        liveshare::encode_auth(auth, uuid(), "batcher", std::nullopt, std::nullopt);
        c.send(auth);
        ServerMessage m;
        ASSERT_TRUE(c.recv_type(MsgType::AuthResult, m));
        sender->send(create_op(node));
        for (int i = 0; i < 200; ++i) sender->send(move_op(node, i, i));
        // Count the ops however they are framed (the client splits arrays back into messages).
        std::size_t ops = 0, arrays = 0;
        std::uint64_t last_seq = 0;
        for (int i = 0; i < 1000 && ops < 201; ++i) {
            auto f = c.recv(5000ms);
            ASSERT_TRUE(f);
            std::vector<std::string_view> parts{f->data};
            std::string err;
            arrays += f->from_batch;
            for (auto part : parts) {
                liveshare::Parser q;
                ASSERT_TRUE(q.parse_server(part, m, err)) << err;
                if (m.type != MsgType::GraphOp) continue;
                ++ops;
                ASSERT_TRUE(m.seq.has_value());
                EXPECT_GT(*m.seq, last_seq);  // in order, nothing skipped
                last_seq = *m.seq;
            }
        }
        EXPECT_EQ(ops, 201u);
        // The baseline never batches; the optimized profile batched a 200-op burst at least once.
        if (profile == "baseline") {
            EXPECT_EQ(arrays, 0u);
        } else {
            EXPECT_GT(arrays, 0u);
        }
    }
}

TEST(Profiles, DeepButValidPayloadsRelayUnderTheDomBaseline) {
    auto s = start_server({"--db=", "--quiet=1", "--profile=baseline"});
    const auto room = uuid();
    auto a = join(*s, room, uuid());
    auto b = join(*s, room, uuid());
    // Deep, but within what the codec allows (it rejects beyond 64 levels).
    std::string deep = R"({"type":"CursorMove","payload":{"position":[7,8],"extra":)";
    for (int i = 0; i < 30; ++i) deep += "[";
    for (int i = 0; i < 30; ++i) deep += "]";
    deep += "}}";
    a->send(deep);
    ServerMessage m;
    ASSERT_TRUE(b->recv_type(MsgType::CursorMove, m));
    EXPECT_EQ(m.position.y, 8);
    a->send(R"({"type":"Ping"})");
    EXPECT_TRUE(a->recv_type(MsgType::Pong, m));  // the session (and the server) live on
}
