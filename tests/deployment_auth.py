#!/usr/bin/env python3
"""The bench against a deployment that authenticates: a gateway in front of a real
liveshare-server that refuses every WebSocket upgrade without its token (401, as an auth proxy
does), and protected rooms whose password the server checks in Auth.

- without --ws_header the run is in the error state, and the error names the 401;
- with --ws_header='Authorization: Bearer ...' every upgrade the gateway saw carried it and
  the run measures;
- --room_password: the rooms a run creates are protected, and an existing protected room
  (--rooms) is joined with the right password and refused with a wrong one.

usage: deployment_auth.py PATH/TO/bench PATH/TO/liveshare-server
"""
import json
import socket
import subprocess
import sys
import threading
import urllib.request
import uuid

TOKEN = "Bearer s3cret-token"
failures = []


def check(what, ok, detail=""):
    print(("ok   " if ok else "FAIL ") + what + ("" if ok else f": {detail}"), flush=True)
    if not ok:
        failures.append(what)


class Gateway:
    """Loopback TCP gateway: reads each connection's request head; an upgrade without the
    token gets 401 and is closed; anything else is forwarded to the server byte for byte."""

    def __init__(self, upstream_port):
        self.upstream = upstream_port
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(512)
        self.port = self.sock.getsockname()[1]
        self.upgrades = {"with": 0, "without": 0}
        self.lock = threading.Lock()
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        c.settimeout(30)
        head = b""
        try:
            while b"\r\n\r\n" not in head and len(head) < 65536:
                chunk = c.recv(4096)
                if not chunk:
                    return c.close()
                head += chunk
        except OSError:
            return c.close()
        lines = head.split(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
        headers = {l.split(":", 1)[0].strip().lower(): l.split(":", 1)[1].strip() for l in lines[1:] if ":" in l}
        if headers.get("upgrade", "").lower() == "websocket":
            ok = headers.get("authorization") == TOKEN
            with self.lock:
                self.upgrades["with" if ok else "without"] += 1
            if not ok:
                c.sendall(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                return c.close()
        u = socket.create_connection(("127.0.0.1", self.upstream))
        u.sendall(head)
        c.settimeout(None)

        def pump(a, b):
            try:
                while True:
                    d = a.recv(65536)
                    if not d:
                        break
                    b.sendall(d)
            except OSError:
                pass
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        threading.Thread(target=pump, args=(u, c), daemon=True).start()
        pump(c, u)

    def close(self):
        self.sock.close()


def bench(args):
    p = subprocess.run([BENCH, "--benchmark_format=json", "--no_progress", "--warmup_s=0.3", "--duration_s=1.5",
                        "--drain_s=1", "--benchmark_filter=^load/users:10/", "--users=10"] + args,
                       capture_output=True, text=True, timeout=300)
    try:
        runs = json.loads(p.stdout)["benchmarks"]
    except (ValueError, KeyError):
        runs = []
    return p.returncode, runs, p.stderr


BENCH, SERVER = sys.argv[1], sys.argv[2]
srv = subprocess.Popen([SERVER, "--port=0", "--address=127.0.0.1", "--db=", "--quiet=1", "--max-users=200",
                        "--graphop-interval-ms=0", "--rate-critical=0/0", "--bcrypt-cost=4"],
                       stdout=subprocess.PIPE, text=True)
port = int(srv.stdout.readline())
gw = Gateway(port)
try:
    rc, runs, err = bench([f"--target=ws://127.0.0.1:{gw.port}"])
    check("no token: the run is in the error state", rc != 0 and runs and all(r.get("error_occurred") for r in runs),
          f"rc={rc} {json.dumps(runs)[:300]}")
    check("no token: the error names the 401", any("401" in r.get("error_message", "") for r in runs),
          json.dumps(runs)[:400])
    check("no token: the gateway refused upgrades", gw.upgrades["without"] > 0, str(gw.upgrades))

    before = dict(gw.upgrades)
    rc, runs, err = bench([f"--target=ws://127.0.0.1:{gw.port}", f"--ws_header=Authorization: {TOKEN}"])
    check("token: the run measures", rc == 0 and runs and not any(r.get("error_occurred") for r in runs),
          f"rc={rc} {err[-300:]} {json.dumps(runs)[:300]}")
    check("token: every upgrade carried it (10 users and more)",
          gw.upgrades["without"] == before["without"] and gw.upgrades["with"] - before["with"] >= 10, str(gw.upgrades))
    check("token: deliveries measured", runs and runs[0].get("deliveries_per_s", 0) > 0 and runs[0].get("lost", 1) == 0, json.dumps(runs)[:300])

    rc, runs, err = bench([f"--target=ws://127.0.0.1:{port}", "--room_password=open sesame"])
    check("--room_password: a run in rooms it creates protected measures",
          rc == 0 and runs and not any(r.get("error_occurred") for r in runs), f"rc={rc} {json.dumps(runs)[:300]}")

    room = str(uuid.uuid4())
    req = urllib.request.Request(f"http://127.0.0.1:{port}/room/{room}", method="POST",
                                 data=json.dumps({"name": None, "password": "right one"}).encode(),
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=10).read()
    rc, runs, err = bench([f"--target=ws://127.0.0.1:{port}", f"--rooms={room}", "--room_password=wrong one"])
    check("an existing protected room, wrong password: error state", rc != 0 and runs and
          all(r.get("error_occurred") for r in runs), f"rc={rc} {json.dumps(runs)[:300]}")
    check("wrong password: the error names it", any("password" in r.get("error_message", "").lower() for r in runs),
          json.dumps(runs)[:400])
    rc, runs, err = bench([f"--target=ws://127.0.0.1:{port}", f"--rooms={room}", "--room_password=right one"])
    check("an existing protected room, right password: measures",
          rc == 0 and runs and not any(r.get("error_occurred") for r in runs), f"rc={rc} {json.dumps(runs)[:300]}")
finally:
    gw.close()
    srv.terminate()
    srv.wait(timeout=10)

print(f"{len(failures)} failure(s)")
sys.exit(1 if failures else 0)
