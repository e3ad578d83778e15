// SPDX-License-Identifier: MIT
// sigrelay/uv.hpp — sigrelay signals as a libuv handle (target sigrelay::uv).
//
// What uv_signal_t does, plus what it lacks: it chains with every handler of the signal installed
// before it (through sigrelay's registry; uv_signal_t forgets the previous handler and resets the
// signal to SIG_DFL when its last watcher stops), loses nothing while stopped, counts coalesced
// deliveries and tells who sent each signal.
//
// libuv's own handler, installed after the watcher, replaces it without chaining: by
// uv_signal_start() on the same signal, and for SIGCHLD by uv_spawn() when no uv_process_t of the
// loop is open (closing the last one sets SIG_DFL). The watcher then gets nothing of that signal;
// sigrelay::check_ownership() (<sigrelay/describe.hpp>) reports it. Watch SIGCHLD with uv_spawn()
// only while a uv_process_t is open, or reap children through libuv's exit callbacks (README,
// "Interop").
//
// Example:
//
//   uv_loop_t* loop = uv_default_loop();
//   sigrelay::uv::signal_watcher w(loop, {SIGINT, SIGTERM, SIGHUP});
//   w.start([&](const sigrelay::signal_event& e) {
//     std::printf("%s x%llu from pid %d\n", sigrelay::signal_name(e.signo).data(),
//                 (unsigned long long)e.count, (int)e.last.pid);
//     if (e.signo != SIGHUP) w.close();
//   });
//   uv_run(loop, UV_RUN_DEFAULT);   // returns once the watcher is closed and nothing else is active
//
// Lifecycle (uv_close semantics)
//   The watcher owns two libuv handles (a uv_poll_t on signals::native_handle() and a uv_idle_t that
//   hands out events left over after a stop()). close() (or the destructor) unsubscribes at once
//   and uv_close()s them; their memory is released from the loop's close callbacks, after which
//   `on_closed` runs. As with any libuv handle, run the loop (even UV_RUN_NOWAIT) after close()
//   before uv_loop_close(), or uv_loop_close() returns UV_EBUSY and the handles' memory leaks.
//   While started, the watcher keeps uv_run() from returning, like any active handle.
//
// Callback
//   Runs on the loop's thread with one event at a time. It may call stop(), start(), close(), or
//   destroy the watcher. Each poll hands out one drained batch (at most one event per standard
//   signal, plus queued realtime records), so a signal storm never starves the loop's timers and
//   I/O. Events left when the callback stop()s stay queued for the next start(). An exception
//   escaping the callback would cross libuv's C frames: it calls std::terminate.
//
// Thread safety
//   Like any libuv handle: use a watcher only on its loop's thread. Several loops on several threads
//   may each have their watchers, on the same or different signals: every watcher of a signal
//   receives every delivery.
//
// Fork
//   A watcher made from signal numbers goes on in a fork child, as a uv_signal_t does: its
//   sigrelay::signals follows the fork (signals_options::follow_fork; relay backend), so after
//   uv_loop_fork() the child's loop watches the child's own descriptor under the same number, and the
//   callback gets the signals the child receives. Events the parent had recorded or drained but not
//   handed out are dropped in the child (the parent hands them out), also the rest of a batch when the
//   callback itself forks (fork() or _Fork()). A child of _Fork(), which runs no fork handlers, gets
//   all this once it calls sigrelay::after_fork_in_child(); until then the watcher is dead there, as
//   below. The parent's watcher never sees the child's signals. A child that never calls
//   uv_loop_fork() or never runs its loop still has the signals subscribed: they do not kill it (a
//   uv_signal_t's handler stays installed in the child too); close() the watcher there to give them
//   back their disposition.
//   A watcher on the signalfd backend, or made from a `signals` that does not follow fork, is dead in
//   the child, as that object is (signals.hpp, "Fork"): its callback never runs there. It stops its
//   handles the first time they wake in the child (the descriptor it shares with the parent is
//   readable while the parent has deliveries not yet drained), so the child's loop does not spin on
//   them; start() in the child never starts them. From then on it no longer keeps uv_run() from
//   returning. close() it in the child, and make a new watcher there.
//
// Errors
//   Constructors throw std::system_error as sigrelay::signals does, or with the libuv error (as a
//   positive errno value) if the handles cannot be initialised. start() returns a libuv error code
//   (0 on success, UV_EINVAL once closed).
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <initializer_list>

#include "sigrelay/signals.hpp"

namespace sigrelay::uv {

class signal_watcher {
 public:
  using callback = std::function<void(const signal_event&)>;

  // Subscribes to `signos` (with `options`: backend, realtime capacity; follow_fork is set for the
  // relay backend, see "Fork") and makes the handles on `loop`; not started yet (signals arriving
  // meanwhile are recorded, not lost).
  signal_watcher(uv_loop_t* loop, std::initializer_list<int> signos, const signals_options& options = {});
  // Takes over an existing `signals`; nothing else may consume from it afterwards. If it is closed
  // (through a signals::handle, from any thread), the watcher hands out what was recorded, then
  // stops (is_active() turns false), so that uv_run() can return.
  signal_watcher(uv_loop_t* loop, sigrelay::signals&& source);
  // close()s if not closed yet.
  ~signal_watcher();
  signal_watcher(const signal_watcher&) = delete;
  signal_watcher& operator=(const signal_watcher&) = delete;

  // Starts (or restarts, replacing the callback) handing events to `cb`. Returns 0, or a libuv
  // error code (UV_EINVAL once closed or with an empty callback).
  int start(callback cb);
  // As start(), but for one event only, as uv_signal_start_oneshot(): the watcher stops just before
  // the callback runs, so the callback sees is_active() false and may start() again. Unlike
  // uv_signal_start_oneshot(), the signals stay subscribed: later deliveries are recorded, not met
  // by SIG_DFL, and go to the callback after the next start(). Also unlike it (libuv 1.44, which
  // keeps a handle's mode when it is started again on the same signal): start_oneshot() on a started
  // watcher makes it a oneshot one, and start() after start_oneshot() an ordinary one again.
  // Returns as start().
  int start_oneshot(callback cb);
  // Stops handing out events; they keep being recorded, and go to the callback after start().
  // Returns 0.
  int stop() noexcept;
  // Unsubscribes and uv_close()s the handles; `on_closed` runs from the loop once they are closed.
  // Events not handed out are dropped. A second close() does nothing.
  void close(std::function<void()> on_closed = {});

  bool is_active() const noexcept;
  bool is_closing() const noexcept;  // close() was called

  // As uv_unref()/uv_ref()/uv_has_ref() on a uv_signal_t: an unreferenced watcher does not keep
  // uv_run() (UV_RUN_DEFAULT) from returning, but while the loop runs for other handles it still
  // hands out events. Watchers start referenced; the setting survives stop() and start(). No effect
  // once closed (has_ref() is then false).
  void unref() noexcept;
  void ref() noexcept;
  bool has_ref() const noexcept;
  uv_loop_t* loop() const noexcept { return loop_; }

  // Subscribes to one more signal / unsubscribes from one (see signals::add/remove). Errors: as
  // signals, and std::errc::bad_file_descriptor once closed.
  void add(int signo);
  void remove(int signo);
  // Realtime deliveries lost to a full ring that could not hold them in the kernel (see
  // signals::dropped); 0 once closed.
  std::uint64_t dropped() const noexcept;

 private:
  struct state;
  uv_loop_t* loop_;
  state* state_;  // null once closed; freed by the loop's close callbacks
};

}  // namespace sigrelay::uv
