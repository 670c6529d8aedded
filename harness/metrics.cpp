#include "metrics.hpp"

namespace harness {

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
    staleness.merge(o.staleness);
    join_time.merge(o.join_time);
}

}  // namespace harness
