// The `write:frame` transport (and the only one for permessage-deflate and batch windows):
// Beast's WebSocket stream on the upgraded socket. One of the two Beast translation units
// (the other is net/http_session.cpp); Beast is heavy to compile.
#pragma once
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <string>

#include "net/context.hpp"
#include "net/loops.hpp"

namespace liveshare {

// On `loop`'s thread: answers the upgrade `req` (with `subprotocol` when not empty) and serves
// the WebSocket with Beast's framing.
void start_beast_session(boost::asio::ip::tcp::socket socket, Context& ctx, Loop& loop,
                         std::string room_id, bool wants_seq, bool batch,
                         boost::beast::http::request<boost::beast::http::string_body> req,
                         std::string subprotocol);

}  // namespace liveshare
