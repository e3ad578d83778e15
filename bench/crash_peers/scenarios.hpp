// SPDX-License-Identifier: MIT
// bench/crash_peers/scenarios.hpp — the crashes every crash reporter is run against.
//
// Each `crash_<peer>` program is this driver plus one `peer` description: how to install that
// reporter, and what the runner (bench/crash_peers/run) needs to know to read its output. The
// driver's command line:
//
//   crash_<peer> SCENARIO     install the reporter, then crash as SCENARIO says (see scenarios())
//   crash_<peer> --describe   print the peer description as `key: value` lines, for the runner
//   crash_<peer> --after      the "next start" of a reporter that prints a saved dump only then
//   crash_<peer> --list       the scenario names, one a line
//
// The crashing functions are extern "C", never inlined, so that every report can name them (or give
// their module + offset, which the runner checks against `nm -S`). Right before the faulting
// instruction the driver calls `mark_crashing()`, which tells the LD_PRELOAD shim (shim.cc) that from
// now on every malloc/lock/stdio call it sees was made by the crash reporter (or the kernel's default
// action, which makes none: the `none` peer is the baseline).
#pragma once

namespace crash_peers {

// What the driver tells the peer's install function.
struct install_args {
  const char* argv0;     // for symbolizers that read the executable
  const char* scenario;  // the scenario about to run
  bool faulting_hook;    // scenario hook-fault: install a user callback that itself faults
};

struct peer {
  const char* name;  // the `<peer>` of crash_<peer>
  const char* what;  // one line for the results: which API, which options
  bool has_hook;     // the peer offers a user callback (writer) run during the report
  // A regular expression (Python `re` syntax) matching the first line of one report, to count
  // reports and to tell whether two reports interleave. Empty: unknown.
  const char* report_start;
  void (*install)(const install_args&);
  // The next start after a crash (the reporter prints a saved dump); null when the report is written
  // at crash time. Its output is part of the report.
  int (*after)();
  // Called first thing on each thread the driver starts (overflow-thread, two-threads), for a
  // reporter that must be told about new threads (an alternate stack per thread, say); null if not.
  void (*on_thread_start)();
};

// The program's main: parses the command line and runs `p`'s reporter against one scenario.
int main(int argc, char** argv, const peer& p);

// The user callback every peer with a hook gets in scenario hook-fault: writes one line, then
// dereferences a null pointer (the fault inside the reporter's callback the runner watches for).
// Signal context: write(2) only.
void faulting_hook_body() noexcept;

}  // namespace crash_peers
