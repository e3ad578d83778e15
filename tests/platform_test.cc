// SPDX-License-Identifier: MIT
// tests/platform_test.cc — the platform layer under the public API: the wake-up fd is an eventfd
// (linux layer) or the read end of a non-blocking, close-on-exec pipe (posix layer), a full pipe never
// blocks a handler, the signalfd backend is refused cleanly by the posix layer, and a full realtime ring
// counts its overflow there (no holds). Real signals (raise, sigqueue, pthread_kill), each test in a
// forked child under a watchdog. Runs in every preset; each test checks what its layer promises.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <atomic>
#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdint>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "sigrelay/children.hpp"
#include "sigrelay/crash.hpp"
#include "sigrelay/registry.hpp"
#include "sigrelay/relays.hpp"
#include "sigrelay/signals.hpp"
#include "support/child.hpp"
#include "support/events.hpp"
#include "support/platform.hpp"
#include "support/process.hpp"

namespace {

using namespace std::chrono_literals;
using sigrelay::backend;
using sigrelay::signal_event;
using sigrelay::signals;
using sigrelay::test::posix_platform;
using sigrelay::test::readable;

#if defined(__SANITIZE_THREAD__)
constexpr bool kUnderThreadSanitizer = true;
#else
constexpr bool kUnderThreadSanitizer = false;
#endif

// What the fd is: "pipe", "eventfd" or something else (the /proc link text).
std::string kind_of(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return "closed";
  if (S_ISFIFO(st.st_mode)) return "pipe";
  char link[256] = {};
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  const ssize_t n = ::readlink(path.c_str(), link, sizeof link - 1);
  const std::string text = n > 0 ? std::string(link, static_cast<std::size_t>(n)) : "?";
  return text == "anon_inode:[eventfd]" ? "eventfd" : text;
}

void expect_nonblocking_cloexec(int fd) {
  const int fl = ::fcntl(fd, F_GETFL);
  const int fd_fl = ::fcntl(fd, F_GETFD);
  ASSERT_GE(fl, 0);
  ASSERT_GE(fd_fl, 0);
  EXPECT_NE(fl & O_NONBLOCK, 0);
  EXPECT_NE(fd_fl & FD_CLOEXEC, 0);
}

TEST(Platform, NativeHandleIsTheLayersWakeupFdAndADrainEmptiesIt) {
  SIGRELAY_IN_CHILD([] {
    signals sigs{SIGUSR1};
    const int fd = sigs.native_handle();
    EXPECT_EQ(kind_of(fd), posix_platform() ? "pipe" : "eventfd");
    expect_nonblocking_cloexec(fd);
    if (posix_platform()) {
      EXPECT_EQ(::fcntl(fd, F_GETFL) & O_ACCMODE, O_RDONLY);  // the read end
    }
    // A signal from another thread to this one; the consumer polls the handle as an event loop would.
    // The sender waits until this thread sleeps in poll(): ThreadSanitizer (GCC 12's) loses a signal
    // that arrives as a thread enters an intercepted blocking call, sigrelay or not (README,
    // "Caveats"), which this test's timing used to hit in most runs.
    const pthread_t self = ::pthread_self();
    const pid_t self_tid = static_cast<pid_t>(::syscall(SYS_gettid));
    std::thread sender([self, self_tid] {
      sigrelay::test::wait_until_asleep(::getpid(), self_tid, 10s);
      EXPECT_EQ(::pthread_kill(self, SIGUSR1), 0);
    });
    struct pollfd p {
      fd, POLLIN, 0
    };
    int ready = 0;
    while ((ready = ::poll(&p, 1, 20000)) < 0 && errno == EINTR) {
    }
    sender.join();
    EXPECT_EQ(ready, 1);
    std::vector<signal_event> events = sigs.pending();
    ASSERT_EQ(events.size(), 1U);
    EXPECT_EQ(events[0].signo, SIGUSR1);
    EXPECT_EQ(events[0].count, 1U);
    EXPECT_FALSE(readable(fd));  // the drain read the wake-up away
    sigs.get_handle().close();
    EXPECT_TRUE(readable(fd));  // closed: readable for good
    EXPECT_TRUE(sigs.pending().empty());
    EXPECT_TRUE(readable(fd));
  });
}

TEST(Platform, WakeupFdOwnsItsFdsAndAFullPipeNeverBlocksTheHandler) {
  SIGRELAY_IN_CHILD([] {
    std::atomic<std::uint64_t> runs{0};
    int read_end = -1;
    {
      sigrelay::relay::wakeup_fd wake;
      read_end = wake.native_handle();
      EXPECT_EQ(kind_of(read_end), posix_platform() ? "pipe" : "eventfd");
      expect_nonblocking_cloexec(read_end);
      const sigrelay::action_id counter = sigrelay::add_action(SIGUSR2, sigrelay::relay::add_count(runs));
      const sigrelay::action_id waker = sigrelay::add_action(SIGUSR2, wake.get());
      // More wake-ups than a pipe holds (64 KiB by default on Linux: 8192 of 8 bytes): the handler's
      // write fails with EAGAIN past that, and must return (a blocking write would hang this thread).
      constexpr int kSignals = 10000;
      for (int i = 0; i < kSignals; ++i) ASSERT_EQ(::raise(SIGUSR2), 0);
      sigrelay::remove_action(waker);
      sigrelay::remove_action(counter);
      ASSERT_TRUE(readable(read_end));
      const std::uint64_t woken = wake.drain();
      const std::uint64_t ran = runs.load();
      ASSERT_GT(ran, 0U);
      EXPECT_LE(ran, static_cast<std::uint64_t>(kSignals));  // ThreadSanitizer may merge deferred ones
      if (posix_platform()) {
        const int capacity = ::fcntl(read_end, F_GETPIPE_SZ);
        ASSERT_GT(capacity, 0);
        EXPECT_EQ(woken, std::min<std::uint64_t>(ran, static_cast<std::uint64_t>(capacity) / 8));
      } else {
        EXPECT_EQ(woken, ran);  // an eventfd counts every write
      }
      EXPECT_FALSE(readable(read_end));
      EXPECT_EQ(wake.drain(), 0U);
    }
    EXPECT_EQ(::fcntl(read_end, F_GETFD), -1);  // closed with the object (both ends, on posix)
    EXPECT_EQ(errno, EBADF);
  });
}

TEST(Platform, PosixLayerRefusesTheSignalfdBackendAndChangesNothing) {
  if (!posix_platform())
    GTEST_SKIP() << "posix platform layer only: the linux layer has the signalfd backend";
  SIGRELAY_IN_CHILD([] {
    struct sigaction before {};
    ASSERT_EQ(::sigaction(SIGUSR1, nullptr, &before), 0);
    try {
      signals sigs({SIGUSR1}, backend::signalfd);
      ADD_FAILURE() << "the signalfd backend was constructed";
    } catch (const std::system_error& e) {
      EXPECT_EQ(e.code(), std::make_error_code(std::errc::operation_not_supported));
      EXPECT_NE(std::string(e.what()).find("signalfd backend is Linux-only"), std::string::npos) << e.what();
    }
    struct sigaction after {};
    ASSERT_EQ(::sigaction(SIGUSR1, nullptr, &after), 0);
    EXPECT_EQ(after.sa_handler, before.sa_handler);  // SIG_DFL: nothing was installed
    sigset_t blocked;
    ASSERT_EQ(::pthread_sigmask(SIG_BLOCK, nullptr, &blocked), 0);
    EXPECT_EQ(sigismember(&blocked, SIGUSR1), 0);  // nothing blocked
    // The relay backend works beside it.
    signals sigs{SIGUSR1};
    ASSERT_EQ(::raise(SIGUSR1), 0);
    const std::vector<signal_event> events = sigs.wait_for(20s);
    ASSERT_EQ(events.size(), 1U);
    EXPECT_EQ(events[0].signo, SIGUSR1);
  });
}

TEST(Platform, PosixLayerCountsAFullRealtimeRingInDropped) {
  if (!posix_platform()) {
    GTEST_SKIP() << "posix platform layer only: the linux layer holds instead (wakeup_test, RealtimeRing)";
  }
  SIGRELAY_IN_CHILD([] {
    const int rt = SIGRTMIN + 2;
    signals sigs({rt}, sigrelay::signals_options{backend::relay, 4});
    constexpr int kSent = 10;
    for (int i = 0; i < kSent; ++i) ASSERT_EQ(::sigqueue(::getpid(), rt, sigval{.sival_int = i}), 0);
    // Under ThreadSanitizer the deliveries may still be deferred: wait until every one is accounted for.
    std::vector<signal_event> got;
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (got.size() + sigs.dropped() < static_cast<std::size_t>(kSent) &&
           std::chrono::steady_clock::now() < deadline) {
      for (const signal_event& e : sigs.wait_for(100ms)) got.push_back(e);
    }
    ASSERT_EQ(got.size() + sigs.dropped(), static_cast<std::size_t>(kSent));
    EXPECT_EQ(sigs.dropped(rt), sigs.dropped());
    if (!kUnderThreadSanitizer) {  // raise() and sigqueue() to oneself deliver before they return
      EXPECT_EQ(got.size(), 4U);   // the ring's capacity: the first four, in order
      EXPECT_EQ(sigs.dropped(), static_cast<std::uint64_t>(kSent - 4));
      for (std::size_t i = 0; i < got.size(); ++i)
        EXPECT_EQ(got[i].last.value.sival_int, static_cast<int>(i));
    }
  });
}

TEST(Platform, PosixLayerRefusesTheCrashReporterAndChangesNothing) {
  if (!posix_platform()) GTEST_SKIP() << "posix platform layer only: the linux layer has the crash reporter";
  SIGRELAY_IN_CHILD([] {
    struct sigaction before {};
    ASSERT_EQ(::sigaction(SIGSEGV, nullptr, &before), 0);
    stack_t alt_before{};
    ASSERT_EQ(::sigaltstack(nullptr, &alt_before), 0);
    try {
      sigrelay::crash::install();
      ADD_FAILURE() << "the crash reporter was installed";
    } catch (const std::system_error& e) {
      EXPECT_EQ(e.code(), std::make_error_code(std::errc::not_supported));
      EXPECT_NE(std::string(e.what()).find("crash reporter is Linux-only"), std::string::npos) << e.what();
    }
    std::error_code ec;
    sigrelay::crash::install({}, ec);
    EXPECT_EQ(ec, std::make_error_code(std::errc::not_supported));
    ec.clear();
    sigrelay::crash::prepare_thread(ec);
    EXPECT_EQ(ec, std::make_error_code(std::errc::not_supported));
    EXPECT_THROW(sigrelay::crash::prepare_thread(), std::system_error);
    EXPECT_FALSE(sigrelay::crash::installed());
    struct sigaction after {};
    ASSERT_EQ(::sigaction(SIGSEGV, nullptr, &after), 0);
    EXPECT_EQ(after.sa_handler, before.sa_handler);  // SIG_DFL: nothing was installed
    stack_t alt_after{};
    ASSERT_EQ(::sigaltstack(nullptr, &alt_after), 0);
    EXPECT_EQ(alt_after.ss_flags, alt_before.ss_flags);  // no alternate stack was given
    EXPECT_EQ(alt_after.ss_sp, alt_before.ss_sp);
  });
}

// The children watcher's one descriptor: an epoll fd on Linux; on the posix layer poke's pipe, which
// a relay writes on each SIGCHLD. A watched child that ends after watch() makes it readable only
// through its SIGCHLD (watch()'s own wake-up is drained by the first pending()).
TEST(Platform, ChildrenNativeHandleIsReadableAfterAWatchedChildEnds) {
  SIGRELAY_IN_CHILD([] {
    ASSERT_NE(::signal(SIGCHLD, SIG_DFL), SIG_ERR);
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    ASSERT_EQ(::pthread_sigmask(SIG_UNBLOCK, &chld, nullptr), 0);
    sigrelay::children kids;
    const int fd = kids.native_handle();
    EXPECT_EQ(kind_of(fd), posix_platform() ? "pipe" : "anon_inode:[eventpoll]");
    int gate[2];
    ASSERT_EQ(::pipe(gate), 0);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {  // waits until the gate closes, then exits with 3
      ::close(gate[1]);
      char c;
      while (::read(gate[0], &c, 1) < 0 && errno == EINTR) {
      }
      ::_exit(3);
    }
    ::close(gate[0]);
    kids.watch(pid);
    EXPECT_TRUE(kids.pending().empty());  // alive: drains watch()'s wake-up
    struct pollfd p {
      fd, POLLIN, 0
    };
    EXPECT_EQ(::poll(&p, 1, 0), 0) << "readable before the child ended";
    ::close(gate[1]);  // the child exits: its SIGCHLD alone makes fd readable
    int ready;
    do {
      ready = ::poll(&p, 1, 30000);
    } while (ready < 0 && errno == EINTR);
    ASSERT_EQ(ready, 1) << "not readable 30 s after the child was told to exit";
    std::vector<sigrelay::child_event> events = kids.pending();
    if (events.empty()) events = kids.wait_for(std::chrono::seconds(30));  // readable before the reap
    ASSERT_EQ(events.size(), 1U);
    EXPECT_EQ(events[0].pid, pid);
    EXPECT_EQ(events[0].state, sigrelay::child_state::exited);
    EXPECT_EQ(events[0].code, 3);
    EXPECT_EQ(::poll(&p, 1, 0), 0) << "still readable after the event was taken";
  });
}

}  // namespace
