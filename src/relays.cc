// SPDX-License-Identifier: MIT
// src/relays.cc — building relay actions (ordinary context). Their signal-context halves live in
// src/handler/relays.cc.
#include "sigrelay/relays.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <string>

#include "detail.hpp"
#include "handler/relays.hpp"
#include "handler/state.hpp"
#include "platform/linux.hpp"
#include "platform/sys.hpp"

namespace sigrelay::relay {

action set_flag(std::atomic<bool>& flag) noexcept { return {detail::set_flag_fn, &flag}; }

action add_count(std::atomic<std::uint64_t>& counter) noexcept { return {detail::add_count_fn, &counter}; }

action die_if_set(std::atomic<bool>& flag) noexcept { return {detail::die_if_set_fn, &flag}; }

action default_if_set(std::atomic<bool>& flag) noexcept { return {detail::default_if_set_fn, &flag}; }

action default_action() noexcept { return {detail::default_action_fn, nullptr}; }

namespace {

// Why `fd` cannot take a handler's writes, or nullptr if it can: it must be open for writing and
// non-blocking (a read-only fd would fail every write with EBADF and wake nothing), and not a
// regular file, a directory or a block device, where O_NONBLOCK does not keep a write from blocking
// (on the disk).
// `socket` tells whether the fd is one (written with send(MSG_NOSIGNAL), src/handler/relays.cc).
const char* unfit_for_handler_writes(int fd, bool& socket) noexcept {
  const int flags = detail::sys::fcntl(fd, F_GETFL);
  if (flags < 0) return " is not open";
  if ((flags & O_NONBLOCK) == 0) return " is blocking; a signal handler must never block on it";
  if ((flags & O_ACCMODE) == O_RDONLY) return " is not open for writing";
  struct stat st {};
  if (::fstat(fd, &st) != 0) return " is not open";
  if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode) || S_ISBLK(st.st_mode)) {
    return " is a file, where O_NONBLOCK does not keep a write from blocking; use a pipe, a socket or "
           "an eventfd";
  }
  socket = S_ISSOCK(st.st_mode);
  return nullptr;
}

}  // namespace

fd_relay::fd_relay(int fd, std::error_code& ec) noexcept {
  bool socket = false;
  if (unfit_for_handler_writes(fd, socket) != nullptr) {
    ec = detail::invalid_argument();
    return;
  }
  target_ = {fd, detail::process_pid(), socket};
  ec.clear();
}

fd_relay::fd_relay(int fd) {
  bool socket = false;
  if (const char* why = unfit_for_handler_writes(fd, socket)) {
    detail::throw_error(detail::invalid_argument(), "sigrelay: fd " + std::to_string(fd) + why);
  }
  target_ = {fd, detail::process_pid(), socket};
}

action fd_relay::get() const noexcept {
  return {detail::wake_fd_fn, const_cast<detail::fd_target*>(&target_)};
}

wakeup_fd::wakeup_fd() : relay_(open_fd(read_fd_)) {}

int wakeup_fd::open_fd(int& read_fd) {
  std::error_code ec;
  const detail::os::wakeup_fds fds = detail::os::make_wakeup(ec);
  if (ec) detail::throw_error(ec, std::string("sigrelay: cannot create ") + detail::os::wakeup_kind);
  read_fd = fds.read;
  return fds.write;
}

wakeup_fd::~wakeup_fd() { detail::os::close_wakeup({read_fd_, relay_.fd()}); }

std::uint64_t wakeup_fd::drain() noexcept { return detail::os::drain_wakeup(read_fd_); }

}  // namespace sigrelay::relay
