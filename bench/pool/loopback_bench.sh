#!/usr/bin/env bash
# Pool on loopback vs one device, same file, 1 thread per worker and for the single device.
# Runs the single device and each pool configuration alternately for several rounds (this VM's
# speed drifts by ±15% over minutes) and reports the best of each with the ratios the issue sets:
# decode >= 0.95x and prefill >= 0.85x one device for 2 and 3 workers; --parallel 8 through 2
# workers >= 1.6x one stream.
# Usage: bench/pool/loopback_bench.sh [MODEL.gguf] [ROUNDS]   (default: a synthesized 1B Q4_0)
set -euo pipefail
SUANLI=${SUANLI:-build/suanli}
rounds=${2:-3}
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
export SUANLI_TOKEN=loopback-bench-token
model=${1:-}
if [ -z "$model" ]; then
  model=${SUANLI_CACHE_DIR:-$HOME/.cache/suanli}/bench-1b-q4_0-pool.gguf
  [ -f "$model" ] || "$SUANLI" model synth -o "$model" --shape 1b --type q4_0 >&2
fi
mdir=$(dirname "$(readlink -f "$model")")
addrs=()
for i in 1 2 3; do
  "$SUANLI" worker --listen 127.0.0.1:0 -t 1 --model-dir "$mdir" --cache-dir "$work/w$i" \
    >"$work/w$i.log" 2>&1 &
  pids+=($!)
done
for i in 1 2 3; do
  for _ in $(seq 1 600); do
    a=$(sed -n 's/^suanli worker: listening on \([0-9.:]*\).*/\1/p' "$work/w$i.log")
    [ -n "$a" ] && break
    sleep 0.1
  done
  addrs+=("$a")
done
layers=$("$SUANLI" inspect "$model" | awk '/block_count/ && !n {print $2; n = 1}')
half=$((layers / 2))
third=$((layers / 3))
split2="$half,$((layers - half))"
split3="$((layers - 2 * third)),$third,$third"
best() { python3 -c "import sys; print(max(float(x) for x in sys.argv[1:]))" "$@"; }
declare -A pp tg
run() {  # run NAME PROMPT GEN ARGS...: appends prefill/decode tok/s of one bench run
  local name=$1 np=$2 ng=$3
  shift 3
  local j
  j=$("$SUANLI" bench -m "$model" -p "$np" -n "$ng" -r 1 --json "$@" 2>/dev/null | tail -1)
  pp[$name]+=" $(sed -E 's/.*"prefill_tok_s":([0-9.e+-]+).*/\1/' <<<"$j")"
  tg[$name]+=" $(sed -E 's/.*"decode_tok_s":([0-9.e+-]+).*/\1/' <<<"$j")"
  if [[ $j == *parallel_tok_s* ]]; then
    par[$name]+=" $(sed -E 's/.*"parallel_tok_s":([0-9.e+-]+).*/\1/' <<<"$j")"
  fi
}
declare -A par
for r in $(seq 1 "$rounds"); do
  run single 256 128 -t 1 --bandwidth-gib 0.1
  run pool2 256 128 --workers "${addrs[0]},${addrs[1]}" --split "$split2"
  run pool3 256 128 --workers "${addrs[0]},${addrs[1]},${addrs[2]}" --split "$split3"
  run par8 16 64 --workers "${addrs[0]},${addrs[1]}" --split "$split2" --parallel 8
done
cpu=$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)
echo "model $model ($layers layers), $cpu, $(date -u +%F), best of $rounds rounds"
s_pp=$(best ${pp[single]})
s_tg=$(best ${tg[single]})
printf "%-34s prefill %7.1f tok/s          decode %6.2f tok/s\n" "one device, 1 thread" "$s_pp" "$s_tg"
for n in pool2 pool3; do
  p=$(best ${pp[$n]})
  t=$(best ${tg[$n]})
  label="2 workers (split $split2)"
  [ $n = pool3 ] && label="3 workers (split $split3)"
  printf "%-34s prefill %7.1f tok/s = %.2fx  decode %6.2f tok/s = %.2fx\n" "$label" "$p" \
    "$(python3 -c "print($p/$s_pp)")" "$t" "$(python3 -c "print($t/$s_tg)")"
done
one=$(best ${tg[par8]})
all=$(best ${par[par8]})
printf "%-34s %.2f tok/s in all vs %.2f one stream = %.2fx\n" "2 workers, --parallel 8" "$all" "$one" \
  "$(python3 -c "print($all/$one)")"
