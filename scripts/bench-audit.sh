#!/bin/bash
# The audit trail on disk and `trent audit verify` on a large trail (BENCHMARKS.md,
# "Audit trail"): one node (release build, SQLite, audit files) takes DURATION seconds of
# Encrypt load, stops, and then this reports the trail's events, its bytes per event as
# written and as kept (closed segments zstd-compressed), and the wall and CPU time of
# `trent audit verify` over it (and of `trent audit archive` of all but the open segment).
#
#   DURATION=60 SEGMENT_BYTES=67108864 scripts/bench-audit.sh
#
# KEEP=DIR keeps the data directory there for further runs.
set -eu
cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/bench-audit.XXXXXX)
DURATION=${DURATION:-30}
SEGMENT_BYTES=${SEGMENT_BYTES:-16777216}
data=${KEEP:-$work/data}
serve_flags=(--listen 127.0.0.1:0 --data-dir "$data" --audit-segment-bytes "$SEGMENT_BYTES")
# shellcheck source=bench-lib.sh
. scripts/bench-lib.sh
trap 'stop; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT

start
header "load"
bench "encrypt ${DURATION}s" --op encrypt --duration "${DURATION}s"
stop
# Closed segments are compressed in the background: wait until none is left as written
# (the last one, open, stays).
for _ in $(seq 1 600); do
  [ "$(ls "$data/audit" | grep -c '\.log$')" -le 1 ] && break
  sleep 0.1
done
# Whatever a stop interrupted is compressed at the next open: start and stop once more.
start; stop
for _ in $(seq 1 600); do
  [ "$(ls "$data/audit" | grep -c '\.log$')" -le 1 ] && break
  sleep 0.1
done

kept=$(cat "$data"/audit/*.log "$data"/audit/*.log.zst | wc -c)
written=$( (cat "$data"/audit/*.log; for f in "$data"/audit/*.log.zst; do zstd -dc "$f"; done) | wc -c)
timed() { /usr/bin/time -f "%e s wall, %U s user, %S s system, %M KiB max RSS" "$@"; }
echo "verify:"
out=$(timed "$BIN/trent" audit verify --data-dir "$data" 2>"$work/time") || true
echo "  $(echo "$out" | tail -1)"
echo "  $(cat "$work/time")"
events=$(echo "$out" | tail -1 | sed -n 's/^OK: \([0-9]*\) entries.*/\1/p')
printf "trail: %s entries, %s bytes written (%s per entry), %s bytes kept (%s per entry)\n" \
  "$events" "$written" "$((written / events))" "$kept" "$((kept / events))"
echo "archive (every closed segment):"
timed "$BIN/trent" audit archive --data-dir "$data" --before 2999-01-01T00:00:00Z \
  --out "$work/archive" 2>"$work/time" | tail -1
echo "  $(cat "$work/time")"
timed "$BIN/trent" audit verify --data-dir "$data" 2>"$work/time" | tail -1
echo "  verify after: $(cat "$work/time")"
