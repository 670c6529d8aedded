// The candidates of the core's hot paths (liveshare/core/hot_paths.hpp) that are not the
// server's default: the original's ways, kept so every profile compares them in one run.
// A new candidate is one file here and one line in register.cpp.
#pragma once
#include "hot_paths.hpp"

namespace liveshare {

// serialize:dom (serialization/dom_encoder.cpp)
class DomEncoding final : public RelayEncoding {
  public:
    std::unique_ptr<Prepared> prepare(MsgType type, std::string_view user_id,
                                      std::string_view payload) const override;
    bool per_recipient() const override { return true; }
};

// fanout:copy (fanout/copy.cpp)
class CopyFanout final : public Fanout {
  public:
    const std::shared_ptr<const std::string>& for_recipient(
        const std::shared_ptr<const std::string>& frame,
        std::shared_ptr<const std::string>& own) const override;
};

// cursor:forward (cursors/forward.cpp)
class ForwardVolatiles final : public VolatilePolicy {
  public:
    std::uint64_t coalesce_key(const std::string& user_id, MsgType type) const override;
};

// Registers every candidate above; call once before parsing a profile (idempotent).
void register_optimizations();

}  // namespace liveshare
