// Workload scripts: schedule shape and markers that survive re-serialization.
#include <gtest/gtest.h>

#include "traffic/load_config.hpp"
#include "traffic/workload.hpp"

using namespace harness;
using namespace std::chrono_literals;

TEST(Workload, SeedIsOneMessagePerIntervalNearPayloadSize) {
    auto cfg =
        LoadTestConfigBuilder().messages_per_user(20).interval(100ms).duration(60000ms).build();
    UserScript s(cfg, 0, "0b8e9d3c-5a1f-4e2b-8c7d-9f0a1b2c3d4e", 1,
                 "6f1c2a90-1b7e-4c8e-9a57-0d4b3e8f2a11", 1);
    Planned p;
    std::int64_t prev = -1;
    int n = 0;
    while (s.next(p)) {
        EXPECT_TRUE(p.durable);
        EXPECT_EQ(p.seq, static_cast<std::uint64_t>(n));
        if (prev >= 0) {
            EXPECT_EQ(p.t_us - prev, 100000);
        }
        prev = p.t_us;
        if (n >= 2) {
            EXPECT_GT(p.frame.size(), 450u);
            EXPECT_LT(p.frame.size(), 600u);
        }
        ++n;
    }
    EXPECT_EQ(n, 20);
}

TEST(Workload, MarkerSurvivesRelayAndReserialization) {
    auto cfg = LoadTestConfigBuilder().messages_per_user(3).build();
    UserScript s(cfg, 0, "0b8e9d3c-5a1f-4e2b-8c7d-9f0a1b2c3d4e", 1,
                 "6f1c2a90-1b7e-4c8e-9a57-0d4b3e8f2a11", 1);
    liveshare::Parser parser;
    Planned p;
    while (s.next(p)) {
        liveshare::ClientMessage c;
        std::string err;
        ASSERT_TRUE(parser.parse_client(p.frame, c, err)) << err;
        // Re-serialize from the parsed fields (as a DOM server would), then relay.
        std::string again;
        liveshare::encode_graph_op(again, c.op);
        liveshare::ClientMessage c2;
        ASSERT_TRUE(parser.parse_client(again, c2, err)) << err;
        std::string relayed =
            R"({"type":"GraphOp","payload":{"user_id":"0b8e9d3c-5a1f-4e2b-8c7d-9f0a1b2c3d4e","op":)";
        liveshare::encode_op_body(relayed, c2.op);
        relayed += "}}";
        liveshare::ServerMessage m;
        ASSERT_TRUE(parser.parse_server(relayed, m, err)) << err;
        auto mark = extract_marker(m);
        ASSERT_TRUE(mark);
        EXPECT_EQ(mark->seq, p.seq);
        EXPECT_EQ(mark->t_us, p.t_us);
    }
}

TEST(Workload, EditingMixesDurableAndVolatileInTimeOrder) {
    auto cfg = LoadTestConfigBuilder()
                   .workload(Workload::Editing)
                   .messages_per_user(0)
                   .duration(10000ms)
                   .build();
    UserScript s(cfg, 0, "0b8e9d3c-5a1f-4e2b-8c7d-9f0a1b2c3d4e", 1,
                 "6f1c2a90-1b7e-4c8e-9a57-0d4b3e8f2a11", 3);
    Planned p;
    std::int64_t prev = 0;
    std::size_t durable = 0, aware = 0, drags = 0;
    for (int i = 0; i < 100000 && s.next(p); ++i) {
        EXPECT_GE(p.t_us, prev);
        prev = p.t_us;
        durable += p.durable;
        aware += p.type == liveshare::MsgType::Awareness;
        drags += p.type == liveshare::MsgType::TableDragStart;
    }
    // 1-5 ops per second over 10 s; cursor at 50 Hz two thirds of the time.
    EXPECT_GE(durable, 10u);
    EXPECT_LE(durable, 51u);
    EXPECT_GT(aware, 200u);
    EXPECT_GT(drags, 2u);
}
