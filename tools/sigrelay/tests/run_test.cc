// SPDX-License-Identifier: MIT
// tools/sigrelay/tests/run_test.cc — `sigrelay run` as a real process, side by side with /usr/bin/tini
// and /usr/bin/dumb-init: each scenario runs the same probe (run_probe.cc) under every init of a
// family and compares the exit status, what the probe received and what was reaped.
//
// Families: tini-like (tini, `sigrelay run --compat=tini`, a link named tini, `sigrelay run`) and
// dumb-init-like (dumb-init, `--compat=dumb-init`, a link named dumb-init, `sigrelay run --setsid`
// where the scenario is about setsid mode). Signals go to the init's pid, which the test started
// itself; PID-1 scenarios run inside `unshare --pid --fork` (skipped with the reason if that fails).
#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "run_support.hpp"
#include "sched_attributes.hpp"
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

enum class family { tini, dumb_init };

struct init_kind {
  const char* name;
  family fam;
  bool ours;
  std::vector<std::string> argv;  // the init and its options, up to where PROGRAM goes
};

std::ostream& operator<<(std::ostream& out, const init_kind& k) { return out << k.name; }

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

init_kind native(const std::vector<std::string>& options, family fam = family::tini) {
  std::vector<std::string> argv{sigrelay_bin, "run"};
  argv.insert(argv.end(), options.begin(), options.end());
  argv.push_back("--");
  return {"native", fam, true, argv};
}

// Starts `kind` running the probe with `args`.
std::unique_ptr<process> start(const init_kind& kind, const std::vector<std::string>& args, bool pty = false,
                               bool pid1 = false) {
  std::vector<std::string> argv = kind.argv;
  argv.push_back(probe);
  argv.insert(argv.end(), args.begin(), args.end());
  if (pid1) {
    argv.insert(argv.begin(), {"--pid", "--fork"});
    return std::make_unique<process>("/usr/bin/unshare", argv, pty);
  }
  const std::string path = argv.front();
  argv.erase(argv.begin());
  return std::make_unique<process>(path, argv, pty);
}

bool unshare_works() {
  static const bool works = [] {
    process p("/usr/bin/unshare", {"--pid", "--fork", "/bin/true"});
    return sigrelay::test::exited_with(p.finish(), 0);
  }();
  return works;
}

// Fields 5 and 6 of /proc/PID/stat: the process group and the session; {0, 0} if unreadable.
std::pair<pid_t, pid_t> group_and_session(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  std::getline(in, text);
  const std::size_t close = text.rfind(')');
  if (close == std::string::npos) return {0, 0};
  std::istringstream rest(text.substr(close + 2));
  std::string state;
  long ppid = 0, pgrp = 0, session = 0;
  rest >> state >> ppid >> pgrp >> session;
  return {static_cast<pid_t>(pgrp), static_cast<pid_t>(session)};
}

// The originals print argv[0] as given (/usr/bin/tini); --compat prints the bare name.
std::string as_named(const std::string& text, const std::string& path, const std::string& name) {
  std::string out = text;
  for (std::size_t at; (at = out.find(path)) != std::string::npos;) out.replace(at, path.size(), name);
  return out;
}

std::string without_pids(std::string text) {
  for (std::size_t open = 0; (open = text.find('(', open)) != std::string::npos; ++open) {
    const std::size_t close = text.find_first_not_of("0123456789", open + 1);
    if (close != std::string::npos && close > open + 1 && text[close] == ')')
      text.replace(open + 1, close - open - 1, "N");
  }
  return text;
}

std::string param_name(const testing::TestParamInfo<init_kind>& p) { return p.param.name; }

// ---- Every init of both families -------------------------------------------------------------

class every_init : public testing::TestWithParam<init_kind> {};

TEST_P(every_init, passes_the_exit_code_through) {
  auto p = start(GetParam(), {"exit", "3"});
  const int status = p->finish();
  EXPECT_EQ(exit_code(status), 3) << describe_status(status) << p->output();
}

TEST_P(every_init, exits_128_plus_n_when_the_child_is_killed) {
  auto p = start(GetParam(), {"kill", std::to_string(SIGUSR1)});
  const int status = p->finish();
  EXPECT_EQ(exit_code(status), 128 + SIGUSR1) << describe_status(status) << p->output();
}

TEST_P(every_init, forwards_sigterm) {
  auto p = start(GetParam(), {"wait"});
  ASSERT_TRUE(p->wait_for_output("ready")) << p->output();
  ASSERT_EQ(kill(p->pid(), SIGTERM), 0);
  const int status = p->finish();
  EXPECT_NE(p->output().find("got SIGTERM"), std::string::npos) << p->output();
  EXPECT_EQ(exit_code(status), 42) << describe_status(status) << p->output();
}

TEST_P(every_init, forwards_sigusr1) {
  auto p = start(GetParam(), {"wait"});
  ASSERT_TRUE(p->wait_for_output("ready")) << p->output();
  ASSERT_EQ(kill(p->pid(), SIGUSR1), 0);
  ASSERT_TRUE(p->wait_for_output("got SIGUSR1")) << p->output();
  ASSERT_EQ(kill(p->pid(), SIGTERM), 0);
  const int status = p->finish();
  EXPECT_EQ(exit_code(status), 42) << describe_status(status) << p->output();
}

TEST_P(every_init, reaps_orphans_as_pid_1) {
  if (!unshare_works()) GTEST_SKIP() << "unshare --pid --fork fails here (needs root or user namespaces)";
  auto p = start(GetParam(), {"orphan"}, false, true);
  const int status = p->finish();
  EXPECT_NE(p->output().find("orphan="), std::string::npos) << p->output();
  // (tini writes its prefix and its message separately: the probe's lines may land between them)
  EXPECT_NE(p->output().find("reaped\n"), std::string::npos) << p->output();
  EXPECT_EQ(p->output().find("not reaped"), std::string::npos) << p->output();
  EXPECT_EQ(exit_code(status), 0) << describe_status(status) << p->output();
}

// A mass exit: 2,000 orphans end at once. Every one is reaped, and the init still ends with its child.
// (Thousands of live children ahead of the zombies make each waitpid() a long walk: `sigrelay run`
// then puts the rest of its reaping off for 1 ms at a time, run_init.cc, "Reaping in a mass exit".)
TEST_P(every_init, reaps_a_mass_exit_of_orphans_as_pid_1) {
  if (!unshare_works()) GTEST_SKIP() << "unshare --pid --fork fails here (needs root or user namespaces)";
  auto p = start(GetParam(), {"orphans", "2000"}, false, true);
  const int status = p->finish();
  EXPECT_NE(p->output().find("orphans=2000\n"), std::string::npos) << p->output();
  EXPECT_NE(p->output().find("reaped 2000 of 2000\n"), std::string::npos) << p->output();
  EXPECT_EQ(exit_code(status), 0) << describe_status(status) << p->output();
}

// Not found: 127 (tini, ours), not executable: 126; dumb-init says 2 for both; each with its message.
TEST_P(every_init, reports_exec_failures) {
  const init_kind& k = GetParam();
  const bool dumb = k.fam == family::dumb_init;
  {
    process p(k.argv.front(), [&] {
      std::vector<std::string> a(k.argv.begin() + 1, k.argv.end());
      a.push_back("/nonexistent/program");
      return a;
    }());
    const int status = p.finish();
    EXPECT_EQ(exit_code(status), dumb ? 2 : 127) << describe_status(status) << p.output();
    const std::string want = dumb ? "[dumb-init] /nonexistent/program: No such file or directory"
                             : k.name == std::string("native")
                                 ? "sigrelay run: cannot run /nonexistent/program"
                                 : "exec /nonexistent/program failed: No such file";
    EXPECT_NE(p.output().find(want), std::string::npos) << p.output();
  }
  {
    process p(k.argv.front(), [&] {
      std::vector<std::string> a(k.argv.begin() + 1, k.argv.end());
      a.push_back("/etc/passwd");
      return a;
    }());
    const int status = p.finish();
    EXPECT_EQ(exit_code(status), dumb ? 2 : 126) << describe_status(status) << p.output();
    EXPECT_NE(p.output().find("Permission denied"), std::string::npos) << p.output();
  }
}

// The child keeps an inherited SIG_IGN of SIGINT and the mask the init was started with (SIGUSR2
// blocked here), and gets none of the init's own blocks. dumb-init sets a handler for 1-31 and
// unblocks everything before exec, so its child loses both: stated, as the difference we fix.
TEST_P(every_init, child_starts_with_the_inits_signal_state) {
  const init_kind& k = GetParam();
  int out[2];
  ASSERT_EQ(pipe(out), 0);
  std::fflush(nullptr);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    dup2(out[1], 1);
    dup2(out[1], 2);
    close(out[0]);
    close(out[1]);
    sigrelay::test::reset_signal_state();
    signal(SIGINT, SIG_IGN);
    sigset_t usr2;
    sigemptyset(&usr2);
    sigaddset(&usr2, SIGUSR2);
    sigprocmask(SIG_BLOCK, &usr2, nullptr);
    std::vector<char*> argv;
    for (const std::string& a : k.argv) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(const_cast<char*>(probe.c_str()));
    argv.push_back(const_cast<char*>("state"));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(out[1]);
  std::string output;
  char buffer[512];
  for (ssize_t n; (n = read(out[0], buffer, sizeof buffer)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    output.append(buffer, static_cast<std::size_t>(n));
  }
  close(out[0]);
  const int status = sigrelay::test::wait_with_deadline(pid, 20);
  EXPECT_EQ(exit_code(status), 0) << describe_status(status) << output;
  const std::string ignored_text = word_after(output, "ignored=");
  const std::string blocked_text = word_after(output, "blocked=");
  ASSERT_FALSE(ignored_text.empty() || blocked_text.empty()) << output;
  const unsigned long long ignored = std::stoull(ignored_text, nullptr, 16);
  const unsigned long long blocked = std::stoull(blocked_text, nullptr, 16);
  const unsigned long long int_bit = 1ULL << (SIGINT - 1);
  const unsigned long long usr2_bit = 1ULL << (SIGUSR2 - 1);
  if (k.ours || k.fam == family::tini) {
    EXPECT_EQ(ignored & int_bit, int_bit) << "SIGINT no longer ignored: " << output;
    EXPECT_EQ(blocked, usr2_bit) << "the mask is not the one the init started with: " << output;
  } else {  // /usr/bin/dumb-init
    EXPECT_EQ(ignored & int_bit, 0u) << output;
    EXPECT_EQ(blocked, 0u) << output;
  }
}

INSTANTIATE_TEST_SUITE_P(run, every_init, testing::ValuesIn([] {
                           // The links take the same path as --compat after argv[0]: they are
                           // in the suites below, not here, to keep the binary quick under TSan.
                           std::vector<init_kind> all;
                           for (auto& k : tini_family({"-s"})) {
                             if (std::string(k.name) != "link_tini") all.push_back(k);
                           }
                           for (auto& k : dumb_init_family({})) {
                             if (std::string(k.name) != "link_dumb_init") all.push_back(k);
                           }
                           all.push_back(native({}));
                           return all;
                         }()),
                         param_name);

// ---- tini's options ---------------------------------------------------------------------------

class tini_like : public testing::TestWithParam<init_kind> {};

TEST_P(tini_like, reaps_orphans_as_subreaper_and_warns_with_w) {
  auto p = start(GetParam(), {"orphan"});
  const int status = p->finish();
  const std::string orphan = word_after(p->output(), "orphan=");
  ASSERT_FALSE(orphan.empty()) << p->output();
  // (tini writes its prefix and its message separately: the probe's lines may land between them)
  EXPECT_NE(p->output().find("reaped\n"), std::string::npos) << p->output();
  EXPECT_EQ(p->output().find("not reaped"), std::string::npos) << p->output();
  const std::string warning =
      GetParam().name == std::string("native") ? "sigrelay run: reaped orphan pid " : "[WARN  tini (";
  EXPECT_NE(p->output().find(warning), std::string::npos) << p->output();
  if (GetParam().name != std::string("native")) {
    EXPECT_NE(p->output().find("Reaped zombie process with pid=" + orphan), std::string::npos) << p->output();
  } else {
    EXPECT_NE(p->output().find("reaped orphan pid " + orphan), std::string::npos) << p->output();
  }
  EXPECT_EQ(exit_code(status), 0) << describe_status(status) << p->output();
}

INSTANTIATE_TEST_SUITE_P(run, tini_like, testing::ValuesIn([] {
                           std::vector<init_kind> all = tini_family({"-s", "-w"});
                           all.push_back(native({"-w"}));
                           return all;
                         }()),
                         param_name);

class tini_group : public testing::TestWithParam<init_kind> {};
class tini_env : public testing::TestWithParam<init_kind> {};

// -g: the whole process group gets the signal; the exit code maps with -e.
TEST_P(tini_group, signals_the_process_group_and_maps_exit_codes) {
  auto p = start(GetParam(), {"wait", "group"});
  ASSERT_TRUE(p->wait_for_output("ready")) << p->output();
  ASSERT_EQ(kill(p->pid(), SIGUSR1), 0);
  ASSERT_TRUE(p->wait_for_output("grandchild got SIGUSR1")) << p->output();
  ASSERT_TRUE(p->wait_for_output("\ngot SIGUSR1")) << p->output();
  ASSERT_EQ(kill(p->pid(), SIGTERM), 0);
  const int status = p->finish();
  EXPECT_EQ(exit_code(status), 0) << "-e 42 maps 42 to 0: " << describe_status(status) << p->output();
}

INSTANTIATE_TEST_SUITE_P(run, tini_group, testing::ValuesIn([] {
                           std::vector<init_kind> all = tini_family({"-s", "-g", "-e", "42"});
                           all.push_back(native({"-g", "-e", "42"}));
                           return all;
                         }()),
                         param_name);

// tini's environment: TINI_SUBREAPER and TINI_KILL_PROCESS_GROUP as -s and -g, set to anything.
TEST_P(tini_env, environment_variables_act_as_options) {
  std::vector<std::string> argv{"TINI_SUBREAPER=", "TINI_KILL_PROCESS_GROUP=1"};
  argv.insert(argv.end(), GetParam().argv.begin(), GetParam().argv.end());
  argv.push_back(probe);
  argv.push_back("wait");
  argv.push_back("group");
  process p("/usr/bin/env", argv);
  ASSERT_TRUE(p.wait_for_output("ready")) << p.output();
  EXPECT_EQ(p.output().find("[WARN"), std::string::npos) << "TINI_SUBREAPER: no reaping warning\n"
                                                         << p.output();
  ASSERT_EQ(kill(p.pid(), SIGUSR1), 0);
  ASSERT_TRUE(p.wait_for_output("grandchild got SIGUSR1")) << p.output();
  ASSERT_EQ(kill(p.pid(), SIGTERM), 0);
  const int status = p.finish();
  EXPECT_EQ(exit_code(status), 42) << describe_status(status) << p.output();
}

INSTANTIATE_TEST_SUITE_P(run, tini_env, testing::ValuesIn(tini_family({})), param_name);

// Usage errors: the same exit status and the same first line as tini (pids aside).
TEST(run_tini_compat, usage_errors_match_tini) {
  const std::vector<std::vector<std::string>> cases = {
      {"-p", "FOO", "true"}, {"-e", "300", "true"}, {"-e", "x", "true"}, {"-x", "true"}, {}};
  for (const auto& c : cases) {
    process theirs("/usr/bin/tini", c);
    std::vector<std::string> args{"run", "--compat=tini"};
    args.insert(args.end(), c.begin(), c.end());
    process ours(sigrelay_bin, args);
    const int a = theirs.finish();
    const int b = ours.finish();
    EXPECT_EQ(exit_code(a), exit_code(b)) << theirs.output() << "\n--\n" << ours.output();
    const std::string all_theirs = as_named(theirs.output(), "/usr/bin/tini", "tini");
    const std::string first_theirs = without_pids(all_theirs.substr(0, all_theirs.find('\n')));
    const std::string first_ours = without_pids(ours.output().substr(0, ours.output().find('\n')));
    if (c.empty()) {  // the usage: our own words, but the same first word
      EXPECT_EQ(first_ours.substr(0, 5), "tini ") << ours.output();
    } else {
      EXPECT_EQ(first_theirs, first_ours);
    }
  }
  process version(sigrelay_bin, {"run", "--compat=tini", "--version"});
  EXPECT_EQ(exit_code(version.finish()), 0);
  EXPECT_EQ(version.output(), "tini version 0.19.0\n");
}

// ---- dumb-init's options ----------------------------------------------------------------------

class dumb_init_like : public testing::TestWithParam<init_kind> {};

// Setsid mode: the group gets the signals, and SIGTERM when the child ends.
TEST_P(dumb_init_like, terms_the_group_when_the_child_exits) {
  auto p = start(GetParam(), {"group-exit"});
  const int status = p->finish();
  EXPECT_NE(p->output().find("grandchild got SIGTERM"), std::string::npos) << p->output();
  EXPECT_EQ(exit_code(status), 7) << describe_status(status) << p->output();
}

// Ctrl+Z semantics: SIGTSTP to the init stops the child's group with SIGSTOP and the init itself;
// SIGCONT to the init wakes both. On a pseudo-terminal, whose hand-off (SIGHUP, SIGCONT) the child
// must not see.
TEST_P(dumb_init_like, tstp_stops_child_and_init_cont_wakes_both) {
  auto p = start(GetParam(), {"wait"}, true);
  ASSERT_TRUE(p->wait_for_output("ready")) << p->output();
  const pid_t child = ready_pid(p->output());
  ASSERT_GT(child, 0) << p->output();
  ASSERT_EQ(kill(p->pid(), SIGTSTP), 0);
  EXPECT_TRUE(wait_for_state(child, 'T')) << "child state " << proc_state(child);
  EXPECT_TRUE(wait_for_state(p->pid(), 'T')) << "init state " << proc_state(p->pid());
  ASSERT_EQ(kill(p->pid(), SIGCONT), 0);
  ASSERT_TRUE(p->wait_for_output("got SIGCONT")) << p->output();
  EXPECT_NE(proc_state(child), 'T');
  EXPECT_NE(proc_state(p->pid()), 'T');
  ASSERT_EQ(kill(p->pid(), SIGTERM), 0);
  const int status = p->finish();
  EXPECT_EQ(p->output().find("got SIGHUP"), std::string::npos) << "the terminal hand-off reached the child:\n"
                                                               << p->output();
  EXPECT_EQ(exit_code(status), 42) << describe_status(status) << p->output();
}

INSTANTIATE_TEST_SUITE_P(run, dumb_init_like, testing::ValuesIn([] {
                           std::vector<init_kind> all = dumb_init_family({});
                           all.push_back(native({"--setsid"}, family::dumb_init));
                           return all;
                         }()),
                         param_name);

class dumb_init_rewrite : public testing::TestWithParam<init_kind> {};

// -r 10:12 passes SIGUSR1 on as SIGUSR2; -r 1:0 drops SIGHUP.
TEST_P(dumb_init_rewrite, rewrites_and_drops) {
  auto p = start(GetParam(), {"wait"});
  ASSERT_TRUE(p->wait_for_output("ready")) << p->output();
  ASSERT_EQ(kill(p->pid(), SIGHUP), 0);
  ASSERT_EQ(kill(p->pid(), SIGUSR1), 0);
  ASSERT_TRUE(p->wait_for_output("got SIGUSR2")) << p->output();
  ASSERT_EQ(kill(p->pid(), SIGTERM), 0);
  const int status = p->finish();
  EXPECT_EQ(p->output().find("got SIGUSR1"), std::string::npos) << p->output();
  EXPECT_EQ(p->output().find("got SIGHUP"), std::string::npos) << p->output();
  EXPECT_EQ(exit_code(status), 42) << describe_status(status) << p->output();
}

INSTANTIATE_TEST_SUITE_P(run, dumb_init_rewrite, testing::ValuesIn([] {
                           std::vector<init_kind> all = dumb_init_family({"-r", "10:12", "--rewrite", "1:0"});
                           all.push_back(native({"-r", "USR1:USR2", "-r", "SIGHUP:0"}, family::dumb_init));
                           return all;
                         }()),
                         param_name);

// Where each mode puts the child: tini and sigrelay run, its own process group in the init's session;
// dumb-init (and --setsid), a new session; dumb-init -c (and DUMB_INIT_SETSID=0), the init's group.
TEST(run_modes, process_group_and_session_of_the_child) {
  struct mode {
    init_kind kind;
    const char* env;  // or nullptr
    enum { own_group, new_session, inits_group } want;
  };
  std::vector<mode> modes;
  for (const auto& k : tini_family({"-s"})) modes.push_back({k, nullptr, mode::own_group});
  modes.push_back({native({}), nullptr, mode::own_group});
  for (const auto& k : dumb_init_family({})) modes.push_back({k, nullptr, mode::new_session});
  modes.push_back({native({"--setsid"}), nullptr, mode::new_session});
  for (const auto& k : dumb_init_family({"-c"})) modes.push_back({k, nullptr, mode::inits_group});
  for (const auto& k : dumb_init_family({})) modes.push_back({k, "DUMB_INIT_SETSID=0", mode::inits_group});
  for (const mode& m : modes) {
    SCOPED_TRACE(std::string(m.kind.name) + (m.env != nullptr ? std::string(" ") + m.env : ""));
    std::vector<std::string> argv;
    if (m.env != nullptr) argv.push_back(m.env);
    argv.insert(argv.end(), m.kind.argv.begin(), m.kind.argv.end());
    argv.push_back(probe);
    argv.push_back("wait");
    process p("/usr/bin/env", argv);
    ASSERT_TRUE(p.wait_for_output("ready")) << p.output();
    const pid_t child = ready_pid(p.output());
    const auto [child_group, child_session] = group_and_session(child);
    const auto [init_group, init_session] = group_and_session(p.pid());
    switch (m.want) {
      case mode::own_group:
        EXPECT_EQ(child_group, child);
        EXPECT_EQ(child_session, init_session);
        break;
      case mode::new_session:
        EXPECT_EQ(child_session, child);
        EXPECT_EQ(child_group, child);
        break;
      case mode::inits_group:
        EXPECT_EQ(child_group, init_group);
        EXPECT_EQ(child_session, init_session);
        break;
    }
    ASSERT_EQ(kill(p.pid(), SIGTERM), 0);
    EXPECT_EQ(exit_code(p.finish()), 42) << p.output();
  }
}

// Usage errors: byte for byte dumb-init's output and status.
TEST(run_dumb_init_compat, usage_errors_match_dumb_init) {
  const std::vector<std::vector<std::string>> cases = {{"-r", "15", "true"},
                                                       {"-r", "15::12", "true"},
                                                       {"-r", "1:32", "true"},
                                                       {"-r", "herp", "true"},
                                                       {"-r", "0:1", "true"},
                                                       {"-x", "true"},
                                                       {"-r"},
                                                       {"-V"},
                                                       {}};
  for (const auto& c : cases) {
    process theirs("/usr/bin/dumb-init", c);
    std::vector<std::string> args{"run", "--compat=dumb-init"};
    args.insert(args.end(), c.begin(), c.end());
    process ours(sigrelay_bin, args);
    const int a = theirs.finish();
    const int b = ours.finish();
    EXPECT_EQ(exit_code(a), exit_code(b)) << (c.empty() ? "" : c[0]);
    EXPECT_EQ(as_named(theirs.output(), "/usr/bin/dumb-init", "dumb-init"), ours.output())
        << (c.empty() ? "" : c[0]);
  }
}

// ---- sigrelay run's own options ---------------------------------------------------------------

TEST(run_native, die_by_signal_dies_by_the_childs_signal) {
  process p(sigrelay_bin, {"run", "--die-by-signal", "--", probe, "kill", std::to_string(SIGUSR1)});
  const int status = p.finish();
  EXPECT_TRUE(sigrelay::test::killed_by(status, SIGUSR1)) << p.output();
}

// As PID 1 the kernel ignores a default-action signal the init sends itself: 128+N instead.
TEST(run_native, die_by_signal_as_pid_1_exits_128_plus_n) {
  if (!unshare_works()) GTEST_SKIP() << "unshare --pid --fork fails here (needs root or user namespaces)";
  process p("/usr/bin/unshare", {"--pid", "--fork", sigrelay_bin, "run", "--die-by-signal", "--", probe,
                                 "kill", std::to_string(SIGUSR1)});
  const int status = p.finish();
  EXPECT_EQ(exit_code(status), 128 + SIGUSR1) << describe_status(status) << p.output();
}

// Verbose, with stderr a pipe nobody reads any more: each log line's write raises SIGPIPE at the
// init. It must still end with its child (it spun at 100% CPU for ever, taking its own SIGPIPE and
// logging it, which raised the next one, before SIGCHLD). In dumb-init's dialect the child's own
// "setsid complete." line (dumb-init's child writes it too) raises SIGPIPE in the child, which dies
// of it before its exec: the init passes that on as 128 + 13. (Debian's dumb-init 1.2.5 itself never
// ends here: it spins as ours did.)
TEST(run_native, verbose_logging_to_a_closed_stderr_still_ends_with_the_child) {
  const std::vector<std::pair<std::vector<std::string>, int>> cases = {
      {{sigrelay_bin, "run", "-vv", "--"}, 0},
      {{sigrelay_bin, "run", "--compat=tini", "-vvv", "--"}, 0},
      {{sigrelay_bin, "run", "--compat=dumb-init", "-v"}, 128 + SIGPIPE}};
  for (const auto& [words, want] : cases) {
    SCOPED_TRACE(words[2]);
    int err[2];
    ASSERT_EQ(pipe(err), 0);
    close(err[0]);  // every write to it fails with EPIPE and raises SIGPIPE
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      sigrelay::test::reset_signal_state();
      dup2(err[1], 2);
      std::vector<char*> argv;
      for (const std::string& w : words) argv.push_back(const_cast<char*>(w.c_str()));
      argv.push_back(const_cast<char*>("true"));
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(err[1]);
    EXPECT_TRUE(sigrelay::test::exited_with(sigrelay::test::wait_with_deadline(pid, 10), want));
  }
}

TEST(run_native, verbose_names_each_sender) {
  process p(sigrelay_bin, {"run", "-v", "--", probe, "wait"});
  ASSERT_TRUE(p.wait_for_output("ready")) << p.output();
  ASSERT_EQ(kill(p.pid(), SIGUSR1), 0);
  ASSERT_TRUE(p.wait_for_output("got SIGUSR1")) << p.output();
  union sigval value {};
  value.sival_int = 7;
  ASSERT_EQ(sigqueue(p.pid(), SIGUSR2, value), 0);
  ASSERT_TRUE(p.wait_for_output("got SIGUSR2")) << p.output();
  ASSERT_EQ(kill(p.pid(), SIGTERM), 0);
  const int status = p.finish();
  EXPECT_EQ(exit_code(status), 42) << p.output();
  const std::string me = std::to_string(getpid());
  EXPECT_NE(p.output().find("SIGUSR1 from pid " + me + " ("), std::string::npos) << p.output();
  EXPECT_NE(p.output().find(", uid " + std::to_string(getuid()) + ", user, trusted)"), std::string::npos)
      << p.output();
  EXPECT_NE(p.output().find("SIGUSR2 from pid " + me), std::string::npos) << p.output();
  EXPECT_NE(p.output().find("forgeable"), std::string::npos) << p.output();
}

// The init's own scheduler slice (run_init.cc, design notes; run_init.hpp, Scheduling): 10 ms once
// the child is forked, where the kernel has per-task slices, with the policy and nice value the init
// was started with; the child keeps every attribute it was started with (a slice is inherited across
// fork(): set before it, the child would have the init's); under another policy than SCHED_OTHER
// nothing changes. In each dialect. The probe reports its own attributes and its parent's (the init's).

// Whether this kernel keeps a slice set with sched_setattr() for SCHED_OTHER (Linux 6.12 and later):
// a forked child sets one and reads it back.
bool per_task_slices_here() {
  const pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    sigrelay::test::sched_attributes a{};
    if (syscall(SYS_sched_getattr, 0, &a, sizeof a, 0) != 0 || a.sched_policy != SCHED_OTHER) _exit(1);
    a.size = sizeof a;
    a.sched_runtime = 10'000'000;
    if (syscall(SYS_sched_setattr, 0, &a, 0) != 0) _exit(1);
    sigrelay::test::sched_attributes b{};
    _exit(syscall(SYS_sched_getattr, 0, &b, sizeof b, 0) == 0 && b.sched_runtime == 10'000'000 ? 0 : 1);
  }
  int status = 0;
  return waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// The probe's line that starts with `who` ("self " or "parent "), without it; "" if none.
std::string sched_line(const std::string& output, const std::string& who) {
  std::istringstream lines(output);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(who, 0) == 0) return line.substr(who.size());
  }
  return "";
}

TEST(run_all_dialects, set_the_inits_own_slice_after_the_fork_and_leave_the_childs_alone) {
  // Whatever this test was started with is what each init is started with, and so its child.
  sigrelay::test::sched_attributes mine{};
  ASSERT_EQ(syscall(SYS_sched_getattr, 0, &mine, sizeof mine, 0), 0);
  const bool slices = per_task_slices_here() && mine.sched_policy == SCHED_OTHER;
  const std::string started_with = sigrelay::test::sched_of(0);
  const std::string with_slice = "policy=" + std::to_string(mine.sched_policy) +
                                 " nice=" + std::to_string(mine.sched_nice) + " slice=10000000";
  for (const char* compat : {"", "--compat=tini", "--compat=dumb-init"}) {
    std::vector<std::string> args = {"run"};
    if (*compat != '\0') args.emplace_back(compat);
    // The init sets its slice after the fork: where it does, the probe waits until it has.
    args.insert(args.end(), {"--", probe, "sched"});
    if (slices) args.emplace_back("settled");
    SCOPED_TRACE(std::string("sigrelay run ") + compat +
                 (slices ? " (per-task slices here)" : " (none here)"));
    process p(sigrelay_bin, args);
    ASSERT_EQ(exit_code(p.finish()), 0) << p.output();
    EXPECT_EQ(sched_line(p.output(), "self "), started_with) << p.output();
    EXPECT_EQ(sched_line(p.output(), "parent "), slices ? with_slice : started_with) << p.output();
  }
  // `-vv` says which (native mode).
  {
    process p(sigrelay_bin, {"run", "-vv", "--", probe, "exit", "0"});
    ASSERT_EQ(exit_code(p.finish()), 0) << p.output();
    EXPECT_NE(p.output().find(slices ? "scheduler slice of the init: 10 ms"
                                     : "scheduler slice of the init: unchanged"),
              std::string::npos)
        << p.output();
  }
  // Started with a nice value: both keep it.
  if (mine.sched_policy == SCHED_OTHER && mine.sched_nice <= 16) {
    process p("/usr/bin/nice",
              {"-n", "3", sigrelay_bin, "run", "--", probe, "sched", slices ? "settled" : "now"});
    ASSERT_EQ(exit_code(p.finish()), 0) << p.output();
    const std::string nice = " nice=" + std::to_string(mine.sched_nice + 3) + " ";
    EXPECT_NE(sched_line(p.output(), "self ").find(nice), std::string::npos) << p.output();
    EXPECT_NE(sched_line(p.output(), "parent ").find(nice), std::string::npos) << p.output();
    if (slices) {
      EXPECT_NE(sched_line(p.output(), "parent ").find(" slice=10000000"), std::string::npos) << p.output();
    }
  }
  // Under SCHED_BATCH (chrt -b): nothing set; the init's attributes are the child's.
  if (access("/usr/bin/chrt", X_OK) == 0) {
    process p("/usr/bin/chrt", {"-b", "0", sigrelay_bin, "run", "--", probe, "sched"});
    ASSERT_EQ(exit_code(p.finish()), 0) << p.output();
    const std::string child = sched_line(p.output(), "self ");
    EXPECT_EQ(child.rfind("policy=" + std::to_string(SCHED_BATCH) + " ", 0), 0U) << p.output();
    EXPECT_EQ(sched_line(p.output(), "parent "), child) << p.output();
  }
}

TEST(run_native, help_reads_like_a_man_page) {
  process p(sigrelay_bin, {"run", "--help"});
  EXPECT_EQ(exit_code(p.finish()), 0);
  for (const char* section :
       {"NAME", "SYNOPSIS", "DESCRIPTION", "Options:", "EXIT STATUS", "ENVIRONMENT", "EXAMPLES"}) {
    EXPECT_NE(p.output().find(section), std::string::npos) << section;
  }
}

TEST(run_native, compat_must_come_first_and_program_is_required) {
  process late(sigrelay_bin, {"run", "-v", "--compat=tini", "--", "true"});
  EXPECT_NE(exit_code(late.finish()), 0);
  EXPECT_NE(late.output().find("must come first"), std::string::npos) << late.output();
  process none(sigrelay_bin, {"run", "-v"});
  EXPECT_NE(exit_code(none.finish()), 0);
  EXPECT_NE(none.output().find("PROGRAM"), std::string::npos) << none.output();
}

// ---- The lean init (run_init.cc, run.cc's early entry) ---------------------------------------

// Runs `argv` (then the probe with `probe_args`) with SIGCHLD ignored, as an init may be started;
// returns the wait status, and the output in `output`.
int run_with_sigchld_ignored(const std::vector<std::string>& argv, const std::vector<std::string>& probe_args,
                             std::string& output) {
  int out[2];
  if (pipe(out) != 0) return -1;
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    dup2(out[1], 1);
    dup2(out[1], 2);
    close(out[0]);
    close(out[1]);
    sigrelay::test::reset_signal_state();
    signal(SIGCHLD, SIG_IGN);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(const_cast<char*>(probe.c_str()));
    for (const std::string& a : probe_args) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  close(out[1]);
  char buffer[512];
  for (ssize_t n; (n = read(out[0], buffer, sizeof buffer)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    output.append(buffer, static_cast<std::size_t>(n));
  }
  close(out[0]);
  return sigrelay::test::wait_with_deadline(pid, 20);
}

// An init started with SIGCHLD ignored still gets its child's status (the kernel would otherwise
// reap the child itself), and the child gets the SIG_IGN back. Ours only: tini and dumb-init leave
// SIGCHLD as they find it.
TEST(run_lean, inherited_sigchld_ignore_keeps_the_status_and_reaches_the_child) {
  for (const init_kind& k : {native({}), tini_family({})[1], dumb_init_family({})[1]}) {
    std::string output;
    const int status = run_with_sigchld_ignored(k.argv, {"exit", "7"}, output);
    EXPECT_EQ(exit_code(status), 7) << k.name << ": " << describe_status(status) << output;
    output.clear();
    const int state = run_with_sigchld_ignored(k.argv, {"state"}, output);
    EXPECT_EQ(exit_code(state), 0) << k.name << ": " << describe_status(state) << output;
    const std::string ignored_text = word_after(output, "ignored=");
    ASSERT_FALSE(ignored_text.empty()) << k.name << ": " << output;
    const unsigned long long chld_bit = 1ULL << (SIGCHLD - 1);
    EXPECT_EQ(std::stoull(ignored_text, nullptr, 16) & chld_bit, chld_bit)
        << k.name << ": SIGCHLD no longer ignored in the child: " << output;
  }
}

// `sigrelay run` command lines read before CLI11 (run.cc's fast_run) and those left to CLI11 mean
// the same: -e in plain decimal and in CLI11's octal, clustered flags, --opt=value, a bad value.
TEST(run_lean, early_and_cli11_command_lines_agree) {
  struct scenario {
    std::vector<std::string> options;
    std::string exit_with;
    int expected;
  } scenarios[] = {
      {{"-e", "10"}, "10", 0},                  // fast path
      {{"-e", "10"}, "8", 8},                   // fast path, another status
      {{"-e", "010"}, "8", 0},                  // CLI11: 010 is octal 8
      {{"-vw", "--success-status=3"}, "3", 0},  // a cluster and --opt=value
      {{"--rewrite", "USR1:0", "-g"}, "5", 5},
  };
  for (const scenario& sc : scenarios) {
    std::vector<std::string> args{"run"};
    args.insert(args.end(), sc.options.begin(), sc.options.end());
    args.insert(args.end(), {"--", probe, "exit", sc.exit_with});
    process p(sigrelay_bin, args);
    const int status = p.finish();
    EXPECT_EQ(exit_code(status), sc.expected) << sc.options[0] << " " << sc.exit_with << ": " << p.output();
  }
  process bad(sigrelay_bin, {"run", "-e", "300", "--", probe, "state"});
  const int status = bad.finish();
  EXPECT_GE(exit_code(status), 105) << bad.output();
  EXPECT_LE(exit_code(status), 114) << bad.output();
  EXPECT_EQ(bad.output().find("ignored="), std::string::npos) << "the program ran: " << bad.output();
  EXPECT_NE(bad.output().find("300"), std::string::npos) << bad.output();
}

}  // namespace

// ==== Issue 11's remaining options, side by side (tini, dumb-init, sigrelay run) ====================
namespace {

// Every line with its digit runs replaced by N (pids differ from run to run).
std::vector<std::string> normalized_lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    std::string norm;
    for (std::size_t i = 0; i < line.size(); ++i) {
      if (std::isdigit(static_cast<unsigned char>(line[i])) == 0) {
        norm += line[i];
      } else if (norm.empty() || norm.back() != 'N') {
        norm += 'N';
      }
    }
    out.push_back(norm);
  }
  return out;
}

bool has_line(const std::vector<std::string>& lines, const std::string& line) {
  return std::find(lines.begin(), lines.end(), line) != lines.end();
}

// Runs `env... argv...` (through /usr/bin/env) to its end; returns {status, output}.
std::pair<int, std::string> run_to_end(const std::vector<std::string>& env, std::vector<std::string> argv) {
  argv.insert(argv.begin(), env.begin(), env.end());
  process p("/usr/bin/env", argv);
  const int status = p.finish();
  return {status, p.output()};
}

// TINI_VERBOSITY and repeated -v: at each verbosity, tini and ours print the same WARN and INFO lines
// (pids aside), and every DEBUG or TRACE line of ours is one tini prints at that verbosity too, at the
// same level (tini has more of them: "Received SIGCHLD", "Reaped child with pid").
TEST(run_tini_verbosity, each_level_prints_what_tini_prints) {
  struct setting {
    std::vector<std::string> env;
    std::vector<std::string> options;
  };
  const std::vector<setting> settings = {{{"TINI_VERBOSITY=0"}, {}},
                                         {{"TINI_VERBOSITY=1"}, {}},
                                         {{"TINI_VERBOSITY=2"}, {}},
                                         {{"TINI_VERBOSITY=3"}, {"-s"}},
                                         {{"TINI_VERBOSITY=4"}, {"-s"}},
                                         {{}, {"-s"}},
                                         {{}, {"-s", "-v"}},
                                         {{}, {"-s", "-vv"}},
                                         {{}, {"-s", "-v", "-v", "-v"}},
                                         {{"TINI_VERBOSITY=0"}, {"-vvv"}},
                                         {{"TINI_VERBOSITY=2"}, {"-s"}}};
  for (const setting& s : settings) {
    std::string label;
    for (const auto& e : s.env) label += e + " ";
    for (const auto& o : s.options) label += o + " ";
    SCOPED_TRACE(label);
    std::vector<std::vector<std::string>> outputs;
    for (const init_kind& k : tini_family(s.options)) {
      std::vector<std::string> argv = k.argv;
      argv.push_back(probe);
      argv.push_back("exit");
      argv.push_back("0");
      const auto [status, output] = run_to_end(s.env, argv);
      EXPECT_EQ(exit_code(status), 0) << k.name << ": " << output;
      outputs.push_back(normalized_lines(as_named(output, "/usr/bin/tini", "tini")));
    }
    const std::vector<std::string>& theirs = outputs[0];
    for (std::size_t i = 1; i < outputs.size(); ++i) {
      const std::vector<std::string>& ours = outputs[i];
      // Every line, DEBUG and TRACE too, but tini's "No child to reap": it also reaps when its
      // one-second sigtimedwait() times out, and says so at TRACE, a matter of timing.
      const auto timed = [](const std::string& line) {
        return line.find("No child to reap") != std::string::npos;
      };
      for (const std::string& line : theirs) {
        if (timed(line)) continue;
        EXPECT_TRUE(has_line(ours, line)) << "missing: " << line;
      }
      for (const std::string& line : ours) {
        if (timed(line)) continue;
        EXPECT_TRUE(has_line(theirs, line)) << "not tini's: " << line;
      }
    }
  }
}

// A program that cannot be run, at -vvv: tini says "Spawned child process" all the same (the fork
// worked), then its child's FATAL line, then the child's end with 127 or 126; so do ours, line for
// line. Two lines of tini's are left out of the comparison: its child leaves through exit(), which
// flushes the stdout buffer it inherited, so "Registered as child subreaper" comes twice and the
// child's "tcsetpgrp failed" appears (lost when the exec works); ours prints neither.
TEST(run_tini_verbosity, an_exec_failure_prints_what_tini_prints) {
  for (const char* program : {"/nonexistent/program", "/etc/passwd"}) {
    SCOPED_TRACE(program);
    std::vector<std::vector<std::string>> outputs;
    for (const init_kind& k : tini_family({"-s", "-vvv"})) {
      std::vector<std::string> argv = k.argv;
      argv.push_back(program);
      const auto [status, output] = run_to_end({}, argv);
      EXPECT_EQ(exit_code(status), std::string(program) == "/etc/passwd" ? 126 : 127)
          << k.name << ": " << output;
      outputs.push_back(normalized_lines(as_named(output, "/usr/bin/tini", "tini")));
      EXPECT_TRUE(has_line(outputs.back(), "[INFO  tini (N)] Spawned child process '" + std::string(program) +
                                               "' with pid 'N'"))
          << k.name << ": " << output;
    }
    const auto artefact = [](const std::string& line) {
      return line.find("tcsetpgrp failed") != std::string::npos;
    };
    for (std::size_t i = 1; i < outputs.size(); ++i) {
      for (const std::string& line : outputs[0]) {
        if (artefact(line)) continue;
        EXPECT_TRUE(has_line(outputs[i], line)) << "missing: " << line;
      }
      for (const std::string& line : outputs[i])
        EXPECT_TRUE(has_line(outputs[0], line)) << "not tini's: " << line;
    }
  }
}

// -e is repeatable: each code given maps to 0, others pass through.
TEST(run_tini_options, success_status_is_repeatable) {
  std::vector<init_kind> kinds = tini_family({"-s", "-e", "3", "-e", "4"});
  kinds.push_back(native({"-e", "3", "--success-status", "4"}));
  for (const init_kind& k : kinds) {
    for (const auto& [code, want] : std::vector<std::pair<int, int>>{{3, 0}, {4, 0}, {5, 5}, {0, 0}}) {
      auto p = start(k, {"exit", std::to_string(code)});
      const int status = p->finish();
      EXPECT_EQ(exit_code(status), want) << k.name << " child exit " << code << ": " << p->output();
    }
  }
}

// -l prints a licence (MIT, each its own copyright line) and exits 0 without running anything.
TEST(run_tini_options, l_prints_the_licence) {
  for (const init_kind& k : tini_family({"-l"})) {
    auto p = start(k, {"exit", "3"});
    const int status = p->finish();
    EXPECT_EQ(exit_code(status), 0) << k.name << ": " << p->output();
    EXPECT_EQ(p->output().rfind("The MIT License (MIT)\n", 0), 0u) << k.name << ": " << p->output();
    EXPECT_NE(p->output().find("THE SOFTWARE IS PROVIDED \"AS IS\""), std::string::npos) << k.name;
  }
}

// Not PID 1 and no -s: tini warns that zombie reaping won't work (the same three lines from ours);
// with -s, TINI_SUBREAPER or as PID 1 it does not. `sigrelay run` registers as a subreaper on its own
// and warns only with --no-subreaper.
TEST(run_tini_options, warns_when_not_pid_1_and_not_a_subreaper) {
  std::vector<std::string> warning_of_tini;
  for (const init_kind& k : tini_family({})) {
    auto p = start(k, {"exit", "0"});
    EXPECT_EQ(exit_code(p->finish()), 0) << k.name;
    std::vector<std::string> lines = normalized_lines(as_named(p->output(), "/usr/bin/tini", "tini"));
    ASSERT_EQ(lines.size(), 3u) << k.name << ": " << p->output();
    EXPECT_EQ(lines[0],
              "[WARN  tini (N)] Tini is not running as PID N and isn't registered as a child subreaper.")
        << k.name;
    if (warning_of_tini.empty()) {
      warning_of_tini = lines;
    } else {
      EXPECT_EQ(lines, warning_of_tini) << k.name;
    }
  }
  for (const init_kind& k : tini_family({"-s"})) {
    auto p = start(k, {"exit", "0"});
    EXPECT_EQ(exit_code(p->finish()), 0) << k.name;
    EXPECT_EQ(p->output(), "") << k.name;
  }
  for (const init_kind& k : tini_family({})) {
    const auto [status, output] = run_to_end({"TINI_SUBREAPER=1"}, [&] {
      std::vector<std::string> a = k.argv;
      a.insert(a.end(), {probe, "exit", "0"});
      return a;
    }());
    EXPECT_EQ(exit_code(status), 0) << k.name;
    EXPECT_EQ(output, "") << k.name;
  }
  if (unshare_works()) {
    for (const init_kind& k : tini_family({})) {
      auto p = start(k, {"exit", "0"}, false, true);
      EXPECT_EQ(exit_code(p->finish()), 0) << k.name;
      EXPECT_EQ(p->output(), "") << k.name << " as PID 1";
    }
  }
  {
    auto p = start(native({}), {"exit", "0"});
    EXPECT_EQ(exit_code(p->finish()), 0);
    EXPECT_EQ(p->output(), "");
  }
  {
    auto p = start(native({"--no-subreaper"}), {"exit", "0"});
    EXPECT_EQ(exit_code(p->finish()), 0);
    EXPECT_EQ(p->output(),
              "sigrelay run: not PID 1 and not a child subreaper: orphaned descendants will not be reaped by "
              "this init\n");
  }
}

// Reads `fd` until `text` appears in `out` or the deadline; false at EOF or past the deadline.
bool read_until(int fd, std::string& out, const std::string& text, unsigned seconds = 20) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (text.empty() || out.find(text) == std::string::npos) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd pfd{fd, POLLIN, 0};
    const int r = poll(&pfd, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    char buffer[512];
    const ssize_t n = read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return text.empty();
    out.append(buffer, static_cast<std::size_t>(n));
  }
  return true;
}

// -p SIGNAL: when the init's parent dies, the init gets SIGNAL and passes it on like any other. The
// test (a child subreaper, in a forked child) starts a middle process that starts the init; killing
// the middle one makes the init an orphan of ours, which the kernel sends SIGTERM; the probe gets it
// and exits 42, and so does the init.
TEST(run_tini_options, parent_death_signal_is_forwarded) {
  std::vector<init_kind> kinds = tini_family({"-s", "-p", "SIGTERM"});
  kinds.push_back(native({"-p", "TERM"}));
  for (const init_kind& k : kinds) {
    SCOPED_TRACE(k.name);
    SIGRELAY_IN_CHILD(
        [&k] {
          ASSERT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
          int out[2];
          int report[2];
          ASSERT_EQ(pipe2(out, O_CLOEXEC), 0);
          ASSERT_EQ(pipe2(report, O_CLOEXEC), 0);
          std::vector<char*> argv;
          for (const std::string& a : k.argv) argv.push_back(const_cast<char*>(a.c_str()));
          argv.push_back(const_cast<char*>(probe.c_str()));
          argv.push_back(const_cast<char*>("wait"));
          argv.push_back(nullptr);
          std::fflush(nullptr);
          const pid_t middle = fork();
          ASSERT_GE(middle, 0);
          if (middle == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlives the test
            const pid_t init = fork();
            if (init == 0) {
              dup2(out[1], 1);
              dup2(out[1], 2);
              execv(argv[0], argv.data());
              _exit(127);
            }
            (void)!write(report[1], &init, sizeof init);
            for (;;) pause();  // until the test kills it
          }
          close(out[1]);
          close(report[1]);
          pid_t init = 0;
          ASSERT_EQ(read(report[0], &init, sizeof init), static_cast<ssize_t>(sizeof init));
          close(report[0]);
          std::string output;
          const bool ready = read_until(out[0], output, "ready pid=");
          ASSERT_EQ(kill(middle, SIGKILL), 0);
          EXPECT_TRUE(sigrelay::test::killed_by(sigrelay::test::wait_with_deadline(middle, 20), SIGKILL));
          ASSERT_TRUE(ready) << output;  // (after the middle process is gone, the init ends either way)
          EXPECT_TRUE(read_until(out[0], output, "got SIGTERM")) << output;
          read_until(out[0], output, "");  // to EOF: the init and the probe are gone
          close(out[0]);
          // The init is our child now (we are its nearest subreaper).
          const int status = sigrelay::test::wait_with_deadline(init, 20);
          EXPECT_EQ(exit_code(status), 42) << describe_status(status) << output;
        },
        60);
  }
}

// dumb-init -c (and DUMB_INIT_SETSID=0; and `sigrelay run` by default): only the child gets the
// signal, a grandchild in its process group does not. The proof is ordered: after the child printed
// SIGUSR1, the test sends SIGUSR2 to the grandchild; had the init signalled the group, SIGUSR1 would
// already be pending there and, lower-numbered, be handled first (run_probe's handlers block every
// signal). dumb-init's default setsid mode is the control: there the grandchild gets it.
TEST(run_dumb_init_options, single_child_mode_signals_only_the_child) {
  struct mode {
    init_kind kind;
    const char* env;
    bool group;
  };
  std::vector<mode> modes;
  for (const auto& k : dumb_init_family({"-c"})) modes.push_back({k, nullptr, false});
  for (const auto& k : dumb_init_family({"--single-child"})) modes.push_back({k, nullptr, false});
  for (const auto& k : dumb_init_family({})) modes.push_back({k, "DUMB_INIT_SETSID=0", false});
  modes.push_back({native({}), nullptr, false});
  for (const auto& k : dumb_init_family({})) modes.push_back({k, nullptr, true});
  modes.push_back({native({"--setsid"}, family::dumb_init), nullptr, true});
  for (const mode& m : modes) {
    SCOPED_TRACE(std::string(m.kind.name) + (m.env != nullptr ? std::string(" ") + m.env : "") +
                 (m.group ? " (group)" : " (child only)"));
    std::vector<std::string> argv;
    if (m.env != nullptr) argv.push_back(m.env);
    argv.insert(argv.end(), m.kind.argv.begin(), m.kind.argv.end());
    argv.insert(argv.end(), {probe, "wait", "group"});
    process p("/usr/bin/env", argv);
    ASSERT_TRUE(p.wait_for_output("ready pid=")) << p.output();
    const std::string grandchild_text = word_after(p.output(), "grandchild=");
    ASSERT_FALSE(grandchild_text.empty()) << p.output();
    const pid_t grandchild = static_cast<pid_t>(std::stoi(grandchild_text));
    ASSERT_EQ(kill(p.pid(), SIGUSR1), 0);
    ASSERT_TRUE(p.wait_for_output("\ngot SIGUSR1")) << p.output();
    ASSERT_EQ(kill(grandchild, SIGUSR2), 0);
    ASSERT_TRUE(p.wait_for_output("grandchild got SIGUSR2")) << p.output();
    const std::size_t usr1 = p.output().find("grandchild got SIGUSR1");
    if (m.group) {
      EXPECT_LT(usr1, p.output().find("grandchild got SIGUSR2")) << p.output();
    } else {
      EXPECT_EQ(usr1, std::string::npos) << p.output();
    }
    ASSERT_EQ(kill(grandchild, SIGTERM), 0);
    ASSERT_TRUE(p.wait_for_output("grandchild got SIGTERM")) << p.output();
    ASSERT_EQ(kill(p.pid(), SIGTERM), 0);
    const int status = p.finish();
    EXPECT_EQ(exit_code(status), 42) << describe_status(status) << p.output();
  }
}

// DUMB_INIT_DEBUG=1 and -v: dumb-init's debug lines (pids aside). Ours prints a subset: every line of
// ours is one dumb-init prints, and these always: the mode, the spawn, the child's end, the SIGTERM
// to the group, goodbye; "Running in debug mode." only for DUMB_INIT_DEBUG. (dumb-init's child also says
// "setsid complete." and its loop "Received signal 17."; ours does not.) Without either, both print nothing.
TEST(run_dumb_init_options, debug_output_matches_dumb_init) {
  const std::vector<std::string> always = {
      "[dumb-init] Running in debug mode.", "[dumb-init] Child spawned with PID N.",
      "[dumb-init] A child with PID N exited with exit status N.",
      "[dumb-init] Forwarded signal N to children.", "[dumb-init] Child exited with status N. Goodbye."};
  for (const bool by_env : {true, false}) {
    SCOPED_TRACE(by_env ? "DUMB_INIT_DEBUG=1" : "-v");
    std::vector<std::vector<std::string>> outputs;
    for (const init_kind& k :
         dumb_init_family(by_env ? std::vector<std::string>{} : std::vector<std::string>{"-v"})) {
      std::vector<std::string> argv = k.argv;
      argv.insert(argv.end(), {probe, "exit", "3"});
      const auto [status, output] = run_to_end(
          by_env ? std::vector<std::string>{"DUMB_INIT_DEBUG=1"} : std::vector<std::string>{}, argv);
      EXPECT_EQ(exit_code(status), 3) << k.name << ": " << output;
      outputs.push_back(normalized_lines(output));
      for (const std::string& line : always) {
        if (!by_env && line == always[0]) {  // -v turns debug on without saying so (as dumb-init does)
          EXPECT_FALSE(has_line(outputs.back(), line)) << k.name << ": " << output;
        } else {
          EXPECT_TRUE(has_line(outputs.back(), line)) << k.name << ": " << output;
        }
      }
    }
    // Line for line, both ways: the child's own lines about setsid() and each "Received signal"
    // included.
    for (std::size_t i = 1; i < outputs.size(); ++i) {
      for (const std::string& line : outputs[i])
        EXPECT_TRUE(has_line(outputs[0], line)) << "not dumb-init's: " << line;
      for (const std::string& line : outputs[0])
        EXPECT_TRUE(has_line(outputs[i], line)) << "missing: " << line;
    }
  }
  for (const init_kind& k : dumb_init_family({})) {
    auto p = start(k, {"exit", "3"});
    EXPECT_EQ(exit_code(p->finish()), 3) << k.name;
    EXPECT_EQ(p->output(), "") << k.name;
  }
}

// The SIGTERM that follows the child's end, in each mode and through -r: the same lines as dumb-init,
// both ways. In single-child mode dumb-init sends it to the pid it has just reaped ("Forwarded signal
// 15 to children."); ours goes through the child's pidfd (refused: the child is gone) and says the
// same. Rewritten to 0, dumb-init names the signal after its translation: "Not forwarding signal 0".
TEST(run_dumb_init_options, the_sigterm_after_the_end_is_logged_as_dumb_init_logs_it) {
  const std::vector<std::vector<std::string>> option_sets = {
      {"-c", "-v"}, {"-c", "-v", "-r", "15:0"}, {"-c", "-v", "-r", "15:3"}, {"-v", "-r", "15:0"}};
  for (const auto& options : option_sets) {
    std::string joined;
    for (const std::string& o : options) joined += o + " ";
    SCOPED_TRACE(joined);
    const std::string expected = joined.find("15:0") != std::string::npos
                                     ? "[dumb-init] Not forwarding signal 0 to children (ignored).\n"
                                 : joined.find("15:3") != std::string::npos
                                     ? "[dumb-init] Forwarded signal 3 to children.\n"
                                     : "[dumb-init] Forwarded signal 15 to children.\n";
    std::vector<std::vector<std::string>> outputs;
    for (const init_kind& k : dumb_init_family(options)) {
      std::vector<std::string> argv = k.argv;
      argv.insert(argv.end(), {probe, "exit", "3"});
      const auto [status, output] = run_to_end({}, argv);
      EXPECT_EQ(exit_code(status), 3) << k.name << ": " << output;
      EXPECT_NE(output.find(expected), std::string::npos) << k.name << ": " << output;
      outputs.push_back(normalized_lines(output));
    }
    for (std::size_t i = 1; i < outputs.size(); ++i) {
      for (const std::string& line : outputs[i])
        EXPECT_TRUE(has_line(outputs[0], line)) << "not dumb-init's: " << line;
      for (const std::string& line : outputs[0])
        EXPECT_TRUE(has_line(outputs[i], line)) << "missing: " << line;
    }
  }
}

// As a session leader on a terminal, the init ignores the first SIGHUP and SIGCONT (caused by its
// handing the terminal over to the child's new session): the child never gets them. The check is
// ordered: those two were pending at the init before the probe was ready, and SIGWINCH, sent after,
// is numbered above both; the probe gets SIGWINCH, so any forwarded SIGHUP or SIGCONT would have come
// first. A later SIGHUP is forwarded as usual.
TEST(run_dumb_init_options, first_hangup_and_continue_of_the_handoff_are_ignored) {
  std::vector<init_kind> kinds = dumb_init_family({});
  kinds.push_back(native({"--setsid"}, family::dumb_init));
  for (const init_kind& k : kinds) {
    SCOPED_TRACE(k.name);
    auto p = start(k, {"wait"}, true);
    ASSERT_TRUE(p->wait_for_output("ready")) << p->output();
    ASSERT_EQ(kill(p->pid(), SIGWINCH), 0);
    ASSERT_TRUE(p->wait_for_output("got SIGWINCH")) << p->output();
    EXPECT_EQ(p->output().find("got SIGHUP"), std::string::npos) << p->output();
    EXPECT_EQ(p->output().find("got SIGCONT"), std::string::npos) << p->output();
    ASSERT_EQ(kill(p->pid(), SIGHUP), 0);
    EXPECT_TRUE(p->wait_for_output("got SIGHUP")) << p->output();
    ASSERT_EQ(kill(p->pid(), SIGTERM), 0);
    const int status = p->finish();
    EXPECT_EQ(exit_code(status), 42) << describe_status(status) << p->output();
  }
}

// SIGTSTP stops the whole group, not only the child: the grandchild in its group is stopped as well
// (SIGSTOP to the group), the init stops itself, and SIGCONT to the init wakes all three.
TEST(run_dumb_init_options, tstp_stops_the_whole_group_and_cont_wakes_it) {
  std::vector<init_kind> kinds = dumb_init_family({});
  kinds.push_back(native({"--setsid"}, family::dumb_init));
  for (const init_kind& k : kinds) {
    SCOPED_TRACE(k.name);
    auto p = start(k, {"wait", "group"}, true);
    ASSERT_TRUE(p->wait_for_output("ready pid=")) << p->output();
    const pid_t child = ready_pid(p->output());
    const std::string grandchild_text = word_after(p->output(), "grandchild=");
    ASSERT_FALSE(grandchild_text.empty()) << p->output();
    const pid_t grandchild = static_cast<pid_t>(std::stoi(grandchild_text));
    ASSERT_EQ(kill(p->pid(), SIGTSTP), 0);
    EXPECT_TRUE(wait_for_state(grandchild, 'T')) << "grandchild state " << proc_state(grandchild);
    EXPECT_TRUE(wait_for_state(child, 'T')) << "child state " << proc_state(child);
    EXPECT_TRUE(wait_for_state(p->pid(), 'T')) << "init state " << proc_state(p->pid());
    ASSERT_EQ(kill(p->pid(), SIGCONT), 0);
    ASSERT_TRUE(p->wait_for_output("grandchild got SIGCONT")) << p->output();
    ASSERT_TRUE(p->wait_for_output("\ngot SIGCONT")) << p->output();
    EXPECT_NE(proc_state(grandchild), 'T');
    EXPECT_NE(proc_state(child), 'T');
    EXPECT_NE(proc_state(p->pid()), 'T');
    ASSERT_EQ(kill(grandchild, SIGTERM), 0);
    ASSERT_TRUE(p->wait_for_output("grandchild got SIGTERM")) << p->output();
    ASSERT_EQ(kill(p->pid(), SIGTERM), 0);
    const int status = p->finish();
    EXPECT_EQ(exit_code(status), 42) << describe_status(status) << p->output();
  }
}

// Realtime signals are forwarded: SIGRTMIN+3 sent with sigqueue() and a payload reaches the child as
// the init's kill(): SI_USER, the init's pid, no payload (kill() carries none). tini does the same.
// (dumb-init forwards realtime signals as well; run_compat_audit_test.cc compares the fault signals.)
TEST(run_native, realtime_signals_are_forwarded_by_number) {
  std::vector<init_kind> kinds = tini_family({"-s"});
  kinds.push_back(native({}));
  kinds.push_back(native({"-g"}));
  for (const init_kind& k : kinds) {
    SCOPED_TRACE(k.name);
    auto p = start(k, {"wait"});
    ASSERT_TRUE(p->wait_for_output("ready")) << p->output();
    union sigval value {};
    value.sival_int = 1234;
    ASSERT_EQ(sigqueue(p->pid(), SIGRTMIN + 3, value), 0);
    ASSERT_TRUE(p->wait_for_output("got SIGRTMIN+3 ")) << p->output();
    EXPECT_NE(p->output().find("got SIGRTMIN+3 code " + std::to_string(SI_USER) + " pid " +
                               std::to_string(p->pid()) + " value 0\n"),
              std::string::npos)
        << p->output();
    ASSERT_EQ(kill(p->pid(), SIGTERM), 0);
    const int status = p->finish();
    EXPECT_EQ(exit_code(status), 42) << describe_status(status) << p->output();
  }
}

}  // namespace
