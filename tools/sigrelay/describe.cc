// SPDX-License-Identifier: MIT
// tools/sigrelay/describe.cc — see describe.hpp.
//
// Design notes
// - Names come from the library (sigrelay::signal_name / signal_number), so the program and the
//   library never disagree on "SIGRTMIN+3"; the tables here add only what the library does not
//   know: default actions and descriptions (signal(7)) and si_code words (sigaction(2)).
// - /proc is read with plain std::ifstream: every file here is small and a process may vanish
//   between two reads, so each reader returns "nothing" rather than throwing.
#include "describe.hpp"

#include <sigrelay/registry.hpp>

#include <dirent.h>
#include <sys/syscall.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <system_error>

namespace sigrelay::tool {
namespace {

struct standard_signal {
  std::string_view action;
  std::string_view description;
};

// signal(7), indexed by number (Linux x86/arm numbering, which the library's names follow too).
constexpr standard_signal kStandard[32] = {
    {"", ""},
    {"Term", "Hangup: controlling terminal closed, or a daemon asked to reload"},
    {"Term", "Interrupt from keyboard (Ctrl+C)"},
    {"Core", "Quit from keyboard (Ctrl+\\)"},
    {"Core", "Illegal instruction"},
    {"Core", "Trace/breakpoint trap"},
    {"Core", "Abort signal from abort()"},
    {"Core", "Bus error (bad memory access)"},
    {"Core", "Floating-point exception"},
    {"Term", "Kill signal (cannot be caught, blocked or ignored)"},
    {"Term", "User-defined signal 1"},
    {"Core", "Invalid memory reference"},
    {"Term", "User-defined signal 2"},
    {"Term", "Broken pipe: write to a pipe with no readers"},
    {"Term", "Timer signal from alarm()"},
    {"Term", "Termination signal"},
    {"Term", "Stack fault on coprocessor (unused)"},
    {"Ign", "Child stopped, continued or terminated"},
    {"Cont", "Continue if stopped"},
    {"Stop", "Stop process (cannot be caught, blocked or ignored)"},
    {"Stop", "Stop typed at terminal (Ctrl+Z)"},
    {"Stop", "Terminal input for background process"},
    {"Stop", "Terminal output for background process"},
    {"Ign", "Urgent condition on socket"},
    {"Core", "CPU time limit exceeded"},
    {"Core", "File size limit exceeded"},
    {"Term", "Virtual alarm clock"},
    {"Term", "Profiling timer expired"},
    {"Ign", "Window resize signal"},
    {"Term", "I/O now possible"},
    {"Term", "Power failure"},
    {"Core", "Bad system call"},
};

struct code_name {
  int code;
  std::string_view words;
};

// Codes that mean the same for every signal (sigaction(2), "The si_code field").
constexpr code_name kGeneric[] = {
    {SI_USER, "SI_USER (kill)"},
    {SI_KERNEL, "SI_KERNEL (sent by the kernel)"},
    {SI_QUEUE, "SI_QUEUE (sigqueue)"},
    {SI_TIMER, "SI_TIMER (POSIX timer expired)"},
    {SI_MESGQ, "SI_MESGQ (message queue state changed)"},
    {SI_ASYNCIO, "SI_ASYNCIO (AIO completed)"},
    {SI_SIGIO, "SI_SIGIO (queued SIGIO)"},
    {SI_TKILL, "SI_TKILL (tkill or tgkill)"},
    {SI_DETHREAD, "SI_DETHREAD (sent by execve to other threads)"},
    {SI_ASYNCNL, "SI_ASYNCNL (name lookup completed)"},
};

constexpr code_name kIll[] = {
    {ILL_ILLOPC, "ILL_ILLOPC (illegal opcode)"},          {ILL_ILLOPN, "ILL_ILLOPN (illegal operand)"},
    {ILL_ILLADR, "ILL_ILLADR (illegal addressing mode)"}, {ILL_ILLTRP, "ILL_ILLTRP (illegal trap)"},
    {ILL_PRVOPC, "ILL_PRVOPC (privileged opcode)"},       {ILL_PRVREG, "ILL_PRVREG (privileged register)"},
    {ILL_COPROC, "ILL_COPROC (coprocessor error)"},       {ILL_BADSTK, "ILL_BADSTK (internal stack error)"},
};
constexpr code_name kFpe[] = {
    {FPE_INTDIV, "FPE_INTDIV (integer divide by zero)"},
    {FPE_INTOVF, "FPE_INTOVF (integer overflow)"},
    {FPE_FLTDIV, "FPE_FLTDIV (floating-point divide by zero)"},
    {FPE_FLTOVF, "FPE_FLTOVF (floating-point overflow)"},
    {FPE_FLTUND, "FPE_FLTUND (floating-point underflow)"},
    {FPE_FLTRES, "FPE_FLTRES (floating-point inexact result)"},
    {FPE_FLTINV, "FPE_FLTINV (floating-point invalid operation)"},
    {FPE_FLTSUB, "FPE_FLTSUB (subscript out of range)"},
};
constexpr code_name kSegv[] = {
    {SEGV_MAPERR, "SEGV_MAPERR (address not mapped)"},
    {SEGV_ACCERR, "SEGV_ACCERR (invalid permissions for mapped object)"},
    {3, "SEGV_BNDERR (failed address bound checks)"},
    {4, "SEGV_PKUERR (protection key check failed)"},
};
constexpr code_name kBus[] = {
    {BUS_ADRALN, "BUS_ADRALN (invalid address alignment)"},
    {BUS_ADRERR, "BUS_ADRERR (nonexistent physical address)"},
    {BUS_OBJERR, "BUS_OBJERR (object-specific hardware error)"},
    {4, "BUS_MCEERR_AR (machine check error, action required)"},
    {5, "BUS_MCEERR_AO (machine check error, action optional)"},
};
constexpr code_name kTrap[] = {
    {TRAP_BRKPT, "TRAP_BRKPT (process breakpoint)"},
    {TRAP_TRACE, "TRAP_TRACE (process trace trap)"},
    {3, "TRAP_BRANCH (process taken branch trap)"},
    {4, "TRAP_HWBKPT (hardware breakpoint or watchpoint)"},
};
constexpr code_name kChld[] = {
    {CLD_EXITED, "CLD_EXITED (child exited)"},      {CLD_KILLED, "CLD_KILLED (child killed)"},
    {CLD_DUMPED, "CLD_DUMPED (child dumped core)"}, {CLD_TRAPPED, "CLD_TRAPPED (traced child trapped)"},
    {CLD_STOPPED, "CLD_STOPPED (child stopped)"},   {CLD_CONTINUED, "CLD_CONTINUED (child continued)"},
};
constexpr code_name kPoll[] = {
    {POLL_IN, "POLL_IN (data input available)"},      {POLL_OUT, "POLL_OUT (output buffers available)"},
    {POLL_MSG, "POLL_MSG (input message available)"}, {POLL_ERR, "POLL_ERR (I/O error)"},
    {POLL_PRI, "POLL_PRI (high priority input)"},     {POLL_HUP, "POLL_HUP (device disconnected)"},
};

template <std::size_t N>
std::string_view find_code(const code_name (&table)[N], int code) noexcept {
  for (const code_name& c : table) {
    if (c.code == code) return c.words;
  }
  return {};
}

std::system_error invalid(const std::string& what) {
  return std::system_error(std::make_error_code(std::errc::invalid_argument), what);
}

}  // namespace

int max_signal() noexcept { return SIGRTMAX; }

std::string signal_label(int signo) {
  const std::string_view name = sigrelay::signal_name(signo);
  return name.empty() ? "signal " + std::to_string(signo) : std::string(name);
}

int parse_signal(std::string_view text) {
  std::error_code ec;
  const int signo = sigrelay::signal_number(text, ec);
  if (ec) throw invalid("unknown signal '" + std::string(text) + "'");
  return signo;
}

pid_t parse_pid(std::string_view text) {
  pid_t pid = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), pid);
  if (ec != std::errc{} || end != text.data() + text.size() || pid <= 0) {
    throw invalid("not a process id: '" + std::string(text) + "'");
  }
  return pid;
}

std::string_view default_action(int signo) noexcept {
  if (signo > 0 && signo < 32) return kStandard[signo].action;
  return "Term";
}

std::string_view signal_description(int signo) noexcept {
  if (signo > 0 && signo < 32) return kStandard[signo].description;
  return "Realtime signal (application-defined)";
}

std::string code_words(int signo, int code) {
  std::string_view words;
  if (code > 0 && code != SI_KERNEL) {
    switch (signo) {
      case SIGILL: words = find_code(kIll, code); break;
      case SIGFPE: words = find_code(kFpe, code); break;
      case SIGSEGV: words = find_code(kSegv, code); break;
      case SIGBUS: words = find_code(kBus, code); break;
      case SIGTRAP: words = find_code(kTrap, code); break;
      case SIGCHLD: words = find_code(kChld, code); break;
      case SIGIO: words = find_code(kPoll, code); break;
      case SIGSYS: words = code == 1 ? "SYS_SECCOMP (seccomp filter)" : ""; break;
      default: break;
    }
  } else {
    words = find_code(kGeneric, code);
  }
  return words.empty() ? "code " + std::to_string(code) : std::string(words);
}

bool code_trusted(int code) noexcept { return code >= 0 || code == SI_TKILL; }

bool code_has_sender(int signo, int code) noexcept {
  if (signo == SIGCHLD && code >= CLD_EXITED && code <= CLD_CONTINUED) return true;
  return code == SI_USER || code == SI_QUEUE || code == SI_TKILL || code == SI_MESGQ;
}

std::vector<int> mask_signals(std::uint64_t mask) {
  std::vector<int> out;
  for (int signo = 1; signo <= 64; ++signo) {
    if (mask & (std::uint64_t{1} << (signo - 1))) out.push_back(signo);
  }
  return out;
}

std::string mask_names(std::uint64_t mask) {
  std::string out;
  for (int signo : mask_signals(mask)) {
    if (!out.empty()) out += ' ';
    out += signal_label(signo);
    if (libc_internal(signo)) out += " (libc)";
  }
  return out.empty() ? "-" : out;
}

bool libc_internal(int signo) noexcept { return signo == 32 || signo == 33; }

// Bits 31 and 32 of a /proc mask: signals 32 and 33.
bool has_libc_internal(std::uint64_t mask) noexcept { return (mask & (std::uint64_t{3} << 31)) != 0; }

std::uint64_t parse_mask(std::string_view hex) noexcept {
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), value, 16);
  if (ec != std::errc{} || end != hex.data() + hex.size()) return 0;
  return value;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return {};
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string process_comm(pid_t pid) {
  std::string comm = read_file("/proc/" + std::to_string(pid) + "/comm");
  while (!comm.empty() && comm.back() == '\n') comm.pop_back();
  return comm.empty() ? "?" : comm;
}

std::map<std::string, std::string> read_status(const std::string& path) {
  std::map<std::string, std::string> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    const std::size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::size_t start = line.find_first_not_of(" \t", colon + 1);
    out[line.substr(0, colon)] = start == std::string::npos ? "" : line.substr(start);
  }
  return out;
}

std::vector<pid_t> thread_ids(pid_t pid) {
  std::vector<pid_t> out;
  const std::string path = "/proc/" + std::to_string(pid) + "/task";
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) return out;
  while (const dirent* e = ::readdir(dir)) {
    pid_t tid = 0;
    const std::string_view name = e->d_name;
    const auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), tid);
    if (ec == std::errc{} && end == name.data() + name.size() && tid > 0) out.push_back(tid);
  }
  ::closedir(dir);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::pair<int, std::uint64_t>> signalfds(pid_t pid) {
  std::vector<std::pair<int, std::uint64_t>> out;
  const std::string base = "/proc/" + std::to_string(pid) + "/fdinfo";
  DIR* dir = ::opendir(base.c_str());
  if (dir == nullptr) return out;
  while (const dirent* e = ::readdir(dir)) {
    int fd = -1;
    const std::string_view name = e->d_name;
    const auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), fd);
    if (ec != std::errc{} || end != name.data() + name.size() || fd < 0) continue;
    const std::map<std::string, std::string> info = read_status(base + "/" + e->d_name);
    if (auto it = info.find("sigmask"); it != info.end()) out.emplace_back(fd, parse_mask(it->second));
  }
  ::closedir(dir);
  std::sort(out.begin(), out.end());
  return out;
}

std::optional<std::uint64_t> sigtimedwait_set_address(pid_t pid, pid_t tid) {
  // "NR ARG1 ARG2 ... SP PC", hexadecimal arguments; "running" or "-1 SP PC" outside a call.
  std::istringstream in(
      read_file("/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/syscall"));
  long nr = -1;
  std::string set_address;
  if (!(in >> nr >> set_address) || nr != SYS_rt_sigtimedwait) return std::nullopt;
  std::uint64_t address = 0;
  const char* first = set_address.c_str() + (set_address.rfind("0x", 0) == 0 ? 2 : 0);
  const char* last = set_address.c_str() + set_address.size();
  if (std::from_chars(first, last, address, 16).ec != std::errc{}) address = 0;
  return address;
}

namespace {

// The length of the well-formed UTF-8 sequence at the start of `text` (1 to 4 bytes), or 0.
std::size_t utf8_sequence(std::string_view text) {
  const auto byte = [&text](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(0);
  std::size_t n = 0;
  unsigned char low = 0x80, high = 0xbf;  // the allowed range of the second byte
  if (lead >= 0xc2 && lead <= 0xdf) {
    n = 2;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    n = 3;
    if (lead == 0xe0) low = 0xa0;   // no overlong forms
    if (lead == 0xed) high = 0x9f;  // no surrogates
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    n = 4;
    if (lead == 0xf0) low = 0x90;
    if (lead == 0xf4) high = 0x8f;  // nothing above U+10FFFF
  } else {
    return 0;
  }
  if (text.size() < n || byte(1) < low || byte(1) > high) return 0;
  for (std::size_t i = 2; i < n; ++i) {
    if (byte(i) < 0x80 || byte(i) > 0xbf) return 0;
  }
  return n;
}

}  // namespace

// Valid JSON whatever the bytes: a command name is any bytes but NUL (prctl, or the file name
// exec'd), so a byte that is not part of well-formed UTF-8 becomes U+FFFD.
std::string json_string(std::string_view text) {
  std::string out = "\"";
  for (std::size_t i = 0; i < text.size();) {
    const char c = text[i];
    if (static_cast<unsigned char>(c) >= 0x80) {
      const std::size_t n = utf8_sequence(text.substr(i));
      if (n == 0) {
        out += "\\ufffd";
        ++i;
      } else {
        out.append(text.substr(i, n));
        i += n;
      }
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
          out += buf;
        } else {
          out += c;
        }
    }
    ++i;
  }
  return out + '"';
}

std::string json_mask(std::uint64_t mask) {
  std::string out = "[";
  for (int signo : mask_signals(mask)) {
    if (out.size() > 1) out += ',';
    out += json_string(signal_label(signo));
  }
  return out + ']';
}

}  // namespace sigrelay::tool
