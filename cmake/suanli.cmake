# Build helpers: one function each to add a library, a test and a benchmark, so every module's
# CMakeLists.txt stays a few lines long and all targets share the same warnings and sanitizers.

set(SUANLI_WARNINGS -Wall -Wextra -Wno-unused-parameter)
# Floating point exactly as written: GCC (even with -std=c++20) and clang otherwise fuse a * b + c
# into an FMA wherever the target has one, so the same source would round differently on x86
# (no FMA in the baseline ISA) and aarch64, and between target clones. Kernels fuse explicitly
# (std::fma, FMA intrinsics) where their canonical order says so (kernels/kernels.h).
set(SUANLI_FP_FLAGS -ffp-contract=off)

function(suanli_common_flags target)
  target_compile_options(${target} PRIVATE ${SUANLI_WARNINGS} ${SUANLI_FP_FLAGS})
  if(SUANLI_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=address,undefined -fno-omit-frame-pointer
                                             -fno-sanitize-recover=undefined)
    target_link_options(${target} PRIVATE -fsanitize=address,undefined)
  endif()
endfunction()

# suanli_library(NAME SRCS a.cc b.cc DEPS other_lib)
function(suanli_library name)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SRCS})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
  suanli_common_flags(${name})
  if(SUANLI_SANITIZE)
    target_link_options(${name} INTERFACE -fsanitize=address,undefined)
  endif()
endfunction()

# suanli_test(NAME SRCS foo_test.cc DEPS lib LABELS unit)
function(suanli_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SRCS;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SRCS})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main)
  suanli_common_flags(${name})
  if(SUANLI_STATIC)
    target_link_options(${name} PRIVATE -static)
  endif()
  add_test(NAME ${name} COMMAND ${name})
  if(NOT ARG_LABELS)
    set(ARG_LABELS unit)
  endif()
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 600)
  endif()
  set_tests_properties(${name} PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT}
                       ENVIRONMENT "SUANLI_TESTDATA=${SUANLI_TESTDATA};SUANLI_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
endfunction()

# suanli_bench(NAME SRCS foo_bench.cc DEPS lib): a plain executable that prints its own ratios.
function(suanli_bench name)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SRCS})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})
  suanli_common_flags(${name})
endfunction()

# Test data beside the clone (../shared/testdata); tests that need it skip with a message if absent.
if(NOT SUANLI_TESTDATA)
  get_filename_component(_td "${PROJECT_SOURCE_DIR}/../shared/testdata" ABSOLUTE)
  set(SUANLI_TESTDATA "${_td}" CACHE PATH "Directory of shared test data")
endif()
