// SPDX-License-Identifier: MIT
// tools/sigrelay/tests/run_support.hpp — small helpers shared by the tests of `sigrelay run`: the
// state of a process in /proc, and the words the probe (run_probe.cc) prints.
#pragma once

#include <sys/types.h>
#include <sys/wait.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>

namespace sigrelay::test::run {

// The exit code of a wait status; -1 if the process did not exit.
inline int exit_code(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : -1; }

// The state letter of /proc/PID/stat ('S', 'R', 'T', 'Z', ...), or '?' if it is gone.
inline char proc_state(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  std::getline(in, text);
  const std::size_t close = text.rfind(')');
  return close == std::string::npos || close + 2 >= text.size() ? '?' : text[close + 2];
}

// Waits (at most `seconds`) until `pid` is in state `want`.
inline bool wait_for_state(pid_t pid, char want, int seconds = 10) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (proc_state(pid) == want) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return false;
}

// The characters after `key` up to a space or a line end ("" if `key` is absent).
inline std::string word_after(const std::string& text, const std::string& key) {
  const std::size_t at = text.find(key);
  if (at == std::string::npos) return "";
  const std::size_t start = at + key.size();
  return text.substr(start, text.find_first_of(" \r\n", start) - start);
}

// The pid the probe printed in "ready pid=P"; 0 if absent.
inline pid_t ready_pid(const std::string& output) {
  const std::string pid = word_after(output, "ready pid=");
  return pid.empty() ? 0 : static_cast<pid_t>(std::stoi(pid));
}

}  // namespace sigrelay::test::run
