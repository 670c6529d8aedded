// Room with fake participants: what each member's send queue receives, in order.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include "persister.hpp"
#include "profile.hpp"
#include "protocol/codec.hpp"
#include "room.hpp"
#include "room_registry.hpp"
#include "send_queue.hpp"
#include "snapshot_store.hpp"

namespace liveshare {
namespace {

class FakeParticipant : public Participant {
  public:
    explicit FakeParticipant(std::string id, bool v2 = false)
        : id_(std::move(id)), v2_(v2), queue_(256 << 10, 8 << 20) {}
    const std::string& user_id() const override { return id_; }
    const std::string& username() const override { return id_; }
    bool wants_seq() const override { return v2_; }
    // The op log's thread delivers too: a SendQueue is one thread's (a server posts to the
    // connection's loop), so this fake guards its own.
    void deliver(OutFrame f) override {
        std::lock_guard lock(mu_);
        queue_.push(std::move(f));
    }
    void close_replaced() override { replaced = true; }
    void close_for_resync(const std::string&) override { resync = true; }
    // The types queued so far, oldest first (as the writer would take them).
    std::vector<MsgType> drain() {
        std::lock_guard lock(mu_);
        std::vector<OutFrame> frames;
        std::vector<MsgType> out;
        while (queue_.pop_batch(frames, 1 << 20)) {
            for (auto& f : frames) out.push_back(f.type);
            queue_.write_done();
        }
        return out;
    }
    // The frames queued so far, as text.
    std::vector<std::string> texts() {
        std::lock_guard lock(mu_);
        std::vector<OutFrame> frames;
        std::vector<std::string> out;
        while (queue_.pop_batch(frames, 1 << 20)) {
            for (auto& f : frames) out.push_back(*f.data);
            queue_.write_done();
        }
        return out;
    }
    std::atomic<bool> replaced{false}, resync{false};  // set from the op log's thread too

  private:
    std::string id_;
    bool v2_;
    std::mutex mu_;
    SendQueue queue_;
};

ClientMessage parse(const std::string& text) {
    Parser p;
    ClientMessage m;
    std::string err;
    EXPECT_TRUE(p.parse_client(text, m, err)) << err;
    return m;
}

RoomSettings settings() {
    RoomSettings s{"r", "", "", "", ""};
    s.max_users = 50;
    return s;
}

struct RoomFixture : ::testing::Test {
    Metrics metrics;
    std::shared_ptr<Room> room =
        std::make_shared<Room>(settings(), metrics, resolve_hot_paths(optimized_profile()));
    std::shared_ptr<FakeParticipant> a =
        std::make_shared<FakeParticipant>("11111111-1111-4111-8111-111111111111");
    std::shared_ptr<FakeParticipant> b =
        std::make_shared<FakeParticipant>("22222222-2222-4222-8222-222222222222");
    void SetUp() override {
        ASSERT_EQ(room->join(a, std::nullopt), Room::JoinResult::Ok);
        ASSERT_EQ(room->join(b, std::nullopt), Room::JoinResult::Ok);
        a->drain();
        b->drain();
    }
    // Parsed messages point into their text: keep it alive for the relay.
    void relay(FakeParticipant& from, const std::string& text) {
        ClientMessage m = parse(text);
        room->relay(from, m);
    }
};

TEST_F(RoomFixture, DragStartAndEndBothReachTheOthersInOrder) {
    // Queued together (the writer busy or corked): an event never replaces another event.
    relay(*a, R"({"type":"TableDragStart","payload":{"node_id":2,"offset":[5,6]}})");
    relay(*a, R"({"type":"TableDragEnd","payload":{"node_id":2,"position":[330,50]}})");
    EXPECT_EQ(b->drain(), (std::vector<MsgType>{MsgType::TableDragStart, MsgType::TableDragEnd}));
    EXPECT_TRUE(a->drain().empty());  // volatile messages are not echoed
}

TEST_F(RoomFixture, QueuedCursorMovesCoalesceToTheLatestButNotAcrossTypes) {
    relay(*a, R"({"type":"CursorMove","payload":{"position":[1,1]}})");
    relay(*a, R"({"type":"UserViewport","payload":{"center":[0,0],"zoom":1}})");
    relay(*a, R"({"type":"CursorMove","payload":{"position":[9,9]}})");
    EXPECT_EQ(b->drain(), (std::vector<MsgType>{MsgType::CursorMove, MsgType::UserViewport}));
}

TEST_F(RoomFixture, DurableOpsAreEchoedAndReachEveryoneInOrder) {
    relay(
        *a,
        R"({"type":"GraphOp","payload":{"op":{"op_type":"CreateTable","node_id":1,"table_uuid":"33333333-3333-4333-8333-333333333333","name":"t","position":[0,0]}}})");
    relay(
        *b,
        R"({"type":"GraphOp","payload":{"op":{"op_type":"MoveTable","node_id":1,"table_uuid":"33333333-3333-4333-8333-333333333333","position":[5,5]}}})");
    EXPECT_EQ(a->drain(), (std::vector<MsgType>{MsgType::GraphOp, MsgType::GraphOp}));
    EXPECT_EQ(b->drain(), (std::vector<MsgType>{MsgType::GraphOp, MsgType::GraphOp}));
}

// A room with both kinds of client: the original's get the durable message without "seq", a
// liveshare.v2 client the same text with "seq" after "type" (docs/protocol.md); when the last
// original client leaves, the v2 members still get theirs.
TEST(RoomMixedClients, EachGetsItsFormOfADurableMessage) {
    Metrics metrics;
    auto room = std::make_shared<Room>(settings(), metrics, resolve_hot_paths(optimized_profile()));
    auto v1 = std::make_shared<FakeParticipant>("11111111-1111-4111-8111-111111111111");
    auto v2 = std::make_shared<FakeParticipant>("22222222-2222-4222-8222-222222222222", true);
    ASSERT_EQ(room->join(v1, std::nullopt), Room::JoinResult::Ok);
    ASSERT_EQ(room->join(v2, std::nullopt), Room::JoinResult::Ok);
    v1->texts();
    v2->texts();
    const std::string op =
        R"({"type":"GraphOp","payload":{"op":{"op_type":"CreateTable","node_id":1,"table_uuid":"33333333-3333-4333-8333-333333333333","name":"t","position":[0,0]}}})";
    ClientMessage m = parse(op);
    room->relay(*v1, m);
    auto plain = v1->texts(), seq = v2->texts();
    ASSERT_EQ(plain.size(), 1u);
    ASSERT_EQ(seq.size(), 1u);
    EXPECT_EQ(plain[0].find("\"seq\""), std::string::npos) << plain[0];
    ASSERT_EQ(seq[0].rfind(R"({"type":"GraphOp","seq":1,)", 0), 0u) << seq[0];
    std::string without = seq[0];
    without.erase(without.find(R"("seq":1,)"), 8);
    EXPECT_EQ(without, plain[0]);
    EXPECT_NE(plain[0].find(R"("user_id":"11111111-1111-4111-8111-111111111111")"),
              std::string::npos)
        << plain[0];

    EXPECT_FALSE(room->leave(v1.get()));
    v2->texts();
    ClientMessage m2 = parse(op);
    room->relay(*v2, m2);
    seq = v2->texts();
    ASSERT_EQ(seq.size(), 1u);
    EXPECT_EQ(seq[0].rfind(R"({"type":"GraphOp","seq":2,)", 0), 0u) << seq[0];
}

TEST_F(RoomFixture, TheSameUserJoiningAgainReplacesTheOldConnection) {
    auto a2 = std::make_shared<FakeParticipant>(a->user_id());
    ASSERT_EQ(room->join(a2, std::nullopt), Room::JoinResult::Ok);
    EXPECT_TRUE(a->replaced);
    EXPECT_FALSE(room->leave(a.get()));  // no longer the member: the room keeps a2 and b
    EXPECT_EQ(room->member_count(), 2u);
}

}  // namespace
}  // namespace liveshare

// ---- DurableLog: what reaches the members after a commit, and after the log gives up.
#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "durable_log.hpp"

namespace liveshare {
namespace {

struct DurableFixture : RoomFixture {
    std::string path = (std::filesystem::temp_directory_path() /
                        ("liveshare-test-oplog-" + std::to_string(getpid()) + "-" +
                         ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".db"))
                           .string();
    std::unique_ptr<DurableLog> log;
    void start(DurableLog::Retry retry) {
        std::filesystem::remove(path);
        log = std::make_unique<DurableLog>(path, metrics, retry);
        room->attach_durable_log(log.get());
        log->start();
    }
    void TearDown() override {
        if (log) log->stop();
        std::filesystem::remove(path);
        std::filesystem::remove(path + "-wal");
        std::filesystem::remove(path + "-shm");
    }
    // Waits (bounded, not timed: the condition decides) for the writer to finish a batch.
    template <typename Cond>
    bool eventually(Cond c) {
        for (int i = 0; i < 5000 && !c(); ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        return c();
    }
    const char* op =
        R"({"type":"GraphOp","payload":{"op":{"op_type":"CreateTable","node_id":1,"table_uuid":"33333333-3333-4333-8333-333333333333","name":"t","position":[0,0]}}})";
};

TEST_F(DurableFixture, CommittedOpsAreEchoedAndSentToEveryone) {
    start(DurableLog::Retry{});
    relay(*a, op);
    ASSERT_TRUE(eventually([&] { return metrics.durable_ops.load() == 1; }));
    EXPECT_EQ(a->drain(), (std::vector<MsgType>{MsgType::GraphOp}));
    EXPECT_EQ(b->drain(), (std::vector<MsgType>{MsgType::GraphOp}));
    EXPECT_NE(room->state_json().find("33333333-3333-4333-8333-333333333333"), std::string::npos);
}

TEST_F(DurableFixture, WhenTheLogGivesUpTheOpsAreAbandonedOutLoudAndMembersResync) {
    start(DurableLog::Retry{3, std::chrono::milliseconds(1)});
    {
        // Break the log underneath it: every commit now fails.
        sqlite3* db = nullptr;
        ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
        ASSERT_EQ(sqlite3_exec(db, "DROP TABLE ops", nullptr, nullptr, nullptr), SQLITE_OK);
        sqlite3_close(db);
    }
    relay(*a, op);
    ASSERT_TRUE(eventually([&] { return metrics.durable_ops_abandoned.load() == 1; }));
    EXPECT_EQ(metrics.durable_commit_failures.load(), 3u);
    EXPECT_EQ(metrics.durable_ops.load(), 0u);
    EXPECT_TRUE(a->resync);  // told, not left waiting for an echo that never comes
    EXPECT_TRUE(b->resync);
    EXPECT_TRUE(a->drain().empty());  // nothing unacknowledged was sent
    EXPECT_TRUE(b->drain().empty());
    EXPECT_EQ(room->state_json().find("33333333-3333-4333-8333-333333333333"), std::string::npos);
}

}  // namespace
}  // namespace liveshare

namespace liveshare {
namespace {

// The snapshot thread reads a room's settings while joins (the first joiner becomes the owner)
// and a cluster's adopt_settings change them on other threads. Under TSan a read outside the
// room's lock is a reported race; in any build each room's last snapshot must carry its owner.
TEST(RoomSettings, SnapshotThreadReadsThemWhileJoinsAndAdoptChangeThem) {
    const auto db = (std::filesystem::temp_directory_path() /
                     ("liveshare-settings-race-" + std::to_string(::getpid()) + ".db"))
                        .string();
    for (auto suffix : {"", "-wal", "-shm"}) std::filesystem::remove(db + suffix);
    ServerConfig cfg;
    cfg.max_rooms = 1000;
    Metrics metrics;
    RoomRegistry rooms(cfg, metrics);
    SnapshotStore store(db, 2);
    Persister persister(store, rooms, metrics, 1);  // a sweep of every room each millisecond
    persister.start();
    std::map<std::string, std::string> owner_of;
    std::vector<std::shared_ptr<FakeParticipant>> members;
    for (int i = 0; i < 200; ++i) {
        char id[40];
        std::snprintf(id, sizeof id, "00000000-0000-4000-8000-%012d", i);
        auto [room, status] = rooms.create(RoomSettings{id, "", "", "", ""});
        ASSERT_EQ(status, RoomRegistry::Status::Created);
        persister.request(room);
        char user[40];
        std::snprintf(user, sizeof user, "11111111-1111-4111-8111-%012d", i);
        members.push_back(std::make_shared<FakeParticipant>(user));
        ASSERT_EQ(room->join(members.back(), std::nullopt),
                  Room::JoinResult::Ok);  // writes owner_id
        RoomSettings adopted{id, "adopted " + std::to_string(i), user, "", ""};
        adopted.max_users = 40;
        room->adopt_settings(adopted);  // writes name, owner, cap
        room->mark_dirty();
        persister.request(room);
        owner_of[id] = user;
    }
    // Then a cluster-like writer keeps changing settings while the sweeps read them.
    std::thread writer([&] {
        // Bounded in count and time: long enough for a few hundred 1 ms sweeps to overlap.
        const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
        for (int k = 0; k < 2'000'000 && std::chrono::steady_clock::now() < until; ++k) {
            auto room = rooms.find(owner_of.begin()->first);
            RoomSettings again{room->id(), "adopted again " + std::to_string(k),
                               owner_of.begin()->second, "", ""};
            again.max_users = 30 + k % 10;
            room->adopt_settings(again);
            room->mark_dirty();
        }
    });
    writer.join();
    persister.stop_and_flush();
    std::size_t checked = 0;
    for (const auto& s : store.load_latest_per_room()) {
        ASSERT_TRUE(owner_of.count(s.room_id)) << s.room_id;
        EXPECT_EQ(s.owner_id, owner_of[s.room_id]);
        EXPECT_EQ(s.name.rfind("adopted ", 0), 0u) << s.name;
        ++checked;
    }
    EXPECT_EQ(checked, owner_of.size());
    for (auto suffix : {"", "-wal", "-shm"}) std::filesystem::remove(db + suffix);
}

}  // namespace
}  // namespace liveshare
