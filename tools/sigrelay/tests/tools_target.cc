// SPDX-License-Identifier: MIT
// tools/sigrelay/tests/tools_target.cc — the process that tools_test watches, inspects and signals.
//
//   tools_target receive   subscribes SIGUSR1, SIGUSR2, SIGRTMIN, SIGRTMIN+1 and SIGHUP with a
//                          sigrelay::signals object (handlers, so deliveries are real deliveries that
//                          `watch` can see), prints "ready PID", then one line per delivery:
//                          "got SIGNAME total N code C pid P uid U value V", N counting that signal's
//                          deliveries so far. Exits 0 after SIGHUP.
//   tools_target threads   blocks SIGUSR2 and SIGHUP, starts two threads that take SIGUSR2 with
//                          sigwaitinfo(), prints "thread TID ready" for each, then one line per
//                          signal taken: "thread TID got SIGUSR2 code C pid P value V". The main
//                          thread exits 0 when it takes a SIGHUP.
//   tools_target family    forks a child that does what `receive` does (its own pid on "ready"),
//                          prints "family PID", waits for the child and exits with its status.
//   tools_target handlers  ignores SIGUSR2 (SIG_IGN); starts two threads that print "thread TID
//                          ready" and pause(); every thread handles SIGUSR1 (a handler writing
//                          "got SIGUSR1 in TID"); prints
//                          "ready PID" and exits 0 when its main thread takes a SIGHUP (blocked in
//                          every thread, taken with sigwaitinfo()).
//   tools_target signalfd  blocks SIGUSR1, SIGRTMIN and SIGHUP and reads them from a signalfd (never
//                          delivered), prints "ready PID", then one line per record read: "read
//                          SIGNAME code C pid P value V". Exits 0 after SIGHUP.
// Every line is flushed at once: the test reads them from a pipe while the program runs. Both modes
// end with _exit() (see main()).
#include <sigrelay/signals.hpp>

#include <pthread.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>

namespace {

int receive() {
  sigrelay::signals sigs{SIGUSR1, SIGUSR2, SIGRTMIN, SIGRTMIN + 1, SIGHUP};
  std::printf("ready %d\n", static_cast<int>(::getpid()));
  std::fflush(stdout);
  std::map<int, unsigned long long> totals;
  for (const sigrelay::signal_event& e : sigs) {
    totals[e.signo] += e.count;
    std::printf("got %s total %llu code %d pid %d uid %u value %d\n", sigrelay::signal_name(e.signo).data(),
                totals[e.signo], e.last.code, static_cast<int>(e.last.pid), static_cast<unsigned>(e.last.uid),
                e.last.value.sival_int);
    std::fflush(stdout);
    if (e.signo == SIGHUP) return 0;
  }
  return 1;
}

void* take_usr2(void*) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR2);
  const long tid = ::syscall(SYS_gettid);
  std::printf("thread %ld ready\n", tid);
  std::fflush(stdout);
  for (;;) {
    siginfo_t info;
    std::memset(&info, 0, sizeof info);
    if (::sigwaitinfo(&set, &info) != SIGUSR2) continue;
    std::printf("thread %ld got SIGUSR2 code %d pid %d value %d\n", tid, info.si_code,
                static_cast<int>(info.si_pid), info.si_code == SI_QUEUE ? info.si_value.sival_int : 0);
    std::fflush(stdout);
  }
  return nullptr;
}

int threads() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR2);
  sigaddset(&set, SIGHUP);
  ::pthread_sigmask(SIG_BLOCK, &set, nullptr);  // inherited by both threads
  pthread_t t[2];
  for (pthread_t& th : t) ::pthread_create(&th, nullptr, take_usr2, nullptr);
  sigset_t hup;
  sigemptyset(&hup);
  sigaddset(&hup, SIGHUP);
  while (::sigwaitinfo(&hup, nullptr) != SIGHUP) {
  }
  std::fflush(stdout);
  ::_exit(0);  // the threads wait forever: end the process without joining them
}

int family() {
  std::fflush(stdout);
  const pid_t child = ::fork();
  if (child < 0) return 4;
  if (child == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // dies with this process, as this one with the test
    const int status = receive();
    std::fflush(stdout);
    ::_exit(status);
  }
  std::printf("family %d\n", static_cast<int>(::getpid()));
  std::fflush(stdout);
  int st = 0;
  while (::waitpid(child, &st, 0) < 0 && errno == EINTR) {
  }
  ::_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 5);
}

// Signal context: formats and write()s "got SIGUSR1 in TID"; async-signal-safe calls only, errno kept.
void on_usr1(int) {
  const int saved = errno;
  char line[48] = "got SIGUSR1 in ";
  std::size_t n = 15;
  char digits[16];
  std::size_t d = 0;
  for (long tid = ::syscall(SYS_gettid); tid > 0 && d < sizeof digits; tid /= 10)
    digits[d++] = static_cast<char>('0' + tid % 10);
  while (d > 0) line[n++] = digits[--d];
  line[n++] = '\n';
  (void)!::write(STDOUT_FILENO, line, n);
  errno = saved;
}

void* idle_thread(void*) {
  std::printf("thread %ld ready\n", ::syscall(SYS_gettid));
  std::fflush(stdout);
  for (;;) ::pause();
  return nullptr;
}

int handlers() {
  ::signal(SIGUSR2, SIG_IGN);
  struct sigaction sa {};
  sa.sa_handler = on_usr1;
  sigfillset(&sa.sa_mask);
  ::sigaction(SIGUSR1, &sa, nullptr);
  sigset_t hup;
  sigemptyset(&hup);
  sigaddset(&hup, SIGHUP);
  ::pthread_sigmask(SIG_BLOCK, &hup, nullptr);  // inherited by both threads
  pthread_t t[2];
  for (pthread_t& th : t) ::pthread_create(&th, nullptr, idle_thread, nullptr);
  std::printf("ready %d\n", static_cast<int>(::getpid()));
  std::fflush(stdout);
  while (::sigwaitinfo(&hup, nullptr) != SIGHUP) {
  }
  std::fflush(stdout);
  ::_exit(0);  // the threads pause forever: end the process without joining them
}

int signalfd_reader() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  sigaddset(&set, SIGRTMIN);
  sigaddset(&set, SIGHUP);
  if (::sigprocmask(SIG_BLOCK, &set, nullptr) != 0) return 4;
  const int fd = ::signalfd(-1, &set, SFD_CLOEXEC);
  if (fd < 0) return 4;
  std::printf("ready %d\n", static_cast<int>(::getpid()));
  std::fflush(stdout);
  for (;;) {
    signalfd_siginfo records[4];
    const ssize_t n = ::read(fd, records, sizeof records);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return 5;
    for (std::size_t i = 0; i < static_cast<std::size_t>(n) / sizeof records[0]; ++i) {
      const signalfd_siginfo& r = records[i];
      std::printf("read %s code %d pid %u value %d\n",
                  sigrelay::signal_name(static_cast<int>(r.ssi_signo)).data(), r.ssi_code, r.ssi_pid,
                  r.ssi_int);
      std::fflush(stdout);
      if (r.ssi_signo == SIGHUP) return 0;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  // Dies with its parent (the test, or watch): a test killed by its watchdog leaves nothing running.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() == 1) return 3;  // the parent is already gone
  const std::string mode = argc > 1 ? argv[1] : "";
  // _exit(): no exit-time leak check under AddressSanitizer, which would ptrace this process's own
  // threads and fail while `sigrelay watch` traces them.
  if (mode == "receive") {
    const int status = receive();
    std::fflush(stdout);
    ::_exit(status);
  }
  if (mode == "threads") return threads();
  if (mode == "family") return family();
  if (mode == "handlers") return handlers();
  if (mode == "signalfd") {
    const int status = signalfd_reader();
    std::fflush(stdout);
    ::_exit(status);
  }
  std::fprintf(stderr, "usage: tools_target receive|threads|family|handlers|signalfd\n");
  return 2;
}
