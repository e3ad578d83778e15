// SPDX-License-Identifier: MIT
// adapters/uv/src/uv.cc — see sigrelay/uv.hpp.
//
// Design notes
// - A uv_poll_t watches signals::native_handle() for readability; its callback drains pending() once
//   and hands the batch out. One batch per loop iteration keeps a signal storm from starving the
//   loop: the rest of the loop (timers, I/O) runs between batches.
// - Events drained but not handed out (the callback stop()ped) wait in `backlog`. The fd is no longer
//   readable then, so a uv_idle_t, active only while the watcher is started and the backlog is not
//   empty, hands them out instead of the poll.
// - The state outlives the C++ object whenever needed: it is freed by the second uv_close callback,
//   so the callback may destroy the watcher (the state then only notes it is closing).
// - Fork: a watcher made from signal numbers asks for signals_options::follow_fork (relay backend),
//   so in a fork child its source is the child's own, under the same descriptor number: after
//   uv_loop_fork() the poll watches the child's descriptor and the watcher goes on, as a uv_signal_t
//   does. The backlog holds the parent's events (the parent hands them out), so the first dispatch
//   or start() in another process drops it. A source that is dead in the child (not following, or
//   refused: signals.hpp, "Following fork") shares its descriptor with the parent, which stays
//   readable until the parent drains it: a level-triggered poll on it would spin the child's loop.
//   So the watcher then also stops both handles, for good.
// - A source closed through a signals::handle (from any thread) leaves its descriptor readable for
//   good: the first drain that finds it closed and empty stops the watcher, as close() ends a wait().
#include "sigrelay/uv.hpp"

#include <unistd.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "sigrelay/detail/event_backlog.hpp"
#include "sigrelay/detail/following_fork.hpp"

namespace sigrelay::uv {

using detail::event_backlog;

struct signal_watcher::state {
  uv_poll_t poll{};
  uv_idle_t idle{};
  std::optional<sigrelay::signals> source;
  std::shared_ptr<const callback> cb;
  event_backlog backlog;
  std::function<void()> on_closed;
  bool active = false;
  bool oneshot = false;  // start_oneshot(): stop before the next callback
  bool closing = false;
  bool orphaned = false;  // a fork child's dead copy: never polls or hands out again
  pid_t owner = ::getpid();
  int open_handles = 0;  // handles not yet through their close callback

  static state* make(uv_loop_t* loop, sigrelay::signals&& source);
  static bool orphan_if_forked(state* st) noexcept;
  static void dispatch(state* st) noexcept;
  static void update_idle(state* st) noexcept;
  static void on_poll(uv_poll_t* handle, int status, int events);
  static void on_idle(uv_idle_t* handle);
  static void on_close(uv_handle_t* handle);
};

namespace {

[[noreturn]] void throw_uv(int rc, const char* what) {
  throw std::system_error(-rc, std::generic_category(), what);
}

// add()/remove() once closed: the signal named, as signals::add() names it.
[[noreturn]] void throw_closed(int signo) {
  const std::string_view name = signal_name(signo);
  throw std::system_error(std::make_error_code(std::errc::bad_file_descriptor),
                          "sigrelay::uv::signal_watcher is closed: cannot change " +
                              (name.empty() ? "signal " + std::to_string(signo) : std::string(name)));
}

}  // namespace

// In a fork child (one getpid()): drops the parent's events; the watcher goes on if its source is
// the child's own (follow_fork), else stops both handles, for good. Whether it stopped.
bool signal_watcher::state::orphan_if_forked(state* st) noexcept {
  if (st->orphaned) return true;
  const pid_t self = ::getpid();
  if (self == st->owner) return false;
  st->backlog.clear();
  if (st->source && !st->source->is_inherited()) {
    st->owner = self;
    return false;
  }
  st->orphaned = true;
  uv_poll_stop(&st->poll);
  uv_idle_stop(&st->idle);
  return true;
}

// Hands out the backlog, refilled once from pending() if empty, while the watcher is active.
void signal_watcher::state::dispatch(state* st) noexcept {
  // Asked (getpid()) only where a fork child can be: events left from before this wake-up (maybe the
  // parent's), or a wake-up that brought nothing (the descriptor shared with the parent); a wake-up
  // with new events is the owner's (a dead copy's pending() returns nothing), so the usual path pays
  // no system call.
  if (st->orphaned) return;
  if (!st->backlog.empty() && orphan_if_forked(st)) return;
  if (st->backlog.empty() && st->source) {  // (empty too if a fork child's check dropped it)
    st->backlog.refill(*st->source);
    if (st->backlog.empty() && orphan_if_forked(st)) return;
    if (st->backlog.empty() && st->source->is_closed()) {
      // Closed through a handle: nothing more will come, and the descriptor stays readable for good.
      st->active = false;
      uv_poll_stop(&st->poll);
      update_idle(st);
      return;
    }
  }
  // Only this batch: a storm that makes the fd readable again waits for the next loop iteration.
  std::size_t budget = st->backlog.size();
  const unsigned forks = sigrelay::fork_generation();
  while (budget-- > 0 && st->active && !st->closing && !st->backlog.empty()) {
    const signal_event e = st->backlog.front();
    st->backlog.pop_front();
    // Read for each event: a callback that start()s another one hands it the rest of the batch at
    // once, as uv_signal_start() on a started handle does. The copy keeps the running one alive.
    const std::shared_ptr<const callback> cb = st->cb;
    if (st->oneshot) {  // stopped before the callback, which may start() again
      st->oneshot = false;
      st->active = false;
      uv_poll_stop(&st->poll);
    }
    (*cb)(e);  // noexcept context: an exception thrown here ends in std::terminate
    // The callback forked (fork(), or _Fork() with or without after_fork_in_child()), and this may
    // be the child: the rest of the batch is the parent's. (close() in the callback resets the source.)
    if (sigrelay::fork_generation() != forks || (st->source && st->source->is_inherited())) {
      if (orphan_if_forked(st)) return;
      break;
    }
  }
  // Events left over (the callback stopped the watcher) are this process's: a fork child's check ran
  // above, or this process drained them. Noted, so that a later check here keeps them: the owner
  // is stale in a fork child whose source follows it until a check runs. One getpid(), on this
  // path only.
  if (!st->backlog.empty()) st->owner = ::getpid();
  update_idle(st);
}

// The idle handle is active only while the watcher is started and has a backlog to hand out.
void signal_watcher::state::update_idle(state* st) noexcept {
  if (st->closing || st->orphaned) return;
  if (st->active && !st->backlog.empty()) {
    if (uv_is_active(reinterpret_cast<uv_handle_t*>(&st->idle)) == 0) uv_idle_start(&st->idle, on_idle);
  } else {
    uv_idle_stop(&st->idle);
  }
}

void signal_watcher::state::on_poll(uv_poll_t* handle, int status, int /*events*/) {
  auto* st = static_cast<state*>(handle->data);
  if (status < 0 || st->closing || !st->active) return;
  dispatch(st);
}

void signal_watcher::state::on_idle(uv_idle_t* handle) {
  auto* st = static_cast<state*>(handle->data);
  if (st->closing || !st->active) {
    uv_idle_stop(handle);
    return;
  }
  dispatch(st);
}

void signal_watcher::state::on_close(uv_handle_t* handle) {
  auto* st = static_cast<state*>(handle->data);
  if (--st->open_handles > 0) return;
  std::function<void()> done = std::move(st->on_closed);
  delete st;
  if (done) done();
}

signal_watcher::state* signal_watcher::state::make(uv_loop_t* loop, sigrelay::signals&& source) {
  auto st = std::make_unique<state>();
  st->source.emplace(std::move(source));
  int rc = uv_poll_init(loop, &st->poll, st->source->native_handle());
  if (rc != 0) throw_uv(rc, "sigrelay::uv::signal_watcher: uv_poll_init");
  st->poll.data = st.get();
  ++st->open_handles;
  rc = uv_idle_init(loop, &st->idle);
  if (rc != 0) {
    // The poll handle is initialised: its memory must wait for its close callback.
    st->closing = true;
    st->source.reset();
    uv_close(reinterpret_cast<uv_handle_t*>(&st->poll), on_close);
    st.release();
    throw_uv(rc, "sigrelay::uv::signal_watcher: uv_idle_init");
  }
  st->idle.data = st.get();
  ++st->open_handles;
  return st.release();
}

signal_watcher::signal_watcher(uv_loop_t* loop, std::initializer_list<int> signos,
                               const signals_options& options)
    : signal_watcher(loop, sigrelay::signals(signos, detail::following_fork(options))) {}

signal_watcher::signal_watcher(uv_loop_t* loop, sigrelay::signals&& source)
    : loop_(loop), state_(state::make(loop, std::move(source))) {}

signal_watcher::~signal_watcher() { close(); }

int signal_watcher::start(callback cb) {
  if (state_ == nullptr || !cb) return UV_EINVAL;
  state_->cb = std::make_shared<const callback>(std::move(cb));
  state_->oneshot = false;
  if (state::orphan_if_forked(state_)) {
    state_->active = true;  // started, as far as the caller is concerned; nothing will come
    return 0;
  }
  if (!state_->active) {
    const int rc = uv_poll_start(&state_->poll, UV_READABLE, state::on_poll);
    if (rc != 0) return rc;
    state_->active = true;
  }
  state::update_idle(state_);
  return 0;
}

int signal_watcher::start_oneshot(callback cb) {
  const int rc = start(std::move(cb));
  if (rc == 0 && state_ != nullptr) state_->oneshot = true;
  return rc;
}

int signal_watcher::stop() noexcept {
  if (state_ != nullptr) state_->oneshot = false;
  if (state_ == nullptr || !state_->active) return 0;
  state_->active = false;
  uv_poll_stop(&state_->poll);
  state::update_idle(state_);
  return 0;
}

void signal_watcher::close(std::function<void()> on_closed) {
  if (state_ == nullptr) return;
  state* st = state_;
  state_ = nullptr;
  st->active = false;
  st->closing = true;
  st->on_closed = std::move(on_closed);
  // uv_close stops the poll (taking the fd out of the loop's epoll set) before the fd is closed.
  uv_close(reinterpret_cast<uv_handle_t*>(&st->poll), state::on_close);
  uv_close(reinterpret_cast<uv_handle_t*>(&st->idle), state::on_close);
  st->source.reset();
  st->backlog.clear();
}

bool signal_watcher::is_active() const noexcept { return state_ != nullptr && state_->active; }

bool signal_watcher::is_closing() const noexcept { return state_ == nullptr; }

// Both handles: the idle one is active while a backlog waits, and counts for uv_run() like the poll.
void signal_watcher::unref() noexcept {
  if (state_ == nullptr) return;
  uv_unref(reinterpret_cast<uv_handle_t*>(&state_->poll));
  uv_unref(reinterpret_cast<uv_handle_t*>(&state_->idle));
}

void signal_watcher::ref() noexcept {
  if (state_ == nullptr) return;
  uv_ref(reinterpret_cast<uv_handle_t*>(&state_->poll));
  uv_ref(reinterpret_cast<uv_handle_t*>(&state_->idle));
}

bool signal_watcher::has_ref() const noexcept {
  return state_ != nullptr && uv_has_ref(reinterpret_cast<const uv_handle_t*>(&state_->poll)) != 0;
}

void signal_watcher::add(int signo) {
  if (state_ == nullptr) throw_closed(signo);
  state_->source->add(signo);
}

void signal_watcher::remove(int signo) {
  if (state_ == nullptr) throw_closed(signo);
  state_->source->remove(signo);
}

std::uint64_t signal_watcher::dropped() const noexcept {
  return state_ == nullptr ? 0 : state_->source->dropped();
}

}  // namespace sigrelay::uv
