#!/usr/bin/env bash
# Usage: tests/fuzz/run_fuzzers.sh BUILD_DIR SECONDS
#
# Runs every libFuzzer target BUILD_DIR/tests/fuzz/*_fuzz for SECONDS each over a scratch copy of
# its seed corpus tests/fuzz/corpus/NAME/ (NAME = target without "_fuzz"), so the checked-in corpus
# stays small and reviewed. Uses tests/fuzz/NAME.dict when present. Exits non-zero if a fuzzer finds
# a crash, leak, timeout or out-of-memory; reproducers are kept in BUILD_DIR/fuzz-artifacts/
# (replay one with: BUILD_DIR/tests/fuzz/NAME_fuzz FILE).
set -euo pipefail

if [[ $# -ne 2 || ! $2 =~ ^[0-9]+$ ]]; then
  echo "usage: $0 BUILD_DIR SECONDS" >&2
  exit 2
fi
build=$(cd "$1" && pwd)
seconds=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

shopt -s nullglob
fuzzers=()
for f in "$build"/tests/fuzz/*_fuzz; do
  [[ -f $f && -x $f ]] && fuzzers+=("$f")
done
if [[ ${#fuzzers[@]} -eq 0 ]]; then
  echo "no fuzzers in $build/tests/fuzz: configure with CC=clang CXX=clang++ -DSUANLI_FUZZ=ON" \
       "and build them (e.g. ninja gguf_fuzz)" >&2
  exit 1
fi

artifacts="$build/fuzz-artifacts"
mkdir -p "$artifacts"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# One fuzzer per core at a time (each is single-threaded): the same time per target, sooner.
run_one() {
  local fuzzer=$1 name short corpus
  name=$(basename "$fuzzer")
  short=${name%_fuzz}
  corpus="$work/$short"
  mkdir -p "$corpus"
  if [[ -d $here/corpus/$short ]]; then
    cp -R "$here/corpus/$short/." "$corpus/"
  fi
  local args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
              -artifact_prefix="$artifacts/$short-")
  if [[ -f $here/$short.dict ]]; then
    args+=(-dict="$here/$short.dict")
  fi
  {
    echo "== $name: ${seconds}s over $(ls "$corpus" | wc -l) seed files"
    if "$fuzzer" "${args[@]}" "$corpus" >"$work/$short.log" 2>&1; then
      grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|Done)|cov: ' "$work/$short.log" \
        | tail -n 4 || true
      echo "== $name: OK ($(ls "$corpus" | wc -l) corpus files after the run)"
    else
      tail -n 60 "$work/$short.log"
      echo "== $name: FAILED (artifacts in $artifacts)"
      return 1
    fi
  } >"$work/$short.report" 2>&1
}

jobs=$(nproc 2>/dev/null || echo 1)
failed=0
for ((i = 0; i < ${#fuzzers[@]}; i += jobs)); do
  batch=("${fuzzers[@]:i:jobs}")
  pids=()
  for fuzzer in "${batch[@]}"; do
    run_one "$fuzzer" &
    pids+=($!)
  done
  for k in "${!pids[@]}"; do
    wait "${pids[$k]}" || failed=1
    short=$(basename "${batch[$k]}")
    cat "$work/${short%_fuzz}.report"
  done
done
[[ $failed -eq 0 ]] || echo "a fuzzer failed (artifacts in $artifacts)" >&2
exit $failed
