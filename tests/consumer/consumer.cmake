# SPDX-License-Identifier: MIT
# tests/consumer/consumer.cmake — the consumer tests' driver, run with `cmake -P`.
#
#   -DSTEP=install   BUILD_DIR, PREFIX, LIBDIR, INCLUDEDIR: installs the build tree to PREFIX (fresh)
#                    and checks what the install tree holds.
#   -DSTEP=consumer  MODE, PROJECT_DIR, WORK_DIR, SOURCE_DIR, PREFIX (find_package mode),
#                    CXX_COMPILER, CXX_FLAGS, LINKER_FLAGS, BUILD_TYPE, MAKE_PROGRAM, JOBS:
#                    configures, builds and runs tests/consumer/project in WORK_DIR (fresh), then
#                    installs it (the project installs its own targets with an export set).
#                    COMPONENTS (find_package mode, "|"-separated): only configures, requiring
#                    those package components.
#                    ARGS ("|"-separated): more arguments for the configure step (-DBUILD_SHARED_LIBS=ON).
#                    EXPECT_FAILURE (a regex): the configure step must fail, with output matching it.
#                    SHARED=ON (subdirectory mode with -DBUILD_SHARED_LIBS=ON): checks libsigrelay.so's
#                    SONAME, that the program needs it, and its exports: no sigrelay::detail symbol,
#                    and every public symbol that STATIC_LIB (a static libsigrelay.a) defines.
#   -DSTEP=pkgconfig PREFIX, LIBDIR, PROJECT_DIR, WORK_DIR, CXX_COMPILER, CXX_FLAGS, LINKER_FLAGS:
#                    builds the project's program with `pkg-config --cflags --libs sigrelay` from the
#                    install tree in PREFIX, and runs it; then the C99 program c_consumer.c with
#                    C_COMPILER and `pkg-config --static`.
#   -DSTEP=headers   SOURCE_DIR, BINARY_INCLUDE_DIR, ADAPTERS ("|"-separated), CXX_COMPILER: compiles
#                    each public header (and each installed detail/ header) alone, in C++17 and in
#                    C++20. In C++17, the C++20-only headers must fail with "needs C++20" and every
#                    other one must compile; in C++20 all must.
#                    Also: the umbrella <sigrelay/sigrelay.hpp> includes every core header.
cmake_minimum_required(VERSION 3.20)

function(run)
  string(REPLACE ";" " " shown "${ARGN}")
  message(STATUS "consumer: ${shown}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out
                  ECHO_OUTPUT_VARIABLE ECHO_ERROR_VARIABLE)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "consumer: failed (${rc}): ${shown}")
  endif()
  set(run_output "${out}" PARENT_SCOPE)
endfunction()

if(STEP STREQUAL "install")
  file(REMOVE_RECURSE "${PREFIX}")
  run("${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${PREFIX}")
  set(cmake_dir "${PREFIX}/${LIBDIR}/cmake/sigrelay")
  set(missing "")
  foreach(f IN ITEMS
      "${cmake_dir}/sigrelay-config.cmake" "${cmake_dir}/sigrelay-config-version.cmake"
      "${cmake_dir}/sigrelay-targets.cmake"
      "${PREFIX}/${INCLUDEDIR}/sigrelay/registry.hpp" "${PREFIX}/${INCLUDEDIR}/sigrelay/relays.hpp"
      "${PREFIX}/${INCLUDEDIR}/sigrelay/signals.hpp" "${PREFIX}/${INCLUDEDIR}/sigrelay/sigrelay.hpp"
      "${PREFIX}/${INCLUDEDIR}/sigrelay/version.hpp" "${PREFIX}/${INCLUDEDIR}/sigrelay/export.hpp"
      "${PREFIX}/${INCLUDEDIR}/sigrelay.h"
      "${PREFIX}/${LIBDIR}/pkgconfig/sigrelay.pc")
    if(NOT EXISTS "${f}")
      list(APPEND missing "${f}")
    endif()
  endforeach()
  file(GLOB libs "${PREFIX}/${LIBDIR}/libsigrelay.a" "${PREFIX}/${LIBDIR}/libsigrelay.so*")
  if(NOT libs)
    list(APPEND missing "${PREFIX}/${LIBDIR}/libsigrelay.{a,so}")
  endif()
  if(missing)
    list(JOIN missing "\n  " missing)
    message(FATAL_ERROR "consumer: the install tree lacks\n  ${missing}")
  endif()
  # Only the public API (and the sigrelay program) is installed: no private headers, no test or
  # benchmark programs.
  file(GLOB_RECURSE installed RELATIVE "${PREFIX}" "${PREFIX}/*")
  set(unexpected "${installed}")
  list(FILTER unexpected INCLUDE REGEX "(^bin/|/(handler|platform|support)/|/(state|sink|detail|linux|child)\\.hpp$|gtest|gmock)")
  list(REMOVE_ITEM unexpected "bin/sigrelay")  # the sigrelay program, when the tools are built
  if(unexpected)
    message(FATAL_ERROR "consumer: the install tree holds more than the library's public part: ${unexpected}")
  endif()
  list(JOIN installed "\n  " installed)
  message(STATUS "consumer: installed\n  ${installed}")
elseif(STEP STREQUAL "consumer")
  file(REMOVE_RECURSE "${WORK_DIR}")
  set(configure "${CMAKE_COMMAND}" -S "${PROJECT_DIR}" -B "${WORK_DIR}" -G Ninja
      "-DMODE=${MODE}" "-DCMAKE_BUILD_TYPE=${BUILD_TYPE}" "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}"
      "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}" "-DCMAKE_EXE_LINKER_FLAGS=${LINKER_FLAGS}"
      "-DCMAKE_SHARED_LINKER_FLAGS=${LINKER_FLAGS}")
  if(MAKE_PROGRAM)
    list(APPEND configure "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
  endif()
  if(ARGS)
    string(REPLACE "|" ";" ARGS "${ARGS}")
    list(APPEND configure ${ARGS})
  endif()
  if(MODE STREQUAL "find_package")
    list(APPEND configure "-DCMAKE_PREFIX_PATH=${PREFIX}" "-DEXPECTED_PREFIX=${PREFIX}")
    if(COMPONENTS)
      list(APPEND configure "-DCOMPONENTS=${COMPONENTS}")
    endif()
  else()
    list(APPEND configure "-DSIGRELAY_SOURCE_DIR=${SOURCE_DIR}")
  endif()
  if(EXPECT_FAILURE)
    string(REPLACE ";" " " shown "${configure}")
    message(STATUS "consumer: ${shown} (must fail)")
    execute_process(COMMAND ${configure} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out
                    ECHO_OUTPUT_VARIABLE ECHO_ERROR_VARIABLE)
    if(rc EQUAL 0)
      message(FATAL_ERROR "consumer: the configure step succeeded; it must fail with '${EXPECT_FAILURE}'")
    endif()
    if(NOT out MATCHES "${EXPECT_FAILURE}")
      message(FATAL_ERROR "consumer: the configure step failed without saying '${EXPECT_FAILURE}'")
    endif()
    message(STATUS "consumer: failed as it must, saying '${CMAKE_MATCH_0}'")
    return()
  endif()
  run(${configure})
  if(COMPONENTS)
    return()  # the components' targets were found and checked at configure time
  endif()
  # Only what the consumer needs: the small core library and the program.
  run("${CMAKE_COMMAND}" --build "${WORK_DIR}" --target consumer --parallel ${JOBS})
  run("${WORK_DIR}/consumer")
  if(NOT run_output MATCHES "^OK\n$")
    message(FATAL_ERROR "consumer: expected OK, got '${run_output}'")
  endif()
  # The project installs its own targets with an export set, one of them linking sigrelay.
  run("${CMAKE_COMMAND}" --install "${WORK_DIR}" --prefix "${WORK_DIR}/installed")
  file(GLOB_RECURSE exported "${WORK_DIR}/installed/*/sigrelay_consumer-targets.cmake")
  if(NOT exported)
    message(FATAL_ERROR "consumer: the project's own export (sigrelay_consumer-targets.cmake) was not installed")
  endif()
  if(SHARED)
    file(GLOB sonames "${WORK_DIR}/sigrelay/libsigrelay.so.*")
    file(GLOB lib "${WORK_DIR}/sigrelay/libsigrelay.so")
    if(NOT lib)
      message(FATAL_ERROR "consumer: no shared libsigrelay.so in ${WORK_DIR}/sigrelay")
    endif()
    run(readelf -d "${lib}")
    if(NOT run_output MATCHES "SONAME\\)[^\n]*\\[libsigrelay\\.so\\.0\\]")
      message(FATAL_ERROR "consumer: libsigrelay.so's SONAME is not libsigrelay.so.0")
    endif()
    run(readelf -d "${WORK_DIR}/consumer")
    if(NOT run_output MATCHES "NEEDED\\)[^\n]*\\[libsigrelay\\.so\\.0\\]")
      message(FATAL_ERROR "consumer: the program does not load libsigrelay.so.0")
    endif()
    # Exports: the public API, nothing of the internals.
    run(nm -D -C --defined-only "${lib}")
    string(REPLACE "\n" ";" exports "${run_output}")
    set(leaked "${exports}")
    list(FILTER leaked INCLUDE REGEX " sigrelay::detail::")
    if(leaked)
      list(JOIN leaked "\n  " leaked)
      message(FATAL_ERROR "consumer: libsigrelay.so exports internals:\n  ${leaked}")
    endif()
    if(STATIC_LIB)
      # Every public (non-detail, non-inline) symbol the library defines must be exported: a
      # function declared without SIGRELAY_EXPORT would link statically and fail with the .so.
      run(nm -C --defined-only --extern-only "${STATIC_LIB}")
      string(REPLACE "\n" ";" defined "${run_output}")
      list(FILTER defined INCLUDE REGEX "^[0-9a-f]+ [TDBR] sigrelay::")
      list(FILTER defined EXCLUDE REGEX "^[0-9a-f]+ [TDBR] sigrelay::detail::")
      list(TRANSFORM defined REPLACE "^[0-9a-f]+ [TDBR] " "")
      list(TRANSFORM exports REPLACE "^[0-9a-f]+ [A-Za-z] " "")
      list(REMOVE_DUPLICATES defined)
      set(unexported "")
      foreach(sym IN LISTS defined)
        if(NOT sym IN_LIST exports)
          list(APPEND unexported "${sym}")
        endif()
      endforeach()
      if(unexported)
        list(JOIN unexported "\n  " unexported)
        message(FATAL_ERROR "consumer: public symbols without SIGRELAY_EXPORT (hidden in libsigrelay.so):\n  ${unexported}")
      endif()
      list(LENGTH defined checked)
      message(STATUS "consumer: libsigrelay.so exports all ${checked} public symbols, no internals")
    endif()
  endif()
elseif(STEP STREQUAL "pkgconfig")
  file(REMOVE_RECURSE "${WORK_DIR}")
  file(MAKE_DIRECTORY "${WORK_DIR}")
  set(ENV{PKG_CONFIG_PATH} "${PREFIX}/${LIBDIR}/pkgconfig")
  run(pkg-config --modversion sigrelay)
  run(pkg-config --cflags --libs sigrelay)
  string(STRIP "${run_output}" pc_flags)
  separate_arguments(pc_flags UNIX_COMMAND "${pc_flags}")
  if(NOT pc_flags MATCHES "-I${PREFIX}/")
    message(FATAL_ERROR "consumer: pkg-config's flags (${pc_flags}) do not point into ${PREFIX}")
  endif()
  separate_arguments(cxx_flags UNIX_COMMAND "${CXX_FLAGS}")
  separate_arguments(link_flags UNIX_COMMAND "${LINKER_FLAGS}")
  run("${CXX_COMPILER}" -std=c++17 -Wall -Wextra -Wpedantic -Werror ${cxx_flags}
      "${PROJECT_DIR}/main.cc" "${PROJECT_DIR}/parts.cc" -I "${PROJECT_DIR}"
      -o "${WORK_DIR}/consumer" ${pc_flags} ${link_flags})
  run("${WORK_DIR}/consumer")
  if(NOT run_output MATCHES "^OK\n$")
    message(FATAL_ERROR "consumer: expected OK, got '${run_output}'")
  endif()
  # The C API from C99, with the static library's private libraries (the C++ runtime).
  run(pkg-config --static --cflags --libs sigrelay)
  string(STRIP "${run_output}" pc_static_flags)
  separate_arguments(pc_static_flags UNIX_COMMAND "${pc_static_flags}")
  run("${C_COMPILER}" -std=c99 -Wall -Wextra -Wpedantic -Werror ${cxx_flags}
      "${PROJECT_DIR}/c_consumer.c" -o "${WORK_DIR}/c_consumer" ${pc_static_flags} ${link_flags})
  run("${WORK_DIR}/c_consumer")
  if(NOT run_output MATCHES "^OK SIGUSR1\n$")
    message(FATAL_ERROR "consumer: expected 'OK SIGUSR1' from the C program, got '${run_output}'")
  endif()
elseif(STEP STREQUAL "headers")
  # The C++20-only headers: included in C++17, each must stop with "needs C++20".
  set(cxx20_only termination.hpp coro.hpp)
  # Headers of optional dependencies, which the umbrella header must not pull in.
  set(optional_deps fmt.hpp)
  set(headers "")
  file(GLOB core RELATIVE "${SOURCE_DIR}/include/sigrelay" "${SOURCE_DIR}/include/sigrelay/*.hpp")
  set(includes -I "${SOURCE_DIR}/include" -I "${BINARY_INCLUDE_DIR}")
  string(REPLACE "|" ";" ADAPTERS "${ADAPTERS}")
  foreach(adapter IN LISTS ADAPTERS)
    list(APPEND includes -I "${SOURCE_DIR}/adapters/${adapter}/include")
  endforeach()
  # The umbrella header includes every core header.
  file(READ "${SOURCE_DIR}/include/sigrelay/sigrelay.hpp" umbrella)
  foreach(h IN LISTS core ITEMS version.hpp)
    if(NOT h STREQUAL "sigrelay.hpp" AND NOT h IN_LIST optional_deps
       AND NOT umbrella MATCHES "#include \"sigrelay/${h}\"")
      message(FATAL_ERROR "consumer: <sigrelay/sigrelay.hpp> does not include sigrelay/${h}")
    endif()
  endforeach()
  list(APPEND core version.hpp)
  # The installed detail headers (not API, but an installed header must compile alone too).
  file(GLOB details RELATIVE "${SOURCE_DIR}/include/sigrelay" "${SOURCE_DIR}/include/sigrelay/detail/*.hpp")
  list(APPEND core ${details})
  foreach(adapter IN LISTS ADAPTERS)
    file(GLOB more RELATIVE "${SOURCE_DIR}/adapters/${adapter}/include/sigrelay"
         "${SOURCE_DIR}/adapters/${adapter}/include/sigrelay/*.hpp")
    list(APPEND core ${more})
  endforeach()
  file(REMOVE_RECURSE "${WORK_DIR}")
  file(MAKE_DIRECTORY "${WORK_DIR}")
  set(failures "")
  foreach(h IN LISTS core)
    foreach(std IN ITEMS 17 20)
      string(REPLACE "/" "_" name "${h}")
      set(source "${WORK_DIR}/include_${name}.cc")
      file(WRITE "${source}" "#include <sigrelay/${h}>\n")
      execute_process(COMMAND "${CXX_COMPILER}" -std=c++${std} -fsyntax-only -Wall -Wextra -Wpedantic -Werror
                              ${includes} "${source}"
                      RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
      if(std STREQUAL "17" AND h IN_LIST cxx20_only)
        if(rc EQUAL 0)
          list(APPEND failures "sigrelay/${h} compiles silently in C++17 (it must stop with \"needs C++20\")")
        elseif(NOT out MATCHES "#error \"sigrelay/${h} needs C\\+\\+20")
          list(APPEND failures "sigrelay/${h} fails in C++17 without saying \"needs C++20\":\n${out}")
        else()
          message(STATUS "consumer: sigrelay/${h} in C++17: needs C++20 (as it must)")
        endif()
      elseif(NOT rc EQUAL 0)
        list(APPEND failures "sigrelay/${h} does not compile alone in C++${std}:\n${out}")
      else()
        message(STATUS "consumer: sigrelay/${h} in C++${std}: compiles alone")
      endif()
    endforeach()
  endforeach()
  if(failures)
    list(JOIN failures "\n" failures)
    message(FATAL_ERROR "consumer: ${failures}")
  endif()
else()
  message(FATAL_ERROR "consumer.cmake: STEP must be install, consumer, pkgconfig or headers, not '${STEP}'")
endif()
