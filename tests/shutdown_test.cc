// tests/shutdown_test.cc — graceful shutdown end to end, each case in a child process.
#include <gtest/gtest.h>

#include <unistd.h>
#include <atomic>
#include <csignal>

#include "sigrelay/registry.hpp"
#include "sigrelay/shutdown.hpp"
#include "support/child.hpp"

namespace {

using sigrelay::test::exited_with;
using sigrelay::test::killed_by;
using sigrelay::test::run_in_child;

void wait_for_stop(const sigrelay::shutdown& s) {
  for (int i = 0; i < 5000 && !s.stop_requested(); ++i) usleep(1000);
}

TEST(Shutdown, FirstSignalRequestsTheStopAndExitDiesByIt) {
  const int status = run_in_child([] {
    sigrelay::shutdown shutdown;
    std::atomic<bool> callback_ran{false};
    std::stop_callback on_stop(shutdown.token(), [&] { callback_ran.store(true); });
    EXPECT_FALSE(shutdown.stop_requested());
    kill(getpid(), SIGTERM);
    wait_for_stop(shutdown);
    EXPECT_TRUE(shutdown.stop_requested());
    EXPECT_TRUE(callback_ran.load());
    EXPECT_EQ(SIGTERM, shutdown.signal());
    if (testing::Test::HasFailure()) _exit(1);
    shutdown.exit(0);  // graceful stop done: the parent must see "killed by SIGTERM"
  });
  EXPECT_TRUE(killed_by(status, SIGTERM));
}

TEST(Shutdown, SecondSignalKillsAtOnceEvenIfTheProgramIsStuck) {
  const int status = run_in_child([] {
    sigrelay::shutdown shutdown;
    kill(getpid(), SIGINT);
    wait_for_stop(shutdown);
    if (!shutdown.stop_requested()) _exit(3);
    kill(getpid(), SIGINT);  // e.g. the user pressed Ctrl+C again during a slow cleanup
    _exit(4);                // not reached
  });
  EXPECT_TRUE(killed_by(status, SIGINT));
}

TEST(Shutdown, WithoutASignalExitUsesTheStatus) {
  const int status = run_in_child([] {
    sigrelay::shutdown shutdown;
    shutdown.exit(3);
  });
  EXPECT_TRUE(exited_with(status, 3));
}

TEST(Shutdown, AProgrammaticStopMakesTheNextSignalFatal) {
  const int status = run_in_child([] {
    sigrelay::shutdown shutdown;
    shutdown.request_stop();
    EXPECT_TRUE(shutdown.token().stop_requested());
    EXPECT_EQ(0, shutdown.signal());
    kill(getpid(), SIGTERM);
    _exit(4);
  });
  EXPECT_TRUE(killed_by(status, SIGTERM));
}

TEST(Shutdown, DestructionGivesTheSignalsBack) {
  SIGRELAY_IN_CHILD([] {
    { sigrelay::shutdown shutdown({SIGINT, SIGTERM, SIGHUP}); }
    for (const int signo : {SIGINT, SIGTERM, SIGHUP}) {
      struct sigaction sa {};
      sigaction(signo, nullptr, &sa);
      EXPECT_EQ(SIG_DFL, sa.sa_handler) << sigrelay::signal_name(signo);
    }
  });
}

}  // namespace
