// SPDX-License-Identifier: MIT
// adapters/tests/peer_asio_test.cc — Boost.Asio's signal_set, scenario by scenario, beside
// sigrelay::asio::signal_set, which <sigrelay/asio.hpp> calls "a drop-in for asio::signal_set".
//
// Most scenarios are typed tests (PeerAsioSideBySide): the same body runs once with
// boost::asio::signal_set (the reference: it shows the expected result is Asio's) and once with
// sigrelay's, each in its own forked child (Boost's signal_set installs its own handler). Both must
// give the same observable result, except where the header lists a difference: those tests assert
// each side's documented result and say so. The scenarios come from Asio's reference documentation
// of basic_signal_set (queueing, multiple registration, add/remove/clear/cancel, per-operation
// cancellation, destruction, fork with notify_fork) and from what its implementation does.
#include "sigrelay/asio.hpp"
#include "support/asio_sides.hpp"

#include <gtest/gtest.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "support/child.hpp"
#include "support/platform.hpp"
#include "support/signal_helpers.hpp"

namespace {

namespace net = ::boost::asio;
using namespace std::chrono_literals;
using error_code = ::boost::system::error_code;
using sigrelay::test::is_default_disposition;
using sigrelay::test::send_from_other_process;

using sigrelay::test::asio_sides::expect_completed;
using sigrelay::test::asio_sides::outcome;
using sigrelay::test::asio_sides::settle;
using sigrelay::test::asio_sides::side_names;
using sigrelay::test::asio_sides::sides;
using sigrelay::test::asio_sides::start_wait;

template <typename T>
class PeerAsioSideBySide : public ::testing::Test {};
TYPED_TEST_SUITE(PeerAsioSideBySide, sides, side_names);

// Runs `io` until `done()` or the deadline; fails on the deadline.
template <typename Pred>
void run_until(net::io_context& io, Pred done, std::chrono::milliseconds deadline = 10000ms) {
  const auto end = std::chrono::steady_clock::now() + deadline;
  while (!done() && std::chrono::steady_clock::now() < end) {
    io.restart();
    io.run_for(10ms);
  }
  EXPECT_TRUE(done()) << "timed out";
}

// "If a signal is registered with a signal_set, and the signal occurs when there are no waiting
// handlers, then the signal notification is queued. The next async_wait operation on that
// signal_set will dequeue the notification." And the handler is never run inside async_wait().
TYPED_TEST(PeerAsioSideBySide, NotificationQueuedWithoutAWaitGoesToTheNextWait) {
  SIGRELAY_IN_CHILD([] {
    net::io_context io;
    typename TypeParam::set s(io, SIGUSR1);
    kill(getpid(), SIGUSR1);
    settle(io);
    outcome o;
    start_wait(s, o);
    EXPECT_FALSE(o.done) << "completed inside async_wait()";
    run_until(io, [&] { return o.done; });
    expect_completed(o, SIGUSR1, "queued notification");
  });
}

// "If multiple notifications are queued, subsequent async_wait operations dequeue them one at a
// time." Three deliveries (each handled before the next kill() returns) are three completions; a
// fourth wait stays pending.
TYPED_TEST(PeerAsioSideBySide, EachQueuedDeliveryCompletesOneWait) {
  SIGRELAY_IN_CHILD([] {
    net::io_context io;
    typename TypeParam::set s(io, SIGUSR1);
    for (int i = 0; i < 3; ++i) kill(getpid(), SIGUSR1);
    settle(io);
    for (int i = 0; i < 3; ++i) {
      outcome o;
      start_wait(s, o);
      run_until(io, [&] { return o.done; });
      expect_completed(o, SIGUSR1, "queued delivery");
    }
    outcome fourth;
    start_wait(s, fourth);
    settle(io);
    EXPECT_FALSE(fourth.done) << "a fourth completion from three deliveries";
    s.cancel();
    run_until(io, [&] { return fourth.done; });
    expect_completed(fourth, 0, "fourth wait, cancelled");
  });
}

// "Signal notifications are dequeued in order of ascending signal number." SIGTERM (15) and
// SIGUSR2 (12) are queued; the first wait takes SIGUSR2. Then SIGUSR1 (10) arrives, still before
// SIGTERM was handed out: Asio hands out SIGUSR1 before SIGTERM, since every queued notification
// is ordered by number, whenever it arrived.
TYPED_TEST(PeerAsioSideBySide, QueuedNotificationsComeOutByAscendingNumber) {
  SIGRELAY_IN_CHILD([] {
    net::io_context io;
    typename TypeParam::set s(io, SIGUSR1, SIGUSR2, SIGTERM);
    kill(getpid(), SIGTERM);
    kill(getpid(), SIGUSR2);
    settle(io);
    std::vector<int> order;
    outcome o;
    start_wait(s, o);
    run_until(io, [&] { return o.done; });
    order.push_back(o.signo);
    kill(getpid(), SIGUSR1);
    settle(io);
    for (int i = 0; i < 2; ++i) {
      start_wait(s, o);
      run_until(io, [&] { return o.done; });
      EXPECT_FALSE(o.ec);
      order.push_back(o.signo);
    }
    EXPECT_EQ((std::vector<int>{SIGUSR2, SIGUSR1, SIGTERM}), order);
  });
}

// "The same signal number may be registered with different signal_set objects. When the signal
// occurs, one handler is called for each signal_set object." Two sets on one io_context and one on
// another, all waiting, and a fourth set that is not waiting (its notification is queued): one
// signal from another process completes each.
TYPED_TEST(PeerAsioSideBySide, EverySetOfTheSignalGetsOneCompletion) {
  SIGRELAY_IN_CHILD([] {
    using Set = typename TypeParam::set;
    net::io_context io, other_io;
    Set a(io, SIGUSR1), b(io, SIGUSR1), c(other_io, SIGUSR1), d(io, SIGUSR1);
    outcome oa, ob, oc, od;
    start_wait(a, oa);
    start_wait(b, ob);
    start_wait(c, oc);
    settle(io);
    settle(other_io);
    send_from_other_process(SIGUSR1);
    run_until(io, [&] { return oa.done && ob.done; });
    run_until(other_io, [&] { return oc.done; });
    settle(io);
    expect_completed(oa, SIGUSR1, "set a");
    expect_completed(ob, SIGUSR1, "set b");
    expect_completed(oc, SIGUSR1, "set c, other io_context");
    start_wait(d, od);
    run_until(io, [&] { return od.done; });
    expect_completed(od, SIGUSR1, "set d, queued");
    // Exactly one each: a second wait on a stays pending.
    start_wait(a, oa);
    settle(io);
    EXPECT_FALSE(oa.done) << "one signal, two completions on one set";
    a.cancel();
    run_until(io, [&] { return oa.done; });
  });
}

// Removing a signal from one set leaves the other sets of that signal registered (Asio counts the
// registrations; the disposition goes back to SIG_DFL with the last). The set it was removed from
// keeps its pending wait, which that signal no longer completes.
TYPED_TEST(PeerAsioSideBySide, RemoveFromOneSetLeavesTheOthersRegistered) {
  SIGRELAY_IN_CHILD([] {
    using Set = typename TypeParam::set;
    net::io_context io;
    Set a(io, SIGUSR1), b(io, SIGUSR1);
    outcome oa, ob;
    start_wait(a, oa);
    start_wait(b, ob);
    settle(io);
    a.remove(SIGUSR1);
    EXPECT_FALSE(is_default_disposition(SIGUSR1));
    kill(getpid(), SIGUSR1);
    run_until(io, [&] { return ob.done; });
    settle(io);
    expect_completed(ob, SIGUSR1, "set b");
    EXPECT_FALSE(oa.done) << "a removed signal completed the wait";
    a.cancel();
    run_until(io, [&] { return oa.done; });
    expect_completed(oa, 0, "set a, cancelled");
    b.remove(SIGUSR1);
    EXPECT_TRUE(is_default_disposition(SIGUSR1));
  });
}

// add(): "It has no effect if the signal is already in the set." Added twice, one delivery is one
// completion, and one remove() takes it out of the set (the disposition is SIG_DFL again).
TYPED_TEST(PeerAsioSideBySide, AddingTwiceIsOneRegistration) {
  SIGRELAY_IN_CHILD([] {
    net::io_context io;
    typename TypeParam::set s(io);
    s.add(SIGUSR1);
    s.add(SIGUSR1);
    kill(getpid(), SIGUSR1);
    settle(io);
    outcome o;
    start_wait(s, o);
    run_until(io, [&] { return o.done; });
    expect_completed(o, SIGUSR1, "first wait");
    start_wait(s, o);
    settle(io);
    EXPECT_FALSE(o.done) << "one delivery, two completions";
    s.remove(SIGUSR1);
    EXPECT_TRUE(is_default_disposition(SIGUSR1));
    s.cancel();
    run_until(io, [&] { return o.done; });
    expect_completed(o, 0, "second wait, cancelled");
  });
}

// A wait pending on an empty set completes with a signal added afterwards; remove() and clear()
// leave a pending wait pending (they cancel nothing), and signals no longer in the set do not
// complete it. SIGWINCH and SIGURG are ignored by default, so once removed they are harmless.
TYPED_TEST(PeerAsioSideBySide, AddRemoveAndClearWhileAWaitIsPending) {
  SIGRELAY_IN_CHILD([] {
    net::io_context io;
    typename TypeParam::set s(io);
    outcome o;
    start_wait(s, o);
    settle(io);
    EXPECT_FALSE(o.done);
    s.add(SIGWINCH);
    s.add(SIGURG);
    s.remove(SIGWINCH);
    kill(getpid(), SIGWINCH);
    settle(io);
    EXPECT_FALSE(o.done) << "completed by a removed signal";
    s.clear();
    kill(getpid(), SIGURG);
    settle(io);
    EXPECT_FALSE(o.done) << "completed by a signal removed by clear()";
    EXPECT_TRUE(is_default_disposition(SIGWINCH));
    EXPECT_TRUE(is_default_disposition(SIGURG));
    s.add(SIGURG);
    kill(getpid(), SIGURG);
    run_until(io, [&] { return o.done; });
    expect_completed(o, SIGURG, "re-added signal");
  });
}

// remove(): "Removes any notifications that have been queued for the specified signal"; clear():
// "Removes all queued notifications". Only the removed signal's: the others stay queued.
TYPED_TEST(PeerAsioSideBySide, RemoveAndClearDiscardOnlyTheirQueuedNotifications) {
  SIGRELAY_IN_CHILD([] {
    net::io_context io;
    typename TypeParam::set s(io, SIGUSR1, SIGUSR2);
    kill(getpid(), SIGUSR1);
    kill(getpid(), SIGUSR2);
    settle(io);
    s.remove(SIGUSR1);
    s.add(SIGUSR1);
    outcome o;
    start_wait(s, o);
    run_until(io, [&] { return o.done; });
    expect_completed(o, SIGUSR2, "SIGUSR2 stays queued");
    start_wait(s, o);
    settle(io);
    EXPECT_FALSE(o.done) << "the removed SIGUSR1 was handed out";
    s.cancel();
    run_until(io, [&] { return o.done; });
    kill(getpid(), SIGUSR1);
    kill(getpid(), SIGUSR2);
    settle(io);
    s.clear();
    s.add(SIGUSR1);
    start_wait(s, o);
    settle(io);
    EXPECT_FALSE(o.done) << "clear() left a notification queued";
    s.cancel();
    run_until(io, [&] { return o.done; });
    expect_completed(o, 0, "after clear(), cancelled");
  });
}

// cancel(): pending waits complete with operation_aborted. A signal that arrived before cancel()
// but was not yet handed to the waiting handler (nothing ran the io_context) is not lost: it is
// queued for the next wait. cancel() with no wait pending does nothing and reports success.
TYPED_TEST(PeerAsioSideBySide, CancelAbortsTheWaitAndKeepsASignalNotYetHandedOut) {
  SIGRELAY_IN_CHILD([] {
    net::io_context io;
    typename TypeParam::set s(io, SIGUSR1);
    outcome o;
    start_wait(s, o);
    settle(io);
    kill(getpid(), SIGUSR1);  // recorded by the handler; the io_context has not run since
    s.cancel();
    run_until(io, [&] { return o.done; });
    expect_completed(o, 0, "cancelled wait");
    error_code ec = net::error::broken_pipe;
    s.cancel(ec);
    EXPECT_FALSE(ec) << ec.message();
    start_wait(s, o);
    run_until(io, [&] { return o.done; });
    expect_completed(o, SIGUSR1, "the next wait");
  });
}

// Per-operation cancellation: Asio's async_wait documents support for cancellation_type::terminal,
// partial and total. Each type, emitted on a bound slot while the wait waits, completes that wait
// with operation_aborted; a later wait still gets the signal.
TYPED_TEST(PeerAsioSideBySide, PerOperationCancellationOfEveryType) {
  SIGRELAY_IN_CHILD([] {
    net::io_context io;
    typename TypeParam::set s(io, SIGUSR1);
    const net::cancellation_type types[] = {net::cancellation_type::terminal, net::cancellation_type::partial,
                                            net::cancellation_type::total};
    for (net::cancellation_type type : types) {
      SCOPED_TRACE(static_cast<int>(type));
      net::cancellation_signal cancel;
      outcome o;
      s.async_wait(net::bind_cancellation_slot(cancel.slot(), [&o](const error_code& ec, int signo) {
        o = {true, ec, signo};
      }));
      settle(io);
      cancel.emit(type);
      settle(io);
      if (!o.done) {  // do not hang: end it the other way, so the test fails instead
        s.cancel();
        run_until(io, [&] { return o.done; });
        ADD_FAILURE() << "cancellation type " << static_cast<int>(type) << " was ignored";
      }
      expect_completed(o, 0, "cancelled by its slot");
    }
    kill(getpid(), SIGUSR1);
    outcome last;
    start_wait(s, last);
    run_until(io, [&] { return last.done; });
    expect_completed(last, SIGUSR1, "after the cancellations");
  });
}

// A wait started while a notification is queued takes it at once (its completion is scheduled):
// a per-operation cancellation emitted before the io_context runs it no longer cancels it, as
// cancel() does not ("These handlers can no longer be cancelled").
TYPED_TEST(PeerAsioSideBySide, SlotEmittedAfterTheNotificationWasTakenDoesNotCancel) {
  SIGRELAY_IN_CHILD([] {
    net::io_context io;
    typename TypeParam::set s(io, SIGUSR1);
    kill(getpid(), SIGUSR1);
    settle(io);
    net::cancellation_signal cancel;
    outcome o;
    s.async_wait(net::bind_cancellation_slot(cancel.slot(), [&o](const error_code& ec, int signo) {
      o = {true, ec, signo};
    }));
    cancel.emit(net::cancellation_type::terminal);
    run_until(io, [&] { return o.done; });
    expect_completed(o, SIGUSR1, "taken before the emit");
  });
}

// "This function destroys the signal set, cancelling any outstanding asynchronous wait operations
// associated with the signal set as if by calling cancel." The disposition is SIG_DFL again.
TYPED_TEST(PeerAsioSideBySide, DestructionAbortsPendingWaitsAndRestoresTheDefault) {
  SIGRELAY_IN_CHILD([] {
    net::io_context io;
    auto s = std::make_unique<typename TypeParam::set>(io, SIGUSR1, SIGUSR2);
    outcome o;
    start_wait(*s, o);
    settle(io);
    s.reset();
    run_until(io, [&] { return o.done; });
    expect_completed(o, 0, "destroyed");
    EXPECT_TRUE(is_default_disposition(SIGUSR1));
    EXPECT_TRUE(is_default_disposition(SIGUSR2));
  });
}

// A real SIGCHLD: a child that exits completes the wait, and the child can be reaped.
TYPED_TEST(PeerAsioSideBySide, SigchldOfAnExitingChild) {
  SIGRELAY_IN_CHILD([] {
    net::io_context io;
    typename TypeParam::set s(io, SIGCHLD);
    outcome o;
    start_wait(s, o);
    settle(io);
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) _exit(7);
    run_until(io, [&] { return o.done; });
    expect_completed(o, SIGCHLD, "SIGCHLD");
    int status = 0;
    ASSERT_EQ(child, waitpid(child, &status, 0));
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 7);
  });
}

// add() of a number that names no signal fails with asio::error::invalid_argument: Asio checks
// the range itself, and sigaction() refuses 0 with EINVAL, both in the system category, so the
// usual `ec == asio::error::invalid_argument` test holds (and so does errc::invalid_argument). A
// failed add() leaves the set as it was.
TYPED_TEST(PeerAsioSideBySide, AddOfANumberNamingNoSignalIsAsiosInvalidArgument) {
  SIGRELAY_IN_CHILD([] {
    net::io_context io;
    typename TypeParam::set s(io, SIGUSR1);
    for (int bad : {-1, 0, NSIG, 1000}) {
      SCOPED_TRACE(bad);
      error_code ec;
      s.add(bad, ec);
      EXPECT_EQ(net::error::invalid_argument, ec) << ec.message();
      EXPECT_EQ(::boost::system::errc::invalid_argument, ec) << ec.message();
      EXPECT_THROW(s.add(bad), ::boost::system::system_error);
    }
    kill(getpid(), SIGUSR1);
    outcome o;
    start_wait(s, o);
    run_until(io, [&] { return o.done; });
    expect_completed(o, SIGUSR1, "still in the set");
  });
}

// remove() of a number out of range (below 0, NSIG and above) fails with invalid_argument, as
// Asio checks the range; remove() of a number in range that is not in the set (0 included)
// succeeds and does nothing.
TYPED_TEST(PeerAsioSideBySide, RemoveOfANumberOutOfRangeIsAnInvalidArgument) {
  SIGRELAY_IN_CHILD([] {
    net::io_context io;
    typename TypeParam::set s(io, SIGUSR1);
    for (int bad : {-1, NSIG, 1000}) {
      SCOPED_TRACE(bad);
      error_code ec;
      s.remove(bad, ec);
      EXPECT_EQ(net::error::invalid_argument, ec) << ec.message();
      EXPECT_THROW(s.remove(bad), ::boost::system::system_error);
    }
    for (int absent : {0, SIGUSR2}) {
      error_code ec = net::error::broken_pipe;
      s.remove(absent, ec);
      EXPECT_FALSE(ec) << absent << ": " << ec.message();
    }
    kill(getpid(), SIGUSR1);
    outcome o;
    start_wait(s, o);
    run_until(io, [&] { return o.done; });
    expect_completed(o, SIGUSR1, "still in the set");
  });
}

// SIGKILL and SIGSTOP cannot be caught: add() fails with EINVAL, as errc::invalid_argument.
TYPED_TEST(PeerAsioSideBySide, UncatchableSignalsAreRefused) {
  SIGRELAY_IN_CHILD([] {
    net::io_context io;
    typename TypeParam::set s(io);
    for (int signo : {SIGKILL, SIGSTOP}) {
      error_code ec;
      s.add(signo, ec);
      EXPECT_EQ(::boost::system::errc::invalid_argument, ec) << signo << ": " << ec.message();
    }
  });
}

// The usual loop: each handler starts the next wait. Three signals from another process, one at a
// time, are three completions in order, whichever side.
TYPED_TEST(PeerAsioSideBySide, HandlerThatWaitsAgainGetsEverySignal) {
  SIGRELAY_IN_CHILD([] {
    net::io_context io;
    typename TypeParam::set s(io, SIGUSR1, SIGUSR2);
    std::vector<int> got;
    std::function<void(const error_code&, int)> on_signal = [&](const error_code& ec, int signo) {
      if (ec) return;
      got.push_back(signo);
      s.async_wait(on_signal);
    };
    s.async_wait(on_signal);
    const int sent[] = {SIGUSR1, SIGUSR2, SIGUSR1};
    for (std::size_t i = 0; i < 3; ++i) {
      send_from_other_process(sent[i]);
      run_until(io, [&] { return got.size() > i; });
    }
    EXPECT_EQ((std::vector<int>{SIGUSR1, SIGUSR2, SIGUSR1}), got);
    s.cancel();
    settle(io);
  });
}

// Completion tokens other than a callback, through the same signature void(error_code, int):
// use_future, deferred and use_awaitable each give the signal number.
TYPED_TEST(PeerAsioSideBySide, FutureDeferredAndAwaitableGiveTheNumber) {
  SIGRELAY_IN_CHILD([] {
    using Set = typename TypeParam::set;
    net::io_context io;
    Set s(io, SIGUSR1, SIGUSR2);
    std::future<int> f = s.async_wait(net::use_future);
    kill(getpid(), SIGUSR2);
    run_until(io, [&] { return f.wait_for(0s) == std::future_status::ready; });
    EXPECT_EQ(SIGUSR2, f.get());

    auto op = s.async_wait(net::deferred);
    outcome o;
    kill(getpid(), SIGUSR1);
    std::move(op)([&o](const error_code& ec, int signo) { o = {true, ec, signo}; });
    run_until(io, [&] { return o.done; });
    expect_completed(o, SIGUSR1, "deferred");

    int awaited = 0;
    net::co_spawn(
        io, [&]() -> net::awaitable<void> { awaited = co_await s.async_wait(net::use_awaitable); },
        net::detached);
    settle(io);
    kill(getpid(), SIGUSR2);
    run_until(io, [&] { return awaited != 0; });
    EXPECT_EQ(SIGUSR2, awaited);
  });
}

// Asio's signal_set completes every pending wait with one delivery (signal_set_service::deliver_signal
// pops the whole queue of waiting operations); so does the drop-in (header, "Completion"). Two waits
// pending on one set, one signal: both complete with it.
TYPED_TEST(PeerAsioSideBySide, TwoPendingWaitsAndOneSignalCompleteBoth) {
  SIGRELAY_IN_CHILD([] {
    net::io_context io;
    typename TypeParam::set s(io, SIGUSR1);
    outcome first, second;
    start_wait(s, first);
    start_wait(s, second);
    settle(io);
    kill(getpid(), SIGUSR1);
    run_until(io, [&] { return first.done && second.done; });
    expect_completed(first, SIGUSR1, "first wait");
    expect_completed(second, SIGUSR1, "second wait (the same delivery)");
  });
}

// A listed difference (the header's migration note: "sigrelay chains with every other handler of
// the signal (through its registry) instead of overwriting it"). A program handler for SIGUSR1
// exists before the set: Asio's signal_set replaces it (the handler no longer runs) and leaves
// SIG_DFL when it goes; sigrelay's runs it too and gives it back.
TYPED_TEST(PeerAsioSideBySide, AnEarlierHandlerIsReplacedByAsioAndChainedBySigrelay) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::install_prior_state(SIGRTMIN + 1);
    net::io_context io;
    auto s = std::make_unique<typename TypeParam::set>(io, SIGUSR1);
    outcome o;
    start_wait(*s, o);
    kill(getpid(), SIGUSR1);
    run_until(io, [&] { return o.done; });
    expect_completed(o, SIGUSR1, "the set");
    s.reset();
    EXPECT_EQ(TypeParam::is_sigrelay ? 1 : 0, sigrelay::test::prior_handler_calls());
    EXPECT_EQ(!TypeParam::is_sigrelay, is_default_disposition(SIGUSR1));
    if (TypeParam::is_sigrelay) {
      kill(getpid(), SIGUSR1);
      EXPECT_EQ(2, sigrelay::test::prior_handler_calls()) << "the earlier handler was not given back";
    }
  });
}

// Per-operation cancellation of one of two pending waits ends that one only: the other still
// completes with the next signal.
TYPED_TEST(PeerAsioSideBySide, SlotCancelsOnlyItsOwnWait) {
  SIGRELAY_IN_CHILD([] {
    net::io_context io;
    typename TypeParam::set s(io, SIGUSR1);
    net::cancellation_signal cancel;
    outcome bound, plain;
    s.async_wait(net::bind_cancellation_slot(cancel.slot(), [&bound](const error_code& ec, int signo) {
      bound = {true, ec, signo};
    }));
    start_wait(s, plain);
    settle(io);
    cancel.emit(net::cancellation_type::terminal);
    settle(io);
    expect_completed(bound, 0, "the bound wait");
    EXPECT_FALSE(plain.done) << "the other wait was cancelled too";
    send_from_other_process(SIGUSR1);
    run_until(io, [&] { return plain.done; });
    expect_completed(plain, SIGUSR1, "the other wait");
  });
}

// SIGCHLD also comes for a child that stops and for one that continues (neither side asks for
// SA_NOCLDSTOP), then for its exit: three deliveries, each handled before the next is caused (the
// continued child exits only when told to, through a pipe: a second SIGCHLD before the first was
// handled would merge with it in the kernel).
TYPED_TEST(PeerAsioSideBySide, SigchldAlsoForAStoppedAndAContinuedChild) {
  SIGRELAY_IN_CHILD([] {
    net::io_context io;
    typename TypeParam::set s(io, SIGCHLD);
    int go[2];
    ASSERT_EQ(0, pipe(go));
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      close(go[1]);
      raise(SIGSTOP);
      char c;
      _exit(read(go[0], &c, 1) == 1 ? 0 : 1);
    }
    close(go[0]);
    int status = 0;
    ASSERT_EQ(child, waitpid(child, &status, WUNTRACED));
    EXPECT_TRUE(WIFSTOPPED(status));
    outcome o;
    start_wait(s, o);
    run_until(io, [&] { return o.done; });
    expect_completed(o, SIGCHLD, "stopped");
    kill(child, SIGCONT);
    ASSERT_EQ(child, waitpid(child, &status, WCONTINUED));
    EXPECT_TRUE(WIFCONTINUED(status));
    start_wait(s, o);
    run_until(io, [&] { return o.done; });
    expect_completed(o, SIGCHLD, "continued");
    const char c = 'x';
    EXPECT_EQ(1, write(go[1], &c, 1));
    close(go[1]);
    ASSERT_EQ(child, waitpid(child, &status, 0));
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    start_wait(s, o);
    run_until(io, [&] { return o.done; });
    expect_completed(o, SIGCHLD, "exited");
  });
}

// A listed difference (header: "SA_RESTART"): Boost 1.81's signal_set installs its handler without
// SA_RESTART, so a blocking read() that the signal interrupts fails with EINTR; sigrelay installs
// SA_RESTART (<sigrelay/registry.hpp>), so the read() goes on and returns the byte written after the
// signal. The signal is sent with tgkill() once this thread is seen blocked in read()
// (/proc/self/task/TID/syscall), by a helper thread that blocks SIGUSR1 itself.
TYPED_TEST(PeerAsioSideBySide, ABlockingReadInterruptedByTheSignalDiffersAsListed) {
  SIGRELAY_IN_CHILD([] {
    net::io_context io;
    typename TypeParam::set s(io, SIGUSR1);
    struct sigaction now {};
    ASSERT_EQ(0, sigaction(SIGUSR1, nullptr, &now));
    EXPECT_EQ(TypeParam::is_sigrelay, (now.sa_flags & SA_RESTART) != 0);
    if (sigrelay::test::kUnderTsan) GTEST_SKIP() << "ThreadSanitizer runs handlers outside the read()";
    int fds[2];
    ASSERT_EQ(0, pipe(fds));
    const pid_t me = sigrelay::test::current_tid();
    std::thread helper([&] {
      sigrelay::test::block_signals_in_this_thread();
      const std::string path = "/proc/self/task/" + std::to_string(me) + "/syscall";
      for (int i = 0; i < 10000; ++i) {  // at most 10 s
        std::FILE* f = std::fopen(path.c_str(), "r");
        long nr = -1;
        if (f != nullptr) {
          if (std::fscanf(f, "%ld", &nr) != 1) nr = -1;
          std::fclose(f);
        }
        if (nr == SYS_read) break;
        std::this_thread::sleep_for(1ms);
      }
      syscall(SYS_tgkill, getpid(), me, SIGUSR1);
      std::this_thread::sleep_for(50ms);
      char c = 'x';
      EXPECT_EQ(1, write(fds[1], &c, 1));
    });
    char c = 0;
    const ssize_t n = read(fds[0], &c, 1);
    const int err = errno;
    helper.join();
    if (TypeParam::is_sigrelay) {
      EXPECT_EQ(1, n) << "read() failed: " << std::strerror(err);
    } else {
      EXPECT_EQ(-1, n);
      EXPECT_EQ(EINTR, err);
    }
    outcome o;
    start_wait(s, o);
    run_until(io, [&] { return o.done; });
    expect_completed(o, SIGUSR1, "the signal");
    close(fds[0]);
    close(fds[1]);
  });
}

// Hostile: sets made, waited on and destroyed one after the other on this thread while another
// thread runs their io_context, half of them signalled just before their destruction. Every wait
// completes exactly once, with the signal or with operation_aborted, and its handler runs on the
// io_context's thread after the set is gone. SIGWINCH is ignored by default, so a delivery that
// comes after a set's destruction is harmless; the io_context's thread blocks it, so that each
// kill() is handled on this thread before it returns.
TYPED_TEST(PeerAsioSideBySide, SetsDestroyedWhileAnotherThreadRunsTheirWaits) {
  SIGRELAY_IN_CHILD([] {
    using Set = typename TypeParam::set;
    net::io_context io;
    auto guard = net::make_work_guard(io);
    std::atomic<bool> runner_blocks{false};
    std::thread runner([&] {
      sigrelay::test::block_signals_in_this_thread();
      runner_blocks = true;
      io.run();
    });
    // Before the first kill(): a thread still starting (or not yet blocking) could take it.
    ASSERT_TRUE(sigrelay::test::wait_until_true([&] { return runner_blocks.load(); }, 5s));
    constexpr int kRounds = 200;
    std::atomic<int> completed{0}, with_signal{0}, aborted{0}, other{0};
    for (int i = 0; i < kRounds; ++i) {
      auto set = std::make_unique<Set>(io, SIGWINCH);
      set->async_wait([&](const error_code& ec, int signo) {
        if (!ec && signo == SIGWINCH) {
          ++with_signal;
        } else if (ec == net::error::operation_aborted) {
          ++aborted;
        } else {
          ++other;
        }
        ++completed;
      });
      if (i % 2 == 0) kill(getpid(), SIGWINCH);
      set.reset();
    }
    EXPECT_TRUE(sigrelay::test::wait_until_true([&] { return completed.load() >= kRounds; }, 20s));
    guard.reset();
    io.stop();
    runner.join();
    EXPECT_EQ(kRounds, completed.load());
    EXPECT_EQ(0, other.load());
    EXPECT_EQ(kRounds, with_signal.load() + aborted.load());
    EXPECT_GE(aborted.load(), kRounds / 2) << "an unsignalled set's wait completed with a signal";
  });
}

// Fork, as Asio documents it: io_context::notify_fork(fork_prepare) before fork(), fork_child in the
// child, fork_parent in the parent. With Asio's signal_set, a set made before the fork keeps
// working in the child (Asio's own daemon example makes its SIGINT/SIGTERM set before it forks
// into the background). The parent's pending wait is not completed by the child's signal and
// still gets its own.
//
// sigrelay's drop-in subscribes again in the child at notify_fork(fork_child) (asio.hpp, "Fork").
template <typename Set>
void inherited_set_in_fork_child() {
  net::io_context io;
  Set s(io, SIGUSR1, SIGUSR2);
  outcome parent_wait;
  start_wait(s, parent_wait);
  settle(io);
  io.notify_fork(net::execution_context::fork_prepare);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    io.notify_fork(net::execution_context::fork_child);
    alarm(10);
    s.cancel();  // the parent's wait, copied into the child
    io.restart();
    io.poll();
    outcome o;
    start_wait(s, o);
    kill(getpid(), SIGUSR2);
    while (!o.done) {
      io.restart();
      io.run_one();
    }
    _exit(!o.ec && o.signo == SIGUSR2 ? 0 : 3);
  }
  io.notify_fork(net::execution_context::fork_parent);
  const int status = sigrelay::test::wait_with_deadline(child, 20);
  EXPECT_TRUE(sigrelay::test::exited_with(status, 0)) << sigrelay::test::describe_status(status);
  settle(io);
  EXPECT_FALSE(parent_wait.done) << "the child's signal reached the parent's set";
  kill(getpid(), SIGUSR1);
  run_until(io, [&] { return parent_wait.done; });
  expect_completed(parent_wait, SIGUSR1, "the parent's own");
}

TEST(PeerAsioFork, InheritedSetWorksInTheChildAfterNotifyForkBoost) {
  SIGRELAY_IN_CHILD([] { inherited_set_in_fork_child<net::signal_set>(); });
}
TEST(PeerAsioFork, InheritedSetWorksInTheChildAfterNotifyForkSigrelay) {
  SIGRELAY_IN_CHILD([] { inherited_set_in_fork_child<sigrelay::asio::signal_set>(); });
}

// A wait pending at the fork, not cancelled: after notify_fork(fork_child) it completes in the child
// with the child's own signal, as with Asio's signal_set. Another I/O object made before the set (so
// an older reactor service, as in Asio's daemon example) and a second set on the same context; the
// parent's wait is untouched. Without notify_fork() the inherited set would stay dead (the header's
// "Fork").
template <typename Set>
void pending_wait_across_fork() {
  net::io_context io;
  net::posix::stream_descriptor other(io);  // an I/O object older than the sets
  Set first(io, SIGUSR1);
  Set second(io, SIGUSR2, SIGHUP);
  outcome parent_wait;
  start_wait(second, parent_wait);
  settle(io);
  io.notify_fork(net::execution_context::fork_prepare);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    io.notify_fork(net::execution_context::fork_child);
    alarm(10);
    kill(getpid(), SIGHUP);
    while (!parent_wait.done) {
      io.restart();
      io.run_one();
    }
    int code = parent_wait.ec || parent_wait.signo != SIGHUP ? 3 : 0;
    outcome o;
    start_wait(first, o);
    kill(getpid(), SIGUSR1);
    while (!o.done) {
      io.restart();
      io.run_one();
    }
    if (code == 0 && (o.ec || o.signo != SIGUSR1)) code = 4;
    _exit(code);
  }
  io.notify_fork(net::execution_context::fork_parent);
  const int status = sigrelay::test::wait_with_deadline(child, 20);
  EXPECT_TRUE(sigrelay::test::exited_with(status, 0))
      << sigrelay::test::describe_status(status) << " (3: the inherited wait, 4: the second set)";
  settle(io);
  EXPECT_FALSE(parent_wait.done) << "the child's signal reached the parent's set";
  kill(getpid(), SIGUSR2);
  run_until(io, [&] { return parent_wait.done; });
  expect_completed(parent_wait, SIGUSR2, "the parent's own");
}

TEST(PeerAsioFork, AWaitPendingAtTheForkCompletesInTheChildBoost) {
  SIGRELAY_IN_CHILD([] { pending_wait_across_fork<net::signal_set>(); });
}
TEST(PeerAsioFork, AWaitPendingAtTheForkCompletesInTheChildSigrelay) {
  SIGRELAY_IN_CHILD([] { pending_wait_across_fork<sigrelay::asio::signal_set>(); });
}

// Where sigrelay's drop-in differs in a fork child (the header's "Fork"): without notify_fork() the
// inherited set is dead (its pending wait is aborted by cancel() and never completes with a signal,
// its add() fails) while a set made in the child receives; and the parent's wait is untouched by the
// child's signals.
TEST(PeerAsioFork, WithoutNotifyForkTheInheritedDropInIsDeadANewOneWorks) {
  SIGRELAY_IN_CHILD([] {
    net::io_context io;
    sigrelay::asio::signal_set s(io, SIGUSR1, SIGUSR2);
    outcome parent_wait;
    start_wait(s, parent_wait);
    settle(io);
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      alarm(10);
      int code = 0;
      {
        sigrelay::asio::signal_set mine(io, SIGUSR2);
        outcome o;
        start_wait(mine, o);
        kill(getpid(), SIGUSR2);
        while (!o.done) {
          io.restart();
          io.run_one();
        }
        if (o.ec || o.signo != SIGUSR2) code = 3;
      }
      if (code == 0 && parent_wait.done) code = 4;  // the inherited wait completed with SIGUSR2
      error_code ec;
      s.add(SIGHUP, ec);
      if (code == 0 && !ec) code = 6;
      s.cancel();
      while (!parent_wait.done) {
        io.restart();
        io.run_one();
      }
      if (code == 0 && parent_wait.ec != net::error::operation_aborted) code = 5;
      _exit(code);
    }
    const int status = sigrelay::test::wait_with_deadline(child, 20);
    EXPECT_TRUE(sigrelay::test::exited_with(status, 0))
        << sigrelay::test::describe_status(status)
        << " (3: the child's own set failed, 4: the inherited wait completed, 5: not aborted, 6: add() "
           "worked)";
    settle(io);
    EXPECT_FALSE(parent_wait.done) << "the child's signal reached the parent's set";
    kill(getpid(), SIGUSR1);
    run_until(io, [&] { return parent_wait.done; });
    expect_completed(parent_wait, SIGUSR1, "the parent's own");
  });
}

// A fork child that gets a signal before it does anything (no notify_fork()): with Asio's
// signal_set the child's handler writes into the pipe it shares with the parent, so the parent's
// set can take the child's signal as its own (a known Asio race). sigrelay's child never wakes the
// parent's consumer (DESIGN, "fork"): the parent's wait completes only with the parent's own signal.
TEST(PeerAsioFork, ChildSignalledAtOnceNeverReachesTheParentsSet) {
  SIGRELAY_IN_CHILD([] {
    net::io_context io;
    sigrelay::asio::signal_set s(io, SIGUSR1, SIGUSR2);
    outcome parent_wait;
    start_wait(s, parent_wait);
    settle(io);
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      // The inherited subscription is dead here: SIGUSR2 has its default action back (it ends the
      // child); SIGUSR1 is sent first and ends it likewise.
      for (;;) pause();
    }
    kill(child, SIGUSR1);
    const int status = sigrelay::test::wait_with_deadline(child, 20);
    EXPECT_TRUE(sigrelay::test::killed_by(status, SIGUSR1)) << sigrelay::test::describe_status(status);
    settle(io);
    EXPECT_FALSE(parent_wait.done) << "the child's signal reached the parent's set";
    kill(getpid(), SIGUSR2);
    run_until(io, [&] { return parent_wait.done; });
    expect_completed(parent_wait, SIGUSR2, "the parent's own");
  });
}

}  // namespace
