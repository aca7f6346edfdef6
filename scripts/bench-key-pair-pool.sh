#!/bin/bash
# GenerateDataKeyPair RSA_2048 from the pool of pairs generated ahead of need
# (crates/trent-core/src/key_pools.rs; BENCHMARKS.md). For each build in BINS: a first
# request makes the pool start filling; once it is full, a burst at one connection (served
# from the pool), then a sustained run at 4 connections (the pool empty, requests bound by
# RSA prime generation: the pool's refill thread and the requests' own generations).
#   BINS="before=/tmp/bin-before after=target/release" scripts/bench-key-pair-pool.sh
# Each server's admin listener on a free port (its default, 4598, is one per machine).
export TRENT_ADMIN_LISTEN=127.0.0.1:0
# Stopped at once (no drain: no load balancer to tell).
export TRENT_SHUTDOWN_DRAIN_MS=0
set -u
export TRENT_NO_RATE_QUOTAS=true
SPEC=${SPEC:-RSA_2048}
for b in ${BINS:?}; do
  name=${b%%=*}; bin=${b#*=}; d=/tmp/bench-pool-$name; port=4651
  rm -rf $d; $bin/trent serve --listen 127.0.0.1:$port --data-dir $d > $d.log 2>&1 &
  pid=$!
  for i in $(seq 100); do [ -f $d/credentials ] && curl -s -o /dev/null 127.0.0.1:$port && break; sleep 0.1; done
  bench() { $bin/trent-bench --endpoint http://127.0.0.1:$port --region us-east-1 \
    --op generate-data-key-pair --key-pair-spec $SPEC --credentials-file $d/credentials --json "$@"; }
  bench --concurrency 1 --duration 200ms --warmup 0s > /dev/null
  sleep 5   # the pool fills (16 pairs of ~75 ms each)
  echo "$name burst   $(bench --concurrency 1 --duration 150ms --warmup 0s)"
  echo "$name sustain $(bench --concurrency 4 --duration 10s --warmup 1s)"
  kill $pid; wait $pid 2>/dev/null
done
