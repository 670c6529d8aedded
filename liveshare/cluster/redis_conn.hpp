// One asynchronous Redis connection on an Asio executor: hiredis's async API (its parser,
// its command queue) driven by Asio's readiness waits on hiredis's socket. Every call and
// every callback happens on the executor given (a strand), never concurrently.
#pragma once
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace liveshare::cluster {

class RedisConn {
  public:
    // nullptr reply: the connection is gone (the command may or may not have run).
    using Reply = std::function<void(redisReply*)>;
    // Connects (non-blocking); `on_lost` runs once if the connection fails or breaks.
    RedisConn(boost::asio::any_io_executor ex, const std::string& host, int port,
              std::function<void(std::string)> on_lost);
    ~RedisConn();
    RedisConn(const RedisConn&) = delete;
    RedisConn& operator=(const RedisConn&) = delete;

    void command(const std::vector<std::string_view>& args, Reply cb = {});
    // SUBSCRIBE; every message of the channel goes to `on_message(channel, payload)` (the
    // same handler for all channels of this connection), `on_subscribed` once it is in place.
    void subscribe(const std::string& channel, std::function<void()> on_subscribed);
    void on_message(std::function<void(std::string_view channel, std::string_view payload)> f) {
        on_message_ = std::move(f);
    }
    bool connected() const { return ac_ != nullptr; }
    // When the last reply of any command arrived (a busy Redis is not a hung one).
    std::chrono::steady_clock::time_point last_reply() const { return last_reply_; }

  private:
    struct Events;
    static void reply_cb(redisAsyncContext* ac, void* reply, void* privdata);
    static void message_cb(redisAsyncContext* ac, void* reply, void* privdata);
    static void connect_cb(const redisAsyncContext* ac, int status);
    static void disconnect_cb(const redisAsyncContext* ac, int status);
    void lost(std::string why);

    redisAsyncContext* ac_ = nullptr;
    std::chrono::steady_clock::time_point last_reply_ = std::chrono::steady_clock::now();
    std::shared_ptr<Events> events_;
    std::function<void(std::string)> on_lost_;
    std::function<void(std::string_view, std::string_view)> on_message_;
    std::vector<std::unique_ptr<std::function<void()>>> subscribed_;  // alive as long as we are
};

}  // namespace liveshare::cluster
