// SPDX-License-Identifier: MIT
// adapters/tests/asio_program.cc — an ordinary asio::signal_set program, for the drop-in check.
//
// Written against Asio's own signal_set, with nothing of sigrelay in it but the type name, which the
// build picks: SIGNAL_SET_TYPE (Asio's own by default, sigrelay::asio::signal_set otherwise). Built
// with Boost.Asio, or with standalone Asio when SIGRELAY_ASIO_STANDALONE is defined.
//
// A server: a coroutine waits for SIGINT/SIGTERM (co_await ... use_awaitable) and stops; a callback
// (error_code, int) reloads on SIGHUP; a third set exercises add/remove/clear/cancel and their
// error_code overloads. It prints "ready", then "reload <n>" per SIGHUP, then "stop <signo>", and
// exits 0 (the test, asio_test.cc, sends the signals and checks the lines).
#if defined(SIGNAL_SET_TYPE)
#include <sigrelay/asio.hpp>
#endif

#if defined(SIGRELAY_ASIO_STANDALONE)
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <asio/use_awaitable.hpp>
namespace net = ::asio;
using error_code = std::error_code;
#else
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>
namespace net = boost::asio;
using error_code = boost::system::error_code;
#endif

#include <csignal>
#include <cstdio>
#include <cstdlib>

#if !defined(SIGNAL_SET_TYPE)
#define SIGNAL_SET_TYPE net::signal_set
#endif
using signal_set_type = SIGNAL_SET_TYPE;

namespace {

void say(const char* what, int n) {
  std::printf("%s %d\n", what, n);
  std::fflush(stdout);
}

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "failed: %s\n", what);
    std::exit(3);
  }
}

net::awaitable<void> wait_for_stop(signal_set_type& signals, signal_set_type& reload) {
  int s = co_await signals.async_wait(net::use_awaitable);
  say("stop", s);
  reload.cancel();
}

class reloader {
 public:
  explicit reloader(signal_set_type& set) : set_(set) {}
  void arm() {
    set_.async_wait([this](error_code ec, int signo) {
      if (ec) return;  // cancelled: stopping
      check(signo == SIGHUP, "reload signal");
      say("reload", ++reloads_);
      arm();
    });
  }

 private:
  signal_set_type& set_;
  int reloads_ = 0;
};

}  // namespace

int main() {
  net::io_context io;
  signal_set_type signals(io, SIGINT, SIGTERM);

  signal_set_type reload(io.get_executor());
  reload.add(SIGHUP);
  error_code ec;
  reload.add(SIGUSR1, ec);
  check(!ec, "add(SIGUSR1, ec)");
  reload.remove(SIGUSR1, ec);
  check(!ec, "remove(SIGUSR1, ec)");
  reload.remove(SIGUSR1);  // not in the set: nothing
  reloader r(reload);
  r.arm();

  // One more set, emptied again: its wait ends with operation_aborted on cancel().
  signal_set_type extra(io, SIGUSR2, SIGWINCH, SIGURG);
  extra.remove(SIGURG);
  extra.clear();
  extra.clear(ec);
  check(!ec, "clear(ec)");
  bool extra_aborted = false;
  extra.async_wait(
      [&](error_code wait_ec, int) { extra_aborted = wait_ec == net::error::operation_aborted; });
  extra.cancel(ec);
  check(!ec, "cancel(ec)");
  extra.cancel();

  net::co_spawn(io, wait_for_stop(signals, reload), net::detached);
  say("ready", 0);
  io.run();
  check(extra_aborted, "cancelled wait got operation_aborted");
  return 0;
}
