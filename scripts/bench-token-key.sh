#!/bin/bash
# Encrypt and Decrypt on a key inside a PKCS#11 token (an AWS_CLOUDHSM custom key store on
# SoftHSM2) against a local key (material sealed under the root key, unsealed in memory),
# one release server, keys alternating, ROUNDS rounds (default 2). SoftHSM2 is software:
# this measures the token path's overhead (PKCS#11 calls on the blocking pool, a session
# pool of 4), not an HSM. Each line: the run's JSON and the server's CPU per request
# (utime+stime from /proc/PID/stat over warmup and window, divided by the window's
# requests; the SoftHSM2 module runs inside the server process, so its work is counted).
# Each server's admin listener on a free port (its default, 4598, is one per machine).
export TRENT_ADMIN_LISTEN=127.0.0.1:0
# Stopped at once (no drain: no load balancer to tell).
export TRENT_SHUTDOWN_DRAIN_MS=0
set -u
# Benchmarks measure Trent, not AWS's request-rate quotas (10,000 symmetric requests/s
# per account by default): off, by environment, which binaries without the switch ignore.
export TRENT_NO_RATE_QUOTAS=true
B=${BIN_DIR:?directory with release trent and trent-bench}
ROUNDS=${ROUNDS:-2}
DURATION=${DURATION:-8s}
D=/tmp/bench-token-key; P=4615
tick=$(getconf CLK_TCK)
cpu() { awk '{print $14+$15}' /proc/$1/stat; }
module=$(ls /usr/lib/softhsm/libsofthsm2.so /usr/lib/*/softhsm/libsofthsm2.so 2>/dev/null | head -1)
rm -rf $D; mkdir -p $D/tokens
printf 'directories.tokendir = %s\nobjectstore.backend = file\n' $D/tokens > $D/softhsm2.conf
export SOFTHSM2_CONF=$D/softhsm2.conf
softhsm2-util --init-token --free --label bench-ks --so-pin 12345678 --pin bench-pin-1 > /dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=bench -days 2 \
  -keyout $D/ca.key -out $D/ca.pem 2> /dev/null
cat > $D/trent.toml <<TOML
[[pkcs11_clusters]]
cluster_id = "cluster-234567abcdefg"
module = "$module"
token_label = "bench-ks"
trust_anchor_file = "$D/ca.pem"
TOML
$B/trent serve --listen 127.0.0.1:$P --data-dir $D/data --config $D/trent.toml > $D.log 2>&1 &
PID=$!
for i in $(seq 100); do [ -f $D/data/credentials ] && curl -s -o /dev/null 127.0.0.1:$P && break; sleep 0.1; done
python3 - $P $D > $D.keys <<'PY'
import sys, time, configparser, boto3
port, d = sys.argv[1], sys.argv[2]
cp = configparser.ConfigParser(); cp.read(f"{d}/data/credentials"); s = cp[cp.sections()[0]]
kms = boto3.client("kms", region_name="us-east-1", endpoint_url=f"http://127.0.0.1:{port}",
    aws_access_key_id=s["aws_access_key_id"], aws_secret_access_key=s["aws_secret_access_key"])
store = kms.create_custom_key_store(CustomKeyStoreName="bench", CloudHsmClusterId="cluster-234567abcdefg",
    TrustAnchorCertificate=open(f"{d}/ca.pem").read(), KeyStorePassword="bench-pin-1")["CustomKeyStoreId"]
kms.connect_custom_key_store(CustomKeyStoreId=store)
for _ in range(200):
    state = kms.describe_custom_key_stores(CustomKeyStoreId=store)["CustomKeyStores"][0]["ConnectionState"]
    if state != "CONNECTING": break
    time.sleep(0.05)
assert state == "CONNECTED", state
token = kms.create_key(CustomKeyStoreId=store, Origin="AWS_CLOUDHSM")["KeyMetadata"]["Arn"]
local = kms.create_key()["KeyMetadata"]["Arn"]
print(token, local)
PY
read TOKEN LOCAL < $D.keys
run() { # label key op c
  local before=$(cpu $PID)
  local out=$($B/trent-bench --endpoint http://127.0.0.1:$P --region us-east-1 --key-id $2 --op $3 --concurrency $4 --duration $DURATION --warmup 2s --payload-size 256 --credentials-file $D/data/credentials --json)
  local after=$(cpu $PID)
  local requests=$(echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"])')
  echo "$1 $3 c=$4 $out cpu_us_per_req=$(python3 -c "print(round(($after-$before)/$tick*1e6/max($requests,1)))")"
}
for round in $(seq $ROUNDS); do
  for c in 1 16; do
    for op in encrypt decrypt; do
      if [ $((round % 2)) = 1 ]; then run token $TOKEN $op $c; run local $LOCAL $op $c
      else run local $LOCAL $op $c; run token $TOKEN $op $c; fi
    done
  done
done
kill $PID; wait $PID 2>/dev/null
