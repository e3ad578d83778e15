// SPDX-License-Identifier: MIT
// sigrelay/termination.hpp — graceful termination on SIGINT/SIGTERM with std::stop_token (C++20).
//
// A `termination` object turns the termination signals into a std::stop_token. The first signal
// requests a stop; the second one ends the process at once, by that signal (the double Ctrl+C); and
// exit() ends a program that finished its graceful stop with the status its parent expects: killed
// by the signal that stopped it, so that a shell stops its script and systemd records the right
// reason, instead of a misleading "exited 0".
//
// (Named so that nothing collides with POSIX under `using namespace sigrelay;`: an earlier name,
// `shutdown`, made every unqualified call of shutdown(fd, how) from <sys/socket.h> ambiguous.)
//
// Example, a long task:
//
//   int main() {
//     sigrelay::termination term;                  // SIGINT and SIGTERM
//     while (!term.stop_requested()) serve_one_request();
//     flush_and_close();
//     term.exit(0);                                // dies by SIGINT/SIGTERM if one stopped us
//   }
//
// Example, a daemon (examples/daemon.cc): reload on SIGHUP, graceful stop on SIGINT/SIGTERM, a
// second stopping signal kills at once, and the process ends killed by the signal that stopped it.
// signals::wait(std::stop_token) (<sigrelay/signals.hpp>) returns empty once the stop is requested:
//
//   sigrelay::termination stop;                    // first SIGINT/SIGTERM requests the stop
//   sigrelay::signals hup{SIGHUP};
//   while (!stop.stop_requested()) {
//     for (const sigrelay::signal_event& e : hup.wait(stop.token())) reload_config();
//   }
//   clean_up();                                    // a second SIGINT/SIGTERM here kills at once
//   stop.exit();                                   // killed by the signal that stopped us
//
// Only one at a time
//   At most one `termination` object may be alive in a process: two would both arm the second-signal
//   kill, so that the first signal of one would be the "second" of the other. Constructing a second
//   one while another lives throws std::system_error with std::errc::device_or_resource_busy (the
//   message says so); once the first is destroyed, a new one may be made. Share the one object (or
//   its token()) instead.
//
// Masks
//   The signals are taken on sigrelay's watcher thread, which unblocks them in itself when it starts:
//   so the stop comes, and the second signal kills, even in a program that blocked them in main
//   before making the object (a mask every thread it creates inherits). The program's own threads
//   keep their masks; a thread that does not block a signal may still be the one the kernel picks
//   to run its handler. The constructor returns once the watcher runs (with the mask of the thread
//   that made the object, before its own unblock): no thread of sigrelay's is then still starting
//   with every signal blocked, whose mask restore could take a signal the process sends itself next.
//
// A signal during construction
//   One that comes before the constructor has taken the signal over reaches whatever handled it
//   before (nothing to expect). One that comes later requests the stop and arms the kill, as any
//   first signal does: the next one kills. That holds for a signal that comes while an earlier
//   handler of it (installed before the object was made, and chained by sigrelay) runs during the
//   constructor, too.
//
// Thread safety
//   token(), stop_requested(), signal() and request_stop() may be used from any thread. Stop
//   callbacks registered on the token run on sigrelay's watcher thread (or on the thread calling
//   request_stop()), never in signal context. A stop callback may destroy the object (its
//   destructor then does not wait for the watcher thread that runs the callback, which ends on its
//   own) or call exit(). A callback that throws ends the program (std::terminate), as the standard
//   says of every stop callback.
//
// Errors
//   The constructor throws std::system_error: as signals' does (a refused signal is named), or
//   std::errc::device_or_resource_busy for a second live object (see above). Nothing is changed on
//   failure.
//
// Fork
//   A fork child's copy counts as alive in the child (create no other one there) but requests no
//   stop: its watcher thread did not survive the fork, so the child's token is never requested by a
//   signal. The signal-context part stays: in the child, the first of the signals arms the kill and
//   the second one kills the child by that signal. Destroying the copy in the child neither joins nor
//   detaches the parent's watcher thread (glibc gives its pthread_t to the child's next thread,
//   which it leaves alone).
#pragma once

// C++20 only: in C++17 (or without <stop_token>) including this header is an error, not silence.
#if !(__cplusplus >= 202002L && __has_include(<stop_token>))
#error "sigrelay/termination.hpp needs C++20 (std::stop_token): compile with -std=c++20 or later"
#endif

#if __cplusplus >= 202002L && __has_include(<stop_token>)
#define SIGRELAY_HAS_TERMINATION 1

#include <csignal>
#include <cstdlib>
#include <initializer_list>
#include <memory>
#include <stop_token>

#include "sigrelay/export.hpp"

namespace sigrelay {

class SIGRELAY_EXPORT termination {
 public:
  // Watches `signos` (SIGINT and SIGTERM unless given). Throws std::system_error if another
  // termination object is alive (std::errc::device_or_resource_busy) or a signal is refused.
  explicit termination(std::initializer_list<int> signos = {SIGINT, SIGTERM});
  ~termination();  // stops watching; the signals' dispositions are restored; another may be made
  termination(const termination&) = delete;
  termination& operator=(const termination&) = delete;

  // Requested on the first of the signals (or by request_stop()). Pass it to
  // signals::wait(std::stop_token) to end a wait at once when the stop is requested.
  std::stop_token token() const noexcept;
  bool stop_requested() const noexcept;

  // The signal that requested the stop; 0 if none did.
  int signal() const noexcept;

  // Requests the stop from the program itself. A signal after that ends the process at once.
  void request_stop() noexcept;

  // Flushes stdio, then: if one of the signals came, dies by the first of them (see
  // relay::die_by_signal); otherwise std::exit(status). "Came" means handled: exit() does not wait
  // for sigrelay's watcher thread to request the stop, so a signal handled just before the call
  // counts although stop_requested() may not yet say so (the next signal would kill anyway); in a
  // fork child, where no stop is requested, the child's own first signal counts.
  [[noreturn]] void exit(int status = EXIT_SUCCESS);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace sigrelay

#endif
