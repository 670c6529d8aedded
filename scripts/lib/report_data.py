"""What scripts/report shows, from Google Benchmark JSON (the bench's --benchmark_out) and the
bench's --timeseries_out: the summary rows (the console summary's columns and verdict rule),
the curves against users, the capacity steps, the findings, and a comparison with another run."""
import json
import math
import re
import statistics

import comparison

LOAD_FAMILIES = ("load/", "conn/", "loss/", "soak/")


def load_runs(paths):
    """({(family, users, profile): [benchmark dicts...]} over iteration rows, the first
    context, [(path, context)] for every input, [(name, error message)] of failed runs)."""
    runs, context, contexts, errors = {}, {}, [], []
    for p in paths:
        d = json.load(open(p))
        context = context or d.get("context", {})
        contexts.append((p, d.get("context", {})))
        for b in d["benchmarks"]:
            if b.get("run_type") == "aggregate":
                continue
            if b.get("error_occurred"):
                errors.append((b["name"], b.get("error_message", "error")))
                continue
            if b["name"].startswith("load/netsim"):
                # Keyed by the impairment the run had (from its counters).
                runs.setdefault(("netsim", b.get("latency_ms_one_way", 0), b.get("loss_pct", 0)), []).append(b)
                continue
            m = re.match(r"load/(?:(\w+)/)?users:(\d+)(?:/profile:([^/]+))?/", b["name"])
            if not m:
                continue
            family = m.group(1) or "seed"
            runs.setdefault((family, int(m.group(2)), m.group(3) or "default"), []).append(b)
    return runs, context, contexts, errors


def med(rows, key):
    vals = [r[key] for r in rows if key in r]
    return statistics.median(vals) if vals else float("nan")


def profiles_and_users(seed):
    """The profiles measured at two or more user counts (single-point ones are candidate
    steps, which feed the decomposition finding instead), and their user counts."""
    counts = {}
    for (_, u, p) in seed:
        counts[p] = counts.get(p, 0) + 1
    profiles = sorted(p for p, c in counts.items() if c >= 2) or sorted(counts)
    users = sorted({k[1] for k in seed if k[2] in profiles})
    return profiles, users


def findings(runs, ctx):
    """[text], ranked by their measured impact; every word follows from the numbers."""
    seed = {k: v for k, v in runs.items() if k[0] == "seed"}
    if not seed and not any(k[0] == "netsim" for k in runs):
        return []
    profiles, users = profiles_and_users(seed)
    ok_users = [u for u in users if all(med(seed[("seed", u, p)], "generator_saturated") < 0.5
                                        for p in profiles if ("seed", u, p) in seed)]
    top = max(ok_users) if ok_users else (max(users) if users else 0)
    netsim = {k: v for k, v in runs.items() if k[0] == "netsim"}
    loss_keys = sorted((k for k in netsim if k[1] == 10), key=lambda k: k[2])
    findings = []
    if "baseline" in profiles and "optimized" in profiles and ("seed", top, "baseline") in seed and ("seed", top, "optimized") in seed:
        b, o = seed[("seed", top, "baseline")], seed[("seed", top, "optimized")]
        # Every word of the finding follows from the numbers: saturated only above 90 % of a
        # core, queues "grow" only when the baseline's peak is several times the optimized one.
        cpu_b, cpu_o = med(b, "server_cpu_pct"), med(o, "server_cpu_pct")
        q_b, q_o = med(b, "server_queue_max_kb"), med(o, "server_queue_max_kb")
        state = "saturates the server" if cpu_b >= 90 else "keeps up"
        queues = (f"send queues grow (peak queue {q_b:.0f} KB against {q_o:.0f} KB optimized)" if q_b == q_b and q_o == q_o and q_b > 3 * max(q_o, 1)
                  else f"peak send queue {q_b:.0f} KB")
        faster = "faster" if med(o, "p99_ms") < med(b, "p99_ms") else "not faster"
        findings.append((med(b, "p99_ms") / max(med(o, "p99_ms"), 1e-9),
            f"At {top} users in one room the original's architecture (baseline) {state}: "
            f"{cpu_b:.0f}% of a core, {med(b, 'server_cpu_us_per_delivery'):.2f} us of CPU per delivery, {queues}, "
            f"RSS {med(b, 'server_rss_mb'):.0f} MB, p99 {med(b, 'p99_ms'):.1f} ms. The optimized profile needs "
            f"{med(o, 'server_cpu_us_per_delivery'):.2f} us per delivery ({cpu_o:.0f}% of a core) for p99 {med(o, 'p99_ms'):.1f} ms ({faster})."))
    # Where server time goes: the candidate steps from baseline to optimized, when measured.
    steps = [("serialization (dom -> splice)", "baseline", "baseline,serialize:splice"),
             ("fan-out (copy -> shared buffer)", "baseline,serialize:splice", "baseline,serialize:splice,fanout:shared"),
             ("batching (frame per message -> array frames)", "optimized,batch:off", "optimized")]
    for u in sorted({k[1] for k in seed}):
        found = []
        for label, a, b in steps:
            if ("seed", u, a) in seed and ("seed", u, b) in seed:
                da = med(seed[("seed", u, a)], "server_cpu_us_per_delivery")
                db = med(seed[("seed", u, b)], "server_cpu_us_per_delivery")
                found.append((da - db, label, da, db))
        if found:
            found.sort(reverse=True)
            text = "; ".join(f"{label}: {da:.2f} -> {db:.2f} us ({(db - da) / da * 100:+.0f}%)" for _, label, da, db in found)
            findings.append((found[0][0] * 10, f"Where server CPU goes at {u} users (CPU per delivery, one candidate at a time, "
                                              f"largest saving first): {text}."))
    if netsim:
        worst = min(med(v, "delivery_pct") for v in netsim.values())
        conv = all(med(v, "converged") >= 0.5 for v in netsim.values())
        tail = ", ".join(f"{k[2]:g}% loss: p50 {med(netsim[k], 'p50_ms'):.0f} ms, p99 {med(netsim[k], 'p99_ms'):.0f} ms" for k in loss_keys)
        # The median "stays near" the round trip only if every loss point's p50 is within 50 %
        # of 2 x the one-way latency; the text says which it was.
        near = loss_keys and all(abs(med(netsim[k], "p50_ms") - 2 * k[1]) <= k[1] for k in loss_keys)
        findings.append((1.0, f"Under network impairment ({len(netsim)} configurations, {sum(len(v) for v in netsim.values())} runs) durable "
                              f"delivery was at least {worst:.3f}% and every client {'converged' if conv else 'did NOT always converge'}; "
                              f"by loss rate: {tail}; the median {'stays within 50% of' if near else 'does NOT stay near'} 2 x the one-way latency."))
    for u in users:
        for p in profiles:
            rows = seed.get(("seed", u, p))
            if rows and med(rows, "generator_saturated") >= 0.5:
                findings.append((0.5, f"{u} users / {p}: the generator was saturated (GENERATOR-BOUND); the server's own limit is higher than this run shows."))
    gen = [(u, p, med(seed[("seed", u, p)], "generator_cpu_pct"), med(seed[("seed", u, p)], "deliveries_per_s")) for (f, u, p) in seed]
    hot = [g for g in gen if g[2] > 70]
    if hot:
        u, p, c, _ = max(hot, key=lambda g: g[2])
        floor = min(g[3] for g in hot)
        findings.append((0.4, f"The generator used up to {c:.0f}% of its core ({u} users, {p}): on a {ctx.get('num_cpus', '?')}-CPU machine it "
                              f"and the server compete, so runs from {floor:,.0f} deliveries/s up (where it passed 70%) measure the "
                              f"server and the generator together."))
    findings.sort(key=lambda f: -f[0])
    return [text for _, text in findings]


def run_name(name):
    """A benchmark's run as the console summary names it: without /iterations:... ."""
    at = name.find("/iterations:")
    return name if at < 0 else name[:at]


def verdict(b):
    """The console summary's rule (bench/summary.cpp), the worst first: a lossy run is LOSS
    even when a side was also saturated."""
    if b.get("error_occurred"):
        return "ERROR"
    if "LOSS" in b.get("label", ""):
        return "LOSS"
    if b.get("error_pct", 0) >= 0.1:
        return "ERRORS"
    if b.get("machine_saturated", 0) > 0:
        return "machine-bound"
    if b.get("generator_saturated", 0) > 0:
        return "generator-bound"
    return "ok"


def finite(b, key):
    v = b.get(key)
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def cpu_split(b, side):
    """'user/kernel' CPU microseconds per delivery of one side, as the console prints it; None
    when either was not measured."""
    u, k = finite(b, f"{side}_user_cpu_us_per_delivery"), finite(b, f"{side}_sys_cpu_us_per_delivery")
    return None if u is None or k is None else f"{u:.2f}/{k:.2f}"


def summary_rows(paths):
    """One row per run of the load families, in the order of the inputs: the console
    summary's columns (None: not measured)."""
    rows, reps = [], {}
    for p in paths:
        for b in json.load(open(p)).get("benchmarks", []):
            if b.get("run_type") == "aggregate" or not b["name"].startswith(LOAD_FAMILIES):
                continue
            name = run_name(b["name"])
            p50, p99 = finite(b, "p50_ms"), finite(b, "p99_ms")
            if p99 is None and finite(b, "staleness_p99_ms") is not None:
                p50, p99 = finite(b, "staleness_p50_ms"), finite(b, "staleness_p99_ms")
            rows.append({"name": name, "repetition": reps.setdefault(name, 0), "users": finite(b, "users_joined"),
                         "p50_ms": p50, "p99_ms": p99, "lossy": "LOSS" in b.get("label", ""),
                         "delivery_pct": finite(b, "delivery_pct"), "deliveries_per_s": finite(b, "deliveries_per_s"),
                         "server_cpu_pct": finite(b, "server_cpu_pct"),
                         "server_cpu_us_per_delivery": finite(b, "server_cpu_us_per_delivery"),
                         "server_split": cpu_split(b, "server"),
                         "generator_cpu_us_per_delivery": finite(b, "generator_cpu_us_per_delivery"),
                         "generator_split": cpu_split(b, "generator"),
                         "verdict": verdict(b), "error": b.get("error_message") if b.get("error_occurred") else None})
            reps[name] += 1
    return rows


def users_curves(runs):
    """Median p50/p90/p99 of the seed workload against users, one curve per profile."""
    seed = {k: v for k, v in runs.items() if k[0] == "seed"}
    profiles, users = profiles_and_users(seed)
    curves = {"users": users, "profiles": {}}
    for p in profiles:
        curves["profiles"][p] = {q: [none_if_nan(med(seed[("seed", u, p)], q + "_ms")) if ("seed", u, p) in seed else None
                                     for u in users] for q in ("p50", "p90", "p99")}
    return curves


def none_if_nan(v):
    return None if v != v else v


def load_series(paths):
    """(interval_ms, runs) of --timeseries_out documents; one interval for all of them."""
    interval, runs = None, []
    for p in paths:
        d = json.load(open(p))
        if "runs" not in d or "interval_ms" not in d:
            raise SystemExit(f"report: {p} is not a --timeseries_out document")
        if interval is not None and d["interval_ms"] != interval:
            raise SystemExit(f"report: {p} has interval_ms {d['interval_ms']}, the first had {interval}")
        interval = d["interval_ms"]
        runs += d["runs"]
    return interval, runs


def load_criteria(paths):
    """The seed criteria the bench judged (the --timeseries_out documents' "criteria"), or None
    when no document carries them (written before the bench recorded them, or no seed run)."""
    out, seen = [], False
    for p in paths:
        d = json.load(open(p))
        if "criteria" in d:
            seen = True
            out += d["criteria"]
    return out if seen and out else None


COMPARED = {"time", "p50_ms", "p99_ms", "delivery_pct", "deliveries_per_s", "server_cpu_pct",
            "server_cpu_us_per_delivery", "generator_cpu_us_per_delivery", "server_rss_mb"}


def compare_rows(base_path, new_paths, alpha=0.05, threshold=0.05):
    """scripts/compare's table for the main metrics: the --compare file as base."""
    _, base, base_err = comparison.load(base_path)
    new, new_err = {}, {}
    for p in new_paths:
        _, n, e = comparison.load(p)
        for name, metrics in n.items():
            for k, v in metrics.items():
                new.setdefault(name, {}).setdefault(k, []).extend(v)
        new_err.update(e)
    rows = comparison.error_rows(base_err, new_err, base, new, "")
    rows += comparison.compare(base, new, "", COMPARED, alpha, threshold)
    f = comparison.fmt_num
    return [{"name": run_name(r["name"]), "metric": r["metric"], "base": f(r["base"]), "new": f(r["new"]),
             "change": f"{r['change'] * 100:+.1f}%" if math.isfinite(r["change"]) else ("nan" if r["change"] != r["change"] else "inf"),
             "p": "nan" if r["p"] != r["p"] else f"{r['p']:.4f}", "n": f"{r['n'][0]}/{r['n'][1]}",
             "verdict": r["verdict"] + (f": {r['note']}" if r.get("note") else "")} for r in rows]


def distributions(base_ts, new_ts, alpha=0.05):
    """Per benchmark in both: the merged latency histograms of both sides as CDFs on one x (ms,
    every bucket value of either side) and the KS distance with its permutation p-value over
    repetitions (scripts/lib/distribution.py), for the report's overlaid CDF charts."""
    import distribution
    base = distribution.load_timeseries(base_ts)
    new = {}
    for p in new_ts:
        for name, reps in distribution.load_timeseries(p).items():
            new.setdefault(name, []).extend(reps)
    out = []
    for name in sorted(set(base) & set(new)):
        a, b = distribution.merge(base[name]), distribution.merge(new[name])
        xs = sorted(set(a) | set(b))
        cdf = lambda h: [v / sum(h.values()) for v in _cumulative(h, xs)]
        c = distribution.compare(base[name], new[name]) if min(len(base[name]), len(new[name])) >= 2 else None
        out.append({"name": name, "x_ms": [x / 1000.0 for x in xs], "base": cdf(a), "new": cdf(b),
                    "d": c["d"] if c else distribution.distance(base[name], new[name]),
                    "p": c["p"] if c else None, "different": bool(c and c["p"] < alpha),
                    "reps": [len(base[name]), len(new[name])]})
    return out


def _cumulative(h, xs):
    total, out = 0, []
    for x in xs:
        total += h.get(x, 0)
        out.append(total)
    return out
