// A synchronous Redis client for the harness (hiredis): the coordination of generators on
// several machines. Every call has a timeout, so a Redis that stops answering is an error
// that names it, never a hang; it counts what it sends and receives (the coordination cost).
#pragma once
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

struct redisContext;

namespace harness {

struct RedisError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// A reply, flattened: nil, an integer, a string (simple, bulk or status), an error reply
// (kept as a value, not thrown: a script's refusal is an answer), or an array of replies.
struct RedisReply {
    enum class Type { Nil, Integer, String, Error, Array } type = Type::Nil;
    std::int64_t integer = 0;
    std::string str;
    std::vector<RedisReply> elements;
    bool nil() const { return type == Type::Nil; }
};

struct RedisUrl {
    std::string host;
    int port = 6379;
};
// redis://HOST:PORT or redis://[V6]:PORT; throws std::invalid_argument naming what is wrong.
RedisUrl parse_redis_url(const std::string& url);

class RedisClient {
  public:
    // Connects within timeout_ms; every later command times out after it as well.
    RedisClient(const std::string& url, int timeout_ms);
    ~RedisClient();
    RedisClient(const RedisClient&) = delete;
    RedisClient& operator=(const RedisClient&) = delete;

    // Throws RedisError on a broken connection or a timeout (the connection is then closed:
    // a later call reconnects). An error reply is returned as Type::Error.
    RedisReply command(const std::vector<std::string>& args);
    // Several commands in one round trip; the replies in order.
    std::vector<RedisReply> pipeline(const std::vector<std::vector<std::string>>& cmds);
    // Redis TIME in microseconds.
    std::int64_t time_us();

    const std::string& url() const { return url_; }
    std::uint64_t commands() const { return commands_; }
    std::uint64_t bytes_out() const { return bytes_out_; }
    std::uint64_t bytes_in() const { return bytes_in_; }

  private:
    void connect();
    [[noreturn]] void lost(const std::string& what);

    std::string url_;
    RedisUrl at_;
    int timeout_ms_;
    redisContext* ctx_ = nullptr;
    std::uint64_t commands_ = 0, bytes_out_ = 0, bytes_in_ = 0;
};

}  // namespace harness
