// liveshare-server: the LiveShare collaboration server (system under test).
#include <csignal>

#include "config.hpp"
#include "server.hpp"

int main(int argc, char** argv) {
    std::signal(SIGPIPE, SIG_IGN);
    return liveshare::run_server(liveshare::parse_server_args(argc, argv));
}
