// SPDX-License-Identifier: MIT
// tools/sigrelay/tests/run_compat_audit_test.cc — an adversarial audit of the tini and dumb-init front
// ends of `sigrelay run` (a link named `tini` or `dumb-init` to sigrelay) against the real programs.
//
// Why: the front ends promise that an image switches from tini or dumb-init by changing one path, so
// every observable must be the peer's: exit statuses, which stream a message goes to and its exact
// words (help texts aside), how options are read, and what happens to signals. Each scenario here runs
// the real peer (/usr/bin/tini, /usr/bin/dumb-init) and the link to sigrelay side by side, as real
// processes, and compares what they did; the expected values are the peer's own, never written down
// from our documentation. run_test.cc covers the basic cases (an exit code, one signal, the common
// usage errors, -r 10:12 / 1:0, verbosity, -p); this file covers the edges it does not:
//   - exit statuses for many codes and for children killed by many signals;
//   - -e values that strtol() reads unusually ("", "+3", " 3", "03", ...), repeated -e;
//   - exec failures: a directory, ENOTDIR, a missing interpreter, a file without the x bit, PATH
//     empty, unset or wrong;
//   - usage errors, --help/--version/-h/-l and the stream each goes to; dumb-init's long options
//     (abbreviations, ambiguity, "=value" on a flag);
//   - dumb-init -r values as sscanf("%d:%d") reads them, and a repeated -r (the last one wins);
//   - options after PROGRAM and clustered short options;
//   - TINI_VERBOSITY / DUMB_INIT_DEBUG / DUMB_INIT_SETSID with values other than the usual ones;
//   - SIGABRT and the fault signals (SEGV, BUS, FPE, ILL, TRAP, SYS) sent to the init with kill();
//   - SIGTSTP handling: tini forwards it and keeps running; dumb-init -c stops the child and itself;
//     dumb-init -r 20:0 drops it and still stops itself.
// A test that fails here is a divergence from the peer (reported, not fixed in this file).
//
// Every program runs in a forked child of the test (run_in_child: a watchdog, a known signal state)
// that is a child subreaper, so any orphan comes back to it and is reaped; core dumps are off (the
// fault signals would otherwise write cores). Signals go only to processes the test started itself.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "run_support.hpp"
#include "support/child.hpp"
#include "support/process.hpp"

namespace {

using sigrelay::test::run::proc_state;
using sigrelay::test::run::wait_for_state;

const std::string sigrelay_bin = SIGRELAY_BIN;
const std::string probe = RUN_PROBE;
const std::string links = LINKS_DIR;

const std::string tini_path = "/usr/bin/tini";
const std::string dumb_init_path = "/usr/bin/dumb-init";
const std::string tini_link = links + "/tini";
const std::string dumb_init_link = links + "/dumb-init";

// "exit N" or "signal N" (the core-dump flag left out).
std::string what(int status) {
  if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "signal " + std::to_string(WTERMSIG(status));
  return "status " + std::to_string(status);
}

// `text` with `argv0` replaced by ARGV0 and the pids (the digits after "(", "pid '", "PID " or
// "pid=") by N.
std::string normalized(const std::string& text, const std::string& argv0) {
  std::string s = text;
  for (std::size_t at; (at = s.find(argv0)) != std::string::npos;) s.replace(at, argv0.size(), "ARGV0");
  std::string out;
  for (std::size_t i = 0; i < s.size();) {
    std::size_t j = i;
    while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j])) != 0) ++j;
    if (j == i) {
      out += s[i++];
      continue;
    }
    const auto after = [&](const char* key) {
      const std::size_t n = std::strlen(key);
      return out.size() >= n && out.compare(out.size() - n, n, key) == 0;
    };
    if (after("(") || after("pid '") || after("pid: '") || after("PID ") || after("pid=")) {
      out += 'N';
    } else {
      out.append(s, i, j - i);
    }
    i = j;
  }
  return out;
}

std::vector<std::string> sorted_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::sort(lines.begin(), lines.end());
  return lines;
}

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

std::string joined(const std::vector<std::string>& words) {
  std::string out;
  for (const std::string& w : words) out += (out.empty() ? "" : " ") + (w.empty() ? std::string("''") : w);
  return out;
}

// Reaps every child left (orphans that came back to this subreaper); past the deadline, kills those
// still running (they are this process's own children: /proc/self/task/*/children) and reaps them.
void reap_all_children(unsigned timeout_s = 10) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  for (;;) {
    int status = 0;
    const pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid < 0 && errno == EINTR) continue;
    if (pid < 0) return;  // ECHILD: none left
    if (pid > 0) continue;
    if (std::chrono::steady_clock::now() > deadline) {
      std::ifstream in("/proc/self/task/" + std::to_string(getpid()) + "/children");
      for (long child; in >> child;) kill(static_cast<pid_t>(child), SIGKILL);
      while (waitpid(-1, &status, 0) > 0 || errno == EINTR) {
      }
      ADD_FAILURE() << "children still running past the deadline were killed";
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

// A program started by the test: its own process group in the test's session (so that its group and
// its child's are never orphaned: SIGTSTP stops them), core dumps off, a clean signal state, and
// `env` applied ("NAME=VALUE" sets, "-NAME" unsets). stdout and stderr are read apart.
class started {
 public:
  explicit started(const std::vector<std::string>& argv, const std::vector<std::string>& env = {}) {
    int out[2];
    int err[2];
    if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) return;
    std::fflush(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      sigrelay::test::reset_signal_state();
      setpgid(0, 0);
      const rlimit no_core{0, 0};
      setrlimit(RLIMIT_CORE, &no_core);
      for (const std::string& e : env) {
        if (!e.empty() && e[0] == '-') {
          unsetenv(e.c_str() + 1);
        } else {
          const std::size_t eq = e.find('=');
          setenv(e.substr(0, eq).c_str(), e.substr(eq + 1).c_str(), 1);
        }
      }
      dup2(out[1], 1);
      dup2(err[1], 2);
      std::vector<char*> args;
      for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
    close(out[1]);
    close(err[1]);
    out_fd_ = out[0];
    err_fd_ = err[0];
  }
  ~started() {
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      sigrelay::test::wait_with_deadline(pid_, 10);
    }
    if (out_fd_ >= 0) close(out_fd_);
    if (err_fd_ >= 0) close(err_fd_);
  }
  started(const started&) = delete;
  started& operator=(const started&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& out() const { return out_; }
  const std::string& err() const { return err_; }

  // Reads until `text` is in stdout (true), or the output ends or the deadline passes (false).
  bool wait_for_out(const std::string& text, unsigned timeout_s = 10) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    while (text.empty() || out_.find(text) == std::string::npos) {
      if (!read_some(deadline)) return text.empty();
    }
    return true;
  }
  // Reads both streams to their end, then reaps the program; returns its wait status.
  int finish(unsigned timeout_s = 20) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    while (read_some(deadline)) {
    }
    reaped_ = true;
    return sigrelay::test::wait_with_deadline(pid_, timeout_s);
  }

 private:
  // false once both streams ended or the deadline passed.
  bool read_some(std::chrono::steady_clock::time_point deadline) {
    if (out_fd_ < 0 && err_fd_ < 0) return false;
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd fds[2] = {{out_fd_, POLLIN, 0}, {err_fd_, POLLIN, 0}};
    const int r = poll(fds, 2, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) return true;
    if (r <= 0) return false;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buffer[1024];
      const ssize_t n = read(fds[i].fd, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        close(fds[i].fd);
        (i == 0 ? out_fd_ : err_fd_) = -1;
      } else {
        (i == 0 ? out_ : err_).append(buffer, static_cast<std::size_t>(n));
      }
    }
    return true;
  }
  pid_t pid_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
  bool reaped_ = false;
  std::string out_;
  std::string err_;
};

struct ran {
  int status;
  std::string out;
  std::string err;
};

ran run(const std::vector<std::string>& argv, const std::vector<std::string>& env = {}) {
  started p(argv, env);
  const int status = p.finish();
  return {status, p.out(), p.err()};
}

// Runs `body` in a forked child under a watchdog (run_in_child) that is a child subreaper, reaps
// every child left, and returns what `body` returned ("" if the child did not get that far). The
// comparisons are made by the caller, in the test process: run_in_child's own verdict also counts
// the failures of the test before the fork.
std::string collect_in_child(const std::function<std::string()>& body, unsigned timeout_s = 60) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return "";
  sigrelay::test::run_in_child(
      [&] {
        close(fds[0]);
        if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) return;
        std::string result = body();
        reap_all_children();
        result += '\n';  // the end marker
        for (std::size_t done = 0; done < result.size();) {
          const ssize_t n = write(fds[1], result.data() + done, result.size() - done);
          if (n < 0 && errno == EINTR) continue;
          if (n <= 0) break;
          done += static_cast<std::size_t>(n);
        }
      },
      timeout_s);
  close(fds[1]);
  std::string result;
  char buffer[4096];
  for (ssize_t n; (n = read(fds[0], buffer, sizeof buffer)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    result.append(buffer, static_cast<std::size_t>(n));
  }
  close(fds[0]);
  if (result.empty() || result.back() != '\n') return "";
  result.pop_back();
  return result;
}

std::string encode(const ran& r) {
  const std::string status = std::to_string(r.status);
  return std::to_string(status.size()) + ":" + status + std::to_string(r.out.size()) + ":" + r.out +
         std::to_string(r.err.size()) + ":" + r.err;
}

// Reads one length-prefixed field of `text` from `at`.
std::string field(const std::string& text, std::size_t& at) {
  const std::size_t colon = text.find(':', at);
  if (colon == std::string::npos) return "";
  const std::size_t size = std::stoul(text.substr(at, colon - at));
  at = colon + 1 + size;
  return text.substr(colon + 1, size);
}

// Reads back one ran that encode() wrote at `at`.
ran decode(const std::string& text, std::size_t& at) {
  ran r;
  r.status = std::stoi(field(text, at));
  r.out = field(text, at);
  r.err = field(text, at);
  return r;
}

// Runs `args` under the peer and under the link (inside a subreaper child, everything reaped) and
// hands both results to `compare`.
void side_by_side(const std::string& peer, const std::string& link, const std::vector<std::string>& args,
                  const std::vector<std::string>& env,
                  const std::function<void(const ran& theirs, const ran& ours)>& compare) {
  const std::string both = collect_in_child([&] {
    std::vector<std::string> a{peer};
    a.insert(a.end(), args.begin(), args.end());
    const ran theirs = run(a, env);
    a[0] = link;
    const ran ours = run(a, env);
    return encode(theirs) + encode(ours);
  });
  ASSERT_FALSE(both.empty()) << "the runs did not finish";
  std::size_t at = 0;
  ran r[2];
  for (ran& one : r) one = decode(both, at);
  compare(r[0], r[1]);
}

// The same status, stdout and stderr (argv[0] and pids aside).
void expect_same_everything(const std::string& peer, const std::string& link,
                            const std::vector<std::string>& args, const std::vector<std::string>& env = {}) {
  SCOPED_TRACE(joined(env) + (env.empty() ? "" : " ") + peer + " " + joined(args));
  side_by_side(peer, link, args, env, [&](const ran& theirs, const ran& ours) {
    EXPECT_EQ(what(theirs.status), what(ours.status)) << "theirs:\n" << theirs.err << "\nours:\n" << ours.err;
    EXPECT_EQ(normalized(theirs.out, peer), normalized(ours.out, link));
    EXPECT_EQ(normalized(theirs.err, peer), normalized(ours.err, link));
  });
}

// ---- Exit statuses ----------------------------------------------------------------------------

// The child exits with each of several codes, or is killed by each of several signals: the init's
// status is the peer's (128+N for a signal, in both peers).
TEST(run_compat_audit, exit_statuses_match_the_peers) {
  std::vector<std::vector<std::string>> probes;
  for (const int code : {0, 1, 2, 126, 127, 128, 129, 254, 255})
    probes.push_back({"exit", std::to_string(code)});
  for (const int sig :
       {SIGHUP, SIGINT, SIGQUIT, SIGABRT, SIGKILL, SIGSEGV, SIGPIPE, SIGTERM, SIGUSR2, SIGSYS})
    probes.push_back({"kill", std::to_string(sig)});
  const struct {
    std::string peer, link;
    std::vector<std::string> options;
  } inits[] = {{tini_path, tini_link, {"-s", "--"}},
               {dumb_init_path, dumb_init_link, {}},
               {dumb_init_path, dumb_init_link, {"-c"}}};
  for (const auto& init : inits) {
    for (const auto& p : probes) {
      std::vector<std::string> args = init.options;
      args.push_back(probe);
      args.insert(args.end(), p.begin(), p.end());
      SCOPED_TRACE(init.peer + " " + joined(args));
      side_by_side(init.peer, init.link, args, {}, [](const ran& theirs, const ran& ours) {
        EXPECT_EQ(what(theirs.status), what(ours.status)) << theirs.err << "\n--\n" << ours.err;
      });
    }
  }
}

// -e CODE as tini's strtol() reads it (an empty value is 0 there: strtol consumes nothing, and tini
// only checks that it stopped at the end), repeated and mixed with invalid ones. The child exits 3.
TEST(run_compat_audit, success_status_values_are_read_as_tini_reads_them) {
  const std::vector<std::vector<std::string>> cases = {
      {"-e", ""},    {"-e", " 3"},  {"-e", "+3"},           {"-e", "03"},           {"-e", "3x"},
      {"-e", "3 "},  {"-e", "0x3"}, {"-e", "-1"},           {"-e", "-0"},           {"-e", "256"},
      {"-e", "255"}, {"-e3"},       {"-e", "3", "-e", "3"}, {"-e", "3", "-e", "x"}, {"-e", "0", "-e", "3"}};
  for (const auto& c : cases) {
    std::vector<std::string> args{"-s"};
    args.insert(args.end(), c.begin(), c.end());
    args.insert(args.end(), {"--", probe, "exit", "3"});
    expect_same_everything(tini_path, tini_link, args);
  }
}

// ---- Exec failures ----------------------------------------------------------------------------

// Programs that cannot be run, each with its errno: the peer's status (tini 127 ENOENT, 126 EACCES,
// 1 otherwise; dumb-init 2) and its message, word for word. A name without a slash is looked up in
// PATH: empty (nothing found), unset (the C library's default path) or wrong.
TEST(run_compat_audit, exec_failures_match_the_peers) {
  char dir_template[] = "/tmp/run_compat_audit.XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const std::string dir = dir_template;
  const std::string no_interpreter = dir + "/no-interpreter";
  const std::string not_executable = dir + "/not-executable";
  {
    std::ofstream(no_interpreter) << "#!/nonexistent/interpreter\n";
    std::ofstream(not_executable) << "#!/bin/sh\nexit 0\n";
  }
  ASSERT_EQ(chmod(no_interpreter.c_str(), 0755), 0);
  ASSERT_EQ(chmod(not_executable.c_str(), 0644), 0);
  struct scenario {
    std::vector<std::string> env;
    std::vector<std::string> command;
  };
  const std::vector<scenario> scenarios = {
      {{}, {dir}},                                   // a directory: EACCES
      {{}, {"/etc/passwd/x"}},                       // ENOTDIR
      {{}, {no_interpreter}},                        // ENOENT from the kernel, for the interpreter
      {{}, {not_executable}},                        // EACCES
      {{}, {"no-such-program-run-compat-audit"}},    // PATH searched: ENOENT
      {{}, {"./no-such-program-run-compat-audit"}},  // relative, not searched
      {{"PATH="}, {"true"}},                         // an empty PATH
      {{"PATH=/nonexistent"}, {"true"}},             // a wrong PATH
      {{"-PATH"}, {"true"}},                         // no PATH: the default path finds it
  };
  for (const scenario& s : scenarios) {
    std::vector<std::string> tini_args{"-s", "--"};
    tini_args.insert(tini_args.end(), s.command.begin(), s.command.end());
    expect_same_everything(tini_path, tini_link, tini_args, s.env);
    std::vector<std::string> dumb_args = s.command;
    expect_same_everything(dumb_init_path, dumb_init_link, dumb_args, s.env);
    dumb_args.insert(dumb_args.begin(), "-c");
    expect_same_everything(dumb_init_path, dumb_init_link, dumb_args, s.env);
  }
  unlink(no_interpreter.c_str());
  unlink(not_executable.c_str());
  rmdir(dir.c_str());
}

// Standard input closed (a daemon's `prog <&-`): tini's child fails tcsetpgrp(0) with EBADF, which
// tini treats as fatal ("tcsetpgrp failed: Bad file descriptor", status 1, PROGRAM never runs), while
// it goes on when stdin is merely not a terminal (ENOTTY). The tini front end runs PROGRAM in both
// cases: a deliberate difference (run_compat_tini.cc), as no image that works under tini depends on
// it. dumb-init runs PROGRAM, and so does its front end.
TEST(run_compat_audit, closed_stdin_runs_the_program_unlike_tini) {
  const auto closed_stdin = [](const std::string& init, const std::vector<std::string>& options) {
    std::vector<std::string> argv{"/bin/sh", "-c", "exec \"$@\" <&-", "sh", init};
    argv.insert(argv.end(), options.begin(), options.end());
    argv.insert(argv.end(), {"--", "/bin/sh", "-c", "exit 3"});
    return argv;
  };
  const std::string all = collect_in_child([&] {
    return encode(run(closed_stdin(tini_path, {"-s"}))) + encode(run(closed_stdin(tini_link, {"-s"}))) +
           encode(run(closed_stdin(dumb_init_path, {}))) + encode(run(closed_stdin(dumb_init_link, {})));
  });
  ASSERT_FALSE(all.empty()) << "the runs did not finish";
  std::size_t at = 0;
  ran r[4];
  for (ran& one : r) one = decode(all, at);
  // The peer's behaviour, so that the difference stays known: if tini ever runs PROGRAM here, the
  // front end should match it word for word and this test be rewritten.
  EXPECT_EQ("exit 1", what(r[0].status)) << r[0].err;
  EXPECT_NE(std::string::npos, r[0].err.find("tcsetpgrp failed: Bad file descriptor")) << r[0].err;
  EXPECT_EQ("exit 3", what(r[1].status)) << r[1].err;
  EXPECT_EQ("", r[1].err);
  EXPECT_EQ("exit 3", what(r[2].status)) << r[2].err;
  EXPECT_EQ(what(r[2].status), what(r[3].status)) << r[3].err;
  EXPECT_EQ(normalized(r[2].err, dumb_init_path), normalized(r[3].err, dumb_init_link));
}

// ---- Usage, help, version --------------------------------------------------------------------

// tini: the status, which stream has output, the first line when it is a message (getopt's "ARGV0:
// ..." or "[FATAL tini (N)] ..."), and the "Usage:" line (the help's other words are our own).
TEST(run_compat_audit, tini_usage_help_and_version_match_tini) {
  const std::vector<std::vector<std::string>> cases = {{"-x", "-h"},
                                                       {"-h", "-x"},
                                                       {"--help"},
                                                       {"-s", "--version"},
                                                       {"--version", "-s"},
                                                       {"--version", "true"},
                                                       {"-e"},
                                                       {"-p"},
                                                       {"--"},
                                                       {"-s", "--"},
                                                       {"-l", "x"},
                                                       {"-h"},
                                                       {"--version"},
                                                       {"-p", "SIGTERM"},
                                                       {"-p", "TERM", "true"},
                                                       {"-p", "15", "true"},
                                                       {"-p", "SIGRTMIN", "true"},
                                                       {"-sv"},
                                                       {"-"},
                                                       {"-", "true"}};
  for (const auto& c : cases) {
    SCOPED_TRACE("tini " + joined(c));
    side_by_side(tini_path, tini_link, c, {}, [](const ran& theirs, const ran& ours) {
      EXPECT_EQ(what(theirs.status), what(ours.status)) << theirs.err << "\n--\n" << ours.err;
      EXPECT_EQ(theirs.out.empty(), ours.out.empty()) << theirs.out << "\n--\n" << ours.out;
      EXPECT_EQ(theirs.err.empty(), ours.err.empty()) << theirs.err << "\n--\n" << ours.err;
      const auto compare_stream = [](const std::string& t, const std::string& o) {
        const std::string a = normalized(first_line(t), tini_path);
        const std::string b = normalized(first_line(o), tini_link);
        if (a.rfind("ARGV0:", 0) == 0 || a.rfind("[FATAL", 0) == 0 || a.rfind("tini version", 0) == 0 ||
            a.rfind("The MIT License", 0) == 0) {
          EXPECT_EQ(a, b);
        }
        const std::size_t tu = t.find("\nUsage: ");
        if (tu != std::string::npos) {
          const std::size_t ou = o.find("\nUsage: ");
          ASSERT_NE(ou, std::string::npos) << o;
          EXPECT_EQ(first_line(t.substr(tu + 1)), first_line(o.substr(ou + 1)));
        }
      };
      compare_stream(theirs.out, ours.out);
      compare_stream(theirs.err, ours.err);
    });
  }
}

// dumb-init: usage errors byte for byte (argv[0] aside), long options as getopt_long reads them
// (abbreviations, ambiguity, "=value"), and for the help: the status, the stream, the version line
// and the "Usage:" line.
TEST(run_compat_audit, dumb_init_usage_and_long_options_match_dumb_init) {
  const std::vector<std::vector<std::string>> exact = {{"--ver", "true"},
                                                       {"--bogus", "true"},
                                                       {"--rewrite"},
                                                       {"--single-child=1", "true"},
                                                       {"--"},
                                                       {"-c"},
                                                       {"--version"},
                                                       {"-V", "true"},
                                                       {"-r"},
                                                       {"--rewrite=herp", "true"},
                                                       {"-c", "-x", "true"},
                                                       {"--verbose=x", "true"},
                                                       {"--single", "--", "true"},
                                                       {"--rewr", "15:0", "true"},
                                                       {"--rewrite", "1:0", "--", "true"},
                                                       {"-"}};
  for (const auto& c : exact) expect_same_everything(dumb_init_path, dumb_init_link, c);
  for (const std::vector<std::string>& c : {std::vector<std::string>{"--help"}, {"-h", "true"}, {"--he"}}) {
    SCOPED_TRACE("dumb-init " + joined(c));
    side_by_side(dumb_init_path, dumb_init_link, c, {}, [](const ran& theirs, const ran& ours) {
      EXPECT_EQ(what(theirs.status), what(ours.status));
      EXPECT_EQ(theirs.out, ours.out);
      const std::string t = normalized(theirs.err, dumb_init_path);
      const std::string o = normalized(ours.err, dumb_init_link);
      EXPECT_EQ(first_line(t), first_line(o));
      EXPECT_EQ(first_line(t.substr(t.find('\n') + 1)), first_line(o.substr(o.find('\n') + 1)));
    });
  }
}

// ---- dumb-init's -r ---------------------------------------------------------------------------

// -r values as dumb-init's sscanf("%d:%d") and its range checks read them: the status and the text.
TEST(run_compat_audit, dumb_init_rewrite_values_are_read_as_dumb_init_reads_them) {
  for (const char* value :
       {"15:12abc", " 15:12", "15: 12", "15 :12",  "+15:+12", "-1:12",   "31:31", "32:1",
        "15:0",     "0:0",    "15:-1",  "15:32",   "1:31",    "10:12:3", "",      ":",
        "15:",      "0x1:2",  "1e1:2",  "015:012", "15::12",  "herp",    "15",    "1:32"}) {
    expect_same_everything(dumb_init_path, dumb_init_link, {"-r", value, "true"});
  }
  expect_same_everything(dumb_init_path, dumb_init_link, {"-r", "15:12", "-r", "15:10", "true"});
  expect_same_everything(dumb_init_path, dumb_init_link, {"-r", "15:12", "-r", "herp", "true"});
  expect_same_everything(dumb_init_path, dumb_init_link, {"-r15:0", "--rewrite=10:0", "true"});
}

// A repeated -r for one signal: the last one wins (10:12 then 10:0 drops SIGUSR1; 10:0 then 10:12
// passes it on as SIGUSR2). Ordered proof: SIGWINCH (28) is sent to the init after SIGUSR1; the init
// forwards them in order, and the probe handles the lower number first, so a forwarded SIGUSR2 or
// SIGUSR1 is printed before "got SIGWINCH".
TEST(run_compat_audit, dumb_init_repeated_rewrite_the_last_one_wins) {
  const struct {
    std::vector<std::string> options;
    const char* want;  // what the probe gets for SIGUSR1, or nullptr
  } cases[] = {{{"-r", "10:12", "-r", "10:0"}, nullptr},
               {{"-r", "10:0", "-r", "10:12"}, "got SIGUSR2"},
               {{"-c", "-r", "10:12", "-r", "10:0"}, nullptr},
               {{"-r", "10:2", "--rewrite", "10:12"}, "got SIGUSR2"}};
  for (const auto& c : cases) {
    for (const std::string& init : {dumb_init_path, dumb_init_link}) {
      SCOPED_TRACE(init + " " + joined(c.options));
      SIGRELAY_IN_CHILD(
          [&] {
            ASSERT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
            std::vector<std::string> argv{init};
            argv.insert(argv.end(), c.options.begin(), c.options.end());
            argv.insert(argv.end(), {"--", probe, "wait"});
            {
              started p(argv);
              ASSERT_TRUE(p.wait_for_out("ready pid=")) << p.out() << p.err();
              ASSERT_EQ(kill(p.pid(), SIGUSR1), 0);
              ASSERT_EQ(kill(p.pid(), SIGWINCH), 0);
              ASSERT_TRUE(p.wait_for_out("got SIGWINCH")) << p.out() << p.err();
              ASSERT_EQ(kill(p.pid(), SIGTERM), 0);
              const int status = p.finish();
              EXPECT_EQ(what(status), "exit 42") << p.out() << p.err();
              const std::string before = p.out().substr(0, p.out().find("got SIGWINCH"));
              EXPECT_EQ(before.find("got SIGUSR1"), std::string::npos) << p.out();
              EXPECT_EQ(before.find("got SIGHUP"), std::string::npos) << p.out();  // 10:2 is overridden
              if (c.want != nullptr) {
                EXPECT_NE(before.find(c.want), std::string::npos) << p.out();
              } else {
                EXPECT_EQ(p.out().find("got SIGUSR2"), std::string::npos) << p.out();
              }
            }
            reap_all_children();
          },
          60);
    }
  }
}

// ---- Option parsing ---------------------------------------------------------------------------

// Options after PROGRAM and clustered short options, as each peer reads them, and the one deliberate
// difference. dumb-init's "+" stops at PROGRAM, as ours. tini's glibc getopt permutes (an option after
// PROGRAM is tini's own: `tini -s echo hello -v` runs `echo hello` at verbosity 2, `tini -s sh -c X`
// fails on "-c"); ours stops at the first non-option, as the issue asks (run_compat_tini.cc): those
// command lines are checked against what that rule gives, and agree with tini once `--` comes
// before PROGRAM, as tini documents. The status and both streams (lines in any order: the child and
// the init write concurrently).
TEST(run_compat_audit, options_after_program_and_clusters_are_read_as_the_peer_reads_them) {
  const auto same_lines = [](const std::string& peer, const std::string& link,
                             const std::vector<std::string>& args, const std::vector<std::string>& env) {
    SCOPED_TRACE(joined(env) + " " + peer + " " + joined(args));
    side_by_side(peer, link, args, env, [&](const ran& theirs, const ran& ours) {
      EXPECT_EQ(what(theirs.status), what(ours.status)) << theirs.err << "\n--\n" << ours.err;
      EXPECT_EQ(sorted_lines(normalized(theirs.out, peer)), sorted_lines(normalized(ours.out, link)))
          << "theirs:\n"
          << theirs.out << "ours:\n"
          << ours.out;
      EXPECT_EQ(normalized(first_line(theirs.err), peer), normalized(first_line(ours.err), link));
    });
  };
  same_lines(tini_path, tini_link, {"-svv", "--", "true"}, {});
  same_lines(tini_path, tini_link, {"-sw", "-e3", "--", probe, "exit", "3"}, {});
  same_lines(tini_path, tini_link, {"-s", "--", "echo", "-v", "x"}, {});
  same_lines(tini_path, tini_link, {"-s", "--", "echo", "hello", "-v"}, {});
  same_lines(tini_path, tini_link, {"-s", "--", "sh", "-c", "exit 3"}, {});
  // Without `--`: everything from PROGRAM on is the command's.
  const auto ours_alone = [](const std::vector<std::string>& args, int code, const std::string& out) {
    SCOPED_TRACE(tini_link + " " + joined(args));
    side_by_side(tini_link, tini_link, args, {}, [&](const ran&, const ran& ours) {
      EXPECT_EQ("exit " + std::to_string(code), what(ours.status)) << ours.err;
      EXPECT_EQ(out, ours.out);
    });
  };
  ours_alone({"-s", "echo", "hello", "-v"}, 0, "hello -v\n");
  ours_alone({"-s", "sh", "-c", "exit 3"}, 3, "");
  same_lines(dumb_init_path, dumb_init_link, {"echo", "-v", "x"}, {});
  same_lines(dumb_init_path, dumb_init_link, {"sh", "-c", "exit 3"}, {});
  same_lines(dumb_init_path, dumb_init_link, {"-cv", "true"}, {});
  same_lines(dumb_init_path, dumb_init_link, {"-vc", "-r10:12", "true"}, {});
}

// Environment variables with unusual values: TINI_VERBOSITY is atoi()'d ("abc" 0, "2x" 2, "-1");
// DUMB_INIT_DEBUG is on only for "1", DUMB_INIT_SETSID off only for "0" (debug on, to see the mode).
TEST(run_compat_audit, environment_values_are_read_as_the_peer_reads_them) {
  for (const char* v : {"TINI_VERBOSITY=abc", "TINI_VERBOSITY=2x", "TINI_VERBOSITY=-1",
                        "TINI_VERBOSITY=", "TINI_VERBOSITY= 3", "TINI_VERBOSITY=+2"}) {
    SCOPED_TRACE(v);
    side_by_side(tini_path, tini_link, {"-s", "-v", "--", "true"}, {v},
                 [](const ran& theirs, const ran& ours) {
                   EXPECT_EQ(what(theirs.status), what(ours.status));
                   EXPECT_EQ(sorted_lines(normalized(theirs.out, tini_path)),
                             sorted_lines(normalized(ours.out, tini_link)));
                   EXPECT_EQ(sorted_lines(normalized(theirs.err, tini_path)),
                             sorted_lines(normalized(ours.err, tini_link)));
                 });
  }
  const std::vector<std::vector<std::string>> dumb_envs = {{"DUMB_INIT_DEBUG=true"},
                                                           {"DUMB_INIT_DEBUG=01"},
                                                           {"DUMB_INIT_DEBUG="},
                                                           {"DUMB_INIT_DEBUG=1", "DUMB_INIT_SETSID=1"},
                                                           {"DUMB_INIT_DEBUG=1", "DUMB_INIT_SETSID=00"},
                                                           {"DUMB_INIT_DEBUG=1", "DUMB_INIT_SETSID="},
                                                           {"DUMB_INIT_DEBUG=1", "DUMB_INIT_SETSID=false"}};
  for (const auto& env : dumb_envs) {
    SCOPED_TRACE(joined(env));
    side_by_side(dumb_init_path, dumb_init_link, {probe, "exit", "3"}, env,
                 [](const ran& theirs, const ran& ours) {
                   EXPECT_EQ(what(theirs.status), what(ours.status));
                   EXPECT_EQ(theirs.out, ours.out);
                   EXPECT_EQ(sorted_lines(normalized(theirs.err, dumb_init_path)),
                             sorted_lines(normalized(ours.err, dumb_init_link)));
                 });
  }
}

// ---- Signals sent to the init -----------------------------------------------------------------

// SIGABRT and the fault signals sent to the init with kill(). tini leaves SIGFPE, SIGILL, SIGSEGV,
// SIGBUS, SIGABRT, SIGTRAP and SIGSYS unblocked at their default action (its signals_for_tini), so it
// dies of each, and its child is left; dumb-init blocks and sigwait()s every signal, so it forwards
// each to the child (its group in setsid mode), which dies of it, and exits 128+N. The init's status
// must be the peer's.
TEST(run_compat_audit, abort_and_fault_signals_sent_to_the_init_do_what_the_peer_does) {
  const struct {
    std::string peer, link;
    std::vector<std::string> options;
  } inits[] = {{tini_path, tini_link, {"-s"}},
               {dumb_init_path, dumb_init_link, {}},
               {dumb_init_path, dumb_init_link, {"-c"}}};
  for (const auto& init : inits) {
    for (const int sig : {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS}) {
      std::string results[2];
      for (int i = 0; i < 2; ++i) {
        const std::string& path = i == 0 ? init.peer : init.link;
        SCOPED_TRACE(path + " " + joined(init.options) + ", " + strsignal(sig));
        results[i] = collect_in_child([&]() -> std::string {
          // In the sanitizer presets our program is instrumented: its runtime must leave these
          // signals alone, as a plain build does (the asan preset's ASAN_OPTIONS already say so).
          ::setenv("TSAN_OPTIONS",
                   "halt_on_error=1:handle_segv=0:handle_sigbus=0:handle_sigfpe=0:handle_sigill=0", 1);
          std::vector<std::string> argv{path};
          argv.insert(argv.end(), init.options.begin(), init.options.end());
          argv.insert(argv.end(), {"--", probe, "wait"});
          started p(argv);
          if (!p.wait_for_out("ready pid=")) return "not ready: " + p.out() + p.err();
          if (kill(p.pid(), sig) != 0) return "kill failed";
          return what(p.finish());
        });
      }
      EXPECT_EQ(results[0], results[1])
          << init.peer << " " << joined(init.options) << ", kill -" << sig
          << " to the init: the peer's status is \"" << results[0] << "\", ours \"" << results[1] << "\"";
    }
  }
}

// SIGTSTP sent to the init (its group and the child's are not orphaned here: SIGTSTP stops).
//   tini -s: forwards it (the child stops) and keeps running: with the child continued directly, a
//     SIGWINCH sent to the init still reaches it.
//   dumb-init -c: forwards SIGTSTP (the child stops) and stops itself; SIGCONT to the init wakes both.
//   dumb-init -r 20:0: drops it (the child runs: a SIGWINCH sent straight to it is handled while the
//     init is still stopped) and still stops itself; SIGCONT to the init is forwarded.
TEST(run_compat_audit, tstp_to_the_init_does_what_the_peer_does) {
  enum class kind { tini, dumb_single, dumb_dropped };
  const struct {
    kind k;
    std::string peer, link;
    std::vector<std::string> options;
  } cases[] = {{kind::tini, tini_path, tini_link, {"-s"}},
               {kind::dumb_single, dumb_init_path, dumb_init_link, {"-c"}},
               {kind::dumb_dropped, dumb_init_path, dumb_init_link, {"-r", "20:0"}},
               {kind::dumb_dropped, dumb_init_path, dumb_init_link, {"-c", "-r", "20:0"}}};
  for (const auto& c : cases) {
    for (const std::string& path : {c.peer, c.link}) {
      SCOPED_TRACE(path + " " + joined(c.options));
      SIGRELAY_IN_CHILD(
          [&] {
            ASSERT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
            std::vector<std::string> argv{path};
            argv.insert(argv.end(), c.options.begin(), c.options.end());
            argv.insert(argv.end(), {"--", probe, "wait"});
            {
              started p(argv);
              ASSERT_TRUE(p.wait_for_out("ready pid=")) << p.out() << p.err();
              const std::size_t at = p.out().find("ready pid=") + 10;
              const pid_t child = static_cast<pid_t>(std::stoi(p.out().substr(at)));
              ASSERT_EQ(kill(p.pid(), SIGTSTP), 0);
              switch (c.k) {
                case kind::tini:
                  EXPECT_TRUE(wait_for_state(child, 'T')) << "child " << proc_state(child);
                  ASSERT_EQ(kill(child, SIGCONT), 0);
                  ASSERT_EQ(kill(p.pid(), SIGWINCH), 0);
                  EXPECT_TRUE(p.wait_for_out("got SIGWINCH")) << "the init stopped itself:\n" << p.out();
                  break;
                case kind::dumb_single:
                  EXPECT_TRUE(wait_for_state(child, 'T')) << "child " << proc_state(child);
                  EXPECT_TRUE(wait_for_state(p.pid(), 'T')) << "init " << proc_state(p.pid());
                  ASSERT_EQ(kill(p.pid(), SIGCONT), 0);
                  EXPECT_TRUE(p.wait_for_out("got SIGCONT")) << p.out();
                  break;
                case kind::dumb_dropped:
                  EXPECT_TRUE(wait_for_state(p.pid(), 'T')) << "init " << proc_state(p.pid());
                  ASSERT_EQ(kill(child, SIGWINCH), 0);
                  // Stopped, the child would not handle it until the init (stopped too) is continued.
                  EXPECT_TRUE(p.wait_for_out("got SIGWINCH")) << "the child was stopped:\n" << p.out();
                  ASSERT_EQ(kill(p.pid(), SIGCONT), 0);
                  EXPECT_TRUE(p.wait_for_out("got SIGCONT")) << p.out();
                  break;
              }
              kill(child, SIGCONT);
              kill(p.pid(), SIGCONT);
              ASSERT_EQ(kill(p.pid(), SIGTERM), 0);
              const int status = p.finish();
              EXPECT_EQ(what(status), "exit 42") << p.out() << p.err();
            }
            reap_all_children();
          },
          60);
    }
  }
}

}  // namespace
