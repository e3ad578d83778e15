// SPDX-License-Identifier: MIT
// tests/safety/interpose.cc — interposers for the functions a signal handler must never call.
//
// See interpose.hpp. This file deliberately includes neither <stdio.h> nor <stdlib.h>: it defines
// functions those headers declare (with _FORTIFY_SOURCE and optimisation some are inline wrappers
// there), so it declares exactly what it defines, with the C library's exception specifications
// (malloc & co. and pthread_mutex_lock are noexcept in glibc's C++ declarations, stdio is not).
// It is compiled with -fno-builtin so that the compiler never turns a forwarder into a call to the
// function being defined.
#undef _FORTIFY_SOURCE

#include "interpose.hpp"

#include <dlfcn.h>
#include <pthread.h>
#include <unistd.h>
#include <atomic>
#include <cstdarg>
#include <cstddef>
#include <cstdint>

struct _IO_FILE;  // glibc's FILE

extern "C" {
// The C library's allocator under its own names: what malloc & co. forward to.
void* __libc_malloc(std::size_t size) noexcept;
void __libc_free(void* ptr) noexcept;
void* __libc_calloc(std::size_t count, std::size_t size) noexcept;
void* __libc_realloc(void* ptr, std::size_t size) noexcept;
void* __libc_memalign(std::size_t alignment, std::size_t size) noexcept;
void* __libc_valloc(std::size_t size) noexcept;
void* __libc_pvalloc(std::size_t size) noexcept;

extern _IO_FILE* stdout;
}

namespace sigrelay::safety {
namespace {

// Per-thread state. initial-exec: reading it is a plain %fs-relative load, no __tls_get_addr and
// no lazy allocation, so it is safe in a signal handler.
__attribute__((tls_model("initial-exec"))) thread_local int t_depth = 0;
__attribute__((tls_model("initial-exec"))) thread_local std::uint64_t t_entries = 0;

constexpr std::size_t kCapacity = 64;
std::atomic<std::size_t> g_violations{0};
std::atomic<const char*> g_names[kCapacity];
std::atomic<std::uint64_t> g_entries{0};
static_assert(std::atomic<std::size_t>::is_always_lock_free);
static_assert(std::atomic<const char*>::is_always_lock_free);
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);

std::atomic<int> g_violation_fd{-1};  // set_violation_fd()

// Signal context (that is the point): records `name` if this thread is inside the trampoline, and
// writes it (a line) to the violation fd if one is set.
inline void check(const char* name) noexcept {
  if (t_depth <= 0) return;
  const std::size_t i = g_violations.fetch_add(1, std::memory_order_relaxed);
  if (i < kCapacity) g_names[i].store(name, std::memory_order_relaxed);
  const int fd = g_violation_fd.load(std::memory_order_relaxed);
  if (fd >= 0) {
    std::size_t length = 0;
    while (name[length] != '\0') ++length;
    if (::write(fd, name, length) > 0) (void)::write(fd, "\n", 1);
  }
}

// The forwarding targets that have no __libc_ alias, found with dlsym(RTLD_NEXT) at startup,
// before any handler runs. A lazy lookup covers calls made by shared libraries' initialisers that
// run before ours; dlsym itself uses the C library's internal locks, never these functions.
struct real_functions {
  std::atomic<void*> pthread_mutex_lock{nullptr};
  std::atomic<void*> vfprintf{nullptr};
  std::atomic<void*> fputs{nullptr};
  std::atomic<void*> puts{nullptr};
  std::atomic<void*> fwrite{nullptr};
  std::atomic<void*> fputc{nullptr};
  std::atomic<void*> putc{nullptr};
  std::atomic<void*> putchar{nullptr};
  std::atomic<void*> fflush{nullptr};
  std::atomic<void*> vdprintf{nullptr};
  std::atomic<void*> perror{nullptr};
  std::atomic<void*> vfprintf_chk{nullptr};
  std::atomic<void*> vdprintf_chk{nullptr};
};
real_functions g_real;

template <typename F>
F real(std::atomic<void*>& slot, const char* name) noexcept {
  void* p = slot.load(std::memory_order_acquire);
  if (p == nullptr) {
    p = ::dlsym(RTLD_NEXT, name);
    slot.store(p, std::memory_order_release);
  }
  return reinterpret_cast<F>(p);
}

using vfprintf_fn = int (*)(_IO_FILE*, const char*, va_list);
using vfprintf_chk_fn = int (*)(_IO_FILE*, int, const char*, va_list);
using vdprintf_fn = int (*)(int, const char*, va_list);
using vdprintf_chk_fn = int (*)(int, int, const char*, va_list);

vfprintf_fn real_vfprintf() noexcept { return real<vfprintf_fn>(g_real.vfprintf, "vfprintf"); }
vfprintf_chk_fn real_vfprintf_chk() noexcept {
  return real<vfprintf_chk_fn>(g_real.vfprintf_chk, "__vfprintf_chk");
}

bool g_resolved = false;

__attribute__((constructor(101))) void resolve_all() noexcept {
  bool ok = true;
  ok &= real<void*>(g_real.pthread_mutex_lock, "pthread_mutex_lock") != nullptr;
  ok &= real<void*>(g_real.vfprintf, "vfprintf") != nullptr;
  ok &= real<void*>(g_real.fputs, "fputs") != nullptr;
  ok &= real<void*>(g_real.puts, "puts") != nullptr;
  ok &= real<void*>(g_real.fwrite, "fwrite") != nullptr;
  ok &= real<void*>(g_real.fputc, "fputc") != nullptr;
  ok &= real<void*>(g_real.putc, "putc") != nullptr;
  ok &= real<void*>(g_real.putchar, "putchar") != nullptr;
  ok &= real<void*>(g_real.fflush, "fflush") != nullptr;
  ok &= real<void*>(g_real.vdprintf, "vdprintf") != nullptr;
  ok &= real<void*>(g_real.perror, "perror") != nullptr;
  ok &= real<void*>(g_real.vfprintf_chk, "__vfprintf_chk") != nullptr;
  ok &= real<void*>(g_real.vdprintf_chk, "__vdprintf_chk") != nullptr;
  g_resolved = ok;
}

char g_summary[kCapacity * 24];

}  // namespace

void hook(bool entering) noexcept {
  if (entering) {
    ++t_depth;
    ++t_entries;
    g_entries.fetch_add(1, std::memory_order_relaxed);
  } else {
    --t_depth;
  }
}

std::size_t violations() noexcept { return g_violations.load(std::memory_order_relaxed); }

const char* violation_name(std::size_t i) noexcept {
  if (i >= kCapacity || i >= violations()) return "";
  const char* name = g_names[i].load(std::memory_order_relaxed);
  return name != nullptr ? name : "?";
}

std::size_t capacity() noexcept { return kCapacity; }

const char* violation_summary() noexcept {
  std::size_t at = 0;
  const std::size_t n = violations() < kCapacity ? violations() : kCapacity;
  for (std::size_t i = 0; i < n; ++i) {
    const char* name = violation_name(i);
    bool seen = false;
    for (std::size_t j = 0; j < i && !seen; ++j) seen = violation_name(j) == name;  // same literal
    if (seen) continue;
    for (const char* c = (at == 0 ? "" : ", "); *c != '\0' && at + 1 < sizeof g_summary; ++c) {
      g_summary[at++] = *c;
    }
    for (const char* c = name; *c != '\0' && at + 1 < sizeof g_summary; ++c) g_summary[at++] = *c;
  }
  g_summary[at] = '\0';
  return g_summary;
}

std::uint64_t hook_entries() noexcept { return g_entries.load(std::memory_order_relaxed); }
std::uint64_t hook_entries_on_this_thread() noexcept { return t_entries; }

void set_violation_fd(int fd) noexcept { g_violation_fd.store(fd, std::memory_order_relaxed); }

int depth() noexcept { return t_depth; }
void set_depth(int depth) noexcept { t_depth = depth; }

void reset() noexcept {
  for (auto& name : g_names) name.store(nullptr, std::memory_order_relaxed);
  g_violations.store(0, std::memory_order_relaxed);
  g_entries.store(0, std::memory_order_relaxed);
}

bool forwarding_resolved() noexcept { return g_resolved; }

}  // namespace sigrelay::safety

// The interposers. Each checks, then forwards; none allocates or locks on its own account.
using sigrelay::safety::check;
using sigrelay::safety::g_real;
using sigrelay::safety::real;

extern "C" {

void* malloc(std::size_t size) noexcept {
  check("malloc");
  return __libc_malloc(size);
}

void free(void* ptr) noexcept {
  check("free");
  __libc_free(ptr);
}

void* calloc(std::size_t count, std::size_t size) noexcept {
  check("calloc");
  return __libc_calloc(count, size);
}

void* realloc(void* ptr, std::size_t size) noexcept {
  check("realloc");
  return __libc_realloc(ptr, size);
}

void* memalign(std::size_t alignment, std::size_t size) noexcept {
  check("memalign");
  return __libc_memalign(alignment, size);
}

void* aligned_alloc(std::size_t alignment, std::size_t size) noexcept {
  check("aligned_alloc");
  return __libc_memalign(alignment, size);
}

int posix_memalign(void** out, std::size_t alignment, std::size_t size) noexcept {
  check("posix_memalign");
  if (alignment == 0 || alignment % sizeof(void*) != 0 || (alignment & (alignment - 1)) != 0) {
    return 22;  // EINVAL
  }
  void* p = __libc_memalign(alignment, size);
  if (p == nullptr) return 12;  // ENOMEM
  *out = p;
  return 0;
}

void* valloc(std::size_t size) noexcept {
  check("valloc");
  return __libc_valloc(size);
}

void* pvalloc(std::size_t size) noexcept {
  check("pvalloc");
  return __libc_pvalloc(size);
}

int pthread_mutex_lock(pthread_mutex_t* mutex) noexcept {
  check("pthread_mutex_lock");
  return real<int (*)(pthread_mutex_t*)>(g_real.pthread_mutex_lock, "pthread_mutex_lock")(mutex);
}

int vfprintf(_IO_FILE* stream, const char* format, va_list args) {
  check("vfprintf");
  return sigrelay::safety::real_vfprintf()(stream, format, args);
}

int vprintf(const char* format, va_list args) {
  check("vprintf");
  return sigrelay::safety::real_vfprintf()(stdout, format, args);
}

int fprintf(_IO_FILE* stream, const char* format, ...) {
  check("fprintf");
  va_list args;
  va_start(args, format);
  const int n = sigrelay::safety::real_vfprintf()(stream, format, args);
  va_end(args);
  return n;
}

int printf(const char* format, ...) {
  check("printf");
  va_list args;
  va_start(args, format);
  const int n = sigrelay::safety::real_vfprintf()(stdout, format, args);
  va_end(args);
  return n;
}

int dprintf(int fd, const char* format, ...) {
  check("dprintf");
  va_list args;
  va_start(args, format);
  const int n = real<sigrelay::safety::vdprintf_fn>(g_real.vdprintf, "vdprintf")(fd, format, args);
  va_end(args);
  return n;
}

int vdprintf(int fd, const char* format, va_list args) {
  check("vdprintf");
  return real<sigrelay::safety::vdprintf_fn>(g_real.vdprintf, "vdprintf")(fd, format, args);
}

// The _FORTIFY_SOURCE variants that calls to printf & co. become with -D_FORTIFY_SOURCE.
int __printf_chk(int flag, const char* format, ...) {
  check("__printf_chk");
  va_list args;
  va_start(args, format);
  const int n = sigrelay::safety::real_vfprintf_chk()(stdout, flag, format, args);
  va_end(args);
  return n;
}

int __fprintf_chk(_IO_FILE* stream, int flag, const char* format, ...) {
  check("__fprintf_chk");
  va_list args;
  va_start(args, format);
  const int n = sigrelay::safety::real_vfprintf_chk()(stream, flag, format, args);
  va_end(args);
  return n;
}

int __vfprintf_chk(_IO_FILE* stream, int flag, const char* format, va_list args) {
  check("__vfprintf_chk");
  return sigrelay::safety::real_vfprintf_chk()(stream, flag, format, args);
}

int __vprintf_chk(int flag, const char* format, va_list args) {
  check("__vprintf_chk");
  return sigrelay::safety::real_vfprintf_chk()(stdout, flag, format, args);
}

int __dprintf_chk(int fd, int flag, const char* format, ...) {
  check("__dprintf_chk");
  va_list args;
  va_start(args, format);
  const int n =
      real<sigrelay::safety::vdprintf_chk_fn>(g_real.vdprintf_chk, "__vdprintf_chk")(fd, flag, format, args);
  va_end(args);
  return n;
}

int puts(const char* text) {
  check("puts");
  return real<int (*)(const char*)>(g_real.puts, "puts")(text);
}

int fputs(const char* text, _IO_FILE* stream) {
  check("fputs");
  return real<int (*)(const char*, _IO_FILE*)>(g_real.fputs, "fputs")(text, stream);
}

std::size_t fwrite(const void* data, std::size_t size, std::size_t count, _IO_FILE* stream) {
  check("fwrite");
  return real<std::size_t (*)(const void*, std::size_t, std::size_t, _IO_FILE*)>(g_real.fwrite, "fwrite")(
      data, size, count, stream);
}

int fputc(int c, _IO_FILE* stream) {
  check("fputc");
  return real<int (*)(int, _IO_FILE*)>(g_real.fputc, "fputc")(c, stream);
}

int putc(int c, _IO_FILE* stream) {
  check("putc");
  return real<int (*)(int, _IO_FILE*)>(g_real.putc, "putc")(c, stream);
}

int putchar(int c) {
  check("putchar");
  return real<int (*)(int)>(g_real.putchar, "putchar")(c);
}

int fflush(_IO_FILE* stream) {
  check("fflush");
  return real<int (*)(_IO_FILE*)>(g_real.fflush, "fflush")(stream);
}

void perror(const char* text) {
  check("perror");
  real<void (*)(const char*)>(g_real.perror, "perror")(text);
}

}  // extern "C"
