// SPDX-License-Identifier: MIT
// tests/safety/crash_safety_test.cc — a crash report makes no unsafe call, proven with the
// interposers of interpose.cc.
//
// The crashing process dies inside the window (the crash handler never returns, so the trampoline's
// hook never sees it leave), so its violation counters cannot be read afterwards: each violation is
// also written to a pipe (safety::set_violation_fd) that the test reads, with the report, after the
// process died. The report's own hook writes the interposers' depth counter, which shows that the
// report ran inside the window.
//
//   CrashSafety.Catches...   the check can fail: a hook that allocates and uses stdio is caught.
//   CrashSafety.NoUnsafe...  a null dereference, abort() and a stack overflow: complete reports, and
//                            no malloc & co., pthread_mutex_lock or stdio from the report to the death.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "handler/state.hpp"
#include "interpose.hpp"
#include "sigrelay/crash.hpp"
#include "support/child.hpp"
#include "support/platform.hpp"

namespace {

using namespace sigrelay;

volatile int* volatile g_null = nullptr;
volatile bool g_forever = true;
void* volatile g_sink = nullptr;

__attribute__((noinline)) void null_dereference() { *g_null = 1; }
__attribute__((noinline)) void do_abort() { std::abort(); }
__attribute__((noinline)) int recurse(int depth) {
  volatile char pad[512];
  pad[0] = static_cast<char>(depth);
  if (g_forever) return recurse(depth + 1) + pad[0];
  return pad[0];
}
void overflow_stack() { recurse(0); }

// Signal context: write(2) only. Writes "depth N" (the interposers' depth counter) to the report.
void depth_hook(int fd, const siginfo_t&, void*) noexcept {
  char line[] = "depth 0\n";
  const int d = safety::depth();
  line[6] = static_cast<char>('0' + (d < 0 ? 0 : d > 9 ? 9 : d));
  if (::write(fd, line, sizeof line - 1) < 0) return;
}

// Deliberately unsafe, to show that the check sees calls made during a report.
void unsafe_hook(int fd, const siginfo_t& info, void* context) noexcept {
  g_sink = std::malloc(32);
  std::fputs("unsafe hook\n", stderr);
  depth_hook(fd, info, context);
}

struct outcome {
  int status = 0;
  std::string report;
  std::string violations;
};

std::string read_all(int fd) {
  std::string out;
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n > 0) {
      out.append(buffer, static_cast<std::size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      return out;
    }
  }
}

// Forks a child that installs the crash handler (its report to a pipe), starts the interposers'
// window accounting, and crashes with `crash`.
outcome crash_in_child(void (*crash)(), crash::hook_fn hook) {
  int report[2];
  int violations[2];
  if (::pipe2(report, O_CLOEXEC) != 0 || ::pipe2(violations, O_CLOEXEC) != 0) return {};
  const pid_t pid = ::fork();
  if (pid == 0) {
    test::reset_signal_state();
    ::close(report[0]);
    ::close(violations[0]);
    crash::options opts;
    opts.fd = report[1];
    opts.hook = hook;
    opts.watchdog_seconds = 30;
    crash::install(opts);  // ordinary context: it may allocate
    detail::g_handler.hook.store(&safety::hook);
    safety::set_violation_fd(violations[1]);
    safety::reset();
    crash();
    ::_exit(3);
  }
  ::close(report[1]);
  ::close(violations[1]);
  outcome result;
  result.report = read_all(report[0]);  // until the child is gone
  result.violations = read_all(violations[0]);
  ::close(report[0]);
  ::close(violations[0]);
  result.status = test::wait_with_deadline(pid, 60);
  return result;
}

TEST(CrashSafety, CatchesAnUnsafeHook) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
  ASSERT_TRUE(safety::forwarding_resolved());
  const outcome o = crash_in_child(null_dereference, unsafe_hook);
  EXPECT_TRUE(test::killed_by(o.status, SIGSEGV)) << o.report;
  EXPECT_NE(o.report.find("\ndepth 1\n"), std::string::npos) << o.report;
  EXPECT_NE(o.violations.find("malloc\n"), std::string::npos) << o.violations;
  // fputs() of a constant string may have been compiled into fwrite().
  EXPECT_TRUE(o.violations.find("fputs\n") != std::string::npos ||
              o.violations.find("fwrite\n") != std::string::npos)
      << o.violations;
}

void expect_clean(void (*crash)(), int signo) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");  // the whole test
  ASSERT_TRUE(safety::forwarding_resolved());
  const outcome o = crash_in_child(crash, depth_hook);
  EXPECT_TRUE(test::killed_by(o.status, signo)) << o.report;
  EXPECT_EQ(o.report.rfind("*** sigrelay crash report ***\n", 0), 0U) << o.report;
  EXPECT_NE(o.report.find("\ndepth 1\n*** end of crash report ***\n"), std::string::npos) << o.report;
  EXPECT_EQ(o.violations, "") << "unsafe calls during the report: " << o.violations;
}

TEST(CrashSafety, NoUnsafeCallReportingANullDereference) { expect_clean(null_dereference, SIGSEGV); }
TEST(CrashSafety, NoUnsafeCallReportingAnAbort) { expect_clean(do_abort, SIGABRT); }
TEST(CrashSafety, NoUnsafeCallReportingAStackOverflow) { expect_clean(overflow_stack, SIGSEGV); }

}  // namespace
