// SPDX-License-Identifier: MIT
// tools/sigrelay/run.cc — `sigrelay run`: the command line of the init (the engine: run_init.hpp).
//
// Two ways in:
// - The front end (before CLI11): argv[0] named `tini` or `dumb-init` (a link to sigrelay), or
//   `sigrelay run --compat=tini|dumb-init ...` (also `--compat tini`), as the first argument after
//   `run`: the rest of the arguments go to that program's parser (run_compat.hpp), with argv[0] the
//   program's name, so messages say "tini"/"dumb-init" as the originals do.
// - `sigrelay run [options] [--] PROGRAM [ARGS...]`, parsed by CLI11. Options end at PROGRAM (the
//   subcommand is a prefix command): `sigrelay run ls -l` runs `ls -l`.
//   CLI11 hands a `--` to the parent app when the subcommand has no positional option, and a
//   positional option would break the prefix rule (`run grep -v x` would give -v to us). So the front
//   end finds the `--` that ends run's options (knowing which options take a value: value_options)
//   and replaces it in argv with `end_of_options`, a word CLI11 takes for PROGRAM, which starts the
//   prefix; the callback drops it.
#include <sys/wait.h>
#include <unistd.h>

#include <sigrelay/registry.hpp>

#include <cstring>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "command.hpp"
#include "run_compat.hpp"
#include "run_init.hpp"

namespace sigrelay::tool::run {
namespace {

const char description[] =
    "NAME\n"
    "  sigrelay run - run a program under a signal-forwarding, zombie-reaping init\n"
    "\n"
    "SYNOPSIS\n"
    "  sigrelay run [OPTIONS] [--] PROGRAM [ARGS...]\n"
    "\n"
    "DESCRIPTION\n"
    "  Runs PROGRAM as the only child of this process, which acts as its init: the job of PID 1 in a\n"
    "  container, as tini and dumb-init do it.\n"
    "\n"
    "  Every signal the init receives is passed on to PROGRAM (or to its process group), except SIGKILL\n"
    "  and SIGSTOP, which cannot be caught, SIGCHLD, and the fault signals (SIGSEGV, SIGBUS, SIGILL,\n"
    "  SIGFPE, SIGTRAP, SIGSYS). Every zombie is reaped: as PID 1, the orphans of the whole container\n"
    "  reach it; otherwise it registers as a child subreaper, so that PROGRAM's orphaned descendants do.\n"
    "  When PROGRAM ends, the init exits with its exit status, or 128+N if signal N killed it.\n"
    "\n"
    "  PROGRAM starts with the signal mask and the signal dispositions the init was started with (an\n"
    "  ignored SIGINT stays ignored; the init's own blocks are never passed on), in a process group of\n"
    "  its own that becomes the terminal's foreground group when the init was in the foreground, with the\n"
    "  init's stdin, stdout, stderr, environment and working directory.\n"
    "\n"
    "  Invoked as `tini` or `dumb-init` (a link to sigrelay), or with --compat as the first option, it\n"
    "  takes exactly that program's options, environment variables, exit statuses and messages, so an\n"
    "  image switches by changing one path.\n";

const char footer[] =
    "EXIT STATUS\n"
    "  PROGRAM's exit status; 128+N if signal N killed it (with --die-by-signal the init dies by N\n"
    "  instead, except as PID 1, where the kernel does not let it); 0 for a status given with -e.\n"
    "  127: PROGRAM was not found. 126: it was found but could not be executed. 1: the init could\n"
    "  not start (the message says why). Usage errors (a bad option): 105-114, as for every sigrelay\n"
    "  command (CLI11's codes).\n"
    "\n"
    "ENVIRONMENT\n"
    "  PATH is searched for PROGRAM. With --compat=tini: TINI_SUBREAPER, TINI_VERBOSITY,\n"
    "  TINI_KILL_PROCESS_GROUP; with --compat=dumb-init: DUMB_INIT_DEBUG, DUMB_INIT_SETSID.\n"
    "\n"
    "EXAMPLES\n"
    "  Dockerfile:   ENTRYPOINT [\"sigrelay\", \"run\", \"--\"]\n"
    "                CMD [\"python3\", \"app.py\"]\n"
    "  Who signals the app:   sigrelay run -v -- ./server\n"
    "  A shell script's whole job in the container, job control included:\n"
    "                sigrelay run --setsid -- ./start.sh\n"
    "  Stop with SIGQUIT where the orchestrator sends SIGTERM:\n"
    "                sigrelay run -r TERM:QUIT -- nginx -g 'daemon off;'\n"
    "  Replace tini without changing the image's arguments:\n"
    "                ln -s /usr/bin/sigrelay /usr/local/bin/tini\n";

// The options of `run` that take a value (kept in step with setup()), and the stand-in for `--`.
const char* const value_options[] = {"--compat", "--rewrite", "--success-status", "--parent-death-signal"};
const char value_short_options[] = "rep";
char end_of_options[] = "\x1f(end of options)";

// The index of the `--` that ends run's options in argv (from `first`), or -1.
int options_end(int argc, char** argv, int first) {
  for (int i = first; i < argc; ++i) {
    const char* a = argv[i];
    if (std::strcmp(a, "--") == 0) return i;
    if (a[0] != '-' || a[1] == '\0') return -1;  // PROGRAM: options ended without `--`
    if (a[1] == '-') {
      if (std::strchr(a, '=') != nullptr) continue;
      for (const char* v : value_options) {
        if (std::strcmp(a, v) == 0) ++i;  // its value is the next word
      }
      continue;
    }
    for (const char* c = a + 1; *c != '\0'; ++c) {  // a cluster such as -vw or -vr TERM:QUIT
      if (std::strchr(value_short_options, *c) != nullptr) {
        if (c[1] == '\0') ++i;
        break;
      }
    }
  }
  return -1;
}

// "TERM:QUIT", "15:3", "SIGUSR1:0" -> rewrite[from] = to.
bool parse_rewrite(const std::string& text, init_options& o, std::string& error) {
  const std::size_t colon = text.find(':');
  if (colon == std::string::npos) {
    error = "--rewrite " + text + ": expected FROM:TO, as TERM:QUIT (TO = 0 drops FROM)";
    return false;
  }
  std::error_code ec;
  const int from = sigrelay::signal_number(text.substr(0, colon), ec);
  if (ec) {
    error = "--rewrite " + text + ": '" + text.substr(0, colon) + "' names no signal";
    return false;
  }
  const std::string to_text = text.substr(colon + 1);
  int to = 0;
  if (to_text != "0") {
    to = sigrelay::signal_number(to_text, ec);
    if (ec) {
      error = "--rewrite " + text + ": '" + to_text + "' names no signal (0 drops it)";
      return false;
    }
  }
  o.rewrite[static_cast<std::size_t>(from)] = to;
  return true;
}

void setup(CLI::App& app, int& status) {
  CLI::App* sub = app.add_subcommand("run", "Run a program as a signal-forwarding, zombie-reaping init");
  // The one-line description stays for `sigrelay --help`; the manual goes after the options.
  sub->footer(std::string(description) + "\n" + footer);
  sub->prefix_command();
  struct settings {
    std::string compat;
    bool group = false;
    bool setsid = false;
    std::vector<std::string> rewrites;
    std::vector<int> success;
    std::string pdeath;
    int verbose = 0;
    bool warn = false;
    bool no_subreaper = false;
    bool die = false;
  };
  auto s = std::make_shared<settings>();
  sub->add_option("--compat", s->compat,
                  "Take the options of tini or dumb-init (see their --help); must be the first option")
      ->check(CLI::IsMember({"tini", "dumb-init"}));
  sub->add_flag("-g,--process-group", s->group, "Pass signals to PROGRAM's whole process group (kill -PGID)");
  sub->add_flag("--setsid", s->setsid,
                "dumb-init's default mode: PROGRAM gets a new session and the terminal; signals go to its "
                "process group, which also gets SIGTERM when PROGRAM ends; SIGTSTP, SIGTTIN and SIGTTOU "
                "become SIGSTOP and the init stops itself too (SIGCONT wakes both)");
  sub->add_option(
         "-r,--rewrite", s->rewrites,
         "FROM:TO (names or numbers: TERM:QUIT, 15:3): pass FROM on as TO; TO = 0 drops FROM. Repeatable")
      ->type_name("FROM:TO")
      ->allow_extra_args(false);  // one value per -r, so `-r TERM:QUIT -- PROGRAM` stops at --
  sub->add_option("-e,--success-status", s->success,
                  "Exit 0 when PROGRAM's status is this (0-255). Repeatable")
      ->check(CLI::Range(0, 255))
      ->type_name("CODE")
      ->allow_extra_args(false);
  sub->add_option("-p,--parent-death-signal", s->pdeath,
                  "Have this signal sent to the init when its parent dies (then passed on like any other)")
      ->type_name("SIGNAL");
  sub->add_flag("-v,--verbose", s->verbose,
                "Log each signal passed on, with its sender: pid, uid, command name, and trusted (kill, "
                "the kernel) or forgeable (sigqueue). Twice: also start-up and reaping");
  sub->add_flag("-w,--warn-reaped", s->warn, "Log each orphan reaped");
  sub->add_flag("--no-subreaper", s->no_subreaper,
                "Do not register as a child subreaper when not PID 1 (orphans then go to the real init)");
  sub->add_flag("--die-by-signal", s->die,
                "When a signal kills PROGRAM, die by the same signal rather than exit with 128+N");
  sub->callback([sub, s, &status]() {
    if (!s->compat.empty()) {
      throw CLI::ValidationError(
          "--compat",
          "must come first, right after `run`, as in: sigrelay run --compat=" + s->compat + " -- PROGRAM");
    }
    init_options o;
    o.command = sub->remaining();
    if (!o.command.empty() && o.command.front() == end_of_options) o.command.erase(o.command.begin());
    if (o.command.empty())
      throw CLI::RequiredError("PROGRAM (sigrelay run [options] [--] PROGRAM [ARGS...])");
    o.dialect = dialect::native;
    o.verbosity = s->verbose;
    o.auto_subreaper = !s->no_subreaper;
    o.warn_reaped = s->warn;
    o.die_by_signal = s->die;
    o.signal_group = s->group || s->setsid;
    if (s->setsid) {
      o.new_session = true;
      o.term_group_on_exit = true;
      o.stop_self_on_tty_signals = true;
      for (const int t : {SIGTSTP, SIGTTIN, SIGTTOU}) o.rewrite[static_cast<std::size_t>(t)] = SIGSTOP;
    }
    for (const std::string& r : s->rewrites) {
      std::string error;
      if (!parse_rewrite(r, o, error)) throw CLI::ValidationError(error);
    }
    for (const int code : s->success) o.success_statuses.set(static_cast<std::size_t>(code));
    if (!s->pdeath.empty()) {
      std::error_code ec;
      o.parent_death_signal = sigrelay::signal_number(s->pdeath, ec);
      if (ec) throw CLI::ValidationError("--parent-death-signal", "'" + s->pdeath + "' names no signal");
    }
    status = run_init(o);
  });
}

const char* base_name(const char* path) {
  const char* slash = std::strrchr(path, '/');
  return slash != nullptr ? slash + 1 : path;
}

// argv[0] `tini` / `dumb-init`, or `run --compat=...` first; else marks run's `--` for CLI11.
std::optional<int> front_end(int argc, char** argv) {
  if (argc < 1) return std::nullopt;
  const std::string self = base_name(argv[0]);
  if (self == "tini") return tini_main(argc, argv);
  if (self == "dumb-init") return dumb_init_main(argc, argv);
  if (argc < 3 || std::strcmp(argv[1], "run") != 0) return std::nullopt;
  std::string which;
  int rest = 0;  // index of the first argument after the --compat option
  if (std::strncmp(argv[2], "--compat=", 9) == 0) {
    which = argv[2] + 9;
    rest = 3;
  } else if (std::strcmp(argv[2], "--compat") == 0 && argc >= 4) {
    which = argv[3];
    rest = 4;
  } else {
    if (const int dd = options_end(argc, argv, 2); dd > 0) argv[dd] = end_of_options;
    return std::nullopt;
  }
  if (which != "tini" && which != "dumb-init") return std::nullopt;  // CLI11 says what is allowed
  static char tini_name[] = "tini";
  static char dumb_init_name[] = "dumb-init";
  std::vector<char*> args;
  args.push_back(which == "tini" ? tini_name : dumb_init_name);
  for (int i = rest; i < argc; ++i) args.push_back(argv[i]);
  args.push_back(nullptr);
  const int n = static_cast<int>(args.size()) - 1;
  return which == "tini" ? tini_main(n, args.data()) : dumb_init_main(n, args.data());
}

const registration reg{{"run", 10, &setup}};
const front_end_registration front{&front_end};

}  // namespace
}  // namespace sigrelay::tool::run
