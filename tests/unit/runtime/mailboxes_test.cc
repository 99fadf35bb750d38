#include "runtime/mailboxes.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "io/loop.h"
#include "runtime/shard_mailbox.h"
#include "runtime/spsc_queue.h"

namespace ringway {
namespace {

TEST(SpscQueue, RefusesBeyondItsCapacityAndKeepsOrder) {
  SpscQueue<int> q(4);
  EXPECT_EQ(q.capacity(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(q.push(int(i)));
  EXPECT_FALSE(q.push(99));  // full: refused, not overwritten
  int v = -1;
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(q.pop(v));
    EXPECT_EQ(v, i);
  }
  EXPECT_FALSE(q.pop(v));
  EXPECT_TRUE(q.empty());
  // Wraps around.
  for (int round = 0; round < 10; ++round) {
    EXPECT_TRUE(q.push(int(round)));
    ASSERT_TRUE(q.pop(v));
    EXPECT_EQ(v, round);
  }
}

TEST(SpscQueue, MovesOwnedPayloadsAndReleasesThemOnPop) {
  SpscQueue<std::unique_ptr<std::string>> q(2);
  auto payload = std::make_unique<std::string>("revoke");
  std::string* raw = payload.get();
  ASSERT_TRUE(q.push(std::move(payload)));
  std::unique_ptr<std::string> out;
  ASSERT_TRUE(q.pop(out));
  EXPECT_EQ(out.get(), raw);
  EXPECT_EQ(*out, "revoke");
}

TEST(SpscQueue, FinishesTheStoredValueJustBeforePublishingIt) {
  SpscQueue<int> q(2);
  int calls = 0;
  auto stamp = [&](int& stored) {
    ++calls;
    EXPECT_EQ(stored, 7);  // the value is in its slot already...
    EXPECT_EQ(calls == 1, q.empty());  // ...but not yet visible to the consumer
    stored += 100;
  };
  EXPECT_TRUE(q.push(7, stamp));
  EXPECT_TRUE(q.push(7, stamp));
  EXPECT_FALSE(q.push(7, stamp));  // full: refused before anything is stored
  EXPECT_EQ(calls, 2);
  int v = 0;
  ASSERT_TRUE(q.pop(v));
  EXPECT_EQ(v, 107);
}

TEST(SpscQueue, TwoThreadsSeeEveryItemInOrder) {
  SpscQueue<uint32_t> q(64);
  constexpr uint32_t kItems = 200000;
  std::thread producer([&] {
    for (uint32_t i = 0; i < kItems;) {
      if (q.push(uint32_t(i))) ++i;
    }
  });
  uint32_t expected = 0;
  uint32_t v = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (expected < kItems && std::chrono::steady_clock::now() < deadline) {
    if (q.pop(v)) {
      ASSERT_EQ(v, expected);
      ++expected;
    }
  }
  producer.join();
  EXPECT_EQ(expected, kItems);
}

TEST(Mailboxes, PostRefusesWhenTheQueueIsFull) {
  Mailboxes boxes(2, 16);
  for (int i = 0; i < 16; ++i) {
    ShardMessage m;
    m.body = CollectMetricsMessage{static_cast<uint64_t>(i)};
    EXPECT_TRUE(boxes.post(0, 1, std::move(m), nullptr));
  }
  ShardMessage extra;
  extra.body = CollectMetricsMessage{99};
  EXPECT_FALSE(boxes.post(0, 1, std::move(extra), nullptr));
  // The refused message is untouched: the sender still owns it.
  EXPECT_EQ(std::get<CollectMetricsMessage>(extra.body).request, 99u);
  // Other pairs are independent.
  ShardMessage from_control;
  from_control.body = DrainMessage{};
  EXPECT_TRUE(boxes.post(boxes.control(), 1, std::move(from_control), nullptr));
  std::vector<uint64_t> seen;
  size_t n = boxes.drain(1, [&](ShardMessage&& m) {
    if (auto* c = std::get_if<CollectMetricsMessage>(&m.body)) seen.push_back(c->request);
  });
  EXPECT_EQ(n, 17u);
  ASSERT_EQ(seen.size(), 16u);
  for (uint64_t i = 0; i < 16; ++i) EXPECT_EQ(seen[i], i);  // FIFO per sender
}

TEST(Mailboxes, StampsTheSenderAndTheReceiversTurn) {
  Mailboxes boxes(3, 16);
  boxes.publish_turn(2, 41);
  ShardMessage m;
  m.body = DrainMessage{};
  ASSERT_TRUE(boxes.post(1, 2, std::move(m), nullptr));
  boxes.drain(2, [&](ShardMessage&& got) {
    EXPECT_EQ(got.from, 1u);
    EXPECT_EQ(got.posted_turn, 41u);
  });
}

// A shard-like receiver: its own thread, Loop and ShardMailbox, recording what it
// handles and in which turn.
class Receiver : public ShardMailbox::Handler {
 public:
  Receiver(Mailboxes* boxes, uint32_t endpoint) : boxes_(boxes), endpoint_(endpoint) {}
  ~Receiver() { stop(); }

  // Registers the wake eventfd (as main does for every shard before any starts).
  void prepare() {
    if (event_fd_ >= 0) return;
    event_fd_ = eventfd(0, EFD_CLOEXEC);
    boxes_->set_event_fd(endpoint_, event_fd_);
  }
  void start(bool busy) {
    busy_ = busy;
    prepare();
    thread_ = std::thread([this] { run(); });
    while (!ready_.load()) std::this_thread::yield();
  }
  void stop() {
    if (!thread_.joinable()) return;
    stop_.store(true);
    // Wake it (it may be sleeping in the ring).
    uint64_t one = 1;
    ssize_t rc = write(event_fd_, &one, sizeof(one));
    (void)rc;
    thread_.join();
    close(event_fd_);
  }
  // A request from the control thread is passed on to |peer| (shard to shard); a
  // request from a shard is answered to it (shard to shard again); answers are
  // counted.
  void handle(ShardMessage&& m) override {
    ++handled_;
    if (auto* c = std::get_if<CollectMetricsMessage>(&m.body)) {
      if (m.from == boxes_->control() && peer_ >= 0) {
        box_->post(static_cast<uint32_t>(peer_), CollectMetricsMessage{c->request});
      } else {
        box_->post(m.from, MetricsReplyMessage{c->request, nullptr});
      }
    } else if (std::holds_alternative<MetricsReplyMessage>(m.body)) {
      ++replies_;
    }
  }
  int peer_ = -1;
  std::atomic<uint64_t> handled_{0};
  std::atomic<uint64_t> replies_{0};
  std::atomic<uint64_t> max_delay_{0};
  std::atomic<uint64_t> turns_{0};
  std::atomic<bool> msg_ring_{false};

 private:
  // Keeps the loop turning: a timer that fires every turn (a loaded shard).
  static void on_busy(Timer* t) {
    auto* r = static_cast<Receiver*>(t->owner);
    r->loop_->arm_timer(t, 0);
  }
  void run() {
    Loop loop;
    loop_ = &loop;
    std::string error;
    ASSERT_TRUE(loop.init(LoopLimits{256, 16, 4096}, &error)) << error;
    msg_ring_.store(loop.ring().msg_ring_supported());
    ShardMailbox box(boxes_, endpoint_, &loop, event_fd_, this);
    box_ = &box;
    box.start();
    Timer busy;
    busy.callback = on_busy;
    busy.owner = this;
    if (busy_) loop.arm_timer(&busy, 0);
    ready_.store(true);
    while (!stop_.load()) {
      loop.run_once();
      turns_.store(loop.turn());
      max_delay_.store(box.stats().max_delay_turns);
    }
    loop.disarm_timer(&busy);
  }
  Mailboxes* boxes_;
  uint32_t endpoint_;
  int event_fd_ = -1;
  bool busy_ = false;
  Loop* loop_ = nullptr;
  ShardMailbox* box_ = nullptr;
  std::thread thread_;
  std::atomic<bool> ready_{false};
  std::atomic<bool> stop_{false};
};

bool wait_until(const std::function<bool()>& done, int ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

TEST(ShardMailbox, ASleepingShardIsWokenByTheControlThread) {
  Mailboxes boxes(1, 64);
  Receiver shard(&boxes, 0);
  shard.start(false);
  uint64_t turns_before = shard.turns_.load();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  // Idle: it sleeps in the ring instead of spinning.
  EXPECT_LE(shard.turns_.load() - turns_before, 2u);
  ShardMessage m;
  m.body = DrainMessage{};
  ASSERT_TRUE(boxes.post(boxes.control(), 0, std::move(m), nullptr));
  EXPECT_TRUE(wait_until([&] { return shard.handled_.load() == 1; }, 5000));
  EXPECT_LE(shard.max_delay_.load(), 1u);
}

TEST(ShardMailbox, MessagesPostedBeforeAShardRunsAreHandledWhenItStarts) {
  // A /metrics scrape on shard 0 while shard 1 is still starting (or a drain right
  // after start): the message waits, and the shard sees it as soon as it runs, idle
  // or not.
  Mailboxes boxes(1, 64);
  Receiver shard(&boxes, 0);
  shard.prepare();
  for (int i = 0; i < 3; ++i) {
    ShardMessage m;
    m.body = DrainMessage{};
    ASSERT_TRUE(boxes.post(boxes.control(), 0, std::move(m), nullptr));
  }
  shard.start(false);
  EXPECT_TRUE(wait_until([&] { return shard.handled_.load() == 3; }, 5000));
  // And later messages still wake it (the flag did not stay set).
  ShardMessage m;
  m.body = DrainMessage{};
  ASSERT_TRUE(boxes.post(boxes.control(), 0, std::move(m), nullptr));
  EXPECT_TRUE(wait_until([&] { return shard.handled_.load() == 4; }, 5000));
}

TEST(ShardMailbox, ShardsWakeEachOtherThroughTheirRings) {
  Mailboxes boxes(2, 64);
  Receiver a(&boxes, 0);
  Receiver b(&boxes, 1);
  a.peer_ = 1;
  a.start(false);
  b.start(false);
  if (!a.msg_ring_.load()) GTEST_SKIP() << "IORING_OP_MSG_RING not supported here";
  // control -> a (eventfd); a -> b and b -> a (MSG_RING from the sender's ring), both
  // shards idle between messages.
  for (uint64_t i = 1; i <= 100; ++i) {
    ShardMessage m;
    m.body = CollectMetricsMessage{i};
    while (!boxes.post(boxes.control(), 0, std::move(m), nullptr)) {
      std::this_thread::yield();
    }
    if (i % 10 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  EXPECT_TRUE(wait_until([&] { return a.replies_.load() == 100; }, 5000));
  EXPECT_EQ(b.handled_.load(), 100u);
  EXPECT_LE(a.max_delay_.load(), 1u);
  EXPECT_LE(b.max_delay_.load(), 1u);
}

TEST(ShardMailbox, ABusyShardHandlesEveryMessageWithinOneTurn) {
  Mailboxes boxes(1, 1024);
  Receiver shard(&boxes, 0);
  shard.start(true);  // turning as fast as it can, as under load
  ASSERT_TRUE(wait_until([&] { return shard.turns_.load() > 1000; }, 5000));
  for (int i = 0; i < 2000; ++i) {
    ShardMessage m;
    m.body = DrainMessage{};
    while (!boxes.post(boxes.control(), 0, std::move(m), nullptr)) std::this_thread::yield();
    if (i % 100 == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  EXPECT_TRUE(wait_until([&] { return shard.handled_.load() == 2000; }, 10000));
  EXPECT_GT(shard.turns_.load(), 1000u);
  EXPECT_LE(shard.max_delay_.load(), 1u);
}

}  // namespace
}  // namespace ringway
