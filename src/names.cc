// SPDX-License-Identifier: MIT
// src/names.cc — signal names and numbers.
//
// signal_name() is async-signal-safe: it only indexes constant tables of string literals, so every
// view it returns ("" for an unknown number too) is NUL-terminated with a non-null data(). Realtime
// signals are named the way `kill -l` does: SIGRTMIN, SIGRTMIN+1 .. SIGRTMIN+15, SIGRTMAX-14 ..
// SIGRTMAX-1, SIGRTMAX.
#include <cctype>
#include <csignal>
#include <string>
#include <string_view>

#include "detail.hpp"
#include "platform/linux.hpp"  // and config.hpp: SIGRTMIN/SIGRTMAX everywhere
#include "sigrelay/registry.hpp"

namespace sigrelay {
namespace {

constexpr std::string_view kStandard[] = {
    "",          "SIGHUP",  "SIGINT",    "SIGQUIT", "SIGILL",   "SIGTRAP", "SIGABRT", "SIGBUS",
    "SIGFPE",    "SIGKILL", "SIGUSR1",   "SIGSEGV", "SIGUSR2",  "SIGPIPE", "SIGALRM", "SIGTERM",
    "SIGSTKFLT", "SIGCHLD", "SIGCONT",   "SIGSTOP", "SIGTSTP",  "SIGTTIN", "SIGTTOU", "SIGURG",
    "SIGXCPU",   "SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGWINCH", "SIGIO",   "SIGPWR",  "SIGSYS"};
static_assert(sizeof kStandard / sizeof kStandard[0] == 32);

constexpr std::string_view kRtMinPlus[] = {
    "SIGRTMIN",    "SIGRTMIN+1",  "SIGRTMIN+2",  "SIGRTMIN+3",  "SIGRTMIN+4",  "SIGRTMIN+5",
    "SIGRTMIN+6",  "SIGRTMIN+7",  "SIGRTMIN+8",  "SIGRTMIN+9",  "SIGRTMIN+10", "SIGRTMIN+11",
    "SIGRTMIN+12", "SIGRTMIN+13", "SIGRTMIN+14", "SIGRTMIN+15", "SIGRTMIN+16"};
constexpr std::string_view kRtMaxMinus[] = {
    "SIGRTMAX",    "SIGRTMAX-1",  "SIGRTMAX-2",  "SIGRTMAX-3",  "SIGRTMAX-4",  "SIGRTMAX-5",
    "SIGRTMAX-6",  "SIGRTMAX-7",  "SIGRTMAX-8",  "SIGRTMAX-9",  "SIGRTMAX-10", "SIGRTMAX-11",
    "SIGRTMAX-12", "SIGRTMAX-13", "SIGRTMAX-14", "SIGRTMAX-15", "SIGRTMAX-16"};

bool equal_nocase(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::toupper(static_cast<unsigned char>(a[i])) != std::toupper(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// Parses a whole non-negative decimal number; -1 if `s` is not one (or is absurdly long).
int parse_number(std::string_view s) noexcept {
  if (s.empty() || s.size() > 4) return -1;
  int value = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return -1;
    value = value * 10 + (c - '0');
  }
  return value;
}

// "RTMIN", "RTMIN+3", "RTMAX-2" (prefix already stripped of "SIG"); -1 if not of that form.
int parse_realtime(std::string_view s) noexcept {
  if (s.size() < 5) return -1;
  const std::string_view base = s.substr(0, 5);
  const bool from_min = equal_nocase(base, "RTMIN");
  if (!from_min && !equal_nocase(base, "RTMAX")) return -1;
  int offset = 0;
  if (s.size() > 5) {
    if (s[5] != (from_min ? '+' : '-')) return -1;
    offset = parse_number(s.substr(6));
    if (offset < 0) return -1;
  }
  const int signo = from_min ? SIGRTMIN + offset : SIGRTMAX - offset;
  return (signo >= SIGRTMIN && signo <= SIGRTMAX) ? signo : -1;
}

}  // namespace

std::string_view signal_name(int signo) noexcept {
  // Every name, "" included, views a string literal: static, NUL-terminated, never a null data().
  constexpr std::string_view kUnknown = kStandard[0];
  if (signo > 0 && signo < 32) return kStandard[signo];
  if (signo < SIGRTMIN || signo > SIGRTMAX) return kUnknown;
  const int from_min = signo - SIGRTMIN;
  const int from_max = SIGRTMAX - signo;
  constexpr int kHalf = static_cast<int>(sizeof kRtMinPlus / sizeof kRtMinPlus[0]);
  if (from_min <= from_max || from_max >= kHalf) {
    return from_min < kHalf ? kRtMinPlus[from_min] : kUnknown;
  }
  return kRtMaxMinus[from_max];
}

int signal_number(std::string_view name, std::error_code& ec) noexcept {
  ec.clear();
  if (const int n = parse_number(name); n >= 0) {
    if (n > 0 && n <= SIGRTMAX && !signal_name(n).empty()) return n;
    ec = detail::invalid_argument();
    return -1;
  }
  std::string_view bare = name;
  if (bare.size() > 3 && equal_nocase(bare.substr(0, 3), "SIG")) bare.remove_prefix(3);
  for (int signo = 1; signo < 32; ++signo) {
    if (equal_nocase(bare, kStandard[signo].substr(3))) return signo;
  }
  if (equal_nocase(bare, "POLL")) return SIGPOLL;  // the POSIX alias of SIGIO
  if (equal_nocase(bare, "IOT")) return SIGIOT;    // the historical alias of SIGABRT
  if (const int signo = parse_realtime(bare); signo > 0) return signo;
  ec = detail::invalid_argument();
  return -1;
}

int signal_number(std::string_view name) {
  std::error_code ec;
  const int signo = signal_number(name, ec);
  if (ec) detail::throw_error(ec, "\"" + std::string(name) + "\" does not name a signal");
  return signo;
}

namespace detail {

std::string describe_signal(int signo) {
  const std::string_view name = signal_name(signo);
  if (!name.empty()) return std::string(name);
  return "signal " + std::to_string(signo);
}

const char* refuse_reason(int signo, bool allow_fault_signals) noexcept {
  if (signo <= 0 || signo > SIGRTMAX || signo >= NSIG) return "is not a signal number";
  if (os::reserved_by_libc(signo)) return "is reserved by the C library";
  if (signo == SIGKILL || signo == SIGSTOP) return "cannot be caught";
  switch (signo) {
    case SIGSEGV:
    case SIGBUS:
    case SIGILL:
    case SIGFPE:
    case SIGTRAP:
    case SIGSYS:
      if (!allow_fault_signals) {
        return "is a fault signal (returning from its handler re-runs the fault); "
               "set action_options::allow_fault_signals to handle it";
      }
      break;
    default: break;
  }
  return nullptr;
}

}  // namespace detail
}  // namespace sigrelay
