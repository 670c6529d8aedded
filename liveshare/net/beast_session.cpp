#include "net/beast_session.hpp"

#include <unistd.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <vector>

#include "log.hpp"
#include "net/beast_names.hpp"
#include "net/session.hpp"
#include "protocol/batch.hpp"
#include "protocol/codec.hpp"
#include "protocol/ws_frame.hpp"

namespace liveshare {

namespace {

// Errors that only mean "the peer went away"; everything else is worth a log line.
bool is_harmless(beast::error_code ec) {
    return ec == net::error::operation_aborted || ec == websocket::error::closed ||
           ec == net::error::eof || ec == net::error::connection_reset ||
           ec == beast::error::timeout || ec == net::error::broken_pipe ||
           ec == http::error::end_of_stream;
}

// The `write:frame` path (and the only one for permessage-deflate and batch windows): Beast's
// stream frames, reads one message per operation and writes one frame (or one batch) per
// operation; it answers pings and closes itself.
class BeastSession final : public Session {
  public:
    BeastSession(tcp::socket&& socket, Context& ctx, Loop& loop, std::string room_id,
                 bool wants_seq, bool batch)
        : Session(ctx, loop, std::move(room_id), wants_seq, batch), ws_(std::move(socket)) {}

    void run(http::request<http::string_body> req, std::string selected) {
        websocket::stream_base::timeout t;
        t.handshake_timeout = std::chrono::milliseconds(ctx_.cfg.handshake_timeout_ms);
        t.idle_timeout = std::chrono::milliseconds(ctx_.cfg.idle_timeout_ms);
        t.keep_alive_pings = true;
        ws_.set_option(t);
        ws_.read_message_max(ctx_.cfg.max_frame_bytes);
        if (ctx_.cfg.profile.compress == CompressMode::Deflate) {
            // permessage-deflate, what browsers offer; used only if the client offers it too.
            websocket::permessage_deflate pmd;
            pmd.server_enable = true;
            pmd.server_no_context_takeover = true;  // bounded memory per connection
            pmd.compLevel = 6;
            pmd.msg_size_threshold = 64;
            ws_.set_option(pmd);
        }
        ws_.set_option(websocket::stream_base::decorator([selected](websocket::response_type& res) {
            res.set(http::field::server, "liveshare-cpp");
            if (!selected.empty()) res.set(http::field::sec_websocket_protocol, selected);
        }));
        // Beast 1.81 takes every close code from 5000 up for valid (detail::is_valid_close_code)
        // and echoes it, though RFC 6455 7.4 gives them no meaning and 7.4.1 lets no endpoint
        // send them. Such a close fails the connection here with 1002 instead: written straight
        // to the socket (4 bytes, unless a write of ours is under way), then the socket is closed,
        // so Beast's own echo never reaches the wire.
        ws_.control_callback([this](websocket::frame_type kind, beast::string_view) {
            if (kind != websocket::frame_type::close) return;
            const auto code = static_cast<std::uint16_t>(ws_.reason().code);
            if (code == websocket::close_code::none || liveshare::ws::valid_close_code(code))
                return;
            auto& sock = beast::get_lowest_layer(ws_).socket();
            if (!writing_) {
                const unsigned char close_1002[] = {0x88, 0x02, 0x03, 0xEA};
                [[maybe_unused]] auto w =
                    ::write(sock.native_handle(), close_1002, sizeof close_1002);
            }
            beast::error_code ignored;
            sock.shutdown(tcp::socket::shutdown_both, ignored);
            sock.close(ignored);
        });
        ws_.async_accept(req, [self = self()](beast::error_code ec) { self->on_accept(ec); });
    }

  private:
    std::shared_ptr<BeastSession> self() {
        return std::static_pointer_cast<BeastSession>(shared_from_this());
    }

    void on_accept(beast::error_code ec) {
        if (ec) {
            if (ec == beast::error::timeout) ctx_.metrics.handshake_timeouts.fetch_add(1);
            return;
        }
        opened();
        do_read();
    }

    void do_read() {
        ws_.async_read(buffer_, [self = self()](beast::error_code ec, std::size_t n) {
            self->on_read(ec, n);
        });
    }

    void on_read(beast::error_code ec, std::size_t n) {
        if (ec) {
            if (ec == websocket::error::message_too_big)
                on_too_big();
            else if (ec == beast::error::timeout)
                ctx_.metrics.idle_timeouts.fetch_add(1);
            else if (!is_harmless(ec))
                log::line("read: " + ec.message());
            on_disconnect();
            return;
        }
        ctx_.metrics.add(&Metrics::Shard::bytes_in, n);
        ctx_.metrics.add(&Metrics::Shard::ws_reads, 1);
        bool resume = true;
        auto data = buffer_.cdata();
        if (ws_.got_binary()) {
            on_binary(static_cast<const std::uint8_t*>(data.data()), data.size());
        } else {
            // simdjson reads past the end: copy into a buffer that keeps the padding.
            in_.resize(n + kParsePadding);
            std::memcpy(in_.data(), data.data(), n);
            resume = on_text(in_.data(), n) == Step::Done;
        }
        buffer_.consume(buffer_.size());
        if (resume && !closing()) do_read();
    }

    void resume_reading() override { do_read(); }

    void start_writer() override { do_write(); }

    void do_write() {
        if (closing() || writing_) return;
        if (batch_) return do_write_batch();
        OutFrame f;
        if (!queue_.pop(f)) return;
        f.own();  // the write outlives the turn
        writing_ = true;
        ctx_.metrics.add(&Metrics::Shard::ws_messages_out, 1);
        ws_.text(!f.binary);
        auto buf = net::buffer(*f.data);
        ws_.async_write(buf, [self = self(), f = std::move(f)](
                                 beast::error_code ec, std::size_t n) { self->on_write(ec, n); });
    }

    // Batching candidate: everything queued (up to 64 KiB) goes out as one array frame, after
    // an optional window that lets more arrive.
    void do_write_batch() {
        const auto window = ctx_.cfg.profile.batch_window_us;
        if (window > 0 && !window_waited_) {
            window_waited_ = true;
            writing_ = true;
            batch_timer_.expires_after(std::chrono::microseconds(window));
            batch_timer_.async_wait([self = self()](beast::error_code) {
                self->writing_ = false;
                self->do_write_batch();
            });
            return;
        }
        window_waited_ = false;
        if (!queue_.pop_batch(batch_frames_, 64 * 1024)) return;
        writing_ = true;
        ctx_.metrics.add(&Metrics::Shard::ws_messages_out, batch_frames_.size());
        auto out = std::make_shared<std::string>();
        if (batch_frames_.size() == 1) {
            *out = batch_frames_.front().text();
        } else {
            std::vector<std::shared_ptr<const std::string>> parts;
            for (auto& f : batch_frames_) {
                f.own();
                parts.push_back(f.data);
            }
            append_batch(*out, parts);
        }
        batch_frames_.clear();
        ws_.text(true);
        ws_.async_write(
            net::buffer(*out),
            [self = self(), out](beast::error_code ec, std::size_t n) { self->on_write(ec, n); });
    }

    void on_write(beast::error_code ec, std::size_t n) {
        writing_ = false;
        // A closed session took its queued bytes off the gauge already (on_disconnect).
        const auto done = static_cast<std::int64_t>(queue_.write_done());
        if (!gone()) ctx_.metrics.queue_bytes_changed(-done, 0);
        if (ec) {
            if (!is_harmless(ec)) log::line("write: " + ec.message());
            return;  // the read side sees the failure and cleans up
        }
        ctx_.metrics.add(&Metrics::Shard::ws_writes, 1);
        ctx_.metrics.add(&Metrics::Shard::bytes_out, n);
        do_write();
    }

    void close_now(std::uint16_t code, const std::string& reason) override {
        if (!begin_closing()) return;
        ws_.async_close(websocket::close_reason(static_cast<websocket::close_code>(code), reason),
                        [self = self()](beast::error_code) {});
    }

    websocket::stream<beast::tcp_stream> ws_;
    beast::flat_buffer buffer_;
    std::string in_;
    net::steady_timer batch_timer_{ws_.get_executor()};
    std::vector<OutFrame> batch_frames_;
    bool window_waited_ = false, writing_ = false;
};

}  // namespace

void start_beast_session(tcp::socket socket, Context& ctx, Loop& loop, std::string room_id,
                         bool wants_seq, bool batch, http::request<http::string_body> req,
                         std::string subprotocol) {
    auto s = std::make_shared<BeastSession>(std::move(socket), ctx, loop, std::move(room_id),
                                            wants_seq, batch);
    s->run(std::move(req), std::move(subprotocol));
}

}  // namespace liveshare
