#!/usr/bin/env bash
# Black-box attacks on workers and heads, by the built binaries.
#  - A stranger without the pool token (tests/support/flood.cc): big unary bodies, hundreds of
#    streams, big held streams, big handshakes, many connections. Each must leave the worker's
#    peak memory within idle + 64 MiB and the worker serving an honest head.
#  - Impostors and insiders (tests/support/hostile_peer.cc): a fake worker, a relay that replays
#    and forges calls in a head's session, a poisoned weight push, a pipeline thief and a stage
#    leaker. Each is refused, and honest heads get their undisturbed output meanwhile.
#  (A frozen stage: pool_test's SIGSTOP cases.)
# Usage: attack_test.sh PATH/TO/suanli PATH/TO/flood PATH/TO/hostile_peer
set -uo pipefail
SUANLI=$1
FLOOD=$2
HOSTILE=$3
. "$(dirname "$0")/test_lib.sh"
export SUANLI_TOKEN=attack-test-token-1
# Under AddressSanitizer freed blocks wait in a quarantine (256 MiB by default) that would count
# as the worker's memory: keep it small so the ASan run measures the same thing.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=4:thread_local_quarantine_size_kb=64"

. "$(dirname "$0")/worker_lib.sh"

"$SUANLI" model synth -o "$tmp/m.gguf" --shape tiny --type q4_0 >/dev/null 2>&1 || bad "model synth"
start_worker w1 || exit 1
w1=$addr
wpid=${pids[-1]}
honest() {
  "$SUANLI" generate -m "$tmp/m.gguf" --workers "$w1" -p "Once upon a time" -n 8 --temp 0 \
    >"$tmp/out" 2>"$tmp/err"
}
honest && ok "an honest head is served" || bad "honest head before the floods: $(tail -2 "$tmp/err")"
cp "$tmp/out" "$tmp/ref"
kib() { awk -v k="$1" '$1 == k":" {print $2}' "/proc/$wpid/status"; }
idle=$(kib VmRSS)
ok "worker idle RSS $((idle / 1024)) MiB"
limit=$((64 * 1024))

# flood MODE N MIB: the worker's peak RSS during it (VmHWM, reset first) against idle + 64 MiB.
flood() {
  echo 5 >"/proc/$wpid/clear_refs" 2>/dev/null
  local line
  line=$("$FLOOD" "$w1" "$1" "$2" "$3" 3 2>&1)
  local peak
  peak=$(kib VmHWM)
  local grew=$((peak - idle))
  if [ "$grew" -le "$limit" ]; then
    ok "$1 x$2 of $3 MiB: peak RSS idle + $((grew / 1024)) MiB ($line)"
  else
    bad "$1 x$2 of $3 MiB: peak RSS idle + $((grew / 1024)) MiB, over 64 ($line)"
  fi
  kill -0 "$wpid" 2>/dev/null || { bad "the worker died"; exit 1; }
  if honest && cmp -s "$tmp/out" "$tmp/ref"; then
    ok "served an honest head after it"
  else
    bad "honest head after $1: $(tail -2 "$tmp/err")"
  fi
}
flood unary 16 32
flood hello 16 32
flood stream 200 1
flood stream 4 100
flood conns 64 1

# hostile_peer MODE ARGS... in the background, output in $tmp/MODE.out; for the modes that
# listen, waits for the line and sets $haddr. Sets $hpid.
hostile_bg() {
  local mode=$1
  "$HOSTILE" "$@" >"$tmp/$mode.out" 2>&1 &
  hpid=$!
  pids+=($hpid)
  haddr=""
  local _
  for _ in $(seq 1 100); do
    haddr=$(sed -n 's/^listening on \([0-9.:]*\)$/\1/p' "$tmp/$mode.out")
    [ -n "$haddr" ] && return 0
    grep -q "^holding" "$tmp/$mode.out" && return 0
    kill -0 $hpid 2>/dev/null || break
    sleep 0.1
  done
  [ "$mode" = fake-worker ] || [ "$mode" = relay ] || [ "$mode" = poison ] || return 0
  bad "hostile_peer $mode did not start: $(tail -2 "$tmp/$mode.out")"
  return 1
}
# The attacks in MODE's output: all refused, at least $2 of them.
all_refused() {
  local n
  n=$(grep -c "^refused:" "$tmp/$1.out")
  ! grep -q "^ACCEPTED" "$tmp/$1.out" && [ "$n" -ge "$2" ]
}
honest_on() {  # honest_on ADDR [generate flags]: the honest head's run, output in $tmp/out
  local a=$1
  shift
  "$SUANLI" generate -m "$tmp/m.gguf" --workers "$a" -p "Once upon a time" --temp 0 "$@" \
    >"$tmp/out" 2>"$tmp/err"
}

# A fake worker without the token (whatever answers a discovery probe, say): the head names it
# and stops, and nothing it sent holds the token in any form. (Before the handshake, the head
# sent its call key to any address it dialled.)
if hostile_bg fake-worker 127.0.0.1:0 4 "$tmp/capture"; then
  honest_on "$haddr" -n 8
  frc=$?
  wait $hpid
  tok_hex=$(printf %s "$SUANLI_TOKEN" | od -An -tx1 | tr -d ' \n')
  tok_b64=$(printf %s "$SUANLI_TOKEN" | base64)
  if [ $frc -ne 0 ] && grep -q "$haddr.*does not prove it knows the pool token" "$tmp/err" &&
    grep -q "^Hello" "$tmp/capture" && ! grep -aqiF -e "$SUANLI_TOKEN" -e "$tok_hex" -e "$tok_b64" "$tmp/capture"; then
    ok "a fake worker is refused by name and learns no token ($(tail -1 "$tmp/fake-worker.out"))"
  else
    bad "fake worker: head exit $frc: $(tail -1 "$tmp/err"); capture: $(head -c 300 "$tmp/capture" | tr -c '[:print:]' .)"
  fi
fi

# A relay between an honest head and w1 on plain TCP: it passes the handshake through (the
# worker's proof answers the head's own nonce, so it cannot be used elsewhere), then replays one
# of the head's calls and forges three in its session: all refused, and the head, whose calls
# it passes on, gets its undisturbed output.
if hostile_bg relay 127.0.0.1:0 "$w1" 20; then
  honest_on "$haddr" -n 8
  rrc=$?
  kill $hpid 2>/dev/null
  wait $hpid 2>/dev/null
  if [ $rrc -eq 0 ] && cmp -s "$tmp/out" "$tmp/ref" && all_refused relay 4; then
    ok "a relay's replayed and forged calls in a head's session are refused: $(grep -c '^refused' "$tmp/relay.out") of $(grep -c '^refused\|^ACCEPTED' "$tmp/relay.out"); the head's output is unchanged"
  else
    bad "relay: head exit $rrc, output $(cmp -s "$tmp/out" "$tmp/ref" && echo same || echo differs): $(grep -v "^refused" "$tmp/relay.out" | head -3) $(tail -1 "$tmp/err")"
  fi
fi

# A poisoned push by an insider (a pool member with the token) to a worker that lacks the model:
# zeroed and all-ones tensors under the real model's hash. A stage expecting the real digests
# does not use them; while the insider holds a stage on its poisoned copy, an honest head is
# served the real weights and its undisturbed output. (Before, the worker cached the push and
# the next honest head got empty or NaN output, exit 0.)
start_worker w2 || exit 1
w2=$addr
if hostile_bg poison "$w2" "$tmp/m.gguf" 30; then
  honest_on "$w2" -n 8
  prc=$?
  kill $hpid 2>/dev/null
  wait $hpid 2>/dev/null
  if [ $prc -eq 0 ] && cmp -s "$tmp/out" "$tmp/ref" && all_refused poison 1; then
    ok "a poisoned push is never served: $(grep '^refused' "$tmp/poison.out" | head -1 | cut -c1-90); an honest head gets the real output"
  else
    bad "poisoned push: head exit $prc, output $(cmp -s "$tmp/out" "$tmp/ref" && echo same || echo differs): $(cat "$tmp/poison.out" | head -4) / $(tail -2 "$tmp/err")"
  fi
fi

# A pipeline thief: an insider that read another head's pipeline id (it is in the worker's log)
# calls on that pipeline while it runs: every call is refused, its Unload changes nothing, and the
# owner runs undisturbed (no recovery, the undisturbed output). (Before, the id alone let any key
# holder read its results, unload or replace its stages.)
honest_on "$w1" -n 60 && cp "$tmp/out" "$tmp/ref60"
start_worker w3 --emulate-slowdown 20 || exit 1
w3=$addr
honest_on "$w3" -n 60 &
head_pid=$!
pipe=""
for _ in $(seq 1 100); do
  pipe=$(sed -n 's/^suanli worker: pipeline \([^: ]*\): .* of .*/\1/p' "$tmp/w3.log" | head -1)
  [ -n "$pipe" ] && break
  sleep 0.1
done
if [ -n "$pipe" ]; then
  "$HOSTILE" thief "$w3" "$tmp/m.gguf" "$pipe" >"$tmp/thief.out" 2>&1
  trc=$?
fi
wait $head_pid
hrc=$?
if [ -n "$pipe" ] && [ "$trc" = 0 ] && all_refused thief 4 && [ $hrc -eq 0 ] && cmp -s "$tmp/out" "$tmp/ref60" &&
  ! grep -q "re-placing\|lost" "$tmp/err" && [ "$(grep -c "pipeline $pipe:" "$tmp/w3.log")" -le 1 ]; then
  ok "a pipeline thief's calls on a running pipeline are refused (4 and an Unload that did nothing); its owner ran undisturbed"
else
  bad "thief on '$pipe': exit ${trc:-none}, head exit $hrc, output $(cmp -s "$tmp/out" "$tmp/ref60" && echo same || echo differs): $(cat "$tmp/thief.out" 2>/dev/null | head -5)"
fi

# A stage leaker: an insider loads 60 stages and never feeds them. The worker takes as many as
# its stage cap allows and refuses the rest by name; its memory grows by no more than it counted
# for them (weights, KV, scratch: its budget holds) + 64 MiB; every stage is freed after
# --stage-timeout, its memory and threads come back, and an honest head is served. (Before, 60
# loads leaked 1.2 GB and 62 threads, never freed.)
start_worker w4 --stage-timeout 2 || exit 1
w4=$addr
w4pid=${pids[-1]}
honest_on "$w4" -n 8
st() { awk -v k="$1" '$1 == k":" {print $2}' "/proc/$w4pid/status"; }
idle4=$(st VmRSS)
threads4=$(st Threads)
echo 5 >"/proc/$w4pid/clear_refs" 2>/dev/null
"$HOSTILE" leak "$w4" "$tmp/m.gguf" 60 >"$tmp/leak.out" 2>&1
lrc=$?
peak4=$(st VmHWM)
loaded=$(sed -n 's/^\([0-9]*\) of 60 stages loaded.*/\1/p' "$tmp/leak.out")
counted=$(sed -n 's/.* loaded, \([0-9]*\) MiB counted.*/\1/p' "$tmp/leak.out")
freed=0
for _ in $(seq 1 100); do  # 2 s of --stage-timeout, checked once a second: 10 s at most
  freed=$(grep -c "no Forward stream within .* stage freed" "$tmp/w4.log")
  [ "$freed" -ge "${loaded:-1}" ] && break
  sleep 0.1
done
sleep 0.5
threads_after=$(st Threads)
after4=$(st VmRSS)
grew=$(((peak4 - idle4) / 1024))
# (Loaded can exceed the cap of 16 when the loads take longer than --stage-timeout, as under
# ASan: the first ones expire meanwhile and make room.)
if [ $lrc -eq 0 ] && [ -n "$loaded" ] && [ "$loaded" -lt 60 ] &&
  grep -q "already holds [0-9]* stages (at most 16)" "$tmp/leak.out" &&
  [ "$grew" -le $((counted + 64)) ] && [ "$freed" -ge "$loaded" ] &&
  [ $((after4 - idle4)) -le "$limit" ] && [ "$threads_after" -le $((threads4 + 2)) ] &&
  honest_on "$w4" -n 8 && cmp -s "$tmp/out" "$tmp/ref"; then
  ok "a stage leaker: $loaded of 60 loaded, the rest refused; peak RSS idle + $grew MiB for $counted MiB counted; all $freed freed; RSS idle + $(((after4 - idle4) / 1024)) MiB and threads $threads4 -> $threads_after after"
else
  bad "stage leaker: exit $lrc, $(head -1 "$tmp/leak.out"); peak idle + $grew MiB, freed $freed, RSS after idle + $(((after4 - idle4) / 1024)) MiB, threads $threads4 -> $threads_after"
fi

if [ "$fails" -eq 0 ]; then echo "attack_test: all passed"; else echo "attack_test: $fails failed"; fi
[ "$fails" -eq 0 ]
