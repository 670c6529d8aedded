// Micro benchmark of the harness itself: what recording one latency sample costs.
#include <benchmark/benchmark.h>

#include <functional>

#include "histogram.hpp"

namespace {

void histogram_record(benchmark::State& st) {
    harness::Histogram h;
    std::uint64_t v = 1;
    for (auto _ : st) {
        v = v * 6364136223846793005ULL + 1442695040888963407ULL;
        h.record((v >> 40) & 0xfffff);
    }
    benchmark::DoNotOptimize(h.count());
}

}  // namespace

void register_micro_harness(const std::function<benchmark::internal::Benchmark*(benchmark::internal::Benchmark*)>& fixed) {
    fixed(benchmark::RegisterBenchmark("harness/histogram_record", histogram_record));
}
