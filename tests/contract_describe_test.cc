// SPDX-License-Identifier: MIT
// tests/contract_describe_test.cc — an audit of the promises of describe.hpp (describe(),
// check_ownership(), ownership_watch), of signal_name()/signal_number() (registry.hpp) and of the
// {fmt} formatters (fmt.hpp), aimed at what describe_test.cc and names_test.cc leave out.
//
// Each test quotes (in its comment) the promise it checks:
// - describe() of every int around the signal range: a clear error naming the number, or the
//   signal's description; never a crash. Foreign SA_RESETHAND/SA_NODEFER handlers with a mask, as
//   the disposition and as what sigrelay chains (a SA_RESETHAND one counts as SIG_DFL once called);
//   a handler installed over sigrelay's (replaced), and pass-through after the last action; every
//   action kind (C++ relays, the C API's relays, fd_relay, signals, dispatcher, other); threads that
//   block the signal; sigrelay's own changes never half-done while another thread adds and removes;
//   ignore()/reset() seen in what is chained.
// - check_ownership(): losses to signal(), sigaction(), SIG_DFL and SIG_IGN, reported every call;
//   none while other threads create and destroy objects and actions, nor while
//   relay::default_action() stops and the parent continues the process over and over.
// - ownership_watch: a loss that exists already is reported before the constructor returns, on the
//   watcher's thread; a new owner is reported again; stop() waits for a running callback and ends
//   the checks; destruction does not wait for the interval (however long); stop() from two threads;
//   a throwing callback ends the process; a fork() or _Fork() child's copy checks nothing; many
//   watches; a new subscriber meeting the same foreign handler after pass-through.
// - signal_name()/signal_number(): every number, NUL-terminated views, round trips of every name
//   in every documented spelling, refusals of near-misses, the C API's versions, from a handler.
// - fmt.hpp: "{}", fill/alignment/width, and every other spec a format error.
// Every test that touches signal state runs in a forked child under a watchdog (support/child.hpp).
#include <gtest/gtest.h>

#include <fcntl.h>
#include <pthread.h>
#include <sigrelay.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "sigrelay/describe.hpp"
#include "sigrelay/dispatcher.hpp"
#include "sigrelay/registry.hpp"
#include "sigrelay/relays.hpp"
#include "sigrelay/signals.hpp"
#if defined(SIGRELAY_TEST_FMT)
#include "sigrelay/fmt.hpp"
#endif
#include "support/child.hpp"
#include "support/dispositions.hpp"
#include "support/platform.hpp"
#include "support/signal_state.hpp"

namespace {

std::atomic<int> g_resethand_calls{0};
std::atomic<int> g_foreign_a_calls{0};
std::atomic<int> g_foreign_b_calls{0};

}  // namespace

// Exported (-rdynamic) so that dladdr() names them. Signal context: one lock-free increment each.
extern "C" void contract_describe_resethand(int) { g_resethand_calls.fetch_add(1); }
extern "C" void contract_describe_foreign_a(int) { g_foreign_a_calls.fetch_add(1); }
extern "C" void contract_describe_foreign_b(int, siginfo_t*, void*) { g_foreign_b_calls.fetch_add(1); }
extern "C" void contract_describe_other_action(void*, const siginfo_t&) noexcept {}

namespace {

using namespace std::chrono_literals;
using sigrelay::disposition;
using sigrelay::ownership_loss;
using sigrelay::ownership_watch;
using sigrelay::test::exited_with;
using sigrelay::test::install_handler;
using sigrelay::test::install_siginfo;
using sigrelay::test::killed_by;
using sigrelay::test::run_in_child;
using kind = sigrelay::action_description::kind;

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

template <typename F>
bool eventually(F done, std::chrono::seconds limit = 20s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

// Collects what an ownership_watch reports, with the thread it was reported on.
struct loss_log {
  std::mutex m;
  std::condition_variable cv;
  std::vector<ownership_loss> seen;
  std::vector<std::thread::id> threads;

  ownership_watch::callback callback() {
    return [this](const ownership_loss& loss) {
      const std::lock_guard<std::mutex> lock(m);
      seen.push_back(loss);
      threads.push_back(std::this_thread::get_id());
      cv.notify_all();
    };
  }
  std::size_t size() {
    const std::lock_guard<std::mutex> lock(m);
    return seen.size();
  }
  bool wait_for_size(std::size_t n) {
    std::unique_lock<std::mutex> lock(m);
    return cv.wait_for(lock, 20s, [&] { return seen.size() >= n; });
  }
};

// Waits until `watch` has completed `more` further checks.
bool more_checks(const ownership_watch& watch, std::uint64_t more) {
  const std::uint64_t target = watch.checks() + more;
  return eventually([&] { return watch.checks() >= target; });
}

// ---- describe() -------------------------------------------------------------------------------

// "Errors: std::system_error (std::errc::invalid_argument, with the signal in the message) for a
// number that names no signal (see signal_name()); the std::error_code overloads report the same.
// SIGKILL and SIGSTOP are described." Every int near the range, the C library's reserved numbers,
// NSIG and the extremes: an error naming the number exactly where signal_name() is "", else a
// description of that signal; and never a change of the process's signal state.
TEST(ContractDescribe, EveryNumberIsDescribedOrRefusedNamingIt) {
  SIGRELAY_IN_CHILD([] {
    const sigrelay::test::signal_state before = sigrelay::test::snapshot();
    std::vector<int> numbers{INT_MIN, INT_MIN + 1, -65,  -64,      -2,  -1,   0,
                             32,      33,          NSIG, NSIG + 1, 128, 1000, INT_MAX};
    for (int signo = 0; signo <= NSIG + 2; ++signo) numbers.push_back(signo);
    for (const int signo : numbers) {
      const bool named = !sigrelay::signal_name(signo).empty();
      std::error_code ec = std::make_error_code(std::errc::io_error);
      const sigrelay::signal_description quiet = sigrelay::describe(signo, ec);
      try {
        const sigrelay::signal_description d = sigrelay::describe(signo);
        EXPECT_TRUE(named) << signo << " was described as " << d.name;
        EXPECT_EQ(d.signo, signo);
        EXPECT_EQ(d.name, sigrelay::signal_name(signo));
        EXPECT_FALSE(ec) << signo;
        EXPECT_EQ(quiet.signo, signo);
        EXPECT_EQ(quiet.name, d.name);
      } catch (const std::system_error& e) {
        EXPECT_FALSE(named) << sigrelay::signal_name(signo) << " refused: " << e.what();
        EXPECT_EQ(e.code(), std::errc::invalid_argument) << signo;
        EXPECT_TRUE(contains(e.what(), std::to_string(signo))) << e.what();
        EXPECT_EQ(ec, std::errc::invalid_argument) << signo;
      }
    }
    EXPECT_EQ(sigrelay::describe(SIGSTOP).current.what, disposition::kind::default_action);
    EXPECT_EQ(sigrelay::describe(SIGSTOP).name, "SIGSTOP");
    EXPECT_EQ(sigrelay::describe(SIGRTMAX).name, "SIGRTMAX");
    EXPECT_EQ(sigrelay::describe(SIGRTMIN + 3).name, "SIGRTMIN+3");
    EXPECT_EQ(sigrelay::test::differences(before, sigrelay::test::snapshot()), "");
  });
}

// disposition: "flags: sa_flags as the kernel returned them; mask: sa_mask"; to_string: "handler
// <location> [flags] mask {...}". registry.hpp, Chaining: a chained handler with SA_RESETHAND is
// called "only once ... (then it counts as SIG_DFL ...)": describe()'s `chained` says so once it has
// had its call, while the trampoline stays installed.
TEST(ContractDescribe, ResetHandNoDeferHandlerAsDispositionAndAsChained) {
  SIGRELAY_IN_CHILD([] {
    install_handler(SIGUSR1, contract_describe_resethand, SA_RESETHAND | SA_NODEFER, {SIGTERM, SIGRTMIN + 1});
    sigrelay::signal_description d = sigrelay::describe(SIGUSR1);
    ASSERT_EQ(d.current.what, disposition::kind::handler);
    EXPECT_EQ(d.current.handler.symbol, "contract_describe_resethand");
    EXPECT_NE(d.current.flags & SA_RESETHAND, 0);
    EXPECT_NE(d.current.flags & SA_NODEFER, 0);
    const std::string text = to_string(d.current);
    EXPECT_TRUE(contains(text, "handler ")) << text;
    EXPECT_TRUE(contains(text, "SA_NODEFER|SA_RESETHAND")) << text;
    EXPECT_TRUE(contains(text, "mask {SIGTERM, SIGRTMIN+1}")) << text;

    std::atomic<std::uint64_t> count{0};
    const sigrelay::action_id id = sigrelay::add_action(SIGUSR1, sigrelay::relay::add_count(count));
    d = sigrelay::describe(SIGUSR1);
    EXPECT_TRUE(d.registered);
    EXPECT_TRUE(d.current.trampoline);
    ASSERT_TRUE(d.chained.has_value());
    EXPECT_EQ(d.chained->what, disposition::kind::handler);
    EXPECT_EQ(d.chained->handler.symbol, "contract_describe_resethand");
    EXPECT_NE(d.chained->flags & SA_RESETHAND, 0);
    EXPECT_EQ(sigismember(&d.chained->mask, SIGTERM), 1);

    ASSERT_EQ(::kill(::getpid(), SIGUSR1), 0);
    ASSERT_TRUE(eventually([&] { return count.load() == 1; }));
    EXPECT_EQ(g_resethand_calls.load(), 1);
    d = sigrelay::describe(SIGUSR1);
    EXPECT_TRUE(d.current.trampoline) << to_string(d);
    ASSERT_TRUE(d.chained.has_value());
    EXPECT_EQ(d.chained->what, disposition::kind::default_action) << to_string(d);
    ASSERT_EQ(::kill(::getpid(), SIGUSR1), 0);
    ASSERT_TRUE(eventually([&] { return count.load() == 2; }));
    EXPECT_EQ(g_resethand_calls.load(), 1);
    EXPECT_TRUE(sigrelay::remove_action(id));
    d = sigrelay::describe(SIGUSR1);
    EXPECT_FALSE(d.registered);
    EXPECT_EQ(d.current.what, disposition::kind::default_action);
  });
}

// registered: "it installed its trampoline and has not restored the earlier disposition since (it
// may be in pass-through)"; replaced: "registered, but the installed handler is not the
// trampoline". check_ownership(): "A signal whose actions are all gone (pass-through) is not
// reported". A foreign handler installed after sigrelay subscribed: replaced, actions still listed;
// after the last action: registered, replaced, no actions, and no loss.
TEST(ContractDescribe, HandlerInstalledOverSigrelayThenPassThrough) {
  SIGRELAY_IN_CHILD([] {
    std::atomic<bool> flag{false};
    const sigrelay::action_id id = sigrelay::add_action(SIGUSR2, sigrelay::relay::set_flag(flag));
    install_handler(SIGUSR2, contract_describe_foreign_a, SA_RESTART);
    sigrelay::signal_description d = sigrelay::describe(SIGUSR2);
    EXPECT_TRUE(d.registered);
    EXPECT_TRUE(d.replaced);
    EXPECT_FALSE(d.current.trampoline);
    EXPECT_EQ(d.current.handler.symbol, "contract_describe_foreign_a");
    ASSERT_TRUE(d.chained.has_value());
    EXPECT_EQ(d.chained->what, disposition::kind::default_action);
    ASSERT_EQ(d.actions.size(), 1U);
    EXPECT_EQ(d.actions[0].what, kind::set_flag);
    ASSERT_EQ(sigrelay::check_ownership().size(), 1U);

    EXPECT_TRUE(sigrelay::remove_action(id));
    d = sigrelay::describe(SIGUSR2);
    EXPECT_TRUE(d.registered) << to_string(d);
    EXPECT_TRUE(d.replaced) << to_string(d);
    EXPECT_TRUE(d.actions.empty());
    EXPECT_EQ(d.current.handler.symbol, "contract_describe_foreign_a");  // never overwritten
    EXPECT_TRUE(sigrelay::check_ownership().empty());
  });
}

// action_description::kind: each of sigrelay's own action functions is told apart, the C API's
// relays as the C++ relays they are, a C action as its C function and context, anything else as
// `other` resolved to its function; `restart` as given; in the order they run.
TEST(ContractDescribe, EveryActionKindIsClassified) {
  SIGRELAY_IN_CHILD([] {
    std::atomic<bool> flag{false};
    const int efd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    ASSERT_GE(efd, 0);
    sigrelay::relay::fd_relay wake(efd);
    int other_context = 0;
    std::vector<sigrelay::action_id> ids;
    ids.push_back(sigrelay::add_action(SIGHUP, sigrelay::relay::die_if_set(flag)));
    ids.push_back(sigrelay::add_action(SIGHUP, sigrelay::relay::default_if_set(flag)));
    ids.push_back(sigrelay::add_action(SIGHUP, sigrelay::relay::default_action(), {false}));
    ids.push_back(sigrelay::add_action(SIGHUP, wake.get()));
    ids.push_back(sigrelay::add_action(SIGHUP, {contract_describe_other_action, &other_context}));
    sigrelay_flag* cflag = nullptr;
    sigrelay_counter* ccount = nullptr;
    ASSERT_EQ(sigrelay_flag_create(&cflag), 0);
    ASSERT_EQ(sigrelay_counter_create(&ccount), 0);
    sigrelay_action_id c1{}, c2{};
    ASSERT_EQ(sigrelay_add_relay(SIGHUP, SIGRELAY_RELAY_SET_FLAG, cflag, nullptr, -1, nullptr, &c1), 0);
    ASSERT_EQ(sigrelay_add_relay(SIGHUP, SIGRELAY_RELAY_ADD_COUNT, nullptr, ccount, -1, nullptr, &c2), 0);
    {
      sigrelay::dispatcher disp;
      disp.on(SIGHUP, [](const sigrelay::signal_event&) {});
      const sigrelay::signal_description d = sigrelay::describe(SIGHUP);
      ASSERT_EQ(d.actions.size(), 8U) << to_string(d);
      EXPECT_EQ(d.actions[0].what, kind::die_if_set);
      EXPECT_EQ(d.actions[0].context, static_cast<const void*>(&flag));
      EXPECT_EQ(d.actions[1].what, kind::default_if_set);
      EXPECT_EQ(d.actions[2].what, kind::default_action);
      EXPECT_FALSE(d.actions[2].restart);
      EXPECT_TRUE(d.actions[1].restart);
      EXPECT_EQ(d.actions[3].what, kind::wake_fd);
      EXPECT_EQ(d.actions[4].what, kind::other);
      EXPECT_EQ(d.actions[4].function.symbol, "contract_describe_other_action");
      EXPECT_EQ(d.actions[4].context, static_cast<const void*>(&other_context));
      EXPECT_EQ(d.actions[5].what, kind::set_flag);
      EXPECT_EQ(d.actions[6].what, kind::add_count);
      EXPECT_EQ(d.actions[7].what, kind::signals);  // the dispatcher is built on signals
      for (std::size_t i = 0; i < d.actions.size(); ++i) {
        EXPECT_TRUE(d.actions[i].function.mapped) << i;
        EXPECT_EQ(d.actions[i].id.signal(), SIGHUP) << i;
      }
      for (std::size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(d.actions[i].id, ids[i]) << i;
      EXPECT_EQ(d.unmapped_actions, 0U);
      EXPECT_FALSE(d.current.flags & SA_RESTART) << "one action asked for no SA_RESTART";
      EXPECT_STREQ(to_string(kind::other), "function");
      const std::string text = to_string(d);
      for (const char* k :
           {"relay::die_if_set", "relay::default_if_set", "relay::default_action", "fd_relay",
            "contract_describe_other_action", "relay::set_flag", "relay::add_count", "signals"}) {
        EXPECT_TRUE(contains(text, k)) << k << " in " << text;
      }
      EXPECT_TRUE(contains(text, "(no SA_RESTART)")) << text;
    }
    EXPECT_EQ(sigrelay_remove_action(c1), 1);
    EXPECT_EQ(sigrelay_remove_action(c2), 1);
    for (const sigrelay::action_id id : ids) EXPECT_TRUE(sigrelay::remove_action(id));
    EXPECT_FALSE(sigrelay::describe(SIGHUP).registered);
    sigrelay_flag_destroy(cflag);
    sigrelay_counter_destroy(ccount);
    ::close(efd);
  });
}

// "threads: threads of the process (/proc/self/task); threads_blocking: of which block it (their
// SigBlk)"; blocked_in_thread is the calling thread's mask only.
TEST(ContractDescribe, ThreadsThatBlockTheSignalAreCounted) {
  SIGRELAY_IN_CHILD([] {
    // A sanitizer's runtime may start a thread of its own (blocking everything) with the first
    // thread of the program: count from after that.
    std::thread([] {}).join();
    const sigrelay::signal_description base = sigrelay::describe(SIGRTMIN + 2);
    std::mutex m;
    std::condition_variable cv;
    int ready = 0;
    bool go = false;
    std::vector<std::thread> threads;
    for (int i = 0; i < 3; ++i) {
      threads.emplace_back([&, i] {
        if (i < 2) {
          sigset_t set;
          sigemptyset(&set);
          sigaddset(&set, SIGRTMIN + 2);
          pthread_sigmask(SIG_BLOCK, &set, nullptr);
        }
        std::unique_lock<std::mutex> lock(m);
        ++ready;
        cv.notify_all();
        cv.wait(lock, [&] { return go; });
      });
    }
    {
      std::unique_lock<std::mutex> lock(m);
      cv.wait(lock, [&] { return ready == 3; });
    }
    const sigrelay::signal_description d = sigrelay::describe(SIGRTMIN + 2);
    EXPECT_FALSE(d.blocked_in_thread);
    EXPECT_EQ(d.threads, base.threads + 3);
    EXPECT_EQ(d.threads_blocking, base.threads_blocking + 2);
    {
      const std::lock_guard<std::mutex> lock(m);
      go = true;
    }
    cv.notify_all();
    for (std::thread& t : threads) t.join();
  });
}

// "the registry's own part — registered, chained, actions, and `current` — is read under the
// registry's lock, so sigrelay's own changes never show half-done in it". While another thread adds
// and removes the first and last action of a signal over and over (so the trampoline goes in and
// out), every description is whole: actions listed exactly while registered, the trampoline
// installed exactly then, and never a replacement or loss reported.
TEST(ContractDescribe, ConcurrentAddRemoveNeverShowsHalfDone) {
  SIGRELAY_IN_CHILD([] {
    install_handler(SIGUSR1, contract_describe_foreign_a, 0);
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> rounds{0};
    std::thread churn([&] {
      std::atomic<bool> flag{false};
      while (!stop.load()) {
        const sigrelay::action_id id = sigrelay::add_action(SIGUSR1, sigrelay::relay::set_flag(flag));
        { sigrelay::signals sigs{SIGUSR1, SIGUSR2}; }
        sigrelay::remove_action(id);
        rounds.fetch_add(1);
      }
    });
    std::vector<std::thread> readers;
    std::atomic<int> bad{0};
    for (int r = 0; r < 2; ++r) {
      readers.emplace_back([&] {
        for (int i = 0; i < 400; ++i) {
          const sigrelay::signal_description d = sigrelay::describe(SIGUSR1);
          const bool ok = d.registered
                              ? (d.current.trampoline && !d.replaced && !d.actions.empty() && d.chained &&
                                 d.chained->handler.symbol == "contract_describe_foreign_a")
                              : (!d.current.trampoline && d.actions.empty() && !d.chained &&
                                 d.current.handler.symbol == "contract_describe_foreign_a");
          if (!ok) {
            bad.fetch_add(1);
            ADD_FAILURE() << to_string(d);
          }
          if (!sigrelay::check_ownership().empty()) {
            bad.fetch_add(1);
            ADD_FAILURE() << "a loss reported while only sigrelay changed SIGUSR1";
          }
        }
      });
    }
    for (std::thread& t : readers) t.join();
    stop.store(true);
    churn.join();
    EXPECT_EQ(bad.load(), 0);
    EXPECT_GT(rounds.load(), 0U);
  });
}

// signal_description: "ignoring: sigrelay::ignore() is in force"; chained: "the saved disposition
// sigrelay chains". registry.hpp, ignore(): with actions subscribed "the handler sigrelay chained
// ... is no longer called" and reset() makes it chained again: describe() follows each step, and
// neither is a loss.
TEST(ContractDescribe, IgnoreAndResetShowInTheChainedDisposition) {
  SIGRELAY_IN_CHILD([] {
    install_handler(SIGUSR2, contract_describe_foreign_a, SA_RESTART);
    std::atomic<bool> flag{false};
    const sigrelay::action_id id = sigrelay::add_action(SIGUSR2, sigrelay::relay::set_flag(flag));
    ASSERT_TRUE(sigrelay::ignore(SIGUSR2));
    sigrelay::signal_description d = sigrelay::describe(SIGUSR2);
    EXPECT_TRUE(d.ignoring);
    EXPECT_TRUE(d.current.trampoline);
    ASSERT_TRUE(d.chained.has_value());
    EXPECT_EQ(d.chained->what, disposition::kind::ignore) << to_string(d);
    EXPECT_TRUE(contains(to_string(d), "sigrelay::ignore() in force")) << to_string(d);
    EXPECT_TRUE(sigrelay::check_ownership().empty());
    ASSERT_EQ(::kill(::getpid(), SIGUSR2), 0);
    ASSERT_TRUE(eventually([&] { return flag.load(); }));
    EXPECT_EQ(g_foreign_a_calls.load(), 0);  // what describe() said: the chained handler is not called
    ASSERT_TRUE(sigrelay::reset(SIGUSR2));
    d = sigrelay::describe(SIGUSR2);
    EXPECT_FALSE(d.ignoring);
    ASSERT_TRUE(d.chained.has_value());
    EXPECT_EQ(d.chained->handler.symbol, "contract_describe_foreign_a") << to_string(d);
    EXPECT_TRUE(sigrelay::remove_action(id));
    d = sigrelay::describe(SIGUSR2);
    EXPECT_FALSE(d.registered);
    EXPECT_EQ(d.current.handler.symbol, "contract_describe_foreign_a");
  });
}

// ---- check_ownership() ------------------------------------------------------------------------

// "If it is not [the trampoline] — other code called sigaction()/signal() over it — that signal is
// reported with its new owner", in numeric order, every call while it lasts; `actions` counts what
// the trampoline would have run, and the text says "1 action"/"2 actions".
TEST(ContractOwnership, SignalSigactionDflIgnOverwritesAreEachReported) {
  SIGRELAY_IN_CHILD([] {
    std::atomic<bool> flag{false};
    std::atomic<std::uint64_t> count{0};
    const sigrelay::action_id a = sigrelay::add_action(SIGUSR1, sigrelay::relay::set_flag(flag));
    const sigrelay::action_id b = sigrelay::add_action(SIGUSR1, sigrelay::relay::add_count(count));
    const sigrelay::action_id r = sigrelay::add_action(SIGRTMIN + 4, sigrelay::relay::set_flag(flag));
    struct sigaction ours {};
    ASSERT_EQ(::sigaction(SIGUSR1, nullptr, &ours), 0);
    EXPECT_TRUE(sigrelay::check_ownership().empty());

    ASSERT_NE(::signal(SIGUSR1, contract_describe_foreign_a), SIG_ERR);
    for (int round = 0; round < 2; ++round) {  // reported on every call, not just the first
      const std::vector<ownership_loss> losses = sigrelay::check_ownership();
      ASSERT_EQ(losses.size(), 1U);
      EXPECT_EQ(losses[0].signo, SIGUSR1);
      EXPECT_EQ(losses[0].actions, 2U);
      EXPECT_EQ(losses[0].now.what, disposition::kind::handler);
      EXPECT_EQ(losses[0].now.handler.symbol, "contract_describe_foreign_a");
      const std::string text = to_string(losses[0]);
      EXPECT_TRUE(contains(text, "contract_describe_foreign_a")) << text;
      EXPECT_TRUE(contains(text, "(2 actions no longer called, unless it chains)")) << text;
    }
    // Back to sigrelay's: nothing. A different one: reported with that one.
    ASSERT_EQ(::sigaction(SIGUSR1, &ours, nullptr), 0);
    EXPECT_TRUE(sigrelay::check_ownership().empty());
    install_siginfo(SIGUSR1, contract_describe_foreign_b);
    install_handler(SIGRTMIN + 4, SIG_DFL, 0);
    std::vector<ownership_loss> losses = sigrelay::check_ownership();
    ASSERT_EQ(losses.size(), 2U);
    EXPECT_EQ(losses[0].signo, SIGUSR1);  // numeric order
    EXPECT_EQ(losses[0].now.handler.symbol, "contract_describe_foreign_b");
    EXPECT_EQ(losses[1].signo, SIGRTMIN + 4);
    EXPECT_EQ(losses[1].name, "SIGRTMIN+4");
    EXPECT_EQ(losses[1].now.what, disposition::kind::default_action);
    EXPECT_EQ(losses[1].actions, 1U);
    const std::string text = to_string(losses[1]);
    EXPECT_TRUE(contains(text, "SIGRTMIN+4: sigrelay's handler was replaced by SIG_DFL")) << text;
    EXPECT_TRUE(contains(text, "(1 action no longer called")) << text;
    install_handler(SIGRTMIN + 4, SIG_IGN, 0);
    losses = sigrelay::check_ownership();
    ASSERT_EQ(losses.size(), 2U);
    EXPECT_EQ(losses[1].now.what, disposition::kind::ignore);

    // The loss is real: a delivery reaches the new owner only.
    ASSERT_EQ(::kill(::getpid(), SIGUSR1), 0);
    ASSERT_TRUE(eventually([] { return g_foreign_b_calls.load() == 1; }));
    EXPECT_EQ(count.load(), 0U);
    ASSERT_EQ(::sigaction(SIGUSR1, &ours, nullptr), 0);
    ASSERT_EQ(::sigaction(SIGRTMIN + 4, &ours, nullptr), 0);
    EXPECT_TRUE(sigrelay::check_ownership().empty());
    sigrelay::remove_action(a);
    sigrelay::remove_action(b);
    sigrelay::remove_action(r);
  });
}

// "Thread safety: any thread, concurrently with everything else in sigrelay." No false positive: a
// thread checking ownership in a loop while two others create and destroy `signals` objects (both
// backends) and add and remove actions, on the same signals, never sees a loss; nor do several
// threads checking at once.
TEST(ContractOwnership, NoFalsePositiveWhileOthersSubscribeAndUnsubscribe) {
  SIGRELAY_IN_CHILD([] {
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> churned{0};
    std::vector<std::thread> churn;
    for (int t = 0; t < 2; ++t) {
      churn.emplace_back([&, t] {
        std::atomic<bool> flag{false};
        sigrelay::signals_options opts;
        opts.backend = (t == 0 || sigrelay::test::posix_platform()) ? sigrelay::backend::relay
                                                                    : sigrelay::backend::signalfd;
        while (!stop.load()) {
          const sigrelay::action_id id = sigrelay::add_action(SIGTERM, sigrelay::relay::set_flag(flag));
          {
            sigrelay::signals sigs({SIGUSR1, SIGUSR2, SIGRTMIN}, opts);
            sigs.add(SIGHUP);
            sigs.remove(SIGUSR2);
          }
          sigrelay::remove_action(id);
          churned.fetch_add(1);
        }
      });
    }
    std::atomic<int> losses{0};
    std::vector<std::thread> checkers;
    for (int c = 0; c < 2; ++c) {
      checkers.emplace_back([&] {
        for (int i = 0; i < 2000; ++i) {
          for (const ownership_loss& loss : sigrelay::check_ownership()) {
            losses.fetch_add(1);
            ADD_FAILURE() << to_string(loss);
          }
        }
      });
    }
    for (std::thread& t : checkers) t.join();
    stop.store(true);
    for (std::thread& t : churn) t.join();
    EXPECT_EQ(losses.load(), 0);
    EXPECT_GT(churned.load(), 0U);
  });
}

// No false positive from sigrelay's own relays: relay::default_action() on a stop signal briefly
// sets SIG_DFL itself (relays.hpp, emulate_default) while the process stops and after it is
// continued. A thread checking ownership in a loop meanwhile must not report that as a loss:
// nobody but sigrelay touched the signal. (A process stopped and continued many times by its
// parent, in a process group of its own so that the stop is not discarded.)
TEST(ContractOwnership, NoFalsePositiveWhileDefaultActionStopsTheProcess) {
  SIGRELAY_IN_CHILD([] {
    int ready[2];
    ASSERT_EQ(::pipe(ready), 0);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::alarm(60);
      ::setpgid(0, 0);
      (void)sigrelay::add_action(SIGTSTP, sigrelay::relay::default_action());
      std::atomic<int> losses{0};
      std::atomic<bool> done{false};
      // The checker is created with SIGTSTP and SIGTERM blocked (it inherits the mask), so that the
      // main thread takes every stop and the SIGTERM at the end however late the checker first
      // runs (blocking them in its own body left a window: under load, a SIGTERM that found the
      // main thread in the stop handler went to a checker that had not run yet, and killed it).
      sigset_t tstp;
      sigemptyset(&tstp);
      sigaddset(&tstp, SIGTSTP);
      sigset_t term;
      sigemptyset(&term);
      sigaddset(&term, SIGTERM);
      sigset_t both = tstp;
      sigaddset(&both, SIGTERM);
      pthread_sigmask(SIG_BLOCK, &both, nullptr);
      std::thread checker([&] {
        while (!done.load()) {
          if (!sigrelay::check_ownership().empty()) losses.fetch_add(1);
        }
      });
      pthread_sigmask(SIG_UNBLOCK, &tstp, nullptr);  // the main thread takes the stops
      (void)!::write(ready[1], "r", 1);
      int got = 0;
      sigwait(&term, &got);  // the parent is done
      done.store(true);
      checker.join();
      ::_exit(losses.load() == 0 ? 0 : 10 + std::min(losses.load(), 100));
    }
    ::close(ready[1]);
    char c;
    ASSERT_EQ(::read(ready[0], &c, 1), 1);
    for (int i = 0; i < 300; ++i) {
      ASSERT_EQ(::kill(pid, SIGTSTP), 0);
      int status = 0;
      ASSERT_EQ(::waitpid(pid, &status, WUNTRACED), pid);
      ASSERT_TRUE(WIFSTOPPED(status)) << sigrelay::test::describe_status(status);
      EXPECT_EQ(WSTOPSIG(status), SIGTSTP);
      ASSERT_EQ(::kill(pid, SIGCONT), 0);
      ASSERT_EQ(::waitpid(pid, &status, WCONTINUED), pid);
    }
    ASSERT_EQ(::kill(pid, SIGTERM), 0);
    EXPECT_TRUE(exited_with(sigrelay::test::wait_with_deadline(pid, 30), 0))
        << "exit code 10+n: n checks reported sigrelay's own SIG_DFL as a loss";
    ::close(ready[0]);
  });
}

// ---- ownership_watch --------------------------------------------------------------------------

// "The first check runs at once, before the constructor returns (so a loss that exists already is
// reported before it returns, on the watcher's thread)"; "again if it is found replaced by a
// different handler later": A, then B, then SIG_IGN, then SIG_DFL are four reports; the same owner
// found again is not.
TEST(ContractWatch, ExistingLossBeforeConstructorReturnsThenEachNewOwner) {
  SIGRELAY_IN_CHILD([] {
    std::atomic<bool> flag{false};
    const sigrelay::action_id id = sigrelay::add_action(SIGUSR1, sigrelay::relay::set_flag(flag));
    install_handler(SIGUSR1, contract_describe_foreign_a, 0);
    loss_log log;
    ownership_watch watch(log.callback(), 2ms);
    {
      const std::lock_guard<std::mutex> lock(log.m);
      ASSERT_EQ(log.seen.size(), 1U) << "the existing loss was not reported before the constructor returned";
      EXPECT_EQ(log.seen[0].now.handler.symbol, "contract_describe_foreign_a");
      EXPECT_NE(log.threads[0], std::this_thread::get_id()) << "reported on the constructing thread";
    }
    ASSERT_TRUE(more_checks(watch, 3));
    EXPECT_EQ(log.size(), 1U);
    install_siginfo(SIGUSR1, contract_describe_foreign_b);
    ASSERT_TRUE(log.wait_for_size(2));
    install_handler(SIGUSR1, SIG_IGN, 0);
    ASSERT_TRUE(log.wait_for_size(3));
    install_handler(SIGUSR1, SIG_DFL, 0);
    ASSERT_TRUE(log.wait_for_size(4));
    ASSERT_TRUE(more_checks(watch, 3));
    watch.stop();
    const std::lock_guard<std::mutex> lock(log.m);
    ASSERT_EQ(log.seen.size(), 4U);
    EXPECT_EQ(log.seen[1].now.handler.symbol, "contract_describe_foreign_b");
    EXPECT_EQ(log.seen[2].now.what, disposition::kind::ignore);
    EXPECT_EQ(log.seen[3].now.what, disposition::kind::default_action);
    for (std::size_t i = 1; i < log.threads.size(); ++i) EXPECT_EQ(log.threads[i], log.threads[0]);
    sigrelay::remove_action(id);
  });
}

// "Destruction (or stop()) stops and joins the thread": it does not wait for the rest of the
// interval, however long the interval is (it is not a sleep). And no check runs after the first
// while the interval has not passed: an interval as long as milliseconds can hold (the largest
// value the constructor accepts) is a wait, not a busy loop.
TEST(ContractWatch, LongIntervalsWaitAndDestructionDoesNotWaitForThem) {
  SIGRELAY_IN_CHILD([] {
    for (const std::chrono::milliseconds interval :
         {std::chrono::milliseconds(std::chrono::hours(1)), std::chrono::milliseconds::max()}) {
      auto watch = std::make_unique<ownership_watch>([](const ownership_loss&) {}, interval);
      std::this_thread::sleep_for(200ms);
      EXPECT_EQ(watch->checks(), 1U) << "interval " << interval.count() << " ms";
      const auto start = std::chrono::steady_clock::now();
      watch.reset();
      EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
    }
  });
}

// "Errors: ... std::invalid_argument for a zero or negative interval or an empty callback" (and
// nothing is started then).
TEST(ContractWatch, NegativeIntervalIsRefused) {
  EXPECT_THROW(ownership_watch([](const ownership_loss&) {}, -1ms), std::invalid_argument);
  EXPECT_THROW(ownership_watch([](const ownership_loss&) {}, std::chrono::milliseconds::min()),
               std::invalid_argument);
  EXPECT_THROW(ownership_watch(ownership_watch::callback{}, -5ms), std::invalid_argument);
}

// "it waits for a running on_loss to return": stop() from another thread while the callback runs
// returns only after the callback has returned, and no callback or check follows.
TEST(ContractWatch, StopFromAnotherThreadWaitsForTheRunningCallback) {
  SIGRELAY_IN_CHILD([] {
    std::atomic<bool> flag{false};
    const sigrelay::action_id id = sigrelay::add_action(SIGUSR2, sigrelay::relay::set_flag(flag));
    std::atomic<bool> in_callback{false};
    std::atomic<bool> release{false};
    std::atomic<bool> returned{false};
    std::atomic<int> calls{0};
    auto watch = std::make_unique<ownership_watch>(
        [&](const ownership_loss&) {
          calls.fetch_add(1);
          in_callback.store(true);
          while (!release.load()) std::this_thread::sleep_for(1ms);
          returned.store(true);
        },
        1ms);
    install_handler(SIGUSR2, contract_describe_foreign_a, 0);
    ASSERT_TRUE(eventually([&] { return in_callback.load(); }));
    std::atomic<bool> stopped{false};
    std::thread stopper([&] {
      watch->stop();
      stopped.store(true);
    });
    std::this_thread::sleep_for(100ms);
    EXPECT_FALSE(stopped.load()) << "stop() returned while on_loss was still running";
    release.store(true);
    stopper.join();
    EXPECT_TRUE(returned.load());
    const std::uint64_t checks = watch->checks();
    install_handler(SIGUSR2, SIG_IGN, 0);
    std::this_thread::sleep_for(50ms);
    EXPECT_EQ(watch->checks(), checks);
    EXPECT_EQ(calls.load(), 1);
    watch.reset();  // destroys after stop(): idempotent
    sigrelay::remove_action(id);
  });
}

// stop() is "idempotent", and the class is used from "any thread, concurrently with everything else
// in sigrelay": stop() called by two threads at once (and the destructor after) stops once, without
// a second join (which would throw out of a noexcept function: std::terminate).
TEST(ContractWatch, StopFromTwoThreadsAtOnce) {
  SIGRELAY_IN_CHILD([] {
    for (int round = 0; round < 200; ++round) {
      auto watch = std::make_unique<ownership_watch>([](const ownership_loss&) {}, 1ms);
      std::atomic<int> ready{0};
      auto stopper = [&] {
        ready.fetch_add(1);
        while (ready.load() < 2) {
        }
        watch->stop();
      };
      std::thread a(stopper);
      std::thread b(stopper);
      a.join();
      b.join();
      watch.reset();
    }
  });
}

// "An exception thrown by on_loss ends the process (std::terminate), as from any thread function."
TEST(ContractWatch, ThrowingCallbackEndsTheProcess) {
  const int status = run_in_child([] {
    std::atomic<bool> flag{false};
    (void)sigrelay::add_action(SIGUSR1, sigrelay::relay::set_flag(flag));
    install_handler(SIGUSR1, SIG_IGN, 0);
    ownership_watch watch([](const ownership_loss&) { throw std::runtime_error("on_loss"); }, 5ms);
    std::this_thread::sleep_for(5s);
    ::_exit(3);  // not reached
  });
  EXPECT_TRUE(killed_by(status, SIGABRT));
}

// "Fork: a fork child's copy has no thread (it stayed in the parent) and checks nothing": a loss in
// the child is never reported there and its checks() stays, while the parent's watch goes on
// reporting its own losses. The same for a child of _Fork(), which runs no fork handler.
class ContractWatchFork : public testing::TestWithParam<bool> {};
INSTANTIATE_TEST_SUITE_P(Both, ContractWatchFork, testing::Values(false, true),
                         [](const testing::TestParamInfo<bool>& p) { return p.param ? "raw_Fork" : "fork"; });
TEST_P(ContractWatchFork, ChildsCopyChecksNothing) {
  const bool raw = GetParam();
  SIGRELAY_IN_CHILD([raw] {
    std::atomic<bool> flag{false};
    const sigrelay::action_id id = sigrelay::add_action(SIGUSR1, sigrelay::relay::set_flag(flag));
    loss_log log;
    auto watch = std::make_unique<ownership_watch>(log.callback(), 1ms);
    std::fflush(nullptr);
    int report[2];
    ASSERT_EQ(::pipe(report), 0);
    const pid_t child = raw ? ::_Fork() : ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      ::alarm(10);
      ::close(report[0]);
      const std::uint64_t at_fork = watch->checks();
      install_handler(SIGUSR1, SIG_IGN, 0);
      ::usleep(100000);
      const int result = (watch->checks() == at_fork ? 0 : 1) | (log.seen.empty() ? 0 : 2);
      watch.reset();
      ::_exit(result);
    }
    ::close(report[1]);
    EXPECT_TRUE(exited_with(sigrelay::test::wait_with_deadline(child, 30), 0));
    ::close(report[0]);
    EXPECT_EQ(log.size(), 0U);  // the child's loss was the child's
    install_handler(SIGUSR1, SIG_IGN, 0);
    EXPECT_TRUE(log.wait_for_size(1));
    watch.reset();
    sigrelay::remove_action(id);
  });
}

// Many watches at once: each reports the loss, once, on its own thread; destroying them all (from
// another thread than the one that made them) ends every one.
TEST(ContractWatch, ManyWatchesEachReportOnce) {
  SIGRELAY_IN_CHILD([] {
    std::atomic<bool> flag{false};
    const sigrelay::action_id id = sigrelay::add_action(SIGRTMIN + 1, sigrelay::relay::set_flag(flag));
    constexpr int kWatches = 16;
    std::vector<std::unique_ptr<loss_log>> logs;
    std::vector<std::unique_ptr<ownership_watch>> watches;
    for (int i = 0; i < kWatches; ++i) {
      logs.push_back(std::make_unique<loss_log>());
      watches.push_back(
          std::make_unique<ownership_watch>(logs.back()->callback(), std::chrono::milliseconds(1 + i)));
    }
    install_handler(SIGRTMIN + 1, contract_describe_foreign_a, 0);
    for (int i = 0; i < kWatches; ++i) ASSERT_TRUE(logs[i]->wait_for_size(1)) << i;
    for (int i = 0; i < kWatches; ++i) ASSERT_TRUE(more_checks(*watches[i], 2)) << i;
    for (int i = 0; i < kWatches; ++i) {
      EXPECT_EQ(logs[i]->size(), 1U) << i;
      EXPECT_EQ(logs[i]->seen[0].name, "SIGRTMIN+1");
    }
    std::thread([&] { watches.clear(); }).join();
    sigrelay::remove_action(id);
  });
}

// "once for each signal when it is first found replaced, and again if it is found replaced by a
// different handler later, or after sigrelay owned it again in between": the same owner found
// again after a pass-through interval (every action gone, then a new subscriber, whose action the
// same foreign handler keeps from running) is that subscriber's loss, reported again (describe.hpp
// says so).
TEST(ContractWatch, SameOwnerAfterPassThroughIsANewSubscribersLoss) {
  SIGRELAY_IN_CHILD([] {
    std::atomic<bool> flag{false};
    sigrelay::action_id id = sigrelay::add_action(SIGUSR1, sigrelay::relay::set_flag(flag));
    loss_log log;
    ownership_watch watch(log.callback(), 1ms);
    install_handler(SIGUSR1, contract_describe_foreign_a, 0);
    ASSERT_TRUE(log.wait_for_size(1));
    ASSERT_TRUE(sigrelay::remove_action(id));  // pass-through: nobody loses anything
    ASSERT_TRUE(more_checks(watch, 3));
    EXPECT_EQ(log.size(), 1U);
    id = sigrelay::add_action(SIGUSR1, sigrelay::relay::set_flag(flag));  // reaches only through A
    ASSERT_TRUE(log.wait_for_size(2));
    ASSERT_TRUE(more_checks(watch, 3));
    watch.stop();
    const std::lock_guard<std::mutex> lock(log.m);
    ASSERT_EQ(log.seen.size(), 2U);
    EXPECT_EQ(log.seen[1].now.handler.symbol, "contract_describe_foreign_a");
    EXPECT_EQ(log.seen[1].actions, 1U);
    sigrelay::remove_action(id);
  });
}

// ---- signal_name() / signal_number() ------------------------------------------------------------

// signal_name(): "SIGINT", "SIGRTMIN+3", "SIGRTMAX-1", or "" for a number that names no signal (0,
// negative, reserved by the C library, above SIGRTMAX). "The view refers to static, NUL-terminated
// storage: data() is never null". Every int near the range and the extremes; names are unique;
// realtime ones as kill -l spells them (SIGRTMIN+1..+15, then SIGRTMAX-14..-1).
TEST(ContractNames, EveryNumberHasOneNameOrNone) {
  std::vector<int> numbers{INT_MIN, INT_MIN + 1, -1000, INT_MAX, INT_MAX - 1};
  for (int signo = -70; signo <= 200; ++signo) numbers.push_back(signo);
  std::vector<std::string> seen;
  for (const int signo : numbers) {
    const std::string_view name = sigrelay::signal_name(signo);
    ASSERT_NE(name.data(), nullptr) << signo;
    EXPECT_EQ(name.data()[name.size()], '\0') << signo;
    EXPECT_EQ(std::strlen(name.data()), name.size()) << signo;
    const bool should = (signo >= 1 && signo <= 31) || (signo >= SIGRTMIN && signo <= SIGRTMAX);
    EXPECT_EQ(!name.empty(), should) << signo << " " << name;
    if (name.empty()) continue;
    EXPECT_EQ(name.substr(0, 3), "SIG");
    for (const std::string& s : seen) EXPECT_NE(s, name) << signo;
    seen.emplace_back(name);
  }
  const int rt = SIGRTMAX - SIGRTMIN;
  for (int i = 0; i <= rt; ++i) {
    const std::string_view name = sigrelay::signal_name(SIGRTMIN + i);
    const std::string expected = i == 0        ? "SIGRTMIN"
                                 : i == rt     ? "SIGRTMAX"
                                 : i <= rt / 2 ? "SIGRTMIN+" + std::to_string(i)
                                               : "SIGRTMAX-" + std::to_string(rt - i);
    EXPECT_EQ(name, expected) << SIGRTMIN + i;
  }
}

// signal_number(): "INT", "SIGINT", "sigint", "2", "RTMIN+3", "SIGRTMAX-1". Every realtime number
// in all four spellings from each end (SIGRTMIN+k, RTMIN+k, SIGRTMAX-k, RTMAX-k) and any case.
TEST(ContractNames, EveryRealtimeSpellingRoundTrips) {
  const int rt = SIGRTMAX - SIGRTMIN;
  for (int k = 0; k <= rt; ++k) {
    const std::string plus = k == 0 ? "" : "+" + std::to_string(k);
    const std::string minus = k == 0 ? "" : "-" + std::to_string(k);
    EXPECT_EQ(sigrelay::signal_number("SIGRTMIN" + plus), SIGRTMIN + k) << k;
    EXPECT_EQ(sigrelay::signal_number("rtmin" + plus), SIGRTMIN + k) << k;
    EXPECT_EQ(sigrelay::signal_number("SIGRTMAX" + minus), SIGRTMAX - k) << k;
    EXPECT_EQ(sigrelay::signal_number("sIgRtMaX" + minus), SIGRTMAX - k) << k;
    const std::string_view name = sigrelay::signal_name(SIGRTMIN + k);
    EXPECT_EQ(sigrelay::signal_number(name), SIGRTMIN + k) << name;
  }
  for (int signo = 1; signo <= 31; ++signo) {
    std::string lower(sigrelay::signal_name(signo));
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    EXPECT_EQ(sigrelay::signal_number(lower), signo) << lower;
    EXPECT_EQ(sigrelay::signal_number(lower.substr(3)), signo) << lower;
  }
}

// "Errors: std::errc::invalid_argument, naming the text, if it names no signal": near-misses of
// every form (blanks, signs, suffixes, out-of-range realtime offsets, reserved numbers, empty
// offsets, the wrong direction), through both overloads; the text is in the message.
TEST(ContractNames, NearMissesAreRefusedNamingTheText) {
  const std::string too_far_up = "SIGRTMIN+" + std::to_string(SIGRTMAX - SIGRTMIN + 1);
  const std::string too_far_down = "SIGRTMAX-" + std::to_string(SIGRTMAX - SIGRTMIN + 1);
  const std::string past_max = std::to_string(SIGRTMAX + 1);
  for (const std::string& bad : {std::string(""),
                                 std::string("SIG"),
                                 std::string("SIGRTMIN+99"),
                                 std::string("15x"),
                                 std::string(" 15"),
                                 std::string("15 "),
                                 std::string("+15"),
                                 std::string("0"),
                                 std::string("-0"),
                                 std::string("00"),
                                 std::string("33"),
                                 std::string("SIGINT "),
                                 std::string(" SIGINT"),
                                 std::string("SIGSIGINT"),
                                 std::string("SIG_INT"),
                                 std::string("RTMIN+"),
                                 std::string("RTMAX-"),
                                 std::string("RTMIN-1"),
                                 std::string("RTMAX+1"),
                                 std::string("RTMIN+-1"),
                                 std::string("RTMIN++1"),
                                 std::string("RTMIN+1x"),
                                 std::string("RTMIN 1"),
                                 std::string("RTMIN3"),
                                 std::string("SIGRTMIN+ 3"),
                                 std::string("0x0f"),
                                 std::string("1e1"),
                                 std::string("INT\0", 4),
                                 std::string("99999999999999999999"),
                                 too_far_up,
                                 too_far_down,
                                 past_max,
                                 std::string("SIGKILLER"),
                                 std::string("KIL")}) {
    std::error_code ec;
    EXPECT_EQ(sigrelay::signal_number(bad, ec), -1) << '"' << bad << '"';
    EXPECT_EQ(ec, std::errc::invalid_argument) << '"' << bad << '"';
    try {
      (void)sigrelay::signal_number(bad);
      ADD_FAILURE() << '"' << bad << "\" was accepted";
    } catch (const std::system_error& e) {
      EXPECT_EQ(e.code(), std::errc::invalid_argument);
      // (what() is a C string: a text with a NUL in it shows up to the NUL.)
      const std::string shown = bad.substr(0, bad.find('\0'));
      EXPECT_TRUE(contains(e.what(), "\"" + shown)) << e.what();
    }
  }
  // A successful parse clears an earlier error.
  std::error_code ec = std::make_error_code(std::errc::io_error);
  EXPECT_EQ(sigrelay::signal_number("term", ec), SIGTERM);
  EXPECT_FALSE(ec);
}

// The C API's names (<sigrelay.h>): sigrelay_signal_name() "Never NULL, static storage" ("" for a
// number that names no signal); sigrelay_signal_number(): the same spellings, "EINVAL for anything
// else (and *signo untouched)", sigrelay_last_error() naming the text; errno left as it was on
// success.
TEST(ContractNames, TheCApiAgreesWithTheCxxOne) {
  for (int signo = -3; signo <= SIGRTMAX + 3; ++signo) {
    const char* name = sigrelay_signal_name(signo);
    ASSERT_NE(name, nullptr) << signo;
    EXPECT_EQ(std::string(name), sigrelay::signal_name(signo)) << signo;
    if (*name == '\0') continue;
    int out = -7;
    errno = 1234;
    EXPECT_EQ(sigrelay_signal_number(name, &out), 0) << name;
    EXPECT_EQ(errno, 1234);
    EXPECT_EQ(out, signo) << name;
  }
  for (const char* bad : {"", "SIG", "RTMIN+99", " 15", "+15", "0", "32", "15x"}) {
    int out = -7;
    EXPECT_EQ(sigrelay_signal_number(bad, &out), EINVAL) << bad;
    EXPECT_EQ(out, -7) << bad;
    EXPECT_TRUE(contains(sigrelay_last_error(), std::string("\"") + bad + "\"")) << sigrelay_last_error();
  }
  int out = -7;
  EXPECT_EQ(sigrelay_signal_number(nullptr, &out), EINVAL);
  EXPECT_EQ(out, -7);
}

// signal_name() is "Async-signal-safe": called from a handler of every signal a thread can take,
// interrupting a thread that is itself calling it.
std::atomic<int> g_names_in_handler{0};
extern "C" void contract_describe_name_handler(int signo) {
  if (sigrelay::signal_name(signo).size() > 3) g_names_in_handler.fetch_add(1);
}
TEST(ContractNames, NameFromASignalHandler) {
  SIGRELAY_IN_CHILD([] {
    install_handler(SIGUSR1, contract_describe_name_handler, SA_RESTART);
    install_handler(SIGRTMIN + 5, contract_describe_name_handler, SA_RESTART);
    for (int i = 0; i < 200; ++i) {
      ASSERT_EQ(::kill(::getpid(), (i % 2) != 0 ? SIGUSR1 : SIGRTMIN + 5), 0);
      EXPECT_EQ(sigrelay::signal_name(SIGRTMIN + 5), "SIGRTMIN+5");
    }
    EXPECT_TRUE(eventually([] { return g_names_in_handler.load() >= 101; }));
  });
}

// ---- <sigrelay/fmt.hpp> ---------------------------------------------------------------------------

#if defined(SIGRELAY_TEST_FMT)
// "The format spec is a string's: "{}", or a fill, alignment and width ("{:<40}", "{:>12}") applied
// to that text; anything else is a format error (fmt::format_error ...)".
TEST(ContractFmt, FillAlignWidthApplyAndEverythingElseIsAFormatError) {
  sigrelay::signal_event e;
  e.signo = SIGRTMIN + 2;
  e.count = 3;
  e.last.kind = sigrelay::origin_kind::queue;
  e.last.pid = 77;
  e.last.uid = 1000;
  e.last.value.sival_int = 42;
  const std::string text = sigrelay::to_string(e);
  EXPECT_EQ(fmt::format("{}", e), text);
  EXPECT_EQ(fmt::format(fmt::runtime("{:*^" + std::to_string(text.size() + 4) + "}"), e), "**" + text + "**");
  EXPECT_EQ(fmt::format("{:>4}", e), text);  // narrower than the text: no truncation
  EXPECT_EQ(fmt::format("{:<12}|", sigrelay::origin_kind::queue), "queue       |");
  EXPECT_EQ(fmt::format("{:>60}", e.last),
            std::string(60 - sigrelay::to_string(e.last).size(), ' ') + sigrelay::to_string(e.last));
  EXPECT_EQ(fmt::format("{:{}}|", sigrelay::origin_kind::user, 6), "user  |");  // a width from an argument
  sigrelay::signal_event unnamed;
  unnamed.signo = 32;
  unnamed.count = 1;
  EXPECT_EQ(fmt::format("{}", unnamed).rfind("signal 32 x1 from ", 0), 0U) << fmt::format("{}", unnamed);
  for (const char* spec : {"{:.3}", "{:s}", "{:<10.2}", "{:+}", "{:#}", "{:010}", "{:d}", "{:x}"}) {
    EXPECT_THROW((void)fmt::format(fmt::runtime(spec), e), fmt::format_error) << spec;
    EXPECT_THROW((void)fmt::format(fmt::runtime(spec), e.last), fmt::format_error) << spec;
    EXPECT_THROW((void)fmt::format(fmt::runtime(spec), e.last.kind), fmt::format_error) << spec;
  }
}
#endif

}  // namespace
