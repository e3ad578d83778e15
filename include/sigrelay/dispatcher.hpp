// SPDX-License-Identifier: MIT
// sigrelay/dispatcher.hpp — callbacks per signal, run on a thread of the caller's choosing.
//
// Example:
//
//   sigrelay::dispatcher d;
//   d.on(SIGHUP, [&](const sigrelay::signal_event&) { reload_config(); });
//   d.on(SIGTERM, [&](const sigrelay::signal_event&) { d.stop(); });
//   d.run();   // on this thread; or d.start() for a background thread
//
// Callbacks run in ordinary code (never in a signal handler): they may lock, allocate, log, throw.
//
// Errors
//   An exception thrown by a callback is never swallowed. With run(), it propagates out of run() (the
//   dispatcher stays usable; call run() again to go on). With start(), it goes to the error handler
//   (set_error_handler) if there is one, and the thread goes on; otherwise the background thread
//   ends and join() rethrows it. A stop() that came before the exception (from the callback that
//   threw, or another thread) is not lost: the next run() returns at once, and the background thread
//   ends once the error handler has returned. With backend::signalfd, a failure of the dispatcher's own wait
//   (poll() failing with anything but EINTR, or ENOMEM, which is waited out and retried) ends run(),
//   or the background thread whatever error handler is set, with a std::system_error; join()
//   rethrows it. With backend::relay (the default) the dispatching thread sleeps in its `signals`
//   object's wait() (the futex, as signals::wait()), which looks again after anything that ends its
//   sleep and has no failure of its own.
//
// Thread safety
//   on()/off() may be called from any thread, also from a callback. stop() from any thread or callback.
//   One thread dispatches at a time (run() or the background thread). A callback is never copied to be
//   called: on() replacing, or off() removing, the callback that is running at that moment (from inside
//   it, or from another thread) lets that call finish on the callback as it was, and destroys it (its
//   captures) on the dispatching thread once the call has returned or thrown; the new callback serves the
//   next event. Any other callback replaced or removed is destroyed inside on()/off(), after the
//   dispatcher's lock is released. In steady state a delivery allocates nothing.
//   start()'s thread begins with the mask of the thread that calls start(), and keeps it: a signal
//   that every thread blocks stays pending in the kernel, as for any `signals` object on the relay
//   backend (sigrelay::termination, whose set is fixed, unblocks its signals in its own thread).
//   With backend::signalfd, on() blocks the signal in the calling thread, and off() lifts that block
//   in that same thread whatever thread calls it, without touching the calling thread's own mask (as
//   signals::remove(), see "Masks" in <sigrelay/signals.hpp>).
//
// Fork
//   After fork() (or _Fork()), the child's copy of a dispatcher is dead, as its `signals` object is
//   ("Fork" in <sigrelay/signals.hpp>): it dispatches nothing (not even events the parent had taken
//   but not yet dispatched), and nothing the child does with it reads or writes what it shares with
//   the parent, so the parent's dispatcher is neither woken nor robbed of a stop(). In the child,
//   run() (and a thread from start()) sleeps until the child's own stop() and returns; the parent's
//   stop() does not end it. on() throws std::system_error (std::errc::operation_not_permitted); off()
//   and set_error_handler() do nothing; none of them waits for a lock that a thread of the parent
//   held at the fork (a change from another thread, the dispatching thread); join() and the destructor
//   neither wait for nor detach the parent's background thread, which does not exist in the child (they leave
//   alone any thread the child created, even one that glibc gave the same pthread_t). Create a new dispatcher
//   in the child.
#pragma once

#include <csignal>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>

#include "sigrelay/export.hpp"
#include "sigrelay/signals.hpp"

namespace sigrelay {

class SIGRELAY_EXPORT dispatcher {
 public:
  using callback = std::function<void(const signal_event&)>;

  // Errors: std::system_error as the `signals` constructor, or from eventfd() (pipe() on the posix
  // platform layer) for its stop descriptor (EMFILE included); nothing is left subscribed or open.
  // stop()'s wake-up survives EINTR and EAGAIN.
  explicit dispatcher(enum backend kind = backend::relay);
  ~dispatcher();  // stops and joins a background thread; unsubscribes everything
  dispatcher(const dispatcher&) = delete;
  dispatcher& operator=(const dispatcher&) = delete;

  // Sets (or replaces) the callback of `signo` and subscribes to it. Errors: as add_action(); and an
  // empty `cb` (nullptr, a default-constructed std::function) is refused with std::system_error
  // (std::errc::invalid_argument, naming the signal): nothing changes, a callback already set for
  // `signo` stays. Any failure (std::bad_alloc included) leaves the subscriptions, the callbacks and
  // the signal state as they were.
  void on(int signo, callback cb);
  // Removes the callback and unsubscribes. Events of it recorded but not dispatched yet are dropped
  // with it, unless on() sets a callback for it again before they are dispatched: they then go to that
  // callback (deliveries of a standard signal are counted together, so those recorded before off()
  // cannot be told apart from later ones). Does not fail for lack of memory (see remove_action()).
  void off(int signo);

  // Runs callbacks on the calling thread until stop(). Rethrows a callback's exception.
  void run();
  // Runs callbacks on a new background thread until stop(). Returns once that thread runs, with the
  // signal mask of the calling thread: none is left starting with every signal blocked, whose mask
  // restore could take a signal the process sends itself next.
  void start();
  // Ends run() or the background thread (from any thread, or from a callback). Never blocks.
  void stop() noexcept;
  // Waits for the background thread to end (after stop()); rethrows an exception it ended with.
  void join();

  // Realtime deliveries that found the ring full and could not be held in the kernel (see
  // signals::dropped() and "Realtime floods" in signals.hpp): in all, and of one signal. A flood that
  // outruns the callbacks is held, not dropped; the dispatching thread lifts the holds as it drains.
  std::uint64_t dropped() const noexcept;
  std::uint64_t dropped(int signo) const noexcept;

  // Receives the exceptions of callbacks run by the background thread, which then goes on.
  void set_error_handler(std::function<void(std::exception_ptr)> handler);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace sigrelay
