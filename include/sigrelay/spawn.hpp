// SPDX-License-Identifier: MIT
// sigrelay/spawn.hpp — posix_spawn() attributes that give a child the signal mask it should have.
//
// The signalfd backend blocks its signals, and a blocked mask is inherited across fork() and exec():
// a child would never see SIGINT or SIGTERM (the classic signalfd trap). sigrelay fixes fork() with a
// pthread_atfork() handler, but posix_spawn() (and so system(), popen() and most process libraries)
// runs no fork handlers. Use these attributes with posix_spawn() instead:
//
//   sigrelay::spawn_attr attr;     // the child's mask: this thread's, minus sigrelay's blocks here
//   pid_t pid;
//   posix_spawn(&pid, "/bin/sleep", nullptr, attr.get(), argv, environ);
//
// Dispositions: these attributes restore the mask only. exec() resets every signal that has a
// handler to SIG_DFL, so the program gets each signal sigrelay handles at its default, also one that
// was ignored before sigrelay took it (a SIGHUP ignored by nohup, the SIGINT a shell ignores for a
// background job): posix_spawn() can set SIG_DFL (POSIX_SPAWN_SETSIGDEF) but not SIG_IGN. A signal
// sigrelay does not handle keeps its disposition (SIG_IGN stays ignored). To hand an ignore on,
// spawn through a helper that sets SIG_IGN before its own exec().
//
// Errors: the constructor throws std::system_error if the attributes cannot be set up.
// Thread safety: the mask is taken from the calling thread when the object is constructed.
#pragma once

#include <spawn.h>
#include <system_error>

#include "sigrelay/export.hpp"

namespace sigrelay {

// Adds POSIX_SPAWN_SETSIGMASK to `attr`, with the calling thread's mask minus the signals sigrelay
// blocked in the calling thread. A signal this thread blocked itself stays blocked, even if sigrelay
// also blocks it in another thread; so does a block this thread inherited from its creator (see
// "Masks" in <sigrelay/signals.hpp>). Other flags already set on `attr` are kept.
SIGRELAY_EXPORT std::error_code restore_signal_mask(posix_spawnattr_t& attr) noexcept;

// An owned posix_spawnattr_t with restore_signal_mask() applied.
class SIGRELAY_EXPORT spawn_attr {
 public:
  spawn_attr();
  ~spawn_attr();
  spawn_attr(const spawn_attr&) = delete;
  spawn_attr& operator=(const spawn_attr&) = delete;
  posix_spawnattr_t* get() noexcept { return &attr_; }

 private:
  posix_spawnattr_t attr_;
};

}  // namespace sigrelay
