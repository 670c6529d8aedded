// UserMetrics per simulated user and LoadTestMetrics for a whole run.
#pragma once
#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "measure/clock_offset.hpp"
#include "measure/histogram.hpp"
#include "protocol/messages.hpp"

namespace harness {

struct UserMetrics {
    std::uint64_t sent = 0, sent_durable = 0, received = 0, bytes_in = 0, bytes_out = 0;
    std::uint64_t durable_received = 0, durable_duplicates = 0, durable_out_of_order = 0;
    std::uint64_t durable_expected = 0, durable_rejected = 0, echoes = 0;
    // Of durable_rejected: refused with reason "unavailable" (a cluster node that could not
    // order them, Redis out of reach): the designed answer to an outage, not an error.
    std::uint64_t durable_unavailable = 0;
    std::uint64_t volatile_received = 0;
    // Faults: connections lost and re-established, how each resumed, what was resent.
    std::uint64_t disconnects = 0, reconnects = 0, resumes = 0, resyncs = 0, replayed = 0,
                  resent = 0;
    // After a reconnect the server's seq was below what this user had already received:
    // the server forgot durable messages a client had seen (a crash without durability).
    std::uint64_t rollbacks = 0;
    // Deliveries measured from a scan of their markers (not parsed in full), and of those the
    // sample that was parsed in full too and checked against the scan.
    std::uint64_t scanned = 0, scan_checked = 0;
    std::map<std::string, std::uint64_t> errors;  // by kind
    Histogram latency;              // durable deliveries from others, from intended send time (us)
    Histogram latency_uncorrected;  // same deliveries, from the actual write time (us)
    // Several targets (a cluster): the same deliveries, split by whether the sender was
    // connected to the receiver's node or to another one (when it sent... as last seen).
    Histogram latency_same_node, latency_cross_node;
    Histogram staleness;            // volatile deliveries, age at receipt (us)
    Histogram join_time;            // connect to AuthResult+state (us)
    Histogram tls_handshake;        // wss://: TCP connected to TLS established (us)
    std::uint64_t tls_resumed = 0;  // of those handshakes, resumed sessions
    std::array<std::uint64_t, liveshare::kMsgTypeCount> bytes_in_by_type{}, bytes_out_by_type{};
    std::array<std::uint64_t, liveshare::kMsgTypeCount> msgs_in_by_type{}, msgs_out_by_type{};
    Histogram send_lag;  // generator timer lateness versus intended send time (us)
    // A planned run's phases: the latency of durable deliveries by the phase they were sent in.
    std::vector<Histogram> phase_latency;

    void error(const std::string& kind, std::uint64_t n = 1) { errors[kind] += n; }
    void merge(const UserMetrics& o);
};

// Percentile p (ms) of `delivered` plus `lost` deliveries, the lost ones counting as arriving
// never: +infinity when p falls among them, NaN when there is nothing.
double percentile_with_lost_ms(const Histogram& delivered, std::uint64_t lost, double p);

// Whether every client's schema state was compared with the server's at the end.
enum class Convergence { NotChecked, Converged, Diverged };
const char* to_string(Convergence c);

// One interval of a run's time series (LoadTestConfig::series_interval), over the sending
// window. Percentiles of the durable deliveries that arrived in the interval (past the warm-up;
// exact as the totals are: one histogram for all users); absent when none arrived.
struct SeriesPoint {
    double t_s = 0;  // end of the interval, seconds after the schedule's epoch
    std::optional<double> p50_ms, p90_ms, p99_ms, max_ms;
    std::uint64_t sent = 0, durable = 0, volatiles = 0;  // in the interval
    std::uint64_t durable_so_far = 0;
    std::uint64_t errors = 0, disconnects = 0, reconnects = 0, resumes = 0;  // in the interval
    // The interval's latency histogram, non-zero buckets as (index, count): a shard writes
    // them so that merged intervals have exact percentiles too.
    std::vector<std::pair<std::size_t, std::uint64_t>> buckets;
    std::optional<double> server_cpu_pct, server_rss_mb;  // when the server is ours to read
    // LoadTestConfig::series_server_gauges: open descriptors (a started server), and the
    // rooms and connections its /metrics says.
    std::optional<double> server_fds, server_rooms, server_connections;
    double generator_cpu_pct = 0;  // this process, of one core
    std::optional<double> users;   // in the rooms at the interval's end (planned runs)
};
struct SeriesEvent {
    double t_s = 0;
    std::string what;  // e.g. "fault" (a trigger fired: a kill, a reset)
};

// The JSON of one interval and of a run's events (bench's --timeseries_out, shard files):
// a figure the interval did not measure is left out; the buckets only when asked for.
void append_json(std::string& out, const SeriesPoint& p, bool with_buckets);
void append_json(std::string& out, const std::vector<SeriesEvent>& events);

// One phase of a planned run (a scenario's ramp, spike, steady...).
struct PhaseResult {
    std::string name;
    double start_s = 0, end_s = 0;  // after the schedule's epoch
    std::size_t users_from = 0, users_to = 0;
    double rate = 1;
    std::size_t times = 0;  // how often it came (a cycle's phases repeat)
    Histogram latency;      // durable deliveries of messages sent in it (us)
};

struct LoadTestMetrics {
    std::vector<PhaseResult> phases;  // planned runs only
    std::vector<SeriesPoint> series;  // empty unless LoadTestConfig::series_interval
    std::vector<SeriesEvent> events;
    UserMetrics totals;  // merged over users
    std::size_t users = 0, users_joined = 0, rooms = 0;
    // Every rate below is over the sending window (measured_s): messages sent, deliveries
    // that arrived within it, server and generator CPU. The drain after it is reported apart.
    double measured_s = 0;  // wall time of the sending phase
    double msgs_sent_per_s = 0, deliveries_per_s = 0;
    double drain_s = 0;                     // how long the drain waited
    std::uint64_t deliveries_in_drain = 0;  // durable deliveries that arrived after the window
    double mb_per_s_in = 0, mb_per_s_out = 0, mbps_in = 0, mbps_out = 0;  // client view
    double mbps_out_per_user = 0;  // what the server sends one user (downlink)
    // Durable deliveries received of those expected; empty when nothing was expected (no one
    // joined, every op refused, one-user rooms): not measured, not 100 %.
    std::optional<double> delivery_pct;
    double error_pct = 0;
    std::uint64_t lost = 0, error_count = 0;
    Convergence convergence = Convergence::NotChecked;
    std::string convergence_detail;
    double join_all_ms = 0;  // time until every user had joined
    // While every user is connected (idle_hold): server RSS, and a fresh client's probe.
    double start_server_rss_mb = 0, held_server_rss_mb = 0, probe_healthz_ms = -1,
           probe_join_ms = -1, probe_pong_ms = -1;
    // Generator self-check, over the sending window.
    double generator_cpu_pct = 0;          // the generator threads together, of one core
    double generator_thread_peak_pct = 0;  // the busiest generator thread, of one core
    double machine_busy_pct = 0;   // all CPUs of the machine (/proc/stat), 100 = every core busy
    double send_lag_p99_ms = 0;    // how late the generator sent versus intended
    double send_lag_limit_ms = 0;  // the lag that counts as saturated (a tenth of the interval)
    // This clock against LoadTestConfig::clock_ref, before the start and after the run.
    std::optional<ClockOffset> clock_start, clock_end;
    bool generator_saturated = false;  // a generator thread over 90 % or its timers late
    bool machine_saturated = false;    // the machine over 90 % busy: both sides compete
    // Server, when we started it.
    bool server_measured = false;
    double server_cpu_pct = 0, server_cpu_peak_pct = 0, server_rss_mb = 0, server_rss_peak_mb = 0;
    // Cost per delivery over the sending window (absent when it could not be measured):
    // the server's read/write-family syscalls from /proc/PID/io, its socket calls and the
    // messages per write from its own /metrics, the generator's CPU and socket calls.
    std::optional<double> server_syscalls_per_delivery, server_socket_calls_per_delivery,
        deliveries_per_write;
    std::optional<double> generator_cpu_us_per_delivery, generator_syscalls_per_delivery;
    // The same CPU in user space and in the kernel (/proc/PID/stat utime and stime for the
    // server, 10 ms ticks; getrusage for the generator, its whole process). Over loopback the
    // kernel runs much of the receiver's TCP work and its wake-up in the sender's context, so
    // each side's kernel share holds part of the other's work.
    std::optional<double> server_user_cpu_us_per_delivery, server_sys_cpu_us_per_delivery;
    std::optional<double> generator_user_cpu_us_per_delivery, generator_sys_cpu_us_per_delivery;
    // Loopback traffic during the sending phase (all of lo, both directions, TCP/IP headers
    // and compression included): the wire cost, when the target is on this machine.
    double loopback_mbps = 0;
    std::map<std::string, double> server_metrics;  // scraped from /metrics at the end
    // Processes watched over the sending window (LoadTestConfig::watch: cluster nodes, the
    // engine): CPU in % of one core and per delivery, RSS at the end of the window.
    struct Watched {
        bool measured = false;
        double cpu_pct = 0, cpu_us_per_delivery = 0, rss_mb = 0;
    };
    std::map<std::string, Watched> watched;

    // Percentile p of every expected durable delivery, from its intended send time. A message
    // that never arrived counts as arriving never: +infinity when p falls among the lost ones.
    // NaN when nothing was measured.
    double p_ms(double p) const;
    double p_uncorrected_ms(double p) const {
        return static_cast<double>(totals.latency_uncorrected.percentile(p)) / 1000.0;
    }
};

// The generator limited the run when one of its threads was over 90 % of a core or its timers
// fired later than lag_limit_ms at p99; the machine did when all its CPUs were over 90 %
// busy (server and generator then compete for the same cores).
struct Saturation {
    bool generator = false, machine = false;
};
Saturation judge_saturation(double thread_peak_pct, double lag_p99_ms, double lag_limit_ms,
                            double machine_busy_pct);

}  // namespace harness
