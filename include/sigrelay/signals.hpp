// SPDX-License-Identifier: MIT
// sigrelay/signals.hpp — signals relayed out of handler context into ordinary code.
//
// A `signals` object subscribes to a set of signals and hands each delivery to ordinary code: through
// a blocking iterator, a non-blocking pending(), a timed wait, or a pollable file descriptor for any
// event loop. Nothing is lost: standard signals coalesce (the kernel itself keeps at most one pending
// instance of each), but every event says how many deliveries it stands for; realtime signals keep
// every siginfo in a bounded ring whose overflow is counted exactly by dropped(), each signal number's
// in the order sent (see signal_event for what holds across numbers).
//
// Example:
//
//   sigrelay::signals sigs{SIGINT, SIGTERM, SIGHUP};
//   for (const sigrelay::signal_event& e : sigs) {
//     std::cout << e << '\n';  // SIGHUP x1 from pid 4242 (user, uid 1000, trusted)
//     if (e.signo != SIGHUP) break;
//   }
//
// Backends
//   backend::relay (default): a registry action per signal records the delivery and wakes the
//     consumer (a futex for a blocked wait(), an eventfd for native_handle()). Signals stay unblocked,
//     so children inherit nothing unusual (but see "Realtime floods": a thread created while its creator
//     holds). Works whatever thread the kernel picks.
//     With the posix platform layer (SIGRELAY_PLATFORM=posix; README, "Platforms"): no futex and no
//     eventfd: native_handle() is the read end of a non-blocking, close-on-exec pipe the object owns
//     (with its write end), and wait() sleeps in poll() on it; a drain reads the pipe until empty.
//   backend::signalfd (Linux, opt-in; with the posix platform layer the constructor throws
//     std::system_error with std::errc::operation_not_supported, before anything is subscribed): the signals
//     are blocked in the thread that subscribes them (the constructor's, or add()'s) and read synchronously
//     from a signalfd, with full siginfo. A signal sent to that thread itself (tgkill(), pthread_kill(),
//     pthread_sigqueue()) is pending for that thread alone, and a signalfd read returns only the
//     reading thread's own pending signals and the process's: it is read by a drain on that thread, and
//     never by a consumer on another thread; it comes through the handler (recorded) when that thread's
//     block is lifted (remove(), destruction). So consume on the thread that subscribes. Threads that do not
//     block them still relay through the same actions, so nothing is lost or fatal. Children must get the
//     original mask back: fork() does (a pthread_atfork handler), posix_spawn() does only through
//     sigrelay::spawn_attr (<sigrelay/spawn.hpp>); plain posix_spawn() and system() children inherit the
//     blocked signals.
//     - Other subscribers of the same signal: a signal is blocked only while this object's action is
//       its only registry action. If any other exists when it subscribes (another `signals` of either
//       backend, a dispatcher, a termination, an add_action()), it does not block that signal; if one is
//       added later in the thread that holds the block, that thread's block is lifted at once (a
//       block held by another thread stays, and so does the copy a thread inherited when it was
//       created while the block was held). Either way the object then receives that signal through
//       the handler, like backend::relay, and keeps doing so after the others leave. So a block never
//       hides a delivery from another subscriber in the same thread: each object gets every delivery
//       promptly, whatever the backends.
//     - The realtime ring: a drain reads from the signalfd no more siginfos than the ring has room
//       for (less its reserve, see "Realtime floods", once the process has had a second thread),
//       nor more than the ring of any other `signals` object of the same realtime signal has room
//       for (a siginfo read goes to every subscriber). The rest stay queued in the kernel (up to
//       RLIMIT_SIGPENDING; the kernel refuses a sigqueue() beyond that, the sender sees EAGAIN) and
//       come with a later pending()/wait(): so dropped() stays 0 for signals read from the signalfd,
//       here and in the other objects. While this object's own ring is full they keep native_handle()
//       readable. While another object's ring is full, the signals it shares leave this object's
//       signalfd until that object's consumer drains: native_handle() is not readable for them
//       meanwhile (no consumer spins), and that drain wakes this object as a delivery would. So a
//       consumer that stops draining one object holds up these signals for the signalfd-backed
//       objects beside it too, as a hold does for every subscriber (see "Realtime floods"). An object
//       made in a fork child of a follow_fork object is not minded there. From a drain's
//       read until what it read is recorded, a realtime signal of the object that reaches the
//       handler (in any thread) holds, so it is recorded after them. Realtime signals that reach
//       the object through the handler (another thread that does not block them) can still find
//       the ring full; remove() reads what is queued of the removed signal (see remove()). Those
//       and the ones read from the signalfd are two streams: each keeps its order, but their
//       interleaving in the ring follows when each was taken, not when each was sent. Block the
//       signals in every thread (create threads after the object) for one order.
//     - Chained handlers: a handler installed before sigrelay (see registry.hpp, Chaining) is called
//       for each siginfo read from the signalfd, in the reading thread (inside pending(), wait*(),
//       the iterator or remove()). A SA_SIGINFO one gets a real ucontext_t (never null), captured
//       with getcontext() in that thread once per read that returns a signal with such a handler
//       (for other signals current_ucontext() is null there: getcontext() costs a system call): its registers
//       (PC, stack pointer) and signal mask are those of the reading thread inside sigrelay, not of an
//       interrupted instruction (a signal read from a signalfd interrupted nothing). Profilers that sample
//       the PC see the reader; the context must not be resumed with setcontext() (the frame it was taken in
//       is gone).
//
// Realtime floods (both backends)
//   The realtime ring is bounded (signals_options::realtime_capacity); the kernel queues up to
//   RLIMIT_SIGPENDING realtime signals per user (`ulimit -i`) and refuses a sigqueue() beyond that
//   with EAGAIN, which the sender sees. sigrelay keeps everything the kernel queued:
//   - signalfd backend: a drain reads no more than the ring has room for (less its reserve, below,
//     once the process has had a second thread); the rest stays queued.
//   - Deliveries through the handler (relay backend, and threads that do not block the signals of a
//     signalfd-backed object): when the ring is full, the handler *holds*: it sends the siginfo it
//     got back to its own thread (rt_tgsigqueueinfo(); si_code, pid, uid and value unchanged) and
//     blocks the signal in that thread until the consumer has room, so the kernel keeps the rest
//     queued. The hold is taken before any action runs, once the ring has fewer than its reserve of
//     free cells (capacity / 8, at least 1, at most 64): the whole delivery waits in the kernel, so
//     every action of the signal (other `signals` objects, other registry actions, an earlier
//     handler chained) sees it exactly once, after the lift, and holds work beside them too. Holds
//     are lifted by the consumer's next drain (pending(), wait*(), the iterator): in the consumer's
//     thread at once, in other threads by a poke (a SIGURG or SIGWINCH, as under "Masks"; the drain
//     waits up to a second for each holding thread that blocks both, see below). sigrelay's handler
//     runs with every signal but the faults blocked (its sa_mask), and a handler it chains with
//     SIGURG and SIGWINCH blocked, so that a poke never runs nested inside either. Order per signal
//     number is kept where one thread receives the signal (see signal_event): a hold blocks it only
//     in the thread that holds, so meanwhile another thread that leaves it unblocked takes, and
//     records, the later deliveries first. If the kernel refuses the re-queue (RLIMIT_SIGPENDING
//     reached, as senders that retry on EAGAIN keep it; or a kill()/tgkill() siginfo, si_code >= 0,
//     in a thread other than the main one: the kernel lets a thread forge those only as itself),
//     the hold keeps that one siginfo itself (one per signal and thread) and runs it before
//     anything else of the signal reaches that thread: still held, never dropped for that. A lift
//     that finds such a siginfo's ring (or another ring of the signal) nearly full again keeps that
//     signal held, with it, and lifts the rest; the next drain's poke lifts it. dropped() counts a
//     delivery that found the ring full only where a hold is impossible: more than 256 threads hold
//     at once, more deliveries than the reserve raced past the check at once while the signal has
//     other subscribers (any other registry action, another `signals` object, an earlier handler
//     chained), the object is removing a realtime signal (remove(), destruction; a signalfd-backed
//     object then reads what is queued of it into its own ring, and leaves queued what another
//     object's nearly full ring would have to drop), the program runs under ThreadSanitizer (which
//     runs handlers on a copy of the interrupted context: a block there would not stick), or the
//     library uses the posix platform layer (holds need Linux's rt_tgsigqueueinfo(): there every
//     delivery that finds the ring full is counted by dropped()).
//   - So a program that stops draining keeps its held signals blocked in the threads that held them
//     (and the kernel's queue full): the sender sees EAGAIN, and the signal's other actions see
//     nothing more until the drain either. A thread that holds also keeps thread-directed
//     deliveries of that signal pending until the lift.
//   - A thread that exits while it holds: the kernel discards the siginfo the hold re-queued to it
//     (one per signal it holds), but the hold kept a copy (or the siginfo itself, see above). The
//     object's next drain (or remove(), destruction) runs each such delivery on the draining
//     thread, as a signalfd read would: every action of the signal sees it once (this object
//     records it, or counts it in dropped() if the ring is full again), later than deliveries that
//     came meanwhile. Signals sent to that thread itself (tgkill(), pthread_sigqueue()) while it
//     held are discarded with it, uncounted, as the kernel discards any thread's own pending
//     signals.
//   - A lift unblocks what the hold blocked: a thread that blocks a held signal itself meanwhile
//     (pthread_sigmask) finds it unblocked after the lift.
//   - A thread that holds and then blocks both pokes itself (a helper thread that blocks every
//     signal first thing, but was hit by the flood before it did) cannot be poked: the delivery it
//     holds stays with it until it unblocks SIGURG or SIGWINCH (the next drain then pokes it), runs
//     a drain of its own, or exits (then a drain runs it, as above). Drains wait up to a second for
//     such a thread once, then only look at its mask until it lifts: the rest of the flood goes on.
//     Its hold also outlives the end of the subscription (remove(), destruction: the teardown waits
//     a second for it at most, as for any holder, but cannot poke it): when it later unblocks the
//     signal, the held delivery reaches the signal's actions then, or, if none is left, meets the
//     disposition restored (SIG_DFL of a realtime signal ends the process); if it exits instead, a
//     later drain of any object runs it for the actions left, as above.
//     Start such threads with every signal already blocked (block them in the creating thread
//     around pthread_create(): the new thread inherits the mask), so that no delivery reaches them.
//   - A thread created by a thread while it holds (pthread_create() between the hold and its lift)
//     inherits the block as part of its initial mask, as any mask is inherited: that block is the
//     new thread's own, which no lift undoes, and its fork() and spawn_attr children inherit it
//     too (as for signalfd blocks, see "Masks"). The relay backend's "signals stay unblocked"
//     holds outside such a flood; a thread made while a flood is held can unblock in its start.
//   - Memory: none beyond the ring and a static table of holding threads (256 entries, with room
//     for one siginfo per realtime signal each); the kernel keeps the rest (RLIMIT_SIGPENDING
//     bounds it).
//   - Ending a realtime subscription (remove(), close(), destruction) on a thread that holds: the
//     deliveries its holds keep pending are taken synchronously, still blocked, at most the ring's
//     capacity + 64 of them (recorded, or counted in dropped() once the ring is full); the hold is
//     lifted only after the action is gone. The taking stops while another object's ring of the
//     signal would hold (nearly full, or its consumer recording a signalfd read): what is left stays
//     queued and reaches the actions left after the lift, where that ring holds it again, so that
//     ring drops none of it. The object being removed does not see those (not delivered yet, they
//     come after its subscription ends), and does not count them in dropped(). Other threads that
//     hold for the object are poked, as by a drain, and the teardown waits (up to a second for
//     each) until that thread's mask no longer blocks the signal; a delivery that was about to hold
//     as the teardown began does not hold. What a flood still queues after that meets the
//     following disposition (an earlier SIG_IGN discards it; SIG_DFL of a realtime signal ends the
//     process).
//   - Ending a realtime subscription on any thread: that thread blocks the signal while it does (if
//     it did not block it already) and unblocks it once the action is gone. Nothing is held for the
//     ending subscription any more, so no ring pushes back: a flood would otherwise keep the thread
//     in its handler, one delivery after another, and the teardown would not end while the flood
//     lasted. Meanwhile the flood waits in the kernel's queue or goes to other threads; what is
//     still queued when the thread unblocks meets the actions left, or the following disposition,
//     as above.
//
// Exit: static objects, exit() from any thread, signals during static destruction
//   An object with static storage duration (or one a static destructor destroys) is torn down by
//   exit() like any other: its actions are removed (each waits until no handler runs them) and the
//   disposition saved by the first subscriber is restored when the last one goes, before anything
//   of the object is freed. A signal delivered at any point of exit() therefore finds either the
//   object's action, which is still whole, or no action and the restored disposition: never freed
//   memory. The registry and the handler's state are never destroyed (constant-initialised or leaked
//   on purpose), so a signal delivered after every sigrelay object is gone, during the remaining
//   static destructors or the atexit handlers, meets the saved disposition through the trampoline
//   (SIG_DFL/SIG_IGN as before sigrelay, or the earlier handler chained) until the process ends. A
//   destructor finishes under a flood (tests/exit_race_test.cc) except on a thread whose signals the
//   flood keeps unblocked and pending faster than its handler runs: the kernel runs the handler on
//   every return to user space, so that thread makes no progress (true of any handler).
//   exit() from another thread while a thread waits in wait() on an object that exit() does not
//   destroy (a local of main(), or of that thread): the waiting thread keeps waiting until the
//   process ends; nothing it uses is destroyed. Destroying an object that another thread is still
//   using (a static one waited on while exit() runs) is the caller's error, as for any object.
//   _exit() from an action or a chained handler ends the process at once; nothing is torn down.
//
// Masks (signalfd backend)
//   A signal mask belongs to one thread. sigrelay blocks a signal in the thread that subscribes it
//   only if that thread does not block it already (a block the program set itself is never sigrelay's
//   to lift) and the object is the signal's only subscriber (see Backends), and counts, per thread and
//   signal, the objects that want it blocked there.
//   - The block is lifted in the thread that set it when its last object there lets go, whatever
//     thread destroys the object or calls remove() (or dispatcher::off()). The calling thread's own
//     mask is never changed by a teardown of another thread's block.
//   - On the owner thread, at once. From another thread: the owner is interrupted by a poke, a
//     thread-directed SIGURG (or SIGWINCH if it blocks SIGURG), both ignored by default, sent with
//     sigqueue-style data that sigrelay's handler recognises: it lifts the block (and runs no action,
//     chains no handler for it). The teardown waits until the owner has done so (normally at once;
//     at most about a second, if the owner is stopped), so after ~signals() returns on thread B, thread
//     A's mask no longer blocks the signal and a kill() of it acts on the process as usual. For the
//     poke, SIGURG/SIGWINCH have sigrelay's handler for that moment (a previous handler is still
//     chained for real deliveries).
//   - When the owner blocks both SIGURG and SIGWINCH, or does not take the poke in time, the block is
//     lifted at the owner thread's next pending(), wait*(), add(), remove(), construction or
//     destruction of any `signals` object (or dispatcher::on()/off()), or at the next run of
//     sigrelay's handler on that thread; a fork() from that thread gives the child the mask without it.
//     Until then that thread still blocks the signal (and so may keep a process-directed delivery
//     pending, as with any blocked signal).
//   - If a thread saves its mask, sigrelay lifts its block meanwhile, and the thread then restores the
//     saved mask (pthread_sigmask(SIG_SETMASK, &saved)), the block is back as the program's own.
//   - A thread created while its creator held sigrelay's blocks inherits them as part of its initial
//     mask, like any mask; they are that thread's own blocks, which sigrelay neither lifts nor removes
//     from fork or spawn_attr children of that thread. Fork or spawn from the thread that subscribed,
//     or create threads before the object, or unblock in the new thread.
//   - At most 256 threads at a time can hold signalfd blocks; the 257th subscribing thread gets
//     std::errc::resource_unavailable_try_again.
//
// Thread safety
//   One consumer thread at a time calls pending(), wait*() and the iterator. The handle from
//   get_handle() may be used from any thread, and outlives the object safely: its close(), and its
//   add()/remove() that change the subscriptions while the consumer waits (see signals::handle).
//   add()/remove() of the object itself are safe against those of a handle and against a running
//   pending()/wait*(), but on the signalfd backend add() blocks the signal in the calling thread: call
//   them from the consumer thread. One mutex per object orders subscription changes and the
//   consumer's reads (the drain inside pending(), wait*() and the iterator); it is not held while
//   wait() sleeps, and never in signal context. The other members (native_handle(), dropped(),
//   backend(), is_closed()) may be called from any thread; destruction and moving need the object to
//   be otherwise unused, as for any object (handles stay valid).
//
// Errors
//   Functions not declared noexcept throw std::system_error (the signal named in the message); a
//   failed constructor or add() leaves the process's signal state as it was (every disposition, the
//   masks, the registry's actions) and holds no descriptor. That covers running out of descriptors
//   (EMFILE from eventfd() (pipe() on the posix platform layer), signalfd() or epoll_create1(): the
//   constructor throws, the message says which descriptor) and of memory (std::bad_alloc, or
//   std::system_error with std::errc::not_enough_memory from add_action(), naming the signal).
//   remove() and the destructor never fail (see remove_action() in <sigrelay/registry.hpp>). An
//   interrupted system call (EINTR) is retried or ends a sleep that then looks again; an EAGAIN
//   from a wake-up write (close(), a stop request) never loses the wake-up.
//
// Fork
//   After fork(), the child's copy of an object is dead (unless it was made with
//   signals_options::follow_fork: "Following fork" below): nothing it receives is recorded, and nothing
//   the child does with it (pending(), wait*(), close(), destroying it, exit() running a global
//   object's destructor) reads or writes the descriptors it shares with the parent or changes the
//   parent's signalfd, so it never wakes or robs the parent's consumer. pending() and wait*() return
//   nothing at once; add() throws (std::errc::operation_not_permitted). Create new objects in the child.
//   - Masks: the child gets the forking thread's mask minus what sigrelay blocked in that thread.
//   - Dispositions: in the child, a signal whose every subscriber is such an inherited object gets
//     back the disposition it had before sigrelay (SIG_DFL, SIG_IGN, or a handler), so a pre-fork
//     worker that keeps the parent's objects dies by SIGTERM as if sigrelay were not there. A signal
//     that also has other actions (a registry action, a relay, a termination watcher) keeps sigrelay's
//     handler and those actions. A new object in the child subscribes as usual and receives.
//     Between fork() and the child's fork handler every signal is blocked in the forking thread, so a
//     signal sent to the child at once is held until its disposition is right.
//   - _Fork() runs no fork handlers: the child keeps the forking thread's mask, sigrelay's blocks
//     included, and the parent's dispositions; inherited objects still never read or write the
//     shared descriptors (a getpid() check next to each eventfd access), so the parent's consumer is
//     neither woken nor robbed. Call sigrelay::after_fork_in_child() (<sigrelay/registry.hpp>) first
//     thing in such a child to get the masks and dispositions that fork() gives; a `signals`
//     constructor in such a child calls it itself, if it was not called yet, so the new object is the
//     child's own.
//   - Another thread of the parent inside the object at the fork (draining it, or changing its
//     subscriptions through a handle) is not in the child; nothing the child does with its copy waits
//     for it.
//   - Following fork (signals_options::follow_fork): the child's fork handler makes the copy the
//     child's own instead. It gets a new wake-up descriptor under the same number (native_handle() is
//     unchanged; a poller set up again in the child, as uv_loop_fork() and event_reinit() do, watches
//     the child's, and the parent's is untouched), what the parent had recorded and not drained is
//     dropped in the child (the parent hands it out), and its signals keep sigrelay's handler: what
//     the child receives from then on is recorded and handed out in the child, as in any object the
//     child made, and a child that never drains it no longer dies by those signals. The copy stays
//     dead, as without the option, if it was closed, if another thread of the parent was inside it
//     at the fork, or if the new descriptor could not be made (is_inherited() tells). After _Fork()
//     the same happens when after_fork_in_child() runs (the constructor of a new object calls it);
//     until then the copy is dead. A fork made inside a delivery (by a registry action or a chained
//     handler) leaves that delivery to the parent: the child's copy does not record it.
#pragma once

#include <sys/types.h>
#include <array>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "sigrelay/export.hpp"
#include "sigrelay/registry.hpp"

#if __cplusplus >= 202002L && __has_include(<stop_token>)
#include <stop_token>
#endif

namespace sigrelay {

// Who or what sent a signal, as told by si_code.
enum class origin_kind {
  user,    // kill(), raise() (SI_USER)
  queue,   // sigqueue() / rt_sigqueueinfo() (SI_QUEUE): pid and uid are the sender's word only
  thread,  // tgkill(), pthread_kill() (SI_TKILL)
  kernel,  // the kernel itself: SIGPIPE on a closed pipe, alarm(), faults, terminal (SI_KERNEL, > 0)
  timer,   // a POSIX timer expired (SI_TIMER)
  child,   // SIGCHLD about a child (CLD_*): pid is the child's, child_status its status
  other,   // SI_MESGQ, SI_ASYNCIO, SI_SIGIO, anything else
};
SIGRELAY_EXPORT std::string_view to_string(origin_kind kind) noexcept;

// The sender of one delivery, copied from siginfo_t in the handler.
struct origin {
  pid_t pid = 0;  // sender (or child, for kind == child); 0 where siginfo has none
  uid_t uid = 0;
  int code = 0;  // si_code
  origin_kind kind = origin_kind::other;
  // Whether pid/uid were filled in by the kernel. A same-user process can forge any pid/uid with
  // rt_sigqueueinfo(), but only with a negative si_code other than SI_TKILL: so SI_QUEUE (and the
  // other negative codes) are never trusted. Filters like "only from my parent" need trusted == true.
  bool trusted = false;
  union sigval value {};  // sigqueue() payload
  int child_status = 0;   // SIGCHLD: si_status (exit code, or the signal that killed/stopped it)
};

// Classifies a siginfo. Async-signal-safe.
SIGRELAY_EXPORT origin origin_of(const siginfo_t& info) noexcept;

// One entry handed out by `signals`: `count` >= 1 deliveries of `signo` coalesced since the last
// event of it, `last` the origin of the latest one. Within one batch, standard signals come first
// (ascending numbers), then realtime ones.
// Realtime signals always have count == 1 and come in the order recorded. What that means:
// - Per signal number, the order sent, when one thread receives them (a signalfd read, or one thread
//   that does not block them): the kernel queues each number's siginfos in order and hands them out
//   in that order. (Two queued signals handed to two threads at once may be recorded either way
//   round.)
// - Across numbers, no send order is kept. Of several pending realtime signals, the kernel hands out
//   the lowest-numbered first, to a signalfd read and to a handler alike (sigrelay's handler blocks
//   every signal but the faults while it runs: the next frame is set up only after it returned):
//   queued together, RTMIN+1, RTMIN, RTMIN+1, RTMIN (values 0, 1, 2, 3) come out as RTMIN (1),
//   RTMIN (3), RTMIN+1 (0), RTMIN+1 (2) in both backends. Signals that arrive one at a time, each
//   handled before the next is sent, come in the order sent. Use one number, or the sigqueue value,
//   where the order across numbers matters.
struct signal_event {
  int signo = 0;
  std::uint64_t count = 0;
  origin last;
};

// Printing
//
// Text for logs, the same through to_string(), operator<< and the fmt formatters
// (<sigrelay/fmt.hpp>). Not async-signal-safe (they allocate): ordinary code only.
// - origin_kind: its to_string() above ("user", "queue", ...).
// - origin, when it names a sender (pid != 0):
//     "pid <pid> (<kind>, uid <uid>, trusted|untrusted[, status <child_status>][, value <sival_int>])"
//   status for kind == child, value for kind == queue (and timer: the timer's sigev_value); for
//   example "pid 123 (user, uid 1000, trusted)", "pid 77 (queue, uid 1000, untrusted, value 42)".
//   Otherwise: "<kind> (code <si_code>, trusted|untrusted[, value <sival_int>])", e.g. "kernel (code
//   128, trusted)", "timer (code -2, untrusted, value 7)".
// - signal_event: "<signal_name> x<count> from <origin>", e.g. "SIGINT x2 from pid 123 (user, uid
//   1000, trusted)"; a number that names no signal prints as "signal <n>".
// operator<< writes the same text as to_string(), as a std::string would be written (a width set on
// the stream pads it).
SIGRELAY_EXPORT std::string to_string(const origin& o);
SIGRELAY_EXPORT std::string to_string(const signal_event& e);
SIGRELAY_EXPORT std::ostream& operator<<(std::ostream& out, origin_kind kind);
SIGRELAY_EXPORT std::ostream& operator<<(std::ostream& out, const origin& o);
SIGRELAY_EXPORT std::ostream& operator<<(std::ostream& out, const signal_event& e);

enum class backend { relay, signalfd };

// The signals that ask a program to terminate, in this order: SIGTERM (kill's default, service
// managers), SIGQUIT (Ctrl+\ at a terminal) and SIGINT (Ctrl+C). SIGHUP is left out on purpose:
// daemons take it as "reload", and it means "terminal gone" only to interactive programs. A range of
// ints, so it constructs a `signals` directly: `sigrelay::signals sigs{sigrelay::termination_signals};`
inline constexpr std::array<int, 3> termination_signals{SIGTERM, SIGQUIT, SIGINT};

struct signals_options {
  enum backend backend = backend::relay;
  // Records kept for realtime signals between drains (rounded up to a power of two, at least 2;
  // allocated with the first realtime signal subscribed). A delivery that finds the ring full is *held* (see
  // "Realtime floods" in the class comment): the kernel keeps it and the rest of the flood queued
  // until the consumer has room, so nothing is dropped. Only where a hold is impossible is it
  // counted by dropped(), in all and per signal, never lost silently. At most max_realtime_capacity:
  // a larger value makes the constructor throw std::system_error (std::errc::invalid_argument,
  // naming the capacity and the limit) before anything is subscribed.
  std::size_t realtime_capacity = 1024;

  // 2^24 = 16,777,216 records (a few dozen bytes each, so about 640 MiB of ring on 64-bit Linux):
  // far above what the kernel itself queues (RLIMIT_SIGPENDING, per user), and far below where the
  // rounding up to a power of two or the ring's size could overflow.
  static constexpr std::size_t max_realtime_capacity = std::size_t{1} << 24;

  // What a fork() child does with its copy of the object (see "Fork" in the class comment): false,
  // the default, it is dead there; true, it goes on in the child as the child's own, as libuv's
  // watchers go on after uv_loop_fork() (sigrelay's uv and libevent watchers ask for it). For
  // backend::relay only: with backend::signalfd the constructor throws std::system_error
  // (std::errc::invalid_argument), before anything is subscribed.
  bool follow_fork = false;
};

class dispatcher;

namespace detail {
struct signals_core;
struct c_consumer_access;  // src/detail.hpp: the C API's consumer (src/capi.cc)
struct subscribe_access;   // src/detail.hpp: add() with a second action (src/termination.cc)

// A timeout as nanoseconds, saturated: at most nanoseconds::max() (which wait_for() takes as "wait
// forever"), zero for a negative (or NaN) one; never an overflow.
template <typename Rep, typename Period>
std::chrono::nanoseconds saturated_ns(const std::chrono::duration<Rep, Period>& d) noexcept {
  const long double ns = std::chrono::duration<long double, std::nano>(d).count();
  if (!(ns > 0)) return std::chrono::nanoseconds::zero();
  if (ns >= static_cast<long double>(std::chrono::nanoseconds::max().count())) {
    return std::chrono::nanoseconds::max();
  }
  return std::chrono::nanoseconds(static_cast<std::chrono::nanoseconds::rep>(ns));
}

// Whether `R` is a range of int-convertible values: std::begin()/std::end() of a const R work and
// what they point to converts to int (C++17: no concepts).
template <typename R, typename = void>
struct is_signal_range : std::false_type {};
template <typename R>
struct is_signal_range<R, std::void_t<decltype(std::begin(std::declval<const R&>())),
                                      decltype(std::end(std::declval<const R&>()))>>
    : std::is_convertible<decltype(*std::begin(std::declval<const R&>())), int> {};

template <typename R>
std::vector<int> to_signal_vector(const R& range) {
  std::vector<int> out;
  for (auto it = std::begin(range), last = std::end(range); it != last; ++it)
    out.push_back(static_cast<int>(*it));
  return out;
}

std::vector<int> signals_in(const sigset_t& set);  // used only inside the library
}  // namespace detail

class SIGRELAY_EXPORT signals {
  using core = detail::signals_core;

 public:
  // Subscribes to `signos`. Errors: as add_action() (refused signals are named), and the errors of
  // eventfd()/signalfd(). Nothing is subscribed if anything fails.
  explicit signals(std::initializer_list<int> signos, enum backend kind = backend::relay);
  signals(std::initializer_list<int> signos, const signals_options& options);
  signals(const std::vector<int>& signos, const signals_options& options);
  // From any range of int-convertible values (a std::vector<int>, std::array, a C array, a span,
  // termination_signals, ...), each converted to int, in order; duplicates are subscribed once. A
  // std::vector<int> with options takes the constructor above. Errors as above.
  template <typename Range, typename = std::enable_if_t<detail::is_signal_range<Range>::value>>
  explicit signals(const Range& signos, enum backend kind = backend::relay)
      : signals(detail::to_signal_vector(signos),
                signals_options{kind, signals_options{}.realtime_capacity}) {}
  template <typename Range, typename = std::enable_if_t<detail::is_signal_range<Range>::value>>
  signals(const Range& signos, const signals_options& options)
      : signals(detail::to_signal_vector(signos), options) {}
  // From a sigset_t: every signal in it, ascending. Errors as above: a set that holds a signal that
  // cannot be subscribed (SIGKILL, SIGSTOP, those reserved by the C library, as sigfillset() adds
  // some of them) is refused, naming it; remove those with sigdelset() first.
  explicit signals(const sigset_t& signos, enum backend kind = backend::relay);
  signals(const sigset_t& signos, const signals_options& options);
  ~signals();  // unsubscribes (restoring a signal's disposition if it was the last subscriber)
  // Moving transfers the subscriptions (and every handle's target) to the new object. A moved-from
  // object behaves as a closed one that has no subscriptions: is_closed() is true, pending(), wait(),
  // wait_for() and wait_until() return empty at once, iteration ends at once, native_handle() is -1,
  // dropped() is 0, backend() is backend::relay, get_handle() returns a closed handle, add() throws
  // (see add()), remove() does nothing. It may be destroyed or assigned to.
  signals(signals&&) noexcept;
  signals& operator=(signals&&) noexcept;
  signals(const signals&) = delete;
  signals& operator=(const signals&) = delete;

  // Subscribes to one more signal / unsubscribes from one. add() of a present signal and remove() of
  // an absent one do nothing. Deliveries already recorded for a removed signal are still handed out.
  // signalfd backend: remove() first reads what the kernel still queues of that signal (counting a
  // realtime ring's overflow in dropped()) and wakes native_handle()/wait() for it as a handler
  // would; other signals' deliveries stay where they are and still wake the consumer. Of a realtime
  // signal that another object's ring also takes, it reads one siginfo at a time and stops while
  // that ring would hold (nearly full, see "Realtime floods"): the rest stays queued and reaches the
  // actions left once the removal is over, where that ring holds it until its consumer has room;
  // this object does not see it and does not count it in dropped().
  // signalfd backend: add() blocks in the calling thread (when it blocks, see Backends); remove() (and
  // the destructor) lift the block in the thread that set it (see "Masks" above).
  // Errors: add() on a closed (or moved-from) object throws std::system_error
  // (std::errc::bad_file_descriptor, naming the signal) and changes nothing; remove() works on a
  // closed object (it unsubscribes, restoring the disposition) and does nothing on a moved-from one.
  void add(int signo);
  void remove(int signo);

  // Events recorded so far; empty if none. Never blocks.
  std::vector<signal_event> pending();
  // The same into the caller's storage, for a loop that must not allocate: `events` is cleared, then
  // filled with what pending() would return, in the same order (standard signals ascending, then
  // realtime ones as recorded); returns events.size(). Its capacity is kept and reused, so once it
  // has grown to the largest batch seen, a call allocates nothing. Events left in `events` from an
  // earlier call are discarded (the clear comes first, also on a moved-from object, which returns 0).
  // Errors: only std::bad_alloc while `events` grows; what could not be stored stays recorded for
  // the next call (see the notes in src/signals.cc), and events already taken are in `events`.
  std::size_t pending(std::vector<signal_event>& events);
  // Blocks until at least one event, or until closed; empty only once closed (events recorded before
  // close() are still handed out first).
  // signalfd backend: sleeps in a blocking read() of the signalfd (one system call per wake-up, as
  // sigwaitinfo()) when only a signal can end the wait: the process is single-threaded (glibc's
  // __libc_single_threaded: no thread was ever created) and sigrelay blocks every subscribed signal
  // in this thread. A close() or interrupt_wait() made from a signal handler that interrupts such a
  // wait() (the only place another caller could be) takes effect at the next delivery, or at once
  // if that handler's signal is not SA_RESTART. Otherwise it sleeps in ppoll() on both fds.
  std::vector<signal_event> wait();
  // wait() into the caller's storage, as pending(std::vector&): cleared, then filled; returns
  // events.size(), 0 only once closed. The iterator uses it.
  std::size_t wait(std::vector<signal_event>& events);
  // As wait(), but also returns empty when the time is up. Any timeout is accepted, never overflows:
  // zero or negative polls once; one too long to add to steady_clock::now() (nanoseconds::max(),
  // hours::max(), ...) waits forever, as wait(). wait_until() measures the time left on `Clock`
  // once, then waits that long on steady_clock; a deadline in the past polls once, and
  // time_point::max() waits forever.
  std::vector<signal_event> wait_for(std::chrono::nanoseconds timeout);
  template <typename Rep, typename Period>
  std::vector<signal_event> wait_for(const std::chrono::duration<Rep, Period>& timeout) {
    return wait_for(detail::saturated_ns(timeout));
  }
  template <typename Clock, typename Duration>
  std::vector<signal_event> wait_until(const std::chrono::time_point<Clock, Duration>& deadline) {
    // In long double: neither `deadline` nor now() is converted to the other's duration, which could
    // overflow (time_point::max(), a deadline in hours, time_point::min()).
    using fine = std::chrono::duration<long double, std::nano>;
    const fine left = fine(deadline.time_since_epoch()) - fine(Clock::now().time_since_epoch());
    return wait_for(detail::saturated_ns(left));
  }

#if defined(__cpp_lib_jthread)
  // C++20: wait() and wait_for() that also end when `stop` is requested, returning empty: at once if
  // the stop was requested before the call (even with events pending: those stay recorded for a
  // later call), else as soon as it is requested, from any thread (a std::stop_callback wakes this
  // wait, without closing anything). Events already taken out of the object when the stop comes are
  // returned, never lost. Otherwise as wait() / wait_for() (which they are when `stop` can never be
  // requested). The stop wake-up may leave native_handle() readable once with nothing pending (a
  // spurious wake-up for a poller, which pending() clears). The thread that requests the stop runs
  // the callback: it takes no lock of this object and never blocks.
  // Made for a daemon's loop with sigrelay::termination (<sigrelay/termination.hpp>):
  //   while (!stop.stop_requested()) for (auto& e : hup.wait(stop.token())) reload_config();
  std::vector<signal_event> wait(std::stop_token stop) {
    return wait_for(std::chrono::nanoseconds::max(), std::move(stop));
  }
  std::vector<signal_event> wait_for(std::chrono::nanoseconds timeout, std::stop_token stop) {
    std::atomic<bool> stopped{false};
    const std::stop_callback wake(std::move(stop), [this, &stopped]() noexcept {
      stopped.store(true);
      interrupt_wait();
    });
    return wait_unless(timeout, stopped);
  }
  template <typename Rep, typename Period>
  std::vector<signal_event> wait_for(const std::chrono::duration<Rep, Period>& timeout,
                                     std::stop_token stop) {
    return wait_for(detail::saturated_ns(timeout), std::move(stop));
  }
#endif

  // Pollable: readable while events are pending (or after close()); hand it to poll/epoll/an event
  // loop, then call pending(). Owned by this object. Once close() was called it stays readable for
  // good, also when close() races a pending()/wait() on another thread. On the signalfd backend it
  // is also readable while siginfos the ring had no room for wait in the kernel (see Backends).
  // On the signalfd backend, the first wait*() that sleeps takes the signalfd out of this epoll set
  // unless native_handle() was called before (while in the set it costs every signal sent to the
  // process a wake-up callback in the kernel); the next native_handle() puts it back for good, and
  // returns -1 with errno ENOMEM or ENOSPC (fs.epoll.max_user_watches) if the kernel refuses (a later
  // call tries again). Call it before waiting to rule that out.
  int native_handle() const noexcept;

  // Realtime deliveries that found the ring full, since construction: in all, and of one signal.
  std::uint64_t dropped() const noexcept;
  std::uint64_t dropped(int signo) const noexcept;

  // Thread-safe closer and subscriber: close() wakes a blocked wait() or loop, which then ends. A
  // default-constructed handle, or one taken from a moved-from object, refers to nothing: it is
  // closed, close() does nothing. close() does not wait for handlers running on other threads: a
  // delivery whose handler is under way when close() comes (still in an action added before this
  // object's, say) may be recorded after it, and the wait() or loop that close() ended does not see
  // it. It stays recorded: a pending() made once that handler has returned hands it out.
  //
  // add()/remove() subscribe to one more signal / unsubscribe from one from any thread, also while the
  // consumer is blocked in wait(), the iterator or a poll() of native_handle(); as signals::add() and
  // signals::remove() in everything else (a present/absent signal, deliveries already recorded, the
  // errors: add() on a closed object, or on a handle that refers to nothing, throws std::system_error
  // with std::errc::bad_file_descriptor; a fork child's copy throws std::errc::operation_not_permitted).
  // Each call is atomic with respect to the consumer's drains and to other add()/remove() calls:
  // once add() returns, every later delivery is recorded and wakes the consumer; once remove()
  // returns, none is recorded. A consumer already asleep in wait() keeps waiting for the signals
  // subscribed now (an add() does not wake it; a remove() of the only signal leaves it asleep until
  // close()).
  // signalfd backend: a handle's add() never blocks the signal in any thread (a block belongs to the
  // thread that makes it, which would be the caller's, not the consumer's): the signal is added to
  // the signalfd's mask, and its deliveries reach the object through the handler, as with
  // backend::relay (or through the signalfd, where a thread blocks it on its own). Its remove() reads
  // what the kernel still queues of that signal, as signals::remove() does, and lifts a block the
  // consumer made for it (signals::add() or construction) in the consumer's thread (see "Masks":
  // at once, by a poke, when called from another thread). These may wait for a drain in progress to
  // end; they never wait for a consumer blocked in wait().
  class handle {
   public:
    handle() = default;
    void close() noexcept;
    bool is_closed() const noexcept;
    void add(int signo);
    void remove(int signo);

   private:
    friend class signals;
    explicit handle(std::shared_ptr<core> c) : core_(std::move(c)) {}
    std::shared_ptr<core> core_;
  };
  handle get_handle() const;
  bool is_closed() const noexcept;
  // Whether this is a fork child's copy that is dead there (see "Fork"): pending() and wait*() hand
  // out nothing, add() throws. False in the process that made the object, in a child that made it
  // its own (signals_options::follow_fork), and for a moved-from object.
  bool is_inherited() const noexcept;

  // Range-for: yields events one at a time, blocking between them, until closed. It takes events in
  // batches (wait()) and keeps the batch in the object: leaving a loop early (break, return, an
  // exception) loses nothing, the events it took but did not yield yet are handed out first by the
  // next loop, pending() or wait*() (alone, in the order taken). An event yielded stays valid until
  // the iterator is incremented, or the object is used otherwise.
  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = signal_event;
    using difference_type = std::ptrdiff_t;
    using pointer = const signal_event*;
    using reference = const signal_event&;

    iterator() = default;
    reference operator*() const { return *current_; }
    pointer operator->() const { return current_; }
    iterator& operator++();
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& a, const iterator& b) noexcept { return a.owner_ == b.owner_; }
    friend bool operator!=(const iterator& a, const iterator& b) noexcept { return !(a == b); }

   private:
    friend class signals;
    explicit iterator(signals* owner);
    void advance();
    signals* owner_ = nullptr;               // nullptr: the end
    const signal_event* current_ = nullptr;  // in the object's batch (src/signals.cc)
  };
  iterator begin() { return iterator(this); }
  iterator end() noexcept { return iterator(); }

  enum backend backend() const noexcept;

 private:
  // The dispatcher's relay-backend loop sleeps in wait_unless() (the futex) and its stop() calls
  // interrupt_wait().
  friend class dispatcher;
  // The C API hands out events in the caller's arrays and keeps what did not fit; it keeps
  // native_handle() readable for those (sigrelay.h).
  friend struct detail::c_consumer_access;
  // termination adds its kill in the same snapshot as the record (src/detail.hpp).
  friend struct detail::subscribe_access;

  // The engine of the std::stop_token overloads, in the C++17 ABI: wait_for(timeout), but returns
  // empty once `stopped` is true (checked before each drain and before each sleep); interrupt_wait(),
  // from any thread after `stopped` was set, wakes it. `stopped` must outlive the call.
  std::vector<signal_event> wait_unless(std::chrono::nanoseconds timeout, const std::atomic<bool>& stopped);
  // The same into the caller's storage (cleared, then filled, as pending(std::vector&)); returns
  // events.size().
  std::size_t wait_unless(std::chrono::nanoseconds timeout, const std::atomic<bool>& stopped,
                          std::vector<signal_event>& events);
  void interrupt_wait() const noexcept;

  std::shared_ptr<core> core_;
};

}  // namespace sigrelay
