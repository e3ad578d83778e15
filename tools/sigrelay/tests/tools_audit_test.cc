// SPDX-License-Identifier: MIT
// tools/sigrelay/tests/tools_audit_test.cc — an adversarial audit of `sigrelay watch`, `inspect`,
// `send` and `list` against the specification, covering only what tools_test.cc does not.
//
// What it checks, and why: the promises a user relies on when things are not tidy. watch must never
// change what the traced process receives (signals blocked then unblocked, signals pending across a
// detach, group-stop and continue, a process already stopped when attached, a mix of thread- and
// process-directed signals in a multi-threaded process, a watch started with an inherited signal
// mask) and must end cleanly when the process exits; --json output must be JSON for any sender
// (python3's strict parser decides where it is installed); send must accept the names kill(1)
// accepts, queue realtime values in order, and treat zombies and missing pids like kill; inspect must
// flag the signalfd trap of an inherited mask, a shell's background job and zombies; list must match
// bash's `kill -L` numbering and signal(7)'s default actions; bad input must say what is wrong.
//
// Every body runs in a forked child under a watchdog (SIGRELAY_IN_CHILD) that makes itself a child
// subreaper, so every process started here, orphaned or not, is reaped here; targets are killed by
// pid (never a group) and waited for; every wait has a deadline and none is a timing assertion.
#include <gtest/gtest.h>

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/child.hpp"
#include "support/process.hpp"

namespace {

using sigrelay::test::exited_with;
using sigrelay::test::killed_by;
using sigrelay::test::process;
using namespace std::chrono_literals;

const std::string kBin = SIGRELAY_BIN;
const std::string kTarget = TOOLS_TARGET;
// Deadlines only (a loaded 2-core machine), never measures.
constexpr auto kWait = std::chrono::milliseconds(20000);
constexpr unsigned kWatchdog = 150;

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

bool has_all(const std::string& line, const std::vector<std::string>& parts) {
  for (const std::string& p : parts) {
    if (line.find(p) == std::string::npos) return false;
  }
  return true;
}

std::string line_with(const std::string& text, const std::vector<std::string>& parts) {
  for (const std::string& line : lines_of(text)) {
    if (has_all(line, parts)) return line;
  }
  return {};
}

std::size_t count_lines(const std::string& text, const std::vector<std::string>& parts) {
  std::size_t n = 0;
  for (const std::string& line : lines_of(text)) n += has_all(line, parts) ? 1 : 0;
  return n;
}

// Waits until `count` lines of `p`'s output contain every one of `parts`.
bool wait_for_lines(process& p, const std::vector<std::string>& parts, std::size_t count = 1,
                    std::chrono::milliseconds timeout = kWait) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (count_lines(p.output(), parts) < count) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    p.wait_for_output("\x01never\x01", 200ms);
  }
  return true;
}

pid_t number_after(const std::string& text, const std::string& prefix) {
  const std::size_t at = text.find(prefix);
  if (at == std::string::npos) return -1;
  return static_cast<pid_t>(std::strtol(text.c_str() + at + prefix.size(), nullptr, 10));
}

std::string status_field(pid_t pid, const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(key + ":", 0) == 0) return line.substr(line.find_first_not_of(" \t", key.size() + 1));
  }
  return {};
}

std::uint64_t status_mask(pid_t pid, const std::string& key) {
  const std::string hex = status_field(pid, key);
  return hex.empty() ? 0 : std::stoull(hex, nullptr, 16);
}

std::uint64_t bit(int signo) { return std::uint64_t{1} << (signo - 1); }

// The state letters of every thread of `pid` (/proc/PID/task/*/stat), e.g. "SSS" or "ttt".
std::string thread_states(pid_t pid) {
  std::string states;
  const std::string task = "/proc/" + std::to_string(pid) + "/task/";
  DIR* dir = opendir(task.c_str());
  if (dir == nullptr) return states;
  while (const dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream stat(task + e->d_name + "/stat");
    const std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    const std::size_t close = text.rfind(')');
    if (close != std::string::npos && close + 2 < text.size()) states += text[close + 2];
  }
  closedir(dir);
  return states;
}

// Waits until every thread of `pid` is in one of the states `letters`.
bool wait_for_states(pid_t pid, const std::string& letters) {
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  for (;;) {
    const std::string s = thread_states(pid);
    if (!s.empty() && s.find_first_not_of(letters) == std::string::npos) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
}

bool wait_for_mask_bit(pid_t pid, const std::string& key, int signo) {
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  while ((status_mask(pid, key) & bit(signo)) == 0) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

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

// Makes the test body a child subreaper (orphans of what it starts come back to it) and, at the end,
// reaps whatever is left: nothing outlives the test.
struct reaper {
  reaper() { prctl(PR_SET_CHILD_SUBREAPER, 1); }
  ~reaper() {
    for (;;) {
      const pid_t p = waitpid(-1, nullptr, WNOHANG);
      if (p <= 0) break;
    }
  }
};

// A child of the test body running `body(out_fd)` (which must _exit), its output read from a pipe.
// Killed (by pid) and reaped on destruction if still there.
class forked {
 public:
  explicit forked(const std::function<void(int)>& body) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return;
    std::fflush(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      close(fds[0]);
      body(fds[1]);
      _exit(126);
    }
    close(fds[1]);
    fd_ = fds[0];
  }
  ~forked() {
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      sigrelay::test::wait_with_deadline(pid_, 10);
    }
    if (fd_ >= 0) close(fd_);
  }
  forked(const forked&) = delete;
  forked& operator=(const forked&) = delete;
  pid_t pid() const { return pid_; }
  const std::string& output() const { return out_; }
  bool wait_for(const std::vector<std::string>& parts, std::size_t count = 1,
                std::chrono::milliseconds timeout = kWait) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (count_lines(out_, parts) < count) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 200))) <= 0) continue;
      char buf[4096];
      const ssize_t n = read(fd_, buf, sizeof buf);
      if (n <= 0) return count_lines(out_, parts) >= count;
      out_.append(buf, static_cast<std::size_t>(n));
    }
    return true;
  }
  int finish(unsigned timeout_s = 30) {
    wait_for({"\x01never\x01"}, 1, std::chrono::milliseconds(timeout_s * 1000));
    reaped_ = true;
    return sigrelay::test::wait_with_deadline(pid_, timeout_s);
  }

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
  bool reaped_ = false;
  std::string out_;
};

// Runs `path args` from a fork with `blocked` blocked (and the rest of the signal state clean).
forked exec_blocked(const std::string& path, const std::vector<std::string>& args, const sigset_t& blocked) {
  return forked([&](int out) {
    dup2(out, 1);
    dup2(out, 2);
    sigrelay::test::reset_signal_state();
    sigprocmask(SIG_SETMASK, &blocked, nullptr);
    std::vector<char*> argv{const_cast<char*>(path.c_str())};
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(path.c_str(), argv.data());
    _exit(127);
  });
}

// Async-signal-safe: "PREFIX A B\n" to `fd`.
void write_record(int fd, const char* prefix, long a, long b) {
  char line[96];
  std::size_t n = 0;
  for (const char* p = prefix; *p != '\0' && n < 40; ++p) line[n++] = *p;
  for (long v : {a, b}) {
    line[n++] = ' ';
    if (v < 0) {
      line[n++] = '-';
      v = -v;
    }
    char digits[24];
    std::size_t d = 0;
    do {
      digits[d++] = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v > 0);
    while (d > 0) line[n++] = digits[--d];
  }
  line[n++] = '\n';
  (void)!write(fd, line, n);
}

// A receiver: blocks every signal, waits for a byte on `gate` (if >= 0), then takes signals with
// sigwaitinfo() for ever, printing "sig SIGNO CODE", "from PID UID" and "value V" for each.
[[noreturn]] void sigwait_receiver(int out, int gate) {
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_SETMASK, &all, nullptr);
  (void)!write(out, "ready\n", 6);
  char c;
  if (gate >= 0) {
    while (read(gate, &c, 1) < 0 && errno == EINTR) {
    }
  }
  for (;;) {
    siginfo_t info;
    std::memset(&info, 0, sizeof info);
    const int signo = sigwaitinfo(&all, &info);
    if (signo <= 0) continue;
    write_record(out, "sig", signo, info.si_code);
    write_record(out, "from", info.si_pid, static_cast<long>(info.si_uid));
    write_record(out, "value", info.si_value.sival_int, 0);
  }
}

// python3, if installed: runs `code` with the path of a file holding `text` as sys.argv[1].
bool have_python() {
  return access("/usr/bin/python3", X_OK) == 0 || system("command -v python3 >/dev/null") == 0;
}

result python(const std::string& code, const std::string& text) {
  char path[] = "/tmp/tools_audit_XXXXXX";
  const int fd = mkstemp(path);
  if (fd < 0) return {-1, "mkstemp failed"};
  (void)!write(fd, text.data(), text.size());
  close(fd);
  process p("/bin/sh", {"-c", "exec python3 -c \"$0\" \"$1\"", code, path});
  const int status = p.finish(60);
  unlink(path);
  return {status, p.output()};
}

// Every non-empty line of `text` parses as JSON (strictly: bytes decoded as UTF-8).
const char kJsonLines[] =
    "import json,sys\n"
    "for l in open(sys.argv[1],'rb'):\n"
    "  l=l.strip()\n"
    "  if l: json.loads(l.decode('utf-8'))\n"
    "print('json ok')\n";

// ----- list -------------------------------------------------------------------------------------

// Spec: "`list` prints names, numbers, default actions and descriptions (like `kill -L`, plus the
// defaults)". Every number and name is bash's `kill -L`; every standard default is signal(7)'s; the
// JSON form says the same as the text.
TEST(ToolsAuditList, MatchesBashKillLAndSignal7Defaults) {
  SIGRELAY_IN_CHILD(
      [] {
        reaper r;
        process bash("/bin/bash", {"-c", "kill -L"});
        ASSERT_TRUE(exited_with(bash.finish(60), 0)) << bash.output();
        std::map<int, std::string> kill_l;  // "N) SIGNAME" pairs
        std::istringstream words(bash.output());
        for (std::string w; words >> w;) {
          if (w.size() > 1 && w.back() == ')') {
            std::string name;
            words >> name;
            kill_l[std::atoi(w.c_str())] = name;
          }
        }
        ASSERT_GE(kill_l.size(), 31u) << bash.output();
        const result list = run_tool({"list"});
        ASSERT_TRUE(exited_with(list.status, 0)) << list.output;
        std::map<int, std::pair<std::string, std::string>> ours;  // number -> name, default
        for (const std::string& line : lines_of(list.output)) {
          std::istringstream in(line);
          int n = 0;
          std::string name, dfl;
          if (in >> n >> name >> dfl) ours[n] = {name, dfl};
        }
        for (const auto& [n, name] : kill_l) {
          ASSERT_TRUE(ours.count(n)) << "kill -L lists " << n << " " << name << "; sigrelay list does not";
          EXPECT_EQ(ours[n].first, name) << n;
        }
        EXPECT_EQ(ours.size(), kill_l.size()) << list.output;
        const std::map<std::string, std::string> signal7 = {
            {"SIGHUP", "Term"},  {"SIGINT", "Term"},    {"SIGQUIT", "Core"}, {"SIGILL", "Core"},
            {"SIGTRAP", "Core"}, {"SIGABRT", "Core"},   {"SIGBUS", "Core"},  {"SIGFPE", "Core"},
            {"SIGKILL", "Term"}, {"SIGUSR1", "Term"},   {"SIGSEGV", "Core"}, {"SIGUSR2", "Term"},
            {"SIGPIPE", "Term"}, {"SIGALRM", "Term"},   {"SIGTERM", "Term"}, {"SIGSTKFLT", "Term"},
            {"SIGCHLD", "Ign"},  {"SIGCONT", "Cont"},   {"SIGSTOP", "Stop"}, {"SIGTSTP", "Stop"},
            {"SIGTTIN", "Stop"}, {"SIGTTOU", "Stop"},   {"SIGURG", "Ign"},   {"SIGXCPU", "Core"},
            {"SIGXFSZ", "Core"}, {"SIGVTALRM", "Term"}, {"SIGPROF", "Term"}, {"SIGWINCH", "Ign"},
            {"SIGIO", "Term"},   {"SIGPWR", "Term"},    {"SIGSYS", "Core"}};
        for (const auto& [n, entry] : ours) {
          const auto it = signal7.find(entry.first);
          const std::string expected = it != signal7.end() ? it->second : "Term";  // realtime: Term
          EXPECT_EQ(entry.second, expected) << n << " " << entry.first;
        }
        const result json = run_tool({"list", "--json"});
        ASSERT_TRUE(exited_with(json.status, 0)) << json.output;
        if (!have_python()) GTEST_SKIP() << "python3 is not installed: JSON comparison skipped";
        const result py = python(
            "import json,sys\n"
            "for e in json.load(open(sys.argv[1],'rb')): print(e['number'], e['name'], e['default'])\n",
            json.output);
        ASSERT_TRUE(exited_with(py.status, 0)) << py.output;
        std::string text_table;
        for (const auto& [n, entry] : ours)
          text_table += std::to_string(n) + " " + entry.first + " " + entry.second + "\n";
        EXPECT_EQ(py.output, text_table);
      },
      kWatchdog);
}

// ----- send -------------------------------------------------------------------------------------

// Spec: "`sigrelay send SIG PID…`" with names "in every form (TERM, SIGTERM, 15, RTMIN+2, sigterm)"
// as kill(1) accepts them. Each form reaches a real receiver (sigwaitinfo) as the expected signal;
// each malformed one is refused with exit 2, naming it, and sends nothing.
TEST(ToolsAuditSend, NameFormsKillAcceptsReachTheReceiver) {
  SIGRELAY_IN_CHILD(
      [] {
        reaper r;
        forked receiver([](int out) { sigwait_receiver(out, -1); });
        ASSERT_TRUE(receiver.wait_for({"ready"}));
        const std::string pid = std::to_string(receiver.pid());
        const std::vector<std::pair<std::string, int>> forms = {{"TERM", SIGTERM},
                                                                {"SIGTERM", SIGTERM},
                                                                {"15", SIGTERM},
                                                                {"sigterm", SIGTERM},
                                                                {"term", SIGTERM},
                                                                {"SigTerm", SIGTERM},
                                                                {"015", SIGTERM},
                                                                {"HUP", SIGHUP},
                                                                {"RTMIN", SIGRTMIN},
                                                                {"RTMIN+2", SIGRTMIN + 2},
                                                                {"SIGRTMIN+2", SIGRTMIN + 2},
                                                                {"rtmin+2", SIGRTMIN + 2},
                                                                {"sigrtmin+2", SIGRTMIN + 2},
                                                                {"RTMAX", SIGRTMAX},
                                                                {"SIGRTMAX-1", SIGRTMAX - 1},
                                                                {"IOT", SIGABRT},
                                                                {"POLL", SIGIO},
                                                                {std::to_string(SIGRTMAX), SIGRTMAX}};
        std::size_t received = 0;
        for (const auto& [form, signo] : forms) {
          // What bash's kill says the form is, where bash knows it.
          process bash("/bin/bash", {"-c", "kill -l \"$0\"", form});
          const int bash_status = bash.finish(60);
          if (exited_with(bash_status, 0) && form.find_first_not_of("0123456789") != std::string::npos) {
            EXPECT_EQ(std::atoi(bash.output().c_str()), signo) << form << ": bash says " << bash.output();
          }
          const result sent = run_tool({"send", form, pid});
          EXPECT_TRUE(exited_with(sent.status, 0)) << form << ": " << sent.output;
          ++received;
          ASSERT_TRUE(receiver.wait_for({"sig "}, received)) << form << "\n" << receiver.output();
          const std::vector<std::string> all = lines_of(receiver.output());
          std::vector<std::string> sigs;
          for (const std::string& l : all) {
            if (l.rfind("sig ", 0) == 0) sigs.push_back(l);
          }
          EXPECT_EQ(sigs.back(), "sig " + std::to_string(signo) + " " + std::to_string(SI_USER)) << form;
        }
        for (const std::string bad :
             {"SIGFOO", "RTMIN+31", "RTMIN-1", "RTMAX+1", "65", "32", "TERM ", "SIG", "-15", "1e1"}) {
          const result sent = run_tool({"send", bad, pid});
          EXPECT_TRUE(exited_with(sent.status, 2)) << "'" << bad << "': " << sent.output;
          EXPECT_NE(sent.output.find("unknown signal '" + bad + "'"), std::string::npos)
              << "'" << bad << "': " << sent.output;
        }
        // Nothing was sent by the refused ones: the next signal taken is the marker.
        ASSERT_TRUE(exited_with(run_tool({"send", "USR2", pid}).status, 0));
        ++received;
        ASSERT_TRUE(receiver.wait_for({"sig "}, received)) << receiver.output();
        EXPECT_EQ(count_lines(receiver.output(), {"sig "}), received) << receiver.output();
        EXPECT_NE(line_with(receiver.output(), {"sig " + std::to_string(SIGUSR2) + " "}), "");
      },
      kWatchdog);
}

// Spec: "--value N (sigqueue)", "--thread TID (tgkill)", "--pidfd (pidfd_send_signal)", "send ... with
// a realtime signal and a value, checking what the receiver got via sigwaitinfo in a real child".
// Realtime signals queue: five sent while blocked (four modes) are all taken, in order, with their
// values, SI_QUEUE, and the sender's pid and uid (the one sent to the thread first: sigwaitinfo() takes
// a thread's own pending signals before the process's).
TEST(ToolsAuditSend, RealtimeValuesQueueInOrderForSigwaitinfo) {
  SIGRELAY_IN_CHILD(
      [] {
        reaper r;
        int gate[2];
        ASSERT_EQ(pipe2(gate, O_CLOEXEC), 0);
        forked receiver([&](int out) {
          close(gate[1]);
          sigwait_receiver(out, gate[0]);
        });
        close(gate[0]);
        ASSERT_TRUE(receiver.wait_for({"ready"}));
        const std::string pid = std::to_string(receiver.pid());
        const std::vector<std::pair<std::vector<std::string>, int>> sends = {
            {{"send", "--thread", pid, "--value", "0", std::to_string(SIGRTMIN + 2), pid}, 0},
            {{"send", "--value", "7", "RTMIN+2", pid}, 7},
            {{"send", "--value", "-1", "SIGRTMIN+2", pid}, -1},
            {{"send", "--pidfd", "--value", "2147483647", "rtmin+2", pid}, 2147483647},
            {{"send", "--value", "-2147483648", "RTMIN+2", pid}, -2147483647 - 1}};
        std::vector<pid_t> senders;
        for (const auto& [args, value] : sends) {
          process s(kBin, args);
          senders.push_back(s.pid());
          EXPECT_TRUE(exited_with(s.finish(60), 0)) << s.output();
        }
        ASSERT_TRUE(wait_for_mask_bit(receiver.pid(), "ShdPnd", SIGRTMIN + 2) ||
                    wait_for_mask_bit(receiver.pid(), "SigPnd", SIGRTMIN + 2));

        ASSERT_EQ(write(gate[1], "g", 1), 1);
        close(gate[1]);
        ASSERT_TRUE(receiver.wait_for({"value "}, sends.size())) << receiver.output();
        const std::vector<std::string> lines = lines_of(receiver.output());
        std::vector<std::string> records;
        for (const std::string& l : lines) {
          if (l != "ready") records.push_back(l);
        }
        ASSERT_EQ(records.size(), 3 * sends.size()) << receiver.output();
        for (std::size_t i = 0; i < sends.size(); ++i) {
          EXPECT_EQ(records[3 * i], "sig " + std::to_string(SIGRTMIN + 2) + " " + std::to_string(SI_QUEUE))
              << i;
          EXPECT_EQ(records[3 * i + 1], "from " + std::to_string(senders[i]) + " " + std::to_string(getuid()))
              << i;
          EXPECT_EQ(records[3 * i + 2], "value " + std::to_string(sends[i].second) + " 0") << i;
        }
      },
      kWatchdog);
}

// Spec: "send to a pid that does not exist / a zombie"; "Every PID is tried" (send's design notes).
// A zombie is signalled as kill(1) does it (success, no effect: it keeps its exit status) in every
// mode; among several pids a missing one is reported by name and the others still get the signal.
// inspect of the zombie itself, and of its parent, says so (also as JSON).
TEST(ToolsAuditSend, ZombiesAndMissingPidsAmongSeveral) {
  SIGRELAY_IN_CHILD(
      [] {
        reaper r;
        const pid_t zombie = fork();
        if (zombie == 0) _exit(3);
        ASSERT_GT(zombie, 0);
        siginfo_t info{};
        ASSERT_EQ(waitid(P_PID, static_cast<id_t>(zombie), &info, WEXITED | WNOWAIT), 0);
        const std::string z = std::to_string(zombie);
        process kill1("/bin/sh", {"-c", "exec kill -s TERM \"$0\"", z});
        const int kill_status = kill1.finish(60);
        for (const std::vector<std::string>& args :
             std::vector<std::vector<std::string>>{{"send", "TERM", z},
                                                   {"send", "--value", "4", "RTMIN+2", z},
                                                   {"send", "--pidfd", "KILL", z},
                                                   {"send", "--thread", z, "USR1", z}}) {
          const result sent = run_tool(args);
          EXPECT_EQ(sent.status, kill_status) << args[1] << ": " << sent.output;
        }
        const result text = run_tool({"inspect", z});
        EXPECT_TRUE(exited_with(text.status, 0)) << text.output;
        EXPECT_NE(line_with(text.output, {"process " + z + " (", "state Z (zombie)"}), "") << text.output;
        const result parent = run_tool({"inspect", "--json", std::to_string(getpid())});
        EXPECT_TRUE(exited_with(parent.status, 0)) << parent.output;
        EXPECT_NE(parent.output.find("{\"pid\":" + z + ",\"comm\":"), std::string::npos) << parent.output;
        EXPECT_NE(parent.output.find("zombie children not reaped: " + z + " ("), std::string::npos)
            << parent.output;
        int status = 0;
        ASSERT_EQ(waitpid(zombie, &status, 0), zombie);
        EXPECT_TRUE(exited_with(status, 3)) << "the signals changed the zombie's status";

        // Several pids, one missing (a reaped child): each tried, the missing one named.
        forked a([](int out) { sigwait_receiver(out, -1); });
        forked b([](int out) { sigwait_receiver(out, -1); });
        ASSERT_TRUE(a.wait_for({"ready"}));
        ASSERT_TRUE(b.wait_for({"ready"}));
        const std::string gone = z;  // reaped above
        const result sent =
            run_tool({"send", "USR1", std::to_string(a.pid()), gone, std::to_string(b.pid())});
        EXPECT_TRUE(exited_with(sent.status, 1)) << sent.output;
        EXPECT_EQ(count_lines(sent.output, {"sigrelay send: cannot send"}), 1u) << sent.output;
        EXPECT_NE(line_with(sent.output, {"cannot send SIGUSR1 to pid " + gone + ": No such process"}), "")
            << sent.output;
        EXPECT_TRUE(a.wait_for({"sig " + std::to_string(SIGUSR1) + " "})) << a.output();
        EXPECT_TRUE(b.wait_for({"sig " + std::to_string(SIGUSR1) + " "})) << b.output();
      },
      kWatchdog);
}

// ----- bad input --------------------------------------------------------------------------------

// Spec: "Bad input gets a clear error naming the signal, non-zero exit." A bad signal in watch's
// filter is named like send names it; watch -p of a zombie says it is one (it is no permission
// problem).
TEST(ToolsAuditBadInput, ErrorsNameWhatIsWrong) {
  SIGRELAY_IN_CHILD(
      [] {
        reaper r;
        forked target([](int out) { sigwait_receiver(out, -1); });
        ASSERT_TRUE(target.wait_for({"ready"}));
        const std::string pid = std::to_string(target.pid());
        for (const std::string bad : {"SIGFOO", "RTMIN+40"}) {
          const result watch = run_tool({"watch", bad, "-p", pid});
          EXPECT_FALSE(exited_with(watch.status, 0)) << watch.output;
          EXPECT_NE(watch.output.find("unknown signal '" + bad + "'"), std::string::npos)
              << "sigrelay watch " << bad << " -p " << pid << ":\n"
              << watch.output;
          const result send = run_tool({"send", bad, pid});
          EXPECT_TRUE(exited_with(send.status, 2)) << send.output;
          EXPECT_NE(send.output.find("unknown signal '" + bad + "'"), std::string::npos) << send.output;
        }
        EXPECT_EQ(count_lines(target.output(), {"sig "}), 0u) << target.output();
        if (!ptrace_permitted()) return;
        const pid_t zombie = fork();
        if (zombie == 0) _exit(0);
        siginfo_t info{};
        ASSERT_EQ(waitid(P_PID, static_cast<id_t>(zombie), &info, WEXITED | WNOWAIT), 0);
        const result watch = run_tool({"watch", "-p", std::to_string(zombie)});
        EXPECT_TRUE(exited_with(watch.status, 1)) << watch.output;
        EXPECT_NE(watch.output.find("zombie"), std::string::npos)
            << "sigrelay watch -p " << zombie << " (a zombie):\n"
            << watch.output;
        ASSERT_EQ(waitpid(zombie, nullptr, 0), zombie);
      },
      kWatchdog);
}

// The exit statuses the help texts (and so sigrelay(1)) promise: "2 on a usage error" for inspect
// and for send, whatever part of the command line is wrong.
TEST(ToolsAuditBadInput, UsageErrorsExitWithTwoAsDocumented) {
  SIGRELAY_IN_CHILD(
      [] {
        const pid_t me = getpid();
        for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
                 {"inspect", "abc"},
                 {"inspect", "0"},
                 {"send", "--value", "abc", "TERM", std::to_string(me)},
                 {"send", "--value", "2147483648", "TERM", std::to_string(me)},
                 {"send", "TERM", "12abc"}}) {
          const result r = run_tool(args);
          std::string line;
          for (const std::string& a : args) line += " " + a;
          EXPECT_TRUE(exited_with(r.status, 2)) << "sigrelay" << line << ":\n" << r.output;
          EXPECT_FALSE(r.output.empty()) << line;
        }
      },
      kWatchdog);
}

// ----- inspect ----------------------------------------------------------------------------------

// Spec: inspect flags "signals blocked by an inherited mask — the signalfd trap". A program exec'd
// with SIGUSR1 and SIGTERM blocked (as a parent using a signalfd leaves them) is flagged, a SIGTERM
// sent to it then is shown pending and stuck; the JSON (parsed by python3) says the same.
TEST(ToolsAuditInspect, MaskInheritedAcrossExecIsTheSignalfdTrap) {
  SIGRELAY_IN_CHILD(
      [] {
        reaper r;
        sigset_t blocked;
        sigemptyset(&blocked);
        sigaddset(&blocked, SIGUSR1);
        sigaddset(&blocked, SIGTERM);
        forked sleeper = exec_blocked("/bin/sleep", {"60"}, blocked);
        const pid_t pid = sleeper.pid();
        // Until exec has happened the comm is the test's; wait for sleep's.
        const auto deadline = std::chrono::steady_clock::now() + kWait;
        while (status_field(pid, "Name") != "sleep" && std::chrono::steady_clock::now() < deadline)
          std::this_thread::sleep_for(5ms);
        ASSERT_EQ(status_field(pid, "Name"), "sleep");
        ASSERT_EQ(kill(pid, SIGTERM), 0);
        ASSERT_TRUE(wait_for_mask_bit(pid, "ShdPnd", SIGTERM));
        const result text = run_tool({"inspect", std::to_string(pid)});
        ASSERT_TRUE(exited_with(text.status, 0)) << text.output;
        EXPECT_NE(line_with(text.output, {"blocked:", "SIGUSR1 SIGTERM"}), "") << text.output;
        EXPECT_NE(line_with(text.output, {"pending (process):", "SIGTERM"}), "") << text.output;
        EXPECT_NE(line_with(text.output, {"! SIGUSR1 SIGTERM blocked in every thread and read by no signalfd",
                                          "signalfd trap"}),
                  "")
            << text.output;
        EXPECT_NE(line_with(text.output, {"! SIGTERM pending but blocked"}), "") << text.output;
        EXPECT_EQ(line_with(text.output, {"ignored"}).find("SIGINT"), std::string::npos) << text.output;
        const result json = run_tool({"inspect", "--json", std::to_string(pid)});
        ASSERT_TRUE(exited_with(json.status, 0)) << json.output;
        if (have_python()) {
          const result py = python(
              "import json,sys\n"
              "d=json.load(open(sys.argv[1],'rb'))\n"
              "print('pending', d['pending_process'])\n"
              "print('blocked', d['threads'][0]['blocked'])\n"
              "for t in d['traps']: print('trap', t['kind'], t['signals'])\n",
              json.output);
          ASSERT_TRUE(exited_with(py.status, 0)) << py.output;
          EXPECT_NE(py.output.find("pending ['SIGTERM']"), std::string::npos) << py.output;
          EXPECT_NE(py.output.find("blocked ['SIGUSR1', 'SIGTERM']"), std::string::npos) << py.output;
          EXPECT_NE(py.output.find("trap inherited_block ['SIGUSR1', 'SIGTERM']"), std::string::npos)
              << py.output;
          EXPECT_NE(py.output.find("trap pending_blocked ['SIGTERM']"), std::string::npos) << py.output;
          EXPECT_EQ(py.output.find("trap background_ignored"), std::string::npos) << py.output;
        }
        ASSERT_EQ(kill(pid, SIGKILL), 0);
        EXPECT_TRUE(killed_by(sleeper.finish(), SIGKILL));
      },
      kWatchdog);
}

// Spec: inspect flags "SIGINT/SIGQUIT ignored because started in the background by a shell". Here
// the shell `sh -c 'cmd &'` exits at once and its job is orphaned (to this test, a subreaper); the
// JSON (python3) carries the trap; the same program started in the foreground is not flagged.
TEST(ToolsAuditInspect, OrphanedShellBackgroundJobAsJson) {
  SIGRELAY_IN_CHILD(
      [] {
        reaper r;
        process shell("/bin/sh", {"-c", "sleep 60 >/dev/null 2>&1 & echo job $!"});
        EXPECT_TRUE(exited_with(shell.finish(60), 0)) << shell.output();
        const pid_t job = number_after(shell.output(), "job ");
        ASSERT_GT(job, 0) << shell.output();
        EXPECT_EQ(status_field(job, "PPid"), std::to_string(getpid()));  // orphaned to us
        const result json = run_tool({"inspect", "--json", std::to_string(job)});
        process fg("/bin/sleep", {"60"});
        const result fg_text = run_tool({"inspect", std::to_string(fg.pid())});
        ASSERT_EQ(kill(job, SIGKILL), 0);
        EXPECT_EQ(sigrelay::test::wait_with_deadline(job, 30) & 0x7f, SIGKILL);
        ASSERT_TRUE(exited_with(json.status, 0)) << json.output;
        ASSERT_TRUE(exited_with(fg_text.status, 0)) << fg_text.output;
        EXPECT_EQ(fg_text.output.find("background"), std::string::npos) << fg_text.output;
        EXPECT_NE(json.output.find("{\"kind\":\"background_ignored\",\"signals\":[\"SIGINT\",\"SIGQUIT\"]"),
                  std::string::npos)
            << json.output;
        if (have_python()) {
          const result py = python(
              "import json,sys\n"
              "d=json.load(open(sys.argv[1],'rb'))\n"
              "print('ignored', d['ignored'], 'ppid', d['ppid'])\n"
              "print([t['kind'] for t in d['traps']])\n",
              json.output);
          ASSERT_TRUE(exited_with(py.status, 0)) << py.output;
          EXPECT_NE(py.output.find("ignored ['SIGINT', 'SIGQUIT'] ppid " + std::to_string(getpid())),
                    std::string::npos)
              << py.output;
          EXPECT_NE(py.output.find("'background_ignored'"), std::string::npos) << py.output;
        }
      },
      kWatchdog);
}

// ----- watch ------------------------------------------------------------------------------------

// Spec: "a traced process that is itself stopped (SIGSTOP) and continued while watched (group-stop
// must still work: after the watcher detaches, the process's state must be what it would have
// been)"; "Clean detach on Ctrl+C (SIGINT to the watcher ...)". A multi-threaded target: stopped
// while watched, all its threads stop and its parent sees the stop; a signal sent meanwhile stays
// pending; SIGINT detaches and it is still stopped; SIGCONT runs it and the pending signal is
// handled. Then attached while already stopped: it stays stopped until a SIGCONT, seen by watch.
TEST(ToolsAuditWatch, GroupStopSurvivesWatchAndDetach) {
  SIGRELAY_IN_CHILD(
      [] {
        if (!ptrace_permitted()) GTEST_SKIP() << "ptrace is not permitted here";
        reaper r;
        process target(kTarget, {"handlers"});
        ASSERT_TRUE(wait_for_lines(target, {"ready "})) << target.output();
        const pid_t pid = target.pid();
        const std::string p = std::to_string(pid);
        {
          process watch(kBin, {"watch", "-p", p});
          ASSERT_TRUE(wait_for_lines(watch, {"watching pid " + p})) << watch.output();
          ASSERT_EQ(kill(pid, SIGSTOP), 0);
          EXPECT_TRUE(wait_for_lines(watch, {"SIGSTOP to " + p + ": from pid "})) << watch.output();
          EXPECT_TRUE(wait_for_states(pid, "tT")) << thread_states(pid);
          // The parent (this test) sees the stop, as without watch.
          siginfo_t info{};
          const auto deadline = std::chrono::steady_clock::now() + kWait;
          while (info.si_pid != pid && std::chrono::steady_clock::now() < deadline) {
            std::memset(&info, 0, sizeof info);
            waitid(P_PID, static_cast<id_t>(pid), &info, WSTOPPED | WNOHANG | WNOWAIT);
            if (info.si_pid != pid) std::this_thread::sleep_for(5ms);
          }
          EXPECT_EQ(info.si_pid, pid);
          EXPECT_EQ(info.si_code, CLD_STOPPED);
          EXPECT_EQ(info.si_status, SIGSTOP);
          ASSERT_EQ(kill(pid, SIGUSR1), 0);  // pending while stopped
          ASSERT_TRUE(wait_for_mask_bit(pid, "ShdPnd", SIGUSR1));
          ASSERT_EQ(kill(watch.pid(), SIGINT), 0);
          EXPECT_TRUE(exited_with(watch.finish(60), 0)) << watch.output();
        }
        EXPECT_EQ(status_field(pid, "TracerPid"), "0");
        EXPECT_TRUE(wait_for_states(pid, "T")) << "after detach: " << thread_states(pid);
        EXPECT_NE(status_mask(pid, "ShdPnd") & bit(SIGUSR1), 0u);
        EXPECT_EQ(count_lines(target.output(), {"got SIGUSR1 in "}), 0u) << target.output();
        ASSERT_EQ(kill(pid, SIGCONT), 0);
        EXPECT_TRUE(wait_for_lines(target, {"got SIGUSR1 in "})) << target.output();
        EXPECT_TRUE(wait_for_states(pid, "SR")) << thread_states(pid);

        // Attach to a process that is already stopped.
        ASSERT_EQ(kill(pid, SIGSTOP), 0);
        ASSERT_TRUE(wait_for_states(pid, "T")) << thread_states(pid);
        {
          process watch(kBin, {"watch", "-p", p});
          ASSERT_TRUE(wait_for_lines(watch, {"watching pid " + p})) << watch.output();
          EXPECT_TRUE(wait_for_states(pid, "tT")) << "attached: " << thread_states(pid);
          ASSERT_EQ(kill(pid, SIGUSR1), 0);
          ASSERT_TRUE(wait_for_mask_bit(pid, "ShdPnd", SIGUSR1));
          EXPECT_EQ(count_lines(target.output(), {"got SIGUSR1 in "}), 1u) << target.output();
          ASSERT_EQ(kill(pid, SIGCONT), 0);
          EXPECT_TRUE(wait_for_lines(watch, {"SIGCONT to "})) << watch.output();  // to any of its threads
          EXPECT_TRUE(wait_for_lines(target, {"got SIGUSR1 in "}, 2)) << target.output();
          EXPECT_TRUE(wait_for_lines(watch, {"SIGUSR1 to "})) << watch.output();
          ASSERT_EQ(kill(watch.pid(), SIGTERM), 0);
          EXPECT_TRUE(exited_with(watch.finish(60), 0)) << watch.output();
        }
        EXPECT_EQ(status_field(pid, "TracerPid"), "0");
        EXPECT_TRUE(wait_for_states(pid, "SR")) << thread_states(pid);
        ASSERT_EQ(kill(pid, SIGUSR1), 0);
        EXPECT_TRUE(wait_for_lines(target, {"got SIGUSR1 in "}, 3)) << target.output();
        ASSERT_EQ(kill(pid, SIGHUP), 0);
        EXPECT_TRUE(exited_with(target.finish(60), 0)) << target.output();
      },
      kWatchdog);
}

// Spec: "the traced process exiting while watched (watch must end cleanly with a clear line and
// status)". Killed by a signal it does not handle (the line names it, the parent sees the same
// death); a multi-threaded one exiting 0.
TEST(ToolsAuditWatch, ProcessExitingWhileWatchedEndsTheWatch) {
  SIGRELAY_IN_CHILD(
      [] {
        if (!ptrace_permitted()) GTEST_SKIP() << "ptrace is not permitted here";
        reaper r;
        {
          process target(kTarget, {"receive"});
          ASSERT_TRUE(wait_for_lines(target, {"ready "})) << target.output();
          const std::string p = std::to_string(target.pid());
          process watch(kBin, {"watch", "-p", p});
          ASSERT_TRUE(wait_for_lines(watch, {"watching pid " + p})) << watch.output();
          ASSERT_EQ(kill(target.pid(), SIGTERM), 0);
          EXPECT_TRUE(exited_with(watch.finish(60), 0)) << watch.output();
          EXPECT_NE(line_with(watch.output(), {"SIGTERM to " + p + ": from pid " + std::to_string(getpid())}),
                    "")
              << watch.output();
          EXPECT_NE(line_with(watch.output(), {"sigrelay watch: pid " + p + " was killed by SIGTERM"}), "")
              << watch.output();
          EXPECT_TRUE(killed_by(target.finish(60), SIGTERM)) << target.output();
        }
        process target(kTarget, {"threads"});
        ASSERT_TRUE(wait_for_lines(target, {"thread ", " ready"}, 2)) << target.output();
        const std::string p = std::to_string(target.pid());
        process watch(kBin, {"watch", "-p", p});
        ASSERT_TRUE(wait_for_lines(watch, {"watching pid " + p})) << watch.output();
        ASSERT_EQ(kill(target.pid(), SIGHUP), 0);  // the main thread's sigwaitinfo(); _exit(0)
        EXPECT_TRUE(exited_with(watch.finish(60), 0)) << watch.output();
        EXPECT_NE(line_with(watch.output(), {"sigrelay watch: pid " + p + " exited with status 0"}), "")
            << watch.output();
        EXPECT_TRUE(exited_with(target.finish(60), 0)) << target.output();
      },
      kWatchdog);
}

// Spec: "watch -p on a multi-threaded process receiving thread-directed signals (tgkill) and
// process-directed ones". Each delivery gives exactly one line, naming the thread whose handler
// ran, for a process-directed signal too; thread-directed ignored ones are seen for their thread.
TEST(ToolsAuditWatch, MixOfThreadAndProcessDirectedSignals) {
  SIGRELAY_IN_CHILD(
      [] {
        if (!ptrace_permitted()) GTEST_SKIP() << "ptrace is not permitted here";
        reaper r;
        process target(kTarget, {"handlers"});
        ASSERT_TRUE(wait_for_lines(target, {"ready "})) << target.output();
        ASSERT_TRUE(wait_for_lines(target, {"thread ", " ready"}, 2)) << target.output();
        std::vector<pid_t> tids;
        for (const std::string& l : lines_of(target.output())) {
          if (l.rfind("thread ", 0) == 0) tids.push_back(number_after(l, "thread "));
        }
        const pid_t pid = target.pid();
        const std::string p = std::to_string(pid);
        process watch(kBin, {"watch", "--json", "-p", p});
        ASSERT_TRUE(wait_for_lines(watch, {"watching pid " + p})) << watch.output();
        std::size_t n = 0;
        auto check = [&](const std::string& how, const std::function<void()>& send) {
          send();
          ++n;
          ASSERT_TRUE(wait_for_lines(target, {"got SIGUSR1 in "}, n)) << how << "\n" << target.output();
          ASSERT_TRUE(wait_for_lines(watch, {"\"signal\":\"SIGUSR1\""}, n)) << how << "\n" << watch.output();
          std::vector<std::string> handled, seen;
          for (const std::string& l : lines_of(target.output())) {
            if (l.rfind("got SIGUSR1 in ", 0) == 0) handled.push_back(l.substr(15));
          }
          for (const std::string& l : lines_of(watch.output())) {
            if (l.find("\"signal\":\"SIGUSR1\"") != std::string::npos)
              seen.push_back(std::to_string(number_after(l, "\"tid\":")));
          }
          EXPECT_EQ(seen.back(), handled.back()) << how << ": watch names another thread than the one whose "
                                                 << "handler ran\n"
                                                 << watch.output() << target.output();
        };
        for (int i = 0; i < 3; ++i) check("kill", [&] { ASSERT_EQ(kill(pid, SIGUSR1), 0); });
        for (const pid_t tid : {tids[0], pid, tids[1]}) {
          check("tgkill " + std::to_string(tid),
                [&] { ASSERT_EQ(syscall(SYS_tgkill, pid, tid, SIGUSR1), 0); });
        }
        check("sigqueue", [&] {
          union sigval v {};
          v.sival_int = 11;
          ASSERT_EQ(sigqueue(pid, SIGUSR1, v), 0);
        });
        ASSERT_EQ(syscall(SYS_tgkill, pid, tids[1], SIGUSR2), 0);  // ignored, for that thread
        EXPECT_TRUE(
            wait_for_lines(watch, {"\"tid\":" + std::to_string(tids[1]) + ",", "\"signal\":\"SIGUSR2\""}))
            << watch.output();
        ASSERT_EQ(kill(watch.pid(), SIGTERM), 0);
        EXPECT_TRUE(exited_with(watch.finish(60), 0)) << watch.output();
        EXPECT_EQ(count_lines(watch.output(), {"\"signal\":\"SIGUSR1\""}), n) << watch.output();
        EXPECT_EQ(count_lines(target.output(), {"got SIGUSR1 in "}), n) << target.output();
        ASSERT_EQ(kill(pid, SIGHUP), 0);
        EXPECT_TRUE(exited_with(target.finish(60), 0)) << target.output();
      },
      kWatchdog);
}

// A target of its own: handles SIGUSR1, SIGUSR2 and SIGRTMIN+3 (SA_SIGINFO, printing "h SIGNO
// VALUE"), blocks SIGUSR1 and SIGRTMIN+3, prints "ready"; on 'u' / 'r' from `cmd` unblocks SIGUSR1 /
// SIGRTMIN+3 and prints "unblocked SIGNO 0" (after the handlers the unblock ran).
int g_out = -1;
void on_signal(int signo, siginfo_t* info, void*) {
  write_record(g_out, "h", signo, info->si_code == SI_QUEUE ? info->si_value.sival_int : 0);
}
[[noreturn]] void blocking_target(int out, int cmd) {
  g_out = out;
  struct sigaction sa {};
  sa.sa_sigaction = on_signal;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigfillset(&sa.sa_mask);
  for (int s : {SIGUSR1, SIGUSR2, SIGRTMIN + 3}) sigaction(s, &sa, nullptr);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  sigaddset(&set, SIGRTMIN + 3);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  (void)!write(out, "ready\n", 6);
  for (;;) {
    char c = 0;
    const ssize_t n = read(cmd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) _exit(0);
    const int signo = c == 'u' ? SIGUSR1 : SIGRTMIN + 3;
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, signo);
    sigprocmask(SIG_UNBLOCK, &one, nullptr);
    write_record(out, "unblocked", signo, 0);
  }
}

// Spec: "watching a process whose signal is ... blocked"; "never changing what the process
// receives". Blocked signals make no line while blocked (a later unblocked one does); unblocked
// while watched, each is seen once and handled; still blocked at the detach, realtime ones stay
// queued with their values and are handled, in order, when unblocked after it.
TEST(ToolsAuditWatch, BlockedSignalsSeenWhenDeliveredAndKeptAcrossDetach) {
#if defined(__SANITIZE_THREAD__)
  // The target is this (instrumented) test's fork: ThreadSanitizer runs its handler at its next
  // intercepted call, or not before the deadline (README, Caveats), which this test cannot tell
  // from a watch that changed what the process receives.
  GTEST_SKIP() << "the target's handlers are deferred by ThreadSanitizer";
#endif
  SIGRELAY_IN_CHILD(
      [] {
        if (!ptrace_permitted()) GTEST_SKIP() << "ptrace is not permitted here";
        reaper r;
        int cmd[2];
        ASSERT_EQ(pipe2(cmd, O_CLOEXEC), 0);
        forked target([&](int out) {
          close(cmd[1]);
          blocking_target(out, cmd[0]);
        });
        close(cmd[0]);
        ASSERT_TRUE(target.wait_for({"ready"}));
        const pid_t pid = target.pid();
        const std::string p = std::to_string(pid);
        const int rt = SIGRTMIN + 3;
        process watch(kBin, {"watch", "-p", p});
        ASSERT_TRUE(wait_for_lines(watch, {"watching pid " + p})) << watch.output();
        ASSERT_EQ(kill(pid, SIGUSR1), 0);
        for (int v : {31, 32}) {
          union sigval val {};
          val.sival_int = v;
          ASSERT_EQ(sigqueue(pid, rt, val), 0);
        }
        ASSERT_TRUE(wait_for_mask_bit(pid, "ShdPnd", SIGUSR1));
        ASSERT_TRUE(wait_for_mask_bit(pid, "ShdPnd", rt));
        ASSERT_EQ(kill(pid, SIGUSR2), 0);  // not blocked: delivered now
        ASSERT_TRUE(target.wait_for({"h " + std::to_string(SIGUSR2) + " 0"})) << target.output();
        ASSERT_TRUE(wait_for_lines(watch, {"SIGUSR2 to " + p})) << watch.output();
        EXPECT_EQ(count_lines(watch.output(), {"SIGUSR1 to "}), 0u) << watch.output();
        EXPECT_EQ(count_lines(watch.output(), {"SIGRTMIN+3 to "}), 0u) << watch.output();
        ASSERT_EQ(write(cmd[1], "u", 1), 1);
        ASSERT_TRUE(target.wait_for({"unblocked " + std::to_string(SIGUSR1)})) << target.output();
        EXPECT_EQ(count_lines(target.output(), {"h " + std::to_string(SIGUSR1) + " "}), 1u)
            << target.output();
        EXPECT_TRUE(wait_for_lines(watch, {"SIGUSR1 to " + p, "SI_USER (kill), trusted"})) << watch.output();
        ASSERT_EQ(kill(watch.pid(), SIGTERM), 0);
        EXPECT_TRUE(exited_with(watch.finish(60), 0)) << watch.output();
        EXPECT_EQ(count_lines(watch.output(), {"SIGUSR1 to "}), 1u) << watch.output();
        EXPECT_EQ(count_lines(watch.output(), {"SIGRTMIN+3 to "}), 0u) << watch.output();
        EXPECT_EQ(status_field(pid, "TracerPid"), "0");
        EXPECT_NE(status_mask(pid, "ShdPnd") & bit(rt), 0u);
        ASSERT_EQ(write(cmd[1], "r", 1), 1);
        ASSERT_TRUE(target.wait_for({"unblocked " + std::to_string(rt)})) << target.output();
        const std::string out = target.output();
        const std::size_t first = out.find("h " + std::to_string(rt) + " 31\n");
        const std::size_t second = out.find("h " + std::to_string(rt) + " 32\n");
        EXPECT_NE(first, std::string::npos) << out;
        EXPECT_NE(second, std::string::npos) << out;
        EXPECT_LT(first, second) << out;
        close(cmd[1]);
        EXPECT_TRUE(exited_with(target.finish(), 0)) << target.output();
      },
      kWatchdog);
}

// Spec: "--json lines parse as JSON ... and carry the same fields", for any sender. The sender's
// command name is whatever it set (prctl PR_SET_NAME): quotes, a backslash, a tab, a control byte and
// a byte that is not UTF-8. Every line of watch --json's stdout (stderr apart) must parse with
// python3's strict JSON, and so must inspect --json of that sender.
TEST(ToolsAuditWatch, JsonStaysJsonForAnySenderName) {
  SIGRELAY_IN_CHILD(
      [] {
        if (!ptrace_permitted()) GTEST_SKIP() << "ptrace is not permitted here";
        if (!have_python()) GTEST_SKIP() << "python3 is not installed";
        reaper r;
        process target(kTarget, {"receive"});
        ASSERT_TRUE(wait_for_lines(target, {"ready "})) << target.output();
        const std::string p = std::to_string(target.pid());
        char err_path[] = "/tmp/tools_audit_err_XXXXXX";
        const int err_fd = mkstemp(err_path);
        ASSERT_GE(err_fd, 0);
        close(err_fd);
        process watch("/bin/sh", {"-c", "exec \"$0\" watch --json -p \"$1\" 2>\"$2\"", kBin, p, err_path});
        const auto deadline = std::chrono::steady_clock::now() + kWait;
        auto err_text = [&] {
          std::ifstream in(err_path);
          return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        };
        while (err_text().find("watching pid " + p) == std::string::npos &&
               std::chrono::steady_clock::now() < deadline)
          std::this_thread::sleep_for(10ms);
        ASSERT_NE(err_text().find("watching pid " + p), std::string::npos) << err_text();
        int go[2];
        ASSERT_EQ(pipe2(go, O_CLOEXEC), 0);
        forked sender([&](int out) {
          close(go[1]);
          prctl(PR_SET_NAME, "q\"b\\s\tc\x01\xff", 0, 0, 0);
          kill(static_cast<pid_t>(std::atoi(p.c_str())), SIGUSR1);
          (void)!write(out, "sent\n", 5);
          char c;
          while (read(go[0], &c, 1) < 0 && errno == EINTR) {
          }
          _exit(0);
        });
        close(go[0]);
        ASSERT_TRUE(sender.wait_for({"sent"}));
        const std::string from = "\"sender_pid\":" + std::to_string(sender.pid()) + ",";
        EXPECT_TRUE(wait_for_lines(watch, {"\"signal\":\"SIGUSR1\"", from})) << watch.output();
        const result inspected = run_tool({"inspect", "--json", std::to_string(sender.pid())});
        close(go[1]);  // the sender exits once watch has printed its line (its name read from /proc)
        EXPECT_TRUE(exited_with(sender.finish(), 0));
        ASSERT_EQ(kill(watch.pid(), SIGTERM), 0);
        EXPECT_TRUE(exited_with(watch.finish(60), 0)) << watch.output() << err_text();
        unlink(err_path);
        const result py = python(kJsonLines, watch.output());
        EXPECT_TRUE(exited_with(py.status, 0)) << "watch --json printed a line that is not JSON:\n"
                                               << watch.output() << py.output;
        const result py2 = python(kJsonLines, inspected.output);
        EXPECT_TRUE(exited_with(py2.status, 0)) << "inspect --json printed no JSON:\n"
                                                << inspected.output << py2.output;
        ASSERT_EQ(kill(target.pid(), SIGHUP), 0);
        EXPECT_TRUE(exited_with(target.finish(60), 0)) << target.output();
      },
      kWatchdog);
}

// Spec: watch "never changing what the process receives"; the design notes: the program "keeps our
// signal mask". A watch started with SIGCHLD blocked (a mask inherited from a parent that reads its
// SIGCHLD from a signalfd: the very trap inspect flags) must still work: PROGRAM runs to its end with
// that mask (as without watch), and with -p a signal to the target is still delivered to it.
TEST(ToolsAuditWatch, InheritedBlockedSigchldDoesNotFreezeWatch) {
  SIGRELAY_IN_CHILD(
      [] {
        if (!ptrace_permitted()) GTEST_SKIP() << "ptrace is not permitted here";
        reaper r;
        sigset_t chld;
        sigemptyset(&chld);
        sigaddset(&chld, SIGCHLD);
        {
          forked watch =
              exec_blocked(kBin, {"watch", "--", "/bin/grep", "SigBlk", "/proc/self/status"}, chld);
          const bool ended = watch.wait_for({"exited with status"}, 1, 10000ms);
          const int status = watch.finish(1);
          EXPECT_TRUE(ended) << "sigrelay watch -- grep, started with SIGCHLD blocked, never ended:\n"
                             << watch.output();
          EXPECT_TRUE(exited_with(status, 0)) << watch.output();
          char expected[64];
          std::snprintf(expected, sizeof expected, "SigBlk:\t%016llx",
                        static_cast<unsigned long long>(bit(SIGCHLD)));
          EXPECT_NE(watch.output().find(expected), std::string::npos) << watch.output();
        }
        // The program left behind by a watch killed above was orphaned to us: reap it.
        for (auto until = std::chrono::steady_clock::now() + 5s; std::chrono::steady_clock::now() < until;) {
          const pid_t left = waitpid(-1, nullptr, WNOHANG);
          if (left <= 0 && errno == ECHILD) break;
          if (left == 0) std::this_thread::sleep_for(10ms);
        }
        process target(kTarget, {"receive"});
        ASSERT_TRUE(wait_for_lines(target, {"ready "})) << target.output();
        const std::string p = std::to_string(target.pid());
        forked watch = exec_blocked(kBin, {"watch", "-p", p}, chld);
        ASSERT_TRUE(watch.wait_for({"watching pid " + p})) << watch.output();
        ASSERT_EQ(kill(target.pid(), SIGUSR1), 0);
        EXPECT_TRUE(wait_for_lines(target, {"got SIGUSR1 total 1"}, 1, 10000ms))
            << "SIGUSR1 never reached the target watched by a watch started with SIGCHLD blocked; target "
            << "state " << thread_states(target.pid()) << "\n"
            << watch.output();
        ASSERT_EQ(kill(watch.pid(), SIGTERM), 0);
        EXPECT_TRUE(exited_with(watch.finish(60), 0)) << watch.output();
        EXPECT_TRUE(wait_for_lines(target, {"got SIGUSR1 total 1"})) << target.output();
        ASSERT_EQ(kill(target.pid(), SIGHUP), 0);
        EXPECT_TRUE(exited_with(target.finish(60), 0)) << target.output();
      },
      kWatchdog);
}

// The design notes: PROGRAM "keeps our signal mask and ignored signals". Run from a shell's
// background job that also ignores SIGHUP and SIGPIPE (nohup-like), PROGRAM ignores exactly what it
// ignores when run by the same shell without watch.
TEST(ToolsAuditWatch, ProgramKeepsTheIgnoredSignalsItWouldHave) {
  SIGRELAY_IN_CHILD(
      [] {
        if (!ptrace_permitted()) GTEST_SKIP() << "ptrace is not permitted here";
        reaper r;
        auto ignored_by = [](const std::string& prefix) {
          const std::string script =
              "trap '' HUP PIPE; " + prefix + " /bin/grep SigIgn /proc/self/status & wait $!";
          process sh("/bin/sh", {"-c", script});
          const int status = sh.finish(60);
          EXPECT_TRUE(exited_with(status, 0)) << sh.output();
          return line_with(sh.output(), {"SigIgn:"});
        };
        const std::string plain = ignored_by("");
        const std::string watched = ignored_by("\"" + kBin + "\" watch --");
        char expected[64];
        std::snprintf(
            expected, sizeof expected, "SigIgn:\t%016llx",
            static_cast<unsigned long long>(bit(SIGHUP) | bit(SIGINT) | bit(SIGQUIT) | bit(SIGPIPE)));
        EXPECT_EQ(plain, expected);
        EXPECT_EQ(watched, plain);
      },
      kWatchdog);
}

}  // namespace
