#!/usr/bin/env bash
# Encrypt and CreateKey throughput of one node on SQLite, one node on PostgreSQL and two
# nodes on PostgreSQL (BENCHMARKS.md, "Store backends"). Release build; run on a quiet
# machine. Needs a PostgreSQL server: BENCH_POSTGRES_URL (default
# postgres://postgres@127.0.0.1:5432/test) is used to create and drop a scratch database.
# Each server's admin listener on a free port (its default, 4598, is one per machine).
export TRENT_ADMIN_LISTEN=127.0.0.1:0
# Stopped at once (no drain: no load balancer to tell).
export TRENT_SHUTDOWN_DRAIN_MS=0
set -euo pipefail
# Benchmarks measure Trent, not AWS's request-rate quotas (10,000 symmetric requests/s
# per account by default): off, by environment, which binaries without the switch ignore.
export TRENT_NO_RATE_QUOTAS=true
cd "$(dirname "$0")/.."

base=${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
duration=${BENCH_DURATION:-10s}
concurrency=${BENCH_CONCURRENCY:-64}
runs=${BENCH_RUNS:-3}
db=trent_bench_$$
db_url="${base%/*}/$db"
work=$(mktemp -d)
cleanup() {
  # Nodes are started in command substitutions (subshells): their pids live in files.
  for f in "$work"/*.pid; do [ -e "$f" ] && kill "$(cat "$f")" 2>/dev/null; done
  wait 2>/dev/null || true
  psql "$base" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

cargo build --release -p trent-server -p trent-bench
export TRENT_ADMIN_ACCESS_KEY_ID=AKIABENCHADMIN000001
export TRENT_ADMIN_SECRET_ACCESS_KEY=bench-secret-access-key-000000000000000
export TRENT_LOG=warn

# start NAME DATA_DIR [serve flags...]: starts a node, prints its endpoint.
start() {
  local name=$1 dir=$2; shift 2
  mkdir -p "$dir"
  target/release/trent serve --listen 127.0.0.1:0 --data-dir "$dir" "$@" >"$work/$name.out" 2>"$work/$name.err" &
  echo $! >"$work/$name.pid"
  for _ in $(seq 1 600); do
    if grep -q '^trent listening on ' "$work/$name.out"; then
      sed -n 's/^trent listening on //p' "$work/$name.out"
      return
    fi
    sleep 0.05
  done
  echo "node $name did not start" >&2; cat "$work/$name.err" >&2; exit 1
}

# bench OP ENDPOINT...: one trent-bench per endpoint, concurrently; prints the sum of rps.
bench() {
  local op=$1; shift
  local outs=()
  for ep in "$@"; do
    local out; out=$(mktemp -p "$work")
    target/release/trent-bench --endpoint "$ep" --region us-east-1 --op "$op" \
      --concurrency "$concurrency" --duration "$duration" --warmup 2s --payload-size 256 \
      --access-key-id "$TRENT_ADMIN_ACCESS_KEY_ID" \
      --secret-access-key "$TRENT_ADMIN_SECRET_ACCESS_KEY" --json >"$out" &
    outs+=("$out:$!")
  done
  local total=0
  for o in "${outs[@]}"; do
    wait "${o#*:}"
    cat "${o%%:*}" >&2
    total=$(python3 -c "import json,sys; print(round($total + json.load(open('${o%%:*}'))['rps']))")
  done
  echo "$total"
}

report() { # LABEL OP ENDPOINTS...
  local label=$1 op=$2; shift 2
  local all=()
  for _ in $(seq 1 "$runs"); do all+=("$(bench "$op" "$@")"); done
  echo "RESULT | $label | $op | c=$concurrency per node | runs: ${all[*]}"
}

# One node, SQLite.
ep=$(start sqlite "$work/sqlite")
report "1 node, SQLite" encrypt "$ep"
report "1 node, SQLite" create-key "$ep"
kill "$(cat "$work/sqlite.pid")"; rm -f "$work/sqlite.pid"

# One node, then two nodes, PostgreSQL.
psql "$base" -qc "CREATE DATABASE $db" >/dev/null
ep1=$(start pg1 "$work/pg1" --database-url "$db_url")
report "1 node, PostgreSQL" encrypt "$ep1"
report "1 node, PostgreSQL" create-key "$ep1"
mkdir -p "$work/pg2"; install -m 600 "$work/pg1/root.key" "$work/pg2/root.key"
ep2=$(start pg2 "$work/pg2" --database-url "$db_url")
report "2 nodes, PostgreSQL" encrypt "$ep1" "$ep2"
report "2 nodes, PostgreSQL" create-key "$ep1" "$ep2"
