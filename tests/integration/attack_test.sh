#!/usr/bin/env bash
# Black-box attacks on a worker by a stranger without the pool token (tests/support/flood.cc):
# big unary bodies, hundreds of streams, big held streams, big handshakes, many connections. Each
# must leave the worker's peak memory within idle + 64 MiB and the worker serving an honest head.
# Usage: attack_test.sh PATH/TO/suanli PATH/TO/flood
set -uo pipefail
SUANLI=$1
FLOOD=$2
. "$(dirname "$0")/test_lib.sh"
export SUANLI_TOKEN=attack-test-token-1
# Under AddressSanitizer freed blocks wait in a quarantine (256 MiB by default) that would count
# as the worker's memory: keep it small so the ASan run measures the same thing.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=4:thread_local_quarantine_size_kb=64"

. "$(dirname "$0")/worker_lib.sh"

"$SUANLI" model synth -o "$tmp/m.gguf" --shape tiny --type q4_0 >/dev/null 2>&1 || bad "model synth"
start_worker w1 || exit 1
w1=$addr
wpid=${pids[-1]}
honest() {
  "$SUANLI" generate -m "$tmp/m.gguf" --workers "$w1" -p "Once upon a time" -n 8 --temp 0 \
    >"$tmp/out" 2>"$tmp/err"
}
honest && ok "an honest head is served" || bad "honest head before the floods: $(tail -2 "$tmp/err")"
cp "$tmp/out" "$tmp/ref"
kib() { awk -v k="$1" '$1 == k":" {print $2}' "/proc/$wpid/status"; }
idle=$(kib VmRSS)
ok "worker idle RSS $((idle / 1024)) MiB"
limit=$((64 * 1024))

# flood MODE N MIB: the worker's peak RSS during it (VmHWM, reset first) against idle + 64 MiB.
flood() {
  echo 5 >"/proc/$wpid/clear_refs" 2>/dev/null
  local line
  line=$("$FLOOD" "$w1" "$1" "$2" "$3" 3 2>&1)
  local peak
  peak=$(kib VmHWM)
  local grew=$((peak - idle))
  if [ "$grew" -le "$limit" ]; then
    ok "$1 x$2 of $3 MiB: peak RSS idle + $((grew / 1024)) MiB ($line)"
  else
    bad "$1 x$2 of $3 MiB: peak RSS idle + $((grew / 1024)) MiB, over 64 ($line)"
  fi
  kill -0 "$wpid" 2>/dev/null || { bad "the worker died"; exit 1; }
  if honest && cmp -s "$tmp/out" "$tmp/ref"; then
    ok "served an honest head after it"
  else
    bad "honest head after $1: $(tail -2 "$tmp/err")"
  fi
}
flood unary 16 32
flood hello 16 32
flood stream 200 1
flood stream 4 100
flood conns 64 1

if [ "$fails" -eq 0 ]; then echo "attack_test: all passed"; else echo "attack_test: $fails failed"; fi
[ "$fails" -eq 0 ]
