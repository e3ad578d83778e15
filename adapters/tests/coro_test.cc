// SPDX-License-Identifier: MIT
// adapters/tests/coro_test.cc — sigrelay::co::signal_channel with C++20 coroutines on a scheduler of
// the test's own (no event-loop library), with real signals.
#include "sigrelay/coro.hpp"

#include <gtest/gtest.h>

#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <coroutine>
#include <csignal>
#include <deque>
#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "support/child.hpp"
#include "support/coro_task.hpp"
#include "support/signal_helpers.hpp"

namespace {

using namespace std::chrono_literals;
using sigrelay::origin_kind;
using sigrelay::signal_event;
using sigrelay::test::send_from_other_process;
using sigrelay::test::send_how;

// A one-thread scheduler: runs posted work in order. Its thread blocks every signal (see
// block_signals_in_this_thread()).
class scheduler {
 public:
  scheduler()
      : thread_([this] {
          sigrelay::test::block_signals_in_this_thread();
          run();
        }) {}
  ~scheduler() {
    post({});
    thread_.join();
  }
  void post(std::function<void()> fn) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      queue_.push_back(std::move(fn));
    }
    cv_.notify_one();
  }
  // What the channel calls to resume a coroutine here.
  sigrelay::co::resume_function resumer() {
    return [this](std::coroutine_handle<> h) { post([h] { h.resume(); }); };
  }
  std::thread::id id() const { return thread_.get_id(); }

 private:
  void run() {
    for (;;) {
      std::function<void()> fn;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [&] { return !queue_.empty(); });
        fn = std::move(queue_.front());
        queue_.pop_front();
      }
      if (!fn) return;
      fn();
    }
  }
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  std::thread thread_;
};

using sigrelay::test::task;  // support/coro_task.hpp

// A coroutine that starts at once and frees itself when it ends (for the channel's default, inline
// resumption, where the end comes on the channel's thread).
struct fire_and_forget {
  struct promise_type {
    fire_and_forget get_return_object() noexcept { return {}; }
    std::suspend_never initial_suspend() noexcept { return {}; }
    std::suspend_never final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { std::terminate(); }
  };
};

// Awaits `n` events and hands them out through a future.
task collect(sigrelay::co::signal_channel& ch, int n, std::promise<std::vector<signal_event>>& out,
             std::atomic<bool>* waiting = nullptr, std::vector<std::thread::id>* resumed_on = nullptr) {
  std::vector<signal_event> got;
  for (int i = 0; i < n; ++i) {
    if (waiting != nullptr) *waiting = true;
    std::optional<signal_event> e = co_await ch.next();
    if (resumed_on != nullptr) resumed_on->push_back(std::this_thread::get_id());
    if (!e) break;
    got.push_back(*e);
  }
  out.set_value(got);
}

task one(sigrelay::co::signal_channel& ch, std::stop_token token,
         std::promise<std::optional<signal_event>>& out, std::atomic<bool>& waiting) {
  waiting = true;
  out.set_value(co_await ch.next(std::move(token)));
}

void wait_for_flag(const std::atomic<bool>& flag) {
  const auto end = std::chrono::steady_clock::now() + 5s;
  while (!flag && std::chrono::steady_clock::now() < end) std::this_thread::sleep_for(1ms);
  std::this_thread::sleep_for(20ms);  // from the flag to the suspension
}

// The future's value; if it is not ready in time, fails and closes `ch`, which ends the coroutine.
template <typename T>
T get_within(std::future<T>& f, sigrelay::co::signal_channel& ch, std::chrono::seconds limit = 10s) {
  if (!sigrelay::test::wait_until_true([&] { return f.wait_for(0s) == std::future_status::ready; }, limit)) {
    ADD_FAILURE() << "timed out";
    ch.close();
  }
  return f.get();
}

std::string describe(const std::vector<signal_event>& events) {
  std::string s;
  for (const signal_event& e : events) {
    s += std::string(sigrelay::signal_name(e.signo)) + " x" + std::to_string(e.count) + " from " +
         std::to_string(e.last.pid) + " value " + std::to_string(e.last.value.sival_int) + "; ";
  }
  return s;
}

TEST(CoroAdapter, ResumesOnTheCallersSchedulerWithTheSendersOrigin) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1});
    scheduler sched;
    sigrelay::co::signal_channel ch({SIGUSR1}, sched.resumer());
    std::promise<std::vector<signal_event>> p;
    auto f = p.get_future();
    std::atomic<bool> waiting{false};
    std::vector<std::thread::id> resumed_on;
    task t = collect(ch, 1, p, &waiting, &resumed_on);
    sched.post([&] { t.handle.resume(); });
    wait_for_flag(waiting);
    const pid_t sender = send_from_other_process(SIGUSR1);
    const std::vector<signal_event> got = get_within(f, ch);
    ASSERT_EQ(1u, got.size());
    EXPECT_EQ(SIGUSR1, got[0].signo);
    EXPECT_EQ(sender, got[0].last.pid);
    EXPECT_EQ(origin_kind::user, got[0].last.kind);
    EXPECT_EQ(getuid(), got[0].last.uid);
    ASSERT_EQ(1u, resumed_on.size());
    EXPECT_EQ(sched.id(), resumed_on[0]);
    sched.post([&] { t.handle.destroy(); });
  });
}

TEST(CoroAdapter, SigqueueKeepsEveryValueAndTgkillOrigin) {
  SIGRELAY_IN_CHILD([] {
    const int rt = SIGRTMIN + 3;
    sigrelay::test::prepare_signals({rt, SIGUSR2});
    scheduler sched;
    sigrelay::co::signal_channel ch({rt, SIGUSR2}, sched.resumer());
    const pid_t queuer = send_from_other_process(rt, send_how::queue, 40, 3);
    std::atomic<pid_t> tid{0};
    std::atomic<bool> release{false};
    std::thread other([&] {
      tid = sigrelay::test::current_tid();
      while (!release) std::this_thread::sleep_for(20ms);  // see send_to_thread()
    });
    while (tid == 0) std::this_thread::sleep_for(1ms);
    sigrelay::test::send_to_thread(tid, SIGUSR2);
    std::promise<std::vector<signal_event>> p;
    auto f = p.get_future();
    task t = collect(ch, 4, p);
    sched.post([&] { t.handle.resume(); });
    const std::vector<signal_event> got = get_within(f, ch);
    release = true;
    other.join();
    ASSERT_EQ(4u, got.size()) << describe(got);
    // Several threads here leave the signal unblocked, and the kernel may hand two queued realtime
    // signals to two threads at once: each is kept, but not necessarily in the order sent.
    std::vector<int> values;
    for (const signal_event& e : got) {
      if (e.signo == SIGUSR2) {
        EXPECT_EQ(origin_kind::thread, e.last.kind);
        EXPECT_EQ(getpid(), e.last.pid);
      } else {
        EXPECT_EQ(rt, e.signo);
        EXPECT_EQ(queuer, e.last.pid);
        EXPECT_EQ(origin_kind::queue, e.last.kind);
        values.push_back(e.last.value.sival_int);
      }
    }
    std::sort(values.begin(), values.end());
    EXPECT_EQ((std::vector<int>{40, 41, 42}), values);
    sched.post([&] { t.handle.destroy(); });
  });
}

// Awaits until `usr1` SIGUSR1 and `hup` SIGHUP deliveries are counted; hands the events out.
fire_and_forget count_until(sigrelay::co::signal_channel& ch, std::uint64_t usr1, std::uint64_t hup,
                            std::promise<std::vector<signal_event>>& out) {
  std::vector<signal_event> got;
  std::uint64_t n_usr1 = 0, n_hup = 0;
  while (n_usr1 < usr1 || n_hup < hup) {
    std::optional<signal_event> e = co_await ch.next();
    if (!e) break;
    got.push_back(*e);
    (e->signo == SIGUSR1 ? n_usr1 : n_hup) += e->count;
  }
  out.set_value(got);
}

TEST(CoroAdapter, SignalsBeforeAndBetweenAwaitsAreNotLostAndCounted) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1, SIGHUP});
    sigrelay::co::signal_channel ch({SIGUSR1, SIGHUP});  // default: resumes on the channel's thread
    // Delivered to this (main) thread before kill() returns; the channel's thread may drain between
    // two of them, so they come as one event or several, but every delivery is counted.
    for (int i = 0; i < 3; ++i) kill(getpid(), SIGUSR1);
    kill(getpid(), SIGHUP);
    std::promise<std::vector<signal_event>> p;
    auto f = p.get_future();
    count_until(ch, 3, 1, p);  // runs here until its first suspension (if any)
    const std::vector<signal_event> got = get_within(f, ch);
    std::uint64_t usr1 = 0, hup = 0;
    for (const signal_event& e : got) (e.signo == SIGUSR1 ? usr1 : hup) += e.count;
    EXPECT_EQ(3u, usr1) << describe(got);
    EXPECT_EQ(1u, hup) << describe(got);
    // Nobody awaiting: still recorded, handed out later.
    kill(getpid(), SIGHUP);
    std::optional<signal_event> later;
    const auto end = std::chrono::steady_clock::now() + 5s;
    while (!(later = ch.try_next()) && std::chrono::steady_clock::now() < end)
      std::this_thread::sleep_for(1ms);
    ASSERT_TRUE(later.has_value());
    EXPECT_EQ(SIGHUP, later->signo);
  });
}

TEST(CoroAdapter, CloseResumesPendingAwaitsWithNulloptAfterRecordedEvents) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1});
    scheduler sched;
    sigrelay::co::signal_channel ch({SIGUSR1}, sched.resumer());
    std::promise<std::vector<signal_event>> p;
    auto f = p.get_future();
    std::atomic<bool> waiting{false};
    task t = collect(ch, 5, p, &waiting);
    sched.post([&] { t.handle.resume(); });
    wait_for_flag(waiting);
    ch.close();
    EXPECT_TRUE(get_within(f, ch).empty());
    EXPECT_TRUE(ch.is_closed());
    sched.post([&] { t.handle.destroy(); });

    // Recorded before close(): still handed out, then nullopt.
    sigrelay::co::signal_channel ch2({SIGUSR1}, sched.resumer());
    kill(getpid(), SIGUSR1);
    ch2.close();
    std::promise<std::vector<signal_event>> p2;
    auto f2 = p2.get_future();
    task t2 = collect(ch2, 5, p2);
    sched.post([&] { t2.handle.resume(); });
    const std::vector<signal_event> got = get_within(f2, ch2);
    ASSERT_EQ(1u, got.size());
    EXPECT_EQ(SIGUSR1, got[0].signo);
    sched.post([&] { t2.handle.destroy(); });
  });
}

TEST(CoroAdapter, StopTokenCancelsOnlyThatAwaitAndLosesNothing) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1});
    scheduler sched;
    sigrelay::co::signal_channel ch({SIGUSR1}, sched.resumer());
    std::stop_source stop;
    std::promise<std::optional<signal_event>> p;
    auto f = p.get_future();
    std::atomic<bool> waiting{false};
    task t = one(ch, stop.get_token(), p, waiting);
    sched.post([&] { t.handle.resume(); });
    wait_for_flag(waiting);
    stop.request_stop();
    EXPECT_FALSE(get_within(f, ch).has_value());
    sched.post([&] { t.handle.destroy(); });

    // Already stopped: does not wait at all.
    std::promise<std::optional<signal_event>> p2;
    auto f2 = p2.get_future();
    std::atomic<bool> waiting2{false};
    task t2 = one(ch, stop.get_token(), p2, waiting2);
    sched.post([&] { t2.handle.resume(); });
    EXPECT_FALSE(get_within(f2, ch).has_value());
    sched.post([&] { t2.handle.destroy(); });

    // The channel goes on, nothing consumed by the cancelled awaits.
    const pid_t sender = send_from_other_process(SIGUSR1);
    std::promise<std::optional<signal_event>> p3;
    auto f3 = p3.get_future();
    std::atomic<bool> waiting3{false};
    task t3 = one(ch, {}, p3, waiting3);
    sched.post([&] { t3.handle.resume(); });
    const std::optional<signal_event> e = get_within(f3, ch);
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(sender, e->last.pid);
    sched.post([&] { t3.handle.destroy(); });
  });
}

TEST(CoroAdapter, DestroyingASuspendedCoroutineWithdrawsItsAwait) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1});
    scheduler sched;
    sigrelay::co::signal_channel ch({SIGUSR1}, sched.resumer());
    std::promise<std::vector<signal_event>> p;
    std::atomic<bool> waiting{false};
    task t = collect(ch, 1, p, &waiting);
    sched.post([&] { t.handle.resume(); });
    wait_for_flag(waiting);
    std::promise<void> destroyed;
    sched.post([&] {
      t.handle.destroy();
      destroyed.set_value();
    });
    destroyed.get_future().wait();
    kill(getpid(), SIGUSR1);
    std::optional<signal_event> e;
    const auto end = std::chrono::steady_clock::now() + 5s;
    while (!(e = ch.try_next()) && std::chrono::steady_clock::now() < end) std::this_thread::sleep_for(1ms);
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(SIGUSR1, e->signo);
  });
}

TEST(CoroAdapter, DestructorResumesAwaitsAndRestoresTheSignal) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1});
    scheduler sched;
    auto ch =
        std::make_unique<sigrelay::co::signal_channel>(std::initializer_list<int>{SIGUSR1}, sched.resumer());
    EXPECT_FALSE(sigrelay::test::is_default_disposition(SIGUSR1));
    std::promise<std::vector<signal_event>> p;
    auto f = p.get_future();
    std::atomic<bool> waiting{false};
    task t = collect(*ch, 1, p, &waiting);
    sched.post([&] { t.handle.resume(); });
    wait_for_flag(waiting);
    ch.reset();
    EXPECT_TRUE(sigrelay::test::is_default_disposition(SIGUSR1));
    ASSERT_TRUE(
        sigrelay::test::wait_until_true([&] { return f.wait_for(0s) == std::future_status::ready; }, 10s));
    EXPECT_TRUE(f.get().empty());
    sched.post([&] { t.handle.destroy(); });
  });
}

TEST(CoroAdapter, TwoSchedulersOnTwoThreadsEachGetTheirs) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1, SIGUSR2, SIGHUP});
    scheduler sa, sb;
    sigrelay::co::signal_channel ca({SIGUSR1, SIGHUP}, sa.resumer());
    sigrelay::co::signal_channel cb({SIGUSR2, SIGHUP}, sb.resumer());
    std::promise<std::vector<signal_event>> pa, pb;
    auto fa = pa.get_future();
    auto fb = pb.get_future();
    std::vector<std::thread::id> ra, rb;
    std::atomic<bool> wa{false}, wb{false};
    task ta = collect(ca, 2, pa, &wa, &ra);
    task tb = collect(cb, 2, pb, &wb, &rb);
    sa.post([&] { ta.handle.resume(); });
    sb.post([&] { tb.handle.resume(); });
    wait_for_flag(wa);  // every thread started and settled in its wait
    wait_for_flag(wb);
    send_from_other_process(SIGUSR1);
    send_from_other_process(SIGUSR2);
    std::this_thread::sleep_for(50ms);
    send_from_other_process(SIGHUP);
    const std::vector<signal_event> a = get_within(fa, ca);
    const std::vector<signal_event> b = get_within(fb, cb);
    ASSERT_EQ(2u, a.size()) << describe(a);
    ASSERT_EQ(2u, b.size()) << describe(b);
    EXPECT_EQ(SIGUSR1, a[0].signo);
    EXPECT_EQ(SIGHUP, a[1].signo);
    EXPECT_EQ(SIGUSR2, b[0].signo);
    EXPECT_EQ(SIGHUP, b[1].signo);
    for (std::thread::id id : ra) EXPECT_EQ(sa.id(), id);
    for (std::thread::id id : rb) EXPECT_EQ(sb.id(), id);
    sa.post([&] { ta.handle.destroy(); });
    sb.post([&] { tb.handle.destroy(); });
  });
}

// The scheduler's other work goes on while a flood of signals keeps the awaiting coroutine busy.
task drain_forever(sigrelay::co::signal_channel& ch, std::atomic<std::uint64_t>& events,
                   std::atomic<std::uint64_t>& deliveries, std::promise<void>& done) {
  while (std::optional<signal_event> e = co_await ch.next()) {
    ++events;
    deliveries += e->count;
  }
  done.set_value();
}

TEST(CoroAdapter, SignalStormDoesNotStarveTheSchedulersOtherWork) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1});
    // Blocked here before the channel's thread is made (it inherits the mask): the flood's handlers
    // run on `receiver`.
    sigrelay::test::block_signal_in_this_thread(SIGUSR1);
    sigrelay::test::receiver_thread receiver(SIGUSR1);
    scheduler sched;
    sigrelay::co::signal_channel ch({SIGUSR1}, sched.resumer());
    std::atomic<std::uint64_t> events{0}, deliveries{0};
    std::promise<void> done;
    auto drained = done.get_future();
    task t = drain_forever(ch, events, deliveries, done);
    sched.post([&] { t.handle.resume(); });
    const pid_t flood = sigrelay::test::start_flood(SIGUSR1);
    // 20 ticks of other work, each re-posting the next after 5 ms.
    std::atomic<int> ticks{0};
    std::promise<void> ticked;
    std::function<void()> tick = [&] {
      std::this_thread::sleep_for(5ms);
      if (++ticks == 20) {
        ticked.set_value();
        return;
      }
      sched.post(tick);
    };
    const auto start = std::chrono::steady_clock::now();
    sched.post(tick);
    std::future<void> ticks_done = ticked.get_future();
    EXPECT_TRUE(sigrelay::test::wait_until_true(
        [&] { return ticks_done.wait_for(0s) == std::future_status::ready; }, 5s))
        << "the scheduler was starved";
    const auto took = std::chrono::steady_clock::now() - start;
    sigrelay::test::stop_flood(flood);
    EXPECT_LT(took, 3s);
    ch.close();
    EXPECT_TRUE(sigrelay::test::wait_until_true(
        [&] { return drained.wait_for(0s) == std::future_status::ready; }, 5s));
    EXPECT_GT(events.load(), 0u);
    EXPECT_GE(deliveries.load(), events.load());
    sched.post([&] { t.handle.destroy(); });
  });
}

#if defined(__SANITIZE_THREAD__)
constexpr bool kUnderTsan = true;
#else
constexpr bool kUnderTsan = false;
#endif

// A channel inherited by a fork child: its destructor there must neither join nor detach the
// parent's channel thread, whose descriptor glibc hands to the next thread the child creates (the
// same pthread_t): joining waited for the child's own thread, detaching broke that thread's join().
// The parent's channel goes on as before.
TEST(CoroAdapter, AForkChildDestroysItsCopyWithoutTouchingItsOwnThreads) {
  SIGRELAY_IN_CHILD([] {
    auto ch = std::make_unique<sigrelay::co::signal_channel>(std::initializer_list<int>{SIGUSR1});
    std::this_thread::sleep_for(50ms);  // the channel's thread is asleep in poll()
    std::fflush(nullptr);
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      ::alarm(10);  // watchdog: a destructor that waits for the child's own thread
      std::atomic<bool> go{false};
      std::thread own;
      if (!kUnderTsan) {  // ThreadSanitizer cannot start a thread after a multi-threaded fork
        own = std::thread([&] {
          while (!go.load()) std::this_thread::sleep_for(1ms);
        });
      }
      ch.reset();
      go.store(true);
      if (own.joinable()) own.join();  // still joinable, and joined once
      ::_exit(0);
    }
    EXPECT_TRUE(sigrelay::test::exited_with(sigrelay::test::wait_with_deadline(child, 30), 0));
    ::kill(::getpid(), SIGUSR1);
    std::optional<sigrelay::signal_event> e;
    EXPECT_TRUE(sigrelay::test::wait_until_true([&] { return (e = ch->try_next()).has_value(); }, 5s));
    if (e) {
      EXPECT_EQ(e->signo, SIGUSR1);
    }
  });
}

}  // namespace
