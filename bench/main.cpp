// bench: the one Google Benchmark binary. Micro families register themselves statically;
// the load family registers from our flags. After the run: reports and the criteria table.
#include <benchmark/benchmark.h>

#include <csignal>

#include "load.hpp"
#include "options.hpp"

int main(int argc, char** argv) {
    std::signal(SIGPIPE, SIG_IGN);
    bench::parse_options(argc, argv);
    bench::register_load_benchmarks();
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return bench::print_load_reports();
}
