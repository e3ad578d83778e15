// SPDX-License-Identifier: MIT
// tests/support/process.cc — see process.hpp.
#include "support/process.hpp"

#include <gtest/gtest.h>

#include <dirent.h>
#include <poll.h>
#include <pty.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <thread>

#include "support/child.hpp"

namespace sigrelay::test {

process::process(const std::string& path, const std::vector<std::string>& args, bool use_pty) {
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(path.c_str()));
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::fflush(nullptr);
  if (use_pty) {
    pid_ = forkpty(&fd_, nullptr, nullptr, nullptr);
  } else {
    int fds[2];
    if (pipe(fds) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fds[1], 1);
      dup2(fds[1], 2);
    }
    close(fds[1]);
    fd_ = fds[0];
    if (pid_ == 0) close(fd_);
  }
  if (pid_ == 0) {
    reset_signal_state();
    execv(path.c_str(), argv.data());
    _exit(127);
  }
}

process::~process() {
  if (pid_ > 0 && !reaped_) {
    kill(pid_, SIGKILL);
    wait_with_deadline(pid_, 10);
  }
  if (fd_ >= 0) close(fd_);
}

process::read_result process::read_some(int timeout_ms) {
  struct pollfd p {
    fd_, POLLIN, 0
  };
  const int r = poll(&p, 1, timeout_ms);
  if (r == 0 || (r < 0 && errno == EINTR)) return read_result::nothing_yet;
  if (r < 0) return read_result::end;
  char buffer[4096];
  const ssize_t n = read(fd_, buffer, sizeof buffer);
  if (n <= 0) return read_result::end;  // EOF (a pty says EIO once the program is gone)
  output_.append(buffer, static_cast<std::size_t>(n));
  return read_result::data;
}

bool process::wait_for_output(const std::string& text, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (output_.find(text) == std::string::npos) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || read_some(static_cast<int>(left.count())) == read_result::end) {
      return output_.find(text) != std::string::npos;
    }
  }
  // What a program prints before it waits for a signal is followed by the wait: let it get there
  // (its main thread asleep, for at most half a second: a busy program just goes on).
  wait_until_asleep(pid_, pid_, std::chrono::milliseconds(500));
  return true;
}

void process::type(const std::string& keys) {
  if (write(fd_, keys.data(), keys.size()) < 0) std::perror("write to pty");
}

int process::finish(unsigned timeout_s) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  while (std::chrono::steady_clock::now() < deadline && read_some(200) != read_result::end) {
  }
  reaped_ = true;
  return wait_with_deadline(pid_, timeout_s);
}

bool thread_blocked_set(pid_t tid, std::uint64_t& blocked) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/self/task/%d/status", static_cast<int>(tid));
  std::FILE* f = std::fopen(path, "r");
  if (f == nullptr) return false;
  char line[256];
  unsigned long long value = 0;
  bool found = false;
  while (!found && std::fgets(line, sizeof line, f) != nullptr) {
    found = std::sscanf(line, "SigBlk: %llx", &value) == 1;
  }
  std::fclose(f);
  blocked = value;
  return found;
}

bool thread_blocks(pid_t tid, int signo) {
  std::uint64_t blocked = 0;
  return thread_blocked_set(tid, blocked) && (blocked & (1ULL << (signo - 1))) != 0;
}

namespace {

// The other threads of this process whose blocked set differs from `mine`, with their sets.
std::map<pid_t, std::uint64_t> threads_blocking_otherwise(std::uint64_t mine) {
  std::map<pid_t, std::uint64_t> found;
  DIR* dir = ::opendir("/proc/self/task");
  EXPECT_NE(dir, nullptr) << std::strerror(errno);
  if (dir == nullptr) return found;
  while (const dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    const auto tid = static_cast<pid_t>(std::atoi(entry->d_name));
    std::uint64_t theirs = 0;
    if (tid != ::gettid() && thread_blocked_set(tid, theirs) && theirs != mine) found[tid] = theirs;
  }
  ::closedir(dir);
  return found;
}

std::uint64_t own_blocked_set() {
  std::uint64_t mine = 0;
  EXPECT_TRUE(thread_blocked_set(::gettid(), mine));
  return mine;
}

}  // namespace

std::set<pid_t> runtime_threads() {
  std::thread([] {}).join();
  std::set<pid_t> tids;
  for (const auto& entry : threads_blocking_otherwise(own_blocked_set())) tids.insert(entry.first);
  return tids;
}

int threads_with_another_mask(const std::set<pid_t>& runtime) {
  const std::uint64_t mine = own_blocked_set();
  int others = 0;
  for (const auto& [tid, theirs] : threads_blocking_otherwise(mine)) {
    if (runtime.count(tid) != 0) continue;
    ADD_FAILURE() << "thread " << tid << " blocks " << std::hex << theirs << ", its creator " << mine;
    ++others;
  }
  return others;
}

namespace {

// Whether thread `tid` of process `pid` is asleep in the kernel (state S in its /proc stat).
bool task_sleeps(pid_t pid, pid_t tid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/task/%d/stat", static_cast<int>(pid), static_cast<int>(tid));
  std::FILE* f = std::fopen(path, "r");
  if (f == nullptr) return false;
  char text[512] = {};
  const std::size_t n = std::fread(text, 1, sizeof text - 1, f);
  std::fclose(f);
  const char* close = std::strrchr(text, ')');  // the command name may hold spaces and parentheses
  return n > 0 && close != nullptr && close[1] == ' ' && close[2] == 'S';
}

}  // namespace

bool wait_until_asleep(pid_t pid, pid_t tid, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!task_sleeps(pid, tid)) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

}  // namespace sigrelay::test
