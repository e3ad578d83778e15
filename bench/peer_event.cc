// SPDX-License-Identifier: MIT
// bench/peer_event.cc — libevent evsignal responder (a peer).
#include <event2/event.h>

#include <memory>

#include "harness.hpp"

namespace bench {
namespace {

class event_peer final : public mechanism {
 public:
  ~event_peer() override {
    for (event* e : events_) event_free(e);
    if (base_ != nullptr) event_base_free(base_);
  }
  void setup(const setup_args& a) override {
    base_ = event_base_new();
    if (base_ == nullptr) die("event_base_new");
    for (int s : a.signos) {
      event* e = evsignal_new(base_, s, &event_peer::on_signal, this);
      if (e == nullptr || event_add(e, nullptr) != 0) die("evsignal_new");
      events_.push_back(e);
    }
  }
  void run(event_sink& sink) override {
    sink_ = &sink;
    event_base_dispatch(base_);
  }

 private:
  static void on_signal(evutil_socket_t signo, short, void* arg) {
    auto* self = static_cast<event_peer*>(arg);
    self->sink_->on(static_cast<int>(signo), 1, false, 0);
    if (self->sink_->done) event_base_loopbreak(self->base_);
  }
  event_base* base_ = nullptr;
  std::vector<event*> events_;
  event_sink* sink_ = nullptr;
};

}  // namespace

void add_peer_event(std::vector<mechanism_info>& out) {
  out.push_back({"libevent", group::peer, "libevent evsignal_new + event_base_dispatch", false,
                 [] { return std::make_unique<event_peer>(); }});
}

}  // namespace bench
