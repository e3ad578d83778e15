// SPDX-License-Identifier: MIT
// tools/sigrelay/run_init.cc — the engine of `sigrelay run` (behaviour: run_init.hpp).
//
// Design notes
// - One thread, one loop: poll() over two descriptors, the `signals` object of every forwarded signal
//   and the `children` watcher. Both use sigrelay's signalfd backend, the model of tini and dumb-init
//   (block everything, read synchronously): no handler of ours runs in signal context, the init's own
//   writes never meet SIGTTOU/SIGTTIN (blocked), and signals that arrive before the child exists wait
//   in the kernel and are forwarded once it does.
// - The child's signal state: saved first (the mask), given back in the child (run_fork_child.cc);
//   the dispositions come back through sigrelay's fork handler, because every subscribed signal's only
//   subscriber is our inherited `signals` object. So the init never calls sigaction() itself.
// - Exec failure is reported through a close-on-exec pipe: the parent reads until EOF (exec happened)
//   or an errno. Reading it before the first forwarding also means the child has done its setsid()/
//   setpgid(), so a kill(-pid) never races the group's creation.
// - The parent calls setpgid(child, child) too, as shells do, except in setsid mode (a process group
//   leader cannot setsid()).
// - Signals first, then children, on each wake-up: a signal that arrives just as the child ends is
//   still forwarded (to the group's remaining members, or ESRCH, logged at debug level).
#include "run_init.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sigrelay/children.hpp>
#include <sigrelay/relays.hpp>
#include <sigrelay/signals.hpp>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <system_error>

#include "run_fork_child.hpp"

namespace sigrelay::tool::run {
namespace {

enum class level { fatal, warn, info, debug, trace };  // trace: tini's TRACE; debug elsewhere

// Messages in the dialect's words and streams.
class logger {
 public:
  logger(dialect d, int verbosity) : d_(d), v_(verbosity) {}

  bool enabled(level l) const {
    switch (d_) {
      case dialect::native:
        return l == level::fatal || l == level::warn || (l == level::info ? v_ >= 1 : v_ >= 2);
      case dialect::tini:  // tini: warnings from 1, info from 2, debug from 3, trace from 4
        return l == level::fatal || (l == level::warn && v_ > 0) || (l == level::info && v_ > 1) ||
               (l == level::debug && v_ > 2) || (l == level::trace && v_ > 3);
      case dialect::dumb_init: return l == level::fatal || v_ > 0;
    }
    return false;
  }

  // `pid` appears in tini's prefix (the process that prints, as in tini).
  void print(level l, pid_t pid, const char* format, ...) const __attribute__((format(printf, 4, 5))) {
    if (!enabled(l)) return;
    char text[1024];
    va_list args;
    va_start(args, format);
    std::vsnprintf(text, sizeof text, format, args);
    va_end(args);
    std::FILE* out = stderr;
    switch (d_) {
      case dialect::native: std::fprintf(out, "sigrelay run: %s\n", text); break;
      case dialect::tini: {
        static const char* const names[] = {"FATAL", "WARN ", "INFO ", "DEBUG", "TRACE"};
        if (l == level::info || l == level::debug || l == level::trace) out = stdout;
        std::fprintf(out, "[%s tini (%d)] %s\n", names[static_cast<int>(l)], static_cast<int>(pid), text);
        break;
      }
      case dialect::dumb_init: std::fprintf(out, "[dumb-init] %s\n", text); break;
    }
    std::fflush(out);
  }

 private:
  dialect d_;
  int v_;
};

// The signals the init forwards (see run_init.hpp, Start).
std::vector<int> forwarded_signals() {
  std::vector<int> out;
  for (int signo = 1; signo <= SIGRTMAX; ++signo) {
    switch (signo) {
      case SIGKILL:
      case SIGSTOP:
      case SIGCHLD:
      case SIGSEGV:
      case SIGBUS:
      case SIGILL:
      case SIGFPE:
      case SIGTRAP:
      case SIGSYS: continue;
      default: break;
    }
    if (sigrelay::signal_name(signo).empty()) continue;  // reserved by the C library
    out.push_back(signo);
  }
  return out;
}

std::string command_name(pid_t pid) {
  if (pid <= 0) return "?";
  std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
  std::string name;
  if (!std::getline(in, name)) return "?";
  return name;
}

// "pid 77 (bash, uid 0, kill, trusted)", for the -v log line.
std::string describe_sender(const origin& o) {
  std::string out;
  if (o.pid == 0 && (o.kind == origin_kind::user || o.kind == origin_kind::thread)) {
    out = "a process outside the PID namespace (pid 0";
  } else if (o.pid == 0) {
    out = std::string("the kernel (") + std::string(to_string(o.kind));
    return out + ", si_code " + std::to_string(o.code) + ")";
  } else {
    out = "pid " + std::to_string(o.pid) + " (" + command_name(o.pid);
  }
  out += ", uid " + std::to_string(o.uid) + ", " + std::string(to_string(o.kind));
  out += o.trusted ? ", trusted)" : ", forgeable: sent with sigqueue)";
  return out;
}

std::string name_of(int signo) {
  const std::string_view n = sigrelay::signal_name(signo);
  return n.empty() ? "signal " + std::to_string(signo) : std::string(n);
}

bool is_tty_stop(int signo) { return signo == SIGTSTP || signo == SIGTTIN || signo == SIGTTOU; }

class init {
 public:
  explicit init(const init_options& o) : o_(o), log_(o.dialect, o.verbosity) {}

  int run() {
    sigset_t started_with;
    sigprocmask(SIG_BLOCK, nullptr, &started_with);
    std::vector<int> subscribed = forwarded_signals();
    std::unique_ptr<signals> sigs;
    std::unique_ptr<children> kids;
    try {
      sigs = std::make_unique<signals>(subscribed, signals_options{backend::signalfd});
      kids = std::make_unique<children>(children_options{child_scope::all, backend::signalfd, false});
    } catch (const std::system_error& e) {
      log_.print(level::fatal, getpid(), "cannot set up signal handling: %s", e.what());
      return 1;
    }
    // A signal the init inherited blocked is still to be read and forwarded: the signalfd reads
    // only pending signals, and a block the init was started with stays the child's (fork_plan).
    // sigrelay's backend leaves such blocks alone, which is what we want: blocked here means
    // queued for the signalfd.
    if (o_.new_session) detach_from_terminal();
    if (o_.parent_death_signal != 0 && prctl(PR_SET_PDEATHSIG, o_.parent_death_signal) != 0) {
      log_.print(level::fatal, getpid(), "%s",
                 o_.dialect == dialect::tini ? "Failed to set up parent death signal"
                                             : "cannot set the parent-death signal");
      return 1;
    }
    if (!become_reaper()) return 1;

    if (!spawn(started_with)) return 1;
    return loop(*sigs, *kids);
  }

 private:
  void detach_from_terminal() {
    if (ioctl(STDIN_FILENO, TIOCNOTTY) == -1) {
      const int err = errno;
      if (o_.dialect == dialect::dumb_init) {
        log_.print(level::debug, getpid(), "Unable to detach from controlling tty (errno=%d %s).", err,
                   std::strerror(err));
      } else {
        log_.print(level::debug, getpid(), "no controlling terminal to hand over (%s)", std::strerror(err));
      }
      return;
    }
    if (getsid(0) == getpid()) {
      // The kernel sent SIGHUP and SIGCONT to our foreground group: us.
      ignore_once_[SIGHUP] = true;
      ignore_once_[SIGCONT] = true;
      log_.print(level::debug, getpid(), "%s",
                 o_.dialect == dialect::dumb_init
                     ? "Detached from controlling tty, ignoring the first SIGHUP and SIGCONT we receive."
                     : "detached from the terminal as session leader: the first SIGHUP and SIGCONT are not "
                       "forwarded");
    } else {
      log_.print(level::debug, getpid(), "%s",
                 o_.dialect == dialect::dumb_init
                     ? "Detached from controlling tty, but was not session leader."
                     : "detached from the terminal (not the session leader)");
    }
  }

  bool become_reaper() {
    const bool pid1 = getpid() == 1;
    if (o_.subreaper || (o_.auto_subreaper && !pid1)) {
      if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
        const int err = errno;
        if (o_.dialect == dialect::tini) {
          if (err == EINVAL) {
            log_.print(level::fatal, getpid(),
                       "PR_SET_CHILD_SUBREAPER is unavailable on this platform. Are you using Linux >= 3.4?");
          } else {
            log_.print(level::fatal, getpid(), "Failed to register as child subreaper: %s",
                       std::strerror(err));
          }
        } else {
          log_.print(level::fatal, getpid(), "cannot become a child subreaper: %s", std::strerror(err));
        }
        return false;
      }
      log_.print(
          level::trace, getpid(), "%s",
          o_.dialect == dialect::tini ? "Registered as child subreaper" : "registered as a child subreaper");
      return true;
    }
    if (pid1 || o_.dialect == dialect::dumb_init) return true;
    int bit = 0;
    if (prctl(PR_GET_CHILD_SUBREAPER, &bit) == 0 && bit == 1) return true;
    if (o_.dialect == dialect::tini) {
      log_.print(level::warn, getpid(), "%s",
                 "Tini is not running as PID 1 and isn't registered as a child subreaper.\n"
                 "Zombie processes will not be re-parented to Tini, so zombie reaping won't work.\n"
                 "To fix the problem, use the -s option or set the environment variable TINI_SUBREAPER to "
                 "register Tini as a child subreaper, or run Tini as PID 1.");
    } else {
      log_.print(level::warn, getpid(), "%s",
                 "not PID 1 and not a child subreaper: orphaned descendants will not be reaped by this init");
    }
    return true;
  }

  bool spawn(const sigset_t& started_with) {
    std::vector<char*> argv;
    for (const std::string& a : o_.command) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0) {
      log_.print(level::fatal, getpid(), "pipe failed: %s", std::strerror(errno));
      return false;
    }
    fork_plan plan;
    plan.argv = argv.data();
    plan.mask = started_with;
    plan.new_session = o_.new_session;
    plan.own_group = o_.own_process_group;
    plan.take_foreground = !o_.new_session && o_.own_process_group && tcgetpgrp(STDIN_FILENO) == getpgrp();
    plan.error_fd = pipefd[1];
    plan.style = o_.dialect;
    std::fflush(nullptr);
    const pid_t pid = fork();
    if (pid < 0) {
      const int err = errno;
      close(pipefd[0]);
      close(pipefd[1]);
      log_.print(level::fatal, getpid(), o_.dialect == dialect::tini ? "fork failed: %s" : "cannot fork: %s",
                 std::strerror(err));
      return false;
    }
    if (pid == 0) become_child(plan);
    close(pipefd[1]);
    child_ = pid;
    if (!o_.new_session && o_.own_process_group)
      (void)setpgid(pid, pid);  // EACCES once it has exec'd: then it did it itself
    int err = 0;
    std::size_t got = 0;
    while (got < sizeof err) {
      const ssize_t n = read(pipefd[0], reinterpret_cast<char*>(&err) + got, sizeof err - got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += static_cast<std::size_t>(n);
    }
    close(pipefd[0]);
    const char* prog = argv[0];
    if (got == sizeof err) {
      switch (o_.dialect) {
        case dialect::tini:
          log_.print(level::fatal, pid, "exec %s failed: %s", prog, std::strerror(err));
          break;
        case dialect::dumb_init: log_.print(level::fatal, pid, "%s: %s", prog, std::strerror(err)); break;
        case dialect::native:
          log_.print(level::fatal, pid, "cannot run %s: %s (%s, exit status %d)", prog, std::strerror(err),
                     exec_failure_status(dialect::native, err) == 127 ? "not found" : "not executable",
                     exec_failure_status(dialect::native, err));
          break;
      }
    } else {
      switch (o_.dialect) {
        case dialect::tini:
          log_.print(level::info, getpid(), "Spawned child process '%s' with pid '%d'", prog, pid);
          break;
        case dialect::dumb_init: log_.print(level::debug, getpid(), "Child spawned with PID %d.", pid); break;
        case dialect::native: log_.print(level::debug, getpid(), "started %s as pid %d", prog, pid); break;
      }
    }
    return true;
  }

  void forward(int signo, const origin* from) {
    int target = signo;
    if (signo < static_cast<int>(o_.rewrite.size()) && o_.rewrite[signo] != -1) {
      target = o_.rewrite[signo];
      if (o_.dialect == dialect::dumb_init) {
        log_.print(level::debug, getpid(), "Translating signal %d to %d.", signo, target);
      }
    }
    if (target == 0) {
      log_.print(o_.dialect == dialect::native ? level::info : level::debug, getpid(),
                 o_.dialect == dialect::dumb_init ? "Not forwarding signal %d to children (ignored)."
                                                  : "not forwarding signal %d (rewritten to 0)",
                 signo);
      return;
    }
    const pid_t dest = o_.signal_group ? -child_ : child_;
    const int r = kill(dest, target);
    const int err = errno;
    const std::string sender = from != nullptr ? describe_sender(*from) : std::string("the init itself");
    switch (o_.dialect) {
      case dialect::tini:
        log_.print(level::debug, getpid(), "Passing signal: '%s'", strsignal(target));
        log_.print(level::info, getpid(), "Forwarded %s from %s to %s %d", name_of(target).c_str(),
                   sender.c_str(), o_.signal_group ? "process group" : "pid", static_cast<int>(child_));
        if (r != 0 && err == ESRCH)
          log_.print(level::warn, getpid(), "Child was dead when forwarding signal");
        break;
      case dialect::dumb_init:
        log_.print(level::debug, getpid(), "Forwarded signal %d to children.", target);
        if (from != nullptr)
          log_.print(level::debug, getpid(), "Signal %d was sent by %s.", signo, sender.c_str());
        break;
      case dialect::native:
        if (r != 0) {
          log_.print(level::info, getpid(), "%s from %s: not forwarded, %s %d is gone",
                     name_of(signo).c_str(), sender.c_str(), o_.signal_group ? "process group" : "pid",
                     static_cast<int>(child_));
        } else {
          log_.print(level::info, getpid(), "%s from %s -> %s%s %d", name_of(signo).c_str(), sender.c_str(),
                     target == signo ? "" : (name_of(target) + " to ").c_str(),
                     o_.signal_group ? "process group" : "pid", static_cast<int>(child_));
        }
        break;
    }
  }

  void on_signal(const signal_event& e) {
    const int signo = e.signo;
    if (o_.dialect == dialect::dumb_init) log_.print(level::debug, getpid(), "Received signal %d.", signo);
    if (signo < NSIG && ignore_once_[signo]) {
      ignore_once_[signo] = false;
      log_.print(level::debug, getpid(),
                 o_.dialect == dialect::dumb_init
                     ? "Ignoring tty hand-off signal %d."
                     : "not forwarding signal %d: caused by the terminal hand-off",
                 signo);
      if (e.count <= 1) return;  // another one coalesced with it: forward that one
    }
    if (e.last.pid == getpid() && e.last.pid != 0) {
      log_.print(level::debug, getpid(), "not forwarding %s: the init sent it to itself",
                 name_of(signo).c_str());
      return;
    }
    if (o_.drop_tty_input_output && (signo == SIGTTIN || signo == SIGTTOU)) return;
    forward(signo, &e.last);
    if (o_.stop_self_on_tty_signals && is_tty_stop(signo)) {
      log_.print(level::debug, getpid(), "%s",
                 o_.dialect == dialect::dumb_init ? "Suspending self due to TTY signal."
                                                  : "stopping self (SIGSTOP)");
      kill(getpid(), SIGSTOP);
    }
  }

  // Returns true once the child has ended (status_ set).
  bool on_child(const child_event& e) {
    if (e.pid != child_) {
      if (o_.warn_reaped) {
        log_.print(
            level::warn, getpid(),
            o_.dialect == dialect::native ? "reaped orphan pid %d" : "Reaped zombie process with pid=%d",
            static_cast<int>(e.pid));
      } else if (o_.dialect == dialect::tini) {
        log_.print(level::debug, getpid(), "Reaped child with pid: '%d'", static_cast<int>(e.pid));
      } else if (o_.dialect == dialect::native) {
        log_.print(level::debug, getpid(), "reaped orphan pid %d", static_cast<int>(e.pid));
      }
      if (o_.dialect == dialect::dumb_init) {
        if (e.state == child_state::exited) {
          log_.print(level::debug, getpid(), "A child with PID %d exited with exit status %d.",
                     static_cast<int>(e.pid), e.code);
        } else {
          log_.print(level::debug, getpid(), "A child with PID %d was terminated by signal %d.",
                     static_cast<int>(e.pid), e.code);
        }
      }
      return false;
    }
    if (e.state != child_state::exited && e.state != child_state::killed) return false;
    killed_by_ = e.state == child_state::killed ? e.code : 0;
    int status = e.state == child_state::exited ? e.code : 128 + e.code;
    switch (o_.dialect) {
      case dialect::tini:
        if (killed_by_ != 0) {
          log_.print(level::info, getpid(), "Main child exited with signal (with signal '%s')",
                     strsignal(e.code));
        } else {
          log_.print(level::info, getpid(), "Main child exited normally (with status '%d')", e.code);
        }
        break;
      case dialect::dumb_init:
        if (killed_by_ != 0) {
          log_.print(level::debug, getpid(), "A child with PID %d was terminated by signal %d.",
                     static_cast<int>(e.pid), e.code);
        } else {
          log_.print(level::debug, getpid(), "A child with PID %d exited with exit status %d.",
                     static_cast<int>(e.pid), e.code);
        }
        break;
      case dialect::native:
        log_.print(level::debug, getpid(), "pid %d %s %d", static_cast<int>(e.pid),
                   killed_by_ != 0 ? "was killed by signal" : "exited with", e.code);
        break;
    }
    status %= 256;
    if (o_.success_statuses.test(static_cast<std::size_t>(status))) status = 0;
    status_ = status;
    return true;
  }

  int loop(signals& sigs, children& kids) {
    for (;;) {
      struct pollfd fds[2] = {{sigs.native_handle(), POLLIN, 0}, {kids.native_handle(), POLLIN, 0}};
      if (poll(fds, 2, -1) < 0 && errno != EINTR) {
        log_.print(level::fatal, getpid(), "poll failed: %s", std::strerror(errno));
        return 1;
      }
      try {
        for (const signal_event& e : sigs.pending()) on_signal(e);
        bool ended = false;
        for (const child_event& e : kids.pending()) ended = on_child(e) || ended;
        if (ended) return finish();
      } catch (const std::system_error& e) {
        log_.print(level::fatal, getpid(), "%s", e.what());
        return 1;
      }
    }
  }

  int finish() {
    if (o_.term_group_on_exit) forward(SIGTERM, nullptr);  // the descendants left in its group
    switch (o_.dialect) {
      case dialect::dumb_init:
        log_.print(level::debug, getpid(), "Child exited with status %d. Goodbye.", status_);
        break;
      case dialect::tini: log_.print(level::trace, getpid(), "%s", "Exiting: child has exited"); break;
      case dialect::native: break;
    }
    if (o_.die_by_signal && killed_by_ != 0) {
      log_.print(level::debug, getpid(), "dying by %s, as the child did", name_of(killed_by_).c_str());
      std::fflush(nullptr);
      sigrelay::relay::die_by_signal(killed_by_);  // as PID 1: falls back to _exit(128 + N)
    }
    return status_;
  }

  const init_options& o_;
  logger log_;
  pid_t child_ = -1;
  int status_ = 0;
  int killed_by_ = 0;
  bool ignore_once_[NSIG] = {};
};

}  // namespace

int exec_failure_status(dialect d, int err) noexcept {
  switch (d) {
    case dialect::dumb_init: return 2;
    case dialect::tini: return err == ENOENT ? 127 : err == EACCES ? 126 : 1;
    case dialect::native: break;
  }
  return (err == ENOENT || err == ENOTDIR) ? 127 : 126;
}

int run_init(const init_options& options) { return init(options).run(); }

}  // namespace sigrelay::tool::run
