// SPDX-License-Identifier: MIT
// tests/longjmp_storm_test.cc — actions that leave by siglongjmp, many times, under signals that keep
// coming.
//
// registry.hpp ("Signal context"): an action that leaves by siglongjmp is tolerated: the registry
// stays usable (its section is given back at the thread's next signal), and nothing nests inside a
// run of the trampoline (it runs with every signal but the faults blocked), so a jump abandons that
// one run only, never another delivery's record. Two storms that broke both:
// - A timer's signal, whose action jumps back to the main loop, arriving while the same thread
//   recorded other signals: it nested inside the record and abandoned it half made. A standard
//   signal's origin slot stayed claimed for good (the consumer spun for ever in its next drain), a
//   jump out of the trampoline's own bookkeeping leaked a reader count (every later registry change
//   waited for ever), and realtime deliveries were lost without a count (19 of 4,000 in the first
//   test below); each within two seconds. By reading, a realtime cell could also stay unpublished
//   (every later delivery to that ring lost).
// - A queue of realtime signals whose action jumps: glibc's siglongjmp() unblocks before it jumps,
//   so each next delivery runs inside the previous jump, 200 deep. Sections deeper than the 32 that a
//   thread lists were never given back.
#include <gtest/gtest.h>

#include <pthread.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <atomic>
#include <chrono>
#include <csetjmp>
#include <csignal>
#include <cstdint>
#include <ctime>
#include <vector>

#include "sigrelay/registry.hpp"
#include "sigrelay/signals.hpp"
#include "support/child.hpp"
#include "support/platform.hpp"
#include "support/senders.hpp"

namespace {

using sigrelay::test::exited_with;
using sigrelay::test::wait_with_deadline;

// Handlers run on the thread's own stack: every nested run inside a jump stacks up on the stack the
// handler runs on, and an alternate signal stack (AddressSanitizer gives each thread one of a few
// dozen kilobytes) holds only a few of them, where a plain handler would overflow too.
void no_alternate_stack() {
  stack_t none{};
  none.ss_flags = SS_DISABLE;
  ASSERT_EQ(0, ::sigaltstack(&none, nullptr));
}

void set_blocked(std::initializer_list<int> signos, int how) {
  sigset_t set;
  sigemptyset(&set);
  for (const int s : signos) sigaddset(&set, s);
  ASSERT_EQ(0, pthread_sigmask(how, &set, nullptr));
}

sigjmp_buf g_out;
std::atomic<long> g_jumps{0};

// Signal context: counts, then leaves by siglongjmp to g_out (with the mask sigsetjmp saved).
void jump_out(void*, const siginfo_t&) noexcept {
  g_jumps.fetch_add(1);
  siglongjmp(g_out, 1);
}

// Takes what `sigs` has into the tallies: realtime values 0..n-1 seen (each once), SIGUSR2's count.
struct tally {
  std::vector<int> seen;
  std::uint64_t usr2 = 0;
  long lost_origins = 0;
  explicit tally(int n) : seen(static_cast<std::size_t>(n), 0) {}
  void take(const std::vector<sigrelay::signal_event>& events, int rt) {
    for (const auto& e : events) {
      if (e.signo == SIGUSR2) usr2 += e.count;
      if (e.signo != rt) continue;
      const int v = e.last.value.sival_int;
      if (v >= 0 && static_cast<std::size_t>(v) < seen.size()) ++seen[static_cast<std::size_t>(v)];
    }
  }
  int received() const {
    int n = 0;
    for (const int c : seen) n += c != 0 ? 1 : 0;
    return n;
  }
  int duplicates() const {
    int n = 0;
    for (const int c : seen) n += c > 1 ? c - 1 : 0;
    return n;
  }
};

// A sender process: sigqueue()s `rt` with the values 0..n-1 (retrying while the queue is full) and
// a kill() of SIGUSR2 after every 8th, paced so that the storm lasts about a second.
pid_t fork_paced_sender(pid_t target, int rt, int n) {
  const pid_t pid = ::fork();
  if (pid != 0) return pid;
  for (int i = 0; i < n; ++i) {
    while (::sigqueue(target, rt, sigval{.sival_int = i}) != 0) {
      if (errno != EAGAIN) ::_exit(2);
      ::usleep(100);
    }
    if (i % 8 == 7) {
      ::kill(target, SIGUSR2);
      ::usleep(2000);
    }
  }
  ::_exit(0);
}

// The first storm. The main thread records SIGUSR2 and a realtime signal (from another process)
// while a 100-microsecond timer sends it SIGUSR1, whose action jumps back into its loop. The loop
// spins with SIGUSR1 unblocked (deliveries run their records there, and the timer's jumps land
// there), then drains with SIGUSR1 blocked (jumping out of pending() is not allowed: it is not
// async-signal-safe to interrupt). Every realtime value must be handed out exactly once, none
// dropped, and the registry must still change afterwards.
TEST(LongjmpStorm, JumpsOutOfATimersActionNeverBreakAnotherDeliverysRecord) {
  if (SIGRELAY_TEST_UNDER_TSAN) {
    GTEST_SKIP() << "registry.hpp: a section left by siglongjmp is not released under ThreadSanitizer";
  }
  SIGRELAY_IN_CHILD(
      [] {
        const int rt = SIGRTMIN + 3;
        constexpr int kSent = 4000;
        no_alternate_stack();
        set_blocked({SIGUSR1}, SIG_BLOCK);
        sigrelay::signals sigs({SIGUSR2, rt});
        const sigrelay::action_id jumping = sigrelay::add_action(SIGUSR1, {jump_out, nullptr});
        timer_t timer{};
        sigevent event{};
        event.sigev_notify = SIGEV_THREAD_ID;
        event.sigev_signo = SIGUSR1;
        event._sigev_un._tid = static_cast<pid_t>(::syscall(SYS_gettid));
        ASSERT_EQ(0, timer_create(CLOCK_MONOTONIC, &event, &timer));
        const itimerspec every{{0, 100000}, {0, 100000}};
        ASSERT_EQ(0, timer_settime(timer, 0, &every, nullptr));

        static tally seen(kSent);  // (static: not clobbered by the jumps back into this frame)
        static std::vector<sigrelay::signal_event> events;
        events.reserve(1024);
        static pid_t sender = -1;
        sender = fork_paced_sender(::getpid(), rt, kSent);
        ASSERT_GT(sender, 0);
        static int status = -1;
        static bool sender_done = false;
        sigsetjmp(g_out, 1);  // every jump lands here, with SIGUSR1 blocked again (the saved mask)
        while (!sender_done) {
          set_blocked({SIGUSR1}, SIG_UNBLOCK);
          for (int spin = 0; spin < 20000; ++spin) asm volatile("" ::: "memory");
          set_blocked({SIGUSR1}, SIG_BLOCK);
          events.clear();
          sigs.pending(events);
          seen.take(events, rt);
          sender_done = ::waitpid(sender, &status, WNOHANG) == sender;
        }
        const itimerspec off{};
        ASSERT_EQ(0, timer_settime(timer, 0, &off, nullptr));
        ASSERT_EQ(0, timer_delete(timer));
        EXPECT_TRUE(exited_with(status, 0));
        // What is still on its way, until every value came (or 10 s).
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (seen.received() < kSent && std::chrono::steady_clock::now() < deadline) {
          seen.take(sigs.wait_for(std::chrono::milliseconds(50)), rt);
        }
        EXPECT_GT(g_jumps.load(), 100) << "the storm hardly jumped: it tested nothing";
        EXPECT_EQ(kSent, seen.received())
            << "realtime values handed out; dropped " << sigs.dropped() << ", jumps " << g_jumps.load();
        EXPECT_EQ(0, seen.duplicates());
        EXPECT_EQ(0U, sigs.dropped());
        EXPECT_GT(seen.usr2, 0U);
        // SIGUSR2 still comes through with its origin (its slot is not left claimed).
        ASSERT_TRUE(sigrelay::test::tgkill_self(SIGUSR2));
        const auto last = sigs.wait_for(std::chrono::seconds(5));
        ASSERT_EQ(1U, last.size());
        EXPECT_EQ(SIGUSR2, last[0].signo);
        EXPECT_EQ(sigrelay::origin_kind::thread, last[0].last.kind);
        // A registry change waits for no leaked reader count (the watchdog fails a hang).
        EXPECT_TRUE(sigrelay::remove_action(jumping));
      },
      60);
}

// The second storm: 200 realtime signals queued to the main thread while it blocks them, and an
// action that jumps for each. Unblocked, each delivery runs inside the previous one's siglongjmp()
// (which unblocks before it jumps), 200 runs deep, and the last jump lands back here. Every run
// must have jumped, and the removal that follows must not wait for ever for the deep runs' counts.
TEST(LongjmpStorm, TwoHundredJumpsNestedInsideEachOthersSiglongjmpAreAllReleased) {
  if (SIGRELAY_TEST_UNDER_TSAN) {
    GTEST_SKIP() << "registry.hpp: a section left by siglongjmp is not released under ThreadSanitizer";
  }
  SIGRELAY_IN_CHILD(
      [] {
        const int rt = SIGRTMIN + 2;
        constexpr int kQueued = 200;
        no_alternate_stack();
        set_blocked({rt, SIGUSR2}, SIG_BLOCK);
        const sigrelay::action_id jumping = sigrelay::add_action(rt, {jump_out, nullptr});
        sigrelay::signals sigs({SIGUSR2});
        for (int i = 0; i < kQueued; ++i) ASSERT_EQ(0, ::sigqueue(::getpid(), rt, sigval{.sival_int = i}));
        if (sigsetjmp(g_out, 1) == 0) {
          // Each jump puts back the mask saved here, with `rt` unblocked (glibc's sigjmp_buf), so that
          // the next delivery comes inside it. Then the first delivery comes.
          sigdelset(reinterpret_cast<sigset_t*>(&g_out[0].__saved_mask), rt);
          set_blocked({rt}, SIG_UNBLOCK);
        }
        if (g_jumps.load() < kQueued) {
          ASSERT_TRUE(false) << "only " << g_jumps.load() << " jumps";  // (a jump landed short)
        }
        set_blocked({rt}, SIG_BLOCK);
        EXPECT_EQ(kQueued, g_jumps.load());
        // The next signal releases the abandoned runs (the first 32 listed, the rest counted deep).
        set_blocked({SIGUSR2}, SIG_UNBLOCK);
        ASSERT_TRUE(sigrelay::test::tgkill_self(SIGUSR2));
        const auto got = sigs.pending();
        ASSERT_EQ(1U, got.size());
        EXPECT_EQ(SIGUSR2, got[0].signo);
        EXPECT_TRUE(sigrelay::remove_action(jumping));  // must not wait for ever (the watchdog)
      },
      30);
}

}  // namespace
