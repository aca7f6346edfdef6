# Shared by the server benchmarks in scripts/ (sourced, not run): one Trent node, release
# build, started on loopback with known administrator credentials, and one trent-bench run
# reported as a line with the server's CPU per request from its own accounting.
#
# The caller sets `work` (a directory for logs), `serve_flags` (an array: `trent serve`'s
# flags; --listen 127.0.0.1:0 and --data-dir at least) and optionally BIN (default
# target/release) and CONCURRENCY (default 64).

# Benchmarks measure Trent, not AWS's request-rate quotas: off, by environment.
# Each server's admin listener on a free port (its default, 4598, is one per machine).
export TRENT_ADMIN_LISTEN=127.0.0.1:0
# Stopped at once (no drain: no load balancer to tell).
export TRENT_SHUTDOWN_DRAIN_MS=0
export TRENT_NO_RATE_QUOTAS=true
export TRENT_ADMIN_ACCESS_KEY_ID=AKIABENCHADMIN000001
export TRENT_ADMIN_SECRET_ACCESS_KEY=bench-secret-access-key-000000000000000
export TRENT_LOG=warn
# trent-bench signs as that administrator (by environment: flags show in `ps`).
export AWS_ACCESS_KEY_ID=$TRENT_ADMIN_ACCESS_KEY_ID
export AWS_SECRET_ACCESS_KEY=$TRENT_ADMIN_SECRET_ACCESS_KEY
unset AWS_SESSION_TOKEN AWS_PROFILE
BIN=${BIN:-target/release}
CONCURRENCY=${CONCURRENCY:-64}
tick=$(getconf CLK_TCK)
pid=
endpoint=

# Starts the node; sets `pid` and `endpoint`.
start() {
  "$BIN/trent" serve "${serve_flags[@]}" >"$work/trent.out" 2>"$work/trent.err" &
  pid=$!
  for _ in $(seq 1 1200); do
    if grep -q '^trent listening on ' "$work/trent.out"; then
      endpoint=$(sed -n 's/^trent listening on //p' "$work/trent.out")
      return
    fi
    sleep 0.05
  done
  echo "trent did not start" >&2; cat "$work/trent.err" >&2; exit 1
}

stop() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  pid=
}

# The node's CPU time so far, in clock ticks (utime + stime).
cpu() { awk '{print $14+$15}' "/proc/$pid/stat"; }

header() { printf "%-44s %9s %8s %8s %10s %7s\n" "$1" req/s p50_ms p99_ms cpu_us/req errors; }

# bench LABEL trent-bench-args...: one run without warmup (every request the server answers
# is counted), one line: label, req/s, p50, p99, server CPU µs per request, errors.
bench() {
  local label=$1; shift
  local before after out
  before=$(cpu)
  out=$("$BIN/trent-bench" --endpoint "$endpoint" --region us-east-1 \
    --concurrency "$CONCURRENCY" --warmup 0s --json "$@" 2>"$work/bench.err") ||
    { cat "$work/bench.err" >&2; exit 1; }
  after=$(cpu)
  python3 - "$label" "$out" "$before" "$after" "$tick" <<'PY'
import json, sys
label, out, before, after, tick = sys.argv[1], json.loads(sys.argv[2]), *map(float, sys.argv[3:])
cpu_us = (after - before) / tick * 1e6 / max(out["requests"] + out["errors"], 1)
print(f"{label:<44} {out['rps']:>9.0f} {out['p50_ms']:>8.2f} "
      f"{out['p99_ms']:>8.2f} {cpu_us:>10.1f} {out['errors']:>7}")
PY
}
