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
// - The lean entry (glibc): early_dispatch() runs from .init_array at priority 101, before the static
//   initialisers of every other file of the program (CLI11's validators, <iostream>'s ios_base::Init
//   in each file that includes it, the subcommand registrations), with the argc/argv glibc passes to
//   such functions. For argv[0] `tini`/`dumb-init`, `run --compat=...`, and a `sigrelay run` command
//   line that fast_run() reads completely (below), it runs the init there and _exit()s: the init's
//   process never initialises iostreams or builds CLI11's objects, whose pages would count in its
//   RSS for as long as the container lives (measured: README, "sigrelay run compared"). Anything
//   else returns to the ordinary start-up and main().
// - fast_run() reads only the command lines that it can read exactly as CLI11 does: run's flags
//   (short, clustered as -vw, or long), -r/-e/-p and their long forms with a value that passes the
//   same checks as in the CLI11 callback (the same build() turns both into init_options), then
//   `--` or PROGRAM. Everything else (--help, an unknown option, an error, `--opt=value` forms of a
//   flag, a repeated single-value option, an -e value CLI11 reads differently such as 010 or 0x10)
//   goes to CLI11, so that help texts, error messages and exit statuses stay CLI11's.
#include <sys/wait.h>
#include <unistd.h>

#include <sigrelay/registry.hpp>

#include <cstdio>
#include <cstdlib>
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
    "  init's stdin, stdout, stderr, environment and working directory, and with the scheduling policy,\n"
    "  nice value and slice the init was started with. The init then sets its own scheduler slice to\n"
    "  10 ms (Linux 6.12 and later, SCHED_OTHER only), so that PROGRAM, woken by a signal passed on,\n"
    "  takes the CPU from the init at once.\n"
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

// What run's options say, before checks (filled by CLI11, or by fast_run()).
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

enum class build_error { none, compat_not_first, no_program, bad_rewrite, bad_parent_death_signal };

// settings + PROGRAM ARGS... -> init_options; on error, which one (and `error`: the rewrite's text).
build_error build(const settings& s, std::vector<std::string> command, init_options& o, std::string& error) {
  if (!s.compat.empty()) return build_error::compat_not_first;
  o.command = std::move(command);
  if (o.command.empty()) return build_error::no_program;
  o.dialect = dialect::native;
  o.verbosity = s.verbose;
  o.auto_subreaper = !s.no_subreaper;
  o.warn_reaped = s.warn;
  o.die_by_signal = s.die;
  o.signal_group = s.group || s.setsid;
  if (s.setsid) {
    o.new_session = true;
    o.term_group_on_exit = true;
    o.stop_self_on_tty_signals = true;
    for (const int t : {SIGTSTP, SIGTTIN, SIGTTOU}) o.rewrite[static_cast<std::size_t>(t)] = SIGSTOP;
  }
  for (const std::string& r : s.rewrites) {
    if (!parse_rewrite(r, o, error)) return build_error::bad_rewrite;
  }
  for (const int code : s.success) o.success_statuses.set(static_cast<std::size_t>(code));
  if (!s.pdeath.empty()) {
    std::error_code ec;
    o.parent_death_signal = sigrelay::signal_number(s.pdeath, ec);
    if (ec) return build_error::bad_parent_death_signal;
  }
  return build_error::none;
}

void setup(CLI::App& app, int& status) {
  CLI::App* sub = app.add_subcommand("run", "Run a program as a signal-forwarding, zombie-reaping init");
  // The one-line description stays for `sigrelay --help`; the manual goes after the options.
  sub->footer(std::string(description) + "\n" + footer);
  sub->prefix_command();
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
    std::vector<std::string> command = sub->remaining();
    if (!command.empty() && command.front() == end_of_options) command.erase(command.begin());
    init_options o;
    std::string error;
    switch (build(*s, std::move(command), o, error)) {
      case build_error::compat_not_first:
        throw CLI::ValidationError(
            "--compat",
            "must come first, right after `run`, as in: sigrelay run --compat=" + s->compat + " -- PROGRAM");
      case build_error::no_program:
        throw CLI::RequiredError("PROGRAM (sigrelay run [options] [--] PROGRAM [ARGS...])");
      case build_error::bad_rewrite: throw CLI::ValidationError(error);
      case build_error::bad_parent_death_signal:
        throw CLI::ValidationError("--parent-death-signal", "'" + s->pdeath + "' names no signal");
      case build_error::none: break;
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

// An -e value exactly as CLI11 reads it and accepts it: 0-255 in plain decimal (CLI11 reads 010 as
// octal and 0x10 as hex: those go to CLI11).
bool plain_status(const char* text, int& out) {
  if (text[0] == '\0' || (text[0] == '0' && text[1] != '\0') || std::strlen(text) > 3) return false;
  int v = 0;
  for (const char* c = text; *c != '\0'; ++c) {
    if (*c < '0' || *c > '9') return false;
    v = v * 10 + (*c - '0');
  }
  if (v > 255) return false;
  out = v;
  return true;
}

// `sigrelay run ...` read without CLI11, for the command lines it reads exactly as CLI11 does (see
// the notes at the top); std::nullopt: leave it to CLI11.
std::optional<int> fast_run(int argc, char** argv) {
  if (argc < 3 || std::strcmp(argv[1], "run") != 0) return std::nullopt;
  settings s;
  bool pdeath_given = false;  // repeated flags are fine (CLI11 counts -v, takes the last of the others)
  // Takes a value option's value; false: leave it to CLI11.
  auto take = [&](char which, const char* value) {
    if (value == nullptr || value[0] == '-' || value[0] == '\0') return false;
    switch (which) {
      case 'r': s.rewrites.emplace_back(value); return true;
      case 'e': {
        int code = 0;
        if (!plain_status(value, code)) return false;
        s.success.push_back(code);
        return true;
      }
      case 'p':
        if (pdeath_given) return false;  // a repeated single-value option: CLI11's error
        pdeath_given = true;
        s.pdeath = value;
        return true;
      default: return false;
    }
  };
  int i = 2;
  for (; i < argc; ++i) {
    const char* a = argv[i];
    if (std::strcmp(a, "--") == 0) {
      ++i;
      break;
    }
    if (a[0] != '-' || a[1] == '\0') break;  // PROGRAM
    if (a[1] == '-') {
      const char* name = a + 2;
      if (std::strcmp(name, "process-group") == 0) {
        s.group = true;
      } else if (std::strcmp(name, "setsid") == 0) {
        s.setsid = true;
      } else if (std::strcmp(name, "verbose") == 0) {
        ++s.verbose;
      } else if (std::strcmp(name, "warn-reaped") == 0) {
        s.warn = true;
      } else if (std::strcmp(name, "no-subreaper") == 0) {
        s.no_subreaper = true;
      } else if (std::strcmp(name, "die-by-signal") == 0) {
        s.die = true;
      } else {
        static const struct {
          const char* name;
          char which;
        } valued[] = {{"rewrite", 'r'}, {"success-status", 'e'}, {"parent-death-signal", 'p'}};
        bool taken = false;
        for (const auto& v : valued) {
          const std::size_t n = std::strlen(v.name);
          if (std::strncmp(name, v.name, n) != 0) continue;
          if (name[n] == '=') {
            taken = take(v.which, name + n + 1);
          } else if (name[n] == '\0' && i + 1 < argc) {
            taken = take(v.which, argv[++i]);
          }
          break;
        }
        if (!taken) return std::nullopt;  // --help, --compat not first, unknown, bad value...
      }
      continue;
    }
    for (const char* c = a + 1; *c != '\0'; ++c) {  // -g, -v, -w, clustered; -r/-e/-p last, value next
      if (*c == 'g') {
        s.group = true;
      } else if (*c == 'v') {
        ++s.verbose;
      } else if (*c == 'w') {
        s.warn = true;
      } else if ((*c == 'r' || *c == 'e' || *c == 'p') && c[1] == '\0' && i + 1 < argc) {
        if (!take(*c, argv[++i])) return std::nullopt;
      } else {
        return std::nullopt;  // -h, unknown, or a value glued to its option
      }
    }
  }
  std::vector<std::string> command(argv + i, argv + argc);
  init_options o;
  std::string error;
  if (build(s, std::move(command), o, error) != build_error::none) return std::nullopt;
  return run_init(o);
}

const registration reg{{"run", 10, &setup}};
const front_end_registration front{&front_end};

#ifdef __GLIBC__
// The lean entry (see the notes at the top). glibc calls .init_array functions with argc, argv and
// envp; priority 101 puts this one before every ordinary static initialiser of the program.
__attribute__((constructor(101))) void early_dispatch(int argc, char** argv, char** /*envp*/) {
  if (argc < 1 || argv == nullptr) return;
  std::optional<int> status;
  const char* self = base_name(argv[0]);
  if (std::strcmp(self, "tini") == 0 || std::strcmp(self, "dumb-init") == 0 ||
      (argc >= 3 && std::strcmp(argv[1], "run") == 0 && std::strncmp(argv[2], "--compat", 8) == 0)) {
    status = front_end(argc, argv);
  } else {
    status = fast_run(argc, argv);
  }
  if (!status) return;
  // Not exit(): the exit handlers would undo what the initialisers after this one never did (in a
  // static program, crtbegin's __do_global_dtors_aux deregisters frame info that was never
  // registered, and aborts). Nothing else is registered yet: flush stdio, and leave.
  std::fflush(nullptr);
  _exit(*status);
}
#endif

}  // namespace
}  // namespace sigrelay::tool::run
