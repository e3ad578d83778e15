// SPDX-License-Identifier: MIT
// tests/support/platform.cc — see platform.hpp. tests/CMakeLists.txt defines SIGRELAY_PLATFORM_POSIX
// for this file exactly when the library is built with the posix platform layer.
#include "support/platform.hpp"

namespace sigrelay::test {

bool posix_platform() noexcept {
#if defined(SIGRELAY_PLATFORM_POSIX)
  return true;
#else
  return false;
#endif
}

}  // namespace sigrelay::test
