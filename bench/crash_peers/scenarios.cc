// SPDX-License-Identifier: MIT
// bench/crash_peers/scenarios.cc — the crash driver shared by every crash_<peer> program.
//
// Not part of the library or of its test suite: a comparison bench (see bench/crash_peers/run).
// Each scenario prepares what it needs first (threads, a truncated mapping), then calls
// mark_crashing() and faults at once, so that the shim's counts after the mark belong to the crash
// reporter alone. The crashing functions are extern "C" and noinline: the runner looks for their
// names (or their module + offset) in the reports.
#include "scenarios.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

// Defined by the LD_PRELOAD shim (shim.cc) when it is loaded; null otherwise.
extern "C" __attribute__((weak)) void crash_peers_shim_mark();

namespace {

void mark_crashing() {
  if (crash_peers_shim_mark != nullptr) crash_peers_shim_mark();
}

volatile int overflow_limit = INT_MAX;  // never reached: keeps the recursion from being "infinite"
volatile int sink;

}  // namespace

extern "C" {

__attribute__((noinline)) void crash_null() {
  volatile int* volatile p = nullptr;
  mark_crashing();
  *p = 42;
}

__attribute__((noinline)) int crash_overflow(int depth) {
  volatile char pad[512];
  pad[depth % 512] = static_cast<char>(depth);
  if (depth == overflow_limit) return 0;
  int r = crash_overflow(depth + 1);  // not a tail call: the result is used below
  return r + pad[(depth * 7) % 512];
}

// Called through a volatile pointer, so that the compiler does not know it never returns: the call is
// then not crash_abort's last instruction, and its return address stays inside crash_abort (an
// unwinder that does not subtract 1 from return addresses would name the next function otherwise).
void (*volatile abort_function)() = std::abort;

__attribute__((noinline)) void crash_abort() {
  mark_crashing();
  abort_function();
  sink = 1;
}

__attribute__((noinline)) void crash_divzero() {
  volatile int dividend = 1000;  // both volatile: the compiler must emit idiv (1 / x has a shortcut)
  volatile int zero = 0;
  int a = dividend;
  int b = zero;
  mark_crashing();
  sink = a / b;
}

__attribute__((noinline)) void crash_trap() {
  mark_crashing();
  __builtin_trap();
}

__attribute__((noinline)) void crash_bus(const volatile char* beyond_eof) {
  mark_crashing();
  sink = beyond_eof[0];
}

__attribute__((noinline)) void crash_thread_one() {
  volatile int* volatile p = nullptr;
  mark_crashing();
  *p = 1;
}

__attribute__((noinline)) void crash_thread_two() {
  volatile int* volatile p = nullptr;
  mark_crashing();
  *p = 2;
}

__attribute__((noinline)) void crash_hook_trigger() {
  volatile int* volatile p = nullptr;
  mark_crashing();
  *p = 3;
}

}  // extern "C"

namespace crash_peers {
namespace {

struct scenario {
  const char* name;
  const char* signal;     // the signal the crash raises
  const char* functions;  // the crashing function(s), space-separated
  const char* what;
  int (*run)();
};

int run_null() {
  crash_null();
  return 1;
}

const peer* current = nullptr;  // the peer being run

void thread_started() {
  if (current->on_thread_start != nullptr) current->on_thread_start();
}

void overflow() {
  mark_crashing();
  sink = crash_overflow(0);
}

void* overflow_thread(void*) {
  thread_started();
  overflow();
  return nullptr;
}

int run_overflow() {
  overflow();
  return 1;
}

int run_overflow_thread() {
  pthread_t t;
  if (pthread_create(&t, nullptr, overflow_thread, nullptr) != 0) return 2;
  pthread_join(t, nullptr);
  return 1;
}

int run_abort() {
  crash_abort();
  return 1;
}

int run_divzero() {
  crash_divzero();
  return 1;
}

int run_trap() {
  crash_trap();
  return 1;
}

int run_bus() {
  // A shared mapping of two pages over a file truncated to zero afterwards: reading it is SIGBUS
  // (BUS_ADRERR), the classic "file shrank under mmap" crash.
  char path[] = "crash_bus_XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) return 2;
  unlink(path);
  long page = sysconf(_SC_PAGESIZE);
  if (ftruncate(fd, 2 * page) != 0) return 2;
  void* m = mmap(nullptr, static_cast<size_t>(2 * page), PROT_READ, MAP_SHARED, fd, 0);
  if (m == MAP_FAILED) return 2;
  if (ftruncate(fd, 0) != 0) return 2;
  crash_bus(static_cast<const volatile char*>(m) + page);
  return 1;
}

std::atomic<int> ready{0};

void* thread_one(void*) {
  pthread_setname_np(pthread_self(), "crasher-one");
  thread_started();
  ready.fetch_add(1);
  while (ready.load() < 2) {
  }
  crash_thread_one();
  return nullptr;
}

void* thread_two(void*) {
  pthread_setname_np(pthread_self(), "crasher-two");
  thread_started();
  ready.fetch_add(1);
  while (ready.load() < 2) {
  }
  crash_thread_two();
  return nullptr;
}

int run_two_threads() {
  // Both threads spin until the other is ready, then fault within a few instructions of each other.
  pthread_t a, b;
  if (pthread_create(&a, nullptr, thread_one, nullptr) != 0) return 2;
  if (pthread_create(&b, nullptr, thread_two, nullptr) != 0) return 2;
  pthread_join(a, nullptr);
  pthread_join(b, nullptr);
  return 1;
}

int run_hook_fault() {
  crash_hook_trigger();
  return 1;
}

const scenario scenarios[] = {
    {"null", "SIGSEGV", "crash_null", "null pointer dereference", run_null},
    {"overflow", "SIGSEGV", "crash_overflow", "stack overflow by recursion, main thread", run_overflow},
    {"overflow-thread", "SIGSEGV", "crash_overflow",
     "stack overflow by recursion, a thread started after install", run_overflow_thread},
    {"abort", "SIGABRT", "crash_abort", "abort()", run_abort},
    {"divzero", "SIGFPE", "crash_divzero", "integer division by zero", run_divzero},
    {"trap", "SIGILL", "crash_trap", "__builtin_trap()", run_trap},
    {"bus", "SIGBUS", "crash_bus", "read beyond the end of a truncated mmap'd file", run_bus},
    {"two-threads", "SIGSEGV", "crash_thread_one crash_thread_two", "two threads dereference null at once",
     run_two_threads},
    {"hook-fault", "SIGSEGV", "crash_hook_trigger",
     "null dereference; the peer's user callback then faults too", run_hook_fault},
};

int usage(const char* argv0) {
  std::fprintf(stderr, "usage: %s SCENARIO | --describe | --after | --list\n", argv0);
  return 2;
}

}  // namespace

void faulting_hook_body() noexcept {
  static const char line[] = "crash_peers: user hook about to fault\n";
  (void)!write(STDERR_FILENO, line, sizeof line - 1);
  volatile int* volatile p = nullptr;
  *p = 4;
}

int main(int argc, char** argv, const peer& p) {
  if (argc != 2) return usage(argv[0]);
  const char* arg = argv[1];
  if (std::strcmp(arg, "--describe") == 0) {
    std::printf("name: %s\nwhat: %s\nhas_hook: %s\nreport_start: %s\nafter: %s\non_thread_start: %s\n",
                p.name, p.what, p.has_hook ? "yes" : "no", p.report_start, p.after != nullptr ? "yes" : "no",
                p.on_thread_start != nullptr ? "yes" : "no");
    return 0;
  }
  if (std::strcmp(arg, "--list") == 0) {
    for (const scenario& s : scenarios)
      std::printf("%s\t%s\t%s\t%s\n", s.name, s.signal, s.functions, s.what);
    return 0;
  }
  if (std::strcmp(arg, "--after") == 0) return p.after != nullptr ? p.after() : 0;
  for (const scenario& s : scenarios) {
    if (std::strcmp(arg, s.name) != 0) continue;
    bool hook = std::strcmp(s.name, "hook-fault") == 0;
    if (hook && !p.has_hook) {
      std::fprintf(stderr, "%s: no user callback to fault in (n/a)\n", p.name);
      return 77;
    }
    current = &p;
    p.install(install_args{argv[0], s.name, hook});
    return s.run();  // the scenario crashes; returning means it did not
  }
  return usage(argv[0]);
}

}  // namespace crash_peers
