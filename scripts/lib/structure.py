"""The tree's structure limits and the order of its layers, over every C++ source folder.

Limits: a file at most 500 lines (tests 800), a function at most 80 (scripts/lib/
function_lengths.py), a folder at most 20 translation units (.cpp; tests 30).

Layers: each folder may include only what is below it (and itself):
  protocol/                          the bottom
  liveshare/core/                    protocol
  liveshare/cluster/                 core, protocol
  liveshare/net/                     cluster, core, protocol
  optimizations/                     core, protocol (candidates register into core's interfaces)
  server/                            everything of the server and the candidates
  harness/{procs,measure,clients}/   protocol; each only itself
  harness/traffic/                   clients, measure
  harness/users/                     traffic, clients, measure
  harness/run/                       every harness folder
  bench/                             harness, protocol, core and optimizations (micro benchmarks)
  tests/, fuzz/                      anything
The harness never includes the server (liveshare/), and liveshare/ never includes
optimizations/. An include is resolved by the spelling the build uses: "protocol/x.hpp",
"net/x.hpp", "cluster/x.hpp", "<harness folder>/x.hpp", core headers by their bare names,
the candidates' by "candidates.hpp" or their folder.

usage: python3 scripts/lib/structure.py [ROOT]   (exit 1 with every offence named)
"""
import os
import re
import subprocess
import sys

HARNESS = ("procs", "measure", "clients", "traffic", "users", "run")
MAY_INCLUDE = {
    "protocol": {"protocol"},
    "liveshare/core": {"core", "protocol"},
    "liveshare/cluster": {"cluster", "core", "protocol"},
    "liveshare/net": {"net", "cluster", "core", "protocol"},
    "optimizations": {"optimizations", "core", "protocol"},
    "server": {"net", "cluster", "core", "protocol", "optimizations"},
    "harness/procs": {"procs", "protocol"},
    "harness/measure": {"measure", "protocol"},
    "harness/clients": {"clients", "protocol"},
    "harness/traffic": {"traffic", "clients", "measure", "protocol"},
    "harness/users": {"users", "traffic", "clients", "measure", "protocol"},
    "harness/run": set(HARNESS) | {"protocol"},
    "bench": set(HARNESS) | {"protocol", "core", "optimizations", "bench"},
}
LIMITS = {"tests": (800, 30)}  # folder prefix: (lines per file, .cpp per folder)
DEFAULT = (500, 20)
SOURCES = ("protocol", "liveshare", "server", "optimizations", "harness", "bench", "tests", "fuzz")


def layer_of(path):
    d = os.path.dirname(path)
    if d.startswith("protocol"):
        return "protocol"
    for k in MAY_INCLUDE:
        if d == k or d.startswith(k + "/"):
            return k
    return None


def classify(inc, root):
    """Which layer a quoted include names, or None when it is not the project's."""
    first = inc.split("/")[0]
    if "/" in inc:
        if first in ("protocol", "net", "cluster") or first in HARNESS:
            return first
        if os.path.exists(os.path.join(root, "optimizations", inc)):
            return "optimizations"
        return None
    if os.path.exists(os.path.join(root, "liveshare", "core", inc)):
        return "core"
    if os.path.exists(os.path.join(root, "optimizations", inc)):
        return "optimizations"
    if os.path.exists(os.path.join(root, "bench", inc)):
        return "bench"
    return None


def main(root):
    files = []
    for top in SOURCES:
        for dirpath, _, names in os.walk(os.path.join(root, top)):
            files += [os.path.relpath(os.path.join(dirpath, n), root) for n in sorted(names)
                      if n.endswith((".cpp", ".hpp"))]
    bad = []
    per_folder = {}
    for f in files:
        lines_limit, _ = next((v for k, v in LIMITS.items() if f.startswith(k + "/")), DEFAULT)
        text = open(os.path.join(root, f), encoding="utf-8").read()
        n = text.count("\n")
        if n > lines_limit:
            bad.append(f"{f}: {n} lines (at most {lines_limit})")
        if f.endswith(".cpp"):
            per_folder.setdefault(os.path.dirname(f), []).append(f)
        own = layer_of(f)
        if own is None:
            continue
        for inc in re.findall(r'^#include "([^"]+)"', text, re.M):
            where = classify(inc, root)
            if where is not None and where not in MAY_INCLUDE[own]:
                bad.append(f"{f}: includes \"{inc}\" ({where}), which {own}/ may not")
    for d, cpps in sorted(per_folder.items()):
        _, most = next((v for k, v in LIMITS.items() if d == k or d.startswith(k + "/")), DEFAULT)
        if len(cpps) > most:
            bad.append(f"{d}/: {len(cpps)} translation units (at most {most})")
    fl = subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "function_lengths.py"), "80"]
                        + [os.path.join(root, f) for f in files], capture_output=True, text=True)
    bad += [l for l in fl.stdout.splitlines() if l.strip()]
    for b in bad:
        print(b)
    folders = len({os.path.dirname(f) for f in files})
    if bad:
        print(f"structure: {len(bad)} offence(s)")
        return 1
    print(f"structure: {len(files)} files in {folders} folders; none over its line limit, no "
          f"function over 80 lines, no folder over its translation units, every include downward")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        sys.exit(0)
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "."))
