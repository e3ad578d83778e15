// SPDX-License-Identifier: MIT
// tests/interop/unload_module.cc — a module (dlopen()ed by unload_test) that adds a registry action
// whose code lives in the module, and may remove it from its own destructor on dlclose(), with
// sigrelay::remove_actions_in_module() (see <sigrelay/describe.hpp>, "Unloaded code").
// Built as a CMake MODULE without sigrelay: its sigrelay symbols resolve to the test program's
// (linked with -rdynamic), so that there is one registry in the process.
#include <atomic>
#include <cstddef>

#include "sigrelay/describe.hpp"
#include "sigrelay/registry.hpp"

namespace {

bool g_remove_on_unload = false;
std::size_t* g_removed_out = nullptr;

// Signal context: one lock-free atomic increment of the test's counter.
void module_action(void* counter, const siginfo_t&) noexcept {
  static_cast<std::atomic<int>*>(counter)->fetch_add(1, std::memory_order_relaxed);
}

__attribute__((destructor)) void on_unload() {
  if (!g_remove_on_unload) return;
  const std::size_t removed = sigrelay::remove_actions_in_module(reinterpret_cast<const void*>(&on_unload));
  if (g_removed_out != nullptr) *g_removed_out = removed;
}

}  // namespace

// Adds the module's action for `signo`, counting into `counter`. With `remove_on_unload`, the
// module's destructor removes it on dlclose() and stores how many it removed in *removed_out.
extern "C" __attribute__((visibility("default"))) sigrelay::action_id unload_module_add(
    int signo, std::atomic<int>* counter, bool remove_on_unload, std::size_t* removed_out) {
  g_remove_on_unload = remove_on_unload;
  g_removed_out = removed_out;
  return sigrelay::add_action(signo, sigrelay::action{module_action, counter});
}
