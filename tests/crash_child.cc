// SPDX-License-Identifier: MIT
// tests/crash_child.cc — a program that installs sigrelay's crash handler and then crashes the way
// its first argument names. tests/crash_test.cc runs it as a real process and reads its report.
//
//   crash_child SCENARIO [--file PATH] [--chain|--previous] [--core] [--no-install]
//
// Scenarios (each one's crashing function has a distinctive name, for the symbolizer test):
//   null             write through a null pointer (SIGSEGV, SEGV_MAPERR)   crash_null_dereference
//   stack_overflow   unbounded recursion on the main thread (SIGSEGV)       crash_recurse
//   thread_overflow  the same on a thread that called prepare_thread()      crash_recurse
//   abort            abort() (SIGABRT)                                      crash_abort
//   div_zero         integer division by zero (SIGFPE, FPE_INTDIV)          crash_divide
//   trap             __builtin_trap() (SIGILL on x86-64, SIGTRAP on AArch64) crash_trap
//   bus              read past the end of a truncated mmap()ed file (SIGBUS) crash_bus
//   two_threads      two prepared threads write through null at once
//   hook_fault       abort(), and the user hook writes through null
//   hook_hang        abort(), and the user hook never returns (1 s watchdog)
//   wait             prints "ready" and waits to be sent a signal
//   recover          a probe: a null write whose earlier SIGSEGV handler (chained, 1 s watchdog) leaves by
//                    siglongjmp; prints "recovered", sleeps 2 s, then writes through null again, and
//                    that time the earlier handler returns
//   chained_fault    abort(), and the chained earlier SIGABRT handler writes through null
// Options: --file PATH also writes the report to PATH; --chain installs a SA_SIGINFO handler before
// sigrelay that writes "previous handler: <signal number>" and returns, and installs with
// call_previous_handler; --previous installs that handler but not call_previous_handler; --core raises
// RLIMIT_CORE to 64 MiB and chdirs to $CRASH_CHILD_CORE_DIR;
// --no-install crashes without sigrelay (to compare). Exits 2 on bad usage, 3 if it did not crash.
#include <fcntl.h>
#include <setjmp.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "sigrelay/crash.hpp"

namespace {

volatile int* volatile g_null = nullptr;
volatile int g_zero = 0;
volatile bool g_forever = true;

// UBSan would stop the null store and the division itself (-fno-sanitize-recover): the crashes must
// reach the processor.
#define CRASH_CHILD_REAL_FAULT __attribute__((noinline, no_sanitize("undefined")))

extern "C" CRASH_CHILD_REAL_FAULT void crash_null_dereference() {
  *g_null = 42;
  std::puts("not reached");
}

extern "C" __attribute__((noinline)) int crash_recurse(int depth) {
  volatile char pad[512];
  pad[0] = static_cast<char>(depth);
  if (g_forever) return crash_recurse(depth + 1) + pad[0];
  return pad[0];
}

// Called through a volatile pointer: a direct call to a noreturn function lets an optimiser drop this
// function's frame record, and the symbolizer test looks for this frame.
void (*volatile g_abort)() = std::abort;
extern "C" __attribute__((noinline)) void crash_abort() { g_abort(); }

extern "C" CRASH_CHILD_REAL_FAULT int crash_divide(int n) { return n / g_zero; }

extern "C" __attribute__((noinline)) void crash_trap() { __builtin_trap(); }

extern "C" __attribute__((noinline)) int crash_bus() {
  char path[] = "/tmp/crash_child_busXXXXXX";
  const int fd = ::mkstemp(path);
  if (fd < 0) return -1;
  ::unlink(path);
  const long page = ::sysconf(_SC_PAGESIZE);
  if (::ftruncate(fd, page) != 0) return -1;
  void* map = ::mmap(nullptr, static_cast<std::size_t>(page), PROT_READ, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED) return -1;
  if (::ftruncate(fd, 0) != 0) return -1;  // the mapped page now lies past the end of the file
  return *static_cast<volatile char*>(map);
}

// Signal context: write(2) only (the hooks below too).
void say(int fd, const char* text) noexcept {
  if (::write(fd, text, std::strlen(text)) < 0) return;
}
CRASH_CHILD_REAL_FAULT void hook_that_faults(int fd, const siginfo_t&, void*) noexcept {
  say(fd, "hook: about to fault\n");
  *g_null = 1;
}
void hook_that_hangs(int fd, const siginfo_t&, void*) noexcept {
  say(fd, "hook: hanging\n");
  for (;;) ::pause();
}

// Signal context: write(2) only.
void previous_handler(int signo, siginfo_t*, void*) {
  char line[] = "previous handler: 00\n";
  line[18] = static_cast<char>('0' + signo / 10 % 10);
  line[19] = static_cast<char>('0' + signo % 10);
  say(2, line);
}

// The probe of the recover scenario: the first fault leaves by siglongjmp, the second returns.
sigjmp_buf g_probe;
volatile sig_atomic_t g_probe_faults = 0;
void probe_handler(int signo, siginfo_t* info, void* uc) {
  if (++g_probe_faults == 1) siglongjmp(g_probe, 1);
  previous_handler(signo, info, uc);
}

// The chained SIGABRT handler of the chained_fault scenario.
CRASH_CHILD_REAL_FAULT void faulting_previous_handler(int, siginfo_t*, void*) {
  say(2, "previous handler: about to fault\n");
  *g_null = 1;
}

void install_previous(void (*handler)(int, siginfo_t*, void*), int signo) {
  struct sigaction sa {};
  sa.sa_sigaction = handler;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  sigaction(signo, &sa, nullptr);
}

void two_threads() {
  std::atomic<int> ready{0};
  auto body = [&ready] {
    sigrelay::crash::prepare_thread();
    ready.fetch_add(1);
    while (ready.load() < 2) {
    }
    crash_null_dereference();
  };
  std::thread a(body);
  std::thread b(body);
  a.join();
  b.join();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: crash_child SCENARIO [--file PATH] [--chain|--previous] [--core] [--no-install]\n");
    return 2;
  }
  const std::string scenario = argv[1];
  sigrelay::crash::options opts;
  bool install = true;
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--file" && i + 1 < argc) {
      opts.file = argv[++i];
    } else if (arg == "--chain" || arg == "--previous") {
      struct sigaction sa {};
      sa.sa_sigaction = previous_handler;
      sa.sa_flags = SA_SIGINFO;
      sigemptyset(&sa.sa_mask);
      for (int s : {SIGSEGV, SIGABRT, SIGFPE}) sigaction(s, &sa, nullptr);
      opts.call_previous_handler = arg == "--chain";
    } else if (arg == "--core") {
      const struct rlimit core { 64UL << 20, 64UL << 20 };
      if (setrlimit(RLIMIT_CORE, &core) != 0) return 2;
      const char* dir = std::getenv("CRASH_CHILD_CORE_DIR");
      if (dir == nullptr || chdir(dir) != 0) return 2;
    } else if (arg == "--no-install") {
      install = false;
    } else {
      std::fprintf(stderr, "crash_child: unknown option %s\n", arg.c_str());
      return 2;
    }
  }
  if (scenario == "hook_fault") opts.hook = hook_that_faults;
  if (scenario == "hook_hang") {
    opts.hook = hook_that_hangs;
    opts.watchdog_seconds = 1;
  }
  if (scenario == "recover") {
    install_previous(probe_handler, SIGSEGV);
    opts.call_previous_handler = true;
    opts.watchdog_seconds = 1;
  }
  if (scenario == "chained_fault") {
    install_previous(faulting_previous_handler, SIGABRT);
    opts.call_previous_handler = true;
  }
  if (install) sigrelay::crash::install(opts);

  if (scenario == "null") {
    crash_null_dereference();
  } else if (scenario == "stack_overflow") {
    crash_recurse(0);
  } else if (scenario == "thread_overflow") {
    std::thread t([] {
      sigrelay::crash::prepare_thread();
      crash_recurse(0);
    });
    t.join();
  } else if (scenario == "abort" || scenario == "hook_fault" || scenario == "hook_hang") {
    crash_abort();
  } else if (scenario == "div_zero") {
    std::printf("%d\n", crash_divide(1));
  } else if (scenario == "trap") {
    crash_trap();
  } else if (scenario == "bus") {
    std::printf("%d\n", crash_bus());
  } else if (scenario == "two_threads") {
    two_threads();
  } else if (scenario == "recover") {
    if (sigsetjmp(g_probe, 1) == 0) crash_null_dereference();
    say(2, "recovered\n");
    ::sleep(2);  // past the watchdog's second
    crash_null_dereference();
  } else if (scenario == "chained_fault") {
    crash_abort();
  } else if (scenario == "wait") {
    std::printf("ready\n");
    std::fflush(stdout);
    for (;;) ::pause();
  } else {
    std::fprintf(stderr, "crash_child: unknown scenario %s\n", scenario.c_str());
    return 2;
  }
  return 3;
}
