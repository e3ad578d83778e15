// SPDX-License-Identifier: MIT
// src/handler/capi_action.hpp — the registry action that calls a C action (<sigrelay.h>).
#pragma once

#include <csignal>

namespace sigrelay::detail {

// What a C action was registered with; owned by src/capi.cc until its action is removed.
struct c_action {
  void (*fn)(void* context, const siginfo_t* info);
  void* context;
};

// Signal context: the registry action for a C action; `box` is a c_action. Calls its function with
// the siginfo's address. Async-signal-safe itself (one indirect call; errno is saved by the registry).
void call_c_action(void* box, const siginfo_t& info) noexcept;

}  // namespace sigrelay::detail
