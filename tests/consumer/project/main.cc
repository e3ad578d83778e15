// SPDX-License-Identifier: MIT
// A C++17 program using sigrelay's core from outside the project: add an action, raise the signal,
// see it run, remove it and see the previous disposition back. Prints OK and exits 0 on success.
#include <atomic>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <string_view>

#include <sigrelay/registry.hpp>
#include <sigrelay/relays.hpp>
#include <sigrelay/signals.hpp>
#include <sigrelay/sigrelay.hpp>  // the umbrella header, with the version macros

#include "parts.hpp"

static_assert(__cplusplus == 201703L, "the consumer is compiled as C++17");
static_assert(SIGRELAY_VERSION_NUMBER ==
                  SIGRELAY_VERSION_MAJOR * 10000 + SIGRELAY_VERSION_MINOR * 100 + SIGRELAY_VERSION_PATCH,
              "<sigrelay/version.hpp>");
#if defined(SIGRELAY_HAS_TERMINATION)
#error "the umbrella header included the C++20 termination.hpp in C++17"
#endif

namespace {

int failures = 0;

void expect(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "consumer: FAILED: %s\n", what);
    ++failures;
  }
}

}  // namespace

int main() {
  // Known starting state: SIGUSR1 and SIGUSR2 at their defaults and unblocked.
  for (int signo : {SIGUSR1, SIGUSR2}) {
    std::signal(signo, SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, signo);
    sigprocmask(SIG_UNBLOCK, &set, nullptr);
  }

  std::atomic<bool> flag{false};
  std::atomic<std::uint64_t> count{0};
  const sigrelay::action_id set = sigrelay::add_action(SIGUSR1, sigrelay::relay::set_flag(flag));
  const sigrelay::action_id counted = sigrelay::add_action(SIGUSR1, sigrelay::relay::add_count(count));
  expect(static_cast<bool>(set) && static_cast<bool>(counted), "add_action returns valid ids");

  std::raise(SIGUSR1);
  std::raise(SIGUSR1);
  expect(flag.load(), "the set_flag action ran");
  expect(count.load() == 2, "the add_count action ran once per delivery");

  expect(sigrelay::remove_action(set), "remove_action of the flag");
  expect(sigrelay::remove_action(counted), "remove_action of the counter");
  expect(!sigrelay::remove_action(counted), "a second remove_action finds nothing");
  struct sigaction now {};
  sigaction(SIGUSR1, nullptr, &now);
  expect(now.sa_handler == SIG_DFL, "the default disposition is back");
  expect(sigrelay::signal_name(SIGUSR1) == "SIGUSR1", "signal_name");
  expect(consumer_signal_name(SIGUSR2) == "SIGUSR2", "signal_name through the consumer's own library");
#if defined(SIGRELAY_EXPECTED_VERSION)
  expect(std::string_view(SIGRELAY_VERSION) == SIGRELAY_EXPECTED_VERSION,
         "SIGRELAY_VERSION is the package's version");
#endif

  {
    sigrelay::signals sigs{SIGUSR2};
    std::raise(SIGUSR2);
    const std::vector<sigrelay::signal_event> events = sigs.pending();
    expect(events.size() == 1 && events[0].signo == SIGUSR2 && events[0].count == 1,
           "a signals object hands out the delivery");
  }

  if (failures != 0) return 1;
  std::puts("OK");
  return 0;
}
