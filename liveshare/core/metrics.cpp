#include "metrics.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace liveshare {

namespace {
constexpr std::array<const char*, static_cast<std::size_t>(DropReason::Count)> kDropNames = {
    "volatile_queue_full", "coalesced",       "cursor_throttle",   "rate_limited",
    "graphop_throttled",   "invalid_message", "not_authenticated", "frame_too_large"};
}

void Metrics::bind_thread() {
    std::lock_guard lock(shards_mu_);
    shards_.push_back(std::make_unique<Shard>());
    t_shard = shards_.back().get();
    t_owner = this;
}

void Metrics::unbind_thread() {
    t_owner = nullptr;
    t_shard = nullptr;
}

std::uint64_t Metrics::total(Field f) const {
    std::uint64_t sum = (shared_.*f).load(std::memory_order_relaxed);
    std::lock_guard lock(shards_mu_);
    for (const auto& s : shards_) sum += ((*s).*f).load(std::memory_order_relaxed);
    return sum;
}

void Metrics::queue_bytes_changed(std::int64_t delta, std::size_t session_depth) {
    const auto depth = static_cast<std::uint64_t>(session_depth);
    if (t_owner == this) {
        Shard& s = *t_shard;
        s.queue_bytes.store(s.queue_bytes.load(std::memory_order_relaxed) + delta,
                            std::memory_order_relaxed);
        if (depth > s.queue_bytes_max.load(std::memory_order_relaxed))
            s.queue_bytes_max.store(depth, std::memory_order_relaxed);
        return;
    }
    shared_.queue_bytes.fetch_add(delta, std::memory_order_relaxed);
    auto prev = shared_.queue_bytes_max.load(std::memory_order_relaxed);
    while (depth > prev &&
           !shared_.queue_bytes_max.compare_exchange_weak(prev, depth, std::memory_order_relaxed)) {
    }
}

Metrics::Totals Metrics::totals() const {
    Totals t;
    auto add = [&t](const Shard& s) {
        t.queue_bytes += s.queue_bytes.load(std::memory_order_relaxed);
        t.queue_bytes_max =
            std::max(t.queue_bytes_max, s.queue_bytes_max.load(std::memory_order_relaxed));
        for (std::size_t i = 0; i < kMsgTypeCount; ++i) {
            t.messages_in[i] += s.messages_in[i].load(std::memory_order_relaxed);
            t.messages_out[i] += s.messages_out[i].load(std::memory_order_relaxed);
        }
    };
    add(shared_);
    std::lock_guard lock(shards_mu_);
    for (const auto& s : shards_) add(*s);
    return t;
}

void Metrics::observe_snapshot_ms(double ms) {
    std::size_t i = 0;
    while (i < kSnapshotBucketsMs.size() && ms > kSnapshotBucketsMs[i]) ++i;
    snapshot_buckets_[i].fetch_add(1);
    snapshot_count_.fetch_add(1);
    double cur = snapshot_sum_ms_.load();
    while (!snapshot_sum_ms_.compare_exchange_weak(cur, cur + ms)) {
    }
}

// A counter by message type (the types seen so far).
static void render_by_type(std::string& o, const char* name, const char* help,
                           const std::array<std::uint64_t, kMsgTypeCount>& counts) {
    o += fmt::format("# HELP {0} {1}\n# TYPE {0} counter\n", name, help);
    for (std::size_t i = 0; i < kMsgTypeCount; ++i)
        if (counts[i])
            o += fmt::format("{}{{type=\"{}\"}} {}\n", name, to_string(static_cast<MsgType>(i)),
                             counts[i]);
}

std::string Metrics::render() const {
    std::string o;
    const Totals t = totals();
    auto gauge = [&](const char* name, const char* help, auto v) {
        o += fmt::format("# HELP {0} {1}\n# TYPE {0} gauge\n{0} {2}\n", name, help, v);
    };
    auto counter = [&](const char* name, const char* help, auto v) {
        o += fmt::format("# HELP {0} {1}\n# TYPE {0} counter\n{0} {2}\n", name, help, v);
    };
    // A table, one metric per line: kept as written.
    // clang-format off
    gauge("liveshare_connections", "Open WebSocket connections.", connections.load());
    gauge("liveshare_rooms", "Rooms in memory.", rooms.load());
    gauge("liveshare_send_queue_bytes", "Bytes queued for sending, all sessions.", t.queue_bytes);
    gauge("liveshare_send_queue_bytes_max", "Deepest single send queue seen, in bytes.", t.queue_bytes_max);
    counter("liveshare_connections_total", "WebSocket connections accepted.", connections_total.load());
    counter("liveshare_connections_rejected_total", "Connections refused at the connection limit.", connections_rejected.load());
    counter("liveshare_auth_failures_total", "Auth attempts answered with success:false.", auth_failures.load());
    counter("liveshare_cluster_published_total", "Cluster: durable messages sent to the room's stream.", cluster_published.load());
    counter("liveshare_cluster_applied_total", "Cluster: durable messages applied in the stream's order.", cluster_applied.load());
    counter("liveshare_cluster_volatile_out_total", "Cluster: volatile messages published to other nodes.", cluster_volatile_out.load());
    counter("liveshare_cluster_volatile_in_total", "Cluster: volatile messages received from other nodes.", cluster_volatile_in.load());
    counter("liveshare_cluster_gap_fetches_total", "Cluster: reads of a room's stream to fill a gap in the sequence.", cluster_gap_fetches.load());
    gauge("liveshare_cluster_redis_up", "Cluster: 1 while this node's Redis connections are in place.", cluster_redis_up.load());
    counter("liveshare_cluster_outages_total", "Cluster: times this node lost Redis.", cluster_outages.load());
    counter("liveshare_cluster_down_seconds_total", "Cluster: time without Redis, ended outages.", cluster_down_ms.load() / 1000.0);
    counter("liveshare_cluster_reconnect_attempts_total", "Cluster: attempts to connect to Redis again.", cluster_reconnect_attempts.load());
    counter("liveshare_cluster_durable_refused_total", "Cluster: durable messages refused (Error unavailable) while the room's order was out of reach.", cluster_durable_refused.load());
    counter("liveshare_cluster_volatile_dropped_total", "Cluster: volatile messages not passed to other nodes while Redis was out of reach.", cluster_volatile_dropped.load());
    counter("liveshare_cluster_inflight_applied_total", "Cluster: durable messages in flight at an outage that Redis held (delivered).", cluster_inflight_applied.load());
    counter("liveshare_cluster_inflight_refused_total", "Cluster: durable messages in flight at an outage that Redis did not hold (refused).", cluster_inflight_refused.load());
    counter("liveshare_cluster_wait_short_total", "Cluster: durable messages acknowledged after --cluster-wait-timeout-ms without the replicas asked for.", cluster_wait_short.load());
    counter("liveshare_cluster_rooms_resynced_total", "Cluster: rooms whose members were closed with 4008 because Redis came back behind them.", cluster_rooms_resynced.load());
    counter("liveshare_sessions_replaced_total", "Sessions closed because the same user_id connected again.", sessions_replaced.load());
    counter("liveshare_durable_commits_total", "Group commits of the durability mode's op log.", durable_commits.load());
    counter("liveshare_durable_ops_total", "Durable messages committed before fan-out (durability mode).", durable_ops.load());
    counter("liveshare_durable_commit_failures_total", "Op log commits that failed and were retried.", durable_commit_failures.load());
    counter("liveshare_slow_consumer_closes_total", "Sessions closed with 4008 because their send queue passed the hard limit.", slow_consumer_closes.load());
    counter("liveshare_handshake_timeouts_total", "Connections closed before completing the handshake in time.", handshake_timeouts.load());
    counter("liveshare_handshakes_refused_total", "WebSocket upgrades refused with 400 (RFC 6455 4.2.1: Host, version, key).", handshakes_refused.load());
    counter("liveshare_bytes_in_total", "WebSocket payload bytes received.", total(&Shard::bytes_in));
    counter("liveshare_bytes_out_total", "WebSocket payload bytes written.", total(&Shard::bytes_out));
    counter("liveshare_graphops_delayed_total", "Graph ops held for their throttle slot, then applied.", graphops_delayed.load());
    counter("liveshare_durable_ops_abandoned_total", "Unacknowledged ops abandoned after the op log failed every retry (members closed with 4008).", durable_ops_abandoned.load());
    counter("liveshare_ws_reads_total", "Read calls on WebSocket client sockets.", total(&Shard::ws_reads));
    counter("liveshare_ws_writes_total", "Write calls on WebSocket client sockets.", total(&Shard::ws_writes));
    counter("liveshare_ws_messages_out_total", "Messages those writes carried (all frames, batches counted per message).", total(&Shard::ws_messages_out));
    counter("liveshare_state_requests_forwarded_total", "RequestGraphState passed to one member because the server's state had no tables.", state_requests_forwarded.load());
    counter("liveshare_http_requests_total", "Plain HTTP requests served.", http_requests.load());
    // clang-format on
    render_by_type(o, "liveshare_messages_in_total", "Messages received, by type.", t.messages_in);
    render_by_type(o, "liveshare_messages_out_total", "Messages queued to clients, by type.",
                   t.messages_out);
    o += "# HELP liveshare_drops_total Messages not relayed, by reason.\n# TYPE "
         "liveshare_drops_total counter\n";
    for (std::size_t i = 0; i < kDropNames.size(); ++i)
        o += fmt::format("liveshare_drops_total{{reason=\"{}\"}} {}\n", kDropNames[i],
                         drops[i].load());
    o += "# HELP liveshare_snapshot_write_ms Snapshot write time.\n# TYPE "
         "liveshare_snapshot_write_ms histogram\n";
    std::uint64_t cum = 0;
    for (std::size_t i = 0; i < kSnapshotBucketsMs.size(); ++i) {
        cum += snapshot_buckets_[i].load();
        o += fmt::format("liveshare_snapshot_write_ms_bucket{{le=\"{}\"}} {}\n",
                         kSnapshotBucketsMs[i], cum);
    }
    cum += snapshot_buckets_.back().load();
    o += fmt::format("liveshare_snapshot_write_ms_bucket{{le=\"+Inf\"}} {}\n", cum);
    o += fmt::format("liveshare_snapshot_write_ms_sum {}\nliveshare_snapshot_write_ms_count {}\n",
                     snapshot_sum_ms_.load(), snapshot_count_.load());
    return o;
}

}  // namespace liveshare
