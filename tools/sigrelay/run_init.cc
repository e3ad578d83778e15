// SPDX-License-Identifier: MIT
// tools/sigrelay/run_init.cc — the engine of `sigrelay run` (behaviour: run_init.hpp).
//
// Design notes
// - The lean loop, as the kernel makes fastest and as tini and dumb-init do it: every forwarded
//   signal and SIGCHLD is blocked (one sigprocmask() at start), and the loop takes them one at a
//   time with sigwaitinfo(). Per forwarded signal: one sigwaitinfo() and one kill(), nothing else (no
//   getpid(): the init's pid is read once; no allocation; the sender is described only when a log
//   line that shows it is enabled). Per
//   SIGCHLD: one sigwaitinfo() and waitpid(-1, WNOHANG) until it returns 0 (every zombie there is,
//   orphans included; in a mass exit, see below, it may pause), then one more sigwaitinfo(): a
//   SIGCHLD that arrives after the last waitpid() stays pending, so no exit is missed. No handler
//   of ours ever runs in signal context; the init's own writes never meet SIGTTOU/SIGTTIN
//   (blocked); signals that arrive before the child exists wait in the kernel and are forwarded
//   once it does. Blocked signals are never discarded by the kernel, even with SIG_DFL in a PID
//   namespace's init or an inherited SIG_IGN.
// - The CPU to the recipient: a scheduler slice of 10 ms for the init itself (sched_setattr()
//   with sched_runtime, Linux 6.12 and later; lengthen_own_slice()), set after the child is forked
//   so that the child keeps the slice it inherits from whoever started the init. The kernel
//   (EEVDF) lets a woken task with a shorter slice than the running one preempt it: the child,
//   woken by the kill(), runs at once, before the init is back in sigwaitinfo(), and the init, which
//   asks for nothing but runs a few µs per signal, loses nothing by the longer slice. A slice is
//   the task's own (sched_getattr() shows it, `chrt -p` does not); its policy and nice value stay as
//   they were, and under another policy (realtime, batch, idle) nothing is set. Older kernels
//   ignore sched_runtime for SCHED_OTHER: there the init forwards as tini does.
//   It replaces a sched_yield() after each kill() (429dd9b, 28d26a6), which put the init's deadline
//   back by a slice so the child ran first. Idle, it helped; but with another task busy on the CPU
//   (a container's init meets its signals while its program works), a signal that came before the
//   init was back in sigwaitinfo() waited out that task's slice: p99 3.9 ms. Side by side on one
//   CPU, 9 rounds × 2000 signals, µs from the sender's kill() to the child's sigwaitinfo(), median
//   [p99], slice against yield (bench/results/2026-12-05-init-slice, run 2; AMD EPYC VM, 6.18): a
//   CPU-bound task in the root cgroup, at rest 18.18 [43] and 21.53 [3,860] (tini 23.52 [57],
//   dumb-init 19.99 [47]), back to back 16.56 [41] and 23.85 [3,975]; idle, at rest, root cgroup
//   16.50 and 20.14 (tini 19.24, dumb-init 20.35), a container's cpu cgroup 19.50 and 21.10
//   (28.03, 26.50). Back to back (each signal sent as soon as the last one arrived, the child maybe
//   still on its way back to sigwaitinfo()): root cgroup 29.13 and 32.10 (tini 30.45, dumb-init
//   24.98: its child's new session is an autogroup of its own, which preempts the init at the
//   kill(); `--compat=dumb-init` does the same, 23.86), a container's cgroup 21.65 and 20.91 (tini
//   20.75, dumb-init 24.25): the one setting where the yield was ahead. A trace of the scheduler's
//   switches there (sched_switch, sched_wakeup, signal_generate; bench/results/2026-12-05-init-slice,
//   trace_seq.py): the sender is outside the container's cpu cgroup, and with the slice the init's
//   wake-up preempted the sender inside its kill() in 511 of 1,011 forwardings (with the yield 38);
//   after the init's kill() of the child the sender then ran first, to its wait, and the child only
//   after it (438 of the 511). Native `-vv` says whether the slice was set.
// - Reaping in a mass exit. waitpid(-1) walks the init's list of children from its head (the oldest
//   first, orphans in the order they were re-parented) to the first zombie. While thousands of
//   orphans are still exiting, the live ones ahead of the zombies make each reap a long walk: in
//   bench/init (10,000 orphans released at once) one reap took 4 µs when the init came late and
//   found only zombies, but 55 µs on average in the runs where it came early (one scan of 10,000
//   reaps, 546 ms of CPU, counted with clock_gettime() around each waitpid()); which of the two a
//   run gets is the scheduler's doing, for tini and dumb-init alike (their loop is the same). So a
//   reap slower than 40 µs puts the rest off for 1 ms: the init sleeps (still forwarding signals at
//   once; a SIGCHLD meanwhile changes nothing), the exits go on without it, and it scans again when
//   the pause is over. A zombie then waits at most about 1 ms longer; the child's own end is never
//   put off (the scan goes on to the end once the child is reaped). Measured in bench/init, 2 × 11
//   repetitions side by side (bench/results/2026-12-03-reaping-pause): the slowest repetition 309
//   and 303 ms against 848 and 554 ms for the loop without the pause (tini 579 and 843, dumb-init
//   566 and 679), the init's CPU at most 138 ms (722 and 434 without), the median level (235 and
//   245 ms; without: 429 and 231; tini 237 and 418; dumb-init 253 and 237). Tried and not kept: a
//   20 µs/2 ms pair (median 19–64 ms behind the loop without a pause in 4 of 5 runs); reaping the
//   pid a SIGCHLD's siginfo names with one waitpid(pid) (the exits are coalesced: 3 SIGCHLDs for
//   10,000 orphans in the slow runs); reaping every pid listed in /proc/self/task/PID/children (no
//   walk, but 7 µs a waitpid() during the exits, and /proc must be the init's own PID namespace's).
// - Which parts of the library the init uses, and why the rest is bypassed. Used: signal_name()
//   (which numbers are real signals, and the names in messages), origin_of() (the sender of a
//   siginfo in words, called only when a log line shows the sender: it makes a getpid()), to_string() of
//   origin_kind, relay::die_by_signal() (--die-by-signal). Bypassed: the `signals` object and the
//   `children` watcher. Measured with strace -c on the previous engine, which used both on the
//   signalfd backend: 12 system calls per forwarded signal (poll, read of the signalfd and reads that
//   end in EAGAIN, four getpid(), rt_sigprocmask, a wait4 on every wake-up) where this loop makes 2;
//   and reaping 10,000 orphans built a vector of 10,000 events (brk/mmap) and made a getpid() per
//   batch. Those objects are general (any thread, several subscribers, a ring with counted overflow,
//   handler-side holding, fork handlers); an init that is single-threaded and owns the whole process
//   needs none of it. The mask handed to the child is the one the init was started with (saved by the
//   same sigprocmask() that blocks), which is what restore_signal_mask()/spawn_attr would compute, but
//   the child must also setsid()/setpgid()/tcsetpgrp() before exec, which posix_spawn cannot all do:
//   fork() and run_fork_child.cc.
// - RSS (issue 11: within tini's). The program is linked statically (no shared libstdc++ to load),
//   so what the idle init keeps mapped is mostly its own code: the kernel maps file pages 64 KiB
//   around each one touched (fault-around), and start-up (option parsing, fork, messages) touches
//   code spread over most of the 1.9 MiB text segment. Measured in /proc/PID/smaps of an idle init:
//   1,276 KiB of code, 224 of constants, 56 anonymous, 1,620 in all (tini: 1,328, of which 1,208
//   are shared C library pages). Hence release_read_only_pages() after the start (run_init.hpp,
//   Memory): 496 KiB idle, 752 once forwarding and reaping have run. MADV_RANDOM on the code does not
//   turn fault-around off on the kernels measured (6.18), so it is not used. The pages stay in the
//   page cache; only the init's mappings of them go.
// - Dispositions: the init changes none, so the child execs with those the init was started with
//   (an inherited SIG_IGN of SIGINT stays ignored). The one exception: an inherited SIG_IGN of SIGCHLD
//   would make the kernel reap the children itself (no status to pass on): the init sets SIG_DFL
//   and the child puts SIG_IGN back before exec.
// - Exec failure is reported through a close-on-exec pipe: the parent reads until EOF (exec happened)
//   or an errno. Reading it before the first forwarding also means the child has done its setsid()/
//   setpgid(), so a kill(-pid) never races the group's creation.
// - The parent calls setpgid(child, child) too, as shells do, except in setsid mode (a process group
//   leader cannot setsid()).
// - Signals before the child's end: sigwaitinfo() hands out the lowest pending number first, so a
//   SIGCHLD (17) can come before a pending SIGWINCH or realtime signal. When the reaping finds the
//   child gone, the init takes every forwarded signal still pending (sigtimedwait() with a zero
//   timeout) and drops it (`sigrelay run` logs each at debug level; in tini's and dumb-init's
//   dialects, silently, as they do), as tini and dumb-init leave them: the child it was
//   for has ended, its pid may be another process's by now (a kill() of it would hit that one), and a
//   TSTP/TTIN/TTOU would stop an init that has nothing left to wait for. (It used to forward them:
//   found by tools/sigrelay/tests/run_pid1_audit_test.cc.)
#include "run_init.hpp"

#include <fcntl.h>
#include <link.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sigrelay/registry.hpp>
#include <sigrelay/relays.hpp>
#include <sigrelay/signals.hpp>

#include <cerrno>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

#include "run_fork_child.hpp"
#include "sched_attributes.hpp"

namespace sigrelay::tool::run {
namespace {

enum class level { fatal, warn, info, debug, trace };  // trace: tini's TRACE; debug elsewhere

// Messages in the dialect's words and streams.
class logger {
 public:
  logger(dialect d, int verbosity) : d_(d), v_(verbosity) {}

  bool enabled(level l) const {
    switch (d_) {
      case dialect::native:
        return l == level::fatal || l == level::warn || (l == level::info ? v_ >= 1 : v_ >= 2);
      case dialect::tini:  // tini: warnings from 1, info from 2, debug from 3, trace from 4
        return l == level::fatal || (l == level::warn && v_ > 0) || (l == level::info && v_ > 1) ||
               (l == level::debug && v_ > 2) || (l == level::trace && v_ > 3);
      case dialect::dumb_init: return l == level::fatal || v_ > 0;
    }
    return false;
  }

  // `pid` appears in tini's prefix (the process that prints, as in tini).
  void print(level l, pid_t pid, const char* format, ...) const __attribute__((format(printf, 4, 5))) {
    if (!enabled(l)) return;
    char text[1024];
    va_list args;
    va_start(args, format);
    std::vsnprintf(text, sizeof text, format, args);
    va_end(args);
    std::FILE* out = stderr;
    switch (d_) {
      case dialect::native: std::fprintf(out, "sigrelay run: %s\n", text); break;
      case dialect::tini: {
        static const char* const names[] = {"FATAL", "WARN ", "INFO ", "DEBUG", "TRACE"};
        if (l == level::info || l == level::debug || l == level::trace) out = stdout;
        std::fprintf(out, "[%s tini (%d)] %s\n", names[static_cast<int>(l)], static_cast<int>(pid), text);
        break;
      }
      case dialect::dumb_init: std::fprintf(out, "[dumb-init] %s\n", text); break;
    }
    std::fflush(out);
  }

 private:
  dialect d_;
  int v_;
};

// The signals the init forwards (see run_init.hpp, Start): the fault signals by dialect, as tini
// and dumb-init do.
sigset_t forwarded_signals(dialect d) {
  sigset_t out;
  sigemptyset(&out);
  for (int signo = 1; signo <= SIGRTMAX; ++signo) {
    switch (signo) {
      case SIGKILL:
      case SIGSTOP:
      case SIGCHLD: continue;
      case SIGSEGV:
      case SIGBUS:
      case SIGILL:
      case SIGFPE:
      case SIGTRAP:
      case SIGSYS:
        if (d != dialect::dumb_init) continue;
        break;
      case SIGABRT:
        if (d == dialect::tini) continue;
        break;
      default: break;
    }
    if (sigrelay::signal_name(signo).empty()) continue;  // reserved by the C library
    sigaddset(&out, signo);
  }
  return out;
}

// Unmaps from the init the pages of the program's own read-only segments (its code and constants)
// that start-up mapped (MADV_DONTNEED; see the design notes). Only the main program (the first
// object dl_iterate_phdr() reports), only pages wholly inside a PT_LOAD segment without PF_W and
// outside PT_GNU_RELRO: never a page that can hold data the process wrote (a private mapping's
// written pages would be lost). Failures are ignored: the pages stay mapped, nothing else changes.
int release_read_only_pages(dl_phdr_info* info, std::size_t /*size*/, void* /*data*/) {
  const std::uintptr_t page = static_cast<std::uintptr_t>(sysconf(_SC_PAGESIZE));
  std::uintptr_t relro_begin = 0, relro_end = 0;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type == PT_GNU_RELRO) {
      relro_begin = (info->dlpi_addr + ph.p_vaddr) & ~(page - 1);
      relro_end = (info->dlpi_addr + ph.p_vaddr + ph.p_memsz + page - 1) & ~(page - 1);
    }
  }
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD || (ph.p_flags & PF_W) != 0) continue;
    std::uintptr_t begin = (info->dlpi_addr + ph.p_vaddr + page - 1) & ~(page - 1);
    std::uintptr_t end = (info->dlpi_addr + ph.p_vaddr + ph.p_filesz) & ~(page - 1);
    if (relro_end > relro_begin && begin < relro_end && relro_begin < end) {
      if (relro_begin > begin) {
        end = relro_begin;
      } else {
        begin = relro_end;
      }
    }
    if (end <= begin) continue;
    (void)madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
  }
  return 1;  // the main program only
}

// A whole small file (/proc), or "" if unreadable or larger than `limit` (open/read: no iostreams
// in the init).
std::string read_small_file(const char* path, std::size_t limit = 4096) {
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  std::string out;
  char buffer[512];
  for (;;) {
    const ssize_t n = read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || out.size() + static_cast<std::size_t>(n) > limit) {
      if (n != 0) out.clear();  // an error, or too large: unknown
      break;
    }
    out.append(buffer, static_cast<std::size_t>(n));
  }
  close(fd);
  return out;
}

// /proc/PID/comm without its newline, "?" if unreadable.
std::string command_name(pid_t pid) {
  if (pid <= 0) return "?";
  std::string name = read_small_file(("/proc/" + std::to_string(pid) + "/comm").c_str(), 64);
  if (name.empty()) return "?";
  if (name.back() == '\n') name.pop_back();
  return name;
}

// The init's own scheduler slice (design notes, the CPU to the recipient): longer than the kernel's
// base slice (0.7 or 0.75 ms, by kernel version, × (1 + log2 of the CPUs, at most 8): at most 3 ms; 1.4 ms
// on the 2-CPU machines measured), well below the kernel's 100 ms limit.
constexpr std::uint64_t kInitSliceNs = 10'000'000;

// Sets the init's own slice to kInitSliceNs, if it runs under SCHED_OTHER (not a realtime, batch or
// idle policy the caller chose), keeping its policy, nice value and flags as they are (read first).
// Called after the child is forked: a slice is inherited across fork(). The slice the kernel now
// reports, in ns: kInitSliceNs where the kernel has per-task slices, 0 where it has none (before
// 6.12, where sched_runtime is ignored for SCHED_OTHER) or where the policy is another; a failed call
// changes nothing.
std::uint64_t lengthen_own_slice() {
  sched_attributes attr{};
  if (syscall(SYS_sched_getattr, 0, &attr, sizeof attr, 0) != 0 || attr.sched_policy != SCHED_OTHER) return 0;
  attr.size = sizeof attr;
  attr.sched_runtime = kInitSliceNs;
  attr.sched_deadline = attr.sched_period = 0;
  if (syscall(SYS_sched_setattr, 0, &attr, 0) != 0) return 0;
  sched_attributes now{};
  if (syscall(SYS_sched_getattr, 0, &now, sizeof now, 0) != 0) return 0;
  return now.sched_runtime;
}

// "pid 77 (bash, uid 0, kill, trusted)", for the -v log line.
std::string describe_sender(const origin& o) {
  std::string out;
  if (o.pid == 0 && (o.kind == origin_kind::user || o.kind == origin_kind::thread)) {
    out = "a process outside the PID namespace (pid 0";
  } else if (o.pid == 0) {
    out = std::string("the kernel (") + std::string(to_string(o.kind));
    return out + ", si_code " + std::to_string(o.code) + ")";
  } else {
    out = "pid " + std::to_string(o.pid) + " (" + command_name(o.pid);
  }
  out += ", uid " + std::to_string(o.uid) + ", " + std::string(to_string(o.kind));
  out += o.trusted ? ", trusted)" : ", forgeable: sent with sigqueue)";
  return out;
}

std::string name_of(int signo) {
  const std::string_view n = sigrelay::signal_name(signo);
  return n.empty() ? "signal " + std::to_string(signo) : std::string(n);
}

bool is_tty_stop(int signo) { return signo == SIGTSTP || signo == SIGTTIN || signo == SIGTTOU; }

class init {
 public:
  explicit init(const init_options& o) : o_(o), log_(o.dialect, o.verbosity) {}

  int run() {
    // Block first thing: from here on every forwarded signal and SIGCHLD waits in the kernel for
    // sigwaitinfo(), and `started_with` is the mask the child gets back.
    forwarded_ = forwarded_signals(o_.dialect);
    sigset_t blocked = forwarded_;
    sigaddset(&blocked, SIGCHLD);
    sigset_t started_with;
    sigprocmask(SIG_BLOCK, &blocked, &started_with);
    waited_ = blocked;
    // An inherited SIG_IGN of SIGCHLD would have the kernel reap the children itself.
    struct sigaction chld {};
    if (sigaction(SIGCHLD, nullptr, &chld) == 0 && chld.sa_handler == SIG_IGN) {
      struct sigaction dfl {};
      dfl.sa_handler = SIG_DFL;
      sigemptyset(&dfl.sa_mask);
      sigaction(SIGCHLD, &dfl, nullptr);
      sigchld_ignored_ = true;
    }
    if (o_.new_session) detach_from_terminal();
    if (o_.parent_death_signal != 0 && prctl(PR_SET_PDEATHSIG, o_.parent_death_signal) != 0) {
      log_.print(level::fatal, self_, "%s",
                 o_.dialect == dialect::tini ? "Failed to set up parent death signal"
                                             : "cannot set the parent-death signal");
      return 1;
    }
    if (!become_reaper()) return 1;

    if (!spawn(started_with)) return 1;
    // After the fork: the child keeps the slice the init was started with (design notes).
    const std::uint64_t slice = lengthen_own_slice();
    if (o_.dialect == dialect::native) {
      if (slice == kInitSliceNs) {
        log_.print(level::debug, self_, "scheduler slice of the init: %llu ms (the child's is its own)",
                   static_cast<unsigned long long>(slice / 1'000'000));
      } else {
        log_.print(level::debug, self_, "scheduler slice of the init: unchanged (%s)",
                   slice == 0 ? "no per-task slice here, or not SCHED_OTHER" : "the kernel chose another");
      }
    }
    dl_iterate_phdr(&release_read_only_pages, nullptr);  // start-up is over (design notes)
    return loop();
  }

 private:
  void detach_from_terminal() {
    if (ioctl(STDIN_FILENO, TIOCNOTTY) == -1) {
      const int err = errno;
      if (o_.dialect == dialect::dumb_init) {
        log_.print(level::debug, self_, "Unable to detach from controlling tty (errno=%d %s).", err,
                   std::strerror(err));
      } else {
        log_.print(level::debug, self_, "no controlling terminal to hand over (%s)", std::strerror(err));
      }
      return;
    }
    if (getsid(0) == self_) {
      // The kernel sent SIGHUP and SIGCONT to the terminal's foreground group, inside the ioctl: if
      // that is us, they are pending now (blocked since the start). Taken here, at once: ignoring
      // "the first SIGHUP and SIGCONT" later (dumb-init's way) took a real SIGCONT for the hand-off's
      // when a stop signal had discarded the pending one (the kernel discards a pending SIGCONT on a
      // stop signal), and swallowed real ones when we were not in the foreground. The child does not
      // exist yet: nothing else is for it.
      log_.print(
          level::debug, self_, "%s",
          o_.dialect == dialect::dumb_init
              ? "Detached from controlling tty, ignoring the first SIGHUP and SIGCONT we receive."
              : "detached from the terminal as session leader: its SIGHUP and SIGCONT are not forwarded");
      take_hand_off_signals();
    } else {
      log_.print(level::debug, self_, "%s",
                 o_.dialect == dialect::dumb_init
                     ? "Detached from controlling tty, but was not session leader."
                     : "detached from the terminal (not the session leader)");
    }
  }

  bool become_reaper() {
    const bool pid1 = self_ == 1;
    if (o_.subreaper || (o_.auto_subreaper && !pid1)) {
      if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
        const int err = errno;
        if (o_.dialect == dialect::tini) {
          if (err == EINVAL) {
            log_.print(level::fatal, self_,
                       "PR_SET_CHILD_SUBREAPER is unavailable on this platform. Are you using Linux >= 3.4?");
          } else {
            log_.print(level::fatal, self_, "Failed to register as child subreaper: %s", std::strerror(err));
          }
        } else {
          log_.print(level::fatal, self_, "cannot become a child subreaper: %s", std::strerror(err));
        }
        return false;
      }
      log_.print(
          level::trace, self_, "%s",
          o_.dialect == dialect::tini ? "Registered as child subreaper" : "registered as a child subreaper");
      return true;
    }
    if (pid1 || o_.dialect == dialect::dumb_init) return true;
    int bit = 0;
    if (prctl(PR_GET_CHILD_SUBREAPER, &bit) == 0 && bit == 1) return true;
    if (o_.dialect == dialect::tini) {
      log_.print(level::warn, self_, "%s",
                 "Tini is not running as PID 1 and isn't registered as a child subreaper.\n"
                 "Zombie processes will not be re-parented to Tini, so zombie reaping won't work.\n"
                 "To fix the problem, use the -s option or set the environment variable TINI_SUBREAPER to "
                 "register Tini as a child subreaper, or run Tini as PID 1.");
    } else {
      log_.print(level::warn, self_, "%s",
                 "not PID 1 and not a child subreaper: orphaned descendants will not be reaped by this init");
    }
    return true;
  }

  bool spawn(const sigset_t& started_with) {
    std::vector<char*> argv;
    for (const std::string& a : o_.command) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0) {
      log_.print(level::fatal, self_, "pipe failed: %s", std::strerror(errno));
      return false;
    }
    fork_plan plan;
    plan.argv = argv.data();
    plan.mask = started_with;
    plan.new_session = o_.new_session;
    plan.own_group = o_.own_process_group;
    plan.take_foreground = !o_.new_session && o_.own_process_group && tcgetpgrp(STDIN_FILENO) == getpgrp();
    plan.error_fd = pipefd[1];
    plan.style = o_.dialect;
    plan.ignore_sigchld = sigchld_ignored_;
    plan.say_setsid = o_.dialect == dialect::dumb_init && log_.enabled(level::debug);
    // leave_working_directory: the init goes to "/" before the fork and the child back to the
    // directory with fchdir(), so that the init has left it before PROGRAM runs (dumb-init chdir()s
    // after its fork, racing its child: a program that looked at once could still see it there).
    int chdir_error = 0;
    if (o_.leave_working_directory) {
      plan.cwd_fd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
      if (plan.cwd_fd < 0 || chdir("/") != 0) {
        chdir_error = errno;
        if (plan.cwd_fd >= 0) close(plan.cwd_fd);
        plan.cwd_fd = -1;
      }
    }
    std::fflush(nullptr);
    const pid_t pid = fork();
    if (pid == 0) become_child(plan);
    if (plan.cwd_fd >= 0) close(plan.cwd_fd);
    if (pid < 0) {
      const int err = errno;
      close(pipefd[0]);
      close(pipefd[1]);
      log_.print(level::fatal, self_, o_.dialect == dialect::tini ? "fork failed: %s" : "cannot fork: %s",
                 std::strerror(err));
      return false;
    }
    close(pipefd[1]);
    child_ = pid;
    // (The child cannot have been reaped yet: only this thread reaps. Close-on-exec by default.)
    if (o_.term_child_on_exit) child_pidfd_ = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
    // dumb-init and tini say so at once, before the child's own lines and whether or not its exec
    // works (the fork did: a child process was spawned).
    if (o_.dialect == dialect::dumb_init) log_.print(level::debug, self_, "Child spawned with PID %d.", pid);
    if (chdir_error != 0) {
      log_.print(level::debug, self_, "Unable to chdir(\"/\") (errno=%d %s)", chdir_error,
                 std::strerror(chdir_error));
    }
    const char* prog = argv[0];
    if (o_.dialect == dialect::tini)
      log_.print(level::info, self_, "Spawned child process '%s' with pid '%d'", prog, static_cast<int>(pid));
    if (!o_.new_session && o_.own_process_group)
      (void)setpgid(pid, pid);  // EACCES once it has exec'd: then it did it itself
    int err = 0;
    std::size_t got = 0;
    while (got < sizeof err) {
      const ssize_t n = read(pipefd[0], reinterpret_cast<char*>(&err) + got, sizeof err - got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += static_cast<std::size_t>(n);
    }
    close(pipefd[0]);
    if (got == sizeof err) {
      switch (o_.dialect) {
        case dialect::tini:
          log_.print(level::fatal, pid, "exec %s failed: %s", prog, std::strerror(err));
          break;
        case dialect::dumb_init: log_.print(level::fatal, pid, "%s: %s", prog, std::strerror(err)); break;
        case dialect::native:
          log_.print(level::fatal, pid, "cannot run %s: %s (%s, exit status %d)", prog, std::strerror(err),
                     exec_failure_status(dialect::native, err) == 127 ? "not found" : "not executable",
                     exec_failure_status(dialect::native, err));
          break;
      }
    } else if (o_.dialect == dialect::native) {  // tini and dumb-init said so at the fork
      log_.print(level::debug, self_, "started %s as pid %d", prog, pid);
    }
    return true;
  }

  // `from`: the siginfo of the delivery, nullptr when the init sends on its own account. `pidfd`:
  // send through it (pidfd_send_signal()) instead of kill() of the child or its group.
  void forward(int signo, const siginfo_t* from, int pidfd = -1) {
    int target = signo;
    if (signo < static_cast<int>(o_.rewrite.size()) && o_.rewrite[signo] != -1) {
      target = o_.rewrite[signo];
      if (o_.dialect == dialect::dumb_init) {
        log_.print(level::debug, self_, "Translating signal %d to %d.", signo, target);
      }
    }
    if (target == 0) {
      // dumb-init names the signal after its translation, so always 0: its line, as it prints it.
      log_.print(o_.dialect == dialect::native ? level::info : level::debug, self_,
                 o_.dialect == dialect::dumb_init ? "Not forwarding signal %d to children (ignored)."
                                                  : "not forwarding signal %d (rewritten to 0)",
                 o_.dialect == dialect::dumb_init ? target : signo);
      return;
    }
    const pid_t dest = o_.signal_group ? -child_ : child_;
    const int r = pidfd >= 0 ? static_cast<int>(syscall(SYS_pidfd_send_signal, pidfd, target, nullptr, 0))
                             : kill(dest, target);
    const int err = errno;
    // Quiet (the usual case): no log line below is enabled, except tini's warning about a dead child.
    // Return before anything is formatted: no name, no strsignal(), no /proc read.
    if (!log_.enabled(level::info) && !(o_.dialect == dialect::tini && r != 0)) return;
    const std::string sender =
        from != nullptr ? describe_sender(origin_of(*from)) : std::string("the init itself");
    switch (o_.dialect) {
      case dialect::tini:
        log_.print(level::debug, self_, "Passing signal: '%s'", strsignal(target));
        log_.print(level::info, self_, "Forwarded %s from %s to %s %d", name_of(target).c_str(),
                   sender.c_str(), o_.signal_group ? "process group" : "pid", static_cast<int>(child_));
        if (r != 0 && err == ESRCH) log_.print(level::warn, self_, "Child was dead when forwarding signal");
        break;
      case dialect::dumb_init:
        log_.print(level::debug, self_, "Forwarded signal %d to children.", target);
        if (from != nullptr)
          log_.print(level::debug, self_, "Signal %d was sent by %s.", signo, sender.c_str());
        break;
      case dialect::native:
        if (r != 0) {
          log_.print(level::info, self_, "%s from %s: not forwarded, %s %d is gone", name_of(signo).c_str(),
                     sender.c_str(), o_.signal_group ? "process group" : "pid", static_cast<int>(child_));
        } else {
          log_.print(level::info, self_, "%s from %s -> %s%s %d", name_of(signo).c_str(), sender.c_str(),
                     target == signo ? "" : (name_of(target) + " to ").c_str(),
                     o_.signal_group ? "process group" : "pid", static_cast<int>(child_));
        }
        break;
    }
  }

  void on_signal(const siginfo_t& info) {
    const int signo = info.si_signo;
    // The kernel's SIGPIPE of a write of ours (a log line to a closed stderr: SI_USER from us) is
    // dropped before any log line: logging it raised another, which sigwaitinfo() (lowest number
    // first) took again before SIGCHLD or SIGTERM, for ever, at 100% CPU.
    if (signo == SIGPIPE && info.si_code <= 0 && info.si_pid == self_ && self_ != 0) return;
    if (o_.dialect == dialect::dumb_init) log_.print(level::debug, self_, "Received signal %d.", signo);
    // Sent by the init to itself (kill/tgkill/sigqueue, or the kernel's SIGPIPE of a write of ours,
    // which also reads as SI_USER from us). origin_of() would cost a getpid() per signal.
    if (info.si_code <= 0 && info.si_pid == self_ && self_ != 0) {
      log_.print(level::debug, self_, "not forwarding %s: the init sent it to itself",
                 name_of(signo).c_str());
      return;
    }
    if (o_.drop_tty_input_output && (signo == SIGTTIN || signo == SIGTTOU)) return;
    forward(signo, &info);
    if (o_.stop_self_on_tty_signals && is_tty_stop(signo)) {
      log_.print(level::debug, self_, "%s",
                 o_.dialect == dialect::dumb_init ? "Suspending self due to TTY signal."
                                                  : "stopping self (SIGSTOP)");
      kill(self_, SIGSTOP);
    }
  }

  // One reaped process and its wait status. Returns true if it was the child (status_ set).
  bool on_child(pid_t reaped, int wait_status) {
    const bool exited = WIFEXITED(wait_status);
    const int code = exited ? WEXITSTATUS(wait_status) : WTERMSIG(wait_status);
    // tini says this of every process it reaps, the child included, before anything else about it.
    if (o_.dialect == dialect::tini)
      log_.print(level::debug, self_, "Reaped child with pid: '%d'", static_cast<int>(reaped));
    if (reaped != child_) {
      if (o_.warn_reaped) {
        log_.print(
            level::warn, self_,
            o_.dialect == dialect::native ? "reaped orphan pid %d" : "Reaped zombie process with pid=%d",
            static_cast<int>(reaped));
      } else if (o_.dialect == dialect::native) {
        log_.print(level::debug, self_, "reaped orphan pid %d", static_cast<int>(reaped));
      }
      if (o_.dialect == dialect::dumb_init) {
        if (exited) {
          log_.print(level::debug, self_, "A child with PID %d exited with exit status %d.",
                     static_cast<int>(reaped), code);
        } else {
          log_.print(level::debug, self_, "A child with PID %d was terminated by signal %d.",
                     static_cast<int>(reaped), code);
        }
      }
      return false;
    }
    killed_by_ = exited ? 0 : code;
    int status = exited ? code : 128 + code;
    switch (o_.dialect) {
      case dialect::tini:
        if (killed_by_ != 0) {
          log_.print(level::info, self_, "Main child exited with signal (with signal '%s')", strsignal(code));
        } else {
          log_.print(level::info, self_, "Main child exited normally (with status '%d')", code);
        }
        break;
      case dialect::dumb_init:
        if (killed_by_ != 0) {
          log_.print(level::debug, self_, "A child with PID %d was terminated by signal %d.",
                     static_cast<int>(reaped), code);
        } else {
          log_.print(level::debug, self_, "A child with PID %d exited with exit status %d.",
                     static_cast<int>(reaped), code);
        }
        break;
      case dialect::native:
        log_.print(level::debug, self_, "pid %d %s %d", static_cast<int>(reaped),
                   killed_by_ != 0 ? "was killed by signal" : "exited with", code);
        break;
    }
    status %= 256;
    if (o_.success_statuses.test(static_cast<std::size_t>(status))) status = 0;
    status_ = status;
    return true;
  }

  // The hot loop (see the design notes): one sigwaitinfo() per signal, one kill() per forwarding,
  // waitpid(-1, WNOHANG) until 0 per SIGCHLD. While reaping is put off (a mass exit: "Reaping" in the
  // design notes) the wait ends when it is due, and a SIGCHLD meanwhile changes nothing.
  int loop() {
    for (;;) {
      siginfo_t info;
      int signo = 0;
      if (reap_due_ns_ < 0) {
        signo = sigwaitinfo(&waited_, &info);
      } else {
        const long long left = reap_due_ns_ - now_ns();
        if (left > 0) {
          const timespec timeout{0, static_cast<long>(left)};  // left <= kReapPause_ns < 1 s
          signo = sigtimedwait(&waited_, &info, &timeout);
        }
        if (left <= 0 || (signo < 0 && errno == EAGAIN)) {
          if (reap()) return end();
          continue;
        }
      }
      if (signo < 0) {
        if (errno == EINTR) continue;  // a SIGSTOP/SIGCONT of the init interrupts the wait
        log_.print(level::fatal, self_, "sigwaitinfo failed: %s", std::strerror(errno));
        return 1;
      }
      if (signo != SIGCHLD) {
        on_signal(info);
        continue;
      }
      if (o_.dialect == dialect::tini) log_.print(level::debug, self_, "%s", "Received SIGCHLD");
      if (o_.dialect == dialect::dumb_init) log_.print(level::debug, self_, "Received signal %d.", signo);
      if (reap_due_ns_ >= 0) continue;  // the reaping put off finds this child too, when it is due
      if (reap()) return end();
    }
  }

  // Takes the SIGHUP and SIGCONT that the terminal hand-off left pending (detach_from_terminal()).
  void take_hand_off_signals() {
    sigset_t hand_off;
    sigemptyset(&hand_off);
    sigaddset(&hand_off, SIGHUP);
    sigaddset(&hand_off, SIGCONT);
    take_pending(hand_off, [this](const siginfo_t& info) {
      log_.print(level::debug, self_,
                 o_.dialect == dialect::dumb_init
                     ? "Ignoring tty hand-off signal %d."
                     : "not forwarding signal %d: caused by the terminal hand-off",
                 info.si_signo);
    });
  }

  // Takes every signal of `set` pending now (sigtimedwait() with a zero timeout), each to `taken`.
  template <typename F>
  void take_pending(const sigset_t& set, F taken) {
    const timespec zero{0, 0};
    siginfo_t info;
    for (;;) {
      if (sigtimedwait(&set, &info, &zero) > 0) {
        taken(info);
      } else if (errno != EINTR) {
        return;
      }
    }
  }

  int end() {
    drop_still_pending();
    return finish();
  }

  // Reaps every zombie there is; true if the child was one of them. A reap that took longer than
  // kSlowReap_ns (the kernel walked past many live children to find a zombie: a mass exit in
  // progress) puts the rest off for kReapPause_ns (design notes, "Reaping").
  bool reap() {
    reap_due_ns_ = -1;
    bool ended = false;
    for (;;) {
      int wait_status = 0;
      const long long start = now_ns();
      const pid_t reaped = waitpid(-1, &wait_status, WNOHANG);
      if (reaped > 0) {
        ended = on_child(reaped, wait_status) || ended;
        const long long took = now_ns() - start;
        if (ended || took < kSlowReap_ns) continue;  // the child's end is never put off
        if (o_.dialect == dialect::native) {         // (the peers' dialects print the peers' lines only)
          log_.print(level::debug, self_, "reaping put off for %lld ms: a wait took %lld us (a mass exit)",
                     kReapPause_ns / 1'000'000, took / 1000);
        }
        reap_due_ns_ = start + took + kReapPause_ns;
        return false;
      }
      if (reaped < 0 && errno == EINTR) continue;
      if (o_.dialect == dialect::tini)
        log_.print(level::trace, self_, "%s", reaped == 0 ? "No child to reap" : "No child to wait");
      return ended;  // 0: none left to reap now; ECHILD: no children at all
    }
  }

  static long long now_ns() noexcept {
    timespec t{};
    clock_gettime(CLOCK_MONOTONIC, &t);
    return static_cast<long long>(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
  }

  // The child is gone: what was sent to the init for it and is still pending is dropped (design notes).
  void drop_still_pending() {
    take_pending(forwarded_, [this](const siginfo_t& info) {
      // Not the SIGPIPE of a log write of ours (see on_signal()): logging it would raise another.
      if (info.si_signo == SIGPIPE && info.si_code <= 0 && info.si_pid == self_) return;
      // tini and dumb-init drop them without a word: in their dialects, so do we (their lines only).
      if (o_.dialect != dialect::native) return;
      log_.print(level::debug, self_, "%s not forwarded: the child has ended",
                 name_of(info.si_signo).c_str());
    });
  }

  int finish() {
    if (o_.term_group_on_exit) forward(SIGTERM, nullptr);  // the descendants left in its group
    // dumb-init's single-child mode: its SIGTERM to the child's pid after the reaping, made safe.
    if (o_.term_child_on_exit && child_pidfd_ >= 0) forward(SIGTERM, nullptr, child_pidfd_);
    switch (o_.dialect) {
      case dialect::dumb_init:
        log_.print(level::debug, self_, "Child exited with status %d. Goodbye.", status_);
        break;
      case dialect::tini: log_.print(level::trace, self_, "%s", "Exiting: child has exited"); break;
      case dialect::native: break;
    }
    if (o_.die_by_signal && killed_by_ != 0) {
      log_.print(level::debug, self_, "dying by %s, as the child did", name_of(killed_by_).c_str());
      std::fflush(nullptr);
      sigrelay::relay::die_by_signal(killed_by_);  // as PID 1: falls back to _exit(128 + N)
    }
    return status_;
  }

  const init_options& o_;
  logger log_;
  const pid_t self_ = getpid();
  sigset_t forwarded_{};          // the signals forwarded
  sigset_t waited_{};             // forwarded_ and SIGCHLD: all blocked
  bool sigchld_ignored_ = false;  // started with SIG_IGN for SIGCHLD (given back to the child)
  pid_t child_ = -1;
  int child_pidfd_ = -1;  // term_child_on_exit only: the child's pidfd (run_init.hpp, The end)
  int status_ = 0;
  int killed_by_ = 0;
  // Reaping in a mass exit (design notes): a reap slower than kSlowReap_ns puts the rest off by
  // kReapPause_ns; reap_due_ns_ is then when (CLOCK_MONOTONIC), else -1.
  static constexpr long long kSlowReap_ns = 40'000;
  static constexpr long long kReapPause_ns = 1'000'000;
  long long reap_due_ns_ = -1;
};

}  // namespace

int exec_failure_status(dialect d, int err) noexcept {
  switch (d) {
    case dialect::dumb_init: return 2;
    case dialect::tini: return err == ENOENT ? 127 : err == EACCES ? 126 : 1;
    case dialect::native: break;
  }
  return (err == ENOENT || err == ENOTDIR) ? 127 : 126;
}

int run_init(const init_options& options) { return init(options).run(); }

}  // namespace sigrelay::tool::run
