// fanout:copy, the original's way: a copy of the bytes per recipient.
// Hypothesis it is measured against (the core's fanout:shared): one immutable shared buffer,
// a reference count per recipient and no copy, makes fan-out cost independent of the message
// size and cuts allocations from N to 1.
#include "candidates.hpp"

namespace liveshare {

const std::shared_ptr<const std::string>& CopyFanout::for_recipient(
    const std::shared_ptr<const std::string>& frame,
    std::shared_ptr<const std::string>& own) const {
    own = std::make_shared<const std::string>(*frame);
    return own;
}

}  // namespace liveshare
