#include "failures.hpp"

#include <atomic>

namespace bench {

namespace {
std::atomic<int> g_failures{0};
}

void fail(benchmark::State& st, const std::string& why) {
    g_failures.fetch_add(1);
    st.SkipWithError(why.c_str());
}

int failures() {
    return g_failures.load();
}

}  // namespace bench
