// SPDX-License-Identifier: MIT
// bench/pingpong.cc — the signal ping-pong and flood harness: sigrelay against the floors and peers.
//
// Design notes
// ------------
// * One executable plays both parts. Run without --responder it is the *driver*; for every
//   measurement it forks and re-executes itself (/proc/self/exe) as a *responder* that uses exactly
//   one mechanism, so each mechanism starts from a fresh process (no state left by another library)
//   and its CPU time is its own (wait4 rusage). Mechanisms live in floors.cc, peer_*.cc,
//   responders_sigrelay.cc and adapters_*.cc behind one interface (harness.hpp).
// * Ping-pong: the driver blocks SIGUSR2 and SIGCHLD and waits with sigwaitinfo(). Each round trip is
//   CLOCK_MONOTONIC → kill(responder, SIGUSR1) → sigwaitinfo() until SIGUSR2 from that responder →
//   CLOCK_MONOTONIC. The responder replies with kill(driver, SIGUSR2) from ordinary code each time its
//   mechanism hands it the signal (the "handler-reply" floor alone replies from inside its handler).
//   There is at most one SIGUSR1 in flight, so nothing coalesces. A warm-up precedes the counted
//   round trips in every process; the responder exits after its last reply and the driver reaps it
//   with wait4(): CPU per signal = (ru_utime + ru_stime) / (warm-up + counted). That includes the
//   process's start-up (exec, dynamic loading, the mechanism's setup): well under 1% at the default
//   counts, and the same for every mechanism.
// * Rounds interleave the mechanisms (A B C … A B C …) so that drift of the machine (frequency,
//   neighbours) spreads over all of them; every ratio is taken against the sigwaitinfo floor's median
//   *in the same round*, and the table shows the median of those per-round ratios with the range.
// * Pinning with sched_setaffinity: "1 CPU" puts driver and responder on CPU 0 (every round trip is
//   two context switches on one CPU); "2 CPUs" puts the driver on CPU 0 and the responder on CPU 1
//   (every round trip is two cross-CPU wake-ups). The 2-CPU figure is skipped if only one CPU is
//   usable.
// * Floods, for every pinning of --flood-pin (default: driver and responder on the same CPU — the
//   setting of issue 9's flood goal — then on two CPUs): 100,000 realtime signals with sigqueue()
//   (value = sequence number; EAGAIN from a full kernel queue is retried and counted apart, never
//   skipped: *sent* counts successful calls only), then 100,000 SIGUSR1 with kill(). The responder
//   reports its resident set: VmRSS once set up (at rest), VmHWM reset to that just before the flood
//   (5 written to /proc/self/clear_refs) and read at the end (the flood's peak), VmRSS at the end. After its
//   last send the driver waits until the kernel has handed every flooded signal to the responder (none left
//   pending in /proc/PID/status), then sends a distinct marker, SIGUSR2 (a standard signal: it never competes
//   for a realtime ring slot); the responder acknowledges it, the driver sends the marker once more, and the
//   responder reports when it sees that second one — by then everything recorded before the first marker has
//   had a complete drain. Every count is taken on the application's side, as a user with default options
//   sees it: *received* = what the mechanism handed to ordinary code, *dropped* = sigrelay's dropped(),
//   *sent* = sigqueue() calls that returned 0; received + dropped == sent is checked for every sigrelay
//   mode in every run. No second registry action goes on the flooded signal: the library holds a flood
//   in the kernel only while its `signals` object is the signal's sole action, so a counting action
//   would measure a configuration no default user has. The exception is ThreadSanitizer (the smoke run
//   under the tsan preset): its interception merges queued realtime signals before any handler of ours
//   runs, so there the relay-backend responders add a relay::add_count action and the handler's count
//   is the reference.
// * Safety: the driver never signals anything but its own children, by pid. Each child has
//   PR_SET_PDEATHSIG(SIGKILL) and an alarm() watchdog, resets the dispositions and the mask it relies
//   on, and is killed and reaped by the driver on any error; the driver itself runs each child under
//   an alarm() so that a lost signal ends the measurement as a failure instead of a hang.
// * Nothing is massaged: every figure is computed from the raw samples, which are written to
//   raw/*.csv, and a goal that is missed says so in the table.
#include <fcntl.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "harness.hpp"

#if defined(__SANITIZE_THREAD__)
#define BENCH_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define BENCH_TSAN 1
#endif
#endif
#ifndef BENCH_TSAN
#define BENCH_TSAN 0
#endif

namespace bench {

void add_peer_asio(std::vector<mechanism_info>& out);
void add_peer_uv(std::vector<mechanism_info>& out);
void add_peer_event(std::vector<mechanism_info>& out);
void add_peer_ev(std::vector<mechanism_info>& out);

void add_peers([[maybe_unused]] std::vector<mechanism_info>& out) {
#ifdef BENCH_HAVE_ASIO
  add_peer_asio(out);
#endif
#ifdef BENCH_HAVE_UV
  add_peer_uv(out);
#endif
#ifdef BENCH_HAVE_EVENT
  add_peer_event(out);
#endif
#if defined(BENCH_HAVE_EV)
  add_peer_ev(out);
#elif defined(BENCH_EV_HELPER)
  mechanism_info ev{"libev", group::peer, "libev ev_signal on the default loop", false, nullptr};
  ev.helper = BENCH_EV_HELPER;
  out.push_back(ev);
#endif
}

#ifndef BENCH_HAVE_SIGRELAY_SIGNALS
void add_sigrelay(std::vector<mechanism_info>&) {}
#endif
#ifndef BENCH_HAVE_ADAPTERS
void add_adapters(std::vector<mechanism_info>&) {}
#endif

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "pingpong[%d]: %s: %s\n", static_cast<int>(::getpid()), what, std::strerror(errno));
  std::fflush(stderr);
  ::_exit(2);
}

void block_signals(const std::vector<int>& signos) {
  sigset_t set;
  sigemptyset(&set);
  for (int s : signos) sigaddset(&set, s);
  if (::sigprocmask(SIG_BLOCK, &set, nullptr) != 0) die("sigprocmask");
}

void install_handler(int signo, void (*fn)(int, siginfo_t*, void*), const std::vector<int>& block) {
  struct sigaction sa {};
  sa.sa_sigaction = fn;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  for (int s : block) sigaddset(&sa.sa_mask, s);
  if (::sigaction(signo, &sa, nullptr) != 0) die("sigaction");
}

namespace {

using clock_ns = std::int64_t;

clock_ns now_ns() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<clock_ns>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

const char* group_name(group g) {
  switch (g) {
    case group::floor: return "floor";
    case group::peer: return "peer";
    case group::sigrelay: return "sigrelay";
  }
  return "?";
}

std::vector<mechanism_info> all_mechanisms() {
  std::vector<mechanism_info> v;
  add_floors(v);
  add_peers(v);
  add_sigrelay(v);
  add_adapters(v);
  return v;
}

void set_default(int signo) {
  struct sigaction sa {};
  sa.sa_handler = SIG_DFL;
  sigemptyset(&sa.sa_mask);
  ::sigaction(signo, &sa, nullptr);
}

bool pin_to(int cpu) {
  if (cpu < 0) return true;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return ::sched_setaffinity(0, sizeof set, &set) == 0;
}

std::vector<int> usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> v;
  if (::sched_getaffinity(0, sizeof set, &set) != 0) return v;
  for (int i = 0; i < CPU_SETSIZE; ++i)
    if (CPU_ISSET(i, &set)) v.push_back(i);
  return v;
}

// ================================================================================================
// Responder side
// ================================================================================================

// This process's resident set from /proc/self/status, in KiB (-1 where a field is missing): VmRSS
// now, and VmHWM, the peak since start or since the last reset_peak_rss().
struct rss_kb {
  long long now = -1;
  long long peak = -1;
};

rss_kb read_rss() {
  rss_kb r;
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return r;
  char line[256];
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::strncmp(line, "VmRSS:", 6) == 0) r.now = std::strtoll(line + 6, nullptr, 10);
    if (std::strncmp(line, "VmHWM:", 6) == 0) r.peak = std::strtoll(line + 6, nullptr, 10);
  }
  std::fclose(f);
  return r;
}

// Resets VmHWM to the current VmRSS (writing 5 to /proc/PID/clear_refs, Linux 4.0+), so that the
// peak read after a flood is the flood's own, not the start-up's. False if the kernel refused.
bool reset_peak_rss() {
  const int fd = ::open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::write(fd, "5", 1) == 1;
  ::close(fd);
  return ok;
}

enum class mode { pingpong, flood_rt, flood_kill };

const char* mode_name(mode m) {
  switch (m) {
    case mode::pingpong: return "pingpong";
    case mode::flood_rt: return "flood-rt";
    case mode::flood_kill: return "flood-kill";
  }
  return "?";
}

std::optional<mode> parse_mode(const std::string& s) {
  if (s == "pingpong") return mode::pingpong;
  if (s == "flood-rt") return mode::flood_rt;
  if (s == "flood-kill") return mode::flood_kill;
  return std::nullopt;
}

int flood_signal(mode m) { return m == mode::flood_rt ? SIGRTMIN : SIGUSR1; }
int marker_signal(mode) { return SIGUSR2; }

struct pingpong_sink final : event_sink {
  pid_t driver = 0;
  bool reply = true;
  std::uint64_t target = 0;
  std::uint64_t replies = 0;
  void on(int signo, std::uint64_t count, bool, int) override {
    if (signo != SIGUSR1) return;
    for (std::uint64_t i = 0; i < count; ++i) {
      if (reply && ::kill(driver, SIGUSR2) != 0) die("kill(driver)");
      ++replies;
    }
    done = replies >= target;
  }
};

struct flood_sink final : event_sink {
  pid_t driver = 0;
  int flood = 0;
  int marker = 0;
  std::uint64_t received = 0;
  std::uint64_t events = 0;
  std::uint64_t valued = 0;
  std::uint64_t out_of_order = 0;
  int last_value = 0;
  std::uint64_t markers = 0;
  void on(int signo, std::uint64_t count, bool has_value, int value) override {
    if (signo == flood) {
      received += count;
      ++events;
      if (has_value) {
        ++valued;
        if (valued > 1 && value <= last_value) ++out_of_order;  // gaps (drops) are not disorder
        last_value = value;
      }
    } else if (signo == marker) {
      for (std::uint64_t i = 0; i < count; ++i) {
        ++markers;
        if (markers == 1 && ::kill(driver, SIGUSR2) != 0) die("kill(driver)");
      }
      done = markers >= 2;
    }
  }
};

int responder_main(const std::string& name, mode m, std::uint64_t count, pid_t driver, int result_fd,
                   unsigned timeout_s) {
  // Dispositions and mask this process relies on: whatever was inherited, start from the default.
  for (int s : {SIGUSR1, SIGUSR2, SIGRTMIN, SIGRTMIN + 1, SIGALRM, SIGCHLD}) set_default(s);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::alarm(timeout_s);  // watchdog: a responder never outlives a stuck measurement

  std::unique_ptr<mechanism> mech;
  for (auto& info : all_mechanisms()) {
    if (info.name == name && info.make) mech = info.make();
  }
  if (!mech) {
    std::fprintf(stderr, "pingpong: unknown mechanism %s\n", name.c_str());
    return 2;
  }

  setup_args args;
  args.driver = driver;
  if (m == mode::pingpong) {
    args.signos = {SIGUSR1};
    args.reply_in_handler = name == "handler-reply";
  } else {
    args.signos = {flood_signal(m), marker_signal(m)};
    // Handler runs are counted only under ThreadSanitizer, where they are the reference (see above):
    // elsewhere a second action on the flooded signal would turn the library's holds off.
    args.count_deliveries = BENCH_TSAN != 0;
  }
  mech->setup(args);
  // Floods: the resident set at rest (set up, before the first flooded signal), then the peak from
  // here on (VmHWM reset now) and the resident set once everything was handed over.
  const bool peak_reset = m != mode::pingpong && reset_peak_rss();
  const rss_kb before = m != mode::pingpong ? read_rss() : rss_kb{};
  if (::kill(driver, SIGUSR2) != 0) die("kill(driver): ready");

  if (m == mode::pingpong) {
    pingpong_sink sink;
    sink.driver = driver;
    sink.reply = !args.reply_in_handler;
    sink.target = count;
    mech->run(sink);
  } else {
    flood_sink sink;
    sink.driver = driver;
    sink.flood = flood_signal(m);
    sink.marker = marker_signal(m);
    mech->run(sink);
    const rss_kb after = read_rss();
    char line[320];
    const int n = std::snprintf(
        line, sizeof line,
        "%" PRIu64 " %" PRIu64 " %lld %lld %" PRIu64 " %" PRIu64 " %" PRIu64 " %lld %lld %lld %d\n",
        sink.received, sink.events, mech->dropped(), mech->deliveries(), sink.out_of_order, sink.valued,
        sink.markers, before.now, after.peak, after.now, peak_reset ? 1 : 0);
    if (::write(result_fd, line, static_cast<std::size_t>(n)) != n) die("write(result)");
  }
  mech.reset();
  return 0;
}

// ================================================================================================
// Driver side
// ================================================================================================

volatile std::sig_atomic_t g_alarm = 0;
extern "C" void on_alarm(int) { g_alarm = 1; }

struct child {
  pid_t pid = -1;
  int result_fd = -1;  // read end (floods)
};

struct options {
  int rounds = 5;
  std::uint64_t trips = 100'000;  // counted round trips per mechanism and pinning, over all rounds
  std::uint64_t trips_2cpu = 0;   // the same for the 2-CPU pinning, if not 0
  std::uint64_t warmup = 2'000;   // per responder process
  std::uint64_t flood = 100'000;
  unsigned timeout_s = 60;         // per responder process
  unsigned marker_timeout_s = 10;  // floods: from the marker to its acknowledgement
  std::string out;                 // results directory; nothing is written without it
  std::vector<std::string> only;   // mechanisms to run (default: all)
  bool smoke = false;
  bool pingpong = true;
  bool floods = true;
  std::string pins = "1,2";        // ping-pong pinnings
  std::string flood_pins = "1,2";  // flood pinnings (issue 9's flood goal: "1", the same CPU)
};

class driver {
 public:
  explicit driver(const options& o) : opt_(o) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    sigaddset(&set, SIGCHLD);
    waitset_ = set;
    ::sigprocmask(SIG_BLOCK, &set, nullptr);
    sigset_t unblock;
    sigemptyset(&unblock);
    sigaddset(&unblock, SIGALRM);
    ::sigprocmask(SIG_UNBLOCK, &unblock, nullptr);
    struct sigaction sa {};
    sa.sa_handler = on_alarm;  // no SA_RESTART: the alarm interrupts sigwaitinfo()/wait4()
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGALRM, &sa, nullptr);
    set_default(SIGUSR2);
    set_default(SIGCHLD);
    ::signal(SIGPIPE, SIG_IGN);
  }

  child spawn(const mechanism_info& mech, mode m, std::uint64_t count, int cpu) {
    const std::string& name = mech.name;
    int fds[2] = {-1, -1};
    if (m != mode::pingpong && ::pipe2(fds, O_CLOEXEC) != 0) die("pipe2");
    const pid_t self = ::getpid();
    std::vector<std::string> argv_s = {"pingpong",
                                       "--responder",
                                       name,
                                       "--mode",
                                       mode_name(m),
                                       "--count",
                                       std::to_string(count),
                                       "--driver",
                                       std::to_string(self),
                                       "--result-fd",
                                       std::to_string(fds[1]),
                                       "--timeout",
                                       std::to_string(opt_.timeout_s)};
    std::vector<char*> argv;
    for (auto& s : argv_s) argv.push_back(s.data());
    argv.push_back(nullptr);
    char exe[4096];
    const ssize_t len = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0) die("readlink(/proc/self/exe)");
    exe[len] = '\0';
    std::string path = exe;
    if (!mech.helper.empty()) path = path.substr(0, path.rfind('/') + 1) + mech.helper;

    const pid_t pid = ::fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
      // Child, before exec: only async-signal-safe calls.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != self) ::_exit(3);
      if (!pin_to(cpu)) ::_exit(4);
      if (fds[1] >= 0) ::fcntl(fds[1], F_SETFD, 0);  // the result fd survives exec
      ::alarm(opt_.timeout_s);
      ::execv(path.c_str(), argv.data());
      ::_exit(5);
    }
    if (fds[1] >= 0) ::close(fds[1]);
    return {pid, fds[0]};
  }

  // Whether `signo` is pending for process `pid` (its shared or main thread's queue).
  static bool still_pending(pid_t pid, int signo) {
    const std::string path = "/proc/" + std::to_string(pid) + "/status";
    std::FILE* f = std::fopen(path.c_str(), "r");
    if (f == nullptr) return false;
    char line[256];
    bool pending = false;
    while (std::fgets(line, sizeof line, f) != nullptr) {
      if (std::strncmp(line, "ShdPnd:", 7) == 0 || std::strncmp(line, "SigPnd:", 7) == 0) {
        const unsigned long long mask = std::strtoull(line + 7, nullptr, 16);
        if ((mask >> (signo - 1)) & 1ULL) pending = true;
      }
    }
    std::fclose(f);
    return pending;
  }

  enum class got { reply, died, timeout };

  // Waits for SIGUSR2 from `c` (or its death, or the alarm).
  got wait_reply(const child& c) {
    for (;;) {
      siginfo_t si;
      const int s = ::sigwaitinfo(&waitset_, &si);
      if (s < 0) {
        if (errno == EINTR && g_alarm) return got::timeout;
        continue;
      }
      if (s == SIGUSR2 && si.si_pid == c.pid) return got::reply;
      if (s == SIGCHLD) {
        siginfo_t w{};
        if (::waitid(P_PID, static_cast<id_t>(c.pid), &w, WEXITED | WNOHANG | WNOWAIT) == 0 &&
            w.si_pid == c.pid)
          return got::died;
      }
    }
  }

  // Reaps `c` (killing it first if `kill_first`); returns its exit status, fills rusage.
  int reap(child& c, bool kill_first, rusage* ru = nullptr) {
    if (c.pid <= 0) return -1;
    if (kill_first || g_alarm) ::kill(c.pid, SIGKILL);  // after the alarm, nothing would interrupt wait4()
    int status = 0;
    rusage r{};
    for (;;) {
      const pid_t p = ::wait4(c.pid, &status, 0, &r);
      if (p == c.pid) break;
      if (p < 0 && errno == EINTR) {
        ::kill(c.pid, SIGKILL);  // the alarm: it will not end by itself
        continue;
      }
      die("wait4");
    }
    if (ru != nullptr) *ru = r;
    if (c.result_fd >= 0) ::close(c.result_fd);
    c = child{};
    // Forget SIGCHLDs already queued for reaped children.
    const timespec zero{0, 0};
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    while (::sigtimedwait(&chld, nullptr, &zero) > 0) {
    }
    return status;
  }

  static std::string describe_status(int status) {
    if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) return std::string("killed by ") + strsignal(WTERMSIG(status));
    return "status " + std::to_string(status);
  }

  struct pingpong_result {
    bool ok = false;
    std::string error;
    std::vector<std::uint32_t> samples;  // ns, counted round trips only
    double cpu_ns = 0;                   // responder user+system time
    std::uint64_t signals = 0;           // warm-up + counted
  };

  pingpong_result pingpong(const mechanism_info& name, std::uint64_t counted, int driver_cpu,
                           int responder_cpu) {
    pingpong_result res;
    const std::uint64_t total = opt_.warmup + counted;
    pin_to(driver_cpu);
    g_alarm = 0;
    ::alarm(opt_.timeout_s);
    child c = spawn(name, mode::pingpong, total, responder_cpu);
    if (wait_reply(c) != got::reply) {
      ::alarm(0);
      const int st = reap(c, true);
      res.error = "responder not ready (" + describe_status(st) + ")";
      return res;
    }
    res.samples.reserve(counted);
    for (std::uint64_t i = 0; i < total; ++i) {
      const clock_ns t0 = now_ns();
      if (::kill(c.pid, SIGUSR1) != 0) die("kill(responder)");
      const got g = wait_reply(c);
      const clock_ns t1 = now_ns();
      if (g != got::reply) {
        ::alarm(0);
        const int st = reap(c, true);
        res.error = std::string(g == got::timeout ? "timed out" : "responder died") + " after " +
                    std::to_string(i) + " of " + std::to_string(total) + " round trips (" +
                    describe_status(st) + ")";
        return res;
      }
      if (i >= opt_.warmup)
        res.samples.push_back(static_cast<std::uint32_t>(std::min<clock_ns>(t1 - t0, UINT32_MAX)));
    }
    rusage ru{};
    const int st = reap(c, false, &ru);
    ::alarm(0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
      res.error = "responder ended with " + describe_status(st);
      return res;
    }
    res.cpu_ns = (static_cast<double>(ru.ru_utime.tv_sec) + static_cast<double>(ru.ru_stime.tv_sec)) * 1e9 +
                 (static_cast<double>(ru.ru_utime.tv_usec) + static_cast<double>(ru.ru_stime.tv_usec)) * 1e3;
    res.signals = total;
    res.ok = true;
    return res;
  }

  struct flood_result {
    bool ok = false;  // the run completed (marker seen, result read)
    std::string error;
    std::uint64_t sent = 0;
    std::uint64_t eagain = 0;
    std::uint64_t received = 0;
    std::uint64_t events = 0;
    long long dropped = -1;
    long long deliveries = -1;
    std::uint64_t out_of_order = 0;
    std::uint64_t valued = 0;
    bool marker_seen = false;
    double seconds = 0;
    // The responder's resident set in KiB: at rest before the flood, the peak during it (VmHWM,
    // reset before the flood where peak_reset), and after everything was handed over.
    long long rss_before = -1;
    long long rss_peak = -1;
    long long rss_after = -1;
    bool peak_reset = false;
  };

  flood_result flood(const mechanism_info& name, mode m, std::uint64_t n, int driver_cpu, int responder_cpu) {
    flood_result res;
    pin_to(driver_cpu);
    g_alarm = 0;
    ::alarm(opt_.timeout_s);
    child c = spawn(name, m, n, responder_cpu);
    if (wait_reply(c) != got::reply) {
      ::alarm(0);
      const int st = reap(c, true);
      res.error = "responder not ready (" + describe_status(st) + ")";
      return res;
    }
    const int sig = flood_signal(m);
    const clock_ns t0 = now_ns();
    for (std::uint64_t i = 0; i < n && !g_alarm; ++i) {
      for (;;) {
        int r;
        if (m == mode::flood_rt) {
          union sigval v {};
          v.sival_int = static_cast<int>(i);
          r = ::sigqueue(c.pid, sig, v);
        } else {
          r = ::kill(c.pid, sig);
        }
        if (r == 0) break;
        if (errno == EAGAIN && !g_alarm) {  // the kernel's queue is full: retry, never skip
          ++res.eagain;
          ::sched_yield();
          continue;
        }
        if (g_alarm) break;
        die("sigqueue/kill(responder)");
      }
      ++res.sent;
    }
    res.seconds = static_cast<double>(now_ns() - t0) / 1e9;
    // Before the marker: wait until the kernel has handed every flooded signal to the responder
    // (none left pending), so that the marker cannot overtake any of them.
    while (!g_alarm && still_pending(c.pid, sig)) ::usleep(200);
    // The marker, twice: the first is acknowledged, the second ends the responder's run.
    // The marker must be seen within marker_timeout_s (a mechanism whose relay buffer is still
    // full loses it).
    ::alarm(opt_.marker_timeout_s);
    const int marker = marker_signal(m);
    union sigval zero {};
    if (::sigqueue(c.pid, marker, zero) != 0) die("sigqueue(marker)");
    const got g = wait_reply(c);
    if (g != got::reply) {
      ::alarm(0);
      const int st = reap(c, true);
      res.error = g == got::timeout ? "marker not seen within " + std::to_string(opt_.marker_timeout_s) + " s"
                                    : "responder died (" + describe_status(st) + ")";
      return res;
    }
    res.marker_seen = true;
    if (::sigqueue(c.pid, marker, zero) != 0) die("sigqueue(marker)");
    std::string text;
    char buf[256];
    for (;;) {
      const ssize_t r = ::read(c.result_fd, buf, sizeof buf);
      if (r > 0) {
        text.append(buf, static_cast<std::size_t>(r));
        continue;
      }
      if (r < 0 && errno == EINTR && !g_alarm) continue;
      break;
    }
    const int st = reap(c, false);
    ::alarm(0);
    std::istringstream in(text);
    std::uint64_t markers = 0;
    int peak_reset = 0;
    if (!(in >> res.received >> res.events >> res.dropped >> res.deliveries >> res.out_of_order >>
          res.valued >> markers >> res.rss_before >> res.rss_peak >> res.rss_after >> peak_reset)) {
      res.error = "no result from responder (" + describe_status(st) + ")";
      return res;
    }
    res.peak_reset = peak_reset != 0;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
      res.error = "responder ended with " + describe_status(st);
      return res;
    }
    res.ok = true;
    return res;
  }

 private:
  options opt_;
  sigset_t waitset_{};
};

// ------------------------------------------------------------------------------------------------
// Statistics and reports
// ------------------------------------------------------------------------------------------------

double pct(const std::vector<std::uint32_t>& sorted, double q) {
  if (sorted.empty()) return NAN;
  std::size_t i = static_cast<std::size_t>(q * static_cast<double>(sorted.size()));
  if (i >= sorted.size()) i = sorted.size() - 1;
  return sorted[i];
}

double median_of(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct mech_stats {
  std::string name;
  group kind{};
  bool exact = false;
  bool failed = false;
  std::string error;
  std::vector<std::uint32_t> all;     // every counted sample, sorted after the rounds
  std::vector<double> round_medians;  // ns
  std::vector<double> round_ratios;   // median / floor median in the same round
  double cpu_ns = 0;
  std::uint64_t signals = 0;
};

// The ping-pong goals of issue 9, as ratios to the sigwaitinfo floor in the same run. `median`: the
// median round trip (median of the per-round ratios); `cpu`: CPU per signal (NaN: no CPU goal);
// p99.9 ≤ goal_p999 for all. The dispatcher and the adapters are built on native_handle() (poll,
// epoll, the loop's own watcher), so they "inherit the gains" (goal 4) when they meet the
// native_handle()+epoll goal.
struct goal {
  double median;
  double cpu;
  int number;  // the goal of issue 9: 2 (sigrelay's own modes) or 4 (dispatcher, adapters)
};
constexpr double goal_p999 = 1.5;
// Flood goal, "memory at rest must not grow measurably": the responder's RSS once set up, before the
// flood, at most this much above that of the same executable without sigrelay (see goal_rows()).
constexpr double goal_at_rest_kb = 256;

std::optional<goal> goal_of(const std::string& name) {
  if (name == "sigrelay-signalfd") return goal{1.08, 1.2, 2};
  if (name == "sigrelay-wait" || name == "sigrelay-iterator") return goal{1.20, 1.2, 2};
  if (name == "sigrelay-epoll" || name == "sigrelay-epoll-signalfd") return goal{1.25, NAN, 2};
  if (name.rfind("sigrelay-", 0) == 0) return goal{1.25, NAN, 4};
  return std::nullopt;
}

// The mechanisms of issue 9's table that sigrelay's ping-pong must be ahead of (every one but the
// sigwaitinfo floor itself).
const std::vector<std::string>& goal_rivals() {
  static const std::vector<std::string> v = {"signalfd+epoll", "handler-reply", "self-pipe+poll", "asio",
                                             "libuv",          "libevent",      "libev"};
  return v;
}

std::string fmt(const char* f, double v) {
  if (std::isnan(v)) return "—";
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

const char* floor_name = "sigwaitinfo";

struct pin_config {
  std::string label;  // "1cpu" / "2cpu"
  std::string title;
  int driver_cpu;
  int responder_cpu;
};

bool mkdir_p(const std::string& path) {
  std::string cur;
  std::stringstream ss(path);
  std::string part;
  if (!path.empty() && path[0] == '/') cur.push_back('/');
  while (std::getline(ss, part, '/')) {
    if (part.empty()) continue;
    cur += part + "/";
    if (::mkdir(cur.c_str(), 0755) != 0 && errno != EEXIST) return false;
  }
  return true;
}

// What the goal rows need from the ping-pong and the realtime floods of one pinning.
struct pp_figures {
  double ratio = NAN, p999_ratio = NAN, cpu_ratio = NAN;
};
struct rt_figures {
  bool ok = false;
  std::uint64_t sent = 0, eagain = 0, received = 0;
  long long dropped = -1, rss_before = -1, rss_peak = -1, rss_after = -1;
};

struct report {
  std::string md;
  std::map<std::string, std::map<std::string, pp_figures>> pingpong;  // pinning → mechanism →
  std::map<std::string, std::map<std::string, rt_figures>> flood_rt;  // pinning → mechanism →
  // The resting RSS (KiB) each mechanism showed before its kill() flood: pinning → mechanism →. The
  // baseline of "memory at rest" for a peer whose realtime flood lost its marker (and so its figures).
  std::map<std::string, std::map<std::string, long long>> rest_before_kill;
  std::vector<std::string> pins_run;  // ping-pong pinnings, in order
  std::vector<std::string> flood_pins_run;
  bool all_ok = true;
  std::vector<std::string> failures;
  void fail(const std::string& what) {
    all_ok = false;
    failures.push_back(what);
  }
};

// Ping-pong for one pinning: rounds × mechanisms, interleaved.
void run_pingpong(driver& d, const options& opt, const std::vector<mechanism_info>& mechs,
                  const pin_config& pin, report& rep, std::FILE* summary_csv, std::FILE* pct_csv) {
  std::vector<mech_stats> stats(mechs.size());
  for (std::size_t i = 0; i < mechs.size(); ++i) {
    stats[i].name = mechs[i].name;
    stats[i].kind = mechs[i].kind;
    stats[i].exact = mechs[i].exact;
  }
  std::FILE* raw = nullptr;
  if (!opt.out.empty()) {
    const std::string path = opt.out + "/raw/pingpong_" + pin.label + ".csv";
    raw = std::fopen(path.c_str(), "w");
    if (raw == nullptr) die(path.c_str());
    std::fprintf(raw, "mechanism,round,trip,ns\n");
  }
  const std::uint64_t per_round = ((pin.label == "2cpu" && opt.trips_2cpu != 0 ? opt.trips_2cpu : opt.trips) +
                                   static_cast<std::uint64_t>(opt.rounds) - 1) /
                                  static_cast<std::uint64_t>(opt.rounds);
  for (int r = 0; r < opt.rounds; ++r) {
    std::fprintf(stderr, "[ping-pong %s] round %d/%d:", pin.label.c_str(), r + 1, opt.rounds);
    double floor_median = NAN;
    std::vector<double> medians(mechs.size(), NAN);
    for (std::size_t i = 0; i < mechs.size(); ++i) {
      mech_stats& st = stats[i];
      if (st.failed) continue;
      auto res = d.pingpong(mechs[i], per_round, pin.driver_cpu, pin.responder_cpu);
      if (!res.ok) {
        st.failed = true;
        st.error = res.error;
        std::fprintf(stderr, " %s:FAILED(%s)", mechs[i].name.c_str(), res.error.c_str());
        rep.fail("ping-pong " + pin.label + " " + mechs[i].name + ": " + res.error);
        continue;
      }
      std::vector<std::uint32_t> sorted = res.samples;
      std::sort(sorted.begin(), sorted.end());
      medians[i] = pct(sorted, 0.5);
      if (mechs[i].name == floor_name) floor_median = medians[i];
      st.round_medians.push_back(medians[i]);
      st.cpu_ns += res.cpu_ns;
      st.signals += res.signals;
      if (raw != nullptr)
        for (std::size_t k = 0; k < res.samples.size(); ++k)
          std::fprintf(raw, "%s,%d,%zu,%u\n", mechs[i].name.c_str(), r + 1, k, res.samples[k]);
      st.all.insert(st.all.end(), res.samples.begin(), res.samples.end());
      std::fprintf(stderr, " %s=%.1fus", mechs[i].name.c_str(), medians[i] / 1000);
    }
    std::fprintf(stderr, "\n");
    for (std::size_t i = 0; i < mechs.size(); ++i)
      if (!std::isnan(medians[i]) && !std::isnan(floor_median))
        stats[i].round_ratios.push_back(medians[i] / floor_median);
  }
  if (raw != nullptr) std::fclose(raw);

  const mech_stats* fl = nullptr;
  for (auto& st : stats) {
    std::sort(st.all.begin(), st.all.end());
    if (st.name == floor_name && !st.failed) fl = &st;
  }
  const double fl_p999 = fl ? pct(fl->all, 0.999) : NAN;
  const double fl_cpu = fl && fl->signals ? fl->cpu_ns / static_cast<double>(fl->signals) : NAN;

  // Percentiles per mechanism for the plot (gnuplot reads whitespace-separated columns).
  std::FILE* dat = nullptr;
  if (!opt.out.empty()) {
    const std::string path = opt.out + "/latency_" + pin.label + ".dat";
    dat = std::fopen(path.c_str(), "w");
    if (dat == nullptr) die(path.c_str());
    std::fprintf(
        dat,
        "# %s\n# index mechanism group(0 floor,1 peer,2 sigrelay) p1 p25 p50 p75 p99 p99.9 p99.99 max (us)\n",
        pin.title.c_str());
    int index = 0;
    for (const auto& st : stats) {
      if (st.failed || st.all.empty()) continue;
      std::fprintf(dat, "%d %s %d %.3f %.3f %.3f %.3f %.3f %.3f %.3f %.3f\n", index++, st.name.c_str(),
                   static_cast<int>(st.kind), pct(st.all, 0.01) / 1000, pct(st.all, 0.25) / 1000,
                   pct(st.all, 0.5) / 1000, pct(st.all, 0.75) / 1000, pct(st.all, 0.99) / 1000,
                   pct(st.all, 0.999) / 1000, pct(st.all, 0.9999) / 1000,
                   static_cast<double>(st.all.back()) / 1000);
    }
    std::fclose(dat);
  }

  std::string& md = rep.md;
  md += "\n### Ping-pong round trip, " + pin.title + "\n\n";
  md +=
      std::to_string(opt.rounds) + " rounds × " + std::to_string(per_round) +
      " counted round trips per mechanism (after " + std::to_string(opt.warmup) +
      " warm-up round trips in each process), mechanisms interleaved within each round. "
      "Latencies in µs. *ratio* = median ÷ the `sigwaitinfo` floor's median in the same round: median of the "
      "per-round ratios, [min–max] over rounds. *p99.9 ratio* and *CPU ratio* are against the floor's over "
      "all rounds. "
      "CPU = responder's user+system time (wait4) per signal.\n\n";
  md +=
      "| mechanism | group | median | p99 | p99.9 | max | ratio [min–max] | p99.9 ratio | CPU µs/signal | "
      "CPU ratio | goal |\n";
  md += "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n";
  for (const auto& st : stats) {
    if (st.failed || st.all.empty()) {
      md += "| " + st.name + " | " + group_name(st.kind) + " | FAILED: " + st.error + " | | | | | | | | |\n";
      continue;
    }
    const double med = pct(st.all, 0.5), p99 = pct(st.all, 0.99), p999 = pct(st.all, 0.999),
                 mx = static_cast<double>(st.all.back());
    const double ratio = median_of(st.round_ratios);
    const double rmin =
        st.round_ratios.empty() ? NAN : *std::min_element(st.round_ratios.begin(), st.round_ratios.end());
    const double rmax =
        st.round_ratios.empty() ? NAN : *std::max_element(st.round_ratios.begin(), st.round_ratios.end());
    const double p999_ratio = p999 / fl_p999;
    const double cpu = st.signals ? st.cpu_ns / static_cast<double>(st.signals) : NAN;
    const double cpu_ratio = cpu / fl_cpu;
    rep.pingpong[pin.label][st.name] = pp_figures{ratio, p999_ratio, cpu_ratio};
    std::string g = "—";
    if (auto gl = goal_of(st.name)) {
      std::vector<std::string> miss;
      if (!(ratio <= gl->median))
        miss.push_back("median " + fmt("%.3f", ratio) + "× > " + fmt("%.2f", gl->median) + "×");
      if (!(p999_ratio <= goal_p999))
        miss.push_back("p99.9 " + fmt("%.2f", p999_ratio) + "× > " + fmt("%.2f", goal_p999) + "×");
      if (!std::isnan(gl->cpu) && !(cpu_ratio <= gl->cpu))
        miss.push_back("CPU " + fmt("%.3f", cpu_ratio) + "× > " + fmt("%.2f", gl->cpu) + "×");
      g = miss.empty() ? "**met** (≤ " + fmt("%.2f", gl->median) + "×)" : "**MISSED**: ";
      for (std::size_t k = 0; k < miss.size(); ++k) g += (k ? "; " : "") + miss[k];
    }
    md += "| " + st.name + " | " + group_name(st.kind) + " | " + fmt("%.2f", med / 1000) + " | " +
          fmt("%.2f", p99 / 1000) + " | " + fmt("%.2f", p999 / 1000) + " | " + fmt("%.1f", mx / 1000) +
          " | " + fmt("%.3f", ratio) + " [" + fmt("%.3f", rmin) + "–" + fmt("%.3f", rmax) + "] | " +
          fmt("%.2f", p999_ratio) + " | " + fmt("%.2f", cpu / 1000) + " | " + fmt("%.2f", cpu_ratio) + " | " +
          g + " |\n";
    if (summary_csv != nullptr) {
      std::fprintf(summary_csv, "%s,%s,%s,%zu,%.0f,%.0f,%.0f,%.0f,%.0f,%.4f,%.4f,%.4f,%.4f,%.1f,%.4f\n",
                   pin.label.c_str(), st.name.c_str(), group_name(st.kind), st.all.size(), pct(st.all, 0.0),
                   med, p99, p999, mx, ratio, rmin, rmax, p999_ratio, cpu, cpu_ratio);
    }
    if (pct_csv != nullptr) {
      std::fprintf(pct_csv, "%s,%s,%s,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f\n", pin.label.c_str(),
                   st.name.c_str(), group_name(st.kind), pct(st.all, 0.0), pct(st.all, 0.01),
                   pct(st.all, 0.25), med, pct(st.all, 0.75), pct(st.all, 0.99), p999, pct(st.all, 0.9999),
                   mx);
    }
  }
}

std::string kib(long long v) { return v >= 0 ? std::to_string(v) : "—"; }

std::string rss_cells(bool ok, long long before, long long peak, long long after, bool peak_reset) {
  if (!ok) return "— | — | —";
  return kib(before) + " | " + kib(peak) + (peak_reset ? "" : " (since start)") + " | " + kib(after);
}

void run_floods(driver& d, const options& opt, const std::vector<mechanism_info>& mechs,
                const pin_config& pin, report& rep, std::FILE* csv) {
  rep.flood_pins_run.push_back(pin.label);
  const std::string rss_note =
      "*RSS* (KiB, the responder's /proc/self/status): *before* = VmRSS set up and at rest, just before the "
      "flood; *peak* = VmHWM, reset to the resting figure just before the flood (writing 5 to "
      "/proc/self/clear_refs; \"since start\" where the kernel refused); *after* = VmRSS once everything was "
      "handed over.";
  for (mode m : {mode::flood_rt, mode::flood_kill}) {
    std::string& md = rep.md;
    if (m == mode::flood_rt) {
      md += "\n### Flood: " + std::to_string(opt.flood) +
            " × SIGRTMIN with sigqueue() (value = sequence number), " + pin.title + "\n\n";
      md +=
          "*sent*: successful sigqueue() calls. *EAGAIN*: sends refused by a full kernel queue "
          "(RLIMIT_SIGPENDING) and retried, never skipped. *received*: deliveries handed to ordinary code. "
          "*dropped*: sigrelay's dropped(). *handler runs*: a separate registry action counting deliveries "
          "(sigrelay relay backend, under ThreadSanitizer only: elsewhere it would turn the holds off). "
          "*lost* = sent − received − dropped: signals that vanished without "
          "being counted anywhere. " +
          rss_note + "\n\n";
      md +=
          "| mechanism | group | sent | EAGAIN | received | dropped | received+dropped | handler runs | lost "
          "| out of order | RSS before | RSS peak | RSS after | s | verdict |\n";
      md += "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n";
    } else {
      md += "\n### Flood: " + std::to_string(opt.flood) +
            " × SIGUSR1 with kill(), then SIGUSR2 as the last send, " + pin.title + "\n\n";
      md +=
          "Standard signals coalesce in the kernel, so fewer deliveries than sends is expected. *events*: "
          "times the mechanism handed SIGUSR1 to ordinary code (wake-ups); *count sum*: the deliveries those "
          "events stand for (sigrelay: sum of signal_event::count); *handler runs*: a separate registry "
          "action counting deliveries (sigrelay relay backend, under ThreadSanitizer only). *last send "
          "seen*: the responder saw the "
          "SIGUSR2 sent after the last SIGUSR1. " +
          rss_note + "\n\n";
      md +=
          "| mechanism | group | sent | events | count sum | handler runs | last send seen | RSS before | "
          "RSS "
          "peak | RSS after | s | verdict |\n";
      md += "|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---|\n";
    }
    std::fprintf(stderr, "[%s %s]", mode_name(m), pin.label.c_str());
    for (const auto& info : mechs) {
      auto res = d.flood(info, m, opt.flood, pin.driver_cpu, pin.responder_cpu);
      std::string verdict;
      const bool is_sr = info.kind == group::sigrelay;
      std::string dr = res.dropped >= 0 ? std::to_string(res.dropped) : "—";
      std::string dl = res.deliveries >= 0 ? std::to_string(res.deliveries) : "—";
      const std::string rss = rss_cells(res.ok, res.rss_before, res.rss_peak, res.rss_after, res.peak_reset);
      if (m == mode::flood_rt) {
        rt_figures& f = rep.flood_rt[pin.label][info.name];
        f.ok = res.ok;
        f.sent = res.sent;
        f.eagain = res.eagain;
        f.received = res.received;
        f.dropped = res.dropped;
        f.rss_before = res.rss_before;
        f.rss_peak = res.rss_peak;
        f.rss_after = res.rss_after;
      } else if (res.ok && res.rss_before >= 0) {
        rep.rest_before_kill[pin.label][info.name] = res.rss_before;
      }
      if (!res.ok && !is_sr && !info.exact && res.error.rfind("marker not seen", 0) == 0) {
        // A peer without an exact count whose relay buffer overflowed loses the marker too: its
        // loss, not the harness's failure (it is not counted, as nothing it received was reported).
        verdict = "lost silently, the marker too (" + res.error + ")";
      } else if (!res.ok) {
        verdict = "**FAILED**: " + res.error;
        if (is_sr || info.exact) rep.fail(std::string(mode_name(m)) + " " + info.name + ": " + res.error);
      } else if (m == mode::flood_rt) {
        const std::uint64_t dropped = res.dropped > 0 ? static_cast<std::uint64_t>(res.dropped) : 0;
        const bool exact_sent = res.received + dropped == res.sent;
        const bool exact_handler =
            res.deliveries < 0 || res.received + dropped == static_cast<std::uint64_t>(res.deliveries);
        // Under ThreadSanitizer, its own signal interception keeps one pending instance per signal
        // number and so merges queued realtime signals before any handler of ours runs: there the
        // handler's count is the reference.
        const bool tsan_merged = BENCH_TSAN && res.deliveries >= 0 && exact_handler;
        if (exact_sent) {
          verdict = res.dropped > 0    ? "exact: received + dropped = sent"
                    : res.dropped == 0 ? "all handed over, exact"
                                       : "nothing lost";
        } else if (tsan_merged) {
          verdict = "exact against handler runs (ThreadSanitizer merged " +
                    std::to_string(res.sent - static_cast<std::uint64_t>(res.deliveries)) +
                    " queued signals)";
        } else {
          verdict = (res.dropped >= 0 ? "**MISMATCH**: " : "lost silently: ") +
                    std::to_string(static_cast<long long>(res.sent) -
                                   static_cast<long long>(res.received + dropped));
          if (is_sr && res.dropped < 0) verdict += " (no dropped() to account for them)";
          const bool tsan_handler_floor = BENCH_TSAN && info.kind == group::floor &&
                                          info.name != "sigwaitinfo" && info.name != "signalfd+epoll" &&
                                          info.name != "signalfd-read";
          if ((is_sr || info.exact) && !tsan_handler_floor)
            rep.fail(std::string(mode_name(m)) + " " + info.name + ": received " +
                     std::to_string(res.received) + " + dropped " + std::to_string(dropped) + " != sent " +
                     std::to_string(res.sent));
        }
        if (res.valued > 0 && res.out_of_order > 0)
          verdict += "; " + std::to_string(res.out_of_order) + " out of order";
        const long long lost =
            static_cast<long long>(res.sent) - static_cast<long long>(res.received + dropped);
        md += "| " + info.name + " | " + group_name(info.kind) + " | " + std::to_string(res.sent) + " | " +
              std::to_string(res.eagain) + " | " + std::to_string(res.received) + " | " + dr + " | " +
              std::to_string(res.received + dropped) + " | " + dl + " | " + std::to_string(lost) + " | " +
              (res.valued ? std::to_string(res.out_of_order) : "—") + " | " + rss + " | " +
              fmt("%.2f", res.seconds) + " | " + verdict + " |\n";
      } else {
        const bool counts_match =
            res.deliveries < 0 || res.received == static_cast<std::uint64_t>(res.deliveries);
        verdict = counts_match ? "ok" : "**MISMATCH**: count sum != handler runs";
        if (!counts_match && is_sr)
          rep.fail(std::string(mode_name(m)) + " " + info.name + ": count sum " +
                   std::to_string(res.received) + " != handler runs " + dl);
      }
      if (m == mode::flood_kill) {
        md += "| " + info.name + " | " + group_name(info.kind) + " | " + std::to_string(res.sent) + " | " +
              (res.ok ? std::to_string(res.events) : "—") + " | " +
              (res.ok ? std::to_string(res.received) : "—") + " | " + dl + " | " +
              (res.marker_seen ? "yes" : "**NO**") + " | " + rss + " | " + fmt("%.2f", res.seconds) + " | " +
              verdict + " |\n";
      } else if (!res.ok) {
        md += "| " + info.name + " | " + group_name(info.kind) + " | " + std::to_string(res.sent) + " | " +
              std::to_string(res.eagain) + " | — | — | — | — | — | — | " + rss + " | " +
              fmt("%.2f", res.seconds) + " | " + verdict + " |\n";
      }
      if (csv != nullptr) {
        std::fprintf(csv,
                     "%s,%s,%s,%s,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%lld,%lld,%" PRIu64
                     ",%d,%d,%.3f,%lld,%lld,%lld,%d\n",
                     mode_name(m), pin.label.c_str(), info.name.c_str(), group_name(info.kind), res.sent,
                     res.eagain, res.received, res.events, res.dropped, res.deliveries, res.out_of_order,
                     res.marker_seen ? 1 : 0, res.ok ? 1 : 0, res.seconds, res.rss_before, res.rss_peak,
                     res.rss_after, res.peak_reset ? 1 : 0);
      }
      std::fprintf(stderr, " %s:%s", info.name.c_str(),
                   res.ok                                   ? "ok"
                   : verdict.rfind("lost silently", 0) == 0 ? "lost-marker"
                                                            : "FAILED");
    }
    std::fprintf(stderr, "\n");
  }
}

// The goals of issue 9 that this harness measures, one Markdown table row each:
// | goal | setting | mechanism | measured | target | verdict |
// (goal 3, instructions per delivery, is measured by bench/run under callgrind).
std::string goal_rows(const report& rep) {
  std::string md;
  auto row = [&](const std::string& g, const std::string& setting, const std::string& mech,
                 const std::string& measured, const std::string& target, bool met) {
    md += "| " + g + " | " + setting + " | " + mech + " | " + measured + " | " + target + " | " +
          (met ? "**met**" : "**MISSED**") + " |\n";
  };

  // Goal 1: floods, for every sigrelay mode.
  for (const std::string& pin : rep.flood_pins_run) {
    const auto it = rep.flood_rt.find(pin);
    if (it == rep.flood_rt.end()) continue;
    const std::string setting = "flood-rt " + pin;
    // Memory at rest is compared with a process of the same executable that does without sigrelay:
    // the sigwaitinfo floor, or for an adapter its event loop's own signal support (the loop's
    // memory is not sigrelay's). A peer whose realtime flood lost the marker reported nothing of that
    // run: its resting RSS before its kill() flood stands in (same executable, same set-up).
    const auto kill_rest = rep.rest_before_kill.find(pin);
    auto rest_of = [&](const std::string& name) -> std::pair<std::string, long long> {
      const auto adapter = [&name](const char* prefix) { return name.rfind(prefix, 0) == 0; };
      for (const std::string& b : {adapter("sigrelay-asio")    ? std::string("asio")
                                   : adapter("sigrelay-uv")    ? std::string("libuv")
                                   : adapter("sigrelay-event") ? std::string("libevent")
                                                               : std::string(),
                                   std::string(floor_name)}) {
        if (b.empty()) continue;
        if (auto f = it->second.find(b); f != it->second.end() && f->second.ok && f->second.rss_before >= 0)
          return {b + "'s", f->second.rss_before};
        if (kill_rest != rep.rest_before_kill.end()) {
          if (auto k = kill_rest->second.find(b); k != kill_rest->second.end())
            return {b + "'s (at rest before its kill() flood)", k->second};
        }
      }
      return {"", -1};
    };
    for (const auto& [name, f] : it->second) {
      if (name.rfind("sigrelay-", 0) != 0) continue;
      const auto [base, base_rest] = rest_of(name);
      if (!f.ok) {
        row("1 all handed over", setting, name, "run failed", "received = sent", false);
        continue;
      }
      const std::uint64_t dropped = f.dropped > 0 ? static_cast<std::uint64_t>(f.dropped) : 0;
      row("1 all handed over", setting, name,
          std::to_string(f.received) + " of " + std::to_string(f.sent) + " sent (" + std::to_string(dropped) +
              " dropped, " + std::to_string(f.eagain) + " EAGAIN)",
          "received = sent, received + dropped = sent",
          f.received == f.sent && f.received + dropped == f.sent);
      if (base_rest >= 0 && f.rss_before >= 0) {
        const long long extra = f.rss_before - base_rest;
        row("1 memory at rest", setting, name,
            "RSS at rest " + std::to_string(f.rss_before) + " KiB = " + base + " " +
                (extra >= 0 ? "+ " : "− ") + std::to_string(extra >= 0 ? extra : -extra) +
                " KiB; flood peak " + kib(f.rss_peak) + ", after " + kib(f.rss_after) + " KiB",
            "≤ " + base + " + " + fmt("%.0f", goal_at_rest_kb) + " KiB",
            static_cast<double>(extra) <= goal_at_rest_kb);
      }
    }
  }
  // Goals 2 and 4: ping-pong ratios.
  for (const std::string& pin : rep.pins_run) {
    const auto it = rep.pingpong.find(pin);
    if (it == rep.pingpong.end()) continue;
    const std::string setting = "ping-pong " + pin;
    for (const auto& [name, f] : it->second) {
      const auto gl = goal_of(name);
      if (!gl) continue;
      const std::string g = std::to_string(gl->number);
      // Ahead of every rival that ran: a lower median ratio than each.
      std::string behind;
      int rivals = 0;
      for (const std::string& r : goal_rivals()) {
        const auto rv = it->second.find(r);
        if (rv == it->second.end() || std::isnan(rv->second.ratio)) continue;
        ++rivals;
        if (!(f.ratio < rv->second.ratio))
          behind += (behind.empty() ? "" : ", ") + r + " " + fmt("%.3f", rv->second.ratio) + "×";
      }
      row(g + " ping-pong median", setting, name, fmt("%.3f", f.ratio) + "×",
          "≤ " + fmt("%.2f", gl->median) + "× the floor", f.ratio <= gl->median);
      if (g == "2" && rivals == 0)
        md += "| 2 ahead of every peer | " + setting + " | " + name +
              " | no peer in this run | ratio below each peer's | **not measured** |\n";
      else if (g == "2")
        row("2 ahead of every peer", setting, name,
            behind.empty() ? "ahead of all " + std::to_string(rivals) : "not ahead of " + behind,
            "ratio below each peer's", behind.empty());
      if (!std::isnan(gl->cpu))
        row("2 CPU per signal", setting, name, fmt("%.3f", f.cpu_ratio) + "×",
            "≤ " + fmt("%.2f", gl->cpu) + "× the floor's", f.cpu_ratio <= gl->cpu);
      row(g + " p99.9", setting, name, fmt("%.2f", f.p999_ratio) + "×",
          "≤ " + fmt("%.2f", goal_p999) + "× the floor's", f.p999_ratio <= goal_p999);
    }
  }
  return md;
}

int driver_main(const options& opt) {
  auto mechs_all = all_mechanisms();
  std::vector<mechanism_info> mechs;
  std::string skipped;
  for (auto& m : mechs_all) {
    if (!opt.only.empty() && std::find(opt.only.begin(), opt.only.end(), m.name) == opt.only.end()) continue;
    if (BENCH_TSAN && m.tsan_unsafe != nullptr) {
      std::fprintf(stderr, "pingpong: %s skipped under ThreadSanitizer: %s\n", m.name.c_str(), m.tsan_unsafe);
      skipped += "- `" + m.name + "` skipped under ThreadSanitizer: " + m.tsan_unsafe + "\n";
      continue;
    }
    mechs.push_back(m);
  }
  if (mechs.empty()) {
    std::fprintf(stderr, "pingpong: no mechanism selected\n");
    return 2;
  }
  const std::vector<int> cpus = usable_cpus();
  // "1": driver and responder on the first usable CPU; "2": driver on the first, responder on the
  // second (skipped with one usable CPU).
  auto pins_of = [&](const std::string& spec) {
    std::vector<pin_config> v;
    if (opt.smoke) {
      v.push_back({"nopin", "no pinning", -1, -1});
      return v;
    }
    if (spec.find('1') != std::string::npos && !cpus.empty())
      v.push_back(
          {"1cpu", "1 CPU (driver and responder on CPU " + std::to_string(cpus[0]) + ")", cpus[0], cpus[0]});
    if (spec.find('2') != std::string::npos && cpus.size() >= 2)
      v.push_back({"2cpu",
                   "2 CPUs (driver on CPU " + std::to_string(cpus[0]) + ", responder on CPU " +
                       std::to_string(cpus[1]) + ")",
                   cpus[0], cpus[1]});
    return v;
  };
  const std::vector<pin_config> pins = pins_of(opt.pins);
  const std::vector<pin_config> flood_pins = pins_of(opt.flood_pins);

  std::FILE* summary = nullptr;
  std::FILE* pcts = nullptr;
  std::FILE* floods = nullptr;
  if (!opt.out.empty()) {
    if (!mkdir_p(opt.out + "/raw")) die("mkdir");
    summary = std::fopen((opt.out + "/pingpong.csv").c_str(), "w");
    pcts = std::fopen((opt.out + "/latency_percentiles.csv").c_str(), "w");
    floods = std::fopen((opt.out + "/floods.csv").c_str(), "w");
    if (!summary || !pcts || !floods) die("fopen");
    std::fprintf(
        summary,
        "pinning,mechanism,group,samples,min_ns,median_ns,p99_ns,p999_ns,max_ns,ratio_median,ratio_min,"
        "ratio_max,p999_ratio,cpu_ns_per_signal,cpu_ratio\n");
    std::fprintf(
        pcts, "pinning,mechanism,group,min_ns,p1_ns,p25_ns,p50_ns,p75_ns,p99_ns,p999_ns,p9999_ns,max_ns\n");
    std::fprintf(
        floods,
        "flood,pinning,mechanism,group,sent,eagain,received,events,dropped,handler_runs,out_of_order,"
        "marker_seen,completed,seconds,rss_before_kb,rss_peak_kb,rss_after_kb,peak_reset\n");
  }

  driver d(opt);
  report rep;
  if (opt.pingpong)
    for (const auto& pin : pins) {
      rep.pins_run.push_back(pin.label);
      run_pingpong(d, opt, mechs, pin, rep, summary, pcts);
    }
  if (opt.floods)
    for (const auto& pin : flood_pins) run_floods(d, opt, mechs, pin, rep, floods);
  for (std::FILE* f : {summary, pcts, floods})
    if (f != nullptr) std::fclose(f);

  std::string mechlist = "\nMechanisms:\n\n";
  for (const auto& m : mechs)
    mechlist += "- `" + m.name + "` (" + group_name(m.kind) + "): " + m.description + "\n";
  rep.md += mechlist + (skipped.empty() ? "" : "\n" + skipped);
  if (!opt.out.empty()) {
    std::FILE* f = std::fopen((opt.out + "/pingpong.md").c_str(), "w");
    if (f == nullptr) die("fopen(pingpong.md)");
    std::fputs(rep.md.c_str(), f);
    std::fclose(f);
    // The goal rows alone, for bench/run's summary of issue 9's goals at the top of table.md.
    f = std::fopen((opt.out + "/goals.md").c_str(), "w");
    if (f == nullptr) die("fopen(goals.md)");
    std::fputs(goal_rows(rep).c_str(), f);
    std::fclose(f);
  } else {
    std::fputs(rep.md.c_str(), stdout);
    std::fputs(
        "\n### Goals\n\n| goal | setting | mechanism | measured | target | verdict |\n"
        "|---|---|---|---|---|---|\n",
        stdout);
    std::fputs(goal_rows(rep).c_str(), stdout);
  }
  if (!rep.all_ok) {
    std::fprintf(stderr, "pingpong: %zu check(s) failed:\n", rep.failures.size());
    for (auto& f : rep.failures) std::fprintf(stderr, "  %s\n", f.c_str());
    return 1;
  }
  std::fprintf(stderr, "pingpong: all checks passed\n");
  return 0;
}

void usage() {
  std::fprintf(
      stderr,
      "usage: pingpong [--smoke] [--out DIR] [--rounds R] [--trips N] [--trips-2cpu N] [--warmup W]\n"
      "                [--flood N]\n"
      "                [--pin 1,2] [--flood-pin 1,2] [--only a,b,...] [--no-pingpong] [--no-floods]\n"
      "                [--list]\n"
      "  --pin, --flood-pin   1: driver and responder on one CPU; 2: on two CPUs (default: both)\n"
      "  --trips N   counted round trips per mechanism and pinning, over all rounds (default 100000)\n"
      "  --trips-2cpu N   the same for the 2-CPU pinning (default: as --trips)\n"
      "  --smoke     a few hundred round trips per mechanism and small floods; checks counts only\n");
}

}  // namespace
}  // namespace bench

int main(int argc, char** argv) {
  using namespace bench;
  std::map<std::string, std::string> kv;
  options opt;
  bool list = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        usage();
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--smoke")
      opt.smoke = true;
    else if (a == "--list")
      list = true;
    else if (a == "--no-pingpong")
      opt.pingpong = false;
    else if (a == "--no-floods")
      opt.floods = false;
    else if (a == "--responder" || a == "--mode" || a == "--count" || a == "--driver" || a == "--result-fd" ||
             a == "--timeout")
      kv[a] = next();
    else if (a == "--out")
      opt.out = next();
    else if (a == "--rounds")
      opt.rounds = std::max(1, std::atoi(next().c_str()));
    else if (a == "--trips")
      opt.trips = std::strtoull(next().c_str(), nullptr, 10);
    else if (a == "--trips-2cpu")
      opt.trips_2cpu = std::strtoull(next().c_str(), nullptr, 10);
    else if (a == "--warmup")
      opt.warmup = std::strtoull(next().c_str(), nullptr, 10);
    else if (a == "--flood")
      opt.flood = std::strtoull(next().c_str(), nullptr, 10);
    else if (a == "--pin")
      opt.pins = next();
    else if (a == "--flood-pin")
      opt.flood_pins = next();
    else if (a == "--only") {
      std::stringstream ss(next());
      std::string item;
      while (std::getline(ss, item, ',')) opt.only.push_back(item);
    } else {
      usage();
      return 2;
    }
  }
  if (kv.count("--responder")) {
    auto m = parse_mode(kv["--mode"]);
    if (!m) return 2;
    return responder_main(kv["--responder"], *m, std::strtoull(kv["--count"].c_str(), nullptr, 10),
                          static_cast<pid_t>(std::atoi(kv["--driver"].c_str())),
                          std::atoi(kv["--result-fd"].c_str()),
                          static_cast<unsigned>(std::atoi(kv["--timeout"].c_str())));
  }
  if (list) {
    for (auto& m : all_mechanisms())
      std::printf("%s\t%s\t%s\n", m.name.c_str(), group_name(m.kind), m.description.c_str());
    return 0;
  }
  if (opt.smoke) {
    opt.rounds = 1;
    opt.trips = 300;
    opt.warmup = 20;
    opt.flood = 1000;    // below sigrelay's default realtime ring (1024): nothing may be dropped
    opt.timeout_s = 20;  // a hang fails in seconds, not minutes
    opt.marker_timeout_s = 5;
  }
  return driver_main(opt);
}
