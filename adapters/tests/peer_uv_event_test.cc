// SPDX-License-Identifier: MIT
// adapters/tests/peer_uv_event_test.cc — libuv's and libevent's own signal test scenarios, ported to
// sigrelay::uv::signal_watcher and sigrelay::event::signal_watcher, with real signals against
// Debian's libuv and libevent.
//
// libuv (test/test-signal.c, test-signal-multiple-loops.c, test-signal-pending-on-close.c, the
// signal tests of test-fork.c, uv_signal_start_oneshot and the errors of docs/src/signal.rst) and
// libevent (the signal tests of test/regress.c: simplesignal, simplestsignal, multiplesignal,
// immediatesignal, signal_free_in_callback, signal_dealloc, signal_pipeloss, signal_switchbase,
// signal_assert, signal_restore, signal_while_processing, and the signal part of test_fork). Each
// test names the peer test it ports. Where sigrelay deliberately differs (it chains with the previous
// handler instead of replacing it, keeps recording while stopped, gives every base every delivery),
// the test asserts sigrelay's documented behaviour and
// says "Differs from". Beyond the peers' own tests: libuv issue #3483 (a fork child spinning on a
// signal the parent had not dispatched) on both adapters and after _Fork(), a source closed from
// another thread, a moved-from source, libuv's uv_spawn() and libevent's evsignal on the same signal
// as a watcher, an earlier handler leaving by siglongjmp(), and a realtime flood on one CPU across
// stop/start cycles. Each body runs in a forked child under a watchdog (run_in_child), so a hang or a
// crash fails one test, not the runner.
#include <event2/event.h>
#include <uv.h>

#include <gtest/gtest.h>

#include <setjmp.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "sigrelay/describe.hpp"
#include "sigrelay/event.hpp"
#include "sigrelay/uv.hpp"
#include "support/child.hpp"
#include "support/descriptors.hpp"
#include "support/event_base.hpp"
#include "support/flood_limit.hpp"
#include "support/platform.hpp"
#include "support/signal_helpers.hpp"
#include "support/signal_state.hpp"
#include "support/uv_loop.hpp"

namespace {

using namespace std::chrono_literals;
using sigrelay::signal_event;
using sigrelay::test::differences;
using sigrelay::test::is_default_disposition;
using sigrelay::test::snapshot;
using sigrelay::test::wait_until_true;

using sigrelay::test::base;
using sigrelay::test::loop;

// A uv timer that calls `fn` every `every_ms` until it returns false, then closes itself.
struct uv_ticker {
  uv_timer_t timer{};
  std::function<bool()> fn;
  uv_ticker(uv_loop_t* l, std::uint64_t every_ms, std::function<bool()> f) : fn(std::move(f)) {
    uv_timer_init(l, &timer);
    timer.data = this;
    uv_timer_start(
        &timer,
        [](uv_timer_t* t) {
          auto* self = static_cast<uv_ticker*>(t->data);
          if (!self->fn()) uv_close(reinterpret_cast<uv_handle_t*>(t), nullptr);
        },
        every_ms, every_ms);
  }
};

// Sets SIGALRM to come once in 100 ms (libevent's simplesignal and multiplesignal).
void alarm_in_100ms() {
  itimerval itv{};
  itv.it_value.tv_usec = 100000;
  ASSERT_EQ(0, setitimer(ITIMER_REAL, &itv, nullptr));
}

// ---------------------------------------------------------------------------------------------
// libuv

// test-signal.c, we_get_signal: a timer raise()s SIGCHLD ten times; the watcher stops after ten
// deliveries; the timer raises ten more while it is stopped; the watcher is started again and
// close()s itself after ten more. Differs from libuv: uv_signal_t loses what arrives while stopped,
// sigrelay keeps recording (uv.hpp: "Stops handing out events; they keep being recorded, and go to
// the callback after start()"), so the restart first hands out the ten raised meanwhile as one
// coalesced SIGCHLD event of count 10.
TEST(PeerUv, WeGetSignalStopRestartAndClose) {
  SIGRELAY_IN_CHILD([] {
    constexpr std::uint64_t n = 10;
    sigrelay::test::prepare_signals({SIGCHLD});
    loop l;
    sigrelay::uv::signal_watcher w(l.get(), {SIGCHLD});
    std::uint64_t total = 0;
    int calls = 0;
    ASSERT_EQ(0, w.start([&](const signal_event& e) {
      EXPECT_EQ(SIGCHLD, e.signo);
      ++calls;
      total += e.count;
      if (total == n) w.stop();
    }));
    std::uint64_t raised = 0;
    auto raise_ten = [&] {
      return [&raised, stop_at = raised + n] {
        raise(SIGCHLD);
        return ++raised < stop_at;
      };
    };
    {
      uv_ticker t(l.get(), 5, raise_ten());
      EXPECT_EQ(0, uv_run(l.get(), UV_RUN_DEFAULT));
    }
    EXPECT_EQ(n, raised);
    EXPECT_EQ(n, total);
    EXPECT_FALSE(w.is_active());
    // Stopped: the timer raises ten more; nothing is handed out.
    const int calls_before = calls;
    {
      uv_ticker t(l.get(), 5, raise_ten());
      EXPECT_EQ(0, uv_run(l.get(), UV_RUN_DEFAULT));
    }
    EXPECT_EQ(2 * n, raised);
    EXPECT_EQ(calls_before, calls) << "the callback ran while stopped";
    // Started again, closing after ten more.
    std::vector<std::uint64_t> counts;
    int closed = 0;
    ASSERT_EQ(0, w.start([&](const signal_event& e) {
      counts.push_back(e.count);
      total += e.count;
      if (total == 3 * n) w.close([&] { ++closed; });
    }));
    {
      uv_ticker t(l.get(), 5, raise_ten());
      EXPECT_EQ(0, uv_run(l.get(), UV_RUN_DEFAULT));
    }
    EXPECT_EQ(3 * n, total);
    ASSERT_FALSE(counts.empty());
    EXPECT_EQ(n, counts.front()) << "the ten raised while stopped were not kept as one event";
    EXPECT_EQ(1, closed);
    EXPECT_TRUE(is_default_disposition(SIGCHLD));
  });
}

// test-signal.c, we_get_signals: two watchers on SIGUSR1 and two on SIGUSR2, one loop, two timers
// raising ten of each; every watcher gets all ten of its signal (libuv: every handle of a signal gets
// each delivery) and close()s itself; uv_run() then returns 0.
TEST(PeerUv, WeGetSignalsFourWatchersOnTwoSignals) {
  SIGRELAY_IN_CHILD([] {
    constexpr std::uint64_t n = 10;
    sigrelay::test::prepare_signals({SIGUSR1, SIGUSR2});
    loop l;
    struct ctx {
      int signo;
      std::unique_ptr<sigrelay::uv::signal_watcher> w;
      std::uint64_t total = 0;
    };
    std::vector<ctx> cs(4);
    for (int i = 0; i < 4; ++i) {
      cs[i].signo = i < 2 ? SIGUSR1 : SIGUSR2;
      cs[i].w =
          std::make_unique<sigrelay::uv::signal_watcher>(l.get(), std::initializer_list<int>{cs[i].signo});
    }
    for (ctx& c : cs) {
      ASSERT_EQ(0, c.w->start([&c](const signal_event& e) {
        EXPECT_EQ(c.signo, e.signo);
        c.total += e.count;
        if (c.total == n) c.w->close();
      }));
    }
    int r1 = 0, r2 = 0;
    uv_ticker t1(l.get(), 5, [&] {
      raise(SIGUSR1);
      return ++r1 < static_cast<int>(n);
    });
    uv_ticker t2(l.get(), 5, [&] {
      raise(SIGUSR2);
      return ++r2 < static_cast<int>(n);
    });
    EXPECT_EQ(0, uv_run(l.get(), UV_RUN_DEFAULT));
    for (const ctx& c : cs) EXPECT_EQ(n, c.total) << sigrelay::signal_name(c.signo);
    EXPECT_TRUE(is_default_disposition(SIGUSR1));
    EXPECT_TRUE(is_default_disposition(SIGUSR2));
  });
}

// test-signal-pending-on-close.c, signal_pending_on_close: a 16 MiB write to a pipe whose read end
// is closed raises SIGPIPE; the write callback (status UV_EPIPE) closes the pipe and the SIGPIPE
// watcher while that SIGPIPE is pending for it. The watcher's callback never runs, both close
// callbacks run, uv_run() returns 0 and the loop closes (the fixture checks it).
TEST(PeerUv, ClosingWithASigpipePendingNeverRunsTheCallback) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGPIPE});
    loop l;
    sigrelay::uv::signal_watcher w(l.get(), {SIGPIPE});
    ASSERT_EQ(0, w.start([](const signal_event&) { ADD_FAILURE() << "callback after close()"; }));
    int fds[2];
    ASSERT_EQ(0, pipe(fds));
    uv_pipe_t p{};
    ASSERT_EQ(0, uv_pipe_init(l.get(), &p, 0));
    ASSERT_EQ(0, uv_pipe_open(&p, fds[1]));
    std::vector<char> data(1 << 24, '.');
    uv_buf_t buf = uv_buf_init(data.data(), static_cast<unsigned>(data.size()));
    struct ctx {
      uv_pipe_t* p;
      sigrelay::uv::signal_watcher* w;
      int status = 1;
      int closed = 0;
    } c{&p, &w};
    uv_write_t req{};
    req.data = &c;
    p.data = &c;
    ASSERT_EQ(0, uv_write(&req, reinterpret_cast<uv_stream_t*>(&p), &buf, 1, [](uv_write_t* r, int status) {
                auto* cx = static_cast<ctx*>(r->data);
                cx->status = status;
                uv_close(reinterpret_cast<uv_handle_t*>(cx->p),
                         [](uv_handle_t* h) { ++static_cast<ctx*>(h->data)->closed; });
                cx->w->close([cx] { ++cx->closed; });
              }));
    close(fds[0]);  // the next write raises SIGPIPE
    EXPECT_EQ(0, uv_run(l.get(), UV_RUN_DEFAULT));
    EXPECT_EQ(UV_EPIPE, c.status);
    EXPECT_EQ(2, c.closed);
    EXPECT_TRUE(is_default_disposition(SIGPIPE));
  });
}

// test-signal-pending-on-close.c, signal_delivered_in_handler: a worker thread's loop has a SIGUSR1
// watcher, the main thread's loop another. SIGUSR1 is raised; the worker's callback runs, SIGUSR1 is
// raised again while it runs, and the callback close()s its watcher: its callback ran once (what was
// recorded for it meanwhile is dropped, uv.hpp: "Events not handed out are dropped"), the worker's
// loop ends, and SIGUSR1 is still caught (the main watcher). The main loop then gets both deliveries
// (a count of 2 in all), and once it closes SIGUSR1 is SIG_DFL again.
TEST(PeerUv, SignalArrivingWhileItsCallbackRunsAndItClosesTheWatcher) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1});
    std::atomic<int> stage{0};  // 1: worker set up, 2: raised, 3: worker in callback, 4: raised again
    std::atomic<int> worker_calls{0};
    std::atomic<bool> still_caught{false};
    std::thread worker([&] {
      sigrelay::test::block_signals_in_this_thread();
      loop wl;
      sigrelay::uv::signal_watcher ww(wl.get(), {SIGUSR1});
      ASSERT_EQ(0, ww.start([&](const signal_event&) {
        ++worker_calls;
        stage = 3;
        EXPECT_TRUE(wait_until_true([&] { return stage.load() == 4; }, 10s));
        ww.close();
        still_caught = !is_default_disposition(SIGUSR1);
      }));
      stage = 1;
      EXPECT_TRUE(wait_until_true([&] { return stage.load() >= 2; }, 10s));
      EXPECT_EQ(0, uv_run(wl.get(), UV_RUN_DEFAULT));
    });
    ASSERT_TRUE(wait_until_true([&] { return stage.load() == 1; }, 10s));
    loop l;
    sigrelay::uv::signal_watcher w(l.get(), {SIGUSR1});
    std::uint64_t total = 0;
    ASSERT_EQ(0, w.start([&](const signal_event& e) {
      total += e.count;
      if (total >= 2) w.stop();
    }));
    raise(SIGUSR1);
    stage = 2;
    EXPECT_TRUE(wait_until_true([&] { return stage.load() == 3; }, 10s));
    raise(SIGUSR1);
    stage = 4;
    worker.join();
    EXPECT_EQ(1, worker_calls.load()) << "the closed watcher's callback ran again";
    EXPECT_TRUE(still_caught.load()) << "closing one watcher uncaught a signal another still watches";
    EXPECT_EQ(0u, total) << "the main loop has not run yet";
    uv_run(l.get(), UV_RUN_DEFAULT);
    EXPECT_EQ(2u, total);
    w.close();
    EXPECT_TRUE(is_default_disposition(SIGUSR1)) << "the last watcher's close() left SIGUSR1 caught";
  });
}

// test-signal-pending-on-close.c, signal_close_loop_alive: the callback uv_stop()s the loop; after
// close() the loop is still alive (the close callbacks have not run), the next uv_run() runs them and
// returns 0, and the loop closes.
TEST(PeerUv, ClosedWatcherKeepsTheLoopAliveUntilItsCloseCallbacksRan) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGPIPE});
    loop l;
    sigrelay::uv::signal_watcher w(l.get(), {SIGPIPE});
    ASSERT_EQ(0, w.start([&](const signal_event& e) {
      EXPECT_EQ(SIGPIPE, e.signo);
      uv_stop(l.get());
    }));
    ASSERT_EQ(0, kill(getpid(), SIGPIPE));
    EXPECT_NE(0, uv_run(l.get(), UV_RUN_DEFAULT)) << "uv_stop() with the watcher still active";
    int closed = 0;
    w.close([&] { ++closed; });
    EXPECT_TRUE(w.is_closing());
    EXPECT_FALSE(w.is_active());
    EXPECT_NE(0, uv_loop_alive(l.get()));
    EXPECT_EQ(0, closed) << "on_closed ran before the loop ran the close callbacks";
    EXPECT_EQ(0, uv_run(l.get(), UV_RUN_DEFAULT));
    EXPECT_EQ(1, closed);
  });
}

// test-signal-multiple-loops.c, signal_multiple_loops (scaled to a 2-core machine): six threads, each
// with its own loop and watchers (two on SIGUSR1, one on SIGUSR2, or both kinds) whose callbacks
// stop() them, while two other threads create, start and close watchers of SIGTERM on fresh loops as
// fast as they can (SIGTERM is never sent: their callbacks must never run). Two rounds of one kill()
// of each signal; in the second the main thread blocks them (as libuv's test does), so the handler
// runs in another thread. Every watcher gets exactly one delivery per round.
// Under ThreadSanitizer the threads make and close their loops and watchers one at a time: libuv closes
// its descriptors with a raw system call that ThreadSanitizer does not see, so a descriptor number
// reused by another thread looks like a data race on it.
struct fd_guard {
  std::unique_lock<std::mutex> lock;
  explicit fd_guard(std::mutex& m) : lock(m, std::defer_lock) {
    if (sigrelay::test::kUnderTsan) lock.lock();
  }
};

TEST(PeerUv, ManyLoopsOnManyThreadsWhileOtherThreadsChurnWatchers) {
  SIGRELAY_IN_CHILD(
      [] {
        sigrelay::test::prepare_signals({SIGUSR1, SIGUSR2, SIGTERM});
        constexpr int kThreads = 6, kChurners = 2;
        std::atomic<int> usr1{0}, usr2{0}, ready{0}, churned{0};
        std::atomic<bool> stop_churn{false};
        std::mutex fds;
        std::vector<std::thread> churners;
        for (int i = 0; i < kChurners; ++i) {
          churners.emplace_back([&] {
            sigrelay::test::block_signals_in_this_thread();
            do {
              const fd_guard g(fds);
              loop cl;
              sigrelay::uv::signal_watcher w(cl.get(), {SIGTERM});
              EXPECT_EQ(0, w.start([](const signal_event&) { ADD_FAILURE() << "SIGTERM was never sent"; }));
              w.close();
              EXPECT_EQ(0, uv_run(cl.get(), UV_RUN_DEFAULT));
              ++churned;
            } while (!stop_churn.load());
          });
        }
        std::vector<std::thread> workers;
        for (int i = 0; i < kThreads; ++i) {
          workers.emplace_back([&, kind = i % 3] {
            sigrelay::test::block_signals_in_this_thread();
            std::unique_ptr<loop> owned;
            std::vector<std::unique_ptr<sigrelay::uv::signal_watcher>> ws;
            const std::vector<int> signos = kind == 0   ? std::vector<int>{SIGUSR1, SIGUSR1}
                                            : kind == 1 ? std::vector<int>{SIGUSR2}
                                                        : std::vector<int>{SIGUSR1, SIGUSR1, SIGUSR2};
            {
              const fd_guard g(fds);
              owned = std::make_unique<loop>();
              for (int s : signos)
                ws.push_back(std::make_unique<sigrelay::uv::signal_watcher>(owned->get(),
                                                                            std::initializer_list<int>{s}));
            }
            loop& wl = *owned;
            auto start_all = [&] {
              for (std::size_t j = 0; j < ws.size(); ++j) {
                sigrelay::uv::signal_watcher* w = ws[j].get();
                EXPECT_EQ(0, w->start([w, &usr1, &usr2, want = signos[j]](const signal_event& e) {
                  EXPECT_EQ(want, e.signo);
                  EXPECT_EQ(1u, e.count);
                  (e.signo == SIGUSR1 ? usr1 : usr2) += static_cast<int>(e.count);
                  w->stop();
                }));
              }
            };
            start_all();
            ++ready;
            EXPECT_EQ(0, uv_run(wl.get(), UV_RUN_DEFAULT));
            start_all();
            ++ready;
            EXPECT_EQ(0, uv_run(wl.get(), UV_RUN_DEFAULT));
            const fd_guard g(fds);
            for (auto& w : ws) w->close();
            EXPECT_EQ(0, uv_run(wl.get(), UV_RUN_DEFAULT));
            ws.clear();
            owned.reset();
          });
        }
        ASSERT_TRUE(wait_until_true([&] { return ready.load() == kThreads; }, 20s));
        ASSERT_EQ(0, kill(getpid(), SIGUSR1));
        ASSERT_EQ(0, kill(getpid(), SIGUSR2));
        ASSERT_TRUE(wait_until_true([&] { return ready.load() == 2 * kThreads; }, 20s));
        // Round 2: this thread blocks both; a receiver thread for each takes the handler.
        sigrelay::test::block_signal_in_this_thread(SIGUSR1);
        sigrelay::test::block_signal_in_this_thread(SIGUSR2);
        {
          sigrelay::test::receiver_thread r1(SIGUSR1), r2(SIGUSR2);
          ASSERT_EQ(0, kill(getpid(), SIGUSR1));
          ASSERT_EQ(0, kill(getpid(), SIGUSR2));
          for (auto& t : workers) t.join();
        }
        stop_churn = true;
        for (auto& t : churners) t.join();
        // Per round: SIGUSR1 reaches 2 watchers in each of the 4 threads that have them, SIGUSR2 one
        // watcher in each of 4 threads.
        EXPECT_EQ(2 * 8, usr1.load());
        EXPECT_EQ(2 * 4, usr2.load());
        EXPECT_GE(churned.load(), kChurners);
        EXPECT_TRUE(is_default_disposition(SIGTERM));
      },
      90);
}

// test-fork.c, fork_signal_to_child and fork_signal_to_child_closed: a watcher started before fork();
// the child calls uv_loop_fork() and runs the loop (or first closes the inherited watcher); the parent
// kill()s the child with SIGUSR1. As in libuv (uv.hpp, "Fork": "A watcher made from signal numbers
// goes on in a fork child, as a uv_signal_t does"), the inherited watcher's callback runs in the
// child with SIGUSR1, and the parent's watcher never sees the child's signal; a child that closed the
// inherited watcher first dies by SIGUSR1 (the signal's disposition is back to SIG_DFL).
void fork_signal_to_child(bool close_in_child) {
  sigrelay::test::prepare_signals({SIGUSR1});
  loop l;
  sigrelay::uv::signal_watcher w(l.get(), {SIGUSR1});
  int calls = 0;  // the parent's, and the child's copy in the child
  int last_signo = 0;
  ASSERT_EQ(0, w.start([&](const signal_event& e) {
    ++calls;
    last_signo = e.signo;
  }));
  uv_run(l.get(), UV_RUN_NOWAIT);  // the poll is in the loop's epoll set
  int sync[2];
  ASSERT_EQ(0, pipe(sync));
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    alarm(10);
    if (uv_loop_fork(l.get()) != 0) _exit(10);
    if (close_in_child) {
      w.close();
      uv_run(l.get(), UV_RUN_NOWAIT);
    }
    if (write(sync[1], "1", 1) != 1) _exit(12);
    if (close_in_child) {
      for (;;) pause();
    }
    if (uv_loop_alive(l.get()) == 0) _exit(13);
    uv_run(l.get(), UV_RUN_ONCE);  // returns once the callback ran
    _exit(calls == 1 && last_signo == SIGUSR1 ? 0 : 11);
  }
  char byte;
  ASSERT_EQ(1, read(sync[0], &byte, 1));
  ASSERT_EQ(0, kill(child, SIGUSR1));
  // The parent's loop runs meanwhile (unreferenced, as in libuv's test): the child's signal is not its.
  w.unref();
  EXPECT_EQ(0, uv_run(l.get(), UV_RUN_NOWAIT));
  EXPECT_EQ(0, calls) << "the child's signal reached the parent's watcher";
  const int status = sigrelay::test::wait_with_deadline(child, 20);
  if (close_in_child) {
    EXPECT_TRUE(sigrelay::test::killed_by(status, SIGUSR1)) << sigrelay::test::describe_status(status);
  } else {
    EXPECT_TRUE(sigrelay::test::exited_with(status, 0))
        << "10: uv_loop_fork failed, 11: the inherited watcher's callback did not run with SIGUSR1, 12: "
           "write failed, 13: the child's loop had nothing alive";
  }
  uv_run(l.get(), UV_RUN_NOWAIT);
  EXPECT_EQ(0, calls) << "the child's signal reached the parent's watcher";
  close(sync[0]);
  close(sync[1]);
  w.close();
}

TEST(PeerUv, ForkChildRunningTheInheritedWatcherGetsTheSignal) {
  SIGRELAY_IN_CHILD([] { fork_signal_to_child(false); });
}

TEST(PeerUv, ForkChildThatClosedTheInheritedWatcherDiesByTheSignal) {
  SIGRELAY_IN_CHILD([] { fork_signal_to_child(true); });
}

// libuv issue #3483 ("uv_loop_fork does not fix received signals": a child forked with a signal
// received but not yet dispatched spins at 100% CPU). Here: SIGUSR1 is recorded by the parent's
// started watcher and not handed out yet when the parent forks; the child calls uv_loop_fork() and
// runs its loop for 200 ms with the inherited watcher still started (the parent meanwhile waits for
// the child, so what it recorded stays recorded). The dead inherited watcher must not turn the shared
// descriptor's readiness into a busy loop: the child's loop runs a handful of iterations, not
// thousands. Then, as in the issue, the child closes the inherited watcher and its uv_run() returns.
// The parent's watcher then hands out its SIGUSR1, count 1: the child robbed nothing.
void uv_undrained_fork_child(bool raw) {
  sigrelay::test::prepare_signals({SIGUSR1});
  loop l;
  sigrelay::uv::signal_watcher w(l.get(), {SIGUSR1});
  std::vector<signal_event> got;
  ASSERT_EQ(0, w.start([&](const signal_event& e) {
    got.push_back(e);
    w.stop();
  }));
  uv_run(l.get(), UV_RUN_NOWAIT);  // the poll is in the loop's epoll set
  ASSERT_EQ(0, kill(getpid(), SIGUSR1));
  const pid_t child = raw ? _Fork() : fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    alarm(10);
    if (uv_loop_fork(l.get()) != 0) _exit(10);
    static int iterations = 0;
    uv_check_t check{};
    uv_check_init(l.get(), &check);
    uv_check_start(&check, [](uv_check_t*) { ++iterations; });
    uv_timer_t t{};
    uv_timer_init(l.get(), &t);
    uv_timer_start(
        &t, [](uv_timer_t* h) { uv_stop(h->loop); }, 200, 0);
    uv_run(l.get(), UV_RUN_DEFAULT);
    const int spun = iterations;
    uv_close(reinterpret_cast<uv_handle_t*>(&check), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&t), nullptr);
    w.close();
    if (uv_run(l.get(), UV_RUN_DEFAULT) != 0) _exit(11);
    if (!got.empty()) _exit(12);
    if (spun > 50) _exit(13);
    _exit(0);
  }
  const int status = sigrelay::test::wait_with_deadline(child, 20);
  EXPECT_TRUE(sigrelay::test::exited_with(status, 0))
      << "10: uv_loop_fork failed, 11: uv_run() did not end after close(), 12: the inherited "
         "watcher called back, 13: the child's loop spun on the inherited watcher's descriptor";
  uv_run(l.get(), UV_RUN_DEFAULT);
  ASSERT_EQ(1u, got.size());
  EXPECT_EQ(1u, got[0].count);
  EXPECT_EQ(getpid(), got[0].last.pid);
  w.close();
}

TEST(PeerUv, ForkChildWithAnUndrainedSignalDoesNotSpinItsLoop) {
  SIGRELAY_IN_CHILD([] { uv_undrained_fork_child(false); });
}

// The same with _Fork(), which runs no fork handlers (signals.hpp, "Fork": the inherited objects still never
// read or write the shared descriptors).
TEST(PeerUv, ForkChildWithAnUndrainedSignalDoesNotSpinItsLoopAfterRawFork) {
  SIGRELAY_IN_CHILD([] { uv_undrained_fork_child(true); });
}

// The same fork, with events the parent drained but did not hand out yet (its callback stop()ped in
// the middle of a batch: uv.hpp, "Events left when the callback stop()s stay queued for the next
// start()"). They are the parent's: the child's copy of the watcher is dead (signals.hpp, "Fork"), so
// after uv_loop_fork() and start() in the child its callback never runs, while the parent's next
// start() hands the leftover event out.
TEST(PeerUv, ForkChildDoesNotHandOutTheParentsLeftoverEvents) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1, SIGUSR2});
    loop l;
    sigrelay::uv::signal_watcher w(l.get(), {SIGUSR1, SIGUSR2});
    ASSERT_EQ(0, kill(getpid(), SIGUSR1));
    ASSERT_EQ(0, kill(getpid(), SIGUSR2));
    std::vector<int> got;
    ASSERT_EQ(0, w.start([&](const signal_event& e) {
      got.push_back(e.signo);
      w.stop();
    }));
    EXPECT_EQ(0, uv_run(l.get(), UV_RUN_DEFAULT));
    ASSERT_EQ(1u, got.size());
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      alarm(10);
      if (uv_loop_fork(l.get()) != 0) _exit(10);
      w.start([](const signal_event&) { _exit(12); });
      uv_timer_t t{};
      uv_timer_init(l.get(), &t);
      uv_timer_start(
          &t, [](uv_timer_t* h) { uv_stop(h->loop); }, 100, 0);
      uv_run(l.get(), UV_RUN_DEFAULT);
      uv_close(reinterpret_cast<uv_handle_t*>(&t), nullptr);
      w.close();
      uv_run(l.get(), UV_RUN_NOWAIT);
      _exit(0);
    }
    EXPECT_TRUE(sigrelay::test::exited_with(sigrelay::test::wait_with_deadline(child, 20), 0))
        << "10: uv_loop_fork failed, 12: the child handed out the parent's leftover event";
    ASSERT_EQ(0, w.start([&](const signal_event& e) {
      got.push_back(e.signo);
      w.stop();
    }));
    EXPECT_EQ(0, uv_run(l.get(), UV_RUN_DEFAULT));
    ASSERT_EQ(2u, got.size());
    EXPECT_EQ(SIGUSR1 + SIGUSR2, got[0] + got[1]);
    w.close();
  });
}

// docs/src/signal.rst, uv_signal_start_oneshot(): "the signal handler is reset the moment the signal
// is received". The equivalent is a callback that stop()s: with SIGUSR1 and SIGUSR2 both pending, the
// callback runs once and uv_run() returns 0 (a stopped watcher does not keep the loop alive).
// Differs from libuv, where the second signal then meets SIG_DFL: it stays recorded, and a new start()
// hands it out.
TEST(PeerUv, OneShotByStoppingInTheCallback) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1, SIGUSR2});
    loop l;
    sigrelay::uv::signal_watcher w(l.get(), {SIGUSR1, SIGUSR2});
    ASSERT_EQ(0, kill(getpid(), SIGUSR1));
    ASSERT_EQ(0, kill(getpid(), SIGUSR2));
    std::vector<int> got;
    ASSERT_EQ(0, w.start([&](const signal_event& e) {
      got.push_back(e.signo);
      w.stop();
    }));
    EXPECT_EQ(0, uv_run(l.get(), UV_RUN_DEFAULT));
    ASSERT_EQ(1u, got.size());
    EXPECT_FALSE(w.is_active());
    ASSERT_EQ(0, w.start([&](const signal_event& e) {
      got.push_back(e.signo);
      w.stop();
    }));
    EXPECT_EQ(0, uv_run(l.get(), UV_RUN_DEFAULT));
    ASSERT_EQ(2u, got.size());
    EXPECT_EQ(SIGUSR1 + SIGUSR2, got[0] + got[1]);
    w.close();
  });
}

// uv_signal_start_oneshot() itself: signal_watcher::start_oneshot() hands out one event, the watcher
// stopped before its callback runs (uv.hpp), so uv_run() returns with the other signal still
// recorded (differs from libuv as above: not met by SIG_DFL). A callback that calls start_oneshot()
// again gets the next event in the same way; a later start() makes it an ordinary watcher again.
TEST(PeerUv, StartOneshotHandsOutOneEventAndStops) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1, SIGUSR2, SIGHUP});
    loop l;
    sigrelay::uv::signal_watcher w(l.get(), {SIGUSR1, SIGUSR2, SIGHUP});
    ASSERT_EQ(0, kill(getpid(), SIGUSR1));
    ASSERT_EQ(0, kill(getpid(), SIGUSR2));
    std::vector<int> got;
    bool active_in_callback = true;
    ASSERT_EQ(0, w.start_oneshot([&](const signal_event& e) {
      got.push_back(e.signo);
      active_in_callback = w.is_active();
    }));
    EXPECT_TRUE(w.is_active());
    EXPECT_EQ(0, uv_run(l.get(), UV_RUN_DEFAULT));
    ASSERT_EQ(1u, got.size());
    EXPECT_FALSE(active_in_callback);
    EXPECT_FALSE(w.is_active());
    // Re-armed from its own callback: one more event, then stopped again.
    std::function<void(const signal_event&)> again = [&](const signal_event& e) {
      got.push_back(e.signo);
      if (got.size() == 2) w.start_oneshot(again);
    };
    ASSERT_EQ(0, w.start_oneshot(again));
    ASSERT_EQ(0, kill(getpid(), SIGHUP));
    EXPECT_EQ(0, uv_run(l.get(), UV_RUN_DEFAULT));
    ASSERT_EQ(3u, got.size());
    EXPECT_EQ(SIGUSR1 + SIGUSR2 + SIGHUP, got[0] + got[1] + got[2]);
    EXPECT_FALSE(w.is_active());
    // start() after a oneshot: ordinary again (two signals, two callbacks, still active).
    ASSERT_EQ(0, w.start([&](const signal_event& e) {
      got.push_back(e.signo);
      if (got.size() == 5) uv_stop(l.get());
    }));
    ASSERT_EQ(0, kill(getpid(), SIGUSR1));
    ASSERT_EQ(0, kill(getpid(), SIGUSR2));
    uv_run(l.get(), UV_RUN_DEFAULT);
    EXPECT_EQ(5u, got.size());
    EXPECT_TRUE(w.is_active());
    w.close();
    uv_run(l.get(), UV_RUN_NOWAIT);
  });
}

// docs/src/signal.rst: "SIGKILL and SIGSTOP are impossible to catch"; uv_signal_start() returns
// UV_EINVAL for an invalid signal number (test-signal.c, win32_signum_number: 0, -1, NSIG, 1024).
// Here: the constructor and add() throw std::system_error (uv.hpp, "Errors": "as sigrelay::signals
// does", with the signal's name), and leave every disposition and the mask exactly as they were; no
// handle is left on the loop (the fixture closes it). start() with an empty callback, or once closed,
// returns UV_EINVAL; add() once closed throws std::errc::bad_file_descriptor naming the signal.
TEST(PeerUv, UncatchableAndInvalidSignalsThrowAndChangeNothing) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1});
    loop l;
    const auto before = snapshot();
    for (int bad : {SIGKILL, SIGSTOP, 0, -1, NSIG, 1024}) {
      try {
        sigrelay::uv::signal_watcher w(l.get(), {SIGUSR1, bad});
        ADD_FAILURE() << "no exception for signal " << bad;
      } catch (const std::system_error& e) {
        const std::string want = bad == SIGKILL ? "SIGKILL" : bad == SIGSTOP ? "SIGSTOP" : "";
        EXPECT_NE(std::string::npos, std::string(e.what()).find(want)) << e.what();
      }
      EXPECT_EQ("", differences(before, snapshot())) << "signal " << bad;
    }
    sigrelay::uv::signal_watcher w(l.get(), {SIGUSR1});
    EXPECT_EQ(UV_EINVAL, w.start(nullptr));
    const auto with_watcher = snapshot();
    for (int bad : {SIGKILL, SIGSTOP, 0, NSIG}) {
      EXPECT_THROW(w.add(bad), std::system_error) << bad;
      EXPECT_EQ("", differences(with_watcher, snapshot())) << "signal " << bad;
    }
    w.close();
    EXPECT_EQ(UV_EINVAL, w.start([](const signal_event&) {}));
    try {
      w.add(SIGUSR2);
      ADD_FAILURE() << "add() after close() did not throw";
    } catch (const std::system_error& e) {
      EXPECT_EQ(std::make_error_code(std::errc::bad_file_descriptor), e.code());
      EXPECT_NE(nullptr, std::strstr(e.what(), "SIGUSR2")) << e.what();
    }
    EXPECT_EQ(0u, w.dropped());
  });
}

// libevent regress.c, test_immediatesignal, on libuv: a signal sent before the loop runs is handed out
// by one UV_RUN_NOWAIT run, on both backends.
TEST(PeerUv, ImmediateSignalIsHandedOutByOneNowaitRun) {
  SIGRELAY_IN_CHILD([] {
    for (auto be : {sigrelay::backend::relay, sigrelay::backend::signalfd}) {
      if (be == sigrelay::backend::signalfd && sigrelay::test::posix_platform()) continue;
      sigrelay::test::prepare_signals({SIGUSR1});
      loop l;
      sigrelay::signals_options opts;
      opts.backend = be;
      sigrelay::uv::signal_watcher w(l.get(), {SIGUSR1}, opts);
      int calls = 0;
      ASSERT_EQ(0, w.start([&](const signal_event&) { ++calls; }));
      ASSERT_EQ(0, kill(getpid(), SIGUSR1));
      uv_run(l.get(), UV_RUN_NOWAIT);
      EXPECT_EQ(1, calls) << "backend " << static_cast<int>(be);
      w.close();
    }
  });
}

// libevent regress.c, test_signal_while_processing, on libuv: the callback kill()s its own signal while
// it runs, four times; each is handed out again (a 5 s timer fails the test otherwise).
TEST(PeerUv, SignalRaisedFromItsOwnCallbackIsHandedOutAgain) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1});
    loop l;
    sigrelay::uv::signal_watcher w(l.get(), {SIGUSR1});
    int called = 0;
    bool timed_out = false;
    uv_timer_t guard{};
    uv_timer_init(l.get(), &guard);
    guard.data = &timed_out;
    uv_timer_start(
        &guard,
        [](uv_timer_t* t) {
          *static_cast<bool*>(t->data) = true;
          uv_stop(t->loop);
        },
        5000, 0);
    ASSERT_EQ(0, w.start([&](const signal_event& e) {
      EXPECT_EQ(1u, e.count);
      if (++called < 5) {
        kill(getpid(), SIGUSR1);
      } else {
        uv_timer_stop(&guard);
        w.stop();
      }
    }));
    ASSERT_EQ(0, kill(getpid(), SIGUSR1));
    uv_run(l.get(), UV_RUN_DEFAULT);
    EXPECT_FALSE(timed_out);
    EXPECT_EQ(5, called);
    uv_close(reinterpret_cast<uv_handle_t*>(&guard), nullptr);
    w.close();
  });
}

// libevent regress.c, test_signal_pipeloss, on libuv: watchers on two loops, closed, and the loops
// closed: no descriptor is left open.
TEST(PeerUv, NoDescriptorIsLeftAfterTwoLoopsAreClosed) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1});
    { loop first; }  // libuv's own process-wide descriptors, made by the first uv_loop_init()
    const std::set<int> before = sigrelay::test::open_fds();
    {
      loop l1, l2;
      sigrelay::uv::signal_watcher w1(l1.get(), {SIGUSR1});
      sigrelay::uv::signal_watcher w2(l2.get(), {SIGUSR1});
      ASSERT_EQ(0, w1.start([](const signal_event&) {}));
      ASSERT_EQ(0, w2.start([](const signal_event&) {}));
      uv_run(l1.get(), UV_RUN_NOWAIT);
      uv_run(l2.get(), UV_RUN_NOWAIT);
    }
    EXPECT_EQ(before, sigrelay::test::open_fds());
  });
}

// ---------------------------------------------------------------------------------------------
// libevent

// regress.c, test_simplestsignal and test_simplesignal (the latter with an extra delete/add to "find
// bugs in which operations are re-ordered"): SIGALRM from setitimer(); the callback stops the watcher,
// so event_base_dispatch() returns; a second stop() returns 0 like a second evsignal_del().
void simple_signal(bool reorder) {
  sigrelay::test::prepare_signals({SIGALRM});
  base b;
  sigrelay::event::signal_watcher w(b.get(), {SIGALRM});
  int called = 0;
  auto cb = [&](const signal_event& e) {
    EXPECT_EQ(SIGALRM, e.signo);
    ++called;
    EXPECT_EQ(0, w.stop());
  };
  ASSERT_EQ(0, w.start(cb));
  if (reorder) {
    ASSERT_EQ(0, w.stop());
    ASSERT_EQ(0, w.start(cb));
  }
  alarm_in_100ms();
  EXPECT_NE(-1, event_base_dispatch(b.get()));
  EXPECT_EQ(1, called);
  EXPECT_EQ(0, w.stop());
}

TEST(PeerEvent, SimplestSignal) {
  SIGRELAY_IN_CHILD([] { simple_signal(false); });
}

TEST(PeerEvent, SimpleSignalAfterStartStopStart) {
  SIGRELAY_IN_CHILD([] { simple_signal(true); });
}

// regress.c, test_signal_free_in_callback: two signals pending; the callback destroys the watcher
// (event.hpp: "It may ... destroy the watcher"): it ran once, the rest of the batch is dropped, nothing
// touches freed memory (ASan), the loop ends, and both signals are SIG_DFL again.
TEST(PeerEvent, DestroyingTheWatcherInItsCallbackWithMoreOfTheBatchLeft) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1, SIGUSR2});
    base b;
    auto w = std::make_unique<sigrelay::event::signal_watcher>(b.get(),
                                                               std::initializer_list<int>{SIGUSR1, SIGUSR2});
    ASSERT_EQ(0, kill(getpid(), SIGUSR1));
    ASSERT_EQ(0, kill(getpid(), SIGUSR1));
    ASSERT_EQ(0, kill(getpid(), SIGUSR2));
    int called = 0;
    ASSERT_EQ(0, w->start([&](const signal_event&) {
      ++called;
      w.reset();
    }));
    event_base_loop(b.get(), 0);
    EXPECT_EQ(1, called);
    EXPECT_EQ(nullptr, w);
    EXPECT_TRUE(is_default_disposition(SIGUSR1));
    EXPECT_TRUE(is_default_disposition(SIGUSR2));
  });
}

// regress.c, test_multiplesignal: two watchers of SIGALRM on one base; each stops itself on its
// delivery; both get it, and event_base_dispatch() returns.
TEST(PeerEvent, TwoWatchersOfOneSignalOnOneBaseBothGetIt) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGALRM});
    base b;
    sigrelay::event::signal_watcher one(b.get(), {SIGALRM}), two(b.get(), {SIGALRM});
    int c1 = 0, c2 = 0;
    ASSERT_EQ(0, one.start([&](const signal_event&) {
      ++c1;
      one.stop();
    }));
    ASSERT_EQ(0, two.start([&](const signal_event&) {
      ++c2;
      two.stop();
    }));
    alarm_in_100ms();
    EXPECT_NE(-1, event_base_dispatch(b.get()));
    EXPECT_EQ(1, c1);
    EXPECT_EQ(1, c2);
  });
}

// regress.c, test_immediatesignal: kill() then one event_base_loop(EVLOOP_NONBLOCK): the callback ran.
// On both backends.
TEST(PeerEvent, ImmediateSignalIsHandedOutByOneNonblockingLoop) {
  SIGRELAY_IN_CHILD([] {
    for (auto be : {sigrelay::backend::relay, sigrelay::backend::signalfd}) {
      if (be == sigrelay::backend::signalfd && sigrelay::test::posix_platform()) continue;
      sigrelay::test::prepare_signals({SIGUSR1});
      base b;
      sigrelay::signals_options opts;
      opts.backend = be;
      sigrelay::event::signal_watcher w(b.get(), {SIGUSR1}, opts);
      int calls = 0;
      ASSERT_EQ(0, w.start([&](const signal_event&) {
        ++calls;
        w.stop();
      }));
      ASSERT_EQ(0, kill(getpid(), SIGUSR1));
      event_base_loop(b.get(), EVLOOP_NONBLOCK);
      EXPECT_EQ(1, calls) << "backend " << static_cast<int>(be);
    }
  });
}

// regress.c, test_signal_dealloc (add, delete, event_base_free must not assert) and freeing a base
// that had a signal pending: a watcher started and stopped, then destroyed, then the base freed; and a
// watcher with a delivery recorded but never dispatched, destroyed, then the base freed. Nothing is
// left: SIGUSR1 is SIG_DFL and no descriptor stays open (ASan checks the memory).
TEST(PeerEvent, DeallocAfterStopAndWithASignalPending) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1});
    const std::set<int> before = sigrelay::test::open_fds();
    {
      base b;
      sigrelay::event::signal_watcher w(b.get(), {SIGUSR1});
      ASSERT_EQ(0, w.start([](const signal_event&) {}));
      ASSERT_EQ(0, w.stop());
    }
    {
      base b;
      auto w =
          std::make_unique<sigrelay::event::signal_watcher>(b.get(), std::initializer_list<int>{SIGUSR1});
      ASSERT_EQ(0, w->start([](const signal_event&) { ADD_FAILURE() << "never dispatched"; }));
      ASSERT_EQ(0, kill(getpid(), SIGUSR1));
      w.reset();
      event_base_free(b.raw);
      b.raw = nullptr;
    }
    EXPECT_TRUE(is_default_disposition(SIGUSR1));
    EXPECT_EQ(before, sigrelay::test::open_fds());
  });
}

// regress.c, test_signal_pipeloss ("make sure that the base1 pipe is closed correctly"): two bases
// with a watcher each, destroyed and freed in creation order: every descriptor made is closed.
TEST(PeerEvent, NoDescriptorIsLeftAfterTwoBasesAreFreed) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1});
    const std::set<int> before = sigrelay::test::open_fds();
    {
      base b1, b2;
      auto w1 =
          std::make_unique<sigrelay::event::signal_watcher>(b1.get(), std::initializer_list<int>{SIGUSR1});
      auto w2 =
          std::make_unique<sigrelay::event::signal_watcher>(b2.get(), std::initializer_list<int>{SIGUSR1});
      ASSERT_EQ(0, w1->start([](const signal_event&) {}));
      ASSERT_EQ(0, w2->start([](const signal_event&) {}));
      w2.reset();
      w1.reset();
    }
    EXPECT_EQ(before, sigrelay::test::open_fds());
  });
}

// regress.c, test_signal_switchbase: watchers of SIGUSR1 on two bases; a kill() before either loop
// runs, then one EVLOOP_NONBLOCK run of each, then another kill() and runs in the other order.
// Differs from libevent, where only the base that most recently added a signal or looped gets it
// (event.hpp: "Unlike evsignal, it works on several event_bases at once"): both get every delivery.
TEST(PeerEvent, TwoBasesOnOneSignalBothGetEveryDelivery) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1});
    base b1, b2;
    sigrelay::event::signal_watcher w1(b1.get(), {SIGUSR1}), w2(b2.get(), {SIGUSR1});
    std::uint64_t c1 = 0, c2 = 0;
    ASSERT_EQ(0, w1.start([&](const signal_event& e) { c1 += e.count; }));
    ASSERT_EQ(0, w2.start([&](const signal_event& e) { c2 += e.count; }));
    EXPECT_EQ(b1.get(), w1.base());
    EXPECT_EQ(b2.get(), w2.base());
    ASSERT_EQ(0, kill(getpid(), SIGUSR1));
    event_base_loop(b2.get(), EVLOOP_NONBLOCK);
    event_base_loop(b1.get(), EVLOOP_NONBLOCK);
    EXPECT_EQ(1u, c1);
    EXPECT_EQ(1u, c2);
    event_base_loop(b1.get(), EVLOOP_NONBLOCK);
    ASSERT_EQ(0, kill(getpid(), SIGUSR1));
    event_base_loop(b1.get(), EVLOOP_NONBLOCK);
    event_base_loop(b2.get(), EVLOOP_NONBLOCK);
    EXPECT_EQ(2u, c1);
    EXPECT_EQ(2u, c2);
  });
}

// regress.c, test_signal_assert ("a signal event removed from the event queue really is removed -
// with no possibility of its parent handler being fired"), with SIGCONT "so we don't kill ourselves".
// A stopped watcher still records (differs from evsignal_del(), which uninstalls: event.hpp "events
// keep being recorded meanwhile"): the SIGCONT sent while stopped is handed out after start(). Once
// the watcher is destroyed SIGCONT is SIG_DFL again and a SIGCONT reaches no callback.
TEST(PeerEvent, StoppedRecordsAndDestroyedNoLongerCatches) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGCONT});
    base b;
    int calls = 0;
    {
      sigrelay::event::signal_watcher w(b.get(), {SIGCONT});
      auto cb = [&](const signal_event& e) {
        EXPECT_EQ(SIGCONT, e.signo);
        ++calls;
        w.stop();
      };
      ASSERT_EQ(0, w.start(cb));
      ASSERT_EQ(0, w.stop());
      ASSERT_EQ(0, kill(getpid(), SIGCONT));
      event_base_loop(b.get(), EVLOOP_NONBLOCK);
      EXPECT_EQ(0, calls);
      ASSERT_EQ(0, w.start(cb));
      event_base_loop(b.get(), EVLOOP_NONBLOCK);
      EXPECT_EQ(1, calls);
    }
    EXPECT_TRUE(is_default_disposition(SIGCONT));
    ASSERT_EQ(0, kill(getpid(), SIGCONT));
    event_base_loop(b.get(), EVLOOP_NONBLOCK);
    EXPECT_EQ(1, calls);
  });
}

// regress.c, test_signal_restore ("assert that we restore our previous signal handler properly"): a
// program handler of SIGUSR1 (sigaction, flags 0); a watcher started and destroyed; the next SIGUSR1
// runs the program's handler, and the sigaction is exactly the program's again. Differs from libevent
// while the watcher exists: sigrelay chains, so the program's handler runs for the delivery the
// watcher gets too (libevent replaces it until evsignal_del()).
volatile sig_atomic_t program_handler_calls = 0;
void program_handler(int) { program_handler_calls = program_handler_calls + 1; }

TEST(PeerEvent, ThePreviousHandlerRunsAlongsideAndIsRestored) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1});
    struct sigaction sa {};
    sa.sa_handler = program_handler;
    sa.sa_flags = 0;
    sigemptyset(&sa.sa_mask);
    ASSERT_EQ(0, sigaction(SIGUSR1, &sa, nullptr));
    const auto before = snapshot();
    base b;
    {
      sigrelay::event::signal_watcher w(b.get(), {SIGUSR1});
      int calls = 0;
      ASSERT_EQ(0, w.start([&](const signal_event&) {
        ++calls;
        w.stop();
      }));
      ASSERT_EQ(0, kill(getpid(), SIGUSR1));
      EXPECT_NE(-1, event_base_dispatch(b.get()));
      EXPECT_EQ(1, calls);
      EXPECT_EQ(1, program_handler_calls) << "the program's handler was not chained";
      ASSERT_EQ(0, w.start([&](const signal_event&) { ++calls; }));
      ASSERT_EQ(0, w.stop());
    }
    EXPECT_EQ("", differences(before, snapshot()));
    ASSERT_EQ(0, kill(getpid(), SIGUSR1));
    EXPECT_EQ(2, program_handler_calls);
  });
}

// regress.c, test_signal_while_processing ("Receiving a signal while processing other signal"): a
// zero timer kill()s SIGUSR1; the callback kill()s it again while it runs, until it ran five times,
// then exits the loop; a 5 s timer fails the test otherwise.
TEST(PeerEvent, SignalRaisedFromItsOwnCallbackIsHandedOutAgain) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1});
    base b;
    sigrelay::event::signal_watcher w(b.get(), {SIGUSR1});
    int called = 0;
    bool timed_out = false;
    ASSERT_EQ(0, w.start([&](const signal_event& e) {
      EXPECT_EQ(1u, e.count);
      if (++called < 5) {
        kill(getpid(), SIGUSR1);
      } else {
        event_base_loopexit(b.get(), nullptr);
      }
    }));
    struct timer_ctx {
      base* b;
      bool* timed_out;
      ::event* guard;
    } tc{&b, &timed_out, nullptr};
    ::event* first = evtimer_new(
        b.get(), [](evutil_socket_t, short, void*) { kill(getpid(), SIGUSR1); }, nullptr);
    tc.guard = evtimer_new(
        b.get(),
        [](evutil_socket_t, short, void* arg) {
          auto* c = static_cast<timer_ctx*>(arg);
          *c->timed_out = true;
          event_base_loopexit(c->b->get(), nullptr);
        },
        &tc);
    const timeval zero{0, 0}, five{5, 0};
    evtimer_add(first, &zero);
    evtimer_add(tc.guard, &five);
    event_base_dispatch(b.get());
    EXPECT_FALSE(timed_out);
    EXPECT_EQ(5, called);
    event_free(first);
    event_free(tc.guard);
  });
}

// regress.c, test_fork (its signal part): a base with started watchers of SIGCHLD and SIGUSR2 forks;
// the child calls event_reinit(), destroys the inherited SIGCHLD watcher, makes its own watchers of
// SIGUSR1 and SIGUSR2, signals itself with both and dispatches: its own watchers get them, and so
// does the inherited SIGUSR2 watcher, as libevent's inherited SIGUSR2 event does after event_reinit()
// (event.hpp, "Fork": "A watcher made from signal numbers goes on in a fork child"). The parent's
// SIGCHLD watcher then reports the child's exit (sent by the child), and its SIGUSR2 watcher gets
// the parent's own kill() with count 1 (the child's did not reach it).
TEST(PeerEvent, ForkChildReinitsTheBaseAndUsesItsOwnWatchers) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGCHLD, SIGUSR1, SIGUSR2});
    base b;
    auto chld =
        std::make_unique<sigrelay::event::signal_watcher>(b.get(), std::initializer_list<int>{SIGCHLD});
    sigrelay::event::signal_watcher usr2(b.get(), {SIGUSR2});
    std::vector<signal_event> chld_got, usr2_got;
    ASSERT_EQ(0, chld->start([&](const signal_event& e) {
      chld_got.push_back(e);
      chld->stop();
    }));
    ASSERT_EQ(0, usr2.start([&](const signal_event& e) {
      usr2_got.push_back(e);
      usr2.stop();
    }));
    event_base_loop(b.get(), EVLOOP_NONBLOCK);
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      alarm(10);
      if (event_reinit(b.get()) != 0) _exit(10);
      chld.reset();
      int got1 = 0, got2 = 0;
      {
        sigrelay::event::signal_watcher mine1(b.get(), {SIGUSR1}), mine2(b.get(), {SIGUSR2});
        mine1.start([&](const signal_event&) {
          ++got1;
          mine1.stop();
        });
        mine2.start([&](const signal_event&) {
          ++got2;
          mine2.stop();
        });
        kill(getpid(), SIGUSR1);
        kill(getpid(), SIGUSR2);
        usr2_got.clear();  // the child's copy: the inherited watcher's callback appends here
        const int restarted = usr2.start([&](const signal_event& e) {  // (its callback stop()s)
          usr2_got.push_back(e);
          usr2.stop();
        });
        if (restarted != 0) _exit(13);
        event_base_dispatch(b.get());  // ends once all three stopped
      }
      if (got1 != 1 || got2 != 1) _exit(11);
      if (usr2_got.size() != 1 || usr2_got[0].signo != SIGUSR2 || usr2_got[0].last.pid != getpid()) _exit(12);
      _exit(0);
    }
    const int status = sigrelay::test::wait_with_deadline(child, 20);
    EXPECT_TRUE(sigrelay::test::exited_with(status, 0))
        << "10: event_reinit failed, 11: the child's own watchers missed a signal, 12: the inherited "
           "watcher missed the child's SIGUSR2";
    ASSERT_EQ(0, kill(getpid(), SIGUSR2));
    EXPECT_NE(-1, event_base_dispatch(b.get()));
    ASSERT_EQ(1u, chld_got.size());
    EXPECT_EQ(child, chld_got[0].last.pid);
    ASSERT_EQ(1u, usr2_got.size());
    EXPECT_EQ(1u, usr2_got[0].count) << "the child's SIGUSR2 reached the parent's watcher";
    EXPECT_EQ(getpid(), usr2_got[0].last.pid);
  });
}

// libuv issue #3483 on libevent: a fork child calls event_reinit() with the inherited watcher started
// while the parent has a delivery recorded and not dispatched (it waits for the child meanwhile). The
// dead inherited watcher must not keep the base busy on the shared descriptor: over 200 ms of
// EVLOOP_ONCE runs the child's base wakes a handful of times, not thousands.
void event_undrained_fork_child(bool raw) {
  sigrelay::test::prepare_signals({SIGUSR1});
  base b;
  sigrelay::event::signal_watcher w(b.get(), {SIGUSR1});
  std::vector<signal_event> got;
  ASSERT_EQ(0, w.start([&](const signal_event& e) {
    got.push_back(e);
    w.stop();
  }));
  event_base_loop(b.get(), EVLOOP_NONBLOCK);
  ASSERT_EQ(0, kill(getpid(), SIGUSR1));
  const pid_t child = raw ? _Fork() : fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    alarm(10);
    if (event_reinit(b.get()) != 0) _exit(10);
    static bool done = false;
    ::event* t = evtimer_new(
        b.get(), [](evutil_socket_t, short, void*) { done = true; }, nullptr);
    const timeval ms200{0, 200000};
    evtimer_add(t, &ms200);
    int iterations = 0;
    while (!done && iterations < 1000) {
      event_base_loop(b.get(), EVLOOP_ONCE);
      ++iterations;
    }
    event_free(t);
    if (!got.empty()) _exit(12);
    if (iterations > 50) _exit(13);
    _exit(0);
  }
  const int status = sigrelay::test::wait_with_deadline(child, 20);
  EXPECT_TRUE(sigrelay::test::exited_with(status, 0))
      << "10: event_reinit failed, 12: the inherited watcher called back, 13: the child's base spun "
         "on the inherited watcher's descriptor";
  EXPECT_NE(-1, event_base_dispatch(b.get()));
  ASSERT_EQ(1u, got.size());
  EXPECT_EQ(1u, got[0].count);
  EXPECT_EQ(getpid(), got[0].last.pid);
}

TEST(PeerEvent, ForkChildWithAnUndrainedSignalDoesNotSpinItsBase) {
  SIGRELAY_IN_CHILD([] { event_undrained_fork_child(false); });
}

// The same with _Fork(), which runs no fork handlers (signals.hpp, "Fork": the inherited objects still never
// read or write the shared descriptors).
TEST(PeerEvent, ForkChildWithAnUndrainedSignalDoesNotSpinItsBaseAfterRawFork) {
  SIGRELAY_IN_CHILD([] { event_undrained_fork_child(true); });
}

// As PeerUv.ForkChildDoesNotHandOutTheParentsLeftoverEvents, on libevent: the events the parent
// drained but did not hand out are not handed out by the child's dead copy after event_reinit() and
// start(); the parent's next start() hands them out.
TEST(PeerEvent, ForkChildDoesNotHandOutTheParentsLeftoverEvents) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1, SIGUSR2});
    base b;
    sigrelay::event::signal_watcher w(b.get(), {SIGUSR1, SIGUSR2});
    ASSERT_EQ(0, kill(getpid(), SIGUSR1));
    ASSERT_EQ(0, kill(getpid(), SIGUSR2));
    std::vector<int> got;
    ASSERT_EQ(0, w.start([&](const signal_event& e) {
      got.push_back(e.signo);
      w.stop();
    }));
    EXPECT_NE(-1, event_base_dispatch(b.get()));
    ASSERT_EQ(1u, got.size());
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      alarm(10);
      if (event_reinit(b.get()) != 0) _exit(10);
      w.start([](const signal_event&) { _exit(12); });
      const timeval ms100{0, 100000};
      event_base_loopexit(b.get(), &ms100);
      event_base_dispatch(b.get());
      _exit(0);
    }
    EXPECT_TRUE(sigrelay::test::exited_with(sigrelay::test::wait_with_deadline(child, 20), 0))
        << "10: event_reinit failed, 12: the child handed out the parent's leftover event";
    ASSERT_EQ(0, w.start([&](const signal_event& e) {
      got.push_back(e.signo);
      w.stop();
    }));
    EXPECT_NE(-1, event_base_dispatch(b.get()));
    ASSERT_EQ(2u, got.size());
    EXPECT_EQ(SIGUSR1 + SIGUSR2, got[0] + got[1]);
  });
}

// uv.hpp and event.hpp, "Fork" and "Callback": in a fork child the inherited watcher goes on, and
// "Events left when the callback stop()s stay queued for the next start()" there too. The child's
// own leftovers are the child's: a start() in the child hands them out (only the parent's, from
// before the fork, are dropped there). Both adapters; the parent is not woken by any of it.
TEST(PeerUv, ForkChildKeepsItsOwnLeftoverEventsAcrossStopAndStart) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1, SIGUSR2});
    loop l;
    sigrelay::uv::signal_watcher w(l.get(), {SIGUSR1, SIGUSR2});
    std::vector<int> got;
    const auto take_one = [&](const signal_event& e) {
      got.push_back(e.signo);
      w.stop();
    };
    ASSERT_EQ(0, w.start(take_one));
    uv_run(l.get(), UV_RUN_NOWAIT);
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      alarm(10);
      if (uv_loop_fork(l.get()) != 0) _exit(10);
      if (kill(getpid(), SIGUSR1) != 0 || kill(getpid(), SIGUSR2) != 0) _exit(11);
      while (got.empty()) uv_run(l.get(), UV_RUN_ONCE);  // one handed out, one left over
      if (w.start(take_one) != 0) _exit(12);
      while (got.size() < 2) uv_run(l.get(), UV_RUN_ONCE);
      _exit(got[0] + got[1] == SIGUSR1 + SIGUSR2 ? 0 : 13);
    }
    EXPECT_TRUE(sigrelay::test::exited_with(sigrelay::test::wait_with_deadline(child, 20), 0))
        << "10: uv_loop_fork failed, 13: wrong signals (a hang here: the leftover was dropped)";
    ASSERT_EQ(0, w.start(take_one));
    uv_run(l.get(), UV_RUN_NOWAIT);
    EXPECT_TRUE(got.empty()) << "the child's signals reached the parent";
    w.close();
    uv_run(l.get(), UV_RUN_NOWAIT);
  });
}

TEST(PeerEvent, ForkChildKeepsItsOwnLeftoverEventsAcrossStopAndStart) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1, SIGUSR2});
    base b;
    sigrelay::event::signal_watcher w(b.get(), {SIGUSR1, SIGUSR2});
    std::vector<int> got;
    const auto take_one = [&](const signal_event& e) {
      got.push_back(e.signo);
      w.stop();
    };
    ASSERT_EQ(0, w.start(take_one));
    event_base_loop(b.get(), EVLOOP_NONBLOCK);
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      alarm(10);
      if (event_reinit(b.get()) != 0) _exit(10);
      if (kill(getpid(), SIGUSR1) != 0 || kill(getpid(), SIGUSR2) != 0) _exit(11);
      while (got.empty()) event_base_loop(b.get(), EVLOOP_ONCE);  // one handed out, one left over
      if (w.start(take_one) != 0) _exit(12);
      while (got.size() < 2) event_base_loop(b.get(), EVLOOP_ONCE);
      _exit(got[0] + got[1] == SIGUSR1 + SIGUSR2 ? 0 : 13);
    }
    EXPECT_TRUE(sigrelay::test::exited_with(sigrelay::test::wait_with_deadline(child, 20), 0))
        << "10: event_reinit failed, 13: wrong signals (a hang here: the leftover was dropped)";
    ASSERT_EQ(0, w.start(take_one));
    EXPECT_NE(-1, event_base_loop(b.get(), EVLOOP_NONBLOCK));
    EXPECT_TRUE(got.empty()) << "the child's signals reached the parent";
  });
}

// uv.hpp and event.hpp, "Callback": "An exception escaping the callback would cross libuv's
// (libevent's) C frames: it calls std::terminate." The child that runs the loop dies by SIGABRT.
TEST(PeerUv, ExceptionEscapingTheCallbackTerminates) {
  const int status = sigrelay::test::run_in_child([] {
    sigrelay::test::prepare_signals({SIGUSR1, SIGABRT});
    loop l;
    sigrelay::uv::signal_watcher w(l.get(), {SIGUSR1});
    w.start([](const signal_event&) { throw std::runtime_error("from the callback"); });
    kill(getpid(), SIGUSR1);
    uv_run(l.get(), UV_RUN_DEFAULT);
  });
  EXPECT_TRUE(sigrelay::test::killed_by(status, SIGABRT));
}

TEST(PeerEvent, ExceptionEscapingTheCallbackTerminates) {
  const int status = sigrelay::test::run_in_child([] {
    sigrelay::test::prepare_signals({SIGUSR1, SIGABRT});
    base b;
    sigrelay::event::signal_watcher w(b.get(), {SIGUSR1});
    w.start([](const signal_event&) { throw std::runtime_error("from the callback"); });
    kill(getpid(), SIGUSR1);
    event_base_dispatch(b.get());
  });
  EXPECT_TRUE(sigrelay::test::killed_by(status, SIGABRT));
}

// signals.hpp, handle::close(): "close() wakes a blocked wait() or loop, which then ends", from any
// thread; native_handle() "Once close() was called ... stays readable for good". A watcher made from a
// `signals` (uv.hpp: "Takes over an existing signals") whose handle another thread closes while the
// loop runs: what was recorded is handed out, then the watcher stops, so uv_run() returns (the
// equivalent of the wait() that ends) instead of spinning on the descriptor that stays readable. The
// guard timer and the iteration counter are unreferenced: they do not keep the loop alive.
TEST(PeerUv, SourceClosedFromAnotherThreadEndsTheLoop) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1});
    loop l;
    sigrelay::signals source({SIGUSR1});
    sigrelay::signals::handle h = source.get_handle();
    sigrelay::uv::signal_watcher w(l.get(), std::move(source));
    ASSERT_EQ(0, kill(getpid(), SIGUSR1));
    int calls = 0;
    ASSERT_EQ(0, w.start([&](const signal_event& e) {
      EXPECT_EQ(SIGUSR1, e.signo);
      ++calls;
    }));
    static int iterations = 0;
    static bool timed_out = false;
    uv_check_t check{};
    uv_check_init(l.get(), &check);
    uv_check_start(&check, [](uv_check_t*) { ++iterations; });
    uv_unref(reinterpret_cast<uv_handle_t*>(&check));
    uv_timer_t guard{};
    uv_timer_init(l.get(), &guard);
    uv_timer_start(
        &guard,
        [](uv_timer_t* t) {
          timed_out = true;
          uv_stop(t->loop);
        },
        3000, 0);
    uv_unref(reinterpret_cast<uv_handle_t*>(&guard));
    uv_run(l.get(), UV_RUN_NOWAIT);
    EXPECT_EQ(1, calls);
    std::thread closer([&] {
      sigrelay::test::block_signals_in_this_thread();
      std::this_thread::sleep_for(50ms);
      h.close();
    });
    iterations = 0;
    uv_run(l.get(), UV_RUN_DEFAULT);
    closer.join();
    EXPECT_FALSE(timed_out) << "uv_run() did not end after the source was closed";
    EXPECT_LT(iterations, 50) << "the loop spun on the closed source's descriptor";
    EXPECT_EQ(1, calls);
    EXPECT_FALSE(w.is_active());
    uv_close(reinterpret_cast<uv_handle_t*>(&check), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&guard), nullptr);
    w.close();
  });
}

// The same on libevent: event_base_dispatch() returns once another thread closed the source.
TEST(PeerEvent, SourceClosedFromAnotherThreadEndsTheLoop) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1});
    base b;
    sigrelay::signals source({SIGUSR1});
    sigrelay::signals::handle h = source.get_handle();
    sigrelay::event::signal_watcher w(b.get(), std::move(source));
    ASSERT_EQ(0, kill(getpid(), SIGUSR1));
    int calls = 0;
    ASSERT_EQ(0, w.start([&](const signal_event& e) {
      EXPECT_EQ(SIGUSR1, e.signo);
      ++calls;
    }));
    event_base_loop(b.get(), EVLOOP_NONBLOCK);
    EXPECT_EQ(1, calls);
    std::thread closer([&] {
      sigrelay::test::block_signals_in_this_thread();
      std::this_thread::sleep_for(50ms);
      h.close();
    });
    // EVLOOP_ONCE runs, each a wake-up: a spinning base makes many; 3 s is the deadline.
    int iterations = 0;
    const auto deadline = std::chrono::steady_clock::now() + 3s;
    while (std::chrono::steady_clock::now() < deadline && iterations < 1000) {
      ++iterations;
      if (event_base_loop(b.get(), EVLOOP_ONCE) == 1) break;  // 1: no event left
    }
    closer.join();
    EXPECT_LT(iterations, 50) << "the base spun on the closed source's descriptor, or never ended";
    EXPECT_EQ(1, calls);
    EXPECT_FALSE(w.is_active());
  });
}

// libuv's own SIGCHLD handling (libuv 1.44, unix/process.c): uv_spawn() starts a uv_signal_t on
// SIGCHLD, which installs libuv's handler, and closing the loop's last uv_process_t stops it, which
// sets SIG_DFL. libuv neither saves nor calls the handler it replaces (README, "Interop").
struct spawned {
  uv_process_t proc{};
  int exits = 0;
};

int spawn_true(uv_loop_t* l, spawned& s) {
  char file[] = "/bin/true";
  char* args[] = {file, nullptr};
  uv_process_options_t opts{};
  opts.file = file;
  opts.args = args;
  opts.exit_cb = [](uv_process_t* p, int64_t, int) { ++static_cast<spawned*>(p->data)->exits; };
  s.proc.data = &s;
  return uv_spawn(l, &s.proc, &opts);
}

void close_process(spawned& s) { uv_close(reinterpret_cast<uv_handle_t*>(&s.proc), nullptr); }

bool sigchld_reported_lost() {
  for (const auto& loss : sigrelay::check_ownership())
    if (loss.signo == SIGCHLD) return true;
  return false;
}

// uv.hpp: "it chains with every other handler of the signal". While a uv_process_t is open libuv's
// handler stays installed; a SIGCHLD watcher made then chains it: the next child's exit reaches both
// its exit callback and the watcher (with the child's pid). Once the last uv_process_t closes, libuv
// sets SIG_DFL behind sigrelay's back: check_ownership() reports it.
TEST(PeerUv, SigchldWatcherMadeWhileAUvProcessIsOpenChainsLibuvsHandler) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGCHLD});
    loop l;
    spawned first, second;
    ASSERT_EQ(0, spawn_true(l.get(), first));
    while (first.exits == 0) uv_run(l.get(), UV_RUN_ONCE);
    sigrelay::uv::signal_watcher w(l.get(), {SIGCHLD});
    std::vector<pid_t> from;
    ASSERT_EQ(0, w.start([&](const signal_event& e) { from.push_back(e.last.pid); }));
    ASSERT_EQ(0, spawn_true(l.get(), second));
    const pid_t pid = second.proc.pid;
    while (second.exits == 0 || from.empty()) uv_run(l.get(), UV_RUN_ONCE);  // the watchdog ends a miss
    EXPECT_EQ(1, second.exits);
    EXPECT_EQ(pid, from.back());
    EXPECT_FALSE(sigchld_reported_lost());
    close_process(first);
    close_process(second);
    uv_run(l.get(), UV_RUN_NOWAIT);
    EXPECT_TRUE(sigchld_reported_lost()) << "libuv set SIG_DFL under sigrelay's subscription";
    w.close();
  });
}

// The other order, as README "Interop" measures it for uv_signal_start(): a SIGCHLD watcher made
// before uv_spawn() (with no uv_process_t open) loses SIGCHLD to libuv's handler, which does not
// chain: the child's exit reaches the exit callback only, and check_ownership() reports the loss.
TEST(PeerUv, SigchldWatcherMadeBeforeUvSpawnIsReplacedAndTheLossIsReported) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGCHLD});
    loop l;
    sigrelay::uv::signal_watcher w(l.get(), {SIGCHLD});
    int calls = 0;
    ASSERT_EQ(0, w.start([&](const signal_event&) { ++calls; }));
    EXPECT_FALSE(sigchld_reported_lost());
    spawned child;
    ASSERT_EQ(0, spawn_true(l.get(), child));
    while (child.exits == 0) uv_run(l.get(), UV_RUN_ONCE);
    uv_run(l.get(), UV_RUN_NOWAIT);
    EXPECT_EQ(0, calls) << "libuv's handler chained sigrelay's: README's Interop table is out of date";
    EXPECT_TRUE(sigchld_reported_lost());
    close_process(child);
    w.close();
  });
}

// libevent's own evsignal on the same signal, added after the watcher: libevent installs its
// handler over sigrelay's (evsig_set_handler_ saves the one it found), so meanwhile the evsignal
// gets the delivery and the watcher does not, and check_ownership() reports it; evsignal_del()
// restores the saved handler, sigrelay's trampoline, and the watcher gets the next one again.
TEST(PeerEvent, EvsignalAddedAfterTheWatcherTakesTheSignalUntilItIsDeleted) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1});
    base b;
    sigrelay::event::signal_watcher w(b.get(), {SIGUSR1});
    int watcher_calls = 0, evsignal_calls = 0;
    ASSERT_EQ(0, w.start([&](const signal_event&) { ++watcher_calls; }));
    ::event* ev = evsignal_new(
        b.get(), SIGUSR1, [](evutil_socket_t, short, void* arg) { ++*static_cast<int*>(arg); },
        &evsignal_calls);
    ASSERT_NE(nullptr, ev);
    ASSERT_EQ(0, evsignal_add(ev, nullptr));
    ASSERT_EQ(0, kill(getpid(), SIGUSR1));
    event_base_loop(b.get(), EVLOOP_NONBLOCK);
    event_base_loop(b.get(), EVLOOP_NONBLOCK);
    EXPECT_EQ(1, evsignal_calls);
    EXPECT_EQ(0, watcher_calls) << "libevent's handler chained sigrelay's";
    bool reported = false;
    for (const auto& loss : sigrelay::check_ownership()) reported = reported || loss.signo == SIGUSR1;
    EXPECT_TRUE(reported);
    ASSERT_EQ(0, evsignal_del(ev));
    event_free(ev);
    ASSERT_EQ(0, kill(getpid(), SIGUSR1));
    event_base_loop(b.get(), EVLOOP_NONBLOCK);
    EXPECT_EQ(1, watcher_calls) << "evsignal_del() did not give the signal back to sigrelay";
    EXPECT_TRUE(sigrelay::check_ownership().empty());
  });
}

// A realtime flood on one CPU while the watcher keeps stopping itself (every 7 events) and a timer
// starts it again: libuv's we_get_signal stop/restart cycle under load. uv.hpp: "Stops handing out
// events; they keep being recorded, and go to the callback after start()". Every sigqueue() value
// comes out once, in order (or, where holds are impossible, is counted in dropped(): ThreadSanitizer
// and the posix platform layer). Under ThreadSanitizer, which keeps one deferred signal per number,
// the sends are spaced as send_from_other_process() spaces them.
template <typename Watcher, typename Run>
void flood_with_restarts(Watcher& w, Run run, int rt, int n) {
  std::vector<int> values;
  std::uint64_t total = 0;
  int since_stop = 0;
  std::function<void(const signal_event&)> cb = [&](const signal_event& e) {
    EXPECT_EQ(rt, e.signo);
    total += e.count;
    values.push_back(e.last.value.sival_int);
    if (++since_stop == 7) {
      since_stop = 0;
      w.stop();
    }
  };
  ASSERT_EQ(0, w.start(cb));
  run(cb, [&] { return total + w.dropped() >= static_cast<std::uint64_t>(n); });
  EXPECT_EQ(static_cast<std::uint64_t>(n), total + w.dropped());
  EXPECT_EQ(values.size(), total);
  if (!sigrelay::test::kUnderTsan && !sigrelay::test::posix_platform()) {
    std::vector<int> want;
    for (int i = 0; i < n; ++i) want.push_back(i);
    EXPECT_EQ(want, values);
  } else {
    EXPECT_TRUE(std::is_sorted(values.begin(), values.end()));
  }
}

TEST(PeerUv, RealtimeFloodOnOneCpuWithStopAndRestartLosesNothing) {
  SIGRELAY_IN_CHILD(
      [] {
        ASSERT_TRUE(sigrelay::test::pin_to_one_cpu());
        sigrelay::test::cap_pending_signals_for_a_flood();
        const int rt = SIGRTMIN + 6, n = sigrelay::test::kUnderTsan ? 60 : 300;
        sigrelay::test::prepare_signals({rt});
        loop l;
        sigrelay::uv::signal_watcher w(l.get(), {rt});
        flood_with_restarts(
            w,
            [&](const std::function<void(const signal_event&)>& cb, const std::function<bool()>& done) {
              pid_t sender = 0;
              uv_ticker restarter(l.get(), 1, [&] {
                if (sender == 0) {
                  sender = fork();  // sends while this loop runs
                  if (sender == 0) {
                    for (int i = 0; i < n; ++i) {
                      union sigval v {};
                      v.sival_int = i;
                      while (sigqueue(getppid(), rt, v) != 0) usleep(100);
                      if (sigrelay::test::kUnderTsan)
                        usleep(20000);  // see send_from_other_process()  // EAGAIN: the queue is full
                    }
                    _exit(0);
                  }
                }
                if (done()) {
                  w.stop();
                  return false;
                }
                if (!w.is_active()) w.start(cb);
                return true;
              });
              uv_run(l.get(), UV_RUN_DEFAULT);
              EXPECT_TRUE(sigrelay::test::exited_with(sigrelay::test::wait_with_deadline(sender, 20), 0));
            },
            rt, n);
        w.close();
      },
      60);
}

TEST(PeerEvent, RealtimeFloodOnOneCpuWithStopAndRestartLosesNothing) {
  SIGRELAY_IN_CHILD(
      [] {
        ASSERT_TRUE(sigrelay::test::pin_to_one_cpu());
        sigrelay::test::cap_pending_signals_for_a_flood();
        const int rt = SIGRTMIN + 6, n = sigrelay::test::kUnderTsan ? 60 : 300;
        sigrelay::test::prepare_signals({rt});
        base b;
        sigrelay::event::signal_watcher w(b.get(), {rt});
        flood_with_restarts(
            w,
            [&](const std::function<void(const signal_event&)>& cb, const std::function<bool()>& done) {
              pid_t sender = 0;
              struct ctx {
                std::function<bool()> tick;
                ::event* ev;
              } c{};
              c.tick = [&] {
                if (sender == 0) {
                  sender = fork();
                  if (sender == 0) {
                    for (int i = 0; i < n; ++i) {
                      union sigval v {};
                      v.sival_int = i;
                      while (sigqueue(getppid(), rt, v) != 0) usleep(100);
                      if (sigrelay::test::kUnderTsan) usleep(20000);  // see send_from_other_process()
                    }
                    _exit(0);
                  }
                }
                if (done()) {
                  w.stop();
                  return false;
                }
                if (!w.is_active()) w.start(cb);
                return true;
              };
              c.ev = event_new(
                  b.get(), -1, EV_PERSIST,
                  [](evutil_socket_t, short, void* arg) {
                    auto* cx = static_cast<ctx*>(arg);
                    if (!cx->tick()) event_del(cx->ev);
                  },
                  &c);
              const timeval ms1{0, 1000};
              event_add(c.ev, &ms1);
              event_base_dispatch(b.get());
              event_free(c.ev);
              EXPECT_TRUE(sigrelay::test::exited_with(sigrelay::test::wait_with_deadline(sender, 20), 0));
            },
            rt, n);
      },
      60);
}

// registry.hpp, "Chaining": "The earlier handler may leave by siglongjmp (a REPL's Ctrl+C handler, a
// fault probe): the registry stays fully usable, and that delivery's actions do not run". A program
// handler of SIGINT installed before the watcher leaves the first delivery by siglongjmp(); the
// watcher does not get that one, gets the next with count 1, and after close() SIGINT is the
// program's handler again.
sigjmp_buf repl_jump;
volatile sig_atomic_t jump_next = 1;
void repl_handler(int) {
  if (jump_next != 0) {
    jump_next = 0;
    siglongjmp(repl_jump, 1);
  }
}

TEST(PeerUv, EarlierHandlerLeavingBySiglongjmpLeavesTheWatcherWorking) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGINT});
    struct sigaction sa {};
    sa.sa_handler = repl_handler;
    sigemptyset(&sa.sa_mask);
    ASSERT_EQ(0, sigaction(SIGINT, &sa, nullptr));
    const auto before = snapshot();
    {
      loop l;
      sigrelay::uv::signal_watcher w(l.get(), {SIGINT});
      std::vector<signal_event> got;
      ASSERT_EQ(0, w.start([&](const signal_event& e) {
        got.push_back(e);
        w.stop();
      }));
      volatile int jumped = 0;
      if (sigsetjmp(repl_jump, 1) == 0) {
        kill(getpid(), SIGINT);
        ADD_FAILURE() << "the earlier handler did not jump";
      } else {
        jumped = 1;
      }
      EXPECT_EQ(1, jumped);
      uv_run(l.get(), UV_RUN_NOWAIT);
      EXPECT_TRUE(got.empty()) << "the delivery the earlier handler took reached the watcher";
      ASSERT_EQ(0, kill(getpid(), SIGINT));
      EXPECT_EQ(0, uv_run(l.get(), UV_RUN_DEFAULT));
      ASSERT_EQ(1u, got.size());
      EXPECT_EQ(1u, got[0].count);
      w.close();
    }
    EXPECT_EQ("", differences(before, snapshot()));
  });
}

// uv.hpp, "Errors": constructors throw "with the libuv error (as a positive errno value) if the
// handles cannot be initialised". A moved-from `signals` has no descriptor (signals.hpp:
// "native_handle() is -1"): uv_poll_init() refuses it, the constructor throws EBADF, and nothing is
// left on the loop (the fixture closes it).
TEST(PeerUv, MovedFromSourceIsRefusedWithTheLibuvError) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1});
    loop l;
    sigrelay::signals source({SIGUSR1});
    sigrelay::signals taken(std::move(source));
    try {
      sigrelay::uv::signal_watcher w(l.get(), std::move(source));
      ADD_FAILURE() << "a moved-from source was accepted";
    } catch (const std::system_error& e) {
      EXPECT_EQ(std::make_error_code(std::errc::bad_file_descriptor), e.code()) << e.what();
    }
  });
}

// The same on libevent (event.hpp, "Errors"): libevent's event_add() accepts a read event on
// descriptor -1, so a watcher made from a moved-from source would start "successfully", never fire,
// and keep event_base_dispatch() from returning for good. The constructor refuses it, as uv's does.
TEST(PeerEvent, MovedFromSourceIsRefused) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1});
    base b;
    sigrelay::signals source({SIGUSR1});
    sigrelay::signals taken(std::move(source));
    try {
      sigrelay::event::signal_watcher w(b.get(), std::move(source));
      ADD_FAILURE() << "a moved-from source was accepted; start() says "
                    << w.start([](const signal_event&) {});
    } catch (const std::system_error& e) {
      EXPECT_EQ(std::make_error_code(std::errc::bad_file_descriptor), e.code()) << e.what();
    }
  });
}

}  // namespace
