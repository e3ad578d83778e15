// SPDX-License-Identifier: MIT
// tests/misuse_test.cc — bad input and misuse (issue 8, items 13 and 16-20): stop signals emulated
// as the kernel stops, absurd ring capacities, moved-from and closed objects, unknown signal names,
// huge timeouts, empty callbacks. Every test that sends a signal runs in its own child process.
#include <gtest/gtest.h>

#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "sigrelay/dispatcher.hpp"
#include "sigrelay/registry.hpp"
#include "sigrelay/relays.hpp"
#include "sigrelay/signals.hpp"
#include "support/child.hpp"
#include "support/events.hpp"
#include "support/platform.hpp"

namespace {

using namespace std::chrono_literals;
using namespace sigrelay;
using sigrelay::test::describe_status;
using sigrelay::test::exited_with;
using sigrelay::test::total;

// ---------------------------------------------------------------------------------------------------
// Helpers

struct sigaction disposition(int signo) {
  struct sigaction sa {};
  sigaction(signo, nullptr, &sa);
  return sa;
}

// Same handler, flags and mask: what the kernel would act on.
bool same_disposition(const struct sigaction& a, const struct sigaction& b) {
  if (a.sa_handler != b.sa_handler || a.sa_flags != b.sa_flags) return false;
  for (int signo = 1; signo < NSIG; ++signo) {
    if (sigismember(&a.sa_mask, signo) != sigismember(&b.sa_mask, signo)) return false;
  }
  return true;
}

bool blocked(int signo) {
  sigset_t now;
  pthread_sigmask(SIG_BLOCK, nullptr, &now);
  return sigismember(&now, signo) == 1;
}

// A child process forked from the test's own child, which the test waits for with WUNTRACED (it is
// expected to stop). Whatever happens, it is killed and reaped when the guard goes.
class stoppable_child {
 public:
  // `body`'s return value is the child's exit status (0: all its checks passed).
  explicit stoppable_child(const std::function<int()>& body) {
    std::fflush(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      alarm(30);  // a watchdog that also fires after a SIGCONT
      _exit(body());
    }
  }
  ~stoppable_child() {
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      int status = 0;
      while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
    }
  }
  stoppable_child(const stoppable_child&) = delete;
  stoppable_child& operator=(const stoppable_child&) = delete;

  pid_t pid() const { return pid_; }

  // The next stop or end of the child; -1 if neither came within `timeout_s` (the child is then
  // killed by the destructor).
  int next_status(unsigned timeout_s = 20) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    for (;;) {
      int status = 0;
      const pid_t r = waitpid(pid_, &status, WUNTRACED | WNOHANG);
      if (r == pid_) {
        if (!WIFSTOPPED(status)) reaped_ = true;
        return status;
      }
      if (r < 0 && errno != EINTR) return -1;
      if (std::chrono::steady_clock::now() >= deadline) return -1;
      usleep(1000);
    }
  }

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
};

testing::AssertionResult stopped_by(int status, int signo) {
  if (status != -1 && WIFSTOPPED(status) && WSTOPSIG(status) == signo) return testing::AssertionSuccess();
  return testing::AssertionFailure() << "child "
                                     << (status == -1 ? "neither stopped nor ended in time"
                                                      : describe_status(status))
                                     << ", expected stopped by " << signal_name(signo);
}

// Sends `signo` to the calling thread. pthread_kill() to oneself also gives ThreadSanitizer the
// intercepted call in which it runs a deferred handler (see tests/signals_test.cc).
void signal_self(int signo) { pthread_kill(pthread_self(), signo); }

// ---------------------------------------------------------------------------------------------------
// Item 13: emulate_default() stops as the kernel does.

// Each stop signal stops the process with its own number (not SIGSTOP), from ordinary code, whatever
// the signal's disposition and mask were, and both come back as they were once continued.
TEST(EmulateDefault, StopSignalsStopWithTheirOwnNumberAndRestoreDispositionAndMask) {
  SIGRELAY_IN_CHILD([] {
    stoppable_child child([]() -> int {
      // A group of its own whose parent is in another group of the same session: not orphaned,
      // whatever process group the test runner put us in.
      if (setpgid(0, 0) != 0) return 2;
      std::atomic<std::uint64_t> count{0};
      const action_id id = add_action(SIGTSTP, relay::add_count(count));
      struct sigaction before = disposition(SIGTSTP);
      relay::emulate_default(SIGTSTP);  // stop 1
      if (!same_disposition(before, disposition(SIGTSTP))) return 3;
      if (count.load() != 0) return 4;  // the kernel stopped us: no handler ran
      if (blocked(SIGTSTP)) return 5;

      sigset_t ttin;  // blocked by the caller: stays blocked
      sigemptyset(&ttin);
      sigaddset(&ttin, SIGTTIN);
      pthread_sigmask(SIG_BLOCK, &ttin, nullptr);
      before = disposition(SIGTTIN);
      relay::emulate_default(SIGTTIN);  // stop 2
      if (!blocked(SIGTTIN)) return 6;
      if (!same_disposition(before, disposition(SIGTTIN))) return 7;

      signal(SIGTTOU, SIG_IGN);  // ignored: the default action still stops, SIG_IGN comes back
      before = disposition(SIGTTOU);
      errno = EDOM;
      relay::emulate_default(SIGTTOU);  // stop 3
      if (errno != EDOM) return 8;
      if (!same_disposition(before, disposition(SIGTTOU))) return 9;

      if (!remove_action(id)) return 10;
      return 0;
    });
    ASSERT_GT(child.pid(), 0);
    for (const int signo : {SIGTSTP, SIGTTIN, SIGTTOU}) {
      ASSERT_TRUE(stopped_by(child.next_status(), signo));
      ASSERT_EQ(0, kill(child.pid(), SIGCONT));
    }
    EXPECT_TRUE(exited_with(child.next_status(), 0));
  });
}

// relay::default_action() as a registry action on SIGTSTP: the handler runs, then the process stops
// with SIGTSTP; once continued the trampoline is still installed, and a second SIGTSTP does it again.
TEST(EmulateDefault, DefaultActionOnSigtstpStopsWithSigtstpAndStaysInstalled) {
  SIGRELAY_IN_CHILD([] {
    stoppable_child child([]() -> int {
      if (setpgid(0, 0) != 0) return 2;
      std::atomic<std::uint64_t> count{0};
      const action_id counter = add_action(SIGTSTP, relay::add_count(count));
      const action_id stop = add_action(SIGTSTP, relay::default_action());
      const struct sigaction before = disposition(SIGTSTP);
      for (std::uint64_t i = 1; i <= 2; ++i) {
        signal_self(SIGTSTP);  // stops 1 and 2
        if (count.load() != i) return 3;
        if (!same_disposition(before, disposition(SIGTSTP))) return 4;
        if (blocked(SIGTSTP)) return 5;  // the handler's mask went with the handler
      }
      if (!remove_action(stop) || !remove_action(counter)) return 6;
      if (disposition(SIGTSTP).sa_handler != SIG_DFL) return 7;
      return 0;
    });
    ASSERT_GT(child.pid(), 0);
    for (int i = 0; i < 2; ++i) {
      ASSERT_TRUE(stopped_by(child.next_status(), SIGTSTP));
      ASSERT_EQ(0, kill(child.pid(), SIGCONT));
    }
    EXPECT_TRUE(exited_with(child.next_status(), 0));
  });
}

// In an orphaned process group the kernel discards SIGTSTP, SIGTTIN and SIGTTOU (nothing could
// continue the process): so does emulate_default(). The child calls setsid(): its new group's only
// member has its parent in another session, so the group is orphaned.
TEST(EmulateDefault, NothingStopsInAnOrphanedProcessGroup) {
  SIGRELAY_IN_CHILD([] {
    stoppable_child child([]() -> int {
      if (setsid() < 0) return 2;
      // The kernel itself first: with SIG_DFL, nothing happens (else the parent sees a stop).
      for (const int signo : {SIGTSTP, SIGTTIN, SIGTTOU}) signal_self(signo);
      for (const int signo : {SIGTSTP, SIGTTIN, SIGTTOU}) {
        const struct sigaction before = disposition(signo);
        relay::emulate_default(signo);  // returns at once
        if (!same_disposition(before, disposition(signo))) return 3;
        if (blocked(signo)) return 4;
      }
      std::atomic<std::uint64_t> count{0};
      const action_id counter = add_action(SIGTSTP, relay::add_count(count));
      const action_id stop = add_action(SIGTSTP, relay::default_action());
      const struct sigaction before = disposition(SIGTSTP);
      signal_self(SIGTSTP);  // a handler runs even in an orphaned group; its default_action discards
      if (count.load() != 1) return 5;
      if (!same_disposition(before, disposition(SIGTSTP))) return 6;
      if (!remove_action(stop) || !remove_action(counter)) return 7;
      return 0;
    });
    ASSERT_GT(child.pid(), 0);
    const int status = child.next_status();
    EXPECT_TRUE(exited_with(status, 0)) << "(a stop here is the bug: the group is orphaned)";
    if (status != -1 && WIFSTOPPED(status)) kill(child.pid(), SIGCONT);
  });
}

// ---------------------------------------------------------------------------------------------------
// Item 18: signal_name() of an unknown number is an empty, NUL-terminated view, never a null data().

TEST(Names, UnknownNumbersAreEmptyNulTerminatedViews) {
  for (const int signo : {0, -1, 32, 33, NSIG, 1000, std::numeric_limits<int>::min()}) {
    const std::string_view name = signal_name(signo);
    EXPECT_TRUE(name.empty()) << signo;
    ASSERT_NE(nullptr, name.data()) << signo;
    EXPECT_EQ('\0', name.data()[0]) << signo;
  }
  for (int signo = 1; signo <= SIGRTMAX; ++signo) {  // known names are C strings too
    const std::string_view name = signal_name(signo);
    ASSERT_NE(nullptr, name.data()) << signo;
    EXPECT_EQ('\0', name.data()[name.size()]) << signo;
    EXPECT_EQ(name.size(), std::strlen(name.data())) << signo;
  }
}

// ---------------------------------------------------------------------------------------------------
// Helpers for the `signals` tests

bool same_mask(const sigset_t& a, const sigset_t& b) {
  for (int signo = 1; signo < NSIG; ++signo) {
    if (sigismember(&a, signo) != sigismember(&b, signo)) return false;
  }
  return true;
}

sigset_t current_mask() {
  sigset_t now;
  pthread_sigmask(SIG_BLOCK, nullptr, &now);
  return now;
}

// Runs `fn`, expecting a std::system_error with `code` whose message contains every one of `words`.
testing::AssertionResult throws_system_error(const std::function<void()>& fn, std::errc code,
                                             const std::vector<std::string>& words) {
  try {
    fn();
  } catch (const std::system_error& e) {
    if (e.code() != std::make_error_code(code)) {
      return testing::AssertionFailure() << "wrong error code " << e.code() << ": " << e.what();
    }
    for (const std::string& w : words) {
      if (std::string(e.what()).find(w) == std::string::npos) {
        return testing::AssertionFailure() << "message \"" << e.what() << "\" does not name " << w;
      }
    }
    return testing::AssertionSuccess() << e.what();
  } catch (const std::exception& e) {
    return testing::AssertionFailure() << "threw something else: " << e.what();
  }
  return testing::AssertionFailure() << "did not throw";
}

class Misuse : public testing::TestWithParam<backend> {
 protected:
  void SetUp() override {
    if (GetParam() == backend::signalfd) SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the signalfd backend");
  }
  backend kind() const { return GetParam(); }
};

std::string backend_name(const testing::TestParamInfo<backend>& info) {
  return info.param == backend::relay ? "relay" : "signalfd";
}

INSTANTIATE_TEST_SUITE_P(Backends, Misuse, testing::Values(backend::relay, backend::signalfd), backend_name);

// Collects events until one of `signo` came, or 5 s passed.
std::vector<signal_event> collect(signals& sigs, int signo) {
  std::vector<signal_event> all;
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (total(all, signo) == 0 && std::chrono::steady_clock::now() < deadline) {
    for (auto& e : sigs.wait_for(50ms)) all.push_back(e);
  }
  return all;
}

// ---------------------------------------------------------------------------------------------------
// Item 16: absurd realtime capacities are refused before anything is touched.

TEST_P(Misuse, RealtimeCapacityAboveTheLimitIsRefusedBeforeAnythingChanges) {
  SIGRELAY_IN_CHILD(
      [this] {
        constexpr std::size_t kMax = signals_options::max_realtime_capacity;
        // kMax + 1 first: the code before the fix accepted it (and hung on the others).
        for (const std::size_t capacity :
             {kMax + 1, (std::size_t{1} << 63) + 1, std::numeric_limits<std::size_t>::max()}) {
          const struct sigaction before = disposition(SIGUSR1);
          const sigset_t mask = current_mask();
          EXPECT_TRUE(throws_system_error(
              [&] {
                signals sigs({SIGUSR1}, signals_options{kind(), capacity});
              },
              std::errc::invalid_argument, {std::to_string(capacity), std::to_string(kMax)}))
              << capacity;
          EXPECT_TRUE(same_disposition(before, disposition(SIGUSR1)));
          EXPECT_TRUE(same_mask(mask, current_mask()));
        }
        // The limit itself is accepted (no realtime signal here, so no ring is allocated).
        signals at_limit({SIGUSR1}, signals_options{kind(), kMax});
        signal_self(SIGUSR1);
        EXPECT_EQ(1U, total(collect(at_limit, SIGUSR1), SIGUSR1));
      },
      10);
}

// ---------------------------------------------------------------------------------------------------
// Item 17: a moved-from object behaves as closed.

TEST_P(Misuse, AMovedFromObjectBehavesAsClosed) {
  SIGRELAY_IN_CHILD([this] {
    signals a({SIGUSR1}, kind());
    const signals::handle old_handle = a.get_handle();
    signals b(std::move(a));

    // NOLINTBEGIN(bugprone-use-after-move): that is the point
    EXPECT_TRUE(a.is_closed());
    EXPECT_TRUE(a.pending().empty());
    EXPECT_TRUE(a.wait().empty());
    EXPECT_TRUE(a.wait_for(0ns).empty());
    EXPECT_TRUE(a.wait_for(1h).empty());
    EXPECT_TRUE(a.wait_until(std::chrono::steady_clock::now() + 1h).empty());
    EXPECT_EQ(-1, a.native_handle());
    EXPECT_EQ(0U, a.dropped());
    EXPECT_EQ(0U, a.dropped(SIGUSR1));
    EXPECT_EQ(backend::relay, a.backend());
    signals::handle h = a.get_handle();
    EXPECT_TRUE(h.is_closed());
    h.close();  // nothing to close: no effect
    int iterations = 0;
    for (const signal_event& e : a) {
      (void)e;
      ++iterations;
    }
    EXPECT_EQ(0, iterations);

    const struct sigaction usr2 = disposition(SIGUSR2);
    const sigset_t mask = current_mask();
    EXPECT_TRUE(throws_system_error([&] { a.add(SIGUSR2); }, std::errc::bad_file_descriptor,
                                    {"SIGUSR2", "moved from"}));
    EXPECT_TRUE(same_disposition(usr2, disposition(SIGUSR2)));
    EXPECT_TRUE(same_mask(mask, current_mask()));
    const struct sigaction usr1 = disposition(SIGUSR1);
    a.remove(SIGUSR1);  // no-op: b's subscription stays
    EXPECT_TRUE(same_disposition(usr1, disposition(SIGUSR1)));
    // NOLINTEND(bugprone-use-after-move)

    // The new owner has it all, the old handle included.
    EXPECT_FALSE(b.is_closed());
    EXPECT_FALSE(old_handle.is_closed());
    EXPECT_EQ(kind(), b.backend());
    signal_self(SIGUSR1);
    EXPECT_EQ(1U, total(collect(b, SIGUSR1), SIGUSR1));

    // Assigning to a moved-from object brings it back to life.
    a = signals({SIGUSR2}, kind());
    EXPECT_FALSE(a.is_closed());
    EXPECT_NE(-1, a.native_handle());
    signal_self(SIGUSR2);
    EXPECT_EQ(1U, total(collect(a, SIGUSR2), SIGUSR2));
    a = std::move(b);  // a's SIGUSR2 goes, b's SIGUSR1 moves in; b is moved-from again
    EXPECT_EQ(SIG_DFL, disposition(SIGUSR2).sa_handler);
    EXPECT_TRUE(b.is_closed());  // NOLINT(bugprone-use-after-move)
    signal_self(SIGUSR1);
    EXPECT_EQ(1U, total(collect(a, SIGUSR1), SIGUSR1));
  });
}

// ---------------------------------------------------------------------------------------------------
// Item 19: huge timeouts wait forever; none overflows.

using waiter = std::function<std::vector<signal_event>(signals&)>;

std::vector<std::pair<const char*, waiter>> forever_waiters() {
  using std::chrono::steady_clock;
  using std::chrono::system_clock;
  using hours_point = std::chrono::time_point<system_clock, std::chrono::hours>;
  return {
      {"wait_for(hours::max())", [](signals& s) { return s.wait_for(std::chrono::hours::max()); }},
      {"wait_for(seconds::max())", [](signals& s) { return s.wait_for(std::chrono::seconds::max()); }},
      {"wait_for(nanoseconds::max())",
       [](signals& s) { return s.wait_for(std::chrono::nanoseconds::max()); }},
      {"wait_for(duration<double>::max())",
       [](signals& s) { return s.wait_for(std::chrono::duration<double>::max()); }},
      {"wait_until(steady_clock max)",
       [](signals& s) { return s.wait_until(steady_clock::time_point::max()); }},
      {"wait_until(system_clock max)",
       [](signals& s) { return s.wait_until(system_clock::time_point::max()); }},
      {"wait_until(system_clock hours max)", [](signals& s) { return s.wait_until(hours_point::max()); }},
  };
}

TEST_P(Misuse, HugeTimeoutsWaitUntilASignalArrives) {
  SIGRELAY_IN_CHILD([this] {
    signals sigs({SIGUSR1}, kind());
    const pthread_t self = pthread_self();
    for (const auto& [name, wait] : forever_waiters()) {
      // Directed at this thread: the one that waits (and, for signalfd, blocks and reads it).
      std::thread sender([self] {
        usleep(300 * 1000);
        pthread_kill(self, SIGUSR1);
      });
      const std::vector<signal_event> events = wait(sigs);
      sender.join();
      EXPECT_EQ(1U, total(events, SIGUSR1)) << name << " returned before the signal came";
      sigs.pending();  // the late signal of a waiter that returned early, if any: not the next one's
    }
  });
}

TEST_P(Misuse, HugeTimeoutsWaitUntilClosed) {
  SIGRELAY_IN_CHILD([this] {
    for (const auto& [name, wait] : forever_waiters()) {
      signals sigs({SIGUSR1}, kind());
      std::thread closer([h = sigs.get_handle()]() mutable {
        usleep(300 * 1000);
        h.close();
      });
      const std::vector<signal_event> events = wait(sigs);
      const bool closed_on_return = sigs.is_closed();
      closer.join();
      EXPECT_TRUE(events.empty()) << name;
      EXPECT_TRUE(closed_on_return) << name << " returned before close()";
    }
  });
}

// Zero, negative and past deadlines poll once, with no overflow either, and still hand out events.
TEST_P(Misuse, PastDeadlinesPollOnce) {
  SIGRELAY_IN_CHILD([this] {
    using std::chrono::steady_clock;
    using std::chrono::system_clock;
    using hours_point = std::chrono::time_point<system_clock, std::chrono::hours>;
    signals sigs({SIGUSR1}, kind());
    EXPECT_TRUE(sigs.wait_for(std::chrono::hours::min()).empty());
    EXPECT_TRUE(sigs.wait_for(std::chrono::nanoseconds::min()).empty());
    EXPECT_TRUE(sigs.wait_for(-std::chrono::duration<double>::max()).empty());
    EXPECT_TRUE(sigs.wait_until(steady_clock::time_point::min()).empty());
    EXPECT_TRUE(sigs.wait_until(system_clock::time_point::min()).empty());
    EXPECT_TRUE(sigs.wait_until(hours_point::min()).empty());
    EXPECT_TRUE(sigs.wait_until(steady_clock::now() - 1s).empty());
    signal_self(SIGUSR1);
    EXPECT_EQ(1U, total(sigs.wait_until(steady_clock::time_point::min()), SIGUSR1));
  });
}

// ---------------------------------------------------------------------------------------------------
// Item 20: add() on a closed object and an empty dispatcher callback are refused, changing nothing.

TEST_P(Misuse, AddOnAClosedObjectThrowsAndChangesNothing) {
  SIGRELAY_IN_CHILD([this] {
    signals sigs({SIGUSR1}, kind());
    sigs.get_handle().close();
    const struct sigaction usr1 = disposition(SIGUSR1);
    const struct sigaction usr2 = disposition(SIGUSR2);
    const sigset_t mask = current_mask();
    EXPECT_TRUE(throws_system_error([&] { sigs.add(SIGUSR2); }, std::errc::bad_file_descriptor,
                                    {"SIGUSR2", "closed"}));
    EXPECT_TRUE(throws_system_error([&] { sigs.add(SIGUSR1); }, std::errc::bad_file_descriptor,
                                    {"SIGUSR1", "closed"}));
    EXPECT_TRUE(same_disposition(usr2, disposition(SIGUSR2)));
    EXPECT_TRUE(same_disposition(usr1, disposition(SIGUSR1)));
    EXPECT_TRUE(same_mask(mask, current_mask()));
    EXPECT_EQ(SIG_DFL, disposition(SIGUSR2).sa_handler);
    // remove() still works on a closed object: the disposition comes back.
    sigs.remove(SIGUSR1);
    EXPECT_EQ(SIG_DFL, disposition(SIGUSR1).sa_handler);
  });
}

TEST_P(Misuse, AnEmptyDispatcherCallbackIsRefusedAndChangesNothing) {
  SIGRELAY_IN_CHILD(
      [this] {
        dispatcher d(kind());
        const struct sigaction usr1 = disposition(SIGUSR1);
        const sigset_t mask = current_mask();
        EXPECT_TRUE(
            throws_system_error([&] { d.on(SIGUSR1, nullptr); }, std::errc::invalid_argument, {"SIGUSR1"}));
        EXPECT_TRUE(throws_system_error([&] { d.on(SIGUSR1, dispatcher::callback{}); },
                                        std::errc::invalid_argument, {"SIGUSR1"}));
        EXPECT_TRUE(same_disposition(usr1, disposition(SIGUSR1)));
        EXPECT_TRUE(same_mask(mask, current_mask()));

        // Replacing a callback by an empty one is refused too: the old one stays and runs.
        int calls = 0;
        d.on(SIGUSR2, [&](const signal_event&) {
          ++calls;
          d.stop();
        });
        const struct sigaction usr2 = disposition(SIGUSR2);
        const sigset_t mask2 = current_mask();
        ASSERT_TRUE(
            throws_system_error([&] { d.on(SIGUSR2, nullptr); }, std::errc::invalid_argument, {"SIGUSR2"}));
        EXPECT_TRUE(same_disposition(usr2, disposition(SIGUSR2)));
        EXPECT_TRUE(same_mask(mask2, current_mask()));
        signal_self(SIGUSR2);
        d.run();  // until the callback stops it
        EXPECT_EQ(1, calls);
      },
      10);
}

}  // namespace
