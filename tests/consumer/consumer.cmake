# tests/consumer/consumer.cmake — the consumer tests' driver, run with `cmake -P`.
#
#   -DSTEP=install   BUILD_DIR, PREFIX, LIBDIR, INCLUDEDIR: installs the build tree to PREFIX (fresh)
#                    and checks what the install tree holds.
#   -DSTEP=consumer  MODE, PROJECT_DIR, WORK_DIR, SOURCE_DIR, PREFIX (find_package mode),
#                    CXX_COMPILER, CXX_FLAGS, LINKER_FLAGS, BUILD_TYPE, MAKE_PROGRAM, JOBS:
#                    configures, builds and runs tests/consumer/project in WORK_DIR (fresh).
#                    COMPONENTS (find_package mode, "|"-separated): only configures, requiring
#                    those package components.
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
      "${PREFIX}/${INCLUDEDIR}/sigrelay/signals.hpp")
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
  # Only the public API is installed: no private headers, no test or benchmark programs.
  file(GLOB_RECURSE installed RELATIVE "${PREFIX}" "${PREFIX}/*")
  set(unexpected "${installed}")
  list(FILTER unexpected INCLUDE REGEX "(^bin/|/(handler|platform|support)/|/(state|sink|detail|linux|child)\\.hpp$|gtest|gmock)")
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
  if(MODE STREQUAL "find_package")
    list(APPEND configure "-DCMAKE_PREFIX_PATH=${PREFIX}" "-DEXPECTED_PREFIX=${PREFIX}")
    if(COMPONENTS)
      list(APPEND configure "-DCOMPONENTS=${COMPONENTS}")
    endif()
  else()
    list(APPEND configure "-DSIGRELAY_SOURCE_DIR=${SOURCE_DIR}")
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
else()
  message(FATAL_ERROR "consumer.cmake: STEP must be install or consumer, not '${STEP}'")
endif()
