// SPDX-License-Identifier: MIT
// adapters/coro/src/coro.cc — see sigrelay/coro.hpp.
//
// Design notes
// - One mutex guards everything shared: the queue of drained events (an event_backlog: a reused
//   vector, so a steady stream of deliveries allocates nothing), the FIFO of suspended
//   awaitables, `closed`, and every call into the `signals` (pending(), add(), remove()), which makes
//   those calls one consumer at a time, as signals requires, whichever thread makes them.
// - A suspended awaitable is claimed exactly once, under the mutex, by whoever unlinks it: the
//   channel's thread (with an event), close() (with an event, or nullopt), or its stop callback
//   (nullopt). The claimer resumes it after unlocking, through the resume function.
// - close() drains the `signals` a last time itself, so that every event recorded before it is handed
//   out, then closes the `signals` through its handle: native_handle() stays readable from then on,
//   which wakes the thread, which sees `closed` and ends.
// - A stop callback registered before the awaitable is queued may run at once (stop already
//   requested): it then only marks the awaitable cancelled, and await_suspend() does not suspend.
//   Resuming a coroutine from inside its own await_suspend() would destroy the awaitable under it.
#include "sigrelay/coro.hpp"

#include <poll.h>
#include <unistd.h>
#include <cerrno>
#include <mutex>
#include <new>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "sigrelay/detail/event_backlog.hpp"
#include "sigrelay/detail/settled_thread.hpp"

namespace sigrelay::co {
namespace detail {

struct channel_state {
  using awaitable = signal_channel::next_awaitable;

  std::mutex mutex;
  std::optional<sigrelay::signals> source;
  sigrelay::signals::handle closer;
  resume_function resume;
  sigrelay::detail::event_backlog queue;  // drained, not yet handed out; allocation-free in steady state
  awaitable* head = nullptr;              // suspended awaitables, oldest first
  awaitable* tail = nullptr;
  bool closed = false;
  std::thread thread;
  const pid_t owner = ::getpid();  // the process whose channel this is (see ~signal_channel())
  // Where a fork child's copy puts the parent's `thread`: constructed there, never destroyed.
  union graveyard_t {
    graveyard_t() {}
    ~graveyard_t() {}
    std::thread forgotten;
  } graveyard;

  void push_waiter(awaitable* a) noexcept {
    a->next_ = nullptr;
    a->queued_ = true;
    if (tail != nullptr) {
      tail->next_ = a;
    } else {
      head = a;
    }
    tail = a;
  }

  awaitable* pop_waiter() noexcept {
    awaitable* a = head;
    if (a == nullptr) return nullptr;
    head = a->next_;
    if (head == nullptr) tail = nullptr;
    a->next_ = nullptr;
    a->queued_ = false;
    return a;
  }

  void unlink_waiter(awaitable* a) noexcept {
    awaitable* prev = nullptr;
    for (awaitable* p = head; p != nullptr; prev = p, p = p->next_) {
      if (p != a) continue;
      if (prev != nullptr) {
        prev->next_ = a->next_;
      } else {
        head = a->next_;
      }
      if (tail == a) tail = prev;
      break;
    }
    a->next_ = nullptr;
    a->queued_ = false;
  }

  // With the mutex held: drains the source, and gives queued events to suspended awaitables.
  // Collects what to resume into `ready`.
  void drain_and_serve(std::vector<std::coroutine_handle<>>& ready) {
    if (source) queue.append(*source);
    while (!queue.empty() && head != nullptr) {
      awaitable* a = pop_waiter();
      a->result_ = queue.front();
      queue.pop_front();
      ready.push_back(a->handle_);
    }
  }

  // Without the mutex held.
  void resume_all(const std::vector<std::coroutine_handle<>>& ready) const {
    for (std::coroutine_handle<> h : ready) {
      if (resume) {
        resume(h);
      } else {
        h.resume();
      }
    }
  }

  // The channel's thread: wait for the fd, drain, serve; until closed.
  void run(int fd) {
    std::vector<std::coroutine_handle<>> ready;
    for (;;) {
      struct pollfd p {
        fd, POLLIN, 0
      };
      if (::poll(&p, 1, -1) < 0 && errno != EINTR) {
        throw std::system_error(errno, std::generic_category(), "sigrelay::co::signal_channel: poll");
      }
      ready.clear();
      {
        std::lock_guard<std::mutex> lock(mutex);
        if (closed) return;
        drain_and_serve(ready);
      }
      resume_all(ready);
    }
  }
};

}  // namespace detail

// ---------------------------------------------------------------------------------------------------
// next_awaitable

signal_channel::next_awaitable::next_awaitable(std::shared_ptr<detail::channel_state> state,
                                               std::stop_token token) noexcept
    : state_(std::move(state)), token_(std::move(token)) {}

signal_channel::next_awaitable::~next_awaitable() {
  on_stop_.reset();  // first: waits for a stop callback running on another thread
  std::lock_guard<std::mutex> lock(state_->mutex);
  if (queued_) state_->unlink_waiter(this);  // the coroutine was destroyed while suspended
}

bool signal_channel::next_awaitable::await_suspend(std::coroutine_handle<> h) {
  handle_ = h;
  if (token_.stop_possible()) on_stop_.emplace(token_, canceller{this});
  std::lock_guard<std::mutex> lock(state_->mutex);
  // Cancelled first: a next() whose stop was requested before (or while) it came here takes
  // nothing from the queue (the header's "No loss").
  if (cancelled_ || token_.stop_requested()) return false;  // nullopt
  if (!state_->queue.empty()) {
    result_ = state_->queue.front();
    state_->queue.pop_front();
    return false;
  }
  if (state_->closed) return false;  // nullopt
  state_->push_waiter(this);
  return true;
}

void signal_channel::next_awaitable::canceller::operator()() noexcept {
  const std::shared_ptr<detail::channel_state> state = self->state_;
  std::coroutine_handle<> h;
  {
    std::lock_guard<std::mutex> lock(state->mutex);
    if (!self->queued_) {
      self->cancelled_ = true;  // not suspended yet (or already served)
      return;
    }
    state->unlink_waiter(self);
    self->result_.reset();
    h = self->handle_;
  }
  state->resume_all({h});
}

// ---------------------------------------------------------------------------------------------------
// signal_channel

namespace {

// backend::signalfd blocks a signal in the thread that subscribes it, and a signal sent to that thread
// alone (tgkill(), pthread_kill()) is then read only by a drain on that thread (signals.hpp,
// "Backends"), never by the channel's, which is the only one that drains: it would not be handed
// out. So the channel subscribes through a handle, which blocks nothing (signals::handle::add()):
// deliveries reach the object through the handler, whatever thread they are sent to. A refused
// signal throws from its add(), and the object (destroyed) gives back what was added before it.
sigrelay::signals make_source(std::initializer_list<int> signos, const signals_options& options) {
  if (options.backend != backend::signalfd) return sigrelay::signals(signos, options);
  sigrelay::signals source(std::initializer_list<int>{}, options);
  sigrelay::signals::handle h = source.get_handle();
  for (const int signo : signos) h.add(signo);
  return source;
}

}  // namespace

signal_channel::signal_channel(std::initializer_list<int> signos, resume_function resume,
                               const signals_options& options)
    : signal_channel(make_source(signos, options), std::move(resume)) {}

signal_channel::signal_channel(sigrelay::signals&& source, resume_function resume)
    : state_(std::make_shared<detail::channel_state>()) {
  // A moved-from (or closed) `signals` has no descriptor to poll, or one readable for good: the
  // thread would sleep for ever, or spin. Refused, as the header says.
  if (source.is_closed()) {
    throw std::system_error(std::make_error_code(std::errc::bad_file_descriptor),
                            "sigrelay::co::signal_channel: the signals object is closed or moved from");
  }
  state_->source.emplace(std::move(source));
  state_->closer = state_->source->get_handle();
  state_->resume = std::move(resume);
  const int fd = state_->source->native_handle();
  // The thread holds the state too: when the destructor has to detach it, it ends on its own. Started
  // settled: no thread of the channel's is still taking its signal mask once this returns.
  state_->thread = sigrelay::detail::start_settled_thread([state = state_, fd] { state->run(fd); });
}

signal_channel::~signal_channel() {
  if (::getpid() != state_->owner) {
    // A fork child's copy (the header's "Fork"): the channel's thread does not exist here, and it
    // may have held the lock when the parent forked. So no close(), no lock, and no join() or
    // detach(): glibc's fork put that thread's descriptor in its stack cache, and the next thread
    // the child creates gets it, the same pthread_t, which either call would then act on. The
    // std::thread is moved into storage that is never destroyed; the state stays referenced by the
    // absent thread's copy and is never freed.
    ::new (static_cast<void*>(&state_->graveyard.forgotten)) std::thread(std::move(state_->thread));
    return;
  }
  close();
  if (state_->thread.joinable()) {
    if (state_->thread.get_id() == std::this_thread::get_id()) {
      state_->thread.detach();  // destroyed by a coroutine resumed inline on the channel's thread
    } else {
      state_->thread.join();
    }
  }
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->source.reset();  // unsubscribes; the thread no longer touches it once closed
}

signal_channel::next_awaitable signal_channel::next() noexcept { return next_awaitable(state_, {}); }

signal_channel::next_awaitable signal_channel::next(std::stop_token token) noexcept {
  return next_awaitable(state_, std::move(token));
}

std::optional<signal_event> signal_channel::try_next() {
  std::vector<std::coroutine_handle<>> ready;
  std::optional<signal_event> e;
  {
    std::lock_guard<std::mutex> lock(state_->mutex);
    if (state_->source && !state_->closed) {
      if (state_->head == nullptr) {
        if (state_->queue.empty()) state_->queue.refill(*state_->source);  // allocation-free
      } else {
        // Coroutines already suspended come first (first come, first served): this drain also
        // emptied the descriptor the channel's thread polls, which would not wake for them.
        state_->drain_and_serve(ready);
      }
    }
    if (!state_->queue.empty()) {
      e = state_->queue.front();
      state_->queue.pop_front();
    }
  }
  state_->resume_all(ready);
  return e;
}

void signal_channel::close() noexcept {
  std::vector<std::coroutine_handle<>> ready;
  {
    std::lock_guard<std::mutex> lock(state_->mutex);
    if (state_->closed) return;
    state_->drain_and_serve(ready);  // the last drain: what was recorded before close() is kept
    state_->closed = true;
    while (next_awaitable* a = state_->pop_waiter()) {
      a->result_.reset();
      ready.push_back(a->handle_);
    }
  }
  state_->closer.close();  // native_handle() readable for good: the thread wakes up and ends
  state_->resume_all(ready);
}

bool signal_channel::is_closed() const noexcept {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->closed;
}

namespace {
// add()/remove() once closed: the signal named, as signals::add() names it.
[[noreturn]] void throw_closed(int signo) {
  const std::string_view name = signal_name(signo);
  throw std::system_error(std::make_error_code(std::errc::bad_file_descriptor),
                          "sigrelay::co::signal_channel is closed: cannot change " +
                              (name.empty() ? "signal " + std::to_string(signo) : std::string(name)));
}
}  // namespace

void signal_channel::add(int signo) {
  std::lock_guard<std::mutex> lock(state_->mutex);
  if (state_->closed) throw_closed(signo);
  // signalfd backend: through the handle, which blocks nothing in the calling thread (make_source()).
  if (state_->source->backend() == backend::signalfd) {
    state_->closer.add(signo);
  } else {
    state_->source->add(signo);
  }
}

void signal_channel::remove(int signo) {
  std::lock_guard<std::mutex> lock(state_->mutex);
  if (state_->closed) throw_closed(signo);
  state_->source->remove(signo);
}

std::uint64_t signal_channel::dropped() const noexcept {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->source ? state_->source->dropped() : 0;
}

}  // namespace sigrelay::co
