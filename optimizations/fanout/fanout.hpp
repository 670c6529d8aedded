// Fan-out of one encoded frame to N recipients.
// Baseline (the original): a copy of the bytes per recipient.
// Hypothesis: one immutable shared buffer (a reference count per recipient, no copy) makes
// fan-out cost independent of the message size and cuts allocations from N to 1.
#pragma once
#include <memory>
#include <string>

#include "profile.hpp"

namespace liveshare {

inline std::shared_ptr<const std::string> frame_for_recipient(const std::shared_ptr<const std::string>& frame,
                                                              FanoutMode mode) {
    if (mode == FanoutMode::Shared) return frame;
    return std::make_shared<const std::string>(*frame);
}

}  // namespace liveshare
