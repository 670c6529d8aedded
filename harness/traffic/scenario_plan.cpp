// A scenario's users over time (who is in which room from when to when) and each user's
// messages: its class's streams, in intended-time order.
#include <algorithm>
#include <cmath>
#include <deque>
#include <numeric>
#include <queue>

#include "traffic/scenario.hpp"

namespace harness {

namespace {

class ScenarioPlan : public TrafficPlan {
  public:
    explicit ScenarioPlan(Scenario s) : sc(std::move(s)) {}
    std::unique_ptr<Script> script(std::size_t index, std::string user_id,
                                   liveshare::NodeId node_id, std::string table_uuid,
                                   std::uint64_t seed) const override {
        return std::make_unique<ScenarioScript>(
            sc, *this, index,
            MessageMaker(index, std::move(user_id), node_id, std::move(table_uuid)), seed);
    }
    Scenario sc;
};

// Joins and leaves as the phases and the churn ask; a room for each new user.
class Population {
  public:
    Population(const Scenario& s, TrafficPlan& p) : s_(s), p_(p) {
        weights_ = s.room_weights.empty() ? std::vector<double>{1.0} : s.room_weights;
        present_in_.assign(weights_.size(), 0);
    }
    void join(std::int64_t t, std::optional<std::size_t> room = std::nullopt) {
        expire(t);
        const std::size_t index = p_.users.size();
        UserPlan u;
        u.join_us = t;
        u.room = place(u, index, room);
        u.cls = class_of(index);
        p_.users.push_back(u);
        present_.push_back(index);
        if (!s_.room_size) ++present_in_[u.room];
    }
    // An arrival of an open model: it leaves at its own time (never a ramp's or churn's pick).
    void arrive(std::int64_t t, std::int64_t leave) {
        expire(t);
        const std::size_t index = p_.users.size();
        UserPlan u;
        u.join_us = t;
        u.leave_us = leave;
        u.room = place(u, index, std::nullopt);
        u.cls = class_of(index);
        p_.users.push_back(u);
        if (!s_.room_size) ++present_in_[u.room];
        if (leave != kNever) expiring_.push({leave, index});
    }
    // The newest leaves (a ramp down); the oldest (churn).
    std::size_t leave(std::int64_t t, bool newest) {
        const std::size_t index = newest ? present_.back() : present_.front();
        if (newest)
            present_.pop_back();
        else
            present_.pop_front();
        p_.users[index].leave_us = t;
        if (!s_.room_size) --present_in_[p_.users[index].room];
        vacate(index);
        return p_.users[index].room;
    }
    std::size_t present() const { return present_.size(); }
    std::size_t rooms() const {
        if (!s_.room_size) return weights_.size();
        if (refill()) return std::max<std::size_t>(1, free_.size());
        return std::max<std::size_t>(1, (p_.users.size() + s_.room_size - 1) / s_.room_size);
    }

  private:
    // The arrivals gone by t leave their rooms.
    void expire(std::int64_t t) {
        while (!expiring_.empty() && expiring_.top().first <= t) {
            const std::size_t gone = expiring_.top().second;
            if (!s_.room_size) --present_in_[p_.users[gone].room];
            vacate(gone);
            expiring_.pop();
        }
    }
    bool refill() const { return s_.refill && s_.room_size; }
    // The newcomer's room: by the rooms' rule, or (refill) a free seat, in `room` when given
    // (a churn newcomer takes the seat just left), else in the lowest room with one, else in a
    // new room. A seat someone left makes the newcomer returning: it edits that seat's table.
    std::size_t place(UserPlan& u, std::size_t index, std::optional<std::size_t> room) {
        if (!refill()) return room ? *room : pick_room(index);
        std::size_t r = room && !free_[*room].empty() ? *room : 0;
        while (r < free_.size() && free_[r].empty()) ++r;
        if (r == free_.size()) {
            owners_.emplace_back(s_.room_size, static_cast<std::size_t>(-1));
            free_.emplace_back();
            for (std::size_t k = 0; k < s_.room_size; ++k) free_.back().push_back(k);
        }
        const std::size_t seat = free_[r].front();
        free_[r].pop_front();
        auto& owner = owners_[r][seat];
        if (owner == static_cast<std::size_t>(-1))
            owner = index;
        else
            u.owner = owner;
        seat_of_.resize(index + 1);
        seat_of_[index] = seat;
        return r;
    }
    // Its seat is free again, after the seats left before it.
    void vacate(std::size_t index) {
        if (refill()) free_[p_.users[index].room].push_back(seat_of_[index]);
    }
    // Rooms of a fixed size fill one after another; otherwise each newcomer goes to the room
    // furthest below its share of the users present.
    std::size_t pick_room(std::size_t index) const {
        if (s_.room_size) return index / s_.room_size;
        const double total = std::accumulate(weights_.begin(), weights_.end(), 0.0);
        const double after = static_cast<double>(present_.size() + 1);
        std::size_t best = 0;
        double best_gap = -1e300;
        for (std::size_t r = 0; r < weights_.size(); ++r) {
            const double gap = weights_[r] / total * after - static_cast<double>(present_in_[r]);
            if (gap > best_gap + 1e-9) best = r, best_gap = gap;
        }
        return best;
    }
    // Classes by weight, in turn: with weights 1 and 1, users 0, 2, 4... are the first class.
    std::size_t class_of(std::size_t index) const {
        unsigned total = 0;
        for (const auto& c : s_.classes) total += c.weight;
        unsigned k = static_cast<unsigned>(index % total);
        for (std::size_t c = 0; c < s_.classes.size(); ++c) {
            if (k < s_.classes[c].weight) return c;
            k -= s_.classes[c].weight;
        }
        return 0;
    }
    const Scenario& s_;
    TrafficPlan& p_;
    std::vector<double> weights_;
    std::vector<std::size_t> present_in_;
    std::deque<std::size_t> present_;
    // refill: per room, each seat's first user (whose table it is) and the free seats, left
    // longest ago first; each user's seat.
    std::vector<std::vector<std::size_t>> owners_;
    std::vector<std::deque<std::size_t>> free_;
    std::vector<std::size_t> seat_of_;
    // Arrivals still present, soonest leave first: (leave, user).
    std::priority_queue<std::pair<std::int64_t, std::size_t>,
                        std::vector<std::pair<std::int64_t, std::size_t>>, std::greater<>>
        expiring_;
};

// The k-th arrival of a rate that goes linearly from a to b (per second) over d: where the
// arrivals so far, a t + (b - a) t^2 / 2d, reach k.
std::vector<std::int64_t> arrival_times(std::pair<double, double> rate, std::int64_t d_us) {
    const double a = rate.first, b = rate.second, d = static_cast<double>(d_us) / 1e6;
    std::vector<std::int64_t> out;
    for (double k = 1;; ++k) {
        const double slope = (b - a) / d;
        double t = 0;
        if (std::abs(slope) < 1e-12) {
            if (a <= 0) break;
            t = k / a;
        } else {
            const double disc = a * a + 2 * slope * k;
            if (disc < 0) break;
            t = (-a + std::sqrt(disc)) / slope;
        }
        if (!(t >= 0) || t >= d) break;
        out.push_back(std::llround(t * 1e6));
    }
    return out;
}

std::size_t present_at(const TrafficPlan& p, std::int64_t t) {
    std::size_t n = 0;
    for (const auto& u : p.users) n += u.join_us <= t && t < u.leave_us ? 1 : 0;
    return n;
}

}  // namespace

std::shared_ptr<const TrafficPlan> make_plan(const Scenario& s) {
    auto plan = std::make_shared<ScenarioPlan>(s);
    plan->name = s.name;
    plan->leave_grace_us = s.leave_grace_us;
    Population pop(s, *plan);
    // Every change of the user count as (time, +1 join / -1 leave); churn as 0; an arrival
    // (+2) with its stay.
    struct Change {
        std::int64_t t;
        int delta;
        std::int64_t stay = 0;
    };
    std::mt19937_64 stays(s.seed.value_or(42) ^ 0x5ca1ab1eull);
    std::vector<Change> changes;
    std::int64_t t0 = 0;
    std::size_t n = 0;
    std::vector<std::string> names;  // a repeated phase has one slot for all its copies
    for (const auto& ph : s.phases) {
        const std::size_t from = ph.users_from.value_or(n);
        const std::size_t to = ph.users_to == kHold ? from : ph.users_to;
        for (; n < from; ++n) changes.push_back({t0, +1});
        for (; n > from; --n) changes.push_back({t0, -1});
        const std::size_t steps = from > to ? from - to : to - from;
        for (std::size_t j = 1; j <= steps; ++j)
            changes.push_back({t0 + static_cast<std::int64_t>(static_cast<double>(ph.duration_us) *
                                                              static_cast<double>(j) /
                                                              static_cast<double>(steps)),
                               to > from ? +1 : -1});
        if (ph.arrivals)
            for (const std::int64_t t : arrival_times(*ph.arrivals, ph.duration_us))
                changes.push_back({t0 + t, +2, std::max<std::int64_t>(1, ph.stay.draw(stays))});
        n = to;
        auto slot = std::find(names.begin(), names.end(), ph.name);
        if (slot == names.end()) slot = names.insert(names.end(), ph.name);
        plan->phases.push_back({ph.name, t0, t0 + ph.duration_us, from, to, ph.rate,
                                static_cast<std::size_t>(slot - names.begin())});
        t0 += ph.duration_us;
    }
    plan->end_us = t0;
    plan->phase_slots = names.size();
    if (s.churn_per_s > 0)
        for (double k = 1;; ++k) {
            const auto t = static_cast<std::int64_t>(k * 1e6 / s.churn_per_s);
            if (t >= t0) break;
            changes.push_back({t, 0});
        }
    std::stable_sort(changes.begin(), changes.end(),
                     [](const Change& a, const Change& b) { return a.t < b.t; });
    for (const auto& c : changes) {
        if (c.delta == 2) {
            pop.arrive(c.t, c.t + c.stay >= t0 ? kNever : c.t + c.stay);
        } else if (c.delta > 0) {
            pop.join(c.t);
        } else if (c.delta < 0) {
            if (pop.present()) pop.leave(c.t, true);
        } else if (pop.present()) {
            const std::size_t room = pop.leave(c.t, false);
            pop.join(c.t, room);
        }
    }
    plan->rooms = pop.rooms();
    // With arrivals, every phase's users are those present at its start and end.
    const bool open = std::any_of(s.phases.begin(), s.phases.end(),
                                  [](const ScenarioPhase& p) { return p.arrivals.has_value(); });
    for (std::size_t k = 0; open && k < s.phases.size(); ++k) {
        auto& ph = plan->phases[k];
        ph.users_from = present_at(*plan, ph.start_us);
        ph.users_to = present_at(*plan, ph.end_us - 1);
    }
    double top_rate = 1;
    for (const auto& p : s.phases) top_rate = std::max(top_rate, p.rate);
    std::int64_t shortest = 0;
    for (const auto& c : s.classes)
        for (const auto& st : c.streams)
            if (!shortest || st.every.a_us < shortest) shortest = st.every.a_us;
    if (shortest) plan->min_interval_us = std::llround(static_cast<double>(shortest) / top_rate);
    return plan;
}

ScenarioScript::ScenarioScript(const Scenario& s, const TrafficPlan& plan, std::size_t index,
                               MessageMaker make, std::uint64_t seed)
    : sc_(s), plan_(plan), make_(std::move(make)), rng_(seed) {
    const UserPlan& u = plan.users.at(index);
    returning_ = s.returning || u.returning();
    join_us_ = u.join_us;
    end_us_ = std::min(plan.end_us, u.leave_us);
    for (const auto& p : plan.phases) varied_ = varied_ || p.rate != 1;
    // Each stream's first time, drawn in the order the class lists them.
    for (const auto& st : s.classes.at(u.cls).streams)
        streams_.push_back({&st, advance(join_us_, st.start.draw(rng_)), st.burst});
}

// A stream's gaps are drawn in work time, which runs `rate` times faster than the clock in a
// phase of that rate: a gap that spans a phase's edge is partly fast and partly not, so each
// phase carries its rate exactly. At rate 1 everywhere, work time is the clock.
std::int64_t ScenarioScript::advance(std::int64_t t, std::int64_t work) const {
    if (!varied_) return t + work;
    double left = static_cast<double>(work), cur = static_cast<double>(t);
    for (const auto& p : plan_.phases) {
        const auto end = static_cast<double>(p.end_us);
        if (end <= cur) continue;
        cur = std::max(cur, static_cast<double>(p.start_us));
        const double room = (end - cur) * p.rate;
        if (left <= room) return std::max<std::int64_t>(t + 1, std::llround(cur + left / p.rate));
        left -= room;
        cur = end;
    }
    return std::max<std::int64_t>(t + 1, std::llround(cur + left));
}

std::int64_t ScenarioScript::step(const Interval& i, std::int64_t t) {
    return advance(t, i.draw(rng_));
}

// Outside the on-part of an on/off period the stream skips the off-part.
void ScenarioScript::on_off(const Stream& s, std::int64_t& next) const {
    if (!s.on_us) return;
    const std::int64_t period_ms = (s.on_us + s.off_us) / 1000;
    if (((next - join_us_) / 1000) % period_ms >= s.on_us / 1000) next += s.off_us;
}

bool ScenarioScript::next(Planned& out) {
    if (sc_.messages_per_user && count_ >= sc_.messages_per_user) return false;
    State* st = nullptr;
    for (auto& x : streams_)  // ties: the stream listed first
        if (!st || x.next < st->next) st = &x;
    if (!st || st->next >= end_us_) return false;
    const Stream& s = *st->s;
    const std::int64_t t = st->next;
    ++count_;
    if (s.kind == StreamKind::GraphOp) {
        const std::uint64_t k = durable_seq_ + (returning_ ? s.setup.size() : 0);
        liveshare::OpType op;
        if (k < s.setup.size()) {
            op = s.setup[k];
            st->next = k + 1 == s.setup.size() && s.after_setup_us >= 0
                           ? advance(t, s.after_setup_us)
                           : step(s.every, t);
        } else {
            unsigned total = 0;
            for (const auto& [o, w] : s.mix) total += w;
            auto pick = static_cast<unsigned>(k % total);
            op = s.mix.back().first;
            for (const auto& [o, w] : s.mix) {
                if (pick < w) {
                    op = o;
                    break;
                }
                pick -= w;
            }
            if (--st->burst_left == 0) {
                st->burst_left = s.burst;
                st->next = step(s.every, t);
            }
        }
        make_.graph_op(out, t, op, durable_seq_++, s.bytes ? s.bytes : 512);
        return true;
    }
    const std::uint64_t seq = volatile_seq_++;
    st->next = step(s.every, t);
    on_off(s, st->next);
    switch (s.kind) {
        case StreamKind::Awareness:
            make_.awareness(out, t, seq, s.bytes);
            break;
        case StreamKind::CursorMove:
            make_.cursor(out, t, seq);
            break;
        case StreamKind::TableDrag:
            make_.drag(out, t, seq);
            break;
        default:
            make_.idle(out, t, seq);
            break;
    }
    return true;
}

}  // namespace harness
