# Shared by the scripts: repository root, machine class, benchmark context.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# A machine class: cores and CPU model, e.g. "2core-intel-xeon-processor".
machine_class() {
  local model
  model=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | tr 'A-Z' 'a-z' | sed -E 's/\(r\)|\(tm\)|cpu|@.*//g; s/[^a-z0-9]+/-/g; s/^-|-$//g')
  echo "$(nproc)core-${model:-unknown}"
}
# Context for Google Benchmark's JSON: git sha, kernel, machine class.
bench_context() {
  local sha
  sha=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
  echo "--benchmark_context=git_sha=${sha},kernel=$(uname -r),machine_class=$(machine_class),cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //; s/,/ /g')"
}
