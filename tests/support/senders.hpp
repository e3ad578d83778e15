// SPDX-License-Identifier: MIT
// tests/support/senders.hpp — the four ways of sending a signal to a process that the kernel reports
// differently in si_code: kill(), sigqueue(), tgkill() and pidfd_send_signal().
#pragma once

#include <gtest/gtest.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <string>

namespace sigrelay::test {

enum class sender { kill, sigqueue, tgkill, pidfd };

// The calling thread's id, for tgkill() (no glibc wrapper needed).
inline pid_t this_tid() { return static_cast<pid_t>(::syscall(SYS_gettid)); }

// tgkill() of the calling thread: the delivery is handled on the way out of the system call.
inline bool tgkill_self(int signo) { return ::syscall(SYS_tgkill, ::getpid(), this_tid(), signo) == 0; }

inline const char* sender_name(sender how) {
  switch (how) {
    case sender::kill: return "kill";
    case sender::sigqueue: return "sigqueue";
    case sender::tgkill: return "tgkill";
    case sender::pidfd: return "pidfd";
  }
  return "?";
}

// For INSTANTIATE_TEST_SUITE_P over senders.
inline std::string param_sender_name(const testing::TestParamInfo<sender>& info) {
  return sender_name(info.param);
}

// Sends `signo` to `pid` (a single-threaded process for tgkill: its main thread's tid is its pid);
// sigqueue() carries the value 77. Returns what the system call returned (-1 with errno).
inline int send_signal(sender how, pid_t pid, int signo) {
  switch (how) {
    case sender::kill: return ::kill(pid, signo);
    case sender::sigqueue: {
      union sigval value {};
      value.sival_int = 77;
      return ::sigqueue(pid, signo, value);
    }
    case sender::tgkill: return static_cast<int>(::syscall(SYS_tgkill, pid, pid, signo));
    case sender::pidfd: {
      const int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
      if (fd < 0) return -1;
      const int r = static_cast<int>(::syscall(SYS_pidfd_send_signal, fd, signo, nullptr, 0));
      ::close(fd);
      return r;
    }
  }
  return -1;
}

// sigqueue()s `signo` to `pid` `count` times, with the values 0, 1, ... in order, and stops at the
// first refusal (no retry). Returns how many were accepted: `count` unless one was refused.
inline int queue_values(pid_t pid, int signo, int count) {
  for (int i = 0; i < count; ++i) {
    union sigval value {};
    value.sival_int = i;
    if (::sigqueue(pid, signo, value) != 0) return i;
  }
  return count;
}

// Forks a sender process that sigqueue()s `signo` to `pid` `count` times, with the values 0, 1, ...
// in order, retrying each on EAGAIN (the receiver's queue is full: a flood that the receiver must
// keep). The sender ends with _exit(0), or _exit(2) at any other error. Returns its pid (-1 if fork()
// failed); the caller waits for it.
inline pid_t fork_queue_sender(pid_t pid, int signo, int count) {
  std::fflush(nullptr);
  const pid_t sender = ::fork();
  if (sender != 0) return sender;
  for (int i = 0; i < count; ++i) {
    union sigval value {};
    value.sival_int = i;
    while (::sigqueue(pid, signo, value) != 0) {
      if (errno != EAGAIN) ::_exit(2);
      ::sched_yield();
    }
  }
  ::_exit(0);
}

}  // namespace sigrelay::test
