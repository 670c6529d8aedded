#include "measure/load_metrics.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "protocol/json_write.hpp"

namespace harness {

const char* to_string(Convergence c) {
    switch (c) {
        case Convergence::NotChecked:
            return "not checked";
        case Convergence::Converged:
            return "yes";
        case Convergence::Diverged:
            return "NO";
    }
    return "?";
}

Saturation judge_saturation(double thread_peak_pct, double lag_p99_ms, double lag_limit_ms,
                            double machine_busy_pct) {
    return {thread_peak_pct > 90.0 || lag_p99_ms > lag_limit_ms, machine_busy_pct > 90.0};
}

double LoadTestMetrics::p_ms(double p) const {
    return percentile_with_lost_ms(totals.latency, lost, p);
}

double percentile_with_lost_ms(const Histogram& latency, std::uint64_t lost, double p) {
    const auto delivered = latency.count();
    const double all = static_cast<double>(delivered) + static_cast<double>(lost);
    if (all == 0) return std::numeric_limits<double>::quiet_NaN();
    // The rank of p among every expected delivery; beyond the delivered ones it is a lost one.
    const double rank = p / 100.0 * all;
    if (rank > static_cast<double>(delivered)) return std::numeric_limits<double>::infinity();
    const double among_delivered = std::min(100.0, 100.0 * rank / static_cast<double>(delivered));
    return static_cast<double>(latency.percentile(among_delivered)) / 1000.0;
}

void UserMetrics::merge(const UserMetrics& o) {
    sent += o.sent;
    sent_durable += o.sent_durable;
    received += o.received;
    bytes_in += o.bytes_in;
    bytes_out += o.bytes_out;
    durable_received += o.durable_received;
    durable_duplicates += o.durable_duplicates;
    durable_out_of_order += o.durable_out_of_order;
    durable_expected += o.durable_expected;
    durable_rejected += o.durable_rejected;
    durable_unavailable += o.durable_unavailable;
    echoes += o.echoes;
    volatile_received += o.volatile_received;
    disconnects += o.disconnects;
    reconnects += o.reconnects;
    resumes += o.resumes;
    resyncs += o.resyncs;
    replayed += o.replayed;
    resent += o.resent;
    rollbacks += o.rollbacks;
    scanned += o.scanned;
    scan_checked += o.scan_checked;
    for (auto& [k, v] : o.errors) errors[k] += v;
    for (std::size_t i = 0; i < bytes_in_by_type.size(); ++i) {
        bytes_in_by_type[i] += o.bytes_in_by_type[i];
        bytes_out_by_type[i] += o.bytes_out_by_type[i];
        msgs_in_by_type[i] += o.msgs_in_by_type[i];
        msgs_out_by_type[i] += o.msgs_out_by_type[i];
    }
    send_lag.merge(o.send_lag);
    if (phase_latency.size() < o.phase_latency.size()) phase_latency.resize(o.phase_latency.size());
    for (std::size_t k = 0; k < o.phase_latency.size(); ++k)
        phase_latency[k].merge(o.phase_latency[k]);
    latency.merge(o.latency);
    latency_uncorrected.merge(o.latency_uncorrected);
    latency_same_node.merge(o.latency_same_node);
    latency_cross_node.merge(o.latency_cross_node);
    staleness.merge(o.staleness);
    join_time.merge(o.join_time);
    tls_handshake.merge(o.tls_handshake);
    tls_resumed += o.tls_resumed;
}

namespace {
void number(std::string& out, const char* key, double v) {
    if (!std::isfinite(v)) return;  // JSON has no infinity: left out
    out += fmt::format(",\"{}\":{}", key, v);
}
void number(std::string& out, const char* key, const std::optional<double>& v) {
    if (v) number(out, key, *v);
}
}  // namespace

void append_json(std::string& out, const SeriesPoint& p, bool with_buckets) {
    out += fmt::format("{{\"t_s\":{}", p.t_s);
    number(out, "p50_ms", p.p50_ms);
    number(out, "p90_ms", p.p90_ms);
    number(out, "p99_ms", p.p99_ms);
    number(out, "max_ms", p.max_ms);
    out += fmt::format(",\"sent\":{},\"durable\":{},\"volatile\":{},\"durable_so_far\":{}", p.sent,
                       p.durable, p.volatiles, p.durable_so_far);
    out += fmt::format(",\"errors\":{},\"disconnects\":{},\"reconnects\":{},\"resumes\":{}",
                       p.errors, p.disconnects, p.reconnects, p.resumes);
    number(out, "server_cpu_pct", p.server_cpu_pct);
    number(out, "server_rss_mb", p.server_rss_mb);
    number(out, "server_fds", p.server_fds);
    number(out, "server_rooms", p.server_rooms);
    number(out, "server_connections", p.server_connections);
    number(out, "generator_cpu_pct", p.generator_cpu_pct);
    number(out, "users", p.users);
    if (with_buckets) {
        // [index, count, the bucket's highest value in us]: a reader needs no bucket rule.
        out += ",\"buckets\":[";
        for (std::size_t k = 0; k < p.buckets.size(); ++k)
            out += fmt::format("{}[{},{},{}]", k ? "," : "", p.buckets[k].first,
                               p.buckets[k].second, Histogram::highest_of(p.buckets[k].first));
        out += ']';
    }
    out += '}';
}

void append_json(std::string& out, const std::vector<SeriesEvent>& events) {
    out += '[';
    for (std::size_t i = 0; i < events.size(); ++i) {
        out += fmt::format("{}{{\"t_s\":{},\"what\":", i ? "," : "", events[i].t_s);
        liveshare::json::append_string(out, events[i].what);
        out += '}';
    }
    out += ']';
}

}  // namespace harness
