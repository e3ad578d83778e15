// SPDX-License-Identifier: MIT
// adapters/tests/support/asio_sides.hpp — what the side-by-side tests of the Asio drop-in share: the
// two sides of a typed test (Boost.Asio's own signal_set and sigrelay::asio::signal_set, run on the
// same scenario), one wait's outcome, and settle(), which runs whatever an io_context has ready now.
#pragma once

#include <gtest/gtest.h>

#include <boost/asio/error.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <string>

#include "sigrelay/asio.hpp"

namespace sigrelay::test::asio_sides {

// The two sides of each typed test: TYPED_TEST_SUITE(Suite, sides, side_names).
struct boost_side {
  using set = ::boost::asio::signal_set;
  static constexpr bool is_sigrelay = false;
};
struct sigrelay_side {
  using set = sigrelay::asio::signal_set;
  static constexpr bool is_sigrelay = true;
};
struct side_names {
  template <typename T>
  static std::string GetName(int) {
    return T::is_sigrelay ? "Sigrelay" : "Boost";
  }
};
using sides = ::testing::Types<boost_side, sigrelay_side>;

// One wait's outcome, and a wait that records it.
struct outcome {
  bool done = false;
  ::boost::system::error_code ec;
  int signo = 0;
};
template <typename Set>
void start_wait(Set& s, outcome& o) {
  o = {};
  s.async_wait([&o](const ::boost::system::error_code& ec, int signo) { o = {true, ec, signo}; });
}

// Expects `o` to have completed with `signo` (0: with operation_aborted).
inline void expect_completed(const outcome& o, int signo, const char* what) {
  EXPECT_TRUE(o.done) << what << ": not completed";
  if (signo == 0) {
    EXPECT_EQ(::boost::asio::error::operation_aborted, o.ec) << what << ": " << o.ec.message();
  } else {
    EXPECT_FALSE(o.ec) << what << ": " << o.ec.message();
    EXPECT_EQ(signo, o.signo) << what;
  }
}

// Runs whatever is ready now (a few rounds: a completion may post another step). The work guard
// makes poll() run the reactor even with no operation pending, so that Asio's signal_set reads the
// deliveries its handler wrote into its pipe (with no work, poll() returns at once and they stay
// there until some later run).
inline void settle(::boost::asio::io_context& io) {
  const auto guard = ::boost::asio::make_work_guard(io);
  for (int i = 0; i < 3; ++i) {
    io.restart();
    io.poll();
  }
}

}  // namespace sigrelay::test::asio_sides
