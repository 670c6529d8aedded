// load/capacity: the largest load (users in rooms of --capacity_room_size, the seed workload)
// whose p99 stays under --slo_p99_ms with every durable message delivered. Doubling from one
// room until a step fails, then bisection between the last pass and the first failure in
// whole rooms. A step the generator limited while the machine still had room is run again
// with one more generator thread. Every step says who was saturated, and the result whether
// the limit it found is the server's.
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cpu_profile.hpp"
#include "failures.hpp"
#include "load_support.hpp"
#include "options.hpp"
#include "timeseries.hpp"

namespace bench {

namespace {

struct Step {
    std::size_t users = 0;
    unsigned threads = 1;
    LoadTestMetrics m;
    bool passed = false;
    bool server_saturated = false;        // the server's threads busy (mean over the window)
    std::shared_ptr<RunProfile> profile;  // --cpu_profile: this step's samples
};

// Who limited a step: the verdict's words, worst first.
std::string who(const Step& s) {
    if (s.m.machine_saturated) return "machine";
    if (s.m.generator_saturated) return "generator";
    if (s.server_saturated) return "server";
    return "";
}

Step run_step(std::size_t users, unsigned threads) {
    const Options& o = options();
    Step s;
    s.users = users;
    s.threads = threads;
    std::string label;
    auto cfg = base_config(users, Workload::Seed)
                   .room_size(o.capacity_room_size)
                   .generator_threads(threads)
                   .warmup(secs(std::min(o.warmup_s, 1.0)))
                   .duration(secs(std::min(o.duration_s, 3.0)));
    s.m = run_against_server(cfg, o.capacity_room_size, label).metrics;
    s.profile = take_profile();  // --cpu_profile: reported for the top passing step
    const double delivery = s.m.delivery_pct.value_or(0);
    // NaN and infinity (nothing measured, p99 among lost messages) fail the step too.
    s.passed = s.m.p_ms(99) <= o.slo_p99_ms && delivery >= 99.9 && s.m.users_joined >= users;
    s.server_saturated =
        s.m.server_measured && s.m.server_cpu_pct >= 85.0 * std::max(1u, o.server_threads);
    timeseries_step("load/capacity", users, s.m, s.passed);
    if (o.progress)
        std::fprintf(stderr,
                     "[capacity] %zu users, %u generator thread(s): p99 %.1f ms, delivery %.3f%%, "
                     "%.0f deliveries/s, server CPU %.0f%%: %s%s\n",
                     users, threads, s.m.p_ms(99), delivery, s.m.deliveries_per_s,
                     s.m.server_cpu_pct, s.passed ? "pass" : "FAIL",
                     who(s).empty() ? "" : (" (" + who(s) + "-bound)").c_str());
    return s;
}

// Where the search stopped, and whether that is the server's limit.
std::string verdict(const Step* fail, std::size_t max_users) {
    if (!fail)
        return fmt::format("reached --capacity_max_users={}: the limit is higher", max_users);
    const auto at = fmt::format("{} users failed (p99 {:.1f} ms, delivery {:.3f}%)", fail->users,
                                fail->m.p_ms(99), fail->m.delivery_pct.value_or(0));
    const std::string w = who(*fail);
    if (w == "server")
        return at + ": the server's limit (its CPU at " +
               fmt::format("{:.0f}%", fail->m.server_cpu_pct) + ")";
    if (w == "generator") return at + ": generator-bound, the server's own limit is higher";
    if (w == "machine")
        return at +
               ": machine-bound (server and generator share the cores), not the server's "
               "limit alone";
    return at + ": nothing saturated (latency or loss, not CPU)";
}

// The last passing step's figures, and how the search ended.
void capacity_counters(benchmark::State& st, const Step& passed_step, const Step* failed,
                       std::size_t pass_users, std::size_t steps, int bisected) {
    const Step* passed = &passed_step;
    const auto& m = passed->m;
    st.SetIterationTime(m.p_ms(99) / 1000.0);
    auto& c = st.counters;
    c["capacity_users"] = static_cast<double>(pass_users);
    c["capacity_deliveries_per_s"] = m.deliveries_per_s;
    c["p99_ms"] = m.p_ms(99);
    c["steps"] = static_cast<double>(steps);
    c["bisection_steps"] = bisected;
    c["generator_threads"] = static_cast<double>(passed->threads);
    c["stopped_generator_bound"] = failed && failed->m.generator_saturated ? 1 : 0;
    c["limit_is_server"] = failed && who(*failed) == "server" ? 1 : 0;
    if (m.server_measured) c["capacity_server_cpu_pct"] = m.server_cpu_pct;
    // The last passing step itself: was the generator the limit there (then the server's
    // own limit is higher than capacity_deliveries_per_s says)?
    c["capacity_generator_bound"] = m.generator_saturated ? 1 : 0;
    if (m.deliveries_per_write) c["capacity_deliveries_per_write"] = *m.deliveries_per_write;
    if (m.generator_cpu_us_per_delivery)
        c["generator_cpu_us_per_delivery"] = *m.generator_cpu_us_per_delivery;
    if (m.server_measured && m.deliveries_per_s > 0)
        c["server_cpu_us_per_delivery"] = m.server_cpu_pct / 100.0 * 1e6 / m.deliveries_per_s;
    // The passing step under the load runs' own names, so the summary (and the report)
    // read a capacity run like the others: its users, rate, delivery and saturation.
    c["users_joined"] = static_cast<double>(pass_users);
    c["deliveries_per_s"] = m.deliveries_per_s;
    c["delivery_pct"] = m.delivery_pct.value_or(0);
    c["generator_saturated"] = m.generator_saturated ? 1 : 0;
    c["machine_saturated"] = m.machine_saturated ? 1 : 0;
    if (m.server_measured) c["server_cpu_pct"] = m.server_cpu_pct;
    if (passed->profile) profile_counters(c, m, passed->profile);
}

}  // namespace

void bm_capacity(benchmark::State& st) {
    const Options& o = options();
    const std::size_t room = std::max<std::size_t>(o.capacity_room_size, 1);
    const unsigned max_threads = std::max(1u, std::thread::hardware_concurrency());
    for (auto _ : st) {
        unsigned threads = std::max(1u, o.generator_threads);
        std::vector<Step> steps;
        auto attempt = [&](std::size_t users) -> const Step& {
            Step s = run_step(users, threads);
            // The generator the limit while the machine had room: again with one more thread.
            while (!s.passed && s.m.generator_saturated && !s.m.machine_saturated &&
                   threads < max_threads) {
                steps.push_back(std::move(s));
                s = run_step(users, ++threads);
            }
            steps.push_back(std::move(s));
            return steps.back();
        };
        std::size_t pass_users = 0, fail_users = 0;
        for (std::size_t users = room; users <= o.capacity_max_users; users *= 2) {
            if (!attempt(users).passed) {
                fail_users = users;
                break;
            }
            pass_users = users;
        }
        // Bisection in whole rooms between the last pass and the first failure.
        int bisected = 0;
        while (pass_users && fail_users && fail_users - pass_users > room &&
               bisected < o.capacity_bisect_steps) {
            const std::size_t mid = pass_users + (fail_users - pass_users) / room / 2 * room;
            ++bisected;
            (attempt(mid).passed ? pass_users : fail_users) = mid;
        }
        const Step* failed = nullptr;
        const Step* passed = nullptr;
        for (const auto& s : steps) {
            if (s.users == fail_users && !s.passed) failed = &s;
            if (s.users == pass_users && s.passed) passed = &s;
        }
        std::string trail;
        for (const auto& s : steps)
            trail +=
                fmt::format("{}{}{}{}", trail.empty() ? "" : ", ", s.users,
                            s.passed ? " ok" : " FAIL", who(s).empty() ? "" : "(" + who(s) + ")");
        if (!passed) {
            fail(st, "the first step already failed: " + verdict(failed, o.capacity_max_users) +
                         "; " + describe(steps.back().m, ""));
            continue;
        }
        capacity_counters(st, *passed, failed, pass_users, steps.size(), bisected);
        st.SetLabel(fmt::format("slo p99<{}ms, rooms of {}; {}; steps: {}", o.slo_p99_ms, room,
                                verdict(failed, o.capacity_max_users), trail));
    }
}

}  // namespace bench
