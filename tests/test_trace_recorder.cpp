// The trace recorder on its own: every record accounted for (written or dropped), lines in
// the documented format (docs/scenarios.md), hashes salted per recording, rotation at the cap.
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <thread>

#include "trace_recorder.hpp"

using liveshare::MsgType;
using liveshare::OpType;
using liveshare::TraceRecorder;

namespace {

std::string temp_path(const char* name) {
    return "/tmp/liveshare-trace-test-" + std::to_string(::getpid()) + "-" + name;
}

std::vector<boost::json::object> lines_of(const std::string& path) {
    std::vector<boost::json::object> out;
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) out.push_back(boost::json::parse(line).as_object());
    return out;
}

}  // namespace

TEST(TraceRecorder, WritesTheDocumentedLinesFromManyThreads) {
    const std::string path = temp_path("lines.jsonl");
    std::uint64_t room_hash = 0;
    {
        TraceRecorder rec({path, 1ull << 30, 1 << 20});
        room_hash = rec.hash("room-a");
        EXPECT_NE(rec.hash("room-a"), rec.hash("room-b"));
        auto work = [&](const std::string& user) {
            const auto u = rec.hash(user);
            rec.record(TraceRecorder::Event::Join, room_hash, u);
            for (int i = 0; i < 500; ++i)
                rec.record(TraceRecorder::Event::Msg, room_hash, u, MsgType::GraphOp,
                           OpType::MoveTable, 100 + i);
            rec.record(TraceRecorder::Event::Msg, room_hash, u, MsgType::Awareness, std::nullopt,
                       77);
            rec.record(TraceRecorder::Event::Leave, room_hash, u);
        };
        std::thread a(work, "alice"), b(work, "bob");
        a.join();
        b.join();
    }
    const auto lines = lines_of(path);
    ASSERT_GE(lines.size(), 3u);
    EXPECT_EQ(lines.front().at("liveshare_trace").as_int64(), 1);
    const auto& end = lines.back();
    EXPECT_EQ(end.at("ev").as_string(), "end");
    EXPECT_EQ(end.at("records").as_int64() + end.at("dropped").as_int64(), 2 * 503);
    std::size_t ops = 0, joins = 0, awareness = 0;
    char room_hex[17];
    std::snprintf(room_hex, sizeof room_hex, "%016llx", static_cast<unsigned long long>(room_hash));
    for (std::size_t i = 1; i + 1 < lines.size(); ++i) {
        const auto& l = lines[i];
        if (l.at("ev") == "dropped") continue;
        EXPECT_EQ(l.at("room").as_string(), room_hex);
        EXPECT_EQ(l.at("user").as_string().size(), 16u);
        EXPECT_GE(l.at("t").as_int64(), 0);
        if (l.at("ev") == "join") ++joins;
        if (l.at("ev") == "msg" && l.at("type") == "GraphOp") {
            EXPECT_EQ(l.at("op").as_string(), "MoveTable");
            EXPECT_GE(l.at("bytes").as_int64(), 100);
            ++ops;
        }
        if (l.at("ev") == "msg" && l.at("type") == "Awareness") {
            EXPECT_FALSE(l.contains("op"));
            EXPECT_EQ(l.at("bytes").as_int64(), 77);
            ++awareness;
        }
    }
    EXPECT_EQ(end.at("dropped").as_int64(), 0);  // a buffer of 1 << 20 holds them all
    EXPECT_EQ(joins, 2u);
    EXPECT_EQ(ops, 1000u);
    EXPECT_EQ(awareness, 2u);
    std::filesystem::remove(path);
}

// A buffer smaller than a burst: the excess is dropped and counted, never waited for.
TEST(TraceRecorder, AFullBufferDropsAndCounts) {
    const std::string path = temp_path("drops.jsonl");
    std::uint64_t written = 0, dropped = 0;
    {
        TraceRecorder rec({path, 1ull << 30, 8});
        // The writer takes the buffer every 100 ms: 1000 records at once overfill its 8.
        for (int i = 0; i < 1000; ++i)
            rec.record(TraceRecorder::Event::Msg, 1, 2, MsgType::CursorMove, std::nullopt, 40);
        dropped = rec.dropped();  // a full buffer's drops are counted as they happen
        EXPECT_GT(dropped, 0u);
        EXPECT_NE(
            rec.render_metrics().find("liveshare_trace_dropped_total " + std::to_string(dropped)),
            std::string::npos);
    }
    // Closed: every record written or dropped, and the file says which.
    std::uint64_t msgs = 0, reported = 0;
    for (const auto& l : lines_of(path)) {
        if (!l.contains("ev")) continue;
        if (l.at("ev") == "msg") ++msgs;
        if (l.at("ev") == "dropped") reported += l.at("count").as_int64();
        if (l.at("ev") == "end") {
            written = static_cast<std::uint64_t>(l.at("records").as_int64());
            EXPECT_EQ(static_cast<std::uint64_t>(l.at("dropped").as_int64()), dropped);
        }
    }
    EXPECT_EQ(written + dropped, 1000u);
    EXPECT_EQ(msgs, written);
    EXPECT_EQ(reported, dropped);
    std::filesystem::remove(path);
}

TEST(TraceRecorder, RotatesAtTheCapEachFileAWholeTrace) {
    const std::string path = temp_path("rot.jsonl");
    {
        TraceRecorder rec({path, 4096, 1 << 16});
        for (int i = 0; i < 400; ++i)
            rec.record(TraceRecorder::Event::Msg, 1, 2, MsgType::IdleStatus, std::nullopt, 50);
    }
    ASSERT_TRUE(std::filesystem::exists(path + ".1"));
    for (const auto& p : {path, path + ".1"}) {
        EXPECT_LE(std::filesystem::file_size(p), 4096u + 200u) << p;
        const auto lines = lines_of(p);
        ASSERT_FALSE(lines.empty());
        EXPECT_EQ(lines.front().at("liveshare_trace").as_int64(), 1) << p;
    }
    std::filesystem::remove(path);
    std::filesystem::remove(path + ".1");
}

TEST(TraceRecorder, AFileThatCannotBeOpenedIsNamed) {
    try {
        TraceRecorder rec({"/nonexistent/dir/t.jsonl", 1 << 20, 16});
        FAIL() << "opened";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("/nonexistent/dir/t.jsonl"), std::string::npos);
    }
}

TEST(TraceRecorder, SaltedHashesDifferBetweenRecordings) {
    const std::string a = temp_path("salt-a.jsonl"), b = temp_path("salt-b.jsonl");
    std::uint64_t ha = 0, hb = 0;
    {
        TraceRecorder ra({a, 1 << 20, 16});
        TraceRecorder rb({b, 1 << 20, 16});
        ha = ra.hash("the-same-room");
        hb = rb.hash("the-same-room");
    }
    EXPECT_NE(ha, hb);
    std::filesystem::remove(a);
    std::filesystem::remove(b);
}
