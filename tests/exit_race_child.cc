// SPDX-License-Identifier: MIT
// tests/exit_race_child.cc — a program that ends while other threads flood it with signals, one
// scenario per run. tests/exit_race_test.cc runs it many times as a real process and checks how it
// ended: the scenario's exit code, never a crash, never a hang.
//
//   exit_race_child SCENARIO
//
// Scenarios (each one's flooders are started by main() and never stopped: they are still sending
// kill(), sigqueue() and tgkill() when main() returns and the static destructors run):
//   static_signals      function-local static `signals` objects (relay and signalfd backends) on
//                       SIGUSR1, SIGUSR2 and SIGRTMIN+1; main() returns 7 while the flood goes on.
//   static_dispatcher   a static dispatcher running callbacks on its background thread; returns 7.
//   static_termination  a static termination (SIGINT, SIGTERM) beside a static `signals` object on
//                       the flooded signals; returns 7 (the termination signals are not sent).
//   termination_flood   a static termination; SIGTERM is flooded; main() waits for the stop and
//                       returns 7: a second SIGTERM that arrives before the process is gone kills
//                       it by SIGTERM (before or after the object is destroyed).
//   exit_from_thread    main() waits in signals::wait() on a local object; a second thread calls
//                       exit(9) while a third floods.
//   exit_in_action      a registry action calls _exit(5) in signal context while three threads send.
//   exit_in_chained     a plain sigaction() handler, chained by sigrelay, calls _exit(5) likewise.
//   crash_at_exit       an atexit() handler installs the crash reporter during exit, with the flood
//                       on; main() returns 7.
//   crash_in_destructor the crash reporter is installed; a static destructor writes through null
//                       during exit, with the flood on: one report, death by SIGSEGV.
//
// The flooded signals are SIG_IGN before sigrelay sees them (set first thing in main()), so that a
// delivery after the last sigrelay object is gone is ignored, as it would be without sigrelay.
// Exits 2 on bad usage, 3 when a scenario got past the point where it should have ended.
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "sigrelay/crash.hpp"
#include "sigrelay/dispatcher.hpp"
#include "sigrelay/registry.hpp"
#include "sigrelay/signals.hpp"
#if __cplusplus >= 202002L && __has_include(<stop_token>)  // what termination.hpp requires
#include "sigrelay/termination.hpp"
#endif
#include "support/flood_limit.hpp"

namespace {

std::atomic<std::uint64_t> g_sent{0};

// RLIMIT_SIGPENDING as the process started, before main() capped it for the flood. crash::install()
// preallocates its watchdog's signal (timer_create), which the kernel checks against this process's
// limit: the crash scenarios install with the whole allowance, as a process that floods nobody would.
struct rlimit g_whole_pending_limit {};

// Runs `install` with the whole RLIMIT_SIGPENDING, then caps it again for the flood.
template <typename F>
void with_whole_pending_limit(F install) {
  ::setrlimit(RLIMIT_SIGPENDING, &g_whole_pending_limit);
  install();
  sigrelay::test::cap_pending_signals_for_a_flood();
}
std::atomic<pthread_t> g_main_thread{};

void ignore(int signo) {
  struct sigaction sa {};
  sa.sa_handler = SIG_IGN;
  sigemptyset(&sa.sa_mask);
  sigaction(signo, &sa, nullptr);
}

constexpr unsigned kBurst = 64;

// Sends forever, process-directed and thread-directed, standard and realtime, in bursts of kBurst
// with a 200 µs pause (some 200,000 signals a second per flooder). Detached: exit ends it.
void start_flooder(int seed, std::initializer_list<int> signos) {
  const std::vector<int> list(signos);
  std::thread([seed, list] {
    const pid_t pid = ::getpid();
    const pid_t main_tid = pid;
    for (unsigned i = static_cast<unsigned>(seed);; ++i) {
      const int signo = list[i % list.size()];
      switch (i % 3) {
        case 0: ::kill(pid, signo); break;
        case 1: {
          union sigval value {};
          value.sival_int = static_cast<int>(i);
          ::sigqueue(pid, signo, value);  // EAGAIN past RLIMIT_SIGPENDING: just go on
          break;
        }
        default: ::syscall(SYS_tgkill, pid, main_tid, signo); break;
      }
      g_sent.fetch_add(1, std::memory_order_relaxed);
      // Bursts, not a wall: a thread that the flood targets spends a few microseconds per delivery
      // (more than a send), so an unpaced flooder can keep it in its handler for ever, never
      // reaching the exit this test is about (main() sat in pthread_create() for minutes).
      if (i % kBurst == kBurst - 1) std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }).detach();
}

void wait_until_sent(std::uint64_t n) {
  while (g_sent.load(std::memory_order_relaxed) < n) std::this_thread::yield();
}

int rt1() { return SIGRTMIN + 1; }

int static_signals() {
  for (int s : {SIGUSR1, SIGUSR2, rt1()}) ignore(s);
  static sigrelay::signals relay{SIGUSR1, SIGUSR2, rt1()};
  static sigrelay::signals fd{{SIGUSR2, rt1()}, sigrelay::backend::signalfd};
  start_flooder(0, {SIGUSR1, SIGUSR2, rt1()});
  start_flooder(1, {SIGUSR1, SIGUSR2, rt1()});
  std::size_t got = 0;
  while (got < 3) got += relay.wait_for(std::chrono::milliseconds(10)).size() + fd.pending().size();
  return 7;
}

int static_dispatcher() {
  for (int s : {SIGUSR1, SIGUSR2, rt1()}) ignore(s);
  static std::atomic<int> calls{0};
  static sigrelay::dispatcher d;
  for (int s : {SIGUSR1, SIGUSR2, rt1()}) d.on(s, [](const sigrelay::signal_event&) { ++calls; });
  d.start();
  start_flooder(0, {SIGUSR1, SIGUSR2, rt1()});
  start_flooder(2, {SIGUSR1, SIGUSR2, rt1()});
  while (calls.load() < 3) std::this_thread::yield();
  return 7;
}

#if defined(SIGRELAY_HAS_TERMINATION)
int static_termination() {
  for (int s : {SIGUSR1, rt1()}) ignore(s);
  static sigrelay::termination term;
  static sigrelay::signals sigs{SIGUSR1, rt1()};
  start_flooder(0, {SIGUSR1, rt1()});
  start_flooder(1, {SIGUSR1, rt1()});
  while (sigs.wait_for(std::chrono::milliseconds(10)).empty()) {
  }
  return term.stop_requested() ? 3 : 7;
}

int termination_flood() {
  static sigrelay::termination term;
  start_flooder(0, {SIGTERM});
  while (!term.stop_requested()) std::this_thread::yield();
  return 7;  // a second SIGTERM kills, whether the object is still there or gone
}
#endif

int exit_from_thread() {
  for (int s : {SIGUSR1, SIGUSR2, rt1()}) ignore(s);
  static sigrelay::signals static_sigs{SIGUSR2};
  sigrelay::signals sigs{SIGUSR1, rt1()};
  start_flooder(0, {SIGUSR1, SIGUSR2, rt1()});
  std::thread([] {
    wait_until_sent(200);
    std::exit(9);  // NOLINT(concurrency-mt-unsafe): exit() racing the main thread is the scenario
  }).detach();
  for (;;) sigs.wait();
}

std::atomic<int> g_action_code{5};

// Signal context: the exit_group system call that _exit() makes. Not _exit() itself: AddressSanitizer
// calls __asan_handle_no_return() before any call to a noreturn function, which reads the thread's
// stack bounds through pthread_getattr_np() (getline(), so malloc()); in a handler that interrupted
// malloc() on the same thread (the drain's vector growing) that deadlocked on ASan's allocator lock,
// about 1 run in 40 under ASan, before any exit.
void exit_group(int code) noexcept { ::syscall(SYS_exit_group, code); }
// Signal context.
void exit_now(void*, const siginfo_t&) noexcept { exit_group(g_action_code.load()); }
// Signal context.
void count_it(void* context, const siginfo_t&) noexcept {
  static_cast<std::atomic<std::uint64_t>*>(context)->fetch_add(1, std::memory_order_relaxed);
}
// Signal context: the chained plain handler.
void plain_exit_handler(int) { exit_group(5); }

int exit_in(bool chained) {
  for (int s : {SIGUSR1, rt1()}) ignore(s);
  static std::atomic<std::uint64_t> counted{0};
  sigrelay::signals sigs{SIGUSR1, rt1()};
  sigrelay::add_action(SIGUSR2, sigrelay::action{count_it, &counted});
  if (chained) {
    // Installed before sigrelay's first action on SIGHUP, so sigrelay chains it.
    struct sigaction sa {};
    sa.sa_handler = plain_exit_handler;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGHUP, &sa, nullptr);
    sigrelay::add_action(SIGHUP, sigrelay::action{count_it, &counted});
  } else {
    sigrelay::add_action(SIGHUP, sigrelay::action{exit_now, nullptr});
  }
  start_flooder(0, {SIGUSR1, SIGUSR2, rt1()});
  start_flooder(1, {SIGUSR1, SIGUSR2, rt1()});
  // The senders of SIGHUP start once both are detached: ThreadSanitizer runs the handler (and so the
  // _exit) at the main thread's next intercepted call, which may be pthread_detach(), and reports a
  // finished thread that was never detached as leaked.
  static std::atomic<bool> go{false};
  std::thread([] {
    while (!go.load()) std::this_thread::yield();
    wait_until_sent(200);
    ::syscall(SYS_tgkill, ::getpid(), ::getpid(), SIGHUP);  // to the main thread, inside wait()
  }).detach();
  std::thread([] {
    while (!go.load()) std::this_thread::yield();
    wait_until_sent(300);
    ::kill(::getpid(), SIGHUP);
  }).detach();
  go.store(true);
  for (;;) sigs.wait();
}

int crash_at_exit() {
  for (int s : {SIGUSR1, rt1()}) ignore(s);
  static sigrelay::signals sigs{SIGUSR1, rt1()};
  std::atexit([] {
    std::error_code ec;
    with_whole_pending_limit([&] { sigrelay::crash::install({}, ec); });
    if (ec) {
      std::fprintf(stderr, "crash::install during exit: %s\n", ec.message().c_str());
      ::_exit(4);
    }
  });
  start_flooder(0, {SIGUSR1, rt1()});
  start_flooder(1, {SIGUSR1, rt1()});
  while (sigs.wait_for(std::chrono::milliseconds(10)).empty()) {
  }
  return 7;
}

volatile int* volatile g_null = nullptr;

struct faults_when_destroyed {
  // UBSan would stop the null store itself: the fault must reach the processor.
  __attribute__((noinline, no_sanitize("undefined"))) ~faults_when_destroyed() { *g_null = 1; }
};

int crash_in_destructor() {
  for (int s : {SIGUSR1, rt1()}) ignore(s);
  static sigrelay::signals sigs{SIGUSR1, rt1()};
  static faults_when_destroyed faults;  // destroyed before `sigs` (constructed after it)
  with_whole_pending_limit([] { sigrelay::crash::install(); });
  start_flooder(0, {SIGUSR1, rt1()});
  start_flooder(1, {SIGUSR1, rt1()});
  while (sigs.wait_for(std::chrono::milliseconds(10)).empty()) {
  }
  return 7;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: exit_race_child SCENARIO\n");
    return 2;
  }
  g_main_thread.store(::pthread_self());
  // Every scenario floods this process until the kernel refuses: leave the tests beside us their share.
  ::getrlimit(RLIMIT_SIGPENDING, &g_whole_pending_limit);
  sigrelay::test::cap_pending_signals_for_a_flood();
  const std::string scenario = argv[1];
  if (scenario == "static_signals") return static_signals();
  if (scenario == "static_dispatcher") return static_dispatcher();
#if defined(SIGRELAY_HAS_TERMINATION)
  if (scenario == "static_termination") return static_termination();
  if (scenario == "termination_flood") return termination_flood();
#endif
  if (scenario == "exit_from_thread") return exit_from_thread();
  if (scenario == "exit_in_action") return exit_in(false);
  if (scenario == "exit_in_chained") return exit_in(true);
  if (scenario == "crash_at_exit") return crash_at_exit();
  if (scenario == "crash_in_destructor") return crash_in_destructor();
  std::fprintf(stderr, "exit_race_child: unknown scenario %s\n", scenario.c_str());
  return 2;
}
