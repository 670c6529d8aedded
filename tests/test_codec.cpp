// Unit tests of the protocol codec: every client message parses, bad input gets a clear error.
#include <gtest/gtest.h>

#include "protocol/codec.hpp"

using namespace liveshare;

namespace {
const std::string kUser = "0b8e9d3c-5a1f-4e2b-8c7d-9f0a1b2c3d4e";
const std::string kNode = "6f1c2a90-1b7e-4c8e-9a57-0d4b3e8f2a11";

ClientMessage parse_ok(const std::string& text) {
    Parser p;
    ClientMessage m;
    std::string err;
    EXPECT_TRUE(p.parse_client(text, m, err)) << text << " -> " << err;
    return m;
}

std::string parse_err(const std::string& text) {
    Parser p;
    ClientMessage m;
    std::string err;
    EXPECT_FALSE(p.parse_client(text, m, err)) << text;
    return err;
}
}  // namespace

TEST(Codec, ParsesEveryClientMessageType) {
    EXPECT_EQ(
        parse_ok(
            R"({"type":"Auth","payload":{"user_id":"0b8e9d3c-5a1f-4e2b-8c7d-9f0a1b2c3d4e","username":"Ann","password":null}})")
            .user_id,
        kUser);
    EXPECT_EQ(parse_ok(R"({"type":"SyncStep1","payload":{"state_vector":[1,2,3]}})").bytes.size(),
              3u);
    EXPECT_EQ(parse_ok(R"({"type":"SyncStep2","payload":{"update":[0,255]}})").bytes[1], 255);
    EXPECT_EQ(parse_ok(R"({"type":"Update","payload":{"update":[7]}})").type, MsgType::Update);
    auto aw = parse_ok(
        R"({"type":"Awareness","payload":{"state":{"username":"a","cursor":[1.5,2],"selected_nodes":[],"color":null,"is_active":true}}})");
    EXPECT_TRUE(aw.has_position);
    EXPECT_EQ(aw.position.x, 1.5);
    auto op = parse_ok(
        R"({"type":"GraphOp","payload":{"op":{"op_type":"MoveTable","node_id":1,"table_uuid":"6f1c2a90-1b7e-4c8e-9a57-0d4b3e8f2a11","position":[3,4]}}})");
    EXPECT_EQ(op.op.type, OpType::MoveTable);
    EXPECT_EQ(op.op.position.y, 4);
    EXPECT_EQ(parse_ok(R"({"type":"CursorMove","payload":{"position":[10,20]}})").position.y, 20);
    EXPECT_FALSE(parse_ok(R"({"type":"IdleStatus","payload":{"is_active":false}})").is_active);
    EXPECT_EQ(parse_ok(R"({"type":"UserViewport","payload":{"center":[1,2],"zoom":1.5}})").zoom,
              1.5);
    EXPECT_EQ(
        parse_ok(R"({"type":"TableDragStart","payload":{"node_id":1,"offset":[1,2]}})").node_id,
        1u);
    EXPECT_EQ(parse_ok(R"({"type":"TableDragEnd","payload":{"node_id":1,"position":[1,2]}})").type,
              MsgType::TableDragEnd);
    EXPECT_EQ(parse_ok(R"({"type":"RequestGraphState"})").type, MsgType::RequestGraphState);
    EXPECT_EQ(
        parse_ok(
            R"({"type":"GraphStateResponse","payload":{"target_user_id":"0b8e9d3c-5a1f-4e2b-8c7d-9f0a1b2c3d4e","state":{"tables":[],"relationships":[]}}})")
            .target_user_id,
        kUser);
    EXPECT_EQ(parse_ok(R"({"type":"Ping"})").type, MsgType::Ping);
}

TEST(Codec, ParsesEveryGraphOpType) {
    const std::string col =
        R"({"name":"id","data_type":"uuid","is_primary_key":true,"is_nullable":false,"is_unique":true,"default_value":null,"foreign_key":{"ref_table":"a","ref_column":"b"}})";
    const std::vector<std::string> ops = {
        R"({"op_type":"CreateTable","node_id":1,"table_uuid":"6f1c2a90-1b7e-4c8e-9a57-0d4b3e8f2a11","name":"users","position":[0,0]})",
        R"({"op_type":"DeleteTable","node_id":1,"table_uuid":"6f1c2a90-1b7e-4c8e-9a57-0d4b3e8f2a11"})",
        R"({"op_type":"RenameTable","node_id":1,"table_uuid":"6f1c2a90-1b7e-4c8e-9a57-0d4b3e8f2a11","new_name":"people"})",
        R"({"op_type":"MoveTable","node_id":1,"table_uuid":"6f1c2a90-1b7e-4c8e-9a57-0d4b3e8f2a11","position":[1,2]})",
        R"({"op_type":"AddColumn","node_id":1,"table_uuid":"6f1c2a90-1b7e-4c8e-9a57-0d4b3e8f2a11","column":)" +
            col + "}",
        R"({"op_type":"UpdateColumn","node_id":1,"table_uuid":"6f1c2a90-1b7e-4c8e-9a57-0d4b3e8f2a11","column_index":0,"column":)" +
            col + "}",
        R"({"op_type":"DeleteColumn","node_id":1,"table_uuid":"6f1c2a90-1b7e-4c8e-9a57-0d4b3e8f2a11","column_index":0})",
        R"({"op_type":"CreateRelationship","edge_id":7,"from_node":1,"to_node":2,"relationship":{"name":"r","relationship_type":"1:N","from_column":"x","to_column":"y"}})",
        R"({"op_type":"DeleteRelationship","edge_id":7})"};
    for (const auto& op : ops) {
        auto m = parse_ok(R"({"type":"GraphOp","payload":{"op":)" + op + "}}");
        EXPECT_EQ(m.type, MsgType::GraphOp) << op;
    }
    auto rename = parse_ok(R"({"type":"GraphOp","payload":{"op":)" + ops[2] + "}}");
    EXPECT_EQ(rename.op.name, "people");
    auto add = parse_ok(R"({"type":"GraphOp","payload":{"op":)" + ops[4] + "}}");
    ASSERT_TRUE(add.op.column.foreign_key);
    EXPECT_EQ(add.op.column.foreign_key->ref_column, "b");
}

TEST(Codec, MalformedJsonIsAnError) {
    EXPECT_NE(parse_err(R"({"type":"Ping")").find("malformed"), std::string::npos);
    EXPECT_NE(parse_err("not json").find("malformed"), std::string::npos);
    parse_err("");
    parse_err(R"({"type":"CursorMove","payload":{"position":[1,2],"x":tru}})");
    EXPECT_NE(parse_err(R"({"type":"Ping"} {"type":"Ping"})").find("trailing"), std::string::npos);
    parse_err(R"([1,2,3])");
}

TEST(Codec, UnknownTypeMissingAndMistypedFieldsAreNamed) {
    EXPECT_NE(parse_err(R"({"type":"Teleport"})").find("unknown message type 'Teleport'"),
              std::string::npos);
    EXPECT_NE(parse_err(R"({"payload":{}})").find("type: missing"), std::string::npos);
    EXPECT_NE(parse_err(R"({"type":"CursorMove"})").find("payload"), std::string::npos);
    EXPECT_NE(parse_err(R"({"type":"CursorMove","payload":{"position":"here"}})")
                  .find("payload.position"),
              std::string::npos);
    EXPECT_NE(parse_err(R"({"type":"CursorMove","payload":{"position":[1]}})").find("exactly two"),
              std::string::npos);
    EXPECT_NE(parse_err(R"({"type":"IdleStatus","payload":{"is_active":"yes"}})")
                  .find("payload.is_active"),
              std::string::npos);
    EXPECT_NE(parse_err(R"({"type":"Update","payload":{"update":[1,256]}})").find("0-255"),
              std::string::npos);
    EXPECT_NE(
        parse_err(
            R"({"type":"GraphOp","payload":{"op":{"op_type":"MoveTable","node_id":1,"table_uuid":"6f1c2a90-1b7e-4c8e-9a57-0d4b3e8f2a11"}}})")
            .find("payload.op.position"),
        std::string::npos);
    EXPECT_NE(parse_err(R"({"type":"GraphOp","payload":{"op":{"op_type":"Explode"}}})")
                  .find("unknown op_type"),
              std::string::npos);
    EXPECT_NE(parse_err(R"({"type":"Pong"})").find("not a client message"), std::string::npos);
}

TEST(Codec, ClientCannotSpoofUserId) {
    EXPECT_NE(
        parse_err(R"({"type":"CursorMove","payload":{"user_id":"someone-else","position":[1,2]}})")
            .find("set by the server"),
        std::string::npos);
}

TEST(Codec, DeepNestingIsRejected) {
    std::string deep = R"({"type":"CursorMove","payload":{"position":[1,2],"extra":)";
    for (int i = 0; i < 200; ++i) deep += "[";
    for (int i = 0; i < 200; ++i) deep += "]";
    deep += "}}";
    parse_err(deep);
}

TEST(Codec, RelaySplicesUserIdAndSeqAndRoundTrips) {
    Parser p;
    std::string text =
        R"({"type":"GraphOp","payload":{"op":{"op_type":"MoveTable","node_id":1,"table_uuid":"6f1c2a90-1b7e-4c8e-9a57-0d4b3e8f2a11","position":[3,4]}}})";
    text.append(kParsePadding, '\0');
    ClientMessage m;
    std::string err;
    ASSERT_TRUE(p.parse_client(text.data(), text.size() - kParsePadding, m, err)) << err;
    std::string v1, v2;
    encode_relay(v1, m.type, kUser, m.payload, std::nullopt);
    encode_relay(v2, m.type, kUser, m.payload, 42);
    EXPECT_EQ(v1.find("\"seq\""), std::string::npos);
    ServerMessage s;
    Parser p2;
    ASSERT_TRUE(p2.parse_server(v2, s, err)) << err;
    EXPECT_EQ(s.user_id, kUser);
    EXPECT_EQ(s.seq, 42u);
    EXPECT_EQ(s.op.position.x, 3);
    // An empty payload still yields valid JSON.
    std::string empty;
    encode_relay(empty, MsgType::CursorMove, kUser, "{}", std::nullopt);
    EXPECT_EQ(empty, R"({"type":"CursorMove","payload":{"user_id":")" + kUser + R"("}})");
}

TEST(Codec, EncodersProduceParseableClientMessages) {
    Parser p;
    std::string err;
    GraphOp op;
    op.type = OpType::UpdateColumn;
    op.node_id = 1;
    op.table_uuid = kNode;
    op.column.name = "c\"0\n";
    op.column.data_type = "text";
    op.column.default_value = "x";
    op.column_index = 0;
    std::string s;
    encode_graph_op(s, op);
    ClientMessage m;
    ASSERT_TRUE(p.parse_client(s, m, err)) << err << " in " << s;
    EXPECT_EQ(m.op.column, op.column);
    s.clear();
    encode_auth(s, kUser, "Ann", std::string_view("pw"), 5);
    ASSERT_TRUE(p.parse_client(s, m, err)) << err;
    EXPECT_EQ(m.password, "pw");
    EXPECT_EQ(m.last_seq, 5u);
}

TEST(Codec, StateJsonRoundTrips) {
    SchemaState st;
    GraphOp op;
    op.type = OpType::CreateTable;
    op.node_id = 1;
    op.table_uuid = kNode;
    op.name = "users";
    op.position = {1.25, -3};
    st.apply(op);
    op.type = OpType::AddColumn;
    op.column.name = "id";
    op.column.data_type = "uuid";
    st.apply(op);
    Parser p;
    SchemaState back;
    std::string err;
    ASSERT_TRUE(parse_state(p, st.to_json(), back, err)) << err;
    EXPECT_EQ(back, st);
    EXPECT_EQ(back.to_json(), st.to_json());
}

TEST(Codec, RoomCreateBody) {
    RoomCreateRequest r;
    std::string err;
    EXPECT_TRUE(parse_room_create(R"({"name":"Design","password":"pw","max_users":5})", r, err))
        << err;
    EXPECT_EQ(r.name, "Design");
    EXPECT_EQ(r.password, "pw");
    EXPECT_EQ(r.max_users, 5u);
    RoomCreateRequest r2;
    EXPECT_FALSE(parse_room_create(R"({"max_users":"many"})", r2, err));
    EXPECT_NE(err.find("max_users"), std::string::npos);
}

// Found by fuzz_client_parser: whitespace after the payload object ended up inside the raw
// payload, and the relay splice cut a tab instead of the closing brace (invalid JSON to
// every recipient).
TEST(Codec, WhitespaceAfterThePayloadDoesNotBreakTheRelay) {
    Parser p, q;
    std::string text =
        "{\"type\":\"TableDragStart\",\"payload\":{\"node_id\":2,\"offset\":[4,5]}\t\t \n}";
    const std::size_t len = text.size();
    text.append(kParsePadding, '\0');
    ClientMessage m;
    std::string err;
    ASSERT_TRUE(p.parse_client(text.data(), len, m, err)) << err;
    EXPECT_EQ(m.payload, R"({"node_id":2,"offset":[4,5]})");
    std::string relayed;
    encode_relay(relayed, m.type, kUser, m.payload, std::nullopt);
    ServerMessage s;
    EXPECT_TRUE(q.parse_server(relayed, s, err)) << err << " in " << relayed;
    EXPECT_EQ(s.node_id, 2u);
}

// The refusal a cluster node sends while Redis is out of reach, as bytes: the original's
// fields (type, payload.code from PROTOCOL.md's set, payload.message) and our extensions
// (reason, rejected), which the original's clients ignore.
TEST(Codec, UnavailableErrorKeepsTheOriginalsCode) {
    std::string out;
    encode_error(out, ErrorKind::Unavailable, "send it again", MsgType::GraphOp);
    EXPECT_EQ(out,
              R"({"type":"Error","payload":{"code":"internal_error","message":"send it again",)"
              R"("reason":"unavailable","rejected":"GraphOp"}})");
    EXPECT_EQ(error_kind_of("unavailable"), ErrorKind::Unavailable);
}
