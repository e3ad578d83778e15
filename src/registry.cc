// SPDX-License-Identifier: MIT
// src/registry.cc — the registry: the only code in sigrelay that installs signal handlers.
//
// Design notes
// - One trampoline (src/handler/trampoline.cc) for every signal. It reads the signal's immutable
//   snapshot through an atomic pointer; this file is the only writer. Writers serialise on one
//   mutex, publish a new snapshot, run synchronize() (a grace period, see src/handler/state.hpp)
//   and only then free the old snapshot. So remove_action() returning means the action is gone for
//   good, and its context may be freed.
// - Installing: the previous disposition is saved whole (struct sigaction, SIG_IGN included) and put
//   into every snapshot of the signal, so the trampoline chains it without a second shared variable.
// - Restoring: when the last action goes, the saved disposition is put back, but only if the
//   trampoline is still the installed handler. If other code installed its handler over ours (and
//   maybe chains to us), the trampoline stays, in pass-through mode: an empty action list that only
//   chains the saved handler. A later add_action() reuses that state without calling sigaction(),
//   unless that code has since set SIG_DFL or SIG_IGN: then nothing can reach the trampoline any
//   more, and the signal is installed afresh. There is an unavoidable window between reading the
//   current handler and restoring; sigaction() offers no compare-and-swap.
// - The saved disposition's flags count: SIGCHLD keeps SA_NOCLDWAIT (automatic reaping) while
//   subscribed if it was SIG_IGN or had SA_NOCLDWAIT, and keeps SA_NOCLDSTOP; a chained SA_RESETHAND handler
//   that has run is restored as SIG_DFL. The trampoline honours sa_mask, SA_NODEFER and SA_NOCLDSTOP when
//   chaining.
// - The trampoline is installed with every signal but the faults in its sa_mask (see
//   trampoline_action()): nothing but a fault nests inside a run of the trampoline, and a chained
//   handler runs with the pokes (SIGURG, SIGWINCH) blocked too.
// - SA_RESTART is set while every action of the signal asks for it; changing it re-installs the
//   trampoline with new flags, again only if it is still the installed handler.
// - fork(): a pthread_atfork() handler holds the mutex across fork (the child's copy is consistent)
//   and blocks every signal in the forking thread until each side's handler has run, so no delivery
//   meets the child half-updated. The child handler resets the reader counters (handlers running on
//   other threads do not exist in the child; the forking thread
//   may be inside one, see held_reader_counts()), refreshes the cached pid that fd relays use to ignore
//   deliveries in a forked child (and the pid in the page the kernel zeroes in every child, see
//   verified_pid() in src/handler/state.hpp), and gives the child back the mask the forking thread had, minus
//   what sigrelay's signalfd backend blocked in that thread (src/handler/masks.hpp).
// - A signal whose every action is an inherited `signals` object (owned by the parent, so silent in
//   the child) gets back, in the child only, the disposition it had before sigrelay: a pre-fork
//   worker that keeps the parent's objects still dies by SIGTERM (or whatever that disposition says).
//   The record stays, marked not installed, so that a new subscriber in the child installs again.
//   after_fork_in_child() does the same for a child of _Fork(), which runs no fork handlers.
// - Except for objects made with signals_options::follow_fork: before that, the child handler (and
//   after_fork_in_child()) makes their sinks the child's own (sink::adopt, "Following fork" in
//   src/signals.cc), so their signals keep sigrelay's handler and they receive in the child.
// - ignore()/reset(): the record keeps `ignoring` and `before_ignore` (the disposition ignore()
//   replaced, whole). While installed, ignoring just makes `previous` SIG_IGN (so nothing is chained,
//   the last removal restores SIG_IGN, a forked child's inherited-only restore gives SIG_IGN, and
//   SIGCHLD's trampoline flags follow it); reset() puts `before_ignore` back into `previous`. While not
//   installed, they call sigaction() directly, and reset() restores only over our own SIG_IGN.
//   ignored() reads `previous` (through saved_disposition()) while installed, so the answer does not
//   change when the trampoline goes in. Actions are never removed by reset(): they have owners.
// - Errors leave everything as it was: validation happens before any change, every snapshot a
//   change needs is allocated before the change begins (so std::bad_alloc never strands a published
//   action without an id), and a failed sigaction() unpublishes what it published.
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>
#include <algorithm>
#include <cerrno>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "detail.hpp"
#include "handler/capi_action.hpp"
#include "handler/masks.hpp"
#include "handler/sink.hpp"
#include "handler/state.hpp"
#include "platform/sys.hpp"
#include "registry_view.hpp"
#include "sigrelay/registry.hpp"

namespace sigrelay {

struct action_id_access {
  static action_id make(int signo, std::uint64_t serial) noexcept { return {signo, serial}; }
  static std::uint64_t serial(action_id id) noexcept { return id.serial_; }
};

namespace detail {
namespace {

struct signal_record {
  bool installed = false;  // the trampoline was installed by us and not restored since
  bool restart = true;     // SA_RESTART as last installed
  struct sigaction previous {};
  std::vector<entry> entries;
  bool ignoring = false;              // ignore() is in force
  struct sigaction before_ignore {};  // what reset() gives back (only while `ignoring`)
};

struct registry {
  std::mutex mutex;
  std::uint64_t next_serial = 1;
  signal_record signals[NSIG];
};

// One page the kernel gives every child zeroed (MADV_WIPEONFORK), holding this process's pid: see
// verified_pid() in handler/state.hpp. Left null where the kernel refuses (before Linux 4.14), and
// in the posix build (MADV_WIPEONFORK is Linux's; FreeBSD's minherit(INHERIT_ZERO) would do, untried).
void set_up_wiped_pid() noexcept {
#if SIGRELAY_LINUX
  void* page = ::mmap(nullptr, static_cast<std::size_t>(::sysconf(_SC_PAGESIZE)), PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (page == MAP_FAILED) return;
  if (::madvise(page, static_cast<std::size_t>(::sysconf(_SC_PAGESIZE)), MADV_WIPEONFORK) != 0) {
    ::munmap(page, static_cast<std::size_t>(::sysconf(_SC_PAGESIZE)));
    return;
  }
  auto* word = new (page) std::atomic<pid_t>(::getpid());
  g_wiped_pid.store(word, std::memory_order_release);
#endif
}

// A fresh child: its wiped page reads 0 (the kernel zeroed it); give it this process's pid.
void refresh_wiped_pid(pid_t self) noexcept {
  if (std::atomic<pid_t>* word = g_wiped_pid.load(std::memory_order_acquire))
    word->store(self, std::memory_order_relaxed);
}

void prepare_fork() noexcept;
void parent_after_fork() noexcept;
void child_after_fork() noexcept;

registry& the_registry() {
  static no_destructor<registry> instance;
  static const bool at_fork_registered = [] {
    g_handler.pid.store(::getpid(), std::memory_order_relaxed);
    set_up_wiped_pid();
    ::pthread_atfork(prepare_fork, parent_after_fork, child_after_fork);
    return true;
  }();
  (void)at_fork_registered;
  return instance.get();
}

bool trampoline_is_installed(int signo) noexcept;
struct sigaction saved_disposition(int signo, const signal_record& record) noexcept;

sigset_t g_mask_before_fork;  // the forking thread's mask; guarded by the registry mutex across fork

// Fork child, registry mutex held: every signal whose actions are all `signals` sinks of another
// process gets its saved disposition back (see the notes at the top). sigaction() only: safe here.
void restore_inherited_only_signals(registry& reg, pid_t self) noexcept {
  for (int signo = 1; signo < NSIG; ++signo) {
    signal_record& record = reg.signals[signo];
    if (!record.installed || record.entries.empty()) continue;
    const bool inherited_only =
        std::all_of(record.entries.begin(), record.entries.end(), [self](const entry& e) {
          return e.fn == record_fn && static_cast<const sink*>(e.context)->owner != self;
        });
    if (!inherited_only || !trampoline_is_installed(signo)) continue;
    const struct sigaction saved = saved_disposition(signo, record);
    if (sys::sigaction(signo, &saved, nullptr) == 0) {
      record.installed = false;
      record.restart = true;
    }
  }
}

// Fork child, registry mutex held, before restore_inherited_only_signals(): every sink that is to
// go on in the child (signals_options::follow_fork) becomes the child's own, so its signals keep
// sigrelay's handler. Each sink once (one may serve many signals). Async-signal-safe, as `adopt` is.
void adopt_following_sinks(registry& reg, pid_t self) noexcept {
  for (int signo = 1; signo < NSIG; ++signo) {
    for (const entry& e : reg.signals[signo].entries) {
      if (e.fn != record_fn) continue;
      auto* const s = static_cast<sink*>(e.context);
      if (s->adopt != nullptr && s->owner != self) s->adopt(s->adopt_context, self);
    }
  }
}

// Fork child: a fork made inside an action leaves this thread inside the trampoline, whose return
// restores the delivery's context mask, with the blocks forget_blocks_in_child() just took out of the
// child's (masks.hpp): taken out of that context too. Async-signal-safe.
void strip_forgotten_blocks_of_delivery() noexcept {
  if (void* const uc = current_ucontext()) strip_forgotten_blocks(static_cast<ucontext_t*>(uc)->uc_sigmask);
}

void prepare_fork() noexcept {
  the_registry().mutex.lock();
  sigset_t all;
  sigfillset(&all);
  sys::pthread_sigmask(SIG_SETMASK, &all, &g_mask_before_fork);
}
void parent_after_fork() noexcept {
  const sigset_t mask = g_mask_before_fork;
  the_registry().mutex.unlock();
  sys::pthread_sigmask(SIG_SETMASK, &mask, nullptr);
}
// Fresh children this process's registry became (fork_generation()): one per become_child().
std::atomic<unsigned> g_fork_generation{0};

// A fresh child (of fork() or _Fork()) becomes process `self`: handlers running on other threads do
// not exist here, so the reader counters are what this thread holds (it may be inside a handler).
void become_child(pid_t self) noexcept {
  g_fork_generation.fetch_add(1, std::memory_order_relaxed);
  std::uint64_t held[2];
  held_reader_counts(held);
  g_handler.active[0].store(held[0], std::memory_order_seq_cst);
  g_handler.active[1].store(held[1], std::memory_order_seq_cst);
  g_handler.pid.store(self, std::memory_order_relaxed);
  refresh_wiped_pid(self);
}

// What a registry change blocks in its thread (detail::blocked_here), taken before the registry's
// mutex and given back after it: every signal but the faults. (The trampoline's sa_mask is the same
// set: trampoline_action().) A thread that holds the mutex must not
// be starved: under a flood that nothing held back (the only thread with the signal unblocked, its
// handler slower than the sender), every return to user space delivered the next signal, so the
// writer ran no instruction of its own, and every other thread's add or removal waited for its
// mutex for as long as the flood lasted (an ASan run of two threads making and destroying objects
// under a realtime flood: stuck until the 120-second watchdog in 3 of 14 runs). Blocked here, the
// signals go to other threads or wait in the kernel's queue for the few system calls and the grace
// period that a change takes. The faults (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS) stay
// unblocked: one raised here must still reach a crash handler. Nothing in a registry change blocks
// or unblocks a signal of this thread (the action-added hook, which may, runs after the mutex; see
// add_action_impl()), so the unblock gives back exactly what this blocked.
sigset_t quiet_section() noexcept {
  sigset_t all;
  sigfillset(&all);
  for (const int fault : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS}) sigdelset(&all, fault);
  return all;
}

// Whether `mask` blocks every signal but the faults: the trampoline's own mask (trampoline_action()),
// as the kernel keeps it (SIGKILL and SIGSTOP are never blocked).
bool blocks_all_but_faults(const sigset_t& mask) noexcept {
  const sigset_t all = quiet_section();
  for (int s = 1; s < NSIG; ++s) {
    if (s == SIGKILL || s == SIGSTOP) continue;
    if (sigismember(&all, s) == 1 && sigismember(&mask, s) != 1) return false;
  }
  return true;
}

void child_after_fork() noexcept {
  const pid_t self = ::getpid();
  become_child(self);
  adopt_following_sinks(the_registry(), self);
  restore_inherited_only_signals(the_registry(), self);
  sigset_t mask = g_mask_before_fork;
  forget_blocks_in_child(mask);
  strip_forgotten_blocks_of_delivery();
  // Forked inside a delivery's actions, whose run of the trampoline blocks every signal but the
  // faults: the child, which may exec() from there, gets the mask of the context the delivery
  // interrupted (its blocks that this child forgot taken out, above), plus the pokes, as the kernel
  // would have given a handler installed without that sa_mask (the delivered signal itself is not
  // blocked). Otherwise a program exec()ed by an action started with SIGINT, SIGTERM and every other
  // signal blocked (tests/fork_mask_test.cc). When the child returns from the handler instead, the
  // kernel restores that same context mask anyway.
  if (const void* const uc = current_ucontext(); uc != nullptr && blocks_all_but_faults(mask)) {
    mask = static_cast<const ucontext_t*>(uc)->uc_sigmask;
    sigaddset(&mask, SIGURG);
    sigaddset(&mask, SIGWINCH);
  }
  the_registry().mutex.unlock();
  sys::pthread_sigmask(SIG_SETMASK, &mask, nullptr);
}

// Grace period: returns once every trampoline run that might have loaded a snapshot replaced before
// this call has finished. Ordinary context; never call it from an action.
void synchronize() noexcept {
  for (int flip = 0; flip < 2; ++flip) {
    const std::uint32_t old_parity = g_handler.epoch.fetch_add(1, std::memory_order_seq_cst) & 1U;
    for (unsigned spins = 0; g_handler.active[old_parity].load(std::memory_order_seq_cst) != 0; ++spins) {
      if (spins < 64) {
        ::sched_yield();
      } else {
        const struct timespec pause { 0, 50000 };
        ::nanosleep(&pause, nullptr);
      }
    }
  }
}

// A snapshot owned by the writer until it is published; built (and so allocated) before any change.
struct snapshot_deleter {
  void operator()(const snapshot* s) const noexcept {
    delete[] s->entries;
    delete s;
  }
};
using snapshot_ptr = std::unique_ptr<snapshot, snapshot_deleter>;
using published_ptr = std::unique_ptr<const snapshot, snapshot_deleter>;

snapshot_ptr make_snapshot(const struct sigaction& previous, const std::vector<entry>& entries) {
  std::unique_ptr<entry[]> copy(entries.empty() ? nullptr : new entry[entries.size()]);
  std::copy(entries.begin(), entries.end(), copy.get());
  const bool chained_by_action =
      std::any_of(entries.begin(), entries.end(), [](const entry& e) { return e.chains_itself; });
  std::uint64_t newest = 0;
  for (const entry& e : entries) newest = std::max(newest, e.serial);
  const bool lone = entries.size() == 1 && entries[0].fn == record_fn && !chained_by_action &&
                    (previous.sa_handler == SIG_DFL || previous.sa_handler == SIG_IGN);
  snapshot_ptr fresh(new snapshot{previous, entries.size(), copy.get(), chained_by_action, newest,
                                  lone ? entries[0].context : nullptr});
  copy.release();
  return fresh;
}

// Publishes `fresh` for `signo` (nullptr: none), waits out the grace period and frees the snapshot it
// replaced. Never fails: everything that can was done by make_snapshot(). Mutex held.
// Keeps g_handler.wants_context[signo] in step (state.hpp, wants_ucontext()): set before a snapshot
// that wants a ucontext is published, cleared only after one that does not is.
void publish(int signo, snapshot_ptr fresh) noexcept {
  const bool wants = fresh != nullptr && snapshot_wants_ucontext(*fresh);
  if (wants) g_handler.wants_context[signo].store(true, std::memory_order_seq_cst);
  const published_ptr old(g_handler.slots[signo].exchange(fresh.release(), std::memory_order_seq_cst));
  g_handler.published[signo].fetch_add(1, std::memory_order_seq_cst);  // (runs_only_remembered())
  if (!wants) g_handler.wants_context[signo].store(false, std::memory_order_seq_cst);
  if (old) synchronize();
}

bool wants_restart(const std::vector<entry>& entries) noexcept {
  return std::all_of(entries.begin(), entries.end(), [](const entry& e) { return e.restart; });
}

// The trampoline's sigaction for `signo`. SIGCHLD keeps an earlier SA_NOCLDSTOP (no notice of
// stopped or continued children, for anyone), and the automatic reaping that an inherited SIG_IGN or
// SA_NOCLDWAIT asked for: Linux still calls a handler installed with SA_NOCLDWAIT (with
// the child's status) and reaps the child itself, so every subscriber hears of every child and no
// zombie is left, exactly as before sigrelay.
struct sigaction trampoline_action(int signo, bool restart, const struct sigaction& previous) noexcept {
  struct sigaction sa {};
  sa.sa_sigaction = trampoline;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | (restart ? SA_RESTART : 0);
  if (signo == SIGCHLD && (previous.sa_handler == SIG_IGN || (previous.sa_flags & SA_NOCLDWAIT) != 0)) {
    sa.sa_flags |= SA_NOCLDWAIT;
  }
  if (signo == SIGCHLD && (previous.sa_flags & SA_NOCLDSTOP) != 0) {
    // Not only for the chained handler's sake: a notice of a stopped or continued child would take the
    // place of (coalesce with) the notice of its exit that the handler relies on.
    sa.sa_flags |= SA_NOCLDSTOP;
  }
  // Every signal but the faults waits until the trampoline has returned. The pokes (SIGURG, SIGWINCH:
  // src/signals.cc) must: a poke's lift edits the uc_sigmask of the context it interrupted, and one
  // nested in another run of the trampoline would edit only that run's copy, which the outer run's
  // return then overwrites with the mask it saved, the held or released signal still blocked
  // (src/handler/hold.hpp, "Nesting"). And the rest: a delivery nested in a run, whose action left
  // by siglongjmp, abandoned that run wherever it was, and with it what no later run could finish:
  // a standard signal's origin slot claimed for good (its consumer spun for ever), a realtime cell
  // never published (its ring handed out nothing more), a reader count taken and not yet listed (every
  // registry change waited for ever). A timer's jumping action did the first and the last within
  // two seconds, and lost 19 of 4,000 realtime deliveries (tests/longjmp_storm_test.cc); the cell
  // was found by reading. Blocked, nothing is ever half done when a jump leaves a run: an
  // action jumps from its own run only, whose section is listed whole. It costs nothing per delivery
  // (the kernel applies sa_mask as it sets up the frame anyway); a chained earlier handler now runs
  // with its own mask set by two system calls (call_previous(), trampoline.cc), and pending signals
  // of several numbers run one after the other, the lowest first, as a signalfd reads them. The
  // faults stay deliverable: one in an action must reach its handler (the crash reporter, a probe).
  sa.sa_mask = quiet_section();  // the same set as a registry change blocks
  return sa;
}

bool is_trampoline(const struct sigaction& sa) noexcept {
  return (sa.sa_flags & SA_SIGINFO) != 0 && sa.sa_sigaction == trampoline;
}

bool trampoline_is_installed(int signo) noexcept {
  struct sigaction current {};
  if (sys::sigaction(signo, nullptr, &current) != 0) return false;
  return is_trampoline(current);
}

// A stale copy of our own trampoline (some code restored what it once saved from us) would recurse if
// chained and be wrong if restored; what it stood for is the default disposition.
struct sigaction chainable(const struct sigaction& sa) noexcept {
  if (!is_trampoline(sa)) return sa;
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  return dfl;
}

// What the signal's disposition was before sigrelay, as far as it still stands: a chained
// SA_RESETHAND handler that has had its one call has become SIG_DFL, as the kernel would have made it.
struct sigaction saved_disposition(int signo, const signal_record& record) noexcept {
  if ((record.previous.sa_flags & SA_RESETHAND) == 0 ||
      !g_handler.previous_spent[signo].load(std::memory_order_seq_cst)) {
    return record.previous;
  }
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  return dfl;
}

// Installs the trampoline for a signal that has none of ours yet. Mutex held. On error, nothing
// changed; it throws only std::bad_alloc, before any change.
std::error_code install(int signo, signal_record& record, const std::vector<entry>& entries) {
  struct sigaction raw {};
  if (sys::sigaction(signo, nullptr, &raw) != 0) return errno_code();
  const struct sigaction before = chainable(raw);
  // Both snapshots this may need are allocated before anything changes.
  snapshot_ptr first = make_snapshot(before, entries);
  snapshot_ptr second = make_snapshot(before, entries);
  g_handler.previous_spent[signo].store(false, std::memory_order_seq_cst);
  // Publish first, so that a delivery right after installation already finds its actions.
  publish(signo, std::move(first));
  const bool restart = wants_restart(entries);
  const struct sigaction ours = trampoline_action(signo, restart, before);
  struct sigaction replaced {};
  if (sys::sigaction(signo, &ours, &replaced) != 0) {
    const std::error_code ec = errno_code();
    publish(signo, nullptr);
    return ec;
  }
  record.installed = true;
  record.restart = restart;
  record.previous = before;
  // Another thread changed the disposition between our two calls: chain what we really replaced
  // (through chainable(): it may be a stale copy of the trampoline itself).
  const bool changed = replaced.sa_handler != raw.sa_handler || replaced.sa_flags != raw.sa_flags;
  if (changed) {
    record.previous = chainable(replaced);
    second->previous = record.previous;  // not published yet: still ours to change
    publish(signo, std::move(second));
  }
  return {};
}

// Re-installs the trampoline with new SA_RESTART flags, if it is still the installed handler.
void update_restart(int signo, signal_record& record) noexcept {
  const bool restart = wants_restart(record.entries);
  if (restart == record.restart || !trampoline_is_installed(signo)) return;
  const struct sigaction ours = trampoline_action(signo, restart, record.previous);
  if (sys::sigaction(signo, &ours, nullptr) == 0) record.restart = restart;
}

// Pass-through: the last action went while other code's handler stood over the trampoline, so the
// trampoline stayed, reachable only through that handler. If that code has since set SIG_DFL or
// SIG_IGN (or its handler is gone some other way), nothing reaches the trampoline any more: the
// signal starts afresh, as if sigrelay had never installed it. A foreign function handler is left
// alone: it may chain to the trampoline, and installing over it would make each call the other.
void forget_abandoned_pass_through(int signo, signal_record& record) noexcept {
  if (!record.installed || !record.entries.empty()) return;
  struct sigaction current {};
  if (sys::sigaction(signo, nullptr, &current) != 0 || is_trampoline(current)) return;
  if (current.sa_handler != SIG_DFL && current.sa_handler != SIG_IGN) return;
  record.installed = false;
  record.restart = true;
  publish(signo, nullptr);
}

}  // namespace

pid_t process_pid() {
  the_registry();
  return g_handler.pid.load(std::memory_order_relaxed);
}

std::atomic<void (*)(int signo) noexcept> g_action_added{nullptr};

std::size_t action_count(int signo) noexcept {
  if (signo <= 0 || signo >= NSIG) return 0;
  registry& reg = the_registry();
  std::lock_guard<std::mutex> lock(reg.mutex);
  return reg.signals[signo].entries.size();
}

registry_view view_of(int signo) {
  registry_view view;
  registry& reg = the_registry();
  std::lock_guard<std::mutex> lock(reg.mutex);
  const signal_record& record = reg.signals[signo];
  view.installed = record.installed;
  view.ignoring = record.ignoring;
  view.previous = saved_disposition(signo, record);
  if (sys::sigaction(signo, nullptr, &view.current) != 0) sigemptyset(&view.current.sa_mask);
  view.actions.reserve(record.entries.size());
  for (const entry& e : record.entries) {
    const auto* box = e.fn == call_c_action ? static_cast<const c_action*>(e.context) : nullptr;
    const void* code =
        box != nullptr ? reinterpret_cast<const void*>(box->fn) : reinterpret_cast<const void*>(e.fn);
    const void* context = box != nullptr ? box->context : e.context;
    view.actions.push_back(listed_action{e, action_id_access::make(signo, e.serial), code, context});
  }
  return view;
}

}  // namespace detail

namespace detail {
// Adds the `n` actions `as` (with `options` and `chains_itself` each) to `signo` in one published
// snapshot, in that order, and writes their ids to `ids`: a delivery runs all of them or none.
void add_actions_impl(int signo, const action* as, std::size_t n, action_options options, bool chains_itself,
                      action_id* ids, std::error_code& ec) noexcept {
  for (std::size_t i = 0; i < n; ++i) ids[i] = {};
  bool refused = refuse_reason(signo, options.allow_fault_signals) != nullptr || n == 0;
  for (std::size_t i = 0; i < n; ++i) refused = refused || as[i].fn == nullptr;
  if (refused) {
    ec = invalid_argument();
    return;
  }
  std::uint64_t first = 0;
  try {
    registry& reg = the_registry();
    const blocked_here quiet(quiet_section());  // before the mutex, given back after it
    std::lock_guard<std::mutex> lock(reg.mutex);
    signal_record& record = reg.signals[signo];
    std::vector<entry> entries = record.entries;
    first = reg.next_serial;
    for (std::size_t i = 0; i < n; ++i) {
      entries.push_back(entry{as[i].fn, as[i].context, first + i, options.restart, chains_itself});
    }
    forget_abandoned_pass_through(signo, record);
    if (!record.installed) {
      ec = install(signo, record, entries);
      if (ec) return;
    } else {
      publish(signo, make_snapshot(record.previous, entries));
    }
    record.entries.swap(entries);
    update_restart(signo, record);
    reg.next_serial += n;
    ec.clear();
  } catch (const std::bad_alloc&) {
    ec = std::make_error_code(std::errc::not_enough_memory);
    return;
  }
  // Outside the mutex: the hook may change this thread's signal mask (see detail.hpp).
  if (const auto added = g_action_added.load(std::memory_order_acquire)) added(signo);
  for (std::size_t i = 0; i < n; ++i) ids[i] = action_id_access::make(signo, first + i);
}

action_id add_action_impl(int signo, action a, action_options options, bool chains_itself,
                          std::error_code& ec) noexcept {
  action_id id{};
  add_actions_impl(signo, &a, 1, options, chains_itself, &id, ec);
  return id;
}

void add_actions_together(int signo, const action* as, std::size_t n, action_id* ids,
                          std::error_code& ec) noexcept {
  add_actions_impl(signo, as, n, {}, false, ids, ec);
}

action_id add_action_chaining_itself(int signo, action a, action_options options,
                                     std::error_code& ec) noexcept {
  return add_action_impl(signo, a, options, true, ec);
}
}  // namespace detail

action_id add_action(int signo, action a, action_options options, std::error_code& ec) noexcept {
  return detail::add_action_impl(signo, a, options, false, ec);
}

action_id add_action(int signo, action a, action_options options) {
  std::error_code ec;
  const action_id id = add_action(signo, a, options, ec);
  if (ec) {
    const char* reason = detail::refuse_reason(signo, options.allow_fault_signals);
    if (reason == nullptr && a.fn == nullptr) reason = "needs an action function (fn is null)";
    detail::throw_error(ec, "sigrelay: cannot add an action for " + detail::describe_signal(signo) +
                                (reason != nullptr ? std::string(": it ") + reason : std::string()));
  }
  return id;
}

unsigned fork_generation() noexcept { return detail::g_fork_generation.load(std::memory_order_relaxed); }

void after_fork_in_child() noexcept {
  using namespace detail;
  const pid_t self = ::getpid();
  // Not a fresh child (the parent, or a fork() child whose handler ran, or a second call): the
  // reader counters and the block records are live here, and must not be reset.
  if (g_handler.pid.load(std::memory_order_relaxed) == self) return;
  // Every signal blocked until the dispositions are right, as across fork(): a delivery between
  // become_child() and an adoption would find the follower's sink still the parent's.
  sigset_t all;
  sigfillset(&all);
  sigset_t mask;
  sys::pthread_sigmask(SIG_SETMASK, &all, &mask);
  become_child(self);
  registry& reg = the_registry();
  if (reg.mutex.try_lock()) {  // held by a thread of the parent at _Fork(): left as it is
    adopt_following_sinks(reg, self);
    restore_inherited_only_signals(reg, self);
    reg.mutex.unlock();
  }
  forget_blocks_in_child(mask);
  strip_forgotten_blocks_of_delivery();
  sys::pthread_sigmask(SIG_SETMASK, &mask, nullptr);
}

bool remove_action(action_id id) noexcept {
  using namespace detail;
  const int signo = id.signal();
  if (!id || signo <= 0 || signo >= NSIG) return false;
  registry& reg = the_registry();
  const blocked_here quiet(quiet_section());  // before the mutex, given back after it
  std::lock_guard<std::mutex> lock(reg.mutex);
  signal_record& record = reg.signals[signo];
  const std::uint64_t serial = action_id_access::serial(id);
  const auto it = std::find_if(record.entries.begin(), record.entries.end(),
                               [serial](const entry& e) { return e.serial == serial; });
  if (it == record.entries.end()) return false;
  // Everything is allocated before any change. Removal cannot fail (the caller may free the
  // action's context once it returns): if memory runs out, it waits a millisecond and tries again.
  std::vector<entry> remaining;
  snapshot_ptr fresh;
  for (;;) {
    try {
      remaining.reserve(record.entries.size() - 1);
      for (const entry& e : record.entries) {
        if (e.serial != serial) remaining.push_back(e);
      }
      fresh = make_snapshot(record.previous, remaining);
      break;
    } catch (const std::bad_alloc&) {
      remaining.clear();
      const struct timespec pause { 0, 1000000 };
      ::nanosleep(&pause, nullptr);
    }
  }
  publish(signo, std::move(fresh));  // pass-through while we decide below
  record.entries.swap(remaining);
  if (record.entries.empty()) {
    const struct sigaction saved = saved_disposition(signo, record);
    if (record.installed && trampoline_is_installed(signo) && sys::sigaction(signo, &saved, nullptr) == 0) {
      record.installed = false;
      record.restart = true;
      // The pass-through snapshot stays published: a delivery the kernel handed to the trampoline
      // just before the sigaction() above may read it only now, and must still reach the restored
      // handler (with nothing published it was lost; found by
      // TerminationContract.DestroyedOnAnotherThreadWhileItsSignalIsHandled). The next install()
      // replaces it.
    }
  } else {
    update_restart(signo, record);
  }
  return true;
}

namespace {

// Validates for ignore()/reset()/ignored(); fault signals are allowed (see registry.hpp).
bool valid_for_ignore(int signo) noexcept { return detail::refuse_reason(signo, true) == nullptr; }

[[noreturn]] void throw_ignore_error(std::error_code ec, const char* what, int signo) {
  const char* reason = detail::refuse_reason(signo, true);
  detail::throw_error(ec, std::string("sigrelay: cannot ") + what + " " + detail::describe_signal(signo) +
                              (reason != nullptr ? std::string(": it ") + reason : std::string()));
}

struct sigaction ignore_disposition() noexcept {
  struct sigaction ign {};
  ign.sa_handler = SIG_IGN;
  sigemptyset(&ign.sa_mask);
  return ign;
}

// Makes `previous` the disposition underneath the trampoline: published for chaining, and with the
// trampoline's SIGCHLD flags following it (SA_NOCLDWAIT for SIG_IGN). Mutex held; record installed.
// On error nothing changed; throws only std::bad_alloc, before any change.
std::error_code replace_previous(int signo, detail::signal_record& record, const struct sigaction& previous) {
  using namespace detail;
  snapshot_ptr fresh = make_snapshot(previous, record.entries);
  if (signo == SIGCHLD && trampoline_is_installed(signo)) {
    const struct sigaction ours = trampoline_action(signo, record.restart, previous);
    if (sys::sigaction(signo, &ours, nullptr) != 0) return errno_code();
  }
  record.previous = previous;
  publish(signo, std::move(fresh));
  return {};
}

}  // namespace

bool ignore(int signo, std::error_code& ec) noexcept {
  using namespace detail;
  if (!valid_for_ignore(signo)) {
    ec = invalid_argument();
    return false;
  }
  try {
    registry& reg = the_registry();
    const blocked_here quiet(quiet_section());  // before the mutex, given back after it
    std::lock_guard<std::mutex> lock(reg.mutex);
    signal_record& record = reg.signals[signo];
    ec.clear();
    if (record.ignoring) return false;
    forget_abandoned_pass_through(signo, record);
    const struct sigaction ign = ignore_disposition();
    if (record.installed) {
      const struct sigaction before = saved_disposition(signo, record);
      ec = replace_previous(signo, record, ign);
      if (ec) return false;
      record.before_ignore = before;
    } else {
      struct sigaction raw {};
      if (sys::sigaction(signo, &ign, &raw) != 0) {
        ec = errno_code();
        return false;
      }
      record.before_ignore = chainable(raw);
    }
    record.ignoring = true;
    return true;
  } catch (const std::bad_alloc&) {
    ec = std::make_error_code(std::errc::not_enough_memory);
    return false;
  }
}

bool ignore(int signo) {
  std::error_code ec;
  const bool done = ignore(signo, ec);
  if (ec) throw_ignore_error(ec, "ignore", signo);
  return done;
}

bool reset(int signo, std::error_code& ec) noexcept {
  using namespace detail;
  if (!valid_for_ignore(signo)) {
    ec = invalid_argument();
    return false;
  }
  try {
    registry& reg = the_registry();
    const blocked_here quiet(quiet_section());  // before the mutex, given back after it
    std::lock_guard<std::mutex> lock(reg.mutex);
    signal_record& record = reg.signals[signo];
    ec.clear();
    if (!record.ignoring) return false;
    forget_abandoned_pass_through(signo, record);
    if (record.installed) {
      ec = replace_previous(signo, record, record.before_ignore);
      if (ec) return false;
    } else {
      // Put back only our own SIG_IGN: a disposition other code set since is theirs (as with the
      // trampoline, see remove_action).
      struct sigaction current {};
      if (sys::sigaction(signo, nullptr, &current) != 0) {
        ec = errno_code();
        return false;
      }
      if (current.sa_handler == SIG_IGN && (current.sa_flags & SA_SIGINFO) == 0 &&
          sys::sigaction(signo, &record.before_ignore, nullptr) != 0) {
        ec = errno_code();
        return false;
      }
    }
    record.ignoring = false;
    g_handler.previous_spent[signo].store(false, std::memory_order_seq_cst);
    return true;
  } catch (const std::bad_alloc&) {
    ec = std::make_error_code(std::errc::not_enough_memory);
    return false;
  }
}

bool reset(int signo) {
  std::error_code ec;
  const bool done = reset(signo, ec);
  if (ec) throw_ignore_error(ec, "reset", signo);
  return done;
}

bool ignored(int signo, std::error_code& ec) noexcept {
  using namespace detail;
  if (!valid_for_ignore(signo)) {
    ec = invalid_argument();
    return false;
  }
  registry& reg = the_registry();
  std::lock_guard<std::mutex> lock(reg.mutex);
  const signal_record& record = reg.signals[signo];
  ec.clear();
  if (record.ignoring) return true;
  if (record.installed) return saved_disposition(signo, record).sa_handler == SIG_IGN;
  struct sigaction current {};
  if (sys::sigaction(signo, nullptr, &current) != 0) {
    ec = errno_code();
    return false;
  }
  return chainable(current).sa_handler == SIG_IGN;
}

bool ignored(int signo) {
  std::error_code ec;
  const bool result = ignored(signo, ec);
  if (ec) throw_ignore_error(ec, "ask whether it ignores", signo);
  return result;
}

}  // namespace sigrelay
