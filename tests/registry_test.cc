// SPDX-License-Identifier: MIT
// tests/registry_test.cc — the registry (DESIGN §1) with real signals, each test in its own child.
#include <gtest/gtest.h>

#include <pthread.h>
#include <unistd.h>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "detail.hpp"  // add_actions_together(), action_count()
#include "sigrelay/registry.hpp"
#include "sigrelay/relays.hpp"
#include "support/child.hpp"
#include "support/dispositions.hpp"

namespace {

using sigrelay::action;
using sigrelay::add_action;
using sigrelay::remove_action;
using sigrelay::test::query;
using sigrelay::test::run_in_child;

// A signal-safe log of which action ran, in order.
struct order_log {
  std::atomic<int> size{0};
  std::atomic<int> items[64];
  void push(int v) noexcept {
    const int i = size.fetch_add(1);
    if (i < 64) items[i].store(v);
  }
  std::vector<int> take() {
    std::vector<int> out;
    for (int i = 0; i < size.load() && i < 64; ++i) out.push_back(items[i].load());
    size.store(0);
    return out;
  }
};
order_log g_log;

struct tagged {
  int tag;
};
void log_tag(void* ctx, const siginfo_t&) noexcept { g_log.push(static_cast<tagged*>(ctx)->tag); }

// Sends `signo` to this thread; the handler has run when this returns (the signal is unblocked).
// pthread_kill() rather than a raw tgkill(): ThreadSanitizer runs handlers of signals a thread sends
// itself this way synchronously, but defers (and merges) others until the next intercepted call.
void raise_here(int signo) { ASSERT_EQ(0, pthread_kill(pthread_self(), signo)); }

TEST(Registry, ActionsRunInRegistrationOrderAndRemovalKeepsTheRest) {
  SIGRELAY_IN_CHILD([] {
    tagged a{1}, b{2}, c{3};
    const auto ia = add_action(SIGUSR1, {log_tag, &a});
    const auto ib = add_action(SIGUSR1, {log_tag, &b});
    const auto ic = add_action(SIGUSR1, {log_tag, &c});
    EXPECT_NE(ia, ib);
    EXPECT_EQ(ib.signal(), SIGUSR1);
    ASSERT_EQ(0, kill(getpid(), SIGUSR1));
    EXPECT_EQ((std::vector<int>{1, 2, 3}), g_log.take());
    EXPECT_TRUE(remove_action(ib));
    EXPECT_FALSE(remove_action(ib)) << "a removed id is unknown";
    EXPECT_FALSE(remove_action(sigrelay::action_id{}));
    raise_here(SIGUSR1);
    EXPECT_EQ((std::vector<int>{1, 3}), g_log.take());
    EXPECT_TRUE(remove_action(ia));
    EXPECT_TRUE(remove_action(ic));
  });
}

// Internal (src/detail.hpp): several actions in one published snapshot, termination's recorder and
// kill. They run in the order given, after the actions already there; each has an id of its own; a
// null function refuses the whole batch and changes nothing; removing them gives the disposition
// back.
TEST(Registry, ActionsAddedTogetherRunInOrderAndAreRefusedTogether) {
  SIGRELAY_IN_CHILD([] {
    ASSERT_NE(SIG_ERR, signal(SIGUSR2, SIG_IGN));
    const struct sigaction before = query(SIGUSR2);
    tagged a{1}, b{2}, c{3};
    const auto ia = add_action(SIGUSR2, {log_tag, &a});
    const action pair[2] = {{log_tag, &b}, {log_tag, &c}};
    sigrelay::action_id ids[2];
    std::error_code ec;
    sigrelay::detail::add_actions_together(SIGUSR2, pair, 2, ids, ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_TRUE(ids[0] && ids[1]);
    EXPECT_NE(ids[0], ids[1]);
    EXPECT_NE(ia, ids[0]);
    EXPECT_EQ(3U, sigrelay::detail::action_count(SIGUSR2));
    raise_here(SIGUSR2);
    EXPECT_EQ((std::vector<int>{1, 2, 3}), g_log.take());

    const action refused[2] = {{log_tag, &b}, {nullptr, nullptr}};
    sigrelay::action_id none[2] = {ids[0], ids[1]};
    sigrelay::detail::add_actions_together(SIGUSR2, refused, 2, none, ec);
    EXPECT_EQ(std::errc::invalid_argument, ec);
    EXPECT_FALSE(none[0] || none[1]) << "a refused batch hands out no id";
    EXPECT_EQ(3U, sigrelay::detail::action_count(SIGUSR2));
    sigrelay::detail::add_actions_together(SIGKILL, pair, 2, none, ec);
    EXPECT_EQ(std::errc::invalid_argument, ec);

    EXPECT_TRUE(remove_action(ids[0]));
    raise_here(SIGUSR2);
    EXPECT_EQ((std::vector<int>{1, 3}), g_log.take());
    EXPECT_TRUE(remove_action(ia));
    EXPECT_TRUE(remove_action(ids[1]));
    EXPECT_EQ(0U, sigrelay::detail::action_count(SIGUSR2));
    const struct sigaction after = query(SIGUSR2);
    EXPECT_EQ(before.sa_handler, after.sa_handler) << "SIG_IGN given back";
  });
}

std::atomic<int> g_plain_calls{0};
std::atomic<int> g_info_calls{0};
std::atomic<int> g_info_signo{0};
void plain_handler(int) { g_plain_calls.fetch_add(1); }
void info_handler(int, siginfo_t* info, void*) {
  g_info_calls.fetch_add(1);
  g_info_signo.store(info->si_signo);
}
std::atomic<int> g_action_calls{0};
void count_action(void*, const siginfo_t&) noexcept { g_action_calls.fetch_add(1); }

TEST(Registry, ChainsAnEarlierHandlerWithoutSiginfoOncePerDelivery) {
  SIGRELAY_IN_CHILD([] {
    struct sigaction sa {};
    sa.sa_handler = plain_handler;
    sigemptyset(&sa.sa_mask);
    ASSERT_EQ(0, sigaction(SIGUSR2, &sa, nullptr));
    const auto id = add_action(SIGUSR2, {count_action, nullptr});
    for (int i = 0; i < 3; ++i) raise_here(SIGUSR2);
    EXPECT_EQ(3, g_plain_calls.load());
    EXPECT_EQ(3, g_action_calls.load());
    EXPECT_TRUE(remove_action(id));
    EXPECT_EQ(reinterpret_cast<void*>(plain_handler), reinterpret_cast<void*>(query(SIGUSR2).sa_handler))
        << "the earlier handler is back";
    raise_here(SIGUSR2);
    EXPECT_EQ(4, g_plain_calls.load());
    EXPECT_EQ(3, g_action_calls.load());
  });
}

TEST(Registry, ChainsAnEarlierSiginfoHandlerAndRestoresItExactly) {
  SIGRELAY_IN_CHILD([] {
    struct sigaction sa {};
    sa.sa_sigaction = info_handler;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGHUP);
    ASSERT_EQ(0, sigaction(SIGUSR1, &sa, nullptr));
    const auto id = add_action(SIGUSR1, {count_action, nullptr});
    ASSERT_EQ(0, kill(getpid(), SIGUSR1));
    EXPECT_EQ(1, g_info_calls.load());
    EXPECT_EQ(SIGUSR1, g_info_signo.load());
    EXPECT_EQ(1, g_action_calls.load());
    EXPECT_TRUE(remove_action(id));
    const struct sigaction after = query(SIGUSR1);
    EXPECT_EQ(reinterpret_cast<void*>(info_handler), reinterpret_cast<void*>(after.sa_sigaction));
    EXPECT_EQ(sa.sa_flags, after.sa_flags & (SA_SIGINFO | SA_NODEFER | SA_RESTART | SA_ONSTACK));
    EXPECT_TRUE(sigismember(&after.sa_mask, SIGHUP));
  });
}

TEST(Registry, PreviousIgnoreIsNotCalledAndStaysIgnoredAfterwards) {
  SIGRELAY_IN_CHILD([] {
    signal(SIGINT, SIG_IGN);
    const auto id = add_action(SIGINT, {count_action, nullptr});
    raise_here(SIGINT);
    EXPECT_EQ(1, g_action_calls.load());
    EXPECT_TRUE(remove_action(id));
    EXPECT_EQ(SIG_IGN, query(SIGINT).sa_handler);
    raise_here(SIGINT);  // still ignored: the child survives
    EXPECT_EQ(1, g_action_calls.load());
  });
}

TEST(Registry, RemovingTheLastActionMakesCtrlCKillAgain) {
  const int status = run_in_child([] {
    const auto id = add_action(SIGINT, {count_action, nullptr});
    raise_here(SIGINT);
    if (g_action_calls.load() != 1) _exit(3);
    remove_action(id);
    raise_here(SIGINT);
    _exit(4);  // not reached: SIGINT is back at SIG_DFL
  });
  EXPECT_TRUE(sigrelay::test::killed_by(status, SIGINT));
}

std::atomic<int> g_foreign_calls{0};
void foreign_handler(int) { g_foreign_calls.fetch_add(1); }

TEST(Registry, DoesNotClobberAHandlerInstalledOverItsOwn) {
  SIGRELAY_IN_CHILD([] {
    const auto id = add_action(SIGUSR1, {count_action, nullptr});
    struct sigaction foreign {};
    foreign.sa_handler = foreign_handler;
    sigemptyset(&foreign.sa_mask);
    ASSERT_EQ(0, sigaction(SIGUSR1, &foreign, nullptr));  // other code takes the signal over
    EXPECT_TRUE(remove_action(id));
    EXPECT_EQ(reinterpret_cast<void*>(foreign_handler), reinterpret_cast<void*>(query(SIGUSR1).sa_handler));
    raise_here(SIGUSR1);
    EXPECT_EQ(1, g_foreign_calls.load());
    EXPECT_EQ(0, g_action_calls.load());
    // A later action reuses the pass-through state without touching the foreign handler.
    const auto again = add_action(SIGUSR1, {count_action, nullptr});
    EXPECT_EQ(reinterpret_cast<void*>(foreign_handler), reinterpret_cast<void*>(query(SIGUSR1).sa_handler));
    EXPECT_TRUE(remove_action(again));
  });
}

void clobber_errno(void*, const siginfo_t&) noexcept {
  errno = EIO;
  g_action_calls.fetch_add(1);
}

TEST(Registry, ErrnoIsTheSameAfterADeliveryEvenWhenAnActionChangesIt) {
  SIGRELAY_IN_CHILD([] {
    const auto id = add_action(SIGUSR1, {clobber_errno, nullptr});
    errno = 1234;
    tgkill(getpid(), gettid(), SIGUSR1);  // succeeds, so it leaves errno alone itself
    const int after = errno;
    EXPECT_EQ(1, g_action_calls.load());
    EXPECT_EQ(1234, after);
    remove_action(id);
  });
}

// Every disposition in the process, to prove that a refused call changed nothing.
std::vector<struct sigaction> all_dispositions() {
  std::vector<struct sigaction> out(SIGRTMAX + 1);
  for (int s = 1; s <= SIGRTMAX; ++s) sigaction(s, nullptr, &out[s]);
  return out;
}
bool same(const std::vector<struct sigaction>& a, const std::vector<struct sigaction>& b) {
  for (std::size_t s = 1; s < a.size(); ++s) {
    if (a[s].sa_handler != b[s].sa_handler || a[s].sa_flags != b[s].sa_flags) return false;
  }
  return true;
}

TEST(Registry, RefusesBadSignalsWithANamedErrorAndNoChange) {
  SIGRELAY_IN_CHILD([] {
    struct bad {
      int signo;
      const char* needle;
    };
    const bad cases[] = {{0, "signal 0"},      {-3, "signal -3"},    {SIGRTMAX + 1, "signal 65"},
                         {32, "reserved"},     {SIGKILL, "SIGKILL"}, {SIGSTOP, "SIGSTOP"},
                         {SIGSEGV, "SIGSEGV"}, {SIGBUS, "SIGBUS"},   {SIGILL, "SIGILL"},
                         {SIGFPE, "SIGFPE"},   {SIGTRAP, "SIGTRAP"}, {SIGSYS, "SIGSYS"}};
    const auto before = all_dispositions();
    for (const bad& c : cases) {
      try {
        add_action(c.signo, {count_action, nullptr});
        ADD_FAILURE() << "accepted signal " << c.signo;
      } catch (const std::system_error& e) {
        EXPECT_EQ(std::errc::invalid_argument, e.code());
        EXPECT_NE(nullptr, std::strstr(e.what(), c.needle)) << e.what();
      }
      std::error_code ec;
      const auto id = add_action(c.signo, {count_action, nullptr}, {}, ec);
      EXPECT_EQ(std::errc::invalid_argument, ec) << c.signo;
      EXPECT_FALSE(id);
    }
    EXPECT_THROW(add_action(SIGUSR1, {nullptr, nullptr}), std::system_error);
    EXPECT_TRUE(same(before, all_dispositions()));

    // Fault signals are accepted when asked for explicitly, and given back afterwards.
    sigrelay::action_options faults;
    faults.allow_fault_signals = true;
    const auto id = add_action(SIGSEGV, {count_action, nullptr}, faults);
    EXPECT_TRUE(id);
    EXPECT_TRUE(remove_action(id));
    EXPECT_TRUE(same(before, all_dispositions()));
  });
}

std::atomic<pid_t> g_handled_on{0};
std::atomic<int> g_value{0};
std::atomic<int> g_code{0};
void record_thread(void*, const siginfo_t& info) noexcept {
  g_handled_on.store(gettid());
  g_value.store(info.si_value.sival_int);
  g_code.store(info.si_code);
}

TEST(Registry, TgkillReachesTheChosenThreadAndSigqueueCarriesItsValue) {
  SIGRELAY_IN_CHILD([] {
    const auto id = add_action(SIGUSR1, {record_thread, nullptr});
    std::atomic<pid_t> worker_tid{0};
    std::atomic<bool> done{false};
    std::thread worker([&] {
      worker_tid.store(gettid());
      while (!done.load()) usleep(1000);
    });
    while (worker_tid.load() == 0) usleep(100);
    ASSERT_EQ(0, tgkill(getpid(), worker_tid.load(), SIGUSR1));
    for (int i = 0; i < 5000 && g_handled_on.load() == 0; ++i) usleep(1000);
    EXPECT_EQ(worker_tid.load(), g_handled_on.load());
    EXPECT_EQ(SI_TKILL, g_code.load());
    done.store(true);
    worker.join();

    ASSERT_EQ(0, sigqueue(getpid(), SIGUSR1, sigval{.sival_int = 4242}));
    EXPECT_EQ(4242, g_value.load());
    EXPECT_EQ(SI_QUEUE, g_code.load());
    remove_action(id);
  });
}

TEST(Registry, RestartOptionDecidesWhetherABlockedReadIsInterrupted) {
  for (const bool restart : {false, true}) {
    SIGRELAY_IN_CHILD([restart] {
      sigrelay::action_options options;
      options.restart = restart;
      const auto id = add_action(SIGUSR1, {count_action, nullptr}, options);
      EXPECT_EQ(restart, (query(SIGUSR1).sa_flags & SA_RESTART) != 0);
      int fds[2];
      ASSERT_EQ(0, pipe(fds));
      std::atomic<pid_t> tid{0};
      std::atomic<int> result{0}, error{0};
      std::thread reader([&] {
        tid.store(gettid());
        char c;
        const ssize_t n = read(fds[0], &c, 1);
        error.store(n < 0 ? errno : 0);
        result.store(static_cast<int>(n));
      });
      while (tid.load() == 0) usleep(100);
      usleep(20000);  // let it block in read()
      tgkill(getpid(), tid.load(), SIGUSR1);
      for (int i = 0; i < 2000 && g_action_calls.load() == 0; ++i) usleep(1000);
      usleep(20000);
      if (restart) {
        ASSERT_EQ(1, write(fds[1], "x", 1));  // the restarted read gets the byte
      }
      reader.join();
      EXPECT_EQ(1, g_action_calls.load());
      if (restart) {
        EXPECT_EQ(1, result.load());
      } else {
        EXPECT_EQ(-1, result.load());
        EXPECT_EQ(EINTR, error.load());
      }
      remove_action(id);
    });
  }
}

std::atomic<int> g_outer{0}, g_inner{0};
void raise_inner(void*, const siginfo_t&) noexcept {
  g_outer.fetch_add(1);
  tgkill(getpid(), gettid(), SIGUSR2);  // nested delivery inside the trampoline
}
void count_inner(void*, const siginfo_t&) noexcept { g_inner.fetch_add(1); }

TEST(Registry, NestedDeliveriesRunTheirOwnActions) {
  SIGRELAY_IN_CHILD([] {
    const auto a = add_action(SIGUSR1, {raise_inner, nullptr});
    const auto b = add_action(SIGUSR2, {count_inner, nullptr});
    raise_here(SIGUSR1);
    EXPECT_EQ(1, g_outer.load());
    EXPECT_EQ(1, g_inner.load());
    remove_action(a);
    remove_action(b);
  });
}

TEST(Registry, AfterForkAChildsDeliveryDoesNotWakeTheParent) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::relay::wakeup_fd wake;
    const auto id = add_action(SIGUSR1, wake.get());
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      kill(getpid(), SIGUSR1);  // the child's own signal
      _exit(0);
    }
    EXPECT_TRUE(sigrelay::test::exited_with(sigrelay::test::wait_with_deadline(child, 10), 0));
    EXPECT_EQ(0U, wake.drain()) << "the child's delivery woke the parent's fd";
    kill(getpid(), SIGUSR1);
    EXPECT_EQ(1U, wake.drain()) << "the parent's own delivery wakes it";
    remove_action(id);
  });
}

// The grace period: contexts are freed the moment remove_action() returns, while other threads flood
// the signal. A handler still using a context would be a use-after-free (ASan) or a race (TSan).
struct counted {
  std::atomic<std::uint64_t> hits{0};
  std::uint64_t canary = 0xfeedfacecafebeefULL;
};
std::atomic<std::uint64_t> g_bad_canary{0};
void check_and_count(void* ctx, const siginfo_t&) noexcept {
  auto* c = static_cast<counted*>(ctx);
  if (c->canary != 0xfeedfacecafebeefULL) g_bad_canary.fetch_add(1);
  c->hits.fetch_add(1);
}

TEST(Registry, RemoveActionGracePeriodUnderAFlood) {
  SIGRELAY_IN_CHILD(
      [] {
        std::atomic<std::uint64_t> base{0};
        const auto keep = add_action(SIGUSR1, sigrelay::relay::add_count(base));  // keeps the trampoline
        std::atomic<bool> stop{false};
        std::vector<std::thread> threads;
        std::atomic<int> receivers_ready{0};
        std::vector<pid_t> receiver_tids(2);
        for (int r = 0; r < 2; ++r) {
          threads.emplace_back([&, r] {
            receiver_tids[r] = gettid();
            receivers_ready.fetch_add(1);
            while (!stop.load()) sched_yield();
          });
        }
        while (receivers_ready.load() < 2) usleep(100);
        for (int f = 0; f < 2; ++f) {
          threads.emplace_back([&, f] {
            for (unsigned i = 0; !stop.load(); ++i) {
              if (f == 0) {
                kill(getpid(), SIGUSR1);
              } else {
                tgkill(getpid(), receiver_tids[i % 2], SIGUSR1);
              }
            }
          });
        }
        std::atomic<std::uint64_t> churned{0};
        for (int w = 0; w < 2; ++w) {
          threads.emplace_back([&] {
            for (int i = 0; i < 1500; ++i) {
              auto ctx = std::make_unique<counted>();
              const auto id = add_action(SIGUSR1, {check_and_count, ctx.get()});
              if (i % 3 == 0) sched_yield();
              EXPECT_TRUE(remove_action(id));
              ctx->canary = 0;  // poison: any later handler call would count a bad canary...
              ctx.reset();      // ...or touch freed memory
              churned.fetch_add(1);
            }
          });
        }
        threads[4].join();
        threads[5].join();
        stop.store(true);
        for (int i = 0; i < 4; ++i) threads[i].join();
        EXPECT_EQ(3000U, churned.load());
        EXPECT_EQ(0U, g_bad_canary.load());
        EXPECT_GT(base.load(), 0U);
        remove_action(keep);
      },
      120);
}

// registry.hpp, fork_generation(): "the child of fork() counts one more than its parent ..., and so
// does a child of _Fork() once it called after_fork_in_child(); ... A child of _Fork() that has not
// called after_fork_in_child() yet still has its parent's count". A grandchild counts two more.
TEST(Registry, ForkGenerationCountsForkChildrenAndRawForkChildrenOnceTheyCallAfterForkInChild) {
  SIGRELAY_IN_CHILD([] {
    const auto id = add_action(SIGUSR1, {count_action, nullptr});  // the registry (and its fork handler)
    const unsigned parent = sigrelay::fork_generation();
    std::fflush(nullptr);
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      if (sigrelay::fork_generation() != parent + 1) ::_exit(10);
      const pid_t grandchild = ::fork();
      if (grandchild < 0) ::_exit(11);
      if (grandchild == 0) ::_exit(sigrelay::fork_generation() == parent + 2 ? 0 : 12);
      ::_exit(sigrelay::test::exited_with(sigrelay::test::wait_with_deadline(grandchild, 20), 0) ? 0 : 13);
    }
    EXPECT_TRUE(sigrelay::test::exited_with(sigrelay::test::wait_with_deadline(child, 20), 0))
        << "10: fork() child, 12/13: grandchild";
    EXPECT_EQ(parent, sigrelay::fork_generation()) << "the parent's count moved";
    child = ::_Fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      if (sigrelay::fork_generation() != parent) ::_exit(20);
      sigrelay::after_fork_in_child();
      if (sigrelay::fork_generation() != parent + 1) ::_exit(21);
      sigrelay::after_fork_in_child();  // a second call does nothing
      ::_exit(sigrelay::fork_generation() == parent + 1 ? 0 : 22);
    }
    EXPECT_TRUE(sigrelay::test::exited_with(sigrelay::test::wait_with_deadline(child, 20), 0))
        << "20: moved without after_fork_in_child(), 21: not after it, 22: moved again";
    remove_action(id);
  });
}

}  // namespace
