// Durability mode (--durability=group): every durable message is written to the SQLite op
// log and committed (WAL, synchronous=FULL: on disk) before any client receives it, so a
// kill -9 can lose only messages nobody has seen. One writer thread commits whatever
// accumulated while the previous commit ran (group commit), then releases those messages to
// their rooms, which fan them out in seq order. At start the log is replayed on top of the
// snapshots, so room state, seq numbers and the resume log survive a crash.
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "metrics.hpp"
#include "op_log.hpp"

namespace liveshare {

class Room;
class RoomRegistry;
struct RoomSettings;

class DurableLog {
  public:
    // A failed commit is retried `attempts` times, `pause` apart (100 s in all by default),
    // before its ops are abandoned (see run()).
    struct Retry {
        int attempts = 1000;
        std::chrono::milliseconds pause{100};
    };
    DurableLog(const std::string& path, Metrics& metrics);  // throws std::runtime_error
    DurableLog(const std::string& path, Metrics& metrics, Retry retry);
    ~DurableLog();
    DurableLog(const DurableLog&) = delete;
    DurableLog& operator=(const DurableLog&) = delete;

    // Recreates rooms the log knows and replays the ops after each room's snapshot.
    // Call after the snapshots were restored and before start(). Returns ops replayed.
    std::size_t restore(RoomRegistry& rooms);
    void start();
    // Drains: commits and releases everything queued, then stops the writer.
    void stop();

    // Queued for the next group commit (called under the room's lock, in seq order).
    void room_created(const RoomSettings& s);
    void append(std::shared_ptr<Room> room, std::uint64_t seq,
                std::shared_ptr<const std::string> frame);
    // Ops up to seq are covered by a snapshot: drop them with the next commit.
    void prune(const std::string& room_id, std::uint64_t seq);

  private:
    struct Pending {
        std::shared_ptr<Room> room;
        std::uint64_t seq;
        std::shared_ptr<const std::string> frame;
    };
    void run();
    OpLog log_;
    Metrics& metrics_;
    Retry retry_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::vector<RoomRecord> rooms_;
    std::vector<Pending> ops_;
    std::vector<std::pair<std::string, std::uint64_t>> prunes_;
    bool stop_ = false;
    std::thread thread_;
};

}  // namespace liveshare
