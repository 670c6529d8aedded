"""A small Redis client (RESP2 over one TCP connection) from the standard library: the
scripts run under an interpreter that may not see Debian's python3-redis. Every call has a
timeout; a lost connection raises Lost naming the server; an error reply raises ReplyError.
It counts what it sends and receives (the coordination's cost)."""
import socket
from urllib.parse import urlsplit


class Lost(Exception):
    """The connection broke, timed out or could not be made."""


class ReplyError(Exception):
    """Redis answered with an error reply."""


def parse_url(url):
    """redis://HOST:PORT (or [V6]:PORT) -> (host, port); ValueError naming what is wrong."""
    u = urlsplit(url)
    if u.scheme != "redis" or not u.hostname or u.path not in ("", "/") or u.query:
        raise ValueError(f"'{url}' is not redis://HOST:PORT")
    try:
        port = u.port
    except ValueError:
        raise ValueError(f"'{url}' has a bad port (1-65535)") from None
    if port is None:
        raise ValueError(f"'{url}' has no port (redis://HOST:PORT)")
    if not 1 <= port <= 65535:
        raise ValueError(f"'{url}' has a bad port (1-65535)")
    return u.hostname, port


def encode(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


class Reader:
    """Parses replies from bytes fed to it; next() returns one or raises NeedMore."""

    class NeedMore(Exception):
        """The reply is not complete: at least `need` bytes must be buffered to go on."""

        def __init__(self, need):
            super().__init__(need)
            self.need = need

    def __init__(self):
        self.buf = b""

    def feed(self, data):
        self.buf += data

    def _line(self, pos):
        end = self.buf.find(b"\r\n", pos)
        if end < 0:
            raise Reader.NeedMore(len(self.buf) + 1)
        return self.buf[pos:end], end + 2

    def _parse(self, pos):
        line, pos = self._line(pos)
        if not line:
            raise Lost("an empty reply line")
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode(), pos
        if kind == b"-":
            return ReplyError(rest.decode()), pos
        if kind == b":":
            return int(rest), pos
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None, pos
            if len(self.buf) < pos + n + 2:
                raise Reader.NeedMore(pos + n + 2)
            return self.buf[pos:pos + n], pos + n + 2
        if kind == b"*":
            n = int(rest)
            if n < 0:
                return None, pos
            items = []
            for _ in range(n):
                item, pos = self._parse(pos)
                items.append(item)
            return items, pos
        raise Lost(f"a reply of unknown type {kind!r}")

    def next(self):
        value, pos = self._parse(0)
        self.buf = self.buf[pos:]
        return value


class Redis:
    def __init__(self, url, timeout=2.0):
        self.url = url
        self.host, self.port = parse_url(url)
        self.timeout = timeout
        self.sock = None
        self.commands = self.bytes_out = self.bytes_in = 0

    def close(self):
        if self.sock:
            self.sock.close()
            self.sock = None

    def _connect(self):
        if self.sock:
            return
        try:
            self.sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        except OSError as e:
            raise Lost(f"coordinator {self.url}: cannot connect: {e.strerror or e}") from None
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = Reader()

    def pipeline(self, cmds, timeout=None):
        """Several commands in one round trip; their replies (an error reply as ReplyError
        values, not raised)."""
        self._connect()
        data = b"".join(encode(c) for c in cmds)
        try:
            self.sock.settimeout(timeout if timeout is not None else self.timeout)
            self.sock.sendall(data)
            self.bytes_out += len(data)
            self.commands += len(cmds)
            out, need = [], 0
            while len(out) < len(cmds):
                if len(self.reader.buf) >= need:
                    try:
                        out.append(self.reader.next())
                        need = 0
                        continue
                    except Reader.NeedMore as m:
                        need = m.need  # parse again only once that much is here
                chunk = self.sock.recv(1 << 22)
                if not chunk:
                    self.close()
                    raise Lost(f"coordinator {self.url}: the connection closed")
                self.bytes_in += len(chunk)
                self.reader.feed(chunk)
            return out
        except Lost:
            self.close()  # a reply out of step is never read on
            raise
        except socket.timeout:
            self.close()
            raise Lost(f"coordinator {self.url}: no answer within "
                       f"{timeout if timeout is not None else self.timeout:g} s") from None
        except OSError as e:
            self.close()
            raise Lost(f"coordinator {self.url}: {e.strerror or e}") from None

    def command(self, *args, timeout=None):
        r = self.pipeline([args], timeout)[0]
        if isinstance(r, ReplyError):
            raise r
        return r

    def time_ms(self):
        s, us = self.command("TIME")
        return int(s) * 1000 + int(us) // 1000
