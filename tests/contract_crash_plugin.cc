// SPDX-License-Identifier: MIT
// tests/contract_crash_plugin.cc — a module that tests/contract_crash_test.cc loads with dlopen()
// after crash::install(), and that crashes in its own code: its frames are in no module of the table
// that install() read, until refresh_modules().
#include <cstdio>

namespace {
volatile int* volatile g_plugin_null = nullptr;
}  // namespace

extern "C" __attribute__((noinline, visibility("default"), no_sanitize("undefined"))) void
contract_crash_plugin_fault() {
  *g_plugin_null = 7;
  std::puts("not reached");
}
