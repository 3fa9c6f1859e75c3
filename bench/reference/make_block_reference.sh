#!/usr/bin/env bash
# Makes tests/data/kernels/*.blocks: for each quantized type below, the reference
# implementation's blocks of a deterministic row and their dequantized floats (dump_blocks.cc,
# built against the llama.cpp library that build_llama_cpp.sh builds). The outputs are committed;
# run this again only when a type is added.
#   bench/reference/make_block_reference.sh [OUT_DIR]   (default tests/data/kernels)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$(realpath -m "${1:-$here/../../tests/data/kernels}")
bin=$("$here/build_llama_cpp.sh" llama)
root=$(dirname "$(dirname "$bin")")
tool=$root/dump_blocks
if [ ! -x "$tool" ] || [ "$here/dump_blocks.cc" -nt "$tool" ]; then
  g++ -std=c++17 -O2 -I "$root/src/ggml/include" "$here/dump_blocks.cc" \
    -L "$bin" -lggml -lggml-base -Wl,-rpath,"$bin" -o "$tool"
fi
mkdir -p "$out"
# name | ggml type id | elements (1024: 32 blocks of 32, 4 super-blocks of 256)
types=(
  "q4_1|3|1024"
  "q5_1|7|1024"
  "iq4_nl|20|1024"
  "iq4_xs|23|1024"
  "q3_k|11|1024"
  "q2_k|10|1024"
)
for t in "${types[@]}"; do
  IFS='|' read -r name id n <<<"$t"
  "$tool" "$id" "$n" "$out/$name.blocks"
  echo "$name: $(stat -c %s "$out/$name.blocks") bytes"
done
