// The load family's summary: a row per run (benchmark, users, p50, p99, delivery, deliveries/s,
// server CPU, server and generator CPU per delivery, verdict), printed after the family and
// before the criteria. The runs are taken from the display reporter, which on the console also
// leaves the load runs' long counter lines out (they stay in the JSON, and on the console with
// --benchmark_counters_tabular).
#pragma once
#include <benchmark/benchmark.h>

#include <cstdio>
#include <memory>

namespace bench {

// The display reporter for --benchmark_format (console, json or csv), recording every run.
// `argc`/`argv`: before benchmark::Initialize, to read the format and the tabular flag.
std::unique_ptr<benchmark::BenchmarkReporter> make_recording_reporter(int argc, char** argv);

// The table (nothing when no load run ran).
void print_summary(std::FILE* out);

}  // namespace bench
