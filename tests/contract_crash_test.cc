// SPDX-License-Identifier: MIT
// tests/contract_crash_test.cc — an audit of the promises of <sigrelay/crash.hpp>, aimed at what
// crash_test.cc (and the sanitizer and safety tests) leave out.
//
// install() is once per process, so every case runs in a forked child (crash_in_child() below): a
// clean signal state, an alarm() watchdog (a hang shows as SIGALRM, never as a hung ctest), and the
// report written to a pipe that this process drains. Each test quotes the promise it checks:
// - Death: a report fd whose reader is gone, and a file past RLIMIT_FSIZE, must not turn the death
//   into SIGPIPE or SIGXFSZ (nor kill a probe that recovers afterwards); every default signal raised
//   is reported to fd and file and kills by itself (a failure signal handler's basic death test); a
//   crash during exit(); abort() with SIGABRT blocked, abort() inside the hook; a fault on a thread
//   that blocks its signal (no report: the kernel's doing).
// - The watchdog in a fork() / _Fork() child of an installed process; a second crasher that waits
//   `second_crasher_wait` and then dies by its own signal while the first one's hook hangs.
// - The report's lines: SIGSYS from a seccomp filter ("system call N"), senders from another
//   process (sigqueue, tgkill, a forged rt_sigqueueinfo, pidfd_send_signal) and from a POSIX timer,
//   SI_KERNEL (no fault address), a thread name that tries to forge a line, max_frames 1 and 256,
//   the hook's info and context, fd = -1 with a file only, the file's O_APPEND, 0600 and O_CLOEXEC.
// - Threads: prepare_thread() twice, a thread's own alternate stack kept (and not released at its
//   exit), sigrelay's released at exit, the 1024-record limit and the records given back at exit,
//   install() racing prepare_thread() on other threads, alt_stack_size below 64 KiB; an unprepared
//   thread's stack overflow (silent death, or "unknown" on its own alternate stack); an unprepared
//   thread below an unreadable page; a fault in a handler on the alternate stack; a program's own
//   alternate stack of SIGSTKSZ; a fork child's stack overflow.
// - Modules: a crash in code loaded by dlopen() after install() is "?" until refresh_modules(); a
//   crash while another thread refreshes.
// - Errors: each refused option (signals, max_frames, file) names its culprit, in both overloads,
//   leaves every disposition as it was, and a later good install() still succeeds; timer_create()'s
//   EAGAIN (RLIMIT_SIGPENDING exhausted) is retried and then reported, the file's fd closed; each
//   sigaction() of install() failing in turn (the library's fault hook, static builds); stale
//   error codes cleared; two installs at once.
// - Chaining: the earlier handler runs with its own sa_mask, as the kernel would have run it, and
//   may outlast the watchdog; a signal named twice is chained once; a crash on another thread while
//   it runs gets a report of its own.
#include <gtest/gtest.h>

#include <dlfcn.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "sigrelay/crash.hpp"
#if SIGRELAY_TEST_FAULT_HOOK
#include "platform/sys_fault.hpp"
#endif
#include "support/child.hpp"
#include "support/platform.hpp"
#include "support/process.hpp"
#include "support/signal_state.hpp"

namespace {

using sigrelay::test::differences;
using sigrelay::test::exited_with;
using sigrelay::test::killed_by;
using sigrelay::test::snapshot;
namespace crash = sigrelay::crash;

const std::string kHeader = "*** sigrelay crash report ***\n";
const std::string kEnd = "*** end of crash report ***\n";

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kUnderAsan = true;
#else
constexpr bool kUnderAsan = false;
#endif

// --- Helpers ---------------------------------------------------------------------------------------

volatile int* volatile g_null = nullptr;
volatile bool g_forever = true;

// A real fault: UBSan would stop the null store itself.
__attribute__((noinline, no_sanitize("undefined"))) void null_dereference() { *g_null = 42; }

__attribute__((noinline)) int recurse(int depth) {
  volatile char pad[512];
  pad[0] = static_cast<char>(depth);
  if (g_forever) return recurse(depth + 1) + pad[0];
  return pad[0];
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

bool has_line(const std::string& text, const std::string& line) {
  return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

// The report block: from the header to the end line (or to the end of the text).
std::string report_of(const std::string& output) {
  const std::size_t begin = output.find(kHeader);
  if (begin == std::string::npos) return {};
  const std::size_t end = output.find(kEnd, begin);
  return output.substr(begin, end == std::string::npos ? std::string::npos : end + kEnd.size() - begin);
}

bool complete(const std::string& output) {
  return count(output, kHeader) == 1 && count(output, kEnd) == 1 && report_of(output).size() > 100;
}

// Signal context: write(2) only.
void say(int fd, const char* text) noexcept {
  if (::write(fd, text, std::strlen(text)) < 0) return;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

// A temporary directory, removed with its files at the end of the scope.
struct temp_dir {
  std::string path;
  temp_dir() {
    char name[] = "/tmp/contract_crash_XXXXXX";
    if (::mkdtemp(name) != nullptr) path = name;
  }
  ~temp_dir() {
    if (!path.empty()) {
      const std::string rm = "rm -rf '" + path + "'";
      if (std::system(rm.c_str()) != 0) std::fprintf(stderr, "could not remove %s\n", path.c_str());
    }
  }
};

// A child that installs the crash reporter and crashes. `body(fd)` runs in a forked child with a
// clean signal state and an alarm(timeout_s) watchdog; `fd` is the write end of a pipe read here.
// A body that returns ends the child with 1 if a gtest assertion failed in it, else with 3 ("did not
// crash").
class crashing_child {
 public:
  explicit crashing_child(const std::function<void(int fd)>& body, unsigned timeout_s = 20)
      : timeout_s_(timeout_s) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) {
      ADD_FAILURE() << "pipe2: " << std::strerror(errno);
      return;
    }
    std::fflush(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(p[0]);
      sigrelay::test::reset_signal_state();
      ::alarm(timeout_s);
      body(p[1]);
      ::_exit(testing::Test::HasFailure() ? 1 : 3);
    }
    ::close(p[1]);
    fd_ = p[0];
    if (pid_ < 0) ADD_FAILURE() << "fork: " << std::strerror(errno);
  }
  ~crashing_child() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      sigrelay::test::wait_with_deadline(pid_, 5);
    }
    if (fd_ >= 0) ::close(fd_);
  }
  crashing_child(const crashing_child&) = delete;
  crashing_child& operator=(const crashing_child&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& output() const { return output_; }

  // Reads until the output holds `text` (true) or the pipe ends or 10 s pass (false); then waits
  // until the child's main thread sleeps (ThreadSanitizer loses a signal that arrives as a thread
  // enters a blocking call).
  bool wait_for(const std::string& text) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (output_.find(text) == std::string::npos) {
      if (std::chrono::steady_clock::now() >= deadline || !read_some(100)) return false;
    }
    sigrelay::test::wait_until_asleep(pid_, pid_, std::chrono::milliseconds(500));
    return true;
  }

  // Reads the rest of the output (until every writer is gone) and reaps the child: its wait status.
  int finish() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s_ + 10);
    while (fd_ >= 0 && std::chrono::steady_clock::now() < deadline && read_some(100)) {
    }
    reaped_ = true;
    return sigrelay::test::wait_with_deadline(pid_, 10);
  }

 private:
  // False at the end of the output.
  bool read_some(int timeout_ms) {
    pollfd p{fd_, POLLIN, 0};
    const int r = ::poll(&p, 1, timeout_ms);
    if (r < 0) return errno == EINTR;
    if (r == 0) return true;
    char buffer[4096];
    const ssize_t n = ::read(fd_, buffer, sizeof buffer);
    if (n < 0) return errno == EINTR || errno == EAGAIN;
    if (n == 0) return false;
    output_.append(buffer, static_cast<std::size_t>(n));
    return true;
  }

  unsigned timeout_s_;
  pid_t pid_ = -1;
  int fd_ = -1;
  bool reaped_ = false;
  std::string output_;
};

struct crash_run {
  int status;
  std::string output;
  pid_t pid;
};

crash_run crash_in_child(const std::function<void(int fd)>& body, unsigned timeout_s = 20) {
  crashing_child child(body, timeout_s);
  const int status = child.finish();
  return {status, child.output(), child.pid()};
}

std::string describe(const crash_run& run) {
  return sigrelay::test::describe_status(run.status) + "; output:\n" + run.output;
}

crash::options options_to(int fd) {
  crash::options opts;
  opts.fd = fd;
  return opts;
}

// The message of install()'s exception, or "" if it did not throw; `code` gets its error.
std::string install_error(const crash::options& opts, std::error_code& code) {
  try {
    crash::install(opts);
  } catch (const std::system_error& e) {
    code = e.code();
    return e.what();
  }
  code.clear();
  return "";
}

// Whether [address, address + 1 page) is mapped.
bool mapped(const void* address) {
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  // NOLINTNEXTLINE(performance-no-int-to-ptr)
  void* start = reinterpret_cast<void*>(reinterpret_cast<std::uintptr_t>(address) & ~(page - 1));
  return ::msync(start, page, MS_ASYNC) == 0 || errno != ENOMEM;
}

// Takes the calling thread's alternate stack away (AddressSanitizer gives every thread one), so that
// prepare_thread() maps sigrelay's own.
void no_alternate_stack() {
  stack_t none{};
  none.ss_flags = SS_DISABLE;
  ASSERT_EQ(::sigaltstack(&none, nullptr), 0) << std::strerror(errno);
}

stack_t current_alternate_stack() {
  stack_t now{};
  ::sigaltstack(nullptr, &now);
  return now;
}

// Runs `fn` on a new thread with a `stack_size` stack and joins it.
void on_thread(const std::function<void()>& fn, std::size_t stack_size = std::size_t{1} << 20) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, stack_size);
  pthread_t t;
  auto* copy = new std::function<void()>(fn);
  const int rc = pthread_create(
      &t, &attr,
      [](void* arg) -> void* {
        auto* f = static_cast<std::function<void()>*>(arg);
        (*f)();
        delete f;
        return nullptr;
      },
      copy);
  pthread_attr_destroy(&attr);
  ASSERT_EQ(rc, 0) << std::strerror(rc);
  pthread_join(t, nullptr);
}

// --- Death: always by the original signal ------------------------------------------------------------

// "the process dies by the original signal (SIG_DFL, unblocked, tgkill to this thread), so the
// parent sees WIFSIGNALED with it" and "The report is written to `fd`, then to the file". A report
// fd whose reader is gone (stderr piped to a logger that died) makes write() raise SIGPIPE, whose
// default action would end the process by SIGPIPE before the file copy and the death by SIGSEGV.
TEST(ContractCrashDeath, AReportFdWhoseReaderIsGoneStillDiesByTheOriginalSignal) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
  temp_dir dir;
  ASSERT_FALSE(dir.path.empty());
  const std::string file = dir.path + "/report.txt";
  const crash_run run = crash_in_child([&](int) {
    int p[2];
    ASSERT_EQ(::pipe(p), 0);
    ::close(p[0]);  // nobody reads: write() fails with EPIPE and raises SIGPIPE (SIG_DFL here)
    crash::options opts = options_to(p[1]);
    opts.file = file;
    crash::install(opts);
    null_dereference();
  });
  EXPECT_TRUE(killed_by(run.status, SIGSEGV)) << describe(run);
  const std::string copy = read_file(file);
  EXPECT_TRUE(complete(copy)) << copy;
  EXPECT_TRUE(has_line(copy, "sender: kernel")) << copy;
}

// The same for the file: one past RLIMIT_FSIZE raises SIGXFSZ (default action: core), which must not
// replace the original signal; the fd still gets the whole report.
TEST(ContractCrashDeath, AFileOverItsSizeLimitStillDiesByTheOriginalSignal) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
  temp_dir dir;
  ASSERT_FALSE(dir.path.empty());
  const std::string file = dir.path + "/report.txt";
  {
    std::ofstream out(file);
    out << "0123456789";
  }
  const crash_run run = crash_in_child([&](int fd) {
    crash::options opts = options_to(fd);
    opts.file = file;
    crash::install(opts);
    const struct rlimit limit { 10, 10 };  // the file is full: a write raises SIGXFSZ
    ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &limit), 0);
    null_dereference();
  });
  EXPECT_TRUE(killed_by(run.status, SIGSEGV)) << describe(run);
  EXPECT_TRUE(complete(run.output)) << run.output;
  EXPECT_EQ(read_file(file), "0123456789");
}

// Every fatal signal of the default set, raised by the process itself: a whole report with the
// signal's name and number, SI_TKILL from this process, the same report in the file, and death by
// that signal (a failure signal handler's basic death test).
class ContractCrashEachSignal : public testing::TestWithParam<int> {};

TEST_P(ContractCrashEachSignal, RaisedIsReportedToFdAndFileAndKillsByIt) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
  const int signo = GetParam();
  temp_dir dir;
  ASSERT_FALSE(dir.path.empty());
  const std::string file = dir.path + "/report.txt";
  const crash_run run = crash_in_child([&](int fd) {
    const struct rlimit no_core { 0, 0 };
    ::setrlimit(RLIMIT_CORE, &no_core);
    crash::options opts = options_to(fd);
    opts.file = file;
    crash::install(opts);
    ::raise(signo);
  });
  EXPECT_TRUE(killed_by(run.status, signo)) << describe(run);
  EXPECT_TRUE(complete(run.output)) << run.output;
  const std::string report = report_of(run.output);
  EXPECT_NE(report.find("\nsignal: SIG" + std::string(sigabbrev_np(signo)) + " (" + std::to_string(signo) +
                        "), code SI_TKILL (-6): "),
            std::string::npos)
      << report;
  EXPECT_TRUE(has_line(report, "sender: pid " + std::to_string(run.pid) + " uid " +
                                   std::to_string(::getuid()) + " (tkill, trusted, this process)"))
      << report;
  EXPECT_EQ(report.find("fault address:"), std::string::npos) << report;
  EXPECT_EQ(read_file(file), report);
}

INSTANTIATE_TEST_SUITE_P(Default, ContractCrashEachSignal,
                         testing::Values(SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP, SIGSYS),
                         [](const testing::TestParamInfo<int>& p) {
                           return std::string("SIG") + sigabbrev_np(p.param);
                         });

std::atomic<int> g_report_fd{-1};

// "crash_state ... constant-initialised and trivially destructible (a crash during static
// destruction still finds it)": a crash in an exit handler that runs after the library's own statics
// were destroyed (registered before install(), so it runs after everything install() set up) is
// still reported, and still kills.
TEST(ContractCrashDeath, ACrashDuringExitIsStillReported) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
  const crash_run run = crash_in_child([](int fd) {
    g_report_fd.store(fd);
    std::atexit([] { null_dereference(); });
    crash::install(options_to(fd));
    std::exit(0);
  });
  EXPECT_TRUE(killed_by(run.status, SIGSEGV)) << describe(run);
  EXPECT_TRUE(complete(run.output)) << run.output;
}

#if defined(__x86_64__)
// "fault address: si_addr, for SIGSEGV, SIGBUS, SIGILL, SIGFPE and SIGTRAP raised by the kernel".
// A general-protection fault (a non-canonical address) is a SIGSEGV raised by the kernel with
// SI_KERNEL, whose si_addr is 0 and says nothing: no "fault address:" line, and so no stack-overflow
// verdict.
TEST(ContractCrashReport, AGeneralProtectionFaultIsSentByTheKernelWithoutAFaultAddress) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
  const crash_run run = crash_in_child([](int fd) {
    crash::install(options_to(fd));
    volatile std::uintptr_t bad = 0x8000000000000000ULL;
    // NOLINTNEXTLINE(performance-no-int-to-ptr)
    *reinterpret_cast<volatile int*>(bad) = 1;
  });
  EXPECT_TRUE(killed_by(run.status, SIGSEGV)) << describe(run);
  const std::string report = report_of(run.output);
  EXPECT_TRUE(complete(run.output)) << run.output;
  EXPECT_TRUE(has_line(report, "signal: SIGSEGV (11), code SI_KERNEL (128): sent by the kernel")) << report;
  EXPECT_TRUE(has_line(report, "sender: kernel")) << report;
  EXPECT_EQ(report.find("fault address:"), std::string::npos) << report;
  EXPECT_EQ(report.find("stack overflow:"), std::string::npos) << report;
}
#endif

int g_hook_context_target = 0;

// Signal context.
void hook_that_describes(int fd, const siginfo_t& info, void* context) noexcept {
  char line[] = "hook: signal 00, context 0\n";
  line[13] = static_cast<char>('0' + info.si_signo / 10 % 10);
  line[14] = static_cast<char>('0' + info.si_signo % 10);
  line[25] = context == &g_hook_context_target ? '1' : '0';
  say(fd, line);
}

// "A user hook's output, if any, comes before the end line"; the hook's `info` is the crash's
// siginfo, `context` is options::hook_context, and `fd` the report's fd.
TEST(ContractCrashReport, TheHookGetsTheCrashAndItsContextBeforeTheEndLine) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
  const crash_run run = crash_in_child([](int fd) {
    crash::options opts = options_to(fd);
    opts.hook = hook_that_describes;
    opts.hook_context = &g_hook_context_target;
    crash::install(opts);
    null_dereference();
  });
  EXPECT_TRUE(killed_by(run.status, SIGSEGV)) << describe(run);
  EXPECT_TRUE(complete(run.output)) << run.output;
  const std::size_t hook = run.output.find("hook: signal 11, context 1\n" + kEnd);
  EXPECT_NE(hook, std::string::npos) << run.output;
  EXPECT_GT(hook, run.output.rfind("\n  #", hook)) << run.output;  // after the backtrace
}

// A fault on a thread that blocks its signal (a thread that blocks everything to leave signals to a
// sigwait() thread): the kernel cannot run a handler for a fault it must deliver now, so it resets
// the disposition to SIG_DFL and kills, with no report. crash.hpp says so; this holds it.
TEST(ContractCrashDeath, AFaultOnAThreadThatBlocksItsSignalKillsWithoutAReport) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
  const crash_run run = crash_in_child([](int fd) {
    crash::install(options_to(fd));
    std::thread blocked([] {
      sigset_t all;
      sigfillset(&all);
      pthread_sigmask(SIG_SETMASK, &all, nullptr);
      null_dereference();
    });
    blocked.join();
  });
  EXPECT_TRUE(killed_by(run.status, SIGSEGV)) << describe(run);
  EXPECT_EQ(run.output, "");
}

// The C library's abort() unblocks SIGABRT before it raises it: a program that blocks SIGABRT (or
// every signal) on the aborting thread still gets its report, and dies by SIGABRT.
TEST(ContractCrashDeath, AbortWithSigabrtBlockedIsStillReported) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
  const crash_run run = crash_in_child([](int fd) {
    crash::install(options_to(fd));
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, nullptr);
    std::abort();
  });
  EXPECT_TRUE(killed_by(run.status, SIGABRT)) << describe(run);
  EXPECT_TRUE(complete(run.output)) << run.output;
  EXPECT_NE(run.output.find("\nsignal: SIGABRT (6), code SI_TKILL (-6)"), std::string::npos) << run.output;
}

// Signal context (on purpose not async-signal-safe: abort() inside the hook).
void hook_that_aborts(int fd, const siginfo_t&, void*) noexcept {
  say(fd, "hook: about to abort\n");
  std::abort();
}

// "A fault inside the report (or inside the hook ...) on the reporting thread ends the process at once
// by the *original* signal (no second report)": the hook calls abort() during a SIGSEGV report.
TEST(ContractCrashDeath, AbortInsideTheHookDiesByTheOriginalSignal) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
#if defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "ThreadSanitizer defers a signal raised inside a handler until the handler returns";
#endif
  const crash_run run = crash_in_child([](int fd) {
    crash::options opts = options_to(fd);
    opts.hook = hook_that_aborts;
    crash::install(opts);
    null_dereference();
  });
  EXPECT_TRUE(killed_by(run.status, SIGSEGV)) << describe(run);
  EXPECT_EQ(count(run.output, kHeader), 1U) << run.output;
  EXPECT_NE(run.output.find("hook: about to abort\n"), std::string::npos) << run.output;
  EXPECT_EQ(count(run.output, kEnd), 0U) << run.output;
}

// --- The watchdog and the second crasher --------------------------------------------------------------

// Signal context.
void hanging_hook(int fd, const siginfo_t&, void*) noexcept {
  say(fd, "hook: hanging\n");
  for (;;) ::pause();
}

// "The watchdog (a CLOCK_MONOTONIC timer created at install time) is armed for `watchdog_seconds`;
// if the report or the hook hangs, the timer sends SIGKILL to the process". POSIX timers are not
// inherited across fork(): the child of an installed process has the handlers, installed() is true,
// and its hanging hook must still be ended by SIGKILL, not run until its own alarm (SIGALRM).
void expect_watchdog_in_fork_child(bool raw) {
  const crash_run run = crash_in_child([raw](int fd) {
    crash::options opts = options_to(fd);
    opts.hook = hanging_hook;
    opts.watchdog_seconds = 1;
    crash::install(opts);
    const pid_t child = raw ? ::_Fork() : ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      ::alarm(8);  // without a watchdog, SIGALRM ends the hang
      // A timer of the child's own, created first: a stale timer id from the parent names it.
      timer_t own{};
      struct sigevent none {};
      none.sigev_notify = SIGEV_NONE;
      if (::timer_create(CLOCK_MONOTONIC, &none, &own) != 0) ::_exit(4);
      std::abort();
    }
    int status = 0;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    EXPECT_TRUE(killed_by(status, SIGKILL)) << sigrelay::test::describe_status(status);
    ::_exit(testing::Test::HasFailure() ? 1 : 0);
  });
  EXPECT_TRUE(exited_with(run.status, 0)) << describe(run);
  EXPECT_EQ(count(run.output, "hook: hanging\n"), 1U) << run.output;
  EXPECT_EQ(count(run.output, kEnd), 0U) << run.output;
}

TEST(ContractCrashWatchdog, AForkChildOfAnInstalledProcessKeepsItsWatchdog) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
  expect_watchdog_in_fork_child(false);
}

TEST(ContractCrashWatchdog, A_ForkChildOfAnInstalledProcessKeepsItsWatchdog) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
  expect_watchdog_in_fork_child(true);
}

std::atomic<bool> g_hook_entered{false};

// Signal context.
void hanging_hook_that_tells(int fd, const siginfo_t&, void*) noexcept {
  say(fd, "hook: hanging\n");
  g_hook_entered.store(true);
  for (;;) ::pause();
}

// "Another thread that crashes meanwhile waits (nanosleep) until the process dies; after
// `second_crasher_wait` seconds without the process dying it dies by its own signal. Reports never
// interleave." and "watchdog_seconds ... 0: no watchdog". The first crasher (SIGABRT) hangs in its
// hook with no watchdog; the second (SIGSEGV) must end the process by SIGSEGV, writing nothing.
TEST(ContractCrashWatchdog, ASecondCrasherDiesByItsOwnSignalWhenTheFirstHangs) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
  const crash_run run = crash_in_child([](int fd) {
    crash::options opts = options_to(fd);
    opts.hook = hanging_hook_that_tells;
    opts.watchdog_seconds = 0;
    opts.second_crasher_wait = 1;
    crash::install(opts);
    std::thread second([] {
      crash::prepare_thread();
      while (!g_hook_entered.load()) ::usleep(1000);
      null_dereference();
    });
    std::abort();
  });
  EXPECT_TRUE(killed_by(run.status, SIGSEGV)) << describe(run);
  EXPECT_EQ(count(run.output, kHeader), 1U) << run.output;
  EXPECT_EQ(count(run.output, "\nsignal: "), 1U) << run.output;
  EXPECT_NE(run.output.find("\nsignal: SIGABRT (6)"), std::string::npos) << run.output;
  EXPECT_EQ(count(run.output, kEnd), 0U) << run.output;
  // The hook's line is the last thing written: the second crasher wrote nothing.
  const std::string tail = "hook: hanging\n";
  ASSERT_GE(run.output.size(), tail.size());
  EXPECT_EQ(run.output.substr(run.output.size() - tail.size()), tail) << run.output;
}

// --- The report's lines ---------------------------------------------------------------------------------

#if defined(__x86_64__) || defined(__aarch64__)
// "signal: the signal's name and number, the si_code's name and number and its meaning in words";
// "fault address: ... for SIGSEGV, SIGBUS, SIGILL, SIGFPE and SIGTRAP raised by the kernel; the line
// is left out otherwise"; "sender: kernel (si_code > 0)". A system call refused by a seccomp filter
// (SECCOMP_RET_TRAP): SIGSYS, SYS_SECCOMP, the call's number.
TEST(ContractCrashReport, ASeccompTrapNamesTheSystemCall) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
  const crash_run run = crash_in_child([](int fd) {
    crash::install(options_to(fd));
#if defined(__x86_64__)
    const std::uint32_t arch = AUDIT_ARCH_X86_64;
#else
    const std::uint32_t arch = AUDIT_ARCH_AARCH64;
#endif
    sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, arch, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    sock_fprog program{static_cast<unsigned short>(sizeof filter / sizeof filter[0]), filter};
    ASSERT_EQ(::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
    ASSERT_EQ(::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program), 0) << std::strerror(errno);
    ::syscall(SYS_getppid);
  });
  EXPECT_TRUE(killed_by(run.status, SIGSYS)) << describe(run);
  const std::string report = report_of(run.output);
  EXPECT_TRUE(complete(run.output)) << run.output;
  EXPECT_TRUE(has_line(report, "signal: SIGSYS (" + std::to_string(SIGSYS) +
                                   "), code SYS_SECCOMP (1): system call refused by a seccomp filter, "
                                   "system call " +
                                   std::to_string(SYS_getppid)))
      << report;
  EXPECT_TRUE(has_line(report, "sender: kernel")) << report;
  EXPECT_EQ(report.find("fault address:"), std::string::npos) << report;
  EXPECT_EQ(report.find("stack overflow:"), std::string::npos) << report;
}
#endif

// "sender: ... pid P uid U (KIND, trusted|untrusted[, this process]) for a signal sent by a process
// (si_code <= 0), KIND being kill (SI_USER), tkill (SI_TKILL), queue (SI_QUEUE) or other. trusted:
// the kernel filled in pid and uid (SI_USER, SI_TKILL); the other negative codes can be forged".
// Sent from this (another) process to a child that installed and waits.
enum class send_how { queue, tgkill, forged, pidfd };

std::string send_to_waiting_child(send_how how, int signo) {
  crashing_child child([](int fd) {
    crash::install(options_to(fd));
    say(fd, "ready\n");
    for (;;) ::pause();
  });
  if (!child.wait_for("ready\n")) {
    ADD_FAILURE() << "the child never got ready: " << child.output();
    return {};
  }
  const pid_t pid = child.pid();
  switch (how) {
    case send_how::queue: {
      union sigval value {};
      value.sival_int = 7;
      EXPECT_EQ(::sigqueue(pid, signo, value), 0) << std::strerror(errno);
      break;
    }
    case send_how::tgkill:
      EXPECT_EQ(::syscall(SYS_tgkill, pid, pid, signo), 0) << std::strerror(errno);
      break;
    case send_how::forged: {
      siginfo_t info{};
      info.si_signo = signo;
      info.si_code = -60;  // any negative code but SI_TKILL may be sent to another process
      info.si_pid = 1;
      info.si_uid = 0;
      EXPECT_EQ(::syscall(SYS_rt_sigqueueinfo, pid, signo, &info), 0) << std::strerror(errno);
      break;
    }
    case send_how::pidfd: {
      const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
      EXPECT_GE(pidfd, 0) << std::strerror(errno);
      EXPECT_EQ(::syscall(SYS_pidfd_send_signal, pidfd, signo, nullptr, 0), 0) << std::strerror(errno);
      ::close(pidfd);
      break;
    }
  }
  const int status = child.finish();
  EXPECT_TRUE(killed_by(status, signo)) << child.output();
  EXPECT_TRUE(complete(child.output())) << child.output();
  const std::string report = report_of(child.output());
  // A signal sent by a process has no fault address, so no stack-overflow verdict either.
  EXPECT_EQ(report.find("fault address:"), std::string::npos) << report;
  EXPECT_EQ(report.find("stack overflow:"), std::string::npos) << report;
  return report;
}

std::string me() { return "pid " + std::to_string(::getpid()) + " uid " + std::to_string(::getuid()); }

TEST(ContractCrashReport, ASigqueueFromAnotherProcessIsAnUntrustedQueue) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
  const std::string report = send_to_waiting_child(send_how::queue, SIGSEGV);
  EXPECT_TRUE(has_line(report, "signal: SIGSEGV (11), code SI_QUEUE (-1): sent by sigqueue()")) << report;
  EXPECT_TRUE(has_line(report, "sender: " + me() + " (queue, untrusted)")) << report;
}

TEST(ContractCrashReport, ATgkillFromAnotherProcessIsATrustedTkillNotThisProcess) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
  const std::string report = send_to_waiting_child(send_how::tgkill, SIGBUS);
  EXPECT_TRUE(has_line(report, "signal: SIGBUS (" + std::to_string(SIGBUS) +
                                   "), code SI_TKILL (-6): sent by tkill()/tgkill() (raise, abort, "
                                   "pthread_kill)"))
      << report;
  EXPECT_TRUE(has_line(report, "sender: " + me() + " (tkill, trusted)")) << report;
}

TEST(ContractCrashReport, AForgedSenderIsOtherAndUntrusted) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
  const std::string report = send_to_waiting_child(send_how::forged, SIGILL);
  EXPECT_TRUE(has_line(report, "signal: SIGILL (4), code unknown (-60)")) << report;
  EXPECT_TRUE(has_line(report, "sender: pid 1 uid 0 (other, untrusted)")) << report;
}

TEST(ContractCrashReport, APidfdSendSignalIsATrustedKill) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
  const std::string report = send_to_waiting_child(send_how::pidfd, SIGTRAP);
  EXPECT_TRUE(has_line(report, "signal: SIGTRAP (5), code SI_USER (0): sent by kill()")) << report;
  EXPECT_TRUE(has_line(report, "sender: " + me() + " (kill, trusted)")) << report;
}

// "sender: ... "pid P uid U (...)" for a signal sent by a process": a signal of a POSIX timer
// (SI_TIMER) is sent by no process, and its siginfo holds the timer's id and overrun where a
// process's would hold pid and uid. The report must not name a pid (here it named "pid 1", the
// timer's id, as if init had sent the signal): it names the timer, untrusted (another process can
// send SI_TIMER with rt_sigqueueinfo()).
TEST(ContractCrashReport, ASignalFromAPosixTimerNamesNoPid) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
  const crash_run run = crash_in_child([](int fd) {
    crash::install(options_to(fd));
    struct sigevent event {};
    event.sigev_notify = SIGEV_SIGNAL;
    event.sigev_signo = SIGABRT;
    timer_t timer{};
    ASSERT_EQ(::timer_create(CLOCK_MONOTONIC, &event, &timer), 0);
    struct itimerspec when {};
    when.it_value.tv_nsec = 1000000;
    ASSERT_EQ(::timer_settime(timer, 0, &when, nullptr), 0);
    for (;;) ::pause();
  });
  EXPECT_TRUE(killed_by(run.status, SIGABRT)) << describe(run);
  const std::string report = report_of(run.output);
  EXPECT_TRUE(complete(run.output)) << run.output;
  EXPECT_TRUE(has_line(report, "signal: SIGABRT (6), code SI_TIMER (-2): a POSIX timer expired")) << report;
  const std::size_t sender = report.find("\nsender: ");
  ASSERT_NE(sender, std::string::npos) << report;
  const std::string line = report.substr(sender + 1, report.find('\n', sender + 1) - sender - 1);
  EXPECT_EQ(line.rfind("sender: POSIX timer ", 0), 0U) << line;
  EXPECT_EQ(line.find("pid "), std::string::npos) << line;
  EXPECT_EQ(line.substr(line.size() - std::string(" (timer, untrusted)").size()), " (timer, untrusted)")
      << line;
}

// "The report (one block of lines ...; the format is stable)" and "thread: the kernel thread id and
// the thread's name". A thread's name is set by the program or by any process of its user
// (/proc/PID/task/TID/comm) and may hold a newline: it must not add a line of its own to the report
// (here a forged "sender: kernel" for a signal that a process sent).
TEST(ContractCrashReport, AThreadNameCannotAddALineToTheReport) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
  const crash_run run = crash_in_child([](int fd) {
    crash::install(options_to(fd));
    ASSERT_EQ(::prctl(PR_SET_NAME, "x\nsender: kernel", 0, 0, 0), 0);  // 15 bytes kept
    ::kill(::getpid(), SIGABRT);
  });
  EXPECT_TRUE(killed_by(run.status, SIGABRT)) << describe(run);
  const std::string report = report_of(run.output);
  EXPECT_TRUE(complete(run.output)) << run.output;
  EXPECT_EQ(count(report, "\nsender: "), 1U) << report;
  EXPECT_FALSE(has_line(report, "sender: kerne")) << report;
  EXPECT_NE(
      report.find("\nthread: " + std::to_string(run.pid) + " \"x\\x0asender: kerne\" (main thread: yes)\n"),
      std::string::npos)
      << report;
  std::istringstream lines(report);
  std::string line;
  while (std::getline(lines, line)) {
    const bool known = line.rfind("*** ", 0) == 0 || line.rfind("signal: ", 0) == 0 ||
                       line.rfind("thread: ", 0) == 0 || line.rfind("sender: ", 0) == 0 ||
                       line.rfind("registers: ", 0) == 0 || line.rfind("backtrace: ", 0) == 0 ||
                       line.rfind("  #", 0) == 0;
    EXPECT_TRUE(known) << "unexpected line \"" << line << "\" in\n" << report;
  }
}

// "At most `max_frames` frames" (1..256): 1 is the pc alone.
TEST(ContractCrashReport, MaxFramesOneGivesThePcAlone) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
#if !defined(__x86_64__) && !defined(__aarch64__)
  GTEST_SKIP() << "no registers, no backtrace on this architecture";
#endif
  const crash_run run = crash_in_child([](int fd) {
    crash::options opts = options_to(fd);
    opts.max_frames = 1;
    crash::install(opts);
    null_dereference();
  });
  EXPECT_TRUE(killed_by(run.status, SIGSEGV)) << describe(run);
  const std::string report = report_of(run.output);
  EXPECT_NE(report.find("\nbacktrace: 1 frames"), std::string::npos) << report;
  EXPECT_EQ(count(report, "\n  #"), 1U) << report;
  EXPECT_NE(report.find("\n  #0 pc 0x"), std::string::npos) << report;
}

__attribute__((noinline)) int deep_then_fault(int depth) {
  volatile int keep = depth;
  if (depth > 0) return deep_then_fault(depth - 1) + keep;
  null_dereference();
  return keep;
}

// "At most `max_frames` frames": 256, the most allowed, for a crash 300 calls deep.
TEST(ContractCrashReport, MaxFrames256StopsADeepWalk) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
#if !defined(__x86_64__) && !defined(__aarch64__)
  GTEST_SKIP() << "no registers, no backtrace on this architecture";
#endif
  const crash_run run = crash_in_child([](int fd) {
    crash::options opts = options_to(fd);
    opts.max_frames = 256;
    crash::install(opts);
    deep_then_fault(300);
  });
  EXPECT_TRUE(killed_by(run.status, SIGSEGV)) << describe(run);
  const std::string report = report_of(run.output);
  EXPECT_TRUE(complete(run.output)) << run.output;
  EXPECT_NE(report.find("\nbacktrace: 256 frames"), std::string::npos) << report.substr(0, 2000);
  EXPECT_EQ(count(report, "\n  #"), 256U);
  EXPECT_NE(report.find("\n  #255 ra 0x"), std::string::npos);
}

// "fd ... -1 for nowhere (with a file only)" and the file: "opened at install()
// (O_WRONLY|O_CREAT|O_APPEND|O_CLOEXEC, mode 0600)". An existing file keeps its content (the report
// is appended); a new one is created 0600 whatever the umask allows; the descriptor is close-on-exec.
TEST(ContractCrashFile, FileOnlyIsAppendedTo) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
  temp_dir dir;
  ASSERT_FALSE(dir.path.empty());
  const std::string file = dir.path + "/report.txt";
  {
    std::ofstream out(file);
    out << "earlier line\n";
  }
  const crash_run run = crash_in_child([&](int) {
    crash::options opts = options_to(-1);
    opts.file = file;
    crash::install(opts);
    null_dereference();
  });
  EXPECT_TRUE(killed_by(run.status, SIGSEGV)) << describe(run);
  EXPECT_EQ(run.output, "");  // fd -1: nowhere
  const std::string content = read_file(file);
  ASSERT_EQ(content.rfind("earlier line\n" + kHeader, 0), 0U) << content;
  EXPECT_TRUE(complete(content)) << content;
}

TEST(ContractCrashFile, ANewFileIsCreated0600AndItsDescriptorIsCloseOnExec) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
  temp_dir dir;
  ASSERT_FALSE(dir.path.empty());
  const std::string file = dir.path + "/report.txt";
  SIGRELAY_IN_CHILD([&] {
    ::umask(0);
    crash::options opts = options_to(-1);
    opts.file = file;
    crash::install(opts);
    struct stat st {};
    ASSERT_EQ(::stat(file.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0600U);
    int found = 0;
    for (int fd = 0; fd < 1024; ++fd) {
      char link[64];
      char target[4096];
      std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
      const ssize_t n = ::readlink(link, target, sizeof target - 1);
      if (n <= 0 || std::string(target, static_cast<std::size_t>(n)) != file) continue;
      ++found;
      EXPECT_NE(::fcntl(fd, F_GETFD) & FD_CLOEXEC, 0) << "fd " << fd;
      EXPECT_NE(::fcntl(fd, F_GETFL) & O_APPEND, 0) << "fd " << fd;
    }
    EXPECT_EQ(found, 1);
  });
}

// --- Threads and the alternate signal stack ----------------------------------------------------------

// "Calling it again on a prepared thread does nothing"; "gives it an alternate signal stack (unless
// it has one)"; alt_stack_size: "at least 64 KiB" (a smaller request still gets 64 KiB).
TEST(ContractCrashThreads, PrepareThreadTwiceKeepsTheSameStackOfAtLeast64KiB) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
  SIGRELAY_IN_CHILD([] {
    no_alternate_stack();
    crash::options opts = options_to(-1);
    opts.alt_stack_size = 100;
    crash::install(opts);
    const stack_t first = current_alternate_stack();
    ASSERT_EQ(first.ss_flags & SS_DISABLE, 0);
    EXPECT_GE(first.ss_size, std::size_t{64} * 1024);
    crash::prepare_thread();
    std::error_code ec;
    crash::prepare_thread(ec);
    EXPECT_FALSE(ec) << ec.message();
    const stack_t again = current_alternate_stack();
    EXPECT_EQ(again.ss_sp, first.ss_sp);
    EXPECT_EQ(again.ss_size, first.ss_size);
    on_thread([] {
      no_alternate_stack();
      crash::prepare_thread();
      const stack_t t = current_alternate_stack();
      EXPECT_EQ(t.ss_flags & SS_DISABLE, 0);
      EXPECT_GE(t.ss_size, std::size_t{64} * 1024);
    });
  });
}

// "A thread that already has an alternate stack keeps it (sigaltstack is per thread: sigrelay never
// replaces one)" — nor unmaps it when the thread exits; "A prepared thread's alternate stack ... [is]
// released when it exits".
TEST(ContractCrashThreads, AThreadsOwnAlternateStackIsKeptAndSigrelaysIsReleasedAtExit) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
  SIGRELAY_IN_CHILD([] {
    crash::install(options_to(-1));
    const std::size_t size = std::size_t{128} * 1024;
    void* own = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(own, MAP_FAILED);
    on_thread([&] {
      stack_t alt{};
      alt.ss_sp = own;
      alt.ss_size = size;
      ASSERT_EQ(::sigaltstack(&alt, nullptr), 0);
      crash::prepare_thread();
      EXPECT_EQ(current_alternate_stack().ss_sp, own);
      EXPECT_EQ(current_alternate_stack().ss_size, size);
    });
    // The thread's own: never released by sigrelay. (AddressSanitizer's thread exit unmaps whatever
    // alternate stack the thread has at its end, thinking it its own.)
    if (!kUnderAsan) {
      EXPECT_TRUE(mapped(own));
    }

    void* ours = nullptr;
    on_thread([&] {
      no_alternate_stack();
      crash::prepare_thread();
      const stack_t t = current_alternate_stack();
      ASSERT_EQ(t.ss_flags & SS_DISABLE, 0);
      ours = t.ss_sp;
      EXPECT_TRUE(mapped(ours));
    });
    ASSERT_NE(ours, nullptr);
    EXPECT_FALSE(mapped(ours));  // released by the key destructor at the thread's exit
    if (!kUnderAsan) ::munmap(own, size);
  });
}

// "At most 1024 threads are recorded at once; prepare_thread() fails beyond that"
// (std::errc::resource_unavailable_try_again), and the records are released at thread exit. The
// installing thread holds one record; a second prepare_thread() on a prepared thread takes none.
TEST(ContractCrashThreads, AtMost1024RecordsAtOnceAndTheyComeBackAtThreadExit) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
  SIGRELAY_IN_CHILD(
      [] {
        crash::install(options_to(-1));
        for (int round = 0; round < 2; ++round) {
          constexpr int kThreads = 1024;  // one more than the records left
          std::atomic<int> ok{0};
          std::atomic<int> full{0};
          std::atomic<int> other{0};
          std::atomic<int> done{0};
          int release[2];  // the threads wait in read() until its write end is closed
          ASSERT_EQ(::pipe2(release, O_CLOEXEC), 0);
          struct shared {
            std::atomic<int>* ok;
            std::atomic<int>* full;
            std::atomic<int>* other;
            std::atomic<int>* done;
            int release;
          } s{&ok, &full, &other, &done, release[0]};
          std::vector<pthread_t> threads(kThreads);
          pthread_attr_t attr;
          pthread_attr_init(&attr);
          pthread_attr_setstacksize(&attr, std::size_t{256} * 1024);
          int started = 0;
          for (pthread_t& t : threads) {
            const int rc = pthread_create(
                &t, &attr,
                [](void* arg) -> void* {
                  auto* sh = static_cast<shared*>(arg);
                  std::error_code ec;
                  crash::prepare_thread(ec);
                  if (!ec) crash::prepare_thread(ec);  // idempotent: takes no second record
                  if (!ec) {
                    sh->ok->fetch_add(1);
                  } else if (ec == std::errc::resource_unavailable_try_again) {
                    sh->full->fetch_add(1);
                  } else {
                    sh->other->fetch_add(1);
                  }
                  sh->done->fetch_add(1);
                  char c;
                  while (::read(sh->release, &c, 1) < 0 && errno == EINTR) {
                  }
                  return nullptr;
                },
                &s);
            if (rc != 0) break;
            ++started;
          }
          pthread_attr_destroy(&attr);
          while (done.load() < started) ::usleep(1000);
          if (started == kThreads) {
            EXPECT_EQ(ok.load(), kThreads - 1) << "round " << round;
            EXPECT_EQ(full.load(), 1) << "round " << round;
          }
          EXPECT_EQ(other.load(), 0) << "round " << round;
          if (started == kThreads) {
            std::error_code ec;
            std::thread extra([&ec] {
              try {
                crash::prepare_thread();
              } catch (const std::system_error& e) {
                ec = e.code();
              }
            });
            extra.join();
            EXPECT_EQ(ec, std::errc::resource_unavailable_try_again) << "round " << round;
          }
          ::close(release[1]);
          for (int i = 0; i < started; ++i) pthread_join(threads[static_cast<std::size_t>(i)], nullptr);
          ::close(release[0]);
          if (started != kThreads) GTEST_SKIP() << "only " << started << " threads could be started";
        }
      },
      120);
}

// "install(), prepare_thread() and refresh_modules() may be called from any thread, concurrently".
// Threads that prepare themselves while another thread installs (ThreadSanitizer, with
// halt_on_error, fails the child on a data race).
TEST(ContractCrashThreads, PrepareThreadRacesInstallOnAnotherThread) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
  SIGRELAY_IN_CHILD([] {
    std::atomic<bool> go{false};
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i) {
      threads.emplace_back([&] {
        no_alternate_stack();
        while (!go.load(std::memory_order_relaxed)) {
        }
        std::error_code ec;
        crash::prepare_thread(ec);
        if (ec) failures.fetch_add(1);
        crash::refresh_modules();
      });
    }
    go.store(true, std::memory_order_relaxed);
    crash::options opts = options_to(-1);
    opts.alt_stack_size = std::size_t{128} * 1024;
    crash::install(opts);
    for (std::thread& t : threads) t.join();
    EXPECT_EQ(failures.load(), 0);
    EXPECT_TRUE(crash::installed());
  });
}

// "Threads sigrelay cannot reach: those started before install() ... never call prepare_thread():
// ... a stack overflow (which kills them silently, by SIGSEGV with no report)".
TEST(ContractCrashThreads, AnUnpreparedThreadsStackOverflowKillsSilently) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
  const crash_run run = crash_in_child([](int fd) {
    std::atomic<bool> installed{false};
    std::thread early([&] {  // started before install(), never prepared
      no_alternate_stack();
      while (!installed.load()) ::usleep(1000);
      recurse(0);
    });
    crash::install(options_to(fd));
    installed.store(true);
    early.join();
  });
  EXPECT_TRUE(killed_by(run.status, SIGSEGV)) << describe(run);
  EXPECT_EQ(run.output, "");
}

// "... their stack overflow is reported as "unknown"": an unprepared thread that has an alternate
// stack of its own gets a report.
TEST(ContractCrashThreads, AnUnpreparedThreadWithItsOwnAlternateStackReportsUnknown) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
  const crash_run run = crash_in_child([](int fd) {
    crash::install(options_to(fd));
    on_thread(
        [] {
          const std::size_t size = std::size_t{256} * 1024;
          void* own = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
          ASSERT_NE(own, MAP_FAILED);
          stack_t alt{};
          alt.ss_sp = own;
          alt.ss_size = size;
          ASSERT_EQ(::sigaltstack(&alt, nullptr), 0);
          recurse(0);
        },
        std::size_t{512} * 1024);
  });
  EXPECT_TRUE(killed_by(run.status, SIGSEGV)) << describe(run);
  EXPECT_TRUE(complete(run.output)) << run.output;
  EXPECT_TRUE(has_line(report_of(run.output), "stack overflow: unknown (thread not prepared)")) << run.output;
  EXPECT_NE(run.output.find("(main thread: no)\n"), std::string::npos) << run.output;
}

#if defined(__x86_64__)
// As code built without frame pointers (a library's, -O2): no frame record links this thread's
// frames. The chain is cut at this function's caller, and abort() is called with no frame pointer
// either (the C library's own pushes of it hold 0). Nothing is returned to.
[[noreturn]] __attribute__((noinline)) void abort_without_frame_records() {
  auto* fp = static_cast<std::uintptr_t*>(__builtin_frame_address(0));
  // NOLINTNEXTLINE(performance-no-int-to-ptr)
  auto* caller = reinterpret_cast<std::uintptr_t*>(fp[0]);
  if (caller != nullptr) caller[0] = 0;
  fp[0] = 0;
  asm volatile("and $-16, %%rsp\n\txor %%ebp, %%ebp\n\tcall abort" ::: "memory");
  __builtin_unreachable();
}

// "Threads sigrelay cannot reach ... still get a report for every crash except a stack overflow ...
// and their backtrace walk is bounded by a fixed 1 MiB window above the stack pointer". The window
// is not the thread's stack: above a thread's stack may lie anything, such as another thread stack's
// guard page. An unprepared thread (a library's pool thread) on such a stack, crashing in abort()
// in code without frame records (so that the first one is searched for above the stack pointer),
// must still get its whole report and die by SIGABRT.
TEST(ContractCrashThreads, AnUnpreparedThreadBelowAnUnreadablePageGetsAWholeReport) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
  const crash_run run = crash_in_child([](int fd) {
    const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    const std::size_t stack_size = std::size_t{4} << 20;  // room for a sanitizer runtime's static TLS
    // [guard page | stack | 16 unreadable pages]
    const std::size_t total = page + stack_size + 16 * page;
    auto* region = static_cast<char*>(
        ::mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0));
    ASSERT_NE(region, MAP_FAILED);
    ASSERT_EQ(::mprotect(region, page, PROT_NONE), 0);
    ASSERT_EQ(::mprotect(region + page + stack_size, 16 * page, PROT_NONE), 0);
    crash::install(options_to(fd));
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    ASSERT_EQ(pthread_attr_setstack(&attr, region + page, stack_size), 0);
    pthread_t t;
    ASSERT_EQ(pthread_create(
                  &t, &attr,
                  [](void*) -> void* {
                    no_alternate_stack();
                    static char alt[std::size_t{64} * 1024];  // an alternate stack of its own
                    stack_t own{};
                    own.ss_sp = alt;
                    own.ss_size = sizeof alt;
                    ::sigaltstack(&own, nullptr);
                    abort_without_frame_records();
                  },
                  nullptr),
              0);
    pthread_join(t, nullptr);
  });
  EXPECT_TRUE(killed_by(run.status, SIGABRT)) << describe(run);
  EXPECT_TRUE(complete(run.output)) << run.output;
  EXPECT_NE(run.output.find("\nbacktrace: "), std::string::npos) << run.output;
}
#endif

// "A thread that already has an alternate stack keeps it": the report then runs on that stack. The
// C library's SIGSTKSZ (sysconf(_SC_SIGSTKSZ): what a program that sets its own alternate stack
// gives it) must be enough for a whole report, with a guard page below to catch an overflow of it.
// (The old constant 8 KiB is not enough on every machine for any handler: with AVX-512 state the
// kernel itself refuses to deliver onto it.)
TEST(ContractCrashThreads, AReportFitsOnAnAlternateStackOfSigstksz) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
  const crash_run run = crash_in_child([](int fd) {
    crash::install(options_to(fd));
    on_thread([] {
      const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
      const std::size_t size = (static_cast<std::size_t>(::sysconf(_SC_SIGSTKSZ)) + page - 1) / page * page;
      auto* region = static_cast<char*>(
          ::mmap(nullptr, page + size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
      ASSERT_NE(region, MAP_FAILED);
      ASSERT_EQ(::mprotect(region, page, PROT_NONE), 0);
      stack_t own{};
      own.ss_sp = region + page;
      own.ss_size = size;
      ASSERT_EQ(::sigaltstack(&own, nullptr), 0);
      crash::prepare_thread();
      null_dereference();
    });
  });
  EXPECT_TRUE(killed_by(run.status, SIGSEGV)) << describe(run);
  EXPECT_TRUE(complete(run.output)) << run.output;
}

// "The report and the hook run on the thread's alternate signal stack where it has one", and the
// walk "reads only the recorded stack". A fault inside a handler of another signal that runs on the
// alternate stack (off the recorded stack): a whole report whose backtrace holds that handler's
// frames.
__attribute__((noinline, no_sanitize("undefined"))) void fault_in_handler(int) {
  null_dereference();
  g_forever = true;  // not a tail call: this frame stays
}

TEST(ContractCrashThreads, AFaultInAHandlerOnTheAlternateStackIsReportedWithItsFrames) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
#if defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "ThreadSanitizer installs every handler with all signals blocked (a filled sa_mask): the "
                  "fault inside the SIGUSR1 handler is then blocked, and the kernel kills by SIGSEGV";
#endif
#if !defined(__x86_64__) && !defined(__aarch64__)
  GTEST_SKIP() << "no registers, no backtrace on this architecture";
#endif
  const crash_run run = crash_in_child([](int fd) {
    no_alternate_stack();
    crash::install(options_to(fd));
    struct sigaction sa {};
    sa.sa_handler = fault_in_handler;
    sa.sa_flags = SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    ASSERT_EQ(::sigaction(SIGUSR1, &sa, nullptr), 0);
    ::raise(SIGUSR1);
  });
  EXPECT_TRUE(killed_by(run.status, SIGSEGV)) << describe(run);
  EXPECT_TRUE(complete(run.output)) << run.output;
  const std::string report = report_of(run.output);
  EXPECT_EQ(report.find("\nbacktrace: 1 frames"), std::string::npos) << report;
  EXPECT_NE(report.find("\n  #1 ra 0x"), std::string::npos) << report;
}

// "May be called before install()": a thread prepared before install() (with the default size)
// has its stack overflow recognised.
TEST(ContractCrashThreads, AThreadPreparedBeforeInstallReportsItsOverflow) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
  const crash_run run = crash_in_child([](int fd) {
    std::atomic<int> step{0};
    std::thread t([&] {
      no_alternate_stack();
      crash::prepare_thread();
      step.store(1);
      while (step.load() != 2) ::usleep(1000);
      recurse(0);
    });
    while (step.load() != 1) ::usleep(1000);
    crash::install(options_to(fd));
    step.store(2);
    t.join();
  });
  EXPECT_TRUE(killed_by(run.status, SIGSEGV)) << describe(run);
  EXPECT_TRUE(complete(run.output)) << run.output;
  EXPECT_NE(report_of(run.output)
                .find("\nstack overflow: yes (fault address in the guard region below the stack 0x"),
            std::string::npos)
      << run.output;
}

// "stack overflow: yes ... when the fault address lies in the guard region of the crashing thread's
// stack" and "sigrelay reaches: the thread that calls install()". A pre-forking server installs,
// then forks its workers: a worker's main thread is the installing thread's copy (same stack, same
// alternate stack, prepare_thread() says it is prepared), and its stack overflow is one.
TEST(ContractCrashThreads, AForkChildsStackOverflowIsRecognised) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
  const crash_run run = crash_in_child([](int fd) {
    crash::install(options_to(fd));
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      crash::prepare_thread();  // "does nothing" on a prepared thread
      recurse(0);
    }
    int status = 0;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    EXPECT_TRUE(killed_by(status, SIGSEGV)) << sigrelay::test::describe_status(status);
    ::_exit(testing::Test::HasFailure() ? 1 : 0);
  });
  EXPECT_TRUE(exited_with(run.status, 0)) << describe(run);
  EXPECT_TRUE(complete(run.output)) << run.output;
  EXPECT_NE(report_of(run.output)
                .find("\nstack overflow: yes (fault address in the guard region below the stack 0x"),
            std::string::npos)
      << run.output;
}

// --- Modules ------------------------------------------------------------------------------------------

// "Code loaded later with dlopen() shows as "?" until refresh_modules() is called".
std::string crash_in_plugin(bool refresh) {
  const crash_run run = crash_in_child([refresh](int fd) {
    crash::install(options_to(fd));
    void* plugin = ::dlopen(SIGRELAY_CONTRACT_CRASH_PLUGIN, RTLD_NOW);
    ASSERT_NE(plugin, nullptr) << ::dlerror();
    auto* fault = reinterpret_cast<void (*)()>(::dlsym(plugin, "contract_crash_plugin_fault"));
    ASSERT_NE(fault, nullptr) << ::dlerror();
    if (refresh) crash::refresh_modules();
    fault();
  });
  EXPECT_TRUE(killed_by(run.status, SIGSEGV)) << describe(run);
  EXPECT_TRUE(complete(run.output)) << run.output;
  const std::string report = report_of(run.output);
  const std::size_t frame0 = report.find("\n  #0 pc 0x");
  if (frame0 == std::string::npos) {
    ADD_FAILURE() << "no frame #0:\n" << report;
    return {};
  }
  return report.substr(frame0 + 1, report.find('\n', frame0 + 1) - frame0 - 1);
}

TEST(ContractCrashModules, ACrashInCodeLoadedAfterInstallIsUnknownUntilRefreshModules) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
#if !defined(__x86_64__) && !defined(__aarch64__)
  GTEST_SKIP() << "no registers, no backtrace on this architecture";
#endif
  const std::string before = crash_in_plugin(false);
  EXPECT_EQ(before.substr(before.size() - 2), " ?") << before;
  const std::string after = crash_in_plugin(true);
  EXPECT_NE(after.find("libcontract_crash_plugin.so+0x"), std::string::npos) << after;
}

// "Old tables are kept (never freed) so that a crash during a refresh still reads a whole table":
// another thread refreshes without pause while this one crashes.
TEST(ContractCrashModules, ACrashDuringRefreshesReadsAWholeTable) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
#if !defined(__x86_64__) && !defined(__aarch64__)
  GTEST_SKIP() << "no registers, no backtrace on this architecture";
#endif
  const crash_run run = crash_in_child([](int fd) {
    crash::install(options_to(fd));
    std::atomic<int> refreshes{0};
    std::thread refresher([&] {
      for (;;) {
        crash::refresh_modules();
        refreshes.fetch_add(1);
      }
    });
    refresher.detach();
    while (refreshes.load() < 20) ::usleep(1000);
    null_dereference();
  });
  EXPECT_TRUE(killed_by(run.status, SIGSEGV)) << describe(run);
  EXPECT_TRUE(complete(run.output)) << run.output;
  EXPECT_NE(report_of(run.output).find("/contract_crash_test+0x"), std::string::npos) << run.output;
}

TEST(ContractCrashModules, RefreshModulesBeforeInstallDoesNothing) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
  SIGRELAY_IN_CHILD([] {
    const sigrelay::test::signal_state before = snapshot();
    crash::refresh_modules();
    EXPECT_FALSE(crash::installed());
    EXPECT_EQ(differences(before, snapshot()), "");
    crash::install(options_to(-1));
    EXPECT_TRUE(crash::installed());
  });
}

// --- Errors -------------------------------------------------------------------------------------------

// SIGTERM is among the failure signals of other crash handlers (a "failure signal handler" reports
// it too); here it is refused, on purpose: it is a request to terminate, relayed by
// termination.hpp, not a crash.
// "std::errc::invalid_argument (message names the signal) for a signal outside the fatal set ... On
// error nothing was installed (the signal dispositions are as they were)", in both overloads; a
// later good install() is not refused as a second one.
TEST(ContractCrashErrors, EachRefusedSignalIsNamedAndNothingIsInstalled) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
  SIGRELAY_IN_CHILD([] {
    struct sigaction mine {};
    mine.sa_handler = [](int) {};
    sigemptyset(&mine.sa_mask);
    ASSERT_EQ(::sigaction(SIGSEGV, &mine, nullptr), 0);
    const sigrelay::test::signal_state before = snapshot();
    const struct {
      int signo;
      const char* name;
    } refused[] = {{SIGKILL, "SIGKILL"},
                   {SIGUSR1, "SIGUSR1"},
                   {SIGXCPU, "SIGXCPU"},
                   {SIGTERM, "SIGTERM"},
                   {0, "0"},
                   {-1, "-1"},
                   {65, "65"}};
    for (const auto& r : refused) {
      crash::options opts = options_to(-1);
      opts.signals = {SIGSEGV, SIGBUS, r.signo};
      std::error_code code;
      const std::string what = install_error(opts, code);
      EXPECT_EQ(code, std::errc::invalid_argument) << r.name << ": " << what;
      EXPECT_NE(what.find(r.name), std::string::npos) << what;
      std::error_code ec;
      crash::install(opts, ec);
      EXPECT_EQ(ec, std::errc::invalid_argument) << r.name;
      EXPECT_FALSE(crash::installed());
      EXPECT_EQ(differences(before, snapshot()), "") << r.name;
    }
    std::error_code ec;
    crash::install(options_to(-1), ec);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_TRUE(crash::installed());
  });
}

// "a max_frames outside 1..256" is invalid_argument; 256 itself is accepted.
TEST(ContractCrashErrors, MaxFramesOutside1To256IsRefused) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
  SIGRELAY_IN_CHILD([] {
    const sigrelay::test::signal_state before = snapshot();
    for (unsigned frames : {0U, 257U, 100000U}) {
      crash::options opts = options_to(-1);
      opts.max_frames = frames;
      std::error_code code;
      const std::string what = install_error(opts, code);
      EXPECT_EQ(code, std::errc::invalid_argument) << frames << ": " << what;
      EXPECT_NE(what.find("max_frames"), std::string::npos) << what;
      std::error_code ec;
      crash::install(opts, ec);
      EXPECT_EQ(ec, std::errc::invalid_argument) << frames;
      EXPECT_FALSE(crash::installed());
      EXPECT_EQ(differences(before, snapshot()), "") << frames;
    }
    crash::options opts = options_to(-1);
    opts.max_frames = 256;
    std::error_code ec;
    crash::install(opts, ec);
    EXPECT_FALSE(ec) << ec.message();
  });
}

// "or the error of open() ...; the message names the signal or the step": a file in a directory that
// does not exist.
TEST(ContractCrashErrors, AFileThatCannotBeOpenedIsReportedAndNothingIsInstalled) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
  SIGRELAY_IN_CHILD([] {
    const sigrelay::test::signal_state before = snapshot();
    crash::options opts = options_to(-1);
    opts.file = "/nonexistent-contract-crash-dir/report.txt";
    std::error_code code;
    const std::string what = install_error(opts, code);
    EXPECT_EQ(code, std::errc::no_such_file_or_directory) << what;
    EXPECT_NE(what.find("open"), std::string::npos) << what;
    EXPECT_NE(what.find(opts.file), std::string::npos) << what;
    EXPECT_FALSE(crash::installed());
    EXPECT_EQ(differences(before, snapshot()), "");
    std::error_code ec;
    crash::install(options_to(-1), ec);
    EXPECT_FALSE(ec) << ec.message();
  });
}

int open_fd_count() {
  int n = 0;
  for (int fd = 0; fd < 1024; ++fd) n += ::fcntl(fd, F_GETFD) >= 0 ? 1 : 0;
  return n;
}

// "timer_create() (EAGAIN, an exhausted RLIMIT_SIGPENDING, is retried for 2 s first)": with the
// limit at 0 the watchdog's timer cannot be created: EAGAIN after the retries, the message names the
// step, the file already opened is closed again, nothing is installed; without a watchdog the same
// install() succeeds.
TEST(ContractCrashErrors, AWatchdogThatCannotBeCreatedIsReportedAndUndone) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
  temp_dir dir;
  ASSERT_FALSE(dir.path.empty());
  const std::string file = dir.path + "/report.txt";
  SIGRELAY_IN_CHILD([&] {
    const struct rlimit none { 0, 0 };
    ASSERT_EQ(::setrlimit(RLIMIT_SIGPENDING, &none), 0);
    timer_t probe{};
    struct sigevent event {};
    event.sigev_notify = SIGEV_SIGNAL;
    event.sigev_signo = SIGKILL;
    if (::timer_create(CLOCK_MONOTONIC, &event, &probe) == 0) {
      ::timer_delete(probe);
      GTEST_SKIP() << "timer_create() does not fail at RLIMIT_SIGPENDING 0 here";
    }
    const sigrelay::test::signal_state before = snapshot();
    const int fds = open_fd_count();
    crash::options opts = options_to(-1);
    opts.file = file;
    std::error_code code;
    const auto start = std::chrono::steady_clock::now();
    const std::string what = install_error(opts, code);
    EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(1500));
    EXPECT_EQ(code, std::errc::resource_unavailable_try_again) << what;
    EXPECT_NE(what.find("timer_create"), std::string::npos) << what;
    EXPECT_EQ(open_fd_count(), fds);
    EXPECT_FALSE(crash::installed());
    EXPECT_EQ(differences(before, snapshot()), "");
    opts.watchdog_seconds = 0;
    std::error_code ec;
    crash::install(opts, ec);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(open_fd_count(), fds + 1);
  });
}

#if SIGRELAY_TEST_FAULT_HOOK
std::atomic<long> g_sigaction_calls{0};
std::atomic<long> g_fail_sigaction_at{-1};

int fail_one_sigaction(sigrelay::detail::sys::call c) noexcept {
  if (c != sigrelay::detail::sys::call::sigaction) return 0;
  return g_sigaction_calls.fetch_add(1) == g_fail_sigaction_at.load() ? EINVAL : 0;
}

void set_disposition(int signo, void (*handler)(int), int flags, int masked) {
  struct sigaction sa {};
  sa.sa_handler = handler;
  sa.sa_flags = flags;
  sigemptyset(&sa.sa_mask);
  if (masked != 0) sigaddset(&sa.sa_mask, masked);
  ASSERT_EQ(::sigaction(signo, &sa, nullptr), 0);
}

// "or the error of ... add_action(); the message names the signal or the step. On error nothing was
// installed (the signal dispositions are as they were ...)". Each sigaction() that install() makes
// fails in turn (one per attempt, the k-th): every earlier disposition (a handler with its flags and
// mask, SIG_IGN, SA_RESETHAND) is back exactly, the file and the timer are given back, and the
// failed attempts do not count as the one install.
TEST(ContractCrashErrors, AFailedSigactionAtAnyStepLeavesEveryDispositionAsItWas) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
  temp_dir dir;
  ASSERT_FALSE(dir.path.empty());
  const std::string file = dir.path + "/report.txt";
  SIGRELAY_IN_CHILD([&] {
    set_disposition(
        SIGSEGV, [](int) {}, SA_RESTART | SA_ONSTACK, SIGUSR1);
    set_disposition(SIGBUS, SIG_IGN, 0, 0);
    set_disposition(
        SIGFPE, [](int) {}, SA_RESETHAND | SA_NODEFER, SIGUSR2);
    const sigrelay::test::signal_state before = snapshot();
    const int fds = open_fd_count();
    crash::options opts = options_to(-1);
    opts.file = file;
    bool done = false;
    for (long k = 0; k < 100 && !done; ++k) {
      g_sigaction_calls.store(0);
      g_fail_sigaction_at.store(k);
      sigrelay::detail::sys::fault_hook.store(fail_one_sigaction);
      std::error_code code;
      const std::string what = install_error(opts, code);
      sigrelay::detail::sys::fault_hook.store(nullptr);
      if (!code) {
        done = true;
        EXPECT_GE(k, 7) << "one sigaction() at least for each of the seven signals";
        std::printf("install() made %ld sigaction() calls\n", k);
        break;
      }
      EXPECT_EQ(code, std::errc::invalid_argument) << "sigaction call " << k << ": " << what;
      EXPECT_NE(what.find("SIG"), std::string::npos) << what;
      EXPECT_FALSE(crash::installed());
      EXPECT_EQ(differences(before, snapshot()), "") << "sigaction call " << k << " failed: " << what;
      EXPECT_EQ(open_fd_count(), fds) << "sigaction call " << k;
    }
    EXPECT_TRUE(done);
    EXPECT_TRUE(crash::installed());
  });
}
#endif

// "install() fails with std::errc::device_or_resource_busy if it was called before", whatever the
// options of the second call (even bad ones), and changes nothing.
TEST(ContractCrashErrors, ASecondInstallIsBusyAndChangesNothing) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
  SIGRELAY_IN_CHILD([] {
    crash::install(options_to(-1));
    const sigrelay::test::signal_state before = snapshot();
    const stack_t alt = current_alternate_stack();
    crash::options other = options_to(-1);
    other.signals = {SIGSEGV};
    other.alt_stack_size = std::size_t{1} << 20;
    std::error_code code;
    install_error(other, code);
    EXPECT_EQ(code, std::errc::device_or_resource_busy);
    std::error_code ec;
    crash::install(other, ec);
    EXPECT_EQ(ec, std::errc::device_or_resource_busy);
    EXPECT_EQ(differences(before, snapshot()), "");
    EXPECT_EQ(current_alternate_stack().ss_sp, alt.ss_sp);
    EXPECT_TRUE(crash::installed());
  });
}

// "the std::error_code overloads report the same errors": a success clears an error left in the
// caller's error_code, for install() and prepare_thread() alike.
TEST(ContractCrashErrors, TheErrorCodeOverloadsClearAStaleErrorOnSuccess) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
  SIGRELAY_IN_CHILD([] {
    std::error_code ec = std::make_error_code(std::errc::interrupted);
    crash::install(options_to(-1), ec);
    EXPECT_FALSE(ec) << ec.message();
    ec = std::make_error_code(std::errc::interrupted);
    crash::prepare_thread(ec);  // already prepared by install()
    EXPECT_FALSE(ec) << ec.message();
    on_thread([] {
      std::error_code thread_ec = std::make_error_code(std::errc::interrupted);
      crash::prepare_thread(thread_ec);  // a new record
      EXPECT_FALSE(thread_ec) << thread_ec.message();
    });
  });
}

// "Once per process" and "may be called from any thread, concurrently": two threads install at once;
// exactly one succeeds, the other gets device_or_resource_busy.
TEST(ContractCrashErrors, TwoConcurrentInstallsOneWins) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
  SIGRELAY_IN_CHILD([] {
    std::atomic<bool> go{false};
    std::error_code results[2];
    std::thread a([&] {
      while (!go.load()) {
      }
      crash::install(options_to(-1), results[0]);
    });
    std::thread b([&] {
      while (!go.load()) {
      }
      crash::install(options_to(-1), results[1]);
    });
    go.store(true);
    a.join();
    b.join();
    EXPECT_EQ((results[0] ? 1 : 0) + (results[1] ? 1 : 0), 1)
        << results[0].message() << " / " << results[1].message();
    for (const std::error_code& r : results) {
      if (r) {
        EXPECT_EQ(r, std::errc::device_or_resource_busy);
      }
    }
    EXPECT_TRUE(crash::installed());
  });
}

// --- Chaining -----------------------------------------------------------------------------------------

std::atomic<int> g_usr1_blocked_in_previous{-1};

void previous_checks_its_mask(int, siginfo_t*, void*) {
  sigset_t now;
  pthread_sigmask(SIG_BLOCK, nullptr, &now);
  g_usr1_blocked_in_previous.store(sigismember(&now, SIGUSR1));
  const char line[] = "previous handler ran\n";
  if (::write(STDERR_FILENO, line, sizeof line - 1) < 0) return;
}

// "With call_previous_handler, the handler that was installed for the signal before install() runs,
// as the kernel would have run it": with its sa_mask blocked, and with the crash's siginfo.
std::atomic<std::uintptr_t> g_previous_si_addr{1};

TEST(ContractCrashChain, ThePreviousHandlerRunsWithItsOwnMaskAndTheCrashsInfo) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
  const crash_run run = crash_in_child([](int fd) {
    ::dup2(fd, STDERR_FILENO);
    struct sigaction sa {};
    sa.sa_sigaction = [](int signo, siginfo_t* info, void* uc) {
      g_previous_si_addr.store(reinterpret_cast<std::uintptr_t>(info->si_addr));
      previous_checks_its_mask(signo, info, uc);
      char line[] = "usr1 blocked 0, si_addr 0\n";
      line[13] = static_cast<char>('0' + (g_usr1_blocked_in_previous.load() == 1 ? 1 : 0));
      line[24] = static_cast<char>('0' + (g_previous_si_addr.load() == 0 ? 0 : 1));
      if (::write(STDERR_FILENO, line, sizeof line - 1) < 0) return;
    };
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGUSR1);
    ASSERT_EQ(::sigaction(SIGSEGV, &sa, nullptr), 0);
    crash::options opts = options_to(fd);
    opts.call_previous_handler = true;
    crash::install(opts);
    null_dereference();
  });
  EXPECT_TRUE(killed_by(run.status, SIGSEGV)) << describe(run);
  EXPECT_TRUE(complete(run.output)) << run.output;
  const std::size_t ran = run.output.find("previous handler ran\n");
  ASSERT_NE(ran, std::string::npos) << run.output;
  EXPECT_GT(ran, run.output.find(kEnd)) << run.output;
  EXPECT_NE(run.output.find("usr1 blocked 1, si_addr 0\n"), std::string::npos) << run.output;
}

// "The report is over by then: the watchdog is disarmed ... before it runs, because that handler
// belongs to other code, which may take its time": a chained handler that outlasts the watchdog is
// not SIGKILLed; when it returns the process dies by the original signal.
TEST(ContractCrashChain, AChainedHandlerMayOutlastTheWatchdog) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
  const crash_run run = crash_in_child([](int fd) {
    struct sigaction sa {};
    sa.sa_sigaction = [](int, siginfo_t*, void*) {
      struct timespec pause {
        2, 500 * 1000 * 1000
      };
      while (::nanosleep(&pause, &pause) != 0 && errno == EINTR) {
      }
      say(g_report_fd.load(), "slow previous handler returns\n");
    };
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    ASSERT_EQ(::sigaction(SIGFPE, &sa, nullptr), 0);
    g_report_fd.store(fd);
    crash::options opts = options_to(fd);
    opts.call_previous_handler = true;
    opts.watchdog_seconds = 1;
    crash::install(opts);
    ::raise(SIGFPE);
  });
  EXPECT_TRUE(killed_by(run.status, SIGFPE)) << describe(run);
  EXPECT_TRUE(complete(run.output)) << run.output;
  EXPECT_NE(run.output.find(kEnd + "slow previous handler returns\n"), std::string::npos) << run.output;
}

// A signal named twice in options::signals: one report, and the earlier handler (chained) runs
// once, not once per name; the death is by the signal.
TEST(ContractCrashChain, ASignalNamedTwiceIsReportedAndChainedOnce) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
  const crash_run run = crash_in_child([](int fd) {
    g_report_fd.store(fd);
    struct sigaction sa {};
    sa.sa_sigaction = [](int, siginfo_t*, void*) { say(g_report_fd.load(), "previous handler ran\n"); };
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    ASSERT_EQ(::sigaction(SIGSEGV, &sa, nullptr), 0);
    crash::options opts = options_to(fd);
    opts.signals = {SIGSEGV, SIGABRT, SIGSEGV};
    opts.call_previous_handler = true;
    std::error_code ec;
    crash::install(opts, ec);
    if (ec) {  // refusing the repetition would do too, if it left everything as it was
      say(fd, "refused\n");
      ::_exit(0);
    }
    null_dereference();
  });
  if (run.output == "refused\n") {
    EXPECT_TRUE(exited_with(run.status, 0)) << describe(run);
    return;
  }
  EXPECT_TRUE(killed_by(run.status, SIGSEGV)) << describe(run);
  EXPECT_TRUE(complete(run.output)) << run.output;
  EXPECT_EQ(count(run.output, "previous handler ran\n"), 1U) << run.output;
}

sigjmp_buf g_probe;

// A probe (the chained handler recovers by siglongjmp) in a process whose report fd's reader is gone:
// the report's SIGPIPE must not outlive the report and kill the recovered process.
TEST(ContractCrashChain, ARecoveredProbeIsNotKilledByTheReportsSigpipe) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
  const crash_run run = crash_in_child([](int fd) {
    g_report_fd.store(fd);
    int p[2];
    ASSERT_EQ(::pipe(p), 0);
    ::close(p[0]);
    struct sigaction sa {};
    sa.sa_sigaction = [](int, siginfo_t*, void*) { siglongjmp(g_probe, 1); };
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    ASSERT_EQ(::sigaction(SIGSEGV, &sa, nullptr), 0);
    crash::options opts = options_to(p[1]);
    opts.call_previous_handler = true;
    crash::install(opts);
    if (sigsetjmp(g_probe, 1) == 0) null_dereference();
    say(fd, "recovered\n");
    ::usleep(100 * 1000);  // a pending SIGPIPE would have killed by now
    say(fd, "still running\n");
    ::_exit(0);
  });
  EXPECT_TRUE(exited_with(run.status, 0)) << describe(run);
  EXPECT_EQ(run.output, "recovered\nstill running\n");
}

std::atomic<int> g_chain_step{0};

// "A crash on another thread while it runs gets a report of its own": the first crasher's chained
// handler waits while a second thread crashes; both reports are whole, one after the other.
TEST(ContractCrashChain, ACrashOnAnotherThreadWhileTheChainedHandlerRunsGetsItsOwnReport) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
  const crash_run run = crash_in_child([](int fd) {
    struct sigaction sa {};
    sa.sa_sigaction = [](int, siginfo_t*, void*) {
      g_chain_step.store(1);  // the second thread may crash now
      for (int i = 0; i < 10000 && g_chain_step.load() != 2; ++i) ::usleep(1000);
    };
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    ASSERT_EQ(::sigaction(SIGABRT, &sa, nullptr), 0);
    crash::options opts = options_to(fd);
    opts.call_previous_handler = true;
    opts.second_crasher_wait = 30;
    crash::install(opts);
    std::thread second([] {
      crash::prepare_thread();
      while (g_chain_step.load() != 1) ::usleep(1000);
      null_dereference();
    });
    ::raise(SIGABRT);
    ::sleep(30);
  });
  EXPECT_TRUE(killed_by(run.status, SIGSEGV)) << describe(run);
  EXPECT_EQ(count(run.output, kHeader), 2U) << run.output;
  EXPECT_EQ(count(run.output, kEnd), 2U) << run.output;
  const std::size_t second = run.output.find(kHeader, 1);
  ASSERT_NE(second, std::string::npos) << run.output;
  EXPECT_GT(second, run.output.find(kEnd)) << run.output;  // one after the other
  EXPECT_NE(run.output.find("\nsignal: SIGABRT (6)"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("\nsignal: SIGSEGV (11)", second), std::string::npos) << run.output;
}

}  // namespace
