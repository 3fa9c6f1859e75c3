#!/usr/bin/env bash
# `suanli serve` over HTTP with curl: the API against `generate` (identical greedy text), streams,
# stop strings, n, logprobs, the prefix cache, every error status (400, 401, 403, 404, 413, 429,
# 503), a client that disconnects (its KV is freed), SIGTERM with a stream running, and the same
# API through a 2-worker pool. Usage: serve_test.sh PATH/TO/suanli
set -uo pipefail
SUANLI=$1
TD=${SUANLI_TESTDATA:-}
tmp=$(mktemp -d)
pids=()
others=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  [ "${KEEP_TMP:-0}" = 1 ] && echo "kept $tmp" || rm -rf "$tmp"
}
trap cleanup EXIT
export SUANLI_CACHE_DIR=$tmp/cache
fails=0
ok() { echo "ok - $*"; }
bad() { echo "FAIL - $*"; fails=$((fails + 1)); }
command -v jq >/dev/null || { echo "FAIL - jq is not installed (scripts/deps.sh test installs it)"; exit 1; }

. "$(dirname "$0")/worker_lib.sh"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo $((20000 + RANDOM % 20000)); }
# start_server NAME [flags...]: serve on a free port; sets $url and $spid.
start_server() {
  local name=$1
  shift
  local port
  port=$(free_port)
  "$SUANLI" serve --listen 127.0.0.1:"$port" -t 2 "$@" >"$tmp/$name.log" 2>&1 &
  spid=$!
  pids+=($spid)
  url=http://127.0.0.1:$port
  for _ in $(seq 1 600); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/health")" = 200 ] && return 0
    kill -0 "$spid" 2>/dev/null || break
    sleep 0.1
  done
  bad "server $name did not become healthy: $(tail -3 "$tmp/$name.log")"
  return 1
}

echo "test-api-key-123" >"$tmp/key"
KEY="Authorization: Bearer test-api-key-123"
JSON="Content-Type: application/json"
start_server main --api-key-file "$tmp/key" --parallel 4 -c 2048 --max-body-mib 0.05 \
  --shutdown-timeout 0.5 || exit 1
post() { curl -s -H "$KEY" -H "$JSON" "$url$1" -d "$2"; }
status() { curl -s -o "$tmp/body" -w '%{http_code}' -H "$JSON" "$@"; }

# Auth: /health is open, the API needs the key.
[ "$(status "$url/health")" = 200 ] && ok "/health open" || bad "/health"
[ "$(status "$url/v1/models")" = 401 ] && jq -e '.error.type == "authentication_error"' "$tmp/body" >/dev/null &&
  ok "401 without the key" || bad "no key: $(cat "$tmp/body")"
[ "$(status -H "Authorization: Bearer nope" "$url/v1/models")" = 401 ] && ok "401 with a wrong key" || bad "wrong key"
model=$(curl -s -H "$KEY" "$url/v1/models" | jq -r '.data[0].id')
[ -n "$model" ] && [ "$model" != null ] && ok "/v1/models lists $model" || bad "/v1/models"
[ "$(status -H "$KEY" -H "Host: evil.example" "$url/v1/models")" = 403 ] && ok "foreign Host refused" || bad "Host check"
[ "$(status -H "$KEY" -H "Origin: https://evil.example" "$url/v1/models")" = 403 ] && ok "foreign Origin refused" || bad "Origin check"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$url/")" = 200 ] && ok "dashboard served without the key" || bad "dashboard"

# Greedy completion equals `suanli generate` on the same model and prompt.
prompt="Once upon a time"
want=$("$SUANLI" generate -p "$prompt" -n 24 --temp 0 --ignore-eos -t 2 -c 2048 2>/dev/null)
got=$(post /v1/completions "{\"prompt\": \"$prompt\", \"max_tokens\": 24, \"temperature\": 0, \"ignore_eos\": true}")
text=$(jq -r '.choices[0].text' <<<"$got")
[ "$text" = "$want" ] && ok "completion equals generate's greedy text" || bad "completion: '$text' vs generate '$want'"
jq -e '.usage.completion_tokens == 24 and .choices[0].finish_reason == "length" and .object == "text_completion"' <<<"$got" >/dev/null &&
  ok "usage and finish_reason" || bad "usage: $got"

# Streaming: the deltas concatenate to the same text; the stream ends with [DONE]; usage chunk.
post /v1/completions "{\"prompt\": \"$prompt\", \"max_tokens\": 24, \"temperature\": 0, \"ignore_eos\": true, \"stream\": true, \"stream_options\": {\"include_usage\": true}}" >"$tmp/sse"
streamed=$(grep '^data: {' "$tmp/sse" | sed 's/^data: //' | jq -rj 'select(.choices | length > 0) | .choices[0].text')
[ "$streamed" = "$want" ] && ok "stream deltas equal the text" || bad "stream: '$streamed'"
[ "$(grep '^data: ' "$tmp/sse" | tail -1)" = "data: [DONE]" ] && ok "stream ends with [DONE]" || bad "no [DONE]"
grep '^data: {' "$tmp/sse" | tail -1 | sed 's/^data: //' | jq -e '.usage.completion_tokens == 24 and (.choices | length) == 0' >/dev/null &&
  ok "include_usage chunk" || bad "usage chunk"

# Chat (the default model has no template: ChatML) streamed and not give the same text.
chat='{"messages": [{"role": "user", "content": [{"type": "text", "text": "Hello"}]}], "max_tokens": 12, "temperature": 0}'
c1=$(post /v1/chat/completions "$chat" | jq -r '.choices[0].message.content')
c2=$(post /v1/chat/completions "$(jq '.stream = true' <<<"$chat")" | grep '^data: {' | sed 's/^data: //' | jq -rj '.choices[0].delta.content // empty')
[ -n "$c1" ] && [ "$c1" = "$c2" ] && ok "chat: streamed equals non-streamed" || bad "chat: '$c1' vs '$c2'"
post /apply-template '{"messages": [{"role": "user", "content": "Hi"}]}' | jq -e '.prompt | contains("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")' >/dev/null &&
  ok "/apply-template renders ChatML" || bad "/apply-template"

# Stop strings: cut before the stop, never emitted, also across token boundaries.
stop=${want:10:4}
cut=$(post /v1/completions "$(jq -n --arg p "$prompt" --arg s "$stop" '{prompt: $p, max_tokens: 24, temperature: 0, ignore_eos: true, stop: [$s]}')")
[ "$(jq -r '.choices[0].text' <<<"$cut")" = "${want%%"$stop"*}" ] && [ "$(jq -r '.choices[0].finish_reason' <<<"$cut")" = stop ] &&
  ok "stop string '$stop'" || bad "stop: $cut"

# n = 2 with a seed: two choices, reproducible; logprobs.
two='{"prompt": "The", "max_tokens": 8, "temperature": 1.0, "top_k": 0, "top_p": 1, "min_p": 0, "seed": 7, "n": 2, "ignore_eos": true}'
a=$(post /v1/completions "$two" | jq -c '[.choices[].text]')
b=$(post /v1/completions "$two" | jq -c '[.choices[].text]')
[ "$a" = "$b" ] && [ "$(jq length <<<"$a")" = 2 ] && [ "$(jq -r '.[0] != .[1]' <<<"$a")" = true ] &&
  ok "n=2 seeded: reproducible, choices differ" || bad "n=2: $a / $b"
post /v1/chat/completions '{"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 3, "logprobs": true, "top_logprobs": 2, "temperature": 0}' |
  jq -e '(.choices[0].logprobs.content | length) == 3 and (.choices[0].logprobs.content[0].top_logprobs | length) == 2 and .choices[0].logprobs.content[0].logprob <= 0' >/dev/null &&
  ok "chat logprobs" || bad "logprobs"

# The prefix cache: a second request sharing a long prefix reuses its KV.
long=$(printf 'word%d ' $(seq 1 60))
post /v1/completions "{\"prompt\": \"$long\", \"max_tokens\": 2, \"temperature\": 0}" >/dev/null
cached=$(post /v1/completions "{\"prompt\": \"$long and more\", \"max_tokens\": 2, \"temperature\": 0}" | jq '.usage.prompt_tokens_details.cached_tokens')
[ "${cached:-0}" -gt 0 ] && ok "prefix cache: $cached cached prompt tokens" || bad "prefix cache: $cached"

# Errors in OpenAI's shape.
[ "$(status -H "$KEY" "$url/v1/completions" -d '{"prompt": ')" = 400 ] && ok "bad JSON: 400" || bad "bad JSON"
[ "$(status -H "$KEY" "$url/v1/completions" -d '{"prompt": "x", "temperature": "warm"}')" = 400 ] &&
  [ "$(jq -r .error.param "$tmp/body")" = temperature ] && ok "wrong type: 400 naming the param" || bad "wrong type: $(cat "$tmp/body")"
[ "$(status -H "$KEY" "$url/v1/completions" -d '{"prompt": "x", "model": "gpt-4"}')" = 404 ] &&
  [ "$(jq -r .error.code "$tmp/body")" = model_not_found ] && ok "unknown model: 404" || bad "unknown model"
[ "$(status -H "$KEY" "$url/v1/completions" -d '{"prompt": "x", "max_tokens": 3000}')" = 400 ] &&
  grep -q "2048" "$tmp/body" && grep -q "3002" "$tmp/body" && ok "over the context: 400 naming the numbers" || bad "context: $(cat "$tmp/body")"
[ "$(status -H "$KEY" "$url/v1/completions" -d '{"prompt": "x", "response_format": {"type": "json_object"}}')" = 400 ] &&
  ok "response_format json_object: 400 not supported" || bad "response_format"
head -c 80000 /dev/zero | tr '\0' 'a' >"$tmp/big"
[ "$(curl -s -o "$tmp/body" -w '%{http_code}' -H "$KEY" -H "$JSON" "$url/v1/completions" --data-binary @"$tmp/big")" = 413 ] &&
  ok "oversized body: 413" || bad "413: $(head -c 200 "$tmp/body")"
[ "$(status -H "$KEY" "$url/v1/nothing")" = 404 ] && jq -e .error.message "$tmp/body" >/dev/null && ok "unknown path: 404" || bad "404 path"

# Helpers.
toks=$(post /tokenize '{"content": "Hello world"}' | jq -c .tokens)
[ "$(post /detokenize "{\"tokens\": $toks}" | jq -r .content)" = "Hello world" ] && ok "tokenize / detokenize" || bad "tokenize: $toks"
curl -s -H "$KEY" "$url/metrics" >"$tmp/metrics"
for m in suanli_requests_total suanli_generated_tokens_total suanli_time_to_first_token_seconds_bucket \
         suanli_inter_token_latency_seconds_bucket suanli_request_duration_seconds_count \
         suanli_queue_depth suanli_running_sequences suanli_kv_blocks_used suanli_prefix_cache_hit_ratio \
         suanli_device_up; do
  grep -q "^$m" "$tmp/metrics" || bad "metric $m missing"
done
ok "metrics exported"
curl -s -H "$KEY" "$url/v1/pool/state" | jq -e '.version == 1 and (.devices | length) == 1 and .devices[0].layers.last > 0 and .runtime.kv_blocks_total > 0' >/dev/null &&
  ok "/v1/pool/state" || bad "pool state"

# A client that disconnects: its request ends and its KV is freed.
# (2000 tokens take several seconds here; the clients give up after 1.)
curl -s -N -H "$KEY" -H "$JSON" --max-time 1 "$url/v1/completions" -d '{"prompt": "x", "max_tokens": 2000, "stream": true, "ignore_eos": true}' >/dev/null
curl -s -H "$KEY" -H "$JSON" --max-time 1 "$url/v1/completions" -d '{"prompt": "y", "max_tokens": 2000, "ignore_eos": true}' >/dev/null
freed=0
for _ in $(seq 1 50); do
  s=$(curl -s -H "$KEY" "$url/v1/pool/state")
  if [ "$(jq '.runtime.running_sequences' <<<"$s")" = 0 ] && [ "$(jq '.runtime.kv_blocks_used' <<<"$s")" = 0 ]; then freed=1; break; fi
  sleep 0.1
done
[ $freed = 1 ] && ok "disconnected clients' requests end and free their KV" || bad "still running after disconnect: $s"
[ "$(grep -c "client went away" "$tmp/main.log")" = 2 ] && ok "the log says so (stream and non-stream)" || bad "disconnect log lines: $(grep -c "client went away" "$tmp/main.log")"

# SIGTERM with a stream running longer than --shutdown-timeout (0.5 s): health turns 503, the
# stream ends with an error event and [DONE], the server exits.
curl -s -N -H "$KEY" -H "$JSON" "$url/v1/completions" -d '{"prompt": "z", "max_tokens": 2000, "stream": true, "ignore_eos": true}' >"$tmp/term.sse" &
cpid=$!
sleep 0.3
kill -TERM "$spid"
sleep 0.2
[ "$(curl -s -o /dev/null -w '%{http_code}' "$url/health")" = 503 ] && ok "503 while shutting down" || ok "(already stopped)"
for _ in $(seq 1 100); do kill -0 "$spid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$spid" 2>/dev/null && bad "server still running 10 s after SIGTERM" || ok "server exited after SIGTERM"
wait "$cpid" 2>/dev/null
grep -q '"error"' "$tmp/term.sse" && grep -q "shut down" "$tmp/term.sse" && [ "$(grep '^data: ' "$tmp/term.sse" | tail -1)" = "data: [DONE]" ] &&
  ok "the unfinished stream got an error event, then [DONE]" || bad "stream after SIGTERM: $(tail -c 300 "$tmp/term.sse")"
grep -q "suanli serve: stopped" "$tmp/main.log" && ok "log: stopped" || bad "no stop line"

# Back-pressure: one sequence, one waiting request: a third concurrent request gets 429.
start_server small --parallel 1 --queue 1 -c 2048 || exit 1
qpids=()
for i in 1 2 3 4; do
  curl -s -o "$tmp/q$i" -w '%{http_code}' -D "$tmp/h$i" -H "$JSON" "$url/v1/completions" -d '{"prompt": "q", "max_tokens": 1500, "ignore_eos": true}' >"$tmp/code$i" &
  qpids+=($!)
done
wait "${qpids[@]}" 2>/dev/null
sleep 0.2
n429=$(cat "$tmp"/code* | grep -o 429 | wc -l)
n200=$(cat "$tmp"/code* | grep -o 200 | wc -l)
[ "$n429" -ge 1 ] && [ "$n200" -ge 1 ] && [ $((n429 + n200)) = 4 ] && grep -qi "^retry-after" "$tmp"/h* &&
  ok "full queue: 429 with Retry-After ($n429 of 4), the rest answered" || bad "queue: $(cat "$tmp"/code*)"
kill "$spid" 2>/dev/null

# Real chat templates: reasoning and tool calls from a scripted reply (random weights never call
# tools; the switch works only with SUANLI_TEST_SCRIPT=1), and a template's raise_exception.
if [ -n "$TD" ] && [ -f "$TD/templates/Qwen-Qwen3-0.6B.jinja" ]; then
  SUANLI_TEST_SCRIPT=1 start_server qwen3 --chat-template-file "$TD/templates/Qwen-Qwen3-0.6B.jinja" -c 2048 || exit 1
  tools='[{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]'
  script='<think>\nThe user wants weather.\n</think>\n\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
  body=$(jq -n --argjson t "$tools" --arg s "$(printf "$script")" '{messages: [{role: "user", content: "Weather in Paris?"}], tools: $t, suanli_test_script: $s}')
  r=$(curl -s -H "$JSON" "$url/v1/chat/completions" -d "$body")
  jq -e '.choices[0].finish_reason == "tool_calls" and .choices[0].message.tool_calls[0].function.name == "get_weather" and (.choices[0].message.tool_calls[0].function.arguments | fromjson | .city) == "Paris" and .choices[0].message.content == null and (.choices[0].message.reasoning_content | contains("weather"))' <<<"$r" >/dev/null &&
    ok "scripted tool call and reasoning (Qwen3 template)" || bad "tool call: $r"
  curl -s -H "$JSON" "$url/v1/chat/completions" -d "$(jq '.stream = true' <<<"$body")" | grep '^data: {' | sed 's/^data: //' >"$tmp/tools.sse"
  jq -se '([.[].choices[0].delta.tool_calls // empty | .[].function.name] == ["get_weather"]) and ([.[].choices[0].delta.reasoning_content // empty] | add | contains("weather")) and ([.[].choices[0].finish_reason // empty] == ["tool_calls"])' "$tmp/tools.sse" >/dev/null &&
    ok "streamed tool-call and reasoning deltas" || bad "streamed tools: $(head -c 600 "$tmp/tools.sse")"
  # The tool's answer fed back renders through the template.
  back=$(jq -n --argjson t "$tools" '{messages: [{role: "user", content: "Weather?"}, {role: "assistant", content: null, tool_calls: [{id: "c1", type: "function", function: {name: "get_weather", arguments: "{\"city\": \"Paris\"}"}}]}, {role: "tool", tool_call_id: "c1", content: "sunny"}], tools: $t}')
  curl -s -H "$JSON" "$url/apply-template" -d "$back" | jq -e '.prompt | contains("<tool_response>\nsunny\n</tool_response>") and contains("{\"city\": \"Paris\"}")' >/dev/null &&
    ok "tool result and call arguments rendered back" || bad "apply-template with tools: $(curl -s -H "$JSON" "$url/apply-template" -d "$back")"
  kill "$spid" 2>/dev/null
  start_server gemma --chat-template-file "$TD/templates/google-gemma-2-2b-it.jinja" -c 2048 || exit 1
  [ "$(status "$url/v1/chat/completions" -d '{"messages": [{"role": "system", "content": "x"}, {"role": "user", "content": "y"}]}')" = 400 ] &&
    grep -qi "system role not supported" "$tmp/body" && ok "raise_exception: 400 with the template's message" || bad "raise_exception: $(cat "$tmp/body")"
  [ "$(status "$url/v1/chat/completions" -d '{"messages": [{"role": "user", "content": "y"}], "suanli_test_script": "x"}')" = 400 ] &&
    ok "the test switch is refused without SUANLI_TEST_SCRIPT" || bad "script switch accepted"
  kill "$spid" 2>/dev/null
else
  echo "skip - ../shared/testdata absent: real-template checks not run"
fi

# Non-loopback without a key is refused unless --no-auth.
"$SUANLI" serve --listen 0.0.0.0:0 >"$tmp/open.log" 2>&1 && bad "0.0.0.0 without a key started" ||
  grep -q "no-auth" "$tmp/open.log" && ok "0.0.0.0 without a key: refused, names --no-auth" || bad "open: $(cat "$tmp/open.log")"

# The same API through a pool of two workers: the same greedy text.
export SUANLI_TOKEN=serve-test-token-1
waddrs=()
for w in w1 w2; do
  start_worker "$w" || exit 1
  waddrs+=("$addr")
done
start_server pool --workers "${waddrs[0]},${waddrs[1]}" --split 2,2 -c 2048 --act f32 || exit 1
pgot=$(curl -s -H "$JSON" "$url/v1/completions" -d "{\"prompt\": \"$prompt\", \"max_tokens\": 24, \"temperature\": 0, \"ignore_eos\": true}" | jq -r '.choices[0].text')
[ "$pgot" = "$want" ] && ok "pool: the same greedy text as one device" || bad "pool: '$pgot'"
curl -s "$url/v1/pool/state" | jq -e '(.devices | length) == 2 and .runtime.backend == "pool" and (.placement.pipelines[0].stages | length) == 2' >/dev/null &&
  ok "pool state: 2 devices, 2 stages" || bad "pool state: $(curl -s "$url/v1/pool/state" | head -c 300)"
pchat=$(curl -s -H "$JSON" "$url/v1/chat/completions" -d "$chat" | jq -r '.choices[0].message.content')
[ "$pchat" = "$c1" ] && ok "pool: same chat reply" || bad "pool chat: '$pchat' vs '$c1'"

# Batch invariance through the pool: a request's log-probabilities (exact floats in the JSON) are
# the same alone and while three other streams share its batches.
lp_req='{"prompt": "Batch invariance", "max_tokens": 12, "temperature": 0, "ignore_eos": true, "logprobs": 3}'
alone=$(curl -s -H "$JSON" "$url/v1/completions" -d "$lp_req" | jq -c '.choices[0].logprobs')
for i in 1 2 3; do
  curl -s -H "$JSON" "$url/v1/completions" -o /dev/null -w '%{http_code}' >"$tmp/other$i" \
    -d "{\"prompt\": \"other stream $i $(printf 'word%.0s ' $(seq 1 $((i * 7))))\", \"max_tokens\": 40, \"ignore_eos\": true}" &
  others+=($!)
done
sleep 0.3
mixed=$(curl -s -H "$JSON" "$url/v1/completions" -d "$lp_req" | jq -c '.choices[0].logprobs')
wait "${others[@]}"
[ -n "$alone" ] && [ "$alone" != null ] && [ "$alone" = "$mixed" ] &&
  ok "pool: identical logprobs alone and in a mixed batch" || bad "pool mixed batch: $alone vs $mixed"
[ "$(cat "$tmp/other1" "$tmp/other2" "$tmp/other3")" = 200200200 ] &&
  ok "pool: the other streams of the mixed batch answered 200" || bad "pool: other streams: $(cat "$tmp"/other?)"

# A worker killed mid-stream: the head re-places its layers on the survivor and the stream goes
# on to the same text (greedy, --act f32) and a normal finish; /metrics counts the recovery.
start_worker w3 --emulate-slowdown 20 || exit 1
w3addr=$addr
w3pid=${pids[-1]}
rec_req='{"prompt": "Recovery mid-stream", "max_tokens": 120, "temperature": 0, "ignore_eos": true'
rwant=$(curl -s -H "$JSON" "$url/v1/completions" -d "$rec_req}" | jq -r '.choices[0].text')
kill "$spid" 2>/dev/null
start_server pool2 --workers "${waddrs[0]},$w3addr" --split 2,2 -c 2048 --act f32 || exit 1
curl -sN -H "$JSON" "$url/v1/completions" -d "$rec_req, \"stream\": true}" >"$tmp/rec.sse" &
cpid=$!
for _ in $(seq 1 200); do
  [ "$(grep -c '^data: {' "$tmp/rec.sse")" -ge 5 ] && break
  sleep 0.05
done
kill -9 "$w3pid"
wait "$cpid"
rgot=$(grep '^data: {' "$tmp/rec.sse" | sed 's/^data: //' | jq -j '.choices[0].text // ""')
rfin=$(grep '^data: {' "$tmp/rec.sse" | sed 's/^data: //' | jq -r '.choices[0].finish_reason // empty' | tail -1)
if [ -n "$rwant" ] && [ "$rgot" = "$rwant" ] && [ "$rfin" = length ] && grep -q "running again" "$tmp/pool2.log"; then
  ok "pool: a worker killed mid-stream: the stream finishes with the same text ($(grep -o 'running again in [0-9.]* [mu]*s' "$tmp/pool2.log"))"
else
  bad "pool: worker killed mid-stream: finish '$rfin', text $([ "$rgot" = "$rwant" ] && echo same || echo differs): $(grep -E "pool:|error" "$tmp/pool2.log" | tail -2)"
fi
for _ in $(seq 1 100); do  # the gauges are sampled once a second (a loaded machine: later)
  grep -q '^suanli_recoveries 1' <<<"$(curl -s "$url/metrics")" && break
  sleep 0.1
done
# (not `curl | grep -q`: grep quitting at the first match fails curl's write, and pipefail)
grep -q '^suanli_recoveries 1' <<<"$(curl -s "$url/metrics")" && ok "metrics: suanli_recoveries 1" ||
  bad "metrics: $(curl -s "$url/metrics" | grep '^suanli_recover')"
ev=$(curl -s "$url/v1/pool/state" | jq -r '.events[] | select(.kind == "recovery") | .message')
echo "$ev" | grep -q "running again" && echo "$ev" | grep -q "re-placing pipeline 1" &&
  ok "events: the recovery is on the dashboard" || bad "events: $(curl -s "$url/v1/pool/state" | jq -c '.events[-3:]')"

echo "serve_test: $fails failure(s)"
[ "$fails" = 0 ]
