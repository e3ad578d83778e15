// SPDX-License-Identifier: MIT
// tests/chaining_test.cc — chaining an earlier handler exactly as the kernel would have run it, and
// the registry's recovery from handlers that never return (issue 8, items 1, 4 and 12). Real
// signals, each test in its own forked child under a watchdog.
#include <gtest/gtest.h>

#include <pthread.h>
#include <setjmp.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <ctime>
#include <thread>

#include "sigrelay/registry.hpp"
#include "sigrelay/signals.hpp"
#include "support/child.hpp"
#include "support/dispositions.hpp"

namespace {

using namespace std::chrono_literals;
using sigrelay::add_action;
using sigrelay::remove_action;
using sigrelay::test::exited_with;
using sigrelay::test::query;
using sigrelay::test::run_in_child;
using sigrelay::test::wait_with_deadline;

// Sends `signo` to this thread; the handler has run when this returns (the signal is unblocked).
// pthread_kill() rather than a raw tgkill(): ThreadSanitizer runs handlers of signals a thread sends
// itself this way synchronously.
void raise_here(int signo) { ASSERT_EQ(0, pthread_kill(pthread_self(), signo)); }

void install(int signo, void (*fn)(int, siginfo_t*, void*), int flags, const sigset_t* mask = nullptr) {
  struct sigaction sa {};
  sa.sa_sigaction = fn;
  sa.sa_flags = SA_SIGINFO | flags;
  sigemptyset(&sa.sa_mask);
  if (mask != nullptr) sa.sa_mask = *mask;
  ASSERT_EQ(0, sigaction(signo, &sa, nullptr));
}

bool blocked_here(int signo) {
  sigset_t now;
  pthread_sigmask(SIG_SETMASK, nullptr, &now);
  return sigismember(&now, signo) == 1;
}

// ThreadSanitizer runs handlers from its own dispatcher: with every signal blocked, and a signal
// raised inside a handler only after that handler has returned.
#if defined(__SANITIZE_THREAD__)
constexpr bool kUnderThreadSanitizer = true;
#else
constexpr bool kUnderThreadSanitizer = false;
#endif

std::atomic<int> g_actions{0};
void count_action(void*, const siginfo_t&) noexcept { g_actions.fetch_add(1); }

// Waits (in intercepted calls, so that ThreadSanitizer runs deferred handlers) until `pred` holds.
template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = 5000ms) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    usleep(1000);
  }
  return true;
}

// ---------------------------------------------------------------------------------------------------
// Item 1: an earlier handler that leaves by siglongjmp.

sigjmp_buf g_prompt;
std::atomic<int> g_jumps{0};
void jump_to_prompt(int, siginfo_t*, void*) {
  g_jumps.fetch_add(1);
  siglongjmp(g_prompt, 1);
}

TEST(Chaining, AnEarlierHandlerLeavingBySiglongjmpLeavesTheRegistryUsable) {
  // Before the fix, the trampoline's reader count stayed taken: every later grace period (removing
  // any action, replacing any snapshot, destroying an unrelated `signals`) spun until the watchdog.
  EXPECT_TRUE(exited_with(run_in_child(
                              [] {
                                install(SIGINT, jump_to_prompt, 0);  // a REPL's Ctrl+C handler
                                const auto on_int = add_action(SIGINT, {count_action, nullptr});
                                for (int round = 0; round < 3; ++round) {
                                  if (sigsetjmp(g_prompt, 1) == 0) {
                                    raise_here(SIGINT);
                                    ADD_FAILURE() << "the earlier handler did not jump";
                                  }
                                }
                                EXPECT_EQ(3, g_jumps.load());
                                EXPECT_FALSE(blocked_here(SIGINT)) << "siglongjmp restored the mask";
                                // Documented: the earlier handler took those deliveries.
                                EXPECT_EQ(0, g_actions.load());

                                // Writers of other signals, and of SIGINT itself, finish.
                                const auto on_usr1 = add_action(SIGUSR1, {count_action, nullptr});
                                const auto on_usr1_too = add_action(SIGUSR1, {count_action, nullptr});
                                raise_here(SIGUSR1);
                                EXPECT_EQ(2, g_actions.load());
                                EXPECT_TRUE(remove_action(on_usr1));
                                EXPECT_TRUE(remove_action(on_usr1_too));
                                { sigrelay::signals unrelated{SIGUSR2}; }
                                EXPECT_TRUE(remove_action(on_int));
                                EXPECT_EQ(reinterpret_cast<void*>(jump_to_prompt),
                                          reinterpret_cast<void*>(query(SIGINT).sa_sigaction));
                              },
                              10),
                          0));
}

sigjmp_buf g_out_of_action;
void jumping_action(void*, const siginfo_t&) noexcept { siglongjmp(g_out_of_action, 1); }

TEST(Chaining, AnActionLeftBySiglongjmpIsReleasedByItsThreadsNextSignal) {
  if (kUnderThreadSanitizer) {
    GTEST_SKIP() << "ThreadSanitizer hands deferred handlers a stale interrupted context: no release";
  }
  EXPECT_TRUE(exited_with(run_in_child(
                              [] {
                                const auto jumping = add_action(SIGUSR1, {jumping_action, nullptr});
                                if (sigsetjmp(g_out_of_action, 1) == 0) {
                                  raise_here(SIGUSR1);
                                  ADD_FAILURE() << "the action did not jump";
                                }
                                // The next delivery on this thread, from a shallower point of the
                                // stack, releases the abandoned section.
                                const auto counting = add_action(SIGUSR2, {count_action, nullptr});
                                raise_here(SIGUSR2);
                                EXPECT_EQ(1, g_actions.load());
                                EXPECT_TRUE(remove_action(counting));  // before the fix: waited forever
                                EXPECT_TRUE(remove_action(jumping));
                              },
                              10),
                          0));
}

sigjmp_buf g_back_into_outer;
std::atomic<int> g_outer_resumed{0};
void outer_action(void*, const siginfo_t&) noexcept {
  if (sigsetjmp(g_back_into_outer, 1) == 0) {
    pthread_kill(pthread_self(), SIGUSR2);  // its action jumps back here
    return;
  }
  g_outer_resumed.fetch_add(1);
}
void inner_action(void*, const siginfo_t&) noexcept { siglongjmp(g_back_into_outer, 1); }

TEST(Chaining, ANestedActionJumpingBackIntoItsOuterOneIsReleasedWhenTheOuterReturns) {
  if (kUnderThreadSanitizer) {
    GTEST_SKIP() << "ThreadSanitizer runs the nested handler after the outer one returned: its jump "
                    "would land in a dead frame";
  }
  EXPECT_TRUE(exited_with(run_in_child(
                              [] {
                                const auto outer = add_action(SIGUSR1, {outer_action, nullptr});
                                const auto inner = add_action(SIGUSR2, {inner_action, nullptr});
                                raise_here(SIGUSR1);
                                EXPECT_EQ(1, g_outer_resumed.load());
                                // No further signal: the outer run released the inner one on return.
                                EXPECT_TRUE(remove_action(inner));
                                EXPECT_TRUE(remove_action(outer));
                              },
                              10),
                          0));
}

// A delivery runs the actions that were there when it began: one added while the earlier handler
// (called outside the read-side section) still runs is not the delivery's (registry.hpp,
// add_action(): "A delivery already under way when it is added ... is not `a`'s"). Before the fix,
// the trampoline ran whatever snapshot it found after the chained call: a termination object made in
// that window was armed by a signal that was over before it existed, and killed by its own first one
// (found in CI by TerminationContract.DestroyedOnAnotherThreadWhileItsSignalIsHandled).
std::atomic<int> g_foreign_entered{0};
std::atomic<bool> g_may_return{false};
// Signal context: atomics and clock_gettime() only. Waits (at most 5 s) until the test lets it return,
// as a handler preempted here would.
void waiting_foreign(int, siginfo_t*, void*) {
  g_foreign_entered.fetch_add(1);
  struct timespec start {};
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (struct timespec now = start; !g_may_return.load() && now.tv_sec - start.tv_sec < 5;) {
    clock_gettime(CLOCK_MONOTONIC, &now);
  }
}
std::atomic<int> g_late_actions{0};
void count_late_action(void*, const siginfo_t&) noexcept { g_late_actions.fetch_add(1); }

TEST(Chaining, AnActionAddedWhileTheEarlierHandlerRunsIsNotRunForThatDelivery) {
  SIGRELAY_IN_CHILD(
      [] {
        install(SIGUSR1, waiting_foreign, 0);
        const auto first = add_action(SIGUSR1, {count_action, nullptr});
        std::atomic<pid_t> receiver_tid{0};
        std::atomic<int> receiver_loops{0};
        std::atomic<bool> done{false};
        std::thread receiver([&] {
          sigset_t usr1;
          sigemptyset(&usr1);
          sigaddset(&usr1, SIGUSR1);
          pthread_sigmask(SIG_UNBLOCK, &usr1, nullptr);
          receiver_tid.store(static_cast<pid_t>(syscall(SYS_gettid)));
          while (!done.load()) {
            usleep(1000);  // (intercepted: ThreadSanitizer runs its deferred handlers here)
            receiver_loops.fetch_add(1);
          }
        });
        ASSERT_TRUE(eventually([&] { return receiver_tid.load() != 0; }));
        ASSERT_EQ(0, syscall(SYS_tgkill, getpid(), receiver_tid.load(), SIGUSR1));
        ASSERT_TRUE(eventually([] { return g_foreign_entered.load() == 1; }));
        const int loops_in_handler = receiver_loops.load();  // the receiver is inside the handler
        const auto late = add_action(SIGUSR1, {count_late_action, nullptr});
        g_may_return.store(true);
        // The receiver's loop goes on only once the whole delivery is over.
        ASSERT_TRUE(eventually([&] { return receiver_loops.load() > loops_in_handler; }));
        EXPECT_EQ(1, g_actions.load()) << "the action that was there ran";
        EXPECT_EQ(0, g_late_actions.load()) << "the action added after the signal came ran for it";

        ASSERT_EQ(0, syscall(SYS_tgkill, getpid(), receiver_tid.load(), SIGUSR1));
        EXPECT_TRUE(eventually([] { return g_late_actions.load() == 1 && g_actions.load() == 2; }))
            << "the next delivery runs both: " << g_actions.load() << " and " << g_late_actions.load();
        done.store(true);
        receiver.join();
        EXPECT_EQ(2, g_foreign_entered.load());
        EXPECT_TRUE(remove_action(late));
        EXPECT_TRUE(remove_action(first));
      },
      15);
}

// ---------------------------------------------------------------------------------------------------
// Item 4: add_action() after a pass-through episode whose foreign handler was then reset.

void foreign_handler(int, siginfo_t*, void*) {}

void pass_through_then(void (*reset)(int)) {
  const auto first = add_action(SIGUSR1, {count_action, nullptr});
  install(SIGUSR1, foreign_handler, 0);  // other code takes the signal over (not chaining to us)
  EXPECT_TRUE(remove_action(first));     // the trampoline stays, in pass-through
  ASSERT_EQ(reinterpret_cast<void*>(foreign_handler), reinterpret_cast<void*>(query(SIGUSR1).sa_sigaction));
  signal(SIGUSR1, reset);  // ...and later gives it back to the default, or ignores it

  const auto second = add_action(SIGUSR1, {count_action, nullptr});
  raise_here(SIGUSR1);  // before the fix: SIG_DFL killed the child, SIG_IGN swallowed it
  EXPECT_EQ(1, g_actions.load());
  EXPECT_TRUE(remove_action(second));
  EXPECT_EQ(reset, query(SIGUSR1).sa_handler) << "restored exactly";
}

TEST(Chaining, AddActionAfterAPassThroughEpisodeEndedBySigDflRunsTheAction) {
  SIGRELAY_IN_CHILD([] { pass_through_then(SIG_DFL); }, 10);
}

TEST(Chaining, AddActionAfterAPassThroughEpisodeEndedBySigIgnRunsTheAction) {
  SIGRELAY_IN_CHILD([] { pass_through_then(SIG_IGN); }, 10);
}

TEST(Chaining, AForeignHandlerThatMayChainToUsIsNeverInstalledOver) {
  SIGRELAY_IN_CHILD(
      [] {
        const auto first = add_action(SIGUSR2, {count_action, nullptr});
        install(SIGUSR2, foreign_handler, 0);
        EXPECT_TRUE(remove_action(first));
        const auto second = add_action(SIGUSR2, {count_action, nullptr});
        EXPECT_EQ(reinterpret_cast<void*>(foreign_handler),
                  reinterpret_cast<void*>(query(SIGUSR2).sa_sigaction))
            << "the other code's handler stays (it may chain to the trampoline)";
        EXPECT_TRUE(remove_action(second));
      },
      10);
}

// ---------------------------------------------------------------------------------------------------
// Item 12: the earlier disposition's flags and mask.

std::atomic<int> g_previous_calls{0};
std::atomic<int> g_previous_codes_stop_or_cont{0};
std::atomic<bool> g_saw_usr2_blocked{false};
std::atomic<bool> g_saw_own_signal_blocked{true};

void previous_sigchld(int, siginfo_t* info, void*) {
  g_previous_calls.fetch_add(1);
  if (info->si_code == CLD_STOPPED || info->si_code == CLD_CONTINUED)
    g_previous_codes_stop_or_cont.fetch_add(1);
}

std::atomic<int> g_stop_or_cont_actions{0};
void sigchld_action(void*, const siginfo_t& info) noexcept {
  if (info.si_code == CLD_STOPPED || info.si_code == CLD_CONTINUED) g_stop_or_cont_actions.fetch_add(1);
}

TEST(Chaining, AnEarlierSaNocldstopIsKeptSoNobodyHearsOfStoppedOrContinuedChildren) {
  SIGRELAY_IN_CHILD(
      [] {
        install(SIGCHLD, previous_sigchld, SA_NOCLDSTOP);
        const auto id = add_action(SIGCHLD, {sigchld_action, nullptr});
        const pid_t child = fork();
        if (child == 0) {
          raise(SIGSTOP);
          _exit(0);
        }
        ASSERT_GT(child, 0);
        int status = 0;
        ASSERT_EQ(child, waitpid(child, &status, WUNTRACED));
        ASSERT_TRUE(WIFSTOPPED(status));
        ASSERT_EQ(0, kill(child, SIGCONT));
        EXPECT_TRUE(exited_with(wait_with_deadline(child, 10), 0));
        EXPECT_TRUE(eventually([] { return g_previous_calls.load() >= 1; })) << "the exit reaches it";
        EXPECT_EQ(0, g_previous_codes_stop_or_cont.load()) << "the SA_NOCLDSTOP handler heard of a stop";
        // The process asked the kernel for no such notices: subscribers get none either (one would
        // coalesce with, and so hide, the notice of the exit that the earlier handler relies on).
        EXPECT_EQ(0, g_stop_or_cont_actions.load());
        EXPECT_TRUE(remove_action(id));
        EXPECT_NE(0, query(SIGCHLD).sa_flags & SA_NOCLDSTOP) << "restored exactly";
      },
      15);
}

void keeps_reaping_while_subscribed(bool ignore) {
  if (ignore) {
    signal(SIGCHLD, SIG_IGN);
  } else {
    install(SIGCHLD, previous_sigchld, SA_NOCLDWAIT);
  }
  const auto id = add_action(SIGCHLD, {count_action, nullptr});
  const pid_t child = fork();
  if (child == 0) _exit(3);
  ASSERT_GT(child, 0);
  EXPECT_TRUE(eventually([] { return g_actions.load() >= 1; })) << "subscribers hear of the child";
  // Reaped by the kernel: no zombie to wait for. Before the fix, the child stayed a zombie.
  // WNOWAIT: look without reaping it ourselves.
  const bool reaped = eventually([child] {
    siginfo_t info{};
    return waitid(P_PID, static_cast<id_t>(child), &info, WEXITED | WNOHANG | WNOWAIT) < 0 && errno == ECHILD;
  });
  EXPECT_TRUE(reaped) << "the child was left a zombie";
  if (!reaped) wait_with_deadline(child, 5);
  if (!ignore) {
    EXPECT_TRUE(eventually([] { return g_previous_calls.load() >= 1; }));
  }
  EXPECT_TRUE(remove_action(id));
  const struct sigaction after = query(SIGCHLD);
  if (ignore) {
    EXPECT_EQ(SIG_IGN, after.sa_handler) << "restored exactly";
  } else {
    EXPECT_EQ(reinterpret_cast<void*>(previous_sigchld), reinterpret_cast<void*>(after.sa_sigaction));
    EXPECT_NE(0, after.sa_flags & SA_NOCLDWAIT);
  }
}

TEST(Chaining, AnInheritedSigchldIgnoreKeepsReapingChildrenWhileSubscribed) {
  SIGRELAY_IN_CHILD([] { keeps_reaping_while_subscribed(true); }, 15);
}

TEST(Chaining, AnEarlierSaNocldwaitHandlerKeepsReapingChildrenWhileSubscribed) {
  SIGRELAY_IN_CHILD([] { keeps_reaping_while_subscribed(false); }, 15);
}

std::atomic<bool> g_saw_term_blocked{true};
void previous_checks_mask(int signo, siginfo_t*, void*) {
  g_previous_calls.fetch_add(1);
  g_saw_usr2_blocked.store(blocked_here(SIGUSR2));
  g_saw_own_signal_blocked.store(blocked_here(signo));
  g_saw_term_blocked.store(blocked_here(SIGTERM));
}

std::atomic<bool> g_action_saw_usr2_blocked{false};
std::atomic<bool> g_action_saw_term_blocked{false};
std::atomic<bool> g_action_saw_segv_blocked{true};
void action_checks_mask(void*, const siginfo_t&) noexcept {
  g_action_saw_usr2_blocked.store(blocked_here(SIGUSR2));
  g_action_saw_term_blocked.store(blocked_here(SIGTERM));
  g_action_saw_segv_blocked.store(blocked_here(SIGSEGV));
}

// registry.hpp: an earlier handler is called "the way the kernel would have called it: ... with its
// sa_mask (and the signal itself unless SA_NODEFER) blocked while it runs"; and "Signal context":
// actions "run with every signal blocked but the faults". So the earlier handler, whose sa_mask holds
// SIGUSR2 only, runs with SIGUSR2 and SIGUSR1 blocked and SIGTERM not (the trampoline's own mask,
// everything, is not what the kernel would have given it), and the actions with everything but the
// faults blocked; the thread's mask is its own again afterwards.
TEST(Chaining, AnEarlierHandlerRunsWithItsOwnSaMaskAndTheActionsWithEverythingButFaultsBlocked) {
  SIGRELAY_IN_CHILD(
      [] {
        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGUSR2);
        install(SIGUSR1, previous_checks_mask, 0, &mask);
        const auto id = add_action(SIGUSR1, {action_checks_mask, nullptr});
        raise_here(SIGUSR1);
        EXPECT_EQ(1, g_previous_calls.load());
        EXPECT_TRUE(g_saw_usr2_blocked.load()) << "its sa_mask was not applied";
        EXPECT_TRUE(g_saw_own_signal_blocked.load()) << "without SA_NODEFER its own signal is blocked";
        if (!kUnderThreadSanitizer) {  // which runs every handler with all signals blocked
          EXPECT_FALSE(g_saw_term_blocked.load()) << "blocked beyond its sa_mask";
          EXPECT_FALSE(g_action_saw_segv_blocked.load()) << "a fault in an action must reach its handler";
        }
        EXPECT_TRUE(g_action_saw_usr2_blocked.load());
        EXPECT_TRUE(g_action_saw_term_blocked.load()) << "an action ran with a signal unblocked";
        EXPECT_FALSE(blocked_here(SIGUSR2));
        EXPECT_FALSE(blocked_here(SIGTERM));
        EXPECT_TRUE(remove_action(id));
      },
      10);
}

TEST(Chaining, AnEarlierSaNodeferHandlerRunsWithItsSignalUnblocked) {
  SIGRELAY_IN_CHILD(
      [] {
        install(SIGUSR1, previous_checks_mask, SA_NODEFER);
        const auto id = add_action(SIGUSR1, {count_action, nullptr});
        raise_here(SIGUSR1);
        EXPECT_EQ(1, g_previous_calls.load());
        EXPECT_FALSE(g_saw_own_signal_blocked.load()) << "SA_NODEFER: the signal is not blocked in it";
        EXPECT_EQ(1, g_actions.load());
        EXPECT_TRUE(remove_action(id));
      },
      10);
}

void previous_counts(int, siginfo_t*, void*) { g_previous_calls.fetch_add(1); }

TEST(Chaining, AnEarlierSaResethandHandlerIsCalledOnceAndSigDflIsRestored) {
  SIGRELAY_IN_CHILD(
      [] {
        install(SIGUSR1, previous_counts, SA_RESETHAND);
        const auto id = add_action(SIGUSR1, {count_action, nullptr});
        raise_here(SIGUSR1);
        raise_here(SIGUSR1);
        raise_here(SIGUSR1);
        EXPECT_EQ(1, g_previous_calls.load()) << "a one-shot handler is called once";
        EXPECT_EQ(3, g_actions.load());
        EXPECT_TRUE(remove_action(id));
        EXPECT_EQ(SIG_DFL, query(SIGUSR1).sa_handler) << "the kernel would have reset it to SIG_DFL";

        // A fresh subscription to a fresh one-shot handler calls it once again.
        install(SIGUSR1, previous_counts, SA_RESETHAND);
        const auto again = add_action(SIGUSR1, {count_action, nullptr});
        raise_here(SIGUSR1);
        EXPECT_EQ(2, g_previous_calls.load());
        EXPECT_TRUE(remove_action(again));
      },
      10);
}

TEST(Chaining, AnUnusedSaResethandHandlerIsRestoredAsItWas) {
  SIGRELAY_IN_CHILD(
      [] {
        install(SIGUSR1, previous_counts, SA_RESETHAND);
        const auto id = add_action(SIGUSR1, {count_action, nullptr});
        EXPECT_TRUE(remove_action(id));
        const struct sigaction after = query(SIGUSR1);
        EXPECT_EQ(reinterpret_cast<void*>(previous_counts), reinterpret_cast<void*>(after.sa_sigaction));
        EXPECT_NE(0, after.sa_flags & SA_RESETHAND);
      },
      10);
}

}  // namespace
