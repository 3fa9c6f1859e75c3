#!/usr/bin/env bash
# The serving benchmarks of bench/RESULTS.md, in one run on this machine:
#   1. one stream through `suanli serve` against `suanli generate` on the same model and prompt;
#   2. 1, 4 and 16 concurrent clients on this device, and on a pool of 2 workers (1 thread each):
#      aggregate tokens/s, TTFT and inter-token latency p50/p99; the same run's prefill tok/s;
#   3. the running streams' inter-token latency while a 2,000-token prompt arrives;
#   4. the prefix cache: a 1,000-token prefix already served plus a 16-token suffix, TTFT with the
#      cache and without it;
#   5. llama.cpp's llama-server on the same file, clients and workload (built by
#      bench/reference/build_llama_cpp.sh).
# Workload: prompts of 128 random token ids, 256 generated, greedy, ignore_eos, 2 threads.
#   bench/serve/serve_bench.sh [MODEL.gguf]   (default: the synthesized Llama-3.2-1B-shaped Q4_0)
set -euo pipefail
cd "$(dirname "$0")/../.."
B=build/suanli
SB=build/bench/serve/serve_bench
[ -x "$B" ] && [ -x "$SB" ] || { echo "build first: cmake --build build" >&2; exit 1; }
cache=${SUANLI_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/suanli}
model=${1:-$cache/bench-1b-q4_0-v1.gguf}
[ -f "$model" ] || $B bench -p 1 -n 1 >/dev/null  # synthesizes the default bench files
vocab=$($B inspect "$model" | sed -n 's/.*\.vocab_size *\([0-9]*\).*/\1/p' | head -1)
vocab=${vocab:-128256}
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
port=18700
serve() {  # serve NAME COMMAND...: starts a server listening on $port; sets url
  local name=$1
  shift
  "$@" >"$tmp/$name.log" 2>&1 &
  pids+=($!)
  url=http://127.0.0.1:$port
  for _ in $(seq 1 1200); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/health")" = 200 ] && return 0
    sleep 0.1
  done
  echo "$name did not start: $(tail -3 "$tmp/$name.log")" >&2
  exit 1
}
stop() { kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true; unset 'pids[-1]'; port=$((port + 1)); }
load() { "$SB" --url "$url" --vocab "$vocab" --gen 256 --prompt 128 "$@"; }
echo "# $(date -u +%Y-%m-%d) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; $model"

# 1 + 2: one device.
words=$(for i in $(seq 1 40); do printf 'word%d ' $((i * 7919 % 1000)); done)
printf '%s' "$words" >"$tmp/prompt.txt"
gen=$($B generate -m "$model" -f "$tmp/prompt.txt" -n 256 --temp 0 --ignore-eos -t 2 -c 4096 2>&1 >/dev/null | tail -1)
echo "generate: $gen"
pre=$($B bench -m "$model" -p 512 -n 0 -t 2 -r 2 --json | jq .prefill_tok_s)
echo "prefill (suanli bench -p 512, same run): $pre tok/s"
serve local $B serve -m "$model" --listen 127.0.0.1:$port -t 2 --parallel 16 -c 2304 --kv-size 40000
"$SB" --url "$url" --vocab "$vocab" --gen 8 --prompt 16 >/dev/null  # warm-up
for c in 1 4 16; do load --clients "$c" --label "suanli, $c clients"; done
load --clients 4 --late-prompt 2000 --label "suanli, 4 streams + a 2000-token prompt"
stop

# 4: the prefix cache.
for flag in "" --no-prefix-cache; do
  serve prefix $B serve -m "$model" --listen 127.0.0.1:$port -t 2 --parallel 2 -c 2048 $flag
  load --clients 1 --prefix 1000 --prompt 16 --gen 4 --seed 5 >/dev/null  # serves the prefix
  load --clients 1 --prefix 1000 --prompt 16 --gen 4 --seed 5 --label "prefix 1000 + 16 ${flag:-(cache on)}"
  stop
done

# 2: a pool of two 1-thread workers on this machine.
export SUANLI_TOKEN=serve-bench-token
w=()
for i in 1 2; do
  $B worker --listen 127.0.0.1:0 -t 1 --cache-dir "$tmp/w$i" --model-dir "$(dirname "$model")" >"$tmp/w$i.log" 2>&1 &
  pids+=($!)
done
for i in 1 2; do
  for _ in $(seq 1 1200); do
    a=$(sed -n 's/^suanli worker: listening on \([0-9.:]*\).*/\1/p' "$tmp/w$i.log")
    [ -n "$a" ] && break
    sleep 0.1
  done
  w+=("$a")
done
layers=$($B inspect "$model" | sed -n 's/.*\.block_count *\([0-9]*\).*/\1/p' | head -1)
serve pool $B serve -m "$model" --listen 127.0.0.1:$port --workers "${w[0]},${w[1]}" \
  --split $((layers / 2)),$((layers - layers / 2)) --parallel 16 -c 1024 --kv-size 16384
"$SB" --url "$url" --vocab "$vocab" --gen 8 --prompt 16 >/dev/null
for c in 1 4 16; do load --clients "$c" --label "suanli pool of 2, $c clients"; done
stop

# 5: llama.cpp's server, the same workload.
if bin=$(bench/reference/build_llama_cpp.sh llama-server 2>/dev/null); then
  serve llama "$bin/llama-server" -m "$model" --host 127.0.0.1 --port $port -t 2 -np 16 -c 16384 -cb --no-warmup
  "$SB" --url "$url" --vocab "$vocab" --gen 8 --prompt 16 >/dev/null
  for c in 1 16; do load --clients "$c" --label "llama-server, $c clients"; done
  stop
else
  echo "llama-server: not built (bench/reference/build_llama_cpp.sh failed)"
fi
