// SPDX-License-Identifier: MIT
// src/handler/sink.cc — recording deliveries for `signals`. Signal context.
//
// Everything in this file runs inside signal handlers: async-signal-safe (man 7 signal-safety),
// lock-free, no allocation, no exceptions, no logging. System calls: write (through write_wakeup),
// getpid and futex (and those of a hold, hold.cc); errno is restored by the trampoline, and by
// notify_rest() around its own (the trampoline's lane for a lone record saves none). See sink.hpp for
// the design.
#include "handler/sink.hpp"

#include "platform/config.hpp"  // SIGRELAY_LINUX

#if SIGRELAY_LINUX
#include <linux/futex.h>
#include <sys/syscall.h>
#endif
#include <unistd.h>
#include <cerrno>

#include "handler/hold.hpp"
#include "handler/relays.hpp"
#include "handler/state.hpp"

namespace sigrelay::detail {

__thread const sink* t_consumer_of __attribute__((tls_model("initial-exec"))) = nullptr;

#if SIGRELAY_LINUX
// Signal context: one futex system call.
void futex_wake(std::atomic<std::uint32_t>* word) noexcept {
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}
#else
// Signal context: nothing to do. The posix platform layer has no futex: wait() sleeps in poll() on the
// wake-up pipe and never sets WAITING, so every notify() writes the pipe (below) and callers, which
// wake only a registered WAITING sleeper, never get here with one.
void futex_wake(std::atomic<std::uint32_t>*) noexcept {}
#endif

namespace {

// Signal context. Appends to the realtime ring; false if it is full.
bool push_record(sink& s, const siginfo_t& info) noexcept {
  std::size_t pos = s.enqueue_pos.load(std::memory_order_relaxed);
  for (;;) {
    ring_cell& cell = s.cells[pos & s.mask];
    const std::size_t seq = cell.seq.load(std::memory_order_acquire);
    const auto diff = static_cast<std::ptrdiff_t>(seq - pos);
    if (diff == 0) {
      if (s.enqueue_pos.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
        cell.record = raw_origin{info.si_signo, info.si_code,   info.si_pid,
                                 info.si_uid,   info.si_status, info.si_value.sival_ptr};
        cell.seq.store(pos + 1, std::memory_order_release);
        return true;
      }
    } else if (diff < 0) {
      return false;  // full: the cell still holds an unconsumed (or unpublished) record
    } else {
      pos = s.enqueue_pos.load(std::memory_order_relaxed);
    }
  }
}

}  // namespace

// Signal context (see sink.hpp): errno is saved and restored here, around the system call.
void notify_rest(sink& s, bool waiting) noexcept {
  const int saved_errno = errno;
  if (waiting) {
    futex_wake(&s.state);
  } else if (s.owner == verified_pid()) {
    // The eventfd is shared with fork children. A child of fork() never gets here (record_fn checks
    // the pid the fork handler refreshed), but a child of _Fork() (no fork handlers) still has the
    // parent's pid cached: verified_pid() (a word the kernel zeroes in every child, else getpid())
    // tells. (Was: ask the kernel. getpid() is one cheap system call, paid only on this path, which
    // makes a system call anyway, and only once until the consumer drains.)
    write_flagged<write_wakeup>(s);
  }
  errno = saved_errno;
}

namespace {

// Signal context. Whether the ring of `s` has fewer than s.reserve free cells for realtime `signo`,
// or its consumer is recording what it read from a signalfd (`reading`: those siginfos are older and
// were read for the cells that are free). The consumer frees cells in order, so the cell `reserve`
// places ahead of the producers being still in use (its sequence number below the position it would
// take) means every cell after it is too.
bool nearly_full(const sink& s, int signo) noexcept {
  if (signo < s.rtmin || signo > s.rtmax || s.cells == nullptr) return false;
  if (s.owner != current_pid() || s.no_holds.load(std::memory_order_seq_cst)) return false;
  if (s.reading.load(std::memory_order_seq_cst) != 0) return true;
  const std::size_t probe = s.enqueue_pos.load(std::memory_order_seq_cst) + s.reserve - 1;
  const std::size_t seq = s.cells[probe & s.mask].seq.load(std::memory_order_acquire);
  return static_cast<std::ptrdiff_t>(seq - probe) < 0;
}

}  // namespace

// Signal context.
sink* ring_wants_hold(const entry* entries, std::size_t size, int signo) noexcept {
  for (std::size_t i = 0; i < size; ++i) {
    auto* s = static_cast<sink*>(entries[i].context);
    if (entries[i].fn == record_fn && nearly_full(*s, signo)) return s;
  }
  return nullptr;
}

// Signal context. Inside the delivery's reader section: `s` is still there.
void confirm_hold(sink* s, int signo, void* ucontext) noexcept {
  if (s->no_holds.load(std::memory_order_seq_cst))
    cancel_hold(signo, ucontext != nullptr ? &static_cast<ucontext_t*>(ucontext)->uc_sigmask : nullptr);
  notify(*s);
}

// Signal context: the registry action of `signals`.
void record_fn(void* context, const siginfo_t& info) noexcept {
  sink& s = *static_cast<sink*>(context);
  if (s.owner != current_pid()) return;  // a forked child's copy: never wake the parent
  const int signo = info.si_signo;
  if (signo <= 0 || signo >= NSIG) return;
  if (signo >= s.rtmin && signo <= s.rtmax) {
    // Full: hold the rest in the kernel if this delivery may (hold.hpp), else count it.
    if (!push_record(s, info)) {
      if (s.no_holds.load(std::memory_order_seq_cst) || !hold_delivery(info)) {
        s.dropped_by[signo].fetch_add(1, std::memory_order_seq_cst);
        s.dropped.fetch_add(1, std::memory_order_seq_cst);
      } else if (s.no_holds.load(std::memory_order_seq_cst)) {
        // Unsubscribing began after the first look (hold.hpp, "Unsubscribing"): no hold; the
        // re-queued siginfo comes back at the handler's return.
        void* const uc = current_ucontext();
        cancel_hold(signo, uc != nullptr ? &static_cast<ucontext_t*>(uc)->uc_sigmask : nullptr);
      }
    }
    notify(s);
  } else {
    record_standard(s, signo, info);
  }
}

}  // namespace sigrelay::detail
