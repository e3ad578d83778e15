// SPDX-License-Identifier: MIT
// sigrelay/detail/fork_children.hpp — a count of fork() children, for the compiled libuv and libevent
// adapters. Not API: it may change in any release.
#pragma once

#include <pthread.h>

#include <atomic>

#include "sigrelay/signals.hpp"

namespace sigrelay::detail {

// Fork children made since the first watch_fork_children() of the process: a pthread_atfork() child
// handler (one atomic add: async-signal-safe) counts them. A watcher's callback that fork()s leaves
// the child in the middle of a batch the parent drained, whose rest is the parent's to hand out: the
// dispatch loop reads the count around each callback (one relaxed load) to tell. (Not after
// _Fork(), which runs no fork handlers: the watchers' getpid() checks at the next wake-up still
// drop the parent's events there.)
inline std::atomic<unsigned>& fork_children_count() noexcept {
  static std::atomic<unsigned> count{0};  // constant-initialised: no guard
  return count;
}

inline void watch_fork_children() {
  static const bool registered = [] {
    ::pthread_atfork(nullptr, nullptr, [] { fork_children_count().fetch_add(1, std::memory_order_relaxed); });
    return true;
  }();
  (void)registered;
}

// The options of a signals object that an adapter makes from signal numbers: it follows fork where
// it can (the relay backend), as the peers' watchers go on in a child that sets its loop up again.
inline signals_options following_fork(signals_options options) noexcept {
  options.follow_fork = options.backend == backend::relay;
  return options;
}

inline unsigned fork_children() noexcept { return fork_children_count().load(std::memory_order_relaxed); }

}  // namespace sigrelay::detail
