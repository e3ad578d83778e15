// SPDX-License-Identifier: MIT
// src/termination.cc — graceful termination with std::stop_token (C++20; see termination.hpp).
//
// Design notes
// - Per signal, two registry actions in this order, added in one published snapshot
//   (detail::subscribe_access, registry.cc's add_actions_together()): the `signals` recorder, then
//   arm_or_die (src/handler/relays.hpp: the first delivery arms, the one that finds it armed kills,
//   in signal context, even if every thread of the program is stuck). Together, because a delivery
//   whose chained earlier handler runs while the constructor adds them runs, once that handler
//   returns, only the actions that were there when it began (trampoline.cc, run_actions_up_to()),
//   and that handler runs outside the registry's read-side section, so the add's grace period does
//   not wait for it. Added one after the other, such a delivery ran only the first: with arm_or_die
//   first it armed the kill and was never recorded, so no stop came and the next signal killed
//   (TerminationContract.ASignalRacingTheConstructorRequestsTheStopOnceSigrelayTookIt, 3 of 10 runs
//   of 300 rounds after c883c18); with the recorder first it requested the stop without arming, so
//   the second signal only armed the kill and the third killed (f39f89b, a limit the header stated
//   until both came in one snapshot). Arming is one exchange: a check (die_if_set)
//   and a later store (set_flag) let two deliveries handled at the same moment on two threads both
//   find it unarmed, and the process survived its second signal (found by
//   TerminationContract.TwoSignalsHandledTogetherOnTwoThreadsKill).
// - exit() reads the first signal from arm_or_die's state, written in the handler, not from what
//   the watcher thread records later: a program that calls exit() right after a signal was handled
//   (before the watcher had its turn) is stopping all the same (the next signal kills it), and
//   must not end with a misleading "exited 0" (found by
//   TerminationBySender.ExitRightAfterAHandledSignalDiesByIt). signal() stays what the watcher
//   recorded, so that it is never set while stop_requested() is still false.
// - std::stop_source::request_stop() runs stop callbacks and takes locks, so it must not run in a
//   signal handler: a watcher thread waits on the `signals` object and requests the stop. A
//   signals::wait(std::stop_token) on the token is woken by such a callback (see signals.cc).
// - One live object per process (g_alive): two would each count the other's first signal as its
//   own "second". The flag is taken before anything is subscribed and given back after everything
//   is torn down (or when the constructor fails), so a refused second object changes nothing.
// - The watcher thread unblocks the watched signals in itself first. It is created with its creator's
//   mask, and a program that blocked SIGTERM in main before anything else (so that every thread
//   inherits the block) would otherwise have no thread that takes the signal: the kernel would keep
//   it pending for ever, the stop never requested and the second signal never fatal. The watcher is
//   sigrelay's own thread, so its mask is ours to choose; the program's threads keep theirs.

// The library is built as C++17 where the compiler has no C++20: then there is no termination (and
// its header, which stops a C++17 compilation with #error, is not included).
#if __cplusplus >= 202002L && __has_include(<stop_token>)  // what termination.hpp requires
#include "sigrelay/termination.hpp"
#endif

#if defined(SIGRELAY_HAS_TERMINATION)

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <system_error>
#include <thread>
#include <vector>

#include "sigrelay/relays.hpp"
#include "sigrelay/signals.hpp"

#include "detail.hpp"
#include "handler/relays.hpp"
#include "own_thread.hpp"

namespace sigrelay {
namespace {

std::atomic<bool> g_alive{false};

// Holds g_alive for one object; gives it back when destroyed (after the object's impl).
struct alive_token {
  alive_token() {
    if (g_alive.exchange(true, std::memory_order_acq_rel)) {
      throw std::system_error(std::make_error_code(std::errc::device_or_resource_busy),
                              "sigrelay::termination: another termination object is alive; only one "
                              "may exist at a time (share it, or its token())");
    }
  }
  ~alive_token() { g_alive.store(false, std::memory_order_release); }
  alive_token(const alive_token&) = delete;
  alive_token& operator=(const alive_token&) = delete;
};

}  // namespace

struct termination::impl {
  alive_token alive;  // first member: taken before anything else, given back last
  std::stop_source source;
  // Set (on the watcher thread) by a destructor that a stop callback ran: the watcher then returns
  // without touching the object. Shared with the watcher, which outlives the object then.
  std::shared_ptr<std::atomic<bool>> gone = std::make_shared<std::atomic<bool>>(false);
  detail::arm_or_die_state armed;  // written in signal context
  std::atomic<int> signo{0};       // the signal that requested the stop, by the watcher
  std::vector<action_id> actions;
  signals sigs{std::initializer_list<int>{}, backend::relay};
  detail::own_thread watcher;  // no pthread call on it in a fork child (own_thread.hpp)

  impl() = default;
  impl(const impl&) = delete;
  impl& operator=(const impl&) = delete;
  ~impl() {
    sigs.get_handle().close();
    if (watcher.runs_here()) {  // a stop callback destroys the object: the watcher cannot be joined
      gone->store(true);
      watcher.let_go();
    } else {
      watcher.finish();
    }
    for (const action_id id : actions) remove_action(id);
  }
};

termination::termination(std::initializer_list<int> listed) : impl_(std::make_unique<impl>()) {
  impl& s = *impl_;
  // Each signal once: a second arm_or_die of one signal would find the kill armed by the first, and
  // kill on the first delivery.
  std::vector<int> signos;
  for (const int signo : listed) {
    if (std::find(signos.begin(), signos.end(), signo) == signos.end()) signos.push_back(signo);
  }
  detail::deferred_lifts lifts;  // a refused signal leaves the blocks of signalfd-backed objects alone
  // Reserved, so that no push_back() can throw once its action is added.
  s.actions.reserve(signos.size());
  for (const int signo : signos) {
    s.actions.push_back(detail::subscribe_access::add_with(s.sigs, signo, {detail::arm_or_die_fn, &s.armed}));
  }
  lifts.commit();
  // A delivery that armed the kill is the first signal, so the stop is due; it was recorded as well
  // (in the same snapshot, before the kill's action), and this only makes the stop come without
  // waiting for the watcher (found with arm_or_die added first, where such a delivery was not
  // recorded, by TerminationContract.ASignalRacingTheConstructorIsIgnoredOrStopsNeverOnlyArms).
  if (const int early = s.armed.signo.load()) {
    int none = 0;
    s.signo.compare_exchange_strong(none, early);
    s.source.request_stop();
  }
  sigset_t watched;
  sigemptyset(&watched);
  for (const int signo : signos) sigaddset(&watched, signo);
  // The watcher keeps its own copies of the stop source and of `gone`: a stop callback may destroy
  // the object inside request_stop().
  s.watcher.start([&s, watched, source = s.source, gone = s.gone] {
    // The watcher's own mask: without the watched signals, whatever its creator blocked (see the notes
    // at the top). Cannot fail for a valid set.
    ::pthread_sigmask(SIG_UNBLOCK, &watched, nullptr);
    for (const signal_event& e : s.sigs) {
      int none = 0;
      s.signo.compare_exchange_strong(none, e.signo);
      source.request_stop();
      if (gone->load()) return;  // `s` is gone (see impl::gone)
    }
  });
}

termination::~termination() = default;

std::stop_token termination::token() const noexcept { return impl_->source.get_token(); }

bool termination::stop_requested() const noexcept { return impl_->source.stop_requested(); }

int termination::signal() const noexcept { return impl_->signo.load(); }

void termination::request_stop() noexcept {
  impl_->armed.armed.store(true);
  impl_->source.request_stop();
}

void termination::exit(int status) {
  static_cast<void>(std::fflush(nullptr));  // nothing better to do about a failed flush now
  if (const int signo = impl_->armed.signo.load()) relay::die_by_signal(signo);
  // A delivery recorded (the recorder runs first) whose arm_or_die has not run yet: the stop came
  // from a signal all the same.
  if (const int signo = impl_->signo.load()) relay::die_by_signal(signo);
  std::exit(status);  // NOLINT(concurrency-mt-unsafe): ending the process is what was asked for
}

}  // namespace sigrelay

#endif
