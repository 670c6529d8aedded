"""docs/protocol.md's field types (the original's serde definitions) as data, and a checker.

Written from the type table alone, never from our codec, so that the conformance corpus
(generate.py), the original-like client (tests/original_client_e2e.py) and the relay written
from the type table (tests/original_relay.py) check the wire, not our own code.
"""
import re

# Field types: name -> (type, required). Types are strings or nested dicts / list specs.
COLUMN = {"name": ("string", True), "data_type": ("string", True), "is_primary_key": ("bool", True),
          "is_nullable": ("bool", True), "is_unique": ("bool", True), "default_value": ("opt_string", False),
          "foreign_key": ({"ref_table": ("string", True), "ref_column": ("string", True)}, False)}
REL = {"name": ("string", True), "relationship_type": ("string", True), "from_column": ("string", True),
       "to_column": ("string", True)}
TABLE = {"node_id": ("u32", True), "table_uuid": ("uuid", True), "name": ("string", True),
         "position": ("pair", True), "columns": ([COLUMN], True), "version": ("u64", False),
         "last_modified_at": ("i64", False), "is_deleted": ("bool", False)}
RELSNAP = {"edge_id": ("u32", True), "from_node": ("u32", True), "to_node": ("u32", True),
           "data": (REL, True), "version": ("u64", False), "last_modified_at": ("i64", False),
           "is_deleted": ("bool", False)}
STATE = {"tables": ([TABLE], True), "relationships": ([RELSNAP], True)}
AWARENESS = {"username": ("opt_string", False), "cursor": ("opt_pair", False),
             "selected_nodes": (["string"], False), "color": ("opt_string", False), "is_active": ("bool", False)}
T = {"node_id": ("u32", True), "table_uuid": ("uuid", True)}
OPS = {
    "CreateTable": {**T, "name": ("string", True), "position": ("pair", True)},
    "DeleteTable": dict(T),
    "RenameTable": {**T, "new_name": ("string", True)},
    "MoveTable": {**T, "position": ("pair", True)},
    "AddColumn": {**T, "column": (COLUMN, True)},
    "UpdateColumn": {**T, "column_index": ("usize", True), "column": (COLUMN, True)},
    "DeleteColumn": {**T, "column_index": ("usize", True)},
    "CreateRelationship": {"edge_id": ("u32", True), "from_node": ("u32", True), "to_node": ("u32", True),
                           "relationship": (REL, True)},
    "DeleteRelationship": {"edge_id": ("u32", True)},
}
USERINFO = {"user_id": ("uuid", True), "username": ("string", True), "color": ("opt_string", False)}
ROOM = {"id": ("uuid", True), "name": ("string", True), "websocket_url": ("string", True),
        "is_protected": ("bool", True), "user_count": ("usize", True), "max_users": ("usize", True),
        "owner_id": ("uuid", True), "created_at": ("string", True), "users": ([USERINFO], True)}
ERROR_CODE = "error_code"


UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
ERROR_CODES = {"room_full", "invalid_password", "not_authenticated", "room_not_found", "invalid_message",
               "internal_error"}

# The payload of each message type, by direction (relays add the sender's user_id; Update and
# SyncStep carry none). Unit variants map to None.
UID = {"user_id": ("uuid", True)}
CLIENT = {
    "Auth": {"user_id": ("uuid", True), "username": ("string", True), "password": ("opt_string", False)},
    "SyncStep1": {"state_vector": ("bytes", True)},
    "SyncStep2": {"update": ("bytes", True)},
    "Update": {"update": ("bytes", True)},
    "Awareness": {"state": (AWARENESS, True)},
    "GraphOp": {"op": ("graph_op", True)},
    "CursorMove": {"position": ("pair", True)},
    "IdleStatus": {"is_active": ("bool", True)},
    "UserViewport": {"center": ("pair", True), "zoom": ("f64", True)},
    "TableDragStart": {"node_id": ("u32", True), "offset": ("pair", True)},
    "TableDragEnd": {"node_id": ("u32", True), "position": ("pair", True)},
    "RequestGraphState": None,
    "GraphStateResponse": {"target_user_id": ("uuid", True), "state": (STATE, True)},
    "Ping": None,
}
SERVER = {
    "AuthResult": {"success": ("bool", True), "error": ("opt_string", False), "room_info": (ROOM, False)},
    "SyncStep1": CLIENT["SyncStep1"],
    "SyncStep2": CLIENT["SyncStep2"],
    "Update": CLIENT["Update"],
    "Awareness": {**UID, **CLIENT["Awareness"]},
    "GraphOp": {**UID, **CLIENT["GraphOp"]},
    "CursorMove": {**UID, **CLIENT["CursorMove"]},
    "IdleStatus": {**UID, **CLIENT["IdleStatus"]},
    "UserViewport": {**UID, **CLIENT["UserViewport"]},
    "TableDragStart": {**UID, **CLIENT["TableDragStart"]},
    "TableDragEnd": {**UID, **CLIENT["TableDragEnd"]},
    "GraphState": {"state": (STATE, True), "target_user_id": ("uuid", False)},
    "RequestGraphState": {"requester_id": ("uuid", True)},
    "UserJoined": {**UID, "username": ("string", True)},
    "UserLeft": UID,
    "SnapshotRecovery": {"snapshot_id": ("uuid", True), "snapshot_data": ("bytes", True),
                         "element_count": ("usize", True), "created_at": ("string", True)},
    "Error": {"code": (ERROR_CODE, True), "message": ("string", True)},
    "Pong": None,
}


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v):
    return (isinstance(v, (int, float))) and not isinstance(v, bool)


def check(value, spec, path="payload"):
    """Raises ValueError("<path>: <what>") where value does not have the type spec."""
    def bad(what):
        raise ValueError(f"{path}: {what}")
    if isinstance(spec, list):
        if not isinstance(value, list):
            bad("expected an array")
        for v in value:
            check(v, spec[0], path + "[]")
        return
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            bad("expected an object")
        for key, (ftype, required) in spec.items():
            if key not in value:
                if required:
                    raise ValueError(f"{path}.{key}: missing")
                continue
            v = value[key]
            # Option<T> takes null; a #[serde(default)] field (u64, bool, Vec) does not.
            is_option = (isinstance(ftype, str) and ftype.startswith("opt_")) or (
                not required and (isinstance(ftype, dict) or ftype == "uuid"))
            if v is None and is_option:
                continue
            check(v, ftype, f"{path}.{key}")
        return
    if spec == "graph_op":
        if not isinstance(value, dict) or not isinstance(value.get("op_type"), str):
            bad("expected an op object with an op_type string")
        if value["op_type"] not in OPS:
            bad(f"unknown op_type {value['op_type']}")
        return check(value, OPS[value["op_type"]], path)
    ok = {
        "string": lambda v: isinstance(v, str),
        "opt_string": lambda v: v is None or isinstance(v, str),
        "uuid": lambda v: isinstance(v, str) and bool(UUID_RE.match(v)),
        "bool": lambda v: isinstance(v, bool),
        "u32": lambda v: _is_int(v) and 0 <= v <= 0xFFFFFFFF,
        "usize": lambda v: _is_int(v) and v >= 0,
        "u64": lambda v: _is_int(v) and 0 <= v < 2**64,
        "i64": lambda v: _is_int(v) and -2**63 <= v < 2**63,
        "f64": _is_num,
        "pair": lambda v: isinstance(v, list) and len(v) == 2 and all(_is_num(x) for x in v),
        "opt_pair": lambda v: v is None or (isinstance(v, list) and len(v) == 2 and all(_is_num(x) for x in v)),
        "bytes": lambda v: isinstance(v, list) and all(_is_int(x) and 0 <= x <= 255 for x in v),
        ERROR_CODE: lambda v: v in ERROR_CODES,
    }[spec]
    if not ok(value):
        bad(f"expected {spec}, got {value!r}")


def check_message(msg, from_server):
    """Raises ValueError when msg would fail the original's types in that direction."""
    table = SERVER if from_server else CLIENT
    if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
        raise ValueError("type: expected a string")
    if msg["type"] not in table:
        raise ValueError(f"type: unknown {msg['type']}")
    spec = table[msg["type"]]
    if spec is None:
        if msg.get("payload") is not None:
            raise ValueError("payload: a unit variant has none")
        return
    if "payload" not in msg:
        raise ValueError("payload: missing")
    check(msg["payload"], spec)
