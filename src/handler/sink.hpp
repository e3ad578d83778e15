// SPDX-License-Identifier: MIT
// src/handler/sink.hpp — where a `signals` object's handler side records deliveries. Signal context.
//
// Design notes
// - Standard signals: a per-signal delivery count (atomic add) and the latest origin in a seqlock
//   slot. Writers take the slot with a CAS from even to odd; one that finds it odd (a concurrent or
//   interrupted writer of the same signal) skips the origin, whose slot then shows a delivery just as
//   recent. The count is added after the origin, so an event with count > 0 has an origin at least
//   that new. Coalescing is therefore counted, never silent.
// - Realtime signals: every siginfo goes into a bounded multi-producer ring (per-cell sequence
//   numbers, after D. Vyukov's bounded queue). A producer claims a cell with a CAS and publishes it
//   with a release store; it never waits for another producer, so a handler interrupted between claim
//   and publish (by a nested handler on its own thread) blocks nobody: later producers take later
//   cells, or find the ring full. A full ring adds to `dropped` (and to that signal's `dropped_by`):
//   received + dropped == delivered, and the consumer can tell which signals lost payloads.
// - Which standard signals have a count to hand out: `standard_pending`, bit signo-1, set with
//   fetch_or after the count is added; the consumer takes the word with exchange and visits only the
//   signals it names (no scan of all counters). A bit may name a count a drain already took (it finds
//   0 and skips it); a count is never without a bit set after it.
// - Realtime signals when the ring is (nearly) full (the handler cannot refuse a delivery): a *hold*
//   (src/handler/hold.hpp) re-queues the siginfo to the running thread and blocks the signal in the
//   interrupted context, so that the kernel keeps the rest queued until the consumer has room. The
//   trampoline holds before any action runs once fewer than `reserve` cells are free
//   (ring_wants_hold(), which names the sink so that the holder is listed for it and its consumer
//   woken), and while the consumer is between a signalfd read and the records of what it read
//   (`reading`: see there); where a hold is impossible, a delivery that finds the ring full is
//   counted in `dropped`.
// - Wake-up, at most once until drained: `state` has NOTIFIED, set by the first delivery after a
//   drain. Only that delivery wakes the consumer: with a futex wake if the consumer sleeps in wait()
//   (WAITING), otherwise by writing the eventfd (and FD_ARMED, so the drain knows to read it) if
//   anyone may poll it (FD_WANTED: set by the first native_handle() call, or from the start where
//   wait() polls it). Until then the eventfd is never written nor read: a consumer that only calls
//   pending()/wait() pays no eventfd system call. native_handle() sets FD_WANTED, then writes the
//   eventfd itself if NOTIFIED is set (both seq_cst, against notify()'s fetch_or then load: one of
//   the two sees the other and writes; both may, a spurious wake-up at worst). The
//   consumer clears NOTIFIED *before* scanning, so a delivery it does not see re-notifies. A delivery
//   that notifies between that clear and the consumer's read of the eventfd may have its write
//   consumed by that read; so if NOTIFIED is set again once the scan is done, the consumer writes
//   the eventfd itself (a spurious wake-up at worst, never a lost one). Every such write (all go
//   through write_flagged()) sets FD_ARMED before it and, if FD_ARMED is clear once it is done (a
//   drain cleared it in between and may have read before the write landed), FD_STALE
//   (flag_unarmed_write()): a drain reads the eventfd exactly when one of the two is set, so an
//   empty drain makes no system call and the eventfd is never left readable with nothing to say.
//   close() sets CLOSED, then writes the eventfd for good; a drain racing it may read that write
//   away, so every eventfd read of a drain is followed by a check of CLOSED and, if set, a write
//   that puts it back.
// - A delivery running on the consumer's own thread while the consumer is inside wait()/drain (the
//   kernel tends to pick the sleeping main thread) skips the wake-up system call: the consumer
//   re-checks `state` before it sleeps and after it wakes. `t_consumer_of` says which sink that is.
//   It is set only around code that looks at the sink afterwards (a drain, the futex wait): the
//   signalfd backend's remove() reads siginfos outside a drain and leaves it unset, so that a
//   delivery it records wakes native_handle() pollers like any handler's (else NOTIFIED would stay
//   set with nothing written, and every later delivery would skip its wake-up too).
// - Fork: `owner` is the pid that created the sink; in a forked child (which shares the eventfd with
//   the parent) deliveries record nothing. A child of _Fork() (no fork handlers, so the cached pid
//   is still the parent's) records into its private copy, but notify() checks getpid() before the
//   eventfd write, so it never wakes the parent either.
//   The sink of an object made with signals_options::follow_fork is made the child's own instead,
//   by the fork child handler (not after _Fork()): see `adopt` below and "Following fork" in
//   src/signals.cc.
#pragma once

#include <sys/types.h>
#include <atomic>
#include <csignal>
#include <cstddef>
#include <cstdint>

namespace sigrelay::detail {

// Every atomic here is written in signal context. One that is not lock-free would be emulated with a
// lock (libatomic): a handler interrupting its own thread while that thread holds the lock of the same
// atomic would deadlock, and taking a lock is not async-signal-safe anyway. So refuse to build there.
static_assert(std::atomic<std::uint32_t>::is_always_lock_free, "sink::state, origin_slot::seq");
static_assert(std::atomic<std::uint64_t>::is_always_lock_free, "sink::counts, dropped, dropped_by");
static_assert(std::atomic<std::size_t>::is_always_lock_free, "ring_cell::seq, sink::enqueue_pos");
static_assert(std::atomic<int>::is_always_lock_free, "origin_slot::code, status");
static_assert(std::atomic<pid_t>::is_always_lock_free, "origin_slot::pid");
static_assert(std::atomic<uid_t>::is_always_lock_free, "origin_slot::uid");
static_assert(std::atomic<void*>::is_always_lock_free, "origin_slot::value");

// The raw fields of one siginfo that the consumer turns into an `origin`.
struct raw_origin {
  int signo;
  int code;
  pid_t pid;
  uid_t uid;
  int status;
  void* value;
};

struct origin_slot {
  std::atomic<std::uint32_t> seq{0};
  std::atomic<int> code{0};
  std::atomic<pid_t> pid{0};
  std::atomic<uid_t> uid{0};
  std::atomic<int> status{0};
  std::atomic<void*> value{nullptr};
};

struct ring_cell {
  std::atomic<std::size_t> seq{0};
  raw_origin record{};
};

struct sink {
  static constexpr std::uint32_t notified = 1U;  // a delivery since the last drain
  static constexpr std::uint32_t waiting = 2U;   // the consumer sleeps on the futex
  static constexpr std::uint32_t fd_armed = 4U;  // the eventfd was written since the last drain
  static constexpr std::uint32_t closed = 8U;    // close() was called
  // A stop was requested for a signals::wait(std::stop_token) (set by the stop callback, cleared when
  // such a wait starts; never set or read in signal context): ends that wait's futex sleep without
  // closing. A plain wait() ignores it.
  static constexpr std::uint32_t interrupted = 16U;
  // The eventfd was written after a drain cleared FD_ARMED, so that drain's read may have come
  // before the write (see flag_unarmed_write()): the next drain reads it. Without it an eventfd
  // written there stayed readable with nothing pending, and every empty pending() had to read().
  static constexpr std::uint32_t fd_stale = 32U;
  // Someone may poll the eventfd: native_handle() was called, or the consumer's wait() polls it
  // (signalfd backend; any backend under ThreadSanitizer). Until then nobody can see the eventfd, so
  // a wake-up writes nothing to it: NOTIFIED alone stands for it (no getpid() and no write()). Set
  // once, never cleared. A bit of `state`, beside WAITING, so that notify() tests both with one load
  // (as an atomic<bool> of its own it cost the trampoline 4 instructions more per delivery).
  static constexpr std::uint32_t fd_wanted = 64U;

  pid_t owner = 0;
  int event_fd = -1;
  int rtmin = 0;  // SIGRTMIN and SIGRTMAX, cached: their glibc macros are function calls
  int rtmax = 0;
  std::atomic<std::uint32_t> state{0};
  // No more holds for this sink (set while it unsubscribes: a hold would outlive its action).
  std::atomic<bool> no_holds{false};
  std::atomic<std::uint32_t> standard_pending{0};  // bit signo-1 of standard signals with a count
  std::atomic<std::uint64_t> counts[NSIG] = {};
  origin_slot last[NSIG];
  ring_cell* cells = nullptr;  // capacity = mask + 1 cells, cells[i].seq starts at i
  std::size_t mask = 0;
  // A plain field (no allocation: not std::vector::reserve()).
  std::size_t reserve = 1;  // free cells below which the trampoline holds (hold.hpp)
  std::atomic<std::size_t> enqueue_pos{0};
  // Non-zero while a drain of the signalfd backend counts this ring's room, reads that many siginfos
  // from a signalfd and records them (read_signalfd(), src/signals.cc): this object's own drain, or
  // another object's whose reads go to this ring too (one count each). Every handler delivery of a
  // realtime signal to this sink then holds (nearly_full()), on any thread, so that none is recorded
  // ahead of the older siginfos read, nor takes the cells they were read for. Written in ordinary
  // context only.
  std::atomic<std::uint32_t> reading{0};
  std::atomic<std::uint64_t> dropped{0};
  std::atomic<std::uint64_t> dropped_by[NSIG] = {};  // the same, per realtime signal
  // A copy that goes on in a fork child (signals_options::follow_fork): the registry's fork child
  // handler calls adopt(adopt_context, pid) to make it that child's own (async-signal-safe: it runs
  // in the child of a fork() that any thread may have made); true if it did. Null for every other
  // sink. Never read in signal context.
  bool (*adopt)(void* context, pid_t self) noexcept = nullptr;
  void* adopt_context = nullptr;
};

// The sink whose consumer is the current thread, while it is inside wait() or a drain; else null.
// GNU __thread with initial-exec TLS, not C++ thread_local: a plain thread-pointer-relative access
// with no lazy-initialisation wrapper, so reading it in a signal handler is safe.
extern __thread const sink* t_consumer_of __attribute__((tls_model("initial-exec")));

// The registry action of every `signals` object: records `info` into the sink. Signal context.
void record_fn(void* sink, const siginfo_t& info) noexcept;

// Signal context. The system call of a wake-up (notify() below): a futex wake if the consumer was
// `waiting` on it, else an eventfd write (unless this is a child of _Fork()). Saves and restores
// errno: the trampoline's lane for a lone record (trampoline.cc, run_standard()) does not.
void notify_rest(sink& s, bool waiting) noexcept;

// Signal context. Wakes the consumer if this is the first delivery since its last drain.
// Only NOTIFIED is taken from the fetch_or (a `lock bts` on x86-64, not a compare-exchange loop);
// WAITING is read after it (notify_rest()): a consumer that set WAITING before our bit is seen by that
// load (both seq_cst on one word), and one that sets it after sees NOTIFIED in its own fetch_or and
// never sleeps. Inline (with record_standard()), for the trampoline's lane. The two tests that end
// it without a wake-up come in the order that makes the usual delivery cheapest: state first (one
// load, already needed), then the thread-local test that only a consumer's own thread passes.
[[gnu::always_inline]] inline void notify(sink& s) noexcept {
  if ((s.state.fetch_or(sink::notified, std::memory_order_seq_cst) & sink::notified) != 0) return;
  const std::uint32_t now = s.state.load(std::memory_order_seq_cst);
  // Nobody sleeps on the futex, and nobody polls the eventfd (FD_WANTED): nothing to wake.
  if ((now & (sink::waiting | sink::fd_wanted)) == 0) return;
  if (t_consumer_of == &s) return;  // on the consumer's own thread: it re-checks state
  notify_rest(s, (now & sink::waiting) != 0);
}

// Signal context. Stores the origin unless another writer holds the slot. No fence (ThreadSanitizer
// does not model fences): the claim (odd) is a seq_cst read-modify-write, which no later store
// passes; each field is a release store, so a reader whose acquire load sees it also sees the claim
// (and its second sequence load then differs from its first); the even number is a release store,
// which no field store passes. On x86-64 the field stores are plain moves: as seq_cst stores they
// were six locked xchg instructions per delivery.
[[gnu::always_inline]] inline void store_origin(origin_slot& slot, const siginfo_t& info) noexcept {
  std::uint32_t seq = slot.seq.load(std::memory_order_relaxed);
  if ((seq & 1U) != 0 || !slot.seq.compare_exchange_strong(seq, seq + 1, std::memory_order_seq_cst)) {
    return;  // a concurrent or interrupted writer is storing an origin just as recent
  }
  slot.code.store(info.si_code, std::memory_order_release);
  slot.pid.store(info.si_pid, std::memory_order_release);
  slot.uid.store(info.si_uid, std::memory_order_release);
  slot.status.store(info.si_status, std::memory_order_release);
  slot.value.store(info.si_value.sival_ptr, std::memory_order_release);
  slot.seq.store(seq + 2, std::memory_order_release);
}

// Signal context. Records a delivery of standard signal `signo` (1 <= signo < s.rtmin) into `s`,
// owned by this process: the origin, then the count, then the pending bit (in that order: see the
// design notes at the top), then the wake-up. No system call unless notify_rest() makes one, and it
// keeps errno.
[[gnu::always_inline]] inline void record_standard(sink& s, int signo, const siginfo_t& info) noexcept {
  store_origin(s.last[signo], info);
  s.counts[signo].fetch_add(1, std::memory_order_seq_cst);
  s.standard_pending.fetch_or(1U << (signo - 1), std::memory_order_seq_cst);
  notify(s);
}

// Wakes a futex waiter (one). Async-signal-safe. (The posix platform layer has no futex waiter:
// there it does nothing; see sink.cc.)
void futex_wake(std::atomic<std::uint32_t>* word) noexcept;

// Signal context (async-signal-safe; ordinary code calls it too). Called after a write of the eventfd
// that set FD_ARMED before it: if FD_ARMED is clear by now, a drain cleared it between the two and may
// have read before the write landed; FD_STALE makes the next drain read. (If it is still set, the
// drain that clears it comes later, and its read takes this write.)
inline void flag_unarmed_write(sink& s) noexcept {
  if ((s.state.load(std::memory_order_seq_cst) & sink::fd_armed) == 0)
    s.state.fetch_or(sink::fd_stale, std::memory_order_seq_cst);
}

// Signal context (async-signal-safe when `Write` is; ordinary code calls it too). Every write of the
// eventfd for a wake-up goes through here: FD_ARMED before the write, flag_unarmed_write() after it,
// so that a drain reads it (see the wake-up notes at the top). `Write` is the handler's own
// async-signal-safe write_wakeup() (relays.hpp) in signal context, or sys::write_wakeup() (with its
// test hooks) in ordinary code.
template <void (*Write)(int) noexcept>
inline void write_flagged(sink& s) noexcept {
  s.state.fetch_or(sink::fd_armed, std::memory_order_seq_cst);
  Write(s.event_fd);
  flag_unarmed_write(s);
}

}  // namespace sigrelay::detail
