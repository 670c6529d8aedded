#include "room.hpp"

#include <chrono>
#include <ctime>
#include <functional>

#include "durable_log.hpp"
#include "protocol/uuid.hpp"

namespace liveshare {

namespace {
constexpr const char* kColors[] = {"#ef4444", "#f59e0b", "#10b981", "#3b82f6",
                                   "#8b5cf6", "#ec4899", "#14b8a6", "#f97316"};

// One frame, shared by every recipient; `size_hint` saves the string's regrowth.
template <typename Encode>
std::shared_ptr<const std::string> make_frame(Encode&& enc, std::size_t size_hint = 0) {
    auto s = std::make_shared<std::string>();
    if (size_hint) s->reserve(size_hint);
    enc(*s);
    return s;
}

// What a relayed frame adds around the payload: type, user_id, seq and the braces.
constexpr std::size_t kRelayOverhead = 96;

}  // namespace

std::string now_rfc3339() {
    auto now = std::chrono::system_clock::now();
    std::time_t t = std::chrono::system_clock::to_time_t(now);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

std::int64_t now_unix_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

Room::Room(RoomSettings s, Metrics& metrics, HotPaths paths)
    : id_(s.id), settings_(std::move(s)), metrics_(metrics), paths_(paths) {
    if (settings_.created_at.empty()) settings_.created_at = now_rfc3339();
    if (settings_.name.empty()) settings_.name = "Room " + settings_.id.substr(0, 8);
}

RoomInfo Room::room_info_locked() const {
    RoomInfo info;
    info.id = settings_.id;
    info.name = settings_.name;
    info.websocket_url = "/room/" + settings_.id;
    info.is_protected = !settings_.password_hash.empty();
    info.user_count = members_.size() + remote_.size();
    info.max_users = settings_.max_users;
    info.owner_id = settings_.owner_id;
    info.created_at = settings_.created_at;
    for (const auto& m : members_) {
        std::size_t h = std::hash<std::string>{}(m.p->user_id());
        info.users.push_back({m.p->user_id(), m.p->username(), kColors[h % std::size(kColors)]});
    }
    for (const auto& [uid, name] : remote_) {
        std::size_t h = std::hash<std::string>{}(uid);
        info.users.push_back({uid, name, kColors[h % std::size(kColors)]});
    }
    return info;
}

Room::JoinResult Room::join(const std::shared_ptr<Participant>& p,
                            std::optional<std::uint64_t> last_seq) {
    std::lock_guard lock(mu_);
    bool replaced = false;
    for (auto it = members_.begin(); it != members_.end(); ++it) {
        if (it->p->user_id() == p->user_id()) {
            // The newest connection of a user wins; the old one learns why it was closed.
            it->p->close_replaced();
            metrics_.sessions_replaced.fetch_add(1);
            erase_member_locked(it);
            replaced = true;
            break;
        }
    }
    // Cluster: the user may come from another node (a reconnect after that node died).
    if (bus_ && remote_.erase(p->user_id())) replaced = true;
    // Cluster: the cluster's presence enforced the cap over every node before this join.
    if (!bus_ && members_.size() >= settings_.max_users) return JoinResult::Full;
    members_.push_back({p, p->wants_seq()});
    if (!members_.back().v2) ++v1_members_;
    if (settings_.owner_id.empty()) settings_.owner_id = p->user_id();

    auto deliver = [&](Participant& to, MsgType type, std::shared_ptr<const std::string> data) {
        metrics_.count_out(type);
        to.deliver({std::move(data), type, Delivery::Control, 0, false});
    };
    RoomInfo info = room_info_locked();
    deliver(*p, MsgType::AuthResult, make_frame([&](std::string& s) { encode_auth_ok(s, info); }));
    if (!replaced) {
        auto joined =
            make_frame([&](std::string& s) { encode_user_joined(s, p->user_id(), p->username()); });
        for (auto& m : members_)
            if (m.p != p) deliver(*m.p, MsgType::UserJoined, joined);
    }
    // liveshare.v2: resume from the log when it still holds everything after last_seq, else
    // the full state with its seq. The original's clients get no state here: they ask for it
    // with RequestGraphState and take the first GraphState as their diagram.
    const bool v2 = p->wants_seq();
    bool resumed = false;
    if (v2 && last_seq && *last_seq <= published_seq_) {
        std::uint64_t oldest = log_.empty() ? published_seq_ + 1 : log_.front().seq;
        if (*last_seq + 1 >= oldest) {
            for (const auto& e : log_)
                if (e.seq > *last_seq) {
                    metrics_.count_out(e.frame.type);
                    p->deliver(e.frame);
                }
            resumed = true;
        }
    }
    if (v2 && !resumed) {
        std::string state = state_.to_json();
        auto opt_seq = v2 ? std::optional<std::uint64_t>(published_seq_) : std::nullopt;
        deliver(*p, MsgType::GraphState, make_frame([&](std::string& s) {
            encode_graph_state(s, state, p->user_id(), opt_seq);
        }));
    }
    if (last_snapshot_ && !resumed) {
        const SnapshotInfo& sn = *last_snapshot_;
        deliver(*p, MsgType::SnapshotRecovery, make_frame([&](std::string& s) {
            encode_snapshot_recovery(s, snapshot_uuid(settings_.id, sn.id), sn.state_json,
                                     sn.element_count, sn.created_at);
        }));
    }
    return JoinResult::Ok;
}

bool Room::leave(const Participant* p) {
    std::lock_guard lock(mu_);
    for (auto it = members_.begin(); it != members_.end(); ++it) {
        if (it->p.get() == p) {
            std::string uid = p->user_id();
            erase_member_locked(it);
            auto left = make_frame([&](std::string& s) { encode_user_left(s, uid); });
            for (auto& m : members_) {
                metrics_.count_out(MsgType::UserLeft);
                m.p->deliver({left, MsgType::UserLeft, Delivery::Control, 0, false});
            }
            if (bus_) bus_->member_left(settings_.id, p);
            return members_.empty();
        }
    }
    return false;
}

template <typename Source>
void Room::fan_out_locked(const Participant* exclude, MsgType type, Delivery d, std::uint64_t key,
                          Source&& source) {
    std::uint64_t n = 0;
    for (auto& m : members_) {
        if (m.p.get() == exclude) continue;
        ++n;
        m.p->deliver({source(m.v2), type, d, key, false});
    }
    metrics_.count_out(type, n);
}

void Room::log_locked(std::uint64_t seq, MsgType type, std::shared_ptr<const std::string> v2) {
    log_.push_back({seq, {std::move(v2), type, Delivery::Durable, 0, false}});
    while (log_.size() > settings_.log_entries) log_.pop_front();
    published_seq_ = seq;
}

template <typename Encode>
void Room::durable_locked(MsgType type, const Encode& encode, bool per_recipient, const GraphOp* op,
                          std::size_t size_hint) {
    auto frame = [&](std::optional<std::uint64_t> seq) {
        return make_frame([&](std::string& s) { encode(s, seq); }, size_hint);
    };
    if (bus_) {
        // Cluster: the cluster orders it; it comes back (to every node) via apply_ordered.
        bus_->publish_durable(settings_.id, type, frame(std::nullopt));
        return;
    }
    const std::uint64_t seq = ++seq_;
    auto v2 = frame(seq);  // the resume log's form, always needed
    if (durable_) {
        // Durability mode: nothing is applied or sent before the op log has it on disk.
        held_.push_back(
            {seq, type, frame(std::nullopt), v2, op ? std::optional<GraphOp>(*op) : std::nullopt});
        durable_->append(shared_from_this(), seq, std::move(v2));
        return;
    }
    if (op) {
        state_.apply(*op);
        dirty_ = true;
    }
    log_locked(seq, type, v2);
    // Durable messages are echoed to the sender: the echo is its acknowledgement and tells it
    // the order (and, with v2, the seq) every other member applies.
    if (per_recipient) {
        // Baseline: every recipient's writer serializes the message again.
        fan_out_locked(nullptr, type, Delivery::Durable, 0, [&](bool want_seq) {
            return frame(want_seq ? std::optional<std::uint64_t>(seq) : std::nullopt);
        });
        return;
    }
    // The original's clients take the form without seq; built only when one of them is here.
    std::shared_ptr<const std::string> v1;
    if (v1_members_) v1 = frame(std::nullopt);
    fan_out_locked(nullptr, type, Delivery::Durable, 0,
                   [&](bool want_seq) { return paths_.fanout->for_recipient(want_seq ? v2 : v1); });
}

void Room::publish_committed(std::uint64_t upto_seq) {
    std::lock_guard lock(mu_);
    while (!held_.empty() && held_.front().seq <= upto_seq) {
        Held h = std::move(held_.front());
        held_.pop_front();
        if (h.op) {
            state_.apply(*h.op);
            dirty_ = true;
        }
        log_locked(h.seq, h.type, h.v2);
        fan_out_locked(nullptr, h.type, Delivery::Durable, 0, [&](bool want_seq) {
            return paths_.fanout->for_recipient(want_seq ? h.v2 : h.v1);
        });
    }
}

void Room::abandon_uncommitted(std::uint64_t upto_seq, const std::string& why) {
    std::lock_guard lock(mu_);
    while (!held_.empty() && held_.front().seq <= upto_seq) held_.pop_front();
    for (auto& m : members_) m.p->close_for_resync(why);
}

void Room::replay_committed(std::uint64_t seq, const Message& m,
                            std::shared_ptr<const std::string> frame) {
    std::lock_guard lock(mu_);
    if (seq <= published_seq_) return;
    if (m.type == MsgType::GraphOp) state_.apply(m.op);
    dirty_ = true;
    seq_ = seq;
    log_locked(seq, m.type, std::move(frame));
}

void Room::relay(Participant& from, const ClientMessage& m) {
    const std::string& uid = from.user_id();
    const RelayEncoding& enc = *paths_.encoding;
    const bool per_recipient = enc.per_recipient();
    const std::size_t hint = m.payload.size() + uid.size() + kRelayOverhead;
    // The default encoding splices the validated payload as it is; a candidate that must
    // prepare (the baseline parses the payload into a DOM) does so once per relay.
    std::unique_ptr<RelayEncoding::Prepared> prepared;
    if (!enc.direct()) prepared = enc.prepare(m.type, uid, m.payload);
    auto encode = [&](std::string& s, std::optional<std::uint64_t> seq) {
        if (prepared)
            prepared->encode(s, seq);
        else
            enc.encode_direct(s, m.type, uid, m.payload, seq);
    };
    if (delivery_of(m.type) == Delivery::Durable) {
        std::lock_guard lock(mu_);
        durable_locked(m.type, encode, per_recipient, m.type == MsgType::GraphOp ? &m.op : nullptr,
                       hint);
        return;
    }
    // Volatile: not echoed; a newer one may replace a queued one (the volatile policy).
    const std::uint64_t key = paths_.volatiles->coalesce_key(uid, m.type);
    auto frame = [&] { return make_frame([&](std::string& s) { encode(s, std::nullopt); }, hint); };
    std::shared_ptr<const std::string> once;
    if (!per_recipient) once = frame();
    std::lock_guard lock(mu_);
    fan_out_locked(&from, m.type, Delivery::Volatile, key, [&](bool) {
        return per_recipient ? frame() : paths_.fanout->for_recipient(once);
    });
    if (bus_) bus_->publish_volatile(settings_.id, m.type, uid, once ? once : frame());
}

namespace {
// The liveshare.v2 form of a frame encoded without seq: "seq" goes right after "type", as
// the encoders put it ({"type":"X","seq":N,"payload":...}); type names have no comma.
std::shared_ptr<const std::string> with_seq(const std::string& v1, std::uint64_t seq) {
    auto out = std::make_shared<std::string>();
    const std::size_t at = v1.find(',');
    out->reserve(v1.size() + 24);
    out->append(v1, 0, at);
    *out += ",\"seq\":";
    *out += std::to_string(seq);
    out->append(v1, at, std::string::npos);
    return out;
}
}  // namespace

void Room::apply_ordered(std::uint64_t seq, MsgType type, std::shared_ptr<const std::string> frame,
                         const GraphOp* op) {
    std::lock_guard lock(mu_);
    if (seq <= published_seq_) return;
    if (op) {
        state_.apply(*op);
        dirty_ = true;
    }
    seq_ = seq;
    auto v2 = with_seq(*frame, seq);
    log_locked(seq, type, v2);
    fan_out_locked(nullptr, type, Delivery::Durable, 0, [&](bool want_seq) {
        return paths_.fanout->for_recipient(want_seq ? v2 : frame);
    });
}

void Room::log_ordered(std::uint64_t seq, MsgType type, const std::string& frame) {
    std::lock_guard lock(mu_);
    log_.push_back({seq, {with_seq(frame, seq), type, Delivery::Durable, 0, false}});
    while (log_.size() > settings_.log_entries) log_.pop_front();
}

void Room::deliver_remote_volatile(MsgType type, const std::string& user_id,
                                   std::shared_ptr<const std::string> frame) {
    const std::uint64_t key = paths_.volatiles->coalesce_key(user_id, type);
    std::lock_guard lock(mu_);
    fan_out_locked(nullptr, type, Delivery::Volatile, key,
                   [&](bool) { return paths_.fanout->for_recipient(frame); });
}

void Room::remote_joined(const std::string& user_id, const std::string& username) {
    std::lock_guard lock(mu_);
    bool replaced = remote_.count(user_id) > 0;
    for (auto it = members_.begin(); it != members_.end(); ++it)
        if (it->p->user_id() == user_id) {
            it->p->close_replaced();
            metrics_.sessions_replaced.fetch_add(1);
            erase_member_locked(it);
            replaced = true;
            break;
        }
    remote_[user_id] = username;
    if (replaced) return;
    auto joined = make_frame([&](std::string& s) { encode_user_joined(s, user_id, username); });
    for (auto& m : members_) {
        metrics_.count_out(MsgType::UserJoined);
        m.p->deliver({joined, MsgType::UserJoined, Delivery::Control, 0, false});
    }
}

void Room::remote_left(const std::string& user_id) {
    std::lock_guard lock(mu_);
    if (!remote_.erase(user_id)) return;
    auto left = make_frame([&](std::string& s) { encode_user_left(s, user_id); });
    for (auto& m : members_) {
        metrics_.count_out(MsgType::UserLeft);
        m.p->deliver({left, MsgType::UserLeft, Delivery::Control, 0, false});
    }
}

void Room::set_remote_members(std::map<std::string, std::string> users) {
    std::lock_guard lock(mu_);
    remote_ = std::move(users);
}

void Room::relay_binary_update(Participant& from, std::span<const std::uint8_t> update) {
    std::lock_guard lock(mu_);
    durable_locked(
        MsgType::Update,
        [&](std::string& s, std::optional<std::uint64_t> seq) {
            encode_update_bytes(s, update, seq);
        },
        paths_.encoding->per_recipient(), nullptr, update.size() * 4 / 3 + kRelayOverhead);
}

void Room::request_state(Participant& to) {
    std::lock_guard lock(mu_);
    if (to.wants_seq() || state_.has_tables()) {
        std::string state = state_.to_json();
        auto opt_seq = to.wants_seq() ? std::optional<std::uint64_t>(published_seq_) : std::nullopt;
        metrics_.count_out(MsgType::GraphState);
        to.deliver({make_frame([&](std::string& s) {
                        encode_graph_state(s, state, to.user_id(), opt_seq);
                    }),
                    MsgType::GraphState, Delivery::Control, 0, false});
        return;
    }
    // No tables here: the diagram may live only in a client (loaded before anyone edited).
    // The longest-present other member answers; alone, the requester gets nothing, as from
    // the original (an empty GraphState would become its diagram and hide a later answer).
    for (auto& m : members_) {
        if (m.p.get() == &to) continue;
        metrics_.count_out(MsgType::RequestGraphState);
        metrics_.state_requests_forwarded.fetch_add(1, std::memory_order_relaxed);
        m.p->deliver(
            {make_frame([&](std::string& s) { encode_request_graph_state(s, to.user_id()); }),
             MsgType::RequestGraphState, Delivery::Control, 0, false});
        return;
    }
    // Cluster: no other member here; a member on another node (the first by user_id) is asked.
    if (bus_ && !remote_.empty())
        bus_->request_state(settings_.id, to.user_id(), remote_.begin()->first);
}

void Room::forward_state(const ClientMessage& response) {
    // The payload's state was validated; re-encode it so the frame is exactly GraphState's.
    const std::string state = response.state.to_json();
    auto frame = make_frame([&](std::string& s) {
        encode_graph_state(s, state, response.target_user_id, std::nullopt);
    });
    std::lock_guard lock(mu_);
    for (auto& m : members_)
        if (m.p->user_id() == response.target_user_id) {
            metrics_.count_out(MsgType::GraphState);
            m.p->deliver({frame, MsgType::GraphState, Delivery::Control, 0, false});
            return;
        }
    if (bus_ && remote_.count(response.target_user_id))
        bus_->forward_state(settings_.id, response.target_user_id, frame);
}

std::optional<RoomSnapshot> Room::take_snapshot_if_dirty() {
    std::lock_guard lock(mu_);
    if (!dirty_) return std::nullopt;
    dirty_ = false;
    return RoomSnapshot{state_.to_json(), published_seq_, state_.element_count()};
}

void Room::restore(SchemaState state, std::uint64_t seq, std::optional<SnapshotInfo> snap) {
    std::lock_guard lock(mu_);
    state_ = std::move(state);
    seq_ = published_seq_ = seq;
    log_.clear();  // a cluster node reloading a room logs the stream's entries again
    dirty_ = false;
    last_snapshot_ = std::move(snap);
}

void Room::set_last_snapshot(SnapshotInfo info) {
    std::lock_guard lock(mu_);
    last_snapshot_ = std::move(info);
}

void Room::clear_members() {
    std::lock_guard lock(mu_);
    members_.clear();
    v1_members_ = 0;
}

void Room::erase_member_locked(std::vector<Member>::iterator it) {
    if (!it->v2) --v1_members_;
    members_.erase(it);
}

void Room::mark_dirty() {
    std::lock_guard lock(mu_);
    dirty_ = true;
}

std::size_t Room::member_count() const {
    std::lock_guard lock(mu_);
    return members_.size() + remote_.size();
}

void Room::attach_bus(RoomBus* bus) {
    std::lock_guard lock(mu_);
    bus_ = bus;
}

bool Room::is_protected() const {
    std::lock_guard lock(mu_);
    return !settings_.password_hash.empty();
}

RoomSettings Room::settings_copy() const {
    std::lock_guard lock(mu_);
    return settings_;
}

void Room::adopt_settings(const RoomSettings& s) {
    std::lock_guard lock(mu_);
    if (!s.name.empty()) settings_.name = s.name;
    if (!s.owner_id.empty()) settings_.owner_id = s.owner_id;
    if (!s.created_at.empty()) settings_.created_at = s.created_at;
    settings_.password_hash = s.password_hash;
    if (s.max_users) settings_.max_users = s.max_users;
}

void Room::remote_state_request(const std::string& requester, const std::string& asked) {
    std::lock_guard lock(mu_);
    for (auto& m : members_)
        if (m.p->user_id() == asked) {
            metrics_.count_out(MsgType::RequestGraphState);
            metrics_.state_requests_forwarded.fetch_add(1, std::memory_order_relaxed);
            m.p->deliver(
                {make_frame([&](std::string& s) { encode_request_graph_state(s, requester); }),
                 MsgType::RequestGraphState, Delivery::Control, 0, false});
            return;
        }
}

void Room::deliver_state(const std::string& target, std::shared_ptr<const std::string> frame) {
    std::lock_guard lock(mu_);
    for (auto& m : members_)
        if (m.p->user_id() == target) {
            metrics_.count_out(MsgType::GraphState);
            m.p->deliver({frame, MsgType::GraphState, Delivery::Control, 0, false});
        }
}

std::uint64_t Room::seq() const {
    std::lock_guard lock(mu_);
    return published_seq_;
}

std::string Room::state_json() const {
    std::lock_guard lock(mu_);
    return state_.to_json();
}

}  // namespace liveshare
