// Planned runs end to end against a real server that records: a scenario whose users come and
// go (a ramp, churn, a ramp down), its trace, and the replay of that trace at scale 2. Each is
// held to exact delivery accounting and convergence. No timing is asserted.
#include "run/run_load.hpp"
#include "server_fixture.hpp"
#include "traffic/scenario.hpp"
#include "traffic/trace_replay.hpp"

using namespace lstest;
using harness::LoadTestConfigBuilder;

namespace {

const char* kScenario = R"(name: comings-and-goings
seed: 3
drain: 3s
leave_grace: 500ms
rooms: {size: 3}
churn: {per_s: 1}
classes:
  - streams:
      - type: graph_op
        start: {uniform: [0ms, 100ms]}
        every: {poisson: 150ms}
        mix: [{op: update_column}, {op: move_table, weight: 2}]
      - type: awareness
        every: 100ms
        bytes: 90
phases:
  - {name: ramp, duration: 2s, users: [0, 6]}
  - {name: steady, duration: 2s, users: 6, rate: 2}
  - {name: rampdown, duration: 1s, users: [6, 3]}
)";

harness::LoadTestResult run(std::shared_ptr<const harness::TrafficPlan> plan,
                            const harness::ServerProcess& s) {
    auto cfg = LoadTestConfigBuilder()
                   .users(plan->users.size())
                   .messages_per_user(0)
                   .duration(std::chrono::milliseconds(plan->end_us / 1000))
                   .drain(3000ms)
                   .target(s.url())
                   .build();
    cfg.plan = std::move(plan);
    return harness::run_load_test(cfg, s.pid());
}

}  // namespace

TEST(PlannedRuns, ScenarioTraceAndReplayAccountExactly) {
    const std::string trace = temp_db("planned-trace") + ".jsonl";
    auto s = start_server({"--db=", "--graphop-interval-ms=0", "--rate-critical=0/0", "--quiet=1",
                           "--record=" + trace});
    const auto plan = harness::make_plan(harness::parse_scenario(kScenario, "inline.yaml"));
    ASSERT_TRUE(plan->windowed());
    auto r = run(plan, *s);
    const auto& m = r.metrics;
    EXPECT_EQ(m.users_joined, plan->users.size());
    EXPECT_GT(m.totals.durable_expected, 0u);
    EXPECT_EQ(m.totals.durable_received, m.totals.durable_expected);
    EXPECT_EQ(m.lost, 0u);
    EXPECT_EQ(m.convergence, harness::Convergence::Converged) << m.convergence_detail;
    EXPECT_TRUE(m.totals.errors.empty());
    ASSERT_EQ(m.phases.size(), 3u);
    EXPECT_EQ(m.phases[1].name, "steady");
    EXPECT_GT(m.phases[1].latency.count(), 0u);
    EXPECT_EQ(metric(*s, "liveshare_trace_dropped_total"), 0);
    s->stop();  // the trace's end line

    // The trace: a session per user of the plan, its messages the run's.
    const auto t = harness::load_trace(trace);
    EXPECT_EQ(t.users.size(),
              plan->users.size() + plan->rooms);  // and a convergence observer per room
    EXPECT_EQ(t.dropped, 0u);
    std::size_t msgs = 0, left = 0;
    for (const auto& u : t.users) {
        msgs += u.messages.size();
        left += u.leave_us != harness::kNever ? 1 : 0;
    }
    EXPECT_EQ(msgs, m.totals.sent);
    EXPECT_GT(left, 0u);

    // Replayed at scale 2 against a fresh server: twice the sessions, all delivered.
    auto s2 =
        start_server({"--db=", "--graphop-interval-ms=0", "--rate-critical=0/0", "--quiet=1"});
    const auto replay = harness::make_replay_plan(t, {2, 1.0}, trace);
    EXPECT_EQ(replay->users.size(), 2 * t.users.size());
    EXPECT_EQ(replay->rooms, 2 * t.rooms.size());
    auto r2 = run(replay, *s2);
    EXPECT_EQ(r2.metrics.totals.durable_received, r2.metrics.totals.durable_expected);
    EXPECT_GT(r2.metrics.totals.durable_expected, 0u);
    EXPECT_EQ(r2.metrics.lost, 0u);
    EXPECT_EQ(r2.metrics.convergence, harness::Convergence::Converged)
        << r2.metrics.convergence_detail;
    std::filesystem::remove(trace);
}
