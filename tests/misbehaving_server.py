#!/usr/bin/env python3
"""A WebSocket server that misbehaves on purpose, for the harness's robustness tests.

  misbehaving_server.py --port=0 --address=127.0.0.1 --mode=MODE

Prints its port as the first stdout line (as liveshare-server does). Modes:
  garbage      completes the handshake, then answers every frame with garbage text and a
               binary frame
  stop-reading completes the handshake, then never reads again
  close-mid-frame  completes the handshake, sends half a frame, closes the socket
  bad-handshake    answers the upgrade with an HTTP 500
  bad-utf8     completes the handshake, then answers with a text frame that is not UTF-8
               (a surrogate, ED A0 80, inside an otherwise valid Pong)
"""
import base64
import hashlib
import socket
import sys
import threading

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def frame(payload: bytes, opcode=1) -> bytes:
    n = len(payload)
    head = bytes([0x80 | opcode])
    if n < 126:
        head += bytes([n])
    elif n < 65536:
        head += bytes([126]) + n.to_bytes(2, "big")
    else:
        head += bytes([127]) + n.to_bytes(8, "big")
    return head + payload


def handshake(conn) -> bool:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return False
        data += chunk
    key = ""
    for line in data.decode("latin1").split("\r\n"):
        if line.lower().startswith("sec-websocket-key:"):
            key = line.split(":", 1)[1].strip()
    accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
    conn.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Accept: {accept}\r\n\r\n").encode())
    return True


def serve(conn, mode):
    try:
        if mode == "bad-handshake":
            conn.recv(4096)
            conn.sendall(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n")
            return
        if not handshake(conn):
            return
        if mode == "stop-reading":
            threading.Event().wait(120)  # bounded by the test's own timeouts
            return
        if mode == "close-mid-frame":
            conn.sendall(frame(b'{"type":"Pong"}' * 10)[:20])
            return
        if mode == "bad-utf8":
            if conn.recv(65536):
                conn.sendall(frame(b'{"type":"Pong","x":"\xed\xa0\x80"}'))
            threading.Event().wait(5)
            return
        for _ in range(10000):  # garbage: reply to every read
            if not conn.recv(65536):
                return
            conn.sendall(frame(b"this is not json {{{") + frame(b"\x00\xff\x10", opcode=2) +
                         frame(b'{"type":"AuthResult","payload":{"success":"maybe"}}'))
    except OSError:
        pass
    finally:
        conn.close()


def main():
    args = dict(a[2:].split("=", 1) for a in sys.argv[1:] if a.startswith("--") and "=" in a)
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((args.get("address", "127.0.0.1"), int(args.get("port", "0"))))
    srv.listen(128)
    print(srv.getsockname()[1], flush=True)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn, args.get("mode", "garbage")), daemon=True).start()


if __name__ == "__main__":
    main()
