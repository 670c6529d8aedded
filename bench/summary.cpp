#include "summary.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cmath>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cpu_profile.hpp"
#include "timeseries.hpp"

namespace bench {

namespace {

struct Row {
    std::string name, label, error;
    benchmark::UserCounters counters;
    bool failed = false;
};
std::vector<Row>& rows() {
    static std::vector<Row> r;
    return r;
}

bool is_load_family(std::string_view name) {
    for (std::string_view p : {"load/", "conn/", "loss/", "soak/"})
        if (name.starts_with(p)) return true;
    return false;
}

void record(const std::vector<benchmark::BenchmarkReporter::Run>& runs) {
    std::string name;
    std::vector<bool> errors;  // of each repetition
    for (const auto& r : runs) {
        if (r.run_type != benchmark::BenchmarkReporter::Run::RT_Iteration) continue;  // aggregates
        name = r.benchmark_name();
        if (!is_load_family(name)) continue;
        if (auto at = name.find("/iterations:"); at != std::string::npos) name.erase(at);
        errors.push_back(r.error_occurred);
        rows().push_back({name, r.report_label, r.error_message, r.counters, r.error_occurred});
    }
    if (!errors.empty()) {
        timeseries_reported(name, errors);
        profile_reported(name);
    }
}

// The load runs without their counters, for the console (the JSON keeps them).
std::vector<benchmark::BenchmarkReporter::Run> short_lines(
    const std::vector<benchmark::BenchmarkReporter::Run>& runs) {
    auto out = runs;
    for (auto& r : out)
        if (is_load_family(r.benchmark_name())) r.counters.clear();
    return out;
}

template <typename Base>
class Recording final : public Base {
  public:
    template <typename... A>
    explicit Recording(bool keep_counters, A... a) : Base(a...), keep_counters_(keep_counters) {}
    void ReportRuns(const std::vector<benchmark::BenchmarkReporter::Run>& runs) override {
        record(runs);
        Base::ReportRuns(keep_counters_ ? runs : short_lines(runs));
    }

  private:
    bool keep_counters_;
};

std::optional<double> counter(const Row& r, const char* name) {
    auto it = r.counters.find(name);
    if (it == r.counters.end() || !std::isfinite(it->second.value)) return std::nullopt;
    return it->second.value;
}

// Absent stays absent: "-", never 0.
std::string cell(std::optional<double> v, const char* spec) {
    return v ? fmt::format(fmt::runtime(spec), *v) : std::string("-");
}

bool lossy(const Row& r) {
    return r.label.find("LOSS") != std::string::npos;
}

// A percentile that fell among lost messages has no counter (it is infinite): "lost", not "-".
std::string percentile_cell(const Row& r, std::optional<double> v) {
    return v || !lossy(r) ? cell(v, "{:.3f}") : std::string("lost");
}

std::string verdict(const Row& r) {
    // The worst first: a lossy run is LOSS even when a side was also saturated.
    if (r.failed) return "ERROR";
    if (lossy(r)) return "LOSS";
    // Errors at the seed criteria's limit or above (0.1 % of messages): the label names them.
    if (counter(r, "error_pct").value_or(0) >= 0.1) return "ERRORS";
    if (counter(r, "machine_saturated").value_or(0) > 0) return "machine-bound";
    if (counter(r, "generator_saturated").value_or(0) > 0) return "generator-bound";
    return "ok";
}

// "user/kernel" microseconds per delivery of one side, "-" when either was not measured.
std::string split_cell(const Row& r, const std::string& side) {
    const auto u = counter(r, (side + "_user_cpu_us_per_delivery").c_str()),
               k = counter(r, (side + "_sys_cpu_us_per_delivery").c_str());
    return u && k ? fmt::format("{:.2f}/{:.2f}", *u, *k) : "-";
}

}  // namespace

std::unique_ptr<benchmark::BenchmarkReporter> make_recording_reporter(int argc, char** argv) {
    std::string format = "console";
    bool tabular = false;
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        if (a.starts_with("--benchmark_format=")) format = std::string(a.substr(19));
        if (a == "--benchmark_counters_tabular" || a == "--benchmark_counters_tabular=true" ||
            a == "--benchmark_counters_tabular=1")
            tabular = true;
    }
    if (format == "json") return std::make_unique<Recording<benchmark::JSONReporter>>(true);
    if (format != "console")
        return nullptr;  // Google Benchmark's own (csv, or a bad format it refuses)
    int opts =
        tabular ? benchmark::ConsoleReporter::OO_Tabular : benchmark::ConsoleReporter::OO_None;
    if (isatty(STDOUT_FILENO)) opts |= benchmark::ConsoleReporter::OO_Color;
    return std::make_unique<Recording<benchmark::ConsoleReporter>>(
        tabular, static_cast<benchmark::ConsoleReporter::OutputOptions>(opts));
}

void print_summary(std::FILE* out) {
    if (rows().empty()) return;
    std::size_t w = 9;
    for (const auto& r : rows()) w = std::max(w, r.name.size());
    std::fprintf(out,
                 "\nSummary (one row per run; p99 of durable deliveries, of cursor staleness for "
                 "cursor runs; - = not measured)\n");
    std::fprintf(out, "%-*s %6s %9s %9s %9s %13s %8s %9s %11s %9s %11s  %s\n", static_cast<int>(w),
                 "benchmark", "users", "p50 ms", "p99 ms", "delivery", "deliveries/s", "srv CPU",
                 "srv us/d", "usr/sys", "gen us/d", "usr/sys", "verdict");
    for (const auto& r : rows()) {
        auto p50 = counter(r, "p50_ms"), p99 = counter(r, "p99_ms");
        if (!p99 && counter(r, "staleness_p99_ms")) {
            p50 = counter(r, "staleness_p50_ms");
            p99 = counter(r, "staleness_p99_ms");
        }
        const auto delivery = counter(r, "delivery_pct");
        std::fprintf(out, "%-*s %6s %9s %9s %9s %13s %8s %9s %11s %9s %11s  %s\n",
                     static_cast<int>(w), r.name.c_str(),
                     cell(counter(r, "users_joined"), "{:.0f}").c_str(),
                     percentile_cell(r, p50).c_str(), percentile_cell(r, p99).c_str(),
                     delivery ? fmt::format("{:.2f} %", *delivery).c_str() : "-",
                     cell(counter(r, "deliveries_per_s"), "{:.0f}").c_str(),
                     cell(counter(r, "server_cpu_pct"), "{:.1f} %").c_str(),
                     cell(counter(r, "server_cpu_us_per_delivery"), "{:.2f}").c_str(),
                     split_cell(r, "server").c_str(),
                     cell(counter(r, "generator_cpu_us_per_delivery"), "{:.2f}").c_str(),
                     split_cell(r, "generator").c_str(), verdict(r).c_str());
    }
    std::fprintf(out,
                 "\nEvery counter (unit, how measured, window) and verdict: docs/benchmarks.md, "
                 "\"Glossary: every counter and verdict\"\n");
}

}  // namespace bench
