// src/shutdown.cc — graceful shutdown with std::stop_token (C++20; see shutdown.hpp).
//
// Design notes
// - Per signal, three registry actions in this order: die_if_set(armed) (the second signal kills,
//   in signal context, even if every thread of the program is stuck), the `signals` recorder, and
//   set_flag(armed). Order matters: the check must come before the flag is set.
// - std::stop_source::request_stop() runs stop callbacks and takes locks, so it must not run in a
//   signal handler: a watcher thread waits on the `signals` object and requests the stop.

// The library is built as C++17 where the compiler has no C++20: then there is no shutdown (and its
// header, which stops a C++17 compilation with #error, is not included).
#if __cplusplus >= 202002L && __has_include(<stop_token>)  // what shutdown.hpp requires
#include "sigrelay/shutdown.hpp"
#endif

#if defined(SIGRELAY_HAS_SHUTDOWN)

#include <atomic>
#include <cstdio>
#include <thread>
#include <vector>

#include "sigrelay/relays.hpp"
#include "sigrelay/signals.hpp"

namespace sigrelay {

struct shutdown::impl {
  std::stop_source source;
  std::atomic<bool> armed{false};
  std::atomic<int> signo{0};
  std::vector<action_id> actions;
  signals sigs{std::initializer_list<int>{}, backend::relay};
  std::thread watcher;

  ~impl() {
    sigs.get_handle().close();
    if (watcher.joinable()) watcher.join();
    for (const action_id id : actions) remove_action(id);
  }
};

shutdown::shutdown(std::initializer_list<int> signos) : impl_(std::make_unique<impl>()) {
  impl& s = *impl_;
  for (const int signo : signos) s.actions.push_back(add_action(signo, relay::die_if_set(s.armed)));
  for (const int signo : signos) s.sigs.add(signo);
  for (const int signo : signos) s.actions.push_back(add_action(signo, relay::set_flag(s.armed)));
  s.watcher = std::thread([&s] {
    for (const signal_event& e : s.sigs) {
      int none = 0;
      s.signo.compare_exchange_strong(none, e.signo);
      s.source.request_stop();
    }
  });
}

shutdown::~shutdown() = default;

std::stop_token shutdown::token() const noexcept { return impl_->source.get_token(); }

bool shutdown::stop_requested() const noexcept { return impl_->source.stop_requested(); }

int shutdown::signal() const noexcept { return impl_->signo.load(); }

void shutdown::request_stop() noexcept {
  impl_->armed.store(true);
  impl_->source.request_stop();
}

void shutdown::exit(int status) {
  static_cast<void>(std::fflush(nullptr));  // nothing better to do about a failed flush now
  if (const int signo = impl_->signo.load()) relay::die_by_signal(signo);
  std::exit(status);  // NOLINT(concurrency-mt-unsafe): ending the process is what was asked for
}

}  // namespace sigrelay

#endif
