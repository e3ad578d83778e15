// SPDX-License-Identifier: MIT
// tests/support/events.hpp — small checks that many signal tests share: whether a descriptor polls
// readable, how many deliveries of a signal a batch of events carries, and collecting what an object
// hands out.
#pragma once

#include <poll.h>
#include <cerrno>
#include <chrono>
#include <cstddef>
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

// Waits (at most about 5 s, in 50 ms turns) until `sigs` has handed out `count` events or more;
// returns them all.
inline std::vector<signal_event> collect(signals& sigs, std::size_t count) {
  std::vector<signal_event> all;
  for (int i = 0; i < 100 && all.size() < count; ++i) {
    for (const signal_event& e : sigs.wait_for(std::chrono::milliseconds(50))) all.push_back(e);
  }
  return all;
}

}  // namespace sigrelay::test
