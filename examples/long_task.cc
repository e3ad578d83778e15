// SPDX-License-Identifier: MIT
// examples/long_task.cc — the article's first example, done right.
//
// A long task that the user may interrupt with Ctrl+C: it says it did not finish, still says
// goodbye, and then ends the way an interrupted program should (killed by SIGINT, so that a shell
// running it in a script stops there too). A second Ctrl+C during the goodbye ends it at once.
//
//   ./long_task [seconds]      (default 10)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "sigrelay/termination.hpp"

int main(int argc, char** argv) {
  const int seconds = argc > 1 ? std::atoi(argv[1]) : 10;
  sigrelay::termination term;  // SIGINT and SIGTERM
  std::printf("Hello (working for %d s; press Ctrl+C to interrupt)\n", seconds);
  std::fflush(stdout);

  // The "long-running task": sleeps in small steps and notices the stop request between them.
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < end && !term.stop_requested()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (term.stop_requested()) std::printf("Sorry we didn't get the chance to finish\n");
  std::printf("Goodbye\n");
  term.exit(EXIT_SUCCESS);  // killed by the signal if one stopped us, exit 0 otherwise
}
