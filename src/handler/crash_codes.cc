// SPDX-License-Identifier: MIT
// src/handler/crash_codes.cc — the names and meanings of si_code values, for the crash report. Signal
// context.
//
// Constant tables and loops over them: async-signal-safe, no allocation, no system call.
#include "platform/config.hpp"

#if SIGRELAY_LINUX  // only the crash report (Linux-only, src/crash.cc) uses these tables
#include "handler/crash_codes.hpp"

#include <csignal>

namespace sigrelay::detail {

// Signal context. The name and meaning of a signal-specific si_code (> 0 and not SI_KERNEL).
const code_text* specific_code(int signo, int code) noexcept {
  static const code_text segv[] = {{1, "SEGV_MAPERR", "address not mapped to object"},
                                   {2, "SEGV_ACCERR", "invalid permissions for mapped object"},
                                   {3, "SEGV_BNDERR", "failed address bound checks"},
                                   {4, "SEGV_PKUERR", "access denied by memory protection keys"},
                                   {5, "SEGV_ACCADI", "ADI not enabled for mapped object"},
                                   {6, "SEGV_ADIDERR", "disrupting MCD error"},
                                   {7, "SEGV_ADIPERR", "precise MCD exception"},
                                   {8, "SEGV_MTEAERR", "asynchronous MTE tag check fault"},
                                   {9, "SEGV_MTESERR", "synchronous MTE tag check fault"},
                                   {0, nullptr, nullptr}};
  static const code_text bus[] = {
      {1, "BUS_ADRALN", "invalid address alignment"},
      {2, "BUS_ADRERR", "nonexistent physical address (e.g. past the end of a mapped file)"},
      {3, "BUS_OBJERR", "object-specific hardware error"},
      {4, "BUS_MCEERR_AR", "hardware memory error consumed: action required"},
      {5, "BUS_MCEERR_AO", "hardware memory error detected: action optional"},
      {0, nullptr, nullptr}};
  static const code_text ill[] = {{1, "ILL_ILLOPC", "illegal opcode"},
                                  {2, "ILL_ILLOPN", "illegal operand"},
                                  {3, "ILL_ILLADR", "illegal addressing mode"},
                                  {4, "ILL_ILLTRP", "illegal trap"},
                                  {5, "ILL_PRVOPC", "privileged opcode"},
                                  {6, "ILL_PRVREG", "privileged register"},
                                  {7, "ILL_COPROC", "coprocessor error"},
                                  {8, "ILL_BADSTK", "internal stack error"},
                                  {9, "ILL_BADIADDR", "unimplemented instruction address"},
                                  {0, nullptr, nullptr}};
  static const code_text fpe[] = {{1, "FPE_INTDIV", "integer divide by zero"},
                                  {2, "FPE_INTOVF", "integer overflow"},
                                  {3, "FPE_FLTDIV", "floating-point divide by zero"},
                                  {4, "FPE_FLTOVF", "floating-point overflow"},
                                  {5, "FPE_FLTUND", "floating-point underflow"},
                                  {6, "FPE_FLTRES", "floating-point inexact result"},
                                  {7, "FPE_FLTINV", "floating-point invalid operation"},
                                  {8, "FPE_FLTSUB", "subscript out of range"},
                                  {14, "FPE_FLTUNK", "undiagnosed floating-point exception"},
                                  {15, "FPE_CONDTRAP", "trap on condition"},
                                  {0, nullptr, nullptr}};
  static const code_text trap[] = {{1, "TRAP_BRKPT", "process breakpoint"},
                                   {2, "TRAP_TRACE", "process trace trap"},
                                   {3, "TRAP_BRANCH", "process taken branch trap"},
                                   {4, "TRAP_HWBKPT", "hardware breakpoint or watchpoint"},
                                   {5, "TRAP_UNK", "undiagnosed trap"},
                                   {0, nullptr, nullptr}};
  static const code_text sys[] = {{1, "SYS_SECCOMP", "system call refused by a seccomp filter"},
                                  {2, "SYS_USER_DISPATCH", "system call dispatched to user space"},
                                  {0, nullptr, nullptr}};
  const code_text* table = nullptr;
  switch (signo) {
    case SIGSEGV: table = segv; break;
    case SIGBUS: table = bus; break;
    case SIGILL: table = ill; break;
    case SIGFPE: table = fpe; break;
    case SIGTRAP: table = trap; break;
    case SIGSYS: table = sys; break;
    default: return nullptr;
  }
  for (; table->name != nullptr; ++table) {
    if (table->code == code) return table;
  }
  return nullptr;
}

// Signal context. The generic si_codes (<= 0, SI_KERNEL).
const code_text* generic_code(int code) noexcept {
  static const code_text generic[] = {
      {SI_USER, "SI_USER", "sent by kill()"},
      {SI_KERNEL, "SI_KERNEL", "sent by the kernel"},
      {SI_QUEUE, "SI_QUEUE", "sent by sigqueue()"},
      {SI_TIMER, "SI_TIMER", "a POSIX timer expired"},
      {SI_MESGQ, "SI_MESGQ", "a message queue changed state"},
      {SI_ASYNCIO, "SI_ASYNCIO", "asynchronous I/O completed"},
      {SI_SIGIO, "SI_SIGIO", "queued SIGIO"},
      {SI_TKILL, "SI_TKILL", "sent by tkill()/tgkill() (raise, abort, pthread_kill)"},
      {0, nullptr, nullptr}};
  for (const code_text* c = generic; c->name != nullptr; ++c) {
    if (c->code == code) return c;
  }
  return nullptr;
}

}  // namespace sigrelay::detail
#endif  // SIGRELAY_LINUX
