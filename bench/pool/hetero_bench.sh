#!/usr/bin/env bash
# Placement on heterogeneous devices, measured: our placement vs an equal split and a split
# proportional to memory (what other home-cluster tools do), predicted and measured decode tok/s.
# Slower and smaller devices are EMULATED on this machine: `worker --emulate-slowdown F` sleeps
# (F-1)x its compute before answering each batch (until 2026-12-01: after answering) and divides
# its reported speeds by F;
# `--emulate-memory-gib` caps its memory; a phone-like link is a delay_relay (15 ms each way) on
# loopback. Usage: bench/pool/hetero_bench.sh [MODEL.gguf]   (default: a synthesized 1B Q4_0)
set -euo pipefail
SUANLI=${SUANLI:-build/suanli}
RELAY=${RELAY:-build/tests/integration/delay_relay}
work=$(mktemp -d)
pids=()
stop_all() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; pids=(); }
trap 'stop_all; rm -rf "$work"' EXIT
export SUANLI_TOKEN=hetero-bench-token
model=${1:-}
if [ -z "$model" ]; then
  model=${SUANLI_CACHE_DIR:-$HOME/.cache/suanli}/bench-1b-q4_0-pool.gguf
  [ -f "$model" ] || "$SUANLI" model synth -o "$model" --shape 1b --type q4_0 >&2
fi
mdir=$(dirname "$(readlink -f "$model")")
layers=$("$SUANLI" inspect "$model" | awk '/block_count/ && !n {print $2; n = 1}')
port=$((20000 + $$ % 20000))

# start_set "F MEM_GIB DELAY_MS" ...: one worker per spec; sets $workers and $mems.
start_set() {
  stop_all
  local addrs=() i=0
  mems=()
  for spec in "$@"; do
    set -- $spec
    i=$((i + 1))
    local p=$((port + 10 * i))
    "$SUANLI" worker --listen 127.0.0.1:$p -t 1 --model-dir "$mdir" --cache-dir "$work/w$i" \
      --emulate-slowdown "$1" --emulate-memory-gib "$2" >"$work/w$i.log" 2>&1 &
    pids+=($!)
    if [ "$3" != 0 ]; then
      "$RELAY" 127.0.0.1:$((p + 1)) 127.0.0.1:$p "$3" 3600 2>/dev/null &
      pids+=($!)
      addrs+=("127.0.0.1:$((p + 1))")
    else
      addrs+=("127.0.0.1:$p")
    fi
    mems+=("$2")
  done
  for j in $(seq 1 $i); do
    for _ in $(seq 1 600); do grep -q listening "$work/w$j.log" && break; sleep 0.1; done
  done
  workers=$(IFS=,; echo "${addrs[*]}")
}
equal_split() {
  local n=$1 out=() k
  for k in $(seq 0 $((n - 1))); do out+=($(((layers * (k + 1)) / n - (layers * k) / n))); done
  (IFS=,; echo "${out[*]}")
}
memory_split() {  # largest remainder, in proportion to $mems
  python3 - "$layers" "${mems[@]}" <<'PY'
import sys
L = int(sys.argv[1]); m = [float(x) for x in sys.argv[2:]]
q = [L * x / sum(m) for x in m]; f = [int(x) for x in q]
for i in sorted(range(len(m)), key=lambda i: q[i] - f[i], reverse=True)[: L - sum(f)]: f[i] += 1
print(",".join(map(str, f)))
PY
}
measure() {  # measure LABEL [flags]: decode tok/s predicted and measured
  local label=$1
  shift
  local j
  j=$("$SUANLI" bench -m "$model" -p 0 -n 48 -r 2 --json --workers "$workers" "$@" 2>"$work/err" |
    tail -1) || true
  if [ -z "$j" ]; then
    printf "  %-22s does not run: %s\n" "$label" "$(grep error "$work/err" | tail -1)"
    return
  fi
  local pred meas
  pred=$(sed -E 's/.*"predicted_decode_tok_s":([0-9.e+-]+).*/\1/' <<<"$j")
  meas=$(sed -E 's/.*"decode_tok_s":([0-9.e+-]+).*/\1/' <<<"$j")
  printf "  %-22s predicted %6.2f tok/s   measured %6.2f tok/s\n" "$label" "$pred" "$meas"
}
run_set() {
  local name=$1
  shift
  start_set "$@"
  local desc="" spec
  for spec in "$@"; do desc+=" [$spec]"; done
  echo "$name:$desc  (per worker: slowdown, memory GiB, one-way delay ms)"
  measure "ours (latency)"
  measure "equal $(equal_split $#)" --split "$(equal_split $#)"
  measure "memory $(memory_split)" --split "$(memory_split)"
}
echo "model $model ($layers layers), $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1), $(date -u +%F)"
run_set "laptop + desktop 2x slower + phone 4x slower on 30 ms RTT" "1 2 0" "2 4 0" "4 3 15"
run_set "small fast device + desktop 2x slower + phone 1.5x slower on 30 ms RTT" "1 0.6 0" "2 4 0" "1.5 4 15"
