/* SPDX-License-Identifier: MIT */
/* tests/c/capi_test.c — the C API (<sigrelay.h>) from a C99 program, with real signals.
 *
 * `capi_test CASE` runs one case in a forked child under an alarm() watchdog, from a known signal
 * state (every catchable signal at SIG_DFL, nothing blocked), and exits 0 if it passed. ctest runs
 * each case as its own test; `capi_test` alone lists them. Signals come from other processes (a
 * forked sender, which the case waits for) or other threads, never to a process group. */
#define _GNU_SOURCE
#include <sigrelay.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int g_failed = 0;

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      g_failed = 1;                                                            \
    }                                                                          \
  } while (0)
#define CHECK_EQ_INT(a, b)                                                                             \
  do {                                                                                                 \
    long long va_ = (long long)(a), vb_ = (long long)(b);                                              \
    if (va_ != vb_) {                                                                                  \
      fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", __FILE__, __LINE__, #a, #b, va_, vb_); \
      g_failed = 1;                                                                                    \
    }                                                                                                  \
  } while (0)

static void reset_signal_state(void) {
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  for (int signo = 1; signo <= SIGRTMAX; ++signo) {
    if (signo == SIGKILL || signo == SIGSTOP || (signo > 31 && signo < SIGRTMIN)) continue;
    sigaction(signo, &dfl, NULL);
  }
  sigset_t none;
  sigemptyset(&none);
  pthread_sigmask(SIG_SETMASK, &none, NULL);
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* Sends `signo` `times` times to this process from a forked child (sigqueue with values value,
 * value+1, ... when `queue`), waits for the sender, returns its pid. */
static pid_t send_from_child(int signo, int times, int queue, int value) {
  const pid_t target = getpid();
  const pid_t pid = fork();
  if (pid == 0) {
    for (int i = 0; i < times; ++i) {
      int rc;
      if (queue) {
        union sigval v;
        v.sival_int = value + i;
        rc = sigqueue(target, signo, v);
      } else {
        rc = kill(target, signo);
      }
      if (rc != 0) _exit(2);
    }
    _exit(0);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  return pid;
}

/* Polls `done(arg)` every millisecond for up to `ms`. */
static int wait_until(int (*done)(void*), void* arg, long ms) {
  for (long i = 0; i < ms; ++i) {
    if (done(arg)) return 1;
    sleep_ms(1);
  }
  return done(arg);
}

static struct sigaction current_action(int signo) {
  struct sigaction sa;
  sigaction(signo, NULL, &sa);
  return sa;
}

/* ---- cases --------------------------------------------------------------------------------- */

static void names(void) {
  CHECK(strcmp(sigrelay_signal_name(SIGINT), "SIGINT") == 0);
  CHECK(strcmp(sigrelay_signal_name(SIGRTMIN + 3), "SIGRTMIN+3") == 0);
  CHECK(strcmp(sigrelay_signal_name(0), "") == 0);
  CHECK(strcmp(sigrelay_signal_name(-5), "") == 0);
  int signo = -1;
  CHECK_EQ_INT(sigrelay_signal_number("term", &signo), 0);
  CHECK_EQ_INT(signo, SIGTERM);
  CHECK_EQ_INT(sigrelay_signal_number("RTMIN+2", &signo), 0);
  CHECK_EQ_INT(signo, SIGRTMIN + 2);
  signo = -1;
  CHECK_EQ_INT(sigrelay_signal_number("herp", &signo), EINVAL);
  CHECK_EQ_INT(signo, -1);
  CHECK(strstr(sigrelay_last_error(), "herp") != NULL);
  CHECK(strcmp(sigrelay_strerror(0), "success") == 0);
  CHECK(strcmp(sigrelay_strerror(EINVAL), strerror(EINVAL)) == 0);
  CHECK(strcmp(sigrelay_origin_kind_name(SIGRELAY_ORIGIN_QUEUE), "queue") == 0);
  CHECK(strcmp(sigrelay_origin_kind_name(99), "") == 0);
}

static void noop_action(void* context, const siginfo_t* info) {
  (void)context;
  (void)info;
}

static void refused_signals_change_nothing(void) {
  const struct sigaction before = current_action(SIGSEGV);
  sigrelay_action_id id = {0, 0};
  CHECK_EQ_INT(sigrelay_add_action(SIGKILL, noop_action, NULL, NULL, &id), EINVAL);
  CHECK(strstr(sigrelay_last_error(), "SIGKILL") != NULL);
  CHECK_EQ_INT(id.key, 0);
  CHECK_EQ_INT(sigrelay_add_action(SIGSEGV, noop_action, NULL, NULL, &id), EINVAL);
  CHECK(strstr(sigrelay_last_error(), "SIGSEGV") != NULL);
  const struct sigaction after = current_action(SIGSEGV);
  CHECK(before.sa_handler == after.sa_handler && before.sa_flags == after.sa_flags);
  CHECK_EQ_INT(sigrelay_add_action(SIGUSR1, NULL, NULL, NULL, &id), EINVAL);
  CHECK(current_action(SIGUSR1).sa_handler == SIG_DFL);
  CHECK_EQ_INT(sigrelay_add_action(SIGUSR1, noop_action, NULL, NULL, NULL), EINVAL);
  CHECK(current_action(SIGUSR1).sa_handler == SIG_DFL);
  sigrelay_signals* s = NULL;
  const int bad[] = {SIGUSR1, SIGSTOP};
  CHECK_EQ_INT(sigrelay_signals_create(bad, 2, NULL, &s), EINVAL);
  CHECK(s == NULL);
  CHECK(strstr(sigrelay_last_error(), "SIGSTOP") != NULL);
  CHECK(current_action(SIGUSR1).sa_handler == SIG_DFL);
}

struct seen {
  volatile sig_atomic_t runs;
  volatile sig_atomic_t pid;
  volatile sig_atomic_t code;
  void* context;
};
static struct seen g_seen;

static void record_action(void* context, const siginfo_t* info) {
  g_seen.context = context;
  g_seen.pid = info->si_pid;
  g_seen.code = info->si_code;
  g_seen.runs = g_seen.runs + 1;
}

static int seen_one(void* arg) {
  (void)arg;
  return g_seen.runs >= 1;
}

static void c_action_runs_and_is_removed(void) {
  int marker = 0;
  sigrelay_action_id id = {0, 0};
  const sigrelay_action_options options = SIGRELAY_ACTION_OPTIONS_INIT;
  CHECK_EQ_INT(sigrelay_add_action(SIGUSR1, record_action, &marker, &options, &id), 0);
  CHECK_EQ_INT(id.signo, SIGUSR1);
  CHECK(id.key != 0);
  const pid_t sender = send_from_child(SIGUSR1, 1, 0, 0);
  CHECK(wait_until(seen_one, NULL, 10000));
  CHECK_EQ_INT(g_seen.runs, 1);
  CHECK_EQ_INT(g_seen.pid, sender);
  CHECK_EQ_INT(g_seen.code, SI_USER);
  CHECK(g_seen.context == &marker);
  CHECK(current_action(SIGUSR1).sa_handler != SIG_DFL);
  CHECK_EQ_INT(sigrelay_remove_action(id), 1);
  CHECK(current_action(SIGUSR1).sa_handler == SIG_DFL);
  CHECK_EQ_INT(sigrelay_remove_action(id), 0);
  const sigrelay_action_id none = {0, 0};
  CHECK_EQ_INT(sigrelay_remove_action(none), 0);
}

struct relays {
  sigrelay_flag* flag;
  sigrelay_counter* counter;
};

static int counter_at_3(void* arg) { return sigrelay_counter_get(((struct relays*)arg)->counter) >= 3; }
static int flag_set(void* arg) { return sigrelay_flag_test(((struct relays*)arg)->flag); }

static void flag_and_counter_relays(void) {
  struct relays r;
  CHECK_EQ_INT(sigrelay_flag_create(&r.flag), 0);
  CHECK_EQ_INT(sigrelay_counter_create(&r.counter), 0);
  sigrelay_action_id flag_id, count_id;
  CHECK_EQ_INT(sigrelay_add_relay(SIGUSR2, SIGRELAY_RELAY_SET_FLAG, r.flag, NULL, -1, NULL, &flag_id), 0);
  CHECK_EQ_INT(sigrelay_add_relay(SIGRTMIN, SIGRELAY_RELAY_ADD_COUNT, NULL, r.counter, -1, NULL, &count_id),
               0);
  CHECK_EQ_INT(sigrelay_flag_test(r.flag), 0);
  send_from_child(SIGUSR2, 1, 0, 0);
  CHECK(wait_until(flag_set, &r, 10000));
  CHECK_EQ_INT(sigrelay_flag_clear(r.flag), 1);
  CHECK_EQ_INT(sigrelay_flag_test(r.flag), 0);
  for (int i = 0; i < 3; ++i) send_from_child(SIGRTMIN, 1, 1, i); /* one at a time: none merged */
  CHECK(wait_until(counter_at_3, &r, 10000));
  CHECK_EQ_INT(sigrelay_counter_take(r.counter), 3);
  CHECK_EQ_INT(sigrelay_counter_get(r.counter), 0);
  /* A relay without its target is refused, and changes nothing. */
  sigrelay_action_id id;
  CHECK_EQ_INT(sigrelay_add_relay(SIGHUP, SIGRELAY_RELAY_SET_FLAG, NULL, NULL, -1, NULL, &id), EINVAL);
  CHECK(current_action(SIGHUP).sa_handler == SIG_DFL);
  CHECK_EQ_INT(sigrelay_remove_action(flag_id), 1);
  CHECK_EQ_INT(sigrelay_remove_action(count_id), 1);
  sigrelay_flag_destroy(r.flag);
  sigrelay_counter_destroy(r.counter);
}

static void fd_relay_wakes_a_poll(void) {
  int fds[2];
  CHECK_EQ_INT(pipe(fds), 0);
  sigrelay_action_id id;
  /* A blocking pipe would block a handler: refused. */
  CHECK_EQ_INT(sigrelay_add_relay(SIGHUP, SIGRELAY_RELAY_WRITE_FD, NULL, NULL, fds[1], NULL, &id), EINVAL);
  CHECK(current_action(SIGHUP).sa_handler == SIG_DFL);
  fcntl(fds[1], F_SETFL, O_NONBLOCK);
  CHECK_EQ_INT(sigrelay_add_relay(SIGHUP, SIGRELAY_RELAY_WRITE_FD, NULL, NULL, fds[1], NULL, &id), 0);
  send_from_child(SIGHUP, 1, 0, 0);
  struct pollfd p = {fds[0], POLLIN, 0};
  int ready;
  do {
    ready = poll(&p, 1, 10000);
  } while (ready < 0 && errno == EINTR);
  CHECK_EQ_INT(ready, 1);
  char byte;
  CHECK_EQ_INT(read(fds[0], &byte, 1), 1);
  CHECK_EQ_INT(sigrelay_remove_action(id), 1);
  close(fds[0]);
  close(fds[1]);
}

/* Collects events until `want` deliveries in all (or 10 s), with an array of `capacity`. */
static size_t collect(sigrelay_signals* s, sigrelay_event* out, size_t out_size, size_t capacity,
                      uint64_t want) {
  size_t n = 0;
  uint64_t total = 0;
  for (int round = 0; round < 1000 && total < want; ++round) {
    size_t got = 0;
    CHECK_EQ_INT(sigrelay_signals_wait(s, 10, out + n, capacity, &got), 0);
    CHECK(got <= capacity);
    for (size_t i = 0; i < got; ++i) total += out[n + i].count;
    n += got;
    if (n + capacity > out_size) break;
  }
  return n;
}

static void consumer_hands_out_everything_in_small_arrays(void) {
  const int subscribed[] = {SIGUSR1, SIGRTMIN};
  sigrelay_signals* s = NULL;
  CHECK_EQ_INT(sigrelay_signals_create(subscribed, 2, NULL, &s), 0);
  CHECK(s != NULL);
  CHECK(sigrelay_signals_native_handle(s) >= 0);
  CHECK_EQ_INT(sigrelay_signals_is_closed(s), 0);
  /* One sender at a time, each waited for, so that every delivery is recorded before the first
   * drain (and none can be merged, also under a sanitizer that defers handlers). */
  const pid_t kill_sender = send_from_child(SIGUSR1, 1, 0, 0);
  pid_t queue_senders[5];
  for (int i = 0; i < 5; ++i) queue_senders[i] = send_from_child(SIGRTMIN, 1, 1, 40 + i);
  sigrelay_event events[16];
  const size_t n = collect(s, events, 16, 1, 6); /* one event per call: the rest waits in order */
  CHECK_EQ_INT(n, 6);
  CHECK_EQ_INT(events[0].signo, SIGUSR1);
  CHECK_EQ_INT(events[0].last.pid, kill_sender);
  CHECK_EQ_INT(events[0].last.kind, SIGRELAY_ORIGIN_USER);
  CHECK_EQ_INT(events[0].last.trusted, 1);
  for (int i = 0; i < 5 && (size_t)(i + 1) < n; ++i) {
    CHECK_EQ_INT(events[i + 1].signo, SIGRTMIN);
    CHECK_EQ_INT(events[i + 1].count, 1);
    CHECK_EQ_INT(events[i + 1].last.value.sival_int, 40 + i);
    CHECK_EQ_INT(events[i + 1].last.pid, queue_senders[i]);
    CHECK_EQ_INT(events[i + 1].last.kind, SIGRELAY_ORIGIN_QUEUE);
    CHECK_EQ_INT(events[i + 1].last.trusted, 0);
  }
  size_t got = 99;
  CHECK_EQ_INT(sigrelay_signals_pending(s, events, 16, &got), 0);
  CHECK_EQ_INT(got, 0);
  CHECK_EQ_INT(sigrelay_signals_dropped(s, 0), 0);
  CHECK_EQ_INT(sigrelay_signals_pending(s, events, 0, &got), EINVAL);
  sigrelay_signals_destroy(s);
  CHECK(current_action(SIGUSR1).sa_handler == SIG_DFL);
  CHECK(current_action(SIGRTMIN).sa_handler == SIG_DFL);
}

static void consumer_add_remove_and_poll(void) {
  sigrelay_signals* s = NULL;
  CHECK_EQ_INT(sigrelay_signals_create(NULL, 0, NULL, &s), 0);
  CHECK_EQ_INT(sigrelay_signals_add(s, SIGWINCH), 0);
  CHECK_EQ_INT(sigrelay_signals_add(s, SIGKILL), EINVAL);
  CHECK(strstr(sigrelay_last_error(), "SIGKILL") != NULL);
  send_from_child(SIGWINCH, 1, 0, 0);
  struct pollfd p = {sigrelay_signals_native_handle(s), POLLIN, 0};
  int ready;
  do {
    ready = poll(&p, 1, 10000);
  } while (ready < 0 && errno == EINTR);
  CHECK_EQ_INT(ready, 1);
  sigrelay_event e[4];
  size_t got = 0;
  CHECK_EQ_INT(sigrelay_signals_pending(s, e, 4, &got), 0);
  CHECK_EQ_INT(got, 1);
  CHECK_EQ_INT(e[0].signo, SIGWINCH);
  CHECK_EQ_INT(sigrelay_signals_remove(s, SIGWINCH), 0);
  CHECK(current_action(SIGWINCH).sa_handler == SIG_DFL);
  /* Nothing pending: a timed wait times out with nothing. */
  CHECK_EQ_INT(sigrelay_signals_wait(s, 20, e, 4, &got), 0);
  CHECK_EQ_INT(got, 0);
  sigrelay_signals_destroy(s);
}

static void* close_later(void* arg) {
  sleep_ms(50);
  sigrelay_signals_close((sigrelay_signals*)arg);
  return NULL;
}

static void close_from_another_thread_wakes_wait(void) {
  const int subscribed[] = {SIGUSR2};
  sigrelay_signals* s = NULL;
  CHECK_EQ_INT(sigrelay_signals_create(subscribed, 1, NULL, &s), 0);
  pthread_t closer;
  CHECK_EQ_INT(pthread_create(&closer, NULL, close_later, s), 0);
  sigrelay_event e[2];
  size_t got = 99;
  CHECK_EQ_INT(sigrelay_signals_wait(s, -1, e, 2, &got), 0);
  CHECK_EQ_INT(got, 0);
  CHECK_EQ_INT(sigrelay_signals_is_closed(s), 1);
  pthread_join(closer, NULL);
  CHECK_EQ_INT(sigrelay_signals_add(s, SIGUSR1), EBADF);
  CHECK(strstr(sigrelay_last_error(), "SIGUSR1") != NULL);
  sigrelay_signals_destroy(s);
}

static void signalfd_backend(void) {
  const int subscribed[] = {SIGRTMIN + 1};
  sigrelay_signals_options options = SIGRELAY_SIGNALS_OPTIONS_INIT;
  options.backend = SIGRELAY_BACKEND_SIGNALFD;
  options.realtime_capacity = 64;
  sigrelay_signals* s = NULL;
#if defined(SIGRELAY_TEST_POSIX_PLATFORM) /* the posix platform layer has no signalfd backend */
  CHECK_EQ_INT(sigrelay_signals_create(subscribed, 1, &options, &s), ENOTSUP);
  CHECK(strstr(sigrelay_last_error(), "signalfd backend is Linux-only") != NULL);
  CHECK(s == NULL);
  CHECK(current_action(SIGRTMIN + 1).sa_handler == SIG_DFL);
#else
  CHECK_EQ_INT(sigrelay_signals_create(subscribed, 1, &options, &s), 0);
  const pid_t sender = send_from_child(SIGRTMIN + 1, 3, 1, 7);
  sigrelay_event e[8];
  const size_t n = collect(s, e, 8, 8, 3);
  CHECK_EQ_INT(n, 3);
  for (size_t i = 0; i < n; ++i) {
    CHECK_EQ_INT(e[i].last.value.sival_int, 7 + (int)i);
    CHECK_EQ_INT(e[i].last.pid, sender);
  }
  sigrelay_signals_destroy(s);
#endif
  options.backend = 7;
  CHECK_EQ_INT(sigrelay_signals_create(subscribed, 1, &options, &s), EINVAL);
}

/* follow_fork: the child's copy is the child's own (it hands out the child's signal, and none of the
 * parent's undrained ones); the parent keeps its own and never sees the child's. The signalfd backend
 * is refused. */
static void consumer_follows_fork(void) {
  const int subscribed[] = {SIGUSR1};
  sigrelay_signals_options options = SIGRELAY_SIGNALS_OPTIONS_INIT;
  options.follow_fork = 1;
  sigrelay_signals* s = NULL;
  CHECK_EQ_INT(sigrelay_signals_create(subscribed, 1, &options, &s), 0);
  const pid_t sender = send_from_child(SIGUSR1, 1, 0, 0); /* the parent's, not drained at the fork */
  sigrelay_event e[4];
  size_t n = 0;
  struct pollfd p = {sigrelay_signals_native_handle(s), POLLIN, 0};
  CHECK_EQ_INT(poll(&p, 1, 5000), 1); /* recorded before the fork */
  const pid_t child = fork();
  if (child == 0) {
    alarm(10);
    CHECK_EQ_INT(sigrelay_signals_pending(s, e, 4, &n), 0);
    CHECK_EQ_INT(n, 0);
    CHECK_EQ_INT(kill(getpid(), SIGUSR1), 0);
    CHECK_EQ_INT(sigrelay_signals_wait(s, 5000, e, 4, &n), 0);
    CHECK_EQ_INT(n, 1);
    if (n == 1) CHECK_EQ_INT(e[0].last.pid, getpid());
    _exit(g_failed);
  }
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  CHECK_EQ_INT(sigrelay_signals_pending(s, e, 4, &n), 0);
  CHECK_EQ_INT(n, 1);
  if (n == 1) CHECK_EQ_INT(e[0].last.pid, sender);
  sigrelay_signals_destroy(s);
#if !defined(SIGRELAY_TEST_POSIX_PLATFORM)
  options.backend = SIGRELAY_BACKEND_SIGNALFD;
  CHECK_EQ_INT(sigrelay_signals_create(subscribed, 1, &options, &s), EINVAL);
  CHECK(strstr(sigrelay_last_error(), "follow_fork") != NULL);
  CHECK(current_action(SIGUSR1).sa_handler == SIG_DFL);
#endif
}

static void ignore_and_reset(void) {
  int changed = -1, ignored = -1;
  CHECK_EQ_INT(sigrelay_ignored(SIGPIPE, &ignored), 0);
  CHECK_EQ_INT(ignored, 0);
  CHECK_EQ_INT(sigrelay_ignore(SIGPIPE, &changed), 0);
  CHECK_EQ_INT(changed, 1);
  CHECK(current_action(SIGPIPE).sa_handler == SIG_IGN);
  CHECK_EQ_INT(sigrelay_ignored(SIGPIPE, &ignored), 0);
  CHECK_EQ_INT(ignored, 1);
  CHECK_EQ_INT(sigrelay_ignore(SIGPIPE, &changed), 0);
  CHECK_EQ_INT(changed, 0);
  CHECK_EQ_INT(sigrelay_reset(SIGPIPE, &changed), 0);
  CHECK_EQ_INT(changed, 1);
  CHECK(current_action(SIGPIPE).sa_handler == SIG_DFL);
  CHECK_EQ_INT(sigrelay_ignore(SIGKILL, NULL), EINVAL);
  CHECK(strstr(sigrelay_last_error(), "SIGKILL") != NULL);
}

static void die_by_signal_is_seen_by_the_parent(void) {
  const pid_t pid = fork();
  if (pid == 0) {
    struct sigaction ign;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigaction(SIGTERM, &ign, NULL); /* even an ignored signal is died by */
    sigrelay_die_by_signal(SIGTERM);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
}

/* ---- driver -------------------------------------------------------------------------------- */

struct test_case {
  const char* name;
  void (*body)(void);
};
static const struct test_case k_cases[] = {
    {"names", names},
    {"refused_signals_change_nothing", refused_signals_change_nothing},
    {"c_action_runs_and_is_removed", c_action_runs_and_is_removed},
    {"flag_and_counter_relays", flag_and_counter_relays},
    {"fd_relay_wakes_a_poll", fd_relay_wakes_a_poll},
    {"consumer_hands_out_everything_in_small_arrays", consumer_hands_out_everything_in_small_arrays},
    {"consumer_add_remove_and_poll", consumer_add_remove_and_poll},
    {"close_from_another_thread_wakes_wait", close_from_another_thread_wakes_wait},
    {"signalfd_backend", signalfd_backend},
    {"consumer_follows_fork", consumer_follows_fork},
    {"ignore_and_reset", ignore_and_reset},
    {"die_by_signal_is_seen_by_the_parent", die_by_signal_is_seen_by_the_parent},
};

int main(int argc, char** argv) {
  const size_t n = sizeof k_cases / sizeof k_cases[0];
  if (argc < 2) {
    for (size_t i = 0; i < n; ++i) printf("%s\n", k_cases[i].name);
    return 0;
  }
  for (size_t i = 0; i < n; ++i) {
    if (strcmp(argv[1], k_cases[i].name) != 0) continue;
    const pid_t pid = fork();
    if (pid == 0) {
      reset_signal_state();
      alarm(60);
      k_cases[i].body();
      _exit(g_failed ? 1 : 0);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
      printf("%s: passed\n", argv[1]);
      return 0;
    }
    if (WIFSIGNALED(status)) {
      fprintf(stderr, "%s: child killed by %s\n", argv[1], sigrelay_signal_name(WTERMSIG(status)));
    } else {
      fprintf(stderr, "%s: failed\n", argv[1]);
    }
    return 1;
  }
  fprintf(stderr, "unknown case %s\n", argv[1]);
  return 2;
}
