# Sourced by the integration tests that drive `suanli serve` from JavaScript (dashboard_test.sh,
# openai_client_test.sh): ok/bad lines, npm packages, workers and servers on free loopback ports,
# bounded waits, and a trap that ends every process they started.
# Expects SUANLI (the binary) to be set before it is sourced.

tmp=$(mktemp -d)
pids=()
fails=0
passes=0
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null
  done
  wait 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
export SUANLI_CACHE_DIR=$tmp/cache
export SUANLI_TOKEN=js-test-pool-token-1
ok() { echo "ok - $*"; passes=$((passes + 1)); }
bad() { echo "FAIL - $*"; fails=$((fails + 1)); }
# summary NAME: the closing lines; exits 0 only when nothing failed.
summary() {
  echo "# $1 took ${SECONDS} s"
  echo "$1: $passes passed, $fails failed"
  [ "$fails" -eq 0 ]
  exit
}
# die MESSAGE: a failure that ends the test at once.
die() {
  bad "$*"
  summary "${TEST_NAME:-test}"
}

# The node packages, installed once into NODE_DIR (default: beside the binary, in the build
# directory) under a lock, so parallel tests do not install them twice.
NODE_DIR=${SUANLI_NODE_DIR:-$(cd "$(dirname "$SUANLI")" && pwd)/node}
need_node_packages() {
  command -v node >/dev/null || die "node is not installed (scripts/deps.sh test installs nodejs)"
  command -v npm >/dev/null || die "npm is not installed (scripts/deps.sh test installs npm)"
  local major
  major=$(node -p 'process.versions.node.split(".")[0]')
  [ "$major" -ge 18 ] || die "node $(node --version) is too old: these tests need node 18 or later"
  mkdir -p "$NODE_DIR"
  local pkg missing=()
  for pkg in "$@"; do has_node_package "$pkg" || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  (
    flock 9
    local again=()
    for pkg in "$@"; do has_node_package "$pkg" || again+=("$pkg"); done
    [ ${#again[@]} -eq 0 ] && exit 0
    echo "# npm install --prefix $NODE_DIR ${again[*]}"
    timeout 300 npm install --prefix "$NODE_DIR" "${again[@]}" --no-audit --no-fund \
      --loglevel=error >"$NODE_DIR/npm-install.log" 2>&1
  ) 9>"$NODE_DIR/.install.lock" ||
    die "npm install ${missing[*]} failed: $(tail -5 "$NODE_DIR/npm-install.log" 2>/dev/null)"
  for pkg in "$@"; do
    has_node_package "$pkg" || die "npm installed no $pkg in $NODE_DIR"
  done
}
# has_node_package NAME@MAJOR: installed in NODE_DIR with that major version.
has_node_package() {
  local name=${1%@*} major=${1##*@} json
  json="$NODE_DIR/node_modules/$name/package.json"
  [ -f "$json" ] || return 1
  [ "$(node -p "require('$json').version.split('.')[0]" 2>/dev/null)" = "$major" ]
}

. "$(dirname "${BASH_SOURCE[0]}")/worker_lib.sh"

# start_serve NAME [flags...]: `suanli serve` on a free loopback port (or the --listen given),
# waits until /health answers 200 (60 s at most); sets $port and $serve_pid. Env for the server
# goes before the call (VAR=x start_serve ...).
start_serve() {
  local name=$1
  shift
  local listen=(--listen 127.0.0.1:0)
  case " $* " in *" --listen "*) listen=() ;; esac
  "$SUANLI" serve "${listen[@]}" -t 2 "$@" >"$tmp/$name.log" 2>&1 &
  serve_pid=$!
  pids+=($serve_pid)
  port=""
  for _ in $(seq 1 600); do
    port=$(sed -n 's|^suanli serve: listening on http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$tmp/$name.log" | head -1)
    [ -n "$port" ] && break
    kill -0 "$serve_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$port" ]; then
    bad "server $name did not start: $(tail -3 "$tmp/$name.log")"
    return 1
  fi
  for _ in $(seq 1 600); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port/health")" = 200 ] &&
      return 0
    kill -0 "$serve_pid" 2>/dev/null || break
    sleep 0.1
  done
  bad "server $name did not become ready: $(tail -3 "$tmp/$name.log")"
  return 1
}

# stop_pid PID: SIGTERM, then SIGKILL after 10 s.
stop_pid() {
  kill "$1" 2>/dev/null
  for _ in $(seq 1 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$1" 2>/dev/null
}

# tally_node OUTPUT RC LIMIT WHAT: prints a node test's output, adds its "ok - " / "FAIL - " lines
# to passes/fails, and fails WHAT if node timed out (rc 124 after LIMIT s) or exited non-zero
# without reporting a failure.
tally_node() {
  local out=$1 rc=$2 limit=$3 what=$4 n_ok n_bad
  cat "$out"
  n_ok=$(grep -c '^ok - ' "$out")
  n_bad=$(grep -c '^FAIL - ' "$out")
  passes=$((passes + n_ok))
  fails=$((fails + n_bad))
  if [ "$rc" -eq 124 ]; then
    bad "$what did not finish in $limit s"
  elif [ "$rc" -ne 0 ] && [ "$n_bad" -eq 0 ]; then
    bad "$what exited $rc"
  fi
}
