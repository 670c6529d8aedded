#include "durable_log.hpp"

#include <chrono>
#include <cstdio>
#include <map>

#include "log.hpp"
#include "protocol/codec.hpp"
#include "room.hpp"
#include "room_registry.hpp"

namespace liveshare {

DurableLog::DurableLog(const std::string& path, Metrics& metrics)
    : DurableLog(path, metrics, Retry{}) {}
DurableLog::DurableLog(const std::string& path, Metrics& metrics, Retry retry)
    : log_(path), metrics_(metrics), retry_(retry) {}

DurableLog::~DurableLog() {
    stop();
}

std::size_t DurableLog::restore(RoomRegistry& rooms) {
    Parser parser;
    std::size_t replayed = 0;
    for (auto& r : log_.load_rooms()) {
        auto room = rooms.find(r.room);
        if (!room) {
            // A room no snapshot has seen yet: recreate it with the settings it was made with.
            RoomSettings s{r.room, r.name, r.owner_id, r.password_hash, r.created_at};
            room = rooms.create(std::move(s)).first;
            if (!room) continue;
        }
        for (auto& op : log_.load_ops(r.room, room->seq())) {
            Message m;
            std::string err;
            if (!parser.parse_server(op.frame, m, err)) {
                log::line("op " + std::to_string(op.seq) + " of room " + r.room +
                          " is unreadable (" + err + "); stopped replaying it");
                break;
            }
            room->replay_committed(op.seq, m,
                                   std::make_shared<const std::string>(std::move(op.frame)));
            ++replayed;
        }
    }
    return replayed;
}

void DurableLog::start() {
    thread_ = std::thread([this] { run(); });
}

void DurableLog::stop() {
    {
        std::lock_guard lock(mu_);
        if (stop_ && !thread_.joinable()) return;
        stop_ = true;
    }
    cv_.notify_one();
    if (thread_.joinable()) thread_.join();
}

void DurableLog::room_created(const RoomSettings& s) {
    std::lock_guard lock(mu_);
    rooms_.push_back({s.id, s.name, s.owner_id, s.password_hash, s.created_at});
    cv_.notify_one();
}

void DurableLog::append(std::shared_ptr<Room> room, std::uint64_t seq,
                        std::shared_ptr<const std::string> frame) {
    std::lock_guard lock(mu_);
    ops_.push_back({std::move(room), seq, std::move(frame)});
    cv_.notify_one();
}

void DurableLog::prune(const std::string& room_id, std::uint64_t seq) {
    std::lock_guard lock(mu_);
    prunes_.emplace_back(room_id, seq);
}

void DurableLog::run() {
    std::unique_lock lock(mu_);
    for (;;) {
        cv_.wait(lock, [&] { return stop_ || !ops_.empty() || !rooms_.empty(); });
        if (ops_.empty() && rooms_.empty()) {
            if (stop_) return;
            continue;
        }
        // Everything that arrived while the previous commit ran goes into this one.
        std::vector<RoomRecord> rooms;
        std::vector<Pending> ops;
        std::vector<std::pair<std::string, std::uint64_t>> prunes;
        rooms.swap(rooms_);
        ops.swap(ops_);
        prunes.swap(prunes_);
        lock.unlock();
        std::vector<OpRecord> records;
        records.reserve(ops.size());
        for (auto& p : ops) records.push_back({p.room->id(), p.seq, *p.frame});
        bool ok = false;
        for (int attempt = 0; attempt < retry_.attempts && !ok; ++attempt) {
            try {
                log_.commit(rooms, records, prunes);
                ok = true;
            } catch (const std::exception& e) {
                // Nothing is released until it is on disk: clients wait rather than lose it.
                metrics_.durable_commit_failures.fetch_add(1);
                log::line(std::string("op log commit failed (") + e.what() + "); retrying");
                std::this_thread::sleep_for(retry_.pause);
            }
        }
        // Release (or, when the log gave up, abandon) per room up to its highest seq, in order.
        std::map<Room*, std::pair<std::shared_ptr<Room>, std::uint64_t>> upto;
        for (auto& p : ops) {
            auto& e = upto[p.room.get()];
            e.first = p.room;
            e.second = std::max(e.second, p.seq);
        }
        if (ok) {
            for (auto& [raw, e] : upto) e.first->publish_committed(e.second);
            // Counted once published: a reader of the counters sees the effect too.
            metrics_.durable_commits.fetch_add(1);
            metrics_.durable_ops.fetch_add(ops.size());
        } else {
            // The disk refused for the whole retry budget. These ops were never acknowledged
            // (nothing is echoed before its commit), so they are not applied; every member of
            // the affected rooms is told (closed with 4008) and resyncs, and a client resends
            // what it never saw echoed. Counted, logged, never silent.
            log::line("op log commit failed " + std::to_string(retry_.attempts) + " times: " +
                      std::to_string(ops.size()) + " unacknowledged op(s) abandoned; members of " +
                      std::to_string(upto.size()) + " room(s) closed with 4008 to resync");
            for (auto& [raw, e] : upto)
                e.first->abandon_uncommitted(e.second, "op log commit failed: resync required");
            metrics_.durable_ops_abandoned.fetch_add(ops.size());
        }
        lock.lock();
    }
}

}  // namespace liveshare
