// SPDX-License-Identifier: MIT
// tests/contract_signals_test.cc — a second audit of the promises of signals.hpp, relays.hpp and
// termination.hpp, aimed at what contract_core_test.cc, contract_api_test.cc and the other tests
// leave out.
//
// Each test quotes (in its comment) the promise it checks and sends real signals:
// - Real interruptions: a non-SA_RESTART handler of another signal firing every few milliseconds
//   (setitimer) never makes wait(), wait_for() or the iterator end early, on both backends, single-
//   threaded (the signalfd backend's blocking read()) and with a second thread (ppoll()/futex);
//   close() made from such a handler ends the wait as promised.
// - Two objects of different backends subscribed to one realtime signal, each with a small ring,
//   under a sigqueue() flood on one CPU: each gets every value, in the order sent.
// - Objects created and destroyed in a tight loop on two threads while a flood runs: afterwards
//   every disposition and every thread's mask is exactly as before; no realtime hold taken on
//   another thread outlives its object.
// - A tgkill() to the thread whose signalfd-backed object blocks the signal, consumed on another
//   thread; a poke beside the program's own SIGURG/SIGWINCH handlers; remove() of a realtime signal
//   with more queued in the kernel than the ring holds.
// - Thread-directed signals (tgkill() from another process) to a thread that blocks the signal
//   itself: received through the signalfd with their sender, and the program's block left alone.
// - native_handle() of the relay backend asked for after deliveries were recorded; after close().
// - Move-assignment onto an object that holds a signalfd block.
// - termination: exit() flushes stdio before it dies; a second signal of another number kills by
//   that number; stop callbacks never run on the signalled thread; a fork child's copy arms and then
//   kills without a stop; a refused constructor changes nothing; destruction restores an ignored and
//   a foreign disposition exactly.
// - relays: emulate_default() preserves errno.
// Every test body runs in a forked child under a watchdog (support/child.hpp) and sets the
// dispositions and masks it relies on first.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "sigrelay/registry.hpp"
#include "sigrelay/relays.hpp"
#include "sigrelay/signals.hpp"
#if __cplusplus >= 202002L && __has_include(<stop_token>)
#include <stop_token>
#include "sigrelay/termination.hpp"
#endif
#include "support/child.hpp"
#include "support/events.hpp"
#include "support/flood_limit.hpp"
#include "support/platform.hpp"
#include "support/process.hpp"
#include "support/senders.hpp"
#include "support/signal_state.hpp"

namespace {

using namespace std::chrono_literals;
using sigrelay::backend;
using sigrelay::signal_event;
using sigrelay::signals;
using sigrelay::signals_options;
using sigrelay::test::differences;
using sigrelay::test::exited_with;
using sigrelay::test::killed_by;
using sigrelay::test::run_in_child;
using sigrelay::test::snapshot;
using sigrelay::test::this_tid;
using sigrelay::test::total;
using sigrelay::test::wait_with_deadline;

// --- Helpers ---------------------------------------------------------------------------------------

void set_blocked(int signo, bool block) {
  sigset_t one;
  sigemptyset(&one);
  sigaddset(&one, signo);
  pthread_sigmask(block ? SIG_BLOCK : SIG_UNBLOCK, &one, nullptr);
}

bool blocked_here(int signo) {
  sigset_t mask;
  pthread_sigmask(SIG_BLOCK, nullptr, &mask);
  return sigismember(&mask, signo) == 1;
}

void install_plain(int signo, void (*fn)(int), int flags) {
  struct sigaction sa {};
  sa.sa_handler = fn;
  sa.sa_flags = flags;
  sigemptyset(&sa.sa_mask);
  sigaction(signo, &sa, nullptr);
}

// A periodic SIGALRM every `usec` microseconds (0: stop).
void ticks(long usec) {
  itimerval t{};
  t.it_interval.tv_usec = usec;
  t.it_value.tv_usec = usec;
  setitimer(ITIMER_REAL, &t, nullptr);
}

// A one-shot SIGALRM after `usec` microseconds.
void one_tick(long usec) {
  itimerval t{};
  t.it_value.tv_sec = usec / 1000000;
  t.it_value.tv_usec = usec % 1000000;
  setitimer(ITIMER_REAL, &t, nullptr);
}

// The calling thread's mask as a 64-bit word (bit signo-1).
std::uint64_t own_mask_bits() {
  sigset_t m;
  pthread_sigmask(SIG_BLOCK, nullptr, &m);
  std::uint64_t bits = 0;
  for (int s = 1; s < 64; ++s)
    if (sigismember(&m, s) == 1) bits |= std::uint64_t{1} << (s - 1);
  return bits;
}

std::string backend_name(const testing::TestParamInfo<backend>& p) {
  return p.param == backend::relay ? "relay" : "signalfd";
}

// The signal mask of thread `tid` of this process, from /proc (SigBlk), as a 64-bit word.
std::uint64_t mask_of_thread(pid_t tid) {
  const std::string path = "/proc/self/task/" + std::to_string(tid) + "/status";
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return ~std::uint64_t{0};
  char line[256];
  std::uint64_t mask = ~std::uint64_t{0};
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::strncmp(line, "SigBlk:", 7) == 0) mask = std::strtoull(line + 7, nullptr, 16);
  }
  std::fclose(f);
  return mask;
}

// A process that, for each byte it reads from `go`, sleeps `delay_us` and sends `signo` to `target`
// with kill(); ends when `go` reaches end of file.
pid_t sender_on_request(pid_t target, int signo, int go_read_end, int go_write_end, useconds_t delay_us) {
  std::fflush(nullptr);
  const pid_t p = fork();
  if (p == 0) {
    close(go_write_end);
    char c = 0;
    for (;;) {
      const ssize_t r = read(go_read_end, &c, 1);
      if (r < 0 && errno == EINTR) continue;
      if (r != 1) break;
      usleep(delay_us);
      if (kill(target, signo) != 0) _exit(2);
    }
    _exit(0);
  }
  return p;
}

void request(int fd) {
  const char c = 1;
  while (write(fd, &c, 1) < 0 && errno == EINTR) {
  }
}

class ContractSignals : public testing::TestWithParam<backend> {
 protected:
  void SetUp() override {
    if (GetParam() == backend::signalfd) SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the signalfd backend");
  }
  backend kind() const { return GetParam(); }
};

INSTANTIATE_TEST_SUITE_P(Backends, ContractSignals, testing::Values(backend::relay, backend::signalfd),
                         backend_name);

std::atomic<unsigned> g_alarms{0};
void count_alarm(int) { g_alarms.fetch_add(1); }

// --- Interruptions by real handlers ---------------------------------------------------------------

// signals.hpp, Errors: "An interrupted system call (EINTR) is retried or ends a sleep that then looks
// again"; wait(): "Blocks until at least one event, or until closed; empty only once closed";
// wait_for(): "As wait(), but also returns empty when the time is up"; the iterator: "yields events
// one at a time, blocking between them, until closed"; signalfd backend's single-threaded read():
// "A handler of another signal that interrupts the read() restarts it (SA_RESTART) or ends it
// (EINTR, then the loop looks again)". A SIGALRM handler without SA_RESTART fires every 2 ms while
// the consumer waits for a SIGUSR1 that another process sends 300 ms after each request: every wait
// must return that SIGUSR1, never empty. Run single-threaded (the signalfd backend sleeps in read())
// and with an idle second thread (ppoll(), or the futex).
void interrupted_waits(backend k, bool threaded) {
  g_alarms.store(0);
  std::atomic<bool> stop{false};
  std::thread idle;
  if (threaded) {
    idle = std::thread([&] {
      set_blocked(SIGALRM, true);  // the ticks interrupt the consumer
      while (!stop.load()) usleep(1000);
    });
  }
  signals sigs({SIGUSR1}, k);
  int go[2];
  ASSERT_EQ(0, pipe(go));
  const pid_t sender = sender_on_request(getpid(), SIGUSR1, go[0], go[1], 300000);
  close(go[0]);
  install_plain(SIGALRM, count_alarm, 0);  // no SA_RESTART: every tick is an EINTR
  ticks(2000);

  request(go[1]);
  const std::vector<signal_event> a = sigs.wait();
  EXPECT_EQ(1U, total(a, SIGUSR1)) << "wait() returned early: " << a.size() << " events";

  request(go[1]);
  const std::vector<signal_event> b = sigs.wait_for(30s);
  EXPECT_EQ(1U, total(b, SIGUSR1)) << "wait_for() returned early: " << b.size() << " events";

  request(go[1]);
  std::vector<signal_event> into;
  EXPECT_EQ(1U, sigs.wait(into));
  EXPECT_EQ(1U, total(into, SIGUSR1)) << "wait(std::vector&) returned early";

  request(go[1]);
  int seen = 0;
  for (const signal_event& e : sigs) {
    seen = e.signo;
    break;
  }
  EXPECT_EQ(SIGUSR1, seen) << "the iterator ended before any event";

#if defined(__cpp_lib_jthread)
  request(go[1]);
  std::stop_source never;
  const std::vector<signal_event> c = sigs.wait(never.get_token());
  EXPECT_EQ(1U, total(c, SIGUSR1)) << "wait(stop_token) returned early without a stop";
#endif

  ticks(0);
  close(go[1]);
  EXPECT_TRUE(exited_with(wait_with_deadline(sender, 10), 0));
  EXPECT_GE(g_alarms.load(), 10U) << "precondition: the waits were interrupted";
  stop.store(true);
  if (idle.joinable()) idle.join();
}

TEST_P(ContractSignals, RealInterruptionsNeverEndAWaitEarlySingleThreaded) {
  const backend k = kind();
  SIGRELAY_IN_CHILD([k] { interrupted_waits(k, /*threaded=*/false); }, 60);
}

TEST_P(ContractSignals, RealInterruptionsNeverEndAWaitEarlyWithASecondThread) {
  const backend k = kind();
  SIGRELAY_IN_CHILD([k] { interrupted_waits(k, /*threaded=*/true); }, 60);
}

signals::handle g_close_me;
void close_on_alarm(int) { g_close_me.close(); }

// signals.hpp, wait() (signalfd backend, single-threaded): "A close() or interrupt_wait() made from a
// signal handler that interrupts such a wait() ... takes effect at the next delivery, or at once if
// that handler's signal is not SA_RESTART"; handle: "close() wakes a blocked wait() or loop, which
// then ends"; wait(): "empty only once closed". A one-shot SIGALRM whose handler (no SA_RESTART)
// closes the object interrupts a wait() that nothing else would end: it must return empty at once,
// for both backends, and so must every later wait().
TEST_P(ContractSignals, ACloseFromANonRestartingHandlerEndsASingleThreadedWaitAtOnce) {
  const backend k = kind();
  SIGRELAY_IN_CHILD(
      [k] {
        signals sigs({SIGUSR1}, k);
        g_close_me = sigs.get_handle();
        install_plain(SIGALRM, close_on_alarm, 0);
        one_tick(200000);
        const std::vector<signal_event> got = sigs.wait();
        EXPECT_TRUE(got.empty());
        EXPECT_TRUE(sigs.is_closed());
        EXPECT_TRUE(sigs.wait().empty());
        int n = 0;
        for (const signal_event& e : sigs) n += e.signo != 0 ? 1 : 0;
        EXPECT_EQ(0, n);
        g_close_me = signals::handle{};
      },
      20);
}

// The same with SA_RESTART: on the relay backend the futex sleep restarts and sees the change; on
// the signalfd backend the close takes effect "at the next delivery" (another process sends one
// SIGUSR1 a second later): that wait() returns (empty, or with that SIGUSR1), and the next is empty
// at once.
TEST_P(ContractSignals, ACloseFromARestartingHandlerEndsASingleThreadedWaitByTheNextDelivery) {
  const backend k = kind();
  SIGRELAY_IN_CHILD(
      [k] {
        signals sigs({SIGUSR1}, k);
        g_close_me = sigs.get_handle();
        install_plain(SIGALRM, close_on_alarm, SA_RESTART);
        int go[2];
        ASSERT_EQ(0, pipe(go));
        const pid_t sender = sender_on_request(getpid(), SIGUSR1, go[0], go[1], 1000000);
        close(go[0]);
        request(go[1]);
        one_tick(200000);
        const std::vector<signal_event> got = sigs.wait();
        EXPECT_LE(total(got, SIGUSR1), 1U);
        EXPECT_TRUE(sigs.is_closed());
        EXPECT_TRUE(sigs.wait().empty()) << "a wait() after close() did not end at once";
        close(go[1]);
        EXPECT_TRUE(exited_with(wait_with_deadline(sender, 10), 0));
        g_close_me = signals::handle{};
      },
      20);
}

// --- Two objects, two backends, one realtime signal, a flood on one CPU ----------------------------

void pin_to_one_cpu() {
  cpu_set_t cpus;
  CPU_ZERO(&cpus);
  sched_getaffinity(0, sizeof cpus, &cpus);
  int first = 0;
  while (first < CPU_SETSIZE && !CPU_ISSET(first, &cpus)) ++first;
  CPU_ZERO(&cpus);
  CPU_SET(first, &cpus);
  sched_setaffinity(0, sizeof cpus, &cpus);
}

// signals.hpp: "realtime signals keep every siginfo in a bounded ring whose overflow is counted exactly
// by dropped(), each signal number's in the order sent"; Backends: "each object gets every delivery
// promptly, whatever the backends"; Realtime floods: "every action of the signal (other `signals`
// objects, ...) sees it exactly once, after the lift, and holds work beside them too ... Order per
// signal number is kept"; "dropped() counts a delivery that found the ring full only where a hold is
// impossible". A signalfd-backed object (ring 4) and a relay-backed one (ring 8) subscribe to the same
// realtime signal, in both orders of construction; another process sigqueue()s 800 values (retrying
// on EAGAIN), everything on one CPU. Each object: received + dropped() == sent; with holds, nothing
// dropped and the values 0..799 exactly in order.
void two_backends_flood(bool signalfd_first) {
  pin_to_one_cpu();
  sigrelay::test::cap_pending_signals_for_a_flood();
  const int sig = SIGRTMIN + 3;
  std::unique_ptr<signals> a;  // signalfd
  std::unique_ptr<signals> b;  // relay
  if (signalfd_first) {
    a = std::make_unique<signals>(std::initializer_list<int>{sig}, signals_options{backend::signalfd, 4});
    b = std::make_unique<signals>(std::initializer_list<int>{sig}, signals_options{backend::relay, 8});
  } else {
    b = std::make_unique<signals>(std::initializer_list<int>{sig}, signals_options{backend::relay, 8});
    a = std::make_unique<signals>(std::initializer_list<int>{sig}, signals_options{backend::signalfd, 4});
  }
  constexpr int kSends = 800;
  const pid_t sender = sigrelay::test::fork_queue_sender(getpid(), sig, kSends);
  std::vector<signal_event> got_a;
  std::vector<signal_event> got_b;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while ((total(got_a, sig) + a->dropped() < kSends || total(got_b, sig) + b->dropped() < kSends) &&
         std::chrono::steady_clock::now() < deadline) {
    for (auto& e : a->wait_for(1ms)) got_a.push_back(e);
    for (auto& e : b->pending()) got_b.push_back(e);
  }
  EXPECT_TRUE(exited_with(wait_with_deadline(sender, 10), 0));
  usleep(20000);
  for (auto& e : a->pending()) got_a.push_back(e);
  for (auto& e : b->pending()) got_b.push_back(e);
  EXPECT_EQ(static_cast<std::uint64_t>(kSends), total(got_a, sig) + a->dropped()) << "signalfd object";
  EXPECT_EQ(static_cast<std::uint64_t>(kSends), total(got_b, sig) + b->dropped()) << "relay object";
  EXPECT_EQ(a->dropped(), a->dropped(sig));
  EXPECT_EQ(b->dropped(), b->dropped(sig));
  const bool holds = !sigrelay::test::posix_platform() && !SIGRELAY_TEST_UNDER_TSAN;
  if (!holds) return;
  EXPECT_EQ(0U, a->dropped());
  EXPECT_EQ(0U, b->dropped());
  for (const auto* got : {&got_a, &got_b}) {
    const char* name = got == &got_a ? "signalfd object" : "relay object";
    ASSERT_EQ(static_cast<std::size_t>(kSends), got->size()) << name;
    int wrong = 0;
    for (int i = 0; i < kSends && wrong < 5; ++i) {
      const signal_event& e = (*got)[static_cast<std::size_t>(i)];
      if (e.signo != sig || e.count != 1 || e.last.value.sival_int != i || e.last.pid != sender ||
          e.last.uid != getuid() || e.last.kind != sigrelay::origin_kind::queue) {
        ++wrong;
        ADD_FAILURE() << name << ": event " << i << " out of order or wrong: " << sigrelay::to_string(e);
      }
    }
  }
}

// registry.hpp: the trampoline "saves and restores errno around all actions". A standard signal whose
// only action is a `signals` object's record takes a lane of its own in the trampoline that saves no
// errno (trampoline.cc, run_standard()): only the wake-up's system call keeps it (notify_rest()). Here
// that call fails: the object's eventfd number is made to name a read-only /dev/null before each
// delivery (native_handle() was asked for, so every first delivery after a drain writes it: EBADF).
// errno after each tgkill() to this thread, which runs the handler before it returns and leaves errno
// alone itself, must be the value set before it; every delivery is still handed out.
TEST(ContractSignalsErrno, AFailingWakeUpWriteOfALoneObjectLeavesTheInterruptedCodesErrno) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::signals sigs({SIGUSR1});
    const int fd = sigs.native_handle();
    ASSERT_GE(fd, 0);
    const int kept = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    const int read_only = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    ASSERT_GE(kept, 0);
    ASSERT_GE(read_only, 0);
    std::vector<signal_event> events;
    for (int round = 1; round <= 200; ++round) {
      ASSERT_EQ(fd, ::dup2(read_only, fd));
      const int mine = 1000 + round;
      errno = mine;
      ASSERT_EQ(0, ::syscall(SYS_tgkill, ::getpid(), ::syscall(SYS_gettid), SIGUSR1));
      const int seen = errno;
      ASSERT_EQ(fd, ::dup2(kept, fd));  // the eventfd back, for the drain
      ASSERT_EQ(mine, seen) << "round " << round
                            << ": errno changed by the delivery: " << std::strerror(seen);
      ASSERT_EQ(1U, sigs.pending(events)) << "round " << round;
      EXPECT_EQ(SIGUSR1, events[0].signo);
      EXPECT_EQ(1U, events[0].count);
    }
    ::close(kept);
    ::close(read_only);
  });
}

TEST(ContractSignalsFlood, ASignalfdAndARelayObjectMadeInThatOrderEachGetEveryValueInOrder) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the signalfd backend");
  if (SIGRELAY_TEST_UNDER_TSAN) GTEST_SKIP() << "ThreadSanitizer loses some of a flood's signals";
  SIGRELAY_IN_CHILD([] { two_backends_flood(/*signalfd_first=*/true); }, 120);
}

TEST(ContractSignalsFlood, ARelayAndASignalfdObjectMadeInThatOrderEachGetEveryValueInOrder) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the signalfd backend");
  if (SIGRELAY_TEST_UNDER_TSAN) GTEST_SKIP() << "ThreadSanitizer loses some of a flood's signals";
  SIGRELAY_IN_CHILD([] { two_backends_flood(/*signalfd_first=*/false); }, 120);
}

// --- Create and destroy in a tight loop under a flood ----------------------------------------------

// signals.hpp: "~signals(); // unsubscribes (restoring a signal's disposition if it was the last
// subscriber)"; Masks: "The block is lifted in the thread that set it when its last object there lets
// go"; Realtime floods: "Ending a realtime subscription (remove(), close(), destruction) on a thread
// that holds: ... the hold is lifted only after the action is gone"; "Holds are lifted by the
// consumer's next drain ... in other threads by a poke". Two threads each create and destroy 150
// objects (alternating backends, realtime rings of 2) on SIGUSR1 and SIGRTMIN+1, both SIG_IGN before,
// while a third thread floods the process with both (kill() and sigqueue()). Once every object is
// gone: every disposition is exactly as before (SIG_IGN: no subscription left behind), and no thread
// of the process blocks anything (no block or hold left behind).
TEST(ContractSignalsLifetime, CreateAndDestroyOnTwoThreadsUnderAFloodLeavesEveryDispositionAndMask) {
  SIGRELAY_IN_CHILD(
      [] {
        sigrelay::test::cap_pending_signals_for_a_flood();
        const int rt = SIGRTMIN + 1;
        signal(SIGUSR1, SIG_IGN);
        signal(rt, SIG_IGN);
        const sigrelay::test::signal_state before = snapshot();
        std::atomic<bool> stop{false};
        std::atomic<int> done{0};
        std::atomic<std::uint64_t> masks[3] = {{1}, {1}, {1}};
        const bool signalfd_ok = !sigrelay::test::posix_platform();
        // A thread inherits its creator's mask, and the main thread may hold (for a full ring of the
        // other looper's object) while it starts this one: such a block is the new thread's own,
        // which no lift undoes (signals.hpp, "Realtime floods"). So each thread unblocks first.
        const auto unblock_both = [rt] {
          sigset_t both;
          sigemptyset(&both);
          sigaddset(&both, SIGUSR1);
          sigaddset(&both, rt);
          pthread_sigmask(SIG_UNBLOCK, &both, nullptr);
        };
        const auto looper = [&](int index) {
          unblock_both();
          for (int i = 0; i < 150; ++i) {
            const backend k = signalfd_ok && (i + index) % 2 == 0 ? backend::signalfd : backend::relay;
            {
              signals sigs({SIGUSR1, rt}, signals_options{k, 2});
              for (int d = 0; d < i % 4; ++d) (void)sigs.pending();
              (void)sigs.wait_for(0ms);
            }
          }
          done.fetch_add(1);
          while (done.load() < 2) usleep(100);
          // Both loops are over: nothing of sigrelay is left in this thread.
          // A poke from the other loop's last destruction may still be on its way here (the
          // poker waits for it, up to a second): a hold lifted late is not a hold left for good.
          std::uint64_t own = own_mask_bits();
          for (int wait = 0; wait < 100 && own != 0; ++wait) {
            usleep(10000);
            own = own_mask_bits();
          }
          masks[index].store(own);
        };
        std::thread flooder([&] {
          union sigval v {};
          while (!stop.load()) {
            kill(getpid(), SIGUSR1);
            (void)sigqueue(getpid(), rt, v);
            ++v.sival_int;
          }
          // Every object is gone: the flooder (which takes deliveries too, so may have held) must
          // not block anything any more either.
          masks[2].store(own_mask_bits());
        });
        std::thread t0(looper, 0);
        std::thread t1(looper, 1);
        t0.join();
        t1.join();
        stop.store(true);
        flooder.join();
        EXPECT_EQ(0U, masks[0].load()) << "a looping thread still blocks signals (mask bits)";
        EXPECT_EQ(0U, masks[1].load()) << "a looping thread still blocks signals (mask bits)";
        EXPECT_EQ(0U, masks[2].load()) << "the flooding thread still blocks signals (mask bits)";
        EXPECT_EQ("", differences(before, snapshot())) << "dispositions or the main thread's mask";
      },
      120);
}

// signals.hpp, Realtime floods: "Holds are lifted by the consumer's next drain ...: in the consumer's
// thread at once, in other threads by a poke"; "Ending a realtime subscription (remove(), close(),
// destruction) on a thread that holds: ... the hold is lifted only after the action is gone"; "A lift
// unblocks what the hold blocked". Round after round, a relay-backed object with a ring of 2 is made
// and destroyed on the main thread, never drained, while two other threads send and take a flood of
// its realtime signal (SIG_IGN before: nothing is fatal once the object is gone), so that they hold
// for its full ring. After each destruction the flood pauses and no thread may still block the
// signal: a hold whose object is gone is never lifted by anyone. The race is narrow (a handler that
// read `no_holds` clear before the destructor set it, and listed its hold after the destructor
// looked at the holders' count): the rounds go on until it is seen, or the budget is spent.
TEST(ContractSignalsLifetime, NoHoldOutlivesItsObjectOnAnotherThread) {
  SIGRELAY_SKIP_WITHOUT_HOLDS();
  SIGRELAY_IN_CHILD(
      [] {
        sigrelay::test::cap_pending_signals_for_a_flood();
        const int rt = SIGRTMIN + 2;
        signal(rt, SIG_IGN);
        const std::uint64_t bit = std::uint64_t{1} << (rt - 1);
        std::atomic<bool> stop{false};
        std::atomic<bool> paused{true};
        std::atomic<int> acks{0};
        std::atomic<int> wanted{0};
        std::atomic<pid_t> taker_tid{0};
        std::atomic<std::uint64_t> flooder_mask{0};
        std::thread taker([&] {
          taker_tid.store(this_tid());
          while (!stop.load()) usleep(50);
        });
        std::thread flooder([&] {
          union sigval v {};
          while (!stop.load()) {
            if (paused.load()) {
              const int want = wanted.load();
              flooder_mask.store(own_mask_bits());  // this thread's mask, again and again while paused
              if (acks.load() != want) acks.store(want);
              usleep(50);
              continue;
            }
            (void)sigqueue(getpid(), rt, v);
            ++v.sival_int;
          }
        });
        while (taker_tid.load() == 0) usleep(100);
        int stuck_rounds = 0;
        // The race is narrow: up to 50,000 rounds (or 30 s, a budget, not an assertion).
        const auto budget = std::chrono::steady_clock::now() + 30s;
        for (int round = 0; round < 50000 && stuck_rounds == 0 && std::chrono::steady_clock::now() < budget;
             ++round) {
          {
            signals sigs({rt}, signals_options{backend::relay, 2});
            paused.store(false);
            for (int spin = 0; spin < (round % 13) * 200; ++spin)
              std::atomic_signal_fence(std::memory_order_seq_cst);
          }
          paused.store(true);
          wanted.store(round + 1);
          while (acks.load() != round + 1) usleep(50);
          usleep(200);
          std::uint64_t tm = mask_of_thread(taker_tid.load());
          std::uint64_t fl = flooder_mask.load();
          const std::uint64_t mine = own_mask_bits();
          // What is checked is a hold that nobody lifts, not the moment of the lift: a poked thread
          // lifts in its handler, and its mask changes when that handler returns, which a loaded
          // machine may delay past the destructor's return. So a block must outlast a second.
          for (int wait = 0; wait < 100 && ((tm | fl) & bit) != 0; ++wait) {
            usleep(10000);
            tm = mask_of_thread(taker_tid.load());
            fl = flooder_mask.load();
          }
          if (((tm | fl | mine) & bit) != 0) {
            ++stuck_rounds;
            ADD_FAILURE() << "round " << round << ": after ~signals() the signal is still blocked in"
                          << ((tm & bit) != 0 ? " the taking thread" : "")
                          << ((fl & bit) != 0 ? " the flooding thread" : "")
                          << ((mine & bit) != 0 ? " the destroying thread" : "");
          }
        }
        stop.store(true);
        flooder.join();
        taker.join();
      },
      120);
}

// --- Thread-directed signals to a thread that blocks the signal itself ----------------------------

// signals.hpp, Masks: "sigrelay blocks a signal in the thread that subscribes it only if that thread
// does not block it already (a block the program set itself is never sigrelay's to lift)"; Backends:
// signalfd "read synchronously from a signalfd, with full siginfo"; origin: "thread, // tgkill(),
// pthread_kill() (SI_TKILL)"; trusted: only negative codes other than SI_TKILL are untrusted. The
// consumer thread blocks SIGUSR1 itself, then subscribes it on the signalfd backend; another process
// tgkill()s exactly that thread (with and without an idle second thread, which does not block it).
// The delivery is received with the sender's pid and uid, as a trusted thread origin; after the
// object is gone the program's block is still there.
void thread_directed_to_self_blocker(bool threaded) {
  set_blocked(SIGUSR1, true);  // the program's own block
  std::atomic<bool> stop{false};
  std::thread idle;
  if (threaded) {
    idle = std::thread([&] {
      set_blocked(SIGUSR1, false);
      while (!stop.load()) usleep(1000);
    });
  }
  const pid_t me = this_tid();
  {
    signals sigs({SIGUSR1}, backend::signalfd);
    const pid_t parent = getpid();
    std::fflush(nullptr);
    const pid_t sender = fork();
    if (sender == 0) _exit(::syscall(SYS_tgkill, parent, me, SIGUSR1) == 0 ? 0 : 2);
    EXPECT_TRUE(exited_with(wait_with_deadline(sender, 10), 0));
    std::vector<signal_event> got;
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (total(got, SIGUSR1) == 0 && std::chrono::steady_clock::now() < deadline) {
      for (auto& e : sigs.wait_for(50ms)) got.push_back(e);
    }
    ASSERT_EQ(1U, total(got, SIGUSR1));
    for (const signal_event& e : got) {
      if (e.signo != SIGUSR1) continue;
      EXPECT_EQ(sigrelay::origin_kind::thread, e.last.kind) << sigrelay::to_string(e);
      EXPECT_EQ(sender, e.last.pid);
      EXPECT_EQ(getuid(), e.last.uid);
      EXPECT_TRUE(e.last.trusted);
    }
  }
  EXPECT_TRUE(blocked_here(SIGUSR1)) << "the program's own block was lifted";
  stop.store(true);
  if (idle.joinable()) idle.join();
}

TEST(ContractSignalsThreads, ATgkillToTheConsumerThatBlocksItselfIsReadWithItsSender) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the signalfd backend");
  SIGRELAY_IN_CHILD([] { thread_directed_to_self_blocker(false); });
}

TEST(ContractSignalsThreads, ATgkillToTheConsumerThatBlocksItselfIsReadWithItsSenderBesideAThread) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the signalfd backend");
  SIGRELAY_IN_CHILD([] { thread_directed_to_self_blocker(true); });
}

// signals.hpp: "Nothing is lost"; relay backend: "Works whatever thread the kernel picks". A worker
// thread blocks SIGUSR2 itself; tgkill() from another process to that worker stays pending in it (the
// kernel's rule) and must be recorded exactly once, with its sender, once the worker unblocks it.
TEST(ContractSignalsThreads, ATgkillToAWorkerThatBlocksItIsRecordedWhenItUnblocks) {
  if (SIGRELAY_TEST_UNDER_TSAN) GTEST_SKIP() << "ThreadSanitizer defers or loses a thread-directed signal";
  SIGRELAY_IN_CHILD([] {
    signals sigs({SIGUSR2});
    std::atomic<pid_t> worker_tid{0};
    std::atomic<bool> unblock{false};
    std::atomic<bool> stop{false};
    std::thread worker([&] {
      set_blocked(SIGUSR2, true);
      worker_tid.store(this_tid());
      while (!unblock.load()) usleep(500);
      set_blocked(SIGUSR2, false);
      while (!stop.load()) usleep(500);
    });
    while (worker_tid.load() == 0) usleep(100);
    const pid_t parent = getpid();
    const pid_t target = worker_tid.load();
    std::fflush(nullptr);
    const pid_t sender = fork();
    if (sender == 0) _exit(::syscall(SYS_tgkill, parent, target, SIGUSR2) == 0 ? 0 : 2);
    EXPECT_TRUE(exited_with(wait_with_deadline(sender, 10), 0));
    usleep(50000);
    EXPECT_EQ(0U, total(sigs.pending(), SIGUSR2)) << "recorded while the worker still blocked it";
    unblock.store(true);
    std::vector<signal_event> got;
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (total(got, SIGUSR2) == 0 && std::chrono::steady_clock::now() < deadline) {
      for (auto& e : sigs.wait_for(50ms)) got.push_back(e);
    }
    usleep(20000);
    for (auto& e : sigs.pending()) got.push_back(e);
    EXPECT_EQ(1U, total(got, SIGUSR2));
    for (const signal_event& e : got) {
      if (e.signo != SIGUSR2) continue;
      EXPECT_EQ(sigrelay::origin_kind::thread, e.last.kind) << sigrelay::to_string(e);
      EXPECT_EQ(sender, e.last.pid);
    }
    stop.store(true);
    worker.join();
  });
}

// signals.hpp, Backends (signalfd): "A signal sent to that thread itself (tgkill(), pthread_kill(),
// pthread_sigqueue()) is pending for that thread alone ...: it is read by a drain on that thread, and
// never by a consumer on another thread; it comes through the handler (recorded) when that thread's
// block is lifted". Nothing is lost: the main thread subscribes (and blocks), a worker consumes a
// process-directed kill(); a tgkill() to the main thread is not the worker's to read, and the main
// thread's own pending() then reads it, with its sender.
TEST(ContractSignalsThreads, ATgkillToTheSubscribingThreadIsReadByADrainOnThatThread) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the signalfd backend");
  SIGRELAY_IN_CHILD([] {
    signals sigs({SIGUSR1}, backend::signalfd);
    ASSERT_TRUE(blocked_here(SIGUSR1)) << "precondition: the only subscriber blocks it here";
    std::atomic<std::uint64_t> got{0};
    std::atomic<bool> finish{false};
    std::thread consumer([&] {
      const auto deadline = std::chrono::steady_clock::now() + 8s;
      while (std::chrono::steady_clock::now() < deadline && !finish.load())
        got.fetch_add(total(sigs.wait_for(20ms), SIGUSR1));
    });
    ASSERT_EQ(0, kill(getpid(), SIGUSR1));
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (got.load() == 0 && std::chrono::steady_clock::now() < deadline) usleep(1000);
    EXPECT_EQ(1U, got.load()) << "the process-directed kill() did not reach the consumer";
    const pid_t parent = getpid();
    const pid_t me = this_tid();
    std::fflush(nullptr);
    const pid_t sender = fork();
    if (sender == 0) _exit(::syscall(SYS_tgkill, parent, me, SIGUSR1) == 0 ? 0 : 2);
    EXPECT_TRUE(exited_with(wait_with_deadline(sender, 10), 0));
    usleep(200000);
    finish.store(true);
    consumer.join();
    EXPECT_EQ(1U, got.load()) << "a consumer on another thread read the main thread's own pending signal";
    sigset_t pend;
    sigpending(&pend);
    EXPECT_EQ(1, sigismember(&pend, SIGUSR1)) << "the tgkill() is not pending for the subscribing thread";
    // The subscribing thread is the consumer now: its drain reads it, with its sender.
    const std::vector<signal_event> events = sigs.pending();
    ASSERT_EQ(1U, total(events, SIGUSR1)) << "the subscribing thread's drain did not read its own signal";
    for (const signal_event& e : events) {
      if (e.signo != SIGUSR1) continue;
      EXPECT_EQ(sender, e.last.pid);
      EXPECT_EQ(sigrelay::origin_kind::thread, e.last.kind);
    }
  });
}

std::atomic<int> g_foreign_runs{0};
void foreign_handler(int, siginfo_t*, void*) { g_foreign_runs.fetch_add(1); }

// signals.hpp, Masks: "From another thread: the owner is interrupted by a poke, a thread-directed
// SIGURG (or SIGWINCH if it blocks SIGURG) ... sigrelay's handler recognises: it lifts the block (and
// runs no action, chains no handler for it). The teardown waits until the owner has done so ... after
// ~signals() returns on thread B, thread A's mask no longer blocks the signal"; "For the poke,
// SIGURG/SIGWINCH have sigrelay's handler for that moment (a previous handler is still chained for
// real deliveries)". The program has its own SA_SIGINFO handlers on SIGURG and SIGWINCH. An owner
// thread (once not blocking SIGURG, once blocking it) makes a signalfd object that another thread
// destroys: the owner's block must be gone when the destructor returns, the program's handlers must
// never run, and every disposition must be exactly as before.
TEST(ContractSignalsMasks, APokeNeverRunsTheProgramsHandlersAndLeavesThemExactly) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the signalfd backend");
  SIGRELAY_IN_CHILD([] {
    for (const int s : {SIGURG, SIGWINCH}) {
      struct sigaction sa {};
      sa.sa_sigaction = foreign_handler;
      sa.sa_flags = SA_SIGINFO | SA_RESTART;
      sigemptyset(&sa.sa_mask);
      sigaddset(&sa.sa_mask, SIGHUP);
      ASSERT_EQ(0, sigaction(s, &sa, nullptr));
    }
    const sigrelay::test::signal_state before = snapshot();
    for (const bool owner_blocks_sigurg : {false, true}) {
      std::unique_ptr<signals> sigs;
      std::atomic<pid_t> owner_tid{0};
      std::atomic<bool> finish{false};
      std::atomic<bool> blocked_by_us{false};
      std::thread owner([&] {
        if (owner_blocks_sigurg) set_blocked(SIGURG, true);
        sigs = std::make_unique<signals>(std::initializer_list<int>{SIGUSR1}, backend::signalfd);
        blocked_by_us.store(blocked_here(SIGUSR1));
        owner_tid.store(this_tid());
        while (!finish.load()) usleep(1000);
      });
      while (owner_tid.load() == 0) usleep(100);
      EXPECT_TRUE(blocked_by_us.load()) << "precondition: the owner blocks SIGUSR1";
      sigs.reset();  // on this thread: the owner is poked
      const std::uint64_t mask = mask_of_thread(owner_tid.load());
      EXPECT_EQ(0U, mask & (std::uint64_t{1} << (SIGUSR1 - 1)))
          << "after ~signals() returned, the owner still blocks SIGUSR1 (sigurg blocked: "
          << owner_blocks_sigurg << ")";
      EXPECT_EQ(owner_blocks_sigurg, (mask & (std::uint64_t{1} << (SIGURG - 1))) != 0)
          << "the owner's own SIGURG block changed";
      finish.store(true);
      owner.join();
      EXPECT_EQ(0, g_foreign_runs.load()) << "a poke ran the program's handler";
      EXPECT_EQ("", differences(before, snapshot()));
    }
    // Real deliveries still reach the program's handlers.
    ASSERT_EQ(0, kill(getpid(), SIGURG));
    ASSERT_EQ(0, kill(getpid(), SIGWINCH));
    EXPECT_EQ(2, g_foreign_runs.load());
  });
}

// signals.hpp, remove(): "signalfd backend: remove() first reads what the kernel still queues of that
// signal (counting a realtime ring's overflow in dropped()) and wakes native_handle()/wait() for it as
// a handler would"; "Deliveries already recorded for a removed signal are still handed out"; Realtime
// floods: "remove() reads everything of the removed signal". Ten sigqueue()d values wait in the
// kernel (the signal is blocked here by the object, ring of 4): remove() must take all ten, record
// the first four (in order), count exactly six in dropped() and dropped(signo), wake the handle, and
// leave the signal unblocked at SIG_DFL; a second realtime signal still queued is left for a drain.
TEST(ContractSignalsRemove, RemoveReadsEveryQueuedRealtimeSiginfoCountingTheOverflowExactly) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the signalfd backend");
  SIGRELAY_IN_CHILD([] {
    const int sig = SIGRTMIN + 5;
    const int other = SIGRTMIN + 6;
    signals sigs({sig, other}, signals_options{backend::signalfd, 4});
    ASSERT_TRUE(blocked_here(sig));
    const int fd = sigs.native_handle();
    ASSERT_GE(fd, 0);
    for (int i = 0; i < 10; ++i) {
      union sigval v {};
      v.sival_int = i;
      ASSERT_EQ(0, sigqueue(getpid(), sig, v));
    }
    union sigval w {};
    w.sival_int = 99;
    ASSERT_EQ(0, sigqueue(getpid(), other, w));
    sigs.remove(sig);
    EXPECT_FALSE(blocked_here(sig));
    struct sigaction sa {};
    sigaction(sig, nullptr, &sa);
    EXPECT_EQ(reinterpret_cast<void*>(SIG_DFL), reinterpret_cast<void*>(sa.sa_handler));
    sigset_t pend;
    sigpending(&pend);
    EXPECT_EQ(0, sigismember(&pend, sig)) << "remove() left siginfos of the removed signal queued";
    EXPECT_EQ(1, sigismember(&pend, other)) << "remove() read another signal";
    EXPECT_TRUE(sigrelay::test::readable(fd, 0)) << "remove() did not wake the handle";
    EXPECT_EQ(6U, sigs.dropped());
    EXPECT_EQ(6U, sigs.dropped(sig));
    const std::vector<signal_event> got = sigs.pending();
    std::vector<int> values;
    for (const signal_event& e : got)
      if (e.signo == sig) values.push_back(e.last.value.sival_int);
    EXPECT_EQ((std::vector<int>{0, 1, 2, 3}), values);
    std::vector<signal_event> rest = got;
    for (auto& e : sigs.pending()) rest.push_back(e);
    EXPECT_EQ(1U, total(rest, other));
  });
}

// --- native_handle() -------------------------------------------------------------------------------

// signals.hpp, native_handle(): "Pollable: readable while events are pending (or after close()) ...
// Once close() was called it stays readable for good". The relay backend writes its eventfd only once
// native_handle() was asked for; deliveries recorded before that first call are pending events too:
// the handle must poll readable as soon as it is returned, then not once pending() took them; after
// close() it stays readable through pending(), wait() and the iterator.
TEST_P(ContractSignals, NativeHandleAskedForAfterDeliveriesIsReadableAndStaysSoAfterClose) {
  const backend k = kind();
  SIGRELAY_IN_CHILD([k] {
    std::atomic<bool> stop{false};
    std::thread idle([&] {  // not single-threaded: the waits below poll or use the futex
      while (!stop.load()) usleep(1000);
    });
    signals sigs({SIGUSR1, SIGRTMIN + 2}, k);
    ASSERT_EQ(0, kill(getpid(), SIGUSR1));
    union sigval v {};
    v.sival_int = 7;
    ASSERT_EQ(0, sigqueue(getpid(), SIGRTMIN + 2, v));
    usleep(20000);
    const int fd = sigs.native_handle();
    ASSERT_GE(fd, 0);
    EXPECT_TRUE(sigrelay::test::readable(fd, 2000)) << "deliveries recorded before native_handle()";
    const std::vector<signal_event> got = sigs.pending();
    EXPECT_EQ(1U, total(got, SIGUSR1));
    EXPECT_EQ(1U, total(got, SIGRTMIN + 2));
    EXPECT_FALSE(sigrelay::test::readable(fd, 0)) << "readable with nothing pending";
    sigs.get_handle().close();
    EXPECT_TRUE(sigrelay::test::readable(fd, 2000));
    (void)sigs.pending();
    EXPECT_TRUE(sigrelay::test::readable(fd, 0)) << "not readable after close() and pending()";
    (void)sigs.wait();
    EXPECT_TRUE(sigrelay::test::readable(fd, 0)) << "not readable after close() and wait()";
    for (const signal_event& e : sigs) (void)e;
    EXPECT_TRUE(sigrelay::test::readable(fd, 0)) << "not readable after close() and the iterator";
    stop.store(true);
    idle.join();
  });
}

// --- Move-assignment ------------------------------------------------------------------------------

// signals.hpp: "Moving transfers the subscriptions (and every handle's target) to the new object";
// "~signals(); // unsubscribes (restoring a signal's disposition if it was the last subscriber)";
// Masks: "The block is lifted in the thread that set it when its last object there lets go". A
// signalfd-backed object that blocks SIGUSR1 here is assigned another object (relay, SIGUSR2): its
// own subscription ends (SIGUSR1 back at SIG_DFL and unblocked here, its handle closed), the moved-in
// one works (and the source's handle now closes it).
TEST(ContractSignalsMove, MoveAssignmentOntoASignalfdObjectEndsItsSubscriptionAndBlock) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the signalfd backend");
  SIGRELAY_IN_CHILD([] {
    const sigrelay::test::signal_state before = snapshot();
    signals a({SIGUSR1}, backend::signalfd);
    ASSERT_TRUE(blocked_here(SIGUSR1)) << "precondition: the only subscriber blocks it";
    signals::handle old_handle = a.get_handle();
    signals b({SIGUSR2});
    signals::handle moved_handle = b.get_handle();
    a = std::move(b);
    EXPECT_FALSE(blocked_here(SIGUSR1));
    EXPECT_TRUE(old_handle.is_closed());
    EXPECT_FALSE(moved_handle.is_closed());
    EXPECT_EQ(backend::relay, a.backend());
    struct sigaction sa {};
    sigaction(SIGUSR1, nullptr, &sa);
    EXPECT_EQ(reinterpret_cast<void*>(SIG_DFL), reinterpret_cast<void*>(sa.sa_handler));
    ASSERT_EQ(0, kill(getpid(), SIGUSR2));
    std::vector<signal_event> got;
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (total(got, SIGUSR2) == 0 && std::chrono::steady_clock::now() < deadline)
      for (auto& e : a.wait_for(50ms)) got.push_back(e);
    EXPECT_EQ(1U, total(got, SIGUSR2));
    moved_handle.close();
    EXPECT_TRUE(a.is_closed());
    EXPECT_TRUE(a.wait().empty());
    a = signals({SIGHUP});
    signals& same = a;
    a = std::move(same);  // self-move: nothing happens
    a = signals(std::initializer_list<int>{});
    EXPECT_EQ("", differences(before, snapshot()));
  });
}

// --- relays ---------------------------------------------------------------------------------------

// relays.hpp, emulate_default(): "Async-signal-safe; errno is preserved." For a signal whose default
// is to do nothing (SIGCHLD, SIGWINCH, SIGURG) and one that stops (SIGTSTP, continued by the parent).
TEST(ContractRelays, EmulateDefaultPreservesErrno) {
  SIGRELAY_IN_CHILD([] {
    for (const int s : {SIGCHLD, SIGWINCH, SIGURG, SIGCONT}) {
      errno = 1234;
      sigrelay::relay::emulate_default(s);
      EXPECT_EQ(1234, errno) << s;
    }
    // Stopping: a grandchild in its own (non-orphaned) process group stops, the child continues it.
    int report[2];
    ASSERT_EQ(0, pipe(report));
    std::fflush(nullptr);
    const pid_t pid = fork();
    if (pid == 0) {
      close(report[0]);
      setpgid(0, 0);
      errno = 4321;
      sigrelay::relay::emulate_default(SIGTSTP);
      const int e = errno;
      _exit(write(report[1], &e, sizeof e) == sizeof e ? 0 : 3);
    }
    close(report[1]);
    int status = 0;
    ASSERT_EQ(pid, waitpid(pid, &status, WUNTRACED));
    ASSERT_TRUE(WIFSTOPPED(status)) << sigrelay::test::describe_status(status);
    EXPECT_EQ(SIGTSTP, WSTOPSIG(status));
    ASSERT_EQ(0, kill(pid, SIGCONT));
    EXPECT_TRUE(exited_with(wait_with_deadline(pid, 10), 0));
    int e = 0;
    EXPECT_EQ(static_cast<ssize_t>(sizeof e), read(report[0], &e, sizeof e));
    EXPECT_EQ(4321, e) << "errno changed by a stop and continue";
    close(report[0]);
  });
}

// --- termination ------------------------------------------------------------------------------------

#if defined(SIGRELAY_HAS_TERMINATION)

// Waits (at most 5 s) until `term` has its stop requested.
bool stop_comes(const sigrelay::termination& term) {
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!term.stop_requested() && std::chrono::steady_clock::now() < deadline) usleep(1000);
  return term.stop_requested();
}

// termination.hpp, exit(): "Flushes stdio, then: if a signal requested the stop, dies by that signal".
// What main printed into a fully buffered stdout (a pipe) must reach the parent, and the process
// must end killed by SIGTERM.
TEST(ContractTermination, ExitFlushesStdioThenDiesByTheStoppingSignal) {
  int out[2];
  ASSERT_EQ(0, pipe(out));
  const int status = run_in_child([&] {
    close(out[0]);
    std::fflush(stdout);
    dup2(out[1], STDOUT_FILENO);
    close(out[1]);
    static char buf[4096];
    std::setvbuf(stdout, buf, _IOFBF, sizeof buf);
    sigrelay::termination term;
    std::printf("graceful-%d", 42);  // stays in the buffer
    kill(getpid(), SIGTERM);
    if (!stop_comes(term)) _exit(3);
    if (term.signal() != SIGTERM) _exit(4);
    term.exit(0);
  });
  close(out[1]);
  std::string got;
  char chunk[256];
  ssize_t n;
  while ((n = read(out[0], chunk, sizeof chunk)) > 0) got.append(chunk, static_cast<std::size_t>(n));
  close(out[0]);
  EXPECT_TRUE(killed_by(status, SIGTERM));
  EXPECT_NE(std::string::npos, got.find("graceful-42")) << "stdout was not flushed: \"" << got << "\"";
}

// termination.hpp: "The first signal requests a stop; the second one ends the process at once, by
// that signal"; signal(): "The signal that requested the stop". With its own set {SIGUSR2, SIGHUP}:
// SIGUSR2 stops, signal() == SIGUSR2, then a SIGHUP (another number) kills by SIGHUP.
TEST(ContractTermination, ASecondSignalOfAnotherNumberKillsByThatNumber) {
  const int status = run_in_child([] {
    sigrelay::termination term{SIGUSR2, SIGHUP};
    kill(getpid(), SIGUSR2);
    if (!stop_comes(term)) _exit(3);
    if (term.signal() != SIGUSR2) _exit(4);
    kill(getpid(), SIGHUP);
    usleep(500000);
    _exit(5);
  });
  EXPECT_TRUE(killed_by(status, SIGHUP)) << sigrelay::test::describe_status(status);
}

// termination.hpp, Thread safety: "Stop callbacks registered on the token run on sigrelay's watcher
// thread (or on the thread calling request_stop()), never in signal context." The signal is sent to
// the main thread alone (tgkill), which sleeps; the callback must run on another thread.
TEST(ContractTermination, StopCallbacksNeverRunOnTheSignalledThread) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::termination term;
    std::atomic<pid_t> ran_on{0};
    const std::stop_callback cb(term.token(), [&] { ran_on.store(this_tid()); });
    const pid_t me = this_tid();
    ASSERT_EQ(0, ::syscall(SYS_tgkill, getpid(), me, SIGINT));
    ASSERT_TRUE(stop_comes(term));
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (ran_on.load() == 0 && std::chrono::steady_clock::now() < deadline) usleep(1000);
    EXPECT_NE(0, ran_on.load());
    EXPECT_NE(me, ran_on.load()) << "the stop callback ran on the signalled thread";
    EXPECT_EQ(SIGINT, term.signal());
  });
}

// termination.hpp, Fork: "A fork child's copy ... requests no stop ... The signal-context part stays:
// in the child, the first of the signals arms the kill and the second one kills the child by that
// signal." The parent's object is untouched by the child's signals.
TEST(ContractTermination, AForkChildsCopyArmsOnTheFirstSignalAndDiesByTheSecond) {
  // ThreadSanitizer defers a handler to the thread's next intercepted call and keeps one deferred
  // signal per number (README, Caveats): the two SIGTERMs can run the handler once, arming only.
  if (SIGRELAY_TEST_UNDER_TSAN) GTEST_SKIP() << "ThreadSanitizer coalesces or loses deferred signals";
  SIGRELAY_IN_CHILD([] {
    sigrelay::termination term;
    int report[2];
    ASSERT_EQ(0, pipe(report));
    std::fflush(nullptr);
    const pid_t pid = fork();
    if (pid == 0) {
      alarm(10);
      close(report[0]);
      kill(getpid(), SIGTERM);
      usleep(200000);
      const char alive = term.stop_requested() ? 'S' : 'A';
      if (write(report[1], &alive, 1) != 1) _exit(6);
      kill(getpid(), SIGTERM);
      usleep(500000);
      _exit(7);
    }
    close(report[1]);
    const int status = wait_with_deadline(pid, 15);
    char c = 0;
    EXPECT_EQ(1, read(report[0], &c, 1));
    close(report[0]);
    EXPECT_EQ('A', c) << "the child's first SIGTERM killed it or requested a stop there";
    EXPECT_TRUE(killed_by(status, SIGTERM)) << sigrelay::test::describe_status(status);
    usleep(50000);
    EXPECT_FALSE(term.stop_requested()) << "the child's signals reached the parent's object";
  });
}

// termination.hpp, Errors: "The constructor throws std::system_error: as signals' does (a refused
// signal is named) ... Nothing is changed on failure"; Only one at a time: "once the first is
// destroyed, a new one may be made" — a refused constructor must give the slot back. Also
// ~termination(): "the signals' dispositions are restored": an ignored SIGINT (as a shell gives a
// background job) and a foreign SA_SIGINFO handler on SIGTERM come back exactly.
TEST(ContractTermination, ARefusedConstructorChangesNothingAndDestructionRestoresExactly) {
  SIGRELAY_IN_CHILD([] {
    signal(SIGINT, SIG_IGN);
    struct sigaction foreign {};
    foreign.sa_sigaction = [](int, siginfo_t*, void*) {};
    foreign.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&foreign.sa_mask);
    sigaddset(&foreign.sa_mask, SIGHUP);
    ASSERT_EQ(0, sigaction(SIGTERM, &foreign, nullptr));
    const sigrelay::test::signal_state before = snapshot();
    bool threw = false;
    try {
      sigrelay::termination bad{SIGINT, SIGTERM, SIGKILL};
    } catch (const std::system_error& e) {
      threw = true;
      EXPECT_EQ(std::make_error_code(std::errc::invalid_argument), e.code()) << e.what();
      EXPECT_NE(std::string::npos, std::string(e.what()).find("SIGKILL")) << e.what();
    }
    EXPECT_TRUE(threw);
    EXPECT_EQ("", differences(before, snapshot())) << "the refused constructor changed something";
    {
      sigrelay::termination term;  // the slot was given back
      kill(getpid(), SIGINT);
      EXPECT_TRUE(stop_comes(term)) << "an inherited SIG_IGN kept the stop from coming";
    }
    EXPECT_EQ("", differences(before, snapshot())) << "destruction did not restore the dispositions";
  });
}

#endif  // SIGRELAY_HAS_TERMINATION

}  // namespace
