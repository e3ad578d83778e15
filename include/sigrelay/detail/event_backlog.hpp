// SPDX-License-Identifier: MIT
// sigrelay/detail/event_backlog.hpp — the adapters' queue of drained events. Not API: installed only
// because the header-only Asio adapter uses it (as do the compiled libuv, libevent and coroutine
// adapters); it may change in any release.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

#include "sigrelay/signals.hpp"

namespace sigrelay::detail {

// The events drained from a `signals` but not yet handed out, without an allocation in steady state:
// a vector and the index of its first event not handed out. Once everything was handed out, refill()
// (or append()) refills the vector in place (signals::pending(std::vector&) reuses its capacity);
// append() while events are still waiting drains through a second reused vector and appends that
// after the waiting ones (moved to the front first), reusing both vectors' capacity too.
// Not thread-safe: its owner guards it.
class event_backlog {
 public:
  bool empty() const noexcept { return next_ == items_.size(); }
  std::size_t size() const noexcept { return items_.size() - next_; }
  signal_event& front() noexcept { return items_[next_]; }
  const signal_event& front() const noexcept { return items_[next_]; }
  void pop_front() noexcept {
    if (++next_ == items_.size()) clear();
  }
  void clear() noexcept {
    items_.clear();
    next_ = 0;
  }
  // Replaces the (handed out) contents by what `source` has recorded. Only when empty().
  void refill(sigrelay::signals& source) {
    next_ = 0;
    source.pending(items_);
  }
  // Appends what `source` has recorded after the events still waiting, if any.
  void append(sigrelay::signals& source) {
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
  // The waiting event with the lowest signal number below `rtmin` (a standard signal; the first
  // such event of that number), or the first waiting event if none is. Only when !empty().
  signal_event& lowest_below(int rtmin) noexcept {
    std::size_t best = next_;
    for (std::size_t i = next_; i < items_.size(); ++i) {
      const int signo = items_[i].signo;
      if (signo < rtmin && (items_[best].signo >= rtmin || signo < items_[best].signo)) best = i;
    }
    return items_[best];
  }
  // Removes the waiting event `e` (a reference from front() or lowest_below()).
  void erase(signal_event& e) noexcept {
    if (&e == &front()) {  // the usual case: no element moves
      pop_front();
      return;
    }
    items_.erase(items_.begin() + (&e - items_.data()));
    if (empty()) clear();
  }
  // Discards the waiting events of `signo`.
  void remove(int signo) {
    items_.erase(std::remove_if(items_.begin() + static_cast<std::ptrdiff_t>(next_), items_.end(),
                                [signo](const signal_event& e) { return e.signo == signo; }),
                 items_.end());
    if (empty()) clear();
  }

 private:
  std::vector<signal_event> items_;  // handed out up to next_
  std::size_t next_ = 0;
  std::vector<signal_event> scratch_;  // append()'s batch
};

}  // namespace sigrelay::detail
