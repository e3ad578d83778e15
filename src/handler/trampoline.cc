// SPDX-License-Identifier: MIT
// src/handler/trampoline.cc — the one signal handler sigrelay installs. Signal context.
//
// Everything in this file runs inside signal handlers: it is async-signal-safe (man 7
// signal-safety), never allocates, locks, throws or logs, and saves and restores errno. Concurrent
// runs on many threads are safe: the only shared writes are atomic increments of the reader counters
// (see the read-copy-update notes in state.hpp), the one-shot flag of a chained SA_RESETHAND
// handler, and the running thread's own lift counter (masks.hpp). On one thread, a run nests inside
// another only through a fault, or inside a chained handler (which runs with its own mask) or
// ordinary code's dispatch(): the trampoline is installed with every other signal in its sa_mask
// (src/registry.cc, trampoline_action()), so no action's siglongjmp can leave another run half done.
//
// Chaining, exactly as the kernel would have run the earlier handler
// - It is called outside the read-side section: the trampoline copies the saved disposition out of
//   the snapshot, leaves the section, calls it, and enters again for the actions. So an earlier
//   handler that never returns (a REPL's SIGINT handler or a fault probe leaving by siglongjmp)
//   holds no reader count, and the registry's grace periods still end. That delivery's actions do
//   not run: the earlier handler took it, as it would have without sigrelay.
// - Its sa_mask and SA_NODEFER: it runs with the mask the kernel would have given it (the
//   interrupted context's mask, plus its sa_mask, plus the signal unless SA_NODEFER), except that
//   SIGURG and SIGWINCH (sigrelay's pokes) stay blocked during it, as during the whole trampoline;
//   the mask is put back before the actions run. No system call when the mask would not change.
// - SA_RESETHAND: called for the first delivery only; after that it counts as SIG_DFL (and the
//   registry restores SIG_DFL, not the handler, when the last action goes).
// - SA_NOCLDSTOP on SIGCHLD: not called for a child that stopped or continued.
#include "handler/state.hpp"
#include "platform/linux.hpp"  // sanitizer_defers_signals only (and config.hpp: SIGRELAY_LINUX)

#include <signal.h>
#include <ucontext.h>
#include <unistd.h>
#include <cerrno>
#include <csignal>
#include <cstdint>

#include "handler/hold.hpp"
#include "handler/masks.hpp"
#include "handler/sink.hpp"  // record_fn (forked_here())

namespace sigrelay::detail {

handler_state g_handler{};
std::atomic<std::atomic<pid_t>*> g_wiped_pid{nullptr};

namespace {

// Signal context. Whether the saved disposition is a function the kernel would call for a delivery
// with si_code `code`.
bool callable(const struct sigaction& previous, int signo, int code) noexcept {
  if (previous.sa_handler == SIG_DFL || previous.sa_handler == SIG_IGN) return false;
  if (signo == SIGCHLD && (previous.sa_flags & SA_NOCLDSTOP) != 0 &&
      (code == CLD_STOPPED || code == CLD_CONTINUED)) {
    return false;
  }
  return true;
}
bool callable(const struct sigaction& previous, int signo, const siginfo_t& info) noexcept {
  return callable(previous, signo, info.si_code);
}

// Signal context. Calls the handler that was installed before sigrelay, the way the kernel would:
// with its own mask, and only once if it asked for SA_RESETHAND. It may not return (siglongjmp).
void call_previous(const struct sigaction& previous, int signo, siginfo_t* info, void* uc) noexcept {
  if ((previous.sa_flags & SA_RESETHAND) != 0 &&
      g_handler.previous_spent[signo].exchange(true, std::memory_order_seq_cst)) {
    return;  // a one-shot handler that already ran: the disposition is SIG_DFL now
  }
  // The mask the kernel would have set: interrupted context's | sa_mask | signo (unless SA_NODEFER).
  sigset_t current;
  ::pthread_sigmask(SIG_SETMASK, nullptr, &current);
  sigset_t wanted;
  if (uc != nullptr) {
    wanted = static_cast<const ucontext_t*>(uc)->uc_sigmask;
  } else {
    wanted = current;
  }
  for (int s = 1; s < NSIG; ++s) {
    if (sigismember(&previous.sa_mask, s) == 1) sigaddset(&wanted, s);
  }
  if ((previous.sa_flags & SA_NODEFER) == 0) sigaddset(&wanted, signo);
  // The pokes stay blocked, as in the trampoline (its sa_mask: see hold.hpp, "Nesting"): a lift
  // nested in the chained handler would be undone by the mask put back after it.
  for (const int poke : {SIGURG, SIGWINCH}) {
    if (poke != signo || (previous.sa_flags & SA_NODEFER) == 0) sigaddset(&wanted, poke);
  }
  bool change = false;
  for (int s = 1; s < NSIG && !change; ++s) change = sigismember(&current, s) != sigismember(&wanted, s);
  if (change) ::pthread_sigmask(SIG_SETMASK, &wanted, nullptr);
  if ((previous.sa_flags & SA_SIGINFO) != 0) {
    previous.sa_sigaction(signo, info, uc);
  } else {
    previous.sa_handler(signo);
  }
  if (change) ::pthread_sigmask(SIG_SETMASK, &current, nullptr);
}

// Read-side sections held by this thread, innermost last, so that one left by siglongjmp can be
// released (see "Actions that never return" in state.hpp). Plain __thread data with initial-exec
// TLS, read and written only by its own thread and its nested handlers; the parity is taken with an
// atomic exchange so that a section is released at most once even if a nested delivery interrupts
// the release. The other writes are plain stores kept in program order by compiler-only fences
// (store_own()): a handler interrupting its own thread sees that thread's stores in program order,
// and nothing else reads them. (They were seq_cst stores: an xchg each, a locked instruction that
// costs about as much as the rest of the section, three per delivery.)
struct held_section {
  std::uintptr_t frame;  // frame_mark() of the trampoline (or dispatch()) that holds it
  std::uint32_t parity;  // the counter it holds, or kNotCounted
};
constexpr std::uint32_t kNotCounted = 2;
constexpr std::uint32_t kDeepGroup = 3;  // the listing of the sections deeper than kMaxHeld (below)
constexpr unsigned kMaxHeld = 32;        // sections listed one by one
// Sections nested deeper than kMaxHeld are counted together, per counter (t_deep), and listed as one
// more entry, t_held[kMaxHeld] (parity kDeepGroup), with the frame of the outermost of them. Such
// depths come from actions that leave by siglongjmp while signals are queued for their thread:
// glibc's siglongjmp() puts the mask back before it jumps, so the next delivery runs inside it, on
// the abandoned run's stack, and jumps too, and so on while the queue lasts (200 queued realtime
// signals nest 200 deep). Unlisted, their counters were never given back once the last jump landed,
// and every later registry change waited for ever (tests/longjmp_storm_test.cc). The group is left
// as a whole: when the outermost returns (any still counted were nested in it and left by
// siglongjmp back into it), or when release_abandoned() or an enclosing section's leave_reader()
// finds it abandoned, as it would a listed section. The usual delivery never meets it: a run that
// finds the thread's listing full takes released_or_run_deep() (its depth is tested where the
// thread's abandoned sections are, in the same branch), so that the inline enter and leave below
// stay those of a listed section.
__thread held_section t_held[kMaxHeld + 1] __attribute__((tls_model("initial-exec")));
__thread unsigned t_held_depth __attribute__((tls_model("initial-exec")));
__thread std::uint32_t t_deep[2] __attribute__((tls_model("initial-exec")));

// Signal context. The marker of a section's frame (held_section::frame): the stack pointer of the
// function it is inlined into, read where that function's frame is set up (or not yet all pushed:
// then higher). So it lies at or above every stack pointer of that function's body and of its
// callees, where any delivery nested in the section interrupts, and below the stack pointer of the
// code the delivery interrupted (the kernel's signal frame lies between the two), which is what
// release_abandoned() compares: the frame address did the same, but reading it made the trampoline
// keep a frame pointer, a register fewer for the delivery, and spill signo to the stack (1
// instruction per delivery under callgrind, on every path). Elsewhere, the frame address.
[[gnu::always_inline]] inline std::uintptr_t frame_mark() noexcept {
#if defined(__x86_64__)
  std::uintptr_t sp;
  asm volatile("mov %%rsp, %0" : "=r"(sp));
  return sp;
#elif defined(__aarch64__)
  std::uintptr_t sp;
  asm volatile("mov %0, sp" : "=r"(sp));
  return sp;
#else
  return reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
#endif
}

// Signal context. A store to this thread's section records, in program order for its own nested
// handlers (the only other readers): no instruction of its own, and no lock prefix.
template <typename T>
[[gnu::always_inline]] inline void store_own(T& word, T value) noexcept {
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  __atomic_store_n(&word, value, __ATOMIC_RELAXED);
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
}

// Signal context. Gives back the counter of this thread's innermost held section and forgets it.
[[gnu::always_inline]] inline void release_innermost() noexcept {
  const unsigned index = t_held_depth - 1;
  const std::uint32_t parity = __atomic_exchange_n(&t_held[index].parity, kNotCounted, __ATOMIC_SEQ_CST);
  store_own(t_held_depth, index);
  if (parity != kNotCounted) g_handler.active[parity].fetch_sub(1, std::memory_order_seq_cst);
}

// Signal context. Gives back the counters of every section deeper than kMaxHeld and unlists their
// group (the innermost entry: nothing is listed above it).
[[gnu::noinline, gnu::cold]] void release_deep() noexcept {
  for (const std::uint32_t parity : {0U, 1U}) {
    const std::uint32_t n = t_deep[parity];
    store_own(t_deep[parity], 0U);
    if (n != 0) g_handler.active[parity].fetch_sub(n, std::memory_order_seq_cst);
  }
  store_own(t_held_depth, kMaxHeld);
}

// Signal context. Releases the innermost listed entry, left by siglongjmp: a section, or the group.
[[gnu::always_inline]] inline void release_left() noexcept {
  if (t_held[t_held_depth - 1].parity == kDeepGroup) {
    release_deep();
  } else {
    release_innermost();
  }
}

}  // namespace

// Signal context.
interrupted_code::interrupted_code(const void* uc) noexcept {
  if (uc == nullptr) return;
  const auto* context = static_cast<const ucontext_t*>(uc);
#if defined(__x86_64__)
  sp_ = static_cast<std::uintptr_t>(context->uc_mcontext.gregs[REG_RSP]);
#elif defined(__aarch64__)
  sp_ = static_cast<std::uintptr_t>(context->uc_mcontext.sp);
#else
  (void)context;
  return;  // unknown: no repair (a section left by siglongjmp stays held)
#endif
  const stack_t& alt = context->uc_stack;
  alt_base_ = reinterpret_cast<std::uintptr_t>(alt.ss_sp);
  alt_size_ = (alt.ss_flags & SS_DISABLE) != 0 ? 0 : alt.ss_size;
  sp_on_alt_ = on_alt(sp_);
}

namespace {

// Signal context. Releases the sections of this thread that were left by siglongjmp: a section whose
// frame (the trampoline's, or dispatch()'s in ordinary code) lies below the interrupted code's stack
// pointer cannot be one the interrupted code runs inside (stacks grow down), so that frame is gone.
// A section still being entered (kNotCounted) is never released: only the code it interrupted can be
// entering it.
// ThreadSanitizer runs a deferred handler later, deeper in the thread's stack, with the context saved
// when the signal arrived: that stack pointer says nothing about the sections held now, so no
// section is released there (an action left by siglongjmp then keeps its section).
// Two stacks: handlers run on the thread's sigaltstack (SA_ONSTACK) when it has one, whose addresses
// say nothing about the main stack's. The kernel stays on the alternate stack from the outermost
// handler on until that handler returns. So across the two stacks the comparison is by stack, not
// by address: interrupted code on the alternate stack means that a section held on the main stack
// is live (its code was interrupted there, not left), and interrupted code off the alternate stack
// means that a section held on it is gone (its handler was left: nothing on that stack runs now).
// Releasing the first let the registry free a snapshot that ordinary code (a signalfd read's
// dispatch) was still reading, when a signal came while a nested handler ran on an alternate stack
// mapped above the main one (found by the soak, tests/soak/soak.cc); keeping the second held a
// section for good when the alternate stack lay above the thread's stack (an action left by
// siglongjmp from a handler on it: every later grace period waited for ever; found by
// tests/contract_api_test.cc). The alternate stack is the one the kernel saved in the context
// (uc_stack: no system call; src/signals.cc fills it for a getcontext() of its own).
// Returns whether the listing is still full (kMaxHeld sections or more: the run goes deep).
bool release_abandoned(const void* uc) noexcept {
  const interrupted_code interrupted(uc);
  if (interrupted.known() && !os::sanitizer_defers_signals) {
    while (t_held_depth > 0) {
      const held_section& top = t_held[t_held_depth - 1];
      if (__atomic_load_n(&top.parity, __ATOMIC_SEQ_CST) == kNotCounted) break;
      if (interrupted.runs_under(top.frame)) break;  // live: the interrupted code runs inside it
      release_left();
    }
  }
  return t_held_depth >= kMaxHeld;
}

struct section {
  // In t_held; kMaxHeld for a section of the deep group, kMaxHeld + 1 for the one that listed the
  // group (the outermost).
  unsigned index;
  std::uint32_t parity;
};

// Signal context. Enters the read-side section of the grace period (state.hpp), listed at index
// t_held_depth, which the caller knows to be below kMaxHeld (see t_held). Inlined (as are
// leave_reader() and release_innermost()): every delivery runs them; the code is the same.
[[gnu::always_inline]] inline section enter_reader(std::uintptr_t frame) noexcept {
  const unsigned index = t_held_depth;
  held_section* slot = &t_held[index];  // (an empty asm that hid it from the optimizer now cost 2)
  *slot = held_section{frame, kNotCounted};
  store_own(t_held_depth, index + 1);
  const std::uint32_t parity = g_handler.epoch.load(std::memory_order_seq_cst) & 1U;
  g_handler.active[parity].fetch_add(1, std::memory_order_seq_cst);
  store_own(slot->parity, parity);
  return section{index, parity};
}

// Signal context. enter_reader() for any depth: a section of the deep group once the listing is full.
[[gnu::noinline, gnu::cold]] section enter_any_reader(std::uintptr_t frame) noexcept {
  if (t_held_depth < kMaxHeld) return enter_reader(frame);
  const std::uint32_t parity = g_handler.epoch.load(std::memory_order_seq_cst) & 1U;
  g_handler.active[parity].fetch_add(1, std::memory_order_seq_cst);
  store_own(t_deep[parity], t_deep[parity] + 1);
  if (t_held_depth > kMaxHeld) return section{kMaxHeld, parity};
  t_held[kMaxHeld] = held_section{frame, kDeepGroup};
  store_own(t_held_depth, kMaxHeld + 1);
  return section{kMaxHeld + 1, parity};
}

// Signal context. Leaves a section of the deep group; the outermost leaves the whole group (any
// still counted were nested in it and left by siglongjmp back into it).
[[gnu::noinline, gnu::cold]] void leave_deep(section held) noexcept {
  if (held.index == kMaxHeld + 1) {
    release_deep();
    return;
  }
  if (t_deep[held.parity] != 0) store_own(t_deep[held.parity], t_deep[held.parity] - 1);
  g_handler.active[held.parity].fetch_sub(1, std::memory_order_seq_cst);
}

// Signal context. Leaves it; sections nested inside it that a siglongjmp back into it abandoned are
// released first (the deep group too).
[[gnu::always_inline]] inline void leave_reader(section held) noexcept {
  if (held.index >= kMaxHeld) {
    leave_deep(held);
    return;
  }
  while (t_held_depth > held.index + 1) release_left();
  if (t_held_depth == held.index + 1) release_innermost();
}

// Signal context. leave_reader() for a section inside which only library code ran (the inline
// record of run_standard(), no action and no chained handler): nothing inside it can have called
// sigsetjmp(), so no delivery nested in it was left by siglongjmp back into it, and each nested one
// either gave its own section back (it returned) or never resumes this one (it was left by
// siglongjmp to a point outside). And none released this section: release_abandoned() stops at a
// section whose frame the interrupted code runs under, which this one's always is. So the section
// is this thread's innermost and still counted, with the parity it was entered with: it is popped
// and its counter given back, with no exchange of its parity (that guards a release that may race
// with another, which cannot happen here) and no loop or re-read of the depth. The slot above the
// depth is dead (enter_reader() writes kNotCounted before it counts again). 20 instructions less per
// delivery than leave_reader() under callgrind.
// Only for a section that enter_reader() listed (never one of the deep group).
[[gnu::always_inline]] inline void leave_innermost_reader(section held) noexcept {
  store_own(t_held_depth, held.index);
  g_handler.active[held.parity].fetch_sub(1, std::memory_order_seq_cst);
}

// The ucontext of the delivery whose actions run on this thread (current_ucontext()).
__thread void* t_ucontext __attribute__((tls_model("initial-exec")));

// Signal context.
const snapshot* load_snapshot(int signo) noexcept {
  return (signo > 0 && signo < NSIG) ? g_handler.slots[signo].load(std::memory_order_seq_cst) : nullptr;
}

// Signal context. Whether `e` is a `signals` sink's action and this process is a child forked inside
// the delivery that began as process `entry_pid` (an earlier action of the snapshot forked): the
// delivery is the parent's (the parent records it), and a sink that follows fork became the child's
// own in the fork, so its record_fn would hand the parent's delivery out in the child too. Other
// actions run on, as the forking code expects. Only where a snapshot has several actions (with one,
// nothing runs after the action that forked): the usual delivery pays nothing for it.
[[gnu::always_inline]] inline bool forked_here(const entry& e, pid_t entry_pid) noexcept {
  return e.fn == record_fn && current_pid() != entry_pid;
}

// Signal context. Runs the actions of `snap` that are no newer than `newest` (entry::serial; see
// snapshot::newest), as run_delivery() runs a snapshot's actions. For a delivery whose chained
// handler returned to find actions added while it ran: those came after the signal, and it is not
// theirs (an object made then would take a signal that was over before it existed; found by
// TerminationContract.DestroyedOnAnotherThreadWhileItsSignalIsHandled, whose next object was armed
// by the previous round's signal and killed by its own). Cold: only such a race gets here.
[[gnu::noinline, gnu::cold]] void run_actions_up_to(const snapshot& snap, std::uint64_t newest,
                                                    const siginfo_t& info, void* ucontext) noexcept {
  void* const outer_ucontext = t_ucontext;
  t_ucontext = ucontext;
  const pid_t entry_pid = current_pid();
  for (std::size_t i = 0; i < snap.size; ++i) {
    const entry& e = snap.entries[i];
    if (e.serial <= newest && !forked_here(e, entry_pid)) e.fn(e.context, info);
  }
  t_ucontext = outer_ucontext;
}

// Signal context. Calls the chained earlier handler of `snap` (protected by `held`) outside the
// read-side section, then enters it again (as `held`) and returns the snapshot now published, for
// run_delivery() to run its actions; or nullptr when nothing is left for it to run (this is a fork
// child, see below), or when actions were added meanwhile: then it runs the others itself, those
// that were there when the delivery began (run_actions_up_to()). Kept
// out of line (a cold path) so that the sigaction copy and its registers do not weigh on every
// delivery: the steps, their order and the frame recorded for the section are those of the inline
// code it replaces.
[[gnu::noinline, gnu::cold]] const snapshot* chain_outside_section(const snapshot* snap, int signo,
                                                                   siginfo_t* info, void* ucontext,
                                                                   std::uintptr_t frame,
                                                                   section& held) noexcept {
  // Copied out, so that the call holds no reader count (it may never return).
  const struct sigaction previous = snap->previous;
  const std::uint64_t newest = snap->newest;
  // Where this section was listed: entries above it once the earlier handler returns are of runs
  // nested in that handler and left by siglongjmp back into it, released here before it enters again.
  // (A section of the deep group keeps the group, unless it was its outermost.)
  unsigned listed = kMaxHeld + 1;                     // in the deep group: it stays
  if (held.index < kMaxHeld) listed = held.index;     // listed one by one
  if (held.index == kMaxHeld + 1) listed = kMaxHeld;  // the group's outermost: the group goes
  leave_reader(held);
  const pid_t entry_pid = current_pid();
  call_previous(previous, signo, info, ucontext);
  while (t_held_depth > listed) release_left();
  held = enter_any_reader(frame);
  if (current_pid() != entry_pid) {
    // The earlier handler forked, and this is the child: the rest of the delivery is the parent's
    // (a following sink, the child's own since the fork, would record it: none of the actions run),
    // and the context this run returns to has the parent's blocks, which the fork handler took out
    // of the child's mask (masks.hpp, strip_forgotten_blocks()).
    if (ucontext != nullptr) strip_forgotten_blocks(static_cast<ucontext_t*>(ucontext)->uc_sigmask);
    return nullptr;
  }
  const snapshot* const now = load_snapshot(signo);
  if (now == nullptr || now->newest <= newest) return now;  // nothing added: the usual case
  run_actions_up_to(*now, newest, *info, ucontext);
  return nullptr;
}

// Signal context. What a delivery runs once its reader section is entered (as `held`, with the
// trampoline's or dispatch()'s frame `frame`) and the snapshot `snap` loaded: a hold of the whole
// delivery, the chained earlier handler, then the actions. Shared by run_delivery() and
// run_standard(); the caller leaves the section and restores errno. `may_hold`: this delivery may
// be held (run_delivery<true>() only).
template <bool kHolds>
[[gnu::always_inline]] inline void run_snapshot(const snapshot* snap, int signo, siginfo_t* info,
                                                void* ucontext, std::uintptr_t frame, section& held,
                                                unsigned may_hold) noexcept {
  // A realtime ring nearly full: hold the whole delivery before anything runs (hold.hpp), so that
  // every action and a chained handler see it exactly once, when it comes back after the lift.
  // kHoldBeforeActions (hold.hpp) switches it.
  // Holds are of realtime signals only (a standard one skips the probe: nearly_full() would say no).
  sink* const full =
      kHolds && kHoldBeforeActions && may_hold != 0 && snap != nullptr && signo >= ring_hold_first
          ? ring_wants_hold(snap->entries, snap->size, signo)
          : nullptr;
  if (full != nullptr && hold_whole_delivery(*info)) {
    // Wake the ring's consumer after the thread is listed as a holder: a drain that ran between the
    // probe and the listing found no holder to poke, and would otherwise sleep with the signal held.
    confirm_hold(full, signo, ucontext);
    return;
  }
  if (snap != nullptr && !snap->chained_by_action && callable(snap->previous, signo, *info)) {
    snap = chain_outside_section(snap, signo, info, ucontext, frame, held);
  }
  if (snap == nullptr) return;
  void* const outer_ucontext = t_ucontext;
  t_ucontext = ucontext;
  const std::size_t size = snap->size;  // (immutable once published)
  if (kHolds && may_hold != 0 && size == 1 && !callable(snap->previous, signo, *info)) t_hold_allowed = 1;
  if (size == 1) {  // the usual case: no loop whose index and bound live across the call
    const entry& only = snap->entries[0];
    only.fn(only.context, *info);
  } else {
    // A fork() inside an action: in the child, what is left of the delivery is the parent's
    // (forked_here()).
    const pid_t entry_pid = current_pid();
    for (std::size_t i = 0; i < size; ++i) {
      const entry& e = snap->entries[i];
      if (!forked_here(e, entry_pid)) e.fn(e.context, *info);
    }
  }
  if constexpr (kHolds) t_hold_allowed = 0;
  t_ucontext = outer_ucontext;
}

// Signal context. The delivery inside its read-side section, once abandoned sections are released:
// a hold allowed only where the trampoline allows one (hold.hpp: of the whole delivery before any
// action, or from inside a lone action with nothing chained), the section entered as a listed one
// (enter_reader(): the caller knows the listing has room) or at any depth (`kAnyDepth`:
// enter_any_reader()), the snapshot run, the section left. Shared by run_delivery() and
// released_or_run_deep().
template <bool kHolds, bool kAnyDepth>
[[gnu::always_inline]] inline void run_in_section(int signo, siginfo_t* info, void* ucontext,
                                                  std::uintptr_t frame) noexcept {
  unsigned may_hold = 0;
  if constexpr (kHolds) {
    may_hold = t_hold_allowed;
    t_hold_allowed = 0;
  }
  section held = kAnyDepth ? enter_any_reader(frame) : enter_reader(frame);
  run_snapshot<kHolds>(load_snapshot(signo), signo, info, ucontext, frame, held, may_hold);
  leave_reader(held);
}

// Signal context. Releases this thread's abandoned sections (release_abandoned()); if its listing is
// still full, runs the rest of the delivery (run_delivery() from there) with its section in the deep
// group (enter_any_reader(); see t_held) and returns true. Out of line, with the test of the depth,
// so that the usual delivery's inline enter and leave are those of a listed section and its
// registers stay as they were. errno is saved here too (run_standard() has not). Even so the deep way
// cost the usual delivery 2 instructions under callgrind (signo spilled: pending(std::vector&)
// 293 -> 295, the registry's action 165 -> 169); frame_mark() gave one back (294, 168).
template <bool kHolds>
[[gnu::noinline, gnu::cold]] bool released_or_run_deep(int signo, siginfo_t* info, void* ucontext) noexcept {
  if (!release_abandoned(ucontext)) return false;
  const int saved_errno = errno;
  run_in_section<kHolds, true>(signo, info, ucontext, frame_mark());
  errno = saved_errno;
  return true;
}

// Signal context: async-signal-safe, errno preserved. The body of dispatch(), inlined into the
// trampoline too, so that a delivery pays one handler frame, not two: `frame` below then marks the
// trampoline's frame, which is just as good a marker for the abandoned-section check (it lies below the
// interrupted code's stack pointer and above everything the actions push, as dispatch()'s did), and
// nothing else changes (same steps, same order, same reader protocol).
//
// `kHolds` false: no hold is probed or allowed, and t_hold_allowed is neither read nor written: for a
// standard signal in the trampoline, which no hold concerns (holds are of realtime signals only,
// hold.hpp), and for dispatch(), which forbids holds around it.
template <bool kHolds>
[[gnu::always_inline]] inline void run_delivery(int signo, siginfo_t* info, void* ucontext) noexcept {
  const int saved_errno = errno;
  const trampoline_hook hook = g_handler.hook.load(std::memory_order_relaxed);
  if (hook != nullptr) hook(true);

  siginfo_t synthetic;  // only if the kernel gave none (it always does with SA_SIGINFO): zeroed then
  if (info == nullptr) {
    synthetic = siginfo_t{};
    synthetic.si_signo = signo;
    info = &synthetic;
  }

  const auto frame = frame_mark();
  // release_abandoned() does nothing when this thread holds no section (its loop starts with the
  // same test): the usual case skips reading the context and zeroing its stack_t. Still safe nested
  // and re-entered: t_held_depth is this thread's own, and a nested delivery that runs between this
  // test and enter_reader() either returns (having put the depth back) or leaves by siglongjmp to a
  // point outside this delivery, which then never resumes here.
  // A listing left full takes the deep way instead (released_or_run_deep(); see t_held).
  if (t_held_depth == 0 || !released_or_run_deep<kHolds>(signo, info, ucontext)) {
    run_in_section<kHolds, false>(signo, info, ucontext, frame);
  }

  if (hook != nullptr) hook(false);
  errno = saved_errno;
}

// Signal context: async-signal-safe, errno preserved. A standard signal in the trampoline. Its usual
// delivery is one `signals` object's record and nothing else (snapshot::lone_record, set by the
// registry: one entry, record_fn, nothing chained), which this records inline, with the steps of
// run_delivery<false>() in the same order (abandoned sections released, the reader section entered,
// the snapshot loaded, the action, the section left), less what that snapshot cannot need: no call
// through the entry (record_standard() is inlined), no errno save (nothing on that way makes a
// system call but notify_rest(), which keeps errno itself), no t_ucontext (a standard record never
// reads it), no loop, no chain. Any other snapshot goes on inside the same section as
// run_delivery<false>() would (run_snapshot(), errno saved first); a test hook, or a delivery with
// no siginfo, takes run_delivery<false>() from the start. (Issue 9, goal 3: the record's call,
// frame and checks, errno and t_ucontext were about 40 of the ~190 instructions per delivery of the
// trampoline and record_fn under callgrind, bench/deliveries.cc.)
[[gnu::always_inline]] inline void run_standard(int signo, siginfo_t* info, void* ucontext) noexcept {
  if (info == nullptr || g_handler.hook.load(std::memory_order_relaxed) != nullptr) {
    run_delivery<false>(signo, info, ucontext);
    return;
  }
  // (The frame mark is read at each use, not kept in a variable that lives across the record: kept,
  // it was spilled to the stack and read back: 1 instruction more per delivery.)
  if (t_held_depth != 0 && released_or_run_deep<false>(signo, info, ucontext))
    return;  // (as in run_delivery())
  const section entered = enter_reader(frame_mark());
  const snapshot* const snap = load_snapshot(signo);
  if (snap != nullptr && snap->lone_record != nullptr) {
    sink& s = *static_cast<sink*>(snap->lone_record);
    if (s.owner == current_pid()) record_standard(s, signo, *info);  // else a fork child's copy
    leave_innermost_reader(entered);
    return;
  }
  section held = entered;  // (its own variable: run_snapshot() may enter it again; the lane keeps
                           // `entered` in registers)
  const int saved_errno = errno;
  run_snapshot<false>(snap, signo, info, ucontext, frame_mark(), held, 0);
  errno = saved_errno;
  leave_reader(held);
}

}  // namespace

// Signal context: async-signal-safe, errno preserved. Never holds: its callers (a signalfd read in
// ordinary code, a hold's stash run by the trampoline or a lift) all run it with holds forbidden, so
// it forbids them itself for its actions, whatever an action left by siglongjmp left in
// t_hold_allowed, and puts the caller's value back.
void dispatch(int signo, siginfo_t* info, void* ucontext) noexcept {
  const unsigned outer_allowed = t_hold_allowed;
  t_hold_allowed = 0;
  run_delivery<false>(signo, info, ucontext);
  t_hold_allowed = outer_allowed;
}

namespace {

// Async-signal-safe; for ordinary code that only looks at a snapshot (runs_only(),
// delivery_would_hold()). Calls `look` with the published snapshot of `signo` (null if none) inside a
// read-side section entered and left as dispatch() does, so the snapshot and the sinks it names cannot
// be freed under it. The section is not listed in t_held: nothing inside it can leave by siglongjmp
// (it runs no action and no handler), and a delivery nested in it enters and leaves its own.
template <typename Look>
[[gnu::always_inline]] inline bool look_at_snapshot(int signo, Look look) noexcept {
  const std::uint32_t parity = g_handler.epoch.load(std::memory_order_seq_cst) & 1U;
  g_handler.active[parity].fetch_add(1, std::memory_order_seq_cst);
  const bool answer = look(load_snapshot(signo));
  g_handler.active[parity].fetch_sub(1, std::memory_order_seq_cst);
  return answer;
}

}  // namespace

// Async-signal-safe; called from ordinary code (wait() on the signalfd backend).
bool runs_only(int signo, int code, action_fn fn, const void* context) noexcept {
  if (g_handler.hook.load(std::memory_order_relaxed) != nullptr) return false;
  return look_at_snapshot(signo, [&](const snapshot* snap) {
    return snap != nullptr && snap->size == 1 && snap->entries[0].fn == fn &&
           snap->entries[0].context == context && !snap->chained_by_action &&
           !callable(snap->previous, signo, code);
  });
}

// Async-signal-safe; called from ordinary code (take_own_holds(), src/signals.cc).
bool delivery_would_hold(int signo) noexcept {
  if (!SIGRELAY_LINUX || os::sanitizer_defers_signals || !kHoldBeforeActions) return false;
  if (signo < ring_hold_first || signo >= NSIG) return false;
  return look_at_snapshot(signo, [signo](const snapshot* snap) {
    return snap != nullptr && ring_wants_hold(snap->entries, snap->size, signo) != nullptr;
  });
}

// Async-signal-safe; called from ordinary code (remove() on the signalfd backend, src/signals.cc).
std::size_t reads_without_drop(int signo, const sink* except, std::size_t most) noexcept {
  if (!SIGRELAY_LINUX || os::sanitizer_defers_signals || !kHoldBeforeActions) return most;
  if (signo < ring_hold_first || signo >= NSIG) return most;
  std::size_t answer = most;
  look_at_snapshot(signo, [&](const snapshot* snap) {
    for (std::size_t i = 0; snap != nullptr && i < snap->size; ++i) {
      const entry& e = snap->entries[i];
      if (e.fn != record_fn || e.context == except) continue;
      if (ring_wants_hold(&e, 1, signo) != nullptr) {
        answer = 0;
        return true;
      }
      answer = 1;  // another ring: the next delivery may be the one that fills it
    }
    return false;
  });
  return answer;
}

// Signal context. Whatever this thread's holds block (t_ring_held) stays blocked in the context the
// kernel restores on this run's return. A hold applied in a run nested inside another handler's (a
// realtime delivery interrupting a SIGUSR1 handler, say) blocks its signal in the nested context
// only: the enclosing run's return restored the mask its own delivery had saved, without the block.
// The held signal then came back while the hold was still listed: its re-queued siginfo held again
// (two system calls more), but a stash (a re-queue the kernel refused at RLIMIT_SIGPENDING) ran at
// once, with no hold, and a ring still full dropped it. That was every drop left in the soak's
// long-lived rings (a 60-second instrumented dev soak: 395 in all rings, 327 of them stashes run
// this way, 68 stashes that a lift ran into a ring full again; C0 and the dispatcher 371 of them).
// With this: C0 and the dispatcher dropped none, 4 stashes were dropped in the churned objects'
// rings. A bit is cleared only by a lift, which runs on the outermost context (pokes are blocked
// inside the trampoline: hold.hpp, "Nesting") or in ordinary code, and unblocks there itself.
[[gnu::always_inline]] inline void keep_holds_blocked(ucontext_t* context) noexcept {
  const std::uint64_t held = __atomic_load_n(&t_ring_held, __ATOMIC_SEQ_CST);
  // (__builtin_expect, not [[likely]]: the library also builds as C++17, where clang -Wpedantic
  // rejects the attribute.)
  if (__builtin_expect(held == 0 || context == nullptr, 1)) return;
  for (std::uint64_t rest = held; rest != 0; rest &= rest - 1)
    sigaddset(&context->uc_sigmask, __builtin_ctzll(rest) + 1);
}

// Signal context: the installed sa_sigaction. First lifts this thread's blocks that sigrelay no longer
// needs (torn down on another thread; see masks.hpp): through the interrupted context's mask, which
// the kernel restores on return. A poke exists only for that and runs nothing else; one that the
// kernel sent without its siginfo (a full queue) is known by its claim (take_poke(), masks.hpp).
//
// Holds (hold.hpp): a poke also lifts this thread's holds of full realtime rings. For a delivery
// with a real interrupted context (not under ThreadSanitizer, whose handlers run on a copy of it),
// dispatch() (before any action) or a lone action may ask for a hold, applied here to the context's
// mask. t_hold_allowed/t_hold_request are saved and put back around the dispatch: a nested delivery
// leaves the outer one's alone. A standard signal takes a shorter way that never touches them
// (holds are of realtime signals only): it saves 35 of the ~180 instructions the trampoline cost per
// delivery under callgrind (bench/deliveries.cc, issue 9). A snapshot of one action (the usual case)
// is run without the loop, whose index and re-read bound lived across the call and cost spills:
// 173 -> 164 instructions per delivery for one registry action. And a standard signal whose only
// action is a `signals` object's record is recorded inline (run_standard()): 189 -> 141
// instructions per delivery for the trampoline and the record together, 405 -> 354 for a delivery
// to a `signals` consumer through pending(std::vector&).
namespace {

// Signal context: the trampoline's way for a realtime signal, which may hold (hold.hpp). Out of line:
// its locals, live across the delivery, would otherwise cost every standard delivery a longer
// prologue and spills (2 instructions per delivery under callgrind when t_hold_windows joined them).
[[gnu::noinline]] void run_realtime(int signo, siginfo_t* info, ucontext_t* context) noexcept {
  const unsigned outer_allowed = t_hold_allowed;
  const unsigned outer_request = t_hold_request;
  const unsigned outer_windows = t_hold_windows;
  // A hold of this signal on this thread, if any, is over: its re-queued siginfo came first, or its
  // stash (a hold that an enclosing handler's return undid) runs now, before this delivery.
  siginfo_t stash;
  if (ring_hold_taken(signo, stash)) dispatch(signo, &stash, context);  // (which never holds)

  t_hold_allowed = context != nullptr && !os::sanitizer_defers_signals ? 1 : 0;
  t_hold_request = 0;
  run_delivery<true>(signo, info, context);
  // No lift can nest from here to the kernel's return (which restores uc_sigmask): the pokes are in
  // the trampoline's sa_mask (hold.hpp, "Nesting").
  if (t_hold_request != 0 && context != nullptr) apply_hold(signo, context->uc_sigmask);
  keep_holds_blocked(context);
  t_hold_allowed = outer_allowed;
  t_hold_request = outer_request;
  t_hold_windows = outer_windows;  // this run's hold, if any, is applied (or was never requested)
}

}  // namespace

void trampoline(int signo, siginfo_t* info, void* ucontext) noexcept {
  auto* const context = static_cast<ucontext_t*>(ucontext);
  if (t_applied != 0) lift_released_blocks(context != nullptr ? &context->uc_sigmask : nullptr);
  if (take_poke(signo, info)) {
    lift_ring_holds(context != nullptr ? &context->uc_sigmask : nullptr);
    return;
  }
  if (signo >= ring_hold_first) {
    run_realtime(signo, info, context);
    return;
  }
  // A standard signal: never held, so no hold of it to take first and none to allow (hold.hpp).
  run_standard(signo, info, ucontext);
  keep_holds_blocked(context);
}

// Signal context.
void* current_ucontext() noexcept { return t_ucontext; }

// Signal context. Called from inside an action (its reader section held): the previous disposition
// is read from the snapshot that action runs from, copied, and called as dispatch() would.
void call_chained(int signo, siginfo_t* info, void* ucontext) noexcept {
  const snapshot* snap = load_snapshot(signo);
  if (snap == nullptr || info == nullptr || !callable(snap->previous, signo, *info)) return;
  const struct sigaction previous = snap->previous;
  call_previous(previous, signo, info, ucontext);
}

// The counters this thread's held sections hold. Called in a fork child, whose only thread is the
// one that forked (maybe from inside an action).
void held_reader_counts(std::uint64_t counts[2]) noexcept {
  counts[0] = counts[1] = 0;
  for (unsigned i = 0; i < t_held_depth && i < kMaxHeld; ++i) {
    if (t_held[i].parity < 2) ++counts[t_held[i].parity];  // (not kNotCounted)
  }
  if (t_held_depth > kMaxHeld) {  // the deep group
    counts[0] += t_deep[0];
    counts[1] += t_deep[1];
  }
}

// Signal context: sigaction() is async-signal-safe.
void reset_to_default(int signo) noexcept {
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigaction(signo, &dfl, nullptr);
}

}  // namespace sigrelay::detail
