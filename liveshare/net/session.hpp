// One WebSocket client as the protocol sees it: authentication, rate limits, throttles, the
// original's join flow, and the send queue. How bytes move is the transport's job: the corked
// transport (corked_session.cpp, our own framing) or Beast's stream (server.cpp, `write:frame`).
#pragma once
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <vector>
#include <memory>
#include <optional>
#include <string>

#include "net/context.hpp"
#include "net/loops.hpp"
#include "participant.hpp"
#include "rate_limiter.hpp"
#include "room.hpp"

namespace liveshare {

class Session : public Participant, public std::enable_shared_from_this<Session> {
public:
    using Clock = std::chrono::steady_clock;
    // `loop`: the loop this connection's socket and handlers live on.
    Session(Context& ctx, Loop& loop, std::string room_id, bool wants_seq, bool batch);
    ~Session() override;

    // Participant
    const std::string& user_id() const override { return user_id_; }
    const std::string& username() const override { return username_; }
    bool wants_seq() const override { return wants_seq_; }
    void deliver(OutFrame f) override;
    void close_replaced() override;
    void close_for_resync(const std::string& why) override;

    // Any thread: close with this code once the session's strand gets to it.
    void close_soon(std::uint16_t code, std::string reason);
    // The server's once-a-second sweep (any thread): a transport without its own keep-alive
    // pings idle peers and closes dead ones.
    virtual void check_idle(Clock::time_point now) {}
    // On the session's loop, at the end of a turn that queued frames for it (Loop::flush).
    void start_writer_now() { start_writer(); }

protected:
    // Transport -> protocol. All on the session's strand.
    void opened();  // the handshake completed: counted and registered
    // A text message with kParsePadding readable bytes after it. False: reading must pause
    // until resume_reading() (a password check runs on the KDF pool).
    bool on_text(const char* data, std::size_t n);
    void on_binary(const std::uint8_t* data, std::size_t n);
    void on_too_big();
    void on_disconnect();  // the connection is gone (or closed); idempotent

    // Protocol -> transport.
    virtual void start_writer() = 0;  // the queue got frames while the writer was idle
    virtual void close_now(std::uint16_t code, const std::string& reason) = 0;
    virtual void resume_reading() = 0;

    Context& ctx_;
    Loop& loop_;
    boost::asio::io_context::executor_type ex_;
    SendQueue queue_;
    bool batch_ = false;  // liveshare.v2+batch: queued messages go out as one array frame
    bool accepted_ = false, closing_ = false;

private:
    bool dispatch(const char* data, std::size_t n);
    void arm_graphop_timer(Clock::time_point slot);
    void release_held_op();
    bool take_token(MsgType t);
    bool handle_auth();
    // The password check, then finish_auth; false when it completes later.
    bool check_password(std::shared_ptr<Room> room, std::optional<std::string> password);
    // False when the join completes later (cluster mode); reading resumes then.
    bool finish_auth(std::shared_ptr<Room> room);
    void fail_auth(const char* error);
    void reject_unauthenticated();
    void reject_rate(MsgType t);
    // An Error of this kind; `rejected` names the refused message's type when there is one.
    void reject(ErrorKind kind, const std::string& message, std::optional<MsgType> rejected = std::nullopt);
    template <typename Encode>
    void send_control(MsgType type, Encode&& enc);

    std::string room_id_;
    TokenBucket bucket_volatile_, bucket_low_, bucket_critical_;
    std::shared_ptr<Room> room_;
    std::string user_id_, username_;
    std::optional<std::uint64_t> last_seq_;
    boost::asio::steady_timer graphop_timer_;
    // Graph op texts (with parse padding) awaiting their slot, oldest first; a vector, so an
    // idle connection holds no block for it (a deque allocates one even when empty).
    std::vector<std::string> held_ops_;
    bool wants_seq_ = false, authed_ = false, auth_pending_ = false, disconnected_ = false;
    Clock::time_point last_cursor_at_{}, last_graphop_at_{};
    Vec2 last_cursor_{-1e300, -1e300};
};

}  // namespace liveshare
