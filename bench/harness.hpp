// SPDX-License-Identifier: MIT
// bench/harness.hpp — what every responder mechanism of the ping-pong/flood harness implements.
//
// A mechanism is one way for a process to learn about signals: a floor (the kernel's own interfaces,
// hand-written relays), a peer library, or sigrelay. The harness drives each one through the same
// two calls, so that the only thing that differs between two responders is the mechanism itself.
#pragma once

#include <sys/types.h>
#include <csignal>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace bench {

// Receives what a mechanism hands to ordinary code. Mechanisms call on() from ordinary code (never
// from a signal handler), once per event, and look at `done` after each batch or callback.
struct event_sink {
  virtual ~event_sink() = default;
  // `count` deliveries of `signo`; `value` is the sigqueue() payload where the mechanism keeps one.
  virtual void on(int signo, std::uint64_t count, bool has_value, int value) = 0;
  bool done = false;
};

struct setup_args {
  std::vector<int> signos;  // signals to subscribe to
  pid_t driver = 0;         // the ping-pong driver, for the floor that replies from its handler
  int reply_signo = SIGUSR2;
  bool reply_in_handler = false;  // ping-pong only: the raw-handler floor replies from the handler
  // Floods under ThreadSanitizer only: also count handler runs with a second registry action (sigrelay
  // relay backend). Never elsewhere: a second action on the signal turns the library's holds off.
  bool count_deliveries = false;
};

class mechanism {
 public:
  virtual ~mechanism() = default;
  // Subscribes to args.signos; when it returns, those signals are caught (never fatal).
  virtual void setup(const setup_args& args) = 0;
  // Hands events to `sink` until sink.done.
  virtual void run(event_sink& sink) = 0;
  // sigrelay's dropped() (realtime deliveries that found the ring full), or -1 if not applicable.
  virtual long long dropped() const { return -1; }
  // Handler runs counted by a separate registry action (relay::add_count), or -1.
  virtual long long deliveries() const { return -1; }
};

enum class group { floor, peer, sigrelay };

struct mechanism_info {
  std::string name;
  group kind;
  std::string description;
  // Whether the mechanism can lose nothing by construction (kernel queue, counters): the smoke run
  // asserts exact counts for these; the others (fixed relay buffers, coalescing flags) are reported.
  bool exact;
  std::function<std::unique_ptr<mechanism>()> make;
  // If set, the responder runs in this executable (next to the driver's) instead of the driver's
  // own: libev exports libevent's API names, so the two cannot share a process.
  std::string helper = {};
  // Set where ThreadSanitizer's deferral of signal handlers makes the mechanism hang (a handler that
  // must run to end a blocking call TSan does not treat as blocking): skipped under TSan.
  const char* tsan_unsafe = nullptr;
};

// Each translation unit adds its responders.
void add_floors(std::vector<mechanism_info>& out);
void add_peers(std::vector<mechanism_info>& out);
void add_sigrelay(std::vector<mechanism_info>& out);
void add_adapters(std::vector<mechanism_info>& out);

// Helpers shared by the responders.
[[noreturn]] void die(const char* what);  // perror + _exit(2)
void block_signals(const std::vector<int>& signos);
// SA_SIGINFO | SA_RESTART, with every signal of `block` blocked while the handler runs.
void install_handler(int signo, void (*fn)(int, siginfo_t*, void*), const std::vector<int>& block);

}  // namespace bench
