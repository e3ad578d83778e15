// SPDX-License-Identifier: MIT
// sigrelay/describe.hpp — who owns signal N: the disposition, what sigrelay chains and runs, and
// whether somebody replaced sigrelay's handler behind its back.
//
// A process rarely has one owner of its signals (Asio, libuv, a Go runtime, sanitizers, plain
// sigaction() calls). These functions make the state visible, for logs, bug reports and checks:
//
//   std::cerr << sigrelay::describe(SIGTERM) << '\n';
//   // SIGTERM: sigrelay trampoline libapp.so!sigrelay::detail::trampoline(int, siginfo_t*, void*)
//   //          [SA_SIGINFO|SA_ONSTACK|SA_RESTART|SA_RESTORER] mask {SIGURG, SIGWINCH}
//   //   chains: handler libuv.so.1!uv__signal_handler [SA_RESTORER]
//   //   actions: 1
//   //     signals libapp.so!sigrelay::detail::record_fn(void*, siginfo_t const&)
//   //   blocked: not in this thread, in 0 of 3 threads; pending: not this thread, not process
//   for (const auto& loss : sigrelay::check_ownership()) std::cerr << loss << '\n';
//
// Everything here runs in ordinary code (never in a signal handler): it calls sigaction() to read,
// dladdr() (which takes the dynamic loader's lock), allocates and reads /proc. It never changes any
// signal disposition or mask, except remove_actions_in_module(), which removes registry actions.
// Thread safety: any thread, concurrently with everything else in sigrelay.
// Errors: std::system_error (std::errc::invalid_argument, with the signal in the message) for a
//   number that names no signal (see signal_name()); the std::error_code overloads report the same.
//   SIGKILL and SIGSTOP are described (always SIG_DFL).
#pragma once

#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "sigrelay/export.hpp"
#include "sigrelay/registry.hpp"

namespace sigrelay {

// Where a code address points, resolved with dladdr() at the time of the call.
//   mapped:  dladdr() found a loaded module containing `address`. false for an address in no module,
//            in particular the code of a module that has been dlclose()d (until something else is
//            mapped there: an unmapped address that gets reused by a later mapping resolves to the
//            new module, which dladdr() cannot tell apart).
//   module:  the module's path as the loader knows it (the main program may be its path or "").
//   symbol:  the nearest dynamic symbol at or below `address`, demangled; "" if the module exports
//            none there (a static function, or a main program linked without -rdynamic).
//   offset:  address minus the symbol's address, or minus the module's base when there is no symbol.
struct code_location {
  const void* address = nullptr;
  bool mapped = false;
  std::string module;
  std::string symbol;
  std::uintptr_t offset = 0;
};
SIGRELAY_EXPORT code_location locate(const void* address);
// "libfoo.so.1!foo_handler+0x10", "app!0x1234 (no symbol)", "0x7f00... (unmapped)".
SIGRELAY_EXPORT std::string to_string(const code_location& where);

// One sigaction() disposition.
struct disposition {
  enum class kind { default_action, ignore, handler };
  kind what = kind::default_action;
  code_location handler;    // what == handler only: sa_sigaction or sa_handler, resolved
  int flags = 0;            // sa_flags as the kernel returned them
  sigset_t mask{};          // sa_mask
  bool trampoline = false;  // the handler is sigrelay's own trampoline (this copy of sigrelay)
};
// "SIG_DFL", "SIG_IGN", or "handler <location> [SA_SIGINFO|SA_ONSTACK|SA_RESTART] mask {SIGINT}"
// ("sigrelay trampoline <location> [...] mask {...}" when `trampoline`); " mask {...}" only for a
// non-empty mask.
SIGRELAY_EXPORT std::string to_string(const disposition& d);
// "SA_SIGINFO|SA_ONSTACK|SA_RESTART" (SA_RESTORER, 0x04000000, which the C library adds on Linux,
// included; unknown bits as hex), "0" for none.
SIGRELAY_EXPORT std::string flags_to_string(int sa_flags);
// "{SIGINT, SIGTERM}", "{}"; a set holding more than half the named signals as what it leaves out:
// "all but {SIGKILL, SIGSTOP}", "all but {}" (numbers without a name are not listed).
SIGRELAY_EXPORT std::string sigset_to_string(const sigset_t& set);

// One registry action, classified by its function.
struct action_description {
  enum class kind {
    signals,         // a sigrelay::signals object (or what is built on it: dispatcher, adapters)
    set_flag,        // relay::set_flag
    add_count,       // relay::add_count
    die_if_set,      // relay::die_if_set
    default_if_set,  // relay::default_if_set
    default_action,  // relay::default_action
    wake_fd,         // fd_relay
    c_action,        // sigrelay_add_action() of <sigrelay.h>; `function` is the C function
    crash_reporter,  // crash::install()'s report (crash.hpp)
    other,           // any other function given to add_action()
  };
  kind what = kind::other;
  action_id id;
  code_location function;         // the action's function (for c_action the C function), resolved
  const void* context = nullptr;  // the context given with it (for c_action the C context)
  bool restart = true;            // action_options::restart
};
SIGRELAY_EXPORT const char* to_string(action_description::kind k) noexcept;

struct signal_description {
  int signo = 0;
  std::string name;     // signal_name(signo)
  disposition current;  // what sigaction() returns now
  // sigrelay's registry holds this signal: it installed its trampoline and has not restored the
  // earlier disposition since (it may be in pass-through, see registry.hpp, Chaining).
  bool registered = false;
  // registered, but the installed handler is not the trampoline: other code replaced it. Whether
  // that code chains to the trampoline (so the actions still run) cannot be seen from here.
  bool replaced = false;
  std::optional<disposition> chained;       // registered only: the saved disposition sigrelay chains
  bool ignoring = false;                    // sigrelay::ignore() is in force
  std::vector<action_description> actions;  // in the order they run
  std::size_t unmapped_actions = 0;         // actions whose function is in no loaded module (see locate)
  // Masks and pending sets, read when describe() ran. The last four come from /proc (Linux, with
  // either platform layer): where /proc is missing they read false and 0 (README, "Platforms").
  bool blocked_in_thread = false;    // in the calling thread's mask (pthread_sigmask)
  bool pending_in_thread = false;    // pending for the calling thread only (sigpending minus ShdPnd)
  bool pending_in_process = false;   // pending for the process (/proc/self/status ShdPnd)
  std::size_t threads = 0;           // threads of the process (/proc/self/task)
  std::size_t threads_blocking = 0;  // of which block it (their SigBlk)
};

// describe(signo): the description above, for one signal. Everything is read at the call, without
// stopping other threads: the parts can disagree if another thread changes the signal meanwhile
// (the registry's own part — registered, chained, actions, and `current` — is read under the
// registry's lock, so sigrelay's own changes never show half-done).
SIGRELAY_EXPORT signal_description describe(int signo);
SIGRELAY_EXPORT signal_description describe(int signo, std::error_code& ec);
// describe_all(): every signal that has a name (1..SIGRTMAX minus the C library's reserved ones),
// in numeric order.
SIGRELAY_EXPORT std::vector<signal_description> describe_all();
// Several lines: the disposition, then (if any) what is chained, the actions, masks and pending.
SIGRELAY_EXPORT std::string to_string(const signal_description& d);
SIGRELAY_EXPORT std::ostream& operator<<(std::ostream& os, const signal_description& d);

// ---- Tamper detection -----------------------------------------------------------------------
//
// What is checked: for every signal with at least one registry action, whether the handler
// installed now (sigaction(signo, nullptr, &current)) is still sigrelay's trampoline. If it is not
// — other code called sigaction()/signal() over it (Boost.Asio's signal_set and libuv's uv_signal_t
// do this and do not chain: see README, Interop) — that signal is reported with its new owner. A
// signal whose actions are all gone (pass-through) is not reported: nobody is losing anything.
// What is not checked: a handler that replaced the trampoline and chains to it (the actions still
// run) is reported all the same: that cannot be told apart; a thread that blocks the signal; a
// replacement that came and went between two checks. Not a loss: the SIG_DFL that sigrelay's own
// relay::emulate_default() (relay::default_action(), default_if_set()) sets for a moment to stop
// the process with a stop signal (relays.hpp): a check of that signal that such a stop may overlap
// reports nothing for it, and a replacement made meanwhile is reported by the first check after the
// stop (the emulation puts sigrelay's handler back only over its own SIG_DFL).
// When: only when called (check_ownership()), or every `interval` on the watcher's thread
// (ownership_watch). Nothing is checked in signal context or on the hot path.

struct ownership_loss {
  int signo = 0;
  std::string name;         // signal_name(signo)
  disposition now;          // the disposition in force; now.handler is the new owner
  std::size_t actions = 0;  // registry actions that the trampoline would have run
};
// "SIGUSR1: sigrelay's handler was replaced by libuv.so.1!uv__signal_handler (2 actions no longer
// called, unless it chains)".
SIGRELAY_EXPORT std::string to_string(const ownership_loss& loss);
SIGRELAY_EXPORT std::ostream& operator<<(std::ostream& os, const ownership_loss& loss);

// Checks every signal now (see above), in numeric order; empty when sigrelay owns all it should.
SIGRELAY_EXPORT std::vector<ownership_loss> check_ownership();

// A background thread that runs check_ownership() every `interval` and calls `on_loss` (on that
// thread) once for each signal when it is first found replaced, and again if it is found replaced
// by a different handler later, or after sigrelay owned it again in between, or after a check that
// did not report it because the signal had no action left (pass-through): a later subscriber's
// loss is its own. A replacement that came and went between two checks is not seen. The first
// check runs at once, before the constructor returns (so a loss that exists already is reported
// before it returns, on the watcher's thread). Any interval above zero is a wait, up to
// milliseconds::max() (a check at construction, then none until stopped). Destruction (or stop())
// stops and joins the thread at once, without waiting for the interval; it waits for a running
// `on_loss` to return, so `on_loss` must not stop or destroy its own watch. stop() and the
// destructor may be called from any thread, stop() from several at once (one joins, the others
// wait for it). An exception thrown by `on_loss` ends the process (std::terminate), as from any
// thread function.
// Fork: a fork child's copy has no thread (it stayed in the parent) and checks nothing; its stop()
// and destructor take no lock and neither join nor detach the parent's thread (glibc gives its
// pthread_t to the child's next thread, which they leave alone).
// Errors: the constructor throws std::system_error if the thread cannot be started, and
// std::invalid_argument for a zero or negative interval or an empty callback.
class SIGRELAY_EXPORT ownership_watch {
 public:
  using callback = std::function<void(const ownership_loss&)>;
  ownership_watch(callback on_loss, std::chrono::milliseconds interval);
  ownership_watch(const ownership_watch&) = delete;
  ownership_watch& operator=(const ownership_watch&) = delete;
  ~ownership_watch();
  void stop() noexcept;  // idempotent
  // How many checks have completed (for tests and metrics).
  std::uint64_t checks() const noexcept;

 private:
  struct state;
  std::shared_ptr<state> state_;
};

// ---- Unloaded code ----------------------------------------------------------------------------
//
// A shared library that adds registry actions and is then dlclose()d leaves actions whose code is
// unmapped: the next delivery would jump into nothing (SIGSEGV, or whatever is mapped there later).
// sigrelay does not find this out by itself (nothing in the loader tells it). The rule: a module
// removes its actions before it is unloaded, with remove_action() for each id, or with
// remove_actions_in_module() from its destructor:
//
//   static void unload() __attribute__((destructor));
//   static void unload() { sigrelay::remove_actions_in_module(reinterpret_cast<const void*>(&unload)); }
//
// Diagnosis for the forgetful: describe() counts such actions (unmapped_actions, and each one's
// function.mapped is false), as long as nothing new has been mapped at that address.

// Removes every registry action whose function (for a C action: the C function) lies in the module
// (shared object or main program) containing `address_in_module`, as dladdr() resolves both; returns
// how many. Each removal is a remove_action() (so its grace period too: when this returns, no action
// of the module runs or will run). Not from a signal handler or an action. An address in no module
// removes nothing (returns 0).
SIGRELAY_EXPORT std::size_t remove_actions_in_module(const void* address_in_module);

}  // namespace sigrelay
