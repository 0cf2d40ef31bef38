# Registers the fuzz targets' short runs in ctest (label `fuzz`), included from
# tests/CMakeLists.txt. Optional: only when a clang++ that links libFuzzer
# with ASan and UBSan is found (Debian: clang, libclang-rt-14-dev).
#
# The targets need clang and the main build uses g++, so they are their own
# CMake project (tests/fuzz/CMakeLists.txt). Rather than nest it with
# ExternalProject (which would put a clang build inside every `cmake --build`),
# the test `fuzz:build` configures and builds it into <build>/fuzz with
# tests/fuzz/run.sh, and each `fuzz:<target>` test, which requires it as a
# fixture, runs that target's regressions, seeds and a fixed bounded run.

find_program(CC_FUZZ_CLANGXX NAMES clang++ clang++-14)
set(CC_FUZZ_ENABLED OFF)
if(CC_FUZZ_CLANGXX)
  set(probe_dir ${CMAKE_CURRENT_BINARY_DIR}/fuzz-probe)
  file(WRITE ${probe_dir}/probe.cpp
    "#include <cstddef>\n#include <cstdint>\n"
    "extern \"C\" int LLVMFuzzerTestOneInput(const uint8_t*, size_t) "
    "{ return 0; }\n")
  execute_process(
    COMMAND ${CC_FUZZ_CLANGXX} -fsanitize=fuzzer,address,undefined
            probe.cpp -o probe
    WORKING_DIRECTORY ${probe_dir}
    RESULT_VARIABLE probe_result OUTPUT_QUIET ERROR_QUIET)
  if(probe_result EQUAL 0)
    set(CC_FUZZ_ENABLED ON)
  endif()
endif()

if(NOT CC_FUZZ_ENABLED)
  message(STATUS "fuzz: no clang++ with libFuzzer (packages clang, "
                 "libclang-rt-14-dev); the fuzz tests are not registered")
  return()
endif()
message(STATUS "fuzz: ${CC_FUZZ_CLANGXX}; tests fuzz:* registered (label fuzz)")

set(CC_FUZZ_BUILD_DIR ${CMAKE_BINARY_DIR}/fuzz)
set(CC_FUZZ_RUNNER ${CMAKE_CURRENT_LIST_DIR}/run.sh)

add_test(NAME fuzz:build
  COMMAND bash ${CC_FUZZ_RUNNER} build ${CC_FUZZ_BUILD_DIR} ${CC_FUZZ_CLANGXX})
# A clean clang build of config/, wire/ and the targets: minutes on 2 cores.
set_tests_properties(fuzz:build PROPERTIES
  LABELS fuzz FIXTURES_SETUP cc_fuzz_build TIMEOUT 1800 COST 100
  RESOURCE_LOCK cc_heavy) # one heavy run at a time (tests/CMakeLists.txt)

foreach(target frames bodies base64 gzip bzip2 zstd config dest_path)
  add_test(NAME fuzz:${target}
    COMMAND bash ${CC_FUZZ_RUNNER} short ${CC_FUZZ_BUILD_DIR} ${target})
  # 20000 runs, at most 30 s of fuzzing, plus regressions, seeds and start-up.
  set_tests_properties(fuzz:${target} PROPERTIES
    LABELS fuzz FIXTURES_REQUIRED cc_fuzz_build TIMEOUT 300)
endforeach()
