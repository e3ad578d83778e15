// SPDX-License-Identifier: MIT
// src/own_thread.hpp — the thread a library object starts and joins, and fork children.
//
// Design notes
// - dispatcher (start()), termination (its watcher) and ownership_watch each own a thread that their
//   destructor (or stop()/join()) waits for. In a fork child that thread does not exist, and glibc's
//   fork put its descriptor, with its stack, in the stack cache, where the child's next
//   pthread_create() takes it: the same pthread_t. pthread_join() on the parent's thread then waits
//   for the child's own thread (or joins it a second time), and pthread_detach() detaches it (its own
//   join() then fails: std::terminate). Both were seen in tests/dispatcher_test.cc. So an object in
//   another process than the one that started its thread makes no pthread call on it: finish() moves
//   the std::thread into storage that is never destroyed. (verified_pid(): a child of _Fork() is
//   recognised too.)
// - Whatever the thread itself holds (a shared state, captures) is then never released in the child:
//   a fork child keeps the parent's memory anyway.
#pragma once

#include <sys/types.h>
#include <unistd.h>
#include <new>
#include <thread>
#include <utility>

#include "handler/state.hpp"  // verified_pid
#include "sigrelay/detail/settled_thread.hpp"

namespace sigrelay::detail {

class own_thread {
 public:
  own_thread() noexcept {}
  ~own_thread() {}  // finish() first: a std::thread still joinable here ends the process
  own_thread(const own_thread&) = delete;
  own_thread& operator=(const own_thread&) = delete;

  // Starts `f` on a new thread (none may be running: finish() the previous one first) and returns
  // once that thread runs (sigrelay/detail/settled_thread.hpp: none still taking its mask then).
  template <typename F>
  void start(F&& f) {
    started_by_ = ::getpid();
    thread_ = start_settled_thread(std::forward<F>(f));
  }

  bool joinable() const noexcept { return thread_.joinable(); }
  // Whether the caller is the thread itself (which cannot wait for itself: see let_go()).
  // Never in a fork child (the thread is not there, and its id may be another thread's).
  bool runs_here() const noexcept {
    return thread_.joinable() && !in_fork_child() && thread_.get_id() == std::this_thread::get_id();
  }
  // From the thread itself: detaches it, which then must touch nothing of its owner once it returns
  // to its own code (termination: a stop callback that destroys the object).
  void let_go() noexcept {
    if (runs_here()) thread_.detach();
  }
  // Whether this copy is in a fork child of the process that started the last thread (also once
  // finish() forgot it there).
  bool in_fork_child() const noexcept { return started_by_ != 0 && verified_pid() != started_by_; }

  // Waits for the thread to end, or in a fork child forgets it without a pthread call (see the notes
  // at the top). Nothing to do if none runs. Throws as std::thread::join() does.
  void finish() {
    if (!thread_.joinable()) return;
    if (in_fork_child()) {
      ::new (static_cast<void*>(&grave_.thread)) std::thread(std::move(thread_));
    } else {
      thread_.join();
    }
  }

 private:
  // Storage for a forgotten thread: constructed there by finish(), never destroyed.
  union grave {
    grave() {}
    ~grave() {}
    std::thread thread;
  };

  std::thread thread_;
  pid_t started_by_ = 0;
  grave grave_;
};

}  // namespace sigrelay::detail
