// SPDX-License-Identifier: MIT
// tools/sigrelay/watch.cc — `sigrelay watch`: print every signal a process receives, with its sender.
//
// Design notes
// - Observation by ptrace, never interference. Every thread of the process is traced with
//   PTRACE_SEIZE (options TRACECLONE, so new threads are traced from their first instruction, and
//   TRACEEXEC, so that a thread that execs under another tid is not waited for forever). In PROGRAM
//   mode also TRACEFORK and TRACEVFORK: every process PROGRAM forks (and each one those fork, and
//   their threads) is traced from its first instruction as well, so a line names the thread and the
//   process that received the signal, whichever descendant it is; `-p PID` traces that process's
//   threads only and leaves its children alone. A signal on
//   its way to a thread puts that thread in a signal-delivery-stop; we read its siginfo
//   (PTRACE_GETSIGINFO), print it, and resume the thread with the same signal number, which
//   re-injects the signal with its siginfo untouched (ptrace(2): the siginfo is kept when the signal
//   is not changed). So the process's handler, default action or ignore happens exactly as it would
//   have. A signal the process ignores is seen too: the kernel does not discard an ignored signal
//   sent to a traced thread, but stops it for the tracer, and discards it once it is passed on
//   (kernel/signal.c, sig_ignored()). One taken by sigwaitinfo() or a signalfd is never delivered
//   and is invisible to that mechanism (inspect shows such masks and signalfds); so is SIGKILL,
//   which kills without a stop. --taken shows the former (next item).
// - --taken: signals a process takes itself, with sigwaitinfo()/sigtimedwait()/sigwait() or by
//   read() of a signalfd, are never delivered, so they make no signal-delivery-stop. With --taken
//   every thread runs under PTRACE_SYSCALL (option TRACESYSGOOD) instead of PTRACE_CONT: it stops at
//   the entry and the exit of each system call. PTRACE_GET_SYSCALL_INFO says which; at an entry of
//   rt_sigtimedwait or read we keep the arguments (per thread: a thread is in one call at a time),
//   at its exit with a positive result we read what the kernel wrote into the process
//   (process_vm_readv()): the siginfo_t at rt_sigtimedwait's second argument, or the
//   signalfd_siginfo records read() returned, if /proc/TID/fd/FD is a signalfd then. A
//   rt_sigtimedwait without a siginfo pointer (sigwait()) gives the signal alone. Nothing is
//   changed in the process: the stops only delay it, as strace does (every system call costs two
//   round trips to us, so --taken is not the default). With -p, each thread is interrupted once
//   (PTRACE_INTERRUPT) so that it runs under PTRACE_SYSCALL from then on; "watching" is printed
//   once every thread has been, so a signal sent after it is seen. Side effect of that interrupt
//   (as of strace -p): a thread asleep in a call that does not restart after a stop
//   (sigwaitinfo(), epoll_wait(), ...) gets EINTR. Only the native ABI's calls are decoded (a
//   32-bit process on x86-64 is traced, its taken signals are not shown); readv() and io_uring
//   reads of a signalfd are not decoded either.
// - Group-stops (SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU) are reported by PTRACE_SEIZE as
//   PTRACE_EVENT_STOP; we answer with PTRACE_LISTEN, so the process stays stopped until a SIGCONT as
//   it would untraced, and we still see that SIGCONT.
// - The loop sleeps in a sigrelay::signals object subscribed to SIGCHLD (every ptrace-stop and every
//   exit of a tracee notifies the tracer with one) and to the signals that end the watch; after each
//   wakeup it drains waitpid(-1, WNOHANG | __WALL). A SIGCHLD arriving after the drain is recorded
//   by the object, so no stop is slept through. No handler of our own: the library's.
// - Ending the watch (SIGINT, SIGQUIT, SIGTERM, SIGHUP; in PROGRAM mode only SIGTERM and SIGHUP,
//   because the terminal's Ctrl+C and Ctrl+\ are meant for the program, which gets them too):
//   PTRACE_INTERRUPT every thread, and as each stops, PTRACE_DETACH it, passing the signal of a
//   signal-delivery-stop it was in (so a pending signal is delivered, not lost) and leaving a group-stopped
//   thread stopped. In PROGRAM mode we then wait for the program untraced and exit with its status.
// - PROGRAM mode ends when PROGRAM and every descendant traced have exited (as `strace -f`); each
//   descendant's start and end are reported on stderr ("following pid N, forked by pid M"; "pid N
//   exited with status S"). A descendant that PROGRAM leaves behind keeps the watch going until it
//   ends or watch is told to detach.
// - PROGRAM mode: the child blocks on a pipe until it is seized, then execs; it keeps our signal mask
//   and ignored signals (we block nothing; the library's handlers are reset by exec). Exit status:
//   the program's exit code, 128+N if it was killed by signal N, 126/127 if it could not be run.
// - The sender's command name is read from /proc when the line is printed: a sender that has already
//   exited shows "?", and a recycled pid shows its new owner (a pid is all the kernel keeps).
#include "command.hpp"
#include "describe.hpp"

#include <sigrelay/signals.hpp>

#include <fcntl.h>
#include <linux/audit.h>
#include <sys/ptrace.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <system_error>

namespace sigrelay::tool {
namespace {

struct watch_options {
  std::vector<std::string> signals;  // filter; empty: all
  std::vector<std::string> program;  // PROGRAM ARGS...
  std::string pid;
  bool json = false;
  bool taken = false;  // also the signals the process takes itself (design notes, --taken)
  CLI::Option* program_option = nullptr;
};

std::system_error sys_error(int err, const std::string& what) {
  return std::system_error(err, std::generic_category(), what);
}

bool is_stop_signal(int signo) {
  return signo == SIGSTOP || signo == SIGTSTP || signo == SIGTTIN || signo == SIGTTOU;
}

// "22:45:01.123" (UTC) for text, "2026-12-01T22:45:01.123Z" for JSON.
std::string now_text(bool iso) {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  std::tm tm{};
  ::gmtime_r(&ts.tv_sec, &tm);
  char buf[64];
  const std::size_t n = std::strftime(buf, sizeof buf, iso ? "%Y-%m-%dT%H:%M:%S" : "%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%03ld%s", ts.tv_nsec / 1000000, iso ? "Z" : "");
  return buf;
}

bool has_address(int signo, int code) {
  return code > 0 && code != SI_KERNEL &&
         (signo == SIGSEGV || signo == SIGBUS || signo == SIGILL || signo == SIGFPE || signo == SIGTRAP);
}

// A signalfd record as the siginfo_t it stands for (the fields describe_delivery() reads).
siginfo_t from_signalfd(const signalfd_siginfo& r) {
  siginfo_t info;
  std::memset(&info, 0, sizeof info);
  info.si_signo = static_cast<int>(r.ssi_signo);
  info.si_code = r.ssi_code;
  if (has_address(info.si_signo, info.si_code)) {
    info.si_addr = reinterpret_cast<void*>(static_cast<std::uintptr_t>(r.ssi_addr));
    return info;
  }
  info.si_pid = static_cast<pid_t>(r.ssi_pid);
  info.si_uid = r.ssi_uid;
  if (info.si_signo == SIGCHLD && info.si_code >= CLD_EXITED && info.si_code <= CLD_CONTINUED) {
    info.si_status = r.ssi_status;
  } else {
    info.si_value.sival_ptr = reinterpret_cast<void*>(static_cast<std::uintptr_t>(r.ssi_ptr));
  }
  return info;
}

// Whether descriptor `fd` of thread `tid` is a signalfd now (its /proc link).
bool is_signalfd(pid_t tid, long long fd) {
  const std::string path = "/proc/" + std::to_string(tid) + "/fd/" + std::to_string(fd);
  char target[64];
  const ssize_t n = ::readlink(path.c_str(), target, sizeof target - 1);
  return n > 0 && std::string_view(target, static_cast<std::size_t>(n)) == "anon_inode:[signalfd]";
}

// Copies `size` bytes at `address` in thread `tid`'s process into `out`; false if it cannot.
bool read_tracee(pid_t tid, std::uint64_t address, void* out, std::size_t size) {
  iovec local{out, size};
  iovec remote{reinterpret_cast<void*>(static_cast<std::uintptr_t>(address)), size};
  return ::process_vm_readv(tid, &local, 1, &remote, 1, 0) == static_cast<ssize_t>(size);
}

// The ABI whose system calls --taken decodes: the tracer's own.
#if defined(__x86_64__) && !defined(__ILP32__)
constexpr std::uint32_t kNativeArch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
constexpr std::uint32_t kNativeArch = AUDIT_ARCH_AARCH64;
#else
constexpr std::uint32_t kNativeArch = 0;  // any: not checked
#endif

// How the thread got the signal: delivered (a signal-delivery-stop), or taken by a system call of its
// own (--taken). `siginfo` false: a sigwait() (or a sigwaitinfo() given no siginfo_t), only si_signo
// is known.
struct taking {
  enum class how { delivered, sigwait, signalfd } way = how::delivered;
  int fd = -1;  // signalfd: the descriptor read
  bool siginfo = true;
};

std::string taken_words(const taking& t) {
  if (t.way == taking::how::sigwait) return "taken with sigwaitinfo()";
  if (t.way == taking::how::signalfd) return "read from signalfd " + std::to_string(t.fd);
  return "";
}

// One line (or JSON object) for one siginfo delivered to (or taken by) thread `tid` of process `pid`.
std::string describe_delivery(const siginfo_t& info, pid_t pid, pid_t tid, bool json,
                              const taking& how = {}) {
  const int signo = info.si_signo;
  if (!how.siginfo) {  // sigwait(): the number alone
    if (json) {
      return "{\"time\":" + json_string(now_text(true)) + ",\"pid\":" + std::to_string(pid) +
             ",\"tid\":" + std::to_string(tid) + ",\"signal\":" + json_string(signal_label(signo)) +
             ",\"signo\":" + std::to_string(signo) + ",\"taken\":\"sigwaitinfo\",\"siginfo\":false}\n";
    }
    return now_text(false) + ' ' + signal_label(signo) + " to " + std::to_string(tid) +
           ": sender not known (taken with sigwait(), or a sigwaitinfo() that asked for no siginfo)\n";
  }
  const int code = info.si_code;
  const bool sender = code_has_sender(signo, code);
  const bool trusted = code_trusted(code);
  const bool child = signo == SIGCHLD && code >= CLD_EXITED && code <= CLD_CONTINUED;
  const bool value = code < 0 && code != SI_TKILL && !child;
  char addr[32] = "";
  if (has_address(signo, code)) std::snprintf(addr, sizeof addr, "%p", info.si_addr);
  std::ostringstream o;
  if (json) {
    o << "{\"time\":" << json_string(now_text(true)) << ",\"pid\":" << pid << ",\"tid\":" << tid
      << ",\"signal\":" << json_string(signal_label(signo)) << ",\"signo\":" << signo << ",\"code\":" << code
      << ",\"code_words\":" << json_string(code_words(signo, code))
      << ",\"trusted\":" << (trusted ? "true" : "false");
    if (sender) {
      o << ",\"sender_pid\":" << info.si_pid << ",\"sender_uid\":" << info.si_uid
        << ",\"sender_comm\":" << json_string(process_comm(info.si_pid));
    }
    if (value) o << ",\"value\":" << info.si_value.sival_int;
    if (child) o << ",\"child_status\":" << info.si_status;
    if (addr[0] != '\0') o << ",\"addr\":" << json_string(addr);
    if (how.way == taking::how::sigwait) o << ",\"taken\":\"sigwaitinfo\"";
    if (how.way == taking::how::signalfd) o << ",\"taken\":\"signalfd\",\"fd\":" << how.fd;
    o << "}\n";
    return o.str();
  }
  o << now_text(false) << ' ' << signal_label(signo) << " to " << tid << ": ";
  if (sender) {
    o << "from " << (child ? "child " : "") << "pid " << info.si_pid << " (" << process_comm(info.si_pid)
      << ") uid " << info.si_uid;
  } else {
    o << "from the kernel";
  }
  o << ", " << code_words(signo, code) << ", " << (trusted ? "trusted" : "forgeable");
  if (value) o << ", value " << info.si_value.sival_int;
  if (child) o << ", status " << info.si_status;
  if (addr[0] != '\0') o << ", addr " << addr;
  if (how.way != taking::how::delivered) o << ", " << taken_words(how);
  o << '\n';
  return o.str();
}

// Whether thread TID has ended and waits to be reaped (State: Z in /proc/TID/status; ptrace()
// refuses such a thread with EPERM).
bool is_zombie(pid_t tid) {
  const auto status = read_status("/proc/" + std::to_string(tid) + "/status");
  const auto state = status.find("State");
  return state != status.end() && state->second.rfind('Z', 0) == 0;
}

// The Tgid: line of /proc/TID/status: the process of thread TID; 0 if gone.
pid_t process_of(pid_t tid) {
  std::ifstream in("/proc/" + std::to_string(tid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("Tgid:", 0) == 0) return static_cast<pid_t>(std::atol(line.c_str() + 5));
  }
  return 0;
}

class tracer {
 public:
  tracer(const watch_options& o, std::vector<bool> filter, pid_t pid, bool program_mode)
      : options_(o), filter_(std::move(filter)), pid_(pid), program_mode_(program_mode) {}

  static constexpr long kOptions = PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC;
  // PROGRAM mode: follow forked processes too (inherited by every process traced through them).
  static constexpr long kProgramOptions = kOptions | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK;

  // The PTRACE_SEIZE options: with --taken, syscall-stops told apart from SIGTRAPs (TRACESYSGOOD).
  static long options_for(bool program_mode, bool taken) {
    return (program_mode ? kProgramOptions : kOptions) | (taken ? PTRACE_O_TRACESYSGOOD : 0);
  }

  // Seizes every thread of the process, again until a listing shows no new one (threads created
  // while we attach are traced by their creator's TRACECLONE once that one is seized, or listed).
  void seize_all() {
    for (bool added = true; added;) {
      added = false;
      for (pid_t tid : thread_ids(pid_)) {
        if (threads_.count(tid)) continue;
        if (::ptrace(PTRACE_SEIZE, tid, nullptr,
                     reinterpret_cast<void*>(options_for(false, options_.taken))) != 0) {
          if (errno == ESRCH) continue;  // the thread ended meanwhile
          const int err = errno;
          if (err == EPERM && is_zombie(tid)) {
            throw sys_error(ESRCH, "pid " + std::to_string(pid_) +
                                       " is a zombie: it has ended, and its parent has not reaped it yet; "
                                       "nothing is left to watch");
          }
          throw sys_error(err, "cannot attach to thread " + std::to_string(tid) + " of pid " +
                                   std::to_string(pid_) + " (ptrace)");
        }
        threads_.insert(tid);
        added = true;
      }
    }
    if (threads_.empty()) throw sys_error(ESRCH, "cannot attach to pid " + std::to_string(pid_));
  }

  // --taken with -p (design notes): stops every thread once, so that it runs under PTRACE_SYSCALL
  // from its next instruction, and returns once each has been resumed so (or has ended). A signal
  // delivered meanwhile is reported and passed on as usual.
  void start_tracing_syscalls() {
    for (const pid_t tid : threads_) {
      if (::ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr) == 0) not_yet_syscall_traced_.insert(tid);
    }
    while (!not_yet_syscall_traced_.empty() && !threads_.empty()) {
      int st = 0;
      const pid_t tid = ::waitpid(-1, &st, __WALL);
      if (tid < 0) {
        if (errno == EINTR) continue;
        threads_.clear();  // ECHILD: nothing traced is left
        break;
      }
      handle(tid, st);
    }
    not_yet_syscall_traced_.clear();
  }

  // Program mode: the child is already seized (one thread).
  void adopt(pid_t tid) {
    threads_.insert(tid);
    process_of_[tid] = tid;
  }

  // Runs until the process is gone or an ending signal arrives. Returns the program's wait status in
  // program mode if it ended while traced, -1 otherwise.
  int run(sigrelay::signals& sigs) {
    for (;;) {
      drain();
      if (threads_.empty()) break;
      bool end = false;
      for (const sigrelay::signal_event& e : sigs.wait()) {
        const bool from_terminal = e.signo == SIGINT || e.signo == SIGQUIT;
        if (e.signo == SIGTERM || e.signo == SIGHUP || (!program_mode_ && from_terminal)) end = true;
      }
      if (end) {
        detach_all();
        break;
      }
    }
    return leader_status_;
  }

 private:
  void drain() {
    for (;;) {
      int st = 0;
      const pid_t tid = ::waitpid(-1, &st, __WALL | WNOHANG);
      if (tid == 0) return;
      if (tid < 0) {
        if (errno == EINTR) continue;
        threads_.clear();  // ECHILD: nothing traced is left
        return;
      }
      handle(tid, st);
    }
  }

  void resume(pid_t tid, int signo) {
    if (detaching_) {
      ::ptrace(PTRACE_DETACH, tid, nullptr, reinterpret_cast<void*>(static_cast<long>(signo)));
      threads_.erase(tid);
      entered_.erase(tid);
    } else {
      const auto request = options_.taken ? PTRACE_SYSCALL : PTRACE_CONT;
      ::ptrace(request, tid, nullptr, reinterpret_cast<void*>(static_cast<long>(signo)));
      not_yet_syscall_traced_.erase(tid);
    }
  }

  // A syscall-stop (--taken; design notes): at the entry of rt_sigtimedwait or read the arguments are
  // kept, at its exit what it took is reported.
  void on_syscall(pid_t tid) {
    __ptrace_syscall_info call{};
    if (::ptrace(PTRACE_GET_SYSCALL_INFO, tid, reinterpret_cast<void*>(sizeof call), &call) <= 0) return;
    if (call.op == PTRACE_SYSCALL_INFO_ENTRY) {
      const bool wanted = (kNativeArch == 0 || call.arch == kNativeArch) &&
                          (call.entry.nr == SYS_rt_sigtimedwait || call.entry.nr == SYS_read);
      if (wanted) {
        entered_[tid] = {call.entry.nr, call.entry.args[0], call.entry.args[1]};
      } else {
        entered_.erase(tid);
      }
      return;
    }
    if (call.op != PTRACE_SYSCALL_INFO_EXIT) return;
    const auto it = entered_.find(tid);
    if (it == entered_.end()) return;  // not one of ours, or its entry came before we traced calls
    const entry e = it->second;
    entered_.erase(it);
    if (call.exit.is_error != 0 || call.exit.rval <= 0) return;
    if (e.nr == SYS_rt_sigtimedwait) {
      siginfo_t info;
      std::memset(&info, 0, sizeof info);
      taking how{taking::how::sigwait};
      if (e.arg1 == 0 || !read_tracee(tid, e.arg1, &info, sizeof info)) {
        how.siginfo = false;
        info.si_signo = static_cast<int>(call.exit.rval);
      }
      report(info, tid, how);
      return;
    }
    // read(): whole signalfd records from a signalfd. Read from the process before anything else.
    constexpr std::size_t record = sizeof(signalfd_siginfo);
    const auto bytes = static_cast<std::size_t>(call.exit.rval);
    if (bytes % record != 0 || !is_signalfd(tid, static_cast<long long>(e.arg0))) return;
    std::vector<signalfd_siginfo> records(bytes / record);
    if (!read_tracee(tid, e.arg1, records.data(), bytes)) return;
    for (const signalfd_siginfo& r : records) {
      report(from_signalfd(r), tid, taking{taking::how::signalfd, static_cast<int>(e.arg0)});
    }
  }

  void handle(pid_t tid, int st) {
    if (WIFEXITED(st) || WIFSIGNALED(st)) {
      threads_.erase(tid);
      entered_.erase(tid);
      not_yet_syscall_traced_.erase(tid);
      const auto it = process_of_.find(tid);
      const bool leader = it != process_of_.end() && it->second == tid;
      if (it != process_of_.end()) process_of_.erase(it);
      if (tid == pid_) {
        leader_status_ = st;
      } else if (leader) {  // a followed descendant (its leader thread: the process) ended
        say_end(tid, st);
      }
      return;
    }
    if (!WIFSTOPPED(st)) return;
    threads_.insert(tid);  // a new thread may report its first stop before its creator's event
    const int signo = WSTOPSIG(st);
    const unsigned event = static_cast<unsigned>(st) >> 16;
    if (event == PTRACE_EVENT_CLONE || event == PTRACE_EVENT_FORK || event == PTRACE_EVENT_VFORK) {
      unsigned long new_tid = 0;
      if (::ptrace(PTRACE_GETEVENTMSG, tid, nullptr, &new_tid) == 0) {
        const auto child = static_cast<pid_t>(new_tid);
        threads_.insert(child);
        // A thread, or (fork, vfork, clone without CLONE_THREAD) a new process: its /proc says which.
        const pid_t process = event == PTRACE_EVENT_CLONE ? process_of(child) : child;
        process_of_[child] = process != 0 ? process : child;
        if (process_of_[child] == child) follow(child, process_of(tid));
      }
      resume(tid, 0);
    } else if (event == PTRACE_EVENT_EXEC) {
      unsigned long former = 0;  // the execing thread took the leader's tid; its old tid is gone
      if (::ptrace(PTRACE_GETEVENTMSG, tid, nullptr, &former) == 0 && static_cast<pid_t>(former) != tid) {
        threads_.erase(static_cast<pid_t>(former));
      }
      resume(tid, 0);
    } else if (event == PTRACE_EVENT_STOP) {
      if (is_stop_signal(signo)) {  // group-stop: stay stopped, as untraced
        if (detaching_) {
          resume(tid, 0);  // a detached thread in a group-stop stays stopped
        } else {
          ::ptrace(PTRACE_LISTEN, tid, nullptr, nullptr);
          not_yet_syscall_traced_.erase(tid);  // stopped: it resumes under PTRACE_SYSCALL after SIGCONT
        }
      } else {
        resume(tid, 0);  // PTRACE_INTERRUPT's stop, or a new thread's first
      }
    } else if (event == 0 && signo == (SIGTRAP | 0x80)) {  // syscall-stop (TRACESYSGOOD: --taken)
      on_syscall(tid);
      resume(tid, 0);
    } else if (event == 0) {  // signal-delivery-stop
      siginfo_t info;
      std::memset(&info, 0, sizeof info);
      if (::ptrace(PTRACE_GETSIGINFO, tid, nullptr, &info) == 0) report(info, tid);
      resume(tid, signo);  // unchanged: the same signal, its siginfo kept
    } else {
      resume(tid, 0);
    }
  }

  void report(const siginfo_t& info, pid_t tid, const taking& how = {}) {
    const int signo = info.si_signo;
    if (!filter_.empty() && (signo <= 0 || signo >= static_cast<int>(filter_.size()) || !filter_[signo]))
      return;
    const auto it = process_of_.find(tid);
    const pid_t process = it != process_of_.end() ? it->second : pid_;
    const std::string line = describe_delivery(info, process, tid, options_.json, how);
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fflush(stdout);
  }

  void follow(pid_t child, pid_t parent) {
    if (detaching_) return;
    std::fflush(stdout);
    std::cerr << "sigrelay watch: following pid " << child << ", forked by pid " << parent << std::endl;
  }

  void say_end(pid_t process, int st) {
    std::fflush(stdout);
    if (WIFEXITED(st)) {
      std::cerr << "sigrelay watch: pid " << process << " exited with status " << WEXITSTATUS(st)
                << std::endl;
    } else if (WIFSIGNALED(st)) {
      std::cerr << "sigrelay watch: pid " << process << " was killed by " << signal_label(WTERMSIG(st))
                << std::endl;
    }
  }

  void detach_all() {
    detaching_ = true;
    for (auto it = threads_.begin(); it != threads_.end();) {
      if (::ptrace(PTRACE_INTERRUPT, *it, nullptr, nullptr) != 0 && errno == ESRCH) {
        it = threads_.erase(it);  // gone (its exit, if still to be reported, is not waited for)
      } else {
        ++it;
      }
    }
    while (!threads_.empty()) {
      int st = 0;
      const pid_t tid = ::waitpid(-1, &st, __WALL);
      if (tid < 0) {
        if (errno == EINTR) continue;
        break;
      }
      handle(tid, st);
    }
  }

  const watch_options& options_;
  std::vector<bool> filter_;
  pid_t pid_;
  bool program_mode_;
  bool detaching_ = false;
  int leader_status_ = -1;
  std::set<pid_t> threads_;
  std::map<pid_t, pid_t> process_of_;  // thread -> its process, for the threads whose start we saw
  // --taken: the call each thread is in, if it is rt_sigtimedwait or read (its number and first two
  // arguments), and the threads not yet resumed under PTRACE_SYSCALL (start_tracing_syscalls()).
  struct entry {
    std::uint64_t nr;
    std::uint64_t arg0;
    std::uint64_t arg1;
  };
  std::map<pid_t, entry> entered_;
  std::set<pid_t> not_yet_syscall_traced_;
};

// -p without --taken: a process that holds a signalfd, or has a thread asleep in rt_sigtimedwait now
// (its /proc/TID/syscall), takes signals itself, which watch shows only with --taken. Says so on
// stderr. (Its mask does not tell: a thread in sigwaitinfo() has the signals it waits for unblocked
// for the while.)
void hint_taken(pid_t pid) {
  std::string why;
  if (!signalfds(pid).empty()) {
    why = "reads a signalfd";
  } else {
    for (const pid_t tid : thread_ids(pid)) {
      if (!sigtimedwait_set_address(pid, tid)) continue;
      why = "has thread " + std::to_string(tid) + " in sigwaitinfo()";
      break;
    }
  }
  if (why.empty()) return;
  std::cerr << "sigrelay watch: pid " << pid << " " << why
            << ": the signals it takes so are shown only with --taken\n";
}

int status_code(int st) {
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
  return 1;
}

void say_status(const std::string& what, int st) {
  if (WIFEXITED(st)) {
    std::cerr << "sigrelay watch: " << what << " exited with status " << WEXITSTATUS(st) << '\n';
  } else if (WIFSIGNALED(st)) {
    std::cerr << "sigrelay watch: " << what << " was killed by " << signal_label(WTERMSIG(st)) << '\n';
  }
}

// Starts PROGRAM seized: the child waits on a pipe until PTRACE_SEIZE is done, then execs. Returns
// the child and the read end of a close-on-exec pipe on which a failed exec leaves its errno. The
// pipe is read only after the child has ended: until then the child may be in a ptrace-stop (a
// thread its runtime starts before exec, say) that only the tracing loop resumes.
std::pair<pid_t, int> start_program(const std::vector<std::string>& program, long options,
                                    const sigset_t& started_with) {
  int go[2];
  int failed[2];
  if (::pipe2(go, O_CLOEXEC) != 0) throw sys_error(errno, "pipe");
  if (::pipe2(failed, O_CLOEXEC) != 0) {
    const int err = errno;
    ::close(go[0]);
    ::close(go[1]);
    throw sys_error(err, "pipe");
  }
  std::vector<char*> argv;
  for (const std::string& a : program) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::fflush(nullptr);
  const pid_t child = ::fork();
  if (child < 0) throw sys_error(errno, "fork");
  if (child == 0) {
    ::close(go[1]);
    ::close(failed[0]);
    char c;
    while (::read(go[0], &c, 1) < 0 && errno == EINTR) {
    }
    ::pthread_sigmask(SIG_SETMASK, &started_with, nullptr);  // the mask watch was started with
    ::execvp(argv[0], argv.data());
    const int err = errno;
    while (::write(failed[1], &err, sizeof err) < 0 && errno == EINTR) {
    }
    ::_exit(err == ENOENT ? 127 : 126);
  }
  ::close(go[0]);
  ::close(failed[1]);
  if (::ptrace(PTRACE_SEIZE, child, nullptr, reinterpret_cast<void*>(options)) != 0) {
    const int err = errno;
    ::kill(child, SIGKILL);
    ::waitpid(child, nullptr, 0);
    ::close(go[1]);
    ::close(failed[0]);
    throw sys_error(err, "cannot trace " + program[0] + " (ptrace)");
  }
  ::close(go[1]);  // EOF: the child execs
  return {child, failed[0]};
}

// After the child ended: the errno of its failed exec, or 0 if the exec succeeded (EOF).
int exec_error(int failed_fd) {
  int err = 0;
  ssize_t n;
  while ((n = ::read(failed_fd, &err, sizeof err)) < 0 && errno == EINTR) {
  }
  ::close(failed_fd);
  return n == static_cast<ssize_t>(sizeof err) ? err : 0;
}

int run_watch(watch_options& o, CLI::App& sub) {
  std::vector<bool> filter;
  try {
    bool dashdash = false;
    for (const std::string& r : sub.remaining()) {
      if (r != "--")
        throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                                "unexpected '" + r + "' (put -- before PROGRAM to pass it options)");
      dashdash = true;
    }
    if (!o.signals.empty()) {
      filter.assign(static_cast<std::size_t>(max_signal()) + 1, false);
      for (const std::string& s : o.signals) filter[static_cast<std::size_t>(parse_signal(s))] = true;
    }
    if (!o.pid.empty() && !o.program.empty() && !dashdash) {
      // Words after the filter that name no signal were taken for PROGRAM: with -p, name the first.
      std::error_code ec;
      sigrelay::signal_number(o.program[0], ec);
      if (ec) {
        throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                                "unknown signal '" + o.program[0] + "' (with -p PID, the words are signals)");
      }
    }
    if (o.pid.empty() == o.program.empty()) {
      throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                              "give either -p PID or -- PROGRAM [ARGS...]");
    }
  } catch (const std::system_error& e) {
    std::cerr << "sigrelay watch: " << e.what() << '\n';
    return 2;
  }
  // The watcher's own signals must reach it whatever mask it inherited (a blocked SIGCHLD would
  // leave the traced process in its stops for good, a blocked SIGINT or SIGTERM would keep it from
  // detaching); PROGRAM gets the mask watch was started with back.
  sigset_t own;
  sigemptyset(&own);
  for (const int signo : {SIGCHLD, SIGINT, SIGQUIT, SIGTERM, SIGHUP}) sigaddset(&own, signo);
  sigset_t started_with;
  ::pthread_sigmask(SIG_UNBLOCK, &own, &started_with);
  try {
    // Subscribed before any child exists: its stops notify us with SIGCHLD from the first one.
    sigrelay::signals sigs{SIGCHLD, SIGINT, SIGQUIT, SIGTERM, SIGHUP};
    if (!o.pid.empty()) {
      const pid_t pid = parse_pid(o.pid);
      tracer t(o, filter, pid, false);
      t.seize_all();
      if (o.taken) t.start_tracing_syscalls();
      std::cerr << "sigrelay watch: watching pid " << pid << " (" << process_comm(pid)
                << "); Ctrl+C or SIGTERM detaches\n";
      if (!o.taken) hint_taken(pid);
      const int st = t.run(sigs);
      if (st != -1) say_status("pid " + std::to_string(pid), st);
      return 0;
    }
    const auto [child, failed_fd] =
        start_program(o.program, tracer::options_for(true, o.taken), started_with);
    tracer t(o, filter, child, true);
    t.adopt(child);
    int st = t.run(sigs);
    if (st == -1) {  // detached (or the exit was consumed as a thread's): wait for the program
      while (::waitpid(child, &st, 0) < 0 && errno == EINTR) {
      }
    }
    if (const int err = exec_error(failed_fd)) {
      std::cerr << "sigrelay watch: cannot run " << o.program[0] << ": " << std::strerror(err) << '\n';
      return status_code(st);
    }
    say_status(o.program[0] + " (pid " + std::to_string(child) + ")", st);
    return status_code(st);
  } catch (const std::system_error& e) {
    std::cerr << "sigrelay watch: " << e.what() << '\n';
    return 1;
  }
}

// The usage line: CLI11 would list the positionals in declaration order, PROGRAM before SIG.
class watch_formatter : public CLI::Formatter {
 public:
  std::string make_usage(const CLI::App*, std::string) const override {
    return "Usage: sigrelay watch [OPTIONS] [SIG...] -p PID\n"
           "       sigrelay watch [OPTIONS] [SIG...] [--] PROGRAM [ARGS...]\n";
  }
};

void setup(CLI::App& app, int& status) {
  auto o = std::make_shared<watch_options>();
  CLI::App* sub = app.add_subcommand("watch", "Print every signal a process receives, with its sender.");
  // Two lists of positionals, told apart by what they hold: leading words that name signals are the
  // filter, the first other word (or anything after --) starts PROGRAM. PROGRAM is declared first so
  // that its check decides; CLI11 runs the check again on the final values, where it accepts all.
  const std::weak_ptr<watch_options> weak = o;
  o->program_option =
      sub->add_option("PROGRAM", o->program, "The program to run and watch, with its arguments.")
          ->expected(1, -1)
          ->check(
              [weak, sub](const std::string& word) -> std::string {
                const auto opts = weak.lock();
                if (!opts || opts->program_option->count() > 0) return {};
                for (const std::string& r : sub->remaining()) {
                  if (r == "--") return {};
                }
                std::error_code ec;
                sigrelay::signal_number(word, ec);
                return ec ? std::string() : std::string("a signal name");
              },
              "")
          ->group("");  // hidden: described in the footer, in the right order
  sub->add_option("SIG", o->signals, "Only print these signals (names or numbers); default: all.")
      ->expected(1, 64)
      ->group("");
  sub->add_option("-p,--pid", o->pid, "Attach to this running process (all its threads) instead.")
      ->type_name("PID");
  sub->add_flag("--json", o->json, "Print one JSON object per line instead of text.");
  sub->add_flag("--taken", o->taken,
                "Also print the signals the process takes itself (sigwaitinfo(), a signalfd); stops it at "
                "every system call.");
  sub->validate_positionals();
  sub->formatter(std::make_shared<watch_formatter>());
  sub->allow_extras();
  sub->footer(
      "ARGUMENTS\n"
      "  SIG...    only print these signals (names or numbers: TERM, SIGTERM, 15, RTMIN+1); default:\n"
      "            all. Every signal is delivered as usual either way.\n"
      "  PROGRAM   the program to run and watch, with its arguments; options after -- are its own.\n"
      "\n"
      "DESCRIPTION\n"
      "  Runs PROGRAM, or attaches to the running process PID (every thread, with ptrace\n"
      "  PTRACE_SEIZE), and prints one line for each signal delivered to it:\n"
      "    TIME SIGNAL to TID: from pid PID (COMMAND) uid UID, SI_CODE (words), trusted|forgeable\n"
      "  with ', value N' for sigqueue and other queued signals (the si_value payload), ', status N'\n"
      "  for SIGCHLD and ', addr A' for faults. TIME is UTC. The signal is then delivered unchanged:\n"
      "  the process's handler, default action or stop happens exactly as without watch.\n"
      "\n"
      "  trusted    the kernel filled in pid and uid: kill (SI_USER), tgkill (SI_TKILL), or the kernel\n"
      "             itself (faults, SIGPIPE, SIGCHLD, timers)\n"
      "  forgeable  a same-user process can put any pid and uid there with rt_sigqueueinfo():\n"
      "             sigqueue (SI_QUEUE), message queues, AIO\n"
      "\n"
      "  PROGRAM is followed into every process it forks, and theirs (ptrace's TRACEFORK, TRACEVFORK\n"
      "  and TRACECLONE): TID is the thread that received the signal, whichever process it belongs to\n"
      "  (a single-threaded process's TID is its pid; --json gives both \"pid\" and \"tid\"). Each\n"
      "  process followed is announced on stderr (\"following pid N, forked by pid M\") and so is its\n"
      "  end (\"pid N exited with status S\"). With -p PID, every thread of PID is watched (threads\n"
      "  started later too), but not its children.\n"
      "\n"
      "  Signals the process ignores are seen too (the kernel shows them to watch, then discards them\n"
      "  as usual). SIGKILL is not seen (it kills without a stop), nor, without --taken, the signals\n"
      "  the process takes itself with sigwaitinfo(), sigtimedwait(), sigwait() or read() of a\n"
      "  signalfd: those are never delivered (sigrelay inspect shows such masks and signalfds).\n"
      "\n"
      "  --taken shows those too, each line ending with \"taken with sigwaitinfo()\" or \"read from\n"
      "  signalfd FD\" (JSON: \"taken\":\"sigwaitinfo\" or \"signalfd\", \"fd\"), read from what the\n"
      "  call returned to the process. sigwait() asks for no siginfo (nor does sigwaitinfo(SET, NULL)):\n"
      "  such a line gives the signal and says the sender is not known. The price, as under strace: the "
      "process stops at the entry and\n"
      "  the exit of every system call while watched. With -p each thread is interrupted once to start\n"
      "  that, and a thread asleep in a call that does not restart (sigwaitinfo(), epoll_wait(), ...)\n"
      "  returns EINTR to the process; \"watching\" is printed once every thread is traced so. Without\n"
      "  --taken, -p says so when the process holds a signalfd or has a thread in sigwaitinfo(). Not\n"
      "  decoded: readv() or io_uring reads of a signalfd, and the calls of 32-bit processes.\n"
      "\n"
      "ENDING\n"
      "  -p PID: Ctrl+C, Ctrl+\\, SIGTERM or SIGHUP detaches from every thread; a signal caught on\n"
      "  its way is passed on, a stopped process stays stopped, the process runs on. When it exits,\n"
      "  watch does.\n"
      "  PROGRAM: watch ends when PROGRAM and every process it forked have ended, with PROGRAM's exit\n"
      "  status (128+N if killed by signal N; 126 or 127 if it cannot be run). Ctrl+C and Ctrl+\\\n"
      "  reach PROGRAM as usual (watch ignores them); SIGTERM or SIGHUP to watch detaches from every\n"
      "  process, and watch then waits for PROGRAM untraced.\n"
      "\n"
      "  A program named like a signal (HUP) goes after --. Needs ptrace permission over the process\n"
      "  (same user and kernel.yama.ptrace_scope <= 1 for -p, or CAP_SYS_PTRACE).\n"
      "\n"
      "EXAMPLES\n"
      "  sigrelay watch -p 4242\n"
      "  sigrelay watch TERM INT -p 4242\n"
      "  sigrelay watch --taken -- tini -- sleep 600\n"
      "  sigrelay watch --json -- nginx -g 'daemon off;'\n");
  sub->callback([o, sub, &status] { status = run_watch(*o, *sub); });
}

const registration reg{{"watch", 20, &setup}};

}  // namespace
}  // namespace sigrelay::tool
