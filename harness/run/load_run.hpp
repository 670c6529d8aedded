// The load run's phases as one class: run_load.cpp has the phases up to the drain and the
// convergence check, run_collect.cpp the server's cost, closing and the totals. Private to
// harness/run/ (the entry point is run_load.hpp).
#pragma once

#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <cmath>
#include <random>
#include <thread>

#include "clients/client.hpp"
#include "clients/prometheus.hpp"
#include "procs/server_process.hpp"
#include "protocol/json_write.hpp"
#include "run/convergence.hpp"
#include "run/planned_run.hpp"
#include "run/run_load.hpp"
#include "run/series_recorder.hpp"
#include "traffic/workload.hpp"
#include "users/sim_user.hpp"

namespace harness {

namespace net = boost::asio;
using Clock = std::chrono::steady_clock;

// Timer lateness that means the generator could not keep its schedule (run_load.cpp).
double send_lag_limit_ms(const LoadTestConfig& cfg);

// What an instant of the sending window looked like: rates are differences of two marks.
struct WindowMark {
    ProcSample server;
    bool server_read = false;
    std::uint64_t server_syscalls = 0;
    bool server_io = false;
    MetricMap server_metrics;
    std::size_t scraped = 0;  // targets whose /metrics answered
    std::vector<ProcSample> watched;
    std::vector<bool> watched_read;
    std::uint64_t gen_calls = 0;
    CpuSplit gen_split;  // the whole generator process
    std::vector<double> threads;
    MachineCpu machine;
    std::uint64_t delivered = 0;
};

// One run, one method per phase, in the order run() calls them.
class LoadRun {
  public:
    LoadRun(const LoadTestConfig& c, pid_t pid)
        : cfg(c), server_pid(pid), rng(c.seed), sh(c, rng), M(result.metrics) {}

    LoadTestResult run();

  private:
    // The target, or a cluster's nodes ("ws://a:1,ws://b:2").
    void resolve();

    void create_rooms();

    // Many users per generator thread, each thread its own io_context (wrk-style).
    void start_generator();

    // Phase 1: everyone joins (all at once: for join_storm this is the measurement).
    void join();

    // Idle connections (conn/idle): hold them, then check the server still answers quickly.
    void hold_idle();

    // Phase 2: the open-model schedule, from a common epoch slightly in the future.
    void send();
    // Every rate is measured over the sending window: server CPU and syscalls, /metrics,
    // watched processes, each generator thread's CPU, the machine's, the deliveries.
    WindowMark mark_window();
    void print_progress(Clock::time_point send_start, Clock::time_point& last_print,
                        std::uint64_t& last_sent);

    // Marks from outside the run (a restart), timed from the schedule's epoch like the series.
    void take_marks();

    // Phase 3: drain until every expected durable delivery arrived, or the drain time is up.
    void drain();

    void check_convergence_();

    // Server CPU and memory over the window; the generator's own CPU beside it.
    void server_cost();

    // Phase 4: close every connection (bounded), then stop the generator threads.
    void close();

    // Phase 5: totals. Expected durable deliveries per receiver: what the others in its room
    // sent (minus what the server rejected out loud) while it was in the room.
    void totals();
    void per_delivery(double deliveries);

    // The offset now, or an error in the run's totals (the run is then not corrected).
    std::optional<ClockOffset> measure_clock();

    std::size_t own() const { return users.size(); }
    bool sharded() const { return cfg.shard_count > 1; }

    // Every shard's schedule counts from the same wall-clock instant when one is given.
    // With a reference clock the start is an instant of the reference's time: this clock's
    // reading less its measured offset.
    Clock::time_point schedule_epoch();
    // A coordinated start (cfg.await_start): false, with result.start_error, when the run
    // cannot start or its start has passed.
    bool start_ok();
    std::int64_t start_at_ms = 0;     // cfg.start_at_unix_ms, or the coordinator's
    std::int64_t correction_us_ = 0;  // added to this wall clock to read the reference
    std::optional<Clock::time_point> epoch_;

    // Durable messages each user's script plans (the same in every shard: same seed).
    const std::vector<std::uint64_t>& planned();
    std::uint64_t planned_from_others(std::size_t index);
    std::uint64_t windowed_expected_total();
    std::uint64_t planned_expected();

    const LoadTestConfig& cfg;
    pid_t server_pid;
    std::mt19937_64 rng;  // before sh: the users' identities are its first draws
    Shared sh;
    LoadTestResult result;
    LoadTestMetrics& M;
    std::size_t rooms() const { return sh.room_ids.size(); }
    std::vector<std::string> room_errors;
    unsigned nthreads = 1;
    std::vector<std::unique_ptr<net::io_context>> iocs;
    std::vector<std::unique_ptr<SimUser>> users;
    std::vector<net::executor_work_guard<net::io_context::executor_type>> guards;
    std::vector<std::thread> threads;
    std::unique_ptr<ProcessSampler> sampler;
    bool show = false;
    WindowMark w0, w1;
    double gen_cpu = 0, gen_thread_peak = 0;
    std::vector<std::uint64_t> planned_;
    std::optional<std::uint64_t> windowed_total_;
};

}  // namespace harness
