// SPDX-License-Identifier: MIT
// src/platform/config.hpp — the one switch between Linux-only code and portable code in the library.
//
// SIGRELAY_LINUX is 1 when the library is built with the Linux platform layer (SIGRELAY_PLATFORM=linux,
// the default on Linux) and 0 with the portable one (SIGRELAY_PLATFORM=posix: CMake defines
// SIGRELAY_PLATFORM_POSIX, on Linux in the posix preset and by default elsewhere). Every use of
// something Linux-only in src/ (signalfd, epoll, eventfd, futex, syscall(), gettid(), tgkill(), prctl(),
// rt_tgsigqueueinfo(), MADV_WIPEONFORK, getcontext(), sigtimedwait(), timer_create(), dl_iterate_phdr(),
// __libc_single_threaded, <linux/...> headers) sits in an `#if SIGRELAY_LINUX` block with a portable
// alternative or a clear std::errc::not_supported error in its #else; with 0, the library uses POSIX
// and what macOS and FreeBSD both have (README, "Platforms"). tests/portability checks the posix
// build's objects and preprocessed sources for Linux-only names and headers.
//
// Also: systems without realtime signals (macOS) get an empty realtime range here, SIGRTMIN == NSIG
// and SIGRTMAX == NSIG - 1, so that every `signo >= SIGRTMIN` test is false and no number above the
// standard signals is accepted. glibc, musl and FreeBSD define SIGRTMIN: there this changes nothing.
// (Never compiled where SIGRTMIN is missing: see README.)
#pragma once

#include <csignal>

#if defined(SIGRELAY_PLATFORM_POSIX)
#define SIGRELAY_LINUX 0
#else
#if !defined(__linux__)
#error "the Linux platform layer needs Linux: configure with -DSIGRELAY_PLATFORM=posix"
#endif
#define SIGRELAY_LINUX 1
#endif

#if !defined(SIGRTMIN)
#define SIGRTMIN NSIG
#define SIGRTMAX (NSIG - 1)
#endif

// Linux's si_codes SI_TKILL (tgkill, pthread_kill) and SI_KERNEL: where the system has none, a value
// no siginfo carries, so that `code == SI_TKILL` is false there (such signals then read as their
// system's own codes say: SI_USER, SI_LWP, ...).
#if !defined(SI_TKILL)
#define SI_TKILL (-2147483647 - 1)
#endif
#if !defined(SI_KERNEL)
#define SI_KERNEL (-2147483647 - 1)
#endif
