#include "measure/histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace harness {

namespace {
constexpr std::uint64_t kSub = 1u << Histogram::kSubBits;  // 256
constexpr std::uint64_t kHalf = kSub / 2;                  // 128
constexpr std::size_t kBuckets = kSub + Histogram::kMaxExp * kHalf;
constexpr std::size_t kChunk = kHalf;  // buckets per chunk
constexpr std::size_t kChunks = kBuckets / kChunk;
static_assert(kBuckets % kChunk == 0);
}  // namespace

// Buckets are allocated on the first record, chunk by chunk, so idle users of a big run cost
// nothing and busy ones only the ranges they saw.
Histogram::Histogram() = default;

// Values below 256 map one to one; above, each power of two [2^e, 2^(e+1)) splits into 128
// equal buckets, indexed after the linear part.
std::size_t Histogram::index_of(std::uint64_t v) {
    if (v < kSub) return static_cast<std::size_t>(v);
    int msb = 63 - std::countl_zero(v);
    int shift = msb - (kSubBits - 1);  // v >> shift lies in [128, 256)
    std::size_t idx = kSub + static_cast<std::size_t>(shift - 1) * kHalf + ((v >> shift) - kHalf);
    return std::min(idx, kBuckets - 1);
}

std::uint64_t Histogram::lowest_of(std::size_t index) {
    if (index < kSub) return index;
    std::size_t k = index - kSub;
    int shift = static_cast<int>(k / kHalf) + 1;
    return (kHalf + k % kHalf) << shift;
}

std::uint64_t Histogram::highest_of(std::size_t index) {
    if (index < kSub) return index;
    int shift = static_cast<int>((index - kSub) / kHalf) + 1;
    return lowest_of(index) + (std::uint64_t{1} << shift) - 1;
}

std::uint64_t Histogram::at(std::size_t index) const {
    const auto& c = chunks_[index / kChunk];
    return c.empty() ? 0 : c[index % kChunk];
}

void Histogram::record(std::uint64_t v, std::uint64_t n) {
    if (chunks_.empty()) chunks_.resize(kChunks);
    const std::size_t i = index_of(v);
    auto& c = chunks_[i / kChunk];
    if (c.empty()) c.assign(kChunk, 0);
    c[i % kChunk] += n;
    count_ += n;
    sum_ += static_cast<unsigned __int128>(v) * n;
    min_ = std::min(min_, v);
    max_ = std::max(max_, v);
}

void Histogram::merge(const Histogram& o) {
    if (o.chunks_.empty()) return;
    if (chunks_.empty()) chunks_.resize(kChunks);
    for (std::size_t k = 0; k < kChunks; ++k) {
        const auto& from = o.chunks_[k];
        if (from.empty()) continue;
        auto& to = chunks_[k];
        if (to.empty()) to.assign(kChunk, 0);
        for (std::size_t i = 0; i < kChunk; ++i) to[i] += from[i];
    }
    count_ += o.count_;
    sum_ += o.sum_;
    min_ = std::min(min_, o.min_);
    max_ = std::max(max_, o.max_);
}

void Histogram::reset() {
    *this = Histogram();
}

std::vector<std::pair<std::size_t, std::uint64_t>> Histogram::buckets() const {
    std::vector<std::pair<std::size_t, std::uint64_t>> out;
    for (std::size_t k = 0; k < chunks_.size(); ++k)
        for (std::size_t i = 0; i < chunks_[k].size(); ++i)
            if (chunks_[k][i]) out.emplace_back(k * kChunk + i, chunks_[k][i]);
    return out;
}

std::uint64_t Histogram::percentile(double p) const {
    if (count_ == 0) return 0;
    p = std::clamp(p, 0.0, 100.0);
    auto rank = static_cast<std::uint64_t>(std::ceil(p / 100.0 * static_cast<double>(count_)));
    rank = std::max<std::uint64_t>(rank, 1);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < kBuckets; ++i) {
        if (i % kChunk == 0 && chunks_[i / kChunk].empty()) {
            i += kChunk - 1;
            continue;
        }
        seen += at(i);
        if (seen >= rank) return std::min(highest_of(i), max_);
    }
    return max_;
}

std::string histogram_json(const Histogram& h) {
    std::string out = "{\"count\":" + std::to_string(h.count()) +
                      ",\"min\":" + std::to_string(h.min()) +
                      ",\"max\":" + std::to_string(h.max()) + ",\"buckets\":[";
    bool first = true;
    for (auto [i, n] : h.buckets()) {
        out += (first ? "[" : ",[") + std::to_string(i) + ',' + std::to_string(n) + ',' +
               std::to_string(Histogram::highest_of(i)) + ']';
        first = false;
    }
    return out + "]}";
}

}  // namespace harness
