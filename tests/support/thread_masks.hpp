// SPDX-License-Identifier: MIT
// tests/support/thread_masks.hpp — the signal masks of this process's threads as /proc shows them,
// to check that no thread of a library object is still starting (sigrelay/detail/settled_thread.hpp):
// glibc blocks every signal in a new thread until it runs. Header-only: the adapters' tests compile the
// support code on their own.
#pragma once

#include <gtest/gtest.h>

#include <dirent.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>

namespace sigrelay::test {

// The SigBlk field of a /proc status file, as written there (hex); empty if unreadable (a thread that
// ended since its directory was listed).
inline std::string blocked_mask(const std::string& status_path) {
  std::ifstream in(status_path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("SigBlk:", 0) == 0) return line.substr(7);
  }
  return {};
}

// How many other threads of this process block another set of signals than the calling thread; each
// is reported as a test failure with both masks.
inline int threads_with_another_mask() {
  const std::string mine = blocked_mask("/proc/thread-self/status");
  EXPECT_FALSE(mine.empty());
  const std::string self_tid = std::to_string(::gettid());
  DIR* dir = ::opendir("/proc/self/task");
  EXPECT_NE(dir, nullptr) << std::strerror(errno);
  if (dir == nullptr) return -1;
  int others = 0;
  while (const dirent* entry = ::readdir(dir)) {
    const std::string tid = entry->d_name;
    if (tid == "." || tid == ".." || tid == self_tid) continue;
    const std::string theirs = blocked_mask("/proc/self/task/" + tid + "/status");
    if (!theirs.empty() && theirs != mine) {
      ADD_FAILURE() << "thread " << tid << " blocks" << theirs << ", its creator" << mine;
      ++others;
    }
  }
  ::closedir(dir);
  return others;
}

}  // namespace sigrelay::test
