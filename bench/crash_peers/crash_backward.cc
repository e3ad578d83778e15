// SPDX-License-Identifier: MIT
// bench/crash_peers/crash_backward.cc — backward-cpp's SignalHandling (Debian's libbackward-cpp-dev).
//
// One backward::SignalHandling object with its default signal list, built with the libdw back end
// (BACKWARD_HAS_DW, linked with -ldw) so that traces carry function names and source lines. It
// installs an 8 MiB alternate stack for the constructing thread only, symbolizes in the handler,
// prints with stdio, then re-raises (SA_RESETHAND). No user callback: hook-fault is n/a.
#define BACKWARD_HAS_DW 1
#include <backward.hpp>

#include "scenarios.hpp"

namespace {

void install(const crash_peers::install_args&) {
  static backward::SignalHandling handling;  // lives until exit, as in backward-cpp's example
}

const crash_peers::peer backward_peer{
    "backward", "backward::SignalHandling, default signals, libdw back end (BACKWARD_HAS_DW)",
    false,      R"(Stack trace \(most recent call last\))",
    install,    nullptr,
    nullptr};

}  // namespace

int main(int argc, char** argv) { return crash_peers::main(argc, argv, backward_peer); }
