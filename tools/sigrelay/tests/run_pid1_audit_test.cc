// SPDX-License-Identifier: MIT
// tools/sigrelay/tests/run_pid1_audit_test.cc — an adversarial audit of `sigrelay run` as PID 1 of its
// own PID namespace, side by side with /usr/bin/tini and /usr/bin/dumb-init.
//
// What it audits: the promises of issue 11 ("sigrelay run — the init") and of run_init.hpp for the
// place the init is made for, PID 1 of a container, without -s: reaping orphans (many, and some still
// running when the child ends), the exit status (the child's, 128+N, 126/127), what happens to the
// descendants left, dumb-init's setsid mode and -c (who gets a forwarded signal), job control on a
// pseudo-terminal whose session the init leads (the hand-off's SIGHUP/SIGCONT, SIGTSTP, SIGCONT), the
// terminal's foreground group (typed input and Ctrl+C reach the child), -p (parent-death signal),
// the signal mask and dispositions the child starts with (the init started with some blocked and
// some ignored), signals ignored at the init's start still forwarded, stdin/stdout/stderr and the
// working directory, fault signals and realtime floods sent to PID 1, and what the init does with
// signals still pending when its child ends (the init held with ptrace while the child dies, so that
// the order is chosen, not raced: the reaped child's pid given to another process with ns_last_pid; a
// SIGTSTP pending; tini's silence). run_test.cc and run_compat_audit_test.cc cover the same options outside a
// PID namespace; this file covers them as PID 1.
//
// How: each scenario runs in a forked child of the test (run_in_child: a watchdog, a clean signal
// state, no core dumps) that calls unshare(CLONE_NEWPID) and forks: that child is PID 1 of a new
// namespace, execs the init, and is the test's own child, so the test signals it by its pid and reaps
// it. When PID 1 ends, the kernel kills whatever is left in its namespace: nothing outlives a test.
// Each scenario runs under every init of a family: the real peer (tini or dumb-init), `sigrelay run
// --compat=...` and a link named like the peer, and where it applies `sigrelay run` itself; what the
// peer does is the expected value for our compat modes, unless the issue or a documented deliberate
// difference says otherwise. A test that fails here is a divergence (reported, not fixed here).
#include <gtest/gtest.h>

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "run_support.hpp"
#include "support/child.hpp"

namespace {

using sigrelay::test::describe_status;
using sigrelay::test::run::proc_state;
using sigrelay::test::run::wait_for_state;
using sigrelay::test::run::word_after;

const std::string sigrelay_bin = SIGRELAY_BIN;
const std::string probe = RUN_PROBE;
const std::string links = LINKS_DIR;

// ---- The inits ------------------------------------------------------------------------------------

enum class family { tini, dumb_init, native };

struct init_kind {
  std::string name;
  family fam;
  bool ours;
  std::vector<std::string> argv;  // the init and its options, up to and including "--"
};

std::vector<init_kind> tini_family(const std::vector<std::string>& options) {
  auto with = [&](std::vector<std::string> head) {
    head.insert(head.end(), options.begin(), options.end());
    head.push_back("--");
    return head;
  };
  return {{"tini", family::tini, false, with({"/usr/bin/tini"})},
          {"compat_tini", family::tini, true, with({sigrelay_bin, "run", "--compat=tini"})},
          {"link_tini", family::tini, true, with({links + "/tini"})}};
}

std::vector<init_kind> dumb_init_family(const std::vector<std::string>& options) {
  auto with = [&](std::vector<std::string> head) {
    head.insert(head.end(), options.begin(), options.end());
    head.push_back("--");
    return head;
  };
  return {{"dumb_init", family::dumb_init, false, with({"/usr/bin/dumb-init"})},
          {"compat_dumb_init", family::dumb_init, true, with({sigrelay_bin, "run", "--compat=dumb-init"})},
          {"link_dumb_init", family::dumb_init, true, with({links + "/dumb-init"})}};
}

init_kind native(const std::vector<std::string>& options) {
  std::vector<std::string> argv{sigrelay_bin, "run"};
  argv.insert(argv.end(), options.begin(), options.end());
  argv.push_back("--");
  std::string name = "native";
  for (const std::string& o : options) name += " " + o;
  return {name, family::native, true, argv};
}

bool peers_installed() {
  return access("/usr/bin/tini", X_OK) == 0 && access("/usr/bin/dumb-init", X_OK) == 0;
}

// Whether this process may make PID namespaces (root): a forked child tries, and its child checks
// that it is PID 1.
bool pid_namespaces_work() {
  static const bool works = [] {
    std::fflush(nullptr);
    const pid_t outer = fork();
    if (outer == 0) {
      if (unshare(CLONE_NEWPID) != 0) _exit(1);
      const pid_t inner = fork();
      if (inner == 0) _exit(getpid() == 1 ? 0 : 1);
      int status = 0;
      if (inner < 0 || waitpid(inner, &status, 0) != inner) _exit(1);
      _exit(WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1);
    }
    int status = 0;
    return outer > 0 && waitpid(outer, &status, 0) == outer && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }();
  return works;
}

#define REQUIRE_PID1_AND_PEERS()                                                                 \
  do {                                                                                           \
    if (!pid_namespaces_work()) GTEST_SKIP() << "unshare(CLONE_NEWPID) fails here (needs root)"; \
    if (!peers_installed())                                                                      \
      GTEST_SKIP() << "tini and dumb-init are not installed (apt-get install tini "              \
                      "dumb-init)";                                                              \
  } while (0)

// ---- An init as PID 1 of its own namespace -------------------------------------------------------

struct launch {
  std::vector<std::string> argv;  // init, options, "--", PROGRAM, ARGS
  bool pty = false;               // a new session whose controlling terminal is a fresh pseudo-terminal
  std::string cwd;                // "" = the test's
  std::string input;              // without pty: written to the init's stdin (a pipe), which is then closed
  std::vector<int> blocked;       // the mask the init is started with
  std::vector<int> ignored;       // SIG_IGN at the init's start
  bool through_middle = false;    // the init's parent is a middle process (kill_middle()), not the test
  bool no_namespace = false;      // not PID 1: the init runs as the test's child in the test's namespace
  bool hold_before_exec = false;  // the init's process waits for go() before it execs the init
};

// Must run in a run_in_child body (it makes a PID namespace for its children). Output: the pty, or
// stdout and stderr apart.
class pid1 {
 public:
  explicit pid1(const launch& l) {
    int out[2] = {-1, -1}, err[2] = {-1, -1}, in[2] = {-1, -1}, report[2] = {-1, -1};
    std::string slave;
    if (l.pty) {
      master_ = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
      if (master_ < 0 || grantpt(master_) != 0 || unlockpt(master_) != 0) {
        ADD_FAILURE() << "no pseudo-terminal: " << std::strerror(errno);
        return;
      }
      slave = ptsname(master_);
      slave_path_ = slave;
    } else if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0 || pipe2(in, O_CLOEXEC) != 0) {
      ADD_FAILURE() << "pipe: " << std::strerror(errno);
      return;
    }
    if (pipe2(report, O_CLOEXEC) != 0 || pipe2(go_, O_CLOEXEC) != 0) {
      ADD_FAILURE() << "pipe: " << std::strerror(errno);
      return;
    }
    std::vector<char*> argv;
    for (const std::string& a : l.argv) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    sigset_t mask;
    sigemptyset(&mask);
    for (const int s : l.blocked) sigaddset(&mask, s);
    std::fflush(nullptr);
    auto start_init = [&]() -> pid_t {  // in the process that made the namespace
      const pid_t pid = fork();
      if (pid != 0) return pid;
      // PID 1 of the new namespace, until exec: async-signal-safe calls only.
      prctl(PR_SET_PDEATHSIG, SIGKILL);  // the test gone (watchdog): the namespace goes too
      if (l.pty) {
        setsid();
        const int fd = open(slave.c_str(), O_RDWR);
        if (fd < 0 || ioctl(fd, TIOCSCTTY, 0) != 0) _exit(120);
        dup2(fd, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        if (fd > 2) close(fd);
      } else {
        dup2(in[0], 0);
        dup2(out[1], 1);
        dup2(err[1], 2);
      }
      for (const int s : l.ignored) {
        struct sigaction ign {};
        ign.sa_handler = SIG_IGN;
        sigemptyset(&ign.sa_mask);
        sigaction(s, &ign, nullptr);
      }
      sigprocmask(SIG_SETMASK, &mask, nullptr);
      if (!l.cwd.empty() && chdir(l.cwd.c_str()) != 0) _exit(121);
      if (l.hold_before_exec) {
        close(go_[1]);
        char c;
        while (read(go_[0], &c, 1) < 0 && errno == EINTR) {
        }
      }
      execv(argv[0], argv.data());
      _exit(122);
    };
    if (l.no_namespace) {
      pid_ = start_init();
    } else if (!l.through_middle) {
      // unshare() changes the namespace of the children to come; setns() back to our own afterwards,
      // so that the next pid1 can make a namespace again (a second unshare() would fail: EINVAL).
      const int own = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
      if (own < 0 || unshare(CLONE_NEWPID) != 0) {
        ADD_FAILURE() << "unshare(CLONE_NEWPID): " << std::strerror(errno);
        if (own >= 0) close(own);
        return;
      }
      pid_ = start_init();
      if (setns(own, CLONE_NEWPID) != 0) ADD_FAILURE() << "setns: " << std::strerror(errno);
      close(own);
    } else {
      // The test adopts the init when the middle process dies.
      prctl(PR_SET_CHILD_SUBREAPER, 1);
      middle_ = fork();
      if (middle_ == 0) {
        if (unshare(CLONE_NEWPID) != 0) _exit(1);
        const pid_t init = start_init();
        (void)!write(report[1], &init, sizeof init);
        for (;;) pause();  // until the test kills it
      }
      if (middle_ > 0) {
        pid_t init = -1;
        close(report[1]);
        report[1] = -1;
        while (read(report[0], &init, sizeof init) < 0 && errno == EINTR) {
        }
        pid_ = init;
      }
    }
    for (const int fd : {report[0], report[1], in[0], out[1], err[1], go_[0]})
      if (fd >= 0) close(fd);
    out_fd_ = l.pty ? master_ : out[0];
    err_fd_ = l.pty ? -1 : err[0];
    if (!l.pty) {
      if (!l.input.empty()) (void)!write(in[1], l.input.data(), l.input.size());
      close(in[1]);
    }
    if (pid_ <= 0) ADD_FAILURE() << "could not start " << l.argv.front();
  }

  ~pid1() {
    if (pid_ > 0 && !reaped_) kill(pid_, SIGKILL);
    kill_middle();
    if (pid_ > 0 && !reaped_) {
      int status = 0;
      while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
    }
    for (const int fd : {out_fd_, err_fd_, go_[1]})
      if (fd >= 0) close(fd);
  }
  pid1(const pid1&) = delete;
  pid1& operator=(const pid1&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& out() const { return out_; }
  const std::string& err() const { return err_; }
  const std::string& slave_path() const { return slave_path_; }

  // Reads until stdout (or the terminal) holds `text`; false at the end of output or after `seconds`.
  bool wait_for(const std::string& text, int seconds = 10) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (out_.find(text) == std::string::npos) {
      if (std::chrono::steady_clock::now() >= deadline || !pump(50))
        return out_.find(text) != std::string::npos;
    }
    return true;
  }

  // Lets an init started with hold_before_exec exec.
  void go() {
    if (go_[1] >= 0) close(go_[1]);
    go_[1] = -1;
  }

  // Reads what output there is (waits at most 50 ms for some).
  void read_more() { pump(50); }

  void type(const std::string& keys) { (void)!write(master_, keys.data(), keys.size()); }

  // The middle process dies: the init's parent dies (then the test adopts the init).
  void kill_middle() {
    if (middle_ <= 0) return;
    kill(middle_, SIGKILL);
    int status = 0;
    while (waitpid(middle_, &status, 0) < 0 && errno == EINTR) {
    }
    middle_ = -1;
  }

  // Waits until the init exits (then reaped: its wait status) or stops (a WIFSTOPPED status; the
  // destructor kills and reaps it). Past `timeout_s`: a failure, and -1.
  int wait_exit_or_stop(unsigned timeout_s = 20) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    int status = 0;
    for (;;) {
      const pid_t r = waitpid(pid_, &status, WNOHANG | WUNTRACED);
      if (r == pid_) break;
      if (std::chrono::steady_clock::now() >= deadline) {
        ADD_FAILURE() << "the init neither exits nor stops within " << timeout_s << " s";
        return -1;
      }
      pump(1);
    }
    if (!WIFSTOPPED(status)) reaped_ = true;
    return status;
  }

  // Reads the rest of the output, reaps the init (SIGKILL past `timeout_s`: a hang); its wait status.
  int finish(unsigned timeout_s = 20) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    int status = 0;
    for (;;) {
      const pid_t r = waitpid(pid_, &status, WNOHANG);
      if (r == pid_) break;
      if (r < 0 && errno != EINTR) {
        ADD_FAILURE() << "waitpid: " << std::strerror(errno);
        return -1;
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        ADD_FAILURE() << "the init (pid " << pid_ << ") still runs after " << timeout_s << " s; killed\n"
                      << out_ << err_;
        kill(pid_, SIGKILL);
        while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
        }
        break;
      }
      pump(5);
    }
    reaped_ = true;
    while (pump(50)) {  // the namespace is empty: every writer is gone (a pty master reads EIO)
    }
    return status;
  }

 private:
  // One poll() of the output fds; false once no fd is open any more.
  bool pump(int timeout_ms) {
    pollfd fds[2];
    int n = 0;
    int* which[2];
    std::string* into[2];
    if (out_fd_ >= 0) {
      fds[n] = {out_fd_, POLLIN, 0};
      which[n] = &out_fd_;
      into[n++] = &out_;
    }
    if (err_fd_ >= 0) {
      fds[n] = {err_fd_, POLLIN, 0};
      which[n] = &err_fd_;
      into[n++] = &err_;
    }
    if (n == 0) return false;
    if (poll(fds, static_cast<nfds_t>(n), timeout_ms) <= 0) return true;
    for (int i = 0; i < n; ++i) {
      if (fds[i].revents == 0) continue;
      char buffer[4096];
      const ssize_t got = read(*which[i], buffer, sizeof buffer);
      if (got > 0) {
        into[i]->append(buffer, static_cast<std::size_t>(got));
      } else if (got == 0 || errno != EINTR) {  // EOF, or EIO: the terminal has no slave left
        if (*which[i] != master_ || reaped_) {
          close(*which[i]);
          if (*which[i] == master_) master_ = -1;
          *which[i] = -1;
        }
      }
    }
    return true;
  }

  pid_t pid_ = -1;
  int go_[2] = {-1, -1};
  pid_t middle_ = -1;
  bool reaped_ = false;
  int master_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
  std::string slave_path_;
  std::string out_;
  std::string err_;
};

// ---- /proc ----------------------------------------------------------------------------------------

std::string stat_line(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  std::getline(in, text);
  return text;
}

// The fields of /proc/PID/stat after the command name: [0] state, [1] ppid, [2] pgrp, [3] session,
// [4] tty_nr; empty if gone.
std::vector<std::string> stat_fields(pid_t pid) {
  const std::string text = stat_line(pid);
  const std::size_t close = text.rfind(')');
  std::vector<std::string> fields;
  if (close == std::string::npos) return fields;
  std::istringstream rest(text.substr(close + 2));
  for (std::string f; rest >> f;) fields.push_back(f);
  return fields;
}

std::string wchan(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/wchan");
  std::string text;
  std::getline(in, text);
  return text;
}

// After the init took a signal: 'T' once it stopped itself, 'S' once it is back waiting for the next
// signal (asleep in sigwaitinfo/sigtimedwait: do_sigtimedwait), '?' if neither within 10 s.
char settled_state(pid_t pid) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    const char s = proc_state(pid);
    if (s == 'T' || s == 't') return 'T';
    if (s == 'S' && wchan(pid).rfind("do_sigtimedwait", 0) == 0) return 'S';
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return '?';
}

std::string ns_of(pid_t pid) {
  char target[128] = {};
  const std::string link = "/proc/" + std::to_string(pid) + "/ns/pid";
  const ssize_t n = readlink(link.c_str(), target, sizeof target - 1);
  return n > 0 ? std::string(target, static_cast<std::size_t>(n)) : "";
}

// The pid (as the test sees it) of the process numbered `inner` in the namespace of which `init`
// (the test's pid of it) is PID 1; 0 if none.
pid_t outer_pid(pid_t init, pid_t inner) {
  const std::string ns = ns_of(init);
  if (ns.empty()) return 0;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return 0;
  pid_t found = 0;
  while (dirent* e = readdir(proc)) {
    const pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
    if (pid <= 0 || ns_of(pid) != ns) continue;
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("NSpid:", 0) != 0) continue;
      std::istringstream fields(line.substr(6));
      std::string last;
      for (std::string f; fields >> f;) last = f;
      if (std::atoi(last.c_str()) == inner) found = pid;
    }
    if (found != 0) break;
  }
  closedir(proc);
  return found;
}

// The signals pending at `pid` (SigPnd | ShdPnd), as a bit set (bit N-1: signal N).
unsigned long long pending_at(pid_t pid);

// ---- Text -----------------------------------------------------------------------------------------

pid_t number_after(const std::string& text, const std::string& key) {
  return static_cast<pid_t>(std::atoi(word_after(text, key).c_str()));
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = 0; (at = text.find(what, at)) != std::string::npos; at += what.size()) ++n;
  return n;
}

std::vector<std::string> with_program(const init_kind& k, const std::vector<std::string>& program) {
  std::vector<std::string> argv = k.argv;
  argv.insert(argv.end(), program.begin(), program.end());
  return argv;
}

}  // namespace

namespace {

struct outcome {
  int status = -1;
  std::string out;
  std::string err;
};

// Runs `l` as PID 1 to its end.
outcome run_to_end(const launch& l, unsigned timeout_s = 20) {
  pid1 p(l);
  outcome o;
  if (p.pid() <= 0) return o;
  o.status = p.finish(timeout_s);
  o.out = p.out();
  o.err = p.err();
  return o;
}

std::vector<init_kind> every_init() {
  std::vector<init_kind> all = tini_family({});
  for (const init_kind& k : dumb_init_family({})) all.push_back(k);
  for (const init_kind& k : dumb_init_family({"-c"})) all.push_back(k);
  all.push_back(native({}));
  all.push_back(native({"--setsid"}));
  return all;
}

// The peer of one of ours (same family and options), for the side-by-side comparisons.
std::string peer_name(const init_kind& k) { return k.fam == family::tini ? "tini" : "dumb_init"; }

}  // namespace

// ---- Exit statuses --------------------------------------------------------------------------------

// Issue 11: "exits with the child's status: its exit code, or 128+N when the child died of signal N
// (as tini and dumb-init do) ... 126 when PROGRAM is not executable, 127 when not found"; compat
// modes take "exactly that program's ... exit codes". As PID 1, each case under every init: ours in
// a compat mode gives the peer's status, `sigrelay run` the issue's.
TEST(run_pid1_audit, exit_statuses_match_the_peers) {
  REQUIRE_PID1_AND_PEERS();
  SIGRELAY_IN_CHILD(
      [] {
        char dir[] = "/tmp/run_pid1_XXXXXX";
        ASSERT_NE(mkdtemp(dir), nullptr);
        const std::string noexec = std::string(dir) + "/not-executable";
        {
          std::ofstream f(noexec);
          f << "#!/bin/sh\nexit 0\n";
        }
        chmod(noexec.c_str(), 0644);
        struct scenario {
          std::string name;
          std::vector<std::string> program;
          int native;  // `sigrelay run`'s exit status
        };
        const std::vector<scenario> scenarios = {
            {"exit 0", {"/bin/sh", "-c", "exit 0"}, 0},
            {"exit 3", {"/bin/sh", "-c", "exit 3"}, 3},
            {"exit 255", {"/bin/sh", "-c", "exit 255"}, 255},
            {"SIGTERM", {"/bin/sh", "-c", "kill -TERM $$"}, 128 + SIGTERM},
            {"SIGKILL", {"/bin/sh", "-c", "kill -KILL $$"}, 128 + SIGKILL},
            {"SIGUSR1", {"/bin/sh", "-c", "kill -USR1 $$"}, 128 + SIGUSR1},
            {"SIGSEGV", {"/bin/sh", "-c", "kill -SEGV $$"}, 128 + SIGSEGV},
            {"SIGRTMIN+2", {RUN_PROBE, "kill", std::to_string(SIGRTMIN + 2)}, 128 + SIGRTMIN + 2},
            {"not found", {"/nonexistent/program"}, 127},
            {"not executable", {noexec}, 126},
        };
        for (const scenario& sc : scenarios) {
          std::map<std::string, int> status;
          for (const init_kind& k : every_init()) {
            launch l;
            l.argv = with_program(k, sc.program);
            const outcome o = run_to_end(l);
            ASSERT_TRUE(WIFEXITED(o.status))
                << k.name << " " << sc.name << ": " << describe_status(o.status) << o.out << o.err;
            // (-c and setsid share a name per kind: the last one counts, and both are compared below)
            status[k.name] = WEXITSTATUS(o.status);
            if (k.fam == family::native) {
              EXPECT_EQ(WEXITSTATUS(o.status), sc.native) << k.name << ", " << sc.name << "\n" << o.err;
            } else if (k.ours) {
              EXPECT_EQ(WEXITSTATUS(o.status), status[peer_name(k)])
                  << k.name << " " << k.argv.back() << ", " << sc.name << ": the peer exits "
                  << status[peer_name(k)] << "\n"
                  << o.err;
            }
          }
        }
        unlink(noexec.c_str());
        rmdir(dir);
      },
      300);
}

// ---- Reaping -----------------------------------------------------------------------------------------

// Issue 11: "reaps every zombie (as PID 1 ...) and exits with the child's status"; run_init.hpp:
// "Descendants that still run are not waited for (as tini and dumb-init): as PID 1, the namespace
// ends with the init and the kernel kills them." The child starts 20 orphans that end (exit 99) about
// when it ends (exit 5), and one that would run for 60 s: the init exits 5 (never an orphan's 99), at
// once rather than after the long one, under every init, as the peer does.
TEST(run_pid1_audit, the_childs_status_wins_and_running_orphans_do_not_hold_the_init) {
  REQUIRE_PID1_AND_PEERS();
  SIGRELAY_IN_CHILD(
      [] {
        const std::string script =
            "i=0; while [ $i -lt 20 ]; do (sh -c 'sleep 0.2; exit 99' &); i=$((i+1)); done; "
            "(sleep 60 &); sleep 0.2; exit 5";
        for (const init_kind& k : every_init()) {
          launch l;
          l.argv = with_program(k, {"/bin/sh", "-c", script});
          const auto start = std::chrono::steady_clock::now();
          const outcome o = run_to_end(l, 40);
          const auto took = std::chrono::steady_clock::now() - start;
          EXPECT_TRUE(sigrelay::test::exited_with(o.status, 5)) << k.name << "\n" << o.out << o.err;
          // A hang guard, not a speed check: the long orphan would keep a waiting init 60 s.
          EXPECT_LT(took, std::chrono::seconds(30)) << k.name << " waited for the orphan that still runs";
        }
      },
      240);
}

// Issue 11: "reaps every zombie (as PID 1 ...)", tini's "-w (warn on each reaped zombie: "Reaped
// zombie process with pid=N")". 300 orphans end at once while the child runs: every one is reaped
// (the probe sees each pid gone) and warned about exactly once, by tini and by ours alike; `sigrelay
// run -w` says "reaped orphan pid N" once for each.
TEST(run_pid1_audit, each_orphan_is_reaped_and_warned_about_once) {
  REQUIRE_PID1_AND_PEERS();
  SIGRELAY_IN_CHILD(
      [] {
        std::vector<init_kind> kinds = tini_family({"-w"});
        kinds.push_back(native({"-w"}));
        for (const init_kind& k : kinds) {
          launch l;
          l.argv = with_program(k, {probe, "orphans", "300"});
          const outcome o = run_to_end(l, 60);
          EXPECT_TRUE(sigrelay::test::exited_with(o.status, 0)) << k.name << "\n" << o.out << o.err;
          EXPECT_NE(o.out.find("orphans=300\n"), std::string::npos) << k.name << "\n" << o.out;
          EXPECT_NE(o.out.find("reaped 300 of 300\n"), std::string::npos) << k.name << "\n" << o.out;
          const std::string line =
              k.fam == family::native ? "reaped orphan pid " : "Reaped zombie process with pid=";
          std::set<std::string> pids;
          for (std::size_t at = 0; (at = o.err.find(line, at)) != std::string::npos; at += line.size())
            pids.insert(word_after(o.err.substr(at), line));
          EXPECT_EQ(count(o.err, line), 300u) << k.name << "\n" << o.err;
          EXPECT_EQ(pids.size(), 300u) << k.name << ": a pid warned about twice\n" << o.err;
        }
      },
      300);
}

// ---- The child's signal state -----------------------------------------------------------------------

namespace {

std::string hex_of(const std::vector<int>& signals) {
  unsigned long long bits = 0;
  for (const int s : signals) bits |= 1ULL << (s - 1);
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", bits);
  return text;
}

}  // namespace

// Issue 11: "The child starts with the signal mask and dispositions the init itself was started with
// (never the init's own blocks)". As PID 1, the init started with SIGHUP, SIGUSR1, SIGALRM, SIGCHLD
// and SIGRTMIN+1 blocked and SIGINT, SIGQUIT, SIGPIPE, SIGUSR2, SIGTTOU and SIGRTMIN+2 ignored: the
// probe's SigBlk and SigIgn are exactly those, under ours (every mode) and under tini. (dumb-init
// installs handlers for 1-31 and unblocks everything: the difference run_compat_dumb_init.cc states.)
TEST(run_pid1_audit, the_child_starts_with_the_inits_mask_and_dispositions) {
  REQUIRE_PID1_AND_PEERS();
  SIGRELAY_IN_CHILD(
      [] {
        const std::vector<int> blocked = {SIGHUP, SIGUSR1, SIGALRM, SIGCHLD, SIGRTMIN + 1};
        const std::vector<int> ignored = {SIGINT, SIGQUIT, SIGPIPE, SIGUSR2, SIGTTOU, SIGRTMIN + 2};
        const std::string want = "ignored=" + hex_of(ignored) + " blocked=" + hex_of(blocked) + "\n";
        for (const init_kind& k : every_init()) {
          if (k.fam == family::dumb_init && !k.ours) continue;
          launch l;
          l.argv = with_program(k, {probe, "state"});
          l.blocked = blocked;
          l.ignored = ignored;
          const outcome o = run_to_end(l);
          EXPECT_TRUE(sigrelay::test::exited_with(o.status, 0)) << k.name << "\n" << o.out << o.err;
          EXPECT_EQ(o.out, want) << k.name << " " << k.argv.back();
        }
      },
      120);
}

// run_init.hpp: "an inherited SIG_IGN of SIGCHLD is put back in the child before exec" and the init
// "becomes SIG_DFL" so that "their statuses" are not lost. As PID 1 (every orphan of the namespace is
// its child) with SIGCHLD ignored at the start: ours still exits with the child's status, reaps an
// orphan, and the child starts with SIGCHLD ignored. Ours only: tini and dumb-init leave SIGCHLD as
// they find it.
TEST(run_pid1_audit, sigchld_ignored_at_the_start_as_pid_1) {
  if (!pid_namespaces_work()) GTEST_SKIP() << "unshare(CLONE_NEWPID) fails here (needs root)";
  SIGRELAY_IN_CHILD(
      [] {
        std::vector<init_kind> kinds = {native({}), native({"--setsid"})};
        for (const init_kind& k : tini_family({})) {
          if (k.ours) kinds.push_back(k);
        }
        for (const init_kind& k : dumb_init_family({})) {
          if (k.ours) kinds.push_back(k);
        }
        for (const init_kind& k : kinds) {
          launch l;
          l.ignored = {SIGCHLD};
          l.argv = with_program(k, {"/bin/sh", "-c", std::string(probe) + " orphan; exit 6"});
          const outcome o = run_to_end(l);
          EXPECT_TRUE(sigrelay::test::exited_with(o.status, 6)) << k.name << "\n" << o.out << o.err;
          EXPECT_NE(o.out.find("reaped\n"), std::string::npos) << k.name << "\n" << o.out;
          EXPECT_EQ(o.out.find("not reaped"), std::string::npos) << k.name << "\n" << o.out;
          // (the probe itself: a shell puts SIGCHLD back to SIG_DFL for itself)
          launch state = l;
          state.argv = with_program(k, {probe, "state"});
          const outcome s = run_to_end(state);
          EXPECT_TRUE(sigrelay::test::exited_with(s.status, 0)) << k.name << "\n" << s.out << s.err;
          EXPECT_EQ(s.out, "ignored=" + hex_of({SIGCHLD}) + " blocked=" + hex_of({}) + "\n") << k.name;
        }
      },
      120);
}

// Issue 11: "forwards every catchable signal to it"; run_init.hpp: "Blocked signals are never
// discarded by the kernel, even with SIG_DFL in a PID namespace's init or an inherited SIG_IGN". The
// init (PID 1) started with SIGINT, SIGUSR1 and SIGTERM ignored: each, sent to it, reaches the probe
// (which sets its own handlers), which exits 42 after SIGTERM; as under the peers.
TEST(run_pid1_audit, signals_ignored_at_the_start_are_still_forwarded) {
  REQUIRE_PID1_AND_PEERS();
  SIGRELAY_IN_CHILD(
      [] {
        for (const init_kind& k : every_init()) {
          launch l;
          l.ignored = {SIGINT, SIGUSR1, SIGTERM};
          l.argv = with_program(k, {probe, "wait"});
          pid1 p(l);
          ASSERT_TRUE(p.wait_for("ready")) << k.name << "\n" << p.out() << p.err();
          ASSERT_EQ(kill(p.pid(), SIGUSR1), 0);
          EXPECT_TRUE(p.wait_for("got SIGUSR1")) << k.name << "\n" << p.out() << p.err();
          ASSERT_EQ(kill(p.pid(), SIGINT), 0);
          EXPECT_TRUE(p.wait_for("got SIGINT")) << k.name << "\n" << p.out() << p.err();
          ASSERT_EQ(kill(p.pid(), SIGTERM), 0);
          const int status = p.finish();
          EXPECT_TRUE(sigrelay::test::exited_with(status, 42)) << k.name << "\n" << p.out() << p.err();
        }
      },
      120);
}

// ---- Who gets a forwarded signal ----------------------------------------------------------------------

// Issue 11: dumb-init's "-c/--single-child ...: signals go to the child only; default setsid mode: the
// child gets a new session ..., signals go to its whole process group"; tini's "-g (signal the
// child's process group)". As PID 1: the probe and a grandchild in its process group; SIGUSR1 to the
// init. Ordered proof (run_test.cc's): once the probe printed SIGUSR1, the test sends SIGUSR2 straight
// to the grandchild; had the init signalled the group, SIGUSR1 was already pending there and,
// lower-numbered, is handled first. Each of ours does what its peer does in the same mode, and
// `sigrelay run` (child only), `-g` and `--setsid` (group) what the issue says.
TEST(run_pid1_audit, forwarded_signals_reach_whom_the_peer_reaches) {
  REQUIRE_PID1_AND_PEERS();
  SIGRELAY_IN_CHILD(
      [] {
        std::vector<init_kind> kinds = tini_family({});
        for (const init_kind& k : tini_family({"-g"})) kinds.push_back(k);
        for (const init_kind& k : dumb_init_family({})) kinds.push_back(k);
        for (const init_kind& k : dumb_init_family({"-c"})) kinds.push_back(k);
        kinds.push_back(native({}));
        kinds.push_back(native({"-g"}));
        kinds.push_back(native({"--setsid"}));
        std::map<std::string, bool> peer_group;  // by family and options
        for (const init_kind& k : kinds) {
          launch l;
          l.argv = with_program(k, {probe, "wait", "group"});
          pid1 p(l);
          ASSERT_TRUE(p.wait_for("ready")) << k.name << "\n" << p.out() << p.err();
          const pid_t grandchild = outer_pid(p.pid(), number_after(p.out(), "grandchild="));
          ASSERT_GT(grandchild, 0) << k.name << "\n" << p.out();
          ASSERT_EQ(kill(p.pid(), SIGUSR1), 0);
          ASSERT_TRUE(p.wait_for("\ngot SIGUSR1")) << k.name << "\n" << p.out() << p.err();
          ASSERT_EQ(kill(grandchild, SIGUSR2), 0);
          ASSERT_TRUE(p.wait_for("grandchild got SIGUSR2")) << k.name << "\n" << p.out() << p.err();
          const bool group = p.out().find("grandchild got SIGUSR1") != std::string::npos;
          ASSERT_EQ(kill(grandchild, SIGTERM), 0);  // (the probe then waits for no group-wide SIGTERM)
          ASSERT_EQ(kill(p.pid(), SIGTERM), 0);
          const int status = p.finish();
          EXPECT_TRUE(sigrelay::test::exited_with(status, 42)) << k.name << "\n" << p.out() << p.err();
          std::string options;
          for (std::size_t i = 1; i + 1 < k.argv.size(); ++i) {
            if (k.argv[i].rfind("--compat", 0) != 0 && k.argv[i] != "run") options += " " + k.argv[i];
          }
          const std::string key = (k.fam == family::tini ? "tini" : "dumb-init") + options;
          if (k.fam == family::native) {
            const bool want = k.name != "native";
            EXPECT_EQ(group, want) << k.name << ": the grandchild " << (group ? "got" : "did not get")
                                   << " the signal\n"
                                   << p.out();
          } else if (!k.ours) {
            peer_group[key] = group;
          } else {
            EXPECT_EQ(group, peer_group[key])
                << k.name << " (" << key << "): the grandchild " << (group ? "got" : "did not get")
                << " the signal, the peer's " << (peer_group[key] ? "did" : "did not") << "\n"
                << p.out();
          }
        }
      },
      120);
}

// ---- A terminal
// ---------------------------------------------------------------------------------------------

// Issue 11, dumb-init's setsid mode: "the child gets a new session and the terminal, ...
// TSTP/TTIN/TTOU become SIGSTOP to the group and the init stops itself, SIGCONT wakes both; ... as a
// session leader it ignores the first SIGHUP and SIGCONT that the terminal hand-off causes". As PID 1
// leading the session of a pseudo-terminal (a container started with a tty): the probe's session is
// its own and the terminal is its controlling terminal; it never gets the hand-off's SIGHUP or SIGCONT;
// SIGTSTP to the init stops it (state T); whether the init stops itself too is what dumb-init does as
// PID 1 (the kernel ignores a SIGSTOP that a namespace's init sends itself); SIGCONT to the init wakes
// the probe, which handles exactly one SIGCONT; SIGTERM ends it (42).
TEST(run_pid1_audit, on_a_terminal_setsid_mode_does_what_dumb_init_does) {
  REQUIRE_PID1_AND_PEERS();
  SIGRELAY_IN_CHILD(
      [] {
        std::vector<init_kind> kinds = dumb_init_family({});
        kinds.push_back(native({"--setsid"}));
        char peer_state = '?';
        for (const init_kind& k : kinds) {
          launch l;
          l.pty = true;
          l.argv = with_program(k, {probe, "wait"});
          pid1 p(l);
          ASSERT_TRUE(p.wait_for("ready")) << k.name << "\n" << p.out();
          const pid_t child = outer_pid(p.pid(), number_after(p.out(), "ready pid="));
          ASSERT_GT(child, 0) << k.name << "\n" << p.out();
          // Its own session, with the terminal.
          const auto f = stat_fields(child);
          ASSERT_GE(f.size(), 5u);
          struct stat st {};
          ASSERT_EQ(stat(p.slave_path().c_str(), &st), 0);
          const unsigned long tty_nr =
              (minor(st.st_rdev) & 0xff) | (major(st.st_rdev) << 8) | ((minor(st.st_rdev) & ~0xffu) << 12);
          EXPECT_EQ(std::stoul(f[4]), tty_nr) << k.name << ": the child's controlling terminal";
          EXPECT_EQ(f[3], std::to_string(child)) << k.name << ": the child's session";
          // The hand-off's SIGHUP and SIGCONT taken by the init first: a SIGTSTP sent while its SIGCONT is
          // pending discards it (a_sigcont_not_caused_by_the_terminal_hand_off_is_forwarded).
          const unsigned long long hand_off = (1ULL << (SIGHUP - 1)) | (1ULL << (SIGCONT - 1));
          for (int i = 0; i < 10'000 && (pending_at(p.pid()) & hand_off) != 0; ++i) usleep(1000);
          ASSERT_EQ(kill(p.pid(), SIGTSTP), 0);
          EXPECT_TRUE(wait_for_state(child, 'T')) << k.name << ": child state " << proc_state(child);
          const char state = settled_state(p.pid());
          if (!k.ours) {
            peer_state = state;
          } else {
            EXPECT_EQ(state, peer_state)
                << k.name << ": the init's state after SIGTSTP (dumb-init's: " << peer_state << ")";
          }
          ASSERT_EQ(kill(p.pid(), SIGCONT), 0);
          EXPECT_TRUE(p.wait_for("got SIGCONT")) << k.name << "\n" << p.out();
          EXPECT_TRUE(wait_for_state(child, 'S')) << k.name << ": child state " << proc_state(child);
          ASSERT_EQ(kill(p.pid(), SIGTERM), 0);
          const int status = p.finish();
          EXPECT_TRUE(sigrelay::test::exited_with(status, 42)) << k.name << "\n" << p.out();
          EXPECT_EQ(p.out().find("got SIGHUP"), std::string::npos) << k.name << ": the hand-off's SIGHUP\n"
                                                                   << p.out();
          EXPECT_EQ(count(p.out(), "got SIGCONT"), 1u) << k.name << ": the hand-off's SIGCONT\n" << p.out();
        }
      },
      120);
}

// Issue 11: the child starts "in its own process group made the terminal's foreground group ...
// stdin/stdout/stderr passed through" (dumb-init: "the child gets a new session and the terminal"; -c:
// the child stays in the init's group). As PID 1 leading the session of a pseudo-terminal, under
// every init: a line typed at the terminal is read by the child (a background child would be stopped
// by SIGTTIN instead), and Ctrl+C typed reaches it as SIGINT; the statuses are the peer's.
TEST(run_pid1_audit, on_a_terminal_the_child_is_in_the_foreground) {
  REQUIRE_PID1_AND_PEERS();
  SIGRELAY_IN_CHILD(
      [] {
        for (const init_kind& k : every_init()) {
          {
            launch l;
            l.pty = true;
            l.argv = with_program(k, {"/bin/sh", "-c", "echo ask; read line; echo \"line=$line\"; exit 3"});
            pid1 p(l);
            ASSERT_TRUE(p.wait_for("ask")) << k.name << "\n" << p.out();
            p.type("hello\n");
            EXPECT_TRUE(p.wait_for("line=hello")) << k.name << "\n" << p.out();
            const int status = p.finish();
            EXPECT_TRUE(sigrelay::test::exited_with(status, 3)) << k.name << "\n" << p.out();
          }
          {
            launch l;
            l.pty = true;
            l.argv = with_program(k, {probe, "wait"});
            pid1 p(l);
            ASSERT_TRUE(p.wait_for("ready")) << k.name << "\n" << p.out();
            p.type("\x03");
            EXPECT_TRUE(p.wait_for("got SIGINT")) << k.name << "\n" << p.out();
            ASSERT_EQ(kill(p.pid(), SIGTERM), 0);
            const int status = p.finish();
            EXPECT_TRUE(sigrelay::test::exited_with(status, 42)) << k.name << "\n" << p.out();
          }
        }
      },
      120);
}

// ---- -p -----------------------------------------------------------------------------------------

// Issue 11: tini's "-p SIGNAL (parent-death signal, then forwarded)"; run_init.hpp: "when its parent
// dies the signal arrives and is forwarded like any other". As PID 1, whose parent is outside its
// namespace (a middle process the test kills): the probe gets SIGUSR1, then SIGTERM to the init ends
// it (42); as under tini -p SIGUSR1. `sigrelay run -p USR1` the same.
TEST(run_pid1_audit, parent_death_signal_is_forwarded_as_pid_1) {
  REQUIRE_PID1_AND_PEERS();
  SIGRELAY_IN_CHILD(
      [] {
        std::vector<init_kind> kinds = tini_family({"-p", "SIGUSR1"});
        kinds.push_back(native({"-p", "USR1"}));
        for (const init_kind& k : kinds) {
          launch l;
          l.through_middle = true;
          l.argv = with_program(k, {probe, "wait"});
          pid1 p(l);
          ASSERT_TRUE(p.wait_for("ready")) << k.name << "\n" << p.out() << p.err();
          EXPECT_EQ(p.out().find("got SIGUSR1"), std::string::npos) << k.name << "\n" << p.out();
          p.kill_middle();
          EXPECT_TRUE(p.wait_for("got SIGUSR1")) << k.name << "\n" << p.out() << p.err();
          ASSERT_EQ(kill(p.pid(), SIGTERM), 0);
          const int status = p.finish();
          EXPECT_TRUE(sigrelay::test::exited_with(status, 42)) << k.name << "\n" << p.out() << p.err();
        }
      },
      120);
}

// ---- stdin, stdout, stderr, working directory ---------------------------------------------------------

// Issue 11: "stdin/stdout/stderr passed through, the caller's working directory kept". As PID 1 under
// every init: the child reads the init's stdin, writes to its stdout and its stderr apart, runs in the
// directory the init was started in; the output is the peer's.
TEST(run_pid1_audit, stdio_and_working_directory_pass_through) {
  REQUIRE_PID1_AND_PEERS();
  SIGRELAY_IN_CHILD(
      [] {
        char dir[] = "/tmp/run_pid1_cwd_XXXXXX";
        ASSERT_NE(mkdtemp(dir), nullptr);
        for (const init_kind& k : every_init()) {
          launch l;
          l.cwd = dir;
          l.input = "from stdin\n";
          l.argv = with_program(k, {"/bin/sh", "-c", "pwd; cat; echo to-stderr >&2; exit 4"});
          const outcome o = run_to_end(l);
          EXPECT_TRUE(sigrelay::test::exited_with(o.status, 4)) << k.name << "\n" << o.out << o.err;
          EXPECT_EQ(o.out, std::string(dir) + "\nfrom stdin\n") << k.name;
          EXPECT_EQ(o.err, "to-stderr\n") << k.name;
        }
        rmdir(dir);
      },
      120);
}

// ---- Signals still pending when the child ends ------------------------------------------------------------

namespace {

// The init held with ptrace (PTRACE_SEIZE, then PTRACE_INTERRUPT): a deterministic way to have
// signals pending at it, and the child's exit, in a chosen order, before it looks. Detached (and so
// resumed) by detach() or the destructor.
class held {
 public:
  explicit held(pid_t pid) : pid_(pid) {
    if (ptrace(PTRACE_SEIZE, pid, nullptr, reinterpret_cast<void*>(PTRACE_O_TRACESYSGOOD)) != 0) {
      ADD_FAILURE() << "PTRACE_SEIZE: " << std::strerror(errno);
      return;
    }
    attached_ = true;
    if (ptrace(PTRACE_INTERRUPT, pid, nullptr, nullptr) != 0) {
      ADD_FAILURE() << "PTRACE_INTERRUPT: " << std::strerror(errno);
      return;
    }
    int status = 0;
    ok_ = next_stop(status) && (status >> 16) == PTRACE_EVENT_STOP;
    if (!ok_) ADD_FAILURE() << "no ptrace stop: " << describe_status(status);
  }
  ~held() { detach(); }
  held(const held&) = delete;
  held& operator=(const held&) = delete;

  bool ok() const { return ok_; }

  void detach() {
    if (attached_) (void)ptrace(PTRACE_DETACH, pid_, nullptr, nullptr);
    attached_ = false;
  }

  // Resumes from system call to system call until `stop_here(nr, entry, rval)` says so (true), or the
  // init is gone (false). At a system call's exit, `nr` is the number of its entry.
  bool run_until(const std::function<bool(long nr, bool entry, long rval)>& stop_here) {
    return run_until_args(
        [&](long nr, bool entry, long rval, unsigned long long) { return stop_here(nr, entry, rval); });
  }

  // The same, with the system call's second argument (at its exit: the entry's).
  bool run_until_args(
      const std::function<bool(long nr, bool entry, long rval, unsigned long long arg1)>& stop_here) {
    int inject = 0;
    for (int i = 0; i < 1'000'000; ++i) {
      if (ptrace(PTRACE_SYSCALL, pid_, nullptr, reinterpret_cast<void*>(static_cast<long>(inject))) != 0)
        return false;
      inject = 0;
      int status = 0;
      if (!next_stop(status)) return false;
      if (WSTOPSIG(status) == (SIGTRAP | 0x80)) {
        __ptrace_syscall_info info{};
        if (ptrace(PTRACE_GET_SYSCALL_INFO, pid_, reinterpret_cast<void*>(sizeof info), &info) <= 0)
          return false;
        if (info.op == PTRACE_SYSCALL_INFO_ENTRY) {
          nr_ = static_cast<long>(info.entry.nr);
          arg1_ = info.entry.args[1];
          if (stop_here(nr_, true, 0, arg1_)) return true;
        } else if (info.op == PTRACE_SYSCALL_INFO_EXIT) {
          if (stop_here(nr_, false, static_cast<long>(info.exit.rval), arg1_)) return true;
        }
      } else if ((status >> 16) == 0) {
        inject = WSTOPSIG(status);  // a signal-delivery stop: deliver it
      }
    }
    return false;
  }

 private:
  bool next_stop(int& status) {
    for (;;) {
      const pid_t r = waitpid(pid_, &status, __WALL);
      if (r == pid_) break;
      if (r < 0 && errno != EINTR) return false;
    }
    if (!WIFSTOPPED(status)) {
      attached_ = false;
      return false;
    }
    return true;
  }

  pid_t pid_;
  bool attached_ = false;
  bool ok_ = false;
  long nr_ = -1;
  unsigned long long arg1_ = 0;
};

// Waits until `pid` (a child of ours, traced or not) is a zombie: its exit is pending at its parent.
bool wait_for_zombie(pid_t pid) { return wait_for_state(pid, 'Z'); }

// The signals pending at `pid` (SigPnd | ShdPnd), as a bit set (bit N-1: signal N).
unsigned long long pending_at(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  unsigned long long bits = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("SigPnd:", 0) == 0 || line.rfind("ShdPnd:", 0) == 0)
      bits |= std::strtoull(line.substr(7).c_str(), nullptr, 16);
  }
  return bits;
}

// In the namespace of which `init` is PID 1: a process numbered `inner`, made with ns_last_pid, that
// blocks every signal and sleeps until the namespace ends. Returns its pid as the test sees it, 0 if
// the number could not be had.
pid_t impostor(pid_t init, pid_t inner) {
  const int theirs = open(("/proc/" + std::to_string(init) + "/ns/pid").c_str(), O_RDONLY | O_CLOEXEC);
  const int own = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
  int report[2];
  if (theirs < 0 || own < 0 || pipe2(report, O_CLOEXEC) != 0 || setns(theirs, CLONE_NEWPID) != 0) {
    ADD_FAILURE() << "setns: " << std::strerror(errno);
    return 0;
  }
  std::fflush(nullptr);
  const pid_t helper = fork();
  if (helper == 0) {
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, nullptr);
    const int fd = open("/proc/sys/kernel/ns_last_pid", O_WRONLY);
    const std::string last = std::to_string(inner - 1);
    if (fd < 0 || write(fd, last.data(), last.size()) != static_cast<ssize_t>(last.size())) _exit(1);
    close(fd);
    const pid_t victim = fork();
    if (victim == 0) {
      for (;;) pause();  // every signal blocked: what is sent stays pending, to be read in /proc
    }
    (void)!write(report[1], &victim, sizeof victim);
    _exit(0);
  }
  (void)setns(own, CLONE_NEWPID);
  close(theirs);
  close(own);
  close(report[1]);
  pid_t victim = 0;
  while (read(report[0], &victim, sizeof victim) < 0 && errno == EINTR) {
  }
  close(report[0]);
  int status = 0;
  waitpid(helper, &status, 0);
  if (victim != inner) return 0;
  return outer_pid(init, inner);
}

}  // namespace

// run_init.hpp, The end: "the init first forwards every signal still pending for it" and, of the
// SIGTERM to the child in single-child mode, "through a pidfd ...: it can only reach that child ...
// dumb-init's kill() of the reaped pid would hit whatever process got that pid since". The same must
// hold of every signal the init sends after the child is reaped: its pid may belong to another
// process by then. As PID 1: the init held (ptrace) while the child dies and SIGWINCH (numbered above
// SIGCHLD, so taken after the reaping) waits at the init; released, it reaps the child and is held
// again right there; the child's pid is given to a new process of the namespace (ns_last_pid), which
// blocks every signal; then the init runs on to its next kill or its exit. Nothing may be pending at
// that process. tini (the control) exits without signalling anyone; so must ours.
TEST(run_pid1_audit, no_signal_reaches_a_process_that_took_the_reaped_childs_pid) {
  REQUIRE_PID1_AND_PEERS();
  SIGRELAY_IN_CHILD(
      [] {
        std::vector<init_kind> kinds = tini_family({});
        kinds.push_back(native({}));
        for (const init_kind& k : dumb_init_family({"-c"})) {
          if (k.ours) kinds.push_back(k);
        }
        for (const init_kind& k : kinds) {
          launch l;
          l.argv = with_program(k, {probe, "wait"});
          pid1 p(l);
          ASSERT_TRUE(p.wait_for("ready")) << k.name << "\n" << p.out() << p.err();
          const pid_t inner = number_after(p.out(), "ready pid=");
          const pid_t child = outer_pid(p.pid(), inner);
          ASSERT_GT(child, 0) << k.name;
          held h(p.pid());
          ASSERT_TRUE(h.ok()) << k.name;
          ASSERT_EQ(kill(child, SIGKILL), 0);
          ASSERT_TRUE(wait_for_zombie(child)) << k.name;
          ASSERT_EQ(kill(p.pid(), SIGWINCH), 0);
          ASSERT_TRUE(h.run_until([&](long nr, bool entry, long rval) {
            return !entry && nr == SYS_wait4 && rval == inner;
          })) << k.name
              << ": the init never reaped its child\n"
              << p.out() << p.err();
          const pid_t victim = impostor(p.pid(), inner);
          ASSERT_GT(victim, 0) << k.name << ": could not give pid " << inner << " to a new process";
          // On to the first signal sent after the reaping, or the exit.
          h.run_until([&](long nr, bool entry, long) {
            if (entry) return nr == SYS_exit_group || nr == SYS_exit;
            return nr == SYS_kill || nr == SYS_tgkill || nr == SYS_pidfd_send_signal;
          });
          const unsigned long long got = pending_at(victim);
          h.detach();
          const int status = p.finish();
          EXPECT_EQ(got, 0u) << k.name << ": the process that took the reaped child's pid " << inner
                             << " was sent signals (bit N-1 = signal N): " << std::hex << got << std::dec
                             << "\n"
                             << p.out() << p.err();
          EXPECT_TRUE(sigrelay::test::exited_with(status, 128 + SIGKILL)) << k.name << "\n" << p.err();
        }
      },
      120);
}

// Issue 11 (dumb-init mode): "TSTP/TTIN/TTOU become SIGSTOP to the group and the init stops itself,
// SIGCONT wakes both" — and the init "exits with the child's status". When a SIGTSTP is still pending
// at the init as its child ends, dumb-init (which exits as soon as it has reaped the child) exits
// with the child's status; ours must not stop itself with no child left to wake it. The init held
// (ptrace) while the child dies and SIGTSTP waits (numbered above SIGCHLD: taken after the reaping),
// then released. Not as PID 1 (there the kernel ignores the SIGSTOP a namespace's init sends itself):
// dumb-init started as PID 2, under another init, a `sigrelay run --setsid` anywhere.
TEST(run_pid1_audit, a_tty_stop_pending_when_the_child_ends_does_not_stop_the_init) {
  REQUIRE_PID1_AND_PEERS();
  SIGRELAY_IN_CHILD(
      [] {
        prctl(PR_SET_CHILD_SUBREAPER, 1);  // orphans of the inits come back here
        std::vector<init_kind> kinds = dumb_init_family({});
        for (const init_kind& k : dumb_init_family({"-c"})) kinds.push_back(k);
        kinds.push_back(native({"--setsid"}));
        for (const init_kind& k : kinds) {
          launch l;
          l.no_namespace = true;
          l.argv = with_program(k, {probe, "wait"});
          pid1 p(l);
          ASSERT_TRUE(p.wait_for("ready")) << k.name << "\n" << p.out() << p.err();
          const pid_t child = number_after(p.out(), "ready pid=");
          ASSERT_GT(child, 0) << k.name;
          {
            held h(p.pid());
            ASSERT_TRUE(h.ok()) << k.name;
            ASSERT_EQ(kill(child, SIGKILL), 0);
            ASSERT_TRUE(wait_for_zombie(child)) << k.name;
            ASSERT_EQ(kill(p.pid(), SIGTSTP), 0);
          }  // released
          const int status = p.wait_exit_or_stop();
          EXPECT_FALSE(WIFSTOPPED(status)) << k.name << " (" << k.argv[k.argv.size() - 2]
                                           << "): with its child gone, the init stopped itself ("
                                           << describe_status(status) << ") and would never exit";
          if (!WIFSTOPPED(status)) {
            EXPECT_TRUE(sigrelay::test::exited_with(status, 128 + SIGKILL)) << k.name << "\n" << p.err();
          }
        }
        while (waitpid(-1, nullptr, WNOHANG) > 0) {
        }
      },
      120);
}

// ---- Fault signals and realtime floods ----------------------------------------------------------------

namespace {

// Whether `signo` is in the SigBlk of `pid`.
bool blocks(pid_t pid, int signo) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("SigBlk:", 0) == 0)
      return ((std::strtoull(line.substr(7).c_str(), nullptr, 16) >> (signo - 1)) & 1) != 0;
  }
  return false;
}

}  // namespace

// run_init.hpp: tini's dialect leaves "SIGABRT alone" and the fault signals "at their default action
// (one sent to the init kills it, as tini does)"; dumb-init's "forwards the fault signals too". As
// PID 1 the kernel discards a default-action signal sent to a namespace's init (even from outside
// it), so tini ignores them there, and dumb-init forwards them: the child dies of it (128+N). Each
// sent to the init with kill(); where the init does not block it (so it is gone at once), SIGTERM
// follows and the probe exits 42. Ours in each dialect ends as the peer does.
TEST(run_pid1_audit, abort_and_fault_signals_sent_to_pid_1_do_what_the_peer_does) {
  REQUIRE_PID1_AND_PEERS();
  SIGRELAY_IN_CHILD(
      [] {
        // In the sanitizer presets our program is instrumented: its runtime must leave these signals
        // at their default action, as a plain build does (as in tools_audit_test.cc).
        ::setenv("ASAN_OPTIONS",
                 "detect_leaks=1:handle_segv=0:handle_sigbus=0:handle_sigfpe=0:handle_sigill=0", 1);
        ::setenv("TSAN_OPTIONS",
                 "halt_on_error=1:handle_segv=0:handle_sigbus=0:handle_sigfpe=0:handle_sigill=0", 1);
        std::vector<init_kind> kinds = tini_family({});
        for (const init_kind& k : dumb_init_family({})) kinds.push_back(k);
        for (const int signo : {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS}) {
          std::map<family, int> peer;
          for (const init_kind& k : kinds) {
            launch l;
            l.argv = with_program(k, {probe, "wait"});
            pid1 p(l);
            ASSERT_TRUE(p.wait_for("ready")) << k.name << "\n" << p.out() << p.err();
            const bool taken = blocks(p.pid(), signo);
            ASSERT_EQ(kill(p.pid(), signo), 0);
            if (!taken) {
              ASSERT_EQ(kill(p.pid(), SIGTERM), 0);
            }
            const int status = p.finish();
            if (!k.ours) {
              peer[k.fam] = status;
            } else {
              EXPECT_EQ(describe_status(status), describe_status(peer[k.fam]))
                  << k.name << ", " << strsignal(signo)
                  << " sent to the init (the peer's status: " << describe_status(peer[k.fam]) << ")\n"
                  << p.out() << p.err();
            }
          }
        }
      },
      120);
}

// Issue 11: "forwards every catchable signal"; run_init.hpp: "each realtime delivery is queued and
// forwarded on its own". As PID 1, everything on one CPU: 300 SIGRTMIN+3 sent to the init with
// sigqueue() reach the probe 300 times (none dropped, none doubled), as under tini and dumb-init.
TEST(run_pid1_audit, a_realtime_flood_on_one_cpu_is_forwarded_one_for_one) {
  REQUIRE_PID1_AND_PEERS();
  SIGRELAY_IN_CHILD(
      [] {
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(0, &one);
        ASSERT_EQ(sched_setaffinity(0, sizeof one, &one), 0);  // inherited by the init and the probe
        constexpr int n = 300;
        for (const init_kind& k : every_init()) {
          launch l;
          l.argv = with_program(k, {probe, "wait"});
          pid1 p(l);
          ASSERT_TRUE(p.wait_for("ready")) << k.name << "\n" << p.out() << p.err();
          for (int i = 0; i < n; ++i) {
            const sigval value{i};
            ASSERT_EQ(sigqueue(p.pid(), SIGRTMIN + 3, value), 0) << std::strerror(errno);
          }
          const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
          while (count(p.out(), "got SIGRTMIN+3") < static_cast<std::size_t>(n) &&
                 std::chrono::steady_clock::now() < deadline) {
            p.read_more();
          }
          EXPECT_EQ(count(p.out(), "got SIGRTMIN+3"), static_cast<std::size_t>(n)) << k.name;
          ASSERT_EQ(kill(p.pid(), SIGTERM), 0);
          const int status = p.finish();
          EXPECT_TRUE(sigrelay::test::exited_with(status, 42)) << k.name << "\n" << p.err();
          EXPECT_EQ(count(p.out(), "got SIGRTMIN+3"), static_cast<std::size_t>(n)) << k.name << ": doubled?";
        }
      },
      180);
}

// Issue 11: invoked as tini, "it takes exactly that program's options, exit codes, usage errors and
// message prefixes". tini, once it has reaped its child, exits: a signal that reached it in the
// meantime (numbered above SIGCHLD, so taken after the reaping) is not forwarded and it says
// nothing. As PID 1: the init held (ptrace) while the child dies and SIGWINCH waits at it, then
// released: ours exits with the same status and the same (empty) stderr as tini.
TEST(run_pid1_audit, a_signal_pending_when_the_child_ends_is_handled_as_tini_handles_it) {
  REQUIRE_PID1_AND_PEERS();
  SIGRELAY_IN_CHILD(
      [] {
        std::string peer_err;
        int peer_status = -1;
        for (const init_kind& k : tini_family({})) {
          launch l;
          l.argv = with_program(k, {probe, "wait"});
          pid1 p(l);
          ASSERT_TRUE(p.wait_for("ready")) << k.name << "\n" << p.out() << p.err();
          const pid_t child = outer_pid(p.pid(), number_after(p.out(), "ready pid="));
          ASSERT_GT(child, 0) << k.name;
          {
            held h(p.pid());
            ASSERT_TRUE(h.ok()) << k.name;
            ASSERT_EQ(kill(child, SIGKILL), 0);
            ASSERT_TRUE(wait_for_zombie(child)) << k.name;
            ASSERT_EQ(kill(p.pid(), SIGWINCH), 0);
          }  // released
          const int status = p.finish();
          if (!k.ours) {
            peer_err = p.err();
            peer_status = status;
            continue;
          }
          EXPECT_EQ(describe_status(status), describe_status(peer_status)) << k.name;
          EXPECT_EQ(p.err(), peer_err) << k.name << ": stderr differs from tini's";
        }
      },
      60);
}

// Issue 11: the init "exits with the child's status"; tini's dialect takes "exactly that program's
// ... exit codes". tini reaps after every signal it forwards, so a stream of signals sent to it
// never hides its child's end. As PID 1, everything on one CPU: the child (SIGUSR1 ignored, as the
// init was started) exits 3 after half a second while another process sends SIGUSR1 to the init
// without pause; the init must end with 3 while the stream goes on (it stops after 15 s, a hang guard).
// SIGUSR1 (10) is numbered below SIGCHLD (17): an init that always takes the lowest pending signal
// first never sees SIGCHLD while SIGUSR1 is pending again each time it looks.
TEST(run_pid1_audit, a_stream_of_signals_does_not_hide_the_childs_end) {
  REQUIRE_PID1_AND_PEERS();
  SIGRELAY_IN_CHILD(
      [] {
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(0, &one);
        ASSERT_EQ(sched_setaffinity(0, sizeof one, &one), 0);
        std::vector<init_kind> kinds = tini_family({});
        kinds.push_back(native({}));
        for (const init_kind& k : kinds) {
          launch l;
          l.ignored = {SIGUSR1};
          l.argv = with_program(k, {"/bin/sh", "-c", "echo started; sleep 0.5; exit 3"});
          pid1 p(l);
          ASSERT_TRUE(p.wait_for("started")) << k.name << "\n" << p.out() << p.err();
          const pid_t init = p.pid();
          std::fflush(nullptr);
          const pid_t sender = fork();
          if (sender == 0) {
            alarm(15);  // the stream's end: a hang guard
            while (kill(init, SIGUSR1) == 0) {
            }
            _exit(0);
          }
          ASSERT_GT(sender, 0);
          const int status = p.finish(40);
          // Did the stream still run when the init ended (the init ended on its own)?
          int sender_status = 0;
          const bool stream_ran_out = waitpid(sender, &sender_status, WNOHANG) == sender;
          if (!stream_ran_out) {
            kill(sender, SIGKILL);
            waitpid(sender, &sender_status, 0);
          }
          EXPECT_TRUE(sigrelay::test::exited_with(status, 3)) << k.name << "\n" << p.err();
          EXPECT_FALSE(stream_ran_out && WIFSIGNALED(sender_status) && WTERMSIG(sender_status) == SIGALRM)
              << k.name
              << ": the init ended only when the stream of SIGUSR1 stopped (15 s), not when its "
                 "child did";
        }
      },
      180);
}

// The children of `pid` (/proc/PID/task/PID/children), as the test sees them.
std::vector<pid_t> children_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children");
  std::vector<pid_t> out;
  for (pid_t c; in >> c;) out.push_back(c);
  return out;
}

// Issue 11 (dumb-init's setsid mode): "as a session leader it ignores the first SIGHUP and SIGCONT
// that the terminal hand-off causes" — those, not others: a SIGCONT the hand-off did not cause is
// forwarded ("SIGCONT wakes both"). A stop signal sent to a process discards its pending SIGCONT
// (the kernel does so when the stop signal is sent, blocked or not), so a SIGTSTP that reaches the
// init before it has taken the hand-off's SIGCONT leaves no hand-off SIGCONT to ignore. As PID 1
// leading a pseudo-terminal's session: the init held (ptrace) from just after its TIOCNOTTY; SIGTSTP
// is sent to it then; released, it stops the child's group (SIGSTOP); then a SIGCONT sent to the init
// must wake the child. (Seen as a rare failure of on_a_terminal_setsid_mode_does_what_dumb_init_does,
// where the test's SIGTSTP came early; here the order is chosen. Whether dumb-init does better is
// printed, not asserted: it ignores the "first" SIGCONT in the same way.)
TEST(run_pid1_audit, a_sigcont_not_caused_by_the_terminal_hand_off_is_forwarded) {
  REQUIRE_PID1_AND_PEERS();
  SIGRELAY_IN_CHILD(
      [] {
        std::vector<init_kind> kinds = dumb_init_family({});
        kinds.push_back(native({"--setsid"}));
        for (const init_kind& k : kinds) {
          launch l;
          l.pty = true;
          l.hold_before_exec = true;
          l.argv = with_program(k, {probe, "wait"});
          pid1 p(l);
          ASSERT_GT(p.pid(), 0);
          ASSERT_TRUE(wait_for_state(p.pid(), 'S')) << k.name;  // waiting for go()
          bool after_handoff = false;
          {
            held h(p.pid());
            ASSERT_TRUE(h.ok()) << k.name;
            p.go();
            after_handoff = h.run_until_args([](long nr, bool entry, long rval, unsigned long long arg1) {
              return !entry && nr == SYS_ioctl && arg1 == TIOCNOTTY && rval == 0;
            });
            ASSERT_TRUE(after_handoff) << k.name << ": no TIOCNOTTY seen\n" << p.out();
            ASSERT_EQ(kill(p.pid(), SIGTSTP), 0);
          }  // released
          pid_t child = 0;
          const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
          while (child == 0 && std::chrono::steady_clock::now() < deadline) {
            const auto c = children_of(p.pid());
            if (!c.empty()) child = c.front();
            p.read_more();
          }
          ASSERT_GT(child, 0) << k.name << "\n" << p.out();
          const bool stopped = wait_for_state(child, 'T');
          if (!k.ours && !stopped) {
            // dumb-init forwards to the child's group at once after fork(), before the child's setsid()
            // may have made that group: its SIGSTOP can miss (ESRCH). Ours waits for the exec.
            std::printf("note: %s did not stop its child (its group did not exist yet)\n", k.name.c_str());
            continue;
          }
          ASSERT_TRUE(stopped) << k.name << ": the child was not stopped by the SIGTSTP\n" << p.out();
          ASSERT_EQ(kill(p.pid(), SIGCONT), 0);
          const bool woke = wait_for_state(child, 'S');
          if (k.ours) {
            EXPECT_TRUE(woke) << k.name
                              << ": the SIGCONT sent to the init after the SIGTSTP was taken for the "
                              << "terminal hand-off's and not forwarded; the child stays stopped\n"
                              << p.out();
          } else if (!woke) {
            std::printf("note: %s does the same (its child stays stopped)\n", k.name.c_str());
          }
        }  // (the destructor kills the init: the namespace goes with it)
      },
      120);
}
