# Shared by the scripts: repository root, --help, machine class, benchmark context.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# answer_help "$0" "$@": with -h or --help first, prints the script's header comment (its usage,
# up to `set -euo pipefail`) and exits 0 before the script does anything.
answer_help() {
  case "${2:-}" in -h|--help) sed -n '2,/^set -euo/p' "$1" | sed '$d; s/^# \{0,1\}//'; exit 0 ;; esac
}
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

# The -march of measurement builds: a fixed ISA on x86-64 (haswell: AVX2, what these machines
# and CI have), so instruction counts and baselines compare across machines of a class; the
# host's own elsewhere. LIVESHARE_ARCH overrides it (empty: the portable build).
measure_arch() {
  if [ -n "${LIVESHARE_ARCH+set}" ]; then echo "$LIVESHARE_ARCH"; return; fi
  if [ "$(uname -m)" = x86_64 ]; then echo haswell; else echo native; fi
}
