// Starts liveshare-server as a child process on port 0, samples its CPU and RSS from /proc
// about ten times a second, and stops it with SIGTERM (SIGKILL after a grace period).
#pragma once
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace harness {

struct ProcSample {
    double cpu_seconds = 0;                    // utime + stime
    double user_seconds = 0, sys_seconds = 0;  // utime, stime: user space and the kernel
    double rss_mb = 0;
};
// Reads /proc/PID/stat and /proc/PID/status; false if the process is gone.
bool read_proc(pid_t pid, ProcSample& out);
// Read-family and write-family system calls of a process so far (/proc/PID/io syscr, syscw).
// recvmsg/sendmsg/sendto are not counted there, read(2)/write(2)/readv/writev are.
bool read_proc_io(pid_t pid, std::uint64_t& syscalls);
double self_cpu_seconds();  // this process, all threads (getrusage)
struct CpuSplit {
    double user_seconds = 0, sys_seconds = 0;
};
CpuSplit self_cpu_split();  // the same, in user space and in the kernel
// CPU seconds used so far by one thread of this process (its CPU-time clock).
double thread_cpu_seconds(std::thread& t);
// The whole machine from /proc/stat: jiffies busy and in all, to difference over a window.
struct MachineCpu {
    double busy = 0, total = 0;
};
MachineCpu machine_cpu();
// Percent of all the machine's CPUs busy between two readings (100 = every core busy).
double machine_busy_pct(const MachineCpu& a, const MachineCpu& b);
// Bytes sent on the loopback interface so far (all processes, both directions, with headers).
double loopback_tx_bytes();

class ProcessSampler {
  public:
    explicit ProcessSampler(pid_t pid) : pid_(pid) {}
    ~ProcessSampler() { stop(); }
    void start(std::chrono::milliseconds period = std::chrono::milliseconds(100));
    void stop();
    // Mean and peak over the samples since start (CPU in % of one core).
    struct Summary {
        double cpu_pct = 0, cpu_peak_pct = 0, rss_mb = 0, rss_peak_mb = 0;
        std::size_t samples = 0;
    };
    Summary summary() const;

  private:
    pid_t pid_;
    std::thread thread_;
    std::chrono::steady_clock::time_point started_;
    std::atomic<bool> stop_{false};
    mutable std::mutex mu_;
    std::vector<std::pair<double, ProcSample>> samples_;  // (seconds since start, sample)
};

// Where and how the server runs: address and port to listen on, and a command prefix
// (e.g. `ip netns exec NS` to run it inside a network namespace).
struct ServerLaunch {
    std::string address = "127.0.0.1";
    std::uint16_t port = 0;  // 0: a free one
    std::vector<std::string> prefix;
};

class ServerProcess {
  public:
    // Starts `[prefix...] binary --port=P --address=A <args...>` and waits for its port line.
    // Throws std::runtime_error with the server's stderr tail when it does not come up.
    ServerProcess(const std::string& binary, const std::vector<std::string>& args,
                  std::chrono::milliseconds start_timeout = std::chrono::milliseconds(10000),
                  const ServerLaunch& launch = {});
    ~ServerProcess();
    ServerProcess(const ServerProcess&) = delete;
    ServerProcess& operator=(const ServerProcess&) = delete;

    pid_t pid() const { return pid_; }
    std::uint16_t port() const { return port_; }
    const std::string& address() const { return address_; }
    std::string url() const { return "ws://" + address_ + ":" + std::to_string(port_); }
    // SIGTERM, wait up to `grace`, then SIGKILL. Returns the exit status (or -signal).
    int stop(std::chrono::milliseconds grace = std::chrono::milliseconds(5000));
    void kill_hard();  // SIGKILL now (fault tests)
    bool running() const { return pid_ > 0; }

  private:
    pid_t pid_ = -1;
    std::uint16_t port_ = 0;
    std::string address_;
    int stdout_fd_ = -1;
};

// Locates liveshare-server: $LIVESHARE_SERVER, then next to the running binary's build tree.
std::string find_server_binary();

}  // namespace harness
