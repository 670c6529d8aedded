// Last-writer-wins schema state: the rules of PROTOCOL.md, and convergence.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "protocol/schema_state.hpp"

using namespace liveshare;

namespace {
GraphOp create(const std::string& id) {
    GraphOp op;
    op.type = OpType::CreateTable;
    op.node_id = op.table_uuid = id;
    op.name = "t_" + id;
    return op;
}
GraphOp move(const std::string& id, double x, std::optional<std::uint64_t> v = {}, std::optional<std::int64_t> ts = {}) {
    GraphOp op;
    op.type = OpType::MoveTable;
    op.node_id = op.table_uuid = id;
    op.position = {x, 0};
    op.version = v;
    op.last_modified_at = ts;
    return op;
}
}  // namespace

TEST(SchemaState, ImplicitVersionsBumpAndApplyInOrder) {
    SchemaState s;
    EXPECT_TRUE(s.apply(create("a")));
    EXPECT_TRUE(s.apply(move("a", 5)));
    EXPECT_EQ(s.tables().at("a").version, 2u);
    EXPECT_EQ(s.tables().at("a").position.x, 5);
}

TEST(SchemaState, HigherVersionWinsThenLaterTimestamp) {
    SchemaState s;
    s.apply(create("a"));
    EXPECT_TRUE(s.apply(move("a", 1, 10, 100)));
    EXPECT_FALSE(s.apply(move("a", 2, 9, 999)));   // lower version loses
    EXPECT_FALSE(s.apply(move("a", 3, 10, 100)));  // equal clock loses
    EXPECT_TRUE(s.apply(move("a", 4, 10, 101)));   // tie on version: later timestamp wins
    EXPECT_EQ(s.tables().at("a").position.x, 4);
}

TEST(SchemaState, DeletionsStayAsMarkersAndBlockEdits) {
    SchemaState s;
    s.apply(create("a"));
    GraphOp del = create("a");
    del.type = OpType::DeleteTable;
    EXPECT_TRUE(s.apply(del));
    EXPECT_TRUE(s.tables().at("a").is_deleted);
    EXPECT_FALSE(s.apply(move("a", 9)));
    EXPECT_EQ(s.element_count(), 1u);
    EXPECT_TRUE(s.apply(create("a")));  // recreate resurrects with a higher version
    EXPECT_FALSE(s.tables().at("a").is_deleted);
}

TEST(SchemaState, ColumnOpsCheckTheIndex) {
    SchemaState s;
    s.apply(create("a"));
    GraphOp add = create("a");
    add.type = OpType::AddColumn;
    add.column.name = "id";
    EXPECT_TRUE(s.apply(add));
    GraphOp upd = add;
    upd.type = OpType::UpdateColumn;
    upd.column_index = 3;
    EXPECT_FALSE(s.apply(upd));
    upd.column_index = 0;
    upd.column.name = "pk";
    EXPECT_TRUE(s.apply(upd));
    EXPECT_EQ(s.tables().at("a").columns[0].name, "pk");
    GraphOp dc = add;
    dc.type = OpType::DeleteColumn;
    dc.column_index = 0;
    EXPECT_TRUE(s.apply(dc));
    EXPECT_TRUE(s.tables().at("a").columns.empty());
}

TEST(SchemaState, RelationshipsUpsertAndDelete) {
    SchemaState s;
    GraphOp r;
    r.type = OpType::CreateRelationship;
    r.edge_id = "e";
    r.from_node = "a";
    r.to_node = "b";
    r.relationship.relationship_type = "1:N";
    EXPECT_TRUE(s.apply(r));
    r.type = OpType::DeleteRelationship;
    EXPECT_TRUE(s.apply(r));
    EXPECT_TRUE(s.relationships().at("e").is_deleted);
    r.edge_id = "missing";
    EXPECT_FALSE(s.apply(r));
}

TEST(SchemaState, ExplicitClocksConvergeInAnyOrder) {
    std::vector<GraphOp> ops = {create("a"), create("b")};
    ops[0].version = 1;
    ops[1].version = 1;
    for (int i = 0; i < 40; ++i) ops.push_back(move(i % 2 ? "a" : "b", i, 2 + i / 3, 1000 + i * 7 % 13));
    SchemaState reference;
    for (auto& op : ops) reference.apply(op);
    std::mt19937 rng(7);
    for (int trial = 0; trial < 20; ++trial) {
        auto shuffled = ops;
        std::shuffle(shuffled.begin() + 2, shuffled.end(), rng);  // creates first
        SchemaState s;
        for (auto& op : shuffled) s.apply(op);
        EXPECT_EQ(s.to_json(), reference.to_json()) << "trial " << trial;
    }
}

// Found by fuzz_graph_ops: a create whose explicit clock loses must not leave an empty
// element behind (it serialized as a table without node_id).
TEST(SchemaState, LosingCreateLeavesNothing) {
    SchemaState s;
    GraphOp op = create("a");
    op.version = 0;
    op.last_modified_at = 0;
    EXPECT_FALSE(s.apply(op));
    EXPECT_EQ(s.element_count(), 0u);
    GraphOp rel;
    rel.type = OpType::CreateRelationship;
    rel.edge_id = "e";
    rel.version = 0;
    EXPECT_FALSE(s.apply(rel));
    EXPECT_EQ(s.element_count(), 0u);
}
