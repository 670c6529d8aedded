#include "room.hpp"

#include <chrono>
#include <ctime>

#include "durable_log.hpp"
#include "protocol/uuid.hpp"

namespace liveshare {

namespace {
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
    : id_(s.id),
      settings_(std::move(s)),
      metrics_(metrics),
      paths_(paths),
      members_(metrics),
      log_(settings_.log_entries) {
    if (settings_.created_at.empty()) settings_.created_at = now_rfc3339();
    if (settings_.name.empty()) settings_.name = "Room " + settings_.id.substr(0, 8);
}

RoomInfo Room::room_info_locked() const {
    RoomInfo info;
    info.id = settings_.id;
    info.name = settings_.name;
    info.websocket_url = "/room/" + settings_.id;
    info.is_protected = !settings_.password_hash.empty();
    info.user_count = members_.count();
    info.max_users = settings_.max_users;
    info.owner_id = settings_.owner_id;
    info.created_at = settings_.created_at;
    info.users = members_.users();
    return info;
}

Room::JoinResult Room::join(const std::shared_ptr<Participant>& p,
                            std::optional<std::uint64_t> last_seq) {
    std::lock_guard lock(mu_);
    bool replaced = members_.close_replaced(p->user_id());
    // Cluster: the user may come from another node (a reconnect after that node died).
    if (bus_ && members_.remove_remote(p->user_id())) replaced = true;
    // Cluster: the cluster's presence enforced the cap over every node before this join.
    if (!bus_ && members_.local_count() >= settings_.max_users) return JoinResult::Full;
    members_.add(p);
    if (settings_.owner_id.empty()) settings_.owner_id = p->user_id();
    const RoomInfo info = room_info_locked();
    members_.tell(*p, MsgType::AuthResult,
                  make_frame([&](std::string& s) { encode_auth_ok(s, info); }));
    if (!replaced) {
        members_.tell_all(MsgType::UserJoined, make_frame([&](std::string& s) {
                              encode_user_joined(s, p->user_id(), p->username());
                          }),
                          p.get());
    }
    send_state_on_join_locked(*p, last_seq);
    return JoinResult::Ok;
}

void Room::send_state_on_join_locked(Participant& p, std::optional<std::uint64_t> last_seq) {
    // liveshare.v2: resume from the log when it still holds everything after last_seq, else
    // the full state with its seq. The original's clients get no state here: they ask for it
    // with RequestGraphState and take the first GraphState as their diagram.
    const bool v2 = p.wants_seq();
    const bool resumed = v2 && last_seq && log_.resume_after(*last_seq, [&](const OutFrame& f) {
        metrics_.count_out(f.type);
        p.deliver(f);
    });
    if (v2 && !resumed) {
        const std::string state = state_.schema().to_json();
        const std::uint64_t seq = log_.published();
        members_.tell(p, MsgType::GraphState, make_frame([&](std::string& s) {
                          encode_graph_state(s, state, p.user_id(), seq);
                      }));
    }
    if (state_.last_snapshot() && !resumed) {
        const SnapshotInfo& sn = *state_.last_snapshot();
        members_.tell(p, MsgType::SnapshotRecovery, make_frame([&](std::string& s) {
                          encode_snapshot_recovery(s, snapshot_uuid(settings_.id, sn.id),
                                                   sn.state_json, sn.element_count, sn.created_at);
                      }));
    }
}

bool Room::leave(const Participant* p) {
    std::lock_guard lock(mu_);
    if (!members_.remove(p)) return false;
    members_.tell_all(MsgType::UserLeft,
                      make_frame([&](std::string& s) { encode_user_left(s, p->user_id()); }));
    if (bus_) bus_->member_left(settings_.id, p);
    return members_.empty();
}

void Room::publish_locked(std::uint64_t seq, MsgType type, const GraphOp* op,
                          std::shared_ptr<const std::string> v1,
                          std::shared_ptr<const std::string> v2) {
    if (op) state_.apply(*op);
    log_.publish(seq, type, v2);
    // Durable messages are echoed to the sender: the echo is its acknowledgement and tells it
    // the order (and, with v2, the seq) every other member applies.
    members_.fan_out(nullptr, type, Delivery::Durable, 0, [&](bool want_seq, auto& own) {
        return &paths_.fanout->for_recipient(want_seq ? v2 : v1, own);
    });
}

template <typename Encode>
void Room::durable_locked(const Participant& from, MsgType type, const Encode& encode,
                          bool per_recipient, const GraphOp* op, std::size_t size_hint) {
    auto frame = [&](std::optional<std::uint64_t> seq) {
        return make_frame([&](std::string& s) { encode(s, seq); }, size_hint);
    };
    if (bus_) {
        // Cluster: the cluster orders it; it comes back (to every node) via apply_ordered.
        bus_->publish_durable(settings_.id, type, frame(std::nullopt), &from);
        return;
    }
    const std::uint64_t seq = log_.next_seq();
    auto v2 = frame(seq);  // the resume log's form, always needed
    if (durable_) {
        // Durability mode: nothing is applied or sent before the op log has it on disk.
        held_.push_back(
            {seq, type, frame(std::nullopt), v2, op ? std::optional<GraphOp>(*op) : std::nullopt});
        durable_->append(shared_from_this(), seq, std::move(v2));
        return;
    }
    if (!per_recipient) {
        // The original's clients take the form without seq; built only when one of them is here.
        return publish_locked(seq, type, op, members_.v1_count() ? frame(std::nullopt) : nullptr,
                              std::move(v2));
    }
    // Baseline: every recipient's writer serializes the message again.
    if (op) state_.apply(*op);
    log_.publish(seq, type, v2);
    members_.fan_out(nullptr, type, Delivery::Durable, 0,
                     [&](bool want_seq, auto& own) -> const std::shared_ptr<const std::string>* {
                         own = frame(want_seq ? std::optional<std::uint64_t>(seq) : std::nullopt);
                         return &own;
                     });
}

void Room::publish_committed(std::uint64_t upto_seq) {
    std::lock_guard lock(mu_);
    while (!held_.empty() && held_.front().seq <= upto_seq) {
        Held h = std::move(held_.front());
        held_.pop_front();
        publish_locked(h.seq, h.type, h.op ? &*h.op : nullptr, std::move(h.v1), std::move(h.v2));
    }
}

void Room::abandon_uncommitted(std::uint64_t upto_seq, const std::string& why) {
    std::lock_guard lock(mu_);
    while (!held_.empty() && held_.front().seq <= upto_seq) held_.pop_front();
    for (auto& m : members_.local()) m.p->close_for_resync(why);
}

void Room::replay_committed(std::uint64_t seq, const Message& m,
                            std::shared_ptr<const std::string> frame) {
    std::lock_guard lock(mu_);
    if (seq <= log_.published()) return;
    if (m.type == MsgType::GraphOp) state_.apply(m.op);
    state_.mark_dirty();
    log_.advance_to(seq);
    log_.publish(seq, m.type, std::move(frame));
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
        durable_locked(from, m.type, encode, per_recipient,
                       m.type == MsgType::GraphOp ? &m.op : nullptr, hint);
        return;
    }
    // Volatile: not echoed; a newer one may replace a queued one (the volatile policy).
    const std::uint64_t key = paths_.volatiles->coalesce_key(uid, m.type);
    auto frame = [&] { return make_frame([&](std::string& s) { encode(s, std::nullopt); }, hint); };
    std::shared_ptr<const std::string> once;
    if (!per_recipient) once = frame();
    std::lock_guard lock(mu_);
    members_.fan_out(&from, m.type, Delivery::Volatile, key,
                     [&](bool, auto& own) -> const std::shared_ptr<const std::string>* {
                         if (!per_recipient) return &paths_.fanout->for_recipient(once, own);
                         own = frame();
                         return &own;
                     });
    if (bus_) bus_->publish_volatile(settings_.id, m.type, uid, once ? once : frame());
}

void Room::relay_binary_update(Participant& from, std::span<const std::uint8_t> update) {
    std::lock_guard lock(mu_);
    durable_locked(
        from, MsgType::Update,
        [&](std::string& s, std::optional<std::uint64_t> seq) {
            encode_update_bytes(s, update, seq);
        },
        paths_.encoding->per_recipient(), nullptr, update.size() * 4 / 3 + kRelayOverhead);
}

void Room::request_state(Participant& to) {
    std::lock_guard lock(mu_);
    if (to.wants_seq() || state_.schema().has_tables()) {
        const std::string state = state_.schema().to_json();
        auto opt_seq =
            to.wants_seq() ? std::optional<std::uint64_t>(log_.published()) : std::nullopt;
        members_.tell(to, MsgType::GraphState, make_frame([&](std::string& s) {
                          encode_graph_state(s, state, to.user_id(), opt_seq);
                      }));
        return;
    }
    // No tables here: the diagram may live only in a client (loaded before anyone edited).
    // The longest-present other member answers; alone, the requester gets nothing, as from
    // the original (an empty GraphState would become its diagram and hide a later answer).
    if (Participant* other = members_.first_other_than(&to)) {
        metrics_.state_requests_forwarded.fetch_add(1, std::memory_order_relaxed);
        members_.tell(*other, MsgType::RequestGraphState, make_frame([&](std::string& s) {
            encode_request_graph_state(s, to.user_id());
        }));
        return;
    }
    // Cluster: no other member here; a member on another node (the first by user_id) is asked.
    if (bus_ && !members_.remote().empty())
        bus_->request_state(settings_.id, to.user_id(), members_.remote().begin()->first);
}

void Room::forward_state(const ClientMessage& response) {
    // The payload's state was validated; re-encode it so the frame is exactly GraphState's.
    const std::string state = response.state.to_json();
    auto frame = make_frame([&](std::string& s) {
        encode_graph_state(s, state, response.target_user_id, std::nullopt);
    });
    std::lock_guard lock(mu_);
    if (Participant* target = members_.find(response.target_user_id))
        return members_.tell(*target, MsgType::GraphState, std::move(frame));
    if (bus_ && members_.remote().count(response.target_user_id))
        bus_->forward_state(settings_.id, response.target_user_id, frame);
}

std::optional<RoomSnapshot> Room::take_snapshot_if_dirty() {
    std::lock_guard lock(mu_);
    return state_.take_snapshot_if_dirty(log_.published());
}

void Room::restore(SchemaState state, std::uint64_t seq, std::optional<SnapshotInfo> snap) {
    std::lock_guard lock(mu_);
    state_.restore(std::move(state), std::move(snap));
    log_.reset(seq);
}

void Room::set_last_snapshot(SnapshotInfo info) {
    std::lock_guard lock(mu_);
    state_.set_last_snapshot(std::move(info));
}

void Room::clear_members() {
    std::lock_guard lock(mu_);
    members_.clear();
}

void Room::mark_dirty() {
    std::lock_guard lock(mu_);
    state_.mark_dirty();
}

std::size_t Room::member_count() const {
    std::lock_guard lock(mu_);
    return members_.count();
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

std::uint64_t Room::seq() const {
    std::lock_guard lock(mu_);
    return log_.published();
}

std::string Room::state_json() const {
    std::lock_guard lock(mu_);
    return state_.schema().to_json();
}

}  // namespace liveshare
