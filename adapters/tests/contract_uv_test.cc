// SPDX-License-Identifier: MIT
// adapters/tests/contract_uv_test.cc — an adversarial audit of the promises in <sigrelay/uv.hpp>,
// with real signals against Debian's libuv, covering what uv_test.cc does not: replacing the
// callback in the middle of a drained batch, two watchers of one signal on one loop (libuv's own
// uv_signal_t gives every handle every delivery), a realtime sigqueue() flood while the loop is
// busy (every value, in order, exactly counted; also with a ring small enough to force holds), the
// whole signal state (every sigaction, the thread mask) as it was after close(), on both backends,
// a fork() child running its own loop (and the parent's loop stopped with uv_stop() and run again),
// destroying a watcher whose callback is pending, and signals sent through a pidfd. Each test
// quotes the promise it checks; each body runs in a forked child under a watchdog (run_in_child), so
// a hang or a crash fails one test, not the runner.
#include "sigrelay/uv.hpp"

#include <gtest/gtest.h>

#include <pthread.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "support/child.hpp"
#include "support/platform.hpp"
#include "support/signal_helpers.hpp"
#include "support/signal_state.hpp"
#include "support/uv_loop.hpp"

namespace {

using sigrelay::origin_kind;
using sigrelay::signal_event;
using sigrelay::test::send_from_other_process;
using sigrelay::test::send_how;

constexpr bool kThreadSanitizer = SIGRELAY_TEST_UNDER_TSAN;

using sigrelay::test::loop;

using sigrelay::test::differences;
using sigrelay::test::signal_state;
using sigrelay::test::snapshot;

using sigrelay::test::install_prior_state;
using sigrelay::test::prior_handler_calls;

// Header, "Callback": "It may call stop(), start(), close(), or destroy the watcher." and start():
// "Starts (or restarts, replacing the callback) handing events to `cb`." So once the callback has
// called start(B), the next event, even one drained in the same batch, goes to B, not to the
// callback it replaced. (uv_test.cc only replaces it with one event per batch.)
TEST(UvContract, ReplacingTheCallbackMidBatchSendsTheRestOfTheBatchToTheNewOne) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1, SIGUSR2, SIGHUP});
    loop l;
    sigrelay::uv::signal_watcher w(l.get(), {SIGUSR1, SIGUSR2, SIGHUP});
    // Three standard signals recorded before start(): one drained batch of three events.
    kill(getpid(), SIGUSR1);
    kill(getpid(), SIGUSR2);
    kill(getpid(), SIGHUP);
    int old_calls = 0, new_calls = 0;
    // Whichever callback gets the third event stops the watcher, so the bug fails and does not hang.
    ASSERT_EQ(0, w.start([&](const signal_event&) {
      if (++old_calls + new_calls == 3) {
        w.stop();
        return;
      }
      w.start([&](const signal_event&) {
        if (old_calls + ++new_calls == 3) w.stop();
      });
    }));
    uv_run(l.get(), UV_RUN_DEFAULT);
    EXPECT_EQ(1, old_calls) << "events after start(new) went to the replaced callback";
    EXPECT_EQ(2, new_calls);
  });
}

// Header, "Thread safety": "every watcher of a signal receives every delivery" (as uv_signal_t:
// every handle of the signal gets it); file comment: "tells who sent each signal". Two watchers on
// ONE loop, the same signals, sent every way a process can: kill() and sigqueue() (values 40..42)
// from one process each, and pidfd_send_signal() from a third, once with no siginfo (the kernel
// fills SI_USER) and once with a SI_QUEUE siginfo carrying 43. Both watchers see SIGUSR1 once (kind
// user, the killer), SIGUSR2 once (kind user, the pidfd sender) and the four values in order, the
// last one as kind queue from the pidfd sender.
TEST(UvContract, TwoWatchersOnOneLoopGetEveryDeliveryFromEverySender) {
  SIGRELAY_IN_CHILD([] {
    const int rt = SIGRTMIN + 3;
    sigrelay::test::prepare_signals({SIGUSR1, SIGUSR2, rt});
    loop l;
    sigrelay::uv::signal_watcher a(l.get(), {SIGUSR1, SIGUSR2, rt});
    sigrelay::uv::signal_watcher b(l.get(), {SIGUSR1, SIGUSR2, rt});
    const pid_t killer = send_from_other_process(SIGUSR1);
    const pid_t queuer = send_from_other_process(rt, send_how::queue, 40, 3);
    const pid_t target = getpid();
    const pid_t pidfd_sender = fork();
    ASSERT_GE(pidfd_sender, 0);
    if (pidfd_sender == 0) {
      const int fd = static_cast<int>(syscall(SYS_pidfd_open, target, 0));
      if (fd < 0) _exit(2);
      if (syscall(SYS_pidfd_send_signal, fd, SIGUSR2, nullptr, 0) != 0) _exit(3);
      siginfo_t info{};
      info.si_signo = rt;
      info.si_code = SI_QUEUE;
      info.si_pid = getpid();
      info.si_uid = getuid();
      info.si_value.sival_int = 43;
      if (syscall(SYS_pidfd_send_signal, fd, rt, &info, 0) != 0) _exit(4);
      _exit(0);
    }
    ASSERT_TRUE(sigrelay::test::exited_with(sigrelay::test::wait_with_deadline(pidfd_sender, 10), 0))
        << "2: pidfd_open failed, 3/4: pidfd_send_signal failed";
    struct seen {
      std::uint64_t usr1 = 0, usr2 = 0;
      std::vector<int> values;
    } sa, sb;
    auto on = [&](seen& s, sigrelay::uv::signal_watcher& w) {
      return [&s, &w, killer, queuer, pidfd_sender, rt](const signal_event& e) {
        if (e.signo == SIGUSR1) {
          s.usr1 += e.count;
          EXPECT_EQ(killer, e.last.pid);
          EXPECT_EQ(origin_kind::user, e.last.kind);
        } else if (e.signo == SIGUSR2) {
          s.usr2 += e.count;
          EXPECT_EQ(pidfd_sender, e.last.pid);
          EXPECT_EQ(origin_kind::user, e.last.kind);
        } else {
          EXPECT_EQ(rt, e.signo);
          EXPECT_EQ(1u, e.count);
          EXPECT_EQ(origin_kind::queue, e.last.kind);
          EXPECT_EQ(e.last.value.sival_int == 43 ? pidfd_sender : queuer, e.last.pid);
          s.values.push_back(e.last.value.sival_int);
        }
        if (s.usr1 >= 1 && s.usr2 >= 1 && s.values.size() >= 4) w.stop();
      };
    };
    ASSERT_EQ(0, a.start(on(sa, a)));
    ASSERT_EQ(0, b.start(on(sb, b)));
    uv_run(l.get(), UV_RUN_DEFAULT);  // returns once both stopped: a missed delivery hangs (watchdog)
    for (const seen* s : {&sa, &sb}) {
      EXPECT_EQ(1u, s->usr1);
      EXPECT_EQ(1u, s->usr2);
      EXPECT_EQ((std::vector<int>{40, 41, 42, 43}), s->values);
    }
  });
}

// Header, "Callback": "Each poll hands out one drained batch (at most one event per standard signal,
// plus queued realtime records)"; file comment: "loses nothing"; dropped(): "Realtime deliveries lost
// to a full ring that could not hold them in the kernel". A sigqueue() flood sent while the loop is
// busy inside a timer callback: every value comes out, in order, each as an event of count 1, and
// nothing is dropped — with the default ring and with a ring of 8 (which forces holds). Under
// ThreadSanitizer and on the posix platform layer holds are impossible (signals.hpp): there every
// delivery is either handed out or counted by dropped(), never both, never neither.
void flood_while_busy(std::size_t capacity, int n) {
  const int rt = SIGRTMIN + 4;
  sigrelay::test::prepare_signals({rt});
  loop l;
  sigrelay::signals_options opts;
  opts.realtime_capacity = capacity;
  sigrelay::uv::signal_watcher w(l.get(), {rt}, opts);
  std::vector<int> values;
  std::uint64_t total = 0;
  ASSERT_EQ(0, w.start([&](const signal_event& e) {
    EXPECT_EQ(rt, e.signo);
    total += e.count;
    values.push_back(e.last.value.sival_int);
  }));
  // The flood is sent from a timer callback: the loop is busy inside it while every signal arrives.
  struct flood_ctx {
    int rt, n;
  } ctx{rt, n};
  uv_timer_t sender{};
  uv_timer_init(l.get(), &sender);
  sender.data = &ctx;
  uv_timer_start(
      &sender,
      [](uv_timer_t* t) {
        auto* c = static_cast<flood_ctx*>(t->data);
        send_from_other_process(c->rt, send_how::queue, 0, c->n);
      },
      0, 0);
  uv_timer_t check{};
  uv_timer_init(l.get(), &check);
  struct check_ctx {
    std::uint64_t* total;
    sigrelay::uv::signal_watcher* w;
    int n;
  } cc{&total, &w, n};
  check.data = &cc;
  uv_timer_start(
      &check,
      [](uv_timer_t* t) {
        auto* c = static_cast<check_ctx*>(t->data);
        if (*c->total + c->w->dropped() >= static_cast<std::uint64_t>(c->n)) {
          c->w->stop();
          uv_timer_stop(t);
        }
      },
      1, 1);
  uv_run(l.get(), UV_RUN_DEFAULT);  // a lost delivery keeps `check` running: the watchdog fails it
  const std::uint64_t dropped = w.dropped();
  EXPECT_EQ(static_cast<std::uint64_t>(n), total + dropped);
  EXPECT_EQ(values.size(), total) << "every realtime event stands for one delivery";
  if (!kThreadSanitizer && !sigrelay::test::posix_platform()) {
    EXPECT_EQ(0u, dropped);
    std::vector<int> want;
    for (int i = 0; i < n; ++i) want.push_back(i);
    EXPECT_EQ(want, values);
  } else {
    EXPECT_TRUE(std::is_sorted(values.begin(), values.end()));
  }
  for (uv_timer_t* t : {&sender, &check}) uv_close(reinterpret_cast<uv_handle_t*>(t), nullptr);
  w.close();
}

TEST(UvContract, RealtimeFloodWhileTheLoopIsBusyIsExactlyCounted) {
  SIGRELAY_IN_CHILD(
      [] {
        flood_while_busy(1024, 100);
        flood_while_busy(8, 100);  // a ring of 8: holds
      },
      60);
}

// Header, file comment: "it chains with every other handler of the signal (through sigrelay's
// registry; uv_signal_t forgets the previous handler and resets the signal to SIG_DFL when its last
// watcher stops)"; close(): "Unsubscribes". So: the program's own SIGUSR1 handler still runs for each
// delivery while the watcher exists, and after close() every disposition (handler, flags, sa_mask of
// all signals, the ignored SIGHUP included) and the thread's mask are exactly as before the watcher.
void state_restored_after_close(sigrelay::backend backend) {
  const int rt = SIGRTMIN + 5;
  install_prior_state(rt);
  const signal_state before = snapshot();
  {
    loop l;
    sigrelay::signals_options opts;
    opts.backend = backend;
    sigrelay::uv::signal_watcher w(l.get(), {SIGUSR1, SIGUSR2, SIGHUP, rt}, opts);
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
      if (got.size() == 3) w.close();
    }));
    uv_run(l.get(), UV_RUN_DEFAULT);
    std::sort(got.begin(), got.end());
    EXPECT_EQ((std::vector<int>{SIGUSR1, SIGUSR2, rt}), got);
    EXPECT_EQ(1, prior_handler_calls()) << "the program's SIGUSR1 handler was not chained";
  }
  const signal_state after = snapshot();
  EXPECT_EQ("", differences(before, after));
}

TEST(UvContract, CloseRestoresEveryDispositionAndTheMask) {
  SIGRELAY_IN_CHILD([] {
    state_restored_after_close(sigrelay::backend::relay);
    if (!sigrelay::test::posix_platform()) state_restored_after_close(sigrelay::backend::signalfd);
  });
}

// A fork child of a program with a started watcher (uv.hpp, "Fork": "A watcher made from signal
// numbers goes on in a fork child, as a uv_signal_t does ... the callback gets the signals the child
// receives ... The parent's watcher never sees the child's signals"). The child calls uv_loop_fork()
// as libuv requires, makes a watcher of its own too and signals itself: both get exactly that
// delivery, from the child. The parent's watcher is neither robbed nor woken by the child's signal:
// its next delivery (its own kill()) comes with count 1. The parent's loop is also stopped
// (uv_stop() from the callback) and run again around all this: a signal sent while nobody runs the
// loop is handed out by the next uv_run() (file comment: "loses nothing"). A watcher made from a
// `signals` that does not follow fork is dead in the child (its callback never runs there).
void fork_child_runs_its_own_loop(bool follow) {
  sigrelay::test::prepare_signals({SIGUSR1});
  loop l;
  sigrelay::uv::signal_watcher w = follow
                                       ? sigrelay::uv::signal_watcher(l.get(), {SIGUSR1})
                                       : sigrelay::uv::signal_watcher(l.get(), sigrelay::signals({SIGUSR1}));
  std::vector<signal_event> parent_got;
  ASSERT_EQ(0, w.start([&](const signal_event& e) {
    parent_got.push_back(e);
    uv_stop(l.get());
  }));
  kill(getpid(), SIGUSR1);
  uv_run(l.get(), UV_RUN_DEFAULT);  // the poll is in the loop's epoll set now
  ASSERT_EQ(1u, parent_got.size());
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (uv_loop_fork(l.get()) != 0) _exit(10);
    int code = 0;
    {
      sigrelay::uv::signal_watcher mine(l.get(), {SIGUSR1});
      std::uint64_t count = 0;
      pid_t from = 0;
      mine.start([&](const signal_event& e) {
        count += e.count;
        from = e.last.pid;
        uv_stop(l.get());
      });
      kill(getpid(), SIGUSR1);
      alarm(10);
      while (count == 0 || (follow && parent_got.size() < 2)) uv_run(l.get(), UV_RUN_DEFAULT);
      uv_run(l.get(), UV_RUN_NOWAIT);
      if (count != 1) {
        code = 11;
      } else if (from != getpid()) {
        code = 12;
      } else if (parent_got.size() != (follow ? 2u : 1u)) {
        code = 13;
      } else if (follow && (parent_got[1].count != 1 || parent_got[1].last.pid != getpid())) {
        code = 14;
      }
      mine.close();
    }
    w.close();
    uv_run(l.get(), UV_RUN_NOWAIT);
    _exit(code);
  }
  const int status = sigrelay::test::wait_with_deadline(child, 20);
  EXPECT_TRUE(sigrelay::test::exited_with(status, 0))
      << "10: uv_loop_fork failed, 11: wrong count, 12: wrong sender, 13: the inherited watcher "
         "ran (or did not: follow = "
      << follow << "), 14: it got a wrong event";
  kill(getpid(), SIGUSR1);
  uv_run(l.get(), UV_RUN_DEFAULT);
  ASSERT_EQ(2u, parent_got.size());
  EXPECT_EQ(1u, parent_got[1].count) << "the child's signal reached the parent's watcher";
  EXPECT_EQ(getpid(), parent_got[1].last.pid);
  w.close();
}

TEST(UvContract, ForkChildRunsItsOwnLoopAndTheParentsLoopRunsAgain) {
  SIGRELAY_IN_CHILD([] { fork_child_runs_its_own_loop(true); });
}

TEST(UvContract, ForkChildOfAWatcherWhoseSourceDoesNotFollowKeepsItDead) {
  SIGRELAY_IN_CHILD([] { fork_child_runs_its_own_loop(false); });
}

// Header, "Lifecycle": "close() (or the destructor) unsubscribes at once and uv_close()s them";
// "Events not handed out are dropped." Two watchers with a delivery each ready in the same loop
// iteration; the first callback to run destroys the other watcher while the other's poll event is
// pending: the destroyed watcher's callback never runs, nothing touches its memory (ASan), its
// signal is unsubscribed at once, and the loop ends cleanly (the fixture checks no handle is left).
TEST(UvContract, DestroyingAnotherWatcherWhoseCallbackIsPendingInTheSameIteration) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1, SIGUSR2});
    loop l;
    auto a = std::make_unique<sigrelay::uv::signal_watcher>(l.get(), std::initializer_list<int>{SIGUSR1});
    auto b = std::make_unique<sigrelay::uv::signal_watcher>(l.get(), std::initializer_list<int>{SIGUSR2});
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
    uv_run(l.get(), UV_RUN_DEFAULT);
    EXPECT_EQ(1, a_calls + b_calls) << "the destroyed watcher's callback ran";
    ASSERT_NE(0, destroyed_signo);
    EXPECT_TRUE(sigrelay::test::is_default_disposition(destroyed_signo));
    a.reset();
    b.reset();
  });
}

}  // namespace
