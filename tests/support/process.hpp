// SPDX-License-Identifier: MIT
// tests/support/process.hpp — run a program (an example) with its output captured, optionally on a
// pseudo-terminal so that a test can type Ctrl+C at it.
#pragma once

#include <sys/types.h>
#include <chrono>
#include <cstdint>
#include <set>
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

// The set of signals thread `tid` of this process blocks (SigBlk of /proc/self/task/TID/status;
// bit signo-1), in `blocked`; false if the thread is gone.
bool thread_blocked_set(pid_t tid, std::uint64_t& blocked);

// Whether thread `tid` of this process blocks `signo`; false if the thread is gone.
bool thread_blocks(pid_t tid, int signo);

// The threads a sanitizer runtime keeps with every signal blocked: ThreadSanitizer starts one in a
// fork child and another at the process's first pthread_create(). Starts (and joins) a thread first,
// so that the second exists, then names every other thread whose blocked set differs from the
// calling thread's. Call it before what is checked, and pass the result to
// threads_with_another_mask(). Empty without a sanitizer that starts threads.
std::set<pid_t> runtime_threads();

// How many other threads of this process, not among `runtime`, block another set of signals than the
// calling thread; each is reported as a test failure with both sets. No thread of a library object
// should be left doing so by its constructor: glibc blocks every signal in a new thread until it runs
// (sigrelay/detail/settled_thread.hpp).
int threads_with_another_mask(const std::set<pid_t>& runtime);

// Waits (at most `timeout`, polling every millisecond) until thread `tid` of process `pid` is asleep
// in the kernel (state S in /proc/PID/task/TID/stat); false if the time ran out. For a test whose
// thread has one blocking call left to make: that it has made it. ThreadSanitizer (GCC 12's) loses a
// signal that arrives as a thread enters an intercepted blocking call (README, "Caveats"): a sender
// waits for this before it signals such a thread.
bool wait_until_asleep(pid_t pid, pid_t tid, std::chrono::milliseconds timeout);

}  // namespace sigrelay::test
