#!/usr/bin/env python3
"""RFC 6455 conformance of the server's WebSocket, in the manner of the Autobahn|Testsuite.

Every frame is built byte by byte here from the RFC (section 5.2's layout, 5.3's masking), with
no line shared with the server or the harness; expectations are the RFC's, cited per case:
handshake (4.2.1, 4.2.2), framing and reserved bits (5.2), masking (5.1, 5.3), opcodes (5.2),
fragmentation (5.4), control frames (5.5), ping/pong (5.5.2-3), UTF-8 (8.1), close codes and
reasons (5.5.1, 7.4), message limits (10.4). A real liveshare-server process is started with
the profile given, so both write paths (corked, write:frame) are held to the same cases.

usage: rfc6455_conformance.py PATH/TO/liveshare-server [PROFILE]
"""
import base64
import hashlib
import os
import socket
import struct
import subprocess
import sys
import time

HOST = "127.0.0.1"
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3
ROOM = "/room/6f1c2a8e-3b4d-4c5e-8f70-8192a3b4c5d6"
MAX_MESSAGE = 65536  # the server is started with this --max-frame-bytes
# Codes an endpoint may send (7.4.1, 7.4.2, and IANA's 1012-1014).
SENDABLE = set(range(1000, 1004)) | set(range(1007, 1015)) | set(range(3000, 5000))

results = []  # (case, ok, detail)


def check(case, ok, detail=""):
    results.append((case, bool(ok), detail))
    if not ok:
        print(f"FAIL {case}: {detail}", flush=True)


def frame(payload=b"", op=1, fin=True, rsv=0, mask=True, length=None):
    """One frame exactly as 5.2 lays it out; rsv is the 3 reserved bits (RSV1 = 4)."""
    if isinstance(payload, str):
        payload = payload.encode()
    b0 = (0x80 if fin else 0) | (rsv << 4) | op
    n = len(payload) if length is None else length
    mbit = 0x80 if mask else 0
    if n < 126:
        head = bytes([b0, mbit | n])
    elif n < 65536:
        head = bytes([b0, mbit | 126]) + struct.pack("!H", n)
    else:
        head = bytes([b0, mbit | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def close_payload(code, reason=b""):
    return struct.pack("!H", code) + reason


class Conn:
    """A raw connection after a correct opening handshake (4.1)."""

    def __init__(self, port):
        self.sock = socket.create_connection((HOST, port), timeout=5)
        key = base64.b64encode(os.urandom(16)).decode()
        req = (f"GET {ROOM} HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
        self.sock.sendall(req.encode())
        head = read_head(self.sock)
        expect_accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        if not head.startswith("HTTP/1.1 101") or expect_accept not in head:
            raise RuntimeError("opening handshake failed: " + head.split("\r\n")[0])
        self.buf = b""

    def send(self, *frames):
        self.sock.sendall(b"".join(frames))

    def _need(self, n, deadline):
        while len(self.buf) < n:
            self.sock.settimeout(max(0.01, deadline - time.time()))
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk

    def next_frame(self, timeout=5.0):
        """(fin, rsv, op, payload) of the next frame; None on EOF or timeout."""
        deadline = time.time() + timeout
        try:
            self._need(2, deadline)
            b0, b1 = self.buf[0], self.buf[1]
            n, at = b1 & 0x7F, 2
            if n == 126:
                self._need(4, deadline)
                n, at = struct.unpack("!H", self.buf[2:4])[0], 4
            elif n == 127:
                self._need(10, deadline)
                n, at = struct.unpack("!Q", self.buf[2:10])[0], 10
            if b1 & 0x80:
                check("server frames are not masked (5.1)", False, "masked server frame")
                at += 4
            self._need(at + n, deadline)
            payload = self.buf[at:at + n]
            self.buf = self.buf[at + n:]
            return bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0x0F, payload
        except (EOFError, socket.timeout, ConnectionResetError):
            return None

    def close_code(self, timeout=5.0):
        """Reads to the server's close frame: its code (None without one, 'none' for an empty one).

        Also checks what 5.5.1 and 7.4.1 ask of that frame, and that the TCP stream ends after it."""
        while True:
            f = self.next_frame(timeout)
            if f is None:
                return None
            fin, rsv, op, payload = f
            if op != 8:
                continue
            if len(payload) == 0:
                code = "none"
            else:
                code = struct.unpack("!H", payload[:2])[0]
                check("server close code is one that may be sent (7.4.1)", code in SENDABLE, f"sent {code}")
            # Answer the close, then the server ends the stream (7.1.1).
            try:
                self.sock.sendall(frame(close_payload(1000), op=8))
            except OSError:
                pass
            return code

    def ended(self, timeout=5.0):
        """True when the server ends the TCP stream."""
        deadline = time.time() + timeout
        try:
            while time.time() < deadline:
                self.sock.settimeout(max(0.01, deadline - time.time()))
                if not self.sock.recv(65536):
                    return True
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False
        return False

    def close(self):
        self.sock.close()


def read_head(sock):
    head = b""
    while b"\r\n\r\n" not in head:
        c = sock.recv(1)
        if not c:
            break
        head += c
    return head.decode("latin-1")


def raw_request(port, lines):
    s = socket.create_connection((HOST, port), timeout=5)
    s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    head = read_head(s)
    s.close()
    return head


# ------------------------------------------------------------------ handshake (4.2.1, 4.2.2)

def handshake_cases(port):
    good = ["GET " + ROOM + " HTTP/1.1", f"Host: {HOST}:{port}", "Upgrade: websocket", "Connection: Upgrade",
            "Sec-WebSocket-Version: 13"]
    # The RFC's own example (1.3): this key must give this accept value.
    head = raw_request(port, good + ["Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="])
    check("handshake: RFC 1.3 example key accepted with its accept value",
          head.startswith("HTTP/1.1 101") and "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in head, head.split("\r\n")[0])
    no_host = [l for l in good if not l.startswith("Host:")]
    head = raw_request(port, no_host + ["Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="])
    check("handshake: no Host header -> 400 (4.2.1 item 2)", head.startswith("HTTP/1.1 400"), head.split("\r\n")[0])
    bad_keys = {
        "not base64": "!!!!!!!!!!!!!!!!!!!!!!==",
        "base64 of 17 bytes": base64.b64encode(b"x" * 17).decode(),  # 24 characters too
        "base64 of 15 bytes": base64.b64encode(b"x" * 15).decode(),
        "base64 of 18 bytes": base64.b64encode(b"x" * 18).decode(),
        "padding in the middle": "AAAAAAAAAA==AAAAAAAAAA==",
        "empty": "",
    }
    for what, key in bad_keys.items():
        head = raw_request(port, good + [f"Sec-WebSocket-Key: {key}"])
        check(f"handshake: key {what} -> 400 (4.2.1 item 5)", head.startswith("HTTP/1.1 400"), head.split("\r\n")[0])
    head = raw_request(port, [l for l in good if "Version" not in l] + ["Sec-WebSocket-Version: 8",
                                                                       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="])
    check("handshake: version 8 refused with Sec-WebSocket-Version: 13 (4.2.2)",
          head.startswith("HTTP/1.1 4") and "sec-websocket-version: 13" in head.lower(), head.split("\r\n")[0])


# ------------------------------------------------------------------ framing

def expect_close(port, case, frames, want, then_end=True):
    c = Conn(port)
    c.send(*frames)
    code = c.close_code()
    ok = code in want if isinstance(want, (set, tuple)) else code == want
    check(case, ok, f"close code {code}, want {want}")
    if then_end:
        check(case + ": TCP stream ends after the close", c.ended(), "still open")
    c.close()


def pong_for(c, timeout=5.0):
    """The JSON Pong answering a JSON Ping (skipping control frames); True when it came."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        f = c.next_frame(deadline - time.time())
        if f is None:
            return False
        if f[2] == 1 and b'"Pong"' in f[3]:
            return True
        if f[2] == 8:
            return False
    return False


def framing_cases(port):
    c = Conn(port)
    c.send(frame(b"hello-ping", op=9))
    f = c.next_frame()
    check("ping with payload -> pong with the same payload (5.5.2, 5.5.3)",
          f is not None and f[2] == 10 and f[3] == b"hello-ping" and f[0], repr(f))
    c.send(frame(b"", op=9))
    f = c.next_frame()
    check("empty ping -> empty pong", f is not None and f[2] == 10 and f[3] == b"", repr(f))
    c.send(frame(b"x" * 125, op=9))
    f = c.next_frame()
    check("ping of 125 bytes -> pong of 125 bytes", f is not None and f[2] == 10 and len(f[3]) == 125, repr(f)[:60])
    c.send(frame(b"unsolicited", op=10))  # 5.5.3: an unsolicited pong needs no answer
    c.send(frame('{"type":"Ping"}'))
    check("unsolicited pong ignored, connection usable", pong_for(c))
    c.close()

    for rsv in (1, 2, 3, 4, 5, 6, 7):
        expect_close(port, f"reserved bits {rsv:03b} without an extension -> 1002 (5.2)",
                     [frame('{"type":"Ping"}', rsv=rsv)], 1002)
    for op in (3, 4, 5, 6, 7, 11, 12, 13, 14, 15):
        expect_close(port, f"reserved opcode {op} -> 1002 (5.2)", [frame(b"x", op=op)], 1002)
    expect_close(port, "unmasked client frame -> 1002 (5.1)", [frame('{"type":"Ping"}', mask=False)], 1002)
    expect_close(port, "ping over 125 bytes -> 1002 (5.5)", [frame(b"x" * 126, op=9)], 1002)
    expect_close(port, "fragmented ping -> 1002 (5.5)", [frame(b"ab", op=9, fin=False)], 1002)
    expect_close(port, "close of 1 byte -> 1002 (5.5.1)", [frame(b"\x03", op=8)], 1002)

    # Fragmentation (5.4): a message in three frames, with control frames between them.
    c = Conn(port)
    c.send(frame('{"type"', fin=False), frame(b"p1", op=9), frame(':"Pi', op=0, fin=False), frame(b"p2", op=9),
           frame('ng"}', op=0))
    got = [c.next_frame(), c.next_frame()]
    check("pings between fragments answered at once (5.4)",
          all(g is not None and g[2] == 10 for g in got) and [g[3] for g in got] == [b"p1", b"p2"], repr(got))
    check("fragmented message reassembled (5.4)", pong_for(c))
    c.send(frame('{"type":"Pi', fin=False), frame(b"", op=0, fin=False), frame('ng"}', op=0))
    check("empty continuation frame inside a message (5.4)", pong_for(c))
    c.close()
    expect_close(port, "continuation without a message -> 1002 (5.4)", [frame(b"x", op=0)], 1002)
    expect_close(port, "new text frame inside a fragmented message -> 1002 (5.4)",
                 [frame('{"type"', fin=False), frame('{"type":"Ping"}')], 1002)
    expect_close(port, "fragmented message over the size limit -> 1009 (10.4)",
                 [frame(b"a" * 40000, fin=False), frame(b"a" * 40000, op=0)], 1009)
    expect_close(port, "frame over the size limit -> 1009 (10.4)", [frame(b"a" * (MAX_MESSAGE + 1))], 1009)


# ------------------------------------------------------------------ UTF-8 (8.1)

VALID_TEXTS = {
    "2-, 3- and 4-byte forms": "κόσμε ✓ 𝄞",
    "U+FFFF and U+10FFFF": "\uffff\U0010ffff",
    "U+D7FF and U+E000 around the surrogates": "\ud7ff\ue000",
}
INVALID = {
    "overlong 2-byte (C0 80)": b"\xc0\x80",
    "overlong 2-byte (C1 BF)": b"\xc1\xbf",
    "overlong 3-byte (E0 80 80)": b"\xe0\x80\x80",
    "overlong 4-byte (F0 80 80 80)": b"\xf0\x80\x80\x80",
    "surrogate U+D800 (ED A0 80)": b"\xed\xa0\x80",
    "surrogate U+DFFF (ED BF BF)": b"\xed\xbf\xbf",
    "above U+10FFFF (F4 90 80 80)": b"\xf4\x90\x80\x80",
    "byte F5": b"\xf5\x80\x80\x80",
    "byte FE": b"\xfe",
    "byte FF": b"\xff",
    "lone continuation byte 80": b"\x80",
    "lone continuation byte BF": b"\xbf",
    "truncated 3-byte form inside the text": b"\xe2\x82" + b"x",
    "truncated 4-byte form inside the text": b"\xf0\x9f\x98" + b"x",
}


def ping_with(raw):
    return b'{"type":"Ping","note":"' + raw + b'"}'


def utf8_cases(port):
    c = Conn(port)
    for what, text in VALID_TEXTS.items():
        c.send(frame(ping_with(text.encode())))
        check(f"valid UTF-8 ({what}) accepted (8.1)", pong_for(c))
    # A code point split across fragments is valid (8.1 judges the message, not the frame).
    whole = ping_with("𝄞κ".encode())
    cut = whole.index(b"\xf0") + 2
    c.send(frame(whole[:cut], fin=False), frame(whole[cut:cut + 2], op=0, fin=False), frame(whole[cut + 2:], op=0))
    check("valid UTF-8 with code points split across fragments accepted (8.1)", pong_for(c))
    c.close()
    for what, raw in INVALID.items():
        expect_close(port, f"invalid UTF-8: {what} -> 1007 (8.1)", [frame(ping_with(raw))], 1007)
    expect_close(port, "invalid UTF-8: truncated at the end of the message -> 1007 (8.1)",
                 [frame(b'{"type":"Ping"}\xe2\x82')], 1007)
    expect_close(port, "invalid UTF-8: truncated at the end of a fragmented message -> 1007 (8.1)",
                 [frame(b'{"type":"Ping"}', fin=False), frame(b"\xf0\x9f", op=0)], 1007)
    expect_close(port, "invalid UTF-8 split across fragments (F0 9F | 41) -> 1007 (8.1)",
                 [frame(b'{"type":"Ping","n":"\xf0\x9f', fin=False), frame(b'A"}', op=0)], 1007)
    # Fail fast: the bad fragment fails the connection before the message is finished.
    expect_close(port, "invalid UTF-8 in the first fragment fails before the last one arrives (8.1)",
                 [frame(b'{"type":"Ping","n":"\xed\xa0\x80', fin=False)], 1007)


# ------------------------------------------------------------------ closing (5.5.1, 7.4)

def close_cases(port):
    for code in (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999):
        expect_close(port, f"close {code} echoed (5.5.1, 7.4.1)", [frame(close_payload(code), op=8)], code)
    expect_close(port, "close with a UTF-8 reason echoed", [frame(close_payload(1000, "bye κ".encode()), op=8)], 1000)
    expect_close(port, "close without a code answered with none or 1000 (5.5.1)", [frame(b"", op=8)], ("none", 1000))
    for code in (0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535):
        expect_close(port, f"invalid close code {code} -> 1002 (7.4)", [frame(close_payload(code), op=8)], 1002)
    expect_close(port, "close reason not UTF-8 -> 1007 or 1002 (5.5.1, 8.1)",
                 [frame(close_payload(1000, b"\xce\xba\xff"), op=8)], (1002, 1007))
    # After the close nothing more is handled (5.5.1): the Ping behind it gets no Pong.
    c = Conn(port)
    c.send(frame(close_payload(1000), op=8), frame('{"type":"Ping"}'))
    saw_pong, code = False, None
    while True:
        f = c.next_frame(3)
        if f is None:
            break
        if f[2] == 1:
            saw_pong = True
        if f[2] == 8:
            code = struct.unpack("!H", f[3][:2])[0] if len(f[3]) >= 2 else "none"
            break
    check("data after the peer's close is not handled (5.5.1)", code == 1000 and not saw_pong, f"{code} {saw_pong}")
    c.close()


def start_server(binary, profile):
    args = [binary, "--port=0", "--address=" + HOST, "--db=", "--quiet=1", f"--max-frame-bytes={MAX_MESSAGE}",
            "--rate-critical=0/0", "--rate-volatile=0/0", "--rate-low=0/0"]
    if profile:
        args.append("--profile=" + profile)
    p = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    if not line.strip().isdigit():
        p.kill()
        raise SystemExit(f"server did not start: {line!r}")
    return p, int(line)


def main():
    binary = sys.argv[1]
    profile = sys.argv[2] if len(sys.argv) > 2 else ""
    server, port = start_server(binary, profile)
    try:
        for group in (handshake_cases, framing_cases, utf8_cases, close_cases):
            group(port)
        check("server still serves after every case", Conn(port) is not None)
    finally:
        server.terminate()
        server.wait(timeout=10)
    failed = [r for r in results if not r[1]]
    print(f"rfc6455 ({profile or 'default profile'}): {len(results) - len(failed)} of {len(results)} checks passed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
