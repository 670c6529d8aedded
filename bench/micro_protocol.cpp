// Micro benchmarks of the protocol hot path as the server runs it: parse a client message,
// splice it into one relay frame. Each is checked against a reference before it is timed.
#include <benchmark/benchmark.h>

#include "histogram.hpp"
#include "protocol/codec.hpp"

namespace {

std::string sample(liveshare::MsgType t) {
    std::string s;
    liveshare::GraphOp op;
    op.node_id = op.table_uuid = "6f1c2a90-1b7e-4c8e-9a57-0d4b3e8f2a11";
    switch (t) {
        case liveshare::MsgType::GraphOp:
            op.type = liveshare::OpType::MoveTable;
            op.position = {120.5, 340.25};
            liveshare::encode_graph_op(s, op);
            break;
        case liveshare::MsgType::CursorMove: liveshare::encode_cursor_move(s, {512.5, 300}); break;
        default: liveshare::encode_awareness(s, "alice", {10, 20}, true); break;
    }
    return s;
}

void parse_simdjson(benchmark::State& st, liveshare::MsgType t) {
    std::string text = sample(t);
    const std::size_t n = text.size();
    text.append(liveshare::kParsePadding, '\0');
    liveshare::Parser parser;
    liveshare::ClientMessage m;
    std::string err;
    if (!parser.parse_client(text.data(), n, m, err) || m.type != t) {
        st.SkipWithError(("reference parse failed: " + err).c_str());
        return;
    }
    for (auto _ : st) {
        bool ok = parser.parse_client(text.data(), n, m, err);
        benchmark::DoNotOptimize(ok);
    }
    st.SetBytesProcessed(static_cast<std::int64_t>(st.iterations() * n));
}

void serialize_splice(benchmark::State& st, liveshare::MsgType t) {
    std::string text = sample(t);
    const std::size_t n = text.size();
    text.append(liveshare::kParsePadding, '\0');
    liveshare::Parser parser;
    liveshare::ClientMessage m;
    std::string err;
    if (!parser.parse_client(text.data(), n, m, err)) {
        st.SkipWithError(err.c_str());
        return;
    }
    // Reference: the spliced frame must parse back to the same message with the user_id.
    std::string out;
    liveshare::encode_relay(out, t, "0b8e9d3c-5a1f-4e2b-8c7d-9f0a1b2c3d4e", m.payload, 7);
    liveshare::ServerMessage back;
    if (!parser.parse_server(out, back, err) || back.user_id != "0b8e9d3c-5a1f-4e2b-8c7d-9f0a1b2c3d4e" || back.seq != 7u) {
        st.SkipWithError(("spliced frame does not round-trip: " + err).c_str());
        return;
    }
    // parse_server(string_view) copied the input; re-point the payload at our buffer.
    parser.parse_client(text.data(), n, m, err);
    for (auto _ : st) {
        out.clear();
        liveshare::encode_relay(out, t, "0b8e9d3c-5a1f-4e2b-8c7d-9f0a1b2c3d4e", m.payload, 7);
        benchmark::DoNotOptimize(out.data());
    }
}

void histogram_record(benchmark::State& st) {
    harness::Histogram h;
    std::uint64_t v = 1;
    for (auto _ : st) {
        v = v * 6364136223846793005ULL + 1442695040888963407ULL;
        h.record((v >> 40) & 0xfffff);
    }
    benchmark::DoNotOptimize(h.count());
}

}  // namespace

BENCHMARK_CAPTURE(parse_simdjson, graphop, liveshare::MsgType::GraphOp)->Name("parse/simdjson/type:GraphOp");
BENCHMARK_CAPTURE(parse_simdjson, cursor, liveshare::MsgType::CursorMove)->Name("parse/simdjson/type:CursorMove");
BENCHMARK_CAPTURE(parse_simdjson, awareness, liveshare::MsgType::Awareness)->Name("parse/simdjson/type:Awareness");
BENCHMARK_CAPTURE(serialize_splice, graphop, liveshare::MsgType::GraphOp)->Name("serialize/splice/type:GraphOp");
BENCHMARK_CAPTURE(serialize_splice, cursor, liveshare::MsgType::CursorMove)->Name("serialize/splice/type:CursorMove");
BENCHMARK(histogram_record)->Name("harness/histogram_record");
