// SPDX-License-Identifier: MIT
// sigrelay/crash.hpp — fatal-signal reports: what the process was doing when it died, and dying
// correctly.
//
// Opt-in. crash::install() adds one registry action (allow_fault_signals) for each fatal signal
// (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP, SIGSYS by default) that writes one report, then
// ends the process by the same signal with its default action: the parent sees WIFSIGNALED with that
// signal, and the kernel writes a core dump when RLIMIT_CORE (and core_pattern) allow.
//
// Example:
//
//   int main() {
//     sigrelay::crash::install();          // stderr; or install({.file = "/var/log/app.crash"})
//     std::thread t([] { sigrelay::crash::prepare_thread(); work(); });
//     ...
//   }
//
// The report (one block of lines, written with write(2) only; the format is stable):
//
//   *** sigrelay crash report ***
//   signal: SIGSEGV (11), code SEGV_MAPERR (1): address not mapped to object
//   fault address: 0x0
//   stack overflow: no
//   thread: 4242 "worker" (main thread: no)
//   sender: kernel
//   registers: pc 0x55d0c2a01234 sp 0x7ffd5a3c1f10 fp 0x7ffd5a3c1f30
//   backtrace: 5 frames (frame pointers)
//     #0 pc 0x55d0c2a01234 /usr/bin/app+0x1234 build-id 8f3a...
//     #1 ra 0x55d0c2a01388 /usr/bin/app+0x1388 build-id 8f3a...
//     #2 ra 0x7f3b5e829d90 /usr/lib/x86_64-linux-gnu/libc.so.6+0x29d90 build-id 4f53...
//   *** end of crash report ***
//
//   - "signal:" the signal's name and number, the si_code's name and number and its meaning in
//     words ("SI_USER (0): sent by kill()" for a signal sent by a process).
//   - "fault address:" si_addr, for SIGSEGV, SIGBUS, SIGILL, SIGFPE and SIGTRAP raised by the kernel
//     with a signal-specific code (si_code > 0 and not SI_KERNEL: the kernel leaves si_addr 0 for
//     SI_KERNEL, as for a general-protection fault or an int3 on x86-64); the line is left out
//     otherwise.
//   - "stack overflow:" "yes (fault address in the guard region below the stack 0xLO-0xHI)" when the
//     fault address lies in the guard region of the crashing thread's stack (below: `guard`), "no"
//     when it does not, "unknown (thread not prepared)" for a thread whose stack sigrelay never
//     recorded. Only for SIGSEGV and SIGBUS that have a "fault address:" line; left out otherwise.
//   - "thread:" the kernel thread id and the thread's name (prctl(PR_GET_NAME)), in double quotes,
//     its control characters, DEL, '"' and '\' written as \xNN (any process of the user can set
//     a thread's name, through /proc: it cannot add a line to the report).
//   - "sender:" "kernel" (si_code > 0), or "pid P uid U (KIND, trusted|untrusted[, this process])"
//     for a signal sent by a process (si_code <= 0), KIND being kill (SI_USER), tkill (SI_TKILL),
//     queue (SI_QUEUE) or other. trusted: the kernel filled in pid and uid (SI_USER, SI_TKILL); the
//     other negative codes can be forged by a same-user process. ", this process" when P is the
//     crashing process itself (abort(), raise()). A POSIX timer's signal (SI_TIMER), whose siginfo
//     holds no pid or uid, is "POSIX timer T (timer, untrusted)", T the kernel's timer id.
//   - "registers:" pc, sp and fp (rbp on x86-64, x29 on AArch64) from the signal's ucontext; left out
//     on other architectures.
//   - "backtrace:" frame #0 is the pc ("pc"), the others return addresses ("ra": the symbolizer looks
//     up ra-1, the call instruction). Each frame: the absolute address, the module's path + the
//     offset in its ELF address space (address minus the module's load bias: what addr2line -e takes),
//     and the module's GNU build-id (hex) when it has one. An address in no known module prints as
//     "?". The walk follows frame pointers, with bounds checks against the recorded stack, so frames of
//     code compiled without frame pointers are skipped (the chain resumes at the first caller that
//     keeps one) or end the walk early; a crash in a function that has not yet pushed its own frame
//     record (an optimised leaf, or GCC's shrink-wrapping: -fno-shrink-wrap avoids it) loses its
//     caller, frame #1. When the fp register holds no usable frame record (the crash is inside such
//     code, e.g. the C library's abort()), the first live-looking record is searched for in the 64 KiB
//     above the stack pointer, and the header line says "first record found by scanning the stack".
//     At most `max_frames` frames.
//   - A user hook's output, if any, comes before the end line.
//   Offline symbolization: scripts/symbolize-crash REPORT (build-ids -> binaries -> eu-addr2line).
//
// Signal context
//   Everything the report needs is prepared at install time: the output fd and file, the list of
//   loaded modules with their build-ids (dl_iterate_phdr), the installing thread's stack bounds and
//   alternate signal stack, and a watchdog timer. In the handler: only write(2), prctl, gettid, getpid,
//   timer_settime, nanosleep, sigaction, pthread_sigmask, sigpending, tgkill, plain loads (and, only
//   where needed: timer_create in a fork child, process_vm_readv for an unprepared thread's stack);
//   no allocation, no lock, no stdio, no unwinder, no dladdr. Nothing is symbolized in the process
//   (no in-handler symbolization at all): names come later, offline.
//
// Behaviour at the crash, in order
//   1. First crasher wins: the first thread that enters takes the report. Another thread that
//      crashes meanwhile waits (nanosleep) until the process dies; after `second_crasher_wait`
//      seconds without the process dying it dies by its own signal. Reports never interleave.
//   2. A fault inside the report (or inside the hook, or the chained handler) on the reporting thread
//      ends the process at once by the *original* signal (no second report).
//   3. The watchdog (a CLOCK_MONOTONIC timer created at install time) is armed for
//      `watchdog_seconds`; if the report or the hook hangs, the timer sends SIGKILL to the process
//      (SIGKILL because nothing can block or catch it; the parent then sees SIGKILL, not the original
//      signal, and the report lacks its end line). A fork() or _Fork() child of the process inherits
//      no timer: its report creates its own (the raw timer_create system call) and arms that.
//   4. The report is written to `fd`, then to the file, if any, with SIGPIPE and SIGXFSZ blocked on the
//      reporting thread: an fd whose reader is gone or a file past RLIMIT_FSIZE loses that copy of
//      the report, never the death by the original signal.
//   5. The hook, if any, runs (see `hook`).
//   6. With `call_previous_handler`, the handler that was installed for the signal before install()
//      runs, as the kernel would have run it. The report is over by then: the watchdog is disarmed
//      and the first crasher's place given up before it runs, because that handler belongs to other
//      code, which may take its time (a sanitizer symbolizing its own report: a hang there is that
//      code's) or recover by siglongjmp (a probe, a runtime's fault handling): the process then runs
//      on, and a later crash is reported again. A crash on another thread while it runs gets a
//      report of its own. If it returns, or without that option,
//   7. the process dies by the original signal (SIG_DFL, unblocked, tgkill to this thread), so the
//      parent sees WIFSIGNALED with it and WCOREDUMP where a core was written.
//   A fault inside the chained handler is told from a later crash of recovered code by the stack:
//   the code it interrupted lies below the report's frame (or on the alternate signal stack it ran
//   on). Recovered code that faults more than a signal frame deeper than the first fault is taken
//   for the chained handler: it dies by the first signal without a second report.
//   The report and the hook run on the thread's alternate signal stack where it has one.
//
// Threads and the alternate signal stack
//   A stack overflow can be reported only on a thread that has an alternate signal stack (the kernel
//   cannot push a signal frame on the exhausted stack; without one the process just dies by
//   SIGSEGV), and "stack overflow" is recognised only on a thread whose stack bounds were recorded.
//   sigrelay reaches: the thread that calls install(), and every thread that calls prepare_thread()
//   (call it first thing in each thread you start). A thread that already has an alternate stack
//   keeps it (sigaltstack is per thread: sigrelay never replaces one). Threads sigrelay cannot reach:
//   those started before install() or by libraries (thread pools of other libraries, etc.) that
//   never call prepare_thread(): they still get a report for every crash except a stack overflow
//   (which kills them silently, by SIGSEGV with no report), their stack overflow is reported as
//   "unknown", and their backtrace walk is bounded by a fixed 1 MiB window above the stack pointer,
//   cut at its first unreadable page (probed with process_vm_readv() on the process itself).
//   No pthread_create wrapper is interposed (it would have to be linked into the program).
//   A fault (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP raised by the processor) on a thread that blocks
//   that signal gets no report either: the kernel cannot defer it, so it resets the disposition to
//   SIG_DFL and kills. A thread that blocks every signal (to leave them to a sigwait() thread)
//   should leave these unblocked.
//   A prepared thread's alternate stack and record are released when it exits (a pthread key
//   destructor). At most 1024 threads are recorded at once; prepare_thread() fails beyond that.
//
// Modules
//   The module table (path, address ranges, load bias, build-id) is read at install() with
//   dl_iterate_phdr. Code loaded later with dlopen() shows as "?" until refresh_modules() is called
//   (call it after dlopen()). Old tables are kept (never freed) so that a crash during a refresh
//   still reads a whole table.
//
// Sanitizers' own fault handlers (ASan, TSan, UBSan: handle_segv, handle_sigbus, handle_sigfpe)
//   ASan and TSan install their SIGSEGV handler (and SIGBUS's and SIGFPE's, by their handle_*
//   options) at startup, before main(): install() saves it as the earlier handler, like any other.
//   - Default (call_previous_handler false): sigrelay's report, then death by the signal. The
//     sanitizer's handler is never called: no "AddressSanitizer: SEGV" report; WIFSIGNALED, SIGSEGV.
//   - call_previous_handler true (what we recommend under a sanitizer): sigrelay's whole report
//     first, then the sanitizer's handler writes its own ("ERROR: AddressSanitizer: SEGV on unknown
//     address ...", with its symbolized stack) and ends the process its own way: _exit() with its
//     `exitcode` (ASan's default 1, TSan's 66), or abort() with abort_on_error=1. The parent then
//     sees that exit status, not the signal. (TSan adds "nested bug in the same thread, aborting" for
//     a fault on a thread it tracks; the status is still its exitcode.)
//   - A sanitizer handler put back over sigrelay's afterwards (sigaction() with the disposition saved
//     before install(), or a runtime that re-installs its own): it alone takes the crash, without
//     sigrelay's report; describe(SIGSEGV).replaced is true and check_ownership() reports the signal,
//     naming the runtime's module (libasan.so.8!...).
//   - UBSan: with ASan (-fsanitize=address,undefined) ASan's handler is the one. UBSan alone:
//     Clang's runtime installs a SIGSEGV handler with UBSAN_OPTIONS=handle_segv=1 (as above); GCC's
//     shared libubsan installs none whatever the option says, so there is nothing to chain.
//   - handle_segv=2 (a sanitizer's "exclusive" mode) makes its sigaction() interceptor ignore other
//     code's handlers for that signal: install() then succeeds but its handler is never installed;
//     check_ownership() reports it. Not tested.
//   Tested in tests/crash_sanitizer_test.cc (ASan in the asan preset, TSan in tsan, UBSan alone in
//   dev).
//
// Not built
//   Backtraces of all threads (the optional part, as Go prints every goroutine) are not
//   built: only the crashing thread's stack is walked.
//
// Thread safety
//   install(), prepare_thread() and refresh_modules() may be called from any thread, concurrently;
//   never from a signal handler.
//
// Errors
//   Functions not declared noexcept throw std::system_error; the std::error_code overloads report the
//   same errors. install() fails with std::errc::device_or_resource_busy if it was called before
//   (one install per process), std::errc::invalid_argument (message names the signal) for a signal
//   outside the fatal set above or a max_frames outside 1..256, or the error of open(), mmap(),
//   sigaltstack(), timer_create() (EAGAIN, an exhausted RLIMIT_SIGPENDING, is retried for 2 s first)
//   or add_action(); the message names the signal or the step. On error nothing was installed (the
//   signal dispositions are as they were; the calling thread may keep the alternate stack that
//   prepare_thread() gave it).
#pragma once

#include <signal.h>
#include <unistd.h>
#include <cstddef>
#include <string>
#include <system_error>
#include <vector>

#include "sigrelay/export.hpp"

namespace sigrelay::crash {

// hook_fn
//
// Runs in signal context, on the crashing thread, after the report was written and before the end
// line. Its contract, which is tiny on purpose: write(2) to `fd` (the report's fd; a file output
// gets the same bytes only if the hook writes there too, it does not) and read your own
// pre-allocated data; nothing else: no allocation, no lock, no stdio, no C++ exception, no return to
// normal code by longjmp. A fault inside it ends the process by the original signal at once; a hang
// is ended by the watchdog. `info` is the crash's siginfo; `context` is options::hook_context.
using hook_fn = void (*)(int fd, const siginfo_t& info, void* context) noexcept;

struct options {
  // The signals that get a report. Only these seven are accepted.
  std::vector<int> signals{SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP, SIGSYS};

  // Where the report goes; -1 for nowhere (with a file only). Not closed by sigrelay.
  int fd = STDERR_FILENO;

  // If not empty: a file opened at install() (O_WRONLY|O_CREAT|O_APPEND|O_CLOEXEC, mode 0600) that
  // gets a copy of the report.
  std::string file;

  // Call the handler installed before install() for that signal, after the report (Abseil's
  // call_previous_handler). Without it, that handler is never called for these signals.
  bool call_previous_handler = false;

  // The watchdog: seconds from the start of the report until SIGKILL, unless the report and the hook
  // are over by then (a chained handler runs without it). 0: no watchdog.
  unsigned watchdog_seconds = 5;

  // How long a second crashing thread waits for the first one's report to end the process before
  // dying by its own signal.
  unsigned second_crasher_wait = 10;

  // Frames at most in the backtrace (1..256).
  unsigned max_frames = 64;

  // Size of each alternate signal stack sigrelay maps (plus a guard page); at least 64 KiB.
  std::size_t alt_stack_size = std::size_t{64} * 1024;

  hook_fn hook = nullptr;
  void* hook_context = nullptr;
};

// install()
//
// Installs the crash handler for options.signals, prepares the calling thread (prepare_thread()),
// reads the module table, creates the watchdog timer and opens the file. Once per process; there is
// no uninstall (a crash handler is for the process's whole life).
// Linux only: a library built with the posix platform layer (SIGRELAY_PLATFORM=posix; README,
// "Platforms") has no crash reporter. There install() and prepare_thread() throw std::system_error
// with std::errc::not_supported (the message says "the crash reporter is Linux-only"), their
// error_code overloads set that code, nothing is installed or mapped, installed() stays false and
// refresh_modules() does nothing.
SIGRELAY_EXPORT void install(const options& opts = {});
SIGRELAY_EXPORT void install(const options& opts, std::error_code& ec) noexcept;

// installed()
//
// Whether install() succeeded in this process.
SIGRELAY_EXPORT bool installed() noexcept;

// prepare_thread()
//
// For the calling thread: gives it an alternate signal stack (unless it has one) and records its
// stack bounds and guard region (pthread_getattr_np), so that its stack overflow is reported. Call it
// first thing in every thread that you start. Calling it again on a prepared thread does nothing. May
// be called before install(). Errors: the error of mmap() or sigaltstack();
// std::errc::resource_unavailable_try_again when no record is free (1024 threads at once).
SIGRELAY_EXPORT void prepare_thread();
SIGRELAY_EXPORT void prepare_thread(std::error_code& ec) noexcept;

// refresh_modules()
//
// Reads the module table again (dl_iterate_phdr), for code loaded with dlopen() after install().
// Does nothing before install().
SIGRELAY_EXPORT void refresh_modules();

}  // namespace sigrelay::crash
