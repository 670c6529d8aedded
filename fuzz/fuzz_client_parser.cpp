// libFuzzer: the server's parser of client messages, plus what the server makes of what it
// accepts. A relayed message must come out as a valid server message of the original's types
// (user_id added except on Update/SyncStep), and a GraphStateResponse's state, forwarded as
// GraphState (the join flow), must parse back to the same state.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "protocol/codec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static liveshare::Parser parser;
    static liveshare::Parser check;
    std::string buf(reinterpret_cast<const char*>(data), size);
    buf.append(liveshare::kParsePadding, '\0');
    liveshare::ClientMessage m;
    std::string err;
    if (!parser.parse_client(buf.data(), size, m, err)) return 0;
    liveshare::ServerMessage back;
    std::string err2;
    if (m.type == liveshare::MsgType::GraphStateResponse) {
        std::string out;
        liveshare::encode_graph_state(out, m.state.to_json(), m.target_user_id, std::nullopt);
        if (!check.parse_server(out, back, err2) || !(back.state == m.state) ||
            back.target_user_id != m.target_user_id)
            std::abort();
        return 0;
    }
    if (liveshare::delivery_of(m.type) == liveshare::Delivery::Control) return 0;
    std::string out;
    liveshare::encode_relay(out, m.type, "0b8e9d3c-5a1f-4e2b-8c7d-9f0a1b2c3d4e", m.payload, 1);
    if (!check.parse_server(out, back, err2) || back.type != m.type) std::abort();
    return 0;
}
