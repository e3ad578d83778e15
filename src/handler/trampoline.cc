// src/handler/trampoline.cc — the one signal handler sigrelay installs. Signal context.
//
// Everything in this file runs inside signal handlers: it is async-signal-safe (man 7
// signal-safety), never allocates, locks, throws or logs, and saves and restores errno. Nested and
// concurrent runs on many threads are safe: the only shared writes are atomic increments of the
// reader counters (see the read-copy-update notes in state.hpp) and of the running thread's own
// lift counter (masks.hpp).
#include "handler/state.hpp"

#include <ucontext.h>
#include <cerrno>
#include <csignal>

#include "handler/masks.hpp"

namespace sigrelay::detail {

handler_state g_handler{};

namespace {

// Signal context. Calls the handler that was installed before sigrelay, the way the kernel would.
void call_previous(const struct sigaction& previous, int signo, siginfo_t* info, void* uc) noexcept {
  if (previous.sa_handler == SIG_DFL || previous.sa_handler == SIG_IGN) return;  // nothing to call
  if ((previous.sa_flags & SA_SIGINFO) != 0) {
    previous.sa_sigaction(signo, info, uc);
  } else {
    previous.sa_handler(signo);
  }
}

}  // namespace

// Signal context: async-signal-safe, errno preserved.
void dispatch(int signo, siginfo_t* info, void* ucontext) noexcept {
  const int saved_errno = errno;
  const trampoline_hook hook = g_handler.hook.load(std::memory_order_relaxed);
  if (hook != nullptr) hook(true);

  siginfo_t synthetic{};  // only if the kernel gave none (it always does with SA_SIGINFO)
  if (info == nullptr) {
    synthetic.si_signo = signo;
    info = &synthetic;
  }

  const std::uint32_t parity = g_handler.epoch.load(std::memory_order_seq_cst) & 1U;
  g_handler.active[parity].fetch_add(1, std::memory_order_seq_cst);
  const snapshot* snap =
      (signo > 0 && signo < NSIG) ? g_handler.slots[signo].load(std::memory_order_seq_cst) : nullptr;
  if (snap != nullptr) {
    call_previous(snap->previous, signo, info, ucontext);
    for (std::size_t i = 0; i < snap->size; ++i) {
      snap->entries[i].fn(snap->entries[i].context, *info);
    }
  }
  g_handler.active[parity].fetch_sub(1, std::memory_order_seq_cst);

  if (hook != nullptr) hook(false);
  errno = saved_errno;
}

// Signal context: the installed sa_sigaction. First lifts this thread's blocks that sigrelay no longer
// needs (torn down on another thread; see masks.hpp): through the interrupted context's mask, which
// the kernel restores on return. A poke exists only for that and runs nothing else.
void trampoline(int signo, siginfo_t* info, void* ucontext) noexcept {
  if (t_applied != 0) {
    lift_released_blocks(ucontext != nullptr ? &static_cast<ucontext_t*>(ucontext)->uc_sigmask : nullptr);
  }
  if (is_poke(info)) return;
  dispatch(signo, info, ucontext);
}

// Signal context: sigaction() is async-signal-safe.
void reset_to_default(int signo) noexcept {
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigaction(signo, &dfl, nullptr);
}

}  // namespace sigrelay::detail
