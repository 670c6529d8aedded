// libFuzzer: the graph-op applier. Bytes become a sequence of ops over a few ids; applying
// them must never crash, and the state must survive its own JSON round trip unchanged.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "protocol/codec.hpp"
#include "protocol/schema_state.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const liveshare::NodeId ids[] = {1, 2, 4294967295u};
    static const char* uuids[] = {"00000000-0000-4000-8000-000000000001",
                                  "00000000-0000-4000-8000-000000000002",
                                  "FFFFFFFF-FFFF-4FFF-BFFF-FFFFFFFFFFFF"};
    liveshare::SchemaState state;
    for (std::size_t i = 0; i + 4 <= size; i += 4) {
        liveshare::GraphOp op;
        op.type = static_cast<liveshare::OpType>(data[i] % 9);
        op.node_id = ids[data[i + 1] % 3];
        op.table_uuid = uuids[data[i + 1] % 3];
        op.edge_id = ids[data[i + 1] / 3 % 3];
        op.from_node = ids[data[i + 2] % 3];
        op.to_node = ids[data[i + 2] / 3 % 3];
        op.column_index = data[i + 3] % 4;
        op.name = std::string(data[i + 3] % 5, 'n');
        op.column.name = "c" + std::to_string(data[i + 2] % 7);
        op.position = {static_cast<double>(data[i + 3]), -1.5};
        if (data[i] & 0x80) op.version = data[i + 2] % 8;
        if (data[i] & 0x40) op.last_modified_at = static_cast<std::int64_t>(data[i + 3]) - 100;
        state.apply(op);
    }
    static liveshare::Parser parser;
    liveshare::SchemaState back;
    std::string err;
    if (!liveshare::parse_state(parser, state.to_json(), back, err) || !(back == state))
        std::abort();
    return 0;
}
