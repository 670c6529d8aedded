#include "net/listener.hpp"

#include <boost/asio/post.hpp>

#include "log.hpp"
#include "net/http_session.hpp"

namespace liveshare {

namespace net = boost::asio;
using tcp = net::ip::tcp;

Listener::Listener(Loops& loops, Context& ctx, tcp::endpoint ep)
    : loops_(loops), acceptor_(loops.at(0).ioc), ctx_(ctx) {
    acceptor_.open(ep.protocol());
    acceptor_.set_option(net::socket_base::reuse_address(true));
    acceptor_.bind(ep);
    acceptor_.listen(net::socket_base::max_listen_connections);
}

void Listener::stop() {
    net::post(acceptor_.get_executor(), [self = shared_from_this()] {
        boost::system::error_code ignored;
        self->acceptor_.close(ignored);
    });
}

void Listener::do_accept() {
    acceptor_.async_accept(loops_.next().ioc, [self = shared_from_this()](
                                                  boost::system::error_code ec, tcp::socket s) {
        self->on_accept(ec, std::move(s));
    });
}

void Listener::on_accept(boost::system::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
    if (ec) {
        log::line("accept: " + ec.message());  // e.g. out of file descriptors; keep serving
    } else {
        boost::system::error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        start_http_session(std::move(socket), ctx_);
    }
    do_accept();
}

}  // namespace liveshare
