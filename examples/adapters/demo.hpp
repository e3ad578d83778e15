// SPDX-License-Identifier: MIT
// examples/adapters/demo.hpp — what the adapter examples share: printing an event, and a child
// process that sends the example a few signals.
#pragma once

#include <sigrelay/signals.hpp>

#include <sys/wait.h>
#include <unistd.h>
#include <csignal>
#include <iostream>

namespace demo {

// "SIGUSR2 x1 from pid 4242 (queue, uid 1000, untrusted, value 42)"
inline void print(const sigrelay::signal_event& e) { std::cout << e << std::endl; }

// A child process sends us SIGHUP, SIGUSR1 twice, a sigqueue() value and SIGTERM, then exits; we
// reap it.
inline void send_demo_signals() {
  const pid_t parent = getpid();
  const pid_t child = fork();
  if (child == 0) {
    kill(parent, SIGHUP);
    kill(parent, SIGUSR1);
    kill(parent, SIGUSR1);  // the kernel may merge these two into one delivery (x1) or not (x2)
    sigqueue(parent, SIGUSR2, sigval{42});
    kill(parent, SIGTERM);
    _exit(0);
  }
  if (child > 0) waitpid(child, nullptr, 0);
}

}  // namespace demo
