"""Independent checks of trent-crypto's outputs, driven by tests/interop.rs.

Reads a JSON list of cases from argv[1], writes one JSON result per case to
stdout. Python's `cryptography` checks RSA, ECDSA (NIST curves, secp256k1),
Ed25519, ML-DSA, OAEP, ECDH and PKCS#8; the OpenSSL CLI checks SM2DSA, SM2PKE
and SM2 PKCS#8; what neither has (Ed25519ph, SM2 ECDH, SM2's Z_A) is computed
here in plain Python from RFC 8032 and GB/T 32918, self-tested on published
vectors first.
"""

import hashlib
import hmac
import json
import os
import secrets
import subprocess
import sys
import tempfile

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, utils

HASHES = {"SHA_1": hashes.SHA1, "SHA_256": hashes.SHA256, "SHA_384": hashes.SHA384, "SHA_512": hashes.SHA512}
CURVES = {
    "ECC_NIST_P256": ec.SECP256R1,
    "ECC_NIST_P384": ec.SECP384R1,
    "ECC_NIST_P521": ec.SECP521R1,
    "ECC_SECG_P256K1": ec.SECP256K1,
}
RSA_BITS = {"RSA_2048": 2048, "RSA_3072": 3072, "RSA_4096": 4096}


def hash_of(alg):
    for suffix, h in HASHES.items():
        if alg.endswith(suffix):
            return h()
    raise ValueError(alg)


def b(h):
    return bytes.fromhex(h)


def der_spki(spki):
    return serialization.load_der_public_key(spki)


def spki_of(key):
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def openssl(args, tmp, files):
    for name, data in files.items():
        with open(os.path.join(tmp, name), "wb") as f:
            f.write(data)
    return subprocess.run(["openssl"] + args, cwd=tmp, capture_output=True)


# ---- Ed25519ph, RFC 8032 §5.1 (reference code of §6) ----
P25519 = 2**255 - 19
Q25519 = 2**252 + 27742317777372353535851937790883648493
D25519 = -121665 * pow(121666, P25519 - 2, P25519) % P25519
SQRT_M1 = pow(2, (P25519 - 1) // 4, P25519)


def ed_add(P, Q):
    p = P25519
    A, B = (P[1] - P[0]) * (Q[1] - Q[0]) % p, (P[1] + P[0]) * (Q[1] + Q[0]) % p
    C, D = 2 * P[3] * Q[3] * D25519 % p, 2 * P[2] * Q[2] % p
    E, F, G, H = B - A, D - C, D + C, B + A
    return (E * F, G * H, F * G, E * H)


def ed_mul(s, P):
    Q = (0, 1, 1, 0)
    while s > 0:
        if s & 1:
            Q = ed_add(Q, P)
        P = ed_add(P, P)
        s >>= 1
    return Q


def ed_equal(P, Q):
    p = P25519
    return (P[0] * Q[2] - Q[0] * P[2]) % p == 0 and (P[1] * Q[2] - Q[1] * P[2]) % p == 0


def ed_recover_x(y, sign):
    p = P25519
    if y >= p:
        return None
    x2 = (y * y - 1) * pow(D25519 * y * y + 1, p - 2, p)
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (p + 3) // 8, p)
    if (x * x - x2) % p != 0:
        x = x * SQRT_M1 % p
    if (x * x - x2) % p != 0:
        return None
    if (x & 1) != sign:
        x = p - x
    return x


ED_GY = 4 * pow(5, P25519 - 2, P25519) % P25519
ED_GX = ed_recover_x(ED_GY, 0)
ED_G = (ED_GX, ED_GY, 1, ED_GX * ED_GY % P25519)


def ed_decompress(s):
    if len(s) != 32:
        return None
    y = int.from_bytes(s, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = ed_recover_x(y, sign)
    return None if x is None else (x, y, 1, x * y % P25519)


def ed25519ph_verify(public, msg, sig):
    """HashEdDSA Ed25519ph, empty context: dom2(1, "") and PH = SHA-512."""
    if len(public) != 32 or len(sig) != 64:
        return False
    A, R = ed_decompress(public), ed_decompress(sig[:32])
    if A is None or R is None:
        return False
    s = int.from_bytes(sig[32:], "little")
    if s >= Q25519:
        return False
    dom = b"SigEd25519 no Ed25519 collisions" + bytes([1, 0])
    h = int.from_bytes(hashlib.sha512(dom + sig[:32] + public + hashlib.sha512(msg).digest()).digest(), "little") % Q25519
    return ed_equal(ed_mul(s, ED_G), ed_add(R, ed_mul(h, A)))


# RFC 8032 §7.3 test vector, so this verifier is itself checked.
assert ed25519ph_verify(
    b("ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf"),
    b"abc",
    b("98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae41"
      "31f85042463c2a355a2003d062adf5aaa10b8c61e636062aaad11c2a26083406"),
)
assert not ed25519ph_verify(
    b("ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf"),
    b"abd",
    b("98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae41"
      "31f85042463c2a355a2003d062adf5aaa10b8c61e636062aaad11c2a26083406"),
)

# ---- SM2 curve arithmetic, GB/T 32918.5 parameters ----
SM2_P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
SM2_A = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC
SM2_B = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93
SM2_N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
SM2_G = (0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7,
         0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0)
SM2_SPKI_PREFIX = b("3059301306072a8648ce3d020106082a811ccf5501822d034200")


def sm2_on_curve(P):
    x, y = P
    return (y * y - x * x * x - SM2_A * x - SM2_B) % SM2_P == 0


def sm2_add(P, Q):
    if P is None:
        return Q
    if Q is None:
        return P
    p = SM2_P
    if P[0] == Q[0] and (P[1] + Q[1]) % p == 0:
        return None
    if P == Q:
        lam = (3 * P[0] * P[0] + SM2_A) * pow(2 * P[1], p - 2, p) % p
    else:
        lam = (Q[1] - P[1]) * pow(Q[0] - P[0], p - 2, p) % p
    x = (lam * lam - P[0] - Q[0]) % p
    return (x, (lam * (P[0] - x) - P[1]) % p)


def sm2_mul(k, P):
    R = None
    while k:
        if k & 1:
            R = sm2_add(R, P)
        P = sm2_add(P, P)
        k >>= 1
    return R


def sm2_point_of(spki):
    assert spki[: len(SM2_SPKI_PREFIX)] == SM2_SPKI_PREFIX, spki.hex()
    raw = spki[len(SM2_SPKI_PREFIX):]
    assert len(raw) == 65 and raw[0] == 4
    P = (int.from_bytes(raw[1:33], "big"), int.from_bytes(raw[33:], "big"))
    assert sm2_on_curve(P)
    return P


def sm2_z(P, dist_id=b"1234567812345678"):
    """Z_A = SM3(ENTL_A || ID_A || a || b || x_G || y_G || x_A || y_A), GB/T 32918.2 §5.5."""
    be = lambda v: v.to_bytes(32, "big")
    data = (len(dist_id) * 8).to_bytes(2, "big") + dist_id
    data += be(SM2_A) + be(SM2_B) + be(SM2_G[0]) + be(SM2_G[1]) + be(P[0]) + be(P[1])
    return hashlib.new("sm3", data).digest()


assert sm2_on_curve(SM2_G) and sm2_mul(SM2_N, SM2_G) is None


# ---- the cases ----
def verify(c, tmp):
    spec, alg, mt = c["spec"], c["alg"], c["mt"]
    spki, msg, sig = b(c["spki"]), b(c["message"]), b(c["sig"])
    if spec == "SM2":
        # OpenSSL computes Z_A || M itself (distid), so `message` is always M.
        r = openssl(
            ["pkeyutl", "-verify", "-pubin", "-inkey", "pub.der", "-keyform", "DER", "-rawin",
             "-digest", "sm3", "-pkeyopt", "distid:1234567812345678", "-in", "msg", "-sigfile", "sig"],
            tmp, {"pub.der": spki, "msg": msg, "sig": sig})
        return r.returncode == 0
    if alg == "ED25519_PH_SHA_512":
        pub = der_spki(spki)
        raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return ed25519ph_verify(raw, msg, sig)
    pub = der_spki(spki)
    if spec in RSA_BITS:
        assert pub.key_size == RSA_BITS[spec]
    if spec in CURVES:
        assert isinstance(pub.curve, CURVES[spec]), pub.curve.name
    try:
        if alg.startswith("RSASSA_") or alg.startswith("ECDSA_"):
            h = hash_of(alg)
            algo = utils.Prehashed(h) if mt == "DIGEST" else h
            if alg.startswith("RSASSA_PSS"):
                pub.verify(sig, msg, padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size), algo)
            elif alg.startswith("RSASSA_PKCS1"):
                pub.verify(sig, msg, padding.PKCS1v15(), algo)
            else:
                pub.verify(sig, msg, ec.ECDSA(algo))
        elif alg == "ED25519_SHA_512":
            pub.verify(sig, msg)
        elif alg == "ML_DSA_SHAKE_256":
            assert type(pub).__name__ == "MLDSA%sPublicKey" % spec[-2:], type(pub).__name__
            pub.verify(sig, msg)
        else:
            raise ValueError(alg)
        return True
    except InvalidSignature:
        return False


def prepare(c, tmp):
    """Values Trent then consumes: digests only Python computes, ciphertexts, ECDH peers, MACs."""
    kind = c["kind"]
    if kind == "mu":
        pub = der_spki(b(c["spki"]))
        raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        tr = hashlib.shake_256(raw).digest(64)
        # FIPS 204 Algorithm 2: M' = 0 || |ctx| || ctx || M with the empty context.
        return {"mu": hashlib.shake_256(tr + b"\x00\x00" + b(c["message"])).digest(64).hex()}
    if kind == "sm2_e":
        P = sm2_point_of(b(c["spki"]))
        return {"e": hashlib.new("sm3", sm2_z(P) + b(c["message"])).hexdigest()}
    if kind == "encrypt":
        spki, pt = b(c["spki"]), b(c["plaintext"])
        if c["alg"] == "SM2PKE":
            r = openssl(["pkeyutl", "-encrypt", "-pubin", "-inkey", "pub.der", "-keyform", "DER",
                         "-in", "pt", "-out", "ct"], tmp, {"pub.der": spki, "pt": pt})
            assert r.returncode == 0, r.stderr
            return {"ciphertext": open(os.path.join(tmp, "ct"), "rb").read().hex()}
        h = hash_of(c["alg"])
        ct = der_spki(spki).encrypt(pt, padding.OAEP(mgf=padding.MGF1(h), algorithm=h, label=None))
        return {"ciphertext": ct.hex()}
    if kind == "ecdh":
        spki = b(c["spki"])
        if c["spec"] == "SM2":
            Q = sm2_point_of(spki)
            d = 1 + secrets.randbelow(SM2_N - 1)
            peer = sm2_mul(d, SM2_G)
            peer_spki = SM2_SPKI_PREFIX + b"\x04" + peer[0].to_bytes(32, "big") + peer[1].to_bytes(32, "big")
            return {"peer": peer_spki.hex(), "shared": sm2_mul(d, Q)[0].to_bytes(32, "big").hex()}
        peer = ec.generate_private_key(CURVES[c["spec"]]())
        return {"peer": spki_of(peer.public_key()).hex(), "shared": peer.exchange(ec.ECDH(), der_spki(spki)).hex()}
    if kind == "hmac":
        name = {"HMAC_SHA_224": "sha224", "HMAC_SHA_256": "sha256", "HMAC_SHA_384": "sha384", "HMAC_SHA_512": "sha512"}[c["alg"]]
        return {"mac": hmac.new(b(c["key"]), b(c["message"]), name).hexdigest()}
    raise ValueError(kind)


def check(c, tmp):
    kind = c["kind"]
    if kind == "verify":
        return {"verified": verify(c, tmp)}
    if kind == "pkcs8":
        pkcs8, spki = b(c["pkcs8"]), b(c["spki"])
        if c["spec"] == "SM2":
            r = openssl(["pkey", "-inform", "DER", "-in", "key.der", "-pubout", "-outform", "DER", "-out", "pub.der"],
                        tmp, {"key.der": pkcs8})
            assert r.returncode == 0, r.stderr
            derived = open(os.path.join(tmp, "pub.der"), "rb").read()
        else:
            derived = spki_of(serialization.load_der_private_key(pkcs8, password=None).public_key())
        return {"matches": derived == spki}
    if kind == "decrypt":
        pkcs8, ct = b(c["pkcs8"]), b(c["ciphertext"])
        if c["alg"] == "SM2PKE":
            r = openssl(["pkeyutl", "-decrypt", "-inkey", "key.der", "-keyform", "DER", "-in", "ct", "-out", "pt"],
                        tmp, {"key.der": pkcs8, "ct": ct})
            if r.returncode != 0:
                return {"plaintext": None}
            return {"plaintext": open(os.path.join(tmp, "pt"), "rb").read().hex()}
        h = hash_of(c["alg"])
        key = serialization.load_der_private_key(pkcs8, password=None)
        pt = key.decrypt(ct, padding.OAEP(mgf=padding.MGF1(h), algorithm=h, label=None))
        return {"plaintext": pt.hex()}
    return prepare(c, tmp)


def main():
    cases = json.load(open(sys.argv[1]))
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for c in cases:
            out.append(check(c, tmp))
    json.dump(out, sys.stdout)


main()
