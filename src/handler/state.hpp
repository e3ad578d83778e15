// SPDX-License-Identifier: MIT
// src/handler/state.hpp — the registry's state as the trampoline sees it. Signal context.
//
// Everything here is read inside signal handlers, so it is all lock-free atomics with constant
// initialisation and trivial destruction: a signal that arrives while the process runs static
// destructors (or after) never meets freed memory.
//
// Read-copy-update
//   Each signal has an immutable `snapshot` (its saved previous disposition and the actions to run),
//   published through an atomic pointer. Writers (src/registry.cc, under the registry's mutex) build a
//   new snapshot, publish it, run `synchronize()` and only then delete the old one.
//
//   Readers (the trampoline) announce themselves in one of two counters chosen by the low bit of
//   `epoch`: load epoch -> increment active[parity] -> load the snapshot -> run -> decrement. A
//   chained earlier handler is called outside that section (its sigaction copied out first), since
//   it may never return (siglongjmp); actions are called inside it. wants_ucontext() reads no
//   snapshot (a per-signal flag the writer keeps, see below), so it needs no section.
//
// Actions that never return
//   An action that leaves by siglongjmp would hold its counter forever, and every later grace period
//   would wait for it. Each thread therefore records the sections it holds (trampoline.cc), innermost
//   last, with a mark of the frame of the trampoline (or ordinary code's dispatch()) that holds each
//   (its stack pointer: frame_mark(), trampoline.cc).
//   The next delivery on that thread compares them with the stack pointer of the code it interrupted:
//   a section whose frame lies below it cannot be one that code runs inside (stacks grow down), so it
//   was abandoned, and its counter is given back. A section that returns also releases any nested
//   ones that a siglongjmp back into it abandoned. So grace periods wait for such an action only
//   until its thread next takes a signal (at a shallower point of its stack, on the same stack);
//   never released where the interrupted stack pointer is unknown (architectures other than x86-64
//   and AArch64), nor under ThreadSanitizer (whose deferred handlers see a stale interrupted context).
//   A thread lists 32 sections; deeper ones (queued signals whose action jumps, each run inside the
//   previous siglongjmp()) are counted together and released together (trampoline.cc, t_deep).
//   Nothing nests inside a run of the trampoline but a fault (its sa_mask: src/registry.cc), so a
//   jump never leaves a section half entered or half left.
//   synchronize() flips the epoch and waits for the old parity's counter to drain, twice. Why both
//   parities: a reader may read the epoch, be preempted across a whole earlier writer's flip, and
//   only then increment the "old" counter; it still loads the snapshot *after* incrementing, so for
//   any snapshot S it uses, its increment precedes S's replacement, and one of the writer's two waits
//   (one per parity) is after that replacement and sees it. Starvation-free: new readers always go to
//   the parity nobody is waiting on. All accesses are seq_cst: the argument above relies on one total
//   order of the increment, the snapshot load, the writer's store and its counter check.
//
//   Consequence, and the registry's contract: when remove_action() returns, no thread is running, or
//   will ever run, the removed action.
#pragma once

#include <sys/types.h>
#include <unistd.h>
#include <atomic>
#include <csignal>
#include <cstddef>
#include <cstdint>

namespace sigrelay::detail {

// A registry action. Signal context.
using action_fn = void (*)(void* context, const siginfo_t& info) noexcept;

struct entry {
  action_fn fn;
  void* context;
  std::uint64_t serial;
  bool restart;
  // The action calls the chained earlier handler itself, if at all (call_chained()): the trampoline
  // does not call it before the actions. Only sigrelay's crash handler adds such an action.
  bool chains_itself;
};

// Immutable once published. Allocated and freed only by the registry, outside signal context.
struct snapshot {
  struct sigaction previous;  // chained when it is a function, never when SIG_DFL/SIG_IGN
  std::size_t size;
  const entry* entries;
  bool chained_by_action;  // some entry has chains_itself: the trampoline does not chain `previous`
  // The largest serial among the entries (0 if none). Serials only grow, so an entry of a later
  // snapshot with a larger one was added after this snapshot was published: a delivery that began
  // with this snapshot and, after its chained handler, finds a later one runs only the entries
  // that are not newer (trampoline.cc, chain_outside_section()).
  std::uint64_t newest;
  // When the one entry is a `signals` sink's record_fn, no entry chains itself and `previous` is
  // SIG_DFL or SIG_IGN (nothing to chain): that entry's context (the sink), and the trampoline records a
  // standard signal inline, on a lane of its own (trampoline.cc, run_standard()). Null otherwise. (The
  // sink itself, not a flag: one load less per delivery than reaching it through `entries`.)
  void* lone_record;
};

// A test-only observer called on entering (true) and leaving (false) the trampoline.
using trampoline_hook = void (*)(bool entering) noexcept;

struct handler_state {
  std::atomic<const snapshot*> slots[NSIG];
  std::atomic<std::uint64_t> active[2];
  std::atomic<std::uint32_t> epoch;
  std::atomic<pid_t> pid;  // this process's pid, refreshed in fork children (see registry.cc)
  std::atomic<trampoline_hook> hook;
  // A chained SA_RESETHAND handler has had its one call (reset when the trampoline is installed).
  std::atomic<bool> previous_spent[NSIG];
  // Whether the snapshot published for the signal wants a ucontext (snapshot_wants_ucontext()), kept
  // by the registry around each publication (see wants_ucontext()).
  std::atomic<bool> wants_context[NSIG];
  // How many snapshots the registry has published for the signal: one more after each (publish(),
  // src/registry.cc, under the registry's mutex, right after the slot's exchange). Lets ordinary code
  // remember a fact about the published snapshot without a reader section (runs_only_remembered()).
  std::atomic<std::uint64_t> published[NSIG];
};

// The trampoline reads and writes these atomics in signal context. One that is not lock-free would be
// emulated with a lock (libatomic): a handler that interrupts a thread holding that lock would
// deadlock, and locking is not async-signal-safe. So refuse to build where they are not lock-free.
static_assert(std::atomic<const snapshot*>::is_always_lock_free, "handler_state::slots");
static_assert(std::atomic<std::uint64_t>::is_always_lock_free, "handler_state::active, published");
static_assert(std::atomic<std::uint32_t>::is_always_lock_free, "handler_state::epoch");
static_assert(std::atomic<pid_t>::is_always_lock_free, "handler_state::pid");
static_assert(std::atomic<trampoline_hook>::is_always_lock_free, "handler_state::hook");
static_assert(std::atomic<bool>::is_always_lock_free, "handler_state::previous_spent, wants_context");

// Constant-initialised, trivially destructible: never destroyed in any meaningful sense.
extern handler_state g_handler;

// The one sa_sigaction sigrelay installs. Signal context.
void trampoline(int signo, siginfo_t* info, void* ucontext) noexcept;

// Runs the snapshot of `signo` (chained previous handler, then actions) exactly as the trampoline
// does, including the reader protocol and errno preservation. Async-signal-safe; also used from
// ordinary code to deliver a signal that was consumed synchronously (signalfd backend).
void dispatch(int signo, siginfo_t* info, void* ucontext) noexcept;

// Whether dispatch() of a siginfo of `signo` with si_code `code` would now run the one action (fn,
// context) and nothing else: no other action, no chained earlier handler, no test hook.
// Async-signal-safe (it reads the snapshot inside a read-side section, as dispatch() does). The
// signalfd backend then hands a siginfo it read straight to its caller, as that action would have
// recorded it (src/signals.cc).
bool runs_only(int signo, int code, action_fn fn, const void* context) noexcept;

// runs_only(), remembered in `memo` (the caller's, for this one (fn, context), initially 0) across
// calls while no snapshot of `signo` is published: a positive answer is kept with the signal and its
// publication count, and given again without the reader section while both are the same (the
// snapshot is immutable, and every publication counts). Publications are serialised: while the count
// still reads G, the slot holds the snapshot counted as G or the next one, published but not yet
// counted, whose answer the call may give as if it came just before that publication (as a plain
// runs_only() just before it would). Not for SIGCHLD, whose answer depends on the code. Async-signal-
// safe; several threads may share a memo (relaxed: a memo that reads another thread's answer is a
// true one, or does not match).
inline bool runs_only_remembered(int signo, int code, action_fn fn, const void* context,
                                 std::atomic<std::uint64_t>& memo) noexcept {
  static_assert(NSIG <= 256, "the signal number takes the key's low byte");
  if (signo <= 0 || signo >= NSIG || signo == SIGCHLD) return runs_only(signo, code, fn, context);
  if (g_handler.hook.load(std::memory_order_relaxed) != nullptr) return false;
  const std::uint64_t key =
      (g_handler.published[signo].load(std::memory_order_seq_cst) << 8) | static_cast<std::uint64_t>(signo);
  if (memo.load(std::memory_order_relaxed) == key) return true;
  if (!runs_only(signo, code, fn, context)) return false;
  memo.store(key, std::memory_order_relaxed);
  return true;
}

// Whether a snapshot's delivery may look at its ucontext: an earlier SA_SIGINFO handler is chained,
// or an action chains itself (the crash handler, which reads the registers).
inline bool snapshot_wants_ucontext(const snapshot& snap) noexcept {
  return snap.chained_by_action ||
         ((snap.previous.sa_flags & SA_SIGINFO) != 0 && snap.previous.sa_handler != SIG_DFL &&
          snap.previous.sa_handler != SIG_IGN);
}

// Whether a delivery of `signo` may look at its ucontext now (snapshot_wants_ucontext() of the
// published snapshot). Async-signal-safe; the signalfd backend captures a getcontext() only then,
// checking per siginfo read. One atomic load, no reader section: the registry's publish() sets the
// flag *before* it publishes a snapshot that wants a ucontext and clears it only *after* it published
// one that does not (every access seq_cst). So a caller that then dispatches with a snapshot wanting
// one saw true, unless that snapshot was published after this load, a window that a check under the
// reader section had as well (the dispatch loads the snapshot again). A stale true costs one
// getcontext() for nothing.
inline bool wants_ucontext(int signo) noexcept {
  return signo > 0 && signo < NSIG && g_handler.wants_context[signo].load(std::memory_order_seq_cst);
}

// Signal context. Inside an action: the ucontext the kernel passed with the delivery being handled
// on this thread (nullptr outside an action, or when there was none).
void* current_ucontext() noexcept;

// Signal context. The code that the delivery with `ucontext` interrupted, as the kernel saved it: its
// stack pointer (x86-64 and AArch64; 0 if unknown) and the thread's alternate signal stack
// (uc_stack; a getcontext() of src/signals.cc fills it too). Tells whether a frame that a handler
// of this thread recorded is still live under that code (trampoline.cc, "Two stacks"): on one
// stack, when it lies at or above the stack pointer (stacks grow down); across the two stacks, when
// the code runs on the alternate stack and the frame on the main one (the kernel leaves the
// alternate stack only once its outermost handler is over, so a frame on it is gone once the code
// runs off it). Unknown counts as live. Used by the read-side sections and the crash reporter.
class interrupted_code {
 public:
  explicit interrupted_code(const void* ucontext) noexcept;
  bool known() const noexcept { return sp_ != 0; }
  bool runs_under(std::uintptr_t frame) const noexcept {
    if (sp_ == 0) return true;
    const bool frame_on_alt = on_alt(frame);
    if (frame_on_alt != sp_on_alt_) return sp_on_alt_;
    return frame >= sp_;
  }

 private:
  bool on_alt(std::uintptr_t address) const noexcept {
    return address >= alt_base_ && address - alt_base_ < alt_size_;
  }
  std::uintptr_t sp_ = 0;
  std::uintptr_t alt_base_ = 0;
  std::size_t alt_size_ = 0;
  bool sp_on_alt_ = false;
};

// Signal context. Inside an action whose entry has chains_itself: calls the earlier handler saved
// for `signo` exactly as the trampoline would have (SA_SIGINFO, sa_mask, SA_RESETHAND; nothing for
// SIG_DFL or SIG_IGN). It may not return.
void call_chained(int signo, siginfo_t* info, void* ucontext) noexcept;

// The reader counts that the calling thread's read-side sections hold (for a fork child, whose
// counters must equal what its one thread holds).
void held_reader_counts(std::uint64_t counts[2]) noexcept;

// Resets `signo` to SIG_DFL with a raw sigaction(). Async-signal-safe. Only die_by_signal uses it:
// the process is about to end, so the registry's bookkeeping no longer matters.
void reset_to_default(int signo) noexcept;

// The pid of this process as the registry last saw it: cheap, async-signal-safe (no syscall). Stale
// in a child of _Fork() until it calls after_fork_in_child(): writes to shared descriptors check
// getpid() as well.
inline pid_t current_pid() noexcept { return g_handler.pid.load(std::memory_order_relaxed); }

// This process's pid, kept in a page mapped with MADV_WIPEONFORK (Linux 4.14): the kernel hands
// every child (of fork(), _Fork(), clone() without CLONE_VM) that page zeroed, so a non-zero value is
// this process's pid without a system call, even in a child of _Fork() (no fork handlers ran).
// Null until the registry set it up, or where madvise() refused. Constant-initialised.
extern std::atomic<std::atomic<pid_t>*> g_wiped_pid;

// The pid of the calling process, as getpid() says, usually without the system call (see
// g_wiped_pid). Async-signal-safe.
inline pid_t verified_pid() noexcept {
  if (const std::atomic<pid_t>* word = g_wiped_pid.load(std::memory_order_acquire)) {
    if (const pid_t pid = word->load(std::memory_order_relaxed); pid != 0) return pid;
  }
  return ::getpid();
}

}  // namespace sigrelay::detail
