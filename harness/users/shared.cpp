// What every user of one run shares, made from the run's config (users/sim_user.hpp).
#include <algorithm>
#include <stdexcept>

#include "traffic/traffic_plan.hpp"
#include "traffic/workload.hpp"
#include "users/sim_user.hpp"

namespace harness {

namespace {

// A planned run's user sends what its script says: room for its durable messages, and a
// margin (an hour's run holds thousands of users who stayed a minute).
std::size_t planned_sent_at_cap(const Shared& sh, std::size_t i) {
    auto script = sh.script(i);
    Planned p;
    std::size_t n = 0;
    while (script->next(p)) n += p.durable ? 1 : 0;
    return n + 8;
}

}  // namespace

Shared::Shared(const LoadTestConfig& c, std::mt19937_64& rng)
    : cfg(c), live_hist(Histogram::index_of(UINT64_MAX >> 16) + 1) {
    room_size = cfg.room_size ? cfg.room_size : std::max<std::size_t>(cfg.users, 1);
    std::size_t rooms =
        cfg.rooms.empty() ? (cfg.users + room_size - 1) / room_size : cfg.rooms.size();
    if (cfg.plan) {
        if (cfg.plan->users.size() != cfg.users || !cfg.rooms.empty() || cfg.shard_count > 1)
            throw std::invalid_argument(
                "a planned run (scenario or replay) has the plan's users, makes its own rooms "
                "and is not sharded");
        rooms = cfg.plan->rooms;
    }
    if (!cfg.rooms.empty()) {
        room_ids = cfg.rooms;
        room_size = (cfg.users + room_ids.size() - 1) / room_ids.size();
    } else {
        for (std::size_t r = 0; r < rooms; ++r) room_ids.push_back(make_uuid(rng));
    }
    node_of.reset(new std::atomic<int>[cfg.users]);
    for (std::size_t i = 0; i < cfg.users; ++i) node_of[i] = 0;
    room_accepted.reset(new std::atomic<std::int64_t>[rooms]);
    room_joined.reset(new std::atomic<std::int64_t>[rooms]);
    for (std::size_t r = 0; r < rooms; ++r) {
        room_accepted[r] = 0;
        room_joined[r] = 0;
    }
    for (std::size_t i = 0; i < cfg.users; ++i) {
        user_ids.push_back(make_uuid(rng));
        table_uuids.push_back(make_uuid(rng));
        node_ids.push_back(static_cast<liveshare::NodeId>(i + 1));
        // A returning user of a plan edits the table an earlier user made in its seat.
        if (cfg.plan && cfg.plan->users[i].owner < i) {
            table_uuids.back() = table_uuids[cfg.plan->users[i].owner];
            node_ids.back() = node_ids[cfg.plan->users[i].owner];
        }
        index_of.emplace(user_ids.back(), static_cast<std::uint32_t>(i));
        room_of.push_back(cfg.plan ? cfg.plan->users[i].room : i / room_size);
    }
    room_members.assign(rooms, 0);
    for (std::size_t i = 0; i < cfg.users; ++i) member_of.push_back(room_members[room_of[i]]++);
    windowed = cfg.plan && cfg.plan->windowed();
    const auto min_interval =
        cfg.workload == Workload::Seed ? cfg.interval : std::chrono::milliseconds(200);
    std::size_t cap =
        static_cast<std::size_t>((cfg.warmup + cfg.duration) /
                                 std::max(min_interval, std::chrono::milliseconds(1))) +
        8;
    if (cfg.messages_per_user) cap = std::min(cap, cfg.messages_per_user + 8);
    for (std::size_t i = 0; i < cfg.users; ++i) {
        sent_at_cap.push_back(cfg.plan ? planned_sent_at_cap(*this, i) : cap);
        sent_at.emplace_back(new std::atomic<std::int64_t>[sent_at_cap.back()]);
        for (std::size_t k = 0; k < sent_at_cap.back(); ++k) sent_at.back()[k].store(0);
    }
    warmup_us = std::chrono::duration_cast<std::chrono::microseconds>(cfg.warmup).count();
}

std::unique_ptr<Script> Shared::script(std::size_t i) const {
    return make_script(cfg, i, user_ids[i], node_ids[i], table_uuids[i]);
}

}  // namespace harness
