// sigrelay/asio.hpp — sigrelay signals as a Boost.Asio I/O object (target sigrelay::asio).
//
// A drop-in for boost::asio::signal_set that keeps what Asio's own lacks: it chains with every other
// handler of the signal (through sigrelay's registry), loses nothing (a signal that arrives while no
// wait is pending is queued and handed to a later wait), counts coalesced deliveries and tells who
// sent each signal.
//
// Example:
//
//   boost::asio::io_context io;
//   sigrelay::asio::signal_set sigs(io, {SIGINT, SIGTERM, SIGHUP});
//   sigs.async_wait([&](boost::system::error_code ec, const sigrelay::signal_event& e) {
//     if (ec) return;  // operation_aborted: cancel() or destruction
//     std::printf("%s x%llu from pid %d\n", sigrelay::signal_name(e.signo).data(),
//                 (unsigned long long)e.count, (int)e.last.pid);
//   });
//   io.run();
//
//   // Any completion token: a future, or a C++20 coroutine.
//   std::future<sigrelay::signal_event> f = sigs.async_wait(boost::asio::use_future);
//   sigrelay::signal_event e = co_await sigs.async_wait(boost::asio::use_awaitable);
//
// Completion
//   async_wait() completes with (boost::system::error_code, sigrelay::signal_event): one event each.
//   Events are handed out in the order pending() returns them; several pending waits are served
//   first come, first served, one event each. A wait never completes inside async_wait() itself;
//   its handler runs through the handler's associated executor (by default the object's executor).
//   The completion token may be anything Asio accepts (the operation is built with async_compose):
//   a callback, use_future, use_awaitable (also as the default token, through
//   use_awaitable_t<>::as_default_on_t<signal_set>), bind_executor(strand, ...), redirect_error,
//   detached. Boost 1.74 (Asio 1.18) has no `deferred` at all, not even experimental::deferred (first
//   in Boost 1.77), nor per-operation cancellation slots; both need a newer Boost, and are untested.
//
// Cancellation
//   cancel() completes every wait pending on the object with boost::asio::error::operation_aborted.
//   Events are never consumed by a cancelled wait: they stay queued for the next one. A wait whose
//   event is already taken (its handler already scheduled) completes normally. Destroying the object
//   cancels its waits likewise (their handlers still run, with operation_aborted, and may outlive the
//   object: they never touch it).
//
// Beside Asio's own signal_set
//   Both may live in one program. On different signals they do not meet. On the same signal, make
//   the Asio signal_set first and remove it last: sigrelay then chains Asio's handler and both see
//   every delivery. Asio overwrites any handler when it adds a signal and sets SIG_DFL when it
//   removes one, so in any other order one of the two stops receiving that signal.
//
// Thread safety
//   As Asio's I/O objects: distinct objects are independent; one object may be used from several
//   threads running its io_context (its own state is guarded by a mutex), but not destroyed while
//   another thread uses it. Handlers may call async_wait() on the same object again.
//
// Errors
//   The constructors, add() and remove() throw std::system_error as sigrelay::signals does.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/system/error_code.hpp>

#include <cstdint>
#include <deque>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <system_error>
#include <type_traits>
#include <utility>

#include "sigrelay/signals.hpp"

namespace sigrelay::asio {

namespace detail {

// What the object and its operations share. An operation holds it by shared_ptr, so it never
// depends on the object's lifetime; everything in it is guarded by `mutex`.
template <typename Executor>
struct set_state {
  set_state(const Executor& ex, sigrelay::signals&& s) : source(std::move(s)), descriptor(ex) {
    descriptor->assign(source->native_handle());
  }

  // Moves the next event, if any, into `out`; drains the source when the queue is empty.
  // Called with `mutex` held and !closed.
  bool take(signal_event& out) {
    if (queue.empty()) {
      for (signal_event& e : source->pending()) queue.push_back(e);
    }
    if (queue.empty()) return false;
    out = queue.front();
    queue.pop_front();
    return true;
  }

  // Cancels the waits and forgets the descriptor without closing it (the source owns the fd), then
  // unsubscribes. With `mutex` held.
  void close() noexcept {
    if (closed) return;
    closed = true;
    boost::system::error_code ignored;
    descriptor->cancel(ignored);
    (void)descriptor->release();
    descriptor.reset();
    source.reset();
    queue.clear();
  }

  std::mutex mutex;
  bool closed = false;
  std::optional<sigrelay::signals> source;
  std::optional<boost::asio::posix::basic_stream_descriptor<Executor>> descriptor;
  std::deque<signal_event> queue;  // drained from `source`, not yet handed out
};

// The composed operation behind async_wait().
template <typename Executor>
class wait_op {
 public:
  wait_op(std::shared_ptr<set_state<Executor>> state, Executor ex)
      : state_(std::move(state)), ex_(std::move(ex)) {}

  template <typename Self>
  void operator()(Self& self, boost::system::error_code ec = {}) {
    // Keep the shared state alive while `self` (and with it this object) is moved away below.
    const std::shared_ptr<set_state<Executor>> state = state_;
    if (!started_) {
      started_ = true;
      start(self, state);
      return;
    }
    if (!ec) ec = error_;
    if (ec) {
      self.complete(ec, signal_event{});
      return;
    }
    signal_event event;
    {
      std::unique_lock<std::mutex> lock(state->mutex);
      if (state->closed) {
        lock.unlock();
        self.complete(boost::asio::error::operation_aborted, signal_event{});
        return;
      }
      if (!state->take(event)) {
        state->descriptor->async_wait(boost::asio::posix::descriptor_base::wait_read, std::move(self));
        return;
      }
    }
    self.complete(boost::system::error_code{}, event);
  }

 private:
  // Never completes inline: an immediate result is posted, then taken when the post runs.
  template <typename Self>
  void start(Self& self, const std::shared_ptr<set_state<Executor>>& state) {
    if (!state) {
      error_ = boost::asio::error::bad_descriptor;  // a moved-from object
      boost::asio::post(ex_, std::move(self));
      return;
    }
    std::unique_lock<std::mutex> lock(state->mutex);
    if (state->closed) {
      error_ = boost::asio::error::operation_aborted;
    } else if (state->queue.empty()) {
      for (signal_event& e : state->source->pending()) state->queue.push_back(e);
    }
    if (error_ || !state->queue.empty()) {
      lock.unlock();
      boost::asio::post(ex_, std::move(self));
      return;
    }
    state->descriptor->async_wait(boost::asio::posix::descriptor_base::wait_read, std::move(self));
  }

  std::shared_ptr<set_state<Executor>> state_;
  Executor ex_;
  bool started_ = false;
  boost::system::error_code error_;
};

}  // namespace detail

// basic_signal_set
//
// Subscribes to a set of signals (a sigrelay::signals it owns) and hands their events to
// async_wait() on an executor. Movable, not copyable; a moved-from object completes waits with
// boost::asio::error::bad_descriptor.
template <typename Executor = boost::asio::any_io_executor>
class basic_signal_set {
 public:
  using executor_type = Executor;
  // The signature every wait completes with.
  using signature = void(boost::system::error_code, signal_event);

  // Rebinds to another executor type, as Asio's I/O objects do (for use_awaitable_t::as_default_on).
  template <typename OtherExecutor>
  struct rebind_executor {
    using other = basic_signal_set<OtherExecutor>;
  };

  // Subscribes to `signos` (with `options`: backend, realtime capacity). Errors: as signals.
  basic_signal_set(const executor_type& ex, std::initializer_list<int> signos,
                   const signals_options& options = {})
      : basic_signal_set(ex, sigrelay::signals(signos, options)) {}

  template <
      typename ExecutionContext,
      typename = std::enable_if_t<std::is_convertible_v<ExecutionContext&, boost::asio::execution_context&>>>
  basic_signal_set(ExecutionContext& context, std::initializer_list<int> signos,
                   const signals_options& options = {})
      : basic_signal_set(context.get_executor(), sigrelay::signals(signos, options)) {}

  // Takes over an existing `signals` (e.g. one made with backend::signalfd). Nothing else may
  // consume from it afterwards.
  basic_signal_set(const executor_type& ex, sigrelay::signals&& source)
      : ex_(ex), state_(std::make_shared<detail::set_state<Executor>>(ex, std::move(source))) {}

  template <
      typename ExecutionContext,
      typename = std::enable_if_t<std::is_convertible_v<ExecutionContext&, boost::asio::execution_context&>>>
  basic_signal_set(ExecutionContext& context, sigrelay::signals&& source)
      : basic_signal_set(context.get_executor(), std::move(source)) {}

  // Cancels pending waits (operation_aborted) and unsubscribes; events not yet handed out are dropped.
  ~basic_signal_set() { reset(); }

  basic_signal_set(basic_signal_set&& other) noexcept : ex_(other.ex_), state_(std::move(other.state_)) {}
  basic_signal_set& operator=(basic_signal_set&& other) noexcept {
    if (this != &other) {
      reset();
      ex_ = other.ex_;
      state_ = std::move(other.state_);
    }
    return *this;
  }
  basic_signal_set(const basic_signal_set&) = delete;
  basic_signal_set& operator=(const basic_signal_set&) = delete;

  executor_type get_executor() const noexcept { return ex_; }

  // async_wait()
  //
  // Waits for the next event: (error_code, signal_event). Queued events complete it at once (through
  // a post, never inside this call). Errors passed to the handler: operation_aborted after cancel()
  // or destruction; bad_descriptor on a moved-from object.
  template <typename CompletionToken = boost::asio::default_completion_token_t<executor_type>>
  auto async_wait(CompletionToken&& token = boost::asio::default_completion_token_t<executor_type>()) {
    return boost::asio::async_compose<CompletionToken, signature>(detail::wait_op<Executor>(state_, ex_),
                                                                  token, ex_);
  }

  // Completes every pending wait with operation_aborted. Queued events stay for later waits.
  void cancel() {
    if (!state_) return;
    std::lock_guard<std::mutex> lock(state_->mutex);
    if (!state_->closed) {
      boost::system::error_code ignored;
      state_->descriptor->cancel(ignored);
    }
  }

  // Subscribes to one more signal / unsubscribes from one (see signals::add/remove).
  void add(int signo) {
    std::lock_guard<std::mutex> lock(checked_state().mutex);
    state_->source->add(signo);
  }
  void remove(int signo) {
    std::lock_guard<std::mutex> lock(checked_state().mutex);
    state_->source->remove(signo);
  }

  // Realtime deliveries lost to a full ring (see signals::dropped).
  std::uint64_t dropped() const {
    if (!state_) return 0;
    std::lock_guard<std::mutex> lock(state_->mutex);
    return state_->closed ? 0 : state_->source->dropped();
  }

 private:
  detail::set_state<Executor>& checked_state() {
    if (!state_ || state_->closed) {
      throw std::system_error(std::make_error_code(std::errc::bad_file_descriptor),
                              "sigrelay::asio::signal_set: moved-from object");
    }
    return *state_;
  }

  void reset() noexcept {
    if (!state_) return;
    {
      std::lock_guard<std::mutex> lock(state_->mutex);
      state_->close();
    }
    state_.reset();
  }

  executor_type ex_;
  std::shared_ptr<detail::set_state<Executor>> state_;
};

using signal_set = basic_signal_set<>;

}  // namespace sigrelay::asio
