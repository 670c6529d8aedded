// Starting processes, on Boost.Process (fork, exec and the pipes are its job): a command run
// to completion with its output, and a long-running child whose stdout and stderr we read.
#pragma once
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace harness {

// Runs argv (argv[0] an absolute path, no shell), feeding `input` to its stdin; returns its
// exit status (128 when it did not exit normally) with stdout and stderr together in `out`.
int run_command(const std::vector<std::string>& argv, std::string& out,
                const std::string& input = "");

// A started child process. The pid is ours to signal and reap (waitpid); the pipes are its
// stdout and stderr, read with poll/read.
struct Spawned {
    pid_t pid = -1;
    int stdout_fd = -1, stderr_fd = -1;
};
// Throws std::runtime_error when it cannot be started.
Spawned spawn(const std::vector<std::string>& argv);

// A loopback TCP port that was free a moment ago (bound to port 0, then released).
std::uint16_t free_loopback_port();
// SIGTERM, up to `grace` for it to exit, then SIGKILL; reaps it and sets pid to -1.
void stop_child(pid_t& pid, std::chrono::milliseconds grace = std::chrono::milliseconds(2000));
// Finds an executable: $env_var if set, else the first of `dirs` that has `name`; throws
// std::runtime_error naming the package to install.
std::string find_executable(const char* env_var, const std::string& name,
                            const std::string& package);

}  // namespace harness
