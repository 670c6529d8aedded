// bench: the one Google Benchmark binary. Micro families register themselves statically;
// the load family registers from our flags. After the run: reports and the criteria table.
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "distributed.hpp"
#include "load.hpp"
#include "options.hpp"
#include "provenance.hpp"
#include "summary.hpp"

using Fixer = std::function<benchmark::internal::Benchmark*(benchmark::internal::Benchmark*)>;
void register_micro_optimizations(const Fixer& fixed);
void register_micro_harness(const Fixer& fixed);
void register_micro_socket(const Fixer& fixed);

int main(int argc, char** argv) {
    std::signal(SIGPIPE, SIG_IGN);
    // Thousands of sockets: lift the soft descriptor limit to the hard one.
    if (rlimit rl{}; getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    bench::add_provenance(argc, argv);  // before our flags leave argv: the exact command
    bench::parse_options(argc, argv);
    bench::add_option_provenance();
    // --fixed_iterations=N pins every micro benchmark's iteration count, so instruction
    // counts under callgrind are comparable run to run.
    const auto n = bench::options().fixed_iterations;
    auto fixed = [n](benchmark::internal::Benchmark* b) { return n > 0 ? b->Iterations(n) : b; };
    register_micro_optimizations(fixed);
    register_micro_harness(fixed);
    register_micro_socket(fixed);
    bench::register_load_benchmarks();
    // Without a filter the bench runs the load family's standard set (never the hour-long
    // soak); --scenario and --replay name what to run, and then only that runs.
    std::vector<char*> args(argv, argv + argc);
    const auto given = [&](std::string_view flag) {
        return std::any_of(args.begin() + 1, args.end(),
                           [&](const char* a) { return std::string_view(a).starts_with(flag); });
    };
    std::string only = "--benchmark_filter=";
    if (!given("--benchmark_filter") && !given("--benchmark_list_tests") && !given("--help")) {
        const auto& o = bench::options();
        only += !o.scenarios.empty() || !o.replay.empty() ? "^load/(scenario|replay)/"
                                                          : bench::kDefaultFilter;
        std::fprintf(stderr, "note: no --benchmark_filter given: running %s (see --help)\n",
                     only.c_str());
        args.push_back(only.data());
        ++argc;
    }
    const bool listing = given("--benchmark_list_tests");
    args.push_back(nullptr);
    argv = args.data();
    // Debian's libbenchmark is compiled without NDEBUG, so the console says "Library was built
    // as DEBUG": that is the library's per-run code (timers, the start and end of a batch). The
    // loop of every benchmark is the header's inline code, compiled here with our flags.
    if (!bench::options().reports_to_stderr)
        std::fprintf(stderr,
                     "note: the \"Library was built as DEBUG\" warning below is about Debian's "
                     "build of Google Benchmark's per-run code, not this binary (built %s); its "
                     "per-iteration cost is measured as harness/empty_loop (docs/benchmarks.md)\n",
                     LIVESHARE_BUILD_TYPE);
    auto reporter = bench::make_recording_reporter(argc, argv);
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
    // A coordinated shard registers now: the run's index, or a refusal (exit 2).
    if (!listing) bench::join_coordinated_run();
    try {
        if (reporter)
            benchmark::RunSpecifiedBenchmarks(reporter.get());
        else
            benchmark::RunSpecifiedBenchmarks();
    } catch (const std::exception& e) {
        // A run that cannot go on (the server will not start, say): one line, no core dump.
        std::fprintf(stderr, "bench: %s\n", e.what());
        bench::leave_coordinated_run();
        return 2;
    }
    bench::leave_coordinated_run();
    benchmark::Shutdown();
    return bench::print_load_reports();
}
