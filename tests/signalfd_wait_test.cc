// SPDX-License-Identifier: MIT
// tests/signalfd_wait_test.cc — where wait() on the signalfd backend sleeps (src/signals.cc, "wait()
// on the signalfd backend sleeps in read()").
//
// A single-threaded process whose subscribed signals sigrelay blocks sleeps in read() of the
// signalfd; a process with a second thread sleeps in ppoll(), so that a delivery the kernel hands to
// the other thread (which does not block the signal: it was created before the subscription) still
// wakes it through the handler's eventfd write. Each waiter is a real process; the test looks at the
// system call it sleeps in (/proc/<pid>/syscall), then wakes it with a real kill().
#include <gtest/gtest.h>

#include <dirent.h>
#include <poll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "support/platform.hpp"

#include "sigrelay/registry.hpp"
#include "sigrelay/relays.hpp"
#include "sigrelay/signals.hpp"
#include "support/child.hpp"
#include "support/events.hpp"

namespace {

using namespace std::chrono_literals;
using sigrelay::backend;
using sigrelay::signals;
using sigrelay::test::exited_with;
using sigrelay::test::readable;
using sigrelay::test::wait_with_deadline;

#if defined(__SANITIZE_THREAD__)
constexpr bool kUnderThreadSanitizer = true;
#else
constexpr bool kUnderThreadSanitizer = false;
#endif

// The system call task `pid` of process `pid` sleeps in, or -1 while it runs (or if unknown).
long sleeping_in(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/syscall");
  std::string first;
  if (!(in >> first) || first == "running") return -1;
  try {
    return std::stol(first);
  } catch (...) {
    return -1;
  }
}

// Waits (up to 30 s) until the main thread of `pid` sleeps in system call `nr`; true if it did.
bool sleeps_in(pid_t pid, long nr) {
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (sleeping_in(pid) == nr) {
      // Still there a moment later: not a system call on the way (the drain's reads are
      // non-blocking and return at once).
      std::this_thread::sleep_for(20ms);
      if (sleeping_in(pid) == nr) return true;
    }
    std::this_thread::sleep_for(1ms);
  }
  return false;
}

// A second thread of this process, parked until destroyed: made before a subscription, it does not
// block the signal, so a delivery the kernel hands to it runs the handler. It sleeps in poll(), where
// ThreadSanitizer also runs a handler at once (it defers one that arrives in read()); the destructor
// releases and joins it, also when an assertion returns early.
class parked_thread {
 public:
  parked_thread() {
    if (pipe(gate_) != 0) return;
    thread_ = std::thread([this] {
      tid_.store(static_cast<pid_t>(syscall(SYS_gettid)));
      struct pollfd p {
        gate_[0], POLLIN, 0
      };
      while (poll(&p, 1, -1) != 1) {
      }
    });
    while (tid_.load() == 0) std::this_thread::sleep_for(1ms);
  }
  ~parked_thread() {
    const char one = 1;
    if (thread_.joinable() && write(gate_[1], &one, 1) == 1) thread_.join();
    close(gate_[0]);
    close(gate_[1]);
  }
  parked_thread(const parked_thread&) = delete;
  parked_thread& operator=(const parked_thread&) = delete;
  // Its thread id; 0 if it could not be started.
  pid_t tid() const { return tid_.load(); }

 private:
  std::atomic<pid_t> tid_{0};
  int gate_[2] = {-1, -1};
  std::thread thread_;
};

// A waiter process: subscribes SIGUSR1 (signalfd backend), says so on `ready`, then wait()s once.
// `threaded`: a second thread exists from before the subscription (it does not block SIGUSR1) and
// sleeps until the wait is over. Exits 0 if wait() returned one SIGUSR1 from the parent.
pid_t fork_waiter(bool threaded, int ready) {
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid != 0) return pid;
  alarm(60);
  std::optional<parked_thread> other;
  if (threaded) {
    other.emplace();
    if (other->tid() == 0) _exit(10);
  }
  int code = 0;
  {
    signals sigs({SIGUSR1}, backend::signalfd);
    const char one = 1;
    if (write(ready, &one, 1) != 1) _exit(11);
    const auto events = sigs.wait();
    if (events.size() != 1 || events[0].signo != SIGUSR1 || events[0].last.pid != getppid()) code = 12;
  }
  other.reset();
  _exit(code);
}

// Starts a waiter process with `start(ready)` and sets `waiter` once the waiter wrote its byte to
// `ready` (it is subscribed then).
void start_waiter(const std::function<pid_t(int ready)>& start, pid_t& waiter) {
  int ready[2];
  ASSERT_EQ(0, pipe(ready));
  waiter = start(ready[1]);
  ASSERT_GT(waiter, 0);
  close(ready[1]);
  char c = 0;
  ASSERT_EQ(1, read(ready[0], &c, 1));
  close(ready[0]);
}

void expect_sleep_then_wake(bool threaded, long expected_syscall) {
  pid_t waiter = -1;
  ASSERT_NO_FATAL_FAILURE(
      start_waiter([threaded](int ready) { return fork_waiter(threaded, ready); }, waiter));
  const bool slept = sleeps_in(waiter, expected_syscall);
  EXPECT_TRUE(slept) << "the waiter never slept in system call " << expected_syscall << " (last seen "
                     << sleeping_in(waiter) << ")";
  ASSERT_EQ(0, kill(waiter, SIGUSR1));
  EXPECT_TRUE(exited_with(wait_with_deadline(waiter, 30), 0));
}

TEST(SignalfdWait, SingleThreadedSleepsInReadAndWakesForTheSignal) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the signalfd backend");
  if (kUnderThreadSanitizer)
    GTEST_SKIP() << "under ThreadSanitizer wait() always ppoll()s (deferred handlers)";
  SIGRELAY_IN_CHILD([] { expect_sleep_then_wake(/*threaded=*/false, SYS_read); }, 90);
}

// The case a blocking read() would get wrong: the kernel hands the process-directed SIGUSR1 to the
// thread that does not block it; its handler records it and writes the eventfd, which only ppoll()
// sees.
TEST(SignalfdWait, WithASecondThreadSleepsInPpollAndWakesThroughTheHandler) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the signalfd backend");
  if (kUnderThreadSanitizer)
    GTEST_SKIP() << "ThreadSanitizer defers the other thread's handler until its blocking read() returns";
  SIGRELAY_IN_CHILD([] { expect_sleep_then_wake(/*threaded=*/true, SYS_ppoll); }, 90);
}

// --- What a wait() that sleeps in read() hands out ------------------------------------------------
// Woken by the one siginfo its read took, such a wait() hands that siginfo to its caller directly when
// its own record would be the delivery's only effect, and dispatches it otherwise (src/signals.cc).
// Either way the caller must see the same event, and a chained earlier handler its call. (No other
// action can share a signal that wait() reads: its block is lifted when one comes, signals.hpp.)

// What else has SIGUSR1 besides the waiting `signals` object.
enum class company {
  none,
  chained_handler,  // an SA_SIGINFO handler installed before sigrelay, chained on every delivery
};

volatile sig_atomic_t g_chained_runs = 0;
void chained_handler(int, siginfo_t*, void*) { g_chained_runs = g_chained_runs + 1; }

// A waiter process, single-threaded: subscribes SIGUSR1 and SIGRTMIN (signalfd backend) with
// `with` alongside, says so on `ready`, then expects two wakes: a SIGRTMIN sigqueue()d by the parent
// with value 42, then a SIGUSR1 kill()ed by it. Exits 0 if every field was right and the chained
// handler ran once for SIGUSR1, else a code that says what was not.
pid_t fork_sharing_waiter(company with, int ready) {
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid != 0) return pid;
  alarm(60);
  const pid_t parent = getppid();
  struct sigaction sa {};
  sa.sa_sigaction = chained_handler;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  if (with == company::chained_handler && sigaction(SIGUSR1, &sa, nullptr) != 0) _exit(20);
  int code = 0;
  {
    signals sigs({SIGUSR1, SIGRTMIN}, backend::signalfd);
    const char one = 1;
    if (write(ready, &one, 1) != 1) _exit(21);
    std::vector<sigrelay::signal_event> events;
    sigs.wait(events);
    if (events.size() != 1 || events[0].signo != SIGRTMIN || events[0].count != 1) {
      code = 22;
    } else {
      const sigrelay::origin& o = events[0].last;
      if (o.kind != sigrelay::origin_kind::queue || o.code != SI_QUEUE || o.pid != parent ||
          o.uid != getuid() || o.value.sival_int != 42 || o.trusted)
        code = 23;
    }
    sigs.wait(events);
    if (code == 0 && (events.size() != 1 || events[0].signo != SIGUSR1 || events[0].count != 1)) {
      code = 24;
    } else if (code == 0) {
      const sigrelay::origin& o = events[0].last;
      if (o.kind != sigrelay::origin_kind::user || o.code != SI_USER || o.pid != parent || !o.trusted)
        code = 25;
    }
    if (code == 0 && !sigs.pending().empty()) code = 26;  // nothing left behind in the sink
  }
  if (code == 0 && with == company::chained_handler && g_chained_runs != 1) code = 27;
  _exit(code);
}

void expect_shares(company with) {
  pid_t waiter = -1;
  ASSERT_NO_FATAL_FAILURE(
      start_waiter([with](int ready) { return fork_sharing_waiter(with, ready); }, waiter));
  // Each signal is sent while the waiter sleeps in read(), so that the read takes exactly one.
  EXPECT_TRUE(sleeps_in(waiter, SYS_read))
      << "never slept in read() (last seen " << sleeping_in(waiter) << ")";
  union sigval value {};
  value.sival_int = 42;
  ASSERT_EQ(0, sigqueue(waiter, SIGRTMIN, value));
  EXPECT_TRUE(sleeps_in(waiter, SYS_read)) << "never slept in read() again";
  ASSERT_EQ(0, kill(waiter, SIGUSR1));
  EXPECT_TRUE(exited_with(wait_with_deadline(waiter, 30), 0));
}

TEST(SignalfdWait, AReadAloneHandsOutTheSenderAndValueOfEachSignal) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the signalfd backend");
  if (kUnderThreadSanitizer)
    GTEST_SKIP() << "under ThreadSanitizer wait() always ppoll()s (deferred handlers)";
  SIGRELAY_IN_CHILD([] { expect_shares(company::none); }, 90);
}

TEST(SignalfdWait, AChainedEarlierHandlerStillRunsForWhatTheReadTakes) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the signalfd backend");
  if (kUnderThreadSanitizer)
    GTEST_SKIP() << "under ThreadSanitizer wait() always ppoll()s (deferred handlers)";
  SIGRELAY_IN_CHILD([] { expect_shares(company::chained_handler); }, 90);
}

// --- The epoll set behind native_handle() ----------------------------------------------------------
// A signalfd in an epoll set costs every signal sent to the process a callback; a wait() that sleeps
// in read() takes it out unless native_handle() was asked for, and native_handle() puts it back.

// The number of descriptors in each epoll set this process has open (from /proc/self/fdinfo).
std::vector<int> epoll_set_sizes() {
  std::vector<int> sizes;
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return sizes;
  while (const dirent* d = readdir(dir)) {
    if (d->d_name[0] == '.') continue;
    char target[64] = {};
    const std::string link = std::string("/proc/self/fd/") + d->d_name;
    if (readlink(link.c_str(), target, sizeof target - 1) <= 0) continue;
    if (std::string(target) != "anon_inode:[eventpoll]") continue;
    std::ifstream info(std::string("/proc/self/fdinfo/") + d->d_name);
    int watched = 0;
    for (std::string line; std::getline(info, line);) watched += line.rfind("tfd:", 0) == 0 ? 1 : 0;
    sizes.push_back(watched);
  }
  closedir(dir);
  return sizes;
}

// The number of descriptors in the epoll set `fd`.
int epoll_set_size(int fd) {
  std::ifstream info("/proc/self/fdinfo/" + std::to_string(fd));
  int watched = 0;
  for (std::string line; std::getline(info, line);) watched += line.rfind("tfd:", 0) == 0 ? 1 : 0;
  return watched;
}

TEST(SignalfdWait, AWaitInReadTakesTheSignalfdOutOfTheEpollSetAndNativeHandlePutsItBack) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the signalfd backend");
  if (kUnderThreadSanitizer)
    GTEST_SKIP() << "under ThreadSanitizer wait() always ppoll()s (deferred handlers)";
  SIGRELAY_IN_CHILD([] {
    signals sigs({SIGUSR1}, backend::signalfd);
    EXPECT_EQ(epoll_set_sizes(), std::vector<int>{2});  // the signalfd and the eventfd
    ASSERT_EQ(0, raise(SIGUSR1));
    auto events = sigs.wait();  // the blocking read returns at once: SIGUSR1 is pending
    ASSERT_EQ(1U, events.size());
    EXPECT_EQ(SIGUSR1, events[0].signo);
    EXPECT_EQ(epoll_set_sizes(), std::vector<int>{1});  // the eventfd alone
    const int fd = sigs.native_handle();
    ASSERT_GE(fd, 0);
    EXPECT_EQ(epoll_set_sizes(), std::vector<int>{2});
    EXPECT_FALSE(readable(fd, 0));
    // Blocked and pending, the signal runs no handler: only the signalfd can make the set readable.
    ASSERT_EQ(0, raise(SIGUSR1));
    EXPECT_TRUE(readable(fd, 10000));
    events = sigs.pending();
    ASSERT_EQ(1U, events.size());
    EXPECT_EQ(SIGUSR1, events[0].signo);
    // Asked for once, the set keeps the signalfd: later waits that sleep in read() leave it there.
    ASSERT_EQ(0, raise(SIGUSR1));
    EXPECT_EQ(1U, sigs.wait().size());
    EXPECT_EQ(epoll_set_sizes(), std::vector<int>{2});
  });
}

TEST(SignalfdWait, ANativeHandleAskedForBeforeWaitingKeepsTheSignalfdInTheSet) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the signalfd backend");
  SIGRELAY_IN_CHILD([] {
    signals sigs({SIGUSR1}, backend::signalfd);
    const int fd = sigs.native_handle();
    ASSERT_GE(fd, 0);
    ASSERT_EQ(0, raise(SIGUSR1));
    EXPECT_EQ(1U, sigs.wait().size());
    EXPECT_EQ(epoll_set_sizes(), std::vector<int>{2});
    ASSERT_EQ(0, raise(SIGUSR1));
    EXPECT_TRUE(readable(fd, 10000));
    EXPECT_EQ(1U, sigs.pending().size());
  });
}

// The set is shared with fork children (one open file description): a child's wait() on the object
// it inherited (which hands out nothing there) must leave the parent's set alone. Both kinds of
// child: after fork() the registry's fork handler unblocks what sigrelay blocked; after _Fork() no
// handler runs, and the child still blocks SIGUSR1 as its parent's thread did.
void expect_child_wait_leaves_set(bool raw) {
  signals sigs({SIGUSR1}, backend::signalfd);
  ASSERT_EQ(epoll_set_sizes(), std::vector<int>{2});
  std::fflush(nullptr);
  const pid_t child = raw ? _Fork() : fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    alarm(30);
    _exit(sigs.wait().empty() ? 0 : 1);  // an inherited object: empty at once
  }
  EXPECT_TRUE(exited_with(wait_with_deadline(child, 30), 0));
  EXPECT_EQ(epoll_set_sizes(), std::vector<int>{2});
}

TEST(SignalfdWait, AForkChildsWaitLeavesTheParentsEpollSetAlone) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the signalfd backend");
  SIGRELAY_IN_CHILD([] { expect_child_wait_leaves_set(/*raw=*/false); });
}

TEST(SignalfdWait, AnUnderscoreForkChildsWaitLeavesTheParentsEpollSetAlone) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the signalfd backend");
  SIGRELAY_IN_CHILD([] { expect_child_wait_leaves_set(/*raw=*/true); });
}

// With a second thread, wait() sleeps in ppoll() (of the signalfd itself, not of the set): the first
// one that sleeps takes the signalfd out of the set all the same.
TEST(SignalfdWait, WithASecondThreadAWaitThatSleepsTakesTheSignalfdOutOfTheSetToo) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the signalfd backend");
  SIGRELAY_IN_CHILD([] {
    const parked_thread other;
    ASSERT_NE(0, other.tid());
    {
      signals sigs({SIGUSR1}, backend::signalfd);
      EXPECT_EQ(epoll_set_sizes(), std::vector<int>{2});
      EXPECT_TRUE(sigs.wait_for(std::chrono::milliseconds(20)).empty());
      EXPECT_EQ(epoll_set_sizes(), std::vector<int>{1});
      const int fd = sigs.native_handle();
      ASSERT_GE(fd, 0);
      EXPECT_EQ(2, epoll_set_size(fd));
      ASSERT_EQ(0, raise(SIGUSR1));  // to this thread, which blocks it: only the signalfd sees it
      EXPECT_TRUE(readable(fd, 10000));
      EXPECT_EQ(1U, sigs.pending().size());
    }
  });
}

// The race the mutex closes: native_handle() on one thread while the consumer, on another, starts
// its first sleep (which would take the signalfd out). Whatever the interleaving, a handle given
// out polls a set with the signalfd in it, then and later.
TEST(SignalfdWait, AHandleGivenWhileTheConsumerStartsWaitingAlwaysPollsTheSignalfd) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the signalfd backend");
  SIGRELAY_IN_CHILD(
      [] {
        for (int round = 0; round < 200; ++round) {
          signals sigs({SIGUSR1}, backend::signalfd);
          std::atomic<bool> stop{false};
          std::thread consumer([&] {
            while (!stop.load()) (void)sigs.wait_for(std::chrono::microseconds(200));
          });
          if (round % 2 == 1) std::this_thread::sleep_for(std::chrono::microseconds(round * 5));
          const int fd = sigs.native_handle();
          const int first = fd >= 0 ? epoll_set_size(fd) : -1;
          std::this_thread::sleep_for(std::chrono::milliseconds(1));  // the consumer waits again
          const int later = fd >= 0 ? epoll_set_size(fd) : -1;
          stop.store(true);
          consumer.join();
          ASSERT_EQ(2, first) << "round " << round;
          ASSERT_EQ(2, later) << "round " << round;
        }
      },
      120);
}

// --- pending() into storage with room -----------------------------------------------------------
// A drain's non-blocking read that took one siginfo hands it out directly too, when the caller's
// vector has room for it (pending(std::vector&), the adapters, a native_handle() loop), the sink is
// clean and our record is the delivery's only effect; anything else takes the sink and the drain.

// The origin of a sigqueue()d SIGRTMIN from this process with `value`, as the record would give it.
::testing::AssertionResult queued_by_us(const sigrelay::signal_event& e, int value) {
  const sigrelay::origin& o = e.last;
  if (e.signo != SIGRTMIN || e.count != 1 || o.kind != sigrelay::origin_kind::queue || o.code != SI_QUEUE ||
      o.pid != getpid() || o.uid != getuid() || o.value.sival_int != value || o.trusted) {
    return ::testing::AssertionFailure() << "signo " << e.signo << " count " << e.count << " code " << o.code
                                         << " pid " << o.pid << " value " << o.value.sival_int;
  }
  return ::testing::AssertionSuccess();
}

void queue_self(int signo, int value) {
  union sigval v {};
  v.sival_int = value;
  ASSERT_EQ(0, sigqueue(getpid(), signo, v));
}

TEST(SignalfdPending, AReadOfOneHandsOutTheSenderAndValueOfEachSignal) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the signalfd backend");
  SIGRELAY_IN_CHILD([] {
    g_chained_runs = 0;
    struct sigaction sa {};
    sa.sa_sigaction = chained_handler;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    ASSERT_EQ(0, sigaction(SIGUSR2, &sa, nullptr));  // chained: that signal takes the old path
    signals sigs({SIGUSR1, SIGUSR2, SIGRTMIN}, backend::signalfd);
    std::vector<sigrelay::signal_event> events;
    events.reserve(4);
    // Blocked in this thread (the only one): each stays queued until the read.
    ASSERT_NO_FATAL_FAILURE(queue_self(SIGRTMIN, 42));
    ASSERT_EQ(1u, sigs.pending(events));
    EXPECT_TRUE(queued_by_us(events[0], 42));
    ASSERT_EQ(0, kill(getpid(), SIGUSR1));
    ASSERT_EQ(1u, sigs.pending(events));
    EXPECT_EQ(SIGUSR1, events[0].signo);
    EXPECT_EQ(1u, events[0].count);
    EXPECT_EQ(sigrelay::origin_kind::user, events[0].last.kind);
    EXPECT_EQ(getpid(), events[0].last.pid);
    EXPECT_TRUE(events[0].last.trusted);
    ASSERT_EQ(0, kill(getpid(), SIGUSR2));
    ASSERT_EQ(1u, sigs.pending(events));
    EXPECT_EQ(SIGUSR2, events[0].signo);
    EXPECT_EQ(1, g_chained_runs);  // the chained handler ran for what the read took
    // Two at once: the drain's way, in the order sent.
    ASSERT_NO_FATAL_FAILURE(queue_self(SIGRTMIN, 1));
    ASSERT_NO_FATAL_FAILURE(queue_self(SIGRTMIN, 2));
    ASSERT_EQ(2u, sigs.pending(events));
    EXPECT_TRUE(queued_by_us(events[0], 1));
    EXPECT_TRUE(queued_by_us(events[1], 2));
    EXPECT_EQ(0u, sigs.pending(events));
    EXPECT_EQ(0u, sigs.dropped());
  });
}

// The read of one hands out straight into the caller's storage only while our record is the signal's one
// action; that answer is remembered between drains (runs_only_remembered(), src/handler/state.hpp) and
// must be forgotten as soon as the registry publishes anything else for the signal: an action added
// (on another thread) after a direct drain runs for the next read, and once it is removed the read
// goes straight out again without running it.
TEST(SignalfdPending, AnActionAddedBetweenDrainsRunsForTheNextRead) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the signalfd backend");
  SIGRELAY_IN_CHILD([] {
    signals sigs({SIGUSR1}, backend::signalfd);
    std::vector<sigrelay::signal_event> events;
    events.reserve(4);
    std::atomic<std::uint64_t> runs{0};
    for (int round = 0; round < 3; ++round) {
      ASSERT_EQ(0, kill(getpid(), SIGUSR1));  // blocked here (the only thread): queued until the read
      ASSERT_EQ(1u, sigs.pending(events));    // remembered: our record alone
      EXPECT_EQ(SIGUSR1, events[0].signo);
      EXPECT_EQ(1u, events[0].count);
      // Added on another thread: an action added on this one would lift the block (src/signals.cc,
      // lift_block_here()), and the handler would run it, not a read.
      sigrelay::action_id id;
      std::thread([&] { id = sigrelay::add_action(SIGUSR1, sigrelay::relay::add_count(runs)); }).join();
      for (int i = 1; i <= 2; ++i) {
        ASSERT_EQ(0, kill(getpid(), SIGUSR1));
        ASSERT_EQ(1u, sigs.pending(events));
        EXPECT_EQ(SIGUSR1, events[0].signo);
        EXPECT_EQ(getpid(), events[0].last.pid);
        EXPECT_EQ(static_cast<std::uint64_t>(2 * round + i), runs.load()) << "round " << round;
      }
      std::thread([&] { sigrelay::remove_action(id); }).join();
      ASSERT_EQ(0, kill(getpid(), SIGUSR1));
      ASSERT_EQ(1u, sigs.pending(events));
      EXPECT_EQ(getpid(), events[0].last.pid);
      EXPECT_EQ(static_cast<std::uint64_t>(2 * round + 2), runs.load()) << "round " << round;  // not run
    }
    EXPECT_EQ(0u, sigs.pending(events));
    EXPECT_EQ(0u, sigs.dropped());
  });
}

// A sigqueue()d SIGCHLD carries a sigval, not a child's status: the signalfd read hands its value out,
// whether it goes straight into the caller's storage or through the sink (a fresh vector), and a
// chained SA_SIGINFO handler sees it in si_value.
std::atomic<int> g_chained_sigchld_value{0};
void chained_sigchld_handler(int, siginfo_t* info, void*) {
  g_chained_sigchld_value.store(info->si_value.sival_int, std::memory_order_relaxed);
}

TEST(SignalfdPending, AQueuedSigchldKeepsItsValue) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the signalfd backend");
  SIGRELAY_IN_CHILD([] {
    {
      signals sigs({SIGCHLD}, backend::signalfd);
      std::vector<sigrelay::signal_event> events;
      events.reserve(4);
      ASSERT_NO_FATAL_FAILURE(queue_self(SIGCHLD, 4242));
      ASSERT_EQ(1u, sigs.pending(events));  // straight out
      EXPECT_EQ(SIGCHLD, events[0].signo);
      EXPECT_EQ(sigrelay::origin_kind::queue, events[0].last.kind);
      EXPECT_EQ(4242, events[0].last.value.sival_int);
      ASSERT_NO_FATAL_FAILURE(queue_self(SIGCHLD, 4343));
      const std::vector<sigrelay::signal_event> fresh = sigs.pending();  // through the sink
      ASSERT_EQ(1u, fresh.size());
      EXPECT_EQ(sigrelay::origin_kind::queue, fresh[0].last.kind);
      EXPECT_EQ(4343, fresh[0].last.value.sival_int);
    }
    struct sigaction sa {};
    sa.sa_sigaction = chained_sigchld_handler;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    ASSERT_EQ(0, sigaction(SIGCHLD, &sa, nullptr));
    signals sigs({SIGCHLD}, backend::signalfd);
    std::vector<sigrelay::signal_event> events;
    events.reserve(4);
    ASSERT_NO_FATAL_FAILURE(queue_self(SIGCHLD, 4444));
    ASSERT_EQ(1u, sigs.pending(events));  // dispatched: the earlier handler is chained
    EXPECT_EQ(4444, events[0].last.value.sival_int);
    EXPECT_EQ(4444, g_chained_sigchld_value.load(std::memory_order_relaxed));
  });
}

// A delivery already recorded in the sink (through the handler, on a thread that does not block the
// signal) and a siginfo in the signalfd come out together, in one batch: the read of one does not
// go out alone past what the sink holds.
TEST(SignalfdPending, WhatTheSinkHoldsComesOutWithWhatTheReadTakes) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the signalfd backend");
  SIGRELAY_IN_CHILD([] {
    const parked_thread helper;  // the handler runs there and records into the sink
    ASSERT_NE(0, helper.tid());
    signals sigs({SIGUSR1, SIGRTMIN}, backend::signalfd);
    std::vector<sigrelay::signal_event> events;
    events.reserve(4);
    ASSERT_EQ(0, syscall(SYS_tgkill, getpid(), helper.tid(), SIGUSR1));
    // The handler on the helper has recorded it once the sink's wake-up shows.
    ASSERT_TRUE(readable(sigs.native_handle(), 5000));
    // A siginfo for the signalfd: directed at this thread, which blocks SIGRTMIN.
    siginfo_t info{};
    info.si_signo = SIGRTMIN;
    info.si_code = SI_QUEUE;
    info.si_pid = getpid();
    info.si_uid = getuid();
    info.si_value.sival_int = 7;
    ASSERT_EQ(0, syscall(SYS_rt_tgsigqueueinfo, getpid(), static_cast<pid_t>(syscall(SYS_gettid)), SIGRTMIN,
                         &info));
    ASSERT_EQ(2u, sigs.pending(events));
    EXPECT_EQ(SIGUSR1, events[0].signo);
    EXPECT_EQ(getpid(), events[0].last.pid);
    EXPECT_TRUE(queued_by_us(events[1], 7));
  });
}

}  // namespace
