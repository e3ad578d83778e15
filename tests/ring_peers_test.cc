// SPDX-License-Identifier: MIT
// tests/ring_peers_test.cc — a signalfd-backed object beside another object's realtime ring.
//
// signals.hpp, Backends, "The realtime ring": a drain reads from the signalfd no more siginfos than
// its own ring, and every other ring the signal goes to, have room for; a signal whose other ring
// has none leaves the signalfd's mask (so the signalfd is not readable for it: nothing spins) until
// that ring's consumer drains, which wakes the reader. What a signalfd object reads is recorded in
// ordinary code, where nothing can hold: before this, a relay-backed object beside it whose consumer
// lagged found its ring full and counted the rest in dropped() (a soak's relay object handed out 51%
// of a sustained flood).
// Also: another object ending its subscription on a thread that holds for a full ring beside it
// leaves what the hold keeps queued for the trampoline, which holds it again for that ring (before,
// it was dispatched in ordinary code and dropped there: most of the soak's remaining 3.3%).
#include <gtest/gtest.h>

#include <poll.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "sigrelay/signals.hpp"
#include "support/child.hpp"
#include "support/events.hpp"
#include "support/flood_limit.hpp"
#include "support/platform.hpp"
#include "support/senders.hpp"

namespace {

using namespace std::chrono_literals;
using sigrelay::backend;
using sigrelay::signal_event;
using sigrelay::signals;
using sigrelay::signals_options;
using sigrelay::test::exited_with;
using sigrelay::test::total;
using sigrelay::test::wait_with_deadline;

bool readable(int fd) {
  struct pollfd p {
    fd, POLLIN, 0
  };
  return ::poll(&p, 1, 0) == 1 && (p.revents & POLLIN) != 0;
}

// Whether `got` holds the values first, first+1, ... of `sig`, one event each, sent by this process.
testing::AssertionResult values_in_order(const std::vector<signal_event>& got, int sig, int first) {
  for (std::size_t i = 0; i < got.size(); ++i) {
    const signal_event& e = got[i];
    if (e.signo != sig || e.count != 1 || e.last.value.sival_int != first + static_cast<int>(i))
      return testing::AssertionFailure() << "event " << i << ": " << sigrelay::to_string(e);
  }
  return testing::AssertionSuccess();
}

// Sets SIG_IGN for `sig` (nothing fatal once every object is gone), then blocks or unblocks it here.
void ignore_and_mask(int sig, int how) {
  ASSERT_NE(SIG_ERR, std::signal(sig, SIG_IGN));
  sigset_t only;
  sigemptyset(&only);
  sigaddset(&only, sig);
  ASSERT_EQ(0, pthread_sigmask(how, &only, nullptr));
}

// Drains `s` until it has handed out `count` deliveries of `sig`, at most 100 times: each drain lifts
// this thread's holds, which lets in the next ring's worth.
std::vector<signal_event> drain_until(signals& s, int sig, int count) {
  std::vector<signal_event> got;
  for (int round = 0; round < 100 && total(got, sig) < static_cast<std::uint64_t>(count); ++round) {
    const std::vector<signal_event> batch = s.pending();
    got.insert(got.end(), batch.begin(), batch.end());
  }
  return got;
}

// Nothing of `sig` is left blocked in this thread (a hold) nor queued in the kernel.
void expect_nothing_held_or_queued(int sig) {
  sigset_t now;
  ASSERT_EQ(0, pthread_sigmask(SIG_BLOCK, nullptr, &now));
  EXPECT_EQ(0, sigismember(&now, sig)) << "a hold was left behind";
  sigset_t pending;
  ASSERT_EQ(0, sigpending(&pending));
  EXPECT_EQ(0, sigismember(&pending, sig)) << "a value was left in the kernel";
}

// The signal is blocked in the only thread by the program itself, so the signalfd is the only way in:
// 40 values queued, a relay-backed object with a ring of 8 made first (so the signalfd-backed one, with a
// ring of 64, does not block the signal), drained only when the test says. Each signalfd drain takes
// what the relay ring has room for, then stops, with the signalfd no longer readable; the relay drain
// makes it readable again (its wake-up). Both get 0..39 in order, and nothing is dropped.
TEST(RingPeers, ASignalfdReadTakesNoMoreThanTheOtherRingHoldsAndWaitsForItsDrain) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the signalfd backend");
  SIGRELAY_IN_CHILD(
      [] {
        const int sig = SIGRTMIN + 2;
        sigset_t only;
        sigemptyset(&only);
        sigaddset(&only, sig);
        ASSERT_EQ(0, pthread_sigmask(SIG_BLOCK, &only, nullptr));
        signals relay({sig}, signals_options{backend::relay, 8});
        signals fd({sig}, signals_options{backend::signalfd, 64});
        constexpr int kSends = 40;
        ASSERT_EQ(kSends, sigrelay::test::queue_values(getpid(), sig, kSends)) << "values accepted";
        std::vector<signal_event> got_fd;
        std::vector<signal_event> got_relay;
        int rounds = 0;
        while (total(got_fd, sig) < kSends && rounds < 100) {
          ++rounds;
          ASSERT_TRUE(readable(fd.native_handle()))
              << "round " << rounds << ": the signalfd object was not woken";
          const std::vector<signal_event> batch = fd.pending();
          ASSERT_FALSE(batch.empty()) << "round " << rounds;
          EXPECT_LE(batch.size(), 8U) << "round " << rounds << ": read more than the relay ring holds";
          got_fd.insert(got_fd.end(), batch.begin(), batch.end());
          EXPECT_EQ(0U, relay.dropped()) << "round " << rounds;
          if (total(got_fd, sig) < kSends) {
            // The relay ring is full: the rest waits in the kernel, and nothing says otherwise.
            EXPECT_FALSE(readable(fd.native_handle()))
                << "round " << rounds << ": readable with no room to read into";
            EXPECT_TRUE(fd.pending().empty()) << "round " << rounds;
          }
          const std::vector<signal_event> drained = relay.pending();
          got_relay.insert(got_relay.end(), drained.begin(), drained.end());
        }
        EXPECT_GE(rounds, kSends / 8) << "each round reads at most a relay ring's worth";
        EXPECT_EQ(static_cast<std::uint64_t>(kSends), total(got_fd, sig));
        EXPECT_EQ(static_cast<std::uint64_t>(kSends), total(got_relay, sig));
        EXPECT_TRUE(values_in_order(got_fd, sig, 0)) << "signalfd object";
        EXPECT_TRUE(values_in_order(got_relay, sig, 0)) << "relay object";
        EXPECT_EQ(0U, fd.dropped());
        EXPECT_EQ(0U, relay.dropped());
        sigset_t pending;
        sigpending(&pending);
        EXPECT_EQ(0, sigismember(&pending, sig)) << "a value was left in the kernel";
      },
      30);
}

// The soak's case, scaled down: a relay-backed object (ring 64) drained by a lagging thread, a
// signalfd-backed one (ring 4,096) beside it on the main thread, and another process sigqueue()s
// 20,000 values (retrying on EAGAIN). Both objects get every value and drop none (before:
// the relay object dropped most of what the signalfd object read past its ring). Holds are needed
// for the relay object's own deliveries: not under ThreadSanitizer, nor the posix layer.
TEST(RingPeers, ARelayObjectWithALaggingConsumerLosesNothingToASignalfdObjectBesideIt) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the signalfd backend");
  if (SIGRELAY_TEST_UNDER_TSAN) GTEST_SKIP() << "ThreadSanitizer loses some of a flood's signals";
  SIGRELAY_IN_CHILD(
      [] {
        sigrelay::test::cap_pending_signals_for_a_flood();
        const int sig = SIGRTMIN + 1;
        signals relay({sig}, signals_options{backend::relay, 64});
        signals fd({sig}, signals_options{backend::signalfd, 4096});
        constexpr int kSends = 20000;
        std::atomic<bool> done{false};
        std::vector<signal_event> got_relay;
        std::thread lagging([&] {
          std::vector<signal_event> batch;
          while (!done.load()) {
            std::this_thread::sleep_for(1ms);  // lags behind the sender on purpose
            relay.pending(batch);
            got_relay.insert(got_relay.end(), batch.begin(), batch.end());
          }
          relay.pending(batch);
          got_relay.insert(got_relay.end(), batch.begin(), batch.end());
        });
        const pid_t sender = sigrelay::test::fork_queue_sender(getpid(), sig, kSends);
        std::vector<signal_event> got_fd;
        const auto deadline = std::chrono::steady_clock::now() + 90s;
        while (total(got_fd, sig) + fd.dropped() < kSends && std::chrono::steady_clock::now() < deadline) {
          for (const signal_event& e : fd.wait_for(10ms)) got_fd.push_back(e);
        }
        EXPECT_TRUE(exited_with(wait_with_deadline(sender, 30), 0));
        // The relay object's consumer catches up with what is left.
        for (int i = 0; i < 2000 && total(got_relay, sig) + relay.dropped() < kSends; ++i) {
          std::this_thread::sleep_for(5ms);
          for (const signal_event& e : fd.pending()) got_fd.push_back(e);
        }
        done.store(true);
        lagging.join();
        EXPECT_EQ(0U, relay.dropped()) << "relay object: " << total(got_relay, sig) << " received";
        EXPECT_EQ(0U, fd.dropped()) << "signalfd object: " << total(got_fd, sig) << " received";
        EXPECT_EQ(static_cast<std::uint64_t>(kSends), total(got_relay, sig));
        EXPECT_EQ(static_cast<std::uint64_t>(kSends), total(got_fd, sig));
        // (No order across the two threads: each object's deliveries come through the handler on either
        // thread and, for the signalfd object, from its reads too; signals.hpp, "two streams".)
      },
      180);
}

// A fork child makes its own list of rings (the parent's, which a thread of the parent may have been
// changing, is never read there): objects made in the child mind each other as in any process, and
// the child ends through exit() with nothing reported lost (under AddressSanitizer, whose leak check
// runs at exit() and fails the exit status, the parent's list must stay reachable).
TEST(RingPeers, AForkChildMindsItsOwnRingsAndExitsCleanly) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the signalfd backend");
  SIGRELAY_IN_CHILD(
      [] {
        const int sig = SIGRTMIN + 2;
        signals parent_relay({sig}, signals_options{backend::relay, 8});
        signals parent_fd({sig}, signals_options{backend::signalfd, 64});
        std::fflush(nullptr);
        const pid_t child = fork();
        if (child == 0) {
          alarm(20);
          sigset_t only;
          sigemptyset(&only);
          sigaddset(&only, sig);
          pthread_sigmask(SIG_BLOCK, &only, nullptr);
          int failures = 0;
          {
            signals relay({sig}, signals_options{backend::relay, 8});
            signals fd({sig}, signals_options{backend::signalfd, 64});
            if (sigrelay::test::queue_values(getpid(), sig, 20) != 20) ++failures;
            const std::vector<signal_event> first = fd.pending();
            if (first.empty() || first.size() > 8) ++failures;  // sized by the child's relay ring
            std::uint64_t got_fd = total(first, sig);
            std::uint64_t got_relay = 0;
            for (int round = 0; round < 20 && got_fd < 20; ++round) {
              got_relay += total(relay.pending(), sig);
              got_fd += total(fd.pending(), sig);
            }
            got_relay += total(relay.pending(), sig);
            if (got_fd != 20 || got_relay != 20 || relay.dropped() != 0 || fd.dropped() != 0) ++failures;
          }
          std::exit(failures == 0 ? 0 : 3);
        }
        EXPECT_TRUE(exited_with(wait_with_deadline(child, 30), 0));
      },
      60);
}

// signals.hpp, Realtime floods: "Ending a realtime subscription (remove(), close(), destruction) on a
// thread that holds: ... taking stops while another object's ring of the signal would hold"; "dropped()
// counts a delivery that found the ring full only where a hold is impossible". The only thread sends
// itself 40 values: a relay object with a ring of 8, never drained yet, fills and holds the rest in
// the kernel; another object of the signal (ring 64) is then removed on that thread. The full ring
// drops nothing (before: the removal took the 32 held values and dropped them there), its drains get
// 0..39 in order, and the removed object keeps what it recorded before, in order, with no loss
// counted. Holds need a real interrupted context (not ThreadSanitizer) and Linux.
TEST(RingPeers, RemovingASignalOnAThreadThatHoldsForAnotherRingDropsNothingThere) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("holds");
  if (SIGRELAY_TEST_UNDER_TSAN) GTEST_SKIP() << "ThreadSanitizer runs handlers on a copy of the context";
  SIGRELAY_IN_CHILD(
      [] {
        const int sig = SIGRTMIN + 3;
        ASSERT_NO_FATAL_FAILURE(ignore_and_mask(sig, SIG_UNBLOCK));
        signals full({sig}, signals_options{backend::relay, 8});
        signals leaving({sig}, signals_options{backend::relay, 64});
        constexpr int kSends = 40;
        ASSERT_EQ(kSends, sigrelay::test::queue_values(getpid(), sig, kSends)) << "values accepted";
        sigset_t now;
        ASSERT_EQ(0, pthread_sigmask(SIG_BLOCK, nullptr, &now));
        ASSERT_EQ(1, sigismember(&now, sig)) << "the full ring was expected to hold the rest";
        leaving.remove(sig);
        EXPECT_EQ(0U, full.dropped()) << "the removal dropped held values in the full ring";

        const std::vector<signal_event> got = drain_until(full, sig, kSends);
        EXPECT_EQ(static_cast<std::uint64_t>(kSends), total(got, sig));
        EXPECT_TRUE(values_in_order(got, sig, 0)) << "the full ring's object";
        EXPECT_EQ(0U, full.dropped());

        const std::vector<signal_event> before = leaving.pending();
        EXPECT_GE(before.size(), 8U) << "recorded before the removal";
        EXPECT_TRUE(values_in_order(before, sig, 0)) << "the removed object";
        EXPECT_EQ(0U, leaving.dropped());

        expect_nothing_held_or_queued(sig);
      },
      30);
}

// signals.hpp, signals::remove(): a signalfd-backed object's remove() of a realtime signal "stops
// while another object's ring of it would hold: the rest stays queued for the actions left". The only
// thread blocks the signal itself, so 40 queued values stay in the kernel; a relay object with a ring
// of 8 is made first, then a signalfd object (ring 64) that is removed before either drains. The
// removal reads what the full ring has room for (8), then leaves the rest queued: once the thread
// unblocks the signal, the trampoline holds it for the full ring, whose drains get 0..39 in order and
// drop nothing (before: the removal read all 40 and the full ring dropped 32). The removed object
// keeps what it read, in order, with no loss counted.
TEST(RingPeers, ASignalfdObjectsRemovalLeavesQueuedWhatAnotherFullRingWouldDrop) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the signalfd backend and holds");
  if (SIGRELAY_TEST_UNDER_TSAN) GTEST_SKIP() << "ThreadSanitizer runs handlers on a copy of the context";
  SIGRELAY_IN_CHILD(
      [] {
        const int sig = SIGRTMIN + 2;
        ASSERT_NO_FATAL_FAILURE(ignore_and_mask(sig, SIG_BLOCK));
        signals full({sig}, signals_options{backend::relay, 8});
        signals leaving({sig}, signals_options{backend::signalfd, 64});
        constexpr int kSends = 40;
        ASSERT_EQ(kSends, sigrelay::test::queue_values(getpid(), sig, kSends)) << "values accepted";
        leaving.remove(sig);
        EXPECT_EQ(0U, full.dropped()) << "the removal dropped queued values in the full ring";
        sigset_t pending;
        ASSERT_EQ(0, sigpending(&pending));
        EXPECT_EQ(1, sigismember(&pending, sig)) << "the removal read what the full ring had no room for";

        sigset_t only;
        sigemptyset(&only);
        sigaddset(&only, sig);
        ASSERT_EQ(0, pthread_sigmask(SIG_UNBLOCK, &only, nullptr));  // the trampoline holds the rest
        const std::vector<signal_event> got = drain_until(full, sig, kSends);
        EXPECT_EQ(static_cast<std::uint64_t>(kSends), total(got, sig));
        EXPECT_TRUE(values_in_order(got, sig, 0)) << "the full ring's object";
        EXPECT_EQ(0U, full.dropped());

        const std::vector<signal_event> read = leaving.pending();
        EXPECT_EQ(8U, read.size()) << "read by the removal: what the full ring had room for";
        EXPECT_TRUE(values_in_order(read, sig, 0)) << "the removed object";
        EXPECT_EQ(0U, leaving.dropped());

        expect_nothing_held_or_queued(sig);
      },
      30);
}

}  // namespace
