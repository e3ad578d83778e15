// SPDX-License-Identifier: MIT
// tests/signalfd_wait_test.cc — where wait() on the signalfd backend sleeps (src/signals.cc, "wait()
// on the signalfd backend sleeps in read()").
//
// A single-threaded process whose subscribed signals sigrelay blocks sleeps in read() of the
// signalfd; a process with a second thread sleeps in ppoll(), so that a delivery the kernel hands to
// the other thread (which does not block the signal: it was created before the subscription) still
// wakes it through the handler's eventfd write. Each waiter is a real process; the test looks at the
// system call it sleeps in (/proc/<pid>/syscall), then wakes it with a real kill().
#include <gtest/gtest.h>

#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>

#include "support/platform.hpp"

#include "sigrelay/signals.hpp"
#include "support/child.hpp"

namespace {

using namespace std::chrono_literals;
using sigrelay::backend;
using sigrelay::signals;
using sigrelay::test::exited_with;
using sigrelay::test::wait_with_deadline;

#if defined(__SANITIZE_THREAD__)
constexpr bool kUnderThreadSanitizer = true;
#else
constexpr bool kUnderThreadSanitizer = false;
#endif

// The system call task `pid` of process `pid` sleeps in, or -1 while it runs (or if unknown).
long sleeping_in(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/syscall");
  std::string first;
  if (!(in >> first) || first == "running") return -1;
  try {
    return std::stol(first);
  } catch (...) {
    return -1;
  }
}

// Waits (up to 30 s) until the main thread of `pid` sleeps in system call `nr`; true if it did.
bool sleeps_in(pid_t pid, long nr) {
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (sleeping_in(pid) == nr) {
      // Still there a moment later: not a system call on the way (the drain's reads are
      // non-blocking and return at once).
      std::this_thread::sleep_for(20ms);
      if (sleeping_in(pid) == nr) return true;
    }
    std::this_thread::sleep_for(1ms);
  }
  return false;
}

// A waiter process: subscribes SIGUSR1 (signalfd backend), says so on `ready`, then wait()s once.
// `threaded`: a second thread exists from before the subscription (it does not block SIGUSR1) and
// sleeps until the wait is over. Exits 0 if wait() returned one SIGUSR1 from the parent.
pid_t fork_waiter(bool threaded, int ready) {
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid != 0) return pid;
  alarm(60);
  int gate[2];
  if (pipe(gate) != 0) _exit(10);
  std::thread other;
  if (threaded) {
    other = std::thread([fd = gate[0]] {
      char c;
      (void)!read(fd, &c, 1);
    });
  }
  int code = 0;
  {
    signals sigs({SIGUSR1}, backend::signalfd);
    const char one = 1;
    if (write(ready, &one, 1) != 1) _exit(11);
    const auto events = sigs.wait();
    if (events.size() != 1 || events[0].signo != SIGUSR1 || events[0].last.pid != getppid()) code = 12;
  }
  if (threaded) {
    const char one = 1;
    if (write(gate[1], &one, 1) != 1) _exit(13);
    other.join();
  }
  _exit(code);
}

void expect_sleep_then_wake(bool threaded, long expected_syscall) {
  int ready[2];
  ASSERT_EQ(0, pipe(ready));
  const pid_t waiter = fork_waiter(threaded, ready[1]);
  ASSERT_GT(waiter, 0);
  close(ready[1]);
  char c = 0;
  ASSERT_EQ(1, read(ready[0], &c, 1));
  close(ready[0]);
  const bool slept = sleeps_in(waiter, expected_syscall);
  EXPECT_TRUE(slept) << "the waiter never slept in system call " << expected_syscall << " (last seen "
                     << sleeping_in(waiter) << ")";
  ASSERT_EQ(0, kill(waiter, SIGUSR1));
  EXPECT_TRUE(exited_with(wait_with_deadline(waiter, 30), 0));
}

TEST(SignalfdWait, SingleThreadedSleepsInReadAndWakesForTheSignal) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the signalfd backend");
  if (kUnderThreadSanitizer)
    GTEST_SKIP() << "under ThreadSanitizer wait() always ppoll()s (deferred handlers)";
  SIGRELAY_IN_CHILD([] { expect_sleep_then_wake(/*threaded=*/false, SYS_read); }, 90);
}

// The case a blocking read() would get wrong: the kernel hands the process-directed SIGUSR1 to the
// thread that does not block it; its handler records it and writes the eventfd, which only ppoll()
// sees.
TEST(SignalfdWait, WithASecondThreadSleepsInPpollAndWakesThroughTheHandler) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the signalfd backend");
  if (kUnderThreadSanitizer)
    GTEST_SKIP() << "ThreadSanitizer defers the other thread's handler until its blocking read() returns";
  SIGRELAY_IN_CHILD([] { expect_sleep_then_wake(/*threaded=*/true, SYS_ppoll); }, 90);
}

}  // namespace
