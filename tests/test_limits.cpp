// Connection-level limits, with raw sockets where a WebSocket client would be too polite.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "run/run_load.hpp"
#include "server_fixture.hpp"

using namespace lstest;

namespace {
int raw_connect(std::uint16_t port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    timeval tv{20, 0};  // bound every read
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}
// The status line the server answers a WebSocket upgrade of `path` with.
std::string upgrade_status(std::uint16_t port, const std::string& path) {
    int fd = raw_connect(port);
    const std::string req =
        "GET " + path +
        " HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    EXPECT_EQ(write(fd, req.data(), req.size()), static_cast<ssize_t>(req.size()));
    char buf[256] = {};
    const ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    std::string head(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
    return head.substr(0, head.find("\r\n"));
}

// A connection that sends `sent` (maybe nothing) and never finishes its request: the server
// closes it at the handshake timeout (read returns 0, EOF, rather than blocking for the 20 s
// bound), counts it, and others still join.
void expect_closed_at_handshake_timeout(const std::string& sent) {
    auto s = start_server({"--db=", "--handshake-timeout-ms=300", "--quiet=1"});
    int fd = raw_connect(s->port());
    if (!sent.empty()) {
        ASSERT_GT(write(fd, sent.data(), sent.size()), 0);
    }
    char buf[64];
    EXPECT_EQ(read(fd, buf, sizeof buf), 0);
    close(fd);
    EXPECT_GE(metric(*s, "liveshare_handshake_timeouts_total"), 1);
    auto ok = join(*s, uuid(), uuid());
    EXPECT_FALSE(ok->closed());
}
}  // namespace

TEST(Limits, SlowlorisHandshakeIsDroppedAndOthersStillJoin) {
    expect_closed_at_handshake_timeout(
        "GET /room/00000000-0000-4000-8000-000000000000 HTTP/1.1\r\nHost: x\r\n");
}

TEST(Limits, ConnectionThatSendsNothingIsClosedAtTheHandshakeTimeout) {
    expect_closed_at_handshake_timeout("");
}

// Out of descriptors, the server stops accepting for a moment (the connections wait in the
// backlog) and accepts again once some are free: the waiting ones are served, nothing aborts.
TEST(Limits, OutOfDescriptorsTheServerAcceptsAgainWhenSomeAreFree) {
    constexpr rlim_t kLimit = 64;  // the server inherits it
    rlimit mine{};
    ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &mine), 0);
    rlimit low = mine;
    low.rlim_cur = kLimit;
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
    auto s = start_server({"--db=", "--threads=1", "--quiet=1"});
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &mine), 0);
    const std::string fd_dir = "/proc/" + std::to_string(s->pid()) + "/fd";
    auto open_fds = [&] {
        std::size_t n = 0;
        for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(fd_dir)) ++n;
        return n;
    };
    std::vector<int> held;
    for (int i = 0; i < 100; ++i) held.push_back(raw_connect(s->port()));
    bool full = false;  // the server's table fills up (bounded: 10 s)
    for (int i = 0; i < 200 && !full; ++i) {
        full = open_fds() >= kLimit;
        if (!full) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_TRUE(full) << open_fds() << " descriptors open";
    for (int fd : held) close(fd);
    auto ok = join(*s, uuid(), uuid());  // behind the 100 in the backlog
    EXPECT_FALSE(ok->closed());
}

TEST(Limits, ConnectionLimitRefusesWith503) {
    auto s = start_server({"--db=", "--max-connections=1", "--quiet=1"});
    auto a = join(*s, uuid(), uuid());
    EXPECT_EQ(upgrade_status(s->port(), "/room/" + uuid()), "HTTP/1.1 503 Service Unavailable");
    EXPECT_GE(metric(*s, "liveshare_connections_rejected_total"), 1);
}

TEST(Limits, BadPathsAreRefused) {
    auto s = start_server({"--db=", "--quiet=1"});
    EXPECT_EQ(upgrade_status(s->port(), "/room/not-a-uuid"), "HTTP/1.1 404 Not Found");
    EXPECT_EQ(upgrade_status(s->port(), "/elsewhere"), "HTTP/1.1 404 Not Found");
    EXPECT_EQ(harness::http_request(endpoint(*s), "DELETE", "/metrics").status, 404);
}

TEST(Limits, SlowlorisFloodBesideNormalLoadKeepsDurableDelivery) {
    auto s = start_server({"--db=", "--handshake-timeout-ms=500", "--graphop-interval-ms=0",
                           "--rate-critical=0/0", "--quiet=1"});
    // 300 connections that send half a request header and then a byte now and then.
    std::atomic<bool> stop{false};
    std::thread flood([&] {
        std::vector<int> fds;
        for (int i = 0; i < 300; ++i) {
            int fd = raw_connect(s->port());
            const char partial[] =
                "GET /room/00000000-0000-4000-8000-000000000000 HTTP/1.1\r\nHost: x\r\n";
            if (send(fd, partial, sizeof partial - 1, MSG_NOSIGNAL) < 0) break;
            fds.push_back(fd);
        }
        for (int round = 0; round < 100 && !stop; ++round) {           // bounded: 100 x 50 ms
            for (int fd : fds) (void)!send(fd, "X", 1, MSG_NOSIGNAL);  // closed ones just fail
            std::this_thread::sleep_for(50ms);
        }
        for (int fd : fds) close(fd);
    });
    auto cfg = harness::LoadTestConfigBuilder()
                   .users(10)
                   .messages_per_user(30)
                   .interval(50ms)
                   .duration(10000ms)
                   .drain(5000ms)
                   .target(s->url())
                   .build();
    auto r = harness::run_load_test(cfg, s->pid());
    stop = true;
    flood.join();
    EXPECT_EQ(r.metrics.users_joined, 10u);
    EXPECT_EQ(r.metrics.totals.durable_received, r.metrics.totals.durable_expected);
    EXPECT_DOUBLE_EQ(r.metrics.delivery_pct.value_or(-1), 100.0);
    EXPECT_EQ(r.metrics.convergence, harness::Convergence::Converged)
        << r.metrics.convergence_detail;
    EXPECT_GE(metric(*s, "liveshare_handshake_timeouts_total"), 1);
}
