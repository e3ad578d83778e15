// SPDX-License-Identifier: MIT
// examples/signalfd_loop.cc — the article's signalfd loop, with sigrelay's signalfd backend.
//
// sigrelay blocks the signals and reads them from a signalfd, and fixes the trap every signalfd
// write-up warns about: children started with fork()+exec() (or posix_spawn with
// sigrelay::spawn_attr) get their normal signal mask back.
//
//   ./signalfd_loop       prints each SIGINT/SIGTERM/SIGHUP; exits after 5 s of quiet
#include <poll.h>
#include <unistd.h>
#include <csignal>
#include <cstdio>
#include <iostream>

#include "sigrelay/signals.hpp"

int main() {
  sigrelay::signals sigs({SIGINT, SIGTERM, SIGHUP}, sigrelay::backend::signalfd);
  std::printf("pid %d: send SIGINT, SIGTERM or SIGHUP; 5 s of quiet ends the loop\n", getpid());
  std::fflush(stdout);
  struct pollfd p {
    sigs.native_handle(), POLLIN, 0
  };
  while (poll(&p, 1, 5000) > 0) {
    for (const sigrelay::signal_event& e : sigs.pending()) {
      // "Received signal 1 (SIGHUP) from pid 4242 (user, uid 1000, trusted)"
      std::cout << "Received signal " << e.signo << " (" << sigrelay::signal_name(e.signo) << ") from "
                << e.last << '\n';
    }
    std::cout.flush();
  }
  std::printf("quiet for 5 s: bye\n");
  return 0;
}
