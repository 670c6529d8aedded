#!/usr/bin/env python3
"""Validation by sample catches what a full parse of everything would: a real server, a proxy
that plants one fault per connection in what the server sends (tests/tamper_proxy.py), and
load/users:10 at the default rate (one full-state user per room, the others parse 1 in 64).

- through the proxy unchanged: no error, nothing lost or out of order, converged;
- a GraphOp made invalid JSON after its markers (which the scan does not read): the run
  reports the unparseable message (the full-state user parsed it);
- a GraphOp delivered after a later one from the same sender: out of order is counted (the
  scan reads the marker of every delivery).

usage: bench_sampled_validation.py PATH/TO/bench PATH/TO/liveshare-server
"""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from checks import check, finish  # noqa: E402
from tamper_proxy import TamperProxy  # noqa: E402

BENCH, SERVER = sys.argv[1], sys.argv[2]
LIFTED = ["--threads=1", "--graphop-interval-ms=0", "--rate-critical=0/0", "--rate-volatile=0/0",
          "--rate-low=0/0", "--db="]


def run(mode, tmp):
    srv = subprocess.Popen([SERVER, "--port=0", "--address=127.0.0.1"] + LIFTED, stdout=subprocess.PIPE, text=True)
    try:
        port = int(srv.stdout.readline().split()[-1])
        proxy = TamperProxy(port, mode)
        out = os.path.join(tmp, mode + ".json")
        p = subprocess.run([BENCH, "--benchmark_filter=^load/users:10/", f"--target=ws://127.0.0.1:{proxy.port}",
                            "--warmup_s=0.5", "--duration_s=4", "--drain_s=2", "--no_progress",
                            f"--benchmark_out={out}", "--benchmark_out_format=json"],
                           capture_output=True, text=True, timeout=180)
        proxy.close()
        b = json.load(open(out))["benchmarks"][0] if os.path.exists(out) else {}
        return p, b, proxy.planted()
    finally:
        srv.terminate()
        srv.wait(timeout=10)


with tempfile.TemporaryDirectory() as tmp:
    p, b, planted = run("pass", tmp)
    check("pass: the run succeeds", p.returncode == 0, p.stderr[-600:])
    check("pass: sampled at the default rate", "parse 1 in 64" in b.get("label", "") and b.get("scanned_pct", 0) > 50, b.get("label"))
    check("pass: nothing wrong", b.get("error_pct") == 0 and b.get("out_of_order") == 0 and b.get("lost") == 0
          and b.get("converged") == 1, {k: b.get(k) for k in ("error_pct", "out_of_order", "lost", "converged", "label")})

    p, b, planted = run("malformed", tmp)
    check("malformed: one fault planted per connection", planted >= 10, planted)
    said = b.get("label", "") + b.get("error_message", "")
    check("malformed: the unparseable message is reported", "unparseable" in said and b.get("error_pct", 0) > 0, said)

    p, b, planted = run("reorder", tmp)
    check("reorder: one fault planted per connection", planted >= 10, planted)
    check("reorder: out of order is counted", b.get("out_of_order", 0) >= 1, {k: b.get(k) for k in ("out_of_order", "label")})
finish("bench_sampled_validation")
