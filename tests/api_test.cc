// SPDX-License-Identifier: MIT
// tests/api_test.cc — issue 10, items 6 and 7: construction forms, termination_signals, printing (to
// ostreams and {fmt}), handle::add()/remove() from another thread, relay::default_if_set(). Each test
// that sends a signal runs in its own child process.
#include <gtest/gtest.h>

#include <pthread.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <array>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iomanip>
#include <list>
#include <sstream>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "sigrelay/registry.hpp"
#include "sigrelay/relays.hpp"
#include "sigrelay/signals.hpp"
#include "support/child.hpp"
#include "support/events.hpp"
#include "support/platform.hpp"

#if SIGRELAY_TEST_FMT
#include "sigrelay/fmt.hpp"
#endif

namespace {

using namespace std::chrono_literals;
using sigrelay::backend;
using sigrelay::origin;
using sigrelay::origin_kind;
using sigrelay::signal_event;
using sigrelay::signals;
using sigrelay::test::exited_with;
using sigrelay::test::killed_by;
using sigrelay::test::run_in_child;
using sigrelay::test::total;

// Compile-time: the forms that must (and must not) construct a `signals`.
static_assert(std::is_constructible_v<signals, std::vector<int>>);
static_assert(std::is_constructible_v<signals, const std::vector<int>&, backend>);
static_assert(std::is_constructible_v<signals, std::vector<int>, sigrelay::signals_options>);
static_assert(std::is_constructible_v<signals, std::array<int, 2>>);
static_assert(std::is_constructible_v<signals, std::list<long>>);
static_assert(std::is_constructible_v<signals, const int (&)[2]>);
static_assert(std::is_constructible_v<signals, sigset_t>);
static_assert(std::is_constructible_v<signals, sigset_t, backend>);
static_assert(std::is_constructible_v<signals, decltype(sigrelay::termination_signals)>);
static_assert(!std::is_constructible_v<signals, std::vector<std::string>>);
static_assert(!std::is_constructible_v<signals, int>);
static_assert(!std::is_convertible_v<std::vector<int>, signals>);  // explicit, as the list form

class Api : public testing::TestWithParam<backend> {
 protected:
  void SetUp() override {
    if (GetParam() == backend::signalfd) SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the signalfd backend");
  }
  backend kind() const { return GetParam(); }
};

std::string backend_name(const testing::TestParamInfo<backend>& info) {
  return info.param == backend::relay ? "relay" : "signalfd";
}

INSTANTIATE_TEST_SUITE_P(Backends, Api, testing::Values(backend::relay, backend::signalfd), backend_name);

// Sends `signo` to this thread and waits (5 s at most) until `sigs` hands it out.
bool receives(signals& sigs, int signo) {
  pthread_kill(pthread_self(), signo);
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (total(sigs.wait_for(50ms), signo) > 0) return true;
  }
  return false;
}

pid_t my_tid() { return static_cast<pid_t>(syscall(SYS_gettid)); }

// Whether thread `tid` of this process blocks `signo`, from /proc.
bool thread_blocks(pid_t tid, int signo) {
  const std::string path = "/proc/self/task/" + std::to_string(tid) + "/status";
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return false;
  char line[256];
  unsigned long long mask = 0;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::strncmp(line, "SigBlk:", 7) == 0) mask = std::strtoull(line + 7, nullptr, 16);
  }
  std::fclose(f);
  return (mask & (1ULL << (signo - 1))) != 0;
}

bool blocked_here(int signo) {
  sigset_t now;
  pthread_sigmask(SIG_BLOCK, nullptr, &now);
  return sigismember(&now, signo) == 1;
}

// ---------------------------------------------------------------------------------------------------
// Construction (item 7) and termination_signals (item 6)

TEST(Api, TerminationSignalsAreTermQuitInt) {
  EXPECT_EQ((std::array<int, 3>{SIGTERM, SIGQUIT, SIGINT}), sigrelay::termination_signals);
}

TEST_P(Api, ConstructsFromTerminationSignalsAndReceivesEach) {
  const backend k = kind();
  SIGRELAY_IN_CHILD([k] {
    signals sigs(sigrelay::termination_signals, k);
    for (const int signo : sigrelay::termination_signals) EXPECT_TRUE(receives(sigs, signo)) << signo;
  });
  SIGRELAY_IN_CHILD([] {
    signals sigs{sigrelay::termination_signals};  // braces: not taken for an initializer_list<int>
    EXPECT_TRUE(receives(sigs, SIGQUIT));
  });
}

TEST_P(Api, ConstructsFromVectorWithoutOptions) {
  const backend k = kind();
  SIGRELAY_IN_CHILD([k] {
    const std::vector<int> wanted{SIGUSR1, SIGUSR2};
    signals sigs(wanted, k);
    EXPECT_EQ(k, sigs.backend());
    EXPECT_TRUE(receives(sigs, SIGUSR1));
    EXPECT_TRUE(receives(sigs, SIGUSR2));
  });
  SIGRELAY_IN_CHILD([] {
    signals sigs(std::vector<int>{SIGUSR1});
    EXPECT_EQ(backend::relay, sigs.backend());
    EXPECT_TRUE(receives(sigs, SIGUSR1));
  });
}

TEST_P(Api, ConstructsFromSigset) {
  const backend k = kind();
  SIGRELAY_IN_CHILD([k] {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    sigaddset(&set, SIGRTMIN + 1);
    signals sigs(set, k);
    EXPECT_TRUE(receives(sigs, SIGUSR2));
    EXPECT_TRUE(receives(sigs, SIGRTMIN + 1));
  });
}

TEST(Api, SigsetWithAnUnsubscribableSignalIsRefused) {
  SIGRELAY_IN_CHILD([] {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGKILL);
    try {
      signals sigs(set);
      ADD_FAILURE() << "SIGKILL accepted";
    } catch (const std::system_error& e) {
      EXPECT_NE(std::string(e.what()).find("SIGKILL"), std::string::npos) << e.what();
    }
    struct sigaction now {};
    sigaction(SIGUSR1, nullptr, &now);
    EXPECT_EQ(SIG_DFL, now.sa_handler);  // nothing subscribed
  });
}

TEST_P(Api, ConstructsFromOtherRanges) {
  const backend k = kind();
  SIGRELAY_IN_CHILD([k] {
    const int c_array[] = {SIGUSR1, SIGHUP};
    signals from_array(c_array, k);
    EXPECT_TRUE(receives(from_array, SIGHUP));
  });
  SIGRELAY_IN_CHILD([k] {
    const std::list<long> longs{SIGUSR2, SIGUSR2};  // converted to int; a duplicate subscribes once
    signals from_list(longs, sigrelay::signals_options{k, 8});
    EXPECT_TRUE(receives(from_list, SIGUSR2));
  });
  SIGRELAY_IN_CHILD([] {
    signals braces{SIGUSR1, SIGUSR2};  // still the initializer_list constructor
    EXPECT_TRUE(receives(braces, SIGUSR2));
    if (sigrelay::test::posix_platform()) {  // the signalfd backend is Linux-only
      EXPECT_THROW(signals({SIGHUP}, backend::signalfd), std::system_error);
    } else {
      signals parens({SIGHUP}, backend::signalfd);
      EXPECT_TRUE(receives(parens, SIGHUP));
    }
  });
}

// ---------------------------------------------------------------------------------------------------
// Printing (item 7)

origin user_origin() {
  origin o;
  o.pid = 123;
  o.uid = 1000;
  o.code = SI_USER;
  o.kind = origin_kind::user;
  o.trusted = true;
  return o;
}

TEST(Api, PrintsOriginsAndEvents) {
  EXPECT_EQ("pid 123 (user, uid 1000, trusted)", sigrelay::to_string(user_origin()));
  EXPECT_EQ("SIGINT x2 from pid 123 (user, uid 1000, trusted)",
            sigrelay::to_string(signal_event{SIGINT, 2, user_origin()}));

  origin q;
  q.pid = 77;
  q.uid = 1000;
  q.code = SI_QUEUE;
  q.kind = origin_kind::queue;
  q.value.sival_int = 42;
  EXPECT_EQ("pid 77 (queue, uid 1000, untrusted, value 42)", sigrelay::to_string(q));

  origin child;
  child.pid = 55;
  child.uid = 0;
  child.code = CLD_EXITED;
  child.kind = origin_kind::child;
  child.trusted = true;
  child.child_status = 3;
  EXPECT_EQ("SIGCHLD x1 from pid 55 (child, uid 0, trusted, status 3)",
            sigrelay::to_string(signal_event{SIGCHLD, 1, child}));

  origin kernel;
  kernel.code = SI_KERNEL;
  kernel.kind = origin_kind::kernel;
  kernel.trusted = true;
  EXPECT_EQ("kernel (code 128, trusted)", sigrelay::to_string(kernel));

  origin timer;
  timer.code = SI_TIMER;
  timer.kind = origin_kind::timer;
  timer.value.sival_int = 7;
  EXPECT_EQ("SIGRTMIN+1 x1 from timer (code -2, untrusted, value 7)",
            sigrelay::to_string(signal_event{SIGRTMIN + 1, 1, timer}));

  EXPECT_EQ("signal 0 x1 from other (code 0, untrusted)", sigrelay::to_string(signal_event{0, 1, origin{}}));
}

TEST(Api, StreamsWhatToStringSays) {
  std::ostringstream out;
  out << signal_event{SIGTERM, 1, user_origin()} << '|' << user_origin() << '|' << origin_kind::thread << '|'
      << std::setw(7) << origin_kind::user << '|';
  EXPECT_EQ(
      "SIGTERM x1 from pid 123 (user, uid 1000, trusted)|pid 123 (user, uid 1000, trusted)|thread|"
      "   user|",
      out.str());
}

TEST_P(Api, PrintsARealDelivery) {
  const backend k = kind();
  SIGRELAY_IN_CHILD([k] {
    signals sigs({SIGUSR1}, k);
    pthread_kill(pthread_self(), SIGUSR1);  // SI_TKILL: a thread origin, trusted
    std::vector<signal_event> events;
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (events.empty() && std::chrono::steady_clock::now() < deadline) events = sigs.wait_for(50ms);
    ASSERT_EQ(1U, events.size());
    std::ostringstream out;
    out << events[0];
    EXPECT_EQ("SIGUSR1 x1 from pid " + std::to_string(getpid()) + " (thread, uid " +
                  std::to_string(getuid()) + ", trusted)",
              out.str());
  });
}

#if SIGRELAY_TEST_FMT
TEST(Api, FmtFormatsWhatToStringSays) {
  const signal_event e{SIGINT, 2, user_origin()};
  EXPECT_EQ("SIGINT x2 from pid 123 (user, uid 1000, trusted)", fmt::format("{}", e));
  EXPECT_EQ("pid 123 (user, uid 1000, trusted)", fmt::format("{}", user_origin()));
  EXPECT_EQ("queue", fmt::format("{}", origin_kind::queue));
  EXPECT_EQ("[  user]", fmt::format("[{:>6}]", origin_kind::user));
  EXPECT_EQ("[SIGINT x2 from pid 123 (user, uid 1000, trusted)  ]", fmt::format("[{:<50}]", e));
  EXPECT_EQ(sigrelay::to_string(e), fmt::format("{}", e));
}
#endif

// ---------------------------------------------------------------------------------------------------
// handle::add()/remove() from another thread (item 6)

// Another thread adds SIGUSR2 and a realtime signal through a handle while the consumer is in its
// loop, sends them to the consumer, waits until they are handed out, and removes them; 100 rounds.
// Every delivery sent while subscribed arrives (counted exactly, realtime values in order); one sent
// after remove() is not recorded (the disposition is SIG_IGN again). Under ThreadSanitizer this also
// checks that the subscription state (the realtime ring's allocation, ids, the signalfd mask) does
// not race the consumer's drains.
TEST_P(Api, HandleAddsAndRemovesFromAnotherThreadWhileTheConsumerWaits) {
  const backend k = kind();
  SIGRELAY_IN_CHILD([k] {
    const int rt = SIGRTMIN + 2;
    signal(SIGUSR2, SIG_IGN);  // what remove() gives back: a late send is then harmless
    signal(rt, SIG_IGN);
    signals sigs({SIGUSR1}, k);
    signals::handle h = sigs.get_handle();
    const pthread_t consumer = pthread_self();
    constexpr int rounds = 100;
    std::atomic<int> usr2_seen{0};
    std::atomic<int> rt_seen{0};
    std::atomic<bool> stray{false};
    std::atomic<bool> timed_out{false};
    std::atomic<bool> helper_blocked{false};
    std::thread helper([&] {
      for (int i = 0; i < rounds && !timed_out; ++i) {
        h.add(SIGUSR2);
        h.add(rt);
        if (blocked_here(SIGUSR2) || blocked_here(rt)) helper_blocked = true;  // never blocks here
        pthread_kill(consumer, SIGUSR2);
        union sigval v;
        v.sival_int = i;
        pthread_sigqueue(consumer, rt, v);
        const auto deadline = std::chrono::steady_clock::now() + 10s;
        while ((usr2_seen < i + 1 || rt_seen < i + 1) && !timed_out) {
          if (std::chrono::steady_clock::now() > deadline) timed_out = true;
          std::this_thread::sleep_for(100us);
        }
        h.remove(SIGUSR2);
        h.remove(rt);
        pthread_kill(consumer, SIGUSR2);  // ignored: not recorded
      }
      h.close();
    });
    int expected_value = 0;
    for (const signal_event& e : sigs) {
      if (e.signo == SIGUSR2) {
        usr2_seen += static_cast<int>(e.count);
      } else if (e.signo == rt) {
        if (e.last.value.sival_int != expected_value) stray = true;
        ++expected_value;
        ++rt_seen;
      } else {
        stray = true;
      }
    }
    helper.join();
    EXPECT_FALSE(timed_out) << "usr2 " << usr2_seen << " rt " << rt_seen;
    EXPECT_EQ(rounds, usr2_seen.load());
    EXPECT_EQ(rounds, rt_seen.load());
    EXPECT_FALSE(stray);
    EXPECT_FALSE(helper_blocked);
    EXPECT_FALSE(blocked_here(SIGUSR2));
    EXPECT_FALSE(blocked_here(rt));
    EXPECT_EQ(0U, sigs.dropped());
  });
}

// signalfd backend: the consumer's own block (made by the constructor in its thread) is lifted in the
// consumer's thread by a handle's remove() on another thread, while the consumer waits.
TEST(Api, HandleRemoveLiftsTheConsumersSignalfdBlock) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the signalfd backend");
  SIGRELAY_IN_CHILD([] {
    signals sigs({SIGUSR1, SIGHUP}, backend::signalfd);
    ASSERT_TRUE(blocked_here(SIGUSR1));  // the only subscriber: blocked here
    const pid_t consumer = my_tid();
    signals::handle h = sigs.get_handle();
    std::atomic<bool> still_blocked{true};
    std::thread helper([&] {
      h.remove(SIGUSR1);
      still_blocked = thread_blocks(consumer, SIGUSR1);
      h.close();
    });
    const std::vector<signal_event> events = sigs.wait();  // until close(); nothing was sent
    helper.join();
    EXPECT_TRUE(events.empty());
    EXPECT_FALSE(still_blocked);
    EXPECT_FALSE(blocked_here(SIGUSR1));
    EXPECT_TRUE(blocked_here(SIGHUP));  // still subscribed, still its block
  });
}

TEST(Api, HandleAddOnAClosedOrEmptyHandleThrows) {
  SIGRELAY_IN_CHILD([] {
    signals::handle none;
    EXPECT_THROW(none.add(SIGUSR1), std::system_error);
    none.remove(SIGUSR1);  // does nothing
    signals::handle h;
    {
      signals sigs({SIGUSR1});
      h = sigs.get_handle();
    }
    try {
      h.add(SIGUSR2);
      ADD_FAILURE() << "added to a destroyed object";
    } catch (const std::system_error& e) {
      EXPECT_EQ(std::errc::bad_file_descriptor, e.code());
    }
    struct sigaction now {};
    sigaction(SIGUSR2, nullptr, &now);
    EXPECT_EQ(SIG_DFL, now.sa_handler);
  });
}

// ---------------------------------------------------------------------------------------------------
// relay::default_if_set (item 6)

TEST(Api, DefaultIfSetFirstSigintSetsSecondKills) {
  const int status = run_in_child([] {
    std::atomic<bool> flag{false};
    sigrelay::add_action(SIGINT, sigrelay::relay::default_if_set(flag));
    sigrelay::add_action(SIGINT, sigrelay::relay::set_flag(flag));
    kill(getpid(), SIGINT);
    if (!flag.load()) _exit(3);  // the first one only sets the flag
    kill(getpid(), SIGINT);
    _exit(4);  // not reached
  });
  EXPECT_TRUE(killed_by(status, SIGINT));
}

TEST(Api, DefaultIfSetSecondSigtstpStopsBySigtstp) {
  int pipefd[2];
  ASSERT_EQ(0, pipe(pipefd));
  fflush(nullptr);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(pipefd[0]);
    sigrelay::test::reset_signal_state();
    alarm(20);
    // A group of its own, whose parent is in another group of the same session: not orphaned (in an
    // orphaned group SIGTSTP's default is to do nothing).
    setpgid(0, 0);
    std::atomic<bool> flag{false};
    sigrelay::add_action(SIGTSTP, sigrelay::relay::default_if_set(flag));
    sigrelay::add_action(SIGTSTP, sigrelay::relay::set_flag(flag));
    kill(getpid(), SIGTSTP);  // sets the flag, does not stop
    if (!flag.load()) _exit(3);
    if (write(pipefd[1], "1", 1) != 1) _exit(6);
    kill(getpid(), SIGTSTP);  // stops
    _exit(5);                 // once continued
  }
  close(pipefd[1]);
  int status = 0;
  ASSERT_EQ(pid, waitpid(pid, &status, WUNTRACED));
  EXPECT_TRUE(WIFSTOPPED(status) && WSTOPSIG(status) == SIGTSTP) << sigrelay::test::describe_status(status);
  char byte = 0;
  EXPECT_EQ(1, read(pipefd[0], &byte, 1));  // written before the second SIGTSTP: the first did not stop
  close(pipefd[0]);
  kill(pid, SIGCONT);
  EXPECT_TRUE(exited_with(sigrelay::test::wait_with_deadline(pid, 20), 5));
}

TEST(Api, DefaultIfSetOfAnIgnoredByDefaultSignalDoesNothing) {
  SIGRELAY_IN_CHILD([] {
    std::atomic<bool> flag{true};
    std::atomic<std::uint64_t> count{0};
    sigrelay::add_action(SIGWINCH, sigrelay::relay::default_if_set(flag));
    sigrelay::add_action(SIGWINCH, sigrelay::relay::add_count(count));
    kill(getpid(), SIGWINCH);
    kill(getpid(), SIGWINCH);
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (count.load() < 1 && std::chrono::steady_clock::now() < deadline) usleep(1000);
    EXPECT_GE(count.load(), 1U);  // alive, and the later actions ran
  });
}

}  // namespace
