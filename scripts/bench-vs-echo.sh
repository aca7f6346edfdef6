#!/bin/bash
# Trent against the bare HTTP stack, in one run (issue 17's measurement; BENCHMARKS.md):
# `wrk` with CONNECTIONS connections (default 64) sends one SigV4-signed KMS request over
# and over (a SigV4 signature stays valid for 5 minutes: Trent verifies it in full on every
# request), first to Trent (release build, SQLite, audit trail on), then to `echo-server`
# (the same axum/hyper stack answering the body, checking nothing). For each: requests/s,
# p50 and p99 latency, and the server process's CPU per request (utime+stime from
# /proc/PID/stat over the run, divided by its requests); then Trent's ratios to the echo.
#
#   BIN=target/release OPS="encrypt decrypt generate-data-key" ROUNDS=2 DURATION=10 \
#     scripts/bench-vs-echo.sh
#
# A/B of Trent builds against the same echo, alternating in each round:
#   BINS="before=/tmp/bin-before after=target/release" scripts/bench-vs-echo.sh
# (`echo-server` comes from the first of them.)
#
# METRICS=1 prints, after each Trent run, the audit trail's group commits: how many, and
# the mean entries per commit (from its /metrics).
#
# PERF=DIR records a CPU profile of each Trent run (`perf record --call-graph dwarf`) as
# DIR/NAME-OP-ROUND.data, for `perf report -i`.
#
# Needs `wrk` (apt-get install wrk) and Python's botocore (the AWS CLI's) to sign.
# Each server's admin listener on a free port (its default, 4598, is one per machine).
export TRENT_ADMIN_LISTEN=127.0.0.1:0
# Stopped at once (no drain: no load balancer to tell).
export TRENT_SHUTDOWN_DRAIN_MS=0
set -eu
BIN=${BIN:-target/release}
OPS=${OPS:-encrypt}
ROUNDS=${ROUNDS:-2}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-1}
PORT=${PORT:-4631}
ECHO_PORT=${ECHO_PORT:-4632}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
export TRENT_NO_RATE_QUOTAS=true
tick=$(getconf CLK_TCK)
work=$(mktemp -d /tmp/bench-vs-echo.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
cpu() { awk '{print $14+$15}' /proc/$1/stat; }

BINS=${BINS:-"trent=$BIN"}
first_bin=${BINS%% *}; first_bin=${first_bin#*=}
"$first_bin/echo-server" --listen 127.0.0.1:$ECHO_PORT > "$work/echo.log" 2>&1 &
echo_pid=$!; pids+=($echo_pid)

# Starts the Trent of build $2 as "$1" on a fresh data directory, with one key and one
# signed request per operation (a wrk Lua script: method, headers, body) in $work/$1.
start_trent() {
  local dir=$work/$1
  mkdir -p "$dir"
  "$2/trent" serve --listen 127.0.0.1:$PORT --data-dir "$dir/data" > "$dir/trent.log" 2>&1 &
  trent=$!; pids+=($trent)
  for i in $(seq 100); do
    [ -f "$dir/data/credentials" ] && curl -s -o /dev/null 127.0.0.1:$PORT && break; sleep 0.1
  done
  python3 - "$dir" "$PORT" "$OPS" <<'EOF2'
import base64, configparser, json, sys, urllib.request
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
work, port, ops = sys.argv[1], sys.argv[2], sys.argv[3].split()
cfg = configparser.ConfigParser(); cfg.read(f"{work}/data/credentials")
creds = Credentials(cfg["default"]["aws_access_key_id"], cfg["default"]["aws_secret_access_key"])
url = f"http://127.0.0.1:{port}/"
def signed(op, body):
    req = AWSRequest(method="POST", url=url, data=json.dumps(body).encode(), headers={
        "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"TrentService.{op}"})
    SigV4Auth(creds, "kms", "us-east-1").add_auth(req)
    return req
def call(op, body):
    r = signed(op, body)
    return json.load(urllib.request.urlopen(urllib.request.Request(url, data=r.body, headers=dict(r.headers), method="POST")))
key = call("CreateKey", {})["KeyMetadata"]["KeyId"]
plaintext = base64.b64encode(b"x" * 64).decode()
blob = call("Encrypt", {"KeyId": key, "Plaintext": plaintext})["CiphertextBlob"]
bodies = {
    "encrypt": ("Encrypt", {"KeyId": key, "Plaintext": plaintext}),
    "decrypt": ("Decrypt", {"CiphertextBlob": blob}),
    "generate-data-key": ("GenerateDataKey", {"KeyId": key, "KeySpec": "AES_256"}),
}
for op in ops:
    name, body = bodies[op]
    r = signed(name, body)
    lua = ["wrk.method = \"POST\"", f"wrk.body = {json.dumps(r.body.decode())}"]
    for k, v in r.headers.items():
        lua.append(f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}")
    open(f"{work}/{op}.lua", "w").write("\n".join(lua) + "\n")
EOF2
}

# wrk's summary: requests/s, p50 and p99 (ms), requests, non-2xx responses.
measure() { # pid port lua-script
  local before after out
  before=$(cpu "$1")
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$3" "http://127.0.0.1:$2/")
  after=$(cpu "$1")
  python3 - "$out" "$before" "$after" "$tick" <<'EOF'
import re, sys
out, before, after, tick = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
def ms(label):
    m = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    v = float(m.group(1)); return {"us": v / 1000, "ms": v, "s": v * 1000}[m.group(2)]
requests = int(re.search(r"(\d+) requests in", out).group(1))
errors = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
cpu_us = (after - before) / tick * 1e6 / max(requests, 1)
print(f"{rps:.0f} {ms(50):.2f} {ms(99):.2f} {cpu_us:.1f} {requests} {errors}")
EOF
}

printf "%-18s %-8s %10s %8s %8s %12s %9s\n" op server rps p50_ms p99_ms cpu_us/req errors
row() { printf "%-18s %-8s %10s %8s %8s %12s %9s\n" "$@"; }
for round in $(seq "$ROUNDS"); do
  declare -A e_rps e_cpu
  for b in $BINS; do
    name=${b%%=*}
    start_trent "$name" "${b#*=}"
    for op in $OPS; do
      if [ -n "${PERF:-}" ]; then
        mkdir -p "$PERF"
        perf record -q -F 999 --call-graph dwarf,16384 -p $trent -o "$PERF/$name-$op-$round.data" \
          2>/dev/null & perf_pid=$!
      fi
      read -r t_rps t_p50 t_p99 t_cpu t_req t_err < <(measure $trent $PORT "$work/$name/$op.lua")
      if [ -n "${PERF:-}" ]; then kill -INT $perf_pid; wait $perf_pid 2>/dev/null || true; fi
      if [ -n "${METRICS:-}" ]; then
        admin=$(grep -o 'admin listening on http://[0-9.:]*' "$work/$name/trent.log" | grep -o '[0-9.]*:[0-9]*$' | head -1)
        curl -s "http://$admin/metrics" | awk '/^trent_audit_commit_entries_(sum|count)/ {v[$1]=$2}
          END {printf "  audit: %d commits, %.1f entries each\n", v["trent_audit_commit_entries_count"],
            v["trent_audit_commit_entries_sum"] / v["trent_audit_commit_entries_count"]}'
      fi
      row "$op" "$name" "$t_rps" "$t_p50" "$t_p99" "$t_cpu" "$t_err"
      if [ -z "${e_rps[$op]:-}" ]; then
        # The echo answers the same request (its body), measured once a round.
        read -r r p50 p99 c req err < <(measure $echo_pid $ECHO_PORT "$work/$name/$op.lua")
        e_rps[$op]=$r; e_cpu[$op]=$c
        row "$op" echo "$r" "$p50" "$p99" "$c" "$err"
      fi
      python3 -c "print(f'{\"$op\":<18} {\"$name\"}: throughput {$t_rps/${e_rps[$op]}:.2f}x of the echo, CPU per request {$t_cpu/${e_cpu[$op]}:.2f}x')"
    done
    kill $trent; wait $trent 2>/dev/null || true
  done
  unset e_rps e_cpu
done
