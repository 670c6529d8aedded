// HDR-style log-linear histogram of non-negative integers (we record microseconds):
// 256 sub-buckets per power of two bound the relative error by 1/128 (0.78%), and histograms
// merge by adding counts. The buckets are kept in chunks of 128 (one power of two each, 1 KB),
// allocated on first use: a user's latencies between 1 and 65 ms cost 7 chunks, not all 42
// (a long planned run holds thousands of departed users' histograms).
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace harness {

class Histogram {
  public:
    static constexpr int kSubBits = 8;  // 256 sub-buckets
    static constexpr int kMaxExp = 40;  // values up to 2^48 (about 9 years in us)
    Histogram();
    void record(std::uint64_t v, std::uint64_t count = 1);
    void merge(const Histogram& o);
    void reset();
    std::uint64_t count() const { return count_; }
    std::uint64_t min() const { return count_ ? min_ : 0; }
    std::uint64_t max() const { return max_; }
    double mean() const {
        return count_ ? static_cast<double>(sum_) / static_cast<double>(count_) : 0;
    }
    // Value at percentile p in [0,100]: the highest value of the bucket holding that rank
    // (never reported above the exact max).
    std::uint64_t percentile(double p) const;

    // Non-zero buckets as (index, count), for writing a histogram out (scripts/merge-shards
    // merges them and maps an index back with the same bucket rule).
    std::vector<std::pair<std::size_t, std::uint64_t>> buckets() const;
    static std::size_t index_of(std::uint64_t v);
    static std::uint64_t lowest_of(std::size_t index);
    static std::uint64_t highest_of(std::size_t index);

  private:
    std::uint64_t at(std::size_t index) const;
    std::vector<std::vector<std::uint64_t>> chunks_;  // empty until the first record
    std::uint64_t count_ = 0, min_ = UINT64_MAX, max_ = 0;
    unsigned __int128 sum_ = 0;
};

// The histogram as JSON, {"count", "min", "max", "buckets": [[index, count, highest], ...]}:
// non-zero buckets with the highest value each holds, so a reader needs no bucket rule
// (scripts/merge-shards merges them; scripts/compare and scripts/history compare them whole).
std::string histogram_json(const Histogram& h);

}  // namespace harness
