// Token bucket per connection and class, full at start (as the original's governor buckets).
#pragma once
#include <algorithm>
#include <chrono>

#include "config.hpp"

namespace liveshare {

// The bucket keeps its level and time alone (16 B); its rate and burst are the caller's, the
// same for every connection, passed to each take.
class TokenBucket {
  public:
    using Clock = std::chrono::steady_clock;
    explicit TokenBucket(const TokenBucketConfig& c) : tokens_(c.burst), last_(Clock::now()) {}

    // Takes one token; false when the bucket is empty. A zero rate means no limit.
    bool try_take(const TokenBucketConfig& c, Clock::time_point now = Clock::now()) {
        if (c.per_second <= 0) return true;
        double elapsed = std::chrono::duration<double>(now - last_).count();
        last_ = now;
        tokens_ = std::min(c.burst, tokens_ + elapsed * c.per_second);
        if (tokens_ < 1.0) return false;
        tokens_ -= 1.0;
        return true;
    }

  private:
    double tokens_;
    Clock::time_point last_;
};

}  // namespace liveshare
