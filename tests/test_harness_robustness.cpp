// The harness against servers that misbehave: it reports errors and finishes in bounded
// time (the bound is a generous ctest timeout, not an assertion on timing).
#include <boost/asio/ip/tcp.hpp>

#include "run/run_load.hpp"
#include "server_fixture.hpp"

using namespace lstest;
using harness::LoadTestConfigBuilder;

namespace {
harness::LoadTestResult run_against_url(const std::string& url) {
    auto cfg = LoadTestConfigBuilder()
                   .users(3)
                   .messages_per_user(20)
                   .interval(10ms)
                   .duration(1000ms)
                   .drain(1000ms)
                   .join_timeout(2000ms)
                   .target(url)
                   .build();
    return harness::run_load_test(cfg);
}

harness::LoadTestResult run_against(const std::string& mode) {
    harness::ServerProcess bad(std::string(LIVESHARE_TEST_DIR) + "/misbehaving_server.py",
                               {"--mode=" + mode});
    return run_against_url(bad.url());
}

// Every error kind the run counted, for a failure's message.
std::string kinds(const harness::LoadTestResult& r) {
    std::string s;
    for (auto& [kind, count] : r.metrics.totals.errors)
        s += kind + " x" + std::to_string(count) + "; ";
    return s;
}

// How many errors of a kind starting with `what` the run counted.
std::uint64_t errors_of(const harness::LoadTestResult& r, const std::string& what) {
    std::uint64_t n = 0;
    for (auto& [kind, count] : r.metrics.totals.errors)
        if (kind.rfind(what, 0) == 0) n += count;
    return n;
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

// The refused upgrade is named with the server's status line, not as a connection failure (a
// closed port would give "connect: ...").
TEST(HarnessRobustness, BadHandshakeIsReported) {
    auto r = run_against("bad-handshake");
    EXPECT_EQ(r.metrics.users_joined, 0u);
    EXPECT_GE(errors_of(r, "handshake: server answered 'HTTP/1.1 500"), 3u) << kinds(r);
    EXPECT_EQ(errors_of(r, "connect:"), 0u);
}

// Half a frame then the socket closed: a disconnect per user, never a join (an end of stream
// without a close frame, or a reset when the user's Auth was still unread in the server's
// socket: both kernels' ways of closing are real).
TEST(HarnessRobustness, ServerClosingMidFrameIsReported) {
    auto r = run_against("close-mid-frame");
    EXPECT_EQ(r.metrics.users_joined, 0u);
    EXPECT_GE(errors_of(r, "disconnected: "), 3u) << kinds(r);
    EXPECT_EQ(errors_of(r, "connect:"), 0u);
}

// What the two tests above tell apart: nobody listening is a connect error, no handshake or
// disconnect is counted.
TEST(HarnessRobustness, ClosedPortIsAConnectError) {
    boost::asio::io_context io;
    boost::asio::ip::tcp::acceptor probe(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
    const auto port = probe.local_endpoint().port();
    probe.close();
    auto r = run_against_url("ws://127.0.0.1:" + std::to_string(port));
    EXPECT_EQ(r.metrics.users_joined, 0u);
    EXPECT_GE(errors_of(r, "connect:"), 3u) << kinds(r);
    EXPECT_EQ(errors_of(r, "handshake:"), 0u) << kinds(r);
    EXPECT_EQ(errors_of(r, "disconnected:"), 0u) << kinds(r);
}

TEST(HarnessRobustness, ServerThatStopsReadingDoesNotHangTheRun) {
    auto r = run_against("stop-reading");
    EXPECT_EQ(r.metrics.users_joined, 0u);  // no AuthResult ever comes
}
