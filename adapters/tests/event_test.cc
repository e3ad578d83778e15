// SPDX-License-Identifier: MIT
// adapters/tests/event_test.cc — sigrelay::event::signal_watcher against libevent, with real signals.
#include "sigrelay/event.hpp"

#include <gtest/gtest.h>

#include <pthread.h>
#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "support/child.hpp"
#include "support/event_base.hpp"
#include "support/platform.hpp"
#include "support/signal_helpers.hpp"

namespace {

using namespace std::chrono_literals;
using sigrelay::origin_kind;
using sigrelay::signal_event;
using sigrelay::test::send_from_other_process;
using sigrelay::test::send_how;

using sigrelay::test::base;

// A repeating timer that calls `fn` until it returns false.
struct ticker {
  std::function<bool()> fn;
  ::event* ev;
  ticker(event_base* b, int every_ms, std::function<bool()> f) : fn(std::move(f)) {
    ev = event_new(
        b, -1, EV_PERSIST,
        [](evutil_socket_t, short, void* arg) {
          auto* self = static_cast<ticker*>(arg);
          if (!self->fn()) event_del(self->ev);
        },
        this);
    const timeval every{0, every_ms * 1000};
    event_add(ev, &every);
  }
  ~ticker() { event_free(ev); }
};

TEST(EventAdapter, ReceivesKillSigqueueAndTgkillWithOrigins) {
  SIGRELAY_IN_CHILD([] {
    const int rt = SIGRTMIN + 2;
    sigrelay::test::prepare_signals({SIGUSR1, SIGUSR2, rt});
    base b;
    sigrelay::event::signal_watcher w(b.get(), {SIGUSR1, SIGUSR2, rt});
    // `other` receives the signals, parked in sleep; the loop's thread blocks them. Under
    // ThreadSanitizer a handler runs at once only in a call it intercepts, and queued realtime
    // signals that meet instrumented code are merged before any handler sees them.
    sigset_t ours;
    sigemptyset(&ours);
    for (const int signo : {SIGUSR1, SIGUSR2, rt}) sigaddset(&ours, signo);
    pthread_sigmask(SIG_BLOCK, &ours, nullptr);
    std::atomic<pid_t> tid{0};
    std::atomic<bool> release{false};
    std::thread other([&] {
      pthread_sigmask(SIG_UNBLOCK, &ours, nullptr);
      tid = sigrelay::test::current_tid();
      while (!release) std::this_thread::sleep_for(20ms);  // see send_to_thread()
    });
    while (tid == 0) std::this_thread::sleep_for(1ms);
    const pid_t killer = send_from_other_process(SIGUSR1);
    const pid_t queuer = send_from_other_process(rt, send_how::queue, 7, 2);
    sigrelay::test::send_to_thread(tid, SIGUSR2);
    std::vector<signal_event> got;
    ASSERT_EQ(0, w.start([&](const signal_event& e) {
      got.push_back(e);
      if (got.size() == 4) w.stop();
    }));
    event_base_dispatch(b.get());  // returns once stopped: nothing else is pending
    release = true;
    other.join();
    ASSERT_EQ(4u, got.size());
    int rt_seen = 0;
    for (const signal_event& e : got) {
      if (e.signo == SIGUSR1) {
        EXPECT_EQ(killer, e.last.pid);
        EXPECT_EQ(origin_kind::user, e.last.kind);
        EXPECT_EQ(getuid(), e.last.uid);
        EXPECT_EQ(1u, e.count);
      } else if (e.signo == SIGUSR2) {
        EXPECT_EQ(origin_kind::thread, e.last.kind);
        EXPECT_EQ(getpid(), e.last.pid);
      } else {
        EXPECT_EQ(rt, e.signo);
        EXPECT_EQ(origin_kind::queue, e.last.kind);
        EXPECT_EQ(queuer, e.last.pid);
        EXPECT_EQ(7 + rt_seen, e.last.value.sival_int);
        ++rt_seen;
      }
    }
    EXPECT_EQ(2, rt_seen);
  });
}

TEST(EventAdapter, SignalfdBackend) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the signalfd backend");
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1});
    base b;
    sigrelay::event::signal_watcher w(b.get(), {SIGUSR1},
                                      sigrelay::signals_options{sigrelay::backend::signalfd});
    const pid_t sender = send_from_other_process(SIGUSR1);
    pid_t from = 0;
    w.start([&](const signal_event& e) {
      from = e.last.pid;
      w.stop();
    });
    event_base_dispatch(b.get());
    EXPECT_EQ(sender, from);
  });
}

TEST(EventAdapter, NothingIsLostWhileStoppedAndCountsAreExact) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1, SIGHUP});
    base b;
    sigrelay::event::signal_watcher w(b.get(), {SIGUSR1, SIGHUP});
    for (int i = 0; i < 4; ++i) kill(getpid(), SIGUSR1);  // delivered before kill() returns: exact
    std::vector<signal_event> got;
    w.start([&](const signal_event& e) {
      got.push_back(e);
      w.stop();
    });
    event_base_dispatch(b.get());
    ASSERT_EQ(1u, got.size());
    EXPECT_EQ(SIGUSR1, got[0].signo);
    EXPECT_EQ(4u, got[0].count);
    kill(getpid(), SIGHUP);
    kill(getpid(), SIGHUP);
    EXPECT_FALSE(w.is_active());
    w.start([&](const signal_event& e) {
      got.push_back(e);
      w.stop();
    });
    event_base_dispatch(b.get());
    ASSERT_EQ(2u, got.size());
    EXPECT_EQ(SIGHUP, got[1].signo);
    EXPECT_EQ(2u, got[1].count);
  });
}

TEST(EventAdapter, StopInsideABatchKeepsTheRestForTheNextStart) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1, SIGUSR2, SIGHUP});
    base b;
    sigrelay::event::signal_watcher w(b.get(), {SIGUSR1, SIGUSR2, SIGHUP});
    kill(getpid(), SIGUSR1);
    kill(getpid(), SIGUSR2);
    kill(getpid(), SIGHUP);
    std::vector<int> got;
    auto one_at_a_time = [&](const signal_event& e) {
      got.push_back(e.signo);
      w.stop();
    };
    for (std::size_t round = 1; round <= 3; ++round) {
      w.start(one_at_a_time);
      event_base_dispatch(b.get());
      EXPECT_EQ(round, got.size());
    }
    std::sort(got.begin(), got.end());
    EXPECT_EQ((std::vector<int>{SIGHUP, SIGUSR1, SIGUSR2}), got);
  });
}

TEST(EventAdapter, StopAndDestroyWhilePendingInTheLoop) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1, SIGUSR2});
    base b;
    auto w = std::make_unique<sigrelay::event::signal_watcher>(b.get(), std::initializer_list<int>{SIGUSR1});
    auto v = std::make_unique<sigrelay::event::signal_watcher>(b.get(), std::initializer_list<int>{SIGUSR2});
    int events = 0;
    w->start([&](const signal_event&) { ++events; });
    v->start([&](const signal_event&) { ++events; });
    ticker t(b.get(), 20, [&] {
      w->stop();  // stop while the loop waits on it
      v.reset();  // destroy while the loop waits on it
      return false;
    });
    event_base_dispatch(b.get());  // returns: nothing pending any more
    EXPECT_EQ(0, events);
    EXPECT_FALSE(w->is_active());
    EXPECT_TRUE(sigrelay::test::is_default_disposition(SIGUSR2));
    w.reset();
    EXPECT_TRUE(sigrelay::test::is_default_disposition(SIGUSR1));
  });
}

TEST(EventAdapter, CallbackMayDestroyTheWatcher) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1, SIGUSR2});
    base b;
    auto w = std::make_unique<sigrelay::event::signal_watcher>(b.get(),
                                                               std::initializer_list<int>{SIGUSR1, SIGUSR2});
    kill(getpid(), SIGUSR1);
    kill(getpid(), SIGUSR2);
    int calls = 0;
    w->start([&](const signal_event&) {
      ++calls;
      w.reset();
    });
    event_base_dispatch(b.get());
    EXPECT_EQ(1, calls);
    EXPECT_TRUE(sigrelay::test::is_default_disposition(SIGUSR1));
  });
}

TEST(EventAdapter, CallbackMayReplaceItself) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1});
    base b;
    sigrelay::event::signal_watcher w(b.get(), {SIGUSR1});
    std::vector<int> by;
    w.start([&](const signal_event&) {
      by.push_back(1);
      w.start([&](const signal_event&) {
        by.push_back(2);
        w.stop();
      });
      kill(getpid(), SIGUSR1);
    });
    kill(getpid(), SIGUSR1);
    event_base_dispatch(b.get());
    EXPECT_EQ((std::vector<int>{1, 2}), by);
  });
}

TEST(EventAdapter, TwoBasesOnTwoThreadsEachGetTheirs) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1, SIGUSR2, SIGHUP});
    struct per_thread {
      std::vector<int> got;
      bool on_own_thread = true;
      std::atomic<bool> done{false};
    };
    per_thread a, c;
    std::atomic<int> ready{0};
    auto serve = [&](per_thread& p, std::initializer_list<int> signos) {
      sigrelay::test::block_signals_in_this_thread();
      base b;
      sigrelay::event::signal_watcher w(b.get(), signos);
      const std::thread::id me = std::this_thread::get_id();
      w.start([&](const signal_event& e) {
        p.on_own_thread = p.on_own_thread && std::this_thread::get_id() == me;
        p.got.push_back(e.signo);
        if (p.got.size() == 2) w.stop();
      });
      ++ready;
      event_base_dispatch(b.get());
      p.done = true;
    };
    std::thread ta([&] { serve(a, {SIGUSR1, SIGHUP}); });
    std::thread tc([&] { serve(c, {SIGUSR2, SIGHUP}); });
    while (ready < 2) std::this_thread::sleep_for(1ms);
    send_from_other_process(SIGUSR1);
    send_from_other_process(SIGUSR2);
    std::this_thread::sleep_for(50ms);
    send_from_other_process(SIGHUP);
    // A loop that misses a signal would run for ever: fail, and let the watchdog end the child.
    ASSERT_TRUE(sigrelay::test::wait_until_true([&] { return a.done && c.done; }, 10s));
    ta.join();
    tc.join();
    EXPECT_EQ((std::vector<int>{SIGUSR1, SIGHUP}), a.got);
    EXPECT_EQ((std::vector<int>{SIGUSR2, SIGHUP}), c.got);
    EXPECT_TRUE(a.on_own_thread);
    EXPECT_TRUE(c.on_own_thread);
  });
}

TEST(EventAdapter, SignalStormDoesNotStarveTimers) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1});
    base b;
    sigrelay::event::signal_watcher w(b.get(), {SIGUSR1});
    std::uint64_t events = 0, deliveries = 0;
    w.start([&](const signal_event& e) {
      ++events;
      deliveries += e.count;
    });
    int ticks = 0;
    ticker t(b.get(), 5, [&] {
      if (++ticks < 20) return true;
      w.stop();
      return false;
    });
    sigrelay::test::block_signal_in_this_thread(SIGUSR1);  // the flood's handlers run on `receiver`
    sigrelay::test::receiver_thread receiver(SIGUSR1);
    const pid_t flood = sigrelay::test::start_flood(SIGUSR1);
    const auto start = std::chrono::steady_clock::now();
    event_base_dispatch(b.get());
    const auto took = std::chrono::steady_clock::now() - start;
    sigrelay::test::stop_flood(flood);
    EXPECT_EQ(20, ticks);
    EXPECT_LT(took, 3s) << "the timer was starved";
    EXPECT_GT(events, 0u);
    EXPECT_GE(deliveries, events);
  });
}

}  // namespace
