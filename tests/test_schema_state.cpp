// Last-writer-wins schema state: the rules of docs/protocol.md, and convergence.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "protocol/schema_state.hpp"

using namespace liveshare;

namespace {
GraphOp create(NodeId id) {
    GraphOp op;
    op.type = OpType::CreateTable;
    op.node_id = id;
    op.table_uuid = "6f1c2a90-1b7e-4c8e-9a57-0d4b3e8f2a1" + std::to_string(id % 10);
    op.name = "t_" + std::to_string(id);
    return op;
}
GraphOp move(NodeId id, double x, std::optional<std::uint64_t> v = {},
             std::optional<std::int64_t> ts = {}) {
    GraphOp op;
    op.type = OpType::MoveTable;
    op.node_id = id;
    op.table_uuid = "6f1c2a90-1b7e-4c8e-9a57-0d4b3e8f2a1" + std::to_string(id % 10);
    op.position = {x, 0};
    op.version = v;
    op.last_modified_at = ts;
    return op;
}
}  // namespace

TEST(SchemaState, ImplicitVersionsBumpAndApplyInOrder) {
    SchemaState s;
    EXPECT_TRUE(s.apply(create(1u)));
    EXPECT_TRUE(s.apply(move(1u, 5)));
    EXPECT_EQ(s.tables().at(1u).version, 2u);
    EXPECT_EQ(s.tables().at(1u).position.x, 5);
}

TEST(SchemaState, HigherVersionWinsThenLaterTimestamp) {
    SchemaState s;
    s.apply(create(1u));
    EXPECT_TRUE(s.apply(move(1u, 1, 10, 100)));
    EXPECT_FALSE(s.apply(move(1u, 2, 9, 999)));   // lower version loses
    EXPECT_FALSE(s.apply(move(1u, 3, 10, 100)));  // equal clock loses
    EXPECT_TRUE(s.apply(move(1u, 4, 10, 101)));   // tie on version: later timestamp wins
    EXPECT_EQ(s.tables().at(1u).position.x, 4);
}

TEST(SchemaState, DeletionsStayAsMarkersAndBlockEdits) {
    SchemaState s;
    s.apply(create(1u));
    GraphOp del = create(1u);
    del.type = OpType::DeleteTable;
    EXPECT_TRUE(s.apply(del));
    EXPECT_TRUE(s.tables().at(1u).is_deleted);
    EXPECT_FALSE(s.apply(move(1u, 9)));
    EXPECT_EQ(s.element_count(), 1u);
    EXPECT_TRUE(s.apply(create(1u)));  // recreate resurrects with a higher version
    EXPECT_FALSE(s.tables().at(1u).is_deleted);
}

TEST(SchemaState, ColumnOpsCheckTheIndex) {
    SchemaState s;
    s.apply(create(1u));
    GraphOp add = create(1u);
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
    EXPECT_EQ(s.tables().at(1u).columns[0].name, "pk");
    GraphOp dc = add;
    dc.type = OpType::DeleteColumn;
    dc.column_index = 0;
    EXPECT_TRUE(s.apply(dc));
    EXPECT_TRUE(s.tables().at(1u).columns.empty());
}

TEST(SchemaState, RelationshipsUpsertAndDelete) {
    SchemaState s;
    GraphOp r;
    r.type = OpType::CreateRelationship;
    r.edge_id = 7u;
    r.from_node = 1u;
    r.to_node = 2u;
    r.relationship.relationship_type = "1:N";
    EXPECT_TRUE(s.apply(r));
    r.type = OpType::DeleteRelationship;
    EXPECT_TRUE(s.apply(r));
    EXPECT_TRUE(s.relationships().at(7u).is_deleted);
    r.edge_id = 99u;
    EXPECT_FALSE(s.apply(r));
}

TEST(SchemaState, ExplicitClocksConvergeInAnyOrder) {
    std::vector<GraphOp> ops = {create(1u), create(2u)};
    ops[0].version = 1;
    ops[1].version = 1;
    for (int i = 0; i < 40; ++i)
        ops.push_back(move(i % 2 ? 1u : 2u, i, 2 + i / 3, 1000 + i * 7 % 13));
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
    GraphOp op = create(1u);
    op.version = 0;
    op.last_modified_at = 0;
    EXPECT_FALSE(s.apply(op));
    EXPECT_EQ(s.element_count(), 0u);
    GraphOp rel;
    rel.type = OpType::CreateRelationship;
    rel.edge_id = 7u;
    rel.version = 0;
    EXPECT_FALSE(s.apply(rel));
    EXPECT_EQ(s.element_count(), 0u);
}
