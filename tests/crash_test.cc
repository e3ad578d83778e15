// SPDX-License-Identifier: MIT
// tests/crash_test.cc — <sigrelay/crash.hpp>: each test crashes a real process (tests/crash_child.cc,
// run through tests/support/process.hpp, its stdout and stderr on one pipe) and reads its report and
// its wait status.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "sigrelay/crash.hpp"
#include "sigrelay/describe.hpp"
#include "sigrelay/registry.hpp"
#include "support/child.hpp"
#include "support/platform.hpp"
#include "support/process.hpp"

namespace {

using sigrelay::test::killed_by;
using sigrelay::test::process;

const std::string kChild = SIGRELAY_CRASH_CHILD;
const std::string kHeader = "*** sigrelay crash report ***\n";
const std::string kEnd = "*** end of crash report ***\n";

struct crash_run {
  int status;
  std::string output;
  pid_t pid;
};

crash_run run_child(const std::vector<std::string>& args, unsigned timeout_s = 60) {
  process p(kChild, args);
  const pid_t pid = p.pid();
  const int status = p.finish(timeout_s);
  return {status, p.output(), pid};
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// The report block: from the header to the end line (or to the end of the output).
std::string report_of(const std::string& output) {
  const std::size_t begin = output.find(kHeader);
  if (begin == std::string::npos) return {};
  const std::size_t end = output.find(kEnd, begin);
  return output.substr(begin, end == std::string::npos ? std::string::npos : end + kEnd.size() - begin);
}

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos;
}

// The lines that every complete report of a crash in crash_child has.
void expect_complete_report(const crash_run& run) {
  EXPECT_EQ(count(run.output, kHeader), 1U) << run.output;
  EXPECT_EQ(count(run.output, kEnd), 1U) << run.output;
  const std::string report = report_of(run.output);
  EXPECT_NE(report.find("\nthread: " + std::to_string(run.pid) + " \"crash_child\" (main thread: yes)\n"),
            std::string::npos)
      << report;
#if defined(__x86_64__) || defined(__aarch64__)
  EXPECT_NE(report.find("\nregisters: pc 0x"), std::string::npos) << report;
  EXPECT_NE(report.find("\n  #0 pc 0x"), std::string::npos) << report;
  // Frames in the program itself carry its path, an offset and a 40-digit build-id.
  const std::string frame_in_child = "/crash_child+0x";
  const std::size_t frame = report.find(frame_in_child);
  ASSERT_NE(frame, std::string::npos) << report;
  const std::size_t id = report.find(" build-id ", frame);
  ASSERT_NE(id, std::string::npos) << report;
  const std::string digits = report.substr(id + 10, report.find('\n', id) - id - 10);
  EXPECT_EQ(digits.size(), 40U) << report;
  EXPECT_EQ(digits.find_first_not_of("0123456789abcdef"), std::string::npos) << report;
#endif
}

bool under_sanitizer() {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  return true;
#else
  return false;
#endif
}

TEST(Crash, NullDereference) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
  const crash_run run = run_child({"null"});
  EXPECT_TRUE(killed_by(run.status, SIGSEGV)) << run.output;
  expect_complete_report(run);
  const std::string report = report_of(run.output);
  EXPECT_TRUE(has_line(report, "signal: SIGSEGV (11), code SEGV_MAPERR (1): address not mapped to object"))
      << report;
  EXPECT_TRUE(has_line(report, "fault address: 0x0")) << report;
  EXPECT_TRUE(has_line(report, "stack overflow: no")) << report;
  EXPECT_TRUE(has_line(report, "sender: kernel")) << report;
}

TEST(Crash, StackOverflowByRecursionIsReportedAsSuch) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
  const crash_run run = run_child({"stack_overflow"});
  EXPECT_TRUE(killed_by(run.status, SIGSEGV)) << run.output;
  expect_complete_report(run);
  const std::string report = report_of(run.output);
  EXPECT_NE(report.find("\nstack overflow: yes (fault address in the guard region below the stack 0x"),
            std::string::npos)
      << report;
  EXPECT_NE(report.find("\nsignal: SIGSEGV (11), code SEGV_"), std::string::npos) << report;
}

TEST(Crash, StackOverflowOnAPreparedThread) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
  const crash_run run = run_child({"thread_overflow"});
  EXPECT_TRUE(killed_by(run.status, SIGSEGV)) << run.output;
  EXPECT_EQ(count(run.output, kHeader), 1U) << run.output;
  EXPECT_EQ(count(run.output, kEnd), 1U) << run.output;
  const std::string report = report_of(run.output);
  EXPECT_NE(report.find("\nstack overflow: yes (fault address in the guard region below the stack 0x"),
            std::string::npos)
      << report;
  EXPECT_NE(report.find("(main thread: no)\n"), std::string::npos) << report;
}

TEST(Crash, Abort) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
  const crash_run run = run_child({"abort"});
  EXPECT_TRUE(killed_by(run.status, SIGABRT)) << run.output;
  expect_complete_report(run);
  const std::string report = report_of(run.output);
  EXPECT_TRUE(has_line(report,
                       "signal: SIGABRT (6), code SI_TKILL (-6): sent by tkill()/tgkill() (raise, "
                       "abort, pthread_kill)"))
      << report;
  EXPECT_TRUE(has_line(report, "sender: pid " + std::to_string(run.pid) + " uid " +
                                   std::to_string(::getuid()) + " (tkill, trusted, this process)"))
      << report;
  EXPECT_EQ(report.find("fault address:"), std::string::npos) << report;
}

TEST(Crash, IntegerDivisionByZero) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
  const crash_run run = run_child({"div_zero"});
#if defined(__x86_64__)
  EXPECT_TRUE(killed_by(run.status, SIGFPE)) << run.output;
  expect_complete_report(run);
  const std::string report = report_of(run.output);
  EXPECT_TRUE(has_line(report, "signal: SIGFPE (8), code FPE_INTDIV (1): integer divide by zero")) << report;
  EXPECT_NE(report.find("\nfault address: 0x"), std::string::npos) << report;
#else
  GTEST_SKIP() << "integer division by zero does not trap on this architecture (AArch64 returns 0)";
#endif
}

TEST(Crash, BuiltinTrap) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
  const crash_run run = run_child({"trap"});
  expect_complete_report(run);
  const std::string report = report_of(run.output);
#if defined(__x86_64__)
  EXPECT_TRUE(killed_by(run.status, SIGILL)) << run.output;  // ud2
  EXPECT_TRUE(has_line(report, "signal: SIGILL (4), code ILL_ILLOPN (2): illegal operand")) << report;
#elif defined(__aarch64__)
  EXPECT_TRUE(killed_by(run.status, SIGTRAP)) << run.output;  // brk
  EXPECT_NE(report.find("\nsignal: SIGTRAP (5), code "), std::string::npos) << report;
#endif
}

TEST(Crash, BusErrorFromATruncatedMappedFile) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
  const crash_run run = run_child({"bus"});
  EXPECT_TRUE(killed_by(run.status, SIGBUS)) << run.output;
  expect_complete_report(run);
  const std::string report = report_of(run.output);
  EXPECT_NE(report.find("\nsignal: SIGBUS (7), code BUS_ADRERR (2): nonexistent physical address"),
            std::string::npos)
      << report;
  EXPECT_TRUE(has_line(report, "stack overflow: no")) << report;
}

TEST(Crash, TwoThreadsCrashingAtOnceGiveOneWholeReport) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
  for (int round = 0; round < 5; ++round) {
    const crash_run run = run_child({"two_threads"});
    EXPECT_TRUE(killed_by(run.status, SIGSEGV)) << run.output;
    EXPECT_EQ(count(run.output, kHeader), 1U) << run.output;
    EXPECT_EQ(count(run.output, kEnd), 1U) << run.output;
    EXPECT_EQ(count(run.output, "\nsignal: "), 1U) << run.output;
    EXPECT_EQ(count(run.output, "\n  #0 pc "), 1U) << run.output;
    // Nothing but the one report: it is the whole output, uninterrupted.
    EXPECT_EQ(run.output, report_of(run.output)) << run.output;
    EXPECT_NE(run.output.find("(main thread: no)\n"), std::string::npos) << run.output;
  }
}

TEST(Crash, FaultInsideTheHookStillDiesByTheOriginalSignal) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
#if defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "ThreadSanitizer installs every handler with all signals blocked (a filled sa_mask): the "
                  "hook's SIGSEGV is then blocked, and the kernel kills by SIGSEGV instead of running the "
                  "handler that would die by the original SIGABRT";
#endif
  const crash_run run = run_child({"hook_fault"});
  EXPECT_TRUE(killed_by(run.status, SIGABRT)) << run.output;  // not SIGSEGV, the hook's fault
  EXPECT_EQ(count(run.output, kHeader), 1U) << run.output;
  EXPECT_NE(run.output.find("\nhook: about to fault\n"), std::string::npos) << run.output;
  EXPECT_EQ(count(run.output, kEnd), 0U) << run.output;  // ended at once, no second report either
}

TEST(Crash, HungHookIsEndedByTheWatchdog) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
  const crash_run run = run_child({"hook_hang"});
  EXPECT_TRUE(killed_by(run.status, SIGKILL)) << run.output;  // the watchdog's timer (1 s here)
  EXPECT_NE(run.output.find("\nhook: hanging\n"), std::string::npos) << run.output;
  EXPECT_EQ(count(run.output, kEnd), 0U) << run.output;
}

TEST(Crash, ChainsThePreviousHandlerAfterTheReportWhenAsked) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
  const crash_run run = run_child({"null", "--chain"});
  EXPECT_TRUE(killed_by(run.status, SIGSEGV)) << run.output;  // the previous handler returned
  expect_complete_report(run);
  const std::size_t end = run.output.find(kEnd);
  const std::size_t previous = run.output.find("previous handler: 11\n");
  ASSERT_NE(previous, std::string::npos) << run.output;
  EXPECT_GT(previous, end) << run.output;
  EXPECT_EQ(count(run.output, "previous handler:"), 1U) << run.output;
}

// A probe: the chained handler recovers by siglongjmp. The watchdog must not kill the recovered
// process, and its next crash gets a report of its own (the election was released).
TEST(Crash, AChainedHandlerThatRecoversBySiglongjmpLeavesTheProcessRunningAndReportedAgain) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
  const crash_run run = run_child({"recover"});
  EXPECT_TRUE(killed_by(run.status, SIGSEGV)) << run.output;  // the second fault; not the watchdog's SIGKILL
  EXPECT_EQ(count(run.output, kHeader), 2U) << run.output;
  EXPECT_EQ(count(run.output, kEnd), 2U) << run.output;
  const std::size_t recovered = run.output.find("\nrecovered\n");
  ASSERT_NE(recovered, std::string::npos) << run.output;
  EXPECT_GT(recovered, run.output.find(kEnd)) << run.output;
  EXPECT_NE(run.output.find(kHeader, recovered), std::string::npos) << run.output;
  EXPECT_EQ(count(run.output, "previous handler: 11\n"), 1U) << run.output;
}

// A fault inside the chained handler ends the process by the original signal, with no second report.
TEST(Crash, FaultInsideTheChainedHandlerDiesByTheOriginalSignal) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
#if defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "ThreadSanitizer installs every handler with all signals blocked (a filled sa_mask): the "
                  "chained handler's SIGSEGV is then blocked, and the kernel kills by SIGSEGV";
#endif
  const crash_run run = run_child({"chained_fault"});
  EXPECT_TRUE(killed_by(run.status, SIGABRT)) << run.output;  // not SIGSEGV, the chained handler's fault
  EXPECT_EQ(count(run.output, kHeader), 1U) << run.output;
  EXPECT_EQ(count(run.output, kEnd), 1U) << run.output;
  EXPECT_NE(run.output.find("previous handler: about to fault\n"), std::string::npos) << run.output;
}

TEST(Crash, DoesNotCallThePreviousHandlerUnlessAsked) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
  const crash_run run = run_child({"null", "--previous"});
  EXPECT_TRUE(killed_by(run.status, SIGSEGV)) << run.output;
  expect_complete_report(run);
  EXPECT_EQ(run.output.find("previous handler:"), std::string::npos) << run.output;
}

TEST(Crash, ReportIsCopiedToTheFile) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
  char dir[] = "/tmp/crash_test_XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string file = std::string(dir) + "/report.txt";
  const crash_run run = run_child({"div_zero", "--file", file});
  std::ifstream in(file);
  std::stringstream content;
  content << in.rdbuf();
  ::unlink(file.c_str());
  ::rmdir(dir);
  EXPECT_FALSE(report_of(run.output).empty()) << run.output;
  EXPECT_EQ(content.str(), report_of(run.output));
}

// WIFSIGNALED with the original signal and, where RLIMIT_CORE allows, WCOREDUMP and a core file.
TEST(Crash, ExitStatusAndCoreDump) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
  if (under_sanitizer()) {
    GTEST_SKIP() << "sanitizer runtimes disable core dumps (ASan's disable_coredump) or would dump "
                    "terabytes of shadow mappings";
  }
  std::ifstream pattern_file("/proc/sys/kernel/core_pattern");
  std::string pattern;
  std::getline(pattern_file, pattern);
  char dir[] = "/tmp/crash_core_XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  ::setenv("CRASH_CHILD_CORE_DIR", dir, 1);
  const crash_run run = run_child({"null", "--core"});
  ::unsetenv("CRASH_CHILD_CORE_DIR");
  EXPECT_TRUE(killed_by(run.status, SIGSEGV)) << run.output;
  expect_complete_report(run);
  // A core file in the child's directory can be checked only for a plain relative pattern; a pipe
  // ("|/usr/lib/systemd/systemd-coredump ...") hands the core to a program, an absolute path puts it
  // elsewhere: then only the status is asserted.
  const bool checkable = !pattern.empty() && pattern[0] != '|' && pattern.find('/') == std::string::npos;
  std::vector<std::string> cores;
  const std::string listing = std::string("ls -1 ") + dir;
  if (FILE* ls = ::popen(listing.c_str(), "r")) {
    char name[256];
    while (std::fgets(name, sizeof name, ls) != nullptr) cores.emplace_back(name);
    ::pclose(ls);
  }
  for (const std::string& name : cores) {
    std::string trimmed = name.substr(0, name.find('\n'));
    ::unlink((std::string(dir) + "/" + trimmed).c_str());
  }
  ::rmdir(dir);
  if (checkable) {
    EXPECT_TRUE(WCOREDUMP(run.status)) << "core_pattern \"" << pattern << "\"";
    EXPECT_EQ(cores.size(), 1U) << "core_pattern \"" << pattern << "\"";
  } else {
    std::cout << "core_pattern \"" << pattern << "\": core file not checkable here; WCOREDUMP "
              << (WCOREDUMP(run.status) ? "set" : "not set") << "\n";
  }
}

void expect_sender_reported(int signo) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");  // the whole test
  process p(kChild, {"wait"});
  ASSERT_TRUE(p.wait_for_output("ready\n")) << p.output();
  ASSERT_EQ(::kill(p.pid(), signo), 0);
  const int status = p.finish(60);
  EXPECT_TRUE(killed_by(status, signo)) << p.output();
  const std::string report = report_of(p.output());
  EXPECT_NE(report.find(std::string("\nsignal: ") + (signo == SIGABRT ? "SIGABRT (6)" : "SIGSEGV (11)") +
                        ", code SI_USER (0): sent by kill()\n"),
            std::string::npos)
      << report;
  EXPECT_TRUE(has_line(report, "sender: pid " + std::to_string(::getpid()) + " uid " +
                                   std::to_string(::getuid()) + " (kill, trusted)"))
      << report;
  EXPECT_EQ(report.find("fault address:"), std::string::npos) << report;  // no fault: a kill()
  EXPECT_EQ(count(p.output(), kEnd), 1U) << p.output();
}

TEST(Crash, SenderOfAKilledSigabrt) { expect_sender_reported(SIGABRT); }
TEST(Crash, SenderOfAKilledSigsegv) { expect_sender_reported(SIGSEGV); }

std::string symbolize(const std::string& report_path) {
  process p(SIGRELAY_SYMBOLIZE_CRASH, {report_path});
  const int status = p.finish(120);
  EXPECT_TRUE(sigrelay::test::exited_with(status, 0)) << p.output();
  return p.output();
}

TEST(Crash, SymbolizerResolvesTheCrashingFunction) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
  char dir[] = "/tmp/crash_sym_XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string file = std::string(dir) + "/report.txt";
  const crash_run null_run = run_child({"null", "--file", file});
  EXPECT_TRUE(killed_by(null_run.status, SIGSEGV)) << null_run.output;
  const std::string null_symbols = symbolize(file);
  ::unlink(file.c_str());
  const crash_run abort_run = run_child({"abort", "--file", file});
  EXPECT_TRUE(killed_by(abort_run.status, SIGABRT)) << abort_run.output;
  const std::string abort_symbols = symbolize(file);
  ::unlink(file.c_str());
  ::rmdir(dir);
  // Frame #0 is the crashing function, and main() is reached through frame pointers.
  const std::size_t frame0 = null_symbols.find("  #0 pc ");
  ASSERT_NE(frame0, std::string::npos) << null_symbols;
  const std::size_t next_line = null_symbols.find('\n', frame0) + 1;
  EXPECT_EQ(null_symbols.compare(next_line, 34, "       crash_null_dereference at /"), 0) << null_symbols;
  EXPECT_NE(null_symbols.find("crash_child.cc:"), std::string::npos) << null_symbols;
  EXPECT_NE(null_symbols.find("       main at "), std::string::npos) << null_symbols;
  // abort() runs in the C library, built without frame pointers: the scan finds the program's frames
  // again (crash_abort's own, or, where the C library's pushes leave no record pointing into it,
  // main's, which called it).
  EXPECT_TRUE(abort_symbols.find("       crash_abort at ") != std::string::npos ||
              abort_symbols.find("       main at ") != std::string::npos)
      << abort_symbols;
}

// In-process checks of install()'s errors, in a forked child (they install handlers).
TEST(Crash, InstallRefusesNonFatalSignalsAndLeavesTheStateAlone) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
  SIGRELAY_IN_CHILD([] {
    struct sigaction before {};
    ASSERT_EQ(::sigaction(SIGSEGV, nullptr, &before), 0);
    sigrelay::crash::options opts;
    opts.signals = {SIGSEGV, SIGINT};
    try {
      sigrelay::crash::install(opts);
      ADD_FAILURE() << "install() accepted SIGINT";
    } catch (const std::system_error& e) {
      EXPECT_EQ(e.code(), std::errc::invalid_argument);
      EXPECT_NE(std::string(e.what()).find("SIGINT"), std::string::npos) << e.what();
    }
    struct sigaction after {};
    ASSERT_EQ(::sigaction(SIGSEGV, nullptr, &after), 0);
    EXPECT_EQ(after.sa_handler, before.sa_handler);
    EXPECT_FALSE(sigrelay::crash::installed());

    std::error_code ec;
    sigrelay::crash::install({}, ec);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_TRUE(sigrelay::crash::installed());
    sigrelay::crash::install({}, ec);
    EXPECT_EQ(ec, std::errc::device_or_resource_busy);
  });
}

// describe() names the crash reporter's actions as such (not as an unknown function).
TEST(Crash, DescribeNamesTheCrashReportersActions) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
  SIGRELAY_IN_CHILD([] {
    sigrelay::crash::options opts;
    opts.signals = {SIGSEGV, SIGABRT};
    sigrelay::crash::install(opts);
    for (const int signo : {SIGSEGV, SIGABRT}) {
      const sigrelay::signal_description d = sigrelay::describe(signo);
      ASSERT_EQ(d.actions.size(), 1U) << sigrelay::signal_name(signo);
      EXPECT_EQ(d.actions[0].what, sigrelay::action_description::kind::crash_reporter);
      EXPECT_STREQ(sigrelay::to_string(d.actions[0].what), "crash reporter");
    }
    EXPECT_TRUE(sigrelay::describe(SIGBUS).actions.empty());
  });
}

}  // namespace
