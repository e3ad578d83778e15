// SPDX-License-Identifier: MIT
// src/relays.cc — building relay actions (ordinary context). Their signal-context halves live in
// src/handler/relays.cc.
#include "sigrelay/relays.hpp"

#include <string>

#include "detail.hpp"
#include "handler/relays.hpp"
#include "handler/state.hpp"
#include "platform/linux.hpp"

namespace sigrelay::relay {

action set_flag(std::atomic<bool>& flag) noexcept { return {detail::set_flag_fn, &flag}; }

action add_count(std::atomic<std::uint64_t>& counter) noexcept { return {detail::add_count_fn, &counter}; }

action die_if_set(std::atomic<bool>& flag) noexcept { return {detail::die_if_set_fn, &flag}; }

action default_if_set(std::atomic<bool>& flag) noexcept { return {detail::default_if_set_fn, &flag}; }

action default_action() noexcept { return {detail::default_action_fn, nullptr}; }

fd_relay::fd_relay(int fd, std::error_code& ec) noexcept {
  const bool nonblocking = detail::os::is_nonblocking(fd, ec);
  if (ec || !nonblocking) {
    ec = detail::invalid_argument();
    return;
  }
  target_ = {fd, detail::process_pid()};
}

fd_relay::fd_relay(int fd) {
  std::error_code ec;
  const bool nonblocking = detail::os::is_nonblocking(fd, ec);
  if (ec || !nonblocking) {
    detail::throw_error(detail::invalid_argument(),
                        "sigrelay: fd " + std::to_string(fd) +
                            (ec ? " is not open" : " is blocking; a signal handler must never block on it"));
  }
  target_ = {fd, detail::process_pid()};
}

action fd_relay::get() const noexcept {
  return {detail::wake_fd_fn, const_cast<detail::fd_target*>(&target_)};
}

wakeup_fd::wakeup_fd() : relay_(open_fd(read_fd_)) {}

int wakeup_fd::open_fd(int& read_fd) {
  std::error_code ec;
  const detail::os::wakeup_fds fds = detail::os::make_wakeup(ec);
  if (ec) detail::throw_error(ec, "sigrelay: cannot create an eventfd");
  read_fd = fds.read;
  return fds.write;
}

wakeup_fd::~wakeup_fd() { detail::os::close_wakeup({read_fd_, relay_.fd()}); }

std::uint64_t wakeup_fd::drain() noexcept { return detail::os::drain_wakeup(read_fd_); }

}  // namespace sigrelay::relay
