// SPDX-License-Identifier: MIT
// tests/safety/safety_test.cc — async-signal-safety proven, not assumed.
//
// The executable interposes malloc, free, calloc, realloc (and the aligned allocators),
// pthread_mutex_lock and the stdio output functions (interpose.cc). Each notes a violation when
// it is called while sigrelay's trampoline is on the calling thread's stack, which the test learns
// through the trampoline's test-only hook (sigrelay::detail::g_handler.hook).
//
//   Interposer.*  prove that the check can fail: with the depth forced up, a call to each
//                 interposed function is noticed; a deliberately unsafe action and an unsafe chained
//                 handler, run by the real trampoline, are caught.
//   Safety.*      over 100,000 real deliveries on three receiving threads (tgkill, kill, sigqueue)
//                 through every relay, a custom action and a chained handler, and not one
//                 violation; every signal sent is delivered exactly once, each inside the hook's
//                 window. SignalsRelayBackend... adds two sigrelay::signals objects (relay backend,
//                 standard and realtime signals).
//
// Every case runs in a forked child under a watchdog (tests/support/child.hpp).
#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "handler/hold.hpp"
#include "handler/state.hpp"
#include "interpose.hpp"
#include "sigrelay/registry.hpp"
#include "sigrelay/relays.hpp"
#include "support/child.hpp"
#include "support/flood_limit.hpp"

#include "sigrelay/signals.hpp"

namespace {

using namespace sigrelay;
using namespace std::chrono_literals;

// The number of deliveries the stress test must see, at the least.
constexpr std::uint64_t kDeliveries = 100'000;
constexpr int kReceivers = 3;

// Where results of calls that must not be optimised away go.
void* volatile g_sink = nullptr;

// Installs the hook and starts from a clean slate; uninstalls it on scope exit.
class hooked {
 public:
  hooked() {
    safety::reset();
    detail::g_handler.hook.store(&safety::hook);
  }
  ~hooked() { detail::g_handler.hook.store(nullptr); }
  hooked(const hooked&) = delete;
  hooked& operator=(const hooked&) = delete;
};

std::vector<std::string> recorded_names() {
  std::vector<std::string> names;
  const std::size_t n = std::min(safety::violations(), safety::capacity());
  for (std::size_t i = 0; i < n; ++i) names.emplace_back(safety::violation_name(i));
  return names;
}

std::string joined(const std::vector<std::string>& names) {
  std::string all;
  for (const std::string& name : names) all += (all.empty() ? "" : ", ") + name;
  return all;
}

bool contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// Redirects the standard output and error to /dev/null while it lives (the self-test prints).
class silenced {
 public:
  silenced() : out_(dup(1)), err_(dup(2)) {
    std::fflush(nullptr);
    const int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    dup2(null, 1);
    dup2(null, 2);
    close(null);
  }
  ~silenced() {
    std::fflush(nullptr);
    dup2(out_, 1);
    dup2(err_, 2);
    close(out_);
    close(err_);
  }
  silenced(const silenced&) = delete;
  silenced& operator=(const silenced&) = delete;

 private:
  int out_;
  int err_;
};

int call_vfprintf(FILE* f, const char* format, ...) {
  va_list args;
  va_start(args, format);
  int (*volatile fn)(FILE*, const char*, va_list) = &std::vfprintf;
  const int n = fn(f, format, args);
  va_end(args);
  return n;
}

int call_vprintf(const char* format, ...) {
  va_list args;
  va_start(args, format);
  int (*volatile fn)(const char*, va_list) = &std::vprintf;
  const int n = fn(format, args);
  va_end(args);
  return n;
}

extern "C" int __printf_chk(int, const char*, ...);
extern "C" int __fprintf_chk(FILE*, int, const char*, ...);

// ---------------------------------------------------------------------------------------------
// The interposers notice what they should: with the depth forced up (as if the trampoline were on
// the stack), every interposed function records its name; with it at zero, none does.

TEST(Interposer, NoticesEveryInterposedFunctionCalledInTheWindow) {
  SIGRELAY_IN_CHILD([] {
    ASSERT_TRUE(safety::forwarding_resolved());
    FILE* null = std::fopen("/dev/null", "w");
    ASSERT_NE(nullptr, null);
    safety::reset();

    // Outside the window: nothing is noted.
    g_sink = std::malloc(32);
    std::free(g_sink);
    std::mutex plain;
    { std::lock_guard<std::mutex> lock(plain); }
    EXPECT_EQ(0U, safety::violations()) << safety::violation_summary();

    {
      silenced quiet;
      // Through volatile pointers, so that the compiler cannot rewrite one call into another
      // (printf("x\n") into puts, fprintf into fwrite) or drop a malloc/free pair.
      void* (*volatile p_malloc)(std::size_t) = &std::malloc;
      void (*volatile p_free)(void*) = &std::free;
      void* (*volatile p_calloc)(std::size_t, std::size_t) = &std::calloc;
      void* (*volatile p_realloc)(void*, std::size_t) = &std::realloc;
      void* (*volatile p_aligned_alloc)(std::size_t, std::size_t) = &std::aligned_alloc;
      int (*volatile p_posix_memalign)(void**, std::size_t, std::size_t) = &posix_memalign;
      int (*volatile p_lock)(pthread_mutex_t*) = &pthread_mutex_lock;
      int (*volatile p_printf)(const char*, ...) = &std::printf;
      int (*volatile p_fprintf)(FILE*, const char*, ...) = &std::fprintf;
      int (*volatile p_dprintf)(int, const char*, ...) = &dprintf;
      int (*volatile p_puts)(const char*) = &std::puts;
      int (*volatile p_fputs)(const char*, FILE*) = &std::fputs;
      std::size_t (*volatile p_fwrite)(const void*, std::size_t, std::size_t, FILE*) = &std::fwrite;
      int (*volatile p_fputc)(int, FILE*) = &std::fputc;
      int (*volatile p_putc)(int, FILE*) = &putc;
      int (*volatile p_putchar)(int) = &std::putchar;
      int (*volatile p_fflush)(FILE*) = &std::fflush;
      void (*volatile p_perror)(const char*) = &std::perror;
      int (*volatile p_printf_chk)(int, const char*, ...) = &__printf_chk;
      int (*volatile p_fprintf_chk)(FILE*, int, const char*, ...) = &__fprintf_chk;
      static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;

      safety::set_depth(1);  // the window opens
      g_sink = p_malloc(16);
      p_free(g_sink);
      g_sink = p_calloc(2, 16);
      g_sink = p_realloc(g_sink, 64);
      p_free(g_sink);
      g_sink = p_aligned_alloc(64, 64);
      p_free(g_sink);
      void* aligned = nullptr;
      (void)p_posix_memalign(&aligned, 64, 64);
      p_free(aligned);
      p_lock(&mutex);
      pthread_mutex_unlock(&mutex);
      p_printf("x\n");
      p_fprintf(null, "x\n");
      call_vfprintf(null, "%d\n", 1);
      call_vprintf("%d\n", 1);
      p_dprintf(1, "x\n");
      p_puts("x");
      p_fputs("x", null);
      p_fwrite("x", 1, 1, null);
      p_fputc('x', null);
      p_putc('x', null);
      p_putchar('x');
      p_fflush(null);
      p_perror("x");
      p_printf_chk(1, "x\n");
      p_fprintf_chk(null, 1, "x\n");
      // And from inside a shared library, through its PLT: operator new in libstdc++ calls malloc.
      std::string* s = new std::string(100, 'x');
      delete s;
      safety::set_depth(0);  // the window closes
    }
    std::fclose(null);

    const std::vector<std::string> names = recorded_names();
    for (const char* expected : {"malloc",
                                 "free",
                                 "calloc",
                                 "realloc",
                                 "aligned_alloc",
                                 "posix_memalign",
                                 "pthread_mutex_lock",
                                 "printf",
                                 "fprintf",
                                 "vfprintf",
                                 "vprintf",
                                 "dprintf",
                                 "puts",
                                 "fputs",
                                 "fwrite",
                                 "fputc",
                                 "putc",
                                 "putchar",
                                 "fflush",
                                 "perror",
                                 "__printf_chk",
                                 "__fprintf_chk"}) {
      EXPECT_TRUE(contains(names, expected))
          << expected << " was not noticed; noted: " << safety::violation_summary();
    }
    // new std::string(100, 'x') allocates twice (the object, its buffer) after the explicit calls.
    EXPECT_GE(std::count(names.begin(), names.end(), std::string("malloc")), 3);

    safety::reset();
    EXPECT_EQ(0U, safety::violations());
  });
}

// The real trampoline, not a forced depth: an action that allocates, locks and prints, and a
// chained handler that allocates, are caught. This is how the stress test below would fail if any
// action, relay or the trampoline itself did one of these things.

std::atomic<std::uint64_t> g_unsafe_runs{0};
FILE* g_null_file = nullptr;

void unsafe_action(void*, const siginfo_t&) noexcept {
  g_sink = std::malloc(8);
  std::free(g_sink);
  static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
  pthread_mutex_lock(&mutex);
  pthread_mutex_unlock(&mutex);
  int (*volatile p_fprintf)(FILE*, const char*, ...) = &std::fprintf;
  p_fprintf(g_null_file, "in a handler\n");
  g_unsafe_runs.fetch_add(1);
}

void unsafe_chained_handler(int) {
  g_sink = std::calloc(1, 8);
  std::free(g_sink);
}

TEST(Interposer, CatchesAnUnsafeActionInTheRealTrampoline) {
  SIGRELAY_IN_CHILD([] {
    g_null_file = std::fopen("/dev/null", "w");
    ASSERT_NE(nullptr, g_null_file);
    std::vector<std::string> names;
    {
      hooked hook;
      const action_id id = add_action(SIGUSR1, {unsafe_action, nullptr});
      EXPECT_EQ(0U, safety::violations()) << "add_action itself is ordinary context";
      ASSERT_EQ(0, raise(SIGUSR1));
      EXPECT_EQ(1U, g_unsafe_runs.load());
      EXPECT_EQ(1U, safety::hook_entries());
      names = recorded_names();
      safety::reset();
      remove_action(id);
    }
    for (const char* expected : {"malloc", "free", "pthread_mutex_lock", "fprintf"}) {
      EXPECT_TRUE(contains(names, expected))
          << expected << " in an action was not caught; noted: " << joined(names);
    }
    std::fclose(g_null_file);
  });
}

TEST(Interposer, CatchesAnUnsafeChainedHandler) {
  SIGRELAY_IN_CHILD([] {
    struct sigaction previous {};
    previous.sa_handler = unsafe_chained_handler;
    sigemptyset(&previous.sa_mask);
    ASSERT_EQ(0, sigaction(SIGUSR2, &previous, nullptr));
    std::atomic<std::uint64_t> count{0};
    std::vector<std::string> names;
    {
      hooked hook;
      const action_id id = add_action(SIGUSR2, relay::add_count(count));
      ASSERT_EQ(0, raise(SIGUSR2));
      EXPECT_EQ(1U, count.load());
      EXPECT_EQ(1U, safety::hook_entries());
      names = recorded_names();
      remove_action(id);
    }
    EXPECT_TRUE(contains(names, "calloc")) << "noted: " << safety::violation_summary();
    EXPECT_TRUE(contains(names, "free")) << "noted: " << safety::violation_summary();
  });
}

// ---------------------------------------------------------------------------------------------
// The stress test: real deliveries, many of them, on several threads, through everything that runs
// in signal context, and not one call to an interposed function while a handler is on the stack.

std::atomic<std::uint64_t> g_chained_runs{0};

// A previously installed handler that the trampoline chains. Async-signal-safe (an atomic).
void chained_handler(int, siginfo_t*, void*) { g_chained_runs.fetch_add(1, std::memory_order_relaxed); }

// A custom action that checks what the trampoline hands over for a sigqueue() delivery.
struct queue_check {
  std::atomic<std::uint64_t> bad{0};
  std::atomic<std::int64_t> max_value{-1};
};
void check_queued(void* context, const siginfo_t& info) noexcept {
  auto& c = *static_cast<queue_check*>(context);
  if (info.si_code != SI_QUEUE || info.si_pid != getpid()) c.bad.fetch_add(1, std::memory_order_relaxed);
  const std::int64_t v = info.si_value.sival_int;
  std::int64_t seen = c.max_value.load(std::memory_order_relaxed);
  while (v > seen && !c.max_value.compare_exchange_weak(seen, v, std::memory_order_relaxed)) {
  }
}

// A custom action on SIGUSR1 that counts deliveries per receiving thread, which the receiver's
// index in initial-exec TLS names (plain memory access: async-signal-safe).
__attribute__((tls_model("initial-exec"))) thread_local int t_receiver = -1;
std::array<std::atomic<std::uint64_t>, kReceivers> g_usr1_on{};
void count_per_receiver(void*, const siginfo_t&) noexcept {
  if (t_receiver >= 0) g_usr1_on[static_cast<std::size_t>(t_receiver)].fetch_add(1);
}

pid_t this_tid() { return static_cast<pid_t>(syscall(SYS_gettid)); }

// More signal-context work for the same deliveries: start() subscribes it once the relays are in
// place; finish() is called after every delivery, with the relays' counts, to check its own books.
struct stress_extra {
  virtual ~stress_extra() = default;
  virtual void start() {}
  virtual void finish(std::uint64_t usr1, std::uint64_t usr2, std::uint64_t rt) = 0;
};

void stress(stress_extra* extra) {
  sigrelay::test::cap_pending_signals_for_a_flood();  // leave the tests beside us their share
  const int rt = SIGRTMIN;
  const pid_t pid = getpid();
  sigset_t ours;
  sigemptyset(&ours);
  for (int s : {SIGUSR1, SIGUSR2, rt}) sigaddset(&ours, s);

  // The handler installed before sigrelay, which the trampoline must chain (async-signal-safely).
  struct sigaction previous {};
  previous.sa_sigaction = chained_handler;
  previous.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&previous.sa_mask);
  EXPECT_EQ(0, sigaction(SIGUSR2, &previous, nullptr));
  g_chained_runs = 0;

  std::atomic<std::uint64_t> total{0}, usr1{0}, usr2{0}, rt_count{0};
  std::atomic<bool> flag{false};
  queue_check queued;
  relay::wakeup_fd wake;
  int pipe_fds[2];
  EXPECT_EQ(0, pipe2(pipe_fds, O_NONBLOCK | O_CLOEXEC));
  relay::fd_relay pipe_relay(pipe_fds[1]);  // never read: it fills up, then every write is EAGAIN

  hooked hook;
  std::vector<action_id> ids;
  for (int s : {SIGUSR1, SIGUSR2, rt}) ids.push_back(add_action(s, relay::add_count(total)));
  ids.push_back(add_action(SIGUSR1, relay::add_count(usr1)));
  ids.push_back(add_action(SIGUSR1, {count_per_receiver, nullptr}));
  for (auto& n : g_usr1_on) n = 0;
  ids.push_back(add_action(SIGUSR1, relay::set_flag(flag)));
  ids.push_back(add_action(SIGUSR1, wake.get()));
  ids.push_back(add_action(SIGUSR1, pipe_relay.get()));
  ids.push_back(add_action(SIGUSR2, relay::add_count(usr2)));
  ids.push_back(add_action(SIGUSR2, wake.get(), action_options{.restart = false}));
  ids.push_back(add_action(rt, relay::add_count(rt_count)));
  ids.push_back(add_action(rt, {check_queued, &queued}));
  ids.push_back(add_action(rt, pipe_relay.get()));
  if (extra != nullptr) extra->start();
  EXPECT_EQ(0U, safety::violations()) << "setup is ordinary context: " << safety::violation_summary();
  safety::reset();

  // Receivers: ordinary work that itself allocates and locks all the time, so that signals land in
  // the middle of malloc and pthread_mutex_lock too.
  std::atomic<bool> stop{false};
  std::atomic<int> ready{0};
  std::array<std::atomic<pid_t>, kReceivers> tids{};
  std::array<std::uint64_t, kReceivers> per_thread{};
  std::mutex work_mutex;
  std::uint64_t work = 0;
  std::vector<std::thread> receivers;
  for (int r = 0; r < kReceivers; ++r) {
    receivers.emplace_back([&, r] {
      t_receiver = r;
      pthread_sigmask(SIG_UNBLOCK, &ours, nullptr);
      tids[static_cast<std::size_t>(r)] = this_tid();
      ready.fetch_add(1);
      while (!stop.load(std::memory_order_relaxed)) {
        void* volatile block = std::malloc(static_cast<std::size_t>(64 + r));
        std::free(block);
        std::lock_guard<std::mutex> lock(work_mutex);
        ++work;
      }
      per_thread[static_cast<std::size_t>(r)] = safety::hook_entries_on_this_thread();
    });
  }
  // The sending thread takes none of the process-directed signals: they go to the receivers.
  pthread_sigmask(SIG_BLOCK, &ours, nullptr);
  while (ready.load() < kReceivers) std::this_thread::yield();

  // Send: tgkill() to each receiver (SI_TKILL), kill() to the process (SI_USER), sigqueue()
  // (SI_QUEUE). A standard signal sent while one is pending would merge with it, so each receiver's
  // SIGUSR1 and the process's SIGUSR2 are sent again only once the previous one was handled: then
  // every signal sent is one delivery, for standard and realtime signals alike. Realtime signals
  // queue; a bounded backlog keeps the sender from racing ahead of the receivers.
  const auto began = std::chrono::steady_clock::now();
  const auto deadline = began + 180s;  // generous: a loaded machine is slow, not wrong
  std::array<std::uint64_t, kReceivers> usr1_sent{};
  std::uint64_t usr2_sent = 0, rt_sent = 0, drained = 0;
  const std::uint64_t goal = kDeliveries + kDeliveries / 5;
  for (std::uint64_t i = 0; total.load(std::memory_order_relaxed) < goal; ++i) {
    bool sent = false;
    for (std::size_t r = 0; r < kReceivers; ++r) {
      if (g_usr1_on[r].load() == usr1_sent[r]) {
        ++usr1_sent[r];
        EXPECT_EQ(0, syscall(SYS_tgkill, pid, tids[r].load(), SIGUSR1));
        sent = true;
      }
    }
    if (usr2.load() == usr2_sent) {
      ++usr2_sent;
      EXPECT_EQ(0, kill(pid, SIGUSR2));
      sent = true;
    }
    if (rt_sent - rt_count.load() < 16) {
      union sigval value {};
      value.sival_int = static_cast<int>(rt_sent & 0x3fffffff);
      if (sigqueue(pid, rt, value) == 0) {
        ++rt_sent;
        sent = true;
      }
    }
    if (!sent) std::this_thread::yield();
    if (i % 512 == 0) {
      drained += wake.drain();
      if (std::chrono::steady_clock::now() > deadline) {
        ADD_FAILURE() << "only " << total.load() << " deliveries in 180 s";
        break;
      }
    }
  }
  // Every signal sent is delivered: wait for the last ones.
  const auto all_handled = [&] {
    std::uint64_t usr1_total = 0;
    for (std::uint64_t n : usr1_sent) usr1_total += n;
    return usr1.load() == usr1_total && usr2.load() == usr2_sent && rt_count.load() == rt_sent;
  };
  while (!all_handled() && std::chrono::steady_clock::now() < deadline + 10s) {
    std::this_thread::sleep_for(1ms);
  }
  stop = true;
  for (auto& t : receivers) t.join();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
  drained += wake.drain();

  // The verdict, taken before anything else runs in this process.
  const std::size_t violations = safety::violations();
  const std::string summary = safety::violation_summary();
  const std::uint64_t entries = safety::hook_entries();
  detail::g_handler.hook.store(nullptr);

  EXPECT_EQ(0U, violations) << violations << " calls with a handler on the stack, to: " << summary;
  EXPECT_GE(total.load(), kDeliveries);
  if (extra == nullptr) {
    EXPECT_EQ(total.load(), entries) << "every delivery ran inside the hook's window";
  } else {
    // A `signals` ring that holds a delivery (src/handler/hold.hpp) enters the hook's window without
    // running any action, and again when the kernel hands the delivery back: one entry more per hold.
    EXPECT_GE(entries, total.load()) << "every delivery ran inside the hook's window";
  }
  EXPECT_EQ(total.load(), usr1.load() + usr2.load() + rt_count.load());
  EXPECT_EQ(0U, safety::hook_entries_on_this_thread()) << "the sender blocked every signal";
  for (int r = 0; r < kReceivers; ++r) {
    EXPECT_GE(per_thread[static_cast<std::size_t>(r)], 1000U) << "receiver " << r;
  }
  EXPECT_EQ(rt_sent, rt_count.load()) << "a queued realtime signal was lost";
  EXPECT_EQ(usr2_sent, usr2.load()) << "a SIGUSR2 was lost";
  for (std::size_t r = 0; r < kReceivers; ++r) {
    EXPECT_EQ(usr1_sent[r], g_usr1_on[r].load()) << "a SIGUSR1 to receiver " << r << " was lost";
  }
  EXPECT_EQ(0U, queued.bad.load());
  EXPECT_GE(queued.max_value.load(), 0);
  EXPECT_EQ(usr2.load(), g_chained_runs.load()) << "the previous handler is chained once per delivery";
  EXPECT_TRUE(flag.load());
  EXPECT_GT(drained, 0U);
  int queued_bytes = 0;
  EXPECT_EQ(0, ioctl(pipe_fds[0], FIONREAD, &queued_bytes));
  EXPECT_EQ(fcntl(pipe_fds[1], F_GETPIPE_SZ), queued_bytes) << "the pipe filled up (EAGAIN path taken)";
  EXPECT_GT((usr1.load() + rt_count.load()) * 8, static_cast<std::uint64_t>(queued_bytes));
  EXPECT_GT(work, 0U);

  if (extra != nullptr) extra->finish(usr1.load(), usr2.load(), rt_count.load());
  for (const action_id id : ids) EXPECT_TRUE(remove_action(id));
  close(pipe_fds[0]);
  close(pipe_fds[1]);
  std::printf(
      "[ safety   ] %llu deliveries (%llu SIGUSR1, %llu SIGUSR2, %llu SIGRTMIN) on %d threads in %.2f s\n",
      static_cast<unsigned long long>(total.load()), static_cast<unsigned long long>(usr1.load()),
      static_cast<unsigned long long>(usr2.load()), static_cast<unsigned long long>(rt_count.load()),
      kReceivers, seconds);
}

TEST(Safety, NoUnsafeCallInAHandlerOverManyDeliveriesOnSeveralThreads) {
  SIGRELAY_IN_CHILD([] { stress(nullptr); }, 270);
}

// sigrelay::signals (relay backend) subscribed to the same standard and realtime signals: its
// handler-side recording runs on every delivery too, and must be as clean as the relays. Two
// objects, so that every path of the recording runs:
//   - `waiting`: default ring; its consumer blocks every signal and sleeps in wait() (futex wake-ups);
//   - `polling`: a 16-record ring that overflows (dropped() path), since its consumer is slow; it
//     polls native_handle() (eventfd wake-ups) with the signals unblocked, so deliveries also land
//     on the consumer's own thread.
// Both consumers drain concurrently, and both objects' books must balance with the relays' counts.
class signals_extra final : public stress_extra {
  struct tally {
    std::uint64_t usr1 = 0, usr2 = 0, rt = 0, rt_bad = 0;
    void add(const std::vector<signal_event>& batch) {
      for (const signal_event& e : batch) {
        if (e.signo == SIGUSR1) usr1 += e.count;
        if (e.signo == SIGUSR2) usr2 += e.count;
        if (e.signo == SIGRTMIN) {
          rt += e.count;
          if (e.count != 1 || e.last.kind != origin_kind::queue || e.last.value.sival_int < 0) ++rt_bad;
        }
      }
    }
  };

 public:
  void start() override {
    signals_options options;
    options.backend = backend::relay;
    waiting_ = std::make_unique<signals>(std::vector<int>{SIGUSR1, SIGUSR2, SIGRTMIN}, options);
    options.realtime_capacity = 16;
    polling_ = std::make_unique<signals>(std::vector<int>{SIGUSR1, SIGUSR2, SIGRTMIN}, options);
    waiter_ = std::thread([this] {
      sigset_t all;
      sigfillset(&all);
      pthread_sigmask(SIG_BLOCK, &all, nullptr);
      for (;;) {
        const std::vector<signal_event> batch = waiting_->wait();
        if (batch.empty()) break;
        waiting_tally_.add(batch);
      }
    });
    poller_ = std::thread([this] {
      for (;;) {
        struct pollfd p {
          polling_->native_handle(), POLLIN, 0
        };
        poll(&p, 1, 20);
        // Closed before the drain: the drain sees every record made before the close. (Checked after
        // it, a close during a long drain, whose pokes may wait for holding threads while deliveries
        // land on this thread and record after its collection, ended the loop with records left.)
        const bool closed = polling_->is_closed();
        const std::vector<signal_event> batch = polling_->pending();
        polling_tally_.add(batch);
        if (batch.empty() && closed) break;
        std::this_thread::sleep_for(2ms);  // a slow consumer: the small ring overflows
      }
    });
  }

  void finish(std::uint64_t usr1, std::uint64_t usr2, std::uint64_t rt) override {
    waiting_->get_handle().close();
    polling_->get_handle().close();
    waiter_.join();
    poller_.join();
    // The relays' counts, which ended the flood, run before these objects' record_fn in each delivery:
    // the last delivery may have been counted, and not yet recorded, when close() came. Its record
    // then lands after the close (on the poller's thread, the only one that still takes signals), and
    // wait() rightly ends without it (it hands out what was recorded before close()). Every thread
    // that takes signals is joined now, so one last look finds whatever came after the loops ended.
    waiting_tally_.add(waiting_->pending());
    polling_tally_.add(polling_->pending());
    for (auto [name, sigs, t] : {std::tuple{"waiting", waiting_.get(), &waiting_tally_},
                                 std::tuple{"polling", polling_.get(), &polling_tally_}}) {
      EXPECT_EQ(usr1, t->usr1) << name << ": SIGUSR1 deliveries recorded";
      EXPECT_EQ(usr2, t->usr2) << name << ": SIGUSR2 deliveries recorded";
      EXPECT_EQ(rt, t->rt + sigs->dropped()) << name << ": SIGRTMIN records plus drops";
      EXPECT_GT(t->rt, 0U) << name;
      EXPECT_EQ(0U, t->rt_bad) << name << ": realtime records with a wrong origin";
      std::printf("[ safety   ] signals (%s): %llu realtime records handed out, %llu dropped\n", name,
                  static_cast<unsigned long long>(t->rt), static_cast<unsigned long long>(sigs->dropped()));
    }
    // The 16-record ring overflowed: it held deliveries in the kernel (lifted by its drains), or,
    // where a hold is impossible (ThreadSanitizer), counted them in dropped().
    std::uint64_t lifts = 0;
    for (const auto& entry_lifts : detail::g_ring_lifts) lifts += entry_lifts.load();
    EXPECT_TRUE(polling_->dropped() > 0U || lifts > 0U) << "the 16-record ring overflowed";
    waiting_.reset();
    polling_.reset();
  }

 private:
  std::unique_ptr<signals> waiting_, polling_;
  std::thread waiter_, poller_;
  tally waiting_tally_, polling_tally_;
};

TEST(Safety, SignalsRelayBackendIsAsyncSignalSafeUnderLoad) {
  SIGRELAY_IN_CHILD(
      [] {
        signals_extra extra;
        stress(&extra);
      },
      270);
}

}  // namespace
