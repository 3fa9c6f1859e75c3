#!/usr/bin/env bash
# What TLS with the pool's certificates (suanli pool init / enroll) costs the data path: the same
# two-worker split on loopback, plain TCP and TLS, alternated for several rounds (this VM's speed
# drifts), best of each; prints decode and prefill tok/s and the TLS / plain ratios.
# Usage: bench/pool/tls_bench.sh [MODEL.gguf] [ROUNDS]   (default: a synthesized 1B Q4_0, 3)
set -euo pipefail
SUANLI=${SUANLI:-build/suanli}
rounds=${2:-3}
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
model=${1:-}
if [ -z "$model" ]; then
  model=${SUANLI_CACHE_DIR:-$HOME/.cache/suanli}/bench-1b-q4_0-pool.gguf
  [ -f "$model" ] || "$SUANLI" model synth -o "$model" --shape 1b --type q4_0 >&2
fi
mdir=$(dirname "$(readlink -f "$model")")
"$SUANLI" pool init --dir "$work/pool" >/dev/null
export SUANLI_TOKEN=tls-bench-plain-token
start() {  # start NAME [flags]: prints the address
  local name=$1 a
  shift
  "$SUANLI" worker --listen 127.0.0.1:0 -t 1 --model-dir "$mdir" --cache-dir "$work/$name" "$@" \
    >"$work/$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 600); do
    a=$(sed -n 's/^suanli worker: listening on \([0-9.:]*\).*/\1/p' "$work/$name.log")
    [ -n "$a" ] && break
    sleep 0.1
  done
  echo "$a"
}
p1=$(start p1)
p2=$(start p2)
for n in t1 t2; do "$SUANLI" pool enroll $n --dir "$work/pool" >/dev/null; done
t1=$(start t1 --pool-dir "$work/pool/nodes/t1")
t2=$(start t2 --pool-dir "$work/pool/nodes/t2")
layers=$("$SUANLI" inspect "$model" | awk '/block_count/ && !n {print $2; n = 1}')
split="$((layers / 2)),$((layers - layers / 2))"
declare -A pp tg
run() {  # run NAME ARGS...
  local name=$1 j
  shift
  j=$("$SUANLI" bench -m "$model" -p 256 -n 64 -r 1 --json --split "$split" "$@" 2>/dev/null |
    tail -1)
  pp[$name]+=" $(sed -E 's/.*"prefill_tok_s":([0-9.e+-]+).*/\1/' <<<"$j")"
  tg[$name]+=" $(sed -E 's/.*"decode_tok_s":([0-9.e+-]+).*/\1/' <<<"$j")"
}
for _ in $(seq 1 "$rounds"); do
  run plain --workers "$p1,$p2"
  run tls --workers "$t1,$t2" --pool-dir "$work/pool"
done
best() { python3 -c "import sys; print(max(float(x) for x in sys.argv[1:]))" "$@"; }
cpu=$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)
echo "# $(basename "$model"), 2 workers x 1 thread, split $split, $cpu, $(date +%F)"
for k in plain tls; do
  echo "$k: prefill $(best ${pp[$k]}) tok/s (runs:${pp[$k]}), decode $(best ${tg[$k]}) tok/s (runs:${tg[$k]})"
done
python3 -c "import sys; a=[float(x) for x in sys.argv[1:]]; print('tls / plain: prefill %.3fx, decode %.3fx' % (a[2]/a[0], a[3]/a[1]))" \
  "$(best ${pp[plain]})" "$(best ${tg[plain]})" "$(best ${pp[tls]})" "$(best ${tg[tls]})"
