// The network namespace behind real packet loss: a veth pair to a namespace the test makes,
// and nftables dropping a share of TCP packets each way (netsim.hpp: LossNamespace).
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <stdexcept>

#include "procs/netsim.hpp"
#include "procs/subprocess.hpp"

namespace harness {

namespace {

void must(const std::vector<std::string>& args, const std::string& input = "") {
    std::string out;
    if (run_command(args, out, input) != 0) {
        std::string cmd;
        for (auto& a : args) cmd += (cmd.empty() ? "" : " ") + a;
        throw std::runtime_error("netns setup failed: '" + cmd + "': " + out);
    }
}

const char* kIp = "/usr/sbin/ip";
const char* kNft = "/usr/sbin/nft";

// Namespaces of ours whose creator is gone (a killed run) are removed before making one.
void remove_stale() {
    std::string out;
    if (run_command({kIp, "netns", "list"}, out) != 0) return;
    std::istringstream in(out);
    for (std::string line; std::getline(in, line);) {
        auto name = line.substr(0, line.find(' '));
        if (!name.starts_with("lsb")) continue;
        const pid_t owner = std::atoi(name.c_str() + 3);
        if (owner > 0 && (::kill(owner, 0) == 0 || errno != ESRCH)) continue;
        std::string ignored;
        run_command({kNft, "delete", "table", "netdev", "lsloss_" + name.substr(3)}, ignored);
        run_command({kIp, "netns", "del", name}, ignored);
        run_command({kIp, "link", "del", "lsv" + name.substr(3)}, ignored);
    }
}

}  // namespace

bool LossNamespace::available(std::string& why) {
    if (geteuid() != 0) {
        why = "not root: real packet loss needs a network namespace (ip netns, nftables)";
        return false;
    }
    if (!std::filesystem::exists(kIp) || !std::filesystem::exists(kNft)) {
        why = "ip or nft missing (apt-get install iproute2 nftables)";
        return false;
    }
    return true;
}

LossNamespace::LossNamespace(double loss_pct) {
    std::string why;
    if (!available(why)) throw std::runtime_error(why);
    remove_stale();
    static std::atomic<int> counter{0};
    const int n = counter.fetch_add(1);
    const std::string tag = std::to_string(getpid()) + "x" + std::to_string(n);
    name_ = "lsb" + tag;
    host_if_ = "lsv" + tag;  // interface names stay under 15 characters
    const std::string inner_if = "lsw" + tag;
    // A /30 of 10.213.0.0/16 from our pid and a counter.
    const int x = static_cast<int>(
        (static_cast<unsigned>(getpid()) * 7u + static_cast<unsigned>(n)) % 16384u);
    const std::string base = "10.213." + std::to_string(x / 64) + ".";
    host_addr_ = base + std::to_string((x % 64) * 4 + 1);
    inner_addr_ = base + std::to_string((x % 64) * 4 + 2);
    try {
        must({kIp, "netns", "add", name_});
        must({kIp, "link", "add", host_if_, "type", "veth", "peer", "name", inner_if});
        must({kIp, "link", "set", inner_if, "netns", name_});
        // One packet per segment: with segmentation offload a drop would take tens at once.
        must({kIp, "link", "set", host_if_, "gso_max_segs", "1"});
        must({kIp, "-n", name_, "link", "set", inner_if, "gso_max_segs", "1"});
        must({kIp, "addr", "add", host_addr_ + "/30", "dev", host_if_});
        must({kIp, "link", "set", host_if_, "up"});
        must({kIp, "-n", name_, "addr", "add", inner_addr_ + "/30", "dev", inner_if});
        must({kIp, "-n", name_, "link", "set", inner_if, "up"});
        must({kIp, "-n", name_, "link", "set", "lo", "up"});
        // Drops on the receiving side of the wire, in both directions: the sender's stack
        // really transmitted the packet, so its TCP recovers as from a real loss.
        const int per_mille = static_cast<int>(std::lround(loss_pct * 10));
        auto table = [&](const std::string& tname, const std::string& dev) {
            return "table netdev " + tname + " {\n chain in { type filter hook ingress device \"" +
                   dev + "\" priority 0; ip protocol tcp numgen random mod 1000 < " +
                   std::to_string(per_mille) + " counter drop; }\n}\n";
        };
        must({kIp, "netns", "exec", name_, kNft, "-f", "-"}, table("lsloss", inner_if));
        must({kNft, "-f", "-"}, table(host_table(), host_if_));
    } catch (...) {
        cleanup();
        throw;
    }
}

void LossNamespace::cleanup() {
    std::string ignored;
    run_command({kNft, "delete", "table", "netdev", host_table()}, ignored);
    run_command({kIp, "netns", "del", name_}, ignored);
    run_command({kIp, "link", "del", host_if_}, ignored);
}

LossNamespace::~LossNamespace() {
    cleanup();
}

std::uint64_t LossNamespace::dropped_packets() const {
    std::string out;
    run_command({kIp, "netns", "exec", name_, kNft, "list", "table", "netdev", "lsloss"}, out);
    run_command({kNft, "list", "table", "netdev", host_table()}, out);
    std::uint64_t total = 0;
    for (std::size_t pos = 0; (pos = out.find("packets ", pos)) != std::string::npos; pos += 8)
        total += std::strtoull(out.c_str() + pos + 8, nullptr, 10);
    return total;
}

std::uint64_t LossNamespace::tcp_retransmits() const {
    std::string out;
    if (run_command({kIp, "netns", "exec", name_, "/bin/cat", "/proc/net/snmp"}, out) != 0)
        return 0;
    // Two "Tcp:" lines: names, then values.
    std::istringstream in(out);
    std::vector<std::string> names, values;
    for (std::string line; std::getline(in, line);) {
        if (!line.starts_with("Tcp:")) continue;
        std::istringstream ls(line);
        std::vector<std::string>& dst = names.empty() ? names : values;
        for (std::string w; ls >> w;) dst.push_back(w);
    }
    for (std::size_t i = 0; i < names.size() && i < values.size(); ++i)
        if (names[i] == "RetransSegs") return std::strtoull(values[i].c_str(), nullptr, 10);
    return 0;
}

}  // namespace harness
