// SPDX-License-Identifier: MIT
// tests/interop/interop_test.cc — sigrelay and the real Boost.Asio signal_set / libuv uv_signal_t in
// one process: same signal and different ones, both installation orders. What each side receives is
// asserted exactly, and so is what check_ownership() reports where the other library overwrote
// sigrelay's trampoline. The README's "Interop" table is this test's results.
//
// Each case runs in a forked child (SIGRELAY_IN_CHILD) from SIG_DFL and an empty mask. Signals are
// sent one at a time with kill(getpid()) and each is waited for before the next (no coalescing).
// No helper threads: the event loop runs in the main thread, which also receives the signals.
// Linked with -rdynamic, so dladdr() names Asio's (header-only, compiled in here) handler.
#include <gtest/gtest.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "sigrelay/describe.hpp"
#include "sigrelay/registry.hpp"
#include "sigrelay/relays.hpp"
#include "support/child.hpp"

namespace {

using sigrelay::test::run_in_child;
using namespace std::chrono_literals;

void nap() {
  const struct timespec pause { 0, 1000000 };
  ::nanosleep(&pause, nullptr);
}

// Boost.Asio's signal_set, driven in this thread.
struct asio_peer {
  static constexpr const char* name = "Boost.Asio signal_set";
  boost::asio::io_context io;
  std::optional<boost::asio::signal_set> set;
  std::vector<int> received;

  void start(int signo) {
    set.emplace(io, signo);
    arm();
  }
  void arm() {
    set->async_wait([this](const boost::system::error_code& ec, int signo) {
      if (ec) return;
      received.push_back(signo);
      arm();
    });
  }
  // Runs the loop until `n` signals in all have arrived, or 20 s.
  bool run_until(std::size_t n) {
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (received.size() < n && std::chrono::steady_clock::now() < deadline) {
      io.restart();
      io.run_for(5ms);
    }
    return received.size() >= n;
  }
  // Lets the loop run a while without expecting anything (to see that nothing more arrives).
  void settle() {
    for (int i = 0; i < 20; ++i) {
      io.restart();
      io.poll();
      nap();
    }
  }
  void stop() {
    set->cancel();
    set.reset();  // the last registration of the signal: Asio sets SIG_DFL
    io.restart();
    io.poll();
  }
  static bool is_handler(const sigrelay::disposition& d) {
    return d.handler.symbol.find("boost_asio_signal_handler") != std::string::npos;
  }
};

// libuv's uv_signal_t, driven in this thread.
struct uv_peer {
  static constexpr const char* name = "libuv uv_signal_t";
  uv_loop_t loop{};
  uv_signal_t handle{};
  std::vector<int> received;
  bool started = false;

  uv_peer() { uv_loop_init(&loop); }
  ~uv_peer() {
    if (started) stop();
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_loop_close(&loop);
  }
  void start(int signo) {
    uv_signal_init(&loop, &handle);
    handle.data = this;
    uv_signal_start(
        &handle, [](uv_signal_t* h, int s) { static_cast<uv_peer*>(h->data)->received.push_back(s); }, signo);
    started = true;
  }
  bool run_until(std::size_t n) {
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (received.size() < n && std::chrono::steady_clock::now() < deadline) {
      uv_run(&loop, UV_RUN_NOWAIT);
      nap();
    }
    return received.size() >= n;
  }
  void settle() {
    for (int i = 0; i < 20; ++i) {
      uv_run(&loop, UV_RUN_NOWAIT);
      nap();
    }
  }
  void stop() {
    uv_signal_stop(&handle);  // the last watcher of the signal: libuv sets SIG_DFL
    uv_close(reinterpret_cast<uv_handle_t*>(&handle), nullptr);
    uv_run(&loop, UV_RUN_NOWAIT);
    started = false;
  }
  static bool is_handler(const sigrelay::disposition& d) {
    return d.handler.module.find("libuv") != std::string::npos;
  }
};

void send(int signo) { ASSERT_EQ(::kill(::getpid(), signo), 0); }

template <typename Peer>
void print_state(const char* scenario, int signo) {
  std::cout << "[" << Peer::name << ", " << scenario << "] " << sigrelay::describe(signo) << "\n";
}

// The peer installs first, sigrelay second: sigrelay chains the peer's handler, both receive every
// delivery. Removing sigrelay's last action gives the peer its handler back.
template <typename Peer>
void same_signal_peer_first() {
  Peer peer;
  peer.start(SIGUSR1);
  std::atomic<std::uint64_t> ours{0};
  const sigrelay::action_id id = sigrelay::add_action(SIGUSR1, sigrelay::relay::add_count(ours));
  print_state<Peer>("peer first, same signal", SIGUSR1);
  const sigrelay::signal_description d = sigrelay::describe(SIGUSR1);
  EXPECT_TRUE(d.current.trampoline);
  ASSERT_TRUE(d.chained.has_value());
  EXPECT_TRUE(Peer::is_handler(*d.chained)) << to_string(*d.chained);
  EXPECT_TRUE(sigrelay::check_ownership().empty());
  for (std::size_t i = 1; i <= 3; ++i) {
    send(SIGUSR1);
    ASSERT_TRUE(peer.run_until(i));
    EXPECT_EQ(ours.load(), i);  // same delivery: the trampoline ran the action after the peer's handler
  }
  EXPECT_EQ(peer.received, (std::vector<int>{SIGUSR1, SIGUSR1, SIGUSR1}));
  ASSERT_TRUE(sigrelay::remove_action(id));
  const sigrelay::signal_description after = sigrelay::describe(SIGUSR1);
  EXPECT_FALSE(after.registered);
  EXPECT_TRUE(Peer::is_handler(after.current)) << to_string(after.current);
  send(SIGUSR1);
  ASSERT_TRUE(peer.run_until(4));
  EXPECT_EQ(ours.load(), 3U);
  peer.stop();
}

// sigrelay installs first, the peer second: the peer overwrites the trampoline without chaining, so
// sigrelay's actions receive nothing; check_ownership() reports it, naming the peer's handler.
// remove_action() then leaves the peer's handler in place.
template <typename Peer>
void same_signal_sigrelay_first() {
  std::atomic<std::uint64_t> ours{0};
  const sigrelay::action_id id = sigrelay::add_action(SIGUSR1, sigrelay::relay::add_count(ours));
  Peer peer;
  peer.start(SIGUSR1);
  print_state<Peer>("sigrelay first, same signal", SIGUSR1);
  const std::vector<sigrelay::ownership_loss> losses = sigrelay::check_ownership();
  ASSERT_EQ(losses.size(), 1U);
  EXPECT_EQ(losses[0].signo, SIGUSR1);
  EXPECT_EQ(losses[0].actions, 1U);
  EXPECT_TRUE(Peer::is_handler(losses[0].now)) << to_string(losses[0]);
  std::cout << "  check_ownership(): " << losses[0] << "\n";
  for (std::size_t i = 1; i <= 3; ++i) {
    send(SIGUSR1);
    ASSERT_TRUE(peer.run_until(i));
  }
  peer.settle();
  EXPECT_EQ(peer.received.size(), 3U);
  EXPECT_EQ(ours.load(), 0U);  // the loss check_ownership() reported is real
  ASSERT_TRUE(sigrelay::remove_action(id));
  EXPECT_TRUE(Peer::is_handler(sigrelay::describe(SIGUSR1).current));  // never overwritten
  send(SIGUSR1);
  ASSERT_TRUE(peer.run_until(4));
  peer.stop();
}

// sigrelay first, the peer second and then stopped while sigrelay still has its action: the peer
// sets SIG_DFL (it saved nothing), check_ownership() reports SIG_DFL, and the next delivery takes the
// default action: the process dies by the signal. Run in a grandchild, whose death is the result.
template <typename Peer>
void same_signal_peer_stops_first() {
  const int status = run_in_child(
      [] {
        std::atomic<std::uint64_t> ours{0};
        (void)sigrelay::add_action(SIGUSR1, sigrelay::relay::add_count(ours));
        {
          Peer peer;
          peer.start(SIGUSR1);
          peer.stop();
        }
        print_state<Peer>("sigrelay first, peer stopped", SIGUSR1);
        const std::vector<sigrelay::ownership_loss> losses = sigrelay::check_ownership();
        if (losses.size() != 1 || losses[0].now.what != sigrelay::disposition::kind::default_action) _exit(3);
        ::kill(::getpid(), SIGUSR1);
        for (int i = 0; i < 20000; ++i) nap();  // the signal ends it long before
        _exit(4);
      },
      60);
  EXPECT_TRUE(sigrelay::test::killed_by(status, SIGUSR1));
}

// Different signals, either order: each side receives exactly its own, nothing is reported.
template <typename Peer>
void different_signals(bool peer_first) {
  std::atomic<std::uint64_t> ours{0};
  Peer peer;
  sigrelay::action_id id;
  if (peer_first) peer.start(SIGUSR2);
  id = sigrelay::add_action(SIGUSR1, sigrelay::relay::add_count(ours));
  if (!peer_first) peer.start(SIGUSR2);
  EXPECT_TRUE(sigrelay::check_ownership().empty());
  EXPECT_FALSE(sigrelay::describe(SIGUSR2).registered);
  EXPECT_TRUE(Peer::is_handler(sigrelay::describe(SIGUSR2).current));
  for (std::size_t i = 1; i <= 3; ++i) {
    send(SIGUSR1);
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (ours.load() < i && std::chrono::steady_clock::now() < deadline) nap();
    EXPECT_EQ(ours.load(), i);
    send(SIGUSR2);
    ASSERT_TRUE(peer.run_until(i));
  }
  peer.settle();
  EXPECT_EQ(ours.load(), 3U);
  EXPECT_EQ(peer.received, (std::vector<int>{SIGUSR2, SIGUSR2, SIGUSR2}));
  ASSERT_TRUE(sigrelay::remove_action(id));
  EXPECT_EQ(sigrelay::describe(SIGUSR1).current.what, sigrelay::disposition::kind::default_action);
  peer.stop();
}

#define SIGRELAY_INTEROP_TESTS(Suite, Peer)                                                        \
  TEST(Suite, SameSignalPeerFirstBothReceive) { SIGRELAY_IN_CHILD(same_signal_peer_first<Peer>); } \
  TEST(Suite, SameSignalSigrelayFirstPeerTakesItAndIsReported) {                                   \
    SIGRELAY_IN_CHILD(same_signal_sigrelay_first<Peer>);                                           \
  }                                                                                                \
  TEST(Suite, SameSignalPeerStopsFirstLeavesDefault) {                                             \
    SIGRELAY_IN_CHILD(same_signal_peer_stops_first<Peer>);                                         \
  }                                                                                                \
  TEST(Suite, DifferentSignalsPeerFirst) {                                                         \
    SIGRELAY_IN_CHILD([] { different_signals<Peer>(true); });                                      \
  }                                                                                                \
  TEST(Suite, DifferentSignalsSigrelayFirst) {                                                     \
    SIGRELAY_IN_CHILD([] { different_signals<Peer>(false); });                                     \
  }

SIGRELAY_INTEROP_TESTS(InteropAsio, asio_peer)
SIGRELAY_INTEROP_TESTS(InteropLibuv, uv_peer)

}  // namespace
