// SPDX-License-Identifier: MIT
// tests/support/descriptors.hpp — the descriptors a process has open, to check that nothing leaks
// (a constructor that fails half-way, create/destroy loops). Header-only.
#pragma once

#include <dirent.h>
#include <cstdlib>
#include <set>

namespace sigrelay::test {

// The descriptors open in this process, in order (from /proc/self/fd, without the directory's own).
inline std::set<int> open_fds() {
  std::set<int> out;
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr) return out;
  const int own = ::dirfd(d);
  while (const dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    const int fd = std::atoi(e->d_name);
    if (fd != own) out.insert(fd);
  }
  ::closedir(d);
  return out;
}

}  // namespace sigrelay::test
