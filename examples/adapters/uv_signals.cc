// SPDX-License-Identifier: MIT
// examples/adapters/uv_signals.cc — signals in a libuv program, next to a timer.
//
//   uv_signals        sends itself SIGHUP, SIGUSR1 twice, a sigqueue() value, then SIGTERM
//   uv_signals wait   waits for yours (kill -HUP <pid>) until SIGINT or SIGTERM
#include <sigrelay/uv.hpp>

#include "demo.hpp"

#include <sys/wait.h>
#include <unistd.h>
#include <csignal>
#include <cstdio>
#include <string_view>

int main(int argc, char** argv) {
  const bool wait = argc > 1 && std::string_view(argv[1]) == "wait";
  uv_loop_t* loop = uv_default_loop();

  // The loop's other work: a timer that ticks every second.
  uv_timer_t timer;
  uv_timer_init(loop, &timer);
  uv_timer_start(
      &timer, [](uv_timer_t*) { std::printf("tick\n"); }, 1000, 1000);
  uv_unref(reinterpret_cast<uv_handle_t*>(&timer));  // does not keep the loop alive by itself

  sigrelay::uv::signal_watcher sigs(loop, {SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2});
  sigs.start([&](const sigrelay::signal_event& e) {
    demo::print(e);
    if (e.signo == SIGINT || e.signo == SIGTERM) {
      sigs.close([] { std::printf("closed\n"); });  // uv_run() returns once the handles are closed
    }
  });
  if (wait) {
    std::printf("pid %d: try kill -HUP %d; Ctrl+C ends\n", static_cast<int>(getpid()),
                static_cast<int>(getpid()));
    std::fflush(stdout);
  } else {
    demo::send_demo_signals();
  }
  uv_run(loop, UV_RUN_DEFAULT);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer), nullptr);
  uv_run(loop, UV_RUN_DEFAULT);
  return uv_loop_close(loop) == 0 ? 0 : 1;
}
