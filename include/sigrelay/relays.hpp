// SPDX-License-Identifier: MIT
// sigrelay/relays.hpp — async-signal-safe building blocks, each usable as a registry action.
//
// A relay is the only kind of work a signal handler should do: set a flag, count, or wake a file
// descriptor, so that ordinary code (a loop, an event loop, a thread) notices and does the real work
// outside signal context. The terminal relays end the process the way its parent expects.
//
// Example: the double Ctrl+C (first asks nicely, second kills):
//
//   std::atomic<bool> stop{false};
//   sigrelay::add_action(SIGINT, sigrelay::relay::die_if_set(stop));  // order matters: check first,
//   sigrelay::add_action(SIGINT, sigrelay::relay::set_flag(stop));    // then set
//   while (!stop) work();
//
// Signal context
//   Every function returning an `action` builds it in ordinary code; the action's function then runs
//   in signal context and is async-signal-safe. emulate_default() and die_by_signal() are themselves
//   async-signal-safe and may be called from any action.
//
// Lifetime
//   An action refers to the object it was made from (flag, counter, fd_relay): keep that object alive
//   until remove_action() of every action made from it has returned.
#pragma once

#include <sys/types.h>
#include <atomic>
#include <cstdint>
#include <system_error>

#include "sigrelay/export.hpp"
#include "sigrelay/registry.hpp"

namespace sigrelay::detail {
// What an fd_relay's action points at: the fd, and the only process that may write to it.
struct fd_target {
  int fd = -1;
  pid_t owner = 0;
  bool socket = false;  // sent to with MSG_NOSIGNAL (a peer that has gone raises no SIGPIPE)
};
}  // namespace sigrelay::detail

namespace sigrelay::relay {

// Sets `flag` to true (release order).
SIGRELAY_EXPORT action set_flag(std::atomic<bool>& flag) noexcept;

// Adds one to `counter` per delivery.
SIGRELAY_EXPORT action add_count(std::atomic<std::uint64_t>& counter) noexcept;

// Conditional shutdown: if `flag` is already set when the signal arrives, dies by that signal (see
// die_by_signal). Add it *before* a set_flag() on the same flag: the first signal sets the flag,
// the second one kills.
SIGRELAY_EXPORT action die_if_set(std::atomic<bool>& flag) noexcept;

// Conditional default: if `flag` is already set when the signal arrives, performs the signal's
// default action (see emulate_default: terminate or dump core by the signal, stop by it, or nothing
// for SIGCHLD, SIGURG, SIGWINCH, SIGCONT); otherwise does nothing. As with die_if_set, add it
// *before* a set_flag() on the same flag: the first signal sets the flag, a later one takes the
// default action (added after, the first signal would already find the flag set). Unlike
// die_if_set, a stop signal stops the process (and the program goes on once continued: the flag
// stays set, so each later delivery stops it again), and a signal whose default is to ignore is
// ignored. Clear the flag (in ordinary code) to start over.
SIGRELAY_EXPORT action default_if_set(std::atomic<bool>& flag) noexcept;

// Emulates the default action of the delivered signal (see emulate_default).
SIGRELAY_EXPORT action default_action() noexcept;

// fd_relay
//
// Wakes a file descriptor on each delivery: writes an 8-byte count of 1, which is what an eventfd
// takes and what a pipe reader drains as 8 bytes; never a pointer. The fd must be non-blocking, so a
// full pipe (or a saturated eventfd) never blocks the handler: the reader has pending data anyway, so
// the wake-up is not lost. The fd is not owned: keep it open, on the same file, until remove_action()
// of the relay's action has returned. Each delivery writes to whatever file the number names at that
// moment (once it is closed, the write fails with EBADF and does nothing else; errno is restored). A
// socket is written with send(MSG_NOSIGNAL) where the system has that flag (Linux, the BSDs): a
// socket whose peer has gone fails the send with EPIPE and nothing else happens. A pipe whose reading
// end has gone fails the write with EPIPE and raises SIGPIPE in the handling thread, as any write to
// it does (a pipe has no way to refuse it): that kills the process unless SIGPIPE is ignored
// (sigrelay::ignore(SIGPIPE)) or handled. Prefer an eventfd, a sigrelay::wakeup_fd or a socket.
//
// Fork: after fork(), a delivery in the child does not write to the fd (it is shared with the
// parent, whose reader would otherwise be woken by the child's signals).
//
// Errors: std::errc::invalid_argument if the fd is not open, is open for reading only (no write
// could wake it), is blocking, or is a regular file, a directory or a block device (where
// O_NONBLOCK does not keep a write from blocking on the disk). The error-code overload clears `ec`
// on success.
class SIGRELAY_EXPORT fd_relay {
 public:
  explicit fd_relay(int fd);
  fd_relay(int fd, std::error_code& ec) noexcept;
  fd_relay(const fd_relay&) = delete;
  fd_relay& operator=(const fd_relay&) = delete;

  action get() const noexcept;
  int fd() const noexcept { return target_.fd; }

 private:
  detail::fd_target target_;
};

// wakeup_fd
//
// An owned, non-blocking, close-on-exec eventfd with its relay: readable after any delivery of a
// signal it is added for, until drain()ed. Ready to hand to poll/epoll/select or an event loop.
// With the posix platform layer (README, "Platforms") it is a non-blocking, close-on-exec pipe
// instead: native_handle() is its read end, the relay writes its write end, and both are owned.
class SIGRELAY_EXPORT wakeup_fd {
 public:
  wakeup_fd();  // throws std::system_error
  ~wakeup_fd();
  wakeup_fd(const wakeup_fd&) = delete;
  wakeup_fd& operator=(const wakeup_fd&) = delete;

  int native_handle() const noexcept { return read_fd_; }
  action get() const noexcept { return relay_.get(); }
  // Number of wake-ups since the last drain (0 if none); makes the fd unreadable. Never blocks.
  // (A pipe counts what it holds: at most its capacity / 8; the rest coalesced.)
  std::uint64_t drain() noexcept;

 private:
  static int open_fd(int& read_fd);
  int read_fd_ = -1;  // before relay_: open_fd() sets it (== relay_.fd() for an eventfd)
  fd_relay relay_;
};

// emulate_default()
//
// Does what the kernel would do for `signo` with no handler: terminate or dump core (by dying by the
// signal), stop the process (SIGTSTP, SIGTTIN, SIGTTOU, SIGSTOP), or nothing (SIGCHLD, SIGURG,
// SIGWINCH, SIGCONT, and a number that names no signal: 0, negative, one reserved by the C library
// (signal_name() is ""), NSIG and above).
// Async-signal-safe; errno is preserved.
//
// Stop signals: the kernel itself performs the stop, so the parent sees WIFSTOPPED with WSTOPSIG ==
// `signo` (SIGTSTP, not SIGSTOP), and in an orphaned process group SIGTSTP, SIGTTIN and SIGTTOU are
// discarded as the kernel discards them (nothing is left to continue the process): the call then
// returns at once; so it does in the init (pid 1) of a PID namespace, which the kernel never stops
// by a signal it sends itself (SIGSTOP included). To do so it briefly sets the signal's disposition
// to SIG_DFL, unblocks it in the calling thread and sends it to that thread; once the process is
// continued (or at once, if the signal was discarded) it blocks the signal again if it was blocked
// and restores the saved disposition, so it may be called from an action (relay::default_action())
// or from ordinary code.
// Race condition: while the disposition is SIG_DFL, another delivery of the same signal (to any
// thread) takes the default action too (it coalesces with this stop, or is discarded likewise)
// without running any handler or action; and an add_action()/remove_action() of the same signal
// made by another thread meanwhile may be undone. Do not change that signal's actions concurrently.
SIGRELAY_EXPORT void emulate_default(int signo) noexcept;

// die_by_signal()
//
// Ends the process so that its parent sees WIFSIGNALED with `signo` (and a core dump for the
// core-dumping signals, where core dumps are enabled), even if the signal was blocked or handled:
// resets it to SIG_DFL, unblocks it in this thread and sends it to this thread. Only if the process
// survives that (a signal whose default is not to terminate, such as SIGCHLD; or any signal, SIGKILL
// included, in the init (pid 1) of a PID namespace, which the kernel never lets die by a signal it
// sends itself) does it fall back to _exit(128 + signo); a number that names no signal (0, negative,
// one reserved by the C library, NSIG and above) is never sent: _exit(128 + signo) at once (128 for
// 0, negative numbers and numbers from 128). Async-signal-safe; does not flush stdio or run atexit
// handlers.
[[noreturn]] SIGRELAY_EXPORT void die_by_signal(int signo) noexcept;

}  // namespace sigrelay::relay
