// adapters/tests/asio_test.cc — sigrelay::asio::signal_set against Boost.Asio, with real signals.
#include "sigrelay/asio.hpp"

#include <gtest/gtest.h>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <unistd.h>
#include <atomic>
#include <chrono>
#include <csignal>
#include <future>
#include <memory>
#include <thread>
#include <vector>

#include "support/child.hpp"
#include "support/signal_helpers.hpp"

namespace {

namespace net = boost::asio;
using namespace std::chrono_literals;
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

TEST(AsioAdapter, KillFromAnotherProcessCarriesItsOrigin) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1});
    net::io_context io;
    sigrelay::asio::signal_set sigs(io, {SIGUSR1});
    const pid_t sender = send_from_other_process(SIGUSR1);
    bool got = false;
    sigs.async_wait([&](boost::system::error_code ec, const signal_event& e) {
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

TEST(AsioAdapter, SigqueueKeepsEveryRealtimeValueInOrder) {
  SIGRELAY_IN_CHILD([] {
    const int rt = SIGRTMIN + 1;
    sigrelay::test::prepare_signals({rt});
    net::io_context io;
    sigrelay::asio::signal_set sigs(io, {rt});
    const pid_t sender = send_from_other_process(rt, send_how::queue, 100, 3);
    std::vector<signal_event> got;
    std::function<void(boost::system::error_code, const signal_event&)> on_event =
        [&](boost::system::error_code ec, const signal_event& e) {
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

TEST(AsioAdapter, TgkillToAnotherThreadIsRelayed) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR2});
    net::io_context io;
    sigrelay::asio::signal_set sigs(io, {SIGUSR2});
    std::atomic<pid_t> tid{0};
    std::atomic<bool> release{false};
    std::thread other([&] {
      tid = sigrelay::test::current_tid();
      while (!release) std::this_thread::sleep_for(1ms);
    });
    while (tid == 0) std::this_thread::sleep_for(1ms);
    sigrelay::test::send_to_thread(tid, SIGUSR2);
    bool got = false;
    sigs.async_wait([&](boost::system::error_code ec, const signal_event& e) {
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

TEST(AsioAdapter, TakesOverASignalsWithTheSignalfdBackend) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1});
    net::io_context io;
    sigrelay::asio::signal_set sigs(io, sigrelay::signals({SIGUSR1}, sigrelay::backend::signalfd));
    const pid_t sender = send_from_other_process(SIGUSR1);
    bool got = false;
    sigs.async_wait([&](boost::system::error_code ec, const signal_event& e) {
      ASSERT_FALSE(ec);
      EXPECT_EQ(SIGUSR1, e.signo);
      EXPECT_EQ(sender, e.last.pid);
      got = true;
    });
    io.run();
    EXPECT_TRUE(got);
  });
}

TEST(AsioAdapter, SignalsBetweenWaitsAreQueuedWithCountsNotLost) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1, SIGUSR2, SIGHUP});
    net::io_context io;
    sigrelay::asio::signal_set sigs(io, {SIGUSR1, SIGUSR2, SIGHUP});
    // Before any wait: each kill() of itself is delivered before it returns, so counts are exact.
    for (int i = 0; i < 5; ++i) kill(getpid(), SIGUSR1);
    kill(getpid(), SIGUSR2);
    std::vector<signal_event> got;
    bool inside_async_wait = false;
    std::function<void(boost::system::error_code, const signal_event&)> on_event =
        [&](boost::system::error_code ec, const signal_event& e) {
          ASSERT_FALSE(ec);
          EXPECT_FALSE(inside_async_wait) << "completed inside async_wait()";
          got.push_back(e);
          // Between waits: arrives while no wait is pending.
          if (got.size() == 1) {
            kill(getpid(), SIGHUP);
            kill(getpid(), SIGHUP);
          }
          if (got.size() < 3) {
            inside_async_wait = true;
            sigs.async_wait(on_event);
            inside_async_wait = false;
          }
        };
    inside_async_wait = true;
    sigs.async_wait(on_event);
    inside_async_wait = false;
    io.run();
    ASSERT_EQ(3u, got.size());
    std::uint64_t usr1 = 0, usr2 = 0, hup = 0;
    for (const signal_event& e : got) {
      if (e.signo == SIGUSR1) usr1 += e.count;
      if (e.signo == SIGUSR2) usr2 += e.count;
      if (e.signo == SIGHUP) hup += e.count;
      EXPECT_EQ(getpid(), e.last.pid);
    }
    EXPECT_EQ(5u, usr1);
    EXPECT_EQ(1u, usr2);
    EXPECT_EQ(2u, hup);
  });
}

TEST(AsioAdapter, CancelCompletesPendingWaitsAndLosesNothing) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1});
    net::io_context io;
    sigrelay::asio::signal_set sigs(io, {SIGUSR1});
    int aborted = 0;
    for (int i = 0; i < 2; ++i) {
      sigs.async_wait([&](boost::system::error_code ec, const signal_event&) {
        EXPECT_EQ(net::error::operation_aborted, ec);
        ++aborted;
      });
    }
    net::steady_timer t(io, 20ms);
    t.async_wait([&](boost::system::error_code) { sigs.cancel(); });
    io.run();
    EXPECT_EQ(2, aborted);
    // The object goes on working after cancel(), and a signal sent meanwhile is there.
    const pid_t sender = send_from_other_process(SIGUSR1);
    bool got = false;
    sigs.async_wait([&](boost::system::error_code ec, const signal_event& e) {
      ASSERT_FALSE(ec);
      EXPECT_EQ(sender, e.last.pid);
      got = true;
    });
    io.restart();
    io.run();
    EXPECT_TRUE(got);
  });
}

TEST(AsioAdapter, DestructionCancelsPendingWaitAndRestoresTheSignal) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1});
    net::io_context io;
    auto sigs = std::make_unique<sigrelay::asio::signal_set>(io, std::initializer_list<int>{SIGUSR1});
    EXPECT_FALSE(sigrelay::test::is_default_disposition(SIGUSR1));
    bool aborted = false;
    sigs->async_wait([&](boost::system::error_code ec, const signal_event&) {
      EXPECT_EQ(net::error::operation_aborted, ec);
      aborted = true;
    });
    net::steady_timer t(io, 20ms);
    t.async_wait([&](boost::system::error_code) { sigs.reset(); });
    io.run();
    EXPECT_TRUE(aborted);
    EXPECT_TRUE(sigrelay::test::is_default_disposition(SIGUSR1));
  });
}

TEST(AsioAdapter, UseFutureWithIoContextOnAnotherThread) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGHUP});
    net::io_context io;
    auto guard = net::make_work_guard(io);
    std::thread runner([&] {
      sigrelay::test::block_signals_in_this_thread();
      io.run();
    });
    sigrelay::asio::signal_set sigs(io, {SIGHUP});
    std::atomic<bool> running{false};
    net::post(io, [&] { running = true; });
    sigrelay::test::wait_until_true([&] { return running.load(); }, 5s);  // the runner has started
    std::future<signal_event> f = sigs.async_wait(net::use_future);
    const pid_t sender = send_from_other_process(SIGHUP);
    ASSERT_TRUE(
        sigrelay::test::wait_until_true([&] { return f.wait_for(0s) == std::future_status::ready; }, 5s));
    const signal_event e = f.get();
    EXPECT_EQ(SIGHUP, e.signo);
    EXPECT_EQ(sender, e.last.pid);
    // cancel() turns into an exception through the future.
    std::future<signal_event> g = sigs.async_wait(net::use_future);
    net::post(io, [&] { sigs.cancel(); });
    ASSERT_TRUE(
        sigrelay::test::wait_until_true([&] { return g.wait_for(0s) == std::future_status::ready; }, 5s));
    EXPECT_THROW(g.get(), boost::system::system_error);
    guard.reset();
    runner.join();
  });
}

TEST(AsioAdapter, UseAwaitableInACoroutine) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1, SIGUSR2});
    net::io_context io;
    sigrelay::asio::signal_set sigs(io, {SIGUSR1, SIGUSR2});
    std::vector<int> got;
    pid_t sender = 0;
    net::co_spawn(
        io,
        [&]() -> net::awaitable<void> {
          for (int i = 0; i < 2; ++i) {
            const signal_event e = co_await sigs.async_wait(net::use_awaitable);
            got.push_back(e.signo);
            EXPECT_EQ(sender, e.last.pid);
            if (i == 0) sender = send_from_other_process(SIGUSR2);
          }
        },
        net::detached);
    sender = send_from_other_process(SIGUSR1);
    io.run();
    EXPECT_EQ((std::vector<int>{SIGUSR1, SIGUSR2}), got);
  });
}

TEST(AsioAdapter, UseAwaitableAsTheDefaultToken) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1});
    net::io_context io;
    using awaitable_signal_set = net::use_awaitable_t<>::as_default_on_t<sigrelay::asio::signal_set>;
    awaitable_signal_set sigs(io, {SIGUSR1});
    int got = 0;
    net::co_spawn(
        io,
        [&]() -> net::awaitable<void> {
          const signal_event e = co_await sigs.async_wait();  // no token: use_awaitable
          got = e.signo;
        },
        net::detached);
    kill(getpid(), SIGUSR1);
    io.run();
    EXPECT_EQ(SIGUSR1, got);
  });
}

TEST(AsioAdapter, HandlerRunsOnItsBoundStrand) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1});
    net::io_context io;
    auto strand = net::make_strand(io);
    sigrelay::asio::signal_set sigs(io, {SIGUSR1});
    bool on_strand = false;
    sigs.async_wait(net::bind_executor(strand, [&](boost::system::error_code ec, const signal_event&) {
      EXPECT_FALSE(ec);
      on_strand = strand.running_in_this_thread();
    }));
    kill(getpid(), SIGUSR1);
    io.run();
    EXPECT_TRUE(on_strand);
  });
}

TEST(AsioAdapter, WorksBesideAsiosOwnSignalSet) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1, SIGUSR2, SIGHUP});
    net::io_context io;
    // Asio's own on SIGUSR2 (another signal), and on SIGHUP first, so that sigrelay chains it.
    net::signal_set theirs(io, SIGUSR2, SIGHUP);
    sigrelay::asio::signal_set ours(io, {SIGUSR1, SIGHUP});
    std::vector<int> asio_got;
    std::vector<int> ours_got;
    std::function<void(boost::system::error_code, int)> on_theirs = [&](boost::system::error_code ec,
                                                                        int signo) {
      if (ec) return;
      asio_got.push_back(signo);
      theirs.async_wait(on_theirs);
    };
    std::function<void(boost::system::error_code, const signal_event&)> on_ours =
        [&](boost::system::error_code ec, const signal_event& e) {
          if (ec) return;
          ours_got.push_back(e.signo);
          ours.async_wait(on_ours);
        };
    theirs.async_wait(on_theirs);
    ours.async_wait(on_ours);
    send_from_other_process(SIGUSR1);
    send_from_other_process(SIGUSR2);
    run_until(io, [&] { return !ours_got.empty() && !asio_got.empty(); });
    send_from_other_process(SIGHUP);
    run_until(io, [&] { return ours_got.size() == 2 && asio_got.size() == 2; });
    EXPECT_EQ((std::vector<int>{SIGUSR1, SIGHUP}), ours_got);
    EXPECT_EQ((std::vector<int>{SIGUSR2, SIGHUP}), asio_got);
    theirs.cancel();
    ours.cancel();
  });
}

TEST(AsioAdapter, TwoIoContextsOnTwoThreadsEachGetTheirs) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1, SIGUSR2, SIGHUP});
    struct loop {
      net::io_context io;
      std::vector<int> got;
      std::thread::id thread;
      bool on_own_thread = true;
      std::atomic<bool> done{false};
    };
    loop a, b;
    sigrelay::asio::signal_set sa(a.io, {SIGUSR1, SIGHUP});
    sigrelay::asio::signal_set sb(b.io, {SIGUSR2, SIGHUP});
    auto serve = [](loop& l, sigrelay::asio::signal_set& s) {
      sigrelay::test::block_signals_in_this_thread();
      l.thread = std::this_thread::get_id();
      std::function<void(boost::system::error_code, const signal_event&)> on_event =
          [&](boost::system::error_code ec, const signal_event& e) {
            if (ec) return;
            l.on_own_thread = l.on_own_thread && std::this_thread::get_id() == l.thread;
            l.got.push_back(e.signo);
            if (l.got.size() < 2) s.async_wait(on_event);
          };
      s.async_wait(on_event);
      l.io.run();
      l.done = true;
    };
    std::thread ta([&] { serve(a, sa); });
    std::thread tb([&] { serve(b, sb); });
    send_from_other_process(SIGUSR1);
    send_from_other_process(SIGUSR2);
    std::this_thread::sleep_for(50ms);
    send_from_other_process(SIGHUP);
    EXPECT_TRUE(sigrelay::test::wait_until_true([&] { return a.done && b.done; }, 10s));
    if (!a.done) net::post(a.io, [&] { sa.cancel(); });
    if (!b.done) net::post(b.io, [&] { sb.cancel(); });
    ta.join();
    tb.join();
    EXPECT_EQ((std::vector<int>{SIGUSR1, SIGHUP}), a.got);
    EXPECT_EQ((std::vector<int>{SIGUSR2, SIGHUP}), b.got);
    EXPECT_TRUE(a.on_own_thread);
    EXPECT_TRUE(b.on_own_thread);
  });
}

TEST(AsioAdapter, SeveralThreadsRunningOneIoContext) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1});
    net::io_context io;
    sigrelay::asio::signal_set sigs(io, {SIGUSR1});
    std::atomic<std::uint64_t> total{0};
    std::atomic<int> completions{0};
    for (int i = 0; i < 4; ++i) {
      sigs.async_wait([&](boost::system::error_code ec, const signal_event& e) {
        if (!ec) total += e.count;
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
    sigrelay::test::wait_until_true([&] { return total >= 3; }, 5s);
    net::post(io, [&] { sigs.cancel(); });
    for (std::thread& t : runners) t.join();
    EXPECT_EQ(3u, total.load());
    EXPECT_EQ(4, completions.load());
  });
}

TEST(AsioAdapter, SignalStormDoesNotStarveTimers) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1});
    net::io_context io;
    sigrelay::asio::signal_set sigs(io, {SIGUSR1});
    std::uint64_t events = 0, deliveries = 0;
    int ticks = 0;
    bool stop = false;
    std::function<void(boost::system::error_code, const signal_event&)> on_event =
        [&](boost::system::error_code ec, const signal_event& e) {
          if (ec) return;
          ++events;
          deliveries += e.count;
          if (!stop) sigs.async_wait(on_event);
        };
    sigs.async_wait(on_event);
    net::steady_timer timer(io);
    std::function<void(boost::system::error_code)> on_tick = [&](boost::system::error_code) {
      if (++ticks == 20) {
        stop = true;
        sigs.cancel();
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
    EXPECT_GT(events, 0u);
    EXPECT_GE(deliveries, events);
  });
}

}  // namespace
