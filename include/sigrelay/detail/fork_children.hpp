// SPDX-License-Identifier: MIT
// sigrelay/detail/fork_children.hpp — what the compiled libuv and libevent adapters share about fork.
// Not API: it may change in any release.
#pragma once

#include "sigrelay/signals.hpp"

namespace sigrelay::detail {

// The options of a signals object that an adapter makes from signal numbers: it follows fork where
// it can (the relay backend), as the peers' watchers go on in a child that sets its loop up again.
inline signals_options following_fork(signals_options options) noexcept {
  options.follow_fork = options.backend == backend::relay;
  return options;
}

}  // namespace sigrelay::detail
