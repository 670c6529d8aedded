#include "persister.hpp"

#include <chrono>
#include <cstdio>

#include "log.hpp"
#include "protocol/codec.hpp"

namespace liveshare {

Persister::Persister(SnapshotStore& store, RoomRegistry& rooms, Metrics& metrics,
                     std::uint32_t interval_ms)
    : store_(store), rooms_(rooms), metrics_(metrics), interval_ms_(interval_ms) {}

Persister::~Persister() {
    stop_and_flush();
}

std::size_t Persister::restore() {
    Parser parser;
    std::size_t n = 0;
    for (auto& s : store_.load_latest_per_room()) {
        SchemaState state;
        std::string err;
        if (!parse_state(parser, s.state_json, state, err)) {
            log::line("snapshot " + std::to_string(s.id) + " of room " + s.room_id +
                      " is unreadable (" + err + "); skipped");
            continue;
        }
        RoomSettings rs{s.room_id, s.name, s.owner_id, s.password_hash, s.room_created_at};
        auto [room, st] = rooms_.create(std::move(rs));
        if (!room) continue;
        room->restore(std::move(state), s.seq,
                      SnapshotInfo{s.id, s.state_json, s.created_at, s.element_count});
        ++n;
    }
    return n;
}

void Persister::start() {
    thread_ = std::thread([this] { run(); });
}

void Persister::request(std::shared_ptr<Room> room) {
    {
        std::lock_guard lock(mu_);
        pending_.push_back(std::move(room));
    }
    cv_.notify_one();
}

void Persister::stop_and_flush() {
    {
        std::lock_guard lock(mu_);
        if (stop_ && !thread_.joinable()) return;
        stop_ = true;
    }
    cv_.notify_one();
    if (thread_.joinable()) thread_.join();
    for (auto& r : rooms_.all()) save(*r);
}

void Persister::save(Room& room) {
    auto snap = room.take_snapshot_if_dirty();
    if (!snap) return;
    const RoomSettings rs = room.settings_copy();
    StoredSnapshot s{
        0,       rs.id,       snap->state_json, now_rfc3339(), snap->seq, snap->element_count,
        rs.name, rs.owner_id, rs.password_hash, rs.created_at};
    auto t0 = std::chrono::steady_clock::now();
    try {
        s.id = store_.save(s);
    } catch (const std::exception& e) {
        room.mark_dirty();  // try again next time rather than lose the change
        log::line("snapshot of room " + rs.id + " failed: " + e.what());
        return;
    }
    metrics_.observe_snapshot_ms(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    if (durable_) durable_->prune(rs.id, snap->seq);
    room.set_last_snapshot({s.id, std::move(s.state_json), s.created_at, s.element_count});
}

void Persister::run() {
    auto next = std::chrono::steady_clock::now() + std::chrono::milliseconds(interval_ms_);
    std::unique_lock lock(mu_);
    while (!stop_) {
        cv_.wait_until(lock, next, [&] { return stop_ || !pending_.empty(); });
        if (stop_) break;
        std::deque<std::shared_ptr<Room>> work;
        work.swap(pending_);
        bool periodic = std::chrono::steady_clock::now() >= next;
        lock.unlock();
        for (auto& r : work) save(*r);
        if (periodic) {
            for (auto& r : rooms_.all()) save(*r);
            next = std::chrono::steady_clock::now() + std::chrono::milliseconds(interval_ms_);
        }
        lock.lock();
    }
}

}  // namespace liveshare
