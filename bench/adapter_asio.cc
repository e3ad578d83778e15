// SPDX-License-Identifier: MIT
// bench/adapter_asio.cc — sigrelay::asio::signal_event_set responder (sigrelay's Boost.Asio adapter).
#include <sigrelay/asio.hpp>

#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>

#include "harness.hpp"
#include "sigrelay_support.hpp"

namespace bench {
namespace {

class asio_adapter final : public mechanism {
 public:
  explicit asio_adapter(sigrelay::backend b) : backend_(b) {}
  void setup(const setup_args& a) override {
    io_ = std::make_unique<boost::asio::io_context>(1);
    if (a.count_deliveries && backend_ == sigrelay::backend::relay) counter_.add(a.signos.front());
    set_ = std::make_unique<sigrelay::asio::signal_event_set>(*io_,
                                                              sigrelay::signals(a.signos, options(backend_)));
  }
  void run(event_sink& sink) override {
    std::function<void(boost::system::error_code, const sigrelay::signal_event&)> handler =
        [&](boost::system::error_code ec, const sigrelay::signal_event& e) {
          if (ec) return;
          sink.on(e.signo, e.count, carries_value(e), e.last.value.sival_int);
          if (!sink.done) set_->async_wait(handler);
        };
    set_->async_wait(handler);
    io_->run();
  }
  long long dropped() const override { return static_cast<long long>(set_->dropped()); }
  long long deliveries() const override { return counter_.get(); }

 private:
  sigrelay::backend backend_;
  delivery_counter counter_;
  std::unique_ptr<boost::asio::io_context> io_;
  std::unique_ptr<sigrelay::asio::signal_event_set> set_;
};

}  // namespace

void add_adapter_asio(std::vector<mechanism_info>& out) {
  out.push_back({"sigrelay-asio", group::sigrelay,
                 "sigrelay::asio::signal_event_set::async_wait on a one-thread io_context, relay backend",
                 true, [] { return std::make_unique<asio_adapter>(sigrelay::backend::relay); }});
  out.push_back({"sigrelay-asio-signalfd", group::sigrelay,
                 "sigrelay::asio::signal_event_set::async_wait on a one-thread io_context, signalfd backend",
                 true, [] { return std::make_unique<asio_adapter>(sigrelay::backend::signalfd); }});
}

}  // namespace bench
