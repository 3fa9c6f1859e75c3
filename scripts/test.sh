#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: installs what is missing, then
#   1. Release build: every test (unit, model parity against ../shared/testdata, integration);
#   2. clang ASan+UBSan build, which also builds the fuzzers: unit and model tests, then each
#      fuzzer for SUANLI_FUZZ_SECONDS (default 60) over its seed corpus;
#   3. aarch64 cross build of the kernel tests and the base tests (deterministic math), run under
#      qemu-user (NEON/dotprod kernels; the same bits as x86).
# Ends with one line "tests: N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test || exit 1
jobs=$(nproc)
passed=0
failed=0
# Runs ctest and adds its counts to the totals.
count() {
  local log=$1
  local line
  line=$(grep -E "tests passed, [0-9]+ tests failed out of [0-9]+" "$log" | tail -1)
  if [ -z "$line" ]; then
    failed=$((failed + 1))
    return
  fi
  local total nfail
  total=$(sed -E 's/.* out of ([0-9]+).*/\1/' <<<"$line")
  nfail=$(sed -E 's/.*tests passed, ([0-9]+) tests failed.*/\1/' <<<"$line")
  passed=$((passed + total - nfail))
  failed=$((failed + nfail))
}
stage() { echo; echo "=== $* ==="; }

stage "release build"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DSUANLI_BUILD_TESTS=ON >/dev/null &&
  cmake --build build -j "$jobs" || { echo "release build failed"; echo "tests: 0 passed, 1 failed"; exit 1; }
stage "release tests"
ctest --test-dir build --output-on-failure -j "$jobs" 2>&1 | tee build/ctest.log
count build/ctest.log

stage "sanitizer build (clang, ASan+UBSan, fuzzers)"
if CC=clang CXX=clang++ cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
     -DSUANLI_SANITIZE=ON -DSUANLI_FUZZ=ON -DSUANLI_BUILD_BENCH=OFF >/dev/null &&
   cmake --build build-asan -j "$jobs"; then
  stage "sanitizer tests"
  ASAN_OPTIONS=detect_leaks=1 ctest --test-dir build-asan --output-on-failure -j "$jobs" \
    -L "unit|model|pool|serve" 2>&1 | tee build-asan/ctest.log
  count build-asan/ctest.log
  stage "fuzzing"
  if tests/fuzz/run_fuzzers.sh build-asan "${SUANLI_FUZZ_SECONDS:-60}"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
  fi
else
  echo "sanitizer build failed"
  failed=$((failed + 1))
fi

stage "aarch64 kernel tests under qemu"
if [ -f cmake/aarch64-linux-gnu.cmake ]; then
  if cmake -S . -B build-arm -G Ninja -DCMAKE_BUILD_TYPE=Release \
       -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake -DSUANLI_STATIC=ON \
       -DSUANLI_BUILD_BENCH=OFF >/dev/null &&
     cmake --build build-arm -j "$jobs" --target kernels_test base_test; then
    testdata=$(cd ../shared/testdata 2>/dev/null && pwd)
    for t in kernels/kernels_test base/base_test; do
      if SUANLI_TESTDATA=$testdata qemu-aarch64 build-arm/tests/unit/$t --gtest_brief=1; then
        passed=$((passed + 1))
      else
        failed=$((failed + 1))
      fi
    done
  else
    echo "aarch64 build failed"
    failed=$((failed + 1))
  fi
fi

echo
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
