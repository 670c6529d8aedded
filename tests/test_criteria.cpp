// The seed's criteria and the figures they judge: every repetition (the worst decides), NOT
// RUN for a missing user count, lost messages inside the percentiles, the saturation flags.
#include <gtest/gtest.h>

#include <cmath>

#include "measure/criteria.hpp"
#include "measure/load_metrics.hpp"

using namespace harness;

namespace {

// A run whose deliveries all took `ms`, with `lost` messages that never arrived.
LoadTestMetrics run(double ms, std::uint64_t delivered = 1000, std::uint64_t lost = 0) {
    LoadTestMetrics m;
    for (std::uint64_t i = 0; i < delivered; ++i)
        m.totals.latency.record(static_cast<std::uint64_t>(ms * 1000));
    m.lost = lost;
    m.totals.durable_expected = delivered + lost;
    m.totals.durable_received = delivered;
    m.delivery_pct = 100.0 * static_cast<double>(delivered) / static_cast<double>(delivered + lost);
    m.deliveries_per_s = 99000;
    m.mbps_in = 4.4;
    m.mbps_out_per_user = 4.4;
    m.server_measured = true;
    m.server_cpu_pct = 50;
    m.server_rss_peak_mb = 15;
    return m;
}

const CriterionResult& find(const std::vector<CriterionResult>& rs, const std::string& prefix) {
    for (const auto& r : rs)
        if (r.name.rfind(prefix, 0) == 0) return r;
    static CriterionResult none{"missing", "", "", false, false};
    ADD_FAILURE() << "no criterion " << prefix;
    return none;
}

}  // namespace

TEST(Percentiles, LostMessagesCountAsArrivingNever) {
    auto m = run(2.0, 99, 1);
    EXPECT_NEAR(m.p_ms(99), 2.0, 0.05);     // the 99th of 100 arrived
    EXPECT_TRUE(std::isinf(m.p_ms(99.5)));  // beyond it: the lost one
    m = run(2.0, 98, 2);
    EXPECT_TRUE(std::isinf(m.p_ms(99)));
    EXPECT_NEAR(m.p_ms(50), 2.0, 0.05);
    LoadTestMetrics empty;
    EXPECT_TRUE(std::isnan(empty.p_ms(99)));  // nothing measured is not 0 ms
    LoadTestMetrics all_lost;
    all_lost.lost = 5;
    EXPECT_TRUE(std::isinf(all_lost.p_ms(50)));
}

TEST(Criteria, EveryRepetitionIsJudgedTheWorstDecides) {
    std::map<std::size_t, std::vector<LoadTestMetrics>> runs;
    runs[10] = {run(1), run(60), run(1)};  // one bad repetition of three
    runs[50] = {run(2)};
    runs[100] = {run(3)};
    auto rs = evaluate_seed_criteria(runs, 1);
    EXPECT_FALSE(find(rs, "p99 latency, 10 users").pass);
    EXPECT_TRUE(find(rs, "p99 latency, 50 users").pass);
    EXPECT_NE(find(rs, "p99 latency, 10 users").name.find("worst of 3"), std::string::npos);
}

TEST(Criteria, AMissingUserCountIsNotRunAndFails) {
    std::map<std::size_t, std::vector<LoadTestMetrics>> runs;
    runs[10] = {run(1)};
    runs[50] = {run(2)};
    auto rs = evaluate_seed_criteria(runs, 1);
    const auto& p99 = find(rs, "p99 latency, 100 users");
    EXPECT_FALSE(p99.run);
    EXPECT_FALSE(p99.pass);
    EXPECT_EQ(p99.measured, "NOT RUN");
    EXPECT_FALSE(find(rs, "throughput, 100 users").pass);
    EXPECT_NE(format_criteria(rs).find("NOT RUN"), std::string::npos);
}

TEST(Criteria, EmptyOrLostPercentilesFail) {
    std::map<std::size_t, std::vector<LoadTestMetrics>> runs;
    runs[10] = {run(1, 0, 0)};    // nothing delivered, nothing expected
    runs[50] = {run(1, 90, 10)};  // p99 among the lost
    runs[100] = {run(3)};
    runs[10][0].delivery_pct.reset();
    auto rs = evaluate_seed_criteria(runs, 1);
    EXPECT_FALSE(find(rs, "p99 latency, 10 users").pass);
    EXPECT_EQ(find(rs, "p99 latency, 10 users").measured, "not measured");
    EXPECT_FALSE(find(rs, "p99 latency, 50 users").pass);
    EXPECT_NE(find(rs, "p99 latency, 50 users").measured.find("LOST"), std::string::npos);
    // Delivery that was not measured in some run is not 100 %.
    EXPECT_FALSE(find(rs, "durable delivery").pass);
}

TEST(Criteria, ThroughputAndBothBandwidthsAt100Users) {
    std::map<std::size_t, std::vector<LoadTestMetrics>> runs;
    runs[10] = {run(1)};
    runs[50] = {run(1)};
    runs[100] = {run(3), run(3)};
    runs[100][1].deliveries_per_s = 800;   // below the seed's 1,000 messages/s
    runs[100][0].mbps_out_per_user = 7.5;  // a server that sends one user too much
    auto rs = evaluate_seed_criteria(runs, 1);
    EXPECT_FALSE(find(rs, "throughput, 100 users").pass);
    EXPECT_TRUE(find(rs, "bandwidth in").pass);
    EXPECT_FALSE(find(rs, "bandwidth out per user").pass);
    EXPECT_EQ(find(rs, "bandwidth out per user").users, 100u);
    EXPECT_TRUE(find(rs, "server CPU").pass);
}

TEST(Saturation, GeneratorThreadOrTimerLagOrTheMachine) {
    EXPECT_FALSE(judge_saturation(50, 1, 10, 60).generator);
    EXPECT_TRUE(judge_saturation(95, 1, 10, 60).generator);   // one thread past 90 % of a core
    EXPECT_TRUE(judge_saturation(30, 12, 10, 60).generator);  // timers late beyond the limit
    EXPECT_FALSE(judge_saturation(30, 12, 10, 60).machine);
    EXPECT_TRUE(judge_saturation(60, 1, 10, 95).machine);  // both cores busy: 85 % + 84 % of two
    EXPECT_FALSE(judge_saturation(60, 1, 10, 95).generator);
}
