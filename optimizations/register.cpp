#include "candidates.hpp"

namespace liveshare {

void register_optimizations() {
    static const DomEncoding dom;
    static const CopyFanout copy;
    static const ForwardVolatiles forward;
    add_candidate(&dom, "dom");
    add_candidate(&copy, "copy");
    add_candidate(&forward, "forward");
}

}  // namespace liveshare
