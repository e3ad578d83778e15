// SPDX-License-Identifier: MIT
// tools/sigrelay/sched_attributes.hpp — struct sched_attr of sched_setattr(2) and sched_getattr(2),
// which glibc 2.36 neither wraps nor declares: the fields up to sched_period, SCHED_ATTR_SIZE_VER0,
// the size every kernel since 3.14 takes. Used by the init (run_init.cc, its own slice) and its tests.
#pragma once

#include <cstdint>

namespace sigrelay::tool {

struct sched_attributes {
  std::uint32_t size;
  std::uint32_t sched_policy;
  std::uint64_t sched_flags;
  std::int32_t sched_nice;
  std::uint32_t sched_priority;
  std::uint64_t sched_runtime;  // SCHED_OTHER (Linux 6.12 and later): the task's own slice, in ns
  std::uint64_t sched_deadline;
  std::uint64_t sched_period;
};
static_assert(sizeof(sched_attributes) == 48, "SCHED_ATTR_SIZE_VER0");

}  // namespace sigrelay::tool
