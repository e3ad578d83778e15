// SPDX-License-Identifier: MIT
// sigrelay/detail/fork_children.hpp — a count of fork children, for the compiled libuv and libevent
// adapters. Not API: it may change in any release.
#pragma once

#include "sigrelay/export.hpp"
#include "sigrelay/signals.hpp"

namespace sigrelay::detail {

// How many times this process's registry became a fork child's: in the fork() child handler, and in
// after_fork_in_child() in a child of _Fork() (which runs no fork handlers). One relaxed atomic load.
// A watcher's callback that forks leaves the child in the middle of a batch the parent drained,
// whose rest is the parent's to hand out: the dispatch loop reads the count around each callback to
// tell. (A child of _Fork() that has not called after_fork_in_child() yet is told by its source's
// is_inherited(), which is true there until then.)
SIGRELAY_EXPORT unsigned fork_children() noexcept;

// The options of a signals object that an adapter makes from signal numbers: it follows fork where
// it can (the relay backend), as the peers' watchers go on in a child that sets its loop up again.
inline signals_options following_fork(signals_options options) noexcept {
  options.follow_fork = options.backend == backend::relay;
  return options;
}

}  // namespace sigrelay::detail
