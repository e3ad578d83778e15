// SPDX-License-Identifier: MIT
// tests/support/flood_limit.hpp — keep a flood test from starving the tests that ctest runs beside it.
//
// The kernel counts queued signals per user, across every process of that user, and refuses a new
// one (sigqueue() and timer_create() fail with EAGAIN, kill() of a realtime signal is dropped) once
// that count passes the *receiver's* RLIMIT_SIGPENDING. A flood test that lets the kernel queue as
// much as it will therefore used to take the whole allowance of root for a second or more, and tests
// running beside it in parallel failed at their own sigqueue() or timer_create(). A flood receiver
// calls this first: with its soft limit at a third of the hard one, every flood running at once
// stops at that third together, and the rest stays for everything else. Header-only, no gtest: the
// exit-race child uses it too.
#pragma once

#include <sched.h>
#include <sys/resource.h>

namespace sigrelay::test {

// Lowers the calling process's soft RLIMIT_SIGPENDING (its children inherit it) to a third of the
// hard limit, never below `floor` (a flood must still overflow a ring of 1024) and never above what
// it was. Returns the soft limit now in force, or 0 when it cannot be read.
inline rlim_t cap_pending_signals_for_a_flood(rlim_t floor = 8192) {
  struct rlimit limit {};
  if (getrlimit(RLIMIT_SIGPENDING, &limit) != 0) return 0;
  if (limit.rlim_max == RLIM_INFINITY) return limit.rlim_cur;  // nothing to share: no one starves
  rlim_t share = limit.rlim_max / 3;
  if (share < floor) share = floor;
  if (limit.rlim_cur == RLIM_INFINITY || share < limit.rlim_cur) {
    limit.rlim_cur = share < limit.rlim_max ? share : limit.rlim_max;
    if (setrlimit(RLIMIT_SIGPENDING, &limit) != 0) return 0;
  }
  return limit.rlim_cur;
}

// Pins the calling thread to the first CPU it may run on (threads it creates later inherit that),
// so that a flood's sender, receivers and consumer share one CPU. False if the affinity cannot be
// read or set.
inline bool pin_to_one_cpu() {
  cpu_set_t cpus;
  CPU_ZERO(&cpus);
  if (sched_getaffinity(0, sizeof cpus, &cpus) != 0) return false;
  int first = 0;
  while (first < CPU_SETSIZE && !CPU_ISSET(first, &cpus)) ++first;
  if (first == CPU_SETSIZE) return false;
  CPU_ZERO(&cpus);
  CPU_SET(first, &cpus);
  return sched_setaffinity(0, sizeof cpus, &cpus) == 0;
}

}  // namespace sigrelay::test
