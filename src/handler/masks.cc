// SPDX-License-Identifier: MIT
// src/handler/masks.cc — per-thread record of sigrelay's blocked signals. Signal context.
//
// Everything here is async-signal-safe (man 7 signal-safety): atomics, TLS, pthread_sigmask and the
// raw gettid system call only; no allocation, locks, exceptions or logging; errno is saved and
// restored. See masks.hpp.
#include "handler/masks.hpp"

#include "handler/hold.hpp"

#include "platform/config.hpp"  // SIGRELAY_LINUX

#include <pthread.h>
#include <unistd.h>
#include <cerrno>

#if SIGRELAY_LINUX
#include <sys/syscall.h>
#endif

namespace sigrelay::detail {

thread_blocks g_thread_blocks[max_blocking_threads]{};
__thread thread_blocks* t_blocks __attribute__((tls_model("initial-exec"))) = nullptr;
__thread std::uint64_t t_applied __attribute__((tls_model("initial-exec"))) = 0;
__thread std::uint64_t t_forgotten_in_child __attribute__((tls_model("initial-exec"))) = 0;
__thread volatile sig_atomic_t t_busy __attribute__((tls_model("initial-exec"))) = 0;
__thread volatile sig_atomic_t t_missed __attribute__((tls_model("initial-exec"))) = 0;
const char poke_cookie = 0;
std::atomic<bool> g_released_elsewhere{false};
std::atomic<pid_t> g_poke_claims[max_poke_claims]{};

// Ordinary context.
int claim_poke(pid_t tid) noexcept {
  for (int i = 0; i < max_poke_claims; ++i) {
    pid_t expected = 0;
    if (g_poke_claims[i].compare_exchange_strong(expected, tid, std::memory_order_seq_cst)) return i;
  }
  return -1;
}

// Ordinary context.
void release_poke_claim(int claim, pid_t tid) noexcept {
  if (claim < 0) return;
  g_poke_claims[claim].compare_exchange_strong(tid, 0, std::memory_order_seq_cst);
}

// Signal context: atomics and the raw gettid system call; errno saved and restored.
bool take_lost_poke(const siginfo_t& info) noexcept {
  if (info.si_code != SI_USER || info.si_pid != 0) return false;
#if SIGRELAY_LINUX
  const int saved_errno = errno;
  const auto self = static_cast<pid_t>(::syscall(SYS_gettid));
  errno = saved_errno;
  for (std::atomic<pid_t>& claim : g_poke_claims) {
    pid_t expected = self;
    if (claim.load(std::memory_order_seq_cst) == self &&
        claim.compare_exchange_strong(expected, 0, std::memory_order_seq_cst))
      return true;
  }
#endif
  return false;
}

namespace {

// Signal context (also ordinary context on the owner thread). The lift itself: marks itself busy, so
// that a handler interrupting an ordinary-context run leaves `t_applied` to it. Out of line, so that
// the checks before it cost no frame.
[[gnu::noinline]] bool lift_now(thread_blocks* const slot, sigset_t* mask) noexcept {
  if (t_busy != 0) {  // interrupted the owner's own bookkeeping: it looks again when done
    t_missed = 1;
    return false;
  }
  t_busy = 1;
  const int saved_errno = errno;
#if defined(__SANITIZE_THREAD__)
  // ThreadSanitizer may run a handler late, on a copy of the context, and then put back the mask it
  // saved: a handler cannot know that its unblocking sticks, so only ordinary context records it.
  const bool record = mask == nullptr;
#else
  const bool record = true;
#endif
  bool any = false;
  do {
    t_missed = 0;
    sigset_t lifted;
    sigemptyset(&lifted);
    bool some = false;
    for (std::uint64_t rest = t_applied; rest != 0; rest &= rest - 1) {
      const int signo = __builtin_ctzll(rest) + 1;
      if (slot->refs[signo].load(std::memory_order_seq_cst) != 0) continue;
      // Only the owner thread adds references, and it is here: a zero stays zero until we return.
      if (record) t_applied &= ~signal_bit(signo);
      sigaddset(&lifted, signo);
      if (mask != nullptr) sigdelset(mask, signo);
      some = true;
    }
    if (some) ::pthread_sigmask(SIG_UNBLOCK, &lifted, nullptr);
    any = any || some;
  } while (t_missed != 0);
  slot->lifts.fetch_add(1, std::memory_order_seq_cst);
  errno = saved_errno;
  t_busy = 0;
  return any;
}

}  // namespace

// Signal context (also ordinary context on the owner thread).
bool lift_released_blocks(sigset_t* mask) noexcept {
  thread_blocks* const slot = t_blocks;
  if (t_applied == 0 || slot == nullptr) return false;
  // Ordinary context (a drain: every one on the signalfd backend): nothing to lift while every applied
  // block is still referenced, so look first and return without lift_now() (no errno, no
  // system call, no `lifts` tick). Pokers wait for the tick of the lift their poke's handler runs
  // (signal context: always the full path), or, where that handler found this thread busy (t_missed),
  // of the run the busy code makes afterwards: t_missed takes the full path here too. A reference
  // dropped by another thread after the look is that thread's to report with a poke, exactly as if it
  // were dropped just after a full run. A handler that interrupts the look and lifts edits t_applied
  // itself: the look then ends on a copy (nothing lifted twice: the full path re-reads t_applied).
  // Only atomics loads and thread-local reads: async-signal-safe like the rest.
  if (mask == nullptr && t_missed == 0) {
    bool released = false;
    for (std::uint64_t rest = t_applied; rest != 0 && !released; rest &= rest - 1) {
      released = slot->refs[__builtin_ctzll(rest) + 1].load(std::memory_order_seq_cst) == 0;
    }
    if (!released) return false;
  }
  return lift_now(slot, mask);
}

// Signal context.
void noop_fn(void*, const siginfo_t&) noexcept {}

// Signal context (a fork child handler). The holds of full realtime rings (hold.hpp) go too.
void forget_blocks_in_child(sigset_t& mask) noexcept {
  t_forgotten_in_child = t_applied | forget_ring_holds_in_child(mask);
  for (int signo = 1; signo < NSIG; ++signo) {
    if ((t_applied & signal_bit(signo)) != 0) sigdelset(&mask, signo);
  }
  t_applied = 0;
  t_blocks = nullptr;
  for (thread_blocks& slot : g_thread_blocks) {
    slot.tid.store(0, std::memory_order_relaxed);
    for (std::atomic<std::uint32_t>& r : slot.refs) r.store(0, std::memory_order_relaxed);
  }
}

}  // namespace sigrelay::detail
