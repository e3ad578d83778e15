// SPDX-License-Identifier: MIT
// tests/termination_test.cc — graceful termination end to end, each case in a child process.
#include <gtest/gtest.h>

#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <system_error>
#include <thread>

#include "sigrelay/registry.hpp"
#include "sigrelay/signals.hpp"
#include "sigrelay/termination.hpp"
#include "support/child.hpp"
#include "support/platform.hpp"

// `using namespace sigrelay;` must leave POSIX shutdown(2) callable unqualified and qualified: no
// sigrelay name may collide with it (this file does not compile if one does).
namespace posix_names {
using namespace sigrelay;
int shutdown_unqualified(int fd) { return shutdown(fd, SHUT_RDWR); }
int shutdown_qualified(int fd) { return ::shutdown(fd, SHUT_RDWR); }
}  // namespace posix_names

namespace {

using sigrelay::test::exited_with;
using sigrelay::test::killed_by;
using sigrelay::test::run_in_child;

void wait_for_stop(const sigrelay::termination& s) {
  for (int i = 0; i < 5000 && !s.stop_requested(); ++i) usleep(1000);
}

TEST(Termination, FirstSignalRequestsTheStopAndExitDiesByIt) {
  const int status = run_in_child([] {
    sigrelay::termination term;
    std::atomic<bool> callback_ran{false};
    std::stop_callback on_stop(term.token(), [&] { callback_ran.store(true); });
    EXPECT_FALSE(term.stop_requested());
    kill(getpid(), SIGTERM);
    wait_for_stop(term);
    EXPECT_TRUE(term.stop_requested());
    // request_stop() sets the flag before it runs the callbacks (on sigrelay's thread): wait for ours.
    for (int i = 0; i < 5000 && !callback_ran.load(); ++i) usleep(1000);
    EXPECT_TRUE(callback_ran.load());
    EXPECT_EQ(SIGTERM, term.signal());
    if (testing::Test::HasFailure()) _exit(1);
    term.exit(0);  // graceful stop done: the parent must see "killed by SIGTERM"
  });
  EXPECT_TRUE(killed_by(status, SIGTERM));
}

TEST(Termination, SecondSignalKillsAtOnceEvenIfTheProgramIsStuck) {
  const int status = run_in_child([] {
    sigrelay::termination term;
    kill(getpid(), SIGINT);
    wait_for_stop(term);
    if (!term.stop_requested()) _exit(3);
    kill(getpid(), SIGINT);  // e.g. the user pressed Ctrl+C again during a slow cleanup
    _exit(4);                // not reached
  });
  EXPECT_TRUE(killed_by(status, SIGINT));
}

// The signals blocked in main before the object, so that every thread inherits the block (the way a
// program routes signals to a thread of its own): the watcher thread still takes them, the first
// requests the stop, the second kills, and main's mask stays the program's.
TEST(Termination, SignalsBlockedEverywhereBeforehandStillStopAndKill) {
  const int status = run_in_child([] {
    sigset_t blocked;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGINT);
    sigaddset(&blocked, SIGTERM);
    ASSERT_EQ(0, pthread_sigmask(SIG_BLOCK, &blocked, nullptr));
    sigrelay::termination term;
    kill(getpid(), SIGTERM);
    wait_for_stop(term);
    EXPECT_TRUE(term.stop_requested());
    EXPECT_EQ(SIGTERM, term.signal());
    sigset_t now;
    ASSERT_EQ(0, pthread_sigmask(SIG_BLOCK, nullptr, &now));
    EXPECT_EQ(1, sigismember(&now, SIGINT));
    EXPECT_EQ(1, sigismember(&now, SIGTERM));
    if (testing::Test::HasFailure()) _exit(1);
    kill(getpid(), SIGINT);  // the second signal, while main still blocks both
    sleep(20);               // the watchdog's business if nothing kills us
    _exit(4);
  });
  EXPECT_TRUE(killed_by(status, SIGINT));
}

TEST(Termination, WithoutASignalExitUsesTheStatus) {
  const int status = run_in_child([] {
    sigrelay::termination term;
    term.exit(3);
  });
  EXPECT_TRUE(exited_with(status, 3));
}

TEST(Termination, AProgrammaticStopMakesTheNextSignalFatal) {
  const int status = run_in_child([] {
    sigrelay::termination term;
    term.request_stop();
    EXPECT_TRUE(term.token().stop_requested());
    EXPECT_EQ(0, term.signal());
    kill(getpid(), SIGTERM);
    _exit(4);
  });
  EXPECT_TRUE(killed_by(status, SIGTERM));
}

TEST(Termination, DestructionGivesTheSignalsBack) {
  SIGRELAY_IN_CHILD([] {
    { sigrelay::termination term({SIGINT, SIGTERM, SIGHUP}); }
    for (const int signo : {SIGINT, SIGTERM, SIGHUP}) {
      struct sigaction sa {};
      sigaction(signo, nullptr, &sa);
      EXPECT_EQ(SIG_DFL, sa.sa_handler) << sigrelay::signal_name(signo);
    }
  });
}

TEST(Termination, UsingNamespaceSigrelayLeavesPosixShutdownCallable) {
  for (const auto call : {posix_names::shutdown_unqualified, posix_names::shutdown_qualified}) {
    int fds[2];
    ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, fds)) << std::strerror(errno);
    EXPECT_EQ(0, call(fds[0])) << std::strerror(errno);
    char byte = 0;
    EXPECT_EQ(0, read(fds[1], &byte, 1));  // the peer sees end of file: it really was shutdown(2)
    close(fds[0]);
    close(fds[1]);
  }
}

TEST(Termination, ASecondLiveObjectIsRefusedAndTheFirstKeepsWorking) {
  const int status = run_in_child([] {
    sigrelay::termination first;
    try {
      sigrelay::termination second({SIGINT, SIGTERM, SIGHUP});
      ADD_FAILURE() << "a second live termination object was allowed";
    } catch (const std::system_error& e) {
      EXPECT_EQ(std::make_error_code(std::errc::device_or_resource_busy), e.code());
      EXPECT_NE(std::string::npos, std::string(e.what()).find("another termination object is alive"))
          << e.what();
    }
    // The refused object changed nothing: SIGHUP was never taken, and the first one still works.
    struct sigaction sa {};
    sigaction(SIGHUP, nullptr, &sa);
    EXPECT_EQ(SIG_DFL, sa.sa_handler);
    kill(getpid(), SIGTERM);
    wait_for_stop(first);
    EXPECT_TRUE(first.stop_requested());
    EXPECT_EQ(SIGTERM, first.signal());
    if (testing::Test::HasFailure()) _exit(1);
    first.exit(0);
  });
  EXPECT_TRUE(killed_by(status, SIGTERM));
}

TEST(Termination, ANewObjectMayBeMadeOnceTheFirstIsGone) {
  SIGRELAY_IN_CHILD([] {
    { sigrelay::termination first; }
    sigrelay::termination second;  // must not throw
    second.request_stop();
    EXPECT_TRUE(second.stop_requested());
    { EXPECT_THROW(sigrelay::termination third, std::system_error); }
  });
}

// The daemon's loop (see termination.hpp): SIGHUP reloads, SIGTERM ends the wait on the token.
TEST(Termination, TheTokenEndsAWaitOnAnotherSignalsObject) {
  const int status = run_in_child([] {
    sigrelay::termination stop;
    sigrelay::signals hup{SIGHUP};
    int reloads = 0;
    kill(getpid(), SIGHUP);
    while (!stop.stop_requested()) {
      for (const sigrelay::signal_event& e : hup.wait(stop.token())) {
        EXPECT_EQ(SIGHUP, e.signo);
        if (++reloads == 1) kill(getpid(), SIGTERM);
      }
    }
    EXPECT_EQ(1, reloads);
    EXPECT_EQ(SIGTERM, stop.signal());
    if (testing::Test::HasFailure()) _exit(1);
    stop.exit();
  });
  EXPECT_TRUE(killed_by(status, SIGTERM));
}

// A fork child destroys its copy (a worker returning from main): the parent's watcher thread does
// not exist there, and glibc hands its pthread_t to the child's next thread, which a join would wait
// for (the watchdog fires) and a detach would break. The parent's object still requests its stop.
TEST(Termination, AForkChildsCopyNeitherJoinsNorDetachesTheParentsWatcher) {
  EXPECT_TRUE(exited_with(run_in_child([] {
                            auto t = std::make_unique<sigrelay::termination>();
                            // The watcher asleep in its wait first: a fork that catches it starting
                            // (allocating) leaves AddressSanitizer's allocator locked in the child
                            // (GCC 12's does not lock it around fork), and the child's own thread
                            // below then hangs in its first allocation (6 runs in 30 here).
                            std::this_thread::sleep_for(std::chrono::milliseconds(50));
                            std::fflush(nullptr);
                            const pid_t child = ::fork();
                            ASSERT_GE(child, 0);
                            if (child == 0) {
                              ::alarm(10);  // watchdog: a destructor that waits for the child's thread
                              std::atomic<bool> go{false};
                              std::thread own;
                              if (!SIGRELAY_TEST_UNDER_TSAN) {  // (no thread after a multi-threaded fork)
                                own = std::thread([&] {
                                  while (!go.load())
                                    std::this_thread::sleep_for(std::chrono::milliseconds(1));
                                });
                              }
                              t.reset();
                              go.store(true);
                              if (own.joinable()) own.join();  // still joinable, and joined once
                              ::_exit(0);
                            }
                            EXPECT_TRUE(exited_with(sigrelay::test::wait_with_deadline(child, 30), 0));
                            ::kill(::getpid(), SIGTERM);
                            for (int i = 0; i < 5000 && !t->stop_requested(); ++i)
                              std::this_thread::sleep_for(std::chrono::milliseconds(1));
                            EXPECT_TRUE(t->stop_requested());
                            EXPECT_EQ(t->signal(), SIGTERM);
                          }),
                          0));
}

}  // namespace
