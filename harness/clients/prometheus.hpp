// The one reader of the server's Prometheus text (GET /metrics), for the harness, the bench
// and the tests.
#pragma once
#include <map>
#include <string>
#include <string_view>

#include "clients/client.hpp"

namespace harness {

using MetricMap = std::map<std::string, double>;  // "name{labels}" -> value

// Samples of a Prometheus text exposition; comments and blank lines skipped.
MetricMap parse_prometheus(std::string_view text);
// GET /metrics from the server at ep; throws std::runtime_error when it cannot be read.
MetricMap scrape_metrics(const Endpoint& ep);
// The value of one sample, or `missing` when the server does not report it.
double metric_or(const MetricMap& m, const std::string& name, double missing = 0);

}  // namespace harness
