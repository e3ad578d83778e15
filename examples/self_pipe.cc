// SPDX-License-Identifier: MIT
// examples/self_pipe.cc — the self-pipe trick, with sigrelay's registry and fd relay.
//
// The handler only writes to a non-blocking pipe (an 8-byte count, never a pointer; a full pipe
// never blocks it); a poll() loop in ordinary code reads it. Unlike a hand-written version, the
// earlier SIGINT disposition is chained and restored, and errno is preserved.
//
//   ./self_pipe [count]   handles `count` SIGINT/SIGUSR1 deliveries (default 3), then exits
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "sigrelay/registry.hpp"
#include "sigrelay/relays.hpp"

int main(int argc, char** argv) {
  const int wanted = argc > 1 ? std::atoi(argv[1]) : 3;
  int fds[2];
  if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return 1;
  sigrelay::relay::fd_relay relay(fds[1]);
  const auto on_int = sigrelay::add_action(SIGINT, relay.get());
  const auto on_usr1 = sigrelay::add_action(SIGUSR1, relay.get());
  std::printf("pid %d: waiting for %d signals (Ctrl+C, or kill -USR1 %d)\n", getpid(), wanted, getpid());
  std::fflush(stdout);

  int handled = 0;
  while (handled < wanted) {
    struct pollfd p {
      fds[0], POLLIN, 0
    };
    if (poll(&p, 1, -1) <= 0) continue;  // EINTR: poll again
    std::uint64_t wakeups = 0;
    while (read(fds[0], &wakeups, sizeof wakeups) == sizeof wakeups) {
      ++handled;
      std::printf("Received signal (%d so far)\n", handled);
    }
    std::fflush(stdout);
  }
  sigrelay::remove_action(on_int);  // Ctrl+C kills this process again from here on
  sigrelay::remove_action(on_usr1);
  std::printf("done\n");
  return 0;
}
