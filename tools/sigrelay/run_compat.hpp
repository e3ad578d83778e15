// SPDX-License-Identifier: MIT
// tools/sigrelay/run_compat.hpp — the tini and dumb-init front ends of `sigrelay run`.
//
// Each takes an argument vector exactly as that program would (argv[0] is the name it goes by in its
// messages: "tini", "dumb-init", or the path of a link), with that program's options, environment
// variables, usage errors, exit statuses and message prefixes, and runs the init (run_init.hpp).
// Only the help texts are our own. Differences from the originals are listed in each .cc file.
#pragma once

namespace sigrelay::tool::run {

int tini_main(int argc, char** argv);
int dumb_init_main(int argc, char** argv);

}  // namespace sigrelay::tool::run
