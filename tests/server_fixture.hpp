// A real liveshare-server process per test, and helpers to talk to it.
#pragma once
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <random>

#include "clients/client.hpp"
#include "clients/prometheus.hpp"
#include "procs/server_process.hpp"
#include "protocol/uuid.hpp"
#include "traffic/workload.hpp"

namespace lstest {

using namespace std::chrono_literals;
using liveshare::MsgType;
using liveshare::ServerMessage;

inline std::string temp_db(const std::string& name) {
    auto p = std::filesystem::temp_directory_path() /
             ("liveshare-test-" + std::to_string(getpid()) + "-" + name + ".db");
    for (auto suffix : {"", "-wal", "-shm"}) std::filesystem::remove(p.string() + suffix);
    return p.string();
}

inline std::string uuid() {
    static std::mt19937_64 rng{std::random_device{}()};
    return harness::make_uuid(rng);
}

// A cluster node's flags in the tests: one thread, no database, no throttles, quiet; `extra`
// after them.
inline std::vector<std::string> cluster_node_args(std::vector<std::string> extra = {}) {
    std::vector<std::string> a = {"--threads=1", "--db=", "--graphop-interval-ms=0",
                                  "--rate-critical=0/0", "--quiet"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
}

inline std::unique_ptr<harness::ServerProcess> start_server(std::vector<std::string> args) {
    return std::make_unique<harness::ServerProcess>(harness::find_server_binary(), args);
}

inline harness::Endpoint endpoint(const harness::ServerProcess& s) {
    return {"127.0.0.1", s.port(), nullptr, {}};
}

// Connects and authenticates; returns after AuthResult (success asserted). A v2 client gets
// its GraphState next; an original client asks for it (RequestGraphState).
inline std::unique_ptr<harness::SyncClient> join(const harness::ServerProcess& s,
                                                 const std::string& room, const std::string& user,
                                                 bool v2 = false,
                                                 std::optional<std::uint64_t> last_seq = {},
                                                 std::optional<std::string_view> password = {}) {
    auto c = std::make_unique<harness::SyncClient>(endpoint(s), room, v2);
    std::string auth;
    liveshare::encode_auth(auth, user, "name-" + user.substr(0, 4), password, last_seq);
    c->send(auth);
    ServerMessage m;
    EXPECT_TRUE(c->recv_type(MsgType::AuthResult, m)) << "no AuthResult";
    EXPECT_TRUE(m.success) << m.error;
    return c;
}

// An Auth that the server must refuse: returns its AuthResult (success asserted false).
inline ServerMessage refused_auth(const harness::ServerProcess& s, const std::string& room,
                                  std::optional<std::string> password = {}) {
    harness::SyncClient c(endpoint(s), room);
    std::string auth;
    liveshare::encode_auth(auth, uuid(), "refused", password, std::nullopt);
    c.send(auth);
    ServerMessage m;
    EXPECT_TRUE(c.recv_type(MsgType::AuthResult, m));
    EXPECT_FALSE(m.success);
    // As the original: only the AuthResult (no Error frame), and the socket stays open: the
    // next frame is the Pong to a Ping.
    ServerMessage refused = m;
    c.send(R"({"type":"Ping"})");
    auto f = c.recv();
    EXPECT_TRUE(f && f->data == R"({"type":"Pong"})") << (f ? f->data : "closed");
    return refused;
}

// Next parsed message of any type (skips nothing); false on timeout.
inline bool next(harness::SyncClient& c, ServerMessage& m, std::chrono::milliseconds t = 5000ms) {
    static thread_local liveshare::Parser p;
    auto f = c.recv(t);
    if (!f) return false;
    std::string err;
    EXPECT_TRUE(p.parse_server(f->data, m, err)) << err << " in " << f->data;
    return true;
}

// A random diagram node id (a u32 on the wire) and the table UUID tests pair with it.
inline liveshare::NodeId node_id() {
    static std::mt19937 rng{std::random_device{}()};
    return static_cast<liveshare::NodeId>(rng());
}
inline std::string table_uuid(liveshare::NodeId node) {
    return liveshare::format_uuid_v4(0x7ab1e000'00000000ULL | node, node);
}

inline std::string move_op(liveshare::NodeId node, double x, double y) {
    liveshare::GraphOp op;
    op.type = liveshare::OpType::MoveTable;
    op.node_id = node;
    op.table_uuid = table_uuid(node);
    op.position = {x, y};
    std::string s;
    liveshare::encode_graph_op(s, op);
    return s;
}

inline std::string create_op(liveshare::NodeId node) {
    liveshare::GraphOp op;
    op.type = liveshare::OpType::CreateTable;
    op.node_id = node;
    op.table_uuid = table_uuid(node);
    op.name = "orders";
    std::string s;
    liveshare::encode_graph_op(s, op);
    return s;
}

inline double metric(const harness::ServerProcess& s, const std::string& name) {
    return harness::metric_or(harness::scrape_metrics(endpoint(s)), name, -1);
}

}  // namespace lstest
