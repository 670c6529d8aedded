// Fan-out over real loopback sockets: what a delivery costs where the cost is (the kernel).
// fanout/socket/writes:{per_frame,corked}/frames:4/recipients:{10,100}: every iteration sends
// 4 WebSocket frames of 520 bytes (the seed's message size) to each recipient, one write(2)
// per frame or one write of all 4 per recipient; a reader thread drains the other ends with
// epoll and 64 KiB reads, as a client would. Both threads' CPU and both sides' system calls
// are counted per delivery, as ../shared/floor/fanout_floor.cpp does.
// fanout/socket/reader:{epoll,uring}/writes:corked/frames:{1,4}/recipients:{10,100}: the same
// corked writes, the reader either as above (epoll_wait, then one read per ready socket) or
// with io_uring (one multishot receive per socket, buffers from a provided buffer ring, one
// io_uring_enter per wait); reader_cpu_us_per_delivery is the reader thread's own CPU, the
// receive path a load generator pays on every delivery.
#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
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

constexpr std::size_t kPayload = 520;

double process_cpu_seconds() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    auto tv = [](timeval t) {
        return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
    };
    return tv(ru.ru_utime) + tv(ru.ru_stime);
}

double thread_cpu_seconds(clockid_t id) {
    timespec t{};
    if (clock_gettime(id, &t) != 0) return 0;
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

enum class Reader { Epoll, Uring };

// N loopback TCP connections: we write to `out`, a reader thread drains `in` with epoll or
// io_uring.
class Loopback {
  public:
    explicit Loopback(int n, Reader mode = Reader::Epoll) : mode_(mode) {
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
        if (mode_ == Reader::Epoll) {
            ep_ = ::epoll_create1(0);
            for (int fd : in) {
                epoll_event ev{};
                ev.events = EPOLLIN;
                ev.data.fd = fd;
                ::epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev);
            }
        }
        // The ring belongs to the reader thread (IORING_SETUP_SINGLE_ISSUER), so it is made there.
        std::atomic<bool> ready{false};
        std::string error;
        reader_ = std::thread([this, &ready, &error] {
            pthread_getcpuclockid(pthread_self(), &reader_clock_);
            if (mode_ == Reader::Uring) {
                try {
                    start_uring();
                } catch (const std::exception& e) {
                    error = e.what();
                }
            }
            ready = true;
            if (!error.empty()) return;
            if (mode_ == Reader::Uring)
                drain_uring();
            else
                drain();
        });
        while (!ready) std::this_thread::yield();
        if (!error.empty()) {
            reader_.join();
            for (int fd : out) ::close(fd);
            for (int fd : in) ::close(fd);
            throw std::runtime_error(error);
        }
    }
    ~Loopback() {
        stop_ = true;
        for (int fd : out) ::shutdown(fd, SHUT_WR);  // wakes the reader (end of stream)
        reader_.join();
        for (int fd : out) ::close(fd);
        for (int fd : in) ::close(fd);
        if (ep_ >= 0) ::close(ep_);
        if (ring_ready_) {
            io_uring_unregister_buf_ring(&ring_, kGroup);
            io_uring_queue_exit(&ring_);
        }
        if (br_) ::munmap(br_, ring_bytes());
    }
    double reader_cpu() const { return thread_cpu_seconds(reader_clock_); }
    // Waits until the reader has taken `bytes` in total (bounded: 10 s).
    bool wait_received(std::uint64_t bytes) const {
        for (int i = 0; i < 10000 && received.load() < bytes; ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        return received.load() >= bytes;
    }
    std::vector<int> out, in;
    std::string failed;  // the io_uring reader stopped on this error (once has_failed)
    std::atomic<bool> has_failed{false};
    // reads: read(2) calls; waits: epoll_wait(2) or io_uring_enter(2) calls; receives: reads,
    // or receive completions.
    std::atomic<std::uint64_t> received{0}, reads{0}, waits{0}, receives{0};

  private:
    static constexpr unsigned kBuffers = 256;  // a power of two, as the ring wants
    static constexpr std::size_t kBufBytes = 64 * 1024;
    static constexpr int kGroup = 1;
    static std::size_t ring_bytes() { return kBuffers * sizeof(io_uring_buf); }
    void start_uring() {
        io_uring_params p{};
        p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
        if (io_uring_queue_init_params(512, &ring_, &p) < 0) {
            p = {};  // an older kernel: without the single-issuer hints
            if (const int e = io_uring_queue_init_params(512, &ring_, &p); e < 0)
                throw std::runtime_error(std::string("io_uring_queue_init: ") + std::strerror(-e));
        }
        ring_ready_ = true;
        void* mem = ::mmap(nullptr, ring_bytes(), PROT_READ | PROT_WRITE,
                           MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
        if (mem == MAP_FAILED) throw std::runtime_error("mmap of the buffer ring failed");
        br_ = static_cast<io_uring_buf_ring*>(mem);
        io_uring_buf_ring_init(br_);
        io_uring_buf_reg reg{};
        reg.ring_addr = reinterpret_cast<std::uintptr_t>(br_);
        reg.ring_entries = kBuffers;
        reg.bgid = kGroup;
        if (const int e = io_uring_register_buf_ring(&ring_, &reg, 0); e < 0)
            throw std::runtime_error(std::string("io_uring_register_buf_ring: ") +
                                     std::strerror(-e));
        bufs_.resize(kBuffers * kBufBytes);
        for (unsigned i = 0; i < kBuffers; ++i)
            io_uring_buf_ring_add(br_, bufs_.data() + i * kBufBytes, kBufBytes,
                                  static_cast<unsigned short>(i), io_uring_buf_ring_mask(kBuffers),
                                  static_cast<int>(i));
        io_uring_buf_ring_advance(br_, kBuffers);
        for (int fd : in) arm(fd);
    }
    void arm(int fd) {
        io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
        if (!sqe) {
            io_uring_submit(&ring_);
            sqe = io_uring_get_sqe(&ring_);
        }
        io_uring_prep_recv_multishot(sqe, fd, nullptr, 0, 0);
        sqe->flags |= IOSQE_BUFFER_SELECT;
        sqe->buf_group = kGroup;
        io_uring_sqe_set_data64(sqe, static_cast<std::uint64_t>(fd));
    }
    void drain_uring() {
        std::size_t open = in.size();
        while (open > 0) {
            // One system call: submits re-armed receives and waits for at least one completion.
            if (const int e = io_uring_submit_and_wait(&ring_, 1); e < 0 && e != -EINTR) {
                failed = std::string("io_uring_submit_and_wait: ") + std::strerror(-e);
                has_failed.store(true, std::memory_order_release);
                return;
            }
            waits.fetch_add(1, std::memory_order_relaxed);
            unsigned head, seen = 0, returned = 0;
            io_uring_cqe* cqe;
            io_uring_for_each_cqe(&ring_, head, cqe) {
                ++seen;
                const int fd = static_cast<int>(io_uring_cqe_get_data64(cqe));
                if (cqe->res > 0) {
                    receives.fetch_add(1, std::memory_order_relaxed);
                    received.fetch_add(static_cast<std::uint64_t>(cqe->res),
                                       std::memory_order_relaxed);
                    const auto id =
                        static_cast<unsigned short>(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
                    io_uring_buf_ring_add(br_, bufs_.data() + std::size_t(id) * kBufBytes,
                                          kBufBytes, id, io_uring_buf_ring_mask(kBuffers),
                                          static_cast<int>(returned++));
                }
                if (cqe->flags & IORING_CQE_F_MORE) continue;
                if (cqe->res == 0 || (cqe->res < 0 && cqe->res != -ENOBUFS))
                    --open;  // end of stream or an error: this socket is done
                else
                    arm(fd);  // the receive ended (out of buffers): ask again
            }
            io_uring_buf_ring_advance(br_, static_cast<int>(returned));
            io_uring_cq_advance(&ring_, seen);
        }
    }
    void drain() {
        std::vector<char> buf(64 * 1024);
        epoll_event evs[128];
        while (!stop_) {
            const int n = ::epoll_wait(ep_, evs, 128, 100);
            waits.fetch_add(1, std::memory_order_relaxed);
            for (int i = 0; i < n; ++i) {
                const ssize_t r = ::read(evs[i].data.fd, buf.data(), buf.size());
                reads.fetch_add(1, std::memory_order_relaxed);
                receives.fetch_add(1, std::memory_order_relaxed);
                if (r > 0)
                    received.fetch_add(static_cast<std::uint64_t>(r), std::memory_order_relaxed);
                else
                    ::epoll_ctl(ep_, EPOLL_CTL_DEL, evs[i].data.fd, nullptr);
            }
        }
    }
    Reader mode_;
    int ep_ = -1;
    io_uring ring_{};
    bool ring_ready_ = false;
    io_uring_buf_ring* br_ = nullptr;
    std::vector<char> bufs_;
    clockid_t reader_clock_{};
    std::atomic<bool> stop_{false};
    std::thread reader_;
};

void fanout_socket(benchmark::State& st, bool corked, Reader mode, int frames) {
    const int recipients = static_cast<int>(st.range(0));
    std::string frame;
    liveshare::ws::append_frame(frame, liveshare::ws::Opcode::Text, std::string(kPayload, 'x'));
    std::string four;
    for (int k = 0; k < frames; ++k) four += frame;
    std::unique_ptr<Loopback> lo;
    try {
        lo = std::make_unique<Loopback>(recipients, mode);
    } catch (const std::exception& e) {
        return bench::fail(st, e.what());
    }
    std::uint64_t writes = 0, sent = 0;
    const double cpu0 = process_cpu_seconds();
    const std::uint64_t reads0 = lo->reads.load(), waits0 = lo->waits.load(),
                        receives0 = lo->receives.load();
    const double reader0 = lo->reader_cpu();
    for (auto _ : st) {
        for (int fd : lo->out) {
            if (corked) {
                sent += static_cast<std::uint64_t>(::write(fd, four.data(), four.size()));
                ++writes;
            } else {
                for (int k = 0; k < frames; ++k) {
                    sent += static_cast<std::uint64_t>(::write(fd, frame.data(), frame.size()));
                    ++writes;
                }
            }
        }
    }
    if (!lo->wait_received(sent))
        return lo->has_failed.load(std::memory_order_acquire)
                   ? bench::fail(st, lo->failed)
                   : bench::fail(st, "the reader did not receive everything within 10 s");
    const double deliveries = static_cast<double>(st.iterations()) * recipients * frames;
    const double cpu = process_cpu_seconds() - cpu0;
    const auto reads = static_cast<double>(lo->reads.load() - reads0);
    st.counters["reader_cpu_us_per_delivery"] = (lo->reader_cpu() - reader0) * 1e6 / deliveries;
    st.counters["reader_syscalls_per_delivery"] =
        (reads + static_cast<double>(lo->waits.load() - waits0)) / deliveries;
    st.counters["deliveries_per_receive"] =
        deliveries / static_cast<double>(lo->receives.load() - receives0);
    st.counters["cpu_us_per_delivery"] = cpu * 1e6 / deliveries;
    st.counters["syscalls_per_delivery"] = (static_cast<double>(writes) + reads) / deliveries;
    st.counters["write_syscalls_per_delivery"] = static_cast<double>(writes) / deliveries;
    st.counters["deliveries_per_s"] = benchmark::Counter(deliveries, benchmark::Counter::kIsRate);
}

}  // namespace

void register_micro_socket(
    const std::function<benchmark::internal::Benchmark*(benchmark::internal::Benchmark*)>& fixed) {
    for (int corked = 0; corked <= 1; ++corked) {
        std::string name =
            std::string("fanout/socket/writes:") + (corked ? "corked" : "per_frame") + "/frames:4";
        fixed(
            benchmark::RegisterBenchmark(name.c_str(), fanout_socket, corked == 1, Reader::Epoll, 4)
                ->ArgName("recipients")
                ->Arg(10)
                ->Arg(100)
                ->UseRealTime());
    }
    for (const int frames : {1, 4})
        for (const Reader mode : {Reader::Epoll, Reader::Uring}) {
            const std::string name = std::string("fanout/socket/reader:") +
                                     (mode == Reader::Uring ? "uring" : "epoll") +
                                     "/writes:corked/frames:" + std::to_string(frames);
            fixed(benchmark::RegisterBenchmark(name.c_str(), fanout_socket, true, mode, frames)
                      ->ArgName("recipients")
                      ->Arg(10)
                      ->Arg(100)
                      ->UseRealTime());
        }
}
