// SPDX-License-Identifier: MIT
// bench/sigrelay_support.hpp — helpers shared by the responders built on sigrelay.
#pragma once

#include <sigrelay/registry.hpp>
#include <sigrelay/relays.hpp>
#include <sigrelay/signals.hpp>

#include <atomic>
#include <cstdint>
#include <type_traits>
#include <utility>
#include <vector>

namespace bench {

inline bool carries_value(const sigrelay::signal_event& e) { return e.last.code == SI_QUEUE; }

// Whether the library has the allocation-free consumer overloads, wait(std::vector<signal_event>&)
// and pending(std::vector<signal_event>&), which refill the caller's vector. Where it has, the
// responders use them (the path issue 9 asks consumers to have); otherwise wait() and pending(),
// which return a fresh vector. So the harness builds against either API and measures the best path.
template <typename S, typename = void>
struct has_reuse : std::false_type {};
template <typename S>
struct has_reuse<
    S, std::void_t<decltype(std::declval<S&>().wait(std::declval<std::vector<sigrelay::signal_event>&>()))>>
    : std::true_type {};
inline constexpr bool reuse_api = has_reuse<sigrelay::signals>::value;

template <typename S>
void wait_into(S& s, std::vector<sigrelay::signal_event>& out) {
  if constexpr (has_reuse<S>::value) {
    s.wait(out);
  } else {
    out = s.wait();
  }
}

template <typename S>
void pending_into(S& s, std::vector<sigrelay::signal_event>& out) {
  if constexpr (has_reuse<S>::value) {
    s.pending(out);
  } else {
    out = s.pending();
  }
}

// The default options with `b` as the backend (the adapters' and the dispatcher's responders run
// once per backend).
inline sigrelay::signals_options options(sigrelay::backend b) {
  sigrelay::signals_options o;
  o.backend = b;
  return o;
}

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
