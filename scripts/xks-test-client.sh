#!/usr/bin/env bash
# Runs AWS's published XKS proxy test client (aws-samples/aws-kms-xksproxy-test-client,
# Apache-2.0; not vendored here) against Trent's XKS endpoint over TLS: every test of it
# (`-a`), the encrypt-only, decrypt-only and no-usage key tests included.
#
#   scripts/xks-test-client.sh /path/to/aws-kms-xksproxy-test-client
#
# Builds the debug `trent` (or uses $TRENT_BIN), makes a CA and a server certificate for
# 127.0.0.1 with openssl, starts Trent on loopback ports with one logical key store holding
# the client's default credential and its four keys (foo, encrypt_only_key,
# decrypt_only_key, impotent_key), and stops it at the end.
set -euo pipefail
client_dir=${1:?usage: $0 CLIENT_DIR (a checkout of aws-kms-xksproxy-test-client)}
client_dir=$(cd "$client_dir" && pwd)
test -f "$client_dir/test-xks-proxy" || { echo "$client_dir has no test-xks-proxy" >&2; exit 2; }
cd "$(dirname "$0")/.."
if [[ -z "${TRENT_BIN:-}" ]]; then
  cargo build --quiet -p trent-server --bin trent
  TRENT_BIN=${CARGO_TARGET_DIR:-target}/debug/trent
fi

work=$(mktemp -d)
pid=
cleanup() { [[ -n "$pid" ]] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

# The client's defaults (its README): prefix, access key id and secret.
prefix=example/uri/path/prefix
access_key_id=${SIGV4_ACCESS_KEY_ID:-AKIA4GBY3I6JCE5M2HPM}
secret=${SIGV4_SECRET_ACCESS_KEY:-1234567890123456789012345678901234567890123=}

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj "/CN=trent xks test CA" -keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
  -keyout "$work/xks.key" -out "$work/xks.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' > "$work/xks.ext"
openssl x509 -req -in "$work/xks.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial \
  -days 2 -extfile "$work/xks.ext" -out "$work/xks.pem" 2>/dev/null

cat > "$work/trent.toml" <<TOML
[xks]
listen = "127.0.0.1:0"
tls_cert = "$work/xks.pem"
tls_key = "$work/xks.key"

[[xks.key_stores]]
uri_path_prefix = "/$prefix"
credentials = [{ access_key_id = "$access_key_id", secret_access_key = "$secret" }]
keys = [
  { id = "foo", usage = ["ENCRYPT", "DECRYPT"] },
  { id = "encrypt_only_key", usage = ["ENCRYPT"] },
  { id = "decrypt_only_key", usage = ["DECRYPT"] },
  { id = "impotent_key", usage = [] },
]
TOML

"$TRENT_BIN" serve --data-dir "$work/data" --listen 127.0.0.1:0 --config "$work/trent.toml" \
  > "$work/out.log" 2> "$work/err.log" &
pid=$!
host=
for _ in $(seq 1 300); do
  host=$(sed -n 's|^trent xks proxy listening on https://||p' "$work/out.log" | head -1)
  [[ -n "$host" ]] && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/err.log" >&2; exit 1; }
  sleep 0.1
done
[[ -n "$host" ]] || { echo "trent did not start" >&2; cat "$work/err.log" >&2; exit 1; }
echo "trent's XKS endpoint: https://$host/$prefix"

# The client calls uuidgen, which not every machine has.
mkdir -p "$work/bin"
command -v uuidgen >/dev/null || {
  printf '#!/bin/sh\ncat /proc/sys/kernel/random/uuid\n' > "$work/bin/uuidgen"
  chmod +x "$work/bin/uuidgen"
}
cd "$client_dir"
PATH="$work/bin:$PATH" XKS_PROXY_HOST="$host" URI_PREFIX="$prefix" \
  SIGV4_ACCESS_KEY_ID="$access_key_id" SIGV4_SECRET_ACCESS_KEY="$secret" \
  SCHEME="https://" SECURE="--cacert $work/ca.pem" \
  bash ./test-xks-proxy -a
