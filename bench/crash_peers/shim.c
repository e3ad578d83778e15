/* SPDX-License-Identifier: MIT */
/* bench/crash_peers/shim.c — an LD_PRELOAD library that records the calls a crash reporter makes.
 *
 * The crash driver (scenarios.cc) calls crash_peers_shim_mark() right before its faulting
 * instruction. From then on, every call this library wraps is written to the file named by the
 * environment variable CRASH_PEERS_CALLS, one function name a line, with a single write(2) each (the
 * process dies without running exit handlers, so nothing may be buffered). Before the mark, the
 * wrappers only forward. The wrapped functions are the ones that are not async-signal-safe and that
 * crash reporters are known to reach: the allocator, mutexes, stdio, the dynamic loader's lookups,
 * glibc's backtrace()/backtrace_symbols(). Calls made inside libc through its internal aliases are
 * not seen (stdio's own locks, for instance); calls to malloc are, because glibc lets malloc be
 * replaced and calls it through the PLT.
 *
 * The wrappers and the mark may run in signal context; they use write(2) and atomics only.
 * The real functions are looked up with dlsym(RTLD_NEXT) at load time (and on first use, should
 * another library's constructor call a wrapper before ours ran); the allocator forwards to glibc's
 * __libc_* entry points, so that dlsym's own allocations do not recurse. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern void* __libc_malloc(size_t);
extern void* __libc_calloc(size_t, size_t);
extern void* __libc_realloc(void*, size_t);
extern void __libc_free(void*);
extern void* __libc_memalign(size_t, size_t);

static atomic_int crashing;
static int calls_fd = -1;

/* Signal context: may run in any thread, inside a signal handler. */
void crash_peers_shim_mark(void) { atomic_store(&crashing, 1); }

/* Signal context: one write(2) per call, errno preserved. */
static void note(const char* name) {
  if (!atomic_load_explicit(&crashing, memory_order_relaxed) || calls_fd < 0) return;
  char line[64];
  size_t n = strlen(name);
  if (n > sizeof line - 1) n = sizeof line - 1;
  memcpy(line, name, n);
  line[n] = '\n';
  int saved = errno;
  (void)!write(calls_fd, line, n + 1);
  errno = saved;
}

#define REAL(ret, name, params) static ret(*real_##name) params
#define RESOLVE(name)                                                    \
  do {                                                                   \
    if (!real_##name) *(void**)(&real_##name) = dlsym(RTLD_NEXT, #name); \
  } while (0)

REAL(int, pthread_mutex_lock, (pthread_mutex_t*));
REAL(int, pthread_rwlock_rdlock, (pthread_rwlock_t*));
REAL(int, pthread_rwlock_wrlock, (pthread_rwlock_t*));
REAL(FILE*, fopen, (const char*, const char*));
REAL(int, fclose, (FILE*));
REAL(int, fflush, (FILE*));
REAL(size_t, fwrite, (const void*, size_t, size_t, FILE*));
REAL(int, fputs, (const char*, FILE*));
REAL(int, fputc, (int, FILE*));
REAL(int, putc, (int, FILE*));
REAL(int, puts, (const char*));
REAL(int, vfprintf, (FILE*, const char*, va_list));
REAL(int, __vfprintf_chk, (FILE*, int, const char*, va_list));
REAL(void, psiginfo, (const siginfo_t*, const char*));
REAL(void, psignal, (int, const char*));
REAL(void, perror, (const char*));
REAL(int, dladdr, (const void*, Dl_info*));
REAL(int, dladdr1, (const void*, Dl_info*, void**, int));
REAL(void*, dlopen, (const char*, int));
REAL(int, dl_iterate_phdr, (int (*)(struct dl_phdr_info*, size_t, void*), void*));
REAL(int, backtrace, (void**, int));
REAL(char**, backtrace_symbols, (void* const*, int));

static void resolve_all(void) {
  RESOLVE(pthread_mutex_lock);
  RESOLVE(pthread_rwlock_rdlock);
  RESOLVE(pthread_rwlock_wrlock);
  RESOLVE(fopen);
  RESOLVE(fclose);
  RESOLVE(fflush);
  RESOLVE(fwrite);
  RESOLVE(fputs);
  RESOLVE(fputc);
  RESOLVE(putc);
  RESOLVE(puts);
  RESOLVE(vfprintf);
  RESOLVE(__vfprintf_chk);
  RESOLVE(psiginfo);
  RESOLVE(psignal);
  RESOLVE(perror);
  RESOLVE(dladdr);
  RESOLVE(dladdr1);
  RESOLVE(dlopen);
  RESOLVE(dl_iterate_phdr);
  RESOLVE(backtrace);
  RESOLVE(backtrace_symbols);
}

__attribute__((constructor)) static void shim_init(void) {
  resolve_all();
  const char* path = getenv("CRASH_PEERS_CALLS");
  if (path != NULL && *path != '\0')
    calls_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
}

/* --- allocator ------------------------------------------------------------------------------- */
void* malloc(size_t n) {
  note("malloc");
  return __libc_malloc(n);
}
void* calloc(size_t n, size_t m) {
  note("calloc");
  return __libc_calloc(n, m);
}
void* realloc(void* p, size_t n) {
  note("realloc");
  return __libc_realloc(p, n);
}
void free(void* p) {
  note("free");
  __libc_free(p);
}
void* memalign(size_t a, size_t n) {
  note("memalign");
  return __libc_memalign(a, n);
}
void* aligned_alloc(size_t a, size_t n) {
  note("aligned_alloc");
  return __libc_memalign(a, n);
}
int posix_memalign(void** out, size_t a, size_t n) {
  note("posix_memalign");
  void* p = __libc_memalign(a, n);
  if (p == NULL) return ENOMEM;
  *out = p;
  return 0;
}

/* --- locks ----------------------------------------------------------------------------------- */
int pthread_mutex_lock(pthread_mutex_t* m) {
  note("pthread_mutex_lock");
  RESOLVE(pthread_mutex_lock);
  return real_pthread_mutex_lock(m);
}
int pthread_rwlock_rdlock(pthread_rwlock_t* l) {
  note("pthread_rwlock_rdlock");
  RESOLVE(pthread_rwlock_rdlock);
  return real_pthread_rwlock_rdlock(l);
}
int pthread_rwlock_wrlock(pthread_rwlock_t* l) {
  note("pthread_rwlock_wrlock");
  RESOLVE(pthread_rwlock_wrlock);
  return real_pthread_rwlock_wrlock(l);
}

/* --- stdio ----------------------------------------------------------------------------------- */
FILE* fopen(const char* path, const char* mode) {
  note("fopen");
  RESOLVE(fopen);
  return real_fopen(path, mode);
}
int fclose(FILE* f) {
  note("fclose");
  RESOLVE(fclose);
  return real_fclose(f);
}
int fflush(FILE* f) {
  note("fflush");
  RESOLVE(fflush);
  return real_fflush(f);
}
size_t fwrite(const void* p, size_t size, size_t n, FILE* f) {
  note("fwrite");
  RESOLVE(fwrite);
  return real_fwrite(p, size, n, f);
}
int fputs(const char* s, FILE* f) {
  note("fputs");
  RESOLVE(fputs);
  return real_fputs(s, f);
}
int fputc(int c, FILE* f) {
  note("fputc");
  RESOLVE(fputc);
  return real_fputc(c, f);
}
int putc(int c, FILE* f) {
  note("putc");
  RESOLVE(putc);
  return real_putc(c, f);
}
int puts(const char* s) {
  note("puts");
  RESOLVE(puts);
  return real_puts(s);
}
int vfprintf(FILE* f, const char* fmt, va_list ap) {
  note("vfprintf");
  RESOLVE(vfprintf);
  return real_vfprintf(f, fmt, ap);
}
int fprintf(FILE* f, const char* fmt, ...) {
  note("fprintf");
  RESOLVE(vfprintf);
  va_list ap;
  va_start(ap, fmt);
  int r = real_vfprintf(f, fmt, ap);
  va_end(ap);
  return r;
}
int printf(const char* fmt, ...) {
  note("printf");
  RESOLVE(vfprintf);
  va_list ap;
  va_start(ap, fmt);
  int r = real_vfprintf(stdout, fmt, ap);
  va_end(ap);
  return r;
}
int __fprintf_chk(FILE* f, int flag, const char* fmt, ...) {
  note("fprintf");
  RESOLVE(__vfprintf_chk);
  va_list ap;
  va_start(ap, fmt);
  int r = real___vfprintf_chk(f, flag, fmt, ap);
  va_end(ap);
  return r;
}
int __printf_chk(int flag, const char* fmt, ...) {
  note("printf");
  RESOLVE(__vfprintf_chk);
  va_list ap;
  va_start(ap, fmt);
  int r = real___vfprintf_chk(stdout, flag, fmt, ap);
  va_end(ap);
  return r;
}
int __vfprintf_chk(FILE* f, int flag, const char* fmt, va_list ap) {
  note("vfprintf");
  RESOLVE(__vfprintf_chk);
  return real___vfprintf_chk(f, flag, fmt, ap);
}
void psiginfo(const siginfo_t* info, const char* s) {
  note("psiginfo");
  RESOLVE(psiginfo);
  real_psiginfo(info, s);
}
void psignal(int signo, const char* s) {
  note("psignal");
  RESOLVE(psignal);
  real_psignal(signo, s);
}
void perror(const char* s) {
  note("perror");
  RESOLVE(perror);
  real_perror(s);
}

/* --- the dynamic loader and glibc's backtrace ------------------------------------------------ */
int dladdr(const void* addr, Dl_info* info) {
  note("dladdr");
  RESOLVE(dladdr);
  return real_dladdr(addr, info);
}
int dladdr1(const void* addr, Dl_info* info, void** extra, int flags) {
  note("dladdr1");
  RESOLVE(dladdr1);
  return real_dladdr1(addr, info, extra, flags);
}
void* dlopen(const char* file, int mode) {
  note("dlopen");
  RESOLVE(dlopen);
  return real_dlopen(file, mode);
}
int dl_iterate_phdr(int (*cb)(struct dl_phdr_info*, size_t, void*), void* data) {
  note("dl_iterate_phdr");
  RESOLVE(dl_iterate_phdr);
  return real_dl_iterate_phdr(cb, data);
}
int backtrace(void** buffer, int size) {
  note("backtrace");
  RESOLVE(backtrace);
  return real_backtrace(buffer, size);
}
char** backtrace_symbols(void* const* buffer, int size) {
  note("backtrace_symbols");
  RESOLVE(backtrace_symbols);
  return real_backtrace_symbols(buffer, size);
}
