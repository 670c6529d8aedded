// The load harness end to end against a real server: delivery accounting, convergence,
// and its handling of a server that rejects work. No timing is asserted.
#include "run/run_load.hpp"
#include "server_fixture.hpp"

using namespace lstest;
using harness::LoadTestConfigBuilder;
using harness::Workload;

TEST(LoadHarness, SeedRunDeliversEverythingAndConverges) {
    auto s = start_server({"--db=", "--graphop-interval-ms=0", "--rate-critical=0/0", "--quiet=1"});
    auto cfg = LoadTestConfigBuilder()
                   .users(6)
                   .room_size(3)
                   .messages_per_user(15)
                   .interval(20ms)
                   .duration(10000ms)
                   .drain(5000ms)
                   .target(s->url())
                   .build();
    auto r = harness::run_load_test(cfg, s->pid());
    const auto& m = r.metrics;
    EXPECT_EQ(m.users_joined, 6u);
    EXPECT_EQ(m.rooms, 2u);
    EXPECT_EQ(m.totals.sent_durable, 6u * 15);
    // Each receiver expects the 2 other members' 15 messages.
    EXPECT_EQ(m.totals.durable_expected, 6u * 2 * 15);
    EXPECT_EQ(m.totals.durable_received, m.totals.durable_expected);
    EXPECT_EQ(m.lost, 0u);
    EXPECT_EQ(m.totals.durable_duplicates, 0u);
    EXPECT_EQ(m.totals.echoes, 6u * 15);
    EXPECT_DOUBLE_EQ(m.delivery_pct.value_or(-1), 100.0);
    EXPECT_EQ(m.convergence, harness::Convergence::Converged) << m.convergence_detail;
    EXPECT_TRUE(m.totals.errors.empty());
    EXPECT_EQ(m.totals.latency.count(), m.totals.durable_received);
    EXPECT_TRUE(m.server_measured);
    EXPECT_GT(m.server_rss_mb, 0);
}

TEST(LoadHarness, ThrottledOpsAreDelayedNotLost) {
    // The original's 150 ms graph-op throttle against a 20 ms schedule: the ops wait for their
    // slots (the hold queue of 16 takes the burst), so all arrive, later, and none is refused.
    auto s =
        start_server({"--db=", "--graphop-interval-ms=150", "--rate-critical=0/0", "--quiet=1"});
    auto cfg = LoadTestConfigBuilder()
                   .users(2)
                   .messages_per_user(10)
                   .interval(20ms)
                   .duration(10000ms)
                   .drain(5000ms)
                   .target(s->url())
                   .build();
    auto r = harness::run_load_test(cfg, s->pid());
    const auto& m = r.metrics;
    EXPECT_EQ(m.totals.durable_rejected, 0u);
    EXPECT_EQ(m.totals.durable_received, m.totals.durable_expected);
    EXPECT_EQ(m.totals.durable_expected, 20u);
    EXPECT_EQ(m.convergence, harness::Convergence::Converged) << m.convergence_detail;
    EXPECT_GE(metric(*s, "liveshare_graphops_delayed_total"), 10);
}

TEST(LoadHarness, ThrottledServerShowsRejectionsAsErrorsNotLoss) {
    // Past a hold queue of 2, ops are refused with an Error; the harness counts them as
    // errors and does not expect their delivery.
    auto s = start_server({"--db=", "--graphop-interval-ms=150", "--graphop-queue=2",
                           "--rate-critical=0/0", "--quiet=1"});
    auto cfg = LoadTestConfigBuilder()
                   .users(2)
                   .messages_per_user(10)
                   .interval(20ms)
                   .duration(10000ms)
                   .drain(3000ms)
                   .target(s->url())
                   .build();
    auto r = harness::run_load_test(cfg, s->pid());
    const auto& m = r.metrics;
    EXPECT_GT(m.totals.durable_rejected, 0u);
    EXPECT_GT(m.error_pct, 0);
    EXPECT_EQ(m.totals.durable_received, m.totals.durable_expected);
    EXPECT_EQ(m.convergence, harness::Convergence::Converged) << m.convergence_detail;
}

TEST(LoadHarness, EditingAndCursorWorkloadsRun) {
    auto s = start_server({"--db=", "--quiet=1"});
    for (auto w : {Workload::Editing, Workload::CursorStorm}) {
        auto cfg = LoadTestConfigBuilder()
                       .users(4)
                       .workload(w)
                       .messages_per_user(0)
                       .duration(1500ms)
                       .drain(2000ms)
                       .target(s->url())
                       .build();
        auto r = harness::run_load_test(cfg, s->pid());
        EXPECT_EQ(r.metrics.users_joined, 4u) << harness::to_string(w);
        EXPECT_GT(r.metrics.totals.volatile_received, 0u) << harness::to_string(w);
        EXPECT_EQ(r.metrics.lost, 0u) << harness::to_string(w);
        // Cursor storms carry no durable state: convergence is "not checked", never "yes".
        EXPECT_EQ(r.metrics.convergence, w == Workload::Editing ? harness::Convergence::Converged
                                                                : harness::Convergence::NotChecked)
            << r.metrics.convergence_detail;
    }
}

TEST(LoadHarness, UnreachableTargetIsReportedNotHung) {
    // A port nobody listens on (bind then close to learn a free one).
    auto s = start_server({"--db=", "--quiet=1"});
    const auto url = s->url();
    s->stop();
    auto cfg = LoadTestConfigBuilder()
                   .users(3)
                   .messages_per_user(5)
                   .duration(2000ms)
                   .join_timeout(2000ms)
                   .target(url)
                   .build();
    auto r = harness::run_load_test(cfg);
    EXPECT_EQ(r.metrics.users_joined, 0u);
    EXPECT_GE(r.metrics.error_count, 3u);
}

// The harness against a relay written from the type table of docs/protocol.md alone
// (original_relay.py): no liveshare.v2, the original's join flow with its O(N^2) state sync, no
// server state. The relay refuses whatever fails the original's types, so a clean run means
// everything the harness sent was valid, and that it read everything the relay sent.
TEST(LoadHarness, RunsCleanAgainstARelayOfTheOriginalProtocol) {
    harness::ServerProcess relay(std::string(LIVESHARE_TEST_DIR) + "/original_relay.py", {});
    for (auto w : {Workload::Seed, Workload::Editing}) {
        auto cfg = LoadTestConfigBuilder()
                       .users(4)
                       .workload(w)
                       .messages_per_user(w == Workload::Seed ? 10 : 0)
                       .duration(1500ms)
                       .drain(3000ms)
                       .target(relay.url())
                       .build();
        auto r = harness::run_load_test(cfg);
        const auto& m = r.metrics;
        std::string errors;
        for (const auto& [kind, n] : m.totals.errors)
            errors += kind + " x" + std::to_string(n) + "; ";
        EXPECT_EQ(m.users_joined, 4u) << harness::to_string(w);
        EXPECT_EQ(m.error_count, 0u) << harness::to_string(w) << ": " << errors;
        EXPECT_GT(m.totals.durable_expected, 0u) << harness::to_string(w);
        EXPECT_EQ(m.totals.durable_received, m.totals.durable_expected) << harness::to_string(w);
        EXPECT_EQ(m.lost, 0u) << harness::to_string(w);
        EXPECT_EQ(m.convergence, harness::Convergence::Converged)
            << harness::to_string(w) << ": " << m.convergence_detail;
    }
}

// Coordinated omission: every generator thread pauses 250 ms in the middle of the run (as a GC
// pause or a descheduled process would). Messages due during the pause are sent late; counted
// from their intended send time their latency includes the pause, counted from the actual
// write (uncorrected) it does not. No timing bound: at least 200 ms holds by construction (the
// messages due at the pause's start are written after it), and the uncorrected figure can only
// fall below the corrected one if it leaves the pause out.
namespace {
// 4 users x 60 messages at 20 ms; every generator thread pauses 250 ms at `stall_at`.
harness::LoadTestMetrics run_with_generator_stall(std::chrono::milliseconds warmup,
                                                  std::chrono::milliseconds stall_at) {
    auto s = start_server({"--db=", "--graphop-interval-ms=0", "--rate-critical=0/0", "--quiet=1"});
    auto cfg = LoadTestConfigBuilder()
                   .users(4)
                   .messages_per_user(60)
                   .interval(20ms)
                   .warmup(warmup)
                   .stall_generator(stall_at, 250ms)
                   .duration(10000ms)
                   .drain(3000ms)
                   .target(s->url())
                   .build();
    return harness::run_load_test(cfg, s->pid()).metrics;
}
}  // namespace

TEST(LoadHarness, GeneratorStallShowsInCorrectedLatencyOnly) {
    const auto m = run_with_generator_stall(0ms, 400ms);
    ASSERT_EQ(m.lost, 0u);
    EXPECT_GE(m.p_ms(99), 200.0);                   // the messages due in the pause waited for it
    EXPECT_LT(m.p_uncorrected_ms(99), m.p_ms(99));  // from the actual write they did not
}

// Warm-up: samples of messages intended before it are discarded, counted exactly (no timing).
// Each user sends 60 messages 20 ms apart from a phase in [0, 20) ms: the 40 intended before
// 800 ms are warm-up, the last 20 count; 4 senders x 3 receivers x 20 = 240 samples out of 720
// deliveries. The generator pause falls inside the warm-up.
TEST(LoadHarness, WarmupSamplesAreDiscarded) {
    const auto m = run_with_generator_stall(800ms, 200ms);
    ASSERT_EQ(m.lost, 0u);
    EXPECT_EQ(m.totals.durable_received, 720u);
    EXPECT_EQ(m.totals.latency.count(), 240u);
}

// Failures look like failures: no one joins an unreachable target, so delivery is not
// measured (not 100 %), convergence is not checked (not "yes"), and every user is an error.
TEST(LoadHarness, NothingMeasuredIsNotReportedAsPerfect) {
    auto s = start_server({"--db=", "--quiet=1"});
    const auto url = s->url();
    s->stop();
    auto cfg = LoadTestConfigBuilder()
                   .users(3)
                   .messages_per_user(5)
                   .duration(2000ms)
                   .join_timeout(2000ms)
                   .target(url)
                   .build();
    auto r = harness::run_load_test(cfg);
    EXPECT_FALSE(r.metrics.delivery_pct.has_value());
    EXPECT_EQ(r.metrics.convergence, harness::Convergence::NotChecked);
    EXPECT_TRUE(std::isnan(r.metrics.p_ms(99)));
    EXPECT_EQ(r.metrics.totals.errors.count("never joined"), 1u);
    EXPECT_EQ(r.metrics.totals.errors.at("never joined"), 3u);
}
