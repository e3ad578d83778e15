// SPDX-License-Identifier: MIT
// src/handler/hold.cc — holding realtime signals in the kernel while a ring is full. Signal context.
//
// Everything here is async-signal-safe (man 7 signal-safety): atomics, TLS, memcpy/memset,
// pthread_sigmask, the raw system calls gettid, getpid and rt_tgsigqueueinfo, and dispatch() (the
// trampoline's body, for a stash); no allocation, locks, exceptions or logging; errno is saved and
// restored. See hold.hpp.
#include "handler/hold.hpp"

#include "platform/config.hpp"  // SIGRELAY_LINUX

#include <pthread.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>
#include <initializer_list>

#if SIGRELAY_LINUX
#include <sys/syscall.h>
#endif

#include "handler/masks.hpp"  // signal_bit

namespace sigrelay::detail {

std::atomic<pid_t> g_ring_holders[max_ring_holders]{};
std::atomic<std::uint64_t> g_ring_holder_signals[max_ring_holders]{};
std::atomic<std::uint64_t> g_ring_holder_stashed[max_ring_holders]{};
std::atomic<std::uint64_t> g_ring_holder_info[max_ring_holders][ring_hold_signals][ring_hold_info_words]{};
std::atomic<int> g_ring_holder_count{0};
std::atomic<std::uint32_t> g_ring_lifts[max_ring_holders]{};
std::atomic<std::uint32_t> g_ring_put_offs[max_ring_holders]{};
std::atomic<hold_test_hook_fn> g_hold_test_hook{nullptr};
__thread unsigned t_hold_allowed __attribute__((tls_model("initial-exec"))) = 0;
__thread unsigned t_hold_request __attribute__((tls_model("initial-exec"))) = 0;
__thread unsigned t_hold_windows __attribute__((tls_model("initial-exec"))) = 0;
__thread std::uint64_t t_ring_held __attribute__((tls_model("initial-exec"))) = 0;
__thread int t_ring_entry __attribute__((tls_model("initial-exec"))) = -1;

namespace {

bool listable(int signo) noexcept { return signo >= ring_hold_first && signo < NSIG; }

// Signal context. The entry holding the copy of the delivery that t_hold_request (non-zero) asks to
// hold: the request is that entry plus one (hold_whole_delivery()). Never -1, so a thread with no
// entry never matches it.
int requested_entry() noexcept { return static_cast<int>(t_hold_request) - 1; }

#if SIGRELAY_LINUX  // only holds write copies (hold_whole_delivery())
// Signal context. Writes `info` (what the kernel keeps of it) to entry `entry`'s slot of its signal.
void store_copy(int entry, const siginfo_t& info) noexcept {
  std::uint64_t words[ring_hold_info_words];
  std::memcpy(words, &info, sizeof words);
  std::atomic<std::uint64_t>* slot = g_ring_holder_info[entry][info.si_signo - ring_hold_first];
  for (int i = 0; i < ring_hold_info_words; ++i) slot[i].store(words[i], std::memory_order_relaxed);
}
#endif

// Signal context. Reads entry `entry`'s slot of `signo` into `out` (the rest of it zero).
void load_copy(int entry, int signo, siginfo_t& out) noexcept {
  std::uint64_t words[ring_hold_info_words];
  const std::atomic<std::uint64_t>* slot = g_ring_holder_info[entry][signo - ring_hold_first];
  for (int i = 0; i < ring_hold_info_words; ++i) words[i] = slot[i].load(std::memory_order_relaxed);
  std::memset(&out, 0, sizeof out);
  std::memcpy(&out, words, sizeof words);
}

// Signal context. Takes entry `entry`'s stash of `signo` into `out`, if it has one (exactly one
// caller gets it: the bit is taken with an atomic and).
bool take_stash(int entry, int signo, siginfo_t& out) noexcept {
  const std::uint64_t bit = signal_bit(signo);
  if ((g_ring_holder_stashed[entry].fetch_and(~bit, std::memory_order_seq_cst) & bit) == 0) return false;
  load_copy(entry, signo, out);
  g_ring_holder_signals[entry].fetch_and(~bit, std::memory_order_seq_cst);
  return true;
}

// Signal context (also ordinary context on the holding thread). Whether entry `entry` has a stash of
// `signo` that a ring of the signal would hold now (delivery_would_hold()): run now, with no hold, it
// would be dropped there, so it is kept instead (hold.hpp, "Stashes").
bool stash_to_keep(int entry, int signo) noexcept {
  return listable(signo) &&
         (g_ring_holder_stashed[entry].load(std::memory_order_seq_cst) & signal_bit(signo)) != 0 &&
         delivery_would_hold(signo);
}

// Signal context. Runs a stashed delivery through every action, with no hold (a full ring counts it
// in dropped()).
void run_stash(siginfo_t& info) noexcept {
  const unsigned allowed = t_hold_allowed;
  t_hold_allowed = 0;
  dispatch(info.si_signo, &info, nullptr);
  t_hold_allowed = allowed;
}

// Signal context. Runs entry `entry`'s stash of `signo` (this thread's), if it has one, and unlists it.
void run_stash_of(int entry, int signo) noexcept {
  siginfo_t stash;
  if (listable(signo) && take_stash(entry, signo, stash)) run_stash(stash);
}

// Signal context. Runs every stash of entry `entry` (this thread's) and unlists it.
void run_stashes(int entry) noexcept {
  for (std::uint64_t rest = g_ring_holder_stashed[entry].load(std::memory_order_seq_cst); rest != 0;
       rest &= rest - 1)
    run_stash_of(entry, __builtin_ctzll(rest) + 1);
}

#if SIGRELAY_LINUX
// Signal context. Lists this thread in g_ring_holders (or finds it listed: one entry per thread,
// whatever it holds for); false if the table is full. A delivery of another realtime signal may
// nest anywhere in here and claim an entry itself: an entry becomes this thread's only through the
// compare-exchange of t_ring_entry, and the loser gives its own back (hold.hpp: "Nesting, within
// the bookkeeping").
bool claim_entry(pid_t tid) noexcept {
  if (__atomic_load_n(&t_ring_entry, __ATOMIC_SEQ_CST) >= 0) return true;
  for (int i = 0; i < max_ring_holders; ++i) {
    pid_t expected = 0;
    if (!g_ring_holders[i].compare_exchange_strong(expected, tid, std::memory_order_seq_cst)) continue;
    g_ring_holder_count.fetch_add(1, std::memory_order_seq_cst);
    if (const hold_test_hook_fn hook = g_hold_test_hook.load(std::memory_order_relaxed))
      hook(hook_point::claim);
    int none = -1;
    if (__atomic_compare_exchange_n(&t_ring_entry, &none, i, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
      return true;
    // A nested delivery claimed entry `none` meanwhile: this thread keeps that one.
    g_ring_holder_count.fetch_sub(1, std::memory_order_seq_cst);
    g_ring_holders[i].store(0, std::memory_order_seq_cst);
    return true;
  }
  return false;
}

// Signal context. claim_entry(), then the entry this thread has: its index, or -1 if the table is full.
int claimed_entry(pid_t tid) noexcept {
  return claim_entry(tid) ? __atomic_load_n(&t_ring_entry, __ATOMIC_SEQ_CST) : -1;
}
#endif

}  // namespace

// Signal context.
bool hold_delivery(const siginfo_t& info) noexcept {
  if (t_hold_allowed == 0) return false;
  return hold_whole_delivery(info);
}

// Signal context.
bool hold_whole_delivery(const siginfo_t& info) noexcept {
#if !SIGRELAY_LINUX
  // Holds need rt_tgsigqueueinfo() (Linux): on the posix platform layer a full ring counts the
  // delivery in dropped() instead (see signals.hpp).
  (void)info;
  return false;
#else
  const int saved_errno = errno;
  // The window opens: a delivery nested from here to apply_hold() cannot take this thread out of the
  // table (cancel_hold()). The trampoline puts the count back.
  ++t_hold_windows;
  // Raw system calls: gettid/getpid name this thread for rt_tgsigqueueinfo (the overflow path only).
  const auto tid = static_cast<pid_t>(::syscall(SYS_gettid));
  bool held = false;
  bool stashed = false;
  if (claim_entry(tid)) {
    siginfo_t copy = info;
    // The kernel's own copy of the siginfo, sent back to this thread: it stays first in line.
    held = ::syscall(SYS_rt_tgsigqueueinfo, ::getpid(), tid, info.si_signo, &copy) == 0;
    // Refused (EAGAIN at RLIMIT_SIGPENDING, EPERM): the entry keeps the siginfo itself (see the notes).
    if (!held && listable(info.si_signo)) held = stashed = true;
    if (const hold_test_hook_fn hook = g_hold_test_hook.load(std::memory_order_relaxed))
      hook(hook_point::requeue);
  }
  // A delivery nested on the re-queue's return may have lifted since the claim (cancel_hold() of a
  // hold of its own, which found nothing of this one listed yet), leaving the table: then this
  // thread has no entry (-1), or a new one that a further nested hold claimed. Every index below is
  // this one load, never -1 (a re-read indexed with -1: a copy written before g_ring_holder_info,
  // and a stash kept nowhere, lost without a count). A re-queued siginfo needs no entry to survive
  // (it comes back at once); a stash does: it claims one again, and only if the table is full do
  // the actions run now (a full ring counts it in dropped()).
  int entry = __atomic_load_n(&t_ring_entry, __ATOMIC_SEQ_CST);
  if (stashed && entry < 0) entry = claimed_entry(tid);
  if (stashed && entry < 0) held = stashed = false;
  if (held && entry >= 0 && listable(info.si_signo)) {
    // Kept for a consumer that finds this thread exited with the hold (see the notes). This signal's
    // bit is clear (ring_hold_taken() ran for this delivery), so no consumer reads the copy now.
    store_copy(entry, info);
  }
  // A stash is listed at once, after the copy: a lift from here on runs it (apply_hold() lists it
  // again). A lift nested since the load above left `entry` before it saw the stash: the stash is
  // taken back (one atomic and decides against any other taker) and, like one whose entry a lift
  // left before the load, claims an entry again and is listed there, a few times at most (each time
  // needs another nested lift); then, or with the table full, the actions run now (a full ring
  // counts it in dropped()). Taken by someone else, it ran: the delivery counts as held.
  const std::uint64_t bit = signal_bit(info.si_signo);
  for (int listings = 0; stashed; ++listings) {
    if (const hold_test_hook_fn hook = g_hold_test_hook.load(std::memory_order_relaxed))
      hook(hook_point::stash);
    g_ring_holder_stashed[entry].fetch_or(bit, std::memory_order_seq_cst);
    g_ring_holder_signals[entry].fetch_or(bit, std::memory_order_seq_cst);
    siginfo_t mine;
    if (__atomic_load_n(&t_ring_entry, __ATOMIC_SEQ_CST) == entry || !take_stash(entry, info.si_signo, mine))
      break;
    entry = listings < 3 ? claimed_entry(tid) : -1;
    if (entry < 0) {
      held = stashed = false;
      break;
    }
    store_copy(entry, info);
  }
  // The request names the entry that holds the copy (entry + 1): apply_hold() and cancel_hold() act
  // only if this thread still has that one. A re-queued siginfo whose entry is gone asks for nothing
  // (0): it comes back at once.
  if (held) {
    t_hold_request = static_cast<unsigned>(entry + 1);
    if (const hold_test_hook_fn hook = g_hold_test_hook.load(std::memory_order_relaxed))
      hook(hook_point::requested);
  }
  errno = saved_errno;
  return held;
#endif
}

// Signal context.
void cancel_hold(int signo, sigset_t* mask) noexcept {
  if (t_hold_request == 0) return;
  const int entry = __atomic_load_n(&t_ring_entry, __ATOMIC_SEQ_CST);
  if (entry != requested_entry()) {
    t_hold_request = 0;  // a nested lift left the hold's entry meanwhile (and ran any stash)
    return;
  }
  // A refused re-queue whose signal another object's ring would hold (the unsubscribing sink's own
  // ring no longer counts): the hold stays, for that ring, whose consumer's drain pokes this thread,
  // as a lift would keep it.
  if (stash_to_keep(entry, signo)) return;
  t_hold_request = 0;  // apply_hold() blocks nothing
  // A refused re-queue: the delivery is only in the stash, and nothing will take it now.
  run_stash_of(entry, signo);
  // Leave the table only if this thread holds nothing else: a lift here, nested inside another run
  // of the trampoline, could not lift what an outer context's saved mask blocks (notes, "Nesting").
  // Nor while an enclosing run's hold is in its window (t_hold_windows counts this one too): that
  // hold has its entry's index in hand and is not listed yet; a lift would free the entry under it,
  // for another thread to claim (notes, "Nesting, within the bookkeeping").
  if (mask != nullptr && t_hold_windows <= 1 && __atomic_load_n(&t_ring_held, __ATOMIC_SEQ_CST) == 0 &&
      g_ring_holder_signals[entry].load(std::memory_order_seq_cst) == 0) {
    lift_ring_holds(mask);
  }
}

// Signal context.
void apply_hold(int signo, sigset_t& mask) noexcept {
  if (t_hold_request == 0) return;
  const int held_in = requested_entry();
  t_hold_request = 0;
  // A lift nested between the re-queue and here (a poke's, or a nested hold's cancel_hold()) left
  // the table: no block, so the re-queued siginfo comes back at once (and holds again if the ring is
  // still full). Also when a further nested hold has claimed a new entry since: listed there, beside
  // whatever copy an earlier hold left in it, the hold would have a consumer that finds this thread
  // exited run that stale siginfo instead of this one (a duplicate, and this delivery lost).
  const int entry = __atomic_load_n(&t_ring_entry, __ATOMIC_SEQ_CST);
  if (entry != held_in) return;
  sigaddset(&mask, signo);
  __atomic_fetch_or(&t_ring_held, signal_bit(signo), __ATOMIC_SEQ_CST);
  // After the copy of the siginfo (hold_whole_delivery()): a consumer that takes the bit reads it.
  if (listable(signo)) g_ring_holder_signals[entry].fetch_or(signal_bit(signo), std::memory_order_seq_cst);
}

// Signal context (also ordinary context: a signalfd read). ring_hold_taken() (hold.hpp) found an
// entry; a nested lift may have left it since, hence the second load.
bool ring_hold_taken_listed(int signo, siginfo_t& stash) noexcept {
  const int entry = __atomic_load_n(&t_ring_entry, __ATOMIC_SEQ_CST);
  if (entry < 0 || !listable(signo)) return false;
  if (const hold_test_hook_fn hook = g_hold_test_hook.load(std::memory_order_relaxed))
    hook(hook_point::taken);
  const bool stashed = take_stash(entry, signo, stash);
  g_ring_holder_signals[entry].fetch_and(~signal_bit(signo), std::memory_order_seq_cst);
  return stashed;
}

namespace {

// Ordinary context: blocks the pokes on this thread (those it did not block already) for its
// lifetime, so that no poke's lift leaves the table under code that has this thread's entry in hand.
class pokes_blocked {
 public:
  pokes_blocked() noexcept {
    sigemptyset(&blocked_);
    sigaddset(&blocked_, SIGURG);
    sigaddset(&blocked_, SIGWINCH);
    sigset_t before;
    ::pthread_sigmask(SIG_BLOCK, &blocked_, &before);
    for (const int poke : {SIGURG, SIGWINCH}) {
      if (sigismember(&before, poke) == 1) sigdelset(&blocked_, poke);
    }
  }
  // Unblocks only the pokes (and what unblock_too() added): a hold that nested meanwhile blocked its
  // signal in the thread's mask.
  ~pokes_blocked() { ::pthread_sigmask(SIG_UNBLOCK, &blocked_, nullptr); }
  // Unblocks `signo` too, in the same system call.
  void unblock_too(int signo) noexcept { sigaddset(&blocked_, signo); }
  pokes_blocked(const pokes_blocked&) = delete;
  pokes_blocked& operator=(const pokes_blocked&) = delete;

 private:
  sigset_t blocked_;
};

}  // namespace

// Ordinary context on this thread.
bool ring_hold_taken_ordinary(int signo, siginfo_t& stash) noexcept {
  if (__atomic_load_n(&t_ring_entry, __ATOMIC_SEQ_CST) < 0 || !listable(signo)) return false;
  const pokes_blocked quiet;
  return ring_hold_taken_listed(signo, stash);
}

// Ordinary context on the holding thread. The stash is taken with the pokes blocked (as
// ring_hold_taken_ordinary()) and run once they are not.
void run_own_stash(int signo) noexcept {
  if (__atomic_load_n(&t_ring_entry, __ATOMIC_SEQ_CST) < 0 || !listable(signo)) return;
  siginfo_t stash;
  bool taken = false;
  {
    const pokes_blocked quiet;
    const int entry = __atomic_load_n(&t_ring_entry, __ATOMIC_SEQ_CST);
    taken = entry >= 0 && !stash_to_keep(entry, signo) && take_stash(entry, signo, stash);
  }
  if (taken) run_stash(stash);
}

// Ordinary context.
int take_exited_holds(int entry, pid_t tid, siginfo_t* out) noexcept {
  if (entry < 0 || entry >= max_ring_holders || tid <= 0) return 0;
  // Taken for this caller alone (every consumer may look at it): -tid is neither a free entry nor a
  // thread to poke.
  pid_t expected = tid;
  if (!g_ring_holders[entry].compare_exchange_strong(expected, -tid, std::memory_order_seq_cst)) return 0;
  int taken = 0;
  std::uint64_t held = g_ring_holder_signals[entry].exchange(0, std::memory_order_seq_cst);
  g_ring_holder_stashed[entry].store(0, std::memory_order_seq_cst);  // listed in `held` too
  for (; held != 0; held &= held - 1) {
    const int signo = __builtin_ctzll(held) + 1;
    if (listable(signo)) load_copy(entry, signo, out[taken++]);
  }
  g_ring_holders[entry].store(0, std::memory_order_seq_cst);
  g_ring_holder_count.fetch_sub(1, std::memory_order_seq_cst);
  return taken;
}

// Signal context (also ordinary context on the holding thread): the held signals whose stash a ring
// would hold now (delivery_would_hold()): the ring filled again since the drain that made room.
std::uint64_t stashes_to_keep(int entry) noexcept {
  std::uint64_t keep = 0;
  for (std::uint64_t rest = __atomic_load_n(&t_ring_held, __ATOMIC_SEQ_CST); rest != 0; rest &= rest - 1) {
    const int signo = __builtin_ctzll(rest) + 1;
    if (stash_to_keep(entry, signo)) keep |= signal_bit(signo);
  }
  return keep;
}

// Signal context (also ordinary context on the holding thread, with the pokes blocked): a lift that
// keeps the signals in `keep` held (their stashes, still blocked, stay this thread's and listed) and
// lifts the rest, as lift_ring_holds() does: returns those, for the caller to unblock. No other lift
// nests (the pokes are blocked: the trampoline's sa_mask, or the caller's pthread_sigmask()); a hold
// that nests (another realtime signal) joins this entry.
std::uint64_t lift_all_but(int entry, std::uint64_t keep) noexcept {
  const std::uint64_t held = __atomic_fetch_and(&t_ring_held, keep, __ATOMIC_SEQ_CST) & ~keep;
  for (std::uint64_t rest = held; rest != 0; rest &= rest - 1) {
    const int signo = __builtin_ctzll(rest) + 1;
    run_stash_of(entry, signo);  // still blocked here
    g_ring_holder_signals[entry].fetch_and(~signal_bit(signo), std::memory_order_seq_cst);
  }
  g_ring_put_offs[entry].fetch_add(1, std::memory_order_seq_cst);
  g_ring_lifts[entry].fetch_add(1, std::memory_order_seq_cst);  // the poker waits for either
  return held;
}

// Signal context: a poke's lift (the pokes are blocked here: the trampoline's sa_mask, so no
// other lift runs under it), `mask` the context's: lift_all_but(); what is kept stays
// blocked in `mask`, the rest is unblocked at the return. Whether anything was lifted.
bool put_off_here(int entry, std::uint64_t keep, sigset_t& mask) noexcept {
  const std::uint64_t lifted = lift_all_but(entry, keep);
  for (std::uint64_t rest = lifted; rest != 0; rest &= rest - 1) sigdelset(&mask, __builtin_ctzll(rest) + 1);
  return lifted != 0;
}

// Ordinary context on the holding thread (a drain's lift, the end of an unsubscription): as
// put_off_here(), with the pokes blocked meanwhile (a poke's lift nested in this one could leave the
// table, and the entry go to another thread, under it), so the entry and what to keep are looked at
// again once they are; then unblocks what it lifted. Two more system calls, only where a stash may be
// kept. Returns whether it kept any (else it lifted nothing: the caller lifts all), and sets `lifted`.
bool put_off_ordinary(bool& lifted) noexcept {
  std::uint64_t keep = 0;
  std::uint64_t rest_lifted = 0;
  {
    pokes_blocked quiet;
    const int entry = __atomic_load_n(&t_ring_entry, __ATOMIC_SEQ_CST);
    keep = entry >= 0 ? stashes_to_keep(entry) : 0;
    rest_lifted = keep != 0 ? lift_all_but(entry, keep) : 0;
    for (std::uint64_t rest = rest_lifted; rest != 0; rest &= rest - 1)
      quiet.unblock_too(__builtin_ctzll(rest) + 1);
  }
  lifted = rest_lifted != 0;
  return keep != 0;
}

// Signal context (also ordinary context on the holding thread).
bool lift_ring_holds(sigset_t* mask) noexcept {
  if (__atomic_load_n(&t_ring_held, __ATOMIC_SEQ_CST) == 0 &&
      __atomic_load_n(&t_ring_entry, __ATOMIC_SEQ_CST) < 0)
    return false;
  const int saved_errno = errno;
  // Puts off the signals whose stash would find a ring that holds: run now, with no hold, it would be
  // dropped there (hold.hpp, "Stashes").
  if (const int current = __atomic_load_n(&t_ring_entry, __ATOMIC_SEQ_CST); current >= 0) {
    if (const std::uint64_t keep = stashes_to_keep(current); keep != 0) {
      if (mask != nullptr) {
        const bool lifted = put_off_here(current, keep, *mask);
        errno = saved_errno;
        return lifted;
      }
      if (bool lifted = false; put_off_ordinary(lifted)) {
        errno = saved_errno;
        return lifted;
      }
      // (Nothing to keep by the time the pokes were blocked: the ring has room again, or a poke's
      // lift ran in between. The whole lift below.)
    }
  }
  // Leave the table first, then take the held signals (hold.hpp: "Nesting, within the bookkeeping").
  // Taken from a nested handler too: the exchanges give each step to one run only.
  const int entry = __atomic_exchange_n(&t_ring_entry, -1, __ATOMIC_SEQ_CST);
  if (entry >= 0) {
    // Stashes first, while their signals are still blocked here: each is older than anything the
    // unblocking lets in. The entry is still this thread's (no one else writes its slots).
    run_stashes(entry);
    g_ring_holder_stashed[entry].store(0, std::memory_order_seq_cst);
    g_ring_holder_signals[entry].store(0, std::memory_order_seq_cst);
    g_ring_holders[entry].store(0, std::memory_order_seq_cst);
    g_ring_holder_count.fetch_sub(1, std::memory_order_seq_cst);
    g_ring_lifts[entry].fetch_add(1, std::memory_order_seq_cst);
  }
  if (const hold_test_hook_fn hook = g_hold_test_hook.load(std::memory_order_relaxed)) hook(hook_point::lift);
  const std::uint64_t held = __atomic_exchange_n(&t_ring_held, 0, __ATOMIC_SEQ_CST);
  sigset_t lifted;
  sigemptyset(&lifted);
  for (std::uint64_t rest = held; rest != 0; rest &= rest - 1) {
    const int signo = __builtin_ctzll(rest) + 1;
    sigaddset(&lifted, signo);
    if (mask != nullptr) sigdelset(mask, signo);
  }
  // In a handler, the kernel unblocks on return (uc_sigmask); unblocking here would run the held
  // deliveries nested inside this handler.
  if (mask == nullptr && held != 0) ::pthread_sigmask(SIG_UNBLOCK, &lifted, nullptr);
  errno = saved_errno;
  return held != 0;
}

// Signal context (a fork child handler).
std::uint64_t forget_ring_holds_in_child(sigset_t& mask) noexcept {
  const std::uint64_t held = __atomic_exchange_n(&t_ring_held, 0, __ATOMIC_SEQ_CST);
  for (std::uint64_t rest = held; rest != 0; rest &= rest - 1) sigdelset(&mask, __builtin_ctzll(rest) + 1);
  t_ring_entry = -1;
  for (int i = 0; i < max_ring_holders; ++i) {
    g_ring_holders[i].store(0, std::memory_order_relaxed);
    g_ring_holder_signals[i].store(0, std::memory_order_relaxed);
    g_ring_holder_stashed[i].store(0, std::memory_order_relaxed);
  }
  g_ring_holder_count.store(0, std::memory_order_relaxed);
  return held;
}

}  // namespace sigrelay::detail
