#include "clients/redis_client.hpp"

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <charconv>

namespace harness {

namespace {

timeval tv_of(int ms) {
    return timeval{ms / 1000, (ms % 1000) * 1000};
}

std::size_t digits(std::size_t n) {
    return std::to_string(n).size();
}

// The reply's size on the wire (RESP2), for the byte count.
std::size_t wire_size(const redisReply* r) {
    switch (r->type) {
        case REDIS_REPLY_STRING:
            return 1 + digits(r->len) + 2 + r->len + 2;
        case REDIS_REPLY_ARRAY: {
            std::size_t n = 1 + digits(r->elements) + 2;
            for (std::size_t i = 0; i < r->elements; ++i) n += wire_size(r->element[i]);
            return n;
        }
        case REDIS_REPLY_INTEGER:
            return 1 + std::to_string(r->integer).size() + 2;
        case REDIS_REPLY_NIL:
            return 5;
        default:
            return 1 + r->len + 2;
    }
}

RedisReply convert(const redisReply* r) {
    RedisReply out;
    switch (r->type) {
        case REDIS_REPLY_INTEGER:
            out.type = RedisReply::Type::Integer;
            out.integer = r->integer;
            break;
        case REDIS_REPLY_STRING:
        case REDIS_REPLY_STATUS:
            out.type = RedisReply::Type::String;
            out.str.assign(r->str, r->len);
            break;
        case REDIS_REPLY_ERROR:
            out.type = RedisReply::Type::Error;
            out.str.assign(r->str, r->len);
            break;
        case REDIS_REPLY_ARRAY:
            out.type = RedisReply::Type::Array;
            for (std::size_t i = 0; i < r->elements; ++i)
                out.elements.push_back(convert(r->element[i]));
            break;
        default:
            break;
    }
    return out;
}

}  // namespace

RedisUrl parse_redis_url(const std::string& url) {
    const std::string prefix = "redis://";
    if (!url.starts_with(prefix))
        throw std::invalid_argument("'" + url + "' is not redis://HOST:PORT");
    std::string rest = url.substr(prefix.size());
    if (!rest.empty() && rest.back() == '/') rest.pop_back();
    RedisUrl out;
    std::string port;
    if (rest.starts_with("[")) {
        const auto close = rest.find(']');
        if (close == std::string::npos || close + 1 >= rest.size() || rest[close + 1] != ':')
            throw std::invalid_argument("'" + url + "' is not redis://[V6]:PORT");
        out.host = rest.substr(1, close - 1);
        port = rest.substr(close + 2);
    } else {
        const auto colon = rest.rfind(':');
        if (colon == std::string::npos)
            throw std::invalid_argument("'" + url + "' has no port (redis://HOST:PORT)");
        out.host = rest.substr(0, colon);
        port = rest.substr(colon + 1);
    }
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), out.port);
    if (out.host.empty() || ec != std::errc{} || end != port.data() + port.size() || out.port < 1 ||
        out.port > 65535)
        throw std::invalid_argument("'" + url + "' is not redis://HOST:PORT (port 1-65535)");
    return out;
}

RedisClient::RedisClient(const std::string& url, int timeout_ms)
    : url_(url), at_(parse_redis_url(url)), timeout_ms_(timeout_ms) {
    connect();
}

RedisClient::~RedisClient() {
    if (ctx_) redisFree(ctx_);
}

void RedisClient::connect() {
    if (ctx_) return;
    ctx_ = redisConnectWithTimeout(at_.host.c_str(), at_.port, tv_of(timeout_ms_));
    if (!ctx_) throw RedisError("coordinator " + url_ + ": out of memory");
    if (ctx_->err) lost("cannot connect");
    if (redisSetTimeout(ctx_, tv_of(timeout_ms_)) != REDIS_OK) lost("cannot set a timeout");
}

void RedisClient::lost(const std::string& what) {
    std::string cause = ctx_ && ctx_->errstr[0] ? ctx_->errstr : "no answer";
    if (ctx_ && ctx_->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK))
        cause = "no answer within " + std::to_string(timeout_ms_) + " ms";
    if (ctx_) redisFree(ctx_);
    ctx_ = nullptr;
    throw RedisError("coordinator " + url_ + ": " + what + ": " + cause);
}

std::vector<RedisReply> RedisClient::pipeline(const std::vector<std::vector<std::string>>& cmds) {
    connect();
    for (const auto& args : cmds) {
        std::vector<const char*> argv;
        std::vector<std::size_t> lens;
        bytes_out_ += 1 + digits(args.size()) + 2;
        for (const auto& a : args) {
            argv.push_back(a.data());
            lens.push_back(a.size());
            bytes_out_ += 1 + digits(a.size()) + 2 + a.size() + 2;
        }
        if (redisAppendCommandArgv(ctx_, static_cast<int>(argv.size()), argv.data(), lens.data()) !=
            REDIS_OK)
            lost("cannot send");
        ++commands_;
    }
    std::vector<RedisReply> out;
    for (std::size_t i = 0; i < cmds.size(); ++i) {
        void* raw = nullptr;
        if (redisGetReply(ctx_, &raw) != REDIS_OK || !raw)
            lost(cmds[i].empty() ? "no reply" : cmds[i][0]);
        auto* r = static_cast<redisReply*>(raw);
        bytes_in_ += wire_size(r);
        out.push_back(convert(r));
        freeReplyObject(r);
    }
    return out;
}

RedisReply RedisClient::command(const std::vector<std::string>& args) {
    return std::move(pipeline({args}).front());
}

std::int64_t RedisClient::time_us() {
    const auto r = command({"TIME"});
    std::int64_t parts[2] = {0, 0};
    if (r.type != RedisReply::Type::Array || r.elements.size() != 2)
        throw RedisError("coordinator " + url_ + ": TIME did not answer two fields");
    for (int i = 0; i < 2; ++i) {
        const auto& s = r.elements[i].str;
        if (std::from_chars(s.data(), s.data() + s.size(), parts[i]).ec != std::errc{})
            throw RedisError("coordinator " + url_ + ": TIME answered '" + s + "'");
    }
    return parts[0] * 1000000 + parts[1];
}

}  // namespace harness
