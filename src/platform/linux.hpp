// SPDX-License-Identifier: MIT
// src/platform/linux.hpp — the operating system underneath sigrelay (ordinary context only).
//
// The only place that knows which kernel it runs on. Every wrapper retries EINTR where a retry is
// right, and reports errors as std::error_code; nothing here runs in signal context (those
// system calls live in src/handler/).
//
// Two implementations of this interface, chosen by CMake's SIGRELAY_PLATFORM: src/platform/linux.cc
// (eventfd, futex) and src/platform/posix.cc (a pipe and poll(); defines SIGRELAY_PLATFORM_POSIX for
// the library and its tests). See README, "Platforms", for what each backend offers.
#pragma once

#include <poll.h>
#include <csignal>
#include <cstdint>
#include <system_error>

#include "platform/config.hpp"  // SIGRELAY_LINUX; SIGRTMIN/SIGRTMAX where the system has none

namespace sigrelay::detail::os {

// ThreadSanitizer runs a signal's handler late: at once only if the receiving thread is inside a
// function it intercepts (poll, pause, ...), otherwise at its next such call. A thread asleep in a raw
// futex system call is in none, so a signal delivered to it would wait forever; under TSan, wait()
// therefore sleeps in poll() on the eventfd instead of on the futex.
#if defined(__SANITIZE_THREAD__)
inline constexpr bool sanitizer_defers_signals = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
inline constexpr bool sanitizer_defers_signals = true;
#else
inline constexpr bool sanitizer_defers_signals = false;
#endif
#else
inline constexpr bool sanitizer_defers_signals = false;
#endif

// The portable platform layer (src/platform/posix.cc): no eventfd, futex or signalfd.
#if !SIGRELAY_LINUX
inline constexpr bool posix_platform = true;
#else
inline constexpr bool posix_platform = false;
#endif

// Whether signals::wait() of the relay backend sleeps in poll() on the wake-up fd (the posix layer,
// which has no futex; and under ThreadSanitizer, see above) instead of on the sink's futex. The
// handler then wakes it by writing that fd, which it does whenever no futex waiter is registered.
inline constexpr bool wait_polls_fd = posix_platform || sanitizer_defers_signals;

// Signal numbers between the standard signals and SIGRTMIN that the C library keeps for itself
// (glibc: 32 and 33 for its threading implementation).
inline bool reserved_by_libc(int signo) noexcept { return signo > 31 && signo < SIGRTMIN; }

// A wake-up channel: handlers write 8 bytes (a count of 1) to `write`, pollers watch `read`, and a
// drain makes `read` unreadable again. Linux: one non-blocking, close-on-exec eventfd (read ==
// write). posix: a non-blocking, close-on-exec pipe, so the channel owns two fds; a write to a full
// pipe fails with EAGAIN, which is not an error (a wake-up is pending: the reader has data).
struct wakeup_fds {
  int read = -1;
  int write = -1;
};

// What a wake-up channel is, for error messages ("cannot create " + wakeup_kind): the descriptor
// whose creation failed (EMFILE and the like), named as it is on this layer.
inline constexpr const char* wakeup_kind = posix_platform ? "a wake-up pipe" : "an eventfd";

// Creates a wake-up channel; {-1, -1} and `ec` on failure (nothing is left open).
wakeup_fds make_wakeup(std::error_code& ec) noexcept;

// Closes a channel's fds (each once).
void close_wakeup(const wakeup_fds& fds) noexcept;

// Gives a channel's fd numbers a new, empty channel of their own: a fork child's copy of an object
// shares its channel with the parent, and pollers in the child (a loop set up again with
// uv_loop_fork() or event_reinit()) watch it by number. The parent keeps the old channel. Async-
// signal-safe (the registry's fork child handler calls it): false, nothing changed, if the new
// channel cannot be made.
bool renew_wakeup(const wakeup_fds& fds) noexcept;

// Makes a channel's read end unreadable; returns the wake-ups read. Linux: the eventfd's counter
// (0 if it was not readable). posix: reads until EAGAIN, returns the bytes read / 8 (a full pipe
// holds at most its capacity / 8 wake-ups: more were coalesced). Retries EINTR; never blocks.
std::uint64_t drain_wakeup(int read_fd) noexcept;

#if SIGRELAY_LINUX
// A non-blocking, close-on-exec eventfd; -1 and `ec` on failure.
int make_eventfd(std::error_code& ec) noexcept;

// Reads and returns an eventfd's counter (0 if it was not readable). Retries EINTR.
std::uint64_t drain_eventfd(int fd) noexcept;
#endif

// poll() with a timeout in nanoseconds (< 0: forever); returns what poll() does (EINTR included).
// Linux: ppoll() with no signal mask; posix: poll() with the timeout rounded up to milliseconds.
int poll_ns(struct pollfd* fds, nfds_t count, long long timeout_ns) noexcept;

// Closes an fd, ignoring EINTR (Linux always releases the fd).
void close_fd(int fd) noexcept;

#if SIGRELAY_LINUX
// Blocks while *word == expected, up to `timeout_ns` (< 0: forever). Returns false on timeout.
// Linux only: the posix layer has no futex (wait_polls_fd).
bool futex_wait(const std::uint32_t* word, std::uint32_t expected, long long timeout_ns) noexcept;
#endif

// The calling thread's id, for tables of threads (never for signalling on posix). Linux: the
// kernel's tid. posix: the system's own thread id where there is one (macOS pthread_threadid_np,
// FreeBSD pthread_getthreadid_np), else (Linux included) a number unique in the process, > 0.
pid_t gettid() noexcept;

}  // namespace sigrelay::detail::os
