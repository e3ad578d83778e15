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
  void setup(const setup_args& a) override {
    io_ = std::make_unique<boost::asio::io_context>(1);
    if (a.count_deliveries) counter_.add(a.signos.front());
    set_ = std::make_unique<sigrelay::asio::signal_event_set>(
        *io_, sigrelay::signals(a.signos, sigrelay::signals_options{}));
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
  delivery_counter counter_;
  std::unique_ptr<boost::asio::io_context> io_;
  std::unique_ptr<sigrelay::asio::signal_event_set> set_;
};

}  // namespace

void add_adapter_asio(std::vector<mechanism_info>& out) {
  out.push_back({"sigrelay-asio", group::sigrelay,
                 "sigrelay::asio::signal_event_set::async_wait on a one-thread io_context", true,
                 [] { return std::make_unique<asio_adapter>(); }});
}

}  // namespace bench
