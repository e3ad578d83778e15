// SPDX-License-Identifier: MIT
// adapters/common/event_backlog.hpp — private to the compiled adapters (libuv, libevent); not
// installed.
#pragma once

#include <cstddef>
#include <vector>

#include "sigrelay/signals.hpp"

namespace sigrelay::adapters {

// The events drained but not yet handed out: one vector refilled in place by
// signals::pending(std::vector&) once it is all handed out, so a steady stream allocates nothing.
class event_backlog {
 public:
  bool empty() const noexcept { return next_ == items_.size(); }
  std::size_t size() const noexcept { return items_.size() - next_; }
  const signal_event& front() const noexcept { return items_[next_]; }
  void pop_front() noexcept { ++next_; }
  void clear() noexcept {
    items_.clear();
    next_ = 0;
  }
  void refill(sigrelay::signals& source) {  // only when empty()
    next_ = 0;
    source.pending(items_);
  }

 private:
  std::vector<signal_event> items_;
  std::size_t next_ = 0;
};

}  // namespace sigrelay::adapters
