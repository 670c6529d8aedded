// The listening socket: accepted connections take the loops in turn (an upgrade moves to its
// room's loop later); accept errors such as running out of descriptors are logged, and
// accepting goes on.
#pragma once
#include <boost/asio/ip/tcp.hpp>
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
    void run() { do_accept(); }
    void stop();  // any thread

  private:
    void do_accept();
    void on_accept(boost::system::error_code ec, boost::asio::ip::tcp::socket socket);

    Loops& loops_;
    boost::asio::ip::tcp::acceptor acceptor_;
    Context& ctx_;
};

}  // namespace liveshare
