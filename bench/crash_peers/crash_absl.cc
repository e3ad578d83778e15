// SPDX-License-Identifier: MIT
// bench/crash_peers/crash_absl.cc — Abseil's failure signal handler (Debian's libabsl-dev).
//
// absl::InitializeSymbolizer(argv[0]) then absl::InstallFailureSignalHandler with the default
// options (symbolize_stacktrace, use_alternate_stack, alarm_on_failure_secs = 3, no chaining); in
// scenario hook-fault, `writerfn` is a callback that faults (Abseil calls it after writing the report
// to stderr, and once more with null as a flush hint). Built twice: crash_absl with the default flags,
// crash_absl_fp with -fno-omit-frame-pointer (Abseil's x86-64 unwinder follows frame pointers).
#include <absl/debugging/failure_signal_handler.h>
#include <absl/debugging/symbolize.h>

#include "scenarios.hpp"

namespace {

// Signal context (Abseil's writerfn runs in its handler): faults on the first call with data.
void faulting_writer(const char* data) {
  if (data != nullptr) crash_peers::faulting_hook_body();
}

void install(const crash_peers::install_args& a) {
  absl::InitializeSymbolizer(a.argv0);
  absl::FailureSignalHandlerOptions options;
  if (a.faulting_hook) options.writerfn = faulting_writer;
  absl::InstallFailureSignalHandler(options);
}

const crash_peers::peer absl_peer{
    CRASH_PEERS_NAME,
    "absl::InstallFailureSignalHandler, default options (symbolized, alternate stack, alarm 3 s), "
    "after absl::InitializeSymbolizer"
#ifdef CRASH_PEERS_FRAME_POINTERS
    "; the program's own code built with -fno-omit-frame-pointer"
#endif
    ,
    true,
    R"(\*\*\* SIG[A-Z]+ received at)",
    install,
    nullptr,
    nullptr};

}  // namespace

int main(int argc, char** argv) { return crash_peers::main(argc, argv, absl_peer); }
