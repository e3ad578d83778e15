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

namespace sigrelay::detail {

// The format spec of the formatters below: "[[fill]align][width]", the width a number or a "{}" /
// "{N}" argument reference; `parse()` then hands it to fmt's string formatter. Anything else (a
// precision, a type such as 's', a sign, '#', '0') is a fmt::format_error, at compile time for a
// checked format string.
struct text_spec_formatter : fmt::formatter<std::string_view> {
  template <typename ParseContext>
  constexpr auto parse(ParseContext& ctx) -> decltype(ctx.begin()) {
    auto it = ctx.begin();
    const auto end = ctx.end();
    const auto is_align = [](char c) { return c == '<' || c == '>' || c == '^'; };
    if (it != end && *it != '}') {
      // A fill is one code point (UTF-8: its lead byte gives its length) followed by an alignment.
      const auto lead = static_cast<unsigned char>(*it);
      const long fill = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
      if (end - it > fill && is_align(it[fill])) {
        it += fill + 1;
      } else if (is_align(*it)) {
        ++it;
      }
    }
    if (it != end && *it == '{') {
      ++it;
      while (it != end && *it != '}') ++it;
      if (it != end) ++it;
    } else {
      while (it != end && *it >= '0' && *it <= '9') ++it;
    }
    if (it != end && *it != '}')
      throw fmt::format_error("sigrelay: only a fill, an alignment and a width apply");
    return fmt::formatter<std::string_view>::parse(ctx);
  }
};

}  // namespace sigrelay::detail

template <>
struct fmt::formatter<sigrelay::origin_kind> : sigrelay::detail::text_spec_formatter {
  template <typename FormatContext>
  auto format(sigrelay::origin_kind kind, FormatContext& ctx) const -> decltype(ctx.out()) {
    return fmt::formatter<std::string_view>::format(sigrelay::to_string(kind), ctx);
  }
};

template <>
struct fmt::formatter<sigrelay::origin> : sigrelay::detail::text_spec_formatter {
  template <typename FormatContext>
  auto format(const sigrelay::origin& o, FormatContext& ctx) const -> decltype(ctx.out()) {
    const std::string text = sigrelay::to_string(o);
    return fmt::formatter<std::string_view>::format(std::string_view(text), ctx);
  }
};

template <>
struct fmt::formatter<sigrelay::signal_event> : sigrelay::detail::text_spec_formatter {
  template <typename FormatContext>
  auto format(const sigrelay::signal_event& e, FormatContext& ctx) const -> decltype(ctx.out()) {
    const std::string text = sigrelay::to_string(e);
    return fmt::formatter<std::string_view>::format(std::string_view(text), ctx);
  }
};
