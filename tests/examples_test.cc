// SPDX-License-Identifier: MIT
// tests/examples_test.cc — every example, run as a real process and sent real signals (and, for the
// interactive ones, a real Ctrl+C typed on a pseudo-terminal).
#include <gtest/gtest.h>

#include <csignal>
#include <string>

#include "support/child.hpp"
#include "support/platform.hpp"
#include "support/process.hpp"

namespace {

using namespace std::chrono_literals;
using sigrelay::test::exited_with;
using sigrelay::test::killed_by;
using sigrelay::test::process;

std::string example(const char* name) { return std::string(SIGRELAY_EXAMPLES_DIR) + "/" + name; }

#if SIGRELAY_HAS_LONG_TASK
TEST(Examples, LongTaskCtrlCOnATerminalSaysSorryAndGoodbyeThenDiesBySigint) {
  process p(example("long_task"), {"30"}, /*use_pty=*/true);
  ASSERT_TRUE(p.wait_for_output("Hello")) << p.output();
  p.type("\x03");  // Ctrl+C: the terminal sends SIGINT to its foreground process group
  const int status = p.finish();
  EXPECT_NE(std::string::npos, p.output().find("Sorry we didn't get the chance to finish")) << p.output();
  EXPECT_NE(std::string::npos, p.output().find("Goodbye")) << p.output();
  EXPECT_TRUE(killed_by(status, SIGINT)) << p.output();
}

TEST(Examples, LongTaskThatFinishesExitsZero) {
  process p(example("long_task"), {"1"});
  const int status = p.finish();
  EXPECT_EQ(std::string::npos, p.output().find("Sorry")) << p.output();
  EXPECT_NE(std::string::npos, p.output().find("Goodbye")) << p.output();
  EXPECT_TRUE(exited_with(status, 0));
}

TEST(Examples, LongTaskStoppedBySigtermDiesBySigterm) {
  process p(example("long_task"), {"30"});
  ASSERT_TRUE(p.wait_for_output("Hello")) << p.output();
  kill(p.pid(), SIGTERM);
  const int status = p.finish();
  EXPECT_NE(std::string::npos, p.output().find("Goodbye")) << p.output();
  EXPECT_TRUE(killed_by(status, SIGTERM)) << p.output();
}

TEST(Examples, DaemonReloadsOnSighupThenStopsGracefullyOnSigtermAndDiesByIt) {
  process p(example("daemon"), {});
  ASSERT_TRUE(p.wait_for_output("running")) << p.output();
  for (int i = 1; i <= 2; ++i) {
    kill(p.pid(), SIGHUP);
    ASSERT_TRUE(p.wait_for_output("reloading configuration (" + std::to_string(i) + ")")) << p.output();
  }
  kill(p.pid(), SIGTERM);
  const int status = p.finish();
  EXPECT_NE(std::string::npos, p.output().find("stopping on SIGTERM")) << p.output();
  EXPECT_NE(std::string::npos, p.output().find("cleanup done")) << p.output();  // the cleanup ran to its end
  EXPECT_TRUE(killed_by(status, SIGTERM)) << p.output();
}

TEST(Examples, DaemonCtrlCTwiceDuringASlowCleanupKillsAtOnce) {
  process p(example("daemon"), {"60"}, /*use_pty=*/true);
  ASSERT_TRUE(p.wait_for_output("running")) << p.output();
  p.type("\x03");  // the first Ctrl+C: graceful stop, with a 60 s cleanup
  ASSERT_TRUE(p.wait_for_output("cleaning up")) << p.output();
  p.type("\x03");  // the second: killed by SIGINT now, the cleanup never finishes
  const int status = p.finish();
  EXPECT_NE(std::string::npos, p.output().find("stopping on SIGINT")) << p.output();
  EXPECT_EQ(std::string::npos, p.output().find("cleanup done")) << p.output();
  EXPECT_TRUE(killed_by(status, SIGINT)) << p.output();
}
#endif

TEST(Examples, SelfPipeRelaysEachSignalIntoThePollLoop) {
  process p(example("self_pipe"), {"3"});
  ASSERT_TRUE(p.wait_for_output("waiting")) << p.output();
  for (int i = 1; i <= 3; ++i) {
    kill(p.pid(), i == 2 ? SIGINT : SIGUSR1);
    ASSERT_TRUE(p.wait_for_output("(" + std::to_string(i) + " so far)")) << p.output();
  }
  EXPECT_TRUE(exited_with(p.finish(), 0)) << p.output();
  EXPECT_NE(std::string::npos, p.output().find("done"));
}

TEST(Examples, SignalfdLoopPrintsEachSignalThenEndsWhenQuiet) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the signalfd backend (examples/signalfd_loop.cc)");
  process p(example("signalfd_loop"), {});
  ASSERT_TRUE(p.wait_for_output("quiet")) << p.output();
  kill(p.pid(), SIGHUP);
  ASSERT_TRUE(p.wait_for_output("Received signal 1 (SIGHUP) from pid")) << p.output();
  kill(p.pid(), SIGTERM);
  ASSERT_TRUE(p.wait_for_output("Received signal 15 (SIGTERM)")) << p.output();
  EXPECT_TRUE(exited_with(p.finish(), 0)) << p.output();
  EXPECT_NE(std::string::npos, p.output().find("bye"));
}

TEST(Examples, InterruptOrTimeoutReportsTheInterruptTypedAsCtrlCThenDiesBySigint) {
  process p(example("interrupt_or_timeout"), {"30"}, /*use_pty=*/true);
  ASSERT_TRUE(p.wait_for_output("press Ctrl+C")) << p.output();
  p.type("\x03");
  const int status = p.finish();
  EXPECT_NE(std::string::npos, p.output().find("Received interrupt notification")) << p.output();
  EXPECT_TRUE(killed_by(status, SIGINT)) << p.output();  // interrupted: dies by SIGINT, not "exit 0"
}

TEST(Examples, InterruptOrTimeoutReportsTheTimeout) {
  process p(example("interrupt_or_timeout"), {"1"});
  const int status = p.finish();
  EXPECT_NE(std::string::npos, p.output().find("Finally finished the long task")) << p.output();
  EXPECT_TRUE(exited_with(status, 0)) << p.output();
}

TEST(Examples, DispatcherRunsEachCallback) {
  process p(example("dispatcher"), {});
  ASSERT_TRUE(p.wait_for_output("try kill")) << p.output();
  kill(p.pid(), SIGHUP);
  ASSERT_TRUE(p.wait_for_output("reloading configuration (asked by pid " + std::to_string(getpid()) + ")"))
      << p.output();
  kill(p.pid(), SIGUSR1);
  ASSERT_TRUE(p.wait_for_output("1 reloads so far")) << p.output();
  kill(p.pid(), SIGTERM);
  EXPECT_TRUE(exited_with(p.finish(), 0)) << p.output();
  EXPECT_NE(std::string::npos, p.output().find("SIGTERM: stopping"));
}

}  // namespace
