// Generators on several machines as one run, coordinated through a Redis server: each shard
// registers (an atomic counter gives it its index, or it names one), waits at a barrier
// until every shard of the run has joined its users, and all start at one time that Redis
// sets (its TIME plus a lead) when the last one is ready; during the run each shard appends
// its intervals to a stream of the run, and at the end its share (the shard file's document),
// for scripts/collect. Every decision is one Lua script (atomic), so two shards never both
// get an index or both set the start; every failure is a text the shards and the collector
// share (the run's `failed` key), naming what is missing.
//
// Keys (all under lsb:{RUN}: — one hash slot), each expiring after the run:
//   meta (hash: shards, mode, fp:*, created_ms, deadline_ms, state), next (the counter),
//   shard:I (hash: who), r{n}:bench, r{n}:ready (set), r{n}:deadline, r{n}:start,
//   failed, r{n}:s{I} (stream: entry j has id j+1-0, fields kind, k, data), done (hash).
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "clients/redis_client.hpp"

namespace harness {

struct CoordinatorOptions {
    std::string url;     // redis://HOST:PORT
    std::string run_id;  // [A-Za-z0-9][A-Za-z0-9._-]{0,63}
    unsigned shards = 0;
    int fixed_index = -1;      // -1: the counter gives the index
    int timeout_s = 120;       // registration and each barrier
    int lead_ms = 1000;        // the start is this far after the last shard is ready
    int keep_s = 3600;         // the run's keys live this long after it
    std::string who;           // host and pid, for the messages
    std::int64_t skew_us = 0;  // added to this clock (LoadTestConfig::clock_skew_us)
    // What every shard of a run must agree on (users, seed, durations, target...): a shard
    // that differs is refused with the field named.
    std::map<std::string, std::string> fingerprint;
};

// Empty when the name is usable; otherwise why not.
std::string check_run_id(const std::string& id);

class RunCoordinator {
  public:
    // Connects (a RedisError names the coordinator when it cannot) and claims an index.
    // Throws std::runtime_error with the coordinator's reason when the claim is refused.
    explicit RunCoordinator(CoordinatorOptions o);
    ~RunCoordinator();

    unsigned index() const { return index_; }
    const CoordinatorOptions& options() const { return o_; }

    // Round n (the process's n-th load run): this shard has joined its users. Blocks until
    // the start is set (returns it: Unix ms in Redis's clock) or the run fails (throws with
    // the run's reason; at the deadline the reason names the shards still missing).
    // `joined`: this shard's users that joined (the collector shows the run's sum).
    std::int64_t ready_and_wait(unsigned round, const std::string& benchmark, std::int64_t run_ms,
                                std::size_t joined = 0);
    // Redis TIME, for the clock offset (on this coordinator's connection).
    std::int64_t time_us();

    // Queued for the publisher thread (never blocks the caller): an interval's JSON, then the
    // shard's whole document. finish() waits until both are stored or the coordinator is
    // lost, and returns "" or the reason (naming the interval it had reached).
    void publish_interval(unsigned round, unsigned k, std::string json);
    std::string finish(unsigned round, std::string shard_json);
    // Records the run's failure (first reason wins) so every shard and the collector see it.
    void fail(const std::string& reason);

    // What coordinating cost: the control connection (claim, barrier polls, clock) and the
    // stream (the publisher thread's entries, its CPU).
    struct Cost {
        std::uint64_t control_commands = 0, control_bytes = 0;
        std::uint64_t stream_commands = 0, stream_bytes = 0, entries = 0;
        double publisher_cpu_s = 0;
    };
    Cost cost();

  private:
    struct Entry {
        unsigned round;
        std::string kind;
        unsigned k;
        std::string data;
    };
    std::string key(const std::string& k) const { return "lsb:{" + o_.run_id + "}:" + k; }
    void claim();
    RedisReply eval(const std::string& script, std::vector<std::string> args);
    void publisher();
    bool store(RedisClient& c, const Entry& e);

    CoordinatorOptions o_;
    RedisClient control_;
    unsigned index_ = 0;
    std::map<std::string, std::string> shas_;  // script -> SHA1, on control_

    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Entry> queue_;
    std::map<unsigned, unsigned> next_id_;  // per round
    bool stop_ = false, busy_ = false;
    std::string lost_;
    std::uint64_t entries_ = 0, pub_commands_ = 0, pub_out_ = 0, pub_in_ = 0;
    double pub_cpu_s_ = 0;
    std::thread thread_;
};

}  // namespace harness
