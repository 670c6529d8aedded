// soak/users:200/minutes:M: one server for M minutes under the editing workload with joins and
// leaves throughout, judged on whether it stays flat: server RSS, open descriptors, rooms and
// connections sampled every 5 s, p99 per window (a sixth of the soak). Outside the `load`
// filter (an hour by default; --soak_minutes shortens it).
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

#include "clients/client.hpp"
#include "clients/prometheus.hpp"
#include "failures.hpp"
#include "load_support.hpp"
#include "options.hpp"
#include "procs/server_process.hpp"

namespace bench {

namespace {

constexpr std::size_t kUsers = 200, kCohorts = 2, kRoomSize = 20;
constexpr auto kSampleEvery = std::chrono::seconds(5);

struct Sample {
    double t_s = 0;
    std::optional<double> rss_mb, fds;  // absent against a --target
    std::optional<double> rooms, connections;
};
struct CycleResult {
    double end_s = 0, p99_ms = 0;
    std::uint64_t deliveries = 0, lost = 0;
    bool ok = true;
    std::string why;
};
struct Window {
    double rss_mean = NAN, fds_max = NAN, rooms_max = NAN, p99_ms = NAN;
    std::size_t cycles = 0;
};

double open_fds(pid_t pid) {
    std::error_code ec;
    double n = 0;
    for (auto it = std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
        ++n;
    return n;
}

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

// One soak: the server (or the target), a sampler thread and the cohorts' cycles.
struct SoakRun {
    const Options& o = options();
    double total_s = 0, cycle_s = 0;
    std::unique_ptr<harness::ServerProcess> server;
    std::string url, db;
    std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    std::vector<Sample> samples;
    std::vector<CycleResult> cycles;

    double elapsed() const {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }

    // Every kSampleEvery: the server's RSS and descriptors, its rooms and connections.
    void sample_loop(const harness::Endpoint& ep) {
        std::unique_lock lock(mu);
        while (!done) {
            lock.unlock();
            Sample s;
            s.t_s = elapsed();
            if (server) {
                harness::ProcSample p;
                if (harness::read_proc(server->pid(), p))
                    s.rss_mb = p.rss_mb, s.fds = open_fds(server->pid());
            }
            try {
                auto m = harness::scrape_metrics(ep);
                if (m.count("liveshare_rooms")) s.rooms = m["liveshare_rooms"];
                if (m.count("liveshare_connections")) s.connections = m["liveshare_connections"];
            } catch (const std::exception&) {
            }  // a server without /metrics: those columns stay absent
            lock.lock();
            samples.push_back(s);
            cv.wait_for(lock, kSampleEvery, [&] { return done; });
        }
    }

    // Cohort c joins, edits for a cycle and leaves, again and again, starting half a cycle
    // after the one before it.
    void cohort(std::size_t c) {
        std::this_thread::sleep_for(
            std::chrono::duration<double>(cycle_s / 2 * static_cast<double>(c)));
        for (bool first = true; elapsed() + cycle_s <= total_s; first = false) {
            // The same users come back each cycle: after the first, their tables and columns
            // exist, so they edit them instead of adding more (the rooms' state stays the size
            // of one cycle's; growth is then the server's own).
            auto cfg = base_config(kUsers / kCohorts, Workload::Editing)
                           .room_size(kRoomSize)
                           .returning(!first)
                           .warmup(ms(1000))
                           .duration(secs(cycle_s - 4))
                           .drain(ms(2000))
                           .seed(o.seed + 1000 * c)
                           .progress(false)
                           .target(url)
                           .build();
            CycleResult r;
            try {
                auto res = harness::run_load_test(cfg, server ? server->pid() : 0);
                const auto& m = res.metrics;
                r.p99_ms = m.p_ms(99);
                r.deliveries = m.totals.durable_received;
                r.lost = m.lost;
                if (!std::isfinite(r.p99_ms) || m.lost || m.users_joined < cfg.users)
                    r.ok = false, r.why = describe(m, "");
            } catch (const std::exception& e) {
                r.ok = false, r.why = e.what();
            }
            r.end_s = elapsed();
            std::lock_guard lock(mu);
            cycles.push_back(std::move(r));
        }
    }

    void run() {
        if (url.empty()) {
            db = bench_db_path();
            server = std::make_unique<harness::ServerProcess>(server_binary(),
                                                              bench_server_args(kRoomSize, db));
            url = server->url();
        }
        const auto ep = harness::parse_ws_url(url.substr(0, url.find(',')), o.tls);
        std::thread sampler([&] { sample_loop(ep); });
        std::vector<std::thread> cohorts;
        for (std::size_t c = 0; c < kCohorts; ++c) cohorts.emplace_back([this, c] { cohort(c); });
        for (auto& t : cohorts) t.join();
        {
            std::lock_guard lock(mu);
            done = true;
        }
        cv.notify_all();
        sampler.join();
        if (server) {
            server->stop();
            remove_db(db);
        }
    }
};

// Six windows; the first is warm-up (allocator arenas, caches), judged from the second on.
constexpr std::size_t kWindows = 6;

std::vector<Window> windows(const SoakRun& r, double wlen) {
    std::vector<Window> w(kWindows);
    auto slot = [&](double t) {
        return std::min(kWindows - 1, static_cast<std::size_t>(t / wlen));
    };
    std::vector<std::vector<double>> rss(kWindows);
    for (const auto& s : r.samples) {
        auto& x = w[slot(s.t_s)];
        if (s.rss_mb) rss[slot(s.t_s)].push_back(*s.rss_mb);
        if (s.fds) x.fds_max = std::isnan(x.fds_max) ? *s.fds : std::max(x.fds_max, *s.fds);
        if (s.rooms)
            x.rooms_max = std::isnan(x.rooms_max) ? *s.rooms : std::max(x.rooms_max, *s.rooms);
    }
    for (std::size_t i = 0; i < kWindows; ++i)
        if (!rss[i].empty()) {
            double sum = 0;
            for (double v : rss[i]) sum += v;
            w[i].rss_mean = sum / static_cast<double>(rss[i].size());
        }
    for (const auto& c : r.cycles) {
        auto& x = w[slot(c.end_s)];
        ++x.cycles;
        if (std::isfinite(c.p99_ms))
            x.p99_ms = std::isnan(x.p99_ms) ? c.p99_ms : std::max(x.p99_ms, c.p99_ms);
    }
    return w;
}

void print_windows(const SoakRun& r, const std::vector<Window>& w, double wlen) {
    std::FILE* out = r.o.reports_to_stderr ? stderr : stdout;
    std::fprintf(out,
                 "\nsoak: %zu users (2 cohorts of %zu, rooms of %zu, cycles of %.0f s), %.1f "
                 "min, windows of %.1f min\n",
                 kUsers, kUsers / kCohorts, kRoomSize, r.cycle_s, r.o.soak_minutes, wlen / 60);
    std::fprintf(out, "%-7s %7s %12s %8s %8s %10s\n", "window", "cycles", "rss_mean_mb", "fds_max",
                 "rooms", "p99_ms");
    auto f = [](double v, const char* fmt_) {
        return std::isnan(v) ? std::string("-") : fmt::format(fmt::runtime(fmt_), v);
    };
    for (std::size_t i = 0; i < kWindows; ++i)
        std::fprintf(out, "%-7zu %7zu %12s %8s %8s %10s\n", i + 1, w[i].cycles,
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

void report(benchmark::State& st, const SoakRun& r, const std::vector<Window>& w,
            double rss_slope) {
    std::uint64_t deliveries = 0, lost = 0;
    for (const auto& c : r.cycles) deliveries += c.deliveries, lost += c.lost;
    double worst = 0;
    for (const auto& x : w)
        if (std::isfinite(x.p99_ms)) worst = std::max(worst, x.p99_ms);
    st.SetIterationTime(worst / 1000.0);
    st.counters["cycles"] = static_cast<double>(r.cycles.size());
    st.counters["deliveries"] = static_cast<double>(deliveries);
    st.counters["lost"] = static_cast<double>(lost);
    for (std::size_t i = 0; i < kWindows; ++i) {
        auto put = [&](const char* k, double v) {
            if (std::isfinite(v)) st.counters[fmt::format("w{}_{}", i + 1, k)] = v;
        };
        put("rss_mb", w[i].rss_mean);
        put("fds", w[i].fds_max);
        put("rooms", w[i].rooms_max);
        put("p99_ms", w[i].p99_ms);
    }
    if (std::isfinite(rss_slope)) st.counters["rss_slope_mb_per_10min"] = rss_slope;
    st.SetLabel(fmt::format(
        "time = worst window p99; editing, {} users in rooms of {}, joins and leaves every "
        "{:.0f} s{}",
        kUsers, kRoomSize, r.cycle_s / 2, r.server ? "" : "; target: server RSS/fds not measured"));
}

void bm_soak(benchmark::State& st) {
    for (auto _ : st) {
        SoakRun r;
        r.total_s = r.o.soak_minutes * 60;
        // Each cohort joins, edits for a cycle and leaves; the second starts half a cycle
        // later, so at every moment some users are arriving or leaving.
        r.cycle_s = std::clamp(r.total_s / 12, 10.0, 60.0);
        r.url = r.o.target;
        r.run();
        const double wlen = r.total_s / kWindows;
        const auto w = windows(r, wlen);
        std::vector<std::pair<double, double>> late_rss;
        for (const auto& s : r.samples)
            if (s.rss_mb && s.t_s >= r.total_s / 2) late_rss.emplace_back(s.t_s, *s.rss_mb);
        const double rss_slope = slope_per_10min(late_rss);
        print_windows(r, w, wlen);
        std::size_t failed = 0;
        std::string first_failure;
        for (const auto& c : r.cycles)
            if (!c.ok && !failed++) first_failure = c.why;
        const auto grows = growth(w, rss_slope);
        if (r.cycles.empty()) {
            fail(st, "no cycle ran (the soak is shorter than a cycle)");
        } else if (failed) {
            fail(st, fmt::format("{} of {} cycles failed; first: {}", failed, r.cycles.size(),
                                 first_failure));
        } else if (!grows.empty()) {
            std::string why;
            for (const auto& g : grows) why += (why.empty() ? "" : "; ") + g;
            fail(st, "growth that does not level off: " + why);
        } else {
            report(st, r, w, rss_slope);
        }
    }
}

}  // namespace

void register_soak_benchmarks() {
    load(benchmark::RegisterBenchmark(
        fmt::format("soak/users:{}/minutes:{}", kUsers, options().soak_minutes).c_str(), bm_soak));
}

}  // namespace bench
