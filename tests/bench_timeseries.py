#!/usr/bin/env python3
"""--timeseries_out against the run itself: an entry per benchmark repetition, intervals that
cover the sending window, per-interval deliveries that add up to the running total and the
run's own count, ordered percentiles, nothing written for what was not measured, and a killed
server's event inside the series it interrupted.

usage: bench_timeseries.py PATH/TO/bench
"""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checks import check, finish  # noqa: E402


BENCH = sys.argv[1]
short = ["--warmup_s=0.5", "--duration_s=2", "--drain_s=2", "--no_progress"]
with tempfile.TemporaryDirectory() as tmp:
    ts, res = os.path.join(tmp, "t.json"), os.path.join(tmp, "r.json")
    p = subprocess.run([BENCH, "--benchmark_filter=^load/users:10/", "--benchmark_repetitions=2",
                        f"--timeseries_out={ts}", "--interval_ms=250", f"--benchmark_out={res}",
                        "--benchmark_out_format=json"] + short, capture_output=True, text=True, timeout=240)
    check("the run succeeds", p.returncode == 0, p.stderr[-500:])
    doc = json.load(open(ts))
    check("provenance", "git_sha" in doc["context"] and "command" in doc["context"], list(doc["context"]))
    check("the interval", doc["interval_ms"] == 250, doc["interval_ms"])
    runs = doc["runs"]
    check("an entry per repetition", [(r["name"], r["repetition"]) for r in runs] ==
          [("load/users:10", 0), ("load/users:10", 1)], [(r["name"], r["repetition"]) for r in runs])
    results = [b for b in json.load(open(res))["benchmarks"] if b.get("run_type") != "aggregate"]
    for r, b in zip(runs, results):
        iv = r["intervals"]
        window = 0.5 + 2.0
        check(f"rep {r['repetition']}: intervals cover the window", len(iv) >= window / 0.25 - 1 and
              iv[-1]["t_s"] >= window - 0.3, (len(iv), iv[-1]["t_s"] if iv else None))
        check(f"rep {r['repetition']}: times increase", all(a["t_s"] < c["t_s"] for a, c in zip(iv, iv[1:])))
        running = 0
        for k, x in enumerate(iv):
            running += x["durable"]
        check(f"rep {r['repetition']}: deliveries add up to the running total",
              running == iv[-1]["durable_so_far"], (running, iv[-1]["durable_so_far"]))
        check(f"rep {r['repetition']}: messages were sent in every interval", all(x["sent"] > 0 for x in iv), iv)
        for x in iv:
            if "p99_ms" in x:
                check(f"rep {r['repetition']}: ordered percentiles at {x['t_s']:.2f}",
                      x["p50_ms"] <= x["p90_ms"] <= x["p99_ms"] <= x["max_ms"], x)
        check(f"rep {r['repetition']}: the warm-up interval has no percentiles", "p99_ms" not in iv[0], iv[0])
        check(f"rep {r['repetition']}: server figures (a started server)", all("server_rss_mb" in x for x in iv))
        check(f"rep {r['repetition']}: lost as in the run", r["lost"] == b["lost"], (r["lost"], b["lost"]))
        # The whole histogram: the run's deliveries, and the run's p99 read back from its buckets
        # by the rule of docs/benchmarks.md (the highest value of the bucket holding the rank).
        h = r["latency_us"]
        check(f"rep {r['repetition']}: the histogram's buckets add up to its count, after the warm-up",
              h["count"] == sum(n for _, n, _ in h["buckets"]) and 0 < h["count"] < iv[-1]["durable_so_far"],
              (h["count"], iv[-1]["durable_so_far"]))
        rank, seen, p99 = max(1, -(-99 * h["count"] // 100)), 0, None
        for _, n, highest in h["buckets"]:
            seen += n
            if seen >= rank:
                p99 = min(highest, h["max"]) / 1000.0
                break
        check(f"rep {r['repetition']}: the run's p99 from the histogram", p99 is not None and
              abs(p99 - b["p99_ms"]) < 1e-9, (p99, b["p99_ms"]))
    # A killed server: its event lies inside the series it interrupted.
    p = subprocess.run([BENCH, "--benchmark_filter=^load/faults/server_kill/durability:group",
                        f"--timeseries_out={ts}"] + short, capture_output=True, text=True, timeout=300)
    check("the fault run succeeds", p.returncode == 0, p.stderr[-500:])
    runs = json.load(open(ts))["runs"]
    check("one fault run", len(runs) == 1, runs)
    if runs:
        ev, iv = runs[0]["events"], runs[0]["intervals"]
        check("the kill and the restart are marked, in order",
              [e["what"] for e in ev] == ["server killed (SIGKILL)", "server restarted"], ev)
        check("the kill inside the series, the restart after it", len(ev) == 2 and iv and
              0 < ev[0]["t_s"] < iv[-1]["t_s"] and ev[0]["t_s"] < ev[1]["t_s"], (ev, iv[-1] if iv else None))
    # A run that loses messages: its series says how many never arrived, and that it failed.
    p = subprocess.run([BENCH, "--benchmark_filter=^loss/faults/server_kill/durability:none",
                        f"--timeseries_out={ts}"] + short, capture_output=True, text=True, timeout=300)
    runs = json.load(open(ts))["runs"]
    check("a lossy run's series counts its losses", len(runs) == 1 and runs[0]["lost"] > 0 and runs[0]["error"],
          [(r["lost"], r["error"]) for r in runs])
    p = subprocess.run([BENCH, "--benchmark_filter=^load/users:10/", "--interval_ms=5",
                        f"--timeseries_out={ts}"] + short, capture_output=True, text=True, timeout=60)
    check("a bad interval is refused by name", p.returncode == 2 and "--interval_ms" in p.stderr, p.stderr[-300:])
    p = subprocess.run([BENCH, "--benchmark_filter=^load/users:10/", "--timeseries_out=/nonexistent/dir/t.json"] + short,
                       capture_output=True, text=True, timeout=240)
    check("an unwritable file fails the run by name", p.returncode == 1 and "cannot write --timeseries_out" in p.stderr,
          (p.returncode, p.stderr[-300:]))

finish("bench_timeseries")
