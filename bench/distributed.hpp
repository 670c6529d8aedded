// A coordinated run's shard (--coordinator): registration at startup, each load/users:N run's
// barrier, stream and share, and the process's end (harness/run/coordinator.hpp).
#pragma once
#include <string>

#include "load_support.hpp"

namespace bench {

bool coordinated();
// Registers with --coordinator (the shard index comes from it); refused: exit 2, the reason.
void join_coordinated_run();
// The run goes through the coordinator: the start from its barrier, its TIME as the clock
// reference, each interval onto the shard's stream.
void coordinate(LoadTestConfigBuilder& cfg, const std::string& benchmark);
// Stores this shard's share of the run; "" or why it could not (the coordinator lost).
// Every coordinated run calls it once, whether it started or not.
std::string publish_share(const std::string& benchmark, const harness::LoadTestConfig& cfg,
                          const LoadTestResult& r);
// The shard's end: marks it done and prints what the coordination cost.
void leave_coordinated_run();

}  // namespace bench
