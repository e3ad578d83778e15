// SPDX-License-Identifier: MIT
// tests/follow_fork_test.cc — signals_options::follow_fork (signals.hpp, "Fork", "Following fork"):
// a fork() child's copy goes on as the child's own. Each test sends real signals to real processes
// (sigqueue, tgkill, kill) and checks both sides: what the child hands out, and that the parent
// neither sees the child's signals nor loses its own. Every test body runs in a forked child under a
// watchdog; every process it forks is waited for.
#include <gtest/gtest.h>

#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "sigrelay/registry.hpp"
#include "sigrelay/signals.hpp"
#include "support/child.hpp"
#include "support/events.hpp"
#include "support/platform.hpp"
#include "support/senders.hpp"

namespace {

using namespace std::chrono_literals;
using sigrelay::backend;
using sigrelay::signal_event;
using sigrelay::signals;
using sigrelay::signals_options;
using sigrelay::test::collect;
using sigrelay::test::exited_with;
using sigrelay::test::killed_by;
using sigrelay::test::readable;
using sigrelay::test::tgkill_self;
using sigrelay::test::wait_with_deadline;

signals_options following() {
  signals_options options;
  options.follow_fork = true;
  return options;
}

bool send_self(int signo, int value) {
  union sigval v {};
  v.sival_int = value;
  return sigqueue(getpid(), signo, v) == 0;
}

sighandler_t disposition(int signo) {
  struct sigaction now {};
  sigaction(signo, nullptr, &now);
  return now.sa_handler;
}

// The child hands out what it receives (a standard signal with its sender, a realtime one with its
// payload), and nothing of what the parent had recorded and not drained at the fork. The parent hands
// out exactly its own, and its native_handle() stays quiet while the child receives: the child's
// wake-ups go to a descriptor of its own under the same number.
TEST(FollowFork, TheChildReceivesItsOwnSignalsAndTheParentKeepsItsOwn) {
  SIGRELAY_IN_CHILD([] {
    const int rt = SIGRTMIN + 1;
    signals sigs({SIGUSR1, rt}, following());
    const int fd = sigs.native_handle();  // deliveries write it from now on
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(send_self(SIGUSR1, 0));  // recorded in the parent, not drained at the fork
    ASSERT_TRUE(send_self(rt, 7));
    ASSERT_TRUE(readable(fd, 1000));
    int go[2];
    int done[2];
    ASSERT_EQ(0, pipe(go));
    ASSERT_EQ(0, pipe(done));
    std::fflush(nullptr);
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      alarm(10);
      if (sigs.is_inherited()) _exit(10);
      if (sigs.native_handle() != fd) _exit(11);
      if (readable(fd, 0)) _exit(12);          // the parent's wake-up is not the child's
      if (!sigs.pending().empty()) _exit(13);  // the parent's records are the parent's
      char c = 0;
      if (read(go[0], &c, 1) != 1) _exit(14);
      if (!send_self(SIGUSR1, 0) || !send_self(rt, 9)) _exit(15);
      if (!readable(fd, 5000)) _exit(16);
      const std::vector<signal_event> events = collect(sigs, 2);
      if (events.size() != 2) _exit(17);
      for (const signal_event& e : events) {
        if (e.signo == SIGUSR1 && (e.count != 1 || e.last.pid != getpid())) _exit(18);
        if (e.signo == rt && (e.count != 1 || e.last.value.sival_int != 9)) _exit(19);
        if (e.signo != SIGUSR1 && e.signo != rt) _exit(20);
      }
      if (write(done[1], "1", 1) != 1) _exit(21);
      _exit(0);
    }
    close(done[1]);  // so that a child that fails early ends the parent's read()
    // The parent drains its own first, so that its descriptor is quiet while the child receives.
    std::vector<signal_event> mine = sigs.pending();
    ASSERT_EQ(2U, mine.size());
    for (const signal_event& e : mine) {
      if (e.signo == SIGUSR1) {
        EXPECT_EQ(getpid(), e.last.pid);
      } else {
        EXPECT_EQ(rt, e.signo);
        EXPECT_EQ(7, e.last.value.sival_int);
      }
    }
    ASSERT_EQ(1, write(go[1], "1", 1));
    char c = 0;
    EXPECT_EQ(1, read(done[0], &c, 1));  // (0 if the child failed before)
    EXPECT_TRUE(exited_with(wait_with_deadline(child, 20), 0))
        << "10: dead in the child, 11: another descriptor, 12: the parent's wake-up seen, 13: the "
           "parent's records handed out, 16: no wake-up, 17-20: wrong events";
    EXPECT_FALSE(readable(fd, 200)) << "the child's deliveries woke the parent";
    EXPECT_TRUE(sigs.pending().empty()) << "the child's signals reached the parent";
    EXPECT_EQ(0U, sigs.dropped());
    // The parent still receives.
    ASSERT_TRUE(tgkill_self(SIGUSR1));
    const std::vector<signal_event> later = collect(sigs, 1);
    ASSERT_EQ(1U, later.size());
    EXPECT_EQ(SIGUSR1, later[0].signo);
    for (const int p : {go[0], go[1], done[0]}) close(p);
  });
}

// A pre-fork worker that keeps a following object keeps sigrelay's handler: its SIGTERM is recorded
// and handed out, where an object without the option gives the signal its disposition back (and the
// worker dies by it: tests/fork_mask_test.cc, Worker.KeepingTheParentsObjectsDiesBySigterm).
TEST(FollowFork, AWorkerReceivesSigtermThroughTheParentsObject) {
  SIGRELAY_IN_CHILD([] {
    signals sigs({SIGTERM}, following());
    int ready[2];
    ASSERT_EQ(0, pipe(ready));
    std::fflush(nullptr);
    const pid_t worker = fork();
    ASSERT_GE(worker, 0);
    if (worker == 0) {
      alarm(20);
      if (disposition(SIGTERM) == SIG_DFL) _exit(10);
      if (write(ready[1], "1", 1) != 1) _exit(11);
      for (int i = 0; i < 200; ++i) {
        for (const signal_event& e : sigs.wait_for(50ms)) {
          if (e.signo == SIGTERM && e.last.pid == getppid()) _exit(0);
          _exit(12);
        }
      }
      _exit(13);
    }
    close(ready[1]);  // so that a worker that fails early ends the read()
    char c = 0;
    if (read(ready[0], &c, 1) == 1) {
      EXPECT_EQ(0, kill(worker, SIGTERM));
    }
    EXPECT_TRUE(exited_with(wait_with_deadline(worker, 30), 0))
        << "10: SIGTERM back to SIG_DFL, 12: a wrong event, 13: nothing handed out";
    EXPECT_TRUE(sigs.pending().empty()) << "the worker's SIGTERM reached the parent";
    close(ready[0]);
  });
}

// Beside other objects: a following object and one without the option share a signal. In the child
// the signal keeps sigrelay's handler (one subscriber is the child's own), the follower receives and
// the other copy stays dead; a second follower of the same signal receives too (each sink adopted
// once, whatever number of signals it serves).
TEST(FollowFork, OnlyTheFollowersGoOnBesideADeadCopy) {
  SIGRELAY_IN_CHILD([] {
    signals dead({SIGUSR1, SIGUSR2});
    signals first({SIGUSR1, SIGUSR2}, following());
    signals second({SIGUSR1}, following());
    std::fflush(nullptr);
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      alarm(10);
      if (!dead.is_inherited() || first.is_inherited() || second.is_inherited()) _exit(10);
      if (!tgkill_self(SIGUSR1) || !tgkill_self(SIGUSR2)) _exit(11);
      if (collect(first, 2).size() != 2) _exit(12);
      const std::vector<signal_event> two = collect(second, 1);
      if (two.size() != 1 || two[0].signo != SIGUSR1) _exit(13);
      if (!dead.pending().empty()) _exit(14);
      try {
        dead.add(SIGHUP);
        _exit(15);
      } catch (const std::system_error& e) {
        if (e.code() != std::errc::operation_not_permitted) _exit(16);
      }
      first.add(SIGHUP);  // the child's own now: it may change its subscriptions
      if (!tgkill_self(SIGHUP)) _exit(17);
      const std::vector<signal_event> hup = collect(first, 1);
      if (hup.size() != 1 || hup[0].signo != SIGHUP) _exit(18);
      _exit(0);
    }
    EXPECT_TRUE(exited_with(wait_with_deadline(child, 20), 0));
    EXPECT_TRUE(dead.pending().empty());
    EXPECT_TRUE(first.pending().empty());
    EXPECT_TRUE(second.pending().empty());
  });
}

// A closed object stays dead in the child, as without the option: its only signal gets back the
// disposition it had before sigrelay.
TEST(FollowFork, AClosedObjectStaysDead) {
  SIGRELAY_IN_CHILD([] {
    signals sigs({SIGUSR1}, following());
    sigs.get_handle().close();
    std::fflush(nullptr);
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      if (!sigs.is_inherited()) _exit(10);
      if (disposition(SIGUSR1) != SIG_DFL) _exit(11);
      _exit(0);
    }
    EXPECT_TRUE(exited_with(wait_with_deadline(child, 20), 0));
  });
}

// A parent thread asleep in wait() at the fork: the child's copy does not carry its WAITING mark,
// and a wait() in the child sleeps and wakes on the child's own delivery (sent by a grandchild
// process once the child sleeps: a thread started after a multi-threaded fork is refused by
// ThreadSanitizer). The parent's sleeper wakes on its own signal.
TEST(FollowFork, AParentAsleepInWaitAtTheForkDoesNotTroubleTheChild) {
  SIGRELAY_IN_CHILD([] {
    signals sigs({SIGUSR1}, following());
    std::atomic<int> woken{0};
    std::thread sleeper([&] {
      for (const signal_event& e : sigs.wait()) woken.fetch_add(static_cast<int>(e.count));
    });
    std::this_thread::sleep_for(100ms);  // asleep in wait() (usually) when the fork comes
    std::fflush(nullptr);
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      alarm(10);
      const pid_t self = getpid();
      const pid_t sender = fork();
      if (sender == 0) {
        std::this_thread::sleep_for(100ms);
        union sigval v {};
        _exit(sigqueue(self, SIGUSR1, v) == 0 ? 0 : 1);
      }
      const std::vector<signal_event> events = sigs.wait();
      int status = 0;
      waitpid(sender, &status, 0);
      _exit(events.size() == 1 && events[0].signo == SIGUSR1 && events[0].last.pid == sender ? 0 : 10);
    }
    EXPECT_TRUE(exited_with(wait_with_deadline(child, 20), 0));
    EXPECT_EQ(0, woken.load()) << "the child's signal woke the parent";
    ASSERT_EQ(0, kill(getpid(), SIGUSR1));
    sleeper.join();
    EXPECT_EQ(1, woken.load());
  });
}

// _Fork() runs no fork handlers: the copy is dead until after_fork_in_child(), which makes it the
// child's own as fork() would have.
TEST(FollowFork, AChildOfRawForkAdoptsItAtAfterForkInChild) {
  SIGRELAY_IN_CHILD([] {
    signals sigs({SIGUSR1}, following());
    std::fflush(nullptr);
    const pid_t child = _Fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      alarm(10);
      if (!sigs.is_inherited()) _exit(10);
      sigrelay::after_fork_in_child();
      if (sigs.is_inherited()) _exit(11);
      if (!tgkill_self(SIGUSR1)) _exit(12);
      const std::vector<signal_event> events = collect(sigs, 1);
      _exit(events.size() == 1 && events[0].signo == SIGUSR1 ? 0 : 13);
    }
    EXPECT_TRUE(exited_with(wait_with_deadline(child, 20), 0));
    EXPECT_TRUE(sigs.pending().empty());
  });
}

// The signalfd backend cannot follow: refused with invalid_argument, naming the option, and nothing
// is subscribed (the disposition is untouched).
TEST(FollowFork, TheSignalfdBackendIsRefused) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the signalfd backend");
  SIGRELAY_IN_CHILD([] {
    signals_options options = following();
    options.backend = backend::signalfd;
    try {
      signals sigs({SIGUSR1}, options);
      ADD_FAILURE() << "not refused";
    } catch (const std::system_error& e) {
      EXPECT_EQ(std::errc::invalid_argument, e.code());
      EXPECT_NE(std::string(e.what()).find("follow_fork"), std::string::npos) << e.what();
    }
    EXPECT_EQ(SIG_DFL, disposition(SIGUSR1));
  });
}

// Another thread inside the object at the fork (changing its subscriptions through a handle) left
// the child's copy half-changed: it stays dead there, or was adopted if the thread was not inside
// at that instant. Either way nothing in the child hangs, and an adopted copy receives.
TEST(FollowFork, AChangeInFlightAtTheForkNeverHangsTheChild) {
  SIGRELAY_IN_CHILD([] {
    signals sigs({SIGUSR1}, following());
    signals::handle handle = sigs.get_handle();
    const int failed = sigrelay::test::first_failed_fork_while_busy(
        [&] {
          handle.add(SIGUSR2);
          handle.remove(SIGUSR2);
        },
        100, 40,
        [&](int, bool) {
          if (sigs.is_inherited()) return sigs.pending().empty() ? 0 : 3;
          if (!tgkill_self(SIGUSR1)) return 4;
          const std::vector<signal_event> events = collect(sigs, 1);
          return events.size() == 1 && events[0].signo == SIGUSR1 ? 0 : 5;
        });
    EXPECT_EQ(-1, failed) << "child " << failed << " hung or failed";
  });
}

}  // namespace
