// SPDX-License-Identifier: MIT
// sigrelay/coro.hpp — awaiting signals from C++20 coroutines, with any scheduler (target
// sigrelay::coro). No event-loop library is needed; for Boost.Asio coroutines use <sigrelay/asio.hpp>
// with use_awaitable instead.
//
// Example:
//
//   // How this program's scheduler resumes a coroutine, e.g. by queueing it on its run queue:
//   auto resume_on_mine = [&](std::coroutine_handle<> h) { my_scheduler.post(h); };
//   sigrelay::co::signal_channel ch({SIGINT, SIGTERM, SIGHUP}, resume_on_mine);
//
//   my_task watch(sigrelay::co::signal_channel& ch) {
//     while (std::optional<sigrelay::signal_event> e = co_await ch.next()) {
//       std::printf("%s x%llu from pid %d\n", sigrelay::signal_name(e->signo).data(),
//                   (unsigned long long)e->count, (int)e->last.pid);
//       if (e->signo != SIGHUP) break;
//     }
//   }
//
// How it works
//   The channel owns a `signals` and one background thread that poll()s signals::native_handle() and
//   drains pending() into a queue (so the thread is the only consumer of the `signals`). The constructor
//   returns once that thread runs, with the signal mask of the thread that made the channel: none of
//   its threads is still starting with every signal blocked, whose mask restore could take a signal
//   the process sends itself next (a kill() of its own pid from a thread that does not block the
//   signal is still handled before kill() returns, as without the channel). `co_await ch.next()`
//   takes the next event from the queue at once if there is one (the coroutine does not suspend and goes on
//   on its own thread); otherwise it suspends, and the channel's thread hands it the next event and resumes
//   it through the channel's resume function. The queue is a reused vector (filled by
//   signals::pending(std::vector&)), so in steady state a delivery allocates nothing in the channel
//   (what the resume function does is its own).
//
// Resuming on the caller's executor
//   The resume function (std::function<void(std::coroutine_handle<>)>) decides where a suspended
//   coroutine continues: pass one that queues the handle on your scheduler (post it to your event
//   loop, thread pool, ...). With none, the coroutine resumes inline on the thread that hands it its
//   event (or std::nullopt): usually the channel's thread, or one of the callers below; that is only
//   right for code that does not care where it runs; such a coroutine must not destroy the channel
//   while it runs on the channel's thread (the destructor would then detach the thread instead of
//   joining it). The function is called from the channel's thread, from close() (the destructor's
//   too), from try_next() (which hands what it drains to coroutines already suspended first, see "No
//   loss"), or from the thread that requests a stop (see next(std::stop_token)), never with a lock
//   held. It must not throw (an exception on the channel's thread ends the process with
//   std::terminate).
//
// No loss
//   Events are queued from the moment the channel exists, whether or not anyone awaits; each is handed
//   out exactly once, first come, first served. A cancelled next() takes nothing from the queue.
//
// Close and cancellation
//   close() (from any thread, also from a coroutine) ends the channel: the events already recorded
//   are still handed out, then every next() yields std::nullopt; suspended ones are resumed with
//   std::nullopt. next(std::stop_token) additionally yields std::nullopt when a stop is requested
//   while it waits (or before). Destroying a coroutine that is suspended in next() is safe while it
//   waits: its wait is withdrawn. Once the channel has handed it an event (and called its resume
//   function, or is about to), it must be resumed, not destroyed: the event it holds would be lost
//   with it, and the resume function may already hold its handle. So destroy suspended coroutines
//   where their resumption runs (the executor the resume function posts to), not concurrently.
//
// Thread safety
//   Every member may be called from any thread. The resume function is called concurrently only if
//   several coroutines wait at once.
//
// Fork
//   A channel inherited by a fork child is dead there: its thread exists only in the parent, and
//   its lock may have been held by that thread at the fork. Use nothing of it in the child but its
//   destructor, which takes no lock, closes nothing the parent shares, and neither joins nor detaches
//   the parent's thread (it leaves alone any thread the child created, even one that glibc gave the
//   same pthread_t); the channel's memory stays allocated in the child. Create a new channel there.
//
// Errors
//   The constructors throw std::system_error as sigrelay::signals does, or as std::thread does; the
//   one taking a `signals` throws std::errc::bad_file_descriptor for a closed or moved-from one.
#pragma once

// C++20 only: in C++17 (or without coroutines and <stop_token>) including this header is an error.
#if !(__cplusplus >= 202002L && defined(__cpp_impl_coroutine) && __has_include(<coroutine>) && \
      __has_include(<stop_token>))
#error "sigrelay/coro.hpp needs C++20 (coroutines, std::stop_token): compile with -std=c++20 or later"
#endif

#include <coroutine>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <stop_token>

#include "sigrelay/signals.hpp"

namespace sigrelay::co {

// Where a coroutine suspended in next() continues (see "Resuming on the caller's executor").
using resume_function = std::function<void(std::coroutine_handle<>)>;

namespace detail {
struct channel_state;
}  // namespace detail

class signal_channel {
 public:
  // Subscribes to `signos` (with `options`) and starts the channel's thread. With backend::signalfd
  // the channel blocks no signal in the calling thread (nor does add()): its thread is the one that
  // reads, and a signalfd read never sees a signal sent to another thread alone (tgkill(),
  // pthread_kill(); signals.hpp, "Backends"). Deliveries then reach it through the handler, as with
  // backend::relay, whichever thread they are sent to.
  explicit signal_channel(std::initializer_list<int> signos, resume_function resume = {},
                          const signals_options& options = {});
  // Takes over an existing `signals`; nothing else may consume from it afterwards. A signalfd-backend
  // `signals` keeps the blocks its constructor and add() made in their threads: a signal sent to one
  // of those threads alone is not read by the channel's thread, and comes only when that block is
  // lifted (signals.hpp, "Backends"); make such a channel from signal numbers instead.
  explicit signal_channel(sigrelay::signals&& source, resume_function resume = {});
  // close()s, then joins the channel's thread and unsubscribes.
  ~signal_channel();
  signal_channel(const signal_channel&) = delete;
  signal_channel& operator=(const signal_channel&) = delete;

  // The awaitable returned by next(): `co_await` it once, right away.
  class [[nodiscard]] next_awaitable {
   public:
    next_awaitable(const next_awaitable&) = delete;
    next_awaitable& operator=(const next_awaitable&) = delete;
    ~next_awaitable();

    bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> h);
    std::optional<signal_event> await_resume() noexcept { return result_; }

   private:
    friend class signal_channel;
    friend struct detail::channel_state;
    struct canceller {
      next_awaitable* self;
      void operator()() noexcept;
    };
    next_awaitable(std::shared_ptr<detail::channel_state> state, std::stop_token token) noexcept;

    std::shared_ptr<detail::channel_state> state_;
    std::stop_token token_;
    std::optional<std::stop_callback<canceller>> on_stop_;
    std::coroutine_handle<> handle_;
    std::optional<signal_event> result_;
    next_awaitable* next_ = nullptr;  // the channel's list of suspended waits
    bool queued_ = false;             // in that list
    bool cancelled_ = false;          // stop requested before it got queued
  };

  // co_await next(): the next event, or std::nullopt once the channel is closed.
  next_awaitable next() noexcept;
  // The same, and std::nullopt when `token` is stop-requested before an event comes.
  next_awaitable next(std::stop_token token) noexcept;

  // The next queued event without waiting, if any.
  std::optional<signal_event> try_next();

  // Ends the channel (see "Close and cancellation"). Any thread; never blocks for long.
  void close() noexcept;
  bool is_closed() const noexcept;

  // Subscribes to one more signal / unsubscribes from one (see signals::add/remove). Errors: as
  // signals, and std::errc::bad_file_descriptor once closed.
  void add(int signo);
  void remove(int signo);
  // Realtime deliveries lost to a full ring (see signals::dropped).
  std::uint64_t dropped() const noexcept;

 private:
  std::shared_ptr<detail::channel_state> state_;
};

}  // namespace sigrelay::co
