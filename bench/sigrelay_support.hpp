// SPDX-License-Identifier: MIT
// bench/sigrelay_support.hpp — helpers shared by the responders built on sigrelay.
#pragma once

#include <sigrelay/registry.hpp>
#include <sigrelay/relays.hpp>
#include <sigrelay/signals.hpp>

#include <atomic>
#include <cstdint>

namespace bench {

inline bool carries_value(const sigrelay::signal_event& e) { return e.last.code == SI_QUEUE; }

// Counts handler runs of a signal through a registry action of its own, to check that sigrelay's
// counts add up to what the handler saw.
class delivery_counter {
 public:
  delivery_counter() = default;
  delivery_counter(const delivery_counter&) = delete;
  delivery_counter& operator=(const delivery_counter&) = delete;
  void add(int signo) { id_ = sigrelay::add_action(signo, sigrelay::relay::add_count(count_)); }
  ~delivery_counter() {
    if (id_) sigrelay::remove_action(id_);
  }
  long long get() const { return id_ ? static_cast<long long>(count_.load()) : -1; }

 private:
  std::atomic<std::uint64_t> count_{0};
  sigrelay::action_id id_;
};

}  // namespace bench
