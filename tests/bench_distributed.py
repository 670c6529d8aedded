#!/usr/bin/env python3
"""A coordinated run of several generators (bench --coordinator, scripts/collect,
scripts/run-distributed) with real processes: Redis, the server, and each shard in its own
network namespace as a machine. What it checks, never a timing:
  - 3 shards, one with its clock 300 ms ahead: the run is whole (100 % delivered, converged),
    the skewed clock is measured and corrected, and the live merge from Redis equals
    scripts/merge-shards over the shards' own files (exact percentiles); a single generator
    running the same users against the same server delivers all and converges too;
  - a shard killed mid-run: the collector fails the run naming the shard and its last interval;
  - a shard that never comes: every shard and the collector fail with the barrier's message;
  - Redis killed mid-run: "lost" on both sides;
  - bad coordinator URLs, names and combinations: exit 2, named.

usage: bench_distributed.py PATH/TO/bench PATH/TO/liveshare-server   (root: namespaces)
"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = os.path.join(ROOT, "scripts")
failures = []


def check(what, ok, detail=""):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)
        print("     " + str(detail)[-1500:], flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc):
    for _ in range(200):
        if proc.poll() is not None:
            raise SystemExit(f"exited at start: {proc.args}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"no listener on {port}")


def results(path):
    with open(path) as f:
        return json.load(f)["benchmarks"][0]


def lab_run(tmp):
    out = os.path.join(tmp, "lab")
    files = os.path.join(out, "files")
    p = subprocess.run([sys.executable, os.path.join(SCRIPTS, "run-distributed"), "--netns=3",
                        "--out", out, "--run_id", "lab", "--shard-args", "1:--clock_skew_ms=300",
                        "--", "--benchmark_filter=^load/users:30/", "--users=30",
                        "--room_size=10", "--warmup_s=1", "--duration_s=3", "--drain_s=3",
                        f"--shard_out={files}"], capture_output=True, text=True, timeout=180)
    check("3 shards in namespaces: exit 0", p.returncode == 0, p.stdout + p.stderr)
    if p.returncode:
        return
    b = results(os.path.join(out, "results.json"))
    check("3 shards: every durable delivery arrived", b.get("delivery_pct") == 100.0, b)
    check("3 shards: converged", b.get("converged") == 1, b)
    check("3 shards: all joined", b.get("users_joined") == 30, b)
    off, unc = b.get("clock_offset_ms_shard_1", 0), b.get("clock_uncertainty_ms", 0)
    check("the 300 ms clock is measured", abs(off - 300) <= unc + 1, (off, unc))
    # Uncorrected, every delivery between shard 1 and the others would be 300 ms off.
    check("the 300 ms clock is corrected", b.get("p99_ms", 1e9) < 150, b.get("p99_ms"))
    check("the start skew is reported", "start_skew_ms" in b and "start_skew_raw_clock_ms" in b, b)
    check("the coordination cost is reported",
          b.get("coord_stream_commands_per_interval") == 2.0 and "coord_control_bytes" in b, b)
    check("a live line was printed", "deliveries/s" in p.stdout and "s2 " in p.stdout, p.stdout)
    fts = os.path.join(tmp, "files-timeseries.json")
    m = subprocess.run([sys.executable, os.path.join(SCRIPTS, "merge-shards"), files,
                        "--timeseries-out", fts], capture_output=True, text=True)
    f = json.loads(m.stdout)["benchmarks"][0]
    same = [k for k in ("p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms", "durable_expected",
                        "durable_received", "converged", "start_skew_ms") if b.get(k) != f.get(k)]
    check("the live merge equals merge-shards over the files", not same,
          [(k, b.get(k), f.get(k)) for k in same])
    with open(os.path.join(out, "timeseries.json")) as fh:
        ts = json.load(fh)["runs"][0]
    check("the merged series has every shard in each full interval",
          ts["intervals"] and all(i["shards"] == 3 for i in ts["intervals"]), ts["intervals"][:2])
    # Merged live, interval by interval as each completed: the same as from the files.
    with open(fts) as fh:
        fi = json.load(fh)["runs"][0]["intervals"]
    keys = ("p50_ms", "p99_ms", "max_ms", "sent", "durable", "shards")
    diff = [(k, a.get(x), b.get(x)) for k, (a, b) in enumerate(zip(ts["intervals"], fi))
            for x in keys if a.get(x) != b.get(x)]
    check("the live series equals merge-shards --timeseries-out over the files",
          len(fi) == len(ts["intervals"]) and not diff, (len(fi), len(ts["intervals"]), diff[:5]))
    check("the report was written", os.path.exists(os.path.join(out, "report", "index.html")))


def lab_kill(tmp):
    out = os.path.join(tmp, "kill")
    p = subprocess.run([sys.executable, os.path.join(SCRIPTS, "run-distributed"), "--netns=3",
                        "--out", out, "--run_id", "kill", "--kill-shard", "2@5", "--",
                        "--benchmark_filter=^load/users:30/", "--users=30", "--room_size=10",
                        "--warmup_s=1", "--duration_s=8", "--drain_s=2"],
                       capture_output=True, text=True, timeout=180)
    b = results(os.path.join(out, "results.json"))
    msg = b.get("error_message", "")
    check("a killed shard: exit 1", p.returncode == 1, p.stdout + p.stderr)
    check("a killed shard: named with its last interval",
          "shard 2" in msg and "stopped reporting after interval" in msg, msg)
    check("a killed shard: the result is an error, no figure", b.get("error_occurred") and
          "p99_ms" not in b, b)


class Local:
    """Redis and a server on loopback, for the runs that need no namespaces."""

    def __init__(self, bench, server, tmp):
        self.rport, self.sport = free_port(), free_port()
        self.redis = subprocess.Popen(["redis-server", "--port", str(self.rport), "--save", "",
                                       "--appendonly", "no"], stdout=subprocess.DEVNULL)
        self.server = subprocess.Popen([server, "--port", str(self.sport), "--db=",
                                        "--graphop-interval-ms=0", "--rate-critical=0/0",
                                        "--quiet=1", "--max-users=1000"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.rport, self.redis)
        wait_port(self.sport, self.server)
        self.bench, self.tmp = bench, tmp
        self.url = f"redis://127.0.0.1:{self.rport}"

    def shard(self, run, shards, *extra):
        args = [self.bench, f"--coordinator={self.url}", f"--run_id={run}", f"--shards={shards}",
                f"--target=ws://127.0.0.1:{self.sport}", "--benchmark_filter=^load/users:20/",
                "--users=20", "--room_size=10", "--warmup_s=1", "--no_progress", *extra]
        return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def collect(self, run):
        return subprocess.Popen([sys.executable, os.path.join(SCRIPTS, "collect"), self.url, run,
                                 "--out", os.path.join(self.tmp, run), "--no-report", "--quiet"],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def close(self):
        for p in (self.server, self.redis):
            if p.poll() is None:
                p.terminate()
                p.wait(10)


def barrier(env):
    c = env.collect("late")
    shards = [env.shard("late", 3, "--coordinator_timeout_s=3", "--duration_s=2") for _ in range(2)]
    outs = [s.communicate(timeout=60)[0] for s in shards]
    cout = c.communicate(timeout=60)[0]
    why = "2 of 3 shards ready; missing shard 2 (never registered)"
    check("a shard that never comes: both shards fail with the barrier's message",
          all(s.returncode != 0 and why in o for s, o in zip(shards, outs)), outs)
    check("a shard that never comes: the collector too, exit 1", c.returncode == 1 and why in cout,
          cout)


def redis_lost(env):
    c = env.collect("lost")
    shards = [env.shard("lost", 2, "--duration_s=6") for _ in range(2)]
    time.sleep(4)
    env.redis.send_signal(signal.SIGKILL)
    env.redis.wait()
    outs = [s.communicate(timeout=90)[0] for s in shards]
    cout = c.communicate(timeout=90)[0]
    check("Redis lost: the collector says so, exit 1", c.returncode == 1 and "lost" in cout, cout)
    check("Redis lost: each shard says so", all("coordinator lost" in o for o in outs), outs)


def one_generator(bench, env):
    """The same users from one generator: the side the 3 shards must agree with on delivery
    and convergence (their percentiles differ by run-to-run noise: results/, not here)."""
    p = subprocess.run([bench, f"--target=ws://127.0.0.1:{env.sport}",
                        "--benchmark_filter=^load/users:30/", "--users=30", "--room_size=10",
                        "--warmup_s=1", "--duration_s=3", "--drain_s=3", "--no_progress",
                        "--benchmark_format=json"], capture_output=True, text=True, timeout=120)
    b = json.loads(p.stdout)["benchmarks"][0] if p.returncode == 0 else {}
    check("one generator, the same users: every delivery, converged",
          b.get("delivery_pct") == 100.0 and b.get("converged") == 1, (p.returncode, b))


def over_ssh(env):
    """--hosts: each shard started by the ssh command (a stand-in that runs it here, as ssh
    would on the host: `CMD HOST 'cd REPO && build/release/bench/bench ...'`)."""
    ssh = os.path.join(env.tmp, "fake-ssh")
    with open(ssh, "w") as f:
        f.write('#!/bin/sh\n# HOST then the remote command, as ssh gets them\nshift\nexec sh -c "$1"\n')
    os.chmod(ssh, 0o755)
    out = os.path.join(env.tmp, "hosts")
    p = subprocess.run([sys.executable, os.path.join(SCRIPTS, "run-distributed"), "--hosts=a,b",
                        f"--redis={env.url}", f"--ssh={ssh}", "--out", out, "--run_id", "hosts",
                        "--", f"--target=ws://127.0.0.1:{env.sport}",
                        "--benchmark_filter=^load/users:20/", "--users=20", "--room_size=10",
                        "--warmup_s=1", "--duration_s=2"],
                       capture_output=True, text=True, timeout=120)
    b = results(os.path.join(out, "results.json")) if p.returncode == 0 else {}
    check("--hosts: two shards through the ssh command, one whole run",
          b.get("shards") == 2 and b.get("delivery_pct") == 100.0 and b.get("converged") == 1,
          (p.returncode, p.stdout[-500:], p.stderr[-500:]))
    check("--hosts: each shard's output in its log",
          all(os.path.exists(os.path.join(out, f"shard-{i}.log")) for i in (0, 1)))


def bad_flags(bench, env):
    t = f"--target=ws://127.0.0.1:{env.sport}"
    for args, named in (
            (["--coordinator=http://x:1", "--run_id=a", "--shards=2", t], "bad --coordinator"),
            (["--coordinator=redis://127.0.0.1", "--run_id=a", "--shards=2", t], "has no port"),
            (["--coordinator=" + env.url, "--run_id=a b", "--shards=2", t], "bad --run_id"),
            (["--coordinator=" + env.url, "--run_id=" + "x" * 65, "--shards=2", t], "bad --run_id"),
            (["--coordinator=" + env.url, "--run_id=a", "--shards=0", t], "--shards"),
            (["--coordinator=" + env.url, "--run_id=a", t], "needs --shards"),
            (["--coordinator=" + env.url, "--run_id=a", "--shards=2"], "needs --target"),
            (["--coordinator=" + env.url, "--run_id=a", "--shards=2", t, "--shard_start=5"],
             "--shard_start"),
            (["--coordinator=redis://127.0.0.1:1", "--run_id=a", "--shards=2", t], "unreachable"),
            (["--run_id=a", "--shards=2", t], "go with --coordinator")):
        p = subprocess.run([bench, *args, "--benchmark_filter=^load/users:10/"],
                           capture_output=True, text=True, timeout=30)
        check(f"bench {' '.join(args[:3])}: exit 2, named",
              p.returncode == 2 and named in p.stderr, (p.returncode, p.stderr[-300:]))
    for script, args in (("collect", ["http://x:1", "r"]), ("collect", [env.url, "a b"]),
                         ("run-distributed", ["--netns=0"]),
                         ("run-distributed", ["--hosts=a,b", "--", "--users=1"]),
                         ("run-distributed", ["--netns=2", "--kill-shard=5@1"])):
        p = subprocess.run([sys.executable, os.path.join(SCRIPTS, script), *args],
                           capture_output=True, text=True, timeout=30)
        check(f"{script} {' '.join(args)}: exit 2", p.returncode == 2 and
              "Traceback" not in p.stderr, p.stderr[-300:])


def main():
    bench, server = sys.argv[1], sys.argv[2]
    if os.geteuid() != 0:
        print("SKIP: namespaces as machines need root")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        lab_run(tmp)
        lab_kill(tmp)
        env = Local(bench, server, tmp)
        try:
            one_generator(bench, env)
            over_ssh(env)
            bad_flags(bench, env)
            barrier(env)
            redis_lost(env)
        finally:
            env.close()
    print(f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
