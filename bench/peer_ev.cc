// SPDX-License-Identifier: MIT
// bench/peer_ev.cc — libev ev_signal responder (a peer).
#include <ev.h>

#include <memory>

#include "harness.hpp"

namespace bench {
namespace {

class ev_peer final : public mechanism {
 public:
  void setup(const setup_args& a) override {
    loop_ = ev_default_loop(EVFLAG_AUTO);
    if (loop_ == nullptr) die("ev_default_loop");
    for (int s : a.signos) {
      watchers_.push_back(std::make_unique<ev_signal>());
      ev_signal* w = watchers_.back().get();
      ev_signal_init(w, &ev_peer::on_signal, s);
      w->data = this;
      ev_signal_start(loop_, w);
    }
  }
  void run(event_sink& sink) override {
    sink_ = &sink;
    ev_run(loop_, 0);
  }
  ~ev_peer() override {
    for (auto& w : watchers_) ev_signal_stop(loop_, w.get());
  }

 private:
  static void on_signal(struct ev_loop* loop, ev_signal* w, int) {
    auto* self = static_cast<ev_peer*>(w->data);
    self->sink_->on(w->signum, 1, false, 0);
    if (self->sink_->done) ev_break(loop, EVBREAK_ALL);
  }
  struct ev_loop* loop_ = nullptr;
  std::vector<std::unique_ptr<ev_signal>> watchers_;
  event_sink* sink_ = nullptr;
};

}  // namespace

void add_peer_ev(std::vector<mechanism_info>& out) {
  out.push_back({"libev", group::peer, "libev ev_signal on the default loop", false,
                 [] { return std::make_unique<ev_peer>(); }});
}

}  // namespace bench
