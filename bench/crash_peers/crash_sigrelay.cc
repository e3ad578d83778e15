// SPDX-License-Identifier: MIT
// bench/crash_peers/crash_sigrelay.cc — sigrelay::crash (<sigrelay/crash.hpp>) with default options:
// the seven fatal signals, the report to stderr, no chaining, the 5 s watchdog; threads the driver
// starts call prepare_thread() (their alternate stack and guard region). In scenario hook-fault the
// hook faults. The program's own code is built with -fno-omit-frame-pointer (the report's backtrace
// follows frame pointers).
#include <sigrelay/crash.hpp>

#include "scenarios.hpp"

namespace {

// Signal context: the report's hook; faults after one line.
void faulting_hook(int, const siginfo_t&, void*) noexcept { crash_peers::faulting_hook_body(); }

void install(const crash_peers::install_args& a) {
  sigrelay::crash::options o;
  if (a.faulting_hook) o.hook = faulting_hook;
  sigrelay::crash::install(o);
}

void on_thread_start() { sigrelay::crash::prepare_thread(); }

const crash_peers::peer sigrelay_peer{
    "sigrelay",     "sigrelay::crash::install, default options; prepare_thread() on each new thread",
    true,           R"(\*\*\* sigrelay crash report \*\*\*)",
    install,        nullptr,
    on_thread_start};

}  // namespace

int main(int argc, char** argv) { return crash_peers::main(argc, argv, sigrelay_peer); }
