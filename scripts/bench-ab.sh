#!/bin/bash
# A/B between two release builds (BENCHMARKS.md): BEFORE_BIN and AFTER_BIN are directories
# (or BINS="name=dir ..." for more than two)
# holding `trent` and `trent-bench`; OPS (default "encrypt") names trent-bench operations.
# Binaries alternate, ROUNDS rounds (default 2). Each line: the run's JSON and the server's
# CPU per request (utime+stime from /proc/PID/stat over warmup and window, divided by the
# window's requests: warmup requests are not counted, an over-estimate alike for both).
# Each server's admin listener on a free port (its default, 4598, is one per machine).
export TRENT_ADMIN_LISTEN=127.0.0.1:0
# Stopped at once (no drain: no load balancer to tell).
export TRENT_SHUTDOWN_DRAIN_MS=0
set -u
# Benchmarks measure Trent, not AWS's request-rate quotas (10,000 symmetric requests/s
# per account by default): off, by environment, which binaries without the switch ignore.
export TRENT_NO_RATE_QUOTAS=true
OPS=${OPS:-encrypt}
ROUNDS=${ROUNDS:-2}
DURATION=${DURATION:-8s}
tick=$(getconf CLK_TCK)
cpu() { awk '{print $14+$15}' /proc/$1/stat; }
run() { # name bin_dir port
  local name=$1 bin=$2 port=$3 d=/tmp/bench-$1
  rm -rf $d; $bin/trent serve --listen 127.0.0.1:$port --data-dir $d > $d.log 2>&1 &
  local pid=$!
  for i in $(seq 100); do [ -f $d/credentials ] && curl -s -o /dev/null 127.0.0.1:$port && break; sleep 0.1; done
  for op in $OPS; do
    for c in 1 64; do
      local before=$(cpu $pid)
      local out=$($bin/trent-bench --endpoint http://127.0.0.1:$port --region us-east-1 --op $op --concurrency $c --duration $DURATION --warmup 2s --payload-size 256 --credentials-file $d/credentials --json)
      local after=$(cpu $pid)
      local requests=$(echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"])')
      echo "$name $op c=$c $out cpu_us_per_req=$(python3 -c "print(round(($after-$before)/$tick*1e6/max($requests,1)))")"
    done
  done
  kill $pid; wait $pid 2>/dev/null
}
# BINS="name=dir name=dir ...", alternating in that order, compares more than two builds.
BINS=${BINS:-"before=${BEFORE_BIN:?} after=${AFTER_BIN:?}"}
for round in $(seq $ROUNDS); do
  port=4611
  for b in $BINS; do
    run ${b%%=*} ${b#*=} $port
    port=$((port + 1))
  done
done
