// The per-session send queue policy: durable never dropped, volatile coalesced then dropped,
// overflow reported so the session can close with 4008.
#include <gtest/gtest.h>

#include "send_queue.hpp"

using namespace liveshare;

namespace {
OutFrame frame(std::size_t size, Delivery d, std::uint64_t key = 0, char fill = 'x') {
    return {std::make_shared<const std::string>(size, fill), MsgType::CursorMove, d, key, false};
}
}  // namespace

TEST(SendQueue, FirstPushStartsTheWriterOnce) {
    SendQueue q(1000, 10000);
    EXPECT_TRUE(q.push(frame(10, Delivery::Durable)).start_writer);
    EXPECT_FALSE(q.push(frame(10, Delivery::Durable)).start_writer);
    OutFrame f;
    EXPECT_TRUE(q.pop(f));
    q.write_done();
    EXPECT_TRUE(q.pop(f));
    q.write_done();
    EXPECT_FALSE(q.pop(f));  // writer goes idle
    EXPECT_TRUE(q.push(frame(10, Delivery::Durable)).start_writer);
}

TEST(SendQueue, VolatileCoalescesToLatestPerKey) {
    SendQueue q(1000, 10000);
    q.push(frame(10, Delivery::Volatile, 7, 'a'));
    auto r = q.push(frame(12, Delivery::Volatile, 7, 'b'));
    EXPECT_EQ(r.result, SendQueue::Result::Coalesced);
    EXPECT_EQ(r.bytes_delta, 2);
    EXPECT_EQ(q.push(frame(10, Delivery::Volatile, 8, 'c')).result, SendQueue::Result::Queued);
    EXPECT_EQ(q.frames(), 2u);
    EXPECT_EQ(q.bytes(), 22u);
    OutFrame f;
    ASSERT_TRUE(q.pop(f));
    EXPECT_EQ((*f.data)[0], 'b');  // latest wins, in the first one's place
    // Once in flight, a frame is no longer a coalescing target.
    EXPECT_EQ(q.push(frame(10, Delivery::Volatile, 7, 'd')).result, SendQueue::Result::Queued);
}

TEST(SendQueue, VolatileDropsAboveSoftLimitDurableDoesNot) {
    SendQueue q(100, 1000);
    EXPECT_EQ(q.push(frame(90, Delivery::Durable)).result, SendQueue::Result::Queued);
    EXPECT_EQ(q.push(frame(20, Delivery::Volatile, 1)).result, SendQueue::Result::Dropped);
    EXPECT_EQ(q.push(frame(500, Delivery::Durable)).result, SendQueue::Result::Queued);
    EXPECT_EQ(q.push(frame(500, Delivery::Durable)).result, SendQueue::Result::Overflow);
    EXPECT_EQ(q.bytes(), 590u);
}

TEST(SendQueue, InFlightBytesCountUntilWriteDone) {
    SendQueue q(100, 1000);
    q.push(frame(60, Delivery::Durable));
    OutFrame f;
    q.pop(f);
    EXPECT_EQ(q.bytes(), 60u);
    q.write_done();
    EXPECT_EQ(q.bytes(), 0u);
}

// The ring and its coalescing index against the policy written out the plain way (a list
// searched front to back), through growth, wrap-around, coalescing and partial batches.
TEST(SendQueue, RingAgreesWithThePlainPolicyThroughWrapAndGrowth) {
    struct Ref {
        std::size_t soft, hard, bytes = 0;
        std::vector<OutFrame> q;
        SendQueue::Result push(OutFrame f) {
            const std::size_t size = f.data->size();
            if (f.delivery == Delivery::Volatile) {
                if (f.coalesce_key)
                    for (auto& g : q)
                        if (g.coalesce_key == f.coalesce_key) {
                            bytes = bytes - g.data->size() + size;
                            g = f;
                            return SendQueue::Result::Coalesced;
                        }
                if (bytes + size > soft) return SendQueue::Result::Dropped;
            } else if (bytes + size > hard) {
                return SendQueue::Result::Overflow;
            }
            bytes += size;
            q.push_back(f);
            return SendQueue::Result::Queued;
        }
    };
    SendQueue q(4000, 20000);
    Ref ref{4000, 20000, 0, {}};
    std::uint64_t rng = 12345;
    auto next = [&] {
        return rng = rng * 6364136223846793005ULL + 1442695040888963407ULL, rng >> 33;
    };
    std::vector<OutFrame> out;
    for (int step = 0; step < 20000; ++step) {
        if (next() % 3 != 0) {
            const bool vol = next() % 2;
            const std::uint64_t key = vol && next() % 4 ? 1 + next() % 6 : 0;
            OutFrame f = frame(1 + next() % 300, vol ? Delivery::Volatile : Delivery::Durable, key,
                               static_cast<char>('a' + step % 26));
            ASSERT_EQ(q.push(f).result, ref.push(f)) << "step " << step;
        } else {
            const std::size_t max = next() % 2000;
            const bool got = q.pop_batch(out, max);
            ASSERT_EQ(got, !ref.q.empty());
            std::size_t taken = 0, bytes = 0;
            while (taken < ref.q.size() && (taken == 0 || bytes + ref.q[taken].data->size() <= max))
                bytes += ref.q[taken++].data->size();
            ASSERT_EQ(out.size(), taken) << "step " << step;
            for (std::size_t i = 0; i < taken; ++i)
                ASSERT_EQ(out[i].data, ref.q[i].data) << "step " << step;
            ref.q.erase(ref.q.begin(), ref.q.begin() + static_cast<std::ptrdiff_t>(taken));
            ASSERT_EQ(q.bytes(), ref.bytes);
            ASSERT_EQ(q.write_done(), bytes);
            ref.bytes -= bytes;
        }
        ASSERT_EQ(q.frames(), ref.q.size());
        ASSERT_EQ(q.bytes(), ref.bytes);
    }
}

TEST(SendQueue, TrimGivesMemoryBackOnlyWhenNothingIsQueuedOrInFlight) {
    SendQueue q(1000, 10000);
    q.push(frame(10, Delivery::Durable));
    q.trim();  // queued: kept
    EXPECT_EQ(q.frames(), 1u);
    OutFrame f;
    ASSERT_TRUE(q.pop(f));
    q.trim();  // in flight: kept
    EXPECT_EQ(q.bytes(), 10u);
    q.write_done();
    EXPECT_FALSE(q.pop(f));  // the writer goes idle
    q.trim();
    auto r = q.push(frame(20, Delivery::Volatile, 3));
    EXPECT_EQ(r.result, SendQueue::Result::Queued);
    EXPECT_TRUE(r.start_writer);
    EXPECT_EQ(q.push(frame(30, Delivery::Volatile, 3)).result, SendQueue::Result::Coalesced);
    EXPECT_EQ(q.bytes(), 30u);
}
