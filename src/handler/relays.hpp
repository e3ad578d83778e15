// SPDX-License-Identifier: MIT
// src/handler/relays.hpp — the relays' signal-context halves. Signal context.
#pragma once

#include <sys/types.h>
#include <atomic>
#include <csignal>
#include <cstdint>

#include "sigrelay/relays.hpp"

namespace sigrelay::detail {

// The relays read and write the user's atomics in signal context: these must not hide a lock (a
// handler interrupting the lock's holder on its own thread would deadlock; see sink.hpp).
static_assert(std::atomic<bool>::is_always_lock_free, "relay::set_flag, die_if_set, default_if_set");
static_assert(std::atomic<std::uint64_t>::is_always_lock_free, "relay::add_count");

// Each is an action function: async-signal-safe, runs in signal context, errno restored by the
// trampoline.
void set_flag_fn(void* flag, const siginfo_t& info) noexcept;
void add_count_fn(void* counter, const siginfo_t& info) noexcept;
void die_if_set_fn(void* flag, const siginfo_t& info) noexcept;
void default_if_set_fn(void* flag, const siginfo_t& info) noexcept;
void default_action_fn(void* unused, const siginfo_t& info) noexcept;

// termination's one action per signal (src/termination.cc): the first delivery (or request_stop())
// arms, and the delivery that finds it armed dies by its signal. One exchange, so that two
// deliveries handled at the same moment on two threads cannot both find it unarmed (a load in one
// action and a store in a later one could). `signo` keeps the first signal that armed it, for
// termination::exit() before the watcher thread has had its turn. Standard layout: the flag first.
struct arm_or_die_state {
  std::atomic<bool> armed{false};
  std::atomic<int> signo{0};
};
static_assert(std::atomic<int>::is_always_lock_free, "arm_or_die_state::signo");
void arm_or_die_fn(void* state, const siginfo_t& info) noexcept;
void wake_fd_fn(void* target, const siginfo_t& info) noexcept;

// The stop emulations of a signal (emulate_default() of SIGTSTP, SIGTTIN or SIGTTOU, which sets
// SIG_DFL for a moment, see relays.cc): how many have started (counted before the SIG_DFL is set)
// and finished (counted after the disposition is put back). check_ownership() (src/describe.cc)
// reads them around its read of the disposition, so that sigrelay's own SIG_DFL is not reported as
// another code's: started != finished before, or more started after, means one may have overlapped.
// Written in signal context, read in ordinary code (finished first, then started).
struct stop_emulations {
  std::uint32_t started;
  std::uint32_t finished;
};
stop_emulations stop_emulations_of(int signo) noexcept;

// Writes one 8-byte wake-up to a non-blocking fd; a full pipe or saturated eventfd is not an error
// (the reader has a wake-up pending). Async-signal-safe.
void write_wakeup(int fd) noexcept;

}  // namespace sigrelay::detail
