// SPDX-License-Identifier: MIT
// src/dispatcher.cc — callbacks per signal on a thread of the caller's choosing.
//
// Design notes
// - One `signals` object, guarded by a mutex so that on()/off() may come from any thread while the
//   dispatching thread drains it; the blocking part (poll on its native_handle() and a stop eventfd)
//   runs without the lock.
// - Events taken from `signals` but not yet dispatched wait in a backlog: one vector refilled by
//   signals::pending(std::vector&) and an index into it, so that a steady stream of deliveries
//   allocates nothing (the vector keeps its capacity). A callback that throws ends run() with the
//   rest of its batch still in the backlog: the next run() goes on from there, so an exception never
//   loses a signal.
// - stop() sets a flag and writes the stop eventfd; run() clears the flag only as it returns, so a
//   stop() that comes before run() starts is not lost either.
#include "sigrelay/dispatcher.hpp"

#include <poll.h>
#include <atomic>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "detail.hpp"
#include "handler/relays.hpp"
#include "platform/linux.hpp"

namespace sigrelay {

struct dispatcher::impl {
  explicit impl(enum backend kind) : sigs(std::initializer_list<int>{}, kind) {
    std::error_code ec;
    stop_fds = detail::os::make_wakeup(ec);
    if (ec) detail::throw_error(ec, "sigrelay::dispatcher: cannot create an eventfd");
  }
  ~impl() { detail::os::close_wakeup(stop_fds); }

  std::mutex mutex;
  signals sigs;                                      // guarded by mutex (native_handle() is stable)
  std::map<int, callback> callbacks;                 // guarded by mutex
  std::function<void(std::exception_ptr)> on_error;  // guarded by mutex
  std::vector<signal_event> backlog;                 // the dispatching thread's, from backlog[next]
  std::size_t next = 0;
  std::atomic<bool> stopping{false};
  detail::os::wakeup_fds stop_fds;  // one eventfd, or a pipe (posix platform layer)
  std::thread background;
  std::exception_ptr failure;  // what ended the background thread, for join()

  void run() {
    struct reset_on_exit {
      impl& self;
      ~reset_on_exit() {
        self.stopping.store(false);
        detail::os::drain_wakeup(self.stop_fds.read);
      }
    } reset{*this};
    while (!stopping.load()) {
      if (next == backlog.size()) {
        struct pollfd fds[2] = {{sigs.native_handle(), POLLIN, 0}, {stop_fds.read, POLLIN, 0}};
        ::poll(fds, 2, -1);  // EINTR: look again
        std::lock_guard<std::mutex> lock(mutex);
        next = 0;
        sigs.pending(backlog);  // the backlog was all handed out: refill it in place
      }
      while (next < backlog.size() && !stopping.load()) {
        const signal_event event = backlog[next++];
        callback cb;
        {
          std::lock_guard<std::mutex> lock(mutex);
          const auto it = callbacks.find(event.signo);
          if (it != callbacks.end()) cb = it->second;
        }
        if (cb) cb(event);  // may throw: the backlog keeps the rest
      }
    }
  }
};

dispatcher::dispatcher(enum backend kind) : impl_(std::make_unique<impl>(kind)) {}

dispatcher::~dispatcher() {
  stop();
  if (impl_->background.joinable()) impl_->background.join();
}

void dispatcher::on(int signo, callback cb) {
  if (!cb) {  // it would subscribe, then swallow every delivery
    detail::throw_error(
        detail::invalid_argument(),
        "sigrelay::dispatcher: cannot set an empty callback for " + detail::describe_signal(signo));
  }
  std::lock_guard<std::mutex> lock(impl_->mutex);
  impl_->sigs.add(signo);
  impl_->callbacks[signo] = std::move(cb);
}

void dispatcher::off(int signo) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  impl_->sigs.remove(signo);
  impl_->callbacks.erase(signo);
}

void dispatcher::run() { impl_->run(); }

void dispatcher::start() {
  if (impl_->background.joinable()) {
    detail::throw_error(std::make_error_code(std::errc::device_or_resource_busy),
                        "sigrelay::dispatcher: already running in the background");
  }
  impl_->failure = nullptr;
  impl_->background = std::thread([self = impl_.get()] {
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
        if (!handler) {
          self->failure = std::current_exception();
          return;
        }
        handler(std::current_exception());
      }
    }
  });
}

void dispatcher::stop() noexcept {
  impl_->stopping.store(true);
  detail::write_wakeup(impl_->stop_fds.write);
}

void dispatcher::join() {
  if (impl_->background.joinable()) impl_->background.join();
  if (impl_->failure) {
    std::exception_ptr failure = std::exchange(impl_->failure, nullptr);
    std::rethrow_exception(failure);
  }
}

// signals::dropped() reads atomics only: no need for the mutex.
std::uint64_t dispatcher::dropped() const noexcept { return impl_->sigs.dropped(); }

std::uint64_t dispatcher::dropped(int signo) const noexcept { return impl_->sigs.dropped(signo); }

void dispatcher::set_error_handler(std::function<void(std::exception_ptr)> handler) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  impl_->on_error = std::move(handler);
}

}  // namespace sigrelay
