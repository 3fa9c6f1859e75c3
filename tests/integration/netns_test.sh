#!/usr/bin/env bash
# Multi-host pool in network namespaces created here: a head namespace, a LAN-like worker (veth,
# tbf 1 Gbit/s) and a phone-like worker (veth, tbf 30 Mbit/s, plus a relay that holds every byte
# 15 ms each way: 30 ms RTT, since these kernels have no netem qdisc). Checks that generation
# through the namespaces gives one device's output, that the latency placement leaves the phone
# out because of its link (and says so), that a forced split through the phone still works, and
# that its measured per-token latency is close to the placement's prediction. Every link is TLS
# with the pool's own certificates (suanli pool init / enroll); plain TCP between the namespaces
# is refused.
# Needs root and iproute2; if the emulation cannot be set up the test fails (it never skips).
# Only the namespaces' own addresses (10.77.x.y inside them) are used.
# Usage: netns_test.sh PATH/TO/suanli PATH/TO/delay_relay
set -uo pipefail
SUANLI=$1
RELAY=$2
id=$$
H=slh$id A=sla$id P=slp$id
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  for ns in $H $A $P; do ip netns del "$ns" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT
fails=0
ok() { echo "ok - $*"; }
bad() { echo "FAIL - $*"; fails=$((fails + 1)); }
die() { echo "FAIL - $*"; echo "netns_test: emulation could not be set up"; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root to create network namespaces"
command -v ip >/dev/null && command -v tc >/dev/null || die "needs ip and tc (iproute2)"
set -e
{
  for ns in $H $A $P; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
  ip link add "ha$id" type veth peer name "ah$id"
  ip link set "ha$id" netns $H
  ip link set "ah$id" netns $A
  ip link add "hp$id" type veth peer name "ph$id"
  ip link set "hp$id" netns $H
  ip link set "ph$id" netns $P
  ip -n $H addr add 10.77.1.1/24 dev "ha$id"
  ip -n $A addr add 10.77.1.2/24 dev "ah$id"
  ip -n $H addr add 10.77.2.1/24 dev "hp$id"
  ip -n $P addr add 10.77.2.2/24 dev "ph$id"
  for l in "$H ha$id" "$A ah$id" "$H hp$id" "$P ph$id"; do
    set -- $l
    ip -n "$1" link set "$2" up
  done
  ip -n $A route add default via 10.77.1.1
  ip -n $P route add default via 10.77.2.1
  ip -n $A route add 224.0.0.0/4 dev "ah$id"  # multicast for --discover
  ip netns exec $H sysctl -qw net.ipv4.ip_forward=1
  # LAN: 1 Gbit/s; phone: 30 Mbit/s, both directions.
  tc -n $H qdisc add dev "ha$id" root tbf rate 1gbit burst 256kb latency 50ms
  tc -n $A qdisc add dev "ah$id" root tbf rate 1gbit burst 256kb latency 50ms
  tc -n $H qdisc add dev "hp$id" root tbf rate 30mbit burst 32kb latency 400ms
  tc -n $P qdisc add dev "ph$id" root tbf rate 30mbit burst 32kb latency 400ms
} >"$tmp/setup.log" 2>&1 || die "namespace set-up failed: $(tail -3 "$tmp/setup.log")"
set +e
ip netns exec $A ping -c 1 -W 2 10.77.2.2 >/dev/null 2>&1 || die "no route between the namespaces"
ok "namespaces $H $A $P joined by veth, tbf 1 Gbit/s and 30 Mbit/s"

export SUANLI_TOKEN=netns-test-token
export SUANLI_CACHE_DIR=$tmp/cache
mkdir -p "$tmp/models"
"$SUANLI" model synth -o "$tmp/models/m.gguf" --shape tiny --type q8_0 >/dev/null 2>&1 ||
  die "model synth failed"
m=$tmp/models/m.gguf
pd=$tmp/pool
{ "$SUANLI" pool init --dir "$pd" && "$SUANLI" pool enroll lan --dir "$pd" &&
  "$SUANLI" pool enroll phone --dir "$pd" && "$SUANLI" pool enroll lan2 --dir "$pd"; } >/dev/null 2>&1 || die "suanli pool init/enroll failed"
start() {  # start NS NAME ADDR [flags]
  local ns=$1 name=$2 addr=$3
  shift 3
  timeout 600 ip netns exec "$ns" "$SUANLI" worker --listen "$addr" -t 1 --cache-dir "$tmp/$name" \
    --pool-dir "$pd/nodes/$name" \
    --seconds-per-kernel 0.02 --matvec-mib 8 "$@" >"$tmp/$name.log" 2>&1 &
  pids+=($!)
}
export SUANLI_DISCOVERY_PORT=$((40000 + id % 20000))
start $A lan 10.77.1.2:7000 --model-dir "$tmp/models" --announce
start $P phone 10.77.2.2:7000
timeout 600 ip netns exec $H "$RELAY" 10.77.2.1:7100 10.77.2.2:7000 15 600 >"$tmp/relay.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 300); do
  grep -q listening "$tmp/lan.log" 2>/dev/null && grep -q listening "$tmp/phone.log" 2>/dev/null &&
    grep -q delay_relay "$tmp/relay.log" 2>/dev/null && break
  sleep 0.1
done
grep -q listening "$tmp/phone.log" || die "phone worker did not start: $(tail -2 "$tmp/phone.log")"
grep -q "(TLS)" "$tmp/phone.log" && ok "workers listen with TLS" || bad "phone worker: $(head -2 "$tmp/phone.log")"
lan=10.77.1.2:7000
phone=10.77.2.1:7100  # through the delaying relay

"$SUANLI" generate -m "$m" -p "Once upon a time" -n 16 --temp 0 -t 1 >"$tmp/local.txt" 2>/dev/null
ip netns exec $H "$SUANLI" generate -m "$m" -p "Hi" -n 2 --workers "$lan" >/dev/null 2>"$tmp/plain.err"
[ $? -eq 1 ] && grep -q "not a loopback address" "$tmp/plain.err" &&
  ok "plain TCP to another host is refused" || bad "plain TCP off loopback: $(tail -1 "$tmp/plain.err")"
ip netns exec $H "$SUANLI" generate -m "$m" -p "Once upon a time" -n 16 --temp 0 \
  --workers "$lan,$phone" --act f32 --pool-dir "$pd" >"$tmp/auto.txt" 2>"$tmp/auto.err"
if cmp -s "$tmp/local.txt" "$tmp/auto.txt"; then ok "generation across namespaces: same output"; else
  bad "generation across namespaces: $(tail -3 "$tmp/auto.err")"; fi
rtt=$(sed -n "s/^suanli: worker $phone: .*link \([0-9.]*\) ms RTT.*/\1/p" "$tmp/auto.err")
if [ -n "$rtt" ] && awk -v r="$rtt" 'BEGIN { exit !(r >= 25 && r <= 45) }'; then
  ok "phone link measured at $rtt ms RTT"; else bad "phone link RTT '$rtt' (want about 30 ms)"; fi
if grep -q "$phone" <<<"$(grep -A20 "^left out:" "$tmp/auto.err")"; then
  ok "latency placement leaves the phone out: $(grep -A20 '^left out:' "$tmp/auto.err" | grep "$phone" | sed 's/^ *//')"
else
  bad "placement kept the phone despite its link: $(cat "$tmp/auto.err")"
fi

# Forced through the phone: still correct; measured per-token latency vs the prediction.
ip netns exec $H "$SUANLI" generate -m "$m" -p "Once upon a time" -n 16 --temp 0 \
  --workers "$lan,$phone" --split 2,2 --act f32 --pool-dir "$pd" >"$tmp/forced.txt" \
  2>"$tmp/forced.err"
cmp -s "$tmp/local.txt" "$tmp/forced.txt" && ok "forced split through the phone: same output" ||
  bad "forced split: $(tail -3 "$tmp/forced.err")"
grep -q "streaming" "$tmp/forced.err" && ok "weights streamed to the phone over 30 Mbit/s" ||
  bad "phone did not receive weights: $(cat "$tmp/forced.err")"
line=$(grep "ms per token measured" "$tmp/forced.err")
measured=$(sed -n 's/^pool: \([0-9.]*\) ms per token measured.*/\1/p' <<<"$line")
predicted=$(sed -n 's/.*measured, \([0-9.]*\) ms predicted.*/\1/p' <<<"$line")
if [ -n "$measured" ] && [ -n "$predicted" ]; then
  echo "# phone-like link: measured $measured ms per token, predicted $predicted ms"
  awk -v m="$measured" -v p="$predicted" 'BEGIN { exit !(m <= 1.25 * p && m >= 0.75 * p) }' &&
    ok "per-token latency $measured ms within 25% of the predicted $predicted ms" ||
    bad "per-token latency $measured ms vs predicted $predicted ms"
else
  bad "no measured/predicted line: $(tail -2 "$tmp/forced.err")"
fi

# LAN discovery: a head in the LAN worker's namespace finds it by multicast.
ip netns exec $A "$SUANLI" generate -m "$m" -p "Once upon a time" -n 16 --temp 0 --discover \
  --pool-dir "$pd" >"$tmp/disc.txt" 2>"$tmp/disc.err"
if grep -q "discovered 1 worker" "$tmp/disc.err" && cmp -s "$tmp/local.txt" "$tmp/disc.txt"; then
  ok "--discover found the announcing worker and generated"
else
  bad "--discover: $(head -3 "$tmp/disc.err")"
fi

# Joining while serving: a head serving with --discover takes in a worker that announces itself
# after the head started (it looks again every 10 s), and shows the join as an event.
surl=http://127.0.0.1:7300
timeout 120 ip netns exec $A "$SUANLI" serve -m "$m" --listen 127.0.0.1:7300 --discover \
  --pool-dir "$pd" >"$tmp/dserve.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 300); do
  [ "$(ip netns exec $A curl -s -o /dev/null -w '%{http_code}' "$surl/health")" = 200 ] && break
  sleep 0.1
done
start $A lan2 10.77.1.2:7001 --announce
joined=
for _ in $(seq 1 300); do  # the log line, then the event (the dashboard's sampler takes it)
  grep -q "10.77.1.2:7001 joined" <<<"$(ip netns exec $A curl -s "$surl/v1/pool/state")" &&
    { joined=1; break; }
  sleep 0.1
done
if [ -n "$joined" ] && grep -q "worker 10.77.1.2:7001 joined" "$tmp/dserve.log"; then
  ok "serve --discover took in a worker announced after it started (pool event on /v1/pool/state)"
else
  bad "no join of the later worker: $(grep -E 'pool:|discover' "$tmp/dserve.log" | tail -3)"
fi
role=$(ip netns exec $A curl -s "$surl/v1/pool/state" |
  jq -r '.devices[] | select(.name == "10.77.1.2:7001") | "\(.role) \(.lane) \(.up)"')
[ "$role" = "spare -1 true" ] && ok "the joined worker is on the dashboard as a spare until layers move to it" ||
  bad "joined worker on /v1/pool/state: '$role'"
reply=$(ip netns exec $A curl -s "$surl/v1/completions" -H 'Content-Type: application/json' \
  -d '{"prompt": "Once upon a time", "max_tokens": 4, "temperature": 0}')
grep -q '"completion_tokens":4' <<<"$reply" && ok "serving goes on after the join" ||
  bad "completion after the join: $reply"

echo "netns_test: $fails failure(s)"
[ $fails -eq 0 ]
