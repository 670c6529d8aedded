// Server flag parsing and the token bucket, without a server process.
#include <gtest/gtest.h>

#include <chrono>
#include <vector>

#include "config.hpp"
#include "rate_limiter.hpp"

namespace liveshare {
namespace {

ParsedArgs parse(std::vector<const char*> args) {
    args.insert(args.begin(), "liveshare-server");
    return parse_server_args(static_cast<int>(args.size()), args.data());
}

TEST(Config, EqualsAndSpaceFormsAndSwitches) {
    auto a = parse({"--port=0", "--threads", "3", "--quiet", "--db", "", "--rate-low=5/2.5"});
    ASSERT_EQ(a.error, "");
    EXPECT_EQ(a.cfg.port, 0);
    EXPECT_EQ(a.cfg.threads, 3u);
    EXPECT_TRUE(a.cfg.quiet);
    EXPECT_EQ(a.cfg.db_path, "");
    EXPECT_EQ(a.cfg.rate_low.burst, 5);
    EXPECT_EQ(a.cfg.rate_low.per_second, 2.5);
    // A switch takes no value from the next argument, but takes one written with '='.
    a = parse({"--quiet", "--require-rest-create=0"});
    ASSERT_EQ(a.error, "");
    EXPECT_FALSE(a.cfg.require_rest_create);
    a = parse({"--quiet=false"});
    EXPECT_FALSE(a.cfg.quiet);
}

TEST(Config, UnknownFlagNamesTheNearestKnownOne) {
    auto a = parse({"--thread=2"});
    EXPECT_NE(a.error.find("unknown flag --thread"), std::string::npos) << a.error;
    EXPECT_NE(a.error.find("did you mean --threads?"), std::string::npos) << a.error;
    a = parse({"--zzzzzzzz=1"});
    EXPECT_EQ(a.error, "unknown flag --zzzzzzzz");
}

TEST(Config, BadValuesAreErrorsNotExits) {
    EXPECT_EQ(parse({"--port=http"}).error, "bad value 'http' for --port");
    EXPECT_EQ(parse({"--port"}).error, "--port needs a value");
    EXPECT_EQ(parse({"--rate-volatile=5"}).error, "--rate-volatile wants BURST/PER_SECOND");
    EXPECT_NE(parse({"--quiet=maybe"}).error.find("is on or off"), std::string::npos);
    EXPECT_NE(parse({"--durability=sometimes"}).error.find("none or group"), std::string::npos);
    EXPECT_EQ(parse({"--durability=group", "--db="}).error,
              "--durability=group needs a database (--db=PATH)");
    EXPECT_EQ(parse({"stray"}).error, "unexpected argument 'stray'");
    EXPECT_TRUE(parse({"--help"}).help);
}

TEST(Config, ClusterTakesARedisUrlAndNoOpLog) {
    auto a = parse({"--cluster=redis://10.0.0.7:6380"});
    ASSERT_EQ(a.error, "");
    EXPECT_EQ(a.cfg.cluster, "redis://10.0.0.7:6380");
    std::string host, err;
    int port = 0;
    ASSERT_TRUE(parse_redis_url("redis://cache.internal", host, port, err));
    EXPECT_EQ(host, "cache.internal");
    EXPECT_EQ(port, 6379);
    EXPECT_EQ(parse({"--cluster=http://x:1"}).error,
              "--cluster must be redis://HOST:PORT or sentinel://HOST:PORT/MASTER, got "
              "'http://x:1'");
    EXPECT_EQ(parse({"--cluster=redis://x:99999"}).error,
              "--cluster: bad port in 'redis://x:99999'");
    EXPECT_EQ(parse({"--cluster=redis://:5"}).error, "--cluster: no host in 'redis://:5'");
    EXPECT_NE(
        parse({"--cluster=redis://x:1", "--durability=group"}).error.find("do not go together"),
        std::string::npos);
    ClusterUrl u;
    ASSERT_TRUE(parse_cluster_url("sentinel://s1:26380,s2/ls-master", u, err)) << err;
    EXPECT_TRUE(u.via_sentinel());
    EXPECT_EQ(u.master, "ls-master");
    ASSERT_EQ(u.sentinels.size(), 2u);
    EXPECT_EQ(u.sentinels[0], (std::pair<std::string, int>{"s1", 26380}));
    EXPECT_EQ(u.sentinels[1], (std::pair<std::string, int>{"s2", 26379}));
    EXPECT_NE(parse({"--cluster=sentinel://s1:26379"}).error.find("no master name"),
              std::string::npos);
    EXPECT_NE(parse({"--cluster=sentinel://s1:0/m"}).error.find("bad port"), std::string::npos);
    EXPECT_NE(parse({"--cluster=sentinel://,s2/m"}).error.find("no host"), std::string::npos);
    EXPECT_EQ(parse({"--cluster-wait-replicas=1"}).cfg.cluster_wait_replicas, 1u);
    EXPECT_NE(parse({"--cluster-wait-replicas=99"}).error.find("--cluster-wait-replicas"),
              std::string::npos);
    auto t = parse({"--cluster-timeout-ms=750", "--cluster-outage-max-ms=0"});
    ASSERT_EQ(t.error, "");
    EXPECT_EQ(t.cfg.cluster_timeout_ms, 750u);
    EXPECT_EQ(t.cfg.cluster_outage_max_ms, 0u);
    EXPECT_NE(parse({"--cluster-timeout-ms=5"}).error.find("--cluster-timeout-ms"),
              std::string::npos);
    EXPECT_NE(parse({"--cluster-outage-max-ms=x"}).error.find("--cluster-outage-max-ms"),
              std::string::npos);
}

TEST(TokenBucket, BurstThenRefillAtTheRate) {
    using C = TokenBucket::Clock;
    const TokenBucketConfig c{3, 10};  // 3 at once, then 10 per second
    TokenBucket b(c);
    const auto t0 = C::now();
    EXPECT_TRUE(b.try_take(c, t0));
    EXPECT_TRUE(b.try_take(c, t0));
    EXPECT_TRUE(b.try_take(c, t0));
    EXPECT_FALSE(b.try_take(c, t0));                                  // empty
    EXPECT_FALSE(b.try_take(c, t0 + std::chrono::milliseconds(50)));  // half a token back
    EXPECT_TRUE(b.try_take(c, t0 + std::chrono::milliseconds(160)));  // one token back
    EXPECT_FALSE(b.try_take(c, t0 + std::chrono::milliseconds(160)));
    // Refill stops at the burst.
    const auto later = t0 + std::chrono::seconds(60);
    for (int i = 0; i < 3; ++i) EXPECT_TRUE(b.try_take(c, later)) << i;
    EXPECT_FALSE(b.try_take(c, later));
}

TEST(TokenBucket, ZeroRateMeansNoLimit) {
    const TokenBucketConfig c{0, 0};
    TokenBucket b(c);
    for (int i = 0; i < 1000; ++i) ASSERT_TRUE(b.try_take(c));
}

}  // namespace
}  // namespace liveshare
