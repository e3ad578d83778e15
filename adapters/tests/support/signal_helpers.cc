// SPDX-License-Identifier: MIT
// adapters/tests/support/signal_helpers.cc — see signal_helpers.hpp.
#include "support/signal_helpers.hpp"

#include "support/process.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cerrno>
#include <chrono>
#include <thread>

#include "support/child.hpp"

namespace sigrelay::test {

void prepare_signals(std::initializer_list<int> signos) {
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigset_t set;
  sigemptyset(&set);
  for (int signo : signos) {
    sigaction(signo, &dfl, nullptr);
    sigaddset(&set, signo);
  }
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
}

void block_signals_in_this_thread() {
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, nullptr);
}

pid_t send_from_other_process(int signo, send_how how, int value, int times) {
#if defined(__SANITIZE_THREAD__)
  // ThreadSanitizer defers a signal that interrupts instrumented code and keeps one deferred signal
  // per number, so a burst of one realtime signal loses deliveries before sigrelay's handler ever
  // runs. Spacing the sends lets each deferred one be handled first.
  constexpr useconds_t gap_us = 20000;
#else
  constexpr useconds_t gap_us = 0;
#endif
  const pid_t target = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    ADD_FAILURE() << "fork failed";
    return -1;
  }
  if (pid == 0) {
    for (int i = 0; i < times; ++i) {
      int rc;
      if (how == send_how::kill) {
        rc = kill(target, signo);
      } else {
        union sigval v {};
        v.sival_int = value + i;
        rc = sigqueue(target, signo, v);
      }
      if (rc != 0) _exit(2);
      if (gap_us != 0 && i + 1 < times) usleep(gap_us);
    }
    _exit(0);
  }
  EXPECT_TRUE(exited_with(wait_with_deadline(pid, 10), 0));
  return pid;
}

void send_to_thread(pid_t tid, int signo) {
  wait_until_asleep(getpid(), tid, std::chrono::seconds(10));
  EXPECT_EQ(0, syscall(SYS_tgkill, getpid(), tid, signo));
}

pid_t current_tid() { return static_cast<pid_t>(syscall(SYS_gettid)); }

pid_t start_flood(int signo) {
  const pid_t target = getpid();
  int started[2];
  if (pipe2(started, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe2 failed";
    return -1;
  }
  const pid_t pid = fork();
  if (pid < 0) {
    ADD_FAILURE() << "fork failed";
    close(started[0]);
    close(started[1]);
    return -1;
  }
  if (pid == 0) {
    close(started[0]);
    if (kill(target, signo) != 0) _exit(0);  // (the pipe closes unwritten: the parent reports it)
    const char byte = 1;
    (void)!write(started[1], &byte, 1);
    close(started[1]);
    while (getppid() == target) {
      if (kill(target, signo) != 0) _exit(0);
    }
    _exit(0);
  }
  close(started[1]);
  char byte = 0;
  ssize_t n;
  while ((n = read(started[0], &byte, 1)) < 0 && errno == EINTR) {
  }
  close(started[0]);
  if (n != 1) ADD_FAILURE() << "the flood process sent nothing";
  return pid;
}

void stop_flood(pid_t pid) {
  if (pid <= 0) return;
  kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

receiver_thread::receiver_thread(int signo)
    : thread_([this, signo] {
        sigset_t one;
        sigemptyset(&one);
        sigaddset(&one, signo);
        pthread_sigmask(SIG_UNBLOCK, &one, nullptr);
        while (!stop_.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }) {}

receiver_thread::~receiver_thread() {
  stop_ = true;
  thread_.join();
}

void block_signal_in_this_thread(int signo) {
  sigset_t one;
  sigemptyset(&one);
  sigaddset(&one, signo);
  pthread_sigmask(SIG_BLOCK, &one, nullptr);
}

namespace {
volatile sig_atomic_t g_prior_handler_calls = 0;
// Async-signal-safe: one store to a sig_atomic_t.
void prior_handler(int, siginfo_t*, void*) { g_prior_handler_calls = g_prior_handler_calls + 1; }
}  // namespace

void install_prior_state(int rt) {
  prepare_signals({SIGUSR1, SIGUSR2, SIGHUP, rt});
  struct sigaction sa {};
  sa.sa_sigaction = prior_handler;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaddset(&sa.sa_mask, SIGTERM);
  sigaction(SIGUSR1, &sa, nullptr);
  struct sigaction ign {};
  ign.sa_handler = SIG_IGN;
  sigemptyset(&ign.sa_mask);
  sigaction(SIGHUP, &ign, nullptr);
  sigset_t m;
  sigemptyset(&m);
  sigaddset(&m, SIGPIPE);
  sigaddset(&m, SIGTERM);
  pthread_sigmask(SIG_SETMASK, &m, nullptr);
  g_prior_handler_calls = 0;
}

int prior_handler_calls() { return g_prior_handler_calls; }

bool is_default_disposition(int signo) {
  struct sigaction now {};
  sigaction(signo, nullptr, &now);
  return (now.sa_flags & SA_SIGINFO) == 0 && now.sa_handler == SIG_DFL;
}

}  // namespace sigrelay::test
