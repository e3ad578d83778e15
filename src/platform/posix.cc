// SPDX-License-Identifier: MIT
// src/platform/posix.cc — the portable POSIX implementation of the platform layer (ordinary context
// only). Built instead of linux.cc with -DSIGRELAY_PLATFORM=posix (the default off Linux).
//
// Design notes
// - Wake-up channel: a pipe, both ends non-blocking and close-on-exec (pipe2() where the system has
//   it, else pipe() and fcntl(): there the fds are briefly inheritable by a concurrent fork+exec).
//   Handlers write 8 bytes (src/handler/relays.cc write_wakeup): at most PIPE_BUF, so a write is all
//   or nothing; a full pipe gives EAGAIN, which keeps the wake-up pending and loses nothing, since
//   sigrelay counts deliveries in the sink, not in the fd. A drain reads until EAGAIN (an eventfd
//   needs one read), so after it the read end is unreadable, as an eventfd is after its read.
// - Waiting: no futex. signals::wait() of the relay backend sleeps in poll() on the pipe's read end
//   (os::wait_polls_fd), the path every ThreadSanitizer build already takes on Linux: the handler's
//   notify() sees no futex waiter and writes the pipe. Chosen over a condition variable because a
//   handler cannot signal one (pthread_cond_signal is not async-signal-safe), and over a self-pipe
//   plus futex-like word because poll() on the pipe is that already; the cost is one write() per
//   first delivery after a drain and one read() per drain that found the pipe armed, in place of the
//   futex wake. No benchmark was run for it (the posix preset is Debug).
// - Thread ids: a table key only (the signalfd backend's per-thread block slots and the holds of
//   full realtime rings, both Linux-only features); see gettid() below.
// - Not here, and Linux-only by design (each fails clearly or degrades as its header says): the
//   signalfd backend (std::errc::operation_not_supported), holds of full realtime rings (counted in
//   dropped()), and the parts of describe() read from /proc.
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>
#include <atomic>
#include <cerrno>
#include <climits>

#include "detail.hpp"
#include "platform/linux.hpp"

#if defined(__FreeBSD__)
#include <pthread_np.h>
#endif

#if defined(__linux__) || defined(__FreeBSD__) || defined(__NetBSD__) || defined(__OpenBSD__) || \
    defined(__DragonFly__)
#define SIGRELAY_HAVE_PIPE2 1
#endif

namespace sigrelay::detail::os {

#if !defined(SIGRELAY_HAVE_PIPE2)
namespace {

// Sets O_NONBLOCK and FD_CLOEXEC on fd (the pipe() fallback).
bool make_nonblocking_cloexec(int fd) noexcept {
  const int fl = ::fcntl(fd, F_GETFL);
  const int fd_fl = ::fcntl(fd, F_GETFD);
  return fl >= 0 && fd_fl >= 0 && ::fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0 &&
         ::fcntl(fd, F_SETFD, fd_fl | FD_CLOEXEC) == 0;
}

}  // namespace
#endif

wakeup_fds make_wakeup(std::error_code& ec) noexcept {
  int fds[2] = {-1, -1};
#if defined(SIGRELAY_HAVE_PIPE2)
  const bool ok = ::pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0;
#else
  const bool ok = ::pipe(fds) == 0 && make_nonblocking_cloexec(fds[0]) && make_nonblocking_cloexec(fds[1]);
#endif
  if (!ok) {
    ec = errno_code();
    close_fd(fds[0]);
    close_fd(fds[1]);
    return {};
  }
  ec.clear();
  return {fds[0], fds[1]};
}

void close_wakeup(const wakeup_fds& fds) noexcept {
  close_fd(fds.read);
  if (fds.write != fds.read) close_fd(fds.write);
}

// Async-signal-safe: pipe(), dup2(), fcntl() and close() only. The numbers are each made
// close-on-exec again (dup2() clears the flag; the status flags, O_NONBLOCK, come with the file).
bool renew_wakeup(const wakeup_fds& fds) noexcept {
  std::error_code ec;
  const wakeup_fds fresh = make_wakeup(ec);
  if (ec) return false;
  bool moved = ::dup2(fresh.read, fds.read) == fds.read && ::dup2(fresh.write, fds.write) == fds.write;
  for (const int fd : {fds.read, fds.write}) {
    const int flags = ::fcntl(fd, F_GETFD);
    moved = moved && flags >= 0 && ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC) == 0;
  }
  close_wakeup(fresh);
  return moved;
}

std::uint64_t drain_wakeup(int read_fd) noexcept {
  std::uint64_t bytes = 0;
  char buffer[512];
  for (;;) {
    const ssize_t n = ::read(read_fd, buffer, sizeof buffer);
    if (n > 0) {
      bytes += static_cast<std::uint64_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    break;  // EAGAIN: empty (or 0: no writer left; or an error: nothing more to read)
  }
  return bytes / 8;
}

int poll_ns(struct pollfd* fds, nfds_t count, long long timeout_ns) noexcept {
  int ms = -1;
  if (timeout_ns >= 0) {
    const long long rounded = (timeout_ns + 999999LL) / 1000000LL;  // never wake before the deadline
    ms = rounded > INT_MAX ? INT_MAX : static_cast<int>(rounded);   // the caller loops to its deadline
  }
  return ::poll(fds, count, ms);
}

void close_fd(int fd) noexcept {
  // POSIX leaves the fd's state after EINTR unspecified; Linux and the BSDs release it, and retrying
  // could close an fd another thread just opened. macOS's close() with EINTR also releases it.
  if (fd >= 0) ::close(fd);
}

pid_t gettid() noexcept {
#if defined(__APPLE__)
  std::uint64_t id = 0;
  ::pthread_threadid_np(nullptr, &id);
  return static_cast<pid_t>(id & 0x7fffffff);
#elif defined(__FreeBSD__)
  return static_cast<pid_t>(::pthread_getthreadid_np());
#else  // Linux too: its gettid() needs syscall() in glibc < 2.30, which this layer does not use
  // A number per thread, unique in the process (never reused; wraps after 2^31 threads).
  static std::atomic<pid_t> next{1};
  static thread_local pid_t mine = 0;
  if (mine == 0) mine = next.fetch_add(1, std::memory_order_relaxed);
  return mine;
#endif
}

}  // namespace sigrelay::detail::os
