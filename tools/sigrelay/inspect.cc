// SPDX-License-Identifier: MIT
// tools/sigrelay/inspect.cc — `sigrelay inspect PID`: a process's signal state, decoded, with the
// usual traps said in words.
//
// Design notes
// - Everything comes from /proc, read once, in this order: /proc/PID/status (process-wide: SigIgn,
//   SigCgt, ShdPnd, SigQ), /proc/PID/task/*/status (per thread: SigBlk, SigPnd), /proc/PID/limits
//   (RLIMIT_SIGPENDING), /proc/PID/fdinfo/* (a "sigmask:" line marks a signalfd and what it reads),
//   the children (/proc/PID/task/*/children where the kernel has them, else a scan of /proc/*/stat
//   for the parent pid) and their state. The process runs on meanwhile: the report is a snapshot
//   whose parts may be microseconds apart, which is what any /proc reader gets.
// - Dispositions (ignored, caught) are per process; masks and thread-directed pending signals are
//   per thread. A thread that vanishes between listing and reading is left out.
// - Traps flagged (each with a kind for --json):
//     background_ignored  SIGINT or SIGQUIT ignored: a non-interactive shell starts `cmd &` so, and
//                         the disposition is inherited across exec by everything the process runs.
//     inherited_block     signals blocked in every thread and read by no signalfd: nothing but a
//                         sigwait() can take them; typically a mask inherited from a parent that
//                         blocked them for its own signalfd (the signalfd trap).
//     sigpipe_ignored     SIGPIPE ignored: writes to a closed pipe fail with EPIPE, and programs it
//                         runs inherit it (`yes | head` in a child shell would not end).
//     pending_blocked     a signal pending (for the process or a thread) that every thread able to
//                         take it blocks, and no signalfd reads: it waits until someone unblocks it.
//     zombie_children     children in state Z that the process has not reaped.
//   Only SIGKILL and SIGSTOP are exempt from "blocked" (the kernel never lets them be blocked).
// - A thread asleep in sigwaitinfo()/sigtimedwait()/sigwait() has the signals it waits for
//   unblocked while it waits (the kernel's real_blocked): its SigBlk alone would hide what it
//   blocks the rest of the time, as for every container init. /proc/TID/syscall names the call
//   (rt_sigtimedwait) and its first argument, the address of the set, which we read from the
//   process (process_vm_readv(): the same ptrace permission as that file). Shown per thread as
//   "in sigwaitinfo():" (JSON "sigwaitinfo": the set, true if it cannot be read, null when the
//   thread is in no such call). Nothing else changes: the traps read the masks as /proc gives them,
//   so a signal a thread waits for is never called blocked everywhere.
// - Signals 32 and 33 belong to the C library (glibc 2.36 catches 33 once a program has started a
//   thread): the text shows them as "signal 33 (libc)" with a note line saying so, so that nobody
//   goes looking for a handler in the program's own code. JSON keeps the plain names.
#include "command.hpp"
#include "describe.hpp"

#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/uio.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

namespace sigrelay::tool {
namespace {

struct inspect_options {
  std::string pid;
  bool json = false;
};

struct thread_state {
  pid_t tid = 0;
  std::string comm;
  std::uint64_t blocked = 0;
  std::uint64_t pending = 0;
  bool in_sigwait = false;   // asleep in rt_sigtimedwait (sigwaitinfo(), sigtimedwait(), sigwait())
  bool waits_known = false;  // and `waits_for` could be read from the process
  std::uint64_t waits_for = 0;
};

struct child_info {
  pid_t pid = 0;
  std::string comm;
  char state = '?';
};

struct trap {
  std::string kind;
  std::uint64_t signals = 0;  // the signals it is about (0 for zombie_children)
  std::string text;
};

struct report {
  pid_t pid = 0;
  std::string comm;
  std::string state;
  pid_t ppid = 0;
  std::uint64_t ignored = 0, caught = 0, shared_pending = 0;
  std::string sigq;  // "queued/limit" as /proc says it
  std::string limit_soft, limit_hard;
  std::vector<thread_state> threads;
  std::vector<std::pair<int, std::uint64_t>> signalfds;  // fd, mask read
  std::vector<child_info> children;
  std::vector<trap> traps;
};

std::uint64_t bit(int signo) { return std::uint64_t{1} << (signo - 1); }

pid_t to_pid(std::string_view s) {
  pid_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return (ec == std::errc{} && end == s.data() + s.size()) ? v : 0;
}

// The fields after "(comm)" of /proc/PID/stat: state then ppid. Returns false if unreadable.
bool read_stat(pid_t pid, char& state, pid_t& ppid) {
  const std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  const std::size_t close = stat.rfind(')');
  if (close == std::string::npos || close + 4 >= stat.size()) return false;
  std::istringstream rest(stat.substr(close + 2));
  rest >> state >> ppid;
  return static_cast<bool>(rest);
}

std::vector<pid_t> child_pids(pid_t pid, const std::vector<pid_t>& tids) {
  std::vector<pid_t> out;
  bool have_children_files = false;
  for (pid_t tid : tids) {
    const std::string path = "/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/children";
    std::ifstream in(path);
    if (!in) continue;
    have_children_files = true;
    pid_t c = 0;
    while (in >> c) out.push_back(c);
  }
  if (have_children_files) return out;
  DIR* dir = ::opendir("/proc");
  if (dir == nullptr) return out;
  while (const dirent* e = ::readdir(dir)) {
    const pid_t p = to_pid(e->d_name);
    char state = '?';
    pid_t ppid = 0;
    if (p > 0 && read_stat(p, state, ppid) && ppid == pid) out.push_back(p);
  }
  ::closedir(dir);
  std::sort(out.begin(), out.end());
  return out;
}

// Whether thread `tid` is asleep in rt_sigtimedwait, and the set it waits for if it can be read
// (design notes).
void read_sigwait(pid_t pid, thread_state& t) {
  const std::optional<std::uint64_t> address = sigtimedwait_set_address(pid, t.tid);
  if (!address) return;
  t.in_sigwait = true;
  if (*address == 0) return;
  std::uint64_t mask = 0;  // the kernel's sigset: bit N-1 for signal N, as /proc shows masks
  iovec local{&mask, sizeof mask};
  iovec remote{reinterpret_cast<void*>(static_cast<std::uintptr_t>(*address)), sizeof mask};
  if (::process_vm_readv(t.tid, &local, 1, &remote, 1, 0) != static_cast<ssize_t>(sizeof mask)) return;
  t.waits_known = true;
  t.waits_for =
      mask & ~((std::uint64_t{1} << (SIGKILL - 1)) | (std::uint64_t{1} << (SIGSTOP - 1)));  // as the kernel
}

report gather(pid_t pid) {
  report r;
  r.pid = pid;
  const std::string dir = "/proc/" + std::to_string(pid);
  const std::map<std::string, std::string> status = read_status(dir + "/status");
  if (status.empty()) {
    throw std::system_error(std::make_error_code(std::errc::no_such_process),
                            "cannot read " + dir + "/status");
  }
  auto field = [&](const char* key) {
    auto it = status.find(key);
    return it == status.end() ? std::string() : it->second;
  };
  r.comm = field("Name");
  r.state = field("State");
  r.ppid = to_pid(field("PPid"));
  r.ignored = parse_mask(field("SigIgn"));
  r.caught = parse_mask(field("SigCgt"));
  r.shared_pending = parse_mask(field("ShdPnd"));
  r.sigq = field("SigQ");
  std::istringstream limits(read_file(dir + "/limits"));
  for (std::string line; std::getline(limits, line);) {
    if (line.rfind("Max pending signals", 0) != 0) continue;
    std::istringstream words(line.substr(19));
    words >> r.limit_soft >> r.limit_hard;
  }
  const std::vector<pid_t> tids = thread_ids(pid);
  for (pid_t tid : tids) {
    const auto t = read_status(dir + "/task/" + std::to_string(tid) + "/status");
    if (t.empty()) continue;  // the thread ended meanwhile
    thread_state ts;
    ts.tid = tid;
    ts.comm = t.count("Name") ? t.at("Name") : "?";
    ts.blocked = t.count("SigBlk") ? parse_mask(t.at("SigBlk")) : 0;
    ts.pending = t.count("SigPnd") ? parse_mask(t.at("SigPnd")) : 0;
    read_sigwait(pid, ts);
    r.threads.push_back(ts);
  }
  r.signalfds = signalfds(pid);
  for (pid_t c : child_pids(pid, tids)) {
    child_info ci;
    ci.pid = c;
    pid_t ppid = 0;
    if (!read_stat(c, ci.state, ppid)) continue;
    ci.comm = process_comm(c);
    r.children.push_back(ci);
  }
  return r;
}

void find_traps(report& r) {
  const std::uint64_t unblockable = bit(SIGKILL) | bit(SIGSTOP);
  std::uint64_t blocked_everywhere = r.threads.empty() ? 0 : ~std::uint64_t{0};
  for (const thread_state& t : r.threads) blocked_everywhere &= t.blocked;
  blocked_everywhere &= ~unblockable;

  if (const std::uint64_t bg = r.ignored & (bit(SIGINT) | bit(SIGQUIT))) {
    r.traps.push_back({"background_ignored", bg,
                       mask_names(bg) +
                           " ignored: the process was probably started in the background by a "
                           "non-interactive shell (`cmd &` in a script ignores SIGINT and SIGQUIT), or "
                           "inherited the disposition from its parent; Ctrl+C does nothing to it, and "
                           "every program it runs inherits the same"});
  }
  std::uint64_t read_by_signalfd = 0;
  for (const auto& [fd, mask] : r.signalfds) read_by_signalfd |= mask;
  if (const std::uint64_t inherited = blocked_everywhere & ~read_by_signalfd) {
    r.traps.push_back({"inherited_block", inherited,
                       mask_names(inherited) +
                           " blocked in every thread and read by no signalfd: a delivery stays pending "
                           "unless the program waits for it with sigwait(); typically a mask inherited "
                           "from a parent that blocked these for its own signalfd (the signalfd trap)"});
  }
  if (r.ignored & bit(SIGPIPE)) {
    r.traps.push_back({"sigpipe_ignored", bit(SIGPIPE),
                       "SIGPIPE ignored: writes to a closed pipe fail with EPIPE instead of ending the "
                       "process, and programs it runs inherit the disposition (a `yes | head` they run "
                       "would never end)"});
  }
  // A blocked signal that a signalfd reads is waiting for its reader, not stuck.
  std::uint64_t stuck = r.shared_pending & blocked_everywhere;
  for (const thread_state& t : r.threads) stuck |= t.pending & t.blocked;
  stuck &= ~read_by_signalfd;
  if (stuck) {
    r.traps.push_back({"pending_blocked", stuck,
                       mask_names(stuck) +
                           " pending but blocked by every thread that could take it: delivered only "
                           "when unblocked"});
  }
  std::string zombies;
  for (const child_info& c : r.children) {
    if (c.state != 'Z') continue;
    zombies += (zombies.empty() ? "" : ", ") + std::to_string(c.pid) + " (" + c.comm + ")";
  }
  if (!zombies.empty()) {
    r.traps.push_back({"zombie_children", 0,
                       "zombie children not reaped: " + zombies +
                           "; the process does not wait() for its children (a container init must)"});
  }
}

void print_text(const report& r) {
  std::cout << "process " << r.pid << " (" << r.comm << "), state " << r.state << ", parent " << r.ppid
            << '\n';
  std::cout << "  ignored:           " << mask_names(r.ignored) << '\n';
  std::cout << "  caught:            " << mask_names(r.caught) << '\n';
  std::cout << "  pending (process): " << mask_names(r.shared_pending) << '\n';
  std::cout << "  queued signals:    " << r.sigq
            << " (SigQ: queued for its real uid / limit; RLIMIT_SIGPENDING soft " << r.limit_soft << ", hard "
            << r.limit_hard << ")\n";
  for (const auto& [fd, mask] : r.signalfds) {
    std::cout << "  signalfd " << fd << " reads: " << mask_names(mask) << '\n';
  }
  for (const thread_state& t : r.threads) {
    std::cout << "thread " << t.tid << " (" << t.comm << ")\n";
    std::cout << "  blocked:           " << mask_names(t.blocked) << '\n';
    std::cout << "  pending (thread):  " << mask_names(t.pending) << '\n';
    if (t.in_sigwait) {
      std::cout << "  in sigwaitinfo():  "
                << (t.waits_known
                        ? mask_names(t.waits_for) +
                              " (taken by this thread itself; unblocked only while it waits)"
                        : std::string("(the set it waits for cannot be read: no ptrace permission)"))
                << '\n';
    }
  }
  if (!r.children.empty()) {
    std::cout << "children:";
    for (const child_info& c : r.children)
      std::cout << ' ' << c.pid << " (" << c.comm << ", " << c.state << ')';
    std::cout << '\n';
  }
  bool libc = has_libc_internal(r.ignored | r.caught | r.shared_pending);
  for (const thread_state& t : r.threads) libc = libc || has_libc_internal(t.blocked | t.pending);
  for (const auto& [fd, mask] : r.signalfds) libc = libc || has_libc_internal(mask);
  if (libc) {
    std::cout << "note: signals 32 and 33 (libc) are the C library's own, for its threads (glibc: "
                 "cancellation and timers, set*id() in every thread), not the program's\n";
  }
  if (r.traps.empty()) {
    std::cout << "traps: none found\n";
    return;
  }
  std::cout << "traps:\n";
  for (const trap& t : r.traps) std::cout << "  ! " << t.text << '\n';
}

// SigQ "3/96362" as {"queued":3,"limit":96362}; null if /proc said something else.
std::string json_sigq(const std::string& sigq) {
  const std::size_t slash = sigq.find('/');
  const std::string queued = sigq.substr(0, slash);
  const std::string limit = slash == std::string::npos ? "" : sigq.substr(slash + 1);
  auto digits = [](const std::string& t) {
    return !t.empty() && t.find_first_not_of("0123456789") == std::string::npos;
  };
  if (!digits(queued) || !digits(limit)) return "null";
  return "{\"queued\":" + queued + ",\"limit\":" + limit + "}";
}

void print_json(const report& r) {
  std::ostringstream o;
  o << "{\"pid\":" << r.pid << ",\"comm\":" << json_string(r.comm) << ",\"state\":" << json_string(r.state)
    << ",\"ppid\":" << r.ppid << ",\"ignored\":" << json_mask(r.ignored)
    << ",\"caught\":" << json_mask(r.caught) << ",\"pending_process\":" << json_mask(r.shared_pending)
    << ",\"sigq\":" << json_sigq(r.sigq) << ",\"rlimit_sigpending\":{\"soft\":" << json_string(r.limit_soft)
    << ",\"hard\":" << json_string(r.limit_hard) << "},\"signalfds\":[";
  for (std::size_t i = 0; i < r.signalfds.size(); ++i) {
    o << (i ? "," : "") << "{\"fd\":" << r.signalfds[i].first
      << ",\"signals\":" << json_mask(r.signalfds[i].second) << "}";
  }
  o << "],\"threads\":[";
  for (std::size_t i = 0; i < r.threads.size(); ++i) {
    const thread_state& t = r.threads[i];
    o << (i ? "," : "") << "{\"tid\":" << t.tid << ",\"comm\":" << json_string(t.comm)
      << ",\"blocked\":" << json_mask(t.blocked) << ",\"pending\":" << json_mask(t.pending)
      << ",\"sigwaitinfo\":"
      << (!t.in_sigwait   ? std::string("null")
          : t.waits_known ? json_mask(t.waits_for)
                          : std::string("true"))
      << "}";
  }
  o << "],\"children\":[";
  for (std::size_t i = 0; i < r.children.size(); ++i) {
    const child_info& c = r.children[i];
    o << (i ? "," : "") << "{\"pid\":" << c.pid << ",\"comm\":" << json_string(c.comm)
      << ",\"state\":" << json_string(std::string(1, c.state)) << "}";
  }
  o << "],\"traps\":[";
  for (std::size_t i = 0; i < r.traps.size(); ++i) {
    const trap& t = r.traps[i];
    o << (i ? "," : "") << "{\"kind\":" << json_string(t.kind) << ",\"signals\":" << json_mask(t.signals)
      << ",\"text\":" << json_string(t.text) << "}";
  }
  o << "]}\n";
  std::cout << o.str();
}

int run_inspect(const inspect_options& o) {
  pid_t pid = 0;
  try {
    pid = parse_pid(o.pid);
  } catch (const std::system_error& e) {
    std::cerr << "sigrelay inspect: " << e.what() << '\n';
    return 2;  // a usage error (the help text's exit statuses)
  }
  try {
    report r = gather(pid);
    find_traps(r);
    if (o.json) {
      print_json(r);
    } else {
      print_text(r);
    }
    return 0;
  } catch (const std::system_error& e) {
    std::cerr << "sigrelay inspect: " << e.what() << '\n';
    return 1;
  }
}

void setup(CLI::App& app, int& status) {
  auto o = std::make_shared<inspect_options>();
  CLI::App* sub =
      app.add_subcommand("inspect", "Show a process's signal state, decoded, and flag the usual traps.");
  sub->add_option("PID", o->pid, "The process to inspect.")->required();
  sub->add_flag("--json", o->json, "Print one JSON object instead of text.");
  sub->footer(
      "DESCRIPTION\n"
      "  Reads /proc/PID and prints, by signal name:\n"
      "    ignored, caught          dispositions (the same for every thread)\n"
      "    pending (process)        signals waiting for any thread (ShdPnd)\n"
      "    queued signals           SigQ and the RLIMIT_SIGPENDING limits\n"
      "    signalfd N reads         each signalfd the process holds and its mask\n"
      "    per thread: blocked, pending (thread)   each thread's mask and its own pending signals\n"
      "    per thread: in sigwaitinfo()            the signals a thread asleep in sigwaitinfo(),\n"
      "                             sigtimedwait() or sigwait() waits for (read from the process: needs\n"
      "                             ptrace permission); they are unblocked while it waits, so its\n"
      "                             \"blocked\" shows them only once it returns\n"
      "    children                 each child with its state (Z: a zombie)\n"
      "\n"
      "TRAPS\n"
      "  SIGINT/SIGQUIT ignored     started in the background by a shell; Ctrl+C does nothing\n"
      "  blocked in every thread    and no signalfd reads them: an inherited mask (signalfd trap)\n"
      "  SIGPIPE ignored            inherited by every program it runs\n"
      "  pending but blocked        a signal that waits for an unblock\n"
      "  zombie children            children it has not reaped\n"
      "\n"
      "EXIT STATUS\n"
      "  0 on success, 1 when the process cannot be read, 2 on a usage error.\n"
      "\n"
      "EXAMPLES\n"
      "  sigrelay inspect 4242\n"
      "  sigrelay inspect --json $(pidof nginx | cut -d' ' -f1)\n");
  sub->callback([o, &status] { status = run_inspect(*o); });
}

const registration reg{{"inspect", 30, &setup}};

}  // namespace
}  // namespace sigrelay::tool
