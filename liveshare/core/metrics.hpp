// Server counters, rendered as Prometheus text at GET /metrics.
#pragma once
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "protocol/messages.hpp"

namespace liveshare {

enum class DropReason : std::uint8_t {
    VolatileQueueFull,  // send queue above the soft limit: volatile frame dropped
    Coalesced,          // volatile frame replaced by a newer one from the same sender
    CursorThrottle,     // cursor move within 20 ms or under 1 px of the last relayed one
    RateLimited,        // token bucket empty: Error sent
    GraphOpThrottled,   // graph op beyond the per-connection hold queue: Error sent
    InvalidMessage,     // Error invalid_message sent
    NotAuthenticated,   // message before Auth: Error sent
    FrameTooLarge,      // closed with 1009
    Count
};

class Metrics {
  public:
    using Counter = std::atomic<std::uint64_t>;
    Counter connections_total{0}, auth_failures{0}, sessions_replaced{0}, slow_consumer_closes{0};
    Counter http_requests{0}, handshake_timeouts{0}, handshakes_refused{0}, idle_timeouts{0};
    Counter connections_rejected{0};
    // Graph ops that arrived inside the throttle interval and were held for their slot.
    Counter graphops_delayed{0};
    // RequestGraphState answered by asking one member (the server's state had no tables).
    Counter state_requests_forwarded{0};
    // Durability mode: group commits, ops committed, failed commits (retried).
    Counter durable_commits{0}, durable_ops{0}, durable_commit_failures{0};
    // Ops the op log could not commit within its retry budget: not applied, rooms resynced.
    Counter durable_ops_abandoned{0};
    // Cluster mode: durable messages this node sent to the cluster's order and applied from it,
    // volatile messages published and received, reads of the stream to fill a gap.
    Counter cluster_published{0}, cluster_applied{0}, cluster_volatile_out{0},
        cluster_volatile_in{0}, cluster_gap_fetches{0};
    // Cluster mode without Redis: outages, their length (ms), reconnect attempts, durable
    // messages refused (Error "unavailable") and volatile ones not passed to other nodes,
    // messages in flight when Redis went away that it turned out to hold (delivered) or not
    // (refused), rooms whose members were sent to resync (4008) because Redis came back
    // behind them. cluster_redis_up: 1 while both connections are in place.
    Counter cluster_outages{0}, cluster_down_ms{0}, cluster_reconnect_attempts{0},
        cluster_durable_refused{0}, cluster_volatile_dropped{0}, cluster_inflight_applied{0},
        cluster_inflight_refused{0}, cluster_rooms_resynced{0};
    // --cluster-wait-replicas: ops acknowledged after the wait's timeout without the replicas.
    Counter cluster_wait_short{0};
    std::atomic<std::int64_t> cluster_redis_up{0};
    std::atomic<std::int64_t> connections{0}, rooms{0};
    std::array<Counter, static_cast<std::size_t>(DropReason::Count)> drops{};

    void drop(DropReason r) {
        drops[static_cast<std::size_t>(r)].fetch_add(1, std::memory_order_relaxed);
    }

    // The counters of the delivery path, one shard per event loop: a loop's thread adds to its
    // own shard with a load and a store (no read-modify-write, no shared cache line); other
    // threads share one shard with fetch_add. Reading sums the shards.
    // WebSocket I/O: read and write calls on client sockets, and the messages those writes
    // carried (deliveries per write = ws_messages_out / ws_writes). The corked path counts every
    // read(2) and write(2); the Beast path (`write:frame`) counts one per completed operation.
    struct alignas(64) Shard {
        Counter ws_reads{0}, ws_writes{0}, ws_messages_out{0}, bytes_in{0}, bytes_out{0};
        std::atomic<std::int64_t> queue_bytes{0};  // bytes queued for sending (signed: a
                                                   // frame may leave on another loop's shard)
        Counter queue_bytes_max{0};                // deepest single send queue seen
        std::array<Counter, kMsgTypeCount> messages_in{}, messages_out{};
    };
    using Field = Counter Shard::*;
    // The calling thread (an event loop's, for the life of `this`) counts into a shard of its own.
    void bind_thread();
    static void unbind_thread();
    void add(Field f, std::uint64_t n) {
        bump([f](Shard& s) -> Counter& { return s.*f; }, n);
    }
    std::uint64_t total(Field f) const;
    struct Totals {
        std::int64_t queue_bytes = 0;
        std::uint64_t queue_bytes_max = 0;
        std::array<std::uint64_t, kMsgTypeCount> messages_in{}, messages_out{};
    };
    Totals totals() const;
    void count_in(MsgType t) {
        bump([i = index_of(t)](Shard& s) -> Counter& { return s.messages_in[i]; }, 1);
    }
    void count_out(MsgType t, std::uint64_t n = 1) {
        bump([i = index_of(t)](Shard& s) -> Counter& { return s.messages_out[i]; }, n);
    }
    void queue_bytes_changed(std::int64_t delta, std::size_t session_depth);
    void observe_snapshot_ms(double ms);
    std::string render() const;

  private:
    template <typename Pick>
    void bump(Pick pick, std::uint64_t n) {
        if (t_owner == this) {
            Counter& c = pick(*t_shard);  // this thread's alone: a plain add
            c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
        } else {
            pick(shared_).fetch_add(n, std::memory_order_relaxed);
        }
    }
    // Inline and constant-initialised: every translation unit reaches them directly, with no
    // thread_local wrapper function (and none for UBSan to see return null).
    static inline thread_local const Metrics* t_owner = nullptr;
    static inline thread_local Shard* t_shard = nullptr;
    Shard shared_;
    mutable std::mutex shards_mu_;
    std::vector<std::unique_ptr<Shard>> shards_;

    static constexpr std::array<double, 11> kSnapshotBucketsMs = {0.5, 1,   2,   5,   10,  25,
                                                                  50,  100, 250, 500, 1000};
    std::array<Counter, kSnapshotBucketsMs.size() + 1> snapshot_buckets_{};
    Counter snapshot_count_{0};
    std::atomic<double> snapshot_sum_ms_{0};
};

}  // namespace liveshare
