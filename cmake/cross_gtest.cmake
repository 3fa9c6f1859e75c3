# Cross builds: Debian ships GoogleTest for the host only, so build it from the sources that
# libgtest-dev installs (/usr/src/googletest) and let find_package(GTest) find those targets.
# Include this before find_package(GTest) in the top-level CMakeLists.txt.
if(CMAKE_CROSSCOMPILING AND SUANLI_BUILD_TESTS AND PROJECT_NAME STREQUAL "suanli"
   AND NOT TARGET GTest::gtest)
  set(_gtest_src /usr/src/googletest)
  if(NOT EXISTS ${_gtest_src}/CMakeLists.txt)
    message(FATAL_ERROR "cross build needs GoogleTest sources in ${_gtest_src} (apt install libgtest-dev)")
  endif()
  set(BUILD_GMOCK ON CACHE BOOL "" FORCE)
  set(INSTALL_GTEST OFF CACHE BOOL "" FORCE)
  add_subdirectory(${_gtest_src} ${CMAKE_BINARY_DIR}/_cross_googletest EXCLUDE_FROM_ALL)
  # GCC 12 reports a false -Wrestrict inside libstdc++ for GoogleTest's own sources.
  foreach(_t gtest gtest_main gmock gmock_main)
    target_compile_options(${_t} PRIVATE -w)
  endforeach()
  foreach(_t gtest gtest_main gmock gmock_main)
    if(NOT TARGET GTest::${_t})
      add_library(GTest::${_t} ALIAS ${_t})
    endif()
  endforeach()
  # A config file that reports the targets above, so find_package(GTest REQUIRED) succeeds.
  set(_cfg ${CMAKE_BINARY_DIR}/_cross_gtest_config)
  file(WRITE ${_cfg}/GTestConfig.cmake "set(GTest_FOUND TRUE)\n")
  file(WRITE ${_cfg}/GTestConfigVersion.cmake
       "set(PACKAGE_VERSION 1.12.1)\nset(PACKAGE_VERSION_COMPATIBLE TRUE)\n")
  set(GTest_DIR ${_cfg} CACHE PATH "" FORCE)
endif()
