// The production path on this machine: a reverse proxy (HAProxy, from Debian) in front of one
// or more liveshare-server nodes, terminating TLS and spreading connections over the nodes,
// and the certificates it needs, made at run time (never committed keys).
//
// HAProxy rather than nginx: one process with a fixed thread count (nbthread 1 here, like the
// server's one I/O thread), so its CPU per delivery is one process's; WebSocket upgrades pass
// in `mode http` with no extra directives; `balance leastconn` suits long-lived connections;
// and `haproxy -c` checks a configuration before it starts.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace harness {

// A private CA and one server certificate it signed, in a temporary directory (removed with
// the object). `names` become the certificate's subjectAltName (DNS names and IP addresses).
class TestPki {
  public:
    explicit TestPki(const std::vector<std::string>& names = {"localhost", "127.0.0.1"});
    ~TestPki();
    TestPki(const TestPki&) = delete;
    TestPki& operator=(const TestPki&) = delete;
    std::string ca_pem() const { return dir_ + "/ca.pem"; }          // what --tls_ca takes
    std::string server_pem() const { return dir_ + "/server.pem"; }  // certificate and key

  private:
    std::string dir_;
};

struct ProxyOptions {
    std::vector<std::string> backends;  // "HOST:PORT" of each node
    std::string certificate;            // PEM with certificate and key: TLS; empty: plain
    unsigned threads = 1;
};

class ProxyProcess {
  public:
    // Checks the configuration (haproxy -c), starts HAProxy ($LIVESHARE_HAPROXY, else from
    // the system) on a free loopback port and waits until it accepts connections. Throws
    // std::runtime_error with HAProxy's own words when it will not start.
    explicit ProxyProcess(const ProxyOptions& options);
    ~ProxyProcess();
    ProxyProcess(const ProxyProcess&) = delete;
    ProxyProcess& operator=(const ProxyProcess&) = delete;
    pid_t pid() const { return pid_; }
    std::uint16_t port() const { return port_; }
    // "wss://HOST:PORT" with TLS, "ws://HOST:PORT" without.
    std::string url(const std::string& host = "localhost") const;
    void stop();

  private:
    pid_t pid_ = -1;
    std::uint16_t port_ = 0;
    bool tls_ = false;
    std::string dir_;
};

}  // namespace harness
