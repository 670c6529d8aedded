// The listening socket, on loop 0: accepted connections take the loops in turn (an upgrade
// moves to its room's loop later). Accepting runs until the backlog is empty, up to 64 a turn;
// running out of descriptors (or memory) is logged and accepting pauses for 100 ms, the
// connections waiting in the backlog meanwhile.
#pragma once
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <memory>

#include "net/context.hpp"
#include "net/loops.hpp"

namespace liveshare {

class Listener : public std::enable_shared_from_this<Listener> {
  public:
    // Binds and listens on loop 0's context; throws when it cannot.
    Listener(Loops& loops, Context& ctx, boost::asio::ip::tcp::endpoint ep);
    std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
    void run() { wait(); }
    void stop();  // any thread

  private:
    void wait();
    void accept_ready();
    void hand(int fd);

    Loops& loops_;
    boost::asio::ip::tcp::acceptor acceptor_;
    boost::asio::steady_timer backoff_;
    Context& ctx_;
};

}  // namespace liveshare
