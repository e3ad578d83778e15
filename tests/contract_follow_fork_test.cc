// SPDX-License-Identifier: MIT
// tests/contract_follow_fork_test.cc — hostile cases of signals_options::follow_fork and
// signals::is_inherited() (signals.hpp, "Fork", "Following fork"), beyond tests/follow_fork_test.cc:
// a fork made inside a registry action (signal context), exec after the adoption, nested forks, a
// moved object, a handle closing the adopted copy from another thread of the child, _Fork() children,
// the C API's option and a realtime flood into a tiny ring across the fork. Every test body runs in a
// forked child under a watchdog; every process it forks is waited for.
#include <gtest/gtest.h>

#include <fcntl.h>
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
#include <thread>
#include <utility>
#include <vector>

#include "sigrelay.h"
#include "sigrelay/registry.hpp"
#include "sigrelay/signals.hpp"
#include "support/child.hpp"
#include "support/events.hpp"
#include "support/flood_limit.hpp"
#include "support/platform.hpp"
#include "support/senders.hpp"

namespace {

using namespace std::chrono_literals;
using sigrelay::signal_event;
using sigrelay::signals;
using sigrelay::signals_options;
using sigrelay::test::collect;
using sigrelay::test::exited_with;
using sigrelay::test::readable;
using sigrelay::test::tgkill_self;
using sigrelay::test::total;
using sigrelay::test::wait_with_deadline;

signals_options following(std::size_t realtime_capacity = signals_options{}.realtime_capacity) {
  signals_options options;
  options.follow_fork = true;
  options.realtime_capacity = realtime_capacity;
  return options;
}

bool queue_to(pid_t pid, int signo, int value) {
  union sigval v {};
  v.sival_int = value;
  return sigqueue(pid, signo, v) == 0;
}

// Whether `sigs` hands out exactly one SIGUSR1 (of count 1) after one tgkill() of it to this thread.
bool receives_one_sigusr1(signals& sigs) {
  if (!tgkill_self(SIGUSR1)) return false;
  const std::vector<signal_event> events = collect(sigs, 1);
  return events.size() == 1 && events[0].signo == SIGUSR1 && events[0].count == 1;
}

// ---------------------------------------------------------------------------------------------------
// Fork inside a registry action (signal context: fork() is async-signal-safe).

std::atomic<pid_t> g_forked{-1};
void fork_fn(void*, const siginfo_t&) noexcept { g_forked.store(fork(), std::memory_order_relaxed); }

// The delivery whose action forked is the parent's: the parent records it. The child, made while
// the trampoline is still running that delivery's actions, must not hand it out as well ("what the
// parent had recorded and not drained is dropped in the child (the parent hands it out)"; "what the
// child receives from then on is recorded ... in the child"). `follower_first` orders the follower's
// action before (true) or after (false) the forking action in the signal's action list.
int fork_inside_an_action(bool follower_first) {
  std::fflush(nullptr);
  signals_options options = following();
  std::optional<signals> early;
  if (follower_first) early.emplace(std::initializer_list<int>{SIGUSR2}, options);
  const sigrelay::action_id id = sigrelay::add_action(SIGUSR2, {fork_fn, nullptr});
  std::optional<signals> late;
  if (!follower_first) late.emplace(std::initializer_list<int>{SIGUSR2}, options);
  signals& sigs = follower_first ? *early : *late;
  if (!tgkill_self(SIGUSR2)) return 1;
  const pid_t child = g_forked.load();
  if (child < 0) return 2;
  if (child == 0) {
    alarm(10);
    if (sigs.is_inherited()) _exit(20);
    const std::vector<signal_event> in_child = sigs.pending();
    if (total(in_child, SIGUSR2) != 0) _exit(21);  // the parent's delivery, handed out twice
    if (!tgkill_self(SIGUSR2)) _exit(22);          // (forks again: the grandchild just exits)
    const pid_t grandchild = g_forked.load();
    if (grandchild == 0) _exit(0);
    if (grandchild < 0 || !exited_with(wait_with_deadline(grandchild, 10), 0)) _exit(23);
    const std::vector<signal_event> own = collect(sigs, 1);
    _exit(total(own, SIGUSR2) == 1 ? 0 : 24);
  }
  const int status = wait_with_deadline(child, 20);
  sigrelay::remove_action(id);
  if (!exited_with(status, 0)) return WIFEXITED(status) ? WEXITSTATUS(status) : 3;
  const std::vector<signal_event> mine = collect(sigs, 1);
  return total(mine, SIGUSR2) == 1 ? 0 : 4;
}

TEST(ContractFollowFork, AForkInsideALaterActionLeavesTheDeliveryToTheParent) {
  SIGRELAY_IN_CHILD([] {
    EXPECT_EQ(0, fork_inside_an_action(/*follower_first=*/true))
        << "20: dead in the child, 21: the parent's delivery handed out in the child too, 24: the "
           "child's own delivery not handed out, 4: the parent lost its delivery";
  });
}

TEST(ContractFollowFork, AForkInsideAnEarlierActionLeavesTheDeliveryToTheParent) {
  SIGRELAY_IN_CHILD([] {
    EXPECT_EQ(0, fork_inside_an_action(/*follower_first=*/false))
        << "20: dead in the child, 21: the parent's delivery handed out in the child too, 24: the "
           "child's own delivery not handed out, 4: the parent lost its delivery";
  });
}

// The same with the fork in the handler that was installed before sigrelay (chained, and run before
// the actions): the child's following copy does not record the parent's delivery.
void forking_handler(int) { g_forked.store(fork(), std::memory_order_relaxed); }

TEST(ContractFollowFork, AForkInsideAChainedHandlerLeavesTheDeliveryToTheParent) {
  SIGRELAY_IN_CHILD([] {
    struct sigaction sa {};
    sa.sa_handler = forking_handler;
    sigemptyset(&sa.sa_mask);
    ASSERT_EQ(0, sigaction(SIGUSR2, &sa, nullptr));
    signals sigs({SIGUSR2}, following());
    std::fflush(nullptr);
    ASSERT_TRUE(tgkill_self(SIGUSR2));
    const pid_t child = g_forked.load();
    ASSERT_GE(child, 0);
    if (child == 0) {
      alarm(10);
      if (sigs.is_inherited()) _exit(20);
      if (total(sigs.pending(), SIGUSR2) != 0) _exit(21);
      _exit(0);
    }
    EXPECT_TRUE(exited_with(wait_with_deadline(child, 20), 0))
        << "20: dead in the child, 21: the parent's delivery handed out in the child too";
    EXPECT_EQ(1U, total(collect(sigs, 1), SIGUSR2)) << "the parent lost its delivery";
  });
}

// A fork inside an action while the forking thread holds a realtime signal for the follower's full
// ring (its mask blocks it, "Realtime floods"): the child gets the forking thread's mask minus what
// sigrelay blocked ("Masks"), also once the handler that forked has returned (the kernel then puts
// back the mask of the context it interrupted). Else the child's adopted copy never receives that
// signal: its only thread blocks it, and nothing in the child knows of the hold any more.
TEST(ContractFollowFork, AForkInsideAnActionWhileHoldingUnblocksTheHeldSignalInTheChild) {
  SIGRELAY_SKIP_WITHOUT_HOLDS();
  SIGRELAY_IN_CHILD([] {
    const int rt = SIGRTMIN + 3;
    signals sigs({rt}, following(2));
    const sigrelay::action_id id = sigrelay::add_action(SIGUSR2, {fork_fn, nullptr});
    sigset_t now;
    bool held = false;
    for (int i = 0; i < 16 && !held; ++i) {
      ASSERT_TRUE(queue_to(getpid(), rt, i));
      pthread_sigmask(SIG_BLOCK, nullptr, &now);
      held = sigismember(&now, rt) == 1;
    }
    ASSERT_TRUE(held) << "the full ring did not hold";
    std::fflush(nullptr);
    ASSERT_TRUE(tgkill_self(SIGUSR2));
    const pid_t child = g_forked.load();
    ASSERT_GE(child, 0);
    if (child == 0) {
      alarm(10);
      if (sigs.is_inherited()) _exit(20);
      pthread_sigmask(SIG_BLOCK, nullptr, &now);
      if (sigismember(&now, rt) == 1) _exit(21);
      if (!queue_to(getpid(), rt, 1000)) _exit(22);
      const std::vector<signal_event> events = collect(sigs, 1);
      _exit(events.size() == 1 && events[0].last.value.sival_int == 1000 ? 0 : 23);
    }
    EXPECT_TRUE(exited_with(wait_with_deadline(child, 20), 0))
        << "21: the held signal still blocked in the child, 23: the child's own not received";
    sigrelay::remove_action(id);
    std::uint64_t got = 0;
    for (int i = 0; i < 100 && got + sigs.dropped() < 16; ++i) got += total(sigs.wait_for(50ms), rt);
    EXPECT_GT(got, 0U);
  });
}

// The same for a signalfd object's block ("Masks: the child gets the forking thread's mask minus what
// sigrelay blocked in that thread"), with the fork made inside an action: the block is not back in
// the child once the handler has returned.
TEST(ContractFollowFork, AForkInsideAnActionDropsASignalfdBlockInTheChild) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the signalfd backend");
  if (sigrelay::test::kUnderTsan)  // it runs handlers on a copy of the context: no mask edit sticks
    GTEST_SKIP() << "ThreadSanitizer restores its own mask after a handler";
  SIGRELAY_IN_CHILD([] {
    sigset_t none;
    sigemptyset(&none);
    pthread_sigmask(SIG_SETMASK, &none, nullptr);
    signals blocking({SIGHUP}, sigrelay::backend::signalfd);
    sigset_t now;
    pthread_sigmask(SIG_BLOCK, nullptr, &now);
    ASSERT_EQ(1, sigismember(&now, SIGHUP)) << "the signalfd object did not block (nothing to check)";
    const sigrelay::action_id id = sigrelay::add_action(SIGUSR2, {fork_fn, nullptr});
    std::fflush(nullptr);
    ASSERT_TRUE(tgkill_self(SIGUSR2));
    const pid_t child = g_forked.load();
    ASSERT_GE(child, 0);
    if (child == 0) {
      alarm(10);
      pthread_sigmask(SIG_BLOCK, nullptr, &now);
      _exit(sigismember(&now, SIGHUP) == 1 ? 21 : 0);
    }
    EXPECT_TRUE(exited_with(wait_with_deadline(child, 20), 0))
        << "21: the parent's signalfd block is back in the child";
    sigrelay::remove_action(id);
  });
}

// ---------------------------------------------------------------------------------------------------
// The renewed wake-up descriptor is close-on-exec, as the one it replaces: a program the child execs
// does not get it.

TEST(ContractFollowFork, TheRenewedDescriptorDoesNotLeakIntoAnExecdProgram) {
  SIGRELAY_IN_CHILD([] {
    signals sigs({SIGUSR1}, following());
    const int fd = sigs.native_handle();
    ASSERT_GE(fd, 3);
    ASSERT_NE(0, fcntl(fd, F_GETFD) & FD_CLOEXEC);
    bool cloexec_before[64] = {};
    for (int n = 0; n < 64; ++n) {
      const int flags = fcntl(n, F_GETFD);
      cloexec_before[n] = flags >= 0 && (flags & FD_CLOEXEC) != 0;
    }
    std::fflush(nullptr);
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      alarm(10);
      if (sigs.is_inherited() || sigs.native_handle() != fd) _exit(10);
      // Every descriptor that was close-on-exec in the parent still is (the posix layer's pipe: two).
      for (int n = 0; n < 64; ++n) {
        const int flags = fcntl(n, F_GETFD);
        if (cloexec_before[n] && (flags < 0 || (flags & FD_CLOEXEC) == 0)) _exit(11);
      }
      const std::string script = "[ -e /proc/$$/fd/" + std::to_string(fd) + " ] && exit 12; exit 0";
      execl("/bin/sh", "sh", "-c", script.c_str(), static_cast<char*>(nullptr));
      _exit(13);
    }
    EXPECT_TRUE(exited_with(wait_with_deadline(child, 20), 0))
        << "10: not adopted, 11: a descriptor without close-on-exec, 12: it reached the exec'd program";
  });
}

// ---------------------------------------------------------------------------------------------------
// Nested forks: a child that adopted the object forks again; the grandchild adopts it from the child,
// and each of the three hands out exactly its own deliveries.

TEST(ContractFollowFork, AGrandchildAdoptsFromTheChildAndEachKeepsItsOwn) {
  SIGRELAY_IN_CHILD([] {
    signals sigs({SIGUSR1}, following());
    const int fd = sigs.native_handle();
    ASSERT_GE(fd, 0);
    std::fflush(nullptr);
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      alarm(15);
      if (sigs.is_inherited()) _exit(10);
      if (!tgkill_self(SIGUSR1)) _exit(11);  // recorded in the child, not drained at its fork
      if (!readable(fd, 5000)) _exit(12);
      std::fflush(nullptr);
      const pid_t grandchild = fork();
      if (grandchild < 0) _exit(13);
      if (grandchild == 0) {
        alarm(10);
        if (sigs.is_inherited()) _exit(30);
        if (sigs.native_handle() != fd) _exit(31);
        if (readable(fd, 0)) _exit(32);
        if (!sigs.pending().empty()) _exit(33);
        _exit(receives_one_sigusr1(sigs) ? 0 : 34);
      }
      const int status = wait_with_deadline(grandchild, 10);
      if (!exited_with(status, 0)) _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 14);
      // The child still has its own recorded delivery, and nothing of the grandchild's.
      const std::vector<signal_event> own = sigs.pending();
      if (own.size() != 1 || own[0].signo != SIGUSR1 || own[0].count != 1) _exit(15);
      if (readable(fd, 100)) _exit(16);
      _exit(receives_one_sigusr1(sigs) ? 0 : 17);
    }
    EXPECT_TRUE(exited_with(wait_with_deadline(child, 30), 0))
        << "10-17: the child, 30-34: the grandchild (30: dead, 32: a wake-up of another process, 33: "
           "another process's records, 34: its own not received)";
    EXPECT_TRUE(sigs.pending().empty()) << "a descendant's signal reached the parent";
    EXPECT_FALSE(readable(fd, 0));
    EXPECT_TRUE(receives_one_sigusr1(sigs));
  });
}

// ---------------------------------------------------------------------------------------------------
// A following object moved before the fork: the moved-to object goes on in the child; the moved-from
// one is not inherited (is_inherited(): false "for a moved-from object").

TEST(ContractFollowFork, AnObjectMovedBeforeTheForkGoesOnInTheChild) {
  SIGRELAY_IN_CHILD([] {
    signals first({SIGUSR1}, following());
    signals sigs(std::move(first));
    std::fflush(nullptr);
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      alarm(10);
      if (first.is_inherited()) _exit(10);  // NOLINT(bugprone-use-after-move): the promise under test
      if (sigs.is_inherited()) _exit(11);
      _exit(receives_one_sigusr1(sigs) ? 0 : 12);
    }
    EXPECT_TRUE(exited_with(wait_with_deadline(child, 20), 0));
    EXPECT_TRUE(sigs.pending().empty());
    EXPECT_TRUE(receives_one_sigusr1(sigs));
  });
}

// ---------------------------------------------------------------------------------------------------
// The child's handle closes the adopted copy from another thread while the child's main thread is
// asleep in wait(): the wake-up reaches the child's sleeper (not the parent's descriptor), and the
// parent's object stays open and receiving.

TEST(ContractFollowFork, AHandleClosesTheAdoptedCopyFromAnotherThreadOfTheChild) {
  SIGRELAY_IN_CHILD([] {
    signals sigs({SIGUSR1}, following());
    signals::handle handle = sigs.get_handle();
    const int fd = sigs.native_handle();
    std::fflush(nullptr);
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      alarm(10);
      if (sigs.is_inherited()) _exit(10);
      std::thread closer([&handle] {
        std::this_thread::sleep_for(100ms);
        handle.close();
      });
      int rounds = 0;
      for (const signal_event& e : sigs) {  // ends at close()
        (void)e;
        ++rounds;
      }
      closer.join();
      if (rounds != 0) _exit(11);
      if (!sigs.wait().empty()) _exit(12);  // closed: returns at once
      _exit(0);
    }
    EXPECT_TRUE(exited_with(wait_with_deadline(child, 20), 0))
        << "killed by SIGALRM: the close never woke the child";
    EXPECT_FALSE(readable(fd, 100)) << "the child's close woke the parent";
    EXPECT_TRUE(receives_one_sigusr1(sigs)) << "the child's close closed the parent's object";
  });
}

// ---------------------------------------------------------------------------------------------------
// Another thread of the parent draining the object at the fork (signals arriving meanwhile), with
// fork() and _Fork() (then after_fork_in_child() first): the copy either stays dead ("if another
// thread of the parent was inside it at the fork (is_inherited() tells)") and hands out nothing, or
// was adopted and receives the child's own signal exactly once, with nothing of the parent's.

TEST(ContractFollowFork, ADrainOnAnotherThreadAtTheForkLeavesTheCopyDeadOrTheChilds) {
  SIGRELAY_IN_CHILD([] {
    signals sigs({SIGUSR1}, following());
    const pid_t parent = getpid();
    const int failed = sigrelay::test::first_failed_fork_while_busy(
        [&] {
          kill(parent, SIGUSR1);
          (void)sigs.pending();
        },
        100, 40,
        [&](int, bool raw) {
          if (raw) sigrelay::after_fork_in_child();
          if (sigs.is_inherited()) return sigs.pending().empty() && sigs.wait_for(10ms).empty() ? 0 : 3;
          if (!sigs.pending().empty()) return 4;  // the parent's, recorded before the fork
          return receives_one_sigusr1(sigs) ? 0 : 5;
        },
        // (Not under ThreadSanitizer: it knows nothing of _Fork(), and takes the parent's drain
        // thread, gone in the child, for a racing one.)
        [](int i) { return !sigrelay::test::kUnderTsan && i % 2 == 1; });
    EXPECT_EQ(-1, failed) << "child " << failed << " hung or failed";
  });
}

// ---------------------------------------------------------------------------------------------------
// The adopted copy is the child's own in every way: its handle adds a signal in the child (an
// inherited copy's add() throws), and destroying it there (remove, close, unsubscribe) touches
// nothing of the parent's: the parent's descriptor stays open and its object receives.

TEST(ContractFollowFork, TheChildAddsToAndDestroysItsAdoptedCopyWithoutTouchingTheParent) {
  SIGRELAY_IN_CHILD([] {
    std::optional<signals> sigs;
    sigs.emplace(std::initializer_list<int>{SIGUSR1}, following());
    const int fd = sigs->native_handle();
    std::fflush(nullptr);
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      alarm(10);
      signals::handle handle = sigs->get_handle();
      try {
        handle.add(SIGUSR2);
      } catch (...) {
        _exit(10);
      }
      if (!tgkill_self(SIGUSR2)) _exit(11);
      if (total(collect(*sigs, 1), SIGUSR2) != 1) _exit(12);
      handle.remove(SIGUSR1);
      sigs.reset();
      struct sigaction now {};
      sigaction(SIGUSR1, nullptr, &now);
      if (now.sa_handler != SIG_DFL) _exit(13);  // the last subscriber gone: the disposition back
      _exit(0);
    }
    EXPECT_TRUE(exited_with(wait_with_deadline(child, 20), 0)) << "10: add() refused, 12: not received";
    EXPECT_GE(fcntl(fd, F_GETFD), 0) << "the child's teardown closed the parent's descriptor";
    EXPECT_TRUE(receives_one_sigusr1(*sigs));
    EXPECT_FALSE(readable(fd, 0));
  });
}

// ---------------------------------------------------------------------------------------------------
// _Fork() children.

// A second after_fork_in_child() changes nothing: the adopted copy keeps receiving, and what it
// recorded stays.
TEST(ContractFollowFork, ASecondAfterForkInChildKeepsTheAdoptedCopy) {
  SIGRELAY_IN_CHILD([] {
    signals sigs({SIGUSR1}, following());
    std::fflush(nullptr);
    const pid_t child = _Fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      alarm(10);
      sigrelay::after_fork_in_child();
      if (sigs.is_inherited()) _exit(10);
      if (!tgkill_self(SIGUSR1)) _exit(11);
      sigrelay::after_fork_in_child();
      if (sigs.is_inherited()) _exit(12);
      const std::vector<signal_event> events = collect(sigs, 1);
      if (events.size() != 1 || events[0].signo != SIGUSR1) _exit(13);
      _exit(receives_one_sigusr1(sigs) ? 0 : 14);
    }
    EXPECT_TRUE(exited_with(wait_with_deadline(child, 20), 0));
    EXPECT_TRUE(sigs.pending().empty());
  });
}

// A _Fork() child that never calls after_fork_in_child() but makes a new object: the constructor
// calls it, so the following copy is adopted too (header: "the constructor of a new object calls
// it"), and both receive.
TEST(ContractFollowFork, ANewObjectInARawForkChildAdoptsTheFollowerToo) {
  SIGRELAY_IN_CHILD([] {
    signals sigs({SIGUSR1}, following());
    std::fflush(nullptr);
    const pid_t child = _Fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      alarm(10);
      if (!sigs.is_inherited()) _exit(10);
      if (!sigs.pending().empty()) _exit(11);
      signals fresh({SIGUSR2});
      if (sigs.is_inherited()) _exit(12);
      if (!receives_one_sigusr1(sigs)) _exit(13);
      if (!tgkill_self(SIGUSR2)) _exit(14);
      _exit(total(collect(fresh, 1), SIGUSR2) == 1 ? 0 : 15);
    }
    EXPECT_TRUE(exited_with(wait_with_deadline(child, 20), 0));
    EXPECT_TRUE(sigs.pending().empty());
  });
}

// A _Fork() child that never calls after_fork_in_child(): the copy is dead ("until then the copy is
// dead"), and the parent's descriptor is neither woken nor robbed by the child's deliveries.
TEST(ContractFollowFork, ARawForkChildWithoutAfterForkInChildLeavesTheCopyDead) {
  SIGRELAY_IN_CHILD([] {
    signals sigs({SIGUSR1}, following());
    const int fd = sigs.native_handle();
    ASSERT_TRUE(tgkill_self(SIGUSR1));  // the parent's, not drained at the fork
    ASSERT_TRUE(readable(fd, 5000));
    std::fflush(nullptr);
    const pid_t child = _Fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      alarm(10);
      if (!sigs.is_inherited()) _exit(10);
      if (!tgkill_self(SIGUSR1)) _exit(11);
      if (!sigs.wait_for(100ms).empty()) _exit(12);
      if (!sigs.pending().empty()) _exit(13);
      _exit(0);
    }
    EXPECT_TRUE(exited_with(wait_with_deadline(child, 20), 0));
    EXPECT_TRUE(readable(fd, 0)) << "the child robbed the parent's wake-up";
    const std::vector<signal_event> mine = sigs.pending();
    ASSERT_EQ(1U, mine.size());
    EXPECT_EQ(1U, mine[0].count) << "the child's delivery reached the parent";
    EXPECT_EQ(getpid(), mine[0].last.pid);
  });
}

// ---------------------------------------------------------------------------------------------------
// The C API's option (sigrelay.h: sigrelay_signals_options::follow_fork) makes the copy follow too.

TEST(ContractFollowFork, TheCApiOptionFollows) {
  SIGRELAY_IN_CHILD([] {
    sigrelay_signals_options options = SIGRELAY_SIGNALS_OPTIONS_INIT;
    options.follow_fork = 1;
    const int signos[] = {SIGUSR1};
    sigrelay_signals* sigs = nullptr;
    ASSERT_EQ(0, sigrelay_signals_create(signos, 1, &options, &sigs));
    ASSERT_NE(nullptr, sigs);
    std::fflush(nullptr);
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      alarm(10);
      if (!tgkill_self(SIGUSR1)) _exit(10);
      sigrelay_event events[4];
      for (int i = 0; i < 100; ++i) {
        std::size_t n = 0;
        if (sigrelay_signals_wait(sigs, 50, events, 4, &n) != 0) _exit(11);
        if (n == 1 && events[0].signo == SIGUSR1) _exit(0);
        if (n > 1) _exit(12);
      }
      _exit(13);
    }
    EXPECT_TRUE(exited_with(wait_with_deadline(child, 20), 0)) << "13: the C object did not follow";
    sigrelay_signals_destroy(sigs);
  });
}

// With the signalfd backend the C API refuses the option: EINVAL (sigrelay.h), nothing subscribed.
TEST(ContractFollowFork, TheCApiRefusesTheOptionOnTheSignalfdBackend) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the signalfd backend");
  SIGRELAY_IN_CHILD([] {
    signal(SIGUSR1, SIG_DFL);
    sigrelay_signals_options options = SIGRELAY_SIGNALS_OPTIONS_INIT;
    options.backend = SIGRELAY_BACKEND_SIGNALFD;
    options.follow_fork = 1;
    const int signos[] = {SIGUSR1};
    sigrelay_signals* sigs = nullptr;
    EXPECT_EQ(EINVAL, sigrelay_signals_create(signos, 1, &options, &sigs));
    EXPECT_EQ(nullptr, sigs);
    struct sigaction now {};
    sigaction(SIGUSR1, nullptr, &now);
    EXPECT_EQ(SIG_DFL, now.sa_handler);
    sigrelay_signals_destroy(sigs);
  });
}

// ---------------------------------------------------------------------------------------------------
// A realtime flood into a tiny ring (which holds) while the process forks: the child accounts
// exactly for its own deliveries (received + dropped == sent, none of the parent's), and the parent
// for its own (every sigqueue() the kernel accepted).

TEST(ContractFollowFork, AFloodIntoATinyRingAcrossTheForkIsAccountedOnEachSide) {
  SIGRELAY_SKIP_WITHOUT_HOLDS();  // (and ThreadSanitizer refuses threads in a multi-threaded fork's child)
  SIGRELAY_IN_CHILD([] {
    sigrelay::test::cap_pending_signals_for_a_flood();
    const int rt = SIGRTMIN + 2;
    signals sigs({rt}, following(4));
    const pid_t self = getpid();
    constexpr int kSent = 3000;
    std::atomic<bool> forked{false};
    std::atomic<int> accepted{0};
    std::atomic<bool> sender_done{false};
    std::thread sender([&] {
      for (int i = 0; i < kSent; ++i) {
        if (queue_to(self, rt, i)) accepted.fetch_add(1);
        if (i == kSent / 3) {
          while (!forked.load()) std::this_thread::yield();
        }
      }
      sender_done.store(true);
    });
    // Let the ring fill and hold before the fork (nothing drains yet).
    std::this_thread::sleep_for(50ms);
    std::fflush(nullptr);
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      alarm(20);
      if (sigs.is_inherited()) _exit(10);
      constexpr int kOwn = 500;
      const pid_t me = getpid();
      std::thread own([me, rt] {
        for (int i = 0; i < kOwn; ++i) {
          while (!queue_to(me, rt, 100000 + i)) {
            if (errno != EAGAIN) _exit(11);
            std::this_thread::yield();
          }
        }
      });
      std::uint64_t got = 0;
      std::uint64_t foreign = 0;
      const auto deadline = std::chrono::steady_clock::now() + 15s;
      while (got + sigs.dropped() < kOwn && std::chrono::steady_clock::now() < deadline) {
        for (const signal_event& e : sigs.wait_for(50ms)) {
          if (e.signo != rt) _exit(12);
          got += e.count;
          if (e.last.pid != me || e.last.value.sival_int < 100000) ++foreign;
        }
      }
      own.join();
      for (const signal_event& e : sigs.wait_for(200ms)) got += e.count;
      if (foreign != 0) _exit(13);
      if (got + sigs.dropped() != kOwn) {
        std::fprintf(stderr, "child: got %llu dropped %llu of %d\n", static_cast<unsigned long long>(got),
                     static_cast<unsigned long long>(sigs.dropped()), kOwn);
        _exit(14);
      }
      _exit(0);
    }
    forked.store(true);
    std::uint64_t got = 0;
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < deadline) {
      const bool finished = sender_done.load();
      for (const signal_event& e : sigs.wait_for(50ms)) {
        EXPECT_EQ(rt, e.signo);
        EXPECT_EQ(self, e.last.pid);
        got += e.count;
      }
      if (finished && got + sigs.dropped() >= static_cast<std::uint64_t>(accepted.load())) break;
    }
    sender.join();
    for (const signal_event& e : sigs.wait_for(200ms)) got += e.count;
    EXPECT_EQ(static_cast<std::uint64_t>(accepted.load()), got + sigs.dropped())
        << "got " << got << " dropped " << sigs.dropped();
    EXPECT_TRUE(exited_with(wait_with_deadline(child, 30), 0)) << "14: the child's count is off";
  });
}

}  // namespace
