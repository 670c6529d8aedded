#include "protocol/batch.hpp"

namespace liveshare {

void append_batch(std::string& out, const std::vector<std::shared_ptr<const std::string>>& frames) {
    std::size_t n = 2;
    for (auto& f : frames) n += f->size() + 1;
    out.reserve(out.size() + n);
    out.push_back('[');
    for (std::size_t i = 0; i < frames.size(); ++i) {
        if (i) out.push_back(',');
        out += *frames[i];
    }
    out.push_back(']');
}

}  // namespace liveshare
