// SPDX-License-Identifier: MIT
// adapters/tests/asio_test.cc — sigrelay's Asio adapter with real signals. Compiled twice: against
// Boost.Asio (asio_adapter_test) and against standalone Asio with SIGRELAY_ASIO_STANDALONE
// (asio_standalone_adapter_test). The shared scenarios are typed tests run through both the drop-in
// (sigrelay::asio::signal_set, results are ints) and the richer type (signal_event_set, results are
// signal_events); then what only one of them has; then the unmodified asio::signal_set program
// (asio_program.cc) run with real signals.
#include "sigrelay/asio.hpp"
#include "sigrelay/relays.hpp"

#include <gtest/gtest.h>

#if defined(SIGRELAY_ASIO_STANDALONE)
#include <asio/bind_cancellation_slot.hpp>
#include <asio/bind_executor.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/experimental/deferred.hpp>
#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/use_future.hpp>
#else
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#endif

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>
#include <algorithm>
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
#include <type_traits>
#include <vector>

#include "support/child.hpp"
#include "support/platform.hpp"
#include "support/signal_helpers.hpp"

namespace {

#if defined(SIGRELAY_ASIO_STANDALONE)
namespace net = ::asio;
constexpr const auto& deferred = ::asio::experimental::deferred;  // Asio 1.22: still experimental
#else
namespace net = ::boost::asio;
constexpr const auto& deferred = ::boost::asio::deferred;
#endif
using namespace std::chrono_literals;
using error_code = sigrelay::asio::error_code;
constexpr bool kThreadSanitizer = SIGRELAY_TEST_UNDER_TSAN;
using sigrelay::origin_kind;
using sigrelay::signal_event;
using sigrelay::test::send_from_other_process;
using sigrelay::test::send_how;

// Runs `io` until `done()` or the deadline; fails on the deadline.
template <typename Pred>
void run_until(net::io_context& io, Pred done, std::chrono::milliseconds deadline = 5000ms) {
  const auto end = std::chrono::steady_clock::now() + deadline;
  io.restart();
  while (!done() && std::chrono::steady_clock::now() < end) {
    io.run_for(10ms);
    if (io.stopped()) io.restart();
  }
  EXPECT_TRUE(done()) << "timed out";
}

// The two types, for the typed tests (each named after the type it stands for): how to make one and
// what a result says.
struct signal_set {
  using set = sigrelay::asio::signal_set;
  using result = int;
  static std::unique_ptr<set> make(net::io_context& io, std::initializer_list<int> signos) {
    auto s = std::make_unique<set>(io);
    for (int signo : signos) s->add(signo);
    return s;
  }
  template <typename Executor>
  static std::unique_ptr<set> make_on(const Executor& ex, std::initializer_list<int> signos) {
    auto s = std::make_unique<set>(ex);
    for (int signo : signos) s->add(signo);
    return s;
  }
  static int signo(int r) { return r; }
  static std::uint64_t count(int) { return 1; }  // one result per delivery
  static constexpr bool broadcast = true;        // one delivery completes every pending wait, as Asio's
};
struct signal_event_set {
  using set = sigrelay::asio::signal_event_set;
  using result = signal_event;
  static std::unique_ptr<set> make(net::io_context& io, std::initializer_list<int> signos) {
    return std::make_unique<set>(io, signos);
  }
  template <typename Executor>
  static std::unique_ptr<set> make_on(const Executor& ex, std::initializer_list<int> signos) {
    return std::make_unique<set>(ex, signos);
  }
  static int signo(const signal_event& e) { return e.signo; }
  static std::uint64_t count(const signal_event& e) { return e.count; }
  static constexpr bool broadcast = false;  // one pending wait per event, first come first served
};
template <typename T>
class AsioAdapter : public ::testing::Test {};
using both_types = ::testing::Types<signal_set, signal_event_set>;
TYPED_TEST_SUITE(AsioAdapter, both_types);

TYPED_TEST(AsioAdapter, CallbackGetsASignalFromAnotherProcess) {
  SIGRELAY_IN_CHILD([] {
    using T = TypeParam;
    sigrelay::test::prepare_signals({SIGUSR1});
    net::io_context io;
    auto sigs = T::make(io, {SIGUSR1});
    send_from_other_process(SIGUSR1);
    bool got = false;
    sigs->async_wait([&](error_code ec, const typename T::result& r) {
      ASSERT_FALSE(ec) << ec.message();
      EXPECT_EQ(SIGUSR1, T::signo(r));
      EXPECT_EQ(1u, T::count(r));
      got = true;
    });
    io.run();
    EXPECT_TRUE(got);
  });
}

TYPED_TEST(AsioAdapter, SignalsBetweenWaitsAreQueuedNotLost) {
  SIGRELAY_IN_CHILD([] {
    using T = TypeParam;
    sigrelay::test::prepare_signals({SIGUSR1, SIGUSR2, SIGHUP});
    net::io_context io;
    auto sigs = T::make(io, {SIGUSR1, SIGUSR2, SIGHUP});
    // Before any wait: each kill() of itself is delivered before it returns, so counts are exact.
    for (int i = 0; i < 5; ++i) kill(getpid(), SIGUSR1);
    kill(getpid(), SIGUSR2);
    std::uint64_t usr1 = 0, usr2 = 0, hup = 0;
    int results = 0;
    bool inside_async_wait = false;
    std::function<void(error_code, typename T::result)> on_result = [&](error_code ec, typename T::result r) {
      ASSERT_FALSE(ec);
      EXPECT_FALSE(inside_async_wait) << "completed inside async_wait()";
      if (T::signo(r) == SIGUSR1) usr1 += T::count(r);
      if (T::signo(r) == SIGUSR2) usr2 += T::count(r);
      if (T::signo(r) == SIGHUP) hup += T::count(r);
      // Between waits: arrives while no wait is pending.
      if (++results == 1) {
        kill(getpid(), SIGHUP);
        kill(getpid(), SIGHUP);
      }
      if (usr1 + usr2 + hup < 8) {
        inside_async_wait = true;
        sigs->async_wait(on_result);
        inside_async_wait = false;
      }
    };
    inside_async_wait = true;
    sigs->async_wait(on_result);
    inside_async_wait = false;
    io.run();
    EXPECT_EQ(5u, usr1);
    EXPECT_EQ(1u, usr2);
    EXPECT_EQ(2u, hup);
    // The drop-in: one result per delivery (as Asio's signal_set); the richer type: one per event.
    EXPECT_EQ((std::is_same_v<T, signal_set> ? 8 : 3), results);
  });
}

TYPED_TEST(AsioAdapter, CancelCompletesPendingWaitsAndLosesNothing) {
  SIGRELAY_IN_CHILD([] {
    using T = TypeParam;
    sigrelay::test::prepare_signals({SIGUSR1});
    net::io_context io;
    auto sigs = T::make(io, {SIGUSR1});
    int aborted = 0;
    for (int i = 0; i < 2; ++i) {
      sigs->async_wait([&](error_code ec, const typename T::result&) {
        EXPECT_EQ(net::error::operation_aborted, ec);
        ++aborted;
      });
    }
    net::steady_timer t(io, 20ms);
    t.async_wait([&](error_code) { sigs->cancel(); });
    io.run();
    EXPECT_EQ(2, aborted);
    // The object goes on working after cancel(), and a signal sent meanwhile is there.
    send_from_other_process(SIGUSR1);
    bool got = false;
    sigs->async_wait([&](error_code ec, const typename T::result& r) {
      ASSERT_FALSE(ec);
      EXPECT_EQ(SIGUSR1, T::signo(r));
      got = true;
    });
    io.restart();
    io.run();
    EXPECT_TRUE(got);
  });
}

TYPED_TEST(AsioAdapter, PerOperationCancellationEndsOnlyThatWait) {
  SIGRELAY_IN_CHILD([] {
    using T = TypeParam;
    sigrelay::test::prepare_signals({SIGUSR1});
    net::io_context io;
    auto sigs = T::make(io, {SIGUSR1});
    net::cancellation_signal cancel;
    error_code first_ec;
    bool first = false, second = false;
    sigs->async_wait(
        net::bind_cancellation_slot(cancel.slot(), [&](error_code ec, const typename T::result&) {
          first_ec = ec;
          first = true;
        }));
    net::steady_timer t(io, 20ms);
    t.async_wait([&](error_code) { cancel.emit(net::cancellation_type::terminal); });
    run_until(io, [&] { return first; });
    EXPECT_EQ(net::error::operation_aborted, first_ec);
    sigs->async_wait([&](error_code ec, const typename T::result& r) {
      EXPECT_FALSE(ec);
      EXPECT_EQ(SIGUSR1, T::signo(r));
      second = true;
    });
    kill(getpid(), SIGUSR1);
    run_until(io, [&] { return second; });
  });
}

TYPED_TEST(AsioAdapter, DestructionCancelsPendingWaitAndRestoresTheSignal) {
  SIGRELAY_IN_CHILD([] {
    using T = TypeParam;
    sigrelay::test::prepare_signals({SIGUSR1});
    net::io_context io;
    auto sigs = T::make(io, {SIGUSR1});
    EXPECT_FALSE(sigrelay::test::is_default_disposition(SIGUSR1));
    bool aborted = false;
    sigs->async_wait([&](error_code ec, const typename T::result&) {
      EXPECT_EQ(net::error::operation_aborted, ec);
      aborted = true;
    });
    net::steady_timer t(io, 20ms);
    t.async_wait([&](error_code) { sigs.reset(); });
    io.run();
    EXPECT_TRUE(aborted);
    EXPECT_TRUE(sigrelay::test::is_default_disposition(SIGUSR1));
  });
}

TYPED_TEST(AsioAdapter, UseFutureWithIoContextOnAnotherThread) {
  SIGRELAY_IN_CHILD([] {
    using T = TypeParam;
    sigrelay::test::prepare_signals({SIGHUP});
    net::io_context io;
    auto guard = net::make_work_guard(io);
    std::thread runner([&] {
      sigrelay::test::block_signals_in_this_thread();
      io.run();
    });
    auto sigs = T::make(io, {SIGHUP});
    std::atomic<bool> running{false};
    net::post(io, [&] { running = true; });
    sigrelay::test::wait_until_true([&] { return running.load(); }, 5s);  // the runner has started
    std::future<typename T::result> f = sigs->async_wait(net::use_future);
    send_from_other_process(SIGHUP);
    ASSERT_TRUE(
        sigrelay::test::wait_until_true([&] { return f.wait_for(0s) == std::future_status::ready; }, 5s));
    EXPECT_EQ(SIGHUP, T::signo(f.get()));
    // cancel() turns into an exception through the future.
    std::future<typename T::result> g = sigs->async_wait(net::use_future);
    net::post(io, [&] { sigs->cancel(); });
    ASSERT_TRUE(
        sigrelay::test::wait_until_true([&] { return g.wait_for(0s) == std::future_status::ready; }, 5s));
    EXPECT_THROW(g.get(), sigrelay::asio::system_error);
    guard.reset();
    runner.join();
  });
}

TYPED_TEST(AsioAdapter, UseAwaitableInACoroutine) {
  SIGRELAY_IN_CHILD([] {
    using T = TypeParam;
    sigrelay::test::prepare_signals({SIGUSR1, SIGUSR2});
    net::io_context io;
    auto sigs = T::make(io, {SIGUSR1, SIGUSR2});
    std::vector<int> got;
    net::co_spawn(
        io,
        [&]() -> net::awaitable<void> {
          for (int i = 0; i < 2; ++i) {
            const typename T::result r = co_await sigs->async_wait(net::use_awaitable);
            got.push_back(T::signo(r));
            if (i == 0) send_from_other_process(SIGUSR2);
          }
        },
        net::detached);
    send_from_other_process(SIGUSR1);
    io.run();
    EXPECT_EQ((std::vector<int>{SIGUSR1, SIGUSR2}), got);
  });
}

// Header, "Completion": per-operation cancellation through a bound slot ends the wait;
// "Cancellation": a cancelled wait consumes nothing. The usual coroutine pattern, a signal or a
// timeout: `co_await (sigs.async_wait(use_awaitable) || timer.async_wait(use_awaitable))`, whose
// operator cancels the loser through its slot. Twelve rounds: the timer wins (no signal: the wait
// is cancelled on the descriptor); the signal wins, sent before the wait starts (it takes the
// queued delivery at once; the timer is cancelled); the signal wins, sent while the wait is on the
// descriptor. Each signal is handed to the round it was sent for, none to a cancelled wait.
TYPED_TEST(AsioAdapter, SignalOrTimeoutWithAwaitableOperators) {
  SIGRELAY_IN_CHILD([] {
    using T = TypeParam;
    using namespace net::experimental::awaitable_operators;
    sigrelay::test::prepare_signals({SIGUSR1});
    net::io_context io;
    auto sigs = T::make(io, {SIGUSR1});
    net::steady_timer timeout(io);
    net::steady_timer kick(io);  // sends the signal while the wait is on the descriptor
    std::vector<std::string> got;
    std::vector<std::string> expected;
    bool done = false;
    net::co_spawn(
        io,
        [&]() -> net::awaitable<void> {
          for (int round = 0; round < 12; ++round) {
            const int kind = round % 3;  // 0: timeout, 1: signal queued first, 2: signal meanwhile
            if (kind == 1) send_from_other_process(SIGUSR1);
            if (kind == 2) {
              kick.expires_after(std::chrono::milliseconds(20));
              kick.async_wait([](error_code ec) {
                if (!ec) send_from_other_process(SIGUSR1);
              });
            }
            timeout.expires_after(kind == 0 ? std::chrono::milliseconds(30) : std::chrono::seconds(10));
            const auto r =
                co_await (sigs->async_wait(net::use_awaitable) || timeout.async_wait(net::use_awaitable));
            got.push_back(r.index() == 0 ? "signal " + std::to_string(T::signo(std::get<0>(r))) : "timeout");
            expected.push_back(kind == 0 ? "timeout" : "signal " + std::to_string(SIGUSR1));
          }
          done = true;
        },
        net::detached);
    io.run();
    EXPECT_TRUE(done);
    EXPECT_EQ(expected, got);
  });
}

TYPED_TEST(AsioAdapter, UseAwaitableAsTheDefaultToken) {
  SIGRELAY_IN_CHILD([] {
    using T = TypeParam;
    sigrelay::test::prepare_signals({SIGUSR1});
    net::io_context io;
    using awaitable_set = typename net::use_awaitable_t<>::template as_default_on_t<typename T::set>;
    awaitable_set sigs(io, {SIGUSR1});  // the drop-in takes {SIGUSR1} as its one int
    int got = 0;
    net::co_spawn(
        io,
        [&]() -> net::awaitable<void> {
          const typename T::result r = co_await sigs.async_wait();  // no token: use_awaitable
          got = T::signo(r);
        },
        net::detached);
    kill(getpid(), SIGUSR1);
    io.run();
    EXPECT_EQ(SIGUSR1, got);
  });
}

TYPED_TEST(AsioAdapter, DeferredToken) {
  SIGRELAY_IN_CHILD([] {
    using T = TypeParam;
    sigrelay::test::prepare_signals({SIGUSR1});
    net::io_context io;
    auto sigs = T::make(io, {SIGUSR1});
    // A deferred operation does nothing until it is launched with a token: no wait yet.
    auto op = sigs->async_wait(deferred);
    kill(getpid(), SIGUSR1);
    int got = 0;
    std::move(op)([&](error_code ec, typename T::result r) {
      EXPECT_FALSE(ec);
      got = T::signo(r);
    });
    io.run();
    EXPECT_EQ(SIGUSR1, got);
    // Composed: deferred(...) continuations turn the result into the signal number.
    io.restart();
    got = 0;
    sigs->async_wait(deferred([](error_code ec, typename T::result r) {
      return deferred.values(ec, T::signo(r));
    }))([&](error_code ec, int signo) {
      EXPECT_FALSE(ec);
      got = signo;
    });
    kill(getpid(), SIGUSR1);
    io.run();
    EXPECT_EQ(SIGUSR1, got);
  });
}

TYPED_TEST(AsioAdapter, HandlerRunsOnItsBoundStrand) {
  SIGRELAY_IN_CHILD([] {
    using T = TypeParam;
    sigrelay::test::prepare_signals({SIGUSR1});
    net::io_context io;
    auto strand = net::make_strand(io);
    auto sigs = T::make(io, {SIGUSR1});
    bool on_strand = false;
    sigs->async_wait(net::bind_executor(strand, [&](error_code ec, const typename T::result&) {
      EXPECT_FALSE(ec);
      on_strand = strand.running_in_this_thread();
    }));
    kill(getpid(), SIGUSR1);
    io.run();
    EXPECT_TRUE(on_strand);
  });
}

// A set made on an executor that is not the io_context's own (a strand, a thread pool's): a
// handler with no executor of its own completes there, both when the wait takes a delivery already
// queued at its start (posted: the adapter posts through the io_context's executor only when the
// set's any_io_executor holds one) and when it waits on the descriptor.
TYPED_TEST(AsioAdapter, AHandlerWithoutAnExecutorCompletesOnTheSetsExecutor) {
  SIGRELAY_IN_CHILD([] {
    using T = TypeParam;
    sigrelay::test::prepare_signals({SIGUSR1, SIGUSR2});
    net::io_context io;
    auto strand = net::make_strand(io);
    auto on_strand = T::make_on(strand, {SIGUSR1});
    int completed = 0;
    bool in_strand = true;
    bool inside_async_wait = false;
    const auto on_result = [&](error_code ec, const typename T::result& r) {
      EXPECT_FALSE(ec) << ec.message();
      EXPECT_EQ(SIGUSR1, T::signo(r));
      EXPECT_FALSE(inside_async_wait) << "completed inside async_wait()";
      in_strand = in_strand && strand.running_in_this_thread();
      ++completed;
    };
    kill(getpid(), SIGUSR1);  // recorded before the wait starts: taken at once
    inside_async_wait = true;
    on_strand->async_wait(on_result);
    inside_async_wait = false;
    run_until(io, [&] { return completed == 1; });
    on_strand->async_wait(on_result);  // on the descriptor
    io.poll();
    EXPECT_EQ(1, completed);
    send_from_other_process(SIGUSR1);
    run_until(io, [&] { return completed == 2; });
    EXPECT_TRUE(in_strand) << "a completion ran outside the set's strand";

    net::thread_pool pool(1);
    auto in_pool = T::make_on(pool.get_executor(), {SIGUSR2});
    const auto pool_thread = [&] {
      auto ran = std::make_shared<std::promise<std::thread::id>>();
      std::future<std::thread::id> id = ran->get_future();
      in_pool->async_wait([ran](error_code ec, const typename T::result& r) {
        EXPECT_FALSE(ec) << ec.message();
        EXPECT_EQ(SIGUSR2, T::signo(r));
        ran->set_value(std::this_thread::get_id());
      });
      return id;
    };
    kill(getpid(), SIGUSR2);  // taken at once
    std::future<std::thread::id> first = pool_thread();
    ASSERT_EQ(std::future_status::ready, first.wait_for(5s)) << "the wait taken at once never completed";
    EXPECT_NE(std::this_thread::get_id(), first.get());
    std::future<std::thread::id> second = pool_thread();  // on the descriptor
    EXPECT_EQ(std::future_status::timeout, second.wait_for(50ms));
    send_from_other_process(SIGUSR2);
    ASSERT_EQ(std::future_status::ready, second.wait_for(5s)) << "the wait on the descriptor never completed";
    EXPECT_NE(std::this_thread::get_id(), second.get());
    in_pool.reset();
    pool.join();
  });
}

TYPED_TEST(AsioAdapter, WorksBesideAsiosOwnSignalSet) {
  SIGRELAY_IN_CHILD([] {
    using T = TypeParam;
    sigrelay::test::prepare_signals({SIGUSR1, SIGUSR2, SIGHUP});
    net::io_context io;
    // Asio's own on SIGUSR2 (another signal), and on SIGHUP first, so that sigrelay chains it.
    net::signal_set theirs(io, SIGUSR2, SIGHUP);
    auto ours = T::make(io, {SIGUSR1, SIGHUP});
    std::vector<int> asio_got;
    std::vector<int> ours_got;
    std::function<void(error_code, int)> on_theirs = [&](error_code ec, int signo) {
      if (ec) return;
      asio_got.push_back(signo);
      theirs.async_wait(on_theirs);
    };
    std::function<void(error_code, typename T::result)> on_ours = [&](error_code ec, typename T::result r) {
      if (ec) return;
      ours_got.push_back(T::signo(r));
      ours->async_wait(on_ours);
    };
    theirs.async_wait(on_theirs);
    ours->async_wait(on_ours);
    send_from_other_process(SIGUSR1);
    send_from_other_process(SIGUSR2);
    run_until(io, [&] { return !ours_got.empty() && !asio_got.empty(); });
    send_from_other_process(SIGHUP);
    run_until(io, [&] { return ours_got.size() == 2 && asio_got.size() == 2; });
    EXPECT_EQ((std::vector<int>{SIGUSR1, SIGHUP}), ours_got);
    EXPECT_EQ((std::vector<int>{SIGUSR2, SIGHUP}), asio_got);
    theirs.cancel();
    ours->cancel();
  });
}

TYPED_TEST(AsioAdapter, TwoIoContextsOnTwoThreadsEachGetTheirs) {
  SIGRELAY_IN_CHILD([] {
    using T = TypeParam;
    sigrelay::test::prepare_signals({SIGUSR1, SIGUSR2, SIGHUP});
    struct loop {
      net::io_context io;
      std::vector<int> got;
      std::atomic<int> results{0};  // got.size(), for the main thread
      std::thread::id thread;
      bool on_own_thread = true;
      std::atomic<bool> done{false};
    };
    loop a, b;
    auto sa = T::make(a.io, {SIGUSR1, SIGHUP});
    auto sb = T::make(b.io, {SIGUSR2, SIGHUP});
    auto serve = [](loop& l, typename T::set& s) {
      l.thread = std::this_thread::get_id();
      std::function<void(error_code, typename T::result)> on_result = [&](error_code ec,
                                                                          typename T::result r) {
        if (ec) return;
        l.on_own_thread = l.on_own_thread && std::this_thread::get_id() == l.thread;
        l.got.push_back(T::signo(r));
        ++l.results;
        if (l.got.size() < 2) s.async_wait(on_result);
      };
      s.async_wait(on_result);
      l.io.run();
      l.done = true;
    };
    // The loop threads are born with every signal blocked (no window before they could block it
    // themselves), so every delivery goes to this thread's handler.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    std::thread ta([&] { serve(a, *sa); });
    std::thread tb([&] { serve(b, *sb); });
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    // Each send is checked to reach sigrelay's handler (a counter action). Under ThreadSanitizer, about
    // one run in a hundred on a loaded machine loses a signal before any handler runs (the counter
    // stays 0: the loss is in the sanitizer's deferred signal handling, not in sigrelay); there, and
    // only there, the signal is sent again.
    std::atomic<std::uint64_t> handled[3] = {};
    const int sent[3] = {SIGUSR1, SIGUSR2, SIGHUP};
    std::vector<sigrelay::action_id> counters;
    for (int i = 0; i < 3; ++i)
      counters.push_back(sigrelay::add_action(sent[i], sigrelay::relay::add_count(handled[i])));
    auto send = [&](int i) {
      send_from_other_process(sent[i]);
      bool seen = sigrelay::test::wait_until_true([&] { return handled[i] >= 1; }, 5s);
      if (!seen && kThreadSanitizer) {
        std::fprintf(stderr, "%s lost before any handler ran; sending it again\n",
                     sigrelay::signal_name(sent[i]).data());
        send_from_other_process(sent[i]);
        seen = sigrelay::test::wait_until_true([&] { return handled[i] >= 1; }, 5s);
      }
      EXPECT_TRUE(seen) << sigrelay::signal_name(sent[i]) << " never reached sigrelay's handler";
    };
    send(0);
    send(1);
    // SIGHUP only once each loop has handed out its own signal: sent earlier, it could be drained in
    // the same batch, which orders standard signals by number (SIGHUP first).
    EXPECT_TRUE(sigrelay::test::wait_until_true([&] { return a.results >= 1 && b.results >= 1; }, 10s));
    send(2);
    EXPECT_TRUE(sigrelay::test::wait_until_true([&] { return a.done && b.done; }, 10s));
    if (!a.done) net::post(a.io, [&] { sa->cancel(); });
    if (!b.done) net::post(b.io, [&] { sb->cancel(); });
    ta.join();
    tb.join();
    EXPECT_EQ((std::vector<int>{SIGUSR1, SIGHUP}), a.got);
    EXPECT_EQ((std::vector<int>{SIGUSR2, SIGHUP}), b.got);
    EXPECT_TRUE(a.on_own_thread);
    EXPECT_TRUE(b.on_own_thread);
    for (const sigrelay::action_id id : counters) sigrelay::remove_action(id);
  });
}

TYPED_TEST(AsioAdapter, SeveralThreadsRunningOneIoContext) {
  SIGRELAY_IN_CHILD([] {
    using T = TypeParam;
    sigrelay::test::prepare_signals({SIGUSR1});
    net::io_context io;
    auto sigs = T::make(io, {SIGUSR1});
    std::atomic<std::uint64_t> total{0};
    std::atomic<int> completions{0};
    for (int i = 0; i < 4; ++i) {
      sigs->async_wait([&](error_code ec, const typename T::result& r) {
        if (!ec) total += T::count(r);
        ++completions;
      });
    }
    std::vector<std::thread> runners;
    for (int i = 0; i < 3; ++i) {
      runners.emplace_back([&] {
        sigrelay::test::block_signals_in_this_thread();
        io.run();
      });
    }
    for (int i = 0; i < 3; ++i) {
      kill(getpid(), SIGUSR1);
      std::this_thread::sleep_for(20ms);
    }
    // signal_set: the first delivery completes all four waits (the other two stay queued);
    // signal_event_set: each delivery completes one, and cancel() the fourth.
    const std::uint64_t expected = T::broadcast ? 4 : 3;
    sigrelay::test::wait_until_true([&] { return total >= expected; }, 5s);
    net::post(io, [&] { sigs->cancel(); });
    for (std::thread& t : runners) t.join();
    EXPECT_EQ(expected, total.load());
    EXPECT_EQ(4, completions.load());
  });
}

TYPED_TEST(AsioAdapter, SignalStormDoesNotStarveTimers) {
  SIGRELAY_IN_CHILD([] {
    using T = TypeParam;
    sigrelay::test::prepare_signals({SIGUSR1});
    net::io_context io;
    auto sigs = T::make(io, {SIGUSR1});
    std::uint64_t results = 0, deliveries = 0;
    int ticks = 0;
    bool stop = false;
    std::function<void(error_code, typename T::result)> on_result = [&](error_code ec, typename T::result r) {
      if (ec) return;
      ++results;
      deliveries += T::count(r);
      if (!stop) sigs->async_wait(on_result);
    };
    sigs->async_wait(on_result);
    net::steady_timer timer(io);
    std::function<void(error_code)> on_tick = [&](error_code) {
      if (++ticks == 20) {
        stop = true;
        sigs->cancel();
        return;
      }
      timer.expires_after(5ms);
      timer.async_wait(on_tick);
    };
    timer.expires_after(5ms);
    timer.async_wait(on_tick);
    sigrelay::test::block_signal_in_this_thread(SIGUSR1);  // the flood's handlers run on `receiver`
    sigrelay::test::receiver_thread receiver(SIGUSR1);
    const pid_t flood = sigrelay::test::start_flood(SIGUSR1);
    const auto start = std::chrono::steady_clock::now();
    io.run();
    const auto took = std::chrono::steady_clock::now() - start;
    sigrelay::test::stop_flood(flood);
    EXPECT_EQ(20, ticks);
    EXPECT_LT(took, 3s) << "the timer was starved";
    EXPECT_GT(results, 0u);
    EXPECT_GE(deliveries, results);
  });
}

// --- The drop-in only: asio::signal_set's constructors, members and overloads.

// Checked at compile time: the same constructor forms and member signatures as Asio's.
using dropin = sigrelay::asio::signal_set;
static_assert(std::is_constructible_v<dropin, net::io_context&>);
static_assert(std::is_constructible_v<dropin, net::io_context&, int>);
static_assert(std::is_constructible_v<dropin, net::io_context&, int, int>);
static_assert(std::is_constructible_v<dropin, net::io_context&, int, int, int>);
static_assert(std::is_constructible_v<dropin, const net::any_io_executor&>);
static_assert(std::is_constructible_v<dropin, const net::any_io_executor&, int, int, int>);
static_assert(!std::is_convertible_v<net::io_context&, dropin>);  // explicit, as Asio's
static_assert(!std::is_copy_constructible_v<dropin>);
static_assert(std::is_same_v<dropin::executor_type, net::signal_set::executor_type>);
static_assert(std::is_same_v<dropin::rebind_executor<net::io_context::executor_type>::other,
                             sigrelay::asio::basic_signal_set<net::io_context::executor_type>>);
static_assert(std::is_same_v<decltype(std::declval<dropin&>().add(0)), void>);
static_assert(std::is_same_v<decltype(std::declval<dropin&>().add(0, std::declval<error_code&>())), void>);
static_assert(std::is_same_v<decltype(std::declval<dropin&>().remove(0, std::declval<error_code&>())), void>);
static_assert(std::is_same_v<decltype(std::declval<dropin&>().clear(std::declval<error_code&>())), void>);
static_assert(std::is_same_v<decltype(std::declval<dropin&>().cancel(std::declval<error_code&>())), void>);
static_assert(std::is_same_v<decltype(std::declval<dropin&>().get_executor()), net::any_io_executor>);

TEST(AsioSignalSet, ConstructorsTakeUpToThreeSignals) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1, SIGUSR2, SIGHUP, SIGWINCH});
    net::io_context io;
    {
      sigrelay::asio::signal_set none(io);
      sigrelay::asio::signal_set one(io, SIGUSR1);
      sigrelay::asio::signal_set two(io.get_executor(), SIGUSR2, SIGHUP);
      sigrelay::asio::signal_set three(io, SIGWINCH, SIGHUP, SIGUSR2);
      for (int s : {SIGUSR1, SIGUSR2, SIGHUP, SIGWINCH})
        EXPECT_FALSE(sigrelay::test::is_default_disposition(s));
      std::vector<int> got;
      std::function<void(error_code, int)> on_three = [&](error_code ec, int signo) {
        ASSERT_FALSE(ec);
        got.push_back(signo);
        if (got.size() < 3) three.async_wait(on_three);
      };
      three.async_wait(on_three);
      kill(getpid(), SIGWINCH);
      kill(getpid(), SIGHUP);
      kill(getpid(), SIGUSR2);
      io.run();
      std::sort(got.begin(), got.end());
      std::vector<int> want{SIGWINCH, SIGHUP, SIGUSR2};
      std::sort(want.begin(), want.end());
      EXPECT_EQ(want, got);
      // The empty one waits for nothing until cancelled.
      bool aborted = false;
      none.async_wait([&](error_code ec, int) { aborted = ec == net::error::operation_aborted; });
      net::post(io, [&] { none.cancel(); });
      io.restart();
      io.run();
      EXPECT_TRUE(aborted);
    }
    for (int s : {SIGUSR1, SIGUSR2, SIGHUP, SIGWINCH}) EXPECT_TRUE(sigrelay::test::is_default_disposition(s));
  });
}

TEST(AsioSignalSet, ErrorCodeOverloadsReportAndThrowingOnesThrowAsiosType) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1});
    net::io_context io;
    sigrelay::asio::signal_set sigs(io);
    error_code ec;
    sigs.add(SIGUSR1, ec);
    EXPECT_FALSE(ec);
    sigs.add(SIGUSR1, ec);  // present: nothing
    EXPECT_FALSE(ec);
    sigs.add(SIGKILL, ec);  // refused
    EXPECT_TRUE(ec);
    sigs.add(0, ec);
    EXPECT_TRUE(ec);
    sigs.add(1000, ec);
    EXPECT_TRUE(ec);
    EXPECT_THROW(sigs.add(SIGKILL), sigrelay::asio::system_error);
    EXPECT_THROW(sigrelay::asio::signal_set(io, SIGUSR1, SIGSTOP), sigrelay::asio::system_error);
    sigs.remove(SIGUSR2, ec);  // absent: nothing
    EXPECT_FALSE(ec);
    sigs.cancel(ec);
    EXPECT_FALSE(ec);
    // The failures changed nothing: SIGUSR1 is still there.
    int got = 0;
    sigs.async_wait([&](error_code wait_ec, int signo) {
      EXPECT_FALSE(wait_ec);
      got = signo;
    });
    kill(getpid(), SIGUSR1);
    io.run();
    EXPECT_EQ(SIGUSR1, got);
    sigs.clear(ec);
    EXPECT_FALSE(ec);
    EXPECT_TRUE(sigrelay::test::is_default_disposition(SIGUSR1));
    // A moved-from object: add() fails with bad_descriptor, its waits too.
    sigrelay::asio::signal_set moved(std::move(sigs));
    sigs.add(SIGUSR1, ec);
    EXPECT_EQ(net::error::bad_descriptor, ec);
    error_code wait_ec;
    sigs.async_wait([&](error_code e, int) { wait_ec = e; });
    io.restart();
    io.run();
    EXPECT_EQ(net::error::bad_descriptor, wait_ec);
  });
}

TEST(AsioSignalSet, RemoveAndClearDiscardQueuedDeliveriesAsAsiosDo) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1, SIGUSR2, SIGHUP});
    net::io_context io;
    sigrelay::asio::signal_set sigs(io, SIGUSR1, SIGUSR2, SIGHUP);
    kill(getpid(), SIGUSR1);
    kill(getpid(), SIGUSR2);
    sigs.remove(SIGUSR1);  // its delivery goes with it
    std::vector<int> got;
    sigs.async_wait([&](error_code ec, int signo) {
      ASSERT_FALSE(ec);
      got.push_back(signo);
    });
    io.run();
    EXPECT_EQ((std::vector<int>{SIGUSR2}), got);
    kill(getpid(), SIGHUP);
    sigs.clear();  // and everything with clear()
    sigs.add(SIGUSR2);
    bool aborted = false;
    sigs.async_wait([&](error_code ec, int) { aborted = ec == net::error::operation_aborted; });
    net::steady_timer t(io, 20ms);
    t.async_wait([&](error_code) { sigs.cancel(); });
    io.restart();
    io.run();
    EXPECT_TRUE(aborted) << "a delivery of a cleared signal completed the wait";
  });
}

TEST(AsioSignalSet, CoAwaitGivesTheSignalNumber) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGINT, SIGTERM});
    net::io_context io;
    sigrelay::asio::signal_set signals(io, SIGINT, SIGTERM);
    int stopped_by = 0;
    net::co_spawn(
        io,
        [&]() -> net::awaitable<void> {
          int s = co_await signals.async_wait(net::use_awaitable);  // as with Asio's signal_set
          stopped_by = s;
        },
        net::detached);
    send_from_other_process(SIGTERM);
    io.run();
    EXPECT_EQ(SIGTERM, stopped_by);
  });
}

// --- The richer type only: origins, realtime values, a signalfd source.

TEST(AsioEventSet, KillFromAnotherProcessCarriesItsOrigin) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1});
    net::io_context io;
    sigrelay::asio::signal_event_set sigs(io, {SIGUSR1});
    const pid_t sender = send_from_other_process(SIGUSR1);
    bool got = false;
    sigs.async_wait([&](error_code ec, const signal_event& e) {
      ASSERT_FALSE(ec) << ec.message();
      EXPECT_EQ(SIGUSR1, e.signo);
      EXPECT_EQ(1u, e.count);
      EXPECT_EQ(sender, e.last.pid);
      EXPECT_EQ(getuid(), e.last.uid);
      EXPECT_EQ(origin_kind::user, e.last.kind);
      EXPECT_TRUE(e.last.trusted);
      got = true;
    });
    io.run();
    EXPECT_TRUE(got);
  });
}

TEST(AsioEventSet, SigqueueKeepsEveryRealtimeValueInOrder) {
  SIGRELAY_IN_CHILD([] {
    const int rt = SIGRTMIN + 1;
    sigrelay::test::prepare_signals({rt});
    net::io_context io;
    sigrelay::asio::signal_event_set sigs(io, {rt});
    const pid_t sender = send_from_other_process(rt, send_how::queue, 100, 3);
    std::vector<signal_event> got;
    std::function<void(error_code, const signal_event&)> on_event = [&](error_code ec,
                                                                        const signal_event& e) {
      ASSERT_FALSE(ec);
      got.push_back(e);
      if (got.size() < 3) sigs.async_wait(on_event);
    };
    sigs.async_wait(on_event);
    io.run();
    ASSERT_EQ(3u, got.size());
    for (int i = 0; i < 3; ++i) {
      EXPECT_EQ(rt, got[i].signo);
      EXPECT_EQ(1u, got[i].count);
      EXPECT_EQ(origin_kind::queue, got[i].last.kind);
      EXPECT_FALSE(got[i].last.trusted);
      EXPECT_EQ(sender, got[i].last.pid);
      EXPECT_EQ(100 + i, got[i].last.value.sival_int);
    }
  });
}

TEST(AsioEventSet, TgkillToAnotherThreadIsRelayed) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR2});
    net::io_context io;
    sigrelay::asio::signal_event_set sigs(io, {SIGUSR2});
    std::atomic<pid_t> tid{0};
    std::atomic<bool> release{false};
    std::thread other([&] {
      tid = sigrelay::test::current_tid();
      while (!release) std::this_thread::sleep_for(20ms);  // see send_to_thread()
    });
    while (tid == 0) std::this_thread::sleep_for(1ms);
    sigrelay::test::send_to_thread(tid, SIGUSR2);
    bool got = false;
    sigs.async_wait([&](error_code ec, const signal_event& e) {
      ASSERT_FALSE(ec);
      EXPECT_EQ(SIGUSR2, e.signo);
      EXPECT_EQ(origin_kind::thread, e.last.kind);
      EXPECT_EQ(getpid(), e.last.pid);
      EXPECT_TRUE(e.last.trusted);
      got = true;
    });
    io.run();
    release = true;
    other.join();
    EXPECT_TRUE(got);
  });
}

TEST(AsioEventSet, TakesOverASignalsWithTheSignalfdBackend) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the signalfd backend");
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1});
    net::io_context io;
    sigrelay::asio::signal_event_set sigs(io, sigrelay::signals({SIGUSR1}, sigrelay::backend::signalfd));
    const pid_t sender = send_from_other_process(SIGUSR1);
    bool got = false;
    sigs.async_wait([&](error_code ec, const signal_event& e) {
      ASSERT_FALSE(ec);
      EXPECT_EQ(SIGUSR1, e.signo);
      EXPECT_EQ(sender, e.last.pid);
      got = true;
    });
    io.run();
    EXPECT_TRUE(got);
  });
}

// --- The unmodified asio::signal_set program (asio_program.cc), run with real signals: with Asio's
// own type (the reference, Boost build only) and with sigrelay::asio::signal_set.

// Reads lines from `fd` until one equals `want` or 10 s pass; returns whether it came.
bool read_line_until(int fd, std::string& buffer, const std::string& want) {
  const auto end = std::chrono::steady_clock::now() + 10s;
  for (;;) {
    for (std::size_t nl; (nl = buffer.find('\n')) != std::string::npos;) {
      const std::string line = buffer.substr(0, nl);
      buffer.erase(0, nl + 1);
      if (line == want) return true;
    }
    if (std::chrono::steady_clock::now() > end) return false;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    char chunk[256];
    const ssize_t n = read(fd, chunk, sizeof chunk);
    if (n <= 0) return false;
    buffer.append(chunk, static_cast<std::size_t>(n));
  }
}

// ThreadSanitizer's runtime loses a signal that reaches a fresh program between its last libc call
// and its first epoll_wait: the SIGHUP sent right after "ready 0" never reaches the handler in a few
// percent of runs, with Asio's own signal_set (asio_program_original) as with ours, and with a
// 25-line C program of sigaction + a pipe + epoll_wait built with -fsanitize=thread (gcc 12 and
// clang 14 alike); every later signal arrives. Under TSan the test therefore sends each signal only
// once the program sleeps in the kernel (its wchan names a poll); other builds send at once, so the
// startup window stays covered there.
#if defined(__SANITIZE_THREAD__)
constexpr bool under_tsan = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
constexpr bool under_tsan = true;
#else
constexpr bool under_tsan = false;
#endif
#else
constexpr bool under_tsan = false;
#endif

// Sends `signo` to `pid`; under TSan first waits (up to 10 s) until the program sleeps in a poll.
void send_when_idle(pid_t pid, int signo) {
  if (under_tsan) {
    const std::string wchan = "/proc/" + std::to_string(pid) + "/wchan";
    const auto end = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < end) {
      char name[64] = {};
      if (FILE* f = std::fopen(wchan.c_str(), "r")) {
        const std::size_t n = std::fread(name, 1, sizeof name - 1, f);
        std::fclose(f);
        name[n] = '\0';
      }
      if (std::strstr(name, "poll") != nullptr) break;
      std::this_thread::sleep_for(1ms);
    }
  }
  ASSERT_EQ(0, kill(pid, signo)) << std::strerror(errno);
}

void run_program(const std::string& path, int stop_signal) {
  SCOPED_TRACE(path);
  int out[2];
  ASSERT_EQ(0, pipe2(out, O_CLOEXEC));
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // A fresh program: default dispositions and an empty mask, stdout into the pipe.
    for (int s : {SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2, SIGWINCH, SIGURG}) std::signal(s, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    dup2(out[1], STDOUT_FILENO);
    execl(path.c_str(), path.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(out[1]);
  std::string buffer;
  EXPECT_TRUE(read_line_until(out[0], buffer, "ready 0"));
  send_when_idle(pid, SIGHUP);
  EXPECT_TRUE(read_line_until(out[0], buffer, "reload 1"));
  send_when_idle(pid, SIGHUP);
  EXPECT_TRUE(read_line_until(out[0], buffer, "reload 2"));
  send_when_idle(pid, stop_signal);
  EXPECT_TRUE(read_line_until(out[0], buffer, "stop " + std::to_string(stop_signal)));
  int status = 0;
  for (int i = 0; i < 10000 && waitpid(pid, &status, WNOHANG) == 0; ++i) std::this_thread::sleep_for(1ms);
  if (waitpid(pid, &status, WNOHANG) == 0) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  }
  close(out[0]);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
}

std::vector<std::string> programs() {
  std::vector<std::string> out;
  std::string all = SIGRELAY_TEST_PROGRAMS;
  for (std::size_t start = 0;;) {
    const std::size_t colon = all.find(':', start);
    out.push_back(all.substr(start, colon - start));
    if (colon == std::string::npos) return out;
    start = colon + 1;
  }
}

TEST(AsioProgram, UnmodifiedSignalSetProgramStopsOnSigterm) {
  SIGRELAY_IN_CHILD([] {
    for (const std::string& p : programs()) run_program(p, SIGTERM);
  });
}

TEST(AsioProgram, UnmodifiedSignalSetProgramStopsOnSigint) {
  SIGRELAY_IN_CHILD([] {
    for (const std::string& p : programs()) run_program(p, SIGINT);
  });
}

}  // namespace
