// Locating ../shared/testdata from tests: $SUANLI_TESTDATA (set by ctest), else
// $SUANLI_SOURCE_DIR/../shared/testdata. Tests that need it GTEST_SKIP when it is absent.
#pragma once

#include <sys/stat.h>

#include <cstdlib>
#include <string>

namespace suanli::testing {

inline std::string TestDataDir() {
  std::string dir;
  if (const char* d = std::getenv("SUANLI_TESTDATA"); d && *d) {
    dir = d;
  } else if (const char* s = std::getenv("SUANLI_SOURCE_DIR"); s && *s) {
    dir = std::string(s) + "/../shared/testdata";
  } else {
    dir = "../shared/testdata";
  }
  struct stat st;
  return ::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode) ? dir : std::string();
}

}  // namespace suanli::testing

#define SUANLI_REQUIRE_TESTDATA(var)                                                  \
  std::string var = ::suanli::testing::TestDataDir();                                 \
  if (var.empty())                                                                    \
    GTEST_SKIP() << "shared test data not found (set SUANLI_TESTDATA or place it at " \
                    "../shared/testdata beside the clone)";
