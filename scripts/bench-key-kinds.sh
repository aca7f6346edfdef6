#!/bin/bash
# Encrypt/Decrypt on an ordinary key, a multi-Region key (primary and replica region) and an
# imported-material key, same server, release build, audit on.
# Each server's admin listener on a free port (its default, 4598, is one per machine).
export TRENT_ADMIN_LISTEN=127.0.0.1:0
# Stopped at once (no drain: no load balancer to tell).
export TRENT_SHUTDOWN_DRAIN_MS=0
set -u
# Benchmarks measure Trent, not AWS's request-rate quotas (10,000 symmetric requests/s
# per account by default): off, by environment, which binaries without the switch ignore.
export TRENT_NO_RATE_QUOTAS=true
B=${BIN_DIR:?directory with release trent and trent-bench}; D=/tmp/bench-key-kinds; P=4613
rm -rf $D; $B/trent serve --listen 127.0.0.1:$P --data-dir $D > $D.log 2>&1 &
PID=$!
for i in $(seq 100); do [ -f $D/credentials ] && curl -s -o /dev/null 127.0.0.1:$P && break; sleep 0.1; done
export AWS_SHARED_CREDENTIALS_FILE=$D/credentials AWS_CONFIG_FILE=/dev/null
python3 - $P $D > $D.keys <<'PY'
import sys, configparser, boto3, os
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives import hashes, serialization
port, d = sys.argv[1], sys.argv[2]
cp = configparser.ConfigParser(); cp.read(f"{d}/credentials"); s = cp[cp.sections()[0]]
def kms(region):
    return boto3.client("kms", region_name=region, endpoint_url=f"http://127.0.0.1:{port}",
        aws_access_key_id=s["aws_access_key_id"], aws_secret_access_key=s["aws_secret_access_key"])
e, w = kms("us-east-1"), kms("eu-west-1")
plain = e.create_key()["KeyMetadata"]["Arn"]
mrk = e.create_key(MultiRegion=True)["KeyMetadata"]
rep = e.replicate_key(KeyId=mrk["KeyId"], ReplicaRegion="eu-west-1")["ReplicaKeyMetadata"]["Arn"]
ext = e.create_key(Origin="EXTERNAL")["KeyMetadata"]["Arn"]
p = e.get_parameters_for_import(KeyId=ext, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_4096")
pub = serialization.load_der_public_key(p["PublicKey"])
wrapped = pub.encrypt(os.urandom(32), padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None))
e.import_key_material(KeyId=ext, ImportToken=p["ImportToken"], EncryptedKeyMaterial=wrapped, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
print(plain, mrk["Arn"], rep, ext)
import time
for spec in ["RSA_2048", "RSA_3072", "RSA_4096"]:
    ts = []
    for _ in range(8):
        t = time.perf_counter(); e.get_parameters_for_import(KeyId=ext, WrappingAlgorithm="RSA_AES_KEY_WRAP_SHA_256", WrappingKeySpec=spec); ts.append(time.perf_counter() - t)
    ts.sort()
    print(f"GPFI {spec} median {ts[4]*1000:.0f} ms max {ts[-1]*1000:.0f} ms", file=sys.stderr)
PY
read PLAIN MRK REP EXT < $D.keys
run() { # label region key op c
  echo "$1 $4 c=$5 $($B/trent-bench --endpoint http://127.0.0.1:$P --region $2 --key-id $3 --op $4 --concurrency $5 --duration 8s --warmup 2s --payload-size 256 --credentials-file $D/credentials --json)"
}
for round in 1 2; do
 for c in 1 64; do
  run plain us-east-1 $PLAIN encrypt $c
  run mrk-primary us-east-1 $MRK encrypt $c
  run mrk-replica eu-west-1 $REP encrypt $c
  run imported us-east-1 $EXT encrypt $c
  run plain us-east-1 $PLAIN decrypt $c
  run mrk-replica eu-west-1 $REP decrypt $c
 done
done
kill $PID; wait $PID 2>/dev/null
