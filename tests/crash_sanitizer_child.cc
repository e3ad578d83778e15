// SPDX-License-Identifier: MIT
// tests/crash_sanitizer_child.cc — sigrelay's crash reporter beside a sanitizer's own SIGSEGV handler
// (ASan's, TSan's or UBSan's handle_segv). Built with the preset's sanitizer (the dev preset builds
// it with -fsanitize=undefined alone); tests/crash_sanitizer_test.cc runs it with the sanitizer's
// handle_segv=1, so that the runtime installs its handler at startup, before main().
//
//   crash_sanitizer_child SCENARIO
//
//   probe        prints "startup: " and the SIGSEGV disposition found in main() (describe()), exits 0
//   chain        crash::install with call_previous_handler, prints "chained: " and the disposition
//                describe() says sigrelay chains, then writes through null: sigrelay's report, then
//                the sanitizer's handler (chained) writes its own and ends the process
//   no_chain     crash::install without call_previous_handler, prints "chained: " likewise, then
//                writes through null: only sigrelay's report, death by SIGSEGV
//   reinstalled  saves the SIGSEGV disposition found at startup, crash::install, then puts the saved
//                one back with sigaction() (as a runtime re-installing its handler would); prints
//                describe(SIGSEGV) and check_ownership(), then writes through null
// Exits 2 on bad usage, 3 if it did not crash, 4 if a step failed.
#include <signal.h>
#include <cstdio>
#include <iostream>
#include <string>

#include "sigrelay/crash.hpp"
#include "sigrelay/describe.hpp"

namespace {

volatile int* volatile g_null = nullptr;

// UBSan would stop the null store itself (-fno-sanitize-recover): the fault must reach the processor.
extern "C" __attribute__((noinline, no_sanitize("undefined"))) void crash_null_store() { *g_null = 42; }

int crash() {
  std::fflush(nullptr);
  std::cout.flush();
  crash_null_store();
  return 3;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: crash_sanitizer_child SCENARIO\n");
    return 2;
  }
  const std::string scenario = argv[1];
  if (scenario == "probe") {
    std::cout << "startup: " << sigrelay::to_string(sigrelay::describe(SIGSEGV).current) << std::endl;
    return 0;
  }
  if (scenario == "chain" || scenario == "no_chain") {
    sigrelay::crash::options options;
    options.call_previous_handler = scenario == "chain";
    sigrelay::crash::install(options);
    const sigrelay::signal_description d = sigrelay::describe(SIGSEGV);
    std::cout << "chained: " << (d.chained ? sigrelay::to_string(*d.chained) : std::string("none")) << "\n";
    return crash();
  }
  if (scenario == "reinstalled") {
    struct sigaction at_startup {};
    if (sigaction(SIGSEGV, nullptr, &at_startup) != 0) return 4;
    sigrelay::crash::install();
    if (sigaction(SIGSEGV, &at_startup, nullptr) != 0) return 4;
    const sigrelay::signal_description d = sigrelay::describe(SIGSEGV);
    std::cout << "replaced: " << (d.replaced ? "yes" : "no") << "\n";
    std::cout << "current: " << sigrelay::to_string(d.current) << "\n";
    for (const sigrelay::ownership_loss& loss : sigrelay::check_ownership())
      std::cout << "loss: " << loss << "\n";
    return crash();
  }
  std::fprintf(stderr, "crash_sanitizer_child: unknown scenario %s\n", scenario.c_str());
  return 2;
}
