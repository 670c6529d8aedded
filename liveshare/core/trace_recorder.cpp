#include "trace_recorder.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <random>
#include <stdexcept>
#include <utility>

#include "log.hpp"

namespace liveshare {

namespace {
const char* event_name(TraceRecorder::Event e) {
    switch (e) {
        case TraceRecorder::Event::Join:
            return "join";
        case TraceRecorder::Event::Leave:
            return "leave";
        case TraceRecorder::Event::Msg:
            return "msg";
    }
    return "?";
}
}  // namespace

TraceRecorder::TraceRecorder(Options o) : o_(std::move(o)) {
    std::random_device rd;
    salt_ = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
    start_ = std::chrono::steady_clock::now();
    start_unix_ms_ = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    if (o_.buffer == 0) throw std::runtime_error("--record-buffer must be at least 1");
    // A reader of a FIFO that goes away must not end the server (write() says EPIPE instead).
    std::signal(SIGPIPE, SIG_IGN);
    open_file();
    buf_.reserve(o_.buffer);
    writer_ = std::thread([this] { run(); });
}

TraceRecorder::~TraceRecorder() {
    {
        std::lock_guard lock(mu_);
        stop_ = true;
    }
    stopping_ = true;
    cv_.notify_all();
    writer_.join();
    if (fd_ >= 0) ::close(fd_);
}

std::string TraceRecorder::header() const {
    return fmt::format(
        "{{\"liveshare_trace\":1,\"start_unix_ms\":{},\"hash\":\"fnv1a64-salted\","
        "\"max_bytes\":{},\"buffer\":{}}}\n",
        start_unix_ms_, o_.max_bytes, o_.buffer);
}

void TraceRecorder::open_file() {
    struct stat st {};
    regular_ = ::stat(o_.path.c_str(), &st) != 0 || S_ISREG(st.st_mode);
    // A FIFO or a device is written without blocking, so a reader that stops reading cannot
    // hold the writer (or the server's shutdown) forever.
    const int flags = O_WRONLY | O_CLOEXEC | (regular_ ? O_CREAT | O_TRUNC : O_NONBLOCK);
    fd_ = ::open(o_.path.c_str(), flags, 0644);
    if (fd_ < 0)
        throw std::runtime_error("--record: cannot open " + o_.path + ": " + std::strerror(errno) +
                                 (errno == ENXIO ? " (a FIFO needs its reader first)" : ""));
    file_bytes_ = 0;
    write_all(header());
}

std::uint64_t TraceRecorder::hash(std::string_view id) const {
    std::uint64_t h = 14695981039346656037ull ^ salt_;
    for (unsigned char c : id) {
        h ^= c;
        h *= 1099511628211ull;
    }
    return h;
}

void TraceRecorder::record(Event ev, std::uint64_t room, std::uint64_t user, MsgType type,
                           std::optional<OpType> op, std::size_t bytes) {
    const auto t = std::chrono::duration_cast<std::chrono::microseconds>(
                       std::chrono::steady_clock::now() - start_)
                       .count();
    const Record r{t,
                   room,
                   user,
                   static_cast<std::uint32_t>(std::min<std::size_t>(bytes, UINT32_MAX)),
                   ev,
                   type,
                   static_cast<std::int8_t>(op ? static_cast<int>(*op) : -1)};
    {
        std::lock_guard lock(mu_);
        if (buf_.size() >= o_.buffer || failed_.load(std::memory_order_relaxed)) {
            ++dropped_unreported_;
            dropped_.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        buf_.push_back(r);
    }
}

std::string TraceRecorder::render_metrics() const {
    return fmt::format(
        "# HELP liveshare_trace_records_total Trace records written (--record).\n"
        "# TYPE liveshare_trace_records_total counter\nliveshare_trace_records_total {}\n"
        "# HELP liveshare_trace_dropped_total Trace records dropped: the writer was behind (a "
        "slow disk) or the file failed.\n"
        "# TYPE liveshare_trace_dropped_total counter\nliveshare_trace_dropped_total {}\n"
        "# HELP liveshare_trace_rotations_total Trace files renamed to FILE.1 at the size cap.\n"
        "# TYPE liveshare_trace_rotations_total counter\nliveshare_trace_rotations_total {}\n",
        records(), dropped(), rotations());
}

// Every 100 ms: take the buffer (the I/O threads go on into a fresh one) and write it out.
// A slow write only makes the next batch drop.
void TraceRecorder::run() {
    std::vector<Record> batch;
    batch.reserve(o_.buffer);
    for (;;) {
        std::uint64_t dropped = 0;
        bool stop = false;
        {
            std::unique_lock lock(mu_);
            cv_.wait_for(lock, std::chrono::milliseconds(100), [&] { return stop_; });
            buf_.swap(batch);
            dropped = std::exchange(dropped_unreported_, 0);
            stop = stop_;
        }
        write_out(batch);
        batch.clear();
        const auto t = std::chrono::duration_cast<std::chrono::microseconds>(
                           std::chrono::steady_clock::now() - start_)
                           .count();
        if (dropped)
            write_all(fmt::format("{{\"t\":{},\"ev\":\"dropped\",\"count\":{}}}\n", t, dropped));
        if (stop) {
            write_all(fmt::format("{{\"t\":{},\"ev\":\"end\",\"records\":{},\"dropped\":{}}}\n", t,
                                  records(), this->dropped()));
            return;
        }
    }
}

void TraceRecorder::write_out(std::vector<Record>& batch) {
    std::string out;
    out.reserve(batch.size() * 120);
    for (const Record& r : batch) {
        const std::size_t before = out.size();
        fmt::format_to(std::back_inserter(out),
                       "{{\"t\":{},\"ev\":\"{}\",\"room\":\"{:016x}\",\"user\":\"{:016x}\"", r.t_us,
                       event_name(r.ev), r.room, r.user);
        if (r.ev == Event::Msg) {
            fmt::format_to(std::back_inserter(out), ",\"type\":\"{}\"", to_string(r.type));
            if (r.op >= 0)
                fmt::format_to(std::back_inserter(out), ",\"op\":\"{}\"",
                               to_string(static_cast<OpType>(r.op)));
            fmt::format_to(std::back_inserter(out), ",\"bytes\":{}", r.bytes);
        }
        out += "}\n";
        // Past the cap: what is formatted goes to this file, the rest to a fresh one.
        if (regular_ && file_bytes_ + out.size() > o_.max_bytes && file_bytes_ + before > 0) {
            const std::string line = out.substr(before);
            out.resize(before);
            write_all(out);
            out = line;
            ::close(fd_);
            if (::rename(o_.path.c_str(), (o_.path + ".1").c_str()) != 0)
                log::line("--record: cannot rename " + o_.path + ": " + std::strerror(errno));
            rotations_.fetch_add(1, std::memory_order_relaxed);
            try {
                open_file();
            } catch (const std::exception& e) {
                log::line(e.what());
                fd_ = -1;
                failed_ = true;
            }
        }
    }
    // Counted when written: a batch the file refused (in part or whole) counts as dropped.
    (write_all(out) ? records_ : dropped_).fetch_add(batch.size(), std::memory_order_relaxed);
}

// All of s, or false: what the file refuses is lost (and said once), never waited for past a
// stuck reader at shutdown: the trace never stops the server.
bool TraceRecorder::write_all(const std::string& s) {
    std::size_t off = 0;
    int stuck_ms = 0;
    while (fd_ >= 0 && off < s.size()) {
        const ssize_t n = ::write(fd_, s.data() + off, s.size() - off);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) {
            // A FIFO nobody reads: wait for room, but at shutdown only a second.
            if (stopping_ && stuck_ms >= 1000) return false;
            pollfd p{fd_, POLLOUT, 0};
            ::poll(&p, 1, 100);
            stuck_ms += 100;
            continue;
        }
        if (n <= 0) {
            log::line("--record: writing " + o_.path + " failed: " + std::strerror(errno) +
                      "; the recording stops");
            ::close(fd_);
            fd_ = -1;
            failed_ = true;
            return false;
        }
        off += static_cast<std::size_t>(n);
        stuck_ms = 0;
    }
    file_bytes_ += off;
    return fd_ >= 0;
}

}  // namespace liveshare
