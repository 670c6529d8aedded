// The delivery scan against hand-written wire text (the relayed forms of PROTOCOL.md, as our
// server writes them: type, seq, then the payload with user_id first) and against the full
// parse of the same text: wherever the scan answers, it answers what the parse reads.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "protocol/codec.hpp"
#include "traffic/load_config.hpp"
#include "traffic/workload.hpp"
#include "users/delivery_scan.hpp"

using harness::DeliveryScan;
using harness::scan_delivery;
using harness::split_objects;
using liveshare::MsgType;

namespace {
const std::string kUser = "6f1c2a4e-8b3d-4c5e-9f70-1a2b3c4d5e6f";
const std::string kTable = "33333333-3333-4333-8333-333333333333";

std::string create_table(std::uint64_t seq, std::uint64_t mseq, std::int64_t t) {
    return R"({"type":"GraphOp","seq":)" + std::to_string(seq) + R"(,"payload":{"user_id":")" +
           kUser + R"(","op":{"op_type":"CreateTable","node_id":3,"table_uuid":")" + kTable +
           R"(","name":"t","position":[)" + std::to_string(mseq) + "," + std::to_string(t) + "]}}}";
}
std::string add_column(std::uint64_t mseq, std::int64_t t) {
    return R"({"type":"GraphOp","seq":9,"payload":{"user_id":")" + kUser +
           R"(","op":{"op_type":"AddColumn","node_id":3,"table_uuid":")" + kTable +
           R"(","column":{"name":"c0","data_type":"text","is_primary_key":false,"is_nullable":true,"is_unique":false,"default_value":"lsb:)" +
           std::to_string(mseq) + ":" + std::to_string(t) + R"(:xxxx","foreign_key":null}}}})";
}

std::string scratch;  // the parsed sender, which the scan result points into

// What the full parse reads for the scanned fields.
DeliveryScan parsed(const std::string& text) {
    liveshare::Parser p;
    liveshare::ServerMessage m;
    std::string err;
    EXPECT_TRUE(p.parse_server(text, m, err)) << err << " in " << text;
    DeliveryScan d;
    d.type = m.type;
    d.seq = m.seq;
    d.marker = harness::extract_marker(m);
    scratch = m.user_id;
    d.user_id = scratch;
    return d;
}

void expect_agree(const std::string& text) {
    DeliveryScan s;
    ASSERT_TRUE(scan_delivery(text, s)) << text;
    const DeliveryScan p = parsed(text);
    EXPECT_EQ(s.type, p.type) << text;
    EXPECT_EQ(s.seq, p.seq) << text;
    EXPECT_EQ(s.user_id, p.user_id) << text;
    ASSERT_EQ(s.marker.has_value(), p.marker.has_value()) << text;
    if (s.marker) {
        EXPECT_EQ(s.marker->seq, p.marker->seq) << text;
        EXPECT_EQ(s.marker->t_us, p.marker->t_us) << text;
    }
}
}  // namespace

TEST(DeliveryScan, ReadsTheMarkersOfRelayedOps) {
    DeliveryScan s;
    const std::string table = create_table(41, 7, 1234567), column = add_column(12, 99);
    ASSERT_TRUE(scan_delivery(table, s));  // s.user_id points into the text
    EXPECT_EQ(s.type, MsgType::GraphOp);
    EXPECT_EQ(s.seq, 41u);
    EXPECT_EQ(s.user_id, kUser);
    ASSERT_TRUE(s.marker);
    EXPECT_EQ(s.marker->seq, 7u);
    EXPECT_EQ(s.marker->t_us, 1234567);
    ASSERT_TRUE(scan_delivery(column, s));
    ASSERT_TRUE(s.marker);
    EXPECT_EQ(s.marker->seq, 12u);
    EXPECT_EQ(s.marker->t_us, 99);
    // Awareness: the marker is the state's cursor, as the editing workload sends it.
    const std::string awareness = R"({"type":"Awareness","payload":{"user_id":")" + kUser +
                                  R"(","state":{"username":"user-16","cursor":[3,34856],)"
                                  R"("selected_nodes":[],"color":"#4f46e5","is_active":true}}})";
    ASSERT_TRUE(scan_delivery(awareness, s));
    EXPECT_EQ(s.type, MsgType::Awareness);
    ASSERT_TRUE(s.marker);
    EXPECT_EQ(s.marker->seq, 3u);
    EXPECT_EQ(s.marker->t_us, 34856);
}

TEST(DeliveryScan, AgreesWithTheFullParseWhereverItAnswers) {
    const std::vector<std::string> texts = {
        create_table(1, 0, 0),
        create_table(18446744073709551615ull, 5, 3),
        add_column(3, 4),
        // No seq (the original protocol), a volatile message with and without a position,
        // an op without a marker, a column op whose default is not a marker.
        R"({"type":"GraphOp","payload":{"user_id":")" + kUser +
            R"(","op":{"op_type":"MoveTable","node_id":3,"table_uuid":")" + kTable +
            R"(","position":[8,9]}}})",
        R"({"type":"CursorMove","payload":{"user_id":")" + kUser + R"(","position":[5,77]}})",
        R"({"type":"IdleStatus","payload":{"user_id":")" + kUser + R"(","is_active":true}})",
        // Awareness (PROTOCOL.md: state {username, cursor?[x,y], selected_nodes?, color?,
        // is_active}): the cursor is the marker; null or absent, there is none.
        R"({"type":"Awareness","payload":{"user_id":")" + kUser +
            R"(","state":{"username":"u","cursor":[1,34856],"selected_nodes":[],"color":"#4f46e5","is_active":true}}})",
        R"({"type":"Awareness","payload":{"user_id":")" + kUser +
            R"(","state":{"username":"u","cursor":null,"selected_nodes":[],"is_active":true}}})",
        R"({"type":"Awareness","payload":{"user_id":")" + kUser +
            R"(","state":{"username":"u","is_active":false}}})",
        // Drags: TableDragStart {node_id, offset [x,y]}, TableDragEnd {node_id, position [x,y]}.
        R"({"type":"TableDragStart","payload":{"user_id":")" + kUser +
            R"(","node_id":41,"offset":[54,1079902]}})",
        R"({"type":"TableDragEnd","payload":{"user_id":")" + kUser +
            R"(","node_id":41,"position":[55,1079999]}})",
        R"({"type":"GraphOp","seq":4,"payload":{"user_id":")" + kUser +
            R"(","op":{"op_type":"DeleteTable","node_id":3,"table_uuid":")" + kTable + R"("}}})",
        R"({"type":"GraphOp","seq":4,"payload":{"user_id":")" + kUser +
            R"(","op":{"op_type":"AddColumn","node_id":3,"table_uuid":")" + kTable +
            R"(","column":{"name":"c","data_type":"int","is_primary_key":false,"is_nullable":false,"is_unique":false,"default_value":"0","foreign_key":null}}}})",
    };
    for (const auto& t : texts) expect_agree(t);
}

TEST(DeliveryScan, LeavesEveryOtherFormToTheFullParse) {
    DeliveryScan s;
    // Keys in another order, whitespace, an escaped sender, a fractional or negative marker,
    // a type it does not measure, a truncated message.
    EXPECT_FALSE(scan_delivery(R"({"seq":1,"type":"GraphOp","payload":{"user_id":"u"}})", s));
    EXPECT_FALSE(scan_delivery(R"({ "type":"GraphOp","payload":{"user_id":"u"}})", s));
    EXPECT_FALSE(
        scan_delivery(R"({"type":"CursorMove","payload":{"user_id":"a\"b","position":[1,2]}})", s));
    EXPECT_FALSE(
        scan_delivery(R"({"type":"CursorMove","payload":{"user_id":"u","position":[1.5,2]}})", s));
    EXPECT_FALSE(
        scan_delivery(R"({"type":"CursorMove","payload":{"user_id":"u","position":[1,-2]}})", s));
    EXPECT_FALSE(
        scan_delivery(R"({"type":"UserJoined","payload":{"user_id":"u","username":"x"}})", s));
    EXPECT_FALSE(
        scan_delivery(R"({"type":"GraphOp","seq":1,"payload":{"user_id":"u","op":{"op_ty)", s));
    EXPECT_FALSE(scan_delivery("", s));
}

TEST(DeliveryScan, SplitsBatchesByBracketsAndQuotes) {
    std::vector<std::string_view> parts;
    const std::string a = R"({"type":"X","payload":{"s":"a}]\"[{","v":[1,[2]]}})";
    const std::string b = R"({"type":"Y","payload":{}})";
    const std::string batch = "[" + a + "," + b + "]";  // the parts point into it
    ASSERT_TRUE(split_objects(batch, parts));
    ASSERT_EQ(parts.size(), 2u);
    EXPECT_EQ(parts[0], a);
    EXPECT_EQ(parts[1], b);
    ASSERT_TRUE(split_objects(" [ " + a + " ,\n" + b + " ] ", parts));
    EXPECT_EQ(parts.size(), 2u);
    ASSERT_TRUE(split_objects("[]", parts));
    EXPECT_TRUE(parts.empty());
    for (const std::string& bad : std::vector<std::string>{
             "[" + a, "[" + a + "," + "]", "[" + a + "]x", "{}", "[1]", "[" + a + b + "]"})
        EXPECT_FALSE(split_objects(bad, parts)) << bad;
}
