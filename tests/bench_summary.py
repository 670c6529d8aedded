#!/usr/bin/env python3
"""The console summary of the load family against the run's own JSON: one row per run, its
figures equal to the JSON's counters as printed, "-" where a counter is absent, and the long
counter lines left out of the console unless --benchmark_counters_tabular asks for them.

usage: bench_summary.py PATH/TO/bench
"""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checks import check, finish  # noqa: E402


BENCH = sys.argv[1]
short = ["--warmup_s=0.2", "--duration_s=1", "--drain_s=1", "--no_progress"]
with tempfile.TemporaryDirectory() as tmp:
    out_json = os.path.join(tmp, "r.json")
    p = subprocess.run([BENCH, "--benchmark_filter=^load/(users:10|cursor_storm/users:50)/",
                        f"--benchmark_out={out_json}", "--benchmark_out_format=json"] + short,
                       capture_output=True, text=True, timeout=240)
    check("the run succeeds", p.returncode == 0, p.stderr[-500:])
    runs = {b["name"].split("/iterations:")[0]: b for b in json.load(open(out_json))["benchmarks"]}
    lines = p.stdout.splitlines()
    head = [i for i, l in enumerate(lines) if l.startswith("Summary (")]
    check("a summary table", len(head) == 1, p.stdout[-2000:])
    rows = {}
    if head:
        header = lines[head[0] + 1].split()
        check("its columns", header[:2] == ["benchmark", "users"] and header[-1] == "verdict", lines[head[0] + 1])
        for l in lines[head[0] + 2:]:
            if not l.strip():
                break
            rows[l.split()[0]] = l.split()
    check("a row per run", set(rows) == set(runs), f"rows {sorted(rows)} runs {sorted(runs)}")
    for name, b in runs.items():
        r = rows.get(name)
        if not r:
            continue
        # benchmark users p50 p99 delivery[ %] deliveries/s cpu % us/d usr/sys us/d usr/sys verdict
        cells = [c for c in r if c != "%"]
        p50, p99 = ("p50_ms", "p99_ms") if "p99_ms" in b else ("staleness_p50_ms", "staleness_p99_ms")
        check(f"{name}: users", cells[1] == f"{b['users_joined']:.0f}", r)
        check(f"{name}: p50", cells[2] == f"{b[p50]:.3f}", (cells[2], b[p50]))
        check(f"{name}: p99", cells[3] == f"{b[p99]:.3f}", (cells[3], b[p99]))
        want = f"{b['delivery_pct']:.2f}" if "delivery_pct" in b else "-"
        check(f"{name}: delivery ({'absent' if want == '-' else 'present'})", cells[4] == want, (cells[4], want))
        check(f"{name}: deliveries/s", cells[5] == f"{b['deliveries_per_s']:.0f}", (cells[5], b["deliveries_per_s"]))
        check(f"{name}: server us per delivery", cells[7] == f"{b['server_cpu_us_per_delivery']:.2f}", cells[7])
        split = lambda side: (f"{b[side + '_user_cpu_us_per_delivery']:.2f}/{b[side + '_sys_cpu_us_per_delivery']:.2f}"
                              if side + "_user_cpu_us_per_delivery" in b else "-")
        check(f"{name}: server user/kernel", cells[8] == split("server"), (cells[8], split("server")))
        check(f"{name}: generator us per delivery", cells[9] == f"{b['generator_cpu_us_per_delivery']:.2f}", cells[9])
        check(f"{name}: generator user/kernel", cells[10] == split("generator"), (cells[10], split("generator")))
        check(f"{name}: a verdict", cells[11] in ("ok", "generator-bound", "machine-bound", "LOSS", "ERRORS", "ERROR"), cells[11])
    check("no counter lines on the console", "delivery_pct=" not in p.stdout, p.stdout[:1500])
    p = subprocess.run([BENCH, "--benchmark_filter=^load/users:10/", "--benchmark_counters_tabular=true"] + short,
                       capture_output=True, text=True, timeout=240)
    check("counters as columns when asked for", p.returncode == 0 and "delivery_pct" in p.stdout, p.stdout[:1500])
    p = subprocess.run([BENCH, "--benchmark_filter=^load/users:10/", "--benchmark_format=json"] + short,
                       capture_output=True, text=True, timeout=240)
    check("with JSON on stdout the summary goes to stderr", p.returncode == 0 and "Summary (" in p.stderr
          and "Summary (" not in p.stdout, p.stderr[-800:])
    if p.returncode == 0:
        b = json.loads(p.stdout)["benchmarks"][0]
        check("and the JSON keeps its counters", "delivery_pct" in b, list(b)[:20])

finish("bench_summary")
