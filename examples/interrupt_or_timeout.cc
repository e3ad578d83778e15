// SPDX-License-Identifier: MIT
// examples/interrupt_or_timeout.cc — the article's final example in C++.
//
// A waiting thread iterates over SIGINT deliveries and hands each to the main thread through a
// channel; the main thread waits for "an interrupt or a 5-second timeout" and prints which came
// first. The signal handler itself only records and wakes; everything else is ordinary code.
// Interrupted, it ends the way an interrupted program should: killed by SIGINT (so that a shell
// running it in a script stops there too), not with a misleading exit status 0.
//
//   ./interrupt_or_timeout [seconds]    press Ctrl+C (or `kill -INT <pid>`) within the time
#include <unistd.h>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "sigrelay/relays.hpp"
#include "sigrelay/signals.hpp"

namespace {

// The smallest channel that does the job: a counter under a mutex, and a condition variable.
class interrupt_channel {
 public:
  void send() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ++pending_;
    }
    ready_.notify_one();
  }
  // True if an interrupt arrived before the timeout.
  bool receive_for(std::chrono::seconds timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    return ready_.wait_for(lock, timeout, [this] { return pending_ > 0; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  int pending_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  const auto timeout = std::chrono::seconds(argc > 1 ? std::atoi(argv[1]) : 5);
  sigrelay::signals sigs{SIGINT};
  auto closer = sigs.get_handle();
  interrupt_channel interrupts;

  std::thread waiter([&] {
    for (const sigrelay::signal_event& e : sigs) {  // until closed
      (void)e;
      interrupts.send();
    }
  });

  std::printf("pid %d: press Ctrl+C (or kill -INT %d) within %lld s\n", getpid(), getpid(),
              static_cast<long long>(timeout.count()));
  std::fflush(stdout);
  const bool interrupted = interrupts.receive_for(timeout);
  if (interrupted) {
    std::printf("Received interrupt notification\n");
  } else {
    std::printf("Finally finished the long task\n");
  }
  closer.close();
  waiter.join();
  if (interrupted) {
    std::fflush(stdout);
    sigrelay::relay::die_by_signal(SIGINT);  // the parent sees "killed by SIGINT"
  }
  return 0;
}
