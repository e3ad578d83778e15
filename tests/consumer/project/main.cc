// A C++17 program using sigrelay's core from outside the project: add an action, raise the signal,
// see it run, remove it and see the previous disposition back. Prints OK and exits 0 on success.
#include <atomic>
#include <csignal>
#include <cstdint>
#include <cstdio>

#include <sigrelay/registry.hpp>
#include <sigrelay/relays.hpp>
#include <sigrelay/signals.hpp>

static_assert(__cplusplus == 201703L, "the consumer is compiled as C++17");

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
