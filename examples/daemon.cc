// SPDX-License-Identifier: MIT
// examples/daemon.cc — the daemon shape: reload on SIGHUP, graceful stop on SIGINT/SIGTERM.
//
// The first SIGINT/SIGTERM requests the stop: the wait on the token returns empty, the loop ends,
// the daemon cleans up, and then ends killed by that signal (what a shell or systemd expects of a
// program that a signal stopped). A second SIGINT/SIGTERM, during a slow cleanup, kills it at once.
// Each SIGHUP reloads the configuration (here: prints).
//
//   ./daemon [cleanup-seconds]      kill -HUP <pid> reloads; Ctrl+C or kill -TERM <pid> stops
//
// With cleanup-seconds (default 0) the cleanup takes that long: time for a second Ctrl+C.
#include <unistd.h>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "sigrelay/signals.hpp"
#include "sigrelay/termination.hpp"

namespace {

int reloads = 0;

void reload_config() {
  std::printf("reloading configuration (%d)\n", ++reloads);
  std::fflush(stdout);
}

void clean_up(int seconds) {
  std::printf("cleaning up (%d s)\n", seconds);
  std::fflush(stdout);
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  std::printf("cleanup done\n");
}

}  // namespace

int main(int argc, char** argv) {
  const int cleanup_seconds = argc > 1 ? std::atoi(argv[1]) : 0;

  // The whole daemon, as the user writes it:
  sigrelay::termination stop;  // first SIGINT/SIGTERM requests the stop, a second one kills at once
  sigrelay::signals hup{SIGHUP};
  std::printf("pid %d: running (kill -HUP %d reloads, Ctrl+C stops)\n", getpid(), getpid());
  std::fflush(stdout);
  while (!stop.stop_requested()) {
    for ([[maybe_unused]] const sigrelay::signal_event& e : hup.wait(stop.token())) reload_config();
  }
  std::printf("stopping on %s\n", sigrelay::signal_name(stop.signal()).data());
  clean_up(cleanup_seconds);
  stop.exit();  // ends killed by the signal that stopped it
}
