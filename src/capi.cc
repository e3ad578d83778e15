// SPDX-License-Identifier: MIT
// src/capi.cc — the C API (<sigrelay.h>) over the C++ library.
//
// Design notes
// - Every entry point is a thin wrapper: it calls the throwing C++ function inside `guarded()`,
//   which turns an exception into the error's errno value (std::errc values are errno values; any
//   other category maps through default_error_condition(), else EINVAL) and keeps its what() text
//   for sigrelay_last_error(), per thread. No exception ever crosses into C.
// - A C action has a C function type, which the registry's `action` (a C++ noexcept function
//   taking a reference) is not: each one is boxed (fn, context) and the registry runs
//   detail::call_c_action (src/handler/capi_action.cc, the only signal-context code here) with the
//   box. Relay actions need no box, but some own something (an fd_relay for WRITE_FD). Either is
//   kept in `g_actions` under the key handed to C, and freed only after remove_action() returned,
//   i.e. after its grace period: no handler can still be using it. Its mutex is held across fork()
//   (a pthread_atfork() handler), as the registry's is.
// - The C action id is (signo, key) with our own key, so the registry's action_id stays opaque.
// - A consumer keeps what did not fit into the caller's array in a backlog, handed out first by the
//   next call: nothing is lost, the order is kept (the backlog is the drained batch itself, with an
//   index: handing out allocates nothing, so a std::bad_alloc never strands events taken out of
//   the C++ object). The backlog belongs to the consumer thread, like
//   pending() itself; add/remove/close go through the C++ handle, which any thread may use. While
//   it holds events, the handle is kept readable (detail::c_consumer_access); a fork child's copy
//   drops the backlog it inherited (the parent hands those events out).
#include "sigrelay.h"

#include <pthread.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "detail.hpp"
#include "handler/capi_action.hpp"
#include "sigrelay/registry.hpp"
#include "sigrelay/relays.hpp"
#include "sigrelay/signals.hpp"

struct sigrelay_flag {
  std::atomic<bool> value{false};
};
struct sigrelay_counter {
  std::atomic<std::uint64_t> value{0};
};
struct sigrelay_signals {
  explicit sigrelay_signals(sigrelay::signals&& s) : sigs(std::move(s)), handle(sigs.get_handle()) {}
  sigrelay::signals sigs;
  sigrelay::signals::handle handle;
  // Drained, not yet handed out: backlog[backlog_next...] (consumer thread only).
  std::vector<sigrelay::signal_event> backlog;
  std::size_t backlog_next = 0;
  pid_t backlog_owner = 0;  // the process that drained it (a fork child drops it)
};

namespace {

static_assert(std::atomic<bool>::is_always_lock_free && std::atomic<std::uint64_t>::is_always_lock_free,
              "flags and counters are read and written in signal context");

// The message of the last failure in this thread: a fixed buffer, so that keeping a message never
// allocates, and the first failure in a thread registers no thread_local destructor (glibc allocates
// for that, and aborts the process if it cannot).
thread_local char t_last_error[1024];

void keep_message(const char* message) noexcept {
  (void)std::snprintf(t_last_error, sizeof t_last_error, "%s", message);
}

int errno_of(const std::error_code& ec) noexcept {
  if (!ec) return 0;
  if (ec.category() == std::generic_category() || ec.category() == std::system_category()) return ec.value();
  const std::error_condition cond = ec.default_error_condition();
  if (cond.category() == std::generic_category()) return cond.value();
  return EINVAL;
}

// Runs `f`; returns 0 with errno as it was (sigrelay.h: "errno is left as it was on success"; a
// signalfd read or a futex wait inside may have set it), or the errno value of what it threw (its
// message kept for sigrelay_last_error).
template <typename F>
int guarded(F&& f) noexcept {
  const int saved_errno = errno;
  try {
    f();
    errno = saved_errno;
    return 0;
  } catch (const std::system_error& e) {
    keep_message(e.what());
    const int code = errno_of(e.code());
    return code != 0 ? code : EINVAL;
  } catch (const std::bad_alloc&) {
    keep_message("sigrelay: out of memory");
    return ENOMEM;
  } catch (const std::exception& e) {
    keep_message(e.what());
    return EINVAL;
  }
}

int invalid(const char* message) noexcept {
  keep_message(message);
  return EINVAL;
}

// EINVAL for an action of `signo` refused for `reason`, the message naming the signal. Allocates
// nothing (it is what a refused call does when memory has run out, too).
int invalid_for(int signo, const char* reason) noexcept {
  const std::string_view name = sigrelay::signal_name(signo);  // static, NUL-terminated
  if (!name.empty()) {
    (void)std::snprintf(t_last_error, sizeof t_last_error, "sigrelay: cannot add an action for %s: %s",
                        name.data(), reason);
  } else {
    (void)std::snprintf(t_last_error, sizeof t_last_error, "sigrelay: cannot add an action for signal %d: %s",
                        signo, reason);
  }
  return EINVAL;
}

sigrelay::action_options to_options(const sigrelay_action_options* o) noexcept {
  sigrelay::action_options options;
  if (o != nullptr) {
    options.restart = o->restart != 0;
    options.allow_fault_signals = o->allow_fault_signals != 0;
  }
  return options;
}

// What a registered action owns, freed once the registry has removed it.
struct registered {
  sigrelay::action_id id;
  std::unique_ptr<sigrelay::detail::c_action> box;
  std::unique_ptr<sigrelay::relay::fd_relay> fd;
};

// fork(): held across the fork, as the registry's mutex is (registry.hpp, after_fork_in_child()), so
// that the child never inherits it locked by a thread it does not have. Never held while waiting for
// the registry, nor taken by the registry: no order between the two to keep.
std::mutex g_actions_mutex;
void lock_actions_for_fork() noexcept { g_actions_mutex.lock(); }
void unlock_actions_after_fork() noexcept { g_actions_mutex.unlock(); }

std::map<std::uint64_t, registered>& g_actions() {
  static auto* actions = [] {
    ::pthread_atfork(lock_actions_for_fork, unlock_actions_after_fork, unlock_actions_after_fork);
    return new std::map<std::uint64_t, registered>;  // never destroyed: usable at exit
  }();
  return *actions;
}
std::uint64_t g_next_key = 1;  // guarded by g_actions_mutex

// Adds `a` and keeps what it owns under a new key.
int add(int signo, sigrelay::action a, const sigrelay_action_options* options, registered r,
        sigrelay_action_id* out) noexcept {
  if (out == nullptr) return invalid_for(signo, "the action id pointer is NULL");
  return guarded([&] {
    // Room in the map first, so that nothing can fail once the action is live. (The map, and so the
    // fork handler, exists before its mutex is first taken.)
    auto& actions = g_actions();
    std::unique_lock<std::mutex> lock(g_actions_mutex);
    const std::uint64_t key = g_next_key++;
    auto slot = actions.emplace(key, std::move(r)).first;
    lock.unlock();
    try {
      slot->second.id = sigrelay::add_action(signo, a, to_options(options));
    } catch (...) {
      lock.lock();
      actions.erase(key);
      throw;
    }
    *out = sigrelay_action_id{signo, key};
  });
}

void copy_out(const sigrelay::signal_event& e, sigrelay_event* out) noexcept {
  out->signo = e.signo;
  out->count = e.count;
  sigrelay_origin& o = out->last;
  o.pid = e.last.pid;
  o.uid = e.last.uid;
  o.code = e.last.code;
  o.kind = static_cast<int>(e.last.kind);
  o.trusted = e.last.trusted ? 1 : 0;
  o.value = e.last.value;
  o.child_status = e.last.child_status;
}

// Events in the backlog not yet handed out.
std::size_t backlog_size(const sigrelay_signals* s) noexcept { return s->backlog.size() - s->backlog_next; }

// A fork child's copy of a consumer inherits the parent's backlog: the parent hands it out, the
// child's copy (dead, or made the child's own by follow_fork) must not (signals.hpp, Fork).
void drop_inherited_backlog(sigrelay_signals* s) noexcept {
  if (backlog_size(s) != 0 && s->backlog_owner != ::getpid()) {
    s->backlog.clear();
    s->backlog_next = 0;
  }
}

// Hands out the backlog, then `fresh`, up to `capacity`; keeps the rest in the backlog. Allocates
// nothing, so that events taken out of the C++ object are never lost to a std::bad_alloc: callers
// take `fresh` only while the backlog holds fewer than `capacity` events, so the backlog is used up
// whenever some of `fresh` is left, and `fresh` itself becomes the backlog.
void hand_out(sigrelay_signals* s, std::vector<sigrelay::signal_event>&& fresh, sigrelay_event* events,
              std::size_t capacity, std::size_t* count) noexcept {
  std::size_t n = 0;
  while (n < capacity && s->backlog_next < s->backlog.size())
    copy_out(s->backlog[s->backlog_next++], &events[n++]);
  std::size_t used = 0;
  while (n < capacity && used < fresh.size()) copy_out(fresh[used++], &events[n++]);
  if (used < fresh.size()) {
    s->backlog = std::move(fresh);
    s->backlog_next = used;
  } else if (s->backlog_next == s->backlog.size()) {
    s->backlog.clear();
    s->backlog_next = 0;
  }
  *count = n;
  if (backlog_size(s) == 0) return;
  s->backlog_owner = ::getpid();
  // What stays in the backlog has left the C++ object: keep the handle readable for it.
  sigrelay::detail::c_consumer_access::keep_readable(s->sigs);
}

int check_consumer_args(sigrelay_signals* s, sigrelay_event* events, std::size_t capacity,
                        std::size_t* count) noexcept {
  if (count != nullptr) *count = 0;
  if (s == nullptr || count == nullptr) return invalid("sigrelay: NULL consumer or count");
  if (capacity == 0) return invalid("sigrelay: an event array of capacity 0");
  if (events == nullptr) return invalid("sigrelay: NULL event array");
  return 0;
}

}  // namespace

extern "C" {

const char* sigrelay_strerror(int code) {
  if (code == 0) return "success";
  thread_local char text[128];
  return strerror_r(code, text, sizeof text);  // the GNU strerror_r: a static string, or `text`
}

const char* sigrelay_last_error(void) { return t_last_error; }

const char* sigrelay_signal_name(int signo) { return sigrelay::signal_name(signo).data(); }

int sigrelay_signal_number(const char* name, int* signo) {
  if (name == nullptr || signo == nullptr) return invalid("sigrelay: NULL signal name or result");
  int n = 0;
  const int rc = guarded([&] { n = sigrelay::signal_number(name); });
  if (rc == 0) *signo = n;
  return rc;
}

void sigrelay_origin_of(const siginfo_t* info, sigrelay_origin* out) {
  sigrelay::signal_event e;
  e.last = sigrelay::origin_of(*info);
  sigrelay_event tmp;
  copy_out(e, &tmp);
  *out = tmp.last;
}

const char* sigrelay_origin_kind_name(int kind) {
  if (kind < SIGRELAY_ORIGIN_USER || kind > SIGRELAY_ORIGIN_OTHER) return "";
  return sigrelay::to_string(static_cast<sigrelay::origin_kind>(kind)).data();
}

int sigrelay_add_action(int signo, sigrelay_action_fn fn, void* context,
                        const sigrelay_action_options* options, sigrelay_action_id* id) {
  if (fn == nullptr) {
    return guarded([&] { (void)sigrelay::add_action(signo, sigrelay::action{nullptr, nullptr}); });
  }
  registered r;
  r.box.reset(new (std::nothrow) sigrelay::detail::c_action{fn, context});
  if (r.box == nullptr) {
    (void)invalid_for(signo, "out of memory");
    return ENOMEM;
  }
  const sigrelay::action a{&sigrelay::detail::call_c_action, r.box.get()};
  return add(signo, a, options, std::move(r), id);
}

int sigrelay_remove_action(sigrelay_action_id id) {
  std::map<std::uint64_t, registered>* map = nullptr;
  try {
    map = &g_actions();
  } catch (const std::bad_alloc&) {
    return 0;  // no map yet: no action was ever added
  }
  auto& actions = *map;
  sigrelay::action_id registry_id;
  {
    std::lock_guard<std::mutex> lock(g_actions_mutex);
    auto it = actions.find(id.key);
    if (it == actions.end() || it->second.id.signal() != id.signo || !it->second.id) return 0;
    registry_id = it->second.id;
  }
  // The registry removes it first, and only then is the entry taken out: a second removal of the
  // same id meanwhile still finds the entry, and its remove_action() waits (on the registry's mutex)
  // until the first one's grace period is over, then says false: as in C++, neither returns while a
  // run of the action is in progress. After the grace period nothing runs the box or the fd relay.
  // The wait sleeps, and a signal that cuts the sleep short leaves EINTR in errno: restored.
  const int saved_errno = errno;
  const bool removed = sigrelay::remove_action(registry_id);
  errno = saved_errno;
  if (!removed) return 0;
  registered r;  // freed after the lock is released
  {
    std::lock_guard<std::mutex> lock(g_actions_mutex);
    auto it = actions.find(id.key);
    if (it != actions.end()) {
      r = std::move(it->second);
      actions.erase(it);
    }
  }
  return 1;
}

int sigrelay_flag_create(sigrelay_flag** out) {
  if (out == nullptr) return invalid("sigrelay: NULL result pointer");
  *out = new (std::nothrow) sigrelay_flag;
  return *out != nullptr ? 0 : ENOMEM;
}
void sigrelay_flag_destroy(sigrelay_flag* flag) { delete flag; }
int sigrelay_flag_test(const sigrelay_flag* flag) { return flag->value.load() ? 1 : 0; }
int sigrelay_flag_clear(sigrelay_flag* flag) { return flag->value.exchange(false) ? 1 : 0; }

int sigrelay_counter_create(sigrelay_counter** out) {
  if (out == nullptr) return invalid("sigrelay: NULL result pointer");
  *out = new (std::nothrow) sigrelay_counter;
  return *out != nullptr ? 0 : ENOMEM;
}
void sigrelay_counter_destroy(sigrelay_counter* counter) { delete counter; }
uint64_t sigrelay_counter_get(const sigrelay_counter* counter) { return counter->value.load(); }
uint64_t sigrelay_counter_take(sigrelay_counter* counter) { return counter->value.exchange(0); }

int sigrelay_add_relay(int signo, sigrelay_relay_kind kind, sigrelay_flag* flag, sigrelay_counter* counter,
                       int fd, const sigrelay_action_options* options, sigrelay_action_id* id) {
  namespace relay = sigrelay::relay;
  registered r;
  sigrelay::action a{};
  switch (kind) {
    case SIGRELAY_RELAY_SET_FLAG:
    case SIGRELAY_RELAY_DIE_IF_SET:
    case SIGRELAY_RELAY_DEFAULT_IF_SET:
      if (flag == nullptr) return invalid_for(signo, "this relay needs a flag (flag is NULL)");
      a = kind == SIGRELAY_RELAY_SET_FLAG     ? relay::set_flag(flag->value)
          : kind == SIGRELAY_RELAY_DIE_IF_SET ? relay::die_if_set(flag->value)
                                              : relay::default_if_set(flag->value);
      break;
    case SIGRELAY_RELAY_ADD_COUNT:
      if (counter == nullptr) return invalid_for(signo, "this relay needs a counter (counter is NULL)");
      a = relay::add_count(counter->value);
      break;
    case SIGRELAY_RELAY_DEFAULT_ACTION: a = relay::default_action(); break;
    case SIGRELAY_RELAY_WRITE_FD: {
      try {
        r.fd.reset(new relay::fd_relay(fd));
      } catch (const std::bad_alloc&) {
        (void)invalid_for(signo, "out of memory");
        return ENOMEM;
      } catch (const std::system_error& e) {  // "sigrelay: fd N is ...": the same, naming the signal
        const char* what = e.what();
        static constexpr char prefix[] = "sigrelay: ";
        if (std::strncmp(what, prefix, sizeof prefix - 1) == 0) what += sizeof prefix - 1;
        return invalid_for(signo, what);
      }
      a = r.fd->get();
      break;
    }
    default: {
      char reason[64];
      (void)std::snprintf(reason, sizeof reason, "unknown relay kind %d", static_cast<int>(kind));
      return invalid_for(signo, reason);
    }
  }
  return add(signo, a, options, std::move(r), id);
}

void sigrelay_emulate_default(int signo) { sigrelay::relay::emulate_default(signo); }
void sigrelay_die_by_signal(int signo) { sigrelay::relay::die_by_signal(signo); }

int sigrelay_ignore(int signo, int* changed) {
  bool done = false;
  const int rc = guarded([&] { done = sigrelay::ignore(signo); });
  if (rc == 0 && changed != nullptr) *changed = done ? 1 : 0;
  return rc;
}
int sigrelay_reset(int signo, int* changed) {
  bool done = false;
  const int rc = guarded([&] { done = sigrelay::reset(signo); });
  if (rc == 0 && changed != nullptr) *changed = done ? 1 : 0;
  return rc;
}
int sigrelay_ignored(int signo, int* ignored) {
  if (ignored == nullptr) return invalid("sigrelay: NULL result pointer");
  bool is = false;
  const int rc = guarded([&] { is = sigrelay::ignored(signo); });
  if (rc == 0) *ignored = is ? 1 : 0;
  return rc;
}

void sigrelay_after_fork_in_child(void) { sigrelay::after_fork_in_child(); }

int sigrelay_signals_create(const int* signos, size_t count, const sigrelay_signals_options* options,
                            sigrelay_signals** out) {
  if (out == nullptr) return invalid("sigrelay: NULL result pointer");
  if (signos == nullptr && count != 0) return invalid("sigrelay: NULL signal array with a non-zero count");
  sigrelay::signals_options o;
  if (options != nullptr) {
    if (options->backend != SIGRELAY_BACKEND_RELAY && options->backend != SIGRELAY_BACKEND_SIGNALFD) {
      return invalid("sigrelay: unknown backend");
    }
    o.backend = options->backend == SIGRELAY_BACKEND_SIGNALFD ? sigrelay::backend::signalfd
                                                              : sigrelay::backend::relay;
    if (options->realtime_capacity != 0) o.realtime_capacity = options->realtime_capacity;
    o.follow_fork = options->follow_fork != 0;
  }
  return guarded([&] {
    std::vector<int> list(signos, signos + count);
    *out = new sigrelay_signals(sigrelay::signals(list, o));
  });
}

void sigrelay_signals_destroy(sigrelay_signals* s) {
  const int saved_errno = errno;  // (its remove()s read the signalfd)
  delete s;
  errno = saved_errno;
}

int sigrelay_signals_add(sigrelay_signals* s, int signo) {
  if (s == nullptr) return invalid("sigrelay: NULL consumer");
  return guarded([&] { s->handle.add(signo); });
}

int sigrelay_signals_remove(sigrelay_signals* s, int signo) {
  if (s == nullptr) return invalid("sigrelay: NULL consumer");
  return guarded([&] { s->handle.remove(signo); });
}

int sigrelay_signals_pending(sigrelay_signals* s, sigrelay_event* events, size_t capacity, size_t* count) {
  if (const int rc = check_consumer_args(s, events, capacity, count)) return rc;
  return guarded([&] {
    drop_inherited_backlog(s);
    std::vector<sigrelay::signal_event> fresh;
    if (backlog_size(s) < capacity) fresh = s->sigs.pending();
    hand_out(s, std::move(fresh), events, capacity, count);
  });
}

int sigrelay_signals_wait(sigrelay_signals* s, int timeout_ms, sigrelay_event* events, size_t capacity,
                          size_t* count) {
  if (const int rc = check_consumer_args(s, events, capacity, count)) return rc;
  return guarded([&] {
    drop_inherited_backlog(s);
    std::vector<sigrelay::signal_event> fresh;
    if (backlog_size(s) == 0) {
      fresh = timeout_ms < 0 ? s->sigs.wait() : s->sigs.wait_for(std::chrono::milliseconds(timeout_ms));
    } else if (backlog_size(s) < capacity) {
      fresh = s->sigs.pending();
    }
    hand_out(s, std::move(fresh), events, capacity, count);
  });
}

int sigrelay_signals_native_handle(const sigrelay_signals* s) {
  return s != nullptr ? s->sigs.native_handle() : -1;
}

uint64_t sigrelay_signals_dropped(const sigrelay_signals* s, int signo) {
  if (s == nullptr) return 0;
  return signo == 0 ? s->sigs.dropped() : s->sigs.dropped(signo);
}

void sigrelay_signals_close(sigrelay_signals* s) {
  const int saved_errno = errno;
  if (s != nullptr) s->handle.close();
  errno = saved_errno;
}

// A fork child's dead copy counts as closed: its wait() says 0 at once, which sigrelay.h promises
// only when the time is up or the consumer is closed (the C API has no is_inherited()).
int sigrelay_signals_is_closed(const sigrelay_signals* s) {
  return s == nullptr || s->sigs.is_closed() || s->sigs.is_inherited() ? 1 : 0;
}

}  // extern "C"
