// Scenario files: a whole run as YAML (docs/scenarios.md has the schema). User classes with
// their message streams, phases over time (ramp, steady, spike, ramp down), the room layout and
// churn. A bad file is refused with its line, column and field.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "traffic/traffic_plan.hpp"

namespace harness {

struct ScenarioError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// How long until a stream's next message.
struct Interval {
    enum class Kind { Fixed, Uniform, Poisson };
    Kind kind = Kind::Fixed;
    std::int64_t a_us = 0, b_us = 0;  // fixed: a; uniform: [a, b); poisson: mean a
    std::int64_t draw(std::mt19937_64& rng) const;
};

enum class StreamKind { GraphOp, Awareness, CursorMove, TableDrag, IdleStatus };

struct Stream {
    StreamKind kind = StreamKind::GraphOp;
    Interval start;  // the first message, after the user joined
    Interval every;  // between messages (and between bursts)
    // On/off periods (cursor streaming): messages only in the first `on` of every on + off,
    // counted from the user's join; 0: always on.
    std::int64_t on_us = 0, off_us = 0;
    // Graph ops: the user's table first (setup, one per message), then the mix, in turn by the
    // op's step (step k takes the entry at k mod the weights' sum).
    std::vector<liveshare::OpType> setup = {liveshare::OpType::CreateTable,
                                            liveshare::OpType::AddColumn};
    std::int64_t after_setup_us = -1;  // the pause after the last setup op; -1: `every`
    std::vector<std::pair<liveshare::OpType, unsigned>> mix = {
        {liveshare::OpType::UpdateColumn, 1}};
    std::size_t burst = 1;  // messages at one intended time, each time
    std::size_t bytes = 0;  // graph ops: the frame's approximate size (0: 512); awareness:
                            // exactly (0: unpadded)
};

struct UserClass {
    std::string name;
    unsigned weight = 1;
    std::vector<Stream> streams;
};

// A phase without `users`: the users held so far stay as they are.
inline constexpr std::size_t kHold = static_cast<std::size_t>(-1);

struct ScenarioPhase {
    std::string name;
    std::int64_t duration_us = 0;
    std::optional<std::size_t> users_from;  // absent: where the last phase ended
    std::size_t users_to = 0;
    double rate = 1;
    // An open model: new users arrive at this rate (per second, from the first to the second
    // over the phase), each stays for `stay`, beside the users held above.
    std::optional<std::pair<double, double>> arrivals;
    Interval stay;
};

// A cycle of phases the file repeats `count` times (`{repeat: N, phases: [...]}`).
struct PhaseCycle {
    std::size_t first = 0;  // where its first copy starts in Scenario::phases
    std::vector<ScenarioPhase> phases;
    std::size_t count = 0;
    std::int64_t duration_us() const;
};

struct Scenario {
    std::string name, file;
    std::vector<UserClass> classes;
    std::vector<ScenarioPhase> phases;  // a cycle's copies written out
    std::optional<PhaseCycle> cycle;
    std::size_t room_size = 0;  // rooms fill one after another, this many each
    // With room_size: a newcomer takes the first free seat of the rooms so far (lowest room
    // first) before a new room opens; who takes a seat someone left is returning to it, and
    // edits the table that seat's first user made (no setup of its own).
    bool refill = false;
    std::vector<double> room_weights;  // or: this many rooms, users spread by these shares
    double churn_per_s = 0;            // a user leaves and a new one takes its place
    std::int64_t warmup_us = 0, drain_us = 2000000, leave_grace_us = 1000000;
    std::size_t messages_per_user = 0;  // 0: no cap
    bool returning = false;
    std::optional<std::uint64_t> seed;
};

// The run's length (the phases' durations summed).
std::int64_t scenario_length_us(const Scenario& s);
// Repeats the scenario's cycle as often as fits in `total_us` (at least once): a soak's
// length chosen at run time. Throws ScenarioError when the scenario has no cycle.
void fit_cycles(Scenario& s, std::int64_t total_us);

// Reads and checks a scenario file; throws ScenarioError ("FILE:LINE:COL: field: what").
Scenario load_scenario(const std::string& path);
Scenario parse_scenario(const std::string& yaml_text, const std::string& file_name);

// The users, their rooms and windows, and the phases of a scenario.
std::shared_ptr<const TrafficPlan> make_plan(const Scenario& s);

// A user of a scenario: its class's streams from its join to its leave (or the end).
class ScenarioScript : public Script {
  public:
    ScenarioScript(const Scenario& s, const TrafficPlan& plan, std::size_t index, MessageMaker make,
                   std::uint64_t seed);
    bool next(Planned& out) override;

  private:
    struct State {
        const Stream* s;
        std::int64_t next;
        std::size_t burst_left = 0;
    };
    std::int64_t advance(std::int64_t t, std::int64_t work) const;
    std::int64_t step(const Interval& i, std::int64_t t);  // t plus a drawn gap
    void on_off(const Stream& s, std::int64_t& next) const;

    const Scenario& sc_;
    const TrafficPlan& plan_;
    MessageMaker make_;
    std::mt19937_64 rng_;
    std::vector<State> streams_;
    std::int64_t join_us_, end_us_;
    bool varied_ = false;     // some phase has a rate other than 1
    bool returning_ = false;  // its table exists: no setup
    std::uint64_t count_ = 0, durable_seq_ = 0, volatile_seq_ = 0;
};

}  // namespace harness
