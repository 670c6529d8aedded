"""Network namespaces as machines, for a distributed run on one host (scripts/run-distributed
--netns=N, tests/bench_distributed.py): a bridge lsbr<pid> at 10.214.X.1/24 in the host's
namespace, and per machine a namespace lsb<pid>s<i> joined to it by a veth lsv<pid>s<i> /
lsw<pid>s<i>, with its own address 10.214.X.(10+i) and the bridge as its route. Traffic goes
only to these addresses. Needs root, ip(8). Namespaces and bridges of ours whose creating
process is gone are removed first (the harness's rule for its lsb<pid>... namespaces)."""
import os
import re
import subprocess

IP = "/usr/sbin/ip"


def available():
    """'' when namespaces can be made here, else why not."""
    if os.geteuid() != 0:
        return "not root: namespaces as machines need root (ip netns)"
    if not os.path.exists(IP):
        return "ip(8) missing (apt-get install iproute2)"
    return ""


def _ip(*args, check=True):
    r = subprocess.run([IP, *args], capture_output=True, text=True)
    if check and r.returncode:
        raise RuntimeError(f"ip {' '.join(args)}: {r.stderr.strip()}")
    return r.stdout


def _alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def remove_stale():
    for line in _ip("netns", "list", check=False).splitlines():
        name = line.split(" ")[0]
        m = re.match(r"lsb(\d+)s(\d+)$", name)
        if m and not _alive(int(m.group(1))):
            _ip("netns", "del", name, check=False)
            _ip("link", "del", "lsv" + name[3:], check=False)
    for line in _ip("-o", "link", "show", "type", "bridge", check=False).splitlines():
        m = re.search(r"\d+: (lsbr(\d+)):", line)
        if m and not _alive(int(m.group(2))):
            _ip("link", "del", m.group(1), check=False)


class Lab:
    """n machines on one bridge; .host is the bridge's address (where the server and Redis
    listen), .addr[i] machine i's, .prefix(i) the command prefix that runs in it."""

    def __init__(self, n):
        why = available()
        if why:
            raise RuntimeError(why)
        if not 1 <= n <= 200:
            raise ValueError("1 to 200 machines")
        remove_stale()
        pid = os.getpid()
        x = pid % 250 + 1
        self.bridge = f"lsbr{pid}"
        self.host = f"10.214.{x}.1"
        self.names, self.addr = [], []
        try:
            _ip("link", "add", self.bridge, "type", "bridge")
            _ip("addr", "add", self.host + "/24", "dev", self.bridge)
            _ip("link", "set", self.bridge, "up")
            for i in range(n):
                name, outer, inner = f"lsb{pid}s{i}", f"lsv{pid}s{i}", f"lsw{pid}s{i}"
                addr = f"10.214.{x}.{10 + i}"
                _ip("netns", "add", name)
                self.names.append(name)
                _ip("link", "add", outer, "type", "veth", "peer", "name", inner)
                _ip("link", "set", inner, "netns", name)
                _ip("link", "set", outer, "master", self.bridge)
                _ip("link", "set", outer, "up")
                _ip("-n", name, "addr", "add", addr + "/24", "dev", inner)
                _ip("-n", name, "link", "set", inner, "up")
                _ip("-n", name, "link", "set", "lo", "up")
                _ip("-n", name, "route", "add", "default", "via", self.host)
                self.addr.append(addr)
        except Exception:
            self.close()
            raise

    def prefix(self, i):
        return [IP, "netns", "exec", self.names[i]]

    def close(self):
        pid = os.getpid()
        for i, name in enumerate(self.names):
            _ip("netns", "del", name, check=False)
            _ip("link", "del", f"lsv{pid}s{i}", check=False)
        self.names = []
        _ip("link", "del", self.bridge, check=False)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
