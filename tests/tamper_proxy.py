"""A TCP proxy in front of a real liveshare-server that plants faults in what the server sends
to the clients, message by message, after the WebSocket upgrade (server frames are unmasked,
RFC 6455 5.1): the harness must notice them. Client-to-server bytes pass untouched, and so
does anything before a 101 (the REST calls).

Modes: "pass" (forwards every message as it came: the proxy itself changes nothing),
"malformed" (the Nth GraphOp of every connection loses its JSON validity after its markers,
where only a full parse can see it), "reorder" (the Nth GraphOp of every connection is held
back and delivered after the next GraphOp of the same sender).
"""
import json
import socket
import threading

from ws_mini import encode_frame as frame

NTH = 30


def messages(text):
    """The raw text of each message of a frame (a batch "[...]" or one object)."""
    if not text.startswith("["):
        return [text]
    dec, out, i = json.JSONDecoder(), [], 1
    while text[i] != "]":
        _, end = dec.raw_decode(text, i)
        out.append(text[i:end])
        i = end + 1 if text[end] == "," else end
    return out


class Tamper:
    def __init__(self, mode):
        self.mode, self.graph_ops, self.held, self.planted = mode, 0, None, 0

    def on_message(self, raw):
        """The messages to send in place of `raw`, in order."""
        if self.mode == "pass" or '"type":"GraphOp"' not in raw[:20]:
            return [raw]
        sender = json.loads(raw)["payload"].get("user_id")
        if self.held and self.held[0] == sender:
            held, self.held = self.held[1], None
            return [raw, held]
        self.graph_ops += 1
        if self.graph_ops != NTH:
            return [raw]
        self.planted += 1
        if self.mode == "malformed":
            assert raw.endswith("}}")
            return [raw[:-2] + ',"planted":}}']  # a member without a value: invalid JSON
        self.held = (sender, raw)
        return []


def close_both(*socks):
    for s in socks:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def pump_client(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    close_both(src, dst)


def pump_server(src, dst, tamper):
    buf, upgraded = b"", False
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            if not upgraded:
                buf += data
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    continue
                head, buf = buf[:end + 4], buf[end + 4:]
                dst.sendall(head)
                if not head.startswith(b"HTTP/1.1 101"):
                    dst.sendall(buf)
                    while True:  # plain HTTP: pass the rest through
                        data = src.recv(65536)
                        if not data:
                            break
                        dst.sendall(data)
                    break
                upgraded = True
            else:
                buf += data
            out = b""
            while len(buf) >= 2:
                opcode, n, at = buf[0] & 0x0F, buf[1] & 0x7F, 2
                if n == 126:
                    if len(buf) < 4:
                        break
                    n, at = int.from_bytes(buf[2:4], "big"), 4
                elif n == 127:
                    if len(buf) < 10:
                        break
                    n, at = int.from_bytes(buf[2:10], "big"), 10
                if len(buf) < at + n:
                    break
                payload, buf = buf[at:at + n], buf[at + n:]
                if opcode == 1:
                    for m in messages(payload.decode("utf-8")):
                        for t in tamper.on_message(m):
                            out += frame(t.encode("utf-8"))
                else:
                    out += frame(payload, opcode)
            if out:
                dst.sendall(out)
    except OSError:
        pass
    close_both(src, dst)


class TamperProxy:
    """Listens on 127.0.0.1 (a free port: .port); each connection gets its own Tamper."""

    def __init__(self, upstream_port, mode):
        self.upstream, self.mode, self.tampers = upstream_port, mode, []
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(256)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            u = socket.create_connection(("127.0.0.1", self.upstream))
            for s in (c, u):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            t = Tamper(self.mode)
            self.tampers.append(t)
            threading.Thread(target=pump_client, args=(c, u), daemon=True).start()
            threading.Thread(target=pump_server, args=(u, c, t), daemon=True).start()

    def planted(self):
        return sum(t.planted for t in self.tampers)

    def close(self):
        self.sock.close()
