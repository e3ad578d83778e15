// SPDX-License-Identifier: MIT
// src/children.cc — the child watcher (ordinary context only).
//
// Design notes
// - SIGCHLD coalesces, so a delivery means "at least one child changed", never "this one". Every
//   pending() therefore reaps everything there is: scope all loops on waitpid(-1, WNOHANG) until it
//   returns 0 or ECHILD; scope own tries waitpid(pid, WNOHANG) for each watched pid (O(watched) system
//   calls per look, which keeps other code's children out of reach; pidfds would avoid the scan but
//   need a descriptor per child, and a plain waitpid loop is what an init wants anyway).
// - No lost wake-up: pending() first drains the SIGCHLD `signals` object, then reaps. A child that
//   ends after the drain raises a new SIGCHLD, so native_handle()/wait() fire again; one that ended
//   before it is found by the reap. Children that ended before the watcher existed (scope all) or
//   before watch() (scope own) raised their SIGCHLD too early to be seen: construction and watch()
//   write `poke`, an eventfd of our own, so the next look reaps them.
// - native_handle() is an epoll fd over the `signals` object's native_handle() and `poke`, so one
//   descriptor stands for both; wait*() ppoll()s it (poll is intercepted by ThreadSanitizer, which
//   then runs its deferred signal handlers: a sleeping wait() sees a SIGCHLD).
//   The posix build (no epoll; SIGRELAY_LINUX, platform/config.hpp) makes `poke` that one descriptor
//   instead: a relay::fd_relay action on SIGCHLD writes poke's write end on every delivery, so
//   native_handle() is poke's read end, readable after a SIGCHLD as after watch()/close(); wait*()
//   poll()s it. The order that loses no wake-up is the same: pending() drains the `signals` object
//   and then poke before it reaps, and a SIGCHLD after the drain writes poke again.
// - No event buffer: everything reaped in a look is returned by that look. If waitpid() fails with
//   an unexpected error, the events reaped so far are kept in `carried` and come first next time.
// - close() sets `closed` and writes `poke`, which is then never drained again: readable for good. A
//   pending() that looked at `closed` just before and drains poke after close()'s write writes it
//   again once it sees `closed` (it read close()'s write away otherwise).
// - Fork: the watcher remembers the pid that created it; in a child of fork the copy is dead.
#include "sigrelay/children.hpp"

#include <poll.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <mutex>
#include <optional>
#include <string>

#include "detail.hpp"
#include "platform/linux.hpp"
#include "platform/sys.hpp"
#include "sigrelay/relays.hpp"

#if SIGRELAY_LINUX
#include <sys/epoll.h>
#endif

namespace sigrelay {

struct children::state {
  children_options options;
  signals sigchld;
  pid_t owner = ::getpid();
  detail::os::wakeup_fds poke;  // eventfd (a pipe on posix): a look is due (construction, watch()) or closed
  int epoll = -1;               // native_handle(): sigchld's handle + poke (Linux)
#if !SIGRELAY_LINUX
  std::optional<relay::fd_relay> poke_relay;  // writes poke on each SIGCHLD (the posix build)
  action_id poke_action;
#endif
  std::atomic<bool> closed{false};
  mutable std::mutex mutex;          // watched, carried
  std::vector<pid_t> watched;        // scope own
  std::vector<child_event> carried;  // reaped before a waitpid() error

  explicit state(const children_options& o)
      : options(o), sigchld({SIGCHLD}, signals_options{o.backend, signals_options{}.realtime_capacity}) {}
  ~state() {
#if !SIGRELAY_LINUX
    if (poke_action) remove_action(poke_action);  // before poke's fds close
#endif
    if (epoll >= 0) detail::os::close_fd(epoll);
    detail::os::close_wakeup(poke);
  }
  bool dead() const noexcept { return ::getpid() != owner; }
};

namespace {

void write_poke(int fd) noexcept { detail::sys::write_wakeup(fd); }

child_event decode(pid_t pid, int status) noexcept {
  child_event e;
  e.pid = pid;
  e.raw_status = status;
  if (WIFEXITED(status)) {
    e.state = child_state::exited;
    e.code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    e.state = child_state::killed;
    e.code = WTERMSIG(status);
    e.core_dumped = WCOREDUMP(status);
  } else if (WIFSTOPPED(status)) {
    e.state = child_state::stopped;
    e.code = WSTOPSIG(status);
  } else {
    e.state = child_state::continued;
    e.code = SIGCONT;
  }
  return e;
}

bool ends(const child_event& e) noexcept {
  return e.state == child_state::exited || e.state == child_state::killed || e.state == child_state::lost;
}

// waitpid(pid, WNOHANG | flags), retrying EINTR: the pid, 0 (nothing to report), or -1 and errno.
pid_t wait_once(pid_t pid, int flags, int& status) noexcept {
  for (;;) {
    const pid_t r = detail::sys::waitpid(pid, &status, WNOHANG | flags);
    if (r >= 0 || errno != EINTR) return r;
  }
}

}  // namespace

children::children(children_options options) : state_(std::make_unique<state>(options)) {
  std::error_code ec;
  state_->poke = detail::os::make_wakeup(ec);
  if (ec)
    detail::throw_error(ec, std::string("sigrelay: children: cannot create ") + detail::os::wakeup_kind);
#if SIGRELAY_LINUX
  state_->epoll = detail::sys::epoll_create1(EPOLL_CLOEXEC);
  if (state_->epoll < 0)
    detail::throw_error(detail::errno_code(), "sigrelay: children: cannot create an epoll fd");
  for (const int fd : {state_->sigchld.native_handle(), state_->poke.read}) {
    struct epoll_event ev {};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    if (detail::sys::epoll_ctl(state_->epoll, EPOLL_CTL_ADD, fd, &ev) != 0) {
      detail::throw_error(detail::errno_code(), "sigrelay: children: cannot watch a descriptor with epoll");
    }
  }
#else
  state_->poke_relay.emplace(state_->poke.write);
  state_->poke_action = add_action(SIGCHLD, state_->poke_relay->get());
#endif
  // Readable after construction, as the header says: in scope all, children that ended before
  // SIGCHLD was subscribed are reaped by the first look; in scope own that look finds nothing yet.
  write_poke(state_->poke.write);
}

children::~children() = default;

void children::watch(pid_t pid) {
  state& s = *state_;
  if (s.options.scope != child_scope::own || pid <= 0) {
    detail::throw_error(
        std::make_error_code(std::errc::invalid_argument),
        "sigrelay: children: cannot watch pid " + std::to_string(pid) +
            (pid <= 0 ? ": not a process id" : ": watch() is for scope own (scope all reaps every child)"));
  }
  if (s.dead()) {
    detail::throw_error(std::make_error_code(std::errc::operation_not_permitted),
                        "sigrelay: children: cannot watch pid " + std::to_string(pid) +
                            ": the watcher belongs to the parent process");
  }
  if (s.closed.load(std::memory_order_acquire)) {
    detail::throw_error(
        std::make_error_code(std::errc::bad_file_descriptor),
        "sigrelay: children: cannot watch pid " + std::to_string(pid) + ": the watcher is closed");
  }
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    if (std::find(s.watched.begin(), s.watched.end(), pid) != s.watched.end()) return;
    s.watched.push_back(pid);
  }
  write_poke(s.poke.write);  // it may have ended already: the next look tries it
}

std::size_t children::watched() const {
  // A fork child's copy is dead (the header's "Fork"): no lock, which a thread of the parent may
  // have held at the fork; it watches nothing.
  if (state_->dead()) return 0;
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->watched.size();
}

std::vector<child_event> children::pending() {
  state& s = *state_;
  if (s.dead() || s.closed.load(std::memory_order_acquire)) return {};
  (void)s.sigchld.pending();  // first: a SIGCHLD after this makes us readable again
  std::lock_guard<std::mutex> lock(s.mutex);
  if (!s.closed.load(std::memory_order_acquire)) {
    (void)detail::os::drain_wakeup(s.poke.read);
    // A close() between the look above and the read may have had its write read away: close() sets
    // `closed` before it writes, so a read that took that write is followed by a load that sees it.
    // Put the wake-up back: native_handle() is readable for good after close().
    if (s.closed.load(std::memory_order_seq_cst)) write_poke(s.poke.write);
  }
  std::vector<child_event> out;
  out.swap(s.carried);
  const int flags = s.options.report_stops ? (WUNTRACED | WCONTINUED) : 0;
  int status = 0;
  int error = 0;
  if (s.options.scope == child_scope::all) {
    for (;;) {
      const pid_t r = wait_once(-1, flags, status);
      if (r > 0) {
        out.push_back(decode(r, status));
        continue;
      }
      if (r < 0 && errno != ECHILD) error = errno;
      break;
    }
  } else {
    std::size_t kept = 0;
    for (std::size_t i = 0; i < s.watched.size(); ++i) {
      const pid_t pid = s.watched[i];
      bool keep = true;
      if (error == 0) {
        const pid_t r = wait_once(pid, flags, status);
        if (r == pid) {
          out.push_back(decode(pid, status));
          keep = !ends(out.back());
        } else if (r < 0 && errno == ECHILD) {
          child_event lost;
          lost.pid = pid;
          lost.state = child_state::lost;
          out.push_back(lost);
          keep = false;
        } else if (r < 0) {
          error = errno;
        }
      }
      if (keep) s.watched[kept++] = pid;
    }
    s.watched.resize(kept);
  }
  if (error != 0) {
    s.carried.swap(out);
    write_poke(s.poke.write);  // the carried events are due
    detail::throw_error(detail::errno_code(error), "sigrelay: children: waitpid failed");
  }
  return out;
}

std::vector<child_event> children::wait() { return wait_for(std::chrono::nanoseconds::max()); }

std::vector<child_event> children::wait_for(std::chrono::nanoseconds timeout) {
  state& s = *state_;
  // A timeout in the past is zero (as in signals): now + nanoseconds::min() fits, but the time left
  // (deadline - now) below would overflow.
  if (timeout < std::chrono::nanoseconds::zero()) timeout = std::chrono::nanoseconds::zero();
  const bool forever = timeout == std::chrono::nanoseconds::max();
  const auto now = std::chrono::steady_clock::now();
  const bool overflow = !forever && timeout > std::chrono::steady_clock::time_point::max() - now;
  const auto deadline = (forever || overflow) ? std::chrono::steady_clock::time_point::max() : now + timeout;
  for (;;) {
    std::vector<child_event> events = pending();
    if (!events.empty() || s.dead() || s.closed.load(std::memory_order_acquire)) return events;
    struct timespec ts {};
    struct timespec* limit = nullptr;
    if (deadline != std::chrono::steady_clock::time_point::max()) {
      const auto left = deadline - std::chrono::steady_clock::now();
      if (left <= std::chrono::nanoseconds::zero()) return events;
      const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
      ts.tv_sec = static_cast<time_t>(ns / 1000000000);
      ts.tv_nsec = static_cast<long>(ns % 1000000000);
      limit = &ts;
    }
    struct pollfd p {};
#if SIGRELAY_LINUX
    p.fd = s.epoll;
    p.events = POLLIN;
    if (detail::sys::ppoll(&p, 1, limit, nullptr) < 0 && errno != EINTR) {
      detail::throw_error(detail::errno_code(), "sigrelay: children: ppoll failed");
    }
#else
    p.fd = s.poke.read;
    p.events = POLLIN;
    const long long ns = limit == nullptr ? -1 : limit->tv_sec * 1000000000LL + limit->tv_nsec;
    if (detail::os::poll_ns(&p, 1, ns) < 0 && errno != EINTR) {
      detail::throw_error(detail::errno_code(), "sigrelay: children: poll failed");
    }
#endif
  }
}

int children::native_handle() const noexcept {
#if SIGRELAY_LINUX
  return state_->epoll;
#else
  return state_->poke.read;
#endif
}

void children::close() noexcept {
  if (state_->closed.exchange(true, std::memory_order_acq_rel)) return;
  if (!state_->dead()) write_poke(state_->poke.write);
}

bool children::is_closed() const noexcept { return state_->closed.load(std::memory_order_acquire); }

}  // namespace sigrelay
