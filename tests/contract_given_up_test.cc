// SPDX-License-Identifier: MIT
// tests/contract_given_up_test.cc — a thread that holds a realtime delivery for a full ring and then
// blocks both pokes itself (signals.hpp, "Realtime floods"): "the delivery it holds stays with it
// until it unblocks SIGURG or SIGWINCH (the next drain then pokes it), runs a drain of its own, or
// exits (then a drain runs it, as above). Drains wait up to a second for such a thread once, then
// only look at its mask until it lifts: the rest of the flood goes on."
//
// Each case: the main thread blocks the signal, so that a worker takes the first deliveries it sends
// itself: two fill the ring (capacity 1: two records), the third is held in the worker, which then
// blocks every signal. The consumer (the main thread) waits out the drains' patience, a sender
// thread floods 200 more (they reach the main thread: every other thread blocks everything), and
// only then does the worker do what the case says. At the end every value sent is received once,
// or counted in dropped(): received + dropped == sent, nothing lost silently.
#include <gtest/gtest.h>

#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include "handler/hold.hpp"  // g_ring_holder_count
#include "sigrelay/registry.hpp"
#include "sigrelay/relays.hpp"
#include "sigrelay/signals.hpp"
#include "support/child.hpp"
#include "support/dispositions.hpp"
#include "support/platform.hpp"

namespace {

using namespace std::chrono_literals;
using sigrelay::backend;

constexpr int kFirst = 3;  // per worker: two recorded (the first worker's), the third held
constexpr int kMore = 200;

// What a worker does once the consumer has given up on it.
enum class then { unblock_pokes, unblock_signal, unblock_all, drain_own, exit };

// Blocks (SIG_BLOCK) or unblocks (SIG_UNBLOCK) `signo` in the calling thread; pthread_sigmask()'s result.
int mask_one(int how, int signo) {
  sigset_t one;
  sigemptyset(&one);
  sigaddset(&one, signo);
  return pthread_sigmask(how, &one, nullptr);
}

// The options of the object under test: a two-record ring, full after two deliveries, so that the
// holders hold the next ones.
sigrelay::signals_options tiny_ring(backend kind) {
  sigrelay::signals_options options;
  options.backend = kind;
  options.realtime_capacity = 1;  // 2 records
  return options;
}

// A worker that sends `count` deliveries of `rt` (values first, first + 1, ...) with everything but
// `rt` as it was, so that it takes them itself, then blocks every signal (the pokes too) and waits
// for go(); then does `what` and, unless it exits, sleeps until finish().
class holder {
 public:
  holder(int rt, int first, int count, then what, sigrelay::signals* own) {
    sigset_t all, old;  // created with everything blocked: nothing reaches it before it is ready
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    thread_ = std::thread([=, this] {
      EXPECT_EQ(0, mask_one(SIG_UNBLOCK, rt));
      for (int i = first; i < first + count; ++i) {
        union sigval v {};
        v.sival_int = i;
        EXPECT_EQ(0, sigqueue(getpid(), rt, v));
      }
      sigset_t every;
      sigfillset(&every);
      EXPECT_EQ(0, pthread_sigmask(SIG_BLOCK, &every, nullptr));  // the pokes too, from now on
      ready_ = true;
      while (!go_.load()) std::this_thread::sleep_for(1ms);
      sigset_t set;
      sigemptyset(&set);
      switch (what) {
        case then::unblock_pokes:
          sigaddset(&set, SIGURG);
          EXPECT_EQ(0, pthread_sigmask(SIG_UNBLOCK, &set, nullptr));
          break;
        case then::unblock_signal:  // the held signal alone: the pokes stay blocked
          sigaddset(&set, rt);
          EXPECT_EQ(0, pthread_sigmask(SIG_UNBLOCK, &set, nullptr));
          break;
        case then::unblock_all: EXPECT_EQ(0, pthread_sigmask(SIG_SETMASK, &set, nullptr)); break;
        case then::drain_own: (void)own->pending(); break;
        case then::exit: return;
      }
      while (!finish_.load()) std::this_thread::sleep_for(1ms);
    });
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
  }
  ~holder() {
    finish();
    if (thread_.joinable()) thread_.join();
  }
  bool ready() const { return ready_.load(); }
  void go() { go_ = true; }
  void finish() {
    go_ = true;
    finish_ = true;
  }
  void join() { thread_.join(); }

 private:
  std::atomic<bool> ready_{false}, go_{false}, finish_{false};
  std::thread thread_;
};

// The consumer's side: values received, the ring's counts.
struct tally {
  std::set<int> values;
  std::uint64_t events = 0;
  void take(const std::vector<sigrelay::signal_event>& batch) {
    for (const sigrelay::signal_event& e : batch) {
      ++events;
      values.insert(e.last.value.sival_int);
    }
  }
};

bool wait_for_holders(int n) {
  const auto end = std::chrono::steady_clock::now() + 10s;
  while (sigrelay::detail::g_ring_holder_count.load() < n && std::chrono::steady_clock::now() < end)
    std::this_thread::sleep_for(1ms);
  return sigrelay::detail::g_ring_holder_count.load() >= n;
}

// A thread that sends `count` more (values from `first`), retrying on EAGAIN, with every signal
// blocked (so that the main thread takes them).
std::thread start_sender(int rt, int first, int count) {
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  std::thread t([=] {
    for (int i = first; i < first + count; ++i) {
      union sigval v {};
      v.sival_int = i;
      while (sigqueue(getpid(), rt, v) != 0 && errno == EAGAIN) std::this_thread::yield();
    }
  });
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return t;
}

// The common body: `workers` holders doing `what`; the flood goes on while they hold; then they act;
// every delivery must be accounted for by the end.
void run_case(backend kind, int workers, then what) {
  const int rt = SIGRTMIN + 2;
  ASSERT_EQ(0, mask_one(SIG_BLOCK, rt));  // the workers take the first ones
  sigrelay::signals sigs({rt}, tiny_ring(kind));
  std::optional<sigrelay::signals> own;  // the workers' own object, for then::drain_own
  if (what == then::drain_own) own.emplace(std::initializer_list<int>{SIGUSR2});
  std::atomic<std::uint64_t> registry{0};  // another action of the signal
  const sigrelay::action_id counter = sigrelay::add_action(rt, sigrelay::relay::add_count(registry));
  std::vector<std::unique_ptr<holder>> holders;
  int sent = 0;
  for (int w = 0; w < workers; ++w) {
    const int count = w == 0 ? kFirst : 1;  // the ring is full after the first two: each holds one
    holders.push_back(std::make_unique<holder>(rt, sent, count, what, own ? &*own : nullptr));
    while (!holders.back()->ready()) std::this_thread::sleep_for(1ms);
    sent += count;
    ASSERT_TRUE(wait_for_holders(w + 1)) << "worker " << w << " does not hold";
  }
  const std::set<int> held = [&] {
    std::set<int> h{2};
    for (int w = 1; w < workers; ++w) h.insert(kFirst + w - 1);
    return h;
  }();
  ASSERT_EQ(0, mask_one(SIG_UNBLOCK, rt));
  tally t;
  const auto deadline = std::chrono::steady_clock::now() + 30s;  // the watchdog allows 90 s
  // The drains give up on the holders (a second each, once), then the flood goes on.
  std::thread sender = start_sender(rt, sent, kMore);
  sent += kMore;
  const auto expected_before = static_cast<std::uint64_t>(sent - workers);
  while (t.events < expected_before && std::chrono::steady_clock::now() < deadline)
    t.take(sigs.wait_for(50ms));
  sender.join();
  EXPECT_EQ(expected_before, t.events) << "the consumer stalled on the holders that block the pokes";
  for (const int v : held)
    EXPECT_EQ(0U, t.values.count(v)) << "value " << v << " came before its holder acted";
  for (auto& h : holders) h->go();
  if (what == then::exit) {
    for (auto& h : holders) h->join();
  }
  while ((t.events + sigs.dropped() < static_cast<std::uint64_t>(sent) ||
          registry.load() < static_cast<std::uint64_t>(sent)) &&
         std::chrono::steady_clock::now() < deadline)
    t.take(sigs.wait_for(50ms));
  t.take(sigs.pending());
  EXPECT_EQ(static_cast<std::uint64_t>(sent), t.events + sigs.dropped())
      << t.events << " received, " << sigs.dropped() << " dropped";
  EXPECT_EQ(t.events, t.values.size()) << "a value came twice";
  EXPECT_EQ(static_cast<std::uint64_t>(sent), registry.load()) << "the other action missed a held delivery";
  for (auto& h : holders) h->finish();
  holders.clear();
  EXPECT_TRUE(sigrelay::remove_action(counter));
}

class ContractGivenUp : public testing::TestWithParam<backend> {};

// Unblocks SIGURG (only) after the drains gave up on it: the next drain pokes it, it lifts.
TEST_P(ContractGivenUp, AHolderThatLaterUnblocksAPokeIsPokedAndGivesItsDeliveryBack) {
  SIGRELAY_SKIP_WITHOUT_HOLDS();
  const backend kind = GetParam();
  SIGRELAY_IN_CHILD([kind] { run_case(kind, 1, then::unblock_pokes); }, 90);
}

// Unblocks the held signal itself, the pokes still blocked: the re-queued delivery comes in through
// the handler, as any delivery (recorded, or held again while the ring is full), never lost.
TEST_P(ContractGivenUp, AHolderThatUnblocksTheHeldSignalItselfGivesItsDeliveryBack) {
  SIGRELAY_SKIP_WITHOUT_HOLDS();
  const backend kind = GetParam();
  SIGRELAY_IN_CHILD([kind] { run_case(kind, 1, then::unblock_signal); }, 90);
}

// Runs a drain of its own (of another object) with every signal still blocked: that lifts its hold.
TEST_P(ContractGivenUp, AHolderThatDrainsItselfGivesItsDeliveryBack) {
  SIGRELAY_SKIP_WITHOUT_HOLDS();
  const backend kind = GetParam();
  SIGRELAY_IN_CHILD([kind] { run_case(kind, 1, then::drain_own); }, 90);
}

// Exits still holding, after the drains gave up on it: a later drain runs its delivery.
TEST_P(ContractGivenUp, AHolderThatExitsAfterTheDrainsGaveUpHasItsDeliveryRun) {
  SIGRELAY_SKIP_WITHOUT_HOLDS();
  const backend kind = GetParam();
  SIGRELAY_IN_CHILD([kind] { run_case(kind, 1, then::exit); }, 90);
}

// Two such threads: the flood goes on (a second for each, once), and both give theirs back.
TEST_P(ContractGivenUp, TwoHoldersThatBlockThePokesThenUnblock) {
  SIGRELAY_SKIP_WITHOUT_HOLDS();
  const backend kind = GetParam();
  SIGRELAY_IN_CHILD([kind] { run_case(kind, 2, then::unblock_all); }, 90);
}

// Two such threads that exit, both still holding: a later drain runs both deliveries.
TEST_P(ContractGivenUp, TwoHoldersThatExit) {
  SIGRELAY_SKIP_WITHOUT_HOLDS();
  const backend kind = GetParam();
  SIGRELAY_IN_CHILD([kind] { run_case(kind, 2, then::exit); }, 90);
}

// The object destroyed while such a thread holds for it (after the drains gave up on it), with
// another action of the signal staying: the teardown does not hang, and when the thread later
// unblocks, its held delivery reaches the action that stayed, once; the process is not ended by it.
TEST_P(ContractGivenUp, TheObjectDestroyedWhileAHolderBlocksThePokes) {
  SIGRELAY_SKIP_WITHOUT_HOLDS();
  const backend kind = GetParam();
  SIGRELAY_IN_CHILD(
      [kind] {
        const int rt = SIGRTMIN + 2;
        ASSERT_EQ(0, mask_one(SIG_BLOCK, rt));
        auto sigs = std::make_unique<sigrelay::signals>(std::initializer_list<int>{rt}, tiny_ring(kind));
        std::atomic<std::uint64_t> registry{0};
        const sigrelay::action_id counter = sigrelay::add_action(rt, sigrelay::relay::add_count(registry));
        holder h(rt, 0, kFirst, then::unblock_all, nullptr);
        while (!h.ready()) std::this_thread::sleep_for(1ms);
        ASSERT_TRUE(wait_for_holders(1));
        ASSERT_EQ(0, mask_one(SIG_UNBLOCK, rt));
        tally t;
        const auto deadline = std::chrono::steady_clock::now() + 20s;
        while (t.events < 2 && std::chrono::steady_clock::now() < deadline) t.take(sigs->wait_for(50ms));
        t.take(sigs->wait_for(1500ms));  // one drain gives up on the holder
        EXPECT_EQ(2U, t.events);
        EXPECT_EQ(2U, registry.load());
        const auto before = std::chrono::steady_clock::now();
        sigs.reset();
        EXPECT_LT(std::chrono::steady_clock::now() - before, 10s) << "the teardown hung on the holder";
        h.go();  // unblocks everything: its held delivery comes back, to the action that stayed
        while (registry.load() < kFirst && std::chrono::steady_clock::now() < deadline)
          std::this_thread::sleep_for(1ms);
        EXPECT_EQ(static_cast<std::uint64_t>(kFirst), registry.load());
        h.finish();
        EXPECT_TRUE(sigrelay::remove_action(counter));
      },
      90);
}

// The object destroyed while such a thread holds for it, then the thread exits still holding (the
// kernel discards what the hold re-queued to it), with another action of the signal staying: the
// next drain of any object runs the delivery, and that action sees it once.
TEST_P(ContractGivenUp, TheObjectDestroyedThenTheHolderExits) {
  SIGRELAY_SKIP_WITHOUT_HOLDS();
  const backend kind = GetParam();
  SIGRELAY_IN_CHILD(
      [kind] {
        const int rt = SIGRTMIN + 2;
        ASSERT_EQ(0, mask_one(SIG_BLOCK, rt));
        auto sigs = std::make_unique<sigrelay::signals>(std::initializer_list<int>{rt}, tiny_ring(kind));
        std::atomic<std::uint64_t> registry{0};
        const sigrelay::action_id counter = sigrelay::add_action(rt, sigrelay::relay::add_count(registry));
        holder h(rt, 0, kFirst, then::exit, nullptr);
        while (!h.ready()) std::this_thread::sleep_for(1ms);
        ASSERT_TRUE(wait_for_holders(1));
        ASSERT_EQ(0, mask_one(SIG_UNBLOCK, rt));
        tally t;
        t.take(sigs->pending());
        EXPECT_EQ(2U, t.events);
        sigs.reset();
        h.go();
        h.join();
        sigrelay::signals other({SIGUSR2});
        const auto deadline = std::chrono::steady_clock::now() + 10s;
        while (registry.load() < kFirst && std::chrono::steady_clock::now() < deadline)
          (void)other.wait_for(50ms);
        EXPECT_EQ(static_cast<std::uint64_t>(kFirst), registry.load()) << "the held delivery was lost";
        EXPECT_TRUE(sigrelay::remove_action(counter));
      },
      90);
}

// The same with no other action of the signal (SIG_DFL underneath), the thread unblocking after the
// teardown: the teardown cannot poke it, so its hold outlives the object, and the delivery it held
// meets the restored disposition when it unblocks: SIG_DFL of a realtime signal ends the process
// (signals.hpp, "Realtime floods": documented, as for what a flood queues after the teardown).
TEST_P(ContractGivenUp, TheOnlySubscriberDestroyedWhileAHolderBlocksThePokes) {
  SIGRELAY_SKIP_WITHOUT_HOLDS();
  const backend kind = GetParam();
  const int rt = SIGRTMIN + 2;
  const int status = sigrelay::test::run_in_child(
      [kind, rt] {
        ASSERT_EQ(0, mask_one(SIG_BLOCK, rt));
        auto sigs = std::make_unique<sigrelay::signals>(std::initializer_list<int>{rt}, tiny_ring(kind));
        holder h(rt, 0, kFirst, then::unblock_all, nullptr);
        while (!h.ready()) std::this_thread::sleep_for(1ms);
        ASSERT_TRUE(wait_for_holders(1));
        ASSERT_EQ(0, mask_one(SIG_UNBLOCK, rt));
        tally t;
        t.take(sigs->pending());
        EXPECT_EQ(2U, t.events);
        sigs.reset();
        EXPECT_EQ(SIG_DFL, sigrelay::test::query(rt).sa_handler);
        h.go();  // unblocks: the held delivery meets SIG_DFL
        std::this_thread::sleep_for(2s);
        ADD_FAILURE() << "the held delivery did not come back";
        h.finish();
      },
      90);
  EXPECT_TRUE(sigrelay::test::killed_by(status, rt)) << sigrelay::test::describe_status(status);
}

// The main thread (the thread group's leader) is the holder and exits (exit(2)), with both
// pokes blocked or not: the kernel keeps a leader that exits before the other threads as a zombie
// until the process ends (its /proc task entry stays), but it never runs a handler again, and the
// siginfo its hold re-queued to it is lost with it. A thread that exits while it holds has its
// deliveries run by the next drain (signals.hpp, "Realtime floods"): the consumer, on another
// thread, must get every delivery, without a second's stall per drain.
void main_thread_exits_holding(backend kind, bool block_pokes) {
  const int rt = SIGRTMIN + 2;
  static std::optional<sigrelay::signals> sigs;  // outlives the main thread
  static std::atomic<std::uint64_t> registry{0};
  static std::atomic<bool> exited{false};
  sigs.emplace(std::initializer_list<int>{rt}, tiny_ring(kind));
  sigrelay::add_action(rt, sigrelay::relay::add_count(registry));
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  std::thread consumer([rt] {  // every signal blocked until the main thread is gone
    while (!exited.load()) std::this_thread::sleep_for(1ms);
    std::this_thread::sleep_for(100ms);       // the leader is a zombie by now
    EXPECT_EQ(0, mask_one(SIG_UNBLOCK, rt));  // it takes the flood
    std::thread sender = start_sender(rt, kFirst, kMore);
    tally t;
    const auto deadline = std::chrono::steady_clock::now() + 40s;
    constexpr auto kSent = static_cast<std::uint64_t>(kFirst + kMore);
    while ((t.events + sigs->dropped() < kSent || registry.load() < kSent) &&
           std::chrono::steady_clock::now() < deadline)
      t.take(sigs->wait_for(50ms));
    const bool in_time = std::chrono::steady_clock::now() < deadline;
    sender.join();
    t.take(sigs->pending());
    EXPECT_TRUE(in_time) << "the consumer stalled";
    EXPECT_EQ(kSent, t.events + sigs->dropped())
        << t.events << " received, " << sigs->dropped() << " dropped";
    EXPECT_EQ(t.events, t.values.size()) << "a value came twice";
    EXPECT_EQ(kSent, registry.load()) << "the other action missed the held delivery";
    std::fflush(nullptr);
    ::_exit(testing::Test::HasFailure() ? 1 : 0);
  });
  consumer.detach();
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  ASSERT_EQ(0, mask_one(SIG_UNBLOCK, rt));
  for (int i = 0; i < kFirst; ++i) {
    union sigval v {};
    v.sival_int = i;
    ASSERT_EQ(0, sigqueue(getpid(), rt, v));  // the third is held here
  }
  ASSERT_TRUE(wait_for_holders(1));
  if (block_pokes) pthread_sigmask(SIG_BLOCK, &all, nullptr);
  exited = true;
  // The thread's own exit (pthread_exit() would unwind through run_in_child()'s catch, which ends
  // the process): the kernel task ends, its pthread is never joined.
  ::syscall(SYS_exit, 0);
}

TEST_P(ContractGivenUp, TheMainThreadExitsHoldingWithThePokesBlocked) {
  SIGRELAY_SKIP_WITHOUT_HOLDS();
  const backend kind = GetParam();
  SIGRELAY_IN_CHILD([kind] { main_thread_exits_holding(kind, true); }, 90);
}

TEST_P(ContractGivenUp, TheMainThreadExitsHolding) {
  SIGRELAY_SKIP_WITHOUT_HOLDS();
  const backend kind = GetParam();
  SIGRELAY_IN_CHILD([kind] { main_thread_exits_holding(kind, false); }, 90);
}

INSTANTIATE_TEST_SUITE_P(Backends, ContractGivenUp, testing::Values(backend::relay, backend::signalfd),
                         [](const testing::TestParamInfo<backend>& p) {
                           return p.param == backend::relay ? "relay" : "signalfd";
                         });

}  // namespace
