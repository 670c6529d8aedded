"""How well `scripts/history detect` does on this machine's own noise.

  detect_calibration.py RESULTS.json BENCHMARK METRIC [--commits 20] [--reps 5] [--step 0.05]
                        [--trials 10] [--within 3] [--noise-histories 10]

RESULTS.json: many repetitions of one benchmark at one commit (e.g. `bench
--benchmark_filter=^load/users:50/ --benchmark_repetitions=100`), so every difference between
its values is noise. A synthetic history takes COMMITS x REPS consecutive values (in run order,
so the machine's drift stays in it), starting at a different offset per trial, as COMMITS
commits of REPS repetitions each. Detection: values of the second half multiplied by 1 + STEP;
a trial succeeds when a change point for the worse lies within WITHIN commits of the planted
one. False alarms: the same histories without a step; every change point found is false.
Prints both rates with the detector's defaults (those of scripts/history detect).
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import edivisive  # noqa: E402
from comparison import plain_name  # noqa: E402


def samples(path, bench, metric):
    with open(path) as f:
        doc = json.load(f)
    key = "real_time" if metric == "time" else metric
    vals = [float(b[key]) for b in doc["benchmarks"]
            if b.get("run_type") != "aggregate" and plain_name(b.get("run_name", b["name"])) == bench
            and not b.get("error_occurred") and key in b]
    if not vals:
        raise SystemExit(f"detect_calibration: no {metric} of {bench} in {path}")
    return vals


def history(vals, offset, commits, reps, step):
    n = commits * reps
    pts = [vals[(offset + i) % len(vals)] for i in range(n)]
    if step:
        pts = [v * (1 + step) if i // reps >= commits // 2 else v for i, v in enumerate(pts)]
    return pts, [i // reps for i in range(n)]


def found(pts, groups):
    return [cp for cp in edivisive.detect(pts, groups=groups, alpha=0.05, min_size=3, seed=0)
            if abs(cp.change) >= 0.01]


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results")
    ap.add_argument("benchmark")
    ap.add_argument("metric")
    ap.add_argument("--commits", type=int, default=20)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--step", type=float, default=0.05)
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--within", type=int, default=3)
    ap.add_argument("--noise-histories", type=int, default=10)
    a = ap.parse_args()
    vals = samples(a.results, a.benchmark, a.metric)
    n = a.commits * a.reps
    print(f"{len(vals)} values of {a.metric} ({a.benchmark}); median {sorted(vals)[len(vals) // 2]:.4g}, "
          f"spread (max/min - 1) {max(vals) / min(vals) - 1:.1%}; histories of {a.commits} commits x {a.reps}")
    hits = 0
    planted = a.commits // 2
    for t in range(a.trials):
        pts, groups = history(vals, t * len(vals) // a.trials, a.commits, a.reps, a.step)
        cps = found(pts, groups)
        ok = any(cp.change > 0 and abs(cp.group - planted) <= a.within for cp in cps)
        hits += ok
        print(f"  trial {t + 1}: planted at commit {planted}; found " +
              (", ".join(f"commit {cp.group} {cp.change:+.1%} (p {cp.p_value:.3f})" for cp in cps) or "nothing")
              + ("" if ok else "  MISSED"))
    false = commits = 0
    for t in range(a.noise_histories):
        pts, groups = history(vals, t * len(vals) // a.noise_histories + 7, a.commits, a.reps, 0.0)
        false += len(found(pts, groups))
        commits += a.commits
    print(f"detection: a {a.step:.0%} step found within {a.within} commits in {hits} of {a.trials} trials")
    print(f"false alarms: {false} change point(s) in {commits} commits of noise only "
          f"({false * 100 / commits:.1f} per 100 commits)")


if __name__ == "__main__":
    main()
