// SPDX-License-Identifier: MIT
// bench/crash_peers/crash_none.cc — the baseline: no handler at all, the kernel's default action.
#include "scenarios.hpp"

namespace {

void install(const crash_peers::install_args&) {}

const crash_peers::peer none{
    "none", "no handler: the kernel's default action (baseline)", false, "", install, nullptr, nullptr};

}  // namespace

int main(int argc, char** argv) { return crash_peers::main(argc, argv, none); }
