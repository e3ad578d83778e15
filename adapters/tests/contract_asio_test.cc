// SPDX-License-Identifier: MIT
// adapters/tests/contract_asio_test.cc — an adversarial audit of the promises in <sigrelay/asio.hpp>
// (Boost.Asio flavour), with real signals, compared with Boost.Asio's own signal_set where the
// header claims to be its drop-in. Covers what asio_test.cc does not: destroying a set (or remove()
// on it) while a wait already has its result scheduled (Asio's signal_set and our cancel() complete
// it normally), several waits served first come first served, three sets of one signal under a
// realtime sigqueue() flood sent while the io_context is busy (one with a ring small enough to force
// holds, on Asio's edge-triggered epoll reactor), every sigaction and the thread mask after
// destruction (both backends), and a fork() child using notify_fork() while the parent's stopped
// io_context keeps its pending wait. Each test quotes the promise it checks; each body runs in a forked child
// under a watchdog (run_in_child).
#include "sigrelay/asio.hpp"

#include <gtest/gtest.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>
#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "support/asio_sides.hpp"
#include "support/child.hpp"
#include "support/platform.hpp"
#include "support/signal_helpers.hpp"
#include "support/signal_state.hpp"

namespace {

namespace net = ::boost::asio;
using namespace std::chrono_literals;
using error_code = sigrelay::asio::error_code;
using sigrelay::origin_kind;
using sigrelay::signal_event;
using sigrelay::test::send_from_other_process;
using sigrelay::test::send_how;

constexpr bool kThreadSanitizer = SIGRELAY_TEST_UNDER_TSAN;

// Runs `io` until `done()` or the deadline; fails on the deadline.
template <typename Pred>
void run_until(net::io_context& io, Pred done, std::chrono::milliseconds deadline = 10000ms) {
  const auto end = std::chrono::steady_clock::now() + deadline;
  io.restart();
  while (!done() && std::chrono::steady_clock::now() < end) {
    io.run_for(10ms);
    if (io.stopped()) io.restart();
  }
  EXPECT_TRUE(done()) << "timed out";
}

using sigrelay::test::differences;
using sigrelay::test::signal_state;
using sigrelay::test::snapshot;

using sigrelay::test::install_prior_state;
using sigrelay::test::prior_handler_calls;

using sigrelay::test::asio_sides::outcome;

// Header, "Cancellation": "A wait whose result is already taken (its handler already scheduled)
// completes normally. Destroying the object cancels its waits likewise"; and the drop-in: "changing
// the type's name is the whole migration" (the listed differences say nothing of destruction).
// SIGUSR1 and SIGUSR2 arrive while a first wait is pending; it takes SIGUSR1. A second async_wait()
// then finds SIGUSR2 queued, so its handler is scheduled at once ("Queued events complete it at once
// (through a post, never inside the call)"), and the set is cancelled or destroyed before the
// io_context runs again. Boost.Asio's own signal_set (the reference, checked here) completes that
// wait with the signal when destroyed; our cancel() in the same place does too (also checked).
// Destruction must not turn it into operation_aborted and lose the delivery.
// The same through remove(): signal_set's "remove() and clear() also discard the deliveries of the
// removed signals not yet handed out" — "(as Asio's)". In Asio's signal_set (the reference, checked)
// a remove(SIGUSR2) right after async_wait() does not take back that wait's result: it completes
// with SIGUSR2. Ours must not send that wait back to waiting (the helper cancels a wait still
// pending after the io_context ran, so the test fails with operation_aborted instead of hanging).
enum class then { cancel, destroy, remove };

template <typename Set, typename Make, typename Signo>
outcome second_wait_after(Make make, Signo signo_of, then what) {
  net::io_context io;
  std::unique_ptr<Set> sigs = make(io);
  outcome first, second;
  sigs->async_wait([&](error_code ec, auto r) { first = {true, ec, signo_of(r)}; });
  kill(getpid(), SIGUSR1);
  kill(getpid(), SIGUSR2);
  while (!first.done) io.run_one();  // both deliveries are read: SIGUSR1 taken, SIGUSR2 queued
  EXPECT_FALSE(first.ec);
  EXPECT_EQ(SIGUSR1, first.signo);
  sigs->async_wait([&](error_code ec, auto r) { second = {true, ec, signo_of(r)}; });
  switch (what) {
    case then::cancel: sigs->cancel(); break;
    case then::destroy: sigs.reset(); break;
    case then::remove: sigs->remove(SIGUSR2); break;
  }
  io.restart();
  io.poll();
  // A wait that went back to waiting instead would hang: cancel it, so the test fails, not hangs.
  if (!second.done && sigs) sigs->cancel();
  io.restart();
  io.run();
  EXPECT_TRUE(second.done);
  return second;
}

TEST(AsioContract, AWaitWithItsResultScheduledKeepsItThroughDestructionAndRemoveAsAsio) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1, SIGUSR2});
    auto plain = [](int s) { return s; };
    auto rich = [](const signal_event& e) { return e.signo; };
    auto theirs = [](net::io_context& io) { return std::make_unique<net::signal_set>(io, SIGUSR1, SIGUSR2); };
    auto ours = [](net::io_context& io) {
      return std::make_unique<sigrelay::asio::signal_set>(io, SIGUSR1, SIGUSR2);
    };
    auto ours_rich = [](net::io_context& io) {
      return std::make_unique<sigrelay::asio::signal_event_set>(io,
                                                                std::initializer_list<int>{SIGUSR1, SIGUSR2});
    };
    struct scenario {
      const char* what;
      std::function<outcome()> run;
    };
    const scenario all[] = {
        // The reference: Asio's own signal_set.
        {"Asio's signal_set destroyed (reference)",
         [&] { return second_wait_after<net::signal_set>(theirs, plain, then::destroy); }},
        {"Asio's signal_set remove() (reference)",
         [&] { return second_wait_after<net::signal_set>(theirs, plain, then::remove); }},
        // Ours, cancel(): "already scheduled ... completes normally".
        {"signal_set cancel()",
         [&] { return second_wait_after<sigrelay::asio::signal_set>(ours, plain, then::cancel); }},
        {"signal_event_set cancel()",
         [&] { return second_wait_after<sigrelay::asio::signal_event_set>(ours_rich, rich, then::cancel); }},
        // Ours, destroyed ("likewise"), and the drop-in's remove() ("as Asio's").
        {"signal_set destroyed",
         [&] { return second_wait_after<sigrelay::asio::signal_set>(ours, plain, then::destroy); }},
        {"signal_event_set destroyed",
         [&] { return second_wait_after<sigrelay::asio::signal_event_set>(ours_rich, rich, then::destroy); }},
        {"signal_set remove()",
         [&] { return second_wait_after<sigrelay::asio::signal_set>(ours, plain, then::remove); }},
    };
    for (const scenario& sc : all) {
      const outcome o = sc.run();
      EXPECT_FALSE(o.ec) << sc.what << ": " << o.ec.message();
      EXPECT_EQ(SIGUSR2, o.signo) << sc.what;
    }
    EXPECT_TRUE(sigrelay::test::is_default_disposition(SIGUSR1));
    EXPECT_TRUE(sigrelay::test::is_default_disposition(SIGUSR2));
  });
}

// Header, "Completion": "on signal_event_set they are served first come, first served, one event
// each". Three waits pending, then one signal at a time from another process: the waits complete in
// the order they were started, one per delivery, with no error; the last is cancelled.
template <typename Set, typename Result>
void first_come_first_served(std::function<int(const Result&)> signo_of) {
  sigrelay::test::prepare_signals({SIGUSR1});
  net::io_context io;
  Set sigs(io, {SIGUSR1});
  std::vector<int> order;
  std::vector<error_code> ecs(4);
  for (int i = 0; i < 4; ++i) {
    sigs.async_wait([&, i](error_code ec, const Result& r) {
      ecs[i] = ec;
      if (!ec) {
        EXPECT_EQ(SIGUSR1, signo_of(r));
      }
      order.push_back(i);
    });
  }
  io.poll();  // the waits wait on the descriptor
  for (std::size_t k = 1; k <= 3; ++k) {
    send_from_other_process(SIGUSR1);
    run_until(io, [&] { return order.size() >= k; });
    io.poll();  // anything else ready runs now: a second completion would show
    EXPECT_EQ(k, order.size()) << "one delivery completed more than one wait";
  }
  sigs.cancel();
  run_until(io, [&] { return order.size() == 4; });
  EXPECT_EQ((std::vector<int>{0, 1, 2, 3}), order);
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(ecs[i]) << "wait " << i << ": " << ecs[i].message();
  EXPECT_EQ(net::error::operation_aborted, ecs[3]);
}

struct dropin_set : sigrelay::asio::signal_set {
  dropin_set(net::io_context& io, std::initializer_list<int> signos) : sigrelay::asio::signal_set(io) {
    for (int s : signos) add(s);
  }
};

TEST(AsioContract, PendingWaitsAreServedFirstComeFirstServed) {
  SIGRELAY_IN_CHILD([] {
    first_come_first_served<sigrelay::asio::signal_event_set, signal_event>(
        [](const signal_event& e) { return e.signo; });
  });
}

// Header, "Completion": "on signal_set, as on Asio's, one delivery completes all of them with its
// signal number (a delivery recorded while no wait was pending is queued, and each later wait takes
// one)". Four waits pending, one signal from another process: all four complete with it, no error.
// Then, with none pending, two deliveries of two signals: queued, and each of two later waits takes
// one (the lower number first), the third waits until cancelled. A wait given a delivery completes
// with it even when cancel() comes before its handler runs (as in Asio, where the delivery has
// already scheduled it).
TEST(AsioContract, OneDeliveryCompletesEveryPendingWaitOfASignalSet) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1, SIGUSR2});
    net::io_context io;
    dropin_set sigs(io, {SIGUSR1, SIGUSR2});
    std::vector<std::pair<error_code, int>> got;
    const auto record = [&](error_code ec, int signo) { got.emplace_back(ec, signo); };
    for (int i = 0; i < 4; ++i) sigs.async_wait(record);
    io.poll();  // the waits wait on the descriptor
    EXPECT_TRUE(got.empty());
    send_from_other_process(SIGUSR2);
    run_until(io, [&] { return got.size() >= 4; });
    io.poll();
    ASSERT_EQ(4u, got.size());
    for (const auto& [ec, signo] : got) {
      EXPECT_FALSE(ec) << ec.message();
      EXPECT_EQ(SIGUSR2, signo);
    }
    got.clear();
    send_from_other_process(SIGUSR2);
    send_from_other_process(SIGUSR1);
    for (int i = 0; i < 3; ++i) sigs.async_wait(record);
    run_until(io, [&] { return got.size() >= 2; });
    io.poll();
    ASSERT_EQ(2u, got.size()) << "a queued delivery completed more than one wait";
    EXPECT_EQ(SIGUSR1, got[0].second);
    EXPECT_EQ(SIGUSR2, got[1].second);
    sigs.cancel();
    run_until(io, [&] { return got.size() >= 3; });
    EXPECT_EQ(net::error::operation_aborted, got[2].first);
    // Two waits pending, a delivery, and cancel() before their handlers run: both complete with it.
    got.clear();
    sigs.async_wait(record);
    sigs.async_wait(record);
    io.poll();
    send_from_other_process(SIGUSR1);
    while (io.run_one_for(std::chrono::seconds(5)) != 0 && got.empty()) {
    }
    sigs.cancel();
    run_until(io, [&] { return got.size() >= 2; });
    ASSERT_EQ(2u, got.size());
    for (const auto& [ec, signo] : got) {
      EXPECT_FALSE(ec) << ec.message();
      EXPECT_EQ(SIGUSR1, signo);
    }
  });
}

// Header, "Migration": "nothing is lost between waits"; "Beside Asio's own signal_set" / signals.hpp:
// every subscriber gets every delivery (Asio's own signal_set does the same for two sets of one
// signal); signal_event_set::dropped(): "Realtime deliveries lost to a full ring that could not hold
// them in the kernel". Three sets of one realtime signal on one io_context: a signal_event_set with a
// ring of 8 (signals.hpp: held in the kernel, "nothing is dropped"), one with the default ring, and a
// drop-in signal_set. A sigqueue() flood of 100 sent while the io_context is busy in a handler,
// drained through Asio's edge-triggered epoll reactor: each richer set gets every value once, in
// order, from the sender; the drop-in gets exactly 100 results. Under ThreadSanitizer and on the
// posix platform layer holds are impossible (signals.hpp): there each delivery is handed out or
// counted by dropped(), exactly once.
TEST(AsioContract, ThreeSetsOfOneSignalGetARealtimeFloodExactlyThroughTheReactor) {
  SIGRELAY_IN_CHILD(
      [] {
        const int rt = SIGRTMIN + 4;
        const int n = 100;
        const bool holds = !kThreadSanitizer && !sigrelay::test::posix_platform();
        sigrelay::test::prepare_signals({rt});
        net::io_context io;
        sigrelay::signals_options small;
        small.realtime_capacity = 8;
        struct rich_set {
          std::unique_ptr<sigrelay::asio::signal_event_set> set;
          std::vector<int> values;
          std::uint64_t total = 0;
          pid_t from = 0;
          std::function<void(error_code, signal_event)> on;
        } rich[2];
        rich[0].set =
            std::make_unique<sigrelay::asio::signal_event_set>(io, std::initializer_list<int>{rt}, small);
        rich[1].set = std::make_unique<sigrelay::asio::signal_event_set>(io, std::initializer_list<int>{rt});
        for (rich_set& r : rich) {
          r.on = [&r, rt](error_code ec, signal_event e) {
            if (ec) return;
            EXPECT_EQ(rt, e.signo);
            EXPECT_EQ(origin_kind::queue, e.last.kind);
            r.total += e.count;
            r.from = e.last.pid;
            r.values.push_back(e.last.value.sival_int);
            r.set->async_wait(r.on);
          };
          r.set->async_wait(r.on);
        }
        sigrelay::asio::signal_set plain(io, rt);
        int plain_results = 0;
        std::function<void(error_code, int)> on_plain = [&](error_code ec, int) {
          if (ec) return;
          ++plain_results;
          plain.async_wait(on_plain);
        };
        plain.async_wait(on_plain);
        io.poll();  // every set waits on its descriptor
        pid_t sender = 0;
        net::post(io, [&] { sender = send_from_other_process(rt, send_how::queue, 0, n); });  // busy in here
        auto finished = [&](const rich_set& r) {
          return r.total + r.set->dropped() >= static_cast<std::uint64_t>(n);
        };
        run_until(
            io, [&] { return finished(rich[0]) && finished(rich[1]) && plain_results >= n; }, 30000ms);
        std::vector<int> want;
        for (int i = 0; i < n; ++i) want.push_back(i);
        for (const rich_set& r : rich) {
          const std::uint64_t dropped = r.set->dropped();
          EXPECT_EQ(static_cast<std::uint64_t>(n), r.total + dropped);
          EXPECT_EQ(r.values.size(), r.total) << "every realtime event stands for one delivery";
          EXPECT_EQ(sender, r.from);
          if (holds) {
            EXPECT_EQ(0u, dropped);
            EXPECT_EQ(want, r.values);
          } else {
            EXPECT_TRUE(std::is_sorted(r.values.begin(), r.values.end()));
          }
        }
        if (holds) {
          EXPECT_EQ(n, plain_results);  // the drop-in has no dropped(): exact only with holds
        }
        for (rich_set& r : rich) r.set->cancel();
        plain.cancel();
        io.restart();
        io.poll();
      },
      60);
}

// Header, file comment: "sigrelay chains with every other handler of the signal (through its
// registry) instead of overwriting it"; destructor: "Cancels pending waits (operation_aborted) and
// unsubscribes". With a program handler on SIGUSR1 and SIGHUP ignored beforehand: the program
// handler still runs for the delivery, and after the set is destroyed (a wait still pending) every
// disposition (handler, flags, sa_mask of every signal) and the thread's mask are exactly as before.
template <typename MakeSet>
void state_restored_after_destruction(MakeSet make) {
  const int rt = SIGRTMIN + 5;
  install_prior_state(rt);
  const signal_state before = snapshot();
  bool aborted = false;
  {
    net::io_context io;
    auto sigs = make(io, rt);
    EXPECT_NE("", differences(before, snapshot())) << "the snapshot does not see the set";
    kill(getpid(), SIGUSR1);
    bool got = false;
    sigs->async_wait([&](error_code ec, auto) { got = !ec; });
    run_until(io, [&] { return got; });
    EXPECT_EQ(1, prior_handler_calls()) << "the program's SIGUSR1 handler was not chained";
    sigs->async_wait([&](error_code ec, auto) { aborted = ec == net::error::operation_aborted; });
    io.restart();
    io.poll();
    sigs.reset();  // with a wait pending
    io.restart();
    io.run();
  }
  EXPECT_TRUE(aborted);
  EXPECT_EQ("", differences(before, snapshot()));
}

TEST(AsioContract, DestructionRestoresEveryDispositionAndTheMask) {
  SIGRELAY_IN_CHILD([] {
    state_restored_after_destruction([](net::io_context& io, int rt) {
      auto s = std::make_unique<sigrelay::asio::signal_set>(io, SIGUSR1, SIGUSR2, SIGHUP);
      s->add(rt);
      return s;
    });
    if (sigrelay::test::posix_platform()) return;
    state_restored_after_destruction([](net::io_context& io, int rt) {
      return std::make_unique<sigrelay::asio::signal_event_set>(
          io, sigrelay::signals({SIGUSR1, SIGUSR2, SIGHUP, rt}, sigrelay::backend::signalfd));
    });
  });
}

// A fork child of a program with a set and a pending wait (asio.hpp, "Fork": "A signal_event_set made
// from signal numbers works in the child after notify_fork(fork_child) too ... its waits (pending
// ones included) complete with them"). The child calls notify_fork() as Asio requires, makes its own
// set too and signals itself: both complete with that signal, from the child. A set made from a
// `signals` that does not follow fork stays dead there ("One ... made from a `signals` that does not
// follow fork, stays dead in the child"): its wait never completes with a signal (destroying the set
// aborts it). Either way the parent's pending wait is neither robbed nor completed by the child's
// signal: it completes with the parent's own kill() afterwards. The parent's io_context is stopped
// (io_context::stop()) with the wait pending before the fork and restarted after it: like any Asio
// operation (and Asio's signal_set's), the wait survives the stop and completes with the signal sent
// while nothing ran the io_context.
void fork_child_runs_its_own_set(bool follow) {
  sigrelay::test::prepare_signals({SIGUSR1});
  net::io_context io;
  auto sigs =
      follow ? std::make_unique<sigrelay::asio::signal_event_set>(io, std::initializer_list<int>{SIGUSR1})
             : std::make_unique<sigrelay::asio::signal_event_set>(io, sigrelay::signals({SIGUSR1}));
  std::optional<signal_event> inherited;
  error_code inherited_ec;
  bool inherited_done = false;
  sigs->async_wait([&](error_code ec, const signal_event& e) {
    inherited_done = true;
    inherited_ec = ec;
    if (!ec) inherited = e;
  });
  net::post(io, [&] { io.stop(); });
  io.run();  // the wait is in the reactor; the io_context is stopped
  EXPECT_TRUE(io.stopped());
  io.notify_fork(net::execution_context::fork_prepare);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    io.notify_fork(net::execution_context::fork_child);
    int code = 0;
    {
      sigrelay::asio::signal_event_set mine(io, {SIGUSR1});
      std::optional<signal_event> got;
      mine.async_wait([&](error_code ec, const signal_event& e) {
        if (!ec) got = e;
      });
      kill(getpid(), SIGUSR1);
      alarm(10);
      io.restart();
      while (!got || (follow && !inherited_done)) io.run_one();
      if (got->count != 1) {
        code = 11;
      } else if (got->last.pid != getpid()) {
        code = 12;
      } else if (inherited_done != follow) {
        code = 13;
      } else if (follow &&
                 (inherited_ec || !inherited || inherited->count != 1 || inherited->last.pid != getpid())) {
        code = 15;
      }
    }
    if (!follow) {
      sigs.reset();
      io.restart();
      while (!inherited_done) io.run_one();
      if (code == 0 && inherited_ec != net::error::operation_aborted) code = 14;
    }
    _exit(code);
  }
  io.notify_fork(net::execution_context::fork_parent);
  const int status = sigrelay::test::wait_with_deadline(child, 20);
  EXPECT_TRUE(sigrelay::test::exited_with(status, 0))
      << "11: wrong count, 12: wrong sender, 13: inherited wait completed (or not: follow = " << follow
      << "), 14: inherited wait not aborted, 15: inherited wait completed wrongly";
  EXPECT_FALSE(inherited_done) << "the child's signal reached the parent's set";
  kill(getpid(), SIGUSR1);  // nothing runs the io_context meanwhile
  io.restart();
  io.run();  // returns once the wait completed (nothing else is pending); a lost one: the watchdog
  ASSERT_TRUE(inherited_done);
  EXPECT_FALSE(inherited_ec) << inherited_ec.message();
  ASSERT_TRUE(inherited.has_value());
  EXPECT_EQ(1u, inherited->count) << "the child's signal reached the parent's set";
  EXPECT_EQ(getpid(), inherited->last.pid);
}

TEST(AsioContract, ForkChildRunsItsOwnSetAndTheParentsStoppedIoContextRestarts) {
  SIGRELAY_IN_CHILD([] { fork_child_runs_its_own_set(true); });
}

TEST(AsioContract, ForkChildOfASetWhoseSourceDoesNotFollowKeepsItDead) {
  SIGRELAY_IN_CHILD([] { fork_child_runs_its_own_set(false); });
}

// asio.hpp, "Fork": "the events it had queued at the fork (the parent's) are dropped there". Two
// signals recorded, one wait: one event handed out, the other queued in the set. In the child, after
// notify_fork(), a wait gets the child's own SIGHUP, never the parent's queued event; in the parent
// the next wait gets it.
TEST(AsioContract, ForkChildOfASignalEventSetDropsTheParentsQueuedEvents) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1, SIGUSR2, SIGHUP});
    net::io_context io;
    sigrelay::asio::signal_event_set sigs(io, {SIGUSR1, SIGUSR2, SIGHUP});
    kill(getpid(), SIGUSR1);
    kill(getpid(), SIGUSR2);
    std::vector<signal_event> got;
    const auto record = [&](error_code ec, const signal_event& e) {
      if (!ec) got.push_back(e);
    };
    sigs.async_wait(record);
    run_until(io, [&] { return got.size() == 1; });
    io.notify_fork(net::execution_context::fork_prepare);
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      alarm(10);
      io.notify_fork(net::execution_context::fork_child);
      got.clear();
      sigs.async_wait(record);
      kill(getpid(), SIGHUP);
      io.restart();
      while (got.empty()) io.run_one();
      _exit(got[0].signo == SIGHUP && got[0].last.pid == getpid() ? 0 : 11);
    }
    io.notify_fork(net::execution_context::fork_parent);
    EXPECT_TRUE(sigrelay::test::exited_with(sigrelay::test::wait_with_deadline(child, 20), 0))
        << "11: the child handed out the parent's queued event";
    sigs.async_wait(record);
    run_until(io, [&] { return got.size() == 2; });
    ASSERT_EQ(2u, got.size());
    EXPECT_EQ(SIGUSR1 + SIGUSR2, got[0].signo + got[1].signo);
    EXPECT_EQ(getpid(), got[1].last.pid);
  });
}

// Header, "Allocation": "what Asio allocates for an operation comes from the completion handler's
// associated allocator, as for Asio's own operations"; "Completion": the handler runs through its
// associated executor. A handler with a counting allocator and a strand of its own: a wait that
// completes at once (a delivery queued: through a post) and one that waits on the descriptor
// allocate through it and give everything back, and each runs in the strand, for both types and
// for Boost.Asio's own signal_set (the reference).
template <typename T>
struct counting_allocator {
  using value_type = T;
  counting_allocator(int* allocations, int* live) noexcept : allocations_(allocations), live_(live) {}
  template <typename U>
  counting_allocator(const counting_allocator<U>& other) noexcept  // NOLINT(google-explicit-constructor)
      : allocations_(other.allocations_), live_(other.live_) {}
  T* allocate(std::size_t n) {
    ++*allocations_;
    ++*live_;
    return std::allocator<T>().allocate(n);
  }
  void deallocate(T* p, std::size_t n) noexcept {
    --*live_;
    std::allocator<T>().deallocate(p, n);
  }
  template <typename U>
  bool operator==(const counting_allocator<U>& other) const noexcept {
    return allocations_ == other.allocations_;
  }
  template <typename U>
  bool operator!=(const counting_allocator<U>& other) const noexcept {
    return !(*this == other);
  }
  int* allocations_;
  int* live_;
};

template <typename Set, typename Result>
void allocates_through_the_handlers_allocator(const char* what) {
  SCOPED_TRACE(what);
  sigrelay::test::prepare_signals({SIGUSR1});
  net::io_context io;
  auto strand = net::make_strand(io);
  std::optional<Set> sigs;
  if constexpr (std::is_same_v<Result, signal_event>) {
    sigs.emplace(io, std::initializer_list<int>{SIGUSR1});
  } else {
    sigs.emplace(io, SIGUSR1);
  }
  int allocations = 0;
  int live = 0;
  int completed = 0;
  bool in_strand = true;
  struct handler {
    using allocator_type = counting_allocator<void>;
    allocator_type get_allocator() const noexcept { return allocator; }
    using executor_type = net::strand<net::io_context::executor_type>;
    executor_type get_executor() const noexcept { return strand; }
    void operator()(error_code ec, Result) const {
      EXPECT_FALSE(ec) << ec.message();
      *in_strand = *in_strand && strand.running_in_this_thread();
      ++*completed;
    }
    allocator_type allocator;
    executor_type strand;
    bool* in_strand;
    int* completed;
  };
  const handler h{counting_allocator<void>(&allocations, &live), strand, &in_strand, &completed};
  // On the descriptor: no delivery yet.
  sigs->async_wait(h);
  io.poll();
  EXPECT_EQ(0, completed);
  send_from_other_process(SIGUSR1);
  run_until(io, [&] { return completed == 1; });
  const int on_descriptor = allocations;
  EXPECT_GT(on_descriptor, 0) << "a wait on the descriptor allocated nothing through the handler's allocator";
  // At once: a delivery already queued.
  send_from_other_process(SIGUSR1);
  io.poll();
  sigs->async_wait(h);
  run_until(io, [&] { return completed == 2; });
  EXPECT_GT(allocations, on_descriptor) << "a wait completed at once allocated nothing through it";
  EXPECT_EQ(0, live) << "memory from the handler's allocator was not given back";
  EXPECT_TRUE(in_strand) << "a handler ran outside its strand";
}

TEST(AsioContract, AWaitAllocatesThroughItsHandlersAllocatorAndRunsInItsExecutor) {
  SIGRELAY_IN_CHILD(
      [] { allocates_through_the_handlers_allocator<net::signal_set, int>("Boost.Asio's signal_set"); });
  SIGRELAY_IN_CHILD([] {
    allocates_through_the_handlers_allocator<sigrelay::asio::signal_set, int>("sigrelay::asio::signal_set");
  });
  SIGRELAY_IN_CHILD([] {
    allocates_through_the_handlers_allocator<sigrelay::asio::signal_event_set, signal_event>(
        "sigrelay::asio::signal_event_set");
  });
}

// Header, "Completion": per-operation cancellation "is honoured while the wait is waiting for the
// descriptor"; "Cancellation": "A cancelled wait consumes nothing"; "Migration": "nothing is lost
// between waits"; "Thread safety": one object may be used from several threads running its
// io_context. A signal_event_set on an io_context run by three threads. Each round starts six
// waits, each bound to a cancellation slot of its own, cancels the first at once, has another
// process send three realtime signals (sigqueue() values in order) after a random pause, and
// cancels the second after another, racing the deliveries the pool is handing out. Every value
// arrives exactly once (the waits outnumber the deliveries, so none is left queued), nothing is
// dropped, and every wait completes exactly once (those still pending at the end by cancel()).
// Under ThreadSanitizer, which keeps one pending instance per signal number and merges the realtime
// signals it defers (README, "Sanitizers change signal delivery"), each value arrives at most once,
// and the rest is checked the same way.
TEST(AsioContract, PerOperationCancellationRacingDeliveriesOnAThreadPoolLosesNothing) {
  SIGRELAY_IN_CHILD([] {
    const int rt = SIGRTMIN + 3;
    sigrelay::test::prepare_signals({rt});
    net::io_context io(3);
    auto work = net::make_work_guard(io);
    sigrelay::asio::signal_event_set set(io, {rt});
    std::mutex mutex;
    std::vector<int> values;
    int completed = 0;
    int aborted = 0;
    const auto handler = [&](error_code ec, const signal_event& e) {
      const std::lock_guard<std::mutex> lock(mutex);
      ++completed;
      if (ec) {
        EXPECT_EQ(net::error::operation_aborted, ec) << ec.message();
        ++aborted;
        return;
      }
      EXPECT_EQ(rt, e.signo);
      EXPECT_EQ(1u, e.count);
      values.push_back(e.last.value.sival_int);
    };
    std::vector<std::thread> pool;
    for (int i = 0; i < 3; ++i) pool.push_back(sigrelay::test::start_blocked_thread([&io] { io.run(); }));
    std::deque<net::cancellation_signal> slots;  // each outlives its wait
    constexpr int kRounds = 40;
    constexpr int kPerRound = 3;
    const pid_t parent = getpid();
    unsigned seed = 12345;
    const auto pause_us = [&seed] { return (seed = seed * 1103515245u + 12345u) >> 16 & 255u; };
    for (int round = 0; round < kRounds; ++round) {
      const std::size_t first = slots.size();
      for (int i = 0; i < 6; ++i)
        set.async_wait(net::bind_cancellation_slot(slots.emplace_back().slot(), handler));
      slots[first].emit(net::cancellation_type::terminal);
      const unsigned sender_pause = pause_us();
      const pid_t sender = fork();
      ASSERT_GE(sender, 0);
      if (sender == 0) {
        usleep(sender_pause);
        for (int k = 0; k < kPerRound; ++k) {
          union sigval value {};
          value.sival_int = round * kPerRound + k;
          if (sigqueue(parent, rt, value) != 0) _exit(1);
        }
        _exit(0);
      }
      const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(pause_us());
      while (std::chrono::steady_clock::now() < until) {
      }
      slots[first + 1].emit(net::cancellation_type::terminal);
      EXPECT_TRUE(sigrelay::test::exited_with(sigrelay::test::wait_with_deadline(sender, 20), 0));
    }
    const auto received = [&] {
      const std::lock_guard<std::mutex> lock(mutex);
      return values.size();
    };
    if (!kThreadSanitizer) {
      EXPECT_TRUE(sigrelay::test::wait_until_true(
          [&] { return received() >= static_cast<std::size_t>(kRounds * kPerRound); }, 20s))
          << "deliveries missing";
    } else {  // until nothing more comes for 300 ms
      for (std::size_t before = received();; before = received()) {
        std::this_thread::sleep_for(300ms);
        if (received() == before) break;
      }
    }
    int cancelled_per_operation = 0;
    {
      const std::lock_guard<std::mutex> lock(mutex);
      cancelled_per_operation = aborted;
    }
    set.cancel();
    EXPECT_TRUE(sigrelay::test::wait_until_true(
        [&] {
          const std::lock_guard<std::mutex> lock(mutex);
          return completed == static_cast<int>(slots.size());
        },
        20s))
        << "a wait never completed";
    work.reset();
    io.stop();
    for (std::thread& t : pool) t.join();
    std::sort(values.begin(), values.end());
    EXPECT_EQ(values.end(), std::adjacent_find(values.begin(), values.end())) << "a value arrived twice";
    if (!kThreadSanitizer) {
      ASSERT_EQ(static_cast<std::size_t>(kRounds * kPerRound), values.size());
      for (int i = 0; i < kRounds * kPerRound; ++i) ASSERT_EQ(i, values[static_cast<std::size_t>(i)]);
    } else {
      EXPECT_FALSE(values.empty());
      EXPECT_TRUE(values.empty() || (values.front() >= 0 && values.back() < kRounds * kPerRound));
    }
    EXPECT_EQ(static_cast<int>(slots.size()), completed);
    // The first wait of each round was cancelled before any delivery of the round, behind pending
    // waits (more waits than deliveries): it cannot have taken one. The second one may have.
    EXPECT_GE(cancelled_per_operation, kRounds) << "a wait cancelled before any delivery was not aborted";
    EXPECT_LE(cancelled_per_operation, 2 * kRounds) << "a wait was aborted that nobody cancelled";
    EXPECT_EQ(0u, set.dropped());
  });
}

}  // namespace
