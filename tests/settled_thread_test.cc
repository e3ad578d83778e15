// SPDX-License-Identifier: MIT
// tests/settled_thread_test.cc — an object that owns a thread returns from its constructor (or
// start()) only once that thread runs with its creator's signal mask (sigrelay/detail/
// settled_thread.hpp): none is left inside glibc's thread start-up, with every signal blocked, where
// its mask restore could take a process-directed signal that the process sends itself next.
//
// Each body runs in a child pinned to one CPU, where a new thread cannot run beside its creator: there
// it is still starting when the constructor returns unless the constructor waited for it. Threads of
// a sanitizer's runtime, which block every signal for good, are left out (runtime_threads()).
#include <gtest/gtest.h>

#include <sys/types.h>
#include <chrono>
#include <csignal>
#include <set>

#include <sigrelay/describe.hpp>
#include <sigrelay/dispatcher.hpp>
#if __cplusplus >= 202002L && __has_include(<stop_token>)
#include <sigrelay/termination.hpp>
#endif

#include "support/child.hpp"
#include "support/flood_limit.hpp"  // pin_to_one_cpu()
#include "support/platform.hpp"
#include "support/process.hpp"

namespace {

using sigrelay::test::threads_with_another_mask;

constexpr int kRounds = 100;

class SettledThreadDispatcher : public testing::TestWithParam<sigrelay::backend> {};

// On the signalfd backend on() blocks the signal in the calling thread, which the background
// thread then inherits: the same mask again.
TEST_P(SettledThreadDispatcher, ItsBackgroundThreadRunsWithItsCreatorsMaskOnceStartReturns) {
  const sigrelay::backend kind = GetParam();
  if (kind == sigrelay::backend::signalfd) SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the signalfd backend");
  SIGRELAY_IN_CHILD([kind] {
    ASSERT_TRUE(sigrelay::test::pin_to_one_cpu());
    const std::set<pid_t> runtime = sigrelay::test::runtime_threads();
    for (int round = 0; round < kRounds; ++round) {
      sigrelay::dispatcher d(kind);
      d.on(SIGUSR1, [](const sigrelay::signal_event&) {});
      d.start();
      ASSERT_EQ(threads_with_another_mask(runtime), 0) << "round " << round;
      d.stop();
      d.join();
    }
  });
}

INSTANTIATE_TEST_SUITE_P(Backends, SettledThreadDispatcher,
                         testing::Values(sigrelay::backend::relay, sigrelay::backend::signalfd),
                         [](const testing::TestParamInfo<sigrelay::backend>& param) {
                           return param.param == sigrelay::backend::relay ? "relay" : "signalfd";
                         });

TEST(SettledThread, AnOwnershipWatchsThreadRunsWithItsCreatorsMaskOnceConstructed) {
  SIGRELAY_IN_CHILD([] {
    ASSERT_TRUE(sigrelay::test::pin_to_one_cpu());
    const std::set<pid_t> runtime = sigrelay::test::runtime_threads();
    for (int round = 0; round < kRounds; ++round) {
      const sigrelay::ownership_watch watch([](const sigrelay::ownership_loss&) {},
                                            std::chrono::milliseconds(1000));
      ASSERT_EQ(threads_with_another_mask(runtime), 0) << "round " << round;
    }
  });
}

#if __cplusplus >= 202002L && __has_include(<stop_token>)
TEST(SettledThread, ATerminationWatcherRunsWithItsCreatorsMaskOnceConstructed) {
  SIGRELAY_IN_CHILD([] {
    ASSERT_TRUE(sigrelay::test::pin_to_one_cpu());
    const std::set<pid_t> runtime = sigrelay::test::runtime_threads();
    for (int round = 0; round < kRounds; ++round) {
      const sigrelay::termination term;
      ASSERT_EQ(threads_with_another_mask(runtime), 0) << "round " << round;
    }
  });
}
#endif

}  // namespace
