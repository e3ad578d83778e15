// SPDX-License-Identifier: MIT
// tools/sigrelay/list.cc — `sigrelay list`: every signal's number, name, default action and meaning.
//
// Like `kill -L`, plus the default action (signal(7)'s Term/Core/Stop/Ign/Cont) and a description.
// The 31 standard signals, then the realtime ones SIGRTMIN..SIGRTMAX of the running C library
// (numbers 32 and 33 are reserved by glibc for its threads and are left out, as kill -L does).
#include "command.hpp"
#include "describe.hpp"

#include <cstdio>
#include <iostream>

namespace sigrelay::tool {
namespace {

struct list_options {
  bool json = false;
};

std::vector<int> listed_signals() {
  std::vector<int> out;
  for (int signo = 1; signo < 32; ++signo) out.push_back(signo);
  for (int signo = SIGRTMIN; signo <= SIGRTMAX; ++signo) out.push_back(signo);
  return out;
}

int run_list(const list_options& o) {
  if (o.json) {
    std::cout << "[";
    bool first = true;
    for (int signo : listed_signals()) {
      std::cout << (first ? "\n" : ",\n") << "  {\"number\":" << signo
                << ",\"name\":" << json_string(signal_label(signo))
                << ",\"default\":" << json_string(default_action(signo))
                << ",\"description\":" << json_string(signal_description(signo)) << "}";
      first = false;
    }
    std::cout << "\n]\n";
    return 0;
  }
  std::printf("%3s  %-12s %-5s %s\n", "NUM", "NAME", "DFL", "DESCRIPTION");
  for (int signo : listed_signals()) {
    std::printf("%3d  %-12s %-5s %s\n", signo, signal_label(signo).c_str(),
                std::string(default_action(signo)).c_str(), std::string(signal_description(signo)).c_str());
  }
  return 0;
}

void setup(CLI::App& app, int& status) {
  auto o = std::make_shared<list_options>();
  CLI::App* sub = app.add_subcommand("list", "List every signal: number, name, default action, meaning.");
  sub->add_flag("--json", o->json, "Print one JSON array of objects {number, name, default, description}.");
  sub->footer(
      "DESCRIPTION\n"
      "  Prints the 31 standard signals and the realtime signals SIGRTMIN..SIGRTMAX of this system,\n"
      "  one per line: number, name, default action and a short description. Numbers 32 and 33 are\n"
      "  reserved by the C library and not listed. Realtime signals are named SIGRTMIN+n up to\n"
      "  SIGRTMIN+15 and SIGRTMAX-n above, as kill -l names them.\n"
      "\n"
      "DEFAULT ACTIONS (signal(7))\n"
      "  Term  the process is terminated\n"
      "  Core  the process is terminated and may dump core\n"
      "  Stop  the process is stopped\n"
      "  Cont  a stopped process continues\n"
      "  Ign   the signal is ignored\n"
      "\n"
      "EXAMPLES\n"
      "  sigrelay list\n"
      "  sigrelay list --json\n");
  sub->callback([o, &status] { status = run_list(*o); });
}

const registration reg{{"list", 50, &setup}};

}  // namespace
}  // namespace sigrelay::tool
