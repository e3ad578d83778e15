// SPDX-License-Identifier: MIT
// tools/sigrelay/command.hpp — how a subcommand plugs into the `sigrelay` program.
//
// Each subcommand lives in its own .cc file and registers itself at static-initialisation time
// with one `registration` (and, if it must see argv before CLI11 does, one `front_end`), so that
// main.cc knows none of them and the files do not touch each other. The program is one executable,
// so every registration in its sources is linked and runs before main().
#pragma once

#include <CLI/CLI.hpp>

#include <optional>

namespace sigrelay::tool {

/// A subcommand of `sigrelay`. `setup` adds it to `app` (its options and a callback); the callback
/// runs during parsing and stores the program's exit status in `status`.
struct command {
  const char* name;
  int order;  ///< position in `sigrelay --help`: lower first
  void (*setup)(CLI::App& app, int& status);
};

/// A front end that takes over the whole argument vector before CLI11 parses it (a compatibility
/// mode chosen by argv[0], say). Returns the exit status when it applies, std::nullopt when not.
using front_end = std::optional<int> (*)(int argc, char** argv);

/// Registers a command; use one namespace-scope `const registration` per subcommand file.
struct registration {
  explicit registration(command c);
};

/// Registers a front end, tried in registration order before CLI11 parsing.
struct front_end_registration {
  explicit front_end_registration(front_end f);
};

}  // namespace sigrelay::tool
