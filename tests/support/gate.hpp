// SPDX-License-Identifier: MIT
// tests/support/gate.hpp — children that wait at a gate (a pipe's read end) and leave with a chosen
// exit code, or killed by a chosen signal, once the gate opens: so that many children end at the
// same moment. With the child watcher's helpers that go with it.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cerrno>
#include <csignal>
#include <cstddef>
#include <vector>

#include "sigrelay/children.hpp"

namespace sigrelay::test {

class gate {
 public:
  // Close-on-exec: a program that a test starts meanwhile does not hold the gate shut.
  gate() { EXPECT_EQ(0, ::pipe2(fds_, O_CLOEXEC)); }
  ~gate() {
    open();
    if (fds_[0] >= 0) ::close(fds_[0]);
  }
  gate(const gate&) = delete;
  gate& operator=(const gate&) = delete;

  // Forks a child that waits for open(), then _exit(code) (or, with signo != 0, dies by signo,
  // without a core file, even if it inherited signo blocked). It never outlives a broken test for
  // long (alarm(60)).
  pid_t fork_child(int code, int signo = 0) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::alarm(60);
      ::close(fds_[1]);
      char c;
      while (::read(fds_[0], &c, 1) < 0 && errno == EINTR) {
      }
      if (signo != 0) {
        const struct rlimit no_core { 0, 0 };
        ::setrlimit(RLIMIT_CORE, &no_core);
        ::signal(signo, SIG_DFL);
        sigset_t one;
        sigemptyset(&one);
        sigaddset(&one, signo);
        ::sigprocmask(SIG_UNBLOCK, &one, nullptr);
        ::kill(::getpid(), signo);
      }
      ::_exit(code);
    }
    EXPECT_GT(pid, 0) << "fork failed";
    return pid;
  }

  // Every child at the gate leaves now.
  void open() {
    if (fds_[1] >= 0) ::close(fds_[1]);
    fds_[1] = -1;
  }

 private:
  int fds_[2] = {-1, -1};
};

// Waits (blocking, no timeout: the watchdog is the limit) until `n` events have come.
inline std::vector<child_event> collect(children& kids, std::size_t n) {
  std::vector<child_event> all;
  while (all.size() < n) {
    for (const child_event& e : kids.wait()) all.push_back(e);
  }
  return all;
}

// Blocks until `pid` has ended, without reaping it.
inline void wait_until_zombie(pid_t pid) {
  siginfo_t info{};
  int r;
  while ((r = ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT)) < 0 && errno == EINTR) {
  }
  ASSERT_EQ(0, r);
}

}  // namespace sigrelay::test
