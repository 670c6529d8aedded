#include "load_metrics.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace harness {

const char* to_string(Convergence c) {
    switch (c) {
        case Convergence::NotChecked: return "not checked";
        case Convergence::Converged: return "yes";
        case Convergence::Diverged: return "NO";
    }
    return "?";
}

Saturation judge_saturation(double thread_peak_pct, double lag_p99_ms, double lag_limit_ms, double machine_busy_pct) {
    return {thread_peak_pct > 90.0 || lag_p99_ms > lag_limit_ms, machine_busy_pct > 90.0};
}

double LoadTestMetrics::p_ms(double p) const { return percentile_with_lost_ms(totals.latency, lost, p); }

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
    echoes += o.echoes;
    volatile_received += o.volatile_received;
    disconnects += o.disconnects;
    reconnects += o.reconnects;
    resumes += o.resumes;
    resyncs += o.resyncs;
    replayed += o.replayed;
    resent += o.resent;
    rollbacks += o.rollbacks;
    for (auto& [k, v] : o.errors) errors[k] += v;
    for (std::size_t i = 0; i < bytes_in_by_type.size(); ++i) {
        bytes_in_by_type[i] += o.bytes_in_by_type[i];
        bytes_out_by_type[i] += o.bytes_out_by_type[i];
        msgs_in_by_type[i] += o.msgs_in_by_type[i];
        msgs_out_by_type[i] += o.msgs_out_by_type[i];
    }
    send_lag.merge(o.send_lag);
    latency.merge(o.latency);
    latency_uncorrected.merge(o.latency_uncorrected);
    latency_same_node.merge(o.latency_same_node);
    latency_cross_node.merge(o.latency_cross_node);
    staleness.merge(o.staleness);
    join_time.merge(o.join_time);
}

}  // namespace harness
