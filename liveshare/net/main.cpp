// liveshare-server: the LiveShare collaboration server (system under test).
#include <sys/resource.h>

#include <csignal>

#include "config.hpp"
#include "server.hpp"

int main(int argc, char** argv) {
    std::signal(SIGPIPE, SIG_IGN);
    // Thousands of sockets: lift the soft descriptor limit to the hard one.
    if (rlimit rl{}; getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    return liveshare::run_server(liveshare::parse_server_args(argc, argv));
}
