// SPDX-License-Identifier: MIT
// tools/sigrelay/tests/peer_init_test.cc — the test suites of tini and dumb-init, ported: each peer
// scenario runs against the real peer (Debian's /usr/bin/tini 0.19, /usr/bin/dumb-init 1.2.5) and
// against `sigrelay run --compat=...` and a link named like the peer, side by side, and asserts the
// same observable result (exit status, what the child received, what was reaped, the messages).
//
// Ported from dumb-init's tests/ (scenarios run_test.cc, run_compat_audit_test.cc and
// run_pid1_audit_test.cc do not cover already):
//   proxies_signals_test.py    every signal 1-31 but KILL/STOP/CHLD/TSTP/TTIN/TTOU, both modes and
//                              both debug modes; -r maps (a swap, 1:31 and 31:1, drops); TTIN/TTOU/
//                              TSTP rewritten in setsid mode still suspend the init
//   shell_background_test.py   TSTP, TTOU and TTIN: both stop (setsid), or the child gets the signal
//                              and the init stops (-c); SIGCONT wakes them
//   child_processes_test.py    SIGTERM reaches a whole pipeline in setsid mode, the shell alone
//                              with -c; a descendant left when the child ends gets SIGTERM in
//                              setsid mode only; a failed exec in each argument form
//   exit_status_test.py        sh's exit codes and kill -N $$, both modes, both debug modes
//   cwd_test.py                the init does not keep the working directory (chdir("/"))
//   tty_test.py                tac on a terminal; bash gets job control; the hand-off's messages;
//                              Ctrl+Z typed at the terminal (what stops, in each mode)
// and from tini's test/run_inner_tests.py (and test/*/):
//   the -e test                each code 0-255 alone maps to 0; all the others given, it passes;
//                              -e applies to 128+N too (a child killed by a forwarded SIGTERM)
//   reaping (subreaper-proxy)  an init that inherits the child-subreaper bit reaps without -s and
//                              does not warn; -w says "Reaped zombie process with pid="
//   signals                    SIGTERM, SIGUSR1, SIGUSR2 reach a child at the default action: 128+N
//                              (tini -s and TINI_SUBREAPER set to "")
//   pgroup                     -g / TINI_KILL_PROCESS_GROUP: the child ignores SIGUSR1, the
//                              grandchild does not and dies of it
//   sigconf                    SIGTTOU, SIGSEGV, SIGINT ignored and SIGTTIN, SIGILL, SIGTERM blocked
//                              at the init's start: the child starts with them
//   (tini's isolate_child)     a tini started in the background of a terminal takes it; ours does
//                              not (a deliberate difference)
// Not ported: dumb-init's pause_signals_test.py and execs_observers_test.py (options of unreleased
// forks, not of 1.2.5), cli_test.py's help text (ours is our own, run_compat_audit_test.cc compares
// the rest), tini's -P post commands (not in 0.19), test-zombies and pdeathsignal (run_test.cc and
// run_pid1_audit_test.cc run them).
#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "run_support.hpp"
#include "support/child.hpp"
#include "support/process.hpp"

namespace {

using sigrelay::test::describe_status;
using sigrelay::test::process;
using sigrelay::test::run::exit_code;
using sigrelay::test::run::proc_state;
using sigrelay::test::run::ready_pid;
using sigrelay::test::run::wait_for_state;
using sigrelay::test::run::word_after;

const std::string sigrelay_bin = SIGRELAY_BIN;
const std::string probe = RUN_PROBE;
const std::string links = LINKS_DIR;

// ---- The inits ---------------------------------------------------------------------------------

struct init_kind {
  std::string name;
  bool ours;
  std::vector<std::string> argv;  // the init and its options, up to PROGRAM
};

// The peer first, then `--compat=` and the link; `options` then "--" (unless `dashes` is false).
std::vector<init_kind> family_of(const std::string& peer, const std::vector<std::string>& options,
                                 bool dashes = true) {
  auto with = [&](std::vector<std::string> head) {
    head.insert(head.end(), options.begin(), options.end());
    if (dashes) head.push_back("--");
    return head;
  };
  return {{peer, false, with({"/usr/bin/" + peer})},
          {"compat " + peer, true, with({sigrelay_bin, "run", "--compat=" + peer})},
          {"link " + peer, true, with({links + "/" + peer})}};
}

std::vector<init_kind> dumb_inits(const std::vector<std::string>& options) {
  return family_of("dumb-init", options);
}
std::vector<init_kind> tinis(const std::vector<std::string>& options) { return family_of("tini", options); }

bool peers_installed() {
  return access("/usr/bin/tini", X_OK) == 0 && access("/usr/bin/dumb-init", X_OK) == 0;
}

#define REQUIRE_PEERS()                                                        \
  do {                                                                         \
    if (!peers_installed())                                                    \
      GTEST_SKIP() << "tini and dumb-init are not installed (apt-get install " \
                      "tini dumb-init)";                                       \
  } while (0)

// Starts `kind` running `program` (through /usr/bin/env, which applies `env`, "NAME=VALUE", and
// execs the init: the process's pid is the init's). stdout and stderr in one output; with `pty`, a
// new session whose controlling terminal is a fresh pseudo-terminal.
std::unique_ptr<process> start(const init_kind& kind, const std::vector<std::string>& program,
                               bool pty = false, const std::vector<std::string>& env = {}) {
  std::vector<std::string> argv = env;
  argv.insert(argv.end(), kind.argv.begin(), kind.argv.end());
  argv.insert(argv.end(), program.begin(), program.end());
  return std::make_unique<process>("/usr/bin/env", argv, pty);
}

// The lines of `output` that are a number alone (the probe's `signals` mode), in order.
std::vector<int> numbers(const std::string& output) {
  std::vector<int> out;
  std::istringstream in(output);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty() && std::all_of(line.begin(), line.end(), [](char c) { return c >= '0' && c <= '9'; }))
      out.push_back(std::stoi(line));
  }
  return out;
}

// Reads `p`'s output until it holds `count` numbers (or 10 s went by).
bool wait_for_numbers(process& p, std::size_t count) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (numbers(p.output()).size() < count) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    (void)p.wait_for_output("\x01(never printed)", std::chrono::milliseconds(20));
  }
  return true;
}

// Waits (at most 10 s) until `pid` is in a state other than `state`.
bool leaves_state(pid_t pid, char state) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (proc_state(pid) == state) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

std::string joined(const std::vector<int>& v) {
  std::string out;
  for (const int n : v) out += (out.empty() ? "" : " ") + std::to_string(n);
  return out;
}

// The direct children of `pid` (/proc/PID/task/PID/children: a single-threaded init).
std::vector<pid_t> children_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children");
  std::vector<pid_t> out;
  long c = 0;
  while (in >> c) out.push_back(static_cast<pid_t>(c));
  return out;
}

std::string comm_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
  std::string name;
  std::getline(in, name);
  return name;
}

// Waits (at most 10 s) until `condition` holds.
template <typename F>
bool eventually(F condition) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

// What a program run to its end did.
struct ran {
  int status = -1;
  std::string output;  // stdout and stderr
};

// How to start a program with run_to_end().
struct start_state {
  std::vector<int> blocked;  // the signal mask it starts with
  std::vector<int> ignored;  // SIG_IGN at its start
  bool subreaper = false;    // started with the child-subreaper bit (as tini's subreaper-proxy.py)
  bool quiet = false;        // stdout and stderr to /dev/null
};

// Runs `argv` to its end from a known signal state plus `s`, collecting its output (until every
// writer is gone, at most 20 s). Must run in a run_in_child body when it leaves orphans.
ran run_to_end(const std::vector<std::string>& argv, const start_state& s = {}) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return {};
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    sigrelay::test::reset_signal_state();
    const int sink = s.quiet ? open("/dev/null", O_WRONLY) : out[1];
    dup2(sink, 1);
    dup2(sink, 2);
    for (const int signo : s.ignored) signal(signo, SIG_IGN);
    sigset_t mask;
    sigemptyset(&mask);
    for (const int signo : s.blocked) sigaddset(&mask, signo);
    sigprocmask(SIG_SETMASK, &mask, nullptr);
    if (s.subreaper) prctl(PR_SET_CHILD_SUBREAPER, 1);
    execv(args[0], args.data());
    _exit(127);
  }
  close(out[1]);
  ran r;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  char buffer[4096];
  for (;;) {
    pollfd p{out[0], POLLIN, 0};
    if (std::chrono::steady_clock::now() >= deadline) break;
    const int ready = poll(&p, 1, 100);
    if (ready < 0 && errno != EINTR) break;
    if (ready <= 0) continue;
    const ssize_t n = read(out[0], buffer, sizeof buffer);
    if (n > 0) {
      r.output.append(buffer, static_cast<std::size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  close(out[0]);
  r.status = sigrelay::test::wait_with_deadline(pid, 20);
  return r;
}

// Reaps every child this (subreaper) process has left, at most `seconds` each.
void reap_all() {
  int status = 0;
  while (waitpid(-1, &status, 0) > 0 || errno == EINTR) {
  }
}

// ==== dumb-init: proxies_signals_test.py ===========================================================

// The signals of dumb-init's NORMAL_SIGNALS: 1-31 but SIGKILL, SIGSTOP, SIGCHLD and the three that
// suspend (TSTP, TTIN, TTOU).
std::vector<int> normal_signals() {
  std::vector<int> out;
  for (int s = 1; s <= 31; ++s) {
    if (s != SIGKILL && s != SIGSTOP && s != SIGCHLD && s != SIGTSTP && s != SIGTTIN && s != SIGTTOU)
      out.push_back(s);
  }
  return out;
}

// Sends each of `sends` to the init running the probe's `signals` mode, waiting after each until
// `received_after[i]` numbers have arrived; returns the numbers received.
std::vector<int> send_and_collect(const init_kind& k, const std::vector<std::string>& env,
                                  const std::vector<int>& sends,
                                  const std::vector<std::size_t>& received_after) {
  auto p = start(k, {probe, "signals"}, false, env);
  EXPECT_TRUE(p->wait_for_output("ready pid=")) << p->output();
  for (std::size_t i = 0; i < sends.size(); ++i) {
    EXPECT_EQ(kill(p->pid(), sends[i]), 0);
    EXPECT_TRUE(wait_for_numbers(*p, received_after[i])) << "after signal " << sends[i] << ":\n"
                                                         << p->output();
  }
  return numbers(p->output());  // (the destructor kills the init; the probe dies with it)
}

// test_proxies_signals: each normal signal sent to the init reaches the child, in setsid mode and in
// single-child mode, with debug output on and off. As dumb-init, every one of them is passed on
// (the fault signals and SIGABRT included: dumb-init blocks and forwards everything).
TEST(PeerDumbInit, proxies_every_normal_signal_in_both_modes) {
  REQUIRE_PEERS();
  const std::vector<int> sends = normal_signals();
  std::vector<std::size_t> counts;
  for (std::size_t i = 1; i <= sends.size(); ++i) counts.push_back(i);
  for (const std::vector<std::string>& mode : {std::vector<std::string>{}, std::vector<std::string>{"-c"}}) {
    for (const std::vector<std::string>& env :
         {std::vector<std::string>{}, std::vector<std::string>{"DUMB_INIT_DEBUG=1"}}) {
      std::vector<int> theirs;
      for (const init_kind& k : dumb_inits(mode)) {
        SCOPED_TRACE(k.name + (mode.empty() ? "" : " -c") + (env.empty() ? "" : " DUMB_INIT_DEBUG=1"));
        const std::vector<int> got = send_and_collect(k, env, sends, counts);
        if (!k.ours) {
          theirs = got;
          EXPECT_EQ(joined(got), joined(sends)) << "the peer itself";
        } else {
          EXPECT_EQ(joined(got), joined(theirs));
        }
      }
    }
  }
}

// test_proxies_signals_with_rewrite and test_ignored_signals_are_not_proxied: -r maps, in both
// modes. The sequence received is the peer's (and what the maps say). A dropped signal is followed
// by one that is passed on: had the dropped one been forwarded, it would be in the sequence first.
TEST(PeerDumbInit, rewrites_swaps_extremes_and_drops_as_dumb_init) {
  REQUIRE_PEERS();
  struct scenario {
    std::vector<std::string> rewrites;
    std::vector<int> sends;
    std::vector<std::size_t> counts;  // numbers received once each send is through
    std::vector<int> expected;
  };
  const std::vector<scenario> scenarios = {
      {{}, {SIGTERM, SIGQUIT, SIGCONT, SIGINT}, {1, 2, 3, 4}, {SIGTERM, SIGQUIT, SIGCONT, SIGINT}},
      {{"-r", "15:2"}, {SIGTERM, SIGQUIT, SIGCONT, SIGINT}, {1, 2, 3, 4}, {SIGINT, SIGQUIT, SIGCONT, SIGINT}},
      {{"-r", "15:2", "-r", "2:15", "-r", "3:3"},
       {SIGTERM, SIGQUIT, SIGCONT, SIGINT},
       {1, 2, 3, 4},
       {SIGINT, SIGQUIT, SIGCONT, SIGTERM}},
      {{"-r", "1:31", "-r", "31:1"}, {1, 31}, {1, 2}, {31, 1}},
      {{"-r", "15:3", "-r", "2:0", "-r", "28:0"},
       {SIGTERM, SIGINT, SIGWINCH, SIGHUP},
       {1, 1, 1, 2},
       {SIGQUIT, SIGHUP}},
  };
  for (const scenario& sc : scenarios) {
    for (const std::vector<std::string>& mode :
         {std::vector<std::string>{}, std::vector<std::string>{"-c"}}) {
      std::vector<std::string> options = sc.rewrites;
      options.insert(options.end(), mode.begin(), mode.end());
      std::vector<int> theirs;
      for (const init_kind& k : dumb_inits(options)) {
        std::string trace = k.name;
        for (const std::string& o : options) trace += " " + o;
        SCOPED_TRACE(trace);
        const std::vector<int> got = send_and_collect(k, {}, sc.sends, sc.counts);
        if (!k.ours) {
          theirs = got;
          EXPECT_EQ(joined(got), joined(sc.expected)) << "the peer itself";
        } else {
          EXPECT_EQ(joined(got), joined(theirs));
        }
      }
    }
  }
}

// test_default_rewrites_can_be_overriden_with_setsid_enabled: in setsid mode, -r 21:15 -r 22:2
// -r 20:1 replace the default SIGSTOP of TTIN/TTOU/TSTP: the child gets the rewritten signal, and the
// init still suspends itself; SIGCONT to it wakes it and reaches the child.
TEST(PeerDumbInit, tty_signals_rewritten_in_setsid_mode_still_suspend_the_init) {
  REQUIRE_PEERS();
  const std::vector<std::pair<int, int>> map = {{SIGTTIN, SIGTERM}, {SIGTTOU, SIGINT}, {SIGTSTP, SIGHUP}};
  for (const init_kind& k : dumb_inits({"-r", "21:15", "-r", "22:2", "-r", "20:1"})) {
    SCOPED_TRACE(k.name);
    auto p = start(k, {probe, "signals"});
    ASSERT_TRUE(p->wait_for_output("ready pid=")) << p->output();
    std::vector<int> expected;
    for (const auto& [send, receive] : map) {
      SCOPED_TRACE("signal " + std::to_string(send));
      EXPECT_NE(proc_state(p->pid()), 'T');
      ASSERT_EQ(kill(p->pid(), send), 0);
      expected.push_back(receive);
      ASSERT_TRUE(wait_for_numbers(*p, expected.size())) << p->output();
      EXPECT_TRUE(wait_for_state(p->pid(), 'T')) << "init state " << proc_state(p->pid());
      ASSERT_EQ(kill(p->pid(), SIGCONT), 0);
      expected.push_back(SIGCONT);
      ASSERT_TRUE(wait_for_numbers(*p, expected.size())) << p->output();
      EXPECT_TRUE(leaves_state(p->pid(), 'T'));
    }
    EXPECT_EQ(joined(numbers(p->output())), joined(expected));
  }
}

// ==== dumb-init: shell_background_test.py =========================================================

// test_shell_background_support_setsid: TSTP, TTOU and TTIN each stop the child (SIGSTOP to its
// group) and the init; SIGCONT to the init wakes both and reaches the child.
// test_prints_signals: in single-child mode the child gets the signal itself (its handler prints
// it), and the init stops; SIGCONT wakes it and reaches the child.
// (run_test.cc and run_compat_audit_test.cc cover SIGTSTP; this covers the three, in both modes.)
TEST(PeerDumbInit, suspend_signals_stop_the_init_in_both_modes) {
  REQUIRE_PEERS();
  for (const bool single : {false, true}) {
    for (const init_kind& k :
         dumb_inits(single ? std::vector<std::string>{"-c"} : std::vector<std::string>{})) {
      SCOPED_TRACE(k.name + (single ? " -c" : ""));
      auto p = start(k, {probe, "signals"});
      ASSERT_TRUE(p->wait_for_output("ready pid=")) << p->output();
      const pid_t child = ready_pid(p->output());
      std::vector<int> expected;
      for (const int signo : {SIGTSTP, SIGTTOU, SIGTTIN}) {
        SCOPED_TRACE("signal " + std::to_string(signo));
        EXPECT_NE(proc_state(p->pid()), 'T');
        EXPECT_NE(proc_state(child), 'T');
        ASSERT_EQ(kill(p->pid(), signo), 0);
        if (single) {
          expected.push_back(signo);
          ASSERT_TRUE(wait_for_numbers(*p, expected.size())) << p->output();
        } else {
          EXPECT_TRUE(wait_for_state(child, 'T')) << "child state " << proc_state(child);
        }
        EXPECT_TRUE(wait_for_state(p->pid(), 'T')) << "init state " << proc_state(p->pid());
        ASSERT_EQ(kill(p->pid(), SIGCONT), 0);
        expected.push_back(SIGCONT);
        ASSERT_TRUE(wait_for_numbers(*p, expected.size())) << p->output();
        EXPECT_TRUE(leaves_state(p->pid(), 'T'));
        EXPECT_TRUE(leaves_state(child, 'T'));
      }
      EXPECT_EQ(joined(numbers(p->output())), joined(expected));
    }
  }
}

// ==== dumb-init: child_processes_test.py ===========================================================

// Every descendant of `pid` (children first, recursively; single-threaded processes).
std::vector<pid_t> descendants_of(pid_t pid) {
  std::vector<pid_t> out;
  for (const pid_t c : children_of(pid)) {
    out.push_back(c);
    for (const pid_t d : descendants_of(c)) out.push_back(d);
  }
  return out;
}

bool alive(pid_t pid) {
  const char state = proc_state(pid);
  return state != '?' && state != 'Z';
}

// test_setsid_signals_entire_group / test_no_setsid_doesnt_signal_entire_group (and the older
// tests/test-setsid, test-no-pgroup): the child is a shell running two pipelines, one in the
// background (`sleep 1000 | cat & sleep 1000 | cat >&2`, so nothing burns a CPU): five processes.
// SIGTERM to the init: in setsid mode the whole group gets it and all five end; with -c only the
// shell does, and the four others live on (they come back to the test, a subreaper, and are killed
// there). The init exits 143 either way.
TEST(PeerDumbInit, sigterm_reaches_the_whole_pipeline_only_in_setsid_mode) {
  REQUIRE_PEERS();
  SIGRELAY_IN_CHILD([] {
    ASSERT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    for (const bool single : {false, true}) {
      for (const init_kind& k :
           dumb_inits(single ? std::vector<std::string>{"-c"} : std::vector<std::string>{})) {
        SCOPED_TRACE(k.name + (single ? " -c" : ""));
        auto p = start(k, {"/bin/sh", "-c", "sleep 1000 | cat & sleep 1000 | cat >&2"});
        std::vector<pid_t> pids;
        ASSERT_TRUE(eventually([&] {
          pids = descendants_of(p->pid());
          std::size_t sleeping = 0;
          for (const pid_t d : pids) sleeping += comm_of(d) == "sleep" ? 1 : 0;
          return pids.size() == 5 && sleeping == 2;
        })) << pids.size()
            << " descendants";
        const pid_t shell = children_of(p->pid()).front();
        ASSERT_EQ(kill(p->pid(), SIGTERM), 0);
        ASSERT_TRUE(wait_for_state(p->pid(), 'Z')) << "the init did not end";
        if (single) {
          EXPECT_TRUE(eventually([&] { return !alive(shell); }));
          std::this_thread::sleep_for(std::chrono::milliseconds(200));  // (an absence: a grace period)
          for (const pid_t d : pids) {
            if (d != shell) {
              EXPECT_TRUE(alive(d)) << "pid " << d << " (" << comm_of(d) << ") was signalled";
            }
          }
        } else {
          EXPECT_TRUE(eventually(
              [&] { return std::none_of(pids.begin(), pids.end(), [](pid_t d) { return alive(d); }); }));
        }
        for (const pid_t d : pids) {
          if (alive(d)) kill(d, SIGKILL);  // ours (subreaper): no stranger can have the pid
        }
        const int status = p->finish();
        EXPECT_EQ(exit_code(status), 128 + SIGTERM) << describe_status(status) << p->output();
        reap_all();
      }
    }
  });
}

// test_all_processes_receive_term_on_exit_if_setsid / test_processes_dont_receive_term_on_exit_if_no_setsid:
// the child starts a grandchild in its process group and exits 7. In setsid mode the grandchild
// gets SIGTERM from the init; in single-child mode it does not, and still gets what is sent to it
// directly (SIGHUP, SIGINT, SIGQUIT). The init's status is 7 either way.
TEST(PeerDumbInit, a_descendant_left_gets_sigterm_only_in_setsid_mode) {
  REQUIRE_PEERS();
  SIGRELAY_IN_CHILD([] {
    ASSERT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);  // the grandchild left comes back here
    for (const bool single : {false, true}) {
      for (const init_kind& k :
           dumb_inits(single ? std::vector<std::string>{"-c"} : std::vector<std::string>{})) {
        SCOPED_TRACE(k.name + (single ? " -c" : ""));
        auto p = start(k, {probe, "group-exit"});
        ASSERT_TRUE(p->wait_for_output("ready pid=")) << p->output();
        const std::string g = word_after(p->output(), "grandchild=");
        ASSERT_FALSE(g.empty()) << p->output();
        const pid_t grandchild = static_cast<pid_t>(std::stoi(g));
        ASSERT_TRUE(wait_for_state(p->pid(), 'Z')) << "the init did not end: " << p->output();
        if (single) {
          // Still alive (a zombie would be reaped by this subreaper only when we wait for it).
          ASSERT_NE(proc_state(grandchild), 'Z') << p->output();
          for (const int signo : {SIGHUP, SIGINT, SIGQUIT}) {
            ASSERT_EQ(kill(grandchild, signo), 0);
          }
          EXPECT_TRUE(p->wait_for_output("grandchild got SIGQUIT")) << p->output();
          EXPECT_EQ(p->output().find("grandchild got SIGTERM"), std::string::npos) << p->output();
          EXPECT_NE(p->output().find("grandchild got SIGHUP\ngrandchild got SIGINT\n"), std::string::npos)
              << p->output();
          ASSERT_EQ(kill(grandchild, SIGTERM), 0);
        } else {
          EXPECT_TRUE(p->wait_for_output("grandchild got SIGTERM")) << p->output();
        }
        const int status = p->finish();
        EXPECT_EQ(exit_code(status), 7) << describe_status(status) << p->output();
        const int gs = sigrelay::test::wait_with_deadline(grandchild, 10);  // it came back to us
        EXPECT_TRUE(WIFEXITED(gs)) << describe_status(gs);
      }
    }
  });
}

// test_fails_nonzero_with_bad_exec: every way of naming a program that does not exist, in both debug
// modes: the peer's status (non-zero) and its message.
TEST(PeerDumbInit, an_exec_failure_in_every_argument_form) {
  REQUIRE_PEERS();
  const std::vector<std::vector<std::string>> forms = {{"/doesnotexist"},
                                                       {"--", "/doesnotexist"},
                                                       {"-c", "/doesnotexist"},
                                                       {"--single-child", "--", "/doesnotexist"}};
  for (const std::vector<std::string>& env :
       {std::vector<std::string>{}, std::vector<std::string>{"DUMB_INIT_DEBUG=1"}}) {
    for (const std::vector<std::string>& form : forms) {
      int theirs = -1;
      for (const init_kind& k : family_of("dumb-init", {}, false)) {
        std::string trace = k.name + (env.empty() ? "" : " DUMB_INIT_DEBUG=1");
        for (const std::string& w : form) trace += " " + w;
        SCOPED_TRACE(trace);
        auto p = start(k, form, false, env);
        const int status = p->finish();
        EXPECT_NE(exit_code(status), 0) << describe_status(status);
        EXPECT_NE(p->output().find("[dumb-init] /doesnotexist: No such file or directory\n"),
                  std::string::npos)
            << p->output();
        if (!k.ours) {
          theirs = status;
        } else {
          EXPECT_EQ(describe_status(status), describe_status(theirs));
        }
      }
    }
  }
}

// ==== dumb-init: exit_status_test.py ===============================================================

// test_exit_status_regular_exit / test_exit_status_terminated_by_signal: `sh -c 'exit N'` and
// `sh -c 'kill -N $$'`, in both modes and both debug modes: N, and 128+N.
TEST(PeerDumbInit, exit_statuses_in_both_modes_and_debug_modes) {
  REQUIRE_PEERS();
  std::vector<std::pair<std::string, int>> cases;
  for (const int code : {0, 1, 2, 32, 64, 127, 254, 255})
    cases.push_back({"exit " + std::to_string(code), code});
  for (const int signo : {SIGTERM, SIGINT, SIGQUIT, SIGKILL})
    cases.push_back({"kill -" + std::to_string(signo) + " $$", 128 + signo});
  for (const std::vector<std::string>& mode : {std::vector<std::string>{}, std::vector<std::string>{"-c"}}) {
    for (const std::vector<std::string>& env :
         {std::vector<std::string>{}, std::vector<std::string>{"DUMB_INIT_DEBUG=1"}}) {
      for (const auto& [script, expected] : cases) {
        for (const init_kind& k : dumb_inits(mode)) {
          SCOPED_TRACE(k.name + (mode.empty() ? "" : " -c") + (env.empty() ? "" : " DUMB_INIT_DEBUG=1") +
                       " sh -c '" + script + "'");
          auto p = start(k, {"/bin/sh", "-c", script}, false, env);
          const int status = p->finish();
          EXPECT_EQ(exit_code(status), expected) << describe_status(status) << p->output();
        }
      }
    }
  }
}

// ==== dumb-init: cwd_test.py =======================================================================

// test_working_directories: the child starts in the directory the init was started in, but the init
// itself does not keep a reference to it: dumb-init chdir("/")s once the child is spawned (so that
// a volume the directory is on can be unmounted, for one). The output of
// `sh -c 'readlink /proc/$PPID/cwd && readlink /proc/$$/cwd'` run from /tmp: "/" then "/tmp", in
// both modes. dumb-init's chdir() comes after its fork and races the child (its -c mode lost 5 runs
// in 40 here), so under dumb-init itself the script first sleeps 200 ms; ours leaves the directory
// before the fork, and is checked at once. tini keeps its directory, and so do ours as tini and
// `sigrelay run`.
TEST(PeerDumbInit, the_init_does_not_keep_the_working_directory) {
  REQUIRE_PEERS();
  SIGRELAY_IN_CHILD([] {
    ASSERT_EQ(chdir("/tmp"), 0);
    const std::string look = "readlink /proc/$PPID/cwd && readlink /proc/$$/cwd";
    for (const std::vector<std::string>& mode :
         {std::vector<std::string>{}, std::vector<std::string>{"-c"}}) {
      for (const init_kind& k : dumb_inits(mode)) {
        SCOPED_TRACE(k.name + (mode.empty() ? "" : " -c"));
        auto p = start(k, {"/bin/sh", "-c", (k.ours ? "" : "sleep 0.2; ") + look});
        const int status = p->finish();
        EXPECT_EQ(exit_code(status), 0) << describe_status(status);
        EXPECT_EQ(p->output(), "/\n/tmp\n");
      }
    }
    // PROGRAM named relative to that directory still runs there (ours leaves it before the fork and
    // the child goes back before its execvp()).
    char dir[] = "/tmp/peer_init_cwd.XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    ASSERT_EQ(chdir(dir), 0);
    {
      std::ofstream script("here.sh");
      script << "#!/bin/sh\npwd\n";
    }
    ASSERT_EQ(chmod("here.sh", 0755), 0);
    for (const init_kind& k : dumb_inits({})) {
      SCOPED_TRACE(k.name + " ./here.sh");
      auto p = start(k, {"./here.sh"});
      const int status = p->finish();
      EXPECT_EQ(exit_code(status), 0) << describe_status(status) << p->output();
      EXPECT_EQ(p->output(), std::string(dir) + "\n");
    }
    EXPECT_EQ(unlink("here.sh"), 0);
    ASSERT_EQ(chdir("/tmp"), 0);
    EXPECT_EQ(rmdir(dir), 0);
    std::vector<init_kind> keepers = tinis({"-s"});
    keepers.push_back({"sigrelay run", true, {sigrelay_bin, "run", "--"}});
    for (const init_kind& k : keepers) {
      SCOPED_TRACE(k.name);
      auto p = start(k, {"/bin/sh", "-c", "sleep 0.2; " + look});
      const int status = p->finish();
      EXPECT_EQ(exit_code(status), 0) << describe_status(status);
      EXPECT_EQ(p->output(), "/tmp\n/tmp\n");
    }
  });
}

// ==== dumb-init: tty_test.py (and the same on a terminal under tini) =================================

// Every init, in the modes that matter on a terminal.
std::vector<init_kind> terminal_inits() {
  std::vector<init_kind> out = dumb_inits({});
  for (init_kind& k : dumb_inits({"-c"})) {
    k.name += " -c";
    out.push_back(k);
  }
  for (init_kind& k : tinis({"-s"})) out.push_back(k);
  out.push_back({"sigrelay run", true, {sigrelay_bin, "run", "--"}});
  out.push_back({"sigrelay run --setsid", true, {sigrelay_bin, "run", "--setsid", "--"}});
  return out;
}

// test_tty: a program under the init reads the terminal to its end and writes to it: `tac` given
// "1 2 3" and two EOFs prints "3 2 1" and exits 0; the whole terminal output is the peer's.
TEST(PeerDumbInit, on_a_terminal_the_child_reads_to_eof_and_writes) {
  REQUIRE_PEERS();
  std::string theirs;
  for (const init_kind& k : terminal_inits()) {
    SCOPED_TRACE(k.name);
    auto p = start(k, {"/usr/bin/tac"}, true);
    p->type("1\n2\n3\n");
    p->type("\x04\x04");
    const int status = p->finish();
    EXPECT_EQ(exit_code(status), 0) << describe_status(status) << p->output();
    EXPECT_NE(p->output().find("3\r\n2\r\n1\r\n"), std::string::npos) << p->output();
    if (!k.ours && k.name == "dumb-init") theirs = p->output();
    EXPECT_EQ(p->output(), theirs);
  }
}

// test_child_gets_controlling_tty_if_we_had_one: `bash -m` under the init on a terminal has job
// control ("m" in $-, no "no job control" complaint) and exits 0; in both of dumb-init's modes and
// under every other init.
TEST(PeerDumbInit, on_a_terminal_a_shell_gets_job_control) {
  REQUIRE_PEERS();
  if (access("/bin/bash", X_OK) != 0) GTEST_SKIP() << "no /bin/bash";
  for (const init_kind& k : terminal_inits()) {
    SCOPED_TRACE(k.name);
    auto p = start(k, {"/bin/bash", "--norc", "--noprofile", "-m", "-i"}, true, {"PS1=$ ", "TERM=dumb"});
    p->type("echo \"flags are: [[$-]]\"\n");
    p->type("exit 0\n");
    const int status = p->finish();
    EXPECT_EQ(exit_code(status), 0) << describe_status(status) << p->output();
    // The shell's answer, not the echo of the command typed (which says "[[$-]]").
    const std::string flags = word_after(p->output(), "\nflags are: [[");
    EXPECT_NE(flags.find('m'), std::string::npos) << p->output();
    EXPECT_EQ(p->output().find("no job control"), std::string::npos) << p->output();
    EXPECT_EQ(p->output().find("cannot set terminal process group"), std::string::npos) << p->output();
  }
}

// Ctrl+Z typed at the terminal (tty_test.py's terminal, test_prints_signals' suspension; users of
// both peers meet it with `docker run -it`): the terminal sends SIGTSTP to its foreground group.
//   dumb-init (setsid mode): the child leads a session of its own, so its group is orphaned and the
//     kernel discards a default-action SIGTSTP; the init is not in that group: nothing stops.
//   dumb-init -c: the child is in the init's group (the init leads the session: orphaned too, the
//     child's SIGTSTP is discarded); the init takes its blocked SIGTSTP, forwards it and stops itself.
//   tini: the child's own group is the foreground one, not orphaned: the child stops; the init runs.
// In every case SIGCONT to the init then reaches the child (once), and SIGTERM ends it with 42.
// Ours in each mode does what its peer does; `sigrelay run --setsid` as dumb-init, `sigrelay run`
// as tini.
TEST(PeerDumbInit, ctrl_z_typed_at_the_terminal_does_what_the_peer_does) {
  REQUIRE_PEERS();
  enum class expect { nothing_stops, init_stops, child_stops };
  struct one {
    init_kind kind;
    expect what;
  };
  std::vector<one> cases;
  for (const init_kind& k : dumb_inits({})) cases.push_back({k, expect::nothing_stops});
  cases.push_back(
      {{"sigrelay run --setsid", true, {sigrelay_bin, "run", "--setsid", "--"}}, expect::nothing_stops});
  for (const init_kind& k : dumb_inits({"-c"})) cases.push_back({k, expect::init_stops});
  for (const init_kind& k : tinis({"-s"})) cases.push_back({k, expect::child_stops});
  cases.push_back({{"sigrelay run", true, {sigrelay_bin, "run", "--"}}, expect::child_stops});
  for (const one& c : cases) {
    SCOPED_TRACE(c.kind.name);
    auto p = start(c.kind, {probe, "wait"}, true);
    ASSERT_TRUE(p->wait_for_output("ready pid=")) << p->output();
    const pid_t child = ready_pid(p->output());
    p->type("\x1a");
    switch (c.what) {
      case expect::nothing_stops:
        std::this_thread::sleep_for(std::chrono::milliseconds(300));  // (an absence: a grace period)
        EXPECT_NE(proc_state(p->pid()), 'T');
        EXPECT_NE(proc_state(child), 'T');
        break;
      case expect::init_stops:
        EXPECT_TRUE(wait_for_state(p->pid(), 'T')) << "init state " << proc_state(p->pid());
        EXPECT_NE(proc_state(child), 'T');
        break;
      case expect::child_stops:
        EXPECT_TRUE(wait_for_state(child, 'T')) << "child state " << proc_state(child);
        EXPECT_NE(proc_state(p->pid()), 'T');
        break;
    }
    ASSERT_EQ(kill(p->pid(), SIGCONT), 0);
    ASSERT_TRUE(p->wait_for_output("got SIGCONT")) << p->output();
    EXPECT_TRUE(leaves_state(p->pid(), 'T'));
    EXPECT_TRUE(leaves_state(child, 'T'));
    ASSERT_EQ(kill(p->pid(), SIGTERM), 0);
    const int status = p->finish();
    EXPECT_EQ(exit_code(status), 42) << describe_status(status) << p->output();
    const std::string& out = p->output();
    std::size_t conts = 0;
    for (std::size_t at = 0; (at = out.find("got SIGCONT", at)) != std::string::npos; ++at) ++conts;
    EXPECT_EQ(conts, 1u) << out;
  }
}

// test_sighup_sigcont_ignored_if_was_session_leader: dumb-init -v as a session leader on a terminal:
// "Ignoring tty hand-off signal 1." and "... 18.", then a SIGHUP sent later is "Forwarded signal 1
// to children." and reaches the child; a SIGCONT is never said to be forwarded. Ours says the same.
TEST(PeerDumbInit, verbose_hand_off_lines_on_a_terminal) {
  REQUIRE_PEERS();
  for (const init_kind& k : dumb_inits({"-v"})) {
    SCOPED_TRACE(k.name);
    auto p = start(k, {probe, "wait"}, true);
    ASSERT_TRUE(p->wait_for_output("ready pid=")) << p->output();
    ASSERT_TRUE(p->wait_for_output("Ignoring tty hand-off signal 18.")) << p->output();
    ASSERT_EQ(kill(p->pid(), SIGHUP), 0);
    ASSERT_TRUE(p->wait_for_output("got SIGHUP")) << p->output();
    ASSERT_EQ(kill(p->pid(), SIGTERM), 0);
    const int status = p->finish();
    EXPECT_EQ(exit_code(status), 42) << describe_status(status) << p->output();
    const std::string& out = p->output();
    // (dumb-init writes "[dumb-init] " and the message apart: the probe's lines may come between.)
    EXPECT_NE(out.find("Ignoring tty hand-off signal 1.\r\n"), std::string::npos) << out;
    EXPECT_NE(out.find("Ignoring tty hand-off signal 18.\r\n"), std::string::npos) << out;
    EXPECT_NE(out.find("Forwarded signal 1 to children.\r\n"), std::string::npos) << out;
    EXPECT_EQ(out.find("Forwarded signal 18 to children."), std::string::npos) << out;
    EXPECT_EQ(out.find("got SIGCONT"), std::string::npos) << out;
  }
}

// A terminal's foreground group, as a child of the init sees it.
struct terminal_view {
  pid_t leader_group = 0;  // the session leader's group: the foreground one before the init ran
  pid_t child_group = 0;   // PROGRAM's process group
  pid_t foreground = 0;    // the terminal's foreground group as PROGRAM saw it (tpgid)
};

// Starts `init_argv` `sh -c 'cat /proc/$$/stat >&3'` from a session on a fresh pseudo-terminal whose
// leader (a forked process of the test) keeps the foreground: the init runs in a background process
// group of its own, as `init ... &` typed at an interactive shell. Must run in a run_in_child body.
terminal_view run_in_the_background_of_a_terminal(const std::vector<std::string>& init_argv) {
  terminal_view v;
  const int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0) {
    ADD_FAILURE() << "no pseudo-terminal: " << std::strerror(errno);
    return v;
  }
  const std::string slave = ptsname(master);
  std::vector<std::string> argv = init_argv;
  for (const char* w : {"/bin/sh", "-c", "cat /proc/$$/stat >&3"}) argv.push_back(w);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int report[2];
  if (pipe(report) != 0) return v;
  std::fflush(nullptr);
  const pid_t leader = fork();
  if (leader == 0) {
    close(report[0]);
    setsid();
    const int fd = open(slave.c_str(), O_RDWR);
    if (fd < 0 || ioctl(fd, TIOCSCTTY, 0) != 0) _exit(120);
    dup2(fd, 0);
    dup2(fd, 1);
    dup2(fd, 2);
    if (fd > 2) close(fd);
    const pid_t init = fork();
    if (init == 0) {
      setpgid(0, 0);  // a background job: the leader's group stays the foreground one
      dup2(report[1], 3);
      execv(args[0], args.data());
      _exit(127);
    }
    int status = 0;
    while (waitpid(init, &status, 0) < 0 && errno == EINTR) {
    }
    _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 125);
  }
  close(report[1]);
  std::string stat;
  char buffer[1024];
  ssize_t n;
  while ((n = read(report[0], buffer, sizeof buffer)) > 0 || (n < 0 && errno == EINTR)) {
    if (n > 0) stat.append(buffer, static_cast<std::size_t>(n));
  }
  close(report[0]);
  const int status = sigrelay::test::wait_with_deadline(leader, 20);
  EXPECT_EQ(exit_code(status), 0) << describe_status(status);
  close(master);
  v.leader_group = leader;
  const std::size_t close_paren = stat.rfind(')');
  if (close_paren == std::string::npos) {
    ADD_FAILURE() << "no /proc/PID/stat from PROGRAM: " << stat;
    return v;
  }
  std::istringstream rest(stat.substr(close_paren + 2));
  std::string state;
  long ppid = 0, pgrp = 0, session = 0, tty = 0, tpgid = 0;
  rest >> state >> ppid >> pgrp >> session >> tty >> tpgid;
  v.child_group = static_cast<pid_t>(pgrp);
  v.foreground = static_cast<pid_t>(tpgid);
  return v;
}

// tini's child makes its own process group the terminal's foreground group (tcsetpgrp() on stdin,
// with the SIGTTOU that would stop a background caller ignored) even when tini itself runs in the
// background: `tini -s -- prog &` at an interactive shell takes the terminal from the shell. Ours,
// as tini and as `sigrelay run`, hands the terminal over only when the init's group had it
// (run_init.hpp, The child): a deliberate difference (README, "Switching from tini or dumb-init").
// dumb-init -c, whose child stays in the init's group, leaves the terminal alone too.
TEST(PeerTini, an_init_in_the_background_of_a_terminal_leaves_it_unlike_tini) {
  REQUIRE_PEERS();
  SIGRELAY_IN_CHILD([] {
    std::vector<init_kind> kinds = tinis({"-s"});
    kinds.push_back({"sigrelay run", true, {sigrelay_bin, "run", "--"}});
    for (const init_kind& k : dumb_inits({"-c"})) kinds.push_back(k);
    for (const init_kind& k : kinds) {
      SCOPED_TRACE(k.name);
      const terminal_view v = run_in_the_background_of_a_terminal(k.argv);
      ASSERT_GT(v.child_group, 0);
      if (!k.ours && k.name == "tini") {
        EXPECT_EQ(v.foreground, v.child_group) << "tini's child took the terminal";
      } else {
        EXPECT_EQ(v.foreground, v.leader_group) << "the terminal stays with the session's foreground job";
      }
    }
  });
}

// The lines of `text` with every run of digits replaced by N and "\r" dropped (pids differ).
std::vector<std::string> normalized_lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    std::string n;
    for (std::size_t i = 0; i < line.size(); ++i) {
      if (line[i] == '\r') continue;
      if (line[i] >= '0' && line[i] <= '9') {
        n += 'N';
        while (i + 1 < line.size() && line[i + 1] >= '0' && line[i + 1] <= '9') ++i;
      } else {
        n += line[i];
      }
    }
    out.push_back(n);
  }
  return out;
}

// Verbose, with signals still pending at the init when its child ends (the init stopped meanwhile:
// dumb-init -c by SIGTSTP, which it forwards before it suspends itself; tini by a SIGSTOP from the
// test, then a SIGWINCH for it), then SIGCONT: the child was killed (SIGKILL) while the init was
// stopped, so SIGCHLD (17) is taken first, the child reaped, and the init exits 137 without passing
// on what is left (SIGCONT, SIGWINCH), as the peer does. README: at -v "every other verbose line is
// dumb-init's or tini's, line for line" (the one line of ours that names a signal's sender aside):
// so every line ours prints is one the peer prints in the same run.
TEST(PeerDumbInit, signals_pending_when_the_child_ends_are_dropped_with_the_peers_words) {
  REQUIRE_PEERS();
  struct family {
    std::vector<init_kind> kinds;
    bool tini;
  };
  for (const family& f : {family{dumb_inits({"-c", "-v"}), false}, family{tinis({"-s", "-vvv"}), true}}) {
    std::vector<std::string> theirs;
    for (const init_kind& k : f.kinds) {
      SCOPED_TRACE(k.name);
      // The probe's own output goes to /dev/null: the peers write a line in several write()s
      // (dumb-init's "[dumb-init] " first), and a probe line landing inside one would cut it.
      auto p = start(k, {"/bin/sh", "-c", "exec \"$0\" signals >/dev/null", probe});
      pid_t child = 0;
      ASSERT_TRUE(eventually([&] {  // the probe runs, its handlers set (SIGTSTP caught)
        const std::vector<pid_t> c = children_of(p->pid());
        if (c.size() != 1 || comm_of(c.front()) != "run_probe") return false;
        child = c.front();
        std::ifstream in("/proc/" + std::to_string(child) + "/status");
        for (std::string line; std::getline(in, line);) {
          if (line.rfind("SigCgt:", 0) == 0)
            return (std::stoull(line.substr(7), nullptr, 16) & (1ULL << (SIGTSTP - 1))) != 0;
        }
        return false;
      })) << p->output();
      ASSERT_EQ(kill(p->pid(), f.tini ? SIGSTOP : SIGTSTP), 0);
      ASSERT_TRUE(wait_for_state(p->pid(), 'T')) << "init state " << proc_state(p->pid());
      ASSERT_EQ(kill(child, SIGKILL), 0);
      ASSERT_TRUE(wait_for_state(child, 'Z')) << "child state " << proc_state(child);
      if (f.tini) {
        ASSERT_EQ(kill(p->pid(), SIGWINCH), 0);
      }
      ASSERT_EQ(kill(p->pid(), SIGCONT), 0);
      const int status = p->finish();
      EXPECT_EQ(exit_code(status), 128 + SIGKILL) << describe_status(status) << p->output();
      std::vector<std::string> lines = normalized_lines(p->output());
      if (!k.ours) {
        theirs = lines;
        continue;
      }
      for (const std::string& line : lines) {
        if (line.find("was sent by pid") != std::string::npos) continue;  // ours alone (README)
        // tini's sigtimedwait() returns EINTR once it is continued, and tini reaps without having
        // taken the SIGCHLD; ours takes it first. The line is tini's own (it says it on every SIGCHLD).
        if (f.tini && line == "[DEBUG tini (N)] Received SIGCHLD") continue;
        EXPECT_NE(std::find(theirs.begin(), theirs.end(), line), theirs.end())
            << "a line the peer does not print: " << line << "\nours:\n"
            << p->output();
      }
    }
  }
}

// A mass exit (run_test.cc's scenario: 3,000 orphans end at once) at full verbosity: tini -s -vvv,
// and dumb-init -v started with the child-subreaper bit (tini's subreaper-proxy.py, so that the
// orphans come to it without PID 1). Every orphan is reaped and logged as the peer logs it; ours
// puts its reaping off for 1 ms when a waitpid() is slow (run_init.cc, "Reaping in a mass exit"),
// and the README's promise holds there too: every line of ours is one the peer prints in the same
// scenario (the sender line aside).
TEST(PeerTini, a_mass_exit_at_full_verbosity_prints_only_the_peers_lines) {
  REQUIRE_PEERS();
  SIGRELAY_IN_CHILD(
      [] {
        struct family {
          std::vector<init_kind> kinds;
        };
        for (const family& f : {family{tinis({"-s", "-vvv"})}, family{dumb_inits({"-v"})}}) {
          std::vector<std::string> theirs;
          for (const init_kind& k : f.kinds) {
            SCOPED_TRACE(k.name);
            // tini writes INFO/DEBUG to stdout, a pipe here: fully buffered, flushed mid-line, so the
            // probe's lines would cut its own. Line-buffered (stdbuf), every line is whole.
            std::vector<std::string> argv =
                k.ours ? std::vector<std::string>{} : std::vector<std::string>{"/usr/bin/stdbuf", "-oL"};
            argv.insert(argv.end(), k.argv.begin(), k.argv.end());
            for (const char* w : {probe.c_str(), "orphans", "3000"}) argv.push_back(w);
            start_state s;
            s.subreaper = true;
            const ran r = run_to_end(argv, s);
            EXPECT_EQ(exit_code(r.status), 0) << describe_status(r.status);
            EXPECT_NE(r.output.find("reaped 3000 of 3000"), std::string::npos)
                << r.output.substr(r.output.size() > 2000 ? r.output.size() - 2000 : 0);
            std::vector<std::string> lines = normalized_lines(r.output);
            std::sort(lines.begin(), lines.end());
            lines.erase(std::unique(lines.begin(), lines.end()), lines.end());
            if (!k.ours) {
              theirs = lines;
              continue;
            }
            for (const std::string& line : lines) {
              if (line.find("was sent by pid") != std::string::npos) continue;  // ours alone (README)
              if (line.rfind("[", 0) != 0) continue;                            // the probe's
              EXPECT_TRUE(std::binary_search(theirs.begin(), theirs.end(), line))
                  << "a line the peer does not print: " << line;
            }
          }
        }
      },
      120);
}

// ==== tini: test/run_inner_tests.py ================================================================

// The exit code test: for every code 0-255, `-e CODE` alone maps it to 0; with every other code
// given by -e (255 of them), the child's CODE passes through. tini and ours, each code. In the
// sanitizer presets, every 17th code (0, 17, ... 255: 16 of them, the ends included): there the
// test looks for memory errors and races in the same parsing and exit paths, which every code takes
// alike, and the 1,536 runs of all 256 took over two minutes per preset on 2 CPUs; the plain
// presets check every code.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr int kExitCodeStep = 17;
#else
constexpr int kExitCodeStep = 1;
#endif
TEST(PeerTini, success_status_for_every_code_inclusive_and_exclusive) {
  REQUIRE_PEERS();
  for (const init_kind& k : family_of("tini", {}, false)) {
    SCOPED_TRACE(k.name);
    int wrong = 0;
    for (int code = 0; code < 256 && wrong < 5; code += kExitCodeStep) {
      std::vector<std::string> argv = k.argv;
      for (const std::string& w : {std::string("-e"), std::to_string(code), std::string("--"), probe,
                                   std::string("exit"), std::to_string(code)})
        argv.push_back(w);
      start_state quiet;
      quiet.quiet = true;
      quiet.subreaper = true;  // no warning to write
      const ran inclusive = run_to_end(argv, quiet);
      if (exit_code(inclusive.status) != 0) {
        ++wrong;
        ADD_FAILURE() << "-e " << code << ": " << describe_status(inclusive.status);
      }
      argv = k.argv;
      for (int other = 0; other < 256; ++other) {
        if (other == code) continue;
        argv.push_back("-e");
        argv.push_back(std::to_string(other));
      }
      for (const std::string& w : {probe, std::string("exit"), std::to_string(code)}) argv.push_back(w);
      const ran exclusive = run_to_end(argv, quiet);
      if (exit_code(exclusive.status) != code) {
        ++wrong;
        ADD_FAILURE() << "every -e but " << code << ": " << describe_status(exclusive.status);
      }
    }
  }
}

// The same -e with a child that a forwarded signal kills (the orchestrator's SIGTERM, Ctrl+C's
// SIGINT): tini applies -e to 128+N too, so `-e 143` makes a SIGTERM'd child a success (0) while a
// SIGINT'd one still gives 130. Ours as tini, and `sigrelay run -e`, the same.
TEST(PeerTini, success_status_applies_to_128_plus_n) {
  REQUIRE_PEERS();
  std::vector<init_kind> kinds = tinis({"-s", "-e", "143"});
  kinds.push_back({"sigrelay run -e 143", true, {sigrelay_bin, "run", "-e", "143", "--"}});
  for (const int signo : {SIGTERM, SIGINT}) {
    for (const init_kind& k : kinds) {
      SCOPED_TRACE(k.name + " signal " + std::to_string(signo));
      auto p = start(k, {"/bin/sleep", "1000"});
      ASSERT_TRUE(eventually([&] {
        const std::vector<pid_t> c = children_of(p->pid());
        return c.size() == 1 && comm_of(c.front()) == "sleep";
      })) << p->output();
      ASSERT_EQ(kill(p->pid(), signo), 0);
      const int status = p->finish();
      EXPECT_EQ(exit_code(status), signo == SIGTERM ? 0 : 128 + SIGINT)
          << describe_status(status) << p->output();
    }
  }
}

// The reaping test through subreaper-proxy.py: the init is started with the child-subreaper bit
// already set (a proxy set it and exec'd the init), no -s. It reaps the child's orphan, does not warn
// that "zombie reaping won't work", and says nothing of the orphan; with -w it says "Reaped zombie
// process with pid=" and the orphan's pid.
TEST(PeerTini, an_inherited_subreaper_bit_reaps_without_s_and_without_warning) {
  REQUIRE_PEERS();
  SIGRELAY_IN_CHILD([] {
    for (const bool warn : {false, true}) {
      for (const init_kind& k : tinis(warn ? std::vector<std::string>{"-w"} : std::vector<std::string>{})) {
        SCOPED_TRACE(k.name + (warn ? " -w" : ""));
        std::vector<std::string> argv = k.argv;
        argv.push_back(probe);
        argv.push_back("orphan");
        start_state s;
        s.subreaper = true;
        const ran r = run_to_end(argv, s);
        EXPECT_EQ(exit_code(r.status), 0) << describe_status(r.status) << r.output;
        // (tini writes a warning in several write()s: the probe's line may land inside one.)
        EXPECT_NE(r.output.find("reaped\n"), std::string::npos) << r.output;
        EXPECT_EQ(r.output.find("not reaped"), std::string::npos) << r.output;
        EXPECT_EQ(r.output.find("zombie reaping won't work"), std::string::npos) << r.output;
        const std::string orphan = word_after(r.output, "orphan=");
        ASSERT_FALSE(orphan.empty()) << r.output;
        if (warn) {
          const std::string said = "Reaped zombie process with pid=" + orphan;
          const std::size_t at = r.output.find(said);
          ASSERT_NE(at, std::string::npos) << r.output;
          const std::size_t after = at + said.size();  // not the start of a longer pid
          EXPECT_TRUE(after >= r.output.size() || r.output[after] < '0' || r.output[after] > '9') << r.output;
        } else {
          EXPECT_EQ(r.output.find("Reaped zombie process"), std::string::npos) << r.output;
        }
        reap_all();
      }
    }
  });
}

// The signals test: SIGTERM, SIGUSR1 and SIGUSR2 sent to the init reach a child that leaves them at
// their default action (`sleep`), which dies of them: 128+N. Under tini -s and TINI_SUBREAPER set to
// "" (set, even empty, is on), as tini's test runs it.
TEST(PeerTini, signals_kill_a_child_at_the_default_action_128_plus_n) {
  REQUIRE_PEERS();
  for (const int signo : {SIGTERM, SIGUSR1, SIGUSR2}) {
    for (const bool by_env : {false, true}) {
      for (const init_kind& k : tinis(by_env ? std::vector<std::string>{} : std::vector<std::string>{"-s"})) {
        SCOPED_TRACE(k.name + (by_env ? " TINI_SUBREAPER=" : " -s") + " signal " + std::to_string(signo));
        auto p = start(k, {"/bin/sleep", "1000"}, false,
                       by_env ? std::vector<std::string>{"TINI_SUBREAPER="} : std::vector<std::string>{});
        ASSERT_TRUE(eventually([&] {
          const std::vector<pid_t> c = children_of(p->pid());
          return c.size() == 1 && comm_of(c.front()) == "sleep";
        })) << p->output();
        ASSERT_EQ(kill(p->pid(), signo), 0);
        const int status = p->finish();
        EXPECT_EQ(exit_code(status), 128 + signo) << describe_status(status) << p->output();
        EXPECT_EQ(p->output().find("zombie reaping won't work"), std::string::npos) << p->output();
      }
    }
  }
}

// The process group test: the child (sh) ignores SIGUSR1 and waits for a grandchild (`sleep`) that
// does not. With -g or TINI_KILL_PROCESS_GROUP set, SIGUSR1 to the init kills the grandchild (sh's
// wait says 138), the child lives on and exits 3, and so does the init. `sigrelay run -g` too.
TEST(PeerTini, the_process_group_gets_a_signal_the_child_ignores) {
  REQUIRE_PEERS();
  const std::vector<std::string> program = {
      "/bin/sh", "-c", "sleep 1000 & trap '' USR1; wait $!; echo \"sleep ended: $?\"; exit 3"};
  // The variable counts when set, whatever its value ("0" and "" too), as in tini.
  for (const std::string& env :
       {std::string(), std::string("TINI_KILL_PROCESS_GROUP=1"), std::string("TINI_KILL_PROCESS_GROUP=0"),
        std::string("TINI_KILL_PROCESS_GROUP=")}) {
    const bool by_env = !env.empty();
    std::vector<init_kind> kinds =
        tinis(by_env ? std::vector<std::string>{"-s"} : std::vector<std::string>{"-s", "-g"});
    if (!by_env) kinds.push_back({"sigrelay run -g", true, {sigrelay_bin, "run", "-g", "--"}});
    for (const init_kind& k : kinds) {
      SCOPED_TRACE(k.name + " " + env);
      auto p = start(k, program, false, by_env ? std::vector<std::string>{env} : std::vector<std::string>{});
      // sh has started sleep and ignores SIGUSR1 (bit 9 of SigIgn) before the signal is sent.
      pid_t sh = 0;
      ASSERT_TRUE(eventually([&] {
        const std::vector<pid_t> c = children_of(p->pid());
        if (c.size() != 1) return false;
        sh = c.front();
        const std::vector<pid_t> g = children_of(sh);
        if (g.size() != 1 || comm_of(g.front()) != "sleep") return false;
        std::ifstream in("/proc/" + std::to_string(sh) + "/status");
        std::string line;
        while (std::getline(in, line)) {
          if (line.rfind("SigIgn:", 0) == 0)
            return (std::stoull(line.substr(7), nullptr, 16) & (1ULL << (SIGUSR1 - 1))) != 0;
        }
        return false;
      })) << p->output();
      ASSERT_EQ(kill(p->pid(), SIGUSR1), 0);
      const int status = p->finish();
      EXPECT_EQ(exit_code(status), 3) << describe_status(status) << p->output();
      EXPECT_NE(p->output().find("sleep ended: 138\n"), std::string::npos) << p->output();
    }
  }
}

// The signal configuration test (test/sigconf): the init is started with SIGTTOU, SIGSEGV and SIGINT
// ignored and SIGTTIN, SIGILL and SIGTERM blocked (signals tini ignores, leaves alone, and blocks to
// forward); the child's SigIgn and SigBlk are exactly those, under tini and ours, in every mode but
// dumb-init's. Deliberate difference: dumb-init installs handlers for 1-31 and unblocks everything
// before exec, so its child has neither; ours keeps both (README, "Switching from tini or dumb-init").
TEST(PeerTini, the_child_starts_with_the_signal_configuration_of_the_init) {
  REQUIRE_PEERS();
  // A sanitizer's runtime installs its own SIGSEGV handler in the init at start-up (so the child would
  // exec with SIG_DFL instead of the SIG_IGN the init was given): not with handle_segv=0.
  for (const char* variable : {"ASAN_OPTIONS", "TSAN_OPTIONS", "UBSAN_OPTIONS"}) {
    const char* prior = std::getenv(variable);
    const std::string options =
        std::string(prior != nullptr ? prior : "") + (prior != nullptr ? ":" : "") + "handle_segv=0";
    ASSERT_EQ(setenv(variable, options.c_str(), 1), 0);
  }
  start_state s;
  s.ignored = {SIGTTOU, SIGSEGV, SIGINT};
  s.blocked = {SIGTTIN, SIGILL, SIGTERM};
  s.subreaper = true;
  auto bits = [](std::initializer_list<int> signals) {
    unsigned long long b = 0;
    for (const int signo : signals) b |= 1ULL << (signo - 1);
    return b;
  };
  auto field = [](const std::string& output, const std::string& key) {
    const std::string hex = word_after(output, key + ":\t");
    return hex.empty() ? ~0ULL : std::stoull(hex, nullptr, 16);
  };
  std::vector<init_kind> kinds = tinis({});
  kinds.push_back({"sigrelay run", true, {sigrelay_bin, "run", "--"}});
  kinds.push_back({"sigrelay run --setsid", true, {sigrelay_bin, "run", "--setsid", "--"}});
  for (init_kind& k : dumb_inits({})) kinds.push_back(k);
  for (init_kind& k : dumb_inits({"-c"})) {
    k.name += " -c";
    kinds.push_back(k);
  }
  for (const init_kind& k : kinds) {
    SCOPED_TRACE(k.name);
    std::vector<std::string> argv = k.argv;
    argv.push_back("/bin/cat");
    argv.push_back("/proc/self/status");
    const ran r = run_to_end(argv, s);
    EXPECT_EQ(exit_code(r.status), 0) << describe_status(r.status) << r.output;
    const bool dumb_init_itself = !k.ours && k.name.rfind("dumb-init", 0) == 0;
    if (dumb_init_itself) {
      EXPECT_EQ(field(r.output, "SigIgn"), 0ULL) << r.output;
      EXPECT_EQ(field(r.output, "SigBlk"), 0ULL) << r.output;
    } else {
      EXPECT_EQ(field(r.output, "SigIgn"), bits({SIGTTOU, SIGSEGV, SIGINT})) << r.output;
      EXPECT_EQ(field(r.output, "SigBlk"), bits({SIGTTIN, SIGILL, SIGTERM})) << r.output;
    }
  }
}

}  // namespace
