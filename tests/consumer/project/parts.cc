// SPDX-License-Identifier: MIT
// A library of the consumer project that links sigrelay publicly (and is installed with an export
// set): what a parent project that is itself a package does.
#include "parts.hpp"

#include <sigrelay/registry.hpp>

std::string_view consumer_signal_name(int signo) { return sigrelay::signal_name(signo); }
