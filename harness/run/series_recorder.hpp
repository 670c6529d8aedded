// The run's time series (LoadTestConfig::series_interval): one SeriesPoint per interval, from
// the live tallies every user of the run adds to.
#pragma once
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <optional>
#include <vector>

#include "clients/prometheus.hpp"
#include "measure/histogram.hpp"
#include "measure/load_metrics.hpp"
#include "procs/server_process.hpp"
#include "users/sim_user.hpp"

namespace harness {

// The run's time series: every interval, what arrived since the last point (the difference of
// the histogram all users record into), the messages sent, the server's and our CPU.
class SeriesRecorder {
  public:
    SeriesRecorder(const Shared& sh, pid_t server, Clock::time_point start,
                   std::chrono::milliseconds every)
        : sh_(sh),
          server_(server),
          start_(start),
          every_(every),
          last_(start),
          next_(start + every),
          last_hist_(sh.live_hist.size(), 0) {
        last_gen_cpu_ = self_cpu_seconds();
        ProcSample ps;
        if (server_ > 0 && read_proc(server_, ps)) last_server_cpu_ = ps.cpu_seconds;
    }
    bool due(Clock::time_point now) const { return every_.count() > 0 && now >= next_; }
    double since_start(Clock::time_point now) const {
        return std::chrono::duration<double>(now - start_).count();
    }

    SeriesPoint point(Clock::time_point now) {
        SeriesPoint p;
        p.t_s = since_start(now);
        const double dt = std::max(std::chrono::duration<double>(now - last_).count(), 1e-6);
        std::vector<std::uint64_t> delta(last_hist_.size());
        std::uint64_t count = 0;
        for (std::size_t i = 0; i < delta.size(); ++i) {
            const std::uint64_t v = sh_.live_hist[i].load(std::memory_order_relaxed);
            delta[i] = v - last_hist_[i];
            last_hist_[i] = v;
            count += delta[i];
            if (delta[i]) p.buckets.emplace_back(i, delta[i]);
        }
        if (count) {
            p.p50_ms = at(delta, count, 50);
            p.p90_ms = at(delta, count, 90);
            p.p99_ms = at(delta, count, 99);
            for (std::size_t i = delta.size(); i-- > 0;)
                if (delta[i]) {
                    p.max_ms = static_cast<double>(Histogram::highest_of(i)) / 1000.0;
                    break;
                }
        }
        const auto sent = sh_.sent.load(), durable = sh_.durable_received.load(),
                   vol = sh_.volatile_received.load();
        p.sent = sent - last_sent_;
        p.durable = durable - last_durable_;
        p.volatiles = vol - last_vol_;
        p.durable_so_far = durable;
        last_sent_ = sent, last_durable_ = durable, last_vol_ = vol;
        p.errors = take(sh_.errors, last_errors_);
        p.disconnects = take(sh_.disconnects, last_disconnects_);
        p.reconnects = take(sh_.reconnects, last_reconnects_);
        p.resumes = take(sh_.resumes, last_resumes_);
        const double gen = self_cpu_seconds();
        p.generator_cpu_pct = (gen - last_gen_cpu_) / dt * 100.0;
        last_gen_cpu_ = gen;
        if (ProcSample ps; server_ > 0 && read_proc(server_, ps)) {
            if (last_server_cpu_)
                p.server_cpu_pct = (ps.cpu_seconds - *last_server_cpu_) / dt * 100.0;
            p.server_rss_mb = ps.rss_mb;
            last_server_cpu_ = ps.cpu_seconds;
        }
        if (sh_.windowed) p.users = static_cast<double>(sh_.joined.load() - sh_.left.load());
        if (sh_.cfg.series_server_gauges) gauges(p);
        last_ = now;
        while (next_ <= now) next_ += every_;
        return p;
    }

  private:
    // The server's descriptors, rooms and connections; what cannot be read stays absent.
    void gauges(SeriesPoint& p) const {
        if (server_ > 0) {
            std::error_code ec;
            double n = 0;
            for (std::filesystem::directory_iterator
                     it("/proc/" + std::to_string(server_) + "/fd", ec),
                 end;
                 !ec && it != end; it.increment(ec))
                ++n;
            if (!ec) p.server_fds = n;
        }
        try {
            const auto m = scrape_metrics(sh_.ep);
            if (auto it = m.find("liveshare_rooms"); it != m.end()) p.server_rooms = it->second;
            if (auto it = m.find("liveshare_connections"); it != m.end())
                p.server_connections = it->second;
        } catch (const std::exception&) {
        }  // a server without /metrics: absent
    }
    // What a live tally gained since the last point.
    static std::uint64_t take(const std::atomic<std::uint64_t>& now, std::uint64_t& last) {
        const std::uint64_t v = now.load(std::memory_order_relaxed), d = v - last;
        last = v;
        return d;
    }
    static double at(const std::vector<std::uint64_t>& h, std::uint64_t count, double pct) {
        std::uint64_t acc = 0;
        for (std::size_t i = 0; i < h.size(); ++i) {
            acc += h[i];
            if (static_cast<double>(acc) * 100.0 >= static_cast<double>(count) * pct)
                return static_cast<double>(Histogram::highest_of(i)) / 1000.0;
        }
        return static_cast<double>(Histogram::highest_of(h.size() - 1)) / 1000.0;
    }

    const Shared& sh_;
    pid_t server_;
    Clock::time_point start_;
    std::chrono::milliseconds every_;
    Clock::time_point last_, next_;
    std::vector<std::uint64_t> last_hist_;
    std::uint64_t last_sent_ = 0, last_durable_ = 0, last_vol_ = 0;
    std::uint64_t last_errors_ = 0, last_disconnects_ = 0, last_reconnects_ = 0, last_resumes_ = 0;
    double last_gen_cpu_ = 0;
    std::optional<double> last_server_cpu_;
};

}  // namespace harness
