// SPDX-License-Identifier: MIT
// tests/stop_token_test.cc — signals::wait(std::stop_token) and wait_for(..., std::stop_token) (C++20),
// for both backends, each test in its own child process.
#include <gtest/gtest.h>

#include <unistd.h>
#include <atomic>
#include <chrono>
#include <csignal>
#include <stop_token>
#include <thread>
#include <vector>

#include "sigrelay/signals.hpp"
#include "support/child.hpp"
#include "support/events.hpp"
#include "support/platform.hpp"

namespace {

using namespace std::chrono_literals;
using sigrelay::backend;
using sigrelay::signal_event;
using sigrelay::signals;
using sigrelay::test::total;

class StopToken : public testing::TestWithParam<backend> {
 protected:
  void SetUp() override {
    if (GetParam() == backend::signalfd) SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the signalfd backend");
  }
  backend kind() const { return GetParam(); }
};

std::string backend_name(const testing::TestParamInfo<backend>& info) {
  return info.param == backend::relay ? "relay" : "signalfd";
}

INSTANTIATE_TEST_SUITE_P(Backends, StopToken, testing::Values(backend::relay, backend::signalfd),
                         backend_name);

// Waits (plain wait_for) until a delivery of `signo` shows up, at most 5 s; returns the count.
std::uint64_t collect(signals& sigs, int signo) {
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  std::uint64_t n = 0;
  while (n == 0 && std::chrono::steady_clock::now() < deadline) n = total(sigs.wait_for(50ms), signo);
  return n;
}

TEST_P(StopToken, AStopRequestedBeforeTheCallReturnsEmptyAtOnceAndKeepsPendingEvents) {
  SIGRELAY_IN_CHILD([this] {
    signals sigs({SIGUSR1}, kind());
    kill(getpid(), SIGUSR1);
    std::stop_source source;
    source.request_stop();
    EXPECT_TRUE(sigs.wait(source.get_token()).empty());
    EXPECT_TRUE(sigs.wait_for(1h, source.get_token()).empty());
    EXPECT_EQ(1U, collect(sigs, SIGUSR1));  // still recorded, handed out by the next plain wait
  });
}

TEST_P(StopToken, AStopFromAnotherThreadEndsABlockedWait) {
  SIGRELAY_IN_CHILD([this] {
    signals sigs({SIGUSR1}, kind());
    // Many rounds, the stop landing before, during and after the waiter goes to sleep: every round
    // must end (the watchdog kills a child whose wait was never woken).
    for (int round = 0; round < 300; ++round) {
      std::stop_source source;
      std::thread stopper([&source, round] {
        if (round % 3 == 1) std::this_thread::yield();
        if (round % 3 == 2) usleep(1000);
        source.request_stop();
      });
      EXPECT_TRUE(sigs.wait(source.get_token()).empty()) << "round " << round;
      stopper.join();
      if (testing::Test::HasFailure()) return;
    }
    // The object still works, and a plain wait is not disturbed by the stops: it sleeps until timed
    // out, then hands out a delivery.
    EXPECT_TRUE(sigs.wait_for(20ms).empty());
    kill(getpid(), SIGUSR1);
    EXPECT_EQ(1U, collect(sigs, SIGUSR1));
  });
}

TEST_P(StopToken, ADeliveryDuringTheWaitIsReturned) {
  SIGRELAY_IN_CHILD([this] {
    signals sigs({SIGUSR1}, kind());
    std::stop_source source;
    std::thread sender([] {
      usleep(20000);
      kill(getpid(), SIGUSR1);
    });
    std::vector<signal_event> events;
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (events.empty() && std::chrono::steady_clock::now() < deadline) {
      events = sigs.wait_for(50ms, source.get_token());
    }
    sender.join();
    EXPECT_EQ(1U, total(events, SIGUSR1));
    EXPECT_FALSE(source.stop_requested());
  });
}

TEST_P(StopToken, WaitForWithATokenTimesOutWithoutAStop) {
  SIGRELAY_IN_CHILD([this] {
    signals sigs({SIGUSR1}, kind());
    std::stop_source source;
    EXPECT_TRUE(sigs.wait_for(10ms, source.get_token()).empty());
    EXPECT_TRUE(sigs.wait_for(-1s, source.get_token()).empty());  // negative: polls once
    EXPECT_FALSE(source.stop_requested());
  });
}

TEST_P(StopToken, AClosedOrMovedFromObjectReturnsEmptyAtOnce) {
  SIGRELAY_IN_CHILD([this] {
    signals sigs({SIGUSR1}, kind());
    std::stop_source source;  // never requested
    signals moved = std::move(sigs);
    EXPECT_TRUE(sigs.wait(source.get_token()).empty());  // NOLINT(bugprone-use-after-move): on purpose
    moved.get_handle().close();
    EXPECT_TRUE(moved.wait(source.get_token()).empty());
  });
}

}  // namespace
