/* SPDX-License-Identifier: MIT */
/* sigrelay.h — the C API of sigrelay (C99): signal actions in a process-wide registry, ready-made
 * relays, the `signals` consumer, names and origins.
 *
 * The same library as the C++ API (<sigrelay/sigrelay.hpp>), with the same contracts; this header
 * states where C differs. Link with -lsigrelay (pkg-config sigrelay; a static libsigrelay.a also
 * needs the C++ runtime: `pkg-config --static --libs sigrelay`, or link with a C++ compiler driver).
 *
 * Errors
 *   Every function that can fail returns 0 on success, or a positive errno-style code: EINVAL (a bad
 *   or refused signal number — 0, negative, above SIGRTMAX, reserved by the C library, SIGKILL,
 *   SIGSTOP, a fault signal without allow_fault_signals — or a bad argument), EBADF (a closed
 *   consumer), EPERM (a fork child's copy of a consumer), EAGAIN (a limit of the library reached),
 *   ENOMEM, EMFILE/ENFILE, or what a system call reported. A call that fails changes nothing: the
 *   process's signal state is exactly as it was. sigrelay_strerror(code) gives the code's text;
 *   sigrelay_last_error() the full message of the last call that failed in this thread, naming the
 *   signal ("sigrelay: cannot add an action for SIGKILL: ..."). errno is left as it was on success.
 *
 * Threads and signal context
 *   Every function here is ordinary code: none may be called in signal context, except where a
 *   comment says "async-signal-safe". A C action (sigrelay_action_fn) runs in signal context, with
 *   the contract of the C++ `action`: only async-signal-safe calls, errno saved and restored by the
 *   registry, no return from a synchronous fault. */
#ifndef SIGRELAY_H
#define SIGRELAY_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#if defined(__GNUC__) || defined(__clang__)
#define SIGRELAY_C_API __attribute__((visibility("default")))
#else
#define SIGRELAY_C_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Errors ---------------------------------------------------------------------------------- */

/* The text of an error code returned by this API (strerror()'s, for an errno value); never NULL,
 * valid until the next call in the same thread. 0 gives "success". */
SIGRELAY_C_API const char* sigrelay_strerror(int code);

/* The full message of the last call that failed in the calling thread (naming the signal where one
 * was involved), or "" if none has failed. Valid until the next failing call in this thread. */
SIGRELAY_C_API const char* sigrelay_last_error(void);

/* ---- Names and origins ----------------------------------------------------------------------- */

/* "SIGINT", "SIGRTMIN+3", ...; "" for a number that names no signal. Never NULL, static storage.
 * Async-signal-safe. */
SIGRELAY_C_API const char* sigrelay_signal_name(int signo);

/* The number of a signal name: "SIGINT", "INT", "int", "SIGRTMIN+3", "RTMAX-1" or a decimal number.
 * EINVAL for anything else (and *signo untouched). */
SIGRELAY_C_API int sigrelay_signal_number(const char* name, int* signo);

/* Who or what sent a signal: the C++ sigrelay::origin_kind. */
typedef enum sigrelay_origin_kind {
  SIGRELAY_ORIGIN_USER = 0, /* kill(), raise(): SI_USER */
  SIGRELAY_ORIGIN_QUEUE,    /* sigqueue(), rt_sigqueueinfo(): SI_QUEUE (pid/uid: the sender's word) */
  SIGRELAY_ORIGIN_THREAD,   /* tgkill(), pthread_kill(): SI_TKILL */
  SIGRELAY_ORIGIN_KERNEL,   /* the kernel: SIGPIPE, alarm(), faults, the terminal (SI_KERNEL, > 0) */
  SIGRELAY_ORIGIN_TIMER,    /* a POSIX timer: SI_TIMER */
  SIGRELAY_ORIGIN_CHILD,    /* SIGCHLD about a child (CLD_*): pid the child's, child_status its status */
  SIGRELAY_ORIGIN_OTHER     /* SI_MESGQ, SI_ASYNCIO, SI_SIGIO, anything else */
} sigrelay_origin_kind;

/* What sigrelay::origin holds: the sender of a delivery as its siginfo tells it. */
typedef struct sigrelay_origin {
  pid_t pid; /* sender (or child, for SIGRELAY_ORIGIN_CHILD); 0 where siginfo has none */
  uid_t uid;
  int code;           /* si_code */
  int kind;           /* a sigrelay_origin_kind */
  int trusted;        /* 1 when pid/uid were filled in by the kernel (never for SI_QUEUE) */
  union sigval value; /* sigqueue() payload */
  int child_status;   /* SIGCHLD: si_status */
} sigrelay_origin;

/* Decodes a siginfo. Async-signal-safe. */
SIGRELAY_C_API void sigrelay_origin_of(const siginfo_t* info, sigrelay_origin* out);

/* "user", "queue", "thread", "kernel", "timer", "child", "other"; "" for a value out of range.
 * Static storage. */
SIGRELAY_C_API const char* sigrelay_origin_kind_name(int kind);

/* ---- The registry: actions ------------------------------------------------------------------- */

/* A C action: runs in signal context (see the top of this file), on the thread the kernel chose, with
 * the delivery's siginfo. `context` is the pointer given at registration. */
typedef void (*sigrelay_action_fn)(void* context, const siginfo_t* info);

/* Options of an action (the C++ action_options). Start from SIGRELAY_ACTION_OPTIONS_INIT. */
typedef struct sigrelay_action_options {
  int restart;             /* SA_RESTART while every action of the signal asks for it; default 1 */
  int allow_fault_signals; /* accept SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS; default 0 */
} sigrelay_action_options;
#define SIGRELAY_ACTION_OPTIONS_INIT \
  { 1, 0 }

/* Names one registered action. {0, 0} names none. */
typedef struct sigrelay_action_id {
  int signo;
  uint64_t key;
} sigrelay_action_id;

/* Registers `fn(context, info)` for `signo`, after the actions already there; installs sigrelay's
 * handler on the first action of a signal (chaining to what was there before, as the C++ registry
 * does). `options` may be NULL (the defaults). On success *id names the action. */
SIGRELAY_C_API int sigrelay_add_action(int signo, sigrelay_action_fn fn, void* context,
                                       const sigrelay_action_options* options, sigrelay_action_id* id);

/* Unregisters an action; when it returns, no run of it is in progress in any thread, and the signal's
 * previous disposition is back when it was its last action. Returns 1 if `id` named a registered
 * action, 0 if not (already removed, or {0, 0}). Never fails otherwise. */
SIGRELAY_C_API int sigrelay_remove_action(sigrelay_action_id id);

/* ---- Relays: ready-made actions -------------------------------------------------------------- */

/* A flag set in signal context and read by ordinary code (the C++ relay::set_flag over an
 * std::atomic<bool>). Create, attach with sigrelay_add_flag(), test or clear from any thread. */
typedef struct sigrelay_flag sigrelay_flag;
SIGRELAY_C_API int sigrelay_flag_create(sigrelay_flag** out);
/* Destroys a flag. Remove every action that uses it first. NULL does nothing. */
SIGRELAY_C_API void sigrelay_flag_destroy(sigrelay_flag* flag);
/* 1 if set, 0 if not. Async-signal-safe. */
SIGRELAY_C_API int sigrelay_flag_test(const sigrelay_flag* flag);
/* Clears the flag; returns 1 if it was set. Async-signal-safe. */
SIGRELAY_C_API int sigrelay_flag_clear(sigrelay_flag* flag);

/* A counter of deliveries (relay::add_count over an std::atomic<uint64_t>). */
typedef struct sigrelay_counter sigrelay_counter;
SIGRELAY_C_API int sigrelay_counter_create(sigrelay_counter** out);
SIGRELAY_C_API void sigrelay_counter_destroy(sigrelay_counter* counter);
/* The count so far. Async-signal-safe. */
SIGRELAY_C_API uint64_t sigrelay_counter_get(const sigrelay_counter* counter);
/* Returns the count and sets it to 0. Async-signal-safe. */
SIGRELAY_C_API uint64_t sigrelay_counter_take(sigrelay_counter* counter);

/* What a relay action does with a delivery of `signo`. */
typedef enum sigrelay_relay_kind {
  SIGRELAY_RELAY_SET_FLAG = 0,   /* sets `flag` */
  SIGRELAY_RELAY_ADD_COUNT,      /* adds 1 to `counter` */
  SIGRELAY_RELAY_DIE_IF_SET,     /* the default action of the signal (dies) if `flag` is set */
  SIGRELAY_RELAY_DEFAULT_IF_SET, /* the signal's default action (whatever it is) if `flag` is set */
  SIGRELAY_RELAY_DEFAULT_ACTION, /* the signal's default action, always */
  SIGRELAY_RELAY_WRITE_FD        /* writes an 8-byte count of 1 to `fd` (what an eventfd adds; 8 bytes
                                    in a pipe), never blocks */
} sigrelay_relay_kind;

/* Registers a relay action for `signo`: as sigrelay_add_action(), with the action chosen by `kind`
 * and its target (`flag` for SET_FLAG, DIE_IF_SET and DEFAULT_IF_SET; `counter` for ADD_COUNT; `fd`
 * for WRITE_FD, which must be a non-blocking pipe, socket or eventfd: EINVAL for one that is not
 * open, is open for reading only, is blocking, or is a regular file, a directory or a block device;
 * the others unused).
 * The flag, counter or fd must outlive the action. */
SIGRELAY_C_API int sigrelay_add_relay(int signo, sigrelay_relay_kind kind, sigrelay_flag* flag,
                                      sigrelay_counter* counter, int fd,
                                      const sigrelay_action_options* options, sigrelay_action_id* id);

/* The signal's default action, done now (relay::emulate_default): terminating, core-dumping,
 * stopping or nothing, as the kernel would. Async-signal-safe. */
SIGRELAY_C_API void sigrelay_emulate_default(int signo);

/* Dies by `signo` with its default action (so that the parent sees WIFSIGNALED), or by _exit(128 +
 * signo) if that does not kill. Async-signal-safe; never returns. */
SIGRELAY_C_API void sigrelay_die_by_signal(int signo)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((noreturn))
#endif
    ;

/* Ignoring a signal through the registry, so that it is undone exactly (the C++ ignore(), reset(),
 * ignored(): see <sigrelay/registry.hpp> for what each does while actions are subscribed).
 * sigrelay_ignore: *changed (if not NULL) is 1 if it ignored the signal, 0 if ignore was already in
 * force. sigrelay_reset: *changed is 1 if it undid an ignore, 0 if none was in force.
 * sigrelay_ignored: *ignored is 1 if the disposition underneath is SIG_IGN, else 0. */
SIGRELAY_C_API int sigrelay_ignore(int signo, int* changed);
SIGRELAY_C_API int sigrelay_reset(int signo, int* changed);
SIGRELAY_C_API int sigrelay_ignored(int signo, int* ignored);

/* In a child made by a raw fork()/_Fork() that goes on using the library (see the C++ header).
 * As the C++ header says of a thread inside the registry, a child of _Fork() made while another
 * thread of the parent was inside sigrelay_add_action(), sigrelay_add_relay() or
 * sigrelay_remove_action() must not go on to use those three (they would wait for ever for that
 * thread); fork() holds them across the fork, so its children never meet this. */
SIGRELAY_C_API void sigrelay_after_fork_in_child(void);

/* ---- signals: deliveries relayed out of handler context -------------------------------------- */

typedef enum sigrelay_backend { SIGRELAY_BACKEND_RELAY = 0, SIGRELAY_BACKEND_SIGNALFD = 1 } sigrelay_backend;

/* Options of a consumer (signals_options). Start from SIGRELAY_SIGNALS_OPTIONS_INIT. */
typedef struct sigrelay_signals_options {
  int backend;              /* a sigrelay_backend; default SIGRELAY_BACKEND_RELAY */
  size_t realtime_capacity; /* records of the realtime ring; 0 means the default (1024); at most
                               2^24 (signals_options::max_realtime_capacity), else EINVAL */
  int follow_fork;          /* non-zero: goes on in a fork() child as the child's own (follow_fork in
                               the C++ header; SIGRELAY_BACKEND_RELAY only, else EINVAL); 0: dead there */
} sigrelay_signals_options;
#define SIGRELAY_SIGNALS_OPTIONS_INIT \
  { 0, 0, 0 }

/* One event: `count` deliveries of `signo` since its last event, `last` the latest one's origin. */
typedef struct sigrelay_event {
  int signo;
  uint64_t count;
  sigrelay_origin last;
} sigrelay_event;

/* A consumer of deliveries: the C++ sigrelay::signals. One consumer thread at a time calls
 * sigrelay_signals_pending/wait; sigrelay_signals_close, _native_handle and _dropped may be called
 * from any thread. */
typedef struct sigrelay_signals sigrelay_signals;

/* Subscribes to `count` signals (none if 0; `signos` may then be NULL). `options` may be NULL.
 * SIGRELAY_BACKEND_SIGNALFD with a library built on the posix platform layer (README, "Platforms"):
 * ENOTSUP (== EOPNOTSUPP on Linux), nothing subscribed. */
SIGRELAY_C_API int sigrelay_signals_create(const int* signos, size_t count,
                                           const sigrelay_signals_options* options, sigrelay_signals** out);
/* Unsubscribes and frees. NULL does nothing. The consumer must be otherwise unused, as for the C++
 * object: not while another thread waits in it or calls any other function on it
 * (sigrelay_signals_close() it, and let that thread return, first). */
SIGRELAY_C_API void sigrelay_signals_destroy(sigrelay_signals* s);
/* Subscribes to one more signal / unsubscribes from one (present/absent: nothing happens). add on a
 * closed consumer: EBADF. Any thread (the C++ handle's add()/remove()). */
SIGRELAY_C_API int sigrelay_signals_add(sigrelay_signals* s, int signo);
SIGRELAY_C_API int sigrelay_signals_remove(sigrelay_signals* s, int signo);

/* Copies up to `capacity` pending events into `events` and sets *count to how many; never blocks.
 * Events that do not fit stay for the next call, in order: nothing is lost (and the handle stays
 * readable for them). So a caller drains everything by calling again while *count == capacity.
 * EINVAL if capacity is 0. */
SIGRELAY_C_API int sigrelay_signals_pending(sigrelay_signals* s, sigrelay_event* events, size_t capacity,
                                            size_t* count);
/* As sigrelay_signals_pending(), but first waits up to `timeout_ms` milliseconds (negative: forever)
 * for at least one event. *count is 0 when the time is up, or when the consumer is closed (then
 * sigrelay_signals_is_closed() says 1). EINVAL if capacity is 0. */
SIGRELAY_C_API int sigrelay_signals_wait(sigrelay_signals* s, int timeout_ms, sigrelay_event* events,
                                         size_t capacity, size_t* count);
/* Readable while events are pending (or once closed): for poll/epoll/an event loop, then
 * sigrelay_signals_pending(). Owned by the consumer. -1 for NULL. */
SIGRELAY_C_API int sigrelay_signals_native_handle(const sigrelay_signals* s);
/* Realtime deliveries that found the ring full, since creation: in all (signo 0), or of one signal. */
SIGRELAY_C_API uint64_t sigrelay_signals_dropped(const sigrelay_signals* s, int signo);
/* Wakes a blocked sigrelay_signals_wait(), which then returns what is left, then nothing. Any thread. */
SIGRELAY_C_API void sigrelay_signals_close(sigrelay_signals* s);
/* 1 once closed, and for a fork child's copy that is dead there (no follow_fork; see "Fork" in
 * <sigrelay/signals.hpp>: it hands out nothing, its wait says 0 at once, add() is EPERM); else 0. */
SIGRELAY_C_API int sigrelay_signals_is_closed(const sigrelay_signals* s);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SIGRELAY_H */
