// SPDX-License-Identifier: MIT
// tools/sigrelay/main.cc — the `sigrelay` program: subcommands registered by their own files
// (see command.hpp), parsed with CLI11.
#include "command.hpp"

#include <sigrelay/version.hpp>

#include <algorithm>
#include <string_view>
#include <vector>

namespace sigrelay::tool {
namespace {

// Function-local statics: registrations run during static initialisation of other files.
std::vector<command>& commands() {
  static std::vector<command> all;
  return all;
}
std::vector<front_end>& front_ends() {
  static std::vector<front_end> all;
  return all;
}

}  // namespace

registration::registration(command c) { commands().push_back(c); }
front_end_registration::front_end_registration(front_end f) { front_ends().push_back(f); }

}  // namespace sigrelay::tool

int main(int argc, char** argv) {
  using namespace sigrelay::tool;
  for (front_end f : front_ends()) {
    if (std::optional<int> status = f(argc, argv)) return *status;
  }
  CLI::App app{"sigrelay — run programs as a signal-correct init, and see the signals of processes.",
               "sigrelay"};
  app.set_version_flag("--version", "sigrelay " SIGRELAY_VERSION);
  app.require_subcommand(1);
  int status = 0;
  std::vector<command> sorted = commands();
  std::sort(sorted.begin(), sorted.end(),
            [](const command& a, const command& b) { return a.order < b.order; });
  for (const command& c : sorted) c.setup(app, status);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0. A usage error exits 2, as the help texts of the tools say,
    // except in `run`, whose help gives CLI11's own codes (105-114: an init's exit status is its
    // program's, and 2 is a common one).
    const int code = app.exit(e);
    const bool run = argc > 1 && std::string_view(argv[1]) == "run";
    return code == 0 || run ? code : 2;
  }
  return status;
}
