// SPDX-License-Identifier: MIT
// sigrelay/event.hpp — sigrelay signals as a libevent event (target sigrelay::event).
//
// What evsignal_new() does, plus what it lacks: it chains with every handler of the signal installed
// before it (through sigrelay's registry; libevent keeps one handler per signal per process and
// restores the old one only when its own event goes), loses nothing while stopped, counts coalesced
// deliveries and tells who sent each signal. Unlike evsignal, it works on several event_bases at once.
// An evsignal event added after the watcher, on the same signal, takes the signal over (libevent's
// handler does not chain; sigrelay::check_ownership() reports it) until it is deleted: libevent then
// restores sigrelay's handler, and the watcher gets the signal again.
//
// Example:
//
//   event_base* base = event_base_new();
//   sigrelay::event::signal_watcher w(base, {SIGINT, SIGTERM, SIGHUP});
//   w.start([&](const sigrelay::signal_event& e) {
//     std::printf("%s x%llu from pid %d\n", sigrelay::signal_name(e.signo).data(),
//                 (unsigned long long)e.count, (int)e.last.pid);
//     if (e.signo != SIGHUP) w.stop();
//   });
//   event_base_dispatch(base);   // returns once the watcher is stopped and nothing else is pending
//
// Lifecycle
//   The watcher owns one persistent read event on signals::native_handle(). start() adds it,
//   stop() deletes it (events keep being recorded meanwhile, and are handed out after start()),
//   the destructor frees it and unsubscribes. Destroy the watcher before event_base_free().
//   While started, the watcher keeps event_base_dispatch() from returning, like any pending event.
//
// Callback
//   Runs on the loop's thread with one event at a time. It may call stop(), start(), or destroy the
//   watcher. Each activation hands out one drained batch (at most one event per standard signal,
//   plus queued realtime records), so a signal storm never starves the loop's timers and I/O.
//   Events left when the callback stops or destroys the watcher stay queued (or, when destroyed,
//   are dropped). An exception escaping the callback would cross libevent's C frames: it calls
//   std::terminate.
//
// Thread safety
//   Use a watcher only on its base's thread (libevent's own threading support is not needed).
//   Several bases on several threads may each have their watchers, on the same or different
//   signals: every watcher of a signal receives every delivery.
//
// Fork
//   A watcher made from signal numbers goes on in a fork child, as a libevent signal event does after
//   event_reinit(): its sigrelay::signals follows the fork (signals_options::follow_fork; relay
//   backend), so after event_reinit() the child's base watches the child's own descriptor under the
//   same number, and the callback gets the signals the child receives. Events the parent had
//   recorded or drained but not handed out are dropped in the child (the parent hands them out), also
//   the rest of a batch when the callback itself forks (fork() or _Fork()). A child of _Fork(), which
//   runs no fork handlers, gets all this once it calls sigrelay::after_fork_in_child(); until then the
//   watcher is dead there, as below. The parent's watcher never sees the child's signals. A child
//   that never calls event_reinit() or never runs its base still has the signals subscribed: they do
//   not kill it (libevent's handler stays installed in the child too); destroy the watcher there to
//   give them back their disposition.
//   A watcher on the signalfd backend, or made from a `signals` that does not follow fork, is dead in
//   the child, as that object is (signals.hpp, "Fork"): its callback never runs there. It deletes
//   its event the first time it activates in the child (the descriptor it shares with the parent is
//   readable while the parent has deliveries not yet drained), so the child's base does not spin on
//   it; start() in the child never adds it. From then on it no longer keeps event_base_dispatch()
//   from returning. Destroy it in the child, and make a new watcher there.
//
// Errors
//   Constructors throw std::system_error as sigrelay::signals does, std::errc::bad_file_descriptor
//   if the source has no descriptor (a moved-from signals), or std::errc::not_enough_memory if
//   event_new() fails. start() and stop() return libevent's 0 / -1.
#pragma once

#include <event2/event.h>

#include <cstdint>
#include <functional>
#include <initializer_list>

#include "sigrelay/signals.hpp"

namespace sigrelay::event {

class signal_watcher {
 public:
  using callback = std::function<void(const signal_event&)>;

  // Subscribes to `signos` (with `options`: backend, realtime capacity; follow_fork is set for the
  // relay backend, see "Fork") and makes the event on `base`; not started yet (signals arriving
  // meanwhile are recorded, not lost).
  signal_watcher(event_base* base, std::initializer_list<int> signos, const signals_options& options = {});
  // Takes over an existing `signals`; nothing else may consume from it afterwards. If it is closed
  // (through a signals::handle, from any thread), the watcher hands out what was recorded, then
  // stops (is_active() turns false), so that event_base_dispatch() can return.
  signal_watcher(event_base* base, sigrelay::signals&& source);
  // Frees the event and unsubscribes; events not handed out are dropped. May run inside the callback.
  ~signal_watcher();
  signal_watcher(const signal_watcher&) = delete;
  signal_watcher& operator=(const signal_watcher&) = delete;

  // Starts (or restarts, replacing the callback) handing events to `cb`. Returns 0, or -1 (an empty
  // callback, or event_add() failed).
  int start(callback cb);
  // Stops handing out events; they keep being recorded, and go to the callback after start().
  int stop() noexcept;

  bool is_active() const noexcept;
  event_base* base() const noexcept { return base_; }

  // Subscribes to one more signal / unsubscribes from one (see signals::add/remove).
  void add(int signo);
  void remove(int signo);
  // Realtime deliveries lost to a full ring (see signals::dropped).
  std::uint64_t dropped() const noexcept;

 private:
  struct state;
  event_base* base_;
  state* state_;
};

}  // namespace sigrelay::event
