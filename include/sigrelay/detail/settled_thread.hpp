// SPDX-License-Identifier: MIT
// sigrelay/detail/settled_thread.hpp — starting the library's own threads so that none is still
// starting when its owner's constructor returns. Not API: installed only because the compiled
// coroutine adapter uses it beside the library; it may change in any release.
//
// Design notes
// - glibc's pthread_create() blocks every signal in the new thread until the thread has restored
//   its creator's mask, the first thing it does once it runs. That restore is a mask change like
//   any other: a process-directed signal already pending then goes to the new thread if it gets
//   there first. So a thread still starting could take a signal that the process sent itself right
//   after the constructor returned: without it, `kill(getpid(), …)` from a thread that does not
//   block the signal runs the handler on the sending thread before kill() returns; with it, the
//   handler may run a little later on the library's thread. That was seen: a test that constructed a
//   coroutine channel, then kill()ed itself and looked at once, found nothing about once in 2,000
//   runs under load.
// - start_settled_thread() returns only once the new thread runs its own code, after that restore:
//   from then on it keeps the mask it was given and takes only what the kernel hands it. The cost is
//   one wake-up per object that owns a thread, at construction.
// - The flag lives on the heap, shared by both sides: the new thread may still be inside notify
//   when the creator, woken, has returned. A mutex and a condition variable rather than C++20's
//   atomic wait: this header is also built as C++17, and their semantics leave nothing to a
//   standard library's wait implementation.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>

namespace sigrelay::detail {

// Starts `f` on a new std::thread and returns it once that thread runs (see the notes at the top).
// Throws what std::thread's constructor or the allocation of the flag throws (nothing was started).
template <typename F>
std::thread start_settled_thread(F&& f) {
  struct flag {
    std::mutex mutex;
    std::condition_variable changed;
    bool running = false;
  };
  auto started = std::make_shared<flag>();
  std::thread thread([started, f = std::forward<F>(f)]() mutable {
    {
      const std::shared_ptr<flag> own = std::move(started);
      {
        const std::lock_guard<std::mutex> lock(own->mutex);
        own->running = true;
      }
      own->changed.notify_one();
    }
    f();
  });
  std::unique_lock<std::mutex> lock(started->mutex);
  started->changed.wait(lock, [&] { return started->running; });
  return thread;
}

}  // namespace sigrelay::detail
