// Fan-out over real loopback sockets: what a delivery costs where the cost is (the kernel).
// fanout/socket/writes:{per_frame,corked}/frames:4/recipients:{10,100}: every iteration sends
// 4 WebSocket frames of 520 bytes (the seed's message size) to each recipient, one write(2)
// per frame or one write of all 4 per recipient; a reader thread drains the other ends with
// epoll and 64 KiB reads, as a client would. Both threads' CPU and both sides' system calls
// are counted per delivery, as ../shared/floor/fanout_floor.cpp does.
#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "failures.hpp"
#include "protocol/ws_frame.hpp"

void register_micro_socket(
    const std::function<benchmark::internal::Benchmark*(benchmark::internal::Benchmark*)>& fixed);

namespace {

constexpr int kFrames = 4;
constexpr std::size_t kPayload = 520;

double process_cpu_seconds() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    auto tv = [](timeval t) {
        return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
    };
    return tv(ru.ru_utime) + tv(ru.ru_stime);
}

// N loopback TCP connections: we write to `out`, a reader thread drains `in` with epoll.
class Loopback {
  public:
    explicit Loopback(int n) {
        const int lfd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof a;
        if (lfd < 0 || ::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
            ::listen(lfd, n) != 0 || ::getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
            throw std::runtime_error("loopback listen failed");
        for (int i = 0; i < n; ++i) {
            const int c = ::socket(AF_INET, SOCK_STREAM, 0);
            if (c < 0 || ::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
                throw std::runtime_error("connect failed");
            const int s = ::accept(lfd, nullptr, nullptr);
            if (s < 0) throw std::runtime_error("accept failed");
            int one = 1;
            ::setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // as the server's sockets
            out.push_back(s);
            in.push_back(c);
        }
        ::close(lfd);
        ep_ = ::epoll_create1(0);
        for (int fd : in) {
            epoll_event ev{};
            ev.events = EPOLLIN;
            ev.data.fd = fd;
            ::epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev);
        }
        reader_ = std::thread([this] { drain(); });
    }
    ~Loopback() {
        stop_ = true;
        for (int fd : out) ::shutdown(fd, SHUT_WR);  // wakes the reader
        reader_.join();
        for (int fd : out) ::close(fd);
        for (int fd : in) ::close(fd);
        ::close(ep_);
    }
    // Waits until the reader has taken `bytes` in total (bounded: 10 s).
    bool wait_received(std::uint64_t bytes) const {
        for (int i = 0; i < 10000 && received.load() < bytes; ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        return received.load() >= bytes;
    }
    std::vector<int> out, in;
    std::atomic<std::uint64_t> received{0}, reads{0};

  private:
    void drain() {
        std::vector<char> buf(64 * 1024);
        epoll_event evs[128];
        while (!stop_) {
            const int n = ::epoll_wait(ep_, evs, 128, 100);
            for (int i = 0; i < n; ++i) {
                const ssize_t r = ::read(evs[i].data.fd, buf.data(), buf.size());
                reads.fetch_add(1, std::memory_order_relaxed);
                if (r > 0)
                    received.fetch_add(static_cast<std::uint64_t>(r), std::memory_order_relaxed);
                else
                    ::epoll_ctl(ep_, EPOLL_CTL_DEL, evs[i].data.fd, nullptr);
            }
        }
    }
    int ep_ = -1;
    std::atomic<bool> stop_{false};
    std::thread reader_;
};

void fanout_socket(benchmark::State& st, bool corked) {
    const int recipients = static_cast<int>(st.range(0));
    std::string frame;
    liveshare::ws::append_frame(frame, liveshare::ws::Opcode::Text, std::string(kPayload, 'x'));
    std::string four;
    for (int k = 0; k < kFrames; ++k) four += frame;
    std::unique_ptr<Loopback> lo;
    try {
        lo = std::make_unique<Loopback>(recipients);
    } catch (const std::exception& e) {
        return bench::fail(st, e.what());
    }
    std::uint64_t writes = 0, sent = 0;
    const double cpu0 = process_cpu_seconds();
    const std::uint64_t reads0 = lo->reads.load();
    for (auto _ : st) {
        for (int fd : lo->out) {
            if (corked) {
                sent += static_cast<std::uint64_t>(::write(fd, four.data(), four.size()));
                ++writes;
            } else {
                for (int k = 0; k < kFrames; ++k) {
                    sent += static_cast<std::uint64_t>(::write(fd, frame.data(), frame.size()));
                    ++writes;
                }
            }
        }
    }
    if (!lo->wait_received(sent))
        return bench::fail(st, "the reader did not receive everything within 10 s");
    const double deliveries = static_cast<double>(st.iterations()) * recipients * kFrames;
    const double cpu = process_cpu_seconds() - cpu0;
    st.counters["cpu_us_per_delivery"] = cpu * 1e6 / deliveries;
    st.counters["syscalls_per_delivery"] =
        static_cast<double>(writes + lo->reads.load() - reads0) / deliveries;
    st.counters["write_syscalls_per_delivery"] = static_cast<double>(writes) / deliveries;
    st.counters["deliveries_per_s"] = benchmark::Counter(deliveries, benchmark::Counter::kIsRate);
}

}  // namespace

void register_micro_socket(
    const std::function<benchmark::internal::Benchmark*(benchmark::internal::Benchmark*)>& fixed) {
    for (int corked = 0; corked <= 1; ++corked) {
        std::string name =
            std::string("fanout/socket/writes:") + (corked ? "corked" : "per_frame") + "/frames:4";
        fixed(benchmark::RegisterBenchmark(name.c_str(), fanout_socket, corked == 1)
                  ->ArgName("recipients")
                  ->Arg(10)
                  ->Arg(100)
                  ->UseRealTime());
    }
}
