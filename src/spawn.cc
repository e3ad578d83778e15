// SPDX-License-Identifier: MIT
// src/spawn.cc — posix_spawn() attributes without sigrelay's blocked signals (see spawn.hpp).
// "sigrelay's blocked signals" are those of the calling thread only (src/handler/masks.hpp).
#include "sigrelay/spawn.hpp"

#include <pthread.h>
#include <csignal>

#include "detail.hpp"

namespace sigrelay {

namespace {

bool same_signals(const sigset_t& a, const sigset_t& b) noexcept {
  for (int signo = 1; signo < NSIG; ++signo) {
    if (sigismember(&a, signo) != sigismember(&b, signo)) return false;
  }
  return true;
}

}  // namespace

// The mask and sigrelay's blocks are read in two steps, and a handler on this thread may change both
// in between (a realtime ring's hold blocks a signal, a poke lifts it: src/handler/hold.hpp): the
// blocks are read between two reads of the mask, again until both reads agree, so that they
// describe the same moment (a lift seen in one but not the other would leave its signal blocked in
// the child: found by the soak, tests/soak/soak.cc).
std::error_code restore_signal_mask(posix_spawnattr_t& attr) noexcept {
  sigset_t mask;
  sigset_t ours;
  for (;;) {
    sigset_t before;
    if (const int err = ::pthread_sigmask(SIG_BLOCK, nullptr, &before)) return detail::errno_code(err);
    if (!detail::library_blocked_signals(ours)) sigemptyset(&ours);
    if (const int err = ::pthread_sigmask(SIG_BLOCK, nullptr, &mask)) return detail::errno_code(err);
    if (same_signals(before, mask)) break;
  }
  for (int signo = 1; signo < NSIG; ++signo) {
    if (sigismember(&ours, signo) == 1) sigdelset(&mask, signo);
  }
  short flags = 0;
  if (const int err = ::posix_spawnattr_getflags(&attr, &flags)) return detail::errno_code(err);
  if (const int err = ::posix_spawnattr_setsigmask(&attr, &mask)) return detail::errno_code(err);
  if (const int err = ::posix_spawnattr_setflags(&attr, static_cast<short>(flags | POSIX_SPAWN_SETSIGMASK))) {
    return detail::errno_code(err);
  }
  return {};
}

spawn_attr::spawn_attr() {
  if (const int err = ::posix_spawnattr_init(&attr_)) {
    detail::throw_error(detail::errno_code(err), "sigrelay::spawn_attr: posix_spawnattr_init");
  }
  if (const std::error_code ec = restore_signal_mask(attr_)) {
    ::posix_spawnattr_destroy(&attr_);
    detail::throw_error(ec, "sigrelay::spawn_attr: cannot set the signal mask");
  }
}

spawn_attr::~spawn_attr() { ::posix_spawnattr_destroy(&attr_); }

}  // namespace sigrelay
