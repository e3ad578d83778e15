// SPDX-License-Identifier: MIT
// src/handler/crash_report.cc — the crash report, written inside the fatal signal's handler. Signal
// context.
//
// Every function in this file is async-signal-safe (man 7 signal-safety): the system calls write,
// gettid, getpid, prctl(PR_GET_NAME), timer_settime, nanosleep, pthread_sigmask, sigpending, and
// those of relay::die_by_signal (sigaction, pthread_sigmask, tgkill); in a fork child, also the raw
// timer_create and timer_delete system calls (arm_watchdog()); for an unprepared thread's walk, raw
// process_vm_readv on this process (readable_end()); before a chained handler, a zero-timeout raw
// rt_sigtimedwait (unquiet_outputs()); loads of data prepared at install time
// (crash_state.hpp); text formatted into a buffer on this stack. It never allocates, locks, throws
// or uses stdio, and never returns to the faulting code: it ends the process (unless a chained
// handler leaves by siglongjmp). errno is saved and restored by the trampoline; the report does
// not care about it afterwards (the process dies).
//
// Ordering by risk, as Abseil does: the election of the reporter, the watchdog and the fixed header
// lines come first; the stack walk, which reads the crashing thread's memory, comes after them and
// is bounded by the recorded stack; the user's hook and the chained handler come last.
#include "platform/config.hpp"

#if SIGRELAY_LINUX  // the whole crash reporter is Linux-only (src/crash.cc)
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstddef>
#include <cstdint>

#include "handler/crash_codes.hpp"
#include "handler/crash_state.hpp"
#include "handler/masks.hpp"  // signal_bit
#include "handler/state.hpp"
#include "sigrelay/registry.hpp"
#include "sigrelay/relays.hpp"

namespace sigrelay::detail {

crash_state g_crash{};

namespace {

// Signal context: write() all of it, retrying on EINTR and partial writes; gives up on an error.
void write_all(int fd, const char* data, std::size_t size) noexcept {
  while (fd >= 0 && size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    data += n;
    size -= static_cast<std::size_t>(n);
  }
}

// Signal context. Formats into a fixed buffer on the stack; flushes to the report's fd and file when
// full and on flush().
class writer {
 public:
  writer(int fd, int file_fd) noexcept : fd_(fd), file_fd_(file_fd) {}
  writer(const writer&) = delete;
  writer& operator=(const writer&) = delete;

  writer& str(const char* s) noexcept {
    while (s != nullptr && *s != '\0') put(*s++);
    return *this;
  }
  writer& str(const char* s, std::size_t n) noexcept {
    for (std::size_t i = 0; i < n && s[i] != '\0'; ++i) put(s[i]);
    return *this;
  }
  // At most `n` bytes of `s` (up to a NUL), with control characters, DEL, '"' and '\\' written as
  // \xNN: text from outside (a thread's name) cannot end the line or the quotes it stands in.
  writer& quoted(const char* s, std::size_t n) noexcept {
    for (std::size_t i = 0; i < n && s[i] != '\0'; ++i) {
      const auto c = static_cast<unsigned char>(s[i]);
      if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') {
        put('\\');
        put('x');
        put("0123456789abcdef"[c >> 4]);
        put("0123456789abcdef"[c & 0xF]);
      } else {
        put(s[i]);
      }
    }
    return *this;
  }
  writer& dec(long long v) noexcept {
    unsigned long long u =
        v < 0 ? 0ULL - static_cast<unsigned long long>(v) : static_cast<unsigned long long>(v);
    if (v < 0) put('-');
    char digits[24];
    int n = 0;
    do {
      digits[n++] = static_cast<char>('0' + u % 10);
      u /= 10;
    } while (u != 0);
    while (n > 0) put(digits[--n]);
    return *this;
  }
  writer& hex(std::uintptr_t v) noexcept {
    put('0');
    put('x');
    char digits[20];
    int n = 0;
    do {
      digits[n++] = "0123456789abcdef"[v & 0xF];
      v >>= 4;
    } while (v != 0);
    while (n > 0) put(digits[--n]);
    return *this;
  }
  writer& bytes_hex(const unsigned char* b, std::size_t n) noexcept {
    for (std::size_t i = 0; i < n; ++i) {
      put("0123456789abcdef"[b[i] >> 4]);
      put("0123456789abcdef"[b[i] & 0xF]);
    }
    return *this;
  }
  void flush() noexcept {
    write_all(fd_, buffer_, used_);
    if (file_fd_ != fd_) write_all(file_fd_, buffer_, used_);
    used_ = 0;
  }

 private:
  void put(char c) noexcept {
    if (used_ == sizeof buffer_) flush();
    buffer_[used_++] = c;
  }
  int fd_;
  int file_fd_;
  std::size_t used_ = 0;
  char buffer_[512];
};

// Signal context. Whether the kernel filled si_addr with a fault address.
bool has_fault_address(const siginfo_t& info) noexcept {
  if (info.si_code <= 0 || info.si_code == SI_KERNEL) return false;
  switch (info.si_signo) {
    case SIGSEGV:
    case SIGBUS:
    case SIGILL:
    case SIGFPE:
    case SIGTRAP: return true;
    default: return false;
  }
}

struct registers {
  std::uintptr_t pc = 0;
  std::uintptr_t sp = 0;
  std::uintptr_t fp = 0;
  bool known = false;
};

// Signal context.
registers registers_of(const void* uc) noexcept {
  registers r;
  if (uc == nullptr) return r;
  const auto* context = static_cast<const ucontext_t*>(uc);
#if defined(__x86_64__)
  r.pc = static_cast<std::uintptr_t>(context->uc_mcontext.gregs[REG_RIP]);
  r.sp = static_cast<std::uintptr_t>(context->uc_mcontext.gregs[REG_RSP]);
  r.fp = static_cast<std::uintptr_t>(context->uc_mcontext.gregs[REG_RBP]);
  r.known = true;
#elif defined(__aarch64__)
  r.pc = static_cast<std::uintptr_t>(context->uc_mcontext.pc);
  r.sp = static_cast<std::uintptr_t>(context->uc_mcontext.sp);
  r.fp = static_cast<std::uintptr_t>(context->uc_mcontext.regs[29]);
  r.known = true;
#else
  (void)context;
#endif
  return r;
}

// Signal context. The calling thread's record, or nullptr. Found by its tid, else (known registers)
// by the record whose stack, guard region included, holds the interrupted stack pointer: in a fork()
// or _Fork() child the thread that forked runs on the stack that its parent's thread recorded, under
// another tid (a prepared thread's record is released at its exit, so no other live thread's stack
// is the one a record describes).
const crash_thread* find_thread(pid_t tid, std::uintptr_t sp, bool sp_known) noexcept {
  for (const crash_thread& t : g_crash.threads) {
    if (t.tid.load(std::memory_order_acquire) == tid) return &t;
  }
  if (!sp_known) return nullptr;
  for (const crash_thread& t : g_crash.threads) {
    if (t.tid.load(std::memory_order_acquire) > 0 && sp >= t.guard_lo && sp < t.stack_hi) return &t;
  }
  return nullptr;
}

// Signal context.
const crash_module* find_module(const crash_module_table* table, std::uintptr_t address) noexcept {
  if (table == nullptr) return nullptr;
  for (std::size_t i = 0; i < table->count; ++i) {
    const crash_module& m = table->modules[i];
    if (address >= m.lo && address < m.hi) return &m;
  }
  return nullptr;
}

// Signal context. The word at `address` of the crashing thread's stack (callers check the bounds).
// Not instrumented: the stack walk reads other frames' words, redzones included, on purpose.
__attribute__((no_sanitize("address", "thread"))) std::uintptr_t word_at(std::uintptr_t address) noexcept {
  // NOLINTNEXTLINE(performance-no-int-to-ptr): reading the stack by address is the point
  return *reinterpret_cast<const std::uintptr_t*>(address);
}

// Signal context. Whether `address` lies in the executable code of a known module.
bool in_code(const crash_module_table* table, std::uintptr_t address) noexcept {
  const crash_module* m = find_module(table, address);
  return m != nullptr && address >= m->text_lo && address < m->text_hi;
}

// Signal context. Whether [fp, fp + 16) may be a frame record (saved fp, return address) of the stack
// [low, high): inside it, aligned.
bool record_in(std::uintptr_t fp, std::uintptr_t low, std::uintptr_t high) noexcept {
  return fp >= low && high >= 2 * sizeof(std::uintptr_t) && fp <= high - 2 * sizeof(std::uintptr_t) &&
         fp % sizeof(std::uintptr_t) == 0;
}

// Signal context. Whether a frame record at `a` is plausible: a saved frame pointer above it in the
// stack next to a return address inside a known module's code, and the record it points to holds a
// return address inside code too (two links of a chain, not one lucky pair of words).
bool plausible_record(std::uintptr_t a, std::uintptr_t low, std::uintptr_t high,
                      const crash_module_table* table) noexcept {
  if (!record_in(a, low, high)) return false;
  const std::uintptr_t parent = word_at(a);
  if (parent <= a || !record_in(parent, low, high) || !in_code(table, word_at(a + sizeof parent)))
    return false;
  return in_code(table, word_at(parent + sizeof parent));
}

// Signal context. The first live-looking frame record at or above the stack pointer (within 64 KiB),
// for a crash inside code built without frame pointers (the C library's abort() and raise()), whose
// fp register holds anything; 0 if none. A plausible record can be stale, left below the live frames
// by an earlier, deeper call: one is skipped when a higher plausible record lies between it and the
// frame it points to and points to that same frame, since a live chain has one record per frame and
// the live callee's record is the one right below its caller's frame.
std::uintptr_t scan_for_record(std::uintptr_t sp, std::uintptr_t low, std::uintptr_t high,
                               const crash_module_table* table) noexcept {
  const std::uintptr_t start = (sp > low ? sp : low) & ~(sizeof(std::uintptr_t) - 1);
  const std::uintptr_t end = high - start > (1U << 16) ? start + (1U << 16) : high;
  for (std::uintptr_t a = start; record_in(a, low, end); a += sizeof(std::uintptr_t)) {
    if (!plausible_record(a, low, end, table)) continue;
    const std::uintptr_t parent = word_at(a);
    bool stale = false;
    for (std::uintptr_t b = a + sizeof(std::uintptr_t); b < parent && !stale; b += sizeof(std::uintptr_t)) {
      stale = plausible_record(b, low, high, table) && word_at(b) == parent;
    }
    if (!stale) return a;
  }
  return 0;
}

// Signal context. Walks the frame-pointer chain from `fp` into `frames` after frames[0] = pc. A frame
// record (saved fp, return address) must lie within [low, high), aligned, and strictly above the
// previous one; anything else ends the walk, so that it reads only the recorded stack.
std::size_t walk(std::uintptr_t pc, std::uintptr_t fp, std::uintptr_t low, std::uintptr_t high,
                 std::uintptr_t* frames, std::size_t max) noexcept {
  std::size_t n = 0;
  if (max == 0) return 0;
  frames[n++] = pc;
  while (n < max && record_in(fp, low, high)) {
    const std::uintptr_t next = word_at(fp);
    const std::uintptr_t ra = word_at(fp + sizeof fp);
    if (ra == 0) break;
    frames[n++] = ra;
    if (next <= fp) break;
    fp = next;
  }
  return n;
}

// Signal context. Ends the process by `signo` at once, no report.
[[noreturn]] void die_now(int signo) noexcept { relay::die_by_signal(signo); }

// Signal context. Sleeps for `ms` milliseconds (nanosleep is async-signal-safe).
void sleep_ms(long ms) noexcept {
  struct timespec pause {
    ms / 1000, (ms % 1000) * 1000000L
  };
  while (::nanosleep(&pause, &pause) != 0 && errno == EINTR) {
  }
}

// Signal context. The report's lines up to the backtrace.
void write_header(writer& out, const siginfo_t& info, const registers& regs, pid_t tid,
                  const crash_thread* thread) noexcept {
  const int signo = info.si_signo;
  out.str("*** sigrelay crash report ***\n");
  out.str("signal: ").str(signal_name(signo).data()).str(" (").dec(signo).str("), code ");
  const code_text* code = nullptr;
  if (info.si_code > 0 && info.si_code != SI_KERNEL) code = specific_code(signo, info.si_code);
  if (code == nullptr) code = generic_code(info.si_code);
  if (code != nullptr) {
    out.str(code->name).str(" (").dec(info.si_code).str("): ").str(code->meaning);
  } else {
    out.str("unknown (").dec(info.si_code).str(")");
  }
  if (signo == SIGSYS && info.si_code == 1) out.str(", system call ").dec(info.si_syscall);
  out.str("\n");

  if (has_fault_address(info)) {
    const auto address = reinterpret_cast<std::uintptr_t>(info.si_addr);
    out.str("fault address: ").hex(address).str("\n");
    if (signo == SIGSEGV || signo == SIGBUS) {
      out.str("stack overflow: ");
      if (thread == nullptr) {
        out.str("unknown (thread not prepared)\n");
      } else if (address >= thread->guard_lo && address < thread->stack_lo) {
        out.str("yes (fault address in the guard region below the stack ")
            .hex(thread->stack_lo)
            .str("-")
            .hex(thread->stack_hi)
            .str(")\n");
      } else {
        out.str("no\n");
      }
    }
  }

  char name[17] = {};
  ::prctl(PR_GET_NAME, name, 0, 0, 0);  // a plain system call; the name is at most 16 bytes
  out.str("thread: ").dec(tid).str(" \"").quoted(name, 16).str("\" (main thread: ");
  out.str(tid == ::getpid() ? "yes" : "no").str(")\n");

  out.str("sender: ");
  if (info.si_code > 0) {
    out.str("kernel\n");
  } else if (info.si_code == SI_TIMER) {
    // A POSIX timer's: si_pid and si_uid share their place with the timer's id and overrun.
    out.str("POSIX timer ").dec(info.si_timerid).str(" (timer, untrusted)\n");
  } else {
    const char* kind = info.si_code == SI_USER    ? "kill"
                       : info.si_code == SI_TKILL ? "tkill"
                       : info.si_code == SI_QUEUE ? "queue"
                                                  : "other";
    const bool trusted = info.si_code == SI_USER || info.si_code == SI_TKILL;
    out.str("pid ").dec(info.si_pid).str(" uid ").dec(info.si_uid).str(" (").str(kind).str(", ");
    out.str(trusted ? "trusted" : "untrusted")
        .str(info.si_pid == ::getpid() ? ", this process" : "")
        .str(")\n");
  }

  if (regs.known) {
    out.str("registers: pc ").hex(regs.pc).str(" sp ").hex(regs.sp).str(" fp ").hex(regs.fp).str("\n");
  }
}

// Signal context. The end of the readable memory from `from` on, at most `limit` bytes, probed page
// by page (4 KiB steps) with process_vm_readv() on this process: an unreadable page fails with
// EFAULT and raises no signal. If the system call is refused (a seccomp filter), `from + limit`.
std::uintptr_t readable_end(std::uintptr_t from, std::uintptr_t limit) noexcept {
  const std::uintptr_t end = from + limit < from ? UINTPTR_MAX : from + limit;
  for (std::uintptr_t at = from; at < end;) {
    char byte = 0;
    struct iovec local {};
    local.iov_base = &byte;
    local.iov_len = 1;
    struct iovec remote {};
    // NOLINTNEXTLINE(performance-no-int-to-ptr): probing memory by address is the point
    remote.iov_base = reinterpret_cast<void*>(at);
    remote.iov_len = 1;
    if (::syscall(SYS_process_vm_readv, ::getpid(), &local, 1UL, &remote, 1UL, 0UL) != 1) {
      return errno == EFAULT ? at : end;
    }
    const std::uintptr_t next = (at | 0xFFF) + 1;
    if (next <= at) break;
    at = next;
  }
  return end;
}

// Signal context. The backtrace lines.
void write_backtrace(writer& out, const registers& regs, const crash_thread* thread) noexcept {
  if (!regs.known) {
    out.str("backtrace: unavailable (no registers on this architecture)\n");
    return;
  }
  // The walk reads only [low, high): the recorded stack (its guard excluded), or for a thread never
  // prepared (or one interrupted off its recorded stack: on an alternate stack, a fiber's), a fixed
  // window above the stack pointer, cut at its first unreadable page (what lies above a stack is
  // anyone's: another thread stack's guard page, a hole).
  std::uintptr_t low = regs.sp;
  std::uintptr_t high = 0;
  if (thread != nullptr && regs.sp >= thread->guard_lo && regs.sp < thread->stack_hi) {
    low = regs.sp > thread->stack_lo ? regs.sp : thread->stack_lo;
    high = thread->stack_hi;
  } else {
    high = readable_end(regs.sp, std::uintptr_t{1} << 20);
  }
  const crash_module_table* table = g_crash.modules.load(std::memory_order_acquire);
  std::uintptr_t fp = regs.fp;
  const bool fp_usable = record_in(fp, low, high) && in_code(table, word_at(fp + sizeof fp));
  if (!fp_usable) fp = scan_for_record(regs.sp, low, high, table);
  std::uintptr_t frames[kCrashMaxFrames];
  const unsigned max =
      g_crash.config.max_frames < kCrashMaxFrames ? g_crash.config.max_frames : kCrashMaxFrames;
  const std::size_t n = walk(regs.pc, fp, low, high, frames, max);
  out.str("backtrace: ").dec(static_cast<long long>(n));
  out.str(fp_usable ? " frames (frame pointers)\n"
                    : " frames (frame pointers, first record found by scanning the stack)\n");
  for (std::size_t i = 0; i < n; ++i) {
    out.str("  #").dec(static_cast<long long>(i)).str(i == 0 ? " pc " : " ra ").hex(frames[i]).str(" ");
    const crash_module* m = find_module(table, frames[i]);
    if (m == nullptr) {
      out.str("?\n");
      continue;
    }
    out.str(m->path, sizeof m->path).str("+").hex(frames[i] - m->bias);
    if (m->build_id_size > 0) out.str(" build-id ").bytes_hex(m->build_id, m->build_id_size);
    out.str("\n");
  }
}

// The watchdog this report armed: install()'s timer, or in a fork child (which inherits no POSIX
// timer: install()'s id names nothing there, or a timer of the child's own) one made for the child.
struct armed_watchdog {
  bool own_timer = false;  // made by arm_watchdog() for this process
  int kernel_id = -1;      // its kernel timer id (-1: none could be made)
};

// Signal context. Arms the watchdog for config.watchdog_seconds. In a child of the process that
// called install(), creates the child's own SIGKILL timer with the raw system calls (no C library
// state: the kernel's timer id, as timer_settime's system call takes it).
armed_watchdog arm_watchdog(const crash_config& config) noexcept {
  struct itimerspec when {};
  when.it_value.tv_sec = static_cast<time_t>(config.watchdog_seconds);
  armed_watchdog armed;
  if (::getpid() == config.watchdog_pid) {
    ::timer_settime(config.watchdog, 0, &when, nullptr);
    return armed;
  }
  armed.own_timer = true;
  struct sigevent event {};
  event.sigev_notify = SIGEV_SIGNAL;
  event.sigev_signo = SIGKILL;
  int id = -1;
  if (::syscall(SYS_timer_create, CLOCK_MONOTONIC, &event, &id) != 0) return armed;
  armed.kernel_id = id;
  ::syscall(SYS_timer_settime, id, 0, &when, nullptr);
  return armed;
}

// Signal context. Disarms what arm_watchdog() armed.
void disarm_watchdog(const crash_config& config, const armed_watchdog& armed) noexcept {
  if (!armed.own_timer) {
    const struct itimerspec off {};
    ::timer_settime(config.watchdog, 0, &off, nullptr);
  } else if (armed.kernel_id >= 0) {
    ::syscall(SYS_timer_delete, armed.kernel_id);
  }
}

// Signal context. Blocks SIGPIPE and SIGXFSZ on this thread while the report is written: a report fd
// whose reader is gone (EPIPE) or a file past RLIMIT_FSIZE (EFBIG) must lose that copy, not end the
// process by a signal other than the crash's (both act at once at SIG_DFL). Returns the mask before.
sigset_t quiet_outputs() noexcept {
  sigset_t quiet;
  sigemptyset(&quiet);
  sigaddset(&quiet, SIGPIPE);
  sigaddset(&quiet, SIGXFSZ);
  sigset_t before;
  ::pthread_sigmask(SIG_BLOCK, &quiet, &before);
  return before;
}

// Signal context. Before the chained handler, which runs "as the kernel would have run it" and may
// recover by siglongjmp (which restores a mask where they are not blocked): a SIGPIPE or SIGXFSZ
// that the report's own writes raised (pending now, not before the report) is taken back with a
// zero-timeout wait, then those of the two that were not blocked before are unblocked again, unless
// one is still pending (sent by someone else meanwhile: unblocked, it would end the process at once).
void unquiet_outputs(const sigset_t& before, const sigset_t& pending_before) noexcept {
  sigset_t pending;
  sigemptyset(&pending);
  ::sigpending(&pending);
  for (const int s : {SIGPIPE, SIGXFSZ}) {
    if (sigismember(&pending, s) == 1 && sigismember(&pending_before, s) == 0) {
      const std::uint64_t one = signal_bit(s);  // the kernel's sigset_t
      const struct timespec now {};
      ::syscall(SYS_rt_sigtimedwait, &one, nullptr, &now, sizeof one);
    }
  }
  sigemptyset(&pending);
  ::sigpending(&pending);
  sigset_t again;
  sigemptyset(&again);
  for (const int s : {SIGPIPE, SIGXFSZ}) {
    if (sigismember(&before, s) == 0 && sigismember(&pending, s) == 0) sigaddset(&again, s);
  }
  ::pthread_sigmask(SIG_UNBLOCK, &again, nullptr);
}

// Signal context. A crash that finds the report taken by another thread waits for it to end the
// process, bounded by second_crasher_wait, then dies by its own signal.
[[noreturn]] void wait_for_the_reporter(int signo) noexcept {
  const long wait_ms = static_cast<long>(g_crash.config.second_crasher_wait) * 1000;
  for (long waited = 0; waited < wait_ms; waited += 10) sleep_ms(10);
  die_now(signo);
}

// Signal context. Whether this crash happened inside the chained handler that this thread's report
// called (see crash_action()): the code it interrupted lies below that crash_action()'s frame on the
// same stack. Once the handler has left by siglongjmp (a probe that recovers), the code that faults
// now runs above that frame, or off the alternate signal stack the frame was on (the kernel leaves
// that stack only when its outermost handler is over). Unknown (no stack pointer; the frame on the
// main stack and the fault on the alternate one) counts as inside. Limit, as for the trampoline's
// read-side sections: recovered code that faults more than a signal frame deeper than the first
// fault is taken for the handler, and dies by the first signal without a second report.
bool inside_chained_handler(pid_t tid) noexcept {
  if (g_crash.chained_tid.load(std::memory_order_relaxed) != tid) return false;
  return interrupted_code(current_ucontext())
      .runs_under(g_crash.chained_frame.load(std::memory_order_relaxed));
}

}  // namespace

// Signal context: the registry action of every crash signal (added with chains_itself, so the
// earlier handler runs only from here, if asked). Never returns, unless the chained handler leaves
// by siglongjmp.
void crash_action(void*, const siginfo_t& info) noexcept {
  const int signo = info.si_signo;
  const pid_t tid = ::gettid();
  if (inside_chained_handler(tid)) {
    // A fault inside the chained handler: the original signal, now (no second report).
    const int first = g_crash.first_signo.load(std::memory_order_acquire);
    die_now(first != 0 ? first : signo);
  }
  pid_t expected = 0;
  if (!g_crash.reporter.compare_exchange_strong(expected, tid, std::memory_order_acq_rel)) {
    if (expected == tid) {
      // A fault inside our own report or hook: the original signal, now.
      const int first = g_crash.first_signo.load(std::memory_order_acquire);
      die_now(first != 0 ? first : signo);
    }
    wait_for_the_reporter(signo);  // another thread reports
  }
  g_crash.first_signo.store(signo, std::memory_order_release);
  sigset_t pending_before;
  sigemptyset(&pending_before);
  ::sigpending(&pending_before);
  const sigset_t mask_before = quiet_outputs();

  const crash_config& config = g_crash.config;
  armed_watchdog armed;
  if (config.has_watchdog) armed = arm_watchdog(config);

  const registers regs = registers_of(current_ucontext());
  const crash_thread* thread = find_thread(tid, regs.sp, regs.known);
  writer out(config.fd, config.file_fd);
  write_header(out, info, regs, tid, thread);
  out.flush();  // what is known so far is out, even if the walk faults
  write_backtrace(out, regs, thread);
  out.flush();

  if (config.hook != nullptr) config.hook(config.fd, info, config.hook_context);
  out.str("*** end of crash report ***\n");
  out.flush();

  if (config.call_previous_handler) {
    // The report is over; the chained handler belongs to other code, which may take its time (a
    // sanitizer symbolizing its own report) or recover by siglongjmp (a probe): so the watchdog is
    // disarmed and the election released before it runs, and a crash after a recovery is reported
    // again (crash.hpp, "Behaviour at the crash"). A fault inside it is told by its frame.
    if (config.has_watchdog) disarm_watchdog(config, armed);
    g_crash.chained_frame.store(reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0)),
                                std::memory_order_relaxed);
    g_crash.chained_tid.store(tid, std::memory_order_relaxed);
    g_crash.reporter.store(0, std::memory_order_release);
    unquiet_outputs(mask_before, pending_before);
    call_chained(signo, const_cast<siginfo_t*>(&info), current_ucontext());
    // It returned: the process dies by the signal, unless another thread's report began meanwhile.
    g_crash.chained_tid.store(0, std::memory_order_relaxed);
    pid_t none = 0;
    if (!g_crash.reporter.compare_exchange_strong(none, tid, std::memory_order_acq_rel)) {
      wait_for_the_reporter(signo);
    }
  }
  die_now(signo);
}

}  // namespace sigrelay::detail
#endif  // SIGRELAY_LINUX
