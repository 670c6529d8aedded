// The seed's success criteria, evaluated on measured load runs: PASS, FAIL or NOT RUN each.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "measure/load_metrics.hpp"

namespace harness {

struct CriterionResult {
    std::string name, threshold, measured;
    bool pass = false;      // false for NOT RUN as well: a criterion that was not judged fails
    bool run = true;        // false: the user count it needs was not in the run
    std::size_t users = 0;  // the user count it judges (0: every run)
};

// `runs` maps a user count to every repetition of the seed workload with that many users;
// each criterion is judged on the worst repetition. A user count the criteria need (10, 50,
// 100) that is missing gives NOT RUN. Server CPU is taken as a share of the cores the server
// may use (`server_threads`).
std::vector<CriterionResult> evaluate_seed_criteria(
    const std::map<std::size_t, std::vector<LoadTestMetrics>>& runs, unsigned server_threads);
std::string format_criteria(const std::vector<CriterionResult>& results);

}  // namespace harness
