// SPDX-License-Identifier: MIT
// adapters/tests/contract_event_test.cc — an adversarial audit of the promises in
// <sigrelay/event.hpp>, with real signals against Debian's libevent, covering what event_test.cc does
// not: replacing the callback in the middle of a drained batch, two watchers of one realtime signal
// on one event_base under a sigqueue() flood sent while the base is busy (one with a ring small
// enough to force holds), the whole signal state (every sigaction, the thread mask) as it was after
// destruction on both backends, and destroying a watcher whose event is active in the same loop
// iteration. (Fork and loop-restart are audited on the uv and Asio adapters, contract_uv_test.cc and
// contract_asio_test.cc.) Each test quotes the promise it checks; each body runs in a forked child
// under a watchdog (run_in_child).
#include "sigrelay/event.hpp"

#include <gtest/gtest.h>

#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>
#include <algorithm>
#include <csignal>
#include <cstdint>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "support/child.hpp"
#include "support/event_base.hpp"
#include "support/platform.hpp"
#include "support/signal_helpers.hpp"
#include "support/signal_state.hpp"

namespace {

using sigrelay::origin_kind;
using sigrelay::signal_event;
using sigrelay::test::send_from_other_process;
using sigrelay::test::send_how;

constexpr bool kThreadSanitizer = SIGRELAY_TEST_UNDER_TSAN;

using sigrelay::test::base;

// A one-shot (after 0 ms) or repeating (every 1 ms) timer calling `fn`; it stops when `fn` returns false.
struct timer {
  std::function<bool()> fn;
  ::event* ev;
  timer(event_base* b, bool repeat, std::function<bool()> f) : fn(std::move(f)) {
    ev = event_new(
        b, -1, repeat ? EV_PERSIST : 0,
        [](evutil_socket_t, short, void* arg) {
          auto* self = static_cast<timer*>(arg);
          if (!self->fn()) event_del(self->ev);
        },
        this);
    const timeval every{0, repeat ? 1000 : 0};
    event_add(ev, &every);
  }
  ~timer() { event_free(ev); }
};

using sigrelay::test::differences;
using sigrelay::test::signal_state;
using sigrelay::test::snapshot;

using sigrelay::test::install_prior_state;
using sigrelay::test::prior_handler_calls;

// Header, "Callback": "It may call stop(), start(), or destroy the watcher." and start(): "Starts
// (or restarts, replacing the callback) handing events to `cb`." So once the callback has called
// start(B), the next event, even one drained in the same batch, goes to B, not to the callback it
// replaced. (event_test.cc only replaces it with one event per batch.)
TEST(EventContract, ReplacingTheCallbackMidBatchSendsTheRestOfTheBatchToTheNewOne) {
  SIGRELAY_IN_CHILD(
      [] {
        sigrelay::test::prepare_signals({SIGUSR1, SIGUSR2, SIGHUP});
        base b;
        sigrelay::event::signal_watcher w(b.get(), {SIGUSR1, SIGUSR2, SIGHUP});
        // Three standard signals recorded before start(): one drained batch of three events.
        kill(getpid(), SIGUSR1);
        kill(getpid(), SIGUSR2);
        kill(getpid(), SIGHUP);
        int old_calls = 0, new_calls = 0;
        // Whichever callback gets the third event stops the watcher, so the bug fails, not hangs.
        ASSERT_EQ(0, w.start([&](const signal_event&) {
          if (++old_calls + new_calls == 3) {
            w.stop();
            return;
          }
          w.start([&](const signal_event&) {
            if (old_calls + ++new_calls == 3) w.stop();
          });
        }));
        event_base_dispatch(b.get());
        EXPECT_EQ(1, old_calls) << "events after start(new) went to the replaced callback";
        EXPECT_EQ(2, new_calls);
      },
      10);
}

// Header, "Thread safety": "every watcher of a signal receives every delivery"; "Callback": "Each
// activation hands out one drained batch (at most one event per standard signal, plus queued realtime
// records)"; file comment: "loses nothing while stopped"; dropped(): "Realtime deliveries lost to a
// full ring". Two watchers of one realtime signal on ONE base (evsignal would run both events too),
// one with a ring of 8 (signals.hpp: a delivery that finds the ring full is held in the kernel, "so
// nothing is dropped"), one with the default ring. A sigqueue() flood of 100, sent while the base is
// busy inside a timer callback: each watcher gets every value, in order, each an event of count 1.
// Under ThreadSanitizer and on the posix platform layer holds are impossible (signals.hpp): there
// each delivery is handed out or counted by dropped(), exactly once.
TEST(EventContract, TwoWatchersOnOneBaseGetARealtimeFloodExactly) {
  SIGRELAY_IN_CHILD(
      [] {
        const int rt = SIGRTMIN + 4;
        const int n = 100;
        const bool holds = !kThreadSanitizer && !sigrelay::test::posix_platform();
        sigrelay::test::prepare_signals({rt});
        base b;
        sigrelay::signals_options small;
        small.realtime_capacity = 8;
        struct one {
          std::unique_ptr<sigrelay::event::signal_watcher> w;
          std::vector<int> values;
          std::uint64_t total = 0;
          pid_t from = 0;
        } watchers[2];
        watchers[0].w =
            std::make_unique<sigrelay::event::signal_watcher>(b.get(), std::initializer_list<int>{rt}, small);
        watchers[1].w =
            std::make_unique<sigrelay::event::signal_watcher>(b.get(), std::initializer_list<int>{rt});
        for (one& x : watchers) {
          ASSERT_EQ(0, x.w->start([&x, rt](const signal_event& e) {
            EXPECT_EQ(rt, e.signo);
            EXPECT_EQ(origin_kind::queue, e.last.kind);
            x.total += e.count;
            x.from = e.last.pid;
            x.values.push_back(e.last.value.sival_int);
          }));
        }
        pid_t sender_pid = 0;
        timer sender(b.get(), false, [&] {
          sender_pid = send_from_other_process(rt, send_how::queue, 0, n);  // the base is busy in here
          return false;
        });
        auto finished = [&](const one& x) {
          return x.total + x.w->dropped() >= static_cast<std::uint64_t>(n);
        };
        timer check(b.get(), true, [&] {
          if (!finished(watchers[0]) || !finished(watchers[1])) return true;
          for (one& x : watchers) x.w->stop();
          return false;
        });
        event_base_dispatch(b.get());  // a lost delivery keeps `check` going: the watchdog fails it
        std::vector<int> want;
        for (int i = 0; i < n; ++i) want.push_back(i);
        for (const one& x : watchers) {
          const std::uint64_t dropped = x.w->dropped();
          EXPECT_EQ(static_cast<std::uint64_t>(n), x.total + dropped);
          EXPECT_EQ(x.values.size(), x.total) << "every realtime event stands for one delivery";
          EXPECT_EQ(sender_pid, x.from);
          if (holds) {
            EXPECT_EQ(0u, dropped);
            EXPECT_EQ(want, x.values);
          } else {
            EXPECT_TRUE(std::is_sorted(x.values.begin(), x.values.end()));
          }
        }
      },
      60);
}

// Header, file comment: "it chains with every other handler of the signal (through sigrelay's
// registry; libevent keeps one handler per signal per process and restores the old one only when its
// own event goes)"; destructor: "Frees the event and unsubscribes". So the program's own SIGUSR1
// handler still runs for each delivery while the watcher exists, and after destruction every
// disposition (handler, flags, sa_mask of all signals, the ignored SIGHUP included) and the thread's
// mask are exactly as before the watcher.
void state_restored_after_destruction(sigrelay::backend backend) {
  const int rt = SIGRTMIN + 5;
  install_prior_state(rt);
  const signal_state before = snapshot();
  {
    base b;
    sigrelay::signals_options opts;
    opts.backend = backend;
    sigrelay::event::signal_watcher w(b.get(), {SIGUSR1, SIGUSR2, SIGHUP, rt}, opts);
    // The snapshot sees the watcher (so the comparison after it is not vacuous).
    EXPECT_NE("", differences(before, snapshot()));
    kill(getpid(), SIGUSR1);
    kill(getpid(), SIGUSR2);
    union sigval v {};
    v.sival_int = 9;
    sigqueue(getpid(), rt, v);
    std::vector<int> got;
    ASSERT_EQ(0, w.start([&](const signal_event& e) {
      got.push_back(e.signo);
      if (got.size() == 3) w.stop();
    }));
    event_base_dispatch(b.get());
    std::sort(got.begin(), got.end());
    EXPECT_EQ((std::vector<int>{SIGUSR1, SIGUSR2, rt}), got);
    EXPECT_EQ(1, prior_handler_calls()) << "the program's SIGUSR1 handler was not chained";
  }
  const signal_state after = snapshot();
  EXPECT_EQ("", differences(before, after));
}

TEST(EventContract, DestructionRestoresEveryDispositionAndTheMask) {
  SIGRELAY_IN_CHILD([] {
    state_restored_after_destruction(sigrelay::backend::relay);
    if (!sigrelay::test::posix_platform()) state_restored_after_destruction(sigrelay::backend::signalfd);
  });
}

// Header, destructor: "Frees the event and unsubscribes; events not handed out are dropped." Two
// watchers with a delivery each ready in the same loop iteration (both events active); the first
// callback to run destroys the other watcher while the other's event is still active: the destroyed
// watcher's callback never runs, nothing touches its memory (ASan), its signal is unsubscribed at
// once, and event_base_dispatch() returns.
TEST(EventContract, DestroyingAnotherWatcherWhoseCallbackIsPendingInTheSameIteration) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1, SIGUSR2});
    base bs;
    auto a = std::make_unique<sigrelay::event::signal_watcher>(bs.get(), std::initializer_list<int>{SIGUSR1});
    auto b = std::make_unique<sigrelay::event::signal_watcher>(bs.get(), std::initializer_list<int>{SIGUSR2});
    kill(getpid(), SIGUSR1);
    kill(getpid(), SIGUSR2);
    int a_calls = 0, b_calls = 0;
    int destroyed_signo = 0;
    ASSERT_EQ(0, a->start([&](const signal_event&) {
      ++a_calls;
      if (b) {
        b.reset();
        destroyed_signo = SIGUSR2;
      }
      a->stop();
    }));
    ASSERT_EQ(0, b->start([&](const signal_event&) {
      ++b_calls;
      if (a) {
        a.reset();
        destroyed_signo = SIGUSR1;
      }
      b->stop();
    }));
    event_base_dispatch(bs.get());
    EXPECT_EQ(1, a_calls + b_calls) << "the destroyed watcher's callback ran";
    ASSERT_NE(0, destroyed_signo);
    EXPECT_TRUE(sigrelay::test::is_default_disposition(destroyed_signo));
    a.reset();
    b.reset();
  });
}

}  // namespace
