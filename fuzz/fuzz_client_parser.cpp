// libFuzzer: the server's parser of client messages, plus the relay splice of what it accepts.
// Anything accepted must splice into a frame that parses back as a server message.
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
    if (m.payload.empty()) return 0;
    std::string out;
    liveshare::encode_relay(out, m.type, "0b8e9d3c-5a1f-4e2b-8c7d-9f0a1b2c3d4e", m.payload, 1);
    liveshare::ServerMessage back;
    std::string err2;
    // The server relays only validated payloads: the spliced frame must be valid JSON. It may
    // still lack server-side required fields (e.g. an Auth), so only JSON errors count.
    if (!check.parse_server(out, back, err2) && err2.find("malformed") != std::string::npos) std::abort();
    return 0;
}
