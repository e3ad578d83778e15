// SPDX-License-Identifier: MIT
// tests/signals_test.cc — `signals` (DESIGN §3) with real signals, for both backends, each test in
// its own child process.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "sigrelay/registry.hpp"
#include "sigrelay/relays.hpp"
#include "sigrelay/signals.hpp"
#include "sigrelay/spawn.hpp"
#include "support/child.hpp"
#include "support/dispositions.hpp"
#include "support/events.hpp"
#include "support/platform.hpp"

extern char** environ;

namespace {

using namespace std::chrono_literals;
using sigrelay::backend;
using sigrelay::origin_kind;
using sigrelay::signal_event;
using sigrelay::signals;
using sigrelay::signals_options;
using sigrelay::test::exited_with;
using sigrelay::test::query;
using sigrelay::test::readable;
using sigrelay::test::total;
using sigrelay::test::wait_with_deadline;

class Signals : public testing::TestWithParam<backend> {
 protected:
  void SetUp() override {
    if (GetParam() == backend::signalfd) SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the signalfd backend");
  }
  backend kind() const { return GetParam(); }
  signals_options options(std::size_t capacity = 1024) const { return signals_options{GetParam(), capacity}; }
};

std::string backend_name(const testing::TestParamInfo<backend>& info) {
  return info.param == backend::relay ? "relay" : "signalfd";
}

INSTANTIATE_TEST_SUITE_P(Backends, Signals, testing::Values(backend::relay, backend::signalfd), backend_name);

// Collects events until `pred(all)` holds or `timeout` passes.
template <typename Pred>
std::vector<signal_event> collect_until(signals& sigs, Pred pred,
                                        std::chrono::milliseconds timeout = 5000ms) {
  std::vector<signal_event> all;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred(all) && std::chrono::steady_clock::now() < deadline) {
    for (auto& e : sigs.wait_for(50ms)) all.push_back(e);
  }
  return all;
}

pid_t fork_sender(const std::function<void()>& body) {
  fflush(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    alarm(60);
    body();
    _exit(0);
  }
  return pid;
}

// ThreadSanitizer keeps one deferred signal per number: a realtime signal that meets a receiving
// thread outside an intercepted call waits there, and the next one of that number is merged into
// it, before sigrelay's handler ever runs. In that build only, the realtime flood checks what TSan
// lets through: order, and no duplicates. The dev and asan builds check every value.
#if defined(__SANITIZE_THREAD__)
constexpr bool kUnderThreadSanitizer = true;
#else
constexpr bool kUnderThreadSanitizer = false;
#endif

// A thread that does nothing but receive `signo` (every other thread blocks it), parked in usleep().
// Used by the realtime floods: ThreadSanitizer runs a handler at once only while the receiving thread
// is inside a call it intercepts, and otherwise keeps one pending siginfo per signal number, merging
// realtime signals that the kernel had queued. A parked receiver keeps the test about sigrelay.
class receiver_thread {
 public:
  explicit receiver_thread(int signo) {
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, signo);
    pthread_sigmask(SIG_BLOCK, &one, nullptr);  // here, and so in threads created from now on
    thread_ = std::thread([this, one] {
      pthread_sigmask(SIG_UNBLOCK, &one, nullptr);
      while (!stop_.load()) usleep(1000);
      pthread_sigmask(SIG_BLOCK, &one, nullptr);
    });
  }
  ~receiver_thread() {
    stop_.store(true);
    thread_.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST_P(Signals, KillFromAChildProcessCarriesItsPidAndUid) {
  SIGRELAY_IN_CHILD([this] {
    signals sigs({SIGUSR1}, kind());
    const pid_t parent = getpid();
    const pid_t sender = fork_sender([parent] { kill(parent, SIGUSR1); });
    ASSERT_TRUE(exited_with(wait_with_deadline(sender, 10), 0));
    const auto events = collect_until(sigs, [](auto& all) { return !all.empty(); });
    ASSERT_EQ(1U, events.size());
    EXPECT_EQ(SIGUSR1, events[0].signo);
    EXPECT_EQ(1U, events[0].count);
    EXPECT_EQ(sender, events[0].last.pid);
    EXPECT_EQ(getuid(), events[0].last.uid);
    EXPECT_EQ(origin_kind::user, events[0].last.kind);
    EXPECT_EQ(SI_USER, events[0].last.code);
    EXPECT_TRUE(events[0].last.trusted);
  });
}

// The origin an event carries is one sender's, whole. Two child processes flood SIGUSR1 for two
// seconds, one with sigqueue() and a value, the other with kill(): their siginfos differ in code,
// pid and value. A thread of ours takes the signal with the handler (this thread blocks it) while
// this thread drains as fast as it can, so the handler stores an origin while a drain reads it;
// every event's `last` must be exactly one of the two senders' (a torn read of the origin would mix
// them), and both must be seen.
TEST_P(Signals, LastOriginIsOneSendersWholeUnderAFlood) {
  SIGRELAY_IN_CHILD([this] {
    signals sigs({SIGUSR1}, options());
    receiver_thread receiver(SIGUSR1);
    const pid_t parent = getpid();
    constexpr int kValue = 0x5a5a;
    auto flood = [parent](bool queue) {
      return [parent, queue] {
        const auto end = std::chrono::steady_clock::now() + 2s;
        union sigval value {};
        value.sival_int = kValue;
        while (std::chrono::steady_clock::now() < end) {
          if (queue) {
            sigqueue(parent, SIGUSR1, value);
          } else {
            kill(parent, SIGUSR1);
          }
        }
      };
    };
    const pid_t queuer = fork_sender(flood(true));
    const pid_t killer = fork_sender(flood(false));
    std::vector<signal_event> events;
    std::uint64_t from_queuer = 0, from_killer = 0, mixed = 0;
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    bool queuer_done = false, killer_done = false, senders_done = false;
    while (std::chrono::steady_clock::now() < deadline) {
      sigs.pending(events);
      for (const signal_event& e : events) {
        const sigrelay::origin& o = e.last;
        if (o.kind == origin_kind::queue && o.code == SI_QUEUE && o.pid == queuer &&
            o.value.sival_int == kValue) {
          ++from_queuer;
        } else if (o.kind == origin_kind::user && o.code == SI_USER && o.pid == killer &&
                   o.value.sival_ptr == nullptr) {
          ++from_killer;
        } else {
          ++mixed;
          ADD_FAILURE() << "an origin of neither sender: " << o;
        }
      }
      if (senders_done) break;  // (one more drain after both ended)
      int status = 0;
      if (!queuer_done) queuer_done = waitpid(queuer, &status, WNOHANG) == queuer;
      if (!killer_done) killer_done = waitpid(killer, &status, WNOHANG) == killer;
      senders_done = queuer_done && killer_done;
    }
    EXPECT_EQ(mixed, 0U);
    EXPECT_GT(from_queuer, 0U);
    EXPECT_GT(from_killer, 0U);
    ASSERT_TRUE(senders_done) << "the senders did not end";
  });
}

TEST_P(Signals, SigqueueCarriesItsValueAndTgkillIsAThreadOrigin) {
  SIGRELAY_IN_CHILD([this] {
    signals sigs({SIGUSR2}, kind());
    ASSERT_EQ(0, sigqueue(getpid(), SIGUSR2, sigval{.sival_int = 77}));
    auto events = collect_until(sigs, [](auto& all) { return !all.empty(); });
    ASSERT_EQ(1U, events.size());
    EXPECT_EQ(origin_kind::queue, events[0].last.kind);
    EXPECT_EQ(77, events[0].last.value.sival_int);
    EXPECT_EQ(getpid(), events[0].last.pid);
    EXPECT_FALSE(events[0].last.trusted) << "SI_QUEUE pid/uid can be forged";

    ASSERT_EQ(0, tgkill(getpid(), gettid(), SIGUSR2));
    events = collect_until(sigs, [](auto& all) { return !all.empty(); });
    ASSERT_EQ(1U, events.size());
    EXPECT_EQ(origin_kind::thread, events[0].last.kind);
    EXPECT_EQ(getpid(), events[0].last.pid);
    EXPECT_TRUE(events[0].last.trusted);
  });
}

TEST_P(Signals, AlarmIsAKernelOrTimerOrigin) {
  SIGRELAY_IN_CHILD([this] {
    signals sigs({SIGALRM}, kind());
    alarm(1);
    const auto events = collect_until(
        sigs, [](auto& all) { return !all.empty(); }, 5000ms);
    ASSERT_EQ(1U, events.size());
    EXPECT_TRUE(events[0].last.kind == origin_kind::kernel || events[0].last.kind == origin_kind::timer)
        << sigrelay::to_string(events[0].last.kind);
    EXPECT_TRUE(events[0].last.trusted);
    EXPECT_EQ(0, events[0].last.pid);
  });
}

TEST_P(Signals, SigchldCarriesTheChildsPidAndExitStatus) {
  SIGRELAY_IN_CHILD([this] {
    signals sigs({SIGCHLD}, kind());
    const pid_t child = fork_sender([] { _exit(42); });
    const auto events = collect_until(sigs, [](auto& all) { return !all.empty(); });
    ASSERT_EQ(1U, events.size());
    EXPECT_EQ(origin_kind::child, events[0].last.kind);
    EXPECT_EQ(child, events[0].last.pid);
    EXPECT_EQ(CLD_EXITED, events[0].last.code);
    EXPECT_EQ(42, events[0].last.child_status);
    EXPECT_TRUE(exited_with(wait_with_deadline(child, 10), 42));
  });
}

TEST_P(Signals, SigpipeFromAWriteToAClosedPipeIsAKernelOrigin) {
  SIGRELAY_IN_CHILD([this] {
    signals sigs({SIGPIPE}, kind());
    int fds[2];
    ASSERT_EQ(0, pipe(fds));
    close(fds[0]);
    EXPECT_EQ(-1, write(fds[1], "x", 1));
    EXPECT_EQ(EPIPE, errno);
    const auto events = collect_until(sigs, [](auto& all) { return !all.empty(); });
    ASSERT_EQ(1U, events.size());
    EXPECT_EQ(origin_kind::kernel, events[0].last.kind);
    EXPECT_TRUE(events[0].last.trusted);
    EXPECT_EQ(getpid(), events[0].last.pid) << "the kernel names the writer itself as the sender";
    close(fds[1]);
  });
}

TEST_P(Signals, AForgedSigqueueinfoIsNotTrusted) {
  SIGRELAY_IN_CHILD([this] {
    signals sigs({SIGUSR1}, kind());
    const pid_t parent = getpid();
    const pid_t forger = fork_sender([parent] {
      siginfo_t info{};
      info.si_signo = SIGUSR1;
      info.si_code = SI_USER;  // pretending to be kill(): the kernel refuses
      info.si_pid = 1;
      if (syscall(SYS_rt_sigqueueinfo, parent, SIGUSR1, &info) == 0 || errno != EPERM) _exit(3);
      info.si_code = SI_QUEUE;  // the forgery the kernel lets through
      info.si_pid = 4242;
      info.si_uid = 0;
      if (syscall(SYS_rt_sigqueueinfo, parent, SIGUSR1, &info) != 0) _exit(4);
    });
    ASSERT_TRUE(exited_with(wait_with_deadline(forger, 10), 0));
    const auto events = collect_until(sigs, [](auto& all) { return !all.empty(); });
    ASSERT_EQ(1U, events.size());
    EXPECT_EQ(4242, events[0].last.pid) << "the forged pid is reported as sent...";
    EXPECT_FALSE(events[0].last.trusted) << "...and flagged as untrustworthy";
  });
}

// Storm: 200,000 sends from two processes and two threads to three instances at once. Consumers
// block in wait() with no timeout, so a lost wake-up would leave recorded deliveries unreported: each
// instance must end up reporting exactly as many deliveries as the handler ran, including those that
// came after the last send.
TEST_P(Signals, NoLostWakeUpUnderAStorm) {
  SIGRELAY_IN_CHILD(
      [this] {
        constexpr int kInstances = 3;
        // 4 senders x 50,000 = 200,000 sends; scripts/soak raises it (SIGRELAY_STORM_PER_SENDER).
        const char* per_sender = std::getenv("SIGRELAY_STORM_PER_SENDER");
        const int kPerSender = per_sender != nullptr ? std::atoi(per_sender) : 50000;
        std::atomic<std::uint64_t> handler_runs{0};
        sigrelay::add_action(SIGUSR1, sigrelay::relay::add_count(handler_runs));
        std::vector<std::unique_ptr<signals>> instances;
        for (int i = 0; i < kInstances; ++i) {
          instances.push_back(std::make_unique<signals>(std::initializer_list<int>{SIGUSR1}, kind()));
        }
        std::vector<std::atomic<std::uint64_t>> totals(kInstances);
        std::vector<std::atomic<pid_t>> consumer_tids(kInstances);
        std::vector<std::thread> consumers;
        for (int i = 0; i < kInstances; ++i) {
          consumers.emplace_back([&, i] {
            consumer_tids[i].store(gettid());
            // Three ways to consume, each blocking with no timeout, until closed: the iterator
            // (futex wake-ups), poll() on native_handle() and epoll on it (eventfd wake-ups).
            if (i == 0) {
              for (const signal_event& e : *instances[i]) totals[i].fetch_add(e.count);
              return;
            }
            const int fd = instances[i]->native_handle();
            const int ep = epoll_create1(EPOLL_CLOEXEC);
            struct epoll_event ev {};
            ev.events = EPOLLIN;
            epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
            while (!instances[i]->is_closed()) {
              if (i == 1) {
                struct pollfd p {
                  fd, POLLIN, 0
                };
                poll(&p, 1, -1);
              } else {
                struct epoll_event out {};
                epoll_wait(ep, &out, 1, -1);
              }
              totals[i].fetch_add(total(instances[i]->pending(), SIGUSR1));
            }
            close(ep);
          });
        }
        for (auto& t : consumer_tids) {
          while (t.load() == 0) usleep(100);
        }
        const pid_t self = getpid();
        std::vector<pid_t> procs;
        for (int p = 0; p < 2; ++p) {
          procs.push_back(fork_sender([self, kPerSender] {
            for (int n = 0; n < kPerSender; ++n) kill(self, SIGUSR1);
          }));
        }
        std::vector<std::thread> senders;
        for (int t = 0; t < 2; ++t) {
          senders.emplace_back([&, t] {
            for (int n = 0; n < kPerSender; ++n) {
              if (t == 0) {
                kill(self, SIGUSR1);
              } else {
                tgkill(self, consumer_tids[n % kInstances].load(), SIGUSR1);
              }
            }
          });
        }
        for (auto& s : senders) s.join();
        for (const pid_t p : procs) EXPECT_TRUE(exited_with(wait_with_deadline(p, 60), 0));
        const std::uint64_t before_last = handler_runs.load();
        kill(self, SIGUSR1);  // the last send: delivered, or coalesced with one still pending
        const auto settled = [&] {
          if (handler_runs.load() <= before_last) return false;
          for (auto& t : totals) {
            if (t.load() != handler_runs.load()) return false;
          }
          return true;
        };
        const auto deadline = std::chrono::steady_clock::now() + 20s;
        while (!settled() && std::chrono::steady_clock::now() < deadline) usleep(1000);
        EXPECT_GT(handler_runs.load(), before_last) << "the last send never reached a handler";
        for (int i = 0; i < kInstances; ++i) {
          EXPECT_EQ(handler_runs.load(), totals[i].load())
              << "instance " << i << " is asleep on unreported deliveries";
          instances[i]->get_handle().close();
        }
        for (auto& c : consumers) c.join();
        std::printf("storm: %d sent, %llu handler runs\n", 4 * kPerSender,
                    static_cast<unsigned long long>(handler_runs.load()));
      },
      120);
}

// Realtime signals are not coalesced: every sigqueue()d value arrives, in order.
TEST_P(Signals, RealtimeValuesArriveInOrder) {
  SIGRELAY_IN_CHILD(
      [this] {
        constexpr int kCount = 10000;
        signals sigs({SIGRTMIN + 1}, options(16384));
        const pid_t parent = getpid();
        const pid_t sender = fork_sender([parent] {
          for (int i = 0; i < kCount; ++i) {
            while (sigqueue(parent, SIGRTMIN + 1, sigval{.sival_int = i}) != 0) {
              if (errno != EAGAIN) _exit(3);
              usleep(100);  // the kernel's queue is full: wait for the receiver
            }
          }
        });
        std::vector<int> values;
        // Under ThreadSanitizer some never come (see kUnderThreadSanitizer): wait less for them.
        const auto deadline = std::chrono::steady_clock::now() + (kUnderThreadSanitizer ? 10s : 30s);
        while (values.size() < static_cast<std::size_t>(kCount) &&
               std::chrono::steady_clock::now() < deadline) {
          for (const auto& e : sigs.wait_for(100ms)) {
            EXPECT_EQ(1U, e.count);
            EXPECT_EQ(origin_kind::queue, e.last.kind);
            values.push_back(e.last.value.sival_int);
          }
        }
        EXPECT_TRUE(exited_with(wait_with_deadline(sender, 30), 0));
        EXPECT_EQ(0U, sigs.dropped());
        if (kUnderThreadSanitizer) {
          // TSan itself may merge queued deliveries before any handler runs (see above): what
          // reaches sigrelay must still be in order, with nothing twice.
          ASSERT_FALSE(values.empty());
          for (std::size_t i = 1; i < values.size(); ++i) ASSERT_LT(values[i - 1], values[i]) << "at " << i;
          return;
        }
        ASSERT_EQ(static_cast<std::size_t>(kCount), values.size());
        for (int i = 0; i < kCount; ++i) ASSERT_EQ(i, values[i]) << "out of order at " << i;
      },
      60);
}

TEST_P(Signals, SmallRingReceivedPlusDroppedEqualsSent) {
  SIGRELAY_IN_CHILD(
      [this] {
        constexpr int kCount = 10000;
        signals sigs({SIGRTMIN}, options(8));
        const pid_t parent = getpid();
        const pid_t sender = fork_sender([parent] {
          for (int i = 0; i < kCount; ++i) {
            while (sigqueue(parent, SIGRTMIN, sigval{.sival_int = i}) != 0) {
              if (errno != EAGAIN) _exit(3);
              usleep(100);
            }
          }
        });
        std::uint64_t received = 0;
        int last = -1;
        bool ordered = true;
        const auto deadline = std::chrono::steady_clock::now() + 30s;
        while (received + sigs.dropped() < static_cast<std::uint64_t>(kCount) &&
               std::chrono::steady_clock::now() < deadline) {
          for (const auto& e : sigs.wait_for(100ms)) {
            ++received;
            ordered = ordered && e.last.value.sival_int > last;
            last = e.last.value.sival_int;
          }
          usleep(200);  // a slow consumer, so that the ring overflows
        }
        EXPECT_TRUE(exited_with(wait_with_deadline(sender, 30), 0));
        received += sigs.pending().size();
        if (kUnderThreadSanitizer) {
          EXPECT_GE(static_cast<std::uint64_t>(kCount), received + sigs.dropped());  // TSan merges some
        } else {
          EXPECT_EQ(static_cast<std::uint64_t>(kCount), received + sigs.dropped());
        }
        if (kind() == backend::relay && (kUnderThreadSanitizer || sigrelay::test::posix_platform())) {
          // No holds under ThreadSanitizer or on the posix platform layer (see signals.hpp, "Realtime
          // floods"): a full ring drops, counted exactly.
          EXPECT_GT(sigs.dropped(), 0U) << "the ring of 8 was expected to overflow";
        } else if (kind() == backend::relay) {
          // A full ring holds: the rest stay queued in the kernel until the consumer drains.
          EXPECT_EQ(0U, sigs.dropped());
        } else {
          // The signalfd backend reads no more than the ring has room for: the rest wait in the
          // kernel's queue (the sender waits while it is full), so nothing is dropped at all.
          EXPECT_EQ(0U, sigs.dropped());
        }
        EXPECT_TRUE(ordered);
        std::printf("small ring: received %llu, dropped %llu\n", static_cast<unsigned long long>(received),
                    static_cast<unsigned long long>(sigs.dropped()));
      },
      60);
}

TEST_P(Signals, CloseFromAnotherThreadEndsABlockedWaitAndTheLoop) {
  SIGRELAY_IN_CHILD([this] {
    signals sigs({SIGHUP}, kind());
    auto handle = sigs.get_handle();
    EXPECT_FALSE(handle.is_closed());
    std::thread closer([handle]() mutable {
      usleep(100000);
      handle.close();
    });
    int iterations = 0;
    for (const signal_event& e : sigs) {
      (void)e;
      ++iterations;
    }
    closer.join();
    EXPECT_EQ(0, iterations);
    EXPECT_TRUE(sigs.is_closed());
    EXPECT_TRUE(sigs.wait().empty());
    EXPECT_TRUE(readable(sigs.native_handle())) << "a closed object stays readable for pollers";
  });
}

// The header's words on close(): it does not wait for a handler under way on another thread. A
// delivery held up in an action added before the object's is recorded after the close; the wait()
// that the close ended does not see it, and a pending() after the handler returned hands it out.
struct gate {
  std::atomic<bool> entered{false};
  std::atomic<bool> open{false};
  // Signal context: atomics only (a bounded spin: a test that goes wrong ends, it does not hang).
  static void hold_up(void* context, const siginfo_t&) noexcept {
    auto& g = *static_cast<gate*>(context);
    g.entered.store(true);
    for (long spins = 0; !g.open.load() && spins < 4'000'000'000L; ++spins) {
    }
  }
};

TEST_P(Signals, ADeliveryUnderWayAtCloseIsRecordedAfterItAndPendingHandsItOut) {
  SIGRELAY_IN_CHILD(
      [this] {
        sigset_t usr1;
        sigemptyset(&usr1);
        sigaddset(&usr1, SIGUSR1);
        pthread_sigmask(SIG_BLOCK, &usr1, nullptr);  // only the receiver below takes it
        gate g;
        const sigrelay::action_id first = sigrelay::add_action(SIGUSR1, {gate::hold_up, &g});
        signals sigs({SIGUSR1}, kind());
        std::vector<signal_event> seen_by_wait{signal_event{}};
        std::thread waiter([&] { seen_by_wait = sigs.wait(); });
        std::thread receiver([&] {
          pthread_sigmask(SIG_UNBLOCK, &usr1, nullptr);
          pthread_kill(pthread_self(), SIGUSR1);
          while (!g.open.load()) usleep(1000);  // the handler runs here at the latest
        });
        while (!g.entered.load()) usleep(1000);
        sigs.get_handle().close();
        waiter.join();
        EXPECT_TRUE(seen_by_wait.empty()) << "closed before the delivery was recorded";
        EXPECT_TRUE(sigs.pending().empty()) << "not recorded yet: the handler is still held up";
        g.open.store(true);
        receiver.join();
        const std::vector<signal_event> after = sigs.pending();
        ASSERT_EQ(1U, after.size()) << "recorded after the close, handed out by pending()";
        EXPECT_EQ(SIGUSR1, after[0].signo);
        EXPECT_EQ(1U, after[0].count);
        EXPECT_EQ(origin_kind::thread, after[0].last.kind);
        EXPECT_TRUE(sigrelay::remove_action(first));
      },
      60);
}

TEST_P(Signals, IteratorYieldsEventsThenEndsWhenClosed) {
  SIGRELAY_IN_CHILD([this] {
    signals sigs({SIGUSR1, SIGUSR2}, kind());
    kill(getpid(), SIGUSR1);
    kill(getpid(), SIGUSR2);
    std::vector<int> seen;
    for (const signal_event& e : sigs) {
      seen.push_back(e.signo);
      if (seen.size() == 2) sigs.get_handle().close();
    }
    EXPECT_EQ((std::vector<int>{SIGUSR1, SIGUSR2}), seen);
  });
}

TEST_P(Signals, NativeHandleWorksWithEpollAndPollAndDrains) {
  SIGRELAY_IN_CHILD([this] {
    signals sigs({SIGUSR1}, kind());
    const int fd = sigs.native_handle();
    EXPECT_FALSE(readable(fd));
    const int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev {};
    ev.events = EPOLLIN;
    ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev));
    struct epoll_event out {};
    EXPECT_EQ(0, epoll_wait(ep, &out, 1, 0));
    for (int i = 0; i < 3; ++i) kill(getpid(), SIGUSR1);
    EXPECT_EQ(1, epoll_wait(ep, &out, 1, 1000));
    EXPECT_TRUE(readable(fd, 1000));
    const auto events = sigs.pending();
    ASSERT_EQ(1U, events.size());
    EXPECT_GE(events[0].count, 1U);
    EXPECT_FALSE(readable(fd)) << "still readable after a drain";
    EXPECT_EQ(0, epoll_wait(ep, &out, 1, 0));
    EXPECT_TRUE(sigs.pending().empty());
    close(ep);
  });
}

TEST_P(Signals, AForkedChildsDeliveriesNeverWakeTheParent) {
  SIGRELAY_IN_CHILD([this] {
    signals sigs({SIGUSR1}, kind());
    const pid_t child = fork_sender([] {
      // A signal held only by inherited objects gets its old disposition back in the child (here
      // SIG_DFL, fatal); an action of the child's own keeps the trampoline, and so the inherited
      // object's handler side, running there.
      static std::atomic<std::uint64_t> seen{0};
      sigrelay::add_action(SIGUSR1, sigrelay::relay::add_count(seen));
      for (int i = 0; i < 10; ++i) kill(getpid(), SIGUSR1);  // the child's own signals
    });
    ASSERT_TRUE(exited_with(wait_with_deadline(child, 10), 0));
    EXPECT_FALSE(readable(sigs.native_handle(), 100)) << "the child's deliveries woke the parent";
    EXPECT_TRUE(sigs.pending().empty());
    kill(getpid(), SIGUSR1);
    EXPECT_EQ(1U, total(collect_until(sigs, [](auto& all) { return !all.empty(); }), SIGUSR1));
  });
}

TEST_P(Signals, WaitForTimesOut) {
  SIGRELAY_IN_CHILD([this] {
    signals sigs({SIGUSR1}, kind());
    const auto start = std::chrono::steady_clock::now();
    EXPECT_TRUE(sigs.wait_for(50ms).empty());
    EXPECT_GE(std::chrono::steady_clock::now() - start, 45ms);
    EXPECT_TRUE(sigs.wait_until(std::chrono::steady_clock::now() + 10ms).empty());
  });
}

TEST_P(Signals, AddAndRemoveAtRunTime) {
  SIGRELAY_IN_CHILD([this] {
    signals sigs({SIGUSR1}, kind());
    sigs.add(SIGUSR2);
    sigs.add(SIGUSR2);  // again: nothing changes
    kill(getpid(), SIGUSR2);
    auto events = collect_until(sigs, [](auto& all) { return !all.empty(); });
    ASSERT_EQ(1U, events.size());
    EXPECT_EQ(SIGUSR2, events[0].signo);
    sigs.remove(SIGUSR2);
    EXPECT_EQ(SIG_DFL, query(SIGUSR2).sa_handler) << "the last subscriber's removal restores the default";
    sigset_t mask;
    pthread_sigmask(SIG_BLOCK, nullptr, &mask);
    EXPECT_FALSE(sigismember(&mask, SIGUSR2)) << "a removed signal is no longer blocked";
    sigs.remove(SIGHUP);  // absent: nothing happens
    EXPECT_THROW(sigs.add(SIGKILL), std::system_error);
  });
}

TEST_P(Signals, TwoInstancesOfTheSameSignalEachGetEverySignal) {
  SIGRELAY_IN_CHILD([this] {
    signals a({SIGUSR1}, kind());
    signals b({SIGUSR1}, kind());
    std::uint64_t got_a = 0, got_b = 0;
    for (int i = 0; i < 5; ++i) {
      kill(getpid(), SIGUSR1);
      // Drain each after every send, so that no kernel-side coalescing hides a delivery.
      got_a += total(collect_until(a, [](auto& all) { return !all.empty(); }), SIGUSR1);
      got_b += total(collect_until(b, [](auto& all) { return !all.empty(); }), SIGUSR1);
    }
    EXPECT_EQ(5U, got_a);
    EXPECT_EQ(5U, got_b);
  });
}

TEST_P(Signals, DestroyingDuringAStormIsCleanAndRestoresTheDisposition) {
  SIGRELAY_IN_CHILD(
      [this] {
        std::atomic<bool> stop{false};
        std::atomic<bool> survivor_flag{false};
        const pid_t self = getpid();
        // A foreign action keeps the process alive while instances come and go.
        const auto keep = sigrelay::add_action(SIGUSR1, sigrelay::relay::set_flag(survivor_flag));
        std::thread flood([&] {
          while (!stop.load()) kill(self, SIGUSR1);
        });
        for (int round = 0; round < 200; ++round) {
          signals sigs({SIGUSR1}, kind());
          if (round % 2 == 0) sigs.pending();
        }
        stop.store(true);
        flood.join();
        sigrelay::remove_action(keep);
        EXPECT_EQ(SIG_DFL, query(SIGUSR1).sa_handler);
        sigset_t mask;
        pthread_sigmask(SIG_BLOCK, nullptr, &mask);
        EXPECT_FALSE(sigismember(&mask, SIGUSR1));
        // Last subscriber gone: a fresh instance-less process dies by SIGUSR1 again.
        const int status = sigrelay::test::run_in_child([] { raise(SIGUSR1); });
        EXPECT_TRUE(sigrelay::test::killed_by(status, SIGUSR1));
      },
      60);
}

TEST_P(Signals, RefusesBadSignalsWithoutChangingAnything) {
  SIGRELAY_IN_CHILD([this] {
    try {
      signals sigs({SIGUSR1, SIGSTOP}, kind());
      ADD_FAILURE() << "accepted SIGSTOP";
    } catch (const std::system_error& e) {
      EXPECT_EQ(std::errc::invalid_argument, e.code());
      EXPECT_NE(nullptr, std::strstr(e.what(), "SIGSTOP")) << e.what();
    }
    EXPECT_EQ(SIG_DFL, query(SIGUSR1).sa_handler);
    sigset_t mask;
    pthread_sigmask(SIG_BLOCK, nullptr, &mask);
    EXPECT_FALSE(sigismember(&mask, SIGUSR1));
  });
}

// --- The signalfd trap: children must not inherit the blocked mask. -------------------------------

// Runs `grep SigBlk /proc/self/status` by the given method and returns the mask it prints. Not
// through /bin/sh: Debian's dash unblocks every signal when it starts, which would hide the point.
unsigned long long child_blocked_mask(const std::string& how) {
  int out[2];
  if (pipe(out) != 0) return ~0ULL;
  pid_t pid = -1;
  if (how == "fork+exec") {
    fflush(nullptr);
    pid = fork();
    if (pid == 0) {
      dup2(out[1], 1);
      execl("/bin/grep", "grep", "SigBlk", "/proc/self/status", static_cast<char*>(nullptr));
      _exit(127);
    }
  } else {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    char* argv[] = {const_cast<char*>("grep"), const_cast<char*>("SigBlk"),
                    const_cast<char*>("/proc/self/status"), nullptr};
    if (how == "spawn_attr") {
      sigrelay::spawn_attr attr;
      posix_spawn(&pid, "/bin/grep", &actions, attr.get(), argv, environ);
    } else {
      posix_spawn(&pid, "/bin/grep", &actions, nullptr, argv, environ);
    }
    posix_spawn_file_actions_destroy(&actions);
  }
  close(out[1]);
  char buffer[256] = {};
  const ssize_t n = read(out[0], buffer, sizeof buffer - 1);
  close(out[0]);
  wait_with_deadline(pid, 10);
  if (n <= 0) return ~0ULL;
  return std::strtoull(std::strchr(buffer, ':') + 1, nullptr, 16);
}

unsigned long long bit(int signo) { return 1ULL << (signo - 1); }

TEST(SignalfdTrap, ForkExecAndSpawnAttrChildrenSeeAnEmptyMask) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the signalfd backend");
  SIGRELAY_IN_CHILD([] {
    signals sigs({SIGINT, SIGTERM, SIGUSR1}, backend::signalfd);
    sigset_t mask;
    pthread_sigmask(SIG_BLOCK, nullptr, &mask);
    ASSERT_TRUE(sigismember(&mask, SIGINT)) << "the signalfd backend blocks its signals here";
    const unsigned long long ours = bit(SIGINT) | bit(SIGTERM) | bit(SIGUSR1);
    EXPECT_EQ(0ULL, child_blocked_mask("fork+exec") & ours);
    EXPECT_EQ(0ULL, child_blocked_mask("spawn_attr") & ours);
  });
}

// Documented limitation: a plain posix_spawn() runs no fork handlers, so its child inherits the
// blocked signals. That is what spawn_attr is for. system() and popen() spawn /bin/sh the same way;
// whether the command then sees the signals blocked is up to the shell (Debian's dash unblocks all
// at start-up, bash does not), so the test records what this machine's shell does without relying on it.
TEST(SignalfdTrap, PlainPosixSpawnChildrenInheritTheBlockedSignals) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the signalfd backend");
  SIGRELAY_IN_CHILD([] {
    signals sigs({SIGINT, SIGUSR1}, backend::signalfd);
    const unsigned long long ours = bit(SIGINT) | bit(SIGUSR1);
    EXPECT_EQ(ours, child_blocked_mask("posix_spawn") & ours);
    const int status = system("exec grep -q 'SigBlk:.*[1-9a-f]' /proc/self/status");
    std::printf("system(): the command %s blocked signals (shell-dependent)\n",
                WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "saw" : "did not see");
  });
}

TEST(SignalfdTrap, TheRelayBackendBlocksNothing) {
  SIGRELAY_IN_CHILD([] {
    signals sigs({SIGINT, SIGUSR1}, backend::relay);
    EXPECT_EQ(0ULL, child_blocked_mask("posix_spawn") & (bit(SIGINT) | bit(SIGUSR1)));
  });
}

}  // namespace
