# Shared by the scripts: repository root, machine class, benchmark context.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# A machine class: cores and CPU model, e.g. "2core-intel-xeon-processor".
machine_class() {
  local model
  model=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | tr 'A-Z' 'a-z' | sed -E 's/\(r\)|\(tm\)|cpu|@.*//g; s/[^a-z0-9]+/-/g; s/^-|-$//g')
  echo "$(nproc)core-${model:-unknown}"
}
# Context for Google Benchmark's JSON beyond what the bench adds itself (git sha and dirty
# flag, build type and flags, machine class, command): kernel and CPU model.
bench_context() {
  echo "--benchmark_context=kernel=$(uname -r),cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //; s/,/ /g')"
}
