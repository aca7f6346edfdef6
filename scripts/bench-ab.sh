#!/bin/bash
# A/B Encrypt between two release builds (BENCHMARKS.md, "Authorization"): BEFORE_BIN and AFTER_BIN
# are directories holding `trent` and `trent-bench`; binaries alternate, 2 rounds.
set -u
run() { # name bin_dir port
  local name=$1 bin=$2 port=$3 d=/tmp/bench-$1
  rm -rf $d; $bin/trent serve --listen 127.0.0.1:$port --data-dir $d > $d.log 2>&1 &
  local pid=$!
  for i in $(seq 100); do [ -f $d/credentials ] && curl -s -o /dev/null 127.0.0.1:$port && break; sleep 0.1; done
  for c in 1 64; do
    for r in 1 2; do
      echo "$name c=$c $($bin/trent-bench --endpoint http://127.0.0.1:$port --region us-east-1 --op encrypt --concurrency $c --duration 8s --warmup 2s --payload-size 256 --credentials-file $d/credentials --json)"
    done
  done
  kill $pid; wait $pid 2>/dev/null
}
for round in 1 2; do
  run before ${BEFORE_BIN:?} 4611
  run after ${AFTER_BIN:?} 4612
done
