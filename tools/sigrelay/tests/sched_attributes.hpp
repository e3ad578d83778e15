// SPDX-License-Identifier: MIT
// tools/sigrelay/tests/sched_attributes.hpp — a process's scheduling policy, nice value and slice in
// words (sched_getattr(2)), for the init's slice test (run_test.cc) and run_probe's `sched` mode.
#pragma once

#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>
#include <string>

#include "../sched_attributes.hpp"

namespace sigrelay::test {

using sigrelay::tool::sched_attributes;

// "policy=P nice=N slice=S" of `pid` (0: the caller), or "unreadable".
inline std::string sched_of(pid_t pid) {
  sched_attributes a{};
  if (syscall(SYS_sched_getattr, pid, &a, sizeof a, 0) != 0) return "unreadable";
  return "policy=" + std::to_string(a.sched_policy) + " nice=" + std::to_string(a.sched_nice) +
         " slice=" + std::to_string(a.sched_runtime);
}

}  // namespace sigrelay::test
