// SPDX-License-Identifier: MIT
// bench/floors.cc — the floors: the kernel's own synchronous interfaces and hand-written relays.
//
// These are what a careful programmer writes without a library. sigrelay's ratios are taken against
// `sigwaitinfo`, the cheapest way for ordinary code to receive a signal at all.
#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include <array>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdint>

#include "harness.hpp"

namespace bench {
namespace {

sigset_t set_of(const std::vector<int>& signos) {
  sigset_t set;
  sigemptyset(&set);
  for (int s : signos) sigaddset(&set, s);
  return set;
}

// Hands the siginfos of one signalfd read() of `bytes` bytes to the sink.
void hand_over(const signalfd_siginfo* buf, ssize_t bytes, event_sink& sink) {
  for (std::size_t i = 0; i < static_cast<std::size_t>(bytes) / sizeof(signalfd_siginfo); ++i) {
    const signalfd_siginfo& si = buf[i];
    sink.on(static_cast<int>(si.ssi_signo), 1, si.ssi_code == SI_QUEUE, si.ssi_int);
  }
}

// --- sigwaitinfo in the main thread -----------------------------------------------------------
class sigwaitinfo_floor final : public mechanism {
 public:
  void setup(const setup_args& a) override {
    set_ = set_of(a.signos);
    block_signals(a.signos);
  }
  void run(event_sink& sink) override {
    while (!sink.done) {
      siginfo_t info;
      const int s = ::sigwaitinfo(&set_, &info);
      if (s < 0) {
        if (errno == EINTR) continue;
        die("sigwaitinfo");
      }
      sink.on(s, 1, info.si_code == SI_QUEUE, info.si_value.sival_int);
    }
  }

 private:
  sigset_t set_{};
};

// --- signalfd + epoll ---------------------------------------------------------------------------
class signalfd_floor final : public mechanism {
 public:
  ~signalfd_floor() override {
    if (sfd_ >= 0) ::close(sfd_);
    if (ep_ >= 0) ::close(ep_);
  }
  void setup(const setup_args& a) override {
    const sigset_t set = set_of(a.signos);
    block_signals(a.signos);
    sfd_ = ::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd_ < 0) die("signalfd");
    ep_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (ep_ < 0) die("epoll_create1");
    epoll_event ev{};
    ev.events = EPOLLIN;
    if (::epoll_ctl(ep_, EPOLL_CTL_ADD, sfd_, &ev) != 0) die("epoll_ctl");
  }
  void run(event_sink& sink) override {
    std::array<signalfd_siginfo, 16> buf;
    while (!sink.done) {
      epoll_event ev;
      const int n = ::epoll_wait(ep_, &ev, 1, -1);
      if (n < 0) {
        if (errno == EINTR) continue;
        die("epoll_wait");
      }
      // One read per wake-up: whatever is left keeps the fd readable for the next epoll_wait.
      const ssize_t r = ::read(sfd_, buf.data(), sizeof buf);
      if (r < 0) {
        if (errno == EAGAIN || errno == EINTR) continue;
        die("read(signalfd)");
      }
      hand_over(buf.data(), r, sink);
    }
  }

 private:
  int sfd_ = -1;
  int ep_ = -1;
};

// --- a blocking read() of a signalfd -------------------------------------------------------------
// The mechanism of the signalfd backend's wait() when nothing else can wake it (src/signals.cc,
// "wait() on the signalfd backend"): its floor, as handler-reply is the relay backend's.
class signalfd_read_floor final : public mechanism {
 public:
  ~signalfd_read_floor() override {
    if (sfd_ >= 0) ::close(sfd_);
  }
  void setup(const setup_args& a) override {
    const sigset_t set = set_of(a.signos);
    block_signals(a.signos);
    sfd_ = ::signalfd(-1, &set, SFD_CLOEXEC);
    if (sfd_ < 0) die("signalfd");
  }
  void run(event_sink& sink) override {
    std::array<signalfd_siginfo, 16> buf;
    while (!sink.done) {
      const ssize_t r = ::read(sfd_, buf.data(), sizeof buf);
      if (r < 0) {
        if (errno == EINTR) continue;
        die("read(signalfd)");
      }
      hand_over(buf.data(), r, sink);
    }
  }

 private:
  int sfd_ = -1;
};

// Per-signal delivery counters written by the hand-written handlers below (signal context: only
// lock-free atomics and write()/kill()).
std::array<std::atomic<std::uint64_t>, NSIG> g_counts{};
std::atomic<pid_t> g_reply_to{0};
std::atomic<int> g_reply_signo{SIGUSR2};
std::atomic<bool> g_reply_in_handler{false};
std::atomic<int> g_wake_fd{-1};

// Hands the counters accumulated by a handler to the sink (ordinary code).
void drain_counts(const std::vector<int>& signos, event_sink& sink) {
  for (int s : signos) {
    const std::uint64_t n = g_counts[static_cast<std::size_t>(s)].exchange(0, std::memory_order_acq_rel);
    if (n != 0) sink.on(s, n, false, 0);
  }
}

// --- raw handler that replies from inside the handler -------------------------------------------
// Signal context.
void reply_handler(int signo, siginfo_t*, void*) {
  const int saved = errno;
  if (g_reply_in_handler.load(std::memory_order_relaxed)) {
    ::kill(g_reply_to.load(std::memory_order_relaxed), g_reply_signo.load(std::memory_order_relaxed));
  }
  g_counts[static_cast<std::size_t>(signo)].fetch_add(1, std::memory_order_acq_rel);
  errno = saved;
}

class handler_floor final : public mechanism {
 public:
  void setup(const setup_args& a) override {
    signos_ = a.signos;
    g_reply_to = a.driver;
    g_reply_signo = a.reply_signo;
    g_reply_in_handler = a.reply_in_handler;
    // The signals stay blocked except inside sigsuspend(), so that no delivery slips in between the
    // check of the counters and the wait.
    block_signals(a.signos);
    for (int s : a.signos) install_handler(s, reply_handler, a.signos);
    ::sigprocmask(SIG_SETMASK, nullptr, &wait_mask_);
    for (int s : a.signos) sigdelset(&wait_mask_, s);
  }
  void run(event_sink& sink) override {
    while (!sink.done) {
      ::sigsuspend(&wait_mask_);
      drain_counts(signos_, sink);
    }
  }

 private:
  std::vector<int> signos_;
  sigset_t wait_mask_{};
};

// --- hand-written self-pipe into poll() ---------------------------------------------------------
// Signal context: one byte (the signal number) per delivery; a full pipe loses it.
void pipe_handler(int signo, siginfo_t*, void*) {
  const int saved = errno;
  const unsigned char b = static_cast<unsigned char>(signo);
  [[maybe_unused]] const ssize_t r = ::write(g_wake_fd.load(std::memory_order_relaxed), &b, 1);
  errno = saved;
}

class self_pipe_floor final : public mechanism {
 public:
  ~self_pipe_floor() override {
    if (fds_[0] >= 0) ::close(fds_[0]);
    if (fds_[1] >= 0) ::close(fds_[1]);
  }
  void setup(const setup_args& a) override {
    if (::pipe2(fds_, O_NONBLOCK | O_CLOEXEC) != 0) die("pipe2");
    g_wake_fd = fds_[1];
    for (int s : a.signos) install_handler(s, pipe_handler, a.signos);
  }
  void run(event_sink& sink) override {
    std::array<unsigned char, 256> buf;
    std::array<std::uint64_t, NSIG> seen{};
    while (!sink.done) {
      pollfd p{fds_[0], POLLIN, 0};
      const int n = ::poll(&p, 1, -1);
      if (n < 0) {
        if (errno == EINTR) continue;
        die("poll");
      }
      const ssize_t r = ::read(fds_[0], buf.data(), buf.size());
      if (r < 0) {
        if (errno == EAGAIN || errno == EINTR) continue;
        die("read(pipe)");
      }
      for (ssize_t i = 0; i < r; ++i) ++seen[buf[static_cast<std::size_t>(i)]];
      for (std::size_t s = 0; s < seen.size(); ++s) {
        if (seen[s] != 0) sink.on(static_cast<int>(s), seen[s], false, 0);
        seen[s] = 0;
      }
    }
  }

 private:
  int fds_[2] = {-1, -1};
};

// --- handler counting + waking an eventfd -------------------------------------------------------
// Signal context.
void eventfd_handler(int signo, siginfo_t*, void*) {
  const int saved = errno;
  g_counts[static_cast<std::size_t>(signo)].fetch_add(1, std::memory_order_acq_rel);
  const std::uint64_t one = 1;
  [[maybe_unused]] const ssize_t r = ::write(g_wake_fd.load(std::memory_order_relaxed), &one, sizeof one);
  errno = saved;
}

// A blocking read() of the eventfd (restarted after the handler by SA_RESTART), or epoll first.
class eventfd_floor final : public mechanism {
 public:
  explicit eventfd_floor(bool use_epoll) : use_epoll_(use_epoll) {}
  ~eventfd_floor() override {
    if (efd_ >= 0) ::close(efd_);
    if (ep_ >= 0) ::close(ep_);
  }
  void setup(const setup_args& a) override {
    signos_ = a.signos;
    efd_ = ::eventfd(0, EFD_CLOEXEC | (use_epoll_ ? EFD_NONBLOCK : 0));
    if (efd_ < 0) die("eventfd");
    g_wake_fd = efd_;
    if (use_epoll_) {
      ep_ = ::epoll_create1(EPOLL_CLOEXEC);
      if (ep_ < 0) die("epoll_create1");
      epoll_event ev{};
      ev.events = EPOLLIN;
      if (::epoll_ctl(ep_, EPOLL_CTL_ADD, efd_, &ev) != 0) die("epoll_ctl");
    }
    for (int s : a.signos) install_handler(s, eventfd_handler, a.signos);
  }
  void run(event_sink& sink) override {
    while (!sink.done) {
      if (use_epoll_) {
        epoll_event ev;
        const int n = ::epoll_wait(ep_, &ev, 1, -1);
        if (n < 0) {
          if (errno == EINTR) continue;
          die("epoll_wait");
        }
      }
      std::uint64_t v;
      if (::read(efd_, &v, sizeof v) < 0) {
        if (errno == EAGAIN || errno == EINTR) continue;
        die("read(eventfd)");
      }
      drain_counts(signos_, sink);
    }
  }

 private:
  bool use_epoll_;
  std::vector<int> signos_;
  int efd_ = -1;
  int ep_ = -1;
};

}  // namespace

void add_floors(std::vector<mechanism_info>& out) {
  out.push_back({"sigwaitinfo", group::floor, "sigwaitinfo() in the main thread (signals blocked)", true,
                 [] { return std::make_unique<sigwaitinfo_floor>(); }});
  out.push_back({"signalfd+epoll", group::floor, "signalfd read after epoll_wait (signals blocked)", true,
                 [] { return std::make_unique<signalfd_floor>(); }});
  out.push_back({"signalfd-read", group::floor, "blocking read() of a signalfd (signals blocked)", true,
                 [] { return std::make_unique<signalfd_read_floor>(); }});
  out.push_back({"handler-reply", group::floor, "raw SA_SIGINFO handler that replies from the handler", true,
                 [] { return std::make_unique<handler_floor>(); }});
  out.push_back({"self-pipe+poll", group::floor, "handler writes the signal number to a pipe; poll+read",
                 false, [] { return std::make_unique<self_pipe_floor>(); }});
  out.push_back({"eventfd-read", group::floor, "handler counts, writes an eventfd; blocking read", true,
                 [] { return std::make_unique<eventfd_floor>(false); }});
  out.back().tsan_unsafe =
      "a delivery that lands just before the blocking read() is deferred by TSan until the read returns, "
      "which it never does";
  out.push_back({"eventfd+epoll", group::floor, "handler counts, writes an eventfd; epoll_wait+read", true,
                 [] { return std::make_unique<eventfd_floor>(true); }});
}

}  // namespace bench
