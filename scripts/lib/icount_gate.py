"""Fails when a benchmark's instructions per iteration moved by more than a threshold."""
import argparse
import json
import sys


def load(path):
    with open(path) as f:
        return {b["name"]: float(b["instructions"]) for b in json.load(f)["benchmarks"]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("base")
    ap.add_argument("new")
    ap.add_argument("--threshold", type=float, default=0.02)
    a = ap.parse_args()
    base, new = load(a.base), load(a.new)
    bad = 0
    print(f"{'benchmark':50} {'base':>12} {'new':>12} {'change':>8}")
    for name in sorted(set(base) & set(new)):
        change = (new[name] - base[name]) / base[name] if base[name] else 0.0
        flag = ""
        if change > a.threshold:
            flag, bad = "REGRESSION", bad + 1
        elif change < -a.threshold:
            flag = "improvement"
        print(f"{name:50} {base[name]:12.1f} {new[name]:12.1f} {change * 100:+7.2f}% {flag}")
    missing = sorted(set(base) - set(new))
    if missing:
        print("missing in the new run: " + ", ".join(missing))
    print(f"{bad} instruction-count regression(s) over {a.threshold * 100:.0f}%")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
