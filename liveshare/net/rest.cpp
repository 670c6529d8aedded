#include "net/rest.hpp"

#include <boost/asio/post.hpp>
#include <boost/url/parse.hpp>
#include <memory>
#include <optional>
#include <random>

#include "log.hpp"
#include "password.hpp"
#include "protocol/codec.hpp"
#include "protocol/json_write.hpp"
#include "protocol/uuid.hpp"

namespace liveshare {

namespace net = boost::asio;

namespace {

using Reply = std::function<void(RestReply)>;

std::string random_uuid() {
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    const std::uint64_t a = rng();
    return format_uuid_v4(a, rng());
}

// {"error":"..."} with the text escaped (it may quote the client's own input).
RestReply error_reply(unsigned status, std::string_view text) {
    std::string out = "{\"error\":";
    json::append_string(out, text);
    out += "}\n";
    return {status, std::move(out)};
}

std::string info_json(const Room& room) {
    const auto s = room.settings_copy();
    RoomInfo info{s.id,
                  s.name,
                  "/room/" + s.id,
                  s.owner_id,
                  s.created_at,
                  room.is_protected(),
                  room.member_count(),
                  s.max_users,
                  {}};
    std::string out;
    encode_room_info(out, info);
    out += '\n';
    return out;
}

// The room in this process's registry, answered 201; `adopt`: a room this node made already
// (a WebSocket join came first) takes the settings just recorded.
RestReply create_local(Context& ctx, const RoomSettings& s, bool adopt) {
    auto [room, st] = ctx.rooms.create(s);
    if (st == RoomRegistry::Status::Exists && adopt)
        room->adopt_settings(s);
    else if (st == RoomRegistry::Status::Exists)
        return error_reply(409, "Room already exists");
    if (!room) return error_reply(503, "Too many rooms");
    return {201, info_json(*room)};
}

// With the password's hash made (none: hashing failed): recorded here, or first in the cluster
// (the first node to record a room wins).
void finish_create(Context& ctx, RoomSettings s, std::optional<std::string> hash, Reply reply) {
    if (!hash) return reply(error_reply(500, "password hashing failed"));
    s.password_hash = std::move(*hash);
    if (!ctx.cluster) return reply(create_local(ctx, s, false));
    if (s.max_users == 0 || s.max_users > ctx.cfg.max_users_per_room)
        s.max_users = ctx.cfg.max_users_per_room;
    s.created_at = now_rfc3339();
    using Created = cluster::Cluster::CreateResult;
    ctx.cluster->create_room(s, [&ctx, s, reply = std::move(reply)](Created result) {
        if (result == Created::Failed) return reply(error_reply(503, "the cluster did not answer"));
        if (result == Created::Exists) return reply(error_reply(409, "Room already exists"));
        reply(create_local(ctx, s, true));
    });
}

void create_room(Context& ctx, std::string id, const std::string& body, Reply reply) {
    RoomCreateRequest req;
    std::string err;
    if (!parse_room_create(body, req, err)) return reply(error_reply(400, err));
    if (ctx.rooms.find(id)) return reply(error_reply(409, "Room already exists"));
    RoomSettings s{id, req.name, req.owner_id, "", ""};
    s.max_users = req.max_users;
    if (!req.password) return finish_create(ctx, std::move(s), std::string(), std::move(reply));
    // bcrypt on the KDF pool, not on an I/O thread.
    net::post(ctx.kdf,
              [&ctx, s = std::move(s), pw = *req.password, reply = std::move(reply)]() mutable {
                  std::optional<std::string> hash;
                  try {
                      hash = hash_password(pw, ctx.cfg.bcrypt_cost);
                  } catch (const std::exception& e) {
                      log::line(std::string("hash_password: ") + e.what());
                  }
                  finish_create(ctx, std::move(s), std::move(hash), std::move(reply));
              });
}

}  // namespace

std::vector<std::string> path_segments(std::string_view target) {
    std::vector<std::string> out;
    auto u = boost::urls::parse_origin_form(target);
    if (!u) return out;
    for (auto seg : u->segments()) out.push_back(seg);
    return out;
}

void serve_rest(Context& ctx, std::string_view method, std::string_view target, std::string body,
                Reply reply) {
    const auto path = path_segments(target);
    const bool get = method == "GET", post = method == "POST";
    if (path.size() == 1 && path[0] == "healthz" && get) {
        return reply({200, "{\"status\":\"ok\",\"connections\":" +
                               std::to_string(ctx.metrics.connections.load()) +
                               ",\"rooms\":" + std::to_string(ctx.metrics.rooms.load()) + "}\n"});
    }
    if (path.size() == 1 && path[0] == "metrics" && get)
        return reply({200,
                      ctx.metrics.render() + (ctx.recorder ? ctx.recorder->render_metrics() : ""),
                      "text/plain; version=0.0.4"});
    if (!path.empty() && path[0] == "room") {
        if (post && path.size() == 1)
            return create_room(ctx, random_uuid(), body, std::move(reply));
        if (post && path.size() == 2 && is_valid_room_id(path[1]))
            return create_room(ctx, path[1], body, std::move(reply));
        if (get && path.size() == 3 && path[2] == "info" && is_valid_room_id(path[1])) {
            auto room = ctx.rooms.find(path[1]);
            if (!room) return reply(error_reply(404, "Room not found"));
            return reply({200, info_json(*room)});
        }
    }
    reply({404, "not found\n", "text/plain"});
}

}  // namespace liveshare
