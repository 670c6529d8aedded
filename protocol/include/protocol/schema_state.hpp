// The schema (tables, columns, relationships) a room edits, with last-writer-wins graph ops.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace liveshare {

// Diagram node and edge ids: unsigned 32-bit JSON numbers on the wire (docs/protocol.md's u32).
using NodeId = std::uint32_t;

struct Vec2 {
    double x = 0, y = 0;
    bool operator==(const Vec2&) const = default;
};

struct ForeignKey {
    std::string ref_table, ref_column;
    bool operator==(const ForeignKey&) const = default;
};

struct Column {
    std::string name, data_type;
    bool is_primary_key = false, is_nullable = true, is_unique = false;
    std::optional<std::string> default_value;
    std::optional<ForeignKey> foreign_key;
    bool operator==(const Column&) const = default;
};

struct RelationshipData {
    std::string name, relationship_type, from_column, to_column;
    bool operator==(const RelationshipData&) const = default;
};

struct Table {
    NodeId node_id = 0;
    std::string table_uuid, name;
    Vec2 position;
    std::vector<Column> columns;
    std::uint64_t version = 0;
    std::int64_t last_modified_at = 0;
    bool is_deleted = false;
    bool operator==(const Table&) const = default;
};

struct Relationship {
    NodeId edge_id = 0, from_node = 0, to_node = 0;
    RelationshipData data;
    std::uint64_t version = 0;
    std::int64_t last_modified_at = 0;
    bool is_deleted = false;
    bool operator==(const Relationship&) const = default;
};

enum class OpType {
    CreateTable,
    DeleteTable,
    RenameTable,
    MoveTable,
    AddColumn,
    UpdateColumn,
    DeleteColumn,
    CreateRelationship,
    DeleteRelationship
};
const char* to_string(OpType t);
std::optional<OpType> op_type_from(std::string_view s);

struct GraphOp {
    OpType type = OpType::MoveTable;
    NodeId node_id = 0;
    std::string table_uuid, name;    // name: CreateTable name or RenameTable new_name
    Vec2 position;                   // CreateTable, MoveTable
    Column column;                   // AddColumn, UpdateColumn
    std::uint64_t column_index = 0;  // UpdateColumn, DeleteColumn
    NodeId edge_id = 0, from_node = 0, to_node = 0;  // relationships
    RelationshipData relationship;
    // Optional explicit clock; without it an op bumps the element's version by one.
    std::optional<std::uint64_t> version;
    std::optional<std::int64_t> last_modified_at;
};

// Deterministic: two replicas that apply the same ops in the same order hold equal states,
// and ops with explicit clocks converge in any order (last-writer-wins, deletions are markers).
class SchemaState {
  public:
    // Returns true when the op changed the state (false: stale clock or missing target).
    bool apply(const GraphOp& op);
    void to_json(std::string& out) const;  // {"tables":[...],"relationships":[...]}
    std::string to_json() const {
        std::string s;
        to_json(s);
        return s;
    }
    std::size_t element_count() const { return tables_.size() + relationships_.size(); }
    const std::map<NodeId, Table>& tables() const { return tables_; }
    const std::map<NodeId, Relationship>& relationships() const { return relationships_; }
    std::map<NodeId, Table>& tables() { return tables_; }
    std::map<NodeId, Relationship>& relationships() { return relationships_; }
    // Live (not deleted) tables: the original answers RequestGraphState only when there are some.
    bool has_tables() const;
    bool operator==(const SchemaState&) const = default;

  private:
    std::map<NodeId, Table> tables_;
    std::map<NodeId, Relationship> relationships_;
};

void append_column(std::string& out, const Column& c);
void append_relationship_data(std::string& out, const RelationshipData& r);

}  // namespace liveshare
