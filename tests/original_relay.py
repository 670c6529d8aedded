#!/usr/bin/env python3
"""A small relay that behaves like the original server, written from the type table of docs/protocol.md.

Not our server and not our codec: it lets a test run the harness against something that speaks
only the original's protocol (no liveshare.v2, no seq, no server state), with the original's
join flow in full: RequestGraphState goes to every other member and every answer is broadcast
to all as GraphState (the O(N^2) sync). Every client message is checked against the type
table; a failing one gets Error{invalid_message}. No throttles or rate limits.

usage: original_relay.py --port=0 --address=127.0.0.1   (prints the bound port first)
"""
import asyncio
import json
import os
import struct
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "conformance"))
import ws_mini  # noqa: E402
from original_types import check_message  # noqa: E402

RELAYED = {"Awareness", "GraphOp", "CursorMove", "IdleStatus", "UserViewport", "TableDragStart", "TableDragEnd"}
SYNC = {"Update", "SyncStep1", "SyncStep2"}
rooms = {}  # id -> {"info": dict, "members": {user_id: Conn}}


def dumps(obj):
    return json.dumps(obj, separators=(",", ":"))


class Conn:
    def __init__(self, writer):
        self.writer = writer
        self.user_id = None
        self.username = None

    def send(self, obj):
        self.writer.write(ws_mini.encode_frame(dumps(obj)))


async def read_frame(reader):
    data, first = b"", None
    while True:
        b0, b1 = await reader.readexactly(2)
        op, fin, n = b0 & 0x0F, b0 & 0x80, b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", await reader.readexactly(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", await reader.readexactly(8))[0]
        key = await reader.readexactly(4) if b1 & 0x80 else b""
        payload = await reader.readexactly(n)
        if key:
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        if op >= 8:
            return op, payload
        first = op if first is None else first
        data += payload
        if fin:
            return first, data


def room_response(room_id):
    r = rooms[room_id]
    info = dict(r["info"])
    info["user_count"] = len(r["members"])
    info["users"] = [{"user_id": c.user_id, "username": c.username} for c in r["members"].values()]
    return info


def broadcast(room_id, obj, exclude=None):
    for c in list(rooms[room_id]["members"].values()):
        if c is not exclude:
            c.send(obj)


async def websocket(reader, writer, room_id):
    me = Conn(writer)
    try:
        while True:
            op, payload = await read_frame(reader)
            if op == 8:
                writer.write(ws_mini.encode_frame(payload[:2], opcode=8))
                break
            if op == 9:
                writer.write(ws_mini.encode_frame(payload, opcode=10))
                continue
            if op == 2:
                if me.user_id:
                    broadcast(room_id, {"type": "Update", "payload": {"update": list(payload)}})
                continue
            if op != 1:
                continue
            try:
                msg = json.loads(payload)
                check_message(msg, from_server=False)
            except (ValueError, json.JSONDecodeError) as e:
                me.send({"type": "Error", "payload": {"code": "invalid_message", "message": f"Invalid message format: {e}"}})
                continue
            t, p = msg["type"], msg.get("payload")
            if t == "Ping":
                me.send({"type": "Pong"})
            elif t == "Auth":
                if room_id not in rooms:
                    me.send({"type": "AuthResult", "payload": {"success": False, "error": "Room not found"}})
                    continue
                me.user_id, me.username = p["user_id"], p["username"]
                rooms[room_id]["members"][me.user_id] = me
                me.send({"type": "AuthResult", "payload": {"success": True, "room_info": room_response(room_id)}})
                broadcast(room_id, {"type": "UserJoined", "payload": {"user_id": me.user_id, "username": me.username}}, me)
            elif me.user_id is None:
                me.send({"type": "Error", "payload": {"code": "not_authenticated", "message": "Not authenticated"}})
            elif t in RELAYED:
                out = {"type": t, "payload": {"user_id": me.user_id, **p}}
                broadcast(room_id, out, me if t == "Awareness" else None)
            elif t in SYNC:
                broadcast(room_id, {"type": t, "payload": p})
            elif t == "RequestGraphState":
                broadcast(room_id, {"type": "RequestGraphState", "payload": {"requester_id": me.user_id}}, me)
            elif t == "GraphStateResponse":
                broadcast(room_id, {"type": "GraphState",
                                    "payload": {"state": p["state"], "target_user_id": p["target_user_id"]}})
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        if me.user_id and rooms.get(room_id, {}).get("members", {}).get(me.user_id) is me:
            del rooms[room_id]["members"][me.user_id]
            broadcast(room_id, {"type": "UserLeft", "payload": {"user_id": me.user_id}})
        writer.close()


async def handle(reader, writer):
    try:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        writer.close()
        return
    lines = head.split("\r\n")
    method, path = lines[0].split()[:2]
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if ":" in line)}
    if headers.get("upgrade", "").lower() == "websocket" and path.startswith("/room/"):
        room_id = path[len("/room/"):]
        writer.write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      f"Sec-WebSocket-Accept: {ws_mini.accept_key(headers['sec-websocket-key'])}\r\n\r\n").encode())
        await websocket(reader, writer, room_id)
        return
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    status, out = 404, {"error": "not found"}
    if method == "POST" and path.startswith("/room/"):
        room_id = path[len("/room/"):]
        req = json.loads(body or b"{}")
        if room_id in rooms:
            status, out = 409, {"error": "Room already exists", "code": "bad_request"}
        else:
            rooms[room_id] = {"members": {}, "info": {
                "id": room_id, "name": req.get("name") or "Room", "websocket_url": "/room/" + room_id,
                "is_protected": bool(req.get("password")), "max_users": req.get("max_users") or 50,
                "owner_id": str(uuid.uuid4()), "created_at": "2026-11-27T00:00:00Z"}}
            status, out = 201, room_response(room_id)
    text = dumps(out)
    writer.write(f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(text)}\r\n"
                 f"Connection: close\r\n\r\n{text}".encode())
    await writer.drain()
    writer.close()


async def main():
    port, address = 0, "127.0.0.1"
    for a in sys.argv[1:]:
        if a.startswith("--port="):
            port = int(a.split("=", 1)[1])
        elif a.startswith("--address="):
            address = a.split("=", 1)[1]
    server = await asyncio.start_server(handle, address, port, limit=1 << 20)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
