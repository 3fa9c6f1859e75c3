# The integration tests' common start (sourced after SUANLI is set): a scratch directory $tmp
# and the head's cache in it, the array pids (processes stopped at exit, frozen ones too), and
# ok / bad, which print TAP-like lines and count failures in $fails.
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -CONT "$p" 2>/dev/null; kill -9 "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
export SUANLI_CACHE_DIR=$tmp/cache
fails=0
ok() { echo "ok - $*"; }
bad() { echo "FAIL - $*"; fails=$((fails + 1)); }
