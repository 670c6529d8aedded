#!/usr/bin/env python3
"""Traffic as data, against real processes: the server's --record, bench --replay and
--scenario, and scripts/trace-summary.

- A run of the editing workload recorded by the server, then replayed at --replay_scale=2
  against a server that records again: per type, the second trace holds twice the messages
  of the first and twice the bytes within 1 %, and the replay delivered 100 %.
- The traces hold no content: no user id, no room id, no name from the run.
- A FIFO that is opened but never read (a stuck disk): the recorder drops and counts records,
  the clients lose nothing, the server stops when told.
- A small size cap: the file rotates to FILE.1, each file a whole trace with its header.
- Bad input: a missing or foreign trace, bad replay flags, a bad scenario file, bad --record
  flags; each a named error and a non-zero exit, never a signal.

usage: record_replay.py PATH/TO/bench PATH/TO/liveshare-server
"""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checks import check, finish  # noqa: E402

BENCH, SERVER = sys.argv[1], sys.argv[2]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUMMARY = os.path.join(ROOT, "scripts", "trace-summary")
tmp = tempfile.mkdtemp(prefix="liveshare-record-")
short = ["--warmup_s=0.5", "--duration_s=3", "--drain_s=2", "--no_progress"]


def bench(args, timeout=300):
    p = subprocess.run([BENCH] + args, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def runs_of(out):
    try:
        return json.loads(out)["benchmarks"]
    except (ValueError, KeyError):
        return []


def summary(path):
    p = subprocess.run([sys.executable, SUMMARY, path, "--json"], capture_output=True, text=True)
    check(f"trace-summary {os.path.basename(path)}: exit 0", p.returncode == 0, p.stderr[-300:])
    return json.loads(p.stdout) if p.returncode == 0 else {"types": {}, "rooms": 0, "users": 0}


def delivered_all(what, rc, out, err):
    runs = runs_of(out)
    check(f"{what}: exit 0", rc == 0, err[-500:])
    check(f"{what}: one run, not in error", len(runs) == 1 and not runs[0].get("error_occurred"),
          json.dumps(runs)[:400])
    if runs:
        check(f"{what}: 100 % delivery", runs[0].get("delivery_pct") == 100.0 and runs[0].get("lost") == 0,
              f"delivery_pct={runs[0].get('delivery_pct')} lost={runs[0].get('lost')}")
    return runs[0] if runs else {}


def start_server(*flags):
    srv = subprocess.Popen([SERVER, "--port=0", "--db=", "--quiet=1", "--max-users=200", "--graphop-interval-ms=0",
                            "--rate-critical=0/0", *flags], stdout=subprocess.PIPE, text=True)
    return srv, int(srv.stdout.readline())


def metrics(port):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    return {m.group(1): float(m.group(2)) for m in re.finditer(r"^(liveshare_trace_\w+) (\S+)$", text, re.M)}


# 1. Record the editing workload; replay it twice over while recording again.
first, second = os.path.join(tmp, "editing.jsonl"), os.path.join(tmp, "replay.jsonl")
rc, out, err = bench(["--benchmark_filter=^load/editing/users:50/", "--benchmark_format=json",
                      f"--server_flags=--record={first}"] + short)
delivered_all("the recorded editing run", rc, out, err)
a = summary(first)
check("the recording holds the run's 50 users in one room", a["rooms"] == 1 and a["users"] >= 50, str(a)[:300])
rc, out, err = bench([f"--replay={first}", "--replay_scale=2", "--benchmark_format=json",
                      f"--server_flags=--record={second}"] + short)
run = delivered_all("the replay at scale 2", rc, out, err)
check("the replay is named load/replay/scale:2/speed:1", run.get("name", "").startswith("load/replay/scale:2/speed:1"),
      run.get("name"))
b = summary(second)
check("the replay: twice the rooms", b["rooms"] == 2 * a["rooms"], f"{a['rooms']} -> {b['rooms']}")
for typ in ("GraphOp", "Awareness", "TableDragStart"):
    check(f"the recording has {typ}", a["types"].get(typ, {}).get("count", 0) > 0, str(a["types"]))
for typ, e in a["types"].items():
    if typ == "RequestGraphState":  # the harness's own convergence check, not replayed traffic
        continue
    got = b["types"].get(typ, {"count": 0, "bytes": 0})
    check(f"{typ}: twice the messages", got["count"] == 2 * e["count"], f"{e['count']} -> {got['count']}")
    check(f"{typ}: twice the bytes within 1 %", abs(got["bytes"] - 2 * e["bytes"]) <= 0.01 * 2 * e["bytes"],
          f"{e['bytes']} -> {got['bytes']}")

# 2. No content: nothing of the run's identities, names or payloads in the trace.
with open(first) as f:
    text = f.read()
check("the trace holds no uuid", not re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-", text), "a uuid is in the trace")
check("the trace holds no name", "user-" not in text and "\"t_" not in text and "column" not in text)

# 3. A FIFO opened and never read: dropped and counted; the clients lose nothing.
fifo = os.path.join(tmp, "stuck.fifo")
os.mkfifo(fifo)
reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # holds it open, never reads
srv, port = start_server(f"--record={fifo}", "--record-buffer=256")
try:
    rc, out, err = bench([f"--target=ws://127.0.0.1:{port}", "--benchmark_filter=^load/editing/users:50/",
                          "--benchmark_format=json"] + short)
    delivered_all("a stuck trace file", rc, out, err)
    m = metrics(port)
    check("a stuck trace file: records dropped and counted", m.get("liveshare_trace_dropped_total", 0) > 0, str(m))
    srv.send_signal(signal.SIGTERM)
    try:  # the bound is a hang guard, not a measurement
        code = srv.wait(timeout=60)
    except subprocess.TimeoutExpired:
        code = "still running after 60 s"
    check("a stuck trace file: the server stops when told, exit 0", code == 0, f"rc={code}")
finally:
    if srv.poll() is None:
        srv.kill()
    os.close(reader)

# 4. Rotation at a small cap.
rot = os.path.join(tmp, "rot.jsonl")
srv, port = start_server(f"--record={rot}", "--record-max-bytes=65536")
try:
    rc, out, err = bench([f"--target=ws://127.0.0.1:{port}", "--benchmark_filter=^load/editing/users:50/",
                          "--benchmark_format=json"] + short)
    delivered_all("a rotating trace", rc, out, err)
    rotations = metrics(port).get("liveshare_trace_rotations_total", 0)
    srv.terminate()
    srv.wait(timeout=30)
finally:
    if srv.poll() is None:
        srv.kill()
check("a rotating trace: rotated", rotations > 0 and os.path.exists(rot + ".1"), f"rotations={rotations}")
for path in (rot, rot + ".1"):
    if os.path.exists(path):
        size = os.path.getsize(path)
        check(f"{os.path.basename(path)}: within the cap (one line over at most)", size <= 65536 + 200, f"{size}")
        with open(path) as f:
            check(f"{os.path.basename(path)}: starts with the header", '"liveshare_trace":1' in f.readline())
        summary(path)


# 5. Bad input: a named error, a non-zero exit, never a signal.
def refused(what, args, must_name):
    rc, out, err = bench(args)
    check(f"{what}: non-zero exit, not a signal", rc > 0, f"rc={rc}")
    check(f"{what}: names the cause", must_name in err, err[-300:])


foreign = os.path.join(tmp, "foreign.jsonl")
with open(foreign, "w") as f:
    f.write('{"hello": 1}\n')
broken = os.path.join(tmp, "broken.jsonl")
with open(broken, "w") as f:
    f.write('{"liveshare_trace":1}\n{"t":5,"ev":"msg","room":"a","user":"b","type":"NoSuchType","bytes":3}\n')
refused("a missing trace", ["--replay=/nonexistent/t.jsonl"], "/nonexistent/t.jsonl")
quiet = os.path.join(tmp, "quiet.jsonl")
with open(quiet, "w") as f:
    f.write('{"liveshare_trace":1}\n{"t":5,"ev":"join","room":"a","user":"b"}\n{"t":9,"ev":"leave","room":"a","user":"b"}\n')
refused("a trace without messages", [f"--replay={quiet}"], "no message a replay can send")
refused("a foreign file as a trace", [f"--replay={foreign}"], "not a liveshare trace")
refused("a trace with a bad record", [f"--replay={broken}"], "broken.jsonl:2")
refused("--replay_scale=0", [f"--replay={first}", "--replay_scale=0"], "--replay_scale")
refused("--replay_speed=fast", [f"--replay={first}", "--replay_speed=fast"], "--replay_speed")
refused("--replay_scale without --replay", ["--replay_scale=2"], "--replay")
bad_yaml = os.path.join(tmp, "bad.yaml")
with open(bad_yaml, "w") as f:
    f.write("name: bad\nclasses:\n  - streams:\n      - type: graph_op\n        every: soon\nphases: [{duration: 5s, users: 3}]\n")
refused("a bad scenario file", [f"--scenario={bad_yaml}"], "bad.yaml:5:16: classes[0].streams[0].every")
refused("a missing scenario file", ["--scenario=/nonexistent/s.yaml"], "/nonexistent/s.yaml")
for flags, name in ((["--record=/nonexistent/dir/t.jsonl"], "/nonexistent/dir/t.jsonl"),
                    (["--record-buffer=0", f"--record={rot}"], "--record-buffer"),
                    (["--record-max-bytes=10", f"--record={rot}"], "--record-max-bytes")):
    p = subprocess.run([SERVER, "--port=0", "--db=", *flags], capture_output=True, text=True, timeout=30)
    check(f"server {' '.join(flags)}: exit 1 or 2, not a signal", p.returncode in (1, 2), f"rc={p.returncode}")
    check(f"server {' '.join(flags)}: names the cause", name in p.stderr, p.stderr[-300:])
lonely = os.path.join(tmp, "lonely.fifo")
os.mkfifo(lonely)
p = subprocess.run([SERVER, "--port=0", "--db=", f"--record={lonely}"], capture_output=True, text=True, timeout=30)
check("server --record=FIFO without a reader: exit 1, not a hang or a signal", p.returncode == 1, f"rc={p.returncode}")
check("server --record=FIFO without a reader: says so", "a FIFO needs its reader first" in p.stderr, p.stderr[-300:])
p = subprocess.run([sys.executable, SUMMARY, foreign], capture_output=True, text=True)
check("trace-summary on a foreign file: exit 2 and why", p.returncode == 2 and "not a liveshare trace" in p.stderr,
      p.stderr)

finish("record_replay")
