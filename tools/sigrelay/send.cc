// SPDX-License-Identifier: MIT
// tools/sigrelay/send.cc — `sigrelay send SIG PID...`: kill, sigqueue, tgkill or pidfd_send_signal.
//
// Design notes
// - One mode per call, chosen by the options, each the plain system call so that the receiver sees
//   exactly what the name promises:
//     (none)             kill(pid, sig)                 receiver: si_code SI_USER
//     --value N          sigqueue(pid, sig, N)          SI_QUEUE, si_value N
//     --thread TID       tgkill(pid, TID, sig)          SI_TKILL (6.18 reports SI_USER), that thread only
//     --thread + --value rt_tgsigqueueinfo()            SI_QUEUE, si_value N, to that thread only
//     --pidfd            pidfd_open + pidfd_send_signal SI_USER (the kernel fills it as for kill)
//     --pidfd + --value  pidfd_send_signal with a siginfo of SI_QUEUE and the value
//   --pidfd is race-free against pid reuse only between its own open and send: the pid is still a
//   number given on the command line (a recycled pid is refused only if it was recycled before).
// - Every PID is tried even if an earlier one fails; the exit status is 1 if any failed, and each
//   failure is one line on stderr: "sigrelay send: cannot send SIGUSR1 to pid 42: No such process".
// - The sender's own pid and uid go into the siginfo of the --value modes (what sigqueue() does); a
//   receiver that checks them must still treat them as forgeable (see `sigrelay watch`).
// - SIG `0` is the null signal, as in kill(1)'s `kill -0` (and `-s 0`): every mode's system call
//   accepts it, sends nothing and says only whether the process (or thread) exists and may be
//   signalled. It is not a signal name (signal_number() refuses it, rightly, for every other use),
//   so it is read here, and only as the exact text "0".
#include "command.hpp"
#include "describe.hpp"

#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <system_error>

namespace sigrelay::tool {
namespace {

struct send_options {
  std::string signal;
  std::vector<std::string> pids;
  std::optional<int> value;
  std::string thread;
  bool pidfd = false;
};

std::system_error send_error(int err, int signo, const std::string& target) {
  return std::system_error(err, std::generic_category(),
                           "cannot send " + signal_label(signo) + " to " + target);
}

siginfo_t queue_info(int signo, int value) {
  siginfo_t info;
  std::memset(&info, 0, sizeof info);
  info.si_signo = signo;
  info.si_code = SI_QUEUE;
  info.si_pid = ::getpid();
  info.si_uid = ::getuid();
  info.si_value.sival_int = value;
  return info;
}

void send_one(const send_options& o, int signo, pid_t pid) {
  const std::string target = "pid " + std::to_string(pid);
  if (!o.thread.empty()) {
    const pid_t tid = parse_pid(o.thread);
    const std::string thread_target = target + " thread " + std::to_string(tid);
    long r;
    if (o.value) {
      siginfo_t info = queue_info(signo, *o.value);
      r = ::syscall(SYS_rt_tgsigqueueinfo, pid, tid, signo, &info);
    } else {
      r = ::syscall(SYS_tgkill, pid, tid, signo);
    }
    if (r != 0) throw send_error(errno, signo, thread_target);
    return;
  }
  if (o.pidfd) {
    const long fd = ::syscall(SYS_pidfd_open, pid, 0);
    if (fd < 0) throw send_error(errno, signo, target + " (pidfd_open)");
    siginfo_t info = queue_info(signo, o.value.value_or(0));
    const long r =
        ::syscall(SYS_pidfd_send_signal, static_cast<int>(fd), signo, o.value ? &info : nullptr, 0);
    const int err = errno;
    ::close(static_cast<int>(fd));
    if (r != 0) throw send_error(err, signo, target + " (pidfd_send_signal)");
    return;
  }
  if (o.value) {
    union sigval v {};
    v.sival_int = *o.value;
    if (::sigqueue(pid, signo, v) != 0) throw send_error(errno, signo, target);
    return;
  }
  if (::kill(pid, signo) != 0) throw send_error(errno, signo, target);
}

int run_send(const send_options& o) {
  int signo = 0;
  std::vector<pid_t> pids;
  try {
    signo = o.signal == "0" ? 0 : parse_signal(o.signal);  // 0: the null signal (notes above)
    for (const std::string& p : o.pids) pids.push_back(parse_pid(p));
    if (!o.thread.empty()) parse_pid(o.thread);
  } catch (const std::system_error& e) {
    std::cerr << "sigrelay send: " << e.what() << '\n';
    return 2;
  }
  if (!o.thread.empty() && pids.size() != 1) {
    std::cerr << "sigrelay send: --thread takes exactly one PID (the thread's process)\n";
    return 2;
  }
  if (!o.thread.empty() && o.pidfd) {
    std::cerr << "sigrelay send: --pidfd and --thread cannot be combined\n";
    return 2;
  }
  int status = 0;
  for (pid_t pid : pids) {
    try {
      send_one(o, signo, pid);
    } catch (const std::system_error& e) {
      std::cerr << "sigrelay send: " << e.what() << '\n';
      status = 1;
    }
  }
  return status;
}

void setup(CLI::App& app, int& status) {
  auto o = std::make_shared<send_options>();
  CLI::App* sub =
      app.add_subcommand("send", "Send a signal to processes or a thread, optionally with a value.");
  sub->add_option("SIG", o->signal,
                  "Signal name or number: TERM, SIGTERM, 15, RTMIN+2; 0 sends nothing and only checks "
                  "that each PID exists and may be signalled (kill -0).")
      ->required();
  sub->add_option("PID", o->pids, "Process ids to signal.")->required();
  sub->add_option("--value", o->value,
                  "Queue the signal with this integer payload (sigqueue; the receiver sees SI_QUEUE and "
                  "si_value).")
      ->type_name("N");
  sub->add_option("--thread", o->thread,
                  "Send to this thread id of the (single) PID only (tgkill; with --value, "
                  "rt_tgsigqueueinfo).")
      ->type_name("TID");
  sub->add_flag("--pidfd", o->pidfd, "Send through a pidfd (pidfd_open + pidfd_send_signal).");
  sub->footer(
      "DESCRIPTION\n"
      "  Sends SIG to each PID, like kill(1), and says why when it cannot. The receiver sees:\n"
      "    kill (default)   si_code SI_USER with our pid and uid, filled in by the kernel\n"
      "    --value N        si_code SI_QUEUE and si_value N (sigqueue)\n"
      "    --thread TID     delivered to that thread only (tgkill): si_code SI_TKILL (SI_USER on\n"
      "                     some recent kernels, such as 6.18)\n"
      "    --pidfd          as kill, through a process file descriptor\n"
      "  Every PID is tried; each failure is reported on its own line. SIG 0 sends nothing: the\n"
      "  status says whether every PID (or the thread) exists and may be signalled.\n"
      "\n"
      "EXIT STATUS\n"
      "  0 when every signal was sent, 1 when one could not be sent, 2 on a usage error.\n"
      "\n"
      "EXAMPLES\n"
      "  sigrelay send TERM 4242\n"
      "  sigrelay send RTMIN+1 --value 7 4242\n"
      "  sigrelay send USR1 --thread 4250 4242\n"
      "  sigrelay send 0 4242 || echo gone\n");
  sub->callback([o, &status] { status = run_send(*o); });
}

const registration reg{{"send", 40, &setup}};

}  // namespace
}  // namespace sigrelay::tool
