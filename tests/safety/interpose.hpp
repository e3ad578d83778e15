// SPDX-License-Identifier: MIT
// tests/safety/interpose.hpp — the safety test's view of its own interposers (interpose.cc).
//
// The safety test executable defines malloc, free, calloc, realloc, the aligned allocators,
// pthread_mutex_lock and the stdio output functions itself, so that every call to them from the
// process (the executable, the statically linked library, and the shared libraries through their
// PLT, since the executable exports them) lands here first. Each one notes a *violation* if it is
// called while the calling thread is inside sigrelay's trampoline, then forwards to the C library.
//
// "Inside the trampoline" is a per-thread depth counter that `hook` keeps: the trampoline calls it
// on entering and on leaving (sigrelay::detail::g_handler.hook, a test-only observer). Everything
// here that the hook or an interposer touches is async-signal-safe: initial-exec TLS, lock-free
// atomics and fixed arrays; nothing allocates.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sigrelay::safety {

// The trampoline hook: install with g_handler.hook.store(&safety::hook).
void hook(bool entering) noexcept;

// Violations noted since the last reset(): how many, and the name of the i-th (i < capacity()).
std::size_t violations() noexcept;
const char* violation_name(std::size_t i) noexcept;
std::size_t capacity() noexcept;
// The distinct names among the first capacity() violations, "malloc, free, ...", for failure
// messages. Ordinary context.
const char* violation_summary() noexcept;

// Trampoline entries (nested ones included) since the last reset(), in the whole process and on this thread.
std::uint64_t hook_entries() noexcept;
std::uint64_t hook_entries_on_this_thread() noexcept;

// From now on, each violation is also written, as a line with its name, to `fd` (-1: no longer):
// for a process that dies inside the window (a crash report), whose counters nobody can read later.
void set_violation_fd(int fd) noexcept;

// The calling thread's depth counter: how many trampoline runs are on its stack. The interposer
// self-test forces it up to check that a call in the window is noticed.
int depth() noexcept;
void set_depth(int depth) noexcept;

// Clears the violations and the process-wide entry count (not the per-thread counts).
void reset() noexcept;

// Whether every forwarding target was found in the C library (checked once at startup).
bool forwarding_resolved() noexcept;

}  // namespace sigrelay::safety
