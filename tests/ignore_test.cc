// SPDX-License-Identifier: MIT
// tests/ignore_test.cc — ignore(), reset() and ignored() through the registry, with real signals, each
// test in its own forked child.
#include <gtest/gtest.h>

#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <string>
#include <system_error>

#include "sigrelay/registry.hpp"
#include "sigrelay/signals.hpp"
#include "support/child.hpp"
#include "support/dispositions.hpp"

namespace {

using sigrelay::test::query;
using sigrelay::test::run_in_child;
using sigrelay::test::wait_with_deadline;

bool same(const struct sigaction& a, const struct sigaction& b) {
  if (a.sa_handler != b.sa_handler || a.sa_flags != b.sa_flags) return false;
  for (int s = 1; s < NSIG; ++s) {
    if (sigismember(&a.sa_mask, s) != sigismember(&b.sa_mask, s)) return false;
  }
  return true;
}

std::atomic<int> g_calls{0};
void counting_handler(int) { g_calls.fetch_add(1); }

void count_action(void* ctx, const siginfo_t&) noexcept { static_cast<std::atomic<int>*>(ctx)->fetch_add(1); }

// Installs counting_handler with flags and a mask that a restore must give back exactly.
struct sigaction install_counting_handler(int signo) {
  struct sigaction sa {};
  sa.sa_handler = counting_handler;
  sa.sa_flags = SA_RESTART | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  sigaddset(&sa.sa_mask, SIGUSR2);
  sigaddset(&sa.sa_mask, SIGWINCH);
  EXPECT_EQ(0, sigaction(signo, &sa, nullptr));
  return query(signo);
}

// Writes to a pipe whose read end is closed; returns errno (0 if the write succeeded).
int write_to_closed_pipe() {
  int fds[2];
  EXPECT_EQ(0, ::pipe(fds));
  ::close(fds[0]);
  const char c = 'x';
  const int err = ::write(fds[1], &c, 1) < 0 ? errno : 0;
  ::close(fds[1]);
  return err;
}

TEST(Ignore, IgnoredSigpipeMakesAWriteToAClosedPipeFailWithEpipe) {
  SIGRELAY_IN_CHILD([] {
    EXPECT_FALSE(sigrelay::ignored(SIGPIPE));
    EXPECT_TRUE(sigrelay::ignore(SIGPIPE));
    EXPECT_EQ(SIG_IGN, query(SIGPIPE).sa_handler);
    EXPECT_TRUE(sigrelay::ignored(SIGPIPE));
    EXPECT_EQ(EPIPE, write_to_closed_pipe());  // and we are still alive
    EXPECT_FALSE(sigrelay::ignore(SIGPIPE));   // already in force: nothing changes
    // reset: SIG_DFL again, so a write to a closed pipe kills (seen in a grandchild).
    EXPECT_TRUE(sigrelay::reset(SIGPIPE));
    EXPECT_EQ(SIG_DFL, query(SIGPIPE).sa_handler);
    EXPECT_FALSE(sigrelay::ignored(SIGPIPE));
    EXPECT_FALSE(sigrelay::reset(SIGPIPE));
    const pid_t pid = ::fork();
    if (pid == 0) {
      write_to_closed_pipe();
      ::_exit(0);
    }
    EXPECT_TRUE(sigrelay::test::killed_by(wait_with_deadline(pid, 10), SIGPIPE));
  });
}

// reset() gives back exactly the disposition ignore() replaced: handler, flags and mask.
TEST(Ignore, ResetRestoresAHandlerExactly) {
  SIGRELAY_IN_CHILD([] {
    const struct sigaction before = install_counting_handler(SIGUSR1);
    ASSERT_TRUE(sigrelay::ignore(SIGUSR1));
    ASSERT_EQ(0, pthread_kill(pthread_self(), SIGUSR1));
    EXPECT_EQ(0, g_calls.load());
    ASSERT_TRUE(sigrelay::reset(SIGUSR1));
    EXPECT_TRUE(same(before, query(SIGUSR1)));
    ASSERT_EQ(0, pthread_kill(pthread_self(), SIGUSR1));
    EXPECT_EQ(1, g_calls.load());
  });
}

// With actions subscribed, ignore() keeps them running, stops the chained handler, and makes the last
// remove_action() restore SIG_IGN; reset() then gives the original handler back exactly.
TEST(Ignore, WhileSubscribedActionsKeepRunningAndLastRemovalRestoresIgnore) {
  SIGRELAY_IN_CHILD([] {
    const struct sigaction before = install_counting_handler(SIGUSR1);
    std::atomic<int> runs{0};
    const sigrelay::action_id id = sigrelay::add_action(SIGUSR1, {count_action, &runs});
    ASSERT_EQ(0, pthread_kill(pthread_self(), SIGUSR1));
    EXPECT_EQ(1, runs.load());
    EXPECT_EQ(1, g_calls.load());  // chained
    EXPECT_FALSE(sigrelay::ignored(SIGUSR1));

    ASSERT_TRUE(sigrelay::ignore(SIGUSR1));
    EXPECT_TRUE(sigrelay::ignored(SIGUSR1));
    ASSERT_EQ(0, pthread_kill(pthread_self(), SIGUSR1));
    EXPECT_EQ(2, runs.load());     // the action still runs
    EXPECT_EQ(1, g_calls.load());  // the earlier handler does not
    EXPECT_TRUE(sigrelay::remove_action(id));
    EXPECT_EQ(SIG_IGN, query(SIGUSR1).sa_handler);
    EXPECT_TRUE(sigrelay::ignored(SIGUSR1));
    ASSERT_EQ(0, pthread_kill(pthread_self(), SIGUSR1));  // ignored: nothing happens

    ASSERT_TRUE(sigrelay::reset(SIGUSR1));
    EXPECT_TRUE(same(before, query(SIGUSR1)));
    EXPECT_FALSE(sigrelay::ignored(SIGUSR1));
  });
}

// reset() while subscribed: the actions stay, the earlier handler is chained again, and the last
// remove_action() restores the disposition from before sigrelay.
TEST(Ignore, ResetWhileSubscribedChainsAgainAndLastRemovalRestoresTheOriginal) {
  SIGRELAY_IN_CHILD([] {
    const struct sigaction before = install_counting_handler(SIGUSR1);
    ASSERT_TRUE(sigrelay::ignore(SIGUSR1));
    std::atomic<int> runs{0};
    const sigrelay::action_id id = sigrelay::add_action(SIGUSR1, {count_action, &runs});
    ASSERT_EQ(0, pthread_kill(pthread_self(), SIGUSR1));
    EXPECT_EQ(1, runs.load());
    EXPECT_EQ(0, g_calls.load());
    ASSERT_TRUE(sigrelay::reset(SIGUSR1));
    ASSERT_EQ(0, pthread_kill(pthread_self(), SIGUSR1));
    EXPECT_EQ(2, runs.load());
    EXPECT_EQ(1, g_calls.load());
    EXPECT_TRUE(sigrelay::remove_action(id));
    EXPECT_TRUE(same(before, query(SIGUSR1)));
  });
}

// A SIGHUP ignored before sigrelay's first use (as nohup leaves it) is reported as ignored, also while
// a `signals` object has its trampoline installed, which still receives SIGHUP; when it goes,
// SIG_IGN is back.
void check_inherited_sighup_ignore() {
  EXPECT_TRUE(sigrelay::ignored(SIGHUP));
  EXPECT_FALSE(sigrelay::ignored(SIGINT));
  {
    sigrelay::signals sigs{SIGHUP};
    EXPECT_NE(SIG_IGN, query(SIGHUP).sa_handler);  // the trampoline
    EXPECT_TRUE(sigrelay::ignored(SIGHUP));
    ASSERT_EQ(0, pthread_kill(pthread_self(), SIGHUP));
    const std::vector<sigrelay::signal_event> events = sigs.wait_for(std::chrono::seconds(30));
    ASSERT_EQ(1U, events.size());
    EXPECT_EQ(SIGHUP, events[0].signo);
  }
  EXPECT_EQ(SIG_IGN, query(SIGHUP).sa_handler);
  EXPECT_TRUE(sigrelay::ignored(SIGHUP));
}

TEST(Ignored, SighupSetToSigIgnBeforeFirstUse) {
  SIGRELAY_IN_CHILD([] {
    ASSERT_NE(SIG_ERR, ::signal(SIGHUP, SIG_IGN));
    check_inherited_sighup_ignore();
  });
}

// The same in a program exec'd with SIGHUP ignored, as `nohup prog` starts it: this test binary runs
// itself with only the helper below selected.
TEST(Ignored, SighupInheritedAcrossExecAsUnderNohup) {
  SIGRELAY_IN_CHILD([] {
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::signal(SIGHUP, SIG_IGN);
      ::setenv("SIGRELAY_IGNORE_HELPER", "1", 1);
      ::execl("/proc/self/exe", "ignore_test", "--gtest_filter=IgnoredHelper.ExecdWithSighupIgnored",
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    EXPECT_TRUE(sigrelay::test::exited_with(wait_with_deadline(pid, 60), 0));
  });
}

TEST(IgnoredHelper, ExecdWithSighupIgnored) {
  if (std::getenv("SIGRELAY_IGNORE_HELPER") == nullptr) GTEST_SKIP() << "run by SighupInheritedAcrossExec";
  // Directly in this exec'd process, which nothing else uses: no sigrelay call has happened yet.
  check_inherited_sighup_ignore();
}

// Bad signals: a named std::system_error (or the error_code), and no change to any disposition.
TEST(Ignore, BadSignalsAreRefusedWithoutChange) {
  SIGRELAY_IN_CHILD([] {
    struct sigaction before[NSIG];
    for (int s = 1; s < NSIG; ++s) before[s] = query(s);
    for (const int signo : {SIGKILL, SIGSTOP, 0, 65, -1, 32}) {
      for (int op = 0; op < 3; ++op) {
        try {
          if (op == 0) sigrelay::ignore(signo);
          if (op == 1) sigrelay::reset(signo);
          if (op == 2) sigrelay::ignored(signo);
          ADD_FAILURE() << "no error for signal " << signo << " op " << op;
        } catch (const std::system_error& e) {
          EXPECT_EQ(std::errc::invalid_argument, e.code()) << signo;
          const std::string name = signo == SIGKILL   ? "SIGKILL"
                                   : signo == SIGSTOP ? "SIGSTOP"
                                                      : std::to_string(signo);
          EXPECT_NE(std::string::npos, std::string(e.what()).find(name)) << e.what();
        }
        std::error_code ec;
        bool result = true;
        if (op == 0) result = sigrelay::ignore(signo, ec);
        if (op == 1) result = sigrelay::reset(signo, ec);
        if (op == 2) result = sigrelay::ignored(signo, ec);
        EXPECT_FALSE(result);
        EXPECT_EQ(std::errc::invalid_argument, ec) << signo;
      }
    }
    for (int s = 1; s < NSIG; ++s) EXPECT_TRUE(same(before[s], query(s))) << s;
    EXPECT_FALSE(sigrelay::ignored(SIGUSR2));  // and the registry still works
  });
}

// Forked after ignore(): the child inherits SIG_IGN (also through exec), and a `signals` object in a
// parent that ignores keeps receiving while the disposition underneath is SIG_IGN.
TEST(Ignore, ForkedChildInheritsTheIgnore) {
  SIGRELAY_IN_CHILD([] {
    ASSERT_TRUE(sigrelay::ignore(SIGTERM));
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::kill(::getpid(), SIGTERM);
      ::_exit(sigrelay::ignored(SIGTERM) ? 0 : 1);
    }
    EXPECT_TRUE(sigrelay::test::exited_with(wait_with_deadline(pid, 10), 0));
    ASSERT_TRUE(sigrelay::reset(SIGTERM));
    EXPECT_EQ(SIG_DFL, query(SIGTERM).sa_handler);
  });
}

}  // namespace
