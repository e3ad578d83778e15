// SPDX-License-Identifier: MIT
// adapters/common/event_backlog.hpp — private to the compiled adapters (libuv, libevent, the coroutine
// channel); not installed.
#pragma once

#include <cstddef>
#include <vector>

#include "sigrelay/signals.hpp"

namespace sigrelay::adapters {

// The events drained but not yet handed out: one vector refilled in place by
// signals::pending(std::vector&) once it is all handed out, so a steady stream allocates nothing.
// append() drains while events are still waiting: through a second reused vector, appended after
// the waiting ones (moved to the front first), so it allocates nothing in steady state either.
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
  void append(sigrelay::signals& source) {  // whether empty() or not
    if (empty()) {
      refill(source);
      return;
    }
    source.pending(scratch_);
    if (scratch_.empty()) return;
    items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(next_));
    next_ = 0;
    items_.insert(items_.end(), scratch_.begin(), scratch_.end());
  }

 private:
  std::vector<signal_event> items_;
  std::size_t next_ = 0;
  std::vector<signal_event> scratch_;  // append()'s batch
};

}  // namespace sigrelay::adapters
