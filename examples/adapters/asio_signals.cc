// SPDX-License-Identifier: MIT
// examples/adapters/asio_signals.cc — signals in a Boost.Asio program, awaited by a coroutine, with
// sigrelay::asio::signal_event_set (counts and senders; the drop-in signal_set gives signal numbers).
//
//   asio_signals        sends itself SIGHUP, SIGUSR1 twice, a sigqueue() value, then SIGTERM
//   asio_signals wait   waits for yours (kill -HUP <pid>) until SIGINT or SIGTERM
#include <sigrelay/asio.hpp>

#include "demo.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <sys/wait.h>
#include <unistd.h>
#include <csignal>
#include <cstdio>
#include <string_view>

namespace {

boost::asio::awaitable<void> watch(sigrelay::asio::signal_event_set& sigs) {
  for (;;) {
    const sigrelay::signal_event e = co_await sigs.async_wait(boost::asio::use_awaitable);
    demo::print(e);
    if (e.signo == SIGINT || e.signo == SIGTERM) co_return;
  }
}

}  // namespace

int main(int argc, char** argv) {
  const bool wait = argc > 1 && std::string_view(argv[1]) == "wait";
  boost::asio::io_context io;
  sigrelay::asio::signal_event_set sigs(io, {SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2});
  boost::asio::co_spawn(io, watch(sigs), boost::asio::detached);
  if (wait) {
    std::printf("pid %d: try kill -HUP %d; Ctrl+C ends\n", static_cast<int>(getpid()),
                static_cast<int>(getpid()));
    std::fflush(stdout);
  } else {
    demo::send_demo_signals();  // all arrive before the loop runs: queued and counted, none lost
  }
  io.run();  // returns when the coroutine is done
  return 0;
}
