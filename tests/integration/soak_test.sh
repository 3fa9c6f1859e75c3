#!/usr/bin/env bash
# Soak: `suanli serve` over a pool of 4 workers, each in its own network namespace joined to the
# head's by a veth (TLS with the pool's own certificates), each worker holding half the model (so
# any 2 hold it), under a steady stream of greedy requests from 4 clients, while every PERIOD
# seconds a worker of the running pipeline is killed (-9), frozen (SIGSTOP) or cut off (its link
# set down), in turn, and restarted at its address (thawed, its link healed) PERIOD/2 later.
# Reports requests sent / completed / failed, tokens/s against an undisturbed run (CALM seconds),
# latency p50 / p99 and the recovery times; fails when any request failed or any output differs
# from its undisturbed reference.
#   soak_test.sh PATH/TO/suanli [SECONDS (default 120)] [PERIOD (default 30)] [CALM (default 60)]
# The suite runs 120 s with a disturbance every 20 s after 30 s undisturbed; bench/RESULTS.md
# records longer runs. Needs root and iproute2 (it fails, never skips, without them); only the
# namespaces' own addresses (10.78.x.y) are used.
set -uo pipefail
SUANLI=$1
SECONDS_TOTAL=${2:-120}
PERIOD=${3:-30}
CALM=${4:-60}
. "$(dirname "$0")/test_lib.sh"
export SUANLI_TOKEN=soak-test-token-1
id=$$
H=soakh$id
W=(soakw0$id soakw1$id soakw2$id soakw3$id)
netns_cleanup() {
  for ns in "$H" "${W[@]}"; do ip netns del "$ns" 2>/dev/null; done
}
trap 'cleanup; netns_cleanup' EXIT
[ "$(id -u)" = 0 ] && command -v ip >/dev/null || { bad "needs root and iproute2 (network namespaces)"; exit 1; }
{
  set -e
  ip netns add "$H"
  ip -n "$H" link set lo up
  ip netns exec "$H" sysctl -qw net.ipv4.ip_forward=1
  for i in 0 1 2 3; do
    ip netns add "${W[$i]}"
    ip -n "${W[$i]}" link set lo up
    ip link add "skh$i$id" type veth peer name "skw$i$id"
    ip link set "skh$i$id" netns "$H"
    ip link set "skw$i$id" netns "${W[$i]}"
    ip -n "$H" addr add "10.78.$((i + 1)).1/24" dev "skh$i$id"
    ip -n "${W[$i]}" addr add "10.78.$((i + 1)).2/24" dev "skw$i$id"
    ip -n "$H" link set "skh$i$id" up
    ip -n "${W[$i]}" link set "skw$i$id" up
    ip -n "${W[$i]}" route add default via "10.78.$((i + 1)).1"
  done
  set +e
} >"$tmp/netns.log" 2>&1 || { bad "namespace set-up failed: $(tail -2 "$tmp/netns.log")"; exit 1; }
set +e
ip netns exec "${W[0]}" ping -c 1 -W 2 10.78.4.2 >/dev/null 2>&1 || { bad "no route between the namespaces"; exit 1; }
# In the head's namespace (the server and its clients). `ip netns exec` execs its command, so
# $! is the worker's or the server's own pid (to kill and freeze).
inh() { ip netns exec "$H" "$@"; }

"$SUANLI" model synth -o "$tmp/soak.gguf" --shape tiny --type q4_0 >/dev/null 2>&1 || {
  bad "model synth"
  exit 1
}
pd=$tmp/pool
{ "$SUANLI" pool init --dir "$pd" && for i in 0 1 2 3; do "$SUANLI" pool enroll "soak$i" --dir "$pd"; done; } \
  >"$tmp/pool.log" 2>&1 || { bad "suanli pool init/enroll: $(tail -2 "$tmp/pool.log")"; exit 1; }
# Four workers on one host: the head splits the host's reported memory among them, so 0.08 GiB
# each counts as about 20 MiB, half of what the model needs at -c 512.
wflags=(--emulate-slowdown 5 --emulate-memory-gib 0.08)
waddr=() wpid=() wname=()
start_soak_worker() {  # start_soak_worker I: worker I in its namespace, at its address
  ip netns exec "${W[$1]}" "$SUANLI" worker --listen "10.78.$(($1 + 1)).2:7000" -t 1 \
    --cache-dir "$tmp/soak$1" --pool-dir "$pd/nodes/soak$1" --seconds-per-kernel 0.02 --matvec-mib 8 \
    "${wflags[@]}" >>"$tmp/soak$1.log" 2>&1 &
  wpid[$1]=$!
  pids+=($!)
}
for i in 0 1 2 3; do
  waddr+=("10.78.$((i + 1)).2:7000")
  wname+=("soak$i")
  start_soak_worker $i
done
for i in 0 1 2 3; do
  for _ in $(seq 1 600); do
    grep -q "listening on" "$tmp/soak$i.log" 2>/dev/null && break
    kill -0 "${wpid[$i]}" 2>/dev/null || break
    sleep 0.1
  done
  grep -q "listening on .*(TLS)" "$tmp/soak$i.log" || { bad "worker $i did not start: $(tail -2 "$tmp/soak$i.log")"; exit 1; }
done
port=7100
url=http://127.0.0.1:$port
ip netns exec "$H" "$SUANLI" serve -m "$tmp/soak.gguf" --listen 127.0.0.1:$port \
  --parallel 4 -c 512 --act f32 --pool-dir "$pd" \
  --workers "$(IFS=,; echo "${waddr[*]}")" >"$tmp/serve.log" 2>&1 &
spid=$!
pids+=($spid)
for _ in $(seq 1 600); do
  [ "$(inh curl -s -o /dev/null -w '%{http_code}' "$url/health")" = 200 ] && break
  sleep 0.1
done
stages=$(inh curl -s "$url/v1/pool/state" | jq '.placement.pipelines[0].stages | length')
[ "${stages:-0}" -ge 2 ] && ok "pool over 4 namespaces (TLS): $stages stages (no worker holds the model alone)" ||
  bad "pool: $stages stage(s): $(tail -3 "$tmp/serve.log")"

# The references: each prompt's greedy output, undisturbed.
n_prompts=8
req() { echo "{\"prompt\": \"soak prompt $1 $(printf 'w%d ' $(seq 1 $(($1 * 3))))\", \"max_tokens\": 48, \"temperature\": 0, \"ignore_eos\": true}"; }
for i in $(seq 0 $((n_prompts - 1))); do
  inh curl -s -m 60 "$url/v1/completions" -d "$(req "$i")" | jq -r '.choices[0].text' >"$tmp/ref$i"
  [ -s "$tmp/ref$i" ] || bad "reference $i: empty"
done

# client ID END LOG: requests until END (epoch seconds); one line per request:
# "ok|fail|differs SECONDS TOKENS".
client() {
  local id=$1 end=$2 log=$3 n=0 p out code t
  while [ "$(date +%s)" -lt "$end" ]; do
    p=$(((id * 3 + n) % n_prompts))
    n=$((n + 1))
    out=$(inh curl -s -m 90 -o "$tmp/c$id.json" -w '%{http_code} %{time_total}' "$url/v1/completions" -d "$(req "$p")")
    code=${out% *}
    t=${out#* }
    if [ "$code" != 200 ]; then
      echo "fail $t 0 $code $(head -c 200 "$tmp/c$id.json")" >>"$log"
    elif [ "$(jq -r '.choices[0].text' "$tmp/c$id.json")" != "$(cat "$tmp/ref$p")" ]; then
      echo "differs $t 0 prompt $p" >>"$log"
    else
      echo "ok $t $(jq -r '.usage.completion_tokens' "$tmp/c$id.json")" >>"$log"
    fi
  done
}
run_load() {  # run_load SECONDS LOG: 4 clients in the background, their pids in cp
  local end=$(($(date +%s) + $1)) c
  cp=()
  for c in 0 1 2 3; do
    client "$c" "$end" "$2" &
    cp+=($!)
  done
}
pct() {  # pct P: the P-th percentile of the numbers on stdin (one per line)
  sort -g | awk -v p="$1" '{ v[NR] = $1 } END { i = int(NR * p / 100 + 0.999); if (i < 1) i = 1; if (NR) print v[i]; else print 0 }'
}
summary() {  # summary LOG SECONDS
  local n okc fl df tok
  n=$(wc -l <"$1")
  okc=$(grep -c '^ok' "$1")
  fl=$(grep -c '^fail' "$1")
  df=$(grep -c '^differs' "$1")
  tok=$(awk '$1 == "ok" { t += $3 } END { print t + 0 }' "$1")
  echo "$n sent, $okc completed, $fl failed, $df differ; $(awk -v t="$tok" -v s="$2" 'BEGIN { printf "%.1f", t / s }') tok/s; latency p50 $(awk '$1 == "ok" { print $2 }' "$1" | pct 50) s, p99 $(awk '$1 == "ok" { print $2 }' "$1" | pct 99) s"
}

# Undisturbed first (CALM seconds at most: it gives the rate to compare with).
calm_s=$((SECONDS_TOTAL < CALM ? SECONDS_TOTAL : CALM))
run_load "$calm_s" "$tmp/calm.log"
wait "${cp[@]}"
calm=$(summary "$tmp/calm.log" "$calm_s")
echo "# undisturbed ${calm_s} s: $calm"

# Disturbed: every PERIOD s one worker of the running pipeline goes (killed, frozen or cut off,
# in turn) and comes back PERIOD/2 later.
run_load "$SECONDS_TOTAL" "$tmp/soak.log"
end=$(($(date +%s) + SECONDS_TOTAL))
k=0
while [ $(($(date +%s) + PERIOD)) -le "$end" ]; do
  sleep $((PERIOD / 2))
  victim=$(inh curl -s "$url/v1/pool/state" | jq -r ".placement.pipelines[0].stages[$((k % 2))].device")
  v=-1
  for i in 0 1 2 3; do [ "${waddr[$i]}" = "$victim" ] && v=$i; done
  [ $v -ge 0 ] || { bad "no worker named $victim in the placement"; break; }
  case $((k % 3)) in
    0) { kill -9 "${wpid[$v]}"; wait "${wpid[$v]}"; } 2>/dev/null; echo "# $(date +%T) killed ${waddr[$v]}" ;;
    1) kill -STOP "${wpid[$v]}"; echo "# $(date +%T) froze ${waddr[$v]}" ;;
    2) ip -n "$H" link set "skh$v$id" down; echo "# $(date +%T) cut ${waddr[$v]} off" ;;
  esac
  sleep $((PERIOD / 2))
  case $((k % 3)) in
    0) start_soak_worker $v; echo "# $(date +%T) restarted ${waddr[$v]}" ;;
    1) kill -CONT "${wpid[$v]}"; echo "# $(date +%T) thawed ${waddr[$v]}" ;;
    2) ip -n "$H" link set "skh$v$id" up; echo "# $(date +%T) healed the link of ${waddr[$v]}" ;;
  esac
  k=$((k + 1))
done
wait "${cp[@]}"
soak=$(summary "$tmp/soak.log" "$SECONDS_TOTAL")
echo "# disturbed ${SECONDS_TOTAL} s, $k disturbances: $soak"
secs() { awk '{ v = $(NF - 1); if ($NF == "ms") v /= 1000; if ($NF == "us") v /= 1e6; print v }'; }
nrec=$(grep -c 'running again in' "$tmp/serve.log")
rec="$nrec recoveries (failure seen to running again): p50 $(grep -o 'running again in [0-9.]* [mu]*s' "$tmp/serve.log" | secs | pct 50) s, max $(grep -o 'running again in [0-9.]* [mu]*s' "$tmp/serve.log" | secs | pct 100) s"
det="freezes noticed at most $(grep -o 'noticed [0-9.]* [mu]*s' "$tmp/serve.log" | secs | pct 100) s after the last good heartbeat"
echo "# $rec; $det"
ratio=$(awk -v a="$(echo "$soak" | sed 's/.* differ; \([0-9.]*\) tok\/s.*/\1/')" -v b="$(echo "$calm" | sed 's/.* differ; \([0-9.]*\) tok\/s.*/\1/')" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
echo "# throughput disturbed / undisturbed: ${ratio}x"
nfail=$(grep -c '^fail' "$tmp/soak.log")
ndiff=$(grep -c '^differs' "$tmp/soak.log")
ndone=$(grep -c '^ok' "$tmp/soak.log")
[ "$k" -ge 1 ] && [ "$ndone" -gt 0 ] && [ "$nfail" = 0 ] && [ "$ndiff" = 0 ] &&
  ok "soak: $k disturbances, $ndone requests completed, 0 failed, every output equal to its reference" ||
  bad "soak: $k disturbances, $ndone completed, $nfail failed, $ndiff differ: $(grep -v '^ok' "$tmp/soak.log" | head -3)"
grep -q "running again" "$tmp/serve.log" && ok "recoveries: $rec" || bad "no recovery logged: $(grep pool: "$tmp/serve.log" | tail -3)"
if [ "$fails" != 0 ]; then
  echo "# the head's log, last pool lines and errors:"
  grep -E 'pool:|error|never' "$tmp/serve.log" | tail -20 | sed 's/^/#   /'
fi
[ -z "${SOAK_LOG:-}" ] || cp "$tmp/serve.log" "$SOAK_LOG"  # the head's log, kept when asked
echo "soak_test: $fails failure(s)"
[ "$fails" = 0 ]
