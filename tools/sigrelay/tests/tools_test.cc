// SPDX-License-Identifier: MIT
// tools/sigrelay/tests/tools_test.cc — `sigrelay watch`, `inspect`, `send` and `list`, run as real
// processes against real processes (tools_target, a forked child set up by the test, a shell job).
//
// Every test runs its body in a forked child under a watchdog (SIGRELAY_IN_CHILD), starts the programs
// with tests/support/process.hpp (which kills and reaps them if the test fails early), and ends every
// process it started: the targets exit on SIGHUP, the rest are reaped by their parents.
#include <gtest/gtest.h>

#include <sigrelay/registry.hpp>
#include <sigrelay/signals.hpp>

#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <csignal>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/child.hpp"
#include "support/process.hpp"

namespace {

using sigrelay::test::process;
using namespace std::chrono_literals;

const std::string kBin = SIGRELAY_BIN;
const std::string kTarget = TOOLS_TARGET;
const std::string kManPage = SIGRELAY_MAN_PAGE;
const std::string kCompletion = SIGRELAY_COMPLETION;
// Generous for a loaded 2-core machine under ThreadSanitizer; only a deadline, never a measure.
constexpr auto kWait = std::chrono::milliseconds(20000);
// The watchdog of each test body: longer than a few kWait, so that a failed wait reports itself.
constexpr unsigned kWatchdog = 120;

// ----- a small JSON checker: true if `text` is exactly one JSON value (RFC 8259 grammar) --------
class json_checker {
 public:
  explicit json_checker(std::string_view text) : s_(text) {}
  bool valid() {
    skip();
    if (!value()) return false;
    skip();
    return i_ == s_.size();
  }

 private:
  void skip() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\t' || s_[i_] == '\r')) ++i_;
  }
  bool eat(char c) {
    skip();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  bool literal(std::string_view w) {
    if (s_.substr(i_, w.size()) != w) return false;
    i_ += w.size();
    return true;
  }
  bool string() {
    if (!eat('"')) return false;
    while (i_ < s_.size() && s_[i_] != '"') {
      if (static_cast<unsigned char>(s_[i_]) < 0x20) return false;
      if (s_[i_] == '\\') {
        ++i_;
        if (i_ >= s_.size()) return false;
        if (s_[i_] == 'u') {
          for (int k = 0; k < 4; ++k) {
            if (++i_ >= s_.size() || !std::isxdigit(static_cast<unsigned char>(s_[i_]))) return false;
          }
        } else if (std::string_view("\"\\/bfnrt").find(s_[i_]) == std::string_view::npos) {
          return false;
        }
      }
      ++i_;
    }
    return eat('"');
  }
  bool number() {
    const std::size_t start = i_;
    if (i_ < s_.size() && s_[i_] == '-') ++i_;
    while (i_ < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[i_])) || s_[i_] == '.' ||
                              s_[i_] == 'e' || s_[i_] == 'E' || s_[i_] == '+' || s_[i_] == '-')) {
      ++i_;
    }
    return i_ > start && std::isdigit(static_cast<unsigned char>(s_[i_ - 1]));
  }
  bool value() {
    skip();
    if (i_ >= s_.size()) return false;
    const char c = s_[i_];
    if (c == '{') {
      ++i_;
      if (eat('}')) return true;
      do {
        if (!string() || !eat(':') || !value()) return false;
      } while (eat(','));
      return eat('}');
    }
    if (c == '[') {
      ++i_;
      if (eat(']')) return true;
      do {
        if (!value()) return false;
      } while (eat(','));
      return eat(']');
    }
    if (c == '"') return string();
    if (c == 't') return literal("true");
    if (c == 'f') return literal("false");
    if (c == 'n') return literal("null");
    return number();
  }
  std::string_view s_;
  std::size_t i_ = 0;
};

TEST(JsonChecker, TellsValidFromInvalid) {
  EXPECT_TRUE(json_checker(R"({"a":[1,-2.5e3,"x\n",true,null],"b":{}})").valid());
  EXPECT_FALSE(json_checker(R"({"a":1,})").valid());
  EXPECT_FALSE(json_checker(R"({"a":"unterminated})").valid());
  EXPECT_FALSE(json_checker(R"([1 2])").valid());
  EXPECT_FALSE(json_checker("{} {}").valid());
}

// ----- helpers ----------------------------------------------------------------------------------

struct result {
  int status;
  std::string output;
};

result run_tool(const std::vector<std::string>& args) {
  process p(kBin, args);
  const int status = p.finish(60);
  return {status, p.output()};
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// The first line of `text` that contains every one of `parts`; "" if none.
std::string line_with(const std::string& text, const std::vector<std::string>& parts) {
  for (const std::string& line : lines_of(text)) {
    bool all = true;
    for (const std::string& p : parts) all = all && line.find(p) != std::string::npos;
    if (all) return line;
  }
  return {};
}

// Waits until some line of `p`'s output contains every one of `parts`.
bool wait_for_line(process& p, const std::vector<std::string>& parts) {
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  while (line_with(p.output(), parts).empty()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    // wait_for_output returns once any new output arrives past what is there (a text never printed).
    p.wait_for_output("\x01never\x01", 200ms);
  }
  return true;
}

pid_t number_after(const std::string& text, const std::string& prefix) {
  const std::size_t at = text.find(prefix);
  if (at == std::string::npos) return -1;
  return static_cast<pid_t>(std::stol(text.substr(at + prefix.size())));
}

std::string self_comm() {
  std::ifstream in("/proc/self/comm");
  std::string comm;
  std::getline(in, comm);
  return comm;
}

std::string status_field(pid_t pid, const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(key + ":", 0) == 0) return line.substr(line.find_first_not_of(" \t", key.size() + 1));
  }
  return {};
}

// The two threads that tools_target `threads` or `handlers` starts, once both have said "thread TID
// ready" (fewer if the deadline passed first).
std::vector<pid_t> ready_threads(process& target) {
  std::vector<pid_t> tids;
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  for (;;) {
    tids.clear();
    for (const std::string& line : lines_of(target.output())) {
      if (line.rfind("thread ", 0) == 0 && line.find(" ready") != std::string::npos)
        tids.push_back(number_after(line, "thread "));
    }
    if (tids.size() >= 2 || std::chrono::steady_clock::now() >= deadline) return tids;
    target.wait_for_output("\x01never\x01", 200ms);
  }
}

// Waits until each of `tids` (threads of `pid`) is asleep in rt_sigtimedwait (/proc/TID/syscall).
bool asleep_in_sigwaitinfo(pid_t pid, const std::vector<pid_t>& tids) {
  for (const pid_t tid : tids) {
    const std::string file = "/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/syscall";
    const auto until = std::chrono::steady_clock::now() + kWait;
    for (long nr = -1; nr != SYS_rt_sigtimedwait; std::this_thread::sleep_for(10ms)) {
      if (std::chrono::steady_clock::now() >= until) return false;
      std::ifstream in(file);
      if (!(in >> nr)) nr = -1;
    }
  }
  return true;
}

// Whether this process may trace a child of its own (ptrace can be off in a container).
bool ptrace_permitted() {
  const pid_t child = fork();
  if (child == 0) {
    pause();
    _exit(0);
  }
  const bool ok = ptrace(PTRACE_SEIZE, child, nullptr, nullptr) == 0;
  kill(child, SIGKILL);
  waitpid(child, nullptr, __WALL);
  return ok;
}

// ----- list -------------------------------------------------------------------------------------

TEST(ToolsList, StandardAndRealtimeSignalsWithDefaults) {
  SIGRELAY_IN_CHILD(
      [] {
        const result r = run_tool({"list"});
        ASSERT_TRUE(sigrelay::test::exited_with(r.status, 0)) << r.output;
        const std::vector<std::string> lines = lines_of(r.output);
        const std::size_t realtime = static_cast<std::size_t>(SIGRTMAX - SIGRTMIN + 1);
        ASSERT_EQ(lines.size(), 1 + 31 + realtime) << r.output;  // a header, then one line per signal
        std::size_t standard = 0;
        for (const std::string& line : lines) {
          std::istringstream words(line);
          int number = 0;
          if (!(words >> number)) continue;
          if (number < 32) ++standard;
        }
        EXPECT_EQ(standard, 31u);
        const std::vector<std::pair<std::string, std::string>> defaults = {
            {" SIGHUP ", " Term "},   {" SIGQUIT ", " Core "},    {" SIGKILL ", " Term "},
            {" SIGSEGV ", " Core "},  {" SIGCHLD ", " Ign "},     {" SIGCONT ", " Cont "},
            {" SIGSTOP ", " Stop "},  {" SIGTSTP ", " Stop "},    {" SIGURG ", " Ign "},
            {" SIGWINCH ", " Ign "},  {" SIGXCPU ", " Core "},    {" SIGTERM ", " Term "},
            {" SIGRTMIN ", " Term "}, {" SIGRTMIN+1 ", " Term "}, {" SIGRTMAX ", " Term "}};
        for (const auto& [name, action] : defaults)
          EXPECT_NE(line_with(r.output, {name, action}), "") << name;
        EXPECT_NE(line_with(r.output, {std::to_string(SIGRTMIN) + "  SIGRTMIN "}), "") << r.output;
        EXPECT_EQ(line_with(r.output, {" 32 "}), "");  // reserved by the C library

        const result j = run_tool({"list", "--json"});
        ASSERT_TRUE(sigrelay::test::exited_with(j.status, 0)) << j.output;
        EXPECT_TRUE(json_checker(j.output).valid()) << j.output;
        std::size_t objects = 0;
        for (std::size_t at = 0; (at = j.output.find("\"number\":", at)) != std::string::npos; ++at)
          ++objects;
        EXPECT_EQ(objects, 31 + realtime);
        EXPECT_NE(j.output.find(R"({"number":17,"name":"SIGCHLD","default":"Ign")"), std::string::npos)
            << j.output;
      },
      kWatchdog);
}

// ----- send -------------------------------------------------------------------------------------

TEST(ToolsSend, EachModeDeliversWhatTheReceiverSees) {
  SIGRELAY_IN_CHILD(
      [] {
        process target(kTarget, {"receive"});
        ASSERT_TRUE(target.wait_for_output("ready ", kWait)) << target.output();
        ASSERT_TRUE(wait_for_line(target, {"ready "}));
        const std::string pid = std::to_string(target.pid());

        auto send = [&](const std::vector<std::string>& args) {
          process s(kBin, args);
          const pid_t sender = s.pid();
          EXPECT_TRUE(sigrelay::test::exited_with(s.finish(60), 0)) << s.output();
          return std::to_string(sender);
        };
        // kill: SI_USER (0), the sender's pid filled in by the kernel.
        std::string sender = send({"send", "USR1", pid});
        EXPECT_TRUE(wait_for_line(target, {"got SIGUSR1 total 1 code 0 pid " + sender + " "}))
            << target.output();
        // sigqueue: SI_QUEUE (-1) and the value.
        sender = send({"send", "--value", "42", "RTMIN+1", pid});
        EXPECT_TRUE(wait_for_line(target, {"got SIGRTMIN+1 total 1 code -1 pid " + sender + " ", "value 42"}))
            << target.output();
        // pidfd_send_signal: as kill.
        sender = send({"send", "--pidfd", "SIGUSR2", pid});
        EXPECT_TRUE(wait_for_line(target, {"got SIGUSR2 total 1 code 0 pid " + sender + " "}))
            << target.output();
        // pidfd_send_signal with a value: SI_QUEUE.
        sender = send({"send", "--pidfd", "--value", "9", std::to_string(SIGRTMIN), pid});
        EXPECT_TRUE(wait_for_line(target, {"got SIGRTMIN total 1 code -1 pid " + sender + " ", "value 9"}))
            << target.output();
        // The null signal (kill -0), in each mode: status 0 for a live process, nothing delivered.
        const std::size_t lines = lines_of(target.output()).size();
        send({"send", "0", pid});
        send({"send", "--pidfd", "0", pid});
        send({"send", "--value", "1", "0", pid});
        send({"send", "HUP", pid});
        EXPECT_TRUE(sigrelay::test::exited_with(target.finish(60), 0)) << target.output();
        const std::vector<std::string> after = lines_of(target.output());
        for (std::size_t i = lines; i < after.size(); ++i) {
          if (after[i].find("got ") != std::string::npos) {
            EXPECT_EQ(after[i].find("got SIGHUP "), 0u) << after[i];
          }
        }
      },
      kWatchdog);
}

TEST(ToolsSend, ThreadModeReachesOnlyThatThread) {
  SIGRELAY_IN_CHILD(
      [] {
        process target(kTarget, {"threads"});
        ASSERT_TRUE(wait_for_line(target, {"thread "}));
        ASSERT_TRUE(wait_for_line(target, {"ready"}));
        // Both threads announce themselves; take their ids.
        const std::vector<pid_t> tids = ready_threads(target);
        ASSERT_EQ(tids.size(), 2u) << target.output();
        const std::string pid = std::to_string(target.pid());
        // tgkill to the second thread: only that thread's sigwaitinfo() can take it (both block it). The
        // kernel fills in the sender (SI_TKILL on older kernels; the 6.18 kernel here reports SI_USER).
        process s1(kBin, {"send", "USR2", "--thread", std::to_string(tids[1]), pid});
        const pid_t sender1 = s1.pid();
        EXPECT_TRUE(sigrelay::test::exited_with(s1.finish(60), 0)) << s1.output();
        const std::string second = "thread " + std::to_string(tids[1]) + " got SIGUSR2 code ";
        EXPECT_TRUE(wait_for_line(target, {second, " pid " + std::to_string(sender1) + " "}))
            << target.output();
        const std::string got = line_with(target.output(), {second});
        EXPECT_TRUE(got.find("code " + std::to_string(SI_TKILL) + " ") != std::string::npos ||
                    got.find("code " + std::to_string(SI_USER) + " ") != std::string::npos)
            << got;
        // rt_tgsigqueueinfo to the first: SI_QUEUE with the value.
        process s2(kBin, {"send", "--value", "5", "--thread", std::to_string(tids[0]), "USR2", pid});
        const pid_t sender2 = s2.pid();
        EXPECT_TRUE(sigrelay::test::exited_with(s2.finish(60), 0)) << s2.output();
        EXPECT_TRUE(wait_for_line(target, {"thread " + std::to_string(tids[0]) + " got SIGUSR2 code -1 pid " +
                                           std::to_string(sender2) + " value 5"}))
            << target.output();
        EXPECT_EQ(kill(target.pid(), SIGHUP), 0);
        EXPECT_TRUE(sigrelay::test::exited_with(target.finish(60), 0)) << target.output();
        // Each thread took exactly the one signal sent to it.
        for (pid_t tid : tids) {
          std::size_t taken = 0;
          for (const std::string& line : lines_of(target.output())) {
            if (line.rfind("thread " + std::to_string(tid) + " got ", 0) == 0) ++taken;
          }
          EXPECT_EQ(taken, 1u) << target.output();
        }
      },
      kWatchdog);
}

TEST(ToolsSend, ErrorsNameTheSignalAndTheReason) {
  SIGRELAY_IN_CHILD(
      [] {
        const pid_t gone = fork();  // a pid that no longer exists: a child we reaped
        if (gone == 0) _exit(0);
        ASSERT_GT(gone, 0);
        ASSERT_EQ(waitpid(gone, nullptr, 0), gone);
        const result r = run_tool({"send", "TERM", std::to_string(gone)});
        EXPECT_TRUE(sigrelay::test::exited_with(r.status, 1)) << r.output;
        EXPECT_NE(r.output.find("cannot send SIGTERM to pid " + std::to_string(gone) + ": No such process"),
                  std::string::npos)
            << r.output;
        const result null_gone = run_tool({"send", "0", std::to_string(gone)});  // kill -0
        EXPECT_TRUE(sigrelay::test::exited_with(null_gone.status, 1)) << null_gone.output;
        EXPECT_NE(null_gone.output.find("cannot send signal 0 to pid " + std::to_string(gone) +
                                        ": No such process"),
                  std::string::npos)
            << null_gone.output;
        const result bad = run_tool({"send", "SIGBOGUS", std::to_string(gone)});
        EXPECT_TRUE(sigrelay::test::exited_with(bad.status, 2)) << bad.output;
        EXPECT_NE(bad.output.find("unknown signal 'SIGBOGUS'"), std::string::npos) << bad.output;
        const result two =
            run_tool({"send", "USR1", "--thread", "1", std::to_string(gone), std::to_string(gone)});
        EXPECT_TRUE(sigrelay::test::exited_with(two.status, 2)) << two.output;
      },
      kWatchdog);
}

// ----- inspect ----------------------------------------------------------------------------------

// A child with a known signal state: SIGINT, SIGQUIT, SIGPIPE ignored; SIGUSR2 caught; SIGUSR1 and
// SIGTERM blocked, SIGUSR1 pending for the thread (tgkill via raise), SIGTERM pending for the process
// and read by a signalfd; one zombie child. It writes 'r' on `ready`, and on EOF of `done` reaps
// the zombie and exits 0.
[[noreturn]] void inspected_child(int ready, int done) {
  sigrelay::ignore(SIGINT);
  sigrelay::ignore(SIGQUIT);
  sigrelay::ignore(SIGPIPE);
  sigrelay::signals caught{SIGUSR2};
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  const int sfd = signalfd(-1, &term, SFD_CLOEXEC);
  raise(SIGUSR1);
  kill(getpid(), SIGTERM);
  const pid_t zombie = fork();
  if (zombie == 0) _exit(0);
  while (waitid(P_PID, static_cast<id_t>(zombie), nullptr, WEXITED | WNOWAIT) != 0 && errno == EINTR) {
  }
  const char r = sfd >= 0 ? 'r' : 'x';
  (void)!write(ready, &r, 1);
  char c;
  while (read(done, &c, 1) < 0 && errno == EINTR) {
  }
  waitpid(zombie, nullptr, 0);
  _exit(0);
}

TEST(ToolsInspect, DecodesMasksAndFlagsTraps) {
  SIGRELAY_IN_CHILD(
      [] {
        int ready[2], done[2];
        ASSERT_EQ(pipe(ready), 0);
        ASSERT_EQ(pipe(done), 0);
        const pid_t child = fork();
        ASSERT_GE(child, 0);
        if (child == 0) {
          close(ready[0]);
          close(done[1]);
          inspected_child(ready[1], done[0]);
        }
        close(ready[1]);
        close(done[0]);
        char r = 0;
        ASSERT_EQ(read(ready[0], &r, 1), 1);
        EXPECT_EQ(r, 'r');
        const result text = run_tool({"inspect", std::to_string(child)});
        const result json = run_tool({"inspect", "--json", std::to_string(child)});
        close(done[1]);  // the child reaps its zombie and exits
        EXPECT_TRUE(sigrelay::test::exited_with(sigrelay::test::wait_with_deadline(child, 30), 0));

        ASSERT_TRUE(sigrelay::test::exited_with(text.status, 0)) << text.output;
        const std::string& t = text.output;
        EXPECT_NE(line_with(t, {"ignored:", "SIGINT SIGQUIT SIGPIPE"}), "") << t;
        EXPECT_NE(line_with(t, {"caught:", "SIGUSR2"}), "") << t;
        EXPECT_NE(line_with(t, {"pending (process):", "SIGTERM"}), "") << t;
        EXPECT_NE(line_with(t, {"blocked:", "SIGUSR1 SIGTERM"}), "") << t;
        EXPECT_NE(line_with(t, {"pending (thread):", "SIGUSR1"}), "") << t;
        EXPECT_NE(line_with(t, {"signalfd ", "reads: SIGTERM"}), "") << t;
        EXPECT_NE(line_with(t, {"children:", ", Z)"}), "") << t;
        EXPECT_NE(line_with(t, {"queued signals:", "RLIMIT_SIGPENDING soft"}), "") << t;
        // Traps: background-style ignores, SIGUSR1 blocked everywhere with no signalfd (SIGTERM has one),
        // SIGPIPE ignored, SIGUSR1 stuck pending, the zombie.
        EXPECT_NE(line_with(t, {"! SIGINT SIGQUIT ignored", "background"}), "") << t;
        EXPECT_NE(line_with(t, {"! SIGUSR1 blocked in every thread and read by no signalfd"}), "") << t;
        EXPECT_EQ(line_with(t, {"SIGTERM blocked in every thread"}), "") << t;
        EXPECT_NE(line_with(t, {"! SIGPIPE ignored"}), "") << t;
        EXPECT_NE(line_with(t, {"! SIGUSR1 pending but blocked"}), "") << t;
        EXPECT_NE(line_with(t, {"! zombie children not reaped"}), "") << t;

        ASSERT_TRUE(sigrelay::test::exited_with(json.status, 0)) << json.output;
        EXPECT_TRUE(json_checker(json.output).valid()) << json.output;
        for (const char* kind : {"background_ignored", "inherited_block", "sigpipe_ignored",
                                 "pending_blocked", "zombie_children"}) {
          EXPECT_NE(json.output.find(std::string("{\"kind\":\"") + kind + "\""), std::string::npos) << kind;
        }
        EXPECT_NE(json.output.find(R"("ignored":["SIGINT","SIGQUIT","SIGPIPE"])"), std::string::npos)
            << json.output;
        EXPECT_NE(json.output.find(R"("sigq":{"queued":)"), std::string::npos) << json.output;
        EXPECT_NE(json.output.find(R"("blocked":["SIGUSR1","SIGTERM"],"pending":["SIGUSR1"])"),
                  std::string::npos)
            << json.output;
      },
      kWatchdog);
}

TEST(ToolsInspect, ShellBackgroundJobHasInterruptIgnored) {
  SIGRELAY_IN_CHILD(
      [] {
        // A non-interactive shell starts `sleep &` with SIGINT and SIGQUIT ignored; nothing else here
        // sets them.
        process shell("/bin/sh", {"-c", "sleep 60 & echo job $!; wait"});
        ASSERT_TRUE(wait_for_line(shell, {"job "})) << shell.output();
        const pid_t job = number_after(shell.output(), "job ");
        ASSERT_GT(job, 0);
        const result r = run_tool({"inspect", std::to_string(job)});
        EXPECT_EQ(kill(job, SIGKILL), 0);  // the shell's wait returns and the shell exits
        EXPECT_TRUE(sigrelay::test::exited_with(shell.finish(60), 0)) << shell.output();
        ASSERT_TRUE(sigrelay::test::exited_with(r.status, 0)) << r.output;
        EXPECT_NE(line_with(r.output, {"ignored:", "SIGINT SIGQUIT"}), "") << r.output;
        EXPECT_NE(line_with(r.output, {"! SIGINT SIGQUIT ignored", "started in the background"}), "")
            << r.output;
        EXPECT_EQ(line_with(r.output, {"zombie"}), "") << r.output;
      },
      kWatchdog);
}

// SigCgt of a process, from /proc (0 if unreadable).
std::uint64_t caught_mask(pid_t pid) {
  const std::string hex = status_field(pid, "SigCgt");
  return hex.empty() ? 0 : std::stoull(hex, nullptr, 16);
}

// A thread asleep in sigwaitinfo() has the signals it waits for unblocked meanwhile: inspect reads the
// set it waits for from the process and shows it, and does not call those signals a trap.
TEST(ToolsInspect, ShowsWhatEachThreadInSigwaitinfoWaitsFor) {
  SIGRELAY_IN_CHILD(
      [] {
        process target(kTarget, {"threads"});
        const std::vector<pid_t> workers = ready_threads(target);
        ASSERT_EQ(workers.size(), 2u) << target.output();
        const pid_t pid = target.pid();
        std::vector<pid_t> all = workers;
        all.push_back(pid);
        ASSERT_TRUE(asleep_in_sigwaitinfo(pid, all));
        const result text = run_tool({"inspect", std::to_string(pid)});
        ASSERT_TRUE(sigrelay::test::exited_with(text.status, 0)) << text.output;
        // "thread TID (comm)", then its blocked / pending / in sigwaitinfo() lines.
        auto section = [&](pid_t tid) {
          const std::string head = "thread " + std::to_string(tid) + " (";
          const std::size_t at = text.output.find(head);
          if (at == std::string::npos) return std::string();
          const std::size_t end = text.output.find("\nthread ", at + 1);
          return text.output.substr(at, end == std::string::npos ? std::string::npos : end - at);
        };
        EXPECT_NE(section(pid).find("blocked:           SIGUSR2\n"), std::string::npos) << text.output;
        EXPECT_NE(section(pid).find("in sigwaitinfo():  SIGHUP (taken by this thread itself"),
                  std::string::npos)
            << text.output;
        for (const pid_t tid : workers) {
          EXPECT_NE(section(tid).find("blocked:           SIGHUP\n"), std::string::npos) << text.output;
          EXPECT_NE(section(tid).find("in sigwaitinfo():  SIGUSR2 (taken by this thread itself"),
                    std::string::npos)
              << text.output;
        }
        EXPECT_EQ(text.output.find("blocked in every thread"), std::string::npos) << text.output;
        // The C library's own signal 33, where it catches it (glibc once a thread was started).
        const bool libc33 = (caught_mask(pid) & (std::uint64_t{1} << 32)) != 0;
        EXPECT_EQ(text.output.find("signal 33 (libc)") != std::string::npos, libc33) << text.output;
        EXPECT_EQ(
            text.output.find("note: signals 32 and 33 (libc) are the C library's own") != std::string::npos,
            libc33)
            << text.output;
        const result json = run_tool({"inspect", "--json", std::to_string(pid)});
        ASSERT_TRUE(sigrelay::test::exited_with(json.status, 0)) << json.output;
        EXPECT_NE(json.output.find("\"sigwaitinfo\":[\"SIGHUP\"]"), std::string::npos) << json.output;
        EXPECT_NE(json.output.find("\"sigwaitinfo\":[\"SIGUSR2\"]"), std::string::npos) << json.output;
        EXPECT_EQ(json.output.find("(libc)"), std::string::npos) << json.output;  // plain names there
        if (libc33) {
          EXPECT_NE(json.output.find("\"signal 33\""), std::string::npos) << json.output;
        }
        ASSERT_EQ(kill(pid, SIGHUP), 0);
        EXPECT_TRUE(sigrelay::test::exited_with(target.finish(60), 0)) << target.output();
        // A thread in no such call: null.
        process plain(kTarget, {"receive"});
        ASSERT_TRUE(wait_for_line(plain, {"ready "})) << plain.output();
        const result other = run_tool({"inspect", "--json", std::to_string(plain.pid())});
        EXPECT_NE(other.output.find("\"sigwaitinfo\":null"), std::string::npos) << other.output;
        EXPECT_EQ(other.output.find("\"sigwaitinfo\":["), std::string::npos) << other.output;
        if ((caught_mask(plain.pid()) & (std::uint64_t{3} << 31)) == 0) {  // no thread: none of libc's
          const result plain_text = run_tool({"inspect", std::to_string(plain.pid())});
          EXPECT_EQ(plain_text.output.find("(libc)"), std::string::npos) << plain_text.output;
        }
        ASSERT_EQ(kill(plain.pid(), SIGHUP), 0);
        EXPECT_TRUE(sigrelay::test::exited_with(plain.finish(60), 0)) << plain.output();
      },
      kWatchdog);
}

TEST(ToolsInspect, MissingProcessIsAnError) {
  SIGRELAY_IN_CHILD(
      [] {
        const pid_t gone = fork();
        if (gone == 0) _exit(0);
        ASSERT_EQ(waitpid(gone, nullptr, 0), gone);
        const result r = run_tool({"inspect", std::to_string(gone)});
        EXPECT_TRUE(sigrelay::test::exited_with(r.status, 1)) << r.output;
        EXPECT_NE(r.output.find("sigrelay inspect: cannot read /proc/" + std::to_string(gone)),
                  std::string::npos)
            << r.output;
      },
      kWatchdog);
}

// ----- watch ------------------------------------------------------------------------------------

TEST(ToolsWatch, ProgramModeShowsSenderCodeAndValue) {
  SIGRELAY_IN_CHILD(
      [] {
        if (!ptrace_permitted()) GTEST_SKIP() << "ptrace is not permitted here";
        process watch(kBin, {"watch", "--", kTarget, "receive"});
        ASSERT_TRUE(wait_for_line(watch, {"ready "})) << watch.output();
        const pid_t target = number_after(watch.output(), "ready ");
        ASSERT_GT(target, 0);
        const std::string me = std::to_string(getpid());
        const std::string uid = std::to_string(getuid());
        const std::string to =
            " to " + std::to_string(target) + ": from pid " + me + " (" + self_comm() + ") uid " + uid;

        ASSERT_EQ(kill(target, SIGUSR1), 0);
        EXPECT_TRUE(wait_for_line(watch, {"SIGUSR1" + to + ", SI_USER (kill), trusted"})) << watch.output();
        EXPECT_TRUE(wait_for_line(watch, {"got SIGUSR1 total 1 code 0 pid " + me})) << watch.output();

        union sigval v {};
        v.sival_int = 42;
        ASSERT_EQ(sigqueue(target, SIGUSR2, v), 0);
        EXPECT_TRUE(wait_for_line(watch, {"SIGUSR2" + to + ", SI_QUEUE (sigqueue), forgeable, value 42"}))
            << watch.output();
        EXPECT_TRUE(wait_for_line(watch, {"got SIGUSR2 total 1 code -1 pid " + me, "value 42"}))
            << watch.output();

        v.sival_int = -7;  // a realtime signal's payload
        ASSERT_EQ(sigqueue(target, SIGRTMIN + 1, v), 0);
        EXPECT_TRUE(wait_for_line(watch, {"SIGRTMIN+1" + to + ", SI_QUEUE (sigqueue), forgeable, value -7"}))
            << watch.output();
        EXPECT_TRUE(wait_for_line(watch, {"got SIGRTMIN+1 total 1 code -1 pid " + me, "value -7"}))
            << watch.output();

        ASSERT_EQ(kill(target, SIGHUP), 0);
        // watch ends with the program's status, and says so.
        EXPECT_TRUE(sigrelay::test::exited_with(watch.finish(60), 0)) << watch.output();
        EXPECT_NE(watch.output().find("(pid " + std::to_string(target) + ") exited with status 0"),
                  std::string::npos)
            << watch.output();
      },
      kWatchdog);
}

TEST(ToolsWatch, JsonLinesAndSignalFilter) {
  SIGRELAY_IN_CHILD(
      [] {
        if (!ptrace_permitted()) GTEST_SKIP() << "ptrace is not permitted here";
        process watch(kBin, {"watch", "--json", "USR2", "HUP", "--", kTarget, "receive"});
        ASSERT_TRUE(wait_for_line(watch, {"ready "})) << watch.output();
        const pid_t target = number_after(watch.output(), "ready ");
        ASSERT_GT(target, 0);
        ASSERT_EQ(kill(target, SIGUSR1), 0);  // filtered out, but still delivered
        ASSERT_TRUE(wait_for_line(watch, {"got SIGUSR1 total 1"})) << watch.output();
        union sigval v {};
        v.sival_int = 3;
        ASSERT_EQ(sigqueue(target, SIGUSR2, v), 0);
        ASSERT_TRUE(wait_for_line(watch, {"got SIGUSR2 total 1"})) << watch.output();
        ASSERT_EQ(kill(target, SIGHUP), 0);
        EXPECT_TRUE(sigrelay::test::exited_with(watch.finish(60), 0)) << watch.output();
        std::size_t objects = 0;
        for (const std::string& line : lines_of(watch.output())) {
          if (line.empty() || line[0] != '{') continue;
          ++objects;
          EXPECT_TRUE(json_checker(line).valid()) << line;
          EXPECT_EQ(line.find("SIGUSR1"), std::string::npos) << line;
        }
        EXPECT_EQ(objects, 2u) << watch.output();
        const std::string usr2 = line_with(watch.output(), {"\"signal\":\"SIGUSR2\""});
        EXPECT_NE(usr2.find("\"code_words\":\"SI_QUEUE (sigqueue)\",\"trusted\":false,\"sender_pid\":" +
                            std::to_string(getpid())),
                  std::string::npos)
            << usr2;
        EXPECT_NE(usr2.find("\"value\":3"), std::string::npos) << usr2;
        EXPECT_NE(line_with(watch.output(), {"\"signal\":\"SIGHUP\"", "\"trusted\":true"}), "")
            << watch.output();
      },
      kWatchdog);
}

TEST(ToolsWatch, AttachObservesWithoutChangingAndDetachesCleanly) {
  SIGRELAY_IN_CHILD(
      [] {
        if (!ptrace_permitted()) GTEST_SKIP() << "ptrace is not permitted here";
        process target(kTarget, {"receive"});
        ASSERT_TRUE(wait_for_line(target, {"ready "})) << target.output();
        const pid_t pid = target.pid();
        const std::string before_blk = status_field(pid, "SigBlk"), before_ign = status_field(pid, "SigIgn"),
                          before_cgt = status_field(pid, "SigCgt");

        process watch(kBin, {"watch", "-p", std::to_string(pid)});
        ASSERT_TRUE(wait_for_line(watch, {"watching pid " + std::to_string(pid)})) << watch.output();
        const std::string me = std::to_string(getpid());
        // One at a time, each seen by the target's own handler before the next: nothing coalesces, so
        // the totals count every delivery.
        for (int i = 1; i <= 3; ++i) {
          ASSERT_EQ(kill(pid, SIGUSR1), 0);
          ASSERT_TRUE(wait_for_line(target, {"got SIGUSR1 total " + std::to_string(i) + " code 0 pid " + me}))
              << target.output();
        }
        union sigval v {};
        v.sival_int = 1234;
        ASSERT_EQ(sigqueue(pid, SIGRTMIN, v), 0);
        ASSERT_TRUE(wait_for_line(target, {"got SIGRTMIN total 1 code -1 pid " + me, "value 1234"}))
            << target.output();
        // A stop and a continue pass through as well (group-stop under PTRACE_LISTEN).
        ASSERT_EQ(kill(pid, SIGSTOP), 0);
        ASSERT_TRUE(wait_for_line(watch, {"SIGSTOP to " + std::to_string(pid)})) << watch.output();
        ASSERT_EQ(kill(pid, SIGCONT), 0);
        ASSERT_TRUE(wait_for_line(watch, {"SIGCONT to " + std::to_string(pid)})) << watch.output();
        ASSERT_EQ(kill(pid, SIGUSR2), 0);
        ASSERT_TRUE(wait_for_line(target, {"got SIGUSR2 total 1 code 0"})) << target.output();
        ASSERT_TRUE(wait_for_line(watch, {"SIGUSR2 to " + std::to_string(pid)})) << watch.output();

        std::size_t usr1_lines = 0;
        for (const std::string& line : lines_of(watch.output())) {
          if (line.find(" SIGUSR1 to " + std::to_string(pid) + ": from pid " + me) != std::string::npos)
            ++usr1_lines;
        }
        EXPECT_EQ(usr1_lines, 3u) << watch.output();
        EXPECT_NE(line_with(watch.output(), {"SIGRTMIN to", "SI_QUEUE (sigqueue), forgeable, value 1234"}),
                  "")
            << watch.output();

        // Detach: watch exits 0, the target is untraced, running, and its signal state as before.
        ASSERT_EQ(kill(watch.pid(), SIGTERM), 0);
        EXPECT_TRUE(sigrelay::test::exited_with(watch.finish(60), 0)) << watch.output();
        EXPECT_EQ(status_field(pid, "TracerPid"), "0");
        // Running or sleeping (between two reads of its loop); neither stopped, traced-stopped nor dead.
        const std::string state = status_field(pid, "State");
        EXPECT_TRUE(state.rfind("S ", 0) == 0 || state.rfind("R ", 0) == 0) << state;
        EXPECT_EQ(status_field(pid, "SigBlk"), before_blk);
        EXPECT_EQ(status_field(pid, "SigIgn"), before_ign);
        EXPECT_EQ(status_field(pid, "SigCgt"), before_cgt);
        ASSERT_EQ(kill(pid, SIGUSR1), 0);
        EXPECT_TRUE(wait_for_line(target, {"got SIGUSR1 total 4 code 0"})) << target.output();
        ASSERT_EQ(kill(pid, SIGHUP), 0);
        EXPECT_TRUE(sigrelay::test::exited_with(target.finish(60), 0)) << target.output();
      },
      kWatchdog);
}

TEST(ToolsWatch, CtrlCAtTheTerminalDetaches) {
  SIGRELAY_IN_CHILD(
      [] {
        if (!ptrace_permitted()) GTEST_SKIP() << "ptrace is not permitted here";
        process target(kTarget, {"receive"});
        ASSERT_TRUE(wait_for_line(target, {"ready "})) << target.output();
        const pid_t pid = target.pid();
        // watch on a terminal of its own: Ctrl+C is typed there, and reaches watch only.
        process watch(kBin, {"watch", "-p", std::to_string(pid)}, /*use_pty=*/true);
        ASSERT_TRUE(wait_for_line(watch, {"watching pid " + std::to_string(pid)})) << watch.output();
        ASSERT_EQ(kill(pid, SIGUSR1), 0);
        ASSERT_TRUE(wait_for_line(watch, {"SIGUSR1 to " + std::to_string(pid)})) << watch.output();
        ASSERT_TRUE(wait_for_line(target, {"got SIGUSR1 total 1"})) << target.output();
        watch.type("\x03");
        EXPECT_TRUE(sigrelay::test::exited_with(watch.finish(60), 0)) << watch.output();
        EXPECT_EQ(status_field(pid, "TracerPid"), "0");
        ASSERT_EQ(kill(pid, SIGUSR1), 0);
        EXPECT_TRUE(wait_for_line(target, {"got SIGUSR1 total 2"})) << target.output();
        ASSERT_EQ(kill(pid, SIGHUP), 0);
        EXPECT_TRUE(sigrelay::test::exited_with(target.finish(60), 0)) << target.output();
      },
      kWatchdog);
}

TEST(ToolsWatch, ProgramThatCannotRunGives127) {
  SIGRELAY_IN_CHILD(
      [] {
        if (!ptrace_permitted()) GTEST_SKIP() << "ptrace is not permitted here";
        const result r = run_tool({"watch", "--", "/nonexistent/program"});
        EXPECT_TRUE(sigrelay::test::exited_with(r.status, 127)) << r.output;
        EXPECT_NE(r.output.find("cannot run /nonexistent/program: No such file or directory"),
                  std::string::npos)
            << r.output;
        const result usage = run_tool({"watch", "USR1"});
        EXPECT_TRUE(sigrelay::test::exited_with(usage.status, 2)) << usage.output;
      },
      kWatchdog);
}

// PROGRAM mode follows forks: a signal to the program's child is reported with the child's pid, and
// the child's start and end are announced. tools_target `family` forks the receiver and exits with its
// status once it has ended.
TEST(ToolsWatch, ProgramModeFollowsForkedChildren) {
  SIGRELAY_IN_CHILD(
      [] {
        if (!ptrace_permitted()) GTEST_SKIP() << "ptrace is not permitted here";
        process watch(kBin, {"watch", "--", kTarget, "family"});
        ASSERT_TRUE(wait_for_line(watch, {"family "})) << watch.output();
        ASSERT_TRUE(wait_for_line(watch, {"ready "})) << watch.output();
        const pid_t program = number_after(watch.output(), "family ");
        const pid_t child = number_after(watch.output(), "ready ");
        ASSERT_GT(program, 0);
        ASSERT_GT(child, 0);
        ASSERT_NE(program, child);
        EXPECT_NE(line_with(watch.output(), {"following pid " + std::to_string(child) + ", forked by pid " +
                                             std::to_string(program)}),
                  "")
            << watch.output();
        const std::string me = std::to_string(getpid());
        ASSERT_EQ(kill(child, SIGUSR1), 0);
        EXPECT_TRUE(wait_for_line(
            watch, {"SIGUSR1 to " + std::to_string(child) + ": from pid " + me, "SI_USER (kill), trusted"}))
            << watch.output();
        EXPECT_TRUE(wait_for_line(watch, {"got SIGUSR1 total 1 code 0 pid " + me})) << watch.output();
        union sigval v {};
        v.sival_int = 99;
        ASSERT_EQ(sigqueue(child, SIGRTMIN, v), 0);
        EXPECT_TRUE(wait_for_line(
            watch, {"SIGRTMIN to " + std::to_string(child) + ": from pid " + me, "forgeable, value 99"}))
            << watch.output();
        EXPECT_TRUE(wait_for_line(watch, {"got SIGRTMIN total 1", "value 99"})) << watch.output();
        ASSERT_EQ(kill(child, SIGHUP), 0);
        EXPECT_TRUE(sigrelay::test::exited_with(watch.finish(60), 0)) << watch.output();
        EXPECT_NE(line_with(watch.output(), {"pid " + std::to_string(child) + " exited with status 0"}), "")
            << watch.output();
        EXPECT_NE(line_with(watch.output(), {"(pid " + std::to_string(program) + ") exited with status 0"}),
                  "")
            << watch.output();
        // The program itself received nothing the test sent (only, at most, SIGCHLD from its child).
        for (const std::string& line : lines_of(watch.output())) {
          if (line.find(" to " + std::to_string(program) + ": ") != std::string::npos) {
            EXPECT_NE(line.find(" SIGCHLD to "), std::string::npos) << line;
          }
        }
      },
      kWatchdog);
}

// The same with --json: "pid" is the child's process, "tid" its thread.
TEST(ToolsWatch, JsonNamesTheForkedChildsPid) {
  SIGRELAY_IN_CHILD(
      [] {
        if (!ptrace_permitted()) GTEST_SKIP() << "ptrace is not permitted here";
        process watch(kBin, {"watch", "--json", "USR2", "--", kTarget, "family"});
        ASSERT_TRUE(wait_for_line(watch, {"ready "})) << watch.output();
        const pid_t child = number_after(watch.output(), "ready ");
        ASSERT_GT(child, 0);
        ASSERT_EQ(kill(child, SIGUSR2), 0);
        const std::string ids =
            "\"pid\":" + std::to_string(child) + ",\"tid\":" + std::to_string(child) + ",";
        EXPECT_TRUE(wait_for_line(watch, {ids, "\"signal\":\"SIGUSR2\""})) << watch.output();
        EXPECT_TRUE(json_checker(line_with(watch.output(), {"\"signal\":\"SIGUSR2\""})).valid())
            << watch.output();
        ASSERT_EQ(kill(child, SIGHUP), 0);
        EXPECT_TRUE(sigrelay::test::exited_with(watch.finish(60), 0)) << watch.output();
      },
      kWatchdog);
}

// -p PID attaches to every thread: a signal sent to one thread (tgkill) is reported for that thread,
// with the process's pid, and the thread's handler runs as without watch. (tgkill shows as SI_TKILL or,
// on newer kernels, SI_USER: either is trusted.) A signal it ignores is seen too.
TEST(ToolsWatch, AttachSeesEachThreadsOwnSignals) {
  SIGRELAY_IN_CHILD(
      [] {
        if (!ptrace_permitted()) GTEST_SKIP() << "ptrace is not permitted here";
        process target(kTarget, {"handlers"});
        ASSERT_TRUE(wait_for_line(target, {"ready "})) << target.output();
        // Both threads have said "thread TID ready" (printed before or after "ready PID").
        const std::vector<pid_t> tids = ready_threads(target);
        ASSERT_EQ(tids.size(), 2u) << target.output();
        const pid_t pid = target.pid();
        process watch(kBin, {"watch", "--json", "-p", std::to_string(pid)});
        ASSERT_TRUE(wait_for_line(watch, {"watching pid " + std::to_string(pid)})) << watch.output();
        // An ignored signal is seen as well, and still ignored (the target runs on).
        ASSERT_EQ(kill(pid, SIGUSR2), 0);
        EXPECT_TRUE(wait_for_line(watch, {"\"pid\":" + std::to_string(pid) + ",", "\"signal\":\"SIGUSR2\""}))
            << watch.output();
        int count = 0;
        for (const pid_t tid : {tids[1], tids[0], pid}) {
          ++count;
          ASSERT_EQ(syscall(SYS_tgkill, pid, tid, SIGUSR1), 0);
          ASSERT_TRUE(wait_for_line(target, {"got SIGUSR1 in " + std::to_string(tid)})) << target.output();
          const std::string ids = "\"pid\":" + std::to_string(pid) + ",\"tid\":" + std::to_string(tid) + ",";
          EXPECT_TRUE(wait_for_line(watch, {ids, "\"signal\":\"SIGUSR1\"", "\"trusted\":true"}))
              << watch.output();
        }
        EXPECT_EQ(count, 3);
        ASSERT_EQ(kill(watch.pid(), SIGTERM), 0);
        EXPECT_TRUE(sigrelay::test::exited_with(watch.finish(60), 0)) << watch.output();
        EXPECT_EQ(status_field(pid, "TracerPid"), "0");
        ASSERT_EQ(kill(pid, SIGHUP), 0);
        EXPECT_TRUE(sigrelay::test::exited_with(target.finish(60), 0)) << target.output();
      },
      kWatchdog);
}

// --taken: a signal read from a signalfd is never delivered, so watch sees it only through the read()
// that took it. Without --taken the same signals make no line (the contrast: what --taken adds).
TEST(ToolsWatch, TakenShowsSignalsReadFromASignalfd) {
  SIGRELAY_IN_CHILD(
      [] {
        if (!ptrace_permitted()) GTEST_SKIP() << "ptrace is not permitted here";
        const std::string me = std::to_string(getpid());
        {
          process watch(kBin, {"watch", "--", kTarget, "signalfd"});
          ASSERT_TRUE(wait_for_line(watch, {"ready "})) << watch.output();
          const pid_t target = number_after(watch.output(), "ready ");
          ASSERT_EQ(kill(target, SIGUSR1), 0);
          ASSERT_TRUE(wait_for_line(watch, {"read SIGUSR1 code 0 pid " + me})) << watch.output();
          ASSERT_EQ(kill(target, SIGHUP), 0);
          EXPECT_TRUE(sigrelay::test::exited_with(watch.finish(60), 0)) << watch.output();
          EXPECT_EQ(line_with(watch.output(), {"SIGUSR1 to "}), "") << watch.output();
        }
        process watch(kBin, {"watch", "--taken", "--json", "--", kTarget, "signalfd"});
        ASSERT_TRUE(wait_for_line(watch, {"ready "})) << watch.output();
        const pid_t target = number_after(watch.output(), "ready ");
        const std::string ids =
            "\"pid\":" + std::to_string(target) + ",\"tid\":" + std::to_string(target) + ",";
        ASSERT_EQ(kill(target, SIGUSR1), 0);
        ASSERT_TRUE(wait_for_line(watch, {"read SIGUSR1 code 0 pid " + me})) << watch.output();
        // watch reports at the read()'s exit, before the program runs on to print its own line.
        const std::string usr1 = line_with(watch.output(), {ids, "\"signal\":\"SIGUSR1\""});
        EXPECT_NE(usr1.find("\"code\":0,"), std::string::npos) << usr1;
        EXPECT_NE(usr1.find("\"trusted\":true"), std::string::npos) << usr1;
        EXPECT_NE(usr1.find("\"sender_pid\":" + me + ","), std::string::npos) << usr1;
        EXPECT_NE(usr1.find("\"taken\":\"signalfd\",\"fd\":"), std::string::npos) << usr1;
        union sigval v {};
        v.sival_int = 77;
        ASSERT_EQ(sigqueue(target, SIGRTMIN, v), 0);
        ASSERT_TRUE(wait_for_line(watch, {"read SIGRTMIN code -1 pid " + me + " value 77"}))
            << watch.output();
        const std::string rt = line_with(watch.output(), {ids, "\"signal\":\"SIGRTMIN\""});
        EXPECT_NE(rt.find("\"trusted\":false"), std::string::npos) << rt;
        EXPECT_NE(rt.find("\"value\":77"), std::string::npos) << rt;
        EXPECT_NE(rt.find("\"taken\":\"signalfd\""), std::string::npos) << rt;
        ASSERT_EQ(kill(target, SIGHUP), 0);
        EXPECT_TRUE(sigrelay::test::exited_with(watch.finish(60), 0)) << watch.output();
        std::size_t objects = 0;
        for (const std::string& line : lines_of(watch.output())) {
          if (line.rfind("{", 0) == 0) ++objects;
        }
        EXPECT_EQ(objects, 3u) << watch.output();  // USR1, RTMIN, HUP: each once
        EXPECT_NE(line_with(watch.output(), {ids, "\"signal\":\"SIGHUP\"", "\"taken\":\"signalfd\""}), "")
            << watch.output();
      },
      kWatchdog);
}

// --taken with -p: every thread is switched to syscall tracing before "watching" is printed, so a
// signal sent after it and taken with sigwaitinfo() by whichever thread is shown with that thread's
// tid; a sigwaitinfo() given no siginfo_t gives the signal alone. The threads' sigwaitinfo() loops
// retry the EINTR that the attach causes; the process runs on as before and exits 0.
TEST(ToolsWatch, TakenAttachShowsSigwaitinfoInEachThread) {
  SIGRELAY_IN_CHILD(
      [] {
        if (!ptrace_permitted()) GTEST_SKIP() << "ptrace is not permitted here";
        process target(kTarget, {"threads"});
        const std::vector<pid_t> tids = ready_threads(target);
        ASSERT_EQ(tids.size(), 2u) << target.output();
        const pid_t pid = target.pid();
        const std::string me = std::to_string(getpid());
        // Without --taken, watch says why it may show nothing: a thread is asleep in sigwaitinfo().
        ASSERT_TRUE(asleep_in_sigwaitinfo(pid, tids));
        {
          process plain(kBin, {"watch", "-p", std::to_string(pid)});
          EXPECT_TRUE(
              wait_for_line(plain, {"in sigwaitinfo(): the signals it takes so are shown only with --taken"}))
              << plain.output();
          ASSERT_EQ(kill(plain.pid(), SIGTERM), 0);
          EXPECT_TRUE(sigrelay::test::exited_with(plain.finish(60), 0)) << plain.output();
        }
        process watch(kBin, {"watch", "--taken", "-p", std::to_string(pid)});
        ASSERT_TRUE(wait_for_line(watch, {"watching pid " + std::to_string(pid)})) << watch.output();
        union sigval v {};
        v.sival_int = 5;
        ASSERT_EQ(sigqueue(pid, SIGUSR2, v), 0);
        ASSERT_TRUE(wait_for_line(target, {"got SIGUSR2 code -1 pid " + me + " value 5"})) << target.output();
        const pid_t taker = number_after(line_with(target.output(), {"value 5"}), "thread ");
        EXPECT_TRUE(
            wait_for_line(watch, {"SIGUSR2 to " + std::to_string(taker) + ": from pid " + me,
                                  "SI_QUEUE (sigqueue), forgeable, value 5, taken with sigwaitinfo()"}))
            << watch.output();
        for (const pid_t tid : tids) {  // a signal for one thread is taken by that thread
          ASSERT_EQ(syscall(SYS_tgkill, pid, tid, SIGUSR2), 0);
          // (si_code: SI_TKILL, or SI_USER as some kernels report a tgkill(); the same in both lines)
          ASSERT_TRUE(wait_for_line(
              target, {"thread " + std::to_string(tid) + " got SIGUSR2 code ", "pid " + me + " value 0"}))
              << target.output();
          EXPECT_TRUE(wait_for_line(watch, {"SIGUSR2 to " + std::to_string(tid) + ": from pid " + me,
                                            ", trusted, taken with sigwaitinfo()"}))
              << watch.output();
        }
        ASSERT_EQ(kill(pid, SIGHUP), 0);  // the main thread's sigwaitinfo(&hup, nullptr)
        EXPECT_TRUE(sigrelay::test::exited_with(target.finish(60), 0)) << target.output();
        EXPECT_TRUE(sigrelay::test::exited_with(watch.finish(60), 0)) << watch.output();
        EXPECT_NE(line_with(watch.output(), {"SIGHUP to " + std::to_string(pid) + ": sender not known"}), "")
            << watch.output();
      },
      kWatchdog);
}

// ----- the man page -----------------------------------------------------------------------------

// Every line of every --help text is in sigrelay(1), as troff shows it: generated from the same text.
TEST(ToolsManPage, HoldsEveryHelpText) {
  SIGRELAY_IN_CHILD(
      [] {
        std::ifstream in(kManPage);
        ASSERT_TRUE(in) << kManPage;
        std::vector<std::string> page;
        for (std::string line; std::getline(in, line);) page.push_back(line);
        for (const std::vector<std::string>& args :
             std::vector<std::vector<std::string>>{{"--help"},
                                                   {"watch", "--help"},
                                                   {"inspect", "--help"},
                                                   {"send", "--help"},
                                                   {"list", "--help"}}) {
          const result r = run_tool(args);
          ASSERT_TRUE(sigrelay::test::exited_with(r.status, 0)) << r.output;
          std::size_t checked = 0;
          for (std::string line : lines_of(r.output)) {
            if (line.empty()) continue;
            std::string escaped;
            for (char c : line) escaped += c == '\\' ? std::string("\\e") : std::string(1, c);
            if (escaped[0] == '.' || escaped[0] == '\'') escaped = "\\&" + escaped;
            EXPECT_NE(std::find(page.begin(), page.end(), escaped), page.end()) << args[0] << ": " << line;
            ++checked;
          }
          EXPECT_GT(checked, 5u) << args[0];
        }
      },
      kWatchdog);
}

// ----- bash completion ----------------------------------------------------------------------------

// What bash offers for a command line whose last word is being completed.
std::string complete(const std::string& words) {
  const std::string script =
      "source '" + kCompletion + "'; COMP_WORDS=(" + words +
      "); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _sigrelay; echo \"[${COMPREPLY[*]}]\"";
  process bash("/bin/bash", {"-c", script});
  EXPECT_TRUE(sigrelay::test::exited_with(bash.finish(60), 0)) << bash.output();
  return bash.output();
}

TEST(ToolsCompletion, CompletesSubcommandsOptionsAndSignals) {
  SIGRELAY_IN_CHILD(
      [] {
        EXPECT_EQ(complete(kBin + " wa"), "[watch]\n");
        EXPECT_EQ(complete(kBin + " send US"), "[USR1 USR2]\n");
        // In `sigrelay list` order (compgen keeps the word list's order).
        EXPECT_EQ(complete(kBin + " send --value 3 SIGRTMAX-1"),
                  "[SIGRTMAX-14 SIGRTMAX-13 SIGRTMAX-12 SIGRTMAX-11 SIGRTMAX-10 SIGRTMAX-1]\n");
        EXPECT_EQ(complete(kBin + " watch --js"), "[--json]\n");
        EXPECT_EQ(complete(kBin + " watch --ta"), "[--taken]\n");
        EXPECT_EQ(complete(kBin + " inspect --"), "[--json --help]\n");
        // A pid after the signal: this test's own is among them.
        const std::string mine = std::to_string(getpid());
        EXPECT_NE(complete(kBin + " send USR1 " + mine).find(mine), std::string::npos);
      },
      kWatchdog);
}

// `run`: its own options, --compat= values (bash splits "--compat=ti" into --compat, =, ti), the
// options of the chosen dialect, signal names after -p (a signal there), pids after watch -p.
TEST(ToolsCompletion, CompletesRunOptionsCompatValuesAndPids) {
  SIGRELAY_IN_CHILD(
      [] {
        EXPECT_EQ(complete(kBin + " run --comp"), "[--compat=]\n");
        EXPECT_EQ(complete(kBin + " run -v --comp"), "[]\n") << "--compat must come first";
        EXPECT_EQ(complete(kBin + " run --compat = ti"), "[tini]\n");
        EXPECT_EQ(complete(kBin + " run --compat = ''"), "[tini dumb-init]\n");
        EXPECT_EQ(complete(kBin + " run --compat=d"), "[--compat=dumb-init]\n");
        EXPECT_EQ(complete(kBin + " run --die"), "[--die-by-signal]\n");
        EXPECT_EQ(complete(kBin + " run -w --parent-death-signal US"), "[USR1 USR2]\n");
        EXPECT_EQ(complete(kBin + " run -p SIGUS"), "[SIGUSR1 SIGUSR2]\n");
        EXPECT_EQ(complete(kBin + " run --compat = dumb-init --s"), "[--single-child]\n");
        EXPECT_EQ(complete(kBin + " run --compat = tini -"), "[-h -s -p -v -w -g -e -l --version --]\n");
        const std::string mine = std::to_string(getpid());
        for (const std::string& line :
             {kBin + " watch -p " + mine, kBin + " watch --pid " + mine, kBin + " inspect " + mine}) {
          const std::string offered = complete(line);
          EXPECT_NE(offered.find(mine), std::string::npos) << line << " -> " << offered;
          EXPECT_EQ(offered.find("USR1"), std::string::npos) << line << " -> " << offered;
        }
      },
      kWatchdog);
}

}  // namespace
