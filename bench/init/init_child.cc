// SPDX-License-Identifier: MIT
// bench/init/init_child.cc — the child that the init benchmark runs under each init (tini,
// dumb-init, `sigrelay run`). It talks to the driver (initbench.cc) through its standard input and
// output only, which every init passes through to its child.
//
//   init_child latency   Blocks SIGUSR1 and SIGTERM and takes them with sigwaitinfo(): for each
//                        SIGUSR1 it writes CLOCK_MONOTONIC at receipt (8 bytes, ns) to stdout; a
//                        SIGTERM ends it with status 0. Writes 'R' once ready.
//   init_child reap N    Writes 'R' once ready and waits for one byte on stdin ("go"). Then forks an
//                        intermediate process that starts N grandchildren (clone(), see reap()), each
//                        blocked in read() of a
//                        pipe whose only write end the intermediate holds; the intermediate writes
//                        CLOCK_MONOTONIC and the number it forked (2 × 8 bytes) and exits, so all N
//                        wake with EOF and exit at once, orphans re-parented to the init (PID 1 of
//                        the namespace, or a subreaper). The child reaps the intermediate, then
//                        waits for SIGTERM (status 0).
//
// Any failure writes a message to stderr and exits with status 2 (the intermediate reports a short
// fork count instead, so that the driver sees it).
#include <sched.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <initializer_list>

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "init_child[%d]: %s: %s\n", static_cast<int>(::getpid()), what, std::strerror(errno));
  ::_exit(2);
}

std::int64_t now_ns() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

void write_all(int fd, const void* p, std::size_t n) {
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    const ssize_t w = ::write(fd, c, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      fail("write");
    }
    c += w;
    n -= static_cast<std::size_t>(w);
  }
}

// Blocks `signos` (and nothing else: the mask an init hands over is not ours to keep) and returns
// the set, for sigwaitinfo().
sigset_t block_only(std::initializer_list<int> signos) {
  sigset_t set;
  sigemptyset(&set);
  for (int s : signos) sigaddset(&set, s);
  if (::sigprocmask(SIG_SETMASK, &set, nullptr) != 0) fail("sigprocmask");
  return set;
}

// Waits for SIGTERM (other signals of `set` are ignored) and returns.
void wait_for_term(const sigset_t& set) {
  for (;;) {
    siginfo_t si;
    const int s = ::sigwaitinfo(&set, &si);
    if (s == SIGTERM) return;
    if (s < 0 && errno != EINTR) fail("sigwaitinfo");
  }
}

int latency() {
  const sigset_t set = block_only({SIGUSR1, SIGTERM});
  write_all(1, "R", 1);
  for (;;) {
    siginfo_t si;
    const int s = ::sigwaitinfo(&set, &si);
    if (s == SIGUSR1) {
      const std::int64_t t = now_ns();
      write_all(1, &t, sizeof t);
    } else if (s == SIGTERM) {
      return 0;
    } else if (s < 0 && errno != EINTR) {
      fail("sigwaitinfo");
    }
  }
}

// A grandchild: waits for end of file on the pipe that only the intermediate holds open, then ends.
// Plain system calls only: it shares the intermediate's memory (see reap()).
int orphan(void* arg) {
  const int* hold = static_cast<const int*>(arg);
  ::close(hold[1]);
  ::close(1);  // the driver's pipe must not stay open in 10,000 processes
  char b;
  while (::read(hold[0], &b, 1) < 0 && errno == EINTR) {
  }
  return 0;  // clone()'s wrapper ends the process with _exit(0)
}

int reap(long n) {
  const sigset_t set = block_only({SIGTERM});
  write_all(1, "R", 1);
  char go;
  ssize_t r;
  do r = ::read(0, &go, 1);
  while (r < 0 && errno == EINTR);
  if (r != 1) fail("read(go)");

  const pid_t mid = ::fork();
  if (mid < 0) fail("fork");
  if (mid == 0) {
    // The intermediate: its write end of `hold` is the only one, so its exit wakes every grandchild.
    int hold[2];
    if (::pipe(hold) != 0) fail("pipe");
    // The grandchildren share this process's memory (CLONE_VM, each on a stack of its own) but are
    // processes of their own (no CLONE_THREAD) with their own descriptor tables. So their exits do
    // not each tear down an address space, which on a loaded machine serialises thousands of exits
    // on the shared file mappings' locks and would drown the init's own reaping time.
    constexpr std::size_t stack_size = 16 * 1024;
    char* stacks =
        static_cast<char*>(::mmap(nullptr, static_cast<std::size_t>(n) * stack_size, PROT_READ | PROT_WRITE,
                                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0));
    if (stacks == MAP_FAILED) fail("mmap");
    std::int64_t forked = 0;
    for (long i = 0; i < n; ++i) {
      char* top = stacks + static_cast<std::size_t>(i + 1) * stack_size;
      if (::clone(orphan, top, CLONE_VM | SIGCHLD, hold) < 0) break;  // reported through the count
      ++forked;
    }
    const std::int64_t msg[2] = {now_ns(), forked};
    write_all(1, msg, sizeof msg);
    ::_exit(0);
  }
  int status = 0;
  while (::waitpid(mid, &status, 0) < 0) {
    if (errno != EINTR) fail("waitpid");
  }
  wait_for_term(set);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::strcmp(argv[1], "latency") == 0) return latency();
  if (argc == 3 && std::strcmp(argv[1], "reap") == 0) return reap(std::atol(argv[2]));
  std::fprintf(stderr, "usage: init_child latency | init_child reap N\n");
  return 2;
}
