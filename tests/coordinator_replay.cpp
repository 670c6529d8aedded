// Plays a coordinated run's shards from one recorded shard document (no server, no users):
// N shards register with the coordinator, pass its barrier, stream the recording's intervals
// one per interval_ms from the common start, and store their shares. For the collector's load
// (how many shards at 1 s it keeps up with) and its test; each shard's share is the recording
// with its users and rooms renumbered into the shard's own, so the run merges exactly.
//
//   coordinator_replay --coordinator=redis://H:P --run_id=NAME --shards=N --intervals=K
//                      --interval_ms=MS --from=SHARD.json
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "run/coordinator.hpp"
#include "run/coordinator_lua.hpp"

namespace json = boost::json;
using namespace harness;

namespace {

struct Args {
    std::string url, run, from;
    unsigned shards = 0, intervals = 10, interval_ms = 1000;
};

bool parse(int argc, char** argv, Args& a) {
    for (int i = 1; i < argc; ++i) {
        const std::string s = argv[i];
        auto val = [&](const char* k) -> const char* {
            const std::size_t n = std::strlen(k);
            return s.compare(0, n, k) == 0 ? s.c_str() + n : nullptr;
        };
        if (auto v = val("--coordinator="))
            a.url = v;
        else if (auto v2 = val("--run_id="))
            a.run = v2;
        else if (auto v3 = val("--from="))
            a.from = v3;
        else if (auto v4 = val("--shards="))
            a.shards = static_cast<unsigned>(std::stoul(v4));
        else if (auto v5 = val("--intervals="))
            a.intervals = static_cast<unsigned>(std::stoul(v5));
        else if (auto v6 = val("--interval_ms="))
            a.interval_ms = static_cast<unsigned>(std::stoul(v6));
        else
            return false;
    }
    return !a.url.empty() && !a.run.empty() && !a.from.empty() && a.shards >= 1 &&
           a.shards <= 1000 && a.intervals >= 1 && a.interval_ms >= 10;
}

// The recording as shard i of n: users and rooms renumbered, its intervals left to the stream.
std::string share(json::object doc, unsigned i, unsigned n) {
    const auto users = doc["users"].to_number<std::int64_t>();
    doc["shard"] = i;
    doc["shards"] = n;
    doc["users"] = users * n;
    for (auto& u : doc["per_user"].as_array()) {
        auto& o = u.as_object();
        o["index"] = o["index"].to_number<std::int64_t>() * n + i;
        o["room"] = o["room"].to_number<std::int64_t>() * n + i;
    }
    doc["intervals"] = json::array();  // streamed one by one, as a shard does
    // One recording played N times has no start skew of its own to report.
    for (const char* k : {"first_send_wall_us", "first_send_ref_us", "first_send_planned_us"})
        doc.erase(k);
    return json::serialize(doc);
}

void play(const Args& a, const json::object& rec, unsigned slot, std::string& error) {
    try {
        CoordinatorOptions o;
        o.url = a.url;
        o.run_id = a.run;
        o.shards = a.shards;
        o.timeout_s = 60;
        o.lead_ms = 500;
        o.keep_s = 600;
        o.who = "replay " + std::to_string(slot);
        o.fingerprint = {{"interval_ms", std::to_string(a.interval_ms)},
                         {"warmup_s", "0"},
                         {"duration_s", std::to_string(a.intervals * a.interval_ms / 1000.0)},
                         {"drain_s", "1"}};
        RunCoordinator c(o);
        const auto name = std::string(rec.at("benchmark").as_string());
        const auto joined =
            static_cast<std::size_t>(rec.at("users_joined").to_number<std::int64_t>());
        const std::int64_t start = c.ready_and_wait(0, name, a.intervals * a.interval_ms, joined);
        const auto epoch = std::chrono::steady_clock::now() +
                           std::chrono::milliseconds(start - c.time_us() / 1000);
        const auto& iv = rec.at("intervals").as_array();
        for (unsigned k = 0; k < a.intervals; ++k) {
            std::this_thread::sleep_until(epoch +
                                          std::chrono::milliseconds((k + 1) * a.interval_ms));
            c.publish_interval(0, k, json::serialize(iv[k % iv.size()]));
        }
        error = c.finish(0, share(rec, c.index(), a.shards));
        RedisClient r(a.url, 2000);
        r.command({"EVAL", coordinator_lua::kDone, "0",
                   "lsb:{" + a.run + "}:", std::to_string(c.index()), "1"});
    } catch (const std::exception& e) {
        error = e.what();
    }
}

}  // namespace

int main(int argc, char** argv) {
    Args a;
    if (!parse(argc, argv, a)) {
        std::fprintf(stderr,
                     "usage: coordinator_replay --coordinator=redis://H:P --run_id=NAME "
                     "--shards=N --intervals=K [--interval_ms=MS] --from=SHARD.json\n");
        return 2;
    }
    std::ifstream in(a.from);
    std::stringstream text;
    text << in.rdbuf();
    json::object rec;
    try {
        rec = json::parse(text.str()).as_object();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "coordinator_replay: %s: %s\n", a.from.c_str(), e.what());
        return 2;
    }
    std::vector<std::string> errors(a.shards);
    std::vector<std::thread> threads;
    for (unsigned i = 0; i < a.shards; ++i)
        threads.emplace_back([&, i] { play(a, rec, i, errors[i]); });
    for (auto& t : threads) t.join();
    int rc = 0;
    for (unsigned i = 0; i < a.shards; ++i)
        if (!errors[i].empty()) {
            std::fprintf(stderr, "coordinator_replay: shard %u: %s\n", i, errors[i].c_str());
            rc = 1;
        }
    return rc;
}
