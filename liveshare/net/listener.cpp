#include "net/listener.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <boost/asio/post.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>

#include "log.hpp"
#include "net/http_session.hpp"
#include "net/unique_fd.hpp"

namespace liveshare {

namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {
constexpr int kAcceptsPerTurn = 64;
constexpr auto kBackoff = std::chrono::milliseconds(100);
}  // namespace

Listener::Listener(Loops& loops, Context& ctx, tcp::endpoint ep)
    : loops_(loops), acceptor_(loops.at(0).ioc), backoff_(loops.at(0).ioc), ctx_(ctx) {
    acceptor_.open(ep.protocol());
    acceptor_.set_option(net::socket_base::reuse_address(true));
    acceptor_.bind(ep);
    acceptor_.listen(net::socket_base::max_listen_connections);
    acceptor_.non_blocking(true);
}

void Listener::stop() {
    net::post(acceptor_.get_executor(), [self = shared_from_this()] {
        boost::system::error_code ignored;
        self->acceptor_.close(ignored);
        self->backoff_.cancel();
    });
}

void Listener::wait() {
    acceptor_.async_wait(tcp::acceptor::wait_read,
                         [self = shared_from_this()](boost::system::error_code ec) {
                             if (!ec) self->accept_ready();
                         });
}

// accept4 straight to a non-blocking descriptor: no Asio socket is made for a connection.
void Listener::accept_ready() {
    if (!acceptor_.is_open()) return;
    for (int i = 0; i < kAcceptsPerTurn; ++i) {
        const int fd =
            ::accept4(acceptor_.native_handle(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            hand(fd);
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) return wait();  // the backlog is empty
        if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;  // that one
        // Out of descriptors or memory: the connections wait in the backlog meanwhile.
        log::line(std::string("accept: ") + std::strerror(errno) + "; accepting again in 100 ms");
        backoff_.expires_after(kBackoff);
        backoff_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
            if (!ec) self->accept_ready();
        });
        return;
    }
    // A turn's worth: the rest after the loop's other work (the wait would not tell of
    // connections that are there already).
    net::post(acceptor_.get_executor(), [self = shared_from_this()] { self->accept_ready(); });
}

void Listener::hand(int fd) {
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    Loop& loop = loops_.next();
    if (&loop == Loop::current()) return start_arrival(fd, ctx_, loop);
    net::post(loop.ioc, [fd = UniqueFd(fd), &ctx = ctx_, &loop]() mutable {
        start_arrival(fd.release(), ctx, loop);
    });
}

}  // namespace liveshare
