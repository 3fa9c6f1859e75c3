#!/usr/bin/env bash
# Quick start: install what is missing, build suanli (Release), and generate text with the default
# model (a small random-weight llama synthesized and cached on first use). Extra arguments go to
# `suanli generate`, e.g. scripts/run.sh -m model.gguf -p "Hello" -n 64.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh build
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DSUANLI_BUILD_TESTS=OFF >/dev/null
cmake --build build --target suanli
if [ $# -eq 0 ]; then
  set -- -p "Once upon a time" -n 48
fi
exec build/suanli generate "$@"
