// SPDX-License-Identifier: MIT
// tests/children_test.cc — the child watcher (<sigrelay/children.hpp>) with real children, each test
// in its own forked child under a watchdog, on both backends and both scopes.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "sigrelay/children.hpp"
#include "sigrelay/registry.hpp"
#include "support/child.hpp"
#include "support/events.hpp"
#include "support/gate.hpp"
#include "support/platform.hpp"

namespace {

using sigrelay::backend;
using sigrelay::child_event;
using sigrelay::child_scope;
using sigrelay::child_state;
using sigrelay::children;
using sigrelay::children_options;
using sigrelay::test::collect;
using sigrelay::test::gate;
using sigrelay::test::readable;
using sigrelay::test::wait_until_zombie;

using param = std::tuple<backend, child_scope>;

class Children : public testing::TestWithParam<param> {
 protected:
  void SetUp() override {
    if (std::get<0>(GetParam()) == backend::signalfd)
      SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the signalfd backend");
  }
  children_options options() const { return {std::get<1>(GetParam()), std::get<0>(GetParam())}; }
  bool own() const { return std::get<1>(GetParam()) == child_scope::own; }
};

std::string param_name(const testing::TestParamInfo<param>& info) {
  return std::string(std::get<0>(info.param) == backend::relay ? "relay" : "signalfd") +
         (std::get<1>(info.param) == child_scope::own ? "_own" : "_all");
}

INSTANTIATE_TEST_SUITE_P(Backends, Children,
                         testing::Combine(testing::Values(backend::relay, backend::signalfd),
                                          testing::Values(child_scope::own, child_scope::all)),
                         param_name);

// The case: 40 children ending at once coalesce into fewer SIGCHLDs, yet every exit code
// comes out, exactly once.
TEST_P(Children, FortyChildrenGiveFortyEventsWithTheirCodes) {
  SIGRELAY_IN_CHILD([this] {
    children kids{options()};
    gate g;
    std::map<pid_t, int> expected;
    for (int i = 0; i < 40; ++i) {
      const pid_t pid = g.fork_child(i + 1);
      expected[pid] = i + 1;
      if (own()) kids.watch(pid);
    }
    g.open();
    std::map<pid_t, int> got;
    for (const child_event& e : collect(kids, 40)) {
      EXPECT_EQ(child_state::exited, e.state) << e.pid;
      EXPECT_TRUE(got.emplace(e.pid, e.code).second) << "pid " << e.pid << " reported twice";
    }
    EXPECT_EQ(expected, got);
    EXPECT_TRUE(kids.pending().empty());
    EXPECT_EQ(0U, kids.watched());
    EXPECT_EQ(-1, ::waitpid(-1, nullptr, WNOHANG));  // nothing left to reap
    EXPECT_EQ(ECHILD, errno);
  });
}

TEST_P(Children, ChildrenKilledBySignalsAreReportedWithTheSignal) {
  SIGRELAY_IN_CHILD([this] {
    children kids{options()};
    gate g;
    std::map<pid_t, int> expected;
    for (const int signo : {SIGTERM, SIGKILL, SIGUSR1, SIGSEGV, SIGABRT}) {
      const pid_t pid = g.fork_child(99, signo);
      expected[pid] = signo;
      if (own()) kids.watch(pid);
    }
    g.open();
    std::map<pid_t, int> got;
    for (const child_event& e : collect(kids, expected.size())) {
      EXPECT_EQ(child_state::killed, e.state) << e.pid;
      EXPECT_FALSE(e.core_dumped);  // RLIMIT_CORE is 0 in the child
      EXPECT_TRUE(WIFSIGNALED(e.raw_status));
      got[e.pid] = e.code;
    }
    EXPECT_EQ(expected, got);
  });
}

// native_handle() with poll() alone: readable when a child has ended, drained by pending().
TEST_P(Children, NativeHandleIsReadableWhileAChildEventIsPending) {
  SIGRELAY_IN_CHILD([this] {
    children kids{options()};
    (void)kids.pending();  // the look that construction asks for (scope all)
    gate g;
    std::map<pid_t, int> expected;
    for (int i = 0; i < 5; ++i) {
      const pid_t pid = g.fork_child(10 + i);
      expected[pid] = 10 + i;
      if (own()) kids.watch(pid);
    }
    (void)kids.pending();  // the looks that watch() asks for: the children are still at the gate
    g.open();
    std::map<pid_t, int> got;
    while (got.size() < expected.size()) {
      ASSERT_TRUE(readable(kids.native_handle(), -1));
      for (const child_event& e : kids.pending()) got[e.pid] = e.code;
    }
    EXPECT_EQ(expected, got);
    EXPECT_TRUE(kids.pending().empty());
  });
}

// A child that has ended before watch() (or before the watcher existed, scope all) is found.
TEST_P(Children, ChildThatEndedBeforeWatchIsReported) {
  SIGRELAY_IN_CHILD([this] {
    gate g;
    const pid_t early = g.fork_child(21);
    g.open();
    wait_until_zombie(early);
    children kids{options()};
    if (own()) kids.watch(early);
    ASSERT_TRUE(readable(kids.native_handle(), -1));
    const std::vector<child_event> events = collect(kids, 1);
    ASSERT_EQ(1U, events.size());
    EXPECT_EQ(early, events[0].pid);
    EXPECT_EQ(21, events[0].code);
  });
}

// 1,000 children ending together: every status exactly once. Forked in batches if RLIMIT_NPROC
// (which root does not have) would not allow 1,000 at a time. Two of the four backend/scope
// combinations, to keep the run time reasonable: scope own (a waitpid per watched pid) on the relay
// backend, scope all (waitpid(-1) loop) on the signalfd backend.
// A /bin/sh child, started with posix_spawn() (no copy of this process's page tables, which keeps
// 1,000 of them affordable under the sanitizers), that waits for EOF on its stdin (the gate's read
// end) and exits with `code`.
pid_t spawn_gated(int gate_read, int code) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, gate_read, 0);
  const std::string code_text = std::to_string(code);
  char sh[] = "sh";
  char c[] = "-c";
  char script[] = "read x; exit \"$0\"";
  char* argv[] = {sh, c, script, const_cast<char*>(code_text.c_str()), nullptr};
  pid_t pid = -1;
  const int err = ::posix_spawn(&pid, "/bin/sh", &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  EXPECT_EQ(0, err) << std::strerror(err);
  return err == 0 ? pid : -1;
}

void thousand_children(const children_options& options) {
  SIGRELAY_IN_CHILD(
      [options] {
        constexpr int total = 1000;
        int batch = total;
        struct rlimit nproc {};
        if (::getuid() != 0 && ::getrlimit(RLIMIT_NPROC, &nproc) == 0 && nproc.rlim_cur != RLIM_INFINITY) {
          batch = std::max(1, std::min(total, static_cast<int>(nproc.rlim_cur / 4)));
        }
        children kids{options};
        std::map<pid_t, int> expected;
        std::map<pid_t, int> got;
        for (int started = 0; started < total;) {
          int fds[2];
          ASSERT_EQ(0, ::pipe2(fds, O_CLOEXEC));  // the children get the read end as stdin only
          const int n = std::min(batch, total - started);
          for (int i = 0; i < n; ++i, ++started) {
            const pid_t pid = spawn_gated(fds[0], started % 256);
            ASSERT_GT(pid, 0);
            expected[pid] = started % 256;
            if (options.scope == child_scope::own) kids.watch(pid);
          }
          ::close(fds[1]);  // the gate opens: the whole batch ends at once
          ::close(fds[0]);
          for (const child_event& e : collect(kids, static_cast<std::size_t>(n))) {
            EXPECT_EQ(child_state::exited, e.state);
            EXPECT_TRUE(got.emplace(e.pid, e.code).second) << "pid " << e.pid << " reported twice";
          }
        }
        EXPECT_EQ(static_cast<std::size_t>(total), got.size());
        EXPECT_TRUE(expected == got);
        EXPECT_TRUE(kids.pending().empty());
      },
      240);
}

TEST(ChildrenStress, ThousandChildrenRelayOwn) { thousand_children({child_scope::own, backend::relay}); }
TEST(ChildrenStress, ThousandChildrenSignalfdAll) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the signalfd backend");
  thousand_children({child_scope::all, backend::signalfd});
}

// Scope own reaps only the watched pids: another code's child stays unreaped, for its owner.
TEST(ChildrenOwn, ForeignChildIsLeftUnreaped) {
  SIGRELAY_IN_CHILD([] {
    children kids;
    gate g;
    const pid_t foreign = g.fork_child(7);
    const pid_t mine = g.fork_child(3);
    kids.watch(mine);
    g.open();
    wait_until_zombie(foreign);
    const std::vector<child_event> events = collect(kids, 1);
    ASSERT_EQ(1U, events.size());
    EXPECT_EQ(mine, events[0].pid);
    EXPECT_EQ(3, events[0].code);
    EXPECT_TRUE(kids.pending().empty());
    siginfo_t info{};
    ASSERT_EQ(0, ::waitid(P_PID, static_cast<id_t>(foreign), &info, WEXITED | WNOHANG | WNOWAIT));
    EXPECT_EQ(foreign, info.si_pid);  // still there, not reaped by the watcher
    EXPECT_EQ(7, info.si_status);
    int status = 0;
    ASSERT_EQ(foreign, ::waitpid(foreign, &status, 0));
    EXPECT_TRUE(sigrelay::test::exited_with(status, 7));
  });
}

TEST(ChildrenOwn, StoppedAndContinuedOnlyWhenAsked) {
  SIGRELAY_IN_CHILD([] {
    children_options o;
    o.report_stops = true;
    children kids{o};
    gate g;
    const pid_t pid = g.fork_child(0);
    kids.watch(pid);
    ASSERT_EQ(0, ::kill(pid, SIGSTOP));
    std::vector<child_event> e = collect(kids, 1);
    ASSERT_EQ(1U, e.size());
    EXPECT_EQ(child_state::stopped, e[0].state);
    EXPECT_EQ(SIGSTOP, e[0].code);
    EXPECT_EQ(1U, kids.watched());
    ASSERT_EQ(0, ::kill(pid, SIGCONT));
    e = collect(kids, 1);
    ASSERT_EQ(1U, e.size());
    EXPECT_EQ(child_state::continued, e[0].state);
    g.open();
    e = collect(kids, 1);
    ASSERT_EQ(1U, e.size());
    EXPECT_EQ(child_state::exited, e[0].state);
    EXPECT_EQ(0U, kids.watched());
  });
}

// sigrelay::ignore(SIGCHLD) makes the kernel reap: the watcher says `lost`, as its header promises;
// after reset(SIGCHLD) statuses come back.
TEST(ChildrenOwn, IgnoredSigchldReportsLostThenResetRestoresStatuses) {
  SIGRELAY_IN_CHILD([] {
    children kids;
    ASSERT_TRUE(sigrelay::ignore(SIGCHLD));
    gate g;
    const pid_t pid = g.fork_child(5);
    g.open();
    siginfo_t info{};
    // Blocks until the kernel has reaped it (then ECHILD).
    while (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT) == 0) ::usleep(1000);
    kids.watch(pid);
    std::vector<child_event> e = collect(kids, 1);
    ASSERT_EQ(1U, e.size());
    EXPECT_EQ(pid, e[0].pid);
    EXPECT_EQ(child_state::lost, e[0].state);
    ASSERT_TRUE(sigrelay::reset(SIGCHLD));
    gate g2;
    const pid_t next = g2.fork_child(6);
    kids.watch(next);
    g2.open();
    e = collect(kids, 1);
    ASSERT_EQ(1U, e.size());
    EXPECT_EQ(child_state::exited, e[0].state);
    EXPECT_EQ(6, e[0].code);
  });
}

TEST(ChildrenMisc, WatchRefusesBadPidsAndScopeAll) {
  SIGRELAY_IN_CHILD([] {
    children own;
    EXPECT_THROW(own.watch(0), std::system_error);
    EXPECT_THROW(own.watch(-5), std::system_error);
    children all{{child_scope::all}};
    EXPECT_THROW(all.watch(::getpid()), std::system_error);
    own.close();
    EXPECT_THROW(own.watch(1), std::system_error);
    EXPECT_TRUE(own.wait().empty());  // closed: returns at once
    EXPECT_TRUE(readable(own.native_handle(), 0));
  });
}

TEST(ChildrenMisc, CloseFromAnotherThreadWakesWait) {
  SIGRELAY_IN_CHILD([] {
    children kids{{child_scope::all}};
    (void)kids.pending();
    std::thread closer([&kids] {
      ::usleep(20000);
      kids.close();
    });
    EXPECT_TRUE(kids.wait().empty());
    closer.join();
  });
}

}  // namespace
