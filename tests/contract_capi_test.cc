// SPDX-License-Identifier: MIT
// tests/contract_capi_test.cc — the promises of the C API (<sigrelay.h>) under hostile conditions.
//
// capi_test.c checks each function in the situation it was written for, and contract_api_test.cc
// every bad signal number and errno on the ordinary paths. This file goes after what a C program
// meets when life is hard: a consumer drained through a poll() of its handle with an array too small
// for what is pending, a realtime flood on one CPU read through tiny arrays (received + dropped ==
// sent), a wait() closed from another thread, a removal that waits for a running action while
// signals interrupt it (errno), a fork() while another thread is inside the C API, memory running
// out while a call is refused (no C++ exception may reach C), stale and forged action ids. Each test
// body runs in a forked child under a watchdog (support/child.hpp), which starts it with every signal
// at SIG_DFL and nothing blocked; signals go to this process, its threads or its own children only;
// every child is waited for.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sigrelay.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <new>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/child.hpp"
#include "support/descriptors.hpp"
#include "support/dispositions.hpp"
#include "support/events.hpp"
#include "support/flood_limit.hpp"
#include "support/platform.hpp"
#include "support/process.hpp"
#include "support/senders.hpp"
#include "support/signal_state.hpp"

namespace {

using sigrelay::test::exited_with;
using sigrelay::test::readable;
using sigrelay::test::run_in_child;
using sigrelay::test::same_state;
using sigrelay::test::snapshot;
using sigrelay::test::this_tid;
using sigrelay::test::wait_with_deadline;

// Runs `body` in a forked child under the watchdog and expects it to exit 0.
void in_child(const std::function<void()>& body, unsigned timeout_s = 30) {
  EXPECT_TRUE(exited_with(run_in_child(body, timeout_s), 0))
      << "the test body failed in its child (see above)";
}

// Waits (sleeping in an intercepted call, so that ThreadSanitizer runs deferred handlers) until
// `done` holds; a liveness bound, not a timing assertion.
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

// The backends this build can make.
std::vector<int> backends() {
  std::vector<int> out{SIGRELAY_BACKEND_RELAY};
  if (!sigrelay::test::posix_platform()) out.push_back(SIGRELAY_BACKEND_SIGNALFD);
  return out;
}

const char* backend_name(int backend) { return backend == SIGRELAY_BACKEND_RELAY ? "relay" : "signalfd"; }

sigrelay_signals* make_consumer(std::vector<int> signos, int backend, std::size_t ring = 0) {
  sigrelay_signals_options options = SIGRELAY_SIGNALS_OPTIONS_INIT;
  options.backend = backend;
  options.realtime_capacity = ring;
  sigrelay_signals* s = nullptr;
  const int rc = sigrelay_signals_create(signos.data(), signos.size(), &options, &s);
  EXPECT_EQ(0, rc) << sigrelay_last_error();
  return s;
}

}  // namespace

extern "C" {
static std::atomic<int> g_runs{0};
static void capi_count_action(void*, const siginfo_t*) { g_runs.fetch_add(1); }
static void capi_noop_action(void*, const siginfo_t*) {}

// Stays in signal context until released (a run in progress for a removal to wait for).
static std::atomic<int> g_entered{0};
static std::atomic<bool> g_release{false};
static std::atomic<int> g_left{0};
static void capi_lingering_action(void*, const siginfo_t*) {
  g_entered.fetch_add(1);
  while (!g_release.load()) {
  }
  g_left.fetch_add(1);
}

// Records what it was given, then clobbers errno (which the registry must restore).
static std::atomic<int> g_seen_signo{0};
static std::atomic<int> g_seen_value{0};
static std::atomic<void*> g_seen_context{nullptr};
static void capi_clobbering_action(void* context, const siginfo_t* info) {
  g_seen_context.store(context);
  g_seen_signo.store(info->si_signo);
  g_seen_value.store(info->si_value.sival_int);
  errno = ENOTTY;
}

static std::atomic<int> g_interruptions{0};
static void capi_interrupting_handler(int) { g_interruptions.fetch_add(1); }
}

namespace {

// --- sigrelay_signals_pending / wait / native_handle --------------------------------------------------

// sigrelay_signals_native_handle(): "Readable while events are pending (or once closed): for
// poll/epoll/an event loop, then sigrelay_signals_pending()"; sigrelay_signals_pending(): "Events that
// do not fit stay for the next call, in order: nothing is lost."
// Three standard signals are pending; an event loop takes them one at a time (an array of 1) and goes
// back to poll() after each call, as an event loop does. The handle must stay readable while any of
// them is still to be handed out, and every one must come, in ascending order (signals.hpp: standard
// signals ascending). Both backends.
TEST(CApiConsumer, TheHandleStaysReadableWhileEventsThatDidNotFitThePreviousArrayArePending) {
  for (const int backend : backends()) {
    SCOPED_TRACE(backend_name(backend));
    in_child([backend] {
      sigrelay_signals* s = make_consumer({SIGUSR1, SIGUSR2, SIGHUP}, backend);
      ASSERT_NE(nullptr, s);
      const int fd = sigrelay_signals_native_handle(s);
      ASSERT_GE(fd, 0);
      for (const int signo : {SIGHUP, SIGUSR2, SIGUSR1}) ASSERT_EQ(0, ::kill(::getpid(), signo));
      std::vector<int> got;
      for (int round = 0; round < 3; ++round) {
        ASSERT_TRUE(readable(fd, 5000))
            << "the handle is not readable with " << 3 - round
            << " event(s) still pending (handed out so far: " << got.size() << ")";
        sigrelay_event e[1];
        size_t n = 99;
        ASSERT_EQ(0, sigrelay_signals_pending(s, e, 1, &n));
        ASSERT_EQ(1U, n);
        EXPECT_EQ(1U, e[0].count);
        got.push_back(e[0].signo);
      }
      EXPECT_EQ((std::vector<int>{SIGHUP, SIGUSR1, SIGUSR2}), got);
      sigrelay_event e[1];
      size_t n = 99;
      EXPECT_EQ(0, sigrelay_signals_pending(s, e, 1, &n));
      EXPECT_EQ(0U, n);
      EXPECT_FALSE(readable(fd, 0)) << "readable with nothing pending";
      sigrelay_signals_destroy(s);
    });
  }
}

// The same through sigrelay_signals_wait() with a finite timeout, after a poll(): a wait with a
// timeout of 0 on a readable handle hands out the event the previous wait() kept back.
TEST(CApiConsumer, AWaitOfZeroAfterAPollHandsOutWhatThePreviousWaitKeptBack) {
  for (const int backend : backends()) {
    SCOPED_TRACE(backend_name(backend));
    in_child([backend] {
      sigrelay_signals* s = make_consumer({SIGUSR1, SIGUSR2}, backend);
      ASSERT_NE(nullptr, s);
      ASSERT_EQ(0, ::kill(::getpid(), SIGUSR1));
      ASSERT_EQ(0, ::kill(::getpid(), SIGUSR2));
      sigrelay_event e[1];
      size_t n = 0;
      ASSERT_EQ(0, sigrelay_signals_wait(s, 5000, e, 1, &n));
      ASSERT_EQ(1U, n);
      EXPECT_EQ(SIGUSR1, e[0].signo);
      ASSERT_TRUE(readable(sigrelay_signals_native_handle(s), 5000))
          << "SIGUSR2 is pending, the handle is silent";
      ASSERT_EQ(0, sigrelay_signals_wait(s, 0, e, 1, &n));
      ASSERT_EQ(1U, n);
      EXPECT_EQ(SIGUSR2, e[0].signo);
      sigrelay_signals_destroy(s);
    });
  }
}

// "Events that do not fit stay for the next call, in order: nothing is lost" and wait(): "*count is 0
// when the time is up, or when the consumer is closed (then sigrelay_signals_is_closed() says 1)";
// sigrelay_signals_close(): "Wakes a blocked sigrelay_signals_wait(), which then returns what is
// left, then nothing. Any thread."
// Events kept back by an array of one are still handed out after close(), one per call, and only
// then does wait() say 0 at once, even with a timeout of forever (-1) or INT_MAX milliseconds.
TEST(CApiConsumer, AfterCloseWaitHandsOutWhatAnArrayOfOneKeptBackThenZeroAtOnce) {
  for (const int backend : backends()) {
    SCOPED_TRACE(backend_name(backend));
    in_child([backend] {
      sigrelay_signals* s = make_consumer({SIGUSR1, SIGUSR2, SIGHUP}, backend);
      ASSERT_NE(nullptr, s);
      for (const int signo : {SIGUSR1, SIGUSR2, SIGHUP}) ASSERT_EQ(0, ::kill(::getpid(), signo));
      sigrelay_event e[1];
      size_t n = 0;
      ASSERT_EQ(0, sigrelay_signals_pending(s, e, 1, &n));
      ASSERT_EQ(1U, n);
      sigrelay_signals_close(s);
      EXPECT_EQ(1, sigrelay_signals_is_closed(s));
      std::vector<int> rest;
      for (int i = 0; i < 2; ++i) {
        ASSERT_EQ(0, sigrelay_signals_wait(s, -1, e, 1, &n));
        ASSERT_EQ(1U, n) << "an event kept back was lost by close()";
        rest.push_back(e[0].signo);
      }
      EXPECT_EQ((std::vector<int>{SIGUSR1, SIGUSR2}), rest);  // SIGHUP (1) came first
      for (const int timeout : {-1, INT_MAX, 0}) {
        ASSERT_EQ(0, sigrelay_signals_wait(s, timeout, e, 1, &n));
        EXPECT_EQ(0U, n);
      }
      EXPECT_TRUE(readable(sigrelay_signals_native_handle(s), 0)) << "not readable once closed";
      EXPECT_EQ(EBADF, sigrelay_signals_add(s, SIGWINCH));
      sigrelay_signals_destroy(s);
    });
  }
}

// sigrelay_signals_close(): "Wakes a blocked sigrelay_signals_wait() ... Any thread." A consumer
// thread blocked in wait() for ever (-1) and one blocked for INT_MAX milliseconds are each woken
// by close() from the main thread, get 0 events and see the consumer closed.
TEST(CApiConsumer, CloseFromAnotherThreadWakesAWaitForEverOrForIntMaxMilliseconds) {
  for (const int backend : backends()) {
    for (const int timeout : {-1, INT_MAX}) {
      SCOPED_TRACE(std::string(backend_name(backend)) + " timeout " + std::to_string(timeout));
      in_child([backend, timeout] {
        sigrelay_signals* s = make_consumer({SIGUSR1}, backend);
        ASSERT_NE(nullptr, s);
        std::atomic<pid_t> tid{0};
        std::atomic<int> rc{-1};
        std::atomic<std::size_t> got{99};
        std::atomic<int> closed{0};
        std::thread consumer([&] {
          tid.store(this_tid());
          sigrelay_event e[2];
          size_t n = 99;
          rc.store(sigrelay_signals_wait(s, timeout, e, 2, &n));
          got.store(n);
          closed.store(sigrelay_signals_is_closed(s));
        });
        ASSERT_TRUE(eventually([&] { return tid.load() != 0; }));
        (void)sigrelay::test::wait_until_asleep(::getpid(), tid.load(), std::chrono::seconds(2));
        sigrelay_signals_close(s);
        consumer.join();
        EXPECT_EQ(0, rc.load());
        EXPECT_EQ(0U, got.load());
        EXPECT_EQ(1, closed.load());
        sigrelay_signals_destroy(s);
      });
    }
  }
}

// sigrelay_signals_create() with options: the ring's size is bounded (signals.hpp,
// signals_options::max_realtime_capacity) and follow_fork is "SIGRELAY_BACKEND_RELAY only, else
// EINVAL"; sigrelay.h: "A call that fails changes nothing: the process's signal state is exactly as
// it was". A ring of SIZE_MAX records, a follow_fork signalfd consumer and an unknown backend are
// refused with EINVAL, *out untouched, every disposition and the mask as before.
TEST(CApiConsumer, CreateRefusesAHugeRingAFollowingSignalfdAndAnUnknownBackendChangingNothing) {
  in_child([] {
    const int signos[] = {SIGUSR1, SIGRTMIN + 1};
    const auto before = snapshot();
    std::vector<sigrelay_signals_options> refused;
    sigrelay_signals_options o = SIGRELAY_SIGNALS_OPTIONS_INIT;
    o.realtime_capacity = SIZE_MAX;
    refused.push_back(o);
    o = SIGRELAY_SIGNALS_OPTIONS_INIT;
    o.backend = 7;
    refused.push_back(o);
    if (!sigrelay::test::posix_platform()) {
      o = SIGRELAY_SIGNALS_OPTIONS_INIT;
      o.backend = SIGRELAY_BACKEND_SIGNALFD;
      o.follow_fork = 1;
      refused.push_back(o);
    }
    for (const sigrelay_signals_options& options : refused) {
      SCOPED_TRACE("capacity " + std::to_string(options.realtime_capacity) + " backend " +
                   std::to_string(options.backend) + " follow_fork " + std::to_string(options.follow_fork));
      auto* const sentinel = reinterpret_cast<sigrelay_signals*>(&o);
      sigrelay_signals* s = sentinel;
      errno = 0;
      EXPECT_EQ(EINVAL, sigrelay_signals_create(signos, 2, &options, &s));
      EXPECT_EQ(sentinel, s) << "*out was written by a failed call";
      EXPECT_TRUE(same_state(before, snapshot()));
    }
  });
}

// sigrelay.h: "the same contracts" as the C++ API; signals.hpp, Fork: "After fork(), the child's copy
// of an object is dead ...: pending() and wait*() return nothing at once; add() throws
// (std::errc::operation_not_permitted)", and with follow_fork "what the parent had recorded and not
// drained is dropped in the child (the parent hands it out)".
// The parent records SIGUSR1, SIGUSR2 and SIGHUP, takes one through an array of 1 (the other two
// are kept back by the C API), then forks. In the child, the copy (dead, or the child's own with
// follow_fork) hands out none of the parent's events, and the dead one refuses add() with EPERM; the
// parent still gets both events it kept back.
TEST(CApiConsumer, AForkChildsCopyHandsOutNoneOfTheEventsTheParentKeptBack) {
  for (const int follow : {0, 1}) {
    SCOPED_TRACE(follow ? "follow_fork" : "dead copy");
    in_child([follow] {
      sigrelay_signals_options options = SIGRELAY_SIGNALS_OPTIONS_INIT;
      options.follow_fork = follow;
      const int signos[] = {SIGUSR1, SIGUSR2, SIGHUP};
      sigrelay_signals* s = nullptr;
      ASSERT_EQ(0, sigrelay_signals_create(signos, 3, &options, &s));
      for (const int signo : {SIGUSR1, SIGUSR2, SIGHUP}) ASSERT_EQ(0, ::kill(::getpid(), signo));
      sigrelay_event e[4];
      size_t n = 0;
      ASSERT_EQ(0, sigrelay_signals_pending(s, e, 1, &n));
      ASSERT_EQ(1U, n);
      EXPECT_EQ(SIGHUP, e[0].signo);
      std::fflush(nullptr);
      const pid_t child = ::fork();
      if (child == 0) {
        ::alarm(10);
        size_t got = 99;
        if (sigrelay_signals_pending(s, e, 4, &got) != 0) ::_exit(2);
        if (got != 0) ::_exit(10 + static_cast<int>(got));  // the parent's events, handed out twice
        if (sigrelay_signals_wait(s, 0, e, 4, &got) != 0 || got != 0) ::_exit(3);
        if (!follow && sigrelay_signals_add(s, SIGWINCH) != EPERM) ::_exit(4);
        sigrelay_signals_destroy(s);
        ::_exit(0);
      }
      ASSERT_GT(child, 0);
      EXPECT_TRUE(exited_with(wait_with_deadline(child, 20), 0))
          << "(exit 10 + n: the child's copy handed out n of the parent's events)";
      ASSERT_EQ(0, sigrelay_signals_pending(s, e, 4, &n));
      ASSERT_EQ(2U, n);
      EXPECT_EQ(SIGUSR1, e[0].signo);
      EXPECT_EQ(SIGUSR2, e[1].signo);
      sigrelay_signals_destroy(s);
    });
  }
}

// sigrelay_signals_wait(): "EINVAL if capacity is 0" (and pending(), sigrelay.h); a call that fails
// changes nothing, so the event pending then is handed out by the next call, and *count says 0.
TEST(CApiConsumer, ACapacityOfZeroOrANullArrayIsEinvalAndLosesNothing) {
  in_child([] {
    sigrelay_signals* s = make_consumer({SIGUSR1}, SIGRELAY_BACKEND_RELAY);
    ASSERT_NE(nullptr, s);
    ASSERT_EQ(0, ::kill(::getpid(), SIGUSR1));
    sigrelay_event e[1];
    size_t n = 99;
    EXPECT_EQ(EINVAL, sigrelay_signals_wait(s, -1, e, 0, &n));
    EXPECT_EQ(0U, n);
    n = 99;
    EXPECT_EQ(EINVAL, sigrelay_signals_pending(s, e, 0, &n));
    EXPECT_EQ(0U, n);
    EXPECT_EQ(EINVAL, sigrelay_signals_pending(s, nullptr, 1, &n));
    EXPECT_EQ(EINVAL, sigrelay_signals_wait(s, 0, e, 1, nullptr));
    EXPECT_EQ(EINVAL, sigrelay_signals_wait(nullptr, 0, e, 1, &n));
    EXPECT_TRUE(readable(sigrelay_signals_native_handle(s), 0));
    ASSERT_EQ(0, sigrelay_signals_pending(s, e, 1, &n));
    ASSERT_EQ(1U, n);
    EXPECT_EQ(SIGUSR1, e[0].signo);
    sigrelay_signals_destroy(s);
  });
}

// sigrelay_after_fork_in_child(): "In a child made by a raw fork()/_Fork() that goes on using the
// library"; registry.hpp: it "gives back the saved disposition of every signal whose only
// subscribers are inherited `signals` objects"; signals.hpp: "After _Fork() the same happens [the
// copy becomes the child's own, follow_fork] when after_fork_in_child() runs".
// A child of _Fork() calls it first thing, then signals itself: with a follow_fork consumer the
// child's copy receives it (and the parent's does not); with an ordinary one the child dies by the
// signal, as it would without sigrelay.
TEST(CApiFork, AfterForkInChildOfRawForkMakesAFollowingCopyTheChildsAndRestoresAnInheritedOnesSignal) {
  for (const int follow : {1, 0}) {
    SCOPED_TRACE(follow ? "follow_fork" : "dead copy");
    in_child([follow] {
      sigrelay_signals_options options = SIGRELAY_SIGNALS_OPTIONS_INIT;
      options.follow_fork = follow;
      const int signos[] = {SIGUSR1};
      sigrelay_signals* s = nullptr;
      ASSERT_EQ(0, sigrelay_signals_create(signos, 1, &options, &s));
      std::fflush(nullptr);
      const pid_t child = ::_Fork();
      if (child == 0) {
        sigrelay_after_fork_in_child();
        ::alarm(10);
        // ThreadSanitizer's signal bookkeeping of the child, before the kill: the tests' fork() makes
        // this call itself, _Fork() does not (tests/support/child.cc).
        (void)::poll(nullptr, 0, 0);
        if (::kill(::getpid(), SIGUSR1) != 0) ::_exit(2);
        sigrelay_event e[2];
        size_t n = 0;
        if (sigrelay_signals_wait(s, 5000, e, 2, &n) != 0) ::_exit(3);
        if (n != 1 || e[0].signo != SIGUSR1 || e[0].count != 1) ::_exit(4);
        sigrelay_signals_destroy(s);
        ::_exit(0);
      }
      ASSERT_GT(child, 0);
      const int status = wait_with_deadline(child, 20);
      if (follow) {
        EXPECT_TRUE(exited_with(status, 0));
      } else {
        EXPECT_TRUE(sigrelay::test::killed_by(status, SIGUSR1));
      }
      sigrelay_event e[2];
      size_t n = 99;
      ASSERT_EQ(0, sigrelay_signals_pending(s, e, 2, &n));
      EXPECT_EQ(0U, n) << "the child's signal reached the parent's consumer";
      sigrelay_signals_destroy(s);
    });
  }
}

// sigrelay.h, Errors: "EMFILE/ENFILE ... A call that fails changes nothing"; signals.hpp: a failed
// constructor "holds no descriptor". With no descriptor left (RLIMIT_NOFILE at the number of the
// highest one open, and every hole below it filled), creating a consumer (each backend) fails with
// EMFILE and leaves every disposition, the mask and the set of open descriptors as they were; with
// the limit back, the same call succeeds.
// Not under ASan+UBSan: UBSan's vptr check probes memory through a pipe(), which fails without a
// descriptor left, and then reports a valid object as having an invalid vptr.
TEST(CApiConsumer, CreateWithoutADescriptorLeftIsEmfileAndChangesNothing) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "UBSan's vptr check needs a free descriptor (it probes memory with a pipe)";
#endif
  for (const int backend : backends()) {
    SCOPED_TRACE(backend_name(backend));
    in_child([backend] {
      const std::set<int> fds = sigrelay::test::open_fds();
      ASSERT_FALSE(fds.empty());
      struct rlimit saved {};
      ASSERT_EQ(0, ::getrlimit(RLIMIT_NOFILE, &saved));
      const auto before = snapshot();
      sigrelay_signals_options options = SIGRELAY_SIGNALS_OPTIONS_INIT;
      options.backend = backend;
      const int signos[] = {SIGUSR1, SIGRTMIN + 1};
      sigrelay_signals* s = nullptr;
      const struct rlimit none { static_cast<rlim_t>(*fds.rbegin() + 1), saved.rlim_max };
      ASSERT_EQ(0, ::setrlimit(RLIMIT_NOFILE, &none));
      // Fill any hole below the highest descriptor, so that no new one can be made.
      std::vector<int> fillers;
      for (int fd; (fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;) fillers.push_back(fd);
      const int rc = sigrelay_signals_create(signos, 2, &options, &s);
      const std::string message = sigrelay_last_error();
      for (const int fd : fillers) ::close(fd);
      ASSERT_EQ(0, ::setrlimit(RLIMIT_NOFILE, &saved));
      EXPECT_EQ(EMFILE, rc) << message;
      EXPECT_EQ(nullptr, s);
      EXPECT_TRUE(same_state(before, snapshot()));
      EXPECT_EQ(fds, sigrelay::test::open_fds()) << "a failed create kept a descriptor";
      ASSERT_EQ(0, sigrelay_signals_create(signos, 2, &options, &s));
      ASSERT_EQ(0, ::kill(::getpid(), SIGUSR1));
      sigrelay_event e[2];
      size_t n = 0;
      ASSERT_EQ(0, sigrelay_signals_wait(s, 5000, e, 2, &n));
      EXPECT_EQ(1U, n);
      sigrelay_signals_destroy(s);
      EXPECT_TRUE(same_state(before, snapshot()));
    });
  }
}

// sigrelay_signals_wait(): "*count is 0 when the time is up, or when the consumer is closed (then
// sigrelay_signals_is_closed() says 1)"; signals.hpp, Fork: a fork child's copy is dead there, and
// its wait*() "return nothing at once". A child keeps the parent's consumer (no follow_fork) and
// waits for ever (and for INT_MAX milliseconds), as a C event loop does: each wait says 0 at once,
// and since the time cannot be up, the consumer must say it is closed (else the loop spins for ever).
TEST(CApiConsumer, AWaitForEverThatSaysZeroInAForkChildsDeadCopySaysClosed) {
  in_child([] {
    sigrelay_signals* s = make_consumer({SIGUSR1}, SIGRELAY_BACKEND_RELAY);
    ASSERT_NE(nullptr, s);
    std::fflush(nullptr);
    const pid_t child = ::fork();
    if (child == 0) {
      ::alarm(10);
      for (const int timeout : {-1, INT_MAX}) {
        sigrelay_event e[1];
        size_t n = 99;
        if (sigrelay_signals_wait(s, timeout, e, 1, &n) != 0) ::_exit(2);
        if (n != 0) ::_exit(3);
        if (sigrelay_signals_is_closed(s) != 1) ::_exit(4);  // 0 events, time not up, not closed
      }
      sigrelay_signals_destroy(s);
      ::_exit(0);
    }
    ASSERT_GT(child, 0);
    EXPECT_TRUE(exited_with(wait_with_deadline(child, 20), 0))
        << "(exit 4: wait() said 0 events at once, without its time being up, and not closed)";
    EXPECT_EQ(0, sigrelay_signals_is_closed(s)) << "the parent's consumer is open";
    sigrelay_signals_destroy(s);
  });
}

// sigrelay_action_options: "restart: SA_RESTART while every action of the signal asks for it;
// default 1", "allow_fault_signals: accept SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS; default
// 0"; `options` "may be NULL (the defaults)". SA_RESTART comes and goes with the one action that
// does not ask for it, and a read() of an empty pipe, interrupted by that signal from another
// thread, fails with EINTR only while that action is there. A fault signal is accepted only with
// allow_fault_signals; its removal brings SIG_DFL back.
TEST(CApiActionOptions, RestartHoldsWhileEveryActionAsksForItAndFaultSignalsNeedTheirOption) {
  in_child([] {
    const auto restarts = [] { return (sigrelay::test::query(SIGUSR1).sa_flags & SA_RESTART) != 0; };
    sigrelay_action_id a{}, b{}, fault{};
    ASSERT_EQ(0, sigrelay_add_action(SIGUSR1, capi_count_action, nullptr, nullptr, &a));
    EXPECT_TRUE(restarts());
    sigrelay_action_options no_restart = SIGRELAY_ACTION_OPTIONS_INIT;
    no_restart.restart = 0;
    ASSERT_EQ(0, sigrelay_add_action(SIGUSR1, capi_count_action, nullptr, &no_restart, &b));
    EXPECT_FALSE(restarts());
    // A read() that only the signal ends: EINTR now.
    int fds[2];
    ASSERT_EQ(0, ::pipe(fds));
    const pid_t main_tid = this_tid();
    std::atomic<bool> stop{false};
    std::thread poker([&] {
      while (!stop.load()) {
        (void)sigrelay::test::wait_until_asleep(::getpid(), main_tid, std::chrono::milliseconds(50));
        (void)::syscall(SYS_tgkill, ::getpid(), main_tid, SIGUSR1);
        const struct timespec pause { 0, 20000000 };
        ::nanosleep(&pause, nullptr);
      }
    });
    char c;
    const ssize_t r = ::read(fds[0], &c, 1);
    const int err = errno;
    stop.store(true);
    poker.join();
    EXPECT_EQ(-1, r);
    EXPECT_EQ(EINTR, err);
    EXPECT_EQ(1, sigrelay_remove_action(b));
    EXPECT_TRUE(restarts()) << "SA_RESTART did not come back with the last action that refused it gone";
    EXPECT_EQ(1, sigrelay_remove_action(a));
    EXPECT_EQ(SIG_DFL, sigrelay::test::query(SIGUSR1).sa_handler);
    ::close(fds[0]);
    ::close(fds[1]);

    EXPECT_EQ(EINVAL, sigrelay_add_action(SIGSEGV, capi_noop_action, nullptr, nullptr, &fault));
    sigrelay_action_options faults = SIGRELAY_ACTION_OPTIONS_INIT;
    faults.allow_fault_signals = 1;
    ASSERT_EQ(0, sigrelay_add_action(SIGSEGV, capi_noop_action, nullptr, &faults, &fault));
    EXPECT_EQ(1, sigrelay_remove_action(fault));
    EXPECT_EQ(SIG_DFL, sigrelay::test::query(SIGSEGV).sa_handler);
  });
}

// --- Relays ------------------------------------------------------------------------------------------

// sigrelay_add_relay(), WRITE_FD: "must be a non-blocking pipe, socket or eventfd: EINVAL for one
// that is not open, is open for reading only, is blocking, or is a regular file, a directory or a
// block device"; a failed call changes nothing. Each refused fd, then a good one (a non-blocking
// pipe's write end) that a kill() makes readable.
TEST(CApiRelays, AWriteFdRelayRefusesEveryUnusableFdAndWakesAGoodPipe) {
  in_child([] {
    int blocking[2], nonblocking[2];
    ASSERT_EQ(0, ::pipe(blocking));
    ASSERT_EQ(0, ::pipe2(nonblocking, O_NONBLOCK | O_CLOEXEC));
    const int dir = ::open("/", O_RDONLY | O_DIRECTORY);
    ASSERT_GE(dir, 0);
    const int closed = ::dup(blocking[0]);
    ASSERT_GE(closed, 0);
    ASSERT_EQ(0, ::close(closed));
    const auto before = snapshot();
    for (const int fd : {closed, -1, nonblocking[0], blocking[1], dir}) {
      sigrelay_action_id id{};
      EXPECT_EQ(EINVAL,
                sigrelay_add_relay(SIGUSR1, SIGRELAY_RELAY_WRITE_FD, nullptr, nullptr, fd, nullptr, &id))
          << "fd " << fd;
      EXPECT_NE(nullptr, std::strstr(sigrelay_last_error(), "SIGUSR1")) << sigrelay_last_error();
    }
    EXPECT_TRUE(same_state(before, snapshot()));
    sigrelay_action_id id{};
    ASSERT_EQ(0, sigrelay_add_relay(SIGUSR1, SIGRELAY_RELAY_WRITE_FD, nullptr, nullptr, nonblocking[1],
                                    nullptr, &id));
    ASSERT_EQ(0, ::kill(::getpid(), SIGUSR1));
    EXPECT_TRUE(readable(nonblocking[0], 5000));
    std::uint64_t word = 0;
    EXPECT_EQ(static_cast<ssize_t>(sizeof word), ::read(nonblocking[0], &word, sizeof word));
    EXPECT_EQ(1U, word);
    EXPECT_EQ(1, sigrelay_remove_action(id));
  });
}

// SIGRELAY_RELAY_DIE_IF_SET: "the default action of the signal (dies) if `flag` is set", added
// before a SET_FLAG on the same flag (the double Ctrl+C): the first SIGINT sets the flag, the
// second kills the process by SIGINT (as its parent sees it), handled or not.
TEST(CApiRelays, DieIfSetBeforeSetFlagSurvivesTheFirstSignalAndDiesByTheSecond) {
  std::fflush(nullptr);
  const pid_t child = ::fork();
  if (child == 0) {
    sigrelay::test::reset_signal_state();
    ::alarm(10);
    sigrelay_flag* flag = nullptr;
    if (sigrelay_flag_create(&flag) != 0) ::_exit(1);
    sigrelay_action_id die{}, set{};
    if (sigrelay_add_relay(SIGINT, SIGRELAY_RELAY_DIE_IF_SET, flag, nullptr, -1, nullptr, &die) != 0)
      ::_exit(2);
    if (sigrelay_add_relay(SIGINT, SIGRELAY_RELAY_SET_FLAG, flag, nullptr, -1, nullptr, &set) != 0)
      ::_exit(3);
    ::kill(::getpid(), SIGINT);
    if (sigrelay_flag_test(flag) != 1) ::_exit(4);
    ::kill(::getpid(), SIGINT);
    ::_exit(5);  // survived the second
  }
  ASSERT_GT(child, 0);
  EXPECT_TRUE(sigrelay::test::killed_by(wait_with_deadline(child, 20), SIGINT));
}

// --- ignore, reset, ignored -------------------------------------------------------------------------

// sigrelay_ignore/reset/ignored: "so that it is undone exactly"; registry.hpp: with actions
// subscribed "they keep running on every delivery ...; what changes is that the handler sigrelay
// chained is no longer called, and the last remove_action() restores SIG_IGN"; reset() "undoes
// ignore(): the disposition underneath becomes again exactly the one ignore() replaced (... another
// code's handler with its flags and mask)"; ignored() "does not change when sigrelay installs its
// trampoline".
// A foreign SIGUSR2 handler (SA_RESTART, SIGHUP in its mask) is there first; a C action is added;
// ignore() while it is subscribed: the action still runs, the foreign handler no more; ignored() 1;
// the last removal leaves SIG_IGN; reset() brings the foreign handler back with its flags and mask.
TEST(CApiIgnore, IgnoreUnderASubscribedCActionIsUndoneExactlyByReset) {
  in_child([] {
    sigrelay::test::install_handler(SIGUSR2, capi_interrupting_handler, SA_RESTART, {SIGHUP});
    const auto foreign = snapshot();
    sigrelay_action_id id{};
    ASSERT_EQ(0, sigrelay_add_action(SIGUSR2, capi_count_action, nullptr, nullptr, &id));
    ASSERT_EQ(0, ::kill(::getpid(), SIGUSR2));
    EXPECT_EQ(1, g_interruptions.load());
    EXPECT_EQ(1, g_runs.load());
    int changed = -1, ignored = -1;
    ASSERT_EQ(0, sigrelay_ignored(SIGUSR2, &ignored));
    EXPECT_EQ(0, ignored);
    ASSERT_EQ(0, sigrelay_ignore(SIGUSR2, &changed));
    EXPECT_EQ(1, changed);
    ASSERT_EQ(0, sigrelay_ignored(SIGUSR2, &ignored));
    EXPECT_EQ(1, ignored);
    ASSERT_EQ(0, ::kill(::getpid(), SIGUSR2));
    EXPECT_EQ(2, g_runs.load()) << "the action stopped running under ignore()";
    EXPECT_EQ(1, g_interruptions.load()) << "the chained handler was still called under ignore()";
    ASSERT_EQ(0, sigrelay_ignore(SIGUSR2, &changed));
    EXPECT_EQ(0, changed);
    EXPECT_EQ(1, sigrelay_remove_action(id));
    EXPECT_EQ(SIG_IGN, sigrelay::test::query(SIGUSR2).sa_handler);
    ASSERT_EQ(0, ::kill(::getpid(), SIGUSR2));  // ignored: nothing
    ASSERT_EQ(0, sigrelay_reset(SIGUSR2, &changed));
    EXPECT_EQ(1, changed);
    EXPECT_TRUE(same_state(foreign, snapshot())) << "reset() did not bring the foreign handler back whole";
    ASSERT_EQ(0, sigrelay_reset(SIGUSR2, &changed));
    EXPECT_EQ(0, changed);
    ASSERT_EQ(0, ::kill(::getpid(), SIGUSR2));
    EXPECT_EQ(2, g_interruptions.load());
    EXPECT_EQ(2, g_runs.load());
  });
}

// --- emulate_default, die_by_signal -----------------------------------------------------------------

// sigrelay_die_by_signal(): "Dies by `signo` with its default action (so that the parent sees
// WIFSIGNALED), or by _exit(128 + signo) if that does not kill"; relays.hpp: a number that names no
// signal "is never sent: _exit(128 + signo) at once (128 for 0, negative numbers and numbers from
// 128)". Each in a child: SIGUSR1 handled by a C action and blocked dies by SIGUSR1; SIGCHLD (default
// ignore) exits 128 + SIGCHLD; 0, -5, INT_MIN, 200 exit 128; 32 (reserved by the C library) exits
// 160; NSIG exits 128 + NSIG.
TEST(CApiDie, DieBySignalEndsAsItsParentIsPromised) {
  struct expected_end {
    int signo;
    bool killed;
    int code;
  };
  const expected_end cases[] = {{SIGUSR1, true, 0}, {SIGCHLD, false, 128 + SIGCHLD}, {0, false, 128},
                                {-5, false, 128},   {INT_MIN, false, 128},           {200, false, 128},
                                {32, false, 160},   {NSIG, false, 128 + NSIG}};
  for (const expected_end& c : cases) {
    SCOPED_TRACE("sigrelay_die_by_signal(" + std::to_string(c.signo) + ")");
    std::fflush(nullptr);
    const pid_t child = ::fork();
    if (child == 0) {
      sigrelay::test::reset_signal_state();
      ::alarm(10);
      const struct rlimit no_core { 0, 0 };
      ::setrlimit(RLIMIT_CORE, &no_core);
      if (c.signo == SIGUSR1) {
        sigrelay_action_id id{};
        if (sigrelay_add_action(SIGUSR1, capi_noop_action, nullptr, nullptr, &id) != 0) ::_exit(1);
        sigset_t one;
        sigemptyset(&one);
        sigaddset(&one, SIGUSR1);
        ::sigprocmask(SIG_BLOCK, &one, nullptr);
      }
      sigrelay_die_by_signal(c.signo);
    }
    ASSERT_GT(child, 0);
    const int status = wait_with_deadline(child, 20);
    if (c.killed) {
      EXPECT_TRUE(sigrelay::test::killed_by(status, c.signo));
    } else {
      EXPECT_TRUE(exited_with(status, c.code));
    }
  }
}

// sigrelay_emulate_default(): "terminating, core-dumping, stopping or nothing, as the kernel would";
// relays.hpp: errno is preserved; nothing for SIGCHLD, SIGURG, SIGWINCH, SIGCONT and a number that
// names no signal. A child stops by SIGSTOP (the parent sees WIFSTOPPED with SIGSTOP), is continued,
// then emulates the "nothing" signals and numbers with errno kept, and exits 0; its action for
// SIGURG is still installed afterwards.
TEST(CApiDie, EmulateDefaultStopsForAStopSignalAndDoesNothingForTheIgnoredOnes) {
  std::fflush(nullptr);
  const pid_t child = ::fork();
  if (child == 0) {
    sigrelay::test::reset_signal_state();
    ::alarm(10);
    sigrelay_action_id id{};
    if (sigrelay_add_action(SIGURG, capi_count_action, nullptr, nullptr, &id) != 0) ::_exit(1);
    errno = EXDEV;
    sigrelay_emulate_default(SIGSTOP);
    if (errno != EXDEV) ::_exit(2);
    for (const int signo : {SIGCHLD, SIGURG, SIGWINCH, SIGCONT, 0, -1, 32, NSIG, INT_MAX}) {
      errno = EXDEV;
      sigrelay_emulate_default(signo);
      if (errno != EXDEV) ::_exit(3);
    }
    if (sigrelay::test::query(SIGURG).sa_handler == SIG_DFL) ::_exit(4);  // the action's handler stays
    if (::kill(::getpid(), SIGURG) != 0 || g_runs.load() != 1) ::_exit(5);
    ::_exit(0);
  }
  ASSERT_GT(child, 0);
  int status = 0;
  pid_t r;
  while ((r = ::waitpid(child, &status, WUNTRACED)) < 0 && errno == EINTR) {
  }
  ASSERT_EQ(child, r);
  EXPECT_TRUE(WIFSTOPPED(status) && WSTOPSIG(status) == SIGSTOP) << sigrelay::test::describe_status(status);
  ::kill(child, SIGCONT);
  EXPECT_TRUE(exited_with(wait_with_deadline(child, 20), 0));
}

// sigrelay_signals_add/remove: "Any thread (the C++ handle's add()/remove())"; signals.hpp: "once
// add() returns, every later delivery is recorded and wakes the consumer", and remove() "works on a
// closed object (it unsubscribes, restoring the disposition)". A consumer thread waits for ever on
// SIGUSR2 alone; the main thread adds SIGUSR1 and sends it: the waiting thread wakes with it. After
// close(), remove() of both still unsubscribes: SIG_DFL is back for each.
TEST(CApiConsumer, AnAddFromAnotherThreadIsHeardByAWaitAlreadyAsleepAndRemoveWorksOnceClosed) {
  for (const int backend : backends()) {
    SCOPED_TRACE(backend_name(backend));
    in_child([backend] {
      sigrelay_signals* s = make_consumer({SIGUSR2}, backend);
      ASSERT_NE(nullptr, s);
      std::atomic<pid_t> tid{0};
      std::atomic<int> rc{-1};
      std::atomic<int> signo{0};
      std::thread consumer([&] {
        tid.store(this_tid());
        sigrelay_event e[2];
        size_t n = 0;
        rc.store(sigrelay_signals_wait(s, -1, e, 2, &n));
        if (n >= 1) signo.store(e[0].signo);
      });
      ASSERT_TRUE(eventually([&] { return tid.load() != 0; }));
      (void)sigrelay::test::wait_until_asleep(::getpid(), tid.load(), std::chrono::seconds(2));
      ASSERT_EQ(0, sigrelay_signals_add(s, SIGUSR1));
      ASSERT_EQ(0, ::kill(::getpid(), SIGUSR1));
      const bool woke = eventually([&] { return rc.load() != -1; }, std::chrono::seconds(10));
      if (!woke) sigrelay_signals_close(s);  // (so that the thread ends and the test fails cleanly)
      consumer.join();
      EXPECT_TRUE(woke) << "a wait already asleep never heard the signal added from another thread";
      EXPECT_EQ(0, rc.load());
      EXPECT_EQ(SIGUSR1, signo.load());
      sigrelay_signals_close(s);
      EXPECT_EQ(0, sigrelay_signals_remove(s, SIGUSR1));
      EXPECT_EQ(0, sigrelay_signals_remove(s, SIGUSR2));
      EXPECT_EQ(SIG_DFL, sigrelay::test::query(SIGUSR1).sa_handler);
      EXPECT_EQ(SIG_DFL, sigrelay::test::query(SIGUSR2).sa_handler);
      sigrelay_signals_destroy(s);
    });
  }
}

// --- Realtime floods ------------------------------------------------------------------------------------

// sigrelay_signals_dropped(): "Realtime deliveries that found the ring full, since creation: in all
// (signo 0), or of one signal"; pending(): "nothing is lost". A sender process sigqueue()s a
// numbered flood of one realtime signal at a consumer with a ring of 8, all on one CPU, and the
// consumer reads it through arrays of 1 and 3 in turn. Every delivery is either handed out or
// counted in dropped(): received + dropped == sent (for the signal and in all), the values handed
// out rise strictly (the order sent), and a signal never sent has dropped() 0.
TEST(CApiFlood, ASameCpuRealtimeFloodReadThroughTinyArraysIsReceivedPlusDroppedEqualsSent) {
  for (const int backend : backends()) {
    SCOPED_TRACE(backend_name(backend));
    in_child(
        [backend] {
          sigrelay::test::cap_pending_signals_for_a_flood();
          ASSERT_TRUE(sigrelay::test::pin_to_one_cpu());
          const int sig = SIGRTMIN + 3;
          sigrelay_signals* s = make_consumer({sig, SIGRTMIN + 4}, backend, 8);
          ASSERT_NE(nullptr, s);
          constexpr int kSent = 3000;
          std::fflush(nullptr);
          const pid_t target = ::getpid();
          const pid_t sender = ::fork();
          if (sender == 0) {
            for (int i = 0; i < kSent; ++i) {
              union sigval v {};
              v.sival_int = i;
              while (::sigqueue(target, sig, v) != 0) {
                if (errno != EAGAIN) ::_exit(2);
                ::sched_yield();
              }
            }
            ::_exit(0);
          }
          ASSERT_GT(sender, 0);
          std::uint64_t received = 0;
          int last_value = -1;
          bool ordered = true;
          int sender_status = -1;
          const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
          for (std::size_t cap = 1; std::chrono::steady_clock::now() < deadline; cap = cap == 1 ? 3 : 1) {
            sigrelay_event e[3];
            size_t n = 0;
            ASSERT_EQ(0, sigrelay_signals_wait(s, 100, e, cap, &n));
            ASSERT_LE(n, cap);
            for (size_t i = 0; i < n; ++i) {
              ASSERT_EQ(sig, e[i].signo);
              received += e[i].count;
              if (e[i].last.value.sival_int <= last_value) ordered = false;
              last_value = e[i].last.value.sival_int;
            }
            if (received + sigrelay_signals_dropped(s, sig) >= kSent) break;
            // ThreadSanitizer loses some: there, the flood is over once the sender is and a wait
            // finds nothing more.
            if (sigrelay::test::kUnderTsan && n == 0 && sender_status < 0) {
              int status = 0;
              if (::waitpid(sender, &status, WNOHANG) == sender) sender_status = status;
            } else if (sigrelay::test::kUnderTsan && n == 0) {
              break;
            }
          }
          if (sender_status < 0) sender_status = wait_with_deadline(sender, 60);
          EXPECT_TRUE(exited_with(sender_status, 0));
          const std::uint64_t dropped = sigrelay_signals_dropped(s, sig);
          if (!sigrelay::test::kUnderTsan) {  // ThreadSanitizer loses some of a flood's signals
            EXPECT_EQ(static_cast<std::uint64_t>(kSent), received + dropped)
                << received << " received, " << dropped << " dropped";
          } else {
            EXPECT_LE(received + dropped, static_cast<std::uint64_t>(kSent));
          }
          EXPECT_EQ(dropped, sigrelay_signals_dropped(s, 0));
          EXPECT_EQ(0U, sigrelay_signals_dropped(s, SIGRTMIN + 4));
          EXPECT_TRUE(ordered) << "realtime values handed out out of the order sent";
          sigrelay_signals_destroy(s);
        },
        120);
  }
}

// sigrelay_signals_dropped() is ordinary code that cannot fail: any number, a signal the consumer
// does not have, a number that names no signal, NULL: 0, and nothing thrown into C.
TEST(CApiFlood, DroppedOfAnyNumberIsZeroWithoutAFlood) {
  in_child([] {
    sigrelay_signals* s = make_consumer({SIGRTMIN}, SIGRELAY_BACKEND_RELAY);
    ASSERT_NE(nullptr, s);
    for (const int signo : {SIGRTMIN, SIGRTMAX, SIGUSR1, 32, 33, -1, NSIG, NSIG + 1, INT_MAX, INT_MIN}) {
      EXPECT_EQ(0U, sigrelay_signals_dropped(s, signo)) << signo;
    }
    EXPECT_EQ(0U, sigrelay_signals_dropped(nullptr, 0));
    sigrelay_signals_destroy(s);
  });
}

// --- sigrelay_remove_action -----------------------------------------------------------------------------

// sigrelay_remove_action(): "Returns 1 if `id` named a registered action, 0 if not (already removed,
// or {0, 0}). Never fails otherwise."; sigrelay.h: "errno is left as it was on success".
// Removing twice, a stale id whose key was reused by nobody, the id with another signal number, a
// forged key, {0, 0}: 0, errno untouched, and the action still registered (a kill still runs it)
// until its own id removes it; then SIG_DFL is back.
TEST(CApiRemove, TwiceStaleForgedAndMismatchedIdsAreZeroAndRemoveNothing) {
  in_child([] {
    sigrelay_action_id first{}, second{};
    ASSERT_EQ(0, sigrelay_add_action(SIGUSR1, capi_count_action, nullptr, nullptr, &first));
    ASSERT_EQ(1, sigrelay_remove_action(first));
    ASSERT_EQ(0, sigrelay_add_action(SIGUSR1, capi_count_action, nullptr, nullptr, &second));
    const sigrelay_action_id wrong_signal{SIGUSR2, second.key};
    const sigrelay_action_id forged{SIGUSR1, second.key + 1000};
    const sigrelay_action_id none{0, 0};
    const sigrelay_action_id zero_key{SIGUSR1, 0};
    for (const sigrelay_action_id id : {first, wrong_signal, forged, none, zero_key, first}) {
      errno = EXDEV;
      EXPECT_EQ(0, sigrelay_remove_action(id)) << id.signo << "/" << id.key;
      EXPECT_EQ(EXDEV, errno);
    }
    ASSERT_EQ(0, ::kill(::getpid(), SIGUSR1));
    EXPECT_EQ(1, g_runs.load()) << "a refused removal took the action away";
    EXPECT_EQ(1, sigrelay_remove_action(second));
    EXPECT_EQ(0, sigrelay_remove_action(second));
    EXPECT_EQ(SIG_DFL, sigrelay::test::query(SIGUSR1).sa_handler);
  });
}

// sigrelay_remove_action(): "when it returns, no run of it is in progress in any thread" (so it waits
// for a running one) and sigrelay.h: "errno is left as it was on success". A C action lingers in
// signal context on a worker; another thread removes it and so waits for it; meanwhile that thread
// takes signals whose handler does not ask for SA_RESTART, which cut short any sleep it makes while
// it waits. When the action is released, the removal returns 1 with errno as it was.
TEST(CApiRemove, ARemovalThatWaitsForARunningActionWhileSignalsInterruptItLeavesErrnoAlone) {
  in_child([] {
    sigrelay::test::install_handler(SIGUSR2, capi_interrupting_handler, 0);  // no SA_RESTART
    sigrelay_action_id id{};
    ASSERT_EQ(0, sigrelay_add_action(SIGUSR1, capi_lingering_action, nullptr, nullptr, &id));
    std::atomic<pid_t> worker_tid{0};
    std::thread worker([&] {
      worker_tid.store(this_tid());
      while (g_entered.load() == 0) {
        const struct timespec pause { 0, 1000000 };
        ::nanosleep(&pause, nullptr);
      }
    });
    ASSERT_TRUE(eventually([&] { return worker_tid.load() != 0; }));
    ASSERT_EQ(0, ::syscall(SYS_tgkill, ::getpid(), worker_tid.load(), SIGUSR1));
    ASSERT_TRUE(eventually([&] { return g_entered.load() != 0; })) << "the action never ran";
    std::atomic<pid_t> remover_tid{0};
    std::atomic<int> rc{-1};
    std::atomic<int> errno_after{0};
    std::thread remover([&] {
      remover_tid.store(this_tid());
      errno = EXDEV;
      rc.store(sigrelay_remove_action(id));
      errno_after.store(errno);
    });
    ASSERT_TRUE(eventually([&] { return remover_tid.load() != 0; }));
    for (int i = 0; i < 200 && rc.load() < 0; ++i) {
      (void)sigrelay::test::wait_until_asleep(::getpid(), remover_tid.load(), std::chrono::milliseconds(20));
      (void)::syscall(SYS_tgkill, ::getpid(), remover_tid.load(), SIGUSR2);
    }
    EXPECT_EQ(-1, rc.load()) << "the removal returned while the action was still running";
    g_release.store(true);
    remover.join();
    worker.join();
    EXPECT_GT(g_interruptions.load(), 0);
    EXPECT_EQ(1, rc.load());
    EXPECT_EQ(EXDEV, errno_after.load())
        << "sigrelay_remove_action() changed errno to " << std::strerror(errno_after.load());
    EXPECT_EQ(SIG_DFL, sigrelay::test::query(SIGUSR1).sa_handler);
  });
}

// sigrelay_remove_action(): "when it returns, no run of it is in progress in any thread" (0 means
// "already removed"); registry.hpp, remove_action(): the caller "may destroy [the action's context]
// right away". Two threads remove the same action while a run of it lingers on a third: the first
// waits for the run; the second, whichever value it gets, must not return before the run has
// ended either (its caller may free the context as soon as it returns: with 0 the action is gone,
// but a run of it may not be).
TEST(CApiRemove, ASecondRemovalOfTheSameActionDoesNotReturnWhileARunOfItIsInProgress) {
  in_child([] {
    sigrelay_action_id id{};
    ASSERT_EQ(0, sigrelay_add_action(SIGUSR1, capi_lingering_action, nullptr, nullptr, &id));
    std::atomic<pid_t> worker_tid{0};
    std::thread worker([&] {
      worker_tid.store(this_tid());
      while (g_left.load() == 0) {
        const struct timespec pause { 0, 1000000 };
        ::nanosleep(&pause, nullptr);
      }
    });
    ASSERT_TRUE(eventually([&] { return worker_tid.load() != 0; }));
    ASSERT_EQ(0, ::syscall(SYS_tgkill, ::getpid(), worker_tid.load(), SIGUSR1));
    ASSERT_TRUE(eventually([&] { return g_entered.load() != 0; })) << "the action never ran";
    std::atomic<pid_t> first_tid{0};
    std::atomic<int> first_rc{-1};
    std::thread first([&] {
      first_tid.store(this_tid());
      first_rc.store(sigrelay_remove_action(id));
    });
    ASSERT_TRUE(eventually([&] { return first_tid.load() != 0; }));
    (void)sigrelay::test::wait_until_asleep(::getpid(), first_tid.load(), std::chrono::seconds(2));
    const pid_t main_tid = this_tid();
    std::thread releaser([&] {
      (void)sigrelay::test::wait_until_asleep(::getpid(), main_tid, std::chrono::seconds(2));
      const struct timespec pause { 0, 100000000 };
      ::nanosleep(&pause, nullptr);
      g_release.store(true);
    });
    const int second_rc = sigrelay_remove_action(id);
    const int in_progress = g_entered.load() - g_left.load();
    releaser.join();
    first.join();
    worker.join();
    EXPECT_EQ(0, in_progress) << "the second removal returned " << second_rc
                              << " while a run of the action was in progress";
    EXPECT_EQ(1, first_rc.load() + second_rc) << "exactly one removal removes it";
    EXPECT_EQ(SIG_DFL, sigrelay::test::query(SIGUSR1).sa_handler);
  });
}

// sigrelay.h: a C action "runs in signal context ..., with the delivery's siginfo. `context` is the
// pointer given at registration", "errno saved and restored by the registry". A sigqueue() to this
// process with the value 4242: the action sees the signal number, the value and its context; the
// errno it clobbers is back to what the interrupted code had.
TEST(CApiAction, ACActionGetsItsContextAndTheSiginfoAndItsErrnoIsRestored) {
  in_child([] {
    int context = 0;
    sigrelay_action_id id{};
    ASSERT_EQ(0, sigrelay_add_action(SIGRTMIN + 2, capi_clobbering_action, &context, nullptr, &id));
    union sigval v {};
    v.sival_int = 4242;
    errno = EXDEV;
    const int r = ::sigqueue(::getpid(), SIGRTMIN + 2, v);  // handled on the way out of the call
    const int after = errno;
    ASSERT_EQ(0, r);
    ASSERT_TRUE(eventually([] { return g_seen_signo.load() != 0; }));
    EXPECT_EQ(EXDEV, after) << "errno changed to " << std::strerror(after);
    EXPECT_EQ(SIGRTMIN + 2, g_seen_signo.load());
    EXPECT_EQ(4242, g_seen_value.load());
    EXPECT_EQ(static_cast<void*>(&context), g_seen_context.load());
    EXPECT_EQ(1, sigrelay_remove_action(id));
  });
}

// Names: sigrelay_signal_name(): "Never NULL, static storage" ("" for a number that names no
// signal); sigrelay_origin_kind_name(): "" for a value out of range; sigrelay_strerror(): "never
// NULL ... 0 gives \"success\""; sigrelay_signal_number(): "EINVAL for anything else (and *signo
// untouched)". Every int that matters, and NULLs.
TEST(CApiNames, NamesAreNeverNullAndABadNameLeavesTheResultUntouched) {
  for (int signo = -3; signo <= NSIG + 3; ++signo) {
    const char* name = sigrelay_signal_name(signo);
    ASSERT_NE(nullptr, name) << signo;
    if (signo <= 0 || signo >= NSIG || (signo > 31 && signo < SIGRTMIN)) {
      EXPECT_STREQ("", name) << signo;
    }
  }
  for (const int signo : {INT_MIN, INT_MAX}) EXPECT_STREQ("", sigrelay_signal_name(signo));
  EXPECT_STREQ("SIGRTMIN+3", sigrelay_signal_name(SIGRTMIN + 3));
  for (const int kind : {-1, 7, INT_MAX, INT_MIN}) EXPECT_STREQ("", sigrelay_origin_kind_name(kind));
  EXPECT_STREQ("queue", sigrelay_origin_kind_name(SIGRELAY_ORIGIN_QUEUE));
  EXPECT_STREQ("success", sigrelay_strerror(0));
  for (const int code : {EINVAL, -1, 100000, INT_MIN}) EXPECT_NE(nullptr, sigrelay_strerror(code)) << code;
  int signo = 12345;
  for (const char* bad : {"", "SIG", "SIGKILLX", "RTMIN+99", "RTMAX-99", "-1", "0", "99", "SIGINT "}) {
    EXPECT_EQ(EINVAL, sigrelay_signal_number(bad, &signo)) << '"' << bad << '"';
    EXPECT_EQ(12345, signo) << '"' << bad << '"';
  }
  EXPECT_EQ(EINVAL, sigrelay_signal_number(nullptr, &signo));
  EXPECT_EQ(EINVAL, sigrelay_signal_number("INT", nullptr));
  EXPECT_EQ(0, sigrelay_signal_number("rtmax-1", &signo));
  EXPECT_EQ(SIGRTMAX - 1, signo);
}

// sigrelay_signals_create(): "Subscribes to `count` signals (none if 0; `signos` may then be NULL)".
// An empty consumer waits for nothing (a wait of 0 says 0), then takes a signal added later.
TEST(CApiConsumer, AnEmptyConsumerTakesASignalAddedLater) {
  in_child([] {
    sigrelay_signals* s = nullptr;
    ASSERT_EQ(0, sigrelay_signals_create(nullptr, 0, nullptr, &s));
    sigrelay_event e[1];
    size_t n = 99;
    ASSERT_EQ(0, sigrelay_signals_wait(s, 0, e, 1, &n));
    EXPECT_EQ(0U, n);
    ASSERT_EQ(0, sigrelay_signals_add(s, SIGUSR1));
    ASSERT_EQ(0, sigrelay_signals_add(s, SIGUSR1));  // present: nothing happens
    ASSERT_EQ(0, ::kill(::getpid(), SIGUSR1));
    ASSERT_EQ(0, sigrelay_signals_wait(s, 5000, e, 1, &n));
    ASSERT_EQ(1U, n);
    EXPECT_EQ(SIGUSR1, e[0].signo);
    EXPECT_EQ(SIGRELAY_ORIGIN_USER, e[0].last.kind);
    EXPECT_EQ(::getpid(), e[0].last.pid);
    ASSERT_EQ(0, sigrelay_signals_remove(s, SIGUSR1));
    ASSERT_EQ(0, sigrelay_signals_remove(s, SIGUSR1));  // absent: nothing happens
    EXPECT_EQ(SIG_DFL, sigrelay::test::query(SIGUSR1).sa_handler);
    sigrelay_signals_destroy(s);
  });
}

// --- Fork -------------------------------------------------------------------------------------------

// sigrelay.h: the C API is "the same library as the C++ API ..., with the same contracts";
// registry.hpp, after_fork_in_child(): "fork() holds the registry across the fork in its handler, so
// its children never meet this" (a wait for ever for a thread the child does not have).
// Another thread adds and removes C actions without pause (valid ones, and refused ones, which the C
// API also books in and out); the main thread fork()s. Each child adds a C action of its own, takes
// a signal through it and removes it, under a 5-second alarm: none may hang.
TEST(CApiFork, AChildOfForkWhileAnotherThreadIsInsideTheCApiCanAddAndRemoveActions) {
  in_child(
      [] {
        std::atomic<unsigned long> n{0};
        const int failed = sigrelay::test::first_failed_fork_while_busy(
            [&n] {
              sigrelay_action_id id{};
              if ((n.fetch_add(1) & 1) != 0) {
                (void)sigrelay_add_action(SIGKILL, capi_noop_action, nullptr, nullptr, &id);  // refused
              } else if (sigrelay_add_action(SIGUSR1, capi_noop_action, nullptr, nullptr, &id) == 0) {
                (void)sigrelay_remove_action(id);
              }
            },
            1000, 300,
            [](int, bool) {
              sigrelay_action_id mine{};
              if (sigrelay_add_action(SIGUSR2, capi_count_action, nullptr, nullptr, &mine) != 0) return 2;
              if (::kill(::getpid(), SIGUSR2) != 0 || g_runs.load() != 1) return 3;
              if (sigrelay_remove_action(mine) != 1) return 4;
              return 0;
            });
        EXPECT_EQ(-1, failed) << "child " << failed << " of a fork() made while another thread was inside "
                              << "the C API failed (hung: killed by its alarm)";
      },
      120);
}

// --- Errors: no C++ exception reaches C ------------------------------------------------------------------

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitizer = true;
#else
constexpr bool kSanitizer = false;
#endif

// Takes every byte malloc() can still give under an address-space limit a little above what the
// process maps now, so that any allocation fails; give() hands it all back.
class memory_hog {
 public:
  // `left`: the size of one block (above glibc's per-thread cache: 1100 bytes and up) that the hog
  // takes first and hands back last, so that exactly that much is left.
  explicit memory_hog(std::size_t left = 0) {
    unsigned long kb = 0;
    {  // (its buffer freed before the hog begins, or that is where the next allocation comes from)
      std::ifstream status("/proc/self/status");
      std::string key;
      while (status >> key) {
        if (key == "VmSize:") {
          status >> kb;
          break;
        }
      }
    }
    EXPECT_GT(kb, 0U);
    ::getrlimit(RLIMIT_AS, &saved_);
    tight_ = {(kb + 4096) * 1024, saved_.rlim_max};
    EXPECT_EQ(0, ::setrlimit(RLIMIT_AS, &tight_));
    void* gift = left != 0 ? std::malloc(left) : nullptr;
    for (std::size_t size = 1 << 20; size >= sizeof(void*); size /= 2) {
      while (void* p = std::malloc(size)) {
        *static_cast<void**>(p) = held_;
        held_ = p;
      }
    }
    std::free(gift);
  }
  ~memory_hog() { give(); }
  void give() {
    while (held_ != nullptr) {
      void* next = *static_cast<void**>(held_);
      std::free(held_);
      held_ = next;
    }
    ::setrlimit(RLIMIT_AS, &saved_);
  }

 private:
  void* held_ = nullptr;
  struct rlimit saved_ {};
  struct rlimit tight_ {};
};

// One refused call of the test below: its name and the call (a C function's result).
struct refused_call {
  const char* name;
  int (*call)();
};

const refused_call kRefusedCalls[] = {
    {"add_relay_unknown_kind",
     [] {
       sigrelay_action_id id{};
       return sigrelay_add_relay(SIGUSR1, static_cast<sigrelay_relay_kind>(99), nullptr, nullptr, -1, nullptr,
                                 &id);
     }},
    {"add_relay_write_fd_on_a_closed_fd",
     [] {
       sigrelay_action_id id{};
       return sigrelay_add_relay(SIGUSR1, SIGRELAY_RELAY_WRITE_FD, nullptr, nullptr, 1000, nullptr, &id);
     }},
    {"add_relay_set_flag_with_a_null_flag",
     [] {
       sigrelay_action_id id{};
       return sigrelay_add_relay(SIGUSR1, SIGRELAY_RELAY_SET_FLAG, nullptr, nullptr, -1, nullptr, &id);
     }},
    {"add_relay_with_a_null_id",
     [] {
       return sigrelay_add_relay(SIGUSR1, SIGRELAY_RELAY_DEFAULT_ACTION, nullptr, nullptr, -1, nullptr,
                                 nullptr);
     }},
    {"add_action_with_a_null_id",
     [] { return sigrelay_add_action(SIGUSR1, capi_noop_action, nullptr, nullptr, nullptr); }},
    {"add_action_with_a_null_function",
     [] {
       sigrelay_action_id id{};
       return sigrelay_add_action(SIGUSR1, nullptr, nullptr, nullptr, &id);
     }},
    {"add_action_for_sigkill",
     [] {
       sigrelay_action_id id{};
       return sigrelay_add_action(SIGKILL, capi_noop_action, nullptr, nullptr, &id);
     }},
    {"ignore_sigstop", [] { return sigrelay_ignore(SIGSTOP, nullptr); }},
    {"signal_number_of_a_bad_name",
     [] {
       int signo = 0;
       return sigrelay_signal_number("SIGNOTASIGNALATALLREALLY", &signo);
     }},
    // Good calls that need memory: ENOMEM, nothing changed.
    {"add_action_that_needs_memory",
     [] {
       sigrelay_action_id id{};
       return sigrelay_add_action(SIGUSR1, capi_noop_action, nullptr, nullptr, &id);
     }},
    {"add_relay_that_needs_memory",
     [] {
       sigrelay_action_id id{};
       return sigrelay_add_relay(SIGUSR1, SIGRELAY_RELAY_DEFAULT_ACTION, nullptr, nullptr, -1, nullptr, &id);
     }},
    {"signals_create_that_needs_memory",
     [] {
       const int signos[] = {SIGUSR1, SIGRTMIN};
       sigrelay_signals* s = nullptr;
       return sigrelay_signals_create(signos, 2, nullptr, &s);
     }},
};

class CApiOutOfMemory : public testing::TestWithParam<std::size_t> {};
INSTANTIATE_TEST_SUITE_P(RefusedCalls, CApiOutOfMemory,
                         testing::Range<std::size_t>(0, sizeof kRefusedCalls / sizeof kRefusedCalls[0]),
                         [](const testing::TestParamInfo<std::size_t>& p) {
                           return std::string(kRefusedCalls[p.param].name);
                         });

// sigrelay.h, Errors: "Every function that can fail returns 0 on success, or a positive errno-style
// code: EINVAL (... a bad argument) ... ENOMEM ... A call that fails changes nothing"; src/capi.cc:
// "No exception ever crosses into C".
// A refused call (an unknown relay kind, a WRITE_FD relay on a closed fd, a NULL flag, a NULL id
// pointer, a NULL function, SIGKILL, SIGSTOP, a bad signal name) is made while memory is exhausted:
// it must return an error code (EINVAL, or ENOMEM where the message could not be built), change no
// disposition or mask, and never throw (from a function with C linkage, an exception is
// std::terminate for a C caller; from a noexcept one, for any caller). Not under the sanitizers
// (their allocators ignore RLIMIT_AS).
TEST_P(CApiOutOfMemory, ARefusedCallReturnsAnErrorCodeThrowsNothingAndChangesNothing) {
  if (kSanitizer) GTEST_SKIP() << "RLIMIT_AS cannot exhaust a sanitizer's allocator";
  const refused_call& c = kRefusedCalls[GetParam()];
  in_child([&c] {
    const auto before = snapshot();
    int rc = -1;
    bool threw = false;
    bool exhausted = false;
    {
      memory_hog hog;
      char* probe = new (std::nothrow) char[32];
      exhausted = probe == nullptr;
      delete[] probe;
      try {
        rc = c.call();
      } catch (...) {
        threw = true;
      }
      hog.give();
    }
    ASSERT_TRUE(exhausted) << "memory could not be exhausted";
    EXPECT_FALSE(threw) << "a C++ exception left a function of the C API";
    EXPECT_TRUE(rc == EINVAL || rc == ENOMEM) << "returned " << rc;
    EXPECT_TRUE(same_state(before, snapshot()));
  });
}

// sigrelay_signals_pending(): "Events that do not fit stay for the next call, in order: nothing is
// lost"; sigrelay.h, Errors: ENOMEM. Three events are recorded and memory runs out: a pending()
// with an array of 1 then either hands one out or fails with ENOMEM; once memory is back, the rest
// come, and every one of the three is handed out exactly once. Not under the sanitizers.
TEST(CApiOutOfMemoryConsumer, APendingThatRunsOutOfMemoryLosesNoEvent) {
  if (kSanitizer) GTEST_SKIP() << "RLIMIT_AS cannot exhaust a sanitizer's allocator";
  for (const int backend : backends()) {
    SCOPED_TRACE(backend_name(backend));
    in_child([backend] {
      sigrelay_signals* s = make_consumer({SIGUSR1, SIGUSR2, SIGHUP}, backend);
      ASSERT_NE(nullptr, s);
      for (const int signo : {SIGUSR1, SIGUSR2, SIGHUP}) ASSERT_EQ(0, ::kill(::getpid(), signo));
      std::vector<int> got;
      sigrelay_event e[1];
      size_t n = 0;
      int rc = -1;
      {
        memory_hog hog;
        rc = sigrelay_signals_pending(s, e, 1, &n);
        hog.give();
      }
      EXPECT_TRUE(rc == 0 || rc == ENOMEM) << rc;
      if (rc == 0 && n == 1) got.push_back(e[0].signo);
      for (int i = 0; i < 10; ++i) {
        ASSERT_EQ(0, sigrelay_signals_pending(s, e, 1, &n));
        if (n == 0) break;
        got.push_back(e[0].signo);
      }
      std::sort(got.begin(), got.end());
      EXPECT_EQ((std::vector<int>{SIGHUP, SIGUSR1, SIGUSR2}), got) << "(rc " << rc << " under the hog)";
      sigrelay_signals_destroy(s);
    });
  }
}

// The same with a realtime batch larger than the C API's array and just enough memory left for
// some of what pending() allocates: for each amount left (1.5 to 32 KB), 200 sigqueue()d
// deliveries are recorded, a pending() with an array of 1 runs with only that much memory, and
// then, memory back, everything is drained: all 200 values must come, each once, in order.
TEST(CApiOutOfMemoryConsumer, APendingWithLittleMemoryLeftLosesNoRealtimeEvent) {
  if (kSanitizer) GTEST_SKIP() << "RLIMIT_AS cannot exhaust a sanitizer's allocator";
  for (std::size_t left = 1536; left <= 32768; left += 512) {
    SCOPED_TRACE("bytes left: " + std::to_string(left));
    const int status = run_in_child([left] {
      sigrelay_signals* s = make_consumer({SIGRTMIN}, SIGRELAY_BACKEND_RELAY);
      ASSERT_NE(nullptr, s);
      constexpr int kSent = 200;
      for (int i = 0; i < kSent; ++i) {
        union sigval v {};
        v.sival_int = i;
        ASSERT_EQ(0, ::sigqueue(::getpid(), SIGRTMIN, v));
      }
      std::vector<int> got;
      got.reserve(kSent + 1);
      sigrelay_event e[1];
      size_t n = 0;
      int rc = -1;
      {
        memory_hog hog(left);
        rc = sigrelay_signals_pending(s, e, 1, &n);
        hog.give();
      }
      if (rc == 0 && n == 1) got.push_back(e[0].last.value.sival_int);
      for (int i = 0; i < 2 * kSent; ++i) {
        ASSERT_EQ(0, sigrelay_signals_pending(s, e, 1, &n));
        if (n == 0) break;
        got.push_back(e[0].last.value.sival_int);
      }
      std::vector<int> all(kSent);
      for (int i = 0; i < kSent; ++i) all[i] = i;
      EXPECT_EQ(all, got) << "(rc " << rc << " with little memory)";
      sigrelay_signals_destroy(s);
    });
    ASSERT_TRUE(exited_with(status, 0));
  }
}

}  // namespace
