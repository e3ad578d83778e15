// examples/adapters/asio_signals.cc — signals in a Boost.Asio program, awaited by a coroutine.
//
//   asio_signals        sends itself SIGHUP, SIGUSR1 twice, a sigqueue() value, then SIGTERM
//   asio_signals wait   waits for yours (kill -HUP <pid>) until SIGINT or SIGTERM
#include <sigrelay/asio.hpp>

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

void print(const sigrelay::signal_event& e) {
  std::printf("%-8s x%llu  from pid %d uid %d (%s)", sigrelay::signal_name(e.signo).data(),
              static_cast<unsigned long long>(e.count), static_cast<int>(e.last.pid),
              static_cast<int>(e.last.uid), sigrelay::to_string(e.last.kind).data());
  if (e.last.kind == sigrelay::origin_kind::queue) std::printf(" value %d", e.last.value.sival_int);
  std::printf("\n");
  std::fflush(stdout);
}

// A child process sends us a few signals, then exits; we reap it.
void send_demo_signals() {
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

boost::asio::awaitable<void> watch(sigrelay::asio::signal_set& sigs) {
  for (;;) {
    const sigrelay::signal_event e = co_await sigs.async_wait(boost::asio::use_awaitable);
    print(e);
    if (e.signo == SIGINT || e.signo == SIGTERM) co_return;
  }
}

}  // namespace

int main(int argc, char** argv) {
  const bool wait = argc > 1 && std::string_view(argv[1]) == "wait";
  boost::asio::io_context io;
  sigrelay::asio::signal_set sigs(io, {SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2});
  boost::asio::co_spawn(io, watch(sigs), boost::asio::detached);
  if (wait) {
    std::printf("pid %d: try kill -HUP %d; Ctrl+C ends\n", static_cast<int>(getpid()),
                static_cast<int>(getpid()));
    std::fflush(stdout);
  } else {
    send_demo_signals();  // all arrive before the loop runs: queued and counted, none lost
  }
  io.run();  // returns when the coroutine is done
  return 0;
}
