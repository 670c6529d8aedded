// What a simulated user does with each message it receives: batches split, deliveries
// scanned or parsed, the protocol's answers (join, resume, state, errors) and the delivery
// accounting (order, duplicates, latency). The connection side is sim_user.cpp.
#include "users/sim_user.hpp"

namespace harness {

using liveshare::MsgType;

// A text message, in place in the read buffer (padding behind it).
void SimUser::on_text(char* data, std::size_t n) {
    if (n && data[0] == '[') {
        // A batch frame: each message in order, parsed where it lies.
        std::string err;
        if (!(lean() && split_objects({data, n}, parts_)) &&
            !parser_.split_batch(data, n, parts_, err)) {
            ++metrics.received;
            error("unparseable batch frame");
            return;
        }
        metrics.received += parts_.size();
        for (auto part : parts_) handle(part.data(), part.size());
        return;
    }
    ++metrics.received;
    handle(data, n);
}

void SimUser::handle(const char* data, std::size_t n) {
    if (lean() && scan_delivery({data, n}, scan_)) {
        ++metrics.scanned;
        if (++until_check_ >= sh_.cfg.validate_every) {
            until_check_ = 0;
            if (!scan_matches_parse(data, n)) return;
        }
        metrics.bytes_in_by_type[liveshare::index_of(scan_.type)] += n;
        ++metrics.msgs_in_by_type[liveshare::index_of(scan_.type)];
        if (scan_.type == MsgType::GraphOp)
            on_graph_op(scan_.seq, scan_.user_id, scan_.marker);
        else
            on_volatile(scan_.marker);
        return;
    }
    std::string err;
    if (!parser_.parse_server(data, n, msg_, err)) {
        error("unparseable server message");
        return;
    }
    metrics.bytes_in_by_type[liveshare::index_of(msg_.type)] += n;
    ++metrics.msgs_in_by_type[liveshare::index_of(msg_.type)];
    switch (msg_.type) {
        case MsgType::AuthResult:
            return on_auth_result();
        case MsgType::Pong:
            return on_pong();
        case MsgType::GraphState:
            return on_graph_state();
        case MsgType::RequestGraphState: {
            // The server asks us for our diagram on behalf of a joiner (the original's flow).
            std::string resp;
            liveshare::encode_graph_state_response(resp, msg_.requester_id, state.to_json());
            send_control(std::move(resp), MsgType::GraphStateResponse);
            return;
        }
        case MsgType::Error:
            return on_error_message();
        case MsgType::GraphOp:
            state.apply(msg_.op);
            return on_graph_op(msg_.seq, msg_.user_id, extract_marker(msg_));
        default:
            if (liveshare::delivery_of(msg_.type) == liveshare::Delivery::Volatile)
                on_volatile(extract_marker(msg_));
            return;
    }
}

void SimUser::on_auth_result() {
    if (!msg_.success) return fail("auth failed: " + msg_.error);
    attempts_ = 0;
    if (!v2_) {
        // The original's flow: ask for the diagram; the Pong behind it ends the join.
        stage_ = Stage::Syncing;
        std::string req, ping;
        liveshare::encode_simple(req, MsgType::RequestGraphState);
        send_control(std::move(req), MsgType::RequestGraphState);
        liveshare::encode_simple(ping, MsgType::Ping);
        send_control(std::move(ping), MsgType::Ping);
        if (reconnecting_) count(&UserMetrics::reconnects, &Shared::reconnects);
        return;
    }
    stage_ = Stage::Live;
    if (reconnecting_) {
        // Back in the room. The replay (or the state) was queued with the AuthResult,
        // so a Pong to this Ping marks its end.
        count(&UserMetrics::reconnects, &Shared::reconnects);
        stage_ = Stage::Resuming;
        std::string ping;
        liveshare::encode_simple(ping, MsgType::Ping);
        send_control(std::move(ping), MsgType::Ping);
    }
}

void SimUser::on_pong() {
    if (stage_ == Stage::Syncing) {
        mark_joined();
        // Without liveshare.v2 there is no replay: what was missed is lost, not resent.
        if (reconnecting_)
            resynced_ = true;
        else
            stage_ = Stage::Live;
    }
    if (resuming()) {
        reconnecting_ = false;
        stage_ = Stage::Live;
        if (resynced_)
            resynced_ = false;
        else
            count(&UserMetrics::resumes, &Shared::resumes);
        // What was written but never echoed did not reach the room: send it again,
        // before anything newer, in its original order.
        for (auto it = unacked_.rbegin(); it != unacked_.rend(); ++it) {
            outbox_.push_front(it->second);
            ++metrics.resent;
        }
        unacked_.clear();
    }
}

void SimUser::on_graph_state() {
    // A GraphState for someone else, or after our first (the original client's rule).
    if (!msg_.target_user_id.empty() && msg_.target_user_id != sh_.user_ids[index_]) return;
    if (!v2_ && stage_ != Stage::Syncing && joined) return;
    if (resuming() && msg_.seq && last_seq_ && *msg_.seq < *last_seq_) {
        ++metrics.rollbacks;
        last_seq_ = msg_.seq;  // the server's history restarts here
    }
    if (msg_.seq) last_seq_ = std::max(last_seq_.value_or(0), *msg_.seq);
    if (resuming()) {
        ++metrics.resyncs;  // the log did not reach back: the whole state instead
        resynced_ = true;
    }
    state = std::move(msg_.state);
    if (v2_ && stage_ != Stage::Connecting) mark_joined();
}

void SimUser::on_error_message() {
    // A refused graph op was not applied: the others will not get it. Our server names
    // the refused type; the original does not, so its text is the fallback.
    const bool refused_op = msg_.rejected ? *msg_.rejected == MsgType::GraphOp
                                          : msg_.error.find("GraphOp") != std::string::npos;
    // "unavailable": a cluster node that cannot order it now (Redis out of reach) says so, as
    // designed; counted as refused, not as an error.
    const bool unavailable = msg_.reason == liveshare::ErrorKind::Unavailable;
    if (!(unavailable && refused_op)) error("server error: " + msg_.code);
    if (refused_op && msg_.reason != liveshare::ErrorKind::Validation) {
        ++metrics.durable_rejected;
        if (unavailable) ++metrics.durable_unavailable;
        sh_.room_accepted[room].fetch_sub(1);
    }
}

// A durable delivery, from the full parse or from the scan: order, duplicates, latency.
void SimUser::on_graph_op(std::optional<std::uint64_t> seq, std::string_view sender,
                          const std::optional<Marker>& mark) {
    const auto now = sh_.now_us();
    if (seq) last_seq_ = std::max(last_seq_.value_or(0), *seq);
    if (resuming()) ++metrics.replayed;
    auto it = sh_.index_of.find(sender);
    if (it == sh_.index_of.end() || !mark) return;
    if (it->second == index_) {
        ++metrics.echoes;
        unacked_.erase(mark->seq);
        return;
    }
    // One tracker per member of the room.
    if (sh_.room_of[it->second] != room) return;                    // not of this room: not counted
    if (sh_.windowed && !in_window(it->second, mark->seq)) return;  // sent before or after us
    const std::size_t member = sh_.member_of[it->second];
    if (member >= trackers_.size()) return;
    SeqTracker& t = trackers_[member];
    if (t.seen.size() <= mark->seq) t.seen.resize(mark->seq + 64, false);
    if (t.seen[mark->seq]) {
        ++metrics.durable_duplicates;
        return;
    }
    t.seen[mark->seq] = true;
    if (t.any && mark->seq < t.max_seen) ++metrics.durable_out_of_order;
    t.max_seen = std::max(t.max_seen, mark->seq);
    t.any = true;
    ++metrics.durable_received;
    sh_.durable_received.fetch_add(1, std::memory_order_relaxed);
    if (mark->t_us < sh_.warmup_us) return;
    auto lat = static_cast<std::uint64_t>(std::max<std::int64_t>(now - mark->t_us, 0));
    metrics.latency.record(lat);
    if (plan_) record_phase(mark->t_us, lat);
    if (sh_.addresses.size() > 1) {
        const bool cross =
            sh_.node_of[it->second].load(std::memory_order_relaxed) != static_cast<int>(node_);
        (cross ? metrics.latency_cross_node : metrics.latency_same_node).record(lat);
    }
    if (sh_.cfg.progress || sh_.cfg.series_interval.count())
        sh_.live_hist[Histogram::index_of(lat)].fetch_add(1, std::memory_order_relaxed);
    if (const std::int64_t actual = sh_.sent_time(it->second, mark->seq); actual > 0)
        metrics.latency_uncorrected.record(
            static_cast<std::uint64_t>(std::max<std::int64_t>(now - actual, 0)));
}

// The latency by the phase the message was sent in (by its name: a cycle's phases repeat).
void SimUser::record_phase(std::int64_t sent_us, std::uint64_t lat) {
    const auto& plan = *sh_.cfg.plan;
    const auto& phases = plan.phases;
    auto it = std::upper_bound(phases.begin(), phases.end(), sent_us,
                               [](std::int64_t t, const PhaseSpan& p) { return t < p.start_us; });
    if (it == phases.begin() || sent_us >= std::prev(it)->end_us) return;
    if (metrics.phase_latency.size() < plan.phase_slots)
        metrics.phase_latency.resize(plan.phase_slots);
    metrics.phase_latency[std::prev(it)->slot].record(lat);
}

void SimUser::on_volatile(const std::optional<Marker>& mark) {
    ++metrics.volatile_received;
    sh_.volatile_received.fetch_add(1, std::memory_order_relaxed);
    if (mark && mark->t_us >= sh_.warmup_us)
        metrics.staleness.record(
            static_cast<std::uint64_t>(std::max<std::int64_t>(sh_.now_us() - mark->t_us, 0)));
}

// The sample: this scanned delivery parsed in full as well; the two must agree on every
// field the delivery is measured by. False (an error counted) when they do not.
bool SimUser::scan_matches_parse(const char* data, std::size_t n) {
    ++metrics.scan_checked;
    std::string err;
    if (!parser_.parse_server(data, n, msg_, err)) {
        error("unparseable server message");
        return false;
    }
    const auto mark = extract_marker(msg_);
    const bool same_marker =
        mark.has_value() == scan_.marker.has_value() &&
        (!mark || (mark->seq == scan_.marker->seq && mark->t_us == scan_.marker->t_us));
    if (msg_.type != scan_.type || msg_.seq != scan_.seq || msg_.user_id != scan_.user_id ||
        !same_marker) {
        error("a delivery's marker scan disagrees with its full parse");
        return false;
    }
    return true;
}

}  // namespace harness
