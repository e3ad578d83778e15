// src/handler/relays.hpp — the relays' signal-context halves. Signal context.
#pragma once

#include <sys/types.h>
#include <csignal>

#include "sigrelay/relays.hpp"

namespace sigrelay::detail {

// Each is an action function: async-signal-safe, runs in signal context, errno restored by the
// trampoline.
void set_flag_fn(void* flag, const siginfo_t& info) noexcept;
void add_count_fn(void* counter, const siginfo_t& info) noexcept;
void die_if_set_fn(void* flag, const siginfo_t& info) noexcept;
void default_action_fn(void* unused, const siginfo_t& info) noexcept;
void wake_fd_fn(void* target, const siginfo_t& info) noexcept;

// Writes one 8-byte wake-up to a non-blocking fd; a full pipe or saturated eventfd is not an error
// (the reader has a wake-up pending). Async-signal-safe.
void write_wakeup(int fd) noexcept;

}  // namespace sigrelay::detail
