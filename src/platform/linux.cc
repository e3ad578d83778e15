// SPDX-License-Identifier: MIT
// src/platform/linux.cc — Linux implementations of the platform layer (ordinary context only).
#include "platform/linux.hpp"

#include <fcntl.h>
#include <linux/futex.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <cerrno>
#include <climits>
#include <ctime>

#include "detail.hpp"
#include "platform/sys.hpp"

namespace sigrelay::detail::os {

int make_eventfd(std::error_code& ec) noexcept {
  const int fd = sys::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  ec = fd < 0 ? errno_code() : std::error_code{};
  return fd;
}

std::uint64_t drain_eventfd(int fd) noexcept {
  std::uint64_t value = 0;
  ssize_t n;
  do {
    n = sys::read(fd, &value, sizeof value);
  } while (n < 0 && errno == EINTR);
  return n == sizeof value ? value : 0;
}

wakeup_fds make_wakeup(std::error_code& ec) noexcept {
  const int fd = make_eventfd(ec);
  return {fd, fd};
}

void close_wakeup(const wakeup_fds& fds) noexcept { close_fd(fds.read); }

// Async-signal-safe: eventfd(), dup3() and close() only.
bool renew_wakeup(const wakeup_fds& fds) noexcept {
  std::error_code ec;
  const int fresh = make_eventfd(ec);
  if (fresh < 0) return false;
  const bool moved = ::dup3(fresh, fds.read, O_CLOEXEC) == fds.read;
  close_fd(fresh);
  return moved;
}

std::uint64_t drain_wakeup(int read_fd) noexcept { return drain_eventfd(read_fd); }

int poll_ns(struct pollfd* fds, nfds_t count, long long timeout_ns) noexcept {
  struct timespec ts {};
  if (timeout_ns >= 0) {
    ts.tv_sec = static_cast<time_t>(timeout_ns / 1000000000LL);
    ts.tv_nsec = static_cast<long>(timeout_ns % 1000000000LL);
  }
  return sys::ppoll(fds, count, timeout_ns >= 0 ? &ts : nullptr, nullptr);
}

void close_fd(int fd) noexcept {
  if (fd >= 0) sys::close(fd);
}

bool futex_wait(const std::uint32_t* word, std::uint32_t expected, long long timeout_ns) noexcept {
  // Always with a timeout, even "forever" (a day, and the caller loops): a timed FUTEX_WAIT
  // interrupted by a signal handler returns EINTR (-ERESTART_RESTARTBLOCK), while an untimed one
  // is restarted under SA_RESTART (-ERESTARTSYS), which costs a second system call when the handler
  // ran on this very thread to wake it.
  constexpr long long kForever = 86400LL * 1000000000LL;
  const long long ns = timeout_ns >= 0 ? timeout_ns : kForever;
  struct timespec ts {};
  ts.tv_sec = static_cast<time_t>(ns / 1000000000LL);
  ts.tv_nsec = static_cast<long>(ns % 1000000000LL);
  // Relative timeout; EINTR and EAGAIN (word changed) are ordinary wake-ups for the caller's loop.
  const long r = sys::futex_wait(word, expected, &ts);
  return !(r < 0 && errno == ETIMEDOUT);
}

pid_t gettid() noexcept { return static_cast<pid_t>(::syscall(SYS_gettid)); }

}  // namespace sigrelay::detail::os
