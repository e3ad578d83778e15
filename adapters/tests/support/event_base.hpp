// SPDX-License-Identifier: MIT
// adapters/tests/support/event_base.hpp — a private event_base for the libevent adapter's tests.
#pragma once

#include <event2/event.h>
#include <gtest/gtest.h>

namespace sigrelay::test {

// A private event_base, freed at the end.
struct base {
  event_base* raw = event_base_new();
  base() { EXPECT_NE(nullptr, raw); }
  ~base() {
    if (raw != nullptr) event_base_free(raw);
  }
  base(const base&) = delete;
  base& operator=(const base&) = delete;
  event_base* get() { return raw; }
};

}  // namespace sigrelay::test
