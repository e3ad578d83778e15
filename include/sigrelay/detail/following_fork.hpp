// SPDX-License-Identifier: MIT
// sigrelay/detail/following_fork.hpp — the options the adapters give a `signals` they make from
// signal numbers, so that it goes on in a fork child. Not API: installed only because the
// header-only Asio adapter uses it (as do the compiled libuv and libevent adapters); it may change in
// any release.
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
