// SPDX-License-Identifier: MIT
// adapters/event/src/event.cc — see sigrelay/event.hpp.
//
// Design notes
// - One persistent EV_READ event on signals::native_handle(); its callback drains pending() once and
//   hands the batch out, so the loop's other events run between batches during a signal storm.
// - Events drained but not handed out (the callback stopped the watcher) wait in `backlog`; the fd
//   is no longer readable then, so start() activates the event by hand (event_active) to hand them out.
// - The callback may destroy the watcher: the destructor then only marks the state dead, and the
//   dispatch loop, which owns it for the duration, frees it on its way out.
// - Fork: a watcher made from signal numbers asks for signals_options::follow_fork (relay backend),
//   so in a fork child its source is the child's own, under the same descriptor number: after
//   event_reinit() the event watches the child's descriptor and the watcher goes on, as a libevent
//   signal event does. The backlog holds the parent's events (the parent hands them out), so the
//   first activation or start() in another process drops it. A source that is dead in the child (not
//   following, or refused: signals.hpp, "Following fork") shares its descriptor with the parent,
//   which stays readable until the parent drains it: a level-triggered read event on it would spin
//   the child's base. So the watcher then also deletes the event, for good.
// - A source closed through a signals::handle (from any thread) leaves its descriptor readable for
//   good: the first drain that finds it closed and empty stops the watcher, as close() ends a wait().
#include "sigrelay/event.hpp"

#include <unistd.h>

#include <exception>
#include <memory>
#include <optional>
#include <system_error>
#include <utility>

#include "sigrelay/detail/event_backlog.hpp"
#include "sigrelay/detail/following_fork.hpp"

namespace sigrelay::event {

using detail::event_backlog;

struct signal_watcher::state {
  ::event* ev = nullptr;
  std::optional<sigrelay::signals> source;
  std::shared_ptr<const callback> cb;
  event_backlog backlog;
  bool active = false;
  bool dispatching = false;
  bool dead = false;  // the watcher was destroyed during dispatch
  pid_t owner = ::getpid();

  static bool left_in_fork_child(state* st) noexcept;
  static void on_ready(evutil_socket_t fd, short what, void* arg);
};

// In a fork child (one getpid()): drops the parent's events; the watcher goes on if its source is
// the child's own (follow_fork), else deletes the event, for good. Whether it did.
bool signal_watcher::state::left_in_fork_child(state* st) noexcept {
  const pid_t self = ::getpid();
  if (self == st->owner) return false;
  st->backlog.clear();
  if (st->source && !st->source->is_inherited()) {
    st->owner = self;
    return false;
  }
  event_del(st->ev);  // (nothing to do if it is not added)
  return true;
}

void signal_watcher::state::on_ready(evutil_socket_t /*fd*/, short /*what*/, void* arg) {
  auto* st = static_cast<state*>(arg);
  if (!st->active) return;
  // A fork child's copy never hands out again. Asked (getpid()) only where a child can be: events
  // left from before this wake-up (maybe the parent's), or a wake-up that brought nothing (the
  // descriptor shared with the parent); a wake-up with new events is the owner's (a dead copy's
  // pending() returns nothing), so the usual path pays no system call.
  if (!st->backlog.empty() && left_in_fork_child(st)) return;
  if (st->backlog.empty()) {  // (empty too if a fork child's check dropped it)
    st->backlog.refill(*st->source);
    if (st->backlog.empty() && left_in_fork_child(st)) return;
    if (st->backlog.empty() && st->source->is_closed()) {
      // Closed through a handle: nothing more will come, and the descriptor stays readable for good.
      st->active = false;
      event_del(st->ev);
      return;
    }
  }
  st->dispatching = true;
  // Only this batch: a storm that makes the fd readable again waits for the next loop iteration.
  std::size_t budget = st->backlog.size();
  const unsigned forks = sigrelay::fork_generation();
  while (budget-- > 0 && st->active && !st->backlog.empty()) {
    const signal_event e = st->backlog.front();
    st->backlog.pop_front();
    // Read for each event: a callback that start()s another one hands it the rest of the batch at
    // once. The copy keeps the running one alive.
    const std::shared_ptr<const callback> cb = st->cb;
    try {
      (*cb)(e);
    } catch (...) {
      std::terminate();  // would unwind through libevent's C frames
    }
    if (st->dead) {
      delete st;
      return;
    }
    // The callback forked (fork(), or _Fork() with or without after_fork_in_child()), and this may
    // be the child: the rest of the batch is the parent's.
    if (sigrelay::fork_generation() != forks || st->source->is_inherited()) {
      if (left_in_fork_child(st)) {
        st->dispatching = false;
        return;
      }
      break;
    }
  }
  st->dispatching = false;
  // Events left over are this process's: a fork child's check ran above, or this process drained
  // them. Noted, so that a later check here keeps them: the owner is stale in a fork child whose
  // source follows it until a check runs. One getpid(), on this path only.
  if (!st->backlog.empty()) st->owner = ::getpid();
  // Left over by a budget cut with the watcher still active: come back next iteration.
  if (st->active && !st->backlog.empty()) event_active(st->ev, EV_READ, 0);
}

namespace {

[[noreturn]] void throw_errc(std::errc e, const char* what) {
  throw std::system_error(std::make_error_code(e), what);
}

}  // namespace

signal_watcher::signal_watcher(event_base* base, std::initializer_list<int> signos,
                               const signals_options& options)
    : signal_watcher(base, sigrelay::signals(signos, detail::following_fork(options))) {}

signal_watcher::signal_watcher(event_base* base, sigrelay::signals&& source) : base_(base), state_(nullptr) {
  auto st = std::make_unique<state>();
  st->source.emplace(std::move(source));
  const int fd = st->source->native_handle();
  // libevent would take a read event on -1 (a moved-from source): started, it would never fire and
  // would keep the base running. Refused as uv_poll_init() refuses it.
  if (fd < 0)
    throw_errc(std::errc::bad_file_descriptor,
               "sigrelay::event::signal_watcher: the source has no descriptor");
  st->ev = event_new(base, fd, EV_READ | EV_PERSIST, state::on_ready, st.get());
  if (st->ev == nullptr)
    throw_errc(std::errc::not_enough_memory, "sigrelay::event::signal_watcher: event_new");
  state_ = st.release();
}

signal_watcher::~signal_watcher() {
  state* st = state_;
  event_free(st->ev);  // deletes it first; allowed from its own callback
  st->ev = nullptr;
  st->active = false;
  st->source.reset();
  if (st->dispatching) {
    st->dead = true;  // on_ready frees it on its way out
  } else {
    delete st;
  }
}

int signal_watcher::start(callback cb) {
  if (!cb) return -1;
  state_->cb = std::make_shared<const callback>(std::move(cb));
  if (state::left_in_fork_child(state_)) {
    state_->active = true;  // started, as far as the caller is concerned; nothing will come
    return 0;
  }
  if (!state_->active) {
    if (event_add(state_->ev, nullptr) != 0) return -1;
    state_->active = true;
    if (!state_->backlog.empty()) event_active(state_->ev, EV_READ, 0);
  }
  return 0;
}

int signal_watcher::stop() noexcept {
  if (!state_->active) return 0;
  state_->active = false;
  return event_del(state_->ev);
}

bool signal_watcher::is_active() const noexcept { return state_->active; }

void signal_watcher::add(int signo) { state_->source->add(signo); }

void signal_watcher::remove(int signo) { state_->source->remove(signo); }

std::uint64_t signal_watcher::dropped() const noexcept { return state_->source->dropped(); }

}  // namespace sigrelay::event
