// SPDX-License-Identifier: MIT
// tests/support/process.hpp — run a program (an example) with its output captured, optionally on a
// pseudo-terminal so that a test can type Ctrl+C at it.
#pragma once

#include <sys/types.h>
#include <chrono>
#include <string>
#include <vector>

namespace sigrelay::test {

class process {
 public:
  // Starts `path args...` with a clean signal state (nothing ignored or blocked). With `use_pty`, the
  // program runs in a new session whose controlling terminal is a fresh pseudo-terminal.
  process(const std::string& path, const std::vector<std::string>& args, bool use_pty = false);
  ~process();  // kills and reaps the program if it still runs
  process(const process&) = delete;
  process& operator=(const process&) = delete;

  pid_t pid() const { return pid_; }
  // Reads output until it contains `text` (true) or the time is up / output ends (false). Once found,
  // waits (at most half a second) until the program's main thread sleeps: output is usually followed
  // by a wait for a signal, and ThreadSanitizer loses a signal that arrives as a thread enters one
  // (see wait_until_asleep()).
  bool wait_for_output(const std::string& text, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Types into the terminal (pty only), e.g. "\x03" for Ctrl+C.
  void type(const std::string& keys);
  // Reads the rest of the output and reaps the program; returns its wait status.
  int finish(unsigned timeout_s = 20);
  const std::string& output() const { return output_; }

 private:
  enum class read_result { data, nothing_yet, end };
  read_result read_some(int timeout_ms);
  pid_t pid_ = -1;
  int fd_ = -1;
  bool reaped_ = false;
  std::string output_;
};

// Whether thread `tid` of this process blocks `signo` (/proc/self/task/TID/status, SigBlk); false
// if the thread is gone.
bool thread_blocks(pid_t tid, int signo);

// Waits (at most `timeout`, polling every millisecond) until thread `tid` of process `pid` is asleep
// in the kernel (state S in /proc/PID/task/TID/stat); false if the time ran out. For a test whose
// thread has one blocking call left to make: that it has made it. ThreadSanitizer (GCC 12's) loses a
// signal that arrives as a thread enters an intercepted blocking call (README, "Caveats"): a sender
// waits for this before it signals such a thread.
bool wait_until_asleep(pid_t pid, pid_t tid, std::chrono::milliseconds timeout);

}  // namespace sigrelay::test
