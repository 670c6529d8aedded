// liveshare-server: the LiveShare collaboration server (system under test). The only file that
// knows both the server and the optimization candidates: they register here, before a
// --profile names them.
#include <sys/resource.h>

#include <csignal>
#include <cstdio>

#include "candidates.hpp"
#include "config.hpp"
#include "net/server.hpp"

int main(int argc, char** argv) {
    std::signal(SIGPIPE, SIG_IGN);
    // Thousands of sockets: lift the soft descriptor limit to the hard one.
    if (rlimit rl{}; getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    // The optimization candidates join the core's defaults before a --profile names them.
    liveshare::register_optimizations();
    const auto args = liveshare::parse_server_args(argc, argv);
    if (args.help) {
        std::fputs(liveshare::server_usage().c_str(), stdout);
        return 0;
    }
    if (!args.error.empty()) {
        std::fprintf(stderr, "liveshare-server: %s\n(see --help)\n", args.error.c_str());
        return 2;
    }
    if (args.cfg.check) {  // the flags are usable: say what would run, start nothing
        std::printf("liveshare-server: flags ok (profile %s)\n",
                    args.cfg.profile.describe().c_str());
        return 0;
    }
    return liveshare::run_server(args.cfg);
}
