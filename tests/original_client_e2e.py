#!/usr/bin/env python3
"""End to end: a client of the original, written from docs/protocol.md alone, against the real server.

It speaks no liveshare.v2, uses numeric node and edge ids, joins by the original's flow
(Auth, then RequestGraphState), builds tables, columns and relationships with one op of every
GraphOp variant, drags a table, and checks that a second member gets the same diagram and that
a wrong password is refused the original's way. Every frame the server sends is checked against
the type table (conformance/original_types.py), never against our codec.

usage: original_client_e2e.py PATH/TO/liveshare-server
"""
import os
import subprocess
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "conformance"))
import ws_mini  # noqa: E402
from original_types import check_message  # noqa: E402

HOST = "127.0.0.1"
failures = []


def expect(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, flush=True)


class Member:
    """One original client: every frame it gets is type-checked; Errors are recorded."""

    def __init__(self, port, room, name, password=None, auth=True):
        self.id = str(uuid.uuid4())
        self.name = name
        self.c = ws_mini.Client(HOST, port, "/room/" + room)
        self.errors = []
        self.inbox = []
        if auth:
            msg = {"user_id": self.id, "username": name}
            if password is not None:
                msg["password"] = password
            self.c.send({"type": "Auth", "payload": msg})

    def recv(self, timeout=10.0):
        m = self.c.recv(timeout)
        if m is None:
            return None
        try:
            check_message(m, from_server=True)
        except ValueError as e:
            failures.append(f"{self.name} got a frame the original's types refuse: {e}: {m}")
            print("FAIL:", failures[-1], flush=True)
        if m["type"] == "Error":
            self.errors.append(m["payload"])
        return m

    def until(self, pred, timeout=10.0, what=""):
        """Reads until pred(msg); returns it (and keeps the others in inbox), or None."""
        end = time.time() + timeout
        while time.time() < end:
            m = self.recv(max(0.05, end - time.time()))
            if m is None:
                break
            if pred(m):
                return m
            self.inbox.append(m)
        expect(False, f"{self.name}: timed out waiting for {what}")
        return None

    def drain_until_pong(self, timeout=10.0):
        """Sends a Ping and returns every frame before its Pong (the server handles in order)."""
        self.c.send({"type": "Ping"})
        got = []
        end = time.time() + timeout
        while time.time() < end:
            m = self.recv(max(0.05, end - time.time()))
            if m is None:
                break
            if m["type"] == "Pong":
                return got
            got.append(m)
        expect(False, f"{self.name}: no Pong")
        return got


def start_server(binary):
    p = subprocess.Popen([binary, "--port=0", "--address=" + HOST, "--db=", "--quiet=1", "--require-rest-create=1",
                          "--bcrypt-cost=4"], stdout=subprocess.PIPE, text=True)
    port = int(p.stdout.readline())
    return p, port


def diagram(state):
    """What a user sees: live tables (by node id) and live relationships (by edge id)."""
    tables = {t["node_id"]: (t["name"], tuple(t["position"]), tuple(tuple(sorted(c.items())) for c in t["columns"]))
              for t in state["tables"] if not t.get("is_deleted", False)}
    rels = {r["edge_id"]: (r["from_node"], r["to_node"], tuple(sorted(r["data"].items())))
            for r in state["relationships"] if not r.get("is_deleted", False)}
    return tables, rels


def main():
    server, port = start_server(sys.argv[1])
    try:
        run(port)
    finally:
        server.terminate()
        server.wait(timeout=10)
    if failures:
        print(f"{len(failures)} failure(s)")
        return 1
    print("original-like client: all checks passed")
    return 0


def run(port):
    # Rooms exist before anyone joins, created as the original's UI does (name null).
    room, protected = str(uuid.uuid4()), str(uuid.uuid4())
    status, body = ws_mini.http(HOST, port, "POST", "/room/" + room, '{"name":null,"password":null,"max_users":null}')
    expect(status == 201, f"POST /room with null name: {status} {body}")
    status, _ = ws_mini.http(HOST, port, "POST", "/room/" + protected, '{"name":"Secret","password":"s3cret","max_users":null}')
    expect(status == 201, f"POST protected room: {status}")

    # Ping before Auth gets Pong.
    early = Member(port, room, "early", auth=False)
    early.c.send({"type": "Ping"})
    m = early.recv()
    expect(m is not None and m["type"] == "Pong", f"Ping before Auth: {m}")
    early.c.close()

    a = Member(port, room, "ann")
    m = a.until(lambda m: m["type"] == "AuthResult", what="AuthResult")
    expect(m and m["payload"]["success"] is True, f"ann's AuthResult: {m}")
    expect(m and "room_info" in m["payload"] and m["payload"]["room_info"]["user_count"] == 1, "room_info")
    # No GraphState on its own: the original's client would take it as its diagram.
    before = a.drain_until_pong()
    expect(not any(x["type"] == "GraphState" for x in before), f"unsolicited GraphState after Auth: {before}")
    # Alone in a room with no tables: RequestGraphState gets no answer (as from the original).
    a.c.send({"type": "RequestGraphState"})
    expect(not any(x["type"] == "GraphState" for x in a.drain_until_pong()), "GraphState for an empty room")

    # One op of every GraphOp variant, with numeric ids (the 150 ms throttle holds them in turn).
    t1, t2, t3 = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    col = lambda name, pk: {"name": name, "data_type": "uuid" if pk else "text", "is_primary_key": pk,
                            "is_nullable": not pk, "is_unique": pk, "default_value": None, "foreign_key": None}
    fk = dict(col("user_id", False), foreign_key={"ref_table": "users", "ref_column": "id"})
    rel = {"name": "orders_user", "relationship_type": "1:N", "from_column": "user_id", "to_column": "id"}
    ops = [
        {"op_type": "CreateTable", "node_id": 1, "table_uuid": t1, "name": "users", "position": [0, 0]},
        {"op_type": "CreateTable", "node_id": 2, "table_uuid": t2, "name": "orders", "position": [300, 0]},
        {"op_type": "CreateTable", "node_id": 3, "table_uuid": t3, "name": "scratch", "position": [600, 0]},
        {"op_type": "AddColumn", "node_id": 1, "table_uuid": t1, "column": col("id", True)},
        {"op_type": "AddColumn", "node_id": 1, "table_uuid": t1, "column": col("nickname", False)},
        {"op_type": "AddColumn", "node_id": 2, "table_uuid": t2, "column": col("id", True)},
        {"op_type": "AddColumn", "node_id": 2, "table_uuid": t2, "column": col("note", False)},
        {"op_type": "UpdateColumn", "node_id": 2, "table_uuid": t2, "column_index": 1, "column": fk},
        {"op_type": "DeleteColumn", "node_id": 1, "table_uuid": t1, "column_index": 1},
        {"op_type": "RenameTable", "node_id": 1, "table_uuid": t1, "new_name": "accounts"},
        {"op_type": "MoveTable", "node_id": 2, "table_uuid": t2, "position": [320.5, 40]},
        {"op_type": "DeleteTable", "node_id": 3, "table_uuid": t3},
        {"op_type": "CreateRelationship", "edge_id": 10, "from_node": 2, "to_node": 1, "relationship": rel},
        {"op_type": "CreateRelationship", "edge_id": 11, "from_node": 2, "to_node": 1, "relationship": dict(rel, name="tmp")},
        {"op_type": "DeleteRelationship", "edge_id": 11},
    ]
    for op in ops:
        a.c.send({"type": "GraphOp", "payload": {"op": op}})
    # The echoes (the original echoes GraphOp to its sender) come back in order.
    echoed = []
    for _ in ops:
        m = a.until(lambda m: m["type"] == "GraphOp", timeout=15, what="GraphOp echo")
        if m is None:
            break
        echoed.append(m["payload"]["op"])
        expect(m["payload"]["user_id"] == a.id, "GraphOp relayed with the sender's user_id")
    expect([o["op_type"] for o in echoed] == [o["op_type"] for o in ops], "ops applied in the order sent")
    expect(all(type(o.get("node_id", o.get("edge_id"))) is int for o in echoed), "ids relayed as numbers")

    # A second member joins the original's way and gets the same diagram.
    b = Member(port, room, "bob")
    m = b.until(lambda m: m["type"] == "AuthResult", what="bob's AuthResult")
    expect(m and m["payload"]["success"] and m["payload"]["room_info"]["user_count"] == 2, f"bob's AuthResult {m}")
    expect(a.until(lambda m: m["type"] == "UserJoined", what="UserJoined") is not None, "UserJoined to ann")
    b.c.send({"type": "RequestGraphState"})
    gs = b.until(lambda m: m["type"] == "GraphState", what="GraphState for bob")
    if gs:
        expect(gs["payload"].get("target_user_id") == b.id, "GraphState addressed to its requester")
        tables, rels = diagram(gs["payload"]["state"])
        expect(sorted(tables) == [1, 2], f"live tables 1 and 2: {sorted(tables)}")
        expect(tables.get(1, ("",))[0] == "accounts", "renamed table")
        expect(tables.get(2, (0, (0, 0)))[1] == (320.5, 40), "moved table")
        expect(len(tables.get(1, (0, 0, ()))[2]) == 1, "deleted column gone")
        cols2 = tables.get(2, (0, 0, ()))[2]
        expect(len(cols2) == 2 and dict(cols2[1])["foreign_key"] == {"ref_table": "users", "ref_column": "id"},
               "updated column with its foreign key")
        expect(sorted(rels) == [10], f"one live relationship: {sorted(rels)}")
    # A drag reaches the other member with numeric node id and the sender's user_id.
    a.c.send({"type": "TableDragStart", "payload": {"node_id": 2, "offset": [5, 6]}})
    a.c.send({"type": "TableDragEnd", "payload": {"node_id": 2, "position": [330, 50]}})
    for t in ("TableDragStart", "TableDragEnd"):
        m = b.until(lambda m, t=t: m["type"] == t, what=t)
        expect(m and m["payload"]["node_id"] == 2 and m["payload"]["user_id"] == a.id, f"{t} relayed: {m}")
    a.c.send({"type": "GraphOp", "payload": {"op": {"op_type": "MoveTable", "node_id": 2, "table_uuid": t2,
                                                     "position": [330, 50]}}})
    m = b.until(lambda m: m["type"] == "GraphOp", what="MoveTable after the drag")
    expect(m and m["payload"]["op"]["position"] == [330, 50], "drop applied")

    # The original's flow when the server has no tables: one member is asked, the answer goes
    # to the requester only.
    room2 = str(uuid.uuid4())
    ws_mini.http(HOST, port, "POST", "/room/" + room2, '{"name":"r2","password":null,"max_users":null}')
    c = Member(port, room2, "cat")
    c.until(lambda m: m["type"] == "AuthResult", what="cat's AuthResult")
    d = Member(port, room2, "dan")
    d.until(lambda m: m["type"] == "AuthResult", what="dan's AuthResult")
    d.c.send({"type": "RequestGraphState"})
    ask = c.until(lambda m: m["type"] == "RequestGraphState", what="RequestGraphState passed to cat")
    expect(ask and ask["payload"]["requester_id"] == d.id, f"requester_id: {ask}")
    local = {"tables": [{"node_id": 5, "table_uuid": t1, "name": "local", "position": [1, 2], "columns": []}],
             "relationships": []}
    c.c.send({"type": "GraphStateResponse", "payload": {"target_user_id": d.id, "state": local}})
    gs = d.until(lambda m: m["type"] == "GraphState", what="cat's diagram for dan")
    expect(gs and gs["payload"].get("target_user_id") == d.id and diagram(gs["payload"]["state"])[0].keys() == {5},
           f"dan got cat's diagram: {gs}")
    expect(not any(x["type"] == "GraphState" for x in c.drain_until_pong()), "the answer went to dan only")

    # A wrong password: only AuthResult{success:false}, no Error frame, the socket stays open.
    w = Member(port, protected, "wrong", password="guess")
    m = w.recv()
    expect(m and m["type"] == "AuthResult" and m["payload"]["success"] is False
           and m["payload"].get("error") == "Invalid password" and "room_info" not in m["payload"], f"wrong password: {m}")
    expect(w.drain_until_pong() == [], "nothing after the failed AuthResult")
    w.c.send({"type": "Auth", "payload": {"user_id": w.id, "username": "right", "password": "s3cret"}})
    m = w.until(lambda m: m["type"] == "AuthResult", what="second Auth")
    expect(m and m["payload"]["success"] is True, "a second Auth with the right password on the same socket")

    for who in (a, b, c, d, w):
        expect(who.errors == [], f"{who.name} was sent an Error: {who.errors}")
        who.c.close()


if __name__ == "__main__":
    sys.exit(main())
