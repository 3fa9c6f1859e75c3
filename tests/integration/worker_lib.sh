# Starting pool workers for the integration tests (sourced). Expects SUANLI (the binary), tmp (a
# scratch directory), the array pids (processes to stop at exit) and bad() to be defined.

# start_worker NAME [flags...]: a worker with 1 thread and a quick profile on a free loopback
# port; waits (60 s at most) for its "listening" line; sets $addr.
start_worker() {
  local name=$1
  shift
  "$SUANLI" worker --listen 127.0.0.1:0 -t 1 --cache-dir "$tmp/$name" --seconds-per-kernel 0.02 \
    --matvec-mib 8 "$@" >"$tmp/$name.log" 2>&1 &
  pids+=($!)
  addr=""
  for _ in $(seq 1 600); do
    addr=$(sed -n 's/^suanli worker: listening on \([0-9.:]*\).*/\1/p' "$tmp/$name.log")
    [ -n "$addr" ] && return 0
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.1
  done
  bad "worker $name did not start: $(tail -3 "$tmp/$name.log")"
  return 1
}
