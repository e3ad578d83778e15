// SPDX-License-Identifier: MIT
// adapters/tests/contract_loops_adapters_test.cc — an adversarial audit of the event-loop adapters
// (<sigrelay/event.hpp>, <sigrelay/uv.hpp>) and the coroutine channel (<sigrelay/coro.hpp>) under the
// hostile conditions the other adapter tests leave out:
// - _Fork() (no fork handlers) inside a callback, with the child set up again as the headers say
//   (after_fork_in_child(), then event_reinit() / uv_loop_fork()): the rest of the drained batch is
//   the parent's, as after fork().
// - event_base_loopbreak() after every event of a realtime flood on one CPU: received + dropped ==
//   sent, each value once and in order.
// - Another thread tearing its own watcher (on its own base/loop) down in the middle of a realtime
//   flood that a watcher on this thread receives: that one still gets everything.
// - uv_close() semantics: close() from inside the callback in the middle of a batch, on_closed once,
//   from the loop, after the callback; unref() surviving stop() and start().
// - The channel destroyed with a coroutine suspended in next() whose resumption is posted to a queue
//   run only after the channel is gone; an earlier handler leaving by siglongjmp().
// Each test quotes the promise it checks; each body runs in a forked child under a watchdog.
#include <gtest/gtest.h>

#include <event2/event.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <coroutine>
#include <csetjmp>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "sigrelay/coro.hpp"
#include "sigrelay/event.hpp"
#include "sigrelay/registry.hpp"
#include "sigrelay/uv.hpp"
#include "support/child.hpp"
#include "support/coro_task.hpp"
#include "support/event_base.hpp"
#include "support/flood_limit.hpp"
#include "support/platform.hpp"
#include "support/senders.hpp"
#include "support/signal_helpers.hpp"
#include "support/signal_state.hpp"
#include "support/uv_loop.hpp"

namespace {

using namespace std::chrono_literals;
using sigrelay::signal_event;
using sigrelay::test::exited_with;
using sigrelay::test::wait_with_deadline;

// Whether a realtime delivery that finds a ring full can be held in the kernel (signals.hpp): not
// under ThreadSanitizer nor on the posix platform layer, where such a delivery is counted by
// dropped() instead. Where holds work, a flood arrives whole and in order.
bool holds_possible() { return !sigrelay::test::kUnderTsan && !sigrelay::test::posix_platform(); }

// Forks a process that sigqueue()s `signo` to this process `n` times, with values 0 .. n-1, retrying
// on EAGAIN; it runs while the caller runs its loop. Wait for it with wait_with_deadline().
pid_t start_queue_sender(int signo, int n) {
  std::fflush(nullptr);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid == 0) {
    for (int i = 0; i < n; ++i) {
      union sigval v {};
      v.sival_int = i;
      while (sigqueue(parent, signo, v) != 0) usleep(100);
      if (sigrelay::test::kUnderTsan) usleep(20000);  // see send_from_other_process()
    }
    _exit(0);
  }
  return pid;
}

// Checks a flood's outcome: every value handed out or counted, none twice; where holds work, every
// value handed out (none dropped), and in order unless `in_order` is false.
void expect_whole_flood(const std::vector<int>& values, std::uint64_t total, std::uint64_t dropped, int n,
                        bool in_order = true) {
  EXPECT_EQ(static_cast<std::uint64_t>(n), total + dropped) << "received + dropped != sent";
  EXPECT_EQ(values.size(), total);
  std::vector<int> sorted = values;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_TRUE(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end()) << "a value came twice";
  if (holds_possible()) {
    std::vector<int> want;
    for (int i = 0; i < n; ++i) want.push_back(i);
    if (want != (in_order ? values : sorted)) {
      std::string got;
      for (int v : values) got += std::to_string(v) + " ";
      ADD_FAILURE() << "not every value once" << (in_order ? " in order" : "") << "; got " << got
                    << "(dropped " << dropped << ")";
    }
    EXPECT_EQ(0U, dropped);
  } else if (in_order) {
    EXPECT_TRUE(std::is_sorted(values.begin(), values.end()));
  }
}

// --- _Fork() inside the callback ---------------------------------------------------------------------

// The callback's side of the _Fork() tests: the first event _Fork()s. With `set_up_again`, the child
// sets itself up as signals.hpp says ("Call sigrelay::after_fork_in_child() first thing in such a
// child"), then its loop (`reinit`), and sends itself SIGUSR2: it must get that one, and only that
// one. Without, the child's copy stays dead ("until then the copy is dead"): the child only asks its
// loop to return (`reinit` then stops it) and must be handed nothing at all.
struct underscore_fork_in_callback {
  bool set_up_again = true;
  pid_t forked = -1;
  std::vector<signal_event> parent_got;
  std::vector<signal_event> child_got;
  // Returns true when the watcher is to be stopped (closed).
  template <class Reinit>
  bool on_event(const signal_event& e, Reinit reinit) {
    if (forked < 0) {
      std::fflush(nullptr);
      forked = _Fork();
      if (forked == 0) {
        alarm(10);
        if (!set_up_again) {
          reinit();
          return false;
        }
        sigrelay::after_fork_in_child();
        if (!reinit()) _exit(30);
        kill(getpid(), SIGUSR2);
      } else {
        parent_got.push_back(e);
      }
      return false;
    }
    if (forked == 0) {
      child_got.push_back(e);
      return !set_up_again || (e.signo == SIGUSR2 && e.last.pid == getpid());
    }
    parent_got.push_back(e);
    return parent_got.size() == 3;
  }
  // In the child, after its loop returned: the exit code.
  int child_code() const {
    if (!set_up_again) return child_got.empty() ? 0 : 31;
    if (child_got.size() != 1) return 31;  // (more: the rest of the parent's batch was handed out here)
    if (child_got[0].signo != SIGUSR2 || child_got[0].last.pid != getpid() || child_got[0].count != 1)
      return 32;
    return 0;
  }
  void check_parent() const {
    ASSERT_GT(forked, 0);
    EXPECT_TRUE(exited_with(wait_with_deadline(forked, 20), 0))
        << "31: the child's callback got the rest of the parent's batch (or not its own signal), 30: "
           "reinit failed";
    ASSERT_EQ(3U, parent_got.size());
    std::vector<int> signos;
    for (const signal_event& e : parent_got) signos.push_back(e.signo);
    std::sort(signos.begin(), signos.end());
    EXPECT_EQ((std::vector<int>{SIGHUP, SIGUSR1, SIGUSR2}), signos);
  }
};

// event.hpp, "Fork": "Events the parent had recorded or drained but not handed out are dropped in the
// child (the parent hands them out)." signals.hpp: after _Fork() "the same happens when
// after_fork_in_child() runs". Three standard signals recorded before start() make one drained
// batch; the callback _Fork()s on the first. The child, set up again (after_fork_in_child(),
// event_reinit()), must not be handed the other two: they are the parent's, which hands them out.
// Without after_fork_in_child() (the copy is dead there), it must not be handed them either.
void event_underscore_fork_in_callback(bool set_up_again) {
  sigrelay::test::prepare_signals({SIGHUP, SIGUSR1, SIGUSR2});
  sigrelay::test::base b;
  underscore_fork_in_callback f;
  f.set_up_again = set_up_again;
  {
    sigrelay::event::signal_watcher w(b.get(), {SIGHUP, SIGUSR1, SIGUSR2});
    ASSERT_EQ(0, kill(getpid(), SIGHUP));
    ASSERT_EQ(0, kill(getpid(), SIGUSR1));
    ASSERT_EQ(0, kill(getpid(), SIGUSR2));
    ASSERT_EQ(0, w.start([&](const signal_event& e) {
      if (f.on_event(e, [&] {
            if (!f.set_up_again) return event_base_loopbreak(b.get()) == 0;
            return event_reinit(b.get()) == 0;
          }))
        w.stop();
    }));
    event_base_dispatch(b.get());
    if (f.forked == 0) _exit(f.child_code());  // (the shared epoll set is the parent's)
  }
  f.check_parent();
}

TEST(LoopsEvent, UnderscoreForkInsideTheCallbackLeavesTheRestOfTheBatchToTheParent) {
  SIGRELAY_IN_CHILD([] { event_underscore_fork_in_callback(true); });
}

TEST(LoopsEvent, UnderscoreForkWithoutAfterForkInChildHandsNothingOutInTheChild) {
  SIGRELAY_IN_CHILD([] { event_underscore_fork_in_callback(false); });
}

// uv.hpp, "Fork": the same promises, with uv_loop_fork() in a child of _Fork().
void uv_underscore_fork_in_callback(bool set_up_again) {
  sigrelay::test::prepare_signals({SIGHUP, SIGUSR1, SIGUSR2});
  sigrelay::test::loop l;
  sigrelay::uv::signal_watcher w(l.get(), {SIGHUP, SIGUSR1, SIGUSR2});
  underscore_fork_in_callback f;
  f.set_up_again = set_up_again;
  ASSERT_EQ(0, kill(getpid(), SIGHUP));
  ASSERT_EQ(0, kill(getpid(), SIGUSR1));
  ASSERT_EQ(0, kill(getpid(), SIGUSR2));
  ASSERT_EQ(0, w.start([&](const signal_event& e) {
    if (f.on_event(e, [&] {
          if (!f.set_up_again) {
            uv_stop(l.get());
            return true;
          }
          return uv_loop_fork(l.get()) == 0;
        }))
      w.close();
  }));
  uv_run(l.get(), UV_RUN_DEFAULT);
  if (f.forked == 0) {
    if (f.set_up_again) uv_run(l.get(), UV_RUN_NOWAIT);
    _exit(f.child_code());
  }
  f.check_parent();
}

TEST(LoopsUv, UnderscoreForkInsideTheCallbackLeavesTheRestOfTheBatchToTheParent) {
  SIGRELAY_IN_CHILD([] { uv_underscore_fork_in_callback(true); });
}

TEST(LoopsUv, UnderscoreForkWithoutAfterForkInChildHandsNothingOutInTheChild) {
  SIGRELAY_IN_CHILD([] { uv_underscore_fork_in_callback(false); });
}

// --- Floods --------------------------------------------------------------------------------------------

// event.hpp, "Callback": "Each activation hands out one drained batch ... Events left when the
// callback stops ... stay queued"; dropped(): "Realtime deliveries lost to a full ring". The callback
// calls event_base_loopbreak() on every event of a realtime sigqueue() flood, sent from another
// process while everything shares one CPU; the test dispatches again and again until every value is
// handed out or counted. Breaking the loop must lose nothing: received + dropped == sent, each value
// once (in order where holds work).
TEST(LoopsEvent, LoopbreakAfterEveryEventOfARealtimeFloodOnOneCpuLosesNothing) {
  SIGRELAY_IN_CHILD(
      [] {
        ASSERT_TRUE(sigrelay::test::pin_to_one_cpu());
        sigrelay::test::cap_pending_signals_for_a_flood();
        const int rt = SIGRTMIN + 5, n = sigrelay::test::kUnderTsan ? 60 : 400;
        sigrelay::test::prepare_signals({rt});
        sigrelay::test::base b;
        // A ring of 8: the flood overflows it again and again (held in the kernel where holds work,
        // counted by dropped() elsewhere), so the watcher drains many batches.
        sigrelay::signals_options small;
        small.realtime_capacity = 8;
        sigrelay::event::signal_watcher w(b.get(), {rt}, small);
        std::vector<int> values;
        std::uint64_t total = 0;
        ASSERT_EQ(0, w.start([&](const signal_event& e) {
          EXPECT_EQ(rt, e.signo);
          total += e.count;
          values.push_back(e.last.value.sival_int);
          event_base_loopbreak(b.get());
        }));
        // A 10 ms timer breaks the loop too, so that a lost delivery fails the test instead of
        // leaving event_base_dispatch() asleep until the watchdog.
        ::event* tick = event_new(
            b.get(), -1, EV_PERSIST,
            [](evutil_socket_t, short, void* arg) { event_base_loopbreak(static_cast<event_base*>(arg)); },
            b.get());
        const timeval ms10{0, 10000};
        event_add(tick, &ms10);
        const pid_t sender = start_queue_sender(rt, n);
        const auto end = std::chrono::steady_clock::now() + 30s;
        while (total + w.dropped() < static_cast<std::uint64_t>(n) &&
               std::chrono::steady_clock::now() < end) {
          event_base_dispatch(b.get());
        }
        EXPECT_TRUE(exited_with(wait_with_deadline(sender, 20), 0));
        // Whatever is still on its way (nothing, if the counts are right) is taken now.
        event_base_loop(b.get(), EVLOOP_NONBLOCK);
        event_free(tick);
        expect_whole_flood(values, total, w.dropped(), n);
      },
      60);
}

// event.hpp, "Thread safety": "Several bases on several threads may each have their watchers, on the
// same or different signals: every watcher of a signal receives every delivery"; signals.hpp: the
// destructor never fails. Another thread destroys its own watcher of the realtime signal (on its own
// base) in the middle of a flood that a watcher on this thread receives: the teardown must not cost
// this watcher a delivery, silently or not.
TEST(LoopsEvent, AnotherThreadTearingItsWatcherDownMidFloodCostsThisOneNothing) {
  SIGRELAY_IN_CHILD(
      [] {
        ASSERT_TRUE(sigrelay::test::pin_to_one_cpu());
        sigrelay::test::cap_pending_signals_for_a_flood();
        const int rt = SIGRTMIN + 7, n = sigrelay::test::kUnderTsan ? 60 : 400;
        sigrelay::test::prepare_signals({rt});
        std::atomic<int> other_got{0};
        std::atomic<bool> other_ready{false}, other_torn_down{false};
        std::thread other = sigrelay::test::start_blocked_thread([&] {
          sigrelay::test::base ob;
          auto ow =
              std::make_unique<sigrelay::event::signal_watcher>(ob.get(), std::initializer_list<int>{rt});
          ow->start([&](const signal_event& e) {
            other_got += static_cast<int>(e.count);
            if (other_got.load() >= n / 4) {
              ow.reset();  // torn down from its own callback, mid-flood
              other_torn_down = true;
            }
          });
          other_ready = true;
          // Runs until the watcher is gone (or a deadline: the main thread checks other_torn_down).
          const timeval ms10{0, 10000};
          const auto end = std::chrono::steady_clock::now() + 30s;
          while (!other_torn_down && std::chrono::steady_clock::now() < end) {
            event_base_loopexit(ob.get(), &ms10);
            event_base_dispatch(ob.get());
          }
        });
        ASSERT_TRUE(sigrelay::test::wait_until_true([&] { return other_ready.load(); }, 10s));
        sigrelay::test::base b;
        sigrelay::event::signal_watcher w(b.get(), {rt});
        std::vector<int> values;
        std::uint64_t total = 0;
        ASSERT_EQ(0, w.start([&](const signal_event& e) {
          total += e.count;
          values.push_back(e.last.value.sival_int);
        }));
        const pid_t sender = start_queue_sender(rt, n);
        const timeval ms10{0, 10000};
        const auto end = std::chrono::steady_clock::now() + 30s;
        while (total + w.dropped() < static_cast<std::uint64_t>(n) &&
               std::chrono::steady_clock::now() < end) {
          event_base_loopexit(b.get(), &ms10);
          event_base_dispatch(b.get());
        }
        EXPECT_TRUE(exited_with(wait_with_deadline(sender, 20), 0));
        other.join();
        EXPECT_TRUE(other_torn_down.load()) << "the other watcher got " << other_got.load();
        event_base_loop(b.get(), EVLOOP_NONBLOCK);
        expect_whole_flood(values, total, w.dropped(), n);
      },
      60);
}

// uv.hpp, "Thread safety": "Several loops on several threads may each have their watchers, on the
// same or different signals: every watcher of a signal receives every delivery"; close():
// "Unsubscribes and uv_close()s the handles". Three other threads, each on its own loop, make a
// watcher of the realtime signal, close() it from its callback after a few events, and make another,
// over and over, while a flood of sigqueue() values goes on: the watcher on this thread must get
// every value (or count it in dropped()), and never see one twice.
TEST(LoopsUv, OtherLoopThreadsClosingAndRemakingWatchersMidFloodCostThisOneNothing) {
  SIGRELAY_IN_CHILD(
      [] {
        ASSERT_TRUE(sigrelay::test::pin_to_one_cpu());
        sigrelay::test::cap_pending_signals_for_a_flood();
        const int rt = SIGRTMIN + 8, n = sigrelay::test::kUnderTsan ? 60 : 600;
        sigrelay::test::prepare_signals({rt});
        std::atomic<bool> flood_over{false};
        std::atomic<int> ready{0}, closes{0};
        std::vector<std::thread> others;
        for (int i = 0; i < 3; ++i) {
          others.push_back(sigrelay::test::start_blocked_thread([&] {
            sigrelay::test::loop ol;
            uv_timer_t tick;
            uv_timer_init(ol.get(), &tick);
            ++ready;
            while (!flood_over) {
              sigrelay::uv::signal_watcher ow(ol.get(), {rt});
              int got = 0;
              ow.start([&](const signal_event& e) {
                got += static_cast<int>(e.count);
                if (got >= 5) {
                  ow.close();
                  ++closes;
                }
              });
              // Until closed, or 20 ms (the flood may be slow: one value per 20 ms under
              // ThreadSanitizer): then the destructor closes it.
              uv_timer_start(
                  &tick, [](uv_timer_t* t) { uv_stop(t->loop); }, 20, 0);
              while (!ow.is_closing() && !flood_over) {
                uv_run(ol.get(), UV_RUN_ONCE);
                if (uv_is_active(reinterpret_cast<uv_handle_t*>(&tick)) == 0) break;
              }
              uv_timer_stop(&tick);
              if (!ow.is_closing() && !flood_over) ++closes;  // the destructor closes it, mid-flood
            }
            uv_close(reinterpret_cast<uv_handle_t*>(&tick), nullptr);
          }));
        }
        ASSERT_TRUE(sigrelay::test::wait_until_true([&] { return ready.load() == 3; }, 10s));
        sigrelay::test::loop l;
        sigrelay::uv::signal_watcher w(l.get(), {rt});
        std::vector<int> values;
        std::uint64_t total = 0;
        ASSERT_EQ(0, w.start([&](const signal_event& e) {
          total += e.count;
          values.push_back(e.last.value.sival_int);
          if (total + w.dropped() >= static_cast<std::uint64_t>(n)) w.stop();
        }));
        uv_timer_t deadline;
        uv_timer_init(l.get(), &deadline);
        uv_timer_start(
            &deadline, [](uv_timer_t* t) { uv_stop(t->loop); }, 30000, 0);
        uv_unref(reinterpret_cast<uv_handle_t*>(&deadline));
        const pid_t sender = start_queue_sender(rt, n);
        uv_run(l.get(), UV_RUN_DEFAULT);
        EXPECT_TRUE(exited_with(wait_with_deadline(sender, 20), 0));
        flood_over = true;
        for (std::thread& t : others) t.join();
        uv_close(reinterpret_cast<uv_handle_t*>(&deadline), nullptr);
        w.close();
        EXPECT_GT(closes.load(), 0) << "no other watcher was closed during the flood";
        expect_whole_flood(values, total, w.dropped(), n);
      },
      60);
}

// --- uv_close() semantics ----------------------------------------------------------------------------

// uv.hpp, "Callback": "It may call stop(), start(), close(), or destroy the watcher"; close():
// "Unsubscribes and uv_close()s the handles; `on_closed` runs from the loop once they are closed.
// Events not handed out are dropped." As with uv_close(), the close callback never runs inside
// close() itself. A batch of three standard signals; the callback close()s on the first: the other
// two are never handed out, on_closed runs exactly once, after the callback returned, uv_run()
// returns (nothing keeps the loop alive), and the three signals are back at SIG_DFL.
TEST(LoopsUv, CloseInsideTheCallbackMidBatchDropsTheRestAndCallsOnClosedOnceFromTheLoop) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGHUP, SIGUSR1, SIGUSR2});
    sigrelay::test::loop l;
    auto w = std::make_unique<sigrelay::uv::signal_watcher>(
        l.get(), std::initializer_list<int>{SIGHUP, SIGUSR1, SIGUSR2});
    ASSERT_EQ(0, kill(getpid(), SIGHUP));
    ASSERT_EQ(0, kill(getpid(), SIGUSR1));
    ASSERT_EQ(0, kill(getpid(), SIGUSR2));
    int calls = 0, closed_calls = 0;
    bool in_callback = false, closed_inside_callback = false;
    ASSERT_EQ(0, w->start([&](const signal_event&) {
      ++calls;
      in_callback = true;
      w->close([&] {
        ++closed_calls;
        closed_inside_callback = in_callback;
      });
      EXPECT_TRUE(w->is_closing());
      EXPECT_FALSE(w->is_active());
      EXPECT_FALSE(w->has_ref());
      EXPECT_EQ(UV_EINVAL, w->start([](const signal_event&) {}));
      w->close([&] { ADD_FAILURE() << "a second close() registered its callback"; });
      in_callback = false;
    }));
    EXPECT_EQ(0, uv_run(l.get(), UV_RUN_DEFAULT));
    EXPECT_EQ(1, calls) << "events after close() were handed out";
    EXPECT_EQ(1, closed_calls);
    EXPECT_FALSE(closed_inside_callback);
    for (int s : {SIGHUP, SIGUSR1, SIGUSR2}) EXPECT_TRUE(sigrelay::test::is_default_disposition(s)) << s;
    w.reset();  // the destructor of a closed watcher does nothing more
    EXPECT_EQ(1, closed_calls);
  });
}

// uv.hpp, unref(): "an unreferenced watcher does not keep uv_run() (UV_RUN_DEFAULT) from returning,
// but while the loop runs for other handles it still hands out events. Watchers start referenced;
// the setting survives stop() and start()." Including a stop() with events left over (the idle
// handle that hands them out must not keep the loop alive either), and ref() afterwards.
TEST(LoopsUv, UnrefSurvivesStopAndStartWithALeftoverBatch) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGHUP, SIGUSR1});
    sigrelay::test::loop l;
    sigrelay::uv::signal_watcher w(l.get(), {SIGHUP, SIGUSR1});
    EXPECT_TRUE(w.has_ref());
    w.unref();
    EXPECT_FALSE(w.has_ref());
    int calls = 0;
    ASSERT_EQ(0, kill(getpid(), SIGHUP));
    ASSERT_EQ(0, kill(getpid(), SIGUSR1));
    auto cb = [&](const signal_event&) {
      ++calls;
      w.stop();  // leaves the second event of the batch over
    };
    // A timer keeps the loop running long enough for the watcher to hand out.
    uv_timer_t t;
    uv_timer_init(l.get(), &t);
    ASSERT_EQ(0, w.start(cb));
    uv_timer_start(
        &t, [](uv_timer_t*) {}, 50, 0);
    EXPECT_EQ(0, uv_run(l.get(), UV_RUN_DEFAULT));
    EXPECT_EQ(1, calls);
    EXPECT_FALSE(w.has_ref());
    // Started again, with the leftover event waiting: still unreferenced, so uv_run() returns.
    ASSERT_EQ(0, w.start(cb));
    EXPECT_FALSE(w.has_ref());
    uv_timer_start(
        &t, [](uv_timer_t*) {}, 50, 0);
    EXPECT_EQ(0, uv_run(l.get(), UV_RUN_DEFAULT));
    EXPECT_EQ(2, calls);
    // Nothing left and unreferenced while started: returns at once, even with no other handle.
    ASSERT_EQ(0, w.start(cb));
    EXPECT_EQ(0, uv_run(l.get(), UV_RUN_DEFAULT));
    w.ref();
    EXPECT_TRUE(w.has_ref());
    ASSERT_EQ(0, kill(getpid(), SIGUSR1));
    EXPECT_EQ(0, uv_run(l.get(), UV_RUN_DEFAULT));  // the callback's stop() lets it return
    EXPECT_EQ(3, calls);
    uv_close(reinterpret_cast<uv_handle_t*>(&t), nullptr);
    w.close();
  });
}

// --- The coroutine channel ---------------------------------------------------------------------------

using sigrelay::test::task;  // support/coro_task.hpp

struct outcome {
  bool done = false;
  std::optional<signal_event> event;
};

task await_one(sigrelay::co::signal_channel& ch, outcome& out) {
  out.event = co_await ch.next();
  out.done = true;
}

// coro.hpp, "Close and cancellation": close() (the destructor close()s) resumes suspended awaits with
// std::nullopt through the resume function; "Resuming on the caller's executor": a resume function
// that posts the handle to a scheduler. A coroutine suspended in next() is posted by the destructor;
// the scheduler runs it only after the channel is gone. It must see std::nullopt, and its awaitable
// (which outlives the channel) must be safe to resume and destroy (AddressSanitizer watches).
TEST(LoopsCoro, ACoroutinePostedByTheDestructorRunsSafelyAfterTheChannelIsGone) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1});
    std::mutex m;
    std::deque<std::coroutine_handle<>> run_queue;
    outcome out;
    task t;
    {
      sigrelay::co::signal_channel ch({SIGUSR1}, [&](std::coroutine_handle<> h) {
        std::lock_guard<std::mutex> lock(m);
        run_queue.push_back(h);
      });
      t = await_one(ch, out);
      t.handle.resume();  // suspends in next()
      ASSERT_FALSE(out.done);
    }
    ASSERT_EQ(1U, run_queue.size());
    EXPECT_TRUE(sigrelay::test::is_default_disposition(SIGUSR1));
    run_queue.front().resume();
    EXPECT_TRUE(out.done);
    EXPECT_FALSE(out.event.has_value());
    t.handle.destroy();
  });
}

// registry.hpp, "Chaining": "The earlier handler may leave by siglongjmp ...: the registry stays
// fully usable, and that delivery's actions do not run". coro.hpp, "No loss": each event is handed
// out exactly once. A program handler of SIGINT installed before the channel leaves the first
// delivery by siglongjmp(): the channel hands out nothing for it, then the next delivery, count 1;
// after destruction SIGINT is the program's handler again.
sigjmp_buf repl_jump;
volatile sig_atomic_t jump_next = 1;
void repl_handler(int) {
  if (jump_next != 0) {
    jump_next = 0;
    siglongjmp(repl_jump, 1);
  }
}

TEST(LoopsCoro, AnEarlierHandlerLeavingBySiglongjmpLeavesTheChannelWorking) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGINT});
    struct sigaction sa {};
    sa.sa_handler = repl_handler;
    sigemptyset(&sa.sa_mask);
    ASSERT_EQ(0, sigaction(SIGINT, &sa, nullptr));
    const auto before = sigrelay::test::snapshot();
    {
      sigrelay::co::signal_channel ch({SIGINT});
      volatile int jumped = 0;
      if (sigsetjmp(repl_jump, 1) == 0) {
        kill(getpid(), SIGINT);
        ADD_FAILURE() << "the earlier handler did not jump";
      } else {
        jumped = 1;
      }
      EXPECT_EQ(1, jumped);
      std::this_thread::sleep_for(100ms);
      EXPECT_FALSE(ch.try_next().has_value()) << "the delivery the earlier handler took was handed out";
      ASSERT_EQ(0, kill(getpid(), SIGINT));
      std::optional<signal_event> e;
      EXPECT_TRUE(sigrelay::test::wait_until_true([&] { return (e = ch.try_next()).has_value(); }, 10s));
      ASSERT_TRUE(e.has_value());
      EXPECT_EQ(SIGINT, e->signo);
      EXPECT_EQ(1U, e->count);
      EXPECT_EQ(getpid(), e->last.pid);
    }
    EXPECT_EQ("", sigrelay::test::differences(before, sigrelay::test::snapshot()));
  });
}

// coro.hpp, "No loss": "Events are queued from the moment the channel exists, whether or not anyone
// awaits; each is handed out exactly once"; the constructor "Subscribes to `signos` (with
// `options`)", any backend. With backend::signalfd the signals are blocked in the thread that
// subscribes (signals.hpp), here the test's, while the channel's own thread is the one that reads.
// A signal sent to the process, then one sent to the subscribing thread itself (tgkill()), then one
// add()ed from this thread and sent to it, each to a coroutine suspended in next(): all three must be
// handed out.
TEST(LoopsCoro, SignalfdBackendHandsOutASignalSentToTheSubscribingThread) {
  if (sigrelay::test::posix_platform()) GTEST_SKIP() << "no signalfd backend on the posix platform layer";
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1, SIGUSR2});
    std::mutex m;
    std::vector<std::coroutine_handle<>> posted;
    auto resume = [&](std::coroutine_handle<> h) {
      std::lock_guard<std::mutex> lock(m);
      posted.push_back(h);
    };
    auto posted_count = [&] {
      std::lock_guard<std::mutex> lock(m);
      return posted.size();
    };
    sigrelay::signals_options options;
    options.backend = sigrelay::backend::signalfd;
    sigrelay::co::signal_channel ch({SIGUSR1}, resume, options);
    struct step {
      int signo;
      bool to_this_thread;
    };
    for (const step st : {step{SIGUSR1, false}, step{SIGUSR1, true}, step{SIGUSR2, true}}) {
      const bool to_this_thread = st.to_this_thread;
      if (st.signo == SIGUSR2) ch.add(SIGUSR2);
      outcome out;
      task t = await_one(ch, out);
      t.handle.resume();  // suspends in next()
      ASSERT_FALSE(out.done);
      const std::size_t before = posted_count();
      if (to_this_thread) {
        ASSERT_TRUE(sigrelay::test::tgkill_self(st.signo));
      } else {
        ASSERT_EQ(0, kill(getpid(), st.signo));
      }
      const bool served = sigrelay::test::wait_until_true([&] { return posted_count() > before; }, 5s);
      EXPECT_TRUE(served) << sigrelay::signal_name(st.signo)
                          << (to_this_thread ? ": tgkill() to the subscribing thread"
                                             : ": kill() to the process")
                          << ": never handed out";
      if (!served) {
        ch.close();  // resumes it with nullopt
        ASSERT_TRUE(sigrelay::test::wait_until_true([&] { return posted_count() > before; }, 5s));
      }
      std::coroutine_handle<> h;
      {
        std::lock_guard<std::mutex> lock(m);
        h = posted.back();
      }
      h.resume();
      ASSERT_TRUE(out.done);
      t.handle.destroy();
      if (!served) return;
      ASSERT_TRUE(out.event.has_value());
      EXPECT_EQ(st.signo, out.event->signo);
      EXPECT_EQ(1U, out.event->count);
    }
  });
}

// coro.hpp, "Errors": "The constructors throw std::system_error as sigrelay::signals does"; the
// house rule (signals.hpp): a refused signal is named, and bad input leaves the signal state exactly
// as it was. On backend::signalfd too, where the channel subscribes one signal at a time: SIGUSR1
// then SIGKILL (refused), with a program handler on SIGUSR1 and a mask set beforehand.
TEST(LoopsCoro, ASignalfdChannelRefusingASignalNamesItAndLeavesTheStateAsItWas) {
  if (sigrelay::test::posix_platform()) GTEST_SKIP() << "no signalfd backend on the posix platform layer";
  SIGRELAY_IN_CHILD([] {
    const int rt = SIGRTMIN + 3;
    sigrelay::test::install_prior_state(rt);
    const auto before = sigrelay::test::snapshot();
    sigrelay::signals_options options;
    options.backend = sigrelay::backend::signalfd;
    try {
      sigrelay::co::signal_channel ch({SIGUSR1, rt, SIGKILL}, {}, options);
      ADD_FAILURE() << "SIGKILL was accepted";
    } catch (const std::system_error& e) {
      EXPECT_NE(std::string(e.what()).find("SIGKILL"), std::string::npos) << e.what();
    }
    EXPECT_EQ("", sigrelay::test::differences(before, sigrelay::test::snapshot()));
    ASSERT_EQ(0, kill(getpid(), SIGUSR1));  // the program's handler, as before
    EXPECT_EQ(1, sigrelay::test::prior_handler_calls());
  });
}

// coro.hpp, "No loss": "Events are queued from the moment the channel exists ...; each is handed out
// exactly once"; dropped(): "Realtime deliveries lost to a full ring". A realtime sigqueue() flood
// on one CPU into a channel with a ring of 8, consumed by a slow coroutine (1 ms per event) that
// its scheduler (this thread) resumes from a run queue: received + dropped == sent, each value once,
// in order where holds work.
task consume_all(sigrelay::co::signal_channel& ch, std::vector<int>& values, std::uint64_t& total) {
  while (std::optional<signal_event> e = co_await ch.next()) {
    total += e->count;
    values.push_back(e->last.value.sival_int);
  }
}

void coro_flood_into_a_slow_consumer() {
  SIGRELAY_IN_CHILD(
      [] {
        ASSERT_TRUE(sigrelay::test::pin_to_one_cpu());
        sigrelay::test::cap_pending_signals_for_a_flood();
        const int rt = SIGRTMIN + 9, n = sigrelay::test::kUnderTsan ? 60 : 300;
        sigrelay::test::prepare_signals({rt});
        std::mutex m;
        std::deque<std::coroutine_handle<>> run_queue;
        sigrelay::signals_options small;
        small.realtime_capacity = 8;
        sigrelay::co::signal_channel ch(
            {rt},
            [&](std::coroutine_handle<> h) {
              std::lock_guard<std::mutex> lock(m);
              run_queue.push_back(h);
            },
            small);
        std::vector<int> values;
        std::uint64_t total = 0;
        task t = consume_all(ch, values, total);
        t.handle.resume();  // suspends in next()
        const pid_t sender = start_queue_sender(rt, n);
        const auto end = std::chrono::steady_clock::now() + 40s;
        while (total + ch.dropped() < static_cast<std::uint64_t>(n) &&
               std::chrono::steady_clock::now() < end) {
          std::coroutine_handle<> h;
          {
            std::lock_guard<std::mutex> lock(m);
            if (!run_queue.empty()) {
              h = run_queue.front();
              run_queue.pop_front();
            }
          }
          std::this_thread::sleep_for(1ms);  // the slow consumer
          if (h) h.resume();
        }
        EXPECT_TRUE(exited_with(wait_with_deadline(sender, 20), 0));
        ch.close();  // resumes the coroutine with nullopt: it ends
        {
          std::lock_guard<std::mutex> lock(m);
          for (std::coroutine_handle<> h : run_queue) h.resume();
        }
        EXPECT_TRUE(t.handle.done());
        t.handle.destroy();
        // Not in order: the channel's thread leaves the signal unblocked, a second receiver (signals.hpp,
        // "Realtime floods": the order per number is kept where one thread receives).
        expect_whole_flood(values, total, ch.dropped(), n, /*in_order=*/false);
      },
      90);
}

TEST(LoopsCoro, RealtimeFloodOnOneCpuIntoASlowConsumerLosesNothing) { coro_flood_into_a_slow_consumer(); }

// coro.hpp, "Resuming on the caller's executor": where a suspended coroutine continues. With no
// resume function, "the coroutine resumes inline" on the thread that hands it its event; "No loss":
// "first come, first served", so a try_next() that drains while coroutines are suspended serves them
// first, and resumes them itself, on its caller's thread (the function "is called ... from
// try_next()"). Coroutine `a` is resumed inline on the channel's thread by SIGHUP and holds that
// thread (it waits for a flag); meanwhile SIGUSR1 and SIGUSR2 are recorded, and a try_next() on this
// thread drains both: `b`, suspended first, gets SIGUSR1 and runs inline inside try_next() on this
// thread; try_next() returns SIGUSR2.
struct where_resumed {
  std::atomic<bool> done{false};
  std::optional<signal_event> event;
  std::thread::id thread;
};

task await_and_note_thread(sigrelay::co::signal_channel& ch, where_resumed& out, std::atomic<bool>* hold) {
  out.event = co_await ch.next();
  out.thread = std::this_thread::get_id();
  out.done = true;
  if (hold != nullptr) {
    while (!hold->load()) std::this_thread::sleep_for(1ms);  // keeps the channel's thread busy here
  }
}

TEST(LoopsCoro, WithoutAResumeFunctionTryNextResumesTheAwaitsItServesOnItsOwnThread) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGHUP, SIGUSR1, SIGUSR2});
    std::atomic<bool> release{false};
    where_resumed a, b;
    task ta, tb;
    {
      sigrelay::co::signal_channel ch({SIGHUP, SIGUSR1, SIGUSR2});
      ta = await_and_note_thread(ch, a, &release);
      tb = await_and_note_thread(ch, b, nullptr);
      ta.handle.resume();  // suspends in next()
      tb.handle.resume();
      ASSERT_EQ(0, kill(getpid(), SIGHUP));  // to `a`, resumed inline on the channel's thread
      ASSERT_TRUE(sigrelay::test::wait_until_true([&] { return a.done.load(); }, 10s));
      EXPECT_NE(std::this_thread::get_id(), a.thread);
      ASSERT_EQ(0, kill(getpid(), SIGUSR1));
      ASSERT_EQ(0, kill(getpid(), SIGUSR2));
      const std::optional<signal_event> taken = ch.try_next();
      release = true;  // (before any fatal assertion: the destructor joins the channel's thread)
      ASSERT_TRUE(taken.has_value());
      EXPECT_EQ(SIGUSR2, taken->signo);
      EXPECT_TRUE(b.done.load()) << "try_next() did not resume the await it served";
      ASSERT_TRUE(b.event.has_value());
      EXPECT_EQ(SIGUSR1, b.event->signo);
      EXPECT_EQ(std::this_thread::get_id(), b.thread) << "`b` resumed elsewhere than in try_next()";
    }  // joins the channel's thread, which finishes `a` first
    EXPECT_TRUE(ta.handle.done());
    ta.handle.destroy();
    tb.handle.destroy();
  });
}

}  // namespace
