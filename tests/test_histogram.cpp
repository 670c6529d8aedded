// The HDR-style histogram: bounded relative error against exact percentiles, and merging.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "measure/histogram.hpp"

using harness::Histogram;

TEST(Histogram, BucketBoundsAreConsistent) {
    for (std::uint64_t v :
         {0ull, 1ull, 255ull, 256ull, 257ull, 1000ull, 123456789ull, 1ull << 40}) {
        auto i = Histogram::index_of(v);
        EXPECT_LE(Histogram::lowest_of(i), v) << v;
        EXPECT_GE(Histogram::highest_of(i), v) << v;
    }
}

TEST(Histogram, PercentilesWithinOnePercentOfExact) {
    std::mt19937_64 rng(1);
    std::lognormal_distribution<double> d(8.0, 1.5);
    std::vector<std::uint64_t> values;
    Histogram h;
    for (int i = 0; i < 100000; ++i) {
        auto v = static_cast<std::uint64_t>(d(rng));
        values.push_back(v);
        h.record(v);
    }
    std::sort(values.begin(), values.end());
    for (double p : {50.0, 90.0, 99.0, 99.9}) {
        auto exact = values[static_cast<std::size_t>(std::ceil(p / 100 * values.size())) - 1];
        auto got = h.percentile(p);
        EXPECT_LE(std::fabs(static_cast<double>(got) - static_cast<double>(exact)),
                  0.01 * static_cast<double>(exact) + 1)
            << "p" << p;
    }
    EXPECT_EQ(h.max(), values.back());
    EXPECT_EQ(h.min(), values.front());
    EXPECT_EQ(h.percentile(100), values.back());
}

TEST(Histogram, MergeEqualsRecordingEverything) {
    Histogram a, b, all;
    for (std::uint64_t v = 0; v < 5000; v += 3) {
        (v % 2 ? a : b).record(v * 17);
        all.record(v * 17);
    }
    a.merge(b);
    EXPECT_EQ(a.count(), all.count());
    EXPECT_DOUBLE_EQ(a.mean(), all.mean());
    for (double p : {1.0, 50.0, 99.0}) EXPECT_EQ(a.percentile(p), all.percentile(p));
}
