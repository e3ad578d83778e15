// SPDX-License-Identifier: MIT
// src/registry_view.hpp — a read-only copy of what the registry holds for one signal, for
// describe(), check_ownership() and remove_actions_in_module() (src/describe.cc). Ordinary context.
#pragma once

#include <csignal>
#include <vector>

#include "handler/state.hpp"
#include "sigrelay/registry.hpp"

namespace sigrelay::detail {

struct listed_action {
  entry e;
  action_id id;
  // The code the action runs: e.fn, or for a C action (call_c_action) the C function in its box,
  // read under the mutex (the C API frees a box only after remove_action() returned).
  const void* code;
  // The context given with it: e.context, or for a C action the C context in its box (read so too).
  const void* context;
};

struct registry_view {
  bool installed = false;        // the registry installed its trampoline and has not restored since
  bool ignoring = false;         // ignore() is in force
  struct sigaction previous {};  // the disposition chained / restored (as saved_disposition() says)
  struct sigaction current {};   // the disposition in force, read under the registry's mutex
  std::vector<listed_action> actions;
};

// Copies the registry's record of `signo` (1 <= signo < NSIG) under its mutex. Throws std::bad_alloc.
registry_view view_of(int signo);

}  // namespace sigrelay::detail
