// Micro benchmarks of each optimization candidate next to the baseline it competes with.
// Every variant's output is checked against the baseline's before it is timed
// (SkipWithError on a mismatch), as simdjson's benchmarks do.
#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/json.hpp>
#include <filesystem>
#include <functional>
#include <random>
#include <thread>

#include "candidates.hpp"
#include "codecs.hpp"
#include "failures.hpp"
#include "op_log.hpp"
#include "profile.hpp"
#include "protocol/batch.hpp"
#include "protocol/codec.hpp"
#include "serialization/dom_encoder.hpp"
#include "traffic/load_config.hpp"
#include "traffic/workload.hpp"

using namespace liveshare;

void register_micro_optimizations(
    const std::function<benchmark::internal::Benchmark*(benchmark::internal::Benchmark*)>& fixed);

namespace {

const std::string kUser = "0b8e9d3c-5a1f-4e2b-8c7d-9f0a1b2c3d4e";

// A client message of the given type, as the workloads send it.
std::string client_message(MsgType t, std::uint64_t seq = 1) {
    const auto cfg = harness::LoadTestConfigBuilder().messages_per_user(0).build();
    std::string s;
    switch (t) {
        case MsgType::GraphOp: {
            // The seed's ~512 B UpdateColumn.
            harness::UserScript script(cfg, 0, kUser, 1, "6f1c2a90-1b7e-4c8e-9a57-0d4b3e8f2a11",
                                       seq);
            harness::Planned p;
            for (int i = 0; i < 3; ++i) script.next(p);
            return p.frame;
        }
        case MsgType::CursorMove:
            encode_cursor_move(s, {static_cast<double>(seq), 1234567});
            return s;
        default:
            encode_awareness(s, "alice", {static_cast<double>(seq), 20}, true);
            return s;
    }
}

std::string padded(const std::string& s) {
    return s + std::string(kParsePadding, '\0');
}

// Both encoders' frames must say the same thing: same type, user, seq and payload values.
bool same_message(const std::string& a, const std::string& b) {
    boost::json::error_code ea, eb;
    auto va = boost::json::parse(a, ea), vb = boost::json::parse(b, eb);
    return !ea && !eb && va == vb;
}

// ---- parse: the original's DOM (Boost.JSON) versus simdjson on-demand
void parse_dom(benchmark::State& st, MsgType t) {
    const std::string text = client_message(t);
    auto ref = boost::json::parse(text);
    if (ref.as_object().at("type").as_string() != to_string(t))
        return bench::fail(st, "reference mismatch");
    for (auto _ : st) {
        auto v = boost::json::parse(text);
        benchmark::DoNotOptimize(v);
    }
    st.SetBytesProcessed(static_cast<std::int64_t>(st.iterations() * text.size()));
}

void parse_simdjson(benchmark::State& st, MsgType t) {
    const std::string text = client_message(t);
    const std::string buf = padded(text);
    Parser parser;
    ClientMessage m;
    std::string err;
    // Checked against the DOM: same type and the same payload text.
    auto ref = boost::json::parse(text);
    if (!parser.parse_client(buf.data(), text.size(), m, err) || m.type != t ||
        boost::json::parse(m.payload) != ref.as_object().at("payload"))
        return bench::fail(st, ("mismatch with the DOM parse: " + err).c_str());
    for (auto _ : st) {
        bool ok = parser.parse_client(buf.data(), text.size(), m, err);
        benchmark::DoNotOptimize(ok);
    }
    st.SetBytesProcessed(static_cast<std::int64_t>(st.iterations() * text.size()));
}

// ---- serialize: one recipient's frame, from the DOM (baseline) or spliced raw payload
void serialize_dom(benchmark::State& st, MsgType t) {
    const std::string text = client_message(t);
    Parser parser;
    ClientMessage m;
    std::string err;
    parser.parse_client(text, m, err);
    auto payload = boost::json::serialize(boost::json::parse(text).as_object().at("payload"));
    DomMessage dm(t, kUser, payload);
    for (auto _ : st) {
        auto s = dm.serialize(7);
        benchmark::DoNotOptimize(s.data());
    }
}

void serialize_splice(benchmark::State& st, MsgType t) {
    const std::string text = client_message(t);
    const std::string buf = padded(text);
    Parser parser;
    ClientMessage m;
    std::string err;
    parser.parse_client(buf.data(), text.size(), m, err);
    std::string out;
    encode_relay(out, t, kUser, m.payload, 7);
    DomMessage dm(t, kUser, m.payload);
    if (!same_message(out, dm.serialize(7)))
        return bench::fail(st, "splice differs from the DOM frame");
    for (auto _ : st) {
        out.clear();
        encode_relay(out, t, kUser, m.payload, 7);
        benchmark::DoNotOptimize(out.data());
    }
}

// ---- fanout: N recipients' frames from one encoded frame
void fanout(benchmark::State& st, const char* variant) {
    register_optimizations();
    Profile p;
    p.fanout = variant;
    const Fanout& mode = *resolve_hot_paths(p).fanout;
    const auto n = static_cast<std::size_t>(st.range(0));
    auto frame = std::make_shared<const std::string>(client_message(MsgType::GraphOp));
    std::vector<std::shared_ptr<const std::string>> out(n);
    std::shared_ptr<const std::string> own;  // a recipient's own frame, when the mode makes one
    for (std::size_t i = 0; i < n; ++i) out[i] = mode.for_recipient(frame, own);
    for (auto& f : out)
        if (*f != *frame) return bench::fail(st, "a recipient's frame differs");
    for (auto _ : st) {
        for (std::size_t i = 0; i < n; ++i) out[i] = mode.for_recipient(frame, own);
        benchmark::ClobberMemory();
    }
    st.SetItemsProcessed(static_cast<std::int64_t>(st.iterations() * n));
}

// ---- batch: messages arriving at 100,000/s written to a socket one per write, or all that
// arrived within the window as one array frame (one write)
void batch(benchmark::State& st, bool coalesce) {
    const auto window_us = static_cast<std::size_t>(st.range(0));
    const std::size_t per_batch =
        coalesce ? std::max<std::size_t>(1, window_us * 100000 / 1000000) : 1;
    auto msg = std::make_shared<const std::string>(client_message(MsgType::CursorMove));
    std::vector<std::shared_ptr<const std::string>> group(per_batch, msg);
    std::string out;
    if (coalesce)
        append_batch(out, group);
    else
        out = *msg;
    if (coalesce && per_batch > 1) {
        Parser p;
        std::vector<std::string_view> parts;
        std::string err, buf = padded(out);
        if (!p.split_batch(buf.data(), out.size(), parts, err) || parts.size() != per_batch ||
            parts[0] != *msg)
            return bench::fail(st, "batch frame does not split back into the messages");
    }
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) return bench::fail(st, "socketpair failed");
    std::atomic<bool> done{false};
    std::thread reader([&] {
        char buf[1 << 16];
        while (read(fds[1], buf, sizeof buf) > 0) {
        }
    });
    std::size_t messages = 0;
    for (auto _ : st) {
        if (write(fds[0], out.data(), out.size()) != static_cast<ssize_t>(out.size())) {
            bench::fail(st, "short write");
            break;
        }
        messages += per_batch;
    }
    done = true;
    close(fds[0]);
    reader.join();
    close(fds[1]);
    st.SetItemsProcessed(static_cast<std::int64_t>(messages));
    st.counters["msgs_per_write"] = static_cast<double>(per_batch);
}

// ---- compress: ratio and speed on messages of the workload, by size
std::string sample_of_size(std::size_t size, std::uint64_t seed) {
    if (size <= 64) return client_message(MsgType::CursorMove, seed);
    if (size <= 512) return client_message(MsgType::GraphOp, seed);
    // A GraphState of about `size` bytes: tables with columns, as a joiner receives.
    SchemaState state;
    std::mt19937_64 rng(seed);
    for (int i = 0; state.to_json().size() < size; ++i) {
        GraphOp op;
        op.type = OpType::CreateTable;
        op.node_id = static_cast<NodeId>(i + 1);
        op.table_uuid = harness::make_uuid(rng);
        op.name = "table_" + std::to_string(i);
        op.position = {static_cast<double>(rng() % 2000), static_cast<double>(rng() % 2000)};
        state.apply(op);
        op.type = OpType::AddColumn;
        op.column = {"id", "uuid", true, false, true, std::nullopt, std::nullopt};
        state.apply(op);
        op.column = {"name_" + std::to_string(i), "varchar(255)", false, true, false,
                     std::string("''"),           std::nullopt};
        state.apply(op);
    }
    std::string out;
    encode_graph_state(out, state.to_json(), "", std::nullopt);
    return out;
}

void compress(benchmark::State& st, std::string codec_name, int level) {
    const auto size = static_cast<std::size_t>(st.range(0));
    const std::string input = sample_of_size(size, 1);
    std::unique_ptr<Codec> codec;
    if (codec_name == "deflate")
        codec = make_deflate(level);
    else if (codec_name == "zstd")
        codec = make_zstd(level);
    else if (codec_name == "zstd_dict") {
        // Trained on other messages of the same workload, never on the input itself.
        std::vector<std::string> samples;
        for (std::uint64_t s = 100; s < 400; ++s)
            samples.push_back(sample_of_size(std::min<std::size_t>(size, 4096), s));
        codec = make_zstd(level, train_zstd_dictionary(samples, 16 * 1024));
    }
    std::string out, back;
    if (codec) {
        codec->compress(input, out);
        codec->decompress(out, back, input.size());
        if (back != input) return bench::fail(st, "round trip differs");
    } else {
        out = input;
    }
    for (auto _ : st) {
        if (codec)
            codec->compress(input, out);
        else
            out.assign(input);
        benchmark::DoNotOptimize(out.data());
    }
    st.SetBytesProcessed(static_cast<std::int64_t>(st.iterations() * input.size()));
    st.counters["ratio"] = static_cast<double>(input.size()) /
                           static_cast<double>(std::max<std::size_t>(out.size(), 1));
    st.counters["input_bytes"] = static_cast<double>(input.size());
}

// ---- persist: durable ops to SQLite (WAL, synchronous=FULL), per op or group commit
void persist(benchmark::State& st) {
    const auto per_commit = static_cast<std::size_t>(st.range(0));
    const auto path = (std::filesystem::temp_directory_path() /
                       ("liveshare-persist-" + std::to_string(getpid()) + ".db"))
                          .string();
    for (auto suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
    std::uint64_t seq = 0;
    {
        OpLog log(path);
        std::vector<std::string> frames(per_commit, client_message(MsgType::GraphOp));
        for (auto _ : st) {
            log.commit("room", seq, frames);
            seq += per_commit;
        }
        if (log.count() != seq) bench::fail(st, "ops missing after commit");
    }
    for (auto suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
    st.SetItemsProcessed(static_cast<std::int64_t>(seq));
}

}  // namespace

void register_micro_optimizations(
    const std::function<benchmark::internal::Benchmark*(benchmark::internal::Benchmark*)>& fixed) {
    fixed(benchmark::RegisterBenchmark("parse/dom/type:GraphOp", parse_dom, MsgType::GraphOp));
    fixed(
        benchmark::RegisterBenchmark("parse/dom/type:CursorMove", parse_dom, MsgType::CursorMove));
    fixed(benchmark::RegisterBenchmark("parse/dom/type:Awareness", parse_dom, MsgType::Awareness));
    fixed(benchmark::RegisterBenchmark("parse/simdjson/type:GraphOp", parse_simdjson,
                                       MsgType::GraphOp));
    fixed(benchmark::RegisterBenchmark("parse/simdjson/type:CursorMove", parse_simdjson,
                                       MsgType::CursorMove));
    fixed(benchmark::RegisterBenchmark("parse/simdjson/type:Awareness", parse_simdjson,
                                       MsgType::Awareness));
    fixed(benchmark::RegisterBenchmark("serialize/dom/type:GraphOp", serialize_dom,
                                       MsgType::GraphOp));
    fixed(benchmark::RegisterBenchmark("serialize/dom/type:CursorMove", serialize_dom,
                                       MsgType::CursorMove));
    fixed(benchmark::RegisterBenchmark("serialize/splice/type:GraphOp", serialize_splice,
                                       MsgType::GraphOp));
    fixed(benchmark::RegisterBenchmark("serialize/splice/type:CursorMove", serialize_splice,
                                       MsgType::CursorMove));
    fixed(benchmark::RegisterBenchmark("fanout/copy", fanout, "copy")
              ->ArgName("recipients")
              ->Arg(10)
              ->Arg(100)
              ->Arg(1000));
    fixed(benchmark::RegisterBenchmark("fanout/shared_buffer", fanout, "shared")
              ->ArgName("recipients")
              ->Arg(10)
              ->Arg(100)
              ->Arg(1000));
    fixed(benchmark::RegisterBenchmark("batch/per_message", batch, false)
              ->ArgName("window_us")
              ->Arg(0)
              ->Arg(250)
              ->Arg(1000)
              ->Arg(5000));
    fixed(benchmark::RegisterBenchmark("batch/coalesced", batch, true)
              ->ArgName("window_us")
              ->Arg(0)
              ->Arg(250)
              ->Arg(1000)
              ->Arg(5000));
    const std::pair<const char*, int> codecs[] = {{"none", 0}, {"deflate", 1}, {"deflate", 6},
                                                  {"zstd", 1}, {"zstd", 3},    {"zstd_dict", 3}};
    for (auto [codec, level] : codecs)
        fixed(benchmark::RegisterBenchmark(
                  fmt::format("compress/{}/level:{}", codec, level).c_str(), compress, codec, level)
                  ->ArgName("size")
                  ->Arg(64)
                  ->Arg(512)
                  ->Arg(4096)
                  ->Arg(65536));
    fixed(benchmark::RegisterBenchmark("persist/per_op", persist)
              ->ArgName("ops_per_commit")
              ->Arg(1)
              ->UseRealTime());
    fixed(benchmark::RegisterBenchmark("persist/group_commit", persist)
              ->ArgName("ops_per_commit")
              ->Arg(16)
              ->Arg(256)
              ->UseRealTime());
}
