// SPDX-License-Identifier: MIT
// tests/peer_signal_hook_test.cc — the scenarios of the signal-hook (Rust) test suite and of its
// documented behaviour, ported to sigrelay's equivalents, as a check of "how the peers behave".
//
// Map (peer -> sigrelay):
// - signal-hook-registry register/register_sigaction/unregister, FORBIDDEN, register_unchecked
//     -> add_action()/remove_action(), the refused signals, action_options::allow_fault_signals.
// - flag::register, flag::register_conditional_shutdown, flag::register_conditional_default
//     -> relay::set_flag, relay::die_if_set, relay::default_if_set.
// - low_level::emulate_default_handler, low_level::signal_name -> relay::emulate_default,
//   signal_name().
// - low_level::pipe::register (stream socket, datagram socket, pipe) -> relay::fd_relay.
// - iterator::Signals (pending, wait, forever, Handle::close/is_closed/add_signal)
//     -> signals (pending, wait, the iterator, handle).
// - iterator::exfiltrator::WithOrigin / low_level::siginfo::Origin -> signal_event::last (origin).
// - wait_for_shutdown_signal (tests/test.rs) -> signals{termination_signals}.
// - tests/shutdown.rs and the older tests/cleanup.rs (double SIGTERM) -> die_if_set + set_flag,
//   destroying the last subscriber, and termination.
// - Corner cases from its issue threads: #23/#102 (unregister does not restore the default), #97
//   (emulate_default_handler aborted inside the handler), #130 (emulate the default from the
//   iterator's thread), #30 (another library's handler over ours), #148 (several consumers).
//
// Deliberate differences, each named where it is tested:
// - remove_action() of the last action restores the disposition from before (the peer keeps its
//   handler installed, so a removed SIGTERM action leaves SIGTERM ignored).
// - die_if_set dies by the signal (the peer's conditional shutdown calls _exit(status)).
// - emulate_default of a stop signal stops by that signal (WSTOPSIG == SIGTSTP); the peer raises
//   SIGSTOP. A number that names no signal does nothing (the peer returns EINVAL). SIGIO
//   terminates, as the kernel's default does (the peer's table says "ignore").
// - fd_relay refuses a blocking fd (the peer sets O_NONBLOCK itself, or sends with MSG_DONTWAIT),
//   and writes an 8-byte count (the peer writes one byte).
// - The fault signals refused without allow_fault_signals are SIGSEGV, SIGBUS, SIGILL, SIGFPE,
//   SIGTRAP and SIGSYS (the peer: SIGILL, SIGFPE, SIGSEGV).
// - signals::wait() returns a batch taken at once; signals sent after it returned come with the
//   next call (the peer's lazy iterator may pick them up and the next wait() returns nothing).
// - One consumer per object (the peer lets clones of one Signals iterate on several threads).
// - Coalesced deliveries are counted; the origin kept is the latest (the peer keeps a few).
// - termination_signals leave SIGHUP out (the peer's wait_for_shutdown_signal includes it).
//
// Every test body runs in a forked child under a watchdog (support/child.hpp), which starts with
// every signal at SIG_DFL and nothing blocked.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "sigrelay/registry.hpp"
#include "sigrelay/relays.hpp"
#include "sigrelay/signals.hpp"
#if __cplusplus >= 202002L && __has_include(<stop_token>)
#include "sigrelay/termination.hpp"
#endif
#include "support/child.hpp"
#include "support/events.hpp"
#include "support/platform.hpp"
#include "support/process.hpp"
#include "support/senders.hpp"
#include "support/signal_state.hpp"

namespace {

using namespace std::chrono_literals;
using sigrelay::action;
using sigrelay::action_id;
using sigrelay::action_options;
using sigrelay::backend;
using sigrelay::origin_kind;
using sigrelay::signal_event;
using sigrelay::signals;
using sigrelay::test::exited_with;
using sigrelay::test::killed_by;
using sigrelay::test::readable;
using sigrelay::test::run_in_child;
using sigrelay::test::snapshot;
using sigrelay::test::this_tid;
using sigrelay::test::total;
using sigrelay::test::wait_with_deadline;

// --- Helpers ---------------------------------------------------------------------------------------

// Waits (at most `limit`) until `pred` holds; a signal handled on another thread (or deferred, under
// ThreadSanitizer) may take a moment.
bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds limit = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    usleep(1000);
  }
  return true;
}

void set_blocked(int signo, bool block) {
  sigset_t one;
  sigemptyset(&one);
  sigaddset(&one, signo);
  pthread_sigmask(block ? SIG_BLOCK : SIG_UNBLOCK, &one, nullptr);
}

struct sigaction current_action(int signo) {
  struct sigaction sa {};
  sigaction(signo, nullptr, &sa);
  return sa;
}

// A signal-safe log of which function ran, in order.
std::atomic<int> g_log[16];
std::atomic<int> g_log_n{0};
void log_mark(int mark) noexcept {
  const int i = g_log_n.fetch_add(1);
  if (i < 16) g_log[i].store(mark);
}
std::vector<int> log_marks() {
  std::vector<int> out;
  const int n = std::min(g_log_n.load(), 16);
  for (int i = 0; i < n; ++i) out.push_back(g_log[i].load());
  return out;
}

void mark_fn(void* context, const siginfo_t&) noexcept {
  log_mark(static_cast<int>(reinterpret_cast<std::intptr_t>(context)));
}
action mark_action(int mark) {
  return action{mark_fn, reinterpret_cast<void*>(static_cast<std::intptr_t>(mark))};
}

void nop_fn(void*, const siginfo_t&) noexcept {}

// Reads one byte from `fd` (blocking, EINTR retried); -1 at end of file.
int read_byte(int fd) {
  char c = 0;
  ssize_t r;
  while ((r = read(fd, &c, 1)) < 0 && errno == EINTR) {
  }
  return r == 1 ? static_cast<unsigned char>(c) : -1;
}

void write_byte(int fd, char c) {
  while (write(fd, &c, 1) < 0 && errno == EINTR) {
  }
}

// Forks `body` into a child that starts from a clean signal state (in a process group of its own,
// so that stop signals are never discarded as in an orphaned group), then collects every status the
// child reports until it ends: each stop is recorded and answered with SIGCONT. The child ends with
// _exit(0) after `body` if nothing ended it before.
std::vector<int> statuses_of(const std::function<void()>& body) {
  const pid_t pid = fork();
  if (pid == 0) {
    sigrelay::test::reset_signal_state();
    const struct rlimit no_core { 0, 0 };
    setrlimit(RLIMIT_CORE, &no_core);
    setpgid(0, 0);
    alarm(20);
    body();
    for (int i = 0; i < 10; ++i) usleep(1000);  // a deferred handler (ThreadSanitizer) runs by now
    _exit(0);
  }
  std::vector<int> out;
  if (pid < 0) return out;
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  for (;;) {
    int status = 0;
    const pid_t r = waitpid(pid, &status, WUNTRACED | WNOHANG);
    if (r == pid) {
      out.push_back(status);
      if (WIFSTOPPED(status)) {
        kill(pid, SIGCONT);
        continue;
      }
      return out;
    }
    if (r < 0 && errno != EINTR) return out;
    if (std::chrono::steady_clock::now() >= deadline || out.size() > 4) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      out.push_back(-1);
      return out;
    }
    usleep(1000);
  }
}

std::string describe_statuses(const std::vector<int>& v) {
  std::string s;
  for (const int st : v) {
    if (!s.empty()) s += ", ";
    if (st == -1) {
      s += "hung";
    } else if (WIFSTOPPED(st)) {
      s += "stopped by " + std::string(sigrelay::signal_name(WSTOPSIG(st)));
    } else {
      s += sigrelay::test::describe_status(st);
    }
  }
  return s;
}

std::string backend_name(const testing::TestParamInfo<backend>& p) {
  return p.param == backend::relay ? "relay" : "signalfd";
}

// =================================================================================================
// signal-hook-registry (src/lib.rs tests and the documented behaviour of register/unregister)
// =================================================================================================

// Peer: panic_forbidden (register(SIGILL) panics) and FORBIDDEN = SIGKILL, SIGSTOP, SIGILL, SIGFPE,
// SIGSEGV. Ours (registry.hpp, add_action Errors): std::errc::invalid_argument naming the signal,
// and "On any error nothing changed". Difference: SIGBUS, SIGTRAP and SIGSYS are refused too.
TEST(PeerSignalHookRegistry, ForbiddenSignalsAreRefusedNamedAndChangeNothing) {
  SIGRELAY_IN_CHILD([] {
    for (const int signo : {SIGKILL, SIGSTOP, SIGILL, SIGFPE, SIGSEGV, SIGBUS, SIGTRAP, SIGSYS}) {
      const auto before = snapshot();
      try {
        sigrelay::add_action(signo, action{nop_fn, nullptr});
        ADD_FAILURE() << sigrelay::signal_name(signo) << " was accepted";
      } catch (const std::system_error& e) {
        EXPECT_EQ(std::errc::invalid_argument, e.code()) << sigrelay::signal_name(signo);
        EXPECT_NE(std::string::npos, std::string(e.what()).find(std::string(sigrelay::signal_name(signo))))
            << e.what();
      }
      std::error_code ec;
      const action_id id = sigrelay::add_action(signo, action{nop_fn, nullptr}, {}, ec);
      EXPECT_EQ(std::errc::invalid_argument, ec) << sigrelay::signal_name(signo);
      EXPECT_FALSE(id);
      EXPECT_TRUE(sigrelay::test::same_state(before, snapshot())) << sigrelay::signal_name(signo);
    }
    // Numbers that name no signal (the peer leaves those to sigaction()'s EINVAL), and a null fn.
    const auto before = snapshot();
    for (const int signo : {0, -1, 32, 33, SIGRTMIN - 1, SIGRTMAX + 1, NSIG, 1000}) {
      if (signo > 0 && signo <= SIGRTMAX && !sigrelay::signal_name(signo).empty()) continue;
      std::error_code ec;
      EXPECT_FALSE(sigrelay::add_action(signo, action{nop_fn, nullptr}, {}, ec)) << signo;
      EXPECT_EQ(std::errc::invalid_argument, ec) << signo;
    }
    std::error_code ec;
    EXPECT_FALSE(sigrelay::add_action(SIGUSR1, action{nullptr, nullptr}, {}, ec));
    EXPECT_EQ(std::errc::invalid_argument, ec);
    EXPECT_TRUE(sigrelay::test::same_state(before, snapshot()));
  });
}

// Peer: forbidden_raw (register_signal_unchecked(SIGFPE, ...) works). Ours: allow_fault_signals.
// A raised (not a real) SIGFPE returns from the handler, so the action runs and the program goes
// on; SIGKILL and SIGSTOP stay refused even so.
TEST(PeerSignalHookRegistry, FaultSignalsAreAcceptedWhenAskedForLikeRegisterUnchecked) {
  SIGRELAY_IN_CHILD([] {
    static std::atomic<std::uint64_t> count{0};
    action_options opts;
    opts.allow_fault_signals = true;
    const action_id id = sigrelay::add_action(SIGFPE, sigrelay::relay::add_count(count), opts);
    ASSERT_TRUE(id);
    raise(SIGFPE);
    EXPECT_TRUE(eventually([] { return count.load() == 1; }));
    EXPECT_TRUE(sigrelay::remove_action(id));
    EXPECT_EQ(SIG_DFL, current_action(SIGFPE).sa_handler);
    for (const int signo : {SIGKILL, SIGSTOP}) {
      std::error_code ec;
      EXPECT_FALSE(sigrelay::add_action(signo, action{nop_fn, nullptr}, opts, ec));
      EXPECT_EQ(std::errc::invalid_argument, ec) << sigrelay::signal_name(signo);
    }
  });
}

// Peer: signal_without_pid (an action runs on raise()).
TEST(PeerSignalHookRegistry, ActionRunsOnRaise) {
  SIGRELAY_IN_CHILD([] {
    static std::atomic<bool> flag{false};
    const action_id id = sigrelay::add_action(SIGUSR2, sigrelay::relay::set_flag(flag));
    raise(SIGUSR2);
    EXPECT_TRUE(eventually([] { return flag.load(); }));
    sigrelay::remove_action(id);
  });
}

// Peer: signal_with_pid (register_sigaction's siginfo carries the sender's pid: raise() from self).
// Also kill() and sigqueue() from self, and kill() from another process.
std::atomic<pid_t> g_seen_pid{0};
std::atomic<int> g_seen_code{1000};
void remember_sender(void*, const siginfo_t& info) noexcept {
  g_seen_code.store(info.si_code);
  g_seen_pid.store(info.si_pid);
}
TEST(PeerSignalHookRegistry, ActionSeesTheSendersPid) {
  SIGRELAY_IN_CHILD([] {
    const action_id id = sigrelay::add_action(SIGUSR2, action{remember_sender, nullptr});
    const pid_t me = getpid();
    for (const sigrelay::test::sender how :
         {sigrelay::test::sender::kill, sigrelay::test::sender::sigqueue, sigrelay::test::sender::tgkill}) {
      g_seen_pid.store(0);
      ASSERT_EQ(0, sigrelay::test::send_signal(how, me, SIGUSR2));
      EXPECT_TRUE(eventually([] { return g_seen_pid.load() != 0; })) << sigrelay::test::sender_name(how);
      EXPECT_EQ(me, g_seen_pid.load()) << sigrelay::test::sender_name(how);
    }
    g_seen_pid.store(0);
    raise(SIGUSR2);
    EXPECT_TRUE(eventually([] { return g_seen_pid.load() != 0; }));
    EXPECT_EQ(me, g_seen_pid.load());
    EXPECT_EQ(SI_TKILL, g_seen_code.load());

    g_seen_pid.store(0);
    const pid_t other = fork();
    if (other == 0) _exit(kill(me, SIGUSR2) == 0 ? 0 : 1);
    EXPECT_TRUE(exited_with(wait_with_deadline(other, 10), 0));
    EXPECT_TRUE(eventually([] { return g_seen_pid.load() != 0; }));
    EXPECT_EQ(other, g_seen_pid.load());
    EXPECT_EQ(SI_USER, g_seen_code.load());
    sigrelay::remove_action(id);
  });
}

// Peer: register_unregister (unregister() is true once, then false). Ours: remove_action() the same;
// a default-constructed id identifies nothing.
TEST(PeerSignalHookRegistry, RemoveTellsWhetherItRemoved) {
  SIGRELAY_IN_CHILD([] {
    const action_id id = sigrelay::add_action(SIGUSR1, action{nop_fn, nullptr});
    ASSERT_TRUE(id);
    EXPECT_TRUE(sigrelay::remove_action(id));
    EXPECT_FALSE(sigrelay::remove_action(id));
    EXPECT_FALSE(sigrelay::remove_action(action_id{}));
  });
}

// Peer (register docs): "If multiple actions are set for the same signal, all are called, in the
// order of registration"; "If there was a previous signal handler ... it is chained ... before any
// actions set through this function." Ours: the same (add_action: "after any previously installed
// handler and after the actions added before it").
void previous_handler(int, siginfo_t*, void*) { log_mark(100); }
TEST(PeerSignalHookRegistry, PreviousHandlerFirstThenActionsInOrderOfAdding) {
  SIGRELAY_IN_CHILD([] {
    struct sigaction sa {};
    sa.sa_sigaction = previous_handler;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    ASSERT_EQ(0, sigaction(SIGUSR1, &sa, nullptr));
    const action_id a = sigrelay::add_action(SIGUSR1, mark_action(1));
    const action_id b = sigrelay::add_action(SIGUSR1, mark_action(2));
    const action_id c = sigrelay::add_action(SIGUSR1, mark_action(3));
    raise(SIGUSR1);
    EXPECT_TRUE(eventually([] { return g_log_n.load() >= 4; }));
    EXPECT_EQ((std::vector<int>{100, 1, 2, 3}), log_marks());
    // Removing the middle one keeps the order of the others.
    g_log_n.store(0);
    sigrelay::remove_action(b);
    raise(SIGUSR1);
    EXPECT_TRUE(eventually([] { return g_log_n.load() >= 3; }));
    EXPECT_EQ((std::vector<int>{100, 1, 3}), log_marks());
    sigrelay::remove_action(a);
    sigrelay::remove_action(c);
    // Difference: the peer keeps its handler after the last unregister; ours gives the previous
    // handler back, exactly.
    const struct sigaction now = current_action(SIGUSR1);
    EXPECT_EQ(reinterpret_cast<void*>(previous_handler), reinterpret_cast<void*>(now.sa_sigaction));
    EXPECT_NE(0, now.sa_flags & SA_SIGINFO);
  });
}

// Peer: flag.rs register_unregister (the flag is set on a signal, and no longer after unregister).
// Difference (signal-hook issues #23 and #102, "unregister does not restore the default handler"):
// ours restores SIG_DFL when the last action goes, so the next SIGUSR1 kills as it did before.
TEST(PeerSignalHookRegistry, RemovedFlagStopsAndTheDefaultActionComesBack) {
  const int status = run_in_child([] {
    static std::atomic<bool> flag{false};
    const action_id id = sigrelay::add_action(SIGUSR1, sigrelay::relay::set_flag(flag));
    raise(SIGUSR1);
    ASSERT_TRUE(eventually([] { return flag.load(); }));
    ASSERT_TRUE(sigrelay::remove_action(id));
    flag.store(false);
    ASSERT_EQ(SIG_DFL, current_action(SIGUSR1).sa_handler);
    raise(SIGUSR1);  // kills
    for (int i = 0; i < 100; ++i) usleep(1000);
    ADD_FAILURE() << "survived SIGUSR1 after the last action was removed; flag " << flag.load();
  });
  EXPECT_TRUE(killed_by(status, SIGUSR1));
}

// Issue #23/#102 again, for an inherited SIG_IGN (nohup): the last remove_action() restores it.
TEST(PeerSignalHookRegistry, LastRemoveRestoresAnInheritedIgnore) {
  SIGRELAY_IN_CHILD([] {
    signal(SIGHUP, SIG_IGN);
    static std::atomic<bool> flag{false};
    const action_id id = sigrelay::add_action(SIGHUP, sigrelay::relay::set_flag(flag));
    raise(SIGHUP);
    EXPECT_TRUE(eventually([] { return flag.load(); }));
    sigrelay::remove_action(id);
    EXPECT_EQ(SIG_IGN, current_action(SIGHUP).sa_handler);
    raise(SIGHUP);  // ignored again
  });
}

// Peer: the registry installs its handler with SA_RESTART. Ours: "SA_RESTART unless asked otherwise",
// and "A signal keeps SA_RESTART only while every one of its actions asks for it". A read() that the
// signal interrupts is restarted (it returns the byte written after the handler ran), or fails with
// EINTR when an action asked for restart = false; once that action is gone, SA_RESTART is back.
std::atomic<bool> g_restart_seen{false};
void note_delivery(void*, const siginfo_t&) noexcept { g_restart_seen.store(true); }

// Blocks in read() on a pipe while another thread, once this thread sleeps in it, sends SIGUSR1 to
// this thread and, after the action ran, writes one byte. Returns what read() returned (-1: errno).
ssize_t read_interrupted_by_sigusr1(int& err) {
  int p[2];
  if (pipe(p) != 0) return -2;
  g_restart_seen.store(false);
  const pid_t reader = this_tid();
  std::thread sender([&] {
    sigrelay::test::wait_until_asleep(getpid(), reader, 5s);
    syscall(SYS_tgkill, getpid(), reader, SIGUSR1);
    eventually([] { return g_restart_seen.load(); });
    write_byte(p[1], 'x');
  });
  char c = 0;
  const ssize_t r = read(p[0], &c, 1);
  err = errno;
  sender.join();
  close(p[0]);
  close(p[1]);
  return r;
}

TEST(PeerSignalHookRegistry, SaRestartWhileEveryActionAsksForIt) {
  SIGRELAY_IN_CHILD([] {
    const action_id a = sigrelay::add_action(SIGUSR1, action{note_delivery, nullptr});
    EXPECT_NE(0, current_action(SIGUSR1).sa_flags & SA_RESTART);
    int err = 0;
    EXPECT_EQ(1, read_interrupted_by_sigusr1(err)) << "errno " << err;

    action_options no_restart;
    no_restart.restart = false;
    const action_id b = sigrelay::add_action(SIGUSR1, action{nop_fn, nullptr}, no_restart);
    EXPECT_EQ(0, current_action(SIGUSR1).sa_flags & SA_RESTART);
    if (!sigrelay::test::kUnderTsan) {  // its interceptors restart the read() themselves
      EXPECT_EQ(-1, read_interrupted_by_sigusr1(err));
      EXPECT_EQ(EINTR, err);
    }
    sigrelay::remove_action(b);
    EXPECT_NE(0, current_action(SIGUSR1).sa_flags & SA_RESTART) << "SA_RESTART did not come back";
    EXPECT_EQ(1, read_interrupted_by_sigusr1(err)) << "errno " << err;
    sigrelay::remove_action(a);
  });
}

// =================================================================================================
// signal-hook flag.rs and tests/shutdown.rs: conditional shutdown, conditional default
// =================================================================================================

// The shape of tests/shutdown.rs: the child sets up its handling, says it is ready; the parent sends
// SIGTERM; the child survives it (and says so once it has seen it); a second SIGTERM ends it.
// Here the child reports "armed" through a pipe instead of the peer's sleeps.
int double_sigterm(const std::function<void(int report_fd)>& setup) {
  int p[2];
  EXPECT_EQ(0, pipe(p));
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    close(p[0]);
    sigrelay::test::reset_signal_state();
    alarm(20);
    setup(p[1]);  // writes 'R' when ready, 'A' once the first SIGTERM was seen
    for (;;) pause();
  }
  close(p[1]);
  EXPECT_EQ('R', read_byte(p[0])) << "child not ready";
  // ThreadSanitizer loses a signal that arrives as a thread enters a blocking call (README,
  // "Caveats"): send each one once the child sleeps.
  sigrelay::test::wait_until_asleep(pid, pid, 2s);
  kill(pid, SIGTERM);
  EXPECT_EQ('A', read_byte(p[0])) << "child did not survive (or see) the first SIGTERM";
  int status = 0;
  EXPECT_EQ(0, waitpid(pid, &status, WNOHANG)) << "ended after the first SIGTERM";
  sigrelay::test::wait_until_asleep(pid, pid, 2s);
  kill(pid, SIGTERM);
  status = wait_with_deadline(pid, 20);
  close(p[0]);
  return status;
}

std::atomic<bool> g_armed{false};

// Peer: cleanup_inside_signal / cleanup_inside_signal_static: a nop action, then
// register_conditional_shutdown(SIGTERM, 0, flag), then flag::register(SIGTERM, flag). Difference:
// the peer's second SIGTERM makes the child _exit(0); ours dies by SIGTERM (die_if_set), so the
// parent sees WIFSIGNALED.
TEST(PeerSignalHookFlag, ConditionalShutdownSecondSigtermKillsBySigterm) {
  const int status = double_sigterm([](int report) {
    sigrelay::add_action(SIGTERM, action{nop_fn, nullptr});
    sigrelay::add_action(SIGTERM, sigrelay::relay::die_if_set(g_armed));
    sigrelay::add_action(SIGTERM, sigrelay::relay::set_flag(g_armed));
    write_byte(report, 'R');
    while (!g_armed.load()) usleep(1000);
    write_byte(report, 'A');
  });
  EXPECT_TRUE(killed_by(status, SIGTERM));
}

// Peer: cleanup_after_signal: the iterator takes the first SIGTERM; then a conditional shutdown
// whose flag is already true is registered (and the iterator dropped); the second SIGTERM ends it.
TEST(PeerSignalHookFlag, ConditionalShutdownAddedAfterTheIteratorTookTheFirstSigterm) {
  const int status = double_sigterm([](int report) {
    static std::atomic<bool> always{true};
    {
      signals sigs{SIGTERM};
      write_byte(report, 'R');
      int got = 0;
      for (const signal_event& e : sigs) {
        got = e.signo;
        break;
      }
      if (got != SIGTERM) _exit(3);
      sigrelay::add_action(SIGTERM, sigrelay::relay::die_if_set(always));
    }  // the iterator's object goes; the shutdown action stays
    write_byte(report, 'A');
  });
  EXPECT_TRUE(killed_by(status, SIGTERM));
}

// Peer: the older tests/cleanup.rs cleanup_after_signal (take the first SIGTERM from the iterator,
// then cleanup_signal(SIGTERM) puts SIG_DFL back so the second one kills). Ours needs no cleanup
// call: destroying the last subscriber restores the disposition from before (SIG_DFL).
TEST(PeerSignalHookFlag, DestroyingTheLastSubscriberLetsTheSecondSigtermKill) {
  const int status = double_sigterm([](int report) {
    {
      signals sigs{SIGTERM};
      write_byte(report, 'R');
      const std::vector<signal_event> got = sigs.wait();
      if (total(got, SIGTERM) != 1) _exit(3);
    }
    if (current_action(SIGTERM).sa_handler != SIG_DFL) _exit(4);
    write_byte(report, 'A');
  });
  EXPECT_TRUE(killed_by(status, SIGTERM));
}

// The same with sigrelay::termination, the packaged form (termination.hpp: "The first signal
// requests a stop; the second one ends the process at once, by that signal").
#if defined(SIGRELAY_HAS_TERMINATION)
TEST(PeerSignalHookFlag, TerminationFirstSigtermStopsSecondKills) {
  const int status = double_sigterm([](int report) {
    static sigrelay::termination* term = new sigrelay::termination();  // lives until the end
    write_byte(report, 'R');
    while (!term->stop_requested()) usleep(1000);
    if (term->signal() != SIGTERM) _exit(3);
    write_byte(report, 'A');
  });
  EXPECT_TRUE(killed_by(status, SIGTERM));
}
#endif

// Peer: register_conditional_default, and issue #97 ("emulate_default_handler always seems to abort
// on Linux": called inside the handler, where the signal is blocked, it aborted with SIGABRT instead
// of dying by SIGINT). The program of the issue: a flag on SIGINT, wait for it, unregister, register
// the conditional default with that (set) flag; the second SIGINT must kill by SIGINT.
TEST(PeerSignalHookFlag, ConditionalDefaultKillsBySigintNotSigabrt) {
  int p[2];
  ASSERT_EQ(0, pipe(p));
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    close(p[0]);
    sigrelay::test::reset_signal_state();
    alarm(20);
    static std::atomic<bool> flag{false};
    const action_id id = sigrelay::add_action(SIGINT, sigrelay::relay::set_flag(flag));
    write_byte(p[1], 'R');
    while (!flag.load()) usleep(1000);
    sigrelay::remove_action(id);
    sigrelay::add_action(SIGINT, sigrelay::relay::default_if_set(flag));
    write_byte(p[1], 'A');
    for (;;) pause();
  }
  close(p[1]);
  ASSERT_EQ('R', read_byte(p[0]));
  sigrelay::test::wait_until_asleep(pid, pid, 2s);  // see double_sigterm()
  kill(pid, SIGINT);
  ASSERT_EQ('A', read_byte(p[0]));
  sigrelay::test::wait_until_asleep(pid, pid, 2s);
  kill(pid, SIGINT);
  EXPECT_TRUE(killed_by(wait_with_deadline(pid, 20), SIGINT));
  close(p[0]);
}

// register_conditional_default with a stop signal (relays.hpp, default_if_set: "a stop signal stops
// the process (and the program goes on once continued: the flag stays set, so each later delivery
// stops it again)"). Difference: the peer stops by SIGSTOP; ours by SIGTSTP itself (WSTOPSIG).
TEST(PeerSignalHookFlag, ConditionalDefaultOfSigtstpStopsEachTimeOnceArmed) {
  const std::vector<int> st = statuses_of([] {
    static std::atomic<bool> flag{false};
    sigrelay::add_action(SIGTSTP, sigrelay::relay::default_if_set(flag));
    sigrelay::add_action(SIGTSTP, sigrelay::relay::set_flag(flag));
    raise(SIGTSTP);  // arms
    if (!eventually([] { return flag.load(); })) _exit(4);
    raise(SIGTSTP);  // stops
    raise(SIGTSTP);  // stops again
    flag.store(false);
    raise(SIGTSTP);  // arms again, no stop
    for (int i = 0; i < 20; ++i) usleep(1000);
    _exit(flag.load() ? 0 : 5);
  });
  ASSERT_EQ(3U, st.size()) << describe_statuses(st);
  EXPECT_TRUE(WIFSTOPPED(st[0]) && WSTOPSIG(st[0]) == SIGTSTP) << describe_statuses(st);
  EXPECT_TRUE(WIFSTOPPED(st[1]) && WSTOPSIG(st[1]) == SIGTSTP) << describe_statuses(st);
  EXPECT_TRUE(exited_with(st[2], 0)) << describe_statuses(st);
}

// =================================================================================================
// signal-hook low_level: emulate_default_handler, signal_name
// =================================================================================================

// Peer: emulate_default_handler "does its best to provide the same action as the default handler
// would do". Ours (emulate_default): "Does what the kernel would do for `signo` with no handler".
// Checked against the kernel itself, signal by signal: one child raises the signal at SIG_DFL, the
// other raises it with relay::default_action() as its only action; both must report the same
// statuses (killed by it, stopped by it then continued, or nothing). Differences from the peer's
// table: SIGIO terminates (as the kernel's default does; the peer says "ignore"), and stop signals
// stop by themselves, not by SIGSTOP.
TEST(PeerSignalHookLowLevel, EmulateDefaultFromAnActionDoesWhatTheKernelDoes) {
  for (int signo = 1; signo <= SIGRTMAX; ++signo) {
    if (signo == SIGKILL || signo == SIGSTOP || sigrelay::signal_name(signo).empty()) continue;
    const std::vector<int> kernel = statuses_of([signo] { raise(signo); });
    const std::vector<int> ours = statuses_of([signo] {
      action_options opts;
      opts.allow_fault_signals = true;
      std::error_code ec;
      sigrelay::add_action(signo, sigrelay::relay::default_action(), opts, ec);
      if (ec) _exit(99);
      raise(signo);
    });
    EXPECT_EQ(describe_statuses(kernel), describe_statuses(ours)) << sigrelay::signal_name(signo);
  }
}

// The same from ordinary code (emulate_default "may be called from an action ... or from ordinary
// code"), with the signal blocked by the program (issue #97's root cause: a blocked signal is not
// delivered, so the peer fell back to abort()), and for SIGKILL and SIGSTOP too.
TEST(PeerSignalHookLowLevel, EmulateDefaultFromOrdinaryCodeWithTheSignalBlocked) {
  for (int signo = 1; signo <= SIGRTMAX; ++signo) {
    if (sigrelay::signal_name(signo).empty()) continue;
    const std::vector<int> kernel = statuses_of([signo] { raise(signo); });
    const std::vector<int> ours = statuses_of([signo] {
      if (signo != SIGKILL && signo != SIGSTOP) set_blocked(signo, true);
      errno = EDOM;
      sigrelay::relay::emulate_default(signo);
      if (errno != EDOM) _exit(97);  // "errno is preserved"
      if (signo != SIGKILL && signo != SIGSTOP) {
        sigset_t m;
        pthread_sigmask(SIG_BLOCK, nullptr, &m);
        if (sigismember(&m, signo) != 1) _exit(98);  // the program's block must be back
      }
    });
    EXPECT_EQ(describe_statuses(kernel), describe_statuses(ours)) << sigrelay::signal_name(signo);
  }
}

// Peer: emulate_default_handler returns EINVAL for a signal it does not know. Ours: a number that
// names no signal does nothing (0, negative, reserved by the C library, NSIG and above) and errno is
// preserved.
TEST(PeerSignalHookLowLevel, EmulateDefaultOfANonSignalDoesNothingAndKeepsErrno) {
  SIGRELAY_IN_CHILD([] {
    for (const int signo : {0, -1, -SIGTERM, 32, 33, SIGRTMIN - 1, NSIG, NSIG + 1, 128, 200}) {
      if (signo > 0 && signo < NSIG && !sigrelay::signal_name(signo).empty()) continue;
      errno = EDOM;
      sigrelay::relay::emulate_default(signo);
      EXPECT_EQ(EDOM, errno) << signo;
    }
  });
}

// Peer: signal_details tests existing (SIGTERM's name), unknown (128 has none), and the doc example
// (signal_name(9) is SIGKILL, 142 has none).
TEST(PeerSignalHookLowLevel, SignalNames) {
  EXPECT_EQ("SIGTERM", sigrelay::signal_name(SIGTERM));
  EXPECT_EQ("SIGKILL", sigrelay::signal_name(9));
  EXPECT_EQ("", sigrelay::signal_name(128));
  EXPECT_EQ("", sigrelay::signal_name(142));
  EXPECT_NE(nullptr, sigrelay::signal_name(142).data());
  EXPECT_EQ(SIGTERM, sigrelay::signal_number("SIGTERM"));
}

// =================================================================================================
// signal-hook low_level::pipe (register_with_socket, register_dgram_socket, register_with_pipe)
// =================================================================================================

std::uint64_t read_count(int fd) {
  std::uint64_t v = 0;
  ssize_t r;
  while ((r = read(fd, &v, sizeof v)) < 0 && errno == EINTR) {
  }
  return r == static_cast<ssize_t>(sizeof v) ? v : ~std::uint64_t{0};
}

// Peer: register_with_socket (a UnixStream pair; raise; the read end gets the byte). Difference: ours
// writes an 8-byte count of 1, and needs the write end non-blocking.
TEST(PeerSignalHookPipe, StreamSocketIsWoken) {
  SIGRELAY_IN_CHILD([] {
    int sv[2];
    ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv));
    sigrelay::relay::fd_relay relay(sv[1]);
    const action_id id = sigrelay::add_action(SIGUSR1, relay.get());
    raise(SIGUSR1);
    ASSERT_TRUE(readable(sv[0], 10000));
    EXPECT_EQ(1U, read_count(sv[0]));
    sigrelay::remove_action(id);
    close(sv[0]);
    close(sv[1]);
  });
}

// Peer: register_dgram_socket. One datagram of 8 bytes per delivery, nothing else (the peer's
// probe may send an empty datagram first; ours sends none).
TEST(PeerSignalHookPipe, DatagramSocketGetsOneDatagramPerDelivery) {
  SIGRELAY_IN_CHILD([] {
    int sv[2];
    ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, sv));
    sigrelay::relay::fd_relay relay(sv[1]);
    const action_id id = sigrelay::add_action(SIGUSR1, relay.get());
    EXPECT_FALSE(readable(sv[0])) << "something was sent before any signal";
    raise(SIGUSR1);
    raise(SIGUSR1);
    for (int i = 0; i < 2; ++i) {
      ASSERT_TRUE(readable(sv[0], 10000));
      std::uint64_t v = 0;
      EXPECT_EQ(static_cast<ssize_t>(sizeof v), recv(sv[0], &v, sizeof v + 8, 0));
      EXPECT_EQ(1U, v);
    }
    EXPECT_FALSE(readable(sv[0]));
    sigrelay::remove_action(id);
    close(sv[0]);
    close(sv[1]);
  });
}

// Peer: register_with_pipe.
TEST(PeerSignalHookPipe, PipeIsWoken) {
  SIGRELAY_IN_CHILD([] {
    int p[2];
    ASSERT_EQ(0, pipe2(p, O_NONBLOCK));
    sigrelay::relay::fd_relay relay(p[1]);
    const action_id id = sigrelay::add_action(SIGUSR1, relay.get());
    raise(SIGUSR1);
    ASSERT_TRUE(readable(p[0], 10000));
    EXPECT_EQ(1U, read_count(p[0]));
    sigrelay::remove_action(id);
    close(p[0]);
    close(p[1]);
  });
}

// Peer: register_raw sets O_NONBLOCK on a pipe itself and sends to a socket with MSG_DONTWAIT, so a
// blocking fd is fine there. Difference: fd_relay refuses a blocking fd (std::errc::invalid_argument)
// and changes nothing of it (its flags stay as they were).
TEST(PeerSignalHookPipe, BlockingFdsAreRefusedAndLeftAlone) {
  int p[2];
  ASSERT_EQ(0, pipe(p));
  int sv[2];
  ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
  for (const int fd : {p[1], sv[1]}) {
    const int before = fcntl(fd, F_GETFL);
    std::error_code ec;
    sigrelay::relay::fd_relay relay(fd, ec);
    EXPECT_EQ(std::errc::invalid_argument, ec) << fd;
    EXPECT_THROW(sigrelay::relay::fd_relay{fd}, std::system_error);
    EXPECT_EQ(before, fcntl(fd, F_GETFL));
  }
  for (const int fd : {p[0], p[1], sv[0], sv[1]}) close(fd);
}

// Peer (pipe.rs, "Write collating"): "it is possible the write end is full when a signal comes. In
// such case the signal handler simply does nothing. If the write end is full, the read end is
// readable and therefore will wake up." Ours: "a full pipe ... never blocks the handler".
TEST(PeerSignalHookPipe, FullPipeNeverBlocksTheHandlerAndStaysReadable) {
  SIGRELAY_IN_CHILD([] {
    int p[2];
    ASSERT_EQ(0, pipe2(p, O_NONBLOCK));
    const char junk[512] = {};
    while (write(p[1], junk, sizeof junk) > 0) {
    }
    ASSERT_EQ(EAGAIN, errno);
    static std::atomic<std::uint64_t> after{0};
    sigrelay::relay::fd_relay relay(p[1]);
    const action_id a = sigrelay::add_action(SIGUSR1, relay.get());
    const action_id b = sigrelay::add_action(SIGUSR1, sigrelay::relay::add_count(after));
    for (int i = 0; i < 20; ++i) raise(SIGUSR1);
    EXPECT_TRUE(eventually([] { return after.load() == 20; })) << after.load();
    EXPECT_TRUE(readable(p[0]));
    sigrelay::remove_action(a);
    sigrelay::remove_action(b);
    close(p[0]);
    close(p[1]);
  });
}

// Peer (pipe.rs): writes coalesce when the reader is slow. Ours (wakeup_fd::drain): "Number of
// wake-ups since the last drain (0 if none); makes the fd unreadable."
TEST(PeerSignalHookPipe, WakeupFdCountsDeliveriesSinceTheLastDrain) {
  SIGRELAY_IN_CHILD([] {
    sigrelay::relay::wakeup_fd wake;
    static std::atomic<std::uint64_t> seen{0};
    const action_id a = sigrelay::add_action(SIGUSR1, wake.get());
    const action_id b = sigrelay::add_action(SIGUSR1, sigrelay::relay::add_count(seen));
    EXPECT_EQ(0U, wake.drain());
    for (int i = 0; i < 3; ++i) raise(SIGUSR1);
    ASSERT_TRUE(eventually([] { return seen.load() == 3; }));
    EXPECT_TRUE(readable(wake.native_handle()));
    EXPECT_EQ(3U, wake.drain());
    EXPECT_FALSE(readable(wake.native_handle()));
    EXPECT_EQ(0U, wake.drain());
    sigrelay::remove_action(a);
    sigrelay::remove_action(b);
  });
}

// =================================================================================================
// signal-hook tests/iterator.rs (and the old clone-based signals_close_forever), on both backends
// =================================================================================================

class PeerSignalHookIterator : public testing::TestWithParam<backend> {
 protected:
  void SetUp() override {
    if (GetParam() == backend::signalfd) SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the signalfd backend");
  }
  backend kind() const { return GetParam(); }
};

INSTANTIATE_TEST_SUITE_P(Backends, PeerSignalHookIterator, testing::Values(backend::relay, backend::signalfd),
                         backend_name);

// Peer: forever_terminates_when_closed (an iterating thread, closed by the handle from another).
TEST_P(PeerSignalHookIterator, ForeverTerminatesWhenClosed) {
  const backend k = kind();
  SIGRELAY_IN_CHILD([k] {
    std::atomic<bool> stopped{false};
    std::atomic<pid_t> tid{0};
    signals::handle h;
    std::atomic<bool> have_handle{false};
    std::thread consumer([&] {
      signals sigs({SIGUSR2}, k);  // constructed on the consuming thread (signalfd: its block)
      h = sigs.get_handle();
      tid.store(this_tid());
      have_handle.store(true);
      for (const signal_event& e : sigs) static_cast<void>(e);
      stopped.store(true);
    });
    ASSERT_TRUE(eventually([&] { return have_handle.load(); }));
    sigrelay::test::wait_until_asleep(getpid(), tid.load(), 2s);
    EXPECT_FALSE(stopped.load()) << "the loop ended by itself";
    EXPECT_FALSE(h.is_closed());
    h.close();
    consumer.join();
    EXPECT_TRUE(stopped.load());
    EXPECT_TRUE(h.is_closed());
  });
}

// Peer: signals_block_wait (reproducer of its issue #16: wait() must block, not return at once).
// Ten waits with nothing sent would return at once if broken; here one wait() is asleep, and then
// the SIGUSR2 sent ends it with that signal.
TEST_P(PeerSignalHookIterator, WaitBlocksUntilASignal) {
  const backend k = kind();
  SIGRELAY_IN_CHILD([k] {
    signals sigs({SIGUSR2}, k);
    const pid_t me = this_tid();
    std::atomic<bool> done{false};
    std::thread sender([&] {
      set_blocked(SIGUSR2, true);  // the consumer takes it
      sigrelay::test::wait_until_asleep(getpid(), me, 5s);
      EXPECT_FALSE(done.load()) << "wait() returned with nothing sent";
      kill(getpid(), SIGUSR2);
    });
    const std::vector<signal_event> got = sigs.wait();
    done.store(true);
    sender.join();
    EXPECT_EQ(1U, total(got, SIGUSR2));
  });
}

// Peer: SignalDelivery::get_read ("register the underlying file descriptor with an eventing system
// (e.g. epoll) ... If the event system reports the file descriptor ready for reading you can then
// call pending"), and the mio/tokio adapters' tests (raise, the poll wakes, the signal is there).
// Ours: native_handle() then pending(); after the drain the fd is quiet again.
TEST_P(PeerSignalHookIterator, PollTheNativeHandleThenPending) {
  const backend k = kind();
  SIGRELAY_IN_CHILD([k] {
    signals sigs({SIGUSR1, SIGUSR2}, k);
    const int fd = sigs.native_handle();
    ASSERT_GE(fd, 0);
    EXPECT_FALSE(readable(fd));
    for (int round = 0; round < 3; ++round) {
      const int signo = round % 2 == 0 ? SIGUSR1 : SIGUSR2;
      raise(signo);
      ASSERT_TRUE(readable(fd, 10000)) << round;
      const std::vector<signal_event> got = sigs.pending();
      ASSERT_EQ(1U, got.size()) << round;
      EXPECT_EQ(signo, got[0].signo);
      EXPECT_FALSE(readable(fd)) << "still readable after the drain, round " << round;
      EXPECT_TRUE(sigs.pending().empty());
    }
  });
}

// Peer: forever().take(1), into_iter().next() (tests/shutdown.rs cleanup_after_signal): taking one
// signal and leaving the loop. The peer's iterator reads each signal's slot lazily, so the signals
// it did not yield stay pending for the next pending()/wait(). Ours (signals.hpp: "Nothing is lost";
// the iterator "yields events one at a time"): leaving a range-for after the first event must not
// throw away the rest of the batch it took; the next loop, pending() or wait() hands them out.
TEST_P(PeerSignalHookIterator, LeavingTheLoopEarlyLosesNothing) {
  const backend k = kind();
  SIGRELAY_IN_CHILD([k] {
    signals sigs({SIGUSR1, SIGUSR2, SIGHUP, SIGRTMIN}, k);
    raise(SIGUSR1);
    raise(SIGUSR2);
    raise(SIGHUP);
    // ThreadSanitizer keeps one pending siginfo per signal number: it merges same-number realtime
    // signals sent before its deferred handler runs.
    const int rt = sigrelay::test::kUnderTsan ? 1 : 3;
    union sigval v {};
    for (int i = 1; i <= rt; ++i) {
      v.sival_int = i;
      ASSERT_EQ(0, sigqueue(getpid(), SIGRTMIN, v));
    }
    ASSERT_TRUE(eventually([&] { return readable(sigs.native_handle()); }));
    for (int i = 0; i < 50; ++i) usleep(1000);  // every delivery recorded (or queued) by now

    // A broken iterator would leave nothing for the second loop, which would then wait for ever: a
    // watchdog thread closes the object after 5 s, so the loss is reported rather than hung on.
    std::atomic<bool> done{false};
    signals::handle h = sigs.get_handle();
    std::thread watchdog([&] {
      eventually([&] { return done.load(); }, 5s);
      h.close();
    });
    std::vector<int> seen;
    std::vector<int> values;
    auto note = [&](const signal_event& e) {
      seen.push_back(e.signo);
      if (e.signo == SIGRTMIN) values.push_back(e.last.value.sival_int);
    };
    for (const signal_event& e : sigs) {  // one event, then leave
      note(e);
      break;
    }
    for (const signal_event& e : sigs) {  // and another
      note(e);
      break;
    }
    for (const signal_event& e : sigs.pending()) note(e);
    for (const signal_event& e : sigs.wait_for(0s)) note(e);
    for (const signal_event& e : sigs.pending()) note(e);
    done.store(true);
    watchdog.join();
    EXPECT_EQ(3U + static_cast<unsigned>(rt), seen.size());
    EXPECT_EQ(1, std::count(seen.begin(), seen.end(), SIGUSR1));
    EXPECT_EQ(1, std::count(seen.begin(), seen.end(), SIGUSR2));
    EXPECT_EQ(1, std::count(seen.begin(), seen.end(), SIGHUP));
    EXPECT_EQ(rt == 3 ? (std::vector<int>{1, 2, 3}) : (std::vector<int>{1}), values);
  });
}

// The batch a loop left behind belongs to the object, and signals.hpp, Fork: "After fork(), the
// child's copy of an object is dead ... pending() and wait*() return nothing at once": the child's
// copy neither yields nor hands out the parent's leftovers; the parent still gets them.
TEST_P(PeerSignalHookIterator, LeftoversOfALoopStayWithTheParentAcrossFork) {
  const backend k = kind();
  SIGRELAY_IN_CHILD([k] {
    signals sigs({SIGUSR1, SIGUSR2}, k);
    raise(SIGUSR1);
    raise(SIGUSR2);
    ASSERT_TRUE(eventually([&] { return readable(sigs.native_handle()); }));
    for (int i = 0; i < 20; ++i) usleep(1000);
    int first = 0;
    for (const signal_event& e : sigs) {
      first = e.signo;
      break;
    }
    ASSERT_EQ(SIGUSR1, first);
    const pid_t kid = fork();
    if (kid == 0) {
      int n = 0;
      for (const signal_event& e : sigs) n += e.signo;  // ends at once, yields nothing
      _exit(n == 0 && sigs.pending().empty() && sigs.wait_for(0s).empty() ? 0 : 1);
    }
    EXPECT_TRUE(exited_with(wait_with_deadline(kid, 20), 0));
    const std::vector<signal_event> rest = sigs.pending();
    ASSERT_EQ(1U, rest.size());
    EXPECT_EQ(SIGUSR2, rest[0].signo);
  });
}

// The peer's WithOrigin hands each origin over through a channel; ours keeps the latest origin of a
// signal in a slot that "a reader can copy consistently" (DESIGN.md, signals). Two sender processes
// flood SIGUSR1 with sigqueue(), each with its own pid as the value, while handlers run on three
// threads at once and the consumer drains: every event's origin must be one sender's whole (pid ==
// value), never a mix of two.
TEST_P(PeerSignalHookIterator, LatestOriginIsNeverAMixOfTwoSenders) {
  const backend k = kind();
  SIGRELAY_IN_CHILD(
      [k] {
        // The handler threads come first: on the signalfd backend they then do not inherit the
        // block, so deliveries reach the object both through their handlers and the signalfd.
        std::atomic<bool> stop{false};
        std::vector<std::thread> handlers;
        for (int i = 0; i < 3; ++i) {
          handlers.emplace_back([&] {
            while (!stop.load()) usleep(100);
          });
        }
        signals sigs({SIGUSR1}, k);
        const pid_t me = getpid();
        pid_t senders[2];
        for (pid_t& p : senders) {
          p = fork();
          if (p == 0) {
            union sigval v {};
            v.sival_int = static_cast<int>(getpid());
            for (int i = 0; i < 3000; ++i) {
              if (sigqueue(me, SIGUSR1, v) != 0 && errno != EAGAIN) _exit(2);
              if (i % 64 == 0) sched_yield();
            }
            _exit(0);
          }
        }
        int alive = 2;
        std::uint64_t events = 0;
        int mixed = 0;
        auto check = [&](const std::vector<signal_event>& got) {
          for (const signal_event& e : got) {
            ++events;
            if (e.last.kind != origin_kind::queue || e.last.pid != e.last.value.sival_int ||
                (e.last.pid != senders[0] && e.last.pid != senders[1])) {
              if (++mixed <= 5) ADD_FAILURE() << "inconsistent origin: " << to_string(e.last);
            }
          }
        };
        while (alive > 0) {
          check(sigs.wait_for(20ms));
          alive = 0;
          for (const pid_t p : senders) {
            int st = 0;
            if (p > 0 && waitpid(p, &st, WNOHANG) == 0) ++alive;
          }
        }
        check(sigs.wait_for(100ms));
        check(sigs.pending());
        stop.store(true);
        for (std::thread& t : handlers) t.join();
        EXPECT_EQ(0, mixed);
        EXPECT_GT(events, 0U);
      },
      120);
}

// Peer: pending_doesnt_block.
TEST_P(PeerSignalHookIterator, PendingDoesNotBlock) {
  const backend k = kind();
  SIGRELAY_IN_CHILD([k] {
    signals sigs({SIGUSR2}, k);
    EXPECT_TRUE(sigs.pending().empty());
  });
}

// Peer: wait_returns_recieved_signals.
TEST_P(PeerSignalHookIterator, WaitReturnsReceivedSignals) {
  const backend k = kind();
  SIGRELAY_IN_CHILD([k] {
    signals sigs({SIGUSR2}, k);
    raise(SIGUSR2);
    const std::vector<signal_event> got = sigs.wait();
    ASSERT_EQ(1U, got.size());
    EXPECT_EQ(SIGUSR2, got[0].signo);
    EXPECT_EQ(1U, got[0].count);
  });
}

// Peer: forever_returns_recieved_signals (forever().take(1)).
TEST_P(PeerSignalHookIterator, ForeverReturnsReceivedSignals) {
  const backend k = kind();
  SIGRELAY_IN_CHILD([k] {
    signals sigs({SIGUSR2}, k);
    raise(SIGUSR2);
    int first = 0;
    for (const signal_event& e : sigs) {
      first = e.signo;
      break;
    }
    EXPECT_EQ(SIGUSR2, first);
  });
}

// Peer: wait_doesnt_block_when_closed, forever_doesnt_block_when_closed, is_closed_* .
TEST_P(PeerSignalHookIterator, ClosedObjectNeitherWaitsNorIterates) {
  const backend k = kind();
  SIGRELAY_IN_CHILD([k] {
    signals sigs({SIGUSR2}, k);
    signals::handle h = sigs.get_handle();
    EXPECT_FALSE(h.is_closed());
    EXPECT_FALSE(sigs.is_closed());
    h.close();
    EXPECT_TRUE(h.is_closed());
    EXPECT_TRUE(sigs.is_closed());
    EXPECT_TRUE(sigs.wait().empty());
    EXPECT_TRUE(sigs.begin() == sigs.end());
    EXPECT_TRUE(sigs.wait_for(1h).empty());
    EXPECT_TRUE(readable(sigs.native_handle())) << "a closed object's fd stays readable for good";
  });
}

// Peer: wait_unblocks_when_closed (an object with no signals at all, waited on by another thread,
// closed by the handle).
TEST_P(PeerSignalHookIterator, WaitOnAnObjectWithoutSignalsEndsWhenClosed) {
  const backend k = kind();
  SIGRELAY_IN_CHILD([k] {
    signals sigs(std::initializer_list<int>{}, k);
    signals::handle h = sigs.get_handle();
    std::atomic<pid_t> tid{0};
    std::vector<signal_event> got{signal_event{}};
    std::thread waiter([&] {
      tid.store(this_tid());
      got = sigs.wait();
    });
    ASSERT_TRUE(eventually([&] { return tid.load() != 0; }));
    sigrelay::test::wait_until_asleep(getpid(), tid.load(), 2s);
    h.close();
    waiter.join();
    EXPECT_TRUE(got.empty());
  });
}

// Peer: add_signal_after_creation.
TEST_P(PeerSignalHookIterator, AddSignalAfterCreation) {
  const backend k = kind();
  SIGRELAY_IN_CHILD([k] {
    signals sigs(std::initializer_list<int>{}, k);
    sigs.add(SIGUSR1);
    raise(SIGUSR1);
    std::vector<signal_event> got;
    ASSERT_TRUE(eventually([&] {
      for (const auto& e : sigs.pending()) got.push_back(e);
      return !got.empty();
    }));
    ASSERT_EQ(1U, got.size());
    EXPECT_EQ(SIGUSR1, got[0].signo);
  });
}

// Peer: delayed_signal_consumed (SIGUSR1 sent, wait(), then SIGUSR2 sent: the peer's lazy result
// holds both, and the next wait() returns nothing). Difference: our wait() returns the batch taken
// at once (SIGUSR1); SIGUSR2, sent after it returned, comes with the next wait(), never lost and
// never an empty wake-up.
TEST_P(PeerSignalHookIterator, DelayedSignalComesWithTheNextWait) {
  const backend k = kind();
  SIGRELAY_IN_CHILD([k] {
    signals sigs({SIGUSR2}, k);
    sigs.add(SIGUSR1);
    raise(SIGUSR1);
    const std::vector<signal_event> first = sigs.wait();
    raise(SIGUSR2);
    ASSERT_EQ(1U, first.size());
    EXPECT_EQ(SIGUSR1, first[0].signo);
    const std::vector<signal_event> second = sigs.wait_for(10s);
    ASSERT_EQ(1U, second.size());
    EXPECT_EQ(SIGUSR2, second[0].signo);
    EXPECT_TRUE(sigs.pending().empty());
  });
}

// Peer (old tests/iterator.rs signals_close_forever: five clones of one Signals iterating on five
// threads, one close() ends them all). Difference: one consumer per object; five objects, each
// iterated on its own thread, each receive every delivery, and each handle's close() ends its loop.
TEST_P(PeerSignalHookIterator, FiveObjectsEachGetEveryDeliveryAndEachCloseEndsItsLoop) {
  const backend k = kind();
  SIGRELAY_IN_CHILD([k] {
    constexpr int kN = 5;
    std::atomic<int> ready{0};
    std::atomic<int> received{0};
    std::atomic<int> ended{0};
    signals::handle handles[kN];
    std::atomic<pid_t> tids[kN] = {};
    std::vector<std::thread> threads;
    set_blocked(SIGUSR1, true);  // the consumers' threads take it (created below, they unblock)
    for (int i = 0; i < kN; ++i) {
      threads.emplace_back([&, i] {
        set_blocked(SIGUSR1, false);
        signals sigs({SIGUSR1}, k);
        handles[i] = sigs.get_handle();
        tids[i].store(this_tid());
        ready.fetch_add(1);
        for (const signal_event& e : sigs) {
          if (e.signo == SIGUSR1) received.fetch_add(1);
        }
        ended.fetch_add(1);
      });
    }
    ASSERT_TRUE(eventually([&] { return ready.load() == kN; }));
    for (int i = 0; i < kN; ++i) sigrelay::test::wait_until_asleep(getpid(), tids[i].load(), 2s);
    kill(getpid(), SIGUSR1);
    EXPECT_TRUE(eventually([&] { return received.load() == kN; })) << received.load();
    EXPECT_EQ(0, ended.load());
    for (int i = 0; i < kN; ++i) {
      handles[i].close();
      EXPECT_TRUE(eventually([&] { return ended.load() == i + 1; })) << i;
    }
    for (std::thread& t : threads) t.join();
  });
}

// Peer (Handle docs): "With the handle you will be able to shut down the background thread later, or
// to operatively add more signals." A handle's add() while the consumer sleeps in the loop: later
// deliveries of the added signal are recorded and handed out.
TEST_P(PeerSignalHookIterator, HandleAddsASignalWhileTheConsumerWaits) {
  const backend k = kind();
  SIGRELAY_IN_CHILD([k] {
    std::atomic<pid_t> tid{0};
    std::atomic<int> got{0};
    signals::handle h;
    std::thread consumer([&] {
      signals sigs({SIGUSR2}, k);
      h = sigs.get_handle();
      tid.store(this_tid());
      for (const signal_event& e : sigs) {
        if (e.signo == SIGUSR1) got.store(SIGUSR1);
      }
    });
    ASSERT_TRUE(eventually([&] { return tid.load() != 0; }));
    sigrelay::test::wait_until_asleep(getpid(), tid.load(), 2s);
    h.add(SIGUSR1);
    set_blocked(SIGUSR1, true);  // the consumer's thread takes it (or its handler relays it)
    kill(getpid(), SIGUSR1);
    EXPECT_TRUE(eventually([&] { return got.load() == SIGUSR1; }));
    h.close();
    consumer.join();
    // A handle outlives its object (the peer's Handle is shared too): still usable, closed.
    EXPECT_TRUE(h.is_closed());
    h.close();
    EXPECT_THROW(h.add(SIGUSR2), std::system_error);
  });
}

// =================================================================================================
// signal-hook exfiltrator::origin::WithOrigin / low_level::siginfo::Origin
// =================================================================================================

// Peer: WithOrigin's example (kill(my_pid, SIGUSR1); forever().next() says SIGUSR1 from my_pid).
TEST(PeerSignalHookOrigin, KillFromSelfNamesThisProcess) {
  SIGRELAY_IN_CHILD([] {
    signals sigs{SIGUSR1};
    const pid_t me = getpid();
    kill(me, SIGUSR1);
    signal_event got;
    for (const signal_event& e : sigs) {
      got = e;
      break;
    }
    EXPECT_EQ(SIGUSR1, got.signo);
    EXPECT_EQ(me, got.last.pid);
    EXPECT_EQ(getuid(), got.last.uid);
    EXPECT_EQ(origin_kind::user, got.last.kind);
    EXPECT_TRUE(got.last.trusted);
  });
}

// Peer: Origin's Cause: Sent(User | TKill | Queue) and Chld(Exited | Killed). Ours: origin_kind user,
// thread, queue (untrusted, with its value), child (the child's pid and status).
TEST(PeerSignalHookOrigin, CausesOfSentSignalsAndOfAChild) {
  SIGRELAY_IN_CHILD([] {
    signals sigs{SIGUSR1, SIGCHLD};
    const pid_t me = getpid();
    struct expectation {
      sigrelay::test::sender how;
      origin_kind kind;
      bool trusted;
    };
    for (const expectation x : {expectation{sigrelay::test::sender::kill, origin_kind::user, true},
                                expectation{sigrelay::test::sender::tgkill, origin_kind::thread, true},
                                expectation{sigrelay::test::sender::sigqueue, origin_kind::queue, false},
                                expectation{sigrelay::test::sender::pidfd, origin_kind::user, true}}) {
      ASSERT_EQ(0, sigrelay::test::send_signal(x.how, me, SIGUSR1)) << sigrelay::test::sender_name(x.how);
      const std::vector<signal_event> got = sigs.wait_for(10s);
      ASSERT_EQ(1U, got.size()) << sigrelay::test::sender_name(x.how);
      EXPECT_EQ(x.kind, got[0].last.kind) << sigrelay::test::sender_name(x.how);
      EXPECT_EQ(x.trusted, got[0].last.trusted) << sigrelay::test::sender_name(x.how);
      EXPECT_EQ(me, got[0].last.pid) << sigrelay::test::sender_name(x.how);
      if (x.how == sigrelay::test::sender::sigqueue) {
        EXPECT_EQ(77, got[0].last.value.sival_int);
      }
    }
    for (const int how : {0, 1}) {  // exits with 7; killed by SIGTERM
      const pid_t kid = fork();
      if (kid == 0) {
        if (how == 1) {
          signal(SIGTERM, SIG_DFL);
          raise(SIGTERM);
        }
        _exit(7);
      }
      signal_event ev;
      ASSERT_TRUE(eventually([&] {
        for (const auto& e : sigs.pending())
          if (e.signo == SIGCHLD) ev = e;
        return ev.signo == SIGCHLD;
      }));
      int status = 0;
      waitpid(kid, &status, 0);
      EXPECT_EQ(origin_kind::child, ev.last.kind);
      EXPECT_EQ(kid, ev.last.pid);
      EXPECT_EQ(how == 0 ? CLD_EXITED : CLD_KILLED, ev.last.code);
      EXPECT_EQ(how == 0 ? 7 : SIGTERM, ev.last.child_status);
      EXPECT_TRUE(ev.last.trusted);
    }
  });
}

// origin_kind's words: "kernel, // the kernel itself: SIGPIPE on a closed pipe, alarm(), faults,
// terminal (SI_KERNEL, > 0)". The peer's Cause::Kernel likewise. Checked for alarm() and for the
// SIGPIPE of a write to a pipe whose reading end is closed.
TEST(PeerSignalHookOrigin, KernelSentSignals) {
  SIGRELAY_IN_CHILD([] {
    signals sigs{SIGALRM, SIGPIPE};
    alarm(1);
    std::vector<signal_event> got = sigs.wait_for(10s);
    ASSERT_EQ(1U, got.size());
    EXPECT_EQ(SIGALRM, got[0].signo);
    EXPECT_EQ(origin_kind::kernel, got[0].last.kind) << to_string(got[0].last);
    EXPECT_TRUE(got[0].last.trusted);

    int p[2];
    ASSERT_EQ(0, pipe(p));
    close(p[0]);
    EXPECT_EQ(-1, write(p[1], "x", 1));
    EXPECT_EQ(EPIPE, errno);
    close(p[1]);
    got = sigs.wait_for(10s);
    ASSERT_EQ(1U, got.size());
    EXPECT_EQ(SIGPIPE, got[0].signo);
    EXPECT_EQ(origin_kind::kernel, got[0].last.kind) << to_string(got[0].last);
    EXPECT_TRUE(got[0].last.trusted);
  });
}

// Peer: Cause::Chld(Stopped) and Chld(Continued). Ours: origin kind child with code CLD_STOPPED
// (child_status the stop signal) and CLD_CONTINUED (child_status SIGCONT).
TEST(PeerSignalHookOrigin, ChildStoppedAndContinued) {
  SIGRELAY_IN_CHILD([] {
    signals sigs{SIGCHLD};
    const pid_t kid = fork();
    if (kid == 0) {
      alarm(20);
      raise(SIGSTOP);
      _exit(0);
    }
    auto next_child_event = [&] {
      signal_event ev;
      eventually([&] {
        for (const auto& e : sigs.pending()) ev = e;
        return ev.signo == SIGCHLD;
      });
      return ev;
    };
    int status = 0;
    ASSERT_EQ(kid, waitpid(kid, &status, WUNTRACED));
    ASSERT_TRUE(WIFSTOPPED(status));
    const signal_event stopped = next_child_event();
    EXPECT_EQ(origin_kind::child, stopped.last.kind);
    EXPECT_EQ(kid, stopped.last.pid);
    EXPECT_EQ(CLD_STOPPED, stopped.last.code);
    EXPECT_EQ(SIGSTOP, stopped.last.child_status);
    kill(kid, SIGCONT);
    const signal_event continued = next_child_event();
    EXPECT_EQ(origin_kind::child, continued.last.kind);
    EXPECT_EQ(kid, continued.last.pid);
    // The exit may have coalesced with the continue: the latest origin is either.
    EXPECT_TRUE(continued.last.code == CLD_CONTINUED || continued.last.code == CLD_EXITED)
        << continued.last.code;
    EXPECT_TRUE(exited_with(wait_with_deadline(kid, 10), 0));
  });
}

// Difference: the peer's WithOrigin keeps several origins of one signal; ours counts the
// coalesced deliveries and keeps the latest origin. Two deliveries before a drain: one event, count
// 2, the origin of the second (a sigqueue() with its value).
TEST(PeerSignalHookOrigin, CoalescedDeliveriesAreCountedWithTheLatestOrigin) {
  SIGRELAY_IN_CHILD([] {
    signals sigs{SIGUSR1};
    const pid_t me = getpid();
    static std::atomic<std::uint64_t> seen{0};
    const action_id counter = sigrelay::add_action(SIGUSR1, sigrelay::relay::add_count(seen));
    kill(me, SIGUSR1);
    ASSERT_TRUE(eventually([] { return seen.load() == 1; }));
    ASSERT_EQ(0, sigrelay::test::send_signal(sigrelay::test::sender::sigqueue, me, SIGUSR1));
    ASSERT_TRUE(eventually([] { return seen.load() == 2; }));
    const std::vector<signal_event> got = sigs.pending();
    ASSERT_EQ(1U, got.size());
    EXPECT_EQ(2U, got[0].count);
    EXPECT_EQ(origin_kind::queue, got[0].last.kind);
    EXPECT_EQ(77, got[0].last.value.sival_int);
    sigrelay::remove_action(counter);
  });
}

// =================================================================================================
// Corner cases the peer's users met (its issue threads), against our promises
// =================================================================================================

// Peer issue #130 (report on Ctrl+C, then emulate_default_handler(SIGINT) from the iterator's
// thread, while the Signals object still subscribes SIGINT): the process must end killed by SIGINT,
// on both backends (the signalfd backend blocks SIGINT in that very thread).
class PeerSignalHookIssues : public testing::TestWithParam<backend> {
 protected:
  void SetUp() override {
    if (GetParam() == backend::signalfd) SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the signalfd backend");
  }
  backend kind() const { return GetParam(); }
};

INSTANTIATE_TEST_SUITE_P(Backends, PeerSignalHookIssues, testing::Values(backend::relay, backend::signalfd),
                         backend_name);

TEST_P(PeerSignalHookIssues, EmulateDefaultFromTheConsumerWhileStillSubscribedKillsBySigint) {
  const backend k = kind();
  for (const bool threaded : {false, true}) {
    const int status = run_in_child([k, threaded] {
      auto consume = [k] {
        signals sigs({SIGINT}, k);
        kill(getpid(), SIGINT);
        for (const signal_event& e : sigs) {
          if (e.signo == SIGINT) sigrelay::relay::emulate_default(SIGINT);
          break;
        }
        ADD_FAILURE() << "emulate_default(SIGINT) returned";
      };
      if (threaded) {
        set_blocked(SIGINT, true);  // only the consumer thread takes it
        std::thread t([&consume] {
          set_blocked(SIGINT, false);
          consume();
        });
        t.join();
      } else {
        consume();
      }
    });
    EXPECT_TRUE(killed_by(status, SIGINT)) << (threaded ? "on a thread" : "on the main thread");
  }
}

// The peer's conditional shutdown doc: "this also allows asking the user 'Do you want to terminate'
// and disarming the abrupt shutdown if the user answers 'No'". Clearing the flag in ordinary code
// disarms die_if_set; setting it again re-arms it.
TEST(PeerSignalHookIssues, DieIfSetIsDisarmedByClearingTheFlag) {
  const int status = run_in_child([] {
    static std::atomic<bool> armed{false};
    sigrelay::add_action(SIGTERM, sigrelay::relay::die_if_set(armed));
    sigrelay::add_action(SIGTERM, sigrelay::relay::set_flag(armed));
    raise(SIGTERM);
    ASSERT_TRUE(eventually([] { return armed.load(); }));
    armed.store(false);  // "No"
    raise(SIGTERM);      // arms again, does not kill
    ASSERT_TRUE(eventually([] { return armed.load(); }));
    for (int i = 0; i < 20; ++i) usleep(1000);
    raise(SIGTERM);  // kills
    for (int i = 0; i < 100; ++i) usleep(1000);
    ADD_FAILURE() << "survived the armed SIGTERM";
  });
  EXPECT_TRUE(killed_by(status, SIGTERM));
}

// Peer issue #30 / registry "Race condition" (another library installs its own handler over ours).
// registry.hpp, Chaining: "the registry never overwrites that handler: when the last action goes,
// the trampoline is left to pass deliveries through ... a later add_action() reaches only through
// that code's handler (if it chains to what it replaced). If that code has meanwhile set SIG_DFL or
// SIG_IGN, add_action() installs the trampoline afresh".
void foreign_handler(int) { log_mark(200); }
TEST(PeerSignalHookIssues, ForeignHandlerOverOursIsNeverOverwritten) {
  SIGRELAY_IN_CHILD([] {
    static std::atomic<bool> flag{false};
    const action_id a = sigrelay::add_action(SIGUSR1, sigrelay::relay::set_flag(flag));
    struct sigaction foreign {};
    foreign.sa_handler = foreign_handler;
    sigemptyset(&foreign.sa_mask);
    ASSERT_EQ(0, sigaction(SIGUSR1, &foreign, nullptr));
    EXPECT_TRUE(sigrelay::remove_action(a));
    EXPECT_EQ(foreign_handler, current_action(SIGUSR1).sa_handler) << "the foreign handler was replaced";
    const action_id b = sigrelay::add_action(SIGUSR1, sigrelay::relay::set_flag(flag));
    EXPECT_EQ(foreign_handler, current_action(SIGUSR1).sa_handler) << "add_action() overwrote it";
    raise(SIGUSR1);
    EXPECT_TRUE(eventually([] { return g_log_n.load() == 1; }));
    EXPECT_FALSE(flag.load()) << "reached an action through a handler that does not chain";
    sigrelay::remove_action(b);
    EXPECT_EQ(foreign_handler, current_action(SIGUSR1).sa_handler);
    // The foreign code gives up: SIG_DFL. A new action installs the trampoline afresh, and its
    // removal restores SIG_DFL.
    signal(SIGUSR1, SIG_DFL);
    const action_id c = sigrelay::add_action(SIGUSR1, sigrelay::relay::set_flag(flag));
    EXPECT_NE(SIG_DFL, current_action(SIGUSR1).sa_handler);
    raise(SIGUSR1);
    EXPECT_TRUE(eventually([] { return flag.load(); }));
    sigrelay::remove_action(c);
    EXPECT_EQ(SIG_DFL, current_action(SIGUSR1).sa_handler);
  });
}

// signals.hpp, wait(): "empty only once closed (events recorded before close() are still handed out
// first)"; the iterator likewise. The peer's close() drops what was pending; ours hands it out.
// Both with the process single-threaded (where the signalfd backend's wait() sleeps in a blocking
// read()) and after a thread was created (where it sleeps in ppoll()): the answer must not depend on
// whether the program ever made a thread.
void handed_out_after_close(backend k, bool threaded) {
  if (threaded) std::thread([] {}).join();  // __libc_single_threaded is false from now on
  {
    signals sigs({SIGUSR1, SIGUSR2}, k);
    raise(SIGUSR1);
    raise(SIGUSR2);
    ASSERT_TRUE(eventually([&] { return readable(sigs.native_handle()); }));
    sigs.get_handle().close();
    const std::vector<signal_event> got = sigs.wait();
    EXPECT_EQ(1U, total(got, SIGUSR1));
    EXPECT_EQ(1U, total(got, SIGUSR2));
    EXPECT_TRUE(sigs.wait().empty());
  }
  {
    signals sigs({SIGUSR1}, k);
    raise(SIGUSR1);
    ASSERT_TRUE(eventually([&] { return readable(sigs.native_handle()); }));
    sigs.get_handle().close();
    int n = 0;
    for (const signal_event& e : sigs) n += e.signo == SIGUSR1 ? 1 : 0;
    EXPECT_EQ(1, n);
  }
}

TEST_P(PeerSignalHookIssues, EventsRecordedBeforeCloseAreStillHandedOutSingleThreaded) {
  const backend k = kind();
  SIGRELAY_IN_CHILD([k] { handed_out_after_close(k, /*threaded=*/false); });
}

TEST_P(PeerSignalHookIssues, EventsRecordedBeforeCloseAreStillHandedOutWithAThread) {
  const backend k = kind();
  SIGRELAY_IN_CHILD([k] { handed_out_after_close(k, /*threaded=*/true); });
}

// signals.hpp, add()/remove(): "add() on a closed (or moved-from) object throws std::system_error
// (std::errc::bad_file_descriptor, naming the signal) and changes nothing; remove() works on a
// closed object (it unsubscribes, restoring the disposition)".
TEST_P(PeerSignalHookIssues, ClosedObjectRefusesAddButRemoveRestores) {
  const backend k = kind();
  SIGRELAY_IN_CHILD([k] {
    signals sigs({SIGUSR1}, k);
    sigs.get_handle().close();
    const auto before = snapshot();
    try {
      sigs.add(SIGUSR2);
      ADD_FAILURE() << "add() on a closed object succeeded";
    } catch (const std::system_error& e) {
      EXPECT_EQ(std::errc::bad_file_descriptor, e.code());
      EXPECT_NE(std::string::npos, std::string(e.what()).find("SIGUSR2")) << e.what();
    }
    EXPECT_TRUE(sigrelay::test::same_state(before, snapshot()));
    sigs.remove(SIGUSR1);
    EXPECT_EQ(SIG_DFL, current_action(SIGUSR1).sa_handler);
    sigset_t m;
    pthread_sigmask(SIG_BLOCK, nullptr, &m);
    EXPECT_EQ(0, sigismember(&m, SIGUSR1)) << "the signalfd block outlived remove()";
  });
}

// Peer: Signals::new and Handle::add_signal have "the same restrictions (panics, errors)" as
// register. Ours: the constructor and add() (of the object or a handle) refuse a forbidden signal
// with invalid_argument naming it, and nothing is subscribed or changed (signals.hpp, Errors).
TEST_P(PeerSignalHookIssues, ForbiddenSignalsThroughSignalsAndHandleChangeNothing) {
  const backend k = kind();
  SIGRELAY_IN_CHILD([k] {
    const auto before = snapshot();
    try {
      signals sigs({SIGUSR1, SIGSEGV}, k);
      ADD_FAILURE() << "SIGSEGV accepted";
    } catch (const std::system_error& e) {
      EXPECT_EQ(std::errc::invalid_argument, e.code());
      EXPECT_NE(std::string::npos, std::string(e.what()).find("SIGSEGV")) << e.what();
    }
    EXPECT_TRUE(sigrelay::test::same_state(before, snapshot()));
    signals sigs({SIGUSR1}, k);
    const auto with_one = snapshot();
    signals::handle h = sigs.get_handle();
    for (const int bad : {SIGKILL, SIGSTOP, SIGILL, 0, -1, NSIG + 5}) {
      EXPECT_THROW(h.add(bad), std::system_error) << bad;
      EXPECT_THROW(sigs.add(bad), std::system_error) << bad;
    }
    EXPECT_TRUE(sigrelay::test::same_state(with_one, snapshot()));
  });
}

// Peer: signals given twice are registered once (its pending set is per signal). Ours: "duplicates
// are subscribed once": one delivery, one event of count 1.
TEST_P(PeerSignalHookIssues, DuplicateSignalsAreSubscribedOnce) {
  const backend k = kind();
  SIGRELAY_IN_CHILD([k] {
    const std::vector<int> twice{SIGUSR1, SIGUSR1, SIGUSR2, SIGUSR1};
    signals sigs(twice, k);
    sigs.add(SIGUSR2);
    raise(SIGUSR1);
    raise(SIGUSR2);
    std::vector<signal_event> got;
    ASSERT_TRUE(eventually([&] {
      for (const auto& e : sigs.pending()) got.push_back(e);
      return total(got, SIGUSR1) >= 1 && total(got, SIGUSR2) >= 1;
    }));
    EXPECT_EQ(1U, total(got, SIGUSR1));
    EXPECT_EQ(1U, total(got, SIGUSR2));
    EXPECT_EQ(2U, got.size());
    sigs.remove(SIGUSR1);
    EXPECT_EQ(SIG_DFL, current_action(SIGUSR1).sa_handler) << "a duplicate left an action behind";
  });
}

// =================================================================================================
// signal-hook tests/test.rs (wait_for_shutdown_signal) and fork
// =================================================================================================

// Peer: wait_for_shutdown_signal returns once a termination signal is raised (the test raises
// SIGHUP). Ours: signals{termination_signals} (SIGTERM, SIGQUIT, SIGINT) on a waiting thread;
// difference: SIGHUP is not among them (daemons take it as "reload").
TEST(PeerSignalHookShutdown, WaitForATerminationSignal) {
  SIGRELAY_IN_CHILD([] {
    EXPECT_EQ(std::find(sigrelay::termination_signals.begin(), sigrelay::termination_signals.end(), SIGHUP),
              sigrelay::termination_signals.end());
    for (const int signo : sigrelay::termination_signals) {
      signals sigs{sigrelay::termination_signals};
      std::atomic<int> got{0};
      std::atomic<pid_t> tid{0};
      std::thread waiter([&] {
        tid.store(this_tid());
        for (const signal_event& e : sigs.wait()) got.store(e.signo);
      });
      ASSERT_TRUE(eventually([&] { return tid.load() != 0; }));
      sigrelay::test::wait_until_asleep(getpid(), tid.load(), 2s);
      raise(signo);
      waiter.join();
      EXPECT_EQ(signo, got.load());
    }
  });
}

// Not in the peer (its self-pipe is shared with a fork child, the problem its users meet with
// every self-pipe: a signal in the child wakes the parent's reader). Ours (signals.hpp, Fork): the
// child's copy is dead and never wakes or robs the parent's consumer; a new object in the child
// receives.
TEST(PeerSignalHookFork, ChildSignalsNeverWakeTheParentsConsumer) {
  SIGRELAY_IN_CHILD([] {
    signals sigs{SIGUSR1};
    sigrelay::relay::wakeup_fd wake;
    const action_id id = sigrelay::add_action(SIGUSR1, wake.get());
    const pid_t kid = fork();
    if (kid == 0) {
      signals mine{SIGUSR1};
      raise(SIGUSR1);
      raise(SIGUSR1);
      const std::vector<signal_event> got = mine.wait_for(10s);
      _exit(total(got, SIGUSR1) == 2 && sigs.pending().empty() ? 0 : 1);
    }
    EXPECT_TRUE(exited_with(wait_with_deadline(kid, 20), 0));
    EXPECT_FALSE(readable(sigs.native_handle()));
    EXPECT_TRUE(sigs.pending().empty());
    EXPECT_FALSE(readable(wake.native_handle()));
    EXPECT_EQ(0U, wake.drain());
    sigrelay::remove_action(id);
  });
}

}  // namespace
