#!/usr/bin/env bash
# The dashboard in headless Chromium (Debian's chromium, driven by playwright-core from npm),
# against a real pool: two workers with a forced --split behind `suanli serve` with an API key.
# dashboard_test.mjs checks the key prompt, the devices and the layer picture against
# /v1/pool/state, live tokens/s, the streamed chat reply against the API's greedy reply, Stop,
# escaping, and a server restart; it keeps a screenshot (dashboard.png in the build directory,
# or $SUANLI_TEST_OUT). Fails, never skips, when chromium, node or npm are missing.
# Usage: dashboard_test.sh PATH/TO/suanli
set -uo pipefail
SUANLI=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
TEST_NAME=dashboard_test
. "$HERE/js_test_lib.sh"

CHROMIUM=${SUANLI_CHROMIUM:-/usr/bin/chromium}
[ -x "$CHROMIUM" ] || die "no $CHROMIUM: install Debian's chromium (scripts/deps.sh test does)"
need_node_packages playwright-core@1
ok "chromium $("$CHROMIUM" --version 2>/dev/null | awk '{print $2}'), playwright-core $(node -p "require('$NODE_DIR/node_modules/playwright-core/package.json').version")"

OUT=${SUANLI_TEST_OUT:-$(dirname "$SUANLI")}
mkdir -p "$OUT"
key="dash-test-key-$RANDOM$RANDOM"
echo "$key" >"$tmp/key"

# The first worker's host name is markup: the page must show it as text.
hostile='<img src=x onerror="window.__pwned=1">&amp;<b>'
start_worker w1 --name "$hostile" && w1=$addr || die "no worker"
start_worker w2 --name "edge-2" && w2=$addr || die "no worker"
ok "2 workers: $w1 $w2"
# No prefix cache: the chat reply is compared with the API's reply to the same conversation, and
# a prompt computed in other chunks (after a prefix-cache hit) can give other greedy tokens.
head_args=(--workers "$w1,$w2" --split 1,3 --api-key-file "$tmp/key" --no-prefix-cache)
start_serve head "${head_args[@]}" || die "no server"
ok "suanli serve on port $port through the pool"

# A restart script the browser test calls: "stop" ends the head, "start" starts it again on the
# same port (the workers stay up and keep their weights).
echo "$serve_pid" >"$tmp/head.pid"
cat >"$tmp/restart.sh" <<EOF
#!/usr/bin/env bash
set -u
case \$1 in
  stop)
    kill \$(cat "$tmp/head.pid") 2>/dev/null
    for _ in \$(seq 1 100); do kill -0 \$(cat "$tmp/head.pid") 2>/dev/null || exit 0; sleep 0.1; done
    kill -9 \$(cat "$tmp/head.pid") 2>/dev/null; exit 0 ;;
  start)
    SUANLI_CACHE_DIR="$SUANLI_CACHE_DIR" SUANLI_TOKEN="$SUANLI_TOKEN" "$SUANLI" serve \
      --listen 127.0.0.1:$port -t 2 ${head_args[*]@Q} >"$tmp/head2.log" 2>&1 &
    echo \$! >"$tmp/head.pid"
    echo \$! >>"$tmp/extra.pids" ;;
esac
EOF
chmod +x "$tmp/restart.sh"

t0=$(date +%s)
SUANLI_URL="http://127.0.0.1:$port" SUANLI_KEY="$key" SUANLI_HOSTILE="$hostile" \
  SUANLI_RESTART="$tmp/restart.sh" SUANLI_OUT="$OUT" SUANLI_CHROMIUM="$CHROMIUM" \
  NODE_PATH="$NODE_DIR/node_modules" timeout 170 node "$HERE/dashboard_test.mjs" >"$tmp/node.out" 2>&1
rc=$?
[ -f "$tmp/extra.pids" ] && while read -r p; do pids+=("$p"); done <"$tmp/extra.pids"
tally_node "$tmp/node.out" "$rc" 170 "the browser test"
echo "# browser part took $(($(date +%s) - t0)) s"
if grep -qE "^suanli: error|AddressSanitizer|terminate called" "$tmp/head.log" "$tmp/head2.log" 2>/dev/null; then
  bad "server log shows an error: $(grep -hE '^suanli: error|AddressSanitizer|terminate called' "$tmp/head.log" "$tmp/head2.log" | head -3)"
fi
summary dashboard_test
