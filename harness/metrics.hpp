// UserMetrics per simulated user and LoadTestMetrics for a whole run.
#pragma once
#include <cstdint>
#include <array>
#include <map>
#include <string>

#include "histogram.hpp"
#include "protocol/messages.hpp"

namespace harness {

struct UserMetrics {
    std::uint64_t sent = 0, sent_durable = 0, received = 0, bytes_in = 0, bytes_out = 0;
    std::uint64_t durable_received = 0, durable_duplicates = 0, durable_out_of_order = 0;
    std::uint64_t durable_expected = 0, durable_rejected = 0, echoes = 0;
    std::uint64_t volatile_received = 0;
    // Faults: connections lost and re-established, how each resumed, what was resent.
    std::uint64_t disconnects = 0, reconnects = 0, resumes = 0, resyncs = 0, replayed = 0, resent = 0;
    // After a reconnect the server's seq was below what this user had already received:
    // the server forgot durable messages a client had seen (a crash without durability).
    std::uint64_t rollbacks = 0;
    std::map<std::string, std::uint64_t> errors;  // by kind
    Histogram latency;        // durable deliveries from others, from intended send time (us)
    Histogram latency_uncorrected;  // same deliveries, from the actual write time (us)
    Histogram staleness;      // volatile deliveries, age at receipt (us)
    Histogram join_time;      // connect to AuthResult+state (us)
    std::array<std::uint64_t, liveshare::kMsgTypeCount> bytes_in_by_type{}, bytes_out_by_type{};
    std::array<std::uint64_t, liveshare::kMsgTypeCount> msgs_in_by_type{}, msgs_out_by_type{};
    Histogram send_lag;       // generator timer lateness versus intended send time (us)

    void error(const std::string& kind, std::uint64_t n = 1) { errors[kind] += n; }
    void merge(const UserMetrics& o);
};

struct LoadTestMetrics {
    UserMetrics totals;           // merged over users
    std::size_t users = 0, users_joined = 0, rooms = 0;
    double measured_s = 0;        // wall time of the sending phase
    double msgs_sent_per_s = 0, deliveries_per_s = 0;
    double mb_per_s_in = 0, mb_per_s_out = 0, mbps_in = 0, mbps_out = 0;  // client view
    double delivery_pct = 0, error_pct = 0;
    std::uint64_t lost = 0, error_count = 0;
    bool converged = false;
    std::string convergence_detail;
    double join_all_ms = 0;       // time until every user had joined
    // While every user is connected (idle_hold): server RSS, and a fresh client's probe.
    double start_server_rss_mb = 0, held_server_rss_mb = 0, probe_healthz_ms = -1, probe_join_ms = -1, probe_pong_ms = -1;
    // Generator self-check.
    double generator_cpu_pct = 0;   // of one core
    double send_lag_p99_ms = 0;     // how late the generator sent versus intended
    bool generator_saturated = false;
    // Server, when we started it.
    bool server_measured = false;
    double server_cpu_pct = 0, server_cpu_peak_pct = 0, server_rss_mb = 0, server_rss_peak_mb = 0;
    // Loopback traffic during the sending phase (all of lo, both directions, TCP/IP headers
    // and compression included): the wire cost, when the target is on this machine.
    double loopback_mbps = 0;
    std::map<std::string, double> server_metrics;  // scraped from /metrics at the end

    double p_ms(double p) const { return static_cast<double>(totals.latency.percentile(p)) / 1000.0; }
    double p_uncorrected_ms(double p) const {
        return static_cast<double>(totals.latency_uncorrected.percentile(p)) / 1000.0;
    }
};

}  // namespace harness
