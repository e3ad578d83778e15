// sigrelay/shutdown.hpp — graceful shutdown on SIGINT/SIGTERM with std::stop_token (C++20).
//
// The first termination signal requests a stop; the second one ends the process at once, by that
// signal (the double Ctrl+C); and exit() ends a program that finished its graceful stop with the
// status its parent expects: killed by the signal that stopped it, so that a shell stops its script
// and systemd records the right reason, instead of a misleading "exited 0".
//
// Example:
//
//   int main() {
//     sigrelay::shutdown shutdown;                 // SIGINT and SIGTERM
//     std::stop_token stop = shutdown.token();
//     while (!stop.stop_requested()) serve_one_request();
//     flush_and_close();
//     shutdown.exit(0);                            // dies by SIGINT/SIGTERM if one stopped us
//   }
//
// Thread safety
//   token(), stop_requested(), signal() and request_stop() may be used from any thread. Stop
//   callbacks registered on the token run on sigrelay's watcher thread (or on the thread calling
//   request_stop()).
//
// Errors
//   The constructor throws std::system_error as signals' does; nothing is changed on failure.
//
// Only one shutdown object should exist at a time: two would both arm the second-signal kill.
#pragma once

// C++20 only: in C++17 (or without <stop_token>) including this header is an error, not silence.
#if !(__cplusplus >= 202002L && __has_include(<stop_token>))
#error "sigrelay/shutdown.hpp needs C++20 (std::stop_token): compile with -std=c++20 or later"
#endif

#if __cplusplus >= 202002L && __has_include(<stop_token>)
#define SIGRELAY_HAS_SHUTDOWN 1

#include <csignal>
#include <cstdlib>
#include <initializer_list>
#include <memory>
#include <stop_token>

#include "sigrelay/export.hpp"

namespace sigrelay {

class SIGRELAY_EXPORT shutdown {
 public:
  explicit shutdown(std::initializer_list<int> signos = {SIGINT, SIGTERM});
  ~shutdown();  // stops watching; the signals' dispositions are restored
  shutdown(const shutdown&) = delete;
  shutdown& operator=(const shutdown&) = delete;

  // Requested on the first of the signals (or by request_stop()).
  std::stop_token token() const noexcept;
  bool stop_requested() const noexcept;

  // The signal that requested the stop; 0 if none did.
  int signal() const noexcept;

  // Requests the stop from the program itself. A signal after that ends the process at once.
  void request_stop() noexcept;

  // Flushes stdio, then: if a signal requested the stop, dies by that signal (see
  // relay::die_by_signal); otherwise std::exit(status).
  [[noreturn]] void exit(int status = EXIT_SUCCESS);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace sigrelay

#endif
