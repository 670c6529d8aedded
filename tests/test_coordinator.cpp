// The coordination of generators on several machines (harness/run/coordinator.hpp) against a
// real Redis: indices by the counter or named, the guards of a run's name, the barrier and
// its one start, the streams and what a lost Redis gives. No timing is asserted.
#include <gtest/gtest.h>
#include <unistd.h>

#include <future>
#include <thread>

#include "clients/redis_client.hpp"
#include "procs/cluster_process.hpp"
#include "run/coordinator.hpp"

using namespace harness;

namespace {

CoordinatorOptions opts(const RedisProcess& r, const std::string& run, unsigned shards,
                        int fixed = -1) {
    CoordinatorOptions o;
    o.url = r.url();
    o.run_id = run;
    o.shards = shards;
    o.fixed_index = fixed;
    o.timeout_s = 2;
    o.lead_ms = 300;
    o.keep_s = 60;
    o.who = "test pid " + std::to_string(getpid());
    o.fingerprint = {{"seed", "42"}, {"target", "ws://x:1"}};
    return o;
}

std::string refusal(CoordinatorOptions o) {
    try {
        RunCoordinator c(std::move(o));
    } catch (const std::exception& e) {
        return e.what();
    }
    return "";
}

// The barrier's answer for one shard: "" when the run starts, else why not.
std::string waits(RunCoordinator& c, const std::string& benchmark) {
    try {
        c.ready_and_wait(0, benchmark, 5000);
    } catch (const std::exception& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST(RedisClient, UrlsAreCheckedAndAFrozenRedisIsANamedTimeout) {
    EXPECT_EQ(parse_redis_url("redis://[::1]:7000").host, "::1");
    EXPECT_EQ(parse_redis_url("redis://h:7000/").port, 7000);
    for (const char* bad : {"http://h:1", "redis://h", "redis://h:0", "redis://h:x", "redis://:5"})
        EXPECT_THROW(parse_redis_url(bad), std::invalid_argument) << bad;
    RedisProcess r;
    RedisClient c(r.url(), 300);
    EXPECT_EQ(c.command({"PING"}).str, "PONG");
    EXPECT_EQ(c.command({"NOSUCHCOMMAND"}).type, RedisReply::Type::Error);
    EXPECT_GT(c.time_us(), 1600000000000000);
    EXPECT_EQ(c.commands(), 3u);
    r.freeze();
    try {
        c.command({"PING"});
        ADD_FAILURE() << "a frozen Redis answered";
    } catch (const RedisError& e) {
        EXPECT_NE(std::string(e.what()).find("no answer within 300 ms"), std::string::npos)
            << e.what();
        EXPECT_NE(std::string(e.what()).find(r.url()), std::string::npos) << e.what();
    }
    r.thaw();
    EXPECT_EQ(c.command({"PING"}).str, "PONG");  // reconnects
}

TEST(Coordinator, TheCounterGivesEachShardOneIndexAndRefusesOneTooMany) {
    RedisProcess r;
    RunCoordinator a(opts(r, "run1", 2)), b(opts(r, "run1", 2));
    EXPECT_EQ(a.index(), 0u);
    EXPECT_EQ(b.index(), 1u);
    EXPECT_EQ(refusal(opts(r, "run1", 2)), "run run1 already has its 2 shards");
}

TEST(Coordinator, ANamedIndexIsTakenOnceAndTheRunMustAgree) {
    RedisProcess r;
    RunCoordinator a(opts(r, "r", 3, 2));
    EXPECT_EQ(a.index(), 2u);
    EXPECT_EQ(refusal(opts(r, "r", 3, 2)).rfind("shard 2 of run r is taken by test pid", 0), 0u);
    EXPECT_EQ(refusal(opts(r, "r", 4, 1)), "run r has 3 shards; this shard says --shards=4");
    EXPECT_NE(refusal(opts(r, "r", 3)).find("gives shard indices by fixed"), std::string::npos);
    auto other = opts(r, "r", 3, 0);
    other.fingerprint["seed"] = "43";
    EXPECT_EQ(refusal(other), "run r has --seed=42; this shard has --seed=43");
}

TEST(Coordinator, TheStartIsSetOnceWhenTheLastShardIsReadyAndALiveNameIsRefused) {
    RedisProcess r;
    RunCoordinator a(opts(r, "go", 2)), b(opts(r, "go", 2));
    auto fa =
        std::async(std::launch::async, [&] { return a.ready_and_wait(0, "load/users:10", 5000); });
    RedisClient c(r.url(), 1000);
    const std::int64_t before_ms = c.time_us() / 1000;
    const std::int64_t sb = b.ready_and_wait(0, "load/users:10", 5000);
    const std::int64_t sa = fa.get();
    EXPECT_EQ(sa, sb);
    EXPECT_GE(sa, before_ms + 300);  // Redis's TIME when the last was ready, plus the lead
    EXPECT_EQ(c.command({"HGET", "lsb:{go}:meta", "state"}).str, "running");
    EXPECT_NE(refusal(opts(r, "go", 2)).find("run go is running (2 shards)"), std::string::npos);
    // Every key of the run expires.
    const auto keys = c.command({"KEYS", "lsb:{go}:*"});
    ASSERT_GE(keys.elements.size(), 6u);
    for (const auto& k : keys.elements) EXPECT_GT(c.command({"PTTL", k.str}).integer, 0) << k.str;
}

TEST(Coordinator, TheBarrierTimesOutNamingTheShardThatNeverCame) {
    RedisProcess r;
    RunCoordinator a(opts(r, "late", 3)), b(opts(r, "late", 3));
    auto fa = std::async(std::launch::async, [&] { return waits(a, "load/users:10"); });
    const std::string why = waits(b, "load/users:10");
    EXPECT_EQ(why,
              "run late: the barrier timed out after 2 s (--coordinator_timeout_s): 2 of 3 "
              "shards ready; missing shard 2 (never registered)");
    EXPECT_EQ(fa.get(), why);  // every shard fails with the same text
    // The failure lives no longer than the run it belongs to.
    RedisClient c(r.url(), 1000);
    const auto failed_ttl = c.command({"PTTL", "lsb:{late}:failed"}).integer;
    EXPECT_GT(failed_ttl, 0);
    EXPECT_LE(failed_ttl, c.command({"PTTL", "lsb:{late}:meta"}).integer + 50);
}

TEST(Coordinator, ShardsOfOneRunMustRunTheSameBenchmark) {
    RedisProcess r;
    RunCoordinator a(opts(r, "mix", 2)), b(opts(r, "mix", 2));
    auto fa = std::async(std::launch::async, [&] { return waits(a, "load/users:10"); });
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    EXPECT_THROW(b.ready_and_wait(0, "load/users:20", 5000), std::runtime_error);
    EXPECT_NE(fa.get().find("every shard needs the same benchmarks"), std::string::npos);
}

TEST(Coordinator, EntriesAreStoredOnceEachInOrderAndALostRedisIsNamed) {
    RedisProcess r;
    RunCoordinator a(opts(r, "s", 1));
    for (unsigned k = 0; k < 5; ++k) a.publish_interval(0, k, "{\"k\":" + std::to_string(k) + "}");
    EXPECT_EQ(a.finish(0, "{\"final\":true}"), "");
    RedisClient c(r.url(), 1000);
    const auto all = c.command({"XRANGE", "lsb:{s}:r0:s0", "-", "+"});
    ASSERT_EQ(all.elements.size(), 6u);
    EXPECT_EQ(all.elements[0].elements[0].str, "1-0");
    EXPECT_EQ(all.elements[5].elements[0].str, "6-0");
    EXPECT_EQ(all.elements[5].elements[1].elements[1].str, "final");
    const auto cost = a.cost();
    EXPECT_EQ(cost.entries, 6u);
    EXPECT_EQ(cost.stream_commands, 12u);  // XADD and PEXPIRE per entry, one round trip
    // Redis gone for good: the shard's next entries are lost, and it says where.
    r.kill_hard();
    a.publish_interval(1, 0, "{}");
    const std::string why = a.finish(1, "{}");
    EXPECT_EQ(why.rfind("coordinator lost at interval 0: coordinator " + r.url(), 0), 0u) << why;
}
