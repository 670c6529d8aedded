// soak/users:N/minutes:M: the soak scenario (scenarios/soak.yaml, or --soak_file) run as one
// planned run of M minutes, its cycle repeated to that length, judged on whether the server
// stays flat: its RSS, open descriptors, rooms and connections sampled every 5 s with the
// time series, p99 per window (a sixth of the soak). Outside the `load` filter (an hour by
// default; --soak_minutes shortens it).
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "failures.hpp"
#include "load_support.hpp"
#include "measure/histogram.hpp"
#include "options.hpp"
#include "traffic/scenario.hpp"

namespace bench {

namespace {

constexpr auto kSampleEvery = std::chrono::seconds(5);
// Six windows; the first is warm-up (allocator arenas, caches), judged from the second on.
constexpr std::size_t kWindows = 6;

struct Window {
    double rss_mean = NAN, fds_max = NAN, rooms_max = NAN, p99_ms = NAN;
    std::size_t points = 0;
};

// Least-squares slope of (t, v) in units of v per 10 minutes.
double slope_per_10min(const std::vector<std::pair<double, double>>& pts) {
    if (pts.size() < 3) return NAN;
    double mt = 0, mv = 0;
    for (auto [t, v] : pts) mt += t, mv += v;
    mt /= static_cast<double>(pts.size());
    mv /= static_cast<double>(pts.size());
    double num = 0, den = 0;
    for (auto [t, v] : pts) num += (t - mt) * (v - mv), den += (t - mt) * (t - mt);
    return den > 0 ? num / den * 600.0 : NAN;
}

double most(double a, double b) {
    return std::isnan(a) ? b : std::max(a, b);
}

// The series' points by window: mean RSS, the most descriptors and rooms, and the p99 of the
// deliveries in the window (its points' histograms merged: exact, not a max of p99s).
std::vector<Window> windows(const std::vector<harness::SeriesPoint>& series, double wlen) {
    std::vector<Window> w(kWindows);
    std::vector<harness::Histogram> lat(kWindows);
    std::vector<std::pair<double, std::size_t>> rss(kWindows, {0.0, 0});
    for (const auto& p : series) {
        const auto k = std::min(kWindows - 1, static_cast<std::size_t>(p.t_s / wlen));
        auto& x = w[k];
        ++x.points;
        if (p.server_rss_mb) rss[k].first += *p.server_rss_mb, ++rss[k].second;
        if (p.server_fds) x.fds_max = most(x.fds_max, *p.server_fds);
        if (p.server_rooms) x.rooms_max = most(x.rooms_max, *p.server_rooms);
        for (auto [i, n] : p.buckets) lat[k].record(harness::Histogram::lowest_of(i), n);
    }
    for (std::size_t k = 0; k < kWindows; ++k) {
        if (rss[k].second) w[k].rss_mean = rss[k].first / static_cast<double>(rss[k].second);
        if (lat[k].count()) w[k].p99_ms = static_cast<double>(lat[k].percentile(99)) / 1000.0;
    }
    return w;
}

void print_windows(const std::vector<Window>& w, const std::string& what, double wlen) {
    std::FILE* out = options().reports_to_stderr ? stderr : stdout;
    std::fprintf(out, "\nsoak: %s; windows of %.1f min\n", what.c_str(), wlen / 60);
    std::fprintf(out, "%-7s %7s %12s %8s %8s %10s\n", "window", "points", "rss_mean_mb", "fds_max",
                 "rooms", "p99_ms");
    auto f = [](double v, const char* fmt_) {
        return std::isnan(v) ? std::string("-") : fmt::format(fmt::runtime(fmt_), v);
    };
    for (std::size_t i = 0; i < kWindows; ++i)
        std::fprintf(out, "%-7zu %7zu %12s %8s %8s %10s\n", i + 1, w[i].points,
                     f(w[i].rss_mean, "{:.2f}").c_str(), f(w[i].fds_max, "{:.0f}").c_str(),
                     f(w[i].rooms_max, "{:.0f}").c_str(), f(w[i].p99_ms, "{:.2f}").c_str());
}

// The verdict: growth that does not level off (second window against the last).
std::vector<std::string> growth(const std::vector<Window>& w, double rss_slope) {
    std::vector<std::string> grows;
    const auto& first = w[1];
    const auto& last = w[kWindows - 1];
    if (std::isfinite(rss_slope) && std::isfinite(last.rss_mean) &&
        rss_slope > std::max(1.0, 0.02 * last.rss_mean))
        grows.push_back(
            fmt::format("RSS still grows {:.2f} MB per 10 min over the second half", rss_slope));
    if (std::isfinite(first.fds_max) && std::isfinite(last.fds_max) &&
        last.fds_max > first.fds_max + 16)
        grows.push_back(fmt::format("open fds {:.0f} -> {:.0f}", first.fds_max, last.fds_max));
    if (std::isfinite(first.rooms_max) && std::isfinite(last.rooms_max) &&
        last.rooms_max > first.rooms_max)
        grows.push_back(fmt::format("rooms {:.0f} -> {:.0f}", first.rooms_max, last.rooms_max));
    if (std::isfinite(first.p99_ms) && std::isfinite(last.p99_ms) &&
        last.p99_ms > std::max(3 * first.p99_ms, first.p99_ms + 50))
        grows.push_back(fmt::format("p99 {:.2f} -> {:.2f} ms", first.p99_ms, last.p99_ms));
    return grows;
}

// This process's peak resident memory (the generator holds every departed user's figures).
std::optional<double> own_peak_rss_mb() {
    std::ifstream in("/proc/self/status");
    for (std::string line; std::getline(in, line);)
        if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
    return std::nullopt;
}

void set_soak_counters(benchmark::UserCounters& c, const std::vector<Window>& w, double rss_slope,
                       const harness::TrafficPlan& plan) {
    for (std::size_t i = 0; i < kWindows; ++i) {
        auto put = [&](const char* k, double v) {
            if (std::isfinite(v)) c[fmt::format("w{}_{}", i + 1, k)] = v;
        };
        put("rss_mb", w[i].rss_mean);
        put("fds", w[i].fds_max);
        put("rooms", w[i].rooms_max);
        put("p99_ms", w[i].p99_ms);
    }
    if (std::isfinite(rss_slope)) c["rss_slope_mb_per_10min"] = rss_slope;
    c["joins"] = static_cast<double>(plan.users.size());
    std::size_t back = 0;
    for (const auto& u : plan.users) back += u.returning() ? 1 : 0;
    c["returning_joins"] = static_cast<double>(back);
    if (auto mb = own_peak_rss_mb()) c["generator_rss_peak_mb"] = *mb;
}

std::size_t peak_users(const harness::Scenario& s) {
    std::size_t n = 0;
    for (const auto& p : s.phases) {
        if (p.users_to != harness::kHold) n = std::max(n, p.users_to);
        if (p.users_from) n = std::max(n, *p.users_from);
    }
    return n;
}

std::string describe_soak(const harness::Scenario& s, double minutes) {
    return fmt::format("{} ({}, {} cycle(s) of {:.0f} s), {:.1f} min", s.name, s.file,
                       s.cycle ? s.cycle->count : 0,
                       s.cycle ? static_cast<double>(s.cycle->duration_us()) / 1e6 : 0.0, minutes);
}

void bm_soak(benchmark::State& st, harness::Scenario sc) {
    for (auto _ : st) {
        const auto plan = harness::make_plan(sc);
        const double total_s = static_cast<double>(plan->end_us) / 1e6;
        auto b =
            planned_config(plan, static_cast<double>(sc.warmup_us) / 1e6,
                           static_cast<double>(sc.drain_us) / 1e6, sc.messages_per_user, sc.seed)
                .series_interval(kSampleEvery)
                .series_server_gauges(true);
        std::string label;
        const auto run = run_or_fail(st, b, largest_room(*plan), label);
        if (!run) return;
        const LoadTestResult& r = *run;
        const std::string what = describe_soak(sc, total_s / 60);
        finish(st, r, label.empty() ? what : what + "; " + label);
        if (st.error_occurred()) continue;
        const double wlen = total_s / kWindows;
        const auto w = windows(r.metrics.series, wlen);
        std::vector<std::pair<double, double>> late_rss;
        for (const auto& p : r.metrics.series)
            if (p.server_rss_mb && p.t_s >= total_s / 2)
                late_rss.emplace_back(p.t_s, *p.server_rss_mb);
        const double rss_slope = slope_per_10min(late_rss);
        print_windows(w, what, wlen);
        set_soak_counters(st.counters, w, rss_slope, *plan);
        if (const auto grows = growth(w, rss_slope); !grows.empty()) {
            std::string why;
            for (const auto& g : grows) why += (why.empty() ? "" : "; ") + g;
            fail(st, "growth that does not level off: " + why);
        }
    }
}

// The soak file could not be read: the run says why (only when a filter names the soak).
void bm_soak_unreadable(benchmark::State& st, std::string why) {
    for (auto _ : st) fail(st, why);
}

}  // namespace

void register_soak_benchmarks() {
    const Options& o = options();
    const std::string file = o.soak_file.empty()
                                 ? std::string(LIVESHARE_SOURCE_DIR) + "/scenarios/soak.yaml"
                                 : o.soak_file;
    try {
        auto sc = harness::load_scenario(file);
        harness::fit_cycles(sc, std::llround(o.soak_minutes * 60e6));
        load(benchmark::RegisterBenchmark(
            fmt::format("soak/users:{}/minutes:{}", peak_users(sc), o.soak_minutes).c_str(),
            bm_soak, std::move(sc)));
    } catch (const harness::ScenarioError& e) {
        load(benchmark::RegisterBenchmark(fmt::format("soak/minutes:{}", o.soak_minutes).c_str(),
                                          bm_soak_unreadable,
                                          std::string("the soak's scenario: ") + e.what()));
    }
}

}  // namespace bench
