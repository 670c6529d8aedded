#include "run/convergence.hpp"

#include <fmt/format.h>

#include <boost/asio/post.hpp>
#include <thread>

namespace harness {

namespace net = boost::asio;
using liveshare::MsgType;

namespace {

// A fresh observer joins room r and reads the server's state of it (empty tables when nobody
// holds any). False with `detail` when it cannot.
bool observe_room(Shared& sh, std::size_t r, std::string& state, std::string& detail) {
    liveshare::Parser parser;
    try {
        // The original's client: Auth, RequestGraphState, and a Ping to know the request
        // was handled. A server with no tables answers nothing itself but asks a member.
        SyncClient obs(sh.ep, sh.room_ids[r], false);
        std::string auth;
        std::optional<std::string_view> password;
        if (!sh.cfg.room_password.empty()) password = sh.cfg.room_password;
        // One observer per room and shard: shards of one run check at the same moment, and
        // a second connection of one user id would replace the first.
        const std::string id = fmt::format("00000000-0000-4000-8000-ffff{:04d}{:04d}",
                                           sh.cfg.shard_index % 10000, r % 10000);
        liveshare::encode_auth(auth, id, "observer", password, std::nullopt);
        obs.send(auth);
        liveshare::ServerMessage m;
        if (!obs.recv_type(MsgType::AuthResult, m, std::chrono::milliseconds(30000)) ||
            !m.success) {
            detail = "observer could not join room " + std::to_string(r) +
                     (m.error.empty() ? "" : ": " + m.error);
            return false;
        }
        obs.send(R"({"type":"RequestGraphState"})");
        obs.send(R"({"type":"Ping"})");
        bool got_state = false, got_pong = false;
        const auto until = Clock::now() + std::chrono::seconds(10);
        while (!got_state && Clock::now() < until) {
            // After the Pong, a member's forwarded answer gets two more seconds.
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
            auto f = obs.recv(got_pong ? std::min(left, std::chrono::milliseconds(2000)) : left);
            if (!f) break;
            std::string err;
            if (f->binary || !parser.parse_server(f->data, m, err)) continue;
            if (m.type == MsgType::Pong) got_pong = true;
            if (m.type == MsgType::GraphState &&
                (m.target_user_id.empty() || m.target_user_id == id))
                got_state = true;
        }
        if (!got_state && !got_pong) {
            detail = "observer got no answer to RequestGraphState in room " + std::to_string(r);
            return false;
        }
        // No answer at all: the server holds no tables and nobody else had any.
        state = got_state ? m.state.to_json() : liveshare::SchemaState().to_json();
        obs.close();
        return true;
    } catch (const std::exception& e) {
        detail = std::string("observer failed: ") + e.what();
        return false;
    }
}

}  // namespace

// A fresh observer joins each room and reads the server's state: every client must hold it.
bool check_convergence(Shared& sh, std::vector<std::unique_ptr<SimUser>>& users,
                       std::vector<std::unique_ptr<net::io_context>>& iocs, std::string& detail) {
    std::vector<std::string> server_state(sh.room_ids.size());
    for (std::size_t r = 0; r < sh.room_ids.size(); ++r)
        if (!observe_room(sh, r, server_state[r], detail)) return false;
    // Each client's state is read on its own thread: a late echo may still be applying it.
    std::vector<std::string> client_state(users.size());
    std::vector<char> include(users.size(), 0);
    std::atomic<std::size_t> read{0};
    for (std::size_t i = 0; i < users.size(); ++i)
        net::post(*iocs[i % iocs.size()], [&, i] {
            // A user that scans deliveries does not keep the state: it is not compared.
            // Nor one that left the room before the end (a planned leave).
            include[i] = !(users[i]->metrics.errors.size() && !users[i]->joined) &&
                         users[i]->holds_state() && !users[i]->left;
            if (include[i]) client_state[i] = users[i]->state.to_json();
            read.fetch_add(1, std::memory_order_release);
        });
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (read.load(std::memory_order_acquire) < users.size() && Clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    if (read.load(std::memory_order_acquire) < users.size()) {
        detail = "client states could not be read in time";
        return false;
    }
    std::size_t diverged = 0, checked = 0;
    for (std::size_t i = 0; i < users.size(); ++i) {
        if (!include[i]) continue;
        ++checked;
        if (client_state[i] != server_state[users[i]->room]) ++diverged;
    }
    std::size_t scanning = 0;
    for (const auto& u : users) scanning += u->holds_state() ? 0 : 1;
    detail = std::to_string(checked - diverged) + "/" + std::to_string(checked) +
             " clients equal the server state" +
             (scanning ? " (" + std::to_string(scanning) + " scanning clients keep none)" : "");
    return diverged == 0;
}

}  // namespace harness
