// Token bucket per connection and class, full at start (as the original's governor buckets).
#pragma once
#include <algorithm>
#include <chrono>

#include "config.hpp"

namespace liveshare {

class TokenBucket {
  public:
    using Clock = std::chrono::steady_clock;
    explicit TokenBucket(TokenBucketConfig c = {})
        : cfg_(c), tokens_(c.burst), last_(Clock::now()) {}

    // Takes one token; false when the bucket is empty. A zero rate means no limit.
    bool try_take(Clock::time_point now = Clock::now()) {
        if (cfg_.per_second <= 0) return true;
        double elapsed = std::chrono::duration<double>(now - last_).count();
        last_ = now;
        tokens_ = std::min(cfg_.burst, tokens_ + elapsed * cfg_.per_second);
        if (tokens_ < 1.0) return false;
        tokens_ -= 1.0;
        return true;
    }

  private:
    TokenBucketConfig cfg_;
    double tokens_;
    Clock::time_point last_;
};

}  // namespace liveshare
