#include "cpu_profile.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "measure/cpu_attribution.hpp"
#include "options.hpp"
#include "procs/cpu_profiler.hpp"

namespace bench {

namespace {

// One side of a run: its profiler while the window is open, then its samples or why none.
struct Side {
    std::string name;  // "server", "generator"
    pid_t pid = 0;
    std::unique_ptr<harness::CpuProfiler> perf;
    std::vector<harness::Stack> stacks;
    std::string why;  // not profiled: the reason
};

std::mutex mu;
std::vector<Side> current;               // the run in progress (or just ended)
std::vector<std::string> unnamed_files;  // written, waiting for the run's name
int file_no = 0;

std::string key_of(const std::string& component) {
    std::string k;
    for (char c : component) {
        if (std::isalnum(static_cast<unsigned char>(c)))
            k += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        else if (!k.empty() && k.back() != '_')
            k += '_';
    }
    while (!k.empty() && k.back() == '_') k.pop_back();
    return k;
}

void start(Side& s) {
    if (!s.pid) return;
    try {
        s.perf = std::make_unique<harness::CpuProfiler>(
            s.pid, fmt::format("/tmp/liveshare-bench-{}-{}.perf.data", ::getpid(), s.name));
    } catch (const std::exception& e) {
        s.why = e.what();
    }
}

void stop(Side& s) {
    if (s.perf) {
        s.stacks = harness::parse_perf_script(s.perf->stop(s.why));
        if (s.stacks.empty() && s.why.empty()) s.why = "perf recorded no samples";
    }
    s.perf.reset();
}

void write_file(const std::string& path, const std::string& text) {
    std::ofstream(path) << text;
    unnamed_files.push_back(path);
}

}  // namespace

struct RunProfile {
    std::vector<Side> sides;
};

std::shared_ptr<RunProfile> take_profile() {
    std::lock_guard lock(mu);
    auto p = std::make_shared<RunProfile>();
    p->sides = std::move(current);
    current.clear();
    return p;
}

void profile_run(harness::LoadTestConfigBuilder& b, pid_t server_pid) {
    const Options& o = options();
    std::lock_guard lock(mu);
    current.clear();
    if (o.cpu_profile == "none") return;
    const std::string why = harness::CpuProfiler::unavailable();
    for (const char* side : {"server", "generator"}) {
        if (o.cpu_profile != "both" && o.cpu_profile != side) continue;
        Side s;
        s.name = side;
        s.pid = s.name == "server" ? server_pid : ::getpid();
        s.why = !why.empty() ? why
                : !s.pid     ? "no server process on this machine to sample (--target_pid)"
                             : "";
        if (!s.why.empty()) s.pid = 0;
        current.push_back(std::move(s));
    }
    b.on_window_open([] {
        std::lock_guard l(mu);
        for (auto& s : current) start(s);
    });
    auto before = b.config().before_drain;
    b.before_drain([before] {
        {
            std::lock_guard l(mu);
            for (auto& s : current) stop(s);
        }
        if (before) before();
    });
}

std::string profile_counters(benchmark::UserCounters& c, const harness::LoadTestMetrics& m,
                             std::shared_ptr<RunProfile> p) {
    const Options& o = options();
    std::lock_guard lock(mu);
    std::string note;
    for (auto& s : p->sides) {
        if (s.stacks.empty()) {
            note += fmt::format("{}{} not profiled: {}", note.empty() ? "" : "; ", s.name,
                                s.why.empty() ? "no samples" : s.why);
            continue;
        }
        const auto a = harness::attribute(s.stacks);
        // The side's CPU per delivery over the window, shared out by the samples.
        std::optional<double> per_delivery;
        if (s.name == "server" && m.server_user_cpu_us_per_delivery &&
            m.server_sys_cpu_us_per_delivery)
            per_delivery = *m.server_user_cpu_us_per_delivery + *m.server_sys_cpu_us_per_delivery;
        if (s.name == "generator" && m.generator_user_cpu_us_per_delivery &&
            m.generator_sys_cpu_us_per_delivery)
            per_delivery =
                *m.generator_user_cpu_us_per_delivery + *m.generator_sys_cpu_us_per_delivery;
        const double n = static_cast<double>(a.samples);
        c[s.name + "_profile_samples"] = n;
        c[s.name + "_profile_named_pct"] = 100.0 * static_cast<double>(a.samples - a.unnamed) / n;
        for (const auto& [comp, k] : a.components) {
            const double share = static_cast<double>(k) / n;
            if (per_delivery)
                c[fmt::format("{}_cpu_us_per_delivery_{}", s.name, key_of(comp))] =
                    share * *per_delivery;
            else
                c[fmt::format("{}_cpu_pct_{}", s.name, key_of(comp))] = 100.0 * share;
        }
        if (!o.cpu_profile_out.empty()) {
            std::error_code ec;
            std::filesystem::create_directories(o.cpu_profile_out, ec);
            const std::string base =
                fmt::format("{}/run-{}.{}", o.cpu_profile_out, file_no, s.name);
            write_file(base + ".folded", harness::folded(s.stacks));
            write_file(base + ".json", harness::attribution_json(a));
        }
    }
    ++file_no;
    return note;
}

void profile_reported(const std::string& name) {
    std::lock_guard lock(mu);
    std::string safe;
    for (char c : name)
        safe += std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' ? c : '_';
    static std::map<std::string, int> reps;
    for (const auto& f : unnamed_files) {
        const std::filesystem::path p(f);
        const std::string file = p.filename().string();  // run-K.side.ext
        const std::string rest = file.substr(file.find('.'));
        const int rep = reps[safe + rest]++;
        const auto to = p.parent_path() / (safe + (rep ? fmt::format(".rep{}", rep) : "") + rest);
        std::error_code ec;
        std::filesystem::rename(p, to, ec);
    }
    unnamed_files.clear();
}

}  // namespace bench
