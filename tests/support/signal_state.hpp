// SPDX-License-Identifier: MIT
// tests/support/signal_state.hpp — the process's signal state as a test sees it: every disposition
// (handler, flags, sa_mask, or the refusal of sigaction() for the C library's reserved numbers) and
// the calling thread's mask, to check that a call "leaves the process's signal state exactly as it
// was". Header-only: the adapters' tests compile the support code on their own.
#pragma once

#include <gtest/gtest.h>

#include <pthread.h>
#include <csignal>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "sigrelay/signals.hpp"  // signal_name()

namespace sigrelay::test {

struct signal_state {
  struct action {
    int rc = 0;
    void* handler = nullptr;
    int flags = 0;
    std::vector<int> mask;
  };
  std::vector<action> actions;  // indexed by signal number
  std::vector<int> blocked;
};

inline std::vector<int> members(const sigset_t& set) {
  std::vector<int> out;
  for (int s = 1; s < NSIG; ++s)
    if (sigismember(&set, s) == 1) out.push_back(s);
  return out;
}

inline signal_state snapshot() {
  signal_state st;
  st.actions.resize(NSIG);
  for (int s = 1; s < NSIG; ++s) {
    struct sigaction a {};
    signal_state::action& out = st.actions[s];
    out.rc = sigaction(s, nullptr, &a);
    if (out.rc != 0) continue;  // glibc's reserved realtime signals
    out.handler = (a.sa_flags & SA_SIGINFO) != 0 ? reinterpret_cast<void*>(a.sa_sigaction)
                                                 : reinterpret_cast<void*>(a.sa_handler);
    out.flags = a.sa_flags;
    out.mask = members(a.sa_mask);
  }
  sigset_t m;
  pthread_sigmask(SIG_BLOCK, nullptr, &m);
  st.blocked = members(m);
  return st;
}

// What differs between two snapshots, each signal by name; empty if nothing.
inline std::string differences(const signal_state& a, const signal_state& b) {
  std::ostringstream out;
  for (int s = 1; s < NSIG; ++s) {
    const auto& x = a.actions[s];
    const auto& y = b.actions[s];
    if (x.rc != y.rc || x.handler != y.handler || x.flags != y.flags || x.mask != y.mask) {
      const std::string_view name = sigrelay::signal_name(s);
      out << (name.empty() ? "signal " + std::to_string(s) : std::string(name)) << ": handler " << x.handler
          << "->" << y.handler << ", flags " << std::hex << x.flags << "->" << y.flags << std::dec
          << ", sa_mask size " << x.mask.size() << "->" << y.mask.size() << "; ";
    }
  }
  if (a.blocked != b.blocked)
    out << "thread mask differs (" << a.blocked.size() << " -> " << b.blocked.size() << " blocked)";
  return out.str();
}

inline testing::AssertionResult same_state(const signal_state& before, const signal_state& after) {
  const std::string d = differences(before, after);
  if (d.empty()) return testing::AssertionSuccess();
  return testing::AssertionFailure() << d;
}

}  // namespace sigrelay::test
