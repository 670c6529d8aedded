"""The merge of a sharded run's shares (shard documents, liveshare-shard/2 or /3), shared by
scripts/merge-shards (files) and scripts/collect (a coordinated run's Redis streams).

Histograms are added bucket by bucket, so every percentile is exactly the one of the union of
all shards' deliveries (the buckets are the harness's: harness/histogram.cpp; the highest
value of each bucket comes from C++, so no bucket rule is repeated here), and the delivery
accounting is exact: a receiver expects what every other user of its room sent and the
server did not refuse, whichever shard ran the sender.
"""
import math

FORMATS = ("liveshare-shard/2", "liveshare-shard/3")


class MergeError(Exception):
    """Shards that cannot make one run: incomplete, or disagreeing (users, seed, start)."""


class Hist:
    """The harness's histogram, from the shard file's [index, count, highest value] buckets:
    merged by adding counts; a percentile is its bucket's highest value, as in C++ (which
    wrote that value, so no bucket rule is repeated here)."""

    def __init__(self):
        self.counts, self.highest, self.count, self.min, self.max = {}, {}, 0, None, 0

    def add_buckets(self, buckets):
        for i, n, hi in buckets:
            self.counts[i] = self.counts.get(i, 0) + n
            self.highest[i] = hi
            self.count += n

    def add(self, h):
        self.add_buckets(h["buckets"])
        if h["count"]:
            self.min = h["min"] if self.min is None else min(self.min, h["min"])
            self.max = max(self.max, h["max"])

    def percentile(self, p, clamp=True):
        """harness::Histogram::percentile; clamp=False as an interval's (no exact max kept)."""
        if self.count == 0:
            return 0
        p = min(max(p, 0.0), 100.0)
        rank = max(math.ceil(p / 100.0 * float(self.count)), 1)
        seen = 0
        for i in sorted(self.counts):
            seen += self.counts[i]
            if seen >= rank:
                return min(self.highest[i], self.max) if clamp else self.highest[i]
        return self.max


def percentile_with_lost_ms(h, lost, p):
    """As harness::percentile_with_lost_ms: a lost message is infinitely late."""
    delivered = h.count
    every = float(delivered) + float(lost)
    if every == 0:
        return float("nan")
    rank = p / 100.0 * every
    if rank > float(delivered):
        return float("inf")
    return h.percentile(min(100.0, 100.0 * rank / float(delivered))) / 1000.0


def merge(name, shards):
    first = shards[0][1]
    n = first["shards"]
    got = sorted(d["shard"] for _, d in shards)
    if got != list(range(n)):
        raise MergeError(f"{name}: shards {got} of {n} (every shard 0..{n - 1} once)")
    for path, d in shards:
        for key in ("shards", "users", "seed", "start_at_unix_ms"):
            if d[key] != first[key]:
                raise MergeError(f"{name}: {path} has {key}={d[key]}, shard 0 has {first[key]}")
    users = {}
    for _, d in shards:
        for u in d["per_user"]:
            if u["index"] in users:
                raise MergeError(f"{name}: user {u['index']} appears in two shards")
            users[u["index"]] = u
    # Exact accounting: what each room's users sent and the server took, from every shard.
    accepted = {}
    for u in users.values():
        accepted[u["room"]] = accepted.get(u["room"], 0) + u["sent_durable"] - min(u["sent_durable"], u["durable_rejected"])
    expected = received = duplicates = out_of_order = 0
    for u in users.values():
        mine = u["sent_durable"] - min(u["sent_durable"], u["durable_rejected"])
        if u["joined"]:
            expected += accepted[u["room"]] - mine
        received += u["durable_received"]
        duplicates += u["duplicates"]
        out_of_order += u["out_of_order"]
    lost = max(expected - received, 0)
    lat, unc = Hist(), Hist()
    for _, d in shards:
        lat.add(d["latency"])
        unc.add(d["latency_uncorrected"])
    counters = {
        "shards": n,
        "users": first["users"],
        "users_joined": sum(d["users_joined"] for _, d in shards),
        "durable_expected": expected,
        "durable_received": received,
        "lost": lost,
        "duplicates": duplicates,
        "out_of_order": out_of_order,
        "deliveries_per_s": sum(d["deliveries_per_s"] for _, d in shards),
        "msgs_sent_per_s": sum(d["msgs_sent_per_s"] for _, d in shards),
        "generator_cpu_pct_max": max(d["generator_cpu_pct"] for _, d in shards),
        "error_count": sum(d["error_count"] for _, d in shards),
        "p99_uncorrected_ms": unc.percentile(99) / 1000.0,
    }
    if expected:
        counters["delivery_pct"] = 100.0 * received / expected
    p = {}
    for label, q in (("p50_ms", 50), ("p90_ms", 90), ("p95_ms", 95), ("p99_ms", 99), ("p999_ms", 99.9), ("max_ms", 100)):
        v = percentile_with_lost_ms(lat, lost, q)
        p[label] = v
        if math.isfinite(v):
            counters[label] = v
    bench = {
        "name": f"{name}/shards:{n}/iterations:1/manual_time",
        "run_name": f"{name}/shards:{n}/iterations:1/manual_time",
        "run_type": "iteration", "repetitions": 1, "repetition_index": 0, "threads": 1,
        "iterations": 1, "time_unit": "ms", "cpu_time": 0.0,
    }
    p99 = p["p99_ms"]
    if not math.isfinite(p99):
        bench["error_occurred"] = True
        bench["error_message"] = (f"LOSS: {lost} of {expected} durable deliveries had not arrived (p99 is among them)"
                                  if expected else "nothing was measured")
        bench["real_time"] = 0.0
    else:
        bench["real_time"] = p99
    # The shards' clocks against their reference (when they measured one): the offsets they
    # corrected their start by, how sure each was, and how far each drifted during the run.
    clocks = [(d["shard"], d["clock"]) for _, d in shards if "clock" in d]
    for i, c in clocks:
        counters[f"clock_offset_ms_shard_{i}"] = c["offset_start_us"] / 1000.0
    if clocks:
        counters["clock_uncertainty_ms"] = max(c["uncertainty_start_us"] for _, c in clocks) / 1000.0
        drifts = [abs(c["offset_end_us"] - c["offset_start_us"]) for _, c in clocks if "offset_end_us" in c]
        if drifts:
            counters["clock_drift_ms"] = max(drifts) / 1000.0
    # Converged only if every shard checked and converged; absent if none checked.
    checked = [d["converged"] for _, d in shards if "converged" in d]
    if checked:
        counters["converged"] = 1 if len(checked) == n and all(checked) else 0
    # The start skew: when each shard actually started its schedule, from its first send less
    # when that send was due, in the reference clock (the shard's belief, from its measured
    # offset) and by the shards' own clocks (the truth where they share one machine's clock).
    starts = [(d["first_send_ref_us"] - d["first_send_planned_us"],
               d["first_send_wall_us"] - d["first_send_planned_us"])
              for _, d in shards if "first_send_planned_us" in d]
    if len(starts) == n and n > 1:
        counters["start_skew_ms"] = (max(x for x, _ in starts) - min(x for x, _ in starts)) / 1000.0
        counters["start_skew_raw_clock_ms"] = (max(y for _, y in starts)
                                               - min(y for _, y in starts)) / 1000.0
    bench.update(counters)
    # Users that never joined expect nothing: say so rather than let delivery_pct look whole.
    joined = counters["users_joined"]
    refs = sorted({c["ref"] for _, c in clocks})
    clock_note = (f"; clocks corrected against {', '.join(refs)} (offsets "
                  + ", ".join(f"{c['offset_start_us'] / 1000.0:+.3f}" for _, c in clocks) + " ms)"
                  if len(clocks) == n else
                  "; clocks NOT corrected (no reference clock): cross-shard latencies trust each clock" if not clocks else
                  "; clocks corrected in only some shards")
    bench["label"] = f"merged from {n} shards" + clock_note + (
        f"; only {joined} of {first['users']} users joined" if joined < first["users"] else "")
    return bench


SUMMED = ("sent", "durable", "volatile", "durable_so_far", "errors", "disconnects", "reconnects", "resumes")


def merge_intervals(name, shards, lost, failed):
    """The shards' time series as one: interval k of every shard (they share the start, so
    their intervals line up), counts added, percentiles from the added histograms."""
    n = shards[0][1]["shards"]
    by_shard = sorted(((d["shard"], d) for _, d in shards), key=lambda x: x[0])
    longest = max(len(d.get("intervals", [])) for _, d in by_shard)
    intervals = []
    for k in range(longest):
        parts = [(i, d["intervals"][k]) for i, d in by_shard if k < len(d.get("intervals", []))]
        out = {"t_s": max(p["t_s"] for _, p in parts), "shards": len(parts)}
        h = Hist()
        for _, p in parts:
            h.add_buckets(p.get("buckets", []))
        if h.count:
            for key, q in (("p50_ms", 50), ("p90_ms", 90), ("p99_ms", 99)):
                out[key] = h.percentile(q, clamp=False) / 1000.0
            out["max_ms"] = max(h.highest[i] for i in h.counts) / 1000.0
        for key in SUMMED:
            out[key] = sum(p.get(key, 0) for _, p in parts)
        gen = [p["generator_cpu_pct"] for _, p in parts if "generator_cpu_pct" in p]
        if gen:
            out["generator_cpu_pct"] = sum(gen)  # every generator together, of one core
            out["generator_cpu_pct_max"] = max(gen)
        # The server as the first shard that could read it saw it (each reads the same one).
        for key in ("server_cpu_pct", "server_rss_mb"):
            seen = [p[key] for _, p in parts if key in p]
            if seen:
                out[key] = seen[0]
        intervals.append(out)
    events = sorted(({"t_s": e["t_s"], "what": e["what"], "shard": i}
                     for i, d in by_shard for e in d.get("events", [])), key=lambda e: e["t_s"])
    return {"name": f"{name}/shards:{n}", "repetition": 0, "error": failed, "lost": lost,
            "intervals": intervals, "events": events}


