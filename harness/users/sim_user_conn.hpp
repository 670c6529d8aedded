// A simulated user's connection: socket, TLS, the receive buffer, the framing reader and what
// waits to be written. Private to harness/users/ (sim_user.cpp reads, sim_user_send.cpp writes).
#pragma once
#include <zlib.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstring>
#include <memory>
#include <string>

#include "protocol/ws_frame.hpp"
#include "users/sim_user.hpp"

namespace harness {

struct SimUser::Conn {
    boost::asio::ip::tcp::socket sock;
    boost::asio::steady_timer deadline;  // connect and upgrade must finish by the join timeout
    Phase phase = Phase::Connecting;
    std::string accept_expected;
    std::unique_ptr<char[]> buf;  // received bytes, with parse padding behind the capacity
    std::size_t cap = 0, have = 0;
    liveshare::ws::Reader reader{false, std::size_t(64) << 20, true};
    std::string ctl;     // pongs and the close frame, ahead of messages
    std::string unsent;  // what the socket did not take yet
    bool write_armed = false, inflate = false, inflate_ready = false;
    z_stream zs{};
    // wss://: TLS between the socket and the framing; reads land in `cipher` first.
    std::unique_ptr<TlsSession> tls;
    std::unique_ptr<char[]> cipher;
    Clock::time_point tls_started;
    explicit Conn(boost::asio::io_context& ioc) : sock(ioc), deadline(ioc) {}
    ~Conn() {
        if (inflate_ready) inflateEnd(&zs);
    }
    void reserve(std::size_t free_bytes) {
        if (cap - have >= free_bytes) return;
        const std::size_t ncap = std::max(have + free_bytes, cap * 2);
        std::unique_ptr<char[]> nb(new char[ncap + liveshare::kParsePadding]);
        if (have) std::memcpy(nb.get(), buf.get(), have);
        buf = std::move(nb);
        cap = ncap;
    }
};

}  // namespace harness
