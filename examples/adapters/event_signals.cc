// SPDX-License-Identifier: MIT
// examples/adapters/event_signals.cc — signals in a libevent program.
//
//   event_signals        sends itself SIGHUP, SIGUSR1 twice, a sigqueue() value, then SIGTERM
//   event_signals wait   waits for yours (kill -HUP <pid>) until SIGINT or SIGTERM
#include <sigrelay/event.hpp>

#include "demo.hpp"

#include <sys/wait.h>
#include <unistd.h>
#include <csignal>
#include <cstdio>
#include <string_view>

int main(int argc, char** argv) {
  const bool wait = argc > 1 && std::string_view(argv[1]) == "wait";
  event_base* base = event_base_new();
  if (base == nullptr) return 1;
  {
    sigrelay::event::signal_watcher sigs(base, {SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2});
    sigs.start([&](const sigrelay::signal_event& e) {
      demo::print(e);
      if (e.signo == SIGINT || e.signo == SIGTERM) sigs.stop();  // dispatch returns: nothing pending
    });
    if (wait) {
      std::printf("pid %d: try kill -HUP %d; Ctrl+C ends\n", static_cast<int>(getpid()),
                  static_cast<int>(getpid()));
      std::fflush(stdout);
    } else {
      demo::send_demo_signals();
    }
    event_base_dispatch(base);
  }  // the watcher goes before its base
  event_base_free(base);
  return 0;
}
