// The production path: a TLS-terminating reverse proxy (HAProxy, harness/proxy_process.hpp)
// in front of the nodes, started here with a certificate made for the run.
//   load/tls/workload:W/path:direct/users:100      the users straight to the node (ws://)
//   load/tls/workload:W/path:proxy/users:100       through the proxy, plain (ws://)
//   load/tls/workload:W/path:proxy_tls/users:100   through the proxy, TLS (wss://)
//   load/tls/cluster/nodes:2/path:proxy_tls/users:100   the proxy balancing two nodes on Redis
// W is seed or editing. The difference direct -> proxy is the proxy's cost, proxy -> proxy_tls
// is TLS's; proxy_cpu_us_per_delivery and server_cpu_us_per_delivery are beside each other.
// TLS is user-space OpenSSL on both sides (kTLS is not available on these machines).
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <memory>
#include <optional>

#include "failures.hpp"
#include "load_support.hpp"
#include "options.hpp"
#include "procs/cluster_process.hpp"
#include "procs/proxy_process.hpp"
#include "procs/server_process.hpp"

namespace bench {

namespace {

constexpr std::size_t kUsers = 100;

enum class Path { Direct, Proxy, ProxyTls };

const char* path_name(Path p) {
    return p == Path::Direct ? "direct" : p == Path::Proxy ? "proxy" : "proxy_tls";
}

std::string host_port(const std::string& ws_url) {
    return ws_url.substr(ws_url.find("://") + 3);
}

void set_proxy_counters(benchmark::UserCounters& c, const LoadTestMetrics& m) {
    const auto it = m.watched.find("proxy");
    if (it == m.watched.end() || !it->second.measured) return;  // absent, not 0
    c["proxy_cpu_pct"] = it->second.cpu_pct;
    c["proxy_cpu_us_per_delivery"] = it->second.cpu_us_per_delivery;
    c["proxy_rss_mb"] = it->second.rss_mb;
    if (auto s = c.find("server_cpu_us_per_delivery"); s != c.end())
        c["server_and_proxy_cpu_us_per_delivery"] = s->second + it->second.cpu_us_per_delivery;
}

// A run's result, or the reason it could not run; the caller owns the processes' lifetimes.
LoadTestResult run_path(LoadTestConfigBuilder cfg, Path path, std::size_t nodes,
                        std::string& label) {
    std::unique_ptr<harness::ServerProcess> server;
    std::unique_ptr<harness::LocalCluster> cluster;
    std::vector<std::string> backends;
    pid_t server_pid = -1;
    const std::string db = bench_db_path();
    if (nodes == 0) {
        server = std::make_unique<harness::ServerProcess>(
            server_binary(), bench_server_args(cfg.config().users, db));
        backends.push_back(host_port(server->url()));
        server_pid = server->pid();
    } else {
        cluster = std::make_unique<harness::LocalCluster>(
            server_binary(), nodes, bench_server_args(cfg.config().users, ""));
        for (std::size_t k = 0; k < nodes; ++k) {
            backends.push_back(host_port(cluster->nodes()[k]->url()));
            cfg.watch(fmt::format("node{}", k), cluster->nodes()[k]->pid());
        }
        cfg.watch("redis", cluster->redis().pid());
    }
    std::optional<harness::TestPki> pki;
    std::unique_ptr<harness::ProxyProcess> proxy;
    if (path == Path::Direct) {
        cfg.target(server ? server->url() : cluster->targets());
        label = "direct to the node (ws://)";
    } else {
        harness::ProxyOptions po;
        po.backends = backends;
        if (path == Path::ProxyTls) {
            pki.emplace();
            po.certificate = pki->server_pem();
            harness::TlsOptions trust;  // the run's own CA, whatever --tls_* say
            trust.ca_file = pki->ca_pem();
            cfg.tls(trust);
        }
        proxy = std::make_unique<harness::ProxyProcess>(po);
        cfg.target(proxy->url("localhost")).watch("proxy", proxy->pid());
        label = fmt::format("through HAProxy ({}, leastconn over {} node(s))",
                            path == Path::ProxyTls ? "TLS terminated there, wss://" : "ws://",
                            backends.size());
    }
    auto r = harness::run_load_test(cfg.build(), server_pid);
    if (proxy) proxy->stop();
    if (server) {
        server->stop();
        remove_db(db);
    }
    return r;
}

void bm_tls(benchmark::State& st, Workload w, Path path, std::size_t nodes) {
    if (!options().target.empty())
        return fail(st,
                    "load/tls starts its own server and proxy; against a --target (ws:// or "
                    "wss://) run load/users:N");
    for (auto _ : st) {
        std::string label;
        LoadTestResult r;
        try {
            r = run_path(base_config(kUsers, w), path, nodes, label);
        } catch (const std::exception& e) {
            return fail(st, std::string("could not start the server or the proxy: ") + e.what());
        }
        const auto& m = r.metrics;
        if (m.users_joined && m.convergence == harness::Convergence::Diverged)
            return fail(st, "NOT CONVERGED: " + m.convergence_detail + "; " + describe(m, label));
        finish(st, r, label);
        set_proxy_counters(st.counters, m);
    }
}

}  // namespace

void register_tls_benchmarks() {
    for (Workload w : {Workload::Seed, Workload::Editing})
        for (Path p : {Path::Direct, Path::Proxy, Path::ProxyTls})
            load(benchmark::RegisterBenchmark(
                fmt::format("load/tls/workload:{}/path:{}/users:{}", harness::to_string(w),
                            path_name(p), kUsers)
                    .c_str(),
                bm_tls, w, p, std::size_t{0}));
    load(benchmark::RegisterBenchmark(
        fmt::format("load/tls/cluster/nodes:2/path:proxy_tls/users:{}", kUsers).c_str(), bm_tls,
        Workload::Seed, Path::ProxyTls, std::size_t{2}));
}

}  // namespace bench
