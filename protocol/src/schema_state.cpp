#include "protocol/schema_state.hpp"

#include <array>

#include "protocol/json_write.hpp"

namespace liveshare {

namespace {
constexpr std::array<const char*, 9> kOpNames = {
    "CreateTable",  "DeleteTable",  "RenameTable",        "MoveTable",         "AddColumn",
    "UpdateColumn", "DeleteColumn", "CreateRelationship", "DeleteRelationship"};

// Last-writer-wins clock step: an explicit clock must beat the element's; an implicit one
// always wins and bumps the version, so ordered replicas agree without wall clocks.
template <typename Elem>
bool advance_clock(Elem& e, const GraphOp& op) {
    if (op.version) {
        std::int64_t ts = op.last_modified_at.value_or(e.last_modified_at);
        if (*op.version < e.version || (*op.version == e.version && ts <= e.last_modified_at))
            return false;
        e.version = *op.version;
        e.last_modified_at = ts;
        return true;
    }
    e.version += 1;
    if (op.last_modified_at && *op.last_modified_at > e.last_modified_at)
        e.last_modified_at = *op.last_modified_at;
    return true;
}
}  // namespace

const char* to_string(OpType t) {
    return kOpNames[static_cast<std::size_t>(t)];
}

std::optional<OpType> op_type_from(std::string_view s) {
    for (std::size_t i = 0; i < kOpNames.size(); ++i)
        if (s == kOpNames[i]) return static_cast<OpType>(i);
    return std::nullopt;
}

bool SchemaState::apply(const GraphOp& op) {
    switch (op.type) {
        case OpType::CreateTable: {
            auto [it, inserted] = tables_.try_emplace(op.node_id);
            Table& t = it->second;
            if (!advance_clock(t, op)) {
                if (inserted) tables_.erase(it);  // a losing create leaves nothing behind
                return false;
            }
            t.node_id = op.node_id;
            t.table_uuid = op.table_uuid;
            t.name = op.name;
            t.position = op.position;
            t.is_deleted = false;
            return true;
        }
        case OpType::CreateRelationship: {
            auto [it, inserted] = relationships_.try_emplace(op.edge_id);
            Relationship& r = it->second;
            if (!advance_clock(r, op)) {
                if (inserted) relationships_.erase(it);
                return false;
            }
            r.edge_id = op.edge_id;
            r.from_node = op.from_node;
            r.to_node = op.to_node;
            r.data = op.relationship;
            r.is_deleted = false;
            return true;
        }
        case OpType::DeleteRelationship: {
            auto it = relationships_.find(op.edge_id);
            if (it == relationships_.end() || !advance_clock(it->second, op)) return false;
            it->second.is_deleted = true;
            return true;
        }
        default:
            break;
    }
    // The remaining ops edit an existing, live table.
    auto it = tables_.find(op.node_id);
    if (it == tables_.end() || it->second.is_deleted) return false;
    Table& t = it->second;
    if ((op.type == OpType::UpdateColumn || op.type == OpType::DeleteColumn) &&
        op.column_index >= t.columns.size())
        return false;
    if (!advance_clock(t, op)) return false;
    switch (op.type) {
        case OpType::DeleteTable:
            t.is_deleted = true;
            break;
        case OpType::RenameTable:
            t.name = op.name;
            break;
        case OpType::MoveTable:
            t.position = op.position;
            break;
        case OpType::AddColumn:
            t.columns.push_back(op.column);
            break;
        case OpType::UpdateColumn:
            t.columns[op.column_index] = op.column;
            break;
        case OpType::DeleteColumn:
            t.columns.erase(t.columns.begin() + static_cast<std::ptrdiff_t>(op.column_index));
            break;
        default:
            break;
    }
    return true;
}

void append_column(std::string& out, const Column& c) {
    out += "{\"name\":";
    json::append_string(out, c.name);
    out += ",\"data_type\":";
    json::append_string(out, c.data_type);
    out += ",\"is_primary_key\":";
    json::append_bool(out, c.is_primary_key);
    out += ",\"is_nullable\":";
    json::append_bool(out, c.is_nullable);
    out += ",\"is_unique\":";
    json::append_bool(out, c.is_unique);
    out += ",\"default_value\":";
    if (c.default_value)
        json::append_string(out, *c.default_value);
    else
        out += "null";
    out += ",\"foreign_key\":";
    if (c.foreign_key) {
        out += "{\"ref_table\":";
        json::append_string(out, c.foreign_key->ref_table);
        out += ",\"ref_column\":";
        json::append_string(out, c.foreign_key->ref_column);
        out += '}';
    } else {
        out += "null";
    }
    out += '}';
}

void append_relationship_data(std::string& out, const RelationshipData& r) {
    out += "{\"name\":";
    json::append_string(out, r.name);
    out += ",\"relationship_type\":";
    json::append_string(out, r.relationship_type);
    out += ",\"from_column\":";
    json::append_string(out, r.from_column);
    out += ",\"to_column\":";
    json::append_string(out, r.to_column);
    out += '}';
}

bool SchemaState::has_tables() const {
    for (const auto& [id, t] : tables_)
        if (!t.is_deleted) return true;
    return false;
}

void SchemaState::to_json(std::string& out) const {
    out += "{\"tables\":[";
    bool first = true;
    for (const auto& [id, t] : tables_) {
        if (!first) out += ',';
        first = false;
        out += "{\"node_id\":";
        json::append_int(out, t.node_id);
        out += ",\"table_uuid\":";
        json::append_string(out, t.table_uuid);
        out += ",\"name\":";
        json::append_string(out, t.name);
        out += ",\"position\":";
        json::append_pair(out, t.position.x, t.position.y);
        out += ",\"columns\":[";
        for (std::size_t i = 0; i < t.columns.size(); ++i) {
            if (i) out += ',';
            append_column(out, t.columns[i]);
        }
        out += "],\"version\":";
        json::append_int(out, t.version);
        out += ",\"last_modified_at\":";
        json::append_int(out, t.last_modified_at);
        out += ",\"is_deleted\":";
        json::append_bool(out, t.is_deleted);
        out += '}';
    }
    out += "],\"relationships\":[";
    first = true;
    for (const auto& [id, r] : relationships_) {
        if (!first) out += ',';
        first = false;
        out += "{\"edge_id\":";
        json::append_int(out, r.edge_id);
        out += ",\"from_node\":";
        json::append_int(out, r.from_node);
        out += ",\"to_node\":";
        json::append_int(out, r.to_node);
        out += ",\"data\":";
        append_relationship_data(out, r.data);
        out += ",\"version\":";
        json::append_int(out, r.version);
        out += ",\"last_modified_at\":";
        json::append_int(out, r.last_modified_at);
        out += ",\"is_deleted\":";
        json::append_bool(out, r.is_deleted);
        out += '}';
    }
    out += "]}";
}

}  // namespace liveshare
