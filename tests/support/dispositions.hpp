// SPDX-License-Identifier: MIT
// tests/support/dispositions.hpp — setting and reading a disposition directly with sigaction(), as
// another library in the process would (the tests' "foreign" handlers, SIG_DFL and SIG_IGN set
// behind sigrelay's back). Header-only, like signal_state.hpp.
#pragma once

#include <gtest/gtest.h>

#include <csignal>
#include <initializer_list>

namespace sigrelay::test {

// Installs `fn` (a function, SIG_DFL or SIG_IGN) for `signo` with `flags` and a handler mask of
// `mask`; fails the test if sigaction() refuses.
inline void install_handler(int signo, void (*fn)(int), int flags = 0, std::initializer_list<int> mask = {}) {
  struct sigaction sa {};
  sa.sa_handler = fn;
  sa.sa_flags = flags;
  sigemptyset(&sa.sa_mask);
  for (const int s : mask) sigaddset(&sa.sa_mask, s);
  ASSERT_EQ(0, ::sigaction(signo, &sa, nullptr)) << "signal " << signo;
}

// The same for a three-argument handler (SA_SIGINFO is added to `flags`).
inline void install_siginfo(int signo, void (*fn)(int, siginfo_t*, void*), int flags = 0) {
  struct sigaction sa {};
  sa.sa_sigaction = fn;
  sa.sa_flags = SA_SIGINFO | flags;
  sigemptyset(&sa.sa_mask);
  ASSERT_EQ(0, ::sigaction(signo, &sa, nullptr)) << "signal " << signo;
}

// The disposition of `signo` now (all zero if sigaction() refuses the number).
inline struct sigaction query(int signo) {
  struct sigaction sa {};
  ::sigaction(signo, nullptr, &sa);
  return sa;
}

}  // namespace sigrelay::test
