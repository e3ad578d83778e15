// SPDX-License-Identifier: MIT
// sigrelay/sigrelay.hpp — the whole core API in one include (target sigrelay::sigrelay).
//
//   #include <sigrelay/sigrelay.hpp>
//
// Includes every header of the core library: the registry, the relays, `signals`, the child
// watcher, the crash reports, the dispatcher, describe(), spawn attributes and the version macros;
// and, in C++20 (with <stop_token>), the graceful termination of <sigrelay/termination.hpp> too (in
// C++17 it is left out; including it directly is an error). Not included: <sigrelay/fmt.hpp>, which needs
// {fmt}, and the adapters (<sigrelay/asio.hpp>, uv.hpp, event.hpp, coro.hpp), which are separate targets.
#pragma once

#include "sigrelay/children.hpp"
#include "sigrelay/crash.hpp"
#include "sigrelay/describe.hpp"
#include "sigrelay/dispatcher.hpp"
#include "sigrelay/export.hpp"
#include "sigrelay/registry.hpp"
#include "sigrelay/relays.hpp"
#include "sigrelay/signals.hpp"
#include "sigrelay/spawn.hpp"
#include "sigrelay/version.hpp"

#if __cplusplus >= 202002L && __has_include(<stop_token>)
#include "sigrelay/termination.hpp"
#endif
