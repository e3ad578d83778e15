// SPDX-License-Identifier: MIT
// bench/deliveries.cc — a fixed number of deliveries, to be counted under callgrind.
//
//   deliveries MODE N [--no-allocations]
//
// MODE: raw (a plain sigaction handler adding to a counter: the floor), registry (one
// relay::add_count action through sigrelay's trampoline), signals (a relay-backend `signals`
// object: handler, record, wake, then pending() in ordinary code), signalfd (the signalfd backend:
// tgkill then pending()); signals-reuse and signalfd-reuse: the same with pending(std::vector&) into
// one reused vector (the allocation-free path); wait and signalfd-wait: wait(std::vector&) into one
// reused vector, the delivery already there (the ping-pong responders' path, without the sleep); iterator:
// the range-for iterator of a relay-backend `signals` (one delivery pending before each ++). Each delivery is
// a tgkill() to this thread. bench/run runs it under `valgrind --tool=callgrind` for two values of N and
// divides the difference of the instruction counts by the difference of N, which cancels start-up and set-up:
// user-space instructions per delivery (the kernel's part is not counted by callgrind).
//
// Through the dispatcher and each adapter that is built in (the same tgkill(), then the whole way to
// the application's callback or await): dispatcher (dispatcher::run() until the callback's stop()),
// asio (signal_event_set::async_wait() re-armed from its completion handler, inside one io_context::run(),
// the signal sent before the wait starts, so that the wait takes it at once), asio-armed (the same with
// the wait started first and the signal sent by a posted function: the wait is on the descriptor when
// the signal comes, as in ping-pong; the post adds its own instructions), asio-signalfd (asio on the
// signalfd backend: the same-CPU ping-pong path there, where the signal is pending when the wait starts),
// peer-asio-armed (Boost.Asio's own signal_set in asio-armed's loop: the peer, for comparison),
// uv (signal_watcher on a libuv loop, uv_run(UV_RUN_ONCE)), coro (signal_channel::try_next(); the channel's
// own thread may drain first, which callgrind counts too).
//
// Allocations: every mode also counts the heap allocations of the process (malloc, calloc, realloc,
// memalign, aligned_alloc, posix_memalign, valloc, pvalloc, replaced in this executable and passed on
// to glibc's own: operator new, the library's, the adapters' and Boost.Asio's recycling allocator,
// which calls aligned_alloc() directly, all count) made during its second half of deliveries, after a
// first half that lets every reused buffer reach its size, and prints "allocations per delivery: X"
// on stderr (steady state: 0 is the goal). (Counting operator new alone missed Asio's: the asio mode
// initiated each wait outside io_context::run(), where Asio cannot recycle, and made two aligned
// allocations per delivery that the count did not see; it now re-arms from the completion handler.)
// With --no-allocations, any such allocation fails the run (exit 1). Every run fails unless all N
// deliveries reached the application. The ctests `bench_deliveries_*` (bench/CMakeLists.txt, built
// with SIGRELAY_BUILD_BENCH: the dev preset) hold every mode to both, but the fresh-vector
// pending() modes (signals, signalfd), which allocate their vector by design, to the count only.
#include <sigrelay/registry.hpp>
#include <sigrelay/relays.hpp>
#ifdef BENCH_HAVE_SIGRELAY_SIGNALS
#include <sigrelay/signals.hpp>
#endif

#ifdef BENCH_HAVE_SIGRELAY_DISPATCHER
#include <sigrelay/dispatcher.hpp>
#endif
#ifdef BENCH_HAVE_ADAPTER_ASIO
#include <sigrelay/asio.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#endif
#ifdef BENCH_HAVE_ADAPTER_UV
#include <sigrelay/uv.hpp>
#endif
#ifdef BENCH_HAVE_ADAPTER_CORO
#include <sigrelay/coro.hpp>
#endif

#include <unistd.h>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

// Counts every heap allocation of the process (see the header comment): glibc's allocator under a
// counter. glibc calls malloc and its kin through the dynamic symbol table, so these replace them for
// libstdc++, libuv and glibc's own callers too; glibc exports its implementations as __libc_*.
namespace {
std::atomic<std::uint64_t> g_allocations{0};
void counted() { g_allocations.fetch_add(1, std::memory_order_relaxed); }
}  // namespace

extern "C" {
void* __libc_malloc(std::size_t) noexcept;
void* __libc_calloc(std::size_t, std::size_t) noexcept;
void* __libc_realloc(void*, std::size_t) noexcept;
void* __libc_memalign(std::size_t, std::size_t) noexcept;
void* __libc_valloc(std::size_t) noexcept;
void* __libc_pvalloc(std::size_t) noexcept;
void __libc_free(void*) noexcept;

void* malloc(std::size_t n) noexcept {
  counted();
  return __libc_malloc(n);
}
void* calloc(std::size_t k, std::size_t n) noexcept {
  counted();
  return __libc_calloc(k, n);
}
void* realloc(void* p, std::size_t n) noexcept {
  counted();
  return __libc_realloc(p, n);
}
void* memalign(std::size_t a, std::size_t n) noexcept {
  counted();
  return __libc_memalign(a, n);
}
void* aligned_alloc(std::size_t a, std::size_t n) noexcept {
  counted();
  return __libc_memalign(a, n);
}
int posix_memalign(void** out, std::size_t a, std::size_t n) noexcept {
  counted();
  if (a % sizeof(void*) != 0 || (a & (a - 1)) != 0) return EINVAL;
  void* p = __libc_memalign(a, n);
  if (p == nullptr && n != 0) return ENOMEM;
  *out = p;
  return 0;
}
void* valloc(std::size_t n) noexcept {
  counted();
  return __libc_valloc(n);
}
void* pvalloc(std::size_t n) noexcept {
  counted();
  return __libc_pvalloc(n);
}
void free(void* p) noexcept { __libc_free(p); }
}

namespace {

std::atomic<std::uint64_t> g_count{0};

// Runs `one` (a delivery, all the way to the application) n times; the allocations of the second
// half are counted.
template <typename F>
void deliver(long n, std::uint64_t& allocations, F&& one) {
  const long warm = n / 2;
  for (long i = 0; i < warm; ++i) one();
  const std::uint64_t before = g_allocations.load();
  for (long i = warm; i < n; ++i) one();
  allocations = g_allocations.load() - before;
}

// Signal context.
void raw_handler(int, siginfo_t*, void*) { g_count.fetch_add(1, std::memory_order_acq_rel); }

void send_self(int signo) {
  if (::tgkill(::getpid(), ::gettid(), signo) != 0) std::abort();
}

}  // namespace

int main(int argc, char** argv) {
  const bool no_allocations = argc == 4 && std::strcmp(argv[3], "--no-allocations") == 0;
  if (argc != 3 && !no_allocations) {
    std::fprintf(
        stderr,
        "usage: deliveries "
        "raw|registry|signals|signalfd|signals-reuse|signalfd-reuse|wait|signalfd-wait|iterator|dispatcher|"
        "asio|asio-armed|asio-signalfd|peer-asio-armed|uv|coro "
        "N [--no-allocations]\n");
    return 2;
  }
  const char* mode = argv[1];
  const long n = std::atol(argv[2]);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  std::uint64_t got = 0;
  std::uint64_t allocations = 0;
  if (std::strcmp(mode, "raw") == 0) {
    struct sigaction sa {};
    sa.sa_sigaction = raw_handler;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGUSR1, &sa, nullptr);
    deliver(n, allocations, [] { send_self(SIGUSR1); });
    got = g_count.load();
  } else if (std::strcmp(mode, "registry") == 0) {
    const auto id = sigrelay::add_action(SIGUSR1, sigrelay::relay::add_count(g_count));
    deliver(n, allocations, [] { send_self(SIGUSR1); });
    sigrelay::remove_action(id);
    got = g_count.load();
#ifdef BENCH_HAVE_SIGRELAY_SIGNALS
  } else if (std::strcmp(mode, "signals") == 0 || std::strcmp(mode, "signalfd") == 0) {
    const bool fd = std::strcmp(mode, "signalfd") == 0;
    sigrelay::signals s({SIGUSR1}, fd ? sigrelay::backend::signalfd : sigrelay::backend::relay);
    deliver(n, allocations, [&] {
      send_self(SIGUSR1);
      for (const auto& e : s.pending()) got += e.count;
    });
  } else if (std::strcmp(mode, "signals-reuse") == 0 || std::strcmp(mode, "signalfd-reuse") == 0) {
    const bool fd = std::strcmp(mode, "signalfd-reuse") == 0;
    sigrelay::signals s({SIGUSR1}, fd ? sigrelay::backend::signalfd : sigrelay::backend::relay);
    std::vector<sigrelay::signal_event> events;
    deliver(n, allocations, [&] {
      send_self(SIGUSR1);
      s.pending(events);
      for (const auto& e : events) got += e.count;
    });
  } else if (std::strcmp(mode, "wait") == 0 || std::strcmp(mode, "signalfd-wait") == 0) {
    // wait(std::vector&) with the delivery already there: the ping-pong responders' path, but for
    // the sleep (the relay backend's handler has recorded it; the signalfd backend's blocking read()
    // returns at once).
    const bool fd = std::strcmp(mode, "signalfd-wait") == 0;
    sigrelay::signals s({SIGUSR1}, fd ? sigrelay::backend::signalfd : sigrelay::backend::relay);
    std::vector<sigrelay::signal_event> events;
    deliver(n, allocations, [&] {
      send_self(SIGUSR1);
      s.wait(events);
      for (const auto& e : events) got += e.count;
    });
  } else if (std::strcmp(mode, "iterator") == 0) {
    // The range-for iterator on the relay backend: one delivery pending before each ++.
    sigrelay::signals s({SIGUSR1});
    send_self(SIGUSR1);
    auto it = s.begin();
    deliver(n, allocations, [&] {
      got += it->count;
      send_self(SIGUSR1);
      ++it;
    });
#endif
#ifdef BENCH_HAVE_SIGRELAY_DISPATCHER
  } else if (std::strcmp(mode, "dispatcher") == 0) {
    sigrelay::dispatcher d;
    d.on(SIGUSR1, [&](const sigrelay::signal_event& e) {
      got += e.count;
      d.stop();
    });
    deliver(n, allocations, [&] {
      send_self(SIGUSR1);
      d.run();  // until the callback's stop()
    });
#endif
#ifdef BENCH_HAVE_ADAPTER_ASIO
  } else if (std::strcmp(mode, "asio") == 0 || std::strcmp(mode, "asio-armed") == 0 ||
             std::strcmp(mode, "asio-signalfd") == 0) {
    // As a program re-arms: the completion handler starts the next wait (inside io_context::run(),
    // where Asio recycles its operation's memory). One run() for all n; the handler takes the
    // allocation count at the half. asio: the signal is sent before the wait starts, which takes it
    // at once (asio-signalfd: the same on the signalfd backend, its same-CPU ping-pong path).
    // asio-armed (the relay backend's ping-pong path): the wait is on the descriptor when the signal
    // comes, sent by a posted function. One handler type for both: a second instantiation of the adapter's
    // templates changed the compiler's inlining, and with it the asio count (2,960 -> 3,085 with the
    // same library).
    const bool armed = std::strcmp(mode, "asio-armed") == 0;
    boost::asio::io_context io(1);
    sigrelay::signals_options options;
    if (std::strcmp(mode, "asio-signalfd") == 0) options.backend = sigrelay::backend::signalfd;
    sigrelay::asio::signal_event_set set(io, {SIGUSR1}, options);
    struct rearm {
      boost::asio::io_context* io;
      sigrelay::asio::signal_event_set* set;
      std::uint64_t* got;
      long* left;
      long half;
      std::uint64_t* before;
      bool armed;
      void operator()(boost::system::error_code ec, const sigrelay::signal_event& e) const {
        if (!ec) *got += e.count;
        if (--*left == half) *before = g_allocations.load();
        if (*left == 0) return;
        if (!armed) send_self(SIGUSR1);
        set->async_wait(*this);
        if (armed) boost::asio::post(*io, [] { send_self(SIGUSR1); });
      }
    };
    long left = n;
    std::uint64_t before = 0;
    if (!armed) send_self(SIGUSR1);
    set.async_wait(rearm{&io, &set, &got, &left, n - n / 2, &before, armed});
    if (armed) boost::asio::post(io, [] { send_self(SIGUSR1); });
    io.run();  // until the last wait completed
    allocations = g_allocations.load() - before;
  } else if (std::strcmp(mode, "peer-asio-armed") == 0) {
    // The peer: Boost.Asio's own signal_set in asio-armed's loop (its handler writes a pipe, its
    // reactor reads it), the yardstick for the adapter's figure.
    boost::asio::io_context io(1);
    boost::asio::signal_set set(io, SIGUSR1);
    struct rearm {
      boost::asio::io_context* io;
      boost::asio::signal_set* set;
      std::uint64_t* got;
      long* left;
      long half;
      std::uint64_t* before;
      void operator()(boost::system::error_code ec, int) const {
        if (!ec) ++*got;
        if (--*left == half) *before = g_allocations.load();
        if (*left == 0) return;
        set->async_wait(*this);
        boost::asio::post(*io, [] { send_self(SIGUSR1); });
      }
    };
    long left = n;
    std::uint64_t before = 0;
    set.async_wait(rearm{&io, &set, &got, &left, n - n / 2, &before});
    boost::asio::post(io, [] { send_self(SIGUSR1); });
    io.run();
    allocations = g_allocations.load() - before;
#endif
#ifdef BENCH_HAVE_ADAPTER_UV
  } else if (std::strcmp(mode, "uv") == 0) {
    uv_loop_t loop;
    if (uv_loop_init(&loop) != 0) std::abort();
    {
      sigrelay::uv::signal_watcher w(&loop, {SIGUSR1});
      if (w.start([&](const sigrelay::signal_event& e) { got += e.count; }) != 0) std::abort();
      deliver(n, allocations, [&] {
        send_self(SIGUSR1);
        uv_run(&loop, UV_RUN_ONCE);  // until the watcher's callback ran
      });
    }
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_loop_close(&loop);
#endif
#ifdef BENCH_HAVE_ADAPTER_CORO
  } else if (std::strcmp(mode, "coro") == 0) {
    sigrelay::co::signal_channel ch({SIGUSR1});
    deliver(n, allocations, [&] {
      send_self(SIGUSR1);
      for (;;) {  // recorded by the handler before tgkill() returned: the channel has it
        if (auto e = ch.try_next()) {
          got += e->count;
          break;
        }
      }
    });
#endif
  } else {
    std::fprintf(stderr, "deliveries: unknown mode %s\n", mode);
    return 2;
  }
  std::fprintf(stderr, "allocations per delivery: %.3f\n",
               static_cast<double>(allocations) / static_cast<double>(n - n / 2));
  if (got != static_cast<std::uint64_t>(n)) {
    std::fprintf(stderr, "deliveries: %s: %llu of %ld delivered\n", mode,
                 static_cast<unsigned long long>(got), n);
    return 1;
  }
  if (no_allocations && allocations != 0) {
    std::fprintf(stderr, "deliveries: %s: %llu allocations in steady state, none expected\n", mode,
                 static_cast<unsigned long long>(allocations));
    return 1;
  }
  return 0;
}
