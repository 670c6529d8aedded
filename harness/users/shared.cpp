// What every user of one run shares, made from the run's config (users/sim_user.hpp).
#include <algorithm>
#include <stdexcept>

#include "traffic/traffic_plan.hpp"
#include "traffic/workload.hpp"
#include "users/sim_user.hpp"

namespace harness {

namespace {

// A planned run's users send what their scripts say: room for the most durable messages any
// of them sends, and a margin.
std::size_t planned_sent_at_cap(const LoadTestConfig& cfg, const Shared& sh) {
    std::size_t most = 0;
    for (std::size_t i = 0; i < cfg.users; ++i) {
        auto script = make_script(cfg, i, sh.user_ids[i], static_cast<liveshare::NodeId>(i + 1),
                                  sh.table_uuids[i]);
        Planned p;
        std::size_t n = 0;
        while (script->next(p)) n += p.durable ? 1 : 0;
        most = std::max(most, n);
    }
    return most + 8;
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
        index_of.emplace(user_ids.back(), static_cast<std::uint32_t>(i));
        room_of.push_back(cfg.plan ? cfg.plan->users[i].room : i / room_size);
    }
    room_members.assign(rooms, 0);
    for (std::size_t i = 0; i < cfg.users; ++i) member_of.push_back(room_members[room_of[i]]++);
    windowed = cfg.plan && cfg.plan->windowed();
    const auto min_interval =
        cfg.workload == Workload::Seed ? cfg.interval : std::chrono::milliseconds(200);
    sent_at_cap = static_cast<std::size_t>((cfg.warmup + cfg.duration) /
                                           std::max(min_interval, std::chrono::milliseconds(1))) +
                  8;
    if (cfg.messages_per_user) sent_at_cap = std::min(sent_at_cap, cfg.messages_per_user + 8);
    if (cfg.plan) sent_at_cap = planned_sent_at_cap(cfg, *this);
    for (std::size_t i = 0; i < cfg.users; ++i) {
        sent_at.emplace_back(new std::atomic<std::int64_t>[sent_at_cap]);
        for (std::size_t k = 0; k < sent_at_cap; ++k) sent_at.back()[k].store(0);
    }
    warmup_us = std::chrono::duration_cast<std::chrono::microseconds>(cfg.warmup).count();
}

}  // namespace harness
