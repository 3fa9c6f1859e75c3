#!/usr/bin/env bash
# A pool on loopback: workers started here, the head is `suanli generate/eval/bench --workers`.
# Checks exact parity with one device (--act f32: identical logits bytes and tokens, for 1, 2 and 3
# workers and uneven splits), weight streaming and its cache, --model-dir, the pool token, TLS,
# an unreachable worker, and `bench --parallel`. Usage: pool_test.sh PATH/TO/suanli
set -uo pipefail
SUANLI=$1
TD=${SUANLI_TESTDATA:-}
. "$(dirname "$0")/test_lib.sh"
export SUANLI_TOKEN=pool-test-token-1
export XDG_CONFIG_HOME=$tmp/config  # no default pool directory of the user's

. "$(dirname "$0")/worker_lib.sh"

start_worker w1 && w1=$addr
start_worker w2 && w2=$addr
start_worker w3 && w3=$addr
ok "3 workers listening: $w1 $w2 $w3"

models=()
if [ -n "$TD" ] && [ -d "$TD/models" ]; then
  models=("$TD/models/tiny-llama-f32.gguf" "$TD/models/tiny-qwen2-q8_0.gguf" "$TD/models/tiny-llama3-q8_0.gguf")
else
  echo "# ../shared/testdata absent: parity runs on a synthesized model only"
fi
"$SUANLI" model synth -o "$tmp/synth.gguf" --shape tiny --type q4_0 >/dev/null 2>&1 ||
  bad "model synth"
models+=("$tmp/synth.gguf")

prompt="The quick brown fox jumps over the lazy dog because"
for m in "${models[@]}"; do
  name=$(basename "$m" .gguf)
  "$SUANLI" eval -m "$m" -p "$prompt" -n 12 -t 1 --logits-out "$tmp/local.f32" >"$tmp/local.json" 2>"$tmp/err" ||
    { bad "$name: local eval: $(cat "$tmp/err")"; continue; }
  layers=$("$SUANLI" inspect "$m" 2>/dev/null | awk '/block_count/ {print $2; exit}')
  [ -n "$layers" ] || layers=4
  splits=("$layers" "1,$((layers - 1))" "$((layers - 2)),1,1")
  workers=("$w1" "$w1,$w2" "$w1,$w2,$w3")
  for i in 0 1 2; do
    "$SUANLI" eval -m "$m" -p "$prompt" -n 12 --workers "${workers[$i]}" --split "${splits[$i]}" \
      --act f32 --logits-out "$tmp/pool.f32" >"$tmp/pool.json" 2>"$tmp/err"
    rc=$?
    if [ $rc -ne 0 ]; then bad "$name: eval through $((i + 1)) worker(s): $(tail -2 "$tmp/err")"; continue; fi
    if cmp -s "$tmp/local.json" "$tmp/pool.json" && cmp -s "$tmp/local.f32" "$tmp/pool.f32"; then
      ok "$name: $((i + 1)) worker(s), split ${splits[$i]}: same tokens, identical logits"
    else
      bad "$name: $((i + 1)) worker(s), split ${splits[$i]}: output differs from one device"
    fi
  done
  # Teacher forcing through the pool.
  force=$(sed -n 's/.*"greedy_tokens":\[\([0-9,]*\)\].*/\1/p' "$tmp/local.json" | rev | cut -d, -f2- | rev)
  "$SUANLI" eval -m "$m" -p "$prompt" --force "$force" -t 1 >"$tmp/lf.json" 2>/dev/null
  "$SUANLI" eval -m "$m" -p "$prompt" --force "$force" --workers "$w2,$w3" --act f32 >"$tmp/pf.json" 2>"$tmp/err"
  cmp -s "$tmp/lf.json" "$tmp/pf.json" && ok "$name: --force through the pool" ||
    bad "$name: --force through the pool differs: $(tail -1 "$tmp/err")"
done

m=${models[-1]}
# generate: greedy and seeded sampling give one device's exact stdout.
for s in "--temp 0" "--temp 0.9 --seed 11 --top-k 20"; do
  "$SUANLI" generate -m "$m" -p "Once upon a time" -n 20 $s -t 1 >"$tmp/gl.txt" 2>/dev/null
  "$SUANLI" generate -m "$m" -p "Once upon a time" -n 20 $s --workers "$w1,$w2,$w3" --split 1,2,1 \
    --act f32 >"$tmp/gp.txt" 2>"$tmp/gp.err"
  cmp -s "$tmp/gl.txt" "$tmp/gp.txt" && ok "generate $s: same stdout as one device" ||
    bad "generate $s: stdout differs: $(tail -2 "$tmp/gp.err")"
done
grep -q "placement (objective: latency" "$tmp/gp.err" && ok "placement printed" || bad "no placement on stderr"
grep -qE "ms per token measured, [0-9.]+ ms predicted" "$tmp/gp.err" && ok "measured vs predicted" ||
  bad "no measured/predicted line"
grep -q "tok/s" "$tmp/gp.err" || bad "no speed line"
# The weights were streamed before: this run found them in the workers' caches.
grep -q "streaming" "$tmp/gp.err" && bad "weights streamed again (cache not used)" || ok "weight cache reused"

# Lossy activation formats run and stay close: same first greedy token at least.
for act in f16 q8_0; do
  "$SUANLI" eval -m "$m" -p "$prompt" -n 4 --workers "$w1,$w2" --act $act >"$tmp/a.json" 2>"$tmp/err" &&
    ok "--act $act runs" || bad "--act $act: $(tail -1 "$tmp/err")"
done

# A worker that holds the model in --model-dir maps it (nothing streamed).
mkdir -p "$tmp/models" && cp "$m" "$tmp/models/"
start_worker w4 --model-dir "$tmp/models" && w4=$addr
"$SUANLI" generate -m "$m" -p "Hi" -n 4 --workers "$w4" >/dev/null 2>"$tmp/err" || bad "model-dir worker: $(tail -1 "$tmp/err")"
grep -q "streaming" "$tmp/err" && bad "model-dir worker was sent weights" || ok "--model-dir: mapped, not streamed"
grep -q "model-dir" "$tmp/w4.log" && ok "worker log names model-dir" || bad "worker log: $(tail -2 "$tmp/w4.log")"

# Pool token: a head with the wrong token finds the worker's proof wrong and sends it nothing
# but a nonce (the worker has nothing to log: it cannot tell a mistyped token from a probe).
SUANLI_TOKEN=wrong-token-99999 "$SUANLI" generate -m "$m" -p "Hi" -n 2 --workers "$w1" >/dev/null 2>"$tmp/err"
[ $? -eq 1 ] && grep -q "pool token" "$tmp/err" && ok "wrong token: head exits 1 naming the token" ||
  bad "wrong token: $(cat "$tmp/err")"
SUANLI_TOKEN=short-token "$SUANLI" generate -m "$m" -p "Hi" -n 2 --workers "$w1" >/dev/null 2>"$tmp/err"
[ $? -eq 1 ] && grep -q "at least 16" "$tmp/err" && ok "a token under 16 characters is refused" ||
  bad "short token: $(cat "$tmp/err")"
env -u SUANLI_TOKEN "$SUANLI" generate -m "$m" -p "Hi" -n 2 --workers "$w1" >/dev/null 2>"$tmp/err"
[ $? -eq 1 ] && grep -q "token is required" "$tmp/err" && ok "no token: clear error" || bad "no token: $(cat "$tmp/err")"
env -u SUANLI_TOKEN "$SUANLI" worker --listen 127.0.0.1:0 >/dev/null 2>"$tmp/err"
[ $? -eq 1 ] && ok "worker without token refuses to start" || bad "worker without a token started"
echo "pool-test-token-1" >"$tmp/token"
env -u SUANLI_TOKEN "$SUANLI" generate -m "$m" -p "Hi" -n 2 --workers "$w1" --token-file "$tmp/token" \
  >/dev/null 2>"$tmp/err" && ok "--token-file" || bad "--token-file: $(tail -1 "$tmp/err")"

# Unreachable worker at start-up: reported, the pool goes on without it.
"$SUANLI" generate -m "$m" -p "Hi" -n 2 --workers "127.0.0.1:1,$w2" >/dev/null 2>"$tmp/err" &&
  grep -q "127.0.0.1:1: .*continuing without it" "$tmp/err" && ok "unreachable worker left out" ||
  bad "unreachable worker: $(tail -2 "$tmp/err")"
"$SUANLI" generate -m "$m" -p "Hi" -n 2 --workers "127.0.0.1:1" >/dev/null 2>"$tmp/err"
[ $? -eq 1 ] && ok "no usable worker: exit 1" || bad "no usable worker"
"$SUANLI" generate -m "$m" -p "Hi" -n 2 --workers "$w1,$w2" --split 1 >/dev/null 2>"$tmp/err"
[ $? -eq 1 ] && grep -q "split" "$tmp/err" && ok "--split count mismatch" || bad "--split mismatch: $(cat "$tmp/err")"
"$SUANLI" generate -m "$m" -p "Hi" -n 2 --workers "nonsense" >/dev/null 2>"$tmp/err"
[ $? -eq 1 ] && ok "bad address: exit 1" || bad "bad address"

# Several streams at once.
"$SUANLI" bench -m "$m" -p 16 -n 16 -r 1 --parallel 4 --workers "$w1,$w2" --split 2,2 \
  >"$tmp/bench.txt" 2>"$tmp/err" && grep -q "4 streams" "$tmp/bench.txt" &&
  ok "bench --parallel 4: $(grep streams "$tmp/bench.txt")" || bad "bench --parallel: $(tail -2 "$tmp/err")"

# A worker too small for any layer is left out with the reason; forcing layers onto it fails
# with one line naming the need and what it has.
start_worker w5 --emulate-memory-gib 0.01 && w5=$addr
"$SUANLI" generate -m "$m" -p "Hi" -n 4 --workers "$w1,$w5" >/dev/null 2>"$tmp/err" &&
  grep -q "$w5" <<<"$(grep -A5 "^left out:" "$tmp/err")" &&
  ok "too-small worker left out: $(grep -A5 '^left out:' "$tmp/err" | grep "$w5" | sed 's/^ *//')" ||
  bad "too-small worker: $(cat "$tmp/err")"
"$SUANLI" generate -m "$m" -p "Hi" -n 4 --workers "$w1,$w5" --split 2,2 >/dev/null 2>"$tmp/err"
[ $? -eq 1 ] && grep -q "error: .*need" "$tmp/err" && ok "forced onto a too-small worker: $(grep error "$tmp/err")" ||
  bad "forced onto a too-small worker: $(cat "$tmp/err")"

# A worker that dies (SIGKILL) or freezes (SIGSTOP) mid-request, first, middle or last of 3
# stages: the heartbeat notices it within --detect-timeout (2 s), the head names it, places its
# layers on the survivors, replays the sequence and finishes the request with exactly the
# undisturbed run's stdout (greedy and seeded, --act f32). Before: the head hung (SIGSTOP) or
# exited 1 blaming the wrong worker (a dead middle stage). Workers run 20x slowed so the request
# lasts; ref_out is each sampling mode's undisturbed output.
lost_ws=() lost_wp=()
lost_workers() {  # three fresh slowed workers in lost_ws / lost_wp / lost_wn (extra flags: all)
  local i name
  lost_ws=() lost_wp=() lost_wn=()
  for i in 0 1 2; do
    name="lost$RANDOM$i"
    start_worker "$name" --emulate-slowdown 20 "$@" || return 1
    lost_ws+=("$addr")
    lost_wp+=("${pids[-1]}")
    lost_wn+=("$name")
  done
}
wait_tokens() {  # wait_tokens FILE: until the head has printed some output
  local i
  for i in $(seq 1 300); do
    [ -s "$1" ] && return 0
    sleep 0.1
  done
}
gen_lost() {  # gen_lost OUT ERR SAMPLING...: the long request through lost_ws, in the background
  local out=$1 err=$2
  shift 2
  "$SUANLI" generate -m "$m" -p "Once upon a time" -n 200 --ignore-eos -c 4096 --act f32 "$@" \
    --workers "${lost_ws[0]},${lost_ws[1]},${lost_ws[2]}" --split 2,1,1 >"$out" 2>"$err" &
}
declare -A ref_out
# Under the sanitizer (SUANLI_SANITIZED) each of these runs takes a minute: it checks a kill and a
# freeze (first and middle stage, greedy) for memory errors; the Release run checks all four.
modes="greedy seeded"
[ -n "${SUANLI_SANITIZED:-}" ] && modes=greedy
lost_workers || true
for mode in $modes; do
  [ $mode = greedy ] && samp="--temp 0" || samp="--temp 0.9 --seed 7 --top-k 30"
  gen_lost "$tmp/ref_$mode.out" "$tmp/err" $samp
  wait $!
  ref_out[$mode]=$tmp/ref_$mode.out
done
for p in "${lost_wp[@]}"; do kill -9 "$p" 2>/dev/null; done
lost_worker_case() {  # lost_worker_case SIGNAL POSITION(0..2) greedy|seeded
  local sig=$1 pos=$2 mode=$3 i rc ms
  lost_workers || return
  [ $mode = greedy ] && samp="--temp 0" || samp="--temp 0.9 --seed 7 --top-k 30"
  gen_lost "$tmp/lost.out" "$tmp/err" $samp
  local head_pid=$!
  wait_tokens "$tmp/lost.out"
  sleep 0.5
  kill -"$sig" "${lost_wp[$pos]}"
  local t0
  t0=$(date +%s%N)
  for i in $(seq 1 3600); do kill -0 $head_pid 2>/dev/null || break; sleep 0.05; done  # 3 min
  ms=$((($(date +%s%N) - t0) / 1000000))
  kill -9 $head_pid 2>/dev/null
  wait $head_pid
  rc=$?
  kill -CONT "${lost_wp[$pos]}" 2>/dev/null
  for i in 0 1 2; do kill -9 "${lost_wp[$i]}" 2>/dev/null; done
  local lost again
  lost=$(grep "suanli: pool: .*${lost_ws[$pos]}.*re-placing" "$tmp/err" | head -1)
  again=$(grep -o "running again in [0-9.]* [mu]*s" "$tmp/err" | head -1)
  if [ $rc -eq 0 ] && cmp -s "$tmp/lost.out" "${ref_out[$mode]}" && [ -n "$lost" ] && [ -n "$again" ]; then
    ok "SIG$sig on stage $((pos + 1)) of 3, $mode: named, $again, same output as undisturbed"
  else
    bad "SIG$sig on stage $((pos + 1)) of 3 (${lost_ws[$pos]}), $mode: exit $rc after $ms ms, output $(cmp -s "$tmp/lost.out" "${ref_out[$mode]}" && echo same || echo differs): $(grep -E "pool:|error" "$tmp/err" | head -3)"
  fi
}
lost_worker_case STOP 0 greedy
lost_worker_case KILL 1 greedy
if [ -z "${SUANLI_SANITIZED:-}" ]; then
  lost_worker_case STOP 2 seeded
  lost_worker_case KILL 2 greedy
fi

# SIGTERM: the worker drains. Its heartbeat says it is leaving, the head moves its layers to the
# others (no failure to wait for), the output is the undisturbed one, and the worker exits 0 once
# its stage is gone, long before --drain-timeout.
lost_workers || true
gen_lost "$tmp/lost.out" "$tmp/err" --temp 0
head_pid=$!
wait_tokens "$tmp/lost.out"
sleep 0.5
kill -TERM "${lost_wp[1]}"
t0=$(date +%s%N)
wait "${lost_wp[1]}"
wrc=$?
wms=$((($(date +%s%N) - t0) / 1000000))
wait $head_pid
rc=$?
for i in 0 1 2; do kill -9 "${lost_wp[$i]}" 2>/dev/null; done
if [ $rc -eq 0 ] && [ $wrc -eq 0 ] && cmp -s "$tmp/lost.out" "${ref_out[greedy]}" &&
  grep -q "is leaving (SIGTERM)" "$tmp/err" && grep -q "drained in" "$tmp/${lost_wn[1]}.log"; then
  ok "SIGTERM on stage 2: drained in $wms ms, same output as undisturbed"
else
  bad "SIGTERM drain: head exit $rc, worker exit $wrc after $wms ms, output $(cmp -s "$tmp/lost.out" "${ref_out[greedy]}" && echo same || echo differs): $(grep -E "pool:|error" "$tmp/err" | head -2) / $(tail -2 "$tmp/${lost_wn[1]}.log")"
fi

# The straggler and rejoin cases below check how fast the head reacts to speeds it measures;
# under the sanitizer (SUANLI_SANITIZED, set by the build-asan ctest) every step is several times
# slower and mostly overhead, so they run in the Release run only (their code paths are covered
# there and by the recovery cases above, which do run under the sanitizer).
if [ -n "${SUANLI_SANITIZED:-}" ]; then
  echo "# straggler and rejoin cases: Release run only"
else
# A straggler: the worker holding the model gets 6x slower after a few seconds (a laptop that got
# busy) while its profile still says it is the fastest. The head sees its stage times drift from
# the profile, corrects it, places the layers again on an idle worker, replays, and the output is
# the undisturbed one.
straggler_run() {  # straggler_run OUT ERR THROTTLE: fresh workers, the head in the foreground
  local throttle=$1
  start_worker "slow$RANDOM" --emulate-slowdown 8 && sb=$addr && sbp=${pids[-1]}
  start_worker "slow$RANDOM" --emulate-slowdown 8 && sc=$addr && scp=${pids[-1]}
  start_worker "fast$RANDOM" --emulate-slowdown 4 --emulate-throttle "$throttle" \
    --emulate-throttle-after 2 && sa=$addr && sp=${pids[-1]}
  "$SUANLI" generate -m "$m" -p "Once upon a time" -n 900 --ignore-eos -c 4096 --act f32 --temp 0 \
    --workers "$sa,$sb,$sc" >"$2" 2>"$3"
  local rc=$?
  kill -9 "$sp" "$sbp" "$scp" 2>/dev/null
  return $rc
}
straggler_run 1 "$tmp/strag_ref.out" "$tmp/strag_ref.err" || bad "straggler reference: $(tail -2 "$tmp/strag_ref.err")"
t0=$(date +%s%N)
straggler_run 6 "$tmp/strag.out" "$tmp/strag.err"
rc=$?
sms=$((($(date +%s%N) - t0) / 1000000))
why=$(grep -o "re-placing for speed: .*" "$tmp/strag.err" | head -1)
if [ $rc -eq 0 ] && cmp -s "$tmp/strag.out" "$tmp/strag_ref.out" && [ -n "$why" ] &&
  ! grep -q "re-placing for speed" "$tmp/strag_ref.err"; then
  ok "straggler: $why; same output ($sms ms); $(grep '^pool:' "$tmp/strag.err" | tail -1)"
else
  bad "straggler: exit $rc, output $(cmp -s "$tmp/strag.out" "$tmp/strag_ref.out" && echo same || echo differs), '$why': $(grep -E "pool:|error" "$tmp/strag.err" | tail -3) / ref: $(grep -E "pool:" "$tmp/strag_ref.err" | tail -2)"
fi

# A worker that comes back is used again without waiting for a failure: the fast worker holds
# the whole model; frozen, its layers go to the slow one; thawed, the head greets it again (Rejoin,
# every 5 s) and, its plan being faster, moves the layers back while the request runs. Before,
# a thawed worker stayed lost until a later recovery needed it.
start_worker joinF --emulate-slowdown 2 && jf=$addr && jfp=${pids[-1]}
start_worker joinS --emulate-slowdown 30 && js=$addr
join_gen() {
  "$SUANLI" generate -m "$m" -p "Once upon a time" -n 1200 --ignore-eos -c 4096 --act f32 \
    --temp 0 --workers "$jf,$js" >"$1" 2>"$2"
}
join_gen "$tmp/join_ref.out" "$tmp/join_ref.err" || bad "rejoin reference: $(tail -2 "$tmp/join_ref.err")"
join_gen "$tmp/join.out" "$tmp/err" &
head_pid=$!
wait_tokens "$tmp/join.out"
kill -STOP "$jfp"
sleep 3
kill -CONT "$jfp"
wait $head_pid
rc=$?
if [ $rc -eq 0 ] && cmp -s "$tmp/join.out" "$tmp/join_ref.out" &&
  grep -q "worker $jf answers again" "$tmp/err" &&
  grep -q "re-placing for speed: the workers free now" "$tmp/err"; then
  ok "a thawed worker rejoins and takes the layers back mid-request: $(grep -o 'the workers free now[^;]*' "$tmp/err" | head -1); same output"
else
  bad "rejoin: exit $rc, output $(cmp -s "$tmp/join.out" "$tmp/join_ref.out" && echo same || echo differs): $(grep -E "pool:|error" "$tmp/err" | tail -4)"
fi
fi

# When the survivors cannot hold the model, the head waits --recovery-timeout for a device to
# come back, then exits 1 with the reason; and a worker that comes back at its address in time
# takes its layers again. Two workers that each hold only half the model.
start_worker half1 --emulate-slowdown 20 --emulate-memory-gib 0.04 && h1=$addr && h1p=${pids[-1]}
start_worker half2 --emulate-slowdown 20 --emulate-memory-gib 0.04 && h2=$addr && h2p=${pids[-1]}
"$SUANLI" generate -m "$m" -p "Once upon a time" -n 300 --ignore-eos -c 512 --act f32 --temp 0 \
  --workers "$h1,$h2" --recovery-timeout 2 >"$tmp/half.out" 2>"$tmp/err" &
head_pid=$!
wait_tokens "$tmp/half.out"
kill -9 "$h2p"
wait $head_pid
rc=$?
err=$(grep "suanli: error:" "$tmp/err" | head -1)
if [ $rc -eq 1 ] && echo "$err" | grep -q "no device took over within 2.00 s"; then
  ok "survivors too small: exit 1 after the recovery timeout: $err"
else
  bad "survivors too small: exit $rc: $(grep -E "error" "$tmp/err" | tail -1)"
fi
"$SUANLI" generate -m "$m" -p "Once upon a time" -n 300 --ignore-eos -c 512 --act f32 --temp 0 \
  --workers "$h1,$h2" >"$tmp/half_ref.out" 2>/dev/null || true  # h2 is gone: h1 alone cannot
start_worker half2b --emulate-slowdown 20 --emulate-memory-gib 0.04 && h2=$addr && h2p=${pids[-1]}
"$SUANLI" generate -m "$m" -p "Once upon a time" -n 300 --ignore-eos -c 512 --act f32 --temp 0 \
  --workers "$h1,$h2" >"$tmp/half_ref.out" 2>"$tmp/half_ref.err" ||
  bad "two half workers: $(tail -2 "$tmp/half_ref.err")"
kill -0 "$h2p" 2>/dev/null || { wait "$h2p"; echo "exit $? before the disturbed run" >"$tmp/half2b.exit"; }
"$SUANLI" generate -m "$m" -p "Once upon a time" -n 300 --ignore-eos -c 512 --act f32 --temp 0 \
  --workers "$h1,$h2" >"$tmp/half.out" 2>"$tmp/err" &
head_pid=$!
wait_tokens "$tmp/half.out"
kill -9 "$h2p"
wait "$h2p" 2>/dev/null
sleep 1
"$SUANLI" worker --listen "$h2" -t 1 --cache-dir "$tmp/half2b" --seconds-per-kernel 0.02 \
  --matvec-mib 8 --emulate-slowdown 20 --emulate-memory-gib 0.04 >"$tmp/half2c.log" 2>&1 &
pids+=($!)
wait $head_pid
rc=$?
if [ $rc -eq 0 ] && cmp -s "$tmp/half.out" "$tmp/half_ref.out" && grep -qE "worker $h2 (is back|answers again)" "$tmp/err"; then
  ok "a worker restarted at its address takes its layers back: same output"
else
  bad "restarted worker: exit $rc, output $(cmp -s "$tmp/half.out" "$tmp/half_ref.out" && echo same || echo differs): $(grep -E "pool:|error" "$tmp/err" | tail -3)"
  # Once seen in 2 of 6 runs: the head found $h2 unreachable at its start. Say what became of it.
  echo "# half2b ($h2): $(cat "$tmp/half2b.exit" 2>/dev/null || echo 'no exit recorded'); its log:"
  tail -5 "$tmp/half2b.log" | sed 's/^/#   /'
  echo "# the reference run's log:"
  grep -E "pool:|worker|error" "$tmp/half_ref.err" | tail -5 | sed 's/^/#   /'
fi

# Throughput placement: pipelines side by side when the devices allow, streams routed among them.
"$SUANLI" bench -m "$m" -p 16 -n 16 -r 1 --parallel 4 --workers "$w1,$w2" --objective throughput \
  >"$tmp/thr.txt" 2>"$tmp/thr.err"
if grep -q "4 streams" "$tmp/thr.txt" && grep -q "objective: throughput" "$tmp/thr.err"; then
  ok "throughput objective: $(grep -o 'pool: [0-9]* stage(s) in [0-9]* pipeline(s)' "$tmp/thr.txt")"
else
  bad "throughput objective: $(tail -2 "$tmp/thr.err")"
fi

# TLS: a CA, one certificate for 127.0.0.1 used by every node.
if command -v openssl >/dev/null; then
  (cd "$tmp" && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 \
      -subj "/CN=suanli-test-ca" >/dev/null 2>&1 &&
    openssl req -newkey rsa:2048 -nodes -keyout node.key -out node.csr -subj "/CN=127.0.0.1" \
      >/dev/null 2>&1 &&
    printf "subjectAltName=IP:127.0.0.1,DNS:localhost\n" >ext.cnf &&
    openssl x509 -req -in node.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out node.pem \
      -days 2 -extfile ext.cnf >/dev/null 2>&1) || bad "openssl could not make test certificates"
  tls=(--tls-cert "$tmp/node.pem" --tls-key "$tmp/node.key" --tls-ca "$tmp/ca.pem")
  start_worker wt1 "${tls[@]}" && wt1=$addr
  start_worker wt2 "${tls[@]}" && wt2=$addr
  "$SUANLI" generate -m "$m" -p "Once upon a time" -n 8 --temp 0 -t 1 >"$tmp/tl.txt" 2>/dev/null
  "$SUANLI" generate -m "$m" -p "Once upon a time" -n 8 --temp 0 --workers "$wt1,$wt2" --split 2,2 \
    --act f32 "${tls[@]}" >"$tmp/tp.txt" 2>"$tmp/err" && cmp -s "$tmp/tl.txt" "$tmp/tp.txt" &&
    ok "TLS pool: same output" || bad "TLS pool: $(tail -2 "$tmp/err")"
  "$SUANLI" generate -m "$m" -p "Hi" -n 2 --workers "$wt1" >/dev/null 2>"$tmp/err"
  [ $? -eq 1 ] && ok "plain head cannot use a TLS worker" || bad "plain head used a TLS worker"
else
  bad "openssl command missing (scripts/deps.sh test installs it)"
fi

# Pool certificates (suanli pool init / enroll / revoke): TLS on every link, certificates that
# name the pool rather than an address. A worker revoked mid-request is dropped at the head's
# next heartbeat, its layers move to the others and the output is the undisturbed one; a head
# without the pool's certificates cannot use the workers.
pd=$tmp/pool
if "$SUANLI" pool init --dir "$pd" >/dev/null &&
  for n in pc1 pc2 pc3; do "$SUANLI" pool enroll $n --dir "$pd" >/dev/null || exit 1; done; then
  pc_ws=()
  for n in pc1 pc2 pc3; do
    start_worker "$n" --emulate-slowdown 20 --pool-dir "$pd/nodes/$n" && pc_ws+=("$addr")
  done
  pc_list=$(IFS=,; echo "${pc_ws[*]}")
  grep -q "(TLS)" "$tmp/pc1.log" || bad "pool-certificate worker is not on TLS: $(head -2 "$tmp/pc1.log")"
  "$SUANLI" generate -m "$m" -p "Once upon a time" -n 200 --ignore-eos -c 4096 --act f32 --temp 0 \
    --workers "$pc_list" --split 2,1,1 --pool-dir "$pd" >"$tmp/pc.out" 2>"$tmp/pc.err" &
  head_pid=$!
  wait_tokens "$tmp/pc.out"
  sleep 0.5
  "$SUANLI" pool revoke pc2 --dir "$pd" >/dev/null || bad "pool revoke failed"
  for _ in $(seq 1 3600); do kill -0 $head_pid 2>/dev/null || break; sleep 0.05; done
  kill -9 $head_pid 2>/dev/null
  wait $head_pid
  rc=$?
  if [ $rc -eq 0 ] && cmp -s "$tmp/pc.out" "${ref_out[greedy]}" &&
    grep -q "certificate was revoked" "$tmp/pc.err"; then
    ok "pool certificates: pc2 revoked mid-request, dropped and replaced, same output ($(grep -o "running again in [0-9.]* [mu]*s" "$tmp/pc.err" | head -1))"
  else
    bad "pool certificates, revoked mid-request: exit $rc, output $(cmp -s "$tmp/pc.out" "${ref_out[greedy]}" && echo same || echo differs): $(grep -E "pool:|error|revoked" "$tmp/pc.err" | head -3)"
  fi
  "$SUANLI" generate -m "$m" -p "Hi" -n 2 --workers "${pc_ws[1]}" --pool-dir "$pd" >/dev/null 2>"$tmp/err"
  grep -q "revoked" "$tmp/err" && ok "a revoked worker is refused by the head" ||
    bad "revoked worker: $(tail -2 "$tmp/err")"
  "$SUANLI" generate -m "$m" -p "Hi" -n 2 --workers "${pc_ws[0]}" >/dev/null 2>"$tmp/err"
  [ $? -eq 1 ] && ok "a head without the pool's certificates cannot use its workers" ||
    bad "a plain head used a pool-certificate worker"
  "$SUANLI" generate -m "$m" -p "Hi" -n 2 --workers "${pc_ws[0]}" --pool-dir "$pd/nodes/pc2" \
    >/dev/null 2>"$tmp/err"
  [ $? -eq 1 ] && grep -q "revoked" "$tmp/err" &&
    ok "the revoked device cannot act as a head either: $(grep -o "rejected.*revoked" "$tmp/err" | head -1 | cut -c1-80)" ||
    bad "revoked device as head: $(tail -2 "$tmp/err")"
else
  bad "suanli pool init/enroll failed"
fi

echo "pool_test: $fails failure(s)"
[ $fails -eq 0 ]
