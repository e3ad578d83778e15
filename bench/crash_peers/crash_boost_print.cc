// SPDX-License-Identifier: MIT
// bench/crash_peers/crash_boost_print.cc — Boost.Stacktrace printed from the handler (the unsafe
// variant many programs use, against the library's advice).
//
// The handler resets the signal to SIG_DFL, streams the signal number, its strsignal() text and
// boost::stacktrace::stacktrace() to std::cerr (collection, symbolization through libbacktrace and
// formatting, all inside the handler), then raise()s the signal again. Installed with signal() for
// SIGSEGV, SIGABRT, SIGFPE, SIGILL and SIGBUS, without an alternate stack. No user callback:
// hook-fault is n/a.
#define BOOST_STACKTRACE_LINK
#include <boost/stacktrace.hpp>

#include <csignal>
#include <cstring>
#include <iostream>

#include "scenarios.hpp"

namespace {

// Signal context, deliberately not async-signal-safe: allocation, symbolization and iostreams in a
// handler are what this peer stands for, and what the shim counts.
void print_handler(int signum) {
  ::signal(signum, SIG_DFL);
  std::cerr << "Caught signal " << signum << " (" << strsignal(signum) << "), backtrace:\n"
            << boost::stacktrace::stacktrace() << std::flush;
  ::raise(signum);
}

void install(const crash_peers::install_args&) {
  for (int signo : {SIGSEGV, SIGABRT, SIGFPE, SIGILL, SIGBUS}) ::signal(signo, &print_handler);
}

const crash_peers::peer boost_print{
    "boost_print", "Boost.Stacktrace printed in the handler: std::cerr << stacktrace(), then raise(signum)",
    false,         "Caught signal [0-9]+",
    install,       nullptr,
    nullptr};

}  // namespace

int main(int argc, char** argv) { return crash_peers::main(argc, argv, boost_print); }
