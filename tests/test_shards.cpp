// Sharded generation: shards of one run, merged by scripts/merge-shards, against one process.
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>
#include <thread>

#include "procs/cluster_process.hpp"
#include "run/run_load.hpp"
#include "run/shard_file.hpp"
#include "server_fixture.hpp"

using namespace lstest;
using namespace std::chrono_literals;
using harness::LoadTestConfigBuilder;

namespace {

std::filesystem::path temp_dir(const std::string& name) {
    auto d = std::filesystem::temp_directory_path() /
             ("liveshare-shards-" + std::to_string(getpid()) + "-" + name);
    std::filesystem::remove_all(d);
    std::filesystem::create_directories(d);
    return d;
}

boost::json::value read_json(const std::filesystem::path& path) {
    std::ifstream f(path);
    std::stringstream ss;
    ss << f.rdbuf();
    return boost::json::parse(ss.str());
}

// Runs scripts/merge-shards over dir; returns its first benchmark.
boost::json::object merge(const std::filesystem::path& dir, const std::string& more = "") {
    const auto out = dir / "merged.json";
    const std::string cmd = "python3 " + std::string(LIVESHARE_TEST_DIR) +
                            "/../scripts/merge-shards " + dir.string() + " --out " + out.string() +
                            more + " > /dev/null";
    const int rc = std::system(cmd.c_str());
    EXPECT_TRUE(WIFEXITED(rc)) << cmd;
    return read_json(out).at("benchmarks").as_array().at(0).as_object();
}

// Two shards of one run in parallel, from a common start 2 s from now: config_of(i, start)
// gives shard i's config; each writes DIR/users-N.shard-I-of-2.json for `benchmark`.
std::vector<harness::LoadTestResult> run_two_shards(
    const std::filesystem::path& dir, const std::string& benchmark,
    const std::function<harness::LoadTestConfig(unsigned, std::int64_t)>& config_of) {
    using namespace std::chrono_literals;
    const auto start = std::chrono::duration_cast<std::chrono::milliseconds>(
                           (std::chrono::system_clock::now() + 2s).time_since_epoch())
                           .count();
    const std::string stem = "users-" + benchmark.substr(benchmark.rfind(':') + 1);
    std::vector<std::thread> shards;
    std::vector<harness::LoadTestResult> results(2);
    for (unsigned i = 0; i < 2; ++i)
        shards.emplace_back([&, i] {
            const auto cfg = config_of(i, start);
            results[i] = harness::run_load_test(cfg);
            harness::write_shard_file(
                (dir / (stem + ".shard-" + std::to_string(i) + "-of-2.json")).string(), benchmark,
                cfg, results[i]);
        });
    for (auto& t : shards) t.join();
    return results;
}

double num(const boost::json::object& o, const char* k) {
    const auto& v = o.at(k);
    return v.is_double() ? v.as_double() : static_cast<double>(v.to_number<double>());
}

}  // namespace

// Recorded samples split over three shards: the merged percentiles are those of the union,
// exactly (the Python merge uses the same buckets as the C++ histogram).
TEST(Shards, MergedPercentilesEqualThoseOfTheUnion) {
    const auto dir = temp_dir("percentiles");
    std::mt19937_64 rng(7);
    std::lognormal_distribution<double> latency_us(6.5, 1.2);  // a long tail, ~0.1 ms to ~100 ms
    harness::Histogram all;
    for (unsigned shard = 0; shard < 3; ++shard) {
        harness::LoadTestResult r;
        for (int i = 0; i < 20000 + 7000 * static_cast<int>(shard); ++i) {
            const auto v = static_cast<std::uint64_t>(latency_us(rng));
            r.metrics.totals.latency.record(v);
            r.metrics.totals.latency_uncorrected.record(v / 2);
            all.record(v);
        }
        auto cfg = LoadTestConfigBuilder().users(3).shard(shard, 3, 1).build();
        harness::write_shard_file(
            (dir / ("users-3.shard-" + std::to_string(shard) + "-of-3.json")).string(),
            "load/users:3", cfg, r);
    }
    const auto b = merge(dir);
    EXPECT_EQ(num(b, "p50_ms"), static_cast<double>(all.percentile(50)) / 1000.0);
    EXPECT_EQ(num(b, "p90_ms"), static_cast<double>(all.percentile(90)) / 1000.0);
    EXPECT_EQ(num(b, "p99_ms"), static_cast<double>(all.percentile(99)) / 1000.0);
    EXPECT_EQ(num(b, "p999_ms"), static_cast<double>(all.percentile(99.9)) / 1000.0);
    EXPECT_EQ(num(b, "max_ms"), static_cast<double>(all.max()) / 1000.0);
    EXPECT_EQ(num(b, "shards"), 3);
    std::filesystem::remove_all(dir);
}

// Each shard's intervals carry their histograms: the merged interval's percentiles are those
// of the union of that interval's deliveries in every shard, and its counts are the sums.
TEST(Shards, MergedIntervalsArePercentilesOfTheUnionPerInterval) {
    const auto dir = temp_dir("intervals");
    std::mt19937_64 rng(11);
    std::lognormal_distribution<double> latency_us(6.0, 1.0);
    constexpr int kIntervals = 3;
    std::vector<harness::Histogram> all(kIntervals);
    std::vector<std::uint64_t> sent(kIntervals), errors(kIntervals);
    for (unsigned shard = 0; shard < 2; ++shard) {
        harness::LoadTestResult r;
        for (int k = 0; k < kIntervals; ++k) {
            harness::Histogram h;
            for (int i = 0; i < 3000 + 2000 * static_cast<int>(shard) + 500 * k; ++i) {
                const auto v = static_cast<std::uint64_t>(latency_us(rng))
                               << (shard + k);  // shards differ
                h.record(v);
                all[k].record(v);
            }
            harness::SeriesPoint p;
            p.t_s = k + 1.0;
            p.sent = 100 * (shard + 1) + k;
            p.errors = shard + k;
            p.generator_cpu_pct = 10.0 * (shard + 1);
            sent[k] += p.sent;
            errors[k] += p.errors;
            for (auto [i, n] : h.buckets()) p.buckets.emplace_back(i, n);
            r.metrics.series.push_back(p);
        }
        r.metrics.events.push_back({1.5, "server killed (SIGKILL)"});
        auto cfg = LoadTestConfigBuilder()
                       .users(2)
                       .shard(shard, 2, 1)
                       .series_interval(std::chrono::seconds(1))
                       .build();
        harness::write_shard_file(
            (dir / ("users-2.shard-" + std::to_string(shard) + "-of-2.json")).string(),
            "load/users:2", cfg, r);
    }
    merge(dir, " --timeseries_out " + (dir / "series.json").string());
    const auto doc = read_json(dir / "series.json");
    EXPECT_EQ(doc.at("interval_ms").to_number<int>(), 1000);
    const auto& run = doc.at("runs").as_array().at(0).as_object();
    EXPECT_EQ(run.at("name").as_string(), "load/users:2/shards:2");
    const auto& iv = run.at("intervals").as_array();
    ASSERT_EQ(iv.size(), static_cast<std::size_t>(kIntervals));
    for (int k = 0; k < kIntervals; ++k) {
        const auto& p = iv[k].as_object();
        // An interval's percentile is its bucket's highest value (no exact max is kept per
        // interval).
        const auto bucket_top = [&](double q) {
            return static_cast<double>(harness::Histogram::highest_of(
                       harness::Histogram::index_of(all[k].percentile(q)))) /
                   1000.0;
        };
        EXPECT_EQ(num(p, "p50_ms"), bucket_top(50)) << k;
        EXPECT_EQ(num(p, "p99_ms"), bucket_top(99)) << k;
        EXPECT_EQ(num(p, "sent"), static_cast<double>(sent[k])) << k;
        EXPECT_EQ(num(p, "errors"), static_cast<double>(errors[k])) << k;
        EXPECT_EQ(num(p, "generator_cpu_pct"), 30.0) << k;
        EXPECT_EQ(num(p, "generator_cpu_pct_max"), 20.0) << k;
    }
    EXPECT_EQ(run.at("events").as_array().size(), 2u);  // each shard's mark, with its shard
    std::filesystem::remove_all(dir);
}

// One server, the same seeded run twice: in one process, then as two shards in parallel from
// a common start time. The merged accounting is the one process's, and nothing is lost.
TEST(Shards, TwoShardsAccountLikeOneProcess) {
    auto s = start_server({"--db=", "--graphop-interval-ms=0", "--rate-critical=0/0", "--quiet=1"});
    auto base = [&] {
        return LoadTestConfigBuilder()
            .users(8)
            .room_size(4)
            .messages_per_user(12)
            .interval(30ms)
            .duration(10000ms)
            .drain(5000ms)
            .seed(99)
            .target(s->url());
    };
    const auto one = harness::run_load_test(base().build(), s->pid());
    ASSERT_EQ(one.metrics.users_joined, 8u);
    ASSERT_EQ(one.metrics.lost, 0u);

    const auto dir = temp_dir("accounting");
    const auto results = run_two_shards(dir, "load/users:8", [&](unsigned i, std::int64_t start) {
        return base().shard(i, 2, start).build();
    });
    EXPECT_EQ(results[0].metrics.users_joined + results[1].metrics.users_joined, 8u);
    const auto b = merge(dir);
    EXPECT_EQ(num(b, "durable_expected"), static_cast<double>(one.metrics.totals.durable_expected));
    EXPECT_EQ(num(b, "durable_received"), static_cast<double>(one.metrics.totals.durable_received));
    EXPECT_EQ(num(b, "lost"), 0);
    EXPECT_EQ(num(b, "delivery_pct"), 100);
    EXPECT_EQ(num(b, "duplicates"), 0);
    EXPECT_EQ(num(b, "users_joined"), 8);
    // Both shards checked convergence at once (an observer each) and the merge says so.
    EXPECT_EQ(num(b, "converged"), 1);
    std::filesystem::remove_all(dir);
}

// Two shards on one machine, one with its clock set 300 ms ahead (an injected offset): against
// a reference clock (a real Redis's TIME) the skewed shard measures that offset and counts the
// start from the reference's time, so the merged percentiles stay those of an unskewed run;
// without the reference the same skew puts 300 ms into every delivery from the other shard.
TEST(Shards, AnOffsetClockIsCorrectedAgainstTheReference) {
    harness::RedisProcess redis;
    auto s = start_server({"--db=", "--graphop-interval-ms=0", "--rate-critical=0/0", "--quiet=1"});
    constexpr std::int64_t kSkewUs = 300000;
    auto run = [&](const std::string& name, bool corrected) {
        const auto dir = temp_dir(name);
        const auto results =
            run_two_shards(dir, "load/users:6", [&](unsigned i, std::int64_t start) {
                return LoadTestConfigBuilder()
                    .users(6)
                    .messages_per_user(15)
                    .interval(40ms)
                    .duration(10000ms)
                    .drain(3000ms)
                    .seed(5)
                    .target(s->url())
                    .shard(i, 2, start)
                    .clock(corrected ? redis.url() : "", i == 1 ? kSkewUs : 0)
                    .build();
            });
        auto b = merge(dir);
        std::filesystem::remove_all(dir);
        return std::make_pair(b, results);
    };
    const auto [plain, plain_results] = run("skew-uncorrected", false);
    EXPECT_EQ(num(plain, "lost"), 0);
    EXPECT_GE(num(plain, "p99_ms"), 250.0)
        << "the injected offset did not show without the reference";

    const auto [fixed, results] = run("skew-corrected", true);
    EXPECT_EQ(num(fixed, "lost"), 0);
    ASSERT_TRUE(results[0].metrics.clock_start && results[1].metrics.clock_start);
    const auto& c0 = *results[0].metrics.clock_start;
    const auto& c1 = *results[1].metrics.clock_start;
    // Both clocks are this machine's: the measured offsets are 0 and the injected one.
    EXPECT_LE(std::abs(c0.offset_us), c0.uncertainty_us + 1000.0);
    EXPECT_LE(std::abs(c1.offset_us - kSkewUs), c1.uncertainty_us + 1000.0);
    EXPECT_NEAR(num(fixed, "clock_offset_ms_shard_1"), c1.offset_us / 1000.0, 0.001);
    EXPECT_TRUE(fixed.contains("clock_drift_ms"));
    EXPECT_NE(std::string(fixed.at("label").as_string()).find("clocks corrected against"),
              std::string::npos);
    // Against the uncorrected run beside it, not a fixed time: the correction removes the
    // planted offset (at least half of it, whatever the machine's own latencies are).
    EXPECT_LT(num(fixed, "p99_ms"), num(plain, "p99_ms") - kSkewUs / 2000.0)
        << "cross-shard latencies still carry the offset";
}
