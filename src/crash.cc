// SPDX-License-Identifier: MIT
// src/crash.cc — crash::install() and the preparation the crash report needs (ordinary context).
//
// Design notes
// - Everything the report reads is prepared here, so that the handler (src/handler/crash_report.cc)
//   only formats and writes: the output descriptors, the module table with build-ids, the threads'
//   stack bounds, alternate signal stacks and a watchdog timer.
// - Backtrace: a frame-pointer walk, bounded by the stack recorded for the thread, was chosen over
//   _Unwind_Backtrace: libgcc's unwinder finds the unwind tables of each frame through
//   dl_iterate_phdr, which takes the dynamic loader's lock (a crash inside dlopen() would deadlock),
//   and it may allocate when it registers frame info; none of that can be proved allocation- and
//   lock-free after an install-time warm-up. The walk costs accuracy instead: frames of code built
//   without frame pointers are skipped or end the walk (see the header). Build with
//   -fno-omit-frame-pointer for full traces.
// - No symbolization in the process: a report carries module + offset + build-id, and
//   scripts/symbolize-crash turns them into names later. Nothing can go wrong in the dying process,
//   and the report is small.
// - Module tables: dl_iterate_phdr() here (it takes the loader's lock, which is fine outside signal
//   context) into a block from mmap(), published with one atomic store. refresh_modules() publishes
//   a new block and keeps the old one mapped: a crash on another thread may be reading it, and there
//   is no cheap way to know when it stops. Each refresh costs one table (~330 bytes a module).
// - Threads: a fixed array of records (crash_state.hpp), claimed with a compare-and-swap of the tid,
//   released by a pthread key destructor when the thread exits (so a reused tid never finds a dead
//   thread's bounds). The guard region is the guard size pthread_getattr_np() reports below the
//   stack's low end, at least one page; for the main thread, whose stack the kernel grows on demand
//   up to RLIMIT_STACK, 1 MiB (the kernel's default stack_guard_gap) below the lowest address the
//   limit allows.
// - The watchdog is a POSIX timer (CLOCK_MONOTONIC) created here, delivering SIGKILL to the process:
//   the report only arms it (timer_settime is async-signal-safe). SIGKILL, because a hung report may
//   be stuck with every other signal blocked or caught; alarm()'s SIGALRM could be either. A fork()
//   or _Fork() child inherits no timer: its report creates one with the raw system call (see
//   crash_report.cc, arm_watchdog()).
// - One install per process, never undone: the actions stay until the process ends.
// - Linux only (SIGRELAY_LINUX, platform/config.hpp): gettid(), prctl(), dl_iterate_phdr(),
//   pthread_getattr_np(), timer_create() and /proc/self/exe have no common macOS/FreeBSD form. The
//   posix build compiles the block at the end instead: install() and prepare_thread() fail with
//   std::errc::not_supported, installed() is false, refresh_modules() does nothing.
#include "sigrelay/crash.hpp"

#include "platform/config.hpp"

#if SIGRELAY_LINUX
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "detail.hpp"
#include "handler/crash_state.hpp"
#include "platform/sys.hpp"
#include "sigrelay/registry.hpp"

namespace sigrelay::crash {
namespace {

using detail::g_crash;

std::mutex g_install_mutex;  // install() and refresh_modules()
pthread_key_t g_thread_key;
std::once_flag g_key_once;

bool is_crash_signal(int signo) noexcept {
  switch (signo) {
    case SIGSEGV:
    case SIGBUS:
    case SIGILL:
    case SIGFPE:
    case SIGABRT:
    case SIGTRAP:
    case SIGSYS: return true;
    default: return false;
  }
}

std::size_t page_size() noexcept { return static_cast<std::size_t>(::sysconf(_SC_PAGESIZE)); }

// Releases a thread's record and its alternate stack when the thread exits.
void release_thread(void* record) noexcept {
  auto* t = static_cast<detail::crash_thread*>(record);
  pid_t self = ::gettid();
  if (!t->tid.compare_exchange_strong(self, -1, std::memory_order_acq_rel)) return;
  if (t->alt_stack != nullptr) {
    stack_t current{};
    if (::sigaltstack(nullptr, &current) == 0 &&
        current.ss_sp == static_cast<char*>(t->alt_stack) + page_size() &&
        (current.ss_flags & SS_ONSTACK) == 0) {
      stack_t off{};
      off.ss_flags = SS_DISABLE;
      ::sigaltstack(&off, nullptr);
      ::munmap(t->alt_stack, t->alt_stack_size);
    }  // else: some other code replaced it; leaving the mapping is the safe choice
    t->alt_stack = nullptr;
  }
  t->tid.store(0, std::memory_order_release);
}

// Set by install() before it prepares its thread; read by prepare_thread() on any thread, which may
// run at the same time as install() (crash.hpp, "Thread safety").
std::atomic<std::size_t> g_alt_stack_size{std::size_t{64} * 1024};

// Gives the calling thread an alternate stack unless it has one. Returns the mapping (null if the
// thread kept its own) through `mapping`.
std::error_code give_alt_stack(void*& mapping, std::size_t& mapping_size) noexcept {
  mapping = nullptr;
  mapping_size = 0;
  stack_t current{};
  if (::sigaltstack(nullptr, &current) != 0) return detail::errno_code();
  if ((current.ss_flags & SS_DISABLE) == 0) return {};  // it has one: never replaced
  const std::size_t page = page_size();
  const std::size_t wanted =
      std::max<std::size_t>(g_alt_stack_size.load(std::memory_order_relaxed), std::size_t{64} * 1024);
  const std::size_t usable = (wanted + page - 1) / page * page;
  const std::size_t size = usable + page;
  void* block = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (block == MAP_FAILED) return detail::errno_code();
  ::mprotect(block, page, PROT_NONE);  // a guard page: an overflowing report faults, not corrupts
  stack_t alt{};
  alt.ss_sp = static_cast<char*>(block) + page;
  alt.ss_size = usable;
  alt.ss_flags = 0;
  if (::sigaltstack(&alt, nullptr) != 0) {
    const std::error_code ec = detail::errno_code();
    ::munmap(block, size);
    return ec;
  }
  mapping = block;
  mapping_size = size;
  return {};
}

// The calling thread's stack: [lo, hi) and the guard region's low end.
std::error_code stack_bounds(std::uintptr_t& lo, std::uintptr_t& hi, std::uintptr_t& guard_lo) noexcept {
  pthread_attr_t attr;
  const int rc = ::pthread_getattr_np(::pthread_self(), &attr);
  if (rc != 0) return detail::errno_code(rc);
  void* addr = nullptr;
  std::size_t size = 0;
  std::size_t guard = 0;
  ::pthread_attr_getstack(&attr, &addr, &size);
  ::pthread_attr_getguardsize(&attr, &guard);
  ::pthread_attr_destroy(&attr);
  lo = reinterpret_cast<std::uintptr_t>(addr);
  hi = lo + size;
  if (::gettid() == ::getpid()) guard = std::max<std::size_t>(guard, 1U << 20);
  guard = std::max(guard, page_size());
  guard_lo = lo > guard ? lo - guard : 0;
  return {};
}

void prepare_thread_impl(std::error_code& ec) noexcept {
  std::call_once(g_key_once, [] { ::pthread_key_create(&g_thread_key, release_thread); });
  const pid_t self = ::gettid();
  if (::pthread_getspecific(g_thread_key) != nullptr) {
    ec.clear();
    return;
  }
  detail::crash_thread* record = nullptr;
  for (detail::crash_thread& t : g_crash.threads) {
    pid_t free_tid = 0;
    if (t.tid.compare_exchange_strong(free_tid, -1, std::memory_order_acq_rel)) {
      record = &t;
      break;
    }
  }
  if (record == nullptr) {
    ec = std::make_error_code(std::errc::resource_unavailable_try_again);
    return;
  }
  std::uintptr_t lo = 0, hi = 0, guard_lo = 0;
  ec = stack_bounds(lo, hi, guard_lo);
  void* mapping = nullptr;
  std::size_t mapping_size = 0;
  if (!ec) ec = give_alt_stack(mapping, mapping_size);
  if (ec) {
    record->tid.store(0, std::memory_order_release);
    return;
  }
  record->stack_lo = lo;
  record->stack_hi = hi;
  record->guard_lo = guard_lo;
  record->alt_stack = mapping;
  record->alt_stack_size = mapping_size;
  record->tid.store(self, std::memory_order_release);
  ::pthread_setspecific(g_thread_key, record);
}

// The GNU build-id of a loaded object, from its PT_NOTE segments in memory.
void read_build_id(const dl_phdr_info& info, detail::crash_module& m) noexcept {
  for (int i = 0; i < info.dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info.dlpi_phdr[i];
    if (ph.p_type != PT_NOTE) continue;
    const std::size_t align = ph.p_align == 8 ? 8 : 4;
    // NOLINTNEXTLINE(performance-no-int-to-ptr): the segment's address, as the loader gives it
    const auto* p = reinterpret_cast<const unsigned char*>(info.dlpi_addr + ph.p_vaddr);
    const unsigned char* end = p + ph.p_memsz;
    while (p + sizeof(ElfW(Nhdr)) <= end) {
      ElfW(Nhdr) note;
      std::memcpy(&note, p, sizeof note);
      const unsigned char* name = p + sizeof note;
      const unsigned char* desc = name + (note.n_namesz + align - 1) / align * align;
      const unsigned char* next = desc + (note.n_descsz + align - 1) / align * align;
      if (next > end || next <= p) break;
      if (note.n_type == NT_GNU_BUILD_ID && note.n_namesz == 4 && std::memcmp(name, "GNU", 4) == 0) {
        m.build_id_size = std::min<std::size_t>(note.n_descsz, detail::kCrashBuildIdMax);
        std::memcpy(m.build_id, desc, m.build_id_size);
        return;
      }
      p = next;
    }
  }
}

std::string executable_path() {
  char buffer[detail::kCrashPathMax];
  const ssize_t n = ::readlink("/proc/self/exe", buffer, sizeof buffer - 1);
  return n > 0 ? std::string(buffer, static_cast<std::size_t>(n)) : std::string();
}

// Reads the loaded modules into a new mmap()ed table and publishes it. Install mutex held.
std::error_code publish_modules() {
  std::vector<detail::crash_module> found;
  const std::string exe = executable_path();
  struct context {
    std::vector<detail::crash_module>* found;
    const std::string* exe;
  } ctx{&found, &exe};
  ::dl_iterate_phdr(
      [](dl_phdr_info* info, std::size_t, void* data) -> int {
        auto& c = *static_cast<context*>(data);
        detail::crash_module m{};
        m.lo = UINTPTR_MAX;
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          const ElfW(Phdr)& ph = info->dlpi_phdr[i];
          if (ph.p_type != PT_LOAD) continue;
          m.lo = std::min<std::uintptr_t>(m.lo, info->dlpi_addr + ph.p_vaddr);
          m.hi = std::max<std::uintptr_t>(m.hi, info->dlpi_addr + ph.p_vaddr + ph.p_memsz);
          if ((ph.p_flags & PF_X) == 0) continue;
          if (m.text_lo == m.text_hi) m.text_lo = UINTPTR_MAX;
          m.text_lo = std::min<std::uintptr_t>(m.text_lo, info->dlpi_addr + ph.p_vaddr);
          m.text_hi = std::max<std::uintptr_t>(m.text_hi, info->dlpi_addr + ph.p_vaddr + ph.p_memsz);
        }
        if (m.lo >= m.hi) return 0;
        m.bias = info->dlpi_addr;
        const char* name = info->dlpi_name;
        if (name == nullptr || name[0] == '\0') name = c.exe->c_str();  // the executable
        std::strncpy(m.path, name, sizeof m.path - 1);
        read_build_id(*info, m);
        c.found->push_back(m);
        return 0;
      },
      &ctx);
  const std::size_t bytes = sizeof(detail::crash_module_table) + found.size() * sizeof(detail::crash_module);
  void* block = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (block == MAP_FAILED) return detail::errno_code();
  auto* table = static_cast<detail::crash_module_table*>(block);
  table->count = found.size();
  std::copy(found.begin(), found.end(), table->modules);
  g_crash.modules.store(table, std::memory_order_release);  // the old table stays mapped (see notes)
  return {};
}

// Which step of install() failed, for the message.
struct failure {
  bool has_signo = false;      // whether `signo` names the culprit (a refused 0 is one too)
  int signo = 0;               // the signal refused or whose action failed
  const char* step = nullptr;  // "open", "timer_create", "prepare_thread", ...
};

std::string describe_failure(const options& opts, const failure& f) {
  std::string what = "sigrelay: cannot install the crash handler";
  if (f.has_signo) what += " for " + detail::describe_signal(f.signo);
  if (f.has_signo && !is_crash_signal(f.signo)) what += ": it is not a fatal signal";
  if (f.step != nullptr) what += std::string(" (") + f.step + ")";
  if (f.step != nullptr && std::string(f.step) == "open") what += " " + opts.file;
  return what;
}

// timer_create() fails with EAGAIN while the user's RLIMIT_SIGPENDING is exhausted (its signal is
// preallocated): other processes of the same user may free some soon, so it is retried for 2 s.
int create_watchdog(timer_t& timer) noexcept {
  struct sigevent event {};
  event.sigev_notify = SIGEV_SIGNAL;
  event.sigev_signo = SIGKILL;
  for (int attempt = 0;; ++attempt) {
    if (::timer_create(CLOCK_MONOTONIC, &event, &timer) == 0) return 0;
    if (errno != EAGAIN || attempt >= 200) return errno;
    const struct timespec pause { 0, 10L * 1000 * 1000 };
    ::nanosleep(&pause, nullptr);
  }
}

void install_impl(const options& opts, std::error_code& ec, failure& failed) {
  failed = {};
  std::lock_guard<std::mutex> lock(g_install_mutex);
  if (g_crash.installed.load(std::memory_order_acquire)) {
    ec = std::make_error_code(std::errc::device_or_resource_busy);
    failed.step = "already installed";
    return;
  }
  for (int signo : opts.signals) {
    if (!is_crash_signal(signo)) {
      failed.has_signo = true;
      failed.signo = signo;
      ec = detail::invalid_argument();
      return;
    }
  }
  if (opts.max_frames == 0 || opts.max_frames > detail::kCrashMaxFrames) {
    ec = detail::invalid_argument();
    failed.step = "max_frames must be 1..256";
    return;
  }
  // Resources first, each undone on a later failure; the actions last.
  int file_fd = -1;
  if (!opts.file.empty()) {
    file_fd = detail::sys::open(opts.file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (file_fd < 0) {
      ec = detail::errno_code();
      failed.step = "open";
      return;
    }
  }
  timer_t timer{};
  bool has_timer = false;
  if (opts.watchdog_seconds > 0) {
    const int err = create_watchdog(timer);
    if (err != 0) {
      ec = detail::errno_code(err);
      failed.step = "timer_create";
      if (file_fd >= 0) detail::sys::close(file_fd);
      return;
    }
    has_timer = true;
  }
  auto undo = [&] {
    if (has_timer) ::timer_delete(timer);
    if (file_fd >= 0) detail::sys::close(file_fd);
  };
  g_alt_stack_size.store(opts.alt_stack_size, std::memory_order_relaxed);
  prepare_thread_impl(ec);
  failed.step = "prepare_thread";
  if (!ec) {
    ec = publish_modules();
    failed.step = "module table";
  }
  if (ec) {
    undo();
    return;
  }
  detail::crash_config& config = g_crash.config;
  config.fd = opts.fd;
  config.file_fd = file_fd;
  config.call_previous_handler = opts.call_previous_handler;
  config.has_watchdog = has_timer;
  config.watchdog = timer;
  config.watchdog_pid = ::getpid();
  config.watchdog_seconds = opts.watchdog_seconds;
  config.second_crasher_wait = opts.second_crasher_wait;
  config.max_frames = opts.max_frames;
  config.hook = opts.hook;
  config.hook_context = opts.hook_context;
  config.main_tid = ::gettid();

  std::vector<action_id> added;
  for (int signo : opts.signals) {
    action_options o;
    o.allow_fault_signals = true;
    const action_id id =
        detail::add_action_chaining_itself(signo, action{detail::crash_action, nullptr}, o, ec);
    if (ec) {
      failed.has_signo = true;
      failed.signo = signo;
      failed.step = "add_action";
      for (action_id a : added) remove_action(a);
      undo();
      return;
    }
    added.push_back(id);
  }
  g_crash.installed.store(true, std::memory_order_release);
  failed = {};
  ec.clear();
}

}  // namespace

void install(const options& opts, std::error_code& ec) noexcept {
  failure failed;
  try {
    install_impl(opts, ec, failed);
  } catch (const std::bad_alloc&) {
    ec = std::make_error_code(std::errc::not_enough_memory);
  }
}

void install(const options& opts) {
  std::error_code ec;
  failure failed;
  install_impl(opts, ec, failed);
  if (ec) detail::throw_error(ec, describe_failure(opts, failed));
}

bool installed() noexcept { return g_crash.installed.load(std::memory_order_acquire); }

void prepare_thread(std::error_code& ec) noexcept { prepare_thread_impl(ec); }

void prepare_thread() {
  std::error_code ec;
  prepare_thread_impl(ec);
  if (ec) detail::throw_error(ec, "sigrelay: cannot prepare this thread for crash reports");
}

void refresh_modules() {
  std::lock_guard<std::mutex> lock(g_install_mutex);
  if (!g_crash.installed.load(std::memory_order_acquire)) return;
  const std::error_code ec = publish_modules();
  if (ec) detail::throw_error(ec, "sigrelay: cannot refresh the crash handler's module table");
}

}  // namespace sigrelay::crash

#else  // !SIGRELAY_LINUX: the crash reporter is Linux-only (see the design notes above)

#include <system_error>

namespace sigrelay::crash {
namespace {

constexpr const char* kNotSupported =
    "sigrelay::crash: the crash reporter is Linux-only, and this build uses the posix platform layer "
    "(SIGRELAY_PLATFORM=posix)";

}  // namespace

void install(const options&, std::error_code& ec) noexcept {
  ec = std::make_error_code(std::errc::not_supported);
}

void install(const options&) {
  throw std::system_error(std::make_error_code(std::errc::not_supported), kNotSupported);
}

bool installed() noexcept { return false; }

void prepare_thread(std::error_code& ec) noexcept { ec = std::make_error_code(std::errc::not_supported); }

void prepare_thread() {
  throw std::system_error(std::make_error_code(std::errc::not_supported), kNotSupported);
}

void refresh_modules() {}

}  // namespace sigrelay::crash
#endif
