#!/usr/bin/env python3
"""scripts/collect under 16 shards: coordinator_replay plays 16 shards from one recorded share
(tests/fixtures) through a real Redis while the collector follows them live. The merge must be
complete and exact: 16 copies of one recording have that recording's percentiles, and 16
times its counts. The collector's lag and CPU are printed, never asserted (results/ has them).

usage: collect_replay.py PATH/TO/coordinator_replay FIXTURE.json [SHARDS INTERVALS INTERVAL_MS]
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = os.path.join(ROOT, "scripts")


def main():
    replay, fixture = sys.argv[1], sys.argv[2]
    shards, intervals, interval_ms = (int(x) for x in (sys.argv[3:6] or (16, 8, 500)))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    redis = subprocess.Popen(["redis-server", "--port", str(port), "--save", "", "--appendonly",
                              "no"], stdout=subprocess.DEVNULL)
    failures = []
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.05)
        url = f"redis://127.0.0.1:{port}"
        with tempfile.TemporaryDirectory() as tmp:
            c = subprocess.Popen([sys.executable, os.path.join(SCRIPTS, "collect"), url, "replay",
                                  "--out", tmp, "--no-report", "--quiet"],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            r = subprocess.run([replay, f"--coordinator={url}", "--run_id=replay",
                                f"--shards={shards}", f"--intervals={intervals}",
                                f"--interval_ms={interval_ms}", f"--from={fixture}"],
                               capture_output=True, text=True, timeout=240)
            cout = c.communicate(timeout=120)[0]
            if r.returncode:
                failures.append(f"replay exit {r.returncode}: {r.stderr}")
            if c.returncode:
                failures.append(f"collect exit {c.returncode}: {cout}")
            if not failures:
                with open(os.path.join(tmp, "results.json")) as f:
                    doc = json.load(f)
                b, ctx = doc["benchmarks"][0], doc["context"]
                one = json.loads(subprocess.run(
                    [sys.executable, os.path.join(SCRIPTS, "merge-shards"), fixture],
                    capture_output=True, text=True, check=True).stdout)["benchmarks"][0]
                for key in ("p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms", "delivery_pct"):
                    if b.get(key) != one.get(key):
                        failures.append(f"{key}: {b.get(key)} merged, {one.get(key)} in one copy")
                for key in ("durable_expected", "durable_received", "users_joined"):
                    if b.get(key) != shards * one.get(key):
                        failures.append(f"{key}: {b.get(key)}, not {shards} x {one.get(key)}")
                if b.get("shards") != shards:
                    failures.append(f"shards: {b.get('shards')}")
                with open(os.path.join(tmp, "timeseries.json")) as f:
                    runs = json.load(f)["runs"]
                if len(runs[0]["intervals"]) != intervals or any(
                        i["shards"] != shards for i in runs[0]["intervals"]):
                    failures.append(f"intervals: {runs[0]['intervals'][:1]}")
                # A collector that comes after the run, reading a few entries at a time, makes
                # the same run (it catches up before it judges any shard late).
                late = os.path.join(tmp, "late")
                p = subprocess.run([sys.executable, os.path.join(SCRIPTS, "collect"), url, "replay",
                                    "--out", late, "--no-report", "--quiet", "--batch", "3"],
                                   capture_output=True, text=True, timeout=120)
                if p.returncode:
                    failures.append(f"a late collector: exit {p.returncode}: {p.stderr}")
                else:
                    with open(os.path.join(late, "results.json")) as f:
                        b2 = json.load(f)["benchmarks"][0]
                    same = [k for k in ("p50_ms", "p99_ms", "max_ms", "durable_received")
                            if b2.get(k) != b.get(k)]
                    if same or "collect_lag_max_ms" in b2:
                        failures.append(f"a late collector differs: {same}, lag {b2.get('collect_lag_max_ms')}")
                print(f"{shards} shards x {intervals} intervals of {interval_ms} ms: collector lag "
                      f"max {b.get('collect_lag_max_ms')} ms, CPU {ctx['collector_cpu_s']} s, "
                      f"{ctx['collector_commands']} commands, {ctx['collector_bytes_in']} bytes in")
    finally:
        redis.kill()
        redis.wait()
    for f in failures:
        print("FAIL " + f)
    print(f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
