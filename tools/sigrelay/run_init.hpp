// SPDX-License-Identifier: MIT
// tools/sigrelay/run_init.hpp — the engine of `sigrelay run`: a signal-forwarding, zombie-reaping init.
//
// The three front ends (run.cc: `sigrelay run`; run_compat_tini.cc: tini's options; run_compat_dumb_init.cc:
// dumb-init's options) fill one init_options and call run_init(). What the engine does:
//
// Start
//   - Blocks every forwarded signal (below) and SIGCHLD, first thing, and takes them one at a time with
//     sigwaitinfo(): the init's own writes to a terminal never stop it (SIGTTOU is blocked), and
//     nothing is lost while the child starts (signals sent meanwhile wait in the kernel and are
//     forwarded once the child exists). Each SIGCHLD reaps with waitpid(-1, WNOHANG) until none is
//     left: every child, orphans included. In a mass exit (a waitpid() that took over 40 µs: the
//     kernel walked past many live children) the rest is reaped 1 ms later, so a zombie may wait
//     that much longer; the child's own end never waits. No signal handler is installed and no
//     disposition changed, except an inherited SIG_IGN of SIGCHLD, which becomes SIG_DFL in the init
//     (otherwise the kernel would reap the children itself and their statuses would be lost).
//   - Forwarded: every signal from 1 to SIGRTMAX except SIGKILL and SIGSTOP (uncatchable), SIGCHLD
//     (reaping), the synchronous fault signals SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP and SIGSYS
//     (left at their default action: one sent to the init kills it, as tini does) and the numbers the
//     C library reserves. By dialect, as the peers do: tini also leaves SIGABRT alone (a SIGABRT sent
//     to it kills it); dumb-init, which blocks and forwards everything, forwards the fault signals too
//     (a real fault of the init still kills it: the kernel unblocks a synchronous fault's signal). A
//     signal sent by the init to itself (si_pid == its pid, such as the SIGPIPE of a log write to a
//     closed pipe) is not forwarded.
//   - `new_session` (dumb-init's default): detaches the init from its controlling terminal
//     (TIOCNOTTY). If the init was that session's leader, the kernel sends its foreground group
//     SIGHUP and SIGCONT during that call: those pending right after it (the init's group was the
//     foreground one) are taken and not forwarded; every later SIGHUP and SIGCONT is forwarded.
//   - `parent_death_signal`: prctl(PR_SET_PDEATHSIG) on the init; when its parent dies the signal
//     arrives and is forwarded like any other (SIGKILL just kills the init).
//   - Subreaper: prctl(PR_SET_CHILD_SUBREAPER) with `subreaper`, or with `auto_subreaper` when the init
//     is not PID 1. Not PID 1 and not a subreaper: the dialect's warning that orphans are not reaped.
//   - `leave_working_directory` (dumb-init's dialect): the init chdir()s to "/", as dumb-init does,
//     so that it holds no reference to the directory it was started in (a volume there can be
//     unmounted); the child starts in that directory all the same (it fchdir()s back before exec).
//     The init has left before PROGRAM runs. A failure is only logged (debug).
//   - Scheduling: once the child has been forked, the init sets its own scheduler slice to 10 ms
//     (sched_setattr() with sched_runtime; Linux 6.12 and later, SCHED_OTHER only; its policy and nice
//     value are kept), so that the child, on the kernel's default slice, preempts the init when a
//     forwarded signal wakes it. The child's scheduling attributes are those the init was started
//     with. Where the kernel has no per-task slice, or the init runs under another policy, nothing
//     changes.
//   - Memory: once the child has been started (exec'd or failed), the init unmaps the pages of its own
//     program's read-only segments (code and constants) that start-up touched: madvise(MADV_DONTNEED)
//     over every page wholly inside a PT_LOAD segment without PF_W and outside PT_GNU_RELRO, of the
//     main program only (not of shared libraries). They stay in the page cache; the few the loop
//     runs are mapped again on their first use (a minor fault each, on the first signal or reaping).
//     Pages the process wrote cannot be in these segments; a breakpoint a debugger wrote into the
//     init's code before that point is lost with its page. A failing madvise() leaves them mapped.
//
// The child (fork, then execvp)
//   - Signal mask: exactly the mask the init was started with (saved first thing), never the init's
//     own blocks. Dispositions: those the init was started with (the init changes none, so an
//     inherited SIG_IGN of SIGINT stays ignored in the child; an inherited SIG_IGN of SIGCHLD is put
//     back in the child before exec).
//   - Terminal: `new_session`: setsid() and TIOCSCTTY (the child's session takes the terminal the
//     init let go of). Otherwise, with `own_process_group`, its own process group (setpgid), made the
//     terminal's foreground group (tcsetpgrp on stdin) if the init's group was the foreground one (a
//     background init never steals the terminal); no terminal is fine. Without it (dumb-init's
//     single-child mode) the child stays in the init's process group and session.
//   - stdin/stdout/stderr, the environment and the working directory are the init's.
//   - exec failure: the errno reaches the init through a close-on-exec pipe, and the init prints the
//     dialect's message; the child exits with exec_failure_status(): native 127 when not found
//     (ENOENT, ENOTDIR) and 126 for every other error (found but not executable: EACCES, ENOEXEC,
//     ...); tini 127 for ENOENT, 126 for EACCES, 1 otherwise; dumb-init 2. That status then passes
//     through as any exit status of the child (so -e applies to it, as in tini).
//
// Forwarding
//   Each signal taken (a delivery, or several of one standard signal that the kernel coalesced while
//   it was pending; each realtime delivery is queued and forwarded on its own) is forwarded once with
//   kill(): to the child, or with `signal_group` to its process group. `rewrite[signo]` replaces the number
//   first (0: dropped). With `stop_self_on_tty_signals`, after forwarding SIGTSTP, SIGTTIN or SIGTTOU the
//   init stops itself with SIGSTOP (a SIGCONT to the init continues it and is forwarded, waking the child).
//   `drop_tty_input_output` drops SIGTTIN and SIGTTOU (tini ignores them). At verbosity >= 1 (tini: 2)
//   each forwarded signal is logged with its sender: pid, uid, command name (/proc/PID/comm), and
//   trusted (sent by kill/tgkill or the kernel, so pid and uid are the kernel's word) or forgeable
//   (sigqueue: the sender wrote them). Realtime signals are forwarded by number; a sigqueue() value
//   is not carried over (kill() carries none, and a process group cannot be sigqueue()d).
//
// The end
//   When the child ends (orphans reaped meanwhile, each logged with `warn_reaped`), the init drops
//   every signal still pending for it (sent before the child's end was seen: the child it was for is
//   gone, and its pid may be another process's by now; tini and dumb-init do not forward them
//   either), then:
//   `term_group_on_exit`: sends SIGTERM (through `rewrite`) to the child's process group, for the
//   descendants left; `term_child_on_exit` (dumb-init's single-child mode): sends SIGTERM (through
//   `rewrite`) to the child itself, as dumb-init does (and logs it as dumb-init does), but through a
//   pidfd opened when the child was spawned: it can only reach that child, which is reaped by then,
//   so it is refused (ESRCH) and nothing is delivered. dumb-init's kill() of the reaped pid would
//   hit whatever process got that pid since. Then exits with the child's exit code, or 128+N if
//   signal N killed it, modulo 256; a status in `success_statuses` becomes 0. With `die_by_signal`
//   and a child killed by N, the init instead dies by N (sigrelay::relay::die_by_signal), so its
//   parent sees WIFSIGNALED; as PID 1 the kernel does not let the init die by its own signal, so it
//   exits 128+N then. Descendants that still run are not waited for (as tini and dumb-init): as PID
//   1, the namespace ends with the init and the kernel kills them.
#pragma once

#include <array>
#include <bitset>
#include <csignal>
#include <string>
#include <vector>

namespace sigrelay::tool::run {

// Whose messages, prefixes and exit statuses the init uses.
enum class dialect {
  native,     // "sigrelay run: ..." on stderr
  tini,       // "[FATAL tini (pid)] ...", "[WARN  tini (pid)] ..." on stderr; INFO/DEBUG on stdout
  dumb_init,  // "[dumb-init] ..." on stderr
};

struct init_options {
  std::vector<std::string> command;  // PROGRAM ARGS...; command[0] is looked up in PATH
  enum dialect dialect = dialect::native;
  // tini: 1 by default (warnings), 2 info, 3 debug. native: 0 by default (warnings and errors), 1 each
  // forwarded signal with its sender, 2 reaping and start-up details. dumb-init: 0 or 1 (everything).
  int verbosity = 0;
  bool subreaper = false;         // always register as a child subreaper
  bool auto_subreaper = false;    // register as one when not PID 1
  bool signal_group = false;      // forward to the child's process group (kill(-pid))
  bool new_session = false;       // dumb-init's setsid mode (see Start and The child)
  bool own_process_group = true;  // without new_session: the child gets its own process group
  bool stop_self_on_tty_signals = false;
  bool drop_tty_input_output = false;
  bool term_group_on_exit = false;
  bool term_child_on_exit = false;  // dumb-init's single-child mode (see The end)
  bool warn_reaped = false;
  bool leave_working_directory = false;  // chdir("/") once the child is forked (dumb-init)
  bool die_by_signal = false;
  int parent_death_signal = 0;
  std::array<int, NSIG> rewrite{};  // index: signal; -1 = unchanged, 0 = drop, else the new number
  std::bitset<256> success_statuses;
  init_options() { rewrite.fill(-1); }
};

// Runs the init; returns the status to exit with (or dies by the child's signal, see The end). Errors
// that prevent the start (prctl or fork failing) are printed in the dialect's words and return 1.
int run_init(const init_options& options);

// The status of a child whose execvp() failed with `err`, per dialect (see The child).
int exec_failure_status(dialect d, int err) noexcept;

}  // namespace sigrelay::tool::run
