// Sampled call stacks of one process over a run's measured window: Linux perf (`perf record
// -e cpu-clock -F 999 -g -p PID`, Debian's linux-perf) started when the window opens and
// stopped when it closes, its samples read back with `perf script -F period,ip,sym,dso`
// (measure/cpu_attribution.hpp reads that text). cpu-clock is a software event: it works
// without hardware counters (virtual machines, containers that allow perf).
#pragma once
#include <sys/types.h>

#include <string>

namespace harness {

class CpuProfiler {
  public:
    // Why profiles cannot be taken here (perf missing, perf_event_paranoid above 1 and not
    // root, ...); empty when they can.
    static std::string unavailable();
    // Starts sampling `pid` into `data_path`; throws std::runtime_error with the reason.
    CpuProfiler(pid_t pid, std::string data_path);
    ~CpuProfiler();
    CpuProfiler(const CpuProfiler&) = delete;
    CpuProfiler& operator=(const CpuProfiler&) = delete;
    // Stops sampling and returns the samples as `perf script` prints them; on failure
    // returns "" and says why.
    std::string stop(std::string& why);

  private:
    pid_t perf_ = -1;
    int out_fd_ = -1, err_fd_ = -1;
    std::string data_path_;
};

}  // namespace harness
