#!/usr/bin/env bash
# `suanli serve` through the official `openai` npm client (v4, installed once into build/node):
# openai_client_test.mjs runs chat and completions, streamed and not, include_usage, n, stop,
# logprobs, seed, scripted tool calls (SUANLI_TEST_SCRIPT) fed back as role "tool", an aborted
# stream, error statuses (401, 404, 400 with the param, 413, 429), and the chat cases again through
# a 2-worker pool. Here, curl checks the SSE framing and Retry-After on 429 and on 503 while
# shutting down. Needs $SUANLI_TESTDATA/templates/Qwen-Qwen2.5-7B-Instruct.jinja (a template
# with tools): fails, never skips, when it, node or npm are missing.
# Usage: openai_client_test.sh PATH/TO/suanli
set -uo pipefail
SUANLI=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
TEST_NAME=openai_client_test
. "$HERE/js_test_lib.sh"

template=${SUANLI_TESTDATA:-}/templates/Qwen-Qwen2.5-7B-Instruct.jinja
[ -n "${SUANLI_TESTDATA:-}" ] && [ -f "$template" ] ||
  die "no tool-capable chat template at '$template': set SUANLI_TESTDATA to the shared test data (../shared/testdata)"
command -v curl >/dev/null || die "curl is not installed (scripts/deps.sh test installs it)"
need_node_packages openai@4
ok "openai $(node -p "require('$NODE_DIR/node_modules/openai/package.json').version"), template $(basename "$template")"
key="client-test-key-$RANDOM$RANDOM"
echo "$key" >"$tmp/key"
auth=(-H "Authorization: Bearer $key")

# Replies are compared between requests (streamed vs not, pool vs one device): the servers that
# answer those run without the prefix cache, since a prompt computed in other chunks (after a
# prefix-cache hit) can give other greedy tokens.
SUANLI_TEST_SCRIPT=1 start_serve main --api-key-file "$tmp/key" --chat-template-file "$template" \
  --no-prefix-cache || die "no server"
main=http://127.0.0.1:$port
start_serve small --parallel 1 --queue 1 -c 8192 --shutdown-timeout 3 || die "no small server"
small=http://127.0.0.1:$port
small_pid=$serve_pid
pool=""
if start_worker w1 && w1=$addr && start_worker w2 && w2=$addr &&
   start_serve pool --workers "$w1,$w2" --split 2,2 --act f32 --api-key-file "$tmp/key" \
     --chat-template-file "$template" --no-prefix-cache; then
  pool=http://127.0.0.1:$port
  ok "servers: one device $main, small $small, pool $pool ($w1 + $w2)"
else
  bad "the pool did not start"
fi

# ---- curl: SSE framing ----------------------------------------------------------------------
# check_sse NAME FILE HEADERS: data lines, blank separators, [DONE] last.
check_sse() {
  local name=$1 out=$2 hdr=$3
  if ! grep -qi '^content-type: text/event-stream' "$hdr"; then
    bad "$name: Content-Type is not text/event-stream: $(grep -i content-type "$hdr")"
    return
  fi
  local bad_lines events last
  bad_lines=$(grep -cvE '^(data: .+|: .*|)$' "$out")
  events=$(grep -c '^data: ' "$out")
  last=$(grep -v '^$' "$out" | tail -1)
  # Every data line is followed by a blank line (one event per line here).
  local unframed
  unframed=$(awk 'prev ~ /^data: / && $0 != "" {n++} {prev = $0} END {print n + 0}' "$out")
  if [ "$bad_lines" -eq 0 ] && [ "$unframed" -eq 0 ] && [ "$events" -ge 3 ] && [ "$last" = "data: [DONE]" ] &&
     [ "$(grep -c '^data: \[DONE\]$' "$out")" -eq 1 ] && [ "$(tail -c 2 "$out" | od -An -c | tr -d ' ')" = '\n\n' ]; then
    ok "$name: $events SSE events, each 'data: ...' + blank line, ending with 'data: [DONE]'"
  else
    bad "$name: SSE framing: $bad_lines stray lines, $unframed unterminated events, last '$last'"
  fi
}
curl -sN --max-time 30 "${auth[@]}" -D "$tmp/h1" -o "$tmp/s1" "$main/v1/chat/completions" \
  -d '{"messages":[{"role":"user","content":"Hi"}],"stream":true,"max_tokens":12,"stream_options":{"include_usage":true}}'
check_sse "chat stream" "$tmp/s1" "$tmp/h1"
grep -q '"usage":{"prompt_tokens"' "$tmp/s1" && ok "chat stream: a usage event before [DONE]" || bad "chat stream: no usage event"
curl -sN --max-time 30 "${auth[@]}" -D "$tmp/h2" -o "$tmp/s2" "$main/v1/completions" \
  -d '{"prompt":"Hi","stream":true,"max_tokens":12}'
check_sse "completions stream" "$tmp/s2" "$tmp/h2"
grep -qi '^cache-control: no-cache' "$tmp/h1" && ok "stream: Cache-Control no-cache" || bad "stream: no Cache-Control"
code=$(curl -s -o "$tmp/e" -w '%{http_code}' --max-time 10 "${auth[@]}" "$main/v1/chat/completions" -d '{"messages":[],"stream":true}')
[ "$code" = 400 ] && grep -q '"param":"messages"' "$tmp/e" && ok "a bad streamed request is a plain 400 JSON error" ||
  bad "bad streamed request: $code $(cat "$tmp/e")"

# ---- the JS client --------------------------------------------------------------------------
t0=$(date +%s)
SUANLI_URL=$main SUANLI_POOL_URL=$pool SUANLI_SMALL_URL=$small SUANLI_KEY=$key \
  NODE_PATH="$NODE_DIR/node_modules" timeout 160 node "$HERE/openai_client_test.mjs" >"$tmp/node.out" 2>&1
rc=$?
tally_node "$tmp/node.out" "$rc" 160 "the client test"
echo "# client part took $(($(date +%s) - t0)) s"

# ---- curl: Retry-After on 429 and on 503 ----------------------------------------------------
long='{"messages":[{"role":"user","content":"Go on"}],"stream":true,"max_tokens":6000,"ignore_eos":true}'
# wait_small WAITING RUNNING: until the small server shows that many (10 s at most).
wait_small() {
  for _ in $(seq 1 200); do
    grep -q "\"queue_depth\":$1,\"running_sequences\":$2" <<<"$(curl -s --max-time 2 "$small/v1/pool/state")" && return 0
    sleep 0.05
  done
  bad "curl: the small server never had $2 request(s) running and $1 waiting"
}
# One after the other (two submitted within one scheduler tick count as two waiting).
curl -sN --max-time 60 "$small/v1/chat/completions" -d "$long" -o "$tmp/l1" &
c1=$!
pids+=($c1)
wait_small 0 1
curl -sN --max-time 60 "$small/v1/chat/completions" -d "$long" -o "$tmp/l2" &
c2=$!
pids+=($c2)
wait_small 1 1
code=$(curl -s -D "$tmp/h429" -o "$tmp/b429" -w '%{http_code}' --max-time 10 "$small/v1/chat/completions" \
  -d '{"messages":[{"role":"user","content":"x"}],"max_tokens":2}')
ra=$(sed -n 's/^[Rr]etry-[Aa]fter: *\([0-9]*\).*/\1/p' "$tmp/h429")
[ "$code" = 429 ] && [ -n "$ra" ] && grep -q rate_limit_exceeded "$tmp/b429" &&
  ok "curl: 429 with Retry-After: $ra while the queue is full" || bad "curl 429: $code, Retry-After '$ra': $(cat "$tmp/b429")"
# SIGTERM with requests running: new requests get 503 + Retry-After, /health says so, and the
# server still exits within its shutdown timeout.
kill -TERM "$small_pid"
t_term=$(date +%s)
code=000
for _ in $(seq 1 50); do
  code=$(curl -s -D "$tmp/h503" -o "$tmp/b503" -w '%{http_code}' --max-time 5 "$small/v1/chat/completions" \
    -d '{"messages":[{"role":"user","content":"x"}],"max_tokens":2}')
  [ "$code" = 503 ] && break
  sleep 0.05
done
ra=$(sed -n 's/^[Rr]etry-[Aa]fter: *\([0-9]*\).*/\1/p' "$tmp/h503")
[ "$code" = 503 ] && [ -n "$ra" ] && grep -q "shutting down" "$tmp/b503" &&
  ok "curl: 503 with Retry-After: $ra while shutting down" || bad "curl 503: $code, Retry-After '$ra': $(cat "$tmp/b503")"
hc=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$small/health")
[ "$hc" = 503 ] && ok "/health is 503 while shutting down" || bad "/health while shutting down: $hc"
st=$(curl -s --max-time 5 "$small/v1/pool/state" | grep -o '"status":"[a-z_]*"' | head -1)
[ "$st" = '"status":"shutting_down"' ] && ok "/v1/pool/state says shutting_down" || bad "/v1/pool/state while shutting down: $st"
exited=0
for _ in $(seq 1 300); do kill -0 "$small_pid" 2>/dev/null || { exited=1; break; }; sleep 0.1; done
wait "$small_pid" 2>/dev/null
src=$?
[ $exited = 1 ] && [ $src = 0 ] && ok "SIGTERM: the server exited 0 after $(($(date +%s) - t_term)) s" ||
  bad "SIGTERM: exited=$exited status=$src"
wait $c1 $c2 2>/dev/null
for f in "$tmp/l1" "$tmp/l2"; do
  tail -c 200 "$f" | grep -q 'data: \[DONE\]\|"error"' && ok "a stream running at shutdown ended cleanly ($(grep -c '^data: ' "$f") events)" ||
    bad "a stream running at shutdown was cut: $(tail -c 150 "$f")"
done

for log in main small pool; do
  if grep -qE "AddressSanitizer|terminate called|Segmentation" "$tmp/$log.log" 2>/dev/null; then
    bad "$log server log: $(grep -E 'AddressSanitizer|terminate called|Segmentation' "$tmp/$log.log" | head -2)"
  fi
done
summary openai_client_test
