// SPDX-License-Identifier: MIT
// tests/hold_exit_test.cc — a thread that exits while it holds realtime signals for a full ring.
//
// A hold (signals.hpp, "Realtime floods") re-queues the delivery that found the ring full to the
// receiving thread itself and blocks the signal there. If that thread then exits, the kernel discards
// the re-queued siginfo with it: that delivery must be counted by dropped(), never lost silently
// (found by the soak, tests/soak/soak.cc: received + dropped fell short of the accepted sends).
//
// Deterministic: the main thread blocks the signal, so that the one worker thread is the only one
// that can take the process-directed sigqueue()s it sends: the first fills the ring (capacity 1), the
// second is held in the worker, the rest stay queued to the process. The worker exits; the main
// thread then unblocks the signal and drains until every send is accounted for.
#include <gtest/gtest.h>

#include <pthread.h>
#include <unistd.h>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <set>
#include <thread>
#include <vector>

#include "sigrelay/signals.hpp"
#include "support/child.hpp"

namespace {

using namespace std::chrono_literals;
using sigrelay::backend;

#if defined(__SANITIZE_THREAD__)
constexpr bool kUnderThreadSanitizer = true;
#else
constexpr bool kUnderThreadSanitizer = false;
#endif

class HoldExit : public testing::TestWithParam<backend> {};

TEST_P(HoldExit, ADeliveryHeldByAThreadThatExitsIsCountedAsDropped) {
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

        int accepted = 0;
        std::thread worker([&] {
          ASSERT_EQ(0, pthread_sigmask(SIG_UNBLOCK, &one, nullptr));
          for (int i = 0; i < kSent; ++i) {
            union sigval v {};
            v.sival_int = i;
            if (sigqueue(getpid(), rt, v) == 0) ++accepted;
          }
          // Exits holding: the second delivery found the ring full and was re-queued to this thread.
        });
        worker.join();
        ASSERT_EQ(kSent, accepted);

        ASSERT_EQ(0, pthread_sigmask(SIG_UNBLOCK, &one, nullptr));  // the rest, queued to the process
        std::set<int> values;
        std::uint64_t events = 0;
        const auto deadline = std::chrono::steady_clock::now() + 20s;  // the watchdog allows 90 s
        while (events + sigs.dropped() < static_cast<std::uint64_t>(kSent) &&
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
        EXPECT_GE(sigs.dropped(), 1U) << "the held delivery went with the thread";
      },
      90);
}

INSTANTIATE_TEST_SUITE_P(Backends, HoldExit, testing::Values(backend::relay, backend::signalfd),
                         [](const testing::TestParamInfo<backend>& p) {
                           return p.param == backend::relay ? "relay" : "signalfd";
                         });

}  // namespace
