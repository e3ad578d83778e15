// SPDX-License-Identifier: MIT
// examples/adapters/coro_signals.cc — signals awaited by a C++20 coroutine on a home-made scheduler.
//
//   coro_signals        sends itself SIGHUP, SIGUSR1 twice, a sigqueue() value, then SIGTERM
//   coro_signals wait   waits for yours (kill -HUP <pid>) until SIGINT or SIGTERM
#include <sigrelay/coro.hpp>

#include "demo.hpp"

#include <sys/wait.h>
#include <unistd.h>
#include <condition_variable>
#include <coroutine>
#include <csignal>
#include <cstdio>
#include <deque>
#include <exception>
#include <mutex>
#include <string_view>

namespace {

// The program's scheduler: a run queue drained by main().
class run_queue {
 public:
  void post(std::coroutine_handle<> h) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      queue_.push_back(h);
    }
    cv_.notify_one();
  }
  // Resumes queued coroutines until `done` is set.
  void run(const bool& done) {
    while (!done) {
      std::coroutine_handle<> h;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [&] { return !queue_.empty(); });
        h = queue_.front();
        queue_.pop_front();
      }
      h.resume();
    }
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::coroutine_handle<>> queue_;
};

// A fire-and-forget coroutine that starts on the run queue.
struct detached_task {
  struct promise_type {
    detached_task get_return_object() { return {}; }
    std::suspend_never initial_suspend() noexcept { return {}; }
    std::suspend_never final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { std::terminate(); }
  };
};

detached_task watch(sigrelay::co::signal_channel& ch, bool& done) {
  while (std::optional<sigrelay::signal_event> e = co_await ch.next()) {
    demo::print(*e);
    if (e->signo == SIGINT || e->signo == SIGTERM) break;
  }
  done = true;
}

}  // namespace

int main(int argc, char** argv) {
  const bool wait = argc > 1 && std::string_view(argv[1]) == "wait";
  run_queue queue;
  // Suspended coroutines continue on main()'s run queue, not on the channel's thread.
  sigrelay::co::signal_channel ch({SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2},
                                  [&](std::coroutine_handle<> h) { queue.post(h); });
  if (wait) {
    std::printf("pid %d: try kill -HUP %d; Ctrl+C ends\n", static_cast<int>(getpid()),
                static_cast<int>(getpid()));
    std::fflush(stdout);
  } else {
    demo::send_demo_signals();
  }
  bool done = false;
  watch(ch, done);  // runs here until it first waits
  queue.run(done);
  return 0;
}
