// SPDX-License-Identifier: MIT
// tools/sigrelay/run_compat_tini.cc — `sigrelay run` as tini (a link named `tini`, or --compat=tini).
//
// Matches tini 0.19 (Debian's /usr/bin/tini):
// - Options -h, -s, -p SIGNAL, -v (repeatable), -w, -g, -e CODE (repeatable, 0..255), -l, and
//   --version only as the sole argument (prints "tini version 0.19.0" on stdout, exit 0).
// - Environment: TINI_SUBREAPER and TINI_KILL_PROCESS_GROUP (set to anything, even empty) as -s and
//   -g; TINI_VERBOSITY (a number) replaces the verbosity, -v included, as tini reads it after the
//   options. Default verbosity 1: warnings; 2 info (stdout); 3 debug (stdout); 4 trace (stdout).
// - Usage errors exit 1: an unknown option or a missing argument (getopt's message, then the usage on
//   stderr), "[FATAL tini (pid)] Not a valid option for -p: X" (a name of tini's table: SIGHUP ...
//   SIGSYS, not a number) or "... for -e: X"; no PROGRAM prints the usage on stderr, exit 1.
// - -h prints our own help on stdout, exit 0; -l prints the MIT licence text (sigrelay's, which is
//   also MIT) on stdout, exit 0.
// - Exit statuses: the child's exit code, 128+N when killed by N, 0 for each -e code; exec failure
//   127 (not found), 126 (EACCES), 1 (other), "[FATAL tini (childpid)] exec P failed: ...".
// - SIGTTIN and SIGTTOU sent to the init are not forwarded (tini ignores them); SIGABRT and the fault
//   signals (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS) sent to it kill it, as they kill tini,
//   which leaves them unblocked at their default action.
// Deliberate difference: options stop at the first non-option (getopt "+"), as the issue asks; glibc's
// getopt in tini permutes, so `tini -s sh -c x` fails there (invalid option -- 'c') and works here.
// With `--` before PROGRAM, as tini documents, both agree.
// Deliberate difference: tini's child calls tcsetpgrp() on stdin whatever group tini is in (SIGTTOU
// is ignored then), so a tini started in the background of an interactive shell takes the terminal
// from it; here the child's group becomes the foreground one only when the init's group was it
// (run_init.hpp, The child). Checked against tini by tests/peer_init_test.cc
// (an_init_in_the_background_of_a_terminal_leaves_it_unlike_tini).
// Deliberate difference: with standard input closed, tini's child fails tcsetpgrp(0) with EBADF and
// tini exits 1 ("tcsetpgrp failed: Bad file descriptor") without running PROGRAM, though it goes on
// when stdin is not a terminal (ENOTTY); here PROGRAM runs in both cases (no terminal to hand over).
// No image that works under tini depends on the failure. Checked against tini by
// tests/run_compat_audit_test.cc (closed_stdin_runs_the_program_unlike_tini).
#include <getopt.h>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <sigrelay/version.hpp>

#include "run_compat.hpp"
#include "run_init.hpp"

namespace sigrelay::tool::run {
namespace {

const char* base_name(const char* path) {
  const char* slash = std::strrchr(path, '/');
  return slash != nullptr ? slash + 1 : path;
}

// tini's names for -p: exactly its table.
int tini_signal(const char* name) {
  static const struct {
    const char* name;
    int number;
  } table[] = {{"SIGHUP", SIGHUP},       {"SIGINT", SIGINT},   {"SIGQUIT", SIGQUIT},   {"SIGILL", SIGILL},
               {"SIGTRAP", SIGTRAP},     {"SIGABRT", SIGABRT}, {"SIGBUS", SIGBUS},     {"SIGFPE", SIGFPE},
               {"SIGKILL", SIGKILL},     {"SIGUSR1", SIGUSR1}, {"SIGSEGV", SIGSEGV},   {"SIGUSR2", SIGUSR2},
               {"SIGPIPE", SIGPIPE},     {"SIGALRM", SIGALRM}, {"SIGTERM", SIGTERM},   {"SIGCHLD", SIGCHLD},
               {"SIGCONT", SIGCONT},     {"SIGSTOP", SIGSTOP}, {"SIGTSTP", SIGTSTP},   {"SIGTTIN", SIGTTIN},
               {"SIGTTOU", SIGTTOU},     {"SIGURG", SIGURG},   {"SIGXCPU", SIGXCPU},   {"SIGXFSZ", SIGXFSZ},
               {"SIGVTALRM", SIGVTALRM}, {"SIGPROF", SIGPROF}, {"SIGWINCH", SIGWINCH}, {"SIGSYS", SIGSYS}};
  for (const auto& entry : table) {
    if (std::strcmp(entry.name, name) == 0) return entry.number;
  }
  return 0;
}

void usage(const char* argv0, std::FILE* out) {
  const char* name = base_name(argv0);
  std::fprintf(out,
               "%s (tini version 0.19.0 - sigrelay %s)\n"
               "Usage: %s [OPTIONS] PROGRAM -- [ARGS] | --version\n"
               "\n"
               "Runs PROGRAM as the child of this init (sigrelay run, in tini's dialect): every signal\n"
               "the init gets is passed on to the child, every zombie that reaches the init is reaped,\n"
               "and the init exits with the child's status (128+N if signal N killed it).\n"
               "\n"
               "Options (they end at the first word that is not one):\n"
               "\n"
               "  --version      Print the version and exit (only as the one argument).\n"
               "  -h             Print this help and exit.\n"
               "  -s             Become a child subreaper, so orphans are reaped when not PID 1.\n"
               "  -p SIGNAL      Have SIGNAL (by name, as SIGTERM) sent to the init when its parent\n"
               "                 dies; it is then passed on to the child.\n"
               "  -v             More messages; up to three times.\n"
               "  -w             Warn about each zombie reaped that was not the child.\n"
               "  -g             Pass signals to the child's whole process group.\n"
               "  -e EXIT_CODE   Exit with 0 when the child exits with EXIT_CODE (0-255); repeatable.\n"
               "  -l             Print the licence and exit.\n"
               "\n"
               "Environment:\n"
               "\n"
               "  TINI_SUBREAPER           Set: as -s.\n"
               "  TINI_VERBOSITY           The verbosity, a number (default: 1).\n"
               "  TINI_KILL_PROCESS_GROUP  Set: as -g.\n"
               "\n",
               name, SIGRELAY_VERSION, name);
}

const char licence[] =
    "The MIT License (MIT)\n"
    "\n"
    "Copyright (c) the sigrelay authors\n"
    "\n"
    "Permission is hereby granted, free of charge, to any person obtaining a copy\n"
    "of this software and associated documentation files (the \"Software\"), to deal\n"
    "in the Software without restriction, including without limitation the rights\n"
    "to use, copy, modify, merge, publish, distribute, sublicense, and/or sell\n"
    "copies of the Software, and to permit persons to whom the Software is\n"
    "furnished to do so, subject to the following conditions:\n"
    "\n"
    "The above copyright notice and this permission notice shall be included in all\n"
    "copies or substantial portions of the Software.\n"
    "\n"
    "THE SOFTWARE IS PROVIDED \"AS IS\", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR\n"
    "IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,\n"
    "FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE\n"
    "AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER\n"
    "LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,\n"
    "OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE\n"
    "SOFTWARE.\n";

bool parse_status(const char* text, int& out) {
  char* end = nullptr;
  const long v = std::strtol(text, &end, 10);
  if (*end != '\0' || v < 0 || v > 255) return false;  // (as tini: "" reads as 0)
  out = static_cast<int>(v);
  return true;
}

}  // namespace

int tini_main(int argc, char** argv) {
  if (argc == 2 && std::strcmp(argv[1], "--version") == 0) {
    std::printf("tini version 0.19.0\n");
    return 0;
  }
  init_options o;
  o.dialect = dialect::tini;
  o.verbosity = 1;
  o.drop_tty_input_output = true;
  optind = 1;
  opterr = 1;
  int c;
  while ((c = getopt(argc, argv, "+p:hvwgle:s")) != -1) {
    switch (c) {
      case 'h': usage(argv[0], stdout); return 0;
      case 's': o.subreaper = true; break;
      case 'p':
        o.parent_death_signal = tini_signal(optarg);
        if (o.parent_death_signal == 0) {
          std::fprintf(stderr, "[FATAL tini (%d)] Not a valid option for -p: %s\n",
                       static_cast<int>(getpid()), optarg);
          return 1;
        }
        break;
      case 'v': ++o.verbosity; break;
      case 'w': o.warn_reaped = true; break;
      case 'g': o.signal_group = true; break;
      case 'e': {
        int status = 0;
        if (!parse_status(optarg, status)) {
          std::fprintf(stderr, "[FATAL tini (%d)] Not a valid option for -e: %s\n",
                       static_cast<int>(getpid()), optarg);
          return 1;
        }
        o.success_statuses.set(static_cast<std::size_t>(status));
        break;
      }
      case 'l': std::fputs(licence, stdout); return 0;
      default: usage(argv[0], stderr); return 1;
    }
  }
  for (int i = optind; i < argc; ++i) o.command.emplace_back(argv[i]);
  if (o.command.empty()) {
    usage(argv[0], stderr);
    return 1;
  }
  if (std::getenv("TINI_SUBREAPER") != nullptr) o.subreaper = true;
  if (std::getenv("TINI_KILL_PROCESS_GROUP") != nullptr) o.signal_group = true;
  if (const char* v = std::getenv("TINI_VERBOSITY")) {
    o.verbosity = std::atoi(v);
    if (o.verbosity < 0) o.verbosity = INT_MAX;  // tini's verbosity is unsigned: -1 shows everything
  }
  return run_init(o);
}

}  // namespace sigrelay::tool::run
