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
#include <map>
#include <set>
#include <string>
#include <thread>

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

// The other threads of this process whose blocked set differs from the calling thread's, by thread
// id, with their SigBlk.
inline std::map<std::string, std::string> threads_masking_otherwise() {
  std::map<std::string, std::string> found;
  const std::string mine = blocked_mask("/proc/thread-self/status");
  EXPECT_FALSE(mine.empty());
  const std::string self_tid = std::to_string(::gettid());
  DIR* dir = ::opendir("/proc/self/task");
  EXPECT_NE(dir, nullptr) << std::strerror(errno);
  if (dir == nullptr) return found;
  while (const dirent* entry = ::readdir(dir)) {
    const std::string tid = entry->d_name;
    if (tid == "." || tid == ".." || tid == self_tid) continue;
    const std::string theirs = blocked_mask("/proc/self/task/" + tid + "/status");
    if (!theirs.empty() && theirs != mine) found[tid] = theirs;
  }
  ::closedir(dir);
  return found;
}

// The threads a sanitizer runtime keeps with every signal blocked: ThreadSanitizer starts one in a
// fork child and another at the process's first pthread_create(). Starts (and joins) a thread first,
// so that the second exists; call it before what is measured, and pass the result to
// threads_with_another_mask(). Empty without a sanitizer that starts threads.
inline std::set<std::string> runtime_threads() {
  std::thread([] {}).join();
  std::set<std::string> tids;
  for (const auto& [tid, mask] : threads_masking_otherwise()) tids.insert(tid);
  return tids;
}

// How many other threads of this process, not among `runtime`, block another set of signals than the
// calling thread; each is reported as a test failure with both masks.
inline int threads_with_another_mask(const std::set<std::string>& runtime) {
  const std::string mine = blocked_mask("/proc/thread-self/status");
  int others = 0;
  for (const auto& [tid, mask] : threads_masking_otherwise()) {
    if (runtime.count(tid) != 0) continue;
    ADD_FAILURE() << "thread " << tid << " blocks" << mask << ", its creator" << mine;
    ++others;
  }
  return others;
}

}  // namespace sigrelay::test
