// This process's wall clock against a reference clock (a Redis server's TIME), for shards on
// several machines: a delivery whose sender runs in one shard and receiver in another mixes
// two clocks, so every shard counts the common start from the reference's time instead of
// its own. The offset is taken from the round trip with the lowest RTT of `rounds` (the NTP
// rule): the reference read TIME somewhere inside it, so the offset is known to half the RTT.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

namespace harness {

struct ClockOffset {
    double offset_us = 0;       // this clock minus the reference
    double uncertainty_us = 0;  // half the best round trip, plus TIME's 1 us resolution
    int rounds = 0;
};

// `url`: redis://HOST:PORT. `skew_us` is added to this clock first (a test's injected offset).
// Throws std::runtime_error naming the reference and the cause when it cannot be measured.
ClockOffset measure_clock_offset(const std::string& url, std::int64_t skew_us, int rounds = 32);

// The same rule over any reference: `ref_time_us` reads the reference clock (one round trip;
// it throws to abandon the measurement).
ClockOffset lowest_rtt_offset(const std::function<std::int64_t()>& ref_time_us,
                              std::int64_t skew_us, int rounds = 32);

}  // namespace harness
