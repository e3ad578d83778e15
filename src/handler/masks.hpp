// SPDX-License-Identifier: MIT
// src/handler/masks.hpp — which signals sigrelay blocked in which thread. Signal context.
//
// Design notes
// - The signalfd backend blocks its signals in the thread that subscribes them (the *owner* thread).
//   A signal mask belongs to one thread: only that thread can change it. So the record is per thread:
//   each thread that blocked something has a slot in a fixed, constant-initialised table, holding per
//   signal the number of sigrelay objects that want it blocked there (`refs`). Any thread may take a
//   reference away (an object torn down on another thread); only the owner adds them.
// - `t_applied` (thread-local, owner-only) is what the owner thread's mask really holds for sigrelay.
//   The owner *lifts* a block (unblocks) when it is applied but no longer referenced: at its next entry
//   into the library, in the trampoline (by editing the interrupted context's uc_sigmask, which the
//   kernel restores on return, and with pthread_sigmask for a runtime that calls handlers itself),
//   and in the fork child handler. A thread that tears down another thread's object pokes the owner
//   with a thread-directed signal so that this happens at once (src/signals.cc).
// - Fork children, spawn_attr: only the calling thread's `t_applied` is removed from the child's mask,
//   never a block that the thread set itself, and never one that sigrelay set in another thread.
// - `t_busy` keeps the trampoline away while the owner edits its mask and `t_applied` in ordinary code.
#pragma once

#include <sys/types.h>
#include <atomic>
#include <csignal>
#include <cstdint>

namespace sigrelay::detail {

struct thread_blocks {
  // 0: free; > 0: the owner's kernel thread id; -1: the owner exited while references remained (the
  // slot is freed by whoever drops the last one).
  std::atomic<pid_t> tid;
  std::atomic<std::uint32_t> refs[NSIG];
  std::atomic<std::uint32_t> lifts;  // counts the owner's lift runs (a poker waits for it to move)
};

inline constexpr int max_blocking_threads = 256;

// Constant-initialised, trivially destructible.
extern thread_blocks g_thread_blocks[max_blocking_threads];

// GNU __thread, initial-exec: plain thread-pointer-relative accesses, safe in a signal handler.
extern __thread thread_blocks* t_blocks __attribute__((tls_model("initial-exec")));  // this thread's slot
extern __thread std::uint64_t t_applied __attribute__((tls_model("initial-exec")));  // bit signo-1
extern __thread volatile sig_atomic_t t_busy __attribute__((tls_model("initial-exec")));
// Set by a lift that found `t_busy`: the busy code runs the lift again when it is done.
extern __thread volatile sig_atomic_t t_missed __attribute__((tls_model("initial-exec")));

inline std::uint64_t signal_bit(int signo) noexcept { return std::uint64_t{1} << (signo - 1); }

// Lifts the blocks of this thread that no object references any more: removes them from `t_applied`
// and from `*mask` if given (a handler's uc_sigmask), and unblocks them with pthread_sigmask. Returns
// whether it lifted anything. While `t_busy`, only sets `t_missed`. Async-signal-safe; Signal context (also
// called from ordinary code on the owner thread).
bool lift_released_blocks(sigset_t* mask) noexcept;

// Set, for good, by the first release of a block's last reference on a thread other than the block's
// owner (release_block(), src/signals.cc, after its decrement, before it pokes the owner). Until then
// no thread has a block to lift: a release on the owner thread lifts at once, and pokes (and so
// t_missed) come only from such a release. A release ordered after an owner's look at this flag is
// one made after that look, which its poke reports, as for any release after a full look.
extern std::atomic<bool> g_released_elsewhere;

// Ordinary context, on the owner thread: lift_released_blocks(nullptr), but the look that usually ends
// it made inline, without a call (a drain makes it every time on the signalfd backend: issue 9):
// no block was ever released elsewhere, or this thread blocks one signal for sigrelay, which an
// object still references, and no lift was missed (the same loads as the function's own look).
// Anything else goes to the function. Async-signal-safe.
inline void lift_released_blocks_here() noexcept {
  if (!g_released_elsewhere.load(std::memory_order_seq_cst)) return;
  const std::uint64_t applied = t_applied;
  if (applied == 0) return;
  const thread_blocks* const slot = t_blocks;
  if (slot != nullptr && t_missed == 0 && (applied & (applied - 1)) == 0 &&
      slot->refs[__builtin_ctzll(applied) + 1].load(std::memory_order_seq_cst) != 0)
    return;
  lift_released_blocks(nullptr);
}

// For a fork child (one thread, the forking one): removes this thread's sigrelay blocks from `mask`
// (the holds of hold.hpp included) and forgets every slot (the parent's threads do not exist here).
// Async-signal-safe.
void forget_blocks_in_child(sigset_t& mask) noexcept;

// What the last forget_blocks_in_child() on this thread took out (bit signo-1). A fork made inside a
// delivery (an action or a chained handler forks) leaves the child's thread inside the trampoline,
// whose return puts back the interrupted context's mask, sigrelay's blocks of the parent included:
// they are taken out of that context's mask too (strip_forgotten_blocks()): by the fork child
// handler for a fork inside an action (the context of the delivery whose actions run,
// current_ucontext()), by the trampoline for one inside a chained handler. (An outer delivery that
// the forking one interrupted restores its own context's mask: not handled.) Signal context.
extern __thread std::uint64_t t_forgotten_in_child __attribute__((tls_model("initial-exec")));
inline void strip_forgotten_blocks(sigset_t& mask) noexcept {
  for (std::uint64_t rest = t_forgotten_in_child; rest != 0; rest &= rest - 1)
    sigdelset(&mask, __builtin_ctzll(rest) + 1);
}

// An action that does nothing: keeps the trampoline installed while a poke is under way. Signal context.
void noop_fn(void* unused, const siginfo_t& info) noexcept;

// A poke (see src/signals.cc) is a thread-directed SI_QUEUE signal whose value is this address. The
// trampoline lifts released blocks and runs nothing else for it. Async-signal-safe.
extern const char poke_cookie;
inline bool is_poke(const siginfo_t* info) noexcept {
  return info != nullptr && info->si_code == SI_QUEUE && info->si_value.sival_ptr == &poke_cookie;
}

// Pokes without their siginfo. A poke is a standard signal sent with si_code SI_QUEUE: when the
// sender's queued signals reach RLIMIT_SIGPENDING (exactly what a flood does), the kernel still sends
// it but keeps no siginfo, and the thread receives si_code SI_USER with si_pid 0 and no cookie. (A
// positive si_code would be queued beyond the limit, but rt_tgsigqueueinfo() allows it only from the
// thread whose id is the process id.) So each poker first *claims* an entry of `g_poke_claims` with
// the target's thread id; the target takes a cookie-less SIGURG/SIGWINCH with SI_USER and si_pid 0 as
// its poke if it finds a claim of its id, and clears that claim. Without the claims such a poke ran
// the signal's actions as a user's SIGURG and lifted nothing, and the poker gave up after a second:
// a thread held a realtime signal for good under a flood (tests/exit_race_test.cc crawled for
// minutes). A table full of claims leaves a poke as before (the 1 s wait, then the next drain).
// Limit: a poke sent while the same signal is pending on the thread merges with it (standard
// signals do not queue); its claim then makes the pending one a poke if that one lost its siginfo too.
inline constexpr int max_poke_claims = 64;
extern std::atomic<pid_t> g_poke_claims[max_poke_claims];
// Ordinary context: claims an entry for a poke of thread `tid`; -1 if the table is full.
int claim_poke(pid_t tid) noexcept;
// Ordinary context: frees claim `claim` of `tid` if the poked thread has not taken it.
void release_poke_claim(int claim, pid_t tid) noexcept;
// Signal context. A SIGURG or SIGWINCH: whether it came without siginfo (SI_USER, si_pid 0) while a
// poke of this thread is claimed; takes that claim.
bool take_lost_poke(const siginfo_t& info) noexcept;
// Signal context. Whether `info` (of `signo`) is a poke of this thread: the cookie, or a lost poke.
// Pokes are SIGURG or SIGWINCH only (src/signals.cc sends them), so every other signal is told by
// its number alone, before its siginfo is looked at.
inline bool take_poke(int signo, const siginfo_t* info) noexcept {
  // One bit test for both numbers (signo is 1..64 here: the kernel's).
  constexpr std::uint64_t pokes = (std::uint64_t{1} << SIGURG) | (std::uint64_t{1} << SIGWINCH);
  if (((pokes >> (static_cast<unsigned>(signo) & 63U)) & 1U) == 0 || info == nullptr) return false;
  return is_poke(info) || take_lost_poke(*info);
}

}  // namespace sigrelay::detail
