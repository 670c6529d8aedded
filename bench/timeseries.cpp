#include "timeseries.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
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
};
struct Run {
    std::string name;
    int repetition = 0;
    bool error = false;
    Series series;
};

std::mutex mu;
std::vector<Series> pending;
std::vector<Run> runs;
std::map<std::string, int> repetitions;  // the next repetition index per benchmark

void number(std::string& out, const char* key, double v) {
    if (!std::isfinite(v)) return;  // JSON has no infinity: left out
    out += fmt::format(",\"{}\":{}", key, v);
}
void number(std::string& out, const char* key, const std::optional<double>& v) {
    if (v) number(out, key, *v);
}

void append_point(std::string& out, const harness::SeriesPoint& p) {
    out += fmt::format("{{\"t_s\":{}", p.t_s);
    number(out, "p50_ms", p.p50_ms);
    number(out, "p90_ms", p.p90_ms);
    number(out, "p99_ms", p.p99_ms);
    number(out, "max_ms", p.max_ms);
    out += fmt::format(",\"sent\":{},\"durable\":{},\"volatile\":{},\"durable_so_far\":{}", p.sent,
                       p.durable, p.volatiles, p.durable_so_far);
    number(out, "server_cpu_pct", p.server_cpu_pct);
    number(out, "server_rss_mb", p.server_rss_mb);
    number(out, "generator_cpu_pct", p.generator_cpu_pct);
    out += '}';
}

void append_run(std::string& out, const Run& r) {
    out += "{\"name\":";
    liveshare::json::append_string(out, r.name);
    out += fmt::format(",\"repetition\":{},\"error\":{},\"lost\":{},\"intervals\":[", r.repetition,
                       r.error ? "true" : "false", r.series.lost);
    for (std::size_t i = 0; i < r.series.points.size(); ++i) {
        if (i) out += ',';
        append_point(out, r.series.points[i]);
    }
    out += "],\"events\":[";
    for (std::size_t i = 0; i < r.series.events.size(); ++i) {
        out += fmt::format("{}{{\"t_s\":{},\"what\":", i ? "," : "", r.series.events[i].t_s);
        liveshare::json::append_string(out, r.series.events[i].what);
        out += '}';
    }
    out += "]}";
}

}  // namespace

void timeseries_measured(const harness::LoadTestMetrics& m) {
    if (options().timeseries_out.empty()) return;
    std::lock_guard lock(mu);
    pending.push_back({m.series, m.events, m.lost});
}

void timeseries_reported(const std::string& name, const std::vector<bool>& errors) {
    if (options().timeseries_out.empty()) return;
    std::lock_guard lock(mu);
    const bool paired = pending.size() == errors.size();
    for (std::size_t i = 0; i < pending.size(); ++i) {
        const bool error =
            paired ? errors[i] : std::find(errors.begin(), errors.end(), true) != errors.end();
        runs.push_back({name, paired ? repetitions[name]++ : -1, error, std::move(pending[i])});
    }
    pending.clear();
}

bool write_timeseries() {
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
    out += fmt::format("}},\"interval_ms\":{},\"runs\":[", options().interval_ms);
    {
        std::lock_guard lock(mu);
        for (std::size_t i = 0; i < runs.size(); ++i) {
            if (i) out += ',';
            append_run(out, runs[i]);
        }
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
