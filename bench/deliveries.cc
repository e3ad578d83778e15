// SPDX-License-Identifier: MIT
// bench/deliveries.cc — a fixed number of deliveries, to be counted under callgrind.
//
//   deliveries MODE N
//
// MODE: raw (a plain sigaction handler adding to a counter: the floor), registry (one
// relay::add_count action through sigrelay's trampoline), signals (a relay-backend `signals`
// object: handler, record, wake, then pending() in ordinary code), signalfd (the signalfd backend:
// tgkill then pending()); signals-reuse and signalfd-reuse: the same with pending(std::vector&) into
// one reused vector (the allocation-free path). Each delivery is a tgkill() to this thread. bench/run runs it
// under `valgrind --tool=callgrind` for two values of N and divides the difference of the instruction counts
// by the difference of N, which cancels start-up and set-up: user-space instructions per delivery (the
// kernel's part is not counted by callgrind).
#include <sigrelay/registry.hpp>
#include <sigrelay/relays.hpp>
#ifdef BENCH_HAVE_SIGRELAY_SIGNALS
#include <sigrelay/signals.hpp>
#endif

#include <unistd.h>
#include <atomic>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

std::atomic<std::uint64_t> g_count{0};

// Signal context.
void raw_handler(int, siginfo_t*, void*) { g_count.fetch_add(1, std::memory_order_acq_rel); }

void send_self(int signo) {
  if (::tgkill(::getpid(), ::gettid(), signo) != 0) std::abort();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: deliveries raw|registry|signals|signalfd|signals-reuse|signalfd-reuse N\n");
    return 2;
  }
  const char* mode = argv[1];
  const long n = std::atol(argv[2]);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  std::uint64_t got = 0;
  if (std::strcmp(mode, "raw") == 0) {
    struct sigaction sa {};
    sa.sa_sigaction = raw_handler;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGUSR1, &sa, nullptr);
    for (long i = 0; i < n; ++i) send_self(SIGUSR1);
    got = g_count.load();
  } else if (std::strcmp(mode, "registry") == 0) {
    const auto id = sigrelay::add_action(SIGUSR1, sigrelay::relay::add_count(g_count));
    for (long i = 0; i < n; ++i) send_self(SIGUSR1);
    sigrelay::remove_action(id);
    got = g_count.load();
#ifdef BENCH_HAVE_SIGRELAY_SIGNALS
  } else if (std::strcmp(mode, "signals") == 0 || std::strcmp(mode, "signalfd") == 0) {
    const bool fd = std::strcmp(mode, "signalfd") == 0;
    sigrelay::signals s({SIGUSR1}, fd ? sigrelay::backend::signalfd : sigrelay::backend::relay);
    for (long i = 0; i < n; ++i) {
      send_self(SIGUSR1);
      for (const auto& e : s.pending()) got += e.count;
    }
  } else if (std::strcmp(mode, "signals-reuse") == 0 || std::strcmp(mode, "signalfd-reuse") == 0) {
    const bool fd = std::strcmp(mode, "signalfd-reuse") == 0;
    sigrelay::signals s({SIGUSR1}, fd ? sigrelay::backend::signalfd : sigrelay::backend::relay);
    std::vector<sigrelay::signal_event> events;
    for (long i = 0; i < n; ++i) {
      send_self(SIGUSR1);
      s.pending(events);
      for (const auto& e : events) got += e.count;
    }
#endif
  } else {
    std::fprintf(stderr, "deliveries: unknown mode %s\n", mode);
    return 2;
  }
  if (got != static_cast<std::uint64_t>(n)) {
    std::fprintf(stderr, "deliveries: %s: %llu of %ld delivered\n", mode,
                 static_cast<unsigned long long>(got), n);
    return 1;
  }
  return 0;
}
