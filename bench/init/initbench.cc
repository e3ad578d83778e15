// SPDX-License-Identifier: MIT
// bench/init/initbench.cc — container inits side by side: tini, dumb-init and `sigrelay run`.
//
// Design notes
// ------------
// * Each init runs as PID 1 of a PID namespace of its own, as in a container:
//     unshare --pid --fork --mount-proc --kill-child -- INIT-COMMAND... init_child MODE
//   INIT-COMMAND is a parameter (--init NAME=WORDS, or INIT_CMDS), the words that come before the
//   child's argv: "/usr/bin/tini --", "/usr/bin/dumb-init", "sigrelay run --". Everything
//   the benchmark starts is in a pids cgroup of its own (v1 /sys/fs/cgroup/pids or v2), created for
//   the run and removed after it. --kill-child ties the namespace to unshare, which the driver reaps;
//   on any error the driver SIGKILLs unshare and every pid listed in that cgroup (all its own) by pid,
//   and removes the cgroup. No group or -1 is ever signalled.
// * Forwarding latency (driver, init and child on one CPU unless --cpu -1): the child blocks SIGUSR1
//   and takes it with sigwaitinfo(), writing CLOCK_MONOTONIC at receipt to its stdout (a pipe to the
//   driver; CLOCK_MONOTONIC is the same in every PID namespace). A round = t0, kill(init, SIGUSR1),
//   read the child's timestamp t1: sample t1 − t0. The same child also gets SIGUSR1 directly
//   (kill(child)), in blocks interleaved with the forwarded ones, so that the ratio forwarded ÷
//   direct compares the same processes at the same time. One signal in flight at a time: nothing
//   coalesces. Also per forwarded signal: the init's CPU time (schedstat) and context switches
//   (/proc/PID/status), read around each forwarded block.
// * Interleaved (the machine is shared and its load changes): --rounds R rounds, each of which starts
//   a fresh instance of every init in turn, the first one rotating from round to round, with
//   trips/R signals of each kind; the figures are medians of the per-round medians with their range
//   [lowest–highest round], and the goal row counts the rounds in which an init of ours was below
//   tini's or dumb-init's median of the same round (paired: same load). Reaping repetitions are
//   interleaved the same way. Every init gets the same treatment: the same child binary, the same
//   sender (the driver), the same pinning (driver, unshare and so the init and its child on --cpu).
// * Reaping: the child forks an intermediate that starts N grandchildren (clone(CLONE_VM), see
//   init_child.cc) blocked on a pipe that only the intermediate holds open; the intermediate writes t0 and
//   exits, so all N exit at once and are re-parented to the init (PID 1). The cgroup's pids.current counts
//   every task until it is reaped (zombies included): the driver polls it (every ~50 µs) until it is back to
//   what it was before the intermediate was forked; t1 − t0 is the time to reap them all. Each repetition
//   uses a fresh init. Also reported: the init's CPU time meanwhile (sum of /proc/PID/task/*/schedstat),
//   where the kernel keeps schedstat.
// * --container-cpu-cgroup: every instance (unshare, the init, its child) also goes into a cpu
//   cgroup of its own (v1 /sys/fs/cgroup/cpu, or v2 with the cpu controller), the driver (the sender)
//   stays where it is: as a container runtime puts a container. The scheduler's autogroups (one per
//   session, sched_autogroup_enabled) apply only to tasks in the root cpu cgroup
//   (task_wants_autogroup() in kernel/sched/autogroup.c), so there a child in a session of its own
//   (dumb-init's setsid) is no longer a scheduling entity apart from its init, as it is in a container.
// * --at-rest US: the driver sleeps US µs (usleep) before each sample, forwarded and direct, so that
//   every signal finds the init and its child asleep in sigwaitinfo(), as a container's init meets
//   a signal. Back to back (the default), the child's write of a timestamp wakes the driver, which
//   preempts the child before the child is back in its sigwaitinfo(): the next signal finds it still
//   runnable, and where the scheduler then puts the child's remaining few µs (before the init runs,
//   or after) depends on the inits' own CPU time and switches, not on how they forward (seen with
//   the sched_switch tracepoint: in one run our init's cycles all paid them, tini's only some).
//   The two orders rank the inits differently on one CPU in the root cgroup; bench/run reports both.
//   A sleep rather than a sched_yield(): yielding moves the driver's own deadline (EEVDF), which
//   reorders the wake-ups that follow as well.
// * --busy: a CPU-bound process (a child of the driver spinning in a loop) on the same CPU during the
//   latency rounds, as a container's program at work when its init gets a signal: in the driver's
//   session and cpu cgroup, or, with --container-cpu-cgroup, moved into the instances' cpu cgroup
//   (the program's neighbour, as in a container). Outside the pids cgroup (not counted as the
//   init's); stopped (SIGKILL to its pid, then reaped) before the reaping repetitions. An init
//   that yields the CPU after forwarding (sched_yield(): its deadline a slice behind the busy
//   task's) made 1% of its signals wait out that task's slice, 3.9 ms
//   (bench/results/2026-12-05-init-slice): what the p99 column and its goal row show.
// * RSS: the init's VmRSS once its child is ready and nothing happened yet (idle), its VmRSS after
//   the round's last forwarded signal (the goal row uses this one: what forwarding keeps mapped), and
//   VmHWM after the reaping. Binary size: the file's size, and the size of `strip -o` of it; whether it is
//   linked dynamically (an ELF PT_INTERP).
// * Nothing is adjusted: every figure comes from the samples; a failed init is reported as such.
#include <dirent.h>
#include <elf.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using ns_t = std::int64_t;

ns_t now_ns() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<ns_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

std::string errno_text(const std::string& what) { return what + ": " + std::strerror(errno); }

struct init_cmd {
  std::string name;
  std::vector<std::string> words;  // the words before the child's argv
};

struct options {
  std::vector<init_cmd> inits;
  std::string child;  // init_child
  long trips = 20'000;
  long warmup = 1'000;
  int rounds = 9;   // latency: rounds, each with a fresh instance of every init in turn
  int blocks = 10;  // per round: forwarded and direct blocks alternate
  long orphans = 10'000;
  int reps = 11;  // reaping: repetitions, each with a fresh instance of every init in turn
  int cpu = 0;    // latency: every process on this CPU; -1: no pinning
  unsigned timeout_s = 60;
  std::string out;
  bool container_cpu_cgroup = false;  // every instance in a cpu cgroup of its own (design notes)
  long at_rest_us = 0;                // > 0: sleep this long before each latency sample (design notes)
  bool busy = false;                  // a CPU-bound process on the CPU during the latency rounds
  std::string cpu_cgroup_procs;       // its cgroup.procs, once created
};

// --- small helpers ---------------------------------------------------------------------------------

std::optional<std::string> read_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string s;
  char buf[4096];
  for (;;) {
    const ssize_t r = ::read(fd, buf, sizeof buf);
    if (r > 0) {
      s.append(buf, static_cast<std::size_t>(r));
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    break;
  }
  ::close(fd);
  return s;
}

// A "Key:   123 kB" field of /proc/PID/status, in KiB; -1 if absent.
long long status_kb(pid_t pid, const char* key) {
  const auto s = read_file("/proc/" + std::to_string(pid) + "/status");
  if (!s) return -1;
  const std::string k = std::string("\n") + key + ":";
  const auto at = s->find(k);
  if (at == std::string::npos) return -1;
  return std::strtoll(s->c_str() + at + k.size(), nullptr, 10);
}

// CPU time of every thread of `pid` (first field of /proc/PID/task/*/schedstat), ns; -1 if unknown.
long long cpu_ns(pid_t pid) {
  const std::string dir = "/proc/" + std::to_string(pid) + "/task";
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return -1;
  long long sum = 0;
  bool any = false;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    if (auto s = read_file(dir + "/" + e->d_name + "/schedstat")) {
      sum += std::strtoll(s->c_str(), nullptr, 10);
      any = true;
    }
  }
  ::closedir(d);
  return any ? sum : -1;
}

// Context switches of `pid`'s main thread (voluntary + involuntary, /proc/PID/status); -1 if unknown.
long long switches_of(pid_t pid) {
  const long long v = status_kb(pid, "voluntary_ctxt_switches"),
                  n = status_kb(pid, "nonvoluntary_ctxt_switches");
  return v < 0 || n < 0 ? -1 : v + n;
}

// The children of `parent` (scan of /proc/*/stat: /proc/PID/task/TID/children is not always built).
std::vector<pid_t> children_of(pid_t parent) {
  std::vector<pid_t> v;
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return v;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    const auto s = read_file(std::string("/proc/") + e->d_name + "/stat");
    if (!s) continue;
    const auto rp = s->rfind(')');  // the command name may hold spaces and parentheses
    if (rp == std::string::npos) continue;
    char state = 0;
    int ppid = 0;
    if (std::sscanf(s->c_str() + rp + 1, " %c %d", &state, &ppid) == 2 && ppid == parent)
      v.push_back(static_cast<pid_t>(std::atoi(e->d_name)));
  }
  ::closedir(d);
  return v;
}

// Reads exactly n bytes, or fails at the deadline / end of file.
bool read_exact(int fd, void* p, std::size_t n, ns_t deadline) {
  char* c = static_cast<char*>(p);
  while (n > 0) {
    const ns_t left = deadline - now_ns();
    if (left <= 0) return false;
    pollfd pf{fd, POLLIN, 0};
    const int r = ::poll(&pf, 1, static_cast<int>(std::min<ns_t>(left / 1'000'000 + 1, 1000)));
    if (r < 0 && errno != EINTR) return false;
    if (r <= 0) continue;
    const ssize_t got = ::read(fd, c, n);
    if (got == 0) return false;
    if (got < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return false;
    }
    c += got;
    n -= static_cast<std::size_t>(got);
  }
  return true;
}

// Runs argv, returns its exit status (or -1).
int run_program(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t p = ::fork();
  if (p < 0) return -1;
  if (p == 0) {
    ::execvp(argv[0], argv.data());
    ::_exit(127);
  }
  int st = 0;
  while (::waitpid(p, &st, 0) < 0)
    if (errno != EINTR) return -1;
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

std::string which(const std::string& prog) {
  if (prog.find('/') != std::string::npos) return prog;
  const char* path = std::getenv("PATH");
  std::stringstream ss(path != nullptr ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(ss, dir, ':')) {
    const std::string p = dir + "/" + prog;
    if (::access(p.c_str(), X_OK) == 0) return p;
  }
  return prog;
}

// Whether the ELF file names a program interpreter (is dynamically linked). nullopt: not ELF64.
std::optional<bool> dynamically_linked(const std::string& path) {
  const auto s = read_file(path);
  if (!s || s->size() < sizeof(Elf64_Ehdr) || std::memcmp(s->data(), ELFMAG, SELFMAG) != 0)
    return std::nullopt;
  Elf64_Ehdr eh;
  std::memcpy(&eh, s->data(), sizeof eh);
  if (eh.e_ident[EI_CLASS] != ELFCLASS64) return std::nullopt;
  for (unsigned i = 0; i < eh.e_phnum; ++i) {
    const std::size_t off = eh.e_phoff + i * static_cast<std::size_t>(eh.e_phentsize);
    if (off + sizeof(Elf64_Phdr) > s->size()) return std::nullopt;
    Elf64_Phdr ph;
    std::memcpy(&ph, s->data() + off, sizeof ph);
    if (ph.p_type == PT_INTERP) return true;
  }
  return false;
}

long long file_size(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<long long>(st.st_size) : -1;
}

// --- the pids cgroup -------------------------------------------------------------------------------

class pids_cgroup {
 public:
  // Creates a fresh cgroup under v1's pids hierarchy or, failing that, v2's root (if it has pids).
  bool create(const std::string& tag) {
    for (const char* base : {"/sys/fs/cgroup/pids", "/sys/fs/cgroup/unified", "/sys/fs/cgroup"}) {
      const std::string dir = std::string(base) + "/" + tag;
      if (::mkdir(dir.c_str(), 0755) != 0) continue;
      if (::access((dir + "/pids.current").c_str(), R_OK) == 0 &&
          ::access((dir + "/cgroup.procs").c_str(), W_OK) == 0) {
        dir_ = dir;
        current_fd_ = ::open((dir + "/pids.current").c_str(), O_RDONLY | O_CLOEXEC);
        return current_fd_ >= 0;
      }
      ::rmdir(dir.c_str());
    }
    return false;
  }
  const std::string& dir() const { return dir_; }
  long current() const {
    char b[32];
    const ssize_t r = ::pread(current_fd_, b, sizeof b - 1, 0);
    if (r <= 0) return -1;
    b[r] = '\0';
    return std::strtol(b, nullptr, 10);
  }
  // SIGKILLs every process still listed (all started by this benchmark), by pid.
  void kill_all() const {
    if (dir_.empty()) return;
    if (auto s = read_file(dir_ + "/cgroup.procs")) {
      std::stringstream ss(*s);
      long p;
      while (ss >> p)
        if (p > 1) ::kill(static_cast<pid_t>(p), SIGKILL);
    }
  }
  ~pids_cgroup() {
    if (current_fd_ >= 0) ::close(current_fd_);
    if (dir_.empty()) return;
    for (int i = 0; i < 2000 && ::rmdir(dir_.c_str()) != 0 && errno == EBUSY; ++i) {
      kill_all();
      ::usleep(1000);
    }
  }

 private:
  std::string dir_;
  int current_fd_ = -1;
};

// A cpu cgroup for the instances (--container-cpu-cgroup): v1's cpu hierarchy or, failing that, a v2
// cgroup whose parent hands it the cpu controller. Removed at the end (empty by then: every instance
// was reaped or killed through the pids cgroup).
class cpu_cgroup {
 public:
  bool create(const std::string& tag) {
    for (const char* base : {"/sys/fs/cgroup/cpu", "/sys/fs/cgroup/unified", "/sys/fs/cgroup"}) {
      const std::string dir = std::string(base) + "/" + tag;
      if (::mkdir(dir.c_str(), 0755) != 0) continue;
      const bool v1 = ::access((dir + "/cpu.shares").c_str(), R_OK) == 0;
      const auto controllers = read_file(dir + "/cgroup.controllers");
      const bool v2 = controllers && (" " + *controllers).find(" cpu") != std::string::npos;
      if ((v1 || v2) && ::access((dir + "/cgroup.procs").c_str(), W_OK) == 0) {
        dir_ = dir;
        return true;
      }
      ::rmdir(dir.c_str());
    }
    return false;
  }
  const std::string& dir() const { return dir_; }
  ~cpu_cgroup() {
    if (dir_.empty()) return;
    for (int i = 0; i < 2000 && ::rmdir(dir_.c_str()) != 0 && errno == EBUSY; ++i) ::usleep(1000);
  }

 private:
  std::string dir_;
};

// The calling process on `cpu` (-1: on every CPU). False if sched_setaffinity() refused.
bool pin_self(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (cpu >= 0) {
    CPU_SET(cpu, &set);
  } else {
    for (int i = 0; i < CPU_SETSIZE; ++i) CPU_SET(i, &set);
  }
  return ::sched_setaffinity(0, sizeof set, &set) == 0;
}

// Puts process `pid` ("0": the caller) into the cgroup whose cgroup.procs is `procs`.
bool join_cgroup(const std::string& procs, const std::string& pid) {
  const int fd = ::open(procs.c_str(), O_WRONLY | O_CLOEXEC);
  const bool joined = fd >= 0 && ::write(fd, pid.data(), pid.size()) == static_cast<ssize_t>(pid.size());
  if (fd >= 0) ::close(fd);
  return joined;
}

// A CPU-bound child of the driver on `cpu` (design notes, --busy), in the cpu cgroup whose cgroup.procs
// is `cgroup_procs` if not empty; SIGKILLed by pid and reaped when this goes. It dies with the driver
// too (PR_SET_PDEATHSIG).
class busy_loop {
 public:
  busy_loop(int cpu, const std::string& cgroup_procs) {
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error(errno_text("fork (busy loop)"));
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(0);
      pin_self(cpu);
      for (;;) asm volatile("" ::: "memory");
    }
    if (!cgroup_procs.empty() && !join_cgroup(cgroup_procs, std::to_string(pid_))) {
      const std::string error = errno_text("cannot move the busy loop into " + cgroup_procs);
      stop();  // (its waitpid() may change errno)
      throw std::runtime_error(error);
    }
  }
  busy_loop(const busy_loop&) = delete;
  busy_loop& operator=(const busy_loop&) = delete;
  ~busy_loop() { stop(); }

 private:
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }
  pid_t pid_ = -1;
};

// --- one init under unshare ------------------------------------------------------------------------

class instance {
 public:
  instance(const options& o, const init_cmd& ic, const std::vector<std::string>& child_args, int cpu,
           const std::string& cgroup_procs) {
    int in[2], out[2];
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0)
      throw std::runtime_error(errno_text("pipe2"));
    std::vector<std::string> args = {"unshare", "--pid", "--fork", "--mount-proc", "--kill-child", "--"};
    args.insert(args.end(), ic.words.begin(), ic.words.end());
    args.push_back(o.child);
    args.insert(args.end(), child_args.begin(), child_args.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    const pid_t self = ::getpid();
    unshare_ = ::fork();
    if (unshare_ < 0) throw std::runtime_error(errno_text("fork"));
    if (unshare_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != self) ::_exit(3);
      if (!join_cgroup(cgroup_procs, "0")) ::_exit(4);
      if (!o.cpu_cgroup_procs.empty() && !join_cgroup(o.cpu_cgroup_procs, "0")) ::_exit(6);
      if (cpu >= 0 && !pin_self(cpu)) ::_exit(5);
      sigset_t none;  // the init starts with an empty mask and default dispositions, as in a container
      sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      ::dup2(in[0], 0);
      ::dup2(out[1], 1);
      ::execvp(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    to_child_ = in[1];
    from_child_ = out[0];
    try {
      find_processes(o.timeout_s);
    } catch (...) {
      cleanup();
      throw;
    }
  }
  instance(const instance&) = delete;
  instance& operator=(const instance&) = delete;
  ~instance() { cleanup(); }

  pid_t init() const { return init_; }
  pid_t child() const { return child_; }
  int from_child() const { return from_child_; }
  int to_child() const { return to_child_; }

  // SIGTERM to the init, which forwards it; the child exits 0, so must the init and unshare.
  // Returns an error text, empty if all went as expected.
  std::string stop(unsigned timeout_s) {
    if (::kill(init_, SIGTERM) != 0) return errno_text("kill(init, SIGTERM)");
    const ns_t deadline = now_ns() + static_cast<ns_t>(timeout_s) * 1'000'000'000;
    int st = 0;
    for (;;) {
      const pid_t p = ::waitpid(unshare_, &st, WNOHANG);
      if (p == unshare_) break;
      if (p < 0 && errno != EINTR) return errno_text("waitpid(unshare)");
      if (now_ns() > deadline) return "the init did not end after SIGTERM";
      ::usleep(1000);
    }
    unshare_ = -1;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
      return "the init (through unshare) ended with status " + std::to_string(st) + " after SIGTERM";
    return {};
  }

 private:
  // Waits for the child's "ready", then finds unshare → the init (PID 1 inside) → our child.
  void find_processes(unsigned timeout_s) {
    const ns_t deadline = now_ns() + static_cast<ns_t>(timeout_s) * 1'000'000'000;
    char r = 0;
    if (!read_exact(from_child_, &r, 1, deadline) || r != 'R')
      throw std::runtime_error("the child never said it was ready (init failed to start it?)");
    for (; init_ <= 0 && now_ns() < deadline; ::usleep(1000)) {
      const auto c = children_of(unshare_);
      if (c.size() == 1) init_ = c[0];
    }
    for (; child_ <= 0 && init_ > 0 && now_ns() < deadline; ::usleep(1000)) {
      const auto c = children_of(init_);
      if (c.size() == 1) child_ = c[0];
    }
    if (init_ <= 0 || child_ <= 0) throw std::runtime_error("could not find the init and its child in /proc");
  }

  void cleanup() {
    if (unshare_ > 0) {
      ::kill(unshare_, SIGKILL);  // --kill-child: the init, and so the whole namespace, follows
      int st;
      while (::waitpid(unshare_, &st, 0) < 0 && errno == EINTR) {
      }
      unshare_ = -1;
    }
    if (to_child_ >= 0) ::close(to_child_);
    if (from_child_ >= 0) ::close(from_child_);
    to_child_ = from_child_ = -1;
  }

  pid_t unshare_ = -1;
  pid_t init_ = -1;
  pid_t child_ = -1;
  int to_child_ = -1;
  int from_child_ = -1;
};

// --- measurements ----------------------------------------------------------------------------------

double pct(std::vector<double> v, double q) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  std::size_t i = static_cast<std::size_t>(q * static_cast<double>(v.size()));
  return v[std::min(i, v.size() - 1)];
}

// One round of one init: a fresh instance, warm-up pairs, then blocks of forwarded and direct trips.
struct latency_round {
  std::string error;
  std::vector<double> via_init, direct;  // µs
  long long rss_idle_kb = -1;            // VmRSS before the first signal
  long long rss_after_kb = -1;           // VmRSS after the last one (what forwarding keeps mapped)
  double cpu_per_signal_us = NAN;        // the init's CPU time over the counted trips ÷ their number
  long long switches = -1;               // the init's context switches over the counted trips
};

latency_round measure_latency_round(const options& o, const init_cmd& ic, pids_cgroup& cg) {
  latency_round res;
  try {
    pin_self(o.cpu);
    instance in(o, ic, {"latency"}, o.cpu, cg.dir() + "/cgroup.procs");
    ::usleep(50'000);  // let start-up settle: idle is idle
    res.rss_idle_kb = status_kb(in.init(), "VmRSS");
    const ns_t deadline_each = static_cast<ns_t>(o.timeout_s) * 1'000'000'000;
    auto trip = [&](pid_t target) -> double {
      if (o.at_rest_us > 0) ::usleep(static_cast<useconds_t>(o.at_rest_us));
      const ns_t t0 = now_ns();
      if (::kill(target, SIGUSR1) != 0) throw std::runtime_error(errno_text("kill(SIGUSR1)"));
      std::int64_t t1 = 0;
      if (!read_exact(in.from_child(), &t1, sizeof t1, now_ns() + deadline_each))
        throw std::runtime_error(target == in.init() ? "a signal sent to the init never reached the child"
                                                     : "a signal sent to the child never arrived");
      return static_cast<double>(t1 - t0) / 1000.0;
    };
    const long warmup = std::max<long>(1, o.warmup / o.rounds);
    for (long i = 0; i < warmup; ++i) {
      trip(in.init());
      trip(in.child());
    }
    const long trips = std::max<long>(1, o.trips / o.rounds);
    const long per_block = std::max<long>(1, trips / o.blocks);
    ns_t init_cpu = 0;
    long long init_switches = 0;
    for (long done = 0; done < trips; done += per_block) {
      // The init's CPU time and context switches, over the forwarded blocks only (it idles through
      // the direct ones).
      const long long c0 = cpu_ns(in.init()), w0 = switches_of(in.init());
      for (long i = 0; i < per_block; ++i) res.via_init.push_back(trip(in.init()));
      const long long c1 = cpu_ns(in.init()), w1 = switches_of(in.init());
      init_cpu += c1 - c0;
      init_switches += w1 - w0;
      for (long i = 0; i < per_block; ++i) res.direct.push_back(trip(in.child()));
    }
    res.cpu_per_signal_us = static_cast<double>(init_cpu) / 1000.0 / static_cast<double>(res.via_init.size());
    res.switches = init_switches;
    res.rss_after_kb = status_kb(in.init(), "VmRSS");
    res.error = in.stop(o.timeout_s);
  } catch (const std::exception& e) {
    res.error = e.what();
  }
  pin_self(-1);
  cg.kill_all();
  return res;
}

// Every round of one init.
struct latency_result {
  std::string error;
  std::vector<double> via_init, direct;              // every sample, µs
  std::vector<double> round_via, round_direct;       // per-round medians, µs
  std::vector<double> round_ratio;                   // per-round median forwarded ÷ median direct
  std::vector<long long> rss_idle_kb, rss_after_kb;  // per round
  std::vector<double> cpu_per_signal_us;             // per round
  std::vector<double> switches_per_signal;           // per round
};

struct reap_result {
  std::string error;
  std::vector<double> ms;      // per repetition
  std::vector<double> cpu_ms;  // the init's CPU time during the reaping, per repetition
  long long hwm_kb = -1;       // the init's VmHWM after reaping (largest over repetitions)
  long forked = 0;
};

// One repetition of the reaping: a fresh init; appends to `res` or sets its error.
void measure_reaping_once(const options& o, const init_cmd& ic, pids_cgroup& cg, reap_result& res) {
  try {
    instance in(o, ic, {"reap", std::to_string(o.orphans)}, -1, cg.dir() + "/cgroup.procs");
    const long base = cg.current();
    const long long cpu0 = cpu_ns(in.init());
    if (::write(in.to_child(), "g", 1) != 1) throw std::runtime_error(errno_text("write(go)"));
    std::int64_t msg[2] = {0, 0};
    const ns_t limit = static_cast<ns_t>(o.timeout_s) * 1'000'000'000;
    if (!read_exact(in.from_child(), msg, sizeof msg, now_ns() + limit))
      throw std::runtime_error("the intermediate process never reported");
    res.forked = static_cast<long>(msg[1]);
    if (msg[1] != o.orphans)
      throw std::runtime_error("forked only " + std::to_string(msg[1]) + " of " + std::to_string(o.orphans) +
                               " grandchildren");
    const ns_t t0 = msg[0];
    ns_t t1 = 0;
    for (;;) {
      const long c = cg.current();
      const ns_t t = now_ns();
      if (c >= 0 && c <= base) {
        t1 = t;
        break;
      }
      if (t - t0 > limit) throw std::runtime_error(std::to_string(c - base) + " orphans still unreaped");
      const timespec pause{0, 50'000};
      ::nanosleep(&pause, nullptr);
    }
    const long long cpu1 = cpu_ns(in.init());
    res.ms.push_back(static_cast<double>(t1 - t0) / 1e6);
    res.cpu_ms.push_back(cpu0 >= 0 && cpu1 >= 0 ? static_cast<double>(cpu1 - cpu0) / 1e6 : NAN);
    res.hwm_kb = std::max(res.hwm_kb, status_kb(in.init(), "VmHWM"));
    const std::string e = in.stop(o.timeout_s);
    if (!e.empty()) throw std::runtime_error(e);
  } catch (const std::exception& e) {
    res.error = e.what();
  }
  cg.kill_all();
}

std::string fmt(const char* f, double v) {
  if (std::isnan(v)) return "—";
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

std::vector<std::string> split_words(const std::string& s) {
  std::vector<std::string> v;
  std::stringstream ss(s);
  std::string w;
  while (ss >> w) v.push_back(w);
  return v;
}

// "NAME=WORDS" → init_cmd.
std::optional<init_cmd> parse_init(const std::string& spec) {
  const auto eq = spec.find('=');
  if (eq == std::string::npos || eq == 0) return std::nullopt;
  init_cmd c{spec.substr(0, eq), split_words(spec.substr(eq + 1))};
  if (c.words.empty()) return std::nullopt;
  return c;
}

void usage() {
  std::fprintf(stderr,
               "usage: initbench [--init NAME=WORDS]... [--out DIR] [--child PATH] [--trips N] [--warmup N]\n"
               "                 [--rounds R] [--orphans N] [--reps R] [--cpu N|-1] [--timeout S] [--quick]\n"
               "                 [--container-cpu-cgroup] [--at-rest US] [--busy]\n"
               "  --trips N          forwarded (and as many direct) signals per init, over all rounds\n"
               "  --rounds R         latency rounds, each a fresh instance of every init in turn\n"
               "  --reps R           reaping repetitions, likewise interleaved\n"
               "  --init NAME=WORDS  an init: the words before the child's argv, e.g.\n"
               "                     tini=/usr/bin/tini --   dumb-init=/usr/bin/dumb-init\n"
               "                     sigrelay='build/bench/tools/sigrelay/sigrelay run --'\n"
               "                     (also INIT_CMDS: such specs separated by ';')\n"
               "  --container-cpu-cgroup  each instance in a cpu cgroup of its own, as in a container\n"
               "                     (no autogroups there), the driver outside it\n"
               "  --at-rest US       sleep US µs before each latency sample: init and child asleep\n"
               "  --busy             a CPU-bound process on that CPU during the latency rounds (in the\n"
               "                     instances' cpu cgroup with --container-cpu-cgroup)\n");
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        usage();
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--init") {
      auto c = parse_init(next());
      if (!c) {
        usage();
        return 2;
      }
      o.inits.push_back(*c);
    } else if (a == "--out") {
      o.out = next();
    } else if (a == "--child") {
      o.child = next();
    } else if (a == "--trips") {
      o.trips = std::atol(next().c_str());
    } else if (a == "--warmup") {
      o.warmup = std::atol(next().c_str());
    } else if (a == "--orphans") {
      o.orphans = std::atol(next().c_str());
    } else if (a == "--rounds") {
      o.rounds = std::max(1, std::atoi(next().c_str()));
    } else if (a == "--reps") {
      o.reps = std::max(1, std::atoi(next().c_str()));
    } else if (a == "--cpu") {
      o.cpu = std::atoi(next().c_str());
    } else if (a == "--timeout") {
      o.timeout_s = static_cast<unsigned>(std::atoi(next().c_str()));
    } else if (a == "--container-cpu-cgroup") {
      o.container_cpu_cgroup = true;
    } else if (a == "--at-rest") {
      o.at_rest_us = std::max(1L, std::atol(next().c_str()));
    } else if (a == "--busy") {
      o.busy = true;
    } else if (a == "--quick") {
      o.trips = 2000;
      o.warmup = 200;
      o.orphans = 1000;
      o.rounds = 2;
      o.reps = 1;
    } else {
      usage();
      return 2;
    }
  }
  if (o.inits.empty()) {
    if (const char* env = std::getenv("INIT_CMDS")) {
      std::stringstream ss(env);
      std::string spec;
      while (std::getline(ss, spec, ';')) {
        if (split_words(spec).empty()) continue;
        auto c = parse_init(spec);
        if (!c) {
          std::fprintf(stderr, "initbench: bad INIT_CMDS entry: %s\n", spec.c_str());
          return 2;
        }
        o.inits.push_back(*c);
      }
    }
  }
  if (o.inits.empty()) {
    o.inits.push_back({"tini", {"/usr/bin/tini", "--"}});
    o.inits.push_back({"dumb-init", {"/usr/bin/dumb-init"}});
  }
  if (o.child.empty()) {
    char exe[4096];
    const ssize_t len = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0) return 2;
    exe[len] = '\0';
    const std::string self = exe;
    o.child = self.substr(0, self.rfind('/') + 1) + "init_child";
  }
  if (::geteuid() != 0) {
    std::fprintf(stderr, "initbench: needs root (PID namespaces and a cgroup)\n");
    return 2;
  }
  ::signal(SIGPIPE, SIG_IGN);

  pids_cgroup cg;
  if (!cg.create("sigrelay-initbench-" + std::to_string(::getpid()))) {
    std::fprintf(stderr,
                 "initbench: no pids cgroup could be created (/sys/fs/cgroup/pids or v2 with pids)\n");
    return 2;
  }

  cpu_cgroup cpu_cg;
  if (o.container_cpu_cgroup) {
    if (!cpu_cg.create("sigrelay-initbench-cpu-" + std::to_string(::getpid()))) {
      std::fprintf(stderr, "initbench: no cpu cgroup could be created (/sys/fs/cgroup/cpu or v2 with cpu)\n");
      return 2;
    }
    o.cpu_cgroup_procs = cpu_cg.dir() + "/cgroup.procs";
  }

  std::string md, goals;
  std::string lat_md, reap_md, size_md;
  std::FILE* csv = nullptr;
  if (!o.out.empty()) {
    csv = std::fopen((o.out + "/init.csv").c_str(), "w");
    if (csv == nullptr) {
      std::perror("initbench: init.csv");
      return 2;
    }
    std::fprintf(
        csv,
        "init,command,latency_median_us,latency_p99_us,direct_median_us,direct_p99_us,ratio_median,"
        "ratio_p99,reap_orphans,reap_ms_median,reap_ms_min,reap_ms_max,reap_cpu_ms_median,rss_idle_kb,"
        "hwm_after_reaping_kb,binary,binary_bytes,stripped_bytes,dynamic,latency_rounds,latency_round_min_us,"
        "latency_round_max_us,rss_after_forwarding_kb\n");
  }
  struct summary {
    std::string name;
    double lat_med = NAN, lat_p99 = NAN, reap_med = NAN;
    long long rss = -1;             // median VmRSS after forwarding
    std::vector<double> round_via;  // per-round medians, for the paired comparison
  };
  std::vector<summary> sums;
  bool all_ok = true;
  const std::size_t n = o.inits.size();

  // Interleaved: round r measures every init once, starting with init r mod n, so that the machine's
  // load (shared, changing) falls on all alike and no init always follows the same other one.
  std::vector<latency_result> lats(n);
  std::optional<busy_loop> busy;
  if (o.busy) {
    try {
      busy.emplace(o.cpu, o.cpu_cgroup_procs);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "initbench: %s\n", e.what());
      return 2;
    }
  }
  for (int r = 0; r < o.rounds; ++r) {
    std::fprintf(stderr, "[latency round %d/%d]", r + 1, o.rounds);
    for (std::size_t k = 0; k < n; ++k) {
      const std::size_t i = (static_cast<std::size_t>(r) + k) % n;
      latency_result& L = lats[i];
      if (!L.error.empty()) continue;
      std::fprintf(stderr, " %s", o.inits[i].name.c_str());
      latency_round one = measure_latency_round(o, o.inits[i], cg);
      if (!one.error.empty()) {
        L.error = one.error;
        std::fprintf(stderr, " FAILED (%s)", one.error.c_str());
        continue;
      }
      const double vm = pct(one.via_init, 0.5), dm = pct(one.direct, 0.5);
      L.round_via.push_back(vm);
      L.round_direct.push_back(dm);
      L.round_ratio.push_back(vm / dm);
      L.rss_idle_kb.push_back(one.rss_idle_kb);
      L.rss_after_kb.push_back(one.rss_after_kb);
      L.cpu_per_signal_us.push_back(one.cpu_per_signal_us);
      L.switches_per_signal.push_back(static_cast<double>(one.switches) /
                                      static_cast<double>(std::max<std::size_t>(1, one.via_init.size())));
      L.via_init.insert(L.via_init.end(), one.via_init.begin(), one.via_init.end());
      L.direct.insert(L.direct.end(), one.direct.begin(), one.direct.end());
    }
    std::fprintf(stderr, "\n");
  }
  busy.reset();  // before the reaping (design notes, --busy)
  std::vector<reap_result> reaps(n);
  for (int r = 0; r < o.reps; ++r) {
    std::fprintf(stderr, "[reaping repetition %d/%d]", r + 1, o.reps);
    for (std::size_t k = 0; k < n; ++k) {
      const std::size_t i = (static_cast<std::size_t>(r) + k) % n;
      if (!reaps[i].error.empty()) continue;
      std::fprintf(stderr, " %s", o.inits[i].name.c_str());
      measure_reaping_once(o, o.inits[i], cg, reaps[i]);
      if (!reaps[i].error.empty()) std::fprintf(stderr, " FAILED (%s)", reaps[i].error.c_str());
    }
    std::fprintf(stderr, "\n");
  }

  auto range = [](const std::vector<double>& v, const char* f) {
    if (v.empty()) return std::string("—");
    return fmt(f, pct(v, 0.5)) + " [" + fmt(f, *std::min_element(v.begin(), v.end())) + "–" +
           fmt(f, *std::max_element(v.begin(), v.end())) + "]";
  };
  auto kb_range = [&](const std::vector<long long>& v) {
    std::vector<double> d(v.begin(), v.end());
    return range(d, "%.0f");
  };
  for (std::size_t i = 0; i < n; ++i) {
    const init_cmd& ic = o.inits[i];
    const latency_result& lat = lats[i];
    const reap_result& rp = reaps[i];
    std::string cmd;
    for (auto& w : ic.words) cmd += (cmd.empty() ? "" : " ") + w;
    all_ok = all_ok && lat.error.empty() && rp.error.empty();

    summary s{ic.name, NAN, NAN, NAN, -1, {}};
    const double im = pct(lat.round_via, 0.5), i99 = pct(lat.via_init, 0.99), dm = pct(lat.round_direct, 0.5),
                 d99 = pct(lat.direct, 0.99), rm_ratio = pct(lat.round_ratio, 0.5);
    std::vector<double> rss_idle(lat.rss_idle_kb.begin(), lat.rss_idle_kb.end());
    std::vector<double> rss_after(lat.rss_after_kb.begin(), lat.rss_after_kb.end());
    if (lat.error.empty()) {
      s.lat_med = im;
      s.lat_p99 = i99;
      s.rss = static_cast<long long>(pct(rss_after, 0.5));
      s.round_via = lat.round_via;
      lat_md += "| " + ic.name + " | " + std::to_string(lat.round_via.size()) + " × " +
                std::to_string(lat.round_via.empty() ? 0 : lat.via_init.size() / lat.round_via.size()) +
                " | " + range(lat.round_via, "%.2f") + " | " + fmt("%.2f", i99) + " | " +
                range(lat.round_direct, "%.2f") + " | " + fmt("%.2f", d99) + " | " +
                range(lat.round_ratio, "%.2f") + " | " + range(lat.cpu_per_signal_us, "%.2f") + " | " +
                range(lat.switches_per_signal, "%.2f") + " |\n";
    } else {
      lat_md += "| " + ic.name + " | **FAILED**: " + lat.error + " | | | | | | | |\n";
    }
    const double rm = pct(rp.ms, 0.5);
    if (rp.error.empty() && !rp.ms.empty()) {
      s.reap_med = rm;
      reap_md += "| " + ic.name + " | " + std::to_string(o.orphans) + " | " + std::to_string(rp.ms.size()) +
                 " | " + range(rp.ms, "%.1f") + " | " +
                 fmt("%.2f", rm * 1000 / static_cast<double>(o.orphans)) + " | " + range(rp.cpu_ms, "%.1f") +
                 " | " + (rp.hwm_kb >= 0 ? std::to_string(rp.hwm_kb) : "—") + " |\n";
    } else {
      reap_md +=
          "| " + ic.name + " | " + std::to_string(o.orphans) + " | **FAILED**: " + rp.error + " | | | | |\n";
    }
    const std::string bin = which(ic.words.front());
    const long long size = file_size(bin);
    long long stripped = -1;
    const std::string tmp = "/tmp/sigrelay-initbench-" + std::to_string(::getpid()) + ".stripped";
    if (run_program({"strip", "-o", tmp, bin}) == 0) stripped = file_size(tmp);
    ::unlink(tmp.c_str());
    const auto dyn = dynamically_linked(bin);
    size_md += "| " + ic.name + " | `" + bin + "` | " + kb_range(lat.rss_idle_kb) + " | " +
               kb_range(lat.rss_after_kb) + " | " + (size >= 0 ? std::to_string(size) : "—") + " | " +
               (stripped >= 0 ? std::to_string(stripped) : "—") + " | " +
               (!dyn   ? "?"
                : *dyn ? "dynamic"
                       : "static") +
               " |\n";
    if (csv != nullptr) {
      std::fprintf(
          csv,
          "%s,\"%s\",%.3f,%.3f,%.3f,%.3f,%.4f,%.4f,%ld,%.3f,%.3f,%.3f,%.3f,%lld,%lld,%s,%lld,%lld,%d,%zu,"
          "%.3f,%.3f,%lld\n",
          ic.name.c_str(), cmd.c_str(), im, i99, dm, d99, rm_ratio, i99 / d99, o.orphans, rm,
          rp.ms.empty() ? NAN : *std::min_element(rp.ms.begin(), rp.ms.end()),
          rp.ms.empty() ? NAN : *std::max_element(rp.ms.begin(), rp.ms.end()), pct(rp.cpu_ms, 0.5),
          static_cast<long long>(pct(rss_idle, 0.5)), rp.hwm_kb, bin.c_str(), size, stripped,
          dyn && *dyn ? 1 : 0, lat.round_via.size(),
          lat.round_via.empty() ? NAN : *std::min_element(lat.round_via.begin(), lat.round_via.end()),
          lat.round_via.empty() ? NAN : *std::max_element(lat.round_via.begin(), lat.round_via.end()),
          static_cast<long long>(pct(rss_after, 0.5)));
    }
    sums.push_back(s);
  }
  if (csv != nullptr) std::fclose(csv);

  md += "### Forwarding latency\n\n";
  md +=
      "Each init is PID 1 of a fresh PID namespace (`unshare --pid --fork --mount-proc`), its child a small "
      "program of ours that takes SIGUSR1 with sigwaitinfo() and writes CLOCK_MONOTONIC at receipt to the "
      "driver. Latency = kill() of the init by the driver → receipt by the child, one signal in flight; "
      "*direct* = kill() of the same child by the driver, in blocks interleaved with the forwarded ones. " +
      std::to_string(o.rounds) +
      " interleaved rounds (each round starts a fresh instance of every init in "
      "turn, the first one rotating), each " +
      std::to_string(std::max<long>(1, o.trips / o.rounds)) + " signals of each kind after " +
      std::to_string(std::max<long>(1, o.warmup / o.rounds)) + " warm-up pairs; " +
      (o.cpu >= 0 ? "driver, init and child on CPU " + std::to_string(o.cpu) : std::string("unpinned")) +
      (o.container_cpu_cgroup ? "; init and child in a cpu cgroup of their own, the driver outside it, as in "
                                "a container (`--container-cpu-cgroup`: no autogroups)"
                              : std::string("; every process in the driver's cpu cgroup")) +
      (o.at_rest_us > 0 ? "; each sample after a " + std::to_string(o.at_rest_us) +
                              " µs sleep of the driver, so that the init and its child are asleep when the "
                              "signal comes (`--at-rest`)"
                        : std::string("; samples back to back (the child may still be on its way back to "
                                      "sigwaitinfo() when the next signal comes)")) +
      (o.busy ? std::string("; a CPU-bound process on the same CPU throughout the latency rounds, ") +
                    (o.container_cpu_cgroup ? "in the instances' cpu cgroup (`--busy`)"
                                            : "in the driver's session and cpu cgroup (`--busy`)")
              : std::string()) +
      ". µs; *median [range]* = median of the per-round medians [lowest–highest round]; p99 over every "
      "sample; *ratio* = per-round median forwarded ÷ median direct; *init CPU* and *switches* = the "
      "init's CPU time (schedstat) and context switches (/proc/PID/status) during the forwarded blocks, "
      "per forwarded signal.\n\n";
  md +=
      "| init | rounds × samples | median [range] | p99 | direct median [range] | direct p99 | "
      "ratio [range] | init CPU µs/signal | init switches/signal |\n";
  md += "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n" + lat_md;
  md += "\n### Reaping " + std::to_string(o.orphans) + " orphans\n\n";
  md +=
      "The child forks an intermediate process that starts the orphans (clone() with CLONE_VM: processes of "
      "their own whose exits do not each tear down an address space, so that the figure is the init's and "
      "not "
      "the kernel's mm teardown), each blocked on a pipe only the intermediate holds; the intermediate takes "
      "the time and exits, so all of them exit at once, re-parented to the init (PID 1). *time* = from then "
      "until the cgroup's pids.current (which counts "
      "every task until it is reaped) is back to what it was before: median [min–max] over repetitions, "
      "each with a fresh instance of every init in turn (interleaved as the latency rounds). *init CPU* = "
      "the init's CPU time meanwhile (schedstat). *VmHWM* = the "
      "init's peak RSS, read after the reaping.\n\n";
  md +=
      "| init | orphans | repetitions | time ms, median [range] | µs per orphan | init CPU ms | VmHWM KiB "
      "|\n";
  md += "|---|---:|---:|---:|---:|---:|---:|\n" + reap_md;
  md += "\n### Memory and size\n\n";
  md +=
      "*RSS idle* = the init's VmRSS with its child started and nothing happening yet; *RSS after "
      "forwarding* = its VmRSS after the round's last signal (what forwarding keeps mapped): median "
      "[range] over the latency rounds. *stripped* = the size "
      "of `strip -o` of the binary; *linking*: whether it loads shared libraries (tini and dumb-init: "
      "libc; `sigrelay`, built with SIGRELAY_STATIC_TOOL, none: its file holds its library, libstdc++ "
      "and the parts of libc it uses).\n\n";
  md +=
      "| init | binary | RSS idle KiB | RSS after forwarding KiB | file bytes | stripped bytes | linking |\n";
  md += "|---|---|---:|---:|---:|---:|---|\n" + size_md;

  // Issue 11's goal: ahead of both on latency and reaping, RSS within tini's.
  auto find = [&](const std::string& name) -> const summary* {
    for (auto& s : sums)
      if (s.name == name) return &s;
    return nullptr;
  };
  const summary* tini = find("tini");
  const summary* dumb = find("dumb-init");
  for (const summary& s : sums) {
    if (s.name.rfind("sigrelay", 0) != 0) continue;
    auto row = [&](const std::string& what, const std::string& measured, const std::string& target,
                   bool met) {
      goals += "| 11 " + what + " | init | " + s.name + " | " + measured + " | " + target + " | " +
               (met ? "**met**" : "**MISSED**") + " |\n";
    };
    // Rounds in which this init's median was below the other's in the same round (paired: same load);
    // -1 if the rounds do not pair up (a failed init).
    auto wins = [&](const summary& other) -> long {
      if (s.round_via.size() != other.round_via.size() || s.round_via.empty()) return -1;
      long w = 0;
      for (std::size_t r = 0; r < s.round_via.size(); ++r) w += s.round_via[r] < other.round_via[r] ? 1 : 0;
      return w;
    };
    auto wins_text = [&](const summary& other) {
      const long w = wins(other);
      return w < 0 ? std::string("")
                   : ", below it in " + std::to_string(w) + "/" + std::to_string(s.round_via.size()) +
                         " rounds";
    };
    // Ahead of another init: a lower median of the per-round medians and a lower median in most rounds
    // (a difference that flips from round to round is noise, not a lead).
    auto ahead = [&](const summary& other) {
      const long w = wins(other);
      return s.lat_med < other.lat_med && w >= 0 && 2 * static_cast<std::size_t>(w) > s.round_via.size();
    };
    if (tini != nullptr && dumb != nullptr) {
      row("forwarding latency",
          fmt("%.2f", s.lat_med) + " µs (tini " + fmt("%.2f", tini->lat_med) + wins_text(*tini) +
              "; dumb-init " + fmt("%.2f", dumb->lat_med) + wins_text(*dumb) + ")",
          "median below both, in most rounds", ahead(*tini) && ahead(*dumb));
      if (o.busy) {
        row("forwarding latency p99, CPU busy",
            fmt("%.1f", s.lat_p99) + " µs (tini " + fmt("%.1f", tini->lat_p99) + "; dumb-init " +
                fmt("%.1f", dumb->lat_p99) + ")",
            "p99 below both", s.lat_p99 < tini->lat_p99 && s.lat_p99 < dumb->lat_p99);
      }
      row("reaping",
          fmt("%.1f", s.reap_med) + " ms (tini " + fmt("%.1f", tini->reap_med) + ", dumb-init " +
              fmt("%.1f", dumb->reap_med) + ")",
          "median below both", s.reap_med < tini->reap_med && s.reap_med < dumb->reap_med);
      row("RSS after forwarding", std::to_string(s.rss) + " KiB (tini " + std::to_string(tini->rss) + ")",
          "≤ tini's", s.rss >= 0 && tini->rss >= 0 && s.rss <= tini->rss);
    }
  }
  if (goals.empty())
    goals =
        "| 11 init: ahead of tini and dumb-init | init | sigrelay run | not measured (no init named "
        "sigrelay* "
        "in this run, or tini/dumb-init missing) | latency and reaping below both, RSS ≤ tini's | **not "
        "measured** |\n";

  if (!o.out.empty()) {
    for (const auto& [file, text] :
         {std::pair<std::string, std::string>{"/init.md", md}, {"/init_goals.md", goals}}) {
      std::FILE* f = std::fopen((o.out + file).c_str(), "w");
      if (f == nullptr) {
        std::perror(file.c_str());
        return 2;
      }
      std::fputs(text.c_str(), f);
      std::fclose(f);
    }
  } else {
    std::fputs(md.c_str(), stdout);
    std::fputs(("\n### Goal (issue 11)\n\n" + goals).c_str(), stdout);
  }
  return all_ok ? 0 : 1;
}
