// SPDX-License-Identifier: MIT
// tools/sigrelay/run_compat_dumb_init.cc — `sigrelay run` as dumb-init (a link named `dumb-init`, or
// --compat=dumb-init).
//
// Matches dumb-init 1.2.5 (Debian's /usr/bin/dumb-init):
// - Options (getopt_long, "+hvVcr:"; they end at the first non-option): -c/--single-child,
//   -r/--rewrite S:R (repeatable), -v/--verbose, -V/--version ("dumb-init v1.2.5" on stderr, exit 0),
//   -h/--help (our own text, on stderr as dumb-init's, exit 0). An unknown option or a missing
//   argument: getopt's message, exit 1. No PROGRAM: "Usage: ARGV0 [option] program [args]" and "Try
//   ARGV0 --help for full usage." on stderr, exit 1.
// - -r S:R: both numbers, as dumb-init's sscanf("%d:%d") reads them: S in 1..31, R in 0..31 (0 drops
//   S); anything else ("15", "15::12", "1:32", "herp") prints dumb-init's usage text for -r, exit 1.
//   As in dumb-init, text after R is not looked at ("15:12abc" is 15:12).
// - Environment: DUMB_INIT_DEBUG=1 as -v; DUMB_INIT_SETSID=0 as -c.
// - Setsid mode (default): the child gets a new session and the terminal; signals go to its process
//   group; SIGTSTP, SIGTTIN and SIGTTOU become SIGSTOP unless rewritten, and after forwarding one of
//   them the init stops itself; SIGTERM to the group when the child ends; the SIGHUP and SIGCONT of the
//   terminal hand-off are not forwarded. Single-child mode: signals to the child only, which
//   stays in the init's process group. In both modes the init stops itself after forwarding SIGTSTP,
//   SIGTTIN or SIGTTOU.
// - Every signal is forwarded, as dumb-init (which blocks all and sigwait()s) forwards it: realtime
//   signals (-r rewrites 1..31 only, as dumb-init's table) and the fault signals SIGSEGV, SIGBUS,
//   SIGILL, SIGFPE, SIGTRAP, SIGSYS sent to the init (the child ends by one: exit 128+N).
// - Once the child is forked the init chdir()s to "/" (the child keeps the directory it was
//   started in), as dumb-init does: it holds no reference to that directory.
// - Messages "[dumb-init] ..." on stderr; exec failure "[dumb-init] P: <error>", exit status 2.
// Deliberate differences: the child keeps the dispositions the init was started with (dumb-init
// installs a handler for signals 1-31 before fork, so an inherited SIG_IGN of SIGINT is lost in its
// child); in single-child mode the SIGTERM that follows the child's end (dumb-init sends it to the pid it has
// just reaped, which is gone or, worse, reused) goes through a pidfd of the child, which the kernel
// refuses (ESRCH): the same log line, and never a stranger signalled.
#include <getopt.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "run_compat.hpp"
#include "run_init.hpp"

namespace sigrelay::tool::run {
namespace {

constexpr int max_signal = 31;

void help(const char* argv0) {
  std::fprintf(stderr,
               "dumb-init v1.2.5\n"
               "Usage: %s [option] command [[arg] ...]\n"
               "\n"
               "Runs command as the child of this init (sigrelay run, in dumb-init's dialect): signals\n"
               "the init gets are passed on, zombies are reaped, and the init exits with the child's\n"
               "status (128+N if signal N killed it). By default the child gets a session of its own\n"
               "and the terminal, and signals go to its whole process group.\n"
               "\n"
               "Options:\n"
               "   -c, --single-child   Pass signals to the child only; no new session.\n"
               "   -r, --rewrite s:r    Pass signal s on as signal r (numbers 1-31); r = 0 drops s.\n"
               "                        Repeatable.\n"
               "   -v, --verbose        Say what happens, on stderr.\n"
               "   -h, --help           Print this help and exit.\n"
               "   -V, --version        Print the version and exit.\n"
               "\n"
               "Environment: DUMB_INIT_DEBUG=1 is -v; DUMB_INIT_SETSID=0 is -c.\n",
               argv0);
}

void rewrite_usage() {
  std::fprintf(stderr,
               "Usage: -r option takes <signum>:<signum>, where <signum> is between 1 and %d.\n"
               "This option can be specified multiple times.\n"
               "Use --help for full usage.\n",
               max_signal);
}

// false: the usage for -r is printed, and the program is to exit 1 (as dumb-init). Not exit(1) here:
// this may run before the program's static initialisers (run.cc, early_dispatch).
bool parse_rewrite(const char* arg, init_options& o) {
  int from = 0;
  int to = 0;
  if (std::sscanf(arg, "%d:%d", &from, &to) == 2 && from >= 1 && from <= max_signal && to >= 0 &&
      to <= max_signal) {
    o.rewrite[static_cast<std::size_t>(from)] = to;
    return true;
  }
  rewrite_usage();
  return false;
}

}  // namespace

int dumb_init_main(int argc, char** argv) {
  init_options o;
  o.dialect = dialect::dumb_init;
  bool use_setsid = true;
  static const struct option long_options[] = {
      {"help", no_argument, nullptr, 'h'},          {"single-child", no_argument, nullptr, 'c'},
      {"rewrite", required_argument, nullptr, 'r'}, {"verbose", no_argument, nullptr, 'v'},
      {"version", no_argument, nullptr, 'V'},       {nullptr, 0, nullptr, 0},
  };
  optind = 1;
  opterr = 1;
  int opt;
  while ((opt = getopt_long(argc, argv, "+hvVcr:", long_options, nullptr)) != -1) {
    switch (opt) {
      case 'h': help(argv[0]); return 0;
      case 'v': o.verbosity = 1; break;
      case 'V': std::fprintf(stderr, "dumb-init v1.2.5\n"); return 0;
      case 'c': use_setsid = false; break;
      case 'r':
        if (!parse_rewrite(optarg, o)) return 1;
        break;
      default: return 1;
    }
  }
  if (optind >= argc) {
    std::fprintf(stderr, "Usage: %s [option] program [args]\nTry %s --help for full usage.\n", argv[0],
                 argv[0]);
    return 1;
  }
  for (int i = optind; i < argc; ++i) o.command.emplace_back(argv[i]);
  if (const char* d = std::getenv("DUMB_INIT_DEBUG"); d != nullptr && std::strcmp(d, "1") == 0) {
    o.verbosity = 1;
    std::fprintf(stderr, "[dumb-init] Running in debug mode.\n");
  }
  if (const char* s = std::getenv("DUMB_INIT_SETSID"); s != nullptr && std::strcmp(s, "0") == 0) {
    use_setsid = false;
    if (o.verbosity > 0) std::fprintf(stderr, "[dumb-init] Not running in setsid mode.\n");
  }
  o.new_session = use_setsid;
  o.signal_group = use_setsid;
  o.term_group_on_exit = use_setsid;
  o.term_child_on_exit = !use_setsid;  // dumb-init's kill() of the reaped child, made safe (run_init.hpp)
  o.own_process_group = false;
  o.stop_self_on_tty_signals = true;  // in both modes, as dumb-init
  o.leave_working_directory = true;   // as dumb-init, in both modes
  if (use_setsid) {
    for (const int s : {SIGTSTP, SIGTTOU, SIGTTIN}) {
      if (o.rewrite[static_cast<std::size_t>(s)] == -1) o.rewrite[static_cast<std::size_t>(s)] = SIGSTOP;
    }
  }
  return run_init(o);
}

}  // namespace sigrelay::tool::run
