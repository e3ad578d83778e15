// SPDX-License-Identifier: MIT
// tests/relays_test.cc — the relays (DESIGN §2) with real signals, each test in its own child.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <atomic>
#include <cerrno>
#include <csignal>

#include "sigrelay/registry.hpp"
#include "sigrelay/relays.hpp"
#include "support/child.hpp"
#include "support/events.hpp"

namespace {

using namespace sigrelay;
using sigrelay::test::exited_with;
using sigrelay::test::killed_by;
using sigrelay::test::readable;
using sigrelay::test::run_in_child;

TEST(Relays, FlagAndCounter) {
  SIGRELAY_IN_CHILD([] {
    std::atomic<bool> flag{false};
    std::atomic<std::uint64_t> count{0};
    const auto f = add_action(SIGHUP, relay::set_flag(flag));
    const auto c = add_action(SIGHUP, relay::add_count(count));
    EXPECT_FALSE(flag.load());
    for (int i = 0; i < 5; ++i) ASSERT_EQ(0, kill(getpid(), SIGHUP));
    EXPECT_TRUE(flag.load());
    EXPECT_EQ(5U, count.load());
    remove_action(f);
    remove_action(c);
  });
}

TEST(Relays, WakeupFdCountsAndStopsBeingReadableWhenDrained) {
  SIGRELAY_IN_CHILD([] {
    relay::wakeup_fd wake;
    const auto id = add_action(SIGUSR2, wake.get());
    EXPECT_FALSE(readable(wake.native_handle()));
    for (int i = 0; i < 3; ++i) ASSERT_EQ(0, kill(getpid(), SIGUSR2));
    EXPECT_TRUE(readable(wake.native_handle()));
    EXPECT_EQ(3U, wake.drain());
    EXPECT_FALSE(readable(wake.native_handle()));
    remove_action(id);
  });
}

TEST(Relays, AFullPipeNeverBlocksTheHandlerAndTheWakeUpStaysPending) {
  SIGRELAY_IN_CHILD(
      [] {
        int fds[2];
        ASSERT_EQ(0, pipe2(fds, O_NONBLOCK | O_CLOEXEC));
        char junk[4096] = {};
        while (write(fds[1], junk, sizeof junk) > 0) {
        }
        ASSERT_EQ(EAGAIN, errno);  // the pipe is full
        relay::fd_relay relay(fds[1]);
        const auto id = add_action(SIGUSR1, relay.get());
        for (int i = 0; i < 100; ++i) ASSERT_EQ(0, kill(getpid(), SIGUSR1));  // must not hang
        EXPECT_TRUE(readable(fds[0]));
        remove_action(id);
        close(fds[0]);
        close(fds[1]);
      },
      10);
}

TEST(Relays, FdRelayWritesCountsNeverPointersToAPipe) {
  SIGRELAY_IN_CHILD([] {
    int fds[2];
    ASSERT_EQ(0, pipe2(fds, O_NONBLOCK | O_CLOEXEC));
    relay::fd_relay relay(fds[1]);
    const auto id = add_action(SIGUSR1, relay.get());
    ASSERT_EQ(0, kill(getpid(), SIGUSR1));
    std::uint64_t word = 0;
    ASSERT_EQ(static_cast<ssize_t>(sizeof word), read(fds[0], &word, sizeof word));
    EXPECT_EQ(1U, word);
    remove_action(id);
  });
}

TEST(Relays, BlockingOrClosedFdsAreRefused) {
  int fds[2];
  ASSERT_EQ(0, pipe(fds));  // blocking
  EXPECT_THROW(relay::fd_relay{fds[1]}, std::system_error);
  std::error_code ec;
  relay::fd_relay r(fds[1], ec);
  EXPECT_EQ(std::errc::invalid_argument, ec);
  close(fds[0]);
  close(fds[1]);
  relay::fd_relay closed(fds[1], ec);
  EXPECT_EQ(std::errc::invalid_argument, ec);
}

// die_by_signal: the parent sees WIFSIGNALED with the signal even when it was blocked and handled.
TEST(Relays, DieBySignalWhileBlockedAndHandled) {
  for (const int signo : {SIGTERM, SIGINT, SIGUSR1, SIGQUIT, SIGABRT, SIGRTMIN + 2}) {
    const int status = run_in_child([signo] {
      std::atomic<std::uint64_t> count{0};
      add_action(signo, relay::add_count(count));
      sigset_t set;
      sigemptyset(&set);
      sigaddset(&set, signo);
      pthread_sigmask(SIG_BLOCK, &set, nullptr);
      relay::die_by_signal(signo);
    });
    EXPECT_TRUE(killed_by(status, signo)) << signal_name(signo);
  }
}

TEST(Relays, DieBySignalForAFaultSignalWithAHandler) {
  const int status = run_in_child([] {
    action_options faults;
    faults.allow_fault_signals = true;
    std::atomic<std::uint64_t> count{0};
    add_action(SIGSEGV, relay::add_count(count), faults);
    relay::die_by_signal(SIGSEGV);
  });
  EXPECT_TRUE(killed_by(status, SIGSEGV));
}

TEST(Relays, DieBySignalFallsBackToExitCodeForASignalThatCannotKill) {
  const int status = run_in_child([] { relay::die_by_signal(SIGCHLD); });
  EXPECT_TRUE(exited_with(status, 128 + SIGCHLD));
}

TEST(Relays, DieBySignalFromInsideAnAction) {
  const int status = run_in_child([] {
    add_action(SIGTERM, relay::default_action());  // emulates the default: terminate
    kill(getpid(), SIGTERM);
    _exit(7);
  });
  EXPECT_TRUE(killed_by(status, SIGTERM));
}

TEST(Relays, EmulateDefaultIgnoresWhatIsIgnoredAndStopsWhatStops) {
  SIGRELAY_IN_CHILD([] {
    relay::emulate_default(SIGCHLD);
    relay::emulate_default(SIGWINCH);
    relay::emulate_default(SIGCONT);  // all three: nothing happens
  });
  // SIGTSTP's default stops the process; the parent sees it stopped, then continues it.
  fflush(nullptr);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    sigrelay::test::reset_signal_state();
    alarm(20);
    // A group of its own, whose parent is in another group of the same session: not orphaned (in an
    // orphaned group SIGTSTP's default is to do nothing; see misuse_test.cc).
    setpgid(0, 0);
    relay::emulate_default(SIGTSTP);
    _exit(5);
  }
  int status = 0;
  ASSERT_EQ(pid, waitpid(pid, &status, WUNTRACED));
  EXPECT_TRUE(WIFSTOPPED(status) && WSTOPSIG(status) == SIGTSTP) << sigrelay::test::describe_status(status);
  kill(pid, SIGCONT);
  EXPECT_TRUE(exited_with(sigrelay::test::wait_with_deadline(pid, 20), 5));
}

TEST(Relays, ConditionalShutdownFirstSignalAsksSecondKills) {
  const int status = run_in_child([] {
    std::atomic<bool> stop{false};
    add_action(SIGINT, relay::die_if_set(stop));
    add_action(SIGINT, relay::set_flag(stop));
    kill(getpid(), SIGINT);
    if (!stop.load()) _exit(3);  // the first one only asks
    kill(getpid(), SIGINT);
    _exit(4);  // not reached
  });
  EXPECT_TRUE(killed_by(status, SIGINT));
}

}  // namespace
