#include "clients/prometheus.hpp"

#include <cstdlib>
#include <stdexcept>

namespace harness {

MetricMap parse_prometheus(std::string_view text) {
    MetricMap out;
    while (!text.empty()) {
        const auto nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
        if (line.empty() || line[0] == '#') continue;
        const auto sp = line.rfind(' ');
        if (sp == std::string_view::npos || sp == 0) continue;
        out[std::string(line.substr(0, sp))] =
            std::strtod(std::string(line.substr(sp + 1)).c_str(), nullptr);
    }
    return out;
}

MetricMap scrape_metrics(const Endpoint& ep) {
    auto res = http_request(ep, "GET", "/metrics");
    if (res.status != 200)
        throw std::runtime_error("GET /metrics answered " + std::to_string(res.status));
    return parse_prometheus(res.body);
}

double metric_or(const MetricMap& m, const std::string& name, double missing) {
    auto it = m.find(name);
    return it == m.end() ? missing : it->second;
}

}  // namespace harness
