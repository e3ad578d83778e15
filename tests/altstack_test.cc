// SPDX-License-Identifier: MIT
// tests/altstack_test.cc — the trampoline's read-side sections with a sigaltstack above the stack.
//
// Handlers run on the thread's alternate signal stack (SA_ONSTACK). A delivery that interrupts code
// running on the alternate stack must not release a section held on the main stack by the code it
// interrupted, whatever the two stacks' addresses: the registry would then free a snapshot still
// being read (found by the soak, tests/soak/soak.cc, as a heap-use-after-free under ASan, whose
// threads have alternate stacks).
//
// Deterministic: a thread whose stack lies below its alternate stack (one mapping, stack in the low
// part). Signal A arrives while no alternate stack is set, so its section S0 is held on the main
// stack; A's action sets the alternate stack and raises SIGUSR1, whose earlier handler (chained, so
// run outside any section, on the alternate stack) raises SIGUSR2. SIGUSR2's trampoline run must
// leave S0 held: A's action then finds exactly one reader counted (its own S0).
#include <gtest/gtest.h>

#include <pthread.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <atomic>
#include <csignal>
#include <cstdint>
#include <cstring>

#include "handler/state.hpp"
#include "sigrelay/registry.hpp"
#include "support/child.hpp"

namespace {

#if defined(__SANITIZE_THREAD__)
constexpr bool kUnderThreadSanitizer = true;
#else
constexpr bool kUnderThreadSanitizer = false;
#endif

constexpr std::size_t kStack = 1 << 20;
constexpr std::size_t kAltStack = 1 << 18;
char* g_region = nullptr;  // [stack | gap | alternate stack]
std::atomic<std::uint64_t> g_readers_seen{~std::uint64_t{0}};
std::atomic<int> g_usr2_runs{0};
std::atomic<int> g_previous_runs{0};

void raise_in_this_thread(int signo) noexcept {
  ::syscall(SYS_tgkill, ::getpid(), ::syscall(SYS_gettid), signo);
}

// Signal context: the earlier SIGUSR1 handler, chained by the trampoline outside its section, on the
// alternate stack.
void previous_usr1(int, siginfo_t*, void*) {
  g_previous_runs.fetch_add(1);
  raise_in_this_thread(SIGUSR2);  // delivered at once, nested, interrupting code on the alternate stack
}

// Signal context.
void count_usr2(void*, const siginfo_t&) noexcept { g_usr2_runs.fetch_add(1); }

// Signal context: A's action, inside section S0 on the main stack.
void on_a(void*, const siginfo_t&) noexcept {
  stack_t alt{};
  alt.ss_sp = g_region + 2 * kStack;
  alt.ss_size = kAltStack;
  if (::sigaltstack(&alt, nullptr) != 0) return;
  raise_in_this_thread(SIGUSR1);
  g_readers_seen.store(sigrelay::detail::g_handler.active[0].load() +
                       sigrelay::detail::g_handler.active[1].load());
}

void* run_thread(void*) {
  // No alternate stack while A arrives (AddressSanitizer gives each thread one): A's section is held
  // on this thread's own stack.
  stack_t none{};
  none.ss_flags = SS_DISABLE;
  if (::sigaltstack(&none, nullptr) != 0) return nullptr;
  raise_in_this_thread(SIGRTMIN + 6);
  return nullptr;
}

TEST(AltStack, ASignalOnTheAlternateStackKeepsTheMainStacksSection) {
  if (kUnderThreadSanitizer) {
    GTEST_SKIP() << "ThreadSanitizer runs handlers late, on its own terms: sections are never released there";
  }
  SIGRELAY_IN_CHILD([] {
    void* region =
        mmap(nullptr, 2 * kStack + kAltStack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(MAP_FAILED, region);
    g_region = static_cast<char*>(region);

    struct sigaction sa {};
    sa.sa_sigaction = previous_usr1;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    ASSERT_EQ(0, sigaction(SIGUSR1, &sa, nullptr));  // before sigrelay: chained
    const int a = SIGRTMIN + 6;
    sigrelay::add_action(a, sigrelay::action{on_a, nullptr});
    sigrelay::add_action(SIGUSR1, sigrelay::action{count_usr2, nullptr});  // keeps the trampoline on it
    sigrelay::add_action(SIGUSR2, sigrelay::action{count_usr2, nullptr});

    pthread_attr_t attr;
    pthread_attr_init(&attr);
    ASSERT_EQ(0, pthread_attr_setstack(&attr, g_region, kStack));  // the low part: below the alt stack
    pthread_t thread;
    ASSERT_EQ(0, pthread_create(&thread, &attr, run_thread, nullptr));
    pthread_join(thread, nullptr);
    pthread_attr_destroy(&attr);

    EXPECT_EQ(1, g_previous_runs.load());
    EXPECT_EQ(2, g_usr2_runs.load());  // SIGUSR1's action and SIGUSR2's
    EXPECT_EQ(1U, g_readers_seen.load()) << "the section of A's delivery was released while it ran";
    EXPECT_EQ(0U,
              sigrelay::detail::g_handler.active[0].load() + sigrelay::detail::g_handler.active[1].load());
  });
}

}  // namespace
