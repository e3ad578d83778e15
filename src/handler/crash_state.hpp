// SPDX-License-Identifier: MIT
// src/handler/crash_state.hpp — what the crash report reads in signal context. Signal context.
//
// Everything here is prepared outside signal context (src/crash.cc) and only read by the report
// (crash_report.cc), apart from the atomics that elect the reporting thread. All of it is constant-
// initialised and trivially destructible (a crash during static destruction still finds it), and no
// pointer here is ever freed: module tables are replaced, never unmapped.
//
// Publication: install() writes `config` completely before it adds the registry actions (the
// registry's mutex and seq_cst snapshot publication order those writes before any delivery that runs
// the action). A thread record is claimed by a compare-and-swap of its tid from 0 to -1, filled, then
// published with a release store of the real tid; the report reads tids with acquire loads.
#pragma once

#include <sys/types.h>
#include <time.h>
#include <atomic>
#include <csignal>
#include <cstddef>
#include <cstdint>

#include "sigrelay/crash.hpp"

namespace sigrelay::detail {

constexpr unsigned kCrashMaxThreads = 1024;
constexpr unsigned kCrashMaxFrames = 256;
constexpr std::size_t kCrashPathMax = 256;
constexpr std::size_t kCrashBuildIdMax = 64;  // bytes; printed as up to 128 hex digits

// One thread's stack, as prepare_thread() recorded it.
struct crash_thread {
  // A plain field, read and written with atomics (no call here; the tid comes from gettid()).
  std::atomic<pid_t> tid;      // 0: free; -1: being filled or emptied; otherwise the owner's tid
  std::uintptr_t stack_lo;     // lowest usable address of the stack
  std::uintptr_t stack_hi;     // one past the highest
  std::uintptr_t guard_lo;     // the guard region is [guard_lo, stack_lo)
  void* alt_stack;             // the mapping sigrelay made for the alternate stack (null: none)
  std::size_t alt_stack_size;  // of that mapping, guard page included
};

// One loaded ELF object.
struct crash_module {
  std::uintptr_t lo;       // lowest address of its PT_LOAD segments (absolute)
  std::uintptr_t hi;       // one past the highest
  std::uintptr_t text_lo;  // lowest address of its executable PT_LOAD segments
  std::uintptr_t text_hi;  // one past the highest (text_lo == text_hi: none)
  std::uintptr_t bias;     // load bias (dlpi_addr): ELF address = address - bias
  char path[kCrashPathMax];
  unsigned char build_id[kCrashBuildIdMax];
  std::size_t build_id_size;
};

// A table of modules in its own mmap()ed block; never unmapped.
struct crash_module_table {
  std::size_t count;
  crash_module modules[1];  // `count` of them, in the block
};

// Fixed at install().
struct crash_config {
  int fd;
  int file_fd;  // -1: none
  bool call_previous_handler;
  bool has_watchdog;
  timer_t watchdog;
  pid_t watchdog_pid;  // the process that owns `watchdog` (POSIX timers are not inherited by fork())
  unsigned watchdog_seconds;
  unsigned second_crasher_wait;
  unsigned max_frames;
  crash::hook_fn hook;
  void* hook_context;
  pid_t main_tid;  // the thread that called install()
};

struct crash_state {
  crash_config config;
  std::atomic<bool> installed;
  std::atomic<const crash_module_table*> modules;
  std::atomic<pid_t> reporter;  // the first crasher's tid (0: none yet)
  std::atomic<int> first_signo;
  // The thread whose chained handler runs (or ran and left by siglongjmp), and the frame of the
  // crash_action() that called it: a fault there is inside that handler while the interrupted code
  // lies below the frame (crash_report.cc, inside_chained_handler()). Written and read by that
  // thread only.
  std::atomic<pid_t> chained_tid;
  std::atomic<std::uintptr_t> chained_frame;
  crash_thread threads[kCrashMaxThreads];
};

static_assert(std::atomic<pid_t>::is_always_lock_free, "crash_state::reporter");
static_assert(std::atomic<const crash_module_table*>::is_always_lock_free, "crash_state::modules");

extern crash_state g_crash;

// Signal context. The registry action for every crash signal (context unused).
void crash_action(void* context, const siginfo_t& info) noexcept;

}  // namespace sigrelay::detail
