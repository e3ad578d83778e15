// SPDX-License-Identifier: MIT
// tests/dispatcher_test.cc — callbacks per signal on a chosen thread, with real signals.
#include <gtest/gtest.h>

#include <pthread.h>
#include <unistd.h>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <memory>
#include <stdexcept>
#include <system_error>
#include <thread>

#include "sigrelay/dispatcher.hpp"
#include "sigrelay/registry.hpp"
#include "sigrelay/relays.hpp"
#include "support/child.hpp"
#include "support/platform.hpp"

namespace {

using sigrelay::dispatcher;
using sigrelay::signal_event;

void wait_until(const std::atomic<int>& value, int at_least) {
  for (int i = 0; i < 5000 && value.load() < at_least; ++i) usleep(1000);
}

TEST(Dispatcher, RunsCallbacksOnTheThreadThatCallsRun) {
  SIGRELAY_IN_CHILD([] {
    dispatcher d;
    std::atomic<int> calls{0};
    std::atomic<pid_t> ran_on{0};
    d.on(SIGUSR1, [&](const signal_event& e) {
      EXPECT_EQ(SIGUSR1, e.signo);
      ran_on.store(gettid());
      if (calls.fetch_add(1) + 1 == 3) d.stop();
    });
    // The sender is the only thread that takes SIGUSR1, so its handler runs inside kill() itself:
    // under ThreadSanitizer, a signal that reaches a thread just before it blocks may otherwise
    // wait until the blocking call returns (never, here). The callbacks still run on this thread.
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &usr1, nullptr);
    std::thread sender([&] {
      pthread_sigmask(SIG_UNBLOCK, &usr1, nullptr);
      for (int i = 1; i <= 3; ++i) {
        kill(getpid(), SIGUSR1);
        wait_until(calls, i);  // one at a time: standard signals coalesce
      }
    });
    d.run();
    sender.join();
    EXPECT_EQ(3, calls.load());
    EXPECT_EQ(gettid(), ran_on.load());
  });
}

TEST(Dispatcher, RunsCallbacksOnABackgroundThread) {
  SIGRELAY_IN_CHILD([] {
    dispatcher d;
    std::atomic<int> calls{0};
    std::atomic<pid_t> ran_on{0};
    d.on(SIGHUP, [&](const signal_event&) {
      ran_on.store(gettid());
      calls.fetch_add(1);
    });
    d.start();
    kill(getpid(), SIGHUP);
    wait_until(calls, 1);
    d.stop();
    d.join();
    EXPECT_EQ(1, calls.load());
    EXPECT_NE(0, ran_on.load());
    EXPECT_NE(gettid(), ran_on.load());
  });
}

TEST(Dispatcher, AnExceptionLeavesRunAndTheRestOfTheBatchIsNotLost) {
  SIGRELAY_IN_CHILD([] {
    dispatcher d;
    std::atomic<int> usr2{0};
    d.on(SIGUSR1, [](const signal_event&) { throw std::runtime_error("callback failed"); });
    d.on(SIGUSR2, [&](const signal_event&) {
      usr2.fetch_add(1);
      d.stop();
    });
    kill(getpid(), SIGUSR1);
    kill(getpid(), SIGUSR2);  // both recorded before run(): one batch, SIGUSR1 first
    EXPECT_THROW(d.run(), std::runtime_error);
    EXPECT_EQ(0, usr2.load());
    d.run();  // goes on with the rest of the batch
    EXPECT_EQ(1, usr2.load());
  });
}

TEST(Dispatcher, BackgroundExceptionsGoToTheErrorHandlerOrToJoin) {
  SIGRELAY_IN_CHILD([] {
    {
      dispatcher d;
      std::atomic<int> errors{0};
      d.set_error_handler([&](std::exception_ptr e) {
        EXPECT_THROW(std::rethrow_exception(e), std::runtime_error);
        errors.fetch_add(1);
      });
      d.on(SIGUSR1, [](const signal_event&) { throw std::runtime_error("boom"); });
      d.start();
      kill(getpid(), SIGUSR1);
      wait_until(errors, 1);
      kill(getpid(), SIGUSR1);  // the thread went on after the first error
      wait_until(errors, 2);
      EXPECT_EQ(2, errors.load());
      d.stop();
      EXPECT_NO_THROW(d.join());
    }
    {
      dispatcher d;
      d.on(SIGUSR1, [](const signal_event&) { throw std::runtime_error("boom"); });
      d.start();
      kill(getpid(), SIGUSR1);
      EXPECT_THROW(d.join(), std::runtime_error);  // the thread ended with it
    }
  });
}

TEST(Dispatcher, OffUnsubscribesAndStopBeforeRunIsNotLost) {
  SIGRELAY_IN_CHILD([] {
    dispatcher d;
    d.on(SIGUSR2, [](const signal_event&) {});
    struct sigaction sa {};
    sigaction(SIGUSR2, nullptr, &sa);
    EXPECT_NE(SIG_DFL, sa.sa_handler);
    d.off(SIGUSR2);
    sigaction(SIGUSR2, nullptr, &sa);
    EXPECT_EQ(SIG_DFL, sa.sa_handler);
    EXPECT_THROW(d.on(SIGKILL, [](const signal_event&) {}), std::system_error);
    d.stop();
    d.run();  // returns at once
  });
}

// A callable that counts its copies: to check that a callback is called in place, never copied per
// event.
struct copy_counting {
  std::atomic<int>* copies;
  std::atomic<int>* calls;
  dispatcher* d;
  copy_counting(std::atomic<int>* c, std::atomic<int>* n, dispatcher* disp) : copies(c), calls(n), d(disp) {}
  copy_counting(const copy_counting& o) : copies(o.copies), calls(o.calls), d(o.d) { copies->fetch_add(1); }
  copy_counting& operator=(const copy_counting&) = delete;
  void operator()(const signal_event&) const {
    calls->fetch_add(1);
    d->stop();
  }
};

// Counts its destruction and poisons itself: a callback that uses a destroyed capture sees alive != 42.
struct witness {
  explicit witness(std::atomic<int>* d) : destroyed(d) {}
  ~witness() {
    alive.store(0);
    destroyed->fetch_add(1);
  }
  witness(const witness&) = delete;
  witness& operator=(const witness&) = delete;
  std::atomic<int>* destroyed;
  std::atomic<int> alive{42};
};

TEST(Dispatcher, DispatchesWithoutCopyingTheCallback) {
  SIGRELAY_IN_CHILD([] {
    dispatcher d;
    std::atomic<int> copies{0};
    std::atomic<int> calls{0};
    d.on(SIGUSR1, copy_counting(&copies, &calls, &d));
    const int after_on = copies.load();
    for (int i = 1; i <= 3; ++i) {
      kill(getpid(), SIGUSR1);  // recorded (under ThreadSanitizer: handled at run()'s poll)
      d.run();                  // until the callback's stop()
      EXPECT_EQ(i, calls.load());
    }
    EXPECT_EQ(after_on, copies.load()) << "the callback was copied to be called";
  });
}

TEST(Dispatcher, ACallbackReplacedOrRemovedByItselfFinishesIntactAndIsDestroyedAfterwards) {
  SIGRELAY_IN_CHILD([] {
    dispatcher d;
    std::atomic<int> destroyed{0};
    std::atomic<int> new_calls{0};
    {
      auto w = std::make_shared<witness>(&destroyed);
      d.on(SIGUSR1, [&d, &destroyed, &new_calls, w](const signal_event&) {
        d.on(SIGUSR1, [&](const signal_event&) {
          new_calls.fetch_add(1);
          d.stop();
        });
        // Still this call's callback and captures: destroyed only once the call returns.
        EXPECT_EQ(42, w->alive.load());
        EXPECT_EQ(0, destroyed.load());
        d.stop();
      });
      auto v = std::make_shared<witness>(&destroyed);
      d.on(SIGUSR2, [&d, &destroyed, v](const signal_event&) {
        d.off(SIGUSR2);
        EXPECT_EQ(42, v->alive.load());
        EXPECT_EQ(1, destroyed.load());  // the replaced SIGUSR1 callback only
        d.stop();
      });
    }  // the callbacks hold the only references to the witnesses now
    kill(getpid(), SIGUSR1);
    d.run();
    EXPECT_EQ(1, destroyed.load());  // the replaced callback, after its call
    EXPECT_EQ(0, new_calls.load());
    kill(getpid(), SIGUSR2);
    d.run();
    EXPECT_EQ(2, destroyed.load());  // the removed one, after its call
    struct sigaction sa {};
    sigaction(SIGUSR2, nullptr, &sa);
    EXPECT_EQ(SIG_DFL, sa.sa_handler);  // off() unsubscribed it
    kill(getpid(), SIGUSR1);
    d.run();
    EXPECT_EQ(1, new_calls.load());  // the replacement serves the next event
  });
}

TEST(Dispatcher, OffFromAnotherThreadWhileTheCallbackRunsLetsTheCallFinish) {
  SIGRELAY_IN_CHILD([] {
    dispatcher d;
    std::atomic<int> destroyed{0};
    std::atomic<int> in_callback{0};
    std::atomic<int> off_done{0};
    std::atomic<int> seen_alive{0};
    {
      auto w = std::make_shared<witness>(&destroyed);
      d.on(SIGUSR1, [&, w](const signal_event&) {
        in_callback.store(1);
        wait_until(off_done, 1);  // the other thread's off() has returned
        seen_alive.store(w->alive.load());
        d.stop();
      });
    }
    std::thread remover([&] {
      wait_until(in_callback, 1);
      d.off(SIGUSR1);  // never waits for the running callback, never destroys it under it
      off_done.store(1);
    });
    kill(getpid(), SIGUSR1);
    d.run();
    remover.join();
    EXPECT_EQ(1, in_callback.load());
    EXPECT_EQ(1, off_done.load());
    EXPECT_EQ(42, seen_alive.load());
    EXPECT_EQ(1, destroyed.load());  // destroyed by the dispatching thread once the call returned
  });
}

// A fork child's copy of a dispatcher has a dead `signals` (signals.hpp, Fork) whose wait returns at
// once: run() there must sleep until stop(), not spin, and dispatch nothing. Either backend.
TEST(Dispatcher, RunInAForkChildSleepsUntilStopAndDispatchesNothing) {
  for (const sigrelay::backend kind : {sigrelay::backend::relay, sigrelay::backend::signalfd}) {
    if (kind == sigrelay::backend::signalfd && sigrelay::test::posix_platform()) continue;  // Linux-only
    SIGRELAY_IN_CHILD([kind] {
      dispatcher d(kind);
      std::atomic<int> calls{0};
      d.on(SIGUSR1, [&](const signal_event&) { calls.fetch_add(1); });
      // A second action keeps sigrelay's handler in the child (else SIGUSR1 would be SIG_DFL there).
      std::atomic<std::uint64_t> handled{0};
      const sigrelay::action_id counter = sigrelay::add_action(SIGUSR1, sigrelay::relay::add_count(handled));
      // A plain fork() (run_in_child() would reset the dispositions); the child reports by exit code.
      std::fflush(nullptr);
      const pid_t child = ::fork();
      ASSERT_GE(child, 0);
      if (child == 0) {
        ::alarm(20);  // watchdog: a run() that never ends
        std::thread stopper([&] {
          ::kill(::getpid(), SIGUSR1);  // handled, but the child's copy of the object records nothing
          for (int i = 0; i < 5000 && handled.load() == 0; ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
          std::this_thread::sleep_for(std::chrono::milliseconds(300));
          d.stop();
        });
        timespec before{}, after{};
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &before);
        d.run();
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &after);
        stopper.join();
        const double cpu_ms = (after.tv_sec - before.tv_sec) * 1e3 + (after.tv_nsec - before.tv_nsec) / 1e6;
        std::fprintf(stderr, "backend %d: run() used %.1f ms of CPU, handled %llu, dispatched %d\n",
                     static_cast<int>(kind), cpu_ms, static_cast<unsigned long long>(handled.load()),
                     calls.load());
        ::_exit(cpu_ms >= 100.0 ? 1 : handled.load() != 1 ? 2 : calls.load() != 0 ? 3 : 0);
      }
      const int status = sigrelay::test::wait_with_deadline(child, 30);
      // 1: run() spun; 2: the signal was not handled in the child; 3: the dead object dispatched.
      EXPECT_TRUE(sigrelay::test::exited_with(status, 0));
      sigrelay::remove_action(counter);
    });
  }
}

// CPU time of the whole process (every thread), in milliseconds.
double process_cpu_ms() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

// A fork child's copy of a dispatcher whose background thread runs in the parent: the child's stop()
// must not wake the parent's thread (on the signalfd backend it polled the stop eventfd the two
// share, found it readable for good and spun), and the child's join() and destructor must not wait
// for, or detach, a thread that does not exist in the child (glibc hands its descriptor to the next
// thread the child creates). The parent's dispatcher then still delivers and stops.
TEST(Dispatcher, AForkChildsStopJoinAndDestructorLeaveTheParentsThreadAlone) {
  for (const sigrelay::backend kind : {sigrelay::backend::relay, sigrelay::backend::signalfd}) {
    if (kind == sigrelay::backend::signalfd && sigrelay::test::posix_platform()) continue;  // Linux-only
    SIGRELAY_IN_CHILD([kind] {
      auto d = std::make_unique<dispatcher>(kind);
      std::atomic<int> calls{0};
      d->on(SIGUSR1, [&](const signal_event&) { calls.fetch_add(1); });
      d->start();
      std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the thread is asleep in its wait
      std::fflush(nullptr);
      const pid_t child = ::fork();
      ASSERT_GE(child, 0);
      if (child == 0) {
        ::alarm(10);  // watchdog: a join() that waits for the parent's thread
        // A thread of the child's own first: glibc's fork put the parent's thread's stack (and
        // descriptor) in its cache, so this one likely gets it, and the same pthread_t. A join or a
        // detach of the parent's std::thread would act on this thread.
        // (ThreadSanitizer cannot start a thread after a multi-threaded fork: there, no such thread.)
        std::atomic<bool> go{false};
        std::thread own;
        if (!SIGRELAY_TEST_UNDER_TSAN) {
          own = std::thread([&] {
            while (!go.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
          });
        }
        // The child may start its copy (the parent's thread looks joinable there): its own thread
        // then sleeps until the child's stop() below, which join() waits for.
        if (!SIGRELAY_TEST_UNDER_TSAN) d->start();
        d->stop();
        d->join();
        d.reset();
        go.store(true);
        if (own.joinable()) own.join();  // still joinable, and joined once
        ::_exit(0);
      }
      const int status = sigrelay::test::wait_with_deadline(child, 30);
      EXPECT_TRUE(sigrelay::test::exited_with(status, 0)) << "backend " << static_cast<int>(kind);
      const double before = process_cpu_ms();
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      const double spent = process_cpu_ms() - before;
      EXPECT_LT(spent, 100.0) << "backend " << static_cast<int>(kind)
                              << ": the parent's dispatcher thread spun after the child's stop()";
      ::kill(::getpid(), SIGUSR1);
      for (int i = 0; i < 5000 && calls.load() == 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      EXPECT_EQ(calls.load(), 1) << "backend " << static_cast<int>(kind);
      d->stop();
      d->join();
    });
  }
}

// Another thread of the parent changing the dispatcher at the fork (on()/off() hold its lock, and its
// `signals` object's) leaves those locks held in the child, by a thread the child does not have.
// Nothing the child does with its copy may wait for them: set_error_handler(), on(), off(), stop(),
// join() and the destructor (which destroys the copy's `signals`).
TEST(Dispatcher, AForkChildsCopyNeverWaitsForALockTheParentsThreadHeld) {
  for (const sigrelay::backend kind : {sigrelay::backend::relay, sigrelay::backend::signalfd}) {
    if (kind == sigrelay::backend::signalfd && sigrelay::test::posix_platform()) continue;  // Linux-only
    SIGRELAY_IN_CHILD([kind] {
      auto d = std::make_unique<dispatcher>(kind);
      d->on(SIGUSR1, [](const signal_event&) {});
      const int hung = sigrelay::test::first_failed_fork_while_busy(
          [&] {
            d->on(SIGUSR2, [](const signal_event&) {});
            d->off(SIGUSR2);
          },
          100, 40,
          [&](int, bool) {
            // Each would wait for a lock that no thread here will release.
            d->set_error_handler([](std::exception_ptr) {});
            try {
              d->on(SIGHUP, [](const signal_event&) {});
              return 3;  // dead in the child: on() must refuse
            } catch (const std::system_error&) {
            }
            d->off(SIGUSR1);
            d->stop();
            d->join();
            d.reset();
            return 0;
          });
      EXPECT_EQ(hung, -1) << "backend " << static_cast<int>(kind) << ": child " << hung
                          << " waited for the parent's lock";
    });
  }
}

// The parent's stop() must not end (or wake) the run() of a fork child's copy: that run() sleeps
// until the child's own stop(), without spinning on the stop eventfd the parent wrote, and the
// parent's dispatcher keeps its stop for its next run().
TEST(Dispatcher, AForkChildsRunEndsOnlyOnTheChildsStop) {
  for (const sigrelay::backend kind : {sigrelay::backend::relay, sigrelay::backend::signalfd}) {
    if (kind == sigrelay::backend::signalfd && sigrelay::test::posix_platform()) continue;  // Linux-only
    SIGRELAY_IN_CHILD([kind] {
      dispatcher d(kind);
      d.on(SIGUSR1, [](const signal_event&) {});
      int ready[2];
      ASSERT_EQ(::pipe(ready), 0);
      std::fflush(nullptr);
      const pid_t child = ::fork();
      ASSERT_GE(child, 0);
      if (child == 0) {
        ::alarm(20);  // watchdog: a run() that never ends
        std::atomic<bool> stopped{false};
        std::thread stopper([&] {
          std::this_thread::sleep_for(std::chrono::milliseconds(400));
          stopped.store(true);
          d.stop();
        });
        // Dead here: on() refuses, off() does nothing (the header's "Fork").
        bool refused = false;
        try {
          d.on(SIGUSR2, [](const signal_event&) {});
        } catch (const std::system_error& e) {
          refused = e.code() == std::errc::operation_not_permitted;
        }
        if (!refused) ::_exit(5);
        d.off(SIGUSR1);
        const char byte = 'r';
        if (::write(ready[1], &byte, 1) != 1) ::_exit(4);  // the parent stops its copy now
        timespec before{}, after{};
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &before);
        d.run();
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &after);
        const bool early = !stopped.load();
        stopper.join();
        const double cpu_ms = (after.tv_sec - before.tv_sec) * 1e3 + (after.tv_nsec - before.tv_nsec) / 1e6;
        std::fprintf(stderr, "backend %d: the child's run() used %.1f ms of CPU%s\n", static_cast<int>(kind),
                     cpu_ms, early ? ", and returned before the child's stop()" : "");
        ::_exit(early ? 2 : cpu_ms >= 100.0 ? 1 : 0);
      }
      char byte = 0;
      ASSERT_EQ(::read(ready[0], &byte, 1), 1);
      d.stop();  // the parent's copy
      const int status = sigrelay::test::wait_with_deadline(child, 30);
      // 1: the child's run() spun; 2: the parent's stop() ended it; 5: on() did not refuse.
      EXPECT_TRUE(sigrelay::test::exited_with(status, 0)) << "backend " << static_cast<int>(kind);
      ::close(ready[0]);
      ::close(ready[1]);
      // The parent's stop() before its run() is kept: this run() returns at once.
      d.run();
    });
  }
}

}  // namespace
