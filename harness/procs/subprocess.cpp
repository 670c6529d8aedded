#include "procs/subprocess.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/process.hpp>
#include <cstdlib>
#include <stdexcept>
#include <thread>

namespace harness {

namespace bp = boost::process;

int run_command(const std::vector<std::string>& argv, std::string& out, const std::string& input) {
    bp::opstream in;
    bp::ipstream output;
    std::error_code ec;
    bp::child c(bp::exe = argv.at(0),
                bp::args = std::vector<std::string>(argv.begin() + 1, argv.end()),
                bp::std_in<in, (bp::std_out & bp::std_err)> output, ec);
    if (ec) {
        out = "cannot start " + argv[0] + ": " + ec.message();
        return 127;
    }
    if (!input.empty()) in << input;
    in.flush();
    in.pipe().close();
    out.assign(std::istreambuf_iterator<char>(output), {});
    c.wait(ec);
    if (ec) return 128;
    return c.native_exit_code() & 0x7f ? 128 : c.exit_code();
}

Spawned spawn(const std::vector<std::string>& argv) {
    bp::pipe out, err;
    std::error_code ec;
    bp::child c(bp::exe = argv.at(0),
                bp::args = std::vector<std::string>(argv.begin() + 1, argv.end()),
                bp::std_out > out, bp::std_err > err, ec);
    if (ec) throw std::runtime_error("cannot start " + argv[0] + ": " + ec.message());
    // The caller signals and reaps the pid itself: the child object lets go of it.
    Spawned s;
    s.pid = c.id();
    c.detach();
    s.stdout_fd = ::dup(out.native_source());
    s.stderr_fd = ::dup(err.native_source());
    fcntl(s.stdout_fd, F_SETFD, FD_CLOEXEC);
    fcntl(s.stderr_fd, F_SETFD, FD_CLOEXEC);
    return s;  // `out` and `err` close their own ends (our dups stay open)
}

std::uint16_t free_loopback_port() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    std::uint16_t port = 0;
    if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
        getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

void stop_child(pid_t& pid, std::chrono::milliseconds grace) {
    if (pid <= 0) return;
    kill(pid, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + grace;
    while (std::chrono::steady_clock::now() < deadline) {
        if (waitpid(pid, nullptr, WNOHANG) == pid) {
            pid = -1;
            return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    pid = -1;
}

std::string find_executable(const char* env_var, const std::string& name,
                            const std::string& package) {
    if (const char* e = std::getenv(env_var)) return e;
    for (const char* dir : {"/usr/bin", "/usr/local/bin", "/usr/sbin", "/usr/local/sbin"}) {
        std::string p = std::string(dir) + "/" + name;
        if (access(p.c_str(), X_OK) == 0) return p;
    }
    throw std::runtime_error(name + " not found (apt-get install " + package + ", or set " +
                             env_var + ")");
}

}  // namespace harness
