// The network side of the server (Boost.Beast): listener, HTTP and WebSocket sessions.
// Kept to one translation unit because Beast is heavy to compile.
#pragma once
#include "config.hpp"

namespace liveshare {

// Binds, prints the bound port as the first line of stdout, serves until SIGTERM or SIGINT,
// then closes every session (1001) and flushes snapshots. Returns the process exit code.
int run_server(const ServerConfig& cfg);

}  // namespace liveshare
