#include "timeseries.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

#include "options.hpp"
#include "protocol/json_write.hpp"
#include "provenance.hpp"

namespace bench {

namespace {

struct Series {
    std::vector<harness::SeriesPoint> points;
    std::vector<harness::SeriesEvent> events;
    std::uint64_t lost = 0;  // the run's durable deliveries that never arrived (in no interval)
    std::string phases;      // planned runs: a JSON array, each phase with its percentiles
    std::string latency;     // the run's whole latency histogram (harness::histogram_json)
};

// A run that lost messages gets "lost": true per phase and no percentiles (what never arrived is
// in no phase's histogram).
std::string phases_json(const std::vector<harness::PhaseResult>& phases, bool lost) {
    std::string out = "[";
    for (std::size_t i = 0; i < phases.size(); ++i) {
        const auto& ph = phases[i];
        out += i ? ",{\"name\":" : "{\"name\":";
        liveshare::json::append_string(out, ph.name);
        out += fmt::format(
            ",\"start_s\":{},\"end_s\":{},\"users_from\":{},\"users_to\":{},\"rate\":{},"
            "\"times\":{}",
            ph.start_s, ph.end_s, ph.users_from, ph.users_to, ph.rate, ph.times);
        const auto& h = ph.latency;
        out += fmt::format(",\"deliveries\":{}", h.count());
        if (lost)
            out += ",\"lost\":true";
        else if (h.count())  // no delivery: no percentiles (absent, not 0)
            out += fmt::format(",\"p50_ms\":{},\"p90_ms\":{},\"p99_ms\":{},\"max_ms\":{}",
                               static_cast<double>(h.percentile(50)) / 1000.0,
                               static_cast<double>(h.percentile(90)) / 1000.0,
                               static_cast<double>(h.percentile(99)) / 1000.0,
                               static_cast<double>(h.max()) / 1000.0);
        out += '}';
    }
    return out + "]";
}
struct Run {
    std::string name;
    int repetition = 0;
    bool error = false;
    Series series;
    std::string step;  // a capacity step's outcome, a JSON object (empty: not a step)
};

std::mutex mu;
std::vector<Series> pending;
std::vector<Run> runs;
std::map<std::string, int> repetitions;  // the next repetition index per benchmark

void append_run(std::string& out, const Run& r) {
    out += "{\"name\":";
    liveshare::json::append_string(out, r.name);
    out += fmt::format(",\"repetition\":{},\"error\":{},\"lost\":{},\"intervals\":[", r.repetition,
                       r.error ? "true" : "false", r.series.lost);
    for (std::size_t i = 0; i < r.series.points.size(); ++i) {
        if (i) out += ',';
        harness::append_json(out, r.series.points[i], false);
    }
    out += "],\"events\":";
    harness::append_json(out, r.series.events);
    if (!r.step.empty()) out += ",\"step\":" + r.step;
    if (!r.series.phases.empty()) out += ",\"phases\":" + r.series.phases;
    if (!r.series.latency.empty()) out += ",\"latency_us\":" + r.series.latency;
    out += '}';
}

}  // namespace

void timeseries_measured(const harness::LoadTestMetrics& m) {
    if (options().timeseries_out.empty()) return;
    std::lock_guard lock(mu);
    pending.push_back({m.series, m.events, m.lost,
                       m.phases.empty() ? "" : phases_json(m.phases, m.lost > 0),
                       harness::histogram_json(m.totals.latency)});
}

void timeseries_step(const std::string& name, std::size_t users, const harness::LoadTestMetrics& m,
                     bool passed) {
    if (options().timeseries_out.empty()) return;
    std::string step = fmt::format(
        "{{\"users\":{},\"passed\":{},\"deliveries_per_s\":{},\"users_joined\":{},"
        "\"generator_saturated\":{},\"machine_saturated\":{}",
        users, passed, m.deliveries_per_s, m.users_joined, m.generator_saturated,
        m.machine_saturated);
    if (std::isfinite(m.p_ms(99))) step += fmt::format(",\"p99_ms\":{}", m.p_ms(99));
    if (m.delivery_pct) step += fmt::format(",\"delivery_pct\":{}", *m.delivery_pct);
    if (m.server_measured) step += fmt::format(",\"server_cpu_pct\":{}", m.server_cpu_pct);
    step += '}';
    const std::string step_name = fmt::format("{}/step/users:{}", name, users);
    std::lock_guard lock(mu);
    runs.push_back({step_name,
                    repetitions[step_name]++,
                    false,
                    {m.series, m.events, m.lost, "", harness::histogram_json(m.totals.latency)},
                    std::move(step)});
}

void timeseries_reported(const std::string& name, const std::vector<bool>& errors) {
    if (options().timeseries_out.empty()) return;
    std::lock_guard lock(mu);
    const bool paired = pending.size() == errors.size();
    for (std::size_t i = 0; i < pending.size(); ++i) {
        const bool error =
            paired ? errors[i] : std::find(errors.begin(), errors.end(), true) != errors.end();
        runs.push_back({name, paired ? repetitions[name]++ : -1, error, std::move(pending[i]), {}});
    }
    pending.clear();
}

bool write_timeseries(const std::vector<harness::CriterionResult>& criteria) {
    const auto& path = options().timeseries_out;
    if (path.empty()) return true;
    std::string out = "{\"context\":{";
    bool first = true;
    for (const auto& [k, v] : provenance()) {
        if (!first) out += ',';
        first = false;
        liveshare::json::append_string(out, k);
        out += ':';
        liveshare::json::append_string(out, v);
    }
    // When it was written, as Google Benchmark's context says it (ISO 8601, UTC).
    char date[32];
    const std::time_t now = std::time(nullptr);
    std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S+00:00", std::gmtime(&now));
    out += first ? "" : ",";
    out +=
        fmt::format("\"date\":\"{}\"}},\"interval_ms\":{},\"runs\":[", date, options().interval_ms);
    {
        std::lock_guard lock(mu);
        for (std::size_t i = 0; i < runs.size(); ++i) {
            if (i) out += ',';
            append_run(out, runs[i]);
        }
    }
    out += "],\"criteria\":[";
    const auto& report_only = options().criteria_report_only;
    for (std::size_t i = 0; i < criteria.size(); ++i) {
        const auto& c = criteria[i];
        const bool gating = !c.users || std::find(report_only.begin(), report_only.end(),
                                                  c.users) == report_only.end();
        out += i ? ",{\"name\":" : "{\"name\":";
        liveshare::json::append_string(out, c.name);
        out += ",\"threshold\":";
        liveshare::json::append_string(out, c.threshold);
        out += ",\"measured\":";
        liveshare::json::append_string(out, c.measured);
        out += fmt::format(",\"pass\":{},\"run\":{},\"users\":{},\"gating\":{}}}", c.pass, c.run,
                           c.users, gating);
    }
    out += "]}\n";
    std::FILE* f = std::fopen(path.c_str(), "w");
    if (!f || std::fwrite(out.data(), 1, out.size(), f) != out.size() || std::fclose(f) != 0) {
        std::fprintf(stderr, "bench: cannot write --timeseries_out=%s\n", path.c_str());
        return false;
    }
    return true;
}

}  // namespace bench
