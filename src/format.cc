// SPDX-License-Identifier: MIT
// src/format.cc — text for origin_kind, origin and signal_event (ordinary context): to_string() and
// operator<< (<sigrelay/signals.hpp>); <sigrelay/fmt.hpp> formats through to_string().
//
// Design notes
// - One function builds the text (to_string()); operator<< and the fmt formatters only write it, so
//   the three never disagree. The layout is the header's contract (tests check exact strings).
// - std::to_string for the numbers: no locale, unlike an ostream's operator<<.
#include <ostream>
#include <string>

#include "sigrelay/signals.hpp"

namespace sigrelay {

std::string to_string(const origin& o) {
  const std::string trust = o.trusted ? "trusted" : "untrusted";
  std::string out;
  if (o.pid != 0) {
    out = "pid " + std::to_string(o.pid) + " (" + std::string(to_string(o.kind)) + ", uid " +
          std::to_string(o.uid) + ", " + trust;
    if (o.kind == origin_kind::child) out += ", status " + std::to_string(o.child_status);
  } else {
    out = std::string(to_string(o.kind)) + " (code " + std::to_string(o.code) + ", " + trust;
  }
  if (o.kind == origin_kind::queue || o.kind == origin_kind::timer) {
    out += ", value " + std::to_string(o.value.sival_int);
  }
  out += ')';
  return out;
}

std::string to_string(const signal_event& e) {
  const std::string_view name = signal_name(e.signo);
  std::string out = name.empty() ? "signal " + std::to_string(e.signo) : std::string(name);
  out += " x" + std::to_string(e.count) + " from " + to_string(e.last);
  return out;
}

std::ostream& operator<<(std::ostream& out, origin_kind kind) { return out << to_string(kind); }

std::ostream& operator<<(std::ostream& out, const origin& o) { return out << to_string(o); }

std::ostream& operator<<(std::ostream& out, const signal_event& e) { return out << to_string(e); }

}  // namespace sigrelay
