#!/usr/bin/env bash
# Builds the reference implementation (llama.cpp) that benchmarks measure against, in the suanli
# cache directory: its source ships inside the node-llama-cpp npm package (version 3.21.1) as
# llama/gitRelease.bundle. Nothing of it is committed here. Prints the build directory.
#   bench/reference/build_llama_cpp.sh [TARGET...]   (default: llama-server llama-bench)
set -euo pipefail
cache=${SUANLI_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/suanli}
root=$cache/llama.cpp
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(llama-server llama-bench)
mkdir -p "$root"
if [ ! -d "$root/src/.git" ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack node-llama-cpp@3.21.1 --silent >/dev/null)
  tar -xzf "$work"/node-llama-cpp-3.21.1.tgz -C "$work" package/llama/gitRelease.bundle
  git clone -q "$work/package/llama/gitRelease.bundle" "$root/src"
fi
if [ ! -f "$root/build/CMakeCache.txt" ]; then
  cmake -S "$root/src" -B "$root/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON \
    -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF >/dev/null
fi
cmake --build "$root/build" -j "$(nproc)" --target "${targets[@]}" >&2
echo "$root/build/bin"
