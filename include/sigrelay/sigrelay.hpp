// sigrelay/sigrelay.hpp — the whole core API in one include (target sigrelay::sigrelay).
//
//   #include <sigrelay/sigrelay.hpp>
//
// Includes every header of the core library: the registry, the relays, `signals`, the dispatcher,
// spawn attributes and the version macros; and, in C++20 (with <stop_token>), the graceful
// shutdown of <sigrelay/shutdown.hpp> too (in C++17 it is left out; including it directly is an
// error). The adapters (<sigrelay/asio.hpp>, uv.hpp, event.hpp, coro.hpp) are separate targets
// and are not included.
#pragma once

#include "sigrelay/dispatcher.hpp"
#include "sigrelay/export.hpp"
#include "sigrelay/registry.hpp"
#include "sigrelay/relays.hpp"
#include "sigrelay/signals.hpp"
#include "sigrelay/spawn.hpp"
#include "sigrelay/version.hpp"

#if __cplusplus >= 202002L && __has_include(<stop_token>)
#include "sigrelay/shutdown.hpp"
#endif
