// SPDX-License-Identifier: MIT
// bench/micro.cc — Google Benchmark micro-benchmarks of the registry and of `signals`.
//
// * Delivery through the registry: tgkill() to this thread (delivered synchronously on the way out
//   of the system call) with N actions on the signal (1, 8, 64), and with 1 action on it while
//   unrelated signals carry 0, 8 or 64 actions each (must stay flat). A raw sigaction() handler
//   doing the same work is the floor.
// * add_action()/remove_action() pairs: the only action of its signal (installs and restores the
//   disposition each time), next to a permanent action, and next to a permanent action while another
//   thread floods the signal at itself (the grace period meets running handlers).
// * Creating and destroying a `signals` instance (relay and signalfd backends), and one delivery
//   all the way to ordinary code: tgkill() then pending() (a new vector each time), then per path of
//   the allocation-free API: pending(std::vector&), a realtime delivery through the ring, wait() and
//   wait(std::vector&) with a signal pending, the range-for iterator, poll() on native_handle() then
//   pending(std::vector&), a realtime delivery next to a second (counting) action, and through the
//   dispatcher (run() until the callback's stop()).
// * A dispatcher's background thread started and stopped (start(), stop(), join()), beside a bare
//   std::thread started and joined.
#include <benchmark/benchmark.h>

#include <sigrelay/registry.hpp>
#include <sigrelay/relays.hpp>
#ifdef BENCH_HAVE_SIGRELAY_SIGNALS
#include <sigrelay/signals.hpp>
#endif
#ifdef BENCH_HAVE_SIGRELAY_DISPATCHER
#include <sigrelay/dispatcher.hpp>
#endif

#include <poll.h>
#include <unistd.h>
#include <atomic>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace {

std::atomic<std::uint64_t> g_raw_count{0};

// Signal context.
void raw_handler(int, siginfo_t*, void*) { g_raw_count.fetch_add(1, std::memory_order_acq_rel); }

void send_self(int signo) {
  if (::tgkill(::getpid(), ::gettid(), signo) != 0) std::abort();
}

void unblock(int signo) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, signo);
  ::pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
}

// The floor: a plain SA_SIGINFO handler that adds to a counter.
void BM_RawHandlerDelivery(benchmark::State& state) {
  unblock(SIGUSR1);
  struct sigaction sa {
  }, old{};
  sa.sa_sigaction = raw_handler;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGUSR1, &sa, &old);
  const std::uint64_t before = g_raw_count.load();
  for (auto _ : state) send_self(SIGUSR1);
  if (g_raw_count.load() - before != static_cast<std::uint64_t>(state.iterations()))
    state.SkipWithError("lost deliveries");
  ::sigaction(SIGUSR1, &old, nullptr);
  state.SetItemsProcessed(state.iterations());
  state.SetLabel("floor: plain sigaction handler adding to a counter");
}
BENCHMARK(BM_RawHandlerDelivery);

// N relay::add_count actions on the delivered signal.
void BM_RegistryDelivery(benchmark::State& state) {
  unblock(SIGUSR1);
  const auto n = static_cast<std::size_t>(state.range(0));
  std::vector<std::atomic<std::uint64_t>> counters(n);
  std::vector<sigrelay::action_id> ids;
  for (auto& c : counters) ids.push_back(sigrelay::add_action(SIGUSR1, sigrelay::relay::add_count(c)));
  for (auto _ : state) send_self(SIGUSR1);
  for (auto id : ids) sigrelay::remove_action(id);
  for (auto& c : counters)
    if (c.load() != static_cast<std::uint64_t>(state.iterations())) state.SkipWithError("lost deliveries");
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(std::to_string(n) + " action(s) on the signal");
}
BENCHMARK(BM_RegistryDelivery)->Arg(1)->Arg(8)->Arg(64);

// One action on the delivered signal; range(0) actions on each of four unrelated signals.
void BM_RegistryDeliveryUnrelated(benchmark::State& state) {
  unblock(SIGUSR1);
  const int unrelated[] = {SIGUSR2, SIGWINCH, SIGRTMIN + 2, SIGRTMIN + 3};
  std::atomic<std::uint64_t> mine{0}, theirs{0};
  std::vector<sigrelay::action_id> ids;
  for (int s : unrelated)
    for (long i = 0; i < state.range(0); ++i)
      ids.push_back(sigrelay::add_action(s, sigrelay::relay::add_count(theirs)));
  ids.push_back(sigrelay::add_action(SIGUSR1, sigrelay::relay::add_count(mine)));
  for (auto _ : state) send_self(SIGUSR1);
  for (auto id : ids) sigrelay::remove_action(id);
  if (mine.load() != static_cast<std::uint64_t>(state.iterations())) state.SkipWithError("lost deliveries");
  state.SetItemsProcessed(state.iterations());
  state.SetLabel("1 action on the signal; " + std::to_string(4 * state.range(0)) + " on unrelated signals");
}
BENCHMARK(BM_RegistryDeliveryUnrelated)->Arg(0)->Arg(8)->Arg(64);

// add_action + remove_action. range(0): 0 = the signal's only action (installs the trampoline and
// restores the disposition every time), 1 = next to a permanent action, 2 = the same while another
// thread floods the signal at itself.
void BM_AddRemovePair(benchmark::State& state) {
  const int signo = SIGUSR2;
  std::atomic<std::uint64_t> permanent_count{0}, count{0};
  sigrelay::action_id permanent;
  if (state.range(0) >= 1)
    permanent = sigrelay::add_action(signo, sigrelay::relay::add_count(permanent_count));
  std::atomic<bool> stop{false};
  std::thread flooder;
  if (state.range(0) == 2) {
    flooder = std::thread([&] {
      unblock(signo);
      while (!stop.load(std::memory_order_relaxed)) send_self(signo);
    });
    while (permanent_count.load() == 0) std::this_thread::yield();
  }
  for (auto _ : state) {
    const sigrelay::action_id id = sigrelay::add_action(signo, sigrelay::relay::add_count(count));
    if (!sigrelay::remove_action(id)) state.SkipWithError("remove_action failed");
  }
  stop = true;
  if (flooder.joinable()) flooder.join();
  if (permanent) sigrelay::remove_action(permanent);
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(state.range(0) == 0   ? "the signal's only action (installs/restores the disposition)"
                 : state.range(0) == 1 ? "next to a permanent action"
                                       : "next to a permanent action; another thread flooding the signal");
}
BENCHMARK(BM_AddRemovePair)->Arg(0)->Arg(1)->Arg(2)->UseRealTime();

#ifdef BENCH_HAVE_SIGRELAY_SIGNALS
void BM_SignalsCreateDestroy(benchmark::State& state) {
  const auto kind = state.range(0) == 0 ? sigrelay::backend::relay : sigrelay::backend::signalfd;
  for (auto _ : state) {
    sigrelay::signals s({SIGUSR1}, kind);
    benchmark::DoNotOptimize(s.native_handle());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(state.range(0) == 0 ? "relay" : "signalfd");
}
BENCHMARK(BM_SignalsCreateDestroy)->Arg(0)->Arg(1);

// One delivery to ordinary code: tgkill() to this thread, then pending().
void BM_SignalsDelivery(benchmark::State& state) {
  const auto kind = state.range(0) == 0 ? sigrelay::backend::relay : sigrelay::backend::signalfd;
  sigrelay::signals s({SIGUSR1}, kind);
  if (kind == sigrelay::backend::relay) unblock(SIGUSR1);
  std::uint64_t got = 0;
  for (auto _ : state) {
    send_self(SIGUSR1);
    for (const auto& e : s.pending()) got += e.count;
  }
  if (got != static_cast<std::uint64_t>(state.iterations())) state.SkipWithError("lost deliveries");
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(state.range(0) == 0 ? "relay" : "signalfd");
}
BENCHMARK(BM_SignalsDelivery)->Arg(0)->Arg(1);

// The same into a reused vector: pending(std::vector&), no allocation per delivery.
void BM_SignalsDeliveryReuse(benchmark::State& state) {
  const auto kind = state.range(0) == 0 ? sigrelay::backend::relay : sigrelay::backend::signalfd;
  sigrelay::signals s({SIGUSR1}, kind);
  if (kind == sigrelay::backend::relay) unblock(SIGUSR1);
  std::vector<sigrelay::signal_event> events;
  std::uint64_t got = 0;
  for (auto _ : state) {
    send_self(SIGUSR1);
    s.pending(events);
    for (const auto& e : events) got += e.count;
  }
  if (got != static_cast<std::uint64_t>(state.iterations())) state.SkipWithError("lost deliveries");
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(state.range(0) == 0 ? "relay, pending(vector&)" : "signalfd, pending(vector&)");
}
BENCHMARK(BM_SignalsDeliveryReuse)->Arg(0)->Arg(1);

// A realtime delivery (sigqueue-style, with a value) through the ring, into a reused vector.
void BM_SignalsRealtimeDeliveryReuse(benchmark::State& state) {
  const auto kind = state.range(0) == 0 ? sigrelay::backend::relay : sigrelay::backend::signalfd;
  const int signo = SIGRTMIN + 1;
  sigrelay::signals s({signo}, kind);
  if (kind == sigrelay::backend::relay) unblock(signo);
  std::vector<sigrelay::signal_event> events;
  std::uint64_t got = 0;
  for (auto _ : state) {
    send_self(signo);
    s.pending(events);
    got += events.size();
  }
  if (got != static_cast<std::uint64_t>(state.iterations())) state.SkipWithError("lost deliveries");
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(state.range(0) == 0 ? "relay, realtime" : "signalfd, realtime");
}
BENCHMARK(BM_SignalsRealtimeDeliveryReuse)->Arg(0)->Arg(1);

// The native_handle() path: the eventfd is written by the handler (native_handle() was called), then
// poll() finds it readable and pending(std::vector&) drains it.
void BM_SignalsDeliveryPolled(benchmark::State& state) {
  const auto kind = state.range(0) == 0 ? sigrelay::backend::relay : sigrelay::backend::signalfd;
  sigrelay::signals s({SIGUSR1}, kind);
  if (kind == sigrelay::backend::relay) unblock(SIGUSR1);
  struct pollfd p {
    s.native_handle(), POLLIN, 0
  };
  std::vector<sigrelay::signal_event> events;
  std::uint64_t got = 0;
  for (auto _ : state) {
    send_self(SIGUSR1);
    if (::poll(&p, 1, 1000) != 1) state.SkipWithError("native_handle() not readable");
    s.pending(events);
    for (const auto& e : events) got += e.count;
  }
  if (got != static_cast<std::uint64_t>(state.iterations())) state.SkipWithError("lost deliveries");
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(state.range(0) == 0 ? "relay, poll(native_handle()) + pending(vector&)"
                                     : "signalfd, poll(native_handle()) + pending(vector&)");
}
BENCHMARK(BM_SignalsDeliveryPolled)->Arg(0)->Arg(1);

// A realtime delivery through the ring next to a second registry action on the signal (the path of
// the ping-pong harness and of any program with another subscriber).
void BM_SignalsRealtimeBesideAction(benchmark::State& state) {
  const int signo = SIGRTMIN + 1;
  sigrelay::signals s({signo});
  std::atomic<std::uint64_t> counted{0};
  const sigrelay::action_id other = sigrelay::add_action(signo, sigrelay::relay::add_count(counted));
  unblock(signo);
  std::vector<sigrelay::signal_event> events;
  std::uint64_t got = 0;
  for (auto _ : state) {
    send_self(signo);
    s.pending(events);
    got += events.size();
  }
  sigrelay::remove_action(other);
  if (got != static_cast<std::uint64_t>(state.iterations()) || counted.load() != got)
    state.SkipWithError("lost deliveries");
  state.SetItemsProcessed(state.iterations());
  state.SetLabel("relay, realtime, beside a counting action");
}
BENCHMARK(BM_SignalsRealtimeBesideAction);

// wait() with a signal already pending (returns at once): range(1) 0 = wait() returning a vector,
// 1 = wait(std::vector&).
void BM_SignalsWaitPending(benchmark::State& state) {
  const auto kind = state.range(0) == 0 ? sigrelay::backend::relay : sigrelay::backend::signalfd;
  const bool reuse = state.range(1) == 1;
  sigrelay::signals s({SIGUSR1}, kind);
  if (kind == sigrelay::backend::relay) unblock(SIGUSR1);
  std::vector<sigrelay::signal_event> events;
  std::uint64_t got = 0;
  for (auto _ : state) {
    send_self(SIGUSR1);
    if (reuse) {
      s.wait(events);
      for (const auto& e : events) got += e.count;
    } else {
      for (const auto& e : s.wait()) got += e.count;
    }
  }
  if (got != static_cast<std::uint64_t>(state.iterations())) state.SkipWithError("lost deliveries");
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(std::string(state.range(0) == 0 ? "relay" : "signalfd") +
                 (reuse ? ", wait(vector&)" : ", wait()"));
}
BENCHMARK(BM_SignalsWaitPending)->Args({0, 0})->Args({0, 1})->Args({1, 0})->Args({1, 1});

// The range-for iterator, one delivery per step (a signal is pending before each ++).
void BM_SignalsIterator(benchmark::State& state) {
  const auto kind = state.range(0) == 0 ? sigrelay::backend::relay : sigrelay::backend::signalfd;
  sigrelay::signals s({SIGUSR1}, kind);
  if (kind == sigrelay::backend::relay) unblock(SIGUSR1);
  send_self(SIGUSR1);
  auto it = s.begin();
  std::uint64_t got = 0;
  for (auto _ : state) {
    got += it->count;
    send_self(SIGUSR1);
    ++it;
  }
  if (got != static_cast<std::uint64_t>(state.iterations())) state.SkipWithError("lost deliveries");
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(state.range(0) == 0 ? "relay, iterator" : "signalfd, iterator");
}
BENCHMARK(BM_SignalsIterator)->Arg(0)->Arg(1);
#endif

#ifdef BENCH_HAVE_SIGRELAY_DISPATCHER
// One delivery through the dispatcher: tgkill() to this thread, then run() until the callback's stop().
void BM_DispatcherDelivery(benchmark::State& state) {
  sigrelay::dispatcher d;
  std::uint64_t got = 0;
  d.on(SIGUSR1, [&](const sigrelay::signal_event& e) {
    got += e.count;
    d.stop();
  });
  unblock(SIGUSR1);
  for (auto _ : state) {
    send_self(SIGUSR1);
    d.run();
  }
  if (got != static_cast<std::uint64_t>(state.iterations())) state.SkipWithError("lost deliveries");
  state.SetItemsProcessed(state.iterations());
  state.SetLabel("dispatcher, run() to the callback");
}
BENCHMARK(BM_DispatcherDelivery);

// start(), then stop() and join(): the background thread's whole life, start() waiting until the
// thread runs (sigrelay/detail/settled_thread.hpp). A bare std::thread started and joined, for
// comparison, is BM_ThreadStartJoin.
void BM_DispatcherStartStop(benchmark::State& state) {
  sigrelay::dispatcher d;
  d.on(SIGUSR1, [](const sigrelay::signal_event&) {});
  for (auto _ : state) {
    d.start();
    d.stop();
    d.join();
  }
  state.SetLabel("dispatcher, start() + stop() + join()");
}
BENCHMARK(BM_DispatcherStartStop)->UseRealTime();

void BM_ThreadStartJoin(benchmark::State& state) {
  for (auto _ : state) std::thread([] {}).join();
  state.SetLabel("std::thread started and joined: the floor of the above");
}
BENCHMARK(BM_ThreadStartJoin)->UseRealTime();
#endif

}  // namespace

BENCHMARK_MAIN();
