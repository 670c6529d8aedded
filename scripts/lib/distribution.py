"""Whole latency distributions of two sets of runs, not one number per repetition.

Each repetition of a load run carries its whole latency histogram (the time series'
"latency_us": buckets of [index, count, highest value]). Two sides are compared by the
Kolmogorov-Smirnov distance D between their merged histograms. Its significance cannot come from
the asymptotic KS formula: with 10^5 deliveries a side, any difference between two runs on a
shared machine is "significant" there. The unit that repeats is the repetition, so D is tested
by permuting whole repetitions between the sides (every split when there are few, else a seeded
sample): p = (1 + #splits with D >= observed) / (1 + #splits). A change in spread at the same
median moves D while the U test over per-repetition medians or p99s may see nothing (and the
other way round): a difference found by either is a difference.
"""
import itertools
import json
import random

import stats


def load_timeseries(path):
    """{benchmark name: [histogram {value: count} per repetition, in repetition order]}."""
    with open(path) as f:
        doc = json.load(f)
    if not isinstance(doc, dict) or not isinstance(doc.get("runs"), list):
        raise ValueError(f"{path} is not a time series file (no \"runs\" list)")
    out = {}
    for r in sorted(doc["runs"], key=lambda r: (r.get("name", ""), r.get("repetition", -1))):
        h = r.get("latency_us")
        if r.get("error") or r.get("repetition", -1) < 0 or not isinstance(h, dict):
            continue
        out.setdefault(r["name"], []).append({int(hi): int(n) for _, n, hi in h["buckets"]})
    return out


def merge(hists):
    out = {}
    for h in hists:
        for v, n in h.items():
            out[v] = out.get(v, 0) + n
    return out


def percentile(h, p):
    """The value holding rank ceil(p/100 * count): the bench's own rule (harness/histogram)."""
    total = sum(h.values())
    if not total:
        return float("nan")
    rank, seen = max(1, -(-p * total // 100)), 0
    for v in sorted(h):
        seen += h[v]
        if seen >= rank:
            return v
    return max(h)


def distance(a, b):
    return stats.ks_from_histograms(merge(a), merge(b))[0]


def splits(n_a, n_b, limit, seed):
    """Index sets for side A over all n_a + n_b repetitions: every one, or a seeded sample."""
    n = n_a + n_b
    every = itertools.combinations(range(n), n_a)
    total = 1
    for i in range(n_a):
        total = total * (n - i) // (i + 1)
    if total <= limit:
        return list(every), True
    rng = random.Random(seed)
    return [tuple(sorted(rng.sample(range(n), n_a))) for _ in range(limit)], False


def compare(reps_a, reps_b, limit=2000, seed=0):
    """D, its permutation p-value, and each side's merged p50 and p99 (microseconds)."""
    if len(reps_a) < 2 or len(reps_b) < 2:
        raise ValueError("a distribution comparison needs at least 2 repetitions a side")
    observed = distance(reps_a, reps_b)
    pooled = reps_a + reps_b
    chosen, exact = splits(len(reps_a), len(reps_b), limit, seed)
    at_least = 0
    for idx in chosen:
        side = set(idx)
        d = distance([pooled[i] for i in idx], [pooled[i] for i in range(len(pooled))
                                                 if i not in side])
        at_least += d >= observed - 1e-12
    # Every split (the observed one among them) or a sample plus the observed one.
    p = at_least / len(chosen) if exact else (1 + at_least) / (1 + len(chosen))
    ma, mb = merge(reps_a), merge(reps_b)
    return dict(d=observed, p=p, exact=exact, p50=(percentile(ma, 50), percentile(mb, 50)),
                p99=(percentile(ma, 99), percentile(mb, 99)))
