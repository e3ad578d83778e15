// SPDX-License-Identifier: MIT
// tests/contract_core_test.cc — the promises of signals.hpp, registry.hpp and relays.hpp under
// hostile conditions that the other test files leave out or cover only once.
//
// An audit of the headers' contracts: each test quotes (in its comment) the promise it checks and
// sends real signals (kill, sigqueue, tgkill, pidfd_send_signal) to check it precisely:
// - Errors: a refused call, and a constructor that fails half-way (out of memory), leave every
//   disposition and the thread's mask exactly as they were, and name the signal.
// - Fork and _Fork(): an inherited copy refuses add() (object and handle) with the documented code and
//   never changes the parent's signalfd; after_fork_in_child() gives back exactly the disposition
//   from before sigrelay for signals only inherited objects subscribe, and nothing in the parent; a
//   signal sent the moment fork() returns finds the right disposition (a race loop).
// - Teardown on another thread: close() and a stop request racing the start of a wait (race loops),
//   handle::remove() under a flood ("once remove() returns, none is recorded"), handle::add() racing
//   the destructor (no subscription may outlive the object), remove_action() while the action runs.
// - Floods on one CPU: realtime kill() and pidfd_send_signal() siginfos (which the kernel will not let
//   a non-main thread re-queue) mixed with sigqueue(): received + dropped == sent, in the order sent.
// Every test body runs in a forked child under a watchdog (support/child.hpp) and sets the
// dispositions and masks it relies on first.
#include <gtest/gtest.h>

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <new>
#include <string>
#include <system_error>
#include <thread>
#include <vector>
#if __has_include(<stop_token>)
#include <stop_token>
#endif

#include "sigrelay/registry.hpp"
#include "sigrelay/relays.hpp"
#include "sigrelay/signals.hpp"
#include "support/child.hpp"
#include "support/events.hpp"
#include "support/flood_limit.hpp"
#include "support/platform.hpp"
#include "support/process.hpp"
#include "support/senders.hpp"
#include "support/signal_state.hpp"

namespace {

using namespace std::chrono_literals;
using sigrelay::backend;
using sigrelay::signal_event;
using sigrelay::signals;
using sigrelay::signals_options;
using sigrelay::test::exited_with;
using sigrelay::test::killed_by;
using sigrelay::test::this_tid;
using sigrelay::test::total;
using sigrelay::test::wait_with_deadline;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kUnderSanitizer = true;
#else
constexpr bool kUnderSanitizer = false;
#endif

// --- Helpers ---------------------------------------------------------------------------------------

void tgkill_thread(pid_t tid, int signo) { ::syscall(SYS_tgkill, ::getpid(), tid, signo); }

int pidfd_open_of(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }
int pidfd_send(int pidfd, int signo, siginfo_t* info) {
  return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, signo, info, 0));
}

bool blocked_here(int signo) {
  sigset_t mask;
  pthread_sigmask(SIG_BLOCK, nullptr, &mask);
  return sigismember(&mask, signo) == 1;
}

void set_blocked(int signo, bool block) {
  sigset_t one;
  sigemptyset(&one);
  sigaddset(&one, signo);
  pthread_sigmask(block ? SIG_BLOCK : SIG_UNBLOCK, &one, nullptr);
}

// One signal's disposition as sigaction() reports it (rc -1 for the numbers glibc refuses).
struct disposition {
  int rc = 0;
  void* handler = nullptr;
  int flags = 0;
  std::uint64_t mask = 0;
};

disposition disposition_of(int signo) {
  struct sigaction sa {};
  disposition d;
  d.rc = sigaction(signo, nullptr, &sa);
  if (d.rc != 0) return d;
  d.handler = (sa.sa_flags & SA_SIGINFO) != 0 ? reinterpret_cast<void*>(sa.sa_sigaction)
                                              : reinterpret_cast<void*>(sa.sa_handler);
  d.flags = sa.sa_flags;
  for (int s = 1; s < NSIG && s <= 64; ++s)
    if (sigismember(&sa.sa_mask, s) == 1) d.mask |= std::uint64_t{1} << (s - 1);
  return d;
}

// SIG_DFL and SIG_IGN as the handler pointers disposition_of() reports.
void* const kDfl = reinterpret_cast<void*>(SIG_DFL);
void* const kIgn = reinterpret_cast<void*>(SIG_IGN);

using sigrelay::test::differences;
using sigrelay::test::signal_state;
using sigrelay::test::snapshot;

// The sigmask of every signalfd this process holds open (/proc/self/fdinfo), in fd order.
std::vector<std::string> signalfd_masks() {
  std::vector<std::pair<int, std::string>> found;
  if (DIR* dir = opendir("/proc/self/fdinfo")) {
    while (const dirent* entry = readdir(dir)) {
      if (entry->d_name[0] == '.') continue;
      std::ifstream in(std::string("/proc/self/fdinfo/") + entry->d_name);
      std::string line;
      while (std::getline(in, line)) {
        if (line.rfind("sigmask:", 0) == 0) found.emplace_back(std::atoi(entry->d_name), line);
      }
    }
    closedir(dir);
  }
  std::sort(found.begin(), found.end());
  std::vector<std::string> out;
  for (auto& f : found) out.push_back(std::to_string(f.first) + " " + f.second);
  return out;
}

// Whether `f` throws std::system_error with `code` and a message naming `name`.
testing::AssertionResult throws_naming(const std::function<void()>& f, std::errc code,
                                       const std::string& name) {
  try {
    f();
  } catch (const std::system_error& e) {
    if (e.code() != std::make_error_code(code))
      return testing::AssertionFailure() << "code " << e.code().message() << ": " << e.what();
    if (std::string(e.what()).find(name) == std::string::npos)
      return testing::AssertionFailure() << "message does not name " << name << ": " << e.what();
    return testing::AssertionSuccess();
  } catch (const std::exception& e) {
    return testing::AssertionFailure() << "threw something else: " << e.what();
  }
  return testing::AssertionFailure() << "did not throw";
}

// Collects events until `n` deliveries of `signo` came, or 5 s passed.
std::vector<signal_event> collect(signals& sigs, int signo, std::uint64_t n = 1) {
  std::vector<signal_event> all;
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (total(all, signo) < n && std::chrono::steady_clock::now() < deadline) {
    for (auto& e : sigs.wait_for(20ms)) all.push_back(e);
  }
  return all;
}

std::string backend_name(const testing::TestParamInfo<backend>& p) {
  return p.param == backend::relay ? "relay" : "signalfd";
}

class Contract : public testing::TestWithParam<backend> {
 protected:
  void SetUp() override {
    if (GetParam() == backend::signalfd) SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the signalfd backend");
  }
  backend kind() const { return GetParam(); }
};

INSTANTIATE_TEST_SUITE_P(Backends, Contract, testing::Values(backend::relay, backend::signalfd),
                         backend_name);

std::atomic<std::uint64_t> g_count{0};
void count_fn(void*, const siginfo_t&) noexcept { g_count.fetch_add(1); }

}  // namespace

namespace {

// --- Errors ----------------------------------------------------------------------------------------

// signals.hpp, Errors: "a failed constructor or add() leaves the process's signal state as it was
// (every disposition, the masks, the registry's actions) ... That covers running out of ... memory
// (std::bad_alloc ...)". The constructor here fails after it subscribed its first signal: the realtime
// ring of its second one cannot be allocated (an address-space limit). Its first signal is one that
// a signalfd-backed object of this thread blocks; subscribing it lifted that block ("if one is added
// later in the thread that holds the block, that thread's block is lifted at once"). After the
// failure the mask must be what it was: SIGUSR1 blocked, as the surviving object's only subscriber.
TEST(ContractErrors, AConstructorFailingHalfWayLeavesAnotherObjectsSignalfdBlockInPlace) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the signalfd backend");
  if (kUnderSanitizer) GTEST_SKIP() << "an address-space limit cannot be set under a sanitizer's shadow";
  SIGRELAY_IN_CHILD([] {
    signals first({SIGUSR1}, backend::signalfd);
    ASSERT_TRUE(blocked_here(SIGUSR1)) << "precondition: the only subscriber blocks it here";
    const signal_state before = snapshot();

    // Room for ordinary work, none for a ring of 2^24 records.
    struct rlimit old {};
    ASSERT_EQ(0, getrlimit(RLIMIT_AS, &old));
    long vm_kb = 0;
    {
      std::ifstream status("/proc/self/status");
      std::string line;
      while (std::getline(status, line))
        if (line.rfind("VmSize:", 0) == 0) vm_kb = std::atol(line.c_str() + 7);
    }
    ASSERT_GT(vm_kb, 0);
    struct rlimit low = old;
    low.rlim_cur = static_cast<rlim_t>(vm_kb) * 1024 + (rlim_t{128} << 20);
    ASSERT_EQ(0, setrlimit(RLIMIT_AS, &low));
    bool threw = false;
    try {
      signals second({SIGUSR1, SIGRTMIN + 1},
                     signals_options{backend::relay, signals_options::max_realtime_capacity});
    } catch (const std::bad_alloc&) {
      threw = true;
    } catch (const std::system_error& e) {
      threw = true;
      EXPECT_EQ(std::make_error_code(std::errc::not_enough_memory), e.code()) << e.what();
    }
    ASSERT_EQ(0, setrlimit(RLIMIT_AS, &old));
    ASSERT_TRUE(threw) << "precondition: the ring could be allocated under the limit";

    EXPECT_EQ("", differences(before, snapshot()))
        << "the failed constructor changed the signal state (the first object's block is gone)";
    // The surviving object still gets its signal.
    ASSERT_EQ(0, kill(getpid(), SIGUSR1));
    EXPECT_EQ(1U, total(collect(first, SIGUSR1), SIGUSR1));
  });
}

// signals.hpp, Errors: "Functions not declared noexcept throw std::system_error (the signal named in
// the message); a failed constructor or add() leaves the process's signal state as it was";
// registry.hpp, add_action(): "std::errc::invalid_argument (message names the signal) ... On any error
// nothing changed: the disposition, the signal's actions and every mask are as before the call";
// ignore()/reset()/ignored(): "On error, nothing changed". Checked against every signal's whole
// disposition and the thread's mask, with foreign handlers, ignored signals, a program block and live
// objects of both backends around, and a refused signal listed after good ones.
TEST(ContractErrors, RefusedCallsLeaveEveryDispositionAndTheMaskAsTheyWereAndNameTheSignal) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the signalfd backend");
  SIGRELAY_IN_CHILD([] {
    struct sigaction foreign {};
    foreign.sa_sigaction = [](int, siginfo_t*, void*) {};
    foreign.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&foreign.sa_mask);
    sigaddset(&foreign.sa_mask, SIGALRM);
    ASSERT_EQ(0, sigaction(SIGUSR2, &foreign, nullptr));
    signal(SIGHUP, SIG_IGN);
    set_blocked(SIGPIPE, true);  // the program's own block
    signals fd_sigs({SIGINT}, backend::signalfd);
    signals relay_sigs({SIGQUIT});
    signals closed_sigs({SIGTSTP});
    closed_sigs.get_handle().close();
    const signal_state before = snapshot();
    const auto unchanged = [&] { return differences(before, snapshot()); };
    const sigrelay::action noop{count_fn, nullptr};

    EXPECT_TRUE(throws_naming(
        [] {
          signals s({SIGUSR2, SIGRTMIN + 1, SIGHUP, SIGKILL}, backend::signalfd);
        },
        std::errc::invalid_argument, "SIGKILL"));
    EXPECT_EQ("", unchanged());
    EXPECT_TRUE(throws_naming(
        [] {
          signals s({SIGUSR2, SIGINT, SIGSTOP});
        },
        std::errc::invalid_argument, "SIGSTOP"));
    EXPECT_EQ("", unchanged());
    const int above = SIGRTMAX + 1;
    EXPECT_TRUE(throws_naming(
        [above] {
          signals s({SIGUSR2, SIGQUIT, above}, backend::signalfd);
        },
        std::errc::invalid_argument, std::to_string(above)));
    EXPECT_EQ("", unchanged());
    EXPECT_TRUE(throws_naming([] { signals s({SIGHUP, 0}); }, std::errc::invalid_argument, "signal 0"));
    EXPECT_EQ("", unchanged());
    EXPECT_TRUE(throws_naming([&] { fd_sigs.add(SIGSTOP); }, std::errc::invalid_argument, "SIGSTOP"));
    EXPECT_TRUE(
        throws_naming([&] { fd_sigs.get_handle().add(SIGKILL); }, std::errc::invalid_argument, "SIGKILL"));
    EXPECT_TRUE(throws_naming([&] { closed_sigs.add(SIGUSR2); }, std::errc::bad_file_descriptor, "SIGUSR2"));
    EXPECT_TRUE(throws_naming([&] { closed_sigs.get_handle().add(SIGUSR2); }, std::errc::bad_file_descriptor,
                              "SIGUSR2"));
    EXPECT_EQ("", unchanged());
    EXPECT_TRUE(
        throws_naming([&] { sigrelay::add_action(SIGSEGV, noop); }, std::errc::invalid_argument, "SIGSEGV"));
    EXPECT_TRUE(throws_naming(
        [&] {
          sigrelay::add_action(SIGUSR2, sigrelay::action{nullptr, nullptr});
        },
        std::errc::invalid_argument, "SIGUSR2"));
    EXPECT_TRUE(
        throws_naming([&] { sigrelay::add_action(SIGSTOP, noop); }, std::errc::invalid_argument, "SIGSTOP"));
    std::error_code ec;
    const sigrelay::action_id none = sigrelay::add_action(SIGKILL, noop, {}, ec);
    EXPECT_EQ(std::make_error_code(std::errc::invalid_argument), ec);
    EXPECT_FALSE(none);
    EXPECT_EQ("", unchanged());
    EXPECT_TRUE(throws_naming([] { sigrelay::ignore(SIGKILL); }, std::errc::invalid_argument, "SIGKILL"));
    EXPECT_TRUE(throws_naming([] { sigrelay::reset(SIGSTOP); }, std::errc::invalid_argument, "SIGSTOP"));
    EXPECT_TRUE(throws_naming([] { sigrelay::ignored(-3); }, std::errc::invalid_argument, "-3"));
    EXPECT_EQ("", unchanged());
    EXPECT_FALSE(sigrelay::remove_action(sigrelay::action_id{}));
    EXPECT_EQ("", unchanged());

    // The live objects still work.
    ASSERT_EQ(0, kill(getpid(), SIGINT));
    EXPECT_EQ(1U, total(collect(fd_sigs, SIGINT), SIGINT));
    ASSERT_EQ(0, kill(getpid(), SIGQUIT));
    EXPECT_EQ(1U, total(collect(relay_sigs, SIGQUIT), SIGQUIT));
  });
}

// --- Fork and _Fork() --------------------------------------------------------------------------------

// signals.hpp, Fork: "After fork(), the child's copy of an object is dead: ... nothing the child does
// with it ... reads or writes the descriptors it shares with the parent or changes the parent's
// signalfd ... pending() and wait*() return nothing at once; add() throws
// (std::errc::operation_not_permitted)"; handle: "a fork child's copy throws
// std::errc::operation_not_permitted". Also for a child of _Fork() that never called
// after_fork_in_child() ("inherited objects still never read or write the shared descriptors").
// The parent's signalfd mask is read from /proc/self/fdinfo before and after.
TEST_P(Contract, AForkChildsCopyRefusesAddThroughObjectAndHandleAndLeavesTheParentsSignalfd) {
  const backend k = kind();
  SIGRELAY_IN_CHILD([k] {
    signals sigs({SIGUSR1}, k);
    signals::handle handle = sigs.get_handle();
    ASSERT_NE(-1, sigs.native_handle());
    const std::vector<std::string> masks = signalfd_masks();
    if (k == backend::signalfd) {
      ASSERT_FALSE(masks.empty());
    }
    for (const bool raw : {false, true}) {
      std::fflush(nullptr);
      const pid_t child = raw ? _Fork() : fork();
      if (child == 0) {
        ::alarm(10);
        try {
          sigs.add(SIGUSR2);
          _exit(2);
        } catch (const std::system_error& e) {
          if (e.code() != std::make_error_code(std::errc::operation_not_permitted)) _exit(3);
          if (std::strstr(e.what(), "SIGUSR2") == nullptr) _exit(4);
        }
        try {
          handle.add(SIGHUP);
          _exit(5);
        } catch (const std::system_error& e) {
          if (e.code() != std::make_error_code(std::errc::operation_not_permitted)) _exit(6);
          if (std::strstr(e.what(), "SIGHUP") == nullptr) _exit(7);
        }
        if (!sigs.pending().empty() || !sigs.wait_for(0ns).empty()) _exit(8);
        handle.remove(SIGUSR1);  // the copy's own business: never the parent's signalfd
        _exit(0);
      }
      EXPECT_TRUE(exited_with(wait_with_deadline(child, 20), 0)) << (raw ? "_Fork" : "fork");
      EXPECT_EQ(masks, signalfd_masks()) << "a child changed the parent's signalfd";
    }
    EXPECT_EQ(kDfl, disposition_of(SIGUSR2).handler);
    EXPECT_EQ(kDfl, disposition_of(SIGHUP).handler);
    EXPECT_FALSE(sigrelay::test::readable(sigs.native_handle(), 0));
    ASSERT_EQ(0, kill(getpid(), SIGUSR1));
    EXPECT_EQ(1U, total(collect(sigs, SIGUSR1), SIGUSR1));
  });
}

std::atomic<int> g_foreign_term_calls{0};
void foreign_term(int, siginfo_t*, void*) { g_foreign_term_calls.fetch_add(1); }

// signals.hpp, Fork, Dispositions: "in the child, a signal whose every subscriber is such an inherited
// object gets back the disposition it had before sigrelay (SIG_DFL, SIG_IGN, or a handler) ... A signal
// that also has other actions (a registry action ...) keeps sigrelay's handler and those actions";
// "Masks: the child gets the forking thread's mask minus what sigrelay blocked in that thread";
// registry.hpp, after_fork_in_child(): "unblocks in the calling thread what sigrelay's signalfd
// backend had blocked ... and gives back the saved disposition of every signal whose only
// subscribers are inherited `signals` objects", and "Anywhere else (the parent, ...) it does nothing".
// The earlier handler must come back whole (handler, flags, mask).
TEST(ContractFork, InheritedOnlySignalsGetTheirOldDispositionBackOthersKeepTheirActions) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the signalfd backend");
  SIGRELAY_IN_CHILD([] {
    struct sigaction old_term {};
    old_term.sa_sigaction = foreign_term;
    old_term.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&old_term.sa_mask);
    sigaddset(&old_term.sa_mask, SIGALRM);
    ASSERT_EQ(0, sigaction(SIGTERM, &old_term, nullptr));
    const disposition term_before = disposition_of(SIGTERM);
    const disposition usr2_before = disposition_of(SIGUSR2);

    signals relay_sigs({SIGTERM, SIGUSR1});
    signals fd_sigs({SIGUSR2}, backend::signalfd);
    ASSERT_TRUE(blocked_here(SIGUSR2));
    const sigrelay::action_id counter = sigrelay::add_action(SIGUSR1, {count_fn, nullptr});

    // In the parent, after_fork_in_child() changes nothing at all.
    const signal_state parent = snapshot();
    sigrelay::after_fork_in_child();
    EXPECT_EQ("", differences(parent, snapshot()));

    for (const bool raw : {false, true}) {
      std::fflush(nullptr);
      const pid_t child = raw ? _Fork() : fork();
      if (child == 0) {
        ::alarm(10);
        if (raw) {
          if (!blocked_here(SIGUSR2)) _exit(2);  // documented: _Fork() keeps the mask
          sigrelay::after_fork_in_child();
        }
        if (blocked_here(SIGUSR2)) _exit(3);
        const disposition term = disposition_of(SIGTERM);
        if (term.handler != term_before.handler || term.flags != term_before.flags ||
            term.mask != term_before.mask)
          _exit(4);
        const disposition usr2 = disposition_of(SIGUSR2);
        if (usr2.handler != usr2_before.handler) _exit(5);
        if (disposition_of(SIGUSR1).handler == kDfl) _exit(6);  // the counter keeps the trampoline
        const std::uint64_t counted = g_count.load();
        tgkill_thread(this_tid(), SIGUSR1);
        if (g_count.load() != counted + 1) _exit(7);
        tgkill_thread(this_tid(), SIGTERM);
        if (g_foreign_term_calls.load() != 1) _exit(8);
        if (!relay_sigs.pending().empty() || !fd_sigs.pending().empty()) _exit(9);
        const signal_state again = snapshot();
        sigrelay::after_fork_in_child();  // a second call does nothing
        if (!differences(again, snapshot()).empty()) _exit(10);
        _exit(0);
      }
      EXPECT_TRUE(exited_with(wait_with_deadline(child, 20), 0)) << (raw ? "_Fork" : "fork");
    }
    EXPECT_EQ("", differences(parent, snapshot()));
    EXPECT_EQ(0, g_foreign_term_calls.load());
    EXPECT_TRUE(relay_sigs.pending().empty());
    EXPECT_TRUE(fd_sigs.pending().empty());
    EXPECT_TRUE(sigrelay::remove_action(counter));
  });
}

// signals.hpp, Fork: "Between fork() and the child's fork handler every signal is blocked in the
// forking thread, so a signal sent to the child at once is held until its disposition is right": a
// worker that keeps the parent's objects "dies by SIGTERM as if sigrelay were not there". A race
// loop: the parent signals each child the moment fork() returns, before the child ran a line.
TEST_P(Contract, ASigtermSentTheMomentForkReturnsAlwaysKillsTheWorker) {
  const backend k = kind();
  SIGRELAY_IN_CHILD(
      [k] {
        signals sigs({SIGTERM, SIGUSR1}, k);
        int survived = 0;
        for (int i = 0; i < 150; ++i) {
          std::fflush(nullptr);
          const pid_t worker = fork();
          if (worker == 0) {
            for (int j = 0; j < 300; ++j) usleep(1000);
            _exit(3);
          }
          kill(worker, SIGTERM);
          const int status = wait_with_deadline(worker, 10);
          if (!killed_by(status, SIGTERM)) {
            ++survived;
            ADD_FAILURE() << "worker " << i << ": " << sigrelay::test::describe_status(status);
            if (survived > 3) break;
          }
        }
        EXPECT_EQ(0, survived);
        EXPECT_TRUE(sigs.pending().empty()) << "a worker's SIGTERM reached the parent's object";
      },
      120);
}

// --- Teardown racing a consumer ----------------------------------------------------------------------

// signals.hpp, handle: "Thread-safe closer ...: close() wakes a blocked wait() or loop, which then
// ends"; wait(): "Blocks until at least one event, or until closed". A race loop: close() from
// another thread at the moment the consumer enters wait(), the iterator, or wait_for(forever), so
// that the wake-up meets every point of the way to sleep. A lost wake-up hangs (the watchdog).
TEST_P(Contract, CloseRacingTheStartOfAWaitAlwaysEndsIt) {
  const backend k = kind();
  SIGRELAY_IN_CHILD(
      [k] {
        for (int mode = 0; mode < 3; ++mode) {
          for (int i = 0; i < 100; ++i) {
            signals sigs({SIGUSR1}, k);
            signals::handle handle = sigs.get_handle();
            std::atomic<bool> go{false};
            std::atomic<int> got{-1};
            std::thread consumer([&] {
              while (!go.load()) {
              }
              if (mode == 0) {
                got.store(static_cast<int>(sigs.wait().size()));
              } else if (mode == 1) {
                int n = 0;
                for (const signal_event& e : sigs) n += static_cast<int>(e.count);
                got.store(n);
              } else {
                got.store(static_cast<int>(sigs.wait_for(std::chrono::hours::max()).size()));
              }
            });
            go.store(true);
            for (int spin = 0; spin < (i % 10) * 200; ++spin)
              std::atomic_signal_fence(std::memory_order_seq_cst);
            handle.close();
            consumer.join();
            EXPECT_EQ(0, got.load()) << "mode " << mode << " round " << i;
            EXPECT_TRUE(sigs.is_closed());
            EXPECT_TRUE(sigrelay::test::readable(sigs.native_handle(), 0)) << "closed: readable for good";
          }
        }
      },
      120);
}

#if defined(__cpp_lib_jthread)
// signals.hpp, wait(std::stop_token): "returning empty ... as soon as it is requested, from any thread
// (a std::stop_callback wakes this wait, without closing anything)". A race loop as above, and the
// object stays usable (not closed) and still receives afterwards.
TEST_P(Contract, AStopRequestRacingTheStartOfAWaitAlwaysEndsItWithoutClosing) {
  const backend k = kind();
  SIGRELAY_IN_CHILD(
      [k] {
        signals sigs({SIGUSR1}, k);
        for (int i = 0; i < 300; ++i) {
          std::stop_source stop;
          std::atomic<bool> go{false};
          std::atomic<int> got{-1};
          std::thread consumer([&] {
            while (!go.load()) {
            }
            got.store(static_cast<int>(i % 2 == 0 ? sigs.wait(stop.get_token()).size()
                                                  : sigs.wait_for(1h, stop.get_token()).size()));
          });
          go.store(true);
          for (int spin = 0; spin < (i % 10) * 200; ++spin)
            std::atomic_signal_fence(std::memory_order_seq_cst);
          stop.request_stop();
          consumer.join();
          EXPECT_EQ(0, got.load()) << "round " << i;
          ASSERT_FALSE(sigs.is_closed());
        }
        ASSERT_EQ(0, kill(getpid(), SIGUSR1));
        EXPECT_EQ(1U, total(collect(sigs, SIGUSR1), SIGUSR1));
      },
      120);
}
#endif

// signals.hpp, handle: "Each call is atomic with respect to the consumer's drains ...: once add()
// returns, every later delivery is recorded and wakes the consumer; once remove() returns, none is
// recorded." Another thread adds and removes SIGUSR2 through a handle while the consumer waits and a
// flood of SIGUSR2 runs (a counting action keeps the signal from killing once the object lets go).
// After each remove(): one drain may still hand out what was recorded before; every later drain
// must have no SIGUSR2, however many deliveries the counting action sees meanwhile.
TEST_P(Contract, OnceAHandlesRemoveReturnsNothingMoreIsRecordedUnderAFlood) {
  const backend k = kind();
  SIGRELAY_IN_CHILD(
      [k] {
        std::atomic<bool> stop{false};
        std::atomic<pid_t> sleeper_tid{0};
        std::thread sleeper([&] {  // created before any object: it blocks nothing
          sleeper_tid.store(this_tid());
          while (!stop.load()) usleep(200);
        });
        while (sleeper_tid.load() == 0) usleep(100);
        const sigrelay::action_id counter = sigrelay::add_action(SIGUSR2, {count_fn, nullptr});
        signals sigs({SIGUSR1}, k);
        signals::handle handle = sigs.get_handle();
        std::thread flooder([&] {
          while (!stop.load()) {
            kill(getpid(), SIGUSR2);
            tgkill_thread(sleeper_tid.load(), SIGUSR2);
          }
        });
        for (int round = 0; round < 40; ++round) {
          std::atomic<bool> removed{false};
          std::thread changer([&] {
            handle.add(SIGUSR2);
            usleep(2000);
            handle.remove(SIGUSR2);
            removed.store(true);
          });
          while (!removed.load()) (void)sigs.wait_for(1ms);
          changer.join();
          (void)sigs.pending();  // what was recorded before remove() returned
          const std::uint64_t seen = g_count.load();
          const auto deadline = std::chrono::steady_clock::now() + 3s;
          while (g_count.load() < seen + 50 && std::chrono::steady_clock::now() < deadline) usleep(100);
          EXPECT_GE(g_count.load(), seen + 50) << "the flood stalled";
          const std::vector<signal_event> late = sigs.pending();
          EXPECT_EQ(0U, total(late, SIGUSR2)) << "round " << round << ": recorded after remove() returned";
          if (total(late, SIGUSR2) != 0) break;
        }
        stop.store(true);
        flooder.join();
        sleeper.join();
        EXPECT_TRUE(sigrelay::remove_action(counter));
      },
      120);
}

// signals.hpp, Thread safety: the handle "outlives the object safely: its close(), and its
// add()/remove()"; Errors of add(): "add() on a closed object ... throws std::system_error with
// std::errc::bad_file_descriptor" and the object's destructor "unsubscribes (restoring a signal's
// disposition if it was the last subscriber)". A handle's add() racing the destructor on another
// thread must either land before the destructor's unsubscription (and be undone by it) or throw:
// never leave a subscription that nobody can drain, which would swallow the signal for good.
TEST_P(Contract, AHandlesAddRacingTheDestructorNeverLeavesASubscriptionBehind) {
  const backend k = kind();
  SIGRELAY_IN_CHILD(
      [k] {
        const signal_state before = snapshot();
        for (int i = 0; i < 200; ++i) {
          auto sigs = std::make_unique<signals>(std::initializer_list<int>{SIGUSR1}, k);
          signals::handle handle = sigs->get_handle();
          std::atomic<bool> go{false};
          std::thread adder([&] {
            while (!go.load()) {
            }
            for (;;) {
              try {
                handle.add(SIGUSR2);
                handle.add(SIGRTMIN + 3);
              } catch (const std::system_error& e) {
                EXPECT_EQ(std::make_error_code(std::errc::bad_file_descriptor), e.code()) << e.what();
                return;
              }
            }
          });
          go.store(true);
          for (int spin = 0; spin < (i % 20) * 100; ++spin)
            std::atomic_signal_fence(std::memory_order_seq_cst);
          sigs.reset();
          adder.join();
          const std::string diff = differences(before, snapshot());
          ASSERT_EQ("", diff) << "round " << i << ": a subscription outlived the object";
        }
        // The orphaned handle: closed, refuses add() naming the signal, and changes nothing.
        signals::handle orphan;
        {
          signals sigs({SIGUSR1}, k);
          orphan = sigs.get_handle();
        }
        EXPECT_TRUE(orphan.is_closed());
        EXPECT_TRUE(throws_naming([&] { orphan.add(SIGHUP); }, std::errc::bad_file_descriptor, "SIGHUP"));
        orphan.remove(SIGUSR1);
        orphan.close();
        EXPECT_EQ("", differences(before, snapshot()));
        // SIGUSR2 acts on the process as before sigrelay: it kills.
        EXPECT_TRUE(killed_by(sigrelay::test::run_in_child([] { kill(getpid(), SIGUSR2); }, 10), SIGUSR2));
      },
      120);
}

// --- The registry: grace period -----------------------------------------------------------------------

std::atomic<bool> g_inside{false};
std::atomic<bool> g_release{false};
void slow_action(void*, const siginfo_t&) noexcept {
  g_inside.store(true);
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!g_release.load() && std::chrono::steady_clock::now() < deadline) {
  }
  g_inside.store(false);
}

// registry.hpp, remove_action(): "Grace period: when this returns, no thread is running the action
// and none ever will again, so its context may be destroyed right away. It waits for handlers already
// running to finish". Deterministic: the action is held running on one thread (tgkill) while a second
// thread removes it; remove_action() must not return until the action has returned, and the signal
// then takes its old disposition (here: ignored, so nothing runs any more).
TEST(ContractRegistry, RemoveActionFromAnotherThreadWaitsForTheRunningAction) {
  // ThreadSanitizer defers a handler to the thread's next intercepted call, and loses some signals
  // (README, Caveats): the action then never starts to run here, and nothing is checked.
  if (SIGRELAY_TEST_UNDER_TSAN) GTEST_SKIP() << "ThreadSanitizer defers or loses the action's run";
  SIGRELAY_IN_CHILD([] {
    signal(SIGUSR1, SIG_IGN);
    const sigrelay::action_id id = sigrelay::add_action(SIGUSR1, {slow_action, nullptr});
    std::atomic<pid_t> tid{0};
    int park[2];
    ASSERT_EQ(0, pipe(park));
    // The runner sleeps in one blocking read() (SA_RESTART: the signal does not end it) until the end.
    std::thread runner([&] {
      tid.store(this_tid());
      char c = 0;
      while (read(park[0], &c, 1) < 0 && errno == EINTR) {
      }
    });
    while (tid.load() == 0) usleep(100);
    sigrelay::test::wait_until_asleep(getpid(), tid.load(), 2s);
    tgkill_thread(tid.load(), SIGUSR1);
    while (!g_inside.load()) usleep(100);
    std::atomic<bool> returned{false};
    std::thread remover([&] {
      EXPECT_TRUE(sigrelay::remove_action(id));
      EXPECT_FALSE(g_inside.load()) << "remove_action() returned while the action ran";
      returned.store(true);
    });
    usleep(200000);
    EXPECT_FALSE(returned.load()) << "remove_action() did not wait for the running action";
    g_release.store(true);
    remover.join();
    EXPECT_TRUE(returned.load());
    EXPECT_EQ(kIgn, disposition_of(SIGUSR1).handler);
    g_release.store(false);
    tgkill_thread(tid.load(), SIGUSR1);  // ignored: the action never runs again
    usleep(20000);
    EXPECT_FALSE(g_inside.load());
    const char c = 1;
    EXPECT_EQ(1, write(park[1], &c, 1));
    runner.join();
    close(park[0]);
    close(park[1]);
  });
}

// --- Origins through pidfd_send_signal() --------------------------------------------------------------

// signals.hpp, origin: "user, // kill(), raise() (SI_USER)"; "queue, // sigqueue() /
// rt_sigqueueinfo() (SI_QUEUE): pid and uid are the sender's word only"; trusted: "A same-user
// process can forge any pid/uid with rt_sigqueueinfo(), but only with a negative si_code other than
// SI_TKILL: so SI_QUEUE ... are never trusted". pidfd_send_signal() is the modern kill()/
// rt_sigqueueinfo(): without a siginfo it sends SI_USER with the kernel's pid and uid; with one, the
// sender's word.
TEST_P(Contract, PidfdSendSignalOriginsAreClassifiedAsKillAndSigqueue) {
  const backend k = kind();
  SIGRELAY_IN_CHILD([k] {
    signals sigs({SIGUSR1, SIGRTMIN + 2}, k);
    const int pidfd = pidfd_open_of(getpid());
    if (pidfd < 0) {
      std::printf("pidfd_open unavailable: %s; nothing checked\n", std::strerror(errno));
      return;
    }
    std::fflush(nullptr);
    const pid_t sender = fork();
    if (sender == 0) {
      if (pidfd_send(pidfd, SIGUSR1, nullptr) != 0) _exit(2);
      siginfo_t info{};
      info.si_signo = SIGRTMIN + 2;
      info.si_code = SI_QUEUE;
      info.si_pid = 1;  // forged
      info.si_uid = 0;
      info.si_value.sival_int = 4242;
      if (pidfd_send(pidfd, SIGRTMIN + 2, &info) != 0) _exit(3);
      _exit(0);
    }
    ASSERT_TRUE(exited_with(wait_with_deadline(sender, 10), 0));
    std::vector<signal_event> all;
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while ((total(all, SIGUSR1) == 0 || total(all, SIGRTMIN + 2) == 0) &&
           std::chrono::steady_clock::now() < deadline) {
      for (auto& e : sigs.wait_for(20ms)) all.push_back(e);
    }
    ASSERT_EQ(1U, total(all, SIGUSR1));
    ASSERT_EQ(1U, total(all, SIGRTMIN + 2));
    for (const signal_event& e : all) {
      if (e.signo == SIGUSR1) {
        EXPECT_EQ(sigrelay::origin_kind::user, e.last.kind);
        EXPECT_EQ(sender, e.last.pid);
        EXPECT_EQ(getuid(), e.last.uid);
        EXPECT_TRUE(e.last.trusted);
      } else {
        EXPECT_EQ(sigrelay::origin_kind::queue, e.last.kind);
        EXPECT_EQ(1, e.last.pid);
        EXPECT_EQ(4242, e.last.value.sival_int);
        EXPECT_FALSE(e.last.trusted);
      }
    }
    close(pidfd);
  });
}

// --- Realtime floods on one CPU -------------------------------------------------------------------------

// signals.hpp, Realtime floods: "If the kernel refuses the re-queue (... or a kill()/tgkill() siginfo,
// si_code >= 0, in a thread other than the main one: the kernel lets a thread forge those only as
// itself), the hold keeps that one siginfo itself ... and runs it before anything else of the signal
// reaches that thread: still held, never dropped for that"; "dropped() counts a delivery that found the
// ring full only where a hold is impossible"; signal_event: "Per signal number, the order sent, when
// one thread receives them". A ring of 8; the only thread that takes the signal is not the main one
// (the consumer blocks it itself); another process sends a mix of kill(), pidfd_send_signal() without
// siginfo (both SI_USER) and sigqueue() (SI_QUEUE, value = index), everything pinned to one CPU.
// Checked: received + dropped() == sent, dropped() == dropped(signo), and where holds exist nothing
// is dropped and the kinds and values come in exactly the order sent.
TEST(ContractFlood, KillPidfdAndSigqueueSiginfosHeldByANonMainThreadComeInTheOrderSent) {
  // Without holds (posix layer) the count is still checked; ThreadSanitizer loses signals that arrive
  // as a thread enters an intercepted blocking call (README, Caveats), so no count holds there.
  if (SIGRELAY_TEST_UNDER_TSAN) GTEST_SKIP() << "ThreadSanitizer loses some of a flood's signals";
  SIGRELAY_IN_CHILD(
      [] {
        struct rlimit pending {};
        getrlimit(RLIMIT_SIGPENDING, &pending);
        if (pending.rlim_cur != RLIM_INFINITY && pending.rlim_cur < 8192) {
          std::printf("RLIMIT_SIGPENDING %llu too low; nothing checked\n",
                      static_cast<unsigned long long>(pending.rlim_cur));
          return;
        }
        ASSERT_TRUE(sigrelay::test::pin_to_one_cpu());  // threads made later inherit it

        const int sig = SIGRTMIN + 4;
        set_blocked(sig, true);  // the consumer's own block: only `taker` takes the signal
        std::atomic<bool> stop{false};
        std::thread taker([&] {
          set_blocked(sig, false);
          while (!stop.load()) usleep(1000);
        });
        signals sigs({sig}, signals_options{backend::relay, 8});
        const int pidfd = pidfd_open_of(getpid());
        ASSERT_GE(pidfd, 0) << std::strerror(errno);
        int report[2];
        ASSERT_EQ(0, pipe(report));
        constexpr int kSends = 1500;  // far below RLIMIT_SIGPENDING: a kill() is never coalesced
        const pid_t parent = getpid();
        std::fflush(nullptr);
        const pid_t sender = fork();
        if (sender == 0) {
          int sent_queue = 0;
          for (int i = 0; i < kSends; ++i) {
            switch (i % 3) {
              case 0: kill(parent, sig); break;
              case 1: pidfd_send(pidfd, sig, nullptr); break;
              default: {
                union sigval v {};
                v.sival_int = i;
                while (sigqueue(parent, sig, v) != 0 && errno == EAGAIN) sched_yield();
                ++sent_queue;
              }
            }
          }
          const int n[2] = {kSends, sent_queue};
          _exit(write(report[1], n, sizeof n) == sizeof n ? 0 : 2);
        }
        close(report[1]);
        int sent[2] = {0, 0};
        // Nothing is drained until the sender is done: the ring is full after 8, and the taker holds
        // every delivery after that (the kernel keeps the rest queued).
        bool reported = false;
        const auto deadline = std::chrono::steady_clock::now() + 60s;
        while (!reported && std::chrono::steady_clock::now() < deadline) {
          if (sigrelay::test::readable(report[0], 100))
            reported = read(report[0], sent, sizeof sent) == sizeof sent;
        }
        std::vector<signal_event> got;
        while (reported && std::chrono::steady_clock::now() < deadline) {
          for (auto& e : sigs.pending()) got.push_back(e);
          if (total(got, sig) + sigs.dropped() >= static_cast<std::uint64_t>(sent[0])) break;
          usleep(200);
        }
        EXPECT_TRUE(exited_with(wait_with_deadline(sender, 10), 0));
        ASSERT_TRUE(reported);
        usleep(50000);
        for (auto& e : sigs.pending()) got.push_back(e);
        stop.store(true);
        taker.join();
        close(report[0]);
        close(pidfd);

        EXPECT_EQ(static_cast<std::uint64_t>(sent[0]), total(got, sig) + sigs.dropped());
        EXPECT_EQ(sigs.dropped(), sigs.dropped(sig));
        const bool holds = !sigrelay::test::posix_platform() && !SIGRELAY_TEST_UNDER_TSAN;
        if (!holds) return;
        EXPECT_EQ(0U, sigs.dropped()) << "a hold was possible for every delivery";
        ASSERT_EQ(static_cast<std::size_t>(kSends), got.size());
        int wrong = 0;
        for (int i = 0; i < kSends && wrong < 5; ++i) {
          const signal_event& e = got[static_cast<std::size_t>(i)];
          const bool queued = i % 3 == 2;
          const bool ok = e.signo == sig && e.count == 1 && e.last.pid == sender &&
                          (queued ? e.last.kind == sigrelay::origin_kind::queue && e.last.value.sival_int == i
                                  : e.last.kind == sigrelay::origin_kind::user && e.last.trusted);
          if (!ok) {
            ++wrong;
            ADD_FAILURE() << "event " << i << " out of order or wrong: " << sigrelay::to_string(e);
          }
        }
      },
      120);
}

}  // namespace
