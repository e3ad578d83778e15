// SPDX-License-Identifier: MIT
// tests/contract_api_test.cc — the promises of the C API (<sigrelay.h>), of <sigrelay/relays.hpp>
// and of <sigrelay/describe.hpp> under hostile conditions.
//
// capi_test.c, relays_test.cc and describe_test.cc check each function in the situation it was
// written for. This file checks what the three headers promise where a real program makes life hard:
// every kind of bad input given to the C API (which must be refused with EINVAL, a message naming the
// signal, and every disposition and the thread's mask exactly as before), errno on success, a C action
// left by siglongjmp on another thread (without a sigaltstack, or with one mapped above or below the
// thread's stack, as ASan, Rust and Go give threads), a C action removed from another thread while a
// realtime flood runs on the same CPU, die_by_signal() from a thread other than main with the
// signal ignored or blocked everywhere, or for a signal whose default is not to terminate, a
// wakeup_fd under a same-CPU flood and when its eventfd is saturated, the fd relay in children of
// fork() and _Fork() hit by kill(), sigqueue(), tgkill() and pidfd_send_signal(), and describe() and
// check_ownership() around chained SA_RESETHAND|SA_NODEFER handlers and foreign handlers installed
// over sigrelay's. Each test body runs in a forked child under a watchdog (support/child.hpp), which
// starts it with every signal at SIG_DFL and nothing blocked; each body sets the dispositions and
// mask it relies on; signals go to this process, its threads or its own children only; every child
// is waited for.
#include <gtest/gtest.h>

#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <sigrelay.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <map>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "sigrelay/describe.hpp"
#include "sigrelay/registry.hpp"
#include "sigrelay/relays.hpp"
#include "support/child.hpp"
#include "support/dispositions.hpp"
#include "support/events.hpp"
#include "support/flood_limit.hpp"
#include "support/platform.hpp"
#include "support/senders.hpp"
#include "support/signal_state.hpp"

namespace {

using sigrelay::test::exited_with;
using sigrelay::test::killed_by;
using sigrelay::test::readable;
using sigrelay::test::run_in_child;
using sigrelay::test::send_signal;
using sigrelay::test::sender;
using sigrelay::test::wait_with_deadline;

// --- Helpers -----------------------------------------------------------------------------------------

using sigrelay::test::install_handler;
using sigrelay::test::install_siginfo;
using sigrelay::test::query;
using sigrelay::test::same_state;
using sigrelay::test::signal_state;
using sigrelay::test::snapshot;

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

void block(std::initializer_list<int> signos) {
  sigset_t set;
  sigemptyset(&set);
  for (const int s : signos) sigaddset(&set, s);
  ASSERT_EQ(0, ::pthread_sigmask(SIG_BLOCK, &set, nullptr));
}

// Waits (in an intercepted call, so that ThreadSanitizer runs deferred handlers) until `done` holds;
// a liveness bound, not a timing assertion.
template <typename F>
bool eventually(F done, std::chrono::seconds limit = std::chrono::seconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    const struct timespec pause { 0, 1000000 };
    ::nanosleep(&pause, nullptr);
  }
  return true;
}

// Pins the calling thread (and so the threads and children it creates afterwards) to one CPU.
void pin_to_one_cpu() {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  ASSERT_EQ(0, ::sched_getaffinity(0, sizeof allowed, &allowed));
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (!CPU_ISSET(cpu, &allowed)) continue;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    ASSERT_EQ(0, ::sched_setaffinity(0, sizeof one, &one));
    return;
  }
  FAIL() << "no CPU allowed";
}

// Forks a process that sigqueue()s `signo` to `target` `times` times, retrying while the kernel's
// queue is full (EAGAIN), and then exits 0 (2 on any other error).
pid_t fork_queue_sender(pid_t target, int signo, int times) {
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    for (int i = 0; i < times; ++i) {
      union sigval v {};
      v.sival_int = i;
      while (::sigqueue(target, signo, v) != 0) {
        if (errno != EAGAIN) ::_exit(2);
        ::sched_yield();
      }
    }
    ::_exit(0);
  }
  return pid;
}

// Runs `body` in a forked child under the watchdog (support/child.hpp) and expects it to exit 0.
// (Not SIGRELAY_IN_CHILD: that macro prints the whole body on failure.)
void in_child(const std::function<void()>& body, unsigned timeout_s = 30) {
  const int status = run_in_child(body, timeout_s);
  EXPECT_TRUE(exited_with(status, 0)) << "the test body failed in its child (see above)";
}

// What a refused call must leave behind: a message that names the signal.
testing::AssertionResult names(const char* message, const std::string& signal) {
  if (contains(message, signal) && contains(message, "sigrelay")) return testing::AssertionSuccess();
  return testing::AssertionFailure() << "sigrelay_last_error() \"" << message << "\" does not name "
                                     << signal;
}

}  // namespace

// Signal-context functions given to sigrelay_add_action() and sigaction(): C linkage, like the C
// functions a C program hands over. Each does only lock-free atomic operations (or siglongjmp).
extern "C" {
static std::atomic<int> g_c_runs{0};
static void api_count_c_action(void*, const siginfo_t*) { g_c_runs.fetch_add(1); }
static void api_noop_c_action(void*, const siginfo_t*) {}

static std::atomic<int> g_resethand_calls{0};
static void api_resethand_handler(int) { g_resethand_calls.fetch_add(1); }

static std::atomic<int> g_foreign_calls{0};
static void api_foreign_handler(int, siginfo_t*, void*) { g_foreign_calls.fetch_add(1); }

// Leaves by siglongjmp to the jump buffer its context points at.
static void api_jumping_c_action(void* context, const siginfo_t*) {
  siglongjmp(*static_cast<sigjmp_buf*>(context), 1);
}

// The slow C action of the flood test: counts the runs in progress and notes any run that begins
// after sigrelay_remove_action() returned.
struct flood_context {
  std::atomic<std::uint64_t> runs{0};
};
static std::atomic<int> g_in_action{0};
static std::atomic<bool> g_removed{false};
static std::atomic<int> g_late_runs{0};
static void api_slow_c_action(void* context, const siginfo_t*) {
  g_in_action.fetch_add(1);
  if (g_removed.load()) g_late_runs.fetch_add(1);
  static_cast<flood_context*>(context)->runs.fetch_add(1);
  for (int i = 0; i < 2000; ++i) (void)g_removed.load(std::memory_order_relaxed);  // stays a while
  g_in_action.fetch_sub(1);
}
}

namespace {

// --- C API: errors -----------------------------------------------------------------------------------

// sigrelay.h, Errors: "EINVAL (a bad or refused signal number — 0, negative, above SIGRTMAX, reserved
// by the C library, SIGKILL, SIGSTOP, a fault signal without allow_fault_signals ...). A call that
// fails changes nothing: the process's signal state is exactly as it was. ... sigrelay_last_error()
// the full message of the last call that failed in this thread, naming the signal".
// Every entry point that takes a signal number, with every kind of bad number, in a process whose
// signals are not all at SIG_DFL (a foreign handler, an ignore, a block, a registered action, a
// consumer), so that "exactly as it was" means something.
TEST(CApiErrors, EveryBadSignalNumberIsRefusedWithEinvalByNameAndChangesNothing) {
  in_child([] {
    install_handler(SIGUSR1, api_resethand_handler, SA_RESETHAND | SA_NODEFER, {SIGINT});
    install_handler(SIGPIPE, SIG_IGN, 0);
    block({SIGUSR2});
    sigrelay_counter* counter = nullptr;
    ASSERT_EQ(0, sigrelay_counter_create(&counter));
    sigrelay_action_id registered{};
    ASSERT_EQ(
        0, sigrelay_add_relay(SIGHUP, SIGRELAY_RELAY_ADD_COUNT, nullptr, counter, -1, nullptr, &registered));
    const int winch = SIGWINCH;
    sigrelay_signals* consumer = nullptr;
    ASSERT_EQ(0, sigrelay_signals_create(&winch, 1, nullptr, &consumer));
    const int efd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    ASSERT_GE(efd, 0);
    sigrelay_flag* flag = nullptr;
    ASSERT_EQ(0, sigrelay_flag_create(&flag));

    struct bad {
      int signo;
      std::string name;  // what the message must contain
      bool fault;        // refused only where fault signals are (add_action, add_relay, signals)
    };
    std::vector<bad> bads = {{0, "0", false},
                             {-1, "-1", false},
                             {-SIGINT, std::to_string(-SIGINT), false},
                             {SIGRTMAX + 1, std::to_string(SIGRTMAX + 1), false},
                             {SIGKILL, "SIGKILL", false},
                             {SIGSTOP, "SIGSTOP", false},
                             {SIGSEGV, "SIGSEGV", true},
                             {SIGBUS, "SIGBUS", true}};
    for (int signo = 32; signo < SIGRTMIN; ++signo) bads.push_back({signo, std::to_string(signo), false});

    const signal_state before = snapshot();
    for (const bad& b : bads) {
      SCOPED_TRACE(b.name);
      sigrelay_action_id id{};
      const auto check = [&](int rc, const char* call) {
        EXPECT_EQ(EINVAL, rc) << call;
        EXPECT_TRUE(names(sigrelay_last_error(), b.name)) << call;
        EXPECT_TRUE(same_state(before, snapshot())) << call;
      };
      check(sigrelay_add_action(b.signo, api_noop_c_action, nullptr, nullptr, &id), "add_action");
      check(sigrelay_add_relay(b.signo, SIGRELAY_RELAY_SET_FLAG, flag, nullptr, -1, nullptr, &id),
            "add_relay flag");
      check(sigrelay_add_relay(b.signo, SIGRELAY_RELAY_WRITE_FD, nullptr, nullptr, efd, nullptr, &id),
            "add_relay fd");
      check(sigrelay_add_relay(b.signo, SIGRELAY_RELAY_DEFAULT_ACTION, nullptr, nullptr, -1, nullptr, &id),
            "add_relay default");
      sigrelay_signals* s = nullptr;
      check(sigrelay_signals_create(&b.signo, 1, nullptr, &s), "signals_create");
      EXPECT_EQ(nullptr, s);
      check(sigrelay_signals_add(consumer, b.signo), "signals_add");
      if (!b.fault) {
        // A fault signal is accepted here; SIGKILL and SIGSTOP are not, even with allow_fault_signals.
        sigrelay_action_options faults = SIGRELAY_ACTION_OPTIONS_INIT;
        faults.allow_fault_signals = 1;
        check(sigrelay_add_action(b.signo, api_noop_c_action, nullptr, &faults, &id), "add_action faults");
        int changed = -7;
        check(sigrelay_ignore(b.signo, &changed), "ignore");
        EXPECT_EQ(-7, changed) << "written on failure";
        check(sigrelay_reset(b.signo, &changed), "reset");
        EXPECT_EQ(-7, changed) << "written on failure";
        int ignored = -7;
        check(sigrelay_ignored(b.signo, &ignored), "ignored");
        EXPECT_EQ(-7, ignored) << "written on failure";
      }
    }
    EXPECT_EQ(1, sigrelay_remove_action(registered));
    sigrelay_signals_destroy(consumer);
    sigrelay_flag_destroy(flag);
    sigrelay_counter_destroy(counter);
    ::close(efd);
  });
}

// sigrelay.h, Errors: "EINVAL (... or a bad argument) ... A call that fails changes nothing ...
// sigrelay_last_error() the full message of the last call that failed in this thread, naming the
// signal"; sigrelay_last_error(): "(naming the signal where one was involved)"; sigrelay_add_relay():
// "`flag` for SET_FLAG, DIE_IF_SET and DEFAULT_IF_SET; `counter` for ADD_COUNT; `fd` for WRITE_FD,
// which must be a non-blocking pipe or eventfd: EINVAL otherwise".
// Bad arguments with a good signal, both a signal sigrelay does not hold yet (SIGUSR1) and one it
// holds (SIGHUP): each call is refused with EINVAL, changes nothing, and its message names the signal.
TEST(CApiErrors, EveryBadArgumentWithAGoodSignalIsRefusedNamingTheSignalAndChangesNothing) {
  in_child([] {
    install_handler(SIGUSR1, api_resethand_handler, SA_RESTART, {SIGTERM});
    block({SIGUSR2});
    sigrelay_counter* counter = nullptr;
    ASSERT_EQ(0, sigrelay_counter_create(&counter));
    sigrelay_action_id registered{};
    ASSERT_EQ(
        0, sigrelay_add_relay(SIGHUP, SIGRELAY_RELAY_ADD_COUNT, nullptr, counter, -1, nullptr, &registered));
    int blocking[2];
    ASSERT_EQ(0, ::pipe2(blocking, O_CLOEXEC));
    int closed[2];
    ASSERT_EQ(0, ::pipe2(closed, O_CLOEXEC | O_NONBLOCK));
    ::close(closed[0]);
    ::close(closed[1]);
    sigrelay_flag* flag = nullptr;
    ASSERT_EQ(0, sigrelay_flag_create(&flag));

    const signal_state before = snapshot();
    for (const int signo : {SIGUSR1, SIGHUP}) {
      const std::string name(sigrelay::signal_name(signo));
      SCOPED_TRACE(name);
      sigrelay_action_id id{};
      const auto check = [&](int rc, const char* call) {
        EXPECT_EQ(EINVAL, rc) << call;
        EXPECT_TRUE(names(sigrelay_last_error(), name)) << call;
        EXPECT_TRUE(same_state(before, snapshot())) << call;
      };
      check(sigrelay_add_action(signo, nullptr, nullptr, nullptr, &id), "add_action, NULL fn");
      check(sigrelay_add_action(signo, api_noop_c_action, nullptr, nullptr, nullptr), "add_action, NULL id");
      check(sigrelay_add_relay(signo, SIGRELAY_RELAY_SET_FLAG, nullptr, counter, -1, nullptr, &id),
            "SET_FLAG, NULL flag");
      check(sigrelay_add_relay(signo, SIGRELAY_RELAY_DIE_IF_SET, nullptr, nullptr, -1, nullptr, &id),
            "DIE_IF_SET, NULL flag");
      check(sigrelay_add_relay(signo, SIGRELAY_RELAY_DEFAULT_IF_SET, nullptr, nullptr, -1, nullptr, &id),
            "DEFAULT_IF_SET, NULL flag");
      check(sigrelay_add_relay(signo, SIGRELAY_RELAY_ADD_COUNT, flag, nullptr, -1, nullptr, &id),
            "ADD_COUNT, NULL counter");
      check(sigrelay_add_relay(signo, SIGRELAY_RELAY_WRITE_FD, nullptr, nullptr, blocking[1], nullptr, &id),
            "WRITE_FD, blocking pipe");
      check(sigrelay_add_relay(signo, SIGRELAY_RELAY_WRITE_FD, nullptr, nullptr, closed[1], nullptr, &id),
            "WRITE_FD, closed fd");
      check(sigrelay_add_relay(signo, SIGRELAY_RELAY_WRITE_FD, nullptr, nullptr, -1, nullptr, &id),
            "WRITE_FD, fd -1");
      check(sigrelay_add_relay(signo, static_cast<sigrelay_relay_kind>(99), flag, counter, -1, nullptr, &id),
            "kind 99");
      check(sigrelay_add_relay(signo, SIGRELAY_RELAY_SET_FLAG, flag, nullptr, -1, nullptr, nullptr),
            "SET_FLAG, NULL id");
    }
    EXPECT_EQ(1, sigrelay_remove_action(registered));
    sigrelay_flag_destroy(flag);
    sigrelay_counter_destroy(counter);
    ::close(blocking[0]);
    ::close(blocking[1]);
  });
}

// sigrelay_add_relay(): "`fd` for WRITE_FD, which must be a non-blocking pipe or eventfd: EINVAL
// otherwise". A regular file opened O_NONBLOCK is neither (and O_NONBLOCK means nothing to a regular
// file: a write to it can block on the disk inside the handler): it must be refused, and nothing
// change. Positive control: a non-blocking pipe is accepted.
TEST(CApiErrors, AWriteFdRelayOnARegularFileIsRefused) {
  in_child([] {
    char path[] = "/tmp/contract_api_test.XXXXXX";
    const int fd = ::mkstemp(path);
    ASSERT_GE(fd, 0);
    ::unlink(path);
    ASSERT_EQ(0, ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK));
    const signal_state before = snapshot();
    sigrelay_action_id id{};
    const int rc = sigrelay_add_relay(SIGUSR1, SIGRELAY_RELAY_WRITE_FD, nullptr, nullptr, fd, nullptr, &id);
    EXPECT_EQ(EINVAL, rc) << "a non-blocking regular file was accepted as a WRITE_FD target";
    if (rc == 0) {
      EXPECT_EQ(1, sigrelay_remove_action(id));
    } else {
      EXPECT_TRUE(names(sigrelay_last_error(), "SIGUSR1"));
    }
    EXPECT_TRUE(same_state(before, snapshot()));
    int fds[2];
    ASSERT_EQ(0, ::pipe2(fds, O_CLOEXEC | O_NONBLOCK));
    ASSERT_EQ(0,
              sigrelay_add_relay(SIGUSR1, SIGRELAY_RELAY_WRITE_FD, nullptr, nullptr, fds[1], nullptr, &id));
    EXPECT_EQ(1, sigrelay_remove_action(id));
    ::close(fds[0]);
    ::close(fds[1]);
    ::close(fd);
  });
}

// sigrelay.h, Errors: "errno is left as it was on success." Every successful call that can fail,
// including a timed wait that times out (0 events is a success) and the signalfd backend, with
// errno set to a value none of them would produce.
TEST(CApiErrno, ErrnoIsLeftAsItWasByEverySuccessfulCall) {
  in_child([] {
    static constexpr int kSentinel = EXDEV;
    const auto keeps = [](const char* call, const std::function<int()>& f) {
      errno = kSentinel;
      const int rc = f();
      const int after = errno;
      EXPECT_EQ(0, rc) << call;
      EXPECT_EQ(kSentinel, after) << call << " changed errno to " << std::strerror(after);
    };
    int signo = 0;
    keeps("signal_number", [&] { return sigrelay_signal_number("RTMIN+1", &signo); });
    sigrelay_flag* flag = nullptr;
    sigrelay_counter* counter = nullptr;
    keeps("flag_create", [&] { return sigrelay_flag_create(&flag); });
    keeps("counter_create", [&] { return sigrelay_counter_create(&counter); });
    sigrelay_action_id a{}, b{}, c{}, d{};
    keeps("add_action",
          [&] { return sigrelay_add_action(SIGUSR1, api_noop_c_action, nullptr, nullptr, &a); });
    keeps("add_relay SET_FLAG", [&] {
      return sigrelay_add_relay(SIGUSR1, SIGRELAY_RELAY_SET_FLAG, flag, nullptr, -1, nullptr, &b);
    });
    keeps("add_relay ADD_COUNT", [&] {
      return sigrelay_add_relay(SIGHUP, SIGRELAY_RELAY_ADD_COUNT, nullptr, counter, -1, nullptr, &c);
    });
    const int efd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    ASSERT_GE(efd, 0);
    keeps("add_relay WRITE_FD", [&] {
      return sigrelay_add_relay(SIGHUP, SIGRELAY_RELAY_WRITE_FD, nullptr, nullptr, efd, nullptr, &d);
    });
    int changed = 0, ignored = 0;
    keeps("ignore", [&] { return sigrelay_ignore(SIGPIPE, &changed); });
    keeps("ignored", [&] { return sigrelay_ignored(SIGPIPE, &ignored); });
    keeps("reset", [&] { return sigrelay_reset(SIGPIPE, &changed); });
    for (const int backend : {SIGRELAY_BACKEND_RELAY, SIGRELAY_BACKEND_SIGNALFD}) {
      if (backend == SIGRELAY_BACKEND_SIGNALFD && sigrelay::test::posix_platform()) continue;
      SCOPED_TRACE(backend == SIGRELAY_BACKEND_RELAY ? "relay" : "signalfd");
      sigrelay_signals_options options = SIGRELAY_SIGNALS_OPTIONS_INIT;
      options.backend = backend;
      const int subscribed[] = {SIGUSR2, SIGRTMIN + 2};
      sigrelay_signals* s = nullptr;
      keeps("signals_create", [&] { return sigrelay_signals_create(subscribed, 2, &options, &s); });
      ASSERT_NE(nullptr, s);
      keeps("signals_add", [&] { return sigrelay_signals_add(s, SIGWINCH); });
      sigrelay_event events[4];
      size_t got = 99;
      keeps("signals_pending (none)", [&] { return sigrelay_signals_pending(s, events, 4, &got); });
      EXPECT_EQ(0U, got);
      keeps("signals_wait (times out)", [&] { return sigrelay_signals_wait(s, 5, events, 4, &got); });
      EXPECT_EQ(0U, got);
      ASSERT_EQ(0, ::kill(::getpid(), SIGUSR2));
      keeps("signals_wait (an event)", [&] { return sigrelay_signals_wait(s, -1, events, 4, &got); });
      EXPECT_EQ(1U, got);
      keeps("signals_remove", [&] { return sigrelay_signals_remove(s, SIGWINCH); });
      errno = kSentinel;
      sigrelay_signals_destroy(s);
      EXPECT_EQ(kSentinel, errno) << "signals_destroy";
    }
    for (const sigrelay_action_id id : {a, b, c, d}) {
      errno = kSentinel;
      EXPECT_EQ(1, sigrelay_remove_action(id));
      EXPECT_EQ(kSentinel, errno) << "remove_action";
    }
    sigrelay_flag_destroy(flag);
    sigrelay_counter_destroy(counter);
    ::close(efd);
  });
}

// --- C API: hostile deliveries -------------------------------------------------------------------------

// Where the worker of the siglongjmp test has its alternate signal stack, relative to its own stack.
enum class altstack { none, above, below };

std::string altstack_name(const testing::TestParamInfo<altstack>& p) {
  switch (p.param) {
    case altstack::none: return "no_altstack";
    case altstack::above: return "altstack_above_thread_stack";
    case altstack::below: return "altstack_below_thread_stack";
  }
  return "?";
}

// The worker of the siglongjmp test: one mapping holds its stack and its sigaltstack, in the order
// the parameter says (ASan, Rust's std and Go give threads such alternate stacks, mmap()ed wherever
// the kernel puts them).
struct jump_worker {
  altstack where = altstack::none;
  char* alt = nullptr;
  std::size_t alt_size = 0;
  sigjmp_buf out;
  std::atomic<int> jumped{0};
  std::atomic<bool> mask_restored{false};
};

void* run_jump_worker(void* arg) {
  jump_worker& w = *static_cast<jump_worker*>(arg);
  stack_t mine{};
  if (w.where == altstack::none) {
    mine.ss_flags = SS_DISABLE;
  } else {
    mine.ss_sp = w.alt;
    mine.ss_size = w.alt_size;
  }
  stack_t previous{};
  if (::sigaltstack(&mine, &previous) != 0) return nullptr;
  sigset_t both;
  sigemptyset(&both);
  sigaddset(&both, SIGUSR1);
  sigaddset(&both, SIGUSR2);
  ::pthread_sigmask(SIG_UNBLOCK, &both, nullptr);
  if (sigsetjmp(w.out, 1) == 0) {
    ::pthread_kill(::pthread_self(), SIGUSR1);  // its C action jumps back here
  } else {
    w.jumped.store(1);
    sigset_t now;
    ::pthread_sigmask(SIG_BLOCK, nullptr, &now);
    w.mask_restored.store(sigismember(&now, SIGUSR1) == 0);
    ::pthread_kill(::pthread_self(), SIGUSR2);  // its next signal, from a shallower point
  }
  ::pthread_sigmask(SIG_BLOCK, &both, nullptr);
  (void)::sigaltstack(&previous, nullptr);  // (a sanitizer's own, which it frees at thread exit)
  return nullptr;
}

class CApiLongjmp : public testing::TestWithParam<altstack> {};
INSTANTIATE_TEST_SUITE_P(Altstacks, CApiLongjmp,
                         testing::Values(altstack::none, altstack::above, altstack::below), altstack_name);

// sigrelay.h: "A C action (sigrelay_action_fn) runs in signal context, with the contract of the C++
// `action`"; registry.hpp: "One that leaves by siglongjmp is tolerated ...: remove_action() and every
// other change of the actions ... wait for an abandoned one until its thread takes its next signal
// from a shallower point of the same stack (x86-64 and AArch64; not under ThreadSanitizer)";
// sigrelay_remove_action(): "when it returns, no run of it is in progress in any thread, and the
// signal's previous disposition is back when it was its last action".
// A C action leaves by siglongjmp on a worker thread, which has no alternate signal stack, or one
// mapped above or below its own stack (the trampoline is SA_ONSTACK, so the action runs there). The
// worker's next signal, sent from the frame the action jumped back to, releases it; the main thread
// then removes the action (under the watchdog: waiting for ever fails the test), gets 1 and finds
// SIG_DFL back, and the box of the C action is freed (ASan: no use after free). (An abandoned action
// that is never released blocks every grace period: the first removal, of the SIGUSR2 action, hangs.)
TEST_P(CApiLongjmp, ACActionLeftBySiglongjmpOnAWorkerIsReleasedByItsNextSignalAndRemoved) {
  if (SIGRELAY_TEST_UNDER_TSAN) {
    GTEST_SKIP() << "registry.hpp: the release by the next signal is not promised under ThreadSanitizer";
  }
  const altstack where = GetParam();
  in_child(
      [where] {
        constexpr std::size_t kStack = 4U << 20;
        constexpr std::size_t kAlt = 256U << 10;
        void* map =
            ::mmap(nullptr, kStack + kAlt, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        ASSERT_NE(MAP_FAILED, map);
        char* base = static_cast<char*>(map);
        char* stack = where == altstack::below ? base + kAlt : base;
        static jump_worker w;
        w.where = where;
        w.alt = where == altstack::below ? base : base + kStack;
        w.alt_size = kAlt;
        sigrelay_action_id jumping{}, counting{};
        ASSERT_EQ(0, sigrelay_add_action(SIGUSR1, api_jumping_c_action, &w.out, nullptr, &jumping));
        ASSERT_EQ(0, sigrelay_add_action(SIGUSR2, api_count_c_action, nullptr, nullptr, &counting));
        block({SIGUSR1, SIGUSR2});  // only the worker takes them
        pthread_attr_t attr;
        ASSERT_EQ(0, ::pthread_attr_init(&attr));
        ASSERT_EQ(0, ::pthread_attr_setstack(&attr, stack, kStack));
        pthread_t worker;
        ASSERT_EQ(0, ::pthread_create(&worker, &attr, run_jump_worker, &w));
        ASSERT_EQ(0, ::pthread_join(worker, nullptr));
        ::pthread_attr_destroy(&attr);
        ASSERT_EQ(1, w.jumped.load()) << "the C action did not jump";
        EXPECT_TRUE(w.mask_restored.load()) << "sigsetjmp(, 1) restores the mask";
        EXPECT_EQ(1, g_c_runs.load());
        EXPECT_EQ(1, sigrelay_remove_action(counting));
        EXPECT_EQ(1, sigrelay_remove_action(jumping));  // must not wait for ever
        EXPECT_EQ(SIG_DFL, query(SIGUSR1).sa_handler);
        EXPECT_EQ(SIG_DFL, query(SIGUSR2).sa_handler);
        EXPECT_EQ(0, sigrelay_remove_action(jumping));
        ::munmap(map, kStack + kAlt);
      },
      20);
}

// sigrelay_remove_action(): "when it returns, no run of it is in progress in any thread"; the design
// notes of src/capi.cc: the box is "freed only after remove_action() returned, i.e. after its grace
// period". A slow C action runs under a same-CPU sigqueue() flood from another process; another thread
// removes it mid-flood and frees its context at once. No run may be in progress when the removal
// returns, none may start after it (g_late_runs), and ASan must see no use of the freed context or
// box. A counter relay on the same signal keeps the trampoline installed through the rest of the flood.
TEST(CApiFlood, RemovingACActionFromAnotherThreadMidFloodWaitsForItsRunsAndNoneStartsAfter) {
  in_child(
      [] {
        sigrelay::test::cap_pending_signals_for_a_flood();
        pin_to_one_cpu();
        const int sig = SIGRTMIN + 1;
        sigrelay_counter* counter = nullptr;
        ASSERT_EQ(0, sigrelay_counter_create(&counter));
        sigrelay_action_id keep{}, slow{};
        ASSERT_EQ(0, sigrelay_add_relay(sig, SIGRELAY_RELAY_ADD_COUNT, nullptr, counter, -1, nullptr, &keep));
        auto* context = new flood_context;
        ASSERT_EQ(0, sigrelay_add_action(sig, api_slow_c_action, context, nullptr, &slow));
        constexpr int kSent = 20000;
        const pid_t sender = fork_queue_sender(::getpid(), sig, kSent);
        ASSERT_GT(sender, 0);
        std::atomic<int> removed_rc{-1};
        std::atomic<int> in_progress_after{-1};
        std::thread remover([&] {
          // Mid-flood: once the action has run a few hundred times (bounded by the flood itself).
          (void)eventually([&] { return context->runs.load() >= 300; });
          removed_rc.store(sigrelay_remove_action(slow));
          in_progress_after.store(g_in_action.load());
          g_removed.store(true);
          delete context;  // documented: may be destroyed right away
        });
        remover.join();
        EXPECT_TRUE(exited_with(wait_with_deadline(sender, 60), 0));
        // Every delivery counted (ThreadSanitizer loses some of a flood's signals: not asserted there).
        const bool all = eventually([&] { return sigrelay_counter_get(counter) >= kSent; },
                                    std::chrono::seconds(SIGRELAY_TEST_UNDER_TSAN ? 5 : 60));
        if (!SIGRELAY_TEST_UNDER_TSAN) {
          EXPECT_TRUE(all) << sigrelay_counter_get(counter) << " of " << kSent;
        }
        EXPECT_EQ(1, removed_rc.load());
        EXPECT_EQ(0, in_progress_after.load()) << "a run was in progress when the removal returned";
        EXPECT_EQ(0, g_late_runs.load()) << "the C action ran after its removal returned";
        // Leave with nothing that could kill: ignore underneath, then the last action goes.
        ASSERT_EQ(0, sigrelay_ignore(sig, nullptr));
        EXPECT_EQ(1, sigrelay_remove_action(keep));
        EXPECT_EQ(SIG_IGN, query(sig).sa_handler);
        sigrelay_counter_destroy(counter);
      },
      120);
}

// --- relays.hpp: die_by_signal -----------------------------------------------------------------------

// die_by_signal(): "Ends the process so that its parent sees WIFSIGNALED with `signo` ..., even if
// the signal was blocked or handled: resets it to SIG_DFL, unblocks it in this thread and sends it to
// this thread." Called from a thread other than main, with the signal blocked in every thread and
// either ignored (SIG_IGN) or handled by a sigrelay action; the C wrapper too.
TEST(DieBySignal, FromANonMainThreadWithTheSignalBlockedEverywhereAndIgnoredOrHandled) {
  struct rlimit no_core {};
  for (const int signo : {SIGTERM, SIGUSR2, SIGHUP, SIGQUIT, SIGRTMIN + 1, SIGRTMAX}) {
    for (const int how : {0, 1, 2}) {  // 0: SIG_IGN, 1: a sigrelay action, 2: SIG_IGN via the C wrapper
      const int status = run_in_child(
          [signo, how, no_core] {
            (void)::setrlimit(RLIMIT_CORE, &no_core);  // SIGQUIT: no core file
            std::atomic<std::uint64_t> count{0};
            if (how == 1) {
              (void)sigrelay::add_action(signo, sigrelay::relay::add_count(count));
            } else {
              install_handler(signo, SIG_IGN, 0);
            }
            block({signo});  // the worker inherits the block: blocked in every thread
            std::thread worker([signo, how] {
              if (how == 2) sigrelay_die_by_signal(signo);
              sigrelay::relay::die_by_signal(signo);
            });
            worker.join();  // never returns: the process dies
            ::_exit(99);
          },
          20);
      EXPECT_TRUE(killed_by(status, signo)) << sigrelay::signal_name(signo) << " how " << how;
    }
  }
}

// die_by_signal(): "Only if the process survives that (a signal whose default is not to terminate,
// such as SIGCHLD) does it fall back to _exit(128 + signo)"; it is [[noreturn]] and "Ends the
// process"; sigrelay_die_by_signal(): "Dies by `signo` with its default action ..., or by _exit(128 +
// signo) if that does not kill". For each signal whose default is to ignore, continue or stop, with
// the signal handled by a sigrelay action and blocked, called from a non-main thread: the process
// ends with 128 + signo (a stopped child would never end: the watchdog's SIGKILL fails the test).
// SIGKILL itself kills.
TEST(DieBySignal, ASignalWhoseDefaultDoesNotTerminateEndsWith128PlusItAndNeverStops) {
  for (const int signo : {SIGCHLD, SIGURG, SIGWINCH, SIGCONT, SIGTSTP, SIGTTIN, SIGTTOU, SIGSTOP}) {
    const int status = run_in_child(
        [signo] {
          std::atomic<std::uint64_t> count{0};
          if (signo != SIGSTOP) (void)sigrelay::add_action(signo, sigrelay::relay::add_count(count));
          block({signo});
          std::thread worker([signo] { sigrelay_die_by_signal(signo); });
          worker.join();
          ::_exit(99);
        },
        10);
    EXPECT_TRUE(exited_with(status, 128 + signo)) << sigrelay::signal_name(signo);
  }
  EXPECT_TRUE(killed_by(run_in_child([] { sigrelay::relay::die_by_signal(SIGKILL); }, 10), SIGKILL));
}

// --- relays.hpp: wakeup_fd and fd_relay ----------------------------------------------------------------

// wakeup_fd: "readable after any delivery of a signal it is added for, until drain()ed"; drain():
// "Number of wake-ups since the last drain (0 if none) ... Never blocks"; fd_relay: "Wakes a file
// descriptor on each delivery". With the eventfd (the linux layer), no wake-up is lost: a same-CPU
// flood of N queued realtime signals from another process, drained concurrently by another thread,
// adds up to exactly N (and an add_count() beside it counts N too).
TEST(WakeupFd, ASameCpuRealtimeFloodDrainedConcurrentlyLosesNoWakeUp) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("an eventfd that counts every wake-up");
  if (SIGRELAY_TEST_UNDER_TSAN) GTEST_SKIP() << "ThreadSanitizer loses some of a flood's signals";
  in_child(
      [] {
        sigrelay::test::cap_pending_signals_for_a_flood();
        pin_to_one_cpu();
        const int sig = SIGRTMIN + 2;
        sigrelay::relay::wakeup_fd wake;
        std::atomic<std::uint64_t> count{0};
        const sigrelay::action_id w = sigrelay::add_action(sig, wake.get());
        const sigrelay::action_id c = sigrelay::add_action(sig, sigrelay::relay::add_count(count));
        constexpr int kSent = 5000;
        std::atomic<bool> stop{false};
        std::atomic<std::uint64_t> drained{0};
        std::thread drainer([&] {
          while (!stop.load()) {
            drained.fetch_add(wake.drain());
            ::sched_yield();
          }
        });
        const pid_t sender = fork_queue_sender(::getpid(), sig, kSent);
        ASSERT_GT(sender, 0);
        EXPECT_TRUE(exited_with(wait_with_deadline(sender, 60), 0));
        EXPECT_TRUE(eventually([&] { return count.load() >= kSent; }, std::chrono::seconds(60)));
        stop.store(true);
        drainer.join();
        drained.fetch_add(wake.drain());
        EXPECT_EQ(static_cast<std::uint64_t>(kSent), count.load());
        EXPECT_EQ(static_cast<std::uint64_t>(kSent), drained.load()) << "wake-ups lost or invented";
        EXPECT_FALSE(readable(wake.native_handle()));
        EXPECT_EQ(0U, wake.drain());
        EXPECT_TRUE(sigrelay::remove_action(w));
        EXPECT_TRUE(sigrelay::remove_action(c));
      },
      120);
}

// fd_relay: "The fd must be non-blocking, so a full pipe (or a saturated eventfd) never blocks the
// handler: the reader has pending data anyway, so the wake-up is not lost." The wakeup_fd's eventfd is
// saturated (0xfffffffffffffffe, the most it holds); 100 deliveries must each return (the watchdog
// fails a blocked handler), the fd stays readable, drain() gives the saturated count and empties it,
// and the next delivery counts 1 again.
TEST(WakeupFd, ASaturatedEventfdNeverBlocksTheHandlerAndDrainsToItsCount) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("an eventfd");
  in_child(
      [] {
        sigrelay::relay::wakeup_fd wake;
        const std::uint64_t most = 0xfffffffffffffffeULL;
        ASSERT_EQ(static_cast<ssize_t>(sizeof most), ::write(wake.native_handle(), &most, sizeof most));
        std::atomic<std::uint64_t> count{0};
        const sigrelay::action_id w = sigrelay::add_action(SIGUSR1, wake.get());
        const sigrelay::action_id c = sigrelay::add_action(SIGUSR1, sigrelay::relay::add_count(count));
        for (int i = 0; i < 100; ++i) {
          ASSERT_EQ(0, ::kill(::getpid(), SIGUSR1));
          ASSERT_TRUE(eventually([&] { return count.load() >= static_cast<std::uint64_t>(i + 1); }));
        }
        EXPECT_TRUE(readable(wake.native_handle()));
        EXPECT_EQ(most, wake.drain());
        EXPECT_FALSE(readable(wake.native_handle()));
        ASSERT_EQ(0, ::kill(::getpid(), SIGUSR1));
        ASSERT_TRUE(eventually([&] { return count.load() >= 101; }));
        EXPECT_EQ(1U, wake.drain());
        EXPECT_TRUE(sigrelay::remove_action(w));
        EXPECT_TRUE(sigrelay::remove_action(c));
      },
      20);
}

class FdRelayFork : public testing::TestWithParam<bool> {};
std::string fork_name(const testing::TestParamInfo<bool>& p) { return p.param ? "raw_Fork" : "fork"; }
INSTANTIATE_TEST_SUITE_P(Forks, FdRelayFork, testing::Values(false, true), fork_name);

// fd_relay: "Fork: after fork(), a delivery in the child does not write to the fd (it is shared with
// the parent, whose reader would otherwise be woken by the child's signals)." A child of fork() or of
// _Fork() (which runs no fork handler, and never calls after_fork_in_child() here) inherits the
// wakeup_fd's action and takes one delivery from each kind of sender (kill, sigqueue, tgkill,
// pidfd_send_signal) sent by the parent; the parent's eventfd stays silent. Positive control: the
// parent's own next delivery wakes it.
TEST_P(FdRelayFork, AChildsDeliveriesFromEverySenderNeverWakeTheParentsFd) {
  const bool raw = GetParam();
  in_child(
      [raw] {
        const int sig = SIGRTMIN + 3;  // queued: four sends are four deliveries
        sigrelay::relay::wakeup_fd wake;
        std::atomic<std::uint64_t> count{0};
        const sigrelay::action_id w = sigrelay::add_action(sig, wake.get());
        const sigrelay::action_id c = sigrelay::add_action(sig, sigrelay::relay::add_count(count));
        // One delivery at a time, each acknowledged by the child through a pipe (ordinary code), so
        // that none merges with the next (ThreadSanitizer keeps one pending delivery per signal).
        int ack[2];
        ASSERT_EQ(0, ::pipe2(ack, O_CLOEXEC));
        std::fflush(nullptr);
        const pid_t child = raw ? ::_Fork() : ::fork();
        ASSERT_GE(child, 0);
        if (child == 0) {
          ::alarm(20);
          ::close(ack[0]);
          const struct timespec pause { 0, 1000000 };
          for (std::uint64_t seen = 1; seen <= 4; ++seen) {
            while (count.load() < seen) ::nanosleep(&pause, nullptr);  // the child's own copy
            if (::write(ack[1], "x", 1) != 1) ::_exit(3);
          }
          ::_exit(0);
        }
        ::close(ack[1]);
        for (const sender how : {sender::kill, sender::sigqueue, sender::tgkill, sender::pidfd}) {
          EXPECT_EQ(0, send_signal(how, child, sig));
          char byte = 0;
          ssize_t n;
          while ((n = ::read(ack[0], &byte, 1)) < 0 && errno == EINTR) {
          }
          EXPECT_EQ(1, n) << "the child did not take the delivery";
        }
        ::close(ack[0]);
        EXPECT_TRUE(exited_with(wait_with_deadline(child, 30), 0))
            << "the child did not take its 4 deliveries";
        EXPECT_FALSE(readable(wake.native_handle())) << "the child's deliveries woke the parent's fd";
        EXPECT_EQ(0U, wake.drain());
        EXPECT_EQ(0U, count.load());
        ASSERT_EQ(0, ::kill(::getpid(), sig));
        EXPECT_TRUE(eventually([&] { return count.load() == 1; }));
        EXPECT_EQ(1U, wake.drain());
        EXPECT_TRUE(sigrelay::remove_action(w));
        EXPECT_TRUE(sigrelay::remove_action(c));
      },
      40);
}

// --- describe.hpp ------------------------------------------------------------------------------------

// describe.hpp: "It never changes any signal disposition or mask, except remove_actions_in_module()".
// A process with a chained SA_RESETHAND handler that has not had its call (reading it must not
// spend it), an ignored signal, a blocked signal pending for this thread and for the process, a C
// action, and another thread blocking a signal: describe() of each, describe_all() and
// check_ownership() (also to_string() of each) leave every disposition, the mask and the pending
// signals as they were, and do not run the chained handler.
TEST(DescribeHostile, DescribingEverythingChangesNoDispositionMaskOrPendingSignal) {
  in_child([] {
    install_handler(SIGUSR1, api_resethand_handler, SA_RESETHAND | SA_NODEFER, {SIGINT});
    sigrelay_action_id id{};
    ASSERT_EQ(0, sigrelay_add_action(SIGUSR1, api_noop_c_action, nullptr, nullptr, &id));
    install_handler(SIGPIPE, SIG_IGN, 0);
    block({SIGUSR2});
    ASSERT_EQ(0, ::syscall(SYS_tgkill, ::getpid(), ::gettid(), SIGUSR2));
    ASSERT_EQ(0, ::kill(::getpid(), SIGUSR2));
    std::atomic<bool> go{false}, ready{false};
    std::thread other([&] {
      sigset_t hup;
      sigemptyset(&hup);
      sigaddset(&hup, SIGHUP);
      ::pthread_sigmask(SIG_BLOCK, &hup, nullptr);
      ready.store(true);
      while (!go.load()) ::sched_yield();
    });
    while (!ready.load()) ::sched_yield();

    const signal_state before = snapshot();
    for (int round = 0; round < 3; ++round) {
      for (const sigrelay::signal_description& d : sigrelay::describe_all()) (void)to_string(d);
      for (const sigrelay::ownership_loss& loss : sigrelay::check_ownership()) (void)to_string(loss);
      for (const int signo : {SIGUSR1, SIGUSR2, SIGPIPE, SIGHUP, SIGKILL, SIGSTOP}) {
        (void)to_string(sigrelay::describe(signo));
      }
      EXPECT_TRUE(same_state(before, snapshot())) << "round " << round;
    }
    const sigrelay::signal_description usr2 = sigrelay::describe(SIGUSR2);
    EXPECT_TRUE(usr2.blocked_in_thread);
    EXPECT_TRUE(usr2.pending_in_thread);
    EXPECT_TRUE(usr2.pending_in_process);
    const sigrelay::signal_description hup = sigrelay::describe(SIGHUP);
    EXPECT_FALSE(hup.blocked_in_thread);
    EXPECT_GE(hup.threads, 2U);
    EXPECT_GE(hup.threads_blocking, 1U);
    EXPECT_EQ(0, g_resethand_calls.load()) << "describing ran the chained handler";
    const sigrelay::signal_description usr1 = sigrelay::describe(SIGUSR1);
    ASSERT_TRUE(usr1.chained.has_value());
    EXPECT_EQ(sigrelay::disposition::kind::handler, usr1.chained->what) << "reading spent SA_RESETHAND";
    sigset_t pending;
    sigemptyset(&pending);
    ASSERT_EQ(0, ::sigpending(&pending));
    EXPECT_EQ(1, sigismember(&pending, SIGUSR2));
    go.store(true);
    other.join();
    const struct timespec zero {};
    sigset_t usr2set;
    sigemptyset(&usr2set);
    sigaddset(&usr2set, SIGUSR2);
    EXPECT_EQ(SIGUSR2, ::sigtimedwait(&usr2set, nullptr, &zero));
    EXPECT_EQ(SIGUSR2, ::sigtimedwait(&usr2set, nullptr, &zero));
    EXPECT_EQ(1, sigrelay_remove_action(id));
  });
}

// describe.hpp: `chained` is "the saved disposition sigrelay chains"; registry.hpp, Chaining: an
// earlier handler is called "with its sa_mask (and the signal itself unless SA_NODEFER) ..., only once
// if it has SA_RESETHAND (then it counts as SIG_DFL, and SIG_DFL is what the last remove_action()
// restores)"; action_description: "c_action ... `function` is the C function". describe() of a
// signal whose chained handler has SA_RESETHAND|SA_NODEFER and a mask shows that handler with those
// flags and mask until its one call, then SIG_DFL; the C action is shown as a C action with its
// C function; the last removal restores SIG_DFL.
TEST(DescribeHostile, AChainedSaResethandSaNodeferHandlerIsShownWithItsFlagsUntilItsCallThenAsSigDfl) {
  in_child([] {
    install_handler(SIGUSR1, api_resethand_handler, SA_RESETHAND | SA_NODEFER | SA_RESTART,
                    {SIGINT, SIGTERM});
    int context = 0;
    sigrelay_action_id id{};
    ASSERT_EQ(0, sigrelay_add_action(SIGUSR1, api_count_c_action, &context, nullptr, &id));

    sigrelay::signal_description d = sigrelay::describe(SIGUSR1);
    EXPECT_TRUE(d.registered);
    EXPECT_FALSE(d.replaced);
    EXPECT_TRUE(d.current.trampoline);
    ASSERT_TRUE(d.chained.has_value());
    EXPECT_EQ(sigrelay::disposition::kind::handler, d.chained->what);
    EXPECT_EQ(reinterpret_cast<const void*>(&api_resethand_handler), d.chained->handler.address);
    EXPECT_TRUE(d.chained->handler.mapped);
    EXPECT_FALSE(d.chained->trampoline);
    EXPECT_EQ(SA_RESETHAND | SA_NODEFER | SA_RESTART,
              d.chained->flags & (SA_RESETHAND | SA_NODEFER | SA_RESTART));
    EXPECT_EQ(0, d.chained->flags & SA_SIGINFO);
    EXPECT_EQ(1, sigismember(&d.chained->mask, SIGINT));
    EXPECT_EQ(1, sigismember(&d.chained->mask, SIGTERM));
    EXPECT_EQ(0, sigismember(&d.chained->mask, SIGUSR1));
    ASSERT_EQ(1U, d.actions.size());
    EXPECT_EQ(sigrelay::action_description::kind::c_action, d.actions[0].what);
    EXPECT_EQ(reinterpret_cast<const void*>(&api_count_c_action), d.actions[0].function.address);
    std::string text = to_string(d);
    EXPECT_TRUE(contains(text, "chains: handler")) << text;
    EXPECT_TRUE(contains(text, "SA_NODEFER|SA_RESETHAND")) << text;
    EXPECT_TRUE(contains(text, "mask {SIGINT, SIGTERM}")) << text;
    EXPECT_TRUE(contains(text, "C action")) << text;

    ASSERT_EQ(0, ::kill(::getpid(), SIGUSR1));
    ASSERT_TRUE(eventually([] { return g_c_runs.load() == 1; }));
    EXPECT_EQ(1, g_resethand_calls.load());
    d = sigrelay::describe(SIGUSR1);
    EXPECT_TRUE(d.registered);
    EXPECT_TRUE(d.current.trampoline) << "the kernel's SA_RESETHAND must not apply to the trampoline";
    ASSERT_TRUE(d.chained.has_value());
    EXPECT_EQ(sigrelay::disposition::kind::default_action, d.chained->what) << "spent: counts as SIG_DFL";
    text = to_string(d);
    EXPECT_TRUE(contains(text, "chains: SIG_DFL")) << text;
    // A second delivery: the spent handler is not called again, and SIG_DFL is not "called" (alive).
    ASSERT_EQ(0, ::kill(::getpid(), SIGUSR1));
    ASSERT_TRUE(eventually([] { return g_c_runs.load() == 2; }));
    EXPECT_EQ(1, g_resethand_calls.load());
    EXPECT_EQ(1, sigrelay_remove_action(id));
    EXPECT_EQ(SIG_DFL, query(SIGUSR1).sa_handler);
    EXPECT_FALSE(sigrelay::describe(SIGUSR1).registered);
  });
}

// describe.hpp, Tamper detection: a signal whose trampoline other code replaced "is reported with its
// new owner"; ownership_loss: "now.handler is the new owner", actions: "registry actions that the
// trampoline would have run"; to_string: "SIGUSR1: sigrelay's handler was replaced by
// libuv.so.1!uv__signal_handler (2 actions no longer called, unless it chains)"; "A signal whose
// actions are all gone (pass-through) is not reported"; signal_description::replaced; registry.hpp:
// "the registry never overwrites that handler: when the last action goes, the trampoline is left to
// pass deliveries through", and "If that code has meanwhile set SIG_DFL or SIG_IGN, add_action()
// installs the trampoline afresh, saving that disposition as the one to restore".
// A foreign handler in the C library (never run: _exit) and then one in this program replace
// sigrelay's over a C action and a C++ relay: each is reported naming its module (as dladdr() does);
// once the actions are gone nothing is reported and the foreign handler is still in place; after the
// foreign code sets SIG_DFL, a new action installs the trampoline afresh, chaining SIG_DFL.
TEST(DescribeHostile, AForeignHandlerOverSigrelaysIsReportedByModuleUntilPassThroughAndNeverOverwritten) {
  in_child([] {
    std::atomic<std::uint64_t> count{0};
    sigrelay_action_id c{};
    ASSERT_EQ(0, sigrelay_add_action(SIGUSR2, api_count_c_action, nullptr, nullptr, &c));
    const sigrelay::action_id r = sigrelay::add_action(SIGUSR2, sigrelay::relay::add_count(count));
    EXPECT_TRUE(sigrelay::check_ownership().empty());

    // Another library's handler: here a function of the C library, never delivered to.
    const auto libc_fn = reinterpret_cast<void (*)(int)>(&::_exit);
    install_handler(SIGUSR2, libc_fn, SA_RESTART);
    Dl_info libc_info{};
    ASSERT_NE(0, ::dladdr(reinterpret_cast<const void*>(libc_fn), &libc_info));
    std::vector<sigrelay::ownership_loss> losses = sigrelay::check_ownership();
    ASSERT_EQ(1U, losses.size());
    EXPECT_EQ(SIGUSR2, losses[0].signo);
    EXPECT_EQ("SIGUSR2", losses[0].name);
    EXPECT_EQ(2U, losses[0].actions);
    EXPECT_EQ(sigrelay::disposition::kind::handler, losses[0].now.what);
    EXPECT_EQ(reinterpret_cast<const void*>(libc_fn), losses[0].now.handler.address);
    EXPECT_TRUE(losses[0].now.handler.mapped);
    ASSERT_NE(nullptr, libc_info.dli_fname);
    EXPECT_EQ(std::string(libc_info.dli_fname), losses[0].now.handler.module);
    std::string text = to_string(losses[0]);
    EXPECT_TRUE(contains(text, "SIGUSR2: sigrelay's handler was replaced by ")) << text;
    EXPECT_TRUE(contains(text, libc_info.dli_fname)) << text;
    EXPECT_TRUE(contains(text, "(2 actions no longer called, unless it chains)")) << text;

    // The program's own handler, with SA_SIGINFO: reported again, naming this program's module.
    install_siginfo(SIGUSR2, api_foreign_handler);
    Dl_info self_info{};
    ASSERT_NE(0, ::dladdr(reinterpret_cast<const void*>(&api_foreign_handler), &self_info));
    losses = sigrelay::check_ownership();
    ASSERT_EQ(1U, losses.size());
    EXPECT_EQ(reinterpret_cast<const void*>(&api_foreign_handler), losses[0].now.handler.address);
    EXPECT_EQ(std::string(self_info.dli_fname), losses[0].now.handler.module);
    sigrelay::signal_description d = sigrelay::describe(SIGUSR2);
    EXPECT_TRUE(d.registered);
    EXPECT_TRUE(d.replaced);
    EXPECT_FALSE(d.current.trampoline);
    EXPECT_TRUE(contains(to_string(d), "REPLACED")) << to_string(d);
    // The loss is real: the foreign handler takes the delivery, the actions do not run.
    ASSERT_EQ(0, ::kill(::getpid(), SIGUSR2));
    ASSERT_TRUE(eventually([] { return g_foreign_calls.load() == 1; }));
    EXPECT_EQ(0U, count.load());
    EXPECT_EQ(0, g_c_runs.load());

    // Every action gone: pass-through, not reported; the foreign handler is left in place.
    EXPECT_EQ(1, sigrelay_remove_action(c));
    EXPECT_TRUE(sigrelay::remove_action(r));
    EXPECT_TRUE(sigrelay::check_ownership().empty());
    EXPECT_EQ(reinterpret_cast<void*>(&api_foreign_handler),
              reinterpret_cast<void*>(query(SIGUSR2).sa_sigaction));
    d = sigrelay::describe(SIGUSR2);
    EXPECT_TRUE(d.actions.empty());
    EXPECT_EQ(reinterpret_cast<const void*>(&api_foreign_handler), d.current.handler.address);

    // The foreign code goes back to SIG_DFL: a new action installs the trampoline afresh.
    install_handler(SIGUSR2, SIG_DFL, 0);
    ASSERT_EQ(0, sigrelay_add_action(SIGUSR2, api_count_c_action, nullptr, nullptr, &c));
    d = sigrelay::describe(SIGUSR2);
    EXPECT_TRUE(d.registered);
    EXPECT_FALSE(d.replaced);
    EXPECT_TRUE(d.current.trampoline);
    ASSERT_TRUE(d.chained.has_value());
    EXPECT_EQ(sigrelay::disposition::kind::default_action, d.chained->what);
    EXPECT_TRUE(sigrelay::check_ownership().empty());
    ASSERT_EQ(0, ::kill(::getpid(), SIGUSR2));
    ASSERT_TRUE(eventually([] { return g_c_runs.load() == 1; }));
    EXPECT_EQ(1, g_foreign_calls.load());
    EXPECT_EQ(1, sigrelay_remove_action(c));
    EXPECT_EQ(SIG_DFL, query(SIGUSR2).sa_handler);
  });
}

}  // namespace
