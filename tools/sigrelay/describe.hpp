// SPDX-License-Identifier: MIT
// tools/sigrelay/describe.hpp — what the `watch`, `inspect`, `send` and `list` subcommands share:
// signals and siginfo turned into words, /proc read, JSON written.
//
// Everything here runs in ordinary context (it allocates and throws); none of it is meant for a
// signal handler.
//
// Errors
//   Functions that parse user input (parse_signal(), parse_pid()) throw std::system_error
//   (std::errc::invalid_argument) naming the text; readers of /proc return an empty result when the
//   file cannot be read (the process may be gone), read_status() says so by an empty map.
#pragma once

#include <sys/types.h>
#include <csignal>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sigrelay::tool {

// ----- signals -----------------------------------------------------------------------------------

// The highest signal number of the running kernel and C library (SIGRTMAX).
int max_signal() noexcept;

// "SIGUSR1", "SIGRTMIN+2", or "signal N" for a number that names none.
std::string signal_label(int signo);

// Parses "USR1", "SIGUSR1", "usr1", "10", "RTMIN+2" into a signal number (sigrelay::signal_number);
// throws std::system_error (invalid_argument) "unknown signal 'X'" otherwise.
int parse_signal(std::string_view text);

// Parses a process or thread id (a positive decimal); throws std::system_error (invalid_argument).
pid_t parse_pid(std::string_view text);

// The default action of a signal as signal(7) abbreviates it: "Term", "Core", "Stop", "Ign" or
// "Cont". Realtime signals: "Term".
std::string_view default_action(int signo) noexcept;

// A short description of a signal, as in signal(7) ("Hangup detected on controlling terminal...").
// Realtime signals: "Realtime signal (application-defined)".
std::string_view signal_description(int signo) noexcept;

// si_code in words for a signal: "SI_USER (kill)", "SI_QUEUE (sigqueue)", "SI_TKILL (tgkill)",
// "SI_KERNEL", "CLD_EXITED (child exited)", "SEGV_MAPERR (address not mapped)", ... A code not known
// prints as "code N".
std::string code_words(int signo, int code);

// Whether si_pid/si_uid of a siginfo with this si_code were filled in by the kernel (kernel-generated
// codes >= 0, SI_USER, SI_TKILL) and so cannot be forged; SI_QUEUE and the other negative codes can
// be forged by a same-user process with rt_sigqueueinfo(). The same rule as sigrelay::origin::trusted.
bool code_trusted(int code) noexcept;

// Whether a siginfo with this signal and si_code names a sending process in si_pid/si_uid
// (SI_USER, SI_QUEUE, SI_TKILL, SI_MESGQ; for SIGCHLD the child's).
bool code_has_sender(int signo, int code) noexcept;

// The signals set in a /proc mask (bit N-1 for signal N), in ascending order.
std::vector<int> mask_signals(std::uint64_t mask);

// Signal names of a mask joined by spaces ("SIGINT SIGQUIT"), "-" for an empty mask. Signals 32
// and 33 read "signal 33 (libc)" (libc_internal()).
std::string mask_names(std::uint64_t mask);

// Signals 32 and 33: below every C library's SIGRTMIN, kept by the C library for its own threads'
// work (glibc: 32 for cancellation and timers, 33 for set*id() applied to every thread, which
// glibc 2.36 catches once a program has started a thread; musl uses 32 to 34), never an application's.
// Whether `mask` holds one.
bool libc_internal(int signo) noexcept;
bool has_libc_internal(std::uint64_t mask) noexcept;

// Parses a hexadecimal /proc mask ("0000000000000200"); 0 for text that is not one.
std::uint64_t parse_mask(std::string_view hex) noexcept;

// ----- /proc -------------------------------------------------------------------------------------

// The command name of a process (/proc/PID/comm without the newline); "?" when it cannot be read.
std::string process_comm(pid_t pid);

// The "Key:\tvalue" lines of a status file (/proc/PID/status, /proc/PID/task/TID/status), values
// trimmed; empty if the file cannot be read.
std::map<std::string, std::string> read_status(const std::string& path);

// The thread ids of a process (/proc/PID/task), ascending; empty if it is gone.
std::vector<pid_t> thread_ids(pid_t pid);

// The whole content of a small file; empty if it cannot be read.
std::string read_file(const std::string& path);

// The signalfds a process holds, each with the mask it reads ("sigmask:" of /proc/PID/fdinfo/FD),
// ascending by fd; empty if none or the process is gone.
std::vector<std::pair<int, std::uint64_t>> signalfds(pid_t pid);

// If thread `tid` of process `pid` is asleep in rt_sigtimedwait (sigwaitinfo(), sigtimedwait(),
// sigwait()): the address, in that process, of the set it waits for (its first argument in
// /proc/PID/task/TID/syscall; 0 if not given). std::nullopt if it is in no such call, or the file
// cannot be read (it needs ptrace permission).
std::optional<std::uint64_t> sigtimedwait_set_address(pid_t pid, pid_t tid);

// ----- output ------------------------------------------------------------------------------------

// A JSON string literal, quotes included, with the characters JSON requires escaped.
std::string json_string(std::string_view text);

// A JSON array of signal names for a mask: ["SIGINT","SIGQUIT"].
std::string json_mask(std::uint64_t mask);

}  // namespace sigrelay::tool
