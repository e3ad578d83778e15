// SPDX-License-Identifier: MIT
// src/describe.cc — describe(), check_ownership(), ownership_watch, remove_actions_in_module().
//
// Design notes
// - Ordinary code only. Nothing here runs in signal context: it reads sigaction(), dladdr()
//   (loader lock), /proc, and allocates. The registry's part of a description comes from one
//   view_of() copy (src/registry_view.hpp), taken under the registry's mutex together with the
//   current disposition, so sigrelay's own changes never show half-done in it.
// - Action kinds are told by comparing the action's function with the library's own action
//   functions (src/handler/*.hpp). A C action is resolved to its C function, which view_of() reads
//   from the action's box under the registry's mutex (the box is freed only after its removal).
// - Tamper detection compares the installed handler with the trampoline's address; registered
//   signals only (the registry's `installed` flag) with at least one action. A SIG_DFL read while
//   relay::emulate_default() may have been stopping the process through SIG_DFL (its counters,
//   src/handler/relays.hpp, read before and after) is sigrelay's own and not reported.
// - ownership_watch: one thread, a condition variable with a deadline per interval (saturated at the
//   clock's end); stop() sets a flag under the mutex and notifies, then joins under a second mutex
//   (stop() from several threads joins once); the thread holds a shared_ptr to the state.
#include "sigrelay/describe.hpp"

#include <cxxabi.h>
#include <dlfcn.h>
#include <pthread.h>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <ostream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <utility>

#include "detail.hpp"
#include "handler/capi_action.hpp"
#include "handler/crash_state.hpp"
#include "handler/relays.hpp"
#include "handler/sink.hpp"
#include "handler/state.hpp"
#include "own_thread.hpp"
#include "platform/config.hpp"  // SIGRELAY_LINUX
#include "platform/sys.hpp"
#include "registry_view.hpp"

namespace sigrelay {
namespace {

bool has_name(int signo) noexcept { return signo > 0 && signo < NSIG && !signal_name(signo).empty(); }

std::string demangle(const char* name) {
  if (name == nullptr) return {};
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> out(abi::__cxa_demangle(name, nullptr, nullptr, &status), std::free);
  return status == 0 && out ? std::string(out.get()) : std::string(name);
}

std::string hex(std::uintptr_t v) {
  char buf[2 + 16 + 1];
  (void)std::snprintf(buf, sizeof buf, "0x%jx", static_cast<std::uintmax_t>(v));
  return buf;
}

const void* handler_address(const struct sigaction& sa) noexcept {
  return (sa.sa_flags & SA_SIGINFO) != 0 ? reinterpret_cast<const void*>(sa.sa_sigaction)
                                         : reinterpret_cast<const void*>(sa.sa_handler);
}

bool is_trampoline(const struct sigaction& sa) noexcept {
  return (sa.sa_flags & SA_SIGINFO) != 0 && sa.sa_sigaction == detail::trampoline;
}

disposition make_disposition(const struct sigaction& sa) {
  disposition d;
  d.flags = sa.sa_flags;
  d.mask = sa.sa_mask;
  if ((sa.sa_flags & SA_SIGINFO) == 0 && sa.sa_handler == SIG_DFL) {
    d.what = disposition::kind::default_action;
  } else if ((sa.sa_flags & SA_SIGINFO) == 0 && sa.sa_handler == SIG_IGN) {
    d.what = disposition::kind::ignore;
  } else {
    d.what = disposition::kind::handler;
    d.handler = locate(handler_address(sa));
    d.trampoline = is_trampoline(sa);
  }
  return d;
}

action_description describe_action(const detail::listed_action& a) {
  using k = action_description::kind;
  action_description out;
  out.id = a.id;
  out.context = a.context;
  out.restart = a.e.restart;
  if (a.e.fn == detail::record_fn) {
    out.what = k::signals;
  } else if (a.e.fn == detail::set_flag_fn) {
    out.what = k::set_flag;
  } else if (a.e.fn == detail::add_count_fn) {
    out.what = k::add_count;
  } else if (a.e.fn == detail::die_if_set_fn || a.e.fn == detail::arm_or_die_fn) {  // termination's too
    out.what = k::die_if_set;
  } else if (a.e.fn == detail::default_if_set_fn) {
    out.what = k::default_if_set;
  } else if (a.e.fn == detail::default_action_fn) {
    out.what = k::default_action;
  } else if (a.e.fn == detail::wake_fd_fn) {
    out.what = k::wake_fd;
  } else if (a.e.fn == detail::call_c_action) {
    out.what = k::c_action;
  }
#if SIGRELAY_LINUX  // the crash reporter is Linux-only (crash.hpp)
  if (a.e.fn == detail::crash_action) out.what = k::crash_reporter;
#endif
  out.function = locate(a.code);
  return out;
}

// Bit (signo - 1) of a 64-bit hex mask line of /proc/<...>/status ("ShdPnd:\t0000000000000200").
bool status_bit(const std::string& path, const char* key, int signo) {
  std::ifstream in(path);
  std::string line;
  const std::size_t keylen = std::strlen(key);
  while (std::getline(in, line)) {
    if (line.compare(0, keylen, key) != 0 || line.size() <= keylen || line[keylen] != ':') continue;
    const unsigned long long mask = std::strtoull(line.c_str() + keylen + 1, nullptr, 16);
    return signo <= 64 && ((mask >> (signo - 1)) & 1ULL) != 0;
  }
  return false;
}

void fill_masks(signal_description& d) {
  sigset_t blocked;
  if (detail::sys::pthread_sigmask(SIG_BLOCK, nullptr, &blocked) != 0) sigemptyset(&blocked);
  d.blocked_in_thread = sigismember(&blocked, d.signo) == 1;
  d.pending_in_thread = status_bit("/proc/thread-self/status", "SigPnd", d.signo);
  d.pending_in_process = status_bit("/proc/self/status", "ShdPnd", d.signo);
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task", ec)) {
    ++d.threads;
    if (status_bit(task.path().string() + "/status", "SigBlk", d.signo)) ++d.threads_blocking;
  }
}

signal_description describe_checked(int signo) {
  signal_description d;
  d.signo = signo;
  d.name = std::string(signal_name(signo));
  const detail::registry_view view = detail::view_of(signo);
  d.current = make_disposition(view.current);
  d.registered = view.installed;
  d.replaced = view.installed && !is_trampoline(view.current);
  if (view.installed) d.chained = make_disposition(view.previous);
  d.ignoring = view.ignoring;
  d.actions.reserve(view.actions.size());
  for (const detail::listed_action& a : view.actions) {
    d.actions.push_back(describe_action(a));
    if (!d.actions.back().function.mapped) ++d.unmapped_actions;
  }
  fill_masks(d);
  return d;
}

}  // namespace

code_location locate(const void* address) {
  code_location where;
  where.address = address;
  Dl_info info{};
  if (address == nullptr || ::dladdr(address, &info) == 0 || info.dli_fname == nullptr) return where;
  where.mapped = true;
  where.module = info.dli_fname;
  const auto at = reinterpret_cast<std::uintptr_t>(address);
  if (info.dli_sname != nullptr && info.dli_saddr != nullptr) {
    where.symbol = demangle(info.dli_sname);
    where.offset = at - reinterpret_cast<std::uintptr_t>(info.dli_saddr);
  } else {
    where.offset = at - reinterpret_cast<std::uintptr_t>(info.dli_fbase);
  }
  return where;
}

std::string to_string(const code_location& where) {
  if (!where.mapped) return hex(reinterpret_cast<std::uintptr_t>(where.address)) + " (unmapped)";
  std::string out = where.module.empty() ? std::string("(main program)") : where.module;
  out += '!';
  if (where.symbol.empty()) return out + hex(where.offset) + " (no symbol)";
  out += where.symbol;
  if (where.offset != 0) {
    out += '+';  // not `"+" + hex(...)`: GCC 12 at -O3 warns a false -Wrestrict on that (its PR 105329)
    out += hex(where.offset);
  }
  return out;
}

// SA_RESTORER: Linux's bit, which its C library sets; not in <signal.h>. 0 (never named) elsewhere.
#if defined(__linux__)
constexpr unsigned kSaRestorer = 0x04000000U;
#else
constexpr unsigned kSaRestorer = 0U;
#endif

std::string flags_to_string(int sa_flags) {
  static const struct {
    unsigned bit;
    const char* name;
  } known[] = {
      {SA_SIGINFO, "SA_SIGINFO"},     {SA_ONSTACK, "SA_ONSTACK"},     {SA_RESTART, "SA_RESTART"},
      {SA_NODEFER, "SA_NODEFER"},     {SA_RESETHAND, "SA_RESETHAND"}, {SA_NOCLDSTOP, "SA_NOCLDSTOP"},
      {SA_NOCLDWAIT, "SA_NOCLDWAIT"}, {kSaRestorer, "SA_RESTORER"},
  };
  std::string out;
  auto rest = static_cast<unsigned>(sa_flags);
  for (const auto& k : known) {
    if ((rest & k.bit) == 0) continue;
    rest &= ~k.bit;
    if (!out.empty()) out += '|';
    out += k.name;
  }
  if (rest != 0) {
    if (!out.empty()) out += '|';
    out += hex(rest);
  }
  return out.empty() ? std::string("0") : out;
}

std::string sigset_to_string(const sigset_t& set) {
  // Handlers often block everything while they run: a mask of more than half the signals is
  // written as what it leaves out.
  int named = 0;
  int members = 0;
  for (int signo = 1; signo < NSIG; ++signo) {
    if (!has_name(signo)) continue;
    ++named;
    if (sigismember(&set, signo) == 1) ++members;
  }
  const bool inverted = members * 2 > named;
  std::string out = inverted ? "all but {" : "{";
  for (int signo = 1; signo < NSIG; ++signo) {
    if (!has_name(signo) || (sigismember(&set, signo) == 1) == inverted) continue;
    if (out.back() != '{') out += ", ";
    out += signal_name(signo);
  }
  return out + "}";
}

std::string to_string(const disposition& d) {
  switch (d.what) {
    case disposition::kind::default_action: return "SIG_DFL";
    case disposition::kind::ignore: return "SIG_IGN";
    case disposition::kind::handler: break;
  }
  std::string out = d.trampoline ? "sigrelay trampoline " : "handler ";
  out += to_string(d.handler);
  out += " [" + flags_to_string(d.flags) + "]";
  const std::string mask = sigset_to_string(d.mask);
  if (mask != "{}") out += " mask " + mask;
  return out;
}

const char* to_string(action_description::kind k) noexcept {
  using kind = action_description::kind;
  switch (k) {
    case kind::signals: return "signals";
    case kind::set_flag: return "relay::set_flag";
    case kind::add_count: return "relay::add_count";
    case kind::die_if_set: return "relay::die_if_set";
    case kind::default_if_set: return "relay::default_if_set";
    case kind::default_action: return "relay::default_action";
    case kind::wake_fd: return "fd_relay";
    case kind::c_action: return "C action";
    case kind::crash_reporter: return "crash reporter";
    case kind::other: break;
  }
  return "function";
}

signal_description describe(int signo, std::error_code& ec) {
  if (!has_name(signo)) {
    ec = detail::invalid_argument();
    return {};
  }
  ec.clear();
  return describe_checked(signo);
}

signal_description describe(int signo) {
  if (!has_name(signo)) {
    detail::throw_error(
        detail::invalid_argument(),
        "sigrelay: cannot describe " + detail::describe_signal(signo) + ": it names no signal");
  }
  return describe_checked(signo);
}

std::vector<signal_description> describe_all() {
  std::vector<signal_description> all;
  for (int signo = 1; signo < NSIG; ++signo) {
    if (has_name(signo)) all.push_back(describe_checked(signo));
  }
  return all;
}

std::string to_string(const signal_description& d) {
  std::ostringstream out;
  out << d.name << ": " << to_string(d.current);
  if (d.replaced) out << "\n  REPLACED: sigrelay's trampoline is no longer the installed handler";
  if (d.chained) out << "\n  chains: " << to_string(*d.chained);
  if (d.ignoring) out << "\n  sigrelay::ignore() in force";
  if (!d.actions.empty()) {
    out << "\n  actions: " << d.actions.size();
    if (d.unmapped_actions != 0) out << " (" << d.unmapped_actions << " UNMAPPED)";
    for (const action_description& a : d.actions) {
      out << "\n    " << to_string(a.what) << ' ' << to_string(a.function)
          << (a.restart ? "" : " (no SA_RESTART)");
    }
  }
  out << "\n  blocked: " << (d.blocked_in_thread ? "in this thread" : "not in this thread") << ", in "
      << d.threads_blocking << " of " << d.threads
      << " threads; pending: " << (d.pending_in_thread ? "this thread" : "not this thread") << ", "
      << (d.pending_in_process ? "process" : "not process");
  return out.str();
}

std::ostream& operator<<(std::ostream& os, const signal_description& d) { return os << to_string(d); }

// ---- Tamper detection

std::string to_string(const ownership_loss& loss) {
  std::string out = loss.name + ": sigrelay's handler was replaced by ";
  out += loss.now.what == disposition::kind::handler ? to_string(loss.now.handler) : to_string(loss.now);
  out += " (" + std::to_string(loss.actions) + (loss.actions == 1 ? " action" : " actions") +
         " no longer called, unless it chains)";
  return out;
}

std::ostream& operator<<(std::ostream& os, const ownership_loss& loss) { return os << to_string(loss); }

std::vector<ownership_loss> check_ownership() {
  std::vector<ownership_loss> losses;
  for (int signo = 1; signo < NSIG; ++signo) {
    if (!has_name(signo) || detail::action_count(signo) == 0) continue;
    const detail::stop_emulations before = detail::stop_emulations_of(signo);
    const detail::registry_view view = detail::view_of(signo);
    if (!view.installed || view.actions.empty() || is_trampoline(view.current)) continue;
    // relay::emulate_default() of a stop signal sets SIG_DFL itself for a moment (while the process
    // stops, and until the thread that stopped it runs again): not a loss, if one may have
    // overlapped the read, whatever the read saw. Under ThreadSanitizer, whose sigaction() answers
    // from a table of its own that it writes one field at a time, such a read can see half of each
    // disposition (the trampoline's address without SA_SIGINFO: a false loss in about one run in
    // eight of ContractOwnership.NoFalsePositiveWhileDefaultActionStopsTheProcess). A replacement made
    // meanwhile is not lost: the emulation puts the saved handler back only over its own SIG_DFL,
    // so the next check sees it.
    const detail::stop_emulations after = detail::stop_emulations_of(signo);
    if (before.started != before.finished || after.started != before.started) continue;
    ownership_loss loss;
    loss.signo = signo;
    loss.name = std::string(signal_name(signo));
    loss.now = make_disposition(view.current);
    loss.actions = view.actions.size();
    losses.push_back(std::move(loss));
  }
  return losses;
}

namespace {

// When the check after one that ends now is due: now + interval, or the clock's last instant if that
// is further than the clock can count (wait_for() would overflow converting a long interval, such as
// milliseconds::max(), to the clock's nanoseconds, and wake at once: a busy loop).
std::chrono::steady_clock::time_point next_check(std::chrono::milliseconds interval) noexcept {
  using clock = std::chrono::steady_clock;
  const clock::time_point now = clock::now();
  const auto room = std::chrono::duration_cast<std::chrono::milliseconds>(clock::time_point::max() - now);
  return interval >= room ? clock::time_point::max() : now + interval;
}

}  // namespace

struct ownership_watch::state {
  std::mutex mutex;
  std::mutex stop_mutex;  // one stop() at a time joins: stop() from several threads at once
  std::condition_variable wake;
  bool stopping = false;
  std::atomic<std::uint64_t> checks{0};
  detail::own_thread thread;  // no pthread call on it in a fork child (own_thread.hpp)
};

ownership_watch::ownership_watch(callback on_loss, std::chrono::milliseconds interval)
    : state_(std::make_shared<state>()) {
  if (!on_loss) throw std::invalid_argument("sigrelay::ownership_watch: empty callback");
  if (interval.count() <= 0) throw std::invalid_argument("sigrelay::ownership_watch: interval must be > 0");
  std::shared_ptr<state> s = state_;
  std::mutex first_mutex;
  std::condition_variable first_done;
  bool first = false;
  s->thread.start([s, on_loss = std::move(on_loss), interval, &first_mutex, &first_done, &first] {
    using owner_key = std::pair<disposition::kind, const void*>;
    std::map<int, owner_key> reported;  // signo -> the disposition reported for it
    bool announced = false;
    for (;;) {
      std::map<int, owner_key> now;
      for (const ownership_loss& loss : check_ownership()) {
        const owner_key owner{loss.now.what, loss.now.handler.address};
        now[loss.signo] = owner;
        const auto it = reported.find(loss.signo);
        if (it == reported.end() || it->second != owner) on_loss(loss);
      }
      reported.swap(now);
      s->checks.fetch_add(1, std::memory_order_release);
      if (!announced) {
        announced = true;
        const std::lock_guard<std::mutex> lock(first_mutex);
        first = true;
        first_done.notify_one();
      }
      std::unique_lock<std::mutex> lock(s->mutex);
      if (s->wake.wait_until(lock, next_check(interval), [&s] { return s->stopping; })) return;
    }
  });
  std::unique_lock<std::mutex> lock(first_mutex);
  first_done.wait(lock, [&first] { return first; });
}

ownership_watch::~ownership_watch() { stop(); }

void ownership_watch::stop() noexcept {
  if (!state_) return;
  if (state_->thread.in_fork_child()) {  // the thread (and maybe its lock) are the parent's
    state_->thread.finish();             // forgets it: no pthread call, no lock
    return;
  }
  {
    const std::lock_guard<std::mutex> lock(state_->mutex);
    state_->stopping = true;
  }
  state_->wake.notify_all();
  // Another thread's stop() may be joining: wait for it rather than join a second time (the thread
  // never takes stop_mutex).
  const std::lock_guard<std::mutex> lock(state_->stop_mutex);
  state_->thread.finish();
}

std::uint64_t ownership_watch::checks() const noexcept {
  return state_->checks.load(std::memory_order_acquire);
}

// ---- Unloaded code

std::size_t remove_actions_in_module(const void* address_in_module) {
  Dl_info mine{};
  if (address_in_module == nullptr || ::dladdr(address_in_module, &mine) == 0 || mine.dli_fbase == nullptr) {
    return 0;
  }
  std::size_t removed = 0;
  for (int signo = 1; signo < NSIG; ++signo) {
    if (!has_name(signo) || detail::action_count(signo) == 0) continue;
    for (const detail::listed_action& a : detail::view_of(signo).actions) {
      Dl_info info{};
      if (::dladdr(a.code, &info) != 0 && info.dli_fbase == mine.dli_fbase && remove_action(a.id)) ++removed;
    }
  }
  return removed;
}

}  // namespace sigrelay
