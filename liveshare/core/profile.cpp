#include "profile.hpp"

#include <charconv>
#include <sstream>

#include "hot_paths.hpp"

namespace liveshare {

Profile baseline_profile() {
    Profile p;
    p.name = "baseline";
    p.serialize = "dom";
    p.fanout = "copy";
    p.cursor = "forward";
    p.compress = CompressMode::None;
    p.batch = false;
    p.write = WritePath::Frame;
    return p;
}

// The candidates that won on this machine (optimizations/README.md has the numbers).
Profile optimized_profile() {
    Profile p;
    p.name = "optimized";
    p.serialize = "splice";
    p.fanout = "shared";
    p.cursor = "coalesce";
    p.compress = CompressMode::None;
    p.batch = true;
    p.batch_window_us = 0;
    return p;
}

std::string Profile::describe() const {
    std::string s = "serialize:" + serialize + ",fanout:" + fanout + ",cursor:" + cursor;
    s += compress == CompressMode::None ? ",compress:none" : ",compress:deflate";
    s += batch ? ",batch:" + std::to_string(batch_window_us) : ",batch:off";
    s += write == WritePath::Frame ? ",write:frame" : ",write:corked";
    if (write == WritePath::Corked && cork_us) s += ",cork:" + std::to_string(cork_us);
    if (!utf8_check) s += ",utf8:off";
    return s;
}

bool parse_profile(const std::string& spec, Profile& out, std::string& error) {
    if (spec == "baseline") return out = baseline_profile(), true;
    if (spec == "optimized") return out = optimized_profile(), true;
    // A list starts from optimized, or from the profile it names first ("baseline,batch:0").
    Profile p = optimized_profile();
    std::istringstream in(spec);
    bool first = true;
    for (std::string item; std::getline(in, item, ','); first = false) {
        if (first && (item == "baseline" || item == "optimized")) {
            p = item == "baseline" ? baseline_profile() : optimized_profile();
            continue;
        }
        auto colon = item.find(':');
        std::string path = item.substr(0, colon),
                    v = colon == std::string::npos ? "" : item.substr(colon + 1);
        auto known = [&](const char* p) {
            for (const auto& n : candidate_names(p))
                if (n == v) return true;
            return false;
        };
        if (path == "serialize" && known("serialize"))
            p.serialize = v;
        else if (path == "fanout" && known("fanout"))
            p.fanout = v;
        else if (path == "cursor" && known("cursor"))
            p.cursor = v;
        else if (path == "compress" && (v == "none" || v == "deflate"))
            p.compress = v == "none" ? CompressMode::None : CompressMode::Deflate;
        else if (path == "write" && (v == "frame" || v == "corked"))
            p.write = v == "frame" ? WritePath::Frame : WritePath::Corked;
        else if (path == "utf8" && (v == "on" || v == "off"))
            p.utf8_check = v == "on";
        else if (path == "cork") {
            std::uint32_t w = 0;
            auto r = std::from_chars(v.data(), v.data() + v.size(), w);
            if (r.ec != std::errc{} || r.ptr != v.data() + v.size() || w > 100000)
                return error = "bad cork window '" + v + "' (microseconds, at most 100000)", false;
            p.cork_us = w;
        } else if (path == "batch" && v == "off")
            p.batch = false;
        else if (path == "batch") {
            std::uint32_t w = 0;
            auto r = std::from_chars(v.data(), v.data() + v.size(), w);
            if (r.ec != std::errc{} || r.ptr != v.data() + v.size())
                return error = "bad batch window '" + v + "'", false;
            p.batch = true;
            p.batch_window_us = w;
        } else {
            auto list = [](const char* p) {
                std::string out;
                for (const auto& n : candidate_names(p)) out += (out.empty() ? "" : "|") + n;
                return out;
            };
            error = "unknown profile item '" + item +
                    "' (want baseline, optimized, or serialize:" + list("serialize") +
                    ", fanout:" + list("fanout") + ", cursor:" + list("cursor") +
                    ", compress:none|deflate, batch:off|<window_us>, write:frame|corked, "
                    "cork:<us>, utf8:on|off)";
            return false;
        }
    }
    // permessage-deflate and a batch window live in Beast's stream and its timers.
    if (p.compress == CompressMode::Deflate || (p.batch && p.batch_window_us > 0)) {
        if (spec.find("write:corked") != std::string::npos || p.cork_us)
            return error =
                       "write:corked supports neither compress:deflate nor a batch window (use "
                       "write:frame)",
                   false;
        p.write = WritePath::Frame;
    }
    p.name = spec;
    out = p;
    return true;
}

}  // namespace liveshare
