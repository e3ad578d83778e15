// SPDX-License-Identifier: MIT
// sigrelay/export.hpp — SIGRELAY_EXPORT marks the public API of libsigrelay.
//
// A shared build (BUILD_SHARED_LIBS=ON) compiles the library with -fvisibility=hidden: only what
// SIGRELAY_EXPORT marks (the functions and classes declared in <sigrelay/...> headers) is exported
// from libsigrelay.so; the internals (sigrelay::detail, src/) are not. Every public function that is
// not inline, and every public class with members defined in the library, carries it. In a static
// build the mark changes nothing (the library keeps the default visibility).
#pragma once

#if defined(__GNUC__) || defined(__clang__)
#define SIGRELAY_EXPORT __attribute__((visibility("default")))
#else
#define SIGRELAY_EXPORT
#endif
