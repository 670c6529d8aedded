#!/usr/bin/env python3
"""The bench binary on bad input and against a --target: a named one-line error and a non-zero
exit (never a signal or a core dump), and no figure it did not measure.

usage: bench_bad_input.py PATH/TO/bench PATH/TO/liveshare-server
"""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

failures = []


def check(what, ok, detail=""):
    if not ok:
        failures.append(what)
        print(f"FAIL {what}: {detail}", flush=True)


def bench(args, timeout=240):
    p = subprocess.run([BENCH] + args, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def refused(what, args, must_name):
    rc, out, err = bench(args)
    check(f"{what}: non-zero exit, not a signal", rc > 0, f"rc={rc}")
    check(f"{what}: no abort", "terminate called" not in err and "Aborted" not in err, err[-300:])
    named = [l for l in err.splitlines() if l.startswith("bench")]
    check(f"{what}: one line that names the cause", named and must_name in named[0], err[-300:])


BENCH, SERVER = sys.argv[1], sys.argv[2]
short = ["--warmup_s=0.2", "--duration_s=1", "--drain_s=1", "--no_progress"]
refused("a server flag the server does not know", ["--server_flags=--nosuch", "--benchmark_filter=^load/users:10/"] + short,
        "--nosuch")
refused("a server that will not start", ["--server_flags=--db=/nonexistent-dir/x.db",
                                         "--benchmark_filter=^load/users:10/"] + short, "/nonexistent-dir/x.db")
refused("a server binary that does not exist", ["--server=/nonexistent/liveshare-server",
                                                "--benchmark_filter=^load/users:10/"] + short, "/nonexistent")
refused("an http:// target", ["--target=http://127.0.0.1:8080"], "http://127.0.0.1:8080")
refused("a target without a port", ["--target=ws://127.0.0.1"], "port")
refused("a bad number", ["--users=ten"], "--users")
refused("a bad shard", ["--shard=3/2"], "--shard")

# Every numeric or enumerated flag refuses what it cannot mean with exit 2, naming the flag,
# before anything runs: never rounded, clamped or taken as the whole suite.
BAD_BENCH = ["--users=-5", "--users=2.5", "--users=0", "--users=", "--room_size=-1", "--warmup_s=-1",
             "--duration_s=0", "--duration_s=nan", "--server_threads=0", "--generator_threads=1.5",
             "--slo_p99_ms=-3", "--capacity_bisect_steps=99", "--join_storm_users=0", "--soak_minutes=0",
             "--seed=-1", "--netsim_users=0", "--interval_ms=5", "--validate_every=0", "--replay_scale=2.5",
             "--replay_speed=0", "--tls_version=1.1", "--profiles=bogus", "--criteria_report_only=x",
             "--shard=1/0", "--fixed_iterations=-2", "--clock_skew_ms=inf", "--soak_file=/nonexistent.yaml",
             "--soak_file=" + os.path.join(ROOT, "scenarios", "editing.yaml"), "--cpu_profile=bogus",
             "--target_pid=0", "--target_pid=-4"]
for flag in BAD_BENCH:
    rc, out, err = bench([flag, "--benchmark_filter=^load/users:10/"] + short, timeout=30)
    name = flag.split("=")[0]
    check(f"bench {flag}: exit 2", rc == 2, f"rc={rc}")
    check(f"bench {flag}: names {name}", err.startswith("bench:") and name in err.splitlines()[0], err[-300:])

BAD_SERVER = ["--port=70000", "--port=-1", "--threads=0", "--threads=2.5", "--max-users=0", "--max-users=-5",
              "--bcrypt-cost=99", "--kdf-threads=0", "--max-frame-bytes=10", "--rate-low=-1/5", "--rate-critical=5",
              "--cursor-min-px=-1", "--idle-timeout-ms=x", "--durability=maybe", "--profile=bogus"]
for flag in BAD_SERVER:
    for extra in ([], ["--check"]):
        p = subprocess.run([SERVER, "--port=0", "--db=", flag] + extra, capture_output=True, text=True, timeout=10)
        name = flag.split("=")[0]
        check(f"server {flag} {extra}: exit 2", p.returncode == 2, f"rc={p.returncode}")
        check(f"server {flag} {extra}: names {name}", name in p.stderr.split("\n")[0], p.stderr[-300:])
p = subprocess.run([SERVER, "--check", "--profile=baseline", "--threads=3"], capture_output=True, text=True,
                   timeout=10)
check("server --check with good flags: exit 0 and the profile", p.returncode == 0 and "serialize:dom" in p.stdout,
      p.stdout + p.stderr)

# A target that refuses connections: the benchmark's error state, never a figure.
rc, out, err = bench(["--target=ws://127.0.0.1:1", "--benchmark_filter=^load/users:10/", "--benchmark_format=json"] +
                     short)
check("unreachable target: non-zero exit, not a signal", rc > 0, f"rc={rc}")
try:
    runs = json.loads(out)["benchmarks"]
    check("unreachable target: the run is in the error state", runs and all(r.get("error_occurred") for r in runs),
          json.dumps(runs)[:300])
except (ValueError, KeyError) as e:
    check("unreachable target: JSON on stdout", False, str(e))

# Against a running server every family that runs there reports only what it measured: the
# server's CPU and memory belong to a process we did not start.
srv = subprocess.Popen([SERVER, "--port=0", "--address=127.0.0.1", "--db=", "--quiet=1", "--max-users=2000",
                        "--graphop-interval-ms=0", "--rate-critical=0/0"], stdout=subprocess.PIPE, text=True)
port = int(srv.stdout.readline())
try:
    families = "^(load/users:10|load/editing/users:50|load/cursor_storm/users:50|load/join_storm/users:50|conn/idle/connections:1000)/"
    rc, out, err = bench([f"--target=ws://127.0.0.1:{port}", "--benchmark_filter=" + families, "--join_storm_users=50",
                          "--benchmark_format=json"] + short, timeout=400)
    runs = json.loads(out)["benchmarks"]
    names = {r["name"].split("/iterations")[0] for r in runs}
    check("against --target: every family ran", len(names) >= 5, str(sorted(names)))
    for r in runs:
        check(f"{r['name']}: not in error", not r.get("error_occurred"), r.get("error_message", ""))
        for k, v in r.items():
            if k.startswith("server_") and not k.startswith("server_metric"):
                # Process figures (CPU, RSS) cannot be measured on a target; anything else
                # server-side comes from its /metrics and must not be a stand-in 0.
                check(f"{r['name']}: {k} absent against a target", k not in
                      ("server_cpu_pct", "server_cpu_peak_pct", "server_rss_mb", "server_rss_per_conn_kb",
                       "server_cpu_us_per_delivery", "server_syscalls_per_delivery"), f"{k}={v}")
                check(f"{r['name']}: {k} is not a stand-in 0", v != 0, f"{k}={v}")
finally:
    srv.terminate()
    srv.wait(timeout=10)

print(f"bench bad input: {len(failures)} failure(s)")
sys.exit(1 if failures else 0)
