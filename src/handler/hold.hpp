// SPDX-License-Identifier: MIT
// src/handler/hold.hpp — holding realtime signals in the kernel while a ring is full. Signal context.
//
// Design notes
// - A `signals` object's realtime ring is bounded; the handler cannot refuse a delivery. When the
//   ring is full, record_fn *holds* instead of dropping: it re-queues the siginfo it got to the
//   running thread (rt_tgsigqueueinfo() to itself: the kernel keeps si_code, si_pid, si_uid and
//   si_value as given, for a signal a process sends itself) and asks the trampoline to block the
//   signal in the interrupted context's uc_sigmask, which the kernel restores on return. From then on
//   the kernel keeps that thread's re-queued siginfo and the process's queue (up to
//   RLIMIT_SIGPENDING; a sender beyond it gets EAGAIN: a loss the sender sees, never a silent one).
//   Order per signal number is kept: a thread's own queue is dequeued before the process's, so the
//   re-queued siginfo (the oldest) comes first again.
// - Where a hold is taken: *before any action runs*, in the trampoline's dispatch(), when the
//   signal is realtime and a `signals` sink among the delivery's actions has fewer than `reserve`
//   free cells (ring_wants_hold(): one probe of the ring cell `reserve` places ahead of the producers;
//   no flag to keep), or a signalfd read whose siginfos go to that ring (its own consumer's, or
//   another object's) is between counting and the records of what it read (sink::reading: the
//   siginfos read are older, and the read claimed the free cells for them; src/signals.cc,
//   read_signalfd()). The whole delivery is then re-queued and blocked: no action runs
//   now, and every action (other `signals` objects, any other registry action, a chained earlier
//   handler) sees it exactly once, when it comes back after the lift. So holds work whatever else
//   the signal runs. `reserve` (a sink's ring capacity / 8, at least 1, at most 64) covers
//   deliveries that passed the entry check just before the ring filled (other threads, or nested
//   deliveries of other realtime signals on one thread: the kernel blocks a signal during its own
//   handler).
// - The consumer is woken after the holder is listed (notify_holder()): no action runs for a held
//   delivery, so no record notifies, and a drain that ran between the probe and the listing found
//   no holder to poke; without the wake-up its consumer could sleep with the signal held.
// - kHoldBeforeActions switches this hold on (it is). It was off for a while: under the safety
//   test's flood (3 receiver threads, several actions per signal, a 16-record ring drained slowly)
//   realtime deliveries stopped after ~2,600, held for good; the causes were the nested poke (see
//   "Nesting") and the missing wake-up above. Off, a delivery beside other actions that finds the
//   ring full is counted in dropped().
// - A delivery that still finds the ring full in record_fn (more than `reserve` deliveries raced
//   past the entry check) holds there only if the sink's action is the snapshot's only one and
//   nothing is chained (the other actions would otherwise see it twice); else it counts as dropped.
// - Never: outside the trampoline (a signalfd read), under ThreadSanitizer (which runs handlers on a
//   copy of the context and restores its own mask: the block would not stick and the re-queue would
//   loop), for a sink that unsubscribes (`no_holds`), or a fork child's inherited sink. A full
//   holders' table runs the delivery's actions at once (a full ring counts it in dropped()).
// - Stashes: a re-queue the kernel refuses (EAGAIN once the queue is at RLIMIT_SIGPENDING, which
//   senders that retry keep it at; EPERM for an si_code >= 0 re-queued from a thread that is not
//   the main one) still holds: the siginfo stays in the thread's entry (the copy below, marked in
//   `g_ring_holder_stashed`) and the signal is blocked as for any hold. While it is blocked nothing
//   of that signal reaches the thread, so the stash is the oldest; it runs (dispatch(), with no
//   hold: a ring still full counts it in dropped()) before anything else of its signal on the
//   thread: in the lift, before the unblocking (run_stash()); in the trampoline or a signalfd read
//   or sigtimedwait() of the signal on that thread (ring_hold_taken(): a hold that an enclosing
//   handler's return undid, so the signal came back unblocked); at unsubscribe (run_own_stash(),
//   unless another ring would hold it: then it stays for the lift that ends the removal);
//   and by the consumer that finds the thread exited (take_exited_holds(), as for a re-queued
//   siginfo the kernel discarded). Each stash bit is taken with one atomic and: it runs once.
//   Before stashes, such a delivery ran at once and a full ring counted it in dropped().
// - A lift puts a stash off while a ring of its signal would hold it (stashes_to_keep(), hold.cc:
//   delivery_would_hold()): that signal stays held, blocked, listed, with its stash; the rest is
//   lifted, and the next poke tries again. Under ASan the soak's C0 ring filled again between its
//   drain and the poked thread's lift, and each such stash was dropped (1,928 in 60 seconds,
//   every drop left there); with the put-off, 1. A lift in ordinary code blocks the pokes while it
//   keeps (a poke's lift nested in it could free the entry under it). The poker's wait ends at a
//   put-off (g_ring_lifts), and a teardown's wait for the signal to come unblocked too
//   (g_ring_put_offs): what is kept is held for another ring, whose consumer pokes again.
// - Unsubscribing: a sink that ends a realtime subscription sets `no_holds`, then reads
//   g_ring_holder_count and pokes the holders (src/signals.cc, unsubscribe()), then removes its
//   action. A handler that read `no_holds` clear and holds after that read of the count would block
//   the signal after the action is gone, with nobody left to poke it: the signal stayed blocked in
//   that thread (and its re-queued siginfo pending) until some unrelated drain, found by
//   tests/contract_signals_test.cc. So a hold reads `no_holds` again once its thread is listed
//   (claim_entry() raised the count, or the thread was listed already), inside its reader section
//   (the sink cannot be gone): of the two seq_cst pairs, store-then-load and add-then-load, one sees
//   the other. Either the unsubscriber pokes the holder (the poke runs once the handler returns and
//   lifts the hold) or the holder cancels its own hold (cancel_hold()). A cancel keeps a stash that
//   another ring of the signal would hold: that ring's consumer pokes the holder once it drains.
// - Cost: a ring that a consumer stops draining keeps its signal held for every other action of that
//   signal too (up to RLIMIT_SIGPENDING, then the sender sees EAGAIN).
// - Lifting: `t_ring_held` (per thread, bit signo-1) is what this thread's holds block. The thread
//   lifts them itself (pthread_sigmask, or the uc_sigmask of a handler), at the start of a drain of
//   any `signals` object on it, and in the trampoline when poked (src/signals.cc sends the poke,
//   after a drain made room). A thread that holds is listed in `g_ring_holders` (claimed with a CAS
//   in the handler), so that the consumer knows whom to poke; a thread that finds the table full
//   does not hold (the delivery counts as dropped).
// - A lift when the ring is still full costs one re-queue and hold again: never a loss.
// - Nesting: a lift edits the uc_sigmask of the context the poke interrupted, which the kernel
//   restores on return. A poke nested inside another run of the trampoline on the holding thread
//   (any signal it handles, the hold's own run, or a handler it chains) would edit only its own copy:
//   the outer run's return would restore the mask that run saved, the held signal blocked again, with
//   t_ring_held cleared and the thread out of the table (nobody would poke it again). So the
//   trampoline is installed with sa_mask {SIGURG, SIGWINCH}, the pokes (src/registry.cc), and a
//   chained handler runs with them blocked too: a poke runs only once every run of the trampoline
//   on that thread has returned, on the outermost context. The pokers wait (up to a second) while the
//   thread blocks both. A hold applied in a nested run blocks its signal in the nested context;
//   every run of the trampoline adds what t_ring_held names to the context it returns to
//   (keep_holds_blocked(), trampoline.cc), so the enclosing runs' returns keep the block too. (They
//   used to undo it: the signal came back at once, and a stash then ran with no hold into a ring
//   still full, dropped: the soak's last drops in C0 and the dispatcher.) apply_hold() still applies
//   no block if the thread is no longer listed (a lift ran since the listing; the re-queued siginfo
//   comes back at once). Found by the soak (children that inherited a held signal blocked) and by
//   the safety test; tests/hold_nesting_test.cc.
// - Nesting, within the bookkeeping: a delivery of another realtime signal used to nest anywhere in
//   a run of the trampoline on the same thread (the kernel blocked only the signal being handled),
//   and hold too. Since the trampoline blocks every signal but the faults (src/registry.cc), such a
//   delivery nests only inside a chained handler (which runs with its own mask, outside any hold's
//   window) or in ordinary code (a drain's lift, dispatch()); the guards below stay, for those and
//   for the test hook below, which still reproduces each window. So a claim of this thread's entry
//   takes t_ring_entry with a compare-exchange after it took the table's entry: a nested claim that
//   got in first wins, and the outer one gives its entry back and joins the nested one. (It used to
//   store t_ring_entry over the nested claim: that entry stayed listed for good, its hold forgotten
//   by the thread, whose delivery of the held siginfo cleared the signal's bit in the other entry;
//   once the thread exited, a consumer ran the siginfo a second time. The soak: one duplicate in
//   every action of the signal, a few per million deliveries under ASan.) And a lift leaves the
//   table before it takes t_ring_held: a hold nested between the two steps either claimed a new
//   entry (and is in t_ring_held: lifted, it comes back at once) or is in t_ring_held as well. (The
//   other way round, a hold nested in between joined the entry about to be cleared and stayed
//   blocked, unlisted: no consumer could poke it, and its siginfo was lost if the thread exited.)
//   And a hold nested in another hold's window (from its claim to the trampoline's apply_hold():
//   the outer hold has its entry's index in hand and is not listed yet) and cancelled there
//   (cancel_hold(): its object began unsubscribing) leaves the thread in the table
//   (t_hold_windows). It used to lift, as nothing of the thread was listed: the entry was free
//   under the outer hold for another thread to claim, and the outer hold then wrote its copy over
//   that thread's, or was applied in the same entry, claimed again by a further nested hold, beside
//   the other thread's copy, which a consumer ran once this thread had exited: one delivery handed
//   out with another's siginfo, and the first lost. g_hold_test_hook lets tests/hold_exit_test.cc
//   nest a delivery at exactly these points, and lift within a hold's window before its block (the
//   `requeue`, `stash` and `requested` points: see apply_hold() and hold_whole_delivery()). Such a
//   lift no longer comes from a nested cancel, but still from a fork in a nested action (the child
//   forgets the table: forget_ring_holds_in_child()), so the window keeps its checks: a hold is
//   applied only in the entry that has its copy, and a stash whose entry such a lift left (before
//   or while it was listed) claims an entry again and is listed there (hold_whole_delivery()); it
//   used to run at once, into the ring still full.
// - A thread that exits while it holds: the kernel discards a thread's own pending signals with it,
//   so the siginfo each hold re-queued to it is gone (one per held signal: while held, the signal is
//   blocked there, so that thread holds it once), and with it the whole delivery: no action of the
//   signal has seen it yet (the hold is taken before any action runs). So the hold keeps a copy of
//   that siginfo in the thread's entry (`g_ring_holder_info`: the 48 bytes the kernel keeps of a
//   siginfo, struct kernel_siginfo), and the held signals (`g_ring_holder_signals`). The first
//   consumer (of any `signals` object) that finds the thread gone (src/signals.cc,
//   poke_ring_holders) runs each such delivery itself, through dispatch() in ordinary context, as a
//   signalfd read would: every action sees it once (a ring still full counts it in dropped()).
//   Counting it as dropped in one sink alone left every other action one delivery short (the soak:
//   C0's received + dropped one above the registry action's count, for good).
// - One entry per thread, whatever it holds for: a thread that holds one signal for one object's
//   full ring holds another signal for another object's as well (it joins its entry). The entry
//   used to name one sink, and a thread holding for one refused to hold for another, whose delivery
//   then ran its actions at once: an instrumented 3-minute ASan soak counted 1.2 million drops of
//   RTMIN+1 (C0, a ring among other consumers of its signals, and the churned objects) to that rule. Nothing
//   needs the name: every consumer pokes every listed thread after a drain, and an exited holder's deliveries
//   run through dispatch(), every action, whoever takes them.
// - `g_ring_holder_signals` names only holds whose re-queued siginfo is still pending on the thread:
//   every run of the trampoline for a signal clears the signal's bit first (ring_hold_taken(); the
//   kernel hands a thread its own queue first, so a delivery of a held signal there is the re-queued
//   siginfo coming back), and so does a signalfd read on the thread. A hold that the return of an
//   enclosing handler undoes (a nested run of the trampoline, or one that interrupted a foreign
//   handler: the outer return restores a mask without the block) is therefore forgotten when its
//   siginfo comes back, before the thread can run on and exit; listed for good, it was counted
//   again for a thread that exited later although it had been received. (Limit: siginfos of the
//   signal sent to the holding thread itself, tgkill() or pthread_sigqueue(), queue beside the
//   re-queued one; those that the thread's exit discards go uncounted, as the kernel discards any
//   exiting thread's own pending signals.)
#pragma once

#include <sys/types.h>
#include <atomic>
#include <csignal>
#include <cstddef>
#include <cstdint>

#include "handler/state.hpp"

namespace sigrelay::detail {

struct sink;  // handler/sink.hpp

static_assert(std::atomic<pid_t>::is_always_lock_free, "g_ring_holders");
static_assert(std::atomic<int>::is_always_lock_free, "g_ring_holder_count");
static_assert(std::atomic<std::uint32_t>::is_always_lock_free, "g_ring_lifts");
static_assert(std::atomic<void (*)()>::is_always_lock_free, "g_hold_test_hook");
static_assert(std::atomic<std::uint64_t>::is_always_lock_free, "g_ring_holder_signals, g_ring_holder_info");
static_assert(NSIG - 1 <= 64, "g_ring_holder_signals: bit signo-1");

inline constexpr int max_ring_holders = 256;
// Holds are of realtime signals only; the kernel's first one is 32 (glibc's SIGRTMIN is above it).
inline constexpr int ring_hold_first = 32;
inline constexpr int ring_hold_signals = NSIG - ring_hold_first;
// What the kernel keeps of a siginfo (struct kernel_siginfo: the header and the 32-byte union of
// the fields it fills); the rest of a siginfo_t it hands out is zero.
inline constexpr int ring_hold_info_words = 6;
static_assert(sizeof(siginfo_t) >= ring_hold_info_words * sizeof(std::uint64_t), "g_ring_holder_info");

// Threads that hold (their kernel thread id), 0 for a free entry, -tid while a consumer takes the
// entry of exited thread tid (take_exited_holds()). Constant-initialised.
extern std::atomic<pid_t> g_ring_holders[max_ring_holders];
// Per entry: the signals the thread holds (bit signo-1), for a consumer that finds it exited.
extern std::atomic<std::uint64_t> g_ring_holder_signals[max_ring_holders];
// Per entry: which of those holds are stashes (the siginfo is in g_ring_holder_info only, not in the
// kernel; see the notes). Always a subset of g_ring_holder_signals.
extern std::atomic<std::uint64_t> g_ring_holder_stashed[max_ring_holders];
// Per entry and held signal (signo - ring_hold_first): a copy of the re-queued siginfo, written by
// the holding thread before it sets the signal's bit in g_ring_holder_signals, read by a consumer
// only once that thread has exited (take_exited_holds()). Constant-initialised (about 400 KB of
// zero pages, touched only by holds).
extern std::atomic<std::uint64_t> g_ring_holder_info[max_ring_holders][ring_hold_signals]
                                                    [ring_hold_info_words];
// Entries in use (a cheap "anyone holding?" for the consumer).
extern std::atomic<int> g_ring_holder_count;
// Per entry: counts the lifts that left it. A poker waits for its entry's count to move (the poked
// thread may hold again, in the same entry, before the poker ever sees the entry free). One count for
// all entries let another thread's lift end the wait early: the poker then removed the pokes' action,
// and a poke still pending met SIGURG's default disposition (discarded): that hold stayed for good.
extern std::atomic<std::uint32_t> g_ring_lifts[max_ring_holders];
// Per entry: counts the poke lifts that kept some of its thread's holds (a stash whose ring would hold
// again, lift_ring_holds()); each also counts in g_ring_lifts. A teardown that waits for the thread to
// unblock its signal stops at it: what is kept is held for another ring.
extern std::atomic<std::uint32_t> g_ring_put_offs[max_ring_holders];

// Tests only (tests/hold_exit_test.cc): when set, called at the points where a nested delivery has
// broken the holders' table (in signal context, or wherever a lift runs): the two of the notes'
// "Nesting, within the bookkeeping" (`claim`: a claim that has taken a table entry but not yet
// t_ring_entry; `lift`: a lift that has left the table but not yet taken t_ring_held), and the two
// ends of a hold's window before the trampoline applies it, in which a lift may nest (a fork
// child's; a nested cancel_hold()'s, before t_hold_windows) (`requeue`: hold_whole_delivery() has
// claimed its entry and re-queued the siginfo, or been refused, but not yet written its copy;
// `requested`: it has written the copy and set t_hold_request), and one inside it for a refused
// re-queue (`stash`: the copy is written, the stash not yet listed in the entry); and `taken`:
// ring_hold_taken_listed() has loaded this thread's entry but not yet taken from it. The hook may send
// its thread a signal, delivered nested on the system call's return, or lift itself. Unset (the
// default) it costs one relaxed load per claim, per hold and per lift, never per delivery.
enum class hook_point { claim, lift, requeue, requested, stash, taken };
using hold_test_hook_fn = void (*)(hook_point where) noexcept;
extern std::atomic<hold_test_hook_fn> g_hold_test_hook;

// GNU __thread, initial-exec: plain thread-pointer-relative accesses, safe in a signal handler.
// 1 while dispatch() runs an action that may hold from inside (the only action, nothing chained).
extern __thread unsigned t_hold_allowed __attribute__((tls_model("initial-exec")));
// Set by hold_delivery(): the trampoline must block this signal in the interrupted context. The
// value is the entry that holds the delivery's copy, plus one (0: nothing to apply).
extern __thread unsigned t_hold_request __attribute__((tls_model("initial-exec")));
// Holds of this thread in their window (hold_whole_delivery() entered, the trampoline's apply_hold()
// not yet run), counting the enclosing runs of the trampoline (which put the count back as they
// return): while another than its own is open, cancel_hold() does not leave the table (see the notes,
// "Nesting, within the bookkeeping"). Left by siglongjmp, a window stays counted: that thread's
// cancelled holds then stay listed until a poke or a drain lifts them (a poke more, never a loss).
extern __thread unsigned t_hold_windows __attribute__((tls_model("initial-exec")));
// Signals this thread's holds block (bit signo-1); written with __atomic builtins (a handler may
// add a bit while ordinary code on this thread takes them).
extern __thread std::uint64_t t_ring_held __attribute__((tls_model("initial-exec")));
// This thread's entry in g_ring_holders, or -1.
extern __thread int t_ring_entry __attribute__((tls_model("initial-exec")));

// Signal context. record_fn found its sink's ring full: re-queues `info` to this thread and asks for
// a hold, if t_hold_allowed. False if no hold is possible (the caller counts the delivery as dropped).
bool hold_delivery(const siginfo_t& info) noexcept;

// Signal context. dispatch(), before any action: re-queues `info` to this thread and asks for a hold.
// False if the kernel refused the re-queue or the holders' table is full (run the actions instead).
bool hold_whole_delivery(const siginfo_t& info) noexcept;

// Signal context. Undoes the hold that hold_whole_delivery() or hold_delivery() has just taken on
// this thread for a sink found unsubscribing since (its `no_holds` read set after the claim; see the
// notes, "Unsubscribing"), before the trampoline applies it: no block; a stash of `signo` runs now
// (dispatch(), no hold); the thread leaves the holders' table if it holds nothing else. A re-queued
// siginfo comes back at the handler's return, as any delivery racing the end of a subscription.
// Except a stash that another object's ring would hold (delivery_would_hold()): that hold stays, for
// that ring's consumer to lift, as a lift keeps such a stash ("Stashes").
// `mask` is the interrupted context's uc_sigmask (null outside a handler: nothing is lifted then).
void cancel_hold(int signo, sigset_t* mask) noexcept;

// Whether the trampoline holds whole deliveries before any action (see the notes: on).
inline constexpr bool kHoldBeforeActions = true;

// Signal context (defined in sink.cc). The first of `entries` that is a `signals` sink whose ring has
// fewer than its reserve of free cells for realtime `signo` (see the notes), or null.
sink* ring_wants_hold(const entry* entries, std::size_t size, int signo) noexcept;

// Async-signal-safe; called from ordinary code (defined in trampoline.cc). Whether a delivery of
// realtime `signo` that the trampoline ran now would be held before any action: some `signals` sink
// of the signal that may hold (not unsubscribing: no `no_holds`) has fewer than its reserve of free
// cells, or its consumer is recording a signalfd read. Always false where no hold can stick (under
// ThreadSanitizer, see the notes; the posix platform layer). Reads the snapshot inside a read-side
// section, as runs_only() does. Ending a subscription on a thread that holds stops taking its held
// deliveries on true (src/signals.cc, take_own_holds()): dispatched in ordinary code, where nothing
// can hold, they would be dropped in that ring.
bool delivery_would_hold(int signo) noexcept;

// Async-signal-safe; called from ordinary code (defined in trampoline.cc). How many siginfos of
// realtime `signo` a read in ordinary code may take now and dispatch without a drop in the ring of a
// `signals` sink other than `except`: 0 while one of those rings would hold (as delivery_would_hold()
// sees it), 1 while such rings exist (the next delivery may fill one), else `most` (no other ring, or
// no hold can stick here, so none would be kept queued anyway). A signalfd-backed object's remove()
// reads what is queued of the removed signal in reads of that size: dispatched in ordinary code,
// where nothing can hold, a siginfo meeting another object's full ring would be dropped there; left
// queued, it reaches the actions left once the removal is over, through the trampoline, which holds
// it for that ring.
std::size_t reads_without_drop(int signo, const sink* except, std::size_t most) noexcept;

// Signal context (defined in sink.cc), after hold_whole_delivery() held a delivery of `signo` for
// `s`: cancels the hold if `s` began unsubscribing meanwhile (cancel_hold(), with the uc_sigmask of
// `ucontext`; see the notes, "Unsubscribing"), and wakes the consumer of `s` as a recorded delivery
// would (see the notes: a drain must follow the listing).
void confirm_hold(sink* s, int signo, void* ucontext) noexcept;

// Signal context (the trampoline, after dispatch()). Applies a requested hold of `signo` to `mask`
// (the interrupted context's uc_sigmask) and lists it in g_ring_holder_signals.
void apply_hold(int signo, sigset_t& mask) noexcept;

// Signal context (the trampoline, before dispatch(); in ordinary context, a signalfd read or
// sigtimedwait(), through ring_hold_taken_ordinary()). A siginfo of `signo` was taken on this
// thread: any hold of it here is over (its re-queued siginfo, first in line, came back), so it is no
// longer listed in g_ring_holder_signals (see the notes). Returns true if the hold was a stash, taken
// into `stash`: the caller runs it first (dispatch(), no hold), then the siginfo it took. Inline: a
// thread with no entry in the holders' table (the usual case) holds nothing, and pays one load, no
// call.
bool ring_hold_taken_listed(int signo, siginfo_t& stash) noexcept;  // the rest, in hold.cc
inline bool ring_hold_taken(int signo, siginfo_t& stash) noexcept {
  return __atomic_load_n(&t_ring_entry, __ATOMIC_SEQ_CST) >= 0 && ring_hold_taken_listed(signo, stash);
}

// Ordinary context on this thread (a signalfd read, or sigtimedwait(): src/signals.cc):
// ring_hold_taken() with the pokes blocked meanwhile. A poke's lift nested between its load of this
// thread's entry and its take could leave the table under it, and another thread claim the entry,
// hold the same signal there and lose it here: its stash taken and run on this thread, or its bit
// cleared (its hold unlisted, its siginfo lost if that thread exits). In the trampoline no poke nests
// (its sa_mask). Two system calls more, only on a thread listed in the holders' table.
bool ring_hold_taken_ordinary(int signo, siginfo_t& stash) noexcept;

// Ordinary context on the holding thread (the removal of `signo` from an object: take_own_holds(),
// src/signals.cc). Runs this thread's stash of `signo`, if it has one, through dispatch() (no hold: a
// full ring counts it in dropped()) and unlists it; unless a ring of the signal would hold it (see
// "Stashes"): then it stays, held and listed, for a later lift.
void run_own_stash(int signo) noexcept;

// Ordinary context (a consumer of any `signals` object). Entry `entry` belongs to thread `tid`, which
// has exited while it held: takes the siginfos its holds had re-queued (which the kernel discarded
// with the thread) into `out` (room for ring_hold_signals) and frees the entry. Returns how many; 0
// and nothing freed if the entry is not (any more) thread `tid`'s, or another caller took it.
int take_exited_holds(int entry, pid_t tid, siginfo_t* out) noexcept;

// Lifts this thread's holds: from `*mask` (a handler's uc_sigmask) if given, else with
// pthread_sigmask (ordinary context). Returns whether it lifted anything. Async-signal-safe; Signal
// context (also called from ordinary code on the holding thread).
bool lift_ring_holds(sigset_t* mask) noexcept;

// For a fork child (one thread, the forking one; no pending signals): removes this thread's holds
// from `mask` and forgets every holder (the parent's threads do not exist here); returns the holds
// it removed (bit signo-1). Async-signal-safe.
std::uint64_t forget_ring_holds_in_child(sigset_t& mask) noexcept;

}  // namespace sigrelay::detail
