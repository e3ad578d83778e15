// SPDX-License-Identifier: MIT
// src/handler/capi_action.cc — signal-context code of the C API: the call into a C action.
#include "handler/capi_action.hpp"

namespace sigrelay::detail {

// Signal context: async-signal-safe; no allocation, lock or throw; errno is saved and restored by
// the trampoline around every action.
void call_c_action(void* box, const siginfo_t& info) noexcept {
  const c_action* a = static_cast<const c_action*>(box);
  a->fn(a->context, &info);
}

}  // namespace sigrelay::detail
