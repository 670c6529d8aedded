#include "run/coordinator.hpp"

#include <fmt/format.h>
#include <time.h>

#include <chrono>
#include <optional>
#include <regex>

#include "measure/clock_offset.hpp"
#include "run/coordinator_lua.hpp"

namespace harness {

namespace lua = coordinator_lua;

namespace {

constexpr int kTimeoutMs = 2000;                       // one command
constexpr auto kLostAfter = std::chrono::seconds(10);  // the publisher gives up

double thread_cpu_s() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// {code, text} from a script's reply.
std::pair<std::int64_t, std::string> answer(const RedisReply& r, const std::string& url) {
    if (r.type == RedisReply::Type::Error)
        throw RedisError("coordinator " + url + " refused a script: " + r.str);
    if (r.type != RedisReply::Type::Array || r.elements.size() != 2)
        throw RedisError("coordinator " + url + ": a script answered in an unknown shape");
    return {r.elements[0].integer, r.elements[1].str};
}

}  // namespace

std::string check_run_id(const std::string& id) {
    static const std::regex ok("[A-Za-z0-9][A-Za-z0-9._-]{0,63}");
    if (std::regex_match(id, ok)) return "";
    return "'" + id +
           "' is not a run name: 1-64 of A-Z a-z 0-9 . _ -, starting with a letter or digit";
}

// A script by its SHA1 (loaded once per connection's Redis): a poll every 10 ms sends 60 bytes,
// not the script's 1.5 KB. A Redis that restarted forgets it: NOSCRIPT loads it again.
RedisReply RunCoordinator::eval(const std::string& script, std::vector<std::string> args) {
    std::string& sha = shas_[script];
    if (sha.empty()) sha = control_.command({"SCRIPT", "LOAD", script}).str;
    args.insert(args.begin(), {"EVALSHA", sha, "0", key("")});
    auto r = control_.command(args);
    if (r.type == RedisReply::Type::Error && r.str.starts_with("NOSCRIPT")) {
        sha = control_.command({"SCRIPT", "LOAD", script}).str;
        args[1] = sha;
        r = control_.command(args);
    }
    return r;
}

RunCoordinator::RunCoordinator(CoordinatorOptions o)
    : o_(std::move(o)), control_(o_.url, kTimeoutMs) {
    if (const auto why = check_run_id(o_.run_id); !why.empty()) throw std::invalid_argument(why);
    claim();
    thread_ = std::thread([this] { publisher(); });
}

RunCoordinator::~RunCoordinator() {
    {
        std::lock_guard lk(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void RunCoordinator::claim() {
    std::vector<std::string> cmd = {std::to_string(o_.shards),
                                    std::to_string(o_.fixed_index),
                                    std::to_string(o_.timeout_s * 1000LL),
                                    std::to_string(o_.keep_s * 1000LL),
                                    o_.who,
                                    o_.run_id};
    for (const auto& [k, v] : o_.fingerprint) {
        cmd.push_back(k);
        cmd.push_back(v);
    }
    const auto [code, text] = answer(eval(std::string(lua::kNow) + lua::kClaim, cmd), o_.url);
    if (code < 0) throw std::runtime_error(text);
    index_ = static_cast<unsigned>(code);
}

std::int64_t RunCoordinator::ready_and_wait(unsigned round, const std::string& benchmark,
                                            std::int64_t run_ms, std::size_t joined) {
    const auto [code, text] =
        answer(eval(std::string(lua::kNow) + lua::kReady,
                    {std::to_string(round), std::to_string(index_), benchmark,
                     std::to_string(o_.lead_ms), std::to_string(run_ms),
                     std::to_string(o_.keep_s * 1000LL), o_.run_id, std::to_string(joined)}),
               o_.url);
    if (code < 0) throw std::runtime_error(text);
    // Bounded: the round's deadline (set by the first shard ready) ends the wait in Redis;
    // this bound only covers a Redis whose clock stopped.
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(o_.timeout_s) +
                         std::chrono::seconds(30);
    const std::string poll = std::string(lua::kNow) + lua::kPoll;
    while (std::chrono::steady_clock::now() < give_up) {
        const auto [c, t] = answer(
            eval(poll, {std::to_string(round), std::to_string(o_.keep_s * 1000LL), o_.run_id}),
            o_.url);
        if (c < 0) throw std::runtime_error(t);
        if (c == 1) return std::stoll(t);
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    throw std::runtime_error("run " + o_.run_id + ": no start and no deadline from " + o_.url);
}

std::int64_t RunCoordinator::time_us() {
    return control_.time_us();
}

void RunCoordinator::fail(const std::string& reason) {
    try {
        eval(lua::kFail, {reason});
    } catch (const RedisError&) {
        // Redis lost: the collector reports that itself.
    }
}

void RunCoordinator::publish_interval(unsigned round, unsigned k, std::string json) {
    {
        std::lock_guard lk(mu_);
        if (!lost_.empty()) return;
        queue_.push_back({round, "interval", k, std::move(json)});
    }
    cv_.notify_all();
}

std::string RunCoordinator::finish(unsigned round, std::string shard_json) {
    std::unique_lock lk(mu_);
    if (lost_.empty()) queue_.push_back({round, "final", 0, std::move(shard_json)});
    cv_.notify_all();
    cv_.wait_for(lk, kLostAfter + std::chrono::seconds(20),
                 [&] { return !lost_.empty() || (queue_.empty() && !busy_); });
    if (!lost_.empty()) return lost_;
    if (!queue_.empty() || busy_)
        return "coordinator " + o_.url + ": the shard's results were not stored in time";
    return "";
}

bool RunCoordinator::store(RedisClient& c, const Entry& e) {
    const std::string stream = key(fmt::format("r{}:s{}", e.round, index_));
    unsigned& id = next_id_[e.round];
    std::string data = e.data;
    // The clock during the run: every tenth interval, 8 round trips (the lowest RTT's offset).
    if (e.kind == "interval" && e.k % 10 == 9 && data.size() > 1 && data.back() == '}') {
        const auto off = lowest_rtt_offset([&] { return c.time_us(); }, o_.skew_us, 8);
        data.pop_back();
        data += fmt::format(",\"clock_offset_us\":{:.1f},\"clock_uncertainty_us\":{:.1f}}}",
                            off.offset_us, off.uncertainty_us);
    }
    const auto replies =
        c.pipeline({{"XADD", stream, fmt::format("{}-0", id + 1), "kind", e.kind, "k",
                     std::to_string(e.k), "data", data},
                    {"PEXPIRE", stream, std::to_string((o_.timeout_s + o_.keep_s) * 1000LL)}});
    // An id at or below the stream's top: a retry of an entry Redis already stored.
    const auto& x = replies.front();
    if (x.type == RedisReply::Type::Error && x.str.find("equal or smaller") == std::string::npos)
        throw RedisError("coordinator " + o_.url + " refused an entry: " + x.str);
    ++id;
    return true;
}

void RunCoordinator::publisher() {
    std::unique_ptr<RedisClient> c;
    std::uint64_t base_cmd = 0, base_out = 0, base_in = 0;  // of clients lost before
    std::chrono::steady_clock::time_point failing_since{};  // epoch: not failing
    std::unique_lock lk(mu_);
    for (;;) {
        cv_.wait(lk, [&] { return stop_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping with nothing left
        Entry e = queue_.front();
        busy_ = true;
        lk.unlock();
        std::string why;
        try {
            if (!c) c = std::make_unique<RedisClient>(o_.url, kTimeoutMs);
            store(*c, e);
        } catch (const std::exception& ex) {
            why = ex.what();
            if (c) {
                base_cmd += c->commands(), base_out += c->bytes_out(), base_in += c->bytes_in();
                c.reset();
            }
        }
        const double cpu = thread_cpu_s();
        lk.lock();
        busy_ = false;
        pub_cpu_s_ = cpu;
        pub_commands_ = base_cmd + (c ? c->commands() : 0);
        pub_out_ = base_out + (c ? c->bytes_out() : 0);
        pub_in_ = base_in + (c ? c->bytes_in() : 0);
        if (why.empty()) {
            failing_since = {};
            queue_.pop_front();
            ++entries_;
        } else {
            const auto now = std::chrono::steady_clock::now();
            if (failing_since == std::chrono::steady_clock::time_point{}) failing_since = now;
            if (now - failing_since >= kLostAfter || stop_) {
                lost_ = fmt::format("coordinator lost at {} {}: {}",
                                    e.kind == "final" ? "the final entry" : "interval",
                                    e.kind == "final" ? "" : std::to_string(e.k), why);
                queue_.clear();
            } else {
                cv_.wait_for(lk, std::chrono::milliseconds(200), [&] { return stop_; });
            }
        }
        cv_.notify_all();
        if (stop_ && queue_.empty()) return;
    }
}

RunCoordinator::Cost RunCoordinator::cost() {
    std::lock_guard lk(mu_);
    Cost out;
    out.control_commands = control_.commands();
    out.control_bytes = control_.bytes_out() + control_.bytes_in();
    out.stream_commands = pub_commands_;
    out.stream_bytes = pub_out_ + pub_in_;
    out.entries = entries_;
    out.publisher_cpu_s = pub_cpu_s_;
    return out;
}

}  // namespace harness
