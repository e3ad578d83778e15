// SPDX-License-Identifier: MIT
// bench/peer_asio.cc — Boost.Asio signal_set responder (a peer).
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <functional>
#include <memory>

#include "harness.hpp"

namespace bench {
namespace {

class asio_peer final : public mechanism {
 public:
  void setup(const setup_args& a) override {
    io_ = std::make_unique<boost::asio::io_context>(1);
    set_ = std::make_unique<boost::asio::signal_set>(*io_);
    for (int s : a.signos) set_->add(s);
  }
  void run(event_sink& sink) override {
    std::function<void(const boost::system::error_code&, int)> handler =
        [&](const boost::system::error_code& ec, int signo) {
          if (ec) return;
          sink.on(signo, 1, false, 0);
          if (!sink.done) set_->async_wait(handler);
        };
    set_->async_wait(handler);
    io_->run();
  }

 private:
  std::unique_ptr<boost::asio::io_context> io_;
  std::unique_ptr<boost::asio::signal_set> set_;
};

}  // namespace

void add_peer_asio(std::vector<mechanism_info>& out) {
  out.push_back({"asio", group::peer, "Boost.Asio signal_set::async_wait on a one-thread io_context", false,
                 [] { return std::make_unique<asio_peer>(); }});
}

}  // namespace bench
