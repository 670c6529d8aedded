// Cluster mode's outages and failovers (cluster.hpp): the connections and their watchdog, the
// loss of Redis, the reconnects (through Sentinel), each room's resume (its fence moved, the
// stream's tail applied, the messages in flight resolved, the presence made the node's own
// again), and the acknowledgement of durable messages, after a WAIT when asked.
#include <algorithm>
#include <boost/asio/post.hpp>
#include <random>

#include "cluster.hpp"
#include "log.hpp"
#include "wire.hpp"

namespace liveshare::cluster {

namespace net = boost::asio;
using namespace wire;

// Both connections, a new generation and epoch. Their loss comes back through the strand
// (never inside hiredis's own callback, which still uses the connection).
void Cluster::open() {
    const std::uint64_t gen = ++generation_;
    auto on_lost = [this, gen](std::string why) {
        if (stopped_) return;
        net::post(strand_, [this, gen, why = std::move(why)] { lost(gen, why); });
    };
    cmd_ = std::make_unique<RedisConn>(strand_, host_, port_, on_lost);
    sub_ = std::make_unique<RedisConn>(strand_, host_, port_, on_lost);
    sub_->on_message(
        [this](std::string_view ch, std::string_view payload) { on_message(ch, payload); });
    ++epoch_;
    asked_at_.reset();
}

// Liveness: this node's key lives 3 s unless refreshed; members of expired nodes leave (not
// in the first seconds after an outage, while the other nodes come back and refresh theirs).
// The refresh is also the watchdog: a Redis that holds it unanswered for --cluster-timeout-ms
// is treated as gone (a hung Redis must not hang the node).
void Cluster::tick() {
    if (!cmd_) return;
    const auto now = Clock::now();
    if (asked_at_) {
        // Silent since the heartbeat was sent: no reply to anything (a WAIT that takes its
        // time still answers).
        if (now - std::max(*asked_at_, cmd_->last_reply()) >=
            std::chrono::milliseconds(cfg_.cluster_timeout_ms))
            lost(generation_,
                 "Redis did not answer for " + std::to_string(cfg_.cluster_timeout_ms) + " ms");
        return;
    }
    asked_at_ = now;
    cmd_->command({"SET", node_key_, "1", "PX", "3000"}, [this, gen = generation_](redisReply* r) {
        if (r && gen == generation_) asked_at_.reset();  // any answer, an error too: not hung
    });
    // Short of replicas (--cluster-wait-replicas): are they back? The SET is a write to wait for.
    if (replicas_short_ && !wait_covers_ && !down_since_)
        cmd_->command({"WAIT", std::to_string(cfg_.cluster_wait_replicas), "100"},
                      [this, gen = generation_](redisReply* r) {
                          if (r && gen == generation_ && r->type == REDIS_REPLY_INTEGER &&
                              r->integer >= static_cast<long long>(cfg_.cluster_wait_replicas))
                              replicas_short_ = false;
                      });
    if (down_since_ || now < sweep_from_) return;
    for (auto& [id, l] : links_)
        if (l.state == Link::State::Ready)
            cmd_->command({"EVAL", kSweep, "2", l.k_members, l.channel, "ls:node:"});
}

// Redis went away (either connection, or the watchdog). The clients stay; every room waits
// for the next connection, and what waited on Redis is answered now: joins and loads refused,
// messages in flight kept in doubt until the stream tells.
void Cluster::lost(std::uint64_t generation, const std::string& why) {
    if (stopped_ || generation != generation_ || !cmd_) return;
    const bool first = !down_since_;
    if (first) {
        down_since_ = Clock::now();
        metrics_.cluster_outages.fetch_add(1, std::memory_order_relaxed);
        metrics_.cluster_redis_up.store(0);
        log::line("cluster: " + why + "; refusing durable messages and reconnecting");
        backoff_ = std::chrono::milliseconds(0);
        if (cfg_.cluster_outage_max_ms > 0) {
            give_up_timer_.expires_after(std::chrono::milliseconds(cfg_.cluster_outage_max_ms));
            give_up_timer_.async_wait([this](boost::system::error_code ec) {
                if (ec || stopped_ || !down_since_) return;
                stopped_ = true;
                retry_timer_.cancel();
                give_up_(std::to_string(cfg_.cluster_outage_max_ms) + " ms without Redis");
            });
        }
    }
    stored_.clear();  // their messages stay in doubt until the stream tells
    wait_covers_.reset();
    replicas_short_ = false;  // the next master is asked afresh
    // Freed here, on the strand, not inside hiredis: their callbacks run now with no reply.
    auto cmd = std::move(cmd_);
    auto sub = std::move(sub_);
    cmd.reset();
    sub.reset();
    for (auto& [id, l] : links_) {
        l.state = Link::State::Subscribing;
        l.fetching = false;
        l.max_seen = 0;
        refuse_waiting(l);
    }
    retry_later();
}

void Cluster::retry_later() {
    const auto cap = std::chrono::milliseconds(1000);
    backoff_ = std::min(cap, backoff_.count() ? backoff_ * 2 : std::chrono::milliseconds(50));
    thread_local std::minstd_rand jitter{std::random_device{}()};
    const auto wait = backoff_ * (80 + static_cast<int>(jitter() % 41)) / 100;  // +-20 %
    retry_timer_.expires_after(wait);
    retry_timer_.async_wait([this](boost::system::error_code ec) {
        if (!ec && !stopped_) reconnect();
    });
}

// One attempt: new connections; once Redis answers PING (not -LOADING: it may be reading its
// AOF) the outage ends, and every room is resubscribed and, once subscribed, resumed (or
// loaded, when it never was).
void Cluster::reconnect() {
    metrics_.cluster_reconnect_attempts.fetch_add(1, std::memory_order_relaxed);
    std::string why;
    if (url_.via_sentinel() && !ask_sentinels(why)) return retry_later();
    try {
        open();
    } catch (const std::exception&) {
        cmd_.reset();
        sub_.reset();
        return retry_later();
    }
    when_ready(generation_);
}

void Cluster::when_ready(std::uint64_t gen) {
    asked_at_ = Clock::now();  // the watchdog: a Redis that accepts and never answers
    cmd_->command({"PING"}, [this, gen](redisReply* r) {
        if (!r || gen != generation_ || stopped_) return;
        asked_at_.reset();
        if (r->type == REDIS_REPLY_ERROR) {  // -LOADING: ask again shortly
            retry_timer_.expires_after(std::chrono::milliseconds(20));
            retry_timer_.async_wait([this, gen](boost::system::error_code ec) {
                if (!ec && !stopped_ && gen == generation_ && cmd_) when_ready(gen);
            });
            return;
        }
        // Only a master takes writes (a Sentinel's answer may be stale during a failover).
        cmd_->command({"ROLE"}, [this, gen](redisReply* r) {
            if (!r || gen != generation_ || stopped_) return;
            const std::string_view role =
                r->type == REDIS_REPLY_ARRAY && r->elements > 0 ? str(r->element[0]) : "";
            if (role == "master") return back();
            lost(gen, "Redis at " + host_ + ":" + std::to_string(port_) + " is " +
                          (role.empty() ? describe(r) : "a " + std::string(role)) +
                          ", not the master");
        });
    });
}

bool Cluster::ask_sentinels(std::string& why) {
    why.clear();
    for (const auto& [host, port] : url_.sentinels) {
        const timeval tv{0, 300000};
        redisContext* c = redisConnectWithTimeout(host.c_str(), port, tv);
        std::string err;
        if (c && !c->err) {
            redisSetTimeout(c, tv);
            auto* r = static_cast<redisReply*>(
                redisCommand(c, "SENTINEL get-master-addr-by-name %s", url_.master.c_str()));
            int p = 0;
            if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
                to_num(str(r->element[1]), p)) {
                host_ = std::string(str(r->element[0]));
                port_ = p;
                freeReplyObject(r);
                redisFree(c);
                return true;
            }
            err = !r                           ? std::string(c->errstr)
                  : r->type == REDIS_REPLY_NIL ? "no master named '" + url_.master + "'"
                                               : describe(r);
            if (r) freeReplyObject(r);
        } else {
            err = c ? c->errstr : "out of memory";
        }
        if (c) redisFree(c);
        why += (why.empty() ? "" : "; ") + host + ":" + std::to_string(port) + ": " + err;
    }
    return false;
}

bool Cluster::demoted(const redisReply* r) {
    if (!r || r->type != REDIS_REPLY_ERROR ||
        std::string_view(r->str, r->len).substr(0, 8) != "READONLY")
        return false;
    net::post(strand_, [this, gen = generation_] {
        lost(gen,
             "Redis at " + host_ + ":" + std::to_string(port_) + " is a replica now (READONLY)");
    });
    return true;
}

void Cluster::back() {
    if (down_since_) {
        const auto ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - *down_since_);
        metrics_.cluster_down_ms.fetch_add(static_cast<std::uint64_t>(ms.count()),
                                           std::memory_order_relaxed);
        log::line("cluster: Redis is back after " + std::to_string(ms.count()) + " ms; resuming " +
                  std::to_string(links_.size()) + " room(s)");
    }
    metrics_.cluster_redis_up.store(1);
    down_since_.reset();
    give_up_timer_.cancel();
    sweep_from_ = Clock::now() + std::chrono::milliseconds(3500);
    cmd_->command({"SET", node_key_, "1", "PX", "3000"});
    for (auto& [id, l] : links_)
        sub_->subscribe(l.channel, [this, lp = &l] {
            if (lp->loaded)
                resume(*lp);
            else
                load(*lp);
        });
}

// The members of a room that cannot be brought forward here resync from what Redis holds.
void Cluster::resync(Link& l, const std::string& why) {
    log::line("cluster: room " + l.id + ": " + why + "; reloading, members resync");
    metrics_.cluster_rooms_resynced.fetch_add(1, std::memory_order_relaxed);
    l.inflight.clear();  // their senders are closed with the rest and resend what was not echoed
    l.room->abandon_uncommitted(0, "cluster: " + why + "; resync required");
    load(l);
}

void Cluster::refuse_inflight(Link& l, const char* why) {
    for (const auto& f : l.inflight) {
        metrics_.cluster_inflight_refused.fetch_add(1, std::memory_order_relaxed);
        metrics_.cluster_durable_refused.fetch_add(1, std::memory_order_relaxed);
        l.in->refuse(f.sender, f.type, why);
    }
    l.inflight.clear();
}

void Cluster::resume(Link& l) {
    l.state = Link::State::Loading;
    std::vector<std::string> args = {"EVAL",
                                     std::string(kResume),
                                     "5",
                                     l.k_seq,
                                     l.k_log,
                                     l.k_members,
                                     l.k_fence,
                                     l.channel,
                                     std::to_string(l.applied + 1),
                                     node_,
                                     std::to_string(epoch_)};
    for (const auto& [p, c] : l.conns) {
        args.push_back(c.user_id);
        args.push_back(c.tag);
        args.push_back(c.username);
    }
    cmd_->command(
        std::vector<std::string_view>(args.begin(), args.end()), [this, lp = &l](redisReply* r) {
            if (!r || demoted(r)) return;  // lost again: the next connection resumes it
            Link& l = *lp;
            if (r->type != REDIS_REPLY_ARRAY || r->elements != 3)
                return resync(l, "resuming failed (" + describe(r) + ")");
            std::uint64_t seq = 0;
            to_num(str(r->element[0]), seq);
            if (seq < l.applied)
                return resync(l, "Redis holds seq " + std::to_string(seq) + ", this node applied " +
                                     std::to_string(l.applied) + " (Redis lost writes)");
            bool behind = false;
            const std::string prefix = node_ + ":";
            for_each_entry(r->element[1], [&](std::uint64_t s, MsgType type, std::string_view frame,
                                              std::string_view append) {
                if (s != l.applied + 1) {
                    behind = true;
                    return false;
                }
                std::uint64_t n = 0;
                if (append.substr(0, prefix.size()) == prefix &&
                    to_num(append.substr(prefix.size()), n)) {
                    auto it = std::find_if(l.inflight.begin(), l.inflight.end(),
                                           [n](const Link::InFlight& f) { return f.n == n; });
                    if (it != l.inflight.end()) {
                        l.inflight.erase(it);
                        metrics_.cluster_inflight_applied.fetch_add(1, std::memory_order_relaxed);
                    }
                }
                apply(l, s, type, frame);
                return true;
            });
            if (behind || l.applied < seq)
                return resync(
                    l, "the stream no longer reaches back to seq " + std::to_string(l.applied + 1));
            refuse_inflight(l, "Redis went away before it stored this message; send it again");
            std::map<std::string, std::string> remote;
            const redisReply* members = r->element[2];
            for (std::size_t i = 0; members->type == REDIS_REPLY_ARRAY && i + 1 < members->elements;
                 i += 2) {
                const std::string user(str(members->element[i]));
                std::string_view v = str(members->element[i + 1]);
                std::string_view node = field(v);
                field(v);  // the connection
                if (node == node_) continue;
                // Connected to another node meanwhile: that connection is the user's now.
                for (auto c = l.conns.begin(); c != l.conns.end();)
                    c = c->second.user_id == user ? l.conns.erase(c) : std::next(c);
                remote.emplace(user, std::string(v));
            }
            for (const auto& [user, name] : remote) l.in->remote_joined(user, name);
            l.in->set_remote_members(std::move(remote));
            l.state = Link::State::Ready;
            if (l.max_seen > l.applied) fetch(l);
        });
}

// A reply about this node's message n: not stored (an error, the fence moved): refused;
// stored and `acknowledging` (the append's reply, or the announcement's): no longer in doubt.
void Cluster::settle(Link& l, std::uint64_t n, const redisReply* r, bool acknowledging) {
    if (!r || demoted(r)) return;  // in doubt: the stream tells after the outage
    auto f = std::find_if(l.inflight.begin(), l.inflight.end(),
                          [n](const Link::InFlight& x) { return x.n == n; });
    if (f == l.inflight.end()) return;
    const bool stored = r->type == REDIS_REPLY_INTEGER && r->integer > 0;
    if (stored && !acknowledging) return;
    const Link::InFlight done = *f;
    l.inflight.erase(f);
    if (stored) return;
    log::line("cluster: room " + l.id + ": Redis refused a durable message (" +
              (r->type == REDIS_REPLY_ERROR ? describe(r) : "fence") + ")");
    metrics_.cluster_durable_refused.fetch_add(1, std::memory_order_relaxed);
    l.in->refuse(done.sender, done.type, "Redis did not store it; send it again");
}

void Cluster::send_wait() {
    wait_covers_ = stores_sent_;
    cmd_->command({"WAIT", std::to_string(cfg_.cluster_wait_replicas),
                   std::to_string(cfg_.cluster_wait_timeout_ms)},
                  [this, covers = stores_sent_, gen = generation_](redisReply* r) {
                      if (!r || gen != generation_) return;
                      wait_covers_.reset();
                      const bool ok =
                          r->type == REDIS_REPLY_INTEGER &&
                          r->integer >= static_cast<long long>(cfg_.cluster_wait_replicas);
                      if (!ok) replicas_short_ = true;
                      announce(covers, ok);
                      if (stores_sent_ > covers) send_wait();
                  });
}

// The stores a WAIT covered go out on their rooms' channels now (every store of them has
// been answered: one connection, in order). Announced even when the replicas fell short:
// the entries are in the stream and every node applies them anyway; that is counted.
void Cluster::announce(std::uint64_t covers, bool replicated) {
    std::unordered_map<Link*, std::vector<const Stored*>> by_link;
    std::size_t k = 0;
    for (; k < stored_.size() && stored_[k].index < covers; ++k)
        by_link[stored_[k].link].push_back(&stored_[k]);
    if (!replicated) metrics_.cluster_wait_short.fetch_add(k, std::memory_order_relaxed);
    for (auto& [link, list] : by_link) {
        std::vector<std::string> args = {"EVAL", std::string(kAnnounce), "2", link->k_log,
                                         link->channel};
        std::vector<std::uint64_t> ns;
        for (const Stored* st : list) {
            args.push_back(std::to_string(st->seq));
            ns.push_back(st->n);
        }
        cmd_->command(std::vector<std::string_view>(args.begin(), args.end()),
                      [this, link, ns = std::move(ns)](redisReply* r) {
                          if (!r || r->type != REDIS_REPLY_INTEGER) return;
                          for (auto n : ns) {
                              auto f =
                                  std::find_if(link->inflight.begin(), link->inflight.end(),
                                               [n](const Link::InFlight& x) { return x.n == n; });
                              if (f != link->inflight.end()) link->inflight.erase(f);
                          }
                      });
    }
    stored_.erase(stored_.begin(), stored_.begin() + static_cast<std::ptrdiff_t>(k));
}

}  // namespace liveshare::cluster
