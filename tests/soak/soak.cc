// SPDX-License-Identifier: MIT
// tests/soak/soak.cc — the soak: storms of real signals from processes and threads against every kind
// of consumer at once, with subscription churn, object churn and fork/exec storms, for N seconds;
// then every count is reconciled and a summary table printed. Exit status 0 only if all reconcile.
//
// Usage: soak [--seconds N] [--window S]     (or SIGRELAY_SOAK_SECONDS; defaults 10 and 10)
//        soak --check-clean                  (the fork/exec storm's checker, see below)
// scripts/soak runs it for minutes under ASan and TSan; the suite runs a 10-second smoke (soak_smoke).
//
// Design notes
// - Processes. main() forks the soak process and watches it with a deadline (SIGKILL past it), so a
//   signal gone wrong or a hang kills a child, not the caller. The soak process forks its two sender
//   processes first, while it is still single-threaded (they die with it: PR_SET_PDEATHSIG). Every
//   signal goes to the soak process's own pid or to one of its own threads, never to a group.
// - Signals. Standard: SIGUSR1, SIGUSR2. Realtime, with a payload: RT_A = SIGRTMIN+1 and RT_B =
//   SIGRTMIN+2 (several subscribers each), RT_C = SIGRTMIN+3 (one signalfd-backed object only, so it
//   is blocked in its consumer's thread and read from the signalfd). RT_D = SIGRTMIN+4 and RT_E =
//   SIGRTMIN+5 are never sent: churn blocks RT_D through a signalfd object and checks the mask; the
//   fork storm's thread holds a signalfd block of RT_E (the signalfd trap its children must not get).
// - Senders: 2 processes and 2 threads, each cycling through kill, sigqueue, tgkill, a thread-directed
//   sigqueue (pthread_sigqueue in a thread, rt_tgsigqueueinfo from a process), pidfd_send_signal
//   without and with a siginfo. A realtime payload (sival_int) is sender << 28 | sequence, and the
//   sequence of each (sender, signal) counts the sends the kernel accepted: a send refused with
//   EAGAIN (RLIMIT_SIGPENDING) is retried with the same sequence, so the accepted sends of a sender
//   are exactly 0..accepted-1. Counters live in a MAP_SHARED page, so the sender processes' counts
//   are read by the soak process. The soak process lowers its RLIMIT_SIGPENDING to 8192: the kernel
//   counts queued signals per user, so a flood must not take the whole user's quota on a shared
//   machine (a refused send is retried, and counted as EAGAIN).
// - Consumers (long-lived, reconciled): C0 a relay-backed `signals` read with wait(std::stop_token);
//   C1 a signalfd-backed `signals` (shared signals: relayed through the handler) read with poll() +
//   pending(); C2 the signalfd-backed only subscriber of RT_C read with wait_for(timeout, stop_token);
//   D a dispatcher with its own thread; R registry actions (relay::add_count) on the shared signals;
//   W a relay::wakeup_fd on SIGUSR2 and RT_A, polled by its thread. A sigrelay::termination on
//   SIGTERM supplies the stop_token: the run ends by a real SIGTERM sent to the soak process.
// - Churn (not reconciled, but checked): add_action/remove_action, short-lived `signals` objects of
//   both backends with handle::add/remove, moves, dispatchers started and stopped, a second
//   termination (must be refused as busy), and a long-lived object whose handle adds and removes
//   signals while its consumer waits in wait().
// - Fork/exec storm: a thread holding a signalfd block of RT_E forks children that check their mask
//   and dispositions in place, exec /bin/true, or re-exec this binary with --check-clean; and it
//   posix_spawn()s --check-clean with sigrelay::spawn_attr (must be clean) and, as the checker's own
//   control, without it (must report the inherited block: exit 3). Every child is reaped and its
//   status checked.
// - Windows. Every --window seconds the coordinator pauses the senders (each acknowledges through the
//   shared page, so no send is in flight), sends SIGUSR1 and SIGUSR2 once more itself and waits until
//   everything has settled: the registry counts rose (so each coalescing window delivered >= 1), each
//   consumer saw exactly what the registry actions saw (standard: the same sum of counts; realtime:
//   received + dropped), the wakeup_fd counted every delivery, and (not under ThreadSanitizer) each
//   realtime signal's deliveries equal the accepted sends. A window that does not settle within a
//   generous deadline is a failure. Then the senders resume.
// - End: per long-lived consumer and realtime signal, each (sender, sequence) received at most once,
//   never one that was not accepted, with the right origin (SI_QUEUE, the sender's pid); missing ==
//   dropped() (ThreadSanitizer merges deferred signals of one number before any handler runs, so
//   there missing >= dropped and the difference is printed as "merged by TSan"); standard signals:
//   received <= sent. Every child reaped with the expected status.
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sigrelay/sigrelay.hpp>
#include <sigrelay/termination.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <new>
#include <stop_token>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

extern char** environ;

namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

#if defined(__SANITIZE_THREAD__)
constexpr bool kUnderThreadSanitizer = true;
#else
constexpr bool kUnderThreadSanitizer = false;
#endif

constexpr int kSenderProcs = 2;
constexpr int kSenderThreads = 2;
constexpr int kSenders = kSenderProcs + kSenderThreads;
constexpr unsigned kSeqBits = 28;
constexpr std::uint32_t kSeqMask = (1U << kSeqBits) - 1;
constexpr rlim_t kPendingLimit = 8192;  // RLIMIT_SIGPENDING of the soak process (see soak())

// Slots: the signals that are sent and reconciled.
enum slot { usr1, usr2, rt_a, rt_b, rt_c, kSlots };
constexpr bool is_rt(int s) { return s >= rt_a; }
int signo_of(int s) {
  switch (s) {
    case usr1: return SIGUSR1;
    case usr2: return SIGUSR2;
    case rt_a: return SIGRTMIN + 1;
    case rt_b: return SIGRTMIN + 2;
    default: return SIGRTMIN + 3;
  }
}
int slot_of(int signo) {
  for (int s = 0; s < kSlots; ++s) {
    if (signo_of(s) == signo) return s;
  }
  return -1;
}
int rt_d() { return SIGRTMIN + 4; }
int rt_e() { return SIGRTMIN + 5; }
const char* slot_name(int s) {
  static const char* const names[] = {"SIGUSR1", "SIGUSR2", "RTMIN+1", "RTMIN+2", "RTMIN+3"};
  return names[s];
}

enum method { m_kill, m_sigqueue, m_tgkill, m_thread_queue, m_pidfd_kill, m_pidfd_queue, kMethods };
const char* const method_names[kMethods] = {"kill",         "sigqueue", "tgkill",
                                            "thread-queue", "pidfd",    "pidfd+info"};

struct sender_stats {
  std::atomic<std::uint64_t> std_sent[2];     // standard sends that returned 0
  std::atomic<std::uint64_t> rt_accepted[3];  // realtime sends that returned 0 (= next sequence)
  std::atomic<std::uint64_t> rt_eagain[3];    // refusals (RLIMIT_SIGPENDING), retried
  std::atomic<std::uint64_t> by_method[kMethods];
  std::atomic<std::uint64_t> errors;  // any other failure
};

// The MAP_SHARED page shared with the sender processes.
struct shared_state {
  std::atomic<int> go;
  std::atomic<int> pause;
  std::atomic<int> paused;  // senders that acknowledged the pause
  std::atomic<int> stop;
  std::atomic<pid_t> tid[3];  // C0, C1, C2's thread ids: targets of thread-directed sends
  sender_stats senders[kSenders];
};
static_assert(std::atomic<std::uint64_t>::is_always_lock_free && std::atomic<int>::is_always_lock_free);

shared_state* g_shared = nullptr;
pid_t g_soak_pid = 0;
std::string g_self_exe;
pthread_t g_thread_of[3];  // C0, C1, C2 (for pthread_sigqueue)

// Under ThreadSanitizer only: a thread's mask found blocking a signal that sigrelay had unblocked
// (RTMIN+4 after its signalfd object's destruction, on the owner thread), and exec'd checkers that
// started with signals blocked. ThreadSanitizer runs a deferred handler late, with every signal
// blocked, and then restores the mask it saved when the signal arrived (see src/signals.cc), which
// can undo an unblock made meanwhile. Counted and printed, not failures; dev and ASan check them.
std::atomic<std::uint64_t> g_tsan_mask_restores{0};

// Failures: printed at once (so a long run shows them when they happen) and counted.
std::atomic<int> g_failures{0};
std::mutex g_print;
__attribute__((format(printf, 1, 2))) void fail(const char* fmt, ...) {
  g_failures.fetch_add(1);
  const std::lock_guard<std::mutex> lock(g_print);
  std::fprintf(stderr, "soak: FAIL: ");
  va_list args;
  va_start(args, fmt);
  std::vfprintf(stderr, fmt, args);
  va_end(args);
  std::fputc('\n', stderr);
}

// --------------------------------------------------------------------------------------------------
// Checker mode: run by the fork/exec storm's children after exec. Exit 0: no signal blocked, every
// soak signal at SIG_DFL; 3: a signal blocked; 4: a soak signal with another disposition.
std::vector<int> soak_signals() {
  std::vector<int> v{SIGTERM};
  for (int s = 0; s < kSlots; ++s) v.push_back(signo_of(s));
  v.push_back(rt_d());
  v.push_back(rt_e());
  return v;
}

int check_clean() {
  sigset_t mask;
  if (pthread_sigmask(SIG_BLOCK, nullptr, &mask) != 0) return 5;
  for (int n = 1; n <= SIGRTMAX; ++n) {
    if (sigismember(&mask, n) == 1) {
      std::fprintf(stderr, "soak --check-clean: %s is blocked\n", sigrelay::signal_name(n).data());
      return 3;
    }
  }
  for (const int n : soak_signals()) {
    struct sigaction sa {};
    if (sigaction(n, nullptr, &sa) != 0) return 5;
    if ((sa.sa_flags & SA_SIGINFO) != 0 || sa.sa_handler != SIG_DFL) {
      std::fprintf(stderr, "soak --check-clean: %s is not SIG_DFL\n", sigrelay::signal_name(n).data());
      return 4;
    }
  }
  return 0;
}

// --------------------------------------------------------------------------------------------------
// Senders.

long sys_pidfd_open(pid_t pid) { return syscall(SYS_pidfd_open, pid, 0U); }
int sys_pidfd_send(int pidfd, int signo, siginfo_t* info) {
  return static_cast<int>(syscall(SYS_pidfd_send_signal, pidfd, signo, info, 0U));
}
int sys_tgkill(pid_t tgid, pid_t tid, int signo) {
  return static_cast<int>(syscall(SYS_tgkill, tgid, tid, signo));
}
int sys_tgsigqueueinfo(pid_t tgid, pid_t tid, int signo, siginfo_t* info) {
  return static_cast<int>(syscall(SYS_rt_tgsigqueueinfo, tgid, tid, signo, info));
}

siginfo_t queue_info(int signo, int value) {
  siginfo_t info;
  std::memset(&info, 0, sizeof info);
  info.si_signo = signo;
  info.si_code = SI_QUEUE;
  info.si_pid = getpid();
  info.si_uid = getuid();
  info.si_value.sival_int = value;
  return info;
}

// Waits while the coordinator pauses the senders; returns false once they are to stop.
bool honour_pause() {
  if (g_shared->pause.load() != 0) {
    g_shared->paused.fetch_add(1);
    while (g_shared->pause.load() != 0 && g_shared->stop.load() == 0) usleep(500);
    g_shared->paused.fetch_sub(1);
  }
  return g_shared->stop.load() == 0;
}

class sender {
 public:
  sender(int id, bool is_thread, int pidfd) : id_(id), thread_(is_thread), pidfd_(pidfd) {}

  void run() {
    for (std::uint64_t i = 0; honour_pause(); ++i) {
      step(static_cast<int>(i % 10), i);
      if (i % 128 == 127) usleep(50);  // a flood, but one that leaves the shared machine breathing
    }
  }

 private:
  sender_stats& st() { return g_shared->senders[id_]; }
  pid_t target_tid(int which) { return g_shared->tid[which].load(); }

  void count_std(int rc, int s, method m) {
    if (rc == 0) {
      st().std_sent[s].fetch_add(1);
      st().by_method[m].fetch_add(1);
    } else {
      st().errors.fetch_add(1);
    }
  }

  // One realtime send of the next sequence, retried on EAGAIN until accepted (or the run stops).
  void send_rt(int s, method m, int target) {
    const int r = s - rt_a;
    const std::uint64_t seq = st().rt_accepted[r].load();
    if (seq > kSeqMask) return;  // sequence space exhausted: stop sending this one
    const int value =
        static_cast<int>((static_cast<std::uint32_t>(id_) << kSeqBits) | static_cast<std::uint32_t>(seq));
    const int signo = signo_of(s);
    for (;;) {
      int rc = -1;
      switch (m) {
        case m_sigqueue: {
          union sigval v {};
          v.sival_int = value;
          rc = sigqueue(g_soak_pid, signo, v);
          break;
        }
        case m_thread_queue:
          if (thread_) {
            union sigval v {};
            v.sival_int = value;
            rc = pthread_sigqueue(g_thread_of[target], signo, v);
            if (rc != 0) {
              errno = rc;
              rc = -1;
            }
          } else {
            siginfo_t info = queue_info(signo, value);
            rc = sys_tgsigqueueinfo(g_soak_pid, target_tid(target), signo, &info);
          }
          break;
        default: {
          siginfo_t info = queue_info(signo, value);
          rc = sys_pidfd_send(pidfd_, signo, &info);
          break;
        }
      }
      if (rc == 0) {
        st().rt_accepted[r].fetch_add(1);
        st().by_method[m].fetch_add(1);
        return;
      }
      if (errno != EAGAIN) {
        st().errors.fetch_add(1);
        return;
      }
      st().rt_eagain[r].fetch_add(1);
      if (!honour_pause()) return;
      usleep(200);
    }
  }

  void step(int k, std::uint64_t i) {
    switch (k) {
      case 0: count_std(kill(g_soak_pid, SIGUSR1), usr1, m_kill); break;
      case 1: send_rt(rt_a, m_sigqueue, 0); break;
      case 2:
        count_std(sys_tgkill(g_soak_pid, target_tid(static_cast<int>(i / 10 % 2)), SIGUSR2), usr2, m_tgkill);
        break;
      case 3: send_rt(rt_b, m_thread_queue, 0); break;  // to C0's thread
      case 4: count_std(sys_pidfd_send(pidfd_, SIGUSR2, nullptr), usr2, m_pidfd_kill); break;
      case 5: send_rt(rt_c, m_pidfd_queue, 2); break;
      case 6: send_rt(rt_b, m_sigqueue, 0); break;
      case 7: send_rt(rt_c, m_thread_queue, 2); break;  // to C2's thread, which blocks it
      case 8: send_rt(rt_a, m_pidfd_queue, 1); break;
      default: send_rt(rt_a, m_thread_queue, 1); break;  // to C1's thread
    }
  }

  int id_;
  bool thread_;
  int pidfd_;
};

// A sender process: forked while the soak process is single-threaded; waits for `go`.
pid_t fork_sender_process(int id) {
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid != 0) return pid;
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(6);
  const long pidfd = sys_pidfd_open(parent);
  if (pidfd < 0) _exit(2);
  while (g_shared->go.load() == 0) {
    if (g_shared->stop.load() != 0) _exit(0);
    usleep(1000);
  }
  sender(id, false, static_cast<int>(pidfd)).run();
  _exit(0);
}

// --------------------------------------------------------------------------------------------------
// Consumers.

struct consumer {
  const char* name = "";
  bool subscribed[kSlots] = {};
  std::atomic<std::uint64_t> count[kSlots] = {};  // standard: sum of event counts; realtime: events
  std::function<std::uint64_t(int)> dropped;      // live while the consumer runs
  std::uint64_t final_dropped[kSlots] = {};
  // Touched by the consumer's thread only; read after it is joined.
  std::vector<bool> seen[3][kSenders];
  std::uint64_t duplicates[3] = {}, phantoms[3] = {}, bad_origin[3] = {}, bad_count[3] = {};
  std::uint32_t first_duplicates[3][4] = {};  // the payloads of the first few, for the failure's report
  std::uint64_t unexpected = 0;
  pid_t sender_pid[kSenders] = {};

  void record(const sigrelay::signal_event& e) {
    const int s = slot_of(e.signo);
    if (s < 0 || !subscribed[s]) {
      ++unexpected;
      return;
    }
    if (!is_rt(s)) {
      count[s].fetch_add(e.count);
      return;
    }
    const int r = s - rt_a;
    if (e.count != 1) ++bad_count[r];
    const auto v = static_cast<std::uint32_t>(e.last.value.sival_int);
    const std::uint32_t id = v >> kSeqBits, seq = v & kSeqMask;
    if (id >= static_cast<std::uint32_t>(kSenders)) {
      ++phantoms[r];
    } else {
      if (e.last.kind != sigrelay::origin_kind::queue || e.last.pid != sender_pid[id]) ++bad_origin[r];
      std::vector<bool>& bits = seen[r][id];
      if (seq >= bits.size()) bits.resize(std::max<std::size_t>(seq + 1, bits.size() * 2));
      if (bits[seq]) {
        if (duplicates[r] < 4) first_duplicates[r][duplicates[r]] = v;
        ++duplicates[r];
      } else {
        bits[seq] = true;
      }
    }
    count[s].fetch_add(1);  // after the bookkeeping: the coordinator reads it
  }
};

// --------------------------------------------------------------------------------------------------
// The fork/exec storm.

struct fork_stats {
  static constexpr int kModes = 5;
  const char* names[kModes] = {"fork+check", "fork+exec true", "fork+exec checker", "spawn_attr+checker",
                               "plain spawn (control)"};
  std::uint64_t runs[kModes] = {};
  std::uint64_t as_expected[kModes] = {};
};

// Waits for `pid` up to 120 s (then SIGKILLs and reaps it). Returns the wait status.
int reap(pid_t pid) {
  int status = 0;
  const auto deadline = clock_type::now() + 120s;
  for (;;) {
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0 && errno != EINTR) return -1;
    if (clock_type::now() > deadline) {
      kill(pid, SIGKILL);  // our own child, by its pid
      waitpid(pid, &status, 0);
      return status;
    }
    usleep(500);
  }
}

void fork_storm(const std::atomic<bool>& stop, fork_stats& stats) {
  // This thread holds a signalfd block of RT_E (it is RT_E's only subscriber): the trap.
  sigrelay::signals trap({rt_e()}, sigrelay::backend::signalfd);
  sigset_t mine;
  pthread_sigmask(SIG_BLOCK, nullptr, &mine);
  if (sigismember(&mine, rt_e()) != 1)
    fail("fork storm: the signalfd object did not block RTMIN+5 in its thread");
  char arg0[] = "soak", arg1[] = "--check-clean";
  char* checker_argv[] = {arg0, arg1, nullptr};
  char true_arg[] = "true";
  char* true_argv[] = {true_arg, nullptr};
  const int trap_signo = rt_e();
  for (std::uint64_t i = 0; !stop.load(); ++i) {
    const int mode = static_cast<int>(i % fork_stats::kModes);
    pid_t pid = -1;
    int expected = 0;
    if (mode <= 2) {
      pid = fork();
      if (pid == 0) {
        if (mode == 0) {
          // In the child of a multithreaded process: async-signal-safe calls only.
          sigset_t m;
          sigprocmask(SIG_BLOCK, nullptr, &m);
          if (sigismember(&m, trap_signo) == 1) _exit(3);
          struct sigaction sa {};
          sigaction(trap_signo, nullptr, &sa);
          _exit((sa.sa_flags & SA_SIGINFO) == 0 && sa.sa_handler == SIG_DFL ? 0 : 4);
        }
        if (mode == 1) execve("/bin/true", true_argv, environ);
        if (mode == 2) execve(g_self_exe.c_str(), checker_argv, environ);
        _exit(127);
      }
    } else {
      int rc = 0;
      if (mode == 3) {
        sigrelay::spawn_attr attr;
        rc = posix_spawn(&pid, g_self_exe.c_str(), nullptr, attr.get(), checker_argv, environ);
      } else {
        // The control: its checker's complaint is the expected outcome, so its stderr is discarded.
        posix_spawn_file_actions_t quiet;
        posix_spawn_file_actions_init(&quiet);
        posix_spawn_file_actions_addopen(&quiet, 2, "/dev/null", O_WRONLY, 0);
        rc = posix_spawn(&pid, g_self_exe.c_str(), &quiet, nullptr, checker_argv, environ);
        posix_spawn_file_actions_destroy(&quiet);
        expected = 3;  // the inherited block, reported by the checker
      }
      if (rc != 0) pid = -1;
    }
    ++stats.runs[mode];
    if (pid < 0) {
      fail("fork storm: %s failed: %s", stats.names[mode], std::strerror(errno));
      usleep(10000);
      continue;
    }
    const int status = reap(pid);
    if (WIFEXITED(status) && WEXITSTATUS(status) == expected) {
      ++stats.as_expected[mode];
    } else if (kUnderThreadSanitizer && WIFEXITED(status) && WEXITSTATUS(status) == 3) {
      g_tsan_mask_restores.fetch_add(1);  // see g_tsan_mask_restores
    } else {
      fail("fork storm: %s child %d: status 0x%x, expected exit %d", stats.names[mode], static_cast<int>(pid),
           status, expected);
    }
  }
}

// --------------------------------------------------------------------------------------------------
// Churn.

struct churn_stats {
  std::atomic<std::uint64_t> actions{0}, objects{0}, handle_ops{0}, dispatchers{0}, moves{0},
      termination_refusals{0};
};

void churn_objects(const std::atomic<bool>& stop, churn_stats& st) {
  std::atomic<std::uint64_t> sink{0};
  const int d = rt_d();
  for (std::uint64_t i = 0; !stop.load(); ++i) {
    for (const int signo : {SIGUSR1, signo_of(rt_a), signo_of(rt_b)}) {
      const sigrelay::action_id id = sigrelay::add_action(signo, sigrelay::relay::add_count(sink));
      if (!sigrelay::remove_action(id))
        fail("churn: remove_action of %s returned false", sigrelay::signal_name(signo).data());
      st.actions.fetch_add(2);
    }
    {
      sigrelay::signals s({SIGUSR2, signo_of(rt_b)});
      sigrelay::signals::handle h = s.get_handle();
      h.add(signo_of(rt_a));
      (void)s.pending();
      h.remove(signo_of(rt_a));
      h.add(SIGUSR1);
      h.remove(SIGUSR1);
      st.handle_ops.fetch_add(4);
      sigrelay::signals moved(std::move(s));
      (void)moved.pending();
      st.moves.fetch_add(1);
      st.objects.fetch_add(1);
    }
    {
      // The only subscriber of RT_D with the signalfd backend: blocked in this thread, then not.
      auto s =
          std::make_unique<sigrelay::signals>(std::initializer_list<int>{d}, sigrelay::backend::signalfd);
      s->add(SIGUSR1);
      sigset_t m;
      pthread_sigmask(SIG_BLOCK, nullptr, &m);
      if (sigismember(&m, d) != 1) fail("churn: a signalfd object did not block RTMIN+4 in its thread");
      s.reset();
      pthread_sigmask(SIG_BLOCK, nullptr, &m);
      if (sigismember(&m, d) == 1) {
        if (kUnderThreadSanitizer) {
          g_tsan_mask_restores.fetch_add(1);  // see g_tsan_mask_restores
        } else {
          fail("churn: RTMIN+4 still blocked after its signalfd object was destroyed");
        }
      }
      st.objects.fetch_add(1);
    }
    if (i % 16 == 0) {
      sigrelay::dispatcher disp(i % 32 == 0 ? sigrelay::backend::relay : sigrelay::backend::signalfd);
      disp.on(SIGUSR1, [](const sigrelay::signal_event&) {});
      disp.on(signo_of(rt_b), [](const sigrelay::signal_event&) {});
      disp.start();
      usleep(1000);
      disp.off(SIGUSR1);
      disp.stop();
      disp.join();
      st.dispatchers.fetch_add(1);
    }
    if (i % 64 == 0) {
      try {
        sigrelay::termination second({SIGTERM});
        fail("churn: a second termination object was accepted");
      } catch (const std::system_error& e) {
        if (e.code() == std::errc::device_or_resource_busy) {
          st.termination_refusals.fetch_add(1);
        } else {
          fail("churn: a second termination object failed with %s", e.what());
        }
      }
    }
  }
}

// A long-lived object whose handle adds and removes signals while its consumer waits in wait().
void churn_handles(const std::atomic<bool>& stop, churn_stats& st) {
  sigrelay::signals s({SIGUSR1});
  std::atomic<std::uint64_t> events{0};
  std::thread waiter([&] {
    for (const sigrelay::signal_event& e : s) events.fetch_add(e.count);
  });
  sigrelay::signals::handle h = s.get_handle();
  for (std::uint64_t i = 0; !stop.load(); ++i) {
    const int signo = i % 2 == 0 ? SIGUSR2 : signo_of(rt_a);
    h.add(signo);
    usleep(100);
    h.remove(signo);
    st.handle_ops.fetch_add(2);
  }
  h.close();
  waiter.join();
}

// --------------------------------------------------------------------------------------------------
// The soak process.

struct run_options {
  unsigned seconds = 10;
  unsigned window = 10;
};

std::uint64_t accepted_total(int s) {
  std::uint64_t n = 0;
  for (auto& st : g_shared->senders) n += is_rt(s) ? st.rt_accepted[s - rt_a].load() : st.std_sent[s].load();
  return n;
}

int soak(const run_options& opt) {
  g_soak_pid = getpid();
  void* page = mmap(nullptr, sizeof(shared_state), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (page == MAP_FAILED) {
    std::perror("soak: mmap");
    return 2;
  }
  g_shared = new (page) shared_state{};

  // The kernel counts queued signals per user, against the receiver's RLIMIT_SIGPENDING: a lower
  // limit here makes the kernel refuse sends to the soak (EAGAIN, retried) long before the user's
  // other processes on the machine run short.
  struct rlimit pending_limit {};
  if (getrlimit(RLIMIT_SIGPENDING, &pending_limit) == 0 && pending_limit.rlim_cur > kPendingLimit) {
    pending_limit.rlim_cur = kPendingLimit;
    setrlimit(RLIMIT_SIGPENDING, &pending_limit);
  }

  // Sender processes first, while single-threaded.
  pid_t sender_pid[kSenders];
  for (int p = 0; p < kSenderProcs; ++p) sender_pid[p] = fork_sender_process(p);
  for (int t = kSenderProcs; t < kSenders; ++t) sender_pid[t] = g_soak_pid;

  sigrelay::termination term({SIGTERM});
  const std::stop_token token = term.token();

  // R: registry actions on the shared signals.
  std::atomic<std::uint64_t> reg[kSlots] = {};
  std::vector<sigrelay::action_id> reg_ids;
  for (int s = usr1; s <= rt_b; ++s)
    reg_ids.push_back(sigrelay::add_action(signo_of(s), sigrelay::relay::add_count(reg[s])));

  // W: a wakeup_fd on SIGUSR2 and RT_A.
  sigrelay::relay::wakeup_fd wake;
  const sigrelay::action_id w1 = sigrelay::add_action(SIGUSR2, wake.get());
  const sigrelay::action_id w2 = sigrelay::add_action(signo_of(rt_a), wake.get());
  std::atomic<std::uint64_t> wake_count{0};
  std::atomic<bool> wake_stop{false};
  std::thread wake_thread([&] {
    while (!wake_stop.load()) {
      struct pollfd p {
        wake.native_handle(), POLLIN, 0
      };
      poll(&p, 1, 100);
      wake_count.fetch_add(wake.drain());
    }
    wake_count.fetch_add(wake.drain());
  });

  consumer c0, c1, c2, cd;
  c0.name = "C0 signals(relay) wait(stop_token)";
  c1.name = "C1 signals(signalfd) poll+pending";
  c2.name = "C2 signals(signalfd, sole) wait_for";
  cd.name = "D dispatcher(relay)";
  for (consumer* c : {&c0, &c1, &c2, &cd}) std::memcpy(c->sender_pid, sender_pid, sizeof sender_pid);
  c0.subscribed[usr1] = c0.subscribed[usr2] = c0.subscribed[rt_a] = c0.subscribed[rt_b] = true;
  c1.subscribed[usr1] = c1.subscribed[rt_a] = true;
  c2.subscribed[rt_c] = true;
  cd.subscribed[usr1] = cd.subscribed[rt_b] = true;

  std::atomic<int> ready{0};
  const auto publish = [&](int which) {
    g_thread_of[which] = pthread_self();
    g_shared->tid[which].store(gettid());
    ready.fetch_add(1);
  };
  const auto finish = [](consumer& c, sigrelay::signals& sigs) {
    for (std::vector<sigrelay::signal_event> batch = sigs.pending(); !batch.empty(); batch = sigs.pending()) {
      for (const auto& e : batch) c.record(e);
    }
    for (int s = 0; s < kSlots; ++s)
      c.final_dropped[s] = is_rt(s) && c.subscribed[s] ? sigs.dropped(signo_of(s)) : 0;
    // c.dropped stays set (main no longer calls it): resetting it here raced with the last window's
    // reads for ThreadSanitizer, which sees no order through the SIGTERM that ends the consumers.
  };
  std::thread t0([&] {
    sigrelay::signals sigs({SIGUSR1, SIGUSR2, signo_of(rt_a), signo_of(rt_b)});
    c0.dropped = [&sigs](int signo) { return sigs.dropped(signo); };
    publish(0);
    while (!token.stop_requested()) {
      for (const auto& e : sigs.wait(token)) c0.record(e);
    }
    finish(c0, sigs);
  });
  std::thread t1([&] {
    sigrelay::signals_options o;
    o.backend = sigrelay::backend::signalfd;
    o.realtime_capacity = 1 << 16;
    sigrelay::signals sigs({SIGUSR1, signo_of(rt_a)}, o);
    c1.dropped = [&sigs](int signo) { return sigs.dropped(signo); };
    publish(1);
    std::vector<sigrelay::signal_event> batch;
    while (!token.stop_requested()) {
      struct pollfd p {
        sigs.native_handle(), POLLIN, 0
      };
      poll(&p, 1, 100);
      sigs.pending(batch);
      for (const auto& e : batch) c1.record(e);
    }
    finish(c1, sigs);
  });
  std::thread t2([&] {
    sigrelay::signals sigs({signo_of(rt_c)}, sigrelay::backend::signalfd);
    c2.dropped = [&sigs](int signo) { return sigs.dropped(signo); };
    sigset_t m;
    pthread_sigmask(SIG_BLOCK, nullptr, &m);
    if (sigismember(&m, signo_of(rt_c)) != 1)
      fail("C2: its signalfd object did not block RTMIN+3 in its thread");
    publish(2);
    while (!token.stop_requested()) {
      for (const auto& e : sigs.wait_for(200ms, token)) c2.record(e);
    }
    finish(c2, sigs);
  });
  sigrelay::dispatcher disp;
  disp.on(SIGUSR1, [&](const sigrelay::signal_event& e) { cd.record(e); });
  disp.on(signo_of(rt_b), [&](const sigrelay::signal_event& e) { cd.record(e); });
  cd.dropped = [&disp](int signo) { return disp.dropped(signo); };
  disp.set_error_handler([](std::exception_ptr) { fail("dispatcher: a callback threw"); });
  disp.start();
  while (ready.load() < 3) usleep(1000);

  std::atomic<bool> side_stop{false};
  churn_stats churn;
  fork_stats forks;
  const auto guarded = [](const char* what, const std::function<void()>& body) {
    try {
      body();
    } catch (const std::exception& e) {
      fail("%s: %s", what, e.what());
    }
  };
  std::thread churn0([&] { guarded("churn objects", [&] { churn_objects(side_stop, churn); }); });
  std::thread churn1([&] { guarded("churn handles", [&] { churn_handles(side_stop, churn); }); });
  std::thread forker([&] { guarded("fork storm", [&] { fork_storm(side_stop, forks); }); });
  std::vector<std::thread> sender_threads;
  for (int t = kSenderProcs; t < kSenders; ++t) {
    sender_threads.emplace_back([t] {
      const long pidfd = sys_pidfd_open(getpid());
      if (pidfd < 0) {
        fail("sender thread: pidfd_open: %s", std::strerror(errno));
        return;
      }
      sender(t, true, static_cast<int>(pidfd)).run();
      close(static_cast<int>(pidfd));
    });
  }

  const auto start = clock_type::now();
  g_shared->go.store(1);

  // Checkpoints (see "Windows" at the top).
  std::uint64_t own_std_sent[2] = {};
  std::uint64_t windows = 0, windows_ok = 0;
  bool senders_running = true;
  const auto checkpoint = [&](bool final_one) {
    ++windows;
    if (senders_running) {
      g_shared->pause.store(1);
      const auto deadline = clock_type::now() + 60s;
      while (g_shared->paused.load() < kSenders && clock_type::now() < deadline) usleep(500);
      if (g_shared->paused.load() < kSenders) {
        fail("window %llu: only %d of %d senders paused", static_cast<unsigned long long>(windows),
             g_shared->paused.load(), kSenders);
      }
    }
    const std::uint64_t before[2] = {reg[usr1].load(), reg[usr2].load()};
    for (int s = usr1; s <= usr2; ++s) {
      if (kill(g_soak_pid, signo_of(s)) == 0) ++own_std_sent[s];
    }
    std::string why;
    std::vector<std::uint64_t> last, now;
    auto stable_since = clock_type::now();
    const auto deadline = clock_type::now() + 120s;
    for (;;) {
      why.clear();
      now.clear();
      const auto mismatch = [&](const char* what, const char* who, int s, std::uint64_t a, std::uint64_t b) {
        if (a != b && why.empty()) {
          why = std::string(what) + " " + who + " " + slot_name(s) + ": " + std::to_string(a) + " vs " +
                std::to_string(b);
        }
      };
      for (int s = usr1; s <= usr2; ++s) {
        if (reg[s].load() <= before[s] && why.empty())
          why = std::string("registry count of ") + slot_name(s) + " did not rise";
      }
      for (consumer* c : {&c0, &c1, &c2, &cd}) {
        for (int s = 0; s < kSlots; ++s) {
          if (!c->subscribed[s]) continue;
          const std::uint64_t got = c->count[s].load() + (is_rt(s) ? c->dropped(signo_of(s)) : 0);
          now.push_back(got);
          if (s != rt_c) mismatch("consumer vs registry:", c->name, s, got, reg[s].load());
          if (s == rt_c && !kUnderThreadSanitizer)
            mismatch("consumer vs accepted:", c->name, s, got, accepted_total(s));
        }
      }
      mismatch("wakeup_fd vs registry:", "W", usr2, wake_count.load(), reg[usr2].load() + reg[rt_a].load());
      for (int s = rt_a; s <= rt_b; ++s) {
        now.push_back(reg[s].load());
        if (!kUnderThreadSanitizer)
          mismatch("registry vs accepted:", "R", s, reg[s].load(), accepted_total(s));
      }
      if (now != last) {
        last = now;
        stable_since = clock_type::now();
      }
      // Under ThreadSanitizer some realtime sends never arrive (merged): wait for quiet instead.
      const bool quiet = !kUnderThreadSanitizer || clock_type::now() - stable_since > 500ms;
      if (why.empty() && quiet) break;
      if (clock_type::now() > deadline) {
        fail("window %llu did not settle in 120 s: %s", static_cast<unsigned long long>(windows),
             why.empty() ? "counts still moving" : why.c_str());
        break;
      }
      usleep(2000);
    }
    if (why.empty()) ++windows_ok;
    for (int s = usr1; s <= usr2; ++s) {
      if (reg[s].load() > accepted_total(s) + own_std_sent[s]) {
        fail("%s: %llu deliveries for %llu sends", slot_name(s),
             static_cast<unsigned long long>(reg[s].load()),
             static_cast<unsigned long long>(accepted_total(s) + own_std_sent[s]));
      }
    }
    if (!final_one) g_shared->pause.store(0);
  };

  const auto end = start + std::chrono::seconds(opt.seconds);
  for (auto next = start + std::chrono::seconds(opt.window); next < end;
       next += std::chrono::seconds(opt.window)) {
    std::this_thread::sleep_until(next);
    checkpoint(false);
  }
  std::this_thread::sleep_until(end);

  // Stop the senders, then the churn and the fork storm; then the final window.
  g_shared->stop.store(1);
  for (auto& t : sender_threads) t.join();
  senders_running = false;
  std::uint64_t procs_ok = 0;
  for (int p = 0; p < kSenderProcs; ++p) {
    const int status = reap(sender_pid[p]);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
      ++procs_ok;
    } else {
      fail("sender process %d: status 0x%x, expected exit 0", static_cast<int>(sender_pid[p]), status);
    }
  }
  side_stop.store(true);
  churn0.join();
  churn1.join();
  forker.join();
  checkpoint(true);
  const double elapsed = std::chrono::duration<double>(clock_type::now() - start).count();

  // The end, by a real SIGTERM: the termination's stop_token ends the consumers' waits.
  kill(g_soak_pid, SIGTERM);
  const auto stop_deadline = clock_type::now() + 60s;
  while (!term.stop_requested() && clock_type::now() < stop_deadline) usleep(1000);
  if (!term.stop_requested() || term.signal() != SIGTERM)
    fail("SIGTERM did not request the stop (signal %d)", term.signal());
  if (!term.stop_requested()) term.request_stop();
  t0.join();
  t1.join();
  t2.join();
  disp.stop();
  disp.join();
  for (int s = 0; s < kSlots; ++s)
    cd.final_dropped[s] = is_rt(s) && cd.subscribed[s] ? disp.dropped(signo_of(s)) : 0;
  wake_stop.store(true);
  wake_thread.join();
  for (const auto id : reg_ids) sigrelay::remove_action(id);
  sigrelay::remove_action(w1);
  sigrelay::remove_action(w2);

  // Reconciliation.
  const auto ull = [](std::uint64_t v) { return static_cast<unsigned long long>(v); };
  std::printf("\n== soak: %.0f s%s, %llu windows (%llu settled)\n", elapsed,
              kUnderThreadSanitizer ? " under ThreadSanitizer" : "", ull(windows), ull(windows_ok));
  if (windows_ok != windows)
    fail("%llu of %llu windows did not settle", ull(windows - windows_ok), ull(windows));

  std::printf("\nsenders          %12s %12s %12s %12s %12s %10s %8s\n", "SIGUSR1", "SIGUSR2", "RTMIN+1",
              "RTMIN+2", "RTMIN+3", "EAGAIN", "errors");
  std::uint64_t eagain_total = 0;
  for (int i = 0; i < kSenders; ++i) {
    sender_stats& st = g_shared->senders[i];
    const std::uint64_t eagain = st.rt_eagain[0].load() + st.rt_eagain[1].load() + st.rt_eagain[2].load();
    eagain_total += eagain;
    std::printf("%-7s %d        %12llu %12llu %12llu %12llu %12llu %10llu %8llu\n",
                i < kSenderProcs ? "process" : "thread", i, ull(st.std_sent[0].load()),
                ull(st.std_sent[1].load()), ull(st.rt_accepted[0].load()), ull(st.rt_accepted[1].load()),
                ull(st.rt_accepted[2].load()), ull(eagain), ull(st.errors.load()));
    if (st.errors.load() != 0) fail("sender %d: %llu sends failed (not EAGAIN)", i, ull(st.errors.load()));
  }
  std::printf(
      "total            %12llu %12llu %12llu %12llu %12llu %10llu   (+%llu/%llu own SIGUSR1/2 at windows)\n",
      ull(accepted_total(usr1)), ull(accepted_total(usr2)), ull(accepted_total(rt_a)),
      ull(accepted_total(rt_b)), ull(accepted_total(rt_c)), ull(eagain_total), ull(own_std_sent[0]),
      ull(own_std_sent[1]));
  std::printf("by method:");
  for (int m = 0; m < kMethods; ++m) {
    std::uint64_t n = 0;
    for (auto& st : g_shared->senders) n += st.by_method[m].load();
    std::printf(" %s %llu%s", method_names[m], ull(n), m + 1 < kMethods ? "," : "\n");
  }

  std::printf("\n%-38s %-8s %12s %10s %12s %10s %6s %8s\n", "consumer", "signal", "received", "dropped",
              "sent/acc.", "missing", "dup", kUnderThreadSanitizer ? "merged" : "");
  for (consumer* c : {&c0, &c1, &c2, &cd}) {
    if (c->unexpected != 0)
      fail("%s: %llu events of signals it did not subscribe", c->name, ull(c->unexpected));
    for (int s = 0; s < kSlots; ++s) {
      if (!c->subscribed[s]) continue;
      const std::uint64_t got = c->count[s].load();
      if (!is_rt(s)) {
        const std::uint64_t sent = accepted_total(s) + own_std_sent[s];
        std::printf("%-38s %-8s %12llu %10s %12llu\n", c->name, slot_name(s), ull(got), "-", ull(sent));
        if (got > sent || got == 0 || got != reg[s].load()) {
          fail("%s %s: received %llu, registry %llu, sent %llu", c->name, slot_name(s), ull(got),
               ull(reg[s].load()), ull(sent));
        }
        continue;
      }
      const int r = s - rt_a;
      std::uint64_t unique = 0, missing = 0, phantom = c->phantoms[r];
      // The first few missing payloads (sender << 28 | sequence), for the failure's report: with the
      // duplicates' payloads they tell which delivery carried which siginfo.
      std::uint32_t first_missing[4] = {};
      int missing_listed = 0;
      for (int id = 0; id < kSenders; ++id) {
        const std::uint64_t acc = g_shared->senders[id].rt_accepted[r].load();
        const std::vector<bool>& bits = c->seen[r][id];
        for (std::uint64_t q = 0; q < bits.size(); ++q) {
          if (!bits[q]) continue;
          if (q < acc) {
            ++unique;
          } else {
            ++phantom;
          }
        }
        for (std::uint64_t q = 0; q < acc && missing_listed < 4; ++q) {
          if (q >= bits.size() || !bits[q])
            first_missing[missing_listed++] =
                static_cast<std::uint32_t>(id) << kSeqBits | static_cast<std::uint32_t>(q);
        }
      }
      const std::uint64_t acc = accepted_total(s);
      missing = acc - unique;
      const std::uint64_t dropped = c->final_dropped[s];
      std::printf("%-38s %-8s %12llu %10llu %12llu %10llu %6llu", c->name, slot_name(s), ull(got),
                  ull(dropped), ull(acc), ull(missing), ull(c->duplicates[r]));
      if (kUnderThreadSanitizer)
        std::printf(" %8lld", static_cast<long long>(missing) - static_cast<long long>(dropped));
      std::printf("\n");
      if (c->duplicates[r] != 0 || phantom != 0 || c->bad_origin[r] != 0 || c->bad_count[r] != 0) {
        fail("%s %s: %llu duplicates, %llu never sent, %llu with a wrong origin, %llu with count != 1",
             c->name, slot_name(s), ull(c->duplicates[r]), ull(phantom), ull(c->bad_origin[r]),
             ull(c->bad_count[r]));
      }
      if (c->duplicates[r] != 0 || missing != dropped) {
        const std::lock_guard<std::mutex> lock(g_print);
        std::fprintf(stderr, "soak: %s %s: first payloads (hex) duplicated:", c->name, slot_name(s));
        for (std::uint64_t k = 0; k < std::min<std::uint64_t>(c->duplicates[r], 4); ++k)
          std::fprintf(stderr, " %x", c->first_duplicates[r][k]);
        std::fprintf(stderr, "; missing:");
        for (int k = 0; k < missing_listed; ++k) std::fprintf(stderr, " %x", first_missing[k]);
        std::fprintf(stderr, "\n");
      }
      if (got != unique + c->duplicates[r] + phantom)
        fail("%s %s: event count %llu != values seen", c->name, slot_name(s), ull(got));
      if (kUnderThreadSanitizer ? missing < dropped : missing != dropped) {
        fail("%s %s: %llu missing but %llu dropped", c->name, slot_name(s), ull(missing), ull(dropped));
      }
    }
  }
  std::printf("%-38s %-8s %12llu\n", "R registry add_count", "SIGUSR1", ull(reg[usr1].load()));
  std::printf("%-38s %-8s %12llu\n", "R registry add_count", "SIGUSR2", ull(reg[usr2].load()));
  std::printf("%-38s %-8s %12llu %10s %12llu\n", "R registry add_count", "RTMIN+1", ull(reg[rt_a].load()),
              "-", ull(accepted_total(rt_a)));
  std::printf("%-38s %-8s %12llu %10s %12llu\n", "R registry add_count", "RTMIN+2", ull(reg[rt_b].load()),
              "-", ull(accepted_total(rt_b)));
  std::printf("%-38s %-8s %12llu %10s %12llu\n", "W wakeup_fd", "USR2+RT1", ull(wake_count.load()), "-",
              ull(reg[usr2].load() + reg[rt_a].load()));
  for (int s = rt_a; s <= rt_b; ++s) {
    if (kUnderThreadSanitizer ? reg[s].load() > accepted_total(s) : reg[s].load() != accepted_total(s)) {
      fail("registry %s: %llu deliveries for %llu accepted sends", slot_name(s), ull(reg[s].load()),
           ull(accepted_total(s)));
    }
  }
  if (wake_count.load() != reg[usr2].load() + reg[rt_a].load())
    fail("wakeup_fd: %llu wake-ups", ull(wake_count.load()));

  std::printf("\nforks/spawns:");
  std::uint64_t fork_total = 0;
  for (int m = 0; m < fork_stats::kModes; ++m) {
    std::printf(" %s %llu/%llu%s", forks.names[m], ull(forks.as_expected[m]), ull(forks.runs[m]),
                m + 1 < fork_stats::kModes ? "," : "");
    fork_total += forks.runs[m];
  }
  std::printf(" (as expected/run); sender processes %llu/%d exited 0\n", ull(procs_ok), kSenderProcs);
  if (fork_total == 0) fail("the fork storm forked nothing");
  if (kUnderThreadSanitizer) {
    std::printf("ThreadSanitizer mask restores (not failures, see the notes): %llu\n",
                ull(g_tsan_mask_restores.load()));
  }
  std::printf(
      "churn: %llu add/remove_action, %llu signals objects, %llu handle add/remove, %llu moves, %llu "
      "dispatchers, "
      "%llu second terminations refused\n",
      ull(churn.actions.load()), ull(churn.objects.load()), ull(churn.handle_ops.load()),
      ull(churn.moves.load()), ull(churn.dispatchers.load()), ull(churn.termination_refusals.load()));
  if (churn.objects.load() == 0 || churn.handle_ops.load() == 0) fail("the churn did nothing");

  const int failures = g_failures.load();
  std::printf("\nsoak: %s (%d failure%s)\n", failures == 0 ? "PASS" : "FAIL", failures,
              failures == 1 ? "" : "s");
  std::fflush(stdout);
  return failures == 0 ? 0 : 1;
}

bool parse_unsigned(const char* text, unsigned& out) {
  char* end = nullptr;
  errno = 0;
  const unsigned long v = std::strtoul(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || v == 0 || v > 86400) return false;
  out = static_cast<unsigned>(v);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::strcmp(argv[1], "--check-clean") == 0) return check_clean();
  run_options opt;
  if (const char* env = std::getenv("SIGRELAY_SOAK_SECONDS");
      env != nullptr && !parse_unsigned(env, opt.seconds)) {
    std::fprintf(stderr, "soak: bad SIGRELAY_SOAK_SECONDS '%s'\n", env);
    return 2;
  }
  for (int i = 1; i < argc; i += 2) {  // options and their values
    const bool seconds = std::strcmp(argv[i], "--seconds") == 0,
               window = std::strcmp(argv[i], "--window") == 0;
    if ((!seconds && !window) || i + 1 == argc ||
        !parse_unsigned(argv[i + 1], seconds ? opt.seconds : opt.window)) {
      std::fprintf(stderr, "usage: soak [--seconds N] [--window S] | soak --check-clean\n");
      return 2;
    }
  }
  char exe[4096];
  const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) {
    std::perror("soak: readlink /proc/self/exe");
    return 2;
  }
  g_self_exe.assign(exe, static_cast<std::size_t>(n));

  // A known signal state (a caller may hand us signals ignored or blocked), then the soak in a child
  // under a watchdog: the run's length plus 10 minutes for the windows and the teardown.
  for (const int signo : soak_signals()) signal(signo, SIG_DFL);
  signal(SIGCHLD, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  pthread_sigmask(SIG_SETMASK, &none, nullptr);
  std::fflush(nullptr);
  const pid_t child = fork();
  if (child < 0) {
    std::perror("soak: fork");
    return 2;
  }
  if (child == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int rc = 3;
    try {
      rc = soak(opt);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "soak: FAIL: %s\n", e.what());
    }
    std::fflush(nullptr);
    _exit(rc);
  }
  int status = 0;
  const auto deadline = clock_type::now() + std::chrono::seconds(opt.seconds) + 10min;
  for (;;) {
    const pid_t r = waitpid(child, &status, WNOHANG);
    if (r == child) break;
    if (clock_type::now() > deadline) {
      std::fprintf(stderr, "soak: FAIL: the soak process outlived its deadline; killing it\n");
      kill(child, SIGKILL);  // our own child, by its pid
      waitpid(child, &status, 0);
      return 1;
    }
    usleep(100000);
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  std::fprintf(stderr, "soak: FAIL: the soak process was killed by %s\n",
               sigrelay::signal_name(WTERMSIG(status)).data());
  return 1;
}
