// SPDX-License-Identifier: MIT
// src/signals.cc — `signals`: deliveries relayed out of handler context (ordinary context).
//
// Design notes
// - The handler side is src/handler/sink.{hpp,cc}: one registry action per subscribed signal records
//   into a `sink` (counts + seqlock origins for standard signals, a bounded ring for realtime ones)
//   and wakes the consumer at most once until it drains. This file is the consumer side.
// - wait() on the relay backend sleeps on a futex on the sink's state word, not on the eventfd: the
//   handler's wake-up is then one futex system call, or none when the kernel delivered the signal to
//   the sleeping thread itself (the consumer re-checks the word when the interrupted futex_wait
//   restarts). native_handle() is the eventfd, written only when no futex waiter is registered, and
//   only once native_handle() was called (sink.hpp, FD_WANTED): pending()/wait() alone pay no
//   eventfd write or read, nor getpid() (verified_pid(), src/handler/state.hpp), per delivery.
// - The signalfd backend blocks the signals in the subscribing thread and reads them from a
//   signalfd. Every siginfo read is pushed through the registry's dispatch(), exactly as if the
//   trampoline had run: so every other subscriber of the signal (another `signals`, any action,
//   a chained earlier handler) gets it too — a signalfd read consumes the signal for the whole process.
//   The same registry actions stay installed, so a thread that does not block the signals relays it.
//   native_handle() is an epoll fd over the signalfd and the eventfd; wait() ppoll()s both, except:
// - wait() on the signalfd backend sleeps in read() of the signalfd (a blocking twin: a second
//   signalfd over the same mask without O_NONBLOCK, its own open file description) when nothing but
//   a signal the signalfd reports can end the wait: no timeout and no stop flag/token (plain wait(),
//   wait(std::vector&), the iterator), every subscribed signal blocked by sigrelay in this thread (so
//   none runs a handler here), and the process single-threaded by glibc's __libc_single_threaded (so
//   no other thread can take a signal through the handler, nor close(), add(), remove() or interrupt
//   through a handle; it never goes back to true once a thread was created). Then the drain before
//   the sleep skips its non-blocking read (the blocking one returns at once if a signal is pending),
//   and a wake-up is one read() system call, as in sigwaitinfo(). Otherwise ppoll() as above. A
//   handler of another signal that interrupts the read() restarts it (SA_RESTART) or ends it
//   (EINTR, then the loop looks again): a close() made from such a handler is seen only at the next
//   delivery (see the header).
//   A read that took one siginfo, into a sink with nothing recorded since the last drain, of a signal
//   whose only effect a dispatch would be our own record_fn (no other action, no chained earlier
//   handler: runs_only(), state.hpp), hands it to the caller directly: the event the record and
//   the drain after it would have made, without either (no sink write, no scan, no second pass
//   through the registry; 672 -> 410 instructions per delivery under callgrind,
//   bench/deliveries.cc `signalfd-wait`, as bench/run counts it). Anything else (several siginfos, a chained
//   handler, a ring hold's stash) is dispatched and drained as before, so ordering and coalescing are the
//   drain's. The caller's vector is reserved before the read, so nothing taken can be lost to a
//   throw. A drain's own non-blocking read does the same where the caller's vector already has room
//   (pending(std::vector&), the iterator's and the adapters' reused storage; never on an empty
//   drain's account, which allocates nothing): 634 -> 394 instructions per delivery through a
//   reused pending(std::vector&) (`signalfd-reuse`). A handler on another thread that records after
//   the look at the sink is handed out by the next drain, which its wake-up asks for.
//   The direct way is kept lean (issue 9, goal 3: 382 -> 270 instructions per `signalfd-reuse`
//   delivery, 400 -> 292 for `signalfd-wait`): the event is filled from the signalfd's record itself
//   (hand_out(): no siginfo_t built, no ucontext considered), the general way is out of line
//   (dispatch_records(), whose ucontext_t and siginfo_t copies would otherwise weigh on this frame),
//   the answer of runs_only() is remembered while the registry publishes nothing new for the signal
//   (runs_only_remembered(), state.hpp: no reader section, no snapshot read), and the drain's look for
//   released blocks is inline and, until some block is released on a thread other than its owner,
//   one load (lift_released_blocks_here(), masks.hpp).
// - The epoll set: native_handle() is an epoll fd over the signalfd and the eventfd, both added by the
//   constructor (so a failure to set it up throws there). But a signalfd in an epoll set puts a
//   wait-queue entry on the process's signalfd wait queue, which the kernel walks on every signal
//   sent to the process, epoll callback and all: about 200 ns per round trip in the same-CPU
//   ping-pong (bench/ signalfd-read floor with an idle epoll over a second signalfd, p1 6.61-6.66
//   µs against 6.43-6.45 µs), more than everything wait() does in user space. So the first wait*()
//   that sleeps (in read() or ppoll(), which polls the signalfd itself) takes the signalfd out of the
//   set if native_handle() was never called, and native_handle() puts it back (once, for good),
//   both under the mutex (leave_epoll_set()); that re-insertion can fail (ENOMEM, ENOSPC:
//   native_handle() then returns -1, see the header), and only in a program that mixes the two.
// - A block hides the signal from every other action in that thread until we read the signalfd,
//   which may be never (a single-threaded program waiting on a relay-backed object). So an object
//   blocks a signal only while its action is the signal's only one (registry action_count()), and
//   the registry's g_action_added hook lifts the block when another action is added in the thread
//   that holds it (lift_block_here()). A block held by another thread hides nothing from this one:
//   the kernel hands a process-directed signal to a thread that does not block it. Hence at most one
//   object blocks a given signal at a time, and it never blocks it again until it re-subscribes: it
//   receives the signal through the handler instead, like the relay backend. A constructor or add()
//   that adds actions puts those lifts off until every step has succeeded (detail::deferred_lifts,
//   also used by termination's constructor): one that failed half-way used to lift another object's
//   block for good, though its rollback removed the action that had called for the lift.
// - Reading: a drain reads at most as many siginfos as the realtime ring has room for (the kernel's
//   queue keeps the rest, safely, and keeps the signalfd readable); remove() reads all of the removed
//   signal, with a wake-up like a handler's (no drain follows it). A chained SA_SIGINFO handler (and
//   an action that chains itself, the crash handler) gets a getcontext() of the reading thread, never
//   a null ucontext; it is captured only for a signal that has one (wants_ucontext(), checked per
//   record: getcontext() is a system call), and other actions get a null current_ucontext().
// - signalfd's trap: blocked masks are inherited. What this library blocked is recorded per thread
//   (src/handler/masks.hpp): the registry's fork child handler unblocks, in the child, what sigrelay
//   blocked in the forking thread, and spawn_attr (src/spawn.cc) does the same for posix_spawn.
//   Signals the user had blocked already, and sigrelay's blocks in other threads, are left alone.
// - Masks are restored in the thread where they were changed. Each subscribed signal remembers the
//   slot of the thread that blocked it. Teardown on that thread unblocks at once; teardown on another
//   thread drops the reference and *pokes* the owner: a thread-directed SIGURG (or SIGWINCH), whose
//   default action is to ignore, sent with rt_tgsigqueueinfo() and a private cookie as its value,
//   only when /proc/self/task/<tid>/status shows the owner does not block it, and while a no-op
//   action keeps the trampoline installed for it. The trampoline lifts the owner's released blocks
//   (editing uc_sigmask) and runs nothing else for a poke; the poker waits (at most a second) until
//   the owner has done so (under ThreadSanitizer, which may restore the mask after a late handler,
//   until /proc shows the owner's mask without the signal, poking again), then removes the no-op
//   action. Should the poke not arrive in time (the
//   owner is stopped, or blocked it meanwhile), a pending poke is discarded by the kernel when SIGURG
//   is back to SIG_DFL, and the owner lifts the block at its next entry into a `signals` call or the
//   trampoline. The owner's own blocks are never touched by the tearing-down thread.
// - Fork children: an inherited object is dead in the child (its owner pid is the parent's): it
//   records nothing, never reads or writes the eventfd it shares with the parent, never touches a
//   mask; pending()/wait() return nothing at once. The drain's entry check compares with the pid the
//   registry's fork child handler refreshes, and the pid in the page the kernel zeroes in every
//   child (verified_pid(): no system call per drain), so that a drain in a child of _Fork() that has
//   not called after_fork_in_child() returns at once too (where that page is missing, the posix
//   build and kernels before 4.14, each drain asks getpid()); every eventfd write and read checks
//   getpid() as well (paid only next to that system call), so that such a child never wakes the
//   parent nor takes its wake-up. The copy's own mutex may be held by a thread of the parent that
//   was changing a subscription at the fork (that thread is not in the child, so nothing will ever
//   unlock it): changes of inherited copies (destroying one, remove()) take instead a mutex of the
//   process (inherited_copies_mutex()), made anew in each process before its first use, and never
//   wait for the parent's drains.
//   An object made with signals_options::follow_fork is made the child's own instead by the fork
//   child handler (see adopt_in_child(), "Following fork").
// - Realtime floods, measured choices (issue 9). The handler cannot refuse a delivery, so a full
//   ring *holds* (src/handler/hold.hpp): the siginfo is re-queued to the running thread and the
//   signal blocked in the interrupted context, and the kernel keeps the rest queued
//   (RLIMIT_SIGPENDING; a sender beyond it gets EAGAIN, a loss it sees). The whole delivery is held
//   before any action runs once the ring is nearly full, so that other actions (other objects, a
//   chained handler) keep their exactly-once view and the hold works beside them too
//   (kHoldBeforeActions, hold.hpp). A drain lifts this thread's holds once it
//   has emptied the ring (what they let in is recorded at once, without a wake-up system call, and taken in
//   the same drain, up to one more ring) and pokes other holding threads (poke_ring_holders()). The
//   alternative, a ring sized to RLIMIT_SIGPENDING (96,362 here) in lazily committed memory, was rejected: a
//   Vyukov ring's cells are reused round-robin, so ordinary traffic walks through (and commits) every page of
//   it within capacity deliveries, and giving pages back needs the ring empty and every producer out of it,
//   which a lock-free handler cannot promise; it also only moves the limit (a consumer starved while senders
//   keep the kernel's queue full still overflows). Holds cost nothing at rest (no memory beyond the
//   1,024-record ring), keep per-signal order, and measure 100,000 of 100,000 (or every sigqueue() the kernel
//   accepted) in tests/flood_test.cc for the relay backend, the signalfd backend and the dispatcher.
// - Reads beside other rings. A signalfd read is recorded, through dispatch(), into every sink of the
//   signal, in ordinary code where nothing can hold. Sized to the reader's own ring only, it overran
//   the ring of another object of the same signal whose consumer lagged (a relay-backed one: the
//   soak's C0 handed out 51% of a sustained RTMIN+1 flood, 355,687 dropped in 60 s; a signalfd
//   object beside it read the kernel's queue, which the holds had kept for C0, 65,536 at a time).
//   So each read is sized by every ring it goes to:
//   - Objects with a ring are listed in a directory of this process (weak pointers, under a mutex;
//     made anew in a fork child). A drain of a signalfd object with a ring, once two rings are
//     listed, copies the entries whose realtime signals meet its signalfd's (`peers`: shared
//     pointers, so a peer torn down meanwhile stays readable until the drain lets go).
//   - Before each read() it claims room (claim_room(): `claimed`, a compare-exchange) in its own
//     ring and in each peer's, after raising that peer's sink::reading (its handlers hold from then
//     on, as for the reader's own ring); the read takes the least. Claims go back once what was read
//     is recorded. Two readers of one ring therefore never count the same free cells.
//   - A peer with no room: the signals it shares leave the signalfd's mask (signalfd() with the
//     smaller mask; `excluded`). The kernel keeps them queued, and the signalfd stops reporting them:
//     a consumer that polls native_handle() or sleeps in wait() does not spin while the peer's
//     consumer lags. The reader marks bit 0 of the peer's room_word, with a compare-exchange from the
//     value it loaded before it counted; the peer's drain (after taking records) and every give-back
//     add 2 to it, so a room made in between fails the compare-exchange and the reader counts again
//     instead of stalling. A drain or give-back that finds bit 0 set wakes every stalled reader
//     (`unstall`, and a wake-up like a delivery's: rearm()); the reader's next drain puts the signals
//     back and counts again. A wake-up that lands after that drain's look is kept for the next one
//     (the check after NOTIFIED is cleared).
//   - Its cost: nothing for relay-backed objects beyond one atomic add per drain that took realtime
//     records; for a signalfd-backed one with a ring, a compare-exchange and a subtraction per read,
//     and a mutex only while two rings are listed. A drain without a ring takes none of it: its loop
//     is read_batches<batch_size::full>, and the sized one is out of line (read_sized()). Callgrind, SIGUSR1
//     per delivery (bench/deliveries.cc): signalfd-reuse 270 -> 266, signalfd-wait 294 -> 290 (with
//     hand_out() and hands_out_directly() now inlined by force: the grown file had made GCC call
//     them, +16), signals-reuse 401 -> 402, iterator 441 -> 442.
//   - A peer that subscribes later, or a ring made in a fork child of a follow_fork object (not
//     listed in the child), is minded from the next drain on, or not at all: then its ring can
//     still overrun as before, counted by dropped().
// - Steady state allocates nothing and scans nothing: pending(std::vector&) reuses the caller's
//   storage (the iterator, the dispatcher and the adapters use it); standard signals with a count are
//   found through the sink's bitmask (taken with one exchange), realtime ones in the ring. Each
//   event is built where it lies in `events` (room reserved first, the origin classified into it
//   field by field: a temporary origin and its copy cost 30 instructions), the origin slot's
//   seqlock is read in one inline try (its retry loop, out of line, held six registers), and the
//   ring is not looked at while there is none: 462 -> 418 instructions per delivery through a
//   relay-backend pending(std::vector&) under callgrind, 489 -> 445 for wait() (bench/deliveries.cc).
// - Subscriptions from any thread (handle::add()/remove()): a mutex per core orders every change of
//   the subscription state (ids[], block_slot[], signalfd_mask, the realtime ring's allocation, the
//   signalfd reads and mask changes of remove()) against the others and against drain(), which reads
//   the ring pointer and the signalfd. It is held only for bounded work, never while wait() sleeps
//   (futex/ppoll), and never in signal context (handlers read the sink, published by add_action()).
//   The drain takes it only when a change is in flight (`changing`, counted before the change takes
//   the mutex); otherwise it runs with `draining` set, which a change waits to see clear once it
//   holds the mutex (change_lock, drain_lock: Dekker's pattern in seq_cst atomics, so
//   ThreadSanitizer sees the ordering). Steady state: no lock per drain.
//   unsubscribe() gives a block back without it: poke_owner() may wait up to a second for the owner,
//   which may be the consumer about to drain. A handle's add() never blocks a signal: the block would
//   land in the calling thread, not the consumer's, and hide the signal from any action run there;
//   its deliveries come through the handler. A mask change made by signalfd() from another thread
//   wakes the signalfd's pollers (the kernel does so on every signalfd() update), so a consumer in
//   ppoll()/epoll re-checks with the new mask.
// - Exit races (issue 13): a `signals` object destroyed at exit (a static one) while other threads
//   flood it must still finish. Ending a realtime subscription takes the deliveries this thread's
//   hold of that signal keeps pending with sigtimedwait() (bounded: one ring and a bit), still
//   blocked, and lifts the holds only after the action is gone: if that restores SIG_IGN, the
//   kernel discards what is still queued. Unblocking first let a flood that refills the queue keep the thread
//   in its handler for ever. Other threads' holds are poked while the action is still there, as before.
// - Lifetime: the sink lives in a shared `core`, owned by the object and by every handle, so a late
//   close() never touches a closed fd. The destructor removes the actions (whose grace period makes
//   the sink unreachable from handlers) before anything is freed.
// - A moved-from object has no core: every member checks for that and behaves as on a closed object
//   with no subscriptions (add() throws, as on a closed one: a subscription nobody could ever drain
//   would swallow the signal).
// - wait(std::stop_token) (C++20, inline in the header) registers a std::stop_callback that sets a
//   flag on the caller's stack and calls interrupt(); wait_impl() checks the flag before each drain
//   and after it. interrupt() sets the sink's INTERRUPTED bit (so a futex sleep that had not begun
//   finds the word changed, and one that had is woken if WAITING is set) and, for a wait that polls
//   the fds instead, writes the eventfd (an empty drain reads it away: hence the flag is checked
//   again after the drain, before the sleep). Nothing is closed; a plain wait() ignores the bit, and
//   a stoppable wait clears it when it starts. Flag before bit, both seq_cst: a wait that clears the
//   bit after the callback set it then sees the flag.
// - Timeouts never overflow: the templates in the header saturate any duration or time point to
//   [0, nanoseconds::max()], and wait_impl() takes a timeout that would carry the deadline past
//   steady_clock's range as "forever".
#include "sigrelay/signals.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iterator>
#include <limits>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "platform/config.hpp"
#if SIGRELAY_LINUX  // the signalfd backend and the holds (config.hpp)
#include <sys/epoll.h>
#include <sys/signalfd.h>
#if __has_include(<sys/single_threaded.h>)
#include <sys/single_threaded.h>
#endif
#include <ucontext.h>
#endif
#include "detail.hpp"
#include "handler/hold.hpp"
#include "handler/masks.hpp"
#include "handler/relays.hpp"
#include "handler/sink.hpp"
#include "handler/state.hpp"
#include "platform/linux.hpp"
#include "platform/sys.hpp"

namespace sigrelay {

// ---------------------------------------------------------------------------------------------------
// Origins

std::string_view to_string(origin_kind kind) noexcept {
  switch (kind) {
    case origin_kind::user: return "user";
    case origin_kind::queue: return "queue";
    case origin_kind::thread: return "thread";
    case origin_kind::kernel: return "kernel";
    case origin_kind::timer: return "timer";
    case origin_kind::child: return "child";
    case origin_kind::other: return "other";
  }
  return "other";
}

namespace detail {
namespace {

// Async-signal-safe: pure computation.
// SIGPIPE for a write to a broken pipe is sent by the kernel as SI_USER "from" the writing process
// itself; it is reported as a kernel origin (with that pid), as is a SIGPIPE the process sends itself.
// One switch on si_code, each case setting only what that code carries, its kind and trust as
// constants (issue 9: this runs once per event handed out; a shared case with the kind chosen by a
// second test, and the trust computed before the switch for every code, cost 12 instructions more per
// event under callgrind). SI_USER and SI_TKILL, the codes of kill() and of tgkill(), pthread_kill()
// and raise(), which send most signals, are tested first, one compare each, before the switch's jump
// table: under callgrind, 6 instructions less per event sent by kill(), 4 less by tgkill(), 1 more by
// sigqueue() (bench/deliveries.cc, its sender changed for the measurement).
// The same classification as origin_of() documents in the header:
// - SI_USER: user (kernel for the SIGPIPE "from" this process), with pid and uid; no value.
// - SI_QUEUE, SI_TKILL: queue, thread, with pid, uid and value. SI_TIMER: timer, with value.
// - SI_MESGQ: other, with pid, uid and value. Other negative codes: other, with value.
// - SIGCHLD with CLD_EXITED..CLD_CONTINUED: child, with pid, uid and child_status.
// - Other positive codes (SI_KERNEL and the per-signal ones): kernel, nothing else.
// trusted: si_code >= 0 or SI_TKILL.
// Fills `o`, which holds origin's defaults (a value-initialised event's, in place: no temporary to
// copy; among them trusted == false and kind == other), setting only what differs from them.
[[gnu::always_inline]] inline void fill_origin(origin& o, const raw_origin& r, pid_t self) noexcept {
  const int code = r.code;
  o.code = code;
  if (code == SI_USER) {
    o.kind = r.signo == SIGPIPE && r.pid == self ? origin_kind::kernel : origin_kind::user;
    o.trusted = true;
    o.pid = r.pid;
    o.uid = r.uid;
    return;
  }
  if (code == SI_TKILL) {
    o.kind = origin_kind::thread;
    o.trusted = true;
    o.pid = r.pid;
    o.uid = r.uid;
    o.value.sival_ptr = r.value;
    return;
  }
  switch (code) {
    // SI_QUEUE carries what SI_MESGQ does, with a kind of its own (SI_MESGQ's: other, the default).
    case SI_QUEUE: o.kind = origin_kind::queue; [[fallthrough]];
    case SI_MESGQ:
      o.pid = r.pid;
      o.uid = r.uid;
      o.value.sival_ptr = r.value;
      break;
    case SI_TIMER:
      o.kind = origin_kind::timer;
      o.value.sival_ptr = r.value;
      break;
    default:
      if (code >= 0) {
        o.trusted = true;
        if (r.signo == SIGCHLD && code >= CLD_EXITED && code <= CLD_CONTINUED) {
          o.kind = origin_kind::child;
          o.pid = r.pid;
          o.uid = r.uid;
          o.child_status = r.status;
        } else {
          o.kind = origin_kind::kernel;
        }
      } else {
        o.value.sival_ptr = r.value;  // (kind: other) the negative codes carry a sigval
      }
      break;
  }
}

[[gnu::always_inline]] inline origin make_origin(const raw_origin& r, pid_t self) noexcept {
  origin o;
  fill_origin(o, r, self);
  return o;
}

}  // namespace
}  // namespace detail

origin origin_of(const siginfo_t& info) noexcept {
  return detail::make_origin(detail::raw_origin{info.si_signo, info.si_code, info.si_pid, info.si_uid,
                                                info.si_signo == SIGCHLD ? info.si_status : 0,
                                                info.si_signo == SIGCHLD ? nullptr : info.si_value.sival_ptr},
                             ::getpid());
}

// ---------------------------------------------------------------------------------------------------
// Signals blocked by the signalfd backend, per thread (see src/handler/masks.hpp).

namespace detail {
namespace {

// Frees a slot whose owner thread exited once nobody references a block in it any more.
void free_if_abandoned(thread_blocks& slot) noexcept {
  if (slot.tid.load(std::memory_order_seq_cst) != -1) return;
  for (const std::atomic<std::uint32_t>& r : slot.refs) {
    if (r.load(std::memory_order_seq_cst) != 0) return;
  }
  pid_t dead = -1;
  slot.tid.compare_exchange_strong(dead, 0, std::memory_order_seq_cst);
}

// pthread key destructor: the thread exits, and its mask with it.
void release_slot_at_exit(void* p) noexcept {
  auto* slot = static_cast<thread_blocks*>(p);
  if (t_blocks != slot) return;  // forgotten in a fork child (the slot may be another thread's now)
  t_blocks = nullptr;
  t_applied = 0;
  slot->tid.store(-1, std::memory_order_seq_cst);
  free_if_abandoned(*slot);
}

// This thread's slot, claimed on first use. Throws if every slot is taken.
int my_slot() {
  if (t_blocks != nullptr) return static_cast<int>(t_blocks - g_thread_blocks);
  static const pthread_key_t key = [] {
    pthread_key_t k{};
    ::pthread_key_create(&k, [](void* p) { release_slot_at_exit(p); });
    return k;
  }();
  const pid_t tid = os::gettid();
  for (thread_blocks& slot : g_thread_blocks) {
    pid_t expected = 0;
    if (slot.tid.compare_exchange_strong(expected, tid, std::memory_order_seq_cst)) {
      t_blocks = &slot;
      ::pthread_setspecific(key, &slot);
      return static_cast<int>(&slot - g_thread_blocks);
    }
  }
  throw_error(std::make_error_code(std::errc::resource_unavailable_try_again),
              "sigrelay::signals: more than " + std::to_string(max_blocking_threads) +
                  " threads hold signals blocked for the signalfd backend");
}

#if SIGRELAY_LINUX  // blocks of the signalfd backend and holds: the posix build has neither
// The blocked mask of thread `tid` of this process, from /proc; false if unreadable, with errno
// ENOENT or ESRCH if the thread is gone, or exited and kept as a zombie (other values, such as
// EMFILE, say nothing about it).
bool thread_blocked_mask(pid_t tid, unsigned long long& mask) noexcept {
  char path[64];
  (void)std::snprintf(path, sizeof path, "/proc/self/task/%d/status", static_cast<int>(tid));
  int fd;
  do {
    fd = sys::open(path, O_RDONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return false;
  char text[4096];
  ssize_t n;
  do {
    n = sys::read(fd, text, sizeof text - 1);
  } while (n < 0 && errno == EINTR);
  const int read_error = n < 0 ? errno : ESRCH;
  os::close_fd(fd);
  errno = read_error;
  if (n <= 0) return false;
  text[n] = '\0';
  errno = ESRCH;
  // A thread that has exited but whose task the kernel keeps: the thread group's leader (the main
  // thread) ending before the others stays a zombie until the process ends. It never runs a handler
  // again (a poke there waited its second out at every drain, and its holds were never run): gone.
  const char* state = std::strstr(text, "State:");
  if (state != nullptr) {
    state += 6;
    while (*state == ' ' || *state == '\t') ++state;
    if (*state == 'Z' || *state == 'X') return false;
  }
  const char* line = std::strstr(text, "SigBlk:");
  if (line == nullptr) return false;
  mask = std::strtoull(line + 7, nullptr, 16);
  return true;
}

// Asks the owner thread of `slot` to lift its released block of `released` now (see the notes at the
// top). Returns once it has, or after a second.
void poke_owner(thread_blocks& slot, int released) noexcept {
  const pid_t tid = slot.tid.load(std::memory_order_seq_cst);
  if (tid <= 0) return;
  // The owner may be in a short window with both pokes blocked (glibc's pthread_create() and
  // posix_spawn() block every signal; a run of the trampoline blocks SIGURG and SIGWINCH, its
  // sa_mask): wait for its end (up to the deadline). A thread that blocks both for longer is not
  // poked.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  constexpr unsigned long long standard =
      0x7fffffffULL & ~((1ULL << (SIGKILL - 1)) | (1ULL << (SIGSTOP - 1)));
  int signo = 0;
  for (;;) {
    unsigned long long blocked = 0;
    if (!thread_blocked_mask(tid, blocked)) {
      // The owner exited; else /proc is unreadable for now (EMFILE): try again until the deadline.
      if (errno == ENOENT || errno == ESRCH || std::chrono::steady_clock::now() >= deadline) return;
      const struct timespec pause { 0, 50000 };
      ::nanosleep(&pause, nullptr);
      continue;
    }
    for (const int candidate : {SIGURG, SIGWINCH}) {  // default action: ignore
      if ((blocked & signal_bit(candidate)) == 0) {
        signo = candidate;
        break;
      }
    }
    if (signo != 0 || std::chrono::steady_clock::now() >= deadline) break;
    const struct timespec pause { 0, 50000 };
    ::nanosleep(&pause, nullptr);
  }
  if (signo == 0) return;
  std::error_code ec;
  const action_id keep = add_action(signo, action{noop_fn, nullptr}, {}, ec);
  if (ec) return;
  siginfo_t info{};
  info.si_signo = signo;
  info.si_code = SI_QUEUE;
  info.si_pid = ::getpid();
  info.si_uid = ::getuid();
  info.si_value.sival_ptr = const_cast<char*>(&poke_cookie);
  // Done when the owner's handler has run the lift. Under ThreadSanitizer, which may run the handler
  // on a copy of the context and put the old mask back (see masks.cc), done only when the owner's
  // mask really shows the signal unblocked: poke again until it does.
  bool done = false;
  while (!done && slot.tid.load(std::memory_order_seq_cst) == tid &&
         std::chrono::steady_clock::now() < deadline) {
    const std::uint32_t lifts = slot.lifts.load(std::memory_order_seq_cst);
    const int claim = claim_poke(tid);  // in case the kernel keeps no siginfo (masks.hpp)
    if (sys::rt_tgsigqueueinfo(::getpid(), tid, signo, &info) != 0) {
      release_poke_claim(claim, tid);
      break;
    }
    const auto retry = std::chrono::steady_clock::now() + std::chrono::milliseconds(20);
    while (!done && std::chrono::steady_clock::now() < retry) {
      const struct timespec pause { 0, 50000 };
      ::nanosleep(&pause, nullptr);
      if (slot.lifts.load(std::memory_order_seq_cst) == lifts) continue;
      // (ThreadSanitizer runs a late handler with every signal blocked and then restores the mask it
      // saved: "all blocked but the released one" is that moment, not the owner's mask.)
      unsigned long long blocked = 0;
      done = !os::sanitizer_defers_signals ||
             (thread_blocked_mask(tid, blocked) && (blocked & signal_bit(released)) == 0 &&
              ((blocked | signal_bit(released)) & standard) != standard);
    }
    release_poke_claim(claim, tid);
  }
  remove_action(keep);
}
#else
// No signalfd backend in the posix build (config.hpp): no thread holds a block to lift.
void poke_owner(thread_blocks&, int) noexcept {}
#endif

}  // namespace

std::vector<int> signals_in(const sigset_t& set) {
  std::vector<int> out;
  for (int signo = 1; signo < NSIG; ++signo) {
    if (sigismember(&set, signo) == 1) out.push_back(signo);
  }
  return out;
}

// Holds of full realtime rings (src/handler/hold.hpp) are sigrelay's blocks too.
bool library_blocked_signals(sigset_t& out) noexcept {
  lift_released_blocks(nullptr);
  const std::uint64_t ours = t_applied | __atomic_load_n(&t_ring_held, __ATOMIC_SEQ_CST);
  sigemptyset(&out);
  for (int signo = 1; signo < NSIG; ++signo) {
    if ((ours & signal_bit(signo)) != 0) sigaddset(&out, signo);
  }
  return ours != 0;
}

}  // namespace detail

// ---------------------------------------------------------------------------------------------------
// The core

namespace {
// How many objects with a realtime ring the ring directory lists (see "Reads beside other rings" at
// the top): below 2, a signalfd read has no other ring to mind and skips the directory. Counts what
// this process listed (a fork child starts with its parent's count: too high costs a look, no more).
std::atomic<int> g_listed_rings{0};
}  // namespace

struct detail::signals_core {
  detail::sink sink;  // first: &c.sink is &c, which the drain's code takes often
  std::unique_ptr<detail::ring_cell[]> cells;
  enum backend kind = backend::relay;
  int signal_fd = -1;
  int epoll_fd = -1;
  // A second signalfd over the same mask, without O_NONBLOCK (its own open file description): wait()
  // sleeps in its read() when nothing else can wake it (see the notes at the top). Made on first use.
  int blocking_fd = -1;
  // Whether the signalfd is in epoll_fd's set (see "The epoll set" at the top), and whether
  // native_handle() was ever called: from then on it stays there.
  std::atomic<bool> signalfd_in_epoll{false};
  std::atomic<bool> handle_given{false};
  std::uint64_t subscribed = 0;  // bit signo-1 of every subscribed signal
  int read_fd = -1;  // sink.event_fd's read end: the same eventfd, or a pipe's (posix platform layer)
  sigset_t signalfd_mask{};
  int block_slot[NSIG];  // per signal: the slot (masks.hpp) of the thread that blocked it, or -1
  action_id ids[NSIG];
  std::size_t capacity = 0;  // of the realtime ring, allocated with the first realtime signal
  // Written by the consumer alone; read by other objects' signalfd reads (see "Reads beside other
  // rings" at the top), hence atomic (relaxed stores: plain moves).
  std::atomic<std::size_t> dequeue_pos{0};
  // Ring peers (see "Reads beside other rings" at the top). `rt_subscribed`: bit signo-1 of each
  // realtime signal subscribed, set once its action (and so the ring) is published. `claimed`: cells
  // of the ring that signalfd reads (this object's and others') have counted as theirs and not yet
  // recorded into. `room_word`: +2 each time cells are freed or claims given back, bit 0 set by a
  // read that found no room here and left signals out of its signalfd until woken.
  std::atomic<std::uint64_t> rt_subscribed{0};
  std::atomic<std::size_t> claimed{0};
  std::atomic<std::uint64_t> room_word{0};
  // This object's own signalfd reads beside other rings: the realtime signals left out of the
  // signalfd's mask while such a ring had no room (bit signo-1; the drain's, and changes' under the
  // mutex), whether any are (`stalled`, read by the drains that wake it) and whether such a drain
  // asked for a new look (`unstall`). `peers`: the drain's list, its storage reused.
  std::uint64_t excluded = 0;
  std::atomic<bool> stalled{false};
  std::atomic<bool> unstall{false};
  struct peer {
    std::shared_ptr<signals_core> core;
    std::size_t claim;  // cells claimed in its ring for the read under way
    bool marked;        // its sink's `reading` raised for that read
  };
  std::vector<peer> peers;
  std::size_t own_claim = 0;         // cells claimed in this ring for the read under way
  pid_t listed_in = 0;               // the process whose ring directory lists this object (0: none)
  std::weak_ptr<signals_core> self;  // (make_core()) for the ring directory
  // Orders subscription changes (ids, block_slot, signalfd_mask, the ring's allocation, the signalfd
  // reads of remove()) against each other and against drain(); never held while sleeping in wait().
  std::mutex mutex;
  // The drain's fast path (see "Subscriptions from any thread" at the top): subscription changes in
  // flight (waiting for or holding `mutex`), and a drain running without the mutex.
  std::atomic<std::uint32_t> changing{0};
  std::atomic<bool> draining{false};
  // runs_only_remembered() of our record (hands_out_directly()).
  std::atomic<std::uint64_t> record_only{0};
  // The iterator's batch (the consumer's alone, as every drain): events a wait() took for it, and
  // the first one it has not yielded yet. Kept here, not in the iterator, so that leaving a loop
  // early loses nothing: take_leftovers() hands the rest out first. `iter_left`: how many of the
  // batch's last events it has not yielded yet (one load for the drains' check).
  std::vector<signal_event> iter_batch;
  std::size_t iter_left = 0;

  signals_core() = default;
  signals_core(const signals_core&) = delete;
  signals_core& operator=(const signals_core&) = delete;
  ~signals_core() {
    if (listed_in != 0 && listed_in == detail::verified_pid())
      g_listed_rings.fetch_sub(1, std::memory_order_seq_cst);
    detail::os::close_fd(epoll_fd);
    detail::os::close_fd(blocking_fd);
    detail::os::close_fd(signal_fd);
    detail::os::close_wakeup({read_fd, sink.event_fd});
  }

  // A fork child's copy (see the notes at the top): shares the eventfd with the parent, never uses it.
  bool foreign() const noexcept { return sink.owner != detail::verified_pid(); }
  // The same without a system call where it can be, for the drain: the pid in the page the kernel
  // zeroes in every child (0 there until a child of _Fork() calls after_fork_in_child(); the
  // registry's fork child handler refreshes it after fork()). Where that page is missing (before
  // Linux 4.14, the posix build), getpid(): the pid the fork child handler refreshes is still the
  // parent's in a child of _Fork(), whose copy then handed out what it had recorded (the parent's
  // undrained events, copied at the fork) and whose wait() slept in poll() on the parent's pipe,
  // woken by the parent's deliveries and spinning until the parent drained.
  bool foreign_cached() const noexcept {
    if (const std::atomic<pid_t>* const wiped = detail::g_wiped_pid.load(std::memory_order_acquire))
      return wiped->load(std::memory_order_relaxed) != sink.owner;
    return sink.owner != ::getpid();
  }

  void close() noexcept {
    const std::uint32_t old = sink.state.fetch_or(detail::sink::closed, std::memory_order_seq_cst);
    if ((old & detail::sink::closed) != 0 || foreign()) return;
    detail::sys::write_wakeup(sink.event_fd);  // native_handle() readable from now on
    if ((old & detail::sink::waiting) != 0) detail::futex_wake(&sink.state);
  }
  bool closed() const noexcept { return (sink.state.load() & detail::sink::closed) != 0; }

  // native_handle(): from now on deliveries write the eventfd (src/handler/sink.hpp, FD_WANTED);
  // a wake-up that came before, unwritten, is written now. Any thread.
  void want_fd() noexcept {
    if ((sink.state.load(std::memory_order_seq_cst) & detail::sink::fd_wanted) != 0) return;
    const std::uint32_t old = sink.state.fetch_or(detail::sink::fd_wanted, std::memory_order_seq_cst);
    if ((old & detail::sink::notified) == 0 || foreign()) return;
    detail::write_flagged<detail::sys::write_wakeup>(sink);
  }

  // A stop callback of wait(std::stop_token), after it set the wait's flag (see the notes at the top).
  void interrupt() noexcept {
    const std::uint32_t old = sink.state.fetch_or(detail::sink::interrupted, std::memory_order_seq_cst);
    if (foreign()) return;
    if ((old & detail::sink::waiting) != 0) detail::futex_wake(&sink.state);
    // A wait that polls the fds (signalfd backend, or any backend under ThreadSanitizer); flagged
    // like a delivery's wake-up, so that the drain after it reads it.
    if (kind == backend::signalfd || detail::os::wait_polls_fd)
      detail::write_flagged<detail::sys::write_wakeup>(sink);
  }
};

namespace {

using detail::sink;

// One T per process, made anew in each: whatever a thread of the parent held (or was changing) at a
// fork is not this one's. The first thread of a process to need it claims it (the claim word set to
// this pid) and constructs it over the parent's copy, never destroyed (a mutex held by a thread that
// is not here stays out of the way), after T::left_by_parent() took what must stay reachable from
// it; others wait for the ready word to show this pid. Never destroyed. Keyed by pid: a child of _Fork() that
// skips after_fork_in_child() is told by verified_pid() (the kernel-zeroed page, else getpid()).
template <class T>
T& this_process_instance() noexcept {
  static_assert(std::is_nothrow_default_constructible_v<T>);
  alignas(T) static unsigned char storage[sizeof(T)];
  static std::atomic<pid_t> claimed{0};
  static std::atomic<pid_t> ready{0};
  const pid_t self = detail::verified_pid();
  if (ready.load(std::memory_order_acquire) != self) {
    pid_t seen = claimed.load(std::memory_order_relaxed);
    if (seen != self && claimed.compare_exchange_strong(seen, self, std::memory_order_acq_rel)) {
      if (seen != 0) T::left_by_parent(*std::launder(reinterpret_cast<T*>(storage)));
      ::new (static_cast<void*>(storage)) T;
      ready.store(self, std::memory_order_release);
    } else {
      while (ready.load(std::memory_order_acquire) != self) ::sched_yield();
    }
  }
  return *std::launder(reinterpret_cast<T*>(storage));
}

// The mutex that orders the changes of the objects this process inherited across fork() or _Fork()
// (see "Fork children" at the top).
struct inherited_copies {
  std::mutex mutex;
  static void left_by_parent(inherited_copies&) noexcept {}
};
std::mutex& inherited_copies_mutex() noexcept { return this_process_instance<inherited_copies>().mutex; }

// The objects of this process that have a realtime ring (see "Reads beside other rings" at the top),
// listed when their ring is made, taken off when they unsubscribe everything (unlist_ring()).
struct ring_directory {
  std::mutex mutex;
  std::vector<std::weak_ptr<detail::signals_core>> cores;

  // In a fork child, the parent's list (which a thread of the parent may have been changing at the
  // fork) is never read again, but its memory is kept reachable: a leak checker at the child's exit
  // would count it lost. Moving a vector copies its pointers, whatever state it was left in.
  struct kept {
    std::vector<std::weak_ptr<detail::signals_core>> cores;
    kept* older;
  };
  static inline kept* kept_from_parents = nullptr;
  static void left_by_parent(ring_directory& old) noexcept {
    if (auto* k = new (std::nothrow) kept{std::move(old.cores), kept_from_parents}) kept_from_parents = k;
  }
};
ring_directory& rings() noexcept { return this_process_instance<ring_directory>(); }

// A subscription change: excludes other changes (the mutex) and the drain, in either of its modes.
// Of an inherited copy (a fork child's): excludes the other changes of this process's inherited
// copies only. Its own mutex may be held by a thread of the parent that is not here, and its drains
// return before they mark themselves (drain(): foreign_cached()); the `draining` it shows is a drain
// of a parent's thread, which nothing here would ever end.
class change_lock {
 public:
  explicit change_lock(detail::signals_core& c)
      : c_(c), mutex_(c.foreign() ? inherited_copies_mutex() : c.mutex) {
    c_.changing.fetch_add(1, std::memory_order_seq_cst);
    mutex_.lock();
    if (&mutex_ != &c_.mutex) return;
    // A drain that saw no change in flight runs without the mutex: wait for its end (bounded work).
    while (c_.draining.load(std::memory_order_seq_cst)) ::sched_yield();
  }
  ~change_lock() {
    mutex_.unlock();
    c_.changing.fetch_sub(1, std::memory_order_seq_cst);
  }
  change_lock(const change_lock&) = delete;
  change_lock& operator=(const change_lock&) = delete;

 private:
  detail::signals_core& c_;
  std::mutex& mutex_;
};

// The drain's side: without the mutex when no change is in flight. Dekker's pattern, all seq_cst:
// the drain stores `draining` then loads `changing`, a change adds to `changing` then (under the
// mutex) loads `draining`; one of the two sees the other, so they never overlap.
// A change in flight in an inherited copy that the drain's cheap fork check let through (a child of
// _Fork() where the kernel-zeroed pid page is missing: the posix build, kernels before 4.14) may be
// a parent thread's, holding the mutex for ever: there the drain is refused (refused()), checked with
// foreign() only on this slow path.
class drain_lock {
 public:
  explicit drain_lock(detail::signals_core& c) : c_(c) {
    c_.draining.store(true, std::memory_order_seq_cst);
    if (c_.changing.load(std::memory_order_seq_cst) == 0) return;
    c_.draining.store(false, std::memory_order_seq_cst);
    if (c_.foreign()) {
      refused_ = true;
      return;
    }
    c_.mutex.lock();
    locked_ = true;
  }
  ~drain_lock() {
    if (locked_) {
      c_.mutex.unlock();
    } else if (!refused_) {
      c_.draining.store(false, std::memory_order_release);  // (what the drain did is seen by a change)
    }
  }
  drain_lock(const drain_lock&) = delete;
  drain_lock& operator=(const drain_lock&) = delete;
  bool refused() const noexcept { return refused_; }

 private:
  detail::signals_core& c_;
  bool locked_ = false;
  bool refused_ = false;
};

std::size_t round_up_pow2(std::size_t n) {
  std::size_t p = 1;
  while (p < n) p <<= 1;
  return p;
}

[[noreturn]] void throw_for_signal(std::error_code ec, int signo, const char* what) {
  detail::throw_error(
      ec, std::string("sigrelay::signals: cannot ") + what + " " + detail::describe_signal(signo));
}

void check_signal(int signo) {
  if (const char* reason = detail::refuse_reason(signo, false)) {
    detail::throw_error(detail::invalid_argument(), "sigrelay::signals: cannot subscribe to " +
                                                        detail::describe_signal(signo) + ": it " + reason);
  }
}

#if SIGRELAY_LINUX  // the signalfd backend's reads (the posix build refuses that backend)
// Whether the process may have a thread other than this one (glibc's __libc_single_threaded, which
// never goes back to true once a thread was made; true where it is missing).
bool other_threads_may_exist() noexcept {
#if __has_include(<sys/single_threaded.h>)
  return __libc_single_threaded == 0;
#else
  return true;
#endif
}

// --- Reads beside other rings (see the notes at the top) ---------------------------------------------

void rearm(detail::signals_core& c) noexcept;
std::error_code update_signalfd(detail::signals_core& c);

// The signalfd's mask as it should be now: the subscribed signals, less those left out for a ring
// without room.
sigset_t signalfd_mask_now(const detail::signals_core& c) noexcept {
  sigset_t mask = c.signalfd_mask;
  for (std::uint64_t bits = c.excluded; bits != 0; bits &= bits - 1)
    sigdelset(&mask, __builtin_ctzll(bits) + 1);
  return mask;
}

// Takes up to `want` cells of the realtime ring of `p` for a signalfd read into p.claimed, and says
// how many (0: no room). The room: the ring's capacity, less the cells in use, less what other reads
// claimed, less the sink's reserve where another thread may exist (a handler there that passed its
// hold check just before the read marked the sink `reading` may still take that many). In a single
// thread every handler that runs meanwhile begins after the mark, and holds: a ring of 4 takes 4 at a
// time. Any thread, ordinary context.
std::size_t claim_room(detail::signals_core& p, std::size_t want) noexcept {
  const std::size_t racers = other_threads_may_exist() ? p.sink.reserve : 0;
  const std::size_t kept = p.capacity > racers ? p.capacity - racers : 0;
  std::size_t claimed = p.claimed.load(std::memory_order_seq_cst);
  for (;;) {
    // The consumer's position first: a stale one counts free cells as used, never the other way.
    const std::size_t freed = p.dequeue_pos.load(std::memory_order_acquire);
    const std::size_t used = p.sink.enqueue_pos.load(std::memory_order_seq_cst) - freed + claimed;
    const std::size_t room = used >= kept ? 0 : std::min(want, kept - used);
    if (room == 0) return 0;
    if (p.claimed.compare_exchange_weak(claimed, claimed + room, std::memory_order_seq_cst)) return room;
  }
}

// Wakes every object whose signalfd reads left signals out because some ring had no room (`stalled`):
// each looks again at its next drain (`unstall`), which this wake-up (as a delivery's) asks for.
// Ordinary context.
void wake_stalled_reads() noexcept {
  ring_directory& d = rings();
  const std::lock_guard lock(d.mutex);
  for (const std::weak_ptr<detail::signals_core>& listed : d.cores) {
    const std::shared_ptr<detail::signals_core> r = listed.lock();
    if (!r || !r->stalled.load(std::memory_order_seq_cst) || r->foreign()) continue;
    r->unstall.store(true, std::memory_order_seq_cst);
    rearm(*r);
  }
}

// Cells of `c`'s ring were freed (a drain took records) or given back (a read's claim): a read that
// found no room there and stalled (bit 0 of room_word, set with a compare-exchange against the value
// it loaded before it counted) is woken. The counter part makes that compare-exchange fail if this
// came in between, so that the read counts again instead of stalling. Ordinary context.
void note_room(detail::signals_core& c) noexcept {
  if ((c.room_word.fetch_add(2, std::memory_order_seq_cst) & 1U) == 0) return;
  c.room_word.fetch_and(~std::uint64_t{1}, std::memory_order_seq_cst);
  wake_stalled_reads();
}

// The realtime signals that `c`'s signalfd reports now (bit signo-1).
std::uint64_t realtime_in_signalfd(const detail::signals_core& c) noexcept {
  return c.rt_subscribed.load(std::memory_order_relaxed) & ~c.excluded;
}

// At the start of a drain's read: if a drain of another ring woke this object, the signals it left
// out go back into the signalfd (the claims that follow leave them out again if there is still no
// room).
void look_again_if_woken(detail::signals_core& c) noexcept {
  if (!c.stalled.load(std::memory_order_relaxed) || !c.unstall.exchange(false, std::memory_order_seq_cst))
    return;
  c.stalled.store(false, std::memory_order_seq_cst);
  if (c.excluded == 0) return;
  c.excluded = 0;
  (void)update_signalfd(c);  // widening back to the subscribed mask: made before, cannot fail
}

// Lists in c.peers the other objects of this process whose rings take a realtime signal of c's
// signalfd. Below two listed rings, none (no lock). May throw (std::bad_alloc; the list is then empty).
void find_peers(detail::signals_core& c) {
  c.peers.clear();
  if (g_listed_rings.load(std::memory_order_seq_cst) < 2) return;
  const std::uint64_t mine = realtime_in_signalfd(c);
  if (mine == 0) return;
  ring_directory& d = rings();
  const std::lock_guard lock(d.mutex);
  try {
    for (const std::weak_ptr<detail::signals_core>& listed : d.cores) {
      std::shared_ptr<detail::signals_core> p = listed.lock();
      if (!p || p.get() == &c || p->sink.owner != detail::current_pid()) continue;
      if ((p->rt_subscribed.load(std::memory_order_seq_cst) & mine) == 0) continue;
      c.peers.push_back(detail::signals_core::peer{std::move(p), 0, false});
    }
  } catch (...) {
    c.peers.clear();
    throw;
  }
}

// Gives back what one read claimed in `p` and did not record (give_back_all()); with other rings
// listed, a read of theirs may have stalled on that claim: note_room().
void give_back(detail::signals_core& p, std::size_t n) noexcept {
  if (n == 0) return;
  p.claimed.fetch_sub(n, std::memory_order_seq_cst);
  if (g_listed_rings.load(std::memory_order_seq_cst) >= 2) note_room(p);
}

// After a read's records are in (or it read nothing): its claims go back, the peers' marks come off.
void give_back_all(detail::signals_core& c) noexcept {
  give_back(c, std::exchange(c.own_claim, 0));
  for (detail::signals_core::peer& peer : c.peers) {
    give_back(*peer.core, std::exchange(peer.claim, 0));
    if (std::exchange(peer.marked, false)) peer.core->sink.reading.fetch_sub(1, std::memory_order_seq_cst);
  }
}

// How many siginfos the next read of a drain may take (0: its own ring is full): claimed in its own
// ring, and in the ring of each peer that shares a signal still in the signalfd, marked `reading`
// first (its handlers hold meanwhile, as this object's own do for the whole drain). A peer with no
// room: the signals it shares leave the signalfd's mask (the kernel keeps them queued, and the
// signalfd stops being readable for them: no consumer spins on it) until a drain of that peer makes
// room and wakes this object (note_room()); it then counts again. The compare-exchange on the peer's
// room_word (from the value loaded before counting) makes a room made in between show up as a
// failure: then everything is given back and counted again.
std::size_t claim_batch(detail::signals_core& c, std::size_t want) noexcept {
  for (;;) {
    std::size_t n = claim_room(c, want);
    if (n == 0) return 0;
    c.own_claim = n;
    bool again = false;
    for (detail::signals_core::peer& peer : c.peers) {
      detail::signals_core& p = *peer.core;
      const std::uint64_t shared = p.rt_subscribed.load(std::memory_order_seq_cst) & realtime_in_signalfd(c);
      if (shared == 0) continue;  // none left to share (left out, or the peer removed them)
      p.sink.reading.fetch_add(1, std::memory_order_seq_cst);
      peer.marked = true;
      std::uint64_t seen = p.room_word.load(std::memory_order_seq_cst);
      if (const std::size_t got = claim_room(p, n); got != 0) {
        peer.claim = got;
        n = got;
        continue;
      }
      c.stalled.store(true, std::memory_order_seq_cst);  // before the bit: a waker that sees it wakes us
      if (p.room_word.compare_exchange_strong(seen, seen | 1U, std::memory_order_seq_cst)) {
        c.excluded |= shared;
        (void)update_signalfd(c);  // narrowing a signalfd's mask cannot fail for a valid fd
      }
      again = true;
      break;
    }
    if (!again) return n;
    give_back_all(c);
    c.stalled.store(c.excluded != 0, std::memory_order_seq_cst);
  }
}

// Zeroes a siginfo_t as the kernel does before it fills one in. In four 32-byte pieces: GCC
// turns a memset() of the whole (or `info{}`) into `rep stosq`, whose start-up costs more than the
// eight vector stores these become (and which callgrind counts as 16 instructions).
void clear_siginfo(siginfo_t& info) noexcept {
  static_assert(sizeof(siginfo_t) == 128);
  auto* const bytes = reinterpret_cast<unsigned char*>(&info);
  std::memset(bytes, 0, 32);
  std::memset(bytes + 32, 0, 32);
  std::memset(bytes + 64, 0, 32);
  std::memset(bytes + 96, 0, 32);
}

// getcontext() returns twice in principle (for setcontext()); kept out of read_signalfd() so that
// none of its locals live across it. The context it captures is of this thread inside sigrelay.
// getcontext() leaves uc_stack alone: it is filled here with the thread's alternate stack, as the
// kernel fills it for a handler (the trampoline's abandoned-section check reads it).
[[gnu::noinline]] bool capture_context(ucontext_t& context) noexcept {
  if (::getcontext(&context) != 0) return false;
  if (::sigaltstack(nullptr, &context.uc_stack) != 0) context.uc_stack.ss_flags = SS_DISABLE;
  return true;
}
#else
void note_room(detail::signals_core&) noexcept {}  // no signalfd reads: none ever stalls
#endif

enum class read_mode {
  // Inside drain(), which scans the sink right after: our own record_fn skips its wake-up (the
  // consumer is this thread), and only as many siginfos are read as the realtime ring has room for.
  // The rest stay queued in the kernel, where nothing is lost: the signalfd stays readable (and so
  // native_handle()), and the next drain reads them. The kernel hands standard and realtime signals
  // out interleaved, so the limit counts every record.
  drain,
  // Anywhere else (remove()): everything is read, and record_fn wakes the consumer as a handler would,
  // since no drain follows to look at what was recorded.
  everything,
};

#if SIGRELAY_LINUX
// Whether the one siginfo that a read took (wait()'s blocking read, or a drain's into storage with
// room) may go straight to the caller instead of through the sink (see "wait() on the signalfd
// backend" at the top): this process's sink, nothing recorded in it since the last drain and not
// closed, and our record_fn the only thing a dispatch would run. A handler on another thread that
// records after this look is handed out by the next drain, which its wake-up asks for.
[[gnu::always_inline]] inline bool hands_out_directly(detail::signals_core& c, int signo, int code) noexcept {
  const sink& s = c.sink;
  return s.owner == detail::current_pid() &&
         (s.state.load(std::memory_order_seq_cst) & (sink::notified | sink::closed)) == 0 &&
         detail::runs_only_remembered(signo, code, detail::record_fn, &c.sink, c.record_only);
}

// The sender's sigval in the signalfd's record `r`, as the kernel keeps it: an integer that may or may
// not be a pointer.
void* sigval_ptr(const struct signalfd_siginfo& r) noexcept {
  // NOLINTNEXTLINE(performance-no-int-to-ptr)
  return reinterpret_cast<void*>(static_cast<std::uintptr_t>(r.ssi_ptr));
}

// The siginfo_t that the kernel would have given a handler for the signalfd's record `r` (the fields
// a signalfd reports; the others zero). A SIGCHLD of a child (CLD_*) carries its status and times, any
// other signal (a sigqueue()d SIGCHLD too) its sigval.
void to_siginfo(const struct signalfd_siginfo& r, siginfo_t& info) noexcept {
  clear_siginfo(info);
  info.si_signo = static_cast<int>(r.ssi_signo);
  info.si_code = r.ssi_code;
  info.si_pid = static_cast<pid_t>(r.ssi_pid);
  info.si_uid = static_cast<uid_t>(r.ssi_uid);
  if (info.si_signo == SIGCHLD && r.ssi_code > 0) {
    info.si_status = r.ssi_status;
    info.si_utime = static_cast<clock_t>(r.ssi_utime);
    info.si_stime = static_cast<clock_t>(r.ssi_stime);
  } else {
    info.si_value.sival_ptr = sigval_ptr(r);
  }
}

// Dispatches siginfos read from the signalfd through the registry, as the trampoline would have run
// them, with a ucontext_t captured here by getcontext() if a chained SA_SIGINFO handler or an action
// may read it (it describes this thread at the read, not an interrupted instruction; there is none).
// Out of line: its ucontext_t and siginfo_t copies stay out of the frame of a read that hands out directly.
[[gnu::noinline]] void dispatch_records(const struct signalfd_siginfo* records, std::size_t count) noexcept {
  ucontext_t context;
  bool have_context = false;
  for (std::size_t i = 0; i < count; ++i) {
    const struct signalfd_siginfo& r = records[i];
    const int signo = static_cast<int>(r.ssi_signo);
    // getcontext() costs a system call (it saves the mask): only where someone may read it.
    if (!have_context && detail::wants_ucontext(signo)) have_context = capture_context(context);
    // This thread's own queue came first, or its stash goes first (hold.hpp).
    siginfo_t stash;
    if (detail::ring_hold_taken_ordinary(signo, stash))
      detail::dispatch(signo, &stash, have_context ? &context : nullptr);
    siginfo_t info;
    to_siginfo(r, info);
    detail::dispatch(signo, &info, have_context ? &context : nullptr);
  }
}

// Puts the one siginfo a read took straight into `events` (reserved by the caller: no throw) if
// hands_out_directly() allows it, and no hold of this thread ends with it: a thread without an entry in
// the holders' table (the usual case) has none, and ring_hold_taken() would do nothing (a thread with
// one goes through dispatch_records(), which runs its stash first). The event is the one our record
// would have made, filled from the signalfd's record itself: no siginfo_t, no ucontext.
[[gnu::always_inline]] inline bool hand_out(detail::signals_core& c, const struct signalfd_siginfo& r,
                                            std::vector<signal_event>& events) noexcept {
  const int signo = static_cast<int>(r.ssi_signo);
  if (__atomic_load_n(&detail::t_ring_entry, __ATOMIC_SEQ_CST) >= 0 ||
      !hands_out_directly(c, signo, r.ssi_code))
    return false;
  signal_event& e = events.emplace_back();
  e.signo = signo;
  e.count = 1;
  detail::fill_origin(e.last,
                      detail::raw_origin{signo, r.ssi_code, static_cast<pid_t>(r.ssi_pid),
                                         static_cast<uid_t>(r.ssi_uid), r.ssi_status, sigval_ptr(r)},
                      c.sink.owner);
  return true;
}

// How read_batches() sizes each read. `full`: a full batch, and the loop stays as lean as before
// there was a ring to mind (issue 9, goal 3: the standard signals' path). `claimed`: a drain with a
// realtime ring, by the room it claimed (claim_batch(), given back once what was read is recorded).
// `beside_rings`: remove() of realtime `signo`, by what other objects' rings of it take without a
// drop (reads_without_drop(), hold.hpp; see read_pending_of()).
enum class batch_size { full, claimed, beside_rings };

// read_signalfd()'s loop (and read_pending_of()'s, for a realtime signal). `signo`: beside_rings only.
template <batch_size Size>
[[gnu::always_inline]] inline bool read_batches(detail::signals_core& c, bool in_drain, bool block,
                                                std::vector<signal_event>* direct, int signo = 0) {
  constexpr bool Sized = Size == batch_size::claimed;
  if (in_drain) detail::t_consumer_of = &c.sink;
  constexpr std::size_t kBatch = 16;
  struct signalfd_siginfo buffer[kBatch];
  bool handed = false;
  for (;;) {
    std::size_t want = kBatch;
    if constexpr (Sized) {
      want = claim_batch(c, kBatch);
      if (want == 0) break;  // the ring is full: what is queued stays in the kernel until the next drain
    } else if constexpr (Size == batch_size::beside_rings) {
      want = detail::reads_without_drop(signo, &c.sink, kBatch);
      if (want == 0) break;  // another ring is (nearly) full: the rest stays queued for its hold
    }
    const ssize_t n = detail::sys::read(block ? c.blocking_fd : c.signal_fd, buffer, want * sizeof buffer[0]);
    if (n < 0 && errno == EINTR) {
      if constexpr (Sized) give_back_all(c);
      if (block) break;  // a handler ran while wait() slept: it looks again
      continue;
    }
    if (n <= 0) {
      if constexpr (Sized) give_back_all(c);
      break;
    }
    block = false;
    const std::size_t records = static_cast<std::size_t>(n) / sizeof buffer[0];
    if (direct != nullptr && records == 1 && hand_out(c, buffer[0], *direct)) {
      if constexpr (Sized) give_back_all(c);
      handed = true;
      break;
    }
    dispatch_records(buffer, records);
    if constexpr (Sized) give_back_all(c);  // what was read is recorded: the rooms count it as used now
    if (records < want) break;              // the queue is empty: spare the system call that says so
  }
  if (in_drain) detail::t_consumer_of = nullptr;
  return handed;
}

// A drain's read with a realtime ring: marks the sink `reading` and finds the rings of other objects
// that the siginfos go to (see below), then reads sized batches. Out of line: the standard signals'
// drain does not carry it.
[[gnu::noinline]] bool read_sized(detail::signals_core& c, bool block, std::vector<signal_event>* direct) {
  if (block)
    return read_batches<batch_size::claimed>(c, true, block, direct);  // (no mark: see read_signalfd())
  look_again_if_woken(c);
  find_peers(c);                                           // may throw, before anything is marked or read
  c.sink.reading.fetch_add(1, std::memory_order_seq_cst);  // before any room is counted
  const bool handed = read_batches<batch_size::claimed>(c, true, block, direct);
  c.sink.reading.fetch_sub(1, std::memory_order_seq_cst);
  c.peers.clear();  // may destroy a peer's core: nothing of it is held any more
  return handed;
}

// Reads the siginfos pending for this thread or process from the signalfd and dispatches them
// (dispatch_records()). `block`: the first read() is of the blocking twin (wait() sleeping there, see
// the notes at the top); the reads after it, only if that one filled its batch, are of the non-blocking
// fd. `direct`: where a lone siginfo may go (hand_out()), its capacity reserved by the caller; true if
// it went there (nothing else was read).
//
// sink::reading, from before a drain's non-blocking read claims room in the ring until the reads are
// over (what they took is recorded by then): every handler delivery of a realtime signal to this sink
// holds meanwhile. Without it, a realtime signal that reached the handler in that window (in this
// thread, where a signalfd-backed object beside another subscriber does not block the signal: the
// kernel runs the handler on the way back from any system call or preemption) was recorded at once
// and took cells that the read had counted as free; the siginfos read then found the ring full, in
// ordinary code where nothing can hold, and were dropped, and the later signal came before them in
// the ring (ContractSignalsFlood.ARelayAndASignalfdObject...: 2 or 4 of 800 dropped in 3 or more of
// 1,500 runs under AddressSanitizer beside two busy loops; FaultRace.*, in tests/fault_test.cc, makes
// it happen every time). Now such a delivery holds, in the kernel (its siginfo re-queued to its
// thread, whose own queue a read takes first), until this drain has taken the ring and lifts it.
// Other threads' deliveries hold too; one that passed its hold check before the mark is what the
// reserve, then left out of the room (claim_room()), is for. The blocking read needs no mark: it is
// made only where no other thread exists and every subscribed signal is blocked in this one
// (sleeps_in_read()), so no handler can record meanwhile. A drain with no ring (standard signals
// only) marks nothing. The rings of other objects that the siginfos read also go to are claimed and
// marked per read (claim_batch(), "Reads beside other rings" at the top).
bool read_signalfd(detail::signals_core& c, read_mode mode, bool block = false,
                   std::vector<signal_event>* direct = nullptr) {
  if (c.signal_fd < 0) return false;
  const bool in_drain = mode == read_mode::drain;
  if (in_drain && c.sink.cells != nullptr) return read_sized(c, block, direct);
  return read_batches<batch_size::full>(c, in_drain, block, direct);
}
#else
bool read_signalfd(detail::signals_core&, read_mode, bool = false,
                   std::vector<signal_event>* = nullptr) noexcept {
  return false;  // no signalfd: never open
}
#endif

// Reads the eventfd, then gives close()'s wake-up back if close() came meanwhile: the write just read
// may have been close()'s, and close() promises a readable native_handle() from then on. close() sets
// CLOSED before it writes, so a read that took its write is followed by a load that sees CLOSED.
// The caller checked foreign_cached(), which a child of _Fork() that did not call
// after_fork_in_child() passes: the getpid() here (paid only next to the read's own system call)
// keeps such a child from taking a wake-up meant for the parent's poller.
void consume_eventfd(detail::signals_core& c) noexcept {
  sink& s = c.sink;
  if (c.foreign()) return;
  detail::os::drain_wakeup(c.read_fd);
  if ((s.state.load(std::memory_order_seq_cst) & sink::closed) != 0 && !c.foreign())
    detail::sys::write_wakeup(s.event_fd);
}

// Makes the wake-up of a drain that could not hand out what the sink holds (an exception) stand again.
void rearm(detail::signals_core& c) noexcept {
  sink& s = c.sink;
  if ((s.state.load(std::memory_order_seq_cst) & sink::fd_wanted) == 0) {
    s.state.fetch_or(sink::notified, std::memory_order_seq_cst);
    return;
  }
  s.state.fetch_or(sink::notified, std::memory_order_seq_cst);
  if (!c.foreign()) detail::write_flagged<detail::sys::write_wakeup>(s);
}

}  // namespace

void detail::c_consumer_access::keep_readable(const signals& s) noexcept {
  if (s.core_) rearm(*s.core_);
}

namespace {

// The reader half of the seqlock in src/handler/sink.cc (no fences): the first sequence load and
// every field load are acquire loads, so no later load (the fields, then the second sequence load)
// is done before them; a field written by a writer that claimed the slot after `before` makes the
// second load see that claim. (Plain moves on x86-64.) One try; false if a writer held the slot or
// came between the two sequence loads.
[[gnu::always_inline]] inline bool try_read_slot(const detail::origin_slot& slot, int signo,
                                                 detail::raw_origin& r) noexcept {
  constexpr auto order = std::memory_order_acquire;
  const std::uint32_t before = slot.seq.load(order);
  r = detail::raw_origin{signo,
                         slot.code.load(order),
                         slot.pid.load(order),
                         slot.uid.load(order),
                         slot.status.load(order),
                         slot.value.load(order)};
  return (before & 1U) == 0 && slot.seq.load(std::memory_order_relaxed) == before;
}

// The same, until it succeeds: a writer on another thread is mid-store (bounded work, then yields).
// Out of line: the drain's first try succeeds but in a race, and the loop's registers would weigh on
// every delivery (issue 9, goal 3).
[[gnu::noinline, gnu::cold]] detail::raw_origin read_slot_contended(const detail::origin_slot& slot,
                                                                    int signo) noexcept {
  detail::raw_origin r;
  for (unsigned spins = 0; !try_read_slot(slot, signo, r); ++spins) {
    if (spins > 64) ::sched_yield();
  }
  return r;
}

[[gnu::always_inline]] inline detail::raw_origin read_slot(const detail::origin_slot& slot,
                                                           int signo) noexcept {
  detail::raw_origin r;
  if (__builtin_expect(try_read_slot(slot, signo, r), 1)) return r;  // (C++17 too: no [[likely]])
  return read_slot_contended(slot, signo);
}

// Appends the published records of the realtime ring to `events`. A cell is released only after its
// push_back (which may throw: the record stays in the ring). Returns how many it took.
std::size_t take_ring(detail::signals_core& c, std::vector<signal_event>& events) {
  sink& s = c.sink;
  std::size_t taken = 0;
  for (std::size_t pos = c.dequeue_pos.load(std::memory_order_relaxed); s.cells != nullptr;) {
    detail::ring_cell& cell = s.cells[pos & s.mask];
    if (cell.seq.load(std::memory_order_acquire) != pos + 1) break;  // empty or unpublished
    signal_event& e = events.emplace_back();  // may throw: the record stays in the ring
    e.signo = cell.record.signo;
    e.count = 1;
    detail::fill_origin(e.last, cell.record, s.owner);
    cell.seq.store(pos + s.mask + 1, std::memory_order_release);  // now the cell may go
    c.dequeue_pos.store(++pos, std::memory_order_release);
    ++taken;
  }
  if (taken != 0) note_room(c);  // a signalfd read of another object may wait for this room
  return taken;
}

#if SIGRELAY_LINUX  // holds (src/handler/hold.hpp) are Linux-only: rt_tgsigqueueinfo(), sigtimedwait()
// Pokes the other threads that hold realtime signals for a full ring (src/handler/hold.hpp), now
// that a drain made room: each lifts its holds in its handler. Like poke_owner(): a thread-directed
// SIGURG (SIGWINCH if the thread blocks SIGURG) with the poke cookie, while a no-op action keeps the
// trampoline installed for it; waits (at most a second) until a lift left the holders' table (the
// thread may hold again at once, so the entry alone cannot tell). A thread that has exited while it
// held (for any object's ring) is taken out of the table here, and the deliveries its holds had
// re-queued to it, which the kernel discarded with the thread, are run here through dispatch(), as a
// signalfd read runs what it reads: every action sees each once (hold.hpp). Returns whether it ran
// any. `settle` (a signal number, 0 for none): after a poked thread's lift, also wait (within the
// same second) until its mask no longer blocks that signal: the lift leaves the table inside its
// handler, and the kernel unblocks only at the handler's return. unsubscribe() asks for it, so that
// once ~signals() (remove(), close()) returns no thread still blocks the signal for it.
// Holders found blocking both pokes for a whole second (poke_ring_holders()): the entry's thread and
// lift count then. Such a thread blocked them itself (a worker that blocks every signal first thing,
// hit by the flood before it did): it keeps its hold until it unblocks a poke, lifts at a drain of
// its own, or exits. Waiting a second for it at every drain stalled the consumer (a coroutine
// channel's flood: 601 of 3,000 deliveries handed out in 60 s under CPU load, found by
// tests/contract_coro_test.cc); so the next drains wait for it only once it was lifted or replaced,
// and otherwise look at its mask once and go on. Ordinary context; relaxed atomics (a race between
// consumers costs one more wait, nothing else).
struct given_up {
  std::atomic<pid_t> tid{0};
  std::atomic<std::uint32_t> lifts{0};
};
given_up g_given_up[detail::max_ring_holders];

bool poke_ring_holders(int settle = 0) noexcept {
  bool ran = false;
  using detail::g_ring_holders;
  const pid_t self = detail::os::gettid();
  const pid_t pid = ::getpid();
  for (int i = 0; i < detail::max_ring_holders; ++i) {
    std::atomic<pid_t>& entry = g_ring_holders[i];
    const pid_t tid = entry.load(std::memory_order_seq_cst);
    if (tid <= 0 || tid == self) continue;
    // A holder inside a run of the trampoline blocks both pokes (its sa_mask, src/registry.cc) until
    // that run returns: wait for it, up to a second (a thread that blocks both itself lifts at its
    // next drain). Skipping it then left its hold in place with nobody left to poke it. Not again
    // for a holder that already outlasted that second with no lift since (g_given_up).
    const std::uint32_t lifts_now = detail::g_ring_lifts[i].load(std::memory_order_seq_cst);
    const bool gave_up = g_given_up[i].tid.load(std::memory_order_relaxed) == tid &&
                         g_given_up[i].lifts.load(std::memory_order_relaxed) == lifts_now;
    const auto patience = std::chrono::steady_clock::now() + std::chrono::seconds(gave_up ? 0 : 1);
    bool exited = false;
    int signo = 0;
    for (;;) {
      unsigned long long blocked = 0;
      if (!detail::thread_blocked_mask(tid, blocked)) {  // the thread exited with its mask, or no fd
        exited = errno == ENOENT || errno == ESRCH;      // (EMFILE): it lifts at its next drain
        break;
      }
      for (const int candidate : {SIGURG, SIGWINCH}) {
        if ((blocked & detail::signal_bit(candidate)) == 0) {
          signo = candidate;
          break;
        }
      }
      if (signo != 0 || entry.load(std::memory_order_seq_cst) != tid) break;
      if (std::chrono::steady_clock::now() >= patience) {
        g_given_up[i].tid.store(tid, std::memory_order_relaxed);
        g_given_up[i].lifts.store(lifts_now, std::memory_order_relaxed);
        break;
      }
      const struct timespec pause { 0, 20000 };
      ::nanosleep(&pause, nullptr);
    }
    if (exited) {
      siginfo_t lost[detail::ring_hold_signals];
      const int n = detail::take_exited_holds(i, tid, lost);
      if (n == 0) continue;
      // In ordinary context, with no hold (t_hold_allowed is 0 here): a full ring counts it as dropped.
      ucontext_t context{};
      const bool have_context = capture_context(context);
      for (int k = 0; k < n; ++k)
        detail::dispatch(lost[k].si_signo, &lost[k], have_context ? &context : nullptr);
      ran = true;
      continue;
    }
    if (signo == 0) continue;  // it lifts at its next drain
    std::error_code ec;
    const action_id keep = add_action(signo, action{detail::noop_fn, nullptr}, {}, ec);
    if (ec) continue;
    siginfo_t info{};
    info.si_signo = signo;
    info.si_code = SI_QUEUE;
    info.si_pid = pid;
    info.si_uid = ::getuid();
    info.si_value.sival_ptr = const_cast<char*>(&detail::poke_cookie);
    const std::uint32_t lifts = detail::g_ring_lifts[i].load(std::memory_order_seq_cst);
    const std::uint32_t put_offs = detail::g_ring_put_offs[i].load(std::memory_order_seq_cst);
    const int claim = detail::claim_poke(tid);  // in case the kernel keeps no siginfo (masks.hpp)
    if (detail::sys::rt_tgsigqueueinfo(pid, tid, signo, &info) == 0) {
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
      // Done when a lift left the table: the poked thread may hold again at once (in the same entry).
      while (entry.load(std::memory_order_seq_cst) == tid &&
             detail::g_ring_lifts[i].load(std::memory_order_seq_cst) == lifts &&
             std::chrono::steady_clock::now() < deadline) {
        const struct timespec pause { 0, 20000 };
        ::nanosleep(&pause, nullptr);
      }
      unsigned long long blocked = 0;
      // A lift that kept the signal held (for another object's ring that would hold its stash) is as
      // far as this wait goes: that hold is that ring's now.
      while (settle != 0 && std::chrono::steady_clock::now() < deadline &&
             detail::g_ring_put_offs[i].load(std::memory_order_seq_cst) == put_offs &&
             detail::thread_blocked_mask(tid, blocked) && (blocked & detail::signal_bit(settle)) != 0) {
        const struct timespec pause { 0, 20000 };
        ::nanosleep(&pause, nullptr);
      }
    }
    detail::release_poke_claim(claim, tid);
    remove_action(keep);
  }
  return ran;
}

// Makes room for held realtime signals once the ring was emptied: lifts this thread's holds (the
// deliveries they let in are recorded at once, in this thread, with no wake-up system call) and pokes
// other holding threads. Returns whether this thread lifted anything, or ran the deliveries of an
// exited holder (either may have recorded into the ring). Caller holds c.mutex.
[[gnu::noinline]] bool release_holds_now(detail::signals_core& c) noexcept {
  bool lifted = false;
  if (detail::t_ring_held != 0 || detail::t_ring_entry >= 0) {
    detail::t_consumer_of = &c.sink;
    lifted = detail::lift_ring_holds(nullptr);
    detail::t_consumer_of = nullptr;
  }
  const int mine = detail::t_ring_entry >= 0 ? 1 : 0;
  if (detail::g_ring_holder_count.load(std::memory_order_seq_cst) > mine && poke_ring_holders())
    lifted = true;
  return lifted;
}

// What this thread's hold of `signo` (the signal being removed) keeps pending for it, taken with
// sigtimedwait() while still blocked and dispatched as a delivery would be (a full ring counts them
// as dropped), at most one ring and a bit: under a flood that refills the queue as fast as it is
// taken, the rest meets whatever the signal's disposition is once the action is gone. Unblocking
// here instead would let a sustained flood keep this thread in its handler for ever (the kernel
// delivers on every return to user mode), which hung a `signals` destructor run at exit. The
// thread's holds of other signals are left to the lift that ends unsubscribe(): they come back
// through the trampoline, which may hold them again. (Taking them here too, in ordinary code where
// nothing can hold, dropped them in every full ring: the soak's second cause of drops, about
// 400,000 per 3 minutes of an instrumented ASan soak.)
// The taking stops while a delivery would be held (delivery_would_hold(): another object's ring of
// the signal is nearly full, or its consumer records a signalfd read). Dispatched here, where nothing
// can hold, those would be dropped in that ring; left queued, they reach the actions left after the
// lift, through the trampoline, which holds them for that ring again (one delivery per lift, so no
// endless run of handlers either). They were the soak's C0 losses: a churn thread that held
// RTMIN+1 for C0's full ring, then removed the signal from a short-lived object, took up to 1,088
// queued deliveries and dropped them in C0's ring (18,123 of C0's 19,147 drops in a 40-second
// instrumented dev soak). The object being removed does not record what is left queued: held, it
// was not delivered yet, and its subscription ends before it is. Caller holds c.mutex.
void take_own_holds(detail::signals_core& c, int signo) noexcept {
  if ((__atomic_load_n(&detail::t_ring_held, __ATOMIC_SEQ_CST) & detail::signal_bit(signo)) == 0) return;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, signo);
  ucontext_t context{};
  const bool have_context = capture_context(context);
  detail::t_consumer_of = &c.sink;
  // This signal's stash (a re-queue the kernel refused) is not in the kernel, so sigtimedwait() below
  // cannot take it: being the oldest, it runs first, unless another ring would hold it. It then
  // stays, held and listed with what is queued behind it (the loop below stops at once too), for the
  // lift that ends the removal, which keeps it while that ring would hold it (hold.hpp, "Stashes").
  // The thread's stashes of other signals are that lift's too. (This ran every stash of the thread
  // here, where nothing can hold, and a full ring dropped each.)
  detail::run_own_stash(signo);
  const struct timespec now {};
  for (std::size_t taken = 0; taken < c.capacity + 64;) {
    if (detail::delivery_would_hold(signo)) break;
    siginfo_t info{};
    const int got = ::sigtimedwait(&set, &info, &now);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) break;  // EAGAIN: nothing pending any more
    // The re-queued siginfo is taken: no longer the hold's to run for an exiting thread (hold.hpp).
    // Without this the copy stayed listed, and a consumer that found this thread exited ran the
    // delivery a second time (the soak: duplicates in C0 and the dispatcher, registry counts over).
    siginfo_t stash;
    if (detail::ring_hold_taken_ordinary(signo, stash))
      detail::dispatch(signo, &stash, have_context ? &context : nullptr);
    detail::dispatch(signo, &info, have_context ? &context : nullptr);
    ++taken;
  }
  detail::t_consumer_of = nullptr;
}
#else
// The posix build never holds (a full ring counts in dropped(), hold.cc): nothing to lift or take.
bool poke_ring_holders(int = 0) noexcept { return false; }
[[gnu::noinline]] bool release_holds_now(detail::signals_core&) noexcept { return false; }
void take_own_holds(detail::signals_core&, int) noexcept {}
#endif

// The drain's fast path: nobody holds anything (two loads, no call). This thread's t_ring_entry needs
// no test of its own: a thread listed in the holders' table is counted in g_ring_holder_count from
// before its t_ring_entry is set until after it is cleared (claim_entry() and lift_ring_holds(),
// hold.cc; a fork child resets both), so a count of 0 seen from ordinary code means that this thread
// is not listed (5 instructions less per drain under callgrind).
inline bool release_holds(detail::signals_core& c) noexcept {
  if (detail::g_ring_holder_count.load(std::memory_order_seq_cst) == 0 && detail::t_ring_held == 0)
    return false;
  return release_holds_now(c);
}

// The eventfd is read only when a write was flagged (FD_ARMED, or FD_STALE for a write that landed
// after a drain's read: see flag_unarmed_write() in src/handler/sink.hpp). (It used to be read by
// every empty pending() as well, in case a handler interrupted between setting FD_ARMED and writing
// had left it readable with no flag: a system call for nothing on each empty drain, paid for
// instance by the Asio adapter at every wait it started.)
//
// `events` is cleared, then filled (its capacity is reused: in steady state nothing is allocated).
// Standard signals are found through the sink's pending bitmask (taken with exchange), not by a scan.
//
// Exception safety: nothing leaves the sink before the event that carries it is in `events`. A
// standard signal's room in `events` is reserved before its count is taken with exchange (the append
// after it cannot throw), and the bits not yet visited are put back; a realtime record's cell is
// released only after its push_back. So if an allocation throws (std::bad_alloc), what was not handed
// out stays in the sink; the wake-up is re-armed so that the next drain (or poller) finds it, and
// events already taken out are returned (the exception only if there are none). Nothing is allocated
// on an empty drain.
//
// `read_fd`: false where wait() reads the signalfd itself, blocking (sleeps_in_read()). Returns
// events.size().
[[gnu::always_inline]] inline std::size_t drain_into(detail::signals_core& c,
                                                     std::vector<signal_event>& events, bool read_fd) {
  events.clear();
  detail::lift_released_blocks_here();
  if (c.foreign_cached()) return 0;
  const drain_lock lock(c);  // against a handle's add()/remove()
  if (lock.refused()) return 0;
  // A lone siginfo that only our record would take goes straight into `events` (see "wait() on the
  // signalfd backend" at the top), where the caller's storage has room for it without allocating:
  // nothing is allocated on an empty drain, and pending() into a fresh vector keeps the old path.
  if (c.kind == backend::signalfd && read_fd &&
      read_signalfd(c, read_mode::drain, /*block=*/false, events.capacity() != 0 ? &events : nullptr)) {
    return events.size();
  }
  sink& s = c.sink;
  // Clear NOTIFIED before taking: a delivery we miss below notifies again.
  // FD_ARMED and FD_STALE too, when set: this read takes every write flagged so far. When a load finds
  // neither (the usual drain: nobody polls the eventfd), NOTIFIED alone is cleared, with a `lock and`
  // that returns nothing, not a compare-exchange loop (4 instructions less per drain under
  // callgrind): a write flagged after the load keeps its flag for the next drain, exactly as one
  // flagged just after the compare-exchange would have (FD_STALE).
  constexpr std::uint32_t fd_flags = sink::fd_armed | sink::fd_stale;
  if ((s.state.load(std::memory_order_seq_cst) & fd_flags) == 0) {
    s.state.fetch_and(~sink::notified, std::memory_order_seq_cst);
  } else {
    const std::uint32_t old = s.state.fetch_and(~(sink::notified | fd_flags), std::memory_order_seq_cst);
    if ((old & fd_flags) != 0 && (old & sink::closed) == 0) consume_eventfd(c);
  }

  std::uint32_t bits = s.standard_pending.exchange(0, std::memory_order_seq_cst);
  std::size_t taken = 0;  // events.size() from here on, counted (see drain())
  try {
    for (; bits != 0; bits &= bits - 1) {
      const int signo = __builtin_ctz(bits) + 1;
      // Room first (may throw: the count is still in the sink, its bit put back below); the append
      // after the count is taken then cannot throw.
      if (events.size() == events.capacity()) events.reserve(events.empty() ? 4 : 2 * events.size());
      const std::uint64_t n = s.counts[signo].exchange(0, std::memory_order_seq_cst);
      if (n == 0) continue;  // a bit whose count an earlier drain took
      // Room was made above: telling the compiler so drops emplace_back()'s own test and its
      // reallocation call, whose clobbered registers made it keep signo on the stack (6 instructions
      // per event under callgrind).
      if (events.size() == events.capacity()) __builtin_unreachable();
      signal_event& e = events.emplace_back();  // filled in place: no temporary event to copy
      e.signo = signo;
      e.count = n;
      detail::fill_origin(e.last, read_slot(s.last[signo], signo), s.owner);
      ++taken;
    }
    // Realtime: the ring, then (if this thread held signals because it was full) what the lift lets
    // in, once: that is at most another ring's worth, the rest is held again.
    if (s.cells != nullptr) taken += take_ring(c, events);  // (no ring: no realtime signal subscribed yet)
    if (release_holds(c)) taken += take_ring(c, events);
  } catch (...) {
    if (bits != 0) s.standard_pending.fetch_or(bits, std::memory_order_seq_cst);
    rearm(c);
    if (events.empty()) throw;
    return events.size();  // already taken out of the sink: they must reach the caller
  }
  // Nobody polls an eventfd nobody asked for (sink.hpp, FD_WANTED): none to keep readable.
  if ((s.state.load(std::memory_order_seq_cst) & sink::fd_wanted) == 0) return taken;
  // A delivery that notified after our clear may have had its eventfd write eaten by our reads above:
  // keep "NOTIFIED set" and "eventfd readable" together (see sink.hpp).
  if ((s.state.load(std::memory_order_seq_cst) & sink::notified) != 0 && !c.foreign()) {
    detail::write_flagged<detail::sys::write_wakeup>(s);
  } else if (c.stalled.load(std::memory_order_relaxed) && c.unstall.load(std::memory_order_seq_cst)) {
    // A wake-up for signals left out of the signalfd (see "Reads beside other rings" at the top)
    // that came after this drain's read looked, and before the clear: the reads above may have
    // taken its write. (A signalfd-backed object always wants its eventfd: it gets here.)
    rearm(c);
  }
  return taken;
}

// drain_into(), which returns how many events it handed out, so that the callers need
// not keep `events` across the call to learn it (pending() and a wait that finds its signal there
// return it). Under callgrind: pending(std::vector&) 296 -> 293 instructions per delivery,
// wait(std::vector&) 305 -> 303, the iterator 309 -> 307, the Asio and libuv adapters 3 fewer; the
// dispatcher (whose wait_unless() did not need the size) 746 -> 750. drain_into() counts the events
// as it appends them, where events.size() divided a pointer difference by sizeof(signal_event) (56):
// 2 instructions less per delivery on the relay backend (pending(std::vector&) 294 -> 292), 1 more
// on the signalfd backend's pending(std::vector&) (249 -> 250).
std::size_t drain(detail::signals_core& c, std::vector<signal_event>& events, bool read_fd = true) {
  return drain_into(c, events, read_fd);
}

#if SIGRELAY_LINUX
// Adds `fd` (the signalfd or the eventfd) to the epoll set behind native_handle(), for reading.
// False with errno on failure.
bool add_to_epoll(detail::signals_core& c, int fd) noexcept {
  struct epoll_event ev {};
  ev.events = EPOLLIN;
  ev.data.fd = fd;
  return detail::sys::epoll_ctl(c.epoll_fd, EPOLL_CTL_ADD, fd, &ev) == 0;
}

// Takes the signalfd out of the epoll set behind native_handle() if nobody asked for that handle (see
// "The epoll set" at the top); the consumer calls it before it sleeps. Once per object: a removal
// that fails leaves the set as it is for good. Under the mutex, against native_handle() on another
// thread: that one marks the handle given and puts the signalfd back under it, so a handle given
// out always polls a set with the signalfd in it. Not in a fork child, which shares the set with
// its parent (and may have inherited the mutex locked).
void leave_epoll_set(detail::signals_core& c) noexcept {
  if (!c.signalfd_in_epoll.load(std::memory_order_seq_cst) || c.handle_given.load(std::memory_order_seq_cst))
    return;
  if (c.foreign()) return;
  const std::lock_guard<std::mutex> lock(c.mutex);
  if (!c.signalfd_in_epoll.load(std::memory_order_seq_cst) || c.handle_given.load(std::memory_order_seq_cst))
    return;
  if (detail::sys::epoll_ctl(c.epoll_fd, EPOLL_CTL_DEL, c.signal_fd, nullptr) == 0 || errno == ENOENT) {
    c.signalfd_in_epoll.store(false, std::memory_order_seq_cst);
  } else {
    c.handle_given.store(true, std::memory_order_seq_cst);  // not tried again
  }
}
#endif

// Whether wait() may sleep in a blocking read() of the signalfd (see "wait() on the signalfd backend"
// at the top): nothing but a signal the signalfd reports can end this wait. Makes the blocking twin
// of the signalfd on first use.
#if SIGRELAY_LINUX
[[gnu::always_inline]] inline bool sleeps_in_read(detail::signals_core& c, long long timeout_ns,
                                                  const std::atomic<bool>* stopped) noexcept {
  if (c.kind != backend::signalfd || detail::os::sanitizer_defers_signals) return false;
  if (timeout_ns >= 0 || stopped != nullptr) return false;
  if (other_threads_may_exist()) return false;  // first: no other thread changes `subscribed` now
  if (c.subscribed == 0 || (c.subscribed & ~detail::t_applied) != 0) return false;
  if (c.blocking_fd < 0) {
    const sigset_t mask = signalfd_mask_now(c);
    c.blocking_fd = detail::sys::signalfd(-1, &mask, SFD_CLOEXEC);
    if (c.blocking_fd < 0) return false;
  }
  leave_epoll_set(c);
  return true;
}
#else
bool sleeps_in_read(detail::signals_core&, long long, const std::atomic<bool>*) noexcept { return false; }
#endif

// wait()'s sleep in read() of the signalfd's blocking twin (sleeps_in_read()). True if the one siginfo
// it read went straight into `events` (hands_out_directly()); else what it read was dispatched and
// recorded without a wake-up (this thread drains next), or an EINTR came.
bool read_blocking(detail::signals_core& c, std::vector<signal_event>& events) {
  events.clear();
  if (events.capacity() == 0) events.reserve(1);  // before anything is taken: a throw loses nothing
  if (!read_signalfd(c, read_mode::drain, /*block=*/true, &events)) return false;
  detail::lift_released_blocks_here();  // as the drain would have
  return true;
}

// What the iterator took but did not yield (a loop left early): into `events` (cleared), before
// anything else is drained. Copied before it counts as taken: a throw (std::bad_alloc) keeps it. Not
// in a fork child's copy, which hands out nothing (see "Fork" in signals.hpp).
[[gnu::noinline]] bool take_leftovers(detail::signals_core& c, std::vector<signal_event>& events) {
  if (c.foreign_cached()) return false;
  events.assign(c.iter_batch.end() - static_cast<std::ptrdiff_t>(c.iter_left), c.iter_batch.end());
  c.iter_left = 0;
  return true;
}

// pending() with the iterator's batch not all yielded: out of line, so that the usual pending() pays
// one test for it (as a call on its path, it cost 7 instructions per delivery).
[[gnu::noinline]] std::size_t pending_with_leftovers(detail::signals_core& c,
                                                     std::vector<signal_event>& events) {
  if (!take_leftovers(c, events)) drain(c, events);
  return events.size();
}

// `stopped` (the stop_token overloads; null for wait()/wait_for()): return empty once it is true. See
// the notes at the top for the wake-up. Fills `events` as drain() does. Inlined into each of the four
// waits, whose constant arguments then fold away: out of line it cost 18 instructions more per
// delivery through wait(std::vector&) (callgrind, bench/deliveries.cc `wait`).
[[gnu::always_inline]] inline void wait_impl(detail::signals_core& c, long long timeout_ns,
                                             const std::atomic<bool>* stopped,
                                             std::vector<signal_event>& events) {
  using clock = std::chrono::steady_clock;
  // A stop callback sets *stopped before INTERRUPTED: once this clear is done, either the bit is set
  // again (and ends the futex sleep) or *stopped reads true below.
  if (stopped != nullptr) c.sink.state.fetch_and(~sink::interrupted, std::memory_order_seq_cst);
  const auto is_stopped = [stopped] {
    return stopped != nullptr && stopped->load(std::memory_order_seq_cst);
  };
  if (c.iter_left != 0 && !is_stopped() && take_leftovers(c, events)) return;
  // The clock is read only for a timeout to keep (wait() without one never reads it, nor does
  // nanoseconds::max(), the dispatcher's "forever": always past the clock's range).
  clock::time_point deadline{};
  if (timeout_ns == std::numeric_limits<long long>::max()) timeout_ns = -1;
  if (timeout_ns > 0) {
    const auto start = clock::now();
    // A timeout that would take the deadline past the clock's range means "forever" (never overflow).
    if (timeout_ns > (clock::time_point::max() - start).count()) {
      timeout_ns = -1;
    } else {
      deadline = start + std::chrono::nanoseconds(timeout_ns);
    }
  }
  for (;;) {
    if (is_stopped()) {
      events.clear();
      return;
    }
    const bool reads = sleeps_in_read(c, timeout_ns, stopped);
    // Nothing recorded since the last drain (NOTIFIED clear; it is set by every record and by a
    // drain that could not hand everything out) and not closed: straight to the read(), then to the
    // drain of what it recorded (after an EINTR with nothing recorded, that drain finds nothing and
    // the read below sleeps again).
    if (reads && !c.foreign_cached() &&
        (c.sink.state.load(std::memory_order_seq_cst) & (sink::notified | sink::closed)) == 0) {
      if (read_blocking(c, events)) return;
    }
    // Once closed, no blocking read() follows this drain (the loop returns after it): the drain reads
    // the signalfd itself, or what the kernel queued before close() would not be handed out.
    const std::size_t got = drain(c, events, /*read_fd=*/!reads || c.closed());
    // (After the drain, which may have read the stop callback's eventfd write away: look again.)
    if (got != 0 || c.closed() || c.foreign_cached() || is_stopped()) return;
    long long remaining = -1;
    if (timeout_ns == 0) return;
    if (timeout_ns > 0) {
      remaining = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - clock::now()).count();
      if (remaining <= 0) return;
    }
    if (reads) {
      if (read_blocking(c, events)) return;
      continue;  // EINTR, or what it read is in the sink: loop and look again
    }
#if SIGRELAY_LINUX  // no futex there: wait_polls_fd
    if (c.kind == backend::relay && !detail::os::wait_polls_fd) {
      sink& s = c.sink;
      detail::t_consumer_of = &s;
      const std::uint32_t old = s.state.fetch_or(sink::waiting, std::memory_order_seq_cst);
      const std::uint32_t wakers =
          sink::notified | sink::closed | (stopped != nullptr ? sink::interrupted : 0U);
      if ((old & wakers) == 0) {
        static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));
        detail::os::futex_wait(reinterpret_cast<const std::uint32_t*>(&s.state), old | sink::waiting,
                               remaining);
      }
      s.state.fetch_and(~sink::waiting, std::memory_order_seq_cst);
      detail::t_consumer_of = nullptr;
    } else
#endif
    {
      // The signalfd backend (and the relay backend under ThreadSanitizer or on the posix platform
      // layer): sleep until an fd is readable. The relay backend's handler writes the eventfd (pipe)
      // when no futex waiter is registered.
#if SIGRELAY_LINUX
      if (c.kind == backend::signalfd) leave_epoll_set(c);
#endif
      struct pollfd fds[2] = {{c.read_fd, POLLIN, 0}, {c.signal_fd, POLLIN, 0}};
      detail::os::poll_ns(fds, c.signal_fd >= 0 ? 2 : 1, remaining);  // EINTR: loop and look again
    }
  }
}

// Blocks `signo` in this thread for `c`, whose slot `slot` (my_slot()) is this thread's.
void block_here(detail::signals_core& c, int signo, int slot) noexcept {
  using detail::t_applied;
  detail::lift_released_blocks(nullptr);
  std::atomic<std::uint32_t>& refs = detail::g_thread_blocks[slot].refs[signo];
  const std::uint64_t bit = detail::signal_bit(signo);
  detail::t_busy = 1;            // keeps the trampoline's lift away from a half-made record
  if ((t_applied & bit) != 0) {  // sigrelay blocks it here already, for another object
    refs.fetch_add(1, std::memory_order_seq_cst);
    c.block_slot[signo] = slot;
  } else {
    // A failed pthread_sigmask() leaves the signal unblocked: deliveries then come through the
    // handler, as when another action shares the signal.
    sigset_t current;
    if (detail::sys::pthread_sigmask(SIG_BLOCK, nullptr, &current) == 0 &&
        !sigismember(&current, signo)) {  // else the thread's own block: not ours to give back
      sigset_t one;
      sigemptyset(&one);
      sigaddset(&one, signo);
      refs.fetch_add(1, std::memory_order_seq_cst);
      if (detail::sys::pthread_sigmask(SIG_BLOCK, &one, nullptr) == 0) {
        t_applied |= bit;
        c.block_slot[signo] = slot;
      } else {
        refs.fetch_sub(1, std::memory_order_seq_cst);
      }
    }
  }
  detail::t_busy = 0;
  if (detail::t_missed != 0) detail::lift_released_blocks(nullptr);  // a poke came meanwhile
}

// Gives back an object's block of `signo` recorded in slot `index`, in the thread that made it (see
// the notes at the top). Called without the object's mutex: the poke may wait for the owner.
void release_block(int index, int signo) noexcept {
  detail::thread_blocks& slot = detail::g_thread_blocks[index];
  const std::uint32_t left = slot.refs[signo].fetch_sub(1, std::memory_order_seq_cst) - 1;
  if (&slot == detail::t_blocks) {
    detail::lift_released_blocks(nullptr);
  } else if (left == 0) {
    if (!detail::g_released_elsewhere.load(std::memory_order_seq_cst))
      detail::g_released_elsewhere.store(true, std::memory_order_seq_cst);  // (after the fetch_sub)
    detail::poke_owner(slot, signo);
    detail::free_if_abandoned(slot);
  }
}

// Lifts put off on this thread (detail::deferred_lifts, detail.hpp): how many are open, and which.
thread_local unsigned t_lift_deferrals = 0;
thread_local std::uint64_t t_deferred_lifts = 0;

#if SIGRELAY_LINUX  // the signalfd backend only
// detail::g_action_added, set by the first signalfd-backed object: another action arrived for
// `signo`. If sigrelay blocks `signo` in this thread for a signalfd-backed object, lift that block,
// so that the new action (a relay-backed object, a dispatcher, a plain action) is run by the handler
// at once instead of waiting until the signalfd object reads the signal. The object then receives
// `signo` through the handler too, like a relay-backed one, and keeps its reference in this thread's
// slot (masks.hpp) until it unsubscribes; t_applied no longer has the signal, so nothing re-blocks or
// lifts it again. Blocks in other threads do not hide the signal from this one. Put off while a
// detail::deferred_lifts is open on this thread.
void lift_block_here(int signo) noexcept {
  if (signo <= 0 || signo >= NSIG) return;
  const std::uint64_t bit = detail::signal_bit(signo);
  if ((detail::t_applied & bit) == 0) return;  // sigrelay does not block it in this thread
  if (t_lift_deferrals != 0) {
    t_deferred_lifts |= bit;  // lifted by the outermost commit(), or forgotten with a rollback
    return;
  }
  detail::t_busy = 1;  // keeps the trampoline's lift away meanwhile
  detail::t_applied &= ~bit;
  sigset_t one;
  sigemptyset(&one);
  sigaddset(&one, signo);
  detail::sys::pthread_sigmask(SIG_UNBLOCK, &one, nullptr);
  detail::t_busy = 0;
  if (detail::t_missed != 0) detail::lift_released_blocks(nullptr);  // a poke came meanwhile
}

// The lifts put off until the outermost detail::deferred_lifts was committed.
void lift_deferred() noexcept {
  for (std::uint64_t left = std::exchange(t_deferred_lifts, 0); left != 0; left &= left - 1) {
    lift_block_here(__builtin_ctzll(left) + 1);
  }
}
#else
void lift_deferred() noexcept { t_deferred_lifts = 0; }  // (no blocks: nothing is ever put off)
#endif

}  // namespace

namespace detail {
deferred_lifts::deferred_lifts() noexcept { ++t_lift_deferrals; }
deferred_lifts::~deferred_lifts() {
  if (done_) return;
  if (--t_lift_deferrals == 0) t_deferred_lifts = 0;  // rolled back: the blocks stay
}
void deferred_lifts::commit() noexcept {
  if (done_) return;
  done_ = true;
  if (--t_lift_deferrals == 0) lift_deferred();
}
}  // namespace detail

namespace {

#if SIGRELAY_LINUX
std::error_code update_signalfd(detail::signals_core& c) {
  const sigset_t mask = signalfd_mask_now(c);
  if (detail::sys::signalfd(c.signal_fd, &mask, SFD_NONBLOCK | SFD_CLOEXEC) < 0) return detail::errno_code();
  // The blocking twin follows; should that fail (it cannot for a valid fd), it is dropped.
  if (c.blocking_fd >= 0 && detail::sys::signalfd(c.blocking_fd, &mask, SFD_CLOEXEC) < 0) {
    detail::os::close_fd(c.blocking_fd);
    c.blocking_fd = -1;
  }
  return {};
}
#else
// Unreachable in the posix build, whose constructor refuses backend::signalfd.
std::error_code update_signalfd(detail::signals_core&) {
  return std::make_error_code(std::errc::not_supported);
}
#endif

// Lists `c` in the ring directory (see "Reads beside other rings" at the top), when its realtime
// ring is made (unlist_ring() takes it off). May throw (std::bad_alloc).
void list_ring(detail::signals_core& c) {
  if (c.listed_in == detail::verified_pid()) return;  // (listed before a failure to make the ring)
  ring_directory& d = rings();
  const std::lock_guard lock(d.mutex);
  d.cores.push_back(c.self);
  c.listed_in = detail::verified_pid();
  g_listed_rings.fetch_add(1, std::memory_order_seq_cst);
}

// Subscribes `signo`; on failure, nothing changed. `may_block`: false for a handle's add() (never
// blocks, see the header). `companion`: an action added after the record in the same snapshot (its id
// to `*companion_id`; see detail::subscribe_access), or on its own if `signo` is subscribed already
// (the record is there, so a delivery that runs it runs the record too). Caller holds c.mutex.
void subscribe(detail::signals_core& c, int signo, bool may_block, const action* companion = nullptr,
               action_id* companion_id = nullptr) {
  detail::lift_released_blocks(nullptr);  // this thread's released blocks (see the notes at the top)
  check_signal(signo);
  if (c.ids[signo]) {
    if (companion != nullptr) {
      std::error_code ec;
      const action_id id = add_action(signo, *companion, {}, ec);
      if (ec) throw_for_signal(ec, signo, "subscribe to");
      *companion_id = id;
    }
    return;
  }
  if (c.foreign()) {
    detail::throw_error(std::make_error_code(std::errc::operation_not_permitted),
                        "sigrelay::signals: cannot subscribe to " + detail::describe_signal(signo) +
                            ": the object was inherited across fork(); create a new one in this process");
  }
  if (signo >= SIGRTMIN && !c.cells) {
    list_ring(c);  // may throw: before any change
    // Published to handlers by add_action() below (the registry's snapshot store is seq_cst).
    c.cells.reset(new detail::ring_cell[c.capacity]);
    for (std::size_t i = 0; i < c.capacity; ++i) c.cells[i].seq.store(i, std::memory_order_relaxed);
    c.sink.cells = c.cells.get();
    c.sink.mask = c.capacity - 1;
    // The trampoline holds once fewer cells than this are free (src/handler/hold.hpp).
    c.sink.reserve = std::min<std::size_t>(64, std::max<std::size_t>(1, c.capacity / 8));
  }
  const bool blocks = c.kind == backend::signalfd && may_block;
  const int slot = blocks ? detail::my_slot() : -1;  // may throw: before any change
  std::error_code ec;
  const action both[2] = {action{detail::record_fn, &c.sink}, companion != nullptr ? *companion : action{}};
  action_id ids[2] = {};
  detail::add_actions_together(signo, both, companion != nullptr ? 2 : 1, ids, ec);
  if (ec) throw_for_signal(ec, signo, "subscribe to");
  const action_id id = ids[0];
  if (c.kind == backend::signalfd) {
    sigaddset(&c.signalfd_mask, signo);
    if (const std::error_code err = update_signalfd(c)) {
      sigdelset(&c.signalfd_mask, signo);
      if (companion != nullptr) remove_action(ids[1]);  // (in the reverse order of the add)
      remove_action(id);
      throw_for_signal(err, signo, "add to the signalfd");
    }
    // Block only while ours is the signal's only action: a block would hide the signal from any other
    // action in this thread (another object of either backend, a dispatcher, a plain action) until
    // we happen to read the signalfd. Otherwise deliveries reach us through the handler.
    if (blocks && detail::action_count(signo) == 1) block_here(c, signo, slot);
  }
  c.ids[signo] = id;
  if (companion_id != nullptr) *companion_id = ids[1];
  c.subscribed |= detail::signal_bit(signo);
  if (signo >= SIGRTMIN) c.rt_subscribed.fetch_or(detail::signal_bit(signo), std::memory_order_seq_cst);
}

#if SIGRELAY_LINUX
// Reads what is pending of `signo` alone from the signalfd (remove()): those siginfos were delivered
// while we were subscribed. Everything is read (our realtime ring too small counts the rest as
// dropped): left in the kernel, they would reach the handler once unblocked, and the default action
// if ours was the last action. Except while another object's ring of a realtime `signo` would hold
// (reads_without_drop(), hold.hpp): the rest stays queued, for the actions left after the removal,
// which that ring's hold keeps in the kernel until its consumer has room. (Read and dispatched here,
// in ordinary code where nothing can hold, it was dropped in that ring: the soak's churn removed
// signals from short-lived signalfd-backed objects beside C0's relay ring.) Reads are one siginfo at a
// time while such a ring exists, so that none takes the cell that fills it. Other signals stay queued
// for the next drain. Leaves the signalfd's mask at `signo` alone: the caller sets the mask it wants
// next.
void read_pending_of(detail::signals_core& c, int signo) {
  sigset_t only;
  sigemptyset(&only);
  sigaddset(&only, signo);
  (void)detail::sys::signalfd(c.signal_fd, &only,
                              SFD_NONBLOCK | SFD_CLOEXEC);  // failing, it reads all: harmless
  if (signo < c.sink.rtmin) {
    read_signalfd(c, read_mode::everything);
  } else if (c.signal_fd >= 0) {
    read_batches<batch_size::beside_rings>(c, /*in_drain=*/false, /*block=*/false, nullptr, signo);
  }
}
#else
void read_pending_of(detail::signals_core&, int) {}  // unreachable: no signalfd backend here
#endif

// What unsubscribe() blocks in its thread while it ends a realtime subscription (detail::blocked_here,
// which leaves alone a block the thread had already): `signo` alone. From `no_holds` on, no
// delivery is held for this ring, so nothing pushes back on a flood: a handler slower than the
// sender kept the unsubscribing thread in signal context, and its teardown (pokes, the registry's
// mutex, which others then wait for) made no progress while the flood lasted. Under ASan, a thread
// queueing RTMIN+1 nonstop while two threads made and destroyed objects: 4 of 14 runs stuck until
// the 120-second watchdog. Blocked here, the flood waits in the kernel's queue (a sender sees EAGAIN
// at RLIMIT_SIGPENDING) or goes to another thread. The unblock undoes only this block: no delivery of
// `signo` runs on this thread meanwhile, so nothing holds it here, and a lift that unblocked it early
// leaves nothing to undo.
sigset_t kept_off_while_ending(int signo) noexcept {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, signo);
  return set;
}

// In three steps, so that the poke of another thread's block (up to a second) is made without the
// mutex, which the consumer's drain takes: under the mutex, the signalfd is read and its mask
// shrunk, and the block's record taken; without it, the block is given back; under it again, the
// action goes. Before the action goes: a delivery pending once unblocked still finds it, and no
// other object can block the signal (it blocks only as the only action) while our block is still
// counted. An add() of the same signal meanwhile finds it still subscribed and does nothing (it is
// ordered before this remove()); a second remove() finds the action gone or going and leaves it.
void unsubscribe(detail::signals_core& c, int signo) {
  detail::lift_released_blocks(nullptr);
  if (signo <= 0 || signo >= NSIG) return;
  action_id id{};
  int block = -1;
  {
    const change_lock lock(c);
    if (!c.ids[signo]) return;
    id = c.ids[signo];
    // A fork child's copy shares the signalfd (and its mask) with the parent: leave it alone.
    if (c.kind == backend::signalfd && !c.foreign() && sigismember(&c.signalfd_mask, signo) == 1) {
      read_pending_of(c, signo);  // what is pending for it now was delivered while we were subscribed
      sigdelset(&c.signalfd_mask, signo);
      c.excluded &= ~detail::signal_bit(signo);
      update_signalfd(c);  // shrinking a signalfd's mask cannot fail for a valid fd; wakes its pollers
    }
    block = c.block_slot[signo];
    c.block_slot[signo] = -1;
  }
  if (block >= 0 && !c.foreign()) release_block(block, signo);  // a fork child's record was reset
  const change_lock lock(c);
  if (c.ids[signo] != id) return;  // another remove() took it meanwhile
  // Held realtime signals (src/handler/hold.hpp) come in while the action is still there; a full
  // ring counts them as dropped meanwhile instead of holding them past the action's end. This
  // thread's own holds are taken synchronously, still blocked, and lifted only after the action is
  // gone (see "Exit races" at the top).
  const bool holds = signo >= c.sink.rtmin && !c.foreign_cached();
  std::optional<detail::blocked_here> flood_kept_off;  // (no system call for a standard signal)
  if (holds) {
    flood_kept_off.emplace(kept_off_while_ending(signo));
    c.sink.no_holds.store(true, std::memory_order_seq_cst);
    take_own_holds(c, signo);
    const int mine = detail::t_ring_entry >= 0 ? 1 : 0;
    if (detail::g_ring_holder_count.load(std::memory_order_seq_cst) > mine) poke_ring_holders(signo);
  }
  remove_action(id);
  if (holds) {
    detail::lift_ring_holds(nullptr);
    c.sink.no_holds.store(false, std::memory_order_seq_cst);
    // A read of another object that stalled on this ring for this signal looks again.
    c.rt_subscribed.fetch_and(~detail::signal_bit(signo), std::memory_order_seq_cst);
    note_room(c);
  }
  c.ids[signo] = action_id{};
  c.subscribed &= ~detail::signal_bit(signo);
}

// Takes `c` off the ring directory (unsubscribe_all(): the object is done; every object ends there,
// so no entry outlives its object for long), with any entry that expired anyway.
void unlist_ring(detail::signals_core& c) {
  if (c.foreign()) return;
  const change_lock changing(c);  // against a handle's add() that lists it
  if (c.listed_in != detail::verified_pid()) return;
  ring_directory& d = rings();
  const std::lock_guard lock(d.mutex);
  d.cores.erase(std::remove_if(d.cores.begin(), d.cores.end(),
                               [&c](const std::weak_ptr<detail::signals_core>& listed) {
                                 return listed.expired() ||
                                        (!listed.owner_before(c.self) && !c.self.owner_before(listed));
                               }),
                d.cores.end());
  c.listed_in = 0;
  g_listed_rings.fetch_sub(1, std::memory_order_seq_cst);
}

void unsubscribe_all(detail::signals_core& c) {
  for (int signo = 1; signo < NSIG; ++signo) unsubscribe(c, signo);
  unlist_ring(c);
}

// Following fork (signals_options::follow_fork): the sink's `adopt`, called by the registry's fork
// child handler (or after_fork_in_child()) in the child, with every signal blocked and the registry
// mutex held, before it looks for signals whose every subscriber is inherited. Async-signal-safe (it
// runs in the child of a fork() that any thread may have made): atomics, the wake-up channel's
// eventfd()/dup3() (pipe()/dup2() on the posix layer) and close(), and a clear() of a vector of
// trivially destructible events, which frees nothing.
// - The wake-up channel gets a new one under the same numbers (os::renew_wakeup()): pollers of the
//   child watch it by number, and the parent keeps its own, which the child never writes again.
// - What the parent recorded and did not drain is the parent's to hand out: counts, origins, the
//   ring's records (marked consumed, only the cells in use: a huge ring's other pages stay shared),
//   the iterator's batch and the drop counts all start again at zero, and so does `state` (a WAITING
//   or INTERRUPTED of a parent's thread means nothing here; CLOSED was refused before).
// - Another thread of the parent inside the object at the fork (a change in flight or under way, a
//   drain without the mutex) left it half-changed and is not here to finish: refused, the copy stays
//   dead. The forking thread itself is never inside it (none of its code forks).
// - `owner` last: from then on the copy records the child's deliveries and is not foreign().
static_assert(std::is_trivially_destructible_v<signal_event>,
              "adopt_in_child(): iter_batch.clear() frees nothing");
bool adopt_in_child(void* context, pid_t self) noexcept {
  auto& c = *static_cast<detail::signals_core*>(context);
  sink& s = c.sink;
  if (c.kind != backend::relay || c.changing.load(std::memory_order_relaxed) != 0 ||
      c.draining.load(std::memory_order_relaxed) ||
      (s.state.load(std::memory_order_relaxed) & sink::closed) != 0) {
    return false;
  }
  if (!detail::os::renew_wakeup({c.read_fd, s.event_fd})) return false;
  for (int signo = 1; signo < NSIG; ++signo) {
    s.counts[signo].store(0, std::memory_order_relaxed);
    s.last[signo].seq.store(0, std::memory_order_relaxed);
    s.dropped_by[signo].store(0, std::memory_order_relaxed);
  }
  s.standard_pending.store(0, std::memory_order_relaxed);
  s.dropped.store(0, std::memory_order_relaxed);
  // A signalfd read of another object of the parent may have been under way (its thread is not
  // here): its mark would make every realtime delivery hold for ever, its claim keep cells.
  s.reading.store(0, std::memory_order_relaxed);
  c.claimed.store(0, std::memory_order_relaxed);
  c.room_word.store(0, std::memory_order_relaxed);
  if (s.cells != nullptr) {
    const std::size_t end = s.enqueue_pos.load(std::memory_order_relaxed);
    std::size_t pos = c.dequeue_pos.load(std::memory_order_relaxed);
    for (; pos != end; ++pos) s.cells[pos & s.mask].seq.store(pos + s.mask + 1, std::memory_order_relaxed);
    c.dequeue_pos.store(pos, std::memory_order_relaxed);
  }
  c.iter_batch.clear();
  c.iter_left = 0;
  s.state.store(s.state.load(std::memory_order_relaxed) & sink::fd_wanted, std::memory_order_relaxed);
  s.owner = self;
  return true;
}

std::shared_ptr<detail::signals_core> make_core(const signals_options& options) {
  detail::lift_released_blocks(nullptr);
  auto c = std::make_shared<detail::signals_core>();
  c->self = c;
  c->kind = options.backend;
  c->capacity = round_up_pow2(std::max<std::size_t>(options.realtime_capacity, 2));
  c->sink.rtmin = SIGRTMIN;
  c->sink.rtmax = SIGRTMAX;
  c->sink.owner = detail::process_pid();
  if (options.follow_fork) {
    c->sink.adopt = adopt_in_child;
    c->sink.adopt_context = c.get();
  }
  // In a child of _Fork() that has not called after_fork_in_child(), the cached pid is still the
  // parent's: the new object would look inherited (foreign_cached()) and hand out nothing. Do it now.
  if (c->sink.owner != detail::verified_pid()) {
    after_fork_in_child();
    c->sink.owner = detail::process_pid();
  }
  std::error_code ec;
  const detail::os::wakeup_fds wake = detail::os::make_wakeup(ec);
  c->read_fd = wake.read;
  c->sink.event_fd = wake.write;
  if (ec) detail::throw_error(ec, std::string("sigrelay::signals: cannot create ") + detail::os::wakeup_kind);
  // Where wait() ppoll()s the eventfd, deliveries must write it from the start (sink.hpp).
  if (c->kind == backend::signalfd || detail::os::wait_polls_fd)
    c->sink.state.fetch_or(detail::sink::fd_wanted, std::memory_order_relaxed);
  sigemptyset(&c->signalfd_mask);
  std::fill(std::begin(c->block_slot), std::end(c->block_slot), -1);
#if SIGRELAY_LINUX  // the posix build's constructor refused backend::signalfd before this
  if (c->kind == backend::signalfd) {
    detail::g_action_added.store(lift_block_here, std::memory_order_release);
    c->signal_fd = detail::sys::signalfd(-1, &c->signalfd_mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (c->signal_fd < 0)
      detail::throw_error(detail::errno_code(), "sigrelay::signals: cannot create a signalfd");
    c->epoll_fd = detail::sys::epoll_create1(EPOLL_CLOEXEC);
    if (c->epoll_fd < 0)
      detail::throw_error(detail::errno_code(), "sigrelay::signals: cannot create an epoll fd");
    for (const int fd : {c->signal_fd, c->read_fd}) {
      if (!add_to_epoll(*c, fd))
        detail::throw_error(detail::errno_code(), "sigrelay::signals: cannot set up epoll");
    }
    c->signalfd_in_epoll.store(true, std::memory_order_relaxed);
  }
#endif
  return c;
}

}  // namespace

// ---------------------------------------------------------------------------------------------------
// signals

signals::signals(std::initializer_list<int> signos, enum backend kind)
    : signals(std::vector<int>(signos), signals_options{kind, signals_options{}.realtime_capacity}) {}

signals::signals(std::initializer_list<int> signos, const signals_options& options)
    : signals(std::vector<int>(signos), options) {}

signals::signals(const std::vector<int>& signos, const signals_options& options) {
  // Refuse before touching anything.
  if (options.realtime_capacity > signals_options::max_realtime_capacity) {
    detail::throw_error(detail::invalid_argument(),
                        "sigrelay::signals: realtime_capacity " + std::to_string(options.realtime_capacity) +
                            " is above the limit of " +
                            std::to_string(signals_options::max_realtime_capacity) + " records");
  }
  for (const int signo : signos) check_signal(signo);
  if (detail::os::posix_platform && options.backend == backend::signalfd) {
    detail::throw_error(std::make_error_code(std::errc::operation_not_supported),
                        "sigrelay::signals: the signalfd backend is Linux-only, and this build uses the "
                        "posix platform layer (SIGRELAY_PLATFORM=posix); use backend::relay");
  }
  if (options.follow_fork && options.backend != backend::relay) {
    detail::throw_error(detail::invalid_argument(),
                        "sigrelay::signals: follow_fork needs backend::relay (a signalfd backend's "
                        "descriptors and blocks cannot be made a fork child's own)");
  }
  core_ = make_core(options);
  try {
    detail::deferred_lifts lifts;  // another object's block lifted only once every signal is in
    const change_lock lock(*core_);
    for (const int signo : signos) subscribe(*core_, signo, /*may_block=*/true);
    lifts.commit();
  } catch (...) {
    unsubscribe_all(*core_);
    throw;
  }
}

signals::signals(const sigset_t& signos, enum backend kind)
    : signals(detail::signals_in(signos), signals_options{kind, signals_options{}.realtime_capacity}) {}

signals::signals(const sigset_t& signos, const signals_options& options)
    : signals(detail::signals_in(signos), options) {}

signals::~signals() {
  if (!core_) return;
  core_->close();
  unsubscribe_all(*core_);
}

signals::signals(signals&&) noexcept = default;

signals& signals::operator=(signals&& other) noexcept {
  if (this != &other) {
    if (core_) {
      core_->close();
      unsubscribe_all(*core_);
    }
    core_ = std::move(other.core_);
  }
  return *this;
}

// A moved-from object (core_ == nullptr) behaves as a closed one with no subscriptions (see the
// header): every member checks core_ first.

namespace {

// add() of the object (`may_block`) or of a handle. Closed is checked under the mutex: a close()
// and unsubscribe_all() of the destructor that took the mutex first leave nothing to subscribe to.
void add_to(detail::signals_core* c, int signo, bool may_block, const char* none,
            const action* companion = nullptr, action_id* companion_id = nullptr) {
  std::optional<change_lock> lock;
  if (c != nullptr) lock.emplace(*c);
  if (c == nullptr || c->closed()) {
    detail::throw_error(std::make_error_code(std::errc::bad_file_descriptor),
                        "sigrelay::signals: cannot subscribe to " + detail::describe_signal(signo) +
                            (c != nullptr ? ": the object is closed" : none));
  }
  detail::deferred_lifts lifts;  // a failure after add_action() leaves other objects' blocks alone
  subscribe(*c, signo, may_block, companion, companion_id);
  lifts.commit();
}

}  // namespace

namespace detail {
action_id subscribe_access::add_with(signals& s, int signo, action companion) {
  action_id id{};
  add_to(s.core_.get(), signo, /*may_block=*/true, ": the object was moved from", &companion, &id);
  return id;
}
}  // namespace detail

void signals::add(int signo) {
  add_to(core_.get(), signo, /*may_block=*/true, ": the object was moved from");
}

void signals::remove(int signo) {
  if (core_) unsubscribe(*core_, signo);
}

void signals::handle::add(int signo) {
  add_to(core_.get(), signo, /*may_block=*/false, ": the handle refers to no object");
}

void signals::handle::remove(int signo) {
  if (core_) unsubscribe(*core_, signo);
}

std::vector<signal_event> signals::pending() {
  std::vector<signal_event> events;
  pending(events);
  return events;
}

std::size_t signals::pending(std::vector<signal_event>& events) {
  if (!core_) {
    events.clear();
    return 0;
  }
  if (__builtin_expect(core_->iter_left != 0, 0)) {
    return pending_with_leftovers(*core_, events);
  }
  return drain(*core_, events);  // clears `events` first
}

std::vector<signal_event> signals::wait() {
  std::vector<signal_event> events;
  wait(events);
  return events;
}

namespace {

// wait(std::vector&) but for its first look on the relay backend: out of line, and reached by a tail
// call (the signalfd backend's wait pays a few instructions for the split, not a second frame).
[[gnu::noinline]] std::size_t wait_whole(detail::signals_core* c, std::vector<signal_event>& events) {
  events.clear();
  if (c != nullptr) wait_impl(*c, -1, nullptr, events);
  return events.size();
}

// The first look of wait_impl() on the relay backend, with nothing left over from the iterator, is
// one drain: done here first, so that a wait that finds its signal already there (a busy consumer,
// a ping-pong's reply) pays neither wait_impl()'s frame nor its set-up (under callgrind, 16
// instructions less per delivery through wait(std::vector&), 27 through the iterator:
// bench/deliveries.cc). A drain that finds nothing goes on to the whole wait, whose own first drain
// then looks again (an empty drain more, before a sleep). Inlined into wait(std::vector&) and the
// iterator's advance(), which then calls drain() itself.
[[gnu::always_inline]] inline std::size_t wait_first_look(detail::signals_core* c,
                                                          std::vector<signal_event>& events) {
  if (c == nullptr || c->kind != backend::relay || c->iter_left != 0) return wait_whole(c, events);
  if (const std::size_t n = drain(*c, events); n != 0) return n;  // (it clears `events` first)
  return wait_whole(c, events);
}

}  // namespace

std::size_t signals::wait(std::vector<signal_event>& events) { return wait_first_look(core_.get(), events); }

std::vector<signal_event> signals::wait_for(std::chrono::nanoseconds timeout) {
  std::vector<signal_event> events;
  if (core_) wait_impl(*core_, std::max<long long>(0, timeout.count()), nullptr, events);
  return events;
}

std::vector<signal_event> signals::wait_unless(std::chrono::nanoseconds timeout,
                                               const std::atomic<bool>& stopped) {
  std::vector<signal_event> events;
  if (core_) wait_impl(*core_, std::max<long long>(0, timeout.count()), &stopped, events);
  return events;
}

std::size_t signals::wait_unless(std::chrono::nanoseconds timeout, const std::atomic<bool>& stopped,
                                 std::vector<signal_event>& events) {
  events.clear();
  if (core_) wait_impl(*core_, std::max<long long>(0, timeout.count()), &stopped, events);
  return events.size();
}

void signals::interrupt_wait() const noexcept {
  if (core_) core_->interrupt();
}

int signals::native_handle() const noexcept {
  if (!core_) return -1;
  if (core_->kind == backend::signalfd) {
    detail::signals_core& c = *core_;
#if SIGRELAY_LINUX
    // Once given, the handle's set keeps the signalfd (leave_epoll_set() looks at handle_given under
    // the mutex): no lock after the first call. A fork child's copy is left as it is.
    if (c.handle_given.load(std::memory_order_seq_cst) && c.signalfd_in_epoll.load(std::memory_order_seq_cst))
      return c.epoll_fd;
    if (c.foreign()) return c.epoll_fd;
    const std::lock_guard<std::mutex> lock(c.mutex);
    c.handle_given.store(true, std::memory_order_seq_cst);
    if (!c.signalfd_in_epoll.load(std::memory_order_seq_cst)) {
      if (!add_to_epoll(c, c.signal_fd) && errno != EEXIST)
        return -1;  // errno: ENOMEM or ENOSPC (see the header); a later call tries again
      c.signalfd_in_epoll.store(true, std::memory_order_seq_cst);
    }
#endif
    return c.epoll_fd;
  }
  core_->want_fd();
  return core_->read_fd;
}

std::uint64_t signals::dropped() const noexcept { return core_ ? core_->sink.dropped.load() : 0; }

std::uint64_t signals::dropped(int signo) const noexcept {
  return core_ && signo > 0 && signo < NSIG ? core_->sink.dropped_by[signo].load() : 0;
}

enum backend signals::backend() const noexcept { return core_ ? core_->kind : backend::relay; }

signals::handle signals::get_handle() const { return handle(core_); }

bool signals::is_closed() const noexcept { return !core_ || core_->closed(); }

bool signals::is_inherited() const noexcept { return core_ && core_->foreign(); }

void signals::handle::close() noexcept {
  if (core_) core_->close();
}

bool signals::handle::is_closed() const noexcept { return !core_ || core_->closed(); }

// The iterator refills the object's batch vector through wait(std::vector&): its capacity is reused.
// An event counts as taken once yielded; the rest of the batch stays in the object (take_leftovers()).
// advance() is inlined into operator++() and the constructor, its only callers: a call less per
// event handed out (6 instructions per delivery through the iterator under callgrind).
[[gnu::always_inline]] inline void signals::iterator::advance() {
  detail::signals_core* const c = owner_->core_.get();
  if (c == nullptr) {
    owner_ = nullptr;
    current_ = nullptr;
    return;
  }
  if (c->iter_left != 0 && !c->foreign_cached()) {
    current_ = &c->iter_batch[c->iter_batch.size() - c->iter_left--];
    return;
  }
  c->iter_left = 0;
  const std::size_t n = wait_first_look(c, c->iter_batch);  // wait(c->iter_batch), inline; clears it first
  if (n == 0) {
    owner_ = nullptr;
    current_ = nullptr;
    return;
  }
  current_ = c->iter_batch.data();
  c->iter_left = n - 1;
}

signals::iterator::iterator(signals* owner) : owner_(owner) { advance(); }

signals::iterator& signals::iterator::operator++() {
  advance();
  return *this;
}

}  // namespace sigrelay
