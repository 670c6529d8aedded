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
