// What every connection of one server process shares: configuration, counters, rooms,
// storage, the password-hashing pool and the set of live WebSocket sessions.
#pragma once
#include <boost/asio/thread_pool.hpp>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "cluster/cluster.hpp"
#include "config.hpp"
#include "durable_log.hpp"
#include "metrics.hpp"
#include "persister.hpp"
#include "room_registry.hpp"
#include "snapshot_store.hpp"
#include "trace_recorder.hpp"

namespace liveshare {

class Session;
class Loops;

struct Context {
    ServerConfig cfg;
    Metrics metrics;
    RoomRegistry rooms{cfg, metrics};
    boost::asio::thread_pool kdf;
    std::unique_ptr<SnapshotStore> store;
    std::unique_ptr<Persister> persister;
    std::unique_ptr<DurableLog> durable;
    std::unique_ptr<cluster::Cluster> cluster;  // --cluster
    std::unique_ptr<TraceRecorder> recorder;    // --record
    std::mutex sessions_mu;
    std::set<std::weak_ptr<Session>, std::owner_less<std::weak_ptr<Session>>> sessions;
    Loops* loops = nullptr;  // the I/O threads' event loops (net/loops.hpp)

    explicit Context(const ServerConfig& c) : cfg(c), kdf(c.kdf_threads) {}
};

}  // namespace liveshare
