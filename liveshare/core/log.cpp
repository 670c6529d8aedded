#include "log.hpp"

#include <atomic>
#include <cstdio>
#include <string>

namespace liveshare::log {

namespace {
std::atomic<bool> g_quiet{false};
}

void set_quiet(bool quiet) {
    g_quiet.store(quiet);
}

void line(std::string_view text) {
    if (g_quiet.load(std::memory_order_relaxed)) return;
    std::string s = "liveshare-server: ";
    s.append(text);
    s += '\n';
    std::fwrite(s.data(), 1, s.size(), stderr);  // one write: lines of two threads do not mix
}

}  // namespace liveshare::log
