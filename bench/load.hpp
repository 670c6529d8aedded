// The load/... benchmark family: real server process, real WebSockets, real clients.
#pragma once

namespace bench {

void register_load_benchmarks();
// Prints the per-user latency table, the bandwidth table and the seed's success criteria for
// the load runs that ran; returns 1 when --criteria_exit is set and a criterion failed.
int print_load_reports();

}  // namespace bench
