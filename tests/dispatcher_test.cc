// SPDX-License-Identifier: MIT
// tests/dispatcher_test.cc — callbacks per signal on a chosen thread, with real signals.
#include <gtest/gtest.h>

#include <pthread.h>
#include <unistd.h>
#include <atomic>
#include <csignal>
#include <stdexcept>
#include <thread>

#include "sigrelay/dispatcher.hpp"
#include "support/child.hpp"

namespace {

using sigrelay::dispatcher;
using sigrelay::signal_event;

void wait_until(const std::atomic<int>& value, int at_least) {
  for (int i = 0; i < 5000 && value.load() < at_least; ++i) usleep(1000);
}

TEST(Dispatcher, RunsCallbacksOnTheThreadThatCallsRun) {
  SIGRELAY_IN_CHILD([] {
    dispatcher d;
    std::atomic<int> calls{0};
    std::atomic<pid_t> ran_on{0};
    d.on(SIGUSR1, [&](const signal_event& e) {
      EXPECT_EQ(SIGUSR1, e.signo);
      ran_on.store(gettid());
      if (calls.fetch_add(1) + 1 == 3) d.stop();
    });
    // The sender is the only thread that takes SIGUSR1, so its handler runs inside kill() itself:
    // under ThreadSanitizer, a signal that reaches a thread just before it blocks may otherwise
    // wait until the blocking call returns (never, here). The callbacks still run on this thread.
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &usr1, nullptr);
    std::thread sender([&] {
      pthread_sigmask(SIG_UNBLOCK, &usr1, nullptr);
      for (int i = 1; i <= 3; ++i) {
        kill(getpid(), SIGUSR1);
        wait_until(calls, i);  // one at a time: standard signals coalesce
      }
    });
    d.run();
    sender.join();
    EXPECT_EQ(3, calls.load());
    EXPECT_EQ(gettid(), ran_on.load());
  });
}

TEST(Dispatcher, RunsCallbacksOnABackgroundThread) {
  SIGRELAY_IN_CHILD([] {
    dispatcher d;
    std::atomic<int> calls{0};
    std::atomic<pid_t> ran_on{0};
    d.on(SIGHUP, [&](const signal_event&) {
      ran_on.store(gettid());
      calls.fetch_add(1);
    });
    d.start();
    kill(getpid(), SIGHUP);
    wait_until(calls, 1);
    d.stop();
    d.join();
    EXPECT_EQ(1, calls.load());
    EXPECT_NE(0, ran_on.load());
    EXPECT_NE(gettid(), ran_on.load());
  });
}

TEST(Dispatcher, AnExceptionLeavesRunAndTheRestOfTheBatchIsNotLost) {
  SIGRELAY_IN_CHILD([] {
    dispatcher d;
    std::atomic<int> usr2{0};
    d.on(SIGUSR1, [](const signal_event&) { throw std::runtime_error("callback failed"); });
    d.on(SIGUSR2, [&](const signal_event&) {
      usr2.fetch_add(1);
      d.stop();
    });
    kill(getpid(), SIGUSR1);
    kill(getpid(), SIGUSR2);  // both recorded before run(): one batch, SIGUSR1 first
    EXPECT_THROW(d.run(), std::runtime_error);
    EXPECT_EQ(0, usr2.load());
    d.run();  // goes on with the rest of the batch
    EXPECT_EQ(1, usr2.load());
  });
}

TEST(Dispatcher, BackgroundExceptionsGoToTheErrorHandlerOrToJoin) {
  SIGRELAY_IN_CHILD([] {
    {
      dispatcher d;
      std::atomic<int> errors{0};
      d.set_error_handler([&](std::exception_ptr e) {
        EXPECT_THROW(std::rethrow_exception(e), std::runtime_error);
        errors.fetch_add(1);
      });
      d.on(SIGUSR1, [](const signal_event&) { throw std::runtime_error("boom"); });
      d.start();
      kill(getpid(), SIGUSR1);
      wait_until(errors, 1);
      kill(getpid(), SIGUSR1);  // the thread went on after the first error
      wait_until(errors, 2);
      EXPECT_EQ(2, errors.load());
      d.stop();
      EXPECT_NO_THROW(d.join());
    }
    {
      dispatcher d;
      d.on(SIGUSR1, [](const signal_event&) { throw std::runtime_error("boom"); });
      d.start();
      kill(getpid(), SIGUSR1);
      EXPECT_THROW(d.join(), std::runtime_error);  // the thread ended with it
    }
  });
}

TEST(Dispatcher, OffUnsubscribesAndStopBeforeRunIsNotLost) {
  SIGRELAY_IN_CHILD([] {
    dispatcher d;
    d.on(SIGUSR2, [](const signal_event&) {});
    struct sigaction sa {};
    sigaction(SIGUSR2, nullptr, &sa);
    EXPECT_NE(SIG_DFL, sa.sa_handler);
    d.off(SIGUSR2);
    sigaction(SIGUSR2, nullptr, &sa);
    EXPECT_EQ(SIG_DFL, sa.sa_handler);
    EXPECT_THROW(d.on(SIGKILL, [](const signal_event&) {}), std::system_error);
    d.stop();
    d.run();  // returns at once
  });
}

}  // namespace
