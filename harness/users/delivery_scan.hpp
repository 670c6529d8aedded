// What a delivery is measured by (its type, the room's seq, the sender and the harness's
// marker), found without parsing the whole message: a scan of the form in which our server
// relays the harness's own messages. Anything else (another form, another type, an escape
// where the scan would have to decode one) is left to the full parse, so the scan can only be
// faster, never differently right; the users that scan still fully parse a sample and check
// that both agree (SimUser::handle).
#pragma once
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "protocol/messages.hpp"
#include "traffic/workload.hpp"

namespace harness {

struct DeliveryScan {
    liveshare::MsgType type{};
    std::optional<std::uint64_t> seq;  // the room's sequence number, when the server sent one
    std::string_view user_id;          // the sender, pointing into the message
    std::optional<Marker> marker;      // as extract_marker would read it from the full parse
};

// True when `msg` is a relayed GraphOp or volatile message in the expected form and `out`
// holds what the full parse would give for these fields; false: parse it fully.
bool scan_delivery(std::string_view msg, DeliveryScan& out);

// A batch frame "[{...},{...}]" split into its objects by brackets and quotes alone (what a
// scanning user needs; the full-state users split with the validating parser). False when the
// text is not such an array, balanced, with nothing after it: split it with the parser then.
bool split_objects(std::string_view batch, std::vector<std::string_view>& out);

}  // namespace harness
