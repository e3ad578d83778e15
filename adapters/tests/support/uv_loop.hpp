// SPDX-License-Identifier: MIT
// adapters/tests/support/uv_loop.hpp — a private libuv loop for the uv adapter's tests.
#pragma once

#include <gtest/gtest.h>
#include <uv.h>

namespace sigrelay::test {

// A private loop, closed (and checked to have no handle left) at the end.
struct loop {
  uv_loop_t raw{};
  loop() { EXPECT_EQ(0, uv_loop_init(&raw)); }
  ~loop() {
    uv_run(&raw, UV_RUN_NOWAIT);  // lets close callbacks run
    EXPECT_EQ(0, uv_loop_close(&raw)) << "a handle was left open";
  }
  loop(const loop&) = delete;
  loop& operator=(const loop&) = delete;
  uv_loop_t* get() { return &raw; }
};

}  // namespace sigrelay::test
