// SPDX-License-Identifier: MIT
// tests/support/platform.hpp — which platform layer the library under test was built with.
//
// The posix preset builds the library with the portable layer (SIGRELAY_PLATFORM=posix) on Linux and
// runs the whole suite; a test of a Linux-only feature (the signalfd backend, holds of full realtime
// rings, ...) starts with SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("what it needs"), which skips it there
// with that reason and does nothing in the linux layer's presets.
#pragma once

#include <gtest/gtest.h>

namespace sigrelay::test {

// True if the library was built with SIGRELAY_PLATFORM=posix.
bool posix_platform() noexcept;

}  // namespace sigrelay::test

// At the top of a TEST body (GTEST_SKIP returns from it), never inside a forked child's body.
#define SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM(feature)                                        \
  do {                                                                                      \
    if (::sigrelay::test::posix_platform())                                                 \
      GTEST_SKIP() << feature << " is Linux-only: this build uses the posix platform layer" \
                   << " (SIGRELAY_PLATFORM=posix)";                                         \
  } while (0)

// At the top of a TEST body of holds of full realtime rings (signals.hpp, "Realtime floods"), which
// the posix layer (Linux-only rt_tgsigqueueinfo()) and ThreadSanitizer (it runs handlers on a copy of
// the interrupted context, so a block would not stick) do not have.
#if defined(__SANITIZE_THREAD__)
#define SIGRELAY_TEST_UNDER_TSAN true
#else
#define SIGRELAY_TEST_UNDER_TSAN false
#endif
namespace sigrelay::test {
inline constexpr bool kUnderTsan = SIGRELAY_TEST_UNDER_TSAN;  // for ordinary `if`s in test bodies
}  // namespace sigrelay::test
#define SIGRELAY_SKIP_WITHOUT_HOLDS()                                                               \
  do {                                                                                              \
    SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("holds (the posix layer counts a full ring in dropped())"); \
    if (SIGRELAY_TEST_UNDER_TSAN)                                                                   \
      GTEST_SKIP() << "no holds under ThreadSanitizer (see signals.hpp, \"Realtime floods\")";      \
  } while (0)
