"""A small RFC 6455 WebSocket client and server framing over plain sockets (stdlib only).

Kept apart from the code under test: the original-like client and the relay written from the
type table use it, so neither shares a line with our Beast server or harness.
"""
import base64
import hashlib
import json
import os
import socket
import struct

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def accept_key(key):
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed")
        buf += chunk
    return buf


def read_http_head(sock):
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        if not chunk:
            raise ConnectionError("connection closed during the handshake")
        head += chunk
    return head.decode("latin-1")


def encode_frame(payload, opcode=1, mask=False):
    """One final frame; clients mask, servers do not."""
    if isinstance(payload, str):
        payload = payload.encode()
    head = bytes([0x80 | opcode])
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        head += bytes([mbit | n])
    elif n < 65536:
        head += bytes([mbit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([mbit | 127]) + struct.pack("!Q", n)
    if mask:
        key = os.urandom(4)
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        head += key
    return head + payload


def read_frame(sock):
    """Returns (opcode, payload bytes) of one whole message (continuations joined)."""
    data, first_op = b"", None
    while True:
        b0, b1 = recv_exact(sock, 2)
        op, fin = b0 & 0x0F, b0 & 0x80
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", recv_exact(sock, 2))[0]
        elif n == 127:
            n = struct.unpack("!Q", recv_exact(sock, 8))[0]
        key = recv_exact(sock, 4) if b1 & 0x80 else None
        payload = recv_exact(sock, n)
        if key:
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        if op >= 8:  # control frames may come between fragments
            return op, payload
        if first_op is None:
            first_op = op
        data += payload
        if fin:
            return first_op, data


class Client:
    """A blocking client: connect to ws://host:port/path, send and receive JSON text frames."""

    def __init__(self, host, port, path, timeout=10.0, protocols=None):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        req = (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n")
        if protocols:
            req += f"Sec-WebSocket-Protocol: {protocols}\r\n"
        self.sock.sendall((req + "\r\n").encode())
        head = read_http_head(self.sock)
        if " 101 " not in head.split("\r\n")[0]:
            raise ConnectionError("handshake refused: " + head.split("\r\n")[0])
        if accept_key(key) not in head:
            raise ConnectionError("bad Sec-WebSocket-Accept")
        self.closed = False

    def send(self, obj):
        text = obj if isinstance(obj, str) else json.dumps(obj, separators=(",", ":"))
        self.sock.sendall(encode_frame(text, mask=True))

    def recv(self, timeout=10.0):
        """The next text message parsed as JSON; None on timeout; raises on close."""
        self.sock.settimeout(timeout)
        while True:
            try:
                op, payload = read_frame(self.sock)
            except socket.timeout:
                return None
            if op == 1:
                return json.loads(payload)
            if op == 9:  # ping: answer
                self.sock.sendall(encode_frame(payload, opcode=10, mask=True))
            elif op == 8:
                self.closed = True
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 0
                raise ConnectionError(f"closed by the server with code {code}")

    def close(self):
        try:
            self.sock.sendall(encode_frame(struct.pack("!H", 1000), opcode=8, mask=True))
        except OSError:
            pass
        self.sock.close()


def http(host, port, method, path, body=None, headers=None, timeout=10.0):
    """One HTTP/1.1 request; returns (status, body text)."""
    sock = socket.create_connection((host, port), timeout=timeout)
    data = (body if body is not None else "").encode()
    req = f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\nContent-Length: {len(data)}\r\n"
    if body is not None:
        req += "Content-Type: application/json\r\n"
    for k, v in (headers or {}).items():
        req += f"{k}: {v}\r\n"
    sock.sendall(req.encode() + b"\r\n" + data)
    resp = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        resp += chunk
    sock.close()
    head, _, rest = resp.partition(b"\r\n\r\n")
    return int(head.split()[1]), rest.decode()
