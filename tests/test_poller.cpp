// The loops' poller on real sockets (socket pairs, a real epoll, a real io_context): every
// socket hears of output space once registered and of each new input, edge-triggered, and a
// turn with more ready sockets than one turn takes (4 x 64 events) still reaches every one.
#include <gtest/gtest.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <vector>

#include "net/loops.hpp"

namespace liveshare {
namespace {

struct Counting : Poller::Target {
    int fd = -1;
    int bytes = 0, out_edges = 0;
    void on_ready(std::uint32_t events) override {
        if (events & EPOLLOUT) ++out_edges;
        if (events & EPOLLIN) {
            char b[64];
            for (ssize_t n; (n = ::read(fd, b, sizeof b)) > 0;) bytes += static_cast<int>(n);
        }
    }
};

// Runs the loop until done() or 500 rounds of 10 ms (bounded; no timing is asserted).
void run_until(boost::asio::io_context& ioc, const std::function<bool()>& done) {
    for (int i = 0; i < 500 && !done(); ++i) ioc.run_for(std::chrono::milliseconds(10));
}

TEST(Poller, EveryReadySocketHearsOfEachInputBeyondOneTurnsWorth) {
    boost::asio::io_context ioc{1};
    Poller poller(ioc);
    constexpr int kPairs = 300;
    std::vector<Counting> targets(kPairs);
    std::vector<int> peers;
    for (auto& t : targets) {
        int sv[2];
        ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
        t.fd = sv[0];
        peers.push_back(sv[1]);
        ASSERT_TRUE(poller.add(t.fd, &t));
    }
    const auto all = [&](auto pred) {
        for (const auto& t : targets)
            if (!pred(t)) return false;
        return true;
    };
    // Registered: each is writable, told once.
    run_until(ioc, [&] { return all([](const Counting& t) { return t.out_edges >= 1; }); });
    EXPECT_TRUE(all([](const Counting& t) { return t.out_edges == 1; }));
    for (int round = 1; round <= 2; ++round) {
        for (int p : peers) ASSERT_EQ(::write(p, "x", 1), 1);
        run_until(ioc, [&] { return all([&](const Counting& t) { return t.bytes == round; }); });
        for (const auto& t : targets) ASSERT_EQ(t.bytes, round) << "fd " << t.fd;
    }
    for (auto& t : targets) ::close(t.fd);
    for (int p : peers) ::close(p);
}

}  // namespace
}  // namespace liveshare
