// Scenario files (scenarios/*.yaml) against the compiled workloads, bad files, and the windows
// and rooms a plan gives its users.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "traffic/load_config.hpp"
#include "traffic/scenario.hpp"
#include "traffic/workload.hpp"

using namespace harness;
using namespace std::chrono_literals;

namespace {

std::string scenario_path(const std::string& name) {
    return std::string(LIVESHARE_SOURCE_DIR) + "/scenarios/" + name;
}

// Every message of user i's script, from a config's make_script (what a run sends).
std::vector<Planned> schedule(const LoadTestConfig& cfg, std::size_t i) {
    const std::string uid = "0b8e9d3c-5a1f-4e2b-8c7d-" + std::to_string(100000000000 + i);
    auto s = make_script(cfg, i, uid, static_cast<liveshare::NodeId>(i + 1),
                         "6f1c2a90-1b7e-4c8e-9a57-0d4b3e8f2a11");
    std::vector<Planned> out;
    Planned p;
    while (s->next(p)) out.push_back(p);
    return out;
}

// The compiled workload w with the file's users, seed and length.
LoadTestConfig compiled(const Scenario& s, const TrafficPlan& plan, Workload w) {
    return LoadTestConfigBuilder()
        .users(plan.users.size())
        .workload(w)
        .seed(*s.seed)
        .interval(100ms)
        .messages_per_user(0)
        .warmup(std::chrono::milliseconds(s.warmup_us / 1000))
        .duration(std::chrono::milliseconds((plan.end_us - s.warmup_us) / 1000))
        .build();
}

LoadTestConfig from_file(const Scenario& s, std::shared_ptr<const TrafficPlan> plan) {
    auto cfg = LoadTestConfigBuilder()
                   .users(plan->users.size())
                   .seed(*s.seed)
                   .messages_per_user(0)
                   .build();
    cfg.plan = std::move(plan);
    return cfg;
}

// How many messages differ (time, type, durability, number or frame) and in how many users.
std::size_t differences(const LoadTestConfig& a, const LoadTestConfig& b, std::size_t& sends) {
    std::size_t diff = 0;
    sends = 0;
    for (std::size_t i = 0; i < a.users; ++i) {
        const auto x = schedule(a, i), y = schedule(b, i);
        sends += x.size();
        if (x.size() != y.size()) {
            ++diff;
            continue;
        }
        for (std::size_t k = 0; k < x.size(); ++k)
            if (x[k].t_us != y[k].t_us || x[k].type != y[k].type || x[k].durable != y[k].durable ||
                x[k].seq != y[k].seq || x[k].frame != y[k].frame)
                ++diff;
    }
    return diff;
}

struct Builtin {
    const char* file;
    Workload w;
};

}  // namespace

class ScenarioEquivalence : public ::testing::TestWithParam<Builtin> {};

TEST_P(ScenarioEquivalence, FileFormSendsExactlyWhatTheCompiledFormSends) {
    const Scenario s = load_scenario(scenario_path(GetParam().file));
    ASSERT_TRUE(s.seed);
    const auto plan = make_plan(s);
    ASSERT_FALSE(plan->windowed());
    EXPECT_EQ(plan->rooms, 1u);
    std::size_t sends = 0;
    EXPECT_EQ(differences(compiled(s, *plan, GetParam().w), from_file(s, plan), sends), 0u);
    EXPECT_GT(sends, plan->users.size() * 5);  // something was compared
}

INSTANTIATE_TEST_SUITE_P(Builtins, ScenarioEquivalence,
                         ::testing::Values(Builtin{"seed.yaml", Workload::Seed},
                                           Builtin{"editing.yaml", Workload::Editing},
                                           Builtin{"cursor_storm.yaml", Workload::CursorStorm},
                                           Builtin{"burst.yaml", Workload::Burst}),
                         [](const auto& info) {
                             std::string n = info.param.file;
                             return n.substr(0, n.find('.'));
                         });

// The comparison can fail: a file that differs from the compiled form in one detail is told
// apart from it.
TEST(Scenario, ComparisonSeesAOneFieldChange) {
    Scenario s = load_scenario(scenario_path("editing.yaml"));
    const auto plan = make_plan(s);
    const auto cfg = compiled(s, *plan, Workload::Editing);
    std::size_t sends = 0;
    Scenario changed = s;
    changed.classes[0].streams[0].mix[1].second = 2;  // MoveTable 2 in 3 instead of 3 in 4
    EXPECT_GT(differences(cfg, from_file(changed, make_plan(changed)), sends), 0u);
    changed = s;
    changed.classes[0].streams[1].off_us = 900000;  // the cursor pauses 0.9 s, not 1 s
    EXPECT_GT(differences(cfg, from_file(changed, make_plan(changed)), sends), 0u);
    changed = s;
    *changed.seed += 1;
    EXPECT_GT(differences(cfg, from_file(changed, make_plan(changed)), sends), 0u);
}

namespace {

std::string error_of(const std::string& yaml) {
    try {
        parse_scenario(yaml, "bad.yaml");
    } catch (const ScenarioError& e) {
        return e.what();
    }
    return "(accepted)";
}

const char* kGood = R"(name: ok
classes:
  - streams:
      - type: graph_op
        every: 100ms
phases:
  - duration: 5s
    users: 10
)";

}  // namespace

TEST(Scenario, AGoodMinimalFileIsAccepted) {
    EXPECT_EQ(error_of(kGood), "(accepted)");
}

// Each bad file is refused with its line, column and the field at fault.
TEST(Scenario, BadFilesNameTheLineAndTheField) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"name: [unclosed", "bad.yaml:1:"},
        {"name: x\nclasses: []\nphases: []\n", "bad.yaml:2:10: classes: expected a list"},
        {std::string(kGood) + "colour: blue\n", "bad.yaml:9:1: colour: unknown field"},
        {"name: two words\n", "bad.yaml:1:7: name: one word"},
        {"- just\n- a list\n", "bad.yaml:1:1: the file: expected a mapping"},
        {R"(name: x
classes:
  - streams:
      - type: graph_op
        every: 100 parsecs
phases: [{duration: 5s, users: 10}]
)",
         "bad.yaml:5:16: classes[0].streams[0].every"},
        {R"(name: x
classes:
  - streams:
      - type: telepathy
        every: 1s
phases: [{duration: 5s, users: 10}]
)",
         "bad.yaml:4:15: classes[0].streams[0].type"},
        {R"(name: x
classes:
  - streams:
      - type: cursor_move
        every: 20ms
        mix: [{op: move_table}]
phases: [{duration: 5s, users: 10}]
)",
         "bad.yaml:6:14: classes[0].streams[0].mix: only graph_op"},
        {R"(name: x
classes:
  - streams:
      - type: graph_op
        every: {uniform: [1s, 500ms]}
phases: [{duration: 5s, users: 10}]
)",
         "bad.yaml:5:26: classes[0].streams[0].every.uniform: TO must be later"},
        {R"(name: x
classes:
  - streams: [{type: graph_op, every: 1s}]
phases:
  - {duration: 5s, users: [0, 10, 20]}
)",
         "bad.yaml:5:27: phases[0].users: expected [FROM, TO]"},
        {R"(name: x
classes:
  - streams: [{type: graph_op, every: 1s}]
phases:
  - {duration: 5s}
)",
         "bad.yaml:5:5: phases[0].users: missing"},
        {R"(name: x
rooms: {size: 5, count: 2}
classes:
  - streams: [{type: graph_op, every: 1s}]
phases: [{duration: 5s, users: 10}]
)",
         "bad.yaml:2:8: rooms: give size, or count"},
    };
    for (const auto& [yaml, want] : cases) {
        const std::string got = error_of(yaml);
        EXPECT_EQ(got.rfind(want, 0), 0u) << "want '" << want << "...', got '" << got << "'";
    }
}

// Cycles and refilled rooms: each mistake named with its line, column and field.
TEST(Scenario, BadCyclesAndRefillsNameTheLineAndTheField) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {R"(name: x
rooms: {count: 2, refill: true}
classes:
  - streams: [{type: graph_op, every: 1s}]
phases: [{duration: 5s, users: 10}]
)",
         "bad.yaml:2:27: rooms.refill: goes with size"},
        {R"(name: x
rooms: {size: 5, refill: maybe}
classes:
  - streams: [{type: graph_op, every: 1s}]
phases: [{duration: 5s, users: 10}]
)",
         "bad.yaml:2:26: rooms.refill: expected true or false, got 'maybe'"},
        {R"(name: x
classes:
  - streams: [{type: graph_op, every: 1s}]
phases:
  - {duration: 5s, users: 10}
  - {repeat: 0, phases: [{duration: 1s}]}
)",
         "bad.yaml:6:14: phases[1].repeat: must be at least 1"},
        {R"(name: x
classes:
  - streams: [{type: graph_op, every: 1s}]
phases:
  - {duration: 5s, users: 10}
  - {repeat: 2, phases: [{duration: 1s, colour: red}]}
)",
         "bad.yaml:6:41: phases[1].phases[0].colour: unknown field"},
        {R"(name: x
classes:
  - streams: [{type: graph_op, every: 1s}]
phases:
  - {duration: 5s, users: 10}
  - {repeat: 2, phases: [{duration: 1s}]}
  - {repeat: 2, phases: [{duration: 1s}]}
)",
         "bad.yaml:7:5: phases[2].repeat: one cycle per file"},
        {R"(name: x
classes:
  - streams: [{type: graph_op, every: 1s}]
phases:
  - {name: a, duration: 5s, users: 10}
  - {repeat: 2, phases: [{name: a, duration: 1s}]}
)",
         "bad.yaml:6:33: phases[1].phases[0].name: used twice"},
    };
    for (const auto& [yaml, want] : cases) {
        const std::string got = error_of(yaml);
        EXPECT_EQ(got.rfind(want, 0), 0u) << "want '" << want << "...', got '" << got << "'";
    }
}

TEST(Scenario, AMissingFileIsNamed) {
    try {
        load_scenario("/nonexistent/x.yaml");
        FAIL() << "accepted";
    } catch (const ScenarioError& e) {
        EXPECT_NE(std::string(e.what()).find("/nonexistent/x.yaml"), std::string::npos);
    }
}

// ramp-spike.yaml: arrivals spread over the ramp, a spike at three times the rate, churn, and
// the newest users leaving in the ramp down; rooms never over their size.
TEST(Scenario, RampSpikePlanHasItsWindowsAndRooms) {
    const Scenario s = load_scenario(scenario_path("ramp-spike.yaml"));
    const auto plan = make_plan(s);
    ASSERT_EQ(plan->phases.size(), 4u);
    EXPECT_EQ(plan->phases[0].name, "ramp");
    EXPECT_EQ(plan->phases[1].rate, 3);
    EXPECT_EQ(plan->end_us, 50000000);
    EXPECT_TRUE(plan->windowed());
    std::size_t in_ramp = 0, before_20s = 0;
    for (const auto& u : plan->users) {
        EXPECT_LT(u.join_us, u.leave_us);
        if (u.join_us < 20000000) ++before_20s;
        if (u.join_us > 0 && u.join_us < 20000000) ++in_ramp;
    }
    EXPECT_GE(before_20s, 150u);  // the ramp's 150 and the churn's newcomers in it
    EXPECT_GE(in_ramp, 140u);     // spread over the ramp, not all at 0
    // Present at a time t: joined and not yet left.
    auto present = [&](std::int64_t t) {
        std::size_t n = 0;
        for (const auto& u : plan->users) n += u.join_us <= t && t < u.leave_us ? 1 : 0;
        return n;
    };
    EXPECT_EQ(present(25000000), 150u);  // churn keeps the count
    EXPECT_EQ(present(40000000), 150u);
    EXPECT_EQ(present(47500000), 113u);  // the ramp down half-way: 150 - 37 (one per 1/15 s)
    EXPECT_EQ(present(49999999), 76u);   // the 75th leaves at the end of the phase
    // Churn: users that leave before the ramp down, each replaced in its room.
    std::size_t churned = 0;
    for (const auto& u : plan->users) churned += u.leave_us < 45000000 ? 1 : 0;
    EXPECT_NEAR(static_cast<double>(churned), 2.0 * 45, 3.0);
    // No room holds more than its 25 at any moment (checked at every join).
    for (const auto& j : plan->users) {
        std::map<std::size_t, std::size_t> per_room;
        for (const auto& u : plan->users)
            if (u.join_us <= j.join_us && j.join_us < u.leave_us) ++per_room[u.room];
        for (const auto& [room, n] : per_room) EXPECT_LE(n, 25u) << "room " << room;
    }
    // Classes by weight: a third designers, two thirds reviewers.
    std::size_t designers = 0;
    for (const auto& u : plan->users) designers += u.cls == 0 ? 1 : 0;
    EXPECT_NEAR(static_cast<double>(designers) / static_cast<double>(plan->users.size()), 1.0 / 3,
                0.02);
}

// A user's script sends nothing before its join or after its leave, and faster in the spike.
TEST(Scenario, ScriptsKeepToTheirWindowAndThePhaseRate) {
    const Scenario s = load_scenario(scenario_path("ramp-spike.yaml"));
    auto plan = make_plan(s);
    const auto cfg = from_file(s, plan);
    std::size_t in_spike = 0, in_steady = 0;
    for (std::size_t i = 0; i < plan->users.size(); ++i) {
        const auto& u = plan->users[i];
        for (const auto& p : schedule(cfg, i)) {
            EXPECT_GE(p.t_us, u.join_us);
            EXPECT_LT(p.t_us, std::min(u.leave_us, plan->end_us));
            if (p.durable && p.t_us >= 20000000 && p.t_us < 30000000) ++in_spike;
            if (p.durable && p.t_us >= 30000000 && p.t_us < 40000000) ++in_steady;
        }
    }
    // Ten seconds each, the same 150 users: about three times the graph ops in the spike.
    const double ratio = static_cast<double>(in_spike) / static_cast<double>(in_steady);
    EXPECT_GT(ratio, 2.5);
    EXPECT_LT(ratio, 3.5);
}

// An open model: arrivals at a rate ramping 2 -> 10 per second over 10 s, each staying 3 s,
// beside 4 users held from the start.
TEST(Scenario, ArrivalsFollowTheirRateAndStay) {
    const Scenario s = parse_scenario(R"(name: arrivals
seed: 5
classes:
  - streams: [{type: graph_op, every: 200ms}]
phases:
  - {name: base, duration: 1s, users: 4}
  - {name: open, duration: 10s, arrivals: [2, 10], stay: 3s}
)",
                                      "arrivals.yaml");
    const auto plan = make_plan(s);
    std::size_t arrivals = 0, first_half = 0;
    for (const auto& u : plan->users) {
        if (u.join_us == 0) {
            EXPECT_EQ(u.leave_us, kNever);  // the held users stay
            continue;
        }
        ++arrivals;
        EXPECT_GE(u.join_us, 1000000);
        EXPECT_LT(u.join_us, 11000000);
        if (u.join_us < 6000000) ++first_half;
        // Each stays its 3 s, or to the end of the run.
        if (u.join_us + 3000000 < plan->end_us)
            EXPECT_EQ(u.leave_us, u.join_us + 3000000);
        else
            EXPECT_EQ(u.leave_us, kNever);
    }
    // (2 + 10) / 2 per second over 10 s: 60; in the first half (2 -> 6 per second) 20.
    EXPECT_NEAR(static_cast<double>(arrivals), 60, 1);
    EXPECT_NEAR(static_cast<double>(first_half), 20, 1);
    ASSERT_EQ(plan->phases.size(), 2u);
    EXPECT_EQ(plan->phases[1].users_from, 4u);
    // At the end: the 4 and the last 3 s of arrivals (7.6 to 10 per second): about 26.
    EXPECT_NEAR(static_cast<double>(plan->phases[1].users_to), 4 + 26, 2);
}

TEST(Scenario, ArrivalsWantAStayAndAStayWantsArrivals) {
    EXPECT_EQ(error_of("name: x\nclasses: [{streams: [{type: graph_op, every: 1s}]}]\n"
                       "phases:\n  - {duration: 5s, arrivals: 2}\n")
                  .rfind("bad.yaml:4:5: phases[0].stay: missing", 0),
              0u);
    EXPECT_EQ(error_of("name: x\nclasses: [{streams: [{type: graph_op, every: 1s}]}]\n"
                       "phases:\n  - {duration: 5s, users: 3, stay: 2s}\n")
                  .rfind("bad.yaml:4:36: phases[0].stay: goes with arrivals", 0),
              0u);
    EXPECT_EQ(error_of("name: x\nclasses: [{streams: [{type: graph_op, every: 1s}]}]\n"
                       "phases:\n  - {duration: 5s, arrivals: [1, 2, 3], stay: 1s}\n")
                  .rfind("bad.yaml:4:30: phases[0].arrivals: expected R or [FROM, TO]", 0),
              0u);
}

// A cycle written once and repeated: its copies share their names (one phase result each),
// and fit_cycles repeats it as often as a length asks. With refill, the users who leave free
// their seats and those who come back take them again, editing the tables made there.
TEST(Scenario, ACycleRepeatsAndReturningUsersTakeTheirSeatsAgain) {
    Scenario s = parse_scenario(R"(name: cycle
seed: 3
rooms: {size: 4, refill: true}
classes:
  - streams: [{type: graph_op, every: 500ms}]
phases:
  - {name: arrive, duration: 2s, users: [0, 8]}
  - repeat: 3
    phases:
      - {name: leave, duration: 1s, users: [8, 4]}
      - {name: back, duration: 1s, users: [4, 8]}
  - {name: end, duration: 1s}
)",
                                "cycle.yaml");
    ASSERT_TRUE(s.cycle);
    EXPECT_EQ(s.phases.size(), 1u + 3 * 2 + 1);
    EXPECT_EQ(scenario_length_us(s), 9000000);
    auto plan = make_plan(s);
    EXPECT_EQ(plan->phase_slots, 4u);
    EXPECT_EQ(plan->phases[3].name, "leave");
    EXPECT_EQ(plan->phases[3].slot, plan->phases[1].slot);
    // 8 arrive in rooms 0 and 1; each cycle the 4 newest (room 1) leave and 4 come back.
    EXPECT_EQ(plan->rooms, 2u);
    ASSERT_EQ(plan->users.size(), 8u + 3 * 4);
    for (std::size_t i = 0; i < 8; ++i) {
        EXPECT_EQ(plan->users[i].room, i / 4) << i;
        EXPECT_FALSE(plan->users[i].returning()) << i;
    }
    std::set<std::size_t> owners;
    for (std::size_t i = 8; i < plan->users.size(); ++i) {
        const auto& u = plan->users[i];
        EXPECT_EQ(u.room, 1u) << i;
        ASSERT_TRUE(u.returning()) << i;
        EXPECT_GE(u.owner, 4u);  // a seat of room 1, first taken by users 4-7
        EXPECT_LT(u.owner, 8u);
        owners.insert(u.owner);
        // Gone before the next one takes the seat: never two users on one seat.
        for (std::size_t j = 4; j < i; ++j) {
            if (plan->users[j].room == 1 && (plan->users[j].owner == u.owner || j == u.owner)) {
                EXPECT_LE(plan->users[j].leave_us, u.join_us) << j << " and " << i;
            }
        }
    }
    EXPECT_EQ(owners.size(), 4u);
    // A returning user sends no setup: its first graph op edits the existing table.
    const auto cfg = from_file(s, plan);
    const auto first_new = schedule(cfg, 0), first_back = schedule(cfg, 8);
    ASSERT_FALSE(first_new.empty());
    ASSERT_FALSE(first_back.empty());
    EXPECT_NE(first_new[0].frame.find("CreateTable"), std::string::npos);
    EXPECT_EQ(first_back[0].frame.find("CreateTable"), std::string::npos);
    EXPECT_EQ(first_back[0].frame.find("AddColumn"), std::string::npos);
    // Fitted to 20 s: the 3 s outside the cycle stay, and the 2 s cycle fits 8 times (19 s).
    fit_cycles(s, 20000000);
    EXPECT_EQ(s.cycle->count, 8u);
    EXPECT_EQ(scenario_length_us(s), 19000000);
    EXPECT_EQ(s.phases.back().name, "end");
    fit_cycles(s, 1);  // shorter than what stays: once
    EXPECT_EQ(s.cycle->count, 1u);
    EXPECT_EQ(make_plan(s)->phases.size(), 4u);
}

// The soak's own file: its cycle, refill, and what --soak_minutes=60 makes of it.
TEST(Scenario, TheSoakFileFitsAnHour) {
    Scenario s = load_scenario(scenario_path("soak.yaml"));
    ASSERT_TRUE(s.cycle);
    EXPECT_TRUE(s.refill);
    fit_cycles(s, 3600000000);
    EXPECT_EQ(s.cycle->count, 59u);
    EXPECT_EQ(scenario_length_us(s), 3550000000);
    const auto plan = make_plan(s);
    EXPECT_EQ(plan->rooms, 10u);
    EXPECT_EQ(plan->users.size(), 200u + 59 * 100);
}
