// Where a process's CPU went, by component: each sampled stack goes to the component of the
// first of its frames, from the leaf up, that a rule of the table (cpu_attribution.cpp, the
// one table; docs/benchmarks.md explains it) names. The kernel's components tell its send
// path from the receive work it runs for the peer in the sender's context over loopback
// (softirq) and from the wake-ups; user space by the server's areas and the generator's.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace harness {

struct Frame {
    std::string symbol;  // "[unknown]" when perf could not name it
    bool kernel = false;
    std::string dso;  // the file it lives in ("[kernel.kallsyms]", "libc.so.6", the binary)
};
struct Stack {
    std::vector<Frame> frames;  // leaf first
    std::uint64_t weight = 1;   // the sample's period (ns of CPU for cpu-clock)
};

// `perf script -F period,ip,sym,dso` output as stacks; lines it cannot read are skipped.
std::vector<Stack> parse_perf_script(std::string_view text);
// One line per distinct stack, root first, frames joined by ';' (kernel frames marked _[k]),
// then its samples: the "folded" format of flame graph tools.
std::string folded(const std::vector<Stack>& stacks);

struct Attribution {
    std::uint64_t samples = 0;
    // Every component of the table, in its order, with its samples (0 when none fell in it).
    std::vector<std::pair<std::string, std::uint64_t>> components;
    // The frames with the most samples as the leaf (self) and anywhere in the stack (total).
    std::vector<std::pair<std::string, std::uint64_t>> top_self, top_total;
    // Samples in the table's catch-alls ("kernel: other", "user: other").
    std::uint64_t unnamed = 0;
};

// The component names, in the table's order (counter names: lowercase, '_' for the rest).
const std::vector<std::string>& cpu_components();
// The component of one stack.
const std::string& component_of(const Stack& s);
Attribution attribute(const std::vector<Stack>& stacks, std::size_t top = 20);
// The attribution as JSON: {"samples", "named_pct", "components": {name: share_pct, ...},
// "top_self": [[frame, samples], ...], "top_total": [...]}.
std::string attribution_json(const Attribution& a);

}  // namespace harness
