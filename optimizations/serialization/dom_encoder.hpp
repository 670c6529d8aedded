// Baseline serialization, as the original: the payload is parsed into a DOM (Boost.JSON) once,
// and every recipient's writer serializes the whole message again from it.
// Hypothesis it is measured against: splicing the validated raw payload once
// (protocol/codec.hpp encode_relay) removes the per-recipient serialization cost entirely.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "protocol/messages.hpp"

namespace liveshare {

class DomMessage {
  public:
    // Parses the raw payload object; throws std::invalid_argument if it is not JSON.
    DomMessage(MsgType type, std::string_view user_id, std::string_view raw_payload);
    ~DomMessage();
    DomMessage(DomMessage&&) noexcept;
    // One recipient's frame, serialized from the DOM.
    std::string serialize(std::optional<std::uint64_t> seq) const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace liveshare
