// SPDX-License-Identifier: MIT
// tests/pending_test.cc — signals::pending(std::vector&) and wait(std::vector&): the caller's storage
// is cleared, filled in pending()'s order, and reused (no reallocation once large enough).
#include <gtest/gtest.h>

#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <csignal>
#include <string>
#include <thread>
#include <vector>

#include "sigrelay/signals.hpp"
#include "support/child.hpp"
#include "support/platform.hpp"

namespace {

using namespace std::chrono_literals;
using sigrelay::backend;
using sigrelay::signal_event;
using sigrelay::signals;

#if defined(__SANITIZE_THREAD__)
constexpr bool kUnderThreadSanitizer = true;
#else
constexpr bool kUnderThreadSanitizer = false;
#endif

class PendingInto : public testing::TestWithParam<backend> {
 protected:
  void SetUp() override {
    if (GetParam() == backend::signalfd) SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the signalfd backend");
  }
  backend kind() const { return GetParam(); }
};

std::string backend_name(const testing::TestParamInfo<backend>& info) {
  return info.param == backend::relay ? "relay" : "signalfd";
}

INSTANTIATE_TEST_SUITE_P(Backends, PendingInto, testing::Values(backend::relay, backend::signalfd),
                         backend_name);

void set_blocked(std::initializer_list<int> signos, int how) {
  sigset_t set;
  sigemptyset(&set);
  for (const int s : signos) sigaddset(&set, s);
  ASSERT_EQ(0, pthread_sigmask(how, &set, nullptr));
}

// Sends to this thread (delivered on the way out of the system call unless blocked).
void send_self(int signo, int value) {
  siginfo_t info{};
  info.si_signo = signo;
  info.si_code = SI_QUEUE;
  info.si_pid = getpid();
  info.si_uid = getuid();
  info.si_value.sival_int = value;
  ASSERT_EQ(0, syscall(SYS_rt_tgsigqueueinfo, getpid(), gettid(), signo, &info));
}

// Waits (up to a few seconds) until pending(events) returns something; ThreadSanitizer may run a
// handler late, at the next intercepted call (the sleep is one).
std::size_t pending_soon(signals& sigs, std::vector<signal_event>& events) {
  for (int i = 0; i < 500; ++i) {
    if (sigs.pending(events) != 0) return events.size();
    std::this_thread::sleep_for(10ms);
  }
  return 0;
}

TEST_P(PendingInto, ClearsTheVectorFirstAndKeepsItsCapacity) {
  SIGRELAY_IN_CHILD([this] {
    signals sigs({SIGUSR1}, kind());
    std::vector<signal_event> events(3, signal_event{SIGHUP, 7, {}});  // stale content
    events.reserve(64);
    const signal_event* const storage = events.data();
    EXPECT_EQ(0U, sigs.pending(events));
    EXPECT_TRUE(events.empty());
    EXPECT_EQ(64U, events.capacity());
    EXPECT_EQ(storage, events.data());
  });
}

TEST_P(PendingInto, ReusesTheStorageForEachBatch) {
  SIGRELAY_IN_CHILD([this] {
    signals sigs({SIGUSR1}, kind());
    std::vector<signal_event> events;
    events.reserve(8);
    const signal_event* const storage = events.data();
    for (int round = 0; round < 100; ++round) {
      send_self(SIGUSR1, round);
      ASSERT_EQ(1U, pending_soon(sigs, events)) << "round " << round;
      EXPECT_EQ(SIGUSR1, events[0].signo);
      EXPECT_EQ(1U, events[0].count);
      EXPECT_EQ(round, events[0].last.value.sival_int);
      ASSERT_EQ(storage, events.data()) << "reallocated in round " << round;
    }
  });
}

// The documented order: standard signals ascending, then realtime ones as recorded (the kernel hands
// out the lowest number first). The same as pending() returns.
TEST_P(PendingInto, SameOrderAsPending) {
  if (kind() == backend::relay && kUnderThreadSanitizer) {
    GTEST_SKIP() << "ThreadSanitizer runs deferred handlers one per number in its own order";
  }
  SIGRELAY_IN_CHILD([this] {
    const int rt0 = SIGRTMIN, rt1 = SIGRTMIN + 1;
    signals sigs({SIGUSR2, SIGUSR1, rt1, rt0}, kind());
    // Relay: held blocked while sending, then unblocked (the handler runs for each, lowest number
    // first). signalfd: the object blocks them in this thread itself; they wait in the kernel.
    const bool relay = kind() == backend::relay;
    const auto send_all = [&] {
      if (relay) set_blocked({SIGUSR1, SIGUSR2, rt0, rt1}, SIG_BLOCK);
      send_self(SIGUSR2, 10);
      send_self(rt1, 0);
      send_self(rt0, 1);
      send_self(SIGUSR1, 11);
      send_self(rt1, 2);
      send_self(SIGUSR1, 12);  // coalesces with the first SIGUSR1 in the kernel
      if (relay) set_blocked({SIGUSR1, SIGUSR2, rt0, rt1}, SIG_UNBLOCK);
    };
    send_all();
    std::vector<signal_event> into;
    into.reserve(1);  // must grow
    ASSERT_EQ(5U, sigs.pending(into));
    // Standard signals first, ascending, coalesced (the latest origin).
    EXPECT_EQ(SIGUSR1, into[0].signo);
    EXPECT_EQ(11, into[0].last.value.sival_int);
    EXPECT_EQ(SIGUSR2, into[1].signo);
    EXPECT_EQ(10, into[1].last.value.sival_int);
    // Both backends alike: the lowest number first, each number in its own order. signalfd: as read
    // from it. Relay: as the handlers ran, one at a time (the trampoline blocks every signal but the
    // faults while it runs, so the kernel sets up the next frame only after it returned, for the
    // lowest pending number).
    const int want_signo[] = {rt0, rt1, rt1};
    const int want_value[] = {1, 0, 2};
    for (std::size_t i = 0; i < 3; ++i) {
      EXPECT_EQ(want_signo[i], into[2 + i].signo) << i;
      EXPECT_EQ(want_value[i], into[2 + i].last.value.sival_int) << i;
    }
    for (const signal_event& e : into) EXPECT_EQ(1U, e.count);
    // The same deliveries again through pending(): the same list.
    send_all();
    const std::vector<signal_event> fresh = sigs.pending();
    ASSERT_EQ(into.size(), fresh.size());
    for (std::size_t i = 0; i < fresh.size(); ++i) {
      EXPECT_EQ(into[i].signo, fresh[i].signo) << i;
      EXPECT_EQ(into[i].last.value.sival_int, fresh[i].last.value.sival_int) << i;
    }
  });
}

TEST_P(PendingInto, WaitIntoReturnsZeroOnlyOnceClosed) {
  SIGRELAY_IN_CHILD([this] {
    signals sigs({SIGUSR1}, kind());
    std::vector<signal_event> events(2);
    send_self(SIGUSR1, 5);
    ASSERT_EQ(1U, sigs.wait(events));
    EXPECT_EQ(5, events[0].last.value.sival_int);
    sigs.get_handle().close();
    EXPECT_EQ(0U, sigs.wait(events));
    EXPECT_TRUE(events.empty());
    signals moved = std::move(sigs);
    events.resize(4);
    EXPECT_EQ(0U, sigs.pending(events));  // NOLINT(bugprone-use-after-move): documented behaviour
    EXPECT_TRUE(events.empty());
  });
}

}  // namespace
