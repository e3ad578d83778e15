// SPDX-License-Identifier: MIT
// tests/flood_test.cc — realtime floods: 100,000 sigqueue() from another process on the same CPU.
//
// The sender (a forked child) and the consumer are pinned to one CPU, so that the consumer is starved
// while the sender runs: the kernel queues up to RLIMIT_SIGPENDING realtime signals and refuses the
// rest with EAGAIN (which the sender counts). With default options every backend must hand every
// queued signal to the application: received == the sender's successful sigqueue() calls, dropped()
// == 0, in the order sent. Two consumers: one that does not drain at all until the sender is done
// ("starved"), one that drains all along (it runs whenever the scheduler lets it). The same beside
// a second registry action (which must count every delivery exactly once) and beside a second
// `signals` object (which must get every one too): holds do not need the object to be alone.
//
// ThreadSanitizer defers a handler until the receiving thread enters a call it intercepts and merges
// deferred deliveries of one number, and sigrelay does not hold there (see signals.hpp, "Realtime
// floods"): under it, received + dropped <= sent, received > 0 and the order are what holds.
#include <gtest/gtest.h>

#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "sigrelay/dispatcher.hpp"
#include "sigrelay/registry.hpp"
#include "sigrelay/relays.hpp"
#include "sigrelay/signals.hpp"
#include "support/child.hpp"
#include "support/flood_limit.hpp"
#include "support/platform.hpp"
#include "support/process.hpp"

namespace {

using namespace std::chrono_literals;
using sigrelay::backend;
using sigrelay::signal_event;
using sigrelay::signals;
using sigrelay::test::exited_with;
using sigrelay::test::wait_with_deadline;

#if defined(__SANITIZE_THREAD__)
constexpr bool kUnderThreadSanitizer = true;
#else
constexpr bool kUnderThreadSanitizer = false;
#endif

constexpr int kSent = 100000;

// A sender process: kSent sigqueue() of `signo` to `target`, values 0, 1, ...; no retry on EAGAIN
// (the kernel's queue is full: the consumer is starved). Writes how many succeeded to `fd`.
pid_t fork_flooder(pid_t target, int signo, int fd) {
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    alarm(60);
    int ok = 0;
    for (int i = 0; i < kSent; ++i) {
      if (sigqueue(target, signo, sigval{.sival_int = i}) == 0) {
        ++ok;
      } else if (errno != EAGAIN) {
        _exit(3);
      }
    }
    if (write(fd, &ok, sizeof ok) != static_cast<ssize_t>(sizeof ok)) _exit(4);
    _exit(0);
  }
  return pid;
}

struct flood_result {
  int sent_ok = -1;  // successful sigqueue() calls
  std::uint64_t received = 0;
  std::uint64_t dropped = 0;
  bool ordered = true;      // values rising
  bool check_order = true;  // false where several threads receive (no order across them)
  bool unique = true;       // no value twice, none out of range
};

void expect_complete(const flood_result& r, const char* what) {
  std::printf("%s: sigqueue() succeeded %d of %d, received %llu, dropped %llu\n", what, r.sent_ok, kSent,
              static_cast<unsigned long long>(r.received), static_cast<unsigned long long>(r.dropped));
  ASSERT_GT(r.sent_ok, 0);
  EXPECT_TRUE(r.unique) << what;
  if (r.check_order) {
    EXPECT_TRUE(r.ordered) << what;
  }
  if (kUnderThreadSanitizer) {
    EXPECT_GT(r.received, 0U);
    EXPECT_LE(r.received + r.dropped, static_cast<std::uint64_t>(r.sent_ok));
    return;
  }
  if (sigrelay::test::posix_platform()) {
    // No holds on the posix platform layer (signals.hpp, "Realtime floods"): what found the ring
    // full is counted in dropped(), exactly.
    EXPECT_GT(r.received, 0U) << what;
    EXPECT_EQ(static_cast<std::uint64_t>(r.sent_ok), r.received + r.dropped) << what;
    return;
  }
  EXPECT_EQ(0U, r.dropped) << what;
  EXPECT_EQ(static_cast<std::uint64_t>(r.sent_ok), r.received) << what;
  EXPECT_EQ(static_cast<std::uint64_t>(r.sent_ok), r.received + r.dropped) << what;
}

// Counts an event of the flood: each value at most once, and (where one thread receives, or a
// signalfd is read) rising.
struct tally {
  std::uint64_t received = 0;
  int last = -1;
  bool ordered = true;
  bool unique = true;
  std::vector<bool> seen = std::vector<bool>(kSent, false);
  void add(const signal_event& e) {
    ++received;
    const int v = e.last.value.sival_int;
    ordered = ordered && v > last;
    last = v;
    if (v < 0 || v >= kSent || seen[static_cast<std::size_t>(v)]) {
      unique = false;
    } else {
      seen[static_cast<std::size_t>(v)] = true;
    }
  }
};

// What else runs on the flooded signal besides the `signals` object under test.
enum class beside {
  nothing,
  counting_action,  // a registry action (relay::add_count) added after the object
  second_object,    // a second `signals` object (relay backend), drained by the same loop
};

// The flood into a `signals` object of `kind`, default options. `starved`: no drain until the sender
// has finished. `others`: what the other action saw (the counting action's count, or the second
// object's result).
flood_result flood_signals(backend kind, bool starved, beside extra = beside::nothing,
                           flood_result* others = nullptr) {
  flood_result r;
  const int signo = SIGRTMIN + 1;
  signals sigs({signo}, kind);
  std::atomic<std::uint64_t> counted{0};
  sigrelay::action_id counter;
  if (extra == beside::counting_action)
    counter = sigrelay::add_action(signo, sigrelay::relay::add_count(counted));
  std::optional<signals> second;
  if (extra == beside::second_object) second.emplace(std::initializer_list<int>{signo}, backend::relay);
  tally t2;
  std::vector<signal_event> batch2;
  const auto drain_second = [&] {
    if (!second) return;
    second->pending(batch2);
    for (const signal_event& e : batch2) t2.add(e);
  };
  const auto second_done = [&](int ok) {
    return !second || t2.received + second->dropped() >= static_cast<std::uint64_t>(ok);
  };
  int fds[2];
  if (pipe(fds) != 0) return r;
  const pid_t sender = fork_flooder(getpid(), signo, fds[1]);
  close(fds[1]);
  tally t;
  std::vector<signal_event> batch;  // reused: pending(std::vector&)
  if (starved) {
    EXPECT_TRUE(exited_with(wait_with_deadline(sender, 60), 0));
  }
  int ok = -1;
  const auto deadline = std::chrono::steady_clock::now() + (kUnderThreadSanitizer ? 20s : 50s);
  bool sender_done = starved;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!sender_done && waitpid(sender, nullptr, WNOHANG) == sender) sender_done = true;
    if (ok < 0 && sender_done) {
      if (read(fds[0], &ok, sizeof ok) != static_cast<ssize_t>(sizeof ok)) ok = -2;
    }
    if (ok >= 0 && t.received + sigs.dropped() >= static_cast<std::uint64_t>(ok) && second_done(ok)) break;
    struct pollfd p[2] = {{sigs.native_handle(), POLLIN, 0},
                          {second ? second->native_handle() : -1, POLLIN, 0}};
    (void)poll(p, 2, 100);
    sigs.pending(batch);
    for (const signal_event& e : batch) t.add(e);
    drain_second();
    if (kUnderThreadSanitizer && ok >= 0) {
      // Merged deliveries never come: stop once nothing more arrives for a while.
      if (sigs.pending(batch) == 0) {
        std::this_thread::sleep_for(200ms);
        if (sigs.pending(batch) == 0) break;
      }
      for (const signal_event& e : batch) t.add(e);
      drain_second();
    }
  }
  if (!sender_done) {
    EXPECT_TRUE(exited_with(wait_with_deadline(sender, 60), 0));
  }
  if (ok < 0 && read(fds[0], &ok, sizeof ok) != static_cast<ssize_t>(sizeof ok)) ok = -2;
  close(fds[0]);
  // Anything late (nothing should be) still counts.
  sigs.pending(batch);
  for (const signal_event& e : batch) t.add(e);
  drain_second();
  r.sent_ok = ok;
  r.received = t.received;
  r.dropped = sigs.dropped();
  r.ordered = t.ordered;
  r.unique = t.unique;
  if (counter) {
    sigrelay::remove_action(counter);  // its grace period: no handler adds to `counted` any more
    if (others != nullptr) {
      others->sent_ok = ok;
      others->received = counted.load();
    }
  }
  if (second && others != nullptr) {
    others->sent_ok = ok;
    others->received = t2.received;
    others->dropped = second->dropped();
    others->ordered = t2.ordered;
    others->unique = t2.unique;
  }
  return r;
}

class Flood : public testing::TestWithParam<backend> {
 protected:
  void SetUp() override {
    if (GetParam() == backend::signalfd) SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the signalfd backend");
  }
};

std::string backend_name(const testing::TestParamInfo<backend>& info) {
  return info.param == backend::relay ? "relay" : "signalfd";
}

INSTANTIATE_TEST_SUITE_P(Backends, Flood, testing::Values(backend::relay, backend::signalfd), backend_name);

TEST_P(Flood, StarvedConsumerGetsEveryQueuedSignal) {
  SIGRELAY_IN_CHILD(
      [] {
        ASSERT_TRUE(sigrelay::test::pin_to_one_cpu());
        sigrelay::test::cap_pending_signals_for_a_flood();  // leave the tests beside us their share
        expect_complete(flood_signals(GetParam(), /*starved=*/true), "starved consumer");
      },
      120);
}

TEST_P(Flood, ConsumerOnTheSameCpuGetsEveryQueuedSignal) {
  SIGRELAY_IN_CHILD(
      [] {
        ASSERT_TRUE(sigrelay::test::pin_to_one_cpu());
        sigrelay::test::cap_pending_signals_for_a_flood();  // leave the tests beside us their share
        expect_complete(flood_signals(GetParam(), /*starved=*/false), "draining consumer");
      },
      120);
}

// Beside other actions: the whole delivery is held before any action runs when the ring is nearly
// full (src/handler/hold.hpp), so every queued signal is received, none dropped, and another
// registry action on the signal counts each delivery exactly once (under ThreadSanitizer, which
// merges deferred deliveries, at most once).
TEST_P(Flood, EveryQueuedSignalBesideACountingAction) {
  SIGRELAY_IN_CHILD(
      [] {
        ASSERT_TRUE(sigrelay::test::pin_to_one_cpu());
        sigrelay::test::cap_pending_signals_for_a_flood();  // leave the tests beside us their share
        flood_result counted;
        expect_complete(flood_signals(GetParam(), /*starved=*/false, beside::counting_action, &counted),
                        "beside a counting action");
        std::printf("counting action: %llu\n", static_cast<unsigned long long>(counted.received));
        if (kUnderThreadSanitizer) {
          EXPECT_GT(counted.received, 0U);
          EXPECT_LE(counted.received, static_cast<std::uint64_t>(counted.sent_ok));
        } else {
          EXPECT_EQ(static_cast<std::uint64_t>(counted.sent_ok), counted.received);
        }
      },
      120);
}

TEST_P(Flood, StarvedConsumerBesideACountingAction) {
  SIGRELAY_IN_CHILD(
      [] {
        ASSERT_TRUE(sigrelay::test::pin_to_one_cpu());
        sigrelay::test::cap_pending_signals_for_a_flood();  // leave the tests beside us their share
        flood_result counted;
        expect_complete(flood_signals(GetParam(), /*starved=*/true, beside::counting_action, &counted),
                        "starved, beside a counting action");
        if (kUnderThreadSanitizer) {
          EXPECT_LE(counted.received, static_cast<std::uint64_t>(counted.sent_ok));
        } else {
          EXPECT_EQ(static_cast<std::uint64_t>(counted.sent_ok), counted.received);
        }
      },
      120);
}

TEST_P(Flood, BothObjectsGetEveryQueuedSignal) {
  SIGRELAY_IN_CHILD(
      [] {
        ASSERT_TRUE(sigrelay::test::pin_to_one_cpu());
        sigrelay::test::cap_pending_signals_for_a_flood();  // leave the tests beside us their share
        flood_result second;
        expect_complete(flood_signals(GetParam(), /*starved=*/false, beside::second_object, &second),
                        "first object");
        expect_complete(second, "second object");
      },
      120);
}

// A poke is a standard signal sent with si_code SI_QUEUE. When the queued signals reach
// RLIMIT_SIGPENDING, as in any flood, the kernel still sends it but without its siginfo (SI_USER, pid
// 0, no cookie): the poked thread must still take it as a poke and lift its hold (src/handler/
// masks.hpp, "Pokes without their siginfo"). Before that, the hold stayed for good, every drain's
// poke lost the same way. The soft limit is set to 0 for the drain, which strips every poke of
// ours of its siginfo and queues nothing for other processes.
TEST(FloodHold, APokeStrippedOfItsSiginfoByAFullQueueStillLiftsTheHold) {
  SIGRELAY_SKIP_WITHOUT_HOLDS();
  SIGRELAY_IN_CHILD([] {
    const int rt = SIGRTMIN + 2;
    constexpr int kCapacity = 8;
    constexpr int kSentToHolder = kCapacity + 3;
    sigset_t used;  // default dispositions, unblocked: whatever this process inherited
    sigemptyset(&used);
    for (int s : {rt, SIGURG, SIGWINCH}) {
      std::signal(s, SIG_DFL);
      sigaddset(&used, s);
    }
    ASSERT_EQ(0, pthread_sigmask(SIG_UNBLOCK, &used, nullptr));
    signals sigs({rt}, sigrelay::signals_options{backend::relay, kCapacity});
    // Only the holder thread takes `rt` (process-directed, so that a hold keeps the order: the
    // re-queued siginfo waits in the thread's own queue, served before the process's); the main
    // thread consumes.
    sigset_t only_rt;
    sigemptyset(&only_rt);
    sigaddset(&only_rt, rt);
    std::atomic<pid_t> holder_tid{0};
    std::atomic<bool> done{false};
    std::thread holder([&] {
      pthread_sigmask(SIG_UNBLOCK, &only_rt, nullptr);
      holder_tid = static_cast<pid_t>(syscall(SYS_gettid));
      while (!done) std::this_thread::sleep_for(1ms);
    });
    ASSERT_EQ(0, pthread_sigmask(SIG_BLOCK, &only_rt, nullptr));
    while (holder_tid == 0) std::this_thread::sleep_for(1ms);
    for (int i = 0; i < kSentToHolder; ++i) {
      ASSERT_EQ(0, sigqueue(getpid(), rt, sigval{.sival_int = i}));  // only the holder takes it
    }
    // The ring takes kCapacity; the next delivery holds: `rt` blocked in the holder.
    const auto held = [&] { return sigrelay::test::thread_blocks(holder_tid.load(), rt); };
    const auto hold_deadline = std::chrono::steady_clock::now() + 10s;
    while (!held() && std::chrono::steady_clock::now() < hold_deadline) std::this_thread::sleep_for(1ms);
    ASSERT_TRUE(held()) << "the holder never held";

    struct rlimit saved {};
    ASSERT_EQ(0, getrlimit(RLIMIT_SIGPENDING, &saved));
    struct rlimit none = saved;
    none.rlim_cur = 0;
    ASSERT_EQ(0, setrlimit(RLIMIT_SIGPENDING, &none));
    std::vector<int> values;
    std::vector<signal_event> batch;
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (static_cast<int>(values.size()) < kSentToHolder && std::chrono::steady_clock::now() < deadline) {
      sigs.pending(batch);  // drains, then pokes the holder (its siginfo lost)
      for (const signal_event& e : batch) {
        for (std::uint64_t n = 0; n < e.count; ++n) values.push_back(e.last.value.sival_int);
      }
      std::this_thread::sleep_for(1ms);
    }
    ASSERT_EQ(0, setrlimit(RLIMIT_SIGPENDING, &saved));
    done = true;
    holder.join();
    EXPECT_EQ(0U, sigs.dropped());
    ASSERT_EQ(kSentToHolder, static_cast<int>(values.size())) << "the hold was never lifted";
    for (int i = 0; i < kSentToHolder; ++i) EXPECT_EQ(i, values[static_cast<std::size_t>(i)]);
  });
}

// The dispatcher drains on its own thread; the main thread (where the kernel prefers to deliver a
// process-directed signal) sits in waitpid(): its holds are lifted by the dispatcher's pokes.
TEST(FloodDispatcher, EveryQueuedSignalReachesTheCallback) {
  SIGRELAY_IN_CHILD(
      [] {
        ASSERT_TRUE(sigrelay::test::pin_to_one_cpu());
        sigrelay::test::cap_pending_signals_for_a_flood();  // leave the tests beside us their share
        const int signo = SIGRTMIN + 1;
        sigrelay::dispatcher d;
        std::mutex m;
        tally t;
        d.on(signo, [&](const signal_event& e) {
          const std::lock_guard<std::mutex> lock(m);
          t.add(e);
        });
        d.start();
        int fds[2];
        ASSERT_EQ(0, pipe(fds));
        const pid_t sender = fork_flooder(getpid(), signo, fds[1]);
        close(fds[1]);
        EXPECT_TRUE(exited_with(wait_with_deadline(sender, 60), 0));
        int ok = -1;
        ASSERT_EQ(static_cast<ssize_t>(sizeof ok), read(fds[0], &ok, sizeof ok));
        close(fds[0]);
        const auto deadline = std::chrono::steady_clock::now() + (kUnderThreadSanitizer ? 10s : 50s);
        std::uint64_t last_seen = 0;
        auto last_change = std::chrono::steady_clock::now();
        for (;;) {
          std::uint64_t received = 0;
          {
            const std::lock_guard<std::mutex> lock(m);
            received = t.received;
          }
          if (received + d.dropped() >= static_cast<std::uint64_t>(ok)) break;
          const auto now = std::chrono::steady_clock::now();
          if (now >= deadline) break;
          if (received != last_seen) {
            last_seen = received;
            last_change = now;
          } else if (kUnderThreadSanitizer && now - last_change > 2s) {
            break;  // merged deliveries never come
          }
          std::this_thread::sleep_for(1ms);  // an intercepted call: deferred handlers run here too
        }
        d.stop();
        d.join();
        flood_result r;
        r.sent_ok = ok;
        {
          const std::lock_guard<std::mutex> lock(m);
          r.received = t.received;
          r.unique = t.unique;
        }
        // Two threads receive (the main one and the dispatcher's): no order across them (see
        // signal_event in signals.hpp).
        r.check_order = false;
        r.dropped = d.dropped();
        expect_complete(r, "dispatcher");
      },
      120);
}

}  // namespace
