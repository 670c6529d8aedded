// Micro benchmarks of the protocol layer and the harness itself: what recording one latency
// sample costs, what RFC 6455's UTF-8 check of a text message costs at this protocol's sizes,
// and what the server's trace recorder costs per record.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "measure/histogram.hpp"
#include "protocol/utf8.hpp"
#include "trace_recorder.hpp"

namespace {

void histogram_record(benchmark::State& st) {
    harness::Histogram h;
    std::uint64_t v = 1;
    for (auto _ : st) {
        v = v * 6364136223846793005ULL + 1442695040888963407ULL;
        h.record((v >> 40) & 0xfffff);
    }
    benchmark::DoNotOptimize(h.count());
}

// A JSON text of about `size` bytes shaped like this protocol's messages: mostly ASCII, with a
// table or user name in another script now and then (2- and 3-byte forms).
std::string protocol_text(std::size_t size) {
    std::string s =
        R"({"type":"GraphOp","payload":{"op":{"op_type":"RenameTable","node_id":4242,"table_uuid":)"
        R"("7ab1e000-0000-4000-8000-000000001092","new_name":"заказы_順序"},"user_id":"0b8e9d3c"}})";
    std::string out;
    while (out.size() < size) out += s;
    out.resize(size);
    // Never end inside a multi-byte form: step back to a boundary, pad with ASCII.
    while (!out.empty() && (static_cast<unsigned char>(out.back()) & 0x80)) out.pop_back();
    out.resize(size, ' ');
    return out;
}

using Check = bool (*)(const char*, std::size_t);
// The incremental validator the reader runs over fragments, and the whole-message one.
bool check_incremental(const char* p, std::size_t n) {
    liveshare::Utf8Validator v;
    return v.feed(p, n) && v.complete();
}
bool check_whole(const char* p, std::size_t n) {
    return liveshare::valid_utf8(p, n);
}

// Both validators must agree with the RFC on these before either is timed.
bool agrees_with_reference(Check check) {
    const std::vector<std::pair<std::string, bool>> cases = {
        {"plain", true},
        {"\xce\xba\xe1\xbd\xb9", true},
        {"\xf0\x9d\x84\x9e", true},
        {"\xc0\x80", false},
        {"\xe0\x80\x80", false},
        {"\xed\xa0\x80", false},
        {"\xf4\x90\x80\x80", false},
        {"\xff", false},
        {"\x80", false},
        {"abc\xe2\x82", false},
        {std::string(100, 'a') + "\xf5", false}};
    for (const auto& [text, valid] : cases)
        if (check(text.data(), text.size()) != valid) return false;
    return true;
}

void utf8_validate(benchmark::State& st, Check check) {
    if (!agrees_with_reference(check))
        return st.SkipWithError("validator disagrees with RFC 3629 on a reference case");
    const std::string text = protocol_text(static_cast<std::size_t>(st.range(0)));
    if (!check(text.data(), text.size())) return st.SkipWithError("protocol text judged invalid");
    for (auto _ : st) {
        bool ok = check(text.data(), text.size());
        benchmark::DoNotOptimize(ok);
    }
    st.SetBytesProcessed(static_cast<std::int64_t>(st.iterations()) * st.range(0));
}

// The server's --record: one iteration opens a trace in /tmp, records 65536 messages (what an
// I/O thread does per message a client sends) and closes it (the writer formats and writes
// them all). trace/record times the recording thread's CPU only; trace/record_and_write the
// process's, writer included. Per record: the iteration's time / 65536.
constexpr std::size_t kTraceBatch = 65536;

void trace_record(benchmark::State& st) {
    const std::string path = "/tmp/liveshare-bench-trace-micro-" + std::to_string(::getpid());
    std::uint64_t dropped = 0;
    for (auto _ : st) {
        liveshare::TraceRecorder rec({path, 1ull << 40, kTraceBatch});
        const auto room = rec.hash("6f1c2a90-1b7e-4c8e-9a57-0d4b3e8f2a11"),
                   user = rec.hash("0b8e9d3c-5a1f-4e2b-8c7d-9f0a1b2c3d4e");
        for (std::size_t i = 0; i < kTraceBatch; ++i)
            rec.record(liveshare::TraceRecorder::Event::Msg, room, user,
                       liveshare::MsgType::GraphOp, liveshare::OpType::MoveTable, 512);
        dropped += rec.dropped();
    }
    std::filesystem::remove(path);
    if (dropped) st.SkipWithError("records were dropped: the figure would be of the drop path");
    st.SetItemsProcessed(static_cast<std::int64_t>(st.iterations() * kTraceBatch));
}

// Google Benchmark's own cost per iteration: an empty body. Debian builds the library without
// NDEBUG (it prints "Library was built as DEBUG"); the loop itself is inline code of the
// header, compiled here with our flags, so this is what every micro figure carries.
void empty_loop(benchmark::State& st) {
    for (auto _ : st) benchmark::ClobberMemory();
}

}  // namespace

void register_micro_harness(
    const std::function<benchmark::internal::Benchmark*(benchmark::internal::Benchmark*)>& fixed) {
    fixed(benchmark::RegisterBenchmark("harness/histogram_record", histogram_record));
    fixed(benchmark::RegisterBenchmark("harness/empty_loop", empty_loop));
    fixed(benchmark::RegisterBenchmark("trace/record", trace_record));
    fixed(benchmark::RegisterBenchmark("trace/record_and_write", trace_record)
              ->MeasureProcessCPUTime());
    // Sizes: CursorMove, relayed GraphOp, AuthResult with users, a large GraphState.
    for (auto [name, check] : {std::pair{"utf8/incremental", &check_incremental},
                               std::pair{"utf8/simdjson", &check_whole}})
        fixed(benchmark::RegisterBenchmark(name, utf8_validate, check)
                  ->ArgName("size")
                  ->Arg(60)
                  ->Arg(200)
                  ->Arg(1200)
                  ->Arg(11000));
}
