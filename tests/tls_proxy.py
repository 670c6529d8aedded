#!/usr/bin/env python3
"""wss:// against a real server behind a real TLS proxy: HAProxy from Debian terminating TLS
with certificates made here by the openssl command line (a private CA and a server
certificate for localhost and 127.0.0.1, and one for another name), never by the code under
test.

- `--target=wss://localhost:P --tls_ca=CA`: load/users:10 and load/editing/users:50 deliver
  everything and converge; the handshakes are counted;
- a target list mixing the node behind TLS and the node itself (ws://) works;
- connections reset mid-run (load/faults/resets_per_min:600 through the impairment proxy, TLS
  end to end): the users reconnect and resume their TLS sessions, nothing is lost;
- no --tls_ca (the system's store does not know the CA): "unknown CA";
- a certificate for another name: "name mismatch"; an expired one: "expired certificate";
- wss:// to a port that speaks no TLS: said so;
- --tls_insecure: the run works and says in its label and its JSON context that nothing was
  verified;
- bad flags: an unreadable CA file, a TLS version we do not speak, both --tls_insecure and
  --tls_ca: exit 2 with the reason, before any run;
- load/tls/workload:seed/path:proxy_tls (the bench starts HAProxy itself): everything
  delivered, the proxy's CPU per delivery counted.

usage: tls_proxy.py PATH/TO/bench PATH/TO/liveshare-server
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from checks import check, finish  # noqa: E402

BENCH, SERVER = sys.argv[1], sys.argv[2]
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
LIFTED = ["--threads=1", "--graphop-interval-ms=0", "--rate-critical=0/0", "--rate-volatile=0/0",
          "--rate-low=0/0", "--db=", "--max-users=200"]
SHORT = ["--warmup_s=0.3", "--duration_s=2", "--drain_s=2", "--no_progress"]


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def make_certs(d):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
            "-subj", "/CN=test CA", "-keyout", f"{d}/ca.key", "-out", f"{d}/ca.pem")
    # -days 0: valid until the second it was made, expired by the time the run connects.
    for name, san, days in (("good", "DNS:localhost,IP:127.0.0.1", "2"), ("other", "DNS:other.example", "2"),
                            ("expired", "DNS:localhost", "0")):
        openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-subj", f"/CN={name}", "-keyout", f"{d}/{name}.key", "-out", f"{d}/{name}.csr")
        with open(f"{d}/{name}.ext", "w") as f:
            f.write(f"subjectAltName={san}\nextendedKeyUsage=serverAuth\n")
        openssl("x509", "-req", "-in", f"{d}/{name}.csr", "-CA", f"{d}/ca.pem", "-CAkey", f"{d}/ca.key",
                "-CAcreateserial", "-days", days, "-extfile", f"{d}/{name}.ext", "-out", f"{d}/{name}.crt")
        with open(f"{d}/{name}.pem", "w") as f:
            f.write(open(f"{d}/{name}.crt").read() + open(f"{d}/{name}.key").read())


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, proc, what):
    for _ in range(250):
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited: {proc.stderr.read() if proc.stderr else ''}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"{what} did not listen on {port}")


def start_haproxy(d, node_port):
    good, other, expired = free_port(), free_port(), free_port()
    cfg = f"""global
    maxconn 4000
    nbthread 1
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout tunnel 1h
frontend good
    bind 127.0.0.1:{good} ssl crt {d}/good.pem
    default_backend node
frontend other
    bind 127.0.0.1:{other} ssl crt {d}/other.pem
    default_backend node
frontend expired
    bind 127.0.0.1:{expired} ssl crt {d}/expired.pem
    default_backend node
backend node
    server n0 127.0.0.1:{node_port}
"""
    with open(f"{d}/haproxy.cfg", "w") as f:
        f.write(cfg)
    proc = subprocess.Popen([HAPROXY, "-db", "-f", f"{d}/haproxy.cfg"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    wait_port(good, proc, "haproxy")
    wait_port(other, proc, "haproxy")
    wait_port(expired, proc, "haproxy")
    return proc, good, other, expired


def bench(d, name, args, timeout=240):
    out = os.path.join(d, name + ".json")
    p = subprocess.run([BENCH, *args, f"--benchmark_out={out}", "--benchmark_out_format=json"],
                       capture_output=True, text=True, timeout=timeout)
    try:
        doc = json.load(open(out))
    except (OSError, ValueError):
        doc = {"benchmarks": [], "context": {}}
    return p, doc


def said(b):
    return b.get("label", "") + " " + b.get("error_message", "")


def good_run(b):
    return (not b.get("error_occurred") and b.get("delivery_pct") == 100 and b.get("converged") == 1
            and b.get("error_pct") == 0)


with tempfile.TemporaryDirectory() as d:
    make_certs(d)
    srv = subprocess.Popen([SERVER, "--port=0", "--address=127.0.0.1"] + LIFTED, stdout=subprocess.PIPE, text=True)
    hap = None
    try:
        node = int(srv.stdout.readline().split()[-1])
        hap, good, other, expired = start_haproxy(d, node)
        ca = f"--tls_ca={d}/ca.pem"

        p, doc = bench(d, "wss", ["--benchmark_filter=^load/(users:10|editing/users:50)/", f"--target=wss://localhost:{good}", ca] + SHORT)
        check("wss: the runs succeed", p.returncode == 0, p.stderr[-800:])
        runs = {b["name"].split("/iterations")[0]: b for b in doc["benchmarks"]}
        for name in ("load/users:10", "load/editing/users:50"):
            b = runs.get(name, {})
            check(f"wss {name}: everything delivered, converged, no error", good_run(b),
                  {k: b.get(k) for k in ("delivery_pct", "converged", "error_pct", "label", "error_message")})
            check(f"wss {name}: a TLS handshake per user, timed", b.get("tls_handshakes", 0) >= 10
                  and b.get("tls_handshake_p99_ms", 0) > 0, {k: v for k, v in b.items() if k.startswith("tls")})
        check("wss: the CA is in the JSON context", doc["context"].get("tls_ca") == f"{d}/ca.pem", doc["context"].get("tls_ca"))

        p, doc = bench(d, "mixed", ["--benchmark_filter=^load/users:10/", f"--target=wss://localhost:{good},ws://127.0.0.1:{node}", ca] + SHORT)
        b = doc["benchmarks"][0] if doc["benchmarks"] else {}
        check("mixed wss:// and ws:// targets: everything delivered", good_run(b), said(b))
        check("mixed: half the users spoke TLS", b.get("tls_handshakes") == 5, b.get("tls_handshakes"))

        p, doc = bench(d, "resets", ["--benchmark_filter=^load/faults/resets_per_min:600/", f"--target=wss://localhost:{good}", ca,
                                     "--netsim_users=10"] + SHORT)
        b = doc["benchmarks"][0] if doc["benchmarks"] else {}
        check("connections reset under wss://: everything delivered, converged", good_run(b), said(b))
        check("reconnects resume their TLS session", b.get("reconnects", 0) > 0 and b.get("tls_resumed", 0) > 0,
              {k: b.get(k) for k in ("reconnects", "tls_handshakes", "tls_resumed")})

        p, doc = bench(d, "unknown-ca", ["--benchmark_filter=^load/users:10/", f"--target=wss://localhost:{good}"] + SHORT)
        b = doc["benchmarks"][0] if doc["benchmarks"] else {}
        check("no --tls_ca: the run is an error naming an unknown CA", b.get("error_occurred") and "unknown CA" in said(b), said(b))

        p, doc = bench(d, "wrong-name", ["--benchmark_filter=^load/users:10/", f"--target=wss://localhost:{other}", ca] + SHORT)
        b = doc["benchmarks"][0] if doc["benchmarks"] else {}
        check("a certificate for another name: the run is an error naming the mismatch",
              b.get("error_occurred") and "name mismatch" in said(b), said(b))

        time.sleep(1.1)  # the expired certificate's one second is over
        p, doc = bench(d, "expired", ["--benchmark_filter=^load/users:10/", f"--target=wss://localhost:{expired}", ca] + SHORT)
        b = doc["benchmarks"][0] if doc["benchmarks"] else {}
        check("an expired certificate: the run is an error saying so",
              b.get("error_occurred") and "expired certificate" in said(b), said(b))

        p, doc = bench(d, "not-tls", ["--benchmark_filter=^load/users:10/", f"--target=wss://localhost:{node}", ca] + SHORT)
        b = doc["benchmarks"][0] if doc["benchmarks"] else {}
        check("wss:// to a plain port: said so", b.get("error_occurred") and "is the port TLS?" in said(b), said(b))

        p, doc = bench(d, "insecure", ["--benchmark_filter=^load/users:10/", f"--target=wss://localhost:{other}", "--tls_insecure"] + SHORT)
        b = doc["benchmarks"][0] if doc["benchmarks"] else {}
        check("--tls_insecure: the run works", good_run(b), said(b))
        check("--tls_insecure: the label says nothing was verified", "NOT verified" in b.get("label", ""), b.get("label"))
        check("--tls_insecure: so does the JSON context", "NOT verified" in doc["context"].get("tls_insecure", ""), doc["context"])

        for args, words in ((["--tls_ca=/nonexistent/ca.pem"], "bad --tls_ca"),
                            (["--tls_version=1.1"], "--tls_version wants 1.2 or 1.3"),
                            (["--tls_insecure", ca], "give one of them")):
            p = subprocess.run([BENCH, "--benchmark_filter=^load/users:10/", f"--target=wss://localhost:{good}", *args],
                               capture_output=True, text=True, timeout=30)
            check(f"{args[0]}: exit 2 with the reason", p.returncode == 2 and words in p.stderr, (p.returncode, p.stderr[-300:]))
    finally:
        if hap:
            hap.terminate()
            hap.wait(timeout=10)
        srv.terminate()
        srv.wait(timeout=10)

    p, doc = bench(d, "load-tls", ["--benchmark_filter=^load/tls/workload:seed/path:proxy_tls/"] + SHORT)
    b = doc["benchmarks"][0] if doc["benchmarks"] else {}
    check("load/tls proxy_tls: everything delivered through the bench's own HAProxy", good_run(b), said(b))
    check("load/tls proxy_tls: the proxy's CPU per delivery is counted",
          b.get("proxy_cpu_us_per_delivery", 0) > 0 and b.get("server_cpu_us_per_delivery", 0) > 0,
          {k: v for k, v in b.items() if "cpu" in k})

finish("tls_proxy")
