// cursor:forward, the original's way: every volatile message is sent, none replaces another.
// Hypothesis it is measured against (the core's cursor:coalesce): when a recipient's queue
// backs up, only the latest cursor/viewport/awareness state matters, so replacing queued
// ones cuts bytes and writes without losing anything a client would show.
#include "candidates.hpp"

namespace liveshare {

std::uint64_t ForwardVolatiles::coalesce_key(const std::string&, MsgType) const {
    return 0;
}

}  // namespace liveshare
