// SPDX-License-Identifier: MIT
// bench/adapter_uv.cc — sigrelay::uv::signal_watcher responder (sigrelay's libuv adapter).
#include <sigrelay/uv.hpp>

#include <memory>

#include "harness.hpp"
#include "sigrelay_support.hpp"

namespace bench {
namespace {

class uv_adapter final : public mechanism {
 public:
  explicit uv_adapter(sigrelay::backend b) : backend_(b) {}
  ~uv_adapter() override {
    watcher_.reset();
    uv_run(&loop_, UV_RUN_NOWAIT);
    uv_loop_close(&loop_);
  }
  void setup(const setup_args& a) override {
    if (uv_loop_init(&loop_) != 0) die("uv_loop_init");
    if (a.count_deliveries && backend_ == sigrelay::backend::relay) counter_.add(a.signos.front());
    watcher_ = std::make_unique<sigrelay::uv::signal_watcher>(&loop_,
                                                              sigrelay::signals(a.signos, options(backend_)));
  }
  void run(event_sink& sink) override {
    if (watcher_->start([this, &sink](const sigrelay::signal_event& e) {
          sink.on(e.signo, e.count, carries_value(e), e.last.value.sival_int);
          if (sink.done) {
            watcher_->stop();
            uv_stop(&loop_);
          }
        }) != 0)
      die("signal_watcher::start");
    uv_run(&loop_, UV_RUN_DEFAULT);
  }
  long long dropped() const override { return static_cast<long long>(watcher_->dropped()); }
  long long deliveries() const override { return counter_.get(); }

 private:
  sigrelay::backend backend_;
  uv_loop_t loop_{};
  delivery_counter counter_;
  std::unique_ptr<sigrelay::uv::signal_watcher> watcher_;
};

}  // namespace

void add_adapter_uv(std::vector<mechanism_info>& out) {
  out.push_back({"sigrelay-uv", group::sigrelay,
                 "sigrelay::uv::signal_watcher on its own libuv loop, relay backend", true,
                 [] { return std::make_unique<uv_adapter>(sigrelay::backend::relay); }});
  out.push_back({"sigrelay-uv-signalfd", group::sigrelay,
                 "sigrelay::uv::signal_watcher on its own libuv loop, signalfd backend", true,
                 [] { return std::make_unique<uv_adapter>(sigrelay::backend::signalfd); }});
}

}  // namespace bench
