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

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "support/child.hpp"
#include "support/process.hpp"

namespace {

using sigrelay::test::describe_status;
using sigrelay::test::process;

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

int exit_code(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : -1; }

// The state letter of /proc/PID/stat ('S', 'R', 'T', ...), or '?'.
char proc_state(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  std::getline(in, text);
  const std::size_t close = text.rfind(')');
  return close == std::string::npos || close + 2 >= text.size() ? '?' : text[close + 2];
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

bool wait_for_state(pid_t pid, char want) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (proc_state(pid) == want) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return false;
}

// The characters after `key` up to a space or a line end ("" if `key` is absent).
std::string word_after(const std::string& text, const std::string& key) {
  const std::size_t at = text.find(key);
  if (at == std::string::npos) return "";
  const std::size_t start = at + key.size();
  return text.substr(start, text.find_first_of(" \n", start) - start);
}

pid_t ready_pid(const std::string& output) {
  const std::string pid = word_after(output, "ready pid=");
  return pid.empty() ? 0 : static_cast<pid_t>(std::stoi(pid));
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
