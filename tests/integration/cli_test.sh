#!/usr/bin/env bash
# Command-line behaviour of `suanli`: help and usage errors, the default model, eval/tokenize
# formats, and one-line errors for hostile files. Usage: cli_test.sh PATH/TO/suanli
set -uo pipefail
SUANLI=$1
TD=${SUANLI_TESTDATA:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export SUANLI_CACHE_DIR=$tmp/cache
fails=0
ok() { echo "ok - $*"; }
bad() { echo "FAIL - $*"; fails=$((fails + 1)); }
# expect_exit CODE DESCRIPTION -- COMMAND...
expect_exit() {
  local want=$1 what=$2
  shift 3
  "$@" >"$tmp/out" 2>"$tmp/err"
  local got=$?
  if [ "$got" = "$want" ]; then ok "$what (exit $got)"; else
    bad "$what: exit $got, want $want"; sed 's/^/    /' "$tmp/err" | head -5; fi
}

# Help and usage.
for cmd in "" generate eval tokenize inspect bench profile plan "model synth" serve worker; do
  expect_exit 0 "suanli $cmd --help" -- $SUANLI $cmd --help
  grep -qi "usage" "$tmp/out" || bad "suanli $cmd --help prints a usage"
done
expect_exit 2 "unknown flag" -- $SUANLI generate --no-such-flag
grep -q "no-such-flag" "$tmp/err" || bad "unknown flag is named"
expect_exit 2 "bad number" -- $SUANLI generate -n abc
expect_exit 2 "no subcommand" -- $SUANLI

# The default model: synthesized on first use, then cached.
expect_exit 0 "generate on the default model" -- $SUANLI generate -p "Once upon a time" -n 8 -t 2
grep -qE "prompt: [0-9]+ tokens, [0-9.]+ tok/s \| generated: 8 tokens" "$tmp/err" || bad "speed line: $(cat "$tmp/err")"
[ -s "$tmp/out" ] || bad "generate printed no text"
ls "$SUANLI_CACHE_DIR"/default-*.gguf >/dev/null 2>&1 || bad "default model cached"
model=$(ls "$SUANLI_CACHE_DIR"/default-*.gguf | head -1)
expect_exit 0 "greedy generate is reproducible" -- $SUANLI generate -p "Hello" -n 6 --temp 0
cp "$tmp/out" "$tmp/out1"
$SUANLI generate -p "Hello" -n 6 --temp 0 -t 1 >"$tmp/out2" 2>/dev/null
cmp -s "$tmp/out1" "$tmp/out2" && ok "same text with 1 and 2 threads" || bad "greedy text differs by thread count"
$SUANLI generate -p "Hello" -n 6 --temp 0 --weights copy >"$tmp/out3" 2>/dev/null
cmp -s "$tmp/out1" "$tmp/out3" && ok "same text with --weights copy" || bad "greedy text differs with --weights copy"
expect_exit 2 "bad --weights" -- $SUANLI generate --weights disk

# eval: JSON and logits rows.
expect_exit 0 "eval" -- $SUANLI eval -m "$model" -p "Hello world" -n 3 --logits-out "$tmp/l.f32"
grep -qE '^\{"prompt_tokens":\[1,[0-9,]+\],"greedy_tokens":\[[0-9]+,[0-9]+,[0-9]+\]\}$' "$tmp/out" ||
  bad "eval JSON: $(cat "$tmp/out")"
n_prompt=$($SUANLI tokenize -m "$model" -p "Hello world" | wc -w)
size=$(stat -c %s "$tmp/l.f32")
[ "$size" = $(( (n_prompt + 3) * 32000 * 4 )) ] && ok "logits file size" || bad "logits file is $size bytes"
expect_exit 0 "eval --force" -- $SUANLI eval -m "$model" -p "Hello" --force 100,200
grep -qE '"greedy_tokens":\[[0-9]+,[0-9]+\]' "$tmp/out" || bad "eval --force JSON: $(cat "$tmp/out")"
expect_exit 1 "eval --force with an id outside the vocabulary" -- $SUANLI eval -m "$model" -p "Hi" --force 99999999
expect_exit 1 "prompt longer than the context" -- $SUANLI generate -m "$model" -c 4 -p "one two three four five six"
grep -q "context" "$tmp/err" || bad "context error names the context"

# Device invariance: every kernel variant gives the same logits bytes (the canonical reduction
# order of kernels/kernels.h); SUANLI_KERNELS names one, unavailable names fall back.
inv_models="$model"
[ -n "$TD" ] && for m in fortune-llama-q8_0 small-llama-q4_k_m tiny-llama-q4_0 tiny-llama-f16; do
  [ -f "$TD/models/$m.gguf" ] && inv_models="$inv_models $TD/models/$m.gguf"
done
for m in $inv_models; do
  for v in scalar avx2 avx512 neon neon-dotprod; do
    SUANLI_KERNELS=$v $SUANLI eval -m "$m" -p "The quick brown fox jumps over the lazy dog" -n 4 \
      --logits-out "$tmp/inv-$v.f32" >/dev/null 2>"$tmp/err" || bad "eval with SUANLI_KERNELS=$v on $m"
  done
  same=1
  for v in avx2 avx512 neon neon-dotprod; do cmp -s "$tmp/inv-scalar.f32" "$tmp/inv-$v.f32" || same=0; done
  [ $same = 1 ] && ok "identical logits bytes on every kernel variant: $(basename "$m")" ||
    bad "logits differ between kernel variants on $(basename "$m")"
done

# tokenize: -f reads bytes as they are; special text is plain unless --parse-special.
printf 'Hello\n' >"$tmp/p.txt"
expect_exit 0 "tokenize -f" -- $SUANLI tokenize -m "$model" -f "$tmp/p.txt"
[ "$(cat "$tmp/out")" = "1 15043 13" ] && ok "tokenize keeps the newline" || bad "tokenize -f: $(cat "$tmp/out")"
[ "$($SUANLI tokenize -m "$model" -p "</s>" --no-bos --parse-special)" = "2" ] && ok "--parse-special" || bad "--parse-special"
[ "$($SUANLI tokenize -m "$model" -p "</s>" --no-bos | wc -w)" -gt 1 ] && ok "special text is plain by default" || bad "plain special text"

# inspect.
expect_exit 0 "inspect" -- $SUANLI inspect "$model"
grep -q "llama.block_count" "$tmp/out" && grep -q "token_embd.weight" "$tmp/out" || bad "inspect output"

# model synth shapes.
expect_exit 0 "synth qwen2" -- $SUANLI model synth -o "$tmp/q.gguf" --arch qwen2 --dim 64 --layers 2 --heads 4 --kv-heads 2 --ffn 128
expect_exit 0 "generate on synthesized qwen2" -- $SUANLI generate -m "$tmp/q.gguf" -p "Hi" -n 4
expect_exit 1 "synth with an impossible shape" -- $SUANLI model synth -o "$tmp/x.gguf" --dim 100 --heads 3

# profile: this device as a pool member (small measurement settings: only the shape is checked).
expect_exit 0 "profile --json" -- $SUANLI profile --json -t 1 --fresh --seconds-per-kernel 0.001 --matvec-mib 8
grep -q '"mem_bandwidth_gbs"' "$tmp/out" && grep -q '"Q4_0"' "$tmp/out" || bad "profile JSON: $(head -c 300 "$tmp/out")"

# plan: placement for described devices; a phone behind a slow link is left out with a reason.
cat >"$tmp/devices.json" <<'JSON'
{"devices": [
  {"name": "laptop", "is_head": true, "memory_gib": 4, "bandwidth_gbs": 20},
  {"name": "desktop", "memory_gib": 8, "bandwidth_gbs": 30},
  {"name": "phone", "memory_gib": 2, "bandwidth_gbs": 10}],
 "links": [{"a": "laptop", "b": "phone", "rtt_ms": 40, "mbps": 20},
           {"a": "desktop", "b": "phone", "rtt_ms": 40, "mbps": 20}],
 "default_link": {"rtt_ms": 0.5, "mbps": 1000}}
JSON
expect_exit 0 "plan" -- $SUANLI plan -m "$model" --devices "$tmp/devices.json"
grep -q "phone: " "$tmp/out" && grep -q "desktop" "$tmp/out" || bad "plan output: $(cat "$tmp/out")"
expect_exit 0 "plan --json" -- $SUANLI plan -m "$model" --devices "$tmp/devices.json" --json --objective throughput
expect_exit 1 "plan with a bad split" -- $SUANLI plan -m "$model" --devices "$tmp/devices.json" --split 1,1
echo '{"devices": [{"name": 3}]}' >"$tmp/bad.json"
expect_exit 1 "plan with a malformed devices file" -- $SUANLI plan -m "$model" --devices "$tmp/bad.json"
grep -q "name" "$tmp/err" || bad "devices error names the field: $(cat "$tmp/err")"

# Hostile files: one line naming the file, exit 1, no crash.
echo "not a model" >"$tmp/junk.gguf"
expect_exit 1 "not a GGUF" -- $SUANLI generate -m "$tmp/junk.gguf" -p hi
[ "$(wc -l <"$tmp/err")" = 1 ] && grep -q "junk.gguf" "$tmp/err" || bad "one-line error naming the file: $(cat "$tmp/err")"
head -c 100000 "$model" >"$tmp/trunc.gguf"
expect_exit 1 "truncated GGUF" -- $SUANLI generate -m "$tmp/trunc.gguf" -p hi
[ "$(wc -l <"$tmp/err")" = 1 ] || bad "truncated: one line: $(cat "$tmp/err")"
expect_exit 1 "missing file" -- $SUANLI inspect "$tmp/none.gguf"
if [ -n "$TD" ] && [ -f "$TD/vocab/ggml-vocab-gpt-2.gguf" ]; then
  expect_exit 1 "unsupported architecture" -- $SUANLI generate -m "$TD/vocab/ggml-vocab-gpt-2.gguf" -p hi
  grep -q "architecture" "$tmp/err" || bad "names the architecture: $(cat "$tmp/err")"
fi

# Parity through the command line: eval on the trained model reproduces the reference tokens.
if [ -n "$TD" ] && [ -f "$TD/models/fortune-llama-q8_0.gguf" ]; then
  expect_exit 0 "eval fortune model" -- $SUANLI eval -m "$TD/models/fortune-llama-q8_0.gguf" \
    -p "Never trust a computer you can't throw out a window." -n 16
  want='{"prompt_tokens":[1,12391,9311,263,6601,366,508,29915,29873,3183,714,263,3474,29889],"greedy_tokens":[13,12,12,489,26977,14406,29892,376,1576,317,29889,29871,376,1576,306,29915]}'
  [ "$(cat "$tmp/out")" = "$want" ] && ok "fortune greedy tokens" || bad "fortune eval: $(cat "$tmp/out")"
else
  echo "skip - shared test data absent: fortune eval not run"
fi

echo "cli_test: $fails failure(s)"
[ "$fails" = 0 ]
