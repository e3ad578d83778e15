// SPDX-License-Identifier: MIT
// src/dispatcher.cc — callbacks per signal on a thread of the caller's choosing.
//
// Design notes
// - One `signals` object, guarded by a mutex so that on()/off() may come from any thread while the
//   dispatching thread drains it; the blocking part runs without the lock:
//   - backend::relay: signals::wait() into the backlog, sleeping on the object's futex (wait_unless(),
//     with `stopping` as its stop flag; stop() calls interrupt_wait()). The subscriptions change
//     through a signals::handle, whose add()/remove() are safe against a wait on another thread. This
//     is the object's own wait(): no eventfd write by the handler and no poll() per delivery (issue 9,
//     goal 4: ping-pong 1.36-1.66x the sigwaitinfo floor through poll() on native_handle(), as
//     native_handle() + epoll, against wait()'s 1.09-1.30x in the same runs).
//   - backend::signalfd: poll() on its native_handle() and a stop eventfd, then pending() under the
//     lock: on() must block the signal in the calling thread, which only signals::add() does, and
//     that is not safe against a wait on another thread.
// - Events taken from `signals` but not yet dispatched wait in a backlog: one vector refilled by
//   the wait or signals::pending(std::vector&) and an index into it, so that a steady stream of deliveries
//   allocates nothing (the vector keeps its capacity). A callback that throws ends run() with the
//   rest of its batch still in the backlog: the next run() goes on from there, so an exception never
//   loses a signal.
// - Callbacks are dispatched without copying them: each lives in its own heap block
//   (std::unique_ptr<callback>, allocated once by on()), so its address is stable while the map
//   changes around it. Under the mutex the dispatching thread looks the callback up and records it
//   in `running`; it calls it without the lock, then clears `running` under the lock again. on()
//   replacing, or off() removing, the callback that is running (from the callback itself or from
//   another thread) does not destroy it: it moves the block into `retired`, which the dispatching
//   thread destroys, outside the lock, once the call has returned (or thrown). Other callbacks are
//   destroyed by on()/off() at once, also outside the lock. One thread dispatches at a time (run()
//   or the background thread), so at most one callback is running and `retired` holds at most one.
//   A steady stream of deliveries thus costs two uncontended lock/unlock pairs and a map lookup per
//   event, and no allocation and no copy of a callback's captures.
// - stop() sets a flag, then interrupts the relay backend's wait and writes the stop eventfd; run()
//   clears the flag only as it returns, so a stop() that comes before run() starts is not lost
//   either.
// - Fork (the header's "Fork"): the child's copy shares the stop eventfd with the parent, and its
//   `signals` is dead. It must neither write that eventfd (a child's stop() made the parent's
//   signalfd-backend thread find it readable for good, and spin), nor poll it (the parent's stop()
//   made the child's run() spin), nor read it (run()'s exit drained the parent's stop). So a copy
//   that finds itself in another process (verified_pid(), which a child of _Fork() passes too)
//   sleeps in run() on a futex of its own memory, which only the child's stop() changes; checked
//   at each turn of run()'s loop and per event (a callback that forks: the child's copy dispatches
//   nothing more). Its join() and destructor make no pthread call on the parent's background thread
//   (src/own_thread.hpp: glibc gives its pthread_t to the child's next thread).
#include "sigrelay/dispatcher.hpp"

#include <poll.h>
#include <unistd.h>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <exception>
#include <map>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "detail.hpp"
#include "handler/relays.hpp"
#include "handler/sink.hpp"   // futex_wake
#include "handler/state.hpp"  // verified_pid
#include "own_thread.hpp"
#include "platform/linux.hpp"
#include "platform/sys.hpp"

namespace sigrelay {

struct dispatcher::impl {
  explicit impl(enum backend kind)
      : sigs(std::initializer_list<int>{}, kind),
        subscriber(sigs.get_handle()),
        waits(kind == backend::relay) {
    std::error_code ec;
    stop_fds = detail::os::make_wakeup(ec);
    if (ec)
      detail::throw_error(ec, std::string("sigrelay::dispatcher: cannot create ") + detail::os::wakeup_kind);
  }
  ~impl() { detail::os::close_wakeup(stop_fds); }

  std::mutex mutex;
  signals sigs;  // guarded by mutex, except the relay backend's wait in run() (native_handle() is stable)
  signals::handle subscriber;                          // sigs's: add()/remove() while run() waits
  const bool waits;                                    // relay backend: run() sleeps in sigs's wait
  std::map<int, std::unique_ptr<callback>> callbacks;  // guarded by mutex; each never empty
  const callback* running = nullptr;                   // guarded by mutex: the one being called
  std::unique_ptr<callback> retired;                   // guarded by mutex: `running`, replaced/removed
  std::function<void(std::exception_ptr)> on_error;    // guarded by mutex
  std::vector<signal_event> backlog;                   // the dispatching thread's, from backlog[next]
  std::size_t next = 0;
  std::atomic<bool> stopping{false};
  detail::os::wakeup_fds stop_fds;            // one eventfd, or a pipe (posix platform layer)
  const pid_t owner = ::getpid();             // the process whose dispatcher this is
  std::atomic<std::uint32_t> child_stops{0};  // a fork child's copy: its stop() adds one and wakes
  detail::own_thread background;              // start()'s (see own_thread.hpp for fork children)
  std::exception_ptr failure;                 // what ended the background thread, for join()
  bool broken = false;  // the dispatching thread's: run() threw for its own failure, not a callback's

  // This object is a fork child's copy (see the notes at the top).
  bool forked() const noexcept { return detail::verified_pid() != owner; }

  // A fork child's copy: sleeps until the child's own stop(), touching no shared descriptor.
  void sleep_in_fork_child() noexcept {
    for (;;) {
      const std::uint32_t seen = child_stops.load();
      if (stopping.load()) return;
#if SIGRELAY_LINUX
      static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));
      detail::os::futex_wait(reinterpret_cast<const std::uint32_t*>(&child_stops), seen, -1);
#else  // no futex on the posix platform layer: look again every 10 ms
      (void)seen;
      ::poll(nullptr, 0, 10);
#endif
    }
  }

  // Clears a stop() and its wake-up, once it has ended a run().
  void consume_stop() noexcept {
    stopping.store(false);
    if (!forked()) detail::os::drain_wakeup(stop_fds.read);
  }

  void run() {
    if (forked()) {
      sleep_in_fork_child();
      stopping.store(false);
      return;
    }
    // A stop() is consumed by the run() it ends: on a normal return. One that came before a
    // callback's exception stays for the caller (the next run() returns at once, the background
    // thread ends after its error handler): it is never lost. (Not a scope guard that asks
    // std::uncaught_exceptions(): that cost 65 instructions per run(), a third of them looking up
    // a thread-local of the C++ runtime, where an exception that passes by costs nothing.)
    dispatch_until_stopped();  // may throw: a callback's exception
    consume_stop();
  }

  // run()'s loop, until stop() (or, in a fork child, until a callback's fork is noticed).
  void dispatch_until_stopped() {
    while (!stopping.load()) {
      if (forked()) {  // a callback forked, and this is the child
        sleep_in_fork_child();
        return;
      }
      if (next == backlog.size() && waits) {
        // Without the lock: on()/off() go through `subscriber`. Returns empty once stop() was called
        // (what is recorded stays for the next run()).
        next = 0;
        // Empty without a stop: a fork child's copy whose check above came just before its fork;
        // the next turn of the loop finds out.
        sigs.wait_unless(std::chrono::nanoseconds::max(), stopping, backlog);
      } else if (next == backlog.size()) {
        struct pollfd fds[2] = {{sigs.native_handle(), POLLIN, 0}, {stop_fds.read, POLLIN, 0}};
        if (detail::sys::poll(fds, 2, -1) < 0) wait_out_poll_failure(errno);
        std::lock_guard<std::mutex> lock(mutex);
        next = 0;
        sigs.pending(backlog);  // the backlog was all handed out: refill it in place
      }
      while (next < backlog.size() && !stopping.load() && !forked()) {
        const signal_event event = backlog[next++];
        const callback* cb = nullptr;
        {
          std::lock_guard<std::mutex> lock(mutex);
          const auto it = callbacks.find(event.signo);
          if (it != callbacks.end()) running = cb = it->second.get();
        }
        if (cb == nullptr) continue;
        finish_call done{*this};
        (*cb)(event);  // may throw: the backlog keeps the rest
      }
    }
  }

  // With the mutex held. The relay backend's run() waits without it (see the notes at the top).
  void subscribe(int signo) {
    if (waits) {
      subscriber.add(signo);
    } else {
      sigs.add(signo);  // signalfd backend: blocks the signal in the calling thread
    }
  }
  void unsubscribe(int signo) {
    if (waits) {
      subscriber.remove(signo);
    } else {
      sigs.remove(signo);
    }
  }

  // poll() failed: EINTR means "look again"; ENOMEM (the kernel could not allocate its poll table) is
  // waited out for a millisecond, then looked again; anything else (EINVAL, EFAULT) cannot be cured by
  // retrying and ends run() with a std::system_error instead of a spinning thread (and the background
  // thread, whatever error handler is set: see `broken`).
  void wait_out_poll_failure(int err) {
    if (err == EINTR || err == EAGAIN) return;
    if (err == ENOMEM) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      return;
    }
    broken = true;
    detail::throw_error(detail::errno_code(err), "sigrelay::dispatcher: poll");
  }

  // Ends the call of `running` (also when it throws): forgets it, and destroys it if on()/off() retired
  // it meanwhile, outside the lock (its captures' destructors may do anything a callback may).
  struct finish_call {
    impl& self;
    ~finish_call() {
      std::unique_ptr<callback> dead;
      std::lock_guard<std::mutex> lock(self.mutex);
      self.running = nullptr;
      dead.swap(self.retired);
      // `dead` is destroyed after the lock is released (declared before it).
    }
  };

  // With the mutex held: takes `slot`'s callback out of the map's hands. The running one goes to
  // `retired` (the dispatching thread destroys it after the call); any other is returned, for the
  // caller to destroy once it has released the lock.
  std::unique_ptr<callback> release_locked(std::unique_ptr<callback>& slot) {
    std::unique_ptr<callback> old = std::move(slot);
    if (old && old.get() == running) {
      retired = std::move(old);  // at most one: only one callback runs at a time
      return nullptr;
    }
    return old;
  }
};

dispatcher::dispatcher(enum backend kind) : impl_(std::make_unique<impl>(kind)) {}

dispatcher::~dispatcher() {
  stop();
  impl_->background.finish();
}

void dispatcher::on(int signo, callback cb) {
  if (!cb) {  // it would subscribe, then swallow every delivery
    detail::throw_error(
        detail::invalid_argument(),
        "sigrelay::dispatcher: cannot set an empty callback for " + detail::describe_signal(signo));
  }
  if (impl_->forked()) {  // dead in a fork child (the header's "Fork"); its lock may be the parent's
    detail::throw_error(std::make_error_code(std::errc::operation_not_permitted),
                        "sigrelay::dispatcher: cannot subscribe to " + detail::describe_signal(signo) +
                            " in a fork child (create a new dispatcher there)");
  }
  auto fresh = std::make_unique<callback>(std::move(cb));  // before the lock; the one allocation
  std::unique_ptr<callback> old;                           // destroyed after the lock is released
  std::lock_guard<std::mutex> lock(impl_->mutex);
  // The map's node first (it may throw std::bad_alloc): once the signal is subscribed, nothing fails.
  const auto [it, inserted] = impl_->callbacks.try_emplace(signo);
  try {
    impl_->subscribe(signo);
  } catch (...) {
    if (inserted) impl_->callbacks.erase(it);
    throw;
  }
  old = impl_->release_locked(it->second);
  it->second = std::move(fresh);
}

void dispatcher::off(int signo) {
  if (impl_->forked()) return;    // dead in a fork child; its lock may be the parent's
  std::unique_ptr<callback> old;  // destroyed after the lock is released
  std::lock_guard<std::mutex> lock(impl_->mutex);
  impl_->unsubscribe(signo);
  const auto it = impl_->callbacks.find(signo);
  if (it == impl_->callbacks.end()) return;
  old = impl_->release_locked(it->second);
  impl_->callbacks.erase(it);
}

void dispatcher::run() { impl_->run(); }

void dispatcher::start() {
  // In a fork child the parent's thread looks joinable: it is forgotten (own_thread.hpp), and the
  // child's own thread runs run(), which sleeps until the child's stop().
  if (impl_->background.in_fork_child()) impl_->background.finish();
  if (impl_->background.joinable()) {
    detail::throw_error(std::make_error_code(std::errc::device_or_resource_busy),
                        "sigrelay::dispatcher: already running in the background");
  }
  impl_->failure = nullptr;
  impl_->background.start([self = impl_.get()] {
    for (;;) {
      try {
        self->run();
        return;
      } catch (...) {
        std::function<void(std::exception_ptr)> handler;
        {
          std::lock_guard<std::mutex> lock(self->mutex);
          handler = self->on_error;
        }
        if (!handler || std::exchange(self->broken, false)) {
          self->failure = std::current_exception();
          return;
        }
        handler(std::current_exception());
        // A stop() before or during the failed call (from the callback itself, or another thread)
        // ends the thread now, as it would have ended run().
        if (self->stopping.load()) {
          self->consume_stop();
          return;
        }
      }
    }
  });
}

void dispatcher::stop() noexcept {
  impl_->stopping.store(true);  // before the wake-ups: a wait that misses them sees the flag
  if (impl_->forked()) {        // a fork child's copy: wakes its own run() only
    impl_->child_stops.fetch_add(1);
    detail::futex_wake(&impl_->child_stops);
    return;
  }
  if (impl_->waits) impl_->sigs.interrupt_wait();
  detail::sys::write_wakeup(impl_->stop_fds.write);
}

void dispatcher::join() {
  impl_->background.finish();
  if (impl_->failure) {
    std::exception_ptr failure = std::exchange(impl_->failure, nullptr);
    std::rethrow_exception(failure);
  }
}

// signals::dropped() reads atomics only: no need for the mutex.
std::uint64_t dispatcher::dropped() const noexcept { return impl_->sigs.dropped(); }

std::uint64_t dispatcher::dropped(int signo) const noexcept { return impl_->sigs.dropped(signo); }

void dispatcher::set_error_handler(std::function<void(std::exception_ptr)> handler) {
  if (impl_->forked()) return;  // dead in a fork child: nothing to report there; its lock may be the parent's
  std::lock_guard<std::mutex> lock(impl_->mutex);
  impl_->on_error = std::move(handler);
}

}  // namespace sigrelay
