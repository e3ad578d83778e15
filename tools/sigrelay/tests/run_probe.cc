// SPDX-License-Identifier: MIT
// tools/sigrelay/tests/run_probe.cc — the child that run_test runs under each init; it reports what
// it receives and does what a scenario needs. Output on stdout, one line per fact:
//   run_probe exit N        exits N
//   run_probe kill SIG      dies by SIG (a number)
//   run_probe wait [group]  (dies by SIGKILL with its parent) "ready pid=P"; prints "got SIGxxx" for each
//   signal it handles; exits 42
//                           after SIGTERM. With `group`: first starts a grandchild in its process
//                           group that prints "grandchild got SIGxxx" and ends after SIGTERM (or 10 s),
//                           and says "grandchild=G" before "ready". SIGRTMIN+3 is reported with its
//                           siginfo: "got SIGRTMIN+3 code C pid P value V". Each handler runs with every
//                           signal blocked, so pending signals are handled one at a time, the lowest
//                           number first (as the kernel dequeues them), each line before the next.
//   run_probe group-exit    starts such a grandchild, waits for it to be ready, says "grandchild=G"
//                           and "ready pid=P", exits 7
//   run_probe signals       (dies by SIGKILL with its parent) handles every signal from 1 to 31 but
//                           SIGKILL, SIGSTOP and SIGCHLD, and prints its number ("15") for each
//                           (one at a time, the lowest pending first, as `wait`); "ready pid=P" first;
//                           runs until killed
//   run_probe orphan        makes an orphan (a grandchild whose parent exits), waits until it ends,
//                           then until its init reaped it: "orphan=P" then "reaped" or "not reaped"
//   run_probe orphans N     N orphans that end at once (grandchildren blocked on a pipe that only their
//                           parent holds; it exits, and they all read EOF and exit): "orphans=N", then,
//                           once every one is gone (reaped by the init) or after 20 s, "reaped R of N"
//   run_probe state         "ignored=HEX blocked=HEX" from /proc/self/status (SigIgn, SigBlk)
//   run_probe sched [settled]  "self policy=P nice=N slice=S" and "parent policy=P nice=N slice=S"
//                           (sched_getattr(2) of itself and of its parent, the init). With `settled`:
//                           first waits (up to 5 s) until the parent's line differs from its own, as
//                           it does once an init that sets its own slice after the fork has set it
//                           (this child may run first)
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "sched_attributes.hpp"

namespace {

volatile sig_atomic_t got_term = 0;
const char* prefix = "";

const char* name(int signo) {
  switch (signo) {
    case SIGHUP: return "SIGHUP";
    case SIGINT: return "SIGINT";
    case SIGQUIT: return "SIGQUIT";
    case SIGUSR1: return "SIGUSR1";
    case SIGUSR2: return "SIGUSR2";
    case SIGTERM: return "SIGTERM";
    case SIGCONT: return "SIGCONT";
    case SIGWINCH: return "SIGWINCH";
    default: return "other";
  }
}

// Signal context: write() only, errno saved.
void on_signal(int signo) {
  const int saved = errno;
  char line[64];
  std::size_t n = 0;
  for (const char* p = prefix; *p != '\0' && n < 40;) line[n++] = *p++;
  for (const char* p = "got "; *p != '\0';) line[n++] = *p++;
  for (const char* p = name(signo); *p != '\0' && n < 62;) line[n++] = *p++;
  line[n++] = '\n';
  (void)!write(STDOUT_FILENO, line, n);
  if (signo == SIGTERM) got_term = 1;
  errno = saved;
}

// Signal context: appends `value` in decimal to line[n...]; async-signal-safe (no calls at all).
std::size_t append_number(char* line, std::size_t n, long value) {
  if (value < 0) {
    line[n++] = '-';
    value = -value;
  }
  char digits[24];
  std::size_t d = 0;
  do {
    digits[d++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value > 0 && d < sizeof digits);
  while (d > 0) line[n++] = digits[--d];
  return n;
}

// Signal context: write() only, errno saved. "got SIGRTMIN+3 code C pid P value V".
void on_realtime(int, siginfo_t* info, void*) {
  const int saved = errno;
  char line[128];
  std::size_t n = 0;
  for (const char* p = prefix; *p != '\0' && n < 40;) line[n++] = *p++;
  for (const char* p = "got SIGRTMIN+3 code "; *p != '\0';) line[n++] = *p++;
  n = append_number(line, n, info->si_code);
  for (const char* p = " pid "; *p != '\0';) line[n++] = *p++;
  n = append_number(line, n, info->si_pid);
  for (const char* p = " value "; *p != '\0';) line[n++] = *p++;
  n = append_number(line, n, info->si_code == SI_QUEUE ? info->si_value.sival_int : 0);
  line[n++] = '\n';
  (void)!write(STDOUT_FILENO, line, n);
  errno = saved;
}

void handle_all() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigfillset(&sa.sa_mask);
  for (const int s : {SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGTERM, SIGCONT, SIGWINCH})
    sigaction(s, &sa, nullptr);
  struct sigaction rt {};
  rt.sa_sigaction = on_realtime;
  rt.sa_flags = SA_SIGINFO;
  sigfillset(&rt.sa_mask);
  sigaction(SIGRTMIN + 3, &rt, nullptr);
}

// Signal context: write() only, errno saved. "N\n", the signal's number.
void on_any_signal(int signo) {
  const int saved = errno;
  char line[8];
  std::size_t n = append_number(line, 0, signo);
  line[n++] = '\n';
  (void)!write(STDOUT_FILENO, line, n);
  errno = saved;
}

void say(const std::string& text) {
  const std::string line = text + "\n";
  (void)!write(STDOUT_FILENO, line.data(), line.size());
}

// Sleeps until a SIGTERM has been handled. Not `while (!got_term) pause()`: a SIGTERM handled between
// the test and pause() (the test sends it as soon as it has seen the previous signal's line, while
// this loop goes round) left the probe asleep for good, and its init with it (CI, under ASan and
// load). SIGTERM is blocked outside sigsuspend(), which waits with the mask as it was.
void wait_for_sigterm() {
  sigset_t term;
  sigset_t old;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  sigprocmask(SIG_BLOCK, &term, &old);
  while (got_term == 0) sigsuspend(&old);
  sigprocmask(SIG_SETMASK, &old, nullptr);
}

// A grandchild in our process group; returns once it is ready.
pid_t start_grandchild() {
  int ready[2];
  if (pipe(ready) != 0) std::exit(90);
  const pid_t pid = fork();
  if (pid == 0) {
    close(ready[0]);
    prefix = "grandchild ";
    handle_all();
    alarm(10);  // never outlives a scenario that sends it nothing
    close(ready[1]);
    wait_for_sigterm();
    _exit(0);
  }
  close(ready[1]);
  char c;
  while (read(ready[0], &c, 1) < 0 && errno == EINTR) {
  }
  close(ready[0]);
  return pid;
}

// Waits until every pid of `pids` is gone (kill(pid, 0) fails: a zombie still counts until its
// parent reaps it), at most `limit`. Returns how many went.
std::size_t wait_until_reaped(std::vector<pid_t> pids, std::chrono::seconds limit) {
  const std::size_t all = pids.size();
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    pids.erase(std::remove_if(pids.begin(), pids.end(), [](pid_t pid) { return kill(pid, 0) != 0; }),
               pids.end());
    if (pids.empty() || std::chrono::steady_clock::now() >= deadline) return all - pids.size();
    usleep(1000);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "exit" && argc > 2) return std::atoi(argv[2]);
  if (mode == "kill" && argc > 2) {
    const int signo = std::atoi(argv[2]);
    signal(signo, SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, signo);
    sigprocmask(SIG_UNBLOCK, &set, nullptr);
    raise(signo);
    return 99;
  }
  if (mode == "wait") {
    // Dies with its init: a test that fails before it ends the probe kills the init (process.hpp's
    // destructor), and nothing is left running.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    const bool group = argc > 2 && std::strcmp(argv[2], "group") == 0;
    handle_all();
    const pid_t grandchild = group ? start_grandchild() : 0;
    if (grandchild > 0) say("grandchild=" + std::to_string(grandchild));
    say("ready pid=" + std::to_string(getpid()));
    wait_for_sigterm();
    if (grandchild > 0) {
      // Give a group-wide SIGTERM time to reach it too, then make sure it is gone.
      int status = 0;
      for (int i = 0; i < 2000 && waitpid(grandchild, &status, WNOHANG) == 0; ++i) usleep(1000);
      kill(grandchild, SIGKILL);
      waitpid(grandchild, &status, 0);
    }
    return 42;
  }
  if (mode == "signals") {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    struct sigaction sa {};
    sa.sa_handler = on_any_signal;
    sigfillset(&sa.sa_mask);
    for (int s = 1; s <= 31; ++s) {
      if (s != SIGKILL && s != SIGSTOP && s != SIGCHLD) sigaction(s, &sa, nullptr);
    }
    say("ready pid=" + std::to_string(getpid()));
    for (;;) pause();
  }
  if (mode == "group-exit") {
    say("grandchild=" + std::to_string(start_grandchild()));
    say("ready pid=" + std::to_string(getpid()));
    return 7;
  }
  if (mode == "orphan") {
    int gone[2];
    if (pipe(gone) != 0) return 90;
    int report[2];
    if (pipe(report) != 0) return 90;
    const pid_t middle = fork();
    if (middle == 0) {
      const pid_t orphan = fork();
      if (orphan == 0) {
        close(gone[0]);
        close(report[0]);
        close(report[1]);
        usleep(100 * 1000);  // its parent has exited by then: it is an orphan when it ends
        _exit(0);            // closes gone[1]
      }
      (void)!write(report[1], &orphan, sizeof orphan);
      _exit(0);
    }
    close(gone[1]);
    close(report[1]);
    pid_t orphan = 0;
    while (read(report[0], &orphan, sizeof orphan) < 0 && errno == EINTR) {
    }
    int status = 0;
    waitpid(middle, &status, 0);
    say("orphan=" + std::to_string(orphan));
    char c;
    while (read(gone[0], &c, 1) != 0 && errno == EINTR) {
    }
    // It has exited: a zombie until its new parent (the init) reaps it.
    say(wait_until_reaped({orphan}, std::chrono::seconds(10)) == 1 ? "reaped" : "not reaped");
    return 0;
  }
  if (mode == "orphans" && argc > 2) {
    const long n = std::atol(argv[2]);
    int hold[2];
    int report[2];
    if (pipe(hold) != 0 || pipe(report) != 0) return 90;
    const pid_t middle = fork();
    if (middle == 0) {
      close(report[0]);
      for (long i = 0; i < n; ++i) {
        const pid_t orphan = fork();
        if (orphan == 0) {
          close(hold[1]);
          close(report[1]);
          char c;
          while (read(hold[0], &c, 1) < 0 && errno == EINTR) {
          }
          _exit(0);
        }
        if (orphan < 0) break;  // the count says so
        (void)!write(report[1], &orphan, sizeof orphan);
      }
      _exit(0);  // closes the only write end of `hold`: every orphan reads EOF and exits
    }
    close(hold[0]);
    close(hold[1]);
    close(report[1]);
    std::vector<pid_t> orphans;
    pid_t orphan = 0;
    for (;;) {
      const ssize_t r = read(report[0], &orphan, sizeof orphan);
      if (r == sizeof orphan) {
        orphans.push_back(orphan);
      } else if (r == 0 || errno != EINTR) {
        break;
      }
    }
    int status = 0;
    waitpid(middle, &status, 0);
    say("orphans=" + std::to_string(orphans.size()));
    // Each one is a zombie until its new parent (the init) reaps it.
    const std::size_t reaped = wait_until_reaped(orphans, std::chrono::seconds(20));
    say("reaped " + std::to_string(reaped) + " of " + std::to_string(n));
    return 0;
  }
  if (mode == "state") {
    std::ifstream in("/proc/self/status");
    std::string line, ignored, blocked;
    while (std::getline(in, line)) {
      if (line.rfind("SigIgn:", 0) == 0) ignored = line.substr(line.find_first_not_of(" \t", 7));
      if (line.rfind("SigBlk:", 0) == 0) blocked = line.substr(line.find_first_not_of(" \t", 7));
    }
    say("ignored=" + ignored + " blocked=" + blocked);
    return 0;
  }
  if (mode == "sched") {
    if (argc > 2 && std::strcmp(argv[2], "settled") == 0) {
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      while (sigrelay::test::sched_of(getppid()) == sigrelay::test::sched_of(0) &&
             std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    }
    say("self " + sigrelay::test::sched_of(0));
    say("parent " + sigrelay::test::sched_of(getppid()));
    return 0;
  }
  std::fprintf(stderr, "run_probe: unknown mode\n");
  return 98;
}
