// SPDX-License-Identifier: MIT
// adapters/tests/contract_fork_adapters_test.cc — hostile forks of the uv and libevent watchers
// ("Fork" in <sigrelay/uv.hpp> and <sigrelay/event.hpp>): a fork() made from inside the watcher's
// callback, in the middle of a drained batch ("Events the parent had recorded or drained but not
// handed out are dropped in the child (the parent hands them out)"); a child that never calls
// uv_loop_fork() (its signals "do not kill it"; close() gives them back their disposition); and
// start_oneshot() in a child. Real signals; each body runs in a forked child under a watchdog.
#include <gtest/gtest.h>

#include <event2/event.h>
#include <sys/wait.h>
#include <unistd.h>
#include <csignal>
#include <cstdio>
#include <vector>

#include "sigrelay/event.hpp"
#include "sigrelay/uv.hpp"
#include "support/child.hpp"
#include "support/event_base.hpp"
#include "support/signal_helpers.hpp"
#include "support/uv_loop.hpp"

namespace {

using sigrelay::signal_event;
using sigrelay::test::exited_with;
using sigrelay::test::wait_with_deadline;

// Two deliveries recorded before the loop runs (SIGUSR1, SIGUSR2: one drained batch). The callback
// forks on the first; the child goes on in the callback's loop (after uv_loop_fork()/event_reinit())
// and signals itself SIGUSR2. The child's callback must get only that one (from the child), never the
// parent's SIGUSR2 left in the batch; the parent's gets both of its own.
struct fork_in_callback {
  pid_t forked = -1;
  std::vector<signal_event> parent_got;
  std::vector<signal_event> child_got;
  // Returns true when the watcher is to be closed.
  template <class Reinit>
  bool on_event(const signal_event& e, Reinit reinit) {
    if (forked < 0) {
      std::fflush(nullptr);
      forked = fork();
      if (forked == 0) {
        alarm(10);
        if (!reinit()) _exit(30);
        kill(getpid(), SIGUSR2);
      } else {
        parent_got.push_back(e);
      }
      return false;
    }
    if (forked == 0) {
      child_got.push_back(e);
      return e.signo == SIGUSR2 && e.last.pid == getpid();
    }
    parent_got.push_back(e);
    return parent_got.size() == 2;
  }
  // In the child, after its loop returned: the exit code.
  int child_code() const {
    if (child_got.size() != 1) return 31;  // (2: the parent's SIGUSR2 handed out here too)
    if (child_got[0].signo != SIGUSR2 || child_got[0].last.pid != getpid() || child_got[0].count != 1)
      return 32;
    return 0;
  }
  void check_parent() const {
    ASSERT_GT(forked, 0);
    EXPECT_TRUE(exited_with(wait_with_deadline(forked, 20), 0))
        << "31: the child's callback got the parent's undelivered event too (or not its own), 30: reinit "
           "failed";
    ASSERT_EQ(2U, parent_got.size());
    EXPECT_EQ(SIGUSR1, parent_got[0].signo);
    EXPECT_EQ(SIGUSR2, parent_got[1].signo);
    EXPECT_EQ(getpid(), parent_got[1].last.pid);
    EXPECT_EQ(1U, parent_got[1].count);
  }
};

TEST(ForkAdaptersContract, UvForkInsideTheCallbackLeavesTheRestOfTheBatchToTheParent) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1, SIGUSR2});
    sigrelay::test::loop l;
    sigrelay::uv::signal_watcher w(l.get(), {SIGUSR1, SIGUSR2});
    fork_in_callback f;
    ASSERT_EQ(0, kill(getpid(), SIGUSR1));
    ASSERT_EQ(0, kill(getpid(), SIGUSR2));
    ASSERT_EQ(0, w.start([&](const signal_event& e) {
      if (f.on_event(e, [&] { return uv_loop_fork(l.get()) == 0; })) w.close();
    }));
    uv_run(l.get(), UV_RUN_DEFAULT);
    if (f.forked == 0) {
      uv_run(l.get(), UV_RUN_NOWAIT);
      _exit(f.child_code());
    }
    f.check_parent();
  });
}

TEST(ForkAdaptersContract, EventForkInsideTheCallbackLeavesTheRestOfTheBatchToTheParent) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1, SIGUSR2});
    sigrelay::test::base b;
    fork_in_callback f;
    {
      sigrelay::event::signal_watcher w(b.get(), {SIGUSR1, SIGUSR2});
      ASSERT_EQ(0, kill(getpid(), SIGUSR1));
      ASSERT_EQ(0, kill(getpid(), SIGUSR2));
      ASSERT_EQ(0, w.start([&](const signal_event& e) {
        if (f.on_event(e, [&] { return event_reinit(b.get()) == 0; })) w.stop();
      }));
      event_base_dispatch(b.get());
    }
    if (f.forked == 0) _exit(f.child_code());
    f.check_parent();
  });
}

// A child that never calls uv_loop_fork() nor runs its loop: its signals are still subscribed, so
// they do not kill it ("they do not kill it"); close() there gives them back their disposition
// (SIG_DFL: SIGTERM then kills it), and the parent's watcher goes on.
TEST(ForkAdaptersContract, UvAChildWithoutLoopForkSurvivesItsSignalsUntilClose) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGTERM});
    sigrelay::test::loop l;
    sigrelay::uv::signal_watcher w(l.get(), {SIGTERM});
    std::vector<signal_event> got;
    ASSERT_EQ(0, w.start([&](const signal_event& e) {
      got.push_back(e);
      w.close();
    }));
    std::fflush(nullptr);
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      alarm(10);
      if (kill(getpid(), SIGTERM) != 0) _exit(10);  // recorded by the adopted copy: survives
      struct sigaction now {};
      sigaction(SIGTERM, nullptr, &now);
      if (now.sa_handler == SIG_DFL) _exit(11);
      w.close();
      sigaction(SIGTERM, nullptr, &now);
      if (now.sa_handler != SIG_DFL) _exit(12);
      kill(getpid(), SIGTERM);  // dies by it now
      _exit(13);
    }
    const int status = wait_with_deadline(child, 20);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM)
        << "status " << status << " (exit 11/12: disposition wrong, 13: SIGTERM after close() did not kill)";
    ASSERT_EQ(0, kill(getpid(), SIGTERM));
    uv_run(l.get(), UV_RUN_DEFAULT);
    ASSERT_EQ(1U, got.size());
    EXPECT_EQ(getpid(), got[0].last.pid);
    EXPECT_EQ(1U, got[0].count) << "the child's SIGTERM reached the parent";
  });
}

// start_oneshot() in a child after uv_loop_fork(): one event to the callback, the watcher stopped
// before it runs; the next delivery is recorded and handed out after start().
TEST(ForkAdaptersContract, UvStartOneshotInAChild) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::prepare_signals({SIGUSR1});
    sigrelay::test::loop l;
    sigrelay::uv::signal_watcher w(l.get(), {SIGUSR1});
    std::fflush(nullptr);
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      alarm(10);
      if (uv_loop_fork(l.get()) != 0) _exit(10);
      int calls = 0;
      bool active_in_cb = true;
      if (w.start_oneshot([&](const signal_event& e) {
            ++calls;
            active_in_cb = w.is_active();
            if (e.signo != SIGUSR1 || e.last.pid != getpid()) _exit(11);
            kill(getpid(), SIGUSR1);  // recorded, handed out after the next start()
          }) != 0)
        _exit(12);
      kill(getpid(), SIGUSR1);
      uv_run(l.get(), UV_RUN_DEFAULT);  // returns: the oneshot stopped the watcher
      if (calls != 1 || active_in_cb) _exit(13);
      if (w.start([&](const signal_event& e) {
            ++calls;
            if (e.signo != SIGUSR1 || e.count != 1) _exit(14);
            w.close();
          }) != 0)
        _exit(15);
      uv_run(l.get(), UV_RUN_DEFAULT);
      _exit(calls == 2 ? 0 : 16);
    }
    EXPECT_TRUE(exited_with(wait_with_deadline(child, 20), 0));
    w.close();
  });
}

}  // namespace
