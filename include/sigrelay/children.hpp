// SPDX-License-Identifier: MIT
// sigrelay/children.hpp — one event per child that ends, never lost to coalescing.
//
// SIGCHLD is a standard signal: while one is pending, more children ending add nothing, so 40
// children exiting together may produce 26 deliveries, and a `signals` object's origin
// (child_status) holds only the latest of them. A `children` watcher does what a correct program
// must do after each SIGCHLD: it reaps with waitpid(WNOHANG) in a loop until nothing is left, and
// hands out one child_event per child state change, with the pid and the decoded status.
//
// Example:
//
//   sigrelay::children kids;                       // scope own: only the pids given to watch()
//   for (int i = 0; i < 40; ++i) {
//     const pid_t pid = fork();
//     if (pid == 0) { do_work(i); _exit(i); }
//     kids.watch(pid);
//   }
//   for (int left = 40; left > 0;) {
//     for (const sigrelay::child_event& e : kids.wait()) {   // every child, exactly once
//       if (e.state == sigrelay::child_state::exited) std::printf("%d exited with %d\n", (int)e.pid, e.code);
//       --left;
//     }
//   }
//
// Scopes
//   child_scope::own (default): only the pids given to watch() are reaped, each with
//     waitpid(pid, WNOHANG), so other code's children (a library's, system()'s, posix_spawn()'s) are
//     left for their owners to wait for. watch() right after fork()/posix_spawn(): a child that has
//     already exited is found by the first pending()/wait() after watch() (watch() makes
//     native_handle() readable), so there is no "exited before watch()" race.
//   child_scope::all: every child is reaped, with waitpid(-1, WNOHANG) until none is left — what an
//     init or a subreaper needs. It also reaps other code's children in this process: their waitpid()
//     then fails with ECHILD, and system() returns a wrong status. Use it when this watcher owns the
//     process's children. Children that ended before construction are reported by the first
//     pending()/wait().
//
// Events
//   One per change that waitpid() reports: a child that exited (code = its exit code) or was killed
//   (code = the signal, core_dumped) is reported exactly once and forgotten (in scope own, it is no
//   longer watched). With report_stops, stopped (code = the signal) and continued children too;
//   they stay watched. Events come in the order this watcher reaped them (not necessarily the order
//   the children ended).
//   child_state::lost (scope own only): waitpid(pid) failed with ECHILD for a watched pid. The pid is
//   not, or no longer, an unreaped child of this process: SIGCHLD was SIG_IGN or had SA_NOCLDWAIT
//   (inherited across exec, set by other code, or sigrelay::ignore(SIGCHLD)), so the kernel reaped it
//   on exit and its status is gone; or other code reaped it (a waitpid(-1) elsewhere); or it was
//   never a child of this process. Reported once; the pid is then forgotten. In scope all, such
//   children are simply never reported (waitpid(-1) finds none): under SIG_IGN/SA_NOCLDWAIT a scope-
//   all watcher reports nothing at all. Since its status is needed, do not ignore SIGCHLD with a
//   watcher in use.
//
// Pid reuse
//   A child's pid stays its own until it is reaped (a zombie keeps it), and the watcher reaps only in
//   pending()/wait*(): so in scope own a watched pid names the same child until its event is handed
//   out. Only if other code reaps a watched child can the pid be reused by a new child (of other
//   code) before the watcher looks; then the watcher reaps and reports that one instead. Do not reap
//   watched children elsewhere.
//
// Backends
//   The watcher owns a `signals` object for SIGCHLD with the backend in its options (see
//   <sigrelay/signals.hpp>): backend::signalfd blocks SIGCHLD in the constructing thread, with the
//   same rules as any signalfd-backed object. Other subscribers of SIGCHLD (a `signals`, a handler
//   installed before sigrelay) keep receiving it; a SIGCHLD handler of other code that reaps with
//   waitpid(-1) would take the statuses away from this watcher.
//
// Thread safety
//   One consumer thread at a time calls pending() and wait*(). watch(), watched(), close() and
//   native_handle() may be called from any thread, also while the consumer waits (a wait() is woken
//   to look at a newly watched pid). Not movable or copyable; hold it in a std::unique_ptr to move it.
//
// Errors
//   Functions not declared noexcept throw std::system_error: the constructor as a `signals`
//   constructor (and eventfd()/epoll errors, or pipe() and add_action() errors with the posix
//   platform layer; EMFILE included), leaving the signal state as it was
//   and holding no descriptor; watch() with
//   std::errc::invalid_argument for a pid <= 0 or in scope all, std::errc::bad_file_descriptor after
//   close(). An unexpected waitpid() error other than ECHILD and EINTR is thrown by pending()/wait*()
//   (the events reaped before it are not lost: they come with the next call). The wake-ups of
//   watch() and close() survive EINTR and EAGAIN from their eventfd write (it is checked readable,
//   else written again).
//
// Fork
//   A child's copy of a watcher is dead, like a copied `signals` (pending() and wait*() return
//   nothing at once; watched() returns 0; watch() throws std::errc::operation_not_permitted); none
//   of them waits for a lock a thread of the parent held at the fork. A child's children are its
//   own business: create a new watcher there. Destroying the copy in a child of _Fork() unsubscribes
//   through the registry: see after_fork_in_child() in <sigrelay/registry.hpp> for a parent thread
//   that was inside the registry at _Fork().
#pragma once

#include <sys/types.h>
#include <chrono>
#include <cstddef>
#include <memory>
#include <vector>

#include "sigrelay/signals.hpp"

namespace sigrelay {

enum class child_state {
  exited,     // exit() / return from main: code is the exit status (0..255)
  killed,     // ended by a signal: code is the signal, core_dumped says whether it dumped core
  stopped,    // report_stops only: stopped by the signal in code (SIGSTOP, SIGTSTP, ...)
  continued,  // report_stops only: continued by SIGCONT; code is SIGCONT
  lost,       // scope own only: waitpid() said ECHILD; the status is unknown (see Events)
};

// One child state change, decoded from waitpid()'s status.
struct child_event {
  pid_t pid = 0;
  child_state state = child_state::exited;
  int code = 0;  // exited: exit status; killed/stopped: signal number; continued: SIGCONT; lost: 0
  bool core_dumped = false;
  int raw_status = 0;  // the status as waitpid() gave it (0 for lost), for WIFEXITED() & co.
};

enum class child_scope { own, all };

struct children_options {
  child_scope scope = child_scope::own;
  enum backend backend = backend::relay;
  // Also report stopped and continued children (waitpid's WUNTRACED | WCONTINUED). Those events need
  // SIGCHLD for stops, which an SA_NOCLDSTOP set before sigrelay suppresses (see registry.hpp,
  // Chaining): then pending()/wait() still report them, but only when another SIGCHLD wakes them.
  bool report_stops = false;
};

class SIGRELAY_EXPORT children {
 public:
  // Subscribes to SIGCHLD (see Backends). Errors: see Errors above.
  explicit children(children_options options = {});
  ~children();  // unsubscribes; watched children that were not reported stay unreaped
  children(const children&) = delete;
  children& operator=(const children&) = delete;

  // Scope own: reap and report `pid` from now on (a pid already watched: nothing changes).
  void watch(pid_t pid);
  // Scope own: pids watched and not yet reported as exited/killed/lost. Scope all: 0.
  std::size_t watched() const;

  // Reaps what has changed and returns its events; empty if none. Never blocks.
  std::vector<child_event> pending();
  // Blocks until at least one event, or until closed (then empty).
  std::vector<child_event> wait();
  // As wait(), but also returns empty when the time is up (any timeout is accepted, as in signals).
  std::vector<child_event> wait_for(std::chrono::nanoseconds timeout);
  template <typename Rep, typename Period>
  std::vector<child_event> wait_for(const std::chrono::duration<Rep, Period>& timeout) {
    return wait_for(detail::saturated_ns(timeout));
  }

  // Pollable: readable while a child event may be pending, then call pending(). It is readable after
  // every SIGCHLD, also one about a child that this watcher does not report (scope own: a child it
  // does not watch), and after watch() and construction: then pending() may return empty, and the fd
  // is no longer readable until the next change. After close(), readable for good. Owned here.
  // Linux platform layer: an epoll fd. posix platform layer (README, "Platforms"): the read end of a
  // pipe that an action on SIGCHLD (relay::fd_relay) writes on every delivery.
  int native_handle() const noexcept;

  // Thread-safe: wakes a blocked wait() and makes later wait*() and pending() return empty at once.
  void close() noexcept;
  bool is_closed() const noexcept;

 private:
  struct state;
  std::unique_ptr<state> state_;
};

}  // namespace sigrelay
