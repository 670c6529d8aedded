// The REST routes, apart from HTTP's mechanics (net/http_session.cpp reads and writes the
// messages): GET /healthz, GET /metrics, POST /room, POST /room/{uuid}, GET /room/{uuid}/info.
#pragma once
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "net/context.hpp"

namespace liveshare {

struct RestReply {
    unsigned status = 200;
    std::string body;
    std::string content_type = "application/json";
};

// Answers one request through `reply`, called exactly once: at once, or later from another
// thread (a password hash on the KDF pool, the cluster's answer to a create).
void serve_rest(Context& ctx, std::string_view method, std::string_view target, std::string body,
                std::function<void(RestReply)> reply);

// The decoded path segments of a request target ("/room/ID/info" -> room, ID, info); none for
// a target that is not an origin-form URL.
std::vector<std::string> path_segments(std::string_view target);

}  // namespace liveshare
