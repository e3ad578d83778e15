// SPDX-License-Identifier: MIT
// tools/sigrelay/run_fork_child.hpp — what the init's child does between fork() and exec().
#pragma once

#include <csignal>

#include "run_init.hpp"

namespace sigrelay::tool::run {

// Everything the child needs, prepared by the parent before fork(): the child only reads it.
struct fork_plan {
  char* const* argv = nullptr;   // NULL-terminated
  sigset_t mask{};               // the mask the init was started with
  bool new_session = false;      // setsid() + TIOCSCTTY
  bool own_group = true;         // setpgid(0, 0) (unless new_session)
  bool take_foreground = false;  // with own_group: tcsetpgrp() (the init's group was the foreground one)
  int error_fd = -1;             // close-on-exec pipe: the errno of a failed execvp()
  dialect style = dialect::native;
  bool ignore_sigchld = false;  // the init was started with SIG_IGN for SIGCHLD: give it back
  bool say_setsid = false;      // dumb-init's dialect, verbose: the child's two lines about setsid()
  int cwd_fd = -1;              // fchdir() to it first: the directory the init left before fork()
};

// Runs in the child of fork(); never returns (exec, or _exit with exec_failure_status()).
// Async-signal-safe only (see run_fork_child.cc).
[[noreturn]] void become_child(const fork_plan& plan) noexcept;

}  // namespace sigrelay::tool::run
