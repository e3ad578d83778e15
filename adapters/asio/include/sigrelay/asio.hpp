// SPDX-License-Identifier: MIT
// sigrelay/asio.hpp — sigrelay signals as Asio I/O objects: Boost.Asio (target sigrelay::asio) or
// standalone Asio (target sigrelay::asio_standalone, which defines SIGRELAY_ASIO_STANDALONE).
//
// Two types, both bound to an executor or an execution context:
//
//   sigrelay::asio::signal_set        a drop-in for asio::signal_set: the same constructors, members,
//                                     overloads and completion signature void(error_code, int), so that
//                                     changing the type's name is the whole migration.
//   sigrelay::asio::signal_event_set  the richer form: each wait completes with a sigrelay::signal_event
//                                     (signal, count of coalesced deliveries, origin: who sent it).
//
// Migration: replace `boost::asio::signal_set` (or `asio::signal_set`) by `sigrelay::asio::signal_set`
// and link sigrelay::asio (or sigrelay::asio_standalone). What the program then gets that Asio's own
// lacks: sigrelay chains with every other handler of the signal (through its registry) instead of
// overwriting it, and nothing is lost between waits. What differs from Asio's signal_set:
//   - Order: signal_set hands out the queued deliveries of standard signals by ascending number,
//     as Asio's does (a lower one recorded later still goes before a higher one already waiting),
//     then realtime ones in arrival order (Asio's: by number too). signal_event_set hands out events
//     in the order sigrelay's pending() returns them (standard signals by ascending number, then
//     realtime ones in arrival order), one drain after the other.
//   - Counts and origins are only on signal_event_set. The drop-in hands out one completion per
//     recorded delivery (a signal_event with count 3 makes three completions), which is what Asio's
//     signal_set does with deliveries that arrive while no wait is pending. The kernel itself still
//     merges a standard signal sent again before its handler ran, for both.
//   - Errors from add() are sigrelay's (e.g. refused signals such as SIGKILL or SIGSEGV: see
//     <sigrelay/signals.hpp>), as the same error_code type Asio uses: boost::system::error_code, or
//     std::error_code with standalone Asio; errno values are in the system category, as Asio's are
//     (so `ec == asio::error::invalid_argument` holds for a bad number, as with Asio). The throwing overloads
//     throw boost::system::system_error (std::system_error with standalone Asio), as Asio's do.
//   - The drop-in is also movable (Asio's is not); a moved-from object completes waits with
//     error::bad_descriptor and its add() fails with error::bad_descriptor.
//   - Newer Asio (1.27 and later, Boost 1.82 and later) adds signal_set_base::flags and
//     add(signo, flags) (restart, no_child_stop, no_child_wait); the drop-in follows the Asio of
//     Boost 1.81 and standalone Asio 1.22, which have neither, so it has no such overload.
//   - SA_RESTART: sigrelay installs its handler with SA_RESTART (<sigrelay/registry.hpp>), so a
//     blocking system call that one of the set's signals interrupts is restarted; under Asio's
//     signal_set (Boost 1.81: no flags) it fails with EINTR instead.
//   - Fork: as with Asio's signal_set, a signal_set copied into a fork child works there once the
//     child calls io_context::notify_fork(fork_child) (Asio's daemon pattern): it subscribes again
//     to its signals, and its waits (pending ones included) complete with the child's own
//     signals. What differs: the deliveries queued at the fork were the parent's and are dropped
//     in the child; from fork() to notify_fork() its signals have their earlier disposition back
//     in the child, as for any inherited sigrelay::signals (<sigrelay/signals.hpp>, "Fork"), so a
//     signal sent to the child at once takes that action (for SIGTERM: it ends the child) and never
//     reaches the parent's sets (with Asio's it may); a child that never calls notify_fork() has a
//     dead set (its waits never complete with a signal, add() fails). A signal_event_set made from
//     signal numbers works in the child after notify_fork(fork_child) too: its sigrelay::signals
//     follows the fork (signals_options::follow_fork; relay backend), so from fork() on the child's
//     signals are recorded for it (not given their earlier disposition), its waits (pending ones
//     included) complete with them once the child has called notify_fork(), and the events it had
//     queued at the fork (the parent's) are dropped there. One on the signalfd backend, or made from
//     a `signals` that does not follow fork, stays dead in the child: make new ones there.
//
// Boost or standalone Asio
//   <sigrelay/asio.hpp> uses Boost.Asio unless SIGRELAY_ASIO_STANDALONE is defined before it is
//   included (the sigrelay::asio_standalone target defines it): then ::asio (Debian's libasio-dev,
//   Asio 1.22) and std::error_code. The types live in an inline namespace named after the flavour
//   (sigrelay::asio::boost_asio / sigrelay::asio::standalone), so translation units of one program may
//   use different flavours without clashing; each spells them sigrelay::asio::signal_set.
//   sigrelay::asio::error_code and sigrelay::asio::system_error name the flavour's error types.
//   Boost: the project builds and tests with Boost 1.81 (Debian 12's libboost1.81-dev), and its CMake
//   asks for >= 1.81: it is the first Boost in Debian with the non-experimental asio::deferred (Boost
//   1.80) and per-operation cancellation slots (1.77); Debian's default libboost-dev (1.74) has
//   neither. Programs stuck with Boost 1.74 can use standalone Asio instead.
//
// Example (drop-in):
//
//   boost::asio::io_context io;
//   sigrelay::asio::signal_set sigs(io, SIGINT, SIGTERM);
//   sigs.async_wait([&](boost::system::error_code ec, int signo) { ... });
//   int s = co_await sigs.async_wait(boost::asio::use_awaitable);
//
// Example (richer form):
//
//   sigrelay::asio::signal_event_set sigs(io, {SIGINT, SIGTERM, SIGHUP});
//   sigs.async_wait([&](boost::system::error_code ec, const sigrelay::signal_event& e) {
//     if (ec) return;  // operation_aborted: cancel() or destruction
//     std::printf("%s x%llu from pid %d\n", sigrelay::signal_name(e.signo).data(),
//                 (unsigned long long)e.count, (int)e.last.pid);
//   });
//   std::future<sigrelay::signal_event> f = sigs.async_wait(boost::asio::use_future);
//   sigrelay::signal_event e = co_await sigs.async_wait(boost::asio::use_awaitable);
//
// Completion (both types)
//   A wait completes with one result: (error_code, int) for signal_set, (error_code, signal_event) for
//   signal_event_set. Several waits pending at once: on signal_set, as on Asio's, one delivery
//   completes all of them with its signal number (a delivery recorded while no wait was pending is
//   queued, and each later wait takes one); on signal_event_set they are served first come, first
//   served, one event each. A wait never completes inside async_wait() itself; its handler runs through the
//   handler's associated executor (by default the object's executor). The completion token may be anything
//   Asio accepts (the operation is started with async_initiate): a callback, use_future, use_awaitable
//   (also as the default token, through use_awaitable_t<>::as_default_on_t<...>), deferred (Boost's
//   asio::deferred; standalone 1.22's asio::experimental::deferred), bind_executor(strand, ...),
//   redirect_error, detached. Per-operation cancellation (a bound cancellation slot; as with Asio's
//   signal_set, any of cancellation_type::terminal, partial and total) is honoured while the wait is
//   waiting for the descriptor, like cancel() below; a wait already completing completes normally.
//
// Cancellation
//   cancel() completes every wait pending on the object with error::operation_aborted. Signals are
//   never consumed by a cancelled wait: they stay queued for the next one. A wait whose result is
//   already taken (its handler already scheduled: as in Asio, a wait started while a delivery is
//   queued and no other wait is ahead of it takes it at once) completes normally, also when the
//   object is destroyed or the signal removed before its handler runs. Destroying the object cancels
//   the other waits likewise (their handlers still run, with operation_aborted, and may outlive the
//   object: they never touch it).
//
// remove() and clear()
//   signal_set (as Asio's): remove() and clear() also discard the deliveries of the removed signals
//   not yet handed out. signal_event_set keeps them (as sigrelay::signals::remove() does): they are
//   still handed to later waits.
//
// Beside Asio's own signal_set
//   Both may live in one program. On different signals they do not meet. On the same signal, make
//   the Asio signal_set first and remove it last: sigrelay then chains Asio's handler and both see
//   every delivery. Asio overwrites any handler when it adds a signal and sets SIG_DFL when it
//   removes one, so in any other order one of the two stops receiving that signal.
//
// Allocation
//   The deliveries drained from sigrelay wait in a reused vector (filled by
//   signals::pending(std::vector&)), so in steady state the object allocates nothing per delivery of its
//   own. What Asio allocates for an operation (its reactor operation, a post) comes from the
//   completion handler's associated allocator, as for Asio's own operations (by default Asio's
//   recycling allocator, which reuses the memory of the operation before).
//
// Thread safety
//   As Asio's I/O objects: distinct objects are independent; one object may be used from several
//   threads running its io_context (its own state is guarded by a mutex), but not destroyed while
//   another thread uses it. Handlers may call async_wait() on the same object again.
//
// Errors
//   signal_event_set: the constructors, add() and remove() throw std::system_error as
//   sigrelay::signals does. signal_set: see above.
#pragma once

#if defined(SIGRELAY_ASIO_STANDALONE)
#include <asio/any_io_executor.hpp>
#include <asio/associated_allocator.hpp>
#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/error.hpp>
#include <asio/execution/context.hpp>
#include <asio/execution_context.hpp>
#include <asio/io_context.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/post.hpp>
#include <asio/query.hpp>
#define SIGRELAY_ASIO_FLAVOUR standalone
#else
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_allocator.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/execution/context.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/query.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>
#define SIGRELAY_ASIO_FLAVOUR boost_asio
#endif

#include <algorithm>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <system_error>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include "sigrelay/detail/event_backlog.hpp"
#include "sigrelay/detail/following_fork.hpp"
#include "sigrelay/signals.hpp"

namespace sigrelay::asio {
inline namespace SIGRELAY_ASIO_FLAVOUR {

#if defined(SIGRELAY_ASIO_STANDALONE)
using error_code = std::error_code;      // the flavour's error code
using system_error = std::system_error;  // what the drop-in's throwing overloads throw
namespace detail {
namespace net = ::asio;
}  // namespace detail
#else
using error_code = ::boost::system::error_code;
using system_error = ::boost::system::system_error;
namespace detail {
namespace net = ::boost::asio;
}  // namespace detail
#endif

namespace detail {

// sigrelay reports errno values in the generic category; Asio's own errors (error::invalid_argument,
// what a failed sigaction() gives) are errno values in the system category, so that is where they go:
// `ec == asio::error::invalid_argument` then holds as it does with Asio's signal_set (and
// `ec == errc::invalid_argument` still does).
inline error_code to_error_code(const std::error_code& e) noexcept {
#if defined(SIGRELAY_ASIO_STANDALONE)
  if (e.category() == std::generic_category()) return error_code(e.value(), std::system_category());
  return e;
#else
  if (e.category() == std::generic_category() || e.category() == std::system_category())
    return error_code(e.value(), ::boost::system::system_category());
  return error_code(e);
#endif
}

// The drop-in's part of io_context::notify_fork(), one service per execution context: in the child,
// every live drop-in set of the context subscribes again (see "Fork" at the top).
//
// Order: Asio notifies fork_child from the oldest service to the newest. This service is made by a
// set after its descriptor, so after the reactor that the descriptor uses: when it runs, the reactor
// has made the child's own epoll set (with the inherited descriptor in it), and a descriptor taken
// out here is taken out of the child's set, never out of the set shared with the parent.
class fork_service : public net::execution_context::service {
 public:
  inline static net::execution_context::id id;  // NOLINT(readability-identifier-naming): Asio's name
  explicit fork_service(net::execution_context& context) : net::execution_context::service(context) {}

  // `set` (a set_state) calls its `In_child` member at fork_child while it lives: a drop-in's
  // subscribe_again_in_child(), a signal_event_set's keep_in_child(). (A function pointer, not a
  // virtual function: a vtable in set_state cost about 60 instructions per delivery, through the
  // inlining of the wait.)
  template <auto In_child, typename State>
  void follow(const std::shared_ptr<State>& set) {
    const std::lock_guard<std::mutex> lock(mutex_);
    sets_.erase(std::remove_if(sets_.begin(), sets_.end(), [](const follower& f) { return f.set.expired(); }),
                sets_.end());
    sets_.push_back(follower{set, [](void* p) noexcept { (static_cast<State*>(p)->*In_child)(); }});
  }

 private:
  void shutdown() override {}
  void notify_fork(net::execution_context::fork_event event) override {
    if (event != net::execution_context::fork_child) return;
    std::vector<follower> sets;
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      sets = sets_;
    }
    for (const follower& f : sets) {
      if (const std::shared_ptr<void> set = f.set.lock()) f.again(set.get());
    }
  }

  struct follower {
    std::weak_ptr<void> set;
    void (*again)(void*) noexcept;
  };
  std::mutex mutex_;
  std::vector<follower> sets_;
};

// What an object and its operations share. An operation holds it by shared_ptr, so it never
// depends on the object's lifetime; everything in it is guarded by `mutex`.
template <typename Executor>
struct set_state {
  set_state(const Executor& ex, sigrelay::signals&& s) : source(std::move(s)), descriptor(ex) {
    descriptor->assign(source->native_handle());
  }

  // A drop-in's set in a fork child, from fork_service: the inherited source is dead there (signals.hpp,
  // "Fork"), so a new one subscribes to `signos`. Its descriptor takes the inherited one's place;
  // waits on the inherited one are aborted by the swap and wait again (wait_op, `rewakes`). The
  // deliveries queued at the fork were the parent's: dropped. If subscribing fails (a signal refused
  // in the child), the set stays dead, as without notify_fork().
  void subscribe_again_in_child() noexcept {
    const std::lock_guard<std::mutex> lock(mutex);
    if (closed) return;
    try {
      sigrelay::signals fresh(std::initializer_list<int>{});
      for (const int signo : signos) fresh.add(signo);
      error_code ec;
      (void)descriptor->release();  // out of the child's epoll set, while its fd is still the old file
      source.reset();               // the dead copy
      descriptor->assign(fresh.native_handle(), ec);
      if (ec) {
        close();  // no descriptor to wait on: waits end with operation_aborted
        return;
      }
      source.emplace(std::move(fresh));
    } catch (...) {
      return;
    }
    queue.clear();
    ++rewakes;
  }

  // The waits listed by id (reused storage: no allocation in steady state; with `mutex` held):
  // - Broadcast (signal_set only): as Asio's signal_set completes every pending wait with one
  //   delivery, the wait that takes a delivery gives its number to every other wait now on the
  //   descriptor and wakes them (a cancel of the descriptor, which they tell from a real one by their
  //   number). A signal_set's wait is listed from the first time it goes on the descriptor.
  // - Per-operation cancellation (either type, where the handler has a connected cancellation
  //   slot): the slot's handler marks the wait here (withdraw()), so that it and a broadcast are
  //   ordered by the mutex, and the wait, on the descriptor or posted, tells it from a wake-up when
  //   it resumes. Listed from its start. A wait with neither is never listed.
  struct waiter {
    std::uint64_t id;
    int signo;           // broadcast to it (0: nothing yet; -1: nothing may be any more)
    bool on_descriptor;  // waiting for the descriptor now (only those get a broadcast)
    bool cancelled;      // its per-operation cancellation was emitted
  };
  std::uint64_t enlist() {
    waiters.push_back(waiter{++last_waiter, 0, false, false});
    return last_waiter;
  }
  waiter* find_waiter(std::uint64_t id) noexcept {
    const auto it =
        std::find_if(waiters.begin(), waiters.end(), [id](const waiter& w) { return w.id == id; });
    return it == waiters.end() ? nullptr : &*it;
  }
  // Forgets wait `id`.
  void delist(std::uint64_t id) noexcept {
    if (waiter* w = find_waiter(id)) {
      *w = waiters.back();
      waiters.pop_back();
    }
  }
  // cancel(): the waits now on the descriptor are aborted, so no later delivery is theirs (as in
  // Asio, where cancel() takes them out of the queue); one already given a number keeps it.
  void withhold_broadcasts() noexcept {
    for (waiter& w : waiters) {
      if (w.on_descriptor && w.signo == 0) w.signo = -1;
    }
  }
  // Per-operation cancellation of wait `id` (from its slot's handler; not with `mutex` held): no
  // later delivery is its own (as Asio takes a cancelled operation out of its queue at once), unless
  // one already was. Resumed, it completes with operation_aborted; if it is on the descriptor, it
  // and the other waits there are woken (the others wait again).
  void withdraw(std::uint64_t id) noexcept {
    const std::lock_guard<std::mutex> lock(mutex);
    waiter* const w = find_waiter(id);
    if (closed || w == nullptr || w->signo > 0) return;
    w->signo = -1;
    w->cancelled = true;
    if (!w->on_descriptor) return;  // posted: it sees the mark when it runs
    ++rewakes;
    error_code ignored;
    descriptor->cancel(ignored);
  }
  // Wakes the waits on the descriptor (they tell this wake-up from a cancel() by `rewakes`) when
  // deliveries are queued for them: a wait that drained the source ahead of them (start() of a later
  // wait) read the readiness they were waiting for. With `mutex` held.
  void nudge_if_left_behind() noexcept {
    if (closed || on_descriptor == 0 || queue.empty()) return;
    ++rewakes;
    error_code ignored;
    descriptor->cancel(ignored);
  }
  void broadcast(int signo) noexcept {
    bool woken = false;
    for (waiter& w : waiters) {
      if (!w.on_descriptor || w.signo != 0) continue;  // not waiting, or given an earlier delivery
      w.signo = signo;
      woken = true;
    }
    error_code ignored;
    if (woken && descriptor) descriptor->cancel(ignored);
  }

  // A signal_event_set's set in a fork child, from fork_service: its source goes on there if it
  // follows fork (signals_options::follow_fork: the same descriptor number, now the child's, which
  // the reactor put back in the child's epoll set), so waits pending at the fork go on and complete
  // with the child's signals. The queue holds the parent's events: dropped. A source dead in the
  // child leaves the set dead, as before.
  void keep_in_child() noexcept {
    const std::lock_guard<std::mutex> lock(mutex);
    if (closed || !source || source->is_inherited()) return;
    queue.clear();
  }

  // Appends what the source has recorded to the queue. With `mutex` held and !closed.
  void drain() { queue.append(*source); }

  // Moves the next whole event, if any, into `out` (signal_event_set).
  // Called with `mutex` held and !closed.
  bool take(signal_event& out) {
    if (queue.empty()) drain();
    if (queue.empty()) return false;
    out = queue.front();
    queue.pop_front();
    return true;
  }

  // Takes one delivery, if any (signal_set): an event of count n is n results. As Asio's
  // signal_set, the lowest standard signal number waiting goes first, whenever it was recorded, so
  // what the source has recorded since the last drain is looked at too; realtime signals follow in
  // the order they were recorded.
  bool take(int& out) {
    drain();
    if (queue.empty()) return false;
    signal_event& e = queue.lowest_below(SIGRTMIN);
    out = e.signo;
    if (e.count <= 1) {
      queue.erase(e);
    } else {
      --e.count;
    }
    return true;
  }

  // Cancels the waits and forgets the descriptor without closing it (the source owns the fd), then
  // unsubscribes. With `mutex` held.
  void close() noexcept {
    if (closed) return;
    closed = true;
    error_code ignored;
    descriptor->cancel(ignored);
    (void)descriptor->release();
    descriptor.reset();
    source.reset();
    queue.clear();
  }

  std::mutex mutex;
  bool closed = false;
  std::size_t in_flight = 0;      // waits started and not yet resumed (posted, or on the descriptor)
  std::size_t on_descriptor = 0;  // of those, the ones on the descriptor
  std::vector<int> signos;        // a drop-in's signals, for clear() and a fork child
  // Wake-ups of the waits on the descriptor that are not cancels (a fork child's new descriptor in
  // subscribe_again_in_child(), withdraw(), nudge_if_left_behind()): such a wait waits again. One
  // counter for all (each wait keeps a copy, and Asio moves the operation at every step).
  unsigned rewakes = 0;
  unsigned cancels = 0;         // cancel() calls
  std::vector<waiter> waiters;  // see enlist()
  std::uint64_t last_waiter = 0;
  std::optional<sigrelay::signals> source;
  std::optional<net::posix::basic_stream_descriptor<Executor>> descriptor;
  sigrelay::detail::event_backlog queue;  // drained from `source`, not yet handed out
};

// Posts `op` on `ex`. Through the io_context's own executor when `ex` is a type-erased one that
// holds it (the usual any_io_executor of an io_context): the same post, without the type-erased
// require()/prefer() and execute() calls. The type is compared first: Asio 1.22's target<T>()
// returns the object it holds whatever T is (a strand taken for an io_context executor, found by
// AsioAdapter.AHandlerWithoutAnExecutorCompletesOnTheSetsExecutor). Without RTTI, always the
// type-erased post.
template <typename Executor, typename Op>
void post_on(const Executor& ex, Op&& op) {
#if defined(__cpp_rtti) || defined(__GXX_RTTI)
  if constexpr (std::is_same_v<Executor, net::any_io_executor>) {
    using native_executor = net::io_context::executor_type;
    if (ex && ex.target_type() == typeid(native_executor)) {
      if (const auto* native = ex.template target<native_executor>()) {
        net::post(*native, std::forward<Op>(op));
        return;
      }
    }
  }
#endif
  net::post(ex, std::forward<Op>(op));
}

// The operation behind async_wait(), wrapped around the completion handler; Result is int
// (signal_set) or signal_event. It goes on the descriptor (or is posted) itself, and calls the
// handler when done: its associated executor and allocator are the handler's (the specialisations
// after this namespace), so Asio runs each of its steps, and the completion, where it would run the
// handler, and recycles its memory as the handler's. The work Asio tracks for it is the reactor's or
// the post's, on the object's executor and the handler's, as for Asio's own operations.
// It was an async_compose() operation, whose work guard, type-erased executor copies (the
// any_io_executor of the object, prefer()ed to track work) and cancellation state, moved at every
// step, weighed more than sigrelay's whole delivery: under callgrind (bench/deliveries.cc, the same
// benchmark source) 3,066 -> 2,193 instructions per delivery for `asio` and 3,359 -> 2,410 for
// `asio-armed`; Boost.Asio's own signal_set in asio-armed's loop (`peer-asio-armed`): 1,657.
// An immediate completion is posted through the io_context's own executor where the object's
// any_io_executor holds one (post_on()): the type-erased require()/prefer()/execute() of a post on
// any_io_executor cost 547 instructions per delivery (`asio`: 2,193 -> 1,646, the type check of
// post_on() included).
// Per-operation cancellation goes through the state (withdraw()), not to the descriptor: the wait
// has to tell it from its own wake-ups, and the mutex orders it with a broadcast.
template <typename Executor, typename Result, typename Handler>
class wait_handler {
 public:
  template <typename H>
  wait_handler(std::shared_ptr<set_state<Executor>> state, H&& handler)
      : state_(std::move(state)), handler_(std::forward<H>(handler)) {}

  // The first step, inside async_wait(). Never completes inline. With no other wait in flight, an
  // immediate result is taken now and posted, as Asio's signal_set takes the signal number into the
  // operation before posting it: a cancel(), remove() or the object's destruction before the post
  // runs neither aborts that wait nor takes its delivery back (see Cancellation at the top). Behind
  // other waits (first come, first served) it is posted without one and takes what is left when it
  // runs. `ex`: the object's executor, where an immediate completion is posted.
  void start(const Executor& ex) {
    if (!state_) {
      error_ = net::error::bad_descriptor;  // a moved-from object
      post_on(ex, std::move(*this));
      return;
    }
    set_state<Executor>& state = *state_;
    std::shared_ptr<set_state<Executor>> keep;  // see wait_on_descriptor()
    std::unique_lock<std::mutex> lock(state.mutex);
    cancels_ = state.cancels;
    if (state.closed) {
      error_ = net::error::operation_aborted;
    } else {
      if (state.in_flight == 0) {
        taken_ = state.take(result_);  // (drains the source first if nothing is queued)
      } else if (state.queue.empty()) {
        state.drain();
      }
      // As Asio's signal_set: terminal, partial and total cancellation all end the wait.
      auto slot = net::get_associated_cancellation_slot(handler_);
      if (slot.is_connected()) {
        waiter_ = state.enlist();
        slot.template emplace<withdrawal>(state_, waiter_);
      }
    }
    ++state.in_flight;  // until it resumes
    if (error_ || taken_ || !state.queue.empty()) {
      lock.unlock();
      post_on(ex, std::move(*this));
      return;
    }
    wait_on_descriptor(state, keep);
  }

  // Resumed after a post.
  void operator()() { resume(error_code{}); }
  // Resumed by the descriptor (readable, or cancelled).
  void operator()(error_code ec) { resume(ec); }

  const Handler& handler() const noexcept { return handler_; }

 private:
  void resume(error_code ec) {
    if (!state_) {  // a moved-from object (start() set error_)
      complete(ec ? ec : error_, Result{});
      return;
    }
    set_state<Executor>& state = *state_;
    Result result{};
    {
      std::shared_ptr<set_state<Executor>> keep;  // see wait_on_descriptor()
      std::unique_lock<std::mutex> lock(state.mutex);
      --state.in_flight;
      const bool was_on_descriptor = on_descriptor_;
      typename set_state<Executor>::waiter* const listed =
          waiter_ != 0 ? state.find_waiter(waiter_) : nullptr;
      if (on_descriptor_) {
        on_descriptor_ = false;
        --state.on_descriptor;
        if (listed != nullptr) listed->on_descriptor = false;
      }
      const bool cancelled = listed != nullptr && listed->cancelled;
      if constexpr (kBroadcast) {
        // A delivery another wait took while this one was on the descriptor is this one's too,
        // whatever woke it (that wait's cancel of the descriptor, a cancel() or per-operation
        // cancellation since, a fork child's new descriptor): as in Asio, where the delivery has
        // already scheduled it.
        const int given = listed != nullptr && listed->signo > 0 ? listed->signo : 0;
        if (given != 0) {
          state.delist(waiter_);
          state.nudge_if_left_behind();
          lock.unlock();
          complete(error_code{}, given);
          return;
        }
      }
      // Aborted only because a fork child's set took a new descriptor, or to be woken for deliveries
      // a later wait drained ahead of it (no cancel() since, no per-operation cancellation): a
      // wake-up like any other, so it takes or waits on the (new) descriptor.
      if (was_on_descriptor && state.rewakes != rewakes_ && state.cancels == cancels_ &&
          ec == net::error::operation_aborted && !cancelled) {
        ec = {};
      }
      if (!taken_) {
        if (!ec) ec = error_;
        if (!ec && state.closed) ec = net::error::operation_aborted;
        // Not taken yet, so still pending: a cancel() since it started, or its own cancellation,
        // aborts it (a wait posted behind others took nothing at its start, as one queued in Asio's
        // signal_set; its deliveries stay for the others).
        if (!ec && (state.cancels != cancels_ || cancelled)) ec = net::error::operation_aborted;
        if (!ec && !state.take(result)) {
          ++state.in_flight;
          wait_on_descriptor(state, keep);
          return;
        }
        if constexpr (kBroadcast) {
          if (!ec) state.broadcast(result);
        }
      }
      if (waiter_ != 0) state.delist(waiter_);
      state.nudge_if_left_behind();
    }
    // A result taken when its completion was scheduled completes normally, whatever happened since.
    if (taken_) {
      complete(error_code{}, std::move(result_));
    } else if (ec) {
      complete(ec, Result{});
    } else {
      complete(error_code{}, std::move(result));
    }
  }

  void complete(error_code ec, Result result) { std::move(handler_)(ec, std::move(result)); }

  // With the state's mutex held, by a lock that `keep` outlives: this operation (and the reference
  // to the state it holds) is moved into the reactor here, where another thread may complete it, or
  // an io_context shut down there destroy it, before the caller unlocks. So `keep` holds the state
  // until after the unlock.
  void wait_on_descriptor(set_state<Executor>& state, std::shared_ptr<set_state<Executor>>& keep) {
    keep = state_;
    rewakes_ = state.rewakes;
    cancels_ = state.cancels;
    on_descriptor_ = true;
    ++state.on_descriptor;
    if constexpr (kBroadcast) {
      if (waiter_ == 0) waiter_ = state.enlist();
    }
    if (waiter_ != 0) state.find_waiter(waiter_)->on_descriptor = true;
    net::posix::basic_stream_descriptor<Executor>& descriptor = *state.descriptor;
    descriptor.async_wait(net::posix::descriptor_base::wait_read, std::move(*this));
  }

  // The cancellation handler in the completion handler's slot.
  struct withdrawal {
    withdrawal(const std::shared_ptr<set_state<Executor>>& s, std::uint64_t i) : state(s), id(i) {}
    void operator()(net::cancellation_type_t) const noexcept {
      if (const std::shared_ptr<set_state<Executor>> s = state.lock()) s->withdraw(id);
    }
    std::weak_ptr<set_state<Executor>> state;
    std::uint64_t id;
  };

  static constexpr bool kBroadcast = std::is_same_v<Result, int>;  // signal_set (see set_state::broadcast)

  std::shared_ptr<set_state<Executor>> state_;
  Handler handler_;
  bool taken_ = false;          // result_ holds this wait's result, taken in start()
  bool on_descriptor_ = false;  // counted in the state's on_descriptor
  unsigned rewakes_ = 0;        // the state's counters when this wait last went on the descriptor (or,
  unsigned cancels_ = 0;        // for cancels_, started): a wake-up that is not a cancel then waits again
  std::uint64_t waiter_ = 0;    // its entry in the state's waiters, or 0 (see set_state::enlist())
  Result result_{};
  error_code error_;
};

// async_wait()'s initiation: the state as it was when async_wait() was called (a deferred wait
// launched later still waits on that object's state; a moved-from object has none), and the
// object's executor.
template <typename Executor, typename Result>
struct initiate_wait {
  template <typename Handler>
  void operator()(Handler&& handler) const {
    wait_handler<Executor, Result, std::decay_t<Handler>>(state, std::forward<Handler>(handler)).start(ex);
  }
  std::shared_ptr<set_state<Executor>> state;
  Executor ex;
};

template <typename ExecutionContext>
using if_context = std::enable_if_t<std::is_convertible_v<ExecutionContext&, net::execution_context&>, int>;

// What both types share: the state, moving, async_wait(), cancel().
template <typename Executor, typename Result>
class set_base {
 public:
  using executor_type = Executor;
  using signature = void(error_code, Result);

  set_base(const set_base&) = delete;
  set_base& operator=(const set_base&) = delete;

  executor_type get_executor() const noexcept { return ex_; }

  template <typename CompletionToken = net::default_completion_token_t<executor_type>>
  auto async_wait(CompletionToken&& token = net::default_completion_token_t<executor_type>()) {
    return net::async_initiate<CompletionToken, signature>(initiate_wait<Executor, Result>{state_, ex_},
                                                           token);
  }

 protected:
  set_base(const executor_type& ex, sigrelay::signals&& source)
      : ex_(ex), state_(std::make_shared<set_state<Executor>>(ex, std::move(source))) {}
  ~set_base() { reset(); }
  set_base(set_base&& other) noexcept : ex_(other.ex_), state_(std::move(other.state_)) {}
  set_base& operator=(set_base&& other) noexcept {
    if (this != &other) {
      reset();
      ex_ = other.ex_;
      state_ = std::move(other.state_);
    }
    return *this;
  }

  // Completes every pending wait with operation_aborted; no effect on a moved-from object.
  void cancel_waits() {
    if (!state_) return;
    std::lock_guard<std::mutex> lock(state_->mutex);
    ++state_->cancels;
    state_->withhold_broadcasts();
    if (!state_->closed) {
      error_code ignored;
      state_->descriptor->cancel(ignored);
    }
  }

  // The live state, or null for a moved-from object.
  set_state<Executor>* live_state() const noexcept {
    return state_ && !state_->closed ? state_.get() : nullptr;
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
  std::shared_ptr<set_state<Executor>> state_;
};

}  // namespace detail

// basic_signal_set — the drop-in for asio::basic_signal_set<Executor>.
//
// Subscribes to a set of signals (a sigrelay::signals it owns, empty at first) and hands one
// delivery to each async_wait(), as (error_code, int signal_number). Not copyable; movable.
template <typename Executor = detail::net::any_io_executor>
class basic_signal_set : public detail::set_base<Executor, int> {
  using base = detail::set_base<Executor, int>;

 public:
  using executor_type = Executor;
  using signature = void(error_code, int);

  template <typename OtherExecutor>
  struct rebind_executor {
    using other = basic_signal_set<OtherExecutor>;
  };

  // A set with no signals / with one, two or three. Throws system_error (see add()).
  explicit basic_signal_set(const executor_type& ex)
      : base(ex, sigrelay::signals(std::initializer_list<int>{})) {
    // After the descriptor (see fork_service).
    net_use_fork_service(ex).template follow<&detail::set_state<Executor>::subscribe_again_in_child>(
        this->state_);
  }
  basic_signal_set(const executor_type& ex, int signo_1) : basic_signal_set(ex) { add(signo_1); }
  basic_signal_set(const executor_type& ex, int signo_1, int signo_2) : basic_signal_set(ex) {
    add(signo_1);
    add(signo_2);
  }
  basic_signal_set(const executor_type& ex, int signo_1, int signo_2, int signo_3) : basic_signal_set(ex) {
    add(signo_1);
    add(signo_2);
    add(signo_3);
  }
  template <typename ExecutionContext, detail::if_context<ExecutionContext> = 0>
  explicit basic_signal_set(ExecutionContext& context) : basic_signal_set(context.get_executor()) {}
  template <typename ExecutionContext, detail::if_context<ExecutionContext> = 0>
  basic_signal_set(ExecutionContext& context, int signo_1)
      : basic_signal_set(context.get_executor(), signo_1) {}
  template <typename ExecutionContext, detail::if_context<ExecutionContext> = 0>
  basic_signal_set(ExecutionContext& context, int signo_1, int signo_2)
      : basic_signal_set(context.get_executor(), signo_1, signo_2) {}
  template <typename ExecutionContext, detail::if_context<ExecutionContext> = 0>
  basic_signal_set(ExecutionContext& context, int signo_1, int signo_2, int signo_3)
      : basic_signal_set(context.get_executor(), signo_1, signo_2, signo_3) {}

  // Cancels pending waits (operation_aborted) and unsubscribes.
  ~basic_signal_set() = default;
  basic_signal_set(basic_signal_set&&) noexcept = default;
  basic_signal_set& operator=(basic_signal_set&&) noexcept = default;

  // add(): subscribes to one more signal; a present one does nothing. Errors: sigrelay's (as
  // sigrelay::signals::add(): e.g. invalid_argument for a bad number, a refused signal),
  // bad_descriptor on a moved-from object.
  void add(int signo) {
    error_code ec;
    add(signo, ec);
    throw_on_error(ec, "add");
  }
  void add(int signo, error_code& ec) {
    ec = {};
    detail::set_state<Executor>* s = this->live_state();
    if (!s) {
      ec = detail::net::error::bad_descriptor;
      return;
    }
    std::lock_guard<std::mutex> lock(s->mutex);
    try {
      s->source->add(signo);
    } catch (const std::system_error& e) {
      ec = detail::to_error_code(e.code());
      return;
    }
    if (std::find(s->signos.begin(), s->signos.end(), signo) == s->signos.end()) s->signos.push_back(signo);
  }

  // remove(): unsubscribes from one signal and discards its deliveries not yet handed out; an
  // absent one does nothing. A number out of range (below 0, NSIG and above) is
  // error::invalid_argument, as with Asio. No other effect (and no error) on a moved-from object.
  void remove(int signo) {
    error_code ec;
    remove(signo, ec);
    throw_on_error(ec, "remove");
  }
  void remove(int signo, error_code& ec) {
    ec = {};
    if (signo < 0 || signo >= NSIG) {
      ec = detail::net::error::invalid_argument;
      return;
    }
    detail::set_state<Executor>* s = this->live_state();
    if (!s) return;
    std::lock_guard<std::mutex> lock(s->mutex);
    remove_locked(*s, signo, ec);
  }

  // clear(): remove() of every signal in the set.
  void clear() {
    error_code ec;
    clear(ec);
    throw_on_error(ec, "clear");
  }
  void clear(error_code& ec) {
    ec = {};
    detail::set_state<Executor>* s = this->live_state();
    if (!s) return;
    std::lock_guard<std::mutex> lock(s->mutex);
    const std::vector<int> all = s->signos;
    for (int signo : all) {
      remove_locked(*s, signo, ec);
      if (ec) return;
    }
  }

  // cancel(): completes every pending wait with operation_aborted; the set and its queued
  // deliveries stay. Never fails.
  void cancel() { this->cancel_waits(); }
  void cancel(error_code& ec) {
    ec = {};
    this->cancel_waits();
  }

 private:
  static void throw_on_error(const error_code& ec, const char* what) {
    if (ec) throw system_error(ec, what);
  }

  void remove_locked(detail::set_state<Executor>& s, int signo, error_code& ec) {
    try {
      s.drain();  // what was recorded before: to be discarded below, as Asio's remove() does
      s.source->remove(signo);
      s.drain();
    } catch (const std::system_error& e) {
      ec = detail::to_error_code(e.code());
      return;
    }
    s.queue.remove(signo);
    s.signos.erase(std::remove(s.signos.begin(), s.signos.end(), signo), s.signos.end());
  }

  static detail::fork_service& net_use_fork_service(const executor_type& ex) {
    return detail::net::use_service<detail::fork_service>(
        detail::net::query(ex, detail::net::execution::context));
  }
};

using signal_set = basic_signal_set<>;

// basic_signal_event_set — the richer form.
//
// Subscribes to a set of signals (a sigrelay::signals it owns) and hands their events to
// async_wait(): (error_code, signal_event), one event each, counts and origins included. Movable,
// not copyable; a moved-from object completes waits with error::bad_descriptor.
template <typename Executor = detail::net::any_io_executor>
class basic_signal_event_set : public detail::set_base<Executor, signal_event> {
  using base = detail::set_base<Executor, signal_event>;

 public:
  using executor_type = Executor;
  // The signature every wait completes with.
  using signature = void(error_code, signal_event);

  // Rebinds to another executor type, as Asio's I/O objects do (for use_awaitable_t::as_default_on).
  template <typename OtherExecutor>
  struct rebind_executor {
    using other = basic_signal_event_set<OtherExecutor>;
  };

  // Subscribes to `signos` (with `options`: backend, realtime capacity; follow_fork is set for the
  // relay backend, see "Fork" at the top). Errors: as signals.
  basic_signal_event_set(const executor_type& ex, std::initializer_list<int> signos,
                         const signals_options& options = {})
      : basic_signal_event_set(ex, sigrelay::signals(signos, sigrelay::detail::following_fork(options))) {}

  template <typename ExecutionContext, detail::if_context<ExecutionContext> = 0>
  basic_signal_event_set(ExecutionContext& context, std::initializer_list<int> signos,
                         const signals_options& options = {})
      : basic_signal_event_set(context.get_executor(), signos, options) {}

  // Takes over an existing `signals` (e.g. one made with backend::signalfd). Nothing else may
  // consume from it afterwards. It goes on in a fork child if it follows fork (see "Fork").
  basic_signal_event_set(const executor_type& ex, sigrelay::signals&& source) : base(ex, std::move(source)) {
    // After the descriptor (see fork_service).
    detail::net::use_service<detail::fork_service>(detail::net::query(ex, detail::net::execution::context))
        .template follow<&detail::set_state<Executor>::keep_in_child>(this->state_);
  }

  template <typename ExecutionContext, detail::if_context<ExecutionContext> = 0>
  basic_signal_event_set(ExecutionContext& context, sigrelay::signals&& source)
      : basic_signal_event_set(context.get_executor(), std::move(source)) {}

  // Cancels pending waits (operation_aborted) and unsubscribes; events not yet handed out are dropped.
  ~basic_signal_event_set() = default;
  basic_signal_event_set(basic_signal_event_set&&) noexcept = default;
  basic_signal_event_set& operator=(basic_signal_event_set&&) noexcept = default;

  // async_wait() (inherited): waits for the next event, (error_code, signal_event). Queued events
  // complete it at once (through a post, never inside the call). Errors passed to the handler:
  // operation_aborted after cancel() or destruction; bad_descriptor on a moved-from object.

  // Completes every pending wait with operation_aborted. Queued events stay for later waits.
  void cancel() { this->cancel_waits(); }

  // Subscribes to one more signal / unsubscribes from one (see signals::add/remove): events already
  // recorded for a removed signal are still handed out.
  void add(int signo) {
    std::lock_guard<std::mutex> lock(checked_state().mutex);
    this->state_->source->add(signo);
  }
  void remove(int signo) {
    std::lock_guard<std::mutex> lock(checked_state().mutex);
    this->state_->source->remove(signo);
  }

  // Realtime deliveries lost to a full ring that could not hold them in the kernel (see
  // signals::dropped).
  std::uint64_t dropped() const {
    if (!this->state_) return 0;
    std::lock_guard<std::mutex> lock(this->state_->mutex);
    return this->state_->closed ? 0 : this->state_->source->dropped();
  }

 private:
  detail::set_state<Executor>& checked_state() {
    detail::set_state<Executor>* s = this->live_state();
    if (!s) {
      throw std::system_error(std::make_error_code(std::errc::bad_file_descriptor),
                              "sigrelay::asio::signal_event_set: moved-from object");
    }
    return *s;
  }
};

using signal_event_set = basic_signal_event_set<>;

}  // namespace SIGRELAY_ASIO_FLAVOUR
}  // namespace sigrelay::asio

// A wait's steps and its completion run where its handler would: the handler's executor and
// allocator are the operation's.
#if defined(SIGRELAY_ASIO_STANDALONE)
namespace asio {
#else
namespace boost::asio {
#endif
template <typename Executor, typename Result, typename Handler, typename Candidate>
struct associated_executor<sigrelay::asio::detail::wait_handler<Executor, Result, Handler>, Candidate> {
  using type = typename associated_executor<Handler, Candidate>::type;
  static type get(const sigrelay::asio::detail::wait_handler<Executor, Result, Handler>& h,
                  const Candidate& c = Candidate()) noexcept {
    return associated_executor<Handler, Candidate>::get(h.handler(), c);
  }
};
template <typename Executor, typename Result, typename Handler, typename Candidate>
struct associated_allocator<sigrelay::asio::detail::wait_handler<Executor, Result, Handler>, Candidate> {
  using type = typename associated_allocator<Handler, Candidate>::type;
  static type get(const sigrelay::asio::detail::wait_handler<Executor, Result, Handler>& h,
                  const Candidate& c = Candidate()) noexcept {
    return associated_allocator<Handler, Candidate>::get(h.handler(), c);
  }
};
#if defined(SIGRELAY_ASIO_STANDALONE)
}  // namespace asio
#else
}  // namespace boost::asio
#endif

#undef SIGRELAY_ASIO_FLAVOUR
