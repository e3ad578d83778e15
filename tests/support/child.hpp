// SPDX-License-Identifier: MIT
// tests/support/child.hpp — run a test body in a forked child under a watchdog.
//
// Every test that sends a real signal runs its body here, so that a signal gone wrong kills a child,
// not the test runner, and the registry state of one test never leaks into another. The child starts
// from a known signal state (every catchable signal at SIG_DFL, nothing blocked: a test runner may
// hand us SIGINT ignored or signals blocked), runs the body, and exits 0 if no gtest assertion failed
// in it. The parent waits with a deadline and kills the child with SIGKILL past it.
#pragma once

#include <gtest/gtest.h>

#include <sys/types.h>
#include <csignal>
#include <functional>
#include <string>

namespace sigrelay::test {

// Puts every catchable signal back to SIG_DFL and unblocks all signals in the calling thread.
void reset_signal_state();

// Forks, runs `body` in the child as described above, waits. Returns the wait status; a child that
// outlives `timeout_s` is killed (and the status shows SIGKILL).
int run_in_child(const std::function<void()>& body, unsigned timeout_s = 30);

// Waits for `pid` with a deadline; kills it with SIGKILL past the deadline. Returns the wait status.
int wait_with_deadline(pid_t pid, unsigned timeout_s);

// "exited with 3", "killed by SIGINT", ...
std::string describe_status(int status);

testing::AssertionResult exited_with(int status, int code);
testing::AssertionResult killed_by(int status, int signo);

// Forks while another thread of this process is busy inside sigrelay, to catch what that thread holds
// at the fork (a lock, a mark of work in progress) being waited for in the child. Runs `busy` over and
// over on a thread of its own, waits until it has run `warm_up` times, then forks up to `rounds`
// children, the i-th with _Fork() (no fork handlers) where `raw` says so, else fork(). Each child
// runs `in_child(i, raw)` under a 5-second alarm and ends with _exit() of what it returns. Stops at
// the first child that does not exit with 0 (hung: killed by SIGALRM, or still running after 10 s)
// and returns that child's number, or -1 if every child exited with 0.
int first_failed_fork_while_busy(const std::function<void()>& busy, unsigned long warm_up, int rounds,
                                 const std::function<int(int i, bool raw)>& in_child,
                                 const std::function<bool(int i)>& raw = nullptr);

// Runs `body` in a child and expects it to succeed (exit 0).
#define SIGRELAY_IN_CHILD(...) \
  EXPECT_TRUE(::sigrelay::test::exited_with(::sigrelay::test::run_in_child(__VA_ARGS__), 0))

}  // namespace sigrelay::test
