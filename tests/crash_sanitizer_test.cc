// SPDX-License-Identifier: MIT
// tests/crash_sanitizer_test.cc — the crash reporter beside a sanitizer's own SIGSEGV handler
// (handle_segv=1), in both orders. Each test runs tests/crash_sanitizer_child.cc as a real process
// with the sanitizer's options set here (whatever the preset's environment says), reads its output
// and its wait status.
//
// Which sanitizer the child carries depends on the preset: ASan (+UBSan) in asan, TSan in tsan, UBSan
// alone in dev. Whether that runtime installs a SIGSEGV handler at startup is known per build (see
// sanitizer_handles_segv()) and checked by SanitizerHandlerIsInstalledAtStartup: GCC's shared libubsan
// installs none (handle_segv does nothing there), so in the dev preset the tests check that the
// reporter behaves exactly as it does without a sanitizer.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <string>

#include "support/child.hpp"
#include "support/platform.hpp"
#include "support/process.hpp"

namespace {

using sigrelay::test::describe_status;
using sigrelay::test::exited_with;
using sigrelay::test::killed_by;
using sigrelay::test::process;

const std::string kChild = SIGRELAY_CRASH_SANITIZER_CHILD;
const std::string kSanitizers = SIGRELAY_CHILD_SANITIZER;  // -fsanitize= of the child
const std::string kCompiler = SIGRELAY_CHILD_COMPILER;
const std::string kHeader = "*** sigrelay crash report ***\n";
const std::string kEnd = "*** end of crash report ***\n";
constexpr int kSanitizerExitCode = 23;  // exitcode= given to the runtime: told apart from anything else

bool has(const std::string& sanitizer) { return kSanitizers.find(sanitizer) != std::string::npos; }

// The runtime whose SIGSEGV handler the child has, its report's name and its module.
struct runtime {
  const char* report_name;  // "AddressSanitizer" as in "ERROR: AddressSanitizer: SEGV"
  const char* module;       // "libasan.so"
  const char* options;      // the environment variable of its options
};

runtime child_runtime() {
  if (has("address")) return {"AddressSanitizer", "libasan.so", "ASAN_OPTIONS"};
  if (has("thread")) return {"ThreadSanitizer", "libtsan.so", "TSAN_OPTIONS"};
  return {"UndefinedBehaviorSanitizer", kCompiler == "GNU" ? "libubsan.so" : "", "UBSAN_OPTIONS"};
}

// ASan and TSan install their SIGSEGV handler at startup with handle_segv=1; UBSan alone does with
// Clang's runtime, not with GCC's libubsan.
bool sanitizer_handles_segv() { return has("address") || has("thread") || kCompiler != "GNU"; }

struct run_result {
  int status;
  std::string output;
};

run_result run(const std::string& scenario) {
  const runtime rt = child_runtime();
  // The sanitizer handles SIGSEGV (with ASan, also the preset's detect_leaks etc. are replaced: a
  // crashing child has nothing to say about leaks).
  const std::string options = "handle_segv=1:abort_on_error=0:exitcode=" + std::to_string(kSanitizerExitCode);
  ::setenv(rt.options, options.c_str(), 1);
  if (std::string(rt.options) != "UBSAN_OPTIONS") {
    ::setenv("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1", 1);
  }
  process p(kChild, {scenario});
  const int status = p.finish(60);
  return {status, p.output()};
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

std::string line_after(const std::string& output, const std::string& prefix) {
  const std::size_t at = output.find(prefix);
  if (at == std::string::npos) return {};
  return output.substr(at + prefix.size(), output.find('\n', at) - at - prefix.size());
}

std::string sanitizer_error() { return std::string("ERROR: ") + child_runtime().report_name + ": SEGV"; }

// One whole sigrelay report of the null store.
void expect_one_report(const std::string& output) {
  EXPECT_EQ(count(output, kHeader), 1U) << output;
  EXPECT_EQ(count(output, kEnd), 1U) << output;
  EXPECT_NE(output.find("\nsignal: SIGSEGV (11), code SEGV_MAPERR (1): address not mapped to object\n"),
            std::string::npos)
      << output;
}

TEST(CrashSanitizer, SanitizerHandlerIsInstalledAtStartup) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
  const run_result r = run("probe");
  ASSERT_TRUE(exited_with(r.status, 0)) << r.output;
  const std::string startup = line_after(r.output, "startup: ");
  if (!sanitizer_handles_segv()) {
    EXPECT_EQ(startup, "SIG_DFL") << "GCC's libubsan was expected to install no SIGSEGV handler";
    return;
  }
  EXPECT_EQ(startup.rfind("handler ", 0), 0U) << r.output;
  if (std::string(child_runtime().module).empty()) {
    // Clang links UBSan's runtime into the program itself.
    EXPECT_NE(startup.find("crash_sanitizer_child"), std::string::npos) << r.output;
  } else {
    EXPECT_NE(startup.find(child_runtime().module), std::string::npos) << r.output;
  }
}

// Sanitizer first (at startup), then crash::install(call_previous_handler): sigrelay chains it.
TEST(CrashSanitizer, ChainedSanitizerHandlerReportsAfterSigrelay) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
  const run_result r = run("chain");
  expect_one_report(r.output);
  const std::string chained = line_after(r.output, "chained: ");
  if (!sanitizer_handles_segv()) {
    EXPECT_EQ(chained, "SIG_DFL") << r.output;
    EXPECT_TRUE(killed_by(r.status, SIGSEGV)) << r.output;
    EXPECT_EQ(r.output.find("Sanitizer"), std::string::npos) << r.output;
    return;
  }
  EXPECT_EQ(chained.rfind("handler ", 0), 0U) << r.output;
  EXPECT_NE(chained.find(child_runtime().module), std::string::npos) << r.output;
  // Both reports, sigrelay's whole one first; the sanitizer's handler ends the process its way.
  const std::size_t end = r.output.find(kEnd);
  const std::size_t theirs = r.output.find(sanitizer_error());
  ASSERT_NE(theirs, std::string::npos) << r.output;
  EXPECT_LT(end, theirs) << r.output;
  EXPECT_TRUE(exited_with(r.status, kSanitizerExitCode)) << describe_status(r.status) << "\n" << r.output;
}

// Without call_previous_handler the sanitizer's handler is saved but never called.
TEST(CrashSanitizer, WithoutChainingOnlySigrelayReportsAndTheSignalKills) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
  const run_result r = run("no_chain");
  expect_one_report(r.output);
  EXPECT_TRUE(killed_by(r.status, SIGSEGV)) << r.output;
  EXPECT_EQ(r.output.find(sanitizer_error()), std::string::npos) << r.output;
}

// crash::install() first, then the sanitizer's handler put back with sigaction(): describe() and
// check_ownership() name it, and it alone takes the crash.
TEST(CrashSanitizer, ReinstalledSanitizerHandlerIsSeenAndTakesTheCrash) {
  SIGRELAY_SKIP_UNLESS_LINUX_PLATFORM("the crash reporter");
  const run_result r = run("reinstalled");
  EXPECT_EQ(line_after(r.output, "replaced: "), "yes") << r.output;
  const std::string loss = line_after(r.output, "loss: ");
  EXPECT_EQ(loss.rfind("SIGSEGV: sigrelay's handler was replaced by ", 0), 0U) << r.output;
  EXPECT_EQ(count(r.output, "loss: "), 1U) << r.output;
  EXPECT_EQ(r.output.find(kHeader), std::string::npos) << r.output;
  if (!sanitizer_handles_segv()) {
    EXPECT_NE(loss.find("replaced by SIG_DFL"), std::string::npos) << r.output;
    EXPECT_TRUE(killed_by(r.status, SIGSEGV)) << r.output;
    return;
  }
  EXPECT_NE(loss.find(child_runtime().module), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(sanitizer_error()), std::string::npos) << r.output;
  EXPECT_TRUE(exited_with(r.status, kSanitizerExitCode)) << describe_status(r.status) << "\n" << r.output;
}

}  // namespace
