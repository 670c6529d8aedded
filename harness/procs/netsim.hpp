// Network impairment for load runs.
//
// ImpairmentProxy: a user-space TCP proxy between the simulated users and the server that
// delays each direction (latency + jitter), caps its bandwidth, stalls it, resets
// connections at a Poisson rate, and, when real packet loss is not available, models loss:
// a segment lost with probability p is held for a retransmission timeout (doubling while it
// keeps being lost), blocking every byte behind it, as TCP's in-order delivery does.
//
// LossNamespace: real packet loss. As root, a network namespace of our own, reached over a
// veth pair, where nftables drops TCP packets at random (`numgen random`) as they arrive at
// either end of the pair; the server runs inside it, so the kernel's own TCP retransmits
// what is lost.
#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace harness {

struct ImpairmentSettings {
    double latency_ms = 0;      // one way, each direction
    double jitter_ms = 0;       // uniform in [-jitter, +jitter], order kept (TCP is in order)
    double bandwidth_mbps = 0;  // per direction per connection; 0: unlimited
    double loss_pct = 0;        // the model (use LossNamespace for the real thing)
    double rto_ms = 200;        // Linux's minimum retransmission timeout
    std::size_t segment_bytes = 1448;
    double resets_per_min = 0;  // over all connections, Poisson
    double stalls_per_min = 0;  // over all connections, Poisson; one direction stops...
    double stall_ms = 0;        // ...for this long
    std::size_t max_buffered_bytes = 4 << 20;  // per direction; reading pauses above it
    std::uint64_t seed = 1;
    bool any() const {
        return latency_ms > 0 || jitter_ms > 0 || bandwidth_mbps > 0 || loss_pct > 0 ||
               resets_per_min > 0 || stalls_per_min > 0;
    }
};

struct ProxyStats {
    std::uint64_t connections = 0, resets = 0, stalls = 0, segments = 0, segments_lost = 0;
    std::uint64_t bytes_to_server = 0, bytes_to_client = 0, upstream_failures = 0;
};

// What the proxy did, in order, for tests (bounded; off unless asked for).
struct ProxyEvent {
    enum Kind { Accepted, Read, Forwarded, Reset, Stalled, Closed } kind;
    std::uint64_t conn = 0;
    int dir = 0;            // 0: client to server, 1: server to client
    std::int64_t t_us = 0;  // since the proxy started (Forwarded: when the write began)
    std::uint64_t bytes = 0;
    std::int64_t due_us = 0;   // Forwarded: when its first segment was due
    std::int64_t held_us = 0;  // Forwarded: longest a segment of it was held (due - read)
};

class ImpairmentProxy {
  public:
    // Listens on 127.0.0.1 (a free port) and forwards to upstream_host:upstream_port.
    ImpairmentProxy(std::string upstream_host, std::uint16_t upstream_port, ImpairmentSettings s,
                    bool record_events = false);
    ~ImpairmentProxy();
    ImpairmentProxy(const ImpairmentProxy&) = delete;
    ImpairmentProxy& operator=(const ImpairmentProxy&) = delete;

    std::uint16_t port() const;
    std::string url() const { return "ws://127.0.0.1:" + std::to_string(port()); }
    void set_upstream(std::string host, std::uint16_t port);  // new connections go there
    void reset_all();  // RST every open connection now (fault injection)
    void set_fault_rates(double resets_per_min, double stalls_per_min);  // 0 stops them
    std::size_t open_connections() const;
    ProxyStats stats() const;
    std::vector<ProxyEvent> events() const;

  private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

class LossNamespace {
  public:
    // True when this process can build one (root, `ip` and `nft` present); else why not.
    static bool available(std::string& why);
    // Creates the namespace and veth pair and drops loss_pct % of TCP packets in each
    // direction. Throws std::runtime_error with the failing command's output.
    explicit LossNamespace(double loss_pct);
    ~LossNamespace();
    LossNamespace(const LossNamespace&) = delete;
    LossNamespace& operator=(const LossNamespace&) = delete;

    const std::string& name() const { return name_; }
    const std::string& host_address() const { return host_addr_; }    // our end of the veth
    const std::string& inner_address() const { return inner_addr_; }  // the server's
    // Prefix that runs a command inside the namespace.
    std::vector<std::string> exec_prefix() const {
        return {"/usr/sbin/ip", "netns", "exec", name_};
    }
    std::uint64_t dropped_packets() const;  // nftables counters, both directions
    std::uint64_t tcp_retransmits() const;  // segments the server's side retransmitted

  private:
    std::string host_table() const { return "lsloss_" + name_.substr(3); }
    void cleanup();
    std::string name_, host_if_, host_addr_, inner_addr_;
};

}  // namespace harness
