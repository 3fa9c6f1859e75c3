#!/usr/bin/env bash
# Quick start: install what is missing, build suanli (Release), start a local pool of 3 workers on
# loopback, and generate text through it with the default model (a small random-weight llama
# synthesized and cached on first use). The head prints the placement (which worker runs which
# layers, memory, expected ms per token) and the measured tokens/s on stderr.
#
# Extra arguments go to `suanli generate`, e.g. scripts/run.sh -m model.gguf -p "Hello" -n 64.
# Without them the default model's 4 layers are split 2,1,1 over the three workers so the demo is a
# real pipeline; drop --split to let the placement choose (on one machine it keeps a single
# worker, since extra hops only add delay there).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh build
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build --target suanli

# A fresh random pool token for this run, passed in the environment (not on the command line).
SUANLI_TOKEN=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
export SUANLI_TOKEN
cache=${SUANLI_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/suanli}
logs=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$logs"' EXIT
addrs=()
for i in 1 2 3; do
  build/suanli worker --listen 127.0.0.1:0 -t 1 --cache-dir "$cache/worker-$i" \
    >"$logs/worker-$i.log" 2>&1 &
  pids+=($!)
done
for i in 1 2 3; do
  addr=""
  for _ in $(seq 1 3000); do  # the first start measures the device once (up to a minute)
    addr=$(sed -n 's/^suanli worker: listening on \([0-9.:]*\).*/\1/p' "$logs/worker-$i.log")
    [ -n "$addr" ] && break
    kill -0 "${pids[$((i - 1))]}" 2>/dev/null || { cat "$logs/worker-$i.log" >&2; exit 1; }
    sleep 0.1
  done
  [ -n "$addr" ] || { echo "worker $i did not start" >&2; cat "$logs/worker-$i.log" >&2; exit 1; }
  addrs+=("$addr")
done
workers=$(IFS=,; echo "${addrs[*]}")
echo "suanli: local pool of 3 workers: $workers" >&2
if [ $# -eq 0 ]; then
  set -- -p "Once upon a time" -n 48 --split 2,1,1
fi
build/suanli generate --workers "$workers" "$@"
