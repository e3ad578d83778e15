// SPDX-License-Identifier: MIT
// src/handler/crash_codes.hpp — si_code in words, for the crash report. Signal context.
#pragma once

namespace sigrelay::detail {

struct code_text {
  int code;
  const char* name;     // "SEGV_MAPERR"
  const char* meaning;  // "address not mapped to object"
};

// Signal context. The signal-specific si_code `code` (> 0, not SI_KERNEL) of `signo`, or nullptr.
const code_text* specific_code(int signo, int code) noexcept;

// Signal context. The generic si_codes (SI_USER, SI_KERNEL, SI_QUEUE, SI_TKILL, ...), or nullptr.
const code_text* generic_code(int code) noexcept;

}  // namespace sigrelay::detail
