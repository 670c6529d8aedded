#include "subprocess.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <boost/process.hpp>
#include <stdexcept>

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

}  // namespace harness
