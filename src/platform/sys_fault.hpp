// SPDX-License-Identifier: MIT
// src/platform/sys_fault.hpp — the fault-injection hook of the system-call wrapper (tests only).
//
// Internal: not installed, not part of the public API. A test installs a hook that may make any
// ordinary-context system call of the library fail with an errno of its choice; see sys.cc.
#pragma once

#include <atomic>

namespace sigrelay::detail::sys {

// One id per wrapped system call (src/platform/sys.hpp).
enum class call : unsigned {
  sigaction,
  pthread_sigmask,
  eventfd,
  signalfd,
  epoll_create1,
  epoll_ctl,
  read,
  write,
  poll,
  ppoll,
  futex,
  rt_tgsigqueueinfo,
  close,
  fcntl,
  waitpid,
  open,
  count_  // the number of ids
};

// "sigaction", "eventfd", ... ("?" for an unknown id).
const char* call_name(call c) noexcept;

// Called (when set) before each wrapped system call, in the calling thread, in ordinary context
// only: 0 lets the call go through; an errno value makes the wrapper fail with it without making the
// call (-1 and errno, or the error number for pthread_sigmask). The hook counts calls itself if it
// needs "the nth call". Unset (nullptr, the default) it costs one relaxed atomic load per call.
using fault_fn = int (*)(call c) noexcept;
extern std::atomic<fault_fn> fault_hook;

}  // namespace sigrelay::detail::sys
