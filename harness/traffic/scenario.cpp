#include "traffic/scenario.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

namespace harness {

using liveshare::OpType;

std::int64_t Interval::draw(std::mt19937_64& rng) const {
    switch (kind) {
        case Kind::Fixed:
            return a_us;
        case Kind::Uniform:
            return draw_uniform(rng, a_us, b_us);
        case Kind::Poisson:
            return std::llround(
                std::exponential_distribution<double>(1.0 / static_cast<double>(a_us))(rng));
    }
    return a_us;
}

namespace {

// Reads one file's nodes; every refusal names the file, the line and column, and the field.
class Reader {
  public:
    explicit Reader(std::string file) : file_(std::move(file)) {}

    [[noreturn]] void fail(const YAML::Node& n, const std::string& field,
                           const std::string& what) const {
        std::ostringstream os;
        os << file_;
        if (n.IsDefined() && n.Mark().line >= 0)
            os << ':' << n.Mark().line + 1 << ':' << n.Mark().column + 1;
        os << ": " << field << ": " << what;
        throw ScenarioError(os.str());
    }

    // Only the keys a section knows: a misspelt one is an error, not a silent default.
    void keys(const YAML::Node& n, const std::string& field,
              std::initializer_list<const char*> known) const {
        if (!n.IsMap()) fail(n, field.empty() ? "the file" : field, "expected a mapping");
        for (const auto& kv : n) {
            const auto k = kv.first.as<std::string>();
            if (std::none_of(known.begin(), known.end(), [&](const char* x) { return k == x; }))
                fail(kv.first, field.empty() ? k : field + "." + k, "unknown field");
        }
    }

    std::string text(const YAML::Node& n, const std::string& field) const {
        if (!n.IsScalar()) fail(n, field, "expected a text");
        return n.as<std::string>();
    }

    double number(const YAML::Node& n, const std::string& field, double lo, double hi) const {
        if (!n.IsScalar()) fail(n, field, "expected a number");
        double v = 0;
        try {
            v = n.as<double>();
        } catch (const YAML::Exception&) {
            fail(n, field, "expected a number, got '" + n.as<std::string>() + "'");
        }
        if (!(v >= lo && v <= hi))
            fail(n, field, "must be between " + fmt(lo) + " and " + fmt(hi) + ", got " + fmt(v));
        return v;
    }

    bool flag(const YAML::Node& n, const std::string& field) const {
        const std::string v = n.IsScalar() ? n.as<std::string>() : "";
        if (v == "true") return true;
        if (v == "false") return false;
        fail(n, field, "expected true or false, got '" + v + "'");
    }

    std::size_t count(const YAML::Node& n, const std::string& field, double hi) const {
        const double v = number(n, field, 0, hi);
        if (v != std::floor(v)) fail(n, field, "expected a whole number, got " + fmt(v));
        return static_cast<std::size_t>(v);
    }

    // "20ms", "1.5s", "2m", "1h", "500us".
    std::int64_t duration(const YAML::Node& n, const std::string& field) const {
        const std::string s = n.IsScalar() ? n.as<std::string>() : "";
        std::size_t used = 0;
        double v = -1;
        try {
            v = std::stod(s, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        const std::string unit = s.substr(used);
        double scale = unit == "us"   ? 1
                       : unit == "ms" ? 1e3
                       : unit == "s"  ? 1e6
                       : unit == "m"  ? 6e7
                       : unit == "h"  ? 3.6e9
                                      : -1;
        if (!n.IsScalar() || used == 0 || scale < 0 || v < 0 || !std::isfinite(v))
            fail(n, field, "expected a duration such as 20ms, 1.5s, 2m or 1h, got '" + s + "'");
        return std::llround(v * scale);
    }

    // A duration (fixed), {uniform: [A, B]} or {poisson: MEAN}.
    Interval interval(const YAML::Node& n, const std::string& field) const {
        Interval i;
        if (n.IsScalar()) {
            i.a_us = duration(n, field);
            return i;
        }
        keys(n, field, {"fixed", "uniform", "poisson"});
        if (n.size() != 1) fail(n, field, "give one of fixed, uniform or poisson");
        if (n["fixed"]) {
            i.a_us = duration(n["fixed"], field + ".fixed");
        } else if (n["uniform"]) {
            const auto u = n["uniform"];
            if (!u.IsSequence() || u.size() != 2)
                fail(u, field + ".uniform", "expected [FROM, TO]");
            i.kind = Interval::Kind::Uniform;
            i.a_us = duration(u[0], field + ".uniform");
            i.b_us = duration(u[1], field + ".uniform");
            if (i.b_us <= i.a_us) fail(u, field + ".uniform", "TO must be later than FROM");
        } else {
            i.kind = Interval::Kind::Poisson;
            i.a_us = duration(n["poisson"], field + ".poisson");
            if (i.a_us <= 0) fail(n["poisson"], field + ".poisson", "the mean must be above 0");
        }
        return i;
    }

    OpType op(const YAML::Node& n, const std::string& field) const {
        static const std::pair<const char*, OpType> names[] = {
            {"create_table", OpType::CreateTable},
            {"add_column", OpType::AddColumn},
            {"update_column", OpType::UpdateColumn},
            {"move_table", OpType::MoveTable}};
        const auto s = text(n, field);
        for (auto [k, v] : names)
            if (s == k) return v;
        fail(n, field,
             "'" + s +
                 "' is not an op the harness can mark (create_table, add_column, update_column, "
                 "move_table)");
    }

  private:
    static std::string fmt(double v) {
        std::ostringstream os;
        os << v;
        return os.str();
    }
    std::string file_;
};

Stream read_stream(const Reader& rd, const YAML::Node& n, const std::string& f) {
    rd.keys(
        n, f,
        {"type", "start", "every", "on", "off", "setup", "after_setup", "mix", "burst", "bytes"});
    Stream s;
    static const std::pair<const char*, StreamKind> kinds[] = {
        {"graph_op", StreamKind::GraphOp},
        {"awareness", StreamKind::Awareness},
        {"cursor_move", StreamKind::CursorMove},
        {"table_drag", StreamKind::TableDrag},
        {"idle_status", StreamKind::IdleStatus}};
    if (!n["type"]) rd.fail(n, f + ".type", "missing");
    const auto type = rd.text(n["type"], f + ".type");
    bool known = false;
    for (auto [k, v] : kinds)
        if (type == k) s.kind = v, known = true;
    if (!known)
        rd.fail(n["type"], f + ".type",
                "'" + type +
                    "' is not a stream type (graph_op, awareness, cursor_move, table_drag, "
                    "idle_status)");
    if (!n["every"]) rd.fail(n, f + ".every", "missing");
    s.every = rd.interval(n["every"], f + ".every");
    if (s.every.kind == Interval::Kind::Fixed && s.every.a_us <= 0)
        rd.fail(n["every"], f + ".every", "must be above 0");
    if (n["start"]) s.start = rd.interval(n["start"], f + ".start");
    if (n["on"] || n["off"]) {
        if (!n["on"] || !n["off"]) rd.fail(n, f + ".on", "give both on and off");
        s.on_us = rd.duration(n["on"], f + ".on");
        s.off_us = rd.duration(n["off"], f + ".off");
        if (s.on_us < 1000 || s.off_us < 1000 || s.on_us % 1000 || s.off_us % 1000)
            rd.fail(n["on"], f + ".on", "on and off are whole milliseconds, at least 1ms");
    }
    const bool ops = s.kind == StreamKind::GraphOp;
    for (const char* k : {"setup", "after_setup", "mix", "burst"})
        if (n[k] && !ops) rd.fail(n[k], f + "." + k, "only graph_op streams have it");
    if (n["bytes"] && !ops && s.kind != StreamKind::Awareness)
        rd.fail(n["bytes"], f + ".bytes", "only graph_op and awareness streams have it");
    if (n["setup"]) {
        if (!n["setup"].IsSequence()) rd.fail(n["setup"], f + ".setup", "expected a list of ops");
        s.setup.clear();
        for (std::size_t i = 0; i < n["setup"].size(); ++i)
            s.setup.push_back(rd.op(n["setup"][i], f + ".setup"));
    }
    if (n["after_setup"]) s.after_setup_us = rd.duration(n["after_setup"], f + ".after_setup");
    if (n["mix"]) {
        const auto m = n["mix"];
        if (!m.IsSequence() || m.size() == 0)
            rd.fail(m, f + ".mix", "expected a list of {op: NAME, weight: N}");
        s.mix.clear();
        for (std::size_t i = 0; i < m.size(); ++i) {
            const std::string g = f + ".mix[" + std::to_string(i) + "]";
            rd.keys(m[i], g, {"op", "weight"});
            if (!m[i]["op"]) rd.fail(m[i], g + ".op", "missing");
            const unsigned w =
                m[i]["weight"] ? static_cast<unsigned>(rd.count(m[i]["weight"], g + ".weight", 1e6))
                               : 1;
            if (w == 0) rd.fail(m[i]["weight"], g + ".weight", "must be at least 1");
            s.mix.emplace_back(rd.op(m[i]["op"], g + ".op"), w);
        }
    }
    if (n["burst"]) s.burst = std::max<std::size_t>(1, rd.count(n["burst"], f + ".burst", 1000));
    if (n["bytes"]) s.bytes = rd.count(n["bytes"], f + ".bytes", 1 << 20);
    return s;
}

void read_rooms(Reader& rd, const YAML::Node& r, Scenario& sc) {
    rd.keys(r, "rooms", {"size", "count", "weights", "refill"});
    if (r["size"] && (r["count"] || r["weights"]))
        rd.fail(r, "rooms", "give size, or count (with weights if they differ)");
    if (r["refill"]) {
        if (!r["size"]) rd.fail(r["refill"], "rooms.refill", "goes with size");
        sc.refill = rd.flag(r["refill"], "rooms.refill");
    }
    if (r["size"]) sc.room_size = std::max<std::size_t>(1, rd.count(r["size"], "rooms.size", 1e6));
    if (r["count"])
        sc.room_weights.assign(std::max<std::size_t>(1, rd.count(r["count"], "rooms.count", 1e5)),
                               1.0);
    if (r["weights"]) {
        if (!r["weights"].IsSequence() || r["weights"].size() == 0)
            rd.fail(r["weights"], "rooms.weights", "expected a list of numbers");
        if (r["count"] && r["weights"].size() != sc.room_weights.size())
            rd.fail(r["weights"], "rooms.weights", "one weight per room (rooms.count)");
        sc.room_weights.clear();
        for (std::size_t i = 0; i < r["weights"].size(); ++i)
            sc.room_weights.push_back(rd.number(r["weights"][i], "rooms.weights", 1e-6, 1e6));
    }
}

void read_classes(Reader& rd, const YAML::Node& root, Scenario& sc) {
    const auto classes = root["classes"];
    if (!classes) rd.fail(root, "classes", "missing");
    if (!classes.IsSequence() || classes.size() == 0)
        rd.fail(classes, "classes", "expected a list of user classes");
    for (std::size_t i = 0; i < classes.size(); ++i) {
        const std::string f = "classes[" + std::to_string(i) + "]";
        const auto c = classes[i];
        rd.keys(c, f, {"name", "weight", "streams"});
        UserClass uc;
        uc.name = c["name"] ? rd.text(c["name"], f + ".name") : "class" + std::to_string(i);
        if (c["weight"])
            uc.weight = static_cast<unsigned>(rd.count(c["weight"], f + ".weight", 1e6));
        if (uc.weight == 0) rd.fail(c["weight"], f + ".weight", "must be at least 1");
        if (const auto st = c["streams"]) {
            if (!st.IsSequence()) rd.fail(st, f + ".streams", "expected a list of streams");
            for (std::size_t k = 0; k < st.size(); ++k)
                uc.streams.push_back(
                    read_stream(rd, st[k], f + ".streams[" + std::to_string(k) + "]"));
        }
        sc.classes.push_back(std::move(uc));
    }
}

ScenarioPhase read_phase(Reader& rd, const YAML::Node& p, const std::string& f, std::size_t i,
                         std::set<std::string>& names) {
    rd.keys(p, f, {"name", "duration", "users", "rate", "arrivals", "stay"});
    ScenarioPhase ph;
    ph.name = p["name"] ? rd.text(p["name"], f + ".name") : "phase" + std::to_string(i);
    if (!names.insert(ph.name).second) rd.fail(p["name"], f + ".name", "used twice");
    if (!p["duration"]) rd.fail(p, f + ".duration", "missing");
    ph.duration_us = rd.duration(p["duration"], f + ".duration");
    if (ph.duration_us <= 0) rd.fail(p["duration"], f + ".duration", "must be above 0");
    // Later phases without users hold what the phase before left; the first has nothing to
    // hold.
    if (!p["users"] && !p["arrivals"] && i == 0)
        rd.fail(p, f + ".users", "missing (N, or [FROM, TO] for a ramp; or arrivals)");
    if (const auto a = p["arrivals"]) {
        const bool two = a.IsSequence();
        if (two && a.size() != 2)
            rd.fail(a, f + ".arrivals", "expected R or [FROM, TO] per second");
        const double from = rd.number(two ? a[0] : a, f + ".arrivals", 0, 1e5);
        const double to = two ? rd.number(a[1], f + ".arrivals", 0, 1e5) : from;
        ph.arrivals = {from, to};
        if (!p["stay"]) rd.fail(p, f + ".stay", "missing: how long each arrival stays");
        ph.stay = rd.interval(p["stay"], f + ".stay");
    } else if (p["stay"]) {
        rd.fail(p["stay"], f + ".stay", "goes with arrivals");
    }
    const auto u = p["users"];
    if (!u) {
        ph.users_to = kHold;  // the users held so far stay as they are
    } else if (u.IsSequence()) {
        if (u.size() != 2) rd.fail(u, f + ".users", "expected [FROM, TO]");
        ph.users_from = rd.count(u[0], f + ".users", 1e6);
        ph.users_to = rd.count(u[1], f + ".users", 1e6);
    } else {
        ph.users_to = rd.count(u, f + ".users", 1e6);
        ph.users_from = ph.users_to;
    }
    if (p["rate"]) ph.rate = rd.number(p["rate"], f + ".rate", 0.01, 1000);
    return ph;
}

// The phases, and at most one cycle among them ({repeat: N, phases: [...]}) written out N
// times. A phase's name is given once in the file; a cycle's copies share theirs.
void read_phases(Reader& rd, const YAML::Node& phases, Scenario& sc) {
    std::set<std::string> names;
    std::vector<ScenarioPhase> after;
    std::size_t n = 0;  // phases read so far (a phase without a name is phase<n>)
    for (std::size_t i = 0; i < phases.size(); ++i) {
        const std::string f = "phases[" + std::to_string(i) + "]";
        const auto p = phases[i];
        if (!p.IsMap() || !p["repeat"]) {
            (sc.cycle ? after : sc.phases).push_back(read_phase(rd, p, f, n++, names));
            continue;
        }
        rd.keys(p, f, {"repeat", "phases"});
        if (sc.cycle) rd.fail(p, f + ".repeat", "one cycle per file (a second repeat)");
        PhaseCycle c;
        c.first = sc.phases.size();
        c.count = rd.count(p["repeat"], f + ".repeat", 1e6);
        if (c.count == 0) rd.fail(p["repeat"], f + ".repeat", "must be at least 1");
        const auto sub = p["phases"];
        if (!sub || !sub.IsSequence() || sub.size() == 0)
            rd.fail(sub ? sub : p, f + ".phases", "expected the list of phases to repeat");
        for (std::size_t j = 0; j < sub.size(); ++j)
            c.phases.push_back(
                read_phase(rd, sub[j], f + ".phases[" + std::to_string(j) + "]", n++, names));
        sc.cycle = std::move(c);
    }
    if (sc.cycle)
        for (std::size_t k = 0; k < sc.cycle->count; ++k)
            sc.phases.insert(sc.phases.end(), sc.cycle->phases.begin(), sc.cycle->phases.end());
    sc.phases.insert(sc.phases.end(), after.begin(), after.end());
}

Scenario read(const YAML::Node& root, const std::string& file) {
    Reader rd(file);
    Scenario sc;
    sc.file = file;
    rd.keys(root, "",
            {"name", "description", "seed", "warmup", "drain", "leave_grace", "messages_per_user",
             "returning", "rooms", "churn", "classes", "phases"});
    if (!root["name"]) rd.fail(root, "name", "missing");
    sc.name = rd.text(root["name"], "name");
    if (sc.name.empty() || sc.name.find_first_of(" /") != std::string::npos)
        rd.fail(root["name"], "name", "one word, no '/' (it names load/scenario/<name>)");
    if (root["seed"]) sc.seed = rd.count(root["seed"], "seed", 1e15);
    if (root["warmup"]) sc.warmup_us = rd.duration(root["warmup"], "warmup");
    if (root["drain"]) sc.drain_us = rd.duration(root["drain"], "drain");
    if (root["leave_grace"]) sc.leave_grace_us = rd.duration(root["leave_grace"], "leave_grace");
    if (root["messages_per_user"])
        sc.messages_per_user = rd.count(root["messages_per_user"], "messages_per_user", 1e9);
    if (root["returning"]) sc.returning = rd.flag(root["returning"], "returning");
    if (const auto r = root["rooms"]) read_rooms(rd, r, sc);
    if (const auto c = root["churn"]) {
        rd.keys(c, "churn", {"per_s"});
        if (c["per_s"]) sc.churn_per_s = rd.number(c["per_s"], "churn.per_s", 0, 1e4);
    }
    read_classes(rd, root, sc);
    const auto phases = root["phases"];
    if (!phases) rd.fail(root, "phases", "missing");
    if (!phases.IsSequence() || phases.size() == 0)
        rd.fail(phases, "phases", "expected a list of phases");
    read_phases(rd, phases, sc);
    return sc;
}

}  // namespace

Scenario parse_scenario(const std::string& text, const std::string& file) {
    YAML::Node root;
    try {
        root = YAML::Load(text);
    } catch (const YAML::ParserException& e) {
        throw ScenarioError(file + ":" + std::to_string(e.mark.line + 1) + ":" +
                            std::to_string(e.mark.column + 1) + ": not YAML: " + e.msg);
    }
    try {
        return read(root, file);
    } catch (const YAML::Exception& e) {
        throw ScenarioError(file + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
    }
}

std::int64_t PhaseCycle::duration_us() const {
    std::int64_t d = 0;
    for (const auto& p : phases) d += p.duration_us;
    return d;
}

std::int64_t scenario_length_us(const Scenario& s) {
    std::int64_t d = 0;
    for (const auto& p : s.phases) d += p.duration_us;
    return d;
}

void fit_cycles(Scenario& s, std::int64_t total_us) {
    if (!s.cycle) throw ScenarioError(s.file + ": no cycle ({repeat: N, phases: [...]}) to fit");
    auto& c = *s.cycle;
    const auto first = s.phases.begin() + static_cast<std::ptrdiff_t>(c.first);
    const auto last = first + static_cast<std::ptrdiff_t>(c.phases.size() * c.count);
    const std::int64_t rest =
        scenario_length_us(s) - c.duration_us() * static_cast<std::int64_t>(c.count);
    s.phases.erase(first, last);
    const double n =
        std::floor(static_cast<double>(total_us - rest) / static_cast<double>(c.duration_us()));
    c.count = n >= 1 ? static_cast<std::size_t>(n) : 1;
    for (std::size_t k = 0; k < c.count; ++k)
        s.phases.insert(
            s.phases.begin() + static_cast<std::ptrdiff_t>(c.first + k * c.phases.size()),
            c.phases.begin(), c.phases.end());
}

Scenario load_scenario(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw ScenarioError(path + ": cannot read the scenario file");
    std::stringstream ss;
    ss << in.rdbuf();
    return parse_scenario(ss.str(), path);
}

}  // namespace harness
