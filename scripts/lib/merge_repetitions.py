"""Merges the per-repetition results of an interleaved comparison into one file per side.

  merge_repetitions.py DIR REPETITIONS   reads DIR/{a,b}_{1..N}.json, writes DIR/a.json, DIR/b.json
Each benchmark keeps its run_name, so scripts/compare sees the repetitions of one benchmark, and
takes the index of its run as repetition_index. Time series written beside them
(DIR/{a,b}_{i}-timeseries.json) merge the same way into DIR/{a,b}-timeseries.json.
"""
import json
import os
import sys


def merge(out, side, reps, suffix, key):
    merged = None
    for i in range(1, reps + 1):
        path = f"{out}/{side}_{i}{suffix}.json"
        if suffix and not os.path.exists(path):
            return
        with open(path) as f:
            d = json.load(f)
        for b in d[key]:
            if key == "benchmarks":
                b["run_name"] = b.get("run_name", b["name"])
                b["repetition_index"] = i - 1
            else:
                b["repetition"] = i - 1
        if merged is None:
            merged = d
        else:
            merged[key] += d[key]
    with open(f"{out}/{side}{suffix}.json", "w") as f:
        json.dump(merged, f, indent=1)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        sys.exit(0 if len(sys.argv) == 2 else 2)
    for s in "ab":
        merge(sys.argv[1], s, int(sys.argv[2]), "", "benchmarks")
        merge(sys.argv[1], s, int(sys.argv[2]), "-timeseries", "runs")
