// --record=FILE: a trace of what the rooms carried, for a load test to replay (bench --replay).
// Per message the time, the hashed room and user, the type, a GraphOp's op type and the frame's
// size; joins and leaves. No content: no names, no ids in the clear, no payloads, so a trace
// can be taken from production. The hashes are FNV-1a 64 with a salt drawn per recording, so
// two recordings do not share hashes and the ids cannot be looked up.
//
// Cheap and never in a client's way: an I/O thread appends a 32-byte record to a bounded
// buffer under a short lock; a writer thread turns the buffer into JSON lines every 100 ms.
// When the buffer is full (the disk is slow, or stuck) the record is dropped and counted,
// never waited for. The file is capped: past max_bytes it is renamed FILE.1 (replacing an
// older one) and a fresh FILE begins, each with its own header line.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "protocol/messages.hpp"
#include "protocol/schema_state.hpp"

namespace liveshare {

class TraceRecorder {
  public:
    enum class Event : std::uint8_t { Join, Leave, Msg };
    struct Options {
        std::string path;
        std::uint64_t max_bytes = 256ull << 20;  // per file; the older one is kept as FILE.1
        std::size_t buffer = 1 << 16;            // records waiting for the writer
    };
    // Opens (truncates) the file and writes the header; throws std::runtime_error saying why
    // when it cannot.
    explicit TraceRecorder(Options o);
    ~TraceRecorder();  // writes what is buffered, the end line, and closes
    TraceRecorder(const TraceRecorder&) = delete;
    TraceRecorder& operator=(const TraceRecorder&) = delete;

    // The salted hash of a room or user id (computed once per session, not per message).
    std::uint64_t hash(std::string_view id) const;
    void record(Event ev, std::uint64_t room, std::uint64_t user, MsgType type = MsgType::Ping,
                std::optional<OpType> op = std::nullopt, std::size_t bytes = 0);

    // Records written to the file, and records lost: dropped at a full buffer, or in a batch
    // the file refused.
    std::uint64_t records() const { return records_.load(std::memory_order_relaxed); }
    std::uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
    std::uint64_t rotations() const { return rotations_.load(std::memory_order_relaxed); }
    // Its counters as Prometheus text, for /metrics (there only while recording).
    std::string render_metrics() const;

  private:
    struct Record {
        std::int64_t t_us;
        std::uint64_t room, user;
        std::uint32_t bytes;
        Event ev;
        MsgType type;
        std::int8_t op;  // -1: none
    };
    static_assert(sizeof(Record) == 32);
    void run();
    void write_out(std::vector<Record>& batch);
    bool write_all(const std::string& s);
    void open_file();
    std::string header() const;

    Options o_;
    std::uint64_t salt_;
    std::int64_t start_unix_ms_;
    std::chrono::steady_clock::time_point start_;
    int fd_ = -1;
    std::uint64_t file_bytes_ = 0;
    bool regular_ = true;  // a FIFO or a device is never rotated
    std::mutex mu_;
    std::condition_variable cv_;
    std::vector<Record> buf_;
    bool stop_ = false;
    std::uint64_t dropped_unreported_ = 0;  // under mu_: drops since the last "dropped" line
    std::atomic<std::uint64_t> records_{0}, dropped_{0}, rotations_{0};
    std::atomic<bool> stopping_{false};
    std::atomic<bool> failed_{false};  // the file refused a write: every record is dropped
    std::thread writer_;
};

}  // namespace liveshare
