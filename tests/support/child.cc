// SPDX-License-Identifier: MIT
// tests/support/child.cc — see child.hpp.
#include "support/child.hpp"

#include <dlfcn.h>
#include <poll.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <thread>

#include "sigrelay/registry.hpp"

#if defined(__SANITIZE_THREAD__)
#define SIGRELAY_TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SIGRELAY_TEST_TSAN 1
#endif
#endif

#if defined(SIGRELAY_TEST_TSAN)
// ThreadSanitizer only: the test programs' fork() and pthread_create() ready the new process or
// thread for signals before any test code runs in it.
//
// ThreadSanitizer (GCC 12's libtsan) sets up a thread's signal bookkeeping lazily, at the thread's
// first blocking call (poll, sigwait, nanosleep, ...), and a fork child starts without it. A signal
// that arrives while that set-up runs is lost inside ThreadSanitizer: its handler, finding no
// bookkeeping yet, makes a second one and parks the signal there, and the interrupted set-up then
// installs its own, empty one. No handler of the program ever runs for it. A test whose child or
// thread says "ready" and is signalled at once hits that window at its first wait: about one run in
// three of FollowFork.AWorkerReceivesSigtermThroughTheParentsObject, one in five of
// TerminationSenders/tgkill, 4 of 30 of Registry.TgkillReachesTheChosenThreadAndSigqueueCarriesItsValue
// (strace shows the set-up's 72 KiB mmap() twice, the second inside the handler, and sigrelay's
// trampoline is never called). So here the new child or thread makes one blocking call (poll() on
// nothing, returning at once) first: the set-up is over before it can say it is ready. Defined in
// this file, which every test that forks through run_in_child() links, so that the executable's
// definitions come before ThreadSanitizer's (which they call: RTLD_NEXT); std::thread reaches this
// pthread_create() too, since the executable exports what the shared libraries it links use.
extern "C" pid_t fork() {
  using fork_fn = pid_t (*)();
  static const auto next = reinterpret_cast<fork_fn>(dlsym(RTLD_NEXT, "fork"));
  const pid_t pid = next();
  if (pid == 0) (void)poll(nullptr, 0, 0);
  return pid;
}

namespace {
struct thread_start {
  void* (*fn)(void*);
  void* arg;
};
void* primed_start(void* p) {
  const thread_start start = *static_cast<thread_start*>(p);
  delete static_cast<thread_start*>(p);
  (void)poll(nullptr, 0, 0);
  return start.fn(start.arg);
}
}  // namespace

extern "C" int pthread_create(pthread_t* thread, const pthread_attr_t* attr, void* (*fn)(void*), void* arg) {
  using create_fn = int (*)(pthread_t*, const pthread_attr_t*, void* (*)(void*), void*);
  static const auto next = reinterpret_cast<create_fn>(dlsym(RTLD_NEXT, "pthread_create"));
  auto* const start = new (std::nothrow) thread_start{fn, arg};
  if (start == nullptr) return next(thread, attr, fn, arg);
  const int r = next(thread, attr, primed_start, start);
  if (r != 0) delete start;
  return r;
}
#endif

namespace sigrelay::test {

void reset_signal_state() {
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  for (int signo = 1; signo <= SIGRTMAX; ++signo) {
    if (signo == SIGKILL || signo == SIGSTOP || (signo > 31 && signo < SIGRTMIN)) continue;
    sigaction(signo, &dfl, nullptr);
  }
  sigset_t none;
  sigemptyset(&none);
  pthread_sigmask(SIG_SETMASK, &none, nullptr);
}

int wait_with_deadline(pid_t pid, unsigned timeout_s) {
  // Polls waitpid() rather than a pidfd: ThreadSanitizer does not see fds made by raw system calls
  // and then reports the reuse of their numbers as races.
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  for (;;) {
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid || (r < 0 && errno != EINTR)) return status;
    if (std::chrono::steady_clock::now() >= deadline) break;
    usleep(1000);
  }
  std::fprintf(stderr, "watchdog: child %d still running after %u s; killing it\n", pid, timeout_s);
  kill(pid, SIGKILL);
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

int run_in_child(const std::function<void()>& body, unsigned timeout_s) {
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid < 0) {
    ADD_FAILURE() << "fork failed";
    return -1;
  }
  if (pid == 0) {
    reset_signal_state();
    const struct rlimit no_core { 0, 0 };
    setrlimit(RLIMIT_CORE, &no_core);  // dying by SIGQUIT/SIGABRT on purpose must not litter cores
    alarm(timeout_s + 5);              // second line of defence if the parent is gone
    body();
    std::fflush(nullptr);
    _exit(testing::Test::HasFailure() ? 1 : 0);
  }
  return wait_with_deadline(pid, timeout_s);
}

int first_failed_fork_while_busy(const std::function<void()>& busy, unsigned long warm_up, int rounds,
                                 const std::function<int(int i, bool raw)>& in_child,
                                 const std::function<bool(int i)>& raw) {
  std::atomic<bool> done{false};
  std::atomic<unsigned long> runs{0};
  std::thread worker([&] {
    while (!done.load()) {
      busy();
      runs.fetch_add(1);
    }
  });
  while (runs.load() < warm_up) std::this_thread::yield();
  int failed = -1;
  for (int i = 0; i < rounds && failed < 0; ++i) {
    const bool raw_fork = raw && raw(i);
    std::fflush(nullptr);
    const pid_t child = raw_fork ? _Fork() : fork();
    if (child == 0) {
      alarm(5);  // watchdog: a wait for something that no thread of the child will ever do
      _exit(in_child(i, raw_fork));
    }
    if (child < 0 || !exited_with(wait_with_deadline(child, 10), 0)) failed = i;
  }
  done.store(true);
  worker.join();
  return failed;
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exited with " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    return "killed by " + std::string(sigrelay::signal_name(WTERMSIG(status))) +
           (WCOREDUMP(status) ? " (core dumped)" : "");
  }
  if (WIFSTOPPED(status)) return "stopped by " + std::string(sigrelay::signal_name(WSTOPSIG(status)));
  return "status " + std::to_string(status);
}

testing::AssertionResult exited_with(int status, int code) {
  if (WIFEXITED(status) && WEXITSTATUS(status) == code) return testing::AssertionSuccess();
  return testing::AssertionFailure() << "child " << describe_status(status) << ", expected exit " << code;
}

testing::AssertionResult killed_by(int status, int signo) {
  if (WIFSIGNALED(status) && WTERMSIG(status) == signo) return testing::AssertionSuccess();
  return testing::AssertionFailure() << "child " << describe_status(status) << ", expected to be killed by "
                                     << sigrelay::signal_name(signo);
}

}  // namespace sigrelay::test
