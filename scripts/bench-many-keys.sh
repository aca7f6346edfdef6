#!/usr/bin/env bash
# Cost per request as keys grow (issue 17; BENCHMARKS.md, "Many keys"): one node, release
# build, audit trail on.
#
# 1. CreateKey from 0 to KEYS keys (default 1,000,000) through the API, in rounds of STEP
#    (default 60s): per round the keys at its start, requests/s, p50/p99 and the server's
#    CPU per request (utime+stime from /proc/PID/stat over the round).
# 2. Encrypt on a key picked at random for every request out of the first N keys, for each
#    N in SETS (default "1000 100000 KEYS"): right after a restart (cold: Trent's key cache
#    empty; the OS page cache is what it is), then again (warm), DURATION each (default 10s).
#
#   BACKEND=sqlite KEYS=1000000 scripts/bench-many-keys.sh
#   BACKEND=postgres KEYS=1000000 scripts/bench-many-keys.sh   # BENCH_POSTGRES_URL, default
#                                                              # postgres://postgres@127.0.0.1:5432/test
#
# QUOTAS=on keeps the resource quotas: CreateKey then checks the account's key count on
# every request, against QUOTA_KEYS (default 2,000,000; AWS's 100,000 would stop the run).
# Off by default. KEEP=DIR keeps the data directory and the key
# ids there (reused by the next run with the same KEEP: step 1 goes on from its count).
set -euo pipefail
cd "$(dirname "$0")/.."
BACKEND=${BACKEND:-sqlite}
KEYS=${KEYS:-1000000}
STEP=${STEP:-60s}
DURATION=${DURATION:-10s}
SETS=${SETS:-"1000 100000 $KEYS"}
QUOTAS=${QUOTAS:-off}
. scripts/bench-lib.sh

if [ -n "${KEEP:-}" ]; then work=$KEEP; mkdir -p "$work"; else work=$(mktemp -d); fi
base=${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
db=trent_many_keys_$(basename "$work" | tr -c 'a-zA-Z0-9_\n' _)
db_url="${base%/*}/$db"
cleanup() {
  stop
  if [ -z "${KEEP:-}" ]; then
    [ "$BACKEND" = postgres ] && psql "$base" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1
    rm -rf "$work"
  fi
  true
}
trap cleanup EXIT

mkdir -p "$work/data"
serve_flags=(--listen 127.0.0.1:0 --data-dir "$work/data")
if [ "$QUOTAS" = on ]; then
  printf '[quotas]\nkeys = %s\n' "${QUOTA_KEYS:-2000000}" >"$work/trent.toml"
  serve_flags+=(--config "$work/trent.toml")
else
  serve_flags+=(--no-quotas)
fi
if [ "$BACKEND" = postgres ]; then
  psql "$base" -qtc "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1 ||
    psql "$base" -qc "CREATE DATABASE $db" >/dev/null
  serve_flags+=(--database-url "$db_url")
fi

count() { [ -f "$work/keys" ] && wc -l <"$work/keys" || echo 0; }

start
echo "# $BACKEND, quotas $QUOTAS, $CONCURRENCY connections; $(nproc) cores; $(date -u +%FT%TZ)"
header "CreateKey, keys at the round's start"
while [ "$(count)" -lt "$KEYS" ]; do
  bench "$(count)" --op create-key --duration "$STEP" --key-ids-out "$work/keys"
done
if [ "$BACKEND" = sqlite ]; then
  echo "# store: $(du -sh "$work/data" | cut -f1) for $(count) keys"
else
  echo "# store: $(psql "$db_url" -qtAc "SELECT pg_size_pretty(pg_database_size('$db'))") for $(count) keys"
fi

header "Encrypt on random keys out of N"
for n in $SETS; do
  head -n "$n" "$work/keys" >"$work/set"
  stop; start
  bench "N=$n cold (after a restart)" --op encrypt --payload-size 64 --key-ids-file "$work/set" \
    --duration "$DURATION"
  bench "N=$n warm" --op encrypt --payload-size 64 --key-ids-file "$work/set" \
    --duration "$DURATION"
done
