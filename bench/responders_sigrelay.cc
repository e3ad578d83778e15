// SPDX-License-Identifier: MIT
// bench/responders_sigrelay.cc — sigrelay's responders: signals::wait(), the iterator and
// native_handle()+epoll on the relay backend, the signalfd backend's wait() and native_handle()+epoll,
// and the dispatcher.
#include <sigrelay/dispatcher.hpp>
#include <sigrelay/relays.hpp>
#include <sigrelay/signals.hpp>

#include <sys/epoll.h>
#include <unistd.h>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "harness.hpp"
#include "sigrelay_support.hpp"

namespace bench {
namespace {

class signals_responder final : public mechanism {
 public:
  enum class how { wait, iterator, epoll };
  signals_responder(sigrelay::backend b, how h) : backend_(b), how_(h) {}
  ~signals_responder() override {
    if (ep_ >= 0) ::close(ep_);
  }
  void setup(const setup_args& a) override {
    sigrelay::signals_options o;
    o.backend = backend_;
    sigs_.emplace(a.signos, o);
    if (a.count_deliveries && backend_ == sigrelay::backend::relay) counter_.add(a.signos.front());
    if (how_ == how::epoll) {
      ep_ = ::epoll_create1(EPOLL_CLOEXEC);
      if (ep_ < 0) die("epoll_create1");
      epoll_event ev{};
      ev.events = EPOLLIN;
      if (::epoll_ctl(ep_, EPOLL_CTL_ADD, sigs_->native_handle(), &ev) != 0) die("epoll_ctl");
    }
  }
  void run(event_sink& sink) override {
    while (!sink.done) {
      if (how_ == how::epoll) {
        epoll_event ev;
        const int n = ::epoll_wait(ep_, &ev, 1, -1);
        if (n < 0) {
          if (errno == EINTR) continue;
          die("epoll_wait");
        }
        pending_into(*sigs_, batch_);
        for (const sigrelay::signal_event& e : batch_)
          sink.on(e.signo, e.count, carries_value(e), e.last.value.sival_int);
      } else if (how_ == how::iterator) {
        // Range-for over the object: blocks between events, ends only when the sink is done.
        for (const sigrelay::signal_event& e : *sigs_) {
          sink.on(e.signo, e.count, carries_value(e), e.last.value.sival_int);
          if (sink.done) break;
        }
        if (!sink.done) die("signals iteration ended");
      } else {
        wait_into(*sigs_, batch_);
        if (batch_.empty()) die("signals::wait returned nothing");
        for (const sigrelay::signal_event& e : batch_)
          sink.on(e.signo, e.count, carries_value(e), e.last.value.sival_int);
      }
    }
  }
  long long dropped() const override { return static_cast<long long>(sigs_->dropped()); }
  long long deliveries() const override { return counter_.get(); }

 private:
  sigrelay::backend backend_;
  how how_;
  std::optional<sigrelay::signals> sigs_;
  std::vector<sigrelay::signal_event> batch_;  // reused where the library lets it (see wait_into)
  int ep_ = -1;
  delivery_counter counter_;
};

#ifdef BENCH_HAVE_SIGRELAY_DISPATCHER
class dispatcher_responder final : public mechanism {
 public:
  explicit dispatcher_responder(sigrelay::backend b) : backend_(b), d_(b) {}
  void setup(const setup_args& a) override {
    if (a.count_deliveries && backend_ == sigrelay::backend::relay) counter_.add(a.signos.front());
    for (int s : a.signos) {
      d_.on(s, [this](const sigrelay::signal_event& e) {
        sink_->on(e.signo, e.count, carries_value(e), e.last.value.sival_int);
        if (sink_->done) d_.stop();
      });
    }
  }
  void run(event_sink& sink) override {
    sink_ = &sink;
    d_.run();
  }
  long long dropped() const override { return static_cast<long long>(d_.dropped()); }
  long long deliveries() const override { return counter_.get(); }

 private:
  sigrelay::backend backend_;
  event_sink* sink_ = nullptr;
  sigrelay::dispatcher d_;
  delivery_counter counter_;
};
#endif

}  // namespace

void add_sigrelay(std::vector<mechanism_info>& out) {
  using sigrelay::backend;
  // wait() and pending() are the allocation-free overloads into a reused vector where the library
  // has them (sigrelay_support.hpp); the descriptions say which ran.
  const std::string into = reuse_api ? "(std::vector&)" : "()";
  out.push_back({"sigrelay-wait", group::sigrelay, "signals::wait" + into + ", relay backend", true, [] {
                   return std::make_unique<signals_responder>(backend::relay, signals_responder::how::wait);
                 }});
  out.push_back(
      {"sigrelay-iterator", group::sigrelay, "range-for over signals (its iterator), relay backend", true,
       [] { return std::make_unique<signals_responder>(backend::relay, signals_responder::how::iterator); }});
  out.push_back({"sigrelay-epoll", group::sigrelay,
                 "native_handle()+epoll_wait, then pending" + into + ", relay backend", true, [] {
                   return std::make_unique<signals_responder>(backend::relay, signals_responder::how::epoll);
                 }});
  out.push_back(
      {"sigrelay-epoll-signalfd", group::sigrelay,
       "native_handle()+epoll_wait, then pending" + into + ", signalfd backend", true,
       [] { return std::make_unique<signals_responder>(backend::signalfd, signals_responder::how::epoll); }});
  out.push_back(
      {"sigrelay-signalfd", group::sigrelay, "signals::wait" + into + ", signalfd backend", true,
       [] { return std::make_unique<signals_responder>(backend::signalfd, signals_responder::how::wait); }});
#ifdef BENCH_HAVE_SIGRELAY_DISPATCHER
  out.push_back({"sigrelay-dispatcher", group::sigrelay, "dispatcher::run() callbacks, relay backend", true,
                 [] { return std::make_unique<dispatcher_responder>(backend::relay); }});
  out.push_back({"sigrelay-dispatcher-signalfd", group::sigrelay,
                 "dispatcher::run() callbacks, signalfd backend", true,
                 [] { return std::make_unique<dispatcher_responder>(backend::signalfd); }});
#endif
}

}  // namespace bench
