// The Parser: a message's envelope (type, payload) in either direction, a state document and
// the REST body of a room creation; the payload's fields are read in codec_parse.cpp.
#include <simdjson.h>

#include <cstring>

#include "json_read.hpp"
#include "protocol/codec.hpp"
#include "protocol/json_write.hpp"
#include "protocol/uuid.hpp"

namespace liveshare {

namespace od = simdjson::ondemand;
using namespace detail;

struct Parser::Impl {
    od::parser parser;
    std::string scratch;
    Impl() : parser(simdjson::SIMDJSON_MAXSIZE_BYTES) {}

    bool parse(const char* data, std::size_t len, Message& m, bool from_server, std::string& err) {
        m.clear();
        err.clear();
        od::document doc;
        if (auto e = parser.iterate(data, len, len + kParsePadding).get(doc))
            return fail(err, "message",
                        std::string("malformed JSON (") + simdjson::error_message(e) + ")");
        od::object root;
        if (auto e = doc.get_object().get(root))
            return fail(err, "message",
                        std::string("malformed JSON or not an object (") +
                            simdjson::error_message(e) + ")");
        std::string_view type_name;
        bool has_type = false, has_payload = false, null_payload = false;
        bool ok = each_field(root, "message", err, [&](std::string_view key, od::value& v) {
            if (key == "type") {
                has_type = true;
                return !v.get_string().get(type_name) || fail(err, "type", "expected a string");
            }
            if (key == "payload") {
                if (is_null(v)) return (null_payload = true);
                od::object payload;
                std::string_view raw;
                if (v.get_object().get(payload)) return fail(err, "payload", "expected an object");
                if (payload.raw_json().get(raw)) return fail(err, "payload", "malformed JSON");
                // raw_json runs up to the next token, whitespace after the '}' included (found
                // by fuzz_client_parser: the relay splice cut a tab instead of the brace).
                raw = raw.substr(0, raw.find_last_not_of(" \t\r\n") + 1);
                // raw_json consumed the object; it is parsed from a copy once the type is known.
                m.payload = raw;
                return (has_payload = true);
            }
            if (key == "seq" && from_server) {
                std::uint64_t s;
                if (v.get_uint64().get(s))
                    return fail(err, "seq", "expected a non-negative integer");
                m.seq = s;
                return true;
            }
            return validate_any(v, 1, key, err);
        });
        if (!ok) return false;
        if (has_trailing(doc))
            return fail(err, "message", "trailing content after the JSON object");
        if (!has_type) return fail(err, "type", "missing");
        auto t = msg_type_from(type_name);
        if (!t) return fail(err, "type", "unknown message type '" + std::string(type_name) + "'");
        bool server_only = index_of(*t) >= index_of(MsgType::AuthResult);
        if (!from_server && server_only)
            return fail(err, "type", std::string(to_string(*t)) + " is not a client message");
        m.type = *t;
        const bool unit = is_unit(m.type, from_server);
        if (!has_payload) {
            if (unit) return true;
            return fail(err, "payload",
                        null_payload
                            ? std::string("expected an object, not null")
                            : std::string("missing (required by ") + to_string(m.type) + ")");
        }
        // Second pass over the payload alone: field order inside it is free.
        scratch.assign(m.payload);
        scratch.append(kParsePadding, '\0');
        od::document pdoc;
        if (parser.iterate(scratch.data(), m.payload.size(), scratch.size()).get(pdoc))
            return fail(err, "payload", "malformed JSON");
        od::object pobj;
        if (pdoc.get_object().get(pobj)) return fail(err, "payload", "expected an object");
        if (!read_payload(pobj, m, from_server, err)) return false;
        if (has_trailing(pdoc)) return fail(err, "payload", "malformed JSON");
        return true;
    }
};

Parser::Parser() : impl_(std::make_unique<Impl>()) {}
Parser::~Parser() = default;

void Parser::shrink() {
    impl_ = std::make_unique<Impl>();
}

bool Parser::parse_client(const char* data, std::size_t len, ClientMessage& out,
                          std::string& error) {
    return impl_->parse(data, len, out, false, error);
}
bool Parser::parse_server(const char* data, std::size_t len, ServerMessage& out,
                          std::string& error) {
    return impl_->parse(data, len, out, true, error);
}
bool Parser::split_batch(const char* data, std::size_t len, std::vector<std::string_view>& out,
                         std::string& err) {
    out.clear();
    od::document doc;
    od::array arr;
    if (impl_->parser.iterate(data, len, len + kParsePadding).get(doc) || doc.get_array().get(arr))
        return fail(err, "batch", "expected a JSON array of messages");
    for (auto el : arr) {
        od::value v;
        od::object obj;
        std::string_view raw;
        if (std::move(el).get(v) || v.get_object().get(obj) || obj.raw_json().get(raw))
            return fail(err, "batch", "elements must be message objects");
        out.push_back(raw);
    }
    if (has_trailing(doc)) return fail(err, "batch", "trailing content");
    return true;
}

bool Parser::parse_client(std::string_view text, ClientMessage& out, std::string& error) {
    std::string copy(text);
    copy.append(kParsePadding, '\0');
    if (!impl_->parse(copy.data(), text.size(), out, false, error)) return false;
    out.payload = {};  // the copy dies here
    return true;
}
bool Parser::parse_server(std::string_view text, ServerMessage& out, std::string& error) {
    std::string copy(text);
    copy.append(kParsePadding, '\0');
    if (!impl_->parse(copy.data(), text.size(), out, true, error)) return false;
    out.payload = {};
    return true;
}

bool parse_state(Parser& parser, std::string_view json, SchemaState& state, std::string& error) {
    std::string wrapped = "{\"type\":\"GraphState\",\"payload\":{\"state\":";
    wrapped += json;
    wrapped += "}}";
    ServerMessage m;
    if (!parser.parse_server(wrapped, m, error)) return false;
    state = std::move(m.state);
    return true;
}

bool parse_room_create(std::string_view body, RoomCreateRequest& out, std::string& err) {
    if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return true;
    std::string copy(body);
    copy.append(kParsePadding, '\0');
    od::parser parser;
    od::document doc;
    if (auto e = parser.iterate(copy.data(), body.size(), copy.size()).get(doc))
        return fail(err, "body",
                    std::string("malformed JSON (") + simdjson::error_message(e) + ")");
    od::object obj;
    if (doc.get_object().get(obj)) return fail(err, "body", "expected a JSON object");
    for (auto f : obj) {
        od::field field;
        std::string_view key;
        if (std::move(f).get(field) || field.unescaped_key().get(key))
            return fail(err, "body", "malformed JSON");
        od::value& v = field.value();
        bool ok;
        // The original's CreateRoomRequest: name, password and max_users each optional or
        // null; owner_id is ours (the original takes the owner from the signed-in user).
        if (key == "name") {
            std::optional<std::string> name;
            ok = read_opt_string(v, name, "name", err);
            out.name = name.value_or("");
        } else if (key == "owner_id")
            ok = is_null(v) || read_uuid(v, out.owner_id, "owner_id", err);
        else if (key == "password")
            ok = read_opt_string(v, out.password, "password", err);
        else if (key == "max_users")
            ok = is_null(v) || read_u64(v, out.max_users, "max_users", err);
        else
            ok = validate_any(v, 1, key, err);
        if (!ok) return false;
    }
    if (has_trailing(doc)) return fail(err, "body", "trailing content");
    return true;
}

}  // namespace liveshare
