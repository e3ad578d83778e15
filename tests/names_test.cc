// SPDX-License-Identifier: MIT
// tests/names_test.cc — signal names and numbers.
#include <gtest/gtest.h>

#include <csignal>
#include <string>

#include "sigrelay/registry.hpp"

namespace {

using sigrelay::signal_name;
using sigrelay::signal_number;

TEST(Names, StandardAndRealtimeNames) {
  EXPECT_EQ("SIGINT", signal_name(SIGINT));
  EXPECT_EQ("SIGHUP", signal_name(1));
  EXPECT_EQ("SIGSYS", signal_name(31));
  EXPECT_EQ("SIGRTMIN", signal_name(SIGRTMIN));
  EXPECT_EQ("SIGRTMIN+3", signal_name(SIGRTMIN + 3));
  EXPECT_EQ("SIGRTMAX", signal_name(SIGRTMAX));
  EXPECT_EQ("SIGRTMAX-1", signal_name(SIGRTMAX - 1));
  EXPECT_EQ("", signal_name(0));
  EXPECT_EQ("", signal_name(-1));
  EXPECT_EQ("", signal_name(32));  // reserved by glibc
  EXPECT_EQ("", signal_name(SIGRTMAX + 1));
}

TEST(Names, EveryNameParsesBackToItsNumber) {
  for (int signo = 1; signo <= SIGRTMAX; ++signo) {
    const std::string_view name = signal_name(signo);
    if (name.empty()) continue;
    EXPECT_EQ(signo, signal_number(name)) << name;
    EXPECT_EQ(signo, signal_number(name.substr(3))) << name;
    EXPECT_EQ(signo, signal_number(std::to_string(signo)));
  }
}

TEST(Names, ParsesSpellingsAndRefusesTheRest) {
  EXPECT_EQ(SIGINT, signal_number("INT"));
  EXPECT_EQ(SIGINT, signal_number("sigint"));
  EXPECT_EQ(SIGINT, signal_number("2"));
  EXPECT_EQ(SIGRTMIN + 3, signal_number("RTMIN+3"));
  EXPECT_EQ(SIGRTMAX - 2, signal_number("SIGRTMAX-2"));
  EXPECT_EQ(SIGIO, signal_number("POLL"));
  for (const char* bad : {"", "SIG", "NOPE", "0", "32", "99", "RTMIN+99", "RTMIN-1", "RTMAX+1", "-2", "2x"}) {
    std::error_code ec;
    EXPECT_EQ(-1, signal_number(bad, ec)) << bad;
    EXPECT_EQ(std::errc::invalid_argument, ec) << bad;
    try {
      signal_number(bad);
      ADD_FAILURE() << bad;
    } catch (const std::system_error& e) {
      EXPECT_NE(std::string::npos, std::string(e.what()).find(bad)) << e.what();
    }
  }
}

}  // namespace
