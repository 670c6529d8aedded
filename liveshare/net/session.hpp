// One WebSocket client as the protocol sees it: authentication, rate limits, throttles, the
// original's join flow, and the send queue. How bytes move is the transport's job: the corked
// transport (corked_session.cpp, our own framing) or Beast's stream (server.cpp, `write:frame`).
#pragma once
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "net/context.hpp"
#include "net/loops.hpp"
#include "participant.hpp"
#include "rate_limiter.hpp"
#include "room.hpp"

namespace liveshare {

// A lock for moments: a push or a swap, by a producer on another thread or the loop.
class SpinLock {
  public:
    void lock() {
        while (held_.exchange(true, std::memory_order_acquire)) std::this_thread::yield();
    }
    void unlock() { held_.store(false, std::memory_order_release); }

  private:
    std::atomic<bool> held_{false};
};

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
    void deliver_shared(const std::shared_ptr<const std::string>& frame, MsgType type, Delivery d,
                        std::uint64_t coalesce_key) override;
    void close_replaced() override;
    void close_for_resync(const std::string& why) override;

    // Any thread: close with this code once the session's strand gets to it.
    void close_soon(std::uint16_t code, std::string reason);
    // The server's once-a-second sweep (any thread): a transport without its own keep-alive
    // pings idle peers and closes dead ones.
    virtual void check_idle(Clock::time_point now) {}
    // After the loops have stopped (off them): a transport that keeps itself alive while its
    // socket is open lets go.
    virtual void abandon() {}
    // On the session's loop, at the end of a turn that queued frames for it (Loop::flush).
    // What the writer leaves queued takes its own references: the loop's pins end with the turn.
    void start_writer_now() {
        in_turn_ = false;
        start_writer();
        queue_.own_borrowed();
    }

    // Where a connection is in its life: one state, not a flag per question.
    enum class Phase : std::uint8_t {
        Upgrading,       // the WebSocket handshake has not completed
        Open,            // handshake done, not a member (Auth may be retried after a failure)
        Authenticating,  // an Auth is being checked: the password on the KDF pool, or the cluster
        Joined,          // a member of its room
        Closing,  // a close frame (ours or the peer's echoed) is on its way; input is dropped
        Gone,     // the connection ended: counted out, out of its room
    };
    // What a step of handling input did: finished, or goes on elsewhere (a password check on
    // the KDF pool, the cluster's answer) with reading paused until resume_reading().
    enum class Step : std::uint8_t { Done, Later };

  protected:
    // Transport -> protocol. All on the session's loop.
    void opened();  // the handshake completed: counted and registered
    // A text message with kParsePadding readable bytes after it.
    Step on_text(const char* data, std::size_t n);
    void on_binary(const std::uint8_t* data, std::size_t n);
    void on_too_big();
    void on_disconnect();  // the connection is gone (or closed); idempotent
    // Our close (or the echo of the peer's) starts; false when one has started already or the
    // connection is not open.
    bool begin_closing();
    bool closing() const { return phase_ >= Phase::Closing; }
    bool gone() const { return phase_ == Phase::Gone; }
    bool accepted() const { return phase_ != Phase::Upgrading; }

    // Protocol -> transport.
    virtual void start_writer() = 0;  // the queue got frames while the writer was idle
    virtual void close_now(std::uint16_t code, const std::string& reason) = 0;
    virtual void resume_reading() = 0;

    Context& ctx_;
    Loop& loop_;
    boost::asio::io_context::executor_type ex() const { return loop_.ioc.get_executor(); }
    SendQueue queue_;
    bool batch_ = false;  // liveshare.v2+batch: queued messages go out as one array frame

  private:
    // On the loop: the inbox's frames, then f, into the queue.
    void queue_frame(OutFrame f);
    void push_frame(OutFrame f);
    void take_inbox();
    Step dispatch(const ClientMessage& msg, const char* data, std::size_t n);
    void arm_graphop_timer(Clock::time_point slot);
    void release_held_op();
    bool take_token(MsgType t);
    Step handle_auth(const ClientMessage& msg);
    // The password check, then finish_auth.
    Step check_password(std::shared_ptr<Room> room, std::optional<std::string> password);
    // The join (in cluster mode it completes later; reading resumes then).
    Step finish_auth(std::shared_ptr<Room> room);
    // An Auth step that finished off the loop, back on it: reading resumes unless closing.
    void auth_step_done(Step step);
    void became_member();
    void trace_join();  // --record: the join, and this session's hashes
    void fail_auth(const char* error);
    void reject_unauthenticated();
    void reject_rate(MsgType t);
    // An Error of this kind; `rejected` names the refused message's type when there is one.
    void reject(ErrorKind kind, const std::string& message,
                std::optional<MsgType> rejected = std::nullopt);
    template <typename Encode>
    void send_control(MsgType type, Encode&& enc);

    std::string room_id_;  // until the join (then room_ has it)
    TokenBucket bucket_volatile_, bucket_low_, bucket_critical_;
    std::shared_ptr<Room> room_;
    std::string user_id_, username_;
    std::optional<std::uint64_t> last_seq_;
    std::uint64_t trace_room_ = 0, trace_user_ = 0;  // salted hashes (--record)
    // Made when a graph op first waits for its slot: most connections never need it.
    std::unique_ptr<boost::asio::steady_timer> graphop_timer_;
    // Graph op texts (with parse padding) awaiting their slot, oldest first; a vector, so an
    // idle connection holds no block for it (a deque allocates one even when empty).
    std::vector<std::string> held_ops_;
    Phase phase_ = Phase::Upgrading;
    bool wants_seq_ = false;
    bool in_turn_ = false;  // in the loop's end-of-turn list: its writer runs this turn
    // Frames from other threads, in the order they were handed over (Session::deliver).
    SpinLock inbox_lock_;
    std::atomic<bool> inbox_waiting_{false};
    std::vector<OutFrame> inbox_;
    Clock::time_point last_cursor_at_{}, last_graphop_at_{};
    Vec2 last_cursor_{-1e300, -1e300};
};

}  // namespace liveshare
