// SPDX-License-Identifier: MIT
// src/platform/sys.hpp — the one wrapper of the system calls sigrelay makes in ordinary context.
//
// Each function is the system call of the same name, with the same arguments and results (-1 and
// errno on failure; pthread_sigmask returns the error number), plus the fault-injection hook of
// sys_fault.hpp. No retries here: each caller decides what EINTR or EAGAIN means for it. Signal
// context never comes here (src/handler/ makes its own calls). See sys.cc for the design notes.
#pragma once

#include <poll.h>
#include <sys/types.h>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <ctime>

#include "platform/config.hpp"
#include "platform/sys_fault.hpp"

#if SIGRELAY_LINUX
#include <sys/epoll.h>
#endif

namespace sigrelay::detail::sys {

int sigaction(int signo, const struct sigaction* act, struct sigaction* old) noexcept;
int pthread_sigmask(int how, const sigset_t* set, sigset_t* old) noexcept;
#if SIGRELAY_LINUX  // Linux-only calls: the posix build has no wrapper for them (config.hpp)
int eventfd(unsigned initial, int flags) noexcept;
int signalfd(int fd, const sigset_t* mask, int flags) noexcept;
int epoll_create1(int flags) noexcept;
int epoll_ctl(int epfd, int op, int fd, struct epoll_event* event) noexcept;
#endif
ssize_t read(int fd, void* buffer, std::size_t size) noexcept;
ssize_t write(int fd, const void* buffer, std::size_t size) noexcept;
int poll(struct pollfd* fds, nfds_t count, int timeout_ms) noexcept;
#if SIGRELAY_LINUX
int ppoll(struct pollfd* fds, nfds_t count, const struct timespec* timeout, const sigset_t* mask) noexcept;
// FUTEX_WAIT_PRIVATE on `word` while it holds `expected`, with a relative timeout.
long futex_wait(const std::uint32_t* word, std::uint32_t expected, const struct timespec* timeout) noexcept;
int rt_tgsigqueueinfo(pid_t pid, pid_t tid, int signo, siginfo_t* info) noexcept;
#endif
int close(int fd) noexcept;
int fcntl(int fd, int cmd) noexcept;  // the argument-less commands (F_GETFL, F_GETFD)
pid_t waitpid(pid_t pid, int* status, int options) noexcept;
int open(const char* path, int flags, mode_t mode = 0) noexcept;

// Adds 1 to the eventfd `fd` (the posix layer: writes 8 bytes to the pipe whose write end `fd` is) so
// that it is readable; ordinary context's counterpart of the handlers' write_wakeup()
// (src/handler/relays.hpp). Retries EINTR. On EAGAIN (the counter is at its maximum, or the pipe is
// full, so the reader has data already; or an injected fault) it checks with a zero-timeout poll()
// that the fd is readable (an eventfd) or has no room (a pipe) and writes again if neither: a
// wake-up is never lost to EAGAIN, and a full pipe never makes it loop.
// Other errors (a closed fd) are ignored: there is nothing to wake.
void write_wakeup(int fd) noexcept;

}  // namespace sigrelay::detail::sys
