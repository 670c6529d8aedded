// libFuzzer: the harness's parser of server messages (it must survive any server), and batch
// frames.
#include <cstdint>
#include <string>
#include <vector>

#include "protocol/codec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static liveshare::Parser parser;
    std::string buf(reinterpret_cast<const char*>(data), size);
    buf.append(liveshare::kParsePadding, '\0');
    liveshare::ServerMessage m;
    std::string err;
    if (size && data[0] == '[') {
        std::vector<std::string_view> parts;
        if (parser.split_batch(buf.data(), size, parts, err))
            for (auto p : parts) {
                liveshare::Parser inner;
                inner.parse_server(p, m, err);
            }
        return 0;
    }
    parser.parse_server(buf.data(), size, m, err);
    return 0;
}
