// SPDX-License-Identifier: MIT
// examples/dispatcher.cc — callbacks per signal, run on the main thread.
//
//   ./dispatcher    SIGHUP "reloads", SIGUSR1 prints statistics, SIGTERM/SIGINT stop the loop
#include <unistd.h>
#include <csignal>
#include <cstdio>
#include <iostream>

#include "sigrelay/dispatcher.hpp"

int main() {
  sigrelay::dispatcher d;
  int reloads = 0;
  d.on(SIGHUP, [&](const sigrelay::signal_event& e) {
    ++reloads;
    std::cout << "reloading configuration (asked by pid " << e.last.pid << ")" << std::endl;
  });
  d.on(SIGUSR1, [&](const sigrelay::signal_event&) {
    std::printf("%d reloads so far\n", reloads);
    std::fflush(stdout);
  });
  for (const int stop_signal : {SIGTERM, SIGINT}) {
    d.on(stop_signal, [&](const sigrelay::signal_event& e) {
      std::printf("%s: stopping\n", sigrelay::signal_name(e.signo).data());
      d.stop();
    });
  }
  std::printf("pid %d: try kill -HUP, -USR1, then -TERM\n", getpid());
  std::fflush(stdout);
  d.run();
  std::printf("stopped after %d reloads\n", reloads);
  return 0;
}
