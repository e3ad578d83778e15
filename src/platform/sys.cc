// SPDX-License-Identifier: MIT
// src/platform/sys.cc — the system-call wrapper of ordinary context, and its fault-injection hook.
//
// Design notes
// - One thin function per system call that sigrelay makes outside signal handlers: same arguments,
//   same results, no retries and no policy (callers keep theirs: which EINTR means "again" and which
//   means "look again" is theirs to say). Code in src/handler/ (signal context) makes its own calls
//   and is never injected: a hook is ordinary code and may not run in a handler.
// - The hook (sys_fault.hpp) is a function pointer read with one relaxed atomic load before each
//   call; null, the default, it is that load, a compare and a predicted branch (the hook's path is a
//   cold out-of-line function). Measured under callgrind (gcc 12 -O2, 100,000 read(-1) calls): 7
//   instructions per call over the bare libc call, the call into the wrapper included. A test installs a
//   hook that returns an errno for the calls it picks (by id, counting them itself): the wrapper then
//   fails with that errno without making the call, exactly as the kernel would report it, so that
//   every caller's error path runs for real (EINTR on each interruptible call, EAGAIN on the wake-up
//   writes, EMFILE on each descriptor sigrelay creates).
// - The hook is process-wide and called from whichever thread makes the call; relaxed is enough: a
//   test installs it before the code under test runs and removes it after (thread start and join
//   order the rest).
// - write_wakeup(): a real EAGAIN on an eventfd write means that its counter is at the maximum, so the
//   fd is readable and nothing is lost; an injected one (or a reader that drained in between) need
//   not: a zero-timeout poll() decides, and the write is made again if the fd is not readable. On the
//   posix layer the fd is a pipe's write end, which never polls readable: there the poll asks for
//   POLLOUT too, and a pipe with no room (the real EAGAIN) means its read end has data.
#include "platform/sys.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cerrno>

#if SIGRELAY_LINUX
#include <linux/futex.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#endif

namespace sigrelay::detail::sys {

std::atomic<fault_fn> fault_hook{nullptr};

namespace {

// The errno the installed hook wants for `c`, or 0. Out of line and cold, so that the wrappers'
// path with no hook is a load, a test and a jump to the system call.
[[gnu::noinline, gnu::cold]] int ask_hook(call c) noexcept {
  const fault_fn hook = fault_hook.load(std::memory_order_relaxed);
  return hook == nullptr ? 0 : hook(c);
}

}  // namespace

const char* call_name(call c) noexcept {
  static constexpr const char* names[] = {"sigaction",     "pthread_sigmask", "eventfd", "signalfd",
                                          "epoll_create1", "epoll_ctl",       "read",    "write",
                                          "poll",          "ppoll",           "futex",   "rt_tgsigqueueinfo",
                                          "close",         "fcntl",           "waitpid", "open"};
  static_assert(sizeof names / sizeof names[0] == static_cast<unsigned>(call::count_));
  const auto i = static_cast<unsigned>(c);
  return i < static_cast<unsigned>(call::count_) ? names[i] : "?";
}

// The wrappers' path with a hook: ask it, then fail or make the call. Out of line and cold, so that
// the path with no hook is a load, a test and a tail jump to the system call.
template <typename F, typename... A>
[[gnu::noinline, gnu::cold]] auto with_hook(call c, F fn, A... args) noexcept -> decltype(fn(args...)) {
  if (const int err = ask_hook(c)) {
    errno = err;
    return static_cast<decltype(fn(args...))>(-1);
  }
  return fn(args...);
}

#define SIGRELAY_SYS_CALL(id, fn, ...)                                              \
  return __builtin_expect(fault_hook.load(std::memory_order_relaxed) != nullptr, 0) \
             ? with_hook(id, fn, __VA_ARGS__)                                       \
             : fn(__VA_ARGS__)

int sigaction(int signo, const struct sigaction* act, struct sigaction* old) noexcept {
  SIGRELAY_SYS_CALL(call::sigaction, ::sigaction, signo, act, old);
}

int pthread_sigmask(int how, const sigset_t* set, sigset_t* old) noexcept {
  if (__builtin_expect(fault_hook.load(std::memory_order_relaxed) != nullptr, 0)) {
    if (const int err = ask_hook(call::pthread_sigmask)) return err;
  }
  return ::pthread_sigmask(how, set, old);
}

#if SIGRELAY_LINUX
int eventfd(unsigned initial, int flags) noexcept {
  SIGRELAY_SYS_CALL(call::eventfd, ::eventfd, initial, flags);
}

int signalfd(int fd, const sigset_t* mask, int flags) noexcept {
  SIGRELAY_SYS_CALL(call::signalfd, ::signalfd, fd, mask, flags);
}

int epoll_create1(int flags) noexcept { SIGRELAY_SYS_CALL(call::epoll_create1, ::epoll_create1, flags); }

int epoll_ctl(int epfd, int op, int fd, struct epoll_event* event) noexcept {
  SIGRELAY_SYS_CALL(call::epoll_ctl, ::epoll_ctl, epfd, op, fd, event);
}

#endif

ssize_t read(int fd, void* buffer, std::size_t size) noexcept {
  SIGRELAY_SYS_CALL(call::read, ::read, fd, buffer, size);
}

ssize_t write(int fd, const void* buffer, std::size_t size) noexcept {
  SIGRELAY_SYS_CALL(call::write, ::write, fd, buffer, size);
}

int poll(struct pollfd* fds, nfds_t count, int timeout_ms) noexcept {
  SIGRELAY_SYS_CALL(call::poll, ::poll, fds, count, timeout_ms);
}

#if SIGRELAY_LINUX
int ppoll(struct pollfd* fds, nfds_t count, const struct timespec* timeout, const sigset_t* mask) noexcept {
  SIGRELAY_SYS_CALL(call::ppoll, ::ppoll, fds, count, timeout, mask);
}

long futex_wait(const std::uint32_t* word, std::uint32_t expected, const struct timespec* timeout) noexcept {
  SIGRELAY_SYS_CALL(call::futex, ::syscall, SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, timeout, nullptr,
                    0);
}

int rt_tgsigqueueinfo(pid_t pid, pid_t tid, int signo, siginfo_t* info) noexcept {
  if (__builtin_expect(fault_hook.load(std::memory_order_relaxed) != nullptr, 0)) {
    return static_cast<int>(
        with_hook(call::rt_tgsigqueueinfo, ::syscall, SYS_rt_tgsigqueueinfo, pid, tid, signo, info));
  }
  return static_cast<int>(::syscall(SYS_rt_tgsigqueueinfo, pid, tid, signo, info));
}

#endif

int close(int fd) noexcept { SIGRELAY_SYS_CALL(call::close, ::close, fd); }

int fcntl(int fd, int cmd) noexcept { SIGRELAY_SYS_CALL(call::fcntl, ::fcntl, fd, cmd); }

pid_t waitpid(pid_t pid, int* status, int options) noexcept {
  SIGRELAY_SYS_CALL(call::waitpid, ::waitpid, pid, status, options);
}

int open(const char* path, int flags, mode_t mode) noexcept {
  SIGRELAY_SYS_CALL(call::open, ::open, path, flags, mode);
}

#undef SIGRELAY_SYS_CALL

void write_wakeup(int fd) noexcept {
  const std::uint64_t one = 1;
  for (;;) {
    if (sys::write(fd, &one, sizeof one) == static_cast<ssize_t>(sizeof one)) return;
    if (errno == EINTR) continue;
    if (errno != EAGAIN) return;  // EBADF and the like: no fd to wake
    // POLLOUT too: the posix layer's `fd` is a pipe's write end, which never polls readable. There a
    // real EAGAIN means the pipe is full (no POLLOUT), so its read end has data: the wake-up stands.
    // Asking for POLLIN alone looped here for ever on a full pipe.
    struct pollfd p {};
    p.fd = fd;
    p.events = POLLIN | POLLOUT;
    int n;
    do {
      n = sys::poll(&p, 1, 0);
    } while (n < 0 && errno == EINTR);
    if (n > 0 && (p.revents & POLLIN) != 0) return;               // readable: the wake-up stands (an eventfd)
    if (n == 0 || (n > 0 && (p.revents & POLLOUT) == 0)) return;  // no room: a full pipe, read end readable
    if (n < 0 && errno != EAGAIN && errno != ENOMEM) return;
  }
}

}  // namespace sigrelay::detail::sys
