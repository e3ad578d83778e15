// SPDX-License-Identifier: MIT
// adapters/tests/support/coro_task.hpp — the coroutine type the tests of sigrelay::co::signal_channel
// await the channel in.
#pragma once

#include <coroutine>
#include <exception>

namespace sigrelay::test {

// A lazily started coroutine: it runs only when the test resumes `handle` (or hands it to a
// scheduler), and stays suspended at its end until the test destroys it. Its first resume() on the
// test's thread returns exactly when the coroutine is suspended in next() (or has finished), which
// makes "suspended" certain without a sleep.
struct task {
  struct promise_type {
    task get_return_object() { return task{std::coroutine_handle<promise_type>::from_promise(*this)}; }
    std::suspend_always initial_suspend() noexcept { return {}; }
    std::suspend_always final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { std::terminate(); }
  };
  std::coroutine_handle<promise_type> handle;
};

}  // namespace sigrelay::test
