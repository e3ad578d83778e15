// SPDX-License-Identifier: MIT
// adapters/tests/contract_fork_adapters_test.cc — hostile forks of the uv and libevent watchers
// ("Fork" in <sigrelay/uv.hpp> and <sigrelay/event.hpp>): a fork() made from inside the watcher's
// callback, in the middle of a drained batch ("Events the parent had recorded or drained but not
// handed out are dropped in the child (the parent hands them out)"); a child that never calls
// uv_loop_fork() (its signals "do not kill it"; close() gives them back their disposition); and
// start_oneshot() in a child. And the Asio adapter ("Completion", "Fork" in <sigrelay/asio.hpp>),
// side by side with boost::asio::signal_set where the drop-in promises Asio's behaviour: one
// delivery completes every pending wait with several threads running the io_context, a wait
// started from such a completion waits for the next delivery, destroying the set while those
// completions are queued, and notify_fork() with waits pending on both set types. Real signals;
// each body runs in a forked child under a watchdog.
#include <gtest/gtest.h>

#include <event2/event.h>
#include <sys/wait.h>
#include <unistd.h>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "sigrelay/event.hpp"
#include "sigrelay/uv.hpp"
#include "support/child.hpp"
#include "support/event_base.hpp"
#include "support/signal_helpers.hpp"
#include "support/uv_loop.hpp"

namespace {

using sigrelay::signal_event;
using sigrelay::test::exited_with;
using sigrelay::test::wait_with_deadline;

// Two deliveries recorded before the loop runs (SIGUSR1, SIGUSR2: one drained batch). The callback
// forks on the first; the child goes on in the callback's loop (after uv_loop_fork()/event_reinit())
// and signals itself SIGUSR2. The child's callback must get only that one (from the child), never the
// parent's SIGUSR2 left in the batch; the parent's gets both of its own.
struct fork_in_callback {
  pid_t forked = -1;
  std::vector<signal_event> parent_got;
  std::vector<signal_event> child_got;
  // Returns true when the watcher is to be closed.
  template <class Reinit>
  bool on_event(const signal_event& e, Reinit reinit) {
    if (forked < 0) {
      std::fflush(nullptr);
      forked = fork();
      if (forked == 0) {
        alarm(10);
        if (!reinit()) _exit(30);
        kill(getpid(), SIGUSR2);
      } else {
        parent_got.push_back(e);
      }
      return false;
    }
    if (forked == 0) {
      child_got.push_back(e);
      return e.signo == SIGUSR2 && e.last.pid == getpid();
    }
    parent_got.push_back(e);
    return parent_got.size() == 2;
  }
  // In the child, after its loop returned: the exit code.
  int child_code() const {
    if (child_got.size() != 1) return 31;  // (2: the parent's SIGUSR2 handed out here too)
    if (child_got[0].signo != SIGUSR2 || child_got[0].last.pid != getpid() || child_got[0].count != 1)
      return 32;
    return 0;
  }
  void check_parent() const {
    ASSERT_GT(forked, 0);
    EXPECT_TRUE(exited_with(wait_with_deadline(forked, 20), 0))
        << "31: the child's callback got the parent's undelivered event too (or not its own), 30: reinit "
           "failed";
    ASSERT_EQ(2U, parent_got.size());
    EXPECT_EQ(SIGUSR1, parent_got[0].signo);
    EXPECT_EQ(SIGUSR2, parent_got[1].signo);
    EXPECT_EQ(getpid(), parent_got[1].last.pid);
    EXPECT_EQ(1U, parent_got[1].count);
  }
};

TEST(ForkAdaptersContract, UvForkInsideTheCallbackLeavesTheRestOfTheBatchToTheParent) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1, SIGUSR2});
    sigrelay::test::loop l;
    sigrelay::uv::signal_watcher w(l.get(), {SIGUSR1, SIGUSR2});
    fork_in_callback f;
    ASSERT_EQ(0, kill(getpid(), SIGUSR1));
    ASSERT_EQ(0, kill(getpid(), SIGUSR2));
    ASSERT_EQ(0, w.start([&](const signal_event& e) {
      if (f.on_event(e, [&] { return uv_loop_fork(l.get()) == 0; })) w.close();
    }));
    uv_run(l.get(), UV_RUN_DEFAULT);
    if (f.forked == 0) {
      uv_run(l.get(), UV_RUN_NOWAIT);
      _exit(f.child_code());
    }
    f.check_parent();
  });
}

TEST(ForkAdaptersContract, EventForkInsideTheCallbackLeavesTheRestOfTheBatchToTheParent) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1, SIGUSR2});
    sigrelay::test::base b;
    fork_in_callback f;
    {
      sigrelay::event::signal_watcher w(b.get(), {SIGUSR1, SIGUSR2});
      ASSERT_EQ(0, kill(getpid(), SIGUSR1));
      ASSERT_EQ(0, kill(getpid(), SIGUSR2));
      ASSERT_EQ(0, w.start([&](const signal_event& e) {
        if (f.on_event(e, [&] { return event_reinit(b.get()) == 0; })) w.stop();
      }));
      event_base_dispatch(b.get());
    }
    if (f.forked == 0) _exit(f.child_code());
    f.check_parent();
  });
}

// A child that never calls uv_loop_fork() nor runs its loop: its signals are still subscribed, so
// they do not kill it ("they do not kill it"); close() there gives them back their disposition
// (SIG_DFL: SIGTERM then kills it), and the parent's watcher goes on.
TEST(ForkAdaptersContract, UvAChildWithoutLoopForkSurvivesItsSignalsUntilClose) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGTERM});
    sigrelay::test::loop l;
    sigrelay::uv::signal_watcher w(l.get(), {SIGTERM});
    std::vector<signal_event> got;
    ASSERT_EQ(0, w.start([&](const signal_event& e) {
      got.push_back(e);
      w.close();
    }));
    std::fflush(nullptr);
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      alarm(10);
      if (kill(getpid(), SIGTERM) != 0) _exit(10);  // recorded by the adopted copy: survives
      struct sigaction now {};
      sigaction(SIGTERM, nullptr, &now);
      if (now.sa_handler == SIG_DFL) _exit(11);
      w.close();
      sigaction(SIGTERM, nullptr, &now);
      if (now.sa_handler != SIG_DFL) _exit(12);
      kill(getpid(), SIGTERM);  // dies by it now
      _exit(13);
    }
    const int status = wait_with_deadline(child, 20);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM)
        << "status " << status << " (exit 11/12: disposition wrong, 13: SIGTERM after close() did not kill)";
    ASSERT_EQ(0, kill(getpid(), SIGTERM));
    uv_run(l.get(), UV_RUN_DEFAULT);
    ASSERT_EQ(1U, got.size());
    EXPECT_EQ(getpid(), got[0].last.pid);
    EXPECT_EQ(1U, got[0].count) << "the child's SIGTERM reached the parent";
  });
}

// start_oneshot() in a child after uv_loop_fork(): one event to the callback, the watcher stopped
// before it runs; the next delivery is recorded and handed out after start().
TEST(ForkAdaptersContract, UvStartOneshotInAChild) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1});
    sigrelay::test::loop l;
    sigrelay::uv::signal_watcher w(l.get(), {SIGUSR1});
    std::fflush(nullptr);
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      alarm(10);
      if (uv_loop_fork(l.get()) != 0) _exit(10);
      int calls = 0;
      bool active_in_cb = true;
      if (w.start_oneshot([&](const signal_event& e) {
            ++calls;
            active_in_cb = w.is_active();
            if (e.signo != SIGUSR1 || e.last.pid != getpid()) _exit(11);
            kill(getpid(), SIGUSR1);  // recorded, handed out after the next start()
          }) != 0)
        _exit(12);
      kill(getpid(), SIGUSR1);
      uv_run(l.get(), UV_RUN_DEFAULT);  // returns: the oneshot stopped the watcher
      if (calls != 1 || active_in_cb) _exit(13);
      if (w.start([&](const signal_event& e) {
            ++calls;
            if (e.signo != SIGUSR1 || e.count != 1) _exit(14);
            w.close();
          }) != 0)
        _exit(15);
      uv_run(l.get(), UV_RUN_DEFAULT);
      _exit(calls == 2 ? 0 : 16);
    }
    EXPECT_TRUE(exited_with(wait_with_deadline(child, 20), 0));
    w.close();
  });
}

// stop(), start(), unref() and ref() in a child after uv_loop_fork() (uv.hpp, "Fork" and the
// members' comments): an unreferenced started watcher does not keep uv_run() from returning; a
// delivery while stopped is recorded and handed out after start(), once, from the child.
TEST(ForkAdaptersContract, UvStopStartAndUnrefInAChild) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1});
    sigrelay::test::loop l;
    sigrelay::uv::signal_watcher w(l.get(), {SIGUSR1});
    std::vector<signal_event> got;
    ASSERT_EQ(0, w.start([&](const signal_event& e) {
      got.push_back(e);
      uv_stop(l.get());
    }));
    std::fflush(nullptr);
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      alarm(10);
      if (uv_loop_fork(l.get()) != 0) _exit(10);
      w.unref();
      if (w.has_ref()) _exit(11);
      uv_run(l.get(), UV_RUN_DEFAULT);  // returns at once: nothing referenced is active
      if (!got.empty()) _exit(12);
      w.ref();
      if (w.stop() != 0 || w.is_active()) _exit(13);
      kill(getpid(), SIGUSR1);
      uv_run(l.get(), UV_RUN_NOWAIT);
      if (!got.empty()) _exit(14);  // stopped: recorded, not handed out
      if (w.start([&](const signal_event& e) {
            got.push_back(e);
            w.close();
          }) != 0)
        _exit(15);
      uv_run(l.get(), UV_RUN_DEFAULT);
      if (got.size() != 1 || got[0].count != 1 || got[0].last.pid != getpid()) _exit(16);
      _exit(0);
    }
    EXPECT_TRUE(exited_with(wait_with_deadline(child, 20), 0));
    ASSERT_EQ(0, kill(getpid(), SIGUSR1));
    uv_run(l.get(), UV_RUN_DEFAULT);
    ASSERT_EQ(1U, got.size());
    EXPECT_EQ(1U, got[0].count) << "the child's signal reached the parent";
    w.close();
  });
}

}  // namespace

#if SIGRELAY_TEST_ASIO
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>

#include "sigrelay/asio.hpp"
#include "support/asio_sides.hpp"

namespace {

namespace net = ::boost::asio;
using namespace std::chrono_literals;
using error_code = ::boost::system::error_code;

using sigrelay::test::asio_sides::settle;
using sigrelay::test::asio_sides::side_names;
using sigrelay::test::asio_sides::sides;

template <typename T>
class ForkAdaptersAsioSideBySide : public ::testing::Test {};
TYPED_TEST_SUITE(ForkAdaptersAsioSideBySide, sides, side_names);

// "Several waits pending at once: on signal_set, as on Asio's, one delivery completes all of them
// with its signal number": 24 waits, an io_context run by 4 threads, one delivery. Every wait
// completes with it, and nothing of it is left queued: a wait started afterwards stays pending
// until the next delivery, which completes it alone.
TYPED_TEST(ForkAdaptersAsioSideBySide, OneDeliveryCompletesEveryWaitWithFourThreadsRunning) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1});
    net::io_context io;
    typename TypeParam::set s(io, SIGUSR1);
    constexpr int kWaits = 24;
    std::atomic<int> with_signal{0}, other{0};
    for (int i = 0; i < kWaits; ++i) {
      s.async_wait(
          [&](const error_code& ec, int signo) { (!ec && signo == SIGUSR1 ? with_signal : other)++; });
    }
    auto guard = net::make_work_guard(io);
    std::vector<std::thread> runners;
    for (int t = 0; t < 4; ++t) {
      runners.emplace_back([&] {
        sigrelay::test::block_signals_in_this_thread();
        io.run();
      });
    }
    std::this_thread::sleep_for(100ms);  // the waits on the descriptor (Asio's: in its queue)
    ASSERT_EQ(0, kill(getpid(), SIGUSR1));
    EXPECT_TRUE(
        sigrelay::test::wait_until_true([&] { return with_signal.load() + other.load() >= kWaits; }, 10s));
    std::this_thread::sleep_for(100ms);
    std::atomic<int> later{0};
    s.async_wait([&](const error_code& ec, int signo) { later = !ec && signo == SIGUSR1 ? 1 : 2; });
    std::this_thread::sleep_for(200ms);
    EXPECT_EQ(0, later.load()) << "the one delivery also completed a wait started after it";
    ASSERT_EQ(0, kill(getpid(), SIGUSR1));
    EXPECT_TRUE(sigrelay::test::wait_until_true([&] { return later.load() != 0; }, 10s));
    guard.reset();
    io.stop();
    for (std::thread& t : runners) t.join();
    EXPECT_EQ(kWaits, with_signal.load());
    EXPECT_EQ(0, other.load());
    EXPECT_EQ(1, later.load());
  });
}

// A wait started from the completion handler of a broadcast waits for the next delivery (the one
// delivery completes the waits pending when it came, not the ones its handlers start), with a
// second delivery later completing all of them, as Asio does (compared side by side).
TYPED_TEST(ForkAdaptersAsioSideBySide, WaitsStartedFromBroadcastHandlersWaitForTheNextDelivery) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1, SIGUSR2});
    net::io_context io;
    typename TypeParam::set s(io, SIGUSR1, SIGUSR2);
    std::vector<int> first(3, 0), second(3, 0);
    for (int i = 0; i < 3; ++i) {
      s.async_wait([&, i](const error_code& ec, int signo) {
        first[i] = ec ? -1 : signo;
        s.async_wait([&, i](const error_code& ec2, int signo2) { second[i] = ec2 ? -1 : signo2; });
      });
    }
    settle(io);
    ASSERT_EQ(0, kill(getpid(), SIGUSR1));
    for (int i = 0; i < 50; ++i) settle(io);
    for (int i = 0; i < 3; ++i) {
      EXPECT_EQ(SIGUSR1, first[i]) << "wait " << i;
      EXPECT_EQ(0, second[i]) << "wait " << i << ": the same delivery completed a wait started after it";
    }
    ASSERT_EQ(0, kill(getpid(), SIGUSR2));
    for (int i = 0; i < 50; ++i) settle(io);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(SIGUSR2, second[i]) << "wait " << i;
  });
}

// Per-operation cancellation racing a broadcast: two waits, one with a cancellation slot; a
// delivery and the slot's emit (posted to the io_context, run by another thread) race. The plain
// wait always completes with the delivery; the other completes with it or with operation_aborted;
// either way the delivery is not queued again for a later wait ("Signals are never consumed by a
// cancelled wait", and one delivery completes every wait pending when it came).
TYPED_TEST(ForkAdaptersAsioSideBySide, PerOperationCancellationRacingABroadcast) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1});
    net::io_context io;
    typename TypeParam::set s(io, SIGUSR1);
    auto guard = net::make_work_guard(io);
    std::thread runner([&] {
      sigrelay::test::block_signals_in_this_thread();
      io.run();
    });
    constexpr int kRounds = 100;
    int bad = 0;
    for (int round = 0; round < kRounds && bad == 0; ++round) {
      std::atomic<int> plain{0}, slotted{0};
      net::cancellation_signal cancel;
      net::post(io, [&] {
        s.async_wait([&](const error_code& ec, int signo) { plain = !ec && signo == SIGUSR1 ? 1 : 2; });
        s.async_wait(net::bind_cancellation_slot(cancel.slot(), [&](const error_code& ec, int signo) {
          slotted = !ec && signo == SIGUSR1 ? 1 : ec == net::error::operation_aborted ? 3 : 2;
        }));
      });
      std::this_thread::sleep_for(2ms);
      kill(getpid(), SIGUSR1);
      net::post(io, [&] { cancel.emit(net::cancellation_type::terminal); });
      if (!sigrelay::test::wait_until_true([&] { return plain.load() != 0 && slotted.load() != 0; }, 10s)) {
        bad = 1;
      } else if (plain.load() != 1 || slotted.load() == 2) {
        bad = 2;
      } else {
        // Nothing of that delivery is left: a new wait stays pending until cancelled.
        std::atomic<int> later{0};
        net::post(io, [&] { s.async_wait([&](const error_code& ec, int) { later = ec ? 2 : 1; }); });
        std::this_thread::sleep_for(20ms);
        if (later.load() == 1) bad = 3;
        net::post(io, [&] { s.cancel(); });
        if (!sigrelay::test::wait_until_true([&] { return later.load() != 0; }, 10s)) bad = 4;
      }
      EXPECT_EQ(0, bad) << "round " << round << ": 1 hung, 2 wrong outcome (plain " << plain.load()
                        << ", slotted " << slotted.load() << "), 3 the delivery stayed queued, 4 cancel hung";
    }
    guard.reset();
    io.stop();
    runner.join();
  });
}

// Destroying the set while the completions of one delivery are queued (the first has run): the
// others were scheduled with the delivery, and complete with it, as in Asio ("A wait whose result is
// already taken ... completes normally, also when the object is destroyed").
TYPED_TEST(ForkAdaptersAsioSideBySide, DestroyingTheSetWhileBroadcastCompletionsAreQueued) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1});
    net::io_context io;
    auto s = std::make_unique<typename TypeParam::set>(io, SIGUSR1);
    std::vector<int> got(4, 0);
    int done = 0;
    for (int i = 0; i < 4; ++i) {
      s->async_wait([&, i](const error_code& ec, int signo) {
        got[i] = ec ? -1 : signo;
        ++done;
      });
    }
    settle(io);
    ASSERT_EQ(0, kill(getpid(), SIGUSR1));
    const auto end = std::chrono::steady_clock::now() + 10s;
    while (done == 0 && std::chrono::steady_clock::now() < end) {
      io.restart();
      io.run_one_for(10ms);
    }
    ASSERT_GE(done, 1);
    s.reset();
    for (int i = 0; i < 20; ++i) settle(io);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(SIGUSR1, got[i]) << "wait " << i;
  });
}

// notify_fork() with waits pending on both set types, on one signal: in the child, after
// notify_fork(fork_child), the child's signal completes both (the drop-in's with its number, the
// event set's with the child as sender, count 1); the parent's waits are not completed by it and
// complete with the parent's own.
TEST(ForkAdaptersAsio, NotifyForkWithWaitsPendingOnBothSetTypes) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1});
    net::io_context io;
    sigrelay::asio::signal_set dropin(io, SIGUSR1);
    sigrelay::asio::signal_event_set events(io, {SIGUSR1});
    int number = 0;
    sigrelay::signal_event event{};
    bool event_done = false;
    dropin.async_wait([&](const error_code& ec, int signo) { number = ec ? -1 : signo; });
    events.async_wait([&](const error_code& ec, const sigrelay::signal_event& e) {
      event_done = true;
      if (!ec) event = e;
    });
    settle(io);
    io.notify_fork(net::execution_context::fork_prepare);
    std::fflush(nullptr);
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      io.notify_fork(net::execution_context::fork_child);
      alarm(10);
      kill(getpid(), SIGUSR1);
      while (number == 0 || !event_done) {
        io.restart();
        io.run_one();
      }
      if (number != SIGUSR1) _exit(10);
      if (event.signo != SIGUSR1 || event.count != 1 || event.last.pid != getpid()) _exit(11);
      _exit(0);
    }
    io.notify_fork(net::execution_context::fork_parent);
    const int status = sigrelay::test::wait_with_deadline(child, 20);
    EXPECT_TRUE(sigrelay::test::exited_with(status, 0)) << "10: the drop-in's wait, 11: the event set's wait";
    settle(io);
    EXPECT_EQ(0, number) << "the child's signal reached the parent's drop-in set";
    EXPECT_FALSE(event_done) << "the child's signal reached the parent's event set";
    ASSERT_EQ(0, kill(getpid(), SIGUSR1));
    const auto end = std::chrono::steady_clock::now() + 10s;
    while ((number == 0 || !event_done) && std::chrono::steady_clock::now() < end) {
      io.restart();
      io.run_for(10ms);
    }
    EXPECT_EQ(SIGUSR1, number);
    EXPECT_EQ(1U, event.count);
    EXPECT_EQ(getpid(), event.last.pid);
  });
}

}  // namespace
#endif  // SIGRELAY_TEST_ASIO
