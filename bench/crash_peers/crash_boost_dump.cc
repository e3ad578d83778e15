// SPDX-License-Identifier: MIT
// bench/crash_peers/crash_boost_dump.cc — Boost.Stacktrace, the documented signal-handler recipe.
//
// Boost.Stacktrace 1.81's "Handle terminates, aborts and Segmentation Faults" recipe: the handler
// resets the signal to SIG_DFL, calls boost::stacktrace::safe_dump_to("./backtrace.dump") and
// raise(SIGABRT); the program's next start (`--after`) reads the dump with
// stacktrace::from_dump and prints it. The documentation installs it for SIGSEGV and SIGABRT; here
// it is also installed for SIGFPE, SIGILL and SIGBUS, so that every scenario meets a handler. As
// documented, no alternate stack is set up. Symbolization (at the next start, outside the crash) uses
// the libbacktrace back end (libboost_stacktrace_backtrace). No user callback: hook-fault is n/a.
#define BOOST_STACKTRACE_LINK
#include <boost/stacktrace.hpp>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>

#include "scenarios.hpp"

namespace {

// Signal context. The documented recipe, verbatim: safe_dump_to() is what Boost calls async-signal-safe;
// raise(SIGABRT) re-enters this handler once, since SIGABRT's is still installed.
void my_signal_handler(int signum) {
  ::signal(signum, SIG_DFL);
  boost::stacktrace::safe_dump_to("./backtrace.dump");
  ::raise(SIGABRT);
}

void install(const crash_peers::install_args&) {
  for (int signo : {SIGSEGV, SIGABRT, SIGFPE, SIGILL, SIGBUS}) ::signal(signo, &my_signal_handler);
}

int print_previous() {
  std::ifstream ifs("./backtrace.dump");
  if (!ifs) return 0;
  boost::stacktrace::stacktrace st = boost::stacktrace::stacktrace::from_dump(ifs);
  std::cout << "Previous run crashed:\n" << st << std::endl;
  ifs.close();
  std::remove("./backtrace.dump");
  return 0;
}

const crash_peers::peer boost_dump{
    "boost_dump",
    "Boost.Stacktrace recipe: safe_dump_to(file) + raise(SIGABRT) in the handler, printed at the next start",
    false,
    "Previous run crashed",
    install,
    print_previous,
    nullptr};

}  // namespace

int main(int argc, char** argv) { return crash_peers::main(argc, argv, boost_dump); }
