// SPDX-License-Identifier: MIT
// See parts.cc.
#pragma once

#include <string_view>

std::string_view consumer_signal_name(int signo);
