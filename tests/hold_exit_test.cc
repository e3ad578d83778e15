// SPDX-License-Identifier: MIT
// tests/hold_exit_test.cc — a thread that exits while it holds realtime signals for a full ring.
//
// A hold (signals.hpp, "Realtime floods") re-queues the whole delivery that found the ring (nearly)
// full to the receiving thread itself, before any action runs, and blocks the signal there. If that
// thread then exits, the kernel discards the re-queued siginfo with it. The consumer that finds the
// thread gone runs that delivery itself, so that every action of the signal sees it once (found by
// the soak, tests/soak/soak.cc: first received + dropped fell short of the accepted sends; then,
// with the loss counted in the object's dropped() alone, the registry action beside it stayed one
// delivery short, for good). And a hold that the return of an enclosing handler undoes (its siginfo
// comes back at once and is received) must not be run or counted again when its thread exits later.
//
// Deterministic: the main thread blocks the signal, so that one worker thread takes what is sent.
// The first test: the worker sends 16 sigqueue()s to the process; the first two fill the ring (its
// smallest capacity, 2), the third is held in the worker, the rest stay queued to the process. The
// worker exits; the main thread then unblocks the signal and drains until every send is accounted
// for, by the object and by a registry action. The second: inside a foreign SIGUSR2 handler (not
// sigrelay's, with the pokes in its sa_mask) the worker sends the signal to itself three times: the
// first two are recorded, the third held in the handler's frame; the main thread empties the ring
// and releases the handler, whose return unblocks the signal: the held siginfo comes back and is
// recorded. The worker then exits, still listed as a holder; every count must be exact.
#include <gtest/gtest.h>

#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <set>
#include <thread>
#include <vector>

#include "sigrelay/registry.hpp"
#include "sigrelay/relays.hpp"
#include "sigrelay/signals.hpp"
#include "support/child.hpp"
#include "support/platform.hpp"

namespace {

using namespace std::chrono_literals;
using sigrelay::backend;

#if defined(__SANITIZE_THREAD__)
constexpr bool kUnderThreadSanitizer = true;
#else
constexpr bool kUnderThreadSanitizer = false;
#endif

class HoldExit : public testing::TestWithParam<backend> {};

TEST_P(HoldExit, ADeliveryHeldByAThreadThatExitsReachesEveryAction) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("holds (the posix layer counts a full ring in dropped())");
  if (kUnderThreadSanitizer)
    GTEST_SKIP() << "no holds under ThreadSanitizer (see signals.hpp, \"Realtime floods\")";
  const backend kind = GetParam();
  SIGRELAY_IN_CHILD(
      [kind] {
        constexpr int kSent = 16;
        const int rt = SIGRTMIN + 2;
        sigset_t one;
        sigemptyset(&one);
        sigaddset(&one, rt);
        ASSERT_EQ(0, pthread_sigmask(SIG_BLOCK, &one, nullptr));  // here: the worker alone takes them
        sigrelay::signals_options options;
        options.backend = kind;
        options.realtime_capacity = 1;
        sigrelay::signals sigs({rt}, options);
        // Another action of the signal: it sees a held delivery only when that delivery runs.
        std::atomic<std::uint64_t> registry{0};
        const sigrelay::action_id counter = sigrelay::add_action(rt, sigrelay::relay::add_count(registry));

        int accepted = 0;
        std::thread worker([&] {
          ASSERT_EQ(0, pthread_sigmask(SIG_UNBLOCK, &one, nullptr));
          for (int i = 0; i < kSent; ++i) {
            union sigval v {};
            v.sival_int = i;
            if (sigqueue(getpid(), rt, v) == 0) ++accepted;
          }
          // Exits holding: the third delivery found the ring full and was re-queued to this thread.
        });
        worker.join();
        ASSERT_EQ(kSent, accepted);
        EXPECT_EQ(2U, registry.load()) << "the third delivery was not held";

        ASSERT_EQ(0, pthread_sigmask(SIG_UNBLOCK, &one, nullptr));  // the rest, queued to the process
        std::set<int> values;
        std::uint64_t events = 0;
        const auto deadline = std::chrono::steady_clock::now() + 20s;  // the watchdog allows 90 s
        while ((events + sigs.dropped() < static_cast<std::uint64_t>(kSent) ||
                registry.load() < static_cast<std::uint64_t>(kSent)) &&
               std::chrono::steady_clock::now() < deadline) {
          for (const sigrelay::signal_event& e : sigs.wait_for(50ms)) {
            ++events;
            values.insert(e.last.value.sival_int);
          }
        }
        for (const sigrelay::signal_event& e : sigs.pending()) {  // nothing more may come
          ++events;
          values.insert(e.last.value.sival_int);
        }
        EXPECT_EQ(events, values.size()) << "a value came twice";
        EXPECT_EQ(static_cast<std::uint64_t>(kSent), events + sigs.dropped())
            << events << " received, " << sigs.dropped() << " dropped";
        EXPECT_EQ(sigs.dropped(), sigs.dropped(rt));
        EXPECT_EQ(static_cast<std::uint64_t>(kSent), registry.load())
            << "the registry action missed the delivery held by the exited thread";
        EXPECT_TRUE(sigrelay::remove_action(counter));
      },
      90);
}

// Written in signal context (lock-free atomics).
std::atomic<int> g_stage{0};  // 1: the worker is inside the SIGUSR2 handler, holding; 2: it left
std::atomic<bool> g_release{false};
std::atomic<int> g_rt{0};

// Signal context (a foreign handler, not sigrelay's): sends g_rt to this thread three times (the first
// two fill the ring, the third is held in this handler's frame), then waits until released. Only raw
// system calls, atomics and nanosleep.
void send_thrice_and_wait(int) {
  const int rt = g_rt.load();
  const auto pid = static_cast<pid_t>(syscall(SYS_getpid));
  const auto tid = static_cast<pid_t>(syscall(SYS_gettid));
  for (int i = 0; i < 3; ++i) {
    siginfo_t info{};
    info.si_signo = rt;
    info.si_code = SI_QUEUE;
    info.si_pid = pid;
    info.si_uid = static_cast<uid_t>(syscall(SYS_getuid));
    info.si_value.sival_int = i;
    syscall(SYS_rt_tgsigqueueinfo, pid, tid, rt, &info);  // delivered on the way back, nested here
  }
  g_stage.store(1);
  while (!g_release.load()) {
    const struct timespec pause { 0, 100000 };
    nanosleep(&pause, nullptr);
  }
  g_stage.store(2);
}

TEST_P(HoldExit, AHoldUndoneByAnEnclosingHandlerIsNotCountedAgainWhenItsThreadExits) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("holds (the posix layer counts a full ring in dropped())");
  if (kUnderThreadSanitizer)
    GTEST_SKIP() << "no holds under ThreadSanitizer (see signals.hpp, \"Realtime floods\")";
  const backend kind = GetParam();
  SIGRELAY_IN_CHILD(
      [kind] {
        const int rt = SIGRTMIN + 2;
        g_rt = rt;
        sigset_t ours;
        sigemptyset(&ours);
        sigaddset(&ours, rt);
        sigaddset(&ours, SIGUSR2);
        ASSERT_EQ(0, pthread_sigmask(SIG_BLOCK, &ours, nullptr));  // here: the worker alone takes them
        struct sigaction sa {};
        sa.sa_handler = send_thrice_and_wait;
        sigemptyset(&sa.sa_mask);
        sigaddset(&sa.sa_mask, SIGURG);  // sigrelay's pokes wait until it returns
        sigaddset(&sa.sa_mask, SIGWINCH);
        ASSERT_EQ(0, sigaction(SIGUSR2, &sa, nullptr));
        sigrelay::signals_options options;
        options.backend = kind;
        options.realtime_capacity = 1;
        sigrelay::signals sigs({rt}, options);
        std::atomic<std::uint64_t> registry{0};
        const sigrelay::action_id counter = sigrelay::add_action(rt, sigrelay::relay::add_count(registry));

        std::atomic<pid_t> worker_tid{0};
        std::atomic<bool> done{false};
        std::thread worker([&] {
          pthread_sigmask(SIG_UNBLOCK, &ours, nullptr);
          worker_tid = static_cast<pid_t>(syscall(SYS_gettid));
          while (!done.load()) {
            const struct timespec pause { 0, 1000000 };
            nanosleep(&pause, nullptr);
          }
        });
        while (worker_tid.load() == 0) std::this_thread::yield();
        ASSERT_EQ(0, syscall(SYS_tgkill, getpid(), worker_tid.load(), SIGUSR2));
        const auto deadline = std::chrono::steady_clock::now() + 20s;  // the watchdog allows 90 s
        while (g_stage.load() != 1 && std::chrono::steady_clock::now() < deadline)
          std::this_thread::sleep_for(1ms);
        ASSERT_EQ(1, g_stage.load()) << "the worker never ran the SIGUSR2 handler";
        EXPECT_EQ(2U, registry.load()) << "the third delivery was not held";

        // Empties the ring (its poke of the worker waits, up to a second, and gives up: the worker
        // blocks both pokes in the handler).
        std::set<int> values;
        std::uint64_t events = 0;
        const auto take = [&](const std::vector<sigrelay::signal_event>& batch) {
          for (const sigrelay::signal_event& e : batch) {
            ++events;
            values.insert(e.last.value.sival_int);
          }
        };
        take(sigs.pending());
        g_release = true;  // the handler's return unblocks the signal: the held siginfo comes back
        while (g_stage.load() != 2 && std::chrono::steady_clock::now() < deadline)
          std::this_thread::sleep_for(1ms);
        ASSERT_EQ(2, g_stage.load()) << "the worker never left the SIGUSR2 handler";
        done = true;
        worker.join();  // it ran the delivery that came back before its own code, then exited

        while ((events < 3 || registry.load() < 3) && std::chrono::steady_clock::now() < deadline)
          take(sigs.wait_for(50ms));
        take(sigs.pending());  // finds the worker gone (still listed as a holder)
        take(sigs.pending());
        EXPECT_EQ(events, values.size()) << "a value came twice";
        EXPECT_EQ(3U, events);
        EXPECT_EQ(0U, sigs.dropped()) << "a received delivery was counted as dropped too";
        EXPECT_EQ(3U, registry.load()) << "an action saw a delivery twice, or missed one";
        EXPECT_TRUE(sigrelay::remove_action(counter));
      },
      90);
}

INSTANTIATE_TEST_SUITE_P(Backends, HoldExit, testing::Values(backend::relay, backend::signalfd),
                         [](const testing::TestParamInfo<backend>& p) {
                           return p.param == backend::relay ? "relay" : "signalfd";
                         });

}  // namespace
