// SPDX-License-Identifier: MIT
// tests/describe_test.cc — describe(), describe_all(), check_ownership(), ownership_watch.
//
// Each test runs in a forked child (SIGRELAY_IN_CHILD) that starts from SIG_DFL everywhere and an
// empty mask, sets what it relies on, and sends real signals to itself with kill()/tgkill().
// The test program is linked with -rdynamic (ENABLE_EXPORTS), so dladdr() names its functions.
#include <gtest/gtest.h>
#include <pthread.h>
#include <sigrelay.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "sigrelay/describe.hpp"
#include "sigrelay/relays.hpp"
#include "sigrelay/signals.hpp"
#include "support/child.hpp"
#include "support/dispositions.hpp"
#include "support/platform.hpp"

namespace {

std::atomic<int> g_foreign_calls{0};
std::atomic<int> g_other_calls{0};

}  // namespace

// Exported (extern "C", -rdynamic) so that dladdr() finds their names. Signal context: one
// lock-free atomic increment each.
extern "C" void describe_test_foreign_handler(int) { g_foreign_calls.fetch_add(1); }
extern "C" void describe_test_other_handler(int, siginfo_t*, void*) { g_other_calls.fetch_add(1); }
extern "C" void describe_test_c_action(void*, const siginfo_t*) {}

namespace {

using sigrelay::test::install_handler;
using sigrelay::test::install_siginfo;
using sigrelay::test::run_in_child;

// Waits (generously, for a loaded machine under TSan) until `done` holds; sleeping is an intercepted
// call, so TSan runs its deferred handlers meanwhile.
template <typename F>
bool eventually(F done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    const struct timespec pause { 0, 1000000 };
    ::nanosleep(&pause, nullptr);
  }
  return true;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST(Describe, UntouchedSignalsAreDefaultOrIgnored) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::signal_description d = sigrelay::describe(SIGUSR1);
    EXPECT_EQ(d.signo, SIGUSR1);
    EXPECT_EQ(d.name, "SIGUSR1");
    EXPECT_EQ(d.current.what, sigrelay::disposition::kind::default_action);
    EXPECT_FALSE(d.registered);
    EXPECT_FALSE(d.replaced);
    EXPECT_FALSE(d.chained.has_value());
    EXPECT_TRUE(d.actions.empty());
    EXPECT_EQ(to_string(d.current), "SIG_DFL");
    install_handler(SIGUSR1, SIG_IGN, 0);
    d = sigrelay::describe(SIGUSR1);
    EXPECT_EQ(d.current.what, sigrelay::disposition::kind::ignore);
    EXPECT_EQ(to_string(d.current), "SIG_IGN");
    // SIGKILL is described too, and is always SIG_DFL.
    EXPECT_EQ(sigrelay::describe(SIGKILL).current.what, sigrelay::disposition::kind::default_action);
  });
}

TEST(Describe, ForeignHandlerResolvedToModuleAndSymbolWithFlagsAndMask) {
  SIGRELAY_IN_CHILD([] {
    install_handler(SIGUSR1, describe_test_foreign_handler, SA_RESTART | SA_NODEFER, {SIGINT, SIGTERM});
    const sigrelay::signal_description d = sigrelay::describe(SIGUSR1);
    ASSERT_EQ(d.current.what, sigrelay::disposition::kind::handler);
    EXPECT_FALSE(d.current.trampoline);
    EXPECT_TRUE(d.current.handler.mapped);
    EXPECT_EQ(d.current.handler.symbol, "describe_test_foreign_handler");
    EXPECT_EQ(d.current.handler.offset, 0U);
    EXPECT_TRUE(contains(d.current.handler.module, "describe_test")) << d.current.handler.module;
    EXPECT_EQ(d.current.flags & (SA_RESTART | SA_NODEFER | SA_SIGINFO), SA_RESTART | SA_NODEFER);
    EXPECT_EQ(sigismember(&d.current.mask, SIGINT), 1);
    EXPECT_EQ(sigismember(&d.current.mask, SIGTERM), 1);
    EXPECT_EQ(sigismember(&d.current.mask, SIGHUP), 0);
    const std::string text = to_string(d.current);
    EXPECT_TRUE(contains(text, "describe_test_foreign_handler")) << text;
    EXPECT_TRUE(contains(text, "SA_RESTART|SA_NODEFER")) << text;
    EXPECT_TRUE(contains(text, "mask {SIGINT, SIGTERM}")) << text;
  });
}

TEST(Describe, RegisteredSignalShowsTrampolineChainAndActionKinds) {
  SIGRELAY_IN_CHILD([] {
    install_handler(SIGUSR1, describe_test_foreign_handler, SA_RESTART, {SIGINT});
    std::atomic<bool> flag{false};
    std::atomic<std::uint64_t> count{0};
    const sigrelay::action_id a = sigrelay::add_action(SIGUSR1, sigrelay::relay::set_flag(flag));
    const sigrelay::action_id b = sigrelay::add_action(SIGUSR1, sigrelay::relay::add_count(count), {false});
    sigrelay::signals sigs{SIGUSR1};
    sigrelay_action_id c{};
    int c_context = 0;
    ASSERT_EQ(sigrelay_add_action(SIGUSR1, describe_test_c_action, &c_context, nullptr, &c), 0);

    const sigrelay::signal_description d = sigrelay::describe(SIGUSR1);
    EXPECT_TRUE(d.registered);
    EXPECT_FALSE(d.replaced);
    ASSERT_EQ(d.current.what, sigrelay::disposition::kind::handler);
    EXPECT_TRUE(d.current.trampoline);
    EXPECT_TRUE(d.current.handler.mapped);
    EXPECT_TRUE(contains(d.current.handler.symbol, "trampoline")) << d.current.handler.symbol;
    EXPECT_NE(d.current.flags & SA_ONSTACK, 0);
    EXPECT_EQ(d.current.flags & SA_RESTART, 0);  // one action (b) asked for no SA_RESTART
    ASSERT_TRUE(d.chained.has_value());
    EXPECT_EQ(d.chained->handler.symbol, "describe_test_foreign_handler");
    EXPECT_EQ(sigismember(&d.chained->mask, SIGINT), 1);
    using k = sigrelay::action_description::kind;
    ASSERT_EQ(d.actions.size(), 4U);
    EXPECT_EQ(d.actions[0].what, k::set_flag);
    EXPECT_EQ(d.actions[0].id, a);
    EXPECT_EQ(d.actions[0].context, static_cast<const void*>(&flag));
    EXPECT_EQ(d.actions[1].what, k::add_count);
    EXPECT_EQ(d.actions[1].id, b);
    EXPECT_FALSE(d.actions[1].restart);
    EXPECT_EQ(d.actions[2].what, k::signals);
    EXPECT_EQ(d.actions[3].what, k::c_action);
    EXPECT_EQ(d.actions[3].function.symbol, "describe_test_c_action");
    EXPECT_EQ(d.actions[3].context, static_cast<const void*>(&c_context));  // the C context, not our box
    EXPECT_EQ(d.unmapped_actions, 0U);
    const std::string text = to_string(d);
    EXPECT_TRUE(contains(text, "SIGUSR1: sigrelay trampoline")) << text;
    EXPECT_TRUE(contains(text, "chains: handler")) << text;
    EXPECT_TRUE(contains(text, "actions: 4")) << text;
    EXPECT_TRUE(contains(text, "C action")) << text;
    std::ostringstream streamed;
    streamed << d;
    EXPECT_EQ(streamed.str(), text);

    // What describe() says is what happens on a real delivery: the chained handler, then the actions.
    ASSERT_EQ(::kill(::getpid(), SIGUSR1), 0);
    EXPECT_TRUE(eventually([&] { return flag.load() && count.load() == 1 && g_foreign_calls.load() == 1; }));
    EXPECT_EQ(sigs.pending().size(), 1U);
    EXPECT_EQ(sigrelay_remove_action(c), 1);
    EXPECT_TRUE(sigrelay::remove_action(a));
    EXPECT_TRUE(sigrelay::remove_action(b));
  });
}

TEST(Describe, BlockedAndPendingInThreadAndProcess) {
  SIGRELAY_IN_CHILD([] {
    install_handler(SIGUSR2, describe_test_foreign_handler, 0);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    ASSERT_EQ(::pthread_sigmask(SIG_BLOCK, &set, nullptr), 0);
    sigrelay::signal_description d = sigrelay::describe(SIGUSR2);
    EXPECT_TRUE(d.blocked_in_thread);
    EXPECT_FALSE(d.pending_in_thread);
    EXPECT_FALSE(d.pending_in_process);
    EXPECT_GE(d.threads, 1U);
    EXPECT_GE(d.threads_blocking, 1U);
    // Directed at this thread: pending for it, not for the process.
    ASSERT_EQ(::syscall(SYS_tgkill, ::getpid(), ::gettid(), SIGUSR2), 0);
    d = sigrelay::describe(SIGUSR2);
    EXPECT_TRUE(d.pending_in_thread);
    EXPECT_FALSE(d.pending_in_process);
    // Directed at the process.
    ASSERT_EQ(::kill(::getpid(), SIGUSR2), 0);
    d = sigrelay::describe(SIGUSR2);
    EXPECT_TRUE(d.pending_in_process);
    EXPECT_TRUE(contains(to_string(d), "pending: this thread, process")) << to_string(d);
    // Consume both, so nothing is left pending.
    const struct timespec zero {};
    EXPECT_EQ(::sigtimedwait(&set, nullptr, &zero), SIGUSR2);
    EXPECT_EQ(::sigtimedwait(&set, nullptr, &zero), SIGUSR2);
    d = sigrelay::describe(SIGUSR2);
    EXPECT_FALSE(d.pending_in_thread);
    EXPECT_FALSE(d.pending_in_process);
  });
}

TEST(Describe, BadNumbersAreRefusedWithTheSignalInTheMessage) {
  for (const int bad : {0, -1, SIGRTMAX + 1, 100000}) {
    try {
      (void)sigrelay::describe(bad);
      ADD_FAILURE() << "describe(" << bad << ") did not throw";
    } catch (const std::system_error& e) {
      EXPECT_EQ(e.code(), std::errc::invalid_argument);
      EXPECT_TRUE(contains(e.what(), std::to_string(bad))) << e.what();
    }
    std::error_code ec;
    (void)sigrelay::describe(bad, ec);
    EXPECT_EQ(ec, std::errc::invalid_argument);
  }
  std::error_code ec = std::make_error_code(std::errc::io_error);
  EXPECT_EQ(sigrelay::describe(SIGINT, ec).name, "SIGINT");
  EXPECT_FALSE(ec);
}

TEST(Describe, AllCoversEveryNamedSignalInOrder) {
  const std::vector<sigrelay::signal_description> all = sigrelay::describe_all();
  std::vector<int> expected;
  for (int signo = 1; signo <= SIGRTMAX; ++signo) {
    if (!sigrelay::signal_name(signo).empty()) expected.push_back(signo);
  }
  ASSERT_EQ(all.size(), expected.size());
  for (std::size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i].signo, expected[i]);
  EXPECT_EQ(all.front().name, "SIGHUP");
}

TEST(Describe, FlagsAndSetsPrint) {
  EXPECT_EQ(sigrelay::flags_to_string(0), "0");
  EXPECT_EQ(sigrelay::flags_to_string(SA_SIGINFO | SA_RESTART), "SA_SIGINFO|SA_RESTART");
  EXPECT_EQ(sigrelay::flags_to_string(0x100), "0x100");
  sigset_t set;
  sigemptyset(&set);
  EXPECT_EQ(sigrelay::sigset_to_string(set), "{}");
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGRTMIN + 2);
  EXPECT_EQ(sigrelay::sigset_to_string(set), "{SIGHUP, SIGRTMIN+2}");
  sigfillset(&set);
  sigdelset(&set, SIGINT);
  EXPECT_EQ(sigrelay::sigset_to_string(set), "all but {SIGINT}");
  EXPECT_EQ(sigrelay::flags_to_string(0x04000000 | SA_ONSTACK), "SA_ONSTACK|SA_RESTORER");
}

TEST(Ownership, NothingReportedWhileSigrelayOwnsItsSignals) {
  SIGRELAY_IN_CHILD([] {
    std::atomic<bool> flag{false};
    const sigrelay::action_id id = sigrelay::add_action(SIGUSR1, sigrelay::relay::set_flag(flag));
    EXPECT_TRUE(sigrelay::check_ownership().empty());
    sigrelay::remove_action(id);
    EXPECT_TRUE(sigrelay::check_ownership().empty());
  });
}

TEST(Ownership, ReplacedHandlerIsReportedWithItsOwnerAndTheLossIsReal) {
  SIGRELAY_IN_CHILD([] {
    std::atomic<bool> flag{false};
    const sigrelay::action_id id = sigrelay::add_action(SIGUSR1, sigrelay::relay::set_flag(flag));
    struct sigaction ours {};
    ASSERT_EQ(::sigaction(SIGUSR1, nullptr, &ours), 0);
    install_siginfo(SIGUSR1, describe_test_other_handler);  // behind sigrelay's back, no chaining

    const std::vector<sigrelay::ownership_loss> losses = sigrelay::check_ownership();
    ASSERT_EQ(losses.size(), 1U);
    EXPECT_EQ(losses[0].signo, SIGUSR1);
    EXPECT_EQ(losses[0].name, "SIGUSR1");
    EXPECT_EQ(losses[0].actions, 1U);
    EXPECT_EQ(losses[0].now.handler.symbol, "describe_test_other_handler");
    const std::string text = to_string(losses[0]);
    EXPECT_TRUE(contains(text, "SIGUSR1: sigrelay's handler was replaced by")) << text;
    EXPECT_TRUE(contains(text, "describe_test_other_handler")) << text;
    const sigrelay::signal_description d = sigrelay::describe(SIGUSR1);
    EXPECT_TRUE(d.registered);
    EXPECT_TRUE(d.replaced);
    EXPECT_TRUE(contains(to_string(d), "REPLACED")) << to_string(d);

    // The loss is real: the new handler gets the signal, the action does not.
    ASSERT_EQ(::kill(::getpid(), SIGUSR1), 0);
    EXPECT_TRUE(eventually([] { return g_other_calls.load() == 1; }));
    EXPECT_FALSE(flag.load());

    // SIG_IGN over the trampoline is a loss too.
    install_handler(SIGUSR1, SIG_IGN, 0);
    ASSERT_EQ(sigrelay::check_ownership().size(), 1U);
    EXPECT_EQ(sigrelay::check_ownership()[0].now.what, sigrelay::disposition::kind::ignore);

    // Trampoline back: nothing to report.
    ASSERT_EQ(::sigaction(SIGUSR1, &ours, nullptr), 0);
    EXPECT_TRUE(sigrelay::check_ownership().empty());
    sigrelay::remove_action(id);
  });
}

TEST(Ownership, WatchReportsEachReplacementOnceThroughTheCallback) {
  SIGRELAY_IN_CHILD([] {
    std::mutex m;
    std::condition_variable cv;
    std::vector<sigrelay::ownership_loss> seen;
    std::atomic<bool> flag{false};
    const sigrelay::action_id id = sigrelay::add_action(SIGUSR2, sigrelay::relay::set_flag(flag));
    struct sigaction ours {};
    ASSERT_EQ(::sigaction(SIGUSR2, nullptr, &ours), 0);
    sigrelay::ownership_watch watch(
        [&](const sigrelay::ownership_loss& loss) {
          const std::lock_guard<std::mutex> lock(m);
          seen.push_back(loss);
          cv.notify_all();
        },
        std::chrono::milliseconds(5));
    EXPECT_GE(watch.checks(), 1U);  // the first check ran before the constructor returned
    {
      const std::lock_guard<std::mutex> lock(m);
      EXPECT_TRUE(seen.empty());
    }
    install_siginfo(SIGUSR2, describe_test_other_handler);
    {
      std::unique_lock<std::mutex> lock(m);
      ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(20), [&] { return !seen.empty(); }));
      EXPECT_EQ(seen[0].signo, SIGUSR2);
      EXPECT_EQ(seen[0].now.handler.symbol, "describe_test_other_handler");
    }
    // Several more checks: the same replacement is not reported again.
    const std::uint64_t later = watch.checks() + 3;
    EXPECT_TRUE(eventually([&] { return watch.checks() >= later; }));
    {
      const std::lock_guard<std::mutex> lock(m);
      EXPECT_EQ(seen.size(), 1U);
    }
    // Owned again, then replaced by SIG_IGN: reported again, once.
    ASSERT_EQ(::sigaction(SIGUSR2, &ours, nullptr), 0);
    const std::uint64_t after_restore = watch.checks() + 2;
    EXPECT_TRUE(eventually([&] { return watch.checks() >= after_restore; }));
    install_handler(SIGUSR2, SIG_IGN, 0);
    {
      std::unique_lock<std::mutex> lock(m);
      ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(20), [&] { return seen.size() >= 2; }));
      EXPECT_EQ(seen[1].now.what, sigrelay::disposition::kind::ignore);
    }
    watch.stop();
    const std::uint64_t stopped = watch.checks();
    const struct timespec pause { 0, 20000000 };
    ::nanosleep(&pause, nullptr);
    EXPECT_EQ(watch.checks(), stopped);
    sigrelay::remove_action(id);
  });
}

TEST(Ownership, WatchRefusesBadArguments) {
  EXPECT_THROW(sigrelay::ownership_watch(nullptr, std::chrono::milliseconds(10)), std::invalid_argument);
  EXPECT_THROW(
      sigrelay::ownership_watch([](const sigrelay::ownership_loss&) {}, std::chrono::milliseconds(0)),
      std::invalid_argument);
}

// A fork child's copy of a watch: stop() and the destructor there take no lock and make no pthread
// call on the parent's thread, whose pthread_t glibc hands to the child's next thread (a join would
// wait for it). The parent's watch goes on checking.
TEST(Ownership, AForkChildsWatchNeitherJoinsNorDetachesTheParentsThread) {
  SIGRELAY_IN_CHILD([] {
    auto watch = std::make_unique<sigrelay::ownership_watch>([](const sigrelay::ownership_loss&) {},
                                                             std::chrono::milliseconds(5));
    std::fflush(nullptr);
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      ::alarm(10);  // watchdog: a stop() that waits for the child's own thread
      std::atomic<bool> go{false};
      std::thread own;
      if (!SIGRELAY_TEST_UNDER_TSAN) {  // (no thread after a multi-threaded fork under TSan)
        own = std::thread([&] {
          while (!go.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        });
      }
      watch->stop();
      watch.reset();  // stops again: still no lock, no pthread call
      go.store(true);
      if (own.joinable()) own.join();  // still joinable, and joined once
      ::_exit(0);
    }
    EXPECT_TRUE(sigrelay::test::exited_with(sigrelay::test::wait_with_deadline(child, 30), 0));
    const std::uint64_t later = watch->checks() + 3;
    for (int i = 0; i < 5000 && watch->checks() < later; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    EXPECT_GE(watch->checks(), later);
  });
}

}  // namespace
