// The snapshot writer thread: every interval, on a room's last leave, and a final flush.
// SQLite writes never run on an I/O thread.
#pragma once
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include "durable_log.hpp"
#include "metrics.hpp"
#include "room_registry.hpp"
#include "snapshot_store.hpp"

namespace liveshare {

class Persister {
  public:
    Persister(SnapshotStore& store, RoomRegistry& rooms, Metrics& metrics,
              std::uint32_t interval_ms);
    ~Persister();
    // Recreates rooms and their state from the newest snapshot of each; returns the count.
    std::size_t restore();
    void start();
    void request(std::shared_ptr<Room> room);  // snapshot soon (last leave)
    void stop_and_flush();                     // blocks until every dirty room is written
    // Durability mode: ops a saved snapshot covers are pruned from the op log.
    void set_durable_log(DurableLog* log) { durable_ = log; }

  private:
    void run();
    void save(Room& room);
    SnapshotStore& store_;
    RoomRegistry& rooms_;
    Metrics& metrics_;
    std::uint32_t interval_ms_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<std::shared_ptr<Room>> pending_;
    bool stop_ = false;
    std::thread thread_;
    DurableLog* durable_ = nullptr;
};

}  // namespace liveshare
