#include "redis_conn.hpp"

#include <boost/asio/posix/stream_descriptor.hpp>

namespace liveshare::cluster {

namespace net = boost::asio;

// hiredis asks for read and write readiness through these hooks; each arms one async_wait on
// hiredis's socket and hands the readiness back (redisAsyncHandleRead/Write), re-arming while
// hiredis still wants it. The descriptor never owns the socket: hiredis closes it.
struct RedisConn::Events : std::enable_shared_from_this<RedisConn::Events> {
    redisAsyncContext* ac;
    net::posix::stream_descriptor sd;
    bool want_read = false, want_write = false, reading = false, writing = false;

    Events(net::any_io_executor ex, redisAsyncContext* c) : ac(c), sd(ex, c->c.fd) {}

    void arm_read() {
        if (reading || !want_read || !ac) return;
        reading = true;
        sd.async_wait(net::posix::stream_descriptor::wait_read, [self = shared_from_this()](
                                                                    boost::system::error_code ec) {
            self->reading = false;
            if (ec || !self->ac || !self->want_read) return;
            redisAsyncHandleRead(self->ac);  // may free the context (then cleanup cleared ac)
            self->arm_read();
        });
    }
    void arm_write() {
        if (writing || !want_write || !ac) return;
        writing = true;
        sd.async_wait(net::posix::stream_descriptor::wait_write,
                      [self = shared_from_this()](boost::system::error_code ec) {
                          self->writing = false;
                          if (ec || !self->ac || !self->want_write) return;
                          redisAsyncHandleWrite(self->ac);
                          self->arm_write();
                      });
    }
    static Events* of(void* p) { return static_cast<Events*>(p); }
    static void add_read(void* p) {
        of(p)->want_read = true;
        of(p)->arm_read();
    }
    static void del_read(void* p) { of(p)->want_read = false; }
    static void add_write(void* p) {
        of(p)->want_write = true;
        of(p)->arm_write();
    }
    static void del_write(void* p) { of(p)->want_write = false; }
    static void cleanup(void* p) {
        Events* e = of(p);
        e->ac = nullptr;
        e->want_read = e->want_write = false;
        boost::system::error_code ec;
        e->sd.cancel(ec);
        e->sd.release();
    }
};

RedisConn::RedisConn(net::any_io_executor ex, const std::string& host, int port,
                     std::function<void(std::string)> on_lost)
    : on_lost_(std::move(on_lost)) {
    ac_ = redisAsyncConnect(host.c_str(), port);
    if (!ac_ || ac_->err) {
        std::string why = ac_ ? ac_->errstr : "out of memory";
        if (ac_) redisAsyncFree(ac_);
        ac_ = nullptr;
        throw std::runtime_error("cannot connect to Redis at " + host + ":" + std::to_string(port) +
                                 ": " + why);
    }
    ac_->data = this;
    events_ = std::make_shared<Events>(ex, ac_);
    ac_->ev.data = events_.get();
    ac_->ev.addRead = &Events::add_read;
    ac_->ev.delRead = &Events::del_read;
    ac_->ev.addWrite = &Events::add_write;
    ac_->ev.delWrite = &Events::del_write;
    ac_->ev.cleanup = &Events::cleanup;
    redisAsyncSetConnectCallback(ac_, &RedisConn::connect_cb);
    redisAsyncSetDisconnectCallback(ac_, &RedisConn::disconnect_cb);
}

RedisConn::~RedisConn() {
    on_lost_ = nullptr;
    if (ac_) {
        redisAsyncContext* ac = ac_;
        ac_ = nullptr;
        ac->data = nullptr;
        redisAsyncFree(ac);  // pending callbacks get a null reply; cleanup detaches the events
    }
}

void RedisConn::lost(std::string why) {
    ac_ = nullptr;
    if (auto f = std::move(on_lost_)) f(std::move(why));
}

void RedisConn::connect_cb(const redisAsyncContext* ac, int status) {
    auto* self = static_cast<RedisConn*>(ac->data);
    if (status != REDIS_OK && self)
        self->lost(std::string("cannot connect to Redis: ") + ac->errstr);
}

void RedisConn::disconnect_cb(const redisAsyncContext* ac, int status) {
    auto* self = static_cast<RedisConn*>(ac->data);
    if (self)
        self->lost(status == REDIS_OK ? "Redis connection closed"
                                      : std::string("Redis connection lost: ") + ac->errstr);
}

void RedisConn::reply_cb(redisAsyncContext* ac, void* reply, void* privdata) {
    std::unique_ptr<Reply> cb(static_cast<Reply*>(privdata));
    if (auto* self = ac ? static_cast<RedisConn*>(ac->data) : nullptr; self && reply)
        self->last_reply_ = std::chrono::steady_clock::now();
    if (*cb) (*cb)(static_cast<redisReply*>(reply));
}

void RedisConn::command(const std::vector<std::string_view>& args, Reply cb) {
    if (!ac_) {
        if (cb) cb(nullptr);
        return;
    }
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    argv.reserve(args.size());
    lens.reserve(args.size());
    for (auto a : args) {
        argv.push_back(a.data());
        lens.push_back(a.size());
    }
    auto* holder = new Reply(std::move(cb));
    if (redisAsyncCommandArgv(ac_, &RedisConn::reply_cb, holder, static_cast<int>(argv.size()),
                              argv.data(), lens.data()) != REDIS_OK) {
        std::unique_ptr<Reply> owned(holder);
        if (*owned) (*owned)(nullptr);
    }
}

// Subscription replies come to the same callback again and again: ["subscribe", ch, n] once,
// then ["message", ch, payload] for every message.
void RedisConn::message_cb(redisAsyncContext* ac, void* reply, void* privdata) {
    auto* r = static_cast<redisReply*>(reply);
    auto* self = ac ? static_cast<RedisConn*>(ac->data) : nullptr;
    if (!r || !self || r->type != REDIS_REPLY_ARRAY || r->elements < 3) return;
    std::string_view kind(r->element[0]->str, r->element[0]->len);
    if (kind == "subscribe") {
        if (auto* f = static_cast<std::function<void()>*>(privdata); f && *f) {
            auto once = std::move(*f);
            *f = nullptr;
            once();
        }
    } else if (kind == "message" && self->on_message_) {
        self->on_message_({r->element[1]->str, r->element[1]->len},
                          {r->element[2]->str, r->element[2]->len});
    }
}

void RedisConn::subscribe(const std::string& channel, std::function<void()> on_subscribed) {
    if (!ac_) return;
    subscribed_.push_back(std::make_unique<std::function<void()>>(std::move(on_subscribed)));
    const char* argv[] = {"SUBSCRIBE", channel.data()};
    const std::size_t lens[] = {9, channel.size()};
    redisAsyncCommandArgv(ac_, &RedisConn::message_cb, subscribed_.back().get(), 2, argv, lens);
}

}  // namespace liveshare::cluster
