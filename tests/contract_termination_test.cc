// SPDX-License-Identifier: MIT
// tests/contract_termination_test.cc — an audit of the promises of termination.hpp, spawn.hpp and
// the std::stop_token paths of signals.hpp, under hostile conditions that termination_test.cc,
// stop_token_test.cc, fork_mask_test.cc and the ContractTermination cases of contract_signals_test.cc
// leave out:
// - exit() right after a signal was handled (by kill, sigqueue, tgkill and pidfd_send_signal), before
//   the watcher thread had its turn; exit() from another thread and from a stop callback; exit()
//   after request_stop() alone; request_stop() racing a real signal.
// - The first and the second signal handled at the same moment on two threads; a SIGTERM flood on
//   one CPU; a core-dumping signal (SIGQUIT) with RLIMIT_CORE 0; a signal named twice; a signal
//   racing the constructor; exit() twice at once; a stop callback that destroys the object.
// - A refused second object changes nothing; the object destroyed on another thread while its
//   signal is being handled.
// - fork() and _Fork() children: their signals never reach the parent's object, the second one kills
//   them, and exit() in a child dies by the child's own first signal.
// - spawn_attr children of a thread whose signalfd-backed object blocks the signal: the mask the
//   thread had before sigrelay.
// Every test body runs in a forked child under a watchdog (support/child.hpp) and sets the
// dispositions and masks it relies on first.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "sigrelay/registry.hpp"
#include "sigrelay/signals.hpp"
#include "sigrelay/spawn.hpp"
#if __cplusplus >= 202002L && __has_include(<stop_token>)
#include <stop_token>
#include "sigrelay/termination.hpp"
#endif
#include "support/child.hpp"
#include "support/flood_limit.hpp"
#include "support/platform.hpp"
#include "support/senders.hpp"
#include "support/signal_state.hpp"

extern char** environ;

namespace {

using namespace std::chrono_literals;
using sigrelay::test::describe_status;
using sigrelay::test::differences;
using sigrelay::test::exited_with;
using sigrelay::test::killed_by;
using sigrelay::test::run_in_child;
using sigrelay::test::sender;
using sigrelay::test::snapshot;
using sigrelay::test::this_tid;
using sigrelay::test::wait_with_deadline;

// The signals a process (its main thread) blocks and ignores, from /proc/PID/status.
struct proc_signals {
  unsigned long long blocked = 0;
  unsigned long long ignored = 0;
};
bool bit(unsigned long long set, int signo) { return ((set >> (signo - 1)) & 1ULL) != 0; }

// Spawns /bin/cat /proc/self/status with `attr` and reads what the spawned program itself had.
proc_signals spawned_signals(posix_spawnattr_t* attr) {
  proc_signals got;
  int out[2];
  if (pipe(out) != 0) return got;
  posix_spawn_file_actions_t files;
  posix_spawn_file_actions_init(&files);
  posix_spawn_file_actions_adddup2(&files, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&files, out[0]);
  char cat[] = "/bin/cat";
  char status[] = "/proc/self/status";
  char* argv[] = {cat, status, nullptr};
  pid_t pid = -1;
  const int err = posix_spawn(&pid, "/bin/cat", &files, attr, argv, environ);
  posix_spawn_file_actions_destroy(&files);
  close(out[1]);
  std::string text;
  char chunk[512];
  ssize_t n;
  while ((n = read(out[0], chunk, sizeof chunk)) > 0) text.append(chunk, static_cast<std::size_t>(n));
  close(out[0]);
  EXPECT_EQ(0, err) << std::strerror(err);
  if (err == 0) {
    EXPECT_TRUE(exited_with(wait_with_deadline(pid, 10), 0));
  }
  const auto field = [&](const char* name) {
    const std::size_t at = text.find(name);
    EXPECT_NE(std::string::npos, at) << name << " not in:\n" << text;
    return at == std::string::npos ? 0ULL : std::strtoull(text.c_str() + at + std::strlen(name), nullptr, 16);
  };
  got.blocked = field("SigBlk:");
  got.ignored = field("SigIgn:");
  return got;
}

// --- spawn.hpp ---------------------------------------------------------------------------------------

// spawn.hpp: "sigrelay::spawn_attr attr; // the child's mask: this thread's, minus sigrelay's blocks
// here"; restore_signal_mask(): "A signal this thread blocked itself stays blocked". The spawning
// thread blocks SIGUSR2 itself, and a signalfd-backed object blocks SIGTERM and SIGHUP in it: the
// exec'd program must run with SIGUSR2 blocked and SIGTERM/SIGHUP not (the classic signalfd trap),
// and a plain posix_spawn() (no attributes) shows the trap is real. Also with a termination object
// (relay backend, watcher thread) alive at the same time.
TEST(SpawnContract, ASpawnedProgramGetsTheMaskOfTheThreadBeforeSigrelay) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the signalfd backend blocks its signals");
  SIGRELAY_IN_CHILD([] {
    sigset_t own;
    sigemptyset(&own);
    sigaddset(&own, SIGUSR2);
    ASSERT_EQ(0, pthread_sigmask(SIG_BLOCK, &own, nullptr));
    sigrelay::signals sigs{{SIGTERM, SIGHUP}, sigrelay::backend::signalfd};
    const proc_signals plain = spawned_signals(nullptr);
    ASSERT_TRUE(bit(plain.blocked, SIGTERM)) << "the signalfd backend did not block SIGTERM here";
    sigrelay::spawn_attr attr;
    const proc_signals got = spawned_signals(attr.get());
    EXPECT_TRUE(bit(got.blocked, SIGUSR2)) << "the thread's own block was lifted";
    EXPECT_FALSE(bit(got.blocked, SIGTERM)) << "sigrelay's block of SIGTERM reached the program";
    EXPECT_FALSE(bit(got.blocked, SIGHUP)) << "sigrelay's block of SIGHUP reached the program";
  });
}

// spawn.hpp: "Other flags already set on `attr` are kept." restore_signal_mask() on attributes
// that already ask for POSIX_SPAWN_SETSIGDEF of SIGINT: the flag and its set stay, and the program
// runs with SIGINT at its default although this process ignores it.
TEST(SpawnContract, RestoreSignalMaskKeepsTheFlagsAlreadySet) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the signalfd backend blocks its signals");
  SIGRELAY_IN_CHILD([] {
    signal(SIGINT, SIG_IGN);
    signal(SIGQUIT, SIG_IGN);
    sigrelay::signals sigs{{SIGTERM}, sigrelay::backend::signalfd};
    posix_spawnattr_t attr;
    ASSERT_EQ(0, posix_spawnattr_init(&attr));
    sigset_t dfl;
    sigemptyset(&dfl);
    sigaddset(&dfl, SIGINT);
    ASSERT_EQ(0, posix_spawnattr_setsigdefault(&attr, &dfl));
    ASSERT_EQ(0, posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF));
    ASSERT_FALSE(sigrelay::restore_signal_mask(attr));
    short flags = 0;
    ASSERT_EQ(0, posix_spawnattr_getflags(&attr, &flags));
    EXPECT_EQ(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK, flags);
    const proc_signals got = spawned_signals(&attr);
    posix_spawnattr_destroy(&attr);
    EXPECT_FALSE(bit(got.ignored, SIGINT)) << "POSIX_SPAWN_SETSIGDEF was dropped";
    EXPECT_TRUE(bit(got.ignored, SIGQUIT));
    EXPECT_FALSE(bit(got.blocked, SIGTERM));
  });
}

// spawn.hpp, Dispositions: "exec() resets every handled signal to SIG_DFL ... also one that was
// ignored before sigrelay took it ... A signal sigrelay does not handle keeps its disposition."
// With SIGHUP ignored (as under nohup) and then watched, the spawned program gets SIGHUP at its
// default (posix_spawn() cannot ask for SIG_IGN), while SIGQUIT, ignored and not watched, stays
// ignored.
TEST(SpawnContract, AnIgnoredSignalSigrelayHandlesReachesTheProgramAtItsDefault) {
  SIGRELAY_IN_CHILD([] {
    signal(SIGHUP, SIG_IGN);
    signal(SIGQUIT, SIG_IGN);
    sigrelay::signals sigs{SIGHUP};
    sigrelay::spawn_attr attr;
    const proc_signals got = spawned_signals(attr.get());
    EXPECT_FALSE(bit(got.ignored, SIGHUP)) << "spawn.hpp's Dispositions paragraph is out of date";
    EXPECT_TRUE(bit(got.ignored, SIGQUIT)) << "a signal sigrelay does not handle lost its SIG_IGN";
  });
}

#if defined(SIGRELAY_HAS_TERMINATION)

// --- termination.hpp ---------------------------------------------------------------------------------

// Waits (at most 5 s) until `term` has its stop requested.
bool stop_comes(const sigrelay::termination& term) {
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!term.stop_requested() && std::chrono::steady_clock::now() < deadline) usleep(1000);
  return term.stop_requested();
}

class TerminationBySender : public testing::TestWithParam<sender> {};

// termination.hpp: "exit() ends a program that finished its graceful stop with the status its parent
// expects: killed by the signal that stopped it ... instead of a misleading 'exited 0'"; exit(): "if
// a signal requested the stop, dies by that signal". The signal is sent to the process itself by
// each sender and handled before the send returns (the calling thread does not block it): the
// program is stopping (a second signal would kill it), so exit(0) right away, before sigrelay's
// watcher thread had its turn, must not report "exited 0".
TEST_P(TerminationBySender, ExitRightAfterAHandledSignalDiesByIt) {
  const sender how = GetParam();
  for (int round = 0; round < 20; ++round) {
    const int status = run_in_child([how] {
      sigrelay::termination term;
      if (sigrelay::test::send_signal(how, getpid(), SIGTERM) != 0) _exit(3);
      term.exit(0);
    });
    ASSERT_TRUE(killed_by(status, SIGTERM)) << "round " << round << ": " << describe_status(status);
  }
}

// termination.hpp, Masks: "the stop comes, and the second signal kills, even in a program that
// blocked them in main before making the object". With every sender that aims at the process (a
// tgkill() aimed at a thread that blocks the signal stays that thread's, by the kernel's rules).
TEST_P(TerminationBySender, BlockedInMainTheStopComesAndTheSecondKills) {
  const sender how = GetParam();
  if (how == sender::tgkill) GTEST_SKIP() << "a thread-directed signal waits for the thread that blocks it";
  if (SIGRELAY_TEST_UNDER_TSAN) GTEST_SKIP() << "ThreadSanitizer coalesces or loses deferred signals";
  const int status = run_in_child([how] {
    sigset_t term_set;
    sigemptyset(&term_set);
    sigaddset(&term_set, SIGTERM);
    sigaddset(&term_set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &term_set, nullptr);
    sigrelay::termination term;
    if (sigrelay::test::send_signal(how, getpid(), SIGTERM) != 0) _exit(3);
    if (!stop_comes(term)) _exit(4);
    if (term.signal() != SIGTERM) _exit(5);
    if (sigrelay::test::send_signal(how, getpid(), SIGINT) != 0) _exit(6);
    sleep(5);
    _exit(7);
  });
  EXPECT_TRUE(killed_by(status, SIGINT)) << describe_status(status);
}

INSTANTIATE_TEST_SUITE_P(Senders, TerminationBySender,
                         testing::Values(sender::kill, sender::sigqueue, sender::tgkill, sender::pidfd),
                         sigrelay::test::param_sender_name);

// termination.hpp: "the first signal requests a stop; the second one ends the process at once, by
// that signal". Two SIGTERMs aimed at two threads at the same moment (tgkill), so that both handlers
// run together: whichever comes second must kill. Each round is a process of its own; none may
// survive both signals.
TEST(TerminationContract, TwoSignalsHandledTogetherOnTwoThreadsKill) {
  if (SIGRELAY_TEST_UNDER_TSAN) GTEST_SKIP() << "ThreadSanitizer defers handlers to intercepted calls";
  int survived = 0;
  int rounds = 0;
  for (; rounds < 300 && survived == 0; ++rounds) {
    const int status = run_in_child(
        [] {
          sigrelay::termination term;
          std::atomic<pid_t> other{0};
          std::atomic<bool> go{false};
          std::thread spinner([&] {
            other.store(this_tid());
            while (!go.load(std::memory_order_relaxed)) {
            }
            for (;;) {
            }
          });
          spinner.detach();
          while (other.load() == 0) std::this_thread::yield();
          go.store(true);
          usleep(1000);  // the spinner runs in user space on the other CPU
          syscall(SYS_tgkill, getpid(), other.load(), SIGTERM);
          sigrelay::test::tgkill_self(SIGTERM);  // handled on the way out
          stop_comes(term);
          usleep(100000);
          _exit(42);  // both signals were handled and the process lives on
        },
        10);
    if (exited_with(status, 42)) {
      ++survived;
    } else {
      ASSERT_TRUE(killed_by(status, SIGTERM)) << describe_status(status);
    }
  }
  EXPECT_EQ(0, survived) << "a process survived two SIGTERMs handled together (round " << rounds << ")";
}

// A flood of SIGTERM on one CPU, from another process (sigqueue) and from a thread of the process
// itself: the process ends killed by SIGTERM, never by anything else and never alive.
TEST(TerminationContract, ASigtermFloodOnOneCpuKillsBySigterm) {
  if (SIGRELAY_TEST_UNDER_TSAN) GTEST_SKIP() << "ThreadSanitizer defers handlers to intercepted calls";
  for (int round = 0; round < 20; ++round) {
    int ready[2];
    ASSERT_EQ(0, pipe(ready));
    const pid_t pid = fork();
    ASSERT_LE(0, pid);
    if (pid == 0) {
      close(ready[0]);
      sigrelay::test::reset_signal_state();
      alarm(10);
      sigrelay::test::pin_to_one_cpu();
      sigrelay::termination term;
      std::thread flood([] {
        const union sigval v {};
        for (;;) sigqueue(getpid(), SIGTERM, v);
      });
      flood.detach();
      const char c = 'r';
      if (write(ready[1], &c, 1) != 1) _exit(3);
      for (;;) pause();
    }
    close(ready[1]);
    char c = 0;
    const bool started = read(ready[0], &c, 1) == 1;
    close(ready[0]);
    // And from outside, as systemd's stop followed by a user's kill.
    const union sigval v {};
    for (int i = 0; i < 1000 && sigqueue(pid, SIGTERM, v) == 0; ++i) {
    }
    const int status = wait_with_deadline(pid, 10);
    ASSERT_TRUE(killed_by(status, SIGTERM))
        << "round " << round << (started ? "" : " (not started)") << ": " << describe_status(status);
  }
}

// exit(): "if a signal requested the stop, dies by that signal (see relay::die_by_signal)". A
// core-dumping signal with core dumps disabled (RLIMIT_CORE 0, set by run_in_child): the parent sees
// WIFSIGNALED with SIGQUIT, both through exit() and through the second signal.
TEST(TerminationContract, ACoreDumpingSignalWithoutCoresStillEndsKilledByIt) {
  const int by_exit = run_in_child([] {
    sigrelay::termination term{SIGQUIT};
    kill(getpid(), SIGQUIT);
    if (!stop_comes(term)) _exit(3);
    term.exit(0);
  });
  EXPECT_TRUE(killed_by(by_exit, SIGQUIT)) << describe_status(by_exit);
  EXPECT_FALSE(WIFSIGNALED(by_exit) && WCOREDUMP(by_exit)) << "a core was dumped with RLIMIT_CORE 0";
  if (SIGRELAY_TEST_UNDER_TSAN) return;  // two quick signals: see ContractTermination
  const int by_second = run_in_child([] {
    sigrelay::termination term{SIGQUIT};
    kill(getpid(), SIGQUIT);
    if (!stop_comes(term)) _exit(3);
    kill(getpid(), SIGQUIT);
    sleep(5);
    _exit(4);
  });
  EXPECT_TRUE(killed_by(by_second, SIGQUIT)) << describe_status(by_second);
}

// exit() from a thread other than main, and from a stop callback (which runs on sigrelay's watcher
// thread): the process still ends killed by the stopping signal, with stdio flushed.
TEST(TerminationContract, ExitFromAnotherThreadOrAStopCallbackDiesByTheSignal) {
  const int from_thread = run_in_child([] {
    sigrelay::termination term;
    kill(getpid(), SIGINT);
    if (!stop_comes(term)) _exit(3);
    std::thread([&] { term.exit(0); }).join();
    _exit(4);
  });
  EXPECT_TRUE(killed_by(from_thread, SIGINT)) << describe_status(from_thread);
  const int from_callback = run_in_child([] {
    sigrelay::termination term;
    const std::stop_callback cb(term.token(), [&] { term.exit(0); });
    kill(getpid(), SIGTERM);
    sleep(5);
    _exit(4);
  });
  EXPECT_TRUE(killed_by(from_callback, SIGTERM)) << describe_status(from_callback);
}

// termination(signos): "Watches `signos`"; the first of them requests the stop. A set that names a
// signal twice (as a list built from configuration may) watches it once: its first delivery stops,
// only the second kills.
TEST(TerminationContract, ASignalNamedTwiceStillNeedsTwoDeliveriesToKill) {
  const int status = run_in_child([] {
    sigrelay::termination term{SIGTERM, SIGINT, SIGTERM};
    kill(getpid(), SIGTERM);
    if (!stop_comes(term)) _exit(3);
    if (term.signal() != SIGTERM) _exit(4);
    _exit(0);
  });
  EXPECT_TRUE(exited_with(status, 0)) << describe_status(status);
}

// Thread safety: "Stop callbacks registered on the token run on sigrelay's watcher thread"; a
// callback may destroy the object (the header says so): the program goes on, the dispositions are
// back as they were (a SIGTERM afterwards acts as before sigrelay: here, it is ignored), and a new
// object may be made.
TEST(TerminationContract, AStopCallbackMayDestroyTheObject) {
  SIGRELAY_IN_CHILD([] {
    signal(SIGTERM, SIG_IGN);
    const sigrelay::test::signal_state before = snapshot();
    auto term = std::make_unique<sigrelay::termination>();
    std::atomic<bool> destroyed{false};
    std::optional<std::stop_callback<std::function<void()>>> cb;
    cb.emplace(term->token(), std::function<void()>([&] {
                 term.reset();
                 destroyed.store(true);
               }));
    kill(getpid(), SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!destroyed.load() && std::chrono::steady_clock::now() < deadline) usleep(1000);
    ASSERT_TRUE(destroyed.load());
    cb.reset();
    EXPECT_EQ("", differences(before, snapshot()));
    kill(getpid(), SIGTERM);  // ignored again: neither the stop nor the kill of a gone object
    sigrelay::termination again;
    kill(getpid(), SIGTERM);
    EXPECT_TRUE(stop_comes(again));
  });
}

// "The first signal requests a stop; the second one ends the process at once". One SIGUSR1 races
// the constructor. The program's own handler, installed before, tells whether sigrelay had taken the
// signal over when it came (it is then chained by sigrelay's handler, not called by the kernel):
// if so, the stop must come, and the next SIGUSR1 must kill ("A signal during construction" in the
// header). A delivery that armed the kill without requesting the stop would leave the program
// waiting for a stop that only a second signal (which kills) ends; one that requested the stop
// without arming the kill let the program survive its second signal (the recorder and the kill were
// added one after the other: 2 to 5 of 300 rounds here).
std::atomic<int> g_racing_delivery{0};   // 1: called by the kernel directly, 2: chained by sigrelay
std::atomic<void*> g_restorer{nullptr};  // where the kernel makes a handler return: sa_restorer
void racing_handler(int) {
  // Called by the kernel, a handler returns to the sa_restorer its frame was set up with; chained,
  // into sigrelay's handler. (Looking at the disposition instead was wrong when the signal went to
  // the sender thread, whose direct call could see the constructor's sigaction() of a moment later.)
  void* const back = __builtin_return_address(0);
  g_racing_delivery.store(back == g_restorer.load() ? 1 : 2);
}

TEST(TerminationContract, ASignalRacingTheConstructorRequestsTheStopOnceSigrelayTookIt) {
  // ThreadSanitizer runs a handler later, at the thread's next intercepted call: the program's
  // handler would no longer see the disposition of the moment the signal came.
  if (SIGRELAY_TEST_UNDER_TSAN) GTEST_SKIP() << "ThreadSanitizer defers handlers";
  int lost = 0;
  int survived = 0;
  int taken = 0;
  int rounds = 0;
  for (; rounds < 300 && lost == 0 && survived == 0; ++rounds) {
    const int status = run_in_child(
        [round = rounds] {
          struct sigaction own {};
          own.sa_handler = racing_handler;
          sigemptyset(&own.sa_mask);
          sigaction(SIGUSR1, &own, nullptr);
          struct sigaction installed {};
          sigaction(SIGUSR1, nullptr, &installed);
          if (installed.sa_restorer == nullptr) _exit(5);  // (glibc on x86-64 always sets one)
          g_restorer.store(reinterpret_cast<void*>(installed.sa_restorer));
          std::atomic<bool> go{false};
          std::thread sender([&] {
            while (!go.load()) {
            }
            for (int i = 0; i < (round % 50) * 40; ++i) std::atomic_signal_fence(std::memory_order_seq_cst);
            kill(getpid(), SIGUSR1);
          });
          go.store(true);
          sigrelay::termination term{SIGUSR1};
          sender.join();
          const auto deadline = std::chrono::steady_clock::now() + 5s;
          while (g_racing_delivery.load() == 0 && std::chrono::steady_clock::now() < deadline) usleep(100);
          if (g_racing_delivery.load() == 1) _exit(10);  // before sigrelay: nothing to expect
          if (g_racing_delivery.load() != 2) _exit(3);
          if (!stop_comes(term)) _exit(4);
          kill(getpid(), SIGUSR1);  // the second signal: kills at once
          for (int i = 0; i < 5000; ++i) usleep(1000);
          _exit(6);
        },
        15);
    if (exited_with(status, 4)) {
      ++lost;
    } else if (exited_with(status, 6)) {
      ++survived;
    } else if (killed_by(status, SIGUSR1)) {
      ++taken;
    } else {
      ASSERT_TRUE(exited_with(status, 10)) << describe_status(status);
    }
  }
  EXPECT_EQ(0, lost) << "a signal sigrelay took during construction never requested the stop (round "
                     << rounds << ", " << taken << " taken)";
  EXPECT_EQ(0, survived) << "a signal sigrelay took during construction did not arm the kill: the "
                            "process survived the second one (round "
                         << rounds << ", " << taken << " taken)";
}

// exit() called twice at once, from two threads, after a signal: the process ends killed by that
// signal (each call dies by it; neither may turn it into an exit status). And exit() while another
// thread is inside a stop callback that never returns: after request_stop() alone, the status.
TEST(TerminationContract, ExitTwiceAtOnceOrDuringAStopCallback) {
  for (int round = 0; round < 20; ++round) {
    const int status = run_in_child([] {
      sigrelay::termination term;
      kill(getpid(), SIGTERM);
      if (!stop_comes(term)) _exit(3);
      std::atomic<bool> go{false};
      std::thread other([&] {
        while (!go.load()) {
        }
        term.exit(0);
      });
      go.store(true);
      term.exit(0);
    });
    ASSERT_TRUE(killed_by(status, SIGTERM)) << "round " << round << ": " << describe_status(status);
  }
  const int status = run_in_child([] {
    sigrelay::termination term;
    std::atomic<bool> inside{false};
    std::thread stopper([&] {
      const std::stop_callback cb(term.token(), [&] {
        inside.store(true);
        for (;;) pause();
      });
      term.request_stop();
    });
    stopper.detach();
    while (!inside.load()) usleep(1000);
    term.exit(6);
  });
  EXPECT_TRUE(exited_with(status, 6)) << describe_status(status);
}

// exit(): "otherwise std::exit(status)"; signal(): "0 if none did". After request_stop() alone the
// status given is the one the parent sees, and signal() stays 0.
TEST(TerminationContract, ExitAfterAProgrammaticStopUsesTheStatus) {
  const int status = run_in_child([] {
    sigrelay::termination term;
    term.request_stop();
    if (!term.stop_requested()) _exit(3);
    if (term.signal() != 0) _exit(4);
    term.exit(7);
  });
  EXPECT_TRUE(exited_with(status, 7)) << describe_status(status);
}

// request_stop(): "A signal after that ends the process at once." request_stop() on one thread
// racing a SIGTERM sent by another: whichever wins, once both happened exit(0) must end the process
// killed by SIGTERM (at once, or by exit()), never "exited 0".
TEST(TerminationContract, RequestStopRacingASignalNeverEndsWithExitZero) {
  for (int round = 0; round < 50; ++round) {
    const int status = run_in_child([] {
      sigrelay::termination term;
      std::atomic<bool> go{false};
      std::thread stopper([&] {
        while (!go.load()) {
        }
        term.request_stop();
      });
      go.store(true);
      kill(getpid(), SIGTERM);
      stopper.join();
      term.exit(0);
    });
    ASSERT_TRUE(killed_by(status, SIGTERM)) << "round " << round << ": " << describe_status(status);
  }
}

// Only one at a time: "Constructing a second one while another lives throws std::system_error with
// std::errc::device_or_resource_busy (the message says so)"; Errors: "Nothing is changed on failure".
// The refused second object (also one asking for other signals) leaves every disposition and the
// mask as they were, and the first keeps working.
TEST(TerminationContract, ASecondLiveObjectIsRefusedAndChangesNothing) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::termination term;
    const sigrelay::test::signal_state before = snapshot();
    for (const auto& set :
         {std::initializer_list<int>{SIGINT, SIGTERM}, std::initializer_list<int>{SIGHUP}}) {
      try {
        sigrelay::termination second{set};
        ADD_FAILURE() << "a second live object was made";
      } catch (const std::system_error& e) {
        EXPECT_EQ(std::make_error_code(std::errc::device_or_resource_busy), e.code()) << e.what();
        EXPECT_NE(std::string::npos, std::string(e.what()).find("alive")) << e.what();
      }
      EXPECT_EQ("", differences(before, snapshot()));
    }
  });
}

// ~termination(): "the signals' dispositions are restored". The object is destroyed on another
// thread while its signal (SIGUSR1, which had a handler of the program's before) is being handled on
// a spinning thread: no crash, nothing left behind, and every delivery reaches the program's handler
// (chained while the object lives, its own once it is gone).
TEST(TerminationContract, DestroyedOnAnotherThreadWhileItsSignalIsHandled) {
  SIGRELAY_IN_CHILD([] {
    static std::atomic<int> foreign_calls{0};
    struct sigaction foreign {};
    foreign.sa_handler = [](int) { foreign_calls.fetch_add(1); };
    sigemptyset(&foreign.sa_mask);
    ASSERT_EQ(0, sigaction(SIGUSR1, &foreign, nullptr));
    const sigrelay::test::signal_state before = snapshot();
    std::atomic<pid_t> spinner_tid{0};
    std::atomic<bool> done{false};
    std::thread spinner([&] {
      spinner_tid.store(this_tid());
      while (!done.load(std::memory_order_relaxed)) {
      }
    });
    while (spinner_tid.load() == 0) std::this_thread::yield();
    for (int round = 0; round < 200; ++round) {
      auto term = std::make_unique<sigrelay::termination>(std::initializer_list<int>{SIGUSR1});
      std::thread destroyer([&] { term.reset(); });
      syscall(SYS_tgkill, getpid(), spinner_tid.load(), SIGUSR1);
      destroyer.join();
      ASSERT_EQ("", differences(before, snapshot())) << "round " << round;
      // The program's handler is chained (or back): each delivery reaches it. Wait for this round's,
      // so that no object ever meets two signals (the second would kill, as promised).
      const auto deadline = std::chrono::steady_clock::now() + 5s;
      while (foreign_calls.load() <= round && std::chrono::steady_clock::now() < deadline) usleep(100);
      ASSERT_EQ(round + 1, foreign_calls.load())
          << "round " << round << ": a delivery did not reach the program's handler";
    }
    done.store(true);
    spinner.join();
  });
}

// Fork: "_Fork() runs no fork handlers ... neither woken nor robbed" (signals.hpp) and termination's
// "the first of the signals arms the kill and the second one kills the child by that signal". A
// child of _Fork() sends itself SIGTERM twice: it dies by SIGTERM, and the parent's object never
// sees a stop.
TEST(TerminationContract, ARawForkChildsSignalsNeverReachTheParent) {
  if (SIGRELAY_TEST_UNDER_TSAN) GTEST_SKIP() << "ThreadSanitizer coalesces or loses deferred signals";
  SIGRELAY_IN_CHILD([] {
    sigrelay::termination term;
    std::fflush(nullptr);
    const pid_t pid = static_cast<pid_t>(syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0));  // as _Fork()
    ASSERT_LE(0, pid);
    if (pid == 0) {
      alarm(10);
      kill(getpid(), SIGTERM);
      usleep(200000);
      if (term.stop_requested()) _exit(5);
      kill(getpid(), SIGTERM);
      usleep(500000);
      _exit(6);
    }
    const int status = wait_with_deadline(pid, 15);
    EXPECT_TRUE(killed_by(status, SIGTERM)) << describe_status(status);
    usleep(100000);
    EXPECT_FALSE(term.stop_requested()) << "the child's signal requested the parent's stop";
    EXPECT_EQ(0, term.signal());
  });
}

// exit(): "in a fork child, where no stop is requested, the child's own first signal counts". A
// fork() child that got one SIGTERM and calls exit(0) ends killed by SIGTERM; a child that got none
// exits with the status; the parent's object never sees either.
TEST(TerminationContract, AForkChildsExitDiesByItsOwnFirstSignal) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::termination term;
    for (const bool signalled : {true, false}) {
      std::fflush(nullptr);
      const pid_t pid = fork();
      ASSERT_LE(0, pid);
      if (pid == 0) {
        alarm(10);
        if (signalled) kill(getpid(), SIGTERM);
        if (term.stop_requested()) _exit(5);
        term.exit(9);
      }
      const int status = wait_with_deadline(pid, 15);
      if (signalled) {
        EXPECT_TRUE(killed_by(status, SIGTERM)) << describe_status(status);
      } else {
        EXPECT_TRUE(exited_with(status, 9)) << describe_status(status);
      }
    }
    usleep(50000);
    EXPECT_FALSE(term.stop_requested()) << "a child's signal reached the parent's object";
  });
}

// --- signals::wait(std::stop_token) ------------------------------------------------------------------

// signals.hpp, wait(std::stop_token): "at once if the stop was requested before the call (even with
// events pending: those stay recorded for a later call), else as soon as it is requested, from any
// thread". The stop comes from a real SIGTERM through termination while another thread waits for
// SIGHUP; the SIGHUP recorded before is handed out by the next plain pending().
TEST(StopTokenContract, ATerminationSignalEndsAWaitAndKeepsWhatIsPending) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::termination term;
    sigrelay::signals hup{SIGHUP};
    std::atomic<bool> returned{false};
    std::size_t got = 99;
    std::thread waiter([&] {
      got = hup.wait(term.token()).size();
      returned.store(true);
    });
    usleep(100000);
    EXPECT_FALSE(returned.load());
    kill(getpid(), SIGTERM);
    waiter.join();
    EXPECT_EQ(0U, got);
    kill(getpid(), SIGHUP);  // handled (recorded) on this thread before kill() returns
    EXPECT_TRUE(hup.wait(term.token()).empty()) << "a stopped token must return at once";
    EXPECT_EQ(1U, hup.pending().size()) << "the SIGHUP was lost by the stopped wait";
  });
}

#endif  // SIGRELAY_HAS_TERMINATION

}  // namespace
