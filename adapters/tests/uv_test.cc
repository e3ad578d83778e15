// SPDX-License-Identifier: MIT
// adapters/tests/uv_test.cc — sigrelay::uv::signal_watcher against libuv, with real signals.
#include "sigrelay/uv.hpp"

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
#include "support/platform.hpp"
#include "support/signal_helpers.hpp"
#include "support/uv_loop.hpp"

namespace {

using namespace std::chrono_literals;
using sigrelay::origin_kind;
using sigrelay::signal_event;
using sigrelay::test::send_from_other_process;
using sigrelay::test::send_how;

using sigrelay::test::loop;

// A repeating timer that calls `fn` until it returns false.
struct ticker {
  uv_timer_t timer{};
  std::function<bool()> fn;
  ticker(uv_loop_t* l, std::uint64_t every_ms, std::function<bool()> f) : fn(std::move(f)) {
    uv_timer_init(l, &timer);
    timer.data = this;
    uv_timer_start(
        &timer,
        [](uv_timer_t* t) {
          auto* self = static_cast<ticker*>(t->data);
          if (!self->fn()) uv_timer_stop(t);
        },
        every_ms, every_ms);
  }
  ~ticker() { uv_close(reinterpret_cast<uv_handle_t*>(&timer), nullptr); }
};

TEST(UvAdapter, ReceivesKillSigqueueAndTgkillWithOrigins) {
  SIGRELAY_IN_CHILD([] {
    const int rt = SIGRTMIN + 2;
    sigrelay::test::prepare_signals({SIGUSR1, SIGUSR2, rt});
    loop l;
    sigrelay::uv::signal_watcher w(l.get(), {SIGUSR1, SIGUSR2, rt});
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
    uv_run(l.get(), UV_RUN_DEFAULT);  // returns once stopped: nothing else is active
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

// As uv_unref() on a uv_signal_t (Node's process.on('SIGINT') does it): an unreferenced started
// watcher keeps no loop alive, yet hands out events while another handle keeps the loop running.
TEST(UvAdapter, AnUnreferencedWatcherKeepsNoLoopAliveButStillHandsOut) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1});
    loop l;
    std::vector<int> got;
    {
      sigrelay::uv::signal_watcher w(l.get(), {SIGUSR1});
      EXPECT_TRUE(w.has_ref());
      ASSERT_EQ(0, w.start([&](const signal_event& e) { got.push_back(e.signo); }));
      EXPECT_NE(0, uv_loop_alive(l.get()));
      w.unref();
      EXPECT_FALSE(w.has_ref());
      EXPECT_EQ(0, uv_loop_alive(l.get())) << "an unreferenced watcher kept the loop alive";
      EXPECT_EQ(0, uv_run(l.get(), UV_RUN_DEFAULT));  // returns at once: nothing referenced
      w.stop();
      ASSERT_EQ(0, w.start([&](const signal_event& e) { got.push_back(e.signo); }));
      EXPECT_FALSE(w.has_ref()) << "stop() and start() must keep the setting";
      EXPECT_EQ(0, uv_loop_alive(l.get()));

      // A referenced timer keeps the loop running until the unreferenced watcher got the signal.
      send_from_other_process(SIGUSR1);
      int ticks = 0;
      ticker t(l.get(), 5, [&] { return got.empty() && ++ticks < 1000; });
      uv_run(l.get(), UV_RUN_DEFAULT);
      EXPECT_EQ(got, std::vector<int>{SIGUSR1});

      w.ref();
      EXPECT_TRUE(w.has_ref());
      EXPECT_NE(0, uv_loop_alive(l.get()));
      w.close();
      EXPECT_FALSE(w.has_ref());
      w.unref();  // no effect once closed
      w.ref();
    }
  });
}

TEST(UvAdapter, SignalfdBackend) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the signalfd backend");
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1});
    loop l;
    sigrelay::uv::signal_watcher w(l.get(), {SIGUSR1},
                                   sigrelay::signals_options{sigrelay::backend::signalfd});
    const pid_t sender = send_from_other_process(SIGUSR1);
    pid_t from = 0;
    w.start([&](const signal_event& e) {
      from = e.last.pid;
      w.stop();
    });
    uv_run(l.get(), UV_RUN_DEFAULT);
    EXPECT_EQ(sender, from);
  });
}

TEST(UvAdapter, NothingIsLostWhileStoppedAndCountsAreExact) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1, SIGHUP});
    loop l;
    sigrelay::uv::signal_watcher w(l.get(), {SIGUSR1, SIGHUP});
    // Not started yet: recorded, with exact counts (a kill() of itself is delivered before it returns).
    for (int i = 0; i < 4; ++i) kill(getpid(), SIGUSR1);
    std::vector<signal_event> got;
    w.start([&](const signal_event& e) {
      got.push_back(e);
      w.stop();
    });
    uv_run(l.get(), UV_RUN_DEFAULT);
    ASSERT_EQ(1u, got.size());
    EXPECT_EQ(SIGUSR1, got[0].signo);
    EXPECT_EQ(4u, got[0].count);
    // Stopped: more arrive, then start again.
    kill(getpid(), SIGHUP);
    kill(getpid(), SIGHUP);
    EXPECT_FALSE(w.is_active());
    w.start([&](const signal_event& e) {
      got.push_back(e);
      w.stop();
    });
    uv_run(l.get(), UV_RUN_DEFAULT);
    ASSERT_EQ(2u, got.size());
    EXPECT_EQ(SIGHUP, got[1].signo);
    EXPECT_EQ(2u, got[1].count);
  });
}

TEST(UvAdapter, StopInsideABatchKeepsTheRestForTheNextStart) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1, SIGUSR2, SIGHUP});
    loop l;
    sigrelay::uv::signal_watcher w(l.get(), {SIGUSR1, SIGUSR2, SIGHUP});
    kill(getpid(), SIGUSR1);
    kill(getpid(), SIGUSR2);
    kill(getpid(), SIGHUP);
    std::vector<int> got;
    auto one_at_a_time = [&](const signal_event& e) {
      got.push_back(e.signo);
      w.stop();  // the other two are already drained: they must wait for the next start()
    };
    for (std::size_t round = 1; round <= 3; ++round) {
      w.start(one_at_a_time);
      uv_run(l.get(), UV_RUN_DEFAULT);
      EXPECT_EQ(round, got.size());
    }
    std::sort(got.begin(), got.end());
    EXPECT_EQ((std::vector<int>{SIGHUP, SIGUSR1, SIGUSR2}), got);
  });
}

TEST(UvAdapter, CloseWhileStartedRunsOnClosedAndRestoresTheSignal) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1});
    loop l;
    sigrelay::uv::signal_watcher w(l.get(), {SIGUSR1});
    int events = 0;
    bool closed = false;
    w.start([&](const signal_event&) { ++events; });
    ticker t(l.get(), 20, [&] {
      w.close([&] { closed = true; });
      return false;
    });
    uv_run(l.get(), UV_RUN_ONCE);  // blocks in the poll with the watcher pending
    uv_run(l.get(), UV_RUN_DEFAULT);
    EXPECT_TRUE(closed);
    EXPECT_TRUE(w.is_closing());
    EXPECT_EQ(0, events);
    EXPECT_TRUE(sigrelay::test::is_default_disposition(SIGUSR1));
    EXPECT_EQ(UV_EINVAL, w.start([](const signal_event&) {}));
  });
}

TEST(UvAdapter, CallbackMayDestroyTheWatcher) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1, SIGUSR2});
    loop l;
    auto w =
        std::make_unique<sigrelay::uv::signal_watcher>(l.get(), std::initializer_list<int>{SIGUSR1, SIGUSR2});
    kill(getpid(), SIGUSR1);
    kill(getpid(), SIGUSR2);
    int calls = 0;
    w->start([&](const signal_event&) {
      ++calls;
      w.reset();
    });
    uv_run(l.get(), UV_RUN_DEFAULT);
    EXPECT_EQ(1, calls);
    EXPECT_TRUE(sigrelay::test::is_default_disposition(SIGUSR1));
  });
}

TEST(UvAdapter, CallbackMayReplaceItself) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1});
    loop l;
    sigrelay::uv::signal_watcher w(l.get(), {SIGUSR1});
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
    uv_run(l.get(), UV_RUN_DEFAULT);
    EXPECT_EQ((std::vector<int>{1, 2}), by);
  });
}

TEST(UvAdapter, TwoLoopsOnTwoThreadsEachGetTheirs) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1, SIGUSR2, SIGHUP});
    struct per_thread {
      std::vector<int> got;
      bool on_own_thread = true;
      std::atomic<bool> done{false};
    };
    per_thread a, b;
    std::atomic<int> ready{0};
    auto serve = [&](per_thread& p, std::initializer_list<int> signos) {
      sigrelay::test::block_signals_in_this_thread();
      loop l;
      sigrelay::uv::signal_watcher w(l.get(), signos);
      const std::thread::id me = std::this_thread::get_id();
      w.start([&](const signal_event& e) {
        p.on_own_thread = p.on_own_thread && std::this_thread::get_id() == me;
        p.got.push_back(e.signo);
        if (p.got.size() == 2) w.close();
      });
      ++ready;
      uv_run(l.get(), UV_RUN_DEFAULT);
      p.done = true;
    };
    std::thread ta([&] { serve(a, {SIGUSR1, SIGHUP}); });
    std::thread tb([&] { serve(b, {SIGUSR2, SIGHUP}); });
    while (ready < 2) std::this_thread::sleep_for(1ms);
    send_from_other_process(SIGUSR1);
    send_from_other_process(SIGUSR2);
    std::this_thread::sleep_for(50ms);
    send_from_other_process(SIGHUP);
    // A loop that misses a signal would run for ever: fail, and let the watchdog end the child.
    ASSERT_TRUE(sigrelay::test::wait_until_true([&] { return a.done && b.done; }, 10s));
    ta.join();
    tb.join();
    EXPECT_EQ((std::vector<int>{SIGUSR1, SIGHUP}), a.got);
    EXPECT_EQ((std::vector<int>{SIGUSR2, SIGHUP}), b.got);
    EXPECT_TRUE(a.on_own_thread);
    EXPECT_TRUE(b.on_own_thread);
  });
}

TEST(UvAdapter, SignalStormDoesNotStarveTimers) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1});
    loop l;
    sigrelay::uv::signal_watcher w(l.get(), {SIGUSR1});
    std::uint64_t events = 0, deliveries = 0;
    w.start([&](const signal_event& e) {
      ++events;
      deliveries += e.count;
    });
    int ticks = 0;
    ticker t(l.get(), 5, [&] {
      if (++ticks < 20) return true;
      w.stop();
      return false;
    });
    sigrelay::test::block_signal_in_this_thread(SIGUSR1);  // the flood's handlers run on `receiver`
    sigrelay::test::receiver_thread receiver(SIGUSR1);
    const pid_t flood = sigrelay::test::start_flood(SIGUSR1);
    const auto start = std::chrono::steady_clock::now();
    uv_run(l.get(), UV_RUN_DEFAULT);
    const auto took = std::chrono::steady_clock::now() - start;
    sigrelay::test::stop_flood(flood);
    EXPECT_EQ(20, ticks);
    EXPECT_LT(took, 3s) << "the timer was starved";
    EXPECT_GT(events, 0u);
    EXPECT_GE(deliveries, events);
  });
}

}  // namespace
