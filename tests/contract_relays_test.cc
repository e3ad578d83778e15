// SPDX-License-Identifier: MIT
// tests/contract_relays_test.cc — the promises of <sigrelay/relays.hpp> (and the registry promises
// they rely on) under hostile conditions.
//
// relays_test.cc checks each relay in the situation it was written for, and contract_api_test.cc
// die_by_signal() from another thread and the wakeup_fd under a flood. This file checks the rest of
// what the header says where a real program makes life hard: the error-code overload of fd_relay
// given a stale error, every kind of unfit fd (a read-only one included), 100,000 sigqueue()s on one
// CPU and tgkill() floods from many threads to many threads (each counted exactly), errno in the
// interrupted code when a relay's write fails (full pipe, closed fd), a pipe whose reader has gone,
// objects unmapped and fds reused right after remove_action() returns while a flood runs (on one CPU
// too), die_by_signal() whatever the disposition, with or without core dumps, as a PID namespace's
// init and for numbers that name no signal or that the C library reserves, default_if_set() stopping
// on every later delivery or killing on the second, emulate_default() in an orphaned group, an action
// or a chained handler left by siglongjmp, and fork()/_Fork() while another thread is inside an
// action, or _Fork() from inside one. Each test body runs in a forked child under a watchdog
// (support/child.hpp), which starts it with every signal at SIG_DFL and nothing blocked; each body
// sets the dispositions and mask it relies on; signals go to this process, its threads or its own
// children only; every child is waited for.
#include <gtest/gtest.h>

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <memory>
#include <new>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "sigrelay/registry.hpp"
#include "sigrelay/relays.hpp"
#include "support/child.hpp"
#include "support/dispositions.hpp"
#include "support/events.hpp"
#include "support/flood_limit.hpp"
#include "support/platform.hpp"
#include "support/signal_state.hpp"

namespace {

using sigrelay::test::exited_with;
using sigrelay::test::install_handler;
using sigrelay::test::killed_by;
using sigrelay::test::pin_to_one_cpu;
using sigrelay::test::query;
using sigrelay::test::readable;
using sigrelay::test::run_in_child;
using sigrelay::test::same_state;
using sigrelay::test::snapshot;
using sigrelay::test::wait_with_deadline;
namespace relay = sigrelay::relay;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kUnderSanitizer = true;
#else
constexpr bool kUnderSanitizer = false;
#endif

// Whether a delivery's interrupted stack pointer is known (registry.hpp: an action left by
// siglongjmp is released by its thread's next signal on x86-64 and AArch64, not under TSan).
#if (defined(__x86_64__) || defined(__aarch64__))
constexpr bool kReleasesAbandonedSections = !SIGRELAY_TEST_UNDER_TSAN;
#else
constexpr bool kReleasesAbandonedSections = false;
#endif

// --- Helpers -----------------------------------------------------------------------------------------

void in_child(const std::function<void()>& body, unsigned timeout_s = 30) {
  const int status = run_in_child(body, timeout_s);
  EXPECT_TRUE(exited_with(status, 0)) << "the test body failed in its child (see above)";
}

void block(std::initializer_list<int> signos) {
  sigset_t set;
  sigemptyset(&set);
  for (const int s : signos) sigaddset(&set, s);
  ASSERT_EQ(0, ::pthread_sigmask(SIG_BLOCK, &set, nullptr));
}

bool is_blocked(int signo) {
  sigset_t now;
  ::pthread_sigmask(SIG_BLOCK, nullptr, &now);
  return sigismember(&now, signo) == 1;
}

pid_t own_tid() { return static_cast<pid_t>(::syscall(SYS_gettid)); }

// A pause in a loop that waits for deliveries: an intercepted call under ThreadSanitizer (which runs
// deferred handlers only there), else a yield.
void nap() {
  if (SIGRELAY_TEST_UNDER_TSAN) {
    const struct timespec pause { 0, 100000 };
    ::nanosleep(&pause, nullptr);
  } else {
    ::sched_yield();
  }
}

int tgkill(pid_t tid, int signo) { return static_cast<int>(::syscall(SYS_tgkill, ::getpid(), tid, signo)); }

// Waits (in an intercepted call, so that ThreadSanitizer runs deferred handlers) until `done` holds;
// a liveness bound, not a timing assertion.
template <typename F>
bool eventually(F done, std::chrono::seconds limit = std::chrono::seconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    const struct timespec pause { 0, 200000 };
    ::nanosleep(&pause, nullptr);
  }
  return true;
}

// Sends a queued realtime signal to a thread, retrying while the queue is full.
void tgsigqueue_retrying(pid_t tid, int signo) {
  siginfo_t info{};
  info.si_signo = signo;
  info.si_code = SI_QUEUE;
  info.si_pid = ::getpid();
  info.si_uid = ::getuid();
  while (::syscall(SYS_rt_tgsigqueueinfo, ::getpid(), tid, signo, &info) != 0) {
    ASSERT_EQ(EAGAIN, errno);
    ::sched_yield();
  }
}

// Runs `body` as the init (pid 1) of a new PID namespace, in a grandchild under a watchdog, and
// returns its wait status; -2 if this process may not make a PID namespace.
int status_as_namespace_init(const std::function<void()>& body) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return -1;
  std::fflush(nullptr);
  const pid_t outer = ::fork();
  if (outer < 0) return -1;
  if (outer == 0) {
    ::close(pipe_fds[0]);
    ::alarm(30);
    int status = -2;
    if (::unshare(CLONE_NEWPID) == 0) {
      const pid_t init = ::fork();
      if (init == 0) {
        sigrelay::test::reset_signal_state();
        if (::getpid() != 1) ::_exit(90);
        body();
        ::_exit(91);
      }
      status = init > 0 ? wait_with_deadline(init, 20) : -1;
    }
    (void)::write(pipe_fds[1], &status, sizeof status);
    ::_exit(0);
  }
  ::close(pipe_fds[1]);
  int status = -1;
  ssize_t n;
  while ((n = ::read(pipe_fds[0], &status, sizeof status)) < 0 && errno == EINTR) {
  }
  ::close(pipe_fds[0]);
  (void)wait_with_deadline(outer, 40);
  return n == sizeof status ? status : -1;
}

}  // namespace

// Signal-context functions of the tests below: lock-free atomics, or siglongjmp.
namespace {

std::atomic<bool> g_spin_entered{false};
std::atomic<bool> g_spin_release{false};
void spin_action(void*, const siginfo_t&) noexcept {
  g_spin_entered.store(true);
  while (!g_spin_release.load()) {
  }
}

sigjmp_buf g_jump;
std::atomic<bool> g_jump_armed{false};
std::atomic<int> g_jumper_calls{0};
void jumping_action(void*, const siginfo_t&) noexcept {
  g_jumper_calls.fetch_add(1);
  if (g_jump_armed.exchange(false)) siglongjmp(g_jump, 1);
}
void jumping_handler(int) {
  g_jumper_calls.fetch_add(1);
  if (g_jump_armed.exchange(false)) siglongjmp(g_jump, 1);
}

std::atomic<int> g_foreign_calls{0};
void foreign_handler(int) { g_foreign_calls.fetch_add(1); }

std::atomic<pid_t> g_forked{-1};  // what _Fork() returned in fork_in_action
void fork_in_action(void*, const siginfo_t&) noexcept {
  const pid_t pid = ::_Fork();  // async-signal-safe, unlike fork()
  if (pid == 0) sigrelay::after_fork_in_child();
  g_forked.store(pid);
}

int g_die_signal = 0;
void die_in_handler(int) { relay::die_by_signal(g_die_signal); }
void die_in_action(void*, const siginfo_t&) noexcept { relay::die_by_signal(g_die_signal); }

}  // namespace

// --- fd_relay: errors ----------------------------------------------------------------------------------

// registry.hpp, Errors: "the non-throwing overloads report the same error through a
// std::error_code". An error code is cleared by a call that succeeds (as add_action(), ignore(),
// signal_number() ... do): a caller that reuses one after a failure must not see a good fd refused.
TEST(FdRelayErrors, TheErrorCodeOverloadClearsAStaleErrorWhenTheFdIsFit) {
  int fds[2];
  ASSERT_EQ(0, ::pipe2(fds, O_NONBLOCK | O_CLOEXEC));
  std::error_code ec = std::make_error_code(std::errc::invalid_argument);  // left by an earlier call
  relay::fd_relay good(fds[1], ec);
  EXPECT_FALSE(ec) << "a fit fd reported " << ec.message();
  EXPECT_EQ(fds[1], good.fd());
  ::close(fds[0]);
  ::close(fds[1]);
}

// fd_relay: "Wakes a file descriptor on each delivery"; Errors: an fd it cannot wake is refused. A
// non-blocking fd open for reading only (a pipe's read end, a FIFO opened O_RDONLY) takes no write:
// every delivery's write would fail with EBADF and wake nothing, so it is refused like the others.
TEST(FdRelayErrors, AnFdOpenForReadingOnlyIsRefused) {
  int fds[2];
  ASSERT_EQ(0, ::pipe2(fds, O_NONBLOCK | O_CLOEXEC));
  EXPECT_THROW(relay::fd_relay{fds[0]}, std::system_error);
  std::error_code ec;
  relay::fd_relay r(fds[0], ec);
  EXPECT_EQ(std::errc::invalid_argument, ec);
  ::close(fds[0]);
  ::close(fds[1]);
}

// fd_relay, Errors: "std::errc::invalid_argument if the fd is not open, is blocking, or is a regular
// file, a directory or a block device". Each kind, through both overloads; and the fit kinds (a
// non-blocking pipe, socket, eventfd, character device) are taken.
TEST(FdRelayErrors, EveryUnfitFdIsRefusedWithInvalidArgumentAndEveryFitOneTaken) {
  char dir_template[] = "/tmp/sigrelay-relays-XXXXXX";
  ASSERT_NE(nullptr, ::mkdtemp(dir_template));
  const std::string dir = dir_template;
  const std::string file = dir + "/file";
  std::vector<std::pair<std::string, int>> unfit;
  unfit.emplace_back("-1", -1);
  int closed[2];
  ASSERT_EQ(0, ::pipe2(closed, O_NONBLOCK | O_CLOEXEC));
  ::close(closed[0]);
  ::close(closed[1]);
  unfit.emplace_back("closed", closed[1]);
  int blocking[2];
  ASSERT_EQ(0, ::pipe2(blocking, O_CLOEXEC));
  unfit.emplace_back("blocking pipe", blocking[1]);
  unfit.emplace_back("blocking eventfd", ::eventfd(0, EFD_CLOEXEC));
  unfit.emplace_back("regular file", ::open(file.c_str(), O_CREAT | O_WRONLY | O_NONBLOCK | O_CLOEXEC, 0600));
  unfit.emplace_back("directory", ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NONBLOCK | O_CLOEXEC));
  if (DIR* dev = ::opendir("/dev")) {  // any block device that opens
    while (const dirent* e = ::readdir(dev)) {
      const std::string path = std::string("/dev/") + e->d_name;
      struct stat st {};
      if (::stat(path.c_str(), &st) != 0 || !S_ISBLK(st.st_mode)) continue;
      const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
      if (fd >= 0) {
        unfit.emplace_back("block device " + path, fd);
        break;
      }
    }
    ::closedir(dev);
  }
  for (const auto& [what, fd] : unfit) {
    EXPECT_THROW(relay::fd_relay{fd}, std::system_error) << what;
    std::error_code ec;
    relay::fd_relay r(fd, ec);
    EXPECT_EQ(std::errc::invalid_argument, ec) << what;
    try {
      relay::fd_relay thrown(fd);
    } catch (const std::system_error& e) {
      EXPECT_EQ(std::errc::invalid_argument, e.code()) << what;
    }
  }
  for (const auto& [what, fd] : unfit) {
    if (fd >= 0 && what != "closed") ::close(fd);
  }
  ::close(blocking[0]);
  ::unlink(file.c_str());
  ::rmdir(dir.c_str());

  int pipe_fds[2];
  ASSERT_EQ(0, ::pipe2(pipe_fds, O_NONBLOCK | O_CLOEXEC));
  int sockets[2];
  ASSERT_EQ(0, ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sockets));
  // Built in one piece: g++ 12 at -O3 (the release preset) warned falsely (-Warray-bounds) about the
  // growth of a vector filled by emplace_back() between the ASSERTs.
  const std::vector<std::pair<std::string, int>> fit{
      {"pipe", pipe_fds[1]},
      {"socket", sockets[0]},
      {"eventfd", ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)},
      {"/dev/null", ::open("/dev/null", O_WRONLY | O_NONBLOCK | O_CLOEXEC)},
  };
  for (const auto& [what, fd] : fit) {
    ASSERT_GE(fd, 0) << what;
    std::error_code ec = std::make_error_code(std::errc::io_error);
    relay::fd_relay r(fd, ec);
    EXPECT_FALSE(ec) << what << ": " << ec.message();
    EXPECT_NO_THROW(relay::fd_relay{fd}) << what;
    ::close(fd);
  }
  ::close(pipe_fds[0]);
  ::close(sockets[1]);
}

// wakeup_fd: "An owned, non-blocking, close-on-exec eventfd"; drain(): "0 if none ... Never blocks".
TEST(WakeupFdContract, IsNonBlockingCloseOnExecAndDrainsZeroWhenNothingCame) {
  relay::wakeup_fd wake;
  const int fd = wake.native_handle();
  ASSERT_GE(fd, 0);
  EXPECT_NE(0, ::fcntl(fd, F_GETFL) & O_NONBLOCK);
  EXPECT_NE(0, ::fcntl(fd, F_GETFD) & FD_CLOEXEC);
  EXPECT_EQ(0U, wake.drain());
  EXPECT_FALSE(readable(fd));
  EXPECT_EQ(0U, wake.drain());
}

// --- Floods: exact counts --------------------------------------------------------------------------------

// add_count(): "Adds one to `counter` per delivery"; wakeup_fd: "readable after any delivery ...
// until drain()ed", drain(): "Number of wake-ups since the last drain". 100,000 sigqueue()s of a
// realtime signal to the process, all on one CPU, sent by a thread that blocks it and taken by three
// threads that do not (each retry on EAGAIN: the queue is full, nothing is lost), with a drainer
// running meanwhile: the counter, and the drained wake-ups (an eventfd counts each), are exactly
// 100,000.
TEST(RelayFlood, AHundredThousandSigqueuesOnOneCpuAreCountedExactly) {
  if (SIGRELAY_TEST_UNDER_TSAN) GTEST_SKIP() << "ThreadSanitizer loses some of a flood's signals";
  in_child(
      [] {
        sigrelay::test::cap_pending_signals_for_a_flood();
        ASSERT_TRUE(pin_to_one_cpu());
        const int sig = SIGRTMIN + 4;
        std::atomic<std::uint64_t> count{0};
        relay::wakeup_fd wake;
        const sigrelay::action_id c = sigrelay::add_action(sig, relay::add_count(count));
        const sigrelay::action_id w = sigrelay::add_action(sig, wake.get());
        block({sig});  // main and the sender: the receivers unblock it
        constexpr std::uint64_t kSent = 100000;
        std::atomic<bool> stop{false};
        std::vector<std::thread> receivers;
        for (int i = 0; i < 3; ++i) {
          receivers.emplace_back([&] {
            sigset_t set;
            sigemptyset(&set);
            sigaddset(&set, sig);
            ::pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
            while (!stop.load()) ::sched_yield();
          });
        }
        std::atomic<std::uint64_t> drained{0};
        std::thread drainer([&] {
          while (!stop.load()) {
            drained.fetch_add(wake.drain());
            ::sched_yield();
          }
        });
        std::thread sender([&] {
          for (std::uint64_t i = 0; i < kSent; ++i) {
            union sigval v {};
            v.sival_int = static_cast<int>(i);
            while (::sigqueue(::getpid(), sig, v) != 0) {
              ASSERT_EQ(EAGAIN, errno);
              ::sched_yield();
            }
          }
        });
        sender.join();
        EXPECT_TRUE(eventually([&] { return count.load() >= kSent; }, std::chrono::seconds(120)))
            << count.load() << " of " << kSent;
        stop.store(true);
        for (std::thread& t : receivers) t.join();
        drainer.join();
        drained.fetch_add(wake.drain());
        EXPECT_EQ(kSent, count.load());
        if (!sigrelay::test::posix_platform()) {
          EXPECT_EQ(kSent, drained.load()) << "wake-ups lost or invented";
        }
        EXPECT_TRUE(sigrelay::remove_action(c));
        EXPECT_TRUE(sigrelay::remove_action(w));
      },
      240);
}

// add_count(): one per delivery, with deliveries "on any thread, ... and concurrently on several
// threads" (registry.hpp): four sender threads tgkill() (queued: rt_tgsigqueueinfo) each of four
// receiver threads 5,000 times at once, on one CPU: no increment is lost, one counter for all and
// one per receiver (an action on the same signal, added with its own context).
TEST(RelayFlood, TgkillFromManyThreadsToManyThreadsLosesNoIncrement) {
  if (SIGRELAY_TEST_UNDER_TSAN) GTEST_SKIP() << "ThreadSanitizer loses some of a flood's signals";
  in_child(
      [] {
        sigrelay::test::cap_pending_signals_for_a_flood();
        ASSERT_TRUE(pin_to_one_cpu());
        const int sig = SIGRTMIN + 5;
        constexpr int kReceivers = 4;
        constexpr int kSenders = 4;
        constexpr std::uint64_t kEach = 5000;
        std::atomic<std::uint64_t> total{0};
        std::atomic<std::uint64_t> again{0};
        const sigrelay::action_id a = sigrelay::add_action(sig, relay::add_count(total));
        const sigrelay::action_id b = sigrelay::add_action(sig, relay::add_count(again));
        block({sig});
        std::atomic<bool> stop{false};
        std::atomic<pid_t> tids[kReceivers];
        for (auto& t : tids) t.store(0);
        std::vector<std::thread> receivers;
        for (int i = 0; i < kReceivers; ++i) {
          receivers.emplace_back([&, i] {
            tids[i].store(own_tid());
            sigset_t set;
            sigemptyset(&set);
            sigaddset(&set, sig);
            ::pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
            while (!stop.load()) ::sched_yield();
          });
        }
        ASSERT_TRUE(eventually([&] {
          for (auto& t : tids)
            if (t.load() == 0) return false;
          return true;
        }));
        std::vector<std::thread> senders;
        for (int s = 0; s < kSenders; ++s) {
          senders.emplace_back([&] {
            for (std::uint64_t n = 0; n < kEach; ++n) {
              for (auto& t : tids) tgsigqueue_retrying(t.load(), sig);
            }
          });
        }
        for (std::thread& t : senders) t.join();
        const std::uint64_t expected = kEach * kSenders * kReceivers;
        EXPECT_TRUE(eventually([&] { return total.load() >= expected && again.load() >= expected; },
                               std::chrono::seconds(120)))
            << total.load() << " of " << expected;
        stop.store(true);
        for (std::thread& t : receivers) t.join();
        EXPECT_EQ(expected, total.load());
        EXPECT_EQ(expected, again.load());
        EXPECT_TRUE(sigrelay::remove_action(a));
        EXPECT_TRUE(sigrelay::remove_action(b));
      },
      240);
}

// --- errno and failing writes ----------------------------------------------------------------------------

// registry.hpp: "The trampoline saves and restores errno around all actions"; fd_relay: a full pipe
// is not an error the program sees. Every relay on one signal, two of whose writes fail (a full pipe:
// EAGAIN; a closed fd: EBADF), delivered 2,000 times by another thread to the main thread while it
// spins with a value of its own in errno: errno is that value after every delivery, and nothing is
// lost that the header keeps (the full pipe stays readable, every delivery counted).
TEST(RelayErrno, IsTheInterruptedCodesAfterEveryDeliveryEvenWhenARelaysWriteFails) {
  if (SIGRELAY_TEST_UNDER_TSAN) GTEST_SKIP() << "ThreadSanitizer runs handlers only at intercepted calls";
  in_child(
      [] {
        const int sig = SIGCHLD;  // its default is to ignore: default_action() does nothing
        int full[2];
        ASSERT_EQ(0, ::pipe2(full, O_NONBLOCK | O_CLOEXEC));
        char junk[4096] = {};
        while (::write(full[1], junk, sizeof junk) > 0) {
        }
        int closed[2];
        ASSERT_EQ(0, ::pipe2(closed, O_NONBLOCK | O_CLOEXEC));
        relay::fd_relay to_full(full[1]);
        relay::fd_relay to_closed(closed[1]);
        ::close(closed[0]);
        ::close(closed[1]);  // the relay now writes to a closed fd: EBADF
        std::atomic<bool> flag{false};
        std::atomic<bool> never{false};
        std::atomic<std::uint64_t> count{0};
        std::vector<sigrelay::action_id> ids;
        ids.push_back(sigrelay::add_action(sig, relay::die_if_set(never)));
        ids.push_back(sigrelay::add_action(sig, to_full.get()));
        ids.push_back(sigrelay::add_action(sig, to_closed.get()));
        ids.push_back(sigrelay::add_action(sig, relay::default_action()));
        ids.push_back(sigrelay::add_action(sig, relay::default_if_set(flag)));
        ids.push_back(sigrelay::add_action(sig, relay::set_flag(flag)));
        ids.push_back(sigrelay::add_action(sig, relay::add_count(count)));
        const pid_t main_tid = own_tid();
        std::atomic<std::uint64_t> round{0};
        std::thread sender([&] {
          for (std::uint64_t r = 1; r <= 2000; ++r) {
            while (round.load() < r) ::sched_yield();  // main has set errno for this round
            ASSERT_EQ(0, tgkill(main_tid, sig));
          }
        });
        for (std::uint64_t r = 1; r <= 2000; ++r) {
          const int mine = 1000 + static_cast<int>(r % 97);
          errno = mine;
          round.store(r);
          const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
          while (count.load() < r && std::chrono::steady_clock::now() < deadline) ::sched_yield();
          const int seen = errno;
          ASSERT_EQ(r, count.load()) << "a delivery did not come";
          ASSERT_EQ(mine, seen) << "errno changed by a delivery: " << std::strerror(seen);
        }
        sender.join();
        EXPECT_TRUE(readable(full[0])) << "the full pipe's pending data went";
        for (const auto id : ids) EXPECT_TRUE(sigrelay::remove_action(id));
        ::close(full[0]);
        ::close(full[1]);
      },
      60);
}

// fd_relay: "Each delivery writes to whatever file the number names at that moment ... A pipe or
// socket whose reading end has gone fails the write with EPIPE and raises SIGPIPE in the handling
// thread, as any write to it does: that kills the process unless SIGPIPE is ignored ... or handled."
// With SIGPIPE ignored nothing else happens (deliveries go on being counted); at its default the
// process dies by SIGPIPE.
TEST(RelayFd, APipeWhoseReaderHasGoneRaisesSigpipeAsTheHeaderSays) {
  for (const bool ignore_sigpipe : {true, false}) {
    const int status = run_in_child([ignore_sigpipe] {
      if (ignore_sigpipe) sigrelay::ignore(SIGPIPE);
      int fds[2];
      if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) ::_exit(2);
      relay::fd_relay wake(fds[1]);
      std::atomic<std::uint64_t> count{0};
      sigrelay::add_action(SIGUSR1, wake.get());
      sigrelay::add_action(SIGUSR1, relay::add_count(count));
      ::close(fds[0]);
      for (int i = 0; i < 10; ++i) ::kill(::getpid(), SIGUSR1);
      ::_exit(count.load() == 10 ? 0 : 3);
    });
    if (ignore_sigpipe) {
      EXPECT_TRUE(exited_with(status, 0));
    } else {
      EXPECT_TRUE(killed_by(status, SIGPIPE));
    }
  }
}

// "A socket is written with send(MSG_NOSIGNAL) ...: a socket whose peer has gone fails the send with
// EPIPE and nothing else happens": with SIGPIPE at its default action (which a write() would take:
// the process would die), every delivery still runs the next action, and errno is the interrupted
// code's. A socket's number closed and taken by a pipe gets the pipe's 8-byte write (ENOTSOCK).
TEST(RelayFd, ASocketWhosePeerHasGoneRaisesNoSigpipe) {
  const int status = run_in_child([] {
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    if (::sigaction(SIGPIPE, &dfl, nullptr) != 0) ::_exit(2);
    sigset_t pipe_only;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    if (::pthread_sigmask(SIG_UNBLOCK, &pipe_only, nullptr) != 0) ::_exit(2);
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) ::_exit(2);
    relay::fd_relay wake(fds[1]);
    std::atomic<std::uint64_t> count{0};
    sigrelay::add_action(SIGUSR1, wake.get());
    sigrelay::add_action(SIGUSR1, relay::add_count(count));
    ::close(fds[0]);
    for (int i = 0; i < 10; ++i) {
      errno = EDOM;
      ::raise(SIGUSR1);
      if (errno != EDOM) ::_exit(4);
    }
    if (count.load() != 10) ::_exit(3);
    // The number reused by a pipe's write end: the relay writes there, as the header says.
    int p[2];
    if (::pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0) ::_exit(2);
    if (::dup2(p[1], fds[1]) != fds[1]) ::_exit(2);
    ::raise(SIGUSR1);
    std::uint64_t got = 0;
    if (::read(p[0], &got, sizeof got) != static_cast<ssize_t>(sizeof got) || got != 1) ::_exit(5);
    ::_exit(0);
  });
  EXPECT_TRUE(exited_with(status, 0)) << "status " << status;
}

// --- remove_action(): the grace period, for relay objects ------------------------------------------------

// Lifetime: "keep that object alive until remove_action() of every action made from it has returned";
// remove_action(): "when this returns, no thread is running the action and none ever will again, so
// its context may be destroyed right away". 300 rounds while two threads take a flood of SIGUSR1 and
// of a realtime signal: the flag and counter live in a page that is unmapped the moment the removals
// return (a late run would fault), and the wakeup_fd is destroyed and its fd number taken at once by
// a pipe, which no late run may write to. Spread over the CPUs, and all on one CPU (where the
// removals' grace periods compete with the flood for the same CPU, and must still end).
class RelayLifetime : public testing::TestWithParam<bool> {};
std::string cpu_kind(const testing::TestParamInfo<bool>& p) { return p.param ? "one_cpu" : "any_cpu"; }
INSTANTIATE_TEST_SUITE_P(Cpus, RelayLifetime, testing::Values(false, true), cpu_kind);

TEST_P(RelayLifetime, ObjectsDestroyedTheMomentRemoveActionReturnsAreNeverTouchedDuringAFlood) {
  const bool one_cpu = GetParam();
  in_child(
      [one_cpu] {
        if (one_cpu) {
          ASSERT_TRUE(pin_to_one_cpu());
        }
        const int rt = SIGRTMIN + 6;
        std::atomic<std::uint64_t> base{0};  // keeps the trampoline installed between rounds
        const sigrelay::action_id keep1 = sigrelay::add_action(SIGUSR1, relay::add_count(base));
        const sigrelay::action_id keep2 = sigrelay::add_action(rt, relay::add_count(base));
        block({SIGUSR1, rt});
        std::atomic<bool> stop{false};
        std::atomic<pid_t> tids[2];
        for (auto& t : tids) t.store(0);
        std::vector<std::thread> receivers;
        for (int i = 0; i < 2; ++i) {
          receivers.emplace_back([&, i] {
            tids[i].store(own_tid());
            sigset_t set;
            sigemptyset(&set);
            sigaddset(&set, SIGUSR1);
            sigaddset(&set, rt);
            ::pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
            while (!stop.load()) nap();
          });
        }
        ASSERT_TRUE(eventually([&] { return tids[0].load() != 0 && tids[1].load() != 0; }));
        std::thread sender([&] {
          while (!stop.load()) {
            for (auto& t : tids) {
              (void)tgkill(t.load(), SIGUSR1);
              (void)tgkill(t.load(), rt);  // dropped if the queue is full: fine
            }
            nap();
          }
        });
        const auto page_size = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
        for (int round = 0; round < 300; ++round) {
          void* page = ::mmap(nullptr, page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
          ASSERT_NE(MAP_FAILED, page);
          auto* count = new (page) std::atomic<std::uint64_t>(0);
          auto* flag = new (static_cast<char*>(page) + 64) std::atomic<bool>(false);
          auto* never = new (static_cast<char*>(page) + 128) std::atomic<bool>(false);
          auto wake = std::make_unique<relay::wakeup_fd>();
          const int wake_fd = wake->native_handle();
          std::vector<sigrelay::action_id> ids;
          for (const int s : {SIGUSR1, rt}) {
            ids.push_back(sigrelay::add_action(s, relay::add_count(*count)));
            ids.push_back(sigrelay::add_action(s, relay::set_flag(*flag)));
            ids.push_back(sigrelay::add_action(s, relay::die_if_set(*never)));
            ids.push_back(sigrelay::add_action(s, wake->get()));
          }
          int reuse[2];  // made now, so that neither end takes the eventfd's number
          ASSERT_EQ(0, ::pipe2(reuse, O_NONBLOCK | O_CLOEXEC));
          ASSERT_TRUE(eventually([&] { return count->load() > 0; })) << "round " << round;
          for (const auto id : ids) ASSERT_TRUE(sigrelay::remove_action(id));
          ASSERT_EQ(0, ::munmap(page, page_size));                   // a late set_flag/add_count would fault
          wake.reset();                                              // closes the eventfd
          ASSERT_EQ(wake_fd, ::dup3(reuse[1], wake_fd, O_CLOEXEC));  // its number now names the pipe
          const std::uint64_t before = base.load();
          ASSERT_TRUE(eventually([&] { return base.load() > before + 4; }));  // more deliveries came
          EXPECT_FALSE(readable(reuse[0])) << "a removed fd relay wrote to its fd's next file";
          ::close(wake_fd);
          ::close(reuse[0]);
          ::close(reuse[1]);
          if (HasFailure()) break;
        }
        stop.store(true);
        sender.join();
        for (std::thread& t : receivers) t.join();
        EXPECT_TRUE(sigrelay::remove_action(keep1));
        EXPECT_TRUE(sigrelay::remove_action(keep2));
      },
      240);
}

// --- die_by_signal()
// ----------------------------------------------------------------------------------------

// die_by_signal(): "Ends the process so that its parent sees WIFSIGNALED with `signo` ..., even if the
// signal was blocked or handled". Every disposition a program may have left, for terminating signals
// and a realtime one: SIG_IGN and blocked; a foreign handler installed before sigrelay's action and
// one installed over it; ignore() through the registry with an action subscribed; called from a
// foreign handler of the same signal (which has it blocked) and from a sigrelay action of another
// signal; and with another thread that has the signal unblocked and a handler that exits 77.
TEST(DieBySignalContract, EndsByTheSignalWhateverItsDispositionAndWhoeverCallsIt) {
  const struct rlimit no_core {};
  for (const int signo : {SIGTERM, SIGUSR1, SIGPIPE, SIGALRM, SIGQUIT, SIGRTMIN + 7}) {
    for (int how = 0; how < 8; ++how) {
      const int status = run_in_child(
          [signo, how, no_core] {
            (void)::setrlimit(RLIMIT_CORE, &no_core);
            std::atomic<std::uint64_t> count{0};
            g_die_signal = signo;
            switch (how) {
              case 0:
                install_handler(signo, SIG_IGN);
                block({signo});
                break;
              case 1:
                install_handler(signo, foreign_handler);
                sigrelay::add_action(signo, relay::add_count(count));
                block({signo});
                break;
              case 2:
                sigrelay::add_action(signo, relay::add_count(count));
                install_handler(signo, foreign_handler, SA_RESTART);
                break;
              case 3:
                sigrelay::add_action(signo, relay::add_count(count));
                sigrelay::ignore(signo);
                break;
              case 4:
                install_handler(signo, die_in_handler);
                ::kill(::getpid(), signo);
                ::_exit(98);
              case 5:
                sigrelay::add_action(signo, relay::add_count(count));
                sigrelay::add_action(SIGUSR2, {die_in_action, nullptr});
                ::kill(::getpid(), SIGUSR2);
                ::_exit(98);
              case 7:  // a handler installed before sigrelay, chained by its trampoline
                install_handler(signo, die_in_handler);
                sigrelay::add_action(signo, relay::add_count(count));
                ::kill(::getpid(), signo);
                ::_exit(98);
              case 6: {
                install_handler(signo, [](int) { ::_exit(77); });
                std::atomic<bool> ready{false};
                std::thread other([&] {
                  ready.store(true);
                  for (;;) ::pause();
                });
                other.detach();
                while (!ready.load()) ::sched_yield();
                block({signo});
                break;
              }
            }
            relay::die_by_signal(signo);
          },
          20);
      EXPECT_TRUE(killed_by(status, signo)) << sigrelay::signal_name(signo) << " case " << how;
      EXPECT_FALSE(WIFSIGNALED(status) && WCOREDUMP(status)) << "no core with RLIMIT_CORE 0";
    }
  }
}

// die_by_signal(): "and a core dump for the core-dumping signals, where core dumps are enabled";
// "does not flush stdio or run atexit handlers". With RLIMIT_CORE unlimited and a plain core_pattern,
// SIGQUIT, SIGABRT and SIGSEGV (each handled by a sigrelay action and blocked) dump core, SIGTERM does
// not; and the process's buffered stdio and atexit handler never reach its pipe.
TEST(DieBySignalContract, DumpsCoreForCoreSignalsWhereEnabledAndFlushesNothing) {
  if (kUnderSanitizer) GTEST_SKIP() << "a sanitizer's shadow makes a core dump too large";
  char pattern[256] = {};
  if (FILE* f = std::fopen("/proc/sys/kernel/core_pattern", "r")) {
    if (std::fgets(pattern, sizeof pattern, f) == nullptr) pattern[0] = 0;
    std::fclose(f);
  }
  if (pattern[0] == '|' || pattern[0] == 0) GTEST_SKIP() << "core_pattern is a pipe: " << pattern;
  char dir_template[] = "/tmp/sigrelay-core-XXXXXX";
  ASSERT_NE(nullptr, ::mkdtemp(dir_template));
  const std::string dir = dir_template;
  for (const int signo : {SIGQUIT, SIGABRT, SIGSEGV, SIGTERM}) {
    int out[2];
    ASSERT_EQ(0, ::pipe2(out, O_CLOEXEC));
    // Not run_in_child(): it sets the hard RLIMIT_CORE to 0 in its children.
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      sigrelay::test::reset_signal_state();
      ::alarm(30);
      ::close(out[0]);
      const struct rlimit unlimited { RLIM_INFINITY, RLIM_INFINITY };
      if (::setrlimit(RLIMIT_CORE, &unlimited) != 0) ::_exit(2);
      if (::chdir(dir.c_str()) != 0) ::_exit(3);
      static int s_out = -1;
      s_out = out[1];
      std::atexit([] { (void)::write(s_out, "atexit", 6); });
      FILE* buffered = ::fdopen(::dup(out[1]), "w");
      if (buffered == nullptr) ::_exit(4);
      std::setvbuf(buffered, nullptr, _IOFBF, 4096);
      std::fputs("buffered", buffered);
      sigrelay::action_options faults;
      faults.allow_fault_signals = true;
      std::atomic<std::uint64_t> count{0};
      sigrelay::add_action(signo, relay::add_count(count), faults);
      block({signo});
      relay::die_by_signal(signo);
    }
    const int status = wait_with_deadline(pid, 60);
    ::close(out[1]);
    char buf[64];
    ssize_t n;
    while ((n = ::read(out[0], buf, sizeof buf)) < 0 && errno == EINTR) {
    }
    ::close(out[0]);
    EXPECT_EQ(0, n) << "stdio flushed or an atexit handler ran, for " << sigrelay::signal_name(signo);
    EXPECT_TRUE(killed_by(status, signo)) << sigrelay::signal_name(signo);
    const bool core = signo != SIGTERM;
    EXPECT_EQ(core, WIFSIGNALED(status) && WCOREDUMP(status)) << sigrelay::signal_name(signo);
    if (DIR* d = ::opendir(dir.c_str())) {
      while (const dirent* e = ::readdir(d)) {
        if (e->d_name[0] != '.') ::unlink((dir + "/" + e->d_name).c_str());
      }
      ::closedir(d);
    }
  }
  ::rmdir(dir.c_str());
}

// die_by_signal(): "Only if the process survives that ... does it fall back to _exit(128 + signo)".
// The init of a PID namespace survives every signal it sends itself (the kernel ignores a signal
// at SIG_DFL for it, SIGKILL included), as relays.hpp says: it ends with _exit(128 + signo), for a
// terminating signal, a core-dumping one and SIGKILL alike, never returning and never hanging.
TEST(DieBySignalContract, AsTheInitOfAPidNamespaceItEndsWith128PlusTheSignal) {
  for (const int signo : {SIGTERM, SIGQUIT, SIGRTMIN + 1, SIGKILL}) {
    const int status = status_as_namespace_init([signo] {
      std::atomic<std::uint64_t> count{0};
      if (signo != SIGKILL) sigrelay::add_action(signo, relay::add_count(count));
      relay::die_by_signal(signo);
    });
    if (status == -2) GTEST_SKIP() << "no PID namespace here (unshare(CLONE_NEWPID) refused)";
    EXPECT_TRUE(exited_with(status, 128 + signo)) << sigrelay::signal_name(signo);
  }
}

// emulate_default(): stop signals are performed by the kernel itself, which never stops the init of
// a PID namespace by its own signals (as relays.hpp says): the call returns at once, the signal state
// and errno as before, and the actions go on.
TEST(EmulateDefaultContract, AsTheInitOfAPidNamespaceAStopSignalReturnsAtOnce) {
  const int status = status_as_namespace_init([] {
    std::atomic<std::uint64_t> count{0};
    sigrelay::add_action(SIGTSTP, relay::add_count(count));
    sigrelay::add_action(SIGTSTP, relay::default_action());
    const auto before = snapshot();
    for (const int signo : {SIGTSTP, SIGTTIN, SIGTTOU, SIGSTOP}) {
      errno = 4321;
      relay::emulate_default(signo);
      if (errno != 4321) ::_exit(10);
    }
    ::kill(::getpid(), SIGTSTP);  // default_action() from an action: returns too
    if (count.load() != 1) ::_exit(11);
    if (!sigrelay::test::differences(before, snapshot()).empty()) ::_exit(12);
    ::_exit(0);
  });
  if (status == -2) GTEST_SKIP() << "no PID namespace here (unshare(CLONE_NEWPID) refused)";
  EXPECT_TRUE(exited_with(status, 0));
}

// --- default_if_set() and emulate_default()
// -----------------------------------------------------------------

// default_if_set(): "a stop signal stops the process (and the program goes on once continued: the
// flag stays set, so each later delivery stops it again) ... Clear the flag (in ordinary code) to
// start over." The first SIGTSTP (or SIGTTIN) only sets the flag; the second and third stop the
// process (the parent sees WSTOPSIG == it) and, once continued, the actions after it run; the signal
// keeps sigrelay's handler and is not left blocked; with the flag cleared, the next one stops nothing.
TEST(DefaultIfSetContract, AStopSignalStopsOnEveryLaterDeliveryAndTheProgramGoesOn) {
  for (const int signo : {SIGTSTP, SIGTTIN}) {
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      sigrelay::test::reset_signal_state();
      ::alarm(30);
      ::setpgid(0, 0);  // not orphaned: the parent is in another group of the same session
      std::atomic<bool> flag{false};
      std::atomic<std::uint64_t> count{0};
      sigrelay::add_action(signo, relay::default_if_set(flag));
      sigrelay::add_action(signo, relay::set_flag(flag));
      sigrelay::add_action(signo, relay::add_count(count));
      for (std::uint64_t i = 1; i <= 3; ++i) {
        ::kill(::getpid(), signo);
        if (count.load() != i || !flag.load()) ::_exit(10 + static_cast<int>(i));
      }
      if ((query(signo).sa_flags & SA_SIGINFO) == 0 || is_blocked(signo)) ::_exit(20);
      flag.store(false);  // start over: the next one only sets the flag again
      ::kill(::getpid(), signo);
      ::_exit(count.load() == 4 && flag.load() ? 0 : 21);
    }
    int stops = 0;
    int status = 0;
    for (;;) {
      pid_t r;
      while ((r = ::waitpid(pid, &status, WUNTRACED)) < 0 && errno == EINTR) {
      }
      ASSERT_EQ(pid, r);
      if (!WIFSTOPPED(status)) break;
      EXPECT_EQ(signo, WSTOPSIG(status)) << sigrelay::test::describe_status(status);
      ++stops;
      ::kill(pid, SIGCONT);
    }
    EXPECT_TRUE(exited_with(status, 0)) << sigrelay::signal_name(signo);
    EXPECT_EQ(2, stops) << sigrelay::signal_name(signo);
  }
}

// emulate_default(): "in an orphaned process group SIGTSTP, SIGTTIN and SIGTTOU are discarded as the
// kernel discards them ...: the call then returns at once"; it "blocks the signal again if it was
// blocked and restores the saved disposition"; "errno is preserved". In a session of its own (an
// orphaned group), with SIGTTOU blocked and a foreign handler with flags on SIGTTIN: each call returns,
// errno and the whole signal state are as before.
TEST(EmulateDefaultContract, InAnOrphanedGroupAStopSignalReturnsAtOnceLeavingErrnoAndStateAsTheyWere) {
  in_child([] {
    ASSERT_GE(::setsid(), 0);
    install_handler(SIGTTIN, foreign_handler, SA_RESTART | SA_NODEFER);
    block({SIGTTOU});
    const auto before = snapshot();
    for (const int signo : {SIGTSTP, SIGTTIN, SIGTTOU, SIGCHLD, SIGCONT, SIGURG, SIGWINCH}) {
      errno = 4321;
      relay::emulate_default(signo);
      EXPECT_EQ(4321, errno) << sigrelay::signal_name(signo);
      EXPECT_TRUE(same_state(before, snapshot())) << sigrelay::signal_name(signo);
    }
    EXPECT_EQ(0, g_foreign_calls.load()) << "a discarded stop ran the handler";
  });
}

// --- siglongjmp
// ---------------------------------------------------------------------------------------------

// emulate_default(): "Does what the kernel would do for `signo` with no handler". For a number that
// names no signal (0, negative, NSIG and above) the kernel has no default action to take: the call
// does nothing, and returns, with errno and the whole signal state as they were; die_by_signal() of
// such a number, which never returns, ends the process with _exit(128 + 0, or + signo below 128).
TEST(EmulateDefaultContract, ANumberThatNamesNoSignalDoesNothing) {
  in_child([] {
    const auto before = snapshot();
    for (const int signo : {0, -1, -SIGTERM, NSIG, NSIG + 1, 1000}) {
      errno = 4321;
      relay::emulate_default(signo);
      EXPECT_EQ(4321, errno) << signo;
      EXPECT_TRUE(same_state(before, snapshot())) << signo;
    }
  });
  for (const int signo : {0, -1, NSIG, 1000}) {
    const int status = run_in_child([signo] { relay::die_by_signal(signo); }, 10);
    EXPECT_TRUE(exited_with(status, 128 + (signo > 0 && signo < 128 ? signo : 0))) << signo;
  }
}

// The numbers the C library reserves for itself (glibc: 32 and 33, between the standard signals and
// SIGRTMIN) name no signal for sigrelay (signal_name() is "", add_action() refuses them), and glibc's
// own handlers for them act on a signal a thread sends itself: 32 cancels the thread, 33 runs a
// set*id() broadcast that is not there (a null pointer: SIGSEGV). So emulate_default() does nothing
// for them, and die_by_signal(), which never returns, ends with _exit(128 + signo), whether or not
// glibc's handlers are installed (pthread_cancel() has been used), never by another signal.
TEST(EmulateDefaultContract, ANumberReservedByTheCLibraryIsNeverSent) {
  std::vector<int> reserved;
  for (int signo = 32; signo < SIGRTMIN; ++signo) {
    if (sigrelay::signal_name(signo).empty()) reserved.push_back(signo);
  }
  if (reserved.empty()) GTEST_SKIP() << "this C library reserves no signal number";
  for (const bool glibc_handlers : {false, true}) {
    const auto install_glibc_handlers = [glibc_handlers] {
      if (!glibc_handlers) return;
      pthread_t t;
      ASSERT_EQ(0, ::pthread_create(
                       &t, nullptr,
                       [](void*) -> void* {
                         for (;;) ::pause();
                       },
                       nullptr));
      ASSERT_EQ(0, ::pthread_cancel(t));
      ASSERT_EQ(0, ::pthread_join(t, nullptr));
    };
    in_child([&] {
      install_glibc_handlers();
      const auto before = snapshot();
      for (const int signo : reserved) {
        errno = 4321;
        relay::emulate_default(signo);
        EXPECT_EQ(4321, errno) << signo;
        EXPECT_TRUE(same_state(before, snapshot())) << signo;
      }
    });
    for (const int signo : reserved) {
      const int status = run_in_child(
          [&] {
            install_glibc_handlers();
            relay::die_by_signal(signo);
          },
          10);
      EXPECT_TRUE(exited_with(status, 128 + signo))
          << signo << (glibc_handlers ? " with" : " without") << " glibc's handlers";
    }
  }
}

// registry.hpp, Signal context: an action that leaves by siglongjmp "is tolerated": remove_action()
// waits for it only "until its thread takes its next signal from a shallower point of the same stack".
// An action that jumps out, added before a counter: that delivery counts nothing; the next one counts;
// removing both returns (the watchdog fails a hang) and the disposition is SIG_DFL again.
// Chaining: "The earlier handler may leave by siglongjmp ...: the registry stays fully usable, and
// that delivery's actions do not run". Same with a foreign handler installed before sigrelay that
// jumps: its delivery counts nothing, the next counts one, and the last removal restores it exactly.
TEST(RelayLongjmp, AnActionOrAChainedHandlerLeftBySiglongjmpStopsNoLaterCountAndNoRemoval) {
  if (!kReleasesAbandonedSections) GTEST_SKIP() << "registry.hpp: no release of an abandoned action here";
  in_child(
      [] {
        std::atomic<std::uint64_t> count{0};
        const sigrelay::action_id j = sigrelay::add_action(SIGUSR1, {jumping_action, nullptr});
        const sigrelay::action_id c = sigrelay::add_action(SIGUSR1, relay::add_count(count));
        g_jump_armed.store(true);
        if (sigsetjmp(g_jump, 1) == 0) {
          ::kill(::getpid(), SIGUSR1);
          ADD_FAILURE() << "the action did not jump";
        }
        EXPECT_EQ(0U, count.load());
        EXPECT_FALSE(is_blocked(SIGUSR1));
        ::kill(::getpid(), SIGUSR1);
        EXPECT_EQ(1U, count.load());
        EXPECT_TRUE(sigrelay::remove_action(c));
        EXPECT_TRUE(sigrelay::remove_action(j));
        EXPECT_EQ(SIG_DFL, query(SIGUSR1).sa_handler);

        install_handler(SIGUSR2, jumping_handler, SA_RESTART);
        const auto before = query(SIGUSR2);
        const sigrelay::action_id c2 = sigrelay::add_action(SIGUSR2, relay::add_count(count));
        g_jump_armed.store(true);
        if (sigsetjmp(g_jump, 1) == 0) {
          ::kill(::getpid(), SIGUSR2);
          ADD_FAILURE() << "the chained handler did not jump";
        }
        EXPECT_EQ(1U, count.load()) << "that delivery's actions ran";
        ::kill(::getpid(), SIGUSR2);
        EXPECT_EQ(2U, count.load());
        EXPECT_EQ(4, g_jumper_calls.load());
        EXPECT_TRUE(sigrelay::remove_action(c2));
        const auto after = query(SIGUSR2);
        EXPECT_EQ(before.sa_handler, after.sa_handler);
        EXPECT_EQ(before.sa_flags, after.sa_flags);
      },
      20);
}

// --- fork() and _Fork()
// -------------------------------------------------------------------------------------

class RelayFork : public testing::TestWithParam<bool> {};
std::string fork_kind(const testing::TestParamInfo<bool>& p) { return p.param ? "raw_Fork" : "fork"; }
INSTANTIATE_TEST_SUITE_P(Forks, RelayFork, testing::Values(false, true), fork_kind);

// registry.hpp, after_fork_in_child(): a child "of fork()" (its handler) or "of _Fork()" (that calls
// it first thing) may go on using sigrelay when no thread was inside the registry. Here another thread
// is inside an *action* (spinning in it) at the fork: the child, which does not have that thread,
// counts its own deliveries in its own copy of the counter, and removes the counter's action and the
// spinning one without waiting for a thread it does not have (the watchdog fails a hang); the
// parent's counter is untouched by the child.
TEST_P(RelayFork, AChildForkedWhileAnotherThreadRunsAnActionCountsAndRemovesOnItsOwn) {
  if (SIGRELAY_TEST_UNDER_TSAN) GTEST_SKIP() << "ThreadSanitizer defers or loses the action's run";
  const bool raw = GetParam();
  in_child(
      [raw] {
        std::atomic<std::uint64_t> count{0};
        const sigrelay::action_id spin = sigrelay::add_action(SIGUSR2, {spin_action, nullptr});
        const sigrelay::action_id c = sigrelay::add_action(SIGUSR1, relay::add_count(count));
        std::atomic<pid_t> tid{0};
        std::thread spinner([&] {
          tid.store(own_tid());
          while (!g_spin_release.load()) nap();
        });
        ASSERT_TRUE(eventually([&] { return tid.load() != 0; }));
        ASSERT_EQ(0, tgkill(tid.load(), SIGUSR2));
        ASSERT_TRUE(eventually([] { return g_spin_entered.load(); }));
        std::fflush(nullptr);
        const pid_t child = raw ? ::_Fork() : ::fork();
        ASSERT_GE(child, 0);
        if (child == 0) {
          ::alarm(10);
          if (raw) sigrelay::after_fork_in_child();
          for (int i = 0; i < 3; ++i) {  // one at a time: a standard signal does not queue
            ::kill(::getpid(), SIGUSR1);
            if (!eventually([&] { return count.load() == static_cast<std::uint64_t>(i + 1); },
                            std::chrono::seconds(5))) {
              ::_exit(3);
            }
          }
          if (!sigrelay::remove_action(c)) ::_exit(4);
          if (!sigrelay::remove_action(spin)) ::_exit(5);
          if (query(SIGUSR1).sa_handler != SIG_DFL) ::_exit(6);
          ::_exit(0);
        }
        const int status = wait_with_deadline(child, 20);
        EXPECT_TRUE(exited_with(status, 0)) << "the child's count or removal failed (or hung)";
        EXPECT_EQ(0U, count.load());
        g_spin_release.store(true);
        spinner.join();
        ::kill(::getpid(), SIGUSR1);
        EXPECT_TRUE(eventually([&] { return count.load() == 1; }));
        EXPECT_TRUE(sigrelay::remove_action(c));
        EXPECT_TRUE(sigrelay::remove_action(spin));
      },
      40);
}

// registry.hpp, after_fork_in_child(): "Uses only async-signal-safe calls ..., so it may be called
// in the child of a multithreaded parent"; the fork child's reader counters are "what its one thread
// holds (it may be inside a handler)". A child made by _Fork() from inside an action (and calling
// after_fork_in_child() there) returns from that action, counts its own later deliveries with
// add_count(), and removes every action without waiting for ever on the section it left; the parent
// goes on likewise.
TEST(RelayRawFork, AChildOfRawForkMadeInsideAnActionLeavesItAndRemovesEverything) {
  in_child(
      [] {
        std::atomic<std::uint64_t> count{0};
        const sigrelay::action_id f = sigrelay::add_action(SIGUSR1, {fork_in_action, nullptr});
        const sigrelay::action_id c = sigrelay::add_action(SIGUSR2, relay::add_count(count));
        std::fflush(nullptr);
        ::kill(::getpid(), SIGUSR1);
        const pid_t pid = g_forked.load();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
          ::alarm(10);
          for (int i = 0; i < 2; ++i) {  // one at a time: a standard signal does not queue
            ::kill(::getpid(), SIGUSR2);
            if (!eventually([&] { return count.load() == static_cast<std::uint64_t>(i + 1); },
                            std::chrono::seconds(5))) {
              ::_exit(3);
            }
          }
          if (!sigrelay::remove_action(c)) ::_exit(4);  // waits on no section left behind
          if (!sigrelay::remove_action(f)) ::_exit(5);
          if (query(SIGUSR1).sa_handler != SIG_DFL || query(SIGUSR2).sa_handler != SIG_DFL) ::_exit(6);
          ::_exit(0);
        }
        EXPECT_TRUE(exited_with(wait_with_deadline(pid, 20), 0)) << "the child's count or removal failed";
        ::kill(::getpid(), SIGUSR2);
        EXPECT_TRUE(eventually([&] { return count.load() == 1; }));
        EXPECT_TRUE(sigrelay::remove_action(c));
        g_forked.store(-1);
        EXPECT_TRUE(sigrelay::remove_action(f));
      },
      40);
}

// default_if_set(): "if `flag` is already set when the signal arrives, performs the signal's default
// action (... terminate or dump core by the signal ...)"; added before set_flag(), "the first signal
// sets the flag, a later one takes the default action". For a terminating, a core-dumping and a
// realtime signal, with a foreign handler chained underneath: the first delivery only sets the flag
// (and runs the handler), the second ends the process by that signal.
TEST(DefaultIfSetContract, ATerminatingSignalKillsOnTheSecondDeliveryOnly) {
  for (const int signo : {SIGTERM, SIGQUIT, SIGRTMIN + 3}) {
    const int status = run_in_child(
        [signo] {
          install_handler(signo, foreign_handler);
          std::atomic<bool> flag{false};
          sigrelay::add_action(signo, relay::default_if_set(flag));
          sigrelay::add_action(signo, relay::set_flag(flag));
          ::kill(::getpid(), signo);
          if (!flag.load() || g_foreign_calls.load() != 1) ::_exit(3);
          ::kill(::getpid(), signo);
          ::_exit(4);
        },
        20);
    EXPECT_TRUE(killed_by(status, signo)) << sigrelay::signal_name(signo);
  }
}

// --- Bad signal numbers
// ---------------------------------------------------------------------------------------

// registry.hpp, add_action() Errors: "std::errc::invalid_argument (message names the signal) for 0,
// negative numbers, numbers above SIGRTMAX, numbers reserved by the C library ..., SIGKILL, SIGSTOP,
// fault signals without allow_fault_signals ... On any error nothing changed". For each relay action.
TEST(RelayErrors, EveryRelayForABadSignalIsRefusedNamingItAndChangesNothing) {
  in_child([] {
    std::atomic<bool> flag{false};
    std::atomic<std::uint64_t> count{0};
    relay::wakeup_fd wake;
    const sigrelay::action actions[] = {relay::set_flag(flag),   relay::add_count(count),
                                        relay::die_if_set(flag), relay::default_if_set(flag),
                                        relay::default_action(), wake.get()};
    install_handler(SIGUSR1, foreign_handler);
    block({SIGUSR2});
    const auto before = snapshot();
    struct bad {
      int signo;
      std::string name;
    };
    const std::vector<bad> bads = {{0, "signal 0"},
                                   {-1, "signal -1"},
                                   {NSIG, "signal " + std::to_string(NSIG)},
                                   {SIGRTMAX + 1, "signal " + std::to_string(SIGRTMAX + 1)},
                                   {32, "signal 32"},
                                   {33, "signal 33"},
                                   {SIGKILL, "SIGKILL"},
                                   {SIGSTOP, "SIGSTOP"},
                                   {SIGSEGV, "SIGSEGV"},
                                   {SIGBUS, "SIGBUS"}};
    for (const bad& b : bads) {
      // 32 and 33 are refused where the C library reserves them (they have no name then).
      if ((b.signo == 32 || b.signo == 33) && !sigrelay::signal_name(b.signo).empty()) continue;
      for (const sigrelay::action& a : actions) {
        try {
          (void)sigrelay::add_action(b.signo, a);
          ADD_FAILURE() << b.name << " was accepted";
        } catch (const std::system_error& e) {
          EXPECT_EQ(std::errc::invalid_argument, e.code()) << b.name;
          EXPECT_NE(std::string::npos, std::string(e.what()).find(b.name)) << e.what();
        }
        std::error_code ec;
        const sigrelay::action_id id = sigrelay::add_action(b.signo, a, {}, ec);
        EXPECT_EQ(std::errc::invalid_argument, ec) << b.name;
        EXPECT_FALSE(id);
        EXPECT_TRUE(same_state(before, snapshot())) << b.name;
      }
    }
  });
}
