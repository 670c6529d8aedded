// The harness against servers that misbehave: it reports errors and finishes in bounded
// time (the bound is a generous ctest timeout, not an assertion on timing).
#include "server_fixture.hpp"

using namespace lstest;
using harness::LoadTestConfigBuilder;

namespace {
harness::LoadTestResult run_against(const std::string& mode) {
    harness::ServerProcess bad(std::string(LIVESHARE_TEST_DIR) + "/misbehaving_server.py",
                               {"--mode=" + mode});
    auto cfg = LoadTestConfigBuilder()
                   .users(3)
                   .messages_per_user(20)
                   .interval(10ms)
                   .duration(1000ms)
                   .drain(1000ms)
                   .join_timeout(2000ms)
                   .target(bad.url())
                   .build();
    return harness::run_load_test(cfg);
}
}  // namespace

TEST(HarnessRobustness, GarbageFramesAreCountedAsErrors) {
    auto r = run_against("garbage");
    EXPECT_GT(r.metrics.error_count, 0u);
    EXPECT_EQ(r.metrics.users_joined, 0u);
    bool saw_parse_error = false;
    for (auto& [kind, n] : r.metrics.totals.errors)
        saw_parse_error |= kind.find("unparseable") != std::string::npos;
    EXPECT_TRUE(saw_parse_error);
}

// RFC 6455 8.1 binds servers too: a text frame that is not UTF-8 is a protocol error the
// harness counts (and the connection is given up), never a message it parses.
TEST(HarnessRobustness, TextThatIsNotUtf8IsAProtocolError) {
    auto r = run_against("bad-utf8");
    EXPECT_EQ(r.metrics.users_joined, 0u);
    std::uint64_t utf8_errors = 0, parsed = 0;
    for (auto& [kind, n] : r.metrics.totals.errors) {
        if (kind.find("not UTF-8") != std::string::npos) utf8_errors += n;
        if (kind.find("unparseable") != std::string::npos) parsed += n;
    }
    EXPECT_GE(utf8_errors, 3u);  // one per user
    EXPECT_EQ(parsed, 0u);
}

TEST(HarnessRobustness, BadHandshakeIsReported) {
    auto r = run_against("bad-handshake");
    EXPECT_EQ(r.metrics.users_joined, 0u);
    EXPECT_GE(r.metrics.error_count, 3u);
}

TEST(HarnessRobustness, ServerClosingMidFrameIsReported) {
    auto r = run_against("close-mid-frame");
    EXPECT_EQ(r.metrics.users_joined, 0u);
    EXPECT_GE(r.metrics.error_count, 3u);
}

TEST(HarnessRobustness, ServerThatStopsReadingDoesNotHangTheRun) {
    auto r = run_against("stop-reading");
    EXPECT_EQ(r.metrics.users_joined, 0u);  // no AuthResult ever comes
}
