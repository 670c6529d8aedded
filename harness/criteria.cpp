#include "criteria.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace harness {

std::vector<CriterionResult> evaluate_seed_criteria(const std::map<std::size_t, LoadTestMetrics>& runs,
                                                    unsigned server_threads) {
    std::vector<CriterionResult> out;
    const std::map<std::size_t, double> p99_limits = {{10, 50}, {50, 100}, {100, 200}};
    for (auto [users, limit] : p99_limits) {
        auto it = runs.find(users);
        if (it == runs.end()) continue;
        double p99 = it->second.p_ms(99);
        out.push_back({fmt::format("p99 latency, {} users", users), fmt::format("< {} ms", limit),
                       fmt::format("{:.2f} ms", p99), p99 < limit});
    }
    if (runs.empty()) return out;
    double worst_err = 0, worst_delivery = 100;
    for (auto& [u, m] : runs) {
        worst_err = std::max(worst_err, m.error_pct);
        worst_delivery = std::min(worst_delivery, m.delivery_pct);
    }
    out.push_back({"errors (worst run)", "< 0.1%", fmt::format("{:.3f}%", worst_err), worst_err < 0.1});
    out.push_back({"durable delivery (worst run)", "> 99.9%", fmt::format("{:.3f}%", worst_delivery), worst_delivery > 99.9});
    if (auto it = runs.find(100); it != runs.end()) {
        // The original counted what users send: 100 users x 512 B x 10/s is about 4 Mbps.
        double mbps = it->second.mbps_in;
        out.push_back({"bandwidth in (clients to server), 100 users", "< 5 Mbps",
                       fmt::format("{:.2f} Mbps (out: {:.1f} Mbps)", mbps, it->second.mbps_out), mbps < 5});
    }
    // Memory and CPU are judged on the largest measured run: small runs are all fixed cost.
    const LoadTestMetrics* largest = nullptr;
    std::size_t largest_users = 0;
    for (auto& [u, m] : runs)
        if (m.server_measured && u >= largest_users) largest = &m, largest_users = u;
    if (largest) {
        double mb_per_100 = largest->server_rss_peak_mb * 100.0 / static_cast<double>(std::max<std::size_t>(largest_users, 1));
        double cpu = largest->server_cpu_pct / std::max(1u, server_threads);
        out.push_back({fmt::format("server memory per 100 users (peak RSS, {} users)", largest_users), "< 500 MB",
                       fmt::format("{:.1f} MB", mb_per_100), mb_per_100 < 500});
        out.push_back({fmt::format("server CPU, mean, {} users, of {} core(s)", largest_users, server_threads), "< 80%",
                       fmt::format("{:.1f}%", cpu), cpu < 80});
    }
    return out;
}

std::string format_criteria(const std::vector<CriterionResult>& results) {
    std::size_t w = 10;
    for (auto& r : results) w = std::max(w, r.name.size());
    std::string s = fmt::format("{:<{}}  {:<10}  {:<30}  {}\n", "criterion", w, "threshold", "measured", "result");
    s += std::string(w + 56, '-') + "\n";
    for (auto& r : results)
        s += fmt::format("{:<{}}  {:<10}  {:<30}  {}\n", r.name, w, r.threshold, r.measured, r.pass ? "PASS" : "FAIL");
    return s;
}

}  // namespace harness
