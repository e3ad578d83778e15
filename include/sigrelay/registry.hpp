// SPDX-License-Identifier: MIT
// sigrelay/registry.hpp — the one owner of sigaction() in the process.
//
// The registry lets any number of independent pieces of code attach *actions* to a signal. The first
// action on a signal installs sigrelay's trampoline (SA_SIGINFO | SA_ONSTACK, SA_RESTART unless asked
// otherwise) and saves the previous disposition whole; removing the last action restores it, so that
// after every subscriber is gone the signal behaves exactly as it did before (Ctrl+C kills again).
//
// Example:
//
//   std::atomic<bool> stop{false};
//   sigrelay::action_id id = sigrelay::add_action(SIGINT, sigrelay::relay::set_flag(stop));
//   while (!stop.load()) do_some_work();
//   sigrelay::remove_action(id);   // Ctrl+C kills the process again
//
// Signal context
//   An action's `fn` runs inside a signal handler. It must be async-signal-safe (man 7
//   signal-safety): no locks, no allocation, no stdio, no exceptions (it is noexcept). It may run on
//   any thread, and concurrently on several threads. It runs with every signal blocked but the
//   faults (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS): sigrelay's handler is installed with
//   that sa_mask, so no other delivery runs nested inside it on its thread (one that arrives waits
//   in the kernel until the handler returns, then runs, the lowest signal number first); only a
//   fault's can, and a chained earlier handler's own mask (below) lets others into that handler. A
//   child that fork() makes inside an action gets the mask of the code the delivery interrupted,
//   plus SIGURG and SIGWINCH (a child of _Fork() or vfork() keeps the handler's: unblock before
//   exec()). The trampoline saves and restores errno around all actions. The relays in
//   <sigrelay/relays.hpp> are ready-made actions.
//   An action should return (or end the process, as relay::die_by_signal does). One that leaves by
//   siglongjmp is tolerated, not recommended. Nothing nests inside a run, so the jump abandons that
//   run only, never another delivery's half-made record (it used to: tests/longjmp_storm_test.cc).
//   remove_action() and every other change of the actions wait for running actions to return (see
//   remove_action), and wait for an abandoned one until its thread takes its next signal from a
//   shallower point of the same stack, or from off the alternate signal stack the action ran on
//   (x86-64 and AArch64; not under ThreadSanitizer), or until the action whose run it jumped back
//   into returns. That holds for any number of them: siglongjmp() puts the saved mask back before it
//   jumps, so with signals queued each next delivery runs inside the previous jump, as deep as the
//   queue (and the stack) goes, and all are released together. A thread that never takes another
//   signal keeps them waiting. Never leave an action by throwing (it is noexcept) or by longjmp
//   without "sig" (the signal mask would stay as the handler had it: everything blocked). Jump only
//   out of code that may be interrupted so (POSIX: async-signal-safe code): sigrelay's own ordinary
//   functions (pending(), wait(), add_action(), ...) are not.
//
// Chaining
//   A handler installed with sigaction() before the first action is called first, once per delivery,
//   the way the kernel would have called it: respecting its SA_SIGINFO flag, with its sa_mask (and
//   the signal itself unless SA_NODEFER) blocked while it runs, on top of the interrupted code's
//   mask, and nothing else but SIGURG and SIGWINCH (they poke threads, see signals.hpp, and must not
//   run nested inside sigrelay's handler; they wait until it returns): what the trampoline blocks
//   beyond that is unblocked for the call (two system calls) and blocked again for the actions;
//   only once if it has SA_RESETHAND
//   (then it counts as SIG_DFL, and SIG_DFL is what the last remove_action() restores), and for
//   SIGCHLD never about a stopped or continued child if it has SA_NOCLDSTOP. A previous SIG_DFL or
//   SIG_IGN is not "called". A SA_SIGINFO handler gets the kernel's ucontext_t, except for a delivery
//   that a signalfd-backed `signals` object read from its signalfd: that one is passed in the reading
//   thread with a ucontext_t that getcontext() captured there (never null; see signals.hpp,
//   Backends). For SIGCHLD, an earlier SIG_IGN or SA_NOCLDWAIT (children reaped by the kernel) and
//   SA_NOCLDSTOP stay in force while actions are subscribed: every action still hears of every child
//   that exits, and none becomes a zombie.
//   The earlier handler may leave by siglongjmp (a REPL's Ctrl+C handler, a fault probe): the
//   registry stays fully usable, and that delivery's actions do not run (the earlier handler took it,
//   as it would have without sigrelay).
//   If some other code replaces sigrelay's trampoline later, the registry never overwrites that
//   handler: when the last action goes, the trampoline is left to pass deliveries through to the
//   saved handler, and a later add_action() reaches only through that code's handler (if it chains
//   to what it replaced). If that code has meanwhile set SIG_DFL or SIG_IGN, add_action() installs
//   the trampoline afresh, saving that disposition as the one to restore.
//
// Exit and static destruction
//   The registry itself is never destroyed (a leaked singleton, and handler state that is
//   constant-initialised and trivially destructible), so add_action(), remove_action() and the
//   trampoline keep working during static destruction, in atexit handlers and on other threads
//   after main() returns. A signal delivered then runs the actions still registered at that moment
//   (an object's destructor removes its own before it frees anything, and remove_action() waits for
//   running ones: so nothing freed is ever run) and otherwise the saved disposition, chained as
//   usual. Actions that are never removed keep running until the process ends: their context must
//   outlive every static destructor (a global std::atomic is fine; a static object with a
//   destructor is not, unless it removes the action first). An action or chained handler may end
//   the process with _exit(); exit() is not async-signal-safe and must not be called from one.
//
// Thread safety
//   Every function here may be called from any thread, concurrently. None may be called from a
//   signal handler, except signal_name(), which is async-signal-safe.
//
// Errors
//   Functions not declared noexcept throw std::system_error; the non-throwing overloads report the
//   same error through a std::error_code. On error, the process's signal state is left unchanged.
#pragma once

#include <csignal>
#include <cstdint>
#include <string_view>
#include <system_error>

#include "sigrelay/export.hpp"

namespace sigrelay {

// A function run in signal context with the delivered siginfo, and the context pointer given with it.
struct action {
  void (*fn)(void* context, const siginfo_t& info) noexcept;
  void* context;
};

struct action_options {
  // Whether system calls interrupted by this signal are restarted (SA_RESTART). A signal keeps
  // SA_RESTART only while every one of its actions asks for it.
  bool restart = true;

  // Fault signals (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS) are refused unless this is set:
  // returning from a handler of a synchronous fault re-executes the faulting instruction, so an
  // action for one must not simply return (see relay::die_by_signal).
  bool allow_fault_signals = false;
};

// Identifies one added action. Default-constructed ids identify nothing.
class action_id {
 public:
  constexpr action_id() noexcept = default;
  constexpr int signal() const noexcept { return signo_; }
  constexpr explicit operator bool() const noexcept { return serial_ != 0; }
  friend constexpr bool operator==(action_id a, action_id b) noexcept {
    return a.signo_ == b.signo_ && a.serial_ == b.serial_;
  }
  friend constexpr bool operator!=(action_id a, action_id b) noexcept { return !(a == b); }
  friend constexpr bool operator<(action_id a, action_id b) noexcept {
    return a.serial_ < b.serial_ || (a.serial_ == b.serial_ && a.signo_ < b.signo_);
  }

 private:
  friend struct action_id_access;
  constexpr action_id(int signo, std::uint64_t serial) noexcept : signo_(signo), serial_(serial) {}
  int signo_ = 0;
  std::uint64_t serial_ = 0;
};

// add_action()
//
// Runs `a` on every delivery of `signo`, after any previously installed handler and after the
// actions added before it. A delivery already under way when it is added (one whose earlier handler
// is still running, say) is not `a`'s: each delivery runs the actions that were there when it began.
//
// Errors: std::errc::invalid_argument (message names the signal) for 0, negative numbers, numbers
// above SIGRTMAX, numbers reserved by the C library (between the standard signals and SIGRTMIN),
// SIGKILL, SIGSTOP, fault signals without `allow_fault_signals`, and a null `fn`; otherwise the
// error of sigaction() itself, or std::errc::not_enough_memory if memory runs out (the throwing
// overload: std::system_error with that code, naming the signal). On any error nothing changed: the
// disposition, the signal's actions and every mask are as before the call.
//
// While it changes the registry (here, in remove_action(), ignore() and reset()), the calling thread
// blocks every signal but the faults (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS), and gives
// back exactly those blocks before it returns: a flood that it would otherwise take, one delivery
// after another, waits in the kernel's queue or goes to another thread meanwhile, so a change never
// stalls behind it (nor do the other threads' changes, which wait for this one).
SIGRELAY_EXPORT action_id add_action(int signo, action a, action_options options = {});
SIGRELAY_EXPORT action_id add_action(int signo, action a, action_options options,
                                     std::error_code& ec) noexcept;

// remove_action()
//
// Removes an action. Returns false if `id` is unknown (never added, or already removed).
// Grace period: when this returns, no thread is running the action and none ever will again, so
// its context may be destroyed right away. It waits for handlers already running to finish, so it
// must not be called from an action.
// If it removes the signal's last action, the disposition saved by the first add_action() is
// restored, unless other code has installed its own handler over the trampoline meanwhile.
// Never fails: if memory for the signal's new action list runs out, it waits (retrying every
// millisecond) until there is some, rather than leave the action half removed.
SIGRELAY_EXPORT bool remove_action(action_id id) noexcept;

// ignore(), reset(), ignored()
//
// Ignoring a signal through the registry, so that it is undone exactly (the equivalents of
// signal(signo, SIG_IGN) and of putting back what was there, without calling sigaction() behind the
// registry's back). What they act on is the disposition *underneath* sigrelay: the one in force
// while the signal has no action, and the one the trampoline chains while it has some.
//
// ignore(signo): from now on that disposition is SIG_IGN.
//   - No actions subscribed: the signal is set to SIG_IGN at once (a SIGPIPE no longer kills; a
//     write to a closed pipe fails with EPIPE), and the disposition it replaced is saved whole.
//   - Actions subscribed: they keep running on every delivery (the trampoline stays installed);
//     what changes is that the handler sigrelay chained (see Chaining) is no longer called, and the
//     last remove_action() restores SIG_IGN rather than the disposition from before sigrelay. For
//     SIGCHLD, SIG_IGN means what it means to the kernel: the trampoline gets SA_NOCLDWAIT, children
//     are reaped automatically (and waitpid() fails with ECHILD; see <sigrelay/children.hpp>).
//   - An add_action() while ignore() is in force saves SIG_IGN as the disposition to restore.
//   Returns true if it ignored the signal, false if ignore() was already in force (nothing changes:
//   ignore() is a state, not a count; one reset() undoes any number of ignore()s).
//
// reset(signo): undoes ignore(): the disposition underneath becomes again exactly the one ignore()
//   replaced (SIG_DFL, an inherited SIG_IGN, or another code's handler with its flags and mask; a
//   chained SA_RESETHAND handler that had already had its call comes back as SIG_DFL).
//   - No actions subscribed: that disposition is installed again, but only if the signal is still
//     SIG_IGN; if other code has set its own disposition since, reset() leaves it (the registry
//     never overwrites another code's handler) and just forgets the ignore().
//   - Actions subscribed: they stay, and are not removed: they belong to their owners (a `signals`
//     object, a dispatcher, ...), who remove them. The chained handler is called again, and the last
//     remove_action() restores that disposition, the one from before sigrelay.
//   Returns true if it undid an ignore(), false if none was in force (nothing changes). Unlike Go's
//   signal.Reset, it never unsubscribes anybody: the disposition before sigrelay comes back once the
//   last subscriber is gone, as always.
//
// ignored(signo): whether the disposition underneath is SIG_IGN: ignore() is in force, or sigrelay
//   found the signal ignored (inherited across exec, as `nohup` does for SIGHUP, or set with
//   sigaction() before sigrelay's first action for it). The answer does not change when sigrelay
//   installs its trampoline: it is read from the saved disposition then. Without subscribers or
//   ignore() it is the current disposition (SIG_IGN set by other code counts).
//
// Errors: std::errc::invalid_argument (message names the signal) for 0, negative numbers, numbers
//   above SIGRTMAX, numbers reserved by the C library, SIGKILL and SIGSTOP; otherwise the error of
//   sigaction(). Fault signals are accepted (an ignored fault signal still kills when the fault is
//   real: the kernel forces the default action). On error, nothing changed.
// Thread safety: as everything here (any thread, not from a signal handler).
// Fork: the state is inherited; exec: a SIG_IGN disposition survives exec (a handler does not), so a
//   program exec'd while ignore() is in force starts with the signal ignored, and ignored() says so,
//   when the signal has no actions (its disposition is SIG_IGN then) or the exec follows fork()
//   (sigrelay's fork handler gives the child SIG_IGN back for a signal whose only subscribers are
//   inherited objects). With actions subscribed, posix_spawn() (and system(), popen(), spawn_attr)
//   runs no fork handler: the kernel sees sigrelay's handler, and the program starts with SIG_DFL.
SIGRELAY_EXPORT bool ignore(int signo);
SIGRELAY_EXPORT bool ignore(int signo, std::error_code& ec) noexcept;
SIGRELAY_EXPORT bool reset(int signo);
SIGRELAY_EXPORT bool reset(int signo, std::error_code& ec) noexcept;
SIGRELAY_EXPORT bool ignored(int signo);
SIGRELAY_EXPORT bool ignored(int signo, std::error_code& ec) noexcept;

// after_fork_in_child()
//
// For the child of _Fork() (or of a raw clone()), which runs no pthread_atfork() handlers: call it in
// the child, first thing, before any other sigrelay call (a `signals` constructor calls it if it was
// not called yet). It does what sigrelay's fork child handler
// does after fork(): refreshes the pid that sigrelay caches (until then, an inherited object's
// handler side still thinks it is in the parent: it records into the child's private copy, but never
// writes a descriptor shared with the parent, which is checked with getpid()), unblocks in the
// calling thread what sigrelay's signalfd backend had blocked in the forking thread (the child of
// _Fork() inherits that thread's mask, sigrelay's blocks included), and gives back the saved
// disposition of every signal whose only subscribers are inherited `signals` objects (see "Fork" in
// <sigrelay/signals.hpp>); that last step is skipped if another thread of the parent was inside the
// registry at the time of _Fork(). Uses only async-signal-safe calls and a non-blocking try-lock, so
// it may be called in the child of a multithreaded parent. In that case (another thread inside the
// registry at _Fork()), the child must not go on to use sigrelay, as POSIX says of any child of a
// multithreaded fork before exec: a call that needs the registry (a new action or object, removing
// one, destroying an inherited object) would wait for ever for a thread the child does not have.
// fork() holds the registry across the fork in its handler, so its children never meet this.
// Anywhere else (the parent, a child of fork(), a second call) it does nothing: it acts only when
// sigrelay's cached pid is not the caller's.
SIGRELAY_EXPORT void after_fork_in_child() noexcept;

// fork_generation()
//
// How many times this process became a fork child that sigrelay knew of: the child of fork() counts
// one more than its parent (sigrelay's fork child handler), and so does a child of _Fork() once it
// called after_fork_in_child(); 0 in a process that never was such a child. For code that hands out
// a batch of events through callbacks (an event-loop integration, as sigrelay's libuv and libevent
// watchers): read it before and after a callback; if it changed, the callback forked and this is
// the child, where the rest of the batch is the parent's. (A child of _Fork() that has not called
// after_fork_in_child() yet still has its parent's count: there, signals::is_inherited() tells.)
// One relaxed atomic load: async-signal-safe, any thread.
SIGRELAY_EXPORT unsigned fork_generation() noexcept;

// signal_name()
//
// "SIGINT", "SIGRTMIN+3", "SIGRTMAX-1", or "" for a number that names no signal (0, negative,
// reserved by the C library, above SIGRTMAX).
// Async-signal-safe. The view refers to static, NUL-terminated storage: data() is never null and may
// be passed where a C string is expected (printf("%s", signal_name(n).data()) is fine for any n).
SIGRELAY_EXPORT std::string_view signal_name(int signo) noexcept;

// signal_number()
//
// Parses a signal's name or number: "INT", "SIGINT", "sigint", "2", "RTMIN+3", "SIGRTMAX-1".
// Errors: std::errc::invalid_argument, naming the text, if it names no signal.
SIGRELAY_EXPORT int signal_number(std::string_view name);
SIGRELAY_EXPORT int signal_number(std::string_view name, std::error_code& ec) noexcept;

}  // namespace sigrelay
