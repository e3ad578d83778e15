// SPDX-License-Identifier: MIT
// tools/sigrelay/run_fork_child.cc — the init's child between fork() and exec().
//
// After fork() only async-signal-safe calls (man 7 signal-safety), no allocation, no locks, no
// exceptions: everything here reads a fork_plan the parent prepared. The one exception is execvp(),
// whose PATH search may allocate in glibc; the init is single-threaded when it forks (sigrelay's
// signalfd backend and the children watcher start no thread), so no lock can be held by a thread
// that no longer exists.
//
// Order: terminal first, mask last. tcsetpgrp() from a process group that is not (yet) the
// foreground one raises SIGTTOU unless it is blocked or ignored, so SIGTTOU stays blocked until the
// terminal is ours; then the mask the init was started with is put back, just before execvp().
#include "run_fork_child.hpp"

#include <sys/ioctl.h>
#include <unistd.h>
#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstring>
#include <initializer_list>

namespace sigrelay::tool::run {
namespace {

// Async-signal-safe: writes `parts` (NUL-terminated strings) to stderr in one write().
void say(std::initializer_list<const char*> parts) noexcept {
  char line[256];
  std::size_t n = 0;
  for (const char* part : parts) {
    for (; *part != '\0' && n < sizeof line; ++part) line[n++] = *part;
  }
  (void)::write(STDERR_FILENO, line, n);
}

}  // namespace

void become_child(const fork_plan& plan) noexcept {
  if (plan.cwd_fd >= 0) (void)::fchdir(plan.cwd_fd);  // back where the init was started
  sigset_t ttou;
  sigemptyset(&ttou);
  sigaddset(&ttou, SIGTTOU);
  sigaddset(&ttou, SIGTTIN);
  ::sigprocmask(SIG_BLOCK, &ttou, nullptr);
  if (plan.new_session) {
    // A new session, which takes the terminal the init detached from (no terminal: nothing to take).
    // dumb-init's child says how it went at -v (strerrordesc_np() reads a table: no locale, no
    // allocation).
    if (::setsid() >= 0 && ::ioctl(STDIN_FILENO, TIOCSCTTY, 0) == -1 && plan.say_setsid) {
      const int err = errno;
      char number[12] = {};  // std::to_chars: no locale, no allocation
      std::to_chars(number, number + sizeof number - 1, err);
      const char* text = ::strerrordesc_np(err);
      say({"[dumb-init] Unable to attach to controlling tty (errno=", number, " ",
           text != nullptr ? text : "?", ").\n"});
    }
    if (plan.say_setsid) say({"[dumb-init] setsid complete.\n"});
  } else if (plan.own_group) {
    (void)::setpgid(0, 0);  // the parent does the same, whichever runs first
    if (plan.take_foreground) (void)::tcsetpgrp(STDIN_FILENO, ::getpgrp());
  }
  if (plan.ignore_sigchld) {
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    sigemptyset(&ignore.sa_mask);
    (void)::sigaction(SIGCHLD, &ignore, nullptr);
  }
  ::sigprocmask(SIG_SETMASK, &plan.mask, nullptr);
  ::execvp(plan.argv[0], plan.argv);
  const int err = errno;
  // The parent reads the errno and prints the message (strerror() is not async-signal-safe).
  while (::write(plan.error_fd, &err, sizeof err) < 0 && errno == EINTR) {
  }
  ::_exit(exec_failure_status(plan.style, err));
}

}  // namespace sigrelay::tool::run
