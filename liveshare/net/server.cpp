#include "server.hpp"

#include <malloc.h>

#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "log.hpp"
#include "net/context.hpp"
#include "net/listener.hpp"
#include "net/loops.hpp"
#include "net/session.hpp"
#include "protocol/codec.hpp"

namespace liveshare {

namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

std::vector<std::shared_ptr<Session>> live_sessions(Context& ctx) {
    std::vector<std::shared_ptr<Session>> live;
    std::lock_guard lock(ctx.sessions_mu);
    for (auto& w : ctx.sessions)
        if (auto s = w.lock()) live.push_back(std::move(s));
    return live;
}

// One server process: storage, the cluster, the listener, the sweep and the shutdown, around
// the I/O threads' loops (loop 0 also runs the listener, the sweep, signals and the cluster).
class Server {
  public:
    explicit Server(const ServerConfig& cfg) : cfg_(cfg), ctx_(cfg), loops_(cfg.threads) {
        ctx_.loops = &loops_;
        // A cork window is the corked path's (Beast's stream writes as it can).
        if (cfg.profile.write == WritePath::Corked)
            for (std::size_t i = 0; i < loops_.size(); ++i)
                loops_.at(i).set_cork(std::chrono::microseconds(cfg.profile.cork_us));
    }

    int run() {
        if (!open_storage() || !start_recording() || !start_cluster() || !listen()) return 1;
        arm_sweep();
        signals_.async_wait([this](boost::system::error_code ec, int sig) {
            if (ec) return;
            log::line("signal " + std::to_string(sig) + ": closing sessions, flushing snapshots");
            shut_down(0, "");
        });
        loops_.run(&ctx_.metrics);
        ctx_.kdf.join();
        for (auto& s : live_sessions(ctx_)) s->abandon();
        for (auto& r : ctx_.rooms.all()) r->clear_members();
        ctx_.cluster.reset();
        if (ctx_.durable) ctx_.durable->stop();  // commits what is queued before the last snapshots
        if (ctx_.persister) ctx_.persister->stop_and_flush();
        if (ctx_.recorder) {
            const auto n = ctx_.recorder->records(), d = ctx_.recorder->dropped();
            ctx_.recorder.reset();  // writes the rest and the end line
            log::line("--record: " + std::to_string(n) + " record(s) in " + cfg_.record_path +
                      (d ? ", " + std::to_string(d) + " dropped" : ""));
        }
        log::line("stopped");
        return exit_code_;
    }

  private:
    net::io_context& ioc() { return loops_.at(0).ioc; }

    // Snapshots (and the op log in durability mode) in --db; a cluster node keeps its rooms in
    // Redis instead. False (said on stderr) when the store cannot be opened or restored.
    bool open_storage() {
        if (cfg_.db_path.empty() || !cfg_.cluster.empty()) return true;
        try {
            ctx_.store = std::make_unique<SnapshotStore>(cfg_.db_path, cfg_.snapshots_kept);
            ctx_.persister = std::make_unique<Persister>(*ctx_.store, ctx_.rooms, ctx_.metrics,
                                                         cfg_.snapshot_interval_ms);
            if (cfg_.durable) {
                ctx_.durable = std::make_unique<DurableLog>(cfg_.db_path, ctx_.metrics);
                ctx_.rooms.set_durable_log(ctx_.durable.get());
                ctx_.persister->set_durable_log(ctx_.durable.get());
            }
            const std::size_t restored = ctx_.persister->restore();
            if (restored)
                log::line("restored " + std::to_string(restored) + " room(s) from " + cfg_.db_path);
            if (ctx_.durable) {
                const std::size_t ops = ctx_.durable->restore(ctx_.rooms);
                log::line("durability mode: replayed " + std::to_string(ops) +
                          " committed op(s) from the op log");
                ctx_.durable->start();
            }
            ctx_.persister->start();
        } catch (const std::exception& e) {
            std::fprintf(stderr, "liveshare-server: %s\n", e.what());
            return false;
        }
        return true;
    }

    // --record: the trace file opens now, or the server does not start.
    bool start_recording() {
        if (cfg_.record_path.empty()) return true;
        try {
            ctx_.recorder = std::make_unique<TraceRecorder>(TraceRecorder::Options{
                cfg_.record_path, cfg_.record_max_bytes, cfg_.record_buffer});
        } catch (const std::exception& e) {
            std::fprintf(stderr, "liveshare-server: %s\n", e.what());
            return false;
        }
        log::line("recording a trace to " + cfg_.record_path);
        return true;
    }

    bool start_cluster() {
        if (cfg_.cluster.empty()) return true;
        try {
            ctx_.cluster = std::make_unique<cluster::Cluster>(
                ioc().get_executor(), cfg_, ctx_.metrics, [this](std::string why) {
                    // Redis out of reach for longer than --cluster-outage-max-ms: the clients
                    // are closed (4008) so they reconnect to another node, and the process ends.
                    log::line("cluster: " + why + "; closing every session (4008) and stopping");
                    net::post(ioc(), [this, why] { shut_down(1, why); });
                });
        } catch (const std::exception& e) {
            std::fprintf(stderr, "liveshare-server: %s\n", e.what());
            return false;
        }
        ctx_.cluster->start();
        log::line("cluster node " + ctx_.cluster->node_id() + " on " + cfg_.cluster);
        return true;
    }

    bool listen() {
        try {
            listener_ = std::make_shared<Listener>(
                loops_, ctx_, tcp::endpoint(net::ip::make_address(cfg_.address), cfg_.port));
        } catch (const std::exception& e) {
            std::fprintf(stderr, "liveshare-server: cannot listen on %s:%u: %s\n",
                         cfg_.address.c_str(), cfg_.port, e.what());
            return false;
        }
        // The first line of stdout is the bound port, so a parent can use --port=0.
        std::printf("%u\n", listener_->port());
        std::fflush(stdout);
        log::line("listening on " + cfg_.address + ":" + std::to_string(listener_->port()) +
                  " with " + std::to_string(cfg_.threads) + " thread(s)");
        listener_->run();
        return true;
    }

    // Once a second, sessions without Beast's keep-alive ping idle peers and close dead ones
    // (and give their queues' memory back); the first quiet second after traffic gives the
    // allocator's free pages back to the system too (a join storm leaves many behind: the
    // handshakes' buffers, AuthResults listing every member), so idle connections cost what
    // they hold, not what their arrival once used.
    void arm_sweep() {
        sweep_.expires_after(std::chrono::seconds(1));
        sweep_.async_wait([this](boost::system::error_code ec) {
            if (ec) return;
            const auto now = Session::Clock::now();
            for (auto& s : live_sessions(ctx_)) s->check_idle(now);
            const std::uint64_t in = ctx_.metrics.total(&Metrics::Shard::bytes_in);
            if (in == bytes_in_at_sweep_ && !trimmed_) {
                ::malloc_trim(0);
                trimmed_ = true;
            } else if (in != bytes_in_at_sweep_) {
                trimmed_ = false;
            }
            bytes_in_at_sweep_ = in;
            arm_sweep();
        });
    }

    // Every session is closed (1001, or 4008 with `why` when the cluster is lost), given a
    // moment for the close handshakes, then the loops stop.
    void shut_down(int code, const std::string& why) {
        if (shutting_down_) return;
        shutting_down_ = true;
        exit_code_ = code;
        listener_->stop();
        signals_.cancel();
        if (ctx_.cluster) ctx_.cluster->stop();
        for (auto& s : live_sessions(ctx_))
            s->close_soon(code ? kCloseResyncRequired : kCloseShutdown,
                          code ? why : "server shutting down");
        grace_.expires_after(std::chrono::milliseconds(1500));
        grace_.async_wait([this](boost::system::error_code) { loops_.stop(); });
        sweep_.cancel();
    }

    const ServerConfig& cfg_;
    Context ctx_;
    Loops loops_;
    std::shared_ptr<Listener> listener_;
    net::steady_timer sweep_{ioc()}, grace_{ioc()};
    net::signal_set signals_{ioc(), SIGINT, SIGTERM};
    std::uint64_t bytes_in_at_sweep_ = 0;
    bool trimmed_ = false, shutting_down_ = false;
    int exit_code_ = 0;
};

}  // namespace

int run_server(const ServerConfig& cfg) {
    log::set_quiet(cfg.quiet);
    Server server(cfg);
    return server.run();
}

}  // namespace liveshare
