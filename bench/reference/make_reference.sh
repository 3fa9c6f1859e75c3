#!/usr/bin/env bash
# Makes the reference logits of tests/data/models: synthesizes each small model with `suanli
# model synth`, then dumps its logits through the reference implementation's library (llama.cpp
# built from the node-llama-cpp 3.21.1 bundle by build_llama_cpp.sh; dump_logits.cc). The outputs
# (GGUF, .json, .logits.f32) are committed; this script only has to run again when a model is
# added or the synthesizer changes what it writes.
#   bench/reference/make_reference.sh SUANLI_BINARY [OUT_DIR]   (default tests/data/models)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
suanli=$(realpath "$1")
out=$(realpath -m "${2:-$here/../../tests/data/models}")
bin=$("$here/build_llama_cpp.sh" llama)
root=$(dirname "$(dirname "$bin")")
tool=$root/dump_logits
if [ ! -x "$tool" ] || [ "$here/dump_logits.cc" -nt "$tool" ]; then
  g++ -std=c++17 -O2 -I "$root/src/include" -I "$root/src/ggml/include" "$here/dump_logits.cc" \
    -L "$bin" -lllama -lggml -lggml-base -Wl,-rpath,"$bin" -o "$tool"
fi
mkdir -p "$out"
prompt="The quick brown fox jumps over the lazy dog. 1234"
# name | synth flags | context (a 2048-piece cut of the Llama-2 SentencePiece vocabulary keeps
# the files small; phi3's LongRoPE takes its long factors over 256 positions, short ones up to)
models=(
  "tiny-qwen3-f32|--arch qwen3 --type f32 --layers 2 --head-dim 32|512"
  "tiny-qwen3-q8_0|--arch qwen3 --type q8_0 --layers 2 --head-dim 32|512"
  "tiny-smollm3-f32|--arch smollm3 --type f32 --layers 4|512"
  "tiny-granite-f32|--arch granite --type f32 --layers 2|512"
  "tiny-phi3-f32|--arch phi3 --type f32 --layers 2|512"
  "tiny-phi3-q8_0|--arch phi3 --type q8_0 --layers 2|256"
  # gemma: a window of 8 positions (the prompt and its decode rows run past it), head width 32
  # (not dim / heads); gemma2 with a strong attention cap and its default final one; gemma3 with
  # 6 layers (5 sliding, 1 global: separate RoPE bases, linear scaling on the global one only).
  "tiny-gemma2-f32|--arch gemma2 --type f32 --layers 4 --head-dim 32 --sliding-window 8 --attn-softcap 2.5|512"
  "tiny-gemma3-f32|--arch gemma3 --type f32 --layers 6 --head-dim 32 --sliding-window 8 --rope-base 1000000 --rope-linear 8|512"
  "tiny-gemma3-q8_0|--arch gemma3 --type q8_0 --layers 6 --head-dim 32 --sliding-window 8 --rope-base 1000000 --final-softcap 10|512"
  # qwen3moe: 4 experts, 2 per token, 64 wide (f32); 16 experts, 4 per token, 32 wide (q8_0).
  "tiny-qwen3moe-f32|--arch qwen3moe --type f32 --layers 2 --head-dim 32 --experts 4 --experts-used 2 --expert-ffn 64|512"
  "tiny-qwen3moe-q8_0|--arch qwen3moe --type q8_0 --layers 3 --head-dim 32 --experts 16 --experts-used 4 --expert-ffn 32|512"
  # The types after Q4_0/Q5_0/Q8_0/Q4_K/Q5_K/Q6_K, two files kept small (a 512-piece vocabulary):
  # q2_k's mix (Q2_K matrices, Q3_K attn_v/ffn_down) with an IQ4_XS token_embd (the tied output)
  # on one layer of width 256, as K-quant rows need; Q5_1 matrices with an IQ4_NL token_embd at
  # width 64. A 4th field replaces the shape flags.
  "tiny-llama-q2_k|--type q2_k --embd-type iq4_xs|512|--dim 256 --heads 4 --kv-heads 2 --ffn 256 --layers 1 --n-vocab 512"
  "tiny-llama-q5_1|--type q5_1 --embd-type iq4_nl|512|--dim 64 --heads 4 --kv-heads 2 --ffn 192 --n-vocab 512"
)
for m in "${models[@]}"; do
  IFS='|' read -r name flags ctx shape <<<"$m"
  shape=${shape:---dim 64 --heads 4 --kv-heads 2 --ffn 192 --n-vocab 2048}
  # shellcheck disable=SC2086
  "$suanli" model synth -o "$out/$name.gguf" $shape --ctx 512 --seed 7 $flags 2>/dev/null
  "$tool" "$out/$name.gguf" "$prompt" 8 "$out/$name" "$ctx" 2>"$out/$name.log" ||
    { cat "$out/$name.log" >&2; exit 1; }
  rm -f "$out/$name.log"
  echo "$name: $(stat -c %s "$out/$name.gguf") + $(stat -c %s "$out/$name.logits.f32") bytes"
done
