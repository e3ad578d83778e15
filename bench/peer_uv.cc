// SPDX-License-Identifier: MIT
// bench/peer_uv.cc — libuv uv_signal_t responder (a peer).
#include <uv.h>

#include <memory>

#include "harness.hpp"

namespace bench {
namespace {

class uv_peer final : public mechanism {
 public:
  ~uv_peer() override {
    for (auto& h : handles_) uv_close(reinterpret_cast<uv_handle_t*>(h.get()), nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);
    uv_loop_close(&loop_);
  }
  void setup(const setup_args& a) override {
    if (uv_loop_init(&loop_) != 0) die("uv_loop_init");
    loop_.data = this;
    for (int s : a.signos) {
      handles_.push_back(std::make_unique<uv_signal_t>());
      uv_signal_t* h = handles_.back().get();
      uv_signal_init(&loop_, h);
      h->data = this;
      if (uv_signal_start(h, &uv_peer::on_signal, s) != 0) die("uv_signal_start");
    }
  }
  void run(event_sink& sink) override {
    sink_ = &sink;
    uv_run(&loop_, UV_RUN_DEFAULT);
  }

 private:
  static void on_signal(uv_signal_t* h, int signum) {
    auto* self = static_cast<uv_peer*>(h->data);
    self->sink_->on(signum, 1, false, 0);
    if (self->sink_->done) {
      for (auto& x : self->handles_) uv_signal_stop(x.get());
      uv_stop(&self->loop_);
    }
  }
  uv_loop_t loop_{};
  std::vector<std::unique_ptr<uv_signal_t>> handles_;
  event_sink* sink_ = nullptr;
};

}  // namespace

void add_peer_uv(std::vector<mechanism_info>& out) {
  out.push_back({"libuv", group::peer, "libuv uv_signal_start on its own loop", false,
                 [] { return std::make_unique<uv_peer>(); }});
}

}  // namespace bench
