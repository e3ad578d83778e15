// SPDX-License-Identifier: MIT
// sigrelay/fmt.hpp — {fmt} formatters for origin_kind, origin and signal_event.
//
// Optional: include it only where {fmt} is available (it includes <fmt/format.h>). In sigrelay's own
// build and with add_subdirectory()/FetchContent, link the INTERFACE target sigrelay::fmt (defined
// when find_package(fmt) succeeds; it adds fmt::fmt); from an installed sigrelay, link fmt::fmt.
// Written against fmt 9 (Debian's libfmt-dev 9.1); works with later versions.
//
//   #include <sigrelay/fmt.hpp>
//   for (const sigrelay::signal_event& e : sigs) fmt::print("{}\n", e);
//   // SIGINT x2 from pid 123 (user, uid 1000, trusted)
//
// The text is to_string()'s (<sigrelay/signals.hpp>, "Printing"). The format spec is a string's:
// "{}", or a fill, alignment and width ("{:<40}", "{:>12}") applied to that text; anything else is
// a format error (fmt::format_error, or a compile error for a checked format string). Not
// async-signal-safe (allocates): ordinary code only.
#pragma once

#include <fmt/format.h>

#include <string>
#include <string_view>

#include "sigrelay/signals.hpp"

template <>
struct fmt::formatter<sigrelay::origin_kind> : fmt::formatter<std::string_view> {
  template <typename FormatContext>
  auto format(sigrelay::origin_kind kind, FormatContext& ctx) const -> decltype(ctx.out()) {
    return fmt::formatter<std::string_view>::format(sigrelay::to_string(kind), ctx);
  }
};

template <>
struct fmt::formatter<sigrelay::origin> : fmt::formatter<std::string_view> {
  template <typename FormatContext>
  auto format(const sigrelay::origin& o, FormatContext& ctx) const -> decltype(ctx.out()) {
    const std::string text = sigrelay::to_string(o);
    return fmt::formatter<std::string_view>::format(std::string_view(text), ctx);
  }
};

template <>
struct fmt::formatter<sigrelay::signal_event> : fmt::formatter<std::string_view> {
  template <typename FormatContext>
  auto format(const sigrelay::signal_event& e, FormatContext& ctx) const -> decltype(ctx.out()) {
    const std::string text = sigrelay::to_string(e);
    return fmt::formatter<std::string_view>::format(std::string_view(text), ctx);
  }
};
