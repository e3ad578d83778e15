// SPDX-License-Identifier: MIT
// bench/delivery_cost.cc — a small driver for counting user-space instructions per delivery to a
// `signals` consumer under callgrind (issue 9, goal 3: <= 300 instructions per delivery).
//
// Not built by CMake (its numbers mean something only against the optimised library):
//   cmake --preset release && cmake --build build/release -j1 --target pingpong
//   g++ -O2 -std=c++20 -Iinclude -Ibuild/release/include bench/delivery_cost.cc \
//       build/release/libsigrelay.a -o /tmp/delivery_cost
//   valgrind --tool=callgrind --collect-atstart=no --toggle-collect='run(*)' \
//       --callgrind-out-file=/tmp/cg.out /tmp/delivery_cost std relay 20000
//   callgrind_annotate --inclusive=yes /tmp/cg.out | head -40
// Instructions per delivery = run()'s inclusive Ir / the count; the trampoline's inclusive Ir is
// the handler side (registry and record_fn), the rest the consumer (pending(vector&) or wait()).
//
// Modes: `std` (SIGUSR1: tgkill() to this thread, then pending(vector&)), `rt` (SIGRTMIN+1 with
// sigqueue-like rt_tgsigqueueinfo through the ring, then pending(vector&)), `wait` (SIGUSR1, then
// wait(vector&), which finds it at once). Backend: `relay` or `signalfd`.
#include <sigrelay/signals.hpp>

#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

enum class mode { standard, realtime, wait };

[[gnu::noinline]] std::size_t run(sigrelay::signals& sigs, mode m, int signo, int count) {
  std::vector<sigrelay::signal_event> events;
  events.reserve(16);
  std::size_t received = 0;
  siginfo_t info{};
  info.si_signo = signo;
  info.si_code = SI_QUEUE;
  info.si_pid = ::getpid();
  info.si_uid = ::getuid();
  for (int i = 0; i < count; ++i) {
    if (m == mode::realtime) {
      info.si_value.sival_int = i;
      if (::syscall(SYS_rt_tgsigqueueinfo, ::getpid(), ::gettid(), signo, &info) != 0) std::abort();
      // Valgrind runs a signal sent this way only at the thread's next system call (natively the
      // kernel delivers it on the way out of this one): give it one that lets it (sched_yield).
      ::sched_yield();
    } else if (::tgkill(::getpid(), ::gettid(), signo) != 0) {
      std::abort();
    }
    received += m == mode::wait ? sigs.wait(events) : sigs.pending(events);
  }
  return received;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s std|rt|wait relay|signalfd COUNT\n", argv[0]);
    return 2;
  }
  const mode m = std::strcmp(argv[1], "rt") == 0     ? mode::realtime
                 : std::strcmp(argv[1], "wait") == 0 ? mode::wait
                                                     : mode::standard;
  const auto kind =
      std::strcmp(argv[2], "signalfd") == 0 ? sigrelay::backend::signalfd : sigrelay::backend::relay;
  const int count = std::atoi(argv[3]);
  const int signo = m == mode::realtime ? SIGRTMIN + 1 : SIGUSR1;
  sigrelay::signals sigs({signo}, kind);
  run(sigs, m, signo, 100);  // warm up: first-use allocations, lazy binding
  const std::size_t received = run(sigs, m, signo, count);
  std::printf("%zu of %d received, %llu dropped\n", received, count,
              static_cast<unsigned long long>(sigs.dropped()));
  return received == static_cast<std::size_t>(count) ? 0 : 1;
}
