#include "procs/proxy_process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "procs/subprocess.hpp"

namespace harness {

namespace {

std::string make_temp_dir(const char* what) {
    std::string tmpl = std::string("/tmp/liveshare-") + what + "-XXXXXX";
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    return tmpl;
}

void write_file(const std::string& path, const std::string& text) {
    std::ofstream f(path);
    f << text;
    if (!f) throw std::runtime_error("cannot write " + path);
}

void openssl(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {find_executable("LIVESHARE_OPENSSL", "openssl", "openssl")};
    argv.insert(argv.end(), args.begin(), args.end());
    std::string out;
    if (run_command(argv, out) != 0)
        throw std::runtime_error("openssl " + args.at(0) + " failed: " + out);
}

bool accepts(std::uint16_t port) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    close(fd);
    return ok;
}

std::string read_available(int fd) {
    std::string out;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    char buf[4096];
    for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;)
        out.append(buf, static_cast<std::size_t>(n));
    return out;
}

// Two descriptors per proxied connection: as many connections as the hard limit allows.
unsigned max_connections() {
    rlimit r{};
    if (getrlimit(RLIMIT_NOFILE, &r) != 0 || r.rlim_max == RLIM_INFINITY) return 20000;
    return static_cast<unsigned>(std::min<rlim_t>(200000, (r.rlim_max - 200) / 2));
}

}  // namespace

TestPki::TestPki(const std::vector<std::string>& names) : dir_(make_temp_dir("pki")) {
    try {
        std::string san;
        for (const auto& n : names) {
            unsigned char ip[16];
            const bool is_ip =
                inet_pton(AF_INET, n.c_str(), ip) == 1 || inet_pton(AF_INET6, n.c_str(), ip) == 1;
            san += (san.empty() ? "" : ",") + std::string(is_ip ? "IP:" : "DNS:") + n;
        }
        const std::string d = dir_ + "/";
        openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-days", "2", "-subj", "/CN=liveshare test CA", "-addext",
                 "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign",
                 "-keyout", d + "ca.key", "-out", d + "ca.pem"});
        openssl({"req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-subj", "/CN=" + names.at(0), "-keyout", d + "server.key", "-out",
                 d + "server.csr"});
        write_file(
            d + "server.ext",
            "subjectAltName=" + san + "\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n");
        openssl({"x509", "-req", "-in", d + "server.csr", "-CA", d + "ca.pem", "-CAkey",
                 d + "ca.key", "-CAcreateserial", "-days", "2", "-extfile", d + "server.ext",
                 "-out", d + "server.crt"});
        std::ifstream crt(d + "server.crt"), key(d + "server.key");
        std::string both((std::istreambuf_iterator<char>(crt)), {});
        both.append((std::istreambuf_iterator<char>(key)), {});
        write_file(server_pem(), both);
    } catch (...) {
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
        throw;
    }
}

TestPki::~TestPki() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
}

ProxyProcess::ProxyProcess(const ProxyOptions& o) : tls_(!o.certificate.empty()) {
    if (o.backends.empty()) throw std::runtime_error("the proxy needs at least one backend");
    const std::string bin = find_executable("LIVESHARE_HAPROXY", "haproxy", "haproxy");
    dir_ = make_temp_dir("proxy");
    std::string why;
    for (int attempt = 0; attempt < 3 && port_ == 0; ++attempt) {
        const std::uint16_t port = free_loopback_port();
        std::string cfg = "global\n    maxconn " + std::to_string(max_connections()) +
                          "\n    nbthread " + std::to_string(std::max(1u, o.threads)) +
                          "\n    ssl-default-bind-options ssl-min-ver TLSv1.2\n"
                          "defaults\n    mode http\n    timeout connect 5s\n"
                          "    timeout client 60s\n    timeout server 60s\n"
                          "    timeout tunnel 1h\n"
                          "frontend liveshare\n    bind 127.0.0.1:" +
                          std::to_string(port) +
                          (tls_ ? " ssl crt " + o.certificate + " alpn http/1.1" : "") +
                          "\n    default_backend nodes\n"
                          "backend nodes\n    balance leastconn\n";
        for (std::size_t i = 0; i < o.backends.size(); ++i)
            cfg += "    server node" + std::to_string(i) + " " + o.backends[i] + "\n";
        const std::string file = dir_ + "/haproxy.cfg";
        write_file(file, cfg);
        std::string out;
        if (run_command({bin, "-c", "-q", "-f", file}, out) != 0) {
            stop();
            throw std::runtime_error("haproxy refused its configuration: " + out);
        }
        const Spawned child = spawn({bin, "-db", "-f", file});
        close(child.stdout_fd);
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        bool exited = false;
        while (std::chrono::steady_clock::now() < deadline && !exited) {
            if (accepts(port)) {
                pid_ = child.pid;
                port_ = port;
                break;
            }
            exited = waitpid(child.pid, nullptr, WNOHANG) == child.pid;
            if (!exited) std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        if (port_ == 0) {
            if (!exited) {
                pid_t p = child.pid;
                stop_child(p);
            }
            why = "haproxy did not accept connections on port " + std::to_string(port) + ": " +
                  read_available(child.stderr_fd);
        }
        close(child.stderr_fd);
    }
    if (port_ == 0) {
        stop();
        throw std::runtime_error(why);
    }
}

ProxyProcess::~ProxyProcess() {
    stop();
}

std::string ProxyProcess::url(const std::string& host) const {
    return std::string(tls_ ? "wss://" : "ws://") + host + ":" + std::to_string(port_);
}

void ProxyProcess::stop() {
    stop_child(pid_);
    if (!dir_.empty()) {
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
        dir_.clear();
    }
}

}  // namespace harness
