// Traffic as data (docs/scenarios.md):
//   load/scenario/<name>                 a scenario file (--scenario=FILE): its classes, phases,
//                                        rooms and churn
//   load/replay/scale:N/speed:X          a trace recorded by liveshare-server --record
//                                        (--replay=FILE), its rooms cloned N times, X times faster
// Both run against the started server or the --target, with the delivery accounting,
// convergence, criteria and time series of every load run; each phase gets its own
// percentiles (phase_<name>_p50_ms, ...) and a mark in the time series.
#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <memory>
#include <optional>

#include "failures.hpp"
#include "load_support.hpp"
#include "options.hpp"
#include "traffic/scenario.hpp"
#include "traffic/trace_replay.hpp"

namespace bench {

namespace {

std::string counter_name(const std::string& phase) {
    std::string s;
    for (char c : phase) s += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
    return s;
}

void set_phase_counters(benchmark::UserCounters& c, const LoadTestMetrics& m) {
    for (const auto& ph : m.phases) {
        const std::string p = "phase_" + counter_name(ph.name) + "_";
        c[p + "users"] = static_cast<double>(ph.users_to);
        // Nothing durable was sent in it: absent, not 0. A run that lost messages has no phase
        // percentiles (what never arrived is in no phase's histogram: they would look good).
        if (!ph.latency.count() || m.lost) continue;
        c[p + "p50_ms"] = static_cast<double>(ph.latency.percentile(50)) / 1000.0;
        c[p + "p99_ms"] = static_cast<double>(ph.latency.percentile(99)) / 1000.0;
        c[p + "deliveries"] = static_cast<double>(ph.latency.count());
    }
}

std::string phase_summary(const LoadTestMetrics& m) {
    std::string s;
    for (const auto& ph : m.phases) {
        s += fmt::format("{}{} {:.0f}-{:.0f}s users {}->{}", s.empty() ? "" : "; ", ph.name,
                         ph.start_s, ph.end_s, ph.users_from, ph.users_to);
        if (ph.rate != 1) s += fmt::format(" rate x{:g}", ph.rate);
        if (m.lost)
            s += " p99 lost";
        else if (ph.latency.count())
            s += fmt::format(" p99 {:.1f} ms",
                             static_cast<double>(ph.latency.percentile(99)) / 1000.0);
    }
    return s;
}

// One planned run: warmup and drain from the plan's source, the sending phase to its end.
void run_plan(benchmark::State& st, std::shared_ptr<const harness::TrafficPlan> plan,
              double warmup_s, double drain_s, std::size_t messages_per_user,
              std::optional<std::uint64_t> seed, const std::string& note = "") {
    for (auto _ : st) {
        auto b = planned_config(plan, warmup_s, drain_s, messages_per_user, seed);
        std::string label;
        const auto run = run_or_fail(st, b, largest_room(*plan), label);
        if (!run) return;
        const LoadTestResult& r = *run;
        std::string what = phase_summary(r.metrics);
        if (!note.empty()) what = note + "; " + what;
        finish(st, r, label.empty() ? what : label + "; " + what);
        set_phase_counters(st.counters, r.metrics);
    }
}

void bm_scenario(benchmark::State& st, harness::Scenario s) {
    const auto plan = harness::make_plan(s);
    const double warmup_s = static_cast<double>(s.warmup_us) / 1e6;
    if (s.warmup_us >= plan->end_us)
        return fail(
            st, fmt::format("{}: warmup ({:g} s) is not shorter than the run", s.file, warmup_s));
    run_plan(st, plan, warmup_s, static_cast<double>(s.drain_us) / 1e6, s.messages_per_user,
             s.seed);
}

void bm_replay(benchmark::State& st, std::string file, harness::ReplayOptions ro) {
    const harness::Trace& trace = *options().replay_trace;  // read and checked at startup
    std::string note = fmt::format("trace {}: {} session(s) in {} room(s), {} message(s)", file,
                                   trace.users.size(), trace.rooms.size(), trace.messages());
    if (trace.skipped) note += fmt::format(", {} of types not replayed", trace.skipped);
    if (trace.dropped) note += fmt::format(", {} record(s) the recorder dropped", trace.dropped);
    run_plan(st, harness::make_replay_plan(trace, ro, file), 0, options().drain_s, 0, std::nullopt,
             note);
}

// The editing workload at 50 users with and without the server's --record: in one run, with
// --benchmark_repetitions and --benchmark_enable_random_interleaving, scripts/compare
// --variants recording:off,recording:on gives the recording's cost and its U test.
void bm_record(benchmark::State& st, bool on) {
    const std::string trace = fmt::format("/tmp/liveshare-bench-trace-{}.jsonl", ::getpid());
    for (auto _ : st) {
        std::string label;
        std::vector<std::string> extra;
        if (on) extra.push_back("--record=" + trace);
        const auto run = run_or_fail(st, base_config(50, Workload::Editing), 50, label, extra);
        if (!run) return;
        const LoadTestResult& r = *run;
        finish(st, r, label);
        if (!on) continue;
        std::error_code ec;
        const auto size = std::filesystem::file_size(trace, ec);
        if (!ec) st.counters["trace_bytes"] = static_cast<double>(size);
        const auto& sm = r.metrics.server_metrics;
        if (auto it = sm.find("liveshare_trace_dropped_total"); it != sm.end())
            st.counters["trace_dropped"] = it->second;
        std::filesystem::remove(trace, ec);
    }
}

}  // namespace

void register_scenario_benchmarks() {
    if (options().target.empty())
        for (bool on : {false, true})
            load(benchmark::RegisterBenchmark(
                fmt::format("load/record/recording:{}/users:50", on ? "on" : "off").c_str(),
                bm_record, on));
    const Options& o = options();
    for (const auto& s : o.scenarios)
        load(benchmark::RegisterBenchmark(fmt::format("load/scenario/{}", s.name).c_str(),
                                          bm_scenario, s));
    if (!o.replay.empty())
        load(benchmark::RegisterBenchmark(
            fmt::format("load/replay/scale:{}/speed:{:g}", o.replay_opt.scale, o.replay_opt.speed)
                .c_str(),
            bm_replay, o.replay, o.replay_opt));
}

}  // namespace bench
