// SPDX-License-Identifier: MIT
// tests/hold_nesting_test.cc — a poke that arrives while the holding thread runs another handler.
//
// A hold (signals.hpp, "Realtime floods") blocks a realtime signal in the interrupted context of the
// holding thread; the consumer's drain pokes that thread (SIGURG) and the poke's handler lifts the
// hold by editing the uc_sigmask of the context it interrupted. If the thread is inside another
// handler then (any signal sigrelay handles, or a handler chained by it), a poke nested there edits
// only its own context: the outer handler's return restores the mask it saved, the signal blocked
// again, with the hold forgotten (nobody pokes again). Under a multi-threaded flood with several
// actions this left realtime signals held for good (tests/safety/safety_test.cc). The pokes now wait
// until the trampoline (and a handler it chains) has returned: src/handler/hold.hpp, "Nesting".
//
// Deterministic: the main thread blocks the signals, so that the one worker takes them. Three
// sigqueue()s: the first fills the ring (capacity 1), the second is held in the worker, the third
// stays queued to the process. The worker is then held inside a SIGUSR1 handler (an action, or a
// handler chained by the trampoline) while another thread drains, which pokes it. Released, the
// worker must end up with the signal unblocked, and every send must be received.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "handler/hold.hpp"  // the test hook
#include "sigrelay/registry.hpp"
#include "sigrelay/signals.hpp"
#include "support/child.hpp"
#include "support/platform.hpp"
#include "support/process.hpp"

namespace {

using namespace std::chrono_literals;
using sigrelay::backend;
using sigrelay::test::thread_blocks;

// 0: idle, 1: inside the SIGUSR1 handler, 2: left it. Written in signal context (lock-free atomics).
std::atomic<int> g_inside{0};
std::atomic<bool> g_release{false};

// Signal context: waits (spinning on an atomic, with nanosleep: async-signal-safe) until released.
void spin_until_released() noexcept {
  g_inside.store(1);
  while (!g_release.load()) {
    const struct timespec pause { 0, 100000 };
    nanosleep(&pause, nullptr);
  }
  g_inside.store(2);
}
void spin_action(void*, const siginfo_t&) noexcept { spin_until_released(); }
void spin_handler(int) { spin_until_released(); }
void nothing(void*, const siginfo_t&) noexcept {}

enum class inner { action, chained_handler };

class HoldNesting : public testing::TestWithParam<inner> {};

TEST_P(HoldNesting, APokeWhileTheHolderRunsAnotherHandlerLiftsTheHold) {
  SIGRELAY_SKIP_WITHOUT_HOLDS();
  const inner where = GetParam();
  SIGRELAY_IN_CHILD(
      [where] {
        constexpr int kSent = 3;
        const int rt = SIGRTMIN + 1;
        sigset_t ours;
        sigemptyset(&ours);
        sigaddset(&ours, rt);
        sigaddset(&ours, SIGUSR1);
        ASSERT_EQ(0, pthread_sigmask(SIG_BLOCK, &ours, nullptr));  // here: the worker alone takes them
        if (where == inner::chained_handler) {
          struct sigaction sa {};
          sa.sa_handler = spin_handler;
          sigemptyset(&sa.sa_mask);
          ASSERT_EQ(0, sigaction(SIGUSR1, &sa, nullptr));  // the trampoline chains it
        }
        const sigrelay::action_id usr1 =
            sigrelay::add_action(SIGUSR1, where == inner::action ? sigrelay::action{spin_action, nullptr}
                                                                 : sigrelay::action{nothing, nullptr});
        sigrelay::signals_options options;
        options.backend = backend::relay;
        options.realtime_capacity = 1;
        sigrelay::signals sigs({rt}, options);

        std::atomic<pid_t> worker_tid{0};
        std::atomic<bool> done{false};
        std::thread worker([&] {
          worker_tid = static_cast<pid_t>(syscall(SYS_gettid));
          pthread_sigmask(SIG_UNBLOCK, &ours, nullptr);
          while (!done.load()) {
            const struct timespec pause { 0, 1000000 };
            nanosleep(&pause, nullptr);
          }
        });
        while (worker_tid.load() == 0) std::this_thread::yield();
        const pid_t tid = worker_tid.load();
        for (int i = 0; i < kSent; ++i) {
          union sigval v {};
          v.sival_int = i;
          ASSERT_EQ(0, sigqueue(getpid(), rt, v));
        }
        // The second delivery found the ring full: the worker holds the signal.
        auto deadline = std::chrono::steady_clock::now() + 20s;
        while (!thread_blocks(tid, rt) && std::chrono::steady_clock::now() < deadline)
          std::this_thread::sleep_for(1ms);
        ASSERT_TRUE(thread_blocks(tid, rt)) << "the worker never held the signal";

        // The worker enters the SIGUSR1 handler and stays there; another thread drains meanwhile,
        // which pokes the worker.
        ASSERT_EQ(0, syscall(SYS_tgkill, getpid(), tid, SIGUSR1));
        while (g_inside.load() != 1 && std::chrono::steady_clock::now() < deadline)
          std::this_thread::sleep_for(1ms);
        ASSERT_EQ(1, g_inside.load()) << "the worker never ran the SIGUSR1 handler";
        std::set<int> values;
        std::atomic<bool> drained{false};
        std::thread consumer([&] {
          for (const sigrelay::signal_event& e : sigs.pending()) values.insert(e.last.value.sival_int);
          drained = true;
        });
        // Let the drain poke while the worker is inside (a poke that nests there is the case under
        // test); the drain itself waits for the worker to leave the trampoline, up to a second.
        const auto poked_by = std::chrono::steady_clock::now() + 500ms;
        while (!drained.load() && std::chrono::steady_clock::now() < poked_by)
          std::this_thread::sleep_for(1ms);
        g_release = true;
        consumer.join();
        while (g_inside.load() != 2 && std::chrono::steady_clock::now() < deadline)
          std::this_thread::sleep_for(1ms);
        EXPECT_EQ(2, g_inside.load()) << "the worker never left the SIGUSR1 handler";

        // Every send is received: the hold is lifted (by this drain's poke or a later one).
        deadline = std::chrono::steady_clock::now() + 20s;  // the watchdog allows 90 s
        while (values.size() < static_cast<std::size_t>(kSent) &&
               std::chrono::steady_clock::now() < deadline) {
          for (const sigrelay::signal_event& e : sigs.wait_for(50ms)) values.insert(e.last.value.sival_int);
        }
        EXPECT_EQ(static_cast<std::size_t>(kSent), values.size())
            << values.size() << " received; the worker still blocks the signal: " << thread_blocks(tid, rt);
        EXPECT_EQ(0U, sigs.dropped());
        // The worker may still be inside the handler that recorded the last value (the kernel blocks
        // the signal during its own handler, and this thread woke as soon as it was recorded): a
        // block that lasts is the failure, not that one.
        deadline = std::chrono::steady_clock::now() + 5s;
        while (thread_blocks(tid, rt) && std::chrono::steady_clock::now() < deadline)
          std::this_thread::sleep_for(1ms);
        EXPECT_FALSE(thread_blocks(tid, rt)) << "a hold's block outlived its lift";
        done = true;
        worker.join();
        sigrelay::remove_action(usr1);
      },
      90);
}

// A hold taken inside another handler outlives that handler's return. signals.hpp, "Realtime floods":
// the stash of a refused re-queue "runs before anything else of the signal reaches that thread: still
// held, never dropped for that". The nested run blocks the signal in its own context; the enclosing
// run's return used to restore the mask its delivery had saved, without the block, so the next
// delivery of the signal ran the stash at once, into the ring that was still full: dropped (every
// remaining drop of the soak's C0 and dispatcher, 2026-12-06). Deterministic, on the only thread: a
// ring of 8 is full; a SIGUSR1 action queues value 8 with the signal blocked, lowers
// RLIMIT_SIGPENDING to 0 so that the hold's re-queue is refused (a stash), and unblocks it, so that
// the delivery holds nested inside the action. After the SIGUSR1 handler returns the signal must
// still be blocked here, value 9 must stay queued, and the drains must get 0..9 in order.
std::atomic<int> g_nested_queue_errno{-1};
std::atomic<int> g_nested_limit_errno{-1};
int g_nested_signal = 0;

// Signal context (the test's own action: system calls only).
void queue_and_hold_nested(void*, const siginfo_t&) noexcept {
  const int sig = g_nested_signal;
  sigset_t only;
  sigemptyset(&only);
  sigaddset(&only, sig);
  pthread_sigmask(SIG_BLOCK, &only, nullptr);
  union sigval value {};
  value.sival_int = 8;
  g_nested_queue_errno = sigqueue(getpid(), sig, value) == 0 ? 0 : errno;
  struct rlimit saved {};
  getrlimit(RLIMIT_SIGPENDING, &saved);
  struct rlimit none = saved;
  none.rlim_cur = 0;
  g_nested_limit_errno = setrlimit(RLIMIT_SIGPENDING, &none) == 0 ? 0 : errno;
  pthread_sigmask(SIG_UNBLOCK, &only, nullptr);  // value 8 is delivered here, nested, and held
  setrlimit(RLIMIT_SIGPENDING, &saved);
}

// The set-up of the tests below, in two steps around the caller making `full` (a relay ring of 8 on
// `rt`): first `rt` ignored (nothing fatal once every object is gone) and unblocked here, with
// SIGUSR1; then values 0..7 fill the ring and value 8 is stashed in a hold nested inside a SIGUSR1
// action (queue_and_hold_nested()), whose id goes to `usr1`.
void prepare_nested(int rt) {
  g_nested_signal = rt;
  ASSERT_NE(SIG_ERR, std::signal(rt, SIG_IGN));  // nothing fatal once every object is gone
  sigset_t ours;
  sigemptyset(&ours);
  sigaddset(&ours, rt);
  sigaddset(&ours, SIGUSR1);
  ASSERT_EQ(0, pthread_sigmask(SIG_UNBLOCK, &ours, nullptr));
}
void stash_value_8_nested(int rt, sigrelay::action_id& usr1) {
  for (int i = 0; i < 8; ++i) {
    union sigval v {};
    v.sival_int = i;
    ASSERT_EQ(0, sigqueue(getpid(), rt, v));
  }
  usr1 = sigrelay::add_action(SIGUSR1, {queue_and_hold_nested, nullptr});
  ASSERT_EQ(0, syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGUSR1));
  ASSERT_EQ(0, g_nested_queue_errno.load()) << "the action's sigqueue()";
  ASSERT_EQ(0, g_nested_limit_errno.load()) << "the action's setrlimit()";
}

// Drains `full` until it has handed out values 0..count-1 of `rt` (each drain lifts this thread's
// holds, which lets the next values in): they come in order, none dropped, and nothing of `rt` is
// left blocked here (nor the pokes) or queued.
void expect_values_then_nothing_left(sigrelay::signals& full, int rt, std::size_t count) {
  std::vector<sigrelay::signal_event> got;
  for (int round = 0; round < 100 && got.size() < count; ++round) {
    const std::vector<sigrelay::signal_event> batch = full.pending();
    got.insert(got.end(), batch.begin(), batch.end());
  }
  ASSERT_EQ(count, got.size()) << "dropped: " << full.dropped();
  for (std::size_t i = 0; i < got.size(); ++i)
    EXPECT_EQ(static_cast<int>(i), got[i].last.value.sival_int) << "event " << i;
  EXPECT_EQ(0U, full.dropped());
  sigset_t now;
  ASSERT_EQ(0, pthread_sigmask(SIG_BLOCK, nullptr, &now));
  EXPECT_EQ(0, sigismember(&now, rt)) << "a hold was left behind";
  EXPECT_EQ(0, sigismember(&now, SIGURG)) << "the pokes were left blocked";
  EXPECT_EQ(0, sigismember(&now, SIGWINCH)) << "the pokes were left blocked";
  sigset_t pending;
  ASSERT_EQ(0, sigpending(&pending));
  EXPECT_EQ(0, sigismember(&pending, rt)) << "a value was left in the kernel";
}

// After `by` ran with value 8 stashed and `full` still full: the stash was kept, so `full` (and
// `removed`, if given) dropped nothing and `rt` is still blocked here.
void expect_stash_kept(const sigrelay::signals& full, const sigrelay::signals* removed, int rt,
                       const std::string& by) {
  EXPECT_EQ(0U, full.dropped()) << by << " ran the stash into the full ring";
  if (removed != nullptr) {
    EXPECT_EQ(0U, removed->dropped()) << "the removed object counted what it left held";
  }
  sigset_t now;
  ASSERT_EQ(0, pthread_sigmask(SIG_BLOCK, nullptr, &now));
  EXPECT_EQ(1, sigismember(&now, rt)) << by << " unblocked the signal of the kept stash";
}

TEST(HoldNestingStash, AHoldTakenInsideAnotherHandlerStaysBlockedAfterItsReturn) {
  SIGRELAY_SKIP_WITHOUT_HOLDS();
  SIGRELAY_IN_CHILD(
      [] {
        const int rt = SIGRTMIN + 2;
        ASSERT_NO_FATAL_FAILURE(prepare_nested(rt));
        sigrelay::signals full({rt}, sigrelay::signals_options{backend::relay, 8});
        sigrelay::action_id usr1;
        ASSERT_NO_FATAL_FAILURE(stash_value_8_nested(rt, usr1));
        sigset_t now;
        ASSERT_EQ(0, pthread_sigmask(SIG_BLOCK, nullptr, &now));
        EXPECT_EQ(1, sigismember(&now, rt)) << "the nested hold's block was undone by the SIGUSR1 return";
        union sigval nine {};
        nine.sival_int = 9;
        ASSERT_EQ(0, sigqueue(getpid(), rt, nine));
        EXPECT_EQ(0U, full.dropped()) << "the stash ran into the full ring";

        expect_values_then_nothing_left(full, rt, 10);
        sigrelay::remove_action(usr1);
      },
      30);
}

// A lift puts off a stash whose ring would hold it again. hold.hpp, "Stashes": a lift while the
// stash's ring is still (or again) nearly full keeps that signal held, with the stash, instead of
// running it into the ring with no hold. As above, value 8 of a full ring of 8 is stashed, held on
// the only thread; then another object's drain on that thread lifts this thread's holds (as every
// drain does) while the ring is still full: the stash stays, the signal blocked, nothing dropped
// (before: the stash ran and was dropped). The full ring's own drains then get 0..8 in order.
TEST(HoldNestingStash, ALiftKeepsAStashWhoseRingWouldHoldIt) {
  SIGRELAY_SKIP_WITHOUT_HOLDS();
  SIGRELAY_IN_CHILD(
      [] {
        const int rt = SIGRTMIN + 2;
        ASSERT_NO_FATAL_FAILURE(prepare_nested(rt));
        sigrelay::signals full({rt}, sigrelay::signals_options{backend::relay, 8});
        sigrelay::signals other({SIGUSR2}, backend::relay);
        sigrelay::action_id usr1;
        ASSERT_NO_FATAL_FAILURE(stash_value_8_nested(rt, usr1));

        EXPECT_TRUE(other.pending().empty());  // its drain lifts this thread's holds, the ring still full
        ASSERT_NO_FATAL_FAILURE(expect_stash_kept(full, nullptr, rt, "the lift"));

        expect_values_then_nothing_left(full, rt, 9);
        sigrelay::remove_action(usr1);
      },
      30);
}

// A removal keeps a stash that another object's ring would hold. signals.hpp, "Realtime floods": a
// stash "runs before anything else of the signal reaches that thread: still held, never dropped for
// that". remove() on the holding thread used to run every stash of the thread at once, where nothing
// can hold, so the other object's full ring dropped it. As above, value 8 is stashed in a hold on the
// only thread, with two rings of 8 full; then one object removes the signal there. The stash must
// stay held (the signal blocked, nothing dropped in either object), and the other object's drains
// must get 0..8 in order.
TEST(HoldNestingStash, ARemovalKeepsTheStashThatAnotherRingWouldHold) {
  SIGRELAY_SKIP_WITHOUT_HOLDS();
  SIGRELAY_IN_CHILD(
      [] {
        const int rt = SIGRTMIN + 2;
        ASSERT_NO_FATAL_FAILURE(prepare_nested(rt));
        sigrelay::signals full({rt}, sigrelay::signals_options{backend::relay, 8});
        sigrelay::signals removed({rt}, sigrelay::signals_options{backend::relay, 8});
        sigrelay::action_id usr1;
        ASSERT_NO_FATAL_FAILURE(stash_value_8_nested(rt, usr1));

        removed.remove(rt);  // on the holding thread, with the other ring still full
        ASSERT_NO_FATAL_FAILURE(expect_stash_kept(full, &removed, rt, "the removal"));

        expect_values_then_nothing_left(full, rt, 9);
        EXPECT_EQ(0U, removed.dropped());
        sigrelay::remove_action(usr1);
      },
      30);
}

// A hold cancelled because its object began unsubscribing keeps a stash that another object's ring
// would hold. hold.hpp, "Unsubscribing": a hold that finds its sink unsubscribing once its thread is
// listed cancels itself; it used to run a stash at once, with no hold, into every ring, and the other
// object's full ring dropped it. As above, with two rings of 8 full (the one removed first in the
// snapshot, so that the hold's probe picks it); the test hook, at the claim of the holding thread's
// entry, lets another thread begin the removal and waits for it to mark the object unsubscribing.
// (Were that thread slower than the wait, the hold would not be cancelled but poked by the removal,
// and a lift keeps the stash too: the test then checks that path instead.)
std::atomic<pid_t> g_claim_tid{0};
std::atomic<bool> g_claimed{false};

// Signal context (the test hook): atomics and nanosleep() only.
void let_the_removal_begin(sigrelay::detail::hook_point where) noexcept {
  if (where != sigrelay::detail::hook_point::claim || syscall(SYS_gettid) != g_claim_tid.load()) return;
  g_claimed.store(true);
  const timespec pause{0, 200'000'000};
  nanosleep(&pause, nullptr);
}

TEST(HoldNestingStash, ACancelledHoldKeepsTheStashThatAnotherRingWouldHold) {
  SIGRELAY_SKIP_WITHOUT_HOLDS();
  SIGRELAY_IN_CHILD(
      [] {
        const int rt = SIGRTMIN + 2;
        ASSERT_NO_FATAL_FAILURE(prepare_nested(rt));
        sigrelay::signals removed({rt}, sigrelay::signals_options{backend::relay, 8});
        sigrelay::signals full({rt}, sigrelay::signals_options{backend::relay, 8});
        g_claim_tid.store(static_cast<pid_t>(syscall(SYS_gettid)));
        sigrelay::detail::g_hold_test_hook.store(let_the_removal_begin);
        std::atomic<bool> give_up{false};
        // The remover starts with `rt` blocked (its mask is this thread's at its creation): every
        // delivery must reach this thread.
        sigset_t only;
        sigemptyset(&only);
        sigaddset(&only, rt);
        ASSERT_EQ(0, pthread_sigmask(SIG_BLOCK, &only, nullptr));
        std::thread remover([&] {
          while (!g_claimed.load() && !give_up.load()) usleep(100);
          if (g_claimed.load()) removed.remove(rt);
        });
        ASSERT_EQ(0, pthread_sigmask(SIG_UNBLOCK, &only, nullptr));
        sigrelay::action_id usr1;
        stash_value_8_nested(rt, usr1);
        give_up.store(true);
        remover.join();
        sigrelay::detail::g_hold_test_hook.store(nullptr);
        ASSERT_FALSE(HasFatalFailure());
        ASSERT_TRUE(g_claimed.load()) << "the hold never claimed an entry";

        ASSERT_NO_FATAL_FAILURE(expect_stash_kept(full, &removed, rt, "the cancelled hold"));

        expect_values_then_nothing_left(full, rt, 9);
        sigrelay::remove_action(usr1);
      },
      30);
}

INSTANTIATE_TEST_SUITE_P(Inner, HoldNesting, testing::Values(inner::action, inner::chained_handler),
                         [](const testing::TestParamInfo<inner>& p) {
                           return p.param == inner::action ? "action" : "chained_handler";
                         });

}  // namespace
