// The seed's success criteria, evaluated on measured load runs: PASS or FAIL each.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "metrics.hpp"

namespace harness {

struct CriterionResult {
    std::string name, threshold, measured;
    bool pass = false;
};

// `runs` maps a user count to the seed-workload run with that many users. Server CPU is taken
// as a share of the cores the server may use (`server_threads`).
std::vector<CriterionResult> evaluate_seed_criteria(const std::map<std::size_t, LoadTestMetrics>& runs,
                                                    unsigned server_threads);
std::string format_criteria(const std::vector<CriterionResult>& results);

}  // namespace harness
