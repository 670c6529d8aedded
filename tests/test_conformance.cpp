// The conformance corpus (tests/conformance/, written from the type table of docs/protocol.md by
// generate.py, not by our codec): every valid client message must pass the server's codec and
// every valid server message the harness's parser; every invalid one must be refused with an
// error that names the field ("<path>: <what>").
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "protocol/codec.hpp"

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace liveshare;

namespace {

struct Corpus {
    std::string file, type;
    bool from_server = false;
    json::array valid, invalid;
};

std::vector<Corpus> load_corpus() {
    std::vector<Corpus> out;
    for (const char* dir : {"client", "server"}) {
        const fs::path root = fs::path(LIVESHARE_TEST_DIR) / "conformance" / dir;
        for (const auto& entry : fs::directory_iterator(root)) {
            if (entry.path().extension() != ".json") continue;
            std::ifstream in(entry.path());
            std::stringstream ss;
            ss << in.rdbuf();
            json::object doc = json::parse(ss.str()).as_object();
            out.push_back({entry.path().filename().string(),
                           std::string(doc.at("type").as_string()), std::string(dir) == "server",
                           doc.at("valid").as_array(), doc.at("invalid").as_array()});
        }
    }
    return out;
}

// Paths are compared without array markers: "payload.state.tables[].node_id" and
// "payload.state.tables.node_id" name the same field.
std::string plain_path(std::string s) {
    for (auto p = s.find("[]"); p != std::string::npos; p = s.find("[]")) s.erase(p, 2);
    return s;
}

bool parse(Parser& p, const Corpus& c, const std::string& text, Message& m, std::string& err) {
    return c.from_server ? p.parse_server(text, m, err) : p.parse_client(text, m, err);
}

}  // namespace

TEST(Conformance, CorpusCoversEveryVariantBothWays) {
    auto corpus = load_corpus();
    std::set<std::string> client, server;
    for (const auto& c : corpus) (c.from_server ? server : client).insert(c.type);
    // Every client message of docs/protocol.md but Auth... Ping, and every server message.
    for (MsgType t :
         {MsgType::Auth, MsgType::SyncStep1, MsgType::SyncStep2, MsgType::Update,
          MsgType::Awareness, MsgType::GraphOp, MsgType::CursorMove, MsgType::IdleStatus,
          MsgType::UserViewport, MsgType::TableDragStart, MsgType::TableDragEnd,
          MsgType::RequestGraphState, MsgType::GraphStateResponse, MsgType::Ping})
        EXPECT_TRUE(client.count(to_string(t))) << "no client/" << to_string(t) << ".json";
    for (MsgType t :
         {MsgType::AuthResult, MsgType::SyncStep1, MsgType::SyncStep2, MsgType::Update,
          MsgType::Awareness, MsgType::GraphOp, MsgType::CursorMove, MsgType::IdleStatus,
          MsgType::UserViewport, MsgType::TableDragStart, MsgType::TableDragEnd,
          MsgType::GraphState, MsgType::RequestGraphState, MsgType::UserJoined, MsgType::UserLeft,
          MsgType::SnapshotRecovery, MsgType::Error, MsgType::Pong})
        EXPECT_TRUE(server.count(to_string(t))) << "no server/" << to_string(t) << ".json";
}

TEST(Conformance, ValidMessagesAreAccepted) {
    Parser p;
    std::size_t n = 0;
    for (const auto& c : load_corpus()) {
        for (const auto& v : c.valid) {
            const std::string text = json::serialize(v);
            Message m;
            std::string err;
            EXPECT_TRUE(parse(p, c, text, m, err)) << c.file << ": " << text << "\n  -> " << err;
            EXPECT_EQ(to_string(m.type), c.type) << c.file << ": " << text;
            ++n;
        }
    }
    EXPECT_GT(n, 50u);
}

TEST(Conformance, InvalidMessagesAreRefusedNamingTheField) {
    Parser p;
    std::size_t n = 0;
    for (const auto& c : load_corpus()) {
        for (const auto& v : c.invalid) {
            const auto& o = v.as_object();
            const std::string text = json::serialize(o.at("message"));
            const std::string want = plain_path(std::string(o.at("error").as_string())) + ":";
            Message m;
            std::string err;
            ASSERT_FALSE(parse(p, c, text, m, err))
                << c.file << " (" << o.at("why").as_string() << "): " << text;
            EXPECT_EQ(plain_path(err).rfind(want, 0), 0u)
                << c.file << " (" << o.at("why").as_string() << "): " << text
                << "\n  error: " << err << "\n  should name: " << want;
            ++n;
        }
    }
    EXPECT_GT(n, 500u);
}

// What our server relays from a valid client message must itself be a valid server message
// (user_id added where the original adds it, and nowhere else).
TEST(Conformance, RelayedClientMessagesAreValidServerMessages) {
    Parser p, q;
    const std::string sender = "0b8e9d3c-5a1f-4e2b-8c7d-9f0a1b2c3d4e";
    for (const auto& c : load_corpus()) {
        if (c.from_server) continue;
        for (const auto& v : c.valid) {
            std::string text = json::serialize(v);
            const std::size_t len = text.size();
            text.append(kParsePadding, '\0');
            Message m;
            std::string err;
            ASSERT_TRUE(p.parse_client(text.data(), len, m, err)) << err;
            if (delivery_of(m.type) == Delivery::Control) continue;
            std::string relayed;
            encode_relay(relayed, m.type, sender, m.payload, std::nullopt);
            Message r;
            EXPECT_TRUE(q.parse_server(relayed, r, err))
                << c.file << ": " << relayed << "\n  -> " << err;
            const bool sync = m.type == MsgType::Update || m.type == MsgType::SyncStep1 ||
                              m.type == MsgType::SyncStep2;
            EXPECT_EQ(relayed.find("\"user_id\"") != std::string::npos, !sync) << relayed;
        }
    }
}
