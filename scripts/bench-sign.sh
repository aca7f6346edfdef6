#!/usr/bin/env bash
# Sign through the server against the bare primitive, per core (issue 17; BENCHMARKS.md,
# "Sign against the primitive"). For each key spec in SPECS: the primitive's time per
# signature (criterion, `cargo bench -p trent-crypto --bench asymmetric`, one core) and
# Trent's CPU per Sign request (release build, SQLite, audit trail on, trent-bench with
# CONCURRENCY connections for DURATION; utime+stime from /proc/PID/stat over the run, all
# threads, kernel included). A core signs 1e6/t times a second either way, so Trent's
# per-core rate as a share of the primitive's is primitive µs / Trent's CPU µs per request.
#
#   SPECS="ECC_NIST_P256 ECC_NIST_EDWARDS25519 RSA_2048" DURATION=10s scripts/bench-sign.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SPECS=${SPECS:-"ECC_NIST_P256 ECC_NIST_EDWARDS25519 RSA_2048"}
DURATION=${DURATION:-10s}
. scripts/bench-lib.sh
work=$(mktemp -d)
trap 'stop; rm -rf "$work"' EXIT
mkdir -p "$work/data"
serve_flags=(--listen 127.0.0.1:0 --data-dir "$work/data")

# The algorithm trent-bench signs with for each spec, as criterion's benchmark names it.
declare -A algorithm=([ECC_NIST_P256]=ECDSA_SHA_256 [ECC_NIST_EDWARDS25519]=ED25519_SHA_512
  [RSA_2048]=RSASSA_PSS_SHA_256)

start
echo "# $(nproc) cores; $(date -u +%FT%TZ)"
header "Sign through Trent (256-byte RAW message)"
declare -A trent_cpu
for spec in $SPECS; do
  line=$(bench "$spec ${algorithm[$spec]}" --op sign --key-spec "$spec" --payload-size 256 \
    --duration "$DURATION")
  echo "$line"
  trent_cpu[$spec]=$(awk '{print $(NF-1)}' <<<"$line")
done
stop

echo "# the primitive, criterion (one core, same message)"
for spec in $SPECS; do
  name="sign $spec ${algorithm[$spec]}"
  out=$(cargo bench -q -p trent-crypto --bench asymmetric -- --warm-up-time 1 \
    --measurement-time 3 --exact "$name" 2>/dev/null)
  python3 - "$name" "$out" "${trent_cpu[$spec]}" <<'PY'
import re, sys
name, out, trent = sys.argv[1], sys.argv[2], float(sys.argv[3])
m = re.search(r"time:\s+\[\S+ \S+ (\S+) (\S+) \S+ \S+\]", out)
value, unit = float(m.group(1)), m.group(2)
us = value * {"ns": 1e-3, "µs": 1, "us": 1, "ms": 1e3, "s": 1e6}[unit]
print(f"{name:<44} primitive {us:8.1f} µs   Trent {trent:8.1f} µs CPU/req   "
      f"Trent's per-core rate = {100 * us / trent:.0f} % of the primitive's")
PY
done
