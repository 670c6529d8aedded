#!/usr/bin/env python3
"""--cpu_profile against a real server and generator: perf samples both over a short load run;
the counters per delivery by component add up to each side's measured CPU, most samples fall
in named components, the folded stacks and the attribution are kept under the run's name; and
where perf cannot run, the run goes on and says "not profiled" and why.

usage: bench_cpu_profile.py PATH/TO/bench
"""
import json
import os
import subprocess
import sys
import tempfile

BENCH = sys.argv[1]
failures = []


def check(what, ok, detail=""):
    if not ok:
        failures.append(what)
        print(f"FAIL {what}: {detail}", flush=True)


def run(extra, env=None, users=50):
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "r.json")
        prof = os.path.join(d, "prof")
        p = subprocess.run([BENCH, f"--benchmark_filter=^load/users:{users}/", "--warmup_s=0.5", "--duration_s=2",
                            "--drain_s=1", "--no_progress", f"--cpu_profile_out={prof}", "--benchmark_format=json",
                            f"--benchmark_out={out}"] + extra,
                           capture_output=True, text=True, timeout=300, env=env)
        check(f"{extra}: exit 0", p.returncode == 0, p.stderr[-500:])
        b = json.load(open(out))["benchmarks"][0]
        files = {}
        if os.path.isdir(prof):
            for f in os.listdir(prof):
                files[f] = open(os.path.join(prof, f)).read()
        return b, files


b, files = run(["--cpu_profile=both"])
for side in ("server", "generator"):
    parts = {k: v for k, v in b.items() if k.startswith(f"{side}_cpu_us_per_delivery_")}
    total = b.get(f"{side}_user_cpu_us_per_delivery", 0) + b.get(f"{side}_sys_cpu_us_per_delivery", 0)
    check(f"{side}: a counter per component", len(parts) >= 15, sorted(parts))
    check(f"{side}: the components add up to its CPU per delivery",
          total > 0 and abs(sum(parts.values()) - total) <= 0.01 * total, (sum(parts.values()), total))
    check(f"{side}: samples taken", b.get(f"{side}_profile_samples", 0) > 50, b.get(f"{side}_profile_samples"))
    check(f"{side}: at least 90 % of the samples in named components",
          b.get(f"{side}_profile_named_pct", 0) >= 90, b.get(f"{side}_profile_named_pct"))
    folded = files.get(f"load_users_50.{side}.folded", "")
    check(f"{side}: folded stacks kept under the run's name", folded.count("\n") > 10, sorted(files))
    lines = [l.rsplit(" ", 1) for l in folded.splitlines()]
    check(f"{side}: each folded line is a stack and a count",
          all(len(x) == 2 and x[1].isdigit() and x[0] for x in lines), lines[:3])
    check(f"{side}: the folded counts are the samples",
          sum(int(x[1]) for x in lines if len(x) == 2 and x[1].isdigit()) == b.get(f"{side}_profile_samples"))
    att = json.loads(files.get(f"load_users_50.{side}.json", "{}"))
    check(f"{side}: the attribution's shares add up to 100 %",
          abs(sum(att.get("components", {}).values()) - 100) < 0.1, att.get("components"))
    check(f"{side}: top frames by self and total", len(att.get("top_self", [])) == 20 and
          len(att.get("top_total", [])) == 20, att.keys())
check("the server's kernel send path is named", b.get("server_cpu_us_per_delivery_kernel_send", 0) > 0)
check("the run itself is measured as usual", b.get("delivery_pct") == 100 and "p99_ms" in b, b.get("label"))

# A planted hot spot: the server spends 100 us in liveshare::planted_hot_spot for each message a
# user sends; the profile names it (its share against the cost it was given is a measurement,
# in results/, not a test).
b, files = run(["--cpu_profile=server", "--server_flags=--planted-hot-spot-ns=100000"])
att = json.loads(files.get("load_users_50.server.json", "{}"))
check("planted: its component has samples", att.get("components", {}).get("planted hot spot", 0) > 5,
      att.get("components"))
check("planted: its frame is among the top frames by self",
      any(f == "liveshare::planted_hot_spot" for f, n in att.get("top_self", [])), att.get("top_self"))
check("planted: a counter per delivery", b.get("server_cpu_us_per_delivery_planted_hot_spot", 0) > 0)
b, files = run(["--cpu_profile=server"])
att = json.loads(files.get("load_users_50.server.json", "{}"))
check("not planted: no samples in it", att.get("components", {}).get("planted hot spot", 1) == 0,
      att.get("components"))

# The capacity search: the top passing step's profile (every step is sampled; one is kept).
with tempfile.TemporaryDirectory() as d:
    out, prof = os.path.join(d, "r.json"), os.path.join(d, "prof")
    p = subprocess.run([BENCH, "--benchmark_filter=^load/capacity", "--capacity_room_size=10", "--capacity_max_users=20",
                        "--capacity_bisect_steps=0", "--warmup_s=0.5", "--duration_s=1", "--no_progress",
                        "--cpu_profile=server", f"--cpu_profile_out={prof}", f"--benchmark_out={out}",
                        "--benchmark_out_format=json"], capture_output=True, text=True, timeout=300)
    check("capacity: exit 0", p.returncode == 0, p.stderr[-500:])
    b = json.load(open(out))["benchmarks"][0]
    parts = {k: v for k, v in b.items() if k.startswith("server_cpu_us_per_delivery_")}
    check("capacity: the passing step's components", len(parts) >= 15 and b.get("server_profile_samples", 0) > 0, sorted(b))
    check("capacity: one profile kept, under the benchmark's name",
          sorted(os.listdir(prof)) == ["load_capacity.server.folded", "load_capacity.server.json"], os.listdir(prof))

# A server we did not start: the tests' own small relay (original_relay.py, Python), driven
# with --target and profiled through --target_pid.
relay = subprocess.Popen([sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "original_relay.py"),
                          "--port=0", "--address=127.0.0.1"], stdout=subprocess.PIPE, text=True)
try:
    port = int(relay.stdout.readline().strip())
    # Ten users: the Python relay keeps their schedule (at fifty it falls behind, the joins end
    # after the window's planned end and the window is a burst too short to sample).
    b, files = run([f"--target=ws://127.0.0.1:{port}", f"--target_pid={relay.pid}", "--cpu_profile=server"], users=10)
    check("target_pid: the target's CPU is measured", b.get("server_cpu_us_per_delivery", 0) > 0, sorted(b))
    check("target_pid: profiled", b.get("server_profile_samples", 0) > 20, b.get("server_profile_samples"))
    check("target_pid: its kernel send path is named", b.get("server_cpu_us_per_delivery_kernel_send", 0) > 0)
    check("target_pid: its files", "load_users_10.server.folded" in files, sorted(files))
finally:
    relay.kill()
    relay.wait()

# perf missing: the run goes on, unprofiled, and says why.
env = dict(os.environ, LIVESHARE_PERF="/nonexistent/perf")
b, files = run(["--cpu_profile=server"], env)
check("no perf: the run is measured", b.get("delivery_pct") == 100 and not b.get("error_occurred"), b.get("label"))
check("no perf: 'not profiled' and why", "server not profiled:" in b.get("label", ""), b.get("label"))
check("no perf: no profile counters", not any(k.startswith("server_cpu_us_per_delivery_") for k in b), sorted(b))
check("no perf: no files", not files, sorted(files))

print("bench_cpu_profile: " + (f"{len(failures)} FAILED" if failures else "all checks passed"))
sys.exit(1 if failures else 0)
