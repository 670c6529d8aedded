"""Merges the per-repetition results of an interleaved comparison into one file per side.

  merge_repetitions.py DIR REPETITIONS   reads DIR/{a,b}_{1..N}.json, writes DIR/a.json, DIR/b.json
Each benchmark keeps its run_name, so scripts/compare sees the repetitions of one benchmark.
"""
import json
import sys

out, reps = sys.argv[1], int(sys.argv[2])
for side in "ab":
    merged = None
    for i in range(1, reps + 1):
        with open(f"{out}/{side}_{i}.json") as f:
            d = json.load(f)
        for b in d["benchmarks"]:
            b["run_name"] = b.get("run_name", b["name"])
        if merged is None:
            merged = d
        else:
            merged["benchmarks"] += d["benchmarks"]
    with open(f"{out}/{side}.json", "w") as f:
        json.dump(merged, f, indent=1)
