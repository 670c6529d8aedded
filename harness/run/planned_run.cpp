#include "run/planned_run.hpp"

#include <algorithm>

#include "traffic/workload.hpp"

namespace harness {

std::uint64_t windowed_owed(const Shared& sh, const SimUser& u) {
    std::uint64_t n = 0;
    for (std::size_t j = 0; j < sh.room_of.size(); ++j) {
        if (j == u.index() || sh.room_of[j] != u.room) continue;
        for (std::size_t k = 0; k < sh.sent_at_cap[j]; ++k) {
            const std::int64_t at = sh.sent_time(j, k);
            n += at > 0 && at >= u.window_from && at < u.window_to ? 1 : 0;
        }
    }
    return n;
}

void add_phase_results(const TrafficPlan& plan, bool series, LoadTestMetrics& M) {
    // One result per name: a repeated phase from its first start to its last end.
    M.phases.resize(plan.phase_slots);
    for (const auto& ph : plan.phases) {
        PhaseResult& r = M.phases[ph.slot];
        const double start_s = static_cast<double>(ph.start_us) / 1e6;
        if (!r.times++) {
            r.name = ph.name;
            r.start_s = start_s;
            r.users_from = ph.users_from;
            r.rate = ph.rate;
            if (ph.slot < M.totals.phase_latency.size())
                r.latency = M.totals.phase_latency[ph.slot];
        }
        r.end_s = static_cast<double>(ph.end_us) / 1e6;
        r.users_to = ph.users_to;
        if (series) M.events.push_back({start_s, "phase " + ph.name});
    }
    std::stable_sort(M.events.begin(), M.events.end(),
                     [](const auto& a, const auto& b) { return a.t_s < b.t_s; });
}

}  // namespace harness
