// The server process: storage, the cluster, the listener (net/listener.hpp), the sweep and the
// shutdown around the I/O threads' loops (net/loops.hpp).
#pragma once
#include "config.hpp"

namespace liveshare {

// Binds, prints the bound port as the first line of stdout, serves until SIGTERM or SIGINT,
// then closes every session (1001) and flushes snapshots. Returns the process exit code.
int run_server(const ServerConfig& cfg);

}  // namespace liveshare
