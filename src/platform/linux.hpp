// SPDX-License-Identifier: MIT
// src/platform/linux.hpp — the operating system underneath sigrelay (ordinary context only).
//
// The only place that knows which kernel it runs on. Every wrapper retries EINTR where a retry is
// right, and reports errors as std::error_code; nothing here runs in signal context (those
// system calls live in src/handler/).
#pragma once

#include <csignal>
#include <cstdint>
#include <system_error>

#if !defined(__linux__)
#error "sigrelay currently supports Linux only; the platform layer is the place to port it"
#endif

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

// Signal numbers between the standard signals and SIGRTMIN that the C library keeps for itself
// (glibc: 32 and 33 for its threading implementation).
inline bool reserved_by_libc(int signo) noexcept { return signo > 31 && signo < SIGRTMIN; }

// A non-blocking, close-on-exec eventfd; -1 and `ec` on failure.
int make_eventfd(std::error_code& ec) noexcept;

// Reads and returns an eventfd's counter (0 if it was not readable). Retries EINTR.
std::uint64_t drain_eventfd(int fd) noexcept;

// Closes an fd, ignoring EINTR (Linux always releases the fd).
void close_fd(int fd) noexcept;

// Whether fd has O_NONBLOCK set; false (and `ec`) if fd is not open.
bool is_nonblocking(int fd, std::error_code& ec) noexcept;

// Blocks while *word == expected, up to `timeout_ns` (< 0: forever). Returns false on timeout.
bool futex_wait(const std::uint32_t* word, std::uint32_t expected, long long timeout_ns) noexcept;

pid_t gettid() noexcept;

}  // namespace sigrelay::detail::os
