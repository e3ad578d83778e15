// SPDX-License-Identifier: MIT
// src/handler/relays.cc — the relays that run in signal context. Signal context.
//
// Every function in this file is async-signal-safe (man 7 signal-safety): it uses only atomics and
// the system calls write, send, getpid, gettid, tgkill (pthread_self and pthread_kill instead with the posix
// platform layer), sigaction, pthread_sigmask and _exit; it never
// allocates, locks, throws or logs. errno is restored by the trampoline around every action, and by
// each function here that may be called directly from a user's own handler.
#include "handler/relays.hpp"

#include "platform/config.hpp"  // SIGRELAY_LINUX
#include "platform/linux.hpp"   // reserved_by_libc

#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdint>

#include "handler/state.hpp"
#include "sigrelay/relays.hpp"

namespace sigrelay {
namespace detail {
namespace {

// See stop_emulations_of(). Constant-initialised (zero), lock-free.
std::atomic<std::uint32_t> g_stop_started[NSIG];
std::atomic<std::uint32_t> g_stop_finished[NSIG];
static_assert(std::atomic<std::uint32_t>::is_always_lock_free, "stop emulation counters");

enum class default_kind { terminate, core, ignore, stop, cont };

// Signal context. Sends `signo` to the calling thread: tgkill() on Linux; with the posix platform layer
// pthread_kill(pthread_self()) (async-signal-safe since POSIX.1-2008 TC2; glibc makes it a tgkill too).
void raise_here(int signo) noexcept {
#if !SIGRELAY_LINUX
  ::pthread_kill(::pthread_self(), signo);
#else
  ::tgkill(::getpid(), ::gettid(), signo);
#endif
}

// Signal context. The default action of each signal (man 7 signal); none (ignore) for a number that
// names no signal: the kernel has nothing to do for it, and one that the C library reserves
// (glibc's handlers act on those when a thread sends them to itself: 32 cancels the thread, 33 runs
// a set*id() broadcast that does not exist and faults), so neither is ever sent.
default_kind default_of(int signo) noexcept {
  if (signo <= 0 || signo >= NSIG || os::reserved_by_libc(signo)) return default_kind::ignore;
  switch (signo) {
    case SIGQUIT:
    case SIGILL:
    case SIGTRAP:
    case SIGABRT:
    case SIGBUS:
    case SIGFPE:
    case SIGSEGV:
    case SIGXCPU:
    case SIGXFSZ:
    case SIGSYS: return default_kind::core;
    case SIGCHLD:
    case SIGURG:
    case SIGWINCH: return default_kind::ignore;
    case SIGSTOP:
    case SIGTSTP:
    case SIGTTIN:
    case SIGTTOU: return default_kind::stop;
    case SIGCONT: return default_kind::cont;
    default: return default_kind::terminate;  // the rest, realtime signals included
  }
}

}  // namespace

// Signal context.
void set_flag_fn(void* flag, const siginfo_t&) noexcept {
  static_cast<std::atomic<bool>*>(flag)->store(true, std::memory_order_release);
}

// Signal context.
void add_count_fn(void* counter, const siginfo_t&) noexcept {
  static_cast<std::atomic<std::uint64_t>*>(counter)->fetch_add(1, std::memory_order_acq_rel);
}

// Signal context.
void die_if_set_fn(void* flag, const siginfo_t& info) noexcept {
  if (static_cast<std::atomic<bool>*>(flag)->load(std::memory_order_acquire)) {
    relay::die_by_signal(info.si_signo);
  }
}

// Signal context. See arm_or_die_state (relays.hpp).
void arm_or_die_fn(void* state, const siginfo_t& info) noexcept {
  auto& s = *static_cast<arm_or_die_state*>(state);
  if (s.armed.exchange(true, std::memory_order_acq_rel)) relay::die_by_signal(info.si_signo);
  int none = 0;
  s.signo.compare_exchange_strong(none, info.si_signo, std::memory_order_acq_rel);
}

// Signal context. emulate_default() is async-signal-safe and preserves errno.
void default_if_set_fn(void* flag, const siginfo_t& info) noexcept {
  if (static_cast<std::atomic<bool>*>(flag)->load(std::memory_order_acquire)) {
    relay::emulate_default(info.si_signo);
  }
}

// Signal context.
void default_action_fn(void*, const siginfo_t& info) noexcept { relay::emulate_default(info.si_signo); }

// Signal context: write() is async-signal-safe; EAGAIN means a wake-up is already pending.
void write_wakeup(int fd) noexcept {
  const std::uint64_t one = 1;
  ssize_t n;
  do {
    n = ::write(fd, &one, sizeof one);
  } while (n < 0 && errno == EINTR);
}

namespace {

// Signal context: send() is async-signal-safe. MSG_NOSIGNAL: a socket whose peer has gone fails with
// EPIPE and raises no SIGPIPE (a write() would, and kill the process at SIG_DFL). ENOTSOCK: the
// number was closed and now names another file, which gets the write that fd_relay promises.
void send_wakeup(int fd) noexcept {
#if defined(MSG_NOSIGNAL)
  const std::uint64_t one = 1;
  ssize_t n;
  do {
    n = ::send(fd, &one, sizeof one, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0 && errno == ENOTSOCK) write_wakeup(fd);
#else
  write_wakeup(fd);
#endif
}

}  // namespace

// Signal context. Skips the write in a forked child, whose fd is shared with the parent. The cached
// pid covers fork(); getpid() (one system call, next to the write's) covers _Fork(), which runs no
// fork handlers and so leaves the parent's pid cached.
void wake_fd_fn(void* target, const siginfo_t&) noexcept {
  const fd_target& t = *static_cast<const fd_target*>(target);
  if (t.owner != current_pid() || t.owner != verified_pid()) return;
  if (t.socket) {
    send_wakeup(t.fd);
  } else {
    write_wakeup(t.fd);
  }
}

namespace {

// Signal context. Has the kernel itself apply the default action of a stop signal: that gives the
// parent the right WSTOPSIG, and in an orphaned process group the kernel discards SIGTSTP, SIGTTIN and
// SIGTTOU instead of stopping (nothing could ever continue the process). So: set SIG_DFL with a raw
// sigaction() (saving the disposition), unblock the signal in this thread, send it to this thread with
// tgkill() (the kernel acts on it before tgkill() returns to user space: the process stops here, and
// goes on when continued), then block it again if it was blocked and put the saved disposition back,
// unless something else replaced our SIG_DFL meanwhile.
// The window (short: from the first sigaction() to tgkill(), and from the continue to the restore;
// every thread is stopped in between): while the disposition is SIG_DFL, a delivery of the same
// signal to any thread of the process also takes the default action (one more stop request, which
// coalesces with ours, or a discard in an orphaned group): it runs no handler, so chained handlers
// and sigrelay's subscribers do not hear of it. An add_action()/remove_action() of the same signal
// on another thread in that window may be undone by the restore (sigaction() has no
// compare-and-swap; see relays.hpp).
void stop_by_default(int signo) noexcept {
  if (signo == SIGSTOP) {  // cannot be caught, blocked or discarded: just send it
    raise_here(SIGSTOP);
    return;
  }
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  struct sigaction saved {};
  g_stop_started[signo].fetch_add(1);  // before the SIG_DFL: check_ownership() may see it from now on
  if (::sigaction(signo, &dfl, &saved) != 0) {  // not for a valid stop signal; never re-enter a handler
    g_stop_finished[signo].fetch_add(1);
    raise_here(SIGSTOP);
    return;
  }
  sigset_t only;
  sigemptyset(&only);
  sigaddset(&only, signo);
  sigset_t before;
  ::pthread_sigmask(SIG_UNBLOCK, &only, &before);
  raise_here(signo);  // stops (or is discarded) on the way back from the call
  if (sigismember(&before, signo) == 1) ::pthread_sigmask(SIG_BLOCK, &only, nullptr);
  struct sigaction now {};
  if (::sigaction(signo, nullptr, &now) == 0 && now.sa_handler == SIG_DFL) {
    ::sigaction(signo, &saved, nullptr);
  }
  g_stop_finished[signo].fetch_add(1);
}

}  // namespace

// Ordinary context (a reader); see relays.hpp.
stop_emulations stop_emulations_of(int signo) noexcept {
  if (signo <= 0 || signo >= NSIG) return {0, 0};
  const std::uint32_t finished = g_stop_finished[signo].load();
  return {g_stop_started[signo].load(), finished};
}

}  // namespace detail

namespace relay {

// Signal context: async-signal-safe, errno preserved.
void emulate_default(int signo) noexcept {
  const int saved_errno = errno;
  switch (detail::default_of(signo)) {
    case detail::default_kind::terminate:
    case detail::default_kind::core: die_by_signal(signo);
    case detail::default_kind::stop: detail::stop_by_default(signo); break;
    case detail::default_kind::ignore:
    case detail::default_kind::cont: break;  // SIGCONT's continuing was done by the kernel already
  }
  errno = saved_errno;
}

// Signal context: async-signal-safe, never returns.
void die_by_signal(int signo) noexcept {
  const detail::default_kind kind = detail::default_of(signo);
  const bool can_kill = signo > 0 && signo < NSIG && signo != SIGKILL && signo != SIGSTOP &&
                        (kind == detail::default_kind::terminate || kind == detail::default_kind::core);
  if (can_kill) {
    detail::reset_to_default(signo);
    sigset_t only;
    sigemptyset(&only);
    sigaddset(&only, signo);
    ::pthread_sigmask(SIG_UNBLOCK, &only, nullptr);
    // Directed at this thread, so no other thread (which may block it) is chosen; delivered on
    // return from the system call.
    detail::raise_here(signo);
  }
  if (signo == SIGKILL) ::kill(::getpid(), SIGKILL);
  ::_exit(128 + (signo > 0 && signo < 128 ? signo : 0));  // last resort: the shell's convention
}

}  // namespace relay
}  // namespace sigrelay
