#!/usr/bin/env python3
"""Writes the conformance corpus from the type table of docs/protocol.md (the original's serde types).

One file per message variant and direction: client/<Type>.json (what the original server
accepts) and server/<Type>.json (what the original server emits). Each file holds
  "valid":   messages exactly as the original emits or accepts them;
  "invalid": {"why", "error", "message"}: one wrong type, one missing required field or one
             bad UUID each; "error" is the path the refusal must name ("payload.op.node_id").
Nothing here comes from our codec: the shapes are written from the type table alone.
Run it again after changing a spec below; the JSON files are committed.
"""
import copy
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
from original_types import *  # noqa: F401,F403 (the type table)

U1 = "0b8e9d3c-5a1f-4e2b-8c7d-9f0a1b2c3d4e"
U2 = "6f1c2a90-1b7e-4c8e-9a57-0d4b3e8f2a11"
U3 = "A3C1F2D4-0B9E-4C8D-8E7F-1A2B3C4D5E6F"  # upper case is still a hyphenated UUID

# Example values: a full one (every optional field set) per shape.
COL_EX = {"name": "id", "data_type": "uuid", "is_primary_key": True, "is_nullable": False, "is_unique": True,
          "default_value": "gen_random_uuid()", "foreign_key": {"ref_table": "users", "ref_column": "id"}}
COL_MIN = {"name": "email", "data_type": "varchar(255)", "is_primary_key": False, "is_nullable": True,
           "is_unique": False, "default_value": None, "foreign_key": None}
REL_EX = {"name": "orders_user", "relationship_type": "1:N", "from_column": "user_id", "to_column": "id"}
OP_EX = {
    "CreateTable": {"op_type": "CreateTable", "node_id": 1, "table_uuid": U2, "name": "users", "position": [120.5, -40]},
    "DeleteTable": {"op_type": "DeleteTable", "node_id": 1, "table_uuid": U2},
    "RenameTable": {"op_type": "RenameTable", "node_id": 1, "table_uuid": U2, "new_name": "people"},
    "MoveTable": {"op_type": "MoveTable", "node_id": 4294967295, "table_uuid": U3, "position": [0, 1e3]},
    "AddColumn": {"op_type": "AddColumn", "node_id": 1, "table_uuid": U2, "column": COL_EX},
    "UpdateColumn": {"op_type": "UpdateColumn", "node_id": 1, "table_uuid": U2, "column_index": 0, "column": COL_MIN},
    "DeleteColumn": {"op_type": "DeleteColumn", "node_id": 1, "table_uuid": U2, "column_index": 3},
    "CreateRelationship": {"op_type": "CreateRelationship", "edge_id": 9, "from_node": 1, "to_node": 2,
                           "relationship": REL_EX},
    "DeleteRelationship": {"op_type": "DeleteRelationship", "edge_id": 9},
}
TABLE_EX = {"node_id": 1, "table_uuid": U2, "name": "users", "position": [10, 20], "columns": [COL_EX, COL_MIN],
            "version": 3, "last_modified_at": 1764280000000, "is_deleted": False}
RELSNAP_EX = {"edge_id": 9, "from_node": 1, "to_node": 2, "data": REL_EX, "version": 1,
              "last_modified_at": 1764280000001, "is_deleted": False}
STATE_EX = {"tables": [TABLE_EX], "relationships": [RELSNAP_EX]}
AWARE_EX = {"username": "ann", "cursor": [311.5, 90], "selected_nodes": ["1", "7"], "color": "#ff5733",
            "is_active": True}
ROOM_EX = {"id": U3, "name": "Design review", "websocket_url": "/room/" + U3, "is_protected": False,
           "user_count": 2, "max_users": 50, "owner_id": U1, "created_at": "2026-11-27T10:00:00Z",
           "users": [{"user_id": U1, "username": "ann", "color": "#ef4444"}, {"user_id": U2, "username": "bob"}]}

# Wrong values per type (the right type's values are in the examples).
WRONG = {
    "string": [(7, "a number"), (None, "null"), (["x"], "an array")],
    "opt_string": [(7, "a number"), (True, "a bool")],
    "uuid": [(42, "a number"), ("not-a-uuid", "not a UUID"), ("0b8e9d3c5a1f4e2b8c7d9f0a1b2c3d4e", "no hyphens"),
             ("0b8e9d3c-5a1f-4e2b-8c7d-9f0a1b2c3d4", "one digit short"), ("0b8e9d3c-5a1f-4e2b-8c7d-9f0a1b2c3dzz", "not hex")],
    "bool": [("true", "a string"), (1, "a number")],
    "u32": [("1", "a string"), (-1, "negative"), (4294967296, "above u32"), (1.5, "a fraction")],
    "usize": [("0", "a string"), (-1, "negative")],
    "u64": [("1", "a string"), (-1, "negative")],
    "i64": [("1", "a string")],
    "f64": [("1.5", "a string")],
    "pair": [([1], "one number"), ([1, 2, 3], "three numbers"), ("1,2", "a string"), ([1, "2"], "a string inside")],
    "opt_pair": [([1], "one number"), ({"x": 1, "y": 2}, "an object")],
    "bytes": [([256], "a byte above 255"), ([-1], "a negative byte"), ("AQID", "base64 text")],
    ERROR_CODE: [("teapot", "an unknown code"), (7, "a number")],
}


def variants(value, spec, path):
    """Yields (why, error_path, value) with one thing wrong, for every field of spec."""
    if isinstance(spec, list):  # an array of spec[0]
        inner = spec[0]
        yield f"{path} is not an array", path, {"not": "an array"}
        if value:
            for why, err, bad in variants(value[0], inner, path + "[]"):
                yield why, err, [bad] + value[1:]
        return
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            return
        yield f"{path} is not an object", path, [value]
        for key, (ftype, required) in spec.items():
            fpath = f"{path}.{key}"
            if required:
                missing = {k: v for k, v in value.items() if k != key}
                yield f"{fpath} missing", fpath, missing
            if key in value:
                for why, err, bad in variants(value[key], ftype, fpath):
                    changed = dict(value)
                    changed[key] = bad
                    yield why, err, changed
        return
    for bad, what in WRONG.get(spec, []):
        yield f"{path} is {what}", path, bad


def message(t, payload=None, unit=False):
    return {"type": t} if unit else {"type": t, "payload": payload}


def write(direction, t, valid, invalid):
    os.makedirs(os.path.join(HERE, direction), exist_ok=True)
    doc = {"type": t, "direction": "client_to_server" if direction == "client" else "server_to_client",
           "valid": valid, "invalid": [{"why": w, "error": e, "message": m} for w, e, m in invalid]}
    with open(os.path.join(HERE, direction, t + ".json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


def payload_cases(t, spec, examples, extra_valid=()):
    """Valid: the examples (+ extra); invalid: every one-field variation of the first."""
    valid = [message(t, p) for p in examples] + list(extra_valid)
    invalid = [(why, err, message(t, bad)) for why, err, bad in variants(examples[0], spec, "payload")]
    # A payload that is not an object, and a missing payload.
    invalid.append(("payload is null", "payload", {"type": t, "payload": None}))
    invalid.append(("payload missing", "payload", {"type": t}))
    return valid, invalid


def minimal(example, spec):
    """The example with every optional field left out."""
    return {k: v for k, v in example.items() if k not in spec or spec[k][1]}


def main():
    # ---- client -> server
    auth = {"user_id": ("uuid", True), "username": ("string", True), "password": ("opt_string", False)}
    c = {
        "Auth": (auth, [{"user_id": U1, "username": "ann", "password": "s3cret"}, {"user_id": U3, "username": "bob"},
                        {"user_id": U1, "username": "ann", "password": None}]),
        "SyncStep1": ({"state_vector": ("bytes", True)}, [{"state_vector": [1, 0, 255]}, {"state_vector": []}]),
        "SyncStep2": ({"update": ("bytes", True)}, [{"update": [0, 0]}]),
        "Update": ({"update": ("bytes", True)}, [{"update": list(range(40))}]),
        "Awareness": ({"state": (AWARENESS, True)}, [{"state": AWARE_EX}, {"state": {}},
                                                     {"state": {"username": None, "cursor": None, "color": None}}]),
        "CursorMove": ({"position": ("pair", True)}, [{"position": [1.5, -2]}]),
        "IdleStatus": ({"is_active": ("bool", True)}, [{"is_active": False}]),
        "UserViewport": ({"center": ("pair", True), "zoom": ("f64", True)}, [{"center": [0, 0], "zoom": 1.25}]),
        "TableDragStart": ({"node_id": ("u32", True), "offset": ("pair", True)}, [{"node_id": 1, "offset": [4, 5]}]),
        "TableDragEnd": ({"node_id": ("u32", True), "position": ("pair", True)}, [{"node_id": 1, "position": [40, 50]}]),
        "GraphStateResponse": ({"target_user_id": ("uuid", True), "state": (STATE, True)},
                               [{"target_user_id": U2, "state": STATE_EX},
                                {"target_user_id": U2, "state": {"tables": [minimal(TABLE_EX, TABLE)],
                                                                 "relationships": [minimal(RELSNAP_EX, RELSNAP)]}},
                                {"target_user_id": U2, "state": {"tables": [], "relationships": []}}]),
    }
    for t, (spec, examples) in c.items():
        extra = []
        if t == "CursorMove":  # unknown fields are ignored, whatever their type
            extra.append({"type": t, "payload": {"position": [1, 2], "pressure": "high"}, "note": 1})
        write("client", t, *payload_cases(t, spec, examples, extra))
    # GraphOp: every op variant valid; every variation of each invalid.
    valid, invalid = [], []
    for op, spec in OPS.items():
        ex = OP_EX[op]
        valid.append(message("GraphOp", {"op": ex}))
        for why, err, bad in variants({k: v for k, v in ex.items() if k != "op_type"}, spec, "payload.op"):
            if isinstance(bad, dict):
                invalid.append((f"{op}: {why}", err, message("GraphOp", {"op": {"op_type": op, **bad}})))
    # A variant ignores fields that are not its own (serde ignores unknown fields).
    valid.append(message("GraphOp", {"op": {**OP_EX["DeleteRelationship"], "node_id": "not mine"}}))
    valid.append(message("GraphOp", {"op": {"node_id": 1, "table_uuid": U2, "op_type": "DeleteTable"}}))
    invalid += [("op_type missing", "payload.op.op_type", message("GraphOp", {"op": {"node_id": 1, "table_uuid": U2}})),
                ("op_type unknown", "payload.op.op_type", message("GraphOp", {"op": {"op_type": "Explode"}})),
                ("op_type a number", "payload.op.op_type", message("GraphOp", {"op": {"op_type": 3}})),
                ("op not an object", "payload.op", message("GraphOp", {"op": [1]})),
                ("op missing", "payload.op", message("GraphOp", {})),
                ("payload is null", "payload", {"type": "GraphOp", "payload": None})]
    write("client", "GraphOp", valid, invalid)
    for t in ("Ping", "RequestGraphState"):
        write("client", t, [{"type": t}, {"type": t, "payload": None}],
              [("type is not a string", "type", {"type": 5}), ("type missing", "type", {"payload": None})])

    # ---- server -> client (relays add the sender's user_id; Update/SyncStep do not)
    uid = {"user_id": ("uuid", True)}
    s = {
        "AuthResult": ({"success": ("bool", True), "error": ("opt_string", False), "room_info": (ROOM, False)},
                       [{"success": True, "room_info": ROOM_EX}, {"success": False, "error": "Invalid password"},
                        {"success": False, "error": "Room not found"}, {"success": False, "error": "Room is full"},
                        {"success": True, "error": None, "room_info": {**ROOM_EX, "users": []}}]),
        "SyncStep1": ({"state_vector": ("bytes", True)}, [{"state_vector": [1, 2]}]),
        "SyncStep2": ({"update": ("bytes", True)}, [{"update": [3]}]),
        "Update": ({"update": ("bytes", True)}, [{"update": [1, 2, 3]}]),
        "Awareness": ({**uid, "state": (AWARENESS, True)}, [{"user_id": U1, "state": AWARE_EX}, {"user_id": U1, "state": {}}]),
        "GraphOp": ({**uid, "op": ({"node_id": ("u32", True), "table_uuid": ("uuid", True), "position": ("pair", True)}, True)},
                    [{"user_id": U1, "op": OP_EX["MoveTable"]}] + [{"user_id": U1, "op": OP_EX[o]} for o in OPS if o != "MoveTable"]),
        "CursorMove": ({**uid, "position": ("pair", True)}, [{"user_id": U1, "position": [3, 4]}]),
        "IdleStatus": ({**uid, "is_active": ("bool", True)}, [{"user_id": U1, "is_active": True}]),
        "UserViewport": ({**uid, "center": ("pair", True), "zoom": ("f64", True)}, [{"user_id": U1, "center": [1, 2], "zoom": 0.5}]),
        "TableDragStart": ({**uid, "node_id": ("u32", True), "offset": ("pair", True)}, [{"user_id": U1, "node_id": 7, "offset": [1, 1]}]),
        "TableDragEnd": ({**uid, "node_id": ("u32", True), "position": ("pair", True)}, [{"user_id": U1, "node_id": 7, "position": [2, 2]}]),
        "GraphState": ({"state": (STATE, True), "target_user_id": ("uuid", False)},
                       [{"state": STATE_EX, "target_user_id": U1}, {"state": {"tables": [], "relationships": []}}]),
        "RequestGraphState": ({"requester_id": ("uuid", True)}, [{"requester_id": U2}]),
        "UserJoined": ({**uid, "username": ("string", True)}, [{"user_id": U2, "username": "bob"}]),
        "UserLeft": (uid, [{"user_id": U2}]),
        "SnapshotRecovery": ({"snapshot_id": ("uuid", True), "snapshot_data": ("bytes", True), "element_count": ("usize", True),
                              "created_at": ("string", True)},
                             [{"snapshot_id": U3, "snapshot_data": [123, 125], "element_count": 0, "created_at": "2026-11-27T10:00:25Z"}]),
        "Error": ({"code": (ERROR_CODE, True), "message": ("string", True)},
                  [{"code": c, "message": "m"} for c in ("room_full", "invalid_password", "not_authenticated",
                                                          "room_not_found", "invalid_message", "internal_error")]),
    }
    for t, (spec, examples) in s.items():
        write("server", t, *payload_cases(t, spec, examples))
    write("server", "Pong", [{"type": "Pong"}, {"type": "Pong", "payload": None}],
          [("type is not a string", "type", {"type": ["Pong"]})])


if __name__ == "__main__":
    main()
