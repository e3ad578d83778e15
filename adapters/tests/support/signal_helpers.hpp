// SPDX-License-Identifier: MIT
// adapters/tests/support/signal_helpers.hpp — sending real signals to the test process.
//
// Used inside run_in_child() bodies only: every signal goes to this process (or one of its threads)
// by its own pid, never to a group. Every process started here is waited for.
#pragma once

#include <pthread.h>

#include <sys/types.h>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <initializer_list>
#include <thread>
#include <utility>

namespace sigrelay::test {

// Sets each of `signos` to SIG_DFL and unblocks it in the calling thread: the state a test relies on.
void prepare_signals(std::initializer_list<int> signos);

// Blocks every signal in the calling thread: for a test's helper threads (event-loop threads,
// schedulers), so that process-directed signals go to the main thread, which sends them and is
// always eligible. The adapters must not depend on which thread the kernel picks; this only keeps
// ThreadSanitizer, which defers a signal that interrupts instrumented code until the thread's next
// intercepted call, from parking one in a thread that then sleeps in epoll_wait()/a condition wait.
void block_signals_in_this_thread();

// Starts `body` on a new thread that has every signal blocked from its first instruction (blocked
// in the calling thread around the creation, which the new thread inherits). For helper threads of
// realtime floods: one that blocks them only once it runs may be hit before, while a ring is full,
// and keep that delivery held (README, Caveats, "Threads that block signals").
template <typename F>
std::thread start_blocked_thread(F&& body) {
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  std::thread t(std::forward<F>(body));
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return t;
}

// Waits until `done()` or `timeout`, sleeping 1 ms at a time; returns done(). The thread that receives
// the signals should wait this way rather than in std::future::wait_for() or a join: under
// ThreadSanitizer, a signal that arrives while the thread runs instrumented code is handled only at
// its next intercepted call, and libstdc++'s futex waits are not intercepted (nanosleep is).
template <typename Pred, typename Rep, typename Period>
bool wait_until_true(Pred done, std::chrono::duration<Rep, Period> timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > end) return done();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

enum class send_how { kill, queue };

// Forks a process that sends `signo` to this process `times` times (kill(), or sigqueue() with
// values value, value + 1, ...), then exits; waits for it. Returns the sender's pid.
pid_t send_from_other_process(int signo, send_how how = send_how::kill, int value = 0, int times = 1);

// tgkill(getpid(), tid, signo), once thread `tid` sleeps (at most 10 s): ThreadSanitizer (GCC 12's)
// loses a signal that arrives as a thread enters an intercepted blocking call, such as the
// nanosleep() of a helper thread's sleep loop (README, "Caveats"). Helper threads that wait to be
// signalled sleep 20 ms at a time, so that they rarely enter one.
void send_to_thread(pid_t tid, int signo);
pid_t current_tid();

// A process that sends `signo` to this process as fast as it can until stop_flood(); it also stops
// when this process is gone. Returns once its first signal was sent (a fork() under a sanitizer, on a
// loaded machine, can take longer than the test's own measuring window).
pid_t start_flood(int signo);
void stop_flood(pid_t pid);

// A thread that only receives `signo` (it unblocks it and sleeps), for floods: with `signo` blocked in
// every other thread, the kernel runs the handlers there, and the thread under test (the event loop)
// is not livelocked in back-to-back handlers; what is measured is the adapter's share of the loop.
// Stop the flood before destroying it, and keep `signo` blocked elsewhere afterwards.
class receiver_thread {
 public:
  explicit receiver_thread(int signo);
  ~receiver_thread();
  receiver_thread(const receiver_thread&) = delete;
  receiver_thread& operator=(const receiver_thread&) = delete;

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Blocks `signo` in the calling thread (threads created afterwards inherit it).
void block_signal_in_this_thread(int signo);

// True if `signo`'s disposition is SIG_DFL (sigrelay restored it).
bool is_default_disposition(int signo);

// A state that is not all-default, for the tests of "leaves the signal state exactly as it was":
// SIGUSR1 has a program handler (SA_SIGINFO | SA_RESTART, with SIGTERM in its sa_mask), SIGHUP is
// ignored, SIGUSR2 and `rt` are SIG_DFL; the calling thread blocks SIGPIPE and SIGTERM and nothing
// else. Resets prior_handler_calls().
void install_prior_state(int rt);

// How many times install_prior_state()'s SIGUSR1 handler ran (in this process).
int prior_handler_calls();

}  // namespace sigrelay::test
