// SPDX-License-Identifier: MIT
// tests/support/events.hpp — two small checks that many signal tests share: whether a descriptor
// polls readable, and how many deliveries of a signal a batch of events carries.
#pragma once

#include <poll.h>
#include <cerrno>
#include <cstdint>
#include <vector>

#include <sigrelay/signals.hpp>

namespace sigrelay::test {

// Whether `fd` polls readable within `timeout_ms` (0: right now). A poll() that a signal handler
// interrupts (a SIGCHLD handler, a test's own) is made again with the whole timeout.
inline bool readable(int fd, int timeout_ms = 0) {
  struct pollfd p {
    fd, POLLIN, 0
  };
  int r;
  while ((r = ::poll(&p, 1, timeout_ms)) < 0 && errno == EINTR) {
  }
  return r == 1 && (p.revents & POLLIN) != 0;
}

// The deliveries of `signo` that `events` carries (the sum of their counts).
inline std::uint64_t total(const std::vector<signal_event>& events, int signo) {
  std::uint64_t n = 0;
  for (const auto& e : events) n += e.signo == signo ? e.count : 0;
  return n;
}

}  // namespace sigrelay::test
