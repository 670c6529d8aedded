// Every benchmark failure goes through fail(): Google Benchmark's error state with the reason
// (never a tiny time that looks like a result), counted so that the process exits non-zero.
#pragma once
#include <benchmark/benchmark.h>

#include <string>

namespace bench {

void fail(benchmark::State& st, const std::string& why);
int failures();  // how many benchmarks failed in this process

}  // namespace bench
