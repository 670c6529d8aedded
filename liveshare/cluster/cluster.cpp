#include "cluster.hpp"

#include <unistd.h>

#include <algorithm>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <charconv>
#include <random>

#include "log.hpp"
#include "protocol/codec.hpp"
#include "wire.hpp"

namespace liveshare::cluster {

namespace net = boost::asio;
using namespace wire;

namespace {

std::string random_node_id() {
    std::random_device rd;
    char buf[32];
    std::snprintf(buf, sizeof buf, "%08x%04x", static_cast<unsigned>(rd()),
                  static_cast<unsigned>(getpid() & 0xffff));
    return buf;
}

}  // namespace

Cluster::Cluster(net::any_io_executor ex, const ServerConfig& cfg, Metrics& metrics,
                 std::function<void(std::string)> give_up)
    : cfg_(cfg),
      metrics_(metrics),
      strand_(net::make_strand(ex)),
      give_up_(std::move(give_up)),
      node_(random_node_id()),
      node_key_("ls:node:" + node_),
      tick_timer_(strand_),
      snap_timer_(strand_),
      retry_timer_(strand_),
      give_up_timer_(strand_) {
    std::string err;
    if (!parse_cluster_url(cfg.cluster, url_, err)) throw std::runtime_error(err);
    host_ = url_.host;
    port_ = url_.port;
    if (url_.via_sentinel() && !ask_sentinels(err))
        throw std::runtime_error("cannot reach Redis via Sentinel at " + cfg.cluster + ": " + err);
    // Fail at start, with the reason, when Redis is not there (the async connect would only
    // report it later).
    timeval tv{2, 0};
    redisContext* probe = redisConnectWithTimeout(host_.c_str(), port_, tv);
    if (!probe || probe->err) {
        std::string why = probe ? probe->errstr : "out of memory";
        if (probe) redisFree(probe);
        throw std::runtime_error("cannot reach Redis at " + cfg.cluster + ": " + why);
    }
    redisFree(probe);
    open();
    metrics_.cluster_redis_up.store(1);
}

Cluster::~Cluster() {
    stopped_ = true;
    sub_.reset();
    cmd_.reset();
}

void Cluster::start() {
    net::dispatch(strand_, [this] {
        tick();
        arm(tick_timer_, std::chrono::milliseconds(1000), &Cluster::tick);
        arm(snap_timer_,
            std::chrono::milliseconds(std::max<std::uint32_t>(cfg_.snapshot_interval_ms, 100)),
            &Cluster::snapshot);
    });
}

void Cluster::stop() {
    net::dispatch(strand_, [this] {
        stopped_ = true;
        tick_timer_.cancel();
        snap_timer_.cancel();
        retry_timer_.cancel();
        give_up_timer_.cancel();
        if (down()) return;
        // This node's members leave the cluster's presence now rather than when its key expires.
        for (auto& [id, l] : links_)
            for (auto& [p, c] : l.conns)
                cmd_->command({"EVAL", kLeave, "2", l.k_members, l.channel, c.user_id, c.tag});
        cmd_->command({"DEL", node_key_});
    });
}

void Cluster::arm(net::steady_timer& t, std::chrono::milliseconds every, void (Cluster::*fn)()) {
    t.expires_after(every);
    t.async_wait([this, &t, every, fn](boost::system::error_code ec) {
        if (ec || stopped_) return;
        (this->*fn)();
        arm(t, every, fn);
    });
}

void Cluster::snapshot() {
    if (down()) return;  // taking one clears the room's dirty mark
    for (auto& [id, l] : links_) {
        if (l.state != Link::State::Ready) continue;
        auto snap = l.room->take_snapshot_if_dirty();
        if (!snap) continue;
        cmd_->command({"EVAL", kSnapshot, "2", l.k_snap, l.k_log, std::to_string(snap->seq),
                       snap->state_json, now_rfc3339(), std::to_string(snap->element_count),
                       std::to_string(cfg_.seq_log_entries)});
    }
}

Cluster::Link& Cluster::link(const std::shared_ptr<Room>& room) {
    const std::string& id = room->id();
    auto [it, fresh] = links_.try_emplace(id);
    Link& l = it->second;
    if (!fresh) return l;
    l.room = room;
    l.id = id;
    l.channel = "ls:{" + id + "}";  // the braces: one hash slot per room, for Redis Cluster
    l.k_log = l.channel + ":log";
    l.k_seq = l.channel + ":seq";
    l.k_members = l.channel + ":members";
    l.k_snap = l.channel + ":snap";
    l.k_meta = l.channel + ":meta";
    l.k_fence = l.channel + ":fence";
    by_channel_[l.channel] = id;
    l.in = &room->attach_bus(this);
    // Subscribed first, loaded after: nothing published in between is missed (a message the
    // load already holds is skipped by its seq).
    if (sub_) sub_->subscribe(l.channel, [this, lp = &l] { load(*lp); });  // else: reconnect()
    return l;
}

void Cluster::load(Link& l) {
    l.state = Link::State::Loading;
    if (!cmd_) return;  // an outage: the next connection loads it
    cmd_->command({"EVAL", kLoad, "5", l.k_snap, l.k_log, l.k_members, l.k_meta, l.k_fence,
                   std::to_string(cfg_.seq_log_entries), node_, std::to_string(epoch_)},
                  [this, lp = &l](redisReply* r) {
                      if (r && !demoted(r)) loaded(*lp, r);
                  });
}

void Cluster::apply(Link& l, std::uint64_t seq, MsgType type, std::string_view frame) {
    if (seq != l.applied + 1) return;
    std::optional<GraphOp> op;
    if (type == MsgType::GraphOp) {
        thread_local Parser parser;
        ServerMessage m;
        std::string err;
        if (parser.parse_server(frame, m, err))
            op = std::move(m.op);
        else
            log::line("cluster: room " + l.id + " seq " + std::to_string(seq) +
                      ": unreadable op (" + err + "); relayed, not applied");
    }
    l.in->apply_ordered(seq, type, std::make_shared<const std::string>(frame), op ? &*op : nullptr);
    l.applied = seq;
    metrics_.cluster_applied.fetch_add(1, std::memory_order_relaxed);
}

// Joins and ready() callers waiting for a room that cannot be loaded now.
void Cluster::refuse_waiting(Link& l) {
    auto pending = std::move(l.pending);
    auto waiting = std::move(l.waiting);
    l.pending.clear();
    l.waiting.clear();
    for (auto& p : pending) p.done(kUnavailable);
    for (auto& w : waiting) w(kUnavailable, false);
}

void Cluster::loaded(Link& l, redisReply* r) {
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 7) {
        log::line("cluster: loading room " + l.id + " failed: " + describe(r));
        l.state = Link::State::Failed;
        return refuse_waiting(l);
    }
    // The settings the room was created with (POST /room on any node), when it was.
    const redisReply* meta = r->element[6];
    if (meta->type == REDIS_REPLY_ARRAY && meta->elements >= 2) {
        std::map<std::string_view, std::string_view> m;
        for (std::size_t i = 0; i + 1 < meta->elements; i += 2)
            m[str(meta->element[i])] = str(meta->element[i + 1]);
        RoomSettings s;
        s.name = m["name"];
        s.owner_id = m["owner"];
        s.password_hash = m["pw"];
        s.created_at = m["created"];
        to_num(m["max_users"], s.max_users);
        l.room->adopt_settings(s);
        l.created = true;
    }
    std::uint64_t snap_seq = 0, elements = 0;
    to_num(str(r->element[0]), snap_seq);
    to_num(str(r->element[3]), elements);
    SchemaState state;
    std::optional<SnapshotInfo> info;
    if (snap_seq > 0 || !str(r->element[1]).empty()) {
        Parser parser;
        std::string err;
        const std::string json(str(r->element[1]));
        if (parse_state(parser, json, state, err))
            info = SnapshotInfo{static_cast<std::int64_t>(snap_seq), json,
                                std::string(str(r->element[2])), elements};
        else
            log::line("cluster: room " + l.id + ": snapshot unreadable (" + err +
                      "); rebuilding from the stream");
    }
    if (!info) snap_seq = 0;
    l.room->restore(std::move(state), snap_seq, std::move(info));
    l.applied = snap_seq;
    for_each_entry(r->element[4],
                   [&](std::uint64_t seq, MsgType type, std::string_view frame, std::string_view) {
                       if (seq <= snap_seq)
                           l.in->log_ordered(seq, type, std::string(frame));
                       else
                           apply(l, seq, type, frame);
                       return true;
                   });
    std::map<std::string, std::string> remote;
    const redisReply* members = r->element[5];
    for (std::size_t i = 0; members->type == REDIS_REPLY_ARRAY && i + 1 < members->elements;
         i += 2) {
        std::string_view v = str(members->element[i + 1]);
        std::string_view node = field(v);
        field(v);  // the connection
        if (node != node_) remote.emplace(std::string(str(members->element[i])), std::string(v));
    }
    l.in->set_remote_members(std::move(remote));
    l.state = Link::State::Ready;
    l.loaded = true;
    auto pending = std::move(l.pending);
    auto waiting = std::move(l.waiting);
    l.pending.clear();
    l.waiting.clear();
    for (auto& w : waiting) w(nullptr, l.created);
    for (auto& p : pending) admit(l, std::move(p));
    if (l.max_seen > l.applied) fetch(l);
}

// Reads the stream after the last applied seq (a message the channel did not bring).
void Cluster::fetch(Link& l) {
    if (l.fetching || !cmd_) return;
    l.fetching = true;
    metrics_.cluster_gap_fetches.fetch_add(1, std::memory_order_relaxed);
    cmd_->command(
        {"XRANGE", l.k_log, "0-" + std::to_string(l.applied + 1), "+"},
        [this, lp = &l](redisReply* r) {
            if (!r) return;
            Link& l = *lp;
            l.fetching = false;
            const std::uint64_t before = l.applied;
            bool behind = false;
            for_each_entry(
                r, [&](std::uint64_t seq, MsgType type, std::string_view frame, std::string_view) {
                    if (seq > l.applied + 1) {
                        behind = true;
                        return false;
                    }
                    apply(l, seq, type, frame);
                    return true;
                });
            if (behind) {
                // Trimmed past what this node applied: it cannot rebuild the order between;
                // reload from the snapshot and make its members resync.
                log::line("cluster: room " + l.id + " fell behind the stream's log (needs seq " +
                          std::to_string(l.applied + 1) + "); reloading, members resync");
                l.room->abandon_uncommitted(
                    0, "cluster: this node fell behind the room's log; resync required");
                load(l);
                return;
            }
            if (l.max_seen > l.applied && l.applied > before) fetch(l);
        });
}

void Cluster::on_durable(Link& l, std::uint64_t seq, MsgType type, std::string_view frame) {
    l.max_seen = std::max(l.max_seen, seq);
    if (l.state != Link::State::Ready || seq <= l.applied) return;  // the load brings it
    if (seq == l.applied + 1) return apply(l, seq, type, frame);
    fetch(l);
}

void Cluster::on_message(std::string_view channel, std::string_view payload) {
    auto it = by_channel_.find(std::string(channel));
    if (it == by_channel_.end()) return;
    Link& l = links_.at(it->second);
    const std::string_view kind = field(payload);
    if (kind == "D") {
        std::uint64_t seq = 0;
        MsgType type{};
        if (!to_num(field(payload), seq) || !type_of(field(payload), type)) return;
        on_durable(l, seq, type, payload);
        return;
    }
    const std::string_view node = field(payload);
    if (node == node_ || l.state != Link::State::Ready) return;  // ours: delivered already
    if (kind == "V") {
        MsgType type{};
        if (!type_of(field(payload), type)) return;
        const std::string user(sized_field(payload));
        metrics_.cluster_volatile_in.fetch_add(1, std::memory_order_relaxed);
        l.in->deliver_remote_volatile(type, user, std::make_shared<const std::string>(payload));
    } else if (kind == "J") {
        field(payload);  // the connection
        const std::string user(sized_field(payload));
        // A user who joined elsewhere is no longer this node's member (its session closes 4001).
        for (auto c = l.conns.begin(); c != l.conns.end();)
            c = c->second.user_id == user ? l.conns.erase(c) : std::next(c);
        l.in->remote_joined(user, std::string(payload));
    } else if (kind == "L") {
        field(payload);
        l.in->remote_left(std::string(sized_field(payload)));
    } else if (kind == "R") {
        const std::string requester(sized_field(payload));
        l.in->remote_state_request(requester, std::string(payload));
    } else if (kind == "S") {
        const std::string target(sized_field(payload));
        l.in->deliver_state(target, std::make_shared<const std::string>(payload));
    }
}

void Cluster::join(std::shared_ptr<Room> room, std::shared_ptr<Participant> p,
                   std::optional<std::uint64_t> last_seq, JoinDone done) {
    net::dispatch(strand_, [this, room = std::move(room), p = std::move(p), last_seq,
                            done = std::move(done)]() mutable {
        Link& l = link(room);
        if (down()) return done(kUnavailable);
        Pending pending{std::move(p), last_seq, std::move(done)};
        if (l.state == Link::State::Ready) return admit(l, std::move(pending));
        l.pending.push_back(std::move(pending));
        if (l.state == Link::State::Failed) load(l);
    });
}

void Cluster::ready(std::shared_ptr<Room> room, ReadyDone done) {
    net::dispatch(strand_, [this, room = std::move(room), done = std::move(done)]() mutable {
        Link& l = link(room);
        if (down()) return done(kUnavailable, false);
        if (l.state == Link::State::Ready) return done(nullptr, l.created);
        l.waiting.push_back(std::move(done));
        if (l.state == Link::State::Failed) load(l);
    });
}

void Cluster::create_room(const RoomSettings& s, std::function<void(CreateResult)> done) {
    net::dispatch(strand_, [this, s, done = std::move(done)] {
        if (down()) return done(CreateResult::Failed);
        const std::string meta = "ls:{" + s.id + "}:meta";
        cmd_->command(
            {"EVAL", kCreate, "1", meta, s.name, s.owner_id, s.password_hash,
             s.created_at.empty() ? now_rfc3339() : s.created_at, std::to_string(s.max_users)},
            [this, s, done](redisReply* r) {
                if (!r || r->type != REDIS_REPLY_INTEGER) return done(CreateResult::Failed);
                const bool created = r->integer == 1;
                if (auto it = links_.find(s.id); created && it != links_.end())
                    it->second.created = true;
                done(created ? CreateResult::Created : CreateResult::Exists);
            });
    });
}

void Cluster::request_state(const std::string& room_id, const std::string& requester,
                            const std::string& asked) {
    net::dispatch(strand_, [this, room_id, requester, asked] {
        auto it = links_.find(room_id);
        if (it == links_.end() || down()) return;
        cmd_->command(
            {"PUBLISH", it->second.channel,
             "R|" + node_ + "|" + std::to_string(requester.size()) + "|" + requester + asked});
    });
}

void Cluster::forward_state(const std::string& room_id, const std::string& target,
                            std::shared_ptr<const std::string> frame) {
    net::dispatch(strand_, [this, room_id, target, frame = std::move(frame)] {
        auto it = links_.find(room_id);
        if (it == links_.end() || down()) return;
        cmd_->command({"PUBLISH", it->second.channel,
                       "S|" + node_ + "|" + std::to_string(target.size()) + "|" + target + *frame});
    });
}

void Cluster::admit(Link& l, Pending p) {
    std::string tag = node_ + "|" + std::to_string(++next_conn_) + "|";
    const std::string cap = std::to_string(l.room->settings_copy().max_users);
    const std::vector<std::string_view> args{"EVAL", kJoin,          "2", l.k_members,    l.channel,
                                             cap,    p.p->user_id(), tag, p.p->username()};
    // The arguments are copied into hiredis's buffer before the callback (which owns p) runs.
    cmd_->command(args, [this, lp = &l, p = std::move(p), tag](redisReply* r) {
        if (!r || r->type != REDIS_REPLY_INTEGER) {
            if (r) log::line("cluster: join failed: " + describe(r));
            return p.done(kUnavailable);
        }
        if (r->integer < 0) return p.done("Room is full");
        lp->conns[p.p.get()] = {p.p->user_id(), tag, p.p->username()};
        lp->room->join(p.p, p.last_seq);
        p.done(nullptr);
    });
}

// While the room's order is out of reach the sender hears so at once; otherwise the message
// is in flight until Redis answers (its echo is the sender's acknowledgement, as always).
void Cluster::publish_durable(const std::string& room_id, MsgType type,
                              std::shared_ptr<const std::string> frame, const Participant* sender) {
    net::dispatch(strand_, [this, room_id, type, frame = std::move(frame), sender] {
        auto it = links_.find(room_id);
        if (it == links_.end()) return;
        Link& l = it->second;
        const bool short_of_replicas = cfg_.cluster_wait_replicas > 0 && replicas_short_;
        if (down() || l.state != Link::State::Ready || short_of_replicas) {
            metrics_.cluster_durable_refused.fetch_add(1, std::memory_order_relaxed);
            // Posted: this may run inside the room's relay (an idle strand runs a dispatch on
            // the calling thread), which holds the room's lock.
            net::post(strand_, [lp = &l, sender, type, short_of_replicas] {
                lp->in->refuse(
                    sender, type,
                    short_of_replicas
                        ? "fewer Redis replicas than --cluster-wait-replicas; send it again"
                        : "the room's order is out of reach (Redis); send it again");
            });
            return;
        }
        metrics_.cluster_published.fetch_add(1, std::memory_order_relaxed);
        const std::uint64_t n = ++next_append_;
        l.inflight.push_back({n, sender, type});
        const std::string id = node_ + ":" + std::to_string(n), epoch = std::to_string(epoch_);
        if (cfg_.cluster_wait_replicas == 0) {
            cmd_->command({"EVAL", kAppend, "4", l.k_log, l.k_seq, l.channel, l.k_fence,
                           type_arg(type), *frame, id, node_, epoch},
                          [this, lp = &l, n](redisReply* r) { settle(*lp, n, r, true); });
            return;
        }
        const std::uint64_t index = stores_sent_++;
        cmd_->command(
            {"EVAL", kStore, "3", l.k_log, l.k_seq, l.k_fence, type_arg(type), *frame, id, node_,
             epoch},
            [this, lp = &l, n, index, gen = generation_](redisReply* r) {
                settle(*lp, n, r, false);
                if (r && gen == generation_ && r->type == REDIS_REPLY_INTEGER && r->integer > 0)
                    stored_.push_back({lp, n, static_cast<std::uint64_t>(r->integer), index});
            });
        if (!wait_covers_) send_wait();
    });
}

void Cluster::publish_volatile(const std::string& room_id, MsgType type, const std::string& user_id,
                               std::shared_ptr<const std::string> frame) {
    net::dispatch(strand_, [this, room_id, type, user_id, frame = std::move(frame)] {
        auto it = links_.find(room_id);
        if (it == links_.end()) return;
        if (down() || it->second.state != Link::State::Ready) {
            metrics_.cluster_volatile_dropped.fetch_add(1, std::memory_order_relaxed);
            return;  // this node's members had it; the others' nodes cannot be reached now
        }
        std::string msg = "V|" + node_ + "|" + type_arg(type) + "|" +
                          std::to_string(user_id.size()) + "|" + user_id;
        msg += *frame;
        metrics_.cluster_volatile_out.fetch_add(1, std::memory_order_relaxed);
        cmd_->command({"PUBLISH", it->second.channel, msg});
    });
}

void Cluster::member_left(const std::string& room_id, const Participant* p) {
    net::dispatch(strand_, [this, room_id, p] {
        auto it = links_.find(room_id);
        if (it == links_.end()) return;
        Link& l = it->second;
        auto c = l.conns.find(p);
        if (c == l.conns.end()) return;
        // Without Redis the presence is made right when the room resumes.
        if (!down())
            cmd_->command(
                {"EVAL", kLeave, "2", l.k_members, l.channel, c->second.user_id, c->second.tag});
        l.conns.erase(c);
    });
}

}  // namespace liveshare::cluster
