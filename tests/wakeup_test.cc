// SPDX-License-Identifier: MIT
// tests/wakeup_test.cc — no lost wake-up, nothing lost that the kernel kept, and the order promised:
// remove()/off() on the signalfd backend, close() racing pending(), two backends on one signal, the
// ucontext of a chained handler on the signalfd path, the realtime ring against the kernel's queue,
// and the order of realtime signals. Real signals, each test in its own child process.
#include <gtest/gtest.h>

#include <sched.h>
#include <sys/resource.h>
#if __has_include(<sys/single_threaded.h>)
#include <sys/single_threaded.h>
#endif
#include <sys/syscall.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <thread>
#include <utility>
#include <vector>

#include "sigrelay/dispatcher.hpp"
#include "sigrelay/registry.hpp"
#include "sigrelay/relays.hpp"
#include "sigrelay/signals.hpp"
#include "support/child.hpp"
#include "support/events.hpp"
#include "support/flood_limit.hpp"
#include "support/platform.hpp"

namespace {

using namespace std::chrono_literals;
using sigrelay::backend;
using sigrelay::dispatcher;
using sigrelay::signal_event;
using sigrelay::signals;
using sigrelay::signals_options;
using sigrelay::test::exited_with;
using sigrelay::test::readable;
using sigrelay::test::total;
using sigrelay::test::wait_with_deadline;

#if defined(__SANITIZE_THREAD__)
constexpr bool kUnderThreadSanitizer = true;
#else
constexpr bool kUnderThreadSanitizer = false;
#endif

class Wakeup : public testing::TestWithParam<backend> {
 protected:
  void SetUp() override {
    if (GetParam() == backend::signalfd) SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the signalfd backend");
  }
  backend kind() const { return GetParam(); }
};

std::string backend_name(const testing::TestParamInfo<backend>& info) {
  return info.param == backend::relay ? "relay" : "signalfd";
}

INSTANTIATE_TEST_SUITE_P(Backends, Wakeup, testing::Values(backend::relay, backend::signalfd), backend_name);

bool blocked_here(int signo) {
  sigset_t mask;
  pthread_sigmask(SIG_BLOCK, nullptr, &mask);
  return sigismember(&mask, signo) == 1;
}

pid_t fork_sender(const std::function<void()>& body) {
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    alarm(120);
    body();
    _exit(0);
  }
  return pid;
}

// sigqueue() that waits while the kernel's queue is full (RLIMIT_SIGPENDING): every value is queued.
void queue_or_exit(pid_t to, int signo, int value) {
  while (sigqueue(to, signo, sigval{.sival_int = value}) != 0) {
    if (errno != EAGAIN) _exit(3);
    sched_yield();  // let the receiver read some
  }
}

// A thread that does nothing but receive `signo` (every other thread blocks it), parked in usleep():
// ThreadSanitizer runs a handler at once only inside a call it intercepts, and otherwise keeps one
// pending siginfo per number, merging realtime signals that the kernel had queued.
class receiver_thread {
 public:
  explicit receiver_thread(std::vector<int> signos) {
    sigset_t set;
    sigemptyset(&set);
    for (const int signo : signos) sigaddset(&set, signo);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);  // here, and so in threads created from now on
    thread_ = std::thread([this, set] {
      pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
      while (!stop_.load()) usleep(1000);
      pthread_sigmask(SIG_BLOCK, &set, nullptr);
    });
  }
  receiver_thread(const receiver_thread&) = delete;
  receiver_thread& operator=(const receiver_thread&) = delete;
  ~receiver_thread() {
    stop_.store(true);
    thread_.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// --- Item 2: remove() and dispatcher::off() keep the object's wake-up alive. ----------------------

// On the signalfd backend remove() reads what is pending (here a SIGUSR1 queued while blocked):
// the object must then be readable for pollers, and stay live for later deliveries.
TEST_P(Wakeup, RemoveWakesPollersForWhatItRead) {
  SIGRELAY_IN_CHILD([this] {
    signals sigs({SIGUSR1, SIGUSR2}, kind());
    const int fd = sigs.native_handle();
    kill(getpid(), SIGUSR1);
    sigs.remove(SIGUSR2);
    ASSERT_TRUE(readable(fd, 2000)) << "remove() swallowed the wake-up of a pending SIGUSR1";
    EXPECT_EQ(1U, total(sigs.pending(), SIGUSR1));
    EXPECT_FALSE(readable(fd)) << "still readable after the drain";
    for (int round = 0; round < 3; ++round) {
      kill(getpid(), SIGUSR1);
      ASSERT_TRUE(readable(fd, 2000)) << "a later delivery did not wake the poller, round " << round;
      EXPECT_EQ(1U, total(sigs.pending(), SIGUSR1));
    }
  });
}

// Through the dispatcher: off(SIGUSR2) must not leave SIGUSR1's callback asleep.
TEST_P(Wakeup, DispatcherOffKeepsTheOtherCallbacksRunning) {
  SIGRELAY_IN_CHILD([this] {
    dispatcher d(kind());
    std::atomic<int> usr1{0};
    d.on(SIGUSR1, [&](const signal_event&) { usr1.fetch_add(1); });
    d.on(SIGUSR2, [](const signal_event&) {});
    kill(getpid(), SIGUSR1);
    d.off(SIGUSR2);
    d.start();
    for (int i = 0; i < 5000 && usr1.load() < 1; ++i) usleep(1000);
    EXPECT_EQ(1, usr1.load()) << "the SIGUSR1 pending at off(SIGUSR2) never reached its callback";
    kill(getpid(), SIGUSR1);
    for (int i = 0; i < 5000 && usr1.load() < 2; ++i) usleep(1000);
    EXPECT_EQ(2, usr1.load()) << "a later SIGUSR1 never reached its callback";
    d.stop();
    d.join();
  });
}

// --- Item 3: close() racing pending() leaves native_handle() readable. ---------------------------

TEST_P(Wakeup, CloseRacingPendingLeavesTheHandleReadable) {
  SIGRELAY_IN_CHILD(
      [this] {
        constexpr int kTrials = 2000;
        int unreadable = 0;
        for (int trial = 0; trial < kTrials; ++trial) {
          signals sigs({SIGUSR1}, kind());
          std::atomic<unsigned> drains{0};
          std::thread consumer([&] {
            while (!sigs.is_closed()) {
              sigs.pending();
              drains.fetch_add(1);
            }
          });
          while (drains.load() < static_cast<unsigned>(trial % 4)) sched_yield();  // vary the timing
          sigs.get_handle().close();
          consumer.join();
          if (!readable(sigs.native_handle())) ++unreadable;
        }
        EXPECT_EQ(0, unreadable) << "of " << kTrials << " close() calls left native_handle() unreadable";
      },
      240);
}

// --- Every eventfd write is flagged for the drain after it (src/handler/sink.hpp, FD_STALE). --------

// Deliveries on four threads (each tgkill()s itself, so its handler runs before the call returns)
// race a consumer that drains at every wake-up of native_handle(): every drain may clear FD_ARMED
// between a handler's flag and its write. Once the senders are done (every handler has returned),
// everything was handed out exactly once, and a last pending() leaves the handle quiet: no write
// stayed readable unflagged, which an empty drain no longer reads just in case.
TEST(WakeupFlags, AFloodFromFourThreadsIsCountedAndLeavesNativeHandleQuiet) {
  if (kUnderThreadSanitizer) {
    GTEST_SKIP() << "ThreadSanitizer defers handlers past tgkill() and merges the deliveries it defers: "
                    "neither the count nor the end of the handlers can be known";
  }
  SIGRELAY_IN_CHILD(
      [] {
        signals sigs({SIGUSR1});
        const int fd = sigs.native_handle();
        constexpr int kThreads = 4;
        constexpr int kEach = 20000;
        std::atomic<bool> done{false};
        std::uint64_t got = 0;
        std::thread consumer([&] {
          while (!done.load()) {
            if (readable(fd, 10)) got += total(sigs.pending(), SIGUSR1);
          }
        });
        std::vector<std::thread> senders;
        for (int t = 0; t < kThreads; ++t) {
          senders.emplace_back([] {
            const pid_t tid = static_cast<pid_t>(syscall(SYS_gettid));
            for (int i = 0; i < kEach; ++i) syscall(SYS_tgkill, getpid(), tid, SIGUSR1);
          });
        }
        for (std::thread& s : senders) s.join();
        done.store(true);
        consumer.join();
        got += total(sigs.pending(), SIGUSR1);
        EXPECT_EQ(static_cast<std::uint64_t>(kThreads) * kEach, got);
        EXPECT_FALSE(readable(fd)) << "native_handle() left readable with nothing pending";
        EXPECT_TRUE(sigs.pending().empty());
      },
      120);
}

// --- Item 5: two backends on one signal, one thread: each gets every delivery promptly. -----------

void expect_both_get_it_at_once(signals& relay_backed, signals& fd_backed) {
  kill(getpid(), SIGUSR1);
  // The relay-backed object first: the signalfd-backed one is not drained meanwhile.
  EXPECT_EQ(1U, total(relay_backed.wait_for(2s), SIGUSR1)) << "hidden by the other object's block";
  EXPECT_EQ(1U, total(fd_backed.wait_for(2s), SIGUSR1));
  EXPECT_TRUE(relay_backed.pending().empty());
  EXPECT_TRUE(fd_backed.pending().empty());
}

TEST(TwoBackends, SignalfdFirstThenRelayBothGetEverySignal) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the signalfd backend");
  SIGRELAY_IN_CHILD([] {
    {
      signals fd_backed({SIGUSR1}, backend::signalfd);
      EXPECT_TRUE(blocked_here(SIGUSR1)) << "alone, the signalfd backend blocks its signal";
      signals relay_backed({SIGUSR1}, backend::relay);
      EXPECT_FALSE(blocked_here(SIGUSR1)) << "a second subscriber lifts the block in this thread";
      for (int round = 0; round < 3; ++round) expect_both_get_it_at_once(relay_backed, fd_backed);
    }
    EXPECT_FALSE(blocked_here(SIGUSR1));
  });
}

TEST(TwoBackends, RelayFirstThenSignalfdBothGetEverySignal) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the signalfd backend");
  SIGRELAY_IN_CHILD([] {
    {
      signals relay_backed({SIGUSR1}, backend::relay);
      signals fd_backed({SIGUSR1}, backend::signalfd);
      EXPECT_FALSE(blocked_here(SIGUSR1)) << "a signalfd object does not block another's signal";
      for (int round = 0; round < 3; ++round) expect_both_get_it_at_once(relay_backed, fd_backed);
    }
    EXPECT_FALSE(blocked_here(SIGUSR1));
  });
}

TEST(TwoBackends, APlainActionAfterASignalfdObjectRunsAtOnce) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the signalfd backend");
  SIGRELAY_IN_CHILD([] {
    signals fd_backed({SIGUSR1}, backend::signalfd);
    std::atomic<bool> flag{false};
    const auto id = sigrelay::add_action(SIGUSR1, sigrelay::relay::set_flag(flag));
    kill(getpid(), SIGUSR1);
    for (int i = 0; i < 2000 && !flag.load(); ++i) usleep(1000);
    EXPECT_TRUE(flag.load()) << "the action waited for the signalfd object";
    EXPECT_EQ(1U, total(fd_backed.wait_for(2s), SIGUSR1));
    sigrelay::remove_action(id);
    // The signalfd object alone again: it still gets the signal (through the handler now).
    kill(getpid(), SIGUSR1);
    EXPECT_EQ(1U, total(fd_backed.wait_for(2s), SIGUSR1));
  });
}

// --- Item 11: a chained SA_SIGINFO handler gets a real ucontext on the signalfd path. ------------

std::atomic<int> g_previous_calls{0};
std::atomic<bool> g_previous_had_context{false};
std::atomic<unsigned long long> g_previous_pc{0};

// A profiler-like handler: reads the program counter out of the ucontext, without checking it.
void reads_the_pc(int, siginfo_t*, void* context) {
  const auto* uc = static_cast<const ucontext_t*>(context);
  g_previous_had_context.store(uc != nullptr);
#if defined(__x86_64__)
  g_previous_pc.store(static_cast<unsigned long long>(uc->uc_mcontext.gregs[REG_RIP]));
#elif defined(__aarch64__)
  g_previous_pc.store(static_cast<unsigned long long>(uc->uc_mcontext.pc));
#else
  g_previous_pc.store(static_cast<unsigned long long>(uc->uc_flags) + 1);  // any read of it
#endif
  g_previous_calls.fetch_add(1);
}

TEST(Chaining, SigInfoHandlerGetsARealUcontextOnTheSignalfdPath) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the signalfd backend");
  SIGRELAY_IN_CHILD([] {
    struct sigaction previous {};
    previous.sa_sigaction = reads_the_pc;
    previous.sa_flags = SA_SIGINFO;
    sigemptyset(&previous.sa_mask);
    ASSERT_EQ(0, sigaction(SIGUSR1, &previous, nullptr));
    signals sigs({SIGUSR1}, backend::signalfd);
    ASSERT_TRUE(blocked_here(SIGUSR1));
    kill(getpid(), SIGUSR1);  // queued: this (only) thread blocks it
    EXPECT_EQ(0, g_previous_calls.load()) << "not through the signalfd";
    EXPECT_EQ(1U, total(sigs.wait_for(2s), SIGUSR1));
    EXPECT_EQ(1, g_previous_calls.load());
    EXPECT_TRUE(g_previous_had_context.load());
    EXPECT_NE(0U, g_previous_pc.load());
  });
}

// --- Item 14: the signalfd backend leaves in the kernel what the realtime ring cannot hold. -------

// Whether the process has had a thread other than the main one (glibc's __libc_single_threaded).
bool process_had_threads() {
#if __has_include(<sys/single_threaded.h>)
  return __libc_single_threaded == 0;
#else
  return true;
#endif
}

TEST(RealtimeRing, SignalfdReadsNoMoreThanTheRingHolds) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the signalfd backend");
  SIGRELAY_IN_CHILD([] {
    constexpr int kCount = 10;
    const int rt = SIGRTMIN;
    signals sigs({rt}, signals_options{backend::signalfd, 4});
    ASSERT_TRUE(blocked_here(rt));
    for (int i = 0; i < kCount; ++i) ASSERT_EQ(0, sigqueue(getpid(), rt, sigval{.sival_int = i}));
    std::vector<int> values;
    const auto first = sigs.pending();
    // signals.hpp, "The realtime ring": the ring's room, less its reserve (capacity / 8, at least 1)
    // once the process has had a second thread (ThreadSanitizer's runtime starts one of its own).
    const bool had_threads = process_had_threads();
    EXPECT_EQ(had_threads ? 3U : 4U, first.size())
        << "a ring of 4 takes 4 at a time (3 once the process has had a second thread)";
    for (const auto& e : first) values.push_back(e.last.value.sival_int);
    EXPECT_TRUE(readable(sigs.native_handle())) << "the rest, still in the kernel, keep it readable";
    for (int round = 0; round < 20 && values.size() < static_cast<std::size_t>(kCount); ++round) {
      for (const auto& e : sigs.pending()) values.push_back(e.last.value.sival_int);
    }
    EXPECT_EQ(0U, sigs.dropped());
    ASSERT_EQ(static_cast<std::size_t>(kCount), values.size());
    for (int i = 0; i < kCount; ++i) EXPECT_EQ(i, values[i]) << "at " << i;
    EXPECT_FALSE(readable(sigs.native_handle()));
  });
}

// 100,000 sigqueue()s from a sender on the receiver's CPU: the kernel queues up to RLIMIT_SIGPENDING
// of them at once, far more than the ring's 1024. The sender waits whenever the kernel's queue is
// full, so the kernel queues every one; the object must then hand out every one.
TEST(RealtimeRing, SameCpuFloodThroughTheSignalfdLosesNothing) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the signalfd backend");
  SIGRELAY_IN_CHILD(
      [] {
        constexpr int kCount = 100000;  // about 1 s under the sanitizers too
        // A third of the hard limit (leaving the tests beside us their share) is still far past the ring.
        const rlim_t limit = sigrelay::test::cap_pending_signals_for_a_flood();
        if (limit != RLIM_INFINITY && limit <= 1024) {
          std::printf("RLIMIT_SIGPENDING is %llu: the kernel cannot queue more than the ring holds\n",
                      static_cast<unsigned long long>(limit));
          GTEST_SKIP() << "RLIMIT_SIGPENDING too low to flood past the ring";
        }
        const int cpu = sched_getcpu();
        ASSERT_GE(cpu, 0);
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(cpu, &one);
        ASSERT_EQ(0, sched_setaffinity(0, sizeof one, &one));  // the sender inherits it
        const int rt = SIGRTMIN + 2;
        signals sigs({rt}, backend::signalfd);
        const pid_t parent = getpid();
        const pid_t sender = fork_sender([parent, rt] {
          for (int i = 0; i < kCount; ++i) queue_or_exit(parent, rt, i);
        });
        std::vector<int> values;
        values.reserve(kCount);
        const auto deadline = std::chrono::steady_clock::now() + 100s;
        while (values.size() < static_cast<std::size_t>(kCount) && sigs.dropped() == 0 &&
               std::chrono::steady_clock::now() < deadline) {
          for (const auto& e : sigs.wait_for(100ms)) values.push_back(e.last.value.sival_int);
        }
        EXPECT_TRUE(exited_with(wait_with_deadline(sender, 60), 0));
        for (const auto& e : sigs.pending()) values.push_back(e.last.value.sival_int);
        std::printf("same-CPU flood: %d queued, %zu received, %llu dropped\n", kCount, values.size(),
                    static_cast<unsigned long long>(sigs.dropped()));
        EXPECT_EQ(0U, sigs.dropped());
        ASSERT_EQ(static_cast<std::size_t>(kCount), values.size());
        for (int i = 0; i < kCount; ++i) ASSERT_EQ(i, values[i]) << "out of order at " << i;
      },
      150);
}

// --- Item 15: realtime order is per signal number. ------------------------------------------------

// Two realtime numbers interleaved, values 0..N-1 across both: each number's values arrive in the
// order sent. (Under ThreadSanitizer the relay backend may lose some to TSan's own merging of
// deferred signals, see signals_test.cc: there the values that arrive must still be in order.)
TEST_P(Wakeup, InterleavedRealtimeNumbersEachKeepTheOrderSent) {
  SIGRELAY_IN_CHILD(
      [this] {
        constexpr int kCount = 4000;
        const int low = SIGRTMIN;
        const int high = SIGRTMIN + 1;
        signals sigs({low, high}, signals_options{kind(), 8192});
        std::unique_ptr<receiver_thread> receiver;
        if (kind() == backend::relay)
          receiver = std::make_unique<receiver_thread>(std::vector<int>{low, high});
        const pid_t parent = getpid();
        const pid_t sender = fork_sender([parent, low, high] {
          for (int i = 0; i < kCount; ++i) queue_or_exit(parent, i % 2 == 0 ? high : low, i);
        });
        std::vector<int> of_low, of_high;
        const bool may_merge = kUnderThreadSanitizer && kind() == backend::relay;
        const auto deadline = std::chrono::steady_clock::now() + (may_merge ? 10s : 60s);
        while (of_low.size() + of_high.size() < static_cast<std::size_t>(kCount) &&
               std::chrono::steady_clock::now() < deadline) {
          for (const auto& e : sigs.wait_for(100ms)) {
            EXPECT_EQ(1U, e.count);
            (e.signo == low ? of_low : of_high).push_back(e.last.value.sival_int);
          }
        }
        EXPECT_TRUE(exited_with(wait_with_deadline(sender, 60), 0));
        EXPECT_EQ(0U, sigs.dropped());
        for (std::size_t i = 1; i < of_low.size(); ++i)
          ASSERT_LT(of_low[i - 1], of_low[i]) << "low, at " << i;
        for (std::size_t i = 1; i < of_high.size(); ++i)
          ASSERT_LT(of_high[i - 1], of_high[i]) << "high, at " << i;
        for (const int v : of_low) ASSERT_EQ(1, v % 2);
        for (const int v : of_high) ASSERT_EQ(0, v % 2);
        if (may_merge) {
          ASSERT_FALSE(of_low.empty() && of_high.empty());
          return;
        }
        EXPECT_EQ(static_cast<std::size_t>(kCount / 2), of_low.size());
        EXPECT_EQ(static_cast<std::size_t>(kCount / 2), of_high.size());
      },
      90);
}

// Across numbers there is no send order to keep: the kernel hands out the lowest-numbered pending
// realtime signal first. Queued while blocked, RTMIN+1, RTMIN, RTMIN+1, RTMIN come out as RTMIN,
// RTMIN, RTMIN+1, RTMIN+1 (each number's own values in the order sent), as the header says.
TEST(RealtimeOrder, QueuedRealtimeSignalsComeLowestNumberFirst) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the signalfd backend");
  SIGRELAY_IN_CHILD([] {
    const int low = SIGRTMIN;
    const int high = SIGRTMIN + 1;
    signals sigs({low, high}, backend::signalfd);
    ASSERT_TRUE(blocked_here(low) && blocked_here(high));
    const int order[] = {high, low, high, low};
    for (int i = 0; i < 4; ++i) ASSERT_EQ(0, sigqueue(getpid(), order[i], sigval{.sival_int = i}));
    std::vector<std::pair<int, int>> got;
    for (const auto& e : sigs.wait_for(2s)) got.emplace_back(e.signo, e.last.value.sival_int);
    const std::vector<std::pair<int, int>> expected{{low, 1}, {low, 3}, {high, 0}, {high, 2}};
    EXPECT_EQ(expected, got);
  });
}

}  // namespace
