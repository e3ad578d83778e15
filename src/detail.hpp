// SPDX-License-Identifier: MIT
// src/detail.hpp — small internal utilities shared by the library's ordinary (non-signal) code.
#pragma once

#include <pthread.h>
#include <sys/types.h>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstddef>
#include <new>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>

#include "sigrelay/registry.hpp"

namespace sigrelay {
class signals;
}  // namespace sigrelay

namespace sigrelay::detail {

// A process-lifetime object that is never destroyed, so that nothing running during or after static
// destruction (a late signal, an atexit handler, another library's destructor) meets a dead object.
template <typename T>
class no_destructor {
 public:
  template <typename... Args>
  explicit no_destructor(Args&&... args) {
    new (storage_) T(std::forward<Args>(args)...);
  }
  no_destructor(const no_destructor&) = delete;
  no_destructor& operator=(const no_destructor&) = delete;
  T& get() noexcept { return *std::launder(reinterpret_cast<T*>(storage_)); }
  T* operator->() noexcept { return &get(); }

 private:
  alignas(T) unsigned char storage_[sizeof(T)];
};

// The one place where errors become exceptions: "context: reason".
[[noreturn]] inline void throw_error(std::error_code ec, const std::string& context) {
  throw std::system_error(ec, context);
}

inline std::error_code errno_code(int err = errno) noexcept { return {err, std::system_category()}; }

inline std::error_code invalid_argument() noexcept {
  return std::make_error_code(std::errc::invalid_argument);
}

// "SIGINT", or "signal 99" for a number that names no signal.
std::string describe_signal(int signo);

// For the C API's consumer (src/capi.cc), which keeps the events that did not fit the caller's
// array: keep_readable() makes native_handle() readable again (and a wait*() wake up) until the
// next drain, as a delivery would, so that a poller comes back for them (sigrelay.h,
// sigrelay_signals_native_handle(): "Readable while events are pending"). Nothing in a fork
// child's dead copy, nor on a moved-from object.
struct c_consumer_access {
  static void keep_readable(const signals& s) noexcept;
};

// signals::add(signo) that also adds `companion` right after the object's record, in the same
// published snapshot (add_actions_together()): a delivery runs both or neither. Returns the
// companion's id, for remove_action(); throws as add() does. termination's kill (termination.cc).
struct subscribe_access {
  static action_id add_with(signals& s, int signo, action companion);
};

// Why `signo` cannot take an action, or nullptr if it can. Never throws.
const char* refuse_reason(int signo, bool allow_fault_signals) noexcept;

// This process's pid as the registry caches it for fork detection; registers the registry's fork
// handlers on first use (registry.cc).
pid_t process_pid();

// add_action() for an action that calls the chained earlier handler itself, if at all
// (call_chained() in src/handler/state.hpp): while the signal has such an action, the trampoline does
// not call that handler before the actions. The crash handler's (src/crash.cc), so that a report comes
// before, or instead of, the earlier handler.
action_id add_action_chaining_itself(int signo, action a, action_options options,
                                     std::error_code& ec) noexcept;

// add_action() for `n` actions at once, in one published snapshot, in that order (default options):
// a delivery runs all of them or none, even one whose chained earlier handler runs while they are
// added (it then runs the actions that were there when it began: trampoline.cc,
// run_actions_up_to()). Their ids go to ids[0..n). termination's recorder and kill (termination.cc).
void add_actions_together(int signo, const action* as, std::size_t n, action_id* ids,
                          std::error_code& ec) noexcept;

// How many registry actions `signo` has now (0 for an invalid number). Ordinary context.
std::size_t action_count(int signo) noexcept;

// Called by add_action(), in the calling thread, after it added an action for `signo` (registry mutex
// not held); null until the signalfd backend sets it. The signalfd backend uses it to lift a block it
// holds on that signal in this thread, so that the new action sees deliveries at once (signals.cc).
extern std::atomic<void (*)(int signo) noexcept> g_action_added;

// While one exists on this thread, the lifts that g_action_added would make here are put off: a
// constructor that adds several actions and fails half-way (its rollback removes them) then leaves
// every block in this thread as it was, as its header promises. commit() of the outermost one makes
// the lifts put off meanwhile; an outermost one destroyed without commit() forgets them (the blocks
// stay, right again once the rollback has removed the new actions). Deliveries meanwhile are not
// lost: a signal still blocked here goes to another thread or to the blocking object's signalfd,
// whose read runs every action. src/signals.cc.
class deferred_lifts {
 public:
  deferred_lifts() noexcept;
  ~deferred_lifts();
  deferred_lifts(const deferred_lifts&) = delete;
  deferred_lifts& operator=(const deferred_lifts&) = delete;
  void commit() noexcept;

 private:
  bool done_ = false;
};

// The signals that sigrelay's signalfd backend has blocked in the calling thread (and that the thread
// had not blocked already), and those a full realtime ring holds there (src/handler/hold.hpp); false
// if none. Lifts released blocks first (src/handler/masks.hpp).
bool library_blocked_signals(sigset_t& out) noexcept;

// Blocks `set` in the calling thread for its lifetime, and then unblocks exactly those of its signals
// that were not blocked before (none if the block failed). For ordinary code that must not be kept
// in handlers by a flood while it works: a registry change (src/registry.cc, quiet_section()) and the
// end of a realtime subscription (src/signals.cc, unsubscribe()). The code in between must not block
// those signals itself, or the unblock would take that block too. Plain pthread_sigmask(), not the
// platform layer's, whose test hooks count their calls.
class blocked_here {
 public:
  explicit blocked_here(const sigset_t& set) noexcept {
    sigemptyset(&added_);
    sigset_t before;
    if (::pthread_sigmask(SIG_BLOCK, &set, &before) != 0) return;
    for (int signo = 1; signo < NSIG; ++signo) {
      if (sigismember(&set, signo) == 1 && sigismember(&before, signo) == 0) {
        sigaddset(&added_, signo);
        any_ = true;
      }
    }
  }
  ~blocked_here() {
    if (any_) ::pthread_sigmask(SIG_UNBLOCK, &added_, nullptr);
  }
  blocked_here(const blocked_here&) = delete;
  blocked_here& operator=(const blocked_here&) = delete;

 private:
  sigset_t added_;
  bool any_ = false;
};

}  // namespace sigrelay::detail
