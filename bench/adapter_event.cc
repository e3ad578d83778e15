// SPDX-License-Identifier: MIT
// bench/adapter_event.cc — sigrelay::event::signal_watcher responder (sigrelay's libevent adapter).
#include <sigrelay/event.hpp>

#include <event2/event.h>
#include <memory>

#include "harness.hpp"
#include "sigrelay_support.hpp"

namespace bench {
namespace {

class event_adapter final : public mechanism {
 public:
  explicit event_adapter(sigrelay::backend b) : backend_(b) {}
  ~event_adapter() override {
    watcher_.reset();
    if (base_ != nullptr) event_base_free(base_);
  }
  void setup(const setup_args& a) override {
    base_ = event_base_new();
    if (base_ == nullptr) die("event_base_new");
    if (a.count_deliveries && backend_ == sigrelay::backend::relay) counter_.add(a.signos.front());
    watcher_ = std::make_unique<sigrelay::event::signal_watcher>(
        base_, sigrelay::signals(a.signos, options(backend_)));
  }
  void run(event_sink& sink) override {
    if (watcher_->start([this, &sink](const sigrelay::signal_event& e) {
          sink.on(e.signo, e.count, carries_value(e), e.last.value.sival_int);
          if (sink.done) event_base_loopbreak(base_);
        }) != 0)
      die("signal_watcher::start");
    event_base_dispatch(base_);
  }
  long long dropped() const override { return static_cast<long long>(watcher_->dropped()); }
  long long deliveries() const override { return counter_.get(); }

 private:
  sigrelay::backend backend_;
  event_base* base_ = nullptr;
  delivery_counter counter_;
  std::unique_ptr<sigrelay::event::signal_watcher> watcher_;
};

}  // namespace

void add_adapter_event(std::vector<mechanism_info>& out) {
  out.push_back({"sigrelay-event", group::sigrelay,
                 "sigrelay::event::signal_watcher on a libevent base, relay backend", true,
                 [] { return std::make_unique<event_adapter>(sigrelay::backend::relay); }});
  out.push_back({"sigrelay-event-signalfd", group::sigrelay,
                 "sigrelay::event::signal_watcher on a libevent base, signalfd backend", true,
                 [] { return std::make_unique<event_adapter>(sigrelay::backend::signalfd); }});
}

}  // namespace bench
