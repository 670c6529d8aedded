"""Two sets of Google Benchmark results, benchmark by benchmark: medians, relative change, a
two-sided Mann-Whitney U test over the repetitions, and a verdict only when the change is both
significant and beyond the threshold (scripts/compare prints it; scripts/report shows it)."""
import json
import math
import re

import stats

# Which way is better, by metric name. Unknown metrics are reported but never flagged.
LOWER_IS_BETTER = re.compile(r"(^time$|^cpu_time$|_ms$|_us$|_pct_error$|^error_pct$|^lost$|^duplicates$|"
                             r"^out_of_order$|cpu_pct|rss_mb|_per_delivery$|^instructions$|^mbps_out|"
                             r"^loopback_mbps$|^generator_cpu_pct$)")
HIGHER_IS_BETTER = re.compile(r"(_per_s$|_per_second$|^delivery_pct$|^capacity_users$|^ratio$|^converged$|"
                              r"deliveries_per_write$)")
SKIP = {"iterations", "repetitions", "repetition_index", "threads", "family_index",
        "per_family_instance_index", "users_joined", "steps", "input_bytes", "msgs_per_write",
        "generator_saturated"}


# Google Benchmark's suffixes on a run's name ("/iterations:1/manual_time"): the time series and
# the history name a benchmark without them.
GB_SUFFIX = re.compile(r"/(iterations:\d+|repeats:\d+|min_time:[^/]+|manual_time|real_time)")


def plain_name(name):
    return GB_SUFFIX.sub("", name)


def load(path):
    """(context, runs: name -> metric -> values, errors: name -> error message)."""
    with open(path) as f:
        data = json.load(f)
    runs, errors = {}, {}
    for b in data.get("benchmarks", []):
        if b.get("run_type") == "aggregate":
            continue
        name = b.get("run_name", b["name"])
        if b.get("error_occurred"):
            errors[name] = b.get("error_message", "error")
            continue
        entry = runs.setdefault(name, {})
        entry.setdefault("time", []).append(float(b.get("real_time", 0)))
        for k, v in b.items():
            if k in SKIP or k in ("real_time", "cpu_time", "name", "run_name", "run_type", "time_unit",
                                  "label", "aggregate_name", "error_message", "family_index"):
                continue
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                entry.setdefault(k, []).append(float(v))
    return data.get("context", {}), runs, errors


def error_rows(base_err, new_err, base, new, filt):
    """A benchmark that errored on one side only: on the new side it is a regression (a
    failure never looks like a missing row); on the base side it was fixed."""
    rows = []
    for name in sorted((set(base_err) | set(new_err)) & (set(base) | set(base_err)) & (set(new) | set(new_err))):
        if filt and not re.search(filt, name):
            continue
        if name in new_err and name not in base_err:
            rows.append(dict(name=name, metric="error", base=0.0, new=math.nan, change=math.inf, p=math.nan, n=(0, 0),
                             verdict="REGRESSION", note=new_err[name]))
        elif name in base_err and name not in new_err:
            rows.append(dict(name=name, metric="error", base=math.nan, new=0.0, change=-math.inf, p=math.nan, n=(0, 0),
                             verdict="fixed", note=base_err[name]))
        else:
            rows.append(dict(name=name, metric="error", base=math.nan, new=math.nan, change=math.nan, p=math.nan,
                             n=(0, 0), verdict="ERROR both sides", note=new_err[name]))
    return rows


def direction(metric):
    if HIGHER_IS_BETTER.search(metric):
        return 1
    if LOWER_IS_BETTER.search(metric):
        return -1
    return 0


def compare(base, new, filt, metrics, alpha, threshold):
    rows = []
    for name in sorted(set(base) & set(new)):
        if filt and not re.search(filt, name):
            continue
        for metric in sorted(set(base[name]) & set(new[name]), key=lambda m: (m != "time", m)):
            if metrics != "all" and metric not in metrics:
                continue
            a, b = base[name][metric], new[name][metric]
            ma, mb = stats.median(a), stats.median(b)
            change = (mb - ma) / abs(ma) if ma else (0.0 if mb == ma else math.inf)
            p = stats.mann_whitney_u(a, b)[1] if len(a) >= 2 and len(b) >= 2 else float("nan")
            d = direction(metric)
            verdict = ""
            if p == p and p < alpha and abs(change) > threshold and d != 0:
                verdict = "improvement" if change * d > 0 else "REGRESSION"
            rows.append(dict(name=name, metric=metric, base=ma, new=mb, change=change, p=p,
                             n=(len(a), len(b)), verdict=verdict))
    return rows


def fmt_num(v):
    if v != v:
        return "nan"
    if v == 0:
        return "0"
    if abs(v) >= 1e5 or abs(v) < 1e-3:
        return f"{v:.3e}"
    return f"{v:.4g}"
